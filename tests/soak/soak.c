/*  =========================================================================
    soak - churns connections against one proxy for SOAK_MINUTES, then
    checks that nothing was lost, misrouted or kept

    Load (all in this process, on 127.0.0.x, through the real proxy binary
    started by the test harness):

    - SOAK_CLIENTS libzmq DEALER clients over NULL, spread over client
      threads. Each runs sessions: one socket, one TCP connection, one pair.
      A session sends numbered requests (up to S_WINDOW outstanding) for a
      random time, then ends cleanly (waits for every reply), or abruptly
      (closes mid-stream), or is cut when its worker goes.
    - SOAK_WORKERS echo workers, each a ROUTER connected SOAK_SLOTS times
      from its own address (so each is a distinct worker to the proxy).
      Each restarts now and then: closes its socket mid-stream and dials
      all its slots again.
    - Garbage peers on both sides: silence, random bytes, half greetings,
      HTTP, ZMTP 2.0, or a connect and an immediate close; and clients that
      send a valid greeting followed by an unknown command (the worker
      they are paired with fails the handshake and dials that slot
      again). Each must be closed by the proxy in time.

    Every message identifies its client, session and sequence number, and
    its body is a function of those, so each check is exact:

    - a worker checks each request (body intact) and that each of its
      connections carries one session, in order, from sequence 1, with no
      gap (nothing lost or misrouted on the way in);
    - a client checks each reply is its own next request, byte for byte;
    - a session that ends cleanly must get every reply. Only a session
      that the proxy cut (its worker left, its queue wait expired: the
      client sees the disconnection) may lose what was in flight.

    The run has two cycles, a warm-up (S_WARM_UP_PERCENT of the time) and
    the soak; each ends with every peer gone. Then the proxy's tables must
    be empty (STATS counters and LIST). At the end: no failure; the
    proxy's resident memory (VmRSS) after the soak is near its level after
    the warm-up, which means at most S_RSS_SLACK_MIB or S_RSS_SLACK_PERCENT
    of it above it, whichever is larger; and the proxy exits 0 on SIGTERM.
    Exits 0 when everything holds, 1 otherwise.

    Why after a warm-up and not from a cold start: glibc keeps what a churn
    freed in its arenas. The proxy gives it back (malloc_trim) when its
    connections fall to none or to half their peak, which takes a
    one-minute soak from a 40 MiB peak back to about 19 MiB (46 MiB
    without), but a heap that served hundreds of pairs keeps some of its
    pages. So resident memory settles after the warm-up and stays there,
    while a leak that grows with the churn keeps growing through the
    second half. The cold start is printed too.

    Environment: SOAK_MINUTES (10, may be a fraction), SOAK_CLIENTS (200),
    SOAK_WORKERS (4), SOAK_SLOTS (64 per worker), SOAK_SEED, SQ_BUILD.
    =========================================================================
*/
#include "sq_harness.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define S_CLIENT_THREADS     8
#define S_WINDOW             4          //  Requests outstanding per session
#define S_HEADER             16         //  Magic, client, session, sequence
#define S_MAGIC              0x53514b31u    //  "SQK1"
#define S_BODY_MAX           (128 * 1024)
#define S_GREETING_TIMEOUT   2000
#define S_QUEUE_TIMEOUT      10000
//  A reply on a live pair, or a garbage peer's closing, may take this long
#define S_LIVE_BOUND_MS      30000
#define S_GARBAGE_OPEN       24         //  Garbage connections open at once
#define S_RSS_SLACK_MIB      8
#define S_RSS_SLACK_PERCENT  20
#define S_WARM_UP_PERCENT    50         //  Of SOAK_MINUTES, before the baseline
#define S_FAILURES_SHOWN     20

//  ---------------------------------------------------------------------
//  Settings, shared counters and failures

typedef struct {
    double minutes;
    int clients;
    int workers;
    int slots;
    uint32_t seed;
} s_settings_t;

static s_settings_t s_settings;
static const char *s_frontend;
static const char *s_backend;

//  Running: all the load; stopping: clients end their sessions cleanly,
//  workers serve them; done: workers go too
enum { S_RUNNING, S_STOPPING, S_DONE };
static atomic_int s_phase = S_RUNNING;

typedef struct {
    atomic_llong sessions;          //  Client sessions opened
    atomic_llong sessions_clean;    //  Ended with every reply
    atomic_llong sessions_abrupt;   //  Closed mid-stream by the client
    atomic_llong sessions_cut;      //  Disconnected by the other side
    atomic_llong requests;          //  Sent by clients
    atomic_llong request_bytes;
    atomic_llong replies;           //  Checked by clients
    atomic_llong reply_bytes;
    atomic_llong worker_messages;   //  Checked by workers
    atomic_llong worker_bytes;
    atomic_llong lost_cut;          //  In flight on a session the proxy cut
    atomic_llong abandoned;         //  In flight when a client closed abruptly
    atomic_llong worker_restarts;
    atomic_llong worker_redials;    //  Slots lost to a failed handshake
    atomic_llong garbage;           //  Garbage connections opened
    atomic_llong garbage_closed;    //  ... and seen closed by the proxy
    atomic_llong failures;
} s_counters_t;

static s_counters_t s_count;
static pthread_mutex_t s_print_lock = PTHREAD_MUTEX_INITIALIZER;

//  Counts a failure and prints the first ones
static void
s_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_fail (const char *format, ...)
{
    long long count = atomic_fetch_add (&s_count.failures, 1) + 1;
    if (count > S_FAILURES_SHOWN)
        return;
    pthread_mutex_lock (&s_print_lock);
    va_list args;
    va_start (args, format);
    fprintf (stderr, "FAIL ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    pthread_mutex_unlock (&s_print_lock);
}

//  ---------------------------------------------------------------------
//  Random numbers (one state per thread) and payloads

static uint32_t
s_random (uint32_t *state)
{
    uint32_t x = *state? *state: 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

//  A number in [low, high]
static uint32_t
s_between (uint32_t *state, uint32_t low, uint32_t high)
{
    return low + s_random (state) % (high - low + 1);
}

//  Mostly small messages, some medium, a few large
static size_t
s_payload_size (uint32_t *state)
{
    uint32_t roll = s_random (state) % 100;
    if (roll < 75)
        return S_HEADER + s_between (state, 0, 240);
    if (roll < 99)
        return S_HEADER + s_between (state, 240, 4096);
    return S_HEADER + s_between (state, 4096, S_BODY_MAX);
}

static void
s_put32 (uint8_t *at, uint32_t value)
{
    at [0] = value >> 24; at [1] = value >> 16; at [2] = value >> 8; at [3] = value;
}

static uint32_t
s_get32 (const uint8_t *at)
{
    return (uint32_t) at [0] << 24 | (uint32_t) at [1] << 16
         | (uint32_t) at [2] << 8 | at [3];
}

//  The body bytes are a function of the header alone
static uint32_t
s_body_seed (uint32_t client, uint32_t session, uint32_t sequence)
{
    return (client * 2654435761u) ^ (session * 40503u + 1) ^ (sequence * 97u + 7);
}

static void
s_payload_fill (uint8_t *data, size_t size, uint32_t client, uint32_t session,
                uint32_t sequence)
{
    s_put32 (data, S_MAGIC);
    s_put32 (data + 4, client);
    s_put32 (data + 8, session);
    s_put32 (data + 12, sequence);
    uint32_t state = s_body_seed (client, session, sequence);
    for (size_t index = S_HEADER; index < size; index++)
        data [index] = (uint8_t) s_random (&state);
}

typedef struct {
    uint32_t client;
    uint32_t session;
    uint32_t sequence;
} s_header_t;

//  Reads the header and checks the body; false if anything is off
static bool
s_payload_check (const uint8_t *data, size_t size, s_header_t *header)
{
    if (size < S_HEADER || s_get32 (data) != S_MAGIC)
        return false;
    header->client = s_get32 (data + 4);
    header->session = s_get32 (data + 8);
    header->sequence = s_get32 (data + 12);
    uint32_t state = s_body_seed (header->client, header->session, header->sequence);
    for (size_t index = S_HEADER; index < size; index++)
        if (data [index] != (uint8_t) s_random (&state))
            return false;
    return true;
}

//  ---------------------------------------------------------------------
//  Socket monitors, read without blocking

//  Starts monitoring socket; returns the PAIR that receives its events
static void *
s_monitor_open (void *ctx, void *socket, int events)
{
    static atomic_int counter = 0;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://soak-monitor-%d",
              atomic_fetch_add (&counter, 1));
    if (zmq_socket_monitor (socket, endpoint, events) != 0)
        return NULL;
    void *pair = zmq_socket (ctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt (pair, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect (pair, endpoint);
    return pair;
}

//  Reads one pending event; returns its kind, or 0 if none is pending
static int
s_monitor_next (void *pair)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return 0;
    }
    uint16_t event = 0;
    if (zmq_msg_size (&frame) >= 2)
        memcpy (&event, zmq_msg_data (&frame), 2);
    int more = zmq_msg_more (&frame);
    zmq_msg_close (&frame);
    while (more) {                  //  The second frame: the endpoint
        zmq_msg_init (&frame);
        zmq_msg_recv (&frame, pair, 0);
        more = zmq_msg_more (&frame);
        zmq_msg_close (&frame);
    }
    return event;
}

static void
s_monitor_close (void *socket, void **pair_p)
{
    if (!*pair_p)
        return;
    zmq_socket_monitor (socket, NULL, 0);
    zmq_close (*pair_p);
    *pair_p = NULL;
}

//  ---------------------------------------------------------------------
//  Workers

//  Which session each connection of a worker socket carries, by routing id
typedef struct {
    uint8_t id [8];
    size_t id_size;                 //  0: free
    uint32_t client;
    uint32_t session;
    uint32_t sequence;              //  Last one seen
} s_route_t;

typedef struct {
    s_route_t *table;
    size_t alloc;                   //  A power of two
    size_t count;
} s_routes_t;

static size_t
s_id_hash (const uint8_t *id, size_t size)
{
    size_t hash = 2166136261u;
    for (size_t index = 0; index < size; index++)
        hash = (hash ^ id [index]) * 16777619u;
    return hash;
}

//  Finds or adds the route of a routing id (up to 8 bytes)
static s_route_t *
s_routes_get (s_routes_t *self, const uint8_t *id, size_t size, bool *added)
{
    if (self->count * 2 >= self->alloc) {
        s_routes_t bigger = { calloc (self->alloc? self->alloc * 2: 1024, sizeof (s_route_t)),
                              self->alloc? self->alloc * 2: 1024, 0 };
        for (size_t index = 0; index < self->alloc; index++)
            if (self->table [index].id_size) {
                bool unused;
                s_route_t *moved = s_routes_get (&bigger, self->table [index].id,
                                                 self->table [index].id_size, &unused);
                *moved = self->table [index];
            }
        free (self->table);
        *self = bigger;
    }
    size_t slot = s_id_hash (id, size) & (self->alloc - 1);
    while (self->table [slot].id_size) {
        if (self->table [slot].id_size == size && memcmp (self->table [slot].id, id, size) == 0) {
            *added = false;
            return &self->table [slot];
        }
        slot = (slot + 1) & (self->alloc - 1);
    }
    memcpy (self->table [slot].id, id, size);
    self->table [slot].id_size = size;
    self->count++;
    *added = true;
    return &self->table [slot];
}

typedef struct {
    int index;
    char source [32];               //  Its own 127.0.0.x
    char endpoint [320];            //  The backend, from that address
    void *ctx;
    void *router;
    void *monitor;
    s_routes_t routes;
    uint32_t random;
    pthread_t thread;
} s_worker_t;

//  Opens the worker's socket and dials every slot
static bool
s_worker_open (s_worker_t *self)
{
    self->router = sq_worker_socket_new (self->ctx, ZMQ_ROUTER, NULL, NULL);
    if (!self->router)
        return false;
    self->monitor = s_monitor_open (self->ctx, self->router,
                                    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    for (int slot = 0; slot < s_settings.slots; slot++)
        if (zmq_connect (self->router, self->endpoint) != 0)
            return false;
    return true;
}

static void
s_worker_close (s_worker_t *self)
{
    s_monitor_close (self->router, &self->monitor);
    if (self->router)
        zmq_close (self->router);
    self->router = NULL;
    free (self->routes.table);
    memset (&self->routes, 0, sizeof self->routes);
}

//  Checks one request against what its connection carried so far
static void
s_worker_check (s_worker_t *self, zmq_msg_t *id, zmq_msg_t *body)
{
    s_header_t header;
    if (!s_payload_check (zmq_msg_data (body), zmq_msg_size (body), &header)) {
        s_fail ("worker %d: a corrupt request of %zu bytes", self->index,
                zmq_msg_size (body));
        return;
    }
    if (zmq_msg_size (id) > 8) {
        s_fail ("worker %d: routing id of %zu bytes", self->index, zmq_msg_size (id));
        return;
    }
    bool added;
    s_route_t *route = s_routes_get (&self->routes, zmq_msg_data (id), zmq_msg_size (id), &added);
    //  A ROUTER that connects keeps one routing id per zmq_connect across
    //  its reconnections: a slot's next connection starts a new session
    if (added || header.sequence == 1) {
        route->client = header.client;
        route->session = header.session;
        route->sequence = 0;
    }
    if (route->client != header.client || route->session != header.session)
        s_fail ("worker %d: client %u session %u arrived on the connection of "
                "client %u session %u", self->index, header.client, header.session,
                route->client, route->session);
    else
    if (header.sequence != route->sequence + 1)
        s_fail ("worker %d: client %u session %u: request %u after %u", self->index,
                header.client, header.session, header.sequence, route->sequence);
    route->sequence = header.sequence;
    atomic_fetch_add (&s_count.worker_messages, 1);
    atomic_fetch_add (&s_count.worker_bytes, (long long) zmq_msg_size (body));
}

//  Receives and echoes every pending request; false when none was pending
static bool
s_worker_serve (s_worker_t *self)
{
    zmq_msg_t id, body;
    zmq_msg_init (&id);
    if (zmq_msg_recv (&id, self->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&id);
        return false;
    }
    zmq_msg_init (&body);
    zmq_msg_recv (&body, self->router, 0);
    if (zmq_msg_more (&body)) {
        s_fail ("worker %d: a request of more than one frame", self->index);
        while (zmq_msg_more (&body))
            zmq_msg_recv (&body, self->router, 0);
    }
    else
        s_worker_check (self, &id, &body);
    zmq_msg_send (&id, self->router, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_msg_send (&body, self->router, ZMQ_DONTWAIT);
    zmq_msg_close (&id);
    zmq_msg_close (&body);
    return true;
}

//  libzmq 4.3.4 does not redial a connection whose handshake failed with a
//  protocol error (a garbage client after a valid greeting): dial it again
static void
s_worker_redial (s_worker_t *self)
{
    int event;
    while (self->monitor && (event = s_monitor_next (self->monitor)) != 0)
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            zmq_connect (self->router, self->endpoint);
            atomic_fetch_add (&s_count.worker_redials, 1);
        }
}

static void *
s_worker_thread (void *args)
{
    s_worker_t *self = args;
    //  Each worker restarts on average every 30 s
    int64_t restart_at = sq_now_ms () + s_between (&self->random, 5000, 55000);
    while (atomic_load (&s_phase) == S_RUNNING) {
        zmq_pollitem_t items [] = {
            { self->router, 0, ZMQ_POLLIN, 0 }, { self->monitor, 0, ZMQ_POLLIN, 0 }
        };
        zmq_poll (items, self->monitor? 2: 1, 50);
        for (int burst = 0; burst < 1000 && s_worker_serve (self); burst++)
            ;
        s_worker_redial (self);
        if (sq_now_ms () >= restart_at) {
            s_worker_close (self);
            if (!s_worker_open (self))
                s_fail ("worker %d could not open its socket again", self->index);
            atomic_fetch_add (&s_count.worker_restarts, 1);
            restart_at = sq_now_ms () + s_between (&self->random, 5000, 55000);
        }
    }
    //  The clients have all finished: serve until told to go
    while (atomic_load (&s_phase) != S_DONE) {
        zmq_pollitem_t item = { self->router, 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 50);
        while (s_worker_serve (self))
            ;
    }
    s_worker_close (self);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Clients

typedef struct {
    uint32_t id;                    //  Client number
    void *socket;                   //  DEALER of the current session, or NULL
    void *monitor;
    uint32_t session;
    uint32_t sent;                  //  Last sequence sent
    uint32_t received;              //  Last sequence answered
    bool closing;                   //  Sends no more; waits for the replies
    bool abrupt;                    //  Will close mid-stream
    int64_t ends_at;                //  Stops sending then
    int64_t next_send;
    int64_t next_session;           //  When closed: opens again then
    int64_t progress_at;            //  Last send or reply
} s_client_t;

typedef struct {
    int index;
    void *ctx;
    char endpoint [320];            //  The frontend, from 127.0.0.x
    s_client_t *clients;
    int count;
    uint32_t random;
    uint8_t *buffer;                //  S_HEADER + S_BODY_MAX
    pthread_t thread;
} s_client_thread_t;

static void
s_session_open (s_client_thread_t *self, s_client_t *client, int64_t now)
{
    client->socket = sq_peer_new (self->ctx, ZMQ_DEALER, NULL, NULL);
    //  One session is one connection: never reconnect
    int never = -1;
    zmq_setsockopt (client->socket, ZMQ_RECONNECT_IVL, &never, sizeof never);
    client->monitor = s_monitor_open (self->ctx, client->socket,
        ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
        | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    if (!client->monitor || zmq_connect (client->socket, self->endpoint) != 0)
        s_fail ("client %u: cannot open a session", client->id);
    client->session++;
    client->sent = client->received = 0;
    client->closing = false;
    client->abrupt = s_random (&self->random) % 4 == 0;
    client->ends_at = now + s_between (&self->random, 200, 4000);
    client->next_send = now;
    client->progress_at = now;
    atomic_fetch_add (&s_count.sessions, 1);
}

static void
s_session_close (s_client_thread_t *self, s_client_t *client, int64_t now)
{
    s_monitor_close (client->socket, &client->monitor);
    zmq_close (client->socket);
    client->socket = NULL;
    client->next_session = now + s_between (&self->random, 0, 300);
}

static void
s_client_send (s_client_thread_t *self, s_client_t *client, int64_t now)
{
    size_t size = s_payload_size (&self->random);
    s_payload_fill (self->buffer, size, client->id, client->session, client->sent + 1);
    if (zmq_send (client->socket, self->buffer, size, ZMQ_DONTWAIT) != (int) size)
        return;                     //  Not connected yet, or full: later
    client->sent++;
    client->progress_at = now;
    client->next_send = now + s_between (&self->random, 5, 60);
    atomic_fetch_add (&s_count.requests, 1);
    atomic_fetch_add (&s_count.request_bytes, (long long) size);
}

//  Checks every reply that arrived: each must be our next request
static void
s_client_receive (s_client_t *client, int64_t now)
{
    zmq_msg_t reply;
    zmq_msg_init (&reply);
    while (zmq_msg_recv (&reply, client->socket, ZMQ_DONTWAIT) >= 0) {
        s_header_t header;
        if (!s_payload_check (zmq_msg_data (&reply), zmq_msg_size (&reply), &header))
            s_fail ("client %u session %u: a corrupt reply of %zu bytes", client->id,
                    client->session, zmq_msg_size (&reply));
        else
        if (header.client != client->id || header.session != client->session)
            s_fail ("client %u session %u: got the reply of client %u session %u",
                    client->id, client->session, header.client, header.session);
        else
        if (header.sequence != client->received + 1 || header.sequence > client->sent)
            s_fail ("client %u session %u: reply %u after %u (sent %u)", client->id,
                    client->session, header.sequence, client->received, client->sent);
        else {
            atomic_fetch_add (&s_count.replies, 1);
            atomic_fetch_add (&s_count.reply_bytes, (long long) zmq_msg_size (&reply));
        }
        client->received++;
        client->progress_at = now;
    }
    zmq_msg_close (&reply);
}

//  True if the session's connection has gone (the proxy closed it)
static bool
s_client_cut (s_client_t *client)
{
    bool cut = false;
    while (s_monitor_next (client->monitor))
        cut = true;
    return cut;
}

//  Moves one session on: replies and events (when poll said so), end of
//  session, next request
static void
s_client_step (s_client_thread_t *self, s_client_t *client, int64_t now, bool stopping,
               const zmq_pollitem_t *items)
{
    if (!client->socket) {
        if (!stopping && now >= client->next_session)
            s_session_open (self, client, now);
        return;
    }
    if (items [0].revents & ZMQ_POLLIN)
        s_client_receive (client, now);
    uint32_t outstanding = client->sent - client->received;
    if ((items [1].revents & ZMQ_POLLIN) && s_client_cut (client)) {
        s_client_receive (client, now);     //  Whatever came before the cut
        atomic_fetch_add (&s_count.lost_cut, client->sent - client->received);
        atomic_fetch_add (&s_count.sessions_cut, 1);
        s_session_close (self, client, now);
        return;
    }
    if (!client->closing && (now >= client->ends_at || stopping)) {
        if (client->abrupt && !stopping) {
            atomic_fetch_add (&s_count.abandoned, outstanding);
            atomic_fetch_add (&s_count.sessions_abrupt, 1);
            s_session_close (self, client, now);
            return;
        }
        client->closing = true;
    }
    if (client->closing && outstanding == 0) {
        atomic_fetch_add (&s_count.sessions_clean, 1);
        s_session_close (self, client, now);
        return;
    }
    if (outstanding > 0 && now - client->progress_at > S_LIVE_BOUND_MS) {
        s_fail ("client %u session %u: %u replies missing after %d ms on a live pair",
                client->id, client->session, outstanding, S_LIVE_BOUND_MS);
        s_session_close (self, client, now);
        return;
    }
    if (!client->closing && outstanding < S_WINDOW && now >= client->next_send)
        s_client_send (self, client, now);
}

//  Two poll items per client, its DEALER and its monitor; a closed client
//  polls nothing (a NULL socket and a -1 fd)
static void *
s_client_thread (void *args)
{
    s_client_thread_t *self = args;
    zmq_pollitem_t *items = calloc (2 * self->count, sizeof *items);
    while (true) {
        bool stopping = atomic_load (&s_phase) != S_RUNNING;
        int64_t now = sq_now_ms ();
        bool open = false;
        for (int index = 0; index < self->count; index++) {
            s_client_t *client = &self->clients [index];
            zmq_pollitem_t *pair = &items [2 * index];
            s_client_step (self, client, now, stopping, pair);
            pair [0] = (zmq_pollitem_t) { client->socket, -1, ZMQ_POLLIN, 0 };
            pair [1] = (zmq_pollitem_t) { client->monitor, -1, ZMQ_POLLIN, 0 };
            open |= client->socket != NULL;
        }
        if (stopping && !open)
            break;
        zmq_poll (items, 2 * self->count, 10);
    }
    free (items);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Garbage peers

typedef enum {
    S_SILENT, S_RANDOM, S_HALF_GREETING, S_HTTP, S_ZMTP2, S_JUNK_AFTER_GREETING,
    S_CONNECT_CLOSE, S_KINDS
} s_kind_t;

typedef struct {
    int fd;                         //  -1: free
    bool frontend;
    s_kind_t kind;
    int64_t deadline;               //  Must be closed by the proxy by then
} s_garbage_t;

//  A blocking TCP connection from source_ip to the endpoint's port on
//  127.0.0.1, or -1
static int
s_raw_connect (const char *endpoint, const char *source_ip)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    struct sockaddr_in source = { .sin_family = AF_INET };
    inet_pton (AF_INET, source_ip, &source.sin_addr);
    struct sockaddr_in target = { .sin_family = AF_INET,
                                  .sin_port = htons (sq_endpoint_port (endpoint)) };
    target.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (bind (fd, (struct sockaddr *) &source, sizeof source) != 0
    ||  connect (fd, (struct sockaddr *) &target, sizeof target) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

//  What a garbage peer of that kind sends first
static size_t
s_garbage_bytes (s_kind_t kind, uint32_t *random, uint8_t *bytes)
{
    static const uint8_t signature [11] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3 };
    static const uint8_t zmtp2 [14] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 1, 5, 0, 0 };
    const char *http = "GET / HTTP/1.1\r\nHost: soak\r\n\r\n";
    size_t size = 0;
    switch (kind) {
        case S_RANDOM:
            size = s_between (random, 1, 512);
            for (size_t index = 0; index < size; index++)
                bytes [index] = (uint8_t) s_random (random);
            bytes [0] = 0x42;       //  Never a ZMTP signature
            break;
        case S_HALF_GREETING:
            size = s_between (random, 1, 40);
            memset (bytes, 0, size);
            memcpy (bytes, signature, size < 11? size: 11);
            break;
        case S_HTTP:
            size = strlen (http);
            memcpy (bytes, http, size);
            break;
        case S_ZMTP2:
            size = sizeof zmtp2;
            memcpy (bytes, zmtp2, size);
            break;
        case S_JUNK_AFTER_GREETING:
            //  A whole NULL greeting, then a command no ZMTP peer knows:
            //  the libzmq peer it is paired with fails the handshake
            memset (bytes, 0, 64);
            memcpy (bytes, signature, 11);
            memcpy (bytes + 12, "NULL", 4);
            size = 64 + 2 + 6 + s_between (random, 0, 100);
            bytes [64] = 0x04;      //  A short command
            bytes [65] = (uint8_t) (size - 66);
            memcpy (bytes + 66, "\x05JUNK!", 6);
            for (size_t index = 72; index < size; index++)
                bytes [index] = (uint8_t) s_random (random);
            break;
        default:
            break;
    }
    return size;
}

static void
s_garbage_open (s_garbage_t *peer, uint32_t *random, int64_t now)
{
    peer->kind = (s_kind_t) (s_random (random) % S_KINDS);
    peer->frontend = s_random (random) % 2;
    //  A valid greeting with junk on both sides would pair two garbage
    //  peers, which the proxy rightly keeps: only as a client
    if (peer->kind == S_JUNK_AFTER_GREETING)
        peer->frontend = true;
    peer->fd = s_raw_connect (peer->frontend? s_frontend: s_backend, "127.0.0.200");
    if (peer->fd == -1)
        return;
    atomic_fetch_add (&s_count.garbage, 1);
    uint8_t bytes [512];
    size_t size = s_garbage_bytes (peer->kind, random, bytes);
    if (size && send (peer->fd, bytes, size, MSG_NOSIGNAL) < 0)
        peer->kind = S_CONNECT_CLOSE;   //  Already refused: nothing to check
    if (peer->kind == S_CONNECT_CLOSE) {
        close (peer->fd);
        peer->fd = -1;
        return;
    }
    //  A valid greeting waits for a partner (the queue) before failing
    peer->deadline = now + S_GREETING_TIMEOUT + S_QUEUE_TIMEOUT + S_LIVE_BOUND_MS;
}

//  Reads what the proxy sent; closes the peer once the proxy has
static void
s_garbage_poll (s_garbage_t *peer, int64_t now)
{
    uint8_t chunk [4096];
    while (true) {
        ssize_t got = recv (peer->fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (got > 0)
            continue;
        if (got == -1 && (errno == EAGAIN || errno == EINTR))
            break;
        atomic_fetch_add (&s_count.garbage_closed, 1);   //  EOF or reset
        close (peer->fd);
        peer->fd = -1;
        return;
    }
    if (now > peer->deadline) {
        s_fail ("garbage peer of kind %d on the %s, 127.0.0.200:%d, still open after %d ms",
                (int) peer->kind, peer->frontend? "frontend": "backend",
                sq_fd_local_port (peer->fd),
                S_GREETING_TIMEOUT + S_QUEUE_TIMEOUT + S_LIVE_BOUND_MS);
        close (peer->fd);
        peer->fd = -1;
    }
}

static void *
s_garbage_thread (void *args)
{
    uint32_t random = *(uint32_t *) args;
    s_garbage_t peers [S_GARBAGE_OPEN];
    for (int index = 0; index < S_GARBAGE_OPEN; index++)
        peers [index].fd = -1;
    while (atomic_load (&s_phase) == S_RUNNING) {
        int64_t now = sq_now_ms ();
        for (int index = 0; index < S_GARBAGE_OPEN; index++)
            if (peers [index].fd >= 0)
                s_garbage_poll (&peers [index], now);
            else
            if (s_random (&random) % 8 == 0)
                s_garbage_open (&peers [index], &random, now);
        sq_sleep_ms (20);
    }
    for (int index = 0; index < S_GARBAGE_OPEN; index++)
        if (peers [index].fd >= 0)
            close (peers [index].fd);
    return NULL;
}

//  ---------------------------------------------------------------------
//  The proxy: memory and tables

//  Resident memory of a process in KiB, from /proc; -1 if unreadable
static long
s_rss_kib (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    char *status = sq_file_read (path);
    const char *line = status? strstr (status, "\nVmRSS:"): NULL;
    long kib = line? strtol (line + 7, NULL, 10): -1;
    free (status);
    return kib;
}

//  CPU time a process has used so far, in seconds, from /proc; -1 if
//  unreadable
static double
s_cpu_seconds (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    char *stat = sq_file_read (path);
    //  Fields after the command name, which ends with the last ')'
    const char *field = stat? strrchr (stat, ')'): NULL;
    unsigned long long user = 0, system = 0;
    bool ok = field && sscanf (field + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                                          "%llu %llu", &user, &system) == 2;
    free (stat);
    return ok? (double) (user + system) / sysconf (_SC_CLK_TCK): -1;
}

static double
s_mib (long kib)
{
    return kib / 1024.0;
}

//  Polls until every table of the proxy is empty; false (with what is
//  left printed) if that does not happen within SQ_WAIT_MS
static bool
s_tables_empty (sq_proxy_t *proxy)
{
    const char *paths [] = {
        "frontend.connections", "backend.connections", "pairs.active", "clients.queued",
        "workers.idle", "held.bytes", "registrations.pending", "heartbeats.watched"
    };
    bool empty = true;
    for (size_t index = 0; index < sizeof paths / sizeof paths [0]; index++)
        if (!sq_stats_wait (proxy->control, paths [index], 0, SQ_WAIT_MS)) {
            fprintf (stderr, "FAIL STATS %s is not 0\n", paths [index]);
            empty = false;
        }
    char *list = sq_control_str (proxy->control, "LIST");
    int listed = list? sq_json_count (list, ""): -1;
    if (listed != 0) {
        fprintf (stderr, "FAIL LIST shows %d connections: %.400s\n", listed,
                 list? list: "(no reply)");
        empty = false;
    }
    free (list);
    return empty;
}

//  ---------------------------------------------------------------------
//  The run

static double
s_env_number (const char *name, double fallback, double low, double high)
{
    const char *text = getenv (name);
    char *end = NULL;
    double value = text? strtod (text, &end): fallback;
    if (text && (end == text || *end || value < low || value > high)) {
        fprintf (stderr, "soak: %s must be a number from %g to %g\n", name, low, high);
        exit (2);
    }
    return value;
}

static void
s_settings_read (void)
{
    s_settings.minutes = s_env_number ("SOAK_MINUTES", 10, 0.05, 10000);
    s_settings.clients = (int) s_env_number ("SOAK_CLIENTS", 200, 1, 4000);
    s_settings.workers = (int) s_env_number ("SOAK_WORKERS", 4, 1, 100);
    s_settings.slots = (int) s_env_number ("SOAK_SLOTS", 64, 1, 1000);
    s_settings.seed = (uint32_t) s_env_number ("SOAK_SEED", (double) (uint32_t) time (NULL),
                                               0, 4294967295.0);
}

static void
s_raise_file_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
}

static void
s_progress (sq_proxy_t *proxy, const char *cycle, int64_t started, long rss)
{
    long long pairs = -1, frontend = -1, backend = -1;
    sq_stats (proxy->control, "pairs.active", &pairs);
    sq_stats (proxy->control, "frontend.connections", &frontend);
    sq_stats (proxy->control, "backend.connections", &backend);
    printf ("[%s %4.0f s] sessions %lld, requests %lld, replies %lld, garbage %lld; "
            "now %lld pairs, %lld + %lld connections; rss %.1f MiB; failures %lld\n",
            cycle, (sq_now_ms () - started) / 1000.0, atomic_load (&s_count.sessions),
            atomic_load (&s_count.requests), atomic_load (&s_count.replies),
            atomic_load (&s_count.garbage), pairs, frontend, backend, s_mib (rss),
            atomic_load (&s_count.failures));
    fflush (stdout);
}

static void
s_report (void)
{
    printf ("client sessions: %lld (%lld ended cleanly with every reply, %lld closed "
            "mid-stream by the client, %lld cut by the proxy)\n",
            atomic_load (&s_count.sessions), atomic_load (&s_count.sessions_clean),
            atomic_load (&s_count.sessions_abrupt), atomic_load (&s_count.sessions_cut));
    printf ("requests sent: %lld (%lld bytes); checked by workers: %lld (%lld bytes)\n",
            atomic_load (&s_count.requests), atomic_load (&s_count.request_bytes),
            atomic_load (&s_count.worker_messages), atomic_load (&s_count.worker_bytes));
    printf ("replies checked by clients: %lld (%lld bytes); in flight when the proxy "
            "cut a session: %lld; when a client closed mid-stream: %lld\n",
            atomic_load (&s_count.replies), atomic_load (&s_count.reply_bytes),
            atomic_load (&s_count.lost_cut), atomic_load (&s_count.abandoned));
    printf ("worker restarts: %lld, slots redialled after a failed handshake: %lld\n",
            atomic_load (&s_count.worker_restarts), atomic_load (&s_count.worker_redials));
    printf ("garbage peers: %lld (%lld seen closed by the proxy)\n",
            atomic_load (&s_count.garbage), atomic_load (&s_count.garbage_closed));
}

//  The load of one cycle: its threads and their sockets
typedef struct {
    s_worker_t *workers;
    s_client_thread_t threads [S_CLIENT_THREADS];
    pthread_t garbage;
    uint32_t garbage_seed;
} s_load_t;

//  Starts the workers, the client threads and the garbage thread. Client
//  numbers differ from cycle to cycle. False on error.
static bool
s_load_start (s_load_t *load, sq_proxy_t *proxy, int cycle)
{
    s_frontend = proxy->frontend;
    s_backend = proxy->backend;
    atomic_store (&s_phase, S_RUNNING);
    uint32_t seed = s_settings.seed ^ ((uint32_t) cycle << 24);
    load->workers = calloc (s_settings.workers, sizeof (s_worker_t));
    for (int index = 0; index < s_settings.workers; index++) {
        s_worker_t *worker = &load->workers [index];
        worker->index = index;
        worker->random = seed ^ (0x1000u + index);
        snprintf (worker->source, sizeof worker->source, "127.0.0.%d", 10 + index);
        sq_endpoint_from (proxy->backend, worker->source, 0, worker->endpoint,
                          sizeof worker->endpoint);
        worker->ctx = zmq_ctx_new ();
        if (!s_worker_open (worker))
            return false;
        pthread_create (&worker->thread, NULL, s_worker_thread, worker);
    }
    for (int index = 0; index < S_CLIENT_THREADS; index++) {
        s_client_thread_t *thread = &load->threads [index];
        thread->index = index;
        thread->random = seed ^ (0x2000u + index);
        thread->ctx = zmq_ctx_new ();
        //  Two sockets per client: its DEALER and its monitor
        zmq_ctx_set (thread->ctx, ZMQ_MAX_SOCKETS, 4 * s_settings.clients + 64);
        thread->buffer = malloc (S_HEADER + S_BODY_MAX);
        char source [32];
        snprintf (source, sizeof source, "127.0.0.%d", 120 + index);
        sq_endpoint_from (proxy->frontend, source, 0, thread->endpoint,
                          sizeof thread->endpoint);
        thread->count = s_settings.clients / S_CLIENT_THREADS
                      + (index < s_settings.clients % S_CLIENT_THREADS);
        thread->clients = calloc (thread->count + 1, sizeof (s_client_t));
        for (int client = 0; client < thread->count; client++)
            thread->clients [client].id = (uint32_t) (cycle * 100000
                                        + client * S_CLIENT_THREADS + index + 1);
        pthread_create (&thread->thread, NULL, s_client_thread, thread);
    }
    load->garbage_seed = seed ^ 0x3000u;
    pthread_create (&load->garbage, NULL, s_garbage_thread, &load->garbage_seed);
    return true;
}

//  Clients finish their sessions first, then the workers go
static void
s_load_stop (s_load_t *load)
{
    atomic_store (&s_phase, S_STOPPING);
    pthread_join (load->garbage, NULL);
    for (int index = 0; index < S_CLIENT_THREADS; index++) {
        s_client_thread_t *thread = &load->threads [index];
        pthread_join (thread->thread, NULL);
        zmq_ctx_term (thread->ctx);
        free (thread->clients);
        free (thread->buffer);
    }
    atomic_store (&s_phase, S_DONE);
    for (int index = 0; index < s_settings.workers; index++) {
        pthread_join (load->workers [index].thread, NULL);
        zmq_ctx_term (load->workers [index].ctx);
    }
    free (load->workers);
}

//  One cycle: the load for that long, sampling the proxy's memory each
//  second into *peak, then every peer gone and the tables checked empty.
//  Returns the proxy's memory once it is empty, or -1 on failure.
static long
s_cycle (sq_proxy_t *proxy, const char *name, int cycle, int64_t length, long *peak)
{
    s_load_t load = { 0 };
    if (!s_load_start (&load, proxy, cycle)) {
        fprintf (stderr, "FAIL could not start the workers\n");
        return -1;
    }
    int64_t started = sq_now_ms ();
    int64_t report_every = length > 120000? 60000: 15000;
    int64_t next_report = started + report_every;
    while (sq_now_ms () < started + length) {
        sq_sleep_ms (1000);
        long rss = s_rss_kib (proxy->pid);
        *peak = rss > *peak? rss: *peak;
        if (sq_now_ms () >= next_report) {
            s_progress (proxy, name, started, rss);
            next_report += report_every;
        }
    }
    s_load_stop (&load);
    if (!s_tables_empty (proxy))
        return -1;
    sq_sleep_ms (1000);             //  Let the proxy settle before measuring
    long rss = s_rss_kib (proxy->pid);
    *peak = rss > *peak? rss: *peak;
    printf ("[%s] done: tables empty, rss %.1f MiB\n", name, s_mib (rss));
    fflush (stdout);
    return rss;
}

//  The memory check: see the header
static bool
s_memory_ok (long cold, long warm, long peak, long end)
{
    long slack = warm * S_RSS_SLACK_PERCENT / 100;
    slack = slack > S_RSS_SLACK_MIB * 1024? slack: S_RSS_SLACK_MIB * 1024;
    bool ok = warm > 0 && end > 0 && end <= warm + slack;
    printf ("proxy rss: cold start %.1f MiB, after warm-up %.1f MiB, peak %.1f MiB, "
            "end %.1f MiB (allowed up to %.1f MiB: after warm-up + max(%d MiB, %d%%))%s\n",
            s_mib (cold), s_mib (warm), s_mib (peak), s_mib (end), s_mib (warm + slack),
            S_RSS_SLACK_MIB, S_RSS_SLACK_PERCENT, ok? "": " FAIL");
    return ok;
}

int
main (void)
{
    s_settings_read ();
    s_raise_file_limit ();
    printf ("soak: %g min, %d clients (%d threads), %d workers x %d slots, seed %u\n",
            s_settings.minutes, s_settings.clients, S_CLIENT_THREADS, s_settings.workers,
            s_settings.slots, s_settings.seed);
    char greeting [16], queue [16];
    snprintf (greeting, sizeof greeting, "%d", S_GREETING_TIMEOUT);
    snprintf (queue, sizeof queue, "%d", S_QUEUE_TIMEOUT);
    //  The harness reads the endpoints from info lines: the log stays at
    //  info, a few lines per connection
    const char *args [] = {
        "--greeting-timeout", greeting, "--queue-timeout", queue, NULL
    };
    sq_proxy_t *proxy = sq_proxy_start ("soak", args);
    if (!proxy)
        return 1;
    sq_sleep_ms (500);
    long cold = s_rss_kib (proxy->pid);
    long peak = cold;
    int64_t total = (int64_t) (s_settings.minutes * 60000);
    int64_t warm_up = total * S_WARM_UP_PERCENT / 100;
    long warm = s_cycle (proxy, "warm-up", 1, warm_up, &peak);
    long end = warm > 0? s_cycle (proxy, "soak", 2, total - warm_up, &peak): -1;
    s_report ();
    printf ("proxy cpu: %.1f s over %.1f min\n", s_cpu_seconds (proxy->pid),
            s_settings.minutes);
    bool memory_ok = end > 0 && s_memory_ok (cold, warm, peak, end);
    int code = sq_proxy_stop (&proxy);
    if (code != 0)
        fprintf (stderr, "FAIL the proxy exited %d on SIGTERM\n", code);
    //  A soak that did not churn proves nothing
    bool churned = atomic_load (&s_count.sessions_clean) > 0
                && atomic_load (&s_count.sessions_cut) > 0
                && atomic_load (&s_count.garbage_closed) > 0
                && atomic_load (&s_count.replies) > 0;
    if (!churned)
        fprintf (stderr, "FAIL the load did not run (no clean session, cut session, "
                 "closed garbage peer or reply)\n");
    //  Every request is accounted for: answered, or in flight when its
    //  session was cut or abandoned
    long long sent = atomic_load (&s_count.requests);
    long long accounted = atomic_load (&s_count.replies) + atomic_load (&s_count.lost_cut)
                        + atomic_load (&s_count.abandoned);
    if (sent != accounted)
        fprintf (stderr, "FAIL %lld requests sent, %lld answered or in flight on a "
                 "session that ended early\n", sent, accounted);
    long long failures = atomic_load (&s_count.failures);
    bool ok = failures == 0 && memory_ok && code == 0 && churned && sent == accounted;
    printf ("soak: %s (%lld failures)\n", ok? "passed": "FAILED", failures);
    return ok? 0: 1;
}
