/*  =========================================================================
    test_handshake_bans - a client that fails a handshake after a worker was
    committed is refused for a while, and each side of that is visible

    The failing client is a real libzmq CURVE client holding the wrong
    server key: its HELLO is well-formed, so the proxy commits a stock
    worker, which cannot open it and hangs up. That bans the client's key
    (its registered name, else its IP) for --handshake-ban ms, doubling
    with each further failure up to --handshake-ban-max; BANS lists the
    bans, UNBAN lifts one, and a completed handshake clears the key's
    history. Raw TCP probes from the banned IP show whether a new
    connection is refused at arrival or screened (it then gets the idle
    worker's greeting tail). Last, --max-queue-per-ip bounds the clients
    one IP may have waiting for a worker.

    The failing clients connect from 127.0.0.2; clients that must be
    served from elsewhere use 127.0.0.3.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>

SQ_TEST_DEFINE

//  What a fixture holds: the proxy, the worker's keys and the worker
typedef struct {
    sq_proxy_t *proxy;
    sq_keypair_t server;
    sq_worker_t *worker;
    void *ctx;                  //  For the clients
} s_fixture_t;

//  ---------------------------------------------------------------------
//  Helpers

//  A proxy started with args (may be NULL) and a worker with `slots`
//  idle connections. On the heap: a failed check leaves it behind.
static s_fixture_t *
s_fixture_new (const char **args, int slots)
{
    s_fixture_t *self = calloc (1, sizeof *self);
    SQ_CHECK (self);
    self->proxy = sq_proxy_start ("test_handshake_bans", args);
    SQ_CHECK (self->proxy);
    sq_keypair_new (&self->server);
    self->worker = sq_curve_worker_new (self->proxy->backend, ZMQ_ROUTER, slots,
                                        &self->server, NULL);
    SQ_CHECK (self->worker);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", slots, SQ_WAIT_MS));
    self->ctx = zmq_ctx_new ();
    return self;
}

static void
s_fixture_destroy (s_fixture_t **self_p)
{
    s_fixture_t *self = *self_p;
    zmq_ctx_term (self->ctx);
    sq_worker_destroy (&self->worker);
    int rc = sq_proxy_stop (&self->proxy);
    free (self);
    *self_p = NULL;
    SQ_CHECK_EQ (rc, 0);
}

//  A CURVE DEALER client from source (an IP, or "ip:port" for a fixed
//  local port), with a fresh key pair, trusting server_key (NULL: the
//  worker's real key), redialling reconnect_ms after a lost connection
static void *
s_client (s_fixture_t *self, const char *source, const char *server_key, int reconnect_ms)
{
    void *client = sq_curve_client_new (self->ctx, self->proxy->frontend, source, NULL,
                                        server_key? server_key: self->server.public_key,
                                        reconnect_ms);
    SQ_CHECK (client);
    return client;
}

//  One wrong-key client from source makes one attempt (it would redial
//  only after a minute): waits until the proxy has counted the worker
//  hanging up on it `failures` times in all, then closes it
static void
s_fail_once (s_fixture_t *self, const char *source, long long failures)
{
    sq_keypair_t impostor;
    sq_keypair_new (&impostor);
    void *client = s_client (self, source, impostor.public_key, 60000);
    bool failed = sq_stats_wait (self->proxy->control, "handshakes.failed_by.worker_closed",
                                 failures, SQ_WAIT_MS);
    zmq_close (client);
    SQ_CHECK_MSG (failed, "the wrong-key client from %s did not fail", source);
}

//  A CURVE client from source (its IP) gets its echo
static void
s_served (s_fixture_t *self, const char *source, const char *text)
{
    void *client = s_client (self, source, NULL, 50);
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    bool same = echo && strcmp (echo, text) == 0;
    free (echo);
    zmq_close (client);
    SQ_CHECK_MSG (same, "no echo of '%s' for a client from %s within %d ms", text,
                  source, SQ_WAIT_MS);
}

//  Finds the BANS entry for key: true and its numbers if there is one
static bool
s_ban_find (s_fixture_t *self, const char *key, long long *failures, long long *remaining)
{
    char *bans = sq_control_str (self->proxy->control, "BANS");
    SQ_CHECK_MSG (bans && sq_json_valid (bans), "BANS replied '%s'", bans? bans: "(nothing)");
    int count = sq_json_count (bans, "");
    SQ_CHECK_MSG (count >= 0, "BANS is not an array: %s", bans);
    bool found = false;
    for (int index = 0; index < count && !found; index++) {
        char path [64], value [128];
        snprintf (path, sizeof path, "%d.key", index);
        SQ_CHECK (sq_json_string (bans, path, value, sizeof value));
        if (strcmp (value, key))
            continue;
        found = true;
        snprintf (path, sizeof path, "%d.failures", index);
        SQ_CHECK (sq_json_number (bans, path, failures));
        snprintf (path, sizeof path, "%d.remaining_ms", index);
        SQ_CHECK (sq_json_number (bans, path, remaining));
    }
    free (bans);
    return found;
}

//  Polls BANS until key has exactly `failures` failures; returns the
//  remaining_ms read then
static long long
s_ban_wait (s_fixture_t *self, const char *key, long long failures)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long seen = -1, remaining = -1;
    while (true) {
        if (s_ban_find (self, key, &seen, &remaining) && seen == failures)
            return remaining;
        SQ_CHECK_MSG (sq_now_ms () < deadline, "BANS: %s has %lld failures, not %lld",
                      key, seen, failures);
        sq_sleep_ms (20);
    }
}

//  Number of entries in BANS
static int
s_bans_count (s_fixture_t *self)
{
    char *bans = sq_control_str (self->proxy->control, "BANS");
    SQ_CHECK (bans && sq_json_valid (bans));
    int count = sq_json_count (bans, "");
    free (bans);
    SQ_CHECK (count >= 0);
    return count;
}

//  Polls BANS until it has `count` entries
static void
s_bans_count_wait (s_fixture_t *self, int count)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    int seen;
    while ((seen = s_bans_count (self)) != count) {
        SQ_CHECK_MSG (sq_now_ms () < deadline, "BANS has %d entries, not %d", seen, count);
        sq_sleep_ms (25);
    }
}

//  Sends one control command and returns every reply frame
static char **
s_command (s_fixture_t *self, const char *command, const char *argument)
{
    const char *frames [] = { command, argument, NULL };
    char **reply = sq_control (self->proxy->control, frames, SQ_WAIT_MS);
    SQ_CHECK_MSG (reply, "no reply to %s", command);
    return reply;
}

typedef enum {
    S_REFUSED,              //  Closed before it was screened
    S_SCREENED              //  Given the idle worker's greeting tail
} s_probe_t;

//  A raw TCP connection from ip greets as CURVE: tells whether it was
//  refused or screened (there must be an idle CURVE worker connection)
static s_probe_t
s_probe (s_fixture_t *self, const char *ip)
{
    int fd = sq_tcp_connect_from (self->proxy->frontend, ip);
    SQ_CHECK (fd >= 0);
    uint8_t prefix [11], tail [53];
    s_probe_t result = S_REFUSED;
    if (sq_tcp_recv (fd, prefix, 11, SQ_WAIT_MS) == 11) {
        uint8_t greeting [64];
        sq_zmtp_greeting (greeting, "CURVE");
        if (sq_tcp_send (fd, greeting, 64) == 0
        &&  sq_tcp_recv (fd, tail, 53, SQ_WAIT_MS) == 53)
            result = S_SCREENED;
    }
    if (result == S_REFUSED)
        SQ_CHECK_MSG (sq_tcp_wait_closed (fd, SQ_WAIT_MS), "a probe from %s hangs", ip);
    close (fd);
    return result;
}

//  Probes from ip until a probe is screened: the ban has run out
static void
s_ban_expired_wait (s_fixture_t *self, const char *ip)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (s_probe (self, ip) == S_REFUSED) {
        SQ_CHECK_MSG (sq_now_ms () < deadline, "%s still refused after %d ms", ip, SQ_WAIT_MS);
        sq_sleep_ms (50);
    }
}

//  ---------------------------------------------------------------------
//  Tests

static void
test_banned_after_first_failure (void)
{
    s_fixture_t *self = s_fixture_new (NULL, 4);
    sq_keypair_t impostor;
    sq_keypair_new (&impostor);

    //  A client that redials every 50 ms: its first connection fails at
    //  the worker, the ones after it are refused at arrival
    void *client = s_client (self, "127.0.0.2", impostor.public_key, 50);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "handshakes.failed_by.worker_closed", 1,
                             SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait_min (self->proxy->control, "frontend.refused.handshake", 2,
                                 SQ_WAIT_MS));
    zmq_close (client);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "frontend.connections", 0, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (self->proxy, "handshakes.failed_by.worker_closed"), 1);
    SQ_CHECK_EQ (sq_stat (self->proxy, "bans.active"), 1);
    SQ_CHECK (sq_file_wait (self->proxy->log_path,
                            "client 127.0.0.2 failed the CURVE handshake at worker 127.0.0.1 "
                            "(worker closed after HELLO: wrong server key?); refused for 30 s",
                            1, SQ_WAIT_MS));

    long long failures = -1, remaining = -1;
    SQ_CHECK (s_ban_find (self, "127.0.0.2", &failures, &remaining));
    SQ_CHECK_EQ (failures, 1);
    SQ_CHECK_MSG (remaining > 0 && remaining <= 30000, "remaining_ms %lld", remaining);
    SQ_CHECK_EQ (s_bans_count (self), 1);

    //  A raw connection from that IP is refused, and counted once
    long long refused = sq_stat (self->proxy, "frontend.refused.handshake");
    SQ_CHECK_EQ (s_probe (self, "127.0.0.2"), S_REFUSED);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "frontend.refused.handshake", refused + 1,
                             SQ_WAIT_MS));
    //  Other IPs are not
    s_served (self, "127.0.0.3", "from another host");
    SQ_CHECK_EQ (sq_stat (self->proxy, "handshakes.completed"), 1);
    SQ_CHECK_EQ (sq_stat (self->proxy, "handshakes.failed_by.worker_closed"), 1);
    s_fixture_destroy (&self);
}

static void
test_ban_doubles (void)
{
    const char *args [] = { "--handshake-ban", "1000", "--handshake-ban-max", "8000", NULL };
    s_fixture_t *self = s_fixture_new (args, 4);
    s_fail_once (self, "127.0.0.2", 1);
    long long remaining = s_ban_wait (self, "127.0.0.2", 1);
    SQ_CHECK_MSG (remaining > 0 && remaining <= 1000, "remaining_ms %lld", remaining);

    //  Once it has run out, the next failure bans for twice as long
    s_ban_expired_wait (self, "127.0.0.2");
    s_fail_once (self, "127.0.0.2", 2);
    remaining = s_ban_wait (self, "127.0.0.2", 2);
    SQ_CHECK_MSG (remaining > 1000 && remaining <= 2000, "remaining_ms %lld", remaining);
    SQ_CHECK_EQ (s_probe (self, "127.0.0.2"), S_REFUSED);
    s_fixture_destroy (&self);
}

static void
test_unban (void)
{
    s_fixture_t *self = s_fixture_new (NULL, 4);
    s_fail_once (self, "127.0.0.2", 1);
    s_ban_wait (self, "127.0.0.2", 1);
    SQ_CHECK_EQ (s_probe (self, "127.0.0.2"), S_REFUSED);

    char **reply = s_command (self, "UNBAN", "127.0.0.2");
    SQ_CHECK_EQ (sq_strv_size (reply), 1);
    SQ_CHECK_STR (reply [0], "OK");
    sq_strv_destroy (&reply);
    SQ_CHECK_EQ (s_bans_count (self), 0);
    SQ_CHECK_EQ (sq_stat (self->proxy, "bans.active"), 0);
    SQ_CHECK_EQ (s_probe (self, "127.0.0.2"), S_SCREENED);
    s_served (self, "127.0.0.2", "unbanned");

    //  No such ban: an ERROR with a reason
    const char *unknown [] = { "127.0.0.2", "192.0.2.1", "nobody" };
    for (size_t index = 0; index < sizeof unknown / sizeof unknown [0]; index++) {
        reply = s_command (self, "UNBAN", unknown [index]);
        SQ_CHECK_EQ (sq_strv_size (reply), 2);
        SQ_CHECK_STR (reply [0], "ERROR");
        SQ_CHECK_MSG (strlen (reply [1]) > 0, "an ERROR without a reason");
        sq_strv_destroy (&reply);
    }
    s_fixture_destroy (&self);
}

static void
test_success_clears_ban (void)
{
    const char *args [] = { "--handshake-ban", "1000", "--handshake-ban-max", "8000", NULL };
    s_fixture_t *self = s_fixture_new (args, 4);
    s_fail_once (self, "127.0.0.2", 1);
    s_ban_wait (self, "127.0.0.2", 1);
    s_ban_expired_wait (self, "127.0.0.2");

    //  A completed handshake under the key clears it
    s_served (self, "127.0.0.2", "good this time");
    SQ_CHECK (sq_stats_wait (self->proxy->control, "handshakes.completed", 1, SQ_WAIT_MS));
    s_bans_count_wait (self, 0);
    SQ_CHECK_EQ (sq_stat (self->proxy, "bans.active"), 0);

    //  ... so the next failure counts as a first one again, not a second
    s_fail_once (self, "127.0.0.2", 2);
    long long remaining = s_ban_wait (self, "127.0.0.2", 1);
    SQ_CHECK_MSG (remaining > 0 && remaining <= 1000, "remaining_ms %lld", remaining);
    s_fixture_destroy (&self);
}

static void
test_ban_off (void)
{
    const char *args [] = { "--handshake-ban", "0", NULL };
    s_fixture_t *self = s_fixture_new (args, 4);
    sq_keypair_t impostor;
    sq_keypair_new (&impostor);
    //  Redialling every 50 ms, it reaches the worker again and again
    void *client = s_client (self, "127.0.0.2", impostor.public_key, 50);
    bool failed = sq_stats_wait_min (self->proxy->control,
                                     "handshakes.failed_by.worker_closed", 2, SQ_WAIT_MS);
    zmq_close (client);
    SQ_CHECK (failed);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "frontend.connections", 0, SQ_WAIT_MS));
    SQ_CHECK_EQ (s_bans_count (self), 0);
    SQ_CHECK_EQ (sq_stat (self->proxy, "bans.active"), 0);
    SQ_CHECK_EQ (sq_stat (self->proxy, "frontend.refused.handshake"), 0);

    //  A fresh worker (the first may have no slot left) serves that IP
    sq_worker_t *second = sq_curve_worker_new (self->proxy->backend, ZMQ_ROUTER, 1,
                                               &self->server, NULL);
    SQ_CHECK (second);
    SQ_CHECK (sq_stats_wait_min (self->proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    s_served (self, "127.0.0.2", "never banned");
    sq_worker_destroy (&second);
    s_fixture_destroy (&self);
}

//  The key of a client with a registered name is that name
static void
test_ban_by_name (void)
{
    s_fixture_t *self = s_fixture_new (NULL, 4);
    int port = sq_free_port ("127.0.0.2");
    SQ_CHECK (port > 0);
    char address [64], source [64];
    snprintf (address, sizeof address, "127.0.0.2:%d", port);
    snprintf (source, sizeof source, "127.0.0.2:%d", port);
    const char *identify [] = { "IDENTIFY", "frontend", address, "mallory", NULL };
    char **reply = sq_control (self->proxy->control, identify, SQ_WAIT_MS);
    SQ_CHECK (reply && reply [0]);
    SQ_CHECK_STR (reply [0], "OK");
    sq_strv_destroy (&reply);

    s_fail_once (self, source, 1);
    s_ban_wait (self, "mallory", 1);
    long long failures, remaining;
    SQ_CHECK (!s_ban_find (self, "127.0.0.2", &failures, &remaining));
    //  Another connection from that IP has another name: not refused
    SQ_CHECK_EQ (s_probe (self, "127.0.0.2"), S_SCREENED);
    reply = s_command (self, "UNBAN", "mallory");
    SQ_CHECK_STR (reply [0], "OK");
    sq_strv_destroy (&reply);
    SQ_CHECK_EQ (s_bans_count (self), 0);
    s_fixture_destroy (&self);
}

//  ---------------------------------------------------------------------
//  --max-queue-per-ip

//  A raw NULL client from ip that has greeted and waits
static int
s_queued_client (sq_proxy_t *proxy, const char *ip)
{
    int fd = sq_tcp_connect_from (proxy->frontend, ip);
    SQ_CHECK (fd >= 0);
    SQ_CHECK (sq_zmtp_expect_prefix (fd, SQ_WAIT_MS));
    uint8_t greeting [64];
    sq_zmtp_greeting (greeting, "NULL");
    SQ_CHECK_EQ (sq_tcp_send (fd, greeting, 64), 0);
    return fd;
}

//  True if nothing at all is readable on fd now (no byte, no EOF)
static bool
s_nothing_readable (int fd)
{
    uint8_t byte;
    ssize_t rc = recv (fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    return rc == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
test_max_queue_per_ip (void)
{
    //  No worker at all; a queue timeout far beyond the test
    const char *args [] = { "--max-queue-per-ip", "2", "--queue-timeout", "120000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake_bans", args);
    SQ_CHECK (proxy);
    int first = s_queued_client (proxy, "127.0.0.2");
    int second = s_queued_client (proxy, "127.0.0.2");
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 2, SQ_WAIT_MS));

    //  A third from that IP is closed, at arrival or once greeted
    int third = sq_tcp_connect_from (proxy->frontend, "127.0.0.2");
    SQ_CHECK (third >= 0);
    uint8_t prefix [11];
    if (sq_tcp_recv (third, prefix, 11, SQ_WAIT_MS) == 11) {
        uint8_t greeting [64];
        sq_zmtp_greeting (greeting, "NULL");
        sq_tcp_send (third, greeting, 64);      //  May find it closed already
    }
    SQ_CHECK (sq_tcp_wait_closed (third, SQ_WAIT_MS));
    close (third);
    SQ_CHECK (sq_stats_wait (proxy->control, "frontend.refused.queue_per_ip", 1, SQ_WAIT_MS));

    //  Another IP still queues, and the first two still wait
    int other = s_queued_client (proxy, "127.0.0.3");
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 3, SQ_WAIT_MS));
    SQ_CHECK (s_nothing_readable (first));
    SQ_CHECK (s_nothing_readable (second));

    //  A worker arrives: the three queued clients are given its tail
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_ROUTER, 3);
    SQ_CHECK (worker);
    SQ_CHECK (sq_zmtp_expect_tail (first, "NULL", SQ_WAIT_MS));
    SQ_CHECK (sq_zmtp_expect_tail (second, "NULL", SQ_WAIT_MS));
    SQ_CHECK (sq_zmtp_expect_tail (other, "NULL", SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.refused.queue_per_ip"), 1);
    close (first);
    close (second);
    close (other);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_banned_after_first_failure);
    SQ_RUN (test_ban_doubles);
    SQ_RUN (test_unban);
    SQ_RUN (test_success_clears_ban);
    SQ_RUN (test_ban_off);
    SQ_RUN (test_ban_by_name);
    SQ_RUN (test_max_queue_per_ip);
    return sq_test_summary ();
}
