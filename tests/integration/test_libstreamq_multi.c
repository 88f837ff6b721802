/*  =========================================================================
    test_libstreamq_multi - one worker socket served by libstreamq at two
    proxies

    Two real proxies (A and B, --handshake-ban 0 so that every wrong-key
    client reaches the worker). One CURVE ROUTER worker dials S_SLOTS
    connections to each backend; one peer serves it: made for A with
    streamq_peer_new, attached to B with streamq_peer_add_proxy, B's
    backend given as tcp://localhost:PORT (the peer must match it as the
    127.0.0.1 libzmq reports). Each proxy then lists exactly its own
    S_SLOTS connections, all named W-multi, and one worker W-multi in
    WORKERS; both watch the name's heartbeats; a client through each is
    served. A client with the wrong server key through A costs the worker
    a slot at A: the peer counts it at A, the worker's loop redials it,
    and A's idle count comes back, named, while B sees nothing (the same
    connections, no failed handshake). Then a second proxy whose control
    socket runs CURVE (keys from streamq-ctl --keygen), added with
    streamq_peer_add_proxy_curve, names the connections made to it. Last,
    the arguments of streamq_peer_add_proxy and its errors.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"
#include "streamq.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

SQ_TEST_DEFINE

//  Connections the worker makes to each proxy
#define S_SLOTS     2
#define S_NAME      "W-multi"
#define S_PROXIES   2

//  The worker: a CURVE ROUTER, served by its own thread, which polls the
//  socket and the peer's redial fd, echoes every request and calls
//  streamq_peer_redial each turn. Socket and peer are made and destroyed
//  in the test's thread, before the thread starts and after it is joined.
typedef struct {
    void *ctx;
    void *socket;
    streamq_peer_t *peer;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    atomic_size_t redialled;    //  Sum of what streamq_peer_redial returned
    atomic_size_t failures;     //  Times it returned -1
} s_worker_t;

typedef struct {
    sq_proxy_t *proxy [S_PROXIES];
    char dial [S_PROXIES][256];     //  What the worker dials at each
    sq_keypair_t server_keys;
    s_worker_t worker;
} s_fixture_t;

//  The open (not closing) backend connections in a LIST reply
typedef struct {
    int count;
    int named;                  //  How many are counted under worker S_NAME
    long long id [64];
} s_backend_t;

//  ---------------------------------------------------------------------
//  What a proxy shows

//  Summarises the open backend connections in the JSON array list
static void
s_backend_read (const char *list, s_backend_t *view)
{
    memset (view, 0, sizeof *view);
    int count = sq_json_count (list, "");
    for (int index = 0; index < count; index++) {
        char path [64], text [300];
        snprintf (path, sizeof path, "%d.side", index);
        if (!sq_json_string (list, path, text, sizeof text) || strcmp (text, "backend"))
            continue;
        snprintf (path, sizeof path, "%d.state", index);
        if (!sq_json_string (list, path, text, sizeof text) || !strcmp (text, "closing"))
            continue;
        snprintf (path, sizeof path, "%d.worker", index);
        if (sq_json_string (list, path, text, sizeof text) && !strcmp (text, S_NAME))
            view->named++;
        snprintf (path, sizeof path, "%d.id", index);
        if (view->count < 64)
            sq_json_number (list, path, &view->id [view->count]);
        view->count++;
    }
}

//  Sends command to the proxy's control socket and returns the first
//  frame of the reply (caller frees), or NULL if none within SQ_WAIT_MS.
//  With a server_key, as a CURVE client with a key of its own (a proxy
//  with --control-open-read answers read-only commands to any key).
static char *
s_control_str (sq_proxy_t *proxy, const char *server_key, const char *command)
{
    if (!server_key)
        return sq_control_str (proxy->control, command);
    sq_keypair_t own;
    sq_keypair_new (&own);
    sq_security_t curve = {
        .mechanism = SQ_CURVE, .server_key = server_key,
        .public_key = own.public_key, .secret_key = own.secret_key
    };
    void *ctx = zmq_ctx_new ();
    void *request = sq_peer_new (ctx, ZMQ_REQ, &curve, proxy->control);
    SQ_CHECK (request);
    char *reply = NULL;
    if (sq_send_str (request, command) == 0)
        reply = sq_recv_str (request, SQ_WAIT_MS);
    zmq_close (request);
    zmq_ctx_term (ctx);
    return reply;
}

//  Reads the proxy's LIST now into view; false if it did not answer
static bool
s_backend_now (sq_proxy_t *proxy, s_backend_t *view)
{
    char *list = sq_control_str (proxy->control, "LIST");
    bool valid = list && sq_json_valid (list);
    s_backend_read (valid? list: "[]", view);
    free (list);
    return valid;
}

//  Polls LIST until exactly S_SLOTS open backend connections show, all
//  named S_NAME; fills view with the last one, prints LIST on failure.
//  server_key: of a control socket that runs CURVE, or NULL.
static bool
s_backend_wait (sq_proxy_t *proxy, const char *server_key, s_backend_t *view)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char *list = NULL;
    while (true) {
        free (list);
        list = s_control_str (proxy, server_key, "LIST");
        s_backend_read (list? list: "[]", view);
        bool done = view->count == S_SLOTS && view->named == S_SLOTS;
        if (done || sq_now_ms () >= deadline) {
            if (!done)
                fprintf (stderr, "last LIST of %s: %s\n", proxy->control,
                         list? list: "(no reply)");
            free (list);
            return done;
        }
        sq_sleep_ms (100);
    }
}

//  True if both views hold the same connection ids
static bool
s_backend_same (const s_backend_t *view, const s_backend_t *other)
{
    if (view->count != other->count)
        return false;
    for (int index = 0; index < view->count && index < 64; index++) {
        bool seen = false;
        for (int match = 0; match < other->count && match < 64; match++)
            seen = seen || view->id [index] == other->id [match];
        if (!seen)
            return false;
    }
    return true;
}

//  The connections of worker S_NAME in the proxy's WORKERS, and how many
//  workers it lists; -1 if S_NAME is not listed
static long long
s_worker_connections (sq_proxy_t *proxy, int *workers_p)
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
    *workers_p = count;
    return connections;
}

//  ---------------------------------------------------------------------
//  The worker

static void *
s_worker_thread (void *args)
{
    s_worker_t *self = args;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t items [] = {
            { self->socket, 0, ZMQ_POLLIN, 0 },
            { NULL, streamq_peer_redial_fd (self->peer), ZMQ_POLLIN, 0 }
        };
        if (zmq_poll (items, 2, 50) == -1 && errno != EINTR)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            sq_msg_t *request = sq_msg_recv (self->socket, 0);
            if (request)
                sq_msg_send (request, self->socket);
            sq_msg_destroy (&request);
        }
        int redialled = streamq_peer_redial (self->peer);
        if (redialled == -1)
            atomic_fetch_add (&self->failures, 1);
        else
            atomic_fetch_add (&self->redialled, (size_t) redialled);
    }
    return NULL;
}

//  Polls until counter (peer, proxy) reaches at least value
static bool
s_counter_wait (size_t (*counter) (streamq_peer_t *, int), streamq_peer_t *peer,
                int proxy, size_t value)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (counter (peer, proxy) < value && sq_now_ms () < deadline)
        sq_sleep_ms (20);
    return counter (peer, proxy) >= value;
}

//  Redialled == lost, once the worker's thread has caught up
static bool
s_redialled_wait (s_worker_t *worker)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (atomic_load (&worker->redialled) < streamq_peer_lost (worker->peer)
    &&     sq_now_ms () < deadline)
        sq_sleep_ms (20);
    return atomic_load (&worker->redialled) == streamq_peer_lost (worker->peer);
}

//  ---------------------------------------------------------------------
//  Fixture

//  Two proxies and the worker, with S_SLOTS idle connections at each. On
//  the heap, and left there if a check fails: the worker's thread then
//  runs on, and must not point into a stack frame that is gone.
static s_fixture_t *
s_setup (void)
{
    s_fixture_t *self = calloc (1, sizeof *self);
    SQ_CHECK (self);
    const char *args [] = { "--handshake-ban", "0", NULL };
    for (int index = 0; index < S_PROXIES; index++) {
        self->proxy [index] = sq_proxy_start ("test_libstreamq_multi", args);
        SQ_CHECK (self->proxy [index]);
    }
    snprintf (self->dial [0], sizeof self->dial [0], "%s", self->proxy [0]->backend);
    snprintf (self->dial [1], sizeof self->dial [1], "tcp://localhost:%d",
              sq_endpoint_port (self->proxy [1]->backend));
    sq_keypair_new (&self->server_keys);

    s_worker_t *worker = &self->worker;
    atomic_init (&worker->stop, false);
    atomic_init (&worker->redialled, 0);
    atomic_init (&worker->failures, 0);
    worker->ctx = zmq_ctx_new ();
    sq_security_t server = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = self->server_keys.public_key,
        .secret_key = self->server_keys.secret_key
    };
    worker->socket = sq_worker_socket_new (worker->ctx, ZMQ_ROUTER, &server, NULL);
    SQ_CHECK (worker->socket);
    worker->peer = streamq_peer_new (worker->ctx, worker->socket,
                                     self->proxy [0]->control, "backend", S_NAME);
    SQ_CHECK (worker->peer);
    //  Heartbeats at the default interval (1 s): a slow run must not
    //  miss three in a row, or the proxies would close the connections
    SQ_CHECK_EQ (streamq_peer_add_proxy (worker->peer, self->dial [1],
                                         self->proxy [1]->control), 1);
    for (int slot = 0; slot < S_SLOTS; slot++)
        for (int index = 0; index < S_PROXIES; index++)
            SQ_CHECK_EQ (zmq_connect (worker->socket, self->dial [index]), 0);
    SQ_CHECK_EQ (pthread_create (&worker->thread, NULL, s_worker_thread, worker), 0);
    worker->thread_started = true;
    for (int index = 0; index < S_PROXIES; index++)
        SQ_CHECK (sq_stats_wait (self->proxy [index]->control, "workers.idle", S_SLOTS,
                                 SQ_WAIT_MS));
    return self;
}

static void
s_teardown (s_fixture_t **self_p)
{
    s_fixture_t *self = *self_p;
    s_worker_t *worker = &self->worker;
    atomic_store (&worker->stop, true);
    pthread_join (worker->thread, NULL);
    streamq_peer_destroy (&worker->peer);
    zmq_close (worker->socket);
    zmq_ctx_term (worker->ctx);
    int rc [S_PROXIES];
    for (int index = 0; index < S_PROXIES; index++)
        rc [index] = sq_proxy_stop (&self->proxy [index]);
    free (self);
    *self_p = NULL;
    for (int index = 0; index < S_PROXIES; index++)
        SQ_CHECK_EQ (rc [index], 0);
}

//  A CURVE DEALER client of the given proxy's frontend, in its own
//  context, holding server_key as the worker's key. One attempt only
//  (no reconnect), so a wrong key fails exactly one handshake.
static void *
s_client_new (sq_proxy_t *proxy, void **ctx_p, const char *server_key)
{
    *ctx_p = zmq_ctx_new ();
    void *socket = sq_curve_client_new (*ctx_p, proxy->frontend, NULL, NULL, server_key, 600000);
    SQ_CHECK (socket);
    return socket;
}

static void
s_client_close (void **socket_p, void **ctx_p)
{
    zmq_close (*socket_p);
    zmq_ctx_term (*ctx_p);
    *socket_p = *ctx_p = NULL;
}

//  A client with the right key, through proxy, gets its echo
static void
s_served (s_fixture_t *self, sq_proxy_t *proxy, const char *text)
{
    void *ctx;
    void *client = s_client_new (proxy, &ctx, self->server_keys.public_key);
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    bool same = echo && strcmp (echo, text) == 0;
    free (echo);
    s_client_close (&client, &ctx);
    SQ_CHECK_MSG (same, "no echo of '%s' through %s within %d ms", text,
                  proxy->frontend, SQ_WAIT_MS);
}

//  Each proxy lists exactly its S_SLOTS connections, named S_NAME, and
//  the one worker S_NAME with S_SLOTS connections
static void
s_check_both_named (s_fixture_t *self, s_backend_t views [S_PROXIES])
{
    for (int index = 0; index < S_PROXIES; index++) {
        sq_proxy_t *proxy = self->proxy [index];
        SQ_CHECK_MSG (s_backend_wait (proxy, NULL, &views [index]),
                      "proxy %d: %d backend connections, %d named " S_NAME,
                      index, views [index].count, views [index].named);
        //  A slot a client used may still be closing: wait for it to go
        int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
        int workers = 0;
        long long connections;
        while ((connections = s_worker_connections (proxy, &workers)) != S_SLOTS
        &&     sq_now_ms () < deadline)
            sq_sleep_ms (100);
        SQ_CHECK_EQ (connections, S_SLOTS);
        SQ_CHECK_EQ (workers, 1);
    }
}

//  ---------------------------------------------------------------------
//  Tests

//  Each connection is registered at the proxy it went to, heartbeats
//  reach both, and a client through each is served
static void
test_registered_at_each (void)
{
    s_fixture_t *self = s_setup ();
    streamq_peer_t *peer = self->worker.peer;
    s_backend_t views [S_PROXIES];
    s_check_both_named (self, views);
    for (int index = 0; index < S_PROXIES; index++) {
        SQ_CHECK (s_counter_wait (streamq_peer_registered_at, peer, index, S_SLOTS));
        SQ_CHECK_EQ (streamq_peer_refused_at (peer, index), 0);
        SQ_CHECK (sq_stats_wait (self->proxy [index]->control, "heartbeats.watched", 1,
                                 SQ_WAIT_MS));
    }
    SQ_CHECK_EQ (streamq_peer_registered (peer),
                 streamq_peer_registered_at (peer, 0) + streamq_peer_registered_at (peer, 1));
    SQ_CHECK_EQ (streamq_peer_registered_at (peer, 2), 0);

    s_served (self, self->proxy [0], "through A");
    s_served (self, self->proxy [1], "through B");
    for (int index = 0; index < S_PROXIES; index++) {
        SQ_CHECK_EQ (sq_stat (self->proxy [index], "pairs.total"), 1);
        SQ_CHECK (sq_stats_wait (self->proxy [index]->control, "workers.idle", S_SLOTS,
                                 SQ_WAIT_MS));
    }
    //  The slots the clients used came back through libzmq, each named
    //  at its own proxy again
    s_check_both_named (self, views);
    SQ_CHECK_EQ (streamq_peer_lost (peer), 0);
    s_teardown (&self);
}

//  A slot lost to a wrong key at A is counted and redialled at A; B's
//  connections are untouched
static void
test_lost_redialled_at_its_proxy (void)
{
    s_fixture_t *self = s_setup ();
    streamq_peer_t *peer = self->worker.peer;
    sq_proxy_t *proxy_a = self->proxy [0], *proxy_b = self->proxy [1];
    s_backend_t before [S_PROXIES], after_b;
    s_check_both_named (self, before);
    SQ_CHECK (s_counter_wait (streamq_peer_registered_at, peer, 0, S_SLOTS));
    size_t registered_a = streamq_peer_registered_at (peer, 0);
    size_t registered_b = streamq_peer_registered_at (peer, 1);
    long long accepted_b = sq_stat (proxy_b, "backend.accepted");

    sq_keypair_t stranger;
    sq_keypair_new (&stranger);
    void *ctx;
    void *client = s_client_new (proxy_a, &ctx, stranger.public_key);
    bool failed = sq_stats_wait (proxy_a->control, "handshakes.failed_by.worker_closed", 1,
                                 SQ_WAIT_MS);
    bool lost = failed && s_counter_wait (streamq_peer_lost_at, peer, 0, 1);
    s_client_close (&client, &ctx);
    SQ_CHECK_MSG (failed, "no failed handshake at A within %d ms", SQ_WAIT_MS);
    SQ_CHECK_MSG (lost, "the peer counted no slot lost at A within %d ms", SQ_WAIT_MS);

    //  Redialled at A: its idle count comes back, named, registered there
    SQ_CHECK (s_redialled_wait (&self->worker));
    SQ_CHECK_EQ (atomic_load (&self->worker.redialled), 1);
    SQ_CHECK_EQ (atomic_load (&self->worker.failures), 0);
    SQ_CHECK (sq_stats_wait (proxy_a->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    s_backend_t after_a;
    SQ_CHECK (s_backend_wait (proxy_a, NULL, &after_a));
    SQ_CHECK (!s_backend_same (&after_a, &before [0]));
    SQ_CHECK (s_counter_wait (streamq_peer_registered_at, peer, 0, registered_a + 1));

    //  B saw nothing of it
    SQ_CHECK_EQ (streamq_peer_lost_at (peer, 1), 0);
    SQ_CHECK_EQ (streamq_peer_lost_at (peer, 0), 1);
    SQ_CHECK_EQ (streamq_peer_lost (peer), 1);
    SQ_CHECK (s_backend_now (proxy_b, &after_b));
    SQ_CHECK_MSG (s_backend_same (&after_b, &before [1]) && after_b.named == S_SLOTS,
                  "B's backend connections changed: %d, %d named", after_b.count,
                  after_b.named);
    SQ_CHECK_EQ (sq_stat (proxy_b, "backend.accepted"), accepted_b);
    SQ_CHECK_EQ (sq_stat (proxy_b, "handshakes.failed_by.worker_closed"), 0);
    SQ_CHECK_EQ (sq_stat (proxy_b, "workers.idle"), S_SLOTS);
    SQ_CHECK_EQ (streamq_peer_registered_at (peer, 1), registered_b);

    //  Both still serve the right client
    s_served (self, proxy_a, "through A after a wrong key");
    s_served (self, proxy_b, "through B after a wrong key at A");
    SQ_CHECK_EQ (atomic_load (&self->worker.redialled), 1);
    s_teardown (&self);
}

//  Copies the quoted value of `field` in a certificate file into key
static bool
s_key_read (const char *path, const char *field, char *key)
{
    char *text = sq_file_read (path);
    char *at = text? strstr (text, field): NULL;
    at = at? strchr (at, '"'): NULL;
    bool found = at && strlen (at) > 41 && at [41] == '"';
    if (found) {
        memcpy (key, at + 1, 40);
        key [40] = '\0';
    }
    free (text);
    return found;
}

//  Makes a key pair at path (the public certificate; path_secret the
//  secret one) with streamq-ctl --keygen and reads both keys back
static void
s_keygen (const char *path, sq_keypair_t *keys)
{
    const char *args [] = { "--keygen", path, NULL };
    char *err = NULL;
    int code = sq_run_program ("streamq-ctl", args, NULL, &err);
    SQ_CHECK_MSG (code == 0, "keygen %s exited %d: %s", path, code, err? err: "");
    free (err);
    char secret_path [600];
    snprintf (secret_path, sizeof secret_path, "%s_secret", path);
    SQ_CHECK (s_key_read (path, "public-key", keys->public_key));
    SQ_CHECK (s_key_read (secret_path, "secret-key", keys->secret_key));
}

//  A second proxy whose control socket runs CURVE, added with its keys:
//  the connections made to it are named there, those made to the first
//  at the first, and it watches the heartbeats too
static void
test_curve_control_at_second (void)
{
    char dir [64], clients [96], path [160], secret [200];
    snprintf (dir, sizeof dir, "/tmp/sq-test-multi-XXXXXX");
    SQ_CHECK (mkdtemp (dir));
    snprintf (clients, sizeof clients, "%s/clients", dir);
    SQ_CHECK_EQ (mkdir (clients, 0700), 0);
    sq_keypair_t proxy_keys, peer_keys;
    snprintf (path, sizeof path, "%s/proxy", dir);
    s_keygen (path, &proxy_keys);
    snprintf (secret, sizeof secret, "%s_secret", path);
    snprintf (path, sizeof path, "%s/worker", clients);
    s_keygen (path, &peer_keys);

    sq_proxy_t *plain = sq_proxy_start ("test_libstreamq_multi", NULL);
    SQ_CHECK (plain);
    const char *args [] = { "--control-key", secret, "--control-clients", clients,
                            "--control-open-read", NULL };
    sq_proxy_t *curve = sq_proxy_start ("test_libstreamq_multi", args);
    SQ_CHECK (curve);

    void *ctx = zmq_ctx_new ();
    void *socket = sq_worker_socket_new (ctx, ZMQ_ROUTER, NULL, NULL);
    SQ_CHECK (socket);
    streamq_peer_t *peer = streamq_peer_new (ctx, socket, plain->control, "backend", S_NAME);
    SQ_CHECK (peer);
    SQ_CHECK_EQ (streamq_peer_add_proxy_curve (peer, curve->backend, curve->control,
                                               peer_keys.public_key, peer_keys.secret_key,
                                               proxy_keys.public_key), 1);
    for (int slot = 0; slot < S_SLOTS; slot++) {
        SQ_CHECK_EQ (zmq_connect (socket, plain->backend), 0);
        SQ_CHECK_EQ (zmq_connect (socket, curve->backend), 0);
    }
    s_backend_t view;
    SQ_CHECK (s_backend_wait (plain, NULL, &view));
    SQ_CHECK (s_backend_wait (curve, proxy_keys.public_key, &view));
    SQ_CHECK (s_counter_wait (streamq_peer_registered_at, peer, 1, S_SLOTS));
    SQ_CHECK_EQ (streamq_peer_refused_at (peer, 1), 0);
    SQ_CHECK (sq_stats_wait (plain->control, "heartbeats.watched", 1, SQ_WAIT_MS));
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long watched = 0;
    while (watched != 1 && sq_now_ms () < deadline) {
        char *stats = s_control_str (curve, proxy_keys.public_key, "STATS");
        if (!stats || !sq_json_number (stats, "heartbeats.watched", &watched))
            watched = 0;
        free (stats);
        if (watched != 1)
            sq_sleep_ms (100);
    }
    SQ_CHECK_MSG (watched == 1, "the CURVE proxy watches %lld names", watched);

    streamq_peer_destroy (&peer);
    zmq_close (socket);
    SQ_CHECK_EQ (zmq_ctx_term (ctx), 0);
    SQ_CHECK_EQ (sq_proxy_stop (&plain), 0);
    SQ_CHECK_EQ (sq_proxy_stop (&curve), 0);
    const char *remove [] = { "/bin/rm", "-rf", dir, NULL };
    SQ_CHECK_EQ (sq_run (remove, SQ_WAIT_MS, NULL, NULL), 0);
}

//  streamq_peer_add_proxy refuses what it cannot serve
static void
test_add_proxy_errors (void)
{
    void *ctx = zmq_ctx_new ();
    void *socket = sq_worker_socket_new (ctx, ZMQ_ROUTER, NULL, NULL);
    SQ_CHECK (socket);
    streamq_peer_t *peer = streamq_peer_new (ctx, socket, "tcp://127.0.0.1:1",
                                             "backend", "W-errors");
    SQ_CHECK (peer);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 0), 0);
    const char *control = "tcp://127.0.0.1:2";

    SQ_CHECK_EQ (streamq_peer_add_proxy (NULL, "tcp://127.0.0.1:3", control), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, NULL, control), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://127.0.0.1:3", NULL), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://127.0.0.1", control), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://:3", control), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://127.0.0.1:3", "nonsense"), -1);

    //  One endpoint, one proxy: the same address written another way
    //  (a name, a source address) is the same proxy
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://127.0.0.1:3", control), 1);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://localhost:3", control), -1);
    SQ_CHECK_EQ (errno, EEXIST);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://127.0.0.2:0;127.0.0.1:3", control), -1);
    SQ_CHECK_EQ (errno, EEXIST);
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://[::1]:3", control), 2);

    //  Bad keys for a CURVE control socket
    char public_key [41], secret_key [41];
    SQ_CHECK_EQ (zmq_curve_keypair (public_key, secret_key), 0);
    SQ_CHECK_EQ (streamq_peer_add_proxy_curve (peer, "tcp://127.0.0.1:4", control,
                                               NULL, "short", public_key), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy_curve (peer, "tcp://127.0.0.1:4", control,
                                               public_key, secret_key, "short"), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy_curve (NULL, "tcp://127.0.0.1:4", control,
                                               public_key, secret_key, public_key), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_add_proxy_curve (peer, "tcp://127.0.0.1:4", control,
                                               public_key, secret_key, public_key), 3);

    //  Up to STREAMQ_PROXIES_MAX in all
    for (int index = 4; index < STREAMQ_PROXIES_MAX; index++) {
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", 1000 + index);
        SQ_CHECK_EQ (streamq_peer_add_proxy (peer, endpoint, control), index);
    }
    SQ_CHECK_EQ (streamq_peer_add_proxy (peer, "tcp://127.0.0.1:999", control), -1);
    SQ_CHECK_EQ (errno, ENOSPC);
    SQ_CHECK_EQ (streamq_peer_registered_at (peer, -1), 0);
    SQ_CHECK_EQ (streamq_peer_registered_at (peer, STREAMQ_PROXIES_MAX), 0);
    SQ_CHECK_EQ (streamq_peer_lost_at (NULL, 0), 0);

    streamq_peer_destroy (&peer);
    zmq_close (socket);
    SQ_CHECK_EQ (zmq_ctx_term (ctx), 0);
}

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    SQ_RUN (test_registered_at_each);
    SQ_RUN (test_lost_redialled_at_its_proxy);
    if (zmq_has ("curve"))
        SQ_RUN (test_curve_control_at_second);
    SQ_RUN (test_add_proxy_errors);
    return sq_test_summary ();
}
