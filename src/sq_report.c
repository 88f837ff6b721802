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

static void
s_worker_json (sq_json_t *json, const sq_worker_t *worker)
{
    sq_json_object_open (json, NULL);
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

char *
sq_report_workers (sq_core_t *core, sq_page_t page)
{
    s_workers_t workers;
    if (!s_workers_sorted (sq_core_balancer (core), &workers))
        return NULL;
    sq_json_t json;
    sq_json_init (&json);
    sq_json_array_open (&json, NULL);
    size_t end = s_page_end (page, workers.count);
    for (size_t index = page.offset; index < end; index++)
        s_worker_json (&json, workers.items [index]);
    sq_json_array_close (&json);
    free (workers.items);
    return sq_json_take (&json);
}

//  -------------------------------------------------------------------------
//  STATS

static void
s_stats_workers (sq_json_t *json, sq_core_t *core)
{
    sq_balancer_t *balancer = sq_core_balancer (core);
    s_workers_t workers;
    bool listed = s_workers_sorted (balancer, &workers);
    size_t draining = 0;
    for (size_t index = 0; listed && index < workers.count; index++)
        draining += workers.items [index]->draining;
    sq_json_object_open (json, "workers");
    sq_json_uint (json, "idle", sq_balancer_idle_count (balancer));
    sq_json_uint (json, "slots_lost", sq_core_stats (core)->slots_lost);
    sq_json_uint (json, "known", sq_balancer_worker_count (balancer));
    sq_json_uint (json, "draining", draining);
    sq_json_object_open (json, "by_name");
    for (size_t index = 0; listed && index < workers.count; index++) {
        const sq_worker_t *worker = workers.items [index];
        sq_json_object_open (json, worker->name);
        sq_json_uint (json, "active", worker->active_pairs);
        sq_json_uint (json, "idle", worker->idle_slots);
        sq_json_object_close (json);
    }
    sq_json_object_close (json);
    sq_json_object_close (json);
    free (workers.items);
}

//  One side: its connections, what was accepted, refused on arrival,
//  refused for its mechanism, and whether it is being read
static void
s_stats_side (sq_json_t *json, sq_core_t *core, sq_side_t side)
{
    const sq_core_stats_t *stats = sq_core_stats (core);
    sq_json_object_open (json, sq_side_name (side));
    sq_json_uint (json, "connections", sq_conn_table_count (sq_core_conns (core), side));
    sq_json_uint (json, "accepted", stats->accepted [side]);
    sq_json_object_open (json, "refused");
    for (int refusal = SQ_REFUSED_DENIED; refusal < SQ_REFUSED_COUNT; refusal++)
        sq_json_uint (json, sq_refusal_name ((sq_refusal_t) refusal),
                      stats->refused [side][refusal]);
    sq_json_object_close (json);
    sq_json_uint (json, "rejected_mechanism", stats->rejected_mechanism [side]);
    sq_json_uint (json, "reading_stops", stats->reading_stops [side]);
    sq_json_uint (json, "accept_failed", stats->accept_failed [side]);
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
s_stats_handshakes (sq_json_t *json, sq_core_t *core, int64_t now)
{
    const sq_core_stats_t *stats = sq_core_stats (core);
    sq_json_object_open (json, "handshakes");
    sq_json_uint (json, "completed", stats->handshakes_completed);
    sq_json_uint (json, "failed", sq_core_handshakes_failed (core));
    sq_json_object_open (json, "failed_by");
    for (int failure = 0; failure < SQ_HS_FAILED_COUNT; failure++)
        sq_json_uint (json, sq_hs_failure_name ((sq_hs_failure_t) failure),
                      stats->handshakes_failed [failure]);
    sq_json_object_close (json);
    sq_json_uint (json, "screening", sq_core_screening (core));
    sq_json_uint (json, "following", sq_core_following (core));
    sq_json_object_close (json);
    s_stats_histogram (json, "handshake_time", &stats->handshake_time);
    sq_json_object_open (json, "bans");
    sq_json_uint (json, "active", sq_bans_active (sq_core_bans (core), now));
    sq_json_uint (json, "remembered", sq_bans_count (sq_core_bans (core)));
    sq_json_object_close (json);
}

char *
sq_report_stats (sq_core_t *core, int64_t now)
{
    const sq_core_stats_t *stats = sq_core_stats (core);
    sq_balancer_t *balancer = sq_core_balancer (core);
    sq_json_t json;
    sq_json_init (&json);
    sq_json_object_open (&json, NULL);
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        s_stats_side (&json, core, (sq_side_t) side);
    s_stats_workers (&json, core);
    sq_json_object_open (&json, "clients");
    sq_json_uint (&json, "queued", sq_balancer_queued_count (balancer));
    sq_json_object_close (&json);
    sq_json_object_open (&json, "pairs");
    sq_json_uint (&json, "active", sq_core_active_pairs (core));
    sq_json_uint (&json, "total", stats->pairs_total);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "bytes");
    sq_json_uint (&json, "to_backend", stats->bytes_to [SQ_BACKEND]);
    sq_json_uint (&json, "to_frontend", stats->bytes_to [SQ_FRONTEND]);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "chunks");
    sq_json_uint (&json, "to_backend", stats->chunks_to [SQ_BACKEND]);
    sq_json_uint (&json, "to_frontend", stats->chunks_to [SQ_FRONTEND]);
    sq_json_object_close (&json);
    s_stats_histogram (&json, "pairing_wait", &stats->pairing_wait);
    s_stats_histogram (&json, "pair_duration", &stats->pair_duration);
    sq_json_object_open (&json, "rejected");
    sq_json_uint (&json, "greeting", stats->rejected_greeting);
    sq_json_uint (&json, "queue", stats->rejected_queue_full + stats->rejected_queue_timeout);
    sq_json_uint (&json, "queue_full", stats->rejected_queue_full);
    sq_json_uint (&json, "queue_timeout", stats->rejected_queue_timeout);
    sq_json_uint (&json, "mechanism", stats->rejected_mechanism [SQ_FRONTEND]
                                    + stats->rejected_mechanism [SQ_BACKEND]);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "held");
    sq_json_uint (&json, "bytes", sq_core_held (core));
    sq_json_uint (&json, "max", sq_core_config (core)->max_buffer);
    sq_json_uint (&json, "max_pair", sq_core_config (core)->max_pair_buffer);
    sq_json_string (&json, "slow_peer", sq_core_config (core)->slow_peer_block? "block": "disconnect");
    sq_json_object_close (&json);
    sq_json_object_open (&json, "closed");
    for (int code = 0; code < SQ_CLOSED_COUNT; code++)
        sq_json_uint (&json, sq_closed_name ((sq_closed_t) code), stats->closed [code]);
    sq_json_uint (&json, "early_overflow", stats->closed_early_overflow);
    sq_json_uint (&json, "unflushed", stats->closed_unflushed);
    sq_json_object_close (&json);
    s_stats_handshakes (&json, core, now);
    sq_json_object_open (&json, "heartbeats");
    sq_json_uint (&json, "watched", sq_core_heartbeat_count (core));
    sq_json_object_close (&json);
    sq_json_object_open (&json, "registrations");
    sq_json_uint (&json, "pending", sq_identity_pending (sq_core_identity (core)));
    sq_json_object_close (&json);
    sq_json_bool (&json, "paused", sq_core_paused (core));
    sq_json_uint (&json, "uptime_ms", (uint64_t) (now - sq_core_started (core)));
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
s_list_conn (sq_json_t *json, const sq_conn_t *conn)
{
    sq_json_object_open (json, NULL);
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

char *
sq_report_list (sq_core_t *core, sq_page_t page)
{
    sq_json_t json;
    sq_json_init (&json);
    sq_json_array_open (&json, NULL);
    sq_list_t *all = sq_conn_table_all (sq_core_conns (core));
    size_t index = 0;
    size_t end = page.count > SIZE_MAX - page.offset? SIZE_MAX: page.offset + page.count;
    for (sq_list_node_t *node = all->next; node != all && index < end;
         node = node->next, index++)
        if (index >= page.offset)
            s_list_conn (&json, sq_list_entry (node, sq_conn_t, all_node));
    sq_json_array_close (&json);
    return sq_json_take (&json);
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

char *
sq_report_clients (sq_core_t *core, sq_page_t page)
{
    size_t capacity = sq_conn_table_count (sq_core_conns (core), SQ_FRONTEND);
    s_client_t *clients = calloc (capacity + 1, sizeof (s_client_t));
    if (!clients)
        return NULL;
    size_t count = s_group_clients (core, clients, capacity);
    sq_json_t json;
    sq_json_init (&json);
    sq_json_array_open (&json, NULL);
    size_t end = s_page_end (page, count);
    for (size_t index = page.offset; index < end; index++) {
        sq_json_object_open (&json, NULL);
        sq_json_string (&json, "name", clients [index].name);
        sq_json_uint (&json, "connections", clients [index].connections);
        sq_json_uint (&json, "queued", clients [index].queued);
        sq_json_uint (&json, "paired", clients [index].paired);
        s_route_workers (&json, sq_balancer_route (sq_core_balancer (core), clients [index].name));
        sq_json_object_close (&json);
    }
    sq_json_array_close (&json);
    free (clients);
    return sq_json_take (&json);
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

static void
s_route_json (sq_json_t *json, const sq_route_t *route)
{
    sq_json_object_open (json, NULL);
    sq_json_string (json, "client", route->client);
    sq_json_array_open (json, "workers");
    for (size_t index = 0; index < route->count; index++)
        sq_json_string (json, NULL, route->workers [index]);
    sq_json_array_close (json);
    sq_json_object_close (json);
}

char *
sq_report_routes (sq_core_t *core, sq_page_t page)
{
    sq_identity_t *identity = sq_core_identity (core);
    sq_balancer_t *balancer = sq_core_balancer (core);
    s_routes_t routes = { NULL, 0, sq_balancer_route_count (balancer) };
    routes.items = calloc (routes.capacity + 1, sizeof (sq_route_t *));
    if (!routes.items)
        return NULL;
    sq_balancer_each_route (balancer, s_collect_route, &routes);
    qsort (routes.items, routes.count, sizeof (sq_route_t *), s_route_by_client);
    sq_json_t json;
    sq_json_init (&json);
    sq_json_object_open (&json, NULL);
    sq_json_array_open (&json, "routes");
    size_t end = s_page_end (page, routes.count);
    for (size_t index = page.offset; index < end; index++)
        s_route_json (&json, routes.items [index]);
    free (routes.items);
    sq_json_array_close (&json);
    sq_json_array_open (&json, "aliases");
    for (size_t index = 0; index < sq_identity_alias_count (identity); index++) {
        const sq_alias_t *alias = sq_identity_alias_at (identity, index);
        sq_json_object_open (&json, NULL);
        sq_json_string (&json, "side", sq_side_name (alias->side));
        sq_json_string (&json, "match", alias->match);
        sq_json_string (&json, "name", alias->name);
        sq_json_object_close (&json);
    }
    sq_json_array_close (&json);
    sq_json_uint (&json, "registrations", sq_identity_pending (identity));
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

char *
sq_report_bans (sq_core_t *core, int64_t now)
{
    sq_bans_t *table = sq_core_bans (core);
    s_bans_t bans = { NULL, 0, sq_bans_count (table) };
    bans.items = calloc (bans.capacity + 1, sizeof (sq_ban_t));
    if (!bans.items)
        return NULL;
    sq_bans_each (table, s_collect_ban, &bans);
    qsort (bans.items, bans.count, sizeof (sq_ban_t), s_by_key);
    sq_json_t json;
    sq_json_init (&json);
    sq_json_array_open (&json, NULL);
    for (size_t index = 0; index < bans.count; index++) {
        const sq_ban_t *ban = &bans.items [index];
        sq_json_object_open (&json, NULL);
        sq_json_string (&json, "key", ban->key);
        sq_json_uint (&json, "failures", ban->failures);
        sq_json_uint (&json, "remaining_ms",
                      ban->until_ms > now? (uint64_t) (ban->until_ms - now): 0);
        sq_json_uint (&json, "length_ms", (uint64_t) ban->length_ms);
        sq_json_object_close (&json);
    }
    sq_json_array_close (&json);
    free (bans.items);
    return sq_json_take (&json);
}
