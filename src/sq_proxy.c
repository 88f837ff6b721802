/*  =========================================================================
    sq_proxy - the event loop
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/resource.h>
#include <malloc.h>
#include <syslog.h>
#include <zmq.h>
#include <sys/eventfd.h>
#include "sq_proxy.h"
#include "sq_loop.h"
#include "sq_engine_stream.h"
#include "sq_control.h"
#include "sq_metrics.h"
#include "sq_routes.h"
#include "sq_cert.h"
#include "sq_file.h"
#include "sq_clock.h"
#include "sq_log.h"

//  Longest sleep, so a stop request is seen even without a signal wake-up
#define S_POLL_MAX_MS 1000

static volatile sig_atomic_t s_stop_requested = 0;
static volatile sig_atomic_t s_reload_requested = 0;
static volatile sig_atomic_t s_drain_requested = 0;
//  Written by the requests below, which signal handlers make: it wakes
//  the loop at once (an eventfd, watched by the loop), or -1
static volatile int s_wake_fd = -1;

void
sq_proxy_config_defaults (sq_proxy_config_t *config)
{
    //  Fields without a default (routes) start out zero
    memset (config, 0, sizeof *config);
    config->frontend = "tcp://*:5555";
    config->backend = "tcp://127.0.0.1:5556";
    config->control = "tcp://127.0.0.1:5557";
    config->io_threads = 1;
    for (int side = 0; side < 2; side++)
        config->keepalive [side] = (sq_keepalive_t) { false, -1, -1, -1 };
    config->max_connections = -1;
    config->peer_hwm = 1000;
    config->log_level = SQ_LOG_INFO;
    config->log_format = SQ_LOG_TEXT;
    config->syslog_facility = LOG_DAEMON;
    config->syslog_facility_name = "daemon";
    config->drain_timeout_ms = 30000;
    config->rules = "";
    sq_core_config_defaults (&config->core);
}

void
sq_proxy_config_clear (sq_proxy_config_t *config)
{
    for (int side = 0; side < 2; side++) {
        sq_access_destroy (&config->access [side]);
        free (config->mechanisms [side]);
        config->mechanisms [side] = NULL;
        config->core.limits.access [side] = NULL;
        config->core.mechanisms [side] = NULL;
    }
    sq_config_destroy (&config->file);
    config->rules = "";
}

//  Wakes the loop; async-signal-safe
static void
s_wake (void)
{
    int saved = errno;
    uint64_t one = 1;
    if (s_wake_fd >= 0) {
        //  A failure means it is woken already: the counter is full
        ssize_t written = write (s_wake_fd, &one, sizeof one);
        (void) written;
    }
    errno = saved;
}

void
sq_proxy_request_stop (void)
{
    s_stop_requested = 1;
    s_wake ();
}

void
sq_proxy_request_reload (void)
{
    s_reload_requested = 1;
    s_wake ();
}

void
sq_proxy_request_drain (void)
{
    s_drain_requested = 1;
    s_wake ();
}

//  Largest route file read
#define S_ROUTES_MAX (16 * 1024 * 1024)

//  The rules of the configuration file, then the route file's; NULL with
//  a reason (the route file's own line numbers) when a part is refused
static char *
s_routing_text (const sq_proxy_config_t *config, char *error, size_t size)
{
    char *file_text = config->routes? sq_file_read (config->routes, S_ROUTES_MAX, error, size)
                                    : strdup ("");
    if (!file_text)
        return NULL;
    char reason [512];
    if (!sq_routes_check (file_text, reason, sizeof reason)) {
        snprintf (error, size, "routes file %s refused: %s", config->routes, reason);
        free (file_text);
        return NULL;
    }
    size_t length = strlen (config->rules) + strlen (file_text) + 2;
    char *text = malloc (length);
    if (text)
        snprintf (text, length, "%s\n%s", config->rules, file_text);
    else
        snprintf (error, size, "out of memory");
    free (file_text);
    return text;
}

//  Loads the configuration file's rules and the route file into the core
//  (both or neither); false with the reason logged
static bool
s_load_routes (sq_core_t *core, const sq_proxy_config_t *config)
{
    if (!config->routes && !*config->rules)
        return true;
    char error [600];
    char *text = s_routing_text (config, error, sizeof error);
    bool loaded = text && sq_routes_load (core, text, error, sizeof error, sq_clock_now ());
    free (text);
    if (loaded)
        sq_info ("rules loaded%s%s%s%s", *config->rules? " from ": "",
                 *config->rules? config->config_path: "",
                 config->routes? " from ": "", config->routes? config->routes: "");
    else
        sq_error ("%s", error);
    return loaded;
}

bool
sq_proxy_check_files (const sq_proxy_config_t *config, char *error, size_t size)
{
    char *text = s_routing_text (config, error, size);
    free (text);
    if (!text)
        return false;
    if (config->control_auth.key_file) {
        sq_cert_t cert;
        char reason [512];
        if (!sq_cert_load_secret (config->control_auth.key_file, &cert, reason, sizeof reason)) {
            snprintf (error, size, "--control-key: %s", reason);
            return false;
        }
    }
    if (config->control_auth.clients_dir) {
        char reason [512];
        sq_keyset_t *keys = sq_keyset_load_dir (config->control_auth.clients_dir,
                                                reason, sizeof reason);
        if (!keys) {
            snprintf (error, size, "--control-clients: %s", reason);
            return false;
        }
        sq_keyset_destroy (&keys);
    }
    return true;
}

//  What the proxy needs of an engine, whichever runs
typedef struct {
    void *self;
    sq_engine_t ops;            //  What the core calls
    void (*attach) (void *self, sq_core_t *core);
    bool (*register_with) (void *self, sq_loop_t *loop);
    const char *(*endpoint) (void *self, sq_side_t side);
    //  At shutdown, once every connection was closed: the time the last
    //  bytes may take. True while the loop must still run for them.
    bool (*linger) (void *self, int linger_ms);
    void (*destroy) (void *self);
} s_engine_t;

typedef struct {
    void *context;
    void *control;
    sq_control_auth_t *auth;    //  CURVE on the control socket, or NULL
    s_engine_t engine;
    sq_core_t *core;
    sq_metrics_t *metrics;      //  --metrics, or NULL
    sq_loop_t *loop;
    int core_timer;             //  When the core's next timeout is due
    int metrics_timer;          //  When the metrics server has work
    int wake_fd;                //  Signals wake the loop through it
    char control_endpoint [256];
    rlim_t files;               //  The open-file limit in force
    int64_t drain_deadline_ms;  //  Draining: when the proxy stops anyway
    sq_config_t *start_file;    //  The file read at start, once reloaded
    size_t conns_peak;          //  Most connections since memory was last trimmed
    int64_t trim_due_ms;        //  Earliest next trim while connections remain
} s_proxy_t;

static void *
s_control_new (void *context, const char *endpoint, char *bound,
               sq_control_auth_t *auth)
{
    void *socket = zmq_socket (context, ZMQ_ROUTER);
    if (!socket)
        return NULL;
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    sq_engine_stream_set_ipv6 (socket, endpoint);
    if (auth && sq_control_auth_apply (auth, socket) != 0) {
        fprintf (stderr, "streamq-proxy: cannot set CURVE on the control socket: %s\n",
                 zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    if (zmq_bind (socket, endpoint) != 0) {
        fprintf (stderr, "streamq-proxy: cannot bind control to %s: %s\n",
                 endpoint, zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    size_t size = 256;
    if (zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, bound, &size) != 0)
        snprintf (bound, 256, "%s", endpoint);
    return socket;
}

//  True for endpoints only this host can reach: ipc, inproc, loopback TCP
static bool
s_endpoint_is_local (const char *endpoint)
{
    const char *local [] = {
        "ipc://", "inproc://", "tcp://127.", "tcp://localhost:", "tcp://[::1]:"
    };
    for (size_t index = 0; index < sizeof local / sizeof local [0]; index++)
        if (strncmp (endpoint, local [index], strlen (local [index])) == 0)
            return true;
    return false;
}

//  Each connection costs the proxy a file descriptor, and a soft limit of
//  1024 (common) would stop it near 500 pairs: raise it to the hard limit.
//  Returns the limit in force (RLIM_INFINITY when there is none).
static rlim_t
s_raise_file_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
        return RLIM_INFINITY;
    if (limit.rlim_cur < limit.rlim_max) {
        rlim_t wanted = limit.rlim_max;
        limit.rlim_cur = wanted;
        if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
            getrlimit (RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur == RLIM_INFINITY)
        sq_info ("open files: no limit");
    else
        sq_info ("open files: up to %llu (one per connection)",
                 (unsigned long long) limit.rlim_cur);
    return limit.rlim_cur;
}

//  Descriptors kept for what is not a peer connection: libzmq's own
//  (sockets, mailboxes, I/O threads), the control socket and its clients
#define S_FILES_RESERVED 128

//  --max-connections, or by default what the open-file limit allows: a
//  connection past that limit would fail inside libzmq's accept, where
//  the proxy cannot see or count it, so it is refused before that
static void
s_connection_limits (sq_core_config_t *core, long long configured, rlim_t files)
{
    long long each = configured;
    if (each < 0 && files != RLIM_INFINITY)
        each = files > 2 * S_FILES_RESERVED? (long long) (files - S_FILES_RESERVED) / 2: 1;
    for (int side = 0; side < 2; side++)
        core->limits.max_connections [side] = each > 0? (size_t) each: 0;
    if (each > 0)
        sq_info ("connections: up to %lld on each side%s", each,
                 configured < 0? " (from the open-file limit)": "");
    if (configured > 0 && files != RLIM_INFINITY
    &&  (rlim_t) (2 * configured + S_FILES_RESERVED) > files)
        sq_warning ("--max-connections %lld on each side needs about %lld open files; "
                    "the limit is %llu", configured, 2 * configured + S_FILES_RESERVED,
                    (unsigned long long) files);
}

static bool s_register (s_proxy_t *proxy);

//  -------------------------------------------------------------------------
//  The engines, behind s_engine_t

static void
s_stream_attach (void *self, sq_core_t *core)
{
    sq_engine_stream_attach (self, core);
}

static bool
s_stream_register (void *self, sq_loop_t *loop)
{
    return sq_engine_stream_register (self, loop);
}

static const char *
s_stream_endpoint (void *self, sq_side_t side)
{
    return sq_engine_stream_endpoint (self, side);
}

//  libzmq delivers what it queued while the context terminates
static bool
s_stream_linger (void *self, int linger_ms)
{
    sq_engine_stream_set_linger (self, linger_ms);
    return false;
}

static void
s_stream_destroy (void *self)
{
    sq_engine_stream_t *engine = self;
    sq_engine_stream_destroy (&engine);
}

static bool
s_stream_new (s_engine_t *engine, void *context, const sq_proxy_config_t *config,
              char *error, size_t error_size)
{
    sq_engine_stream_t *self = sq_engine_stream_new (context, config->frontend,
                                                     config->backend, config->keepalive,
                                                     config->peer_hwm, error, error_size);
    if (!self)
        return false;
    *engine = (s_engine_t) {
        .self = self, .ops = sq_engine_stream_ops (self), .attach = s_stream_attach,
        .register_with = s_stream_register, .endpoint = s_stream_endpoint,
        .linger = s_stream_linger, .destroy = s_stream_destroy
    };
    return true;
}

static void
s_splice_attach (void *self, sq_core_t *core)
{
    sq_engine_splice_attach (self, core);
}

static bool
s_splice_register (void *self, sq_loop_t *loop)
{
    return sq_engine_splice_register (self, loop);
}

static const char *
s_splice_endpoint (void *self, sq_side_t side)
{
    return sq_engine_splice_endpoint (self, side);
}

//  The engine delivers what it holds for closed connections while the
//  loop runs
static bool
s_splice_linger (void *self, int linger_ms)
{
    (void) linger_ms;
    return sq_engine_splice_lingering (self);
}

static void
s_splice_destroy (void *self)
{
    sq_engine_splice_t *engine = self;
    sq_engine_splice_destroy (&engine);
}

static bool
s_splice_new (s_engine_t *engine, const sq_proxy_config_t *config,
              char *error, size_t error_size)
{
    sq_engine_splice_config_t splice = {
        .frontend = config->frontend, .backend = config->backend
    };
    memcpy (splice.keepalive, config->keepalive, sizeof splice.keepalive);
    sq_engine_splice_t *self = sq_engine_splice_new (&splice, error, error_size);
    if (!self)
        return false;
    *engine = (s_engine_t) {
        .self = self, .ops = sq_engine_splice_ops (self), .attach = s_splice_attach,
        .register_with = s_splice_register, .endpoint = s_splice_endpoint,
        .linger = s_splice_linger, .destroy = s_splice_destroy
    };
    return true;
}

//  Binds everything and logs the real endpoints; false if anything failed
static bool
s_start (s_proxy_t *proxy, const sq_proxy_config_t *config)
{
    sq_core_config_t core_config = config->core;
    proxy->files = s_raise_file_limit ();
    s_connection_limits (&core_config, config->max_connections, proxy->files);
    proxy->context = zmq_ctx_new ();
    if (!proxy->context)
        return false;
    zmq_ctx_set (proxy->context, ZMQ_IO_THREADS, config->io_threads);
    char error [512];
    //  The ZAP handler must be bound before the control socket is
    if (!sq_control_auth_start (&proxy->auth, proxy->context, &config->control_auth,
                                error, sizeof error)) {
        fprintf (stderr, "streamq-proxy: %s\n", error);
        return false;
    }
    bool made = config->engine == SQ_ENGINE_SPLICE
              ? s_splice_new (&proxy->engine, config, error, sizeof error)
              : s_stream_new (&proxy->engine, proxy->context, config, error, sizeof error);
    if (!made) {
        fprintf (stderr, "streamq-proxy: %s\n", error);
        return false;
    }
    proxy->control = s_control_new (proxy->context, config->control,
                                    proxy->control_endpoint, proxy->auth);
    if (!proxy->control)
        return false;
    proxy->core = sq_core_new (&core_config, &proxy->engine.ops);
    if (!proxy->core) {
        fprintf (stderr, "streamq-proxy: out of memory\n");
        return false;
    }
    proxy->engine.attach (proxy->engine.self, proxy->core);
    if (!s_load_routes (proxy->core, config))
        return false;
    sq_info ("engine: %s", config->engine == SQ_ENGINE_SPLICE? "splice": "stream");
    sq_info ("listening: frontend %s", proxy->engine.endpoint (proxy->engine.self, SQ_FRONTEND));
    sq_info ("listening: backend %s", proxy->engine.endpoint (proxy->engine.self, SQ_BACKEND));
    sq_info ("listening: control %s", proxy->control_endpoint);
    if (config->metrics) {
        proxy->metrics = sq_metrics_new (config->metrics, proxy->core, error, sizeof error);
        if (!proxy->metrics) {
            fprintf (stderr, "streamq-proxy: %s\n", error);
            return false;
        }
        sq_info ("listening: metrics %s", sq_metrics_url (proxy->metrics));
    }
    if (!s_endpoint_is_local (proxy->control_endpoint) && !proxy->auth)
        sq_warning ("the control socket is reachable from other hosts: anyone "
                    "who reaches %s can pause or stop the proxy", proxy->control_endpoint);
    proxy->loop = sq_loop_new ();
    if (!proxy->loop) {
        fprintf (stderr, "streamq-proxy: cannot make the event loop: %s\n", strerror (errno));
        return false;
    }
    return s_register (proxy);
}

static void
s_stop (s_proxy_t *proxy)
{
    s_wake_fd = -1;
    if (proxy->wake_fd >= 0)
        close (proxy->wake_fd);
    //  Before the core: a request reads it
    if (proxy->metrics && proxy->loop)
        sq_loop_unwatch (proxy->loop, sq_metrics_fd (proxy->metrics));
    sq_metrics_destroy (&proxy->metrics);
    sq_core_destroy (&proxy->core);
    if (proxy->engine.self)
        proxy->engine.destroy (proxy->engine.self);
    if (proxy->control) {
        int fd = -1;
        size_t size = sizeof fd;
        if (proxy->loop && zmq_getsockopt (proxy->control, ZMQ_FD, &fd, &size) == 0)
            sq_loop_unwatch (proxy->loop, fd);
        zmq_close (proxy->control);
    }
    sq_loop_destroy (&proxy->loop);
    sq_control_auth_destroy (&proxy->auth);
    if (proxy->context)
        zmq_ctx_term (proxy->context);
}

//  Sends the reply frames behind the request's envelope
static void
s_control_reply (void *socket, zmq_msg_t *envelope, size_t envelope_size,
                 sq_reply_t *reply)
{
    for (size_t index = 0; index < envelope_size; index++)
        zmq_msg_send (&envelope [index], socket, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    for (size_t index = 0; index < reply->count; index++)
        zmq_send (socket, reply->frame [index], strlen (reply->frame [index]),
                  (index + 1 < reply->count? ZMQ_SNDMORE: 0) | ZMQ_DONTWAIT);
}

//  Reads one whole request. The envelope is the routing id, plus the empty
//  delimiter a REQ (or REQ-like DEALER) client puts before its frames.
static void
s_control_request (s_proxy_t *proxy, int64_t now)
{
    zmq_msg_t frames [SQ_CONTROL_FRAMES_MAX + 2];
    size_t count = 0;
    bool too_many = false;
    int more = 1;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *msg = count < SQ_CONTROL_FRAMES_MAX + 2? &frames [count]: &scratch;
        zmq_msg_init (msg);
        if (zmq_msg_recv (msg, proxy->control, 0) < 0) {
            zmq_msg_close (msg);
            break;
        }
        more = zmq_msg_more (msg);
        if (msg == &scratch) {
            too_many = true;
            zmq_msg_close (msg);
        }
        else
            count++;
    }
    size_t envelope = count > 1 && zmq_msg_size (&frames [1]) == 0? 2: 1;
    sq_frames_t request = { .count = 0 };
    for (size_t index = envelope; index < count && request.count < SQ_CONTROL_FRAMES_MAX; index++) {
        request.data [request.count] = zmq_msg_data (&frames [index]);
        request.size [request.count++] = zmq_msg_size (&frames [index]);
    }
    sq_reply_t reply = { .count = 0 };
    if (too_many || count > SQ_CONTROL_FRAMES_MAX + envelope) {
        reply.frame [reply.count++] = strdup ("ERROR");
        reply.frame [reply.count++] = strdup ("too many frames");
    }
    else
    if (count > envelope && !sq_control_auth_allows (proxy->auth, &frames [envelope])) {
        reply.frame [reply.count++] = strdup ("ERROR");
        reply.frame [reply.count++] = strdup ("not authorised");
    }
    else
        sq_control_handle (proxy->core, &request, &reply, now);
    if (count >= envelope)
        s_control_reply (proxy->control, frames, envelope, &reply);
    sq_reply_clear (&reply);
    for (size_t index = 0; index < count; index++)
        zmq_msg_close (&frames [index]);
}

//  The control socket's ZMQ_FD fired. It is edge-triggered: every
//  request waiting is served, until ZMQ_EVENTS shows none, which also
//  re-arms the FD for the next one.
static void
s_on_control (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) fd;
    (void) fired;
    s_proxy_t *proxy = arg;
    int events = 0;
    size_t events_size = sizeof events;
    while (zmq_getsockopt (proxy->control, ZMQ_EVENTS, &events, &events_size) == 0
    &&    (events & ZMQ_POLLIN))
        s_control_request (proxy, sq_loop_now (loop));
}

//  glibc keeps what a burst of connections freed in its arenas: after a
//  churn of thousands, tens of MiB stay resident with almost none in use.
//  When the connections have fallen to half their peak (at most every
//  S_TRIM_EVERY_MS), or to none, the proxy gives that memory back.
#define S_TRIM_EVERY_MS 10000

static void
s_trim_memory (s_proxy_t *proxy, int64_t now)
{
    size_t count = sq_core_connections (proxy->core);
    if (count > proxy->conns_peak)
        proxy->conns_peak = count;
    bool emptied = count == 0 && proxy->conns_peak > 0;
    bool halved = count <= proxy->conns_peak / 2 && now >= proxy->trim_due_ms
               && proxy->conns_peak >= 64;
    if (emptied || halved) {
        malloc_trim (0);
        proxy->conns_peak = count;
        proxy->trim_due_ms = now + S_TRIM_EVERY_MS;
    }
}

//  First hook of each turn: the core runs what is due (held bytes offered
//  again, timeouts, delayed closes)
static bool
s_tick_hook (sq_loop_t *loop, void *arg)
{
    s_proxy_t *proxy = arg;
    int64_t now = sq_loop_now (loop);
    sq_core_tick (proxy->core, now);
    s_trim_memory (proxy, now);
    return false;
}

//  Last hook of each turn, once the engine has read what waited: the
//  timers of the core and of the metrics server are set for the wait
static bool
s_arm_hook (sq_loop_t *loop, void *arg)
{
    s_proxy_t *proxy = arg;
    sq_loop_timer_set (loop, proxy->core_timer,
                       sq_core_next_timeout (proxy->core, sq_clock_now ()));
    if (proxy->metrics)
        sq_loop_timer_set (loop, proxy->metrics_timer, sq_metrics_timeout (proxy->metrics));
    return false;
}

//  The core's timeout is due: the tick of the next turn runs it
static int64_t
s_on_core_timer (sq_loop_t *loop, void *arg)
{
    s_proxy_t *proxy = arg;
    sq_core_tick (proxy->core, sq_loop_now (loop));
    return -1;
}

static void
s_on_metrics (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) loop;
    (void) fd;
    (void) fired;
    sq_metrics_run (((s_proxy_t *) arg)->metrics);
}

static int64_t
s_on_metrics_timer (sq_loop_t *loop, void *arg)
{
    (void) loop;
    sq_metrics_run (((s_proxy_t *) arg)->metrics);
    return -1;
}

//  A signal asked for something: the loop's turn ends, and sq_proxy_run
//  looks at the requests
static void
s_on_wake (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) loop;
    (void) fired;
    (void) arg;
    uint64_t count;
    ssize_t got = read (fd, &count, sizeof count);
    (void) got;                 //  Nothing to reset when it fails
}

//  Watches the ZMQ_FD of a ZeroMQ socket
static bool
s_watch_zmq (sq_loop_t *loop, void *socket, sq_loop_file_fn *fn, void *arg)
{
    int fd = -1;
    size_t size = sizeof fd;
    return zmq_getsockopt (socket, ZMQ_FD, &fd, &size) == 0
        && sq_loop_watch (loop, fd, SQ_LOOP_READABLE, fn, arg) == 0;
}

//  Everything the loop serves registers with it: the core's timer and
//  hooks around the engine's, the control socket, the metrics server,
//  the signals' wake-up. False (with the reason on stderr) on failure.
static bool
s_register (s_proxy_t *proxy)
{
    sq_loop_t *loop = proxy->loop;
    proxy->core_timer = sq_loop_timer_new (loop, -1, s_on_core_timer, proxy);
    bool done = proxy->core_timer
        && sq_loop_hook_add (loop, s_tick_hook, proxy)
        && proxy->engine.register_with (proxy->engine.self, loop)
        && sq_loop_hook_add (loop, s_arm_hook, proxy)
        && s_watch_zmq (loop, proxy->control, s_on_control, proxy);
    if (done && proxy->metrics) {
        proxy->metrics_timer = sq_loop_timer_new (loop, -1, s_on_metrics_timer, proxy);
        done = proxy->metrics_timer
            && sq_loop_watch (loop, sq_metrics_fd (proxy->metrics), SQ_LOOP_READABLE,
                              s_on_metrics, proxy) == 0;
    }
    proxy->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    done = done && proxy->wake_fd >= 0
        && sq_loop_watch (loop, proxy->wake_fd, SQ_LOOP_READABLE, s_on_wake, proxy) == 0;
    if (!done) {
        fprintf (stderr, "streamq-proxy: cannot set up the event loop: %s\n", strerror (errno));
        return false;
    }
    s_wake_fd = proxy->wake_fd;
    //  A request may have come before the control socket was watched
    s_on_control (loop, -1, 0, proxy);
    return true;
}

//  Options that only a restart applies: logged when a reload changes them
static void
s_restart_notes (const sq_proxy_config_t *running, const sq_proxy_config_t *fresh)
{
    struct { const char *option, *was, *now; } strings [] = {
        { "frontend", running->frontend, fresh->frontend },
        { "backend", running->backend, fresh->backend },
        { "control", running->control, fresh->control },
        { "metrics", running->metrics, fresh->metrics },
        { "control-key", running->control_auth.key_file, fresh->control_auth.key_file },
        { "control-clients", running->control_auth.clients_dir,
                             fresh->control_auth.clients_dir },
    };
    for (size_t index = 0; index < sizeof strings / sizeof strings [0]; index++) {
        const char *was = strings [index].was? strings [index].was: "";
        const char *now = strings [index].now? strings [index].now: "";
        if (strcmp (was, now) != 0)
            sq_warning ("reload: --%s changed: it needs a restart", strings [index].option);
    }
    if (running->engine != fresh->engine)
        sq_warning ("reload: --engine changed: it needs a restart");
    if (running->io_threads != fresh->io_threads)
        sq_warning ("reload: --io-threads changed: it needs a restart");
    if (running->peer_hwm != fresh->peer_hwm)
        sq_warning ("reload: --peer-hwm changed: it needs a restart");
    if (memcmp (running->keepalive, fresh->keepalive, sizeof fresh->keepalive) != 0)
        sq_warning ("reload: TCP keepalive changed: it needs a restart");
    if (running->control_auth.open_read != fresh->control_auth.open_read)
        sq_warning ("reload: --control-open-read changed: it needs a restart");
    if (running->log_format != fresh->log_format)
        sq_warning ("reload: --log-format changed: it needs a restart");
    const char *was = running->syslog_socket? running->syslog_socket: "";
    const char *now = fresh->syslog_socket? fresh->syslog_socket: "";
    if (running->syslog != fresh->syslog || running->syslog_facility != fresh->syslog_facility
    ||  strcmp (was, now) != 0)
        sq_warning ("reload: --syslog options changed: they need a restart");
}

//  SIGHUP: reads the configuration again and applies what can change
//  live. The running configuration takes the new one's place; what only
//  a restart applies keeps its running value.
static void
s_reload (s_proxy_t *proxy, sq_proxy_config_t *config)
{
    if (proxy->auth)
        sq_control_auth_reload (proxy->auth);
    if (!config->reload) {
        if (config->routes && !s_load_routes (proxy->core, config))
            sq_warning ("keeping the address rules, routes and weights in force");
        return;
    }
    sq_proxy_config_t fresh;
    sq_proxy_config_defaults (&fresh);
    if (!config->reload (&fresh)) {
        sq_error ("reload: the configuration is not valid; keeping the one in force");
        sq_proxy_config_clear (&fresh);
        return;
    }
    s_restart_notes (config, &fresh);
    sq_log_set_level (fresh.log_level);
    sq_core_config_t core_config = fresh.core;
    s_connection_limits (&core_config, fresh.max_connections, proxy->files);
    sq_core_reconfigure (proxy->core, &core_config);
    if (!s_load_routes (proxy->core, &fresh))
        sq_warning ("keeping the address rules, routes and weights in force");
    //  Keep the running values of what needs a restart
    fresh.frontend = config->frontend;
    fresh.backend = config->backend;
    fresh.control = config->control;
    fresh.metrics = config->metrics;
    fresh.control_auth = config->control_auth;
    fresh.io_threads = config->io_threads;
    fresh.engine = config->engine;
    fresh.peer_hwm = config->peer_hwm;
    fresh.log_format = config->log_format;
    fresh.syslog = config->syslog;
    fresh.syslog_facility = config->syslog_facility;
    fresh.syslog_facility_name = config->syslog_facility_name;
    fresh.syslog_socket = config->syslog_socket;
    memcpy (fresh.keepalive, config->keepalive, sizeof fresh.keepalive);
    fresh.reload = config->reload;
    //  Those values may point into the file read at start: it stays until
    //  the proxy stops; a file read by a later reload goes with its config
    if (!proxy->start_file) {
        proxy->start_file = config->file;
        config->file = NULL;
    }
    sq_proxy_config_clear (config);
    *config = fresh;
    sq_info ("reload: configuration applied%s%s", config->config_path? " from ": "",
             config->config_path? config->config_path: "");
}

//  Drains when asked (DRAIN ALL, SIGUSR1): true once the proxy may stop,
//  its pairs done or their time up
static bool
s_drained (s_proxy_t *proxy, const sq_proxy_config_t *config, int64_t now)
{
    if (s_drain_requested) {
        s_drain_requested = 0;
        sq_core_drain_all (proxy->core, now);
    }
    if (!sq_core_draining_all (proxy->core))
        return false;
    if (!proxy->drain_deadline_ms)
        proxy->drain_deadline_ms = now + config->drain_timeout_ms;
    if (sq_core_connections (proxy->core) == 0) {
        sq_info ("drained: every pair has finished");
        return true;
    }
    if (now >= proxy->drain_deadline_ms) {
        sq_warning ("drain timeout: closing %zu pairs still open",
                    sq_core_active_pairs (proxy->core));
        return true;
    }
    return false;
}

int
sq_proxy_run (sq_proxy_config_t *config)
{
    s_proxy_t proxy;
    memset (&proxy, 0, sizeof proxy);
    proxy.wake_fd = -1;
    if (!s_start (&proxy, config)) {
        s_stop (&proxy);
        return 2;
    }
    sq_info ("ready");
    while (!s_stop_requested && !sq_core_terminating (proxy.core)
    &&     !s_drained (&proxy, config, sq_clock_now ())) {
        sq_loop_once (proxy.loop, S_POLL_MAX_MS);
        if (s_reload_requested) {
            s_reload_requested = 0;
            s_reload (&proxy, config);
        }
    }
    sq_info ("stopping: closing %zu frontend and %zu backend connections",
             sq_conn_table_count (sq_core_conns (proxy.core), SQ_FRONTEND),
             sq_conn_table_count (sq_core_conns (proxy.core), SQ_BACKEND));
    sq_core_close_all (proxy.core, sq_clock_now ());
    //  Give the last bytes a moment to go
    int64_t linger_ms = config->core.close_linger_ms;
    int64_t deadline = sq_clock_now () + linger_ms;
    while (proxy.engine.linger (proxy.engine.self, (int) linger_ms)
    &&     sq_clock_now () < deadline)
        sq_loop_once (proxy.loop, deadline - sq_clock_now ());
    s_stop (&proxy);
    sq_config_destroy (&proxy.start_file);
    sq_info ("stopped");
    return 0;
}
