/*  =========================================================================
    sq_prometheus - the services' counters in the Prometheus text format,
    and the --metrics URL

    sq_prometheus_text renders what STATS reports, plus connections by
    side and state and two histograms, as the Prometheus text exposition
    format, version 0.0.4. Every sample has a service label, the name of
    its service ("default" for a proxy that declares none); each family
    is written once, with the samples of every service in their order.
    It reads the cores and does no I/O, so it is tested without HTTP;
    sq_metrics serves it.
    =========================================================================
*/
#ifndef SQ_PROMETHEUS_H_INCLUDED
#define SQ_PROMETHEUS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_core.h"
#include "sq_service_ref.h"

//  The Content-Type of the text
#define SQ_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

//  Every metric's name starts with this
#define SQ_PROMETHEUS_PREFIX "streamq_"

//  The text of the services, NUL-terminated, for the caller to free (empty
//  with no service); NULL when out of memory. libzmq_version ("4.3.4")
//  goes into streamq_build_info.
char *sq_prometheus_text (const sq_service_ref_t *services, size_t count,
                          const char *libzmq_version, int64_t now);

//  The answer to /readyz (name NULL) or /readyz/<name>: the HTTP status,
//  and the body, a line, in body. /readyz is 200 ("ok: 3 idle worker
//  connections") while a client arriving now at any service would be
//  paired at once: each service that is not being removed has an idle
//  worker connection, is not paused, not draining; else 503 with the
//  reason of the first that is not ("not ready: no idle worker"; with
//  several services, "not ready: service billing: no idle worker").
//  /readyz/<name> is the same for that service alone ("not ready:
//  removing" once removed), 404 when there is none.
int sq_prometheus_ready (const sq_service_ref_t *services, size_t count, const char *name,
                         char *body, size_t size);

//  A --metrics URL, http://HOST:PORT/PATH, taken apart
typedef struct {
    char host [64];             //  An IP address, IPv6 without its brackets
    bool ipv6;
    int port;                   //  0: any free port
    char path [256];            //  Starts with '/'
} sq_prometheus_url_t;

//  Parses url; false with the reason in error. HOST is an IPv4 address,
//  an IPv6 address in brackets, or localhost (127.0.0.1); PORT 0 to 65535;
//  PATH printable, without '?' or '#'.
bool sq_prometheus_url_parse (const char *url, sq_prometheus_url_t *parsed,
                              char *error, size_t size);

#endif
