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
#include "sq_service.h"
#include "sq_service_ref.h"
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
    config->service_index = -1;
}

size_t
sq_proxy_config_services (sq_proxy_config_t *config, sq_proxy_config_t **services)
{
    if (config->service_count == 0) {
        services [0] = config;
        return 1;
    }
    for (size_t index = 0; index < config->service_count; index++)
        services [index] = config->services [index];
    return config->service_count;
}

const char *
sq_proxy_config_service_name (const sq_proxy_config_t *config)
{
    return config->service_name? config->service_name: SQ_SERVICE_DEFAULT;
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
    for (size_t index = 0; index < config->service_count; index++) {
        sq_proxy_config_clear (config->services [index]);
        free (config->services [index]);
        config->services [index] = NULL;
    }
    config->service_count = 0;
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
    if (!s_host_bindable ("control", config->control, error, size))
        return false;
    sq_proxy_config_t *services [SQ_CONFIG_SERVICES_MAX];
    size_t count = sq_proxy_config_services ((sq_proxy_config_t *) config, services);
    for (size_t index = 0; index < count; index++) {
        const sq_proxy_config_t *service = services [index];
        char reason [1024];
        if (!s_host_bindable ("frontend", service->frontend, reason, sizeof reason)
        ||  !s_host_bindable ("backend", service->backend, reason, sizeof reason)
        ||  !sq_service_check_routes (service, reason, sizeof reason)) {
            if (config->service_count)
                snprintf (error, size, "service %s: %s", service->service_name, reason);
            else
                snprintf (error, size, "%s", reason);
            return false;
        }
    }
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
    sq_proxy_config_t *services [SQ_CONFIG_SERVICES_MAX];
    size_t count = sq_proxy_config_services ((sq_proxy_config_t *) config, services);
    void *sockets [2 * SQ_CONFIG_SERVICES_MAX + 1];
    bool bound = true;
    for (size_t index = 0; index < count; index++) {
        char name [2][128];
        const char *service = config->service_count? services [index]->service_name: NULL;
        snprintf (name [0], sizeof name [0], "%s%sfrontend", service? service: "",
                  service? " ": "");
        snprintf (name [1], sizeof name [1], "%s%sbackend", service? service: "",
                  service? " ": "");
        sockets [2 * index] = s_try_bind (context, ZMQ_STREAM, name [0],
                                          services [index]->frontend, error, size);
        sockets [2 * index + 1] = s_try_bind (context, ZMQ_STREAM, name [1],
                                              services [index]->backend, error, size);
        bound = bound && sockets [2 * index] && sockets [2 * index + 1];
    }
    sockets [2 * count] = s_try_bind (context, ZMQ_ROUTER, "control", config->control,
                                      error, size);
    int metrics = config->metrics? s_try_bind_metrics (config->metrics, error, size): -1;
    bound = bound && sockets [2 * count] && (!config->metrics || metrics >= 0);
    for (size_t index = 0; index <= 2 * count; index++)
        if (sockets [index])
            zmq_close (sockets [index]);
    if (metrics >= 0)
        close (metrics);
    zmq_ctx_term (context);
    return bound;
}

//  A configuration that a reload replaced, kept while services it
//  describes drain (their cores point into it)
typedef struct {
    sq_proxy_config_t *config;
    size_t draining;            //  Its services not gone yet
} s_retired_t;

typedef struct {
    void *context;
    void *control;
    sq_control_auth_t *auth;    //  CURVE on the control socket, or NULL
    //  The services, in the configuration's order, those removed and
    //  draining after them; refs says the same to the control socket and
    //  the metrics
    sq_service_t *services [SQ_SERVICES_MAX];
    sq_service_ref_t refs [SQ_SERVICES_MAX];
    s_retired_t *retired_of [SQ_SERVICES_MAX];  //  A removed one's configuration
    size_t service_count;
    s_retired_t retired [SQ_SERVICES_MAX];
    sq_metrics_t *metrics;      //  --metrics, or NULL
    sq_notify_t *notify;        //  What systemd is told
    sq_control_guard_t *guard;  //  Bounds the control socket's connections
    sq_loop_t *loop;
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

static bool s_register (s_proxy_t *proxy);

//  -------------------------------------------------------------------------
//  The services

//  The refs the control socket and the metrics read, after any change to
//  the list of services
static void
s_refs_update (s_proxy_t *proxy)
{
    for (size_t index = 0; index < proxy->service_count; index++)
        proxy->refs [index] = (sq_service_ref_t) {
            .name = sq_service_name (proxy->services [index]),
            .core = sq_service_core (proxy->services [index]),
            .removed = sq_service_removed (proxy->services [index])
        };
    if (proxy->metrics)
        sq_metrics_set_services (proxy->metrics, proxy->refs, proxy->service_count);
}

//  The index of the live (not removed) service of that name, or -1
static int
s_service_find (s_proxy_t *proxy, const char *name)
{
    for (size_t index = 0; index < proxy->service_count; index++)
        if (!sq_service_removed (proxy->services [index])
        &&  strcmp (sq_service_name (proxy->services [index]), name) == 0)
            return (int) index;
    return -1;
}

//  Connections of every service
static size_t
s_connections (s_proxy_t *proxy)
{
    size_t count = 0;
    for (size_t index = 0; index < proxy->service_count; index++)
        count += sq_core_connections (sq_service_core (proxy->services [index]));
    return count;
}

//  Pairs of every service
static size_t
s_active_pairs (s_proxy_t *proxy)
{
    size_t count = 0;
    for (size_t index = 0; index < proxy->service_count; index++)
        count += sq_core_active_pairs (sq_service_core (proxy->services [index]));
    return count;
}

static bool s_tick_hook (sq_loop_t *loop, void *arg);
static bool s_arm_hook (sq_loop_t *loop, void *arg);

//  Starts one more service of the configuration, at the end of the list;
//  with the loop running, it registers at once (the hook that arms the
//  timers stays last). False, logged, when it cannot.
static bool
s_service_add (s_proxy_t *proxy, sq_proxy_config_t *config, size_t sharing)
{
    if (proxy->service_count == SQ_SERVICES_MAX) {
        sq_error ("service %s: more than %d services", sq_proxy_config_service_name (config),
                  SQ_SERVICES_MAX);
        return false;
    }
    sq_service_t *service = sq_service_new (sq_proxy_config_service_name (config), config,
                                            proxy->context, proxy->files, sharing);
    if (!service)
        return false;
    if (proxy->loop) {
        sq_loop_hook_remove (proxy->loop, s_arm_hook, proxy);
        bool registered = sq_service_register (service, proxy->loop);
        if (!sq_loop_hook_add (proxy->loop, s_arm_hook, proxy) || !registered) {
            sq_error ("service %s: cannot register with the event loop",
                      sq_service_name (service));
            sq_service_destroy (&service);
            return false;
        }
    }
    proxy->retired_of [proxy->service_count] = NULL;
    proxy->services [proxy->service_count++] = service;
    s_refs_update (proxy);
    return true;
}

//  A removed service whose last connection went is destroyed; so is the
//  retired configuration it was the last to use
static void
s_services_reap (s_proxy_t *proxy)
{
    size_t kept = 0;
    bool changed = false;
    for (size_t index = 0; index < proxy->service_count; index++) {
        sq_service_t *service = proxy->services [index];
        s_retired_t *retired = proxy->retired_of [index];
        if (sq_service_removed (service)
        &&  sq_core_connections (sq_service_core (service)) == 0
        &&  !sq_service_linger (service, 0)) {
            sq_info ("service %s: gone", sq_service_name (service));
            sq_service_destroy (&service);
            if (retired && --retired->draining == 0) {
                sq_proxy_config_clear (retired->config);
                free (retired->config);
                retired->config = NULL;
            }
            changed = true;
            continue;
        }
        proxy->retired_of [kept] = retired;
        proxy->services [kept++] = service;
    }
    proxy->service_count = kept;
    if (changed)
        s_refs_update (proxy);
}

//  Binds everything and logs the real endpoints; false if anything failed
static bool
s_start (s_proxy_t *proxy, sq_proxy_config_t *config)
{
    proxy->files = s_raise_file_limit ();
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
    sq_info ("engine: %s", config->engine == SQ_ENGINE_SPLICE? "splice": "stream");
    sq_proxy_config_t *services [SQ_CONFIG_SERVICES_MAX];
    size_t count = sq_proxy_config_services (config, services);
    for (size_t index = 0; index < count; index++)
        if (!s_service_add (proxy, services [index], count))
            return false;
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
    sq_info ("listening: control %s", proxy->control_endpoint);
    if (config->metrics) {
        proxy->metrics = sq_metrics_new (config->metrics, error, sizeof error);
        if (!proxy->metrics) {
            sq_log_failure ("%s", error);
            return false;
        }
        s_refs_update (proxy);
        sq_info ("listening: metrics %s", sq_metrics_url (proxy->metrics));
    }
    if (!sq_service_endpoint_is_local (proxy->control_endpoint) && !proxy->auth)
        sq_warning ("the control socket is reachable from other hosts: anyone "
                    "who reaches %s can pause or stop the proxy", proxy->control_endpoint);
    proxy->loop = sq_loop_new ();
    if (!proxy->loop) {
        sq_log_failure ("cannot make the event loop: %s", strerror (errno));
        return false;
    }
    sq_loop_set_yield_below (proxy->loop, config->yield_below);
    return s_register (proxy);
}

static void
s_stop (s_proxy_t *proxy)
{
    s_wake_fd = -1;
    if (proxy->wake_fd >= 0)
        close (proxy->wake_fd);
    //  Before the cores: a request reads them
    if (proxy->metrics && proxy->loop)
        sq_loop_unwatch (proxy->loop, sq_metrics_fd (proxy->metrics));
    sq_metrics_destroy (&proxy->metrics);
    for (size_t index = 0; index < proxy->service_count; index++)
        sq_service_destroy (&proxy->services [index]);
    proxy->service_count = 0;
    for (size_t index = 0; index < SQ_SERVICES_MAX; index++)
        if (proxy->retired [index].config) {
            sq_proxy_config_clear (proxy->retired [index].config);
            free (proxy->retired [index].config);
        }
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

//  -------------------------------------------------------------------------
//  The control socket

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
    //  The command, after SERVICE <name> when the request names a service
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
    else
        sq_control_handle (proxy->refs, proxy->service_count, &request, &reply, now);
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

//  -------------------------------------------------------------------------
//  The loop

//  glibc keeps what a burst of connections freed in its arenas: after a
//  churn of thousands, tens of MiB stay resident with almost none in use.
//  When the connections have fallen to half their peak (at most every
//  S_TRIM_EVERY_MS), or to none, the proxy gives that memory back.
#define S_TRIM_EVERY_MS 10000

static void
s_trim_memory (s_proxy_t *proxy, int64_t now)
{
    size_t count = s_connections (proxy);
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

//  First hook of each turn: each core runs what is due (held bytes
//  offered again, timeouts, delayed closes)
static bool
s_tick_hook (sq_loop_t *loop, void *arg)
{
    s_proxy_t *proxy = arg;
    int64_t now = sq_loop_now (loop);
    for (size_t index = 0; index < proxy->service_count; index++)
        sq_service_tick (proxy->services [index], now);
    s_trim_memory (proxy, now);
    return false;
}

//  Last hook of each turn, once the engines have read what waited: the
//  timers of the cores and of the metrics server are set for the wait
static bool
s_arm_hook (sq_loop_t *loop, void *arg)
{
    s_proxy_t *proxy = arg;
    int64_t now = sq_clock_now ();
    for (size_t index = 0; index < proxy->service_count; index++)
        sq_service_arm (proxy->services [index], now);
    if (proxy->metrics)
        sq_loop_timer_set (loop, proxy->metrics_timer, sq_metrics_timeout (proxy->metrics));
    return false;
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

//  Everything the loop serves registers with it: the cores' hooks around
//  the engines', the control socket, the metrics server, the signals'
//  wake-up. False (with the reason on stderr) on failure.
static bool
s_register (s_proxy_t *proxy)
{
    sq_loop_t *loop = proxy->loop;
    bool done = sq_loop_hook_add (loop, s_tick_hook, proxy);
    for (size_t index = 0; done && index < proxy->service_count; index++)
        done = sq_service_register (proxy->services [index], loop);
    done = done && sq_loop_hook_add (loop, s_arm_hook, proxy)
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

//  -------------------------------------------------------------------------
//  SIGHUP

//  A slot for the configuration a reload replaces, when services it
//  describes are removed and drain; NULL when there is no room (the
//  services are then dropped at once)
static s_retired_t *
s_retire_slot (s_proxy_t *proxy)
{
    for (size_t index = 0; index < SQ_SERVICES_MAX; index++)
        if (!proxy->retired [index].config)
            return &proxy->retired [index];
    return NULL;
}

//  The running services the fresh configuration no longer declares are
//  removed: they drain. Returns how many, each pointing at retired.
static size_t
s_services_remove_missing (s_proxy_t *proxy, sq_proxy_config_t **fresh, size_t count,
                           s_retired_t *retired, int64_t now)
{
    size_t removed = 0;
    for (size_t index = 0; index < proxy->service_count; index++) {
        sq_service_t *service = proxy->services [index];
        bool kept = false;
        for (size_t other = 0; other < count && !kept; other++)
            kept = strcmp (sq_proxy_config_service_name (fresh [other]),
                           sq_service_name (service)) == 0;
        if (kept || sq_service_removed (service))
            continue;
        sq_service_remove (service, now);
        proxy->retired_of [index] = retired;
        removed++;
    }
    return removed;
}

//  Applies the fresh services: the running ones take their new options
//  (what needs a restart keeps its running value), new ones start, and
//  those no longer declared drain
static void
s_services_reload (s_proxy_t *proxy, sq_proxy_config_t *running, sq_proxy_config_t *fresh,
                   s_retired_t *retired)
{
    sq_proxy_config_t *old [SQ_CONFIG_SERVICES_MAX], *new [SQ_CONFIG_SERVICES_MAX];
    size_t old_count = sq_proxy_config_services (running, old);
    size_t count = sq_proxy_config_services (fresh, new);
    retired->draining = s_services_remove_missing (proxy, new, count, retired,
                                                   sq_clock_now ());
    for (size_t index = 0; index < count; index++) {
        const char *name = sq_proxy_config_service_name (new [index]);
        int at = s_service_find (proxy, name);
        if (at < 0) {
            if (s_service_add (proxy, new [index], count))
                sq_info ("service %s: added", name);
            continue;
        }
        for (size_t match = 0; match < old_count; match++)
            if (strcmp (sq_proxy_config_service_name (old [match]), name) == 0) {
                sq_options_restart_notes (old [match], new [index]);
                sq_options_keep_running (old [match], new [index]);
            }
        sq_service_reconfigure (proxy->services [at], new [index], proxy->files, count);
    }
    s_refs_update (proxy);
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
        for (size_t index = 0; index < proxy->service_count; index++)
            sq_service_reload_routes (proxy->services [index], config);
        return;
    }
    s_retired_t *retired = s_retire_slot (proxy);
    sq_proxy_config_t *fresh = retired? calloc (1, sizeof *fresh): NULL;
    if (!fresh) {
        sq_error ("reload: out of room; keeping the configuration in force");
        return;
    }
    sq_proxy_config_defaults (fresh);
    if (!config->reload (fresh)) {
        sq_error ("reload: the configuration is not valid; keeping the one in force");
        sq_proxy_config_clear (fresh);
        free (fresh);
        return;
    }
    sq_options_restart_notes (config, fresh);
    sq_log_set_level (fresh->log_level);
    sq_control_guard_set_cap (proxy->guard, (size_t) fresh->max_control_connections);
    s_services_reload (proxy, config, fresh, retired);
    //  Keep the running values of what needs a restart
    sq_options_keep_running (config, fresh);
    fresh->reload = config->reload;
    //  Those values may point into the file read at start: it stays until
    //  the proxy stops; a file read by a later reload goes with its config
    if (!proxy->start_file) {
        proxy->start_file = config->file;
        config->file = NULL;
    }
    //  The running configuration goes now, or once the services it
    //  describes that were removed have drained
    sq_proxy_config_t *replaced = malloc (sizeof *replaced);
    if (retired->draining && replaced) {
        *replaced = *config;
        retired->config = replaced;
    }
    else {
        free (replaced);
        sq_proxy_config_clear (config);
    }
    *config = *fresh;
    free (fresh);
    sq_info ("reload: configuration applied%s%s", config->config_path? " from ": "",
             config->config_path? config->config_path: "");
}

//  -------------------------------------------------------------------------
//  Running

//  Drains when asked (DRAIN ALL, SIGUSR1): true once the proxy may stop,
//  its pairs done or their time up
static bool
s_drained (s_proxy_t *proxy, const sq_proxy_config_t *config, int64_t now)
{
    bool draining = false;
    for (size_t index = 0; index < proxy->service_count; index++) {
        sq_core_t *core = sq_service_core (proxy->services [index]);
        if (s_drain_requested)
            sq_core_drain_all (core, now);
        draining |= sq_core_draining_all (core) && !sq_service_removed (proxy->services [index]);
    }
    s_drain_requested = 0;
    if (!draining)
        return false;
    if (!proxy->drain_deadline_ms) {
        proxy->drain_deadline_ms = now + config->drain_timeout_ms;
        sq_notify_stopping (proxy->notify, "draining: no new connections, the pairs finish");
    }
    if (s_connections (proxy) == 0) {
        sq_info ("drained: every pair has finished");
        return true;
    }
    if (now >= proxy->drain_deadline_ms) {
        sq_warning ("drain timeout: closing %zu pairs still open", s_active_pairs (proxy));
        return true;
    }
    return false;
}

//  True once a TERMINATE came
static bool
s_terminating (s_proxy_t *proxy)
{
    for (size_t index = 0; index < proxy->service_count; index++)
        if (sq_core_terminating (sq_service_core (proxy->services [index])))
            return true;
    return false;
}

//  What systemctl status shows of a ready proxy
static void
s_notify_ready (s_proxy_t *proxy)
{
    char status [600];
    if (proxy->service_count == 1)
        snprintf (status, sizeof status, "ready: frontend %s, backend %s",
                  sq_service_endpoint (proxy->services [0], SQ_FRONTEND),
                  sq_service_endpoint (proxy->services [0], SQ_BACKEND));
    else
        snprintf (status, sizeof status, "ready: %zu services", proxy->service_count);
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

//  Closes every connection, then gives the last bytes a moment to go
static void
s_close_all (s_proxy_t *proxy, int64_t linger_ms)
{
    size_t frontend = 0, backend = 0;
    for (size_t index = 0; index < proxy->service_count; index++) {
        sq_conn_table_t *conns = sq_core_conns (sq_service_core (proxy->services [index]));
        frontend += sq_conn_table_count (conns, SQ_FRONTEND);
        backend += sq_conn_table_count (conns, SQ_BACKEND);
    }
    sq_info ("stopping: closing %zu frontend and %zu backend connections", frontend, backend);
    for (size_t index = 0; index < proxy->service_count; index++)
        sq_core_close_all (sq_service_core (proxy->services [index]), sq_clock_now ());
    int64_t deadline = sq_clock_now () + linger_ms;
    while (sq_clock_now () < deadline) {
        bool lingering = false;
        for (size_t index = 0; index < proxy->service_count; index++)
            lingering |= sq_service_linger (proxy->services [index], (int) linger_ms);
        if (!lingering)
            break;
        sq_loop_once (proxy->loop, deadline - sq_clock_now ());
    }
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
    while (!s_stop_requested && !s_terminating (&proxy)
    &&     !s_drained (&proxy, config, sq_clock_now ())) {
        sq_loop_once (proxy.loop, S_POLL_MAX_MS);
        s_services_reap (&proxy);
        if (s_reload_requested) {
            s_reload_requested = 0;
            s_notify_reload (&proxy, config);
        }
    }
    sq_notify_stopping (proxy.notify, "stopping");
    s_close_all (&proxy, config->core.close_linger_ms);
    s_stop (&proxy);
    sq_config_destroy (&proxy.start_file);
    sq_info ("stopped");
    return 0;
}
