/*  =========================================================================
    sq_metrics - the HTTP server of --metrics (libmicrohttpd)

    Serves sq_prometheus_text at http://HOST:PORT/PATH: GET and HEAD on
    PATH answer 200 with the Prometheus text format. At the same HOST:PORT,
    whatever PATH is (unless it is one of them), /healthz answers 200 "ok"
    while the proxy runs, and /readyz 200 while a client arriving now
    would be paired at once (an idle worker connection, not paused, not
    draining), else 503 with the reason ("not ready: no idle worker").
    Any other path 404, any other method 405.

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

typedef struct sq_metrics sq_metrics_t;

//  The paths of liveness and readiness, beside the metrics
#define SQ_METRICS_HEALTH_PATH "/healthz"
#define SQ_METRICS_READY_PATH  "/readyz"

//  Binds url (http://HOST:PORT/PATH, checked by sq_prometheus_url_parse)
//  and serves the core's metrics; NULL with the reason in error
sq_metrics_t *sq_metrics_new (const char *url, sq_core_t *core, char *error, size_t size);

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
