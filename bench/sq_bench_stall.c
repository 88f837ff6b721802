/*  =========================================================================
    sq_bench_stall - a worker that reads nothing for a while, while its
                     client sends one large message

        sq_bench stall --frontend EP --backend EP --control EP --pid PID
                       [--ms MS] [--size BYTES] [--label TEXT]

    Needs a running proxy and an echo worker with one slot dialled in and
    idle (sq_bench worker --connect BACKEND --slots 1). Then:

    1. Baseline, MS long: a neighbouring pair (a DEALER client of the echo
       slot) with one 1 KiB request in flight. Round trips a second; the
       proxy's RSS.
    2. Stall, MS long: a raw worker dials in and does the ZMTP NULL
       handshake by hand, a DEALER client pairs with it and sends one
       message of BYTES (32 MiB), and the raw worker reads nothing.
       Measured: the neighbour's round trips a second, the proxy's RSS
       (sampled every 50 ms, and VmHWM).
    3. The raw worker reads: the whole message, checked byte for byte, or
       the end of its connection if the proxy closed the pair.

    Prints one line of figures for bench/run.sh:
        stall,LABEL,base_rtps,stall_rtps,rate_ratio,rss_base_kib,
              rss_peak_kib,growth_kib,whole,read_ms,closed_slow
    Exits 1 when a set-up step did not happen in time.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <zmq.h>
#include "sq_bench.h"

#define S_REQUEST_SIZE 1024
#define S_SAMPLE_MS 50
#define S_SETUP_MS 20000

typedef struct {
    const char *frontend;
    const char *backend;
    const char *control;
    long pid;
    long ms;
    long size;
    const char *label;
} s_opts_t;

//  The neighbouring pair's client, on its own thread and context
typedef struct {
    const char *endpoint;
    atomic_bool stop;
    atomic_bool answered;
    atomic_llong round_trips;
} s_echo_t;

static bool
s_args (int argc, char *argv [], s_opts_t *opts)
{
    static const struct option options [] = {
        { "frontend", required_argument, NULL, 'f' },
        { "backend", required_argument, NULL, 'b' },
        { "control", required_argument, NULL, 'c' },
        { "pid", required_argument, NULL, 'p' },
        { "ms", required_argument, NULL, 'm' },
        { "size", required_argument, NULL, 's' },
        { "label", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    *opts = (s_opts_t) { .ms = 3000, .size = 32L * 1024 * 1024, .label = "proxy" };
    int code;
    while ((code = getopt_long (argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        if (code == 'f') opts->frontend = optarg;
        else if (code == 'b') opts->backend = optarg;
        else if (code == 'c') opts->control = optarg;
        else if (code == 'p') ok = sq_bench_parse_long (optarg, 1L << 30, &opts->pid);
        else if (code == 'm') ok = sq_bench_parse_long (optarg, 600000, &opts->ms);
        else if (code == 's') ok = sq_bench_parse_long (optarg, 1L << 30, &opts->size);
        else if (code == 'l') opts->label = optarg;
        else ok = false;
        if (!ok)
            return false;
    }
    return opts->frontend && opts->backend && opts->control && opts->pid > 0;
}

static int64_t
s_now_ms (void)
{
    return sq_bench_now_ns () / 1000000;
}

static void
s_sleep_ms (long ms)
{
    struct timespec pause = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep (&pause, NULL);
}

//  -------------------------------------------------------------------------
//  The neighbour: round trips, one at a time, as fast as they go

static void *
s_echo_thread (void *arg)
{
    s_echo_t *echo = arg;
    void *context = zmq_ctx_new ();
    void *client = zmq_socket (context, ZMQ_DEALER);
    int linger = 0, timeout = 200;
    zmq_setsockopt (client, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (client, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect (client, echo->endpoint);
    char request [S_REQUEST_SIZE], reply [S_REQUEST_SIZE];
    memset (request, 'n', sizeof request);
    bool pending = false;
    while (!atomic_load (&echo->stop)) {
        if (!pending)
            pending = zmq_send (client, request, sizeof request, 0) == sizeof request;
        if (pending && zmq_recv (client, reply, sizeof reply, 0) == sizeof reply) {
            pending = false;
            atomic_store (&echo->answered, true);
            atomic_fetch_add (&echo->round_trips, 1);
        }
    }
    zmq_close (client);
    zmq_ctx_term (context);
    return NULL;
}

//  Round trips over ms, and the proxy's peak RSS sampled meanwhile
static long long
s_measure (s_echo_t *echo, long pid, long ms, long *rss_peak)
{
    long long before = atomic_load (&echo->round_trips);
    int64_t end = s_now_ms () + ms;
    while (s_now_ms () < end) {
        long rss = sq_bench_proc_kib ((int) pid, "VmRSS");
        if (rss > *rss_peak)
            *rss_peak = rss;
        s_sleep_ms (S_SAMPLE_MS);
    }
    return atomic_load (&echo->round_trips) - before;
}

//  -------------------------------------------------------------------------
//  The raw worker: ZMTP 3.0 NULL by hand, then bytes

static bool
s_recv_all (int fd, void *data, size_t size, int timeout_ms)
{
    size_t got = 0;
    int64_t deadline = s_now_ms () + timeout_ms;
    while (got < size && s_now_ms () < deadline) {
        struct pollfd item = { fd, POLLIN, 0 };
        if (poll (&item, 1, 100) <= 0)
            continue;
        ssize_t chunk = recv (fd, (uint8_t *) data + got, size - got, 0);
        if (chunk <= 0)
            return false;
        got += (size_t) chunk;
    }
    return got == size;
}

//  Dials the backend, reads the proxy's 11 bytes and sends a NULL greeting
static int
s_raw_dial (const char *endpoint)
{
    char host [64];
    int port;
    struct sockaddr_in address = { .sin_family = AF_INET };
    if (sscanf (endpoint, "tcp://%63[0-9.]:%d", host, &port) != 2
    ||  inet_pton (AF_INET, host, &address.sin_addr) != 1)
        return -1;
    address.sin_port = htons ((uint16_t) port);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint8_t hello [11], greeting [64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0 };
    memcpy (greeting + 12, "NULL", 4);
    if (fd < 0 || connect (fd, (struct sockaddr *) &address, sizeof address) != 0
    ||  !s_recv_all (fd, hello, sizeof hello, S_SETUP_MS)
    ||  send (fd, greeting, sizeof greeting, MSG_NOSIGNAL) != sizeof greeting) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

//  Once paired: the client's greeting tail, READY both ways
static bool
s_raw_handshake (int fd)
{
    uint8_t tail [53], header [2], body [255];
    static const uint8_t ready [] = {
        0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't', '-',
        'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E', 'A', 'L', 'E', 'R'
    };
    return s_recv_all (fd, tail, sizeof tail, S_SETUP_MS)
        && send (fd, ready, sizeof ready, MSG_NOSIGNAL) == sizeof ready
        && s_recv_all (fd, header, 2, S_SETUP_MS) && (header [0] & 0x04)
        && s_recv_all (fd, body, header [1], S_SETUP_MS);
}

//  Byte i of the big message
static uint8_t
s_byte (size_t index)
{
    return (uint8_t) (index * 31 + (index >> 12));
}

//  Reads the big message; true when it arrived whole and exact
static bool
s_read_message (int fd, size_t size)
{
    uint8_t header [9];
    if (!s_recv_all (fd, header, 9, S_SETUP_MS) || header [0] != 0x02)
        return false;
    uint64_t announced = 0;
    for (int index = 1; index < 9; index++)
        announced = (announced << 8) | header [index];
    uint8_t *data = malloc (size);
    bool whole = data && announced == size && s_recv_all (fd, data, size, S_SETUP_MS);
    for (size_t index = 0; whole && index < size; index++)
        whole = data [index] == s_byte (index);
    free (data);
    return whole;
}

//  -------------------------------------------------------------------------

//  Polls STATS until group.key == want
static bool
s_wait_stats (void *context, const s_opts_t *opts, const char *group, const char *key,
              long long want)
{
    int64_t deadline = s_now_ms () + S_SETUP_MS;
    while (s_now_ms () < deadline) {
        if (sq_bench_stats (context, opts->control, group, key) == want)
            return true;
        s_sleep_ms (20);
    }
    fprintf (stderr, "sq_bench stall: STATS %s.%s never reached %lld\n", group, key, want);
    return false;
}

int
sq_bench_stall (int argc, char *argv [])
{
    s_opts_t opts;
    if (!s_args (argc, argv, &opts)) {
        fprintf (stderr, "sq_bench stall: bad arguments (see sq_bench --help)\n");
        return 2;
    }
    void *context = zmq_ctx_new ();
    s_echo_t echo = { .endpoint = opts.frontend };
    pthread_t thread;
    pthread_create (&thread, NULL, s_echo_thread, &echo);
    int64_t deadline = s_now_ms () + S_SETUP_MS;
    while (!atomic_load (&echo.answered) && s_now_ms () < deadline)
        s_sleep_ms (10);
    int code = 1;
    int worker = -1;
    void *client = NULL;
    uint8_t *message = NULL;
    if (!atomic_load (&echo.answered)) {
        fprintf (stderr, "sq_bench stall: the neighbouring pair never answered\n");
        goto done;
    }
    long base_peak = 0;
    long long base_trips = s_measure (&echo, opts.pid, opts.ms, &base_peak);
    long rss_base = sq_bench_proc_kib ((int) opts.pid, "VmRSS");
    //  The raw worker, then the client that pairs with it
    worker = s_raw_dial (opts.backend);
    if (worker < 0 || !s_wait_stats (context, &opts, "workers", "idle", 1))
        goto done;
    client = zmq_socket (context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (client, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect (client, opts.frontend);
    if (!s_raw_handshake (worker)) {
        fprintf (stderr, "sq_bench stall: no handshake with the client\n");
        goto done;
    }
    message = malloc ((size_t) opts.size);
    for (size_t index = 0; index < (size_t) opts.size; index++)
        message [index] = s_byte (index);
    zmq_send (client, message, (size_t) opts.size, 0);
    long stall_peak = rss_base;
    long long stall_trips = s_measure (&echo, opts.pid, opts.ms, &stall_peak);
    long hwm = sq_bench_proc_kib ((int) opts.pid, "VmHWM");
    if (hwm > stall_peak)
        stall_peak = hwm;
    int64_t started = s_now_ms ();
    bool whole = s_read_message (worker, (size_t) opts.size);
    long long read_ms = s_now_ms () - started;
    long long closed_slow = sq_bench_stats (context, opts.control, "closed", "slow_peer");
    double seconds = opts.ms / 1000.0;
    printf ("stall,%s,%.1f,%.1f,%.3f,%ld,%ld,%ld,%d,%lld,%lld\n", opts.label,
            base_trips / seconds, stall_trips / seconds,
            base_trips? (double) stall_trips / (double) base_trips: 0.0,
            rss_base, stall_peak, stall_peak - rss_base, whole? 1: 0, read_ms, closed_slow);
    code = 0;
done:
    atomic_store (&echo.stop, true);
    pthread_join (thread, NULL);
    free (message);
    if (worker >= 0)
        close (worker);
    if (client)
        zmq_close (client);
    zmq_ctx_term (context);
    return code;
}
