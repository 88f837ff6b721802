/*  =========================================================================
    sq_outcome - what a handshake ended in: counters, logs, bans, lost slots

    A followed handshake ends in one of two ways. Completed: both sides
    sent their last handshake command; the client's ban record, if any, is
    cleared. Failed: counted by reason. When the worker refused the client
    (it closed, or sent ERROR, after the client's command), the client's key
    is banned for a while. A worker connection that its worker closed in the
    middle of a handshake is reported as a lost slot: libzmq closes that way
    on a protocol error (a HELLO it cannot open), and then does not redial,
    so that capacity is gone. (After sending ERROR, libzmq waits for its
    peer to close, and then redials.)
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_core_private.h"
#include "sq_log.h"

const char *
sq_hs_failure_name (sq_hs_failure_t failure)
{
    static const char *names [SQ_HS_FAILED_COUNT] = {
        "worker_closed", "client_closed", "error", "malformed", "timeout", "aborted"
    };
    return failure < SQ_HS_FAILED_COUNT? names [failure]: "aborted";
}

const char *
sq_outcome_ban_key (const sq_conn_t *client)
{
    return client->identified? client->name: client->host;
}

void
sq_outcome_stop_reading (sq_conn_t *conn)
{
    free (conn->reader);
    conn->reader = NULL;
}

//  The pair's handshake is no longer followed
static void
s_stop_following (sq_conn_t *client, sq_conn_t *worker_conn, sq_handshake_t stage)
{
    sq_list_remove (&client->handshake_node);
    client->handshake = stage;
    sq_outcome_stop_reading (client);
    if (worker_conn) {
        worker_conn->handshake = stage;
        sq_outcome_stop_reading (worker_conn);
    }
}

void
sq_outcome_completed (sq_core_t *self, sq_conn_t *client, int64_t now)
{
    self->stats.handshakes_completed++;
    sq_histogram_observe (&self->stats.handshake_time, now - client->handshake_ms);
    sq_bans_clear (self->bans, sq_outcome_ban_key (client));
    s_stop_following (client, client->partner, SQ_HANDSHAKE_DONE);
    sq_debug ("frontend #%llu %s: %s handshake completed in %lld ms",
              (unsigned long long) client->serial, client->address,
              client->greeting.mechanism, (long long) (now - client->handshake_ms));
}

//  What the log says of a failure the worker saw: "worker closed after
//  HELLO: wrong server key?"
static void
s_describe (const sq_conn_t *client, sq_hs_failure_t failure, bool by_worker,
            const char *detail, char *text, size_t size)
{
    const char *after = client->last_command [0]? client->last_command: "its greeting";
    if (failure == SQ_HS_WORKER_CLOSED) {
        bool curve_hello = strcmp (client->greeting.mechanism, "CURVE") == 0
                        && strcmp (after, "HELLO") == 0;
        snprintf (text, size, "worker closed after %s%s", after,
                  curve_hello? ": wrong server key?": "");
    }
    else
    if (failure == SQ_HS_ERROR)
        snprintf (text, size, "%s sent ERROR \"%s\" after %s",
                  by_worker? "worker": "client", detail? detail: "", after);
    else
        snprintf (text, size, "%s%s%s", sq_hs_failure_name (failure),
                  detail? ": ": "", detail? detail: "");
}

//  Bans the client's key, and says so with the reason
static void
s_ban (sq_core_t *self, sq_conn_t *client, sq_conn_t *worker_conn, const char *text,
       int64_t now)
{
    const char *key = sq_outcome_ban_key (client);
    int64_t length = sq_bans_fail (self->bans, key, self->config.handshake_ban_ms,
                                   self->config.handshake_ban_max_ms, now);
    const char *worker = worker_conn->worker? worker_conn->worker->name: worker_conn->name;
    if (length > 0)
        sq_warning ("client %s failed the %s handshake at worker %s (%s); refused for %g s",
                    key, client->greeting.mechanism, worker, text, (double) length / 1000);
    else
        sq_warning ("client %s failed the %s handshake at worker %s (%s)",
                    key, client->greeting.mechanism, worker, text);
}

void
sq_outcome_failed (sq_core_t *self, sq_conn_t *client, sq_conn_t *worker_conn,
                   sq_hs_failure_t failure, bool by_worker, const char *detail, int64_t now)
{
    self->stats.handshakes_failed [failure]++;
    s_stop_following (client, worker_conn, SQ_HANDSHAKE_FAILED);
    char text [400];
    s_describe (client, failure, by_worker, detail, text, sizeof text);
    bool refused_by_worker = worker_conn && by_worker
        && (failure == SQ_HS_WORKER_CLOSED || failure == SQ_HS_ERROR);
    if (refused_by_worker)
        s_ban (self, client, worker_conn, text, now);
    else
        sq_conn_log (client, "%s handshake failed (%s)", client->greeting.mechanism, text);
}

//  A worker closed one of its connections during a handshake
static void
s_slot_lost (sq_core_t *self, const sq_conn_t *worker_conn)
{
    self->stats.slots_lost++;
    const sq_worker_t *worker = worker_conn->worker;
    sq_warning ("worker %s lost a connection during a handshake (backend #%llu %s): a "
                "libzmq worker that does not redial after a failed handshake has lost "
                "that slot (libstreamq repairs it); %zu connections left",
                worker? worker->name: worker_conn->name,
                (unsigned long long) worker_conn->serial, worker_conn->address,
                worker && worker->connections? worker->connections - 1: 0);
}

//  Why a pair in handshake ends when the proxy closes it (the closes for
//  the handshake's own reasons were counted when they were decided)
static bool
s_counted_already (const sq_conn_t *conn)
{
    return conn->close_code == SQ_CLOSED_HANDSHAKE || conn->handshake == SQ_HANDSHAKE_FAILED;
}

void
sq_outcome_pair_left (sq_core_t *self, sq_conn_t *conn, sq_conn_t *partner, int64_t now)
{
    if (self->closing_all)
        return;                     //  Shutting down: no verdict on anyone
    bool by_peer = conn->close_code == SQ_CLOSED_PEER;
    sq_conn_t *client = conn->side == SQ_FRONTEND? conn: partner;
    sq_conn_t *worker_conn = conn->side == SQ_BACKEND? conn: partner;
    //  After an ERROR a libzmq worker waits for its peer to close, and
    //  redials; one that closes in the middle of a handshake hit a protocol
    //  error (a HELLO it could not open), after which it does not
    if (conn->side == SQ_BACKEND && by_peer && conn->handshake == SQ_HANDSHAKE_FOLLOWING)
        s_slot_lost (self, conn);
    if (!client || s_counted_already (conn)
    || (client->handshake != SQ_HANDSHAKE_FOLLOWING
    &&  client->handshake != SQ_HANDSHAKE_SCREENING))
        return;
    sq_hs_failure_t failure = !by_peer? SQ_HS_ABORTED
                            : conn->side == SQ_BACKEND? SQ_HS_WORKER_CLOSED
                            : SQ_HS_CLIENT_CLOSED;
    sq_outcome_failed (self, client, worker_conn, failure, conn->side == SQ_BACKEND,
                       NULL, now);
}
