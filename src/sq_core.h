/*  =========================================================================
    sq_core - the proxy's decisions, free of I/O

    The core keeps every connection, runs the greeting, screens each client's
    first handshake command before any worker sees it, pairs clients with
    workers, follows each pair's handshake to its end, forwards bytes, and
    runs the timers. It never touches a socket:
    an engine reports events to it (a connection arrived, bytes arrived, a
    connection went) and the core asks the engine to send bytes or close a
    connection through the sq_engine_t table. Any engine (ZMQ_STREAM today,
    epoll later) plugs in without changes here.

    Guarantees: bytes for a peer are handed to the engine in the order they
    arrived and never dropped while the peer lives; what the engine cannot
    take now (would block) is held and offered again first. A connection
    pointer stays valid until the core call that reported it returns.
    =========================================================================
*/
#ifndef SQ_CORE_H_INCLUDED
#define SQ_CORE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_conn.h"
#include "sq_balancer.h"
#include "sq_admission.h"
#include "sq_histogram.h"

typedef enum {
    SQ_SEND_OK = 0,         //  The engine took all the bytes
    SQ_SEND_AGAIN,          //  It took nothing; offer them again later
    SQ_SEND_GONE            //  The connection no longer exists
} sq_send_result_t;

//  What an engine tells of itself, for STATS and the metrics
typedef struct {
    const char *name;           //  "stream" or "splice"
    uint64_t pipes_lent;        //  Pipes relays splice through now
    uint64_t pipes_idle;        //  Pipes kept empty for the next relay
    uint64_t pipe_refusals;     //  Times a relay asked for a pipe, had
                                //  none, and copied instead
} sq_engine_figures_t;

//  What the core asks of an engine
typedef struct {
    void *handle;
    //  Sends size bytes (size > 0) to the peer, all or nothing
    sq_send_result_t (*send) (void *handle, sq_conn_t *conn,
                              const uint8_t *data, size_t size);
    //  Closes the connection; no lost-connection event follows for it
    sq_send_result_t (*close) (void *handle, sq_conn_t *conn);
    //  Optional (NULL: the core forwards every byte itself). The pair's
    //  handshake is over: the engine may move the bytes between the two
    //  connections itself from now on. True when it took the pair: the core
    //  then calls send for neither connection again, and the engine reports
    //  what it moves with sq_core_moved and the end with sq_core_disconnected.
    bool (*handoff) (void *handle, sq_conn_t *client, sq_conn_t *worker);
    //  Optional (NULL: no name, no pipes). Fills figures, which the core
    //  zeroed.
    void (*figures) (void *handle, sq_engine_figures_t *figures);
} sq_engine_t;

//  Why a handshake failed, counted in STATS as handshakes.failed_by.<name>
typedef enum {
    SQ_HS_WORKER_CLOSED = 0,    //  The worker closed after the client's command
    SQ_HS_CLIENT_CLOSED,        //  The client closed before the end
    SQ_HS_ERROR,                //  A peer sent an ERROR command
    SQ_HS_MALFORMED,            //  Bytes that are not a handshake
    SQ_HS_TIMEOUT,              //  Past --handshake-timeout
    SQ_HS_ABORTED,              //  The proxy closed the pair for another reason
    SQ_HS_FAILED_COUNT
} sq_hs_failure_t;

//  "worker_closed", "client_closed", "error", "malformed", "timeout", "aborted"
const char *sq_hs_failure_name (sq_hs_failure_t failure);

typedef struct {
    int64_t greeting_timeout_ms;    //  To receive the 64-byte greeting
    int64_t queue_timeout_ms;       //  Longest wait of a client for a worker
    int64_t close_linger_ms;        //  Grace before closing a just-written peer
    size_t max_queue;               //  Clients waiting at once
    size_t max_queue_per_ip;        //  Of those, from one IP (0: no bound)
    int64_t handshake_timeout_ms;   //  To screen, then to finish the handshake
    int64_t handshake_ban_ms;       //  First ban after a failed handshake (0: off)
    int64_t handshake_ban_max_ms;   //  Longest ban, as it doubles
    size_t max_early;               //  Bytes kept per peer before pairing
    int64_t identify_wait_ms;       //  Wait for a registration before serving
    int64_t identify_timeout_ms;    //  A registration waits this long for its connection
    int64_t route_wait_ms;          //  Wait for each worker of a route in turn
    bool route_fallback_any;        //  Route exhausted: any worker (else keep waiting)
    int64_t heartbeat_interval_ms;  //  For a HEARTBEAT that names no interval
    int64_t heartbeat_liveness;     //  Intervals missed before a name is dead
    int64_t pair_idle_timeout_ms;   //  Close a pair silent this long (0: never)
    int64_t pair_max_lifetime_ms;   //  Close a pair this old (0: never)
    size_t max_pair_buffer;         //  Bytes held for one pair, both ways together
    size_t max_buffer;              //  Bytes held for every connection together
    bool slow_peer_block;           //  At a bound, stop reading the side that
                                    //  feeds it (else close the pair)
    sq_admission_limits_t limits;   //  Who may connect, how many, how often
    const char *mechanisms [2];     //  Per side, "CURVE,PLAIN"; NULL: any
    const char *log_context;        //  What the core's log lines begin with
                                    //  ("service billing"), or NULL
    int64_t slow_peer_timeout_ms;   //  An engine that moves a pair itself
                                    //  closes it when bytes wait for a peer
                                    //  and none moved this long (0: never)
} sq_core_config_t;

typedef struct {
    uint64_t accepted [2];          //  Connections, per side
    uint64_t pairs_total;
    uint64_t bytes_to [2];          //  Bytes handed to the engine, per side
    uint64_t chunks_to [2];         //  Sends to the engine (ZMQ_STREAM chunks), per side
    uint64_t rejected_greeting;
    uint64_t rejected_queue_full;
    uint64_t rejected_queue_timeout;
    uint64_t closed_early_overflow; //  Sent too much before pairing
    uint64_t closed_unflushed;      //  Closed with bytes still undelivered
    uint64_t closed [SQ_CLOSED_COUNT];  //  Connections closed, by reason
    uint64_t refused [2][SQ_REFUSED_COUNT]; //  Closed on arrival, per side and reason
    uint64_t rejected_mechanism [2];    //  Greeting named a mechanism not allowed
    uint64_t reading_stops [2];     //  Block mode: times reading a side stopped
    uint64_t accept_failed [2];     //  Connections the engine could not accept
    sq_histogram_t pairing_wait;    //  A client's greeting done to its pairing
    sq_histogram_t pair_duration;   //  A pairing to the end of that pair
    uint64_t handshakes_completed;
    uint64_t handshakes_failed [SQ_HS_FAILED_COUNT];    //  By reason
    uint64_t slots_lost;            //  Worker connections closed by their
                                    //  worker during a handshake
    sq_histogram_t handshake_time;  //  A tail given to both sides ready
} sq_core_stats_t;

typedef struct sq_core sq_core_t;

//  The defaults the command line documents
void sq_core_config_defaults (sq_core_config_t *config);

sq_core_t *sq_core_new (const sq_core_config_t *config, const sq_engine_t *engine);

//  Frees every connection without telling the engine (close them first)
void sq_core_destroy (sq_core_t **self_p);

//  The live connection with this side and routing id, or NULL
sq_conn_t *sq_core_lookup (sq_core_t *self, sq_side_t side,
                           const uint8_t *id, size_t id_size);

//  A peer connected: the core greets it. host is its IP, address "ip:port".
//  Returns the new connection, or NULL when out of memory (then it is closed)
sq_conn_t *sq_core_connected (sq_core_t *self, sq_side_t side,
                              const uint8_t *id, size_t id_size,
                              const char *host, const char *address, int64_t now);

//  Bytes arrived from a peer
void sq_core_received (sq_core_t *self, sq_conn_t *conn,
                       const uint8_t *data, size_t size, int64_t now);

//  The engine could not accept a connection (errno_value: EMFILE when
//  out of file descriptors); counted and logged
void sq_core_accept_failed (sq_core_t *self, sq_side_t side, int errno_value, int64_t now);

//  The peer's connection is gone
void sq_core_disconnected (sq_core_t *self, sq_conn_t *conn, int64_t now);

//  A pair handed to the engine (sq_engine_t.handoff) moved bytes: read
//  from `from` and delivered to its partner. Counts them (bytes_in,
//  bytes_out, the STATS bytes) and marks the pair active now, for
//  --pair-idle-timeout. Engines report in batches; calls for a connection
//  no longer paired only count.
void sq_core_moved (sq_core_t *self, sq_conn_t *from, uint64_t bytes, int64_t now);

//  A pair handed to the engine made no progress for slow_peer_timeout_ms
//  while bytes waited for conn, its slow peer: the core closes the pair,
//  counted as closed.slow_peer
void sq_core_stalled (sq_core_t *self, sq_conn_t *conn, int64_t now);

//  Runs what is due: held bytes, timeouts, delayed closes
void sq_core_tick (sq_core_t *self, int64_t now);

//  Milliseconds until sq_core_tick has work, or -1 when nothing is pending
int64_t sq_core_next_timeout (sq_core_t *self, int64_t now);

//  False while the side must not be read: paused, or (block mode) a pair
//  it feeds, or everything held, is over its bound. The engine keeps
//  sending to the side, so held bytes drain.
bool sq_core_reading (sq_core_t *self, sq_side_t side);

//  Bytes held for peers that could not take them yet
size_t sq_core_held (sq_core_t *self);

//  Takes the new values of what can change while running: timeouts,
//  queue, buffer bounds and policy, limits, access lists, mechanisms,
//  heartbeats (not max_early). Pointers in config must outlive the core.
void sq_core_reconfigure (sq_core_t *self, const sq_core_config_t *config);

//  Drains before a stop: refuses new connections, closes every connection
//  that is not in a pair, and lets the pairs run to their end
void sq_core_drain_all (sq_core_t *self, int64_t now);

//  True once sq_core_drain_all was called
bool sq_core_draining_all (sq_core_t *self);

//  Closes every connection now (for shutdown)
void sq_core_close_all (sq_core_t *self, int64_t now);

//  Names a connection: applied at once to a live connection with this side
//  and address (true), else kept until it connects or the registration
//  expires (false)
bool sq_core_identify (sq_core_t *self, sq_side_t side, const char *address,
                       const char *name, int64_t now);

//  Closes the live connections of a side that match `match` (an IP or a
//  CIDR, against the peer's IP; else a name, against the connection's or
//  its worker's name), and their partners. Returns how many matched.
size_t sq_core_close_matching (sq_core_t *self, sq_side_t side, const char *match,
                               int64_t now);

//  Routing changes that may let waiting clients pair: each tries again
bool sq_core_route (sq_core_t *self, const char *client, const char **workers,
                    size_t count, int64_t now);
bool sq_core_unroute (sq_core_t *self, const char *client, int64_t now);
bool sq_core_set_draining (sq_core_t *self, const char *worker, bool draining, int64_t now);
bool sq_core_set_weight (sq_core_t *self, const char *worker, unsigned weight);
bool sq_core_set_load (sq_core_t *self, const char *worker, double load);

//  A heartbeat from a name; interval_ms 0 means the configured interval.
//  Once a name has sent one, missing heartbeat_liveness intervals closes
//  every connection of that name and their partners. False when out of
//  memory.
bool sq_core_heartbeat (sq_core_t *self, const char *name, int64_t interval_ms,
                        int64_t now);

//  Names watched for heartbeats
size_t sq_core_heartbeat_count (sq_core_t *self);

//  Routes or rules were changed in the balancer or identity directly (a
//  route file was loaded): waiting clients try again
void sq_core_routing_changed (sq_core_t *self, int64_t now);

//  Steering, as for zmq_proxy_steerable: the loop reads these flags. While
//  paused no greeting and no pair times out for silence; at resume each
//  gets its full time again (pair lifetimes keep running).
void sq_core_set_paused (sq_core_t *self, bool paused, int64_t now);
bool sq_core_paused (sq_core_t *self);
void sq_core_terminate (sq_core_t *self);
bool sq_core_terminating (sq_core_t *self);

//  Read access for the control socket and tests
const sq_core_stats_t *sq_core_stats (sq_core_t *self);
sq_conn_table_t *sq_core_conns (sq_core_t *self);
sq_balancer_t *sq_core_balancer (sq_core_t *self);
struct sq_identity *sq_core_identity (sq_core_t *self);
const sq_core_config_t *sq_core_config (sq_core_t *self);
size_t sq_core_active_pairs (sq_core_t *self);

//  What the engine tells of itself (sq_engine_figures_t); name is ""
//  when it tells nothing
void sq_core_engine_figures (sq_core_t *self, sq_engine_figures_t *figures);

//  Clients being screened, and pairs whose handshake is followed, now
size_t sq_core_screening (sq_core_t *self);
size_t sq_core_following (sq_core_t *self);

//  Failed handshakes of all reasons
uint64_t sq_core_handshakes_failed (sq_core_t *self);

//  The bans of clients after failed handshakes
struct sq_bans *sq_core_bans (sq_core_t *self);

//  Lifts the ban of a key (UNBAN); false when it had none
bool sq_core_unban (sq_core_t *self, const char *key);

//  Connections on both sides, in any state but dead
size_t sq_core_connections (sq_core_t *self);
int64_t sq_core_started (sq_core_t *self);

#endif
