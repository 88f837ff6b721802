/*  =========================================================================
    sq_prometheus - the services' counters in the Prometheus text format

    Each metric family is written whole: its # HELP and # TYPE lines, then
    its samples, as the format asks. Each service's families are rendered
    apart, every sample with its service label, noting where each family
    starts; the text is then each family of the first service followed by
    the samples of that family of the others. Counters come from
    sq_core_stats, gauges from the core's tables. Connections by state are counted with
    one pass over the connections, at each scrape (not at each event), so
    a scrape costs O(connections) and the events nothing.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdarg.h>
#include <string.h>
#include <arpa/inet.h>
#include "sq_prometheus.h"
#include "sq_identity.h"
#include "sq_bans.h"
#include "sq_version.h"

//  -------------------------------------------------------------------------
//  A growing text

//  More families than the text has
#define S_FAMILIES_MAX 64

typedef struct {
    char *data;
    size_t size;
    size_t capacity;
    bool failed;                //  Out of memory: the text is lost
    const char *service;        //  The service label of every sample
    size_t family [S_FAMILIES_MAX];     //  Where each family starts
    size_t families;
} s_text_t;

static void
s_printf (s_text_t *text, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_printf (s_text_t *text, const char *format, ...)
{
    while (!text->failed) {
        size_t room = text->capacity - text->size;
        va_list args;
        va_start (args, format);
        int length = text->data? vsnprintf (text->data + text->size, room, format, args): -1;
        va_end (args);
        if (length >= 0 && (size_t) length < room) {
            text->size += (size_t) length;
            return;
        }
        size_t wanted = text->capacity? text->capacity * 2: 16384;
        while (length >= 0 && wanted < text->size + (size_t) length + 1)
            wanted *= 2;
        char *bigger = realloc (text->data, wanted);
        if (!bigger)
            text->failed = true;
        else {
            text->data = bigger;
            text->capacity = wanted;
        }
    }
}

//  A label value, escaped as the format asks: backslash, quote, newline
static void
s_label_value (s_text_t *text, const char *value)
{
    for (; *value; value++)
        if (*value == '\\' || *value == '"')
            s_printf (text, "\\%c", *value);
        else
        if (*value == '\n')
            s_printf (text, "\\n");
        else
            s_printf (text, "%c", *value);
}

//  -------------------------------------------------------------------------
//  Families and samples

static void
s_family (s_text_t *text, const char *name, const char *type, const char *help)
{
    if (text->families < S_FAMILIES_MAX)
        text->family [text->families++] = text->size;
    else
        text->failed = true;
    s_printf (text, "# HELP " SQ_PROMETHEUS_PREFIX "%s %s\n", name, help);
    s_printf (text, "# TYPE " SQ_PROMETHEUS_PREFIX "%s %s\n", name, type);
}

//  The start of a sample: its name and its service label. Other labels
//  follow as ,name="value"; "} " and the value end it.
static void
s_series (s_text_t *text, const char *name, const char *suffix)
{
    s_printf (text, SQ_PROMETHEUS_PREFIX "%s%s{service=\"", name, suffix);
    s_label_value (text, text->service);
    s_printf (text, "\"");
}

//  One sample with the service label only, or one more label
static void
s_sample (s_text_t *text, const char *name, const char *label, const char *value,
          uint64_t number)
{
    s_series (text, name, "");
    if (label) {
        s_printf (text, ",%s=\"", label);
        s_label_value (text, value);
        s_printf (text, "\"");
    }
    s_printf (text, "} %llu\n", (unsigned long long) number);
}

//  A family of one sample with the service label only
static void
s_single (s_text_t *text, const char *name, const char *type, const char *help,
          uint64_t number)
{
    s_family (text, name, type, help);
    s_sample (text, name, NULL, NULL, number);
}

//  A family with one sample per side
static void
s_per_side (s_text_t *text, const char *name, const char *type, const char *help,
            const uint64_t *numbers)
{
    s_family (text, name, type, help);
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        s_sample (text, name, "side", sq_side_name ((sq_side_t) side), numbers [side]);
}

//  Seconds from milliseconds, exactly: "1.234"
static void
s_seconds (s_text_t *text, uint64_t ms)
{
    s_printf (text, "%llu.%03llu", (unsigned long long) (ms / 1000),
              (unsigned long long) (ms % 1000));
}

static void
s_histogram (s_text_t *text, const char *name, const char *help,
             const sq_histogram_t *histogram)
{
    s_family (text, name, "histogram", help);
    for (size_t index = 0; index <= SQ_HISTOGRAM_BOUNDS; index++) {
        s_series (text, name, "_bucket");
        s_printf (text, ",le=\"");
        if (index < SQ_HISTOGRAM_BOUNDS)
            s_printf (text, "%g", (double) sq_histogram_bound_ms (index) / 1000.0);
        else
            s_printf (text, "+Inf");
        s_printf (text, "\"} %llu\n",
                  (unsigned long long) sq_histogram_cumulative (histogram, index));
    }
    s_series (text, name, "_sum");
    s_printf (text, "} ");
    s_seconds (text, histogram->sum_ms);
    s_printf (text, "\n");
    s_series (text, name, "_count");
    s_printf (text, "} %llu\n", (unsigned long long) histogram->count);
}

//  -------------------------------------------------------------------------
//  The proxy

//  The states a live connection can be in, as LIST names them
#define S_STATES (SQ_CONN_CLOSING + 1)

static void
s_connections (s_text_t *text, sq_core_t *core)
{
    uint64_t count [2][S_STATES] = { { 0 } };
    sq_list_t *all = sq_conn_table_all (sq_core_conns (core));
    for (sq_list_node_t *node = all->next; node != all; node = node->next) {
        const sq_conn_t *conn = sq_list_entry (node, sq_conn_t, all_node);
        if (conn->state < S_STATES)
            count [conn->side][conn->state]++;
    }
    s_family (text, "connections", "gauge",
              "Open connections, by side and state");
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        for (int state = 0; state < S_STATES; state++) {
            s_series (text, "connections", "");
            s_printf (text, ",side=\"%s\",state=\"%s\"} %llu\n",
                      sq_side_name ((sq_side_t) side),
                      sq_conn_state_name ((sq_conn_state_t) state),
                      (unsigned long long) count [side][state]);
        }
}

//  Bytes and chunks, each way
static void
s_traffic (s_text_t *text, const sq_core_stats_t *stats)
{
    s_family (text, "bytes_total", "counter",
              "Bytes the proxy sent to each side, its own greeting bytes included");
    s_sample (text, "bytes_total", "direction", "to_backend", stats->bytes_to [SQ_BACKEND]);
    s_sample (text, "bytes_total", "direction", "to_frontend", stats->bytes_to [SQ_FRONTEND]);
    s_family (text, "chunks_total", "counter",
              "Pieces of TCP stream the proxy sent to each side: ZMQ_STREAM chunks, "
              "or what a splice relay delivered in one turn (not ZMTP messages, "
              "which it does not parse)");
    s_sample (text, "chunks_total", "direction", "to_backend", stats->chunks_to [SQ_BACKEND]);
    s_sample (text, "chunks_total", "direction", "to_frontend", stats->chunks_to [SQ_FRONTEND]);
}

//  Closed, rejected, refused, failed
static void
s_endings (s_text_t *text, const sq_core_stats_t *stats)
{
    s_family (text, "closed_total", "counter",
              "Connections closed, each once, by reason");
    for (int code = 0; code < SQ_CLOSED_COUNT; code++)
        s_sample (text, "closed_total", "reason", sq_closed_name ((sq_closed_t) code),
                  stats->closed [code]);
    s_single (text, "closed_early_overflow_total", "counter",
              "Connections closed for sending more than 64 KiB before pairing",
              stats->closed_early_overflow);
    s_single (text, "closed_unflushed_total", "counter",
              "Connections closed with bytes still undelivered",
              stats->closed_unflushed);
    s_family (text, "rejected_total", "counter",
              "Peers rejected after they connected, by reason");
    s_sample (text, "rejected_total", "reason", "greeting", stats->rejected_greeting);
    s_sample (text, "rejected_total", "reason", "queue_full", stats->rejected_queue_full);
    s_sample (text, "rejected_total", "reason", "queue_timeout", stats->rejected_queue_timeout);
    s_sample (text, "rejected_total", "reason", "mechanism",
              stats->rejected_mechanism [SQ_FRONTEND] + stats->rejected_mechanism [SQ_BACKEND]);
    s_family (text, "refused_total", "counter",
              "Connections closed on arrival, by side and reason");
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        for (int refusal = SQ_REFUSED_DENIED; refusal < SQ_REFUSED_COUNT; refusal++) {
            s_series (text, "refused_total", "");
            s_printf (text, ",side=\"%s\",reason=\"%s\"} %llu\n",
                      sq_side_name ((sq_side_t) side),
                      sq_refusal_name ((sq_refusal_t) refusal),
                      (unsigned long long) stats->refused [side][refusal]);
        }
    s_per_side (text, "accept_failed_total", "counter",
                "Connections the proxy could not accept (out of file descriptors)",
                stats->accept_failed);
    s_per_side (text, "reading_stops_total", "counter",
                "Times reading a side stopped for held bytes (--slow-peer=block)",
                stats->reading_stops);
}

//  -------------------------------------------------------------------------
//  Workers, sorted by name so that scrapes are stable

typedef struct {
    const sq_worker_t **items;
    size_t count;
    size_t capacity;
} s_workers_t;

static void
s_collect (sq_worker_t *worker, void *argument)
{
    s_workers_t *workers = argument;
    if (workers->count < workers->capacity)
        workers->items [workers->count++] = worker;
}

static int
s_by_name (const void *a, const void *b)
{
    return strcmp ((*(const sq_worker_t * const *) a)->name,
                   (*(const sq_worker_t * const *) b)->name);
}

static void
s_worker_family (s_text_t *text, const s_workers_t *workers, const char *name,
                 const char *help, size_t offset)
{
    s_family (text, name, "gauge", help);
    for (size_t index = 0; index < workers->count; index++) {
        const sq_worker_t *worker = workers->items [index];
        s_sample (text, name, "worker", worker->name,
                  *(const size_t *) ((const char *) worker + offset));
    }
}

static void
s_workers (s_text_t *text, sq_core_t *core)
{
    sq_balancer_t *balancer = sq_core_balancer (core);
    s_workers_t workers = { NULL, 0, sq_balancer_record_count (balancer) };
    workers.items = calloc (workers.capacity + 1, sizeof (sq_worker_t *));
    if (!workers.items) {
        text->failed = true;
        return;
    }
    sq_balancer_each_worker (balancer, s_collect, &workers);
    qsort (workers.items, workers.count, sizeof (sq_worker_t *), s_by_name);
    size_t draining = 0;
    for (size_t index = 0; index < workers.count; index++)
        draining += workers.items [index]->draining;
    s_single (text, "workers_known", "gauge", "Distinct workers connected",
              sq_balancer_worker_count (balancer));
    s_single (text, "workers_draining", "gauge", "Workers told to drain", draining);
    s_single (text, "workers_idle_slots", "gauge",
              "Worker connections waiting for a client", sq_balancer_idle_count (balancer));
    s_worker_family (text, &workers, "worker_active_pairs", "Active pairs of each worker",
                     offsetof (sq_worker_t, active_pairs));
    s_worker_family (text, &workers, "worker_idle_slots",
                     "Connections of each worker waiting for a client",
                     offsetof (sq_worker_t, idle_slots));
    s_worker_family (text, &workers, "worker_connections", "Connections of each worker",
                     offsetof (sq_worker_t, connections));
    free (workers.items);
}

//  Handshakes: how they ended, those under way, the slots they cost, bans
static void
s_handshakes (s_text_t *text, sq_core_t *core, int64_t now)
{
    const sq_core_stats_t *stats = sq_core_stats (core);
    s_single (text, "handshakes_completed_total", "counter",
              "ZMTP handshakes followed to their end (both sides ready)",
              stats->handshakes_completed);
    s_family (text, "handshakes_failed_total", "counter",
              "ZMTP handshakes that failed, by reason");
    for (int failure = 0; failure < SQ_HS_FAILED_COUNT; failure++)
        s_sample (text, "handshakes_failed_total", "reason",
                  sq_hs_failure_name ((sq_hs_failure_t) failure),
                  stats->handshakes_failed [failure]);
    s_family (text, "handshakes_in_progress", "gauge",
              "Clients being screened, and pairs whose handshake is followed");
    s_sample (text, "handshakes_in_progress", "stage", "screening", sq_core_screening (core));
    s_sample (text, "handshakes_in_progress", "stage", "following", sq_core_following (core));
    s_single (text, "workers_slots_lost_total", "counter",
              "Worker connections their worker closed during a handshake (a libzmq "
              "worker that does not redial has lost them)", stats->slots_lost);
    s_single (text, "bans_active", "gauge",
              "Clients refused for now after failed handshakes",
              sq_bans_active (sq_core_bans (core), now));
    s_histogram (text, "handshake_duration_seconds",
                 "From a client given a worker's greeting to both sides ready",
                 &stats->handshake_time);
}

//  The engine that moves the service's bytes, and its pipes
static void
s_engine (s_text_t *text, sq_core_t *core)
{
    sq_engine_figures_t engine;
    sq_core_engine_figures (core, &engine);
    s_family (text, "engine_info", "gauge",
              "Always 1: the engine that moves the service's bytes (--engine)");
    s_sample (text, "engine_info", "engine", engine.name, 1);
    s_family (text, "engine_pipes", "gauge",
              "Pipes of the splice engine: lent to relays now, or kept idle");
    s_sample (text, "engine_pipes", "state", "lent", engine.pipes_lent);
    s_sample (text, "engine_pipes", "state", "idle", engine.pipes_idle);
    s_single (text, "engine_pipe_refusals_total", "counter",
              "Times a relay asked for a pipe, had none, and copied instead",
              engine.pipe_refusals);
}

//  Every family of one service, into text
static void
s_service_text (s_text_t *text, sq_core_t *core, const char *libzmq_version, int64_t now)
{
    const sq_core_stats_t *stats = sq_core_stats (core);
    s_family (text, "build_info", "gauge", "Always 1: the proxy's version and libzmq's");
    s_series (text, "build_info", "");
    s_printf (text, ",version=\"");
    s_label_value (text, SQ_VERSION);
    s_printf (text, "\",libzmq=\"");
    s_label_value (text, libzmq_version? libzmq_version: "");
    s_printf (text, "\"} 1\n");
    s_family (text, "uptime_seconds", "gauge", "Seconds since the service started");
    s_series (text, "uptime_seconds", "");
    s_printf (text, "} ");
    int64_t uptime = now - sq_core_started (core);
    s_seconds (text, uptime > 0? (uint64_t) uptime: 0);
    s_printf (text, "\n");
    s_connections (text, core);
    s_per_side (text, "connections_accepted_total", "counter",
                "Connections accepted, by side", stats->accepted);
    s_single (text, "pairs_active", "gauge", "Client-worker pairs now",
              sq_core_active_pairs (core));
    s_single (text, "pairs_total", "counter", "Client-worker pairs made", stats->pairs_total);
    s_traffic (text, stats);
    s_endings (text, stats);
    s_single (text, "queue_length", "gauge", "Clients waiting for a worker",
              sq_balancer_queued_count (sq_core_balancer (core)));
    s_single (text, "held_bytes", "gauge",
              "Bytes held for peers that could not take them yet", sq_core_held (core));
    s_workers (text, core);
    s_single (text, "heartbeats_watched", "gauge", "Names watched for heartbeats",
              sq_core_heartbeat_count (core));
    s_single (text, "registrations_pending", "gauge",
              "IDENTIFY registrations waiting for their connection",
              sq_identity_pending (sq_core_identity (core)));
    s_single (text, "paused", "gauge", "1 while PAUSE stops reading peers",
              sq_core_paused (core));
    s_single (text, "draining", "gauge", "1 once DRAIN ALL or SIGUSR1 drains the proxy",
              sq_core_draining_all (core));
    s_engine (text, core);
    s_histogram (text, "pairing_wait_seconds",
                 "From a client's greeting done to its pairing with a worker",
                 &stats->pairing_wait);
    s_histogram (text, "pair_duration_seconds",
                 "From a pairing to the end of that pair", &stats->pair_duration);
    s_handshakes (text, core, now);
}

//  Appends family index of part to text, without its # HELP and # TYPE
//  lines unless head
static void
s_append_family (s_text_t *text, const s_text_t *part, size_t index, bool head)
{
    const char *start = part->data + part->family [index];
    const char *end = part->data + (index + 1 < part->families? part->family [index + 1]
                                                              : part->size);
    for (int line = 0; !head && line < 2; line++)
        start = strchr (start, '\n') + 1;
    s_printf (text, "%.*s", (int) (end - start), start);
}

char *
sq_prometheus_text (const sq_service_ref_t *services, size_t count,
                    const char *libzmq_version, int64_t now)
{
    s_text_t text = { .data = NULL };
    s_printf (&text, "%s", "");
    s_text_t *parts = calloc (count + 1, sizeof (s_text_t));
    text.failed |= parts == NULL;
    for (size_t at = 0; parts && at < count; at++) {
        parts [at].service = services [at].name;
        s_service_text (&parts [at], services [at].core, libzmq_version, now);
        text.failed |= parts [at].failed;
    }
    for (size_t index = 0; !text.failed && count && index < parts [0].families; index++)
        for (size_t at = 0; at < count; at++)
            s_append_family (&text, &parts [at], index, at == 0);
    for (size_t at = 0; parts && at < count; at++)
        free (parts [at].data);
    free (parts);
    if (text.failed) {
        free (text.data);
        return NULL;
    }
    return text.data;
}

//  -------------------------------------------------------------------------
//  Readiness

//  Why a service would not pair a client arriving now, or NULL when it
//  would: it has an idle worker connection, is not paused, not draining
static const char *
s_not_ready (const sq_service_ref_t *service)
{
    if (service->removed)
        return "removing";
    if (sq_core_draining_all (service->core))
        return "draining";
    if (sq_core_paused (service->core))
        return "paused";
    if (sq_balancer_idle_count (sq_core_balancer (service->core)) == 0)
        return "no idle worker";
    return NULL;
}

//  200 and the idle worker connections of the services, or 503 and why
//  the first that is not ready is not (named when asked)
static int
s_ready_of (const sq_service_ref_t *services, size_t count, bool named,
            char *body, size_t size)
{
    size_t idle = 0, ready = 0;
    for (size_t at = 0; at < count; at++) {
        if (services [at].removed && named)
            continue;               //  Draining away: not asked about
        const char *reason = s_not_ready (&services [at]);
        if (reason && named)
            snprintf (body, size, "not ready: service %s: %s\n", services [at].name, reason);
        else
        if (reason)
            snprintf (body, size, "not ready: %s\n", reason);
        if (reason)
            return 503;
        idle += sq_balancer_idle_count (sq_core_balancer (services [at].core));
        ready++;
    }
    if (ready == 0) {
        snprintf (body, size, "not ready: no service\n");
        return 503;
    }
    snprintf (body, size, "ok: %zu idle worker connection%s\n", idle, idle == 1? "": "s");
    return 200;
}

int
sq_prometheus_ready (const sq_service_ref_t *services, size_t count, const char *name,
                     char *body, size_t size)
{
    if (name) {
        for (size_t at = 0; at < count; at++)
            if (strcmp (services [at].name, name) == 0)
                return s_ready_of (&services [at], 1, false, body, size);
        snprintf (body, size, "no such service\n");
        return 404;
    }
    size_t live = 0;
    for (size_t at = 0; at < count; at++)
        live += !services [at].removed;
    if (live == 1)
        for (size_t at = 0; at < count; at++)
            if (!services [at].removed)
                return s_ready_of (&services [at], 1, false, body, size);
    return s_ready_of (services, count, true, body, size);
}

//  -------------------------------------------------------------------------
//  The URL: http://HOST:PORT/PATH

static bool
s_url_error (char *error, size_t size, const char *reason)
{
    snprintf (error, size, "%s", reason);
    return false;
}

//  The host up to the port's colon; cursor moves past it
static bool
s_url_host (const char **cursor, sq_prometheus_url_t *parsed, char *error, size_t size)
{
    const char *start = *cursor;
    const char *end;
    if (*start == '[') {
        start++;
        end = strchr (start, ']');
        if (!end)
            return s_url_error (error, size, "its IPv6 address has no closing ']'");
        *cursor = end + 1;
        parsed->ipv6 = true;
    }
    else {
        end = start + strcspn (start, ":/");
        *cursor = end;
    }
    size_t length = (size_t) (end - start);
    if (length == 0 || length >= sizeof parsed->host)
        return s_url_error (error, size, "it has no host, or one too long");
    memcpy (parsed->host, start, length);
    parsed->host [length] = 0;
    if (!parsed->ipv6 && strcmp (parsed->host, "localhost") == 0)
        snprintf (parsed->host, sizeof parsed->host, "127.0.0.1");
    unsigned char address [16];
    if (inet_pton (parsed->ipv6? AF_INET6: AF_INET, parsed->host, address) != 1)
        return s_url_error (error, size, parsed->ipv6
            ? "the host is not an IPv6 address"
            : "the host is not an IP address (127.0.0.1, 0.0.0.0, [::1]) or localhost");
    return true;
}

static bool
s_url_port (const char **cursor, sq_prometheus_url_t *parsed, char *error, size_t size)
{
    const char *start = *cursor;
    if (*start != ':')
        return s_url_error (error, size, "it has no port (0 picks a free one)");
    start++;
    size_t digits = strspn (start, "0123456789");
    long port = digits > 0 && digits <= 5? strtol (start, NULL, 10): -1;
    if (port < 0 || port > 65535)
        return s_url_error (error, size, "the port is not a number from 0 to 65535");
    parsed->port = (int) port;
    *cursor = start + digits;
    return true;
}

static bool
s_url_path (const char *path, sq_prometheus_url_t *parsed, char *error, size_t size)
{
    if (*path != '/')
        return s_url_error (error, size, "it has no path after the port, such as /metrics");
    if (strlen (path) >= sizeof parsed->path)
        return s_url_error (error, size, "the path is too long");
    for (const char *cursor = path; *cursor; cursor++)
        if (*cursor < 0x21 || *cursor > 0x7E || *cursor == '?' || *cursor == '#')
            return s_url_error (error, size,
                                "the path has a space, a '?', a '#' or a byte that is not printable");
    snprintf (parsed->path, sizeof parsed->path, "%s", path);
    return true;
}

bool
sq_prometheus_url_parse (const char *url, sq_prometheus_url_t *parsed,
                         char *error, size_t size)
{
    memset (parsed, 0, sizeof *parsed);
    if (strncmp (url, "http://", 7) != 0)
        return s_url_error (error, size, "it does not start with http:// (TLS is not served)");
    const char *cursor = url + 7;
    return s_url_host (&cursor, parsed, error, size)
        && s_url_port (&cursor, parsed, error, size)
        && s_url_path (cursor, parsed, error, size);
}
