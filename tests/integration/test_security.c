/*  =========================================================================
    test_security - PLAIN and CURVE run end to end through the proxy

    The workers are PLAIN or CURVE servers with a ZAP handler in their own
    context; the proxy holds no keys. The ZAP handler shows what reached
    the worker (user and password, the client's long-term public key), and
    refused or mismatched clients never get a reply. Clients are paired
    only with workers of the same mechanism.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

SQ_TEST_DEFINE

//  Sends text from client and checks the echo arrives
static void
s_expect_echo (void *client, const char *text)
{
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_MSG (echo, "no echo for '%s' within %d ms", text, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, text);
    free (echo);
}

//  Checks nothing comes back to client for a while. The client must have
//  sent its request at once after connecting: libzmq 4.3 treats a failed
//  handshake as a protocol error and does not redial, so a send after the
//  failure would find no pipe and time out.
static void
s_expect_silence (void *client)
{
    sq_msg_t *reply = sq_msg_recv (client, SQ_QUIET_MS);
    SQ_CHECK_MSG (reply == NULL, "a refused client got a reply");
}

//  Checks every LIST entry that is paired uses the given mechanism, and
//  that there are `pairs` pairs
static void
s_check_list_mechanism (sq_proxy_t *proxy, const char *mechanism, int pairs)
{
    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK (list && sq_json_valid (list));
    int count = sq_json_count (list, ""), paired = 0;
    for (int index = 0; index < count; index++) {
        char path [32], state [32], value [32];
        snprintf (path, sizeof path, "%d.state", index);
        SQ_CHECK (sq_json_string (list, path, state, sizeof state));
        if (strcmp (state, "paired"))
            continue;
        paired++;
        snprintf (path, sizeof path, "%d.mechanism", index);
        SQ_CHECK (sq_json_string (list, path, value, sizeof value));
        SQ_CHECK_STR (value, mechanism);
    }
    SQ_CHECK_EQ (paired, 2 * pairs);
    free (list);
}

//  A DEALER PLAIN server worker whose ZAP handler accepts admin/secret
static sq_worker_t *
s_plain_worker (sq_proxy_t *proxy)
{
    sq_security_t security = { .mechanism = SQ_PLAIN, .as_server = true };
    sq_zap_rule_t rule = { .username = "admin", .password = "secret" };
    sq_worker_config_t config = {
        .type = ZMQ_DEALER, .connections = 1, .security = &security, .zap = &rule
    };
    sq_worker_t *worker = sq_worker_new (proxy->backend, &config);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    return worker;
}

//  A PLAIN client of user admin with the given password, dialling from
//  source_ip (NULL: any)
static void *
s_plain_client_from (void *ctx, sq_proxy_t *proxy, const char *password,
                     const char *source_ip)
{
    sq_security_t security = {
        .mechanism = SQ_PLAIN, .username = "admin", .password = password
    };
    char endpoint [300];
    snprintf (endpoint, sizeof endpoint, "%s", proxy->frontend);
    if (source_ip)
        SQ_CHECK (sq_endpoint_from (proxy->frontend, source_ip, 0, endpoint, sizeof endpoint));
    void *client = sq_peer_new (ctx, ZMQ_DEALER, &security, endpoint);
    SQ_CHECK (client);
    return client;
}

static void *
s_plain_client (void *ctx, sq_proxy_t *proxy, const char *password)
{
    return s_plain_client_from (ctx, proxy, password, NULL);
}

static void
test_plain_accepted (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_security", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = s_plain_worker (proxy);
    void *ctx = zmq_ctx_new ();
    void *client = s_plain_client (ctx, proxy, "secret");
    s_expect_echo (client, "plain hello");
    s_expect_echo (client, "plain again");

    sq_zap_seen_t seen;
    sq_zap_seen (sq_worker_zap (worker), &seen);
    SQ_CHECK_EQ (seen.requests, 1);
    SQ_CHECK_EQ (seen.accepted, 1);
    SQ_CHECK_STR (seen.mechanism, "PLAIN");
    SQ_CHECK_STR (seen.username, "admin");
    SQ_CHECK_STR (seen.password, "secret");
    s_check_list_mechanism (proxy, "PLAIN", 1);

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_plain_refused (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_security", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = s_plain_worker (proxy);
    void *ctx = zmq_ctx_new ();
    void *client = s_plain_client (ctx, proxy, "wrong");
    SQ_CHECK_EQ (sq_send_str (client, "let me in"), 0);
    SQ_CHECK (sq_zap_wait (sq_worker_zap (worker), 1, SQ_WAIT_MS));
    s_expect_silence (client);

    sq_zap_seen_t seen;
    sq_zap_seen (sq_worker_zap (worker), &seen);
    SQ_CHECK_STR (seen.mechanism, "PLAIN");
    SQ_CHECK_STR (seen.username, "admin");
    SQ_CHECK_STR (seen.password, "wrong");
    SQ_CHECK (seen.refused >= 1);
    SQ_CHECK_EQ (seen.accepted, 0);
    zmq_close (client);

    //  The worker's slot comes back and serves a client that knows the
    //  password. It comes from another IP: the worker's ERROR may have
    //  the proxy refuse the wrong password's IP for a while.
    client = s_plain_client_from (ctx, proxy, "secret", "127.0.0.2");
    s_expect_echo (client, "right password");
    sq_zap_seen (sq_worker_zap (worker), &seen);
    SQ_CHECK_EQ (seen.accepted, 1);
    SQ_CHECK_STR (seen.password, "secret");

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  The proxy bans a client's IP after a worker refused it: the IP and its
//  refusals, as BANS and STATS show them
static void
s_check_banned (sq_proxy_t *proxy, const char *ip)
{
    SQ_CHECK (sq_stats_wait (proxy->control, "bans.active", 1, SQ_WAIT_MS));
    char *bans = sq_control_str (proxy->control, "BANS");
    SQ_CHECK (bans && sq_json_valid (bans));
    char key [64];
    SQ_CHECK (sq_json_string (bans, "0.key", key, sizeof key));
    SQ_CHECK_STR (key, ip);
    free (bans);
}

static void
test_curve_accepted (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_security", NULL);
    SQ_CHECK (proxy);
    sq_keypair_t server, client_keys;
    sq_keypair_new (&server);
    sq_keypair_new (&client_keys);
    sq_worker_t *worker = sq_curve_worker_new (proxy->backend, ZMQ_DEALER, 1, &server, NULL);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *ctx = zmq_ctx_new ();
    void *client = sq_curve_client_new (ctx, proxy->frontend, NULL, &client_keys,
                                        server.public_key, 50);
    SQ_CHECK (client);
    s_expect_echo (client, "curve hello");
    s_expect_echo (client, "curve again");

    //  The worker's ZAP handler saw exactly the client's long-term key
    uint8_t expected [32];
    SQ_CHECK (zmq_z85_decode (expected, client_keys.public_key));
    sq_zap_seen_t seen;
    sq_zap_seen (sq_worker_zap (worker), &seen);
    SQ_CHECK_EQ (seen.requests, 1);
    SQ_CHECK_STR (seen.mechanism, "CURVE");
    SQ_CHECK_EQ (seen.client_key_size, 32);
    SQ_CHECK (memcmp (seen.client_key, expected, 32) == 0);
    s_check_list_mechanism (proxy, "CURVE", 1);

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_curve_wrong_server_key (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_security", NULL);
    SQ_CHECK (proxy);
    sq_keypair_t server, impostor, client_keys;
    sq_keypair_new (&server);
    sq_keypair_new (&impostor);
    sq_keypair_new (&client_keys);
    sq_worker_t *worker = sq_curve_worker_new (proxy->backend, ZMQ_DEALER, 1, &server, NULL);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *ctx = zmq_ctx_new ();
    void *client = sq_curve_client_new (ctx, proxy->frontend, NULL, &client_keys,
                                        impostor.public_key, 50);
    SQ_CHECK (client);
    //  Once closed, it must neither linger nor redial
    int linger = 0;
    SQ_CHECK_EQ (zmq_setsockopt (client, ZMQ_LINGER, &linger, sizeof linger), 0);
    SQ_CHECK_EQ (sq_send_str (client, "who are you"), 0);
    SQ_CHECK (sq_stats_wait_min (proxy->control, "pairs.total", 1, SQ_WAIT_MS));
    s_expect_silence (client);
    //  The worker could not even open the HELLO box, so it never asked ZAP
    sq_zap_seen_t seen;
    sq_zap_seen (sq_worker_zap (worker), &seen);
    SQ_CHECK_EQ (seen.requests, 0);
    //  Its last redial must be gone from the proxy before the second
    //  worker comes, or that one could take the second worker's slot too
    zmq_close (client);
    SQ_CHECK (sq_stats_wait (proxy->control, "frontend.connections", 0, SQ_WAIT_MS));

    //  libzmq 4.3 treats the bad HELLO as a protocol error, and a socket
    //  does not redial after one: the first worker's slot is gone for good,
    //  the proxy says so, and bans the client's IP so that it cannot take
    //  more slots. A second worker serves a client that has the right key,
    //  from another IP.
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.slots_lost", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.worker_closed", 1,
                             SQ_WAIT_MS));
    s_check_banned (proxy, "127.0.0.1");
    sq_worker_t *second = sq_curve_worker_new (proxy->backend, ZMQ_DEALER, 1, &server, NULL);
    SQ_CHECK (second);
    client = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.2", &client_keys,
                                  server.public_key, 50);
    SQ_CHECK (client);
    s_expect_echo (client, "right server key");
    SQ_CHECK_EQ (sq_worker_handled (worker) + sq_worker_handled (second), 1);
    //  The guard kept the second worker's slot: nothing more was lost
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.slots_lost", 1, SQ_WAIT_MS));
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&second);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_curve_zap_refuses_key (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_security", NULL);
    SQ_CHECK (proxy);
    sq_keypair_t server, allowed, stranger;
    sq_keypair_new (&server);
    sq_keypair_new (&allowed);
    sq_keypair_new (&stranger);
    uint8_t allowed_key [32], stranger_key [32];
    SQ_CHECK (zmq_z85_decode (allowed_key, allowed.public_key));
    SQ_CHECK (zmq_z85_decode (stranger_key, stranger.public_key));
    sq_worker_t *worker = sq_curve_worker_new (proxy->backend, ZMQ_DEALER, 1,
                                               &server, allowed_key);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    void *ctx = zmq_ctx_new ();
    void *client = sq_curve_client_new (ctx, proxy->frontend, NULL, &stranger,
                                        server.public_key, 50);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "stranger"), 0);
    SQ_CHECK (sq_zap_wait (sq_worker_zap (worker), 1, SQ_WAIT_MS));
    s_expect_silence (client);
    sq_zap_seen_t seen;
    sq_zap_seen (sq_worker_zap (worker), &seen);
    SQ_CHECK (memcmp (seen.client_key, stranger_key, 32) == 0);
    SQ_CHECK (seen.refused >= 1);
    SQ_CHECK_EQ (seen.accepted, 0);
    zmq_close (client);

    //  The worker's ERROR bans the stranger's IP; the worker redials (libzmq
    //  does after an ERROR) and serves an allowed key from another IP
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.error", 1, SQ_WAIT_MS));
    s_check_banned (proxy, "127.0.0.1");
    client = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.2", &allowed,
                                  server.public_key, 50);
    SQ_CHECK (client);
    s_expect_echo (client, "allowed");
    sq_zap_seen (sq_worker_zap (worker), &seen);
    SQ_CHECK_EQ (seen.accepted, 1);
    SQ_CHECK (memcmp (seen.client_key, allowed_key, 32) == 0);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Samples STATS during the quiet period: the CURVE client stays queued
static void
s_check_stays_unpaired (sq_proxy_t *proxy, void *client)
{
    int64_t deadline = sq_now_ms () + SQ_QUIET_MS;
    while (sq_now_ms () < deadline) {
        long long active = -1, queued = -1, idle = -1;
        SQ_CHECK (sq_stats (proxy->control, "pairs.active", &active));
        SQ_CHECK (sq_stats (proxy->control, "clients.queued", &queued));
        SQ_CHECK (sq_stats (proxy->control, "workers.idle", &idle));
        SQ_CHECK_EQ (active, 0);
        SQ_CHECK_EQ (queued, 1);
        SQ_CHECK_EQ (idle, 1);
        sq_msg_t *reply = sq_msg_recv (client, 200);
        SQ_CHECK_MSG (reply == NULL, "the CURVE client got a reply from a NULL worker");
    }
    long long total = -1;
    SQ_CHECK (sq_stats (proxy->control, "pairs.total", &total));
    SQ_CHECK_EQ (total, 0);
}

static void
test_curve_never_paired_with_null (void)
{
    const char *args [] = { "--queue-timeout", "60000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_security", args);
    SQ_CHECK (proxy);
    sq_worker_t *null_worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (null_worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    sq_keypair_t server, client_keys;
    sq_keypair_new (&server);
    sq_keypair_new (&client_keys);
    void *ctx = zmq_ctx_new ();
    void *client = sq_curve_client_new (ctx, proxy->frontend, NULL, &client_keys,
                                        server.public_key, 50);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "only CURVE please"), 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, SQ_WAIT_MS));
    s_check_stays_unpaired (proxy, client);

    //  A CURVE worker arrives and takes the queued client
    sq_worker_t *curve_worker = sq_curve_worker_new (proxy->backend, ZMQ_DEALER, 1,
                                                     &server, NULL);
    SQ_CHECK (curve_worker);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, "only CURVE please");
    free (echo);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_worker_handled (curve_worker), 1);
    SQ_CHECK_EQ (sq_worker_handled (null_worker), 0);
    s_check_list_mechanism (proxy, "CURVE", 1);

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&curve_worker);
    sq_worker_destroy (&null_worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_plain_accepted);
    SQ_RUN (test_plain_refused);
    SQ_RUN (test_curve_accepted);
    SQ_RUN (test_curve_wrong_server_key);
    SQ_RUN (test_curve_zap_refuses_key);
    SQ_RUN (test_curve_never_paired_with_null);
    return sq_test_summary ();
}
