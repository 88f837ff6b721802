/*  =========================================================================
    test_python_worker - the pyzmq worker recipe keeps all its slots

    Runs examples/pyzmq_worker.py with python3 (the first python3 in PATH
    that can import zmq: Debian's python3-zmq) as a CURVE worker of 4
    connections behind a real proxy started with --handshake-ban 0, so
    every client with the wrong server key reaches the worker. libzmq
    does not redial a connection lost to a handshake protocol error; the
    recipe does, once per loss: after several such clients the worker has
    exactly 4 connections again (not fewer, not more) and serves a correct
    client. The two failures libzmq redials itself (a ZAP refusal, a
    client that leaves in the middle of the handshake) must not be
    redialled again: the count stays at 4. The client that leaves in the
    middle is a raw peer replaying a HELLO captured from a real libzmq
    client, so the worker really gets as far as its WELCOME.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

SQ_TEST_DEFINE

#define S_RECIPE        "examples/pyzmq_worker.py"
#define S_SLOTS         4
#define S_WRONG_KEYS    5       //  Wrong-key clients, one after another

typedef struct {
    sq_proxy_t *proxy;
    sq_keypair_t server;        //  The worker's keys
    pid_t worker;               //  The python3 process
    char log_path [512];        //  Its stdout and stderr
    void *ctx;                  //  For the clients
} s_fixture_t;

//  ---------------------------------------------------------------------
//  Helpers

//  The python3 to run the recipe with; fails the test, saying what to
//  install, if no python3 can import zmq
static const char *
s_python (void)
{
    const char *python = sq_python_zmq ();
    SQ_CHECK_MSG (python, "python3 with zmq is needed: apt-get install python3-zmq");
    return python;
}

//  Starts the recipe with the given extra arguments (NULL-terminated);
//  the secret key is passed in the environment unless an argument names
//  a key file. Waits for its connections to be idle in the proxy.
static void
s_worker_start (s_fixture_t *self, const char **extra)
{
    static int counter = 0;
    char dir [512];
    sq_build_path ("tests", dir, sizeof dir);
    snprintf (self->log_path, sizeof self->log_path, "%.400s/test_python_worker-%d.worker.log",
              dir, ++counter);
    unlink (self->log_path);
    char connections [16];
    snprintf (connections, sizeof connections, "%d", S_SLOTS);
    const char *argv [32] = { s_python (), "-u", S_RECIPE, "--connections", connections };
    int argc = 5;
    for (int index = 0; extra && extra [index] && argc < 30; index++)
        argv [argc++] = extra [index];
    argv [argc++] = self->proxy->backend;
    argv [argc] = NULL;
    SQ_CHECK_EQ (setenv ("STREAMQ_CURVE_SECRET", self->server.secret_key, 1), 0);
    self->worker = sq_child_start (argv, self->log_path);
    unsetenv ("STREAMQ_CURVE_SECRET");
    SQ_CHECK (self->worker > 0);
    printf ("# worker %d: %s\n", (int) self->worker, self->log_path);
    bool ready = sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS);
    if (!ready) {
        char *log = sq_file_read (self->log_path);
        fprintf (stderr, "---- %s\n%s---- end\n", self->log_path, log? log: "(empty)\n");
        free (log);
    }
    SQ_CHECK (ready);
    char expected [80];
    snprintf (expected, sizeof expected, "curve public key: %s", self->server.public_key);
    SQ_CHECK (sq_file_wait (self->log_path, expected, 1, SQ_WAIT_MS));
}

//  A proxy where no client is ever banned. On the heap: a failed check
//  leaves it behind, with the worker killed at exit.
static s_fixture_t *
s_fixture_new (void)
{
    s_python ();
    s_fixture_t *self = calloc (1, sizeof *self);
    SQ_CHECK (self);
    const char *args [] = { "--handshake-ban", "0", NULL };
    self->proxy = sq_proxy_start ("test_python_worker", args);
    SQ_CHECK (self->proxy);
    sq_keypair_new (&self->server);
    self->ctx = zmq_ctx_new ();
    return self;
}

//  Stops the worker (it must exit 0 on SIGTERM) and the proxy
static void
s_fixture_destroy (s_fixture_t **self_p)
{
    s_fixture_t *self = *self_p;
    int worker_rc = self->worker > 0? sq_child_stop (self->worker, SIGTERM): 0;
    zmq_ctx_term (self->ctx);
    int proxy_rc = sq_proxy_stop (&self->proxy);
    bool stopped = sq_file_count (self->log_path, "pyzmq_worker: stopped") == 1;
    free (self);
    *self_p = NULL;
    SQ_CHECK_EQ (worker_rc, 0);
    SQ_CHECK (stopped);
    SQ_CHECK_EQ (proxy_rc, 0);
}

//  A CURVE client from source_ip with the given keys (NULL: fresh ones),
//  trusting server_key, making a single attempt (it would redial only
//  after a minute)
static void *
s_client (s_fixture_t *self, const char *source_ip, const sq_keypair_t *keys,
          const char *server_key)
{
    void *client = sq_curve_client_new (self->ctx, self->proxy->frontend, source_ip, keys,
                                        server_key, 60000);
    SQ_CHECK (client);
    return client;
}

//  A client with the right server key and the given keys gets its echo
static void
s_served (s_fixture_t *self, const sq_keypair_t *keys, const char *text)
{
    void *client = s_client (self, "127.0.0.3", keys, self->server.public_key);
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    bool same = echo && strcmp (echo, text) == 0;
    free (echo);
    zmq_close (client);
    SQ_CHECK_MSG (same, "no echo of '%s' within %d ms", text, SQ_WAIT_MS);
}

//  The worker has exactly S_SLOTS connections, all idle, and keeps that
//  many through a quiet period: none lost, none dialled twice
static void
s_slots_exact (s_fixture_t *self)
{
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (self->proxy->control, "backend.connections", S_SLOTS, SQ_WAIT_MS));
    int64_t deadline = sq_now_ms () + SQ_QUIET_MS;
    while (sq_now_ms () < deadline) {
        long long connections = sq_stat (self->proxy, "backend.connections");
        SQ_CHECK_MSG (connections == S_SLOTS, "the worker has %lld connections, not %d",
                      connections, S_SLOTS);
        sq_sleep_ms (100);
    }
    SQ_CHECK_EQ (sq_stat (self->proxy, "workers.idle"), S_SLOTS);
}

//  ---------------------------------------------------------------------
//  Capturing a real HELLO

//  A TCP listener on 127.0.0.1 (any port); its fd, and its endpoint in buf
static int
s_listener (char *endpoint, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SQ_CHECK (fd >= 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    SQ_CHECK_EQ (bind (fd, (struct sockaddr *) &address, sizeof address), 0);
    SQ_CHECK_EQ (listen (fd, 1), 0);
    snprintf (endpoint, size, "tcp://127.0.0.1:%d", sq_fd_local_port (fd));
    return fd;
}

//  Lets a real libzmq CURVE client that trusts server_key send its HELLO
//  to a listener that plays the server's greeting; copies the whole
//  frame (flags, size, 200-byte body) into hello and returns its size
static size_t
s_capture_hello (s_fixture_t *self, const char *server_key, uint8_t *hello)
{
    char endpoint [64];
    int listener = s_listener (endpoint, sizeof endpoint);
    sq_keypair_t keys;
    sq_keypair_new (&keys);
    sq_security_t security = {
        .mechanism = SQ_CURVE, .server_key = server_key,
        .public_key = keys.public_key, .secret_key = keys.secret_key
    };
    void *client = sq_peer_new (self->ctx, ZMQ_DEALER, &security, endpoint);
    SQ_CHECK (client);
    int fd = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
    close (listener);
    SQ_CHECK (fd >= 0);
    uint8_t greeting [64];
    sq_zmtp_greeting (greeting, "CURVE");
    SQ_CHECK_EQ (sq_tcp_send (fd, greeting, 64), 0);
    SQ_CHECK_EQ (sq_tcp_recv (fd, greeting, 64, SQ_WAIT_MS), 64);
    sq_zmtp_frame_t *frame = malloc (sizeof *frame);
    bool read = sq_zmtp_read_frame (fd, frame, SQ_WAIT_MS);
    bool is_hello = read && sq_zmtp_is_command (frame, "HELLO") && frame->size == 200;
    if (is_hello) {
        hello [0] = frame->flags;
        hello [1] = (uint8_t) frame->size;
        memcpy (hello + 2, frame->body, frame->size);
    }
    free (frame);
    zmq_close (client);
    close (fd);
    SQ_CHECK_MSG (is_hello, "the libzmq client sent no 200-byte HELLO");
    return 202;
}

//  A raw client sends a real HELLO through the proxy, reads the worker's
//  WELCOME, and hangs up in the middle of the handshake
static void
s_leave_after_welcome (s_fixture_t *self)
{
    uint8_t hello [202];
    size_t size = s_capture_hello (self, self->server.public_key, hello);
    int fd = sq_tcp_connect_from (self->proxy->frontend, "127.0.0.2");
    SQ_CHECK (fd >= 0);
    SQ_CHECK (sq_zmtp_expect_prefix (fd, SQ_WAIT_MS));
    uint8_t greeting [64];
    sq_zmtp_greeting (greeting, "CURVE");
    SQ_CHECK_EQ (sq_tcp_send (fd, greeting, 64), 0);
    SQ_CHECK (sq_zmtp_expect_tail (fd, "CURVE", SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_tcp_send (fd, hello, size), 0);
    sq_zmtp_frame_t *frame = malloc (sizeof *frame);
    bool welcome = sq_zmtp_read_frame (fd, frame, SQ_WAIT_MS)
                && sq_zmtp_is_command (frame, "WELCOME");
    free (frame);
    close (fd);
    SQ_CHECK_MSG (welcome, "the worker did not answer the HELLO with a WELCOME");
}

//  ---------------------------------------------------------------------
//  Tests

static void
test_redials_lost_slots (void)
{
    s_fixture_t *self = s_fixture_new ();
    s_worker_start (self, NULL);

    //  Each wrong-key client costs the worker a connection, which libzmq
    //  would not redial; the recipe does
    for (int index = 1; index <= S_WRONG_KEYS; index++) {
        sq_keypair_t impostor;
        sq_keypair_new (&impostor);
        void *client = s_client (self, "127.0.0.2", NULL, impostor.public_key);
        bool failed = sq_stats_wait (self->proxy->control, "handshakes.failed_by.worker_closed",
                                     index, SQ_WAIT_MS);
        zmq_close (client);
        SQ_CHECK_MSG (failed, "wrong-key client %d did not fail at the worker", index);
        SQ_CHECK (sq_file_wait (self->log_path, "pyzmq_worker: redialled", index, SQ_WAIT_MS));
        SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));
    }
    SQ_CHECK_EQ (sq_stat (self->proxy, "workers.slots_lost"), S_WRONG_KEYS);
    SQ_CHECK_EQ (sq_stat (self->proxy, "bans.active"), 0);
    s_slots_exact (self);
    SQ_CHECK_EQ (sq_file_count (self->log_path, "pyzmq_worker: redialled"), S_WRONG_KEYS);

    //  It serves a client with the right key, and that client's slot,
    //  which libzmq redials itself, is not dialled twice
    s_served (self, NULL, "served by python");
    s_served (self, NULL, "and again");
    SQ_CHECK (sq_stats_wait (self->proxy->control, "handshakes.completed", 2, SQ_WAIT_MS));
    s_slots_exact (self);
    SQ_CHECK_EQ (sq_file_count (self->log_path, "pyzmq_worker: redialled"), S_WRONG_KEYS);
    s_fixture_destroy (&self);
}

static void
test_no_redial_when_libzmq_redials (void)
{
    s_fixture_t *self = s_fixture_new ();
    //  The worker accepts one client key (a ZAP handler with its public
    //  certificate) and reads its own secret certificate from a file
    sq_keypair_t allowed;
    sq_keypair_new (&allowed);
    char dir [512], clients [600], path [700];
    sq_build_path ("tests", dir, sizeof dir);
    snprintf (clients, sizeof clients, "%.500s/test_python_worker-%d.clients", dir,
              (int) getpid ());
    mkdir (clients, 0700);
    snprintf (path, sizeof path, "%s/allowed.key", clients);
    FILE *file = fopen (path, "w");
    SQ_CHECK (file);
    fprintf (file, "#   ZeroMQ CURVE Public Certificate\nmetadata\ncurve\n"
                   "    public-key = \"%s\"\n", allowed.public_key);
    fclose (file);
    char secret [700];
    snprintf (secret, sizeof secret, "%s/server_secret", clients);
    file = fopen (secret, "w");
    SQ_CHECK (file);
    fprintf (file, "#   ZeroMQ CURVE **Secret** Certificate\nmetadata\ncurve\n"
                   "    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             self->server.public_key, self->server.secret_key);
    fclose (file);
    const char *extra [] = { "--clients", clients, "--curve-secret-file", secret, NULL };
    s_worker_start (self, extra);

    //  A key the ZAP handler refuses: libzmq redials that slot itself
    void *client = s_client (self, "127.0.0.2", NULL, self->server.public_key);
    bool refused = sq_stats_wait (self->proxy->control, "handshakes.failed_by.error", 1,
                                  SQ_WAIT_MS);
    zmq_close (client);
    SQ_CHECK (refused);
    SQ_CHECK (sq_file_wait (self->log_path, "refused by ZAP", 1, SQ_WAIT_MS));
    s_slots_exact (self);

    //  A client that leaves after the worker's WELCOME: libzmq redials it
    s_leave_after_welcome (self);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "handshakes.failed_by.client_closed", 1,
                             SQ_WAIT_MS));
    SQ_CHECK (sq_file_wait (self->log_path, "closed mid-handshake", 1, SQ_WAIT_MS));
    s_slots_exact (self);

    SQ_CHECK_EQ (sq_file_count (self->log_path, "pyzmq_worker: redialled"), 0);
    SQ_CHECK_EQ (sq_stat (self->proxy, "workers.slots_lost"), 0);
    s_served (self, &allowed, "allowed key");
    s_fixture_destroy (&self);
    unlink (path);
    unlink (secret);
    rmdir (clients);
}

int
main (void)
{
    SQ_RUN (test_redials_lost_slots);
    SQ_RUN (test_no_redial_when_libzmq_redials);
    return sq_test_summary ();
}
