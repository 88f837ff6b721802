/*  =========================================================================
    test_slow - a worker that stops reading while its client floods

    ZMQ_STREAM cannot stop reading one connection, so what a slow peer does
    not take is held by the proxy, up to --max-pair-buffer per pair. With
    --slow-peer=disconnect the pair is closed at the bound: the peers see a
    lost connection, and what the worker did get is a clean prefix of the
    stream; another pair goes on working throughout. With --slow-peer=block
    the proxy stops reading the clients' side until the worker drains: no
    byte is lost, and the flood resumes when the worker reads.

    The splice engine moves the pair itself once its handshake is over, and
    pushes back on the flooding connection alone, whatever the policy: the
    flood stalls, nothing is cut, held or stopped on the side, the other
    pair answers all along, and every byte arrives once the worker reads.
    That is what the same flood checks there.

    The flood: numbered 64 KiB messages whose bytes derive from their
    number, so a lost, reordered or corrupt message is caught.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <errno.h>
#include <unistd.h>

SQ_TEST_DEFINE

#define S_CHUNK         (64 * 1024)
//  Far beyond what libzmq and the kernel queue on the way (about 20 MiB)
#define S_FLOOD_MAX     (256 * 1024 * 1024)
//  Block mode: all of it must arrive
#define S_BLOCK_TOTAL   (48 * 1024 * 1024)

//  Message `seq`: its number, then bytes that follow from it
static void
s_fill (uint8_t *data, uint32_t seq)
{
    memcpy (data, &seq, sizeof seq);
    uint32_t state = seq * 2654435761u + 1;
    for (size_t index = sizeof seq; index < S_CHUNK; index++) {
        state = state * 1103515245 + 12345;
        data [index] = (uint8_t) (state >> 16);
    }
}

//  True when data is exactly message `seq`
static bool
s_intact (const uint8_t *data, size_t size, uint32_t seq)
{
    static uint8_t expected [S_CHUNK];
    if (size != S_CHUNK)
        return false;
    s_fill (expected, seq);
    return memcmp (data, expected, S_CHUNK) == 0;
}

//  A DEALER worker that reads only when told: a few messages of room in
//  libzmq and a small kernel buffer, so the back-pressure reaches the
//  proxy soon
static void *
s_slow_worker (void *ctx, const char *backend)
{
    void *worker = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    int hwm = 4, buffer = 128 * 1024;
    zmq_setsockopt (worker, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (worker, ZMQ_RCVBUF, &buffer, sizeof buffer);
    if (worker && zmq_connect (worker, backend) != 0) {
        zmq_close (worker);
        return NULL;
    }
    return worker;
}

//  Sends message seq without waiting; false when libzmq would block
static bool
s_send_chunk (void *client, uint32_t seq)
{
    static uint8_t data [S_CHUNK];
    s_fill (data, seq);
    return zmq_send (client, data, S_CHUNK, ZMQ_DONTWAIT) == S_CHUNK;
}

//  Reads what the worker has now, checking each message is the next one;
//  returns false on a bad message
static bool
s_drain_worker (void *worker, uint32_t *next, int timeout_ms)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    zmq_pollitem_t item = { worker, 0, ZMQ_POLLIN, 0 };
    bool good = true;
    while (good && zmq_poll (&item, 1, timeout_ms) == 1) {
        if (zmq_msg_recv (&msg, worker, ZMQ_DONTWAIT) < 0)
            break;
        good = s_intact (zmq_msg_data (&msg), zmq_msg_size (&msg), *next);
        if (!good)
            fprintf (stderr, "message %u: %zu bytes, not intact\n", *next, zmq_msg_size (&msg));
        (*next)++;
        timeout_ms = 0;
    }
    zmq_msg_close (&msg);
    return good;
}

//  One echo round trip on the other pair
static bool
s_round_trip (void *client, int number)
{
    char text [32];
    snprintf (text, sizeof text, "other pair %d", number);
    if (sq_send_str (client, text) != 0)
        return false;
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    bool same = reply && strcmp (reply, text) == 0;
    free (reply);
    return same;
}

//  The slow worker connects first, so the flooding client pairs with it;
//  then an echo worker and its client make the other pair
typedef struct {
    sq_proxy_t *proxy;
    void *ctx;
    void *slow;                 //  Worker that reads only when told
    void *flood;                //  Client that floods it
    sq_worker_t *echo;
    void *other;                //  Client of the echo worker
} s_setup_t;

static void
s_setup (s_setup_t *self, const char *policy)
{
    memset (self, 0, sizeof *self);
    const char *args [] = {
        "--max-pair-buffer", "1M", "--max-buffer", "64M", "--slow-peer", policy, NULL
    };
    self->proxy = sq_proxy_start ("test_slow", args);
    SQ_CHECK (self->proxy);
    self->ctx = zmq_ctx_new ();
    self->slow = s_slow_worker (self->ctx, self->proxy->backend);
    SQ_CHECK (self->slow);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    //  A client that queues little itself, so that its sends stall as
    //  soon as the proxy stops reading it
    self->flood = sq_peer_new (self->ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (self->flood);
    int hwm = 4, buffer = 128 * 1024;
    zmq_setsockopt (self->flood, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->flood, ZMQ_SNDBUF, &buffer, sizeof buffer);
    SQ_CHECK_EQ (zmq_connect (self->flood, self->proxy->frontend), 0);
    //  The pair forms when the client's greeting arrives
    SQ_CHECK (s_send_chunk (self->flood, 0));
    SQ_CHECK (sq_stats_wait (self->proxy->control, "pairs.active", 1, SQ_WAIT_MS));
    self->echo = sq_echo_new (self->proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (self->echo);
    self->other = sq_peer_new (self->ctx, ZMQ_DEALER, NULL, self->proxy->frontend);
    SQ_CHECK (self->other);
    SQ_CHECK (s_round_trip (self->other, 0));
}

static void
s_teardown (s_setup_t *self)
{
    if (self->flood)
        zmq_close (self->flood);
    if (self->other)
        zmq_close (self->other);
    if (self->slow)
        zmq_close (self->slow);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    sq_worker_destroy (&self->echo);
    if (self->proxy)
        SQ_CHECK_EQ (sq_proxy_stop (&self->proxy), 0);
}

//  Floods until the client can send no more for a while: the proxy
//  stopped reading it. Returns the next message number.
static uint32_t
s_flood_until_stalled (s_setup_t *setup, uint32_t seq, uint32_t total)
{
    int64_t stalled_since = sq_now_ms ();
    int64_t deadline = sq_now_ms () + 6 * SQ_WAIT_MS;
    while (seq < total && sq_now_ms () < deadline
    &&     sq_now_ms () - stalled_since < SQ_QUIET_MS) {
        if (s_send_chunk (setup->flood, seq)) {
            seq++;
            stalled_since = sq_now_ms ();
        }
        else
            sq_sleep_ms (5);
    }
    return seq;
}

//  The worker reads: the flood resumes, and all of it arrives intact
static void
s_drain_all (s_setup_t *setup, uint32_t seq, uint32_t total)
{
    uint32_t next = 0;
    int64_t deadline = sq_now_ms () + 6 * SQ_WAIT_MS;
    while (next < total && sq_now_ms () < deadline) {
        while (seq < total && s_send_chunk (setup->flood, seq))
            seq++;
        SQ_CHECK (s_drain_worker (setup->slow, &next, 10));
    }
    SQ_CHECK_EQ (next, total);
    SQ_CHECK_EQ (seq, total);
}

//  The splice engine, under either policy: the flooding connection alone
//  is pushed back; the other pair answers while it waits
static void
s_pushed_back (const char *policy)
{
    s_setup_t setup;
    s_setup (&setup, policy);
    uint32_t total = S_BLOCK_TOTAL / S_CHUNK;
    uint32_t seq = s_flood_until_stalled (&setup, 1, total);
    SQ_CHECK_MSG (seq < total, "the flood never stalled (%u messages sent)", seq);
    for (int trip = 1; trip <= 20; trip++)
        SQ_CHECK_MSG (s_round_trip (setup.other, trip), "round trip %d", trip);
    SQ_CHECK_EQ (sq_stat (setup.proxy, "frontend.reading_stops"), 0);
    SQ_CHECK_EQ (sq_stat (setup.proxy, "closed.slow_peer"), 0);
    SQ_CHECK_EQ (sq_stat (setup.proxy, "held.bytes"), 0);
    SQ_CHECK_EQ (sq_stat (setup.proxy, "pairs.active"), 2);
    s_drain_all (&setup, seq, total);
    SQ_CHECK_EQ (sq_stat (setup.proxy, "closed.slow_peer"), 0);
    SQ_CHECK (s_round_trip (setup.other, 21));
    s_teardown (&setup);
}

//  With disconnect: the pair closes at its bound, the other pair works
//  all along, and the slow worker got a clean prefix of the stream
static void
test_disconnect_at_bound (void)
{
    if (sq_engine_is ("splice")) {
        s_pushed_back ("disconnect");
        return;
    }
    s_setup_t setup;
    s_setup (&setup, "disconnect");
    uint32_t seq = 1;
    int trips = 1;
    long long slow_closed = 0;
    int64_t deadline = sq_now_ms () + 6 * SQ_WAIT_MS;
    for (long turn = 1; slow_closed < 1 && (size_t) seq * S_CHUNK < S_FLOOD_MAX
                     && sq_now_ms () < deadline; turn++) {
        if (s_send_chunk (setup.flood, seq))
            seq++;
        else
            sq_sleep_ms (1);
        if (turn % 32 == 0) {
            SQ_CHECK_MSG (s_round_trip (setup.other, trips), "round trip %d", trips);
            trips++;
            slow_closed = sq_stat (setup.proxy, "closed.slow_peer");
        }
    }
    SQ_CHECK (sq_stats_wait_min (setup.proxy->control, "closed.slow_peer", 1, SQ_WAIT_MS));
    //  Nothing of that pair stays held
    SQ_CHECK (sq_stats_wait (setup.proxy->control, "held.bytes", 0, SQ_WAIT_MS));
    //  The other pair still works
    SQ_CHECK (s_round_trip (setup.other, trips));
    //  What reached the slow worker is whole messages, in order, from 0
    uint32_t next = 0;
    SQ_CHECK (s_drain_worker (setup.slow, &next, SQ_QUIET_MS));
    fprintf (stderr, "sent %u messages, the slow worker got %u, %d round trips\n",
             seq, next, trips);
    SQ_CHECK (next < seq);
    SQ_CHECK_EQ (sq_stat (setup.proxy, "frontend.reading_stops"), 0);
    s_teardown (&setup);
}

//  With block: the proxy stops reading clients while the worker is full,
//  holds no more than the bound, and every byte arrives once it reads
static void
test_block_until_drained (void)
{
    if (sq_engine_is ("splice")) {
        s_pushed_back ("block");
        return;
    }
    s_setup_t setup;
    s_setup (&setup, "block");
    uint32_t total = S_BLOCK_TOTAL / S_CHUNK;
    uint32_t seq = s_flood_until_stalled (&setup, 1, total);
    SQ_CHECK_MSG (seq < total, "the flood never stalled (%u messages sent)", seq);
    SQ_CHECK (sq_stat (setup.proxy, "frontend.reading_stops") >= 1);
    long long held = sq_stat (setup.proxy, "held.bytes");
    SQ_CHECK_MSG (held > 0 && held <= 1024 * 1024 + S_CHUNK, "held %lld", held);
    SQ_CHECK_EQ (sq_stat (setup.proxy, "closed.slow_peer"), 0);
    s_drain_all (&setup, seq, total);
    SQ_CHECK (sq_stats_wait (setup.proxy->control, "held.bytes", 0, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (setup.proxy, "closed.slow_peer"), 0);
    //  The clients' side is read again: the other pair works
    SQ_CHECK (s_round_trip (setup.other, 1));
    s_teardown (&setup);
}

int
main (void)
{
    SQ_RUN (test_disconnect_at_bound);
    SQ_RUN (test_block_until_drained);
    return sq_test_summary ();
}
