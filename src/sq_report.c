/*  =========================================================================
    sq_report - JSON reports for the control socket
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_report.h"
#include "sq_json.h"
#include "sq_identity.h"
#include "sq_dict.h"
#include "sq_bans.h"

//  -------------------------------------------------------------------------
//  Workers, sorted by name so that replies are stable

typedef struct {
    sq_worker_t **items;
    size_t count;
    size_t capacity;
} s_workers_t;

static void
s_collect_worker (sq_worker_t *worker, void *argument)
{
    s_workers_t *workers = argument;
    if (workers->count < workers->capacity)
        workers->items [workers->count++] = worker;
}

static int
s_by_name (const void *a, const void *b)
{
    return strcmp ((*(sq_worker_t * const *) a)->name, (*(sq_worker_t * const *) b)->name);
}

//  Every worker record, sorted; false when out of memory
static bool
s_workers_sorted (sq_balancer_t *balancer, s_workers_t *workers)
{
    workers->count = 0;
    workers->capacity = sq_balancer_record_count (balancer);
    workers->items = calloc (workers->capacity + 1, sizeof (sq_worker_t *));
    if (!workers->items)
        return false;
    sq_balancer_each_worker (balancer, s_collect_worker, workers);
    qsort (workers->items, workers->count, sizeof (sq_worker_t *), s_by_name);
    return true;
}

static const char *
s_worker_state (const sq_worker_t *worker)
{
    if (worker->draining)
        return "draining";
    return worker->connections? "active": "offline";
}

//  Starts an entry of a report: an object, with its service's name first
//  when tagged
static void
s_entry_open (sq_json_t *json, const sq_service_ref_t *service, bool tagged)
{
    sq_json_object_open (json, NULL);
    if (tagged)
        sq_json_string (json, "service", service->name);
}

static void
s_worker_json (sq_json_t *json, const sq_service_ref_t *service, bool tagged,
               const sq_worker_t *worker)
{
    s_entry_open (json, service, tagged);
    sq_json_string (json, "name", worker->name);
    sq_json_string (json, "state", s_worker_state (worker));
    sq_json_uint (json, "connections", worker->connections);
    sq_json_uint (json, "idle", worker->idle_slots);
    sq_json_uint (json, "active", worker->active_pairs);
    sq_json_uint (json, "weight", worker->weight);
    if (worker->load_reported)
        sq_json_double (json, "load", worker->load);
    else
        sq_json_null (json, "load");
    sq_json_object_close (json);
}

//  The end of a page over count entries
static size_t
s_page_end (sq_page_t page, size_t count)
{
    if (page.offset >= count)
        return count;
    return count - page.offset < page.count? count: page.offset + page.count;
}

//  What a report of entries asks of each service
typedef struct {
    sq_page_t page;
    int64_t now;
    bool tagged;                //  Each entry names its service
} s_query_t;

//  Writes one service's entries into the array; false when out of memory
typedef bool (s_entries_fn) (sq_json_t *json, const sq_service_ref_t *service,
                             const s_query_t *query);

//  A JSON array of every service's entries, in the services' order; NULL
//  when out of memory
static char *
s_entries (const sq_service_ref_t *services, size_t count, s_entries_fn *entries,
           const s_query_t *query)
{
    sq_json_t json;
    sq_json_init (&json);
    sq_json_array_open (&json, NULL);
    for (size_t at = 0; at < count; at++)
        if (!entries (&json, &services [at], query)) {
            sq_json_free (&json);
            return NULL;
        }
    sq_json_array_close (&json);
    return sq_json_take (&json);
}

//  One service's workers
static bool
s_workers_service (sq_json_t *json, const sq_service_ref_t *service, const s_query_t *query)
{
    s_workers_t workers;
    if (!s_workers_sorted (sq_core_balancer (service->core), &workers))
        return false;
    size_t end = s_page_end (query->page, workers.count);
    for (size_t index = query->page.offset; index < end; index++)
        s_worker_json (json, service, query->tagged, workers.items [index]);
    free (workers.items);
    return true;
}

char *
sq_report_workers (const sq_service_ref_t *services, size_t count, sq_page_t page,
                   bool tagged)
{
    s_query_t query = { .page = page, .tagged = tagged };
    return s_entries (services, count, s_workers_service, &query);
}

//  -------------------------------------------------------------------------
//  STATS

void
sq_report_figures (sq_core_t *core, int64_t now, sq_report_figures_t *figures)
{
    const sq_core_stats_t *stats = sq_core_stats (core);
    sq_balancer_t *balancer = sq_core_balancer (core);
    memset (figures, 0, sizeof *figures);
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++) {
        figures->side [side].connections = sq_conn_table_count (sq_core_conns (core),
                                                                (sq_side_t) side);
        figures->side [side].accepted = stats->accepted [side];
        for (int refusal = 0; refusal < SQ_REFUSED_COUNT; refusal++)
            figures->side [side].refused [refusal] = stats->refused [side][refusal];
        figures->side [side].rejected_mechanism = stats->rejected_mechanism [side];
        figures->side [side].reading_stops = stats->reading_stops [side];
        figures->side [side].accept_failed = stats->accept_failed [side];
        figures->bytes_to [side] = stats->bytes_to [side];
        figures->chunks_to [side] = stats->chunks_to [side];
    }
    s_workers_t workers;
    bool listed = s_workers_sorted (balancer, &workers);
    for (size_t index = 0; listed && index < workers.count; index++)
        figures->workers_draining += workers.items [index]->draining;
    free (listed? workers.items: NULL);
    figures->workers_idle = sq_balancer_idle_count (balancer);
    figures->workers_slots_lost = stats->slots_lost;
    figures->workers_known = sq_balancer_worker_count (balancer);
    figures->clients_queued = sq_balancer_queued_count (balancer);
    figures->pairs_active = sq_core_active_pairs (core);
    figures->pairs_total = stats->pairs_total;
    figures->pairing_wait = stats->pairing_wait;
    figures->pair_duration = stats->pair_duration;
    figures->handshake_time = stats->handshake_time;
    figures->rejected_greeting = stats->rejected_greeting;
    figures->rejected_queue_full = stats->rejected_queue_full;
    figures->rejected_queue_timeout = stats->rejected_queue_timeout;
    figures->held_bytes = sq_core_held (core);
    figures->held_max = sq_core_config (core)->max_buffer;
    figures->held_max_pair = sq_core_config (core)->max_pair_buffer;
    for (int code = 0; code < SQ_CLOSED_COUNT; code++)
        figures->closed [code] = stats->closed [code];
    figures->closed_early_overflow = stats->closed_early_overflow;
    figures->closed_unflushed = stats->closed_unflushed;
    figures->handshakes_completed = stats->handshakes_completed;
    figures->handshakes_failed = sq_core_handshakes_failed (core);
    for (int failure = 0; failure < SQ_HS_FAILED_COUNT; failure++)
        figures->handshakes_failed_by [failure] = stats->handshakes_failed [failure];
    figures->screening = sq_core_screening (core);
    figures->following = sq_core_following (core);
    figures->bans_active = sq_bans_active (sq_core_bans (core), now);
    figures->bans_remembered = sq_bans_count (sq_core_bans (core));
    figures->heartbeats_watched = sq_core_heartbeat_count (core);
    figures->registrations_pending = sq_identity_pending (sq_core_identity (core));
    sq_engine_figures_t engine;
    sq_core_engine_figures (core, &engine);
    figures->pipes_lent = engine.pipes_lent;
    figures->pipes_idle = engine.pipes_idle;
    figures->pipe_refusals = engine.pipe_refusals;
}

_Static_assert (sizeof (sq_report_figures_t) % sizeof (uint64_t) == 0,
                "sq_report_figures_t holds only uint64_t members");

void
sq_report_figures_add (sq_report_figures_t *total, const sq_report_figures_t *more)
{
    uint64_t *into = (uint64_t *) total;
    const uint64_t *from = (const uint64_t *) more;
    for (size_t index = 0; index < sizeof *total / sizeof (uint64_t); index++)
        into [index] += from [index];
}

//  The workers of the services by name: a worker known to several
//  services shows their sums
static void
s_stats_by_name (sq_json_t *json, const sq_service_ref_t *services, size_t count)
{
    s_workers_t all = { NULL, 0, 0 };
    for (size_t at = 0; at < count; at++)
        all.capacity += sq_balancer_record_count (sq_core_balancer (services [at].core));
    all.items = calloc (all.capacity + 1, sizeof (sq_worker_t *));
    for (size_t at = 0; all.items && at < count; at++)
        sq_balancer_each_worker (sq_core_balancer (services [at].core), s_collect_worker, &all);
    qsort (all.items, all.count, sizeof (sq_worker_t *), s_by_name);
    sq_json_object_open (json, "by_name");
    for (size_t index = 0; index < all.count; ) {
        const char *name = all.items [index]->name;
        size_t active = 0, idle = 0;
        for (; index < all.count && strcmp (all.items [index]->name, name) == 0; index++) {
            active += all.items [index]->active_pairs;
            idle += all.items [index]->idle_slots;
        }
        sq_json_object_open (json, name);
        sq_json_uint (json, "active", active);
        sq_json_uint (json, "idle", idle);
        sq_json_object_close (json);
    }
    sq_json_object_close (json);
    free (all.items);
}

//  One side: its connections, what was accepted, refused on arrival,
//  refused for its mechanism, and whether it is being read
static void
s_stats_side (sq_json_t *json, const sq_report_figures_t *figures, sq_side_t side)
{
    sq_json_object_open (json, sq_side_name (side));
    sq_json_uint (json, "connections", figures->side [side].connections);
    sq_json_uint (json, "accepted", figures->side [side].accepted);
    sq_json_object_open (json, "refused");
    for (int refusal = SQ_REFUSED_DENIED; refusal < SQ_REFUSED_COUNT; refusal++)
        sq_json_uint (json, sq_refusal_name ((sq_refusal_t) refusal),
                      figures->side [side].refused [refusal]);
    sq_json_object_close (json);
    sq_json_uint (json, "rejected_mechanism", figures->side [side].rejected_mechanism);
    sq_json_uint (json, "reading_stops", figures->side [side].reading_stops);
    sq_json_uint (json, "accept_failed", figures->side [side].accept_failed);
    sq_json_object_close (json);
}

//  A histogram of durations: count, sum_ms, and buckets_ms, the count of
//  observations up to each bound (cumulative, as Prometheus has them)
static void
s_stats_histogram (sq_json_t *json, const char *key, const sq_histogram_t *histogram)
{
    sq_json_object_open (json, key);
    sq_json_uint (json, "count", histogram->count);
    sq_json_uint (json, "sum_ms", histogram->sum_ms);
    sq_json_object_open (json, "buckets_ms");
    for (size_t index = 0; index <= SQ_HISTOGRAM_BOUNDS; index++) {
        char bound [32] = "+Inf";
        if (index < SQ_HISTOGRAM_BOUNDS)
            snprintf (bound, sizeof bound, "%lld", (long long) sq_histogram_bound_ms (index));
        sq_json_uint (json, bound, sq_histogram_cumulative (histogram, index));
    }
    sq_json_object_close (json);
    sq_json_object_close (json);
}

//  Handshakes: how they ended and how long they took, those under way,
//  and the bans of clients after failed ones
static void
s_stats_handshakes (sq_json_t *json, const sq_report_figures_t *figures)
{
    sq_json_object_open (json, "handshakes");
    sq_json_uint (json, "completed", figures->handshakes_completed);
    sq_json_uint (json, "failed", figures->handshakes_failed);
    sq_json_object_open (json, "failed_by");
    for (int failure = 0; failure < SQ_HS_FAILED_COUNT; failure++)
        sq_json_uint (json, sq_hs_failure_name ((sq_hs_failure_t) failure),
                      figures->handshakes_failed_by [failure]);
    sq_json_object_close (json);
    sq_json_uint (json, "screening", figures->screening);
    sq_json_uint (json, "following", figures->following);
    sq_json_object_close (json);
    s_stats_histogram (json, "handshake_time", &figures->handshake_time);
    sq_json_object_open (json, "bans");
    sq_json_uint (json, "active", figures->bans_active);
    sq_json_uint (json, "remembered", figures->bans_remembered);
    sq_json_object_close (json);
}

static void
s_stats_traffic (sq_json_t *json, const sq_report_figures_t *figures)
{
    sq_json_object_open (json, "clients");
    sq_json_uint (json, "queued", figures->clients_queued);
    sq_json_object_close (json);
    sq_json_object_open (json, "pairs");
    sq_json_uint (json, "active", figures->pairs_active);
    sq_json_uint (json, "total", figures->pairs_total);
    sq_json_object_close (json);
    sq_json_object_open (json, "bytes");
    sq_json_uint (json, "to_backend", figures->bytes_to [SQ_BACKEND]);
    sq_json_uint (json, "to_frontend", figures->bytes_to [SQ_FRONTEND]);
    sq_json_object_close (json);
    sq_json_object_open (json, "chunks");
    sq_json_uint (json, "to_backend", figures->chunks_to [SQ_BACKEND]);
    sq_json_uint (json, "to_frontend", figures->chunks_to [SQ_FRONTEND]);
    sq_json_object_close (json);
    s_stats_histogram (json, "pairing_wait", &figures->pairing_wait);
    s_stats_histogram (json, "pair_duration", &figures->pair_duration);
}

static void
s_stats_endings (sq_json_t *json, const sq_report_figures_t *figures, bool slow_peer_block)
{
    sq_json_object_open (json, "rejected");
    sq_json_uint (json, "greeting", figures->rejected_greeting);
    sq_json_uint (json, "queue", figures->rejected_queue_full + figures->rejected_queue_timeout);
    sq_json_uint (json, "queue_full", figures->rejected_queue_full);
    sq_json_uint (json, "queue_timeout", figures->rejected_queue_timeout);
    sq_json_uint (json, "mechanism", figures->side [SQ_FRONTEND].rejected_mechanism
                                   + figures->side [SQ_BACKEND].rejected_mechanism);
    sq_json_object_close (json);
    sq_json_object_open (json, "held");
    sq_json_uint (json, "bytes", figures->held_bytes);
    sq_json_uint (json, "max", figures->held_max);
    sq_json_uint (json, "max_pair", figures->held_max_pair);
    sq_json_string (json, "slow_peer", slow_peer_block? "block": "disconnect");
    sq_json_object_close (json);
    sq_json_object_open (json, "closed");
    for (int code = 0; code < SQ_CLOSED_COUNT; code++)
        sq_json_uint (json, sq_closed_name ((sq_closed_t) code), figures->closed [code]);
    sq_json_uint (json, "early_overflow", figures->closed_early_overflow);
    sq_json_uint (json, "unflushed", figures->closed_unflushed);
    sq_json_object_close (json);
}

//  The engine: its name (core's: every service runs the same engine),
//  and its pipes
static void
s_stats_engine (sq_json_t *json, const sq_report_figures_t *figures, sq_core_t *core)
{
    sq_engine_figures_t engine;
    sq_core_engine_figures (core, &engine);
    sq_json_object_open (json, "engine");
    sq_json_string (json, "name", engine.name);
    sq_json_uint (json, "pipes_lent", figures->pipes_lent);
    sq_json_uint (json, "pipes_idle", figures->pipes_idle);
    sq_json_uint (json, "pipe_refusals", figures->pipe_refusals);
    sq_json_object_close (json);
}

//  The members of a STATS object, of the figures of these services: the
//  first gives paused and slow_peer, the oldest the uptime
static void
s_stats_members (sq_json_t *json, const sq_report_figures_t *figures,
                 const sq_service_ref_t *services, size_t count, int64_t now)
{
    sq_core_t *first = services [0].core;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        s_stats_side (json, figures, (sq_side_t) side);
    sq_json_object_open (json, "workers");
    sq_json_uint (json, "idle", figures->workers_idle);
    sq_json_uint (json, "slots_lost", figures->workers_slots_lost);
    sq_json_uint (json, "known", figures->workers_known);
    sq_json_uint (json, "draining", figures->workers_draining);
    s_stats_by_name (json, services, count);
    sq_json_object_close (json);
    s_stats_traffic (json, figures);
    s_stats_endings (json, figures, sq_core_config (first)->slow_peer_block);
    s_stats_handshakes (json, figures);
    sq_json_object_open (json, "heartbeats");
    sq_json_uint (json, "watched", figures->heartbeats_watched);
    sq_json_object_close (json);
    sq_json_object_open (json, "registrations");
    sq_json_uint (json, "pending", figures->registrations_pending);
    sq_json_object_close (json);
    s_stats_engine (json, figures, first);
    sq_json_bool (json, "paused", sq_core_paused (first));
    int64_t started = sq_core_started (first);
    for (size_t at = 1; at < count; at++)
        if (sq_core_started (services [at].core) < started)
            started = sq_core_started (services [at].core);
    sq_json_uint (json, "uptime_ms", now > started? (uint64_t) (now - started): 0);
}

//  One service's STATS object, under key (NULL at the top)
static void
s_stats_service (sq_json_t *json, const char *key, const sq_service_ref_t *service,
                 int64_t now)
{
    sq_report_figures_t figures;
    sq_report_figures (service->core, now, &figures);
    sq_json_object_open (json, key);
    s_stats_members (json, &figures, service, 1, now);
    sq_json_bool (json, "removing", service->removed);
    sq_json_object_close (json);
}

char *
sq_report_stats_service (const sq_service_ref_t *service, int64_t now)
{
    sq_json_t json;
    sq_json_init (&json);
    s_stats_service (&json, NULL, service, now);
    return sq_json_take (&json);
}

char *
sq_report_stats (const sq_service_ref_t *services, size_t count, int64_t now)
{
    sq_report_figures_t total, one;
    memset (&total, 0, sizeof total);
    for (size_t at = 0; at < count; at++) {
        sq_report_figures (services [at].core, now, &one);
        sq_report_figures_add (&total, &one);
    }
    sq_json_t json;
    sq_json_init (&json);
    sq_json_object_open (&json, NULL);
    s_stats_members (&json, &total, services, count, now);
    sq_json_object_open (&json, "services");
    for (size_t at = 0; at < count; at++)
        s_stats_service (&json, services [at].name, &services [at], now);
    sq_json_object_close (&json);
    sq_json_object_close (&json);
    return sq_json_take (&json);
}

//  -------------------------------------------------------------------------
//  LIST

//  A connection's state, with a pair whose handshake is under way shown
//  as "handshake" rather than "paired"
static const char *
s_list_state (const sq_conn_t *conn)
{
    if (conn->state == SQ_CONN_PAIRED && conn->handshake == SQ_HANDSHAKE_FOLLOWING)
        return "handshake";
    return sq_conn_state_name (conn->state);
}

static void
s_list_conn (sq_json_t *json, const sq_service_ref_t *service, bool tagged,
             const sq_conn_t *conn)
{
    s_entry_open (json, service, tagged);
    sq_json_uint (json, "id", conn->serial);
    sq_json_string (json, "side", sq_side_name (conn->side));
    sq_json_string (json, "address", conn->address);
    sq_json_string (json, "name", conn->name);
    sq_json_string (json, "mechanism", conn->greeting.mechanism);
    sq_json_string (json, "state", s_list_state (conn));
    if (conn->side == SQ_BACKEND)
        sq_json_string (json, "worker", conn->worker? conn->worker->name: conn->name);
    if (conn->partner)
        sq_json_uint (json, "paired_with", conn->partner->serial);
    else
        sq_json_null (json, "paired_with");
    sq_json_uint (json, "bytes_in", conn->bytes_in);
    sq_json_uint (json, "bytes_out", conn->bytes_out);
    sq_json_object_close (json);
}

//  A page of one service's connections
static bool
s_list_service (sq_json_t *json, const sq_service_ref_t *service, const s_query_t *query)
{
    sq_page_t page = query->page;
    sq_list_t *all = sq_conn_table_all (sq_core_conns (service->core));
    size_t index = 0;
    size_t end = s_page_end (page, SIZE_MAX);      //  The table is walked, not counted
    for (sq_list_node_t *node = all->next; node != all && index < end;
         node = node->next, index++)
        if (index >= page.offset)
            s_list_conn (json, service, query->tagged,
                         sq_list_entry (node, sq_conn_t, all_node));
    return true;
}

char *
sq_report_list (const sq_service_ref_t *services, size_t count, sq_page_t page,
                bool tagged)
{
    s_query_t query = { .page = page, .tagged = tagged };
    return s_entries (services, count, s_list_service, &query);
}

//  -------------------------------------------------------------------------
//  CLIENTS: frontend connections grouped by name

typedef struct {
    char name [SQ_NAME_MAX];
    size_t connections, queued, paired;
} s_client_t;

static int
s_client_by_name (const void *a, const void *b)
{
    return strcmp (((const s_client_t *) a)->name, ((const s_client_t *) b)->name);
}

//  Groups the frontend connections by name into clients [count]
static size_t
s_group_clients (sq_core_t *core, s_client_t *clients, size_t capacity)
{
    sq_dict_t *index = sq_dict_new ();
    size_t count = 0;
    sq_list_t *all = sq_conn_table_all (sq_core_conns (core));
    for (sq_list_node_t *node = all->next; index && node != all; node = node->next) {
        const sq_conn_t *conn = sq_list_entry (node, sq_conn_t, all_node);
        if (conn->side != SQ_FRONTEND)
            continue;
        s_client_t *client = sq_dict_lookup (index, conn->name);
        if (!client && count < capacity) {
            client = &clients [count++];
            snprintf (client->name, sizeof client->name, "%s", conn->name);
            sq_dict_insert (index, client->name, client);
        }
        if (!client)
            continue;
        client->connections++;
        client->queued += conn->state == SQ_CONN_QUEUED;
        client->paired += conn->state == SQ_CONN_PAIRED;
    }
    sq_dict_destroy (&index, NULL);
    qsort (clients, count, sizeof (s_client_t), s_client_by_name);
    return count;
}

static void
s_route_workers (sq_json_t *json, const sq_route_t *route)
{
    if (!route) {
        sq_json_null (json, "route");
        return;
    }
    sq_json_array_open (json, "route");
    for (size_t index = 0; index < route->count; index++)
        sq_json_string (json, NULL, route->workers [index]);
    sq_json_array_close (json);
}

//  A page of one service's clients; false when out of memory
static bool
s_clients_service (sq_json_t *json, const sq_service_ref_t *service, const s_query_t *query)
{
    sq_page_t page = query->page;
    sq_core_t *core = service->core;
    size_t capacity = sq_conn_table_count (sq_core_conns (core), SQ_FRONTEND);
    s_client_t *clients = calloc (capacity + 1, sizeof (s_client_t));
    if (!clients)
        return false;
    size_t count = s_group_clients (core, clients, capacity);
    size_t end = s_page_end (page, count);
    for (size_t index = page.offset; index < end; index++) {
        s_entry_open (json, service, query->tagged);
        sq_json_string (json, "name", clients [index].name);
        sq_json_uint (json, "connections", clients [index].connections);
        sq_json_uint (json, "queued", clients [index].queued);
        sq_json_uint (json, "paired", clients [index].paired);
        s_route_workers (json, sq_balancer_route (sq_core_balancer (core), clients [index].name));
        sq_json_object_close (json);
    }
    free (clients);
    return true;
}

char *
sq_report_clients (const sq_service_ref_t *services, size_t count, sq_page_t page,
                   bool tagged)
{
    s_query_t query = { .page = page, .tagged = tagged };
    return s_entries (services, count, s_clients_service, &query);
}

//  -------------------------------------------------------------------------
//  ROUTES: routes, address rules, registrations waiting

typedef struct {
    const sq_route_t **items;
    size_t count;
    size_t capacity;
} s_routes_t;

static void
s_collect_route (const sq_route_t *route, void *argument)
{
    s_routes_t *routes = argument;
    if (routes->count < routes->capacity)
        routes->items [routes->count++] = route;
}

static int
s_route_by_client (const void *a, const void *b)
{
    return strcmp ((*(const sq_route_t * const *) a)->client,
                   (*(const sq_route_t * const *) b)->client);
}

//  A page of one service's routes, sorted by client; false when out of
//  memory
static bool
s_routes_service (sq_json_t *json, const sq_service_ref_t *service, sq_page_t page,
                  bool tagged)
{
    sq_balancer_t *balancer = sq_core_balancer (service->core);
    s_routes_t routes = { NULL, 0, sq_balancer_route_count (balancer) };
    routes.items = calloc (routes.capacity + 1, sizeof (sq_route_t *));
    if (!routes.items)
        return false;
    sq_balancer_each_route (balancer, s_collect_route, &routes);
    qsort (routes.items, routes.count, sizeof (sq_route_t *), s_route_by_client);
    size_t end = s_page_end (page, routes.count);
    for (size_t index = page.offset; index < end; index++) {
        const sq_route_t *route = routes.items [index];
        s_entry_open (json, service, tagged);
        sq_json_string (json, "client", route->client);
        sq_json_array_open (json, "workers");
        for (size_t worker = 0; worker < route->count; worker++)
            sq_json_string (json, NULL, route->workers [worker]);
        sq_json_array_close (json);
        sq_json_object_close (json);
    }
    free (routes.items);
    return true;
}

//  Every address rule of one service
static void
s_aliases_service (sq_json_t *json, const sq_service_ref_t *service, bool tagged)
{
    sq_identity_t *identity = sq_core_identity (service->core);
    for (size_t index = 0; index < sq_identity_alias_count (identity); index++) {
        const sq_alias_t *alias = sq_identity_alias_at (identity, index);
        s_entry_open (json, service, tagged);
        sq_json_string (json, "side", sq_side_name (alias->side));
        sq_json_string (json, "match", alias->match);
        sq_json_string (json, "name", alias->name);
        sq_json_object_close (json);
    }
}

char *
sq_report_routes (const sq_service_ref_t *services, size_t count, sq_page_t page,
                  bool tagged)
{
    sq_json_t json;
    sq_json_init (&json);
    sq_json_object_open (&json, NULL);
    sq_json_array_open (&json, "routes");
    for (size_t at = 0; at < count; at++)
        if (!s_routes_service (&json, &services [at], page, tagged)) {
            sq_json_free (&json);
            return NULL;
        }
    sq_json_array_close (&json);
    sq_json_array_open (&json, "aliases");
    size_t registrations = 0;
    for (size_t at = 0; at < count; at++) {
        s_aliases_service (&json, &services [at], tagged);
        registrations += sq_identity_pending (sq_core_identity (services [at].core));
    }
    sq_json_array_close (&json);
    sq_json_uint (&json, "registrations", registrations);
    sq_json_object_close (&json);
    return sq_json_take (&json);
}

//  -------------------------------------------------------------------------
//  BANS: clients refused after failed handshakes, sorted by key

typedef struct {
    sq_ban_t *items;
    size_t count;
    size_t capacity;
} s_bans_t;

static void
s_collect_ban (const sq_ban_t *ban, void *argument)
{
    s_bans_t *bans = argument;
    if (bans->count < bans->capacity)
        bans->items [bans->count++] = *ban;
}

static int
s_by_key (const void *a, const void *b)
{
    return strcmp (((const sq_ban_t *) a)->key, ((const sq_ban_t *) b)->key);
}

//  One service's bans; false when out of memory
static bool
s_bans_service (sq_json_t *json, const sq_service_ref_t *service, const s_query_t *query)
{
    int64_t now = query->now;
    sq_bans_t *table = sq_core_bans (service->core);
    s_bans_t bans = { NULL, 0, sq_bans_count (table) };
    bans.items = calloc (bans.capacity + 1, sizeof (sq_ban_t));
    if (!bans.items)
        return false;
    sq_bans_each (table, s_collect_ban, &bans);
    qsort (bans.items, bans.count, sizeof (sq_ban_t), s_by_key);
    for (size_t index = 0; index < bans.count; index++) {
        const sq_ban_t *ban = &bans.items [index];
        s_entry_open (json, service, query->tagged);
        sq_json_string (json, "key", ban->key);
        sq_json_uint (json, "failures", ban->failures);
        sq_json_uint (json, "remaining_ms",
                      ban->until_ms > now? (uint64_t) (ban->until_ms - now): 0);
        sq_json_uint (json, "length_ms", (uint64_t) ban->length_ms);
        sq_json_object_close (json);
    }
    free (bans.items);
    return true;
}

char *
sq_report_bans (const sq_service_ref_t *services, size_t count, int64_t now, bool tagged)
{
    s_query_t query = { .now = now, .tagged = tagged };
    return s_entries (services, count, s_bans_service, &query);
}
