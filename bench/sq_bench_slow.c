/*  =========================================================================
    sq_bench_slow - what a slow-peer policy costs, and the proxy's memory
                    under a peer that never reads

        sq_bench slow --frontend EP --backend EP --control EP --pid PID
                      [--pairs N] [--ms MS] [--peer-hwm N] [--label TEXT]

    Needs a running proxy (--max-pair-buffer, --slow-peer, --peer-hwm as
    wanted) and an echo worker whose N slots are dialled in and idle
    (sq_bench worker --connect BACKEND --slots N). Then, each phase MS long:

    1. Baseline: N DEALER clients, each with one 1 KiB request in flight.
       Round trips a second, the proxy's RSS.
    2. Slow peer: a DEALER worker that never reads (ZMQ_RCVHWM 4, a small
       ZMQ_RCVBUF) dials in. Every echo slot is busy, so it is the only
       idle slot, and the flooding client that connects next is paired
       with it. The flooder sends 64 KiB messages from its own thread as
       fast as its socket takes them. Measured: the other pairs' round
       trips a second, the proxy's peak RSS and held bytes (sampled every
       50 ms), STATS counters, the bytes the flooder got out.
    3. Under --slow-peer block only: the slow worker starts reading while
       the flood goes on, for MS, then the flooder stops, for MS. Timed:
       when the flood and the other pairs move again, and when the other
       pairs' rate is back to half the baseline or more.

    Prints two lines, markdown rows that bench/run.sh gathers in slow.md:
        main|| config | ... |
        recovery|| config | ... |          (block only)
    Exits 1 when a step did not happen in time or the proxy went away.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <zmq.h>
#include "sq_bench.h"

#define S_REQUEST_SIZE 1024
#define S_FLOOD_SIZE (64 * 1024)
//  The slow worker's socket: few messages, a small kernel buffer, so the
//  bytes it does not take pile up in the proxy rather than in front of it
#define S_SLOW_RCVHWM 4
#define S_SLOW_RCVBUF 4096
//  The flooder queues little itself, so what it counts as sent has left
#define S_FLOOD_SNDHWM 4
//  libzmq queues up to --peer-hwm chunks per connection and direction; a
//  chunk is one read of its stream engine, at most 8 KiB
#define S_CHUNK_KIB 8
//  Connections whose libzmq queues fill: the flooder's and the slow worker's
#define S_CONNS_INVOLVED 2
//  Expected RSS beyond base + bound + libzmq queues: allocator rounding
//  and arenas, message headers, the control socket's traffic
#define S_SLACK_KIB (4L * 1024)
#define S_SAMPLE_MS 50
//  Sampling while the slow worker catches up: finer, to time it
#define S_RECOVER_SAMPLE_MS 10
//  Samples over which the echo rate is compared with half the baseline
#define S_RATE_SAMPLES 5
//  How long a set-up step may take
#define S_SETUP_MS 20000
#define S_STATS_MAX 16384

typedef struct {
    const char *frontend;
    const char *backend;
    const char *control;
    long pid;
    long pairs;
    long ms;
    long peer_hwm;
    const char *label;
} s_opts_t;

//  The echo clients, on their own thread and context
typedef struct {
    const char *endpoint;
    long pairs;
    atomic_bool stop;
    atomic_long answered;       //  Clients that had their first reply
    atomic_llong round_trips;
    atomic_llong bad;           //  Replies of the wrong size
} s_echo_t;

//  The flooding client, on its own thread and context
typedef struct {
    const char *endpoint;
    atomic_bool stop;
    atomic_llong bytes;         //  Taken by its socket
} s_flood_t;

//  The worker that never reads, until phase 3 gives it a reading thread
typedef struct {
    void *context;
    void *socket;
    pthread_t thread;
    bool reading;
    atomic_bool stop;
} s_slow_t;

//  The proxy's STATS, the figures used here
typedef struct {
    long long held;
    long long max_pair;
    long long pairs_total;
    long long idle;
    long long closed_slow;
    long long stops_front;
    long long stops_back;
    bool block;
} s_stats_t;

//  One phase's figures
typedef struct {
    double seconds;
    long long round_trips;
    long rss_peak_kib;
    long long held_peak;
    double cpu_s;               //  The proxy's, over the phase
    long long flood_bytes;
} s_phase_t;

typedef struct {
    s_opts_t opts;
    void *context;              //  STATS requests
    s_echo_t echo;
    s_flood_t flood;
    s_slow_t slow;
    pthread_t echo_thread;
    pthread_t flood_thread;
    bool echoing;
    bool flooding;
} s_bench_t;


static bool
s_args (int argc, char *argv [], s_opts_t *opts)
{
    static const struct option options [] = {
        { "frontend", required_argument, NULL, 'f' },
        { "backend", required_argument, NULL, 'b' },
        { "control", required_argument, NULL, 'c' },
        { "pid", required_argument, NULL, 'P' },
        { "pairs", required_argument, NULL, 'p' },
        { "ms", required_argument, NULL, 'm' },
        { "peer-hwm", required_argument, NULL, 'h' },
        { "label", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    *opts = (s_opts_t) { .pairs = 20, .ms = 3000, .peer_hwm = 1000, .label = "-" };
    int code;
    while ((code = getopt_long (argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        if (code == 'f') opts->frontend = optarg;
        else if (code == 'b') opts->backend = optarg;
        else if (code == 'c') opts->control = optarg;
        else if (code == 'P') ok = sq_bench_parse_long (optarg, 1L << 30, &opts->pid);
        else if (code == 'p') ok = sq_bench_parse_long (optarg, 1000, &opts->pairs);
        else if (code == 'm') ok = sq_bench_parse_long (optarg, 600000, &opts->ms);
        else if (code == 'h') ok = sq_bench_parse_long (optarg, 1000000, &opts->peer_hwm);
        else if (code == 'l') opts->label = optarg;
        else ok = false;
        if (!ok)
            return false;
    }
    return opts->frontend && opts->backend && opts->control && opts->pid;
}

static void
s_sleep_ms (long ms)
{
    zmq_poll (NULL, 0, ms);
}

static double
s_mib (long long bytes)
{
    return (double) bytes / (1024.0 * 1024.0);
}

static void *
s_dealer (void *context, const char *endpoint)
{
    void *socket = zmq_socket (context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (socket, endpoint) != 0) {
        fprintf (stderr, "sq_bench slow: %s: %s\n", endpoint, zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    return socket;
}


//  --------------------------------------------------------------------------
//  Echo clients: one request in flight each, a new one for each reply

static void
s_echo_take (s_echo_t *self, void *socket, const char *request, bool *answered)
{
    char reply [S_REQUEST_SIZE + 1];
    int size;
    while ((size = zmq_recv (socket, reply, sizeof reply, ZMQ_DONTWAIT)) >= 0) {
        if (size != S_REQUEST_SIZE)
            atomic_fetch_add (&self->bad, 1);
        atomic_fetch_add (&self->round_trips, 1);
        if (!*answered) {
            *answered = true;
            atomic_fetch_add (&self->answered, 1);
        }
        zmq_send (socket, request, S_REQUEST_SIZE, 0);
    }
}

static void *
s_echo_run (void *argument)
{
    s_echo_t *self = argument;
    void *context = zmq_ctx_new ();
    zmq_pollitem_t *items = calloc ((size_t) self->pairs, sizeof *items);
    bool *answered = calloc ((size_t) self->pairs, sizeof *answered);
    char request [S_REQUEST_SIZE];
    memset (request, 'e', sizeof request);
    long opened = 0;
    for (; opened < self->pairs; opened++) {
        items [opened].socket = s_dealer (context, self->endpoint);
        if (!items [opened].socket)
            break;
        items [opened].events = ZMQ_POLLIN;
        //  Queued by the DEALER until its pair is made
        zmq_send (items [opened].socket, request, sizeof request, 0);
    }
    while (opened == self->pairs && !atomic_load (&self->stop)) {
        if (zmq_poll (items, (int) opened, 100) <= 0)
            continue;
        for (long index = 0; index < opened; index++)
            if (items [index].revents & ZMQ_POLLIN)
                s_echo_take (self, items [index].socket, request, &answered [index]);
    }
    for (long index = 0; index < opened; index++)
        zmq_close (items [index].socket);
    free (items);
    free (answered);
    zmq_ctx_term (context);
    return NULL;
}


//  --------------------------------------------------------------------------
//  The flooder: 64 KiB messages as fast as its socket takes them

static void *
s_flood_run (void *argument)
{
    s_flood_t *self = argument;
    void *context = zmq_ctx_new ();
    void *socket = zmq_socket (context, ZMQ_DEALER);
    int linger = 0, hwm = S_FLOOD_SNDHWM;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    char *payload = malloc (S_FLOOD_SIZE);
    memset (payload, 'f', S_FLOOD_SIZE);
    bool ok = zmq_connect (socket, self->endpoint) == 0;
    while (ok && !atomic_load (&self->stop)) {
        if (zmq_send (socket, payload, S_FLOOD_SIZE, ZMQ_DONTWAIT) == S_FLOOD_SIZE)
            atomic_fetch_add (&self->bytes, S_FLOOD_SIZE);
        else {
            //  Full: wait for room rather than spin, on shared CPUs
            zmq_pollitem_t item = { socket, 0, ZMQ_POLLOUT, 0 };
            zmq_poll (&item, 1, 10);
        }
    }
    free (payload);
    zmq_close (socket);
    zmq_ctx_term (context);
    return NULL;
}


//  --------------------------------------------------------------------------
//  The slow worker: dials in, and does not read until told to

static bool
s_slow_start (s_slow_t *self, const char *endpoint)
{
    self->context = zmq_ctx_new ();
    self->socket = zmq_socket (self->context, ZMQ_DEALER);
    int linger = 0, hwm = S_SLOW_RCVHWM, rcvbuf = S_SLOW_RCVBUF, no_timeout = 0;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->socket, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    //  It waits in the proxy, mid-handshake, until the flooder comes
    zmq_setsockopt (self->socket, ZMQ_HANDSHAKE_IVL, &no_timeout, sizeof no_timeout);
    return zmq_connect (self->socket, endpoint) == 0;
}

static void *
s_slow_read_run (void *argument)
{
    s_slow_t *self = argument;
    zmq_msg_t message;
    zmq_msg_init (&message);
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t item = { self->socket, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) <= 0)
            continue;
        //  Takes whatever waits, and drops it
        while (zmq_msg_recv (&message, self->socket, ZMQ_DONTWAIT) >= 0)
            ;
    }
    zmq_msg_close (&message);
    return NULL;
}

//  From here the socket belongs to the reading thread until it is joined
static bool
s_slow_read (s_slow_t *self)
{
    self->reading = pthread_create (&self->thread, NULL, s_slow_read_run, self) == 0;
    return self->reading;
}

static void
s_slow_stop (s_slow_t *self)
{
    if (self->reading) {
        atomic_store (&self->stop, true);
        pthread_join (self->thread, NULL);
    }
    if (self->socket)
        zmq_close (self->socket);
    if (self->context)
        zmq_ctx_term (self->context);
}


//  --------------------------------------------------------------------------
//  Watching the proxy

static bool
s_stats (s_bench_t *self, s_stats_t *stats)
{
    char json [S_STATS_MAX];
    if (sq_bench_stats_text (self->context, self->opts.control, json, sizeof json) <= 0)
        return false;
    *stats = (s_stats_t) {
        .held = sq_bench_json_int (json, "held", "bytes"),
        .max_pair = sq_bench_json_int (json, "held", "max_pair"),
        .pairs_total = sq_bench_json_int (json, "pairs", "total"),
        .idle = sq_bench_json_int (json, "workers", "idle"),
        .closed_slow = sq_bench_json_int (json, "closed", "slow_peer"),
        .stops_front = sq_bench_json_int (json, "frontend", "reading_stops"),
        .stops_back = sq_bench_json_int (json, "backend", "reading_stops"),
        .block = strstr (json, "\"slow_peer\":\"block\"") != NULL
    };
    return stats->held >= 0 && stats->pairs_total >= 0 && stats->closed_slow >= 0
        && stats->stops_front >= 0;
}

//  Polls STATS until workers.idle is want; false when it is not within
//  S_SETUP_MS
static bool
s_wait_idle (s_bench_t *self, long long want)
{
    int64_t deadline = sq_bench_now_ns () + (int64_t) S_SETUP_MS * 1000000;
    s_stats_t stats = { .idle = -1 };
    while (sq_bench_now_ns () < deadline) {
        if (s_stats (self, &stats) && stats.idle == want)
            return true;
        s_sleep_ms (20);
    }
    fprintf (stderr, "sq_bench slow: workers.idle never reached %lld (now %lld)\n",
             want, stats.idle);
    return false;
}

//  Runs one phase of ms: the echo clients' round trips, the proxy's CPU,
//  and its peak RSS and held bytes, sampled every S_SAMPLE_MS
static void
s_measure (s_bench_t *self, long ms, s_phase_t *phase)
{
    int pid = (int) self->opts.pid;
    *phase = (s_phase_t) { 0 };
    long long round_trips = atomic_load (&self->echo.round_trips);
    long long flood_bytes = atomic_load (&self->flood.bytes);
    double cpu = sq_bench_proc_cpu (pid);
    int64_t start = sq_bench_now_ns ();
    int64_t end = start + (int64_t) ms * 1000000;
    while (sq_bench_now_ns () < end) {
        long rss = sq_bench_proc_kib (pid, "VmRSS");
        if (rss > phase->rss_peak_kib)
            phase->rss_peak_kib = rss;
        s_stats_t stats;
        if (s_stats (self, &stats) && stats.held > phase->held_peak)
            phase->held_peak = stats.held;
        s_sleep_ms (S_SAMPLE_MS);
    }
    phase->seconds = (double) (sq_bench_now_ns () - start) / 1e9;
    phase->round_trips = atomic_load (&self->echo.round_trips) - round_trips;
    phase->flood_bytes = atomic_load (&self->flood.bytes) - flood_bytes;
    phase->cpu_s = sq_bench_proc_cpu (pid) - cpu;
}

static double
s_rate (const s_phase_t *phase)
{
    return phase->seconds > 0? (double) phase->round_trips / phase->seconds: 0;
}


//  --------------------------------------------------------------------------
//  The phases

//  Echo clients paired and answered, then a moment to settle
static bool
s_start_echo (s_bench_t *self)
{
    self->echo.endpoint = self->opts.frontend;
    self->echo.pairs = self->opts.pairs;
    self->echoing = pthread_create (&self->echo_thread, NULL, s_echo_run, &self->echo) == 0;
    int64_t deadline = sq_bench_now_ns () + (int64_t) S_SETUP_MS * 1000000;
    while (self->echoing && atomic_load (&self->echo.answered) < self->opts.pairs) {
        if (sq_bench_now_ns () > deadline) {
            fprintf (stderr, "sq_bench slow: %ld of %ld echo clients answered\n",
                     atomic_load (&self->echo.answered), self->opts.pairs);
            return false;
        }
        s_sleep_ms (10);
    }
    s_sleep_ms (500);
    return self->echoing;
}

//  The slow worker dials in as the only idle slot, then the flooder comes
//  and, having no other slot to take, is paired with it. Whether it was
//  is checked after the phase: under disconnect the pair may be gone
//  within milliseconds, and the phase should see them.
static bool
s_start_slow_pair (s_bench_t *self)
{
    s_stats_t stats;
    if (!s_stats (self, &stats)) {
        fprintf (stderr, "sq_bench slow: no STATS from %s\n", self->opts.control);
        return false;
    }
    if (stats.idle != 0) {
        fprintf (stderr, "sq_bench slow: %lld idle worker slots before the slow worker, "
                 "expected 0\n", stats.idle);
        return false;
    }
    if (!s_slow_start (&self->slow, self->opts.backend)
    ||  !s_wait_idle (self, 1))
        return false;
    self->flood.endpoint = self->opts.frontend;
    self->flooding = pthread_create (&self->flood_thread, NULL, s_flood_run, &self->flood) == 0;
    return self->flooding;
}

//  What the echo clients and the flooder did in a window: when each first
//  moved, and when the echo clients first ran at half their baseline rate
//  or more over the last S_RATE_SAMPLES samples
typedef struct {
    double flood_ms;            //  -1: not within the window
    double echo_ms;
    double half_rate_ms;
    double seconds;
    long long round_trips;
    long long flood_bytes;
} s_progress_t;

static void
s_watch_progress (s_bench_t *self, double base_rate, s_progress_t *progress)
{
    *progress = (s_progress_t) { .flood_ms = -1, .echo_ms = -1, .half_rate_ms = -1 };
    long long flood_start = atomic_load (&self->flood.bytes);
    long long echo_start = atomic_load (&self->echo.round_trips);
    int64_t start = sq_bench_now_ns ();
    int64_t end = start + (int64_t) self->opts.ms * 1000000;
    //  The last samples, oldest first: time and echo count
    int64_t times [S_RATE_SAMPLES + 1] = { start };
    long long counts [S_RATE_SAMPLES + 1] = { echo_start };
    int taken = 1;
    int64_t now = start;
    while (now < end) {
        s_sleep_ms (S_RECOVER_SAMPLE_MS);
        now = sq_bench_now_ns ();
        double since_ms = (double) (now - start) / 1e6;
        long long echo = atomic_load (&self->echo.round_trips);
        if (progress->flood_ms < 0 && atomic_load (&self->flood.bytes) > flood_start)
            progress->flood_ms = since_ms;
        if (progress->echo_ms < 0 && echo > echo_start)
            progress->echo_ms = since_ms;
        if (taken == S_RATE_SAMPLES + 1) {
            memmove (times, times + 1, S_RATE_SAMPLES * sizeof times [0]);
            memmove (counts, counts + 1, S_RATE_SAMPLES * sizeof counts [0]);
            taken--;
        }
        times [taken] = now;
        counts [taken++] = echo;
        double rate = (double) (echo - counts [0]) * 1e9 / (double) (now - times [0]);
        if (progress->half_rate_ms < 0 && taken == S_RATE_SAMPLES + 1 && rate >= base_rate / 2)
            progress->half_rate_ms = since_ms;
    }
    progress->seconds = (double) (now - start) / 1e9;
    progress->round_trips = atomic_load (&self->echo.round_trips) - echo_start;
    progress->flood_bytes = atomic_load (&self->flood.bytes) - flood_start;
}

static void
s_stop_flood (s_bench_t *self)
{
    if (self->flooding) {
        atomic_store (&self->flood.stop, true);
        pthread_join (self->flood_thread, NULL);
        self->flooding = false;
    }
}

static void
s_stop_all (s_bench_t *self)
{
    s_stop_flood (self);
    if (self->echoing) {
        atomic_store (&self->echo.stop, true);
        pthread_join (self->echo_thread, NULL);
    }
    s_slow_stop (&self->slow);
}


//  --------------------------------------------------------------------------
//  Report

//  RSS may grow by the pair's bound, plus what libzmq queues for the two
//  connections involved, each way, plus some slack
static long
s_expected_kib (const s_bench_t *self, long base_kib, long long max_pair)
{
    long queues = S_CONNS_INVOLVED * 2 * self->opts.peer_hwm * S_CHUNK_KIB;
    return base_kib + (long) (max_pair / 1024) + queues + S_SLACK_KIB;
}

static void
s_print_main (const s_bench_t *self, const s_phase_t *base, const s_phase_t *slow,
              const s_stats_t *before, const s_stats_t *after, long hwm_kib)
{
    long expected = s_expected_kib (self, base->rss_peak_kib, after->max_pair);
    long peak = slow->rss_peak_kib > hwm_kib? slow->rss_peak_kib: hwm_kib;
    printf ("main|| %s | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f | %s | %.2f | %.2f"
            " | %lld | %lld / %lld | %.0f %% / %.0f %% | %.1f |\n",
            self->opts.label, s_rate (base), s_rate (slow),
            (double) base->rss_peak_kib / 1024, (double) slow->rss_peak_kib / 1024,
            (double) hwm_kib / 1024, (double) expected / 1024,
            peak <= expected? "yes": "**no**",
            s_mib (slow->held_peak), s_mib (after->max_pair),
            after->closed_slow - before->closed_slow,
            after->stops_front - before->stops_front, after->stops_back - before->stops_back,
            100 * base->cpu_s / base->seconds, 100 * slow->cpu_s / slow->seconds,
            s_mib (slow->flood_bytes));
}

//  A time in ms, or "never" within the window
static void
s_print_progress_ms (double ms)
{
    if (ms < 0)
        printf (" never |");
    else
        printf (" %.0f |", ms);
}

static void
s_print_recovery (const s_bench_t *self, const s_progress_t *reading,
                  const s_progress_t *stopped, const s_stats_t *before,
                  const s_stats_t *after)
{
    printf ("recovery|| %s |", self->opts.label);
    s_print_progress_ms (reading->flood_ms);
    s_print_progress_ms (reading->echo_ms);
    s_print_progress_ms (reading->half_rate_ms);
    printf (" %.0f | %.1f | %lld |", (double) reading->round_trips / reading->seconds,
            s_mib (reading->flood_bytes) / reading->seconds,
            after->stops_front - before->stops_front);
    s_print_progress_ms (stopped->half_rate_ms);
    printf (" %.0f |\n", (double) stopped->round_trips / stopped->seconds);
}


//  --------------------------------------------------------------------------

//  Phase 3: the slow worker reads while the flood goes on, then the
//  flooder stops
static bool
s_run_recovery (s_bench_t *self, double base_rate, const s_stats_t *before)
{
    s_progress_t reading, stopped;
    s_stats_t during;
    if (!s_slow_read (&self->slow))
        return false;
    s_watch_progress (self, base_rate, &reading);
    if (!s_stats (self, &during))
        return false;
    s_stop_flood (self);
    s_watch_progress (self, base_rate, &stopped);
    s_print_recovery (self, &reading, &stopped, before, &during);
    return true;
}

//  The three phases; false when one could not be set up
static bool
s_run (s_bench_t *self)
{
    s_phase_t base, slow;
    s_stats_t before, after;
    if (!s_start_echo (self))
        return false;
    s_measure (self, self->opts.ms, &base);
    if (!s_stats (self, &before) || !s_start_slow_pair (self))
        return false;
    s_measure (self, self->opts.ms, &slow);
    long hwm_kib = sq_bench_proc_kib ((int) self->opts.pid, "VmHWM");
    if (!s_stats (self, &after))
        return false;
    if (after.pairs_total <= before.pairs_total) {
        fprintf (stderr, "sq_bench slow: the flooder was never paired\n");
        return false;
    }
    s_print_main (self, &base, &slow, &before, &after, hwm_kib);
    if (after.block && !s_run_recovery (self, s_rate (&base), &after))
        return false;
    if (atomic_load (&self->echo.bad))
        fprintf (stderr, "sq_bench slow: %lld echo replies of the wrong size\n",
                 (long long) atomic_load (&self->echo.bad));
    return atomic_load (&self->echo.bad) == 0;
}

int
sq_bench_slow (int argc, char *argv [])
{
    s_bench_t self = { 0 };
    if (!s_args (argc, argv, &self.opts)) {
        fprintf (stderr, "usage: sq_bench slow --frontend EP --backend EP --control EP "
                 "--pid PID [--pairs N] [--ms MS] [--peer-hwm N] [--label TEXT]\n");
        return 2;
    }
    self.context = zmq_ctx_new ();
    bool ok = s_run (&self);
    s_stop_all (&self);
    zmq_ctx_term (self.context);
    if (ok && kill ((int) self.opts.pid, 0) != 0) {
        fprintf (stderr, "sq_bench slow: the proxy (pid %ld) is gone\n", self.opts.pid);
        ok = false;
    }
    return ok? 0: 1;
}
