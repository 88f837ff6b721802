/*  =========================================================================
    sq_balancer - pools per greeting tail, workers by name, routes, the choice
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include "sq_balancer.h"
#include "sq_dict.h"

#define S_NOT_IN_HEAP ((size_t) -1)

//  The idle connections one worker offers for one mechanism
typedef struct sq_offer {
    sq_worker_t *worker;
    struct sq_pool *pool;
    sq_list_t idle;             //  Connections (state_node), oldest first
    size_t heap_index;          //  Position in pool->heap, or S_NOT_IN_HEAP
    sq_list_node_t worker_node; //  In worker->offers
} sq_offer_t;

//  Everything that speaks one greeting tail (its key, conn->pool), or the
//  clients of one mechanism that wait for any tail (the key is then the
//  mechanism alone, and the pool holds no offer). The offers of eligible workers form
//  a binary heap with the worker that should get the next client on top, so
//  a choice is O(1) and a change of load O(log workers).
typedef struct sq_pool {
    char key [SQ_POOL_KEY_MAX];
    char mechanism [SQ_MECHANISM_MAX + 1];
    sq_offer_t **heap;
    size_t heap_size;
    size_t heap_capacity;
    size_t offer_count;         //  In the heap or not (draining workers)
    sq_list_t queue;            //  Waiting clients (state_node), oldest first
    sq_list_node_t node;        //  In the balancer's list of pools
} sq_pool_t;

struct sq_balancer {
    sq_dict_t *workers;         //  Name -> sq_worker_t
    sq_dict_t *routes;          //  Client name -> sq_route_t
    sq_list_t pools;
    size_t connected_workers;   //  Workers with at least one connection
    size_t idle_count;
    size_t queued_count;
};

sq_balancer_t *
sq_balancer_new (void)
{
    sq_balancer_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->workers = sq_dict_new ();
    self->routes = sq_dict_new ();
    sq_list_init (&self->pools);
    if (!self->workers || !self->routes)
        sq_balancer_destroy (&self);
    return self;
}

//  -------------------------------------------------------------------------
//  The heap of offers

//  The load a worker carries, per unit of weight: lower gets the next client
static double
s_score (const sq_worker_t *worker)
{
    double load = worker->load_reported
                ? worker->load * (double) (worker->active_pairs + worker->idle_slots)
                : (double) worker->active_pairs;
    return load / worker->weight;
}

//  True when worker a should get the next client before worker b
static bool
s_better (const sq_worker_t *a, const sq_worker_t *b)
{
    double score_a = s_score (a), score_b = s_score (b);
    if (score_a != score_b)
        return score_a < score_b;
    return a->last_paired_ms < b->last_paired_ms;
}

static void
s_heap_set (sq_pool_t *pool, size_t index, sq_offer_t *offer)
{
    pool->heap [index] = offer;
    offer->heap_index = index;
}

static void
s_heap_up (sq_pool_t *pool, size_t index)
{
    sq_offer_t *offer = pool->heap [index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (!s_better (offer->worker, pool->heap [parent]->worker))
            break;
        s_heap_set (pool, index, pool->heap [parent]);
        index = parent;
    }
    s_heap_set (pool, index, offer);
}

static void
s_heap_down (sq_pool_t *pool, size_t index)
{
    sq_offer_t *offer = pool->heap [index];
    while (true) {
        size_t child = 2 * index + 1;
        if (child >= pool->heap_size)
            break;
        if (child + 1 < pool->heap_size
        &&  s_better (pool->heap [child + 1]->worker, pool->heap [child]->worker))
            child++;
        if (!s_better (pool->heap [child]->worker, offer->worker))
            break;
        s_heap_set (pool, index, pool->heap [child]);
        index = child;
    }
    s_heap_set (pool, index, offer);
}

static bool
s_heap_push (sq_pool_t *pool, sq_offer_t *offer)
{
    if (pool->heap_size == pool->heap_capacity) {
        size_t capacity = pool->heap_capacity? pool->heap_capacity * 2: 16;
        sq_offer_t **heap = realloc (pool->heap, capacity * sizeof *heap);
        if (!heap)
            return false;
        pool->heap = heap;
        pool->heap_capacity = capacity;
    }
    s_heap_set (pool, pool->heap_size++, offer);
    s_heap_up (pool, offer->heap_index);
    return true;
}

static void
s_heap_remove (sq_pool_t *pool, sq_offer_t *offer)
{
    size_t index = offer->heap_index;
    if (index == S_NOT_IN_HEAP)
        return;
    offer->heap_index = S_NOT_IN_HEAP;
    sq_offer_t *last = pool->heap [--pool->heap_size];
    if (last == offer)
        return;
    s_heap_set (pool, index, last);
    s_heap_up (pool, index);
    s_heap_down (pool, last->heap_index);
}

//  Puts each offer of a worker back in order after its load changed, and
//  in or out of the heaps as it stops or starts draining
static void
s_worker_reorder (sq_worker_t *worker)
{
    for (sq_list_node_t *node = worker->offers.next; node != &worker->offers; node = node->next) {
        sq_offer_t *offer = sq_list_entry (node, sq_offer_t, worker_node);
        if (worker->draining)
            s_heap_remove (offer->pool, offer);
        else
        if (offer->heap_index == S_NOT_IN_HEAP)
            s_heap_push (offer->pool, offer);
        else {
            s_heap_up (offer->pool, offer->heap_index);
            s_heap_down (offer->pool, offer->heap_index);
        }
    }
}

//  -------------------------------------------------------------------------
//  Pools and offers

//  The pool of a key; created when `create` is set, for a connection of
//  this mechanism
static sq_pool_t *
s_pool (sq_balancer_t *self, const char *key, const char *mechanism, bool create)
{
    for (sq_list_node_t *node = self->pools.next; node != &self->pools; node = node->next) {
        sq_pool_t *pool = sq_list_entry (node, sq_pool_t, node);
        if (strcmp (pool->key, key) == 0)
            return pool;
    }
    if (!create)
        return NULL;
    sq_pool_t *pool = calloc (1, sizeof *pool);
    if (!pool)
        return NULL;
    snprintf (pool->key, sizeof pool->key, "%s", key);
    snprintf (pool->mechanism, sizeof pool->mechanism, "%s", mechanism);
    sq_list_init (&pool->queue);
    sq_list_append (&self->pools, &pool->node);
    return pool;
}

static void
s_pool_free (sq_pool_t *pool)
{
    sq_list_remove (&pool->node);
    free (pool->heap);
    free (pool);
}

//  Pools live only while they hold something, so odd mechanism names sent
//  by peers cannot pile up
static void
s_pool_release (sq_pool_t *pool)
{
    if (pool->offer_count == 0 && sq_list_empty (&pool->queue))
        s_pool_free (pool);
}

static sq_offer_t *
s_offer (sq_worker_t *worker, sq_pool_t *pool)
{
    for (sq_list_node_t *node = worker->offers.next; node != &worker->offers; node = node->next) {
        sq_offer_t *offer = sq_list_entry (node, sq_offer_t, worker_node);
        if (offer->pool == pool)
            return offer;
    }
    return NULL;
}

static sq_offer_t *
s_offer_new (sq_worker_t *worker, sq_pool_t *pool)
{
    sq_offer_t *offer = calloc (1, sizeof *offer);
    if (!offer)
        return NULL;
    offer->worker = worker;
    offer->pool = pool;
    offer->heap_index = S_NOT_IN_HEAP;
    sq_list_init (&offer->idle);
    if (!worker->draining && !s_heap_push (pool, offer)) {
        free (offer);
        return NULL;
    }
    sq_list_append (&worker->offers, &offer->worker_node);
    pool->offer_count++;
    return offer;
}

static void
s_offer_free (sq_offer_t *offer)
{
    s_heap_remove (offer->pool, offer);
    offer->pool->offer_count--;
    sq_list_remove (&offer->worker_node);
    free (offer);
}

//  -------------------------------------------------------------------------
//  Workers

static void
s_worker_free (void *item)
{
    sq_worker_t *worker = item;
    while (!sq_list_empty (&worker->offers))
        s_offer_free (sq_list_entry (worker->offers.next, sq_offer_t, worker_node));
    free (worker);
}

void
sq_balancer_destroy (sq_balancer_t **self_p)
{
    sq_balancer_t *self = *self_p;
    if (!self)
        return;
    //  Offers point into pools: workers (and their offers) go first
    if (self->workers)
        sq_dict_destroy (&self->workers, s_worker_free);
    if (self->routes)
        sq_dict_destroy (&self->routes, free);
    while (!sq_list_empty (&self->pools))
        s_pool_free (sq_list_entry (self->pools.next, sq_pool_t, node));
    free (self);
    *self_p = NULL;
}

sq_worker_t *
sq_balancer_worker (sq_balancer_t *self, const char *name)
{
    return sq_dict_lookup (self->workers, name);
}

//  The record for a name, created with default settings when absent
static sq_worker_t *
s_worker_record (sq_balancer_t *self, const char *name, int64_t now)
{
    sq_worker_t *worker = sq_dict_lookup (self->workers, name);
    if (worker)
        return worker;
    worker = calloc (1, sizeof *worker);
    if (!worker)
        return NULL;
    snprintf (worker->name, sizeof worker->name, "%s", name);
    worker->weight = 1;
    worker->last_paired_ms = now;
    sq_list_init (&worker->offers);
    if (!sq_dict_insert (self->workers, worker->name, worker)) {
        free (worker);
        return NULL;
    }
    return worker;
}

static bool s_worker_unused (const sq_worker_t *worker);

//  Forgets a record that no longer carries anything
static void
s_worker_release (sq_balancer_t *self, sq_worker_t *worker)
{
    if (s_worker_unused (worker)) {
        assert (sq_list_empty (&worker->offers));
        sq_dict_delete (self->workers, worker->name);
        free (worker);
    }
}

sq_worker_t *
sq_balancer_worker_attach (sq_balancer_t *self, const char *name, int64_t now)
{
    sq_worker_t *worker = s_worker_record (self, name, now);
    if (worker && worker->connections++ == 0)
        self->connected_workers++;
    return worker;
}

void
sq_balancer_worker_detach (sq_balancer_t *self, sq_worker_t *worker)
{
    assert (worker->connections > 0);
    if (--worker->connections == 0)
        self->connected_workers--;
    s_worker_release (self, worker);
}

bool
sq_balancer_set_weight (sq_balancer_t *self, const char *name, unsigned weight)
{
    sq_worker_t *worker = s_worker_record (self, name, 0);
    if (!worker)
        return false;
    worker->weight = weight? weight: 1;
    s_worker_reorder (worker);
    s_worker_release (self, worker);
    return true;
}

bool
sq_balancer_set_draining (sq_balancer_t *self, const char *name, bool draining)
{
    sq_worker_t *worker = s_worker_record (self, name, 0);
    if (!worker)
        return false;
    worker->draining = draining;
    s_worker_reorder (worker);
    s_worker_release (self, worker);
    return true;
}

bool
sq_balancer_set_load (sq_balancer_t *self, const char *name, double load)
{
    sq_worker_t *worker = s_worker_record (self, name, 0);
    if (!worker)
        return false;
    worker->load_reported = true;
    worker->load = load;
    s_worker_reorder (worker);
    return true;
}

//  True when a record carries nothing: no connection, no setting
static bool
s_worker_unused (const sq_worker_t *worker)
{
    return worker->connections == 0 && worker->weight == 1 && !worker->draining
        && !worker->load_reported;
}

static bool
s_reset_weight (const char *key, void *item, void *argument)
{
    (void) key;
    (void) argument;
    sq_worker_t *worker = item;
    worker->weight = 1;
    s_worker_reorder (worker);
    if (!s_worker_unused (worker))
        return true;
    free (worker);
    return false;
}

void
sq_balancer_reset_weights (sq_balancer_t *self)
{
    sq_dict_retain (self->workers, s_reset_weight, NULL);
}

typedef struct {
    void (*fn) (sq_worker_t *worker, void *argument);
    void *argument;
} s_each_worker_t;

static void
s_each_worker (const char *key, void *item, void *argument)
{
    (void) key;
    s_each_worker_t *each = argument;
    each->fn (item, each->argument);
}

void
sq_balancer_each_worker (sq_balancer_t *self,
                         void (*fn) (sq_worker_t *worker, void *argument), void *argument)
{
    s_each_worker_t each = { fn, argument };
    sq_dict_each (self->workers, s_each_worker, &each);
}

//  -------------------------------------------------------------------------
//  Routes

bool
sq_balancer_route_set (sq_balancer_t *self, const char *client,
                       const char **workers, size_t count)
{
    if (count == 0 || count > SQ_ROUTE_MAX)
        return false;
    sq_route_t *route = calloc (1, sizeof *route);
    if (!route)
        return false;
    snprintf (route->client, sizeof route->client, "%s", client);
    for (size_t index = 0; index < count; index++)
        snprintf (route->workers [index], SQ_NAME_MAX, "%s", workers [index]);
    route->count = count;
    sq_route_t *old = sq_dict_delete (self->routes, client);
    free (old);
    if (!sq_dict_insert (self->routes, route->client, route)) {
        free (route);
        return false;
    }
    return true;
}

bool
sq_balancer_route_delete (sq_balancer_t *self, const char *client)
{
    sq_route_t *route = sq_dict_delete (self->routes, client);
    free (route);
    return route != NULL;
}

const sq_route_t *
sq_balancer_route (sq_balancer_t *self, const char *client)
{
    return sq_dict_lookup (self->routes, client);
}

size_t
sq_balancer_route_count (sq_balancer_t *self)
{
    return sq_dict_size (self->routes);
}

void
sq_balancer_routes_clear (sq_balancer_t *self)
{
    sq_dict_t *fresh = sq_dict_new ();
    if (!fresh)
        return;
    sq_dict_destroy (&self->routes, free);
    self->routes = fresh;
}

typedef struct {
    void (*fn) (const sq_route_t *route, void *argument);
    void *argument;
} s_each_route_t;

static void
s_each_route (const char *key, void *item, void *argument)
{
    (void) key;
    s_each_route_t *each = argument;
    each->fn (item, each->argument);
}

void
sq_balancer_each_route (sq_balancer_t *self,
                        void (*fn) (const sq_route_t *route, void *argument),
                        void *argument)
{
    s_each_route_t each = { fn, argument };
    sq_dict_each (self->routes, s_each_route, &each);
}

//  -------------------------------------------------------------------------
//  Idle connections and queues

void
sq_balancer_idle_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now)
{
    assert (conn->worker && !conn->offer);
    sq_pool_t *pool = s_pool (self, conn->pool, conn->greeting.mechanism, true);
    sq_offer_t *offer = NULL;
    if (pool) {
        offer = s_offer (conn->worker, pool);
        if (!offer)
            offer = s_offer_new (conn->worker, pool);
    }
    if (!offer) {
        //  Out of memory: the connection stays unlisted; it will time out
        //  or close like any other, it just never gets a client
        if (pool)
            s_pool_release (pool);
        return;
    }
    conn->offer = offer;
    conn->waiting_since_ms = now;
    sq_list_append (&offer->idle, &conn->state_node);
    conn->worker->idle_slots++;
    self->idle_count++;
    if (conn->worker->load_reported)
        s_worker_reorder (conn->worker);
}

void
sq_balancer_idle_remove (sq_balancer_t *self, sq_conn_t *conn)
{
    sq_offer_t *offer = conn->offer;
    if (!offer)
        return;
    sq_list_remove (&conn->state_node);
    conn->offer = NULL;
    conn->worker->idle_slots--;
    self->idle_count--;
    if (sq_list_empty (&offer->idle)) {
        sq_pool_t *pool = offer->pool;
        s_offer_free (offer);
        s_pool_release (pool);
    }
    if (conn->worker->load_reported)
        s_worker_reorder (conn->worker);
}

void
sq_balancer_queue_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now)
{
    sq_pool_t *pool = s_pool (self, conn->pool, conn->greeting.mechanism, true);
    if (!pool)
        return;
    conn->waiting_since_ms = now;
    sq_list_append (&pool->queue, &conn->state_node);
    self->queued_count++;
}

void
sq_balancer_queue_remove (sq_balancer_t *self, sq_conn_t *conn)
{
    if (!sq_list_linked (&conn->state_node))
        return;
    sq_list_remove (&conn->state_node);
    self->queued_count--;
    sq_pool_t *pool = s_pool (self, conn->pool, NULL, false);
    if (pool)
        s_pool_release (pool);
}

sq_list_t *
sq_balancer_queue (sq_balancer_t *self, const char *key)
{
    sq_pool_t *pool = s_pool (self, key, NULL, false);
    return pool? &pool->queue: NULL;
}

//  -------------------------------------------------------------------------
//  The choice

//  The oldest idle connection of a named worker, for a pool, if eligible
static sq_conn_t *
s_idle_of (sq_balancer_t *self, const char *name, sq_pool_t *pool)
{
    sq_worker_t *worker = sq_dict_lookup (self->workers, name);
    if (!worker || worker->draining)
        return NULL;
    sq_offer_t *offer = s_offer (worker, pool);
    return offer? sq_list_entry (offer->idle.next, sq_conn_t, state_node): NULL;
}

//  The idle connection of a pool that a client should get, or NULL
static sq_conn_t *
s_choose_in (sq_balancer_t *self, sq_pool_t *pool, const sq_conn_t *client, size_t allowed)
{
    const sq_route_t *route = sq_dict_lookup (self->routes, client->name);
    if (route) {
        size_t tries = allowed < route->count? allowed: route->count;
        for (size_t index = 0; index < tries; index++) {
            sq_conn_t *conn = s_idle_of (self, route->workers [index], pool);
            if (conn)
                return conn;
        }
        if (allowed != SQ_ROUTE_ANY)
            return NULL;
    }
    if (pool->heap_size == 0)
        return NULL;
    return sq_list_entry (pool->heap [0]->idle.next, sq_conn_t, state_node);
}

sq_conn_t *
sq_balancer_choose_worker (sq_balancer_t *self, const sq_conn_t *client, size_t allowed)
{
    sq_pool_t *pool = s_pool (self, client->pool, NULL, false);
    return pool? s_choose_in (self, pool, client, allowed): NULL;
}

sq_conn_t *
sq_balancer_tail_source (sq_balancer_t *self, const sq_conn_t *client, size_t allowed)
{
    for (sq_list_node_t *node = self->pools.next; node != &self->pools; node = node->next) {
        sq_pool_t *pool = sq_list_entry (node, sq_pool_t, node);
        if (pool->offer_count == 0
        ||  strcmp (pool->mechanism, client->greeting.mechanism) != 0)
            continue;
        sq_conn_t *conn = s_choose_in (self, pool, client, allowed);
        if (conn)
            return conn;
    }
    return NULL;
}

bool
sq_balancer_accepts (sq_balancer_t *self, const sq_conn_t *client, size_t allowed,
                     const sq_worker_t *worker)
{
    if (worker->draining)
        return false;
    const sq_route_t *route = sq_dict_lookup (self->routes, client->name);
    if (!route || allowed == SQ_ROUTE_ANY)
        return true;
    for (size_t index = 0; index < allowed && index < route->count; index++)
        if (strcmp (route->workers [index], worker->name) == 0)
            return true;
    return false;
}

//  Each queue is FIFO with one timeout for all, so only heads can expire
sq_conn_t *
sq_balancer_expired_client (sq_balancer_t *self, int64_t deadline)
{
    for (sq_list_node_t *node = self->pools.next; node != &self->pools; node = node->next) {
        sq_pool_t *pool = sq_list_entry (node, sq_pool_t, node);
        sq_list_node_t *first = sq_list_first (&pool->queue);
        if (first) {
            sq_conn_t *client = sq_list_entry (first, sq_conn_t, state_node);
            if (client->waiting_since_ms <= deadline)
                return client;
        }
    }
    return NULL;
}

int64_t
sq_balancer_oldest_wait (sq_balancer_t *self)
{
    int64_t oldest = INT64_MAX;
    for (sq_list_node_t *node = self->pools.next; node != &self->pools; node = node->next) {
        sq_pool_t *pool = sq_list_entry (node, sq_pool_t, node);
        sq_list_node_t *first = sq_list_first (&pool->queue);
        if (first) {
            sq_conn_t *client = sq_list_entry (first, sq_conn_t, state_node);
            if (client->waiting_since_ms < oldest)
                oldest = client->waiting_since_ms;
        }
    }
    return oldest;
}

void
sq_balancer_pair_started (sq_balancer_t *self, sq_worker_t *worker, int64_t now)
{
    (void) self;
    worker->active_pairs++;
    worker->last_paired_ms = now;
    s_worker_reorder (worker);
}

void
sq_balancer_pair_ended (sq_balancer_t *self, sq_worker_t *worker)
{
    (void) self;
    assert (worker->active_pairs > 0);
    worker->active_pairs--;
    s_worker_reorder (worker);
}

size_t
sq_balancer_idle_count (sq_balancer_t *self)
{
    return self->idle_count;
}

size_t
sq_balancer_queued_count (sq_balancer_t *self)
{
    return self->queued_count;
}

size_t
sq_balancer_worker_count (sq_balancer_t *self)
{
    return self->connected_workers;
}

size_t
sq_balancer_record_count (sq_balancer_t *self)
{
    return sq_dict_size (self->workers);
}
