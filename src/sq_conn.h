/*  =========================================================================
    sq_conn - one peer connection, and the table that finds it by routing id

    The table is a hash of (side, routing id) with chaining: lookup, insert
    and remove are O(1) on average, and a paired connection points straight
    at its partner, so forwarding needs one lookup per chunk (SRD 200).
    =========================================================================
*/
#ifndef SQ_CONN_H_INCLUDED
#define SQ_CONN_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_list.h"
#include "sq_buf.h"
#include "sq_greeting.h"

//  Room for routing ids of any engine; ZMQ_STREAM's are 5 bytes
#define SQ_ID_MAX       32
//  "[v6 address]:port" fits
#define SQ_ADDRESS_MAX  64
#define SQ_NAME_MAX     64

typedef enum {
    SQ_FRONTEND = 0,        //  Clients
    SQ_BACKEND = 1          //  Workers
} sq_side_t;

typedef enum {
    SQ_CONN_GREETING = 0,   //  Collecting the peer's 64-byte greeting
    SQ_CONN_NAMING,         //  Greeting done, waiting for a registration
    SQ_CONN_SCREENING,      //  Client given a worker's greeting tail: its
                            //  first command is checked before any worker
    SQ_CONN_QUEUED,         //  Client waiting for a worker
    SQ_CONN_IDLE,           //  Worker connection waiting for a client
    SQ_CONN_PAIRED,         //  Bytes flow to and from the partner
    SQ_CONN_CLOSING,        //  Delivering what is left, then closed
    SQ_CONN_DEAD            //  Gone; freed once the current event is over
} sq_conn_state_t;

//  Why a connection was closed, counted in STATS as closed.<name>
typedef enum {
    SQ_CLOSED_PEER = 0,     //  The peer disconnected
    SQ_CLOSED_PARTNER,      //  Its partner left or was closed
    SQ_CLOSED_HEARTBEAT,    //  Its name stopped sending heartbeats
    SQ_CLOSED_IDLE,         //  No byte through its pair for too long
    SQ_CLOSED_LIFETIME,     //  Its pair grew too old
    SQ_CLOSED_GREETING,     //  Bad or late greeting
    SQ_CLOSED_QUEUE,        //  Queue full or queue timeout
    SQ_CLOSED_SLOW,         //  Its pair held more than the proxy may buffer
    SQ_CLOSED_HANDSHAKE,    //  Its handshake broke the rules or ran late
    SQ_CLOSED_OPERATOR,     //  CLOSE on the control socket
    SQ_CLOSED_SHUTDOWN,     //  The proxy stopped
    SQ_CLOSED_OTHER,        //  Anything else (too many early bytes, memory)
    SQ_CLOSED_COUNT
} sq_closed_t;

//  How far the ZMTP handshake after the greeting has come (sq_handshake)
typedef enum {
    SQ_HANDSHAKE_NONE = 0,      //  Not begun: no worker tail given yet
    SQ_HANDSHAKE_SCREENING,     //  Client: tail given, first command awaited
    SQ_HANDSHAKE_SCREENED,      //  Client: first command well formed
    SQ_HANDSHAKE_FOLLOWING,     //  Paired: frame headers followed both ways
    SQ_HANDSHAKE_DONE,          //  Both sides ready: nothing parsed any more
    SQ_HANDSHAKE_FAILED         //  Failed and counted: nothing parsed any more
} sq_handshake_t;

//  Room for a pool key (sq_greeting_pool_key)
#define SQ_POOL_KEY_MAX 112
//  Room for a command name in logs (longer names are cut)
#define SQ_COMMAND_LOG_MAX 16

struct sq_worker;
struct sq_offer;
struct sq_frame_reader;

typedef struct sq_conn {
    sq_side_t side;
    sq_conn_state_t state;
    uint8_t id [SQ_ID_MAX];             //  Engine's routing id
    size_t id_size;
    uint64_t serial;                    //  Unique number, for logs and LIST
    char address [SQ_ADDRESS_MAX];      //  Peer "ip:port"
    char host [SQ_ADDRESS_MAX];         //  Peer IP alone
    char name [SQ_NAME_MAX];            //  Client or worker name (sq_identity)
    sq_greeting_t greeting;
    //  The balancer's pool: for a worker connection, its greeting tail;
    //  for a client, the tail it was given, or its mechanism before that
    char pool [SQ_POOL_KEY_MAX];
    sq_handshake_t handshake;
    struct sq_frame_reader *reader;     //  Reads its bytes
                                        //  while its handshake is read
    char last_command [SQ_COMMAND_LOG_MAX]; //  Last one it sent, for logs
    bool sent_ready;                    //  Its last handshake command went
    int64_t handshake_ms;               //  When its handshake began
    int64_t phase_ms;                   //  When its screening, or the
                                        //  following of its pair, began
    sq_list_node_t handshake_node;      //  Client of a pair whose handshake
                                        //  is followed: in the core's list
    sq_buf_t early;                     //  Sent after greeting, before pairing
    sq_buf_t outq;                      //  For this peer, not yet taken by the engine
    struct sq_conn *partner;            //  When paired
    struct sq_worker *worker;           //  Backend only: who offers this slot
    struct sq_offer *offer;             //  Backend, while idle
    bool identified;                    //  Named by a registration
    bool over;                          //  Block mode: its pair is over its bound
    bool discard;                       //  Closed as a slow peer: send nothing more
    bool admitted;                      //  Counted against its IP (sq_admission)
    bool queue_counted;                 //  Counted in the queue of its IP
    bool handoff_due;                   //  Its pair's handshake is over: hand
                                        //  the pair to the engine once flushed
    bool handed_off;                    //  The engine moves its bytes itself
    int fd;                             //  The engine's descriptor for it, or -1
    bool fd_shut;                       //  The engine shut it down (see sq_engine_stream)
    int64_t created_ms;
    int64_t greeted_ms;                 //  When the greeting was complete
    int64_t ready_ms;                   //  When it was served (after naming)
    int64_t waiting_since_ms;           //  When it was queued or went idle
    int64_t paired_ms;
    int64_t last_out_ms;                //  Last time bytes were handed to the engine
    int64_t close_at_ms;                //  When closing, the earliest close
    uint64_t bytes_in;                  //  Received from the peer
    uint64_t bytes_out;                 //  Handed to the engine for the peer
    const char *close_reason;           //  For the log
    sq_closed_t close_code;             //  For the counters
    sq_list_node_t state_node;          //  In the list its state keeps it in
    sq_list_node_t blocked_node;        //  In the core's list while outq holds bytes
    sq_list_node_t wait_node;           //  In the core's list of queued clients
    sq_list_node_t age_node;            //  Client of a pair: pairs by age
    sq_list_node_t activity_node;       //  Client of a pair: pairs by last activity
    int64_t last_activity_ms;           //  Client of a pair: last byte either way
    sq_list_node_t all_node;            //  In the table's list of every connection
    struct sq_conn *hash_next;
} sq_conn_t;

typedef struct sq_conn_table sq_conn_table_t;

//  Makes a new connection object (not in any table)
sq_conn_t *sq_conn_new (sq_side_t side, const uint8_t *id, size_t id_size);

//  Frees a connection and what it holds
void sq_conn_destroy (sq_conn_t **self_p);

//  Logs one event of one connection at info level, printf-style:
//  "<side> #<serial> <address> <event>"
void sq_conn_log (const sq_conn_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  "frontend" or "backend"
const char *sq_side_name (sq_side_t side);

//  "peer", "partner", "heartbeat", "idle_timeout", "lifetime", "greeting",
//  "queue", "slow_peer", "handshake", "operator", "shutdown", "other"
const char *sq_closed_name (sq_closed_t code);

//  Room for a key made by sq_conn_address_key
#define SQ_ADDRESS_KEY_MAX (SQ_ADDRESS_MAX + 2)

//  The key that finds a connection by side and peer address ("f ip:port"
//  or "b ip:port"): registrations and the live connections share it
void sq_conn_address_key (sq_side_t side, const char *address, char *key, size_t size);

//  "greeting", "naming", "screening", "queued", "idle", "paired",
//  "closing", "dead"
const char *sq_conn_state_name (sq_conn_state_t state);

sq_conn_table_t *sq_conn_table_new (void);

//  Destroys the table and every connection still in it
void sq_conn_table_destroy (sq_conn_table_t **self_p);

//  Adds a connection; its (side, id) must not be in the table already
void sq_conn_table_insert (sq_conn_table_t *self, sq_conn_t *conn);

//  Takes a connection out of the table (does not free it)
void sq_conn_table_remove (sq_conn_table_t *self, sq_conn_t *conn);

//  The connection with this side and routing id, or NULL
sq_conn_t *sq_conn_table_lookup (sq_conn_table_t *self, sq_side_t side,
                                 const uint8_t *id, size_t id_size);

//  Connections in the table, on one side
size_t sq_conn_table_count (sq_conn_table_t *self, sq_side_t side);

//  The list of every connection in the table, oldest first (all_node)
sq_list_t *sq_conn_table_all (sq_conn_table_t *self);

#endif
