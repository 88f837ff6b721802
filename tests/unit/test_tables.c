/*  Unit tests of the connection table and the balancer, with no sockets  */
#include "sq_test.h"
#include "sq_conn.h"
#include "sq_balancer.h"

SQ_TEST_DEFINE

static void
s_id (uint32_t n, uint8_t *id)
{
    id [0] = 0;
    id [1] = (uint8_t) (n >> 24);
    id [2] = (uint8_t) (n >> 16);
    id [3] = (uint8_t) (n >> 8);
    id [4] = (uint8_t) n;
}

//  Many entries: every lookup finds its own, sides stay apart, removal works
static void
test_table_lookup_insert_remove (void)
{
    enum { COUNT = 100000 };
    sq_conn_table_t *table = sq_conn_table_new ();
    static sq_conn_t *conns [COUNT];
    uint8_t id [5];
    for (uint32_t n = 0; n < COUNT; n++) {
        s_id (n, id);
        conns [n] = sq_conn_new (n % 2? SQ_BACKEND: SQ_FRONTEND, id, 5);
        sq_conn_table_insert (table, conns [n]);
    }
    SQ_CHECK_EQ (sq_conn_table_count (table, SQ_FRONTEND), COUNT / 2);
    SQ_CHECK_EQ (sq_conn_table_count (table, SQ_BACKEND), COUNT / 2);
    for (uint32_t n = 0; n < COUNT; n++) {
        s_id (n, id);
        sq_side_t side = n % 2? SQ_BACKEND: SQ_FRONTEND;
        SQ_CHECK (sq_conn_table_lookup (table, side, id, 5) == conns [n]);
        SQ_CHECK (sq_conn_table_lookup (table, !side, id, 5) == NULL);
    }
    for (uint32_t n = 0; n < COUNT; n += 3) {
        sq_conn_table_remove (table, conns [n]);
        sq_conn_destroy (&conns [n]);
    }
    for (uint32_t n = 0; n < COUNT; n++) {
        s_id (n, id);
        sq_conn_t *found = sq_conn_table_lookup (table, n % 2? SQ_BACKEND: SQ_FRONTEND, id, 5);
        SQ_CHECK (n % 3 == 0? found == NULL: found == conns [n]);
    }
    //  Same id bytes, other length: a different key
    s_id (1, id);
    SQ_CHECK (sq_conn_table_lookup (table, SQ_BACKEND, id, 4) == NULL);
    sq_conn_table_destroy (&table);
    SQ_CHECK (table == NULL);
}

//  The "all" list keeps arrival order, for LIST
static void
test_table_all_in_order (void)
{
    sq_conn_table_t *table = sq_conn_table_new ();
    uint8_t id [5];
    for (uint32_t n = 0; n < 10; n++) {
        s_id (n, id);
        sq_conn_t *conn = sq_conn_new (SQ_FRONTEND, id, 5);
        conn->serial = n;
        sq_conn_table_insert (table, conn);
    }
    uint64_t expected = 0;
    sq_list_t *all = sq_conn_table_all (table);
    for (sq_list_node_t *node = all->next; node != all; node = node->next)
        SQ_CHECK_EQ (sq_list_entry (node, sq_conn_t, all_node)->serial, expected++);
    SQ_CHECK_EQ (expected, 10);
    sq_conn_table_destroy (&table);
}

//  A backend connection, idle, of a worker and mechanism
static sq_conn_t *
s_idle (sq_balancer_t *balancer, uint32_t n, const char *worker, const char *mechanism,
        int64_t now)
{
    uint8_t id [5];
    s_id (n, id);
    sq_conn_t *conn = sq_conn_new (SQ_BACKEND, id, 5);
    snprintf (conn->greeting.mechanism, sizeof conn->greeting.mechanism, "%s", mechanism);
    snprintf (conn->pool, sizeof conn->pool, "%s", mechanism);
    conn->worker = sq_balancer_worker_attach (balancer, worker, now);
    sq_balancer_idle_add (balancer, conn, now);
    return conn;
}

static sq_conn_t *
s_client (uint32_t n, const char *mechanism)
{
    uint8_t id [5];
    s_id (n, id);
    sq_conn_t *conn = sq_conn_new (SQ_FRONTEND, id, 5);
    snprintf (conn->greeting.mechanism, sizeof conn->greeting.mechanism, "%s", mechanism);
    snprintf (conn->pool, sizeof conn->pool, "%s", mechanism);
    snprintf (conn->name, sizeof conn->name, "C%u", n);
    return conn;
}

//  Takes the chosen connection as a pair would, and returns its worker
static sq_worker_t *
s_take (sq_balancer_t *balancer, sq_conn_t *client, int64_t now)
{
    sq_conn_t *chosen = sq_balancer_choose_worker (balancer, client, SQ_ROUTE_ANY);
    if (!chosen)
        return NULL;
    sq_balancer_idle_remove (balancer, chosen);
    sq_balancer_pair_started (balancer, chosen->worker, now);
    return chosen->worker;
}

static void
test_least_loaded_wins (void)
{
    sq_balancer_t *balancer = sq_balancer_new ();
    sq_conn_t *conns [8];
    //  W1 offers 5 slots, W2 offers 3
    for (uint32_t n = 0; n < 5; n++)
        conns [n] = s_idle (balancer, n, "W1", "NULL", 0);
    for (uint32_t n = 5; n < 8; n++)
        conns [n] = s_idle (balancer, n, "W2", "NULL", 0);
    SQ_CHECK_EQ (sq_balancer_idle_count (balancer), 8);
    SQ_CHECK_EQ (sq_balancer_worker_count (balancer), 2);
    sq_conn_t *client = s_client (100, "NULL");
    //  Clients alternate while loads are equal (tie: paired longest ago)
    sq_worker_t *first = s_take (balancer, client, 1);
    sq_worker_t *second = s_take (balancer, client, 2);
    SQ_CHECK (first != second);
    SQ_CHECK (s_take (balancer, client, 3) == first);
    SQ_CHECK (s_take (balancer, client, 4) == second);
    //  W1 with 3 pairs and W2 with 1: the next goes to W2
    sq_worker_t *w1 = conns [0]->worker, *w2 = conns [5]->worker;
    sq_balancer_pair_ended (balancer, w2);
    sq_balancer_pair_started (balancer, w1, 5);
    SQ_CHECK_EQ (w1->active_pairs, 3);
    SQ_CHECK_EQ (w2->active_pairs, 1);
    SQ_CHECK (s_take (balancer, client, 6) == w2);
    sq_conn_destroy (&client);
    sq_balancer_destroy (&balancer);
    for (int n = 0; n < 8; n++)
        sq_conn_destroy (&conns [n]);
}

static void
test_mechanisms_kept_apart (void)
{
    sq_balancer_t *balancer = sq_balancer_new ();
    sq_conn_t *null_slot = s_idle (balancer, 1, "W1", "NULL", 0);
    sq_conn_t *curve = s_client (2, "CURVE");
    SQ_CHECK (sq_balancer_choose_worker (balancer, curve, SQ_ROUTE_ANY) == NULL);
    sq_conn_t *curve_slot = s_idle (balancer, 3, "W1", "CURVE", 0);
    SQ_CHECK (sq_balancer_choose_worker (balancer, curve, SQ_ROUTE_ANY) == curve_slot);
    //  Queues are per mechanism
    sq_balancer_queue_add (balancer, curve, 10);
    SQ_CHECK (sq_list_empty (sq_balancer_queue (balancer, "NULL")));
    SQ_CHECK (sq_balancer_queue (balancer, "PLAIN") == NULL);
    SQ_CHECK (sq_balancer_queue (balancer, "CURVE")->next == &curve->state_node);
    SQ_CHECK (sq_balancer_expired_client (balancer, 9) == NULL);
    SQ_CHECK (sq_balancer_expired_client (balancer, 10) == curve);
    SQ_CHECK_EQ (sq_balancer_oldest_wait (balancer), 10);
    sq_balancer_queue_remove (balancer, curve);
    SQ_CHECK_EQ (sq_balancer_queued_count (balancer), 0);
    SQ_CHECK_EQ (sq_balancer_oldest_wait (balancer), INT64_MAX);
    //  Everything withdrawn: workers leave with their last connection
    sq_balancer_idle_remove (balancer, null_slot);
    sq_balancer_idle_remove (balancer, curve_slot);
    SQ_CHECK_EQ (sq_balancer_idle_count (balancer), 0);
    sq_balancer_worker_detach (balancer, null_slot->worker);
    SQ_CHECK_EQ (sq_balancer_worker_count (balancer), 1);
    sq_balancer_worker_detach (balancer, curve_slot->worker);
    SQ_CHECK_EQ (sq_balancer_worker_count (balancer), 0);
    sq_conn_destroy (&curve);
    sq_conn_destroy (&null_slot);
    sq_conn_destroy (&curve_slot);
    sq_balancer_destroy (&balancer);
}

//  Under random loads the heap's choice is always the brute-force best
static void
test_choice_matches_brute_force (void)
{
    enum { WORKERS = 200, ROUNDS = 20000 };
    sq_balancer_t *balancer = sq_balancer_new ();
    static sq_conn_t *slots [WORKERS];
    for (uint32_t n = 0; n < WORKERS; n++) {
        char name [16];
        snprintf (name, sizeof name, "W%u", n);
        slots [n] = s_idle (balancer, n, name, "CURVE", 0);
    }
    sq_conn_t *client = s_client (WORKERS, "CURVE");
    srand (11);
    for (int64_t round = 1; round <= ROUNDS; round++) {
        sq_worker_t *worker = slots [rand () % WORKERS]->worker;
        if (rand () % 2 && worker->active_pairs > 0)
            sq_balancer_pair_ended (balancer, worker);
        else
            sq_balancer_pair_started (balancer, worker, round);
        sq_worker_t *best = slots [0]->worker;
        for (uint32_t n = 1; n < WORKERS; n++) {
            sq_worker_t *other = slots [n]->worker;
            if (other->active_pairs < best->active_pairs
            || (other->active_pairs == best->active_pairs
            &&  other->last_paired_ms < best->last_paired_ms))
                best = other;
        }
        //  Ties on both keys are equally right
        sq_worker_t *chosen = sq_balancer_choose_worker (balancer, client, SQ_ROUTE_ANY)->worker;
        SQ_CHECK_EQ (chosen->active_pairs, best->active_pairs);
        SQ_CHECK_EQ (chosen->last_paired_ms, best->last_paired_ms);
    }
    sq_conn_destroy (&client);
    sq_balancer_destroy (&balancer);
    for (uint32_t n = 0; n < WORKERS; n++)
        sq_conn_destroy (&slots [n]);
}

int
main (void)
{
    SQ_RUN (test_table_lookup_insert_remove);
    SQ_RUN (test_table_all_in_order);
    SQ_RUN (test_least_loaded_wins);
    SQ_RUN (test_mechanisms_kept_apart);
    SQ_RUN (test_choice_matches_brute_force);
    return sq_test_summary ();
}
