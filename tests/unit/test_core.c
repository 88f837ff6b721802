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
#include "sq_bans.h"

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

//  A ZMTP command frame: flags 0x04, a short size, the name, then `extra`
//  zero bytes of body; returns its size
static size_t
s_command (uint8_t *frame, const char *name, size_t extra)
{
    size_t length = strlen (name);
    frame [0] = 0x04;
    frame [1] = (uint8_t) (1 + length + extra);
    frame [2] = (uint8_t) length;
    memcpy (frame + 3, name, length);
    memset (frame + 3 + length, 0, extra);
    return 3 + length + extra;
}

//  A well-formed first command of a client of this mechanism: READY with
//  no metadata (NULL), HELLO with an empty username and password (PLAIN),
//  a 200-byte HELLO of version 1.0 (CURVE)
static size_t
s_first_command (uint8_t *frame, const char *mechanism)
{
    if (strcmp (mechanism, "NULL") == 0)
        return s_command (frame, "READY", 0);
    if (strcmp (mechanism, "PLAIN") == 0)
        return s_command (frame, "HELLO", 2);
    size_t size = s_command (frame, "HELLO", 200 - 6);
    frame [8] = 1;                  //  Version 1.0
    return size;
}

//  Sends a command from a peer
static void
s_send_command (sq_conn_t *conn, const char *name, size_t extra)
{
    uint8_t frame [256];
    sq_core_received (core, conn, frame, s_command (frame, name, extra), now);
}

//  What libzmq peers would do next, as far as the proxy can tell: every
//  client being screened sends its first command, and every pair whose
//  handshake is followed completes it (NULL: the worker's READY; PLAIN and
//  CURVE: WELCOME, INITIATE, READY), so that tests can then send any bytes
static void
s_settle (void)
{
    sq_conn_t *waiting [FAKE_PEERS];
    size_t count = 0;
    sq_list_t *all = sq_conn_table_all (sq_core_conns (core));
    for (sq_list_node_t *node = all->next; node != all && count < FAKE_PEERS;
         node = node->next) {
        sq_conn_t *conn = sq_list_entry (node, sq_conn_t, all_node);
        if (conn->handshake == SQ_HANDSHAKE_SCREENING
        || (conn->handshake == SQ_HANDSHAKE_FOLLOWING && conn->side == SQ_FRONTEND))
            waiting [count++] = conn;
    }
    for (size_t index = 0; index < count; index++) {
        sq_conn_t *client = waiting [index];
        if (client->handshake == SQ_HANDSHAKE_SCREENING) {
            uint8_t frame [256];
            size_t size = s_first_command (frame, client->greeting.mechanism);
            sq_core_received (core, client, frame, size, now);
        }
        if (client->handshake != SQ_HANDSHAKE_FOLLOWING)
            continue;
        sq_conn_t *worker = client->partner;
        if (strcmp (client->greeting.mechanism, "NULL") != 0) {
            s_send_command (worker, "WELCOME", 16);
            s_send_command (client, "INITIATE", 16);
        }
        s_send_command (worker, "READY", 16);
    }
    if (count)
        s_settle ();                //  A pair may have made room for more
}

//  Runs the core's timers, then what peers would do next
static void
s_tick (void)
{
    sq_core_tick (core, now);
    s_settle ();
}

//  Connects peer n on a side and sends its greeting; returns the connection
static sq_conn_t *
s_connect (sq_side_t side, unsigned n, const char *host, const char *mechanism)
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
        s_greeting (greeting, mechanism, 0);
        sq_core_received (core, conn, greeting, sizeof greeting, now);
    }
    return conn;
}

//  As s_connect, then what peers would do next (s_settle)
static sq_conn_t *
s_peer (sq_side_t side, unsigned n, const char *host, const char *mechanism)
{
    sq_conn_t *conn = s_connect (side, n, host, mechanism);
    s_settle ();
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

//  A client is given an idle worker's greeting tail and screened; only
//  then is the worker committed, and it gets the client's tail, first
//  command and later bytes, in order
static void
test_pairing_hands_over_greetings (void)
{
    s_setup (0, 10);
    uint8_t greeting [SQ_GREETING_SIZE];
    s_greeting (greeting, "CURVE", 0);
    uint8_t id [5];
    fake_id (1, id);
    sq_conn_t *client = sq_core_connected (core, SQ_FRONTEND, id, 5, "10.0.0.1",
                                           "10.0.0.1:40001", now);
    sq_core_received (core, client, greeting, sizeof greeting, now);
    //  No worker yet: the client waits for any CURVE tail
    SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
    SQ_CHECK_EQ (sq_balancer_queued_count (sq_core_balancer (core)), 1);
    sq_conn_t *worker = s_connect (SQ_BACKEND, 2, "10.0.0.2", "CURVE");
    //  A worker arrives: the client gets its tail, the worker nothing
    SQ_CHECK_EQ (client->state, SQ_CONN_SCREENING);
    SQ_CHECK_EQ (worker->state, SQ_CONN_IDLE);
    fake_peer_t *to_client = s_fake (SQ_FRONTEND, 1);
    fake_peer_t *to_worker = s_fake (SQ_BACKEND, 2);
    SQ_CHECK_EQ (to_client->size, SQ_GREETING_SIZE);
    SQ_CHECK (memcmp (to_client->received + 11, worker->greeting.bytes + 11, 53) == 0);
    SQ_CHECK_EQ (to_worker->size, SQ_GREETING_PREFIX_SIZE);
    //  Its HELLO, in two pieces, passes the screening and commits the worker
    uint8_t hello [256];
    size_t hello_size = s_first_command (hello, "CURVE");
    sq_core_received (core, client, hello, 100, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_SCREENING);
    sq_core_received (core, client, hello + 100, hello_size - 100, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    SQ_CHECK (client->partner == worker && worker->partner == client);
    SQ_CHECK_EQ (sq_core_active_pairs (core), 1);
    SQ_CHECK_EQ (to_worker->size, SQ_GREETING_SIZE + hello_size);
    SQ_CHECK (memcmp (to_worker->received + 11, greeting + 11, 53) == 0);
    SQ_CHECK (memcmp (to_worker->received + 64, hello, hello_size) == 0);
    SQ_CHECK_EQ (to_client->size, SQ_GREETING_SIZE);
    SQ_CHECK_EQ (client->handshake, SQ_HANDSHAKE_FOLLOWING);
    //  The handshake runs through, both ways, then bytes flow unread
    s_settle ();
    SQ_CHECK_EQ (client->handshake, SQ_HANDSHAKE_DONE);
    SQ_CHECK_EQ (sq_core_stats (core)->handshakes_completed, 1);
    size_t client_base = to_client->size, worker_base = to_worker->size;
    sq_core_received (core, client, (const uint8_t *) "abc", 3, now);
    sq_core_received (core, worker, (const uint8_t *) "xyz", 3, now);
    SQ_CHECK (memcmp (to_worker->received + worker_base, "abc", 3) == 0);
    SQ_CHECK (memcmp (to_client->received + client_base, "xyz", 3) == 0);
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
    s_tick ();
    SQ_CHECK_EQ (worker->outq.size, 0);
    SQ_CHECK_EQ (to_worker->size, base + 5000);
    for (int index = 0; index < 50; index++)
        for (int offset = 0; offset < 100; offset++)
            SQ_CHECK_EQ (to_worker->received [base + index * 100 + offset], index);
    SQ_CHECK_EQ (client->bytes_in, SQ_GREETING_SIZE + 8 + 5000);    //  8: its READY
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
    s_tick ();
    SQ_CHECK (!s_fake (SQ_FRONTEND, 1)->closed);
    now += 1;
    s_tick ();
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
    size_t base = to_client->size;
    to_client->blocked = true;
    sq_core_received (core, worker, (const uint8_t *) "reply", 5, now);
    sq_core_disconnected (core, worker, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_CLOSING);
    now += 10;
    s_tick ();
    SQ_CHECK (!to_client->closed);
    to_client->blocked = false;
    now += 1;
    s_tick ();
    SQ_CHECK (to_client->closed);
    SQ_CHECK (memcmp (to_client->received + base, "reply", 5) == 0);
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
    s_tick ();
    SQ_CHECK (s_find (SQ_BACKEND, 1));
    now += 1;
    s_tick ();
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
    s_tick ();
    SQ_CHECK (s_find (SQ_FRONTEND, 1));
    sq_core_set_paused (core, false, now);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 1000);
    now += 1000;
    s_tick ();
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
    s_tick ();
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
        s_tick ();
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
    s_settle ();
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
    s_tick ();
    SQ_CHECK_EQ (client->state, SQ_CONN_QUEUED);
    now += 1;
    s_tick ();
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
        s_tick ();
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
    s_tick ();
    SQ_CHECK_EQ (w1->state, SQ_CONN_IDLE);
    //  Before: the address is known in advance (s_peer uses host:40000+n)
    SQ_CHECK (!sq_core_identify (core, SQ_FRONTEND, "10.0.0.9:40003", "C", now));
    sq_conn_t *early = s_peer (SQ_FRONTEND, 3, "10.0.0.9", "NULL");
    SQ_CHECK_STR (early->name, "C");
    SQ_CHECK_STR (s_worker_of (early), "W2");
    //  After, within identify-wait: the connection waits in NAMING for it
    sq_conn_t *late = s_peer (SQ_FRONTEND, 4, "10.0.0.8", "NULL");
    SQ_CHECK_EQ (late->state, SQ_CONN_NAMING);
    //  What it sends meanwhile (a pipelined READY) is kept, then screened
    uint8_t ready [16];
    size_t ready_size = s_first_command (ready, "NULL");
    sq_core_received (core, late, ready, ready_size, now);
    SQ_CHECK_EQ (late->early.size, ready_size);
    s_peer (SQ_BACKEND, 5, "10.0.0.2", "NULL");
    SQ_CHECK (sq_core_identify (core, SQ_BACKEND, "10.0.0.2:40005", "W2", now));
    SQ_CHECK (sq_core_identify (core, SQ_FRONTEND, "10.0.0.8:40004", "C", now));
    SQ_CHECK_STR (s_worker_of (late), "W2");
    //  Nobody registers: served under its own name when the wait is over
    sq_conn_t *plain = s_peer (SQ_FRONTEND, 6, "10.0.0.7", "NULL");
    now += 200;
    s_tick ();
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
        s_tick ();
    }
    SQ_CHECK (s_find (SQ_FRONTEND, 1) == NULL);         //  Quiet pair closed
    SQ_CHECK (s_find (SQ_BACKEND, 2) == NULL);
    SQ_CHECK_EQ (busy->state, SQ_CONN_PAIRED);
    (void) quiet;
    const sq_core_stats_t *stats = sq_core_stats (core);
    SQ_CHECK_EQ (stats->closed [SQ_CLOSED_IDLE], 1);
    SQ_CHECK_EQ (stats->closed [SQ_CLOSED_PARTNER], 1);
    now += 1000;
    s_tick ();
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
    s_tick ();
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    sq_core_set_paused (core, false, now);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 1000);
    now += 1000;
    s_tick ();
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
        s_tick ();
    }
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 100);
    now += 100;
    s_tick ();
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
    s_tick ();
    SQ_CHECK (s_find (SQ_BACKEND, 1) && s_find (SQ_BACKEND, 2));
    SQ_CHECK (sq_core_heartbeat (core, "W1", 100, now));   //  Just in time
    now += 299;
    s_tick ();
    SQ_CHECK (s_find (SQ_BACKEND, 1));
    now += 1;
    s_tick ();
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
    s_tick ();
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
    s_tick ();
    SQ_CHECK (s_fake (SQ_FRONTEND, 1)->closed);
    s_fake (SQ_BACKEND, 2)->blocked = false;
    now += 1000;
    s_tick ();
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
    s_tick ();
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
//  Guarded handshakes

//  A client greeted, not screened: what a raw peer would leave pending
static sq_conn_t *
s_client_greeted (unsigned n, const char *host, const char *mechanism)
{
    return s_connect (SQ_FRONTEND, n, host, mechanism);
}

//  Garbage, a wrong command or a message after the greeting cost no worker
//  anything: the worker stays idle and never sees a byte of the client
static void
test_screening_costs_no_worker (void)
{
    s_setup (0, 10);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 1, "10.0.0.2", "NULL");
    const char *garbage [] = { "GET / HTTP/1.1\r\n", "\x04\x06\x05HELLO", "\x00\x03" "abc" };
    size_t sizes [] = { 16, 8, 5 };
    for (unsigned index = 0; index < 3; index++) {
        sq_conn_t *client = s_client_greeted (10 + index, "10.0.0.1", "NULL");
        SQ_CHECK_EQ (client->state, SQ_CONN_SCREENING);
        SQ_CHECK_EQ (s_fake (SQ_FRONTEND, 10 + index)->size, SQ_GREETING_SIZE);
        sq_core_received (core, client, (const uint8_t *) garbage [index], sizes [index], now);
        SQ_CHECK (s_find (SQ_FRONTEND, 10 + index) == NULL);
        SQ_CHECK (s_fake (SQ_FRONTEND, 10 + index)->closed);
    }
    SQ_CHECK_EQ (worker->state, SQ_CONN_IDLE);
    SQ_CHECK_EQ (s_fake (SQ_BACKEND, 1)->size, SQ_GREETING_PREFIX_SIZE);
    SQ_CHECK_EQ (sq_core_stats (core)->handshakes_failed [SQ_HS_MALFORMED], 3);
    SQ_CHECK_EQ (sq_core_stats (core)->slots_lost, 0);
    //  Nobody was banned: the proxy refused them, not a worker
    SQ_CHECK_EQ (sq_bans_count (sq_core_bans (core)), 0);
    s_teardown ();
}

//  A silent client is closed at the handshake timeout, the worker untouched
static void
test_screening_timeout (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.handshake_timeout_ms = 300;
    s_start (&config);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 1, "10.0.0.2", "CURVE");
    s_client_greeted (2, "10.0.0.1", "CURVE");
    SQ_CHECK_EQ (sq_core_screening (core), 1);
    SQ_CHECK_EQ (sq_core_next_timeout (core, now), 300);
    now += 299;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 2) != NULL);
    now += 1;
    sq_core_tick (core, now);
    SQ_CHECK (s_find (SQ_FRONTEND, 2) == NULL);
    SQ_CHECK_EQ (sq_core_stats (core)->handshakes_failed [SQ_HS_TIMEOUT], 1);
    SQ_CHECK_EQ (sq_core_screening (core), 0);
    SQ_CHECK_EQ (worker->state, SQ_CONN_IDLE);
    s_teardown ();
}

//  A worker that closes after the client's HELLO lost that slot: counted,
//  and the client's IP is refused on arrival until its ban ends; a
//  completed handshake then clears its record
static void
test_worker_closed_bans_client (void)
{
    s_setup (0, 10);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 1, "10.0.0.2", "CURVE");
    sq_conn_t *client = s_client_greeted (2, "10.0.0.1", "CURVE");
    uint8_t hello [256];
    size_t hello_size = s_first_command (hello, "CURVE");
    for (size_t index = 0; index < hello_size; index++)     //  A byte at a time
        sq_core_received (core, client, hello + index, 1, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    SQ_CHECK_EQ (sq_core_following (core), 1);
    sq_core_disconnected (core, worker, now);
    SQ_CHECK (s_fake (SQ_FRONTEND, 2)->closed);
    const sq_core_stats_t *stats = sq_core_stats (core);
    SQ_CHECK_EQ (stats->handshakes_failed [SQ_HS_WORKER_CLOSED], 1);
    SQ_CHECK_EQ (stats->slots_lost, 1);
    SQ_CHECK_EQ (sq_core_following (core), 0);
    SQ_CHECK_EQ (sq_bans_active (sq_core_bans (core), now), 1);
    //  Refused on arrival, while another IP is not
    uint8_t id [5];
    fake_id (3, id);
    SQ_CHECK (sq_core_connected (core, SQ_FRONTEND, id, 5, "10.0.0.1", "10.0.0.1:1", now) == NULL);
    SQ_CHECK_EQ (stats->refused [SQ_FRONTEND][SQ_REFUSED_HANDSHAKE], 1);
    SQ_CHECK (s_peer (SQ_FRONTEND, 4, "10.0.0.3", "CURVE"));
    //  After 30 s it may come back; a completed handshake clears it
    now += 30000;
    s_peer (SQ_BACKEND, 5, "10.0.0.2", "CURVE");     //  For the client of 10.0.0.3
    s_peer (SQ_BACKEND, 7, "10.0.0.2", "CURVE");
    sq_conn_t *back = s_peer (SQ_FRONTEND, 6, "10.0.0.1", "CURVE");
    SQ_CHECK_EQ (back->handshake, SQ_HANDSHAKE_DONE);
    SQ_CHECK_EQ (sq_bans_count (sq_core_bans (core)), 0);
    s_teardown ();
}

//  A worker's ERROR after the client's command bans it too, the reason
//  kept; each further failure doubles the ban; UNBAN lifts it
static void
test_worker_error_doubles_ban (void)
{
    s_setup (0, 10);
    SQ_CHECK (!sq_core_unban (core, "10.0.0.1"));
    //  An ERROR instead of WELCOME
    sq_conn_t *worker = s_peer (SQ_BACKEND, 1, "10.0.0.2", "PLAIN");
    sq_conn_t *client = s_client_greeted (2, "10.0.0.1", "PLAIN");
    uint8_t hello [256];
    sq_core_received (core, client, hello, s_first_command (hello, "PLAIN"), now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    const uint8_t error [] = { 0x04, 10, 5, 'E', 'R', 'R', 'O', 'R', 3, '4', '0', '0' };
    sq_core_received (core, worker, error, sizeof error, now);
    //  The ERROR reaches the client unchanged
    fake_peer_t *to_client = s_fake (SQ_FRONTEND, 2);
    SQ_CHECK (memcmp (to_client->received + to_client->size - sizeof error, error,
                      sizeof error) == 0);
    SQ_CHECK_EQ (sq_core_stats (core)->handshakes_failed [SQ_HS_ERROR], 1);
    SQ_CHECK_EQ (sq_core_stats (core)->slots_lost, 0);
    sq_core_disconnected (core, client, now);
    SQ_CHECK_EQ (sq_core_stats (core)->slots_lost, 0);      //  libzmq redials after ERROR
    SQ_CHECK (sq_bans_refused (sq_core_bans (core), "10.0.0.1", now + 29999));
    SQ_CHECK (!sq_bans_refused (sq_core_bans (core), "10.0.0.1", now + 30000));
    //  The second failure: 60 s
    now += 30000;
    worker = s_peer (SQ_BACKEND, 3, "10.0.0.2", "PLAIN");
    client = s_client_greeted (4, "10.0.0.1", "PLAIN");
    sq_core_received (core, client, hello, s_first_command (hello, "PLAIN"), now);
    sq_core_disconnected (core, worker, now);
    SQ_CHECK (sq_bans_refused (sq_core_bans (core), "10.0.0.1", now + 59999));
    SQ_CHECK (!sq_bans_refused (sq_core_bans (core), "10.0.0.1", now + 60000));
    SQ_CHECK (sq_core_unban (core, "10.0.0.1"));
    SQ_CHECK (!sq_bans_refused (sq_core_bans (core), "10.0.0.1", now));
    s_teardown ();
}

//  Bytes that break the framing after the commit are not forwarded: the
//  pair is closed, so the worker sees a lost connection, not garbage
static void
test_malformed_after_commit (void)
{
    s_setup (0, 10);
    sq_conn_t *worker = s_peer (SQ_BACKEND, 1, "10.0.0.2", "CURVE");
    sq_conn_t *client = s_client_greeted (2, "10.0.0.1", "CURVE");
    uint8_t hello [256];
    sq_core_received (core, client, hello, s_first_command (hello, "CURVE"), now);
    SQ_CHECK (client->partner == worker);
    size_t delivered = s_fake (SQ_BACKEND, 1)->size;
    sq_core_received (core, client, (const uint8_t *) "\xFFgarbage", 8, now);
    SQ_CHECK_EQ (s_fake (SQ_BACKEND, 1)->size, delivered);
    SQ_CHECK (s_fake (SQ_BACKEND, 1)->closed);
    SQ_CHECK (s_fake (SQ_FRONTEND, 2)->closed);
    SQ_CHECK_EQ (sq_core_stats (core)->handshakes_failed [SQ_HS_MALFORMED], 1);
    SQ_CHECK_EQ (sq_core_stats (core)->slots_lost, 0);
    SQ_CHECK_EQ (sq_bans_count (sq_core_bans (core)), 0);
    s_teardown ();
}

//  A handshake that stalls after the commit is closed at the timeout
static void
test_following_timeout (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.handshake_timeout_ms = 500;
    s_start (&config);
    s_peer (SQ_BACKEND, 1, "10.0.0.2", "CURVE");
    sq_conn_t *client = s_client_greeted (2, "10.0.0.1", "CURVE");
    now += 400;
    uint8_t hello [256];
    sq_core_received (core, client, hello, s_first_command (hello, "CURVE"), now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    now += 499;                                     //  A full timeout again
    sq_core_tick (core, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    now += 1;
    sq_core_tick (core, now);
    SQ_CHECK (s_fake (SQ_BACKEND, 1)->closed);
    SQ_CHECK_EQ (sq_core_stats (core)->handshakes_failed [SQ_HS_TIMEOUT], 1);
    SQ_CHECK_EQ (sq_bans_count (sq_core_bans (core)), 0);
    s_teardown ();
}

//  A screened client meets only a worker connection of the very tail it
//  was given: another tail of the same mechanism does not do
static void
test_tails_must_match (void)
{
    s_setup (0, 10);
    sq_conn_t *first = s_peer (SQ_BACKEND, 1, "10.0.0.2", "CURVE");
    sq_conn_t *taker = s_client_greeted (2, "10.0.0.1", "CURVE");
    sq_conn_t *late = s_client_greeted (3, "10.0.0.1", "CURVE");
    SQ_CHECK_EQ (late->state, SQ_CONN_SCREENING);
    uint8_t hello [256];
    size_t hello_size = s_first_command (hello, "CURVE");
    sq_core_received (core, taker, hello, hello_size, now);
    SQ_CHECK (taker->partner == first);
    //  A worker whose filler differs: its tail is not the one `late` has
    uint8_t greeting [SQ_GREETING_SIZE], id [5];
    s_greeting (greeting, "CURVE", 7);
    fake_id (4, id);
    sq_conn_t *other = sq_core_connected (core, SQ_BACKEND, id, 5, "10.0.0.4",
                                          "10.0.0.4:4", now);
    sq_core_received (core, other, greeting, sizeof greeting, now);
    SQ_CHECK_EQ (other->state, SQ_CONN_IDLE);
    sq_core_received (core, late, hello, hello_size, now);
    SQ_CHECK_EQ (late->state, SQ_CONN_QUEUED);
    SQ_CHECK_EQ (other->state, SQ_CONN_IDLE);
    //  A worker of the same tail as the first takes it
    sq_conn_t *second = s_peer (SQ_BACKEND, 5, "10.0.0.2", "CURVE");
    SQ_CHECK (late->partner == second);
    s_teardown ();
}

//  One IP may hold only its share of the queue
static void
test_queue_per_ip (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.max_queue_per_ip = 2;
    s_start (&config);
    SQ_CHECK_EQ (s_peer (SQ_FRONTEND, 1, "10.0.0.1", "NULL")->state, SQ_CONN_QUEUED);
    SQ_CHECK_EQ (s_peer (SQ_FRONTEND, 2, "10.0.0.1", "NULL")->state, SQ_CONN_QUEUED);
    s_peer (SQ_FRONTEND, 3, "10.0.0.1", "NULL");
    SQ_CHECK (s_find (SQ_FRONTEND, 3) == NULL);
    SQ_CHECK_EQ (sq_core_stats (core)->refused [SQ_FRONTEND][SQ_REFUSED_QUEUE_PER_IP], 1);
    SQ_CHECK_EQ (s_peer (SQ_FRONTEND, 4, "10.0.0.5", "NULL")->state, SQ_CONN_QUEUED);
    //  A place freed is a place again
    sq_core_disconnected (core, s_find (SQ_FRONTEND, 1), now);
    SQ_CHECK_EQ (s_peer (SQ_FRONTEND, 5, "10.0.0.1", "NULL")->state, SQ_CONN_QUEUED);
    s_teardown ();
}

//  Once its handshake is over, a pair goes to an engine that takes pairs,
//  but only when nothing is held for it; what the engine then moves is
//  counted, and keeps the pair active
static void
test_handoff_after_handshake (void)
{
    sq_core_config_t config = s_config (0, 10);
    config.pair_idle_timeout_ms = 1000;
    s_start (&config);
    engine->takes_pairs = true;
    s_peer (SQ_BACKEND, 1, "10.0.0.2", "CURVE");
    sq_conn_t *client = s_client_greeted (2, "10.0.0.1", "CURVE");
    uint8_t hello [256];
    sq_core_received (core, client, hello, s_first_command (hello, "CURVE"), now);
    sq_conn_t *worker = client->partner;
    SQ_CHECK (worker);
    s_send_command (worker, "WELCOME", 16);
    s_send_command (client, "INITIATE", 16);
    SQ_CHECK_EQ (engine->handoffs, 0);          //  Not before the end
    //  The client cannot take the worker's READY yet: the pair waits
    s_fake (SQ_FRONTEND, 2)->blocked = true;
    s_send_command (worker, "READY", 16);
    SQ_CHECK_EQ (client->handshake, SQ_HANDSHAKE_DONE);
    SQ_CHECK_EQ (engine->handoffs, 0);
    SQ_CHECK (!client->handed_off);
    s_fake (SQ_FRONTEND, 2)->blocked = false;
    now += 10;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (engine->handoffs, 1);
    SQ_CHECK (client->handed_off && worker->handed_off);
    //  The engine moves bytes and says so: counted, and the pair is active
    uint64_t before = sq_core_stats (core)->bytes_to [SQ_BACKEND];
    uint64_t worker_out = worker->bytes_out, client_in = client->bytes_in;
    now += 900;
    sq_core_moved (core, client, 5000, now);
    SQ_CHECK_EQ (sq_core_stats (core)->bytes_to [SQ_BACKEND], before + 5000);
    SQ_CHECK_EQ (worker->bytes_out, worker_out + 5000);
    SQ_CHECK_EQ (client->bytes_in, client_in + 5000);
    now += 900;                                 //  1800 ms since the READY
    sq_core_tick (core, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    //  A stall the engine reports closes the pair as a slow peer
    sq_core_stalled (core, worker, now);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_SLOW], 1);
    s_teardown ();
}

//  A failed handshake is never handed off: the core keeps every byte
static void
test_no_handoff_after_failure (void)
{
    s_setup (0, 10);
    engine->takes_pairs = true;
    s_peer (SQ_BACKEND, 1, "10.0.0.2", "PLAIN");
    sq_conn_t *client = s_client_greeted (2, "10.0.0.1", "PLAIN");
    uint8_t hello [256];
    sq_core_received (core, client, hello, s_first_command (hello, "PLAIN"), now);
    s_send_command (client->partner, "ERROR", 4);
    SQ_CHECK_EQ (client->handshake, SQ_HANDSHAKE_FAILED);
    now += 10;
    sq_core_tick (core, now);
    SQ_CHECK_EQ (engine->handoffs, 0);
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
    SQ_RUN (test_screening_costs_no_worker);
    SQ_RUN (test_screening_timeout);
    SQ_RUN (test_worker_closed_bans_client);
    SQ_RUN (test_worker_error_doubles_ban);
    SQ_RUN (test_malformed_after_commit);
    SQ_RUN (test_following_timeout);
    SQ_RUN (test_tails_must_match);
    SQ_RUN (test_queue_per_ip);
    SQ_RUN (test_handoff_after_handshake);
    SQ_RUN (test_no_handoff_after_failure);
    return sq_test_summary ();
}
