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
#include <netdb.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <zmq.h>
#include <sys/eventfd.h>
#include "sq_proxy.h"
#include "sq_control_guard.h"
#include "sq_options.h"
#include "sq_notify.h"
#include "sq_prometheus.h"
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
    sq_options_defaults (config);
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

//  True when libzmq can bind to the host of a tcp:// endpoint: *, an IP
//  address, or the name of an interface of this host. libzmq does not
//  look names up for a bind, so a host name fails there ("No such
//  device"): it is said here in words.
static bool
s_host_bindable (const char *option, const char *endpoint, char *error, size_t size)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return true;
    char host [256];
    const char *start = endpoint + 6;
    const char *end = *start == '['? strchr (start, ']'): strrchr (start, ':');
    size_t length = end? (size_t) (end - start): 0;
    if (*start == '[')
        start++, length--;
    snprintf (host, sizeof host, "%.*s", (int) length, start);
    unsigned char address [sizeof (struct in6_addr)];
    if (strcmp (host, "*") == 0)
        return true;
    host [strcspn (host, "%")] = 0;         //  An IPv6 zone
    if (inet_pton (AF_INET, host, address) == 1 || inet_pton (AF_INET6, host, address) == 1
    ||  if_nametoindex (host) != 0)
        return true;
    snprintf (error, size, "--%s %s: the host '%s' cannot be resolved to an address of "
              "this machine (libzmq binds to *, an IP address or an interface name, "
              "e.g. tcp://127.0.0.1:5555, not to a host name)", option, endpoint, host);
    return false;
}

bool
sq_proxy_check_names (const sq_proxy_config_t *config, char *error, size_t size)
{
    if (!s_host_bindable ("frontend", config->frontend, error, size)
    ||  !s_host_bindable ("backend", config->backend, error, size)
    ||  !s_host_bindable ("control", config->control, error, size))
        return false;
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

//  Binds a socket of that type to the endpoint; returns it, or NULL
//  with the reason appended to error
static void *
s_try_bind (void *context, int type, const char *name, const char *endpoint,
            char *error, size_t size)
{
    void *socket = zmq_socket (context, type);
    int linger = 0;
    if (socket) {
        zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
        sq_engine_stream_set_ipv6 (socket, endpoint);
        if (zmq_bind (socket, endpoint) == 0)
            return socket;
    }
    size_t used = strlen (error);
    snprintf (error + used, size - used, "%scannot bind %s to %s: %s", used? "; ": "",
              name, endpoint, zmq_strerror (zmq_errno ()));
    if (socket)
        zmq_close (socket);
    return NULL;
}

//  Binds a listening TCP socket to the metrics URL's address; returns
//  its descriptor, or -1 with the reason appended to error
static int
s_try_bind_metrics (const char *url, char *error, size_t size)
{
    sq_prometheus_url_t parsed;
    char reason [256];
    struct sockaddr_storage address;
    memset (&address, 0, sizeof address);
    struct sockaddr_in *ipv4 = (struct sockaddr_in *) &address;
    struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *) &address;
    int fd = -1;
    if (!sq_prometheus_url_parse (url, &parsed, reason, sizeof reason))
        snprintf (reason, sizeof reason, "not a metrics URL");
    else {
        if (parsed.ipv6) {
            ipv6->sin6_family = AF_INET6;
            ipv6->sin6_port = htons ((uint16_t) parsed.port);
            inet_pton (AF_INET6, parsed.host, &ipv6->sin6_addr);
        }
        else {
            ipv4->sin_family = AF_INET;
            ipv4->sin_port = htons ((uint16_t) parsed.port);
            inet_pton (AF_INET, parsed.host, &ipv4->sin_addr);
        }
        fd = socket (parsed.ipv6? AF_INET6: AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int on = 1;
        if (fd >= 0)
            setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (fd >= 0 && (bind (fd, (struct sockaddr *) &address,
                              parsed.ipv6? sizeof *ipv6: sizeof *ipv4) != 0
                        || listen (fd, 1) != 0)) {
            snprintf (reason, sizeof reason, "%s", strerror (errno));
            close (fd);
            fd = -1;
        }
        else
        if (fd < 0)
            snprintf (reason, sizeof reason, "%s", strerror (errno));
    }
    size_t used = strlen (error);
    if (fd < 0)
        snprintf (error + used, size - used, "%scannot bind metrics to %s: %s",
                  used? "; ": "", url, reason);
    return fd;
}

bool
sq_proxy_check_bind (const sq_proxy_config_t *config, char *error, size_t size)
{
    *error = 0;
    void *context = zmq_ctx_new ();
    if (!context) {
        snprintf (error, size, "cannot make a libzmq context: %s", zmq_strerror (zmq_errno ()));
        return false;
    }
    //  All held at once, so that two of them on one port fail as at start
    void *sockets [3] = {
        s_try_bind (context, ZMQ_STREAM, "frontend", config->frontend, error, size),
        s_try_bind (context, ZMQ_STREAM, "backend", config->backend, error, size),
        s_try_bind (context, ZMQ_ROUTER, "control", config->control, error, size)
    };
    int metrics = config->metrics? s_try_bind_metrics (config->metrics, error, size): -1;
    bool bound = sockets [0] && sockets [1] && sockets [2]
              && (!config->metrics || metrics >= 0);
    for (int index = 0; index < 3; index++)
        if (sockets [index])
            zmq_close (sockets [index]);
    if (metrics >= 0)
        close (metrics);
    zmq_ctx_term (context);
    return bound;
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
    sq_notify_t *notify;        //  What systemd is told
    sq_control_guard_t *guard;  //  Bounds the control socket's connections
    sq_loop_t *loop;
    int core_timer;             //  When the core's next timeout is due
    int metrics_timer;          //  When the metrics server has work
    int notify_timer;           //  When the watchdog is due
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
    //  Requests are small: a peer that sends a larger frame is cut off by
    //  libzmq before the proxy holds it
    int64_t max_frame = SQ_CONTROL_FRAME_BYTES_MAX;
    zmq_setsockopt (socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame);
    sq_engine_stream_set_ipv6 (socket, endpoint);
    if (auth && sq_control_auth_apply (auth, socket) != 0) {
        sq_log_failure ("cannot set CURVE on the control socket: %s",
                        zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    if (zmq_bind (socket, endpoint) != 0) {
        sq_log_failure ("cannot bind control to %s: %s", endpoint,
                        zmq_strerror (zmq_errno ()));
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

//  True when the allow list of that side has an entry
static bool
s_allow_list (const sq_proxy_config_t *config, sq_side_t side)
{
    char text [16] = "";
    if (config->access [side])
        sq_access_text (config->access [side], true, text, sizeof text);
    return *text != 0;
}

//  Whoever connects to the backend is handed clients. Reachable from other
//  hosts, with no allow list and not CURVE alone (where each client checks
//  its worker's key), it lets any host that reaches it pose as a worker.
static void
s_warn_open_backend (const char *bound, const sq_proxy_config_t *config)
{
    const char *mechanisms = config->mechanisms [SQ_BACKEND];
    if (s_endpoint_is_local (bound) || s_allow_list (config, SQ_BACKEND)
    ||  (mechanisms && strcmp (mechanisms, "CURVE") == 0))
        return;
    sq_warning ("the backend %s is open to other hosts, with no --backend-allow and "
                "not --backend-mechanisms CURVE: any host that reaches it can pose as "
                "a worker and be handed clients", bound);
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
        sq_log_failure ("%s", error);
        return false;
    }
    bool made = config->engine == SQ_ENGINE_SPLICE
              ? s_splice_new (&proxy->engine, config, error, sizeof error)
              : s_stream_new (&proxy->engine, proxy->context, config, error, sizeof error);
    if (!made) {
        sq_log_failure ("%s", error);
        return false;
    }
    proxy->control = s_control_new (proxy->context, config->control,
                                    proxy->control_endpoint, proxy->auth);
    if (!proxy->control)
        return false;
    proxy->guard = sq_control_guard_new (proxy->context, proxy->control,
                                         (size_t) config->max_control_connections);
    if (!proxy->guard) {
        sq_log_failure ("cannot watch the control socket's connections: %s",
                        zmq_strerror (zmq_errno ()));
        return false;
    }
    proxy->core = sq_core_new (&core_config, &proxy->engine.ops);
    if (!proxy->core) {
        sq_log_failure ("out of memory");
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
        proxy->metrics = sq_metrics_new (config->metrics, error, sizeof error);
        if (!proxy->metrics) {
            sq_log_failure ("%s", error);
            return false;
        }
        sq_service_ref_t service = { SQ_SERVICE_DEFAULT, proxy->core, false };
        sq_metrics_set_services (proxy->metrics, &service, 1);
        sq_info ("listening: metrics %s", sq_metrics_url (proxy->metrics));
    }
    s_warn_open_backend (proxy->engine.endpoint (proxy->engine.self, SQ_BACKEND), config);
    if (!s_endpoint_is_local (proxy->control_endpoint) && !proxy->auth)
        sq_warning ("the control socket is reachable from other hosts: anyone "
                    "who reaches %s can pause or stop the proxy", proxy->control_endpoint);
    proxy->loop = sq_loop_new ();
    if (!proxy->loop) {
        sq_log_failure ("cannot make the event loop: %s", strerror (errno));
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
    if (proxy->guard) {
        int fd = -1;
        size_t size = sizeof fd;
        if (proxy->loop && zmq_getsockopt (sq_control_guard_socket (proxy->guard), ZMQ_FD,
                                           &fd, &size) == 0)
            sq_loop_unwatch (proxy->loop, fd);
        sq_control_guard_destroy (&proxy->guard);
    }
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
    sq_notify_destroy (&proxy->notify);
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
    //  What a client may run is the command after a SERVICE <name>
    size_t command = envelope + sq_control_service_prefix (&request);
    sq_reply_t reply = { .count = 0 };
    if (too_many || count > SQ_CONTROL_FRAMES_MAX + envelope) {
        reply.frame [reply.count++] = strdup ("ERROR");
        reply.frame [reply.count++] = strdup ("too many frames");
    }
    else
    if (count > command && !sq_control_auth_allows (proxy->auth, &frames [command])) {
        reply.frame [reply.count++] = strdup ("ERROR");
        reply.frame [reply.count++] = strdup ("not authorised");
    }
    else {
        sq_service_ref_t service = { SQ_SERVICE_DEFAULT, proxy->core, false };
        sq_control_handle (&service, 1, &request, &reply, now);
    }
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

//  The control socket's monitor has news (edge-triggered, as any ZMQ_FD):
//  the guard reads every event waiting
static void
s_on_guard (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) fd;
    (void) fired;
    s_proxy_t *proxy = arg;
    void *monitor = sq_control_guard_socket (proxy->guard);
    int events = 0;
    size_t events_size = sizeof events;
    do
        sq_control_guard_events (proxy->guard, sq_loop_now (loop));
    while (zmq_getsockopt (monitor, ZMQ_EVENTS, &events, &events_size) == 0
       &&  (events & ZMQ_POLLIN));
}

//  The systemd watchdog is due
static int64_t
s_on_notify_timer (sq_loop_t *loop, void *arg)
{
    s_proxy_t *proxy = arg;
    int64_t now = sq_loop_now (loop);
    sq_notify_run (proxy->notify, now);
    return sq_notify_timeout (proxy->notify, now);
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
        && s_watch_zmq (loop, proxy->control, s_on_control, proxy)
        && s_watch_zmq (loop, sq_control_guard_socket (proxy->guard), s_on_guard, proxy);
    if (done) {
        proxy->notify_timer = sq_loop_timer_new (loop,
            sq_notify_timeout (proxy->notify, sq_clock_now ()), s_on_notify_timer, proxy);
        done = proxy->notify_timer != 0;
    }
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
        sq_log_failure ("cannot set up the event loop: %s", strerror (errno));
        return false;
    }
    s_wake_fd = proxy->wake_fd;
    //  A request may have come before the control socket was watched
    s_on_control (loop, -1, 0, proxy);
    s_on_guard (loop, -1, 0, proxy);
    return true;
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
    sq_options_restart_notes (config, &fresh);
    sq_log_set_level (fresh.log_level);
    sq_core_config_t core_config = fresh.core;
    s_connection_limits (&core_config, fresh.max_connections, proxy->files);
    sq_core_reconfigure (proxy->core, &core_config);
    sq_control_guard_set_cap (proxy->guard, (size_t) fresh.max_control_connections);
    if (!s_load_routes (proxy->core, &fresh))
        sq_warning ("keeping the address rules, routes and weights in force");
    //  Keep the running values of what needs a restart
    sq_options_keep_running (config, &fresh);
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
    if (!proxy->drain_deadline_ms) {
        proxy->drain_deadline_ms = now + config->drain_timeout_ms;
        sq_notify_stopping (proxy->notify, "draining: no new connections, the pairs finish");
    }
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

//  What systemctl status shows of a ready proxy
static void
s_notify_ready (s_proxy_t *proxy)
{
    char status [600];
    snprintf (status, sizeof status, "ready: frontend %s, backend %s",
              proxy->engine.endpoint (proxy->engine.self, SQ_FRONTEND),
              proxy->engine.endpoint (proxy->engine.self, SQ_BACKEND));
    sq_notify_ready (proxy->notify, status);
}

//  SIGHUP, between RELOADING=1 and READY=1
static void
s_notify_reload (s_proxy_t *proxy, sq_proxy_config_t *config)
{
    sq_notify_reloading (proxy->notify);
    s_reload (proxy, config);
    s_notify_ready (proxy);
}

int
sq_proxy_run (sq_proxy_config_t *config)
{
    s_proxy_t proxy;
    memset (&proxy, 0, sizeof proxy);
    proxy.wake_fd = -1;
    proxy.notify = sq_notify_new ();
    char error [512];
    if (!sq_options_check (config, error, sizeof error)
    ||  !sq_proxy_check_names (config, error, sizeof error)) {
        sq_log_failure ("%s", error);
        sq_notify_destroy (&proxy.notify);
        return 2;
    }
    if (!proxy.notify || !s_start (&proxy, config)) {
        s_stop (&proxy);
        return 2;
    }
    sq_info ("ready");
    s_notify_ready (&proxy);
    while (!s_stop_requested && !sq_core_terminating (proxy.core)
    &&     !s_drained (&proxy, config, sq_clock_now ())) {
        sq_loop_once (proxy.loop, S_POLL_MAX_MS);
        if (s_reload_requested) {
            s_reload_requested = 0;
            s_notify_reload (&proxy, config);
        }
    }
    sq_notify_stopping (proxy.notify, "stopping");
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
