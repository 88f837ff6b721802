/*  =========================================================================
    test_libstreamq - the peer library registers every connection by name

    First against a fake control socket played by the test (so the exact
    IDENTIFY frames, the address format and the reply handling are
    checked with any proxy): a raw TCP listener stands in for the proxy's
    backend and shows the address the far end really sees. The same fake
    control socket counts the HEARTBEAT frames the peer sends on its own,
    at the interval it is given, and sees them stop when turned off.
    Then through the real proxy: a CURVE worker (a ROUTER connected three
    times) and a CURVE client name themselves, LIST shows the names, the
    echo crosses the proxy end to end, and a worker slot that the proxy
    closes comes back registered again. Then lost slots: a client with the
    wrong server key costs a CURVE worker a connection for good (libzmq
    does not redial it), the peer counts it and streamq_peer_redial, in
    the worker's loop, brings it back; a ZAP refusal costs nothing and is
    not counted, nor is a failure on a connection the socket accepted.
    Last, destroy with no proxy and with the context already shut down
    returns and leaves nothing behind.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"
#include "streamq.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

SQ_TEST_DEFINE

//  Bound for calls that must return at once (destroy, zmq_ctx_term)
#define S_PROMPT_MS  (SQ_WAIT_MS / 4)
//  Connections the worker makes: three clients at once
#define S_SLOTS      3

//  ---------------------------------------------------------------------
//  Waiting

typedef size_t (s_counter_fn) (streamq_peer_t *self);

//  Polls counter (peer) until it reaches at least value
static bool
s_counter_wait (s_counter_fn *counter, streamq_peer_t *peer, size_t value)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (counter (peer) < value && sq_now_ms () < deadline)
        sq_sleep_ms (20);
    return counter (peer) >= value;
}

//  ---------------------------------------------------------------------
//  A raw TCP listener standing in for the proxy's backend

typedef struct {
    int fd;
    char endpoint [128];        //  tcp://127.0.0.1:PORT or tcp://[::1]:PORT
} s_listener_t;

//  Listens on the loopback address of family on an ephemeral port; false
//  if that family has no loopback here
static bool
s_listener_open (s_listener_t *self, int family)
{
    struct sockaddr_storage address = { .ss_family = (sa_family_t) family };
    socklen_t size = family == AF_INET6? sizeof (struct sockaddr_in6): sizeof (struct sockaddr_in);
    if (family == AF_INET6)
        ((struct sockaddr_in6 *) &address)->sin6_addr = in6addr_loopback;
    else
        ((struct sockaddr_in *) &address)->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    self->fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (self->fd == -1 || bind (self->fd, (struct sockaddr *) &address, size) == -1
    ||  listen (self->fd, 16) == -1
    ||  getsockname (self->fd, (struct sockaddr *) &address, &size) == -1) {
        if (self->fd != -1)
            close (self->fd);
        return false;
    }
    int port = ntohs (((struct sockaddr_in *) &address)->sin_port);
    snprintf (self->endpoint, sizeof self->endpoint,
              family == AF_INET6? "tcp://[::1]:%d": "tcp://127.0.0.1:%d", port);
    return true;
}

//  Accepts one connection and writes its remote address, as the proxy
//  would name it (getnameinfo, as libzmq does for Peer-Address), into
//  address; returns the fd or -1
static int
s_listener_accept (s_listener_t *self, char *address, size_t size)
{
    struct pollfd item = { self->fd, POLLIN, 0 };
    if (poll (&item, 1, SQ_WAIT_MS) != 1)
        return -1;
    struct sockaddr_storage remote;
    socklen_t length = sizeof remote;
    int fd = accept4 (self->fd, (struct sockaddr *) &remote, &length, SOCK_CLOEXEC);
    char host [NI_MAXHOST], port [NI_MAXSERV];
    if (fd == -1 || getnameinfo ((struct sockaddr *) &remote, length, host, sizeof host,
                                 port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return -1;
    snprintf (address, size, remote.ss_family == AF_INET6? "[%s]:%s": "%s:%s", host, port);
    return fd;
}

//  ---------------------------------------------------------------------
//  A fake control socket: the test answers IDENTIFY itself

typedef struct {
    void *ctx;
    void *router;
    char endpoint [128];
} s_control_t;

static void
s_control_open (s_control_t *self)
{
    self->ctx = zmq_ctx_new ();
    self->router = sq_peer_new (self->ctx, ZMQ_ROUTER, NULL, NULL);
    SQ_CHECK (self->router);
    SQ_CHECK_EQ (zmq_bind (self->router, "tcp://127.0.0.1:*"), 0);
    size_t size = sizeof self->endpoint;
    SQ_CHECK_EQ (zmq_getsockopt (self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &size), 0);
}

static void
s_control_close (s_control_t *self)
{
    zmq_close (self->router);
    zmq_ctx_term (self->ctx);
}

//  True if request (routing id first) is a HEARTBEAT
static bool
s_is_heartbeat (const sq_msg_t *request)
{
    return request->count > 2 && strcmp ((char *) request->data [2], "HEARTBEAT") == 0;
}

//  Receives the next request that is not a HEARTBEAT (the peer sends
//  those on its own, every second by default), waiting up to timeout_ms
static sq_msg_t *
s_control_recv (s_control_t *self, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    while (true) {
        long remaining = (long) (deadline - sq_now_ms ());
        sq_msg_t *request = sq_msg_recv (self->router, remaining > 0? remaining: 0);
        if (!request || !s_is_heartbeat (request))
            return request;
        sq_msg_destroy (&request);
    }
}

//  Receives one request and checks it is IDENTIFY side <address> name,
//  sent as a DEALER that mimics REQ (routing id, empty delimiter, then
//  the command), for one of the `count` addresses. Stores which in *which.
static sq_msg_t *
s_control_expect (s_control_t *self, const char *side, const char *name,
                  char addresses [][256], int count, int *which)
{
    sq_msg_t *request = s_control_recv (self, SQ_WAIT_MS);
    SQ_CHECK_MSG (request, "no IDENTIFY within %d ms", SQ_WAIT_MS);
    SQ_CHECK_EQ (request->count, 6);
    SQ_CHECK_EQ (request->size [1], 0);
    SQ_CHECK_STR ((char *) request->data [2], "IDENTIFY");
    SQ_CHECK_STR ((char *) request->data [3], side);
    SQ_CHECK_STR ((char *) request->data [5], name);
    *which = -1;
    for (int index = 0; index < count; index++)
        if (strcmp ((char *) request->data [4], addresses [index]) == 0)
            *which = index;
    SQ_CHECK_MSG (*which != -1, "IDENTIFY for %s, but the listener saw %s%s%s",
                  (char *) request->data [4], addresses [0],
                  count > 1? " and ": "", count > 1? addresses [1]: "");
    return request;
}

//  Answers request (and destroys it) with the frames after the delimiter
static void
s_control_reply (s_control_t *self, sq_msg_t **request_p, const char *status,
                 const char *reason)
{
    sq_msg_t *reply = sq_msg_new ();
    sq_msg_add (reply, (*request_p)->data [0], (*request_p)->size [0]);
    sq_msg_addstr (reply, "");
    sq_msg_addstr (reply, status);
    if (reason)
        sq_msg_addstr (reply, reason);
    SQ_CHECK_EQ (sq_msg_send (reply, self->router), 0);
    sq_msg_destroy (&reply);
    sq_msg_destroy (request_p);
}

//  ---------------------------------------------------------------------
//  Against the fake control socket

//  What streamq_peer_new (side, on a DEALER with ZMQ_IMMEDIATE as given)
//  writes on stderr: the caller frees it
static char *
s_new_peer_stderr (const char *side, bool immediate)
{
    void *ctx = zmq_ctx_new ();
    void *socket = immediate? sq_worker_socket_new (ctx, ZMQ_DEALER, NULL, NULL)
                            : sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (socket);
    FILE *capture = tmpfile ();
    SQ_CHECK (capture);
    fflush (stderr);
    int saved = dup (STDERR_FILENO);
    SQ_CHECK (saved >= 0);
    dup2 (fileno (capture), STDERR_FILENO);
    streamq_peer_t *peer = streamq_peer_new (ctx, socket, "tcp://127.0.0.1:1", side, "W-queue");
    fflush (stderr);
    dup2 (saved, STDERR_FILENO);
    close (saved);
    SQ_CHECK (peer);
    streamq_peer_destroy (&peer);
    zmq_close (socket);
    zmq_ctx_term (ctx);
    char *text = calloc (1, 4096);
    SQ_CHECK (text);
    rewind (capture);
    size_t size = fread (text, 1, 4095, capture);
    text [size] = '\0';
    fclose (capture);
    return text;
}

//  A worker's socket without ZMQ_IMMEDIATE is named on stderr (a reply
//  queued for a client that left would go to the next one); with it, or
//  on a client's socket (whose queue is meant to outlive a redial),
//  nothing is said
static void
test_immediate_warning (void)
{
    char *text = s_new_peer_stderr ("backend", false);
    bool warned = strstr (text, "libstreamq: the socket of worker W-queue has ZMQ_IMMEDIATE 0") != NULL;
    free (text);
    SQ_CHECK_MSG (warned, "no warning for a worker socket with ZMQ_IMMEDIATE 0");
    text = s_new_peer_stderr ("backend", true);
    bool quiet = strstr (text, "ZMQ_IMMEDIATE") == NULL;
    free (text);
    SQ_CHECK_MSG (quiet, "a warning for a worker socket with ZMQ_IMMEDIATE 1");
    text = s_new_peer_stderr ("frontend", false);
    quiet = strstr (text, "ZMQ_IMMEDIATE") == NULL;
    free (text);
    SQ_CHECK_MSG (quiet, "a warning for a client socket");
}

static void
test_bad_arguments (void)
{
    void *ctx = zmq_ctx_new ();
    void *socket = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (socket);
    const char *control = "tcp://127.0.0.1:1";
    char long_name [STREAMQ_NAME_MAX + 2];
    memset (long_name, 'x', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = '\0';

    SQ_CHECK (!streamq_peer_new (NULL, socket, control, "backend", "W"));
    SQ_CHECK (!streamq_peer_new (ctx, NULL, control, "backend", "W"));
    SQ_CHECK (!streamq_peer_new (ctx, socket, NULL, "backend", "W"));
    SQ_CHECK (!streamq_peer_new (ctx, socket, control, "worker", "W"));
    SQ_CHECK (!streamq_peer_new (ctx, socket, control, "backend", ""));
    SQ_CHECK (!streamq_peer_new (ctx, socket, control, "backend", long_name));
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK (!streamq_peer_new (ctx, socket, "nonsense", "backend", "W"));

    //  A name of exactly STREAMQ_NAME_MAX bytes is fine
    long_name [STREAMQ_NAME_MAX] = '\0';
    streamq_peer_t *peer = streamq_peer_new (ctx, socket, control, "frontend", long_name);
    SQ_CHECK (peer);
    SQ_CHECK_EQ (streamq_peer_registered (peer), 0);
    streamq_peer_destroy (&peer);
    SQ_CHECK (peer == NULL);
    streamq_peer_destroy (&peer);
    streamq_peer_destroy (NULL);
    SQ_CHECK_EQ (streamq_peer_registered (NULL), 0);
    zmq_close (socket);
    SQ_CHECK_EQ (zmq_ctx_term (ctx), 0);
}

//  Accepts `count` connections into fds [] and their addresses
static void
s_accept_all (s_listener_t *listener, int *fds, char addresses [][256], int count)
{
    for (int index = 0; index < count; index++) {
        fds [index] = s_listener_accept (listener, addresses [index], 256);
        SQ_CHECK_MSG (fds [index] != -1, "no connection to %s", listener->endpoint);
    }
}

//  A socket with ZMQ_IPV6 = ipv6 connects to a listener of the given
//  family twice, and once more after the listener drops a connection;
//  every connection is registered with the address the listener sees,
//  and both kinds of reply are counted
static void
s_check_registrations (int family, int ipv6)
{
    s_listener_t listener;
    if (!s_listener_open (&listener, family)) {
        printf ("# no loopback for address family %d here: skipped\n", family);
        return;
    }
    s_control_t control;
    s_control_open (&control);
    void *ctx = zmq_ctx_new ();
    void *socket = sq_worker_socket_new (ctx, ZMQ_ROUTER, NULL, NULL);
    SQ_CHECK (socket);
    SQ_CHECK_EQ (zmq_setsockopt (socket, ZMQ_IPV6, &ipv6, sizeof ipv6), 0);
    streamq_peer_t *peer = streamq_peer_new (ctx, socket, control.endpoint, "backend", "W-fake");
    SQ_CHECK (peer);
    SQ_CHECK_EQ (zmq_connect (socket, listener.endpoint), 0);
    SQ_CHECK_EQ (zmq_connect (socket, listener.endpoint), 0);

    int fds [3], which;
    char addresses [3][256];
    s_accept_all (&listener, fds, addresses, 2);
    sq_msg_t *request = s_control_expect (&control, "backend", "W-fake", addresses, 2, &which);
    s_control_reply (&control, &request, "OK", NULL);
    request = s_control_expect (&control, "backend", "W-fake", addresses, 2, &which);
    s_control_reply (&control, &request, "ERROR", "no such thing");
    SQ_CHECK (s_counter_wait (streamq_peer_registered, peer, 1));
    SQ_CHECK (s_counter_wait (streamq_peer_refused, peer, 1));

    //  The far end drops a connection: libzmq redials, and the new
    //  connection is registered too
    close (fds [0]);
    s_accept_all (&listener, fds + 2, addresses + 2, 1);
    request = s_control_expect (&control, "backend", "W-fake", addresses + 2, 1, &which);
    s_control_reply (&control, &request, "OK", NULL);
    SQ_CHECK (s_counter_wait (streamq_peer_registered, peer, 2));
    SQ_CHECK_EQ (streamq_peer_refused (peer), 1);

    streamq_peer_destroy (&peer);
    zmq_close (socket);
    SQ_CHECK_EQ (zmq_ctx_term (ctx), 0);
    close (fds [1]);
    close (fds [2]);
    close (listener.fd);
    s_control_close (&control);
}

static void
test_identify_ipv4 (void)
{
    s_check_registrations (AF_INET, 0);
}

static void
test_identify_ipv6 (void)
{
    s_check_registrations (AF_INET6, 1);
}

//  A dual-stack socket reaching an IPv4 address has a local address
//  ::ffff:a.b.c.d; the IPv4 far end sees a.b.c.d, and so must IDENTIFY
static void
test_identify_ipv4_mapped (void)
{
    s_check_registrations (AF_INET, 1);
}

//  ---------------------------------------------------------------------
//  Heartbeats, against the fake control socket

//  Receives requests for up to timeout_ms and counts the HEARTBEAT
//  frames for name: all of them, and those carrying `interval` (NULL:
//  any). Answers each: "OK", or, the first time, "ERROR" (which must
//  not count as a refused IDENTIFY). Returns the time of the last one
//  with the interval in *last_ms (0 if none) and stops at once after the
//  first such one when first_only is set.
static int
s_heartbeats_count (s_control_t *self, const char *name, const char *interval,
                    int timeout_ms, bool first_only, int64_t *last_ms)
{
    static bool refused_once = false;
    int64_t deadline = sq_now_ms () + timeout_ms;
    int count = 0;
    *last_ms = 0;
    while (!(first_only && count > 0)) {
        long remaining = (long) (deadline - sq_now_ms ());
        if (remaining <= 0)
            break;
        sq_msg_t *request = sq_msg_recv (self->router, remaining);
        if (!request)
            break;
        SQ_CHECK_MSG (s_is_heartbeat (request), "not a HEARTBEAT: %s",
                      request->count > 2? (char *) request->data [2]: "(short)");
        //  routing id, "", HEARTBEAT, name, interval
        SQ_CHECK_EQ (request->count, 5);
        SQ_CHECK_EQ (request->size [1], 0);
        SQ_CHECK_STR ((char *) request->data [3], name);
        if (!interval || strcmp ((char *) request->data [4], interval) == 0) {
            count++;
            *last_ms = sq_now_ms ();
        }
        s_control_reply (self, &request, refused_once? "OK": "ERROR",
                         refused_once? NULL: "a test refusal");
        refused_once = true;
    }
    return count;
}

//  The peer heartbeats on its own: at 1000 ms by default, then at the
//  interval it is given, and a change is sent at once; 0 stops them.
//  Replies to heartbeats are not IDENTIFY replies, and are not counted.
static void
test_heartbeats (void)
{
    s_control_t control;
    s_control_open (&control);
    void *ctx = zmq_ctx_new ();
    void *socket = sq_worker_socket_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (socket);
    streamq_peer_t *peer = streamq_peer_new (ctx, socket, control.endpoint, "backend", "W-beat");
    SQ_CHECK (peer);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (NULL, 200), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, -1), -1);
    SQ_CHECK_EQ (errno, EINVAL);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, STREAMQ_HEARTBEAT_MAX_MS + 1), -1);
    SQ_CHECK_EQ (errno, EINVAL);

    //  The default interval, with nothing asked of the application
    int64_t last;
    SQ_CHECK_MSG (s_heartbeats_count (&control, "W-beat", "1000", SQ_WAIT_MS / 2, true, &last) == 1,
                  "no HEARTBEAT W-beat 1000 within %d ms", SQ_WAIT_MS / 2);

    //  Every 200 ms: about 10 in 2 s; at least 3, and no flood
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 200), 0);
    int beats = s_heartbeats_count (&control, "W-beat", "200", 2000, false, &last);
    printf ("# %d heartbeats in 2000 ms at 200 ms\n", beats);
    SQ_CHECK_MSG (beats >= 3 && beats <= 20, "%d heartbeats in 2 s at 200 ms", beats);

    //  A change is announced at once, not when the interval in force
    //  runs out: from 60 s to 30 s, the new one comes well before 60 s
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 60000), 0);
    SQ_CHECK (s_heartbeats_count (&control, "W-beat", "60000", SQ_WAIT_MS / 2, true, &last) == 1);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 30000), 0);
    SQ_CHECK_MSG (s_heartbeats_count (&control, "W-beat", "30000", SQ_WAIT_MS / 2, true, &last) == 1,
                  "the new interval was not announced within %d ms", SQ_WAIT_MS / 2);

    //  Off: nothing more comes (a heartbeat already on its way may)
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 200), 0);
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 0), 0);
    s_heartbeats_count (&control, "W-beat", NULL, 300, false, &last);
    SQ_CHECK_EQ (s_heartbeats_count (&control, "W-beat", NULL, 1000, false, &last), 0);

    SQ_CHECK_EQ (streamq_peer_registered (peer), 0);
    SQ_CHECK_EQ (streamq_peer_refused (peer), 0);
    streamq_peer_destroy (&peer);
    zmq_close (socket);
    SQ_CHECK_EQ (zmq_ctx_term (ctx), 0);
    s_control_close (&control);
}

//  ---------------------------------------------------------------------
//  Through the real proxy

typedef struct {
    sq_proxy_t *proxy;
    sq_keypair_t server_keys, client_keys;
    void *worker_ctx;
    sq_zap_t *zap;              //  The worker's ZAP handler: sees each client
    void *worker;               //  ROUTER, CURVE server, S_SLOTS connections
    streamq_peer_t *worker_peer;
    void *client_ctx;
    void *client;               //  DEALER, CURVE client
    streamq_peer_t *client_peer;
} s_fixture_t;

//  The open (not closing) connections of one side in a LIST reply
typedef struct {
    int count;
    int named;                  //  How many show the expected name
    long long id [64];
} s_side_t;

//  Summarises the open connections of side in the JSON array list: how
//  many, how many have field == name, and their ids
static void
s_side_read (const char *list, const char *side, const char *field, const char *name,
             s_side_t *view)
{
    memset (view, 0, sizeof *view);
    int count = sq_json_count (list, "");
    for (int index = 0; index < count; index++) {
        char path [64], text [300];
        snprintf (path, sizeof path, "%d.side", index);
        if (!sq_json_string (list, path, text, sizeof text) || strcmp (text, side))
            continue;
        snprintf (path, sizeof path, "%d.state", index);
        if (!sq_json_string (list, path, text, sizeof text) || !strcmp (text, "closing"))
            continue;
        snprintf (path, sizeof path, "%d.%s", index, field);
        if (sq_json_string (list, path, text, sizeof text) && !strcmp (text, name))
            view->named++;
        snprintf (path, sizeof path, "%d.id", index);
        if (view->count < 64)
            sq_json_number (list, path, &view->id [view->count]);
        view->count++;
    }
}

//  True if view holds an id that old does not
static bool
s_side_has_new_id (const s_side_t *view, const s_side_t *old)
{
    for (int index = 0; index < view->count && index < 64; index++) {
        bool seen = false;
        for (int other = 0; other < old->count && other < 64; other++)
            seen = seen || view->id [index] == old->id [other];
        if (!seen)
            return true;
    }
    return false;
}

//  Polls LIST until exactly `backends` open backend connections show
//  "worker":"W-lib" (and, if old is not NULL, one of them is new) and
//  `frontends` open frontend connections show "name":"C-lib". Fills
//  backend with the last view; prints the last LIST on failure.
static bool
s_list_wait (sq_proxy_t *proxy, int backends, int frontends, const s_side_t *old,
             s_side_t *backend)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char *list = NULL;
    while (true) {
        free (list);
        list = sq_control_str (proxy->control, "LIST");
        s_side_t frontend;
        s_side_read (list? list: "[]", "backend", "worker", "W-lib", backend);
        s_side_read (list? list: "[]", "frontend", "name", "C-lib", &frontend);
        bool done = backend->count == backends && backend->named == backends
                 && frontend.count == frontends && frontend.named == frontends
                 && (!old || s_side_has_new_id (backend, old));
        if (done || sq_now_ms () >= deadline) {
            if (!done)
                fprintf (stderr, "last LIST: %s\n", list? list: "(no reply)");
            free (list);
            return done;
        }
        sq_sleep_ms (100);
    }
}

//  A proxy, a CURVE ROUTER worker registered as W-lib with S_SLOTS idle
//  connections, and a CURVE DEALER client registered as C-lib
static void
s_setup (s_fixture_t *self)
{
    memset (self, 0, sizeof *self);
    self->proxy = sq_proxy_start ("test_libstreamq", NULL);
    SQ_CHECK (self->proxy);
    sq_keypair_new (&self->server_keys);
    sq_keypair_new (&self->client_keys);

    self->worker_ctx = zmq_ctx_new ();
    sq_zap_rule_t any_key = { .client_key = NULL };
    self->zap = sq_zap_new (self->worker_ctx, &any_key);
    SQ_CHECK (self->zap);
    sq_security_t server = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = self->server_keys.public_key, .secret_key = self->server_keys.secret_key
    };
    //  sq_worker_socket_new sets ZMQ_HANDSHAKE_IVL 0: idle slots do not churn
    self->worker = sq_worker_socket_new (self->worker_ctx, ZMQ_ROUTER, &server, NULL);
    SQ_CHECK (self->worker);
    self->worker_peer = streamq_peer_new (self->worker_ctx, self->worker,
                                          self->proxy->control, "backend", "W-lib");
    SQ_CHECK (self->worker_peer);
    for (int slot = 0; slot < S_SLOTS; slot++)
        SQ_CHECK_EQ (zmq_connect (self->worker, self->proxy->backend), 0);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_SLOTS, SQ_WAIT_MS));

    self->client_ctx = zmq_ctx_new ();
    sq_security_t client = {
        .mechanism = SQ_CURVE, .server_key = self->server_keys.public_key,
        .public_key = self->client_keys.public_key, .secret_key = self->client_keys.secret_key
    };
    self->client = sq_peer_new (self->client_ctx, ZMQ_DEALER, &client, NULL);
    SQ_CHECK (self->client);
    self->client_peer = streamq_peer_new (self->client_ctx, self->client,
                                          self->proxy->control, "frontend", "C-lib");
    SQ_CHECK (self->client_peer);
    SQ_CHECK_EQ (zmq_connect (self->client, self->proxy->frontend), 0);
}

//  The client leaves: its peer first, then its socket and context
static void
s_client_close (s_fixture_t *self)
{
    streamq_peer_destroy (&self->client_peer);
    if (self->client)
        zmq_close (self->client);
    if (self->client_ctx)
        zmq_ctx_term (self->client_ctx);
    self->client = self->client_ctx = NULL;
}

static void
s_teardown (s_fixture_t *self)
{
    s_client_close (self);
    streamq_peer_destroy (&self->worker_peer);
    zmq_close (self->worker);
    sq_zap_destroy (&self->zap);
    zmq_ctx_term (self->worker_ctx);
    SQ_CHECK_EQ (sq_proxy_stop (&self->proxy), 0);
}

//  The client sends text; the worker, serving its ROUTER here, echoes it
//  back by routing id; the client gets it, all over CURVE
static void
s_echo (s_fixture_t *self, const char *text)
{
    SQ_CHECK_EQ (sq_send_str (self->client, text), 0);
    sq_msg_t *request = sq_msg_recv (self->worker, SQ_WAIT_MS);
    SQ_CHECK_MSG (request, "the worker got nothing within %d ms", SQ_WAIT_MS);
    SQ_CHECK_EQ (request->count, 2);
    SQ_CHECK_STR ((char *) request->data [1], text);
    SQ_CHECK_EQ (sq_msg_send (request, self->worker), 0);
    sq_msg_destroy (&request);
    char *echo = sq_recv_str (self->client, SQ_WAIT_MS);
    SQ_CHECK_MSG (echo, "no echo within %d ms", SQ_WAIT_MS);
    SQ_CHECK_STR (echo, text);
    free (echo);
}

//  Checks registration counts, printing both peers' refusals on failure
static void
s_check_registered (s_fixture_t *self, size_t worker, size_t client)
{
    bool done = s_counter_wait (streamq_peer_registered, self->worker_peer, worker)
             && (!self->client_peer
             ||  s_counter_wait (streamq_peer_registered, self->client_peer, client));
    SQ_CHECK_MSG (done, "registered: worker %zu (refused %zu), client %zu (refused %zu)",
                  streamq_peer_registered (self->worker_peer),
                  streamq_peer_refused (self->worker_peer),
                  streamq_peer_registered (self->client_peer),
                  streamq_peer_refused (self->client_peer));
    SQ_CHECK_EQ (streamq_peer_registered (self->worker_peer), worker);
    SQ_CHECK_EQ (streamq_peer_refused (self->worker_peer), 0);
    if (self->client_peer) {
        SQ_CHECK_EQ (streamq_peer_registered (self->client_peer), client);
        SQ_CHECK_EQ (streamq_peer_refused (self->client_peer), 0);
    }
}

static void
test_curve_names (void)
{
    s_fixture_t fixture;
    s_setup (&fixture);
    s_echo (&fixture, "hello through libstreamq");
    s_check_registered (&fixture, S_SLOTS, 1);
    s_side_t backend;
    SQ_CHECK (s_list_wait (fixture.proxy, S_SLOTS, 1, NULL, &backend));
    s_echo (&fixture, "and again");

    //  The handshake ran in the worker: its ZAP handler saw the client key
    sq_zap_seen_t seen;
    sq_zap_seen (fixture.zap, &seen);
    SQ_CHECK_EQ (seen.accepted, 1);
    SQ_CHECK_STR (seen.mechanism, "CURVE");
    s_teardown (&fixture);
}

static void
test_reconnect_registered (void)
{
    s_fixture_t fixture;
    s_setup (&fixture);
    s_echo (&fixture, "before the client leaves");
    s_check_registered (&fixture, S_SLOTS, 1);
    s_side_t before, after;
    SQ_CHECK (s_list_wait (fixture.proxy, S_SLOTS, 1, NULL, &before));

    //  The proxy closes the slot the client held; the ROUTER redials it,
    //  and the new connection is named again
    s_client_close (&fixture);
    s_check_registered (&fixture, S_SLOTS + 1, 0);
    SQ_CHECK (s_list_wait (fixture.proxy, S_SLOTS, 0, &before, &after));
    s_teardown (&fixture);
}

//  ---------------------------------------------------------------------
//  Lost slots

//  Connections of the redialling worker
#define S_REDIAL_SLOTS  2

//  A CURVE ROUTER worker named W-redial, served by its own thread: the
//  thread polls the socket and the peer's redial fd, echoes every
//  request, and (if redial is set) calls streamq_peer_redial on each turn
//  where the fd was readable.
//  The socket and peer are made and destroyed in the test's thread,
//  before the worker thread starts and after it is joined.
typedef struct {
    void *ctx;
    sq_zap_t *zap;              //  Accepts only the good client's key
    void *socket;
    streamq_peer_t *peer;
    bool redial;
    pthread_t thread;
    atomic_bool stop;
    atomic_size_t redialled;    //  Sum of what streamq_peer_redial returned
    atomic_size_t failures;     //  Times it returned -1
    atomic_size_t woken;        //  Turns where the redial fd was readable
} s_redialer_t;

typedef struct {
    sq_proxy_t *proxy;
    sq_keypair_t server_keys;
    sq_keypair_t good_keys;     //  The client the worker's ZAP handler knows
    uint8_t good_key [32];      //  Its public key, binary
    s_redialer_t worker;
} s_redial_fixture_t;

static void *
s_redialer_thread (void *args)
{
    s_redialer_t *self = args;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t items [] = {
            { self->socket, 0, ZMQ_POLLIN, 0 },
            { NULL, streamq_peer_redial_fd (self->peer), ZMQ_POLLIN, 0 }
        };
        //  Without redial the fd stays readable once a slot is lost:
        //  seeing it once is enough, and polling it on would spin
        int count = self->redial || atomic_load (&self->woken) == 0? 2: 1;
        if (zmq_poll (items, count, 50) == -1 && errno != EINTR)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            sq_msg_t *request = sq_msg_recv (self->socket, 0);
            if (request)
                sq_msg_send (request, self->socket);
            sq_msg_destroy (&request);
        }
        bool due = count == 2 && (items [1].revents & ZMQ_POLLIN);
        if (due)
            atomic_fetch_add (&self->woken, 1);
        //  Redials only when the fd woke the loop, so that every slot
        //  counted as redialled was announced by the fd (called on every
        //  turn, it could take a slot lost between poll and call)
        if (!self->redial || !due)
            continue;
        int redialled = streamq_peer_redial (self->peer);
        if (redialled == -1)
            atomic_fetch_add (&self->failures, 1);
        else
            atomic_fetch_add (&self->redialled, (size_t) redialled);
    }
    return NULL;
}

//  A proxy and the worker, with S_REDIAL_SLOTS idle connections. On the
//  heap, and left there if a check fails: the worker's thread then runs
//  on, and must not be left pointing into a stack frame that is gone.
static s_redial_fixture_t *
s_redial_setup (bool redial)
{
    s_redial_fixture_t *self = calloc (1, sizeof *self);
    SQ_CHECK (self);
    //  The refused clients and the good one come from one IP: no bans, so
    //  that every refused client reaches the worker
    const char *args [] = { "--handshake-ban", "0", NULL };
    self->proxy = sq_proxy_start ("test_libstreamq", args);
    SQ_CHECK (self->proxy);
    sq_keypair_new (&self->server_keys);
    sq_keypair_new (&self->good_keys);
    SQ_CHECK (zmq_z85_decode (self->good_key, self->good_keys.public_key));

    s_redialer_t *worker = &self->worker;
    worker->redial = redial;
    atomic_init (&worker->stop, false);
    atomic_init (&worker->redialled, 0);
    atomic_init (&worker->failures, 0);
    atomic_init (&worker->woken, 0);
    worker->ctx = zmq_ctx_new ();
    sq_zap_rule_t only_good = { .client_key = self->good_key };
    worker->zap = sq_zap_new (worker->ctx, &only_good);
    SQ_CHECK (worker->zap);
    sq_security_t server = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = self->server_keys.public_key, .secret_key = self->server_keys.secret_key
    };
    worker->socket = sq_worker_socket_new (worker->ctx, ZMQ_ROUTER, &server, NULL);
    SQ_CHECK (worker->socket);
    worker->peer = streamq_peer_new (worker->ctx, worker->socket, self->proxy->control,
                                     "backend", "W-redial");
    SQ_CHECK (worker->peer);
    SQ_CHECK (streamq_peer_redial_fd (worker->peer) >= 0);
    for (int slot = 0; slot < S_REDIAL_SLOTS; slot++)
        SQ_CHECK_EQ (zmq_connect (worker->socket, self->proxy->backend), 0);
    SQ_CHECK_EQ (pthread_create (&worker->thread, NULL, s_redialer_thread, worker), 0);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", S_REDIAL_SLOTS, SQ_WAIT_MS));
    return self;
}

static void
s_redial_teardown (s_redial_fixture_t **self_p)
{
    s_redial_fixture_t *self = *self_p;
    s_redialer_t *worker = &self->worker;
    atomic_store (&worker->stop, true);
    pthread_join (worker->thread, NULL);
    streamq_peer_destroy (&worker->peer);
    zmq_close (worker->socket);
    sq_zap_destroy (&worker->zap);
    zmq_ctx_term (worker->ctx);
    int rc = sq_proxy_stop (&self->proxy);
    free (self);
    *self_p = NULL;
    SQ_CHECK_EQ (rc, 0);
}

//  A CURVE client of the worker's proxy, in its own context, holding
//  server_key as the worker's key and the given key pair (or a fresh one)
static void *
s_curve_client_new (s_redial_fixture_t *self, void **ctx_p, const char *server_key,
                    const sq_keypair_t *keys)
{
    *ctx_p = zmq_ctx_new ();
    void *socket = sq_curve_client_new (*ctx_p, self->proxy->frontend, NULL, keys,
                                        server_key, 50);
    SQ_CHECK (socket);
    return socket;
}

static void
s_curve_client_close (void **socket_p, void **ctx_p)
{
    zmq_close (*socket_p);
    zmq_ctx_term (*ctx_p);
    *socket_p = *ctx_p = NULL;
}

//  Polls LIST until exactly `count` open backend connections show, all
//  named W-redial; prints the last LIST on failure
static bool
s_backend_wait (sq_proxy_t *proxy, int count)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char *list = NULL;
    while (true) {
        free (list);
        list = sq_control_str (proxy->control, "LIST");
        s_side_t backend;
        s_side_read (list? list: "[]", "backend", "worker", "W-redial", &backend);
        bool done = backend.count == count && backend.named == count;
        if (done || sq_now_ms () >= deadline) {
            if (!done)
                fprintf (stderr, "last LIST: %s\n", list? list: "(no reply)");
            free (list);
            return done;
        }
        sq_sleep_ms (100);
    }
}

//  A client with the wrong server key reaches the worker until it has
//  cost it at least one connection; then it leaves
static void
s_wrong_key_client (s_redial_fixture_t *self)
{
    sq_keypair_t stranger;
    sq_keypair_new (&stranger);
    void *ctx;
    void *client = s_curve_client_new (self, &ctx, stranger.public_key, NULL);
    bool lost = s_counter_wait (streamq_peer_lost, self->worker.peer, 1);
    s_curve_client_close (&client, &ctx);
    SQ_CHECK_MSG (lost, "no slot lost within %d ms", SQ_WAIT_MS);
}

//  The good client gets its echo through the proxy
static void
s_good_client_echo (s_redial_fixture_t *self, const char *text)
{
    void *ctx;
    void *client = s_curve_client_new (self, &ctx, self->server_keys.public_key,
                                       &self->good_keys);
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    bool same = echo && strcmp (echo, text) == 0;
    free (echo);
    s_curve_client_close (&client, &ctx);
    SQ_CHECK_MSG (same, "no echo of '%s' within %d ms", text, SQ_WAIT_MS);
}

//  Redialled == lost, once the worker's thread has caught up
static bool
s_redialled_wait (s_redialer_t *worker)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (atomic_load (&worker->redialled) < streamq_peer_lost (worker->peer)
    &&     sq_now_ms () < deadline)
        sq_sleep_ms (20);
    return atomic_load (&worker->redialled) == streamq_peer_lost (worker->peer);
}

//  The premise: without redial, a wrong key costs the worker a slot for
//  good. (Should a later libzmq redial such connections by itself, this
//  test fails, and streamq_peer_redial would then dial one slot too many.)
static void
test_lost_without_redial (void)
{
    s_redial_fixture_t *fixture = s_redial_setup (false);
    s_wrong_key_client (fixture);
    SQ_CHECK (streamq_peer_lost (fixture->worker.peer) <= S_REDIAL_SLOTS);
    //  The slots do not come back: wait out a quiet period, then look
    sq_sleep_ms (SQ_QUIET_MS);
    long long idle = -1;
    SQ_CHECK (sq_stats (fixture->proxy->control, "workers.idle", &idle));
    SQ_CHECK_EQ (idle, S_REDIAL_SLOTS - (long long) streamq_peer_lost (fixture->worker.peer));
    SQ_CHECK (atomic_load (&fixture->worker.woken) >= 1);
    s_redial_teardown (&fixture);
}

//  With redial in the worker's loop, every lost slot comes back, named,
//  and the worker still serves the right client
static void
test_redial_lost_slots (void)
{
    s_redial_fixture_t *fixture = s_redial_setup (true);
    s_wrong_key_client (fixture);
    SQ_CHECK (s_redialled_wait (&fixture->worker));
    SQ_CHECK (streamq_peer_lost (fixture->worker.peer) >= 1);
    SQ_CHECK_EQ (atomic_load (&fixture->worker.failures), 0);
    SQ_CHECK (atomic_load (&fixture->worker.woken) >= 1);
    SQ_CHECK (sq_stats_wait (fixture->proxy->control, "workers.idle", S_REDIAL_SLOTS, SQ_WAIT_MS));
    SQ_CHECK (s_backend_wait (fixture->proxy, S_REDIAL_SLOTS));

    s_good_client_echo (fixture, "served after a wrong key");
    //  The good client's slot redials as after any disconnect, by
    //  libzmq: nothing more was lost, and no slot was dialled twice
    SQ_CHECK (sq_stats_wait (fixture->proxy->control, "workers.idle", S_REDIAL_SLOTS, SQ_WAIT_MS));
    SQ_CHECK (s_backend_wait (fixture->proxy, S_REDIAL_SLOTS));
    SQ_CHECK_EQ (atomic_load (&fixture->worker.redialled), streamq_peer_lost (fixture->worker.peer));
    s_redial_teardown (&fixture);
}

//  A client the worker's ZAP handler refuses costs no slot, and the peer
//  does not count it as lost
static void
test_zap_refusal_not_lost (void)
{
    s_redial_fixture_t *fixture = s_redial_setup (true);
    void *ctx;
    void *client = s_curve_client_new (fixture, &ctx, fixture->server_keys.public_key, NULL);
    bool refused = false;
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (!refused && sq_now_ms () < deadline) {
        sq_zap_seen_t seen;
        sq_zap_seen (fixture->worker.zap, &seen);
        refused = seen.refused >= 1;
        sq_sleep_ms (20);
    }
    s_curve_client_close (&client, &ctx);
    SQ_CHECK_MSG (refused, "no ZAP refusal within %d ms", SQ_WAIT_MS);

    //  libzmq redials the refused slot itself
    SQ_CHECK (sq_stats_wait (fixture->proxy->control, "workers.idle", S_REDIAL_SLOTS, SQ_WAIT_MS));
    SQ_CHECK (s_backend_wait (fixture->proxy, S_REDIAL_SLOTS));
    sq_sleep_ms (200);          //  Lets the peer's thread read every event
    SQ_CHECK_EQ (streamq_peer_lost (fixture->worker.peer), 0);
    SQ_CHECK_EQ (atomic_load (&fixture->worker.redialled), 0);
    s_good_client_echo (fixture, "served after a refusal");
    s_redial_teardown (&fixture);
}

//  A failed handshake on a connection the socket accepted (it binds as
//  well) loses nothing: the listener accepts again. The peer must not
//  count it, or redial would dial the socket's own bound address.
static void
test_accepted_failure_not_lost (void)
{
    sq_keypair_t server_keys, stranger;
    sq_keypair_new (&server_keys);
    sq_keypair_new (&stranger);
    void *ctx = zmq_ctx_new ();
    sq_security_t server = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = server_keys.public_key, .secret_key = server_keys.secret_key
    };
    void *worker = sq_worker_socket_new (ctx, ZMQ_ROUTER, &server, NULL);
    SQ_CHECK (worker);
    streamq_peer_t *peer = streamq_peer_new (ctx, worker, "tcp://127.0.0.1:1",
                                             "backend", "W-bound");
    SQ_CHECK (peer);
    SQ_CHECK_EQ (zmq_bind (worker, "tcp://127.0.0.1:*"), 0);
    char endpoint [256];
    size_t size = sizeof endpoint;
    SQ_CHECK_EQ (zmq_getsockopt (worker, ZMQ_LAST_ENDPOINT, endpoint, &size), 0);

    //  A client with the wrong key, straight to the bound endpoint: its
    //  every attempt (one each 50 ms) fails the worker's handshake
    void *client_ctx = zmq_ctx_new ();
    sq_security_t client = {
        .mechanism = SQ_CURVE, .server_key = stranger.public_key,
        .public_key = stranger.public_key, .secret_key = stranger.secret_key
    };
    void *socket = sq_peer_new (client_ctx, ZMQ_DEALER, &client, endpoint);
    SQ_CHECK (socket);
    sq_sleep_ms (1000);
    SQ_CHECK_EQ (streamq_peer_lost (peer), 0);
    SQ_CHECK_EQ (streamq_peer_redial (peer), 0);
    zmq_close (socket);
    zmq_ctx_term (client_ctx);
    streamq_peer_destroy (&peer);
    zmq_close (worker);
    SQ_CHECK_EQ (zmq_ctx_term (ctx), 0);
}

//  ---------------------------------------------------------------------
//  Stopping

typedef struct {
    void *ctx;
    int rc;
} s_term_t;

static void *
s_term_thread (void *args)
{
    s_term_t *term = args;
    term->rc = zmq_ctx_term (term->ctx);
    return NULL;
}

//  True if run (args) returns within S_PROMPT_MS, in a thread of its own;
//  false leaves that thread blocked
static bool
s_returns_promptly (void *(*run) (void *), void *args)
{
    pthread_t thread;
    if (pthread_create (&thread, NULL, run, args) != 0)
        return false;
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += S_PROMPT_MS / 1000;
    return pthread_timedjoin_np (thread, NULL, &deadline) == 0;
}

//  zmq_ctx_term returns promptly: nothing of the library is left in ctx
static void
s_check_ctx_term (void *ctx)
{
    s_term_t term = { ctx, -1 };
    SQ_CHECK_MSG (s_returns_promptly (s_term_thread, &term),
                  "zmq_ctx_term still blocked after %d ms", S_PROMPT_MS);
    SQ_CHECK_EQ (term.rc, 0);
}

//  The proxy goes away; the worker keeps connecting (to a stand-in
//  listener), so IDENTIFY requests queue up for nobody. destroy must
//  still return at once, and the context terminate.
static void
test_destroy_without_proxy (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_libstreamq", NULL);
    SQ_CHECK (proxy);
    char control [256];
    snprintf (control, sizeof control, "%s", proxy->control);
    void *ctx = zmq_ctx_new ();
    void *worker = sq_worker_socket_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (worker);
    streamq_peer_t *peer = streamq_peer_new (ctx, worker, control, "backend", "W-gone");
    SQ_CHECK (peer);
    SQ_CHECK_EQ (zmq_connect (worker, proxy->backend), 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);

    s_listener_t listener;
    SQ_CHECK (s_listener_open (&listener, AF_INET));
    SQ_CHECK_EQ (zmq_connect (worker, listener.endpoint), 0);
    char address [256];
    int fd = s_listener_accept (&listener, address, sizeof address);
    SQ_CHECK (fd != -1);
    sq_sleep_ms (200);          //  Lets the thread queue its IDENTIFY

    int64_t start = sq_now_ms ();
    streamq_peer_destroy (&peer);
    int64_t elapsed = sq_now_ms () - start;
    SQ_CHECK_MSG (elapsed < S_PROMPT_MS, "destroy took %lld ms", (long long) elapsed);
    SQ_CHECK (peer == NULL);
    zmq_close (worker);
    s_check_ctx_term (ctx);
    close (fd);
    close (listener.fd);
}

//  The library's zmq_socket_monitor calls go through here (this test is
//  linked with -Wl,--wrap=zmq_socket_monitor). While s_waking names a
//  peer, a stop of a monitor (no endpoint: destroy has begun) first
//  changes that peer's heartbeat, which wakes its thread, and gives the
//  thread 100 ms to run: a wake that comes between destroy's first step
//  and the monitor's last event, every time. libzmq's own function does
//  the work.
int __real_zmq_socket_monitor (void *socket, const char *endpoint, int events);
int __wrap_zmq_socket_monitor (void *socket, const char *endpoint, int events);
static streamq_peer_t *_Atomic s_waking;

int
__wrap_zmq_socket_monitor (void *socket, const char *endpoint, int events)
{
    streamq_peer_t *peer = atomic_load (&s_waking);
    if (!endpoint && peer) {
        streamq_peer_set_heartbeat (peer, 5000);
        sq_sleep_ms (100 * sq_time_scale ());
    }
    return __real_zmq_socket_monitor (socket, endpoint, events);
}

//  args: the address of the streamq_peer_t * to destroy
static void *
s_destroy_thread (void *args)
{
    streamq_peer_destroy (args);
    return NULL;
}

//  A wake of the peer's thread that it reads once destroy has begun (a
//  heartbeat change or a new proxy just before destroy, not yet read; the
//  wrapper above makes one in every round): the thread must not take it
//  for its stop and close the PAIR that libzmq then sends the monitor's
//  last event into (with a blocking send: destroy would wait for ever,
//  as it did now and then under valgrind)
static void
test_destroy_right_after_a_change (void)
{
    void *ctx = zmq_ctx_new ();
    for (int round = 0; round < 3; round++) {
        void *socket = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
        SQ_CHECK (socket);
        streamq_peer_t *peer = streamq_peer_new (ctx, socket, "tcp://127.0.0.1:1",
                                                 "frontend", "C-quick");
        SQ_CHECK (peer);
        atomic_store (&s_waking, peer);
        SQ_CHECK_MSG (s_returns_promptly (s_destroy_thread, &peer),
                      "destroy still blocked after %d ms, round %d", S_PROMPT_MS, round);
        atomic_store (&s_waking, NULL);
        zmq_close (socket);
    }
    s_check_ctx_term (ctx);
}

//  The application shuts its context down while the peer runs (as to
//  wake its own threads): the peer's thread lets go of its sockets, and
//  destroy, then zmq_close and zmq_ctx_term, still finish at once
static void
test_context_shutdown_first (void)
{
    void *ctx = zmq_ctx_new ();
    void *socket = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (socket);
    streamq_peer_t *peer = streamq_peer_new (ctx, socket, "tcp://127.0.0.1:1",
                                             "frontend", "C-early");
    SQ_CHECK (peer);
    SQ_CHECK_EQ (zmq_ctx_shutdown (ctx), 0);
    sq_sleep_ms (200);          //  Lets the thread see ETERM before destroy
    int64_t start = sq_now_ms ();
    streamq_peer_destroy (&peer);
    int64_t elapsed = sq_now_ms () - start;
    SQ_CHECK_MSG (elapsed < S_PROMPT_MS, "destroy took %lld ms", (long long) elapsed);
    zmq_close (socket);
    s_check_ctx_term (ctx);
}

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    SQ_RUN (test_bad_arguments);
    SQ_RUN (test_immediate_warning);
    SQ_RUN (test_identify_ipv4);
    SQ_RUN (test_identify_ipv6);
    SQ_RUN (test_identify_ipv4_mapped);
    SQ_RUN (test_heartbeats);
    SQ_RUN (test_curve_names);
    SQ_RUN (test_reconnect_registered);
    SQ_RUN (test_lost_without_redial);
    SQ_RUN (test_redial_lost_slots);
    SQ_RUN (test_zap_refusal_not_lost);
    SQ_RUN (test_accepted_failure_not_lost);
    SQ_RUN (test_destroy_without_proxy);
    SQ_RUN (test_destroy_right_after_a_change);
    SQ_RUN (test_context_shutdown_first);
    return sq_test_summary ();
}
