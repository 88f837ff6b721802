/*  =========================================================================
    sq_metrics - the HTTP server of --metrics (libmicrohttpd)

    Why no thread: the core is not thread-safe, and a server thread would
    need a lock around every core call of the loop, or a snapshot of the
    text that the loop refreshes whether anyone scrapes or not. With
    MHD_USE_EPOLL and no internal thread, libmicrohttpd does its work only
    inside MHD_run, which the loop calls, so a request renders the core as
    it is at that moment. A scrape costs the loop one pass over the
    connections; the sockets are non-blocking, so a slow HTTP client costs
    it nothing.
    =========================================================================
*/
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <zmq.h>
#include "sq_metrics.h"
#include "sq_prometheus.h"
#include "sq_clock.h"
#include "sq_log.h"

//  HTTP connections at once, and how long an idle one is kept (seconds)
#define S_CONNECTIONS_MAX 32
#define S_CONNECTION_TIMEOUT_S 10

struct sq_metrics {
    struct MHD_Daemon *daemon;
    sq_service_ref_t services [SQ_SERVICES_MAX];
    size_t count;
    sq_prometheus_url_t parsed;
    char url [400];             //  With the port bound
    char libzmq [32];           //  "4.3.4", for streamq_build_info
    char last_error [256];      //  libmicrohttpd's last message
};

//  libmicrohttpd's messages: kept for a failed start, logged at debug
static void
s_log (void *argument, const char *format, va_list args)
{
    sq_metrics_t *self = argument;
    vsnprintf (self->last_error, sizeof self->last_error, format, args);
    self->last_error [strcspn (self->last_error, "\r\n")] = 0;
    sq_debug ("metrics: %s", self->last_error);
}

//  Queues a response with a fixed body
static enum MHD_Result
s_answer_static (struct MHD_Connection *connection, unsigned int status, const char *body)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), (void *) body, MHD_RESPMEM_PERSISTENT);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

static enum MHD_Result
s_answer_metrics (sq_metrics_t *self, struct MHD_Connection *connection)
{
    char *text = sq_prometheus_text (self->services, self->count, self->libzmq,
                                     sq_clock_now ());
    if (!text)
        return s_answer_static (connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    //  libmicrohttpd frees the text with free () once it is sent
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (text), text, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (text);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                             SQ_PROMETHEUS_CONTENT_TYPE);
    enum MHD_Result result = MHD_queue_response (connection, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return result;
}

//  Queues a plain text response with a body of its own
static enum MHD_Result
s_answer_text (struct MHD_Connection *connection, unsigned int status, const char *body)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

//  /readyz and /readyz/NAME, as sq_prometheus_ready answers them
static enum MHD_Result
s_answer_ready (sq_metrics_t *self, struct MHD_Connection *connection, const char *url)
{
    const char *name = url + strlen (SQ_METRICS_READY_PATH);
    char body [160];
    int status = sq_prometheus_ready (self->services, self->count, *name? name + 1: NULL,
                                      body, sizeof body);
    return s_answer_text (connection, (unsigned int) status, body);
}

//  Every request: answered at once, as none of them needs a body. The
//  metrics path first, then /healthz and /readyz, whatever that path is.
static enum MHD_Result
s_request (void *argument, struct MHD_Connection *connection, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **request_state)
{
    (void) version;
    (void) upload_data;
    (void) upload_data_size;
    (void) request_state;
    sq_metrics_t *self = argument;
    bool metrics = strcmp (url, self->parsed.path) == 0;
    bool health = !metrics && strcmp (url, SQ_METRICS_HEALTH_PATH) == 0;
    size_t ready_length = strlen (SQ_METRICS_READY_PATH);
    bool ready = !metrics && strncmp (url, SQ_METRICS_READY_PATH, ready_length) == 0
              && (url [ready_length] == 0
                  || (url [ready_length] == '/' && url [ready_length + 1]));
    if (!metrics && !health && !ready)
        return s_answer_static (connection, MHD_HTTP_NOT_FOUND, "not found\n");
    if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 && strcmp (method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_answer_static (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                                "method not allowed\n");
    if (health)
        return s_answer_static (connection, MHD_HTTP_OK, "ok\n");
    if (ready)
        return s_answer_ready (self, connection, url);
    return s_answer_metrics (self, connection);
}

//  Starts libmicrohttpd on the parsed address; false with the reason
static bool
s_start (sq_metrics_t *self, const char *url, char *error, size_t size)
{
    struct sockaddr_storage address;
    memset (&address, 0, sizeof address);
    struct sockaddr_in *ipv4 = (struct sockaddr_in *) &address;
    struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *) &address;
    if (self->parsed.ipv6) {
        ipv6->sin6_family = AF_INET6;
        ipv6->sin6_port = htons ((uint16_t) self->parsed.port);
        inet_pton (AF_INET6, self->parsed.host, &ipv6->sin6_addr);
    }
    else {
        ipv4->sin_family = AF_INET;
        ipv4->sin_port = htons ((uint16_t) self->parsed.port);
        inet_pton (AF_INET, self->parsed.host, &ipv4->sin_addr);
    }
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG
                       | (self->parsed.ipv6? MHD_USE_IPv6: 0);
    self->daemon = MHD_start_daemon (flags, (uint16_t) self->parsed.port, NULL, NULL,
        s_request, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) S_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) S_CONNECTION_TIMEOUT_S,
        MHD_OPTION_EXTERNAL_LOGGER, s_log, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (error, size, "cannot serve metrics at %s: %s", url,
                  *self->last_error? self->last_error: "libmicrohttpd failed to start");
        return false;
    }
    return true;
}

sq_metrics_t *
sq_metrics_new (const char *url, char *error, size_t size)
{
    sq_metrics_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, size, "out of memory");
        return NULL;
    }
    char reason [256];
    if (!sq_prometheus_url_parse (url, &self->parsed, reason, sizeof reason)) {
        snprintf (error, size, "--metrics %s: %s", url, reason);
        sq_metrics_destroy (&self);
        return NULL;
    }
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    snprintf (self->libzmq, sizeof self->libzmq, "%d.%d.%d", major, minor, patch);
    if (!s_start (self, url, error, size)) {
        sq_metrics_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    int port = info && info->port? info->port: self->parsed.port;
    snprintf (self->url, sizeof self->url, "http://%s%s%s:%d%s",
              self->parsed.ipv6? "[": "", self->parsed.host, self->parsed.ipv6? "]": "",
              port, self->parsed.path);
    return self;
}

void
sq_metrics_set_services (sq_metrics_t *self, const sq_service_ref_t *services, size_t count)
{
    self->count = count < SQ_SERVICES_MAX? count: SQ_SERVICES_MAX;
    memcpy (self->services, services, self->count * sizeof (sq_service_ref_t));
}

void
sq_metrics_destroy (sq_metrics_t **self_p)
{
    sq_metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}

const char *
sq_metrics_url (sq_metrics_t *self)
{
    return self->url;
}

int
sq_metrics_fd (sq_metrics_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_EPOLL_FD);
    return info? info->epoll_fd: -1;
}

int64_t
sq_metrics_timeout (sq_metrics_t *self)
{
    MHD_UNSIGNED_LONG_LONG timeout;
    if (MHD_get_timeout (self->daemon, &timeout) != MHD_YES)
        return -1;
    return timeout > INT64_MAX? INT64_MAX: (int64_t) timeout;
}

void
sq_metrics_run (sq_metrics_t *self)
{
    MHD_run (self->daemon);
}
