/*  =========================================================================
    sq_cluster - two proxies behind HAProxy, one stopped while clients echo

    See sq_cluster.h for what it runs and what the figures mean.
    =========================================================================
*/
#include "sq_cluster.h"
#include "sq_harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

//  What a request starts with: the client's index and the sequence number,
//  4 and 8 bytes, big-endian; the rest is a function of both
#define S_HEADER        12
//  libzmq's default: how soon a socket redials after losing a connection
#define S_RECONNECT_MS  100

//  ---------------------------------------------------------------------
//  Requests

//  One step of the generator the request bytes come from: a 64-bit
//  linear congruential step (Knuth's MMIX multiplier), its high bits
//  folded into the low ones
static uint64_t
s_step (uint64_t state)
{
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state ^ (state >> 29);
}

//  Writes request `seq` of client `client` into buf (max_size bytes at
//  least); returns its size, S_HEADER to max_size
static size_t
s_request (int client, uint64_t seq, uint8_t *buf, size_t max_size)
{
    uint64_t state = s_step (s_step (((uint64_t) client << 40) ^ seq));
    size_t size = S_HEADER + (size_t) (state % (max_size - S_HEADER + 1));
    for (int index = 0; index < 4; index++)
        buf [index] = (uint8_t) ((uint32_t) client >> (24 - 8 * index));
    for (int index = 0; index < 8; index++)
        buf [4 + index] = (uint8_t) (seq >> (56 - 8 * index));
    for (size_t index = S_HEADER; index < size; index++) {
        state = s_step (state);
        buf [index] = (uint8_t) (state >> 56);
    }
    return size;
}

//  The sequence number a request or its echo carries
static uint64_t
s_request_seq (const uint8_t *data)
{
    uint64_t seq = 0;
    for (int index = 0; index < 8; index++)
        seq = (seq << 8) | data [4 + index];
    return seq;
}

//  ---------------------------------------------------------------------
//  Workers: one ROUTER socket dialled in to every proxy

typedef struct {
    void *ctx;
    void *socket;
    pthread_t thread;
    atomic_bool stop;
    int backend_port [SQ_CLUSTER_PROXIES];
} s_worker_t;

//  Which proxy the connection of fd goes to: the index of the backend
//  whose port is its peer's, or -1
static int
s_worker_proxy_of (s_worker_t *self, int fd)
{
    struct sockaddr_in peer;
    socklen_t size = sizeof peer;
    if (fd < 0 || getpeername (fd, (struct sockaddr *) &peer, &size) == -1)
        return -1;
    for (int proxy = 0; proxy < SQ_CLUSTER_PROXIES; proxy++)
        if (self->backend_port [proxy] == ntohs (peer.sin_port))
            return proxy;
    return -1;
}

//  Answers one request [routing id, payload] with [routing id, proxy
//  name, payload]: the echo, and the proxy it came through
static void
s_worker_answer (s_worker_t *self)
{
    zmq_msg_t routing_id, payload;
    zmq_msg_init (&routing_id);
    zmq_msg_init (&payload);
    if (zmq_msg_recv (&routing_id, self->socket, ZMQ_DONTWAIT) == -1
    ||  !zmq_msg_more (&routing_id)
    ||  zmq_msg_recv (&payload, self->socket, 0) == -1) {
        zmq_msg_close (&routing_id);
        zmq_msg_close (&payload);
        return;
    }
    //  ZMQ_SRCFD: the connection the payload arrived on
    int proxy = s_worker_proxy_of (self, zmq_msg_get (&payload, ZMQ_SRCFD));
    char name [16];
    snprintf (name, sizeof name, "proxy-%d", proxy + 1);
    zmq_msg_send (&routing_id, self->socket, ZMQ_SNDMORE);
    zmq_send (self->socket, name, strlen (name), ZMQ_SNDMORE);
    zmq_msg_send (&payload, self->socket, 0);
    zmq_msg_close (&routing_id);
    zmq_msg_close (&payload);
}

//  Answers requests until told to stop
static void *
s_worker_thread (void *args)
{
    s_worker_t *self = args;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t item = { self->socket, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 50) > 0)
            s_worker_answer (self);
    }
    zmq_close (self->socket);
    return NULL;
}

//  A CURVE server with `slots` connections to each backend; NULL on error
static s_worker_t *
s_worker_new (sq_proxy_t **proxies, int slots, const sq_security_t *security)
{
    s_worker_t *self = calloc (1, sizeof *self);
    self->ctx = zmq_ctx_new ();
    self->socket = sq_worker_socket_new (self->ctx, ZMQ_ROUTER, security, NULL);
    int reconnect = S_RECONNECT_MS;
    bool ok = self->socket && zmq_setsockopt (self->socket, ZMQ_RECONNECT_IVL, &reconnect,
                                              sizeof reconnect) == 0;
    for (int proxy = 0; ok && proxy < SQ_CLUSTER_PROXIES; proxy++) {
        self->backend_port [proxy] = sq_endpoint_port (proxies [proxy]->backend);
        for (int slot = 0; ok && slot < slots; slot++)
            ok = zmq_connect (self->socket, proxies [proxy]->backend) == 0;
    }
    if (!ok) {
        if (self->socket)
            zmq_close (self->socket);
        zmq_ctx_term (self->ctx);
        free (self);
        return NULL;
    }
    atomic_init (&self->stop, false);
    pthread_create (&self->thread, NULL, s_worker_thread, self);
    return self;
}

//  Stops and joins the thread, ends its context, nulls the pointer
static void
s_worker_destroy (s_worker_t **self_p)
{
    s_worker_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    zmq_ctx_term (self->ctx);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Clients: a DEALER through HAProxy, echoing checked requests

typedef struct {
    int index;
    void *ctx;                  //  Shared by the clients
    const char *endpoint;       //  HAProxy's frontend
    const sq_security_t *security;
    int pause_ms;
    size_t max_size;
    const atomic_llong *stop_time;  //  When the proxy stopped, or 0
    pthread_t thread;
    atomic_bool stop;           //  Finish the request under way, then end
    atomic_int proxy;           //  Of the last reply, -1 before the first
    atomic_long replies;        //  Requests answered
    atomic_llong switched_ms;   //  Stop to the first reply through another proxy, or -1
    int proxy_at_stop;          //  Set before the stop: the proxy it was on, or -1
    //  Read once the thread has ended
    long disconnects, resends, changed, duplicates;
    bool stalled;
    uint64_t sent_bytes, echoed_bytes;
    bool changed_proxy;         //  Answered through more than one proxy
    //  The thread's own
    void *socket;
    void *monitor;
    uint8_t *request;
    size_t request_size;
    uint64_t seq;
    uint8_t *expected;          //  Scratch, for older requests
} s_client_t;

//  Sends the current request; false if libzmq refused it
static bool
s_client_send (s_client_t *self)
{
    return zmq_send (self->socket, self->request, self->request_size, 0)
        == (int) self->request_size;
}

//  Notes a reply through proxy `tag` to the current request
static void
s_client_answered (s_client_t *self, const char *tag)
{
    int proxy = strncmp (tag, "proxy-", 6) == 0? atoi (tag + 6) - 1: -1;
    int before = atomic_load (&self->proxy);
    if (before >= 0 && proxy != before) {
        self->changed_proxy = true;
        long long stopped = atomic_load (self->stop_time);
        if (stopped && atomic_load (&self->switched_ms) < 0)
            atomic_store (&self->switched_ms, sq_now_ms () - stopped);
    }
    atomic_store (&self->proxy, proxy);
    self->echoed_bytes += self->request_size;
    atomic_fetch_add (&self->replies, 1);
}

//  Checks one reply [proxy name, payload]; true when it answers the
//  current request. A reply whose bytes differ from its request's is
//  counted as changed; if it still names the current request, it
//  answers it, so that the run goes on and the figures show it.
static bool
s_client_check (s_client_t *self, sq_msg_t *reply)
{
    if (reply->count != 2 || reply->size [1] < S_HEADER) {
        self->changed++;
        return false;
    }
    uint64_t seq = s_request_seq (reply->data [1]);
    size_t size = seq <= self->seq?
        s_request (self->index, seq, self->expected, self->max_size): 0;
    bool same = size == reply->size [1] && memcmp (self->expected, reply->data [1], size) == 0;
    self->changed += !same;
    if (seq == self->seq && size == reply->size [1])
        s_client_answered (self, (char *) reply->data [0]);
    else
    if (same)
        self->duplicates++;     //  The first copy of a request sent twice
    return seq == self->seq && size == reply->size [1];
}

//  Makes the next request current and sends it
static bool
s_client_next (s_client_t *self)
{
    self->seq++;
    self->request_size = s_request (self->index, self->seq, self->request, self->max_size);
    self->sent_bytes += self->request_size;
    return s_client_send (self);
}

//  A connection ended: what was in flight on it is lost, so the request
//  goes again (queued until the socket has redialled)
static void
s_client_on_event (s_client_t *self)
{
    sq_msg_t *event = sq_msg_recv (self->monitor, 0);
    if (event && event->size [0] >= 2) {
        uint16_t kind;
        memcpy (&kind, event->data [0], 2);
        if (kind == ZMQ_EVENT_DISCONNECTED) {
            self->disconnects++;
            self->resends++;
            s_client_send (self);
        }
    }
    sq_msg_destroy (&event);
}

//  Echoes until told to stop; a reply that does not come within
//  SQ_WAIT_MS ends it as stalled
static void
s_client_loop (s_client_t *self)
{
    int64_t sent_at = sq_now_ms ();
    bool waiting = s_client_next (self);
    while (waiting) {
        zmq_pollitem_t items [] = {
            { self->socket, 0, ZMQ_POLLIN, 0 }, { self->monitor, 0, ZMQ_POLLIN, 0 }
        };
        zmq_poll (items, 2, 100);
        if (items [1].revents & ZMQ_POLLIN)
            s_client_on_event (self);
        sq_msg_t *reply = items [0].revents & ZMQ_POLLIN? sq_msg_recv (self->socket, 0): NULL;
        bool answered = reply && s_client_check (self, reply);
        sq_msg_destroy (&reply);
        if (answered && atomic_load (&self->stop))
            waiting = false;
        else
        if (answered) {
            if (self->pause_ms)
                sq_sleep_ms (self->pause_ms);
            sent_at = sq_now_ms ();
            waiting = s_client_next (self);
        }
        else
        if (sq_now_ms () - sent_at > SQ_WAIT_MS) {
            self->stalled = true;
            waiting = false;
        }
    }
}

//  One client's socket, monitored for its disconnections, and its loop
static void *
s_client_thread (void *args)
{
    s_client_t *self = args;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://sq-cluster-client-%d", self->index);
    int reconnect = S_RECONNECT_MS;
    self->socket = sq_peer_new (self->ctx, ZMQ_DEALER, self->security, NULL);
    self->monitor = zmq_socket (self->ctx, ZMQ_PAIR);
    self->request = malloc (self->max_size);
    self->expected = malloc (self->max_size);
    if (self->socket && self->monitor
    &&  zmq_setsockopt (self->socket, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect) == 0
    &&  zmq_socket_monitor (self->socket, endpoint, ZMQ_EVENT_DISCONNECTED) == 0
    &&  zmq_connect (self->monitor, endpoint) == 0
    &&  zmq_connect (self->socket, self->endpoint) == 0)
        s_client_loop (self);
    else
        self->stalled = true;
    if (self->socket)
        zmq_socket_monitor (self->socket, NULL, 0);
    if (self->monitor)
        zmq_close (self->monitor);
    if (self->socket)
        zmq_close (self->socket);
    free (self->request);
    free (self->expected);
    return NULL;
}

//  ---------------------------------------------------------------------
//  The cluster

typedef struct {
    const sq_cluster_config_t *config;
    sq_cluster_figures_t *figures;
    sq_proxy_t *proxies [SQ_CLUSTER_PROXIES];
    s_worker_t **workers;
    sq_haproxy_t *haproxy;
    void *ctx;                  //  The clients'
    s_client_t *clients;
    int started;                //  Client threads running
    atomic_llong stop_time;
    //  The stopped proxy's endpoints, as options, to start it there again
    char stopped_frontend [300], stopped_backend [300];
    char stopped_control [300], stopped_metrics [300];
    char server_public [41], server_secret [41];
    char client_public [41], client_secret [41];
    sq_security_t server, client;
} s_cluster_t;

//  Records why the run could not go on; returns false
static bool
s_fail (s_cluster_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->figures->failure, sizeof self->figures->failure, format, args);
    va_end (args);
    fprintf (stderr, "sq_cluster: %s\n", self->figures->failure);
    return false;
}

//  Says one step on stdout, in verbose runs
static void
s_say (s_cluster_t *self, const char *format, ...)
{
    if (!self->config->verbose)
        return;
    va_list args;
    va_start (args, format);
    printf ("# ");
    vprintf (format, args);
    printf ("\n");
    fflush (stdout);
    va_end (args);
}

//  Two proxies with metrics (for /readyz), and the workers dialled in to
//  both; true once every slot is idle at both
static bool
s_start_proxies (s_cluster_t *self)
{
    const sq_cluster_config_t *config = self->config;
    const char *args [] = { "--metrics", "http://127.0.0.1:0/metrics", NULL };
    for (int proxy = 0; proxy < SQ_CLUSTER_PROXIES; proxy++)
        if (!(self->proxies [proxy] = sq_proxy_start (config->name, args)))
            return s_fail (self, "proxy-%d did not start", proxy + 1);
    self->workers = calloc ((size_t) config->workers, sizeof (s_worker_t *));
    for (int index = 0; index < config->workers; index++)
        if (!(self->workers [index] = s_worker_new (self->proxies, config->slots, &self->server)))
            return s_fail (self, "worker %d could not dial in", index);
    for (int proxy = 0; proxy < SQ_CLUSTER_PROXIES; proxy++)
        if (!sq_stats_wait (self->proxies [proxy]->control, "workers.idle",
                            config->workers * config->slots, SQ_WAIT_MS))
            return s_fail (self, "the slots of proxy-%d did not all become idle", proxy + 1);
    s_say (self, "2 proxies, %d workers with %d slots at each (%d connections a worker)",
           config->workers, config->slots, config->slots * SQ_CLUSTER_PROXIES);
    return true;
}

//  HAProxy in front of both proxies; true once it sees both UP
static bool
s_start_haproxy (s_cluster_t *self)
{
    char backend [1024];
    int length = snprintf (backend, sizeof backend,
        "    balance leastconn\n"
        "    option httpchk GET /readyz\n"
        "    http-check expect status 200\n"
        "    option redispatch\n"
        "    retries 3\n"
        "    default-server inter 200ms fall 2 rise 1\n");
    for (int proxy = 0; proxy < SQ_CLUSTER_PROXIES; proxy++)
        length += snprintf (backend + length, sizeof backend - (size_t) length,
            "    server proxy-%d 127.0.0.1:%d check port %d\n", proxy + 1,
            sq_endpoint_port (self->proxies [proxy]->frontend),
            sq_proxy_metrics_port (self->proxies [proxy]));
    if (!(self->haproxy = sq_haproxy_start (self->config->name, backend)))
        return s_fail (self, "HAProxy did not start");
    for (int proxy = 0; proxy < SQ_CLUSTER_PROXIES; proxy++) {
        char server [16];
        snprintf (server, sizeof server, "proxy-%d", proxy + 1);
        if (!sq_haproxy_wait_status (self->haproxy, server, "UP", SQ_WAIT_MS))
            return s_fail (self, "HAProxy does not see %s UP", server);
    }
    s_say (self, "HAProxy at %s, in TCP mode; its backend:", self->haproxy->frontend);
    for (const char *line = backend; *line; line += strcspn (line, "\n") + 1)
        s_say (self, "%.*s", (int) strcspn (line, "\n"), line);
    return true;
}

//  Polls until every client has at least want [index] replies (want NULL:
//  `least` each); false after SQ_WAIT_MS
static bool
s_wait_replies (s_cluster_t *self, const long *want, long least)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    for (int index = 0; index < self->started; index++) {
        long target = want? want [index] + least: least;
        while (atomic_load (&self->clients [index].replies) < target) {
            if (sq_now_ms () > deadline)
                return s_fail (self, "client %d has %ld replies, not %ld", index,
                               atomic_load (&self->clients [index].replies), target);
            sq_sleep_ms (10);
        }
    }
    return true;
}

//  Starts client `index` and waits for its first reply
static bool
s_start_client (s_cluster_t *self, int index)
{
    s_client_t *client = &self->clients [index];
    client->index = index;
    client->ctx = self->ctx;
    client->endpoint = self->haproxy->frontend;
    client->security = &self->client;
    client->pause_ms = self->config->pause_ms;
    client->max_size = self->config->max_size;
    client->stop_time = &self->stop_time;
    client->proxy_at_stop = -1;
    atomic_init (&client->stop, false);
    atomic_init (&client->proxy, -1);
    atomic_init (&client->replies, 0);
    atomic_init (&client->switched_ms, -1);
    pthread_create (&client->thread, NULL, s_client_thread, client);
    self->started++;
    return s_wait_replies (self, NULL, 1);
}

//  Starts the clients one after another, each once the one before has
//  its first reply: leastconn then spreads them over both proxies
static bool
s_start_clients (s_cluster_t *self)
{
    const sq_cluster_config_t *config = self->config;
    self->ctx = zmq_ctx_new ();
    self->clients = calloc ((size_t) (config->clients + config->late_clients),
                            sizeof (s_client_t));
    for (int index = 0; index < config->clients; index++)
        if (!s_start_client (self, index))
            return false;
    return s_wait_replies (self, NULL, config->rounds);
}

//  True when every client of the stopped proxy has been served through
//  the other
static bool
s_all_switched (s_cluster_t *self)
{
    for (int index = 0; index < self->started; index++)
        if (self->clients [index].proxy_at_stop == 0
        &&  atomic_load (&self->clients [index].switched_ms) < 0)
            return false;
    return true;
}

//  After the stop, waits both for HAProxy to mark the stopped proxy DOWN
//  and for its clients to be served through the other, timing the first;
//  when the last of them is served, copies each client's replies into
//  during. False if either does not happen within SQ_WAIT_MS.
static bool
s_wait_switch (s_cluster_t *self, long *during)
{
    sq_cluster_figures_t *figures = self->figures;
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    bool switched = false;
    while (!switched || figures->down_ms < 0) {
        char status [64];
        if (figures->down_ms < 0
        &&  sq_haproxy_server_status (self->haproxy, "proxy-1", status, sizeof status)
        &&  strcmp (status, "DOWN") == 0)
            figures->down_ms = sq_now_ms () - atomic_load (&self->stop_time);
        if (!switched && (switched = s_all_switched (self)))
            for (int index = 0; index < self->started; index++)
                during [index] = atomic_load (&self->clients [index].replies);
        if (sq_now_ms () > deadline)
            return s_fail (self, switched? "HAProxy never marked proxy-1 DOWN":
                           "the clients of proxy-1 were not all served after the stop");
        sq_sleep_ms (5);
    }
    return true;
}

//  Stops the first proxy and waits until its clients are served through
//  the other; fills the figures of the switch
static bool
s_stop_one (s_cluster_t *self)
{
    sq_cluster_figures_t *figures = self->figures;
    long before [SQ_CLUSTER_MAX_CLIENTS];
    for (int index = 0; index < self->started; index++) {
        int proxy = atomic_load (&self->clients [index].proxy);
        if (proxy >= 0 && proxy < SQ_CLUSTER_PROXIES)
            figures->on_proxy [proxy]++;
        self->clients [index].proxy_at_stop = proxy;
        before [index] = atomic_load (&self->clients [index].replies);
    }
    long long pairs = 0;
    sq_stats (self->proxies [1]->control, "pairs.total", &pairs);
    s_say (self, "clients: %d on proxy-1, %d on proxy-2; stopping proxy-1",
           figures->on_proxy [0], figures->on_proxy [1]);
    snprintf (self->stopped_frontend, sizeof self->stopped_frontend, "--frontend=%s",
              self->proxies [0]->frontend);
    snprintf (self->stopped_backend, sizeof self->stopped_backend, "--backend=%s",
              self->proxies [0]->backend);
    snprintf (self->stopped_control, sizeof self->stopped_control, "--control=%s",
              self->proxies [0]->control);
    snprintf (self->stopped_metrics, sizeof self->stopped_metrics, "--metrics=%s",
              self->proxies [0]->metrics);
    //  SIGTERM, as a stop: the proxy closes every connection and exits;
    //  its exit is collected after the switch, which may come first
    atomic_store (&self->stop_time, sq_now_ms ());
    kill (self->proxies [0]->pid, SIGTERM);
    long during [SQ_CLUSTER_MAX_CLIENTS];
    bool switched = s_wait_switch (self, during);
    figures->stop_code = sq_proxy_stop_with (&self->proxies [0], 0);
    if (!switched)
        return false;
    for (int index = 0; index < self->started; index++)
        if (self->clients [index].proxy_at_stop == 1)
            figures->survivor_replies_during += during [index] - before [index];
    if (!s_wait_replies (self, during, self->config->rounds))
        return false;
    figures->served_after = self->started;
    long long now = 0;
    sq_stats (self->proxies [1]->control, "pairs.total", &now);
    figures->survivor_new_pairs = now - pairs;
    return true;
}

//  Starts the stopped proxy again on its ports; once the workers have
//  redialled it and HAProxy sees it UP, starts the late clients, and
//  notes how many HAProxy sent to it
static bool
s_rejoin (s_cluster_t *self)
{
    sq_cluster_figures_t *figures = self->figures;
    const sq_cluster_config_t *config = self->config;
    const char *args [] = { self->stopped_frontend, self->stopped_backend,
                            self->stopped_control, self->stopped_metrics, NULL };
    int64_t started = sq_now_ms ();
    if (!(self->proxies [0] = sq_proxy_start (config->name, args)))
        return s_fail (self, "proxy-1 did not start again on its ports");
    if (!sq_haproxy_wait_status (self->haproxy, "proxy-1", "UP", SQ_WAIT_MS))
        return s_fail (self, "HAProxy does not see proxy-1 UP again");
    figures->rejoin_ms = sq_now_ms () - started;
    if (!sq_stats_wait (self->proxies [0]->control, "workers.idle",
                        config->workers * config->slots, SQ_WAIT_MS))
        return s_fail (self, "the workers did not all redial proxy-1");
    sq_stats (self->proxies [0]->control, "workers.idle", &figures->rejoin_idle);
    s_say (self, "proxy-1 is back: UP after %lld ms, %lld slots redialled; %d more clients",
           (long long) figures->rejoin_ms, figures->rejoin_idle, config->late_clients);
    int first = self->started;
    for (int index = first; index < first + config->late_clients; index++)
        if (!s_start_client (self, index))
            return false;
    for (int index = first; index < self->started; index++)
        figures->late_on_restarted += atomic_load (&self->clients [index].proxy) == 0;
    return s_wait_replies (self, NULL, config->rounds);
}

//  Orders durations for qsort
static int
s_compare_ms (const void *a, const void *b)
{
    int64_t left = *(const int64_t *) a, right = *(const int64_t *) b;
    return (left > right) - (left < right);
}

//  Stops the clients (each finishes the request under way) and sums up
//  what they saw
static void
s_stop_clients (s_cluster_t *self)
{
    sq_cluster_figures_t *figures = self->figures;
    for (int index = 0; index < self->started; index++)
        atomic_store (&self->clients [index].stop, true);
    for (int index = 0; index < self->started; index++) {
        s_client_t *client = &self->clients [index];
        pthread_join (client->thread, NULL);
        figures->changed += client->changed;
        figures->duplicates += client->duplicates;
        figures->stalled += client->stalled;
        long long switched = atomic_load (&client->switched_ms);
        if (client->proxy_at_stop == 0 && switched >= 0)
            figures->switch_ms [figures->switched++] = switched;
        else
        if (client->proxy_at_stop == 1) {
            figures->survivor_bytes += client->echoed_bytes;
            figures->survivor_lost += client->sent_bytes - client->echoed_bytes;
            figures->survivors_intact += !client->disconnects && !client->resends
                && !client->changed && !client->changed_proxy && !client->stalled;
        }
    }
    self->started = 0;
    qsort (figures->switch_ms, (size_t) figures->switched, sizeof (int64_t), s_compare_ms);
}

//  Stops whatever is still running
static void
s_cluster_end (s_cluster_t *self)
{
    s_stop_clients (self);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    free (self->clients);
    if (self->haproxy)
        sq_haproxy_stop (&self->haproxy);
    for (int index = 0; self->workers && index < self->config->workers; index++)
        s_worker_destroy (&self->workers [index]);
    free (self->workers);
    for (int proxy = 0; proxy < SQ_CLUSTER_PROXIES; proxy++)
        if (self->proxies [proxy])
            sq_proxy_stop (&self->proxies [proxy]);
}

bool
sq_cluster_run (const sq_cluster_config_t *config, sq_cluster_figures_t *figures)
{
    memset (figures, 0, sizeof *figures);
    figures->down_ms = -1;
    figures->rejoin_ms = -1;
    s_cluster_t self = { .config = config, .figures = figures };
    atomic_init (&self.stop_time, 0);
    if (config->clients < 1 || config->late_clients < 0
    ||  config->clients + config->late_clients > SQ_CLUSTER_MAX_CLIENTS
    ||  config->max_size < S_HEADER || config->workers < 1 || config->slots < 1)
        return s_fail (&self, "a bad configuration");
    zmq_curve_keypair (self.server_public, self.server_secret);
    zmq_curve_keypair (self.client_public, self.client_secret);
    self.server = (sq_security_t) { .mechanism = SQ_CURVE, .as_server = true,
        .public_key = self.server_public, .secret_key = self.server_secret };
    self.client = (sq_security_t) { .mechanism = SQ_CURVE, .server_key = self.server_public,
        .public_key = self.client_public, .secret_key = self.client_secret };
    bool ran = s_start_proxies (&self) && s_start_haproxy (&self) && s_start_clients (&self);
    if (ran)
        s_say (&self, "%d clients echo through HAProxy, every byte checked", config->clients);
    ran = ran && s_stop_one (&self) && s_rejoin (&self);
    s_cluster_end (&self);
    figures->ran = ran;
    return ran;
}

void
sq_cluster_print (const sq_cluster_config_t *config, const sq_cluster_figures_t *figures)
{
    int switched = figures->switched;
    printf ("# clients at the stop: %d on proxy-1 (stopped), %d on proxy-2\n",
            figures->on_proxy [0], figures->on_proxy [1]);
    printf ("# served again through proxy-2: %d of %d\n", switched, figures->on_proxy [0]);
    const int64_t *ms = figures->switch_ms;
    if (switched)
        printf ("# switch (stop to first reply through proxy-2): min %lld ms, median %lld ms,"
                " max %lld ms\n", (long long) ms [0],
                (long long) (switched % 2? ms [switched / 2]:
                             (ms [switched / 2 - 1] + ms [switched / 2]) / 2),
                (long long) ms [switched - 1]);
    printf ("# HAProxy marked proxy-1 DOWN after %lld ms\n", (long long) figures->down_ms);
    printf ("# pairs on proxy-2 intact: %d of %d (%ld replies during the switch,"
            " %llu bytes echoed and checked, %llu lost)\n", figures->survivors_intact,
            figures->on_proxy [1], figures->survivor_replies_during,
            (unsigned long long) figures->survivor_bytes,
            (unsigned long long) figures->survivor_lost);
    printf ("# pairs proxy-2 made after the stop: %lld\n", figures->survivor_new_pairs);
    printf ("# every client echoed %d times after the switch: %s\n", config->rounds,
            figures->served_after == config->clients? "yes": "no");
    printf ("# proxy-1 started again on its ports: UP after %lld ms, %lld worker slots"
            " redialled, %d of %d new clients sent to it\n", (long long) figures->rejoin_ms,
            figures->rejoin_idle, figures->late_on_restarted, config->late_clients);
    printf ("# replies changed: %ld, answered twice (resent): %ld, clients stalled: %ld\n",
            figures->changed, figures->duplicates, figures->stalled);
    fflush (stdout);
}
