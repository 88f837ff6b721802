/*  =========================================================================
    test_transfer - a pair's bytes once its handshake is over: a reader that
    stalls, a peer that resets, a half-closed connection, a gigabyte

    Raw ZMTP peers (the NULL handshake by hand, then frames as bytes) on
    one or both sides, and libzmq peers beside them. Where the engines
    truly differ the test says so: the splice engine moves a handed-off
    pair itself, with back-pressure per connection and half-closes passed
    on; ZMQ_STREAM reports a peer's end of stream as a lost connection,
    and cannot push back on one connection (test_slow covers its bounds).
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/socket.h>

SQ_TEST_DEFINE

//  The message a client sends a worker that does not read
#define S_STALLED_SIZE  (32u * 1024 * 1024)
//  What the proxy may grow by meanwhile
#define S_GROWTH_KIB    (16 * 1024)
//  The transfer checked end to end
#define S_GIGABYTE      (1024ull * 1024 * 1024)
#define S_FRAME         (1024 * 1024)

//  ---------------------------------------------------------------------
//  Bytes that derive from their offset, and a checksum of them

//  The 8 bytes at a multiple of 8 of stream `seed`
static uint64_t
s_word (uint64_t seed, uint64_t offset)
{
    uint64_t x = (offset / 8 + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 29);
}

//  Fills data with the stream from offset (a multiple of 8; size too)
static void
s_fill (uint8_t *data, size_t size, uint64_t seed, uint64_t offset)
{
    for (size_t index = 0; index < size; index += 8) {
        uint64_t word = s_word (seed, offset + index);
        memcpy (data + index, &word, 8);
    }
}

//  True when data is the stream from offset
static bool
s_intact (const uint8_t *data, size_t size, uint64_t seed, uint64_t offset)
{
    for (size_t index = 0; index + 8 <= size; index += 8) {
        uint64_t word;
        memcpy (&word, data + index, 8);
        if (word != s_word (seed, offset + index))
            return false;
    }
    return true;
}

//  Folds data into a checksum, 8 bytes at a time
static uint64_t
s_checksum (uint64_t sum, const uint8_t *data, size_t size)
{
    for (size_t index = 0; index < size; index += 8) {
        uint64_t word;
        memcpy (&word, data + index, 8);
        sum = (sum ^ word) * 0x100000001B3ull;
    }
    return sum;
}

//  ---------------------------------------------------------------------
//  Pairs

//  A raw worker, then a raw client paired with it, both past the
//  handshake; false when any step failed
static bool
s_raw_pair (sq_proxy_t *proxy, int *client, int *worker)
{
    *worker = sq_raw_connect (proxy->backend);
    if (*worker < 0 || !sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS))
        return false;
    *client = sq_raw_connect (proxy->frontend);
    return *client >= 0
        && sq_raw_ready (*client, "DEALER") && sq_raw_ready (*worker, "DEALER")
        && sq_raw_expect_ready (*client) && sq_raw_expect_ready (*worker);
}

//  One echo round trip
static bool
s_round_trip (void *client, int number)
{
    char text [32];
    snprintf (text, sizeof text, "neighbour %d", number);
    if (sq_send_str (client, text) != 0)
        return false;
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    bool same = reply && strcmp (reply, text) == 0;
    free (reply);
    return same;
}

//  Sends up to size bytes of data, as long as the socket takes them
//  within a moment; returns how many went
static size_t
s_send_some (int fd, const uint8_t *data, size_t size)
{
    struct timeval brief = { 0, 500000 };
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &brief, sizeof brief);
    size_t sent = 0;
    while (sent < size) {
        ssize_t done = send (fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (done <= 0)
            break;
        sent += (size_t) done;
    }
    return sent;
}

//  True when the next thing the socket reads is the end of the stream
static bool
s_at_end (int fd)
{
    struct pollfd item = { fd, POLLIN, 0 };
    char byte;
    return poll (&item, 1, SQ_WAIT_MS) == 1 && recv (fd, &byte, 1, 0) == 0;
}

//  Waits until the bytes the proxy delivered to workers stop growing for
//  SQ_QUIET_MS; returns the last count
static long long
s_wait_stalled (sq_proxy_t *proxy)
{
    long long last = -1, now = sq_stat (proxy, "bytes.to_backend");
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (now != last && sq_now_ms () < deadline) {
        last = now;
        sq_sleep_ms (SQ_QUIET_MS);
        now = sq_stat (proxy, "bytes.to_backend");
    }
    return now;
}

//  ---------------------------------------------------------------------
//  A worker that reads nothing while its client sends 32 MiB (splice):
//  the proxy stops reading the client, holds little, cuts nothing, and
//  the neighbouring pair keeps answering; then the message arrives whole

static void
test_stalled_reader (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_transfer", NULL);
    SQ_CHECK (proxy);
    void *ctx = zmq_ctx_new ();
    int worker = sq_raw_connect (proxy->backend);
    SQ_CHECK (worker >= 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK (sq_raw_handshake (worker, "DEALER"));
    sq_worker_t *echo = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (echo);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *neighbour = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (neighbour);
    SQ_CHECK (s_round_trip (neighbour, 0));
    long before_kib = sq_proc_status_kib (proxy->pid, "VmRSS");
    SQ_CHECK (before_kib > 0);

    uint8_t *message = malloc (S_STALLED_SIZE);
    SQ_CHECK (message);
    s_fill (message, S_STALLED_SIZE, 1, 0);
    SQ_CHECK_EQ (zmq_send (client, message, S_STALLED_SIZE, 0), S_STALLED_SIZE);
    long long delivered = s_wait_stalled (proxy);
    fprintf (stderr, "stalled after %lld bytes to the worker\n", delivered);
    SQ_CHECK_MSG (delivered < S_STALLED_SIZE, "%lld bytes went through", delivered);
    for (int trip = 1; trip <= 20; trip++)
        SQ_CHECK_MSG (s_round_trip (neighbour, trip), "round trip %d", trip);
    long peak_kib = sq_proc_status_kib (proxy->pid, "VmHWM");
    fprintf (stderr, "proxy RSS %ld KiB before, peak %ld KiB\n", before_kib, peak_kib);
    SQ_CHECK_MSG (peak_kib - before_kib < S_GROWTH_KIB, "grew by %ld KiB",
                  peak_kib - before_kib);
    SQ_CHECK_EQ (sq_stat (proxy, "pairs.active"), 2);
    SQ_CHECK_EQ (sq_stat (proxy, "closed.slow_peer"), 0);
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.reading_stops"), 0);

    //  The worker reads: the whole message, in order
    uint8_t flags;
    uint64_t size;
    SQ_CHECK (sq_raw_recv_header (worker, &flags, &size, SQ_WAIT_MS));
    SQ_CHECK_EQ (size, S_STALLED_SIZE);
    memset (message, 0, S_STALLED_SIZE);
    SQ_CHECK_EQ (sq_tcp_recv (worker, message, S_STALLED_SIZE, SQ_WAIT_MS), S_STALLED_SIZE);
    SQ_CHECK (s_intact (message, S_STALLED_SIZE, 1, 0));
    SQ_CHECK_EQ (sq_raw_send_text (worker, "got it"), 0);
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "got it");
    free (reply);
    SQ_CHECK (s_round_trip (neighbour, 21));
    SQ_CHECK_EQ (sq_stat (proxy, "closed.slow_peer"), 0);
    free (message);
    close (worker);
    zmq_close (client);
    zmq_close (neighbour);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&echo);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  With --slow-peer-timeout, a stalled pair is closed, as a slow peer
//  (splice)
static void
test_slow_peer_timeout (void)
{
    const char *args [] = { "--slow-peer-timeout", "1000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_transfer", args);
    SQ_CHECK (proxy);
    int client, worker;
    SQ_CHECK (s_raw_pair (proxy, &client, &worker));
    //  The client sends until its socket takes no more; the worker reads
    //  nothing, and nothing moves
    uint8_t *chunk = calloc (1, S_FRAME);
    SQ_CHECK (chunk);
    SQ_CHECK_EQ (sq_raw_send_header (client, 64ull * S_FRAME), 0);
    for (int frame = 0; frame < 64 && s_send_some (client, chunk, S_FRAME) == S_FRAME; frame++)
        ;
    SQ_CHECK (sq_stats_wait_min (proxy->control, "closed.slow_peer", 1, SQ_WAIT_MS));
    //  Both ends are closed: the worker as the slow peer, the client as
    //  its partner
    SQ_CHECK (sq_tcp_wait_closed (client, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "closed.slow_peer"), 1);
    free (chunk);
    close (client);
    close (worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  A peer that resets its connection in the middle of a stream (both
//  engines): its partner is closed, and the bytes it had sent before
//  arrive in order first; the proxy goes on

//  Sets SO_LINGER 0, so that close sends a reset
static void
s_reset (int fd)
{
    struct linger now = { 1, 0 };
    setsockopt (fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    close (fd);
}

//  Reads until the end of the stream; true when all of it was the frame
//  header of `announced` bytes followed by a prefix of stream `seed`
static bool
s_clean_prefix (int fd, uint64_t seed, uint64_t announced, size_t *got_p)
{
    uint8_t flags;
    uint64_t size;
    if (!sq_raw_recv_header (fd, &flags, &size, SQ_WAIT_MS) || size != announced)
        return false;
    uint8_t *data = malloc (S_FRAME);
    size_t got = 0, chunk;
    bool intact = data != NULL;
    while (intact && (chunk = sq_tcp_recv (fd, data, S_FRAME, SQ_WAIT_MS)) > 0) {
        intact = s_intact (data, chunk & ~(size_t) 7, seed, got);
        got += chunk;
        if (chunk % 8)
            break;              //  The end came in the middle of a word
    }
    free (data);
    *got_p = got;
    return intact;
}

static void
test_reset_mid_stream (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_transfer", NULL);
    SQ_CHECK (proxy);
    uint8_t *data = malloc (S_FRAME);
    SQ_CHECK (data);
    s_fill (data, S_FRAME, 2, 0);
    //  The worker resets while the client sends to it
    int client, worker;
    SQ_CHECK (s_raw_pair (proxy, &client, &worker));
    SQ_CHECK_EQ (sq_raw_send_header (client, 4ull * S_FRAME), 0);
    SQ_CHECK_EQ (sq_tcp_send (client, data, 256 * 1024), 0);
    uint8_t header [9], some [64 * 1024];
    SQ_CHECK_EQ (sq_tcp_recv (worker, header, 9, SQ_WAIT_MS), 9);
    SQ_CHECK_EQ (sq_tcp_recv (worker, some, sizeof some, SQ_WAIT_MS), sizeof some);
    SQ_CHECK (s_intact (some, sizeof some, 2, 0));
    s_reset (worker);
    SQ_CHECK (sq_tcp_wait_closed (client, SQ_WAIT_MS));
    close (client);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    //  The client resets while the worker reads: the worker gets a clean
    //  prefix of what the client sent, then the end
    SQ_CHECK (s_raw_pair (proxy, &client, &worker));
    SQ_CHECK_EQ (sq_raw_send_header (client, 4ull * S_FRAME), 0);
    size_t sent = s_send_some (client, data, S_FRAME);
    s_reset (client);
    size_t got = 0;
    SQ_CHECK (s_clean_prefix (worker, 2, 4ull * S_FRAME, &got));
    fprintf (stderr, "the worker got %zu of the %zu bytes sent before the reset\n", got, sent);
    SQ_CHECK (got <= sent);
    SQ_CHECK (sq_tcp_wait_closed (worker, SQ_WAIT_MS));
    close (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stat (proxy, "closed.peer") >= 2);
    SQ_CHECK (sq_stat (proxy, "closed.partner") >= 2);
    //  The proxy goes on
    sq_worker_t *echo = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (echo);
    void *ctx = zmq_ctx_new ();
    void *other = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (other);
    SQ_CHECK (s_round_trip (other, 1));
    zmq_close (other);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&echo);
    free (data);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  A client that shuts its writing side down after its question (both
//  engines). The worker gets the question, then the end of the stream.
//  On splice the other direction stays open: the answer reaches the
//  client, and the pair ends when the worker closes too. ZMQ_STREAM
//  reports the end of a stream as a lost connection, so there the proxy
//  closes the pair and the client sees its end with no answer.

static void
test_half_close (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_transfer", NULL);
    SQ_CHECK (proxy);
    int client, worker;
    SQ_CHECK (s_raw_pair (proxy, &client, &worker));
    SQ_CHECK_EQ (sq_raw_send_text (client, "question"), 0);
    SQ_CHECK_EQ (shutdown (client, SHUT_WR), 0);
    SQ_CHECK (sq_raw_recv_text (worker, "question"));
    SQ_CHECK (s_at_end (worker));
    if (sq_engine_is ("splice")) {
        SQ_CHECK_EQ (sq_stat (proxy, "pairs.active"), 1);
        SQ_CHECK_EQ (sq_raw_send_text (worker, "answer"), 0);
        SQ_CHECK (sq_raw_recv_text (client, "answer"));
        SQ_CHECK_EQ (sq_raw_send_text (worker, "and more"), 0);
        SQ_CHECK (sq_raw_recv_text (client, "and more"));
        SQ_CHECK_EQ (shutdown (worker, SHUT_WR), 0);
    }
    SQ_CHECK (sq_tcp_wait_closed (client, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    close (client);
    close (worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  A gigabyte from a client to its worker, in 1 MiB frames, checked end
//  to end with a checksum (splice)

typedef struct {
    int fd;
    uint64_t sum;
    bool sent;
} s_sender_t;

static void *
s_send_gigabyte (void *arg)
{
    s_sender_t *sender = arg;
    uint8_t *data = malloc (S_FRAME);
    sender->sent = data != NULL;
    for (uint64_t offset = 0; sender->sent && offset < S_GIGABYTE; offset += S_FRAME) {
        s_fill (data, S_FRAME, 3, offset);
        sender->sum = s_checksum (sender->sum, data, S_FRAME);
        sender->sent = sq_raw_send_header (sender->fd, S_FRAME) == 0
                    && sq_tcp_send (sender->fd, data, S_FRAME) == 0;
    }
    free (data);
    return NULL;
}

static void
test_gigabyte (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_transfer", NULL);
    SQ_CHECK (proxy);
    int client, worker;
    SQ_CHECK (s_raw_pair (proxy, &client, &worker));
    s_sender_t sender = { client, 0, false };
    pthread_t thread;
    SQ_CHECK_EQ (pthread_create (&thread, NULL, s_send_gigabyte, &sender), 0);
    uint8_t *data = malloc (S_FRAME);
    uint64_t sum = 0, received = 0;
    bool framed = data != NULL;
    int64_t started = sq_now_ms ();
    while (framed && received < S_GIGABYTE) {
        uint8_t flags;
        uint64_t size;
        framed = sq_raw_recv_header (worker, &flags, &size, SQ_WAIT_MS) && size == S_FRAME
              && sq_tcp_recv (worker, data, S_FRAME, SQ_WAIT_MS) == S_FRAME;
        if (framed) {
            sum = s_checksum (sum, data, S_FRAME);
            received += S_FRAME;
        }
    }
    pthread_join (thread, NULL);
    fprintf (stderr, "%llu bytes in %lld ms\n", (unsigned long long) received,
             (long long) (sq_now_ms () - started));
    free (data);
    SQ_CHECK (sender.sent);
    SQ_CHECK_EQ (received, S_GIGABYTE);
    SQ_CHECK_MSG (sum == sender.sum, "checksum %016llx, sent %016llx",
                  (unsigned long long) sum, (unsigned long long) sender.sum);
    //  The core counted what the engine moved
    SQ_CHECK (sq_stats_wait_min (proxy->control, "bytes.to_backend", (long long) S_GIGABYTE,
                                 SQ_WAIT_MS));
    close (client);
    close (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    //  The relay spliced through a pipe, and gave it back when the pair ended
    fprintf (stderr, "pipes: %lld idle, %lld refusals\n", sq_stat (proxy, "engine.pipes_idle"),
             sq_stat (proxy, "engine.pipe_refusals"));
    SQ_CHECK_EQ (sq_stat (proxy, "engine.pipes_lent"), 0);
    SQ_CHECK (sq_stat (proxy, "engine.pipes_idle") >= 1);
    SQ_CHECK_EQ (sq_stat (proxy, "engine.pipe_refusals"), 0);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_reset_mid_stream);
    SQ_RUN (test_half_close);
    //  What only an engine that moves pairs itself does
    if (sq_engine_is ("splice")) {
        SQ_RUN (test_stalled_reader);
        SQ_RUN (test_slow_peer_timeout);
        SQ_RUN (test_gigabyte);
    }
    return sq_test_summary ();
}
