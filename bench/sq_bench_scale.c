/*  =========================================================================
    sq_bench_scale - thousands of raw ZMTP peers on one epoll loop

        sq_bench scale --frontend EP --backend EP --control EP --pid PID
                       [--pairs N] [--idle-ms MS] [--churn-ms MS]
                       [--churn-slots N] [--window N] [--timeout-ms MS]

    A libzmq socket per connection would cost more than the proxy being
    measured, so each peer here is a bare non-blocking TCP socket that
    speaks just the ZMTP 3 NULL handshake: the proxy sends 11 bytes on every
    new connection, the peer sends its 64-byte greeting, and a client then
    receives bytes 11..63 of an idle worker's greeting and answers with its
    READY command; once that passed the proxy's screening the worker has
    the client's greeting and READY, and answers with its own READY, which
    the client receives. Having the partner's READY is how a peer knows its
    pair is established (and its handshake complete, as the proxy sees it).

    1. Idle pairs: N worker connections dial the backend (the proxy lists
       them idle), then N clients dial the frontend and are paired. Reports
       the time to establish, the proxy's RSS per connection, and its CPU
       while the 2N connections sit idle.
    2. Pairing rate: K clients and K worker slots, each client hanging up
       (RST) as soon as it is paired and dialling again; each worker slot
       dials again when the proxy closes it. Reports pairings per second.

    Prints "scale,KEY,VALUE" lines. The proxy must run with a large
    --max-queue and --close-linger 0 (else phase 2 measures that timer).
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <zmq.h>
#include "sq_bench.h"

#define S_GREETING 64
#define S_PREFIX 11
#define S_READY SQ_BENCH_NULL_READY_SIZE
//  A peer's bytes once paired: the partner's greeting, then its READY
#define S_FULL (S_GREETING + S_READY)
#define S_EVENTS 1024
#define S_CLIENT 0
#define S_WORKER 1
//  A connection the proxy has not greeted within this time was lost by it
#define S_STALL_NS 250000000L
//  Phase 2 runs this long before its interval starts, to reach a steady state
#define S_CHURN_WARMUP_NS 1000000000L

static const uint8_t s_prefix [S_PREFIX] = {
    0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F, 0x03
};

typedef enum {
    S_CLOSED = 0,
    S_CONNECTING,
    S_WAITING,                  //  Greeting sent, waiting for the partner's
    S_PAIRED                    //  All 64 bytes received
} s_state_t;

typedef struct {
    int64_t dialled_ns;         //  When the current socket was opened
    int fd;
    uint32_t generation;        //  Tells events of an old socket apart
    uint8_t side;
    uint8_t state;
    uint8_t got;                //  Bytes received, of the 64
} s_peer_t;

typedef struct {
    const char *endpoint [2];
    const char *control;
    long pid;
    long pairs;
    long idle_ms;
    long churn_ms;
    long churn_slots;
    long window;
    long timeout_ms;
} s_opts_t;

typedef struct {
    s_opts_t opts;
    struct sockaddr_in address [2];
    uint8_t greeting [S_GREETING];
    int epoll;
    void *context;
    s_peer_t *peers;
    size_t count;               //  Peers in use in the array
    bool churn;                 //  Phase 2: hang up and dial again
    size_t open;                //  Sockets open
    size_t greeted [2];         //  Peers that have the proxy's 11 bytes
    size_t paired [2];          //  Peers that have all 64 bytes
    uint64_t churn_pairs;       //  Clients paired in phase 2
    uint64_t failures;          //  Unexpected closes or bad bytes
    uint64_t redials;           //  Connections the proxy never greeted
    int64_t last_check_ns;      //  Of stalled connections
} s_scale_t;


static bool
s_parse_endpoint (const char *endpoint, struct sockaddr_in *address)
{
    char host [64];
    int port;
    if (sscanf (endpoint, "tcp://%63[0-9.]:%d", host, &port) != 2
    ||  port < 1 || port > 65535)
        return false;
    memset (address, 0, sizeof *address);
    address->sin_family = AF_INET;
    address->sin_port = htons ((uint16_t) port);
    return inet_pton (AF_INET, host, &address->sin_addr) == 1;
}

static bool
s_args (int argc, char *argv [], s_opts_t *opts)
{
    static const struct option options [] = {
        { "frontend", required_argument, NULL, 'f' },
        { "backend", required_argument, NULL, 'b' },
        { "control", required_argument, NULL, 'c' },
        { "pid", required_argument, NULL, 'P' },
        { "pairs", required_argument, NULL, 'n' },
        { "idle-ms", required_argument, NULL, 'i' },
        { "churn-ms", required_argument, NULL, 'r' },
        { "churn-slots", required_argument, NULL, 'k' },
        { "window", required_argument, NULL, 'w' },
        { "timeout-ms", required_argument, NULL, 't' },
        { NULL, 0, NULL, 0 }
    };
    *opts = (s_opts_t) { .pairs = 10000, .idle_ms = 10000, .churn_ms = 3000,
                         .churn_slots = 64, .window = 64, .timeout_ms = 120000 };
    int code;
    while ((code = getopt_long (argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        if (code == 'f') opts->endpoint [S_CLIENT] = optarg;
        else if (code == 'b') opts->endpoint [S_WORKER] = optarg;
        else if (code == 'c') opts->control = optarg;
        else if (code == 'P') ok = sq_bench_parse_long (optarg, 1L << 30, &opts->pid);
        else if (code == 'n') ok = sq_bench_parse_long (optarg, 100000, &opts->pairs);
        else if (code == 'i') ok = sq_bench_parse_long (optarg, 600000, &opts->idle_ms);
        else if (code == 'r') ok = sq_bench_parse_long (optarg, 600000, &opts->churn_ms);
        else if (code == 'k') ok = sq_bench_parse_long (optarg, 10000, &opts->churn_slots);
        else if (code == 'w') ok = sq_bench_parse_long (optarg, 10000, &opts->window);
        else if (code == 't') ok = sq_bench_parse_long (optarg, 3600000, &opts->timeout_ms);
        else ok = false;
        if (!ok)
            return false;
    }
    return opts->endpoint [0] && opts->endpoint [1] && opts->control && opts->pid;
}


//  The NULL greeting of a ZMTP 3.1 peer: signature, version 3.1,
//  "NULL" padded to 20 bytes, as-server 0, 31 bytes of filler
static void
s_greeting_init (uint8_t *greeting)
{
    memset (greeting, 0, S_GREETING);
    greeting [0] = 0xFF;
    greeting [9] = 0x7F;
    greeting [10] = 0x03;
    greeting [11] = 0x01;
    memcpy (greeting + 12, "NULL", 4);
}


//  --------------------------------------------------------------------------
//  One peer

//  Closes with an RST (linger 0): thousands of hang-ups must not leave
//  sockets in TIME_WAIT holding the loopback's ephemeral ports
static void
s_close (s_scale_t *self, s_peer_t *peer)
{
    if (peer->state == S_CLOSED)
        return;
    struct linger abort_close = { 1, 0 };
    setsockopt (peer->fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof abort_close);
    close (peer->fd);
    if (peer->got >= S_PREFIX)
        self->greeted [peer->side]--;
    if (peer->state == S_PAIRED)
        self->paired [peer->side]--;
    peer->state = S_CLOSED;
    peer->fd = -1;
    peer->got = 0;
    self->open--;
}

static bool
s_open (s_scale_t *self, size_t index)
{
    s_peer_t *peer = &self->peers [index];
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf (stderr, "sq_bench scale: socket: %s\n", strerror (errno));
        return false;
    }
    const struct sockaddr_in *address = &self->address [peer->side];
    if (connect (fd, (const struct sockaddr *) address, sizeof *address) != 0
    &&  errno != EINPROGRESS) {
        fprintf (stderr, "sq_bench scale: connect: %s\n", strerror (errno));
        close (fd);
        return false;
    }
    //  A slot closed and dialled again within one batch of events must not
    //  take the old socket's events for its own
    peer->generation++;
    struct epoll_event event = {
        .events = EPOLLOUT | EPOLLIN,
        .data.u64 = (uint64_t) peer->generation << 32 | index
    };
    epoll_ctl (self->epoll, EPOLL_CTL_ADD, fd, &event);
    peer->fd = fd;
    peer->dialled_ns = sq_bench_now_ns ();
    peer->state = S_CONNECTING;
    peer->got = 0;
    self->open++;
    return true;
}

//  The connection is up: send the whole greeting at once (the proxy takes
//  any chunking) and from now on only wait for bytes
static void
s_on_connected (s_scale_t *self, s_peer_t *peer, size_t index)
{
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt (peer->fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error || send (peer->fd, self->greeting, S_GREETING, MSG_NOSIGNAL) != S_GREETING) {
        self->failures++;
        s_close (self, peer);
        return;
    }
    struct epoll_event event = {
        .events = EPOLLIN,
        .data.u64 = (uint64_t) peer->generation << 32 | index
    };
    epoll_ctl (self->epoll, EPOLL_CTL_MOD, peer->fd, &event);
    peer->state = S_WAITING;
}

//  A peer was paired. In phase 2 a client hangs up at once and dials again.
static void
s_on_paired (s_scale_t *self, s_peer_t *peer, size_t index)
{
    peer->state = S_PAIRED;
    self->paired [peer->side]++;
    if (self->churn && peer->side == S_CLIENT) {
        self->churn_pairs++;
        s_close (self, peer);
        s_open (self, index);
    }
}

//  The proxy closed the connection. Expected only for a phase-2 worker
//  slot whose client left; that slot dials again, as libzmq would.
static void
s_on_closed (s_scale_t *self, s_peer_t *peer, size_t index)
{
    bool expected = self->churn && peer->side == S_WORKER && peer->state == S_PAIRED;
    if (!expected)
        self->failures++;
    s_close (self, peer);
    if (self->churn)
        s_open (self, index);
}

//  The partner's greeting is in: the peer sends its READY command
static bool
s_send_ready (s_scale_t *self, s_peer_t *peer)
{
    if (send (peer->fd, SQ_BENCH_NULL_READY, S_READY, MSG_NOSIGNAL) == S_READY)
        return true;
    self->failures++;
    s_close (self, peer);
    return false;
}

static void
s_on_readable (s_scale_t *self, s_peer_t *peer, size_t index)
{
    uint8_t data [S_FULL];
    //  A paired peer expects nothing more: read one byte to see an EOF
    size_t want = peer->got < S_FULL? (size_t) (S_FULL - peer->got): 1;
    ssize_t size = recv (peer->fd, data, want, 0);
    if (size < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (size <= 0 || peer->got == S_FULL) {
        s_on_closed (self, peer, index);
        return;
    }
    for (ssize_t at = 0; at < size; at++) {
        size_t offset = peer->got + (size_t) at;
        if (offset < S_PREFIX && data [at] != s_prefix [offset]) {
            self->failures++;
            s_close (self, peer);
            return;
        }
    }
    bool was_greeted = peer->got >= S_PREFIX;
    bool had_greeting = peer->got >= S_GREETING;
    peer->got += (uint8_t) size;
    if (!was_greeted && peer->got >= S_PREFIX)
        self->greeted [peer->side]++;
    if (!had_greeting && peer->got >= S_GREETING && !s_send_ready (self, peer))
        return;
    if (peer->got == S_FULL)
        s_on_paired (self, peer, index);
}

//  Waits up to wait_ms for events and serves them
static void
s_poll (s_scale_t *self, int wait_ms)
{
    struct epoll_event events [S_EVENTS];
    int count = epoll_wait (self->epoll, events, S_EVENTS, wait_ms);
    for (int at = 0; at < count; at++) {
        size_t index = (size_t) (events [at].data.u64 & 0xFFFFFFFF);
        s_peer_t *peer = &self->peers [index];
        if ((uint32_t) (events [at].data.u64 >> 32) != peer->generation)
            continue;
        if (peer->state == S_CONNECTING)
            s_on_connected (self, peer, index);
        else
        if (peer->state != S_CLOSED)
            s_on_readable (self, peer, index);
    }
}


//  The proxy greets a new connection within a millisecond or two. One it
//  has not greeted after S_STALL_NS never will be: TCP accepted it but the
//  proxy missed the connection (see bench/README.md). Such a peer hangs up
//  and dials again, and is counted, so that the figures still come out.
//  Looks at most every 100 ms, over peers [first, end).
static void
s_redial_stalled (s_scale_t *self, size_t first, size_t end)
{
    int64_t now = sq_bench_now_ns ();
    if (now - self->last_check_ns < 100000000L)
        return;
    self->last_check_ns = now;
    for (size_t index = first; index < end; index++) {
        s_peer_t *peer = &self->peers [index];
        if ((peer->state == S_CONNECTING || peer->state == S_WAITING)
        &&  peer->got < S_PREFIX && now - peer->dialled_ns > S_STALL_NS) {
            self->redials++;
            s_close (self, peer);
            s_open (self, index);
        }
    }
}


//  --------------------------------------------------------------------------
//  Phases

static long long
s_stats (s_scale_t *self, const char *group, const char *key)
{
    return sq_bench_stats (self->context, self->opts.control, group, key);
}

//  Opens peers [first, first + count) of a side, keeping at most `window`
//  of them short of `done` (greeted for workers, paired for clients), so
//  the proxy's accept backlog never overflows. False on a timeout.
static bool
s_dial_all (s_scale_t *self, size_t first, size_t count, int side, int64_t deadline)
{
    size_t *done = side == S_WORKER? self->greeted: self->paired;
    size_t base = done [side];
    size_t opened = 0;
    while (done [side] - base < count) {
        while (opened < count && opened - (done [side] - base) < (size_t) self->opts.window) {
            self->peers [first + opened].side = (uint8_t) side;
            if (!s_open (self, first + opened))
                return false;
            opened++;
        }
        if (sq_bench_now_ns () > deadline || self->failures)
            return false;
        s_poll (self, 10);
        s_redial_stalled (self, first, first + opened);
    }
    return true;
}

//  Polls STATS until group.key reaches want; false on a timeout
static bool
s_wait_stats (s_scale_t *self, const char *group, const char *key,
              long long want, int64_t deadline)
{
    while (s_stats (self, group, key) != want) {
        if (sq_bench_now_ns () > deadline)
            return false;
        s_poll (self, 20);
    }
    return true;
}

static void
s_report (const char *key, double value)
{
    printf ("scale,%s,%.6g\n", key, value);
}

//  Phase 1: N idle pairs
static bool
s_idle_pairs (s_scale_t *self)
{
    size_t pairs = (size_t) self->opts.pairs;
    int pid = (int) self->opts.pid;
    int64_t deadline = sq_bench_now_ns () + self->opts.timeout_ms * 1000000L;
    long rss_start = sq_bench_proc_kib (pid, "VmRSS");
    int64_t start = sq_bench_now_ns ();
    if (!s_dial_all (self, pairs, pairs, S_WORKER, deadline)
    ||  !s_wait_stats (self, "workers", "idle", (long long) pairs, deadline)) {
        fprintf (stderr, "sq_bench scale: %zu of %zu workers idle\n",
                 self->greeted [S_WORKER], pairs);
        return false;
    }
    int64_t workers_done = sq_bench_now_ns ();
    if (!s_dial_all (self, 0, pairs, S_CLIENT, deadline)) {
        fprintf (stderr, "sq_bench scale: %zu of %zu clients paired\n",
                 self->paired [S_CLIENT], pairs);
        return false;
    }
    while (self->paired [S_WORKER] < pairs && sq_bench_now_ns () < deadline)
        s_poll (self, 10);
    int64_t done = sq_bench_now_ns ();
    long long active = s_stats (self, "pairs", "active");
    long rss_pairs = sq_bench_proc_kib (pid, "VmRSS");
    s_report ("pairs", (double) pairs);
    s_report ("pairs_active", (double) active);
    s_report ("establish_s", (double) (done - start) / 1e9);
    s_report ("workers_idle_s", (double) (workers_done - start) / 1e9);
    s_report ("clients_paired_s", (double) (done - workers_done) / 1e9);
    s_report ("connections_per_s", 2.0 * (double) pairs / ((double) (done - start) / 1e9));
    s_report ("redials", (double) self->redials);
    s_report ("rss_start_kib", (double) rss_start);
    s_report ("rss_pairs_kib", (double) rss_pairs);
    s_report ("rss_per_conn_kib", (double) (rss_pairs - rss_start) / (2.0 * (double) pairs));
    return self->paired [S_WORKER] == pairs && active == (long long) pairs;
}

//  Phase 1, continued: the proxy's CPU while every connection is idle
static void
s_idle_cpu (s_scale_t *self)
{
    int pid = (int) self->opts.pid;
    double cpu_start = sq_bench_proc_cpu (pid);
    int64_t start = sq_bench_now_ns ();
    int64_t end = start + self->opts.idle_ms * 1000000L;
    while (sq_bench_now_ns () < end)
        s_poll (self, 100);
    double seconds = (double) (sq_bench_now_ns () - start) / 1e9;
    double cpu = sq_bench_proc_cpu (pid) - cpu_start;
    s_report ("idle_s", seconds);
    s_report ("idle_cpu_s", cpu);
    s_report ("idle_cpu_pct", 100.0 * cpu / seconds);
    s_report ("hwm_kib", (double) sq_bench_proc_kib (pid, "VmHWM"));
}

//  Hangs up every peer and waits for the proxy to have closed them all
static bool
s_close_all (s_scale_t *self, const char *key)
{
    int64_t start = sq_bench_now_ns ();
    self->churn = false;
    for (size_t index = 0; index < self->count; index++)
        s_close (self, &self->peers [index]);
    int64_t deadline = start + 60000000000L;
    bool ok = s_wait_stats (self, "frontend", "connections", 0, deadline)
           && s_wait_stats (self, "backend", "connections", 0, deadline);
    s_report (key, (double) (sq_bench_now_ns () - start) / 1e9);
    return ok;
}

//  Phase 2: clients hang up once paired, worker slots dial again
static bool
s_pairing_rate (s_scale_t *self)
{
    size_t slots = (size_t) self->opts.churn_slots;
    int pid = (int) self->opts.pid;
    self->churn = true;
    for (size_t index = 0; index < 2 * slots; index++) {
        self->peers [index].side = index < slots? S_WORKER: S_CLIENT;
        if (!s_open (self, index))
            return false;
    }
    int64_t warm = sq_bench_now_ns () + S_CHURN_WARMUP_NS;
    while (sq_bench_now_ns () < warm) {
        s_poll (self, 10);
        s_redial_stalled (self, 0, 2 * slots);
    }
    uint64_t pairs_start = self->churn_pairs;
    uint64_t redials_start = self->redials;
    long long total_start = s_stats (self, "pairs", "total");
    double cpu_start = sq_bench_proc_cpu (pid);
    int64_t start = sq_bench_now_ns ();
    int64_t end = start + self->opts.churn_ms * 1000000L;
    while (sq_bench_now_ns () < end) {
        s_poll (self, 10);
        s_redial_stalled (self, 0, 2 * slots);
    }
    double seconds = (double) (sq_bench_now_ns () - start) / 1e9;
    double cpu = sq_bench_proc_cpu (pid) - cpu_start;
    uint64_t pairs = self->churn_pairs - pairs_start;
    long long total_end = s_stats (self, "pairs", "total");
    s_report ("churn_slots", (double) slots);
    s_report ("churn_s", seconds);
    s_report ("churn_pairs", (double) pairs);
    s_report ("pairing_rate", (double) pairs / seconds);
    s_report ("proxy_pairs", (double) (total_end - total_start));
    s_report ("churn_cpu_s", cpu);
    s_report ("cpu_us_per_pairing", pairs? 1e6 * cpu / (double) pairs: -1);
    s_report ("churn_redials", (double) (self->redials - redials_start));
    return pairs > 0;
}

static bool
s_scale_init (s_scale_t *self, const s_opts_t *opts)
{
    memset (self, 0, sizeof *self);
    self->opts = *opts;
    if (!s_parse_endpoint (opts->endpoint [S_CLIENT], &self->address [S_CLIENT])
    ||  !s_parse_endpoint (opts->endpoint [S_WORKER], &self->address [S_WORKER])) {
        fprintf (stderr, "sq_bench scale: endpoints must be tcp://IPv4:PORT\n");
        return false;
    }
    s_greeting_init (self->greeting);
    size_t count = (size_t) (2 * opts->pairs);
    if (count < (size_t) (2 * opts->churn_slots))
        count = (size_t) (2 * opts->churn_slots);
    long want = (long) count + 64;
    long limit = sq_bench_raise_nofile (want);
    if (limit < want) {
        fprintf (stderr, "sq_bench scale: need %ld open files, the limit is %ld\n",
                 want, limit);
        return false;
    }
    self->peers = calloc (count, sizeof (s_peer_t));
    self->count = count;
    self->epoll = epoll_create1 (EPOLL_CLOEXEC);
    self->context = zmq_ctx_new ();
    return self->peers && self->epoll >= 0 && self->context;
}

int
sq_bench_scale (int argc, char *argv [])
{
    s_opts_t opts;
    if (!s_args (argc, argv, &opts)) {
        fprintf (stderr, "sq_bench scale: bad arguments (see sq_bench --help)\n");
        return 2;
    }
    s_scale_t self;
    bool ok = s_scale_init (&self, &opts);
    if (ok && (ok = s_idle_pairs (&self)))
        s_idle_cpu (&self);
    if (ok)
        ok = s_close_all (&self, "teardown_s");
    if (ok)
        ok = s_pairing_rate (&self) && s_close_all (&self, "churn_teardown_s");
    s_report ("failures", (double) self.failures);
    if (self.epoll >= 0)
        close (self.epoll);
    if (self.context)
        zmq_ctx_term (self.context);
    free (self.peers);
    return ok? 0: 1;
}
