/*  =========================================================================
    test_python_peer - python/streamq_peer.py does for pyzmq what
    libstreamq does for C

    Runs tests/integration/peer_worker.py (an echo ROUTER on the module)
    with the first python3 in PATH that can import zmq, behind a real
    proxy: every connection it makes is named in LIST and WORKERS, again
    after each redial; its heartbeats make the proxy watch its name, and
    when the process is frozen (SIGSTOP) the proxy closes that name's
    connections, which come back named once it runs again (SIGCONT); and
    under CURVE, with --handshake-ban 0, the slots wrong-key clients cost
    it are counted and redialled by the worker's loop, so it keeps all of
    them and serves a right client. Last, one socket at two proxies
    (Peer.add_proxy): each proxy names exactly its own connections and
    watches the heartbeats, a client through each is served, and a slot
    lost to a wrong key at one proxy is redialled there while the other
    sees nothing. And tests/integration/peer_close.py: close() returns
    when a wake of the Peer's thread comes once it has begun. Last, a
    worker's socket without IMMEDIATE is named on stderr.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

SQ_TEST_DEFINE

#define S_DRIVER    "tests/integration/peer_worker.py"
#define S_CLOSER    "tests/integration/peer_close.py"
#define S_NAME      "py-peer"
#define S_SLOTS     3

typedef struct {
    sq_proxy_t *proxy;
    sq_proxy_t *second;         //  With two proxies: the one added to the Peer
    pid_t worker;
    char log_path [512];
    sq_keypair_t server;        //  Under CURVE
    bool curve;
    void *ctx;
} s_fixture_t;

//  ---------------------------------------------------------------------
//  Helpers

//  Starts a proxy (args may be NULL), a second one with the same args if
//  second, and the driver, CURVE if curve, with heartbeats every
//  heartbeat_ms; waits for its slots to be idle at each proxy
static s_fixture_t *
s_fixture_new (const char **args, bool curve, int heartbeat_ms, bool second)
{
    const char *python = sq_python_zmq ();
    SQ_CHECK_MSG (python, "python3 with zmq is needed: apt-get install python3-zmq");
    s_fixture_t *self = calloc (1, sizeof *self);
    SQ_CHECK (self);
    self->proxy = sq_proxy_start ("test_python_peer", args);
    SQ_CHECK (self->proxy);
    if (second) {
        self->second = sq_proxy_start ("test_python_peer", args);
        SQ_CHECK (self->second);
    }
    self->curve = curve;
    sq_keypair_new (&self->server);
    self->ctx = zmq_ctx_new ();

    static int counter = 0;
    char dir [512], slots [16], heartbeat [16];
    sq_build_path ("tests", dir, sizeof dir);
    snprintf (self->log_path, sizeof self->log_path, "%.400s/test_python_peer-%d.worker.log",
              dir, ++counter);
    unlink (self->log_path);
    snprintf (slots, sizeof slots, "%d", S_SLOTS);
    snprintf (heartbeat, sizeof heartbeat, "%d", heartbeat_ms);
    const char *argv [16] = {
        python, "-u", S_DRIVER, "--control", self->proxy->control, "--name", S_NAME,
        "--connections", slots, "--heartbeat", heartbeat
    };
    int count = 11;
    if (second) {
        argv [count++] = "--proxy";
        argv [count++] = self->second->backend;
        argv [count++] = self->second->control;
    }
    argv [count++] = self->proxy->backend;
    argv [count] = NULL;
    if (curve)
        SQ_CHECK_EQ (setenv ("STREAMQ_CURVE_SECRET", self->server.secret_key, 1), 0);
    self->worker = sq_child_start (argv, self->log_path);
    unsetenv ("STREAMQ_CURVE_SECRET");
    SQ_CHECK (self->worker > 0);
    printf ("# worker %d: %s\n", (int) self->worker, self->log_path);
    SQ_CHECK (sq_file_wait (self->log_path, "peer_worker: ready", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    if (second)
        SQ_CHECK (sq_stats_wait (self->second->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    return self;
}

//  Stops the driver (exit 0 on SIGTERM) and the proxy
static void
s_fixture_destroy (s_fixture_t **self_p)
{
    s_fixture_t *self = *self_p;
    int worker_rc = sq_child_stop (self->worker, SIGTERM);
    zmq_ctx_term (self->ctx);
    int proxy_rc = sq_proxy_stop (&self->proxy);
    int second_rc = self->second? sq_proxy_stop (&self->second): 0;
    bool stopped = sq_file_count (self->log_path, "peer_worker: stopped") == 1;
    if (worker_rc != 0 || !stopped) {
        char *log = sq_file_read (self->log_path);
        fprintf (stderr, "---- %s\n%s---- end\n", self->log_path, log? log: "");
        free (log);
    }
    free (self);
    *self_p = NULL;
    SQ_CHECK_EQ (worker_rc, 0);
    SQ_CHECK (stopped);
    SQ_CHECK_EQ (proxy_rc, 0);
    SQ_CHECK_EQ (second_rc, 0);
}

//  Backend connections in the proxy's LIST: how many, and how many named
//  S_NAME and counted under the worker S_NAME
static void
s_backend_names (sq_proxy_t *proxy, int *count, int *named)
{
    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK (list && sq_json_valid (list));
    int entries = sq_json_count (list, "");
    *count = *named = 0;
    for (int index = 0; index < entries; index++) {
        char path [64], side [32], name [96], worker [96];
        snprintf (path, sizeof path, "%d.side", index);
        SQ_CHECK (sq_json_string (list, path, side, sizeof side));
        if (strcmp (side, "backend"))
            continue;
        (*count)++;
        snprintf (path, sizeof path, "%d.name", index);
        SQ_CHECK (sq_json_string (list, path, name, sizeof name));
        snprintf (path, sizeof path, "%d.worker", index);
        bool has_worker = sq_json_string (list, path, worker, sizeof worker);
        *named += strcmp (name, S_NAME) == 0 && has_worker && strcmp (worker, S_NAME) == 0;
    }
    free (list);
}

//  Polls the proxy's LIST until exactly S_SLOTS backend connections
//  show, all named
static void
s_all_named_wait (sq_proxy_t *proxy)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    int count = 0, named = 0;
    while (true) {
        s_backend_names (proxy, &count, &named);
        if (count == S_SLOTS && named == S_SLOTS)
            return;
        SQ_CHECK_MSG (sq_now_ms () < deadline, "%s: %d backend connections, %d named %s",
                      proxy->control, count, named, S_NAME);
        sq_sleep_ms (50);
    }
}

//  The "connections" of worker S_NAME in the proxy's WORKERS, or -1 if
//  not listed
static long long
s_worker_connections (sq_proxy_t *proxy)
{
    char *workers = sq_control_str (proxy->control, "WORKERS");
    SQ_CHECK (workers && sq_json_valid (workers));
    int count = sq_json_count (workers, "");
    long long connections = -1;
    for (int index = 0; index < count; index++) {
        char path [64], name [96];
        snprintf (path, sizeof path, "%d.name", index);
        if (!sq_json_string (workers, path, name, sizeof name) || strcmp (name, S_NAME))
            continue;
        snprintf (path, sizeof path, "%d.connections", index);
        SQ_CHECK (sq_json_number (workers, path, &connections));
    }
    free (workers);
    return connections;
}

//  A client from 127.0.0.3 through the proxy (CURVE with the worker's
//  key when the fixture is CURVE) gets its echo
static void
s_served (s_fixture_t *self, sq_proxy_t *proxy, const char *text)
{
    sq_keypair_t own;
    sq_keypair_new (&own);
    sq_security_t security = {
        .mechanism = SQ_CURVE, .server_key = self->server.public_key,
        .public_key = own.public_key, .secret_key = own.secret_key
    };
    void *client = sq_peer_new (self->ctx, ZMQ_DEALER, self->curve? &security: NULL, NULL);
    SQ_CHECK (client);
    char endpoint [300];
    SQ_CHECK (sq_endpoint_from (proxy->frontend, "127.0.0.3", 0, endpoint, sizeof endpoint));
    SQ_CHECK_EQ (zmq_connect (client, endpoint), 0);
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    bool same = echo && strcmp (echo, text) == 0;
    free (echo);
    zmq_close (client);
    SQ_CHECK_MSG (same, "no echo of '%s' within %d ms", text, SQ_WAIT_MS);
}

//  A client from 127.0.0.2 with the wrong server key tries once through
//  the proxy, until the proxy has seen `failures` handshakes fail at the
//  worker in all
static void
s_impostor_fails (s_fixture_t *self, sq_proxy_t *proxy, int failures)
{
    sq_keypair_t impostor;
    sq_keypair_new (&impostor);
    //  One attempt: it would redial only after a minute
    void *client = sq_curve_client_new (self->ctx, proxy->frontend, "127.0.0.2", NULL,
                                        impostor.public_key, 60000);
    SQ_CHECK (client);
    bool failed = sq_stats_wait (proxy->control, "handshakes.failed_by.worker_closed",
                                 failures, SQ_WAIT_MS);
    zmq_close (client);
    SQ_CHECK (failed);
}

//  Polls WORKERS until the proxy counts S_SLOTS connections for S_NAME
//  (a slot a client used may still be closing)
static void
s_worker_connections_wait (sq_proxy_t *proxy)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long connections;
    while ((connections = s_worker_connections (proxy)) != S_SLOTS
    &&     sq_now_ms () < deadline)
        sq_sleep_ms (100);
    SQ_CHECK_MSG (connections == S_SLOTS, "%s: WORKERS counts %lld connections of %s",
                  proxy->control, connections, S_NAME);
}

//  ---------------------------------------------------------------------
//  Tests

static void
test_names_connections (void)
{
    s_fixture_t *self = s_fixture_new (NULL, false, 1000, false);
    s_all_named_wait (self->proxy);
    SQ_CHECK_EQ (s_worker_connections (self->proxy), S_SLOTS);
    //  The slot a client used is redialled by libzmq, and named again
    s_served (self, self->proxy, "to the python peer");
    s_served (self, self->proxy, "and once more");
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    s_all_named_wait (self->proxy);
    SQ_CHECK (sq_stats_wait_min (self->proxy->control, "backend.accepted", S_SLOTS + 2,
                                 SQ_WAIT_MS));
    s_fixture_destroy (&self);
}

static void
test_heartbeats (void)
{
    s_fixture_t *self = s_fixture_new (NULL, false, 200, false);
    s_all_named_wait (self->proxy);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "heartbeats.watched", 1, SQ_WAIT_MS));

    //  Frozen, it sends nothing: the proxy closes its connections
    SQ_CHECK_EQ (kill (self->worker, SIGSTOP), 0);
    bool closed = sq_stats_wait_min (self->proxy->control, "closed.heartbeat", S_SLOTS,
                                     SQ_WAIT_MS);
    bool gone = closed && sq_stats_wait (self->proxy->control, "backend.connections", 0,
                                         SQ_WAIT_MS);
    SQ_CHECK_EQ (kill (self->worker, SIGCONT), 0);
    SQ_CHECK (closed);
    SQ_CHECK (gone);
    SQ_CHECK (sq_file_wait (self->proxy->log_path, S_NAME " sent no heartbeat", 1, SQ_WAIT_MS));

    //  Thawed, its socket redials, the peer names the new connections and
    //  the heartbeats start again
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    s_all_named_wait (self->proxy);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "heartbeats.watched", 1, SQ_WAIT_MS));
    s_served (self, self->proxy, "after the thaw");
    s_fixture_destroy (&self);
}

static void
test_redials_lost_slots (void)
{
    const char *args [] = { "--handshake-ban", "0", NULL };
    s_fixture_t *self = s_fixture_new (args, true, 1000, false);
    s_all_named_wait (self->proxy);
    for (int index = 1; index <= 3; index++) {
        s_impostor_fails (self, self->proxy, index);
        SQ_CHECK (sq_file_wait (self->log_path, "peer_worker: redialled", index, SQ_WAIT_MS));
        SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    }
    s_all_named_wait (self->proxy);
    SQ_CHECK_EQ (sq_stat (self->proxy, "workers.slots_lost"), 3);
    SQ_CHECK_EQ (s_worker_connections (self->proxy), S_SLOTS);
    s_served (self, self->proxy, "right key");
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    s_all_named_wait (self->proxy);
    char log_path [512];
    snprintf (log_path, sizeof log_path, "%s", self->log_path);
    s_fixture_destroy (&self);
    //  The peer counted every loss, and only those
    SQ_CHECK_EQ (sq_file_count (log_path, " lost 3\n"), 1);
}

//  One socket at two proxies: each connection is named at the proxy it
//  went to, heartbeats reach both, a client through each is served, and
//  a slot lost at the first is redialled there, the second untouched
static void
test_several_proxies (void)
{
    const char *args [] = { "--handshake-ban", "0", NULL };
    //  Heartbeats every second: a slow run must not miss three in a row,
    //  or the proxies would close the connections the test watches
    s_fixture_t *self = s_fixture_new (args, true, 1000, true);
    sq_proxy_t *proxies [] = { self->proxy, self->second };
    for (int index = 0; index < 2; index++) {
        s_all_named_wait (proxies [index]);
        s_worker_connections_wait (proxies [index]);
        SQ_CHECK (sq_stats_wait (proxies [index]->control, "heartbeats.watched", 1,
                                 SQ_WAIT_MS));
    }
    s_served (self, self->proxy, "through the first");
    s_served (self, self->second, "through the second");
    for (int index = 0; index < 2; index++) {
        SQ_CHECK_EQ (sq_stat (proxies [index], "pairs.total"), 1);
        SQ_CHECK (sq_stats_wait (proxies [index]->control, "workers.idle", S_SLOTS,
                                 SQ_WAIT_MS));
        s_all_named_wait (proxies [index]);
        s_worker_connections_wait (proxies [index]);
    }

    //  A wrong key at the first costs a slot there, redialled there
    long long accepted_second = sq_stat (self->second, "backend.accepted");
    s_impostor_fails (self, self->proxy, 1);
    SQ_CHECK (sq_file_wait (self->log_path, "peer_worker: redialled 1", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    s_all_named_wait (self->proxy);
    s_worker_connections_wait (self->proxy);
    SQ_CHECK_EQ (sq_stat (self->proxy, "workers.slots_lost"), 1);

    //  The second saw none of it: no new connection, no failure
    SQ_CHECK_EQ (sq_stat (self->second, "backend.accepted"), accepted_second);
    SQ_CHECK_EQ (sq_stat (self->second, "handshakes.failed_by.worker_closed"), 0);
    SQ_CHECK_EQ (sq_stat (self->second, "workers.slots_lost"), 0);
    SQ_CHECK_EQ (sq_stat (self->second, "workers.idle"), S_SLOTS);
    s_all_named_wait (self->second);

    s_served (self, self->proxy, "through the first after a wrong key");
    s_served (self, self->second, "through the second after a wrong key at the first");
    char log_path [512];
    snprintf (log_path, sizeof log_path, "%s", self->log_path);
    s_fixture_destroy (&self);
    //  The Peer counted the loss at the first proxy only, and was refused
    //  nothing at either
    SQ_CHECK_EQ (sq_file_count (log_path, "redialled"), 1);
    SQ_CHECK_EQ (sq_file_count (log_path, " lost 1\n"), 1);
    SQ_CHECK_EQ (sq_file_count (log_path, "proxy 0 lost 1 registered "), 1);
    SQ_CHECK_EQ (sq_file_count (log_path, "proxy 1 lost 0 registered "), 1);
    SQ_CHECK_EQ (sq_file_count (log_path, " refused 0\n"), 2);
}

//  A wake of the Peer's thread once close() has begun (a heartbeat change
//  just before close, not yet read; peer_close.py makes one each round):
//  the thread must not stop before the monitor's last event is sent, or
//  close() waits for ever (the script then ends itself with status 1 and
//  its tracebacks)
static void
test_close_right_after_a_change (void)
{
    const char *python = sq_python_zmq ();
    SQ_CHECK_MSG (python, "python3 with zmq is needed: apt-get install python3-zmq");
    const char *argv [] = { python, S_CLOSER, "tcp://127.0.0.1:2", "3", NULL };
    char *out = NULL, *err = NULL;
    int code = sq_run (argv, SQ_WAIT_MS, &out, &err);
    SQ_CHECK_MSG (code == 0 && strstr (out, "closed 3\n"), "exit %d, out '%s', err '%s'",
                  code, out, err);
    free (out);
    free (err);
}

//  Peer on a DEALER of side with IMMEDIATE as given, closed at once:
//  what the script wrote on stderr (the caller frees it)
static char *
s_peer_stderr (const char *side, const char *immediate)
{
    const char *python = sq_python_zmq ();
    SQ_CHECK_MSG (python, "python3 with zmq is needed: apt-get install python3-zmq");
    const char *script =
        "import sys, zmq\n"
        "sys.path.insert(0, 'python')\n"
        "from streamq_peer import Peer\n"
        "ctx = zmq.Context()\n"
        "sock = ctx.socket(zmq.DEALER)\n"
        "sock.setsockopt(zmq.LINGER, 0)\n"
        "sock.setsockopt(zmq.IMMEDIATE, int(sys.argv[2]))\n"
        "Peer(ctx, sock, 'tcp://127.0.0.1:2', sys.argv[1], 'py-queue').close()\n"
        "sock.close()\n"
        "print('closed')\n";
    const char *argv [] = { python, "-c", script, side, immediate, NULL };
    char *out = NULL, *err = NULL;
    int code = sq_run (argv, SQ_WAIT_MS, &out, &err);
    SQ_CHECK_MSG (code == 0 && strstr (out, "closed\n"), "exit %d, out '%s', err '%s'",
                  code, out, err);
    free (out);
    return err;
}

//  A worker's socket without IMMEDIATE is named on stderr, as libstreamq
//  does; with it, or on a client's socket, nothing is said
static void
test_immediate_warning (void)
{
    char *err = s_peer_stderr ("backend", "0");
    bool warned = strstr (err, "streamq_peer: the socket of worker py-queue has IMMEDIATE 0") != NULL;
    free (err);
    SQ_CHECK_MSG (warned, "no warning for a worker socket with IMMEDIATE 0");
    err = s_peer_stderr ("backend", "1");
    bool quiet = strstr (err, "IMMEDIATE") == NULL;
    free (err);
    SQ_CHECK_MSG (quiet, "a warning for a worker socket with IMMEDIATE 1");
    err = s_peer_stderr ("frontend", "0");
    quiet = strstr (err, "IMMEDIATE") == NULL;
    free (err);
    SQ_CHECK_MSG (quiet, "a warning for a client socket");
}

int
main (void)
{
    SQ_RUN (test_names_connections);
    SQ_RUN (test_heartbeats);
    SQ_RUN (test_redials_lost_slots);
    SQ_RUN (test_several_proxies);
    SQ_RUN (test_close_right_after_a_change);
    SQ_RUN (test_immediate_warning);
    return sq_test_summary ();
}
