/*  =========================================================================
    sq_balancer - who may pair with whom, and which worker gets the next client

    Workers are known by name (for now the peer IP: every backend connection
    from one IP belongs to one worker). Each mechanism has a pool holding the
    idle worker connections that speak it (grouped by worker, as "offers",
    kept in a heap with the worker due the next client on top) and the FIFO
    of clients that wait for one. A client only ever meets a worker
    connection of exactly its own mechanism. The choice of worker is made in
    one place, sq_balancer_choose_worker, so that sticky routes and weights
    can join it later.
    =========================================================================
*/
#ifndef SQ_BALANCER_H_INCLUDED
#define SQ_BALANCER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "sq_conn.h"

typedef struct sq_worker {
    char name [SQ_NAME_MAX];
    size_t connections;         //  Backend connections of this worker, any state
    size_t active_pairs;
    size_t idle_slots;
    int64_t last_paired_ms;     //  Last pairing, or arrival: ties go to the oldest
    sq_list_t offers;           //  Its sq_offer_t, one per mechanism with idle slots
    struct sq_worker *hash_next;
} sq_worker_t;

typedef struct sq_balancer sq_balancer_t;

sq_balancer_t *sq_balancer_new (void);

//  Frees workers, pools and offers (not the connections they list)
void sq_balancer_destroy (sq_balancer_t **self_p);

//  Counts a new connection for the worker of this name, creating the worker
sq_worker_t *sq_balancer_worker_attach (sq_balancer_t *self, const char *name,
                                        int64_t now);

//  Counts a connection gone; frees the worker when it has none left
void sq_balancer_worker_detach (sq_balancer_t *self, sq_worker_t *worker);

//  Offers an idle worker connection (conn->worker set, greeting done)
void sq_balancer_idle_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now);

//  Withdraws an idle worker connection
void sq_balancer_idle_remove (sq_balancer_t *self, sq_conn_t *conn);

//  Puts a client at the tail of its mechanism's queue
void sq_balancer_queue_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now);

//  Takes a client out of its queue
void sq_balancer_queue_remove (sq_balancer_t *self, sq_conn_t *conn);

//  The idle worker connection a client should get, or NULL if none speaks
//  its mechanism. Least active pairs wins, then the worker paired longest
//  ago, then its oldest idle connection. O(1). Does not withdraw it.
sq_conn_t *sq_balancer_choose_worker (sq_balancer_t *self, const sq_conn_t *client);

//  The oldest queued client of this mechanism, or NULL
sq_conn_t *sq_balancer_first_client (sq_balancer_t *self, const char *mechanism);

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

#endif
