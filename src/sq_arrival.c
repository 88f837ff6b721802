/*  =========================================================================
    sq_arrival - who may come in

    A new connection is checked before the proxy spends anything on it:
    draining, the side's access list and limits (sq_admission), and on the
    frontend the ban of its key after failed handshakes (sq_bans). A
    refused connection is closed at once and counted by reason; the first
    refusal is logged, then a summary line at most every 10 s. When the
    engine cannot accept for want of descriptors, the side's limit comes
    down to what it holds for a while (see sq_core_accept_failed).
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_core_private.h"
#include "sq_log.h"

//  How often forgotten bans are swept away
#define S_BANS_SWEEP_MS 1000

//  A flood of refusals must not flood the log: the first one is logged,
//  then one summary line per side at most every S_REFUSAL_LOG_MS
#define S_REFUSAL_LOG_MS 10000

void
sq_arrival_refused (sq_core_t *self, sq_side_t side, const char *address,
                    sq_refusal_t refusal, int64_t now)
{
    self->stats.refused [side][refusal]++;
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
                        "max_connections %llu, per_ip %llu, rate %llu, handshake %llu)",
                        sq_side_name (side),
                        (unsigned long long) self->refused_unlogged [side],
                        (unsigned long long) refused [SQ_REFUSED_DENIED],
                        (unsigned long long) refused [SQ_REFUSED_MAX_CONNECTIONS],
                        (unsigned long long) refused [SQ_REFUSED_PER_IP],
                        (unsigned long long) refused [SQ_REFUSED_RATE],
                        (unsigned long long) refused [SQ_REFUSED_HANDSHAKE]);
            self->refused_unlogged [side] = 0;
            self->refusal_log_due_ms = now + S_REFUSAL_LOG_MS;
        }
}

static sq_conn_t *
s_core_connected (sq_core_t *self, sq_side_t side, const uint8_t *id, size_t id_size,
                  const char *host, const char *address, int64_t now)
{
    sq_refusal_t refusal = self->draining_all? SQ_REFUSED_DRAINING
                        : sq_admission_check (self->admission, &self->config.limits, side,
                                              host, sq_conn_table_count (self->conns, side),
                                              now);
    if (refusal != SQ_ADMITTED) {
        sq_arrival_refused (self, side, address, refusal, now);
        sq_flow_close_unrecorded (self, side, id, id_size);
        return NULL;
    }
    sq_conn_t *conn = sq_conn_new (side, id, id_size);
    if (!conn) {
        sq_error ("out of memory accepting a %s connection", sq_side_name (side));
        sq_admission_left (self->admission, side, host, now);
        sq_flow_close_unrecorded (self, side, id, id_size);
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
    if (side == SQ_FRONTEND
    &&  sq_bans_refused (self->bans, sq_outcome_ban_key (conn), now)) {
        sq_admission_left (self->admission, side, host, now);
        sq_conn_destroy (&conn);
        sq_arrival_refused (self, side, address, SQ_REFUSED_HANDSHAKE, now);
        sq_flow_close_unrecorded (self, side, id, id_size);
        return NULL;
    }
    char key [SQ_ADDRESS_KEY_MAX];
    sq_conn_address_key (side, address, key, sizeof key);
    sq_dict_insert (self->by_address, key, conn);
    sq_conn_table_insert (self->conns, conn);
    sq_list_append (&self->greeting, &conn->state_node);
    self->stats.accepted [side]++;
    sq_conn_log (conn, "accepted (%s)", conn->name);
    sq_flow_send (self, conn, sq_greeting_prefix, SQ_GREETING_PREFIX_SIZE, now);
    //  A peer already gone when greeted is dead now, and s_reap frees it:
    //  read its state first
    bool alive = conn->state != SQ_CONN_DEAD;
    sq_flow_reap (self);
    return alive? conn: NULL;
}

//  The same, its log lines naming the core's service
sq_conn_t *
sq_core_connected (sq_core_t *self, sq_side_t side, const uint8_t *id, size_t id_size,
                   const char *host, const char *address, int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    sq_conn_t *result = s_core_connected (self, side, id, id_size, host, address, now);
    sq_log_set_context (saved);
    return result;
}

//  Out of descriptors, libzmq retries the accept at once, and again, in a
//  busy loop, until one is free. So the side's limit comes down to the
//  connections it has: the engine frees a descriptor for the next accept,
//  and what it accepts is refused, closed and counted. The limit goes back
//  up S_LIMIT_RESTORE_MS after the last failure.
#define S_LIMIT_RESTORE_MS 10000

static void
s_core_accept_failed (sq_core_t *self, sq_side_t side, int errno_value, int64_t now)
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

//  The same, its log lines naming the core's service
void
sq_core_accept_failed (sq_core_t *self, sq_side_t side, int errno_value, int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    s_core_accept_failed (self, side, errno_value, now);
    sq_log_set_context (saved);
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
sq_arrival_tick (sq_core_t *self, int64_t now)
{
    s_restore_limits (self, now);
    s_log_refusal_summary (self, now);
    if (now >= self->bans_expire_ms) {
        sq_bans_expire (self->bans, now);
        self->bans_expire_ms = now + S_BANS_SWEEP_MS;
    }
}

int64_t
sq_arrival_next_due (sq_core_t *self)
{
    return sq_bans_count (self->bans)? self->bans_expire_ms: INT64_MAX;
}
