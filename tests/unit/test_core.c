/*  =========================================================================
    Unit tests of the core: greeting, pairing, forwarding, held bytes,
    closing, queue and timers, driven through its event functions with a
    recording engine and a synthetic clock. No sockets.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_core.h"
#include "sq_fake_engine.h"
#include "sq_log.h"
#include "sq_identity.h"

SQ_TEST_DEFINE

static fake_engine_t *engine;
static sq_core_t *core;
static int64_t now;

static sq_core_config_t
s_config (int64_t linger_ms, size_t max_queue)
{
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    config.close_linger_ms = linger_ms;
    config.max_queue = max_queue;
    config.greeting_timeout_ms = 1000;
    config.queue_timeout_ms = 5000;
    return config;
}

static void
s_start (const sq_core_config_t *config)
{
    sq_log_set_level (SQ_LOG_ERROR);
    engine = calloc (1, sizeof *engine);
    sq_engine_t ops = fake_engine_ops (engine);
    core = sq_core_new (config, &ops);
    now = 1000000;
}

static void
s_setup (int64_t linger_ms, size_t max_queue)
{
    sq_core_config_t config = s_config (linger_ms, max_queue);
    s_start (&config);
}

static void
s_teardown (void)
{
    sq_core_close_all (core, now);
    sq_core_destroy (&core);
    free (engine);
}

static void
s_greeting (uint8_t *bytes, const char *mechanism, uint8_t filler)
{
    memset (bytes, filler, SQ_GREETING_SIZE);
    memcpy (bytes, "\xFF\0\0\0\0\0\0\0\0\x7F\x03\x01", 12);
    memset (bytes + 12, 0, 21);
    memcpy (bytes + 12, mechanism, strlen (mechanism));
}

//  Connects peer n on a side and sends its greeting; returns the connection
static sq_conn_t *
s_peer (sq_side_t side, unsigned n, const char *host, const char *mechanism)
{
    uint8_t id [5];
    fake_id (n, id);
    char address [64];
    snprintf (address, sizeof address, "%s:%u", host, 40000 + n);
    memset (&engine->peer [side][n % FAKE_PEERS], 0, sizeof (fake_peer_t));
    sq_conn_t *conn = sq_core_connected (core, side, id, 5, host, address, now);
    SQ_CHECK (conn);
    fake_peer_t *peer = fake_peer_of (engine, conn);
    SQ_CHECK_EQ (peer->size, SQ_GREETING_PREFIX_SIZE);
    SQ_CHECK (memcmp (peer->received, sq_greeting_prefix, SQ_GREETING_PREFIX_SIZE) == 0);
    if (mechanism) {
        uint8_t greeting [SQ_GREETING_SIZE];
        s_greeting (greeting, mechanism, (uint8_t) n);
        sq_core_received (core, conn, greeting, sizeof greeting, now);
    }
    return conn;
}

static sq_conn_t *
s_find (sq_side_t side, unsigned n)
{
    uint8_t id [5];
    fake_id (n, id);
    return sq_core_lookup (core, side, id, 5);
}

static fake_peer_t *
s_fake (sq_side_t side, unsigned n)
{
    return &engine->peer [side][n % FAKE_PEERS];
}

static void
test_pairing_hands_over_greetings (void)
{
    s_setup (0, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "CURVE");
    SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
    SQ_CHECK_EQ (sq_balancer_queued_count (sq_core_balancer (core)), 1);
    //  Bytes sent before pairing are kept, then delivered in order
    sq_core_received (core, client, (const uint8_t *) "early", 5, now);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "CURVE");
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    SQ_CHECK (client->partner == worker && worker->partner == client);
    SQ_CHECK_EQ (sq_core_active_pairs (core), 1);
    //  The client got the worker's greeting bytes 11..63, and the worker
    //  got the client's, then the early bytes
    fake_peer_t *to_client = s_fake (SQ_FRONTEND, 1);
    fake_peer_t *to_worker = s_fake (SQ_BACKEND, 2);
    SQ_CHECK_EQ (to_client->size, SQ_GREETING_SIZE);
    SQ_CHECK_EQ (to_worker->size, SQ_GREETING_SIZE + 5);
    SQ_CHECK (memcmp (to_client->received + 11, worker->greeting.bytes + 11, 53) == 0);
    SQ_CHECK (memcmp (to_worker->received + 11, client->greeting.bytes + 11, 53) == 0);
    SQ_CHECK (memcmp (to_worker->received + 64, "early", 5) == 0);
    //  Then bytes flow both ways unchanged
    sq_core_received (core, client, (const uint8_t *) "abc", 3, now);
    sq_core_received (core, worker, (const uint8_t *) "xyz", 3, now);
    SQ_CHECK (memcmp (to_worker->received + 69, "abc", 3) == 0);
    SQ_CHECK (memcmp (to_client->received + 64, "xyz", 3) == 0);
    s_teardown ();
}

//  A client only ever meets a worker of its own mechanism
static void
test_never_across_mechanisms (void)
{
    s_setup (0, 10);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 1, "10.0.0.2", "NULL");
    SQ_CHECK_EQ (worker->state, SQ_CONN_IDLE);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 2, "10.0.0.1", "CURVE");
    SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
    SQ_CHECK_EQ (worker->state, SQ_CONN_IDLE);
    sq_conn_t *curve = s_peer (SQ_BACKEND, 3, "10.0.0.3", "CURVE");
    SQ_CHECK_EQ (curve->state, SQ_CONN_PAIRED);
    SQ_CHECK (client->partner == curve);
    SQ_CHECK_EQ (worker->state, SQ_CONN_IDLE);
    s_teardown ();
}

//  Queued clients of one mechanism are served first come, first served
static void
test_queue_is_fifo (void)
{
    s_setup (0, 10);
    sq_conn_t *first = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    sq_conn_t *second = s_peer (SQ_FRONTEND, 2, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 3, "10.0.0.2", "NULL");
    SQ_CHECK (worker->partner == first);
    SQ_CHECK_EQ (second->state, SQ_CONN_QUEUED);
    s_teardown ();
}

//  Bytes the engine cannot take are held, in order, and sent first later
static void
test_held_bytes_keep_order (void)
{
    s_setup (0, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    fake_peer_t *to_worker = s_fake (SQ_BACKEND, 2);
    size_t base = to_worker->size;
    to_worker->blocked = true;
    uint8_t chunk [100];
    for (int index = 0; index < 50; index++) {
        memset (chunk, index, sizeof chunk);
        sq_core_received (core, client, chunk, sizeof chunk, now);
        if (index == 20) {
            //  The engine takes bytes again, but only a tick delivers the
            //  held ones; new bytes must queue behind them meanwhile
            to_worker->blocked = false;
        }
    }
    SQ_CHECK_EQ (to_worker->size, base);
    SQ_CHECK_EQ (worker->outq.size, 5000);
    SQ_CHECK (sq_core_next_timeout (core, now) >= 0);
    now += 1;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (worker->outq.size, 0);
    SQ_CHECK_EQ (to_worker->size, base + 5000);
    for (int index = 0; index < 50; index++)
        for (int offset = 0; offset < 100; offset++)
            SQ_CHECK_EQ (to_worker->received [base + index * 100 + offset], index);
    SQ_CHECK_EQ (client->bytes_in, SQ_GREETING_SIZE + 5000);
    SQ_CHECK_EQ (worker->bytes_out, base + 5000);
    s_teardown ();
}

//  When one side leaves, the other is closed and both leave every table
static void
test_disconnect_closes_partner (void)
{
    s_setup (0, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    sq_core_disconnected (core, client, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    SQ_CHECK (s_find (SQ_BACKEND, 2) == NULL);
    SQ_CHECK (s_fake (SQ_BACKEND, 2)->closed);
    SQ_CHECK (!s_fake (SQ_FRONTEND, 1)->closed);  //  Gone already: no close
    SQ_CHECK_EQ (sq_core_active_pairs (core), 0);
    SQ_CHECK_EQ (sq_balancer_worker_count (sq_core_balancer (core)), 0);
    //  And the other way round
    s_peer (SQ_FRONTEND, 3, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 4, "10.0.0.2", "NULL");
    sq_core_disconnected (core, worker, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 3) == NULL);
    SQ_CHECK (s_fake (SQ_FRONTEND, 3)->closed);
    s_teardown ();
}

//  A partner that was just written gets the linger to drain before close
static void
test_close_lingers_after_write (void)
{
    s_setup (100, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    now += 1000;
    sq_core_received (core, worker, (const uint8_t *) "last words", 10, now);
    sq_core_disconnected (core, worker, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_CLOSING);
    SQ_CHECK (!s_fake (SQ_FRONTEND, 1)->closed);
    //  Bytes from a closing client have no reader and are dropped
    sq_core_received (core, client, (const uint8_t *) "late", 4, now);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 100);
    now += 99;
    sq_core_tick (core, now);
    SQ_CHECK (!s_fake (SQ_FRONTEND, 1)->closed);
    now += 1;
    sq_core_tick (core, now);
    SQ_CHECK (s_fake (SQ_FRONTEND, 1)->closed);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    s_teardown ();
}

//  A closing connection first delivers what is held for it
static void
test_close_waits_for_held_bytes (void)
{
    s_setup (0, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    fake_peer_t *to_client = s_fake (SQ_FRONTEND, 1);
    to_client->blocked = true;
    sq_core_received (core, worker, (const uint8_t *) "reply", 5, now);
    sq_core_disconnected (core, worker, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_CLOSING);
    now += 10;
    sq_core_tick (core, now);
    SQ_CHECK (!to_client->closed);
    to_client->blocked = false;
    now += 1;
    sq_core_tick (core, now);
    SQ_CHECK (to_client->closed);
    SQ_CHECK (memcmp (to_client->received + 64, "reply", 5) == 0);
    s_teardown ();
}

//  An engine that reports a peer gone on send ends the pair
static void
test_gone_on_send (void)
{
    s_setup (0, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    s_fake (SQ_BACKEND, 2)->gone = true;
    sq_core_received (core, client, (const uint8_t *) "x", 1, now);
    SQ_CHECK (s_find (SQ_BACKEND, 2) == NULL);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    SQ_CHECK (s_fake (SQ_FRONTEND, 1)->closed);
    s_teardown ();
}

static void
test_bad_greeting_rejected (void)
{
    s_setup (0, 10);
    sq_conn_t *peer = s_peer (SQ_FRONTEND, 1, "10.0.0.1", NULL);
    sq_core_received (core, peer, (const uint8_t *) "GET / HTTP/1.1\r\n", 16, now);
    SQ_CHECK_EQ (sq_core_stats (core)->rejected_greeting, 1);
    SQ_CHECK (s_fake (SQ_FRONTEND, 1)->closed);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    s_teardown ();
}

static void
test_greeting_timeout (void)
{
    s_setup (0, 10);
    sq_conn_t *slow = s_peer (SQ_BACKEND, 1, "10.0.0.2", NULL);
    sq_core_received (core, slow, (const uint8_t *) "\xFF\0\0", 3, now);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 1000);
    now += 999;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_BACKEND, 1));
    now += 1;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_BACKEND, 1) == NULL);
    SQ_CHECK_EQ (sq_core_stats (core)->rejected_greeting, 1);
    s_teardown ();
}

//  Time spent paused does not count against a peer's greeting
static void
test_pause_freezes_greeting_clock (void)
{
    s_setup (0, 10);
    s_peer (SQ_FRONTEND, 1, "10.0.0.1", NULL);
    sq_core_set_paused (core, true, now);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), -1);
    now += 5000;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1));
    sq_core_set_paused (core, false, now);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 1000);
    now += 1000;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    s_teardown ();
}

static void
test_queue_full_and_timeout (void)
{
    s_setup (0, 2);
    s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    now += 10;
    s_peer (SQ_FRONTEND, 2, "10.0.0.1", "NULL");
    s_peer (SQ_FRONTEND, 3, "10.0.0.1", "NULL");
    SQ_CHECK_EQ (sq_core_stats (core)->rejected_queue_full, 1);
    SQ_CHECK (s_find (SQ_FRONTEND, 3) == NULL);
    now += 4990;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    SQ_CHECK (s_find (SQ_FRONTEND, 2));
    SQ_CHECK_EQ (sq_core_stats (core)->rejected_queue_timeout, 1);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 10);
    s_teardown ();
}

//  A peer may not park unbounded bytes before it is paired
static void
test_early_bytes_bounded (void)
{
    s_setup (0, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    uint8_t chunk [8192] = { 0 };
    for (int index = 0; index < 8; index++)
        sq_core_received (core, client, chunk, sizeof chunk, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1));
    sq_core_received (core, client, chunk, 1, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    SQ_CHECK_EQ (sq_core_stats (core)->closed_early_overflow, 1);
    s_teardown ();
}

//  Hundreds of connect/disconnect cycles leave no entry behind
static void
test_churn_leaves_nothing (void)
{
    s_setup (0, 1000);
    unsigned n = 1;
    for (int round = 0; round < 500; round++) {
        sq_conn_t *client = s_peer (SQ_FRONTEND, n++, "10.0.0.1", "NULL");
        sq_conn_t *worker = s_peer (SQ_BACKEND, n++, round % 2? "10.0.0.2": "10.0.0.3", "NULL");
        sq_conn_t *idle = s_peer (SQ_BACKEND, n++, "10.0.0.4", "PLAIN");
        sq_conn_t *greeting = s_peer (SQ_FRONTEND, n++, "10.0.0.5", NULL);
        sq_core_received (core, client, (const uint8_t *) "ping", 4, now);
        sq_core_disconnected (core, round % 3? client: worker, now);
        sq_core_disconnected (core, idle, now);
        sq_core_disconnected (core, greeting, now);
        now += 1;
        sq_core_tick (core, now);
    }
    SQ_CHECK_EQ (sq_conn_table_count (sq_core_conns (core), SQ_FRONTEND), 0);
    SQ_CHECK_EQ (sq_conn_table_count (sq_core_conns (core), SQ_BACKEND), 0);
    sq_balancer_t *balancer = sq_core_balancer (core);
    SQ_CHECK_EQ (sq_balancer_idle_count (balancer), 0);
    SQ_CHECK_EQ (sq_balancer_queued_count (balancer), 0);
    SQ_CHECK_EQ (sq_balancer_worker_count (balancer), 0);
    SQ_CHECK_EQ (sq_core_active_pairs (core), 0);
    SQ_CHECK_EQ (sq_core_stats (core)->pairs_total, 500);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), -1);
    s_teardown ();
}

//  -------------------------------------------------------------------------
//  Names and routes. Peers on hosts that are not IPs ("W1") get the host as
//  their name, which keeps these tests short.

//  The worker name a client was paired with
static const char *
s_worker_of (const sq_conn_t *client)
{
    return client->state == SQ_CONN_PAIRED? client->partner->worker->name: "(none)";
}

static void
test_route_sticky_then_fallback (void)
{
    s_setup (0, 100);
    const char *route [] = { "W2", "W1" };
    SQ_CHECK (sq_core_route (core, "C", route, 2, now));
    s_peer (SQ_BACKEND, 1, "W1", "NULL");
    s_peer (SQ_BACKEND, 2, "W2", "NULL");
    s_peer (SQ_BACKEND, 3, "W2", "NULL");
    //  Both idle: C takes its first choice, twice
    SQ_CHECK_STR (s_worker_of (s_peer (SQ_FRONTEND, 10, "C", "NULL")), "W2");
    SQ_CHECK_STR (s_worker_of (s_peer (SQ_FRONTEND, 11, "C", "NULL")), "W2");
    //  W2 full: C waits one route-wait for it, then takes W1
    sq_conn_t *client = s_peer (SQ_FRONTEND, 12, "C", "NULL");
    SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 500);
    now += 499;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
    now += 1;
    sq_core_tick (core, now);
    SQ_CHECK_STR (s_worker_of (client), "W1");
    //  An unrouted client takes any worker at once
    s_peer (SQ_BACKEND, 4, "W2", "NULL");
    SQ_CHECK_STR (s_worker_of (s_peer (SQ_FRONTEND, 13, "U", "NULL")), "W2");
    s_teardown ();
}

static void
test_route_exhausted_any_or_wait (void)
{
    for (int policy = 0; policy < 2; policy++) {
        sq_core_config_t config = s_config (0, 100);
        config.route_fallback_any = policy == 0;
        s_start (&config);
        const char *route [] = { "W2" };
        sq_core_route (core, "C", route, 1, now);
        s_peer (SQ_BACKEND, 1, "W3", "NULL");
        sq_conn_t *client = s_peer (SQ_FRONTEND, 2, "C", "NULL");
        SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
        now += 500;
        sq_core_tick (core, now);
        if (config.route_fallback_any)
            SQ_CHECK_STR (s_worker_of (client), "W3");
        else {
            SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
            SQ_CHECK_EQ (sq_core_next_timeout (core, now), 4500);   //  Queue timeout
            s_peer (SQ_BACKEND, 3, "W2", "NULL");
            SQ_CHECK_STR (s_worker_of (client), "W2");
        }
        s_teardown ();
    }
}

//  A slot goes first to a waiting client whose route names its worker
static void
test_new_slot_prefers_routed_client (void)
{
    s_setup (0, 100);
    const char *route [] = { "W2" };
    sq_core_route (core, "C", route, 1, now);
    sq_conn_t *unrouted = s_peer (SQ_FRONTEND, 1, "U", "NULL");
    sq_conn_t *routed = s_peer (SQ_FRONTEND, 2, "C", "NULL");
    s_peer (SQ_BACKEND, 3, "W2", "NULL");
    SQ_CHECK_STR (s_worker_of (routed), "W2");
    SQ_CHECK_EQ (unrouted->state, SQ_CONN_QUEUED);
    s_peer (SQ_BACKEND, 4, "W1", "NULL");
    SQ_CHECK_STR (s_worker_of (unrouted), "W1");
    s_teardown ();
}

static void
test_drain_and_undrain (void)
{
    s_setup (0, 100);
    s_peer (SQ_BACKEND, 1, "W1", "NULL");
    s_peer (SQ_BACKEND, 2, "W1", "NULL");
    sq_conn_t *before = s_peer (SQ_FRONTEND, 3, "A", "NULL");
    SQ_CHECK_STR (s_worker_of (before), "W1");
    SQ_CHECK (sq_core_set_draining (core, "W1", true, now));
    sq_conn_t *waiting = s_peer (SQ_FRONTEND, 4, "B", "NULL");
    SQ_CHECK_EQ (waiting->state, SQ_CONN_QUEUED);
    SQ_CHECK_EQ (before->state, SQ_CONN_PAIRED);       //  Existing pair lives on
    s_peer (SQ_BACKEND, 5, "W2", "NULL");
    SQ_CHECK_STR (s_worker_of (waiting), "W2");
    sq_conn_t *third = s_peer (SQ_FRONTEND, 6, "C", "NULL");
    SQ_CHECK_EQ (third->state, SQ_CONN_QUEUED);
    SQ_CHECK (sq_core_set_draining (core, "W1", false, now));
    SQ_CHECK_STR (s_worker_of (third), "W1");
    s_teardown ();
}

//  Registration before the connection, after it, and held with identify-wait
static void
test_identify_before_after_and_wait (void)
{
    sq_core_config_t config = s_config (0, 100);
    config.identify_wait_ms = 200;
    s_start (&config);
    const char *route [] = { "W2" };
    sq_core_route (core, "C", route, 1, now);
    sq_conn_t *w1 = s_peer (SQ_BACKEND, 1, "W1", "NULL");
    s_peer (SQ_BACKEND, 2, "W2", "NULL");
    //  Workers wait for a registration too, then serve under their own names
    SQ_CHECK_EQ (w1->state, SQ_CONN_NAMING);
    now += 200;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (w1->state, SQ_CONN_IDLE);
    //  Before: the address is known in advance (s_peer uses host:40000+n)
    SQ_CHECK (!sq_core_identify (core, SQ_FRONTEND, "10.0.0.9:40003", "C", now));
    sq_conn_t *early = s_peer (SQ_FRONTEND, 3, "10.0.0.9", "NULL");
    SQ_CHECK_STR (early->name, "C");
    SQ_CHECK_STR (s_worker_of (early), "W2");
    //  After, within identify-wait: the connection waits in NAMING for it
    sq_conn_t *late = s_peer (SQ_FRONTEND, 4, "10.0.0.8", "NULL");
    SQ_CHECK_EQ (late->state, SQ_CONN_NAMING);
    //  What it sends meanwhile is kept, as before any pairing
    sq_core_received (core, late, (const uint8_t *) "early", 5, now);
    SQ_CHECK_EQ (late->early.size, 5);
    s_peer (SQ_BACKEND, 5, "10.0.0.2", "NULL");
    SQ_CHECK (sq_core_identify (core, SQ_BACKEND, "10.0.0.2:40005", "W2", now));
    SQ_CHECK (sq_core_identify (core, SQ_FRONTEND, "10.0.0.8:40004", "C", now));
    SQ_CHECK_STR (s_worker_of (late), "W2");
    //  Nobody registers: served under its own name when the wait is over
    sq_conn_t *plain = s_peer (SQ_FRONTEND, 6, "10.0.0.7", "NULL");
    now += 200;
    sq_core_tick (core, now);
    SQ_CHECK_STR (plain->name, "10.0.0.7");
    SQ_CHECK_STR (s_worker_of (plain), "W1");
    //  The registration was consumed by its connection
    SQ_CHECK_EQ (sq_identity_pending (sq_core_identity (core)), 0);
    s_teardown ();
}

//  Renaming a worker connection moves it between workers, load included
static void
test_rename_moves_worker_load (void)
{
    s_setup (0, 100);
    s_peer (SQ_BACKEND, 1, "10.0.0.2", "NULL");
    sq_conn_t *client = s_peer (SQ_FRONTEND, 2, "10.0.0.1", "NULL");
    sq_balancer_t *balancer = sq_core_balancer (core);
    SQ_CHECK_EQ (sq_balancer_worker (balancer, "10.0.0.2")->active_pairs, 1);
    SQ_CHECK (sq_core_identify (core, SQ_BACKEND, "10.0.0.2:40001", "W7", now));
    SQ_CHECK (sq_balancer_worker (balancer, "10.0.0.2") == NULL);
    SQ_CHECK_EQ (sq_balancer_worker (balancer, "W7")->active_pairs, 1);
    SQ_CHECK_STR (s_worker_of (client), "W7");
    s_teardown ();
}

//  -------------------------------------------------------------------------
//  Liveness

static void
test_pair_idle_timeout (void)
{
    sq_core_config_t config = s_config (0, 100);
    config.pair_idle_timeout_ms = 1000;
    s_start (&config);
    sq_conn_t *quiet = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    now += 500;
    sq_conn_t *busy = s_peer (SQ_FRONTEND, 3, "10.0.0.1", "NULL");
    s_peer (SQ_BACKEND, 4, "10.0.0.2", "NULL");
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 500);
    //  Traffic either way keeps a pair alive: here, from the worker side
    for (int step = 0; step < 4; step++) {
        now += 400;
        sq_core_received (core, busy->partner, (const uint8_t *) "x", 1, now);
        sq_core_tick (core, now);
    }
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);         //  Quiet pair closed
    SQ_CHECK (s_find (SQ_BACKEND, 2) == NULL);
    SQ_CHECK_EQ (busy->state, SQ_CONN_PAIRED);
    (void) quiet;
    const sq_core_stats_t *stats = sq_core_stats (core);
    SQ_CHECK_EQ (stats->closed [SQ_CLOSED_IDLE], 1);
    SQ_CHECK_EQ (stats->closed [SQ_CLOSED_PARTNER], 1);
    now += 1000;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 3) == NULL);
    SQ_CHECK_EQ (stats->closed [SQ_CLOSED_IDLE], 2);
    s_teardown ();
}

//  The proxy reads nobody while paused: that silence is not the pair's
static void
test_pause_freezes_pair_idle_clock (void)
{
    sq_core_config_t config = s_config (0, 100);
    config.pair_idle_timeout_ms = 1000;
    s_start (&config);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    now += 500;
    sq_core_set_paused (core, true, now);
    now += 5000;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    sq_core_set_paused (core, false, now);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 1000);
    now += 1000;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    s_teardown ();
}

static void
test_pair_max_lifetime (void)
{
    sq_core_config_t config = s_config (0, 100);
    config.pair_max_lifetime_ms = 2000;
    s_start (&config);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    for (int step = 0; step < 19; step++) {
        now += 100;
        sq_core_received (core, client, (const uint8_t *) "busy", 4, now);
        sq_core_tick (core, now);
    }
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 100);
    now += 100;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_LIFETIME], 1);
    s_teardown ();
}

//  A name that stops its heartbeats loses every connection, both sides
static void
test_heartbeat_lost (void)
{
    sq_core_config_t config = s_config (0, 100);
    config.heartbeat_liveness = 3;
    s_start (&config);
    s_peer (SQ_BACKEND, 1, "W1", "NULL");
    s_peer (SQ_BACKEND, 2, "W1", "NULL");
    s_peer (SQ_BACKEND, 3, "W2", "NULL");
    sq_conn_t *client = s_peer (SQ_FRONTEND, 4, "C", "NULL");
    SQ_CHECK_STR (s_worker_of (client), "W1");
    SQ_CHECK (sq_core_heartbeat (core, "W1", 100, now));
    SQ_CHECK (sq_core_heartbeat (core, "W2", 0, now));     //  Default: 1000 ms
    SQ_CHECK_EQ (sq_core_heartbeat_count (core), 2);
    now += 299;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_BACKEND, 1) && s_find (SQ_BACKEND, 2));
    SQ_CHECK (sq_core_heartbeat (core, "W1", 100, now));   //  Just in time
    now += 299;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_BACKEND, 1));
    now += 1;
    sq_core_tick (core, now);
    //  W1 is gone: its idle and paired connections, and the client with it
    SQ_CHECK (s_find (SQ_BACKEND, 1) == NULL);
    SQ_CHECK (s_find (SQ_BACKEND, 2) == NULL);
    SQ_CHECK (s_find (SQ_FRONTEND, 4) == NULL);
    SQ_CHECK (s_find (SQ_BACKEND, 3));
    const sq_core_stats_t *stats = sq_core_stats (core);
    SQ_CHECK_EQ (stats->closed [SQ_CLOSED_HEARTBEAT], 2);
    SQ_CHECK_EQ (stats->closed [SQ_CLOSED_PARTNER], 1);
    SQ_CHECK_EQ (sq_core_heartbeat_count (core), 1);       //  W1 forgotten
    now += 3000;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_BACKEND, 3) == NULL);
    SQ_CHECK_EQ (sq_core_heartbeat_count (core), 0);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), -1);
    s_teardown ();
}


//  ---------------------------------------------------------------------
//  Held bytes: bounds and policies

//  A paired client and worker whose worker takes nothing (would block)
static sq_conn_t *
s_stalled_pair (const sq_core_config_t *config, sq_conn_t **worker)
{
    s_start (config);
    *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    s_fake (SQ_BACKEND, 2)->blocked = true;
    return client;
}

//  Disconnect: past its bound the pair is closed with what it holds, and
//  counted; nothing stays held
static void
test_slow_peer_disconnect (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.max_pair_buffer = 64 * 1024;
    sq_conn_t *worker;
    sq_conn_t *client = s_stalled_pair (&config, &worker);
    uint8_t chunk [8192] = { 0 };
    for (int index = 0; index < 8; index++)
        sq_core_received (core, client, chunk, sizeof chunk, now);
    SQ_CHECK_EQ (sq_core_held (core), 8 * 8192);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_SLOW], 0);
    sq_core_received (core, client, chunk, 1, now);
    SQ_CHECK_EQ (sq_core_held (core), 0);
    SQ_CHECK_EQ (worker->state, SQ_CONN_CLOSING);
    SQ_CHECK (sq_core_reading (core, SQ_FRONTEND));
    //  The worker's close waits for its pipe (still blocked), the client's not
    now += 1000;
    sq_core_tick (core, now);
    SQ_CHECK (s_fake (SQ_FRONTEND, 1)->closed);
    s_fake (SQ_BACKEND, 2)->blocked = false;
    now += 1000;
    sq_core_tick (core, now);
    SQ_CHECK (s_fake (SQ_BACKEND, 2)->closed);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_SLOW], 1);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_PARTNER], 1);
    s_teardown ();
}

//  Past --max-buffer the pairs holding the most are closed first
static void
test_slow_peer_total_bound (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.max_pair_buffer = 64 * 1024;
    config.max_buffer = 90 * 1024;
    s_start (&config);
    sq_conn_t *clients [2];
    for (unsigned pair = 0; pair < 2; pair++) {
        s_peer (SQ_BACKEND, 10 + pair, "10.0.0.2", "NULL");
        clients [pair] = s_peer (SQ_FRONTEND, 20 + pair, "10.0.0.1", "NULL");
        SQ_CHECK_EQ (clients [pair]->state, SQ_CONN_PAIRED);
        s_fake (SQ_BACKEND, 10 + pair)->blocked = true;
    }
    uint8_t chunk [8192] = { 0 };
    for (int index = 0; index < 6; index++)
        sq_core_received (core, clients [0], chunk, sizeof chunk, now);
    for (int index = 0; index < 5; index++)
        sq_core_received (core, clients [1], chunk, sizeof chunk, now);
    SQ_CHECK_EQ (sq_core_held (core), 11 * 8192);
    //  The pair of client 0 holds the most: it goes, client 1's stays
    sq_core_received (core, clients [1], chunk, sizeof chunk, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 20) == NULL);
    SQ_CHECK_EQ (clients [1]->state, SQ_CONN_PAIRED);
    SQ_CHECK_EQ (sq_core_held (core), 6 * 8192);
    s_teardown ();
}

//  Block: reading the feeding side stops past the bound and resumes at
//  half of it; nothing is dropped
static void
test_slow_peer_block (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.max_pair_buffer = 8192;
    config.slow_peer_block = true;
    sq_conn_t *worker;
    sq_conn_t *client = s_stalled_pair (&config, &worker);
    uint8_t chunk [512];
    for (int index = 0; index < 17; index++) {
        memset (chunk, index, sizeof chunk);
        sq_core_received (core, client, chunk, sizeof chunk, now);
    }
    SQ_CHECK (!sq_core_reading (core, SQ_FRONTEND));
    SQ_CHECK (sq_core_reading (core, SQ_BACKEND));
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    SQ_CHECK_EQ (sq_core_stats (core)->reading_stops [SQ_FRONTEND], 1);
    //  The worker takes it all: reading resumes, every byte in order
    fake_peer_t *to_worker = s_fake (SQ_BACKEND, 2);
    size_t before = to_worker->size;
    to_worker->blocked = false;
    sq_core_tick (core, now);
    SQ_CHECK (sq_core_reading (core, SQ_FRONTEND));
    SQ_CHECK_EQ (sq_core_held (core), 0);
    SQ_CHECK_EQ (to_worker->size - before, 17 * 512);
    for (int index = 0; index < 17; index++)
        SQ_CHECK_EQ (to_worker->received [before + index * 512], index);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_SLOW], 0);
    s_teardown ();
}

//  A refused connection is closed at once and counted; the core keeps no
//  record of it
static void
test_admission_refuses (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.limits.max_connections [SQ_FRONTEND] = 1;
    s_start (&config);
    s_peer (SQ_FRONTEND, 1, "10.0.0.1", NULL);
    uint8_t id [5];
    fake_id (2, id);
    SQ_CHECK (sq_core_connected (core, SQ_FRONTEND, id, 5, "10.0.0.1", "10.0.0.1:40002",
                                 now) == NULL);
    SQ_CHECK (s_fake (SQ_FRONTEND, 2)->closed);
    SQ_CHECK_EQ (s_fake (SQ_FRONTEND, 2)->size, 0);
    SQ_CHECK (s_find (SQ_FRONTEND, 2) == NULL);
    SQ_CHECK_EQ (sq_core_stats (core)->refused [SQ_FRONTEND][SQ_REFUSED_MAX_CONNECTIONS], 1);
    SQ_CHECK_EQ (sq_conn_table_count (sq_core_conns (core), SQ_FRONTEND), 1);
    s_teardown ();
}

//  A greeting naming a mechanism the side does not allow closes the peer
static void
test_mechanism_not_allowed (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.mechanisms [SQ_FRONTEND] = "CURVE,PLAIN";
    s_start (&config);
    sq_conn_t *curve = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "CURVE");
    SQ_CHECK_EQ (curve->state, SQ_CONN_QUEUED);
    s_peer (SQ_FRONTEND, 2, "10.0.0.1", "NULL");     //  Closed at its greeting
    SQ_CHECK (s_find (SQ_FRONTEND, 2) == NULL);
    SQ_CHECK (s_fake (SQ_FRONTEND, 2)->closed);
    SQ_CHECK_EQ (sq_core_stats (core)->rejected_mechanism [SQ_FRONTEND], 1);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 3, "10.0.0.2", "NULL");
    SQ_CHECK_EQ (worker->state, SQ_CONN_IDLE);
    s_teardown ();
}

//  -------------------------------------------------------------------------
//  Pairs handed to the engine

//  A pair is offered to the engine once made; a pair it takes is counted
//  through sq_core_moved and gets no more sends from the core
static void
test_handoff_after_pairing (void)
{
    s_setup (0, 10);
    engine->take_pairs = true;
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    SQ_CHECK_EQ (engine->handoffs, 0);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    SQ_CHECK_EQ (engine->handoffs, 1);
    SQ_CHECK (engine->handed [0] == client && engine->handed [1] == worker);
    SQ_CHECK (client->handed_off && worker->handed_off);
    size_t sends = s_fake (SQ_FRONTEND, 1)->sends + s_fake (SQ_BACKEND, 2)->sends;
    const sq_core_stats_t *stats = sq_core_stats (core);
    uint64_t to_backend = stats->bytes_to [SQ_BACKEND];
    uint64_t chunks = stats->chunks_to [SQ_BACKEND];
    uint64_t client_in = client->bytes_in;
    sq_core_moved (core, client, 1000, now);
    sq_core_moved (core, worker, 300, now);
    SQ_CHECK_EQ (client->bytes_in, client_in + 1000);
    SQ_CHECK_EQ (worker->bytes_out, SQ_GREETING_SIZE + 1000);
    SQ_CHECK_EQ (client->bytes_out, SQ_GREETING_SIZE + 300);
    SQ_CHECK_EQ (stats->bytes_to [SQ_BACKEND], to_backend + 1000);
    SQ_CHECK_EQ (stats->chunks_to [SQ_BACKEND], chunks + 1);
    now += 100;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (s_fake (SQ_FRONTEND, 1)->sends + s_fake (SQ_BACKEND, 2)->sends, sends);
    s_teardown ();
}

//  An engine that does not take the pair leaves it to the core
static void
test_handoff_refused (void)
{
    s_setup (0, 10);
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    SQ_CHECK_EQ (engine->handoffs, 1);
    SQ_CHECK (!client->handed_off && !worker->handed_off);
    sq_core_received (core, client, (const uint8_t *) "data", 4, now);
    fake_peer_t *to_worker = s_fake (SQ_BACKEND, 2);
    SQ_CHECK_EQ (to_worker->size, SQ_GREETING_SIZE + 4);
    SQ_CHECK_EQ (engine->handoffs, 1);
    s_teardown ();
}

//  Bytes the core still holds for a peer go first: the pair is offered
//  once they are flushed, not before
static void
test_handoff_waits_for_flush (void)
{
    s_setup (0, 10);
    engine->take_pairs = true;
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    s_fake (SQ_FRONTEND, 1)->blocked = true;
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    SQ_CHECK (!sq_buf_empty (&client->outq));
    SQ_CHECK_EQ (engine->handoffs, 0);
    now += 10;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (engine->handoffs, 0);
    s_fake (SQ_FRONTEND, 1)->blocked = false;
    now += 10;
    sq_core_tick (core, now);
    SQ_CHECK (sq_buf_empty (&client->outq));
    SQ_CHECK_EQ (engine->handoffs, 1);
    SQ_CHECK (client->handed_off && worker->handed_off);
    SQ_CHECK_EQ (s_fake (SQ_FRONTEND, 1)->size, SQ_GREETING_SIZE);
    s_teardown ();
}

//  What the engine moves keeps the pair alive for --pair-idle-timeout
static void
test_moved_is_activity (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.pair_idle_timeout_ms = 1000;
    s_start (&config);
    engine->take_pairs = true;
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    SQ_CHECK (client->handed_off);
    now += 800;
    sq_core_moved (core, worker, 10, now);
    now += 800;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    now += 201;
    sq_core_tick (core, now);
    SQ_CHECK (s_fake (SQ_FRONTEND, 1)->closed && s_fake (SQ_BACKEND, 2)->closed);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_IDLE], 1);
    SQ_CHECK_EQ (sq_core_active_pairs (core), 0);
    s_teardown ();
}

//  A stalled pair the engine reports is closed as a slow peer
static void
test_stalled_pair_closed (void)
{
    s_setup (0, 10);
    engine->take_pairs = true;
    s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL");
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "10.0.0.2", "NULL");
    sq_core_stalled (core, worker, now);
    SQ_CHECK (s_fake (SQ_FRONTEND, 1)->closed && s_fake (SQ_BACKEND, 2)->closed);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_SLOW], 1);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_PARTNER], 1);
    SQ_CHECK_EQ (sq_core_active_pairs (core), 0);
    s_teardown ();
}

int
main (void)
{
    SQ_RUN (test_pairing_hands_over_greetings);
    SQ_RUN (test_never_across_mechanisms);
    SQ_RUN (test_queue_is_fifo);
    SQ_RUN (test_held_bytes_keep_order);
    SQ_RUN (test_disconnect_closes_partner);
    SQ_RUN (test_close_lingers_after_write);
    SQ_RUN (test_close_waits_for_held_bytes);
    SQ_RUN (test_gone_on_send);
    SQ_RUN (test_bad_greeting_rejected);
    SQ_RUN (test_greeting_timeout);
    SQ_RUN (test_pause_freezes_greeting_clock);
    SQ_RUN (test_queue_full_and_timeout);
    SQ_RUN (test_early_bytes_bounded);
    SQ_RUN (test_churn_leaves_nothing);
    SQ_RUN (test_route_sticky_then_fallback);
    SQ_RUN (test_route_exhausted_any_or_wait);
    SQ_RUN (test_new_slot_prefers_routed_client);
    SQ_RUN (test_drain_and_undrain);
    SQ_RUN (test_identify_before_after_and_wait);
    SQ_RUN (test_rename_moves_worker_load);
    SQ_RUN (test_pair_idle_timeout);
    SQ_RUN (test_pause_freezes_pair_idle_clock);
    SQ_RUN (test_pair_max_lifetime);
    SQ_RUN (test_heartbeat_lost);
    SQ_RUN (test_slow_peer_disconnect);
    SQ_RUN (test_slow_peer_total_bound);
    SQ_RUN (test_slow_peer_block);
    SQ_RUN (test_admission_refuses);
    SQ_RUN (test_mechanism_not_allowed);
    SQ_RUN (test_handoff_after_pairing);
    SQ_RUN (test_handoff_refused);
    SQ_RUN (test_handoff_waits_for_flush);
    SQ_RUN (test_moved_is_activity);
    SQ_RUN (test_stalled_pair_closed);
    return sq_test_summary ();
}
