/*  =========================================================================
    sq_core - the core's entry points: events from the engine, timers,
    steering and read access; no I/O

    A connection moves GREETING -> (NAMING) -> SCREENING (client) or IDLE
    (worker) -> QUEUED (client, while no worker fits) -> PAIRED -> CLOSING
    -> DEAD. Each state keeps the connection in exactly one list through
    state_node: the greeting, naming or screening list, a pool's queue or
    idle list, the closing list, or the dead list. Work that can remove
    connections (closing a partner, an engine reporting a peer gone) may
    run in the middle of an event, so connections are never freed before
    the event is over: they go to the dead list and are freed at its end.
    The work itself is done by the files sq_core_private.h lists.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include "sq_core_private.h"
#include "sq_log.h"
#include "sq_clock.h"

//  How often held bytes are offered again without news from the engine
#define S_BLOCKED_RETRY_MS 10

void
sq_core_config_defaults (sq_core_config_t *config)
{
    config->greeting_timeout_ms = 5000;
    config->queue_timeout_ms = 10000;
    config->close_linger_ms = 100;
    config->max_queue = 1000;
    config->max_queue_per_ip = 100;
    config->handshake_timeout_ms = 5000;
    config->handshake_ban_ms = 30000;
    config->handshake_ban_max_ms = 3600000;
    config->max_early = 64 * 1024;
    config->identify_wait_ms = 0;
    config->identify_timeout_ms = 10000;
    config->route_wait_ms = 500;
    config->route_fallback_any = true;
    config->heartbeat_interval_ms = 1000;
    config->heartbeat_liveness = 3;
    config->pair_idle_timeout_ms = 0;
    config->pair_max_lifetime_ms = 0;
    config->max_pair_buffer = 8 * 1024 * 1024;
    config->max_buffer = 256 * 1024 * 1024;
    config->slow_peer_block = false;
    config->slow_peer_timeout_ms = 0;
    memset (&config->limits, 0, sizeof config->limits);
    config->mechanisms [SQ_FRONTEND] = NULL;
    config->mechanisms [SQ_BACKEND] = NULL;
    config->log_context = NULL;
}

sq_core_t *
sq_core_new (const sq_core_config_t *config, const sq_engine_t *engine)
{
    sq_core_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->engine = *engine;
    self->conns = sq_conn_table_new ();
    self->balancer = sq_balancer_new ();
    self->identity = sq_identity_new ();
    self->by_address = sq_dict_new ();
    self->heartbeat = sq_heartbeat_new ();
    self->admission = sq_admission_new ();
    self->bans = sq_bans_new ();
    self->queued_by_host = sq_tally_new ();
    if (!self->conns || !self->balancer || !self->identity || !self->by_address
    ||  !self->heartbeat || !self->admission || !self->bans || !self->queued_by_host) {
        sq_core_destroy (&self);
        return NULL;
    }
    sq_list_init (&self->greeting);
    sq_list_init (&self->naming);
    sq_list_init (&self->screening);
    sq_list_init (&self->following);
    sq_list_init (&self->waiting);
    sq_list_init (&self->pairs_by_age);
    sq_list_init (&self->pairs_by_activity);
    self->next_widen_ms = INT64_MAX;
    sq_list_init (&self->closing);
    sq_list_init (&self->blocked);
    sq_list_init (&self->dead);
    self->next_serial = 1;
    self->started_ms = sq_clock_now ();
    return self;
}

void
sq_core_destroy (sq_core_t **self_p)
{
    sq_core_t *self = *self_p;
    if (!self)
        return;
    sq_flow_reap (self);
    //  The table frees the connections; the balancer only frees its own
    //  records, so the table goes after it
    sq_balancer_destroy (&self->balancer);
    sq_conn_table_destroy (&self->conns);
    sq_identity_destroy (&self->identity);
    sq_heartbeat_destroy (&self->heartbeat);
    sq_admission_destroy (&self->admission);
    sq_bans_destroy (&self->bans);
    sq_tally_destroy (&self->queued_by_host);
    if (self->by_address)
        sq_dict_destroy (&self->by_address, NULL);
    free (self);
    *self_p = NULL;
}

sq_conn_t *
sq_core_lookup (sq_core_t *self, sq_side_t side, const uint8_t *id, size_t id_size)
{
    return sq_conn_table_lookup (self->conns, side, id, id_size);
}

//  -------------------------------------------------------------------------
//  The greeting

static void
s_greet (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size, int64_t now)
{
    size_t used = sq_greeting_feed (&conn->greeting, data, size);
    sq_greeting_status_t status = conn->greeting.status;
    if (status == SQ_GREETING_PARTIAL)
        return;
    if (status != SQ_GREETING_DONE) {
        self->stats.rejected_greeting++;
        sq_conn_log (conn, "rejected: %s", sq_greeting_status_str (status));
        sq_flow_close (self, conn, SQ_CLOSED_GREETING, sq_greeting_status_str (status), now);
        return;
    }
    if (!sq_greeting_mechanism_listed (self->config.mechanisms [conn->side],
                                       conn->greeting.mechanism)) {
        self->stats.rejected_mechanism [conn->side]++;
        sq_conn_log (conn, "rejected: mechanism %s is not allowed",
                          conn->greeting.mechanism);
        sq_flow_close (self, conn, SQ_CLOSED_GREETING, "mechanism not allowed", now);
        return;
    }
    sq_list_remove (&conn->state_node);     //  Off the greeting list
    sq_debug ("%s #%llu greeting: ZMTP %d.%d %s", sq_side_name (conn->side),
              (unsigned long long) conn->serial, sq_greeting_major (&conn->greeting),
              sq_greeting_minor (&conn->greeting), conn->greeting.mechanism);
    if (sq_flow_keep_early (self, conn, data + used, size - used, now))
        sq_pairing_ready (self, conn, now);
}

//  -------------------------------------------------------------------------
//  Events from the engine

//  Bytes from a peer of a pair: read while its handshake is followed,
//  then forwarded
static void
s_forward (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size, int64_t now)
{
    if (conn->handshake == SQ_HANDSHAKE_FOLLOWING
    &&  !sq_handshake_follow_bytes (self, conn, data, size, now))
        return;
    sq_liveness_pair_active (self, conn, now);
    sq_flow_send (self, conn->partner, data, size, now);
    if (conn->handoff_due)
        sq_flow_try_handoff (self, conn);
}

//  Bytes from a client waiting for a worker: those of a screened one are
//  read, to keep following its handshake
static void
s_queued (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size, int64_t now)
{
    if (conn->handshake == SQ_HANDSHAKE_SCREENED)
        sq_handshake_screen_bytes (self, conn, data, size, now);
    else
        sq_flow_keep_early (self, conn, data, size, now);
}

//  Bytes from a client being screened. Its tail may have been offered to
//  it alone (its route named the worker): when it fails, the clients
//  still waiting may take that worker.
static void
s_screening (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
             int64_t now)
{
    sq_screen_t screen = sq_handshake_screen_bytes (self, conn, data, size, now);
    if (screen == SQ_SCREEN_PASSED)
        sq_pairing_screened (self, conn, now);
    else
    if (screen == SQ_SCREEN_FAILED)
        sq_pairing_rematch (self, now);
}

static void
s_core_received (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
                 int64_t now)
{
    conn->bytes_in += size;
    switch (conn->state) {
        case SQ_CONN_GREETING:
            s_greet (self, conn, data, size, now);
            break;
        case SQ_CONN_SCREENING:
            s_screening (self, conn, data, size, now);
            break;
        case SQ_CONN_QUEUED:
            s_queued (self, conn, data, size, now);
            break;
        case SQ_CONN_NAMING:
        case SQ_CONN_IDLE:
            sq_flow_keep_early (self, conn, data, size, now);
            break;
        case SQ_CONN_PAIRED:
            s_forward (self, conn, data, size, now);
            break;
        case SQ_CONN_CLOSING:
        case SQ_CONN_DEAD:
            break;      //  Its pair is over: the bytes have no reader
    }
    sq_flow_reap (self);
}

//  The same, its log lines naming the core's service
void
sq_core_received (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
                  int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    s_core_received (self, conn, data, size, now);
    sq_log_set_context (saved);
}

static void
s_core_moved (sq_core_t *self, sq_conn_t *from, uint64_t bytes, int64_t now)
{
    if (bytes == 0 || from->state == SQ_CONN_DEAD)
        return;
    sq_side_t to_side = from->side == SQ_FRONTEND? SQ_BACKEND: SQ_FRONTEND;
    from->bytes_in += bytes;
    self->stats.bytes_to [to_side] += bytes;
    self->stats.chunks_to [to_side]++;
    sq_conn_t *to = from->partner;
    if (!to || from->state != SQ_CONN_PAIRED)
        return;
    to->bytes_out += bytes;
    to->last_out_ms = now;
    sq_liveness_pair_active (self, from, now);
}

//  The same, its log lines naming the core's service
void
sq_core_moved (sq_core_t *self, sq_conn_t *from, uint64_t bytes, int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    s_core_moved (self, from, bytes, now);
    sq_log_set_context (saved);
}

static void
s_core_stalled (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    if (conn->state != SQ_CONN_PAIRED)
        return;
    sq_warning ("%s #%llu %s: slow peer, nothing moved for %lld ms: closing the pair",
                sq_side_name (conn->side), (unsigned long long) conn->serial,
                conn->address, (long long) self->config.slow_peer_timeout_ms);
    sq_flow_close (self, conn, SQ_CLOSED_SLOW, "slow peer timeout", now);
    sq_flow_reap (self);
}

//  The same, its log lines naming the core's service
void
sq_core_stalled (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    s_core_stalled (self, conn, now);
    sq_log_set_context (saved);
}

static void
s_core_disconnected (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    bool screening = conn->state == SQ_CONN_SCREENING;
    sq_flow_lost (self, conn, "peer disconnected", now);
    if (screening)
        sq_pairing_rematch (self, now);
    sq_flow_reap (self);
}

//  The same, its log lines naming the core's service
void
sq_core_disconnected (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    s_core_disconnected (self, conn, now);
    sq_log_set_context (saved);
}

//  When the peer at the head of the greeting list runs out of time. While
//  paused the proxy reads nobody, so that time does not count against them.
static int64_t
s_greeting_due (sq_core_t *self, const sq_conn_t *conn)
{
    int64_t since = conn->created_ms > self->resumed_ms? conn->created_ms: self->resumed_ms;
    return self->paused? INT64_MAX: since + self->config.greeting_timeout_ms;
}

static void
s_expire_greetings (sq_core_t *self, int64_t now)
{
    sq_list_node_t *first;
    while ((first = sq_list_first (&self->greeting))) {
        sq_conn_t *conn = sq_list_entry (first, sq_conn_t, state_node);
        if (s_greeting_due (self, conn) > now)
            break;
        self->stats.rejected_greeting++;
        sq_conn_log (conn, "rejected: greeting timeout");
        sq_flow_close (self, conn, SQ_CLOSED_GREETING, "greeting timeout", now);
    }
}

static void
s_expire_queue (sq_core_t *self, int64_t now)
{
    int64_t deadline = now - self->config.queue_timeout_ms;
    sq_conn_t *client;
    while ((client = sq_balancer_expired_client (self->balancer, deadline))) {
        self->stats.rejected_queue_timeout++;
        sq_flow_close (self, client, SQ_CLOSED_QUEUE, "queue timeout", now);
    }
}

static void
s_core_tick (sq_core_t *self, int64_t now)
{
    sq_flow_flush_blocked (self, now);
    s_expire_greetings (self, now);
    if (sq_handshake_tick (self, now))
        sq_pairing_rematch (self, now);
    s_expire_queue (self, now);
    sq_pairing_tick (self, now);
    sq_liveness_tick (self, now);
    sq_flow_run_closing (self, now);
    sq_admission_tick (self->admission, now);
    sq_arrival_tick (self, now);
    sq_flow_reap (self);
}

//  The same, its log lines naming the core's service
void
sq_core_tick (sq_core_t *self, int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    s_core_tick (self, now);
    sq_log_set_context (saved);
}

//  The earliest of the due times of every timer
static int64_t
s_next_due (sq_core_t *self)
{
    int64_t due [] = {
        INT64_MAX, sq_handshake_next_due (self), sq_flow_next_close (self),
        sq_pairing_next_due (self), sq_liveness_next_due (self), sq_arrival_next_due (self)
    };
    sq_list_node_t *first = sq_list_first (&self->greeting);
    if (first)
        due [0] = s_greeting_due (self, sq_list_entry (first, sq_conn_t, state_node));
    int64_t oldest = sq_balancer_oldest_wait (self->balancer);
    int64_t next = oldest == INT64_MAX? INT64_MAX: oldest + self->config.queue_timeout_ms;
    for (size_t index = 0; index < sizeof due / sizeof due [0]; index++)
        if (due [index] < next)
            next = due [index];
    return next;
}

int64_t
sq_core_next_timeout (sq_core_t *self, int64_t now)
{
    int64_t next = s_next_due (self);
    //  The engine wakes the loop when a full peer drains; this retry only
    //  covers an engine that cannot tell
    if (!sq_list_empty (&self->blocked) && now + S_BLOCKED_RETRY_MS < next)
        next = now + S_BLOCKED_RETRY_MS;
    if (next == INT64_MAX)
        return -1;
    return next > now? next - now: 0;
}

void
sq_core_reconfigure (sq_core_t *self, const sq_core_config_t *config)
{
    size_t max_early = self->config.max_early;
    size_t lowered [2] = {
        self->config.limits.max_connections [SQ_FRONTEND],
        self->config.limits.max_connections [SQ_BACKEND]
    };
    self->config = *config;
    self->config.max_early = max_early;
    //  A limit lowered for want of descriptors stays low until it is
    //  restored, to the new value
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (self->limit_lowered [side]) {
            self->limit_configured [side] = config->limits.max_connections [side];
            self->config.limits.max_connections [side] = lowered [side];
        }
    //  Bounds and policy may have changed: what is over them now
    sq_flow_bounds_changed (self);
}

//  Not in a pair, and not on the way out
static bool
s_unpaired (const sq_conn_t *conn, const void *unused)
{
    (void) unused;
    return conn->state != SQ_CONN_PAIRED && conn->state != SQ_CONN_CLOSING;
}

void
sq_core_drain_all (sq_core_t *self, int64_t now)
{
    if (self->draining_all)
        return;
    self->draining_all = true;
    sq_info ("draining: %zu pairs may finish; no new connection is accepted",
             self->active_pairs);
    sq_liveness_close_where (self, s_unpaired, NULL, SQ_CLOSED_SHUTDOWN, "proxy draining", now);
    sq_flow_reap (self);
}

bool
sq_core_draining_all (sq_core_t *self)
{
    return self->draining_all;
}

void
sq_core_close_all (sq_core_t *self, int64_t now)
{
    self->closing_all = true;
    sq_list_t *all = sq_conn_table_all (self->conns);
    while (!sq_list_empty (all))
        sq_flow_close_now (self, sq_list_entry (all->next, sq_conn_t, all_node), now);
    sq_flow_reap (self);
}

//  -------------------------------------------------------------------------
//  Steering and read access

void
sq_core_set_paused (sq_core_t *self, bool paused, int64_t now)
{
    if (self->paused && !paused)
        self->resumed_ms = now;
    self->paused = paused;
}

bool
sq_core_paused (sq_core_t *self)
{
    return self->paused;
}

void
sq_core_terminate (sq_core_t *self)
{
    self->terminating = true;
}

bool
sq_core_terminating (sq_core_t *self)
{
    return self->terminating;
}

const sq_core_stats_t *
sq_core_stats (sq_core_t *self)
{
    return &self->stats;
}

void
sq_core_engine_figures (sq_core_t *self, sq_engine_figures_t *figures)
{
    memset (figures, 0, sizeof *figures);
    figures->name = "";
    if (self->engine.figures)
        self->engine.figures (self->engine.handle, figures);
}

sq_conn_table_t *
sq_core_conns (sq_core_t *self)
{
    return self->conns;
}

sq_balancer_t *
sq_core_balancer (sq_core_t *self)
{
    return self->balancer;
}

sq_identity_t *
sq_core_identity (sq_core_t *self)
{
    return self->identity;
}

const sq_core_config_t *
sq_core_config (sq_core_t *self)
{
    return &self->config;
}

size_t
sq_core_connections (sq_core_t *self)
{
    return sq_conn_table_count (self->conns, SQ_FRONTEND)
         + sq_conn_table_count (self->conns, SQ_BACKEND);
}

size_t
sq_core_active_pairs (sq_core_t *self)
{
    return self->active_pairs;
}

int64_t
sq_core_started (sq_core_t *self)
{
    return self->started_ms;
}

//  Clients in a list, by counting (for STATS and the metrics, not events)
static size_t
s_count (const sq_list_t *list)
{
    size_t count = 0;
    for (const sq_list_node_t *node = list->next; node != list; node = node->next)
        count++;
    return count;
}

size_t
sq_core_screening (sq_core_t *self)
{
    return s_count (&self->screening);
}

size_t
sq_core_following (sq_core_t *self)
{
    return s_count (&self->following);
}

uint64_t
sq_core_handshakes_failed (sq_core_t *self)
{
    uint64_t total = 0;
    for (int failure = 0; failure < SQ_HS_FAILED_COUNT; failure++)
        total += self->stats.handshakes_failed [failure];
    return total;
}

sq_bans_t *
sq_core_bans (sq_core_t *self)
{
    return self->bans;
}

bool
sq_core_unban (sq_core_t *self, const char *key)
{
    bool found = sq_bans_clear (self->bans, key);
    if (found)
        sq_info ("ban of %s lifted", key);
    return found;
}
