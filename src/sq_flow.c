/*  =========================================================================
    sq_flow - bytes to peers, the bytes held for them, and closing

    What the engine cannot take now is held in the peer's outq and offered
    again first, so bytes reach a peer in the order they came and are never
    dropped while it lives. Closing runs here too: a connection leaves the
    structures of its state, lingers until what it was sent has drained,
    and dies; dead connections are freed once the current event is over.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_core_private.h"
#include "sq_log.h"

//  How long a closing connection may wait for its held bytes to drain
#define S_CLOSE_FLUSH_MS 5000

static void s_lost (sq_core_t *self, sq_conn_t *conn, const char *reason, int64_t now);

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
    sq_flow_close (self, conn, SQ_CLOSED_SLOW, "slow peer", now);
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

void
sq_flow_send (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size, int64_t now)
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
        sq_flow_close (self, conn, SQ_CLOSED_OTHER, "out of memory", now);
        return;
    }
    if (!sq_list_linked (&conn->blocked_node))
        sq_list_append (&self->blocked, &conn->blocked_node);
    s_held_changed (self, conn, (long long) size);
    s_enforce_bounds (self, conn, now);
}

//  -------------------------------------------------------------------------
//  Handing pairs to the engine

void
sq_flow_try_handoff (sq_core_t *self, sq_conn_t *conn)
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
sq_flow_handoff_due (sq_core_t *self, sq_conn_t *client)
{
    if (!self->engine.handoff || client->state != SQ_CONN_PAIRED || !client->partner
    ||  client->handed_off)
        return;
    client->handoff_due = client->partner->handoff_due = true;
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
        sq_flow_try_handoff (self, conn);
    if (sq_buf_empty (&conn->outq))
        sq_list_remove (&conn->blocked_node);
    else
    if (!sq_list_linked (&conn->blocked_node))
        sq_list_append (&self->blocked, &conn->blocked_node);
}

void
sq_flow_flush_blocked (sq_core_t *self, int64_t now)
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
            sq_flow_unqueue (self, conn);
            break;
        case SQ_CONN_IDLE:
            sq_balancer_idle_remove (self->balancer, conn);
            break;
        case SQ_CONN_PAIRED:
            partner = conn->partner;
            if (partner && (conn->handshake == SQ_HANDSHAKE_FOLLOWING
                        ||  conn->handshake == SQ_HANDSHAKE_FAILED))
                sq_outcome_pair_left (self, conn, partner, now);
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
        case SQ_CONN_SCREENING:
            sq_outcome_pair_left (self, conn, NULL, now);
            sq_list_remove (&conn->state_node);
            break;
        default:
            sq_list_remove (&conn->state_node);
            break;
    }
    sq_outcome_stop_reading (conn);
    return partner;
}

//  A worker loses a connection: when it was its last, says so (unless the
//  proxy itself is stopping), since its clients now wait or go elsewhere
static void
s_worker_conn_gone (sq_core_t *self, const sq_conn_t *conn)
{
    if (conn->worker->connections != 1 || self->closing_all || self->draining_all)
        return;
    sq_warning ("worker %s has no connection left (its last, backend #%llu %s, "
                "closed: %s)", conn->worker->name, (unsigned long long) conn->serial,
                conn->address, conn->close_reason? conn->close_reason: "unknown");
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
        s_worker_conn_gone (self, conn);
        sq_balancer_worker_detach (self->balancer, conn->worker);
        conn->worker = NULL;
    }
    sq_list_append (&self->dead, &conn->state_node);
    sq_conn_log (conn, "closed: %s (in %llu B, out %llu B, %lld ms)",
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
    if (!conn->close_reason) {
        conn->close_reason = reason;
        conn->close_code = SQ_CLOSED_PEER;
    }
    sq_conn_t *partner = s_leave_state (self, conn, now);
    s_kill (self, conn, now);
    if (partner)
        sq_flow_close (self, partner, SQ_CLOSED_PARTNER, "partner disconnected", now);
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

void
sq_flow_close (sq_core_t *self, sq_conn_t *conn, sq_closed_t code, const char *reason,
               int64_t now)
{
    if (conn->state == SQ_CONN_DEAD || conn->state == SQ_CONN_CLOSING)
        return;
    conn->close_reason = reason;
    conn->close_code = code;
    sq_conn_t *partner = s_leave_state (self, conn, now);
    conn->state = SQ_CONN_CLOSING;
    conn->close_at_ms = now;
    sq_list_append (&self->closing, &conn->state_node);
    if (partner)
        sq_flow_close (self, partner, SQ_CLOSED_PARTNER, "partner disconnected", now);
    if (sq_buf_empty (&conn->outq) && s_close_due (self, conn) <= now)
        s_finish (self, conn, now);
}

void
sq_flow_run_closing (sq_core_t *self, int64_t now)
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


int64_t
sq_flow_next_close (sq_core_t *self)
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

void
sq_flow_reap (sq_core_t *self)
{
    while (!sq_list_empty (&self->dead)) {
        sq_conn_t *conn = sq_list_entry (self->dead.next, sq_conn_t, state_node);
        sq_list_remove (&conn->state_node);
        sq_conn_destroy (&conn);
    }
}

bool
sq_flow_keep_early (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
                    int64_t now)
{
    if (size == 0)
        return true;
    if (conn->early.size + size > self->config.max_early) {
        self->stats.closed_early_overflow++;
        sq_flow_close (self, conn, SQ_CLOSED_OTHER, "sent too much before pairing", now);
        return false;
    }
    if (!sq_buf_append (&conn->early, data, size)) {
        sq_flow_close (self, conn, SQ_CLOSED_OTHER, "out of memory", now);
        return false;
    }
    return true;
}

void
sq_flow_close_unrecorded (sq_core_t *self, sq_side_t side, const uint8_t *id, size_t id_size)
{
    sq_conn_t stub = { .side = side, .id_size = id_size };
    memcpy (stub.id, id, id_size);
    self->engine.close (self->engine.handle, &stub);
}

void
sq_flow_unqueue (sq_core_t *self, sq_conn_t *client)
{
    if (client->queue_counted)
        sq_tally_down (self->queued_by_host, client->host);
    client->queue_counted = false;
    sq_balancer_queue_remove (self->balancer, client);
    sq_list_remove (&client->wait_node);
}

void
sq_flow_close_now (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    if (!conn->close_reason) {
        conn->close_reason = "proxy shutting down";
        conn->close_code = SQ_CLOSED_SHUTDOWN;
    }
    s_leave_state (self, conn, now);
    self->engine.close (self->engine.handle, conn);
    s_kill (self, conn, now);
}

void
sq_flow_lost (sq_core_t *self, sq_conn_t *conn, const char *reason, int64_t now)
{
    s_lost (self, conn, reason, now);
}

void
sq_flow_bounds_changed (sq_core_t *self)
{
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
