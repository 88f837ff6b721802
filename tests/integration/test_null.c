/*  =========================================================================
    test_null - NULL-mechanism traffic through the proxy

    A libzmq DEALER client on the frontend talks to a libzmq DEALER worker
    on the backend: single frames, multipart, empty frames, a 4 MiB
    message, and a flood in both directions at once; then STATS and LIST
    describe the pair.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

SQ_TEST_DEFINE

typedef struct {
    sq_proxy_t *proxy;
    sq_worker_t *worker;        //  Echo worker, DEALER
    void *ctx;
    void *client;               //  DEALER on the frontend
} s_fixture_t;

//  A fresh proxy with one idle echo worker and one connected client
static void
s_setup (s_fixture_t *self)
{
    self->proxy = sq_proxy_start ("test_null", NULL);
    SQ_CHECK (self->proxy);
    self->worker = sq_echo_new (self->proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (self->worker);
    SQ_CHECK (sq_stats_wait (self->proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    self->ctx = zmq_ctx_new ();
    self->client = sq_peer_new (self->ctx, ZMQ_DEALER, NULL, self->proxy->frontend);
    SQ_CHECK (self->client);
}

static void
s_teardown (s_fixture_t *self)
{
    zmq_close (self->client);
    zmq_ctx_term (self->ctx);
    sq_worker_destroy (&self->worker);
    SQ_CHECK_EQ (sq_proxy_stop (&self->proxy), 0);
}

//  Sends msg from the client and checks the echo is identical; takes msg
static void
s_roundtrip (void *client, sq_msg_t *msg)
{
    SQ_CHECK_EQ (sq_msg_send (msg, client), 0);
    sq_msg_t *reply = sq_msg_recv (client, SQ_WAIT_MS);
    SQ_CHECK_MSG (reply, "no echo within %d ms", SQ_WAIT_MS);
    SQ_CHECK_EQ (reply->count, msg->count);
    SQ_CHECK (sq_msg_eq (reply, msg));
    sq_msg_destroy (&reply);
    sq_msg_destroy (&msg);
}

static void
test_single_frame (void)
{
    s_fixture_t fixture;
    s_setup (&fixture);
    sq_msg_t *msg = sq_msg_new ();
    sq_msg_addstr (msg, "Hello through the proxy");
    s_roundtrip (fixture.client, msg);
    //  And a second one over the same, now established, pair
    msg = sq_msg_new ();
    sq_msg_addstr (msg, "again");
    s_roundtrip (fixture.client, msg);
    SQ_CHECK_EQ (sq_worker_handled (fixture.worker), 2);
    s_teardown (&fixture);
}

static void
test_multipart (void)
{
    s_fixture_t fixture;
    s_setup (&fixture);
    sq_msg_t *msg = sq_msg_new ();
    const char *parts [] = { "one", "two", "three", "four", "five" };
    for (int index = 0; index < 5; index++)
        sq_msg_addstr (msg, parts [index]);
    s_roundtrip (fixture.client, msg);
    s_teardown (&fixture);
}

static void
test_empty_frames (void)
{
    s_fixture_t fixture;
    s_setup (&fixture);
    sq_msg_t *msg = sq_msg_new ();
    sq_msg_add (msg, NULL, 0);
    sq_msg_addstr (msg, "between");
    sq_msg_add (msg, NULL, 0);
    sq_msg_add (msg, NULL, 0);
    sq_msg_addstr (msg, "end");
    sq_msg_add (msg, NULL, 0);
    s_roundtrip (fixture.client, msg);
    //  A message made of one empty frame
    msg = sq_msg_new ();
    sq_msg_add (msg, NULL, 0);
    s_roundtrip (fixture.client, msg);
    s_teardown (&fixture);
}

static void
test_large_message (void)
{
    s_fixture_t fixture;
    s_setup (&fixture);
    size_t size = 4 * 1024 * 1024;
    uint8_t *data = malloc (size);
    uint32_t state = 12345;
    for (size_t index = 0; index < size; index++) {
        state = state * 1103515245 + 12345;
        data [index] = (uint8_t) (state >> 16);
    }
    sq_msg_t *msg = sq_msg_new ();
    sq_msg_add (msg, data, size);
    sq_msg_addstr (msg, "trailer");
    free (data);
    s_roundtrip (fixture.client, msg);
    s_teardown (&fixture);
}

//  Receives `count` messages "<prefix><n>:..." in order on socket
static void
s_receive_sequence (void *socket, const char *prefix, int count)
{
    for (int index = 0; index < count; index++) {
        char *text = sq_recv_str (socket, SQ_WAIT_MS);
        SQ_CHECK_MSG (text, "%s message %d of %d missing", prefix, index, count);
        char expected [32];
        snprintf (expected, sizeof expected, "%s%d:", prefix, index);
        SQ_CHECK_MSG (strncmp (text, expected, strlen (expected)) == 0,
                      "got '%.20s', expected '%s'", text, expected);
        SQ_CHECK_EQ (strlen (text), strlen (expected) + 100);
        free (text);
    }
}

static void
test_async_both_ways (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_null", NULL);
    SQ_CHECK (proxy);
    void *ctx = zmq_ctx_new ();
    void *worker = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->backend);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (worker && client);

    //  Establish the pair with one exchange
    SQ_CHECK_EQ (sq_send_str (client, "hello"), 0);
    char *text = sq_recv_str (worker, SQ_WAIT_MS);
    SQ_CHECK_STR (text, "hello");
    free (text);

    //  Both sides send everything before either reads anything
    int count = 1000;
    char body [200];
    for (int index = 0; index < count; index++) {
        snprintf (body, sizeof body, "c%d:%0100d", index, 0);
        SQ_CHECK_EQ (sq_send_str (client, body), 0);
        snprintf (body, sizeof body, "w%d:%0100d", index, 0);
        SQ_CHECK_EQ (sq_send_str (worker, body), 0);
    }
    s_receive_sequence (worker, "c", count);
    s_receive_sequence (client, "w", count);

    //  Nothing extra arrived on either side
    SQ_CHECK (sq_msg_recv (client, 100) == NULL);
    SQ_CHECK (sq_msg_recv (worker, 100) == NULL);
    zmq_close (client);
    zmq_close (worker);
    zmq_ctx_term (ctx);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Finds the LIST entry of the given side; returns its index
static int
s_list_side (const char *list, const char *side)
{
    int count = sq_json_count (list, "");
    for (int index = 0; index < count; index++) {
        char path [32], value [32];
        snprintf (path, sizeof path, "%d.side", index);
        if (sq_json_string (list, path, value, sizeof value) && strcmp (value, side) == 0)
            return index;
    }
    return -1;
}

//  Reads a number from LIST entry `entry`
static long long
s_list_number (const char *list, int entry, const char *field)
{
    char path [64];
    snprintf (path, sizeof path, "%d.%s", entry, field);
    long long value = -1;
    SQ_CHECK_MSG (sq_json_number (list, path, &value), "LIST has no number %s", path);
    return value;
}

//  Reads a string from LIST entry `entry` into buf
static void
s_list_string (const char *list, int entry, const char *field, char *buf, size_t size)
{
    char path [64];
    snprintf (path, sizeof path, "%d.%s", entry, field);
    SQ_CHECK_MSG (sq_json_string (list, path, buf, size), "LIST has no string %s", path);
}

//  Checks STATS of a proxy holding exactly one pair that moved `payload`
//  bytes each way
static void
s_check_stats (sq_proxy_t *proxy, long long payload)
{
    char *json = sq_control_str (proxy->control, "STATS");
    SQ_CHECK (json);
    SQ_CHECK_MSG (sq_json_valid (json), "STATS is not JSON: %s", json);
    struct { const char *path; long long value; } expect [] = {
        { "pairs.active", 1 }, { "pairs.total", 1 }, { "clients.queued", 0 },
        { "workers.idle", 0 }, { "workers.known", 1 },
        { "frontend.connections", 1 }, { "backend.connections", 1 },
        { "rejected.greeting", 0 }, { "rejected.queue", 0 },
        { "rejected.queue_full", 0 }, { "rejected.queue_timeout", 0 }
    };
    for (size_t index = 0; index < sizeof expect / sizeof expect [0]; index++) {
        long long value = -1;
        SQ_CHECK_MSG (sq_json_number (json, expect [index].path, &value),
                      "STATS lacks %s: %s", expect [index].path, json);
        SQ_CHECK_MSG (value == expect [index].value, "%s is %lld, expected %lld",
                      expect [index].path, value, expect [index].value);
    }
    long long to_backend = 0, to_frontend = 0, uptime = -1;
    bool paused = true;
    SQ_CHECK (sq_json_number (json, "bytes.to_backend", &to_backend));
    SQ_CHECK (sq_json_number (json, "bytes.to_frontend", &to_frontend));
    SQ_CHECK_MSG (to_backend >= payload && to_frontend >= payload,
                  "bytes %lld / %lld < payload %lld", to_backend, to_frontend, payload);
    SQ_CHECK (sq_json_bool (json, "paused", &paused) && !paused);
    SQ_CHECK (sq_json_number (json, "uptime_ms", &uptime) && uptime >= 0);
    free (json);
}

//  Checks one LIST entry: paired with `peer`, NULL, from 127.0.0.1
static void
s_check_entry (const char *list, int entry, int peer, long long payload)
{
    char text [64];
    s_list_string (list, entry, "mechanism", text, sizeof text);
    SQ_CHECK_STR (text, "NULL");
    s_list_string (list, entry, "state", text, sizeof text);
    SQ_CHECK_STR (text, "paired");
    SQ_CHECK_EQ (s_list_number (list, entry, "paired_with"), s_list_number (list, peer, "id"));
    SQ_CHECK (s_list_number (list, entry, "bytes_in") >= payload);
    SQ_CHECK (s_list_number (list, entry, "bytes_out") >= payload);
    s_list_string (list, entry, "address", text, sizeof text);
    SQ_CHECK_MSG (strncmp (text, "127.0.0.1:", 10) == 0, "address %s", text);
}

static void
test_stats_and_list (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_null", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    //  The monitor tells the client's local port, to find it in LIST
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    sq_monitor_t *monitor = sq_monitor_new (ctx, client);
    SQ_CHECK (monitor);
    SQ_CHECK_EQ (zmq_connect (client, proxy->frontend), 0);
    int fd = -1;
    SQ_CHECK (sq_monitor_wait (monitor, ZMQ_EVENT_CONNECTED, SQ_WAIT_MS, &fd));
    int client_port = sq_fd_local_port (fd);
    SQ_CHECK (client_port > 0);

    long long payload = 0;
    char body [1000];
    memset (body, 'p', sizeof body - 1);
    body [sizeof body - 1] = 0;
    for (int index = 0; index < 20; index++) {
        SQ_CHECK_EQ (sq_send_str (client, body), 0);
        char *echo = sq_recv_str (client, SQ_WAIT_MS);
        SQ_CHECK_STR (echo, body);
        free (echo);
        payload += strlen (body);
    }
    s_check_stats (proxy, payload);

    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK (list);
    SQ_CHECK_MSG (sq_json_valid (list), "LIST is not JSON: %s", list);
    SQ_CHECK_EQ (sq_json_count (list, ""), 2);
    int front = s_list_side (list, "frontend");
    int back = s_list_side (list, "backend");
    SQ_CHECK (front >= 0 && back >= 0);
    s_check_entry (list, front, back, payload);
    s_check_entry (list, back, front, payload);
    char text [64], expected [64];
    snprintf (expected, sizeof expected, "127.0.0.1:%d", client_port);
    s_list_string (list, front, "address", text, sizeof text);
    SQ_CHECK_STR (text, expected);
    s_list_string (list, back, "worker", text, sizeof text);
    SQ_CHECK_STR (text, "127.0.0.1");
    //  The single backend connection received all the proxy sent backward
    long long to_backend = -1;
    SQ_CHECK (sq_stats (proxy->control, "bytes.to_backend", &to_backend));
    SQ_CHECK_EQ (s_list_number (list, back, "bytes_out"), to_backend);
    free (list);

    sq_monitor_destroy (&monitor);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_single_frame);
    SQ_RUN (test_multipart);
    SQ_RUN (test_empty_frames);
    SQ_RUN (test_large_message);
    SQ_RUN (test_async_both_ways);
    SQ_RUN (test_stats_and_list);
    return sq_test_summary ();
}
