/*  =========================================================================
    test_flood - 2 000 connections that never send a greeting

    Raw TCP peers connect to both sides of the proxy and then say nothing.
    Each one must be closed once --greeting-timeout has passed (it sees
    EOF, and STATS counts it in closed.greeting), while a real libzmq
    client and worker pair answers request after request before, during
    and after the flood, each reply checked, and a client that arrives
    after the flood is still paired with a real worker.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

SQ_TEST_DEFINE

#define S_FRONTEND_FLOOD  1000      //  Silent connections on each side
#define S_BACKEND_FLOOD   1000
#define S_FLOOD           (S_FRONTEND_FLOOD + S_BACKEND_FLOOD)
#define S_BATCH           100       //  Connections opened between two requests

//  One descriptor per silent connection, plus libzmq's own: take the hard
//  limit, as a soft limit of 1024 would stop the flood half-way
static void
s_raise_file_limit (void)
{
    struct rlimit limit;
    SQ_CHECK (getrlimit (RLIMIT_NOFILE, &limit) == 0);
    limit.rlim_cur = limit.rlim_max;
    setrlimit (RLIMIT_NOFILE, &limit);
    SQ_CHECK (getrlimit (RLIMIT_NOFILE, &limit) == 0);
    SQ_CHECK_MSG (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= S_FLOOD + 200,
                  "open-file limit %llu, the flood needs about %d",
                  (unsigned long long) limit.rlim_cur, S_FLOOD + 200);
}

//  ---------------------------------------------------------------------
//  The real pair, and the requests that go through it

typedef struct {
    void *ctx;
    void *client;               //  A DEALER on the frontend
    long sequence;              //  Of the last request
} s_client_t;

static void
s_client_open (s_client_t *self, const char *frontend)
{
    self->ctx = zmq_ctx_new ();
    self->client = sq_peer_new (self->ctx, ZMQ_DEALER, NULL, frontend);
    self->sequence = 0;
    SQ_CHECK (self->client);
}

static void
s_client_close (s_client_t *self)
{
    if (self->client)
        zmq_close (self->client);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    self->client = self->ctx = NULL;
}

//  Sends one numbered request and checks the echo is exactly that request
static void
s_request (s_client_t *self, const char *when)
{
    char text [96];
    snprintf (text, sizeof text, "%s request %ld", when, ++self->sequence);
    SQ_CHECK_EQ (sq_send_str (self->client, text), 0);
    char *reply = sq_recv_str (self->client, SQ_WAIT_MS);
    bool same = reply && strcmp (reply, text) == 0;
    SQ_CHECK_MSG (same, "'%s' got '%s'", text, reply? reply: "(nothing)");
    free (reply);
}

//  ---------------------------------------------------------------------
//  The flood

//  Opens `count` silent connections to endpoint into fds, a batch at a
//  time; between batches the pair answers a request, and the proxy has
//  accepted the batch (so the listen backlog never overflows)
static void
s_flood (sq_proxy_t *proxy, s_client_t *client, bool frontend, int *fds, int count,
         long long accepted_before)
{
    const char *endpoint = frontend? proxy->frontend: proxy->backend;
    const char *accepted = frontend? "frontend.accepted": "backend.accepted";
    for (int index = 0; index < count; index++) {
        fds [index] = sq_tcp_connect (endpoint);
        SQ_CHECK_MSG (fds [index] >= 0, "connection %d of the flood: %s", index,
                      strerror (errno));
        if ((index + 1) % S_BATCH == 0 || index + 1 == count) {
            s_request (client, "during");
            SQ_CHECK (sq_stats_wait_min (proxy->control, accepted,
                                         accepted_before + index + 1, SQ_WAIT_MS));
        }
    }
}

//  Keeps the pair busy until the proxy has closed every silent connection
static void
s_wait_flood_closed (sq_proxy_t *proxy, s_client_t *client)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long closed = -1;
    while (sq_now_ms () < deadline) {
        s_request (client, "during");
        SQ_CHECK (sq_stats (proxy->control, "closed.greeting", &closed));
        if (closed >= S_FLOOD)
            break;
        sq_sleep_ms (50);
    }
    SQ_CHECK_MSG (closed == S_FLOOD, "closed.greeting %lld, expected %d", closed, S_FLOOD);
}

//  Each silent connection got the proxy's 11 greeting bytes, then EOF
static void
s_check_eof (int *fds, int count)
{
    for (int index = 0; index < count; index++) {
        SQ_CHECK_MSG (sq_tcp_wait_closed (fds [index], SQ_WAIT_MS),
                      "silent connection %d still open", index);
        close (fds [index]);
        fds [index] = -1;
    }
}

static void
s_check_stat (sq_proxy_t *proxy, const char *path, long long expected)
{
    long long value = -1;
    SQ_CHECK_MSG (sq_stats (proxy->control, path, &value), "no %s in STATS", path);
    SQ_CHECK_MSG (value == expected, "%s is %lld, expected %lld", path, value, expected);
}

static void
test_silent_flood (void)
{
    s_raise_file_limit ();
    const char *args [] = { "--greeting-timeout", "2000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_flood", args);
    SQ_CHECK (proxy);
    //  Two slots: one for the pair, one for the client after the flood
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_ROUTER, 2);
    SQ_CHECK (worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));
    s_client_t client;
    s_client_open (&client, proxy->frontend);
    for (int round = 0; round < 10; round++)
        s_request (&client, "before");

    int *fds = malloc (S_FLOOD * sizeof (int));
    s_flood (proxy, &client, true, fds, S_FRONTEND_FLOOD, 1);
    s_flood (proxy, &client, false, fds + S_FRONTEND_FLOOD, S_BACKEND_FLOOD, 2);
    s_wait_flood_closed (proxy, &client);
    s_check_eof (fds, S_FLOOD);
    free (fds);
    for (int round = 0; round < 10; round++)
        s_request (&client, "after");

    //  Only the real peers are left, and nothing was paired with a silent one
    s_check_stat (proxy, "rejected.greeting", S_FLOOD);
    s_check_stat (proxy, "frontend.accepted", S_FRONTEND_FLOOD + 1);
    s_check_stat (proxy, "backend.accepted", S_BACKEND_FLOOD + 2);
    s_check_stat (proxy, "frontend.connections", 1);
    s_check_stat (proxy, "backend.connections", 2);
    s_check_stat (proxy, "pairs.active", 1);
    s_check_stat (proxy, "workers.idle", 1);

    //  A new client still finds the worker's free slot
    s_client_t late;
    s_client_open (&late, proxy->frontend);
    for (int round = 0; round < 10; round++)
        s_request (&late, "late");
    s_check_stat (proxy, "pairs.total", 2);
    s_client_close (&late);
    s_client_close (&client);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_silent_flood);
    return sq_test_summary ();
}
