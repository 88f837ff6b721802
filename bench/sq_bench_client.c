/*  =========================================================================
    sq_bench_client - load generator: round-trip latency and echo throughput

        sq_bench client --connect EP --size BYTES [--pairs N] [--runs N]
                        [--lat-ms MS] [--tput-ms MS] [--window N]
                        [--server-key Z85] [--watch-pid PID]

    Opens N DEALER sockets (N pairs) in one process, driven by zmq_poll.
    Every message carries a sequence number in its first 8 bytes and must
    come back whole and in order, so a contender that loses, truncates or
    reorders bytes is caught rather than measured.

    Prints, one line each (bench/run.sh collects them):
        warmup,MS                       until every pair had its first echo
        lat,RUN,P50_US,P99_US,SAMPLES   one message in flight per pair
        tput,RUN,MSG_PER_S,MB_PER_S,CPU_S,BYTES,CLIENT_CPU_S
                                        a window in flight per pair; MB/s and
                                        BYTES count payload both ways; CPU_S
                                        is the watched process's CPU time
                                        over the same interval (-1 when none
                                        is watched), CLIENT_CPU_S this
                                        process's own
        mem,HWM_KIB                     the watched process's peak RSS (with
                                        its children: socat forks one per
                                        connection, gone once it closes)
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <zmq.h>
#include "sq_bench.h"

#define S_Z85_KEY 40
#define S_SEQ_SIZE 8
//  Replies read from one socket before looking at the others
#define S_READ_BATCH 256
//  Bytes a client keeps in flight in all, which sets the default window
#define S_WINDOW_BYTES (16L * 1024 * 1024)
#define S_WINDOW_MAX 64
//  Latency samples kept per run (enough for 1 s at 2 us per round trip)
#define S_SAMPLES_MAX 2000000
//  How long the last replies of a run may take to come back
#define S_SETTLE_MS 20000

typedef struct {
    const char *connect;
    const char *server_key;
    long pairs;
    long size;
    long runs;
    long lat_ms;
    long tput_ms;
    long window;
    long watch_pid;
    long warmup_ms;
} s_opts_t;

typedef struct {
    void *socket;
    uint64_t next_seq;          //  Carried by the next message sent
    uint64_t expect_seq;        //  Expected in the next reply
    long in_flight;
    int64_t sent_ns;            //  Latency mode: when the one message left
} s_peer_t;

typedef struct {
    s_opts_t opts;
    void *context;
    s_peer_t *peers;
    zmq_pollitem_t *items;
    uint8_t *payload;
    bool sampling;              //  Record round-trip times
    bool refill;                //  Answer each reply with a new message
    long target;                //  Messages in flight per pair when refilling
    uint64_t replies;
    uint64_t bad;               //  Wrong size or out of order
    int64_t *samples;
    size_t sample_count;
} s_client_t;


static bool
s_args (int argc, char *argv [], s_opts_t *opts)
{
    static const struct option options [] = {
        { "connect", required_argument, NULL, 'c' },
        { "server-key", required_argument, NULL, 'k' },
        { "pairs", required_argument, NULL, 'p' },
        { "size", required_argument, NULL, 's' },
        { "runs", required_argument, NULL, 'r' },
        { "lat-ms", required_argument, NULL, 'l' },
        { "tput-ms", required_argument, NULL, 't' },
        { "window", required_argument, NULL, 'w' },
        { "watch-pid", required_argument, NULL, 'W' },
        { "warmup-ms", required_argument, NULL, 'u' },
        { NULL, 0, NULL, 0 }
    };
    *opts = (s_opts_t) { .pairs = 1, .runs = 3, .lat_ms = 1000, .tput_ms = 1500,
                         .warmup_ms = 20000 };
    int code;
    while ((code = getopt_long (argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        if (code == 'c') opts->connect = optarg;
        else if (code == 'k') opts->server_key = optarg;
        else if (code == 'p') ok = sq_bench_parse_long (optarg, 1000, &opts->pairs);
        else if (code == 's') ok = sq_bench_parse_long (optarg, 64L << 20, &opts->size);
        else if (code == 'r') ok = sq_bench_parse_long (optarg, 100, &opts->runs);
        else if (code == 'l') ok = sq_bench_parse_long (optarg, 60000, &opts->lat_ms);
        else if (code == 't') ok = sq_bench_parse_long (optarg, 60000, &opts->tput_ms);
        else if (code == 'w') ok = sq_bench_parse_long (optarg, 1000, &opts->window);
        else if (code == 'W') ok = sq_bench_parse_long (optarg, 1L << 30, &opts->watch_pid);
        else if (code == 'u') ok = sq_bench_parse_long (optarg, 600000, &opts->warmup_ms);
        else ok = false;
        if (!ok)
            return false;
    }
    if (!opts->connect || opts->size < S_SEQ_SIZE
    ||  (opts->server_key && strlen (opts->server_key) != S_Z85_KEY))
        return false;
    //  Enough in flight to keep both directions busy, without piling up
    //  hundreds of MiB in queues when messages are large
    if (!opts->window) {
        long window = S_WINDOW_BYTES / (opts->size * opts->pairs);
        opts->window = window < 1? 1: window > S_WINDOW_MAX? S_WINDOW_MAX: window;
    }
    return true;
}

//  One DEALER, a CURVE client with a key pair of its own when asked
static void *
s_socket_new (void *context, const s_opts_t *opts)
{
    void *socket = zmq_socket (context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    if (opts->server_key) {
        char public_key [S_Z85_KEY + 1], secret_key [S_Z85_KEY + 1];
        zmq_curve_keypair (public_key, secret_key);
        zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, opts->server_key, S_Z85_KEY + 1);
        zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, public_key, S_Z85_KEY + 1);
        zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, secret_key, S_Z85_KEY + 1);
    }
    if (zmq_connect (socket, opts->connect) != 0) {
        fprintf (stderr, "sq_bench client: %s: %s\n", opts->connect,
                 zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    return socket;
}

static void
s_client_destroy (s_client_t *self)
{
    for (long index = 0; self->peers && index < self->opts.pairs; index++)
        if (self->peers [index].socket)
            zmq_close (self->peers [index].socket);
    if (self->context)
        zmq_ctx_term (self->context);
    free (self->peers);
    free (self->items);
    free (self->payload);
    free (self->samples);
}

static bool
s_client_init (s_client_t *self, const s_opts_t *opts)
{
    memset (self, 0, sizeof *self);
    self->opts = *opts;
    self->context = zmq_ctx_new ();
    self->peers = calloc ((size_t) opts->pairs, sizeof (s_peer_t));
    self->items = calloc ((size_t) opts->pairs, sizeof (zmq_pollitem_t));
    self->payload = malloc ((size_t) opts->size);
    self->samples = malloc (S_SAMPLES_MAX * sizeof (int64_t));
    if (!self->context || !self->peers || !self->items || !self->payload || !self->samples)
        return false;
    for (long index = 0; index < opts->size; index++)
        self->payload [index] = (uint8_t) (index * 7);
    for (long index = 0; index < opts->pairs; index++) {
        self->peers [index].socket = s_socket_new (self->context, opts);
        if (!self->peers [index].socket)
            return false;
        self->items [index] = (zmq_pollitem_t) { self->peers [index].socket, 0, ZMQ_POLLIN, 0 };
    }
    return true;
}


//  --------------------------------------------------------------------------
//  Sending and receiving

//  Sends one message; false when the socket would block (it then stays
//  one short of its window until the next reply)
static bool
s_send (s_client_t *self, s_peer_t *peer)
{
    memcpy (self->payload, &peer->next_seq, S_SEQ_SIZE);
    if (zmq_send (peer->socket, self->payload, (size_t) self->opts.size, ZMQ_DONTWAIT) < 0)
        return false;
    peer->next_seq++;
    peer->in_flight++;
    peer->sent_ns = sq_bench_now_ns ();
    return true;
}

static void
s_fill (s_client_t *self)
{
    for (long index = 0; index < self->opts.pairs; index++) {
        s_peer_t *peer = &self->peers [index];
        while (peer->in_flight < self->target && s_send (self, peer))
            ;
    }
}

static void
s_on_reply (s_client_t *self, s_peer_t *peer, zmq_msg_t *reply)
{
    uint64_t seq = UINT64_MAX;
    if (zmq_msg_size (reply) == (size_t) self->opts.size)
        memcpy (&seq, zmq_msg_data (reply), S_SEQ_SIZE);
    if (seq != peer->expect_seq)
        self->bad++;
    peer->expect_seq++;
    peer->in_flight--;
    self->replies++;
    if (self->sampling && self->sample_count < S_SAMPLES_MAX)
        self->samples [self->sample_count++] = sq_bench_now_ns () - peer->sent_ns;
    if (self->refill && peer->in_flight < self->target)
        s_send (self, peer);
}

static void
s_read (s_client_t *self, s_peer_t *peer)
{
    zmq_msg_t reply;
    zmq_msg_init (&reply);
    for (int count = 0; count < S_READ_BATCH; count++) {
        if (zmq_msg_recv (&reply, peer->socket, ZMQ_DONTWAIT) < 0)
            break;
        s_on_reply (self, peer, &reply);
    }
    zmq_msg_close (&reply);
}

//  Serves replies until the deadline (or, with stop_when_idle, until no
//  message is in flight any more). Returns false on a poll failure.
static bool
s_pump (s_client_t *self, int64_t deadline_ns, bool stop_when_idle)
{
    while (true) {
        int64_t now = sq_bench_now_ns ();
        if (now >= deadline_ns)
            return true;
        if (stop_when_idle) {
            long in_flight = 0;
            for (long index = 0; index < self->opts.pairs; index++)
                in_flight += self->peers [index].in_flight;
            if (in_flight == 0)
                return true;
        }
        long wait_ms = (deadline_ns - now) / 1000000;
        int rc = zmq_poll (self->items, (int) self->opts.pairs, wait_ms < 100? wait_ms: 100);
        if (rc < 0 && zmq_errno () != EINTR)
            return false;
        for (long index = 0; rc > 0 && index < self->opts.pairs; index++)
            if (self->items [index].revents & ZMQ_POLLIN)
                s_read (self, &self->peers [index]);
    }
}

//  Stops sending and waits for every reply; false if some never came.
//  Round trips go on being sampled if they were: a message sent in a
//  latency interval counts even when its reply comes after the interval.
static bool
s_settle (s_client_t *self, long timeout_ms)
{
    self->refill = false;
    if (!s_pump (self, sq_bench_now_ns () + timeout_ms * 1000000L, true))
        return false;
    long missing = 0;
    for (long index = 0; index < self->opts.pairs; index++)
        missing += self->peers [index].in_flight;
    if (missing)
        fprintf (stderr, "sq_bench client: %ld replies missing after %ld ms\n",
                 missing, timeout_ms);
    return missing == 0;
}


//  --------------------------------------------------------------------------
//  The phases

//  One message per pair, then every reply: the handshakes (and pairings,
//  behind the proxy) are done before anything is measured
static bool
s_warmup (s_client_t *self)
{
    int64_t start = sq_bench_now_ns ();
    self->target = 1;
    s_fill (self);
    if (!s_settle (self, self->opts.warmup_ms))
        return false;
    printf ("warmup,%.1f\n", (double) (sq_bench_now_ns () - start) / 1e6);
    return true;
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static bool
s_latency_run (s_client_t *self, long run)
{
    self->sample_count = 0;
    self->target = 1;
    self->refill = true;
    self->sampling = true;
    s_fill (self);
    bool ok = s_pump (self, sq_bench_now_ns () + self->opts.lat_ms * 1000000L, false)
           && s_settle (self, S_SETTLE_MS);
    self->sampling = false;
    size_t count = self->sample_count;
    if (!ok || count == 0) {
        if (ok)
            fprintf (stderr, "sq_bench client: no round trip in the latency run\n");
        return false;
    }
    qsort (self->samples, count, sizeof (int64_t), s_compare);
    printf ("lat,%ld,%.2f,%.2f,%zu\n", run,
            (double) self->samples [(count - 1) * 50 / 100] / 1e3,
            (double) self->samples [(count - 1) * 99 / 100] / 1e3, count);
    return true;
}

static bool
s_throughput_run (s_client_t *self, long run)
{
    self->target = self->opts.window;
    self->refill = true;
    s_fill (self);
    int pid = (int) self->opts.watch_pid;
    double cpu_start = pid? sq_bench_proc_cpu (pid): -1;
    double own_start = sq_bench_proc_cpu ((int) getpid ());
    self->replies = 0;
    int64_t start = sq_bench_now_ns ();
    if (!s_pump (self, start + self->opts.tput_ms * 1000000L, false))
        return false;
    double seconds = (double) (sq_bench_now_ns () - start) / 1e9;
    double cpu_end = pid? sq_bench_proc_cpu (pid): -1;
    double own_end = sq_bench_proc_cpu ((int) getpid ());
    uint64_t replies = self->replies;
    double cpu = cpu_start >= 0 && cpu_end >= 0? cpu_end - cpu_start: -1;
    double own = own_start >= 0 && own_end >= 0? own_end - own_start: -1;
    double bytes = 2.0 * (double) replies * (double) self->opts.size;
    printf ("tput,%ld,%.1f,%.3f,%.3f,%.0f,%.3f\n", run, (double) replies / seconds,
            bytes / seconds / 1e6, cpu, bytes, own);
    return s_settle (self, S_SETTLE_MS);
}

int
sq_bench_client (int argc, char *argv [])
{
    s_opts_t opts;
    if (!s_args (argc, argv, &opts)) {
        fprintf (stderr, "sq_bench client: bad arguments (see sq_bench --help)\n");
        return 2;
    }
    s_client_t client;
    bool ok = s_client_init (&client, &opts) && s_warmup (&client);
    if (!ok)
        fprintf (stderr, "sq_bench client: no echo from every pair within %ld ms\n",
                 opts.warmup_ms);
    for (long run = 1; ok && run <= opts.runs; run++)
        ok = s_latency_run (&client, run);
    for (long run = 1; ok && run <= opts.runs; run++)
        ok = s_throughput_run (&client, run);
    if (ok && opts.watch_pid)
        printf ("mem,%ld\n", sq_bench_proc_kib ((int) opts.watch_pid, "VmHWM"));
    if (client.bad)
        fprintf (stderr, "sq_bench client: %llu replies wrong or out of order\n",
                 (unsigned long long) client.bad);
    ok = ok && client.bad == 0;
    s_client_destroy (&client);
    return ok? 0: 1;
}
