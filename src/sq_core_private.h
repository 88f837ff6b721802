/*  =========================================================================
    sq_core_private - the core's state, and what its files offer each other

    The core is split by concern, in layers that only call downwards:

        sq_core.c       events from the engine, timers, steering, read access
        sq_arrival.c    who may come in: limits, bans, refusals, failed accepts
        sq_liveness.c   pair idle timeout and lifetime, heartbeats, drains
        sq_pairing.c    from a greeting to a pair: naming, queue, choice
        sq_handshake.c  screening a client, following a pair's handshake
        sq_flow.c       bytes to peers, held bytes and their bounds, closing
        sq_outcome.c    what a handshake ended in: counters, logs, bans

    Not an API: only the core's own files include this.
    =========================================================================
*/
#ifndef SQ_CORE_PRIVATE_H_INCLUDED
#define SQ_CORE_PRIVATE_H_INCLUDED

#include "sq_core.h"
#include "sq_identity.h"
#include "sq_dict.h"
#include "sq_heartbeat.h"
#include "sq_admission.h"
#include "sq_bans.h"
#include "sq_tally.h"

struct sq_core {
    sq_core_config_t config;
    sq_engine_t engine;
    sq_core_stats_t stats;
    sq_conn_table_t *conns;
    sq_balancer_t *balancer;
    sq_identity_t *identity;    //  Registrations and address rules
    sq_dict_t *by_address;      //  "f ip:port" / "b ip:port" -> live connection
    sq_list_t greeting;         //  Connections in GREETING, oldest first
    sq_list_t naming;           //  Connections in NAMING, oldest first
    sq_list_t screening;        //  Clients in SCREENING, oldest first
    sq_list_t following;        //  Clients of pairs in handshake (handshake_node)
    sq_list_t waiting;          //  Queued clients, all pools (wait_node)
    int64_t next_widen_ms;      //  When a routed client may accept more workers
    sq_heartbeat_t *heartbeat;  //  Names that send heartbeats
    sq_list_t pairs_by_age;     //  Clients of pairs, oldest pair first
    sq_list_t pairs_by_activity;    //  Clients of pairs, least recently active first
    sq_list_t closing;          //  Connections in CLOSING
    sq_list_t blocked;          //  Connections holding bytes (blocked_node)
    sq_list_t dead;             //  To free when the current event is over
    sq_admission_t *admission;  //  Per-IP counts and rates of new connections
    sq_bans_t *bans;            //  Clients refused after failed handshakes
    int64_t bans_expire_ms;     //  When forgotten bans are next swept
    sq_tally_t *queued_by_host; //  Queued clients per IP
    size_t held_total;          //  Bytes held in every outq
    size_t held_fed [2];        //  Of those, bytes that came from each side
    size_t over [2];            //  Block mode: pairs over their bound, by feeding side
    bool total_over;            //  Block mode: held_total passed max_buffer
    bool reading_stopped [2];   //  As last logged
    uint64_t refused_unlogged [2];  //  Refusals since the last summary line
    int64_t refusal_log_due_ms; //  When the next summary may be logged
    int64_t accept_log_due_ms;  //  When a failed accept may be logged again
    bool limit_lowered [2];     //  Out of descriptors: max_connections lowered
    size_t limit_configured [2];    //  The limit to restore
    int64_t limit_restore_ms [2];   //  When to restore it
    uint64_t next_serial;
    size_t active_pairs;
    bool paused;
    bool draining_all;          //  Stopping: no new connection, no new pair
    bool closing_all;           //  Shutting down: pairs end without verdict
    int64_t resumed_ms;         //  Greeting clocks restart at a resume
    bool terminating;
    int64_t started_ms;
};

//  -------------------------------------------------------------------------
//  sq_flow.c: bytes to peers, held bytes, closing

//  Hands bytes to the engine for a peer, or holds them behind what it
//  holds already; applies the bounds on held bytes
void sq_flow_send (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
                   int64_t now);

//  Keeps bytes a peer sends after its greeting, before it has a partner;
//  closes it past max_early. False when it was closed.
bool sq_flow_keep_early (sq_core_t *self, sq_conn_t *conn, const uint8_t *data,
                         size_t size, int64_t now);

//  Offers held bytes to the engine again, for every connection holding some
void sq_flow_flush_blocked (sq_core_t *self, int64_t now);

//  The proxy closes a connection (and its partner): at once when nothing is
//  held for it and nothing was just written, else once that has drained
void sq_flow_close (sq_core_t *self, sq_conn_t *conn, sq_closed_t code,
                    const char *reason, int64_t now);

//  The peer left (or the engine lost it): drops it, closes its partner
void sq_flow_lost (sq_core_t *self, sq_conn_t *conn, const char *reason, int64_t now);

//  Takes a queued client out of every waiting structure
void sq_flow_unqueue (sq_core_t *self, sq_conn_t *client);

//  Closes it now through the engine, whatever it holds (shutdown)
void sq_flow_close_now (sq_core_t *self, sq_conn_t *conn, int64_t now);

//  Gives each closing connection its chance to drain and close
void sq_flow_run_closing (sq_core_t *self, int64_t now);

//  When the earliest closing connection is due, or INT64_MAX
int64_t sq_flow_next_close (sq_core_t *self);

//  Frees the connections that died during the current event
void sq_flow_reap (sq_core_t *self);

//  The pair of client has finished its handshake: it goes to the engine,
//  if the engine takes pairs, once nothing is held for either connection
//  (sq_flow_try_handoff, now or when the last held bytes are flushed)
void sq_flow_handoff_due (sq_core_t *self, sq_conn_t *client);

//  Hands the pair of conn to the engine if it is due and nothing is held
//  for either connection
void sq_flow_try_handoff (sq_core_t *self, sq_conn_t *conn);

//  The bounds or the policy changed: marks again what is over them
void sq_flow_bounds_changed (sq_core_t *self);

//  A closed connection the core keeps no record of (refused on arrival)
void sq_flow_close_unrecorded (sq_core_t *self, sq_side_t side, const uint8_t *id,
                               size_t id_size);

//  -------------------------------------------------------------------------
//  sq_outcome.c: what a handshake ended in

//  Both sides of a followed handshake are ready: counts it, clears the
//  client's ban record, and stops following the pair
void sq_outcome_completed (sq_core_t *self, sq_conn_t *client, int64_t now);

//  A client's handshake failed (worker_conn is NULL before a worker was
//  committed); by_worker when the worker's side caused it. Counts and
//  logs it, stops following, and bans the client when the worker refused
//  it (it closed, or sent ERROR); detail says more for the log (an
//  ERROR's reason, why bytes are malformed).
void sq_outcome_failed (sq_core_t *self, sq_conn_t *client, sq_conn_t *worker_conn,
                        sq_hs_failure_t failure, bool by_worker, const char *detail,
                        int64_t now);

//  A connection of a pair leaves it (closed by the proxy, or by its
//  peer: conn->close_code says which) while the handshake is followed or
//  failed: records the outcome, and the worker slot it may have cost
void sq_outcome_pair_left (sq_core_t *self, sq_conn_t *conn, sq_conn_t *partner,
                           int64_t now);

//  The key a client is banned under: its registered name, else its IP
const char *sq_outcome_ban_key (const sq_conn_t *client);

//  Stops reading a connection's handshake: frees its frame reader
void sq_outcome_stop_reading (sq_conn_t *conn);

//  -------------------------------------------------------------------------
//  sq_handshake.c: screening, following

typedef enum {
    SQ_SCREEN_WAITING = 0,      //  The first command has not all come
    SQ_SCREEN_PASSED,           //  Well formed: a worker may be committed
    SQ_SCREEN_FAILED            //  The client was closed
} sq_screen_t;

//  Gives a greeted client the greeting tail of an idle worker connection
//  (which stays idle and sees nothing) and starts screening the client's
//  first command, including what it sent already
sq_screen_t sq_handshake_screen (sq_core_t *self, sq_conn_t *client,
                                 const sq_conn_t *tail_source, int64_t now);

//  A worker was committed to a screened client: starts following the
//  pair's handshake. False when the worker's early bytes are not ZMTP
//  framing (the caller then closes the pair).
bool sq_handshake_follow (sq_core_t *self, sq_conn_t *client, sq_conn_t *worker_conn,
                          int64_t now);

//  Bytes from a screening client, or a screened one waiting in the queue:
//  kept, and read (a waiting client that breaks the framing is closed)
sq_screen_t sq_handshake_screen_bytes (sq_core_t *self, sq_conn_t *client,
                                       const uint8_t *data, size_t size, int64_t now);

//  Bytes from a peer of a followed pair, before they are forwarded: false
//  when they must not be (the pair was closed)
bool sq_handshake_follow_bytes (sq_core_t *self, sq_conn_t *conn, const uint8_t *data,
                                size_t size, int64_t now);

//  Closes screenings and handshakes that ran past --handshake-timeout;
//  true when a screening ended so
bool sq_handshake_tick (sq_core_t *self, int64_t now);

//  When sq_handshake_tick next has work, or INT64_MAX
int64_t sq_handshake_next_due (sq_core_t *self);

//  -------------------------------------------------------------------------
//  sq_pairing.c: from a greeting to a pair

//  A connection's greeting is done: name it, then screen, pair, queue or
//  offer it
void sq_pairing_ready (sq_core_t *self, sq_conn_t *conn, int64_t now);

//  A screening client's first command is well formed: commit a worker
//  whose tail is the one it was given, or queue it for one
void sq_pairing_screened (sq_core_t *self, sq_conn_t *client, int64_t now);

//  Timers of naming and routing: waits that end, routes that widen
void sq_pairing_tick (sq_core_t *self, int64_t now);

//  When sq_pairing_tick next has work, or INT64_MAX
int64_t sq_pairing_next_due (sq_core_t *self);

//  Tries again to pair every queued client, after a change that may allow
//  it (a worker no longer draining, a route changed, a connection renamed)
void sq_pairing_rematch (sq_core_t *self, int64_t now);

//  -------------------------------------------------------------------------
//  sq_liveness.c: pair timeouts, heartbeats, closing by choice

//  A byte passed through a pair: its idle clock starts again
void sq_liveness_pair_active (sq_core_t *self, sq_conn_t *conn, int64_t now);

//  Closes pairs that are too old or too quiet, and names whose heartbeats
//  stopped
void sq_liveness_tick (sq_core_t *self, int64_t now);

//  When sq_liveness_tick next has work, or INT64_MAX
int64_t sq_liveness_next_due (sq_core_t *self);

//  Closes every connection that pick chooses (a pass over them all);
//  returns how many it chose
size_t sq_liveness_close_where (sq_core_t *self,
                              bool (*pick) (const sq_conn_t *conn, const void *arg),
                              const void *arg, sq_closed_t code, const char *reason,
                              int64_t now);

//  -------------------------------------------------------------------------
//  sq_arrival.c: who may come in

//  Forgets bans that are over, restores limits lowered for want of
//  descriptors, and logs the summary of refusals
void sq_arrival_tick (sq_core_t *self, int64_t now);

//  When sq_arrival_tick next has work, or INT64_MAX
int64_t sq_arrival_next_due (sq_core_t *self);

//  Counts and logs a refusal (the first at once, then a summary at most
//  every 10 s); the caller closes the connection
void sq_arrival_refused (sq_core_t *self, sq_side_t side, const char *address,
                         sq_refusal_t refusal, int64_t now);

#endif
