/*  =========================================================================
    sq_balancer - pools per mechanism, workers by name, least-loaded choice
    =========================================================================
*/
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <stdio.h>
#include "sq_balancer.h"

#define S_WORKER_BUCKETS 4096

//  The idle connections one worker offers for one mechanism
typedef struct sq_offer {
    sq_worker_t *worker;
    struct sq_pool *pool;
    sq_list_t idle;             //  Connections (state_node), oldest first
    size_t heap_index;          //  Position in pool->heap
    sq_list_node_t worker_node; //  In worker->offers
} sq_offer_t;

//  Everything that speaks one mechanism. The offers form a binary heap with
//  the worker that should get the next client on top, so a choice is O(1)
//  and a change of load O(log workers).
typedef struct sq_pool {
    char mechanism [SQ_MECHANISM_MAX + 1];
    sq_offer_t **heap;          //  Offers with at least one idle connection
    size_t heap_size;
    size_t heap_capacity;
    sq_list_t queue;            //  Waiting clients (state_node), oldest first
    sq_list_node_t node;        //  In the balancer's list of pools
} sq_pool_t;

struct sq_balancer {
    sq_worker_t *workers [S_WORKER_BUCKETS];
    sq_list_t pools;
    size_t worker_count;
    size_t idle_count;
    size_t queued_count;
};

sq_balancer_t *
sq_balancer_new (void)
{
    sq_balancer_t *self = calloc (1, sizeof *self);
    if (self)
        sq_list_init (&self->pools);
    return self;
}

//  True when worker a should get the next client before worker b
static bool
s_better (const sq_worker_t *a, const sq_worker_t *b)
{
    if (a->active_pairs != b->active_pairs)
        return a->active_pairs < b->active_pairs;
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
    sq_offer_t *last = pool->heap [--pool->heap_size];
    if (last == offer)
        return;
    s_heap_set (pool, index, last);
    s_heap_up (pool, index);
    s_heap_down (pool, last->heap_index);
}

//  Puts each offer of a worker back in order after its load changed
static void
s_worker_reorder (sq_worker_t *worker)
{
    for (sq_list_node_t *node = worker->offers.next; node != &worker->offers; node = node->next) {
        sq_offer_t *offer = sq_list_entry (node, sq_offer_t, worker_node);
        s_heap_up (offer->pool, offer->heap_index);
        s_heap_down (offer->pool, offer->heap_index);
    }
}

static void
s_offer_free (sq_offer_t *offer)
{
    s_heap_remove (offer->pool, offer);
    sq_list_remove (&offer->worker_node);
    free (offer);
}

void
sq_balancer_destroy (sq_balancer_t **self_p)
{
    sq_balancer_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < S_WORKER_BUCKETS; index++)
        while (self->workers [index]) {
            sq_worker_t *worker = self->workers [index];
            self->workers [index] = worker->hash_next;
            while (!sq_list_empty (&worker->offers))
                s_offer_free (sq_list_entry (worker->offers.next,
                                             sq_offer_t, worker_node));
            free (worker);
        }
    while (!sq_list_empty (&self->pools)) {
        sq_pool_t *pool = sq_list_entry (self->pools.next, sq_pool_t, node);
        sq_list_remove (&pool->node);
        free (pool->heap);
        free (pool);
    }
    free (self);
    *self_p = NULL;
}

static sq_worker_t **
s_worker_bucket (sq_balancer_t *self, const char *name)
{
    uint32_t hash = 2166136261u;
    for (; *name; name++)
        hash = (hash ^ (uint8_t) *name) * 16777619u;
    return &self->workers [hash % S_WORKER_BUCKETS];
}

sq_worker_t *
sq_balancer_worker_attach (sq_balancer_t *self, const char *name, int64_t now)
{
    sq_worker_t **bucket = s_worker_bucket (self, name);
    sq_worker_t *worker = *bucket;
    while (worker && strcmp (worker->name, name) != 0)
        worker = worker->hash_next;
    if (!worker) {
        worker = calloc (1, sizeof *worker);
        if (!worker)
            return NULL;
        snprintf (worker->name, sizeof worker->name, "%s", name);
        worker->last_paired_ms = now;
        sq_list_init (&worker->offers);
        worker->hash_next = *bucket;
        *bucket = worker;
        self->worker_count++;
    }
    worker->connections++;
    return worker;
}

void
sq_balancer_worker_detach (sq_balancer_t *self, sq_worker_t *worker)
{
    assert (worker->connections > 0);
    if (--worker->connections > 0)
        return;
    assert (sq_list_empty (&worker->offers));
    sq_worker_t **link = s_worker_bucket (self, worker->name);
    while (*link != worker)
        link = &(*link)->hash_next;
    *link = worker->hash_next;
    self->worker_count--;
    free (worker);
}

//  The pool for a mechanism; created when `create` is set
static sq_pool_t *
s_pool (sq_balancer_t *self, const char *mechanism, bool create)
{
    for (sq_list_node_t *node = self->pools.next; node != &self->pools; node = node->next) {
        sq_pool_t *pool = sq_list_entry (node, sq_pool_t, node);
        if (strcmp (pool->mechanism, mechanism) == 0)
            return pool;
    }
    if (!create)
        return NULL;
    sq_pool_t *pool = calloc (1, sizeof *pool);
    if (!pool)
        return NULL;
    snprintf (pool->mechanism, sizeof pool->mechanism, "%s", mechanism);
    sq_list_init (&pool->queue);
    sq_list_append (&self->pools, &pool->node);
    return pool;
}

//  Pools live only while they hold something, so odd mechanism names sent
//  by peers cannot pile up
static void
s_pool_release (sq_pool_t *pool)
{
    if (pool->heap_size == 0 && sq_list_empty (&pool->queue)) {
        sq_list_remove (&pool->node);
        free (pool->heap);
        free (pool);
    }
}

static sq_offer_t *
s_offer (sq_worker_t *worker, sq_pool_t *pool)
{
    for (sq_list_node_t *node = worker->offers.next; node != &worker->offers; node = node->next) {
        sq_offer_t *offer = sq_list_entry (node, sq_offer_t, worker_node);
        if (offer->pool == pool)
            return offer;
    }
    sq_offer_t *offer = calloc (1, sizeof *offer);
    if (!offer)
        return NULL;
    offer->worker = worker;
    offer->pool = pool;
    sq_list_init (&offer->idle);
    if (!s_heap_push (pool, offer)) {
        free (offer);
        return NULL;
    }
    sq_list_append (&worker->offers, &offer->worker_node);
    return offer;
}

void
sq_balancer_idle_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now)
{
    assert (conn->worker && !conn->offer);
    sq_pool_t *pool = s_pool (self, conn->greeting.mechanism, true);
    sq_offer_t *offer = pool? s_offer (conn->worker, pool): NULL;
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
}

void
sq_balancer_queue_add (sq_balancer_t *self, sq_conn_t *conn, int64_t now)
{
    sq_pool_t *pool = s_pool (self, conn->greeting.mechanism, true);
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
    sq_pool_t *pool = s_pool (self, conn->greeting.mechanism, false);
    if (pool)
        s_pool_release (pool);
}

sq_conn_t *
sq_balancer_choose_worker (sq_balancer_t *self, const sq_conn_t *client)
{
    sq_pool_t *pool = s_pool (self, client->greeting.mechanism, false);
    if (!pool || pool->heap_size == 0)
        return NULL;
    sq_offer_t *best = pool->heap [0];
    return sq_list_entry (best->idle.next, sq_conn_t, state_node);
}

sq_conn_t *
sq_balancer_first_client (sq_balancer_t *self, const char *mechanism)
{
    sq_pool_t *pool = s_pool (self, mechanism, false);
    if (!pool || sq_list_empty (&pool->queue))
        return NULL;
    return sq_list_entry (pool->queue.next, sq_conn_t, state_node);
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
    return self->worker_count;
}
