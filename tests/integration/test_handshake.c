/*  =========================================================================
    test_handshake - guarded handshakes: a bad client costs no worker

    A greeted client first gets the greeting tail of an idle worker
    connection of its mechanism, and no worker sees a byte of it until its
    first command has the right structure. These tests drive stock libzmq
    workers (which never redial a connection lost to a handshake protocol
    error) and raw TCP peers against the real proxy:

    - one client with the wrong CURVE server key, redialling every 100 ms
      for 20 s, costs an 8-slot ROUTER worker at most two slots, while a
      correct client opening a connection per request is served;
    - garbage after a valid greeting (random bytes, bad flags, a huge size,
      the wrong command, metadata that does not parse), and silence, cost a
      4-slot NULL worker nothing, and a real client is served throughout;
    - screening and the rest of the handshake are bounded by
      --handshake-timeout;
    - a worker's ERROR (its ZAP handler refused the client) is logged with
      its reason and counted, under PLAIN and under CURVE;
    - raw peers complete a NULL handshake however they chunk it, and LIST
      and STATS follow a connection from screening to handshake to paired;
    - a worker connection lost during a handshake is logged, and so is the
      loss of a worker's last one.

    The clients that fail on purpose connect from 127.0.0.2: a failure
    after a worker was committed bans the client's IP, and the clients
    that must be served come from 127.0.0.1 or 127.0.0.3.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>

SQ_TEST_DEFINE

//  ---------------------------------------------------------------------
//  Shared helpers

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

//  A fresh NULL DEALER client from 127.0.0.1 gets the echo of text
static void
s_null_served (sq_proxy_t *proxy, const char *text)
{
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    bool same = echo && strcmp (echo, text) == 0;
    free (echo);
    zmq_close (client);
    zmq_ctx_term (ctx);
    SQ_CHECK_MSG (same, "no echo of '%s' within %d ms", text, SQ_WAIT_MS);
}

//  Number of LIST entries of side whose state is state (NULL: any), and
//  of those how many received more than bytes_out bytes from the proxy
//  (bytes_out -1: not counted)
static int
s_list_count (sq_proxy_t *proxy, const char *side, const char *state,
              long long bytes_out, int *more_out)
{
    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK (list && sq_json_valid (list));
    int count = sq_json_count (list, ""), matching = 0, more = 0;
    for (int index = 0; index < count; index++) {
        char path [64], value [64];
        snprintf (path, sizeof path, "%d.side", index);
        SQ_CHECK (sq_json_string (list, path, value, sizeof value));
        if (strcmp (value, side))
            continue;
        snprintf (path, sizeof path, "%d.state", index);
        SQ_CHECK (sq_json_string (list, path, value, sizeof value));
        if (state && strcmp (value, state))
            continue;
        matching++;
        long long sent = 0;
        snprintf (path, sizeof path, "%d.bytes_out", index);
        SQ_CHECK (sq_json_number (list, path, &sent));
        if (bytes_out >= 0 && sent > bytes_out)
            more++;
    }
    free (list);
    if (more_out)
        *more_out = more;
    return matching;
}

//  Copies the LIST state of the connection whose peer address is
//  "<ip>:<port>" into state; false if there is no such connection
static bool
s_list_state (sq_proxy_t *proxy, const char *ip, int port, char *state, size_t size)
{
    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK (list && sq_json_valid (list));
    char wanted [64];
    snprintf (wanted, sizeof wanted, "%s:%d", ip, port);
    int count = sq_json_count (list, "");
    bool found = false;
    for (int index = 0; index < count && !found; index++) {
        char path [64], address [64];
        snprintf (path, sizeof path, "%d.address", index);
        if (!sq_json_string (list, path, address, sizeof address) || strcmp (address, wanted))
            continue;
        snprintf (path, sizeof path, "%d.state", index);
        found = sq_json_string (list, path, state, size);
    }
    free (list);
    return found;
}

//  Polls LIST until the connection from ip with the local port of fd is
//  in state; prints the last state seen otherwise
static bool
s_state_wait (sq_proxy_t *proxy, const char *ip, int fd, const char *state)
{
    int port = sq_fd_local_port (fd);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char seen [64] = "(not listed)";
    while (true) {
        if (!s_list_state (proxy, ip, port, seen, sizeof seen))
            snprintf (seen, sizeof seen, "(not listed)");
        if (strcmp (seen, state) == 0)
            return true;
        if (sq_now_ms () >= deadline)
            break;
        sq_sleep_ms (25);
    }
    fprintf (stderr, "LIST: %s:%d is '%s', not '%s'\n", ip, port, seen, state);
    return false;
}

//  The "connections" of the worker named name in WORKERS, or -1
static long long
s_worker_connections (sq_proxy_t *proxy, const char *name)
{
    char *workers = sq_control_str (proxy->control, "WORKERS");
    SQ_CHECK (workers && sq_json_valid (workers));
    int count = sq_json_count (workers, "");
    long long connections = -1;
    for (int index = 0; index < count; index++) {
        char path [64], value [96];
        snprintf (path, sizeof path, "%d.name", index);
        if (!sq_json_string (workers, path, value, sizeof value) || strcmp (value, name))
            continue;
        snprintf (path, sizeof path, "%d.connections", index);
        SQ_CHECK (sq_json_number (workers, path, &connections));
    }
    free (workers);
    return connections;
}

//  A raw peer from source_ip on endpoint that has read the proxy's prefix
//  and sent a whole greeting naming mechanism
static int
s_raw_greeted (const char *endpoint, const char *source_ip, const char *mechanism)
{
    int fd = sq_tcp_connect_from (endpoint, source_ip);
    SQ_CHECK (fd >= 0);
    SQ_CHECK (sq_zmtp_expect_prefix (fd, SQ_WAIT_MS));
    uint8_t greeting [64];
    sq_zmtp_greeting (greeting, mechanism);
    SQ_CHECK_EQ (sq_tcp_send (fd, greeting, 64), 0);
    return fd;
}

//  Sends bytes in one write, or one write per byte
static void
s_send (int fd, const uint8_t *bytes, size_t size, bool byte_by_byte)
{
    if (!byte_by_byte) {
        SQ_CHECK_EQ (sq_tcp_send (fd, bytes, size), 0);
        return;
    }
    for (size_t index = 0; index < size; index++) {
        SQ_CHECK_EQ (sq_tcp_send (fd, bytes + index, 1), 0);
        sq_sleep_ms (1);            //  Let each byte travel on its own
    }
}

//  Sends READY with Socket-Type DEALER
static void
s_send_ready (int fd, bool byte_by_byte)
{
    uint8_t frame [64];
    size_t size = sq_zmtp_ready (frame, sizeof frame, "DEALER");
    SQ_CHECK (size > 0);
    s_send (fd, frame, size, byte_by_byte);
}

//  Reads the partner's next frame and checks it is READY
static void
s_expect_ready (int fd)
{
    sq_zmtp_frame_t *frame = malloc (sizeof *frame);
    bool read = sq_zmtp_read_frame (fd, frame, SQ_WAIT_MS);
    bool ready = read && sq_zmtp_is_command (frame, "READY");
    uint8_t flags = frame->flags;
    free (frame);
    SQ_CHECK_MSG (read, "no whole frame within %d ms", SQ_WAIT_MS);
    SQ_CHECK_MSG (ready, "expected READY, got a frame with flags %02x", flags);
}

//  Sends a one-frame message
static void
s_send_message (int fd, const char *text, bool byte_by_byte)
{
    uint8_t frame [300];
    size_t size = sq_zmtp_message (frame, sizeof frame, text);
    SQ_CHECK (size > 0);
    s_send (fd, frame, size, byte_by_byte);
}

//  Reads a one-frame message and checks its text
static void
s_expect_message (int fd, const char *text)
{
    sq_zmtp_frame_t *frame = malloc (sizeof *frame);
    bool read = sq_zmtp_read_frame (fd, frame, SQ_WAIT_MS);
    bool same = read && (frame->flags & 0x05) == 0 && frame->size == strlen (text)
             && memcmp (frame->body, text, frame->size) == 0;
    free (frame);
    SQ_CHECK_MSG (same, "did not get the message '%s'", text);
}

//  True if nothing at all is readable on fd now (no byte, no EOF)
static bool
s_nothing_readable (int fd)
{
    uint8_t byte;
    ssize_t rc = recv (fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    return rc == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

//  ---------------------------------------------------------------------
//  A wrong CURVE server key, again and again, while good clients come

#define S_FLOOD_MS      20000   //  How long the wrong-key client redials
#define S_FLOOD_SLOTS   8
#define S_FLOOD_KEPT    6       //  Slots the worker must keep at least

static void
test_wrong_key_flood (void)
{
    //  The ban takes its defaults (30 s, longer than the flood)
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", NULL);
    SQ_CHECK (proxy);
    sq_keypair_t server, impostor, good, bad;
    sq_keypair_new (&server);
    sq_keypair_new (&impostor);
    sq_keypair_new (&good);
    sq_keypair_new (&bad);
    sq_worker_t *worker = sq_curve_worker_new (proxy->backend, ZMQ_ROUTER, S_FLOOD_SLOTS,
                                               &server, NULL);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", S_FLOOD_SLOTS, SQ_WAIT_MS));

    void *ctx = zmq_ctx_new ();
    void *attacker = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.2", &bad,
                                          impostor.public_key, 100);
    SQ_CHECK (attacker);
    int asked = 0, served = 0;
    int64_t end = sq_now_ms () + S_FLOOD_MS;
    while (sq_now_ms () < end) {
        //  One new connection per request
        void *client = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.1", &good,
                                            server.public_key, 50);
        SQ_CHECK (client);
        char text [32];
        snprintf (text, sizeof text, "request %d", asked++);
        if (sq_send_str (client, text) == 0) {
            char *echo = sq_recv_str (client, SQ_WAIT_MS);
            served += echo && strcmp (echo, text) == 0;
            free (echo);
        }
        zmq_close (client);
        sq_sleep_ms (20);
    }
    zmq_close (attacker);
    printf ("# %d of %d requests served during the flood\n", served, asked);
    SQ_CHECK_MSG (asked >= 10, "only %d requests in %d ms", asked, S_FLOOD_MS);
    SQ_CHECK_MSG (served * 100 >= asked * 95, "%d of %d requests served", served, asked);

    //  Slots lost to a handshake never come back to a stock worker: the
    //  count that returns once the last client's slot has redialled is
    //  what the flood left it
    SQ_CHECK (sq_stats_wait_min (proxy->control, "workers.idle", S_FLOOD_KEPT, SQ_WAIT_MS));
    SQ_CHECK (s_worker_connections (proxy, "127.0.0.1") >= S_FLOOD_KEPT);
    SQ_CHECK (sq_stat (proxy, "workers.slots_lost") <= S_FLOOD_SLOTS - S_FLOOD_KEPT);
    //  The wrong-key client was refused at arrival after its failure
    SQ_CHECK (sq_stat (proxy, "handshakes.failed_by.worker_closed") >= 1);
    SQ_CHECK (sq_stat (proxy, "frontend.refused.handshake") >= 1);

    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  Garbage or silence after a valid greeting

#define S_GARBAGE_PEERS  20
#define S_SILENT_PEERS   6
#define S_GARBAGE_SLOTS  4
#define S_GARBAGE_KINDS  5

//  Writes what garbage peer `index` sends after its greeting into buf
//  (at least 600 bytes); returns its size. None of it is a valid first
//  NULL command, and each kind is whole, so a proxy that waits for a
//  whole frame before judging it still has all it needs.
static size_t
s_garbage (int index, uint8_t *buf)
{
    int kind = index % S_GARBAGE_KINDS;
    if (kind == 0) {
        //  Random bytes, more than any short frame; the reserved flag bits
        //  are set so they can never start a valid frame
        uint32_t state = 2654435761u * (uint32_t) (index + 1);
        for (size_t at = 0; at < 600; at++) {
            state = state * 1103515245 + 12345;
            buf [at] = (uint8_t) (state >> 16);
        }
        buf [0] |= 0xE0;
        return 600;
    }
    if (kind == 1) {
        //  A malformed frame: every flag bit set
        memset (buf, 0, 64);
        buf [0] = 0xFF;
        buf [1] = 0x10;
        return 64;
    }
    if (kind == 2) {
        //  A long command frame whose size is 2^62
        const uint8_t header [9] = { 0x06, 0x40, 0, 0, 0, 0, 0, 0, 0 };
        memcpy (buf, header, 9);
        memset (buf + 9, 'x', 55);
        return 64;
    }
    if (kind == 3) {
        //  A well-framed command, but HELLO is not a NULL command
        const uint8_t credentials [] = { 5, 'a', 'd', 'm', 'i', 'n', 1, 'x' };
        return sq_zmtp_command (buf, 600, "HELLO", credentials, sizeof credentials);
    }
    //  READY whose metadata does not parse: a property name that runs
    //  past the end of the command
    const uint8_t property [] = { 11, 'S', 'o', 'c', 'k' };
    return sq_zmtp_command (buf, 600, "READY", property, sizeof property);
}

static void
test_garbage_after_greeting (void)
{
    //  A long bound, so the silent peers stay screening while we look
    const char *args [] = { "--handshake-timeout", "60000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", args);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_ROUTER, S_GARBAGE_SLOTS);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", S_GARBAGE_SLOTS, SQ_WAIT_MS));
    s_null_served (proxy, "before");

    //  Every peer greets and is given a worker's tail before it says more
    int fds [S_GARBAGE_PEERS + S_SILENT_PEERS];
    int peers = S_GARBAGE_PEERS + S_SILENT_PEERS;
    for (int index = 0; index < peers; index++) {
        fds [index] = s_raw_greeted (proxy->frontend, "127.0.0.2", "NULL");
        SQ_CHECK_MSG (sq_zmtp_expect_tail (fds [index], "NULL", SQ_WAIT_MS),
                      "peer %d got no worker greeting tail", index);
    }
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.screening", peers, SQ_WAIT_MS));
    SQ_CHECK_EQ (s_list_count (proxy, "frontend", "screening", -1, NULL), peers);
    s_null_served (proxy, "while they screen");

    uint8_t garbage [600];
    for (int index = 0; index < S_GARBAGE_PEERS; index++) {
        size_t size = s_garbage (index, garbage);
        SQ_CHECK (size > 0);
        SQ_CHECK_EQ (sq_tcp_send (fds [index], garbage, size), 0);
    }
    for (int index = 0; index < S_GARBAGE_PEERS; index++) {
        SQ_CHECK_MSG (sq_tcp_wait_closed (fds [index], SQ_WAIT_MS),
                      "garbage peer %d (kind %d) still open after %d ms", index,
                      index % S_GARBAGE_KINDS, SQ_WAIT_MS);
        close (fds [index]);
    }
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.malformed",
                             S_GARBAGE_PEERS, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.screening", S_SILENT_PEERS,
                             SQ_WAIT_MS));
    s_null_served (proxy, "after the garbage");

    //  The silent peers are still there, and the worker has all its slots,
    //  none of which was sent more than the proxy's own 11 bytes
    for (int index = S_GARBAGE_PEERS; index < peers; index++)
        SQ_CHECK_MSG (s_nothing_readable (fds [index]), "silent peer %d was closed", index);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", S_GARBAGE_SLOTS, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "backend.connections", S_GARBAGE_SLOTS, SQ_WAIT_MS));
    int touched = -1;
    SQ_CHECK_EQ (s_list_count (proxy, "backend", "idle", 11, &touched), S_GARBAGE_SLOTS);
    SQ_CHECK_EQ (touched, 0);
    SQ_CHECK_EQ (sq_worker_handled (worker), 3);
    SQ_CHECK_EQ (sq_stat (proxy, "pairs.total"), 3);
    SQ_CHECK_EQ (sq_stat (proxy, "workers.slots_lost"), 0);

    for (int index = S_GARBAGE_PEERS; index < peers; index++)
        close (fds [index]);
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.screening", 0, SQ_WAIT_MS));
    s_null_served (proxy, "after the silent ones left");
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", S_GARBAGE_SLOTS, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_worker_handled (worker), 4);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  --handshake-timeout bounds screening, then the rest of the handshake

static void
test_handshake_timeout (void)
{
    //  Long enough that the client below, once given its tail, sends its
    //  READY before the bound runs out on the slowest machine
    const char *args [] = { "--handshake-timeout", "3000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", args);
    SQ_CHECK (proxy);

    //  A raw worker: it greets, then answers nothing
    int worker = s_raw_greeted (proxy->backend, "127.0.0.1", "NULL");
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    //  A client that greets and says nothing more is closed; the worker
    //  saw none of it
    int silent = s_raw_greeted (proxy->frontend, "127.0.0.2", "NULL");
    SQ_CHECK (sq_zmtp_expect_tail (silent, "NULL", SQ_WAIT_MS));
    SQ_CHECK (sq_tcp_wait_closed (silent, SQ_WAIT_MS));
    close (silent);
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.timeout", 1, SQ_WAIT_MS));
    SQ_CHECK (s_nothing_readable (worker));
    SQ_CHECK_EQ (sq_stat (proxy, "workers.idle"), 1);

    //  A client whose READY commits the worker, which never answers:
    //  both are closed when the bound runs out again
    int client = s_raw_greeted (proxy->frontend, "127.0.0.3", "NULL");
    SQ_CHECK (sq_zmtp_expect_tail (client, "NULL", SQ_WAIT_MS));
    s_send_ready (client, false);
    SQ_CHECK (sq_zmtp_expect_tail (worker, "NULL", SQ_WAIT_MS));
    s_expect_ready (worker);
    SQ_CHECK (sq_tcp_wait_closed (client, SQ_WAIT_MS));
    SQ_CHECK (sq_tcp_wait_closed (worker, SQ_WAIT_MS));
    close (client);
    close (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.timeout", 2, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.completed"), 0);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  A worker's ERROR is logged with its reason

//  The reason libzmq 4.3 puts in the ERROR it sends when its ZAP handler
//  refuses a client: the ZAP status code. (Its PLAIN server writes that
//  ERROR as 04 09 5E "RROR" 03 "400": the name's length byte and the E
//  became one byte 0x5E, from a "\x05E..." escape in its source; libzmq
//  clients read it back the same way. NULL and CURVE send 05 "ERROR".)
#define S_ZAP_REASON "400"

static void
test_plain_wrong_password (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", NULL);
    SQ_CHECK (proxy);
    sq_security_t server = { .mechanism = SQ_PLAIN, .as_server = true };
    sq_zap_rule_t rule = { .username = "admin", .password = "secret" };
    sq_worker_config_t config = {
        .type = ZMQ_DEALER, .connections = 1, .security = &server, .zap = &rule
    };
    sq_worker_t *worker = sq_worker_new (proxy->backend, &config);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    void *ctx = zmq_ctx_new ();
    sq_security_t wrong = { .mechanism = SQ_PLAIN, .username = "admin", .password = "wrong" };
    void *client = sq_peer_new (ctx, ZMQ_DEALER, &wrong, NULL);
    SQ_CHECK (client);
    char endpoint [300];
    SQ_CHECK (sq_endpoint_from (proxy->frontend, "127.0.0.2", 0, endpoint, sizeof endpoint));
    SQ_CHECK_EQ (zmq_connect (client, endpoint), 0);
    SQ_CHECK_EQ (sq_send_str (client, "let me in"), 0);
    SQ_CHECK (sq_zap_wait (sq_worker_zap (worker), 1, SQ_WAIT_MS));

    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.error", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_file_wait (proxy->log_path,
                            "client 127.0.0.2 failed the PLAIN handshake at worker 127.0.0.1",
                            1, SQ_WAIT_MS));
    SQ_CHECK (sq_file_wait (proxy->log_path,
                            "(worker sent ERROR \"" S_ZAP_REASON "\" after HELLO)", 1, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.completed"), 0);
    zmq_close (client);

    //  A ZAP refusal costs a stock worker nothing: libzmq redials it, and
    //  it serves a client with the right password
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    sq_security_t right = { .mechanism = SQ_PLAIN, .username = "admin", .password = "secret" };
    client = sq_peer_new (ctx, ZMQ_DEALER, &right, NULL);
    SQ_CHECK (client);
    SQ_CHECK (sq_endpoint_from (proxy->frontend, "127.0.0.3", 0, endpoint, sizeof endpoint));
    SQ_CHECK_EQ (zmq_connect (client, endpoint), 0);
    s_expect_echo (client, "right password");
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.completed", 1, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.failed_by.error"), 1);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_curve_zap_refusal (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", NULL);
    SQ_CHECK (proxy);
    sq_keypair_t server, allowed, stranger;
    sq_keypair_new (&server);
    sq_keypair_new (&allowed);
    sq_keypair_new (&stranger);
    uint8_t allowed_key [32];
    SQ_CHECK (zmq_z85_decode (allowed_key, allowed.public_key));
    sq_worker_t *worker = sq_curve_worker_new (proxy->backend, ZMQ_DEALER, 1,
                                               &server, allowed_key);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    void *ctx = zmq_ctx_new ();
    void *client = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.2", &stranger,
                                        server.public_key, 60000);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "stranger"), 0);
    SQ_CHECK (sq_zap_wait (sq_worker_zap (worker), 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.error", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_file_wait (proxy->log_path,
                            "client 127.0.0.2 failed the CURVE handshake at worker 127.0.0.1",
                            1, SQ_WAIT_MS));
    SQ_CHECK (sq_file_wait (proxy->log_path, "(worker sent ERROR \"" S_ZAP_REASON "\"",
                            1, SQ_WAIT_MS));
    zmq_close (client);

    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    client = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.3", &allowed,
                                  server.public_key, 50);
    SQ_CHECK (client);
    s_expect_echo (client, "allowed");
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.failed_by.error"), 1);
    SQ_CHECK_EQ (sq_stat (proxy, "workers.slots_lost"), 0);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  Raw peers complete a NULL handshake however they chunk it

typedef enum {
    S_PIPELINED,            //  Greeting and READY in one write, at once
    S_WHOLE,                //  Greeting in one write; READY after the tail
    S_BYTE_BY_BYTE          //  Every byte in a write of its own
} s_chunking_t;

//  A raw client from 127.0.0.1 completes a NULL handshake with the echo
//  worker and gets a message back
static void
s_raw_handshake (sq_proxy_t *proxy, s_chunking_t chunking, const char *text)
{
    int fd = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (fd >= 0);
    SQ_CHECK (sq_zmtp_expect_prefix (fd, SQ_WAIT_MS));
    uint8_t greeting [64];
    sq_zmtp_greeting (greeting, "NULL");
    if (chunking == S_PIPELINED) {
        uint8_t both [128];
        memcpy (both, greeting, 64);
        size_t size = sq_zmtp_ready (both + 64, sizeof both - 64, "DEALER");
        SQ_CHECK (size > 0);
        SQ_CHECK_EQ (sq_tcp_send (fd, both, 64 + size), 0);
        SQ_CHECK (sq_zmtp_expect_tail (fd, "NULL", SQ_WAIT_MS));
    }
    else {
        s_send (fd, greeting, 64, chunking == S_BYTE_BY_BYTE);
        SQ_CHECK (sq_zmtp_expect_tail (fd, "NULL", SQ_WAIT_MS));
        s_send_ready (fd, chunking == S_BYTE_BY_BYTE);
    }
    s_expect_ready (fd);
    //  Only now: libzmq refuses data before it has sent its own READY
    s_send_message (fd, text, chunking == S_BYTE_BY_BYTE);
    s_expect_message (fd, text);
    close (fd);
}

static void
test_raw_null_handshakes (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_ROUTER, 2);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));

    s_raw_handshake (proxy, S_PIPELINED, "greeting and READY in one go");
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.completed", 1, SQ_WAIT_MS));
    s_raw_handshake (proxy, S_WHOLE, "whole greeting, then READY");
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.completed", 2, SQ_WAIT_MS));
    s_raw_handshake (proxy, S_BYTE_BY_BYTE, "one byte at a time");
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.completed", 3, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_worker_handled (worker), 3);
    SQ_CHECK_EQ (sq_stat (proxy, "handshake_time.count"), 3);
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.failed"), 0);
    SQ_CHECK_EQ (sq_stat (proxy, "rejected.greeting"), 0);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  LIST and STATS follow a connection through its handshake

//  The handshake bound is far beyond the test: each state lasts until the
//  test moves on
static const char *s_no_timeout [] = { "--handshake-timeout", "600000", NULL };

static void
test_states_and_gauges (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", s_no_timeout);
    SQ_CHECK (proxy);
    int worker = s_raw_greeted (proxy->backend, "127.0.0.1", "NULL");
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    //  Greeted and given the worker's tail: screening, worker untouched
    int client = s_raw_greeted (proxy->frontend, "127.0.0.2", "NULL");
    SQ_CHECK (sq_zmtp_expect_tail (client, "NULL", SQ_WAIT_MS));
    SQ_CHECK (s_state_wait (proxy, "127.0.0.2", client, "screening"));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.screening"), 1);
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.following"), 0);
    int touched = -1;
    SQ_CHECK_EQ (s_list_count (proxy, "backend", "idle", 11, &touched), 1);
    SQ_CHECK_EQ (touched, 0);
    SQ_CHECK (s_nothing_readable (worker));

    //  Its READY commits the worker, which gets the tail and the READY
    s_send_ready (client, false);
    SQ_CHECK (sq_zmtp_expect_tail (worker, "NULL", SQ_WAIT_MS));
    s_expect_ready (worker);
    SQ_CHECK (s_state_wait (proxy, "127.0.0.2", client, "handshake"));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.following"), 1);
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.screening"), 0);
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.completed"), 0);

    //  The worker's READY ends the handshake
    s_send_ready (worker, false);
    s_expect_ready (client);
    SQ_CHECK (s_state_wait (proxy, "127.0.0.2", client, "paired"));
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.completed", 1, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.following"), 0);
    SQ_CHECK_EQ (sq_stat (proxy, "handshake_time.count"), 1);
    s_send_message (client, "to the raw worker", false);
    s_expect_message (worker, "to the raw worker");
    s_send_message (worker, "to the raw client", false);
    s_expect_message (client, "to the raw client");
    close (client);
    SQ_CHECK (sq_tcp_wait_closed (worker, SQ_WAIT_MS));
    close (worker);
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.failed"), 0);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A client that leaves after its first command is counted, and the
//  worker connection it was given is closed; nobody is banned
static void
test_client_closed_in_handshake (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", s_no_timeout);
    SQ_CHECK (proxy);
    int worker = s_raw_greeted (proxy->backend, "127.0.0.1", "NULL");
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    int client = s_raw_greeted (proxy->frontend, "127.0.0.2", "NULL");
    SQ_CHECK (sq_zmtp_expect_tail (client, "NULL", SQ_WAIT_MS));
    s_send_ready (client, false);
    SQ_CHECK (sq_zmtp_expect_tail (worker, "NULL", SQ_WAIT_MS));
    s_expect_ready (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.following", 1, SQ_WAIT_MS));
    close (client);
    SQ_CHECK (sq_tcp_wait_closed (worker, SQ_WAIT_MS));
    close (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.client_closed", 1, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.failed"), 1);
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.following"), 0);
    SQ_CHECK_EQ (sq_stat (proxy, "bans.active"), 0);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  A worker connection lost in a handshake, and a worker's last one

static void
test_last_slot_lost (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_handshake", NULL);
    SQ_CHECK (proxy);
    sq_keypair_t server, impostor, own;
    sq_keypair_new (&server);
    sq_keypair_new (&impostor);
    sq_keypair_new (&own);
    sq_worker_t *worker = sq_curve_worker_new (proxy->backend, ZMQ_DEALER, 1, &server, NULL);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    //  One attempt only (it redials after a minute): its HELLO commits
    //  the worker, which cannot open it and hangs up for good
    void *ctx = zmq_ctx_new ();
    void *client = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.2", &own,
                                        impostor.public_key, 60000);
    SQ_CHECK (client);
    SQ_CHECK (sq_stats_wait (proxy->control, "handshakes.failed_by.worker_closed", 1, SQ_WAIT_MS));
    zmq_close (client);
    zmq_ctx_term (ctx);
    SQ_CHECK (sq_file_wait (proxy->log_path, "lost a connection during a handshake", 1,
                            SQ_WAIT_MS));
    SQ_CHECK (sq_file_wait (proxy->log_path, "libstreamq repairs it", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_file_wait (proxy->log_path, "has no connection left", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.slots_lost", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "backend.connections", 0, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "handshakes.completed"), 0);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_raw_null_handshakes);
    SQ_RUN (test_states_and_gauges);
    SQ_RUN (test_client_closed_in_handshake);
    SQ_RUN (test_handshake_timeout);
    SQ_RUN (test_garbage_after_greeting);
    SQ_RUN (test_plain_wrong_password);
    SQ_RUN (test_curve_zap_refusal);
    SQ_RUN (test_last_slot_lost);
    SQ_RUN (test_wrong_key_flood);
    return sq_test_summary ();
}
