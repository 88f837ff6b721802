/*  =========================================================================
    sq_pairing - from a complete greeting to a pair

    A connection whose greeting is done may first wait (NAMING) for its
    registration, if --identify-wait asks for that. Then a client is given
    the greeting tail of the idle worker connection the balancer would
    choose, and screened (sq_handshake); if none is idle it waits in the
    queue of its mechanism. A screened client is paired with an idle worker
    connection of exactly the tail it was given, or waits in that tail's
    queue. A worker connection takes the first screened client waiting for
    its tail, or goes idle and gives its tail to the clients waiting for any.

    A client with a route accepts the first worker of its route at once,
    and one more of the route each --route-wait; when the route is
    exhausted it accepts any worker (or keeps waiting, per
    --route-fallback). Queued clients try again whenever something changes
    that may let them pair: a route widens, a worker stops draining, a route
    changes, a connection gets its name.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_core_private.h"
#include "sq_log.h"

//  -------------------------------------------------------------------------
//  Pairing itself

//  Sends what `from` has said so far to its new partner `to`: the rest of
//  its greeting (unless `to` was given that tail already, at screening),
//  then what it sent since
static void
s_hand_over (sq_core_t *self, sq_conn_t *from, sq_conn_t *to, bool tail, int64_t now)
{
    if (tail)
        sq_flow_send (self, to, sq_greeting_tail (&from->greeting), SQ_GREETING_TAIL_SIZE, now);
    const uint8_t *data;
    size_t size;
    while (to->state == SQ_CONN_PAIRED && sq_buf_peek (&from->early, &data, &size)) {
        sq_flow_send (self, to, data, size, now);
        sq_buf_pop (&from->early);
    }
}

//  Commits a worker connection to a screened client: the worker receives
//  the client's greeting tail and first command, the client what the
//  worker sent after its greeting (its tail it has already)
static void
s_pair (sq_core_t *self, sq_conn_t *client, sq_conn_t *worker_conn, int64_t now)
{
    client->state = worker_conn->state = SQ_CONN_PAIRED;
    client->partner = worker_conn;
    worker_conn->partner = client;
    client->paired_ms = worker_conn->paired_ms = now;
    client->last_activity_ms = now;
    sq_list_append (&self->pairs_by_age, &client->age_node);
    sq_list_append (&self->pairs_by_activity, &client->activity_node);
    sq_balancer_pair_started (self->balancer, worker_conn->worker, now);
    self->active_pairs++;
    self->stats.pairs_total++;
    sq_histogram_observe (&self->stats.pairing_wait, now - client->greeted_ms);
    sq_info ("frontend #%llu %s (%s) paired with backend #%llu %s (worker %s, %s, waited %lld ms)",
             (unsigned long long) client->serial, client->address, client->name,
             (unsigned long long) worker_conn->serial, worker_conn->address,
             worker_conn->worker->name, client->greeting.mechanism,
             (long long) (now - client->created_ms));
    if (!sq_handshake_follow (self, client, worker_conn, now)) {
        sq_flow_close (self, worker_conn, SQ_CLOSED_HANDSHAKE, "malformed handshake", now);
        return;
    }
    s_hand_over (self, worker_conn, client, false, now);
    if (client->state == SQ_CONN_PAIRED)
        s_hand_over (self, client, worker_conn, true, now);
    if (client->handoff_due)
        sq_flow_try_handoff (self, client);     //  A handshake over already
}

//  -------------------------------------------------------------------------
//  Routes

//  How many workers of its route a client accepts now, or SQ_ROUTE_ANY
static size_t
s_allowed (sq_core_t *self, const sq_conn_t *client, int64_t now)
{
    const sq_route_t *route = sq_balancer_route (self->balancer, client->name);
    if (!route)
        return SQ_ROUTE_ANY;
    int64_t wait = self->config.route_wait_ms;
    size_t steps = wait > 0? (size_t) ((now - client->ready_ms) / wait) + 1: route->count + 1;
    if (steps <= route->count)
        return steps;
    return self->config.route_fallback_any? SQ_ROUTE_ANY: route->count;
}

//  When a waiting client will next accept more workers, or INT64_MAX
static int64_t
s_widens_at (sq_core_t *self, const sq_conn_t *client, int64_t now)
{
    const sq_route_t *route = sq_balancer_route (self->balancer, client->name);
    size_t allowed = s_allowed (self, client, now);
    if (!route || allowed == SQ_ROUTE_ANY
    || (allowed == route->count && !self->config.route_fallback_any))
        return INT64_MAX;
    return client->ready_ms + (int64_t) allowed * self->config.route_wait_ms;
}

//  -------------------------------------------------------------------------
//  Clients

//  Puts a client in the queue of its pool: its mechanism before it is
//  screened, its tail after; closes it when the queue, or its IP's share
//  of it, is full
static void
s_enqueue (sq_core_t *self, sq_conn_t *client, int64_t now)
{
    if (sq_balancer_queued_count (self->balancer) >= self->config.max_queue) {
        self->stats.rejected_queue_full++;
        sq_flow_close (self, client, SQ_CLOSED_QUEUE, "queue full", now);
        return;
    }
    size_t per_ip = self->config.max_queue_per_ip;
    if (per_ip && sq_tally_get (self->queued_by_host, client->host) >= per_ip) {
        self->stats.refused [SQ_FRONTEND][SQ_REFUSED_QUEUE_PER_IP]++;
        sq_flow_close (self, client, SQ_CLOSED_QUEUE, "queue share of its IP full", now);
        return;
    }
    client->state = SQ_CONN_QUEUED;
    sq_balancer_queue_add (self->balancer, client, now);
    sq_list_append (&self->waiting, &client->wait_node);
    client->queue_counted = sq_tally_up (self->queued_by_host, client->host);
    int64_t widens = s_widens_at (self, client, now);
    if (widens < self->next_widen_ms)
        self->next_widen_ms = widens;
    sq_conn_log (client, "queued (%s, %s, %zu waiting)", client->name, client->pool,
                 sq_balancer_queued_count (self->balancer));
}

//  Screens a client with the tail of an idle worker connection, and
//  commits a worker at once when what it sent already is well formed
static void
s_screen (sq_core_t *self, sq_conn_t *client, const sq_conn_t *tail_source, int64_t now)
{
    if (sq_handshake_screen (self, client, tail_source, now) == SQ_SCREEN_PASSED)
        sq_pairing_screened (self, client, now);
}

//  Moves a client (new or queued) on if it can: a screened client pairs
//  with an idle worker connection of its tail, one not screened yet is
//  given a tail. False when it must wait.
static bool
s_try_client (sq_core_t *self, sq_conn_t *client, int64_t now)
{
    size_t allowed = s_allowed (self, client, now);
    bool screened = client->handshake == SQ_HANDSHAKE_SCREENED;
    sq_conn_t *worker_conn = screened
                           ? sq_balancer_choose_worker (self->balancer, client, allowed)
                           : sq_balancer_tail_source (self->balancer, client, allowed);
    if (!worker_conn)
        return false;
    if (client->state == SQ_CONN_QUEUED)
        sq_flow_unqueue (self, client);
    if (screened) {
        sq_balancer_idle_remove (self->balancer, worker_conn);
        s_pair (self, client, worker_conn, now);
    }
    else
        s_screen (self, client, worker_conn, now);
    return true;
}

static void
s_client_serve (sq_core_t *self, sq_conn_t *client, int64_t now)
{
    if (!s_try_client (self, client, now))
        s_enqueue (self, client, now);
}

void
sq_pairing_screened (sq_core_t *self, sq_conn_t *client, int64_t now)
{
    s_client_serve (self, client, now);
}

//  Tries every queued client (or only those with a route) again, in order
static void
s_walk_waiting (sq_core_t *self, bool routed_only, int64_t now)
{
    sq_list_t pending;
    sq_list_init (&pending);
    sq_list_move_all (&pending, &self->waiting);
    self->next_widen_ms = INT64_MAX;
    while (!sq_list_empty (&pending)) {
        sq_conn_t *client = sq_list_entry (pending.next, sq_conn_t, wait_node);
        sq_list_remove (&client->wait_node);
        bool routed = sq_balancer_route (self->balancer, client->name) != NULL;
        if ((routed || !routed_only) && s_try_client (self, client, now))
            continue;
        if (client->state != SQ_CONN_QUEUED)
            continue;           //  Closed meanwhile
        sq_list_append (&self->waiting, &client->wait_node);
        int64_t widens = s_widens_at (self, client, now);
        if (widens < self->next_widen_ms)
            self->next_widen_ms = widens;
    }
}

void
sq_pairing_rematch (sq_core_t *self, int64_t now)
{
    s_walk_waiting (self, false, now);
}

//  -------------------------------------------------------------------------
//  Workers

//  The queued client that should take this worker connection: first one
//  whose route names the worker, else the first that accepts any worker
static sq_conn_t *
s_client_for (sq_core_t *self, const sq_conn_t *worker_conn, int64_t now)
{
    sq_list_t *queue = sq_balancer_queue (self->balancer, worker_conn->pool);
    if (!queue)
        return NULL;
    sq_conn_t *fallback = NULL;
    for (sq_list_node_t *node = queue->next; node != queue; node = node->next) {
        sq_conn_t *client = sq_list_entry (node, sq_conn_t, state_node);
        size_t allowed = s_allowed (self, client, now);
        if (!sq_balancer_accepts (self->balancer, client, allowed, worker_conn->worker))
            continue;
        const sq_route_t *route = sq_balancer_route (self->balancer, client->name);
        if (route && sq_balancer_accepts (self->balancer, client, route->count,
                                          worker_conn->worker))
            return client;
        if (!fallback)
            fallback = client;
    }
    return fallback;
}

//  True when the client's route names this worker
static bool
s_routed_to (sq_core_t *self, const sq_conn_t *client, const sq_worker_t *worker)
{
    const sq_route_t *route = sq_balancer_route (self->balancer, client->name);
    return route && sq_balancer_accepts (self->balancer, client, route->count, worker);
}

//  Picks the clients waiting for any tail of the worker connection's
//  mechanism that accept its worker, in their order: those whose route
//  names it, or when there are none, all of them. Returns how many.
static size_t
s_pick_for_tail (sq_core_t *self, const sq_conn_t *worker_conn, sq_conn_t **picked,
                 size_t room, int64_t now)
{
    sq_list_t *queue = sq_balancer_queue (self->balancer, worker_conn->greeting.mechanism);
    size_t found = 0;
    for (int pass = 0; pass < 2 && found == 0; pass++)
        for (sq_list_node_t *node = queue->next; node != queue && found < room;
             node = node->next) {
            sq_conn_t *client = sq_list_entry (node, sq_conn_t, state_node);
            if ((pass == 1 || s_routed_to (self, client, worker_conn->worker))
            &&  sq_balancer_accepts (self->balancer, client, s_allowed (self, client, now),
                                     worker_conn->worker))
                picked [found++] = client;
        }
    return found;
}

//  An idle worker connection gives its tail to the clients that wait for
//  any tail of its mechanism (s_pick_for_tail), while it stays idle. They
//  are picked first, then screened, as screening one may pair it, close
//  it, or change the queue. The first to pass its screening gets it.
static void
s_offer_tail (sq_core_t *self, sq_conn_t *worker_conn, int64_t now)
{
    size_t count = sq_balancer_queued_count (self->balancer);
    if (!sq_balancer_queue (self->balancer, worker_conn->greeting.mechanism) || count == 0)
        return;
    sq_conn_t **picked = calloc (count, sizeof (sq_conn_t *));
    size_t found = picked? s_pick_for_tail (self, worker_conn, picked, count, now): 0;
    for (size_t index = 0; index < found && worker_conn->state == SQ_CONN_IDLE; index++) {
        sq_conn_t *client = picked [index];
        if (client->state != SQ_CONN_QUEUED || client->handshake != SQ_HANDSHAKE_NONE)
            continue;
        sq_flow_unqueue (self, client);
        s_screen (self, client, worker_conn, now);
    }
    free (picked);
}

//  Gives a worker connection (attached to its worker) to a screened
//  client waiting for its tail, or makes it idle and offers its tail
static void
s_worker_offer (sq_core_t *self, sq_conn_t *worker_conn, int64_t now)
{
    sq_conn_t *client = s_client_for (self, worker_conn, now);
    if (client) {
        sq_flow_unqueue (self, client);
        s_pair (self, client, worker_conn, now);
        return;
    }
    worker_conn->state = SQ_CONN_IDLE;
    sq_balancer_idle_add (self->balancer, worker_conn, now);
    sq_conn_log (worker_conn, "idle (worker %s, %s%s)", worker_conn->worker->name,
                 worker_conn->pool, worker_conn->worker->draining? ", draining": "");
    s_offer_tail (self, worker_conn, now);
}

static bool
s_worker_attach (sq_core_t *self, sq_conn_t *worker_conn, int64_t now)
{
    worker_conn->worker = sq_balancer_worker_attach (self->balancer, worker_conn->name, now);
    if (worker_conn->worker)
        return true;
    sq_flow_close (self, worker_conn, SQ_CLOSED_OTHER, "out of memory", now);
    return false;
}

//  -------------------------------------------------------------------------
//  Greeting done, naming

static void
s_serve (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    conn->ready_ms = now;
    if (conn->side == SQ_FRONTEND) {
        snprintf (conn->pool, sizeof conn->pool, "%s", conn->greeting.mechanism);
        s_client_serve (self, conn, now);
        return;
    }
    sq_greeting_pool_key (&conn->greeting, conn->pool, sizeof conn->pool);
    if (s_worker_attach (self, conn, now))
        s_worker_offer (self, conn, now);
}

void
sq_pairing_ready (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    conn->greeted_ms = now;
    if (!conn->identified && self->config.identify_wait_ms > 0) {
        conn->state = SQ_CONN_NAMING;
        conn->waiting_since_ms = now;
        sq_list_append (&self->naming, &conn->state_node);
        return;
    }
    s_serve (self, conn, now);
}

//  Moves a worker connection from its worker to the worker of a new name
static void
s_rename_worker_conn (sq_core_t *self, sq_conn_t *conn, const char *name, int64_t now)
{
    bool idle = conn->state == SQ_CONN_IDLE;
    bool paired = conn->state == SQ_CONN_PAIRED;
    if (idle)
        sq_balancer_idle_remove (self->balancer, conn);
    if (paired)
        sq_balancer_pair_ended (self->balancer, conn->worker);
    sq_balancer_worker_detach (self->balancer, conn->worker);
    snprintf (conn->name, sizeof conn->name, "%s", name);
    if (!s_worker_attach (self, conn, now))
        return;
    if (paired)
        sq_balancer_pair_started (self->balancer, conn->worker, now);
    if (idle)
        s_worker_offer (self, conn, now);
}

//  A registration arrived for a live connection
static void
s_rename (sq_core_t *self, sq_conn_t *conn, const char *name, int64_t now)
{
    conn->identified = true;
    if (strcmp (conn->name, name) != 0)
        sq_conn_log (conn, "named %s (was %s)", name, conn->name);
    if (conn->state == SQ_CONN_NAMING) {
        snprintf (conn->name, sizeof conn->name, "%s", name);
        sq_list_remove (&conn->state_node);
        s_serve (self, conn, now);
    }
    else
    if (strcmp (conn->name, name) == 0)
        return;
    else
    if (conn->worker && (conn->state == SQ_CONN_IDLE || conn->state == SQ_CONN_PAIRED))
        s_rename_worker_conn (self, conn, name, now);
    else {
        snprintf (conn->name, sizeof conn->name, "%s", name);
        if (conn->state == SQ_CONN_QUEUED)
            sq_pairing_rematch (self, now);     //  A route may apply now
    }
}

bool
sq_core_identify (sq_core_t *self, sq_side_t side, const char *address,
                  const char *name, int64_t now)
{
    char key [SQ_ADDRESS_KEY_MAX];
    sq_conn_address_key (side, address, key, sizeof key);
    sq_conn_t *conn = sq_dict_lookup (self->by_address, key);
    if (!conn || conn->state == SQ_CONN_DEAD) {
        sq_identity_register (self->identity, side, address, name,
                              now + self->config.identify_timeout_ms);
        return false;
    }
    s_rename (self, conn, name, now);
    return true;
}

//  -------------------------------------------------------------------------
//  Timers

void
sq_pairing_tick (sq_core_t *self, int64_t now)
{
    sq_identity_expire (self->identity, now);
    sq_list_node_t *first;
    while ((first = sq_list_first (&self->naming))) {
        sq_conn_t *conn = sq_list_entry (first, sq_conn_t, state_node);
        if (conn->waiting_since_ms + self->config.identify_wait_ms > now)
            break;
        sq_list_remove (&conn->state_node);
        s_serve (self, conn, now);
    }
    if (now >= self->next_widen_ms)
        s_walk_waiting (self, true, now);
}

int64_t
sq_pairing_next_due (sq_core_t *self)
{
    int64_t next = self->next_widen_ms;
    int64_t expiry = sq_identity_next_expiry (self->identity);
    if (expiry < next)
        next = expiry;
    sq_list_node_t *first = sq_list_first (&self->naming);
    if (first) {
        int64_t due = sq_list_entry (first, sq_conn_t, state_node)->waiting_since_ms
                    + self->config.identify_wait_ms;
        if (due < next)
            next = due;
    }
    return next;
}

//  -------------------------------------------------------------------------
//  Routing changes from the control socket

bool
sq_core_route (sq_core_t *self, const char *client, const char **workers, size_t count,
               int64_t now)
{
    if (!sq_balancer_route_set (self->balancer, client, workers, count))
        return false;
    sq_pairing_rematch (self, now);
    return true;
}

bool
sq_core_unroute (sq_core_t *self, const char *client, int64_t now)
{
    if (!sq_balancer_route_delete (self->balancer, client))
        return false;
    sq_pairing_rematch (self, now);
    return true;
}

bool
sq_core_set_draining (sq_core_t *self, const char *worker, bool draining, int64_t now)
{
    if (!sq_balancer_set_draining (self->balancer, worker, draining))
        return false;
    sq_info ("worker %s %s", worker, draining? "draining": "no longer draining");
    if (!draining)
        sq_pairing_rematch (self, now);
    return true;
}

void
sq_core_routing_changed (sq_core_t *self, int64_t now)
{
    sq_pairing_rematch (self, now);
}

bool
sq_core_set_weight (sq_core_t *self, const char *worker, unsigned weight)
{
    return sq_balancer_set_weight (self->balancer, worker, weight);
}

bool
sq_core_set_load (sq_core_t *self, const char *worker, double load)
{
    return sq_balancer_set_load (self->balancer, worker, load);
}
