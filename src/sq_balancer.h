/*  =========================================================================
    sq_balancer - who may pair with whom, and which worker gets the next client

    Workers are known by name (see sq_identity: a registration, an address
    rule, or by default the peer IP); every backend connection with one name
    belongs to one worker. Each greeting tail (conn->pool: mechanism,
    version, as-server and filler, see sq_greeting_pool_key) has a pool
    holding the idle worker connections that sent it (grouped by worker, as
    "offers", kept in a heap with the worker due the next client on top) and
    the FIFO of screened clients given that tail, who wait for one. Clients
    that wait for any tail of their mechanism wait in the pool keyed by the
    mechanism alone. A client only ever meets a worker connection whose tail
    is byte for byte the one it was given.

    The choice is made in one place, sq_balancer_choose_worker: a client
    with a route tries the workers of its route in order; otherwise the
    least loaded eligible worker wins: the lowest load per unit of weight,
    where load is the worker's own reported load times its slots when it
    reports one, else its active pairs; ties go to the worker paired longest
    ago. A draining worker is never chosen.
    =========================================================================
*/
#ifndef SQ_BALANCER_H_INCLUDED
#define SQ_BALANCER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "sq_conn.h"

#define SQ_ROUTE_MAX    16              //  Workers in one route
#define SQ_ROUTE_ANY    ((size_t) -1)   //  Any worker is acceptable
#define SQ_WEIGHT_MAX   1000000

typedef struct sq_worker {
    char name [SQ_NAME_MAX];
    size_t connections;         //  Backend connections of this worker, any state
    size_t active_pairs;
    size_t idle_slots;
    int64_t last_paired_ms;     //  Last pairing, or arrival: ties go to the oldest
    unsigned weight;            //  1 unless set
    bool draining;              //  No new pairs
    bool load_reported;         //  The worker reported its own load
    double load;                //  That load, 0..1
    sq_list_t offers;           //  Its offers, one per mechanism with idle slots
} sq_worker_t;

typedef struct {
    char client [SQ_NAME_MAX];
    size_t count;
    char workers [SQ_ROUTE_MAX][SQ_NAME_MAX];
} sq_route_t;

typedef struct sq_balancer sq_balancer_t;

sq_balancer_t *sq_balancer_new (void);

//  Frees workers, routes, pools and offers (not the connections they list)
void sq_balancer_destroy (sq_balancer_t **self_p);

//  -------------------------------------------------------------------------
//  Workers

//  The worker of this name, or NULL
sq_worker_t *sq_balancer_worker (sq_balancer_t *self, const char *name);

//  Counts a new connection for the worker of this name, creating the worker
sq_worker_t *sq_balancer_worker_attach (sq_balancer_t *self, const char *name,
                                        int64_t now);

//  Counts a connection gone; forgets the worker when it has no connection
//  and no setting left
void sq_balancer_worker_detach (sq_balancer_t *self, sq_worker_t *worker);

//  Settings by worker name; they hold before the worker connects and while
//  it has no connection. False when out of memory.
bool sq_balancer_set_weight (sq_balancer_t *self, const char *name, unsigned weight);
bool sq_balancer_set_draining (sq_balancer_t *self, const char *name, bool draining);
bool sq_balancer_set_load (sq_balancer_t *self, const char *name, double load);

//  Puts every weight back to 1 (before a route file is loaded again)
void sq_balancer_reset_weights (sq_balancer_t *self);

//  Calls fn on every worker record
void sq_balancer_each_worker (sq_balancer_t *self,
                              void (*fn) (sq_worker_t *worker, void *argument),
                              void *argument);

//  -------------------------------------------------------------------------
//  Routes: client name -> workers to try, in order

bool sq_balancer_route_set (sq_balancer_t *self, const char *client,
                            const char **workers, size_t count);
bool sq_balancer_route_delete (sq_balancer_t *self, const char *client);
const sq_route_t *sq_balancer_route (sq_balancer_t *self, const char *client);
size_t sq_balancer_route_count (sq_balancer_t *self);
void sq_balancer_routes_clear (sq_balancer_t *self);
void sq_balancer_each_route (sq_balancer_t *self,
                             void (*fn) (const sq_route_t *route, void *argument),
                             void *argument);

//  -------------------------------------------------------------------------
//  Idle connections, waiting clients, the choice

//  Offers an idle worker connection (conn->worker set, greeting done)
void sq_balancer_idle_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now);

//  Withdraws an idle worker connection
void sq_balancer_idle_remove (sq_balancer_t *self, sq_conn_t *conn);

//  Puts a client at the tail of its mechanism's queue
void sq_balancer_queue_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now);

//  Takes a client out of its queue
void sq_balancer_queue_remove (sq_balancer_t *self, sq_conn_t *conn);

//  The idle worker connection of the client's pool it should get, or NULL. `allowed` is
//  how many workers of the client's route it accepts now, or SQ_ROUTE_ANY
//  when any worker will do (the route's workers are still tried first).
//  A client without a route takes the least loaded worker. O(1) without a
//  route, O(route length) with one. Does not withdraw the connection.
sq_conn_t *sq_balancer_choose_worker (sq_balancer_t *self, const sq_conn_t *client,
                                      size_t allowed);

//  True when the client, accepting `allowed` workers of its route, would
//  take this worker
bool sq_balancer_accepts (sq_balancer_t *self, const sq_conn_t *client, size_t allowed,
                          const sq_worker_t *worker);

//  An idle worker connection whose greeting tail a client may be given: in
//  a pool of the client's mechanism, the one it would get now (`allowed`
//  as for sq_balancer_choose_worker), or NULL. Does not withdraw it.
sq_conn_t *sq_balancer_tail_source (sq_balancer_t *self, const sq_conn_t *client,
                                    size_t allowed);

//  The queue of waiting clients of a pool key (state_node), or NULL
sq_list_t *sq_balancer_queue (sq_balancer_t *self, const char *key);

//  A queued client that has waited since `deadline` or earlier, or NULL
sq_conn_t *sq_balancer_expired_client (sq_balancer_t *self, int64_t deadline);

//  The earliest waiting_since_ms among queued clients, or INT64_MAX
int64_t sq_balancer_oldest_wait (sq_balancer_t *self);

//  Bookkeeping for load: a pair started or ended on this worker
void sq_balancer_pair_started (sq_balancer_t *self, sq_worker_t *worker, int64_t now);
void sq_balancer_pair_ended (sq_balancer_t *self, sq_worker_t *worker);

size_t sq_balancer_idle_count (sq_balancer_t *self);
size_t sq_balancer_queued_count (sq_balancer_t *self);
size_t sq_balancer_worker_count (sq_balancer_t *self);

//  Worker records, connected or kept for their settings
size_t sq_balancer_record_count (sq_balancer_t *self);

#endif
