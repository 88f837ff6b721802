/*  =========================================================================
    sq_handshake - screening a client, then following its pair's handshake

    Screening: a greeted client is given the greeting tail of an idle
    worker connection (the worker sees nothing, and its slot stays free),
    and its first command is checked for structure (sq_zmtp_check). Only a
    well-formed first command lets a worker be committed; garbage, silence
    or a wrong command costs no worker anything.

    Following: from the commit, the frame headers going both ways are read
    (sq_frame_reader) until both sides have sent their last handshake
    command (the worker READY; the client READY, or INITIATE under PLAIN and
    CURVE), or a message frame passes, or one sent ERROR, or one closed.
    Bytes that break the framing are not forwarded: the pair is closed, so
    a libzmq worker sees a lost connection (and redials) rather than a
    protocol error (after which it would not). After the end nothing is
    parsed. --handshake-timeout bounds the screening, then the rest.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_core_private.h"
#include "sq_frame_reader.h"
#include "sq_zmtp_check.h"
#include "sq_log.h"

//  What a run of bytes from one peer showed
typedef struct {
    const char *malformed;      //  Why the framing broke, or NULL
    bool error;                 //  An ERROR command passed
    char reason [SQ_COMMAND_NAME_MAX + 1];  //  Its reason
    bool first_done;            //  The client's first command is in, and
    const char *first_bad;      //  why it is not well formed, or NULL
    bool over;                  //  The handshake is over: stop reading
} s_seen_t;

static sq_frame_reader_t *
s_reader (sq_core_t *self, sq_conn_t *conn)
{
    if (!conn->reader) {
        conn->reader = malloc (sizeof (sq_frame_reader_t));
        if (conn->reader)
            sq_frame_reader_init (conn->reader, self->config.max_early);
    }
    return conn->reader;
}

//  The client's first frame is complete, and all of it sits in early:
//  checks it against its mechanism's RFC
static const char *
s_check_first (const sq_conn_t *client)
{
    const sq_frame_reader_t *reader = client->reader;
    size_t size = (size_t) sq_frame_reader_wire_size (reader);
    uint8_t *frame = malloc (size);
    if (!frame)
        return "out of memory";
    const char *bad = sq_buf_copy (&client->early, frame, size) == size
                    ? sq_zmtp_check_first (client->greeting.mechanism, frame, size)
                    : "an incomplete frame";
    free (frame);
    return bad;
}

//  A frame of a peer is complete: what it says of the handshake
static void
s_frame (sq_conn_t *conn, const sq_frame_reader_t *reader, s_seen_t *seen)
{
    if (conn->handshake == SQ_HANDSHAKE_SCREENING && reader->frames == 1) {
        seen->first_done = true;
        seen->first_bad = s_check_first (conn);
    }
    if (!sq_frame_reader_is_command (reader) || sq_frame_reader_named (reader, "MESSAGE")) {
        seen->over = true;              //  Data flows: the handshake is over
        return;
    }
    sq_frame_reader_name (reader, conn->last_command, sizeof conn->last_command);
    if (sq_frame_reader_named (reader, "READY")
    || (conn->side == SQ_FRONTEND && sq_frame_reader_named (reader, "INITIATE")))
        conn->sent_ready = true;
    if (sq_frame_reader_named (reader, "ERROR")) {
        seen->error = true;
        sq_zmtp_error_reason (reader->head, reader->head_size, seen->reason,
                              sizeof seen->reason);
    }
}

//  Reads a run of bytes from a peer, frame by frame, until they end, the
//  framing breaks, an ERROR passes, or the handshake is over
static void
s_read (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size, s_seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    sq_frame_reader_t *reader = s_reader (self, conn);
    if (!reader) {
        seen->malformed = "out of memory";
        return;
    }
    size_t at = 0;
    while (at < size) {
        at += sq_frame_reader_feed (reader, data + at, size - at);
        if (reader->status == SQ_FRAME_MALFORMED) {
            seen->malformed = reader->error;
            return;
        }
        if (reader->status != SQ_FRAME_COMPLETE)
            return;
        s_frame (conn, reader, seen);
        reader->status = SQ_FRAME_PARTIAL;
        if (seen->error || seen->over || (seen->first_done && seen->first_bad))
            return;
        sq_conn_t *partner = conn->partner;
        if (partner && conn->sent_ready && partner->sent_ready) {
            seen->over = true;
            return;
        }
    }
}

//  Reads what a peer has sent already and kept in early
static void
s_read_early (sq_core_t *self, sq_conn_t *conn, s_seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    if (conn->early.size == 0)
        return;
    uint8_t *bytes = malloc (conn->early.size);
    if (!bytes) {
        seen->malformed = "out of memory";
        return;
    }
    size_t size = sq_buf_copy (&conn->early, bytes, conn->early.size);
    s_read (self, conn, bytes, size, seen);
    free (bytes);
}

//  -------------------------------------------------------------------------
//  Screening

//  Closes a client that failed its screening, and counts why
static sq_screen_t
s_screen_failed (sq_core_t *self, sq_conn_t *client, sq_hs_failure_t failure,
                 const char *why, int64_t now)
{
    sq_outcome_failed (self, client, NULL, failure, false, why, now);
    sq_flow_close (self, client, SQ_CLOSED_HANDSHAKE, "handshake failed at screening", now);
    return SQ_SCREEN_FAILED;
}

//  What the bytes read so far mean for a screening client
static sq_screen_t
s_screen_verdict (sq_core_t *self, sq_conn_t *client, const s_seen_t *seen, int64_t now)
{
    if (seen->malformed)
        return s_screen_failed (self, client, SQ_HS_MALFORMED, seen->malformed, now);
    if (seen->first_done && seen->first_bad)
        return s_screen_failed (self, client, SQ_HS_MALFORMED, seen->first_bad, now);
    if (!client->reader || client->reader->frames == 0)
        return SQ_SCREEN_WAITING;
    sq_list_remove (&client->state_node);   //  Off the screening list
    client->handshake = SQ_HANDSHAKE_SCREENED;
    sq_conn_log (client, "screened (%s %s)", client->greeting.mechanism,
                 client->last_command);
    return SQ_SCREEN_PASSED;
}

sq_screen_t
sq_handshake_screen (sq_core_t *self, sq_conn_t *client, const sq_conn_t *tail_source,
                     int64_t now)
{
    snprintf (client->pool, sizeof client->pool, "%s", tail_source->pool);
    client->state = SQ_CONN_SCREENING;
    client->handshake = SQ_HANDSHAKE_SCREENING;
    client->handshake_ms = client->phase_ms = now;
    sq_list_append (&self->screening, &client->state_node);
    sq_flow_send (self, client, sq_greeting_tail (&tail_source->greeting),
                  SQ_GREETING_TAIL_SIZE, now);
    if (client->state != SQ_CONN_SCREENING)
        return SQ_SCREEN_FAILED;        //  Gone when sent to
    s_seen_t seen;
    s_read_early (self, client, &seen);
    return s_screen_verdict (self, client, &seen, now);
}

sq_screen_t
sq_handshake_screen_bytes (sq_core_t *self, sq_conn_t *client, const uint8_t *data,
                           size_t size, int64_t now)
{
    if (!sq_flow_keep_early (self, client, data, size, now))
        return SQ_SCREEN_FAILED;
    s_seen_t seen;
    s_read (self, client, data, size, &seen);
    if (client->handshake == SQ_HANDSHAKE_SCREENING)
        return s_screen_verdict (self, client, &seen, now);
    //  Screened, and waiting in the queue for a worker
    if (seen.malformed)
        return s_screen_failed (self, client, SQ_HS_MALFORMED, seen.malformed, now);
    if (seen.error)
        return s_screen_failed (self, client, SQ_HS_ERROR, seen.reason, now);
    return SQ_SCREEN_WAITING;
}

//  -------------------------------------------------------------------------
//  Following

//  What the bytes a peer of a followed pair sent mean; false when they
//  must not reach the partner (the pair was closed)
static bool
s_follow_verdict (sq_core_t *self, sq_conn_t *conn, const s_seen_t *seen, int64_t now)
{
    bool by_worker = conn->side == SQ_BACKEND;
    sq_conn_t *client = by_worker? conn->partner: conn;
    sq_conn_t *worker_conn = by_worker? conn: conn->partner;
    if (seen->malformed) {
        sq_outcome_failed (self, client, worker_conn, SQ_HS_MALFORMED, by_worker,
                           seen->malformed, now);
        sq_flow_close (self, conn, SQ_CLOSED_HANDSHAKE, "malformed handshake", now);
        return false;
    }
    if (seen->error)
        sq_outcome_failed (self, client, worker_conn, SQ_HS_ERROR, by_worker,
                           seen->reason, now);
    else
    if (seen->over) {
        sq_outcome_completed (self, client, now);
        sq_flow_handoff_due (self, client);
    }
    return true;
}

bool
sq_handshake_follow (sq_core_t *self, sq_conn_t *client, sq_conn_t *worker_conn,
                     int64_t now)
{
    client->handshake = worker_conn->handshake = SQ_HANDSHAKE_FOLLOWING;
    client->phase_ms = now;
    worker_conn->handshake_ms = client->handshake_ms;
    sq_list_append (&self->following, &client->handshake_node);
    s_seen_t seen;
    s_read_early (self, worker_conn, &seen);
    if (seen.malformed) {
        sq_outcome_failed (self, client, worker_conn, SQ_HS_MALFORMED, true,
                           seen.malformed, now);
        return false;
    }
    return s_follow_verdict (self, worker_conn, &seen, now);
}

bool
sq_handshake_follow_bytes (sq_core_t *self, sq_conn_t *conn, const uint8_t *data,
                           size_t size, int64_t now)
{
    s_seen_t seen;
    s_read (self, conn, data, size, &seen);
    return s_follow_verdict (self, conn, &seen, now);
}

//  -------------------------------------------------------------------------
//  Time

//  When a phase that began at `since` runs out. While paused the proxy
//  reads nobody, so that time does not count.
static int64_t
s_due (sq_core_t *self, int64_t since)
{
    if (self->paused)
        return INT64_MAX;
    int64_t start = since > self->resumed_ms? since: self->resumed_ms;
    return start + self->config.handshake_timeout_ms;
}

bool
sq_handshake_tick (sq_core_t *self, int64_t now)
{
    bool screening_ended = false;
    sq_list_node_t *first;
    while ((first = sq_list_first (&self->screening))) {
        sq_conn_t *client = sq_list_entry (first, sq_conn_t, state_node);
        if (s_due (self, client->phase_ms) > now)
            break;
        s_screen_failed (self, client, SQ_HS_TIMEOUT, "no first command in time", now);
        screening_ended = true;
    }
    while ((first = sq_list_first (&self->following))) {
        sq_conn_t *client = sq_list_entry (first, sq_conn_t, handshake_node);
        if (s_due (self, client->phase_ms) > now)
            break;
        sq_outcome_failed (self, client, client->partner, SQ_HS_TIMEOUT, false,
                           "the handshake did not end in time", now);
        sq_flow_close (self, client, SQ_CLOSED_HANDSHAKE, "handshake timeout", now);
    }
    return screening_ended;
}

int64_t
sq_handshake_next_due (sq_core_t *self)
{
    int64_t next = INT64_MAX;
    sq_list_node_t *first = sq_list_first (&self->screening);
    if (first)
        next = s_due (self, sq_list_entry (first, sq_conn_t, state_node)->phase_ms);
    first = sq_list_first (&self->following);
    if (first) {
        int64_t due = s_due (self, sq_list_entry (first, sq_conn_t, handshake_node)->phase_ms);
        if (due < next)
            next = due;
    }
    return next;
}
