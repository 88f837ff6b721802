/*  =========================================================================
    test_concurrency - 50 pairs at once, no cross-talk

    Five ROUTER workers each dial the backend ten times (50 slots); 50
    DEALER clients each send their own byte pattern, derived from their
    index, in many messages of varied sizes. The worker learns a
    connection's index from its first message, checks every later message
    on that connection carries the same index, in sequence, with the right
    bytes, and answers with a second pattern of the same index, which the
    client checks in turn. So both ends of every pair see only their
    partner's bytes, all of them, in order.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

SQ_TEST_DEFINE

#define S_WORKERS       5
#define S_SLOTS         10          //  Connections per ROUTER worker
#define S_CLIENTS       (S_WORKERS * S_SLOTS)
#define S_MESSAGES      300         //  Per client
#define S_WINDOW        32          //  Requests in flight per client

//  Request and reply bodies: index (4 bytes), sequence (4 bytes), pattern
static size_t
s_request_size (uint32_t index, uint32_t sequence)
{
    if (sequence % 40 == 39)
        return 8 + 65536 + index;   //  Now and then a large one
    return 8 + (index * 7 + sequence * 13) % 300;
}

static size_t
s_reply_size (uint32_t index, uint32_t sequence)
{
    return 8 + (index * 11 + sequence * 5) % 500;
}

static uint8_t
s_request_byte (uint32_t index, uint32_t sequence, size_t offset)
{
    return (uint8_t) (index * 31 + sequence * 17 + offset) ^ 0x5A;
}

static uint8_t
s_reply_byte (uint32_t index, uint32_t sequence, size_t offset)
{
    return (uint8_t) (index * 29 + sequence * 3 + offset * 7 + 1);
}

typedef uint8_t (s_pattern_fn) (uint32_t index, uint32_t sequence, size_t offset);

//  Builds a body of the given size: header then pattern bytes
static uint8_t *
s_body_new (uint32_t index, uint32_t sequence, size_t size, s_pattern_fn *pattern)
{
    uint8_t *body = malloc (size);
    memcpy (body, &index, 4);
    memcpy (body + 4, &sequence, 4);
    for (size_t offset = 8; offset < size; offset++)
        body [offset] = pattern (index, sequence, offset);
    return body;
}

//  True if body has exactly the given index, sequence, size and pattern
static bool
s_body_ok (const uint8_t *body, size_t size, uint32_t index, uint32_t sequence,
           size_t expected_size, s_pattern_fn *pattern)
{
    uint32_t got_index, got_sequence;
    if (size != expected_size || size < 8)
        return false;
    memcpy (&got_index, body, 4);
    memcpy (&got_sequence, body + 4, 4);
    if (got_index != index || got_sequence != sequence)
        return false;
    for (size_t offset = 8; offset < size; offset++)
        if (body [offset] != pattern (index, sequence, offset))
            return false;
    return true;
}

//  ---------------------------------------------------------------------
//  Worker side: one state per ROUTER worker, used by its thread only

typedef struct {
    uint8_t routing_id [256];
    size_t routing_id_size;
    uint32_t index;             //  Learned from the first message
    uint32_t next_sequence;
} s_route_t;

typedef struct {
    s_route_t routes [4 * S_SLOTS];
    int route_count;
    int errors;
    char first_error [200];
} s_worker_state_t;

//  Finds or creates the route of a routing id
static s_route_t *
s_route (s_worker_state_t *self, sq_msg_t *request, uint32_t index)
{
    for (int route = 0; route < self->route_count; route++)
        if (self->routes [route].routing_id_size == request->size [0]
        &&  memcmp (self->routes [route].routing_id, request->data [0], request->size [0]) == 0)
            return &self->routes [route];
    if (self->route_count == 4 * S_SLOTS || request->size [0] > 256)
        return NULL;
    s_route_t *route = &self->routes [self->route_count++];
    memcpy (route->routing_id, request->data [0], request->size [0]);
    route->routing_id_size = request->size [0];
    route->index = index;
    route->next_sequence = 0;
    return route;
}

static void
s_worker_error (s_worker_state_t *self, const char *what, uint32_t index)
{
    if (self->errors++ == 0)
        snprintf (self->first_error, sizeof self->first_error, "%s (index %u)", what, index);
}

//  Checks a request against its route and answers with the reply pattern
static sq_msg_t *
s_worker_handler (sq_msg_t *request, void *arg)
{
    s_worker_state_t *self = arg;
    uint32_t index = 0;
    if (request->count != 2 || request->size [1] < 8) {
        s_worker_error (self, "malformed request", 0);
        return NULL;
    }
    memcpy (&index, request->data [1], 4);
    s_route_t *route = s_route (self, request, index);
    if (!route || route->index != index) {
        s_worker_error (self, "request from another client on this connection", index);
        return NULL;
    }
    uint32_t sequence = route->next_sequence++;
    if (!s_body_ok (request->data [1], request->size [1], index, sequence,
                    s_request_size (index, sequence), s_request_byte))
        s_worker_error (self, "request out of order or corrupt", index);
    size_t size = s_reply_size (index, sequence);
    uint8_t *body = s_body_new (index, sequence, size, s_reply_byte);
    sq_msg_t *reply = sq_msg_new ();
    sq_msg_add (reply, request->data [0], request->size [0]);
    sq_msg_add (reply, body, size);
    free (body);
    return reply;
}

//  ---------------------------------------------------------------------
//  Client side: all clients polled from the test thread

typedef struct {
    void *socket;
    uint32_t sent;
    uint32_t received;
    int errors;
} s_client_t;

static int
s_client_send (s_client_t *self, uint32_t index)
{
    size_t size = s_request_size (index, self->sent);
    uint8_t *body = s_body_new (index, self->sent, size, s_request_byte);
    int rc = zmq_send (self->socket, body, size, ZMQ_DONTWAIT);
    free (body);
    if (rc != -1)
        self->sent++;
    return rc;
}

static void
s_client_receive (s_client_t *self, uint32_t index)
{
    sq_msg_t *reply = sq_msg_recv (self->socket, 0);
    if (!reply)
        return;
    uint32_t sequence = self->received++;
    if (reply->count != 1
    || !s_body_ok (reply->data [0], reply->size [0], index, sequence,
                   s_reply_size (index, sequence), s_reply_byte)) {
        if (self->errors++ == 0)
            fprintf (stderr, "client %u: reply %u is not its own\n", index, sequence);
    }
    sq_msg_destroy (&reply);
}

//  Drives every client until all got all replies or the bound passes;
//  returns the number of clients that finished
static int
s_drive_clients (s_client_t *clients)
{
    zmq_pollitem_t items [S_CLIENTS];
    int64_t deadline = sq_now_ms () + 3 * SQ_WAIT_MS;
    int finished = 0;
    while (finished < S_CLIENTS && sq_now_ms () < deadline) {
        for (int index = 0; index < S_CLIENTS; index++) {
            s_client_t *client = &clients [index];
            bool can_send = client->sent < S_MESSAGES
                         && client->sent - client->received < S_WINDOW;
            items [index] = (zmq_pollitem_t) {
                client->socket, 0, (short) (ZMQ_POLLIN | (can_send? ZMQ_POLLOUT: 0)), 0
            };
        }
        if (zmq_poll (items, S_CLIENTS, 100) <= 0)
            continue;
        finished = 0;
        for (int index = 0; index < S_CLIENTS; index++) {
            if (items [index].revents & ZMQ_POLLIN)
                s_client_receive (&clients [index], index);
            if (items [index].revents & ZMQ_POLLOUT)
                s_client_send (&clients [index], index);
            finished += clients [index].received == S_MESSAGES;
        }
    }
    return finished;
}

//  Checks LIST: 2 * S_CLIENTS entries, all paired, links symmetric
static void
s_check_list (sq_proxy_t *proxy)
{
    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK (list && sq_json_valid (list));
    int count = sq_json_count (list, "");
    SQ_CHECK_EQ (count, 2 * S_CLIENTS);
    long long *ids = calloc (count, sizeof (long long));
    long long *partners = calloc (count, sizeof (long long));
    for (int entry = 0; entry < count; entry++) {
        char path [32];
        snprintf (path, sizeof path, "%d.id", entry);
        SQ_CHECK (sq_json_number (list, path, &ids [entry]));
        snprintf (path, sizeof path, "%d.paired_with", entry);
        SQ_CHECK (sq_json_number (list, path, &partners [entry]));
    }
    //  Every entry's partner names it back
    for (int entry = 0; entry < count; entry++) {
        int back = 0;
        for (int other = 0; other < count; other++)
            if (ids [other] == partners [entry] && partners [other] == ids [entry])
                back++;
        SQ_CHECK_MSG (back == 1, "connection %lld: partner %lld does not point back",
                      ids [entry], partners [entry]);
    }
    free (ids);
    free (partners);
    free (list);
}

static void
test_fifty_pairs (void)
{
    const char *args [] = { "--queue-timeout", "60000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_concurrency", args);
    SQ_CHECK (proxy);
    s_worker_state_t *states = calloc (S_WORKERS, sizeof (s_worker_state_t));
    sq_worker_t *workers [S_WORKERS];
    for (int index = 0; index < S_WORKERS; index++) {
        sq_worker_config_t config = {
            .type = ZMQ_ROUTER, .connections = S_SLOTS,
            .handler = s_worker_handler, .handler_arg = &states [index]
        };
        workers [index] = sq_worker_new (proxy->backend, &config);
        SQ_CHECK (workers [index]);
    }
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", S_CLIENTS, SQ_WAIT_MS));

    void *ctx = zmq_ctx_new ();
    s_client_t clients [S_CLIENTS];
    memset (clients, 0, sizeof clients);
    for (int index = 0; index < S_CLIENTS; index++) {
        clients [index].socket = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
        SQ_CHECK (clients [index].socket);
    }
    int finished = s_drive_clients (clients);
    SQ_CHECK_MSG (finished == S_CLIENTS, "only %d of %d clients got all replies",
                  finished, S_CLIENTS);
    for (int index = 0; index < S_CLIENTS; index++)
        SQ_CHECK_MSG (clients [index].errors == 0, "client %d got foreign bytes", index);

    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", S_CLIENTS, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.total", S_CLIENTS, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 0, SQ_WAIT_MS));
    s_check_list (proxy);

    //  Clients leave: every slot is closed and dialled again, idle
    for (int index = 0; index < S_CLIENTS; index++)
        zmq_close (clients [index].socket);
    zmq_ctx_term (ctx);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "frontend.connections", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", S_CLIENTS, SQ_WAIT_MS));

    //  Each client was served on exactly one worker connection, fully
    long handled = 0;
    int served [S_CLIENTS] = { 0 };
    for (int index = 0; index < S_WORKERS; index++) {
        handled += sq_worker_handled (workers [index]);
        sq_worker_destroy (&workers [index]);
        SQ_CHECK_MSG (states [index].errors == 0, "worker %d: %d errors, first: %s",
                      index, states [index].errors, states [index].first_error);
        for (int route = 0; route < states [index].route_count; route++) {
            s_route_t *entry = &states [index].routes [route];
            SQ_CHECK (entry->index < S_CLIENTS);
            SQ_CHECK_EQ (entry->next_sequence, S_MESSAGES);
            served [entry->index]++;
        }
    }
    SQ_CHECK_EQ (handled, (long) S_CLIENTS * S_MESSAGES);
    for (int index = 0; index < S_CLIENTS; index++)
        SQ_CHECK_MSG (served [index] == 1, "client %d served on %d connections",
                      index, served [index]);
    free (states);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_fifty_pairs);
    return sq_test_summary ();
}
