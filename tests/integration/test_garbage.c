/*  =========================================================================
    test_garbage - raw TCP peers: bad greetings, and ZMTP 3 done by hand

    Peers that are not ZMTP >= 3.0, or that stall inside the greeting, are
    closed and counted in rejected.greeting, on either side, and the proxy
    still pairs real peers afterwards. A raw client (and a raw worker)
    speaking ZMTP 3.0 by hand, whole greeting or one byte at a time,
    completes a NULL handshake with a libzmq peer through the proxy.

    ZMTP 3 framing used here: a greeting is 64 bytes (signature FF, 8
    padding bytes, 7F; version 3.x; 20-byte mechanism; as-server; filler).
    A short command frame is 0x04, a 1-byte size, then the body; READY's
    body is 0x05 "READY" then properties (1-byte name length, name, 4-byte
    big-endian value length, value). A short message frame is 0x00, size,
    bytes.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <strings.h>
#include <unistd.h>

SQ_TEST_DEFINE

#define S_BAD_PEERS 5

//  What the proxy says first on every connection
static const uint8_t s_proxy_hello [11] = {
    0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3
};

//  ---------------------------------------------------------------------
//  Bad peers

typedef struct {
    const char *name;
    uint8_t bytes [64];
    size_t size;
} s_bad_peer_t;

//  Fills the five kinds of bad peers
static void
s_bad_peers (s_bad_peer_t *peers)
{
    memset (peers, 0, S_BAD_PEERS * sizeof (s_bad_peer_t));
    peers [0].name = "random bytes";
    uint32_t state = 7;
    for (size_t index = 0; index < 64; index++) {
        state = state * 1103515245 + 12345;
        peers [0].bytes [index] = (uint8_t) (state >> 16);
    }
    peers [0].bytes [0] = 0x42;         //  Never a ZMTP signature
    peers [0].size = 64;

    peers [1].name = "HTTP request";
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    memcpy (peers [1].bytes, http, strlen (http));
    peers [1].size = strlen (http);

    //  ZMTP 2.0: signature, revision 01, socket type DEALER, empty identity
    peers [2].name = "ZMTP 2.0 greeting";
    const uint8_t zmtp2 [] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 0x05, 0x00, 0x00 };
    memcpy (peers [2].bytes, zmtp2, sizeof zmtp2);
    peers [2].size = sizeof zmtp2;

    //  ZMTP 1.0: a first frame of length 1, flags 0 (empty identity)
    peers [3].name = "ZMTP 1.0 frame";
    peers [3].bytes [0] = 0x01;
    peers [3].bytes [1] = 0x00;
    peers [3].size = 2;

    //  Five bytes of a valid signature, then nothing
    peers [4].name = "stalled greeting";
    peers [4].bytes [0] = 0xFF;
    peers [4].size = 5;
}

//  Connects every bad peer to endpoint, sends its bytes, and checks the
//  proxy closes each one
static void
s_check_bad_peers (const char *endpoint)
{
    s_bad_peer_t peers [S_BAD_PEERS];
    s_bad_peers (peers);
    int fds [S_BAD_PEERS];
    for (int index = 0; index < S_BAD_PEERS; index++) {
        fds [index] = sq_tcp_connect (endpoint);
        SQ_CHECK (fds [index] >= 0);
        SQ_CHECK_EQ (sq_tcp_send (fds [index], peers [index].bytes, peers [index].size), 0);
    }
    for (int index = 0; index < S_BAD_PEERS; index++) {
        SQ_CHECK_MSG (sq_tcp_wait_closed (fds [index], SQ_WAIT_MS),
                      "%s: still open after %d ms", peers [index].name, SQ_WAIT_MS);
        close (fds [index]);
    }
}

//  After the bad peers, a real NULL client and worker still pair and echo
static void
s_check_real_pair (sq_proxy_t *proxy)
{
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker);
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK_EQ (sq_send_str (client, "still working"), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, "still working");
    free (echo);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
}

//  Runs the bad peers against one side of a fresh proxy
static void
s_bad_peers_on (bool frontend)
{
    const char *args [] = { "--greeting-timeout", "500", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_garbage", args);
    SQ_CHECK (proxy);
    s_check_bad_peers (frontend? proxy->frontend: proxy->backend);
    SQ_CHECK (sq_stats_wait (proxy->control, "rejected.greeting", S_BAD_PEERS, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control,
                             frontend? "frontend.connections": "backend.connections",
                             0, SQ_WAIT_MS));
    long long paired = -1;
    SQ_CHECK (sq_stats (proxy->control, "pairs.total", &paired));
    SQ_CHECK_EQ (paired, 0);

    s_check_real_pair (proxy);
    long long rejected = -1;
    SQ_CHECK (sq_stats (proxy->control, "rejected.greeting", &rejected));
    SQ_CHECK_EQ (rejected, S_BAD_PEERS);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_bad_peers_frontend (void)
{
    s_bad_peers_on (true);
}

static void
test_bad_peers_backend (void)
{
    s_bad_peers_on (false);
}

//  ---------------------------------------------------------------------
//  ZMTP 3.0 by hand

//  A NULL greeting, as a ZMTP 3.0 peer sends it
static void
s_null_greeting (uint8_t *greeting)
{
    memset (greeting, 0, 64);
    memcpy (greeting, s_proxy_hello, 11);
    memcpy (greeting + 12, "NULL", 4);
}

//  Sends the greeting, whole or one write per byte
static void
s_send_greeting (int fd, bool byte_by_byte)
{
    uint8_t greeting [64];
    s_null_greeting (greeting);
    if (!byte_by_byte) {
        SQ_CHECK_EQ (sq_tcp_send (fd, greeting, 64), 0);
        return;
    }
    for (int index = 0; index < 64; index++) {
        SQ_CHECK_EQ (sq_tcp_send (fd, greeting + index, 1), 0);
        sq_sleep_ms (1);            //  Let each byte travel on its own
    }
}

//  Receives the proxy's 11 bytes, then sends our greeting
static void
s_open_greeting (int fd, bool byte_by_byte)
{
    uint8_t hello [11];
    SQ_CHECK_EQ (sq_tcp_recv (fd, hello, 11, SQ_WAIT_MS), 11);
    SQ_CHECK (memcmp (hello, s_proxy_hello, 11) == 0);
    s_send_greeting (fd, byte_by_byte);
}

//  Receives the partner's greeting bytes 11..63 and checks it is NULL
static void
s_receive_partner_greeting (int fd)
{
    uint8_t rest [53];
    SQ_CHECK_EQ (sq_tcp_recv (fd, rest, 53, SQ_WAIT_MS), 53);
    //  rest [0] is the minor version; the mechanism is greeting offset 12
    uint8_t mechanism [20] = { 'N', 'U', 'L', 'L' };
    SQ_CHECK_MSG (memcmp (rest + 1, mechanism, 20) == 0, "partner mechanism '%.20s'",
                  (char *) rest + 1);
}

//  Sends READY with Socket-Type DEALER
static void
s_send_ready (int fd)
{
    uint8_t frame [64] = { 0x04, 0 };
    size_t size = 2;
    frame [size++] = 5;
    memcpy (frame + size, "READY", 5);
    size += 5;
    frame [size++] = 11;
    memcpy (frame + size, "Socket-Type", 11);
    size += 11;
    const uint8_t length [4] = { 0, 0, 0, 6 };
    memcpy (frame + size, length, 4);
    size += 4;
    memcpy (frame + size, "DEALER", 6);
    size += 6;
    frame [1] = (uint8_t) (size - 2);
    SQ_CHECK_EQ (sq_tcp_send (fd, frame, size), 0);
}

typedef struct {
    uint8_t flags;
    size_t size;
    uint8_t body [4096];
} s_frame_t;

//  Reads one ZMTP 3 frame (short or long) into frame
static void
s_read_frame (int fd, s_frame_t *frame)
{
    uint8_t header [9];
    SQ_CHECK_EQ (sq_tcp_recv (fd, header, 2, SQ_WAIT_MS), 2);
    frame->flags = header [0];
    frame->size = header [1];
    if (frame->flags & 0x02) {
        SQ_CHECK_EQ (sq_tcp_recv (fd, header + 2, 7, SQ_WAIT_MS), 7);
        frame->size = 0;
        for (int index = 1; index < 9; index++)
            frame->size = (frame->size << 8) | header [index];
    }
    SQ_CHECK (frame->size <= sizeof frame->body);
    SQ_CHECK_EQ (sq_tcp_recv (fd, frame->body, frame->size, SQ_WAIT_MS), frame->size);
}

//  Finds a READY property value; returns its length or -1
static long
s_ready_property (s_frame_t *ready, const char *name, char *value, size_t size)
{
    size_t offset = 6;
    while (offset < ready->size) {
        size_t name_size = ready->body [offset++];
        if (offset + name_size + 4 > ready->size)
            return -1;
        bool match = name_size == strlen (name)
                  && strncasecmp ((char *) ready->body + offset, name, name_size) == 0;
        offset += name_size;
        size_t value_size = ((size_t) ready->body [offset] << 24)
                          | ((size_t) ready->body [offset + 1] << 16)
                          | ((size_t) ready->body [offset + 2] << 8) | ready->body [offset + 3];
        offset += 4;
        if (offset + value_size > ready->size)
            return -1;
        if (match) {
            snprintf (value, size, "%.*s", (int) value_size, ready->body + offset);
            return (long) value_size;
        }
        offset += value_size;
    }
    return -1;
}

//  Waits for the partner's READY and checks its socket type
static void
s_expect_ready (int fd, const char *socket_type)
{
    s_frame_t *frame = malloc (sizeof (s_frame_t));
    s_read_frame (fd, frame);
    SQ_CHECK_MSG (frame->flags & 0x04, "expected a command, got flags %02x", frame->flags);
    SQ_CHECK (frame->size >= 6 && memcmp (frame->body, "\x05READY", 6) == 0);
    char value [64];
    SQ_CHECK (s_ready_property (frame, "Socket-Type", value, sizeof value) > 0);
    SQ_CHECK_STR (value, socket_type);
    free (frame);
}

//  Sends one single-frame message
static void
s_send_message (int fd, const char *text)
{
    uint8_t frame [258] = { 0x00, (uint8_t) strlen (text) };
    SQ_CHECK (strlen (text) < 256);
    memcpy (frame + 2, text, strlen (text));
    SQ_CHECK_EQ (sq_tcp_send (fd, frame, 2 + strlen (text)), 0);
}

//  Receives one single-frame message and checks its text
static void
s_expect_message (int fd, const char *text)
{
    s_frame_t *frame = malloc (sizeof (s_frame_t));
    s_read_frame (fd, frame);
    SQ_CHECK_MSG ((frame->flags & 0x05) == 0, "expected a last message frame, got %02x",
                  frame->flags);
    SQ_CHECK_EQ (frame->size, strlen (text));
    SQ_CHECK (memcmp (frame->body, text, frame->size) == 0);
    free (frame);
}

//  A raw client does the whole NULL handshake with a libzmq DEALER worker
static void
s_raw_client (bool byte_by_byte)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_garbage", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    int fd = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (fd >= 0);
    s_open_greeting (fd, byte_by_byte);
    s_receive_partner_greeting (fd);
    s_send_ready (fd);
    s_expect_ready (fd, "DEALER");
    //  Only now: libzmq refuses data before it has sent its own READY
    s_send_message (fd, "hello from a raw client");
    s_expect_message (fd, "hello from a raw client");
    s_send_message (fd, "second");
    s_expect_message (fd, "second");
    SQ_CHECK_EQ (sq_worker_handled (worker), 2);
    close (fd);

    long long rejected = -1;
    SQ_CHECK (sq_stats (proxy->control, "rejected.greeting", &rejected));
    SQ_CHECK_EQ (rejected, 0);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_raw_client_whole_greeting (void)
{
    s_raw_client (false);
}

static void
test_raw_client_byte_by_byte (void)
{
    s_raw_client (true);
}

//  A raw worker serves a libzmq DEALER client by hand
static void
test_raw_worker (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_garbage", NULL);
    SQ_CHECK (proxy);
    int fd = sq_tcp_connect (proxy->backend);
    SQ_CHECK (fd >= 0);
    s_open_greeting (fd, false);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK_EQ (sq_send_str (client, "to the raw worker"), 0);
    s_receive_partner_greeting (fd);
    s_send_ready (fd);
    s_expect_ready (fd, "DEALER");
    s_expect_message (fd, "to the raw worker");
    s_send_message (fd, "from the raw worker");
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "from the raw worker");
    free (reply);

    zmq_close (client);
    zmq_ctx_term (ctx);
    close (fd);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_bad_peers_frontend);
    SQ_RUN (test_bad_peers_backend);
    SQ_RUN (test_raw_client_whole_greeting);
    SQ_RUN (test_raw_client_byte_by_byte);
    SQ_RUN (test_raw_worker);
    return sq_test_summary ();
}
