/*  =========================================================================
    sq_core - greeting, pairing, forwarding, timers; no I/O

    A connection moves GREETING -> QUEUED (client) or IDLE (worker) ->
    PAIRED -> CLOSING -> DEAD. Each state keeps the connection in exactly one
    list through state_node: the greeting list, a pool's queue or idle list,
    the closing list, or the dead list. Work that can remove connections
    (closing a partner, an engine reporting a peer gone) may run in the middle
    of an event, so connections are never freed before the event is over:
    they go to the dead list and s_reap frees them at the end.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <assert.h>
#include "sq_core_private.h"
#include "sq_log.h"
#include "sq_clock.h"

//  How long a closing connection may wait for its held bytes to drain
#define S_CLOSE_FLUSH_MS 5000
//  How often held bytes are offered again without news from the engine
#define S_BLOCKED_RETRY_MS 10


static void s_lost (sq_core_t *self, sq_conn_t *conn, const char *reason, int64_t now);
static void s_pair_active (sq_core_t *self, sq_conn_t *conn, int64_t now);

void
sq_core_config_defaults (sq_core_config_t *config)
{
    config->greeting_timeout_ms = 5000;
    config->queue_timeout_ms = 10000;
    config->close_linger_ms = 100;
    config->max_queue = 1000;
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
    if (!self->conns || !self->balancer || !self->identity || !self->by_address
    ||  !self->heartbeat || !self->admission) {
        sq_core_destroy (&self);
        return NULL;
    }
    sq_list_init (&self->greeting);
    sq_list_init (&self->naming);
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

static void
s_reap (sq_core_t *self)
{
    while (!sq_list_empty (&self->dead)) {
        sq_conn_t *conn = sq_list_entry (self->dead.next, sq_conn_t, state_node);
        sq_list_remove (&conn->state_node);
        sq_conn_destroy (&conn);
    }
}

void
sq_core_destroy (sq_core_t **self_p)
{
    sq_core_t *self = *self_p;
    if (!self)
        return;
    s_reap (self);
    //  The table frees the connections; the balancer only frees its own
    //  records, so the table goes after it
    sq_balancer_destroy (&self->balancer);
    sq_conn_table_destroy (&self->conns);
    sq_identity_destroy (&self->identity);
    sq_heartbeat_destroy (&self->heartbeat);
    sq_admission_destroy (&self->admission);
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

//  Logs one event of one connection, at info level, printf-style
void
sq_core_log_conn (const sq_conn_t *conn, const char *format, ...)
{
    if (!sq_log_enabled (SQ_LOG_INFO))
        return;
    char event [256];
    va_list args;
    va_start (args, format);
    vsnprintf (event, sizeof event, format, args);
    va_end (args);
    sq_info ("%s #%llu %s %s", sq_side_name (conn->side),
             (unsigned long long) conn->serial, conn->address, event);
}

//  -------------------------------------------------------------------------
//  Sending, with bytes held when the engine would block

static void
s_count_out (sq_core_t *self, sq_conn_t *conn, size_t size, int64_t now)
{
    conn->bytes_out += size;
    conn->last_out_ms = now;
    self->stats.bytes_to [conn->side] += size;
    self->stats.chunks_to [conn->side]++;
}

//  -------------------------------------------------------------------------
//  Bounds on held bytes. ZMQ_STREAM cannot stop reading one connection, so
//  what a slow peer does not take piles up here. A pair may hold
//  max_pair_buffer bytes (both ways together), all connections max_buffer.
//  Past a bound the proxy either closes the pair (the peers see a lost
//  connection: bytes are dropped only together with the connection, never
//  from the middle of a live stream), or stops reading the side that feeds
//  the bytes until they drain to half the bound.

static size_t
s_pair_held (const sq_conn_t *conn)
{
    return conn->outq.size + (conn->partner? conn->partner->outq.size: 0);
}

//  The side whose peers sent the bytes held for conn
static sq_side_t
s_feeder (const sq_conn_t *conn)
{
    return conn->side == SQ_FRONTEND? SQ_BACKEND: SQ_FRONTEND;
}

//  Block mode: the conn of a pair that holds more of its bytes marks the
//  pair over its bound, so that only the side feeding them stops
static void
s_mark_over (sq_core_t *self, sq_conn_t *conn)
{
    bool over = false;
    size_t bound = self->config.max_pair_buffer;
    if (conn->state != SQ_CONN_DEAD && conn->outq.size > 0
    &&  (!conn->partner || conn->partner->outq.size <= conn->outq.size))
        over = s_pair_held (conn) > (conn->over? bound / 2: bound);
    if (over != conn->over) {
        conn->over = over;
        if (over)
            self->over [s_feeder (conn)]++;
        else
            self->over [s_feeder (conn)]--;
    }
}

static void
s_update_over_total (sq_core_t *self)
{
    size_t bound = self->config.max_buffer;
    self->total_over = self->config.slow_peer_block
                    && self->held_total > (self->total_over? bound / 2: bound);
}

static void
s_update_over (sq_core_t *self, sq_conn_t *conn)
{
    if (!self->config.slow_peer_block)
        return;
    s_mark_over (self, conn);
    if (conn->partner)
        s_mark_over (self, conn->partner);
    s_update_over_total (self);
}

//  Bytes held for conn grew (delta > 0) or shrank
static void
s_held_changed (sq_core_t *self, sq_conn_t *conn, long long delta)
{
    self->held_total = (size_t) ((long long) self->held_total + delta);
    sq_side_t feeder = s_feeder (conn);
    self->held_fed [feeder] = (size_t) ((long long) self->held_fed [feeder] + delta);
    s_update_over (self, conn);
}

//  Drops what is held for conn
static void
s_held_drop (sq_core_t *self, sq_conn_t *conn)
{
    size_t size = conn->outq.size;
    sq_buf_clear (&conn->outq);
    sq_list_remove (&conn->blocked_node);
    if (size)
        s_held_changed (self, conn, -(long long) size);
}

//  Disconnect mode: closes a slow pair at once, with what it holds
static void
s_close_slow (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    sq_conn_t *partner = conn->partner;
    size_t held = s_pair_held (conn);
    sq_warning ("%s #%llu %s: slow peer, its pair holds %zu bytes: closing the pair",
                sq_side_name (conn->side), (unsigned long long) conn->serial,
                conn->address, held);
    conn->discard = true;
    s_held_drop (self, conn);
    if (partner) {
        partner->discard = true;
        s_held_drop (self, partner);
    }
    sq_core_close_conn (self, conn, SQ_CLOSED_SLOW, "slow peer", now);
}

//  Disconnect mode: past max_buffer, closes the pairs that hold the most
//  until under it. Rare, so a pass over the holders is fine.
static void
s_shed (sq_core_t *self, int64_t now)
{
    while (self->held_total > self->config.max_buffer) {
        sq_conn_t *largest = NULL;
        for (sq_list_node_t *node = self->blocked.next; node != &self->blocked;
             node = node->next) {
            sq_conn_t *conn = sq_list_entry (node, sq_conn_t, blocked_node);
            if (!largest || s_pair_held (conn) > s_pair_held (largest))
                largest = conn;
        }
        if (!largest)
            break;
        s_close_slow (self, largest, now);
    }
}

//  After bytes were held for conn: applies the disconnect policy
static void
s_enforce_bounds (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    if (self->config.slow_peer_block)
        return;
    if (s_pair_held (conn) > self->config.max_pair_buffer)
        s_close_slow (self, conn, now);
    if (self->held_total > self->config.max_buffer)
        s_shed (self, now);
}

bool
sq_core_reading (sq_core_t *self, sq_side_t side)
{
    if (self->paused)
        return false;
    bool stopped = self->over [side] > 0
                || (self->total_over && self->held_fed [side] > 0);
    if (stopped != self->reading_stopped [side]) {
        self->reading_stopped [side] = stopped;
        if (stopped) {
            self->stats.reading_stops [side]++;
            sq_info ("%s: reading stopped, %zu bytes held (a slow peer; --slow-peer=block)",
                     sq_side_name (side), self->held_total);
        }
        else
            sq_info ("%s: reading resumed, %zu bytes held", sq_side_name (side),
                     self->held_total);
    }
    return !stopped;
}

size_t
sq_core_held (sq_core_t *self)
{
    return self->held_total;
}

//  Hands bytes to the engine, or holds them behind what is held already
void
sq_core_send (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size, int64_t now)
{
    if (size == 0 || conn->state == SQ_CONN_DEAD || conn->discard)
        return;
    if (sq_buf_empty (&conn->outq)) {
        sq_send_result_t result = self->engine.send (self->engine.handle, conn, data, size);
        if (result == SQ_SEND_OK) {
            s_count_out (self, conn, size, now);
            return;
        }
        if (result == SQ_SEND_GONE) {
            s_lost (self, conn, "gone when sent to", now);
            return;
        }
    }
    if (!sq_buf_append (&conn->outq, data, size)) {
        sq_error ("out of memory holding %zu bytes", size);
        sq_core_close_conn (self, conn, SQ_CLOSED_OTHER, "out of memory", now);
        return;
    }
    if (!sq_list_linked (&conn->blocked_node))
        sq_list_append (&self->blocked, &conn->blocked_node);
    s_held_changed (self, conn, (long long) size);
    s_enforce_bounds (self, conn, now);
}

//  -------------------------------------------------------------------------
//  Handing pairs to the engine

//  Hands the pair of conn to the engine if its handshake is over and
//  nothing is held for either connection; else it waits for the flush
static void
s_try_handoff (sq_core_t *self, sq_conn_t *conn)
{
    sq_conn_t *partner = conn->partner;
    if (!conn->handoff_due || conn->state != SQ_CONN_PAIRED || !partner
    ||  !sq_buf_empty (&conn->outq) || !sq_buf_empty (&partner->outq))
        return;
    conn->handoff_due = partner->handoff_due = false;
    sq_conn_t *client = conn->side == SQ_FRONTEND? conn: partner;
    sq_conn_t *worker_conn = conn->side == SQ_BACKEND? conn: partner;
    if (self->engine.handoff (self->engine.handle, client, worker_conn)) {
        client->handed_off = worker_conn->handed_off = true;
        sq_debug ("frontend #%llu and backend #%llu: handed to the engine",
                  (unsigned long long) client->serial,
                  (unsigned long long) worker_conn->serial);
    }
}

void
sq_core_handoff (sq_core_t *self, sq_conn_t *client, int64_t now)
{
    (void) now;
    if (!self->engine.handoff || client->state != SQ_CONN_PAIRED || !client->partner
    ||  client->handed_off)
        return;
    client->handoff_due = client->partner->handoff_due = true;
    s_try_handoff (self, client);
}

void
sq_core_moved (sq_core_t *self, sq_conn_t *from, uint64_t bytes, int64_t now)
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
    s_pair_active (self, from, now);
}

void
sq_core_stalled (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    if (conn->state != SQ_CONN_PAIRED)
        return;
    sq_warning ("%s #%llu %s: slow peer, nothing moved for %lld ms: closing the pair",
                sq_side_name (conn->side), (unsigned long long) conn->serial,
                conn->address, (long long) self->config.slow_peer_timeout_ms);
    sq_core_close_conn (self, conn, SQ_CLOSED_SLOW, "slow peer timeout", now);
    s_reap (self);
}

//  Offers held bytes to the engine again, oldest first, until it blocks
static void
s_flush (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    const uint8_t *data;
    size_t size;
    while (sq_buf_peek (&conn->outq, &data, &size)) {
        sq_send_result_t result = self->engine.send (self->engine.handle, conn, data, size);
        if (result == SQ_SEND_AGAIN)
            break;
        if (result == SQ_SEND_GONE) {
            s_lost (self, conn, "gone when sent to", now);
            return;
        }
        s_count_out (self, conn, size, now);
        sq_buf_pop (&conn->outq);
        s_held_changed (self, conn, -(long long) size);
    }
    if (sq_buf_empty (&conn->outq) && conn->handoff_due)
        s_try_handoff (self, conn);
    if (sq_buf_empty (&conn->outq))
        sq_list_remove (&conn->blocked_node);
    else
    if (!sq_list_linked (&conn->blocked_node))
        sq_list_append (&self->blocked, &conn->blocked_node);
}

static void
s_flush_blocked (sq_core_t *self, int64_t now)
{
    sq_list_t pending;
    sq_list_init (&pending);
    sq_list_move_all (&pending, &self->blocked);
    while (!sq_list_empty (&pending)) {
        sq_conn_t *conn = sq_list_entry (pending.next, sq_conn_t, blocked_node);
        sq_list_remove (&conn->blocked_node);
        s_flush (self, conn, now);
    }
}

//  -------------------------------------------------------------------------
//  Leaving a state, closing, losing

//  A pair ends: its over mark, if any, no longer stops reading
static void
s_forget_over (sq_core_t *self, sq_conn_t *conn)
{
    if (conn->over) {
        conn->over = false;
        self->over [s_feeder (conn)]--;
    }
}

//  Takes the connection out of the structures of its current state and
//  returns the partner it was paired with, if any (now unpaired); a pair
//  that ends counts in the pair duration histogram
static sq_conn_t *
s_leave_state (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    sq_conn_t *partner = NULL;
    switch (conn->state) {
        case SQ_CONN_QUEUED:
            sq_pairing_unqueue (self, conn);
            break;
        case SQ_CONN_IDLE:
            sq_balancer_idle_remove (self->balancer, conn);
            break;
        case SQ_CONN_PAIRED:
            partner = conn->partner;
            if (partner) {
                s_forget_over (self, conn);
                s_forget_over (self, partner);
                sq_conn_t *worker_conn = conn->side == SQ_BACKEND? conn: partner;
                sq_conn_t *client = conn->side == SQ_FRONTEND? conn: partner;
                sq_list_remove (&client->age_node);
                sq_list_remove (&client->activity_node);
                sq_balancer_pair_ended (self->balancer, worker_conn->worker);
                sq_histogram_observe (&self->stats.pair_duration, now - client->paired_ms);
                self->active_pairs--;
                partner->partner = NULL;
                conn->partner = NULL;
            }
            break;
        default:
            sq_list_remove (&conn->state_node);
            break;
    }
    return partner;
}

//  The connection is gone for good: out of every table, freed at reap
static void
s_kill (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    conn->state = SQ_CONN_DEAD;
    self->stats.closed [conn->close_code]++;
    sq_conn_table_remove (self->conns, conn);
    char key [SQ_ADDRESS_KEY_MAX];
    sq_conn_address_key (conn->side, conn->address, key, sizeof key);
    if (sq_dict_lookup (self->by_address, key) == conn)
        sq_dict_delete (self->by_address, key);
    s_held_drop (self, conn);
    s_forget_over (self, conn);
    if (conn->admitted)
        sq_admission_left (self->admission, conn->side, conn->host, now);
    if (conn->worker) {
        sq_balancer_worker_detach (self->balancer, conn->worker);
        conn->worker = NULL;
    }
    sq_list_append (&self->dead, &conn->state_node);
    sq_core_log_conn (conn, "closed: %s (in %llu B, out %llu B, %lld ms)",
                conn->close_reason? conn->close_reason: "unknown",
                (unsigned long long) conn->bytes_in,
                (unsigned long long) conn->bytes_out,
                (long long) (now - conn->created_ms));
}

//  The peer left (or the engine lost it): drop it and close its partner
static void
s_lost (sq_core_t *self, sq_conn_t *conn, const char *reason, int64_t now)
{
    if (conn->state == SQ_CONN_DEAD)
        return;
    sq_conn_t *partner = s_leave_state (self, conn, now);
    if (!conn->close_reason) {
        conn->close_reason = reason;
        conn->close_code = SQ_CLOSED_PEER;
    }
    s_kill (self, conn, now);
    if (partner)
        sq_core_close_conn (self, partner, SQ_CLOSED_PARTNER, "partner disconnected", now);
}

//  libzmq drops what is still queued for a connection when it is closed,
//  so a connection that was just written gets close_linger_ms to drain
static int64_t
s_close_due (sq_core_t *self, const sq_conn_t *conn)
{
    //  A slow pair's bytes are dropped anyway: nothing to wait for
    if (conn->discard)
        return conn->close_at_ms;
    int64_t lingered = conn->last_out_ms + self->config.close_linger_ms;
    return lingered > conn->close_at_ms? lingered: conn->close_at_ms;
}

//  Asks the engine to close a closing connection that is due
static void
s_finish (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    sq_send_result_t result = self->engine.close (self->engine.handle, conn);
    if (result == SQ_SEND_AGAIN) {
        conn->close_at_ms = now + 1;        //  Try again shortly
        return;
    }
    sq_list_remove (&conn->state_node);
    s_kill (self, conn, now);
}

//  The proxy closes a connection (and its partner): at once when nothing is
//  held for it and nothing was just written, else once that has drained
void
sq_core_close_conn (sq_core_t *self, sq_conn_t *conn, sq_closed_t code, const char *reason,
                    int64_t now)
{
    if (conn->state == SQ_CONN_DEAD || conn->state == SQ_CONN_CLOSING)
        return;
    sq_conn_t *partner = s_leave_state (self, conn, now);
    conn->close_reason = reason;
    conn->close_code = code;
    conn->state = SQ_CONN_CLOSING;
    conn->close_at_ms = now;
    sq_list_append (&self->closing, &conn->state_node);
    if (partner)
        sq_core_close_conn (self, partner, SQ_CLOSED_PARTNER, "partner disconnected", now);
    if (sq_buf_empty (&conn->outq) && s_close_due (self, conn) <= now)
        s_finish (self, conn, now);
}

//  Gives each closing connection its chance to drain and close
static void
s_run_closing (sq_core_t *self, int64_t now)
{
    sq_list_t pending;
    sq_list_init (&pending);
    sq_list_move_all (&pending, &self->closing);
    while (!sq_list_empty (&pending)) {
        sq_conn_t *conn = sq_list_entry (pending.next, sq_conn_t, state_node);
        sq_list_remove (&conn->state_node);
        sq_list_append (&self->closing, &conn->state_node);
        if (!sq_buf_empty (&conn->outq)) {
            if (now < conn->close_at_ms + S_CLOSE_FLUSH_MS)
                continue;
            sq_warning ("%s #%llu %s: dropping %zu undelivered bytes at close",
                        sq_side_name (conn->side), (unsigned long long) conn->serial,
                        conn->address, conn->outq.size);
            self->stats.closed_unflushed++;
            s_held_drop (self, conn);
        }
        if (s_close_due (self, conn) <= now)
            s_finish (self, conn, now);
    }
}

//  -------------------------------------------------------------------------
//  Greeting and pairing

//  Closes a connection the core keeps no record of
static void
s_close_unrecorded (sq_core_t *self, sq_side_t side, const uint8_t *id, size_t id_size)
{
    sq_conn_t stub = { .side = side, .id_size = id_size };
    memcpy (stub.id, id, id_size);
    self->engine.close (self->engine.handle, &stub);
}

//  A flood of refusals must not flood the log: the first one is logged,
//  then one summary line per side at most every S_REFUSAL_LOG_MS
#define S_REFUSAL_LOG_MS 10000

static void
s_log_refusal (sq_core_t *self, sq_side_t side, const char *address,
               sq_refusal_t refusal, int64_t now)
{
    if (now >= self->refusal_log_due_ms && self->refused_unlogged [side] == 0) {
        sq_warning ("%s: refused %s (%s)", sq_side_name (side), address,
                    sq_refusal_name (refusal));
        self->refusal_log_due_ms = now + S_REFUSAL_LOG_MS;
    }
    else {
        sq_debug ("%s: refused %s (%s)", sq_side_name (side), address,
                  sq_refusal_name (refusal));
        self->refused_unlogged [side]++;
    }
}

static void
s_log_refusal_summary (sq_core_t *self, int64_t now)
{
    if (now < self->refusal_log_due_ms)
        return;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (self->refused_unlogged [side]) {
            const uint64_t *refused = self->stats.refused [side];
            sq_warning ("%s: refused %llu more connections (totals: denied %llu, "
                        "max_connections %llu, per_ip %llu, rate %llu)",
                        sq_side_name (side),
                        (unsigned long long) self->refused_unlogged [side],
                        (unsigned long long) refused [SQ_REFUSED_DENIED],
                        (unsigned long long) refused [SQ_REFUSED_MAX_CONNECTIONS],
                        (unsigned long long) refused [SQ_REFUSED_PER_IP],
                        (unsigned long long) refused [SQ_REFUSED_RATE]);
            self->refused_unlogged [side] = 0;
            self->refusal_log_due_ms = now + S_REFUSAL_LOG_MS;
        }
}

sq_conn_t *
sq_core_connected (sq_core_t *self, sq_side_t side, const uint8_t *id, size_t id_size,
                   const char *host, const char *address, int64_t now)
{
    sq_refusal_t refusal = self->draining_all? SQ_REFUSED_DRAINING
                         : sq_admission_check (self->admission, &self->config.limits, side,
                                               host, sq_conn_table_count (self->conns, side),
                                               now);
    if (refusal != SQ_ADMITTED) {
        self->stats.refused [side][refusal]++;
        s_log_refusal (self, side, address, refusal, now);
        s_close_unrecorded (self, side, id, id_size);
        return NULL;
    }
    sq_conn_t *conn = sq_conn_new (side, id, id_size);
    if (!conn) {
        sq_error ("out of memory accepting a %s connection", sq_side_name (side));
        sq_admission_left (self->admission, side, host, now);
        s_close_unrecorded (self, side, id, id_size);
        return NULL;
    }
    conn->admitted = true;
    conn->serial = self->next_serial++;
    snprintf (conn->host, sizeof conn->host, "%s", host);
    snprintf (conn->address, sizeof conn->address, "%s", address);
    conn->created_ms = now;
    conn->last_out_ms = now;
    conn->identified = sq_identity_take (self->identity, side, address,
                                         conn->name, sizeof conn->name);
    if (!conn->identified)
        sq_identity_resolve (self->identity, side, host, conn->name, sizeof conn->name);
    char key [SQ_ADDRESS_KEY_MAX];
    sq_conn_address_key (side, address, key, sizeof key);
    sq_dict_insert (self->by_address, key, conn);
    sq_conn_table_insert (self->conns, conn);
    sq_list_append (&self->greeting, &conn->state_node);
    self->stats.accepted [side]++;
    sq_core_log_conn (conn, "accepted (%s)", conn->name);
    sq_core_send (self, conn, sq_greeting_prefix, SQ_GREETING_PREFIX_SIZE, now);
    //  A peer already gone when greeted is dead now, and s_reap frees it:
    //  read its state first
    bool alive = conn->state != SQ_CONN_DEAD;
    s_reap (self);
    return alive? conn: NULL;
}

//  Keeps bytes a peer sends after its greeting, before it has a partner
static void
s_keep_early (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
              int64_t now)
{
    if (size == 0)
        return;
    if (conn->early.size + size > self->config.max_early) {
        self->stats.closed_early_overflow++;
        sq_core_close_conn (self, conn, SQ_CLOSED_OTHER, "sent too much before pairing", now);
        return;
    }
    if (!sq_buf_append (&conn->early, data, size))
        sq_core_close_conn (self, conn, SQ_CLOSED_OTHER, "out of memory", now);
}

static void
s_greet (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size, int64_t now)
{
    size_t used = sq_greeting_feed (&conn->greeting, data, size);
    sq_greeting_status_t status = conn->greeting.status;
    if (status == SQ_GREETING_PARTIAL)
        return;
    if (status != SQ_GREETING_DONE) {
        self->stats.rejected_greeting++;
        sq_core_log_conn (conn, "rejected: %s", sq_greeting_status_str (status));
        sq_core_close_conn (self, conn, SQ_CLOSED_GREETING, sq_greeting_status_str (status), now);
        return;
    }
    if (!sq_greeting_mechanism_listed (self->config.mechanisms [conn->side],
                                       conn->greeting.mechanism)) {
        self->stats.rejected_mechanism [conn->side]++;
        sq_core_log_conn (conn, "rejected: mechanism %s is not allowed",
                          conn->greeting.mechanism);
        sq_core_close_conn (self, conn, SQ_CLOSED_GREETING, "mechanism not allowed", now);
        return;
    }
    sq_list_remove (&conn->state_node);     //  Off the greeting list
    sq_debug ("%s #%llu greeting: ZMTP %d.%d %s", sq_side_name (conn->side),
              (unsigned long long) conn->serial, sq_greeting_major (&conn->greeting),
              sq_greeting_minor (&conn->greeting), conn->greeting.mechanism);
    s_keep_early (self, conn, data + used, size - used, now);
    if (conn->state != SQ_CONN_GREETING)
        return;                             //  Closed by s_keep_early
    sq_pairing_ready (self, conn, now);
}

//  -------------------------------------------------------------------------
//  Liveness: pair idle timeout, pair lifetime, heartbeats

//  A byte passed through a pair: it moves to the back of the idle line
static void
s_pair_active (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    if (self->config.pair_idle_timeout_ms <= 0)
        return;
    sq_conn_t *client = conn->side == SQ_FRONTEND? conn: conn->partner;
    client->last_activity_ms = now;
    sq_list_remove (&client->activity_node);
    sq_list_append (&self->pairs_by_activity, &client->activity_node);
}

//  When a pair counts as silent since: the proxy reads nobody while paused,
//  so that time does not count against a pair. Taking the later of the two
//  times keeps the activity list in order.
static int64_t
s_idle_since (sq_core_t *self, const sq_conn_t *client)
{
    return client->last_activity_ms > self->resumed_ms? client->last_activity_ms
                                                       : self->resumed_ms;
}

//  Both lists are in order of their clock (pairing time, last activity),
//  so only their heads can be due
static void
s_expire_pairs (sq_core_t *self, int64_t now)
{
    int64_t lifetime = self->config.pair_max_lifetime_ms;
    int64_t idle = self->config.pair_idle_timeout_ms;
    sq_list_node_t *first;
    while (lifetime > 0 && (first = sq_list_first (&self->pairs_by_age))) {
        sq_conn_t *client = sq_list_entry (first, sq_conn_t, age_node);
        if (client->paired_ms + lifetime > now)
            break;
        sq_core_close_conn (self, client, SQ_CLOSED_LIFETIME, "pair lifetime", now);
    }
    while (idle > 0 && !self->paused && (first = sq_list_first (&self->pairs_by_activity))) {
        sq_conn_t *client = sq_list_entry (first, sq_conn_t, activity_node);
        if (s_idle_since (self, client) + idle > now)
            break;
        sq_core_close_conn (self, client, SQ_CLOSED_IDLE, "pair idle timeout", now);
    }
}

//  Closes every connection that pick chooses. Closing one closes its
//  partner too, which may be further down the list, so all are chosen
//  first, then closed. Rare (a lost name, a drain), so a pass over the
//  connections is fine.
static void
s_close_where (sq_core_t *self, bool (*pick) (const sq_conn_t *conn, const void *arg),
               const void *arg, sq_closed_t code, const char *reason, int64_t now)
{
    size_t count = sq_core_connections (self);
    sq_conn_t **chosen = calloc (count + 1, sizeof (sq_conn_t *));
    if (!chosen)
        return;
    size_t found = 0;
    sq_list_t *all = sq_conn_table_all (self->conns);
    for (sq_list_node_t *node = all->next; node != all && found < count; node = node->next) {
        sq_conn_t *conn = sq_list_entry (node, sq_conn_t, all_node);
        if (pick (conn, arg))
            chosen [found++] = conn;
    }
    for (size_t index = 0; index < found; index++)
        sq_core_close_conn (self, chosen [index], code, reason, now);
    free (chosen);
}

static bool
s_named (const sq_conn_t *conn, const void *name)
{
    return strcmp (conn->name, name) == 0;
}

//  Closes every connection of a name whose heartbeats stopped
static void
s_close_name (sq_core_t *self, const char *name, int64_t now)
{
    sq_warning ("%s sent no heartbeat in %lld intervals: closing its connections",
                name, (long long) self->config.heartbeat_liveness);
    s_close_where (self, s_named, name, SQ_CLOSED_HEARTBEAT, "heartbeat lost", now);
}

static void
s_expire_heartbeats (sq_core_t *self, int64_t now)
{
    char name [SQ_NAME_MAX];
    while (sq_heartbeat_take_late (self->heartbeat, now, name, sizeof name))
        s_close_name (self, name, now);
}

bool
sq_core_heartbeat (sq_core_t *self, const char *name, int64_t interval_ms, int64_t now)
{
    int64_t interval = interval_ms > 0? interval_ms: self->config.heartbeat_interval_ms;
    return sq_heartbeat_beat (self->heartbeat, name,
                              interval * self->config.heartbeat_liveness, now);
}

size_t
sq_core_heartbeat_count (sq_core_t *self)
{
    return sq_heartbeat_count (self->heartbeat);
}

//  When the next pair times out, or INT64_MAX
static int64_t
s_pairs_next_due (sq_core_t *self)
{
    int64_t next = INT64_MAX;
    sq_list_node_t *first = sq_list_first (&self->pairs_by_age);
    if (first && self->config.pair_max_lifetime_ms > 0)
        next = sq_list_entry (first, sq_conn_t, age_node)->paired_ms
             + self->config.pair_max_lifetime_ms;
    first = sq_list_first (&self->pairs_by_activity);
    if (first && self->config.pair_idle_timeout_ms > 0 && !self->paused) {
        int64_t due = s_idle_since (self, sq_list_entry (first, sq_conn_t, activity_node))
                    + self->config.pair_idle_timeout_ms;
        if (due < next)
            next = due;
    }
    int64_t beat = sq_heartbeat_next_due (self->heartbeat);
    return beat < next? beat: next;
}

//  -------------------------------------------------------------------------
//  Events from the engine

void
sq_core_received (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
                  int64_t now)
{
    conn->bytes_in += size;
    switch (conn->state) {
        case SQ_CONN_GREETING:
            s_greet (self, conn, data, size, now);
            break;
        case SQ_CONN_NAMING:
        case SQ_CONN_QUEUED:
        case SQ_CONN_IDLE:
            s_keep_early (self, conn, data, size, now);
            break;
        case SQ_CONN_PAIRED:
            s_pair_active (self, conn, now);
            sq_core_send (self, conn->partner, data, size, now);
            break;
        case SQ_CONN_CLOSING:
        case SQ_CONN_DEAD:
            break;      //  Its pair is over: the bytes have no reader
    }
    s_reap (self);
}

//  Out of descriptors, libzmq retries the accept at once, and again, in a
//  busy loop, until one is free. So the side's limit comes down to the
//  connections it has: the engine frees a descriptor for the next accept,
//  and what it accepts is refused, closed and counted. The limit goes back
//  up S_LIMIT_RESTORE_MS after the last failure.
#define S_LIMIT_RESTORE_MS 10000

void
sq_core_accept_failed (sq_core_t *self, sq_side_t side, int errno_value, int64_t now)
{
    self->stats.accept_failed [side]++;
    size_t live = sq_conn_table_count (self->conns, side);
    size_t *limit = &self->config.limits.max_connections [side];
    if (*limit == 0 || live < *limit) {
        if (!self->limit_lowered [side])
            self->limit_configured [side] = *limit;
        self->limit_lowered [side] = true;
        *limit = live > 0? live: 1;
    }
    self->limit_restore_ms [side] = now + S_LIMIT_RESTORE_MS;
    if (now >= self->accept_log_due_ms) {
        sq_error ("%s: cannot accept a connection: %s (%llu so far): refusing new "
                  "connections past %zu for now; see --max-connections",
                  sq_side_name (side), strerror (errno_value),
                  (unsigned long long) self->stats.accept_failed [side], *limit);
        self->accept_log_due_ms = now + S_REFUSAL_LOG_MS;
    }
}

static void
s_restore_limits (sq_core_t *self, int64_t now)
{
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (self->limit_lowered [side] && now >= self->limit_restore_ms [side]) {
            self->limit_lowered [side] = false;
            self->config.limits.max_connections [side] = self->limit_configured [side];
            sq_info ("%s: no failed accept for %d s: connection limit back to %zu",
                     sq_side_name (side), S_LIMIT_RESTORE_MS / 1000,
                     self->limit_configured [side]);
        }
}

void
sq_core_disconnected (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    s_lost (self, conn, "peer disconnected", now);
    s_reap (self);
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
        sq_core_log_conn (conn, "rejected: greeting timeout");
        sq_core_close_conn (self, conn, SQ_CLOSED_GREETING, "greeting timeout", now);
    }
}

static void
s_expire_queue (sq_core_t *self, int64_t now)
{
    int64_t deadline = now - self->config.queue_timeout_ms;
    sq_conn_t *client;
    while ((client = sq_balancer_expired_client (self->balancer, deadline))) {
        self->stats.rejected_queue_timeout++;
        sq_core_close_conn (self, client, SQ_CLOSED_QUEUE, "queue timeout", now);
    }
}

void
sq_core_tick (sq_core_t *self, int64_t now)
{
    s_flush_blocked (self, now);
    s_expire_greetings (self, now);
    s_expire_queue (self, now);
    sq_pairing_tick (self, now);
    s_expire_pairs (self, now);
    s_expire_heartbeats (self, now);
    s_run_closing (self, now);
    sq_admission_tick (self->admission, now);
    s_restore_limits (self, now);
    s_log_refusal_summary (self, now);
    s_reap (self);
}

static int64_t
s_earliest_close (sq_core_t *self)
{
    int64_t earliest = INT64_MAX;
    for (sq_list_node_t *node = self->closing.next; node != &self->closing; node = node->next) {
        sq_conn_t *conn = sq_list_entry (node, sq_conn_t, state_node);
        int64_t due = sq_buf_empty (&conn->outq)? s_close_due (self, conn)
                                                : conn->close_at_ms + S_CLOSE_FLUSH_MS;
        if (due < earliest)
            earliest = due;
    }
    return earliest;
}

int64_t
sq_core_next_timeout (sq_core_t *self, int64_t now)
{
    //  The engine wakes the loop when a full peer drains; this retry only
    //  covers an engine that cannot tell
    int64_t next = sq_list_empty (&self->blocked)? INT64_MAX: now + S_BLOCKED_RETRY_MS;
    sq_list_node_t *first = sq_list_first (&self->greeting);
    if (first) {
        int64_t due = s_greeting_due (self, sq_list_entry (first, sq_conn_t, state_node));
        if (due < next)
            next = due;
    }
    int64_t oldest = sq_balancer_oldest_wait (self->balancer);
    if (oldest != INT64_MAX && oldest + self->config.queue_timeout_ms < next)
        next = oldest + self->config.queue_timeout_ms;
    int64_t closing = s_earliest_close (self);
    if (closing < next)
        next = closing;
    int64_t pairing = sq_pairing_next_due (self);
    if (pairing < next)
        next = pairing;
    int64_t pairs = s_pairs_next_due (self);
    if (pairs < next)
        next = pairs;
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
    self->total_over = false;
    sq_list_t *all = sq_conn_table_all (self->conns);
    for (sq_list_node_t *node = all->next; node != all; node = node->next) {
        sq_conn_t *conn = sq_list_entry (node, sq_conn_t, all_node);
        s_forget_over (self, conn);
        if (self->config.slow_peer_block)
            s_mark_over (self, conn);
    }
    s_update_over_total (self);
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
    s_close_where (self, s_unpaired, NULL, SQ_CLOSED_SHUTDOWN, "proxy draining", now);
    s_reap (self);
}

bool
sq_core_draining_all (sq_core_t *self)
{
    return self->draining_all;
}

void
sq_core_close_all (sq_core_t *self, int64_t now)
{
    sq_list_t *all = sq_conn_table_all (self->conns);
    while (!sq_list_empty (all)) {
        sq_conn_t *conn = sq_list_entry (all->next, sq_conn_t, all_node);
        s_leave_state (self, conn, now);
        if (!conn->close_reason) {
            conn->close_reason = "proxy shutting down";
            conn->close_code = SQ_CLOSED_SHUTDOWN;
        }
        self->engine.close (self->engine.handle, conn);
        s_kill (self, conn, now);
    }
    s_reap (self);
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
