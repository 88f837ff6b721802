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
#include "sq_proxy.h"
#include "sq_control_guard.h"
#include "sq_options.h"
#include "sq_engine_stream.h"
#include "sq_control.h"
#include "sq_metrics.h"
#include "sq_notify.h"
#include "sq_routes.h"
#include "sq_prometheus.h"
#include "sq_cert.h"
#include "sq_file.h"
#include "sq_clock.h"
#include "sq_log.h"

//  Chunks read from one side before looking at the others, for fairness
#define S_BATCH 256
//  Longest sleep, so a stop request is seen even without a signal wake-up
#define S_POLL_MAX_MS 1000
//  Under a steady load, how often the control socket is looked at
#define S_CONTROL_EVERY_MS 10

static volatile sig_atomic_t s_stop_requested = 0;
static volatile sig_atomic_t s_reload_requested = 0;
static volatile sig_atomic_t s_drain_requested = 0;

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

void
sq_proxy_request_stop (void)
{
    s_stop_requested = 1;
}

void
sq_proxy_request_reload (void)
{
    s_reload_requested = 1;
}

void
sq_proxy_request_drain (void)
{
    s_drain_requested = 1;
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

typedef struct {
    void *context;
    void *control;
    sq_control_auth_t *auth;    //  CURVE on the control socket, or NULL
    sq_engine_stream_t *engine;
    sq_core_t *core;
    sq_metrics_t *metrics;      //  --metrics, or NULL
    sq_notify_t *notify;        //  What systemd is told
    char control_endpoint [256];
    int64_t control_due_ms;     //  Look at the control socket by then
    rlim_t files;               //  The open-file limit in force
    int64_t drain_deadline_ms;  //  Draining: when the proxy stops anyway
    sq_config_t *start_file;    //  The file read at start, once reloaded
    sq_control_guard_t *guard;  //  Bounds the control socket's connections
    int reserve_fd;             //  A descriptor to give back when out of them
    size_t conns_peak;          //  Most connections since memory was last trimmed
    int64_t trim_due_ms;        //  Earliest next trim while connections remain
    uint64_t accept_failures;   //  Failed accepts seen so far
    int64_t last_failure_ms;
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

//  The proxy keeps one descriptor in reserve. When libzmq fails to accept
//  for want of one, the reserve is given back, so its next accept works
//  and the core can refuse (close) what it accepts, instead of libzmq
//  retrying in a busy loop while every descriptor is taken. The reserve
//  is taken again once accepts have stopped failing for a while.
#define S_RESERVE_QUIET_MS 100

static void
s_reserve_open (s_proxy_t *proxy)
{
    proxy->reserve_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void
s_reserve_update (s_proxy_t *proxy, int64_t now)
{
    const sq_core_stats_t *stats = sq_core_stats (proxy->core);
    uint64_t failures = stats->accept_failed [SQ_FRONTEND] + stats->accept_failed [SQ_BACKEND];
    if (failures != proxy->accept_failures) {
        proxy->accept_failures = failures;
        proxy->last_failure_ms = now;
        if (proxy->reserve_fd >= 0) {
            close (proxy->reserve_fd);
            proxy->reserve_fd = -1;
        }
    }
    else
    if (proxy->reserve_fd < 0 && now >= proxy->last_failure_ms + S_RESERVE_QUIET_MS)
        s_reserve_open (proxy);
}

//  Binds everything and logs the real endpoints; false if anything failed
static bool
s_start (s_proxy_t *proxy, const sq_proxy_config_t *config)
{
    s_reserve_open (proxy);
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
    proxy->engine = sq_engine_stream_new (proxy->context, config->frontend,
                                          config->backend, config->keepalive,
                                          config->peer_hwm,
                                          error, sizeof error);
    if (!proxy->engine) {
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
    sq_engine_t ops = sq_engine_stream_ops (proxy->engine);
    proxy->core = sq_core_new (&core_config, &ops);
    if (!proxy->core) {
        sq_log_failure ("out of memory");
        return false;
    }
    sq_engine_stream_attach (proxy->engine, proxy->core);
    if (!s_load_routes (proxy->core, config))
        return false;
    sq_info ("listening: frontend %s", sq_engine_stream_endpoint (proxy->engine, SQ_FRONTEND));
    sq_info ("listening: backend %s", sq_engine_stream_endpoint (proxy->engine, SQ_BACKEND));
    sq_info ("listening: control %s", proxy->control_endpoint);
    if (config->metrics) {
        proxy->metrics = sq_metrics_new (config->metrics, proxy->core, error, sizeof error);
        if (!proxy->metrics) {
            sq_log_failure ("%s", error);
            return false;
        }
        sq_info ("listening: metrics %s", sq_metrics_url (proxy->metrics));
    }
    s_warn_open_backend (sq_engine_stream_endpoint (proxy->engine, SQ_BACKEND), config);
    if (!s_endpoint_is_local (proxy->control_endpoint) && !proxy->auth)
        sq_warning ("the control socket is reachable from other hosts: anyone "
                    "who reaches %s can pause or stop the proxy", proxy->control_endpoint);
    return true;
}

static void
s_stop (s_proxy_t *proxy)
{
    if (proxy->reserve_fd >= 0)
        close (proxy->reserve_fd);
    //  Before the core: a request reads it
    sq_metrics_destroy (&proxy->metrics);
    sq_core_destroy (&proxy->core);
    sq_engine_stream_destroy (&proxy->engine);
    sq_control_guard_destroy (&proxy->guard);
    if (proxy->control)
        zmq_close (proxy->control);
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

static void
s_control_drain (s_proxy_t *proxy, int64_t now)
{
    int events = 0;
    size_t events_size = sizeof events;
    while (zmq_getsockopt (proxy->control, ZMQ_EVENTS, &events, &events_size) == 0
    &&    (events & ZMQ_POLLIN))
        s_control_request (proxy, now);
}

//  True when the socket has a message to read. Reading ZMQ_EVENTS also
//  runs the socket's pending commands, which re-arms its ZMQ_FD.
static bool
s_readable (void *socket)
{
    int events = 0;
    size_t size = sizeof events;
    return zmq_getsockopt (socket, ZMQ_EVENTS, &events, &size) == 0
        && (events & ZMQ_POLLIN);
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

//  Serves what is ready now; returns true when a side had more than one
//  batch waiting, so the loop should come back at once. A read that finds
//  nothing costs what a readiness check would, so the peers' sockets are
//  simply read. The control socket is looked at when the peers' sockets
//  are drained, and at least every S_CONTROL_EVERY_MS under load.
static bool
s_serve (s_proxy_t *proxy)
{
    int64_t now = sq_clock_now ();
    bool more = false;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (sq_core_reading (proxy->core, side)
        &&  sq_engine_stream_receive (proxy->engine, side, S_BATCH, now) == S_BATCH)
            more = true;
    if (!more || now >= proxy->control_due_ms) {
        if (s_readable (proxy->control))
            s_control_drain (proxy, now);
        sq_engine_stream_events (proxy->engine, now);
        sq_control_guard_events (proxy->guard, now);
        s_reserve_update (proxy, now);
        s_trim_memory (proxy, now);
        if (proxy->metrics)
            sq_metrics_run (proxy->metrics);
        proxy->control_due_ms = now + S_CONTROL_EVERY_MS;
    }
    sq_core_tick (proxy->core, now);
    return more;
}

//  Sleeps until a socket has news or a timer is due. The sockets' ZMQ_FDs
//  are watched directly, not through zmq_poll: besides arriving messages,
//  they wake us when libzmq reports that a full pipe has drained, which is
//  when held bytes can go. zmq_poll hides that, as a stream socket always
//  counts as writable.
static void
s_wait (s_proxy_t *proxy)
{
    //  The control socket, the peers' sockets unless paused, the monitors;
    //  reading [i] is false for a peers' socket whose reading stopped
    void *sockets [6];
    bool reading [6];
    int watched = 0;
    sockets [watched++] = proxy->control;
    reading [watched] = true;
    sockets [watched++] = sq_control_guard_socket (proxy->guard);
    bool paused = sq_core_paused (proxy->core);
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND && !paused; side++) {
        reading [watched] = sq_core_reading (proxy->core, side);
        sockets [watched++] = sq_engine_stream_socket (proxy->engine, side);
    }
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (sq_engine_stream_monitor (proxy->engine, side)) {
            reading [watched] = true;
            sockets [watched++] = sq_engine_stream_monitor (proxy->engine, side);
        }
    //  Edge-triggered: a send on a socket may have taken in the wake-up of
    //  a message that arrived meanwhile, so check the sockets once more
    //  before sleeping. The control socket was just drained by s_serve,
    //  which ends on such a check. A side whose reading stopped
    //  (--slow-peer=block) is still watched, for the notices that its
    //  full pipes drained; the check takes those in, so its signal is
    //  reset and the loop sleeps although messages wait on it.
    for (int index = 1; index < watched; index++)
        if (s_readable (sockets [index]) && reading [index])
            return;
    //  One more for the metrics server's epoll descriptor: s_serve runs
    //  it after the wake-up
    struct pollfd fds [7];
    int polled = watched;
    for (int index = 0; index < watched; index++) {
        size_t size = sizeof fds [index].fd;
        zmq_getsockopt (sockets [index], ZMQ_FD, &fds [index].fd, &size);
        fds [index].events = POLLIN;
        fds [index].revents = 0;
    }
    if (proxy->metrics)
        fds [polled++] = (struct pollfd) { sq_metrics_fd (proxy->metrics), POLLIN, 0 };
    //  Those checks may have taken in a drained-pipe notice: act on it now
    int64_t now = sq_clock_now ();
    sq_core_tick (proxy->core, now);
    int64_t timeout = sq_core_next_timeout (proxy->core, now);
    int64_t due [2] = {
        proxy->metrics? sq_metrics_timeout (proxy->metrics): -1,
        sq_notify_timeout (proxy->notify, now)
    };
    for (int index = 0; index < 2; index++)
        if (due [index] >= 0 && (timeout < 0 || due [index] < timeout))
            timeout = due [index];
    if (timeout < 0 || timeout > S_POLL_MAX_MS)
        timeout = S_POLL_MAX_MS;
    if (poll (fds, (nfds_t) polled, (int) timeout) < 0 && errno != EINTR)
        sq_warning ("poll failed: %s", strerror (errno));
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
              sq_engine_stream_endpoint (proxy->engine, SQ_FRONTEND),
              sq_engine_stream_endpoint (proxy->engine, SQ_BACKEND));
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
    proxy.reserve_fd = -1;
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
        if (!s_serve (&proxy))
            s_wait (&proxy);
        sq_notify_run (proxy.notify, sq_clock_now ());
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
    //  Give the close requests a moment to reach the I/O threads
    sq_engine_stream_set_linger (proxy.engine, (int) config->core.close_linger_ms);
    s_stop (&proxy);
    sq_config_destroy (&proxy.start_file);
    sq_info ("stopped");
    return 0;
}
