/*  =========================================================================
    test_liveness - disconnection strategies: heartbeats by name, pair idle
    timeout, pair lifetime, TCP keepalive, and closures counted by reason

    Peers that must be frozen run in child processes (this binary again,
    with --worker or --client), so SIGSTOP freezes them whole, heartbeat
    thread included; the proxy must then free their partners. A frozen
    process keeps its sockets open and its kernel keeps answering TCP:
    from the proxy's side it is exactly a half-open peer. A dead host is
    played by a worker in a network namespace whose link goes down (when
    this runs as root and `ip netns` works here; skipped otherwise).

    Each test starts its own proxy, and ends by checking that every
    connection the proxy closed was counted once, under one closed.*
    reason. Waits are bounded (S_DETECT_MS for a closure due within a
    second, SQ_WAIT_MS for anything else); where something must not
    happen, a quiet period is watched. The only other timing check is
    that a pair is not closed before its lifetime could have run out.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"
#include "streamq.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

SQ_TEST_DEFINE

#define S_FROZEN_IP     "127.0.0.2"     //  The worker that is frozen
#define S_OK_IP         "127.0.0.3"     //  The worker that carries on
#define S_CLIENT_IP     "127.0.0.4"     //  The client, aliased "C"
#define S_BEAT_MS       200             //  Heartbeat interval of the workers
//  Bound for a closure due within a second (3 x 200 ms heartbeats, a
//  500 ms idle timeout): the machine may be slow, the proxy must not be
#define S_DETECT_MS     5000
//  Bound for a dead host found by keepalive 1:1:2 (about 3 s)
#define S_KEEPALIVE_MS  15000
#define S_CHILDREN_MAX  8

//  The closure reasons STATS counts, as closed.<reason>
static const char *s_reasons [] = {
    "peer", "partner", "heartbeat", "idle_timeout", "lifetime", "greeting",
    "queue", "slow_peer", "shutdown", "other"
};
#define S_REASONS (sizeof s_reasons / sizeof s_reasons [0])

//  ---------------------------------------------------------------------
//  Peer processes: this binary with --worker or --client. What a failed
//  test leaves behind is cleaned up after it (s_cleanup).

static pid_t s_children [S_CHILDREN_MAX];
//  The network namespace and veth pair of the keepalive test, if made
static char s_netns [32];
static char s_veth [16];

typedef struct {
    bool client;                //  A client (DEALER) instead of a worker
    const char *endpoint;       //  The proxy's backend (or frontend)
    const char *source_ip;      //  Connect from this address, or NULL
    const char *name;           //  Replies are "<name>|<request>"
    const char *control;        //  libstreamq names it there, or NULL: no
                                //  libstreamq (then no heartbeats either)
    int heartbeat_ms;           //  libstreamq heartbeat interval
    int slots;                  //  zmq_connect calls on a worker's ROUTER
    const char *netns;          //  Network namespace to run in, or NULL
} s_child_config_t;

//  Starts a peer process; returns its pid. Everything the child needs
//  is prepared before fork: the parent has threads, so the child only
//  makes async-signal-safe calls before exec.
static pid_t
s_child_start (const s_child_config_t *config)
{
    char heartbeat [16], slots [16];
    snprintf (heartbeat, sizeof heartbeat, "%d", config->heartbeat_ms);
    snprintf (slots, sizeof slots, "%d", config->slots);
    const char *argv [] = {
        "test_liveness", config->client? "--client": "--worker", config->endpoint,
        config->source_ip? config->source_ip: "-", config->name,
        config->control? config->control: "-", heartbeat, slots,
        config->netns? config->netns: "-", NULL
    };
    int index = 0;
    while (index < S_CHILDREN_MAX && s_children [index])
        index++;
    SQ_CHECK (index < S_CHILDREN_MAX);
    //  Our own path, read before fork: under valgrind /proc/self/exe is
    //  valgrind's tool while readlink on it still gives the test binary
    char self [4096];
    ssize_t length = readlink ("/proc/self/exe", self, sizeof self - 1);
    SQ_CHECK_MSG (length > 0, "readlink: %s", strerror (errno));
    self [length] = 0;
    fflush (stdout);
    fflush (stderr);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        execv (self, (char **) argv);
        _exit (127);
    }
    SQ_CHECK_MSG (pid > 0, "fork: %s", strerror (errno));
    s_children [index] = pid;
    return pid;
}

//  Kills a peer process (frozen or not) and reaps it
static void
s_child_kill (pid_t pid)
{
    for (int index = 0; index < S_CHILDREN_MAX; index++)
        if (s_children [index] == pid && pid > 0) {
            kill (pid, SIGKILL);
            waitpid (pid, NULL, 0);
            s_children [index] = 0;
        }
}

//  Runs a command to completion; true if it exited 0. Prints its stderr
//  when it fails and `quiet` is false.
static bool
s_system (bool quiet, const char *first, ...)
{
    const char *argv [32] = { first };
    int count = 1;
    va_list args;
    va_start (args, first);
    const char *arg;
    while ((arg = va_arg (args, const char *)) && count < 31)
        argv [count++] = arg;
    va_end (args);
    argv [count] = NULL;
    char *err = NULL;
    int code = sq_run (argv, SQ_WAIT_MS, NULL, &err);
    if (code != 0 && !quiet)
        fprintf (stderr, "%s %s: exit %d: %s", argv [0], argv [1], code, err? err: "");
    free (err);
    return code == 0;
}

//  After each test: kills its peer processes, removes its namespace
static void
s_cleanup (void)
{
    for (int index = 0; index < S_CHILDREN_MAX; index++)
        s_child_kill (s_children [index]);
    if (*s_veth)
        s_system (true, "/usr/sbin/ip", "link", "del", s_veth, NULL);
    if (*s_netns)
        s_system (true, "/usr/sbin/ip", "netns", "del", s_netns, NULL);
    *s_veth = *s_netns = 0;
}

//  Joins a network namespace by name; false on error
static bool
s_netns_enter (const char *name)
{
    char path [128];
    snprintf (path, sizeof path, "/var/run/netns/%s", name);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    bool entered = fd != -1 && setns (fd, CLONE_NEWNET) == 0;
    if (fd != -1)
        close (fd);
    return entered;
}

//  Answers one request: the reply is "<name>|<last frame>", behind the
//  routing id
static void
s_worker_answer (void *socket, const char *name)
{
    sq_msg_t *request = sq_msg_recv (socket, 0);
    if (!request)
        return;
    sq_msg_t *reply = sq_name_reply (request, name);
    sq_msg_send (reply, socket);
    sq_msg_destroy (&reply);
    sq_msg_destroy (&request);
}

//  The client process: a NULL DEALER that trades one message with its
//  worker ("<worker>|hello"), then idles with its connection open
static void
s_client_run (void *socket)
{
    if (sq_send_str (socket, "hello") == 0)
        free (sq_recv_str (socket, SQ_WAIT_MS));
    while (true)
        sq_sleep_ms (100);
}

//  The worker process serves until it is killed
static void
s_worker_run (void *socket, const char *name, streamq_peer_t *peer)
{
    while (true) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) > 0)
            s_worker_answer (socket, name);
        if (peer)
            streamq_peer_redial (peer);
    }
}

//  A peer process: a NULL ROUTER worker holding `slots` connections to
//  the backend, or a DEALER client of the frontend, named (and
//  heartbeating) by libstreamq if a control endpoint is given. Runs
//  until it is killed.
//  argv: --worker|--client ENDPOINT SOURCE_IP NAME CONTROL HEARTBEAT SLOTS NETNS
static int
s_child_main (int argc, char **argv)
{
    if (argc != 9)
        return 2;
    bool client = strcmp (argv [1], "--client") == 0;
    const char *endpoint = argv [2], *source_ip = argv [3], *name = argv [4];
    const char *control = argv [5], *netns = argv [8];
    int heartbeat = atoi (argv [6]), slots = client? 1: atoi (argv [7]);
    //  Before any thread: a new thread inherits its creator's namespace
    if (strcmp (netns, "-") && !s_netns_enter (netns)) {
        fprintf (stderr, "%s: cannot enter namespace %s\n", name, netns);
        return 1;
    }
    void *ctx = zmq_ctx_new ();
    void *socket = client? sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL)
                         : sq_worker_socket_new (ctx, ZMQ_ROUTER, NULL, NULL);
    streamq_peer_t *peer = NULL;
    if (socket && strcmp (control, "-")) {
        peer = streamq_peer_new (ctx, socket, control, client? "frontend": "backend", name);
        if (!peer || streamq_peer_set_heartbeat (peer, heartbeat) == -1)
            return 1;
    }
    char dial [300];
    snprintf (dial, sizeof dial, "%s", endpoint);
    if (!socket || (strcmp (source_ip, "-")
                && !sq_endpoint_from (endpoint, source_ip, 0, dial, sizeof dial)))
        return 1;
    for (int slot = 0; slot < slots; slot++)
        if (zmq_connect (socket, dial) == -1)
            return 1;
    if (client)
        s_client_run (socket);
    s_worker_run (socket, name, peer);
    return 0;
}

//  A worker process named `name`, from source_ip, with libstreamq
//  heartbeats every S_BEAT_MS, holding `slots` connections
static pid_t
s_beating_worker (sq_proxy_t *proxy, const char *source_ip, const char *name, int slots)
{
    s_child_config_t config = {
        .endpoint = proxy->backend, .source_ip = source_ip, .name = name,
        .control = proxy->control, .heartbeat_ms = S_BEAT_MS, .slots = slots
    };
    return s_child_start (&config);
}

//  ---------------------------------------------------------------------
//  The proxy

static sq_proxy_t *
s_proxy_start (const char **args)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_liveness", args);
    SQ_CHECK (proxy);
    return proxy;
}

//  Stops the proxy; it must exit 0
static void
s_proxy_stop (sq_proxy_t **proxy_p)
{
    SQ_CHECK_EQ (sq_proxy_stop (proxy_p), 0);
}

//  Sends a control command (NULL-terminated frames); the reply must be OK
static void
s_command (sq_proxy_t *proxy, const char *first, ...)
{
    const char *frames [16] = { first };
    int count = 1;
    va_list args;
    va_start (args, first);
    const char *frame;
    while ((frame = va_arg (args, const char *)) && count < 15)
        frames [count++] = frame;
    va_end (args);
    frames [count] = NULL;
    char **reply = sq_control (proxy->control, frames, SQ_WAIT_MS);
    bool ok = reply && reply [0] && strcmp (reply [0], "OK") == 0;
    SQ_CHECK_MSG (ok, "%s: reply %s %s", first, reply && reply [0]? reply [0]: "(none)",
                  reply && reply [0] && reply [1]? reply [1]: "");
    sq_strv_destroy (&reply);
}

//  Reads closed.<reason> from STATS; fails the test if it is not there
static long long
s_closed (sq_proxy_t *proxy, const char *reason)
{
    char path [64];
    snprintf (path, sizeof path, "closed.%s", reason);
    long long value = -1;
    SQ_CHECK_MSG (sq_stats (proxy->control, path, &value), "STATS has no %s", path);
    return value;
}

//  Waits until closed.<reason> >= value
static void
s_closed_wait (sq_proxy_t *proxy, const char *reason, long long value, int timeout_ms)
{
    char path [64];
    snprintf (path, sizeof path, "closed.%s", reason);
    SQ_CHECK_MSG (sq_stats_wait_min (proxy->control, path, value, timeout_ms),
                  "%s did not reach %lld within %d ms", path, value, timeout_ms);
}

//  Waits until a worker offers `slots` idle connections
static void
s_idle_wait (sq_proxy_t *proxy, const char *worker, int slots)
{
    char path [128];
    snprintf (path, sizeof path, "workers.by_name.%s.idle", worker);
    SQ_CHECK_MSG (sq_stats_wait (proxy->control, path, slots, SQ_WAIT_MS),
                  "%s does not offer %d idle connections", worker, slots);
}

//  Waits until the proxy has heard the heartbeats of `names` names. The
//  proxy reports heartbeats.watched; were it gone, waiting out a few
//  intervals does the same.
static void
s_watched_wait (sq_proxy_t *proxy, long long names)
{
    long long watched;
    if (sq_stats (proxy->control, "heartbeats.watched", &watched))
        SQ_CHECK (sq_stats_wait_min (proxy->control, "heartbeats.watched", names,
                                     SQ_WAIT_MS));
    else
        sq_sleep_ms (3 * S_BEAT_MS);
}

//  Counts the lines of the proxy log that contain needle
static int
s_log_count (sq_proxy_t *proxy, const char *needle)
{
    char *log = sq_file_read (proxy->log_path);
    int count = 0;
    for (const char *at = log; at && (at = strstr (at, needle)); at += strlen (needle))
        count++;
    free (log);
    return count;
}

//  Prints the closure counters (for the test log)
static void
s_closed_print (sq_proxy_t *proxy)
{
    char *json = sq_control_str (proxy->control, "STATS");
    const char *closed = json? sq_json_find (json, "closed"): NULL;
    printf ("# closed: %.300s\n", closed? closed: "(none)");
    free (json);
}

//  From one STATS reply: the sum of the closed.* counters, and the
//  connections accepted and no longer open. One reply is one moment: a
//  connection that closes between two requests cannot make them differ.
static bool
s_closed_and_gone (sq_proxy_t *proxy, long long *sum, long long *gone)
{
    char *json = sq_control_str (proxy->control, "STATS");
    long long accepted [2], open [2];
    bool read = json
        && sq_json_number (json, "frontend.accepted", &accepted [0])
        && sq_json_number (json, "backend.accepted", &accepted [1])
        && sq_json_number (json, "frontend.connections", &open [0])
        && sq_json_number (json, "backend.connections", &open [1]);
    *sum = 0;
    for (size_t index = 0; read && index < S_REASONS; index++) {
        char path [64];
        long long value;
        snprintf (path, sizeof path, "closed.%s", s_reasons [index]);
        read = sq_json_number (json, path, &value);
        *sum += value;
    }
    *gone = read? accepted [0] + accepted [1] - open [0] - open [1]: -1;
    free (json);
    return read;
}

//  Every connection accepted and gone was counted under exactly one
//  reason (waits for the counters to settle)
static void
s_closed_consistent (sq_proxy_t *proxy)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long sum = 0, gone = -1;
    while ((!s_closed_and_gone (proxy, &sum, &gone) || sum != gone)
    &&     sq_now_ms () < deadline)
        sq_sleep_ms (50);
    if (sum != gone)
        s_closed_print (proxy);
    SQ_CHECK_MSG (sum == gone, "closed.* sum to %lld, but %lld connections were "
                  "accepted and are gone", sum, gone);
}

//  Ends a test: the closure counters add up, then the test's context ends
//  (its peers closed first) and the proxy stops
static void
s_finish (sq_proxy_t **proxy_p, void *ctx)
{
    s_closed_consistent (*proxy_p);
    zmq_ctx_term (ctx);
    s_proxy_stop (proxy_p);
}

//  ---------------------------------------------------------------------
//  LIST

typedef struct {
    long long id;
    char side [16];
    char name [96];             //  The connection's name
    char worker [96];           //  Backend: its worker's name
    char state [16];
    long long paired_with;      //  -1: null
} s_conn_t;

#define S_CONNS_MAX 64

//  Reads LIST into conns; returns how many (at most S_CONNS_MAX)
static int
s_list (sq_proxy_t *proxy, s_conn_t *conns)
{
    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK_MSG (list && sq_json_valid (list), "LIST: no valid JSON");
    int count = sq_json_count (list, "");
    if (count > S_CONNS_MAX)
        count = S_CONNS_MAX;
    for (int index = 0; index < count; index++) {
        s_conn_t *conn = &conns [index];
        memset (conn, 0, sizeof *conn);
        char path [64];
        snprintf (path, sizeof path, "%d.id", index);
        sq_json_number (list, path, &conn->id);
        snprintf (path, sizeof path, "%d.side", index);
        sq_json_string (list, path, conn->side, sizeof conn->side);
        snprintf (path, sizeof path, "%d.name", index);
        sq_json_string (list, path, conn->name, sizeof conn->name);
        snprintf (path, sizeof path, "%d.worker", index);
        sq_json_string (list, path, conn->worker, sizeof conn->worker);
        snprintf (path, sizeof path, "%d.state", index);
        sq_json_string (list, path, conn->state, sizeof conn->state);
        snprintf (path, sizeof path, "%d.paired_with", index);
        if (!sq_json_number (list, path, &conn->paired_with))
            conn->paired_with = -1;
    }
    free (list);
    return count;
}

//  The LIST entry with this id, or NULL
static s_conn_t *
s_conn_by_id (s_conn_t *conns, int count, long long id)
{
    for (int index = 0; index < count; index++)
        if (conns [index].id == id)
            return &conns [index];
    return NULL;
}

//  The paired frontend connection named `client` and its partner: their
//  ids into *client_id and *worker_id, the partner's worker name into
//  worker. False if the client is not paired.
static bool
s_pair_of (sq_proxy_t *proxy, const char *client, long long *client_id,
           long long *worker_id, char *worker, size_t size)
{
    s_conn_t conns [S_CONNS_MAX];
    int count = s_list (proxy, conns);
    for (int index = 0; index < count; index++) {
        s_conn_t *conn = &conns [index];
        if (strcmp (conn->side, "frontend") || strcmp (conn->name, client)
        ||  strcmp (conn->state, "paired"))
            continue;
        s_conn_t *partner = s_conn_by_id (conns, count, conn->paired_with);
        if (partner) {
            *client_id = conn->id;
            *worker_id = partner->id;
            snprintf (worker, size, "%s", partner->worker);
            return true;
        }
    }
    return false;
}

//  Copies into ids the ids of the open backend connections of `worker`;
//  returns how many
static int
s_worker_conns (sq_proxy_t *proxy, const char *worker, long long *ids, int max)
{
    s_conn_t conns [S_CONNS_MAX];
    int count = s_list (proxy, conns), found = 0;
    for (int index = 0; index < count && found < max; index++)
        if (strcmp (conns [index].side, "backend") == 0
        &&  strcmp (conns [index].worker, worker) == 0
        &&  strcmp (conns [index].state, "closing"))
            ids [found++] = conns [index].id;
    return found;
}

//  ---------------------------------------------------------------------
//  libzmq peers

//  A socket of `type` with the harness's test options and a monitor,
//  connected to endpoint from source_ip (NULL: any) once the monitor is
//  in place. ivl > 0 turns on ZMTP heartbeats (ZMQ_HEARTBEAT_IVL ivl,
//  ZMQ_HEARTBEAT_TIMEOUT 10 x ivl).
static void *
s_peer_new (void *ctx, int type, const char *endpoint, const char *source_ip, int ivl,
            sq_monitor_t **monitor_p)
{
    void *socket = sq_peer_new (ctx, type, NULL, NULL);
    SQ_CHECK (socket);
    if (ivl > 0) {
        int timeout = 10 * ivl;
        SQ_CHECK_EQ (zmq_setsockopt (socket, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl), 0);
        SQ_CHECK_EQ (zmq_setsockopt (socket, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout), 0);
    }
    *monitor_p = sq_monitor_new (ctx, socket);
    SQ_CHECK (*monitor_p);
    char dial [300];
    snprintf (dial, sizeof dial, "%s", endpoint);
    if (source_ip)
        SQ_CHECK (sq_endpoint_from (endpoint, source_ip, 0, dial, sizeof dial));
    SQ_CHECK_EQ (zmq_connect (socket, dial), 0);
    return socket;
}

//  Closes a monitored socket: the monitor first
static void
s_peer_close (void **socket_p, sq_monitor_t **monitor_p)
{
    sq_monitor_destroy (monitor_p);
    if (*socket_p)
        zmq_close (*socket_p);
    *socket_p = NULL;
}

//  The client sends text, the worker socket (driven here) echoes it by
//  routing id, the client gets it back
static void
s_exchange (void *client, void *worker, const char *text)
{
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    sq_msg_t *request = sq_msg_recv (worker, SQ_WAIT_MS);
    SQ_CHECK_MSG (request, "the worker did not get '%s'", text);
    SQ_CHECK_EQ (sq_msg_send (request, worker), 0);
    sq_msg_destroy (&request);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_MSG (echo, "no echo of '%s'", text);
    SQ_CHECK_STR (echo, text);
    free (echo);
}

//  ---------------------------------------------------------------------
//  A raw TCP client doing the NULL handshake by hand (ZMTP 3.0)

//  Connects, sends a NULL greeting, gets the partner's, and trades
//  READY commands: the client is then paired and its session is up
static int
s_raw_client_new (sq_proxy_t *proxy)
{
    int fd = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (fd >= 0);
    uint8_t greeting [64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0, 'N', 'U', 'L', 'L' };
    uint8_t received [64];
    SQ_CHECK_EQ (sq_tcp_recv (fd, received, 11, SQ_WAIT_MS), 11);
    SQ_CHECK_EQ (sq_tcp_send (fd, greeting, sizeof greeting), 0);
    //  The rest of the worker's greeting comes once the proxy pairs us
    SQ_CHECK_EQ (sq_tcp_recv (fd, received + 11, 53, SQ_WAIT_MS), 53);
    SQ_CHECK (memcmp (received + 12, "NULL", 4) == 0);
    //  READY, Socket-Type DEALER: flags, size, "\5READY", "\13Socket-Type",
    //  a 4-byte length, "DEALER"
    static const uint8_t ready [] = {
        0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k', 'e', 't', '-',
        'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E', 'A', 'L', 'E', 'R'
    };
    SQ_CHECK_EQ (sq_tcp_send (fd, ready, sizeof ready), 0);
    //  The worker's READY (a short command): read it whole
    uint8_t header [2];
    uint8_t body [255];
    SQ_CHECK_EQ (sq_tcp_recv (fd, header, 2, SQ_WAIT_MS), 2);
    SQ_CHECK_MSG (header [0] == 0x04, "expected a short command, got flags %02x", header [0]);
    SQ_CHECK_EQ (sq_tcp_recv (fd, body, header [1], SQ_WAIT_MS), header [1]);
    SQ_CHECK (memcmp (body, "\5READY", 6) == 0);
    return fd;
}

//  Sends a one-frame message and checks the reply: "<worker>|text" when
//  worker is given (a worker process), else text itself (an echo)
static void
s_raw_ask (int fd, const char *text, const char *worker)
{
    uint8_t frame [258] = { 0x00, (uint8_t) strlen (text) };
    memcpy (frame + 2, text, strlen (text));
    SQ_CHECK_EQ (sq_tcp_send (fd, frame, 2 + strlen (text)), 0);
    char expected [256];
    snprintf (expected, sizeof expected, "%s%s%s", worker? worker: "", worker? "|": "", text);
    uint8_t header [2];
    char body [256] = "";
    SQ_CHECK_EQ (sq_tcp_recv (fd, header, 2, SQ_WAIT_MS), 2);
    SQ_CHECK_MSG (header [0] == 0x00, "expected a short last frame, got flags %02x", header [0]);
    SQ_CHECK_EQ (sq_tcp_recv (fd, body, header [1], SQ_WAIT_MS), header [1]);
    SQ_CHECK_STR (body, expected);
}

//  ---------------------------------------------------------------------
//  a. A frozen worker: its heartbeats stop, the proxy frees its client

//  The proxy's own interval is a minute: only the 200 ms the workers
//  announce can make it act within the bounds here
static void
test_frozen_worker_heartbeat (void)
{
    const char *args [] = { "--heartbeat-liveness", "3", "--heartbeat-interval", "60000", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    s_command (proxy, "ALIAS", "frontend", S_CLIENT_IP, "C", NULL);
    s_command (proxy, "ROUTE", "C", "W-frozen", NULL);
    pid_t frozen = s_beating_worker (proxy, S_FROZEN_IP, "W-frozen", 2);
    pid_t alive = s_beating_worker (proxy, S_OK_IP, "W-ok", 2);
    s_idle_wait (proxy, "W-frozen", 2);
    s_idle_wait (proxy, "W-ok", 2);
    s_watched_wait (proxy, 2);

    void *ctx = zmq_ctx_new ();
    sq_monitor_t *monitor;
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, S_CLIENT_IP, 0, &monitor);
    SQ_CHECK (sq_ask_expect (client, "before the freeze", "W-frozen"));
    long long stale [4];
    SQ_CHECK_EQ (s_worker_conns (proxy, "W-frozen", stale, 4), 2);

    //  Frozen, heartbeat thread and all, its sockets still open
    SQ_CHECK_EQ (kill (frozen, SIGSTOP), 0);
    int64_t frozen_at = sq_now_ms ();
    SQ_CHECK_MSG (sq_monitor_wait (monitor, ZMQ_EVENT_DISCONNECTED, S_DETECT_MS, NULL),
                  "the client was not disconnected within %d ms of the freeze", S_DETECT_MS);
    printf ("# client disconnected %lld ms after the freeze\n",
            (long long) (sq_now_ms () - frozen_at));
    //  Both connections of the name were hit; the client is their partner
    s_closed_wait (proxy, "heartbeat", 2, S_DETECT_MS);
    s_closed_wait (proxy, "partner", 1, S_DETECT_MS);
    SQ_CHECK_EQ (s_closed (proxy, "heartbeat"), 2);
    SQ_CHECK (s_log_count (proxy, "closed: heartbeat lost") >= 2);

    //  The client's libzmq reconnects; its route's worker is gone, so
    //  it falls back to the live one
    SQ_CHECK (sq_ask_expect (client, "after the freeze", "W-ok"));
    long long client_id, worker_id;
    char worker [96];
    SQ_CHECK (s_pair_of (proxy, "C", &client_id, &worker_id, worker, sizeof worker));
    SQ_CHECK_STR (worker, "W-ok");

    //  Thawed, it finds its connections closed and may dial fresh ones;
    //  none of the old ones is open, let alone paired
    SQ_CHECK_EQ (kill (frozen, SIGCONT), 0);
    sq_sleep_ms (1000);
    s_conn_t conns [S_CONNS_MAX];
    int count = s_list (proxy, conns);
    for (int index = 0; index < 2; index++) {
        s_conn_t *old = s_conn_by_id (conns, count, stale [index]);
        SQ_CHECK_MSG (!old, "stale connection #%lld of W-frozen is still listed (%s, paired with %lld)",
                      stale [index], old? old->state: "", old? old->paired_with: -1);
    }
    for (int index = 0; index < count; index++)
        SQ_CHECK_MSG (strcmp (conns [index].worker, "W-frozen")
                   || strcmp (conns [index].state, "paired"),
                      "W-frozen connection #%lld is paired after the thaw", conns [index].id);
    SQ_CHECK (sq_ask_expect (client, "after the thaw", "W-ok"));

    //  Its fresh connections are watched again once it beats: frozen
    //  again, they are closed again
    s_idle_wait (proxy, "W-frozen", 2);
    s_watched_wait (proxy, 2);
    SQ_CHECK_EQ (kill (frozen, SIGSTOP), 0);
    s_closed_wait (proxy, "heartbeat", 4, S_DETECT_MS);
    s_closed_print (proxy);
    SQ_CHECK_EQ (s_closed (proxy, "partner"), 1);

    s_child_kill (frozen);
    s_child_kill (alive);
    s_peer_close (&client, &monitor);
    s_finish (&proxy, ctx);
}

//  A freeze shorter than the liveness (10 x 200 ms) costs nothing: the
//  thawed process beats at once, and its pair goes on
static void
test_short_freeze_tolerated (void)
{
    const char *args [] = { "--heartbeat-liveness", "10", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    s_command (proxy, "ALIAS", "frontend", S_CLIENT_IP, "C", NULL);
    pid_t paused = s_beating_worker (proxy, S_FROZEN_IP, "W-pause", 1);
    s_idle_wait (proxy, "W-pause", 1);
    s_watched_wait (proxy, 1);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *monitor;
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, S_CLIENT_IP, 0, &monitor);
    SQ_CHECK (sq_ask_expect (client, "before a short freeze", "W-pause"));
    long long client_id, worker_id, client_after, worker_after;
    char worker [96];
    SQ_CHECK (s_pair_of (proxy, "C", &client_id, &worker_id, worker, sizeof worker));

    SQ_CHECK_EQ (kill (paused, SIGSTOP), 0);
    sq_sleep_ms (300);
    SQ_CHECK_EQ (kill (paused, SIGCONT), 0);
    SQ_CHECK_MSG (!sq_monitor_wait (monitor, ZMQ_EVENT_DISCONNECTED, SQ_QUIET_MS, NULL),
                  "the client was disconnected after a 300 ms freeze of its worker");
    SQ_CHECK_EQ (s_closed (proxy, "heartbeat"), 0);
    SQ_CHECK (s_pair_of (proxy, "C", &client_after, &worker_after, worker, sizeof worker));
    SQ_CHECK_EQ (client_after, client_id);
    SQ_CHECK_EQ (worker_after, worker_id);
    SQ_CHECK (sq_ask_expect (client, "after a short freeze", "W-pause"));

    s_peer_close (&client, &monitor);
    s_child_kill (paused);
    s_finish (&proxy, ctx);
}

//  A frozen client: its heartbeats stop, the proxy closes its connection
//  and frees the worker connection it held
static void
test_frozen_client_heartbeat (void)
{
    const char *args [] = { "--heartbeat-interval", "60000", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *monitor;
    void *worker = s_peer_new (ctx, ZMQ_ROUTER, proxy->backend, NULL, 0, &monitor);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    s_child_config_t config = {
        .client = true, .endpoint = proxy->frontend, .source_ip = S_CLIENT_IP,
        .name = "C-frozen", .control = proxy->control, .heartbeat_ms = S_BEAT_MS
    };
    pid_t frozen = s_child_start (&config);
    s_worker_answer (worker, "W");
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 1, SQ_WAIT_MS));
    s_watched_wait (proxy, 1);

    SQ_CHECK_EQ (kill (frozen, SIGSTOP), 0);
    SQ_CHECK_MSG (sq_monitor_wait (monitor, ZMQ_EVENT_DISCONNECTED, S_DETECT_MS, NULL),
                  "the worker's connection was not freed within %d ms", S_DETECT_MS);
    s_closed_wait (proxy, "heartbeat", 1, S_DETECT_MS);
    s_closed_wait (proxy, "partner", 1, S_DETECT_MS);
    SQ_CHECK_EQ (s_closed (proxy, "heartbeat"), 1);
    SQ_CHECK_EQ (s_closed (proxy, "partner"), 1);
    SQ_CHECK (s_log_count (proxy, "closed: heartbeat lost") >= 1);
    //  The worker's slot redials, free for the next client
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    s_child_kill (frozen);
    s_peer_close (&worker, &monitor);
    s_finish (&proxy, ctx);
}

//  A worker that turns its heartbeats off is treated as lost once (its
//  connections are closed after the liveness) and then forgotten: its
//  new connections stay and serve
static void
test_heartbeat_off_forgets_name (void)
{
    const char *args [] = { "--heartbeat-interval", "60000", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    void *ctx = zmq_ctx_new ();
    void *worker = sq_worker_socket_new (ctx, ZMQ_ROUTER, NULL, NULL);
    SQ_CHECK (worker);
    streamq_peer_t *peer = streamq_peer_new (ctx, worker, proxy->control, "backend", "W-quit");
    SQ_CHECK (peer);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, S_BEAT_MS), 0);
    SQ_CHECK_EQ (zmq_connect (worker, proxy->backend), 0);
    SQ_CHECK_EQ (zmq_connect (worker, proxy->backend), 0);
    s_idle_wait (proxy, "W-quit", 2);
    s_watched_wait (proxy, 1);
    sq_monitor_t *monitor;
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &monitor);
    s_exchange (client, worker, "while it beats");

    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 0), 0);
    SQ_CHECK_MSG (sq_monitor_wait (monitor, ZMQ_EVENT_DISCONNECTED, S_DETECT_MS, NULL),
                  "the client was not disconnected after its worker's heartbeats stopped");
    s_closed_wait (proxy, "heartbeat", 2, S_DETECT_MS);
    SQ_CHECK_EQ (s_closed (proxy, "partner"), 1);

    //  Forgotten: its new connections (libzmq redials) are left alone,
    //  for many times its liveness
    s_exchange (client, worker, "after its heartbeats stopped");
    SQ_CHECK_MSG (!sq_monitor_wait (monitor, ZMQ_EVENT_DISCONNECTED, SQ_QUIET_MS, NULL),
                  "the client was disconnected again");
    SQ_CHECK_EQ (s_closed (proxy, "heartbeat"), 2);
    s_exchange (client, worker, "still served");

    s_peer_close (&client, &monitor);
    streamq_peer_destroy (&peer);
    zmq_close (worker);
    s_finish (&proxy, ctx);
}

//  One name on both sides: a client named X (served by worker W) and a
//  worker also named X (serving client Y). Only the client beats; when
//  it stops, every connection named X goes, on both sides, and each
//  partner with it.
static void
test_heartbeat_name_both_sides (void)
{
    const char *args [] = { "--heartbeat-interval", "60000", "--identify-wait", "300", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    s_command (proxy, "ALIAS", "backend", S_OK_IP, "W", NULL);
    s_command (proxy, "ROUTE", "X", "W", NULL);
    s_command (proxy, "ROUTE", "127.0.0.1", "X", NULL);
    char dial [300];
    SQ_CHECK (sq_endpoint_from (proxy->backend, S_OK_IP, 0, dial, sizeof dial));
    sq_worker_t *w = sq_echo_new (dial, ZMQ_ROUTER, 1);
    SQ_CHECK (w);
    s_idle_wait (proxy, "W", 1);

    void *ctx = zmq_ctx_new ();
    void *worker_x = sq_worker_socket_new (ctx, ZMQ_ROUTER, NULL, NULL);
    SQ_CHECK (worker_x);
    streamq_peer_t *worker_peer = streamq_peer_new (ctx, worker_x, proxy->control, "backend", "X");
    SQ_CHECK (worker_peer);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (worker_peer, 0), 0);
    SQ_CHECK_EQ (zmq_connect (worker_x, proxy->backend), 0);
    s_idle_wait (proxy, "X", 1);

    //  (libstreamq holds the socket's only monitor: LIST tells instead)
    void *client_x = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (client_x);
    streamq_peer_t *client_peer = streamq_peer_new (ctx, client_x, proxy->control, "frontend", "X");
    SQ_CHECK (client_peer);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (client_peer, S_BEAT_MS), 0);
    char from [300];
    SQ_CHECK (sq_endpoint_from (proxy->frontend, S_CLIENT_IP, 0, from, sizeof from));
    SQ_CHECK_EQ (zmq_connect (client_x, from), 0);
    SQ_CHECK_EQ (sq_send_str (client_x, "X to W"), 0);
    char *echo = sq_recv_str (client_x, SQ_WAIT_MS);
    SQ_CHECK_MSG (echo && strcmp (echo, "X to W") == 0, "client X got no echo from W");
    free (echo);
    sq_monitor_t *monitor_y;
    void *client_y = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &monitor_y);
    s_exchange (client_y, worker_x, "Y to X");
    char worker [96];
    long long x_id, w_id, y_id, x_worker_id;
    SQ_CHECK (s_pair_of (proxy, "X", &x_id, &w_id, worker, sizeof worker));
    SQ_CHECK_STR (worker, "W");
    SQ_CHECK (s_pair_of (proxy, "127.0.0.1", &y_id, &x_worker_id, worker, sizeof worker));
    SQ_CHECK_STR (worker, "X");
    s_watched_wait (proxy, 1);

    SQ_CHECK_EQ (streamq_peer_set_heartbeat (client_peer, 0), 0);
    SQ_CHECK_MSG (sq_monitor_wait (monitor_y, ZMQ_EVENT_DISCONNECTED, S_DETECT_MS, NULL),
                  "client Y, partner of worker X, was not disconnected");
    s_closed_wait (proxy, "heartbeat", 2, S_DETECT_MS);
    s_closed_wait (proxy, "partner", 2, S_DETECT_MS);
    s_closed_print (proxy);
    SQ_CHECK_EQ (s_closed (proxy, "heartbeat"), 2);
    SQ_CHECK_EQ (s_closed (proxy, "partner"), 2);
    //  All four connections of the two pairs are gone
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    int left = 4;
    while (left > 0 && sq_now_ms () < deadline) {
        s_conn_t conns [S_CONNS_MAX];
        int count = s_list (proxy, conns);
        left = !!s_conn_by_id (conns, count, x_id) + !!s_conn_by_id (conns, count, w_id)
             + !!s_conn_by_id (conns, count, y_id) + !!s_conn_by_id (conns, count, x_worker_id);
        sq_sleep_ms (20);
    }
    SQ_CHECK_MSG (left == 0, "%d of the four connections are still listed", left);

    streamq_peer_destroy (&client_peer);
    zmq_close (client_x);
    s_peer_close (&client_y, &monitor_y);
    streamq_peer_destroy (&worker_peer);
    zmq_close (worker_x);
    sq_worker_destroy (&w);
    s_finish (&proxy, ctx);
}

//  ---------------------------------------------------------------------
//  b. Pair idle timeout

//  A pair silent both ways is closed, both peers see it
static void
test_pair_idle_timeout (void)
{
    const char *args [] = { "--pair-idle-timeout", "500", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *worker_monitor, *client_monitor;
    void *worker = s_peer_new (ctx, ZMQ_ROUTER, proxy->backend, NULL, 0, &worker_monitor);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &client_monitor);
    s_exchange (client, worker, "then silence");
    int64_t silent_at = sq_now_ms ();

    SQ_CHECK_MSG (sq_monitor_wait (client_monitor, ZMQ_EVENT_DISCONNECTED, S_DETECT_MS, NULL),
                  "the idle client was not disconnected");
    printf ("# idle pair closed after %lld ms of silence\n",
            (long long) (sq_now_ms () - silent_at));
    SQ_CHECK_MSG (sq_monitor_wait (worker_monitor, ZMQ_EVENT_DISCONNECTED, S_DETECT_MS, NULL),
                  "the idle worker connection was not closed");
    s_closed_wait (proxy, "idle_timeout", 1, S_DETECT_MS);
    SQ_CHECK (s_log_count (proxy, "closed: pair idle timeout") >= 1);
    //  The pair's two connections: one hit by the timeout, its partner
    //  closed as such (or both hit)
    SQ_CHECK (s_closed (proxy, "idle_timeout") + s_closed (proxy, "partner") >= 2);
    s_closed_print (proxy);

    //  Both reconnect by themselves and are paired again: still served
    s_exchange (client, worker, "back after the timeout");
    s_peer_close (&client, &client_monitor);
    s_peer_close (&worker, &worker_monitor);
    s_finish (&proxy, ctx);
}

//  ZMTP heartbeats (PING/PONG every 100 ms) cross the pair: it is never
//  idle, though the application sends nothing
static void
test_pair_kept_by_zmtp_heartbeats (void)
{
    const char *args [] = { "--pair-idle-timeout", "500", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *worker_monitor, *client_monitor;
    void *worker = s_peer_new (ctx, ZMQ_ROUTER, proxy->backend, NULL, 100, &worker_monitor);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 100, &client_monitor);
    SQ_CHECK_MSG (sq_monitor_wait (client_monitor, ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
                                   SQ_WAIT_MS, NULL), "no handshake through the proxy");
    long long client_id, worker_id, client_after, worker_after;
    char name [96];
    SQ_CHECK (s_pair_of (proxy, "127.0.0.1", &client_id, &worker_id, name, sizeof name));

    //  Four idle timeouts long, with no application message
    SQ_CHECK_MSG (!sq_monitor_wait (client_monitor, ZMQ_EVENT_DISCONNECTED, 2000, NULL),
                  "the client was disconnected though ZMTP heartbeats crossed the pair");
    SQ_CHECK (s_pair_of (proxy, "127.0.0.1", &client_after, &worker_after, name, sizeof name));
    SQ_CHECK_EQ (client_after, client_id);
    SQ_CHECK_EQ (worker_after, worker_id);
    SQ_CHECK_EQ (s_closed (proxy, "idle_timeout"), 0);
    s_exchange (client, worker, "still paired");
    SQ_CHECK_EQ (s_closed (proxy, "idle_timeout"), 0);

    s_peer_close (&client, &client_monitor);
    s_peer_close (&worker, &worker_monitor);
    s_finish (&proxy, ctx);
}

//  Bytes one way only keep a pair too ("no byte either way" is what
//  idle means), and the timeout leaves unpaired connections alone
static void
test_pair_kept_by_one_way_traffic (void)
{
    const char *args [] = { "--pair-idle-timeout", "500", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *worker_monitor, *client_monitor;
    void *worker = s_peer_new (ctx, ZMQ_ROUTER, proxy->backend, NULL, 0, &worker_monitor);
    SQ_CHECK_EQ (zmq_connect (worker, proxy->backend), 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));
    long long slots [2];
    SQ_CHECK_EQ (s_worker_conns (proxy, "127.0.0.1", slots, 2), 2);
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &client_monitor);
    s_exchange (client, worker, "then one way only");
    long long client_id, worker_id, client_after, worker_after;
    char name [96];
    SQ_CHECK (s_pair_of (proxy, "127.0.0.1", &client_id, &worker_id, name, sizeof name));

    //  2 s of client messages every 100 ms, never answered
    sq_msg_t *last = NULL;
    for (int turn = 0; turn < 20; turn++) {
        SQ_CHECK_EQ (sq_send_str (client, "one way"), 0);
        SQ_CHECK_MSG (!sq_monitor_wait (client_monitor, ZMQ_EVENT_DISCONNECTED, 100, NULL),
                      "the client was disconnected though it kept sending");
        sq_msg_t *request;
        while ((request = sq_msg_recv (worker, 0))) {
            sq_msg_destroy (&last);
            last = request;
        }
    }
    SQ_CHECK_MSG (last, "the worker got none of the one-way messages");
    SQ_CHECK (s_pair_of (proxy, "127.0.0.1", &client_after, &worker_after, name, sizeof name));
    SQ_CHECK_EQ (client_after, client_id);
    SQ_CHECK_EQ (worker_after, worker_id);
    //  The other slot sat unpaired all along, and is still there
    long long now [2];
    SQ_CHECK_EQ (s_worker_conns (proxy, "127.0.0.1", now, 2), 2);
    SQ_CHECK ((now [0] == slots [0] || now [0] == slots [1])
           && (now [1] == slots [0] || now [1] == slots [1]));
    SQ_CHECK_EQ (s_closed (proxy, "idle_timeout"), 0);
    //  And the way back still works
    SQ_CHECK_EQ (sq_msg_send (last, worker), 0);
    sq_msg_destroy (&last);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_MSG (echo && strcmp (echo, "one way") == 0, "no answer on the kept pair");
    free (echo);

    s_peer_close (&client, &client_monitor);
    s_peer_close (&worker, &worker_monitor);
    s_finish (&proxy, ctx);
}

//  PAUSE stops the proxy reading peers while "connections stay open":
//  the silence is the proxy's own doing, so it must not close a busy
//  pair for idleness, during the pause or at RESUME (as no greeting
//  times out while paused)
static void
test_pause_keeps_busy_pairs (void)
{
    const char *args [] = { "--pair-idle-timeout", "500", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *worker_monitor, *client_monitor;
    void *worker = s_peer_new (ctx, ZMQ_ROUTER, proxy->backend, NULL, 0, &worker_monitor);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &client_monitor);
    s_exchange (client, worker, "before the pause");
    long long client_id, worker_id, client_after, worker_after;
    char name [96];
    SQ_CHECK (s_pair_of (proxy, "127.0.0.1", &client_id, &worker_id, name, sizeof name));

    //  The client sends every 100 ms throughout: 1 s paused, 1 s after.
    //  What is seen is checked once everything is closed, so that a
    //  failure leaves no client churning behind.
    bool disconnected = false;
    for (int turn = 0; turn < 20 && !disconnected; turn++) {
        if (turn == 2)
            s_command (proxy, "PAUSE", NULL);
        if (turn == 12)
            s_command (proxy, "RESUME", NULL);
        SQ_CHECK_EQ (sq_send_str (client, "busy"), 0);
        disconnected = sq_monitor_wait (client_monitor, ZMQ_EVENT_DISCONNECTED, 100, NULL);
        sq_msg_t *request;
        while ((request = sq_msg_recv (worker, 0)))
            sq_msg_destroy (&request);
    }
    s_command (proxy, "RESUME", NULL);
    bool paired = s_pair_of (proxy, "127.0.0.1", &client_after, &worker_after, name, sizeof name);
    long long idle_closed = s_closed (proxy, "idle_timeout");
    s_closed_print (proxy);
    s_peer_close (&client, &client_monitor);
    s_peer_close (&worker, &worker_monitor);
    s_finish (&proxy, ctx);
    SQ_CHECK_MSG (!disconnected && idle_closed == 0, "a busy pair was closed for idleness "
                  "while the proxy was paused (closed.idle_timeout %lld)", idle_closed);
    SQ_CHECK (paired);
    SQ_CHECK_EQ (client_after, client_id);
    SQ_CHECK_EQ (worker_after, worker_id);
}

//  ---------------------------------------------------------------------
//  c. Pair lifetime

//  What the busy client saw
typedef struct {
    int answered;               //  Requests answered
    int retries;                //  Requests sent again after a timeout
    int after_close;            //  Answers after the first disconnect
    int disconnects;
    int64_t first_disconnect;   //  When the first disconnect was seen, or 0
} s_busy_t;

//  True (and counted) if the client's monitor reported a disconnect
static bool
s_busy_disconnected (sq_monitor_t *monitor, s_busy_t *busy)
{
    bool seen = false;
    while (sq_monitor_wait (monitor, ZMQ_EVENT_DISCONNECTED, 0, NULL)) {
        if (busy->disconnects++ == 0)
            busy->first_disconnect = sq_now_ms ();
        seen = true;
    }
    return seen;
}

//  Sends request `seq` until its answer comes. A DEALER's request is
//  lost with its connection: it is sent again when the connection drops,
//  or after a second without an answer; answers to earlier copies are
//  skipped.
static void
s_busy_request (void *client, sq_monitor_t *monitor, int seq, s_busy_t *busy)
{
    char text [32];
    snprintf (text, sizeof text, "request %d", seq);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    int64_t sent_at = sq_now_ms ();
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    while (sq_now_ms () < deadline) {
        char *reply = sq_recv_str (client, 50);
        bool done = reply && strcmp (reply, text) == 0;
        free (reply);
        if (done) {
            busy->answered++;
            busy->after_close += busy->disconnects > 0;
            s_busy_disconnected (monitor, busy);
            return;
        }
        if (s_busy_disconnected (monitor, busy) || sq_now_ms () - sent_at >= 1000) {
            busy->retries++;
            sent_at = sq_now_ms ();
            SQ_CHECK_EQ (sq_send_str (client, text), 0);
        }
    }
    SQ_CHECK_MSG (false, "'%s' was never answered", text);
}

//  A client sending all the time: its pair is closed at its lifetime,
//  and it goes on through new pairs, as does the worker
static void
test_pair_lifetime (void)
{
    const char *args [] = { "--pair-max-lifetime", "700", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_ROUTER, 2);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));
    //  The worker's connections are older than the lifetime when they
    //  are paired: a pair's age counts from its pairing
    sq_sleep_ms (1000);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *monitor;
    //  The first pair begins after this, whenever the client connects
    int64_t connected_at = sq_now_ms ();
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &monitor);

    s_busy_t busy = { 0 };
    for (int seq = 0; sq_now_ms () - connected_at < 3500; seq++)
        s_busy_request (client, monitor, seq, &busy);
    printf ("# %d answers (%d after the first close), %d retries, %d disconnects, "
            "first %lld ms after connecting\n", busy.answered, busy.after_close,
            busy.retries, busy.disconnects,
            (long long) (busy.first_disconnect - connected_at));
    SQ_CHECK_MSG (busy.disconnects >= 1, "the busy pair was never closed");
    //  The pair began after connected_at: it cannot end sooner than its
    //  lifetime after it (a little slack for clock granularity)
    SQ_CHECK (busy.first_disconnect - connected_at >= 650);
    SQ_CHECK (busy.first_disconnect - connected_at <= 700 + S_DETECT_MS);
    SQ_CHECK (busy.after_close >= 5);
    s_closed_wait (proxy, "lifetime", 1, S_DETECT_MS);
    SQ_CHECK (s_log_count (proxy, "closed: pair lifetime") >= 1);
    SQ_CHECK (s_closed (proxy, "lifetime") + s_closed (proxy, "partner") >= 2);
    long long pairs = 0;
    SQ_CHECK (sq_stats (proxy->control, "pairs.total", &pairs));
    SQ_CHECK_MSG (pairs >= 2, "pairs.total %lld", pairs);
    s_closed_print (proxy);

    s_peer_close (&client, &monitor);
    sq_worker_destroy (&worker);
    s_finish (&proxy, ctx);
}

//  ---------------------------------------------------------------------
//  d. Half-open peers

//  A raw client pairs, trades one message, then neither reads nor writes
//  nor closes: the idle timeout frees its worker connection
static void
test_half_open_client_idle (void)
{
    const char *args [] = { "--pair-idle-timeout", "500", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_ROUTER, 1);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    int fd = s_raw_client_new (proxy);
    s_raw_ask (fd, "one message, then nothing", NULL);

    //  Not reading: the proxy's count says when, then the socket has EOF
    s_closed_wait (proxy, "idle_timeout", 1, S_DETECT_MS);
    SQ_CHECK_MSG (sq_tcp_wait_closed (fd, S_DETECT_MS), "the raw client saw no EOF");
    SQ_CHECK (s_log_count (proxy, "closed: pair idle timeout") >= 1);
    //  The worker's slot comes back for the next client
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    close (fd);
    sq_worker_destroy (&worker);
    s_closed_consistent (proxy);
    s_proxy_stop (&proxy);
}

//  The worker side half-open: a worker process frozen with its socket
//  open, paired with a raw client. Its heartbeats stop; the proxy closes
//  it, and the raw client sees EOF.
static void
test_half_open_worker_heartbeat (void)
{
    sq_proxy_t *proxy = s_proxy_start (NULL);
    pid_t frozen = s_beating_worker (proxy, S_FROZEN_IP, "W-half", 1);
    s_idle_wait (proxy, "W-half", 1);
    s_watched_wait (proxy, 1);
    int fd = s_raw_client_new (proxy);
    s_raw_ask (fd, "hello, worker", "W-half");

    SQ_CHECK_EQ (kill (frozen, SIGSTOP), 0);
    int64_t frozen_at = sq_now_ms ();
    SQ_CHECK_MSG (sq_tcp_wait_closed (fd, S_DETECT_MS),
                  "the raw client saw no EOF within %d ms of the freeze", S_DETECT_MS);
    printf ("# raw client closed %lld ms after the freeze\n",
            (long long) (sq_now_ms () - frozen_at));
    s_closed_wait (proxy, "heartbeat", 1, S_DETECT_MS);
    s_closed_wait (proxy, "partner", 1, S_DETECT_MS);
    s_child_kill (frozen);
    close (fd);
    s_closed_consistent (proxy);
    s_proxy_stop (&proxy);
}

//  The path of ss (iproute2), or NULL
static const char *
s_ss_path (void)
{
    static const char *paths [] = { "/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss" };
    for (size_t index = 0; index < sizeof paths / sizeof paths [0]; index++)
        if (access (paths [index], X_OK) == 0)
            return paths [index];
    return NULL;
}

//  Counts the established TCP sockets whose local port is that of
//  endpoint (the proxy's end of each connection to it) and how many of
//  them have a keepalive timer. A socket whose last bytes are not yet
//  acknowledged shows its retransmission timer instead: ss is asked
//  again until none does.
static void
s_ss_keepalive (const char *endpoint, int *sockets, int *keepalive)
{
    char filter [64];
    //  The proxy's own end of each connection: its address and port (a
    //  port alone also matches another host's connection that happens to
    //  use that number as its ephemeral port)
    snprintf (filter, sizeof filter, "( src 127.0.0.1:%d )", sq_endpoint_port (endpoint));
    const char *argv [] = { s_ss_path (), "-tnoH", "state", "established", filter, NULL };
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char *out = NULL;
    while (true) {
        free (out);
        out = NULL;
        SQ_CHECK_EQ (sq_run (argv, SQ_WAIT_MS, &out, NULL), 0);
        if (!strstr (out, "timer:(on") || sq_now_ms () > deadline)
            break;
        sq_sleep_ms (50);
    }
    *sockets = *keepalive = 0;
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n")) {
        printf ("#   %s\n", line);
        (*sockets)++;
        *keepalive += strstr (line, "timer:(keepalive") != NULL;
    }
    free (out);
}

//  Starts a proxy with args, pairs a client with a worker through it,
//  and checks which of its sides have keepalive on their connections
static void
s_keepalive_check (const char **args, bool frontend, bool backend)
{
    sq_proxy_t *proxy = s_proxy_start (args);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *worker_monitor, *client_monitor;
    void *worker = s_peer_new (ctx, ZMQ_ROUTER, proxy->backend, NULL, 0, &worker_monitor);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &client_monitor);
    s_exchange (client, worker, "keepalive?");
    int sockets, keepalive;
    printf ("# options:");
    for (int index = 0; args && args [index]; index++)
        printf (" %s", args [index]);
    printf ("\n");
    s_ss_keepalive (proxy->frontend, &sockets, &keepalive);
    SQ_CHECK_EQ (sockets, 1);
    SQ_CHECK_MSG (keepalive == (frontend? 1: 0), "frontend keepalive %s",
                  frontend? "missing": "set");
    s_ss_keepalive (proxy->backend, &sockets, &keepalive);
    SQ_CHECK_EQ (sockets, 1);
    SQ_CHECK_MSG (keepalive == (backend? 1: 0), "backend keepalive %s",
                  backend? "missing": "set");
    s_peer_close (&client, &client_monitor);
    s_peer_close (&worker, &worker_monitor);
    s_finish (&proxy, ctx);
}

//  The keepalive options reach the proxy's sockets, side by side
static void
test_tcp_keepalive_applied (void)
{
    if (!s_ss_path ()) {
        printf ("# ss (iproute2) is missing: keepalive timers not checked\n");
        return;
    }
    const char *both [] = { "--tcp-keepalive", "1:1:2", NULL };
    s_keepalive_check (both, true, true);
    s_keepalive_check (NULL, false, false);
    const char *off [] = { "--tcp-keepalive", "off", NULL };
    s_keepalive_check (off, false, false);
    const char *front [] = { "--frontend-tcp-keepalive", "1:1:2", NULL };
    s_keepalive_check (front, true, false);
    const char *back [] = { "--tcp-keepalive", "on", "--frontend-tcp-keepalive", "off", NULL };
    s_keepalive_check (back, false, true);
}

//  Makes a network namespace joined to this one by a veth pair: this
//  side host_ip, the namespace's side far_ip (a /30). False (with a
//  note) where that is not allowed.
static bool
s_netns_make (const char *host_ip, const char *far_ip)
{
    if (geteuid () != 0 || access ("/usr/sbin/ip", X_OK) != 0) {
        printf ("# not root, or no /usr/sbin/ip: dead-host keepalive test skipped\n");
        return false;
    }
    char far [16], host_cidr [48], far_cidr [48];
    snprintf (s_netns, sizeof s_netns, "sq-live-%d", (int) getpid ());
    if (!s_system (false, "/usr/sbin/ip", "netns", "add", s_netns, NULL)) {
        *s_netns = 0;
        printf ("# ip netns add is not permitted here: dead-host keepalive test skipped\n");
        return false;
    }
    snprintf (s_veth, sizeof s_veth, "sqa%d", (int) getpid () % 100000);
    snprintf (far, sizeof far, "sqb%d", (int) getpid () % 100000);
    snprintf (host_cidr, sizeof host_cidr, "%s/30", host_ip);
    snprintf (far_cidr, sizeof far_cidr, "%s/30", far_ip);
    bool made = s_system (false, "/usr/sbin/ip", "link", "add", s_veth, "type", "veth",
                          "peer", "name", far, NULL);
    if (!made)
        *s_veth = 0;
    made = made
        && s_system (false, "/usr/sbin/ip", "link", "set", far, "netns", s_netns, NULL)
        && s_system (false, "/usr/sbin/ip", "addr", "add", host_cidr, "dev", s_veth, NULL)
        && s_system (false, "/usr/sbin/ip", "link", "set", s_veth, "up", NULL)
        && s_system (false, "/usr/sbin/ip", "netns", "exec", s_netns, "ip", "addr", "add",
                     far_cidr, "dev", far, NULL)
        && s_system (false, "/usr/sbin/ip", "netns", "exec", s_netns, "ip", "link", "set",
                     far, "up", NULL);
    if (!made)
        printf ("# veth pair not permitted here: dead-host keepalive test skipped\n");
    return made;
}

//  A worker on another "host" (a network namespace) vanishes: its link
//  goes down, so nothing, not even a RST, ever comes back. Only TCP
//  keepalive on the backend can tell; the client is then freed.
static void
test_tcp_keepalive_dead_host (void)
{
    //  A /30 of 10.213.0.0/16 of our own, to share the host with others
    char host_ip [32], far_ip [32], backend [64];
    int net = (int) (getpid () % 16000) * 4;
    snprintf (host_ip, sizeof host_ip, "10.213.%d.%d", net / 256, net % 256 + 1);
    snprintf (far_ip, sizeof far_ip, "10.213.%d.%d", net / 256, net % 256 + 2);
    if (!s_netns_make (host_ip, far_ip))
        return;
    snprintf (backend, sizeof backend, "tcp://%s:*", host_ip);
    const char *args [] = { "--backend", backend, "--backend-tcp-keepalive", "1:1:2", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    s_child_config_t config = {
        .endpoint = proxy->backend, .name = "W-far", .slots = 1, .netns = s_netns
    };
    pid_t far = s_child_start (&config);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *monitor;
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &monitor);
    SQ_CHECK (sq_ask_expect (client, "hello, far worker", "W-far"));

    char far_link [16];
    snprintf (far_link, sizeof far_link, "sqb%d", (int) getpid () % 100000);
    SQ_CHECK (s_system (false, "/usr/sbin/ip", "netns", "exec", s_netns, "ip", "link", "set",
                        far_link, "down", NULL));
    int64_t down_at = sq_now_ms ();
    SQ_CHECK_MSG (sq_monitor_wait (monitor, ZMQ_EVENT_DISCONNECTED, S_KEEPALIVE_MS, NULL),
                  "the client was not freed within %d ms of the link going down",
                  S_KEEPALIVE_MS);
    printf ("# dead host found by keepalive %lld ms after its link went down\n",
            (long long) (sq_now_ms () - down_at));
    s_closed_wait (proxy, "peer", 1, S_DETECT_MS);
    s_closed_wait (proxy, "partner", 1, S_DETECT_MS);
    s_closed_print (proxy);

    s_peer_close (&client, &monitor);
    s_child_kill (far);
    s_finish (&proxy, ctx);
}

//  ---------------------------------------------------------------------
//  e. Closures counted by reason

//  A peer leaving, its partner, a bad greeting and a queue timeout each
//  count under their reason, and every closed connection counts once
static void
test_closed_counters (void)
{
    const char *args [] = { "--queue-timeout", "300", "--greeting-timeout", "300", NULL };
    sq_proxy_t *proxy = s_proxy_start (args);
    for (size_t index = 0; index < S_REASONS; index++)
        SQ_CHECK_EQ (s_closed (proxy, s_reasons [index]), 0);
    void *ctx = zmq_ctx_new ();
    sq_monitor_t *worker_monitor, *client_monitor;
    void *worker = s_peer_new (ctx, ZMQ_DEALER, proxy->backend, NULL, 0, &worker_monitor);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    //  The client leaves: it is a peer gone, the worker's connection its
    //  partner
    void *client = s_peer_new (ctx, ZMQ_DEALER, proxy->frontend, NULL, 0, &client_monitor);
    s_exchange (client, worker, "goodbye");
    s_peer_close (&client, &client_monitor);
    s_closed_wait (proxy, "peer", 1, SQ_WAIT_MS);
    s_closed_wait (proxy, "partner", 1, SQ_WAIT_MS);
    SQ_CHECK_EQ (s_closed (proxy, "peer"), 1);
    SQ_CHECK_EQ (s_closed (proxy, "partner"), 1);

    //  Not ZMTP
    int fd = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (fd >= 0);
    SQ_CHECK_EQ (sq_tcp_send (fd, "GET / HTTP/1.0\r\n\r\n", 18), 0);
    SQ_CHECK (sq_tcp_wait_closed (fd, SQ_WAIT_MS));
    close (fd);
    s_closed_wait (proxy, "greeting", 1, SQ_WAIT_MS);

    //  A PLAIN client finds no PLAIN worker and times out in the queue
    sq_security_t plain = { .mechanism = SQ_PLAIN, .username = "u", .password = "p" };
    void *queued = sq_peer_new (ctx, ZMQ_DEALER, &plain, proxy->frontend);
    SQ_CHECK (queued);
    s_closed_wait (proxy, "queue", 1, SQ_WAIT_MS);
    zmq_close (queued);

    //  Every connection accepted and gone was counted exactly once
    s_closed_consistent (proxy);
    s_closed_print (proxy);
    SQ_CHECK_EQ (s_closed (proxy, "heartbeat") + s_closed (proxy, "idle_timeout")
               + s_closed (proxy, "lifetime") + s_closed (proxy, "shutdown"), 0);
    s_peer_close (&worker, &worker_monitor);
    zmq_ctx_term (ctx);
    s_proxy_stop (&proxy);
}

//  Runs a test, then cleans up what it may have left behind
#define S_RUN(fn) do { SQ_RUN (fn); s_cleanup (); } while (0)

int
main (int argc, char **argv)
{
    if (argc > 1 && (strcmp (argv [1], "--worker") == 0 || strcmp (argv [1], "--client") == 0))
        return s_child_main (argc, argv);
    setvbuf (stdout, NULL, _IOLBF, 0);
    S_RUN (test_frozen_worker_heartbeat);
    S_RUN (test_short_freeze_tolerated);
    S_RUN (test_frozen_client_heartbeat);
    S_RUN (test_heartbeat_off_forgets_name);
    S_RUN (test_heartbeat_name_both_sides);
    S_RUN (test_pair_idle_timeout);
    S_RUN (test_pair_kept_by_zmtp_heartbeats);
    S_RUN (test_pair_kept_by_one_way_traffic);
    S_RUN (test_pause_keeps_busy_pairs);
    S_RUN (test_pair_lifetime);
    S_RUN (test_half_open_client_idle);
    S_RUN (test_half_open_worker_heartbeat);
    S_RUN (test_tcp_keepalive_applied);
    S_RUN (test_tcp_keepalive_dead_host);
    S_RUN (test_closed_counters);
    return sq_test_summary ();
}
