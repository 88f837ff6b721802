/*  =========================================================================
    sq_core_private - what sq_core.c and sq_pairing.c share; not an API
    =========================================================================
*/
#ifndef SQ_CORE_PRIVATE_H_INCLUDED
#define SQ_CORE_PRIVATE_H_INCLUDED

#include "sq_core.h"
#include "sq_identity.h"
#include "sq_dict.h"
#include "sq_heartbeat.h"
#include "sq_admission.h"

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
    sq_list_t waiting;          //  Queued clients, all mechanisms (wait_node)
    int64_t next_widen_ms;      //  When a routed client may accept more workers
    sq_heartbeat_t *heartbeat;  //  Names that send heartbeats
    sq_list_t pairs_by_age;     //  Clients of pairs, oldest pair first
    sq_list_t pairs_by_activity;    //  Clients of pairs, least recently active first
    sq_list_t closing;          //  Connections in CLOSING
    sq_list_t blocked;          //  Connections holding bytes (blocked_node)
    sq_list_t dead;             //  To free when the current event is over
    sq_admission_t *admission;  //  Per-IP counts and rates of new connections
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
    int64_t resumed_ms;         //  Greeting clocks restart at a resume
    bool terminating;
    int64_t started_ms;
};

//  Hands bytes to the engine for a peer, or holds them (sq_core.c)
void sq_core_send (sq_core_t *self, sq_conn_t *conn, const uint8_t *data, size_t size,
                   int64_t now);

//  The proxy closes a connection and its partner (sq_core.c)
void sq_core_close_conn (sq_core_t *self, sq_conn_t *conn, sq_closed_t code,
                         const char *reason, int64_t now);

//  Logs one event of one connection at info level, printf-style (sq_core.c)
void sq_core_log_conn (const sq_conn_t *conn, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  The pair of client has finished its handshake: it goes to the engine,
//  if the engine takes pairs, once nothing is held for either connection
//  (now, or when the last held bytes are flushed) (sq_core.c)
void sq_core_handoff (sq_core_t *self, sq_conn_t *client, int64_t now);

//  A connection's greeting is done: name it, then pair, queue or offer it
//  (sq_pairing.c)
void sq_pairing_ready (sq_core_t *self, sq_conn_t *conn, int64_t now);

//  Takes a queued client out of every waiting structure (sq_pairing.c)
void sq_pairing_unqueue (sq_core_t *self, sq_conn_t *client);

//  Timers of naming and routing: waits that end, routes that widen
void sq_pairing_tick (sq_core_t *self, int64_t now);

//  When sq_pairing_tick next has work, or INT64_MAX
int64_t sq_pairing_next_due (sq_core_t *self);

//  Tries again to pair every queued client, after a change that may allow
//  it (a worker no longer draining, a route changed, a connection renamed)
void sq_pairing_rematch (sq_core_t *self, int64_t now);

#endif
