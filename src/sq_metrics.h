/*  =========================================================================
    sq_metrics - the HTTP server of --metrics (libmicrohttpd)

    Serves sq_prometheus_text at http://HOST:PORT/PATH: GET and HEAD on
    PATH answer 200 with the Prometheus text format, a sample a service.
    At the same HOST:PORT, whatever PATH is (unless it is one of them),
    /healthz answers 200 "ok" while the proxy runs, and /readyz 200 while
    a client arriving now at any service would be paired at once (each
    service that is not being removed has an idle worker connection, is
    not paused, not draining), else 503 with the reason of the first that
    is not ("not ready: no idle worker"; with several services, "not
    ready: service billing: no idle worker"). /readyz/NAME answers the
    same for service NAME alone, 404 when there is none. Any other path
    404, any other method 405.

    It runs in the proxy's own thread: libmicrohttpd has no thread of its
    own here, and hands the loop one epoll descriptor (sq_metrics_fd) to
    poll beside its sockets, and a deadline (sq_metrics_timeout). The loop
    calls sq_metrics_run after every wake-up and regularly under load, and
    a request reads the core directly, with no lock and no copy.
    =========================================================================
*/
#ifndef SQ_METRICS_H_INCLUDED
#define SQ_METRICS_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include "sq_core.h"
#include "sq_service_ref.h"

typedef struct sq_metrics sq_metrics_t;

//  The paths of liveness and readiness, beside the metrics
#define SQ_METRICS_HEALTH_PATH "/healthz"
#define SQ_METRICS_READY_PATH  "/readyz"

//  Binds url (http://HOST:PORT/PATH, checked by sq_prometheus_url_parse)
//  and serves the metrics of the services set next; NULL with the reason
//  in error
sq_metrics_t *sq_metrics_new (const char *url, char *error, size_t size);

//  The services to serve, in order (up to SQ_SERVICES_MAX): the array is
//  copied, the names and cores must live until the next call, which the
//  proxy makes whenever its services change. Until the first, the metrics
//  are empty and /readyz answers 503.
void sq_metrics_set_services (sq_metrics_t *self, const sq_service_ref_t *services,
                              size_t count);

//  Closes the server and every HTTP connection
void sq_metrics_destroy (sq_metrics_t **self_p);

//  The URL served, with the port bound: "http://127.0.0.1:9100/metrics"
const char *sq_metrics_url (sq_metrics_t *self);

//  The descriptor to poll for reading: when it is readable, or when
//  sq_metrics_timeout has passed, the server has work
int sq_metrics_fd (sq_metrics_t *self);

//  Milliseconds until sq_metrics_run must run even if nothing arrives,
//  or -1 when nothing is due
int64_t sq_metrics_timeout (sq_metrics_t *self);

//  Does what is ready: accepts, reads requests, answers; never blocks
void sq_metrics_run (sq_metrics_t *self);

#endif
