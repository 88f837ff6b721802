/*  =========================================================================
    test_routing - names, sticky routes, balancing, drain and the route file,
    with real libzmq peers through a running proxy

    Every peer runs on this host, so each one that needs its own name
    connects from its own loopback address (libzmq's "tcp://SRC:0;DST"
    syntax; Linux routes all of 127/8 to lo) and an ALIAS names that
    address. Each worker answers with its own name, so a client knows which
    worker served it; LIST and WORKERS confirm it from the proxy's side.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

SQ_TEST_DEFINE

#define S_W1_IP     "127.0.0.2"     //  Worker W1
#define S_W2_IP     "127.0.0.3"     //  Worker W2
#define S_C_IP      "127.0.0.4"     //  Client C
#define S_P1_IP     "127.0.0.5"     //  Clients that set up load on W1
#define S_P2_IP     "127.0.0.6"     //  ... and on W2
#define S_LOCAL_IP  "127.0.0.1"     //  Unnamed clients: their name is this IP
#define S_QUIET_MS  1000            //  "Still waiting" is watched this long

//  ---------------------------------------------------------------------
//  Control requests

//  Sends the NULL-terminated frames; the reply must be "OK"
static void
s_ok (sq_proxy_t *proxy, const char *first, ...)
{
    const char *frames [32] = { first };
    size_t count = 1;
    va_list args;
    va_start (args, first);
    const char *frame;
    while ((frame = va_arg (args, const char *)) && count < 31)
        frames [count++] = frame;
    va_end (args);
    frames [count] = NULL;
    char **reply = sq_control (proxy->control, frames, SQ_WAIT_MS);
    bool ok = reply && reply [0] && strcmp (reply [0], "OK") == 0;
    if (!ok)
        fprintf (stderr, "%s: reply %s %s\n", first, reply && reply [0]? reply [0]: "(none)",
                 reply && reply [0] && reply [1]? reply [1]: "");
    sq_strv_destroy (&reply);
    SQ_CHECK_MSG (ok, "%s %s was refused", first, frames [1]? frames [1]: "");
}

//  A one-frame JSON report (STATS, LIST, WORKERS, CLIENTS, ROUTES); caller frees
static char *
s_report (sq_proxy_t *proxy, const char *command)
{
    char *json = sq_control_str (proxy->control, command);
    SQ_CHECK_MSG (json && sq_json_valid (json), "%s: no valid JSON", command);
    return json;
}

//  Index of the element of the array at path whose string field equals
//  value, or -1
static int
s_find (const char *json, const char *path, const char *field, const char *value)
{
    int count = sq_json_count (json, path);
    for (int index = 0; index < count; index++) {
        char member [128], text [256];
        snprintf (member, sizeof member, "%s%s%d.%s", path, *path? ".": "", index, field);
        if (sq_json_string (json, member, text, sizeof text) && strcmp (text, value) == 0)
            return index;
    }
    return -1;
}

//  Reads a number of the WORKERS entry of a worker; fails if absent
static long long
s_worker_number (sq_proxy_t *proxy, const char *worker, const char *field)
{
    char *json = s_report (proxy, "WORKERS");
    int index = s_find (json, "", "name", worker);
    char path [64];
    snprintf (path, sizeof path, "%d.%s", index, field);
    long long value = -1;
    bool found = index >= 0 && sq_json_number (json, path, &value);
    if (!found)
        fprintf (stderr, "WORKERS: %s\n", json);
    free (json);
    SQ_CHECK_MSG (found, "WORKERS has no %s for %s", field, worker);
    return value;
}

//  Copies the string field of the WORKERS entry of a worker into buf
static void
s_worker_string (sq_proxy_t *proxy, const char *worker, const char *field,
                 char *buf, size_t size)
{
    char *json = s_report (proxy, "WORKERS");
    int index = s_find (json, "", "name", worker);
    char path [64];
    snprintf (path, sizeof path, "%d.%s", index, field);
    bool found = index >= 0 && sq_json_string (json, path, buf, size);
    if (!found)
        fprintf (stderr, "WORKERS: %s\n", json);
    free (json);
    SQ_CHECK_MSG (found, "WORKERS has no %s for %s", field, worker);
}

//  The reported load of a worker: true with the value, false when null
static bool
s_worker_load (sq_proxy_t *proxy, const char *worker, double *load)
{
    char *json = s_report (proxy, "WORKERS");
    int index = s_find (json, "", "name", worker);
    char path [64];
    snprintf (path, sizeof path, "%d.load", index);
    const char *value = index >= 0? sq_json_find (json, path): NULL;
    bool is_null = value && strncmp (value, "null", 4) == 0;
    if (value && !is_null)
        *load = strtod (value, NULL);
    free (json);
    SQ_CHECK_MSG (value, "WORKERS has no load for %s", worker);
    return !is_null;
}

//  Waits until a worker holds exactly `slots` idle connections
static void
s_wait_idle (sq_proxy_t *proxy, const char *worker, int slots)
{
    char path [96];
    snprintf (path, sizeof path, "workers.by_name.%s.idle", worker);
    SQ_CHECK_MSG (sq_stats_wait (proxy->control, path, slots, SQ_WAIT_MS),
                  "%s does not offer %d idle slots", worker, slots);
}

//  Copies into buf the worker name of the backend connection paired with
//  the paired frontend connection named `client`; false if there is none
static bool
s_partner_worker (sq_proxy_t *proxy, const char *client, char *buf, size_t size)
{
    char *list = s_report (proxy, "LIST");
    int count = sq_json_count (list, "");
    long long partner = -1;
    for (int index = 0; index < count && partner < 0; index++) {
        char path [64], side [32], name [96], state [32];
        snprintf (path, sizeof path, "%d.side", index);
        sq_json_string (list, path, side, sizeof side);
        snprintf (path, sizeof path, "%d.name", index);
        sq_json_string (list, path, name, sizeof name);
        snprintf (path, sizeof path, "%d.state", index);
        sq_json_string (list, path, state, sizeof state);
        snprintf (path, sizeof path, "%d.paired_with", index);
        if (strcmp (side, "frontend") == 0 && strcmp (name, client) == 0
        &&  strcmp (state, "paired") == 0)
            sq_json_number (list, path, &partner);
    }
    bool found = false;
    for (int index = 0; index < count && partner >= 0 && !found; index++) {
        char path [64];
        long long id = -1;
        snprintf (path, sizeof path, "%d.id", index);
        if (sq_json_number (list, path, &id) && id == partner) {
            snprintf (path, sizeof path, "%d.worker", index);
            found = sq_json_string (list, path, buf, size);
        }
    }
    if (!found)
        fprintf (stderr, "LIST: %s\n", list);
    free (list);
    return found;
}

//  Index in LIST of the connection with this side and address, or -1;
//  the caller frees *list_p
static int
s_list_conn (sq_proxy_t *proxy, const char *side, const char *address, char **list_p)
{
    char *list = s_report (proxy, "LIST");
    int count = sq_json_count (list, "");
    int found = -1;
    for (int index = 0; index < count && found < 0; index++) {
        char path [64], text [96];
        snprintf (path, sizeof path, "%d.side", index);
        if (!sq_json_string (list, path, text, sizeof text) || strcmp (text, side) != 0)
            continue;
        snprintf (path, sizeof path, "%d.address", index);
        if (sq_json_string (list, path, text, sizeof text) && strcmp (text, address) == 0)
            found = index;
    }
    *list_p = list;
    return found;
}

//  Copies a string field of the LIST entry for (side, address) into buf
static bool
s_conn_string (sq_proxy_t *proxy, const char *side, const char *address,
               const char *field, char *buf, size_t size)
{
    char *list;
    int index = s_list_conn (proxy, side, address, &list);
    char path [64];
    snprintf (path, sizeof path, "%d.%s", index, field);
    bool found = index >= 0 && sq_json_string (list, path, buf, size);
    free (list);
    return found;
}

//  Waits until the LIST entry for (side, address) has field == value
static bool
s_conn_wait (sq_proxy_t *proxy, const char *side, const char *address,
             const char *field, const char *value)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char text [96] = "";
    while (sq_now_ms () < deadline) {
        if (s_conn_string (proxy, side, address, field, text, sizeof text)
        &&  strcmp (text, value) == 0)
            return true;
        sq_sleep_ms (20);
    }
    fprintf (stderr, "%s %s: %s is '%s', not '%s'\n", side, address, field, text, value);
    return false;
}

//  Polls a STATS number until it stays at value for S_QUIET_MS
static void
s_stays (sq_proxy_t *proxy, const char *path, long long value)
{
    int64_t until = sq_now_ms () + S_QUIET_MS;
    while (sq_now_ms () < until) {
        long long current = -1;
        SQ_CHECK (sq_stats (proxy->control, path, &current));
        SQ_CHECK_MSG (current == value, "%s became %lld, expected it to stay %lld",
                      path, current, value);
        sq_sleep_ms (50);
    }
}

//  ---------------------------------------------------------------------
//  The proxy log

//  Copies into buf the last log line holding both needles; false if none
static bool
s_log_line (sq_proxy_t *proxy, const char *needle, const char *other, char *buf, size_t size)
{
    char *log = sq_file_read (proxy->log_path);
    bool found = false;
    for (char *line = log; line && *line; ) {
        char *end = strchr (line, '\n');
        size_t length = end? (size_t) (end - line): strlen (line);
        char text [1024];
        snprintf (text, sizeof text, "%.*s", (int) length, line);
        if (strstr (text, needle) && (!other || strstr (text, other))) {
            snprintf (buf, size, "%s", text);
            found = true;
        }
        line = end? end + 1: NULL;
    }
    free (log);
    return found;
}

//  Waits until the log holds a line with the needle
static bool
s_log_wait (sq_proxy_t *proxy, const char *needle)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char line [1024];
    while (sq_now_ms () < deadline) {
        if (s_log_line (proxy, needle, NULL, line, sizeof line))
            return true;
        sq_sleep_ms (20);
    }
    return false;
}

//  ---------------------------------------------------------------------
//  Workers that answer with their own name, clients that ask

//  The reply to a request is "<worker name>|<last frame of the request>",
//  behind the routing id when the worker is a ROUTER
static sq_msg_t *
s_name_handler (sq_msg_t *request, void *arg)
{
    return sq_name_reply (request, arg);
}

//  A ROUTER worker named `name` (a string that outlives it) holding
//  `slots` connections made from source_ip
static sq_worker_t *
s_worker_new (sq_proxy_t *proxy, const char *source_ip, const char *name, int slots)
{
    char endpoint [300];
    SQ_CHECK (sq_endpoint_from (proxy->backend, source_ip, 0, endpoint, sizeof endpoint));
    sq_worker_config_t config = {
        .type = ZMQ_ROUTER, .connections = slots,
        .handler = s_name_handler, .handler_arg = (void *) name
    };
    sq_worker_t *worker = sq_worker_new (endpoint, &config);
    SQ_CHECK_MSG (worker, "cannot start worker %s", name);
    return worker;
}

//  A DEALER client connected from source_ip (NULL: the default 127.0.0.1)
//  and source_port (0: any)
static void *
s_client_new (void *ctx, sq_proxy_t *proxy, const char *source_ip, int source_port)
{
    char endpoint [300];
    SQ_CHECK (sq_endpoint_from (proxy->frontend, source_ip? source_ip: S_LOCAL_IP,
                                source_port, endpoint, sizeof endpoint));
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, endpoint);
    SQ_CHECK_MSG (client, "cannot connect a client to %s", endpoint);
    return client;
}

//  One session of client C from S_C_IP: connect, one request, close. The
//  answer, and LIST (the worker of the paired backend connection), must
//  both name `expected`.
static void
s_session (sq_proxy_t *proxy, void *ctx, const char *text, const char *expected)
{
    void *client = s_client_new (ctx, proxy, S_C_IP, 0);
    SQ_CHECK (sq_ask_expect (client, text, expected));
    char worker [96];
    SQ_CHECK_MSG (s_partner_worker (proxy, "C", worker, sizeof worker),
                  "LIST shows no paired connection named C");
    SQ_CHECK_STR (worker, expected);
    zmq_close (client);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
}

//  ---------------------------------------------------------------------
//  1. A sticky route with its fallback

static void
test_sticky_route (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", NULL);
    SQ_CHECK (proxy);
    s_ok (proxy, "ALIAS", "backend", S_W1_IP, "W1", NULL);
    s_ok (proxy, "ALIAS", "backend", S_W2_IP, "W2", NULL);
    s_ok (proxy, "ALIAS", "frontend", S_C_IP, "C", NULL);
    s_ok (proxy, "ROUTE", "C", "W2", "W1", NULL);
    sq_worker_t *w1 = s_worker_new (proxy, S_W1_IP, "W1", 3);
    sq_worker_t *w2 = s_worker_new (proxy, S_W2_IP, "W2", 3);
    s_wait_idle (proxy, "W1", 3);
    s_wait_idle (proxy, "W2", 3);
    void *ctx = zmq_ctx_new ();

    //  Every connection of C goes to W2, the head of its route
    const char *texts [] = { "first", "second", "third" };
    for (int round = 0; round < 3; round++) {
        s_session (proxy, ctx, texts [round], "W2");
        s_wait_idle (proxy, "W2", 3);       //  The slot redialled
    }
    long long used = -1;
    SQ_CHECK (sq_stats (proxy->control, "workers.by_name.W1.active", &used));
    SQ_CHECK_EQ (used, 0);

    //  W2 gone: C waits for it (queued), then takes W1, its fallback
    sq_worker_destroy (&w2);
    SQ_CHECK (sq_stats_wait (proxy->control, "backend.connections", 3, SQ_WAIT_MS));
    for (int round = 0; round < 2; round++) {
        s_session (proxy, ctx, round? "fallback 2": "fallback 1", "W1");
        s_wait_idle (proxy, "W1", 3);
    }
    char line [1024];
    SQ_CHECK_MSG (s_log_line (proxy, "queued (C,", NULL, line, sizeof line),
                  "C never waited for W2");
    SQ_CHECK (s_log_line (proxy, "paired with", "worker W1", line, sizeof line));
    const char *waited = strstr (line, "waited ");
    SQ_CHECK_MSG (waited && atoi (waited + 7) >= 500,
                  "C took its fallback before --route-wait: %s", line);

    //  W2 back: C's next connection goes to W2 again
    w2 = s_worker_new (proxy, S_W2_IP, "W2", 3);
    s_wait_idle (proxy, "W2", 3);
    s_session (proxy, ctx, "back to W2", "W2");

    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    sq_worker_destroy (&w2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  --route-fallback wait: a client whose route is exhausted keeps waiting
//  for a worker of its route, and takes it when it comes
static void
test_route_fallback_wait (void)
{
    const char *args [] = {
        "--route-fallback", "wait", "--route-wait", "100", "--queue-timeout", "60000", NULL
    };
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", args);
    SQ_CHECK (proxy);
    s_ok (proxy, "ALIAS", "backend", S_W1_IP, "W1", NULL);
    s_ok (proxy, "ALIAS", "backend", S_W2_IP, "W2", NULL);
    s_ok (proxy, "ALIAS", "frontend", S_C_IP, "C", NULL);
    s_ok (proxy, "ROUTE", "C", "W2", NULL);
    sq_worker_t *w1 = s_worker_new (proxy, S_W1_IP, "W1", 2);
    s_wait_idle (proxy, "W1", 2);
    void *ctx = zmq_ctx_new ();
    void *client = s_client_new (ctx, proxy, S_C_IP, 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, SQ_WAIT_MS));
    s_stays (proxy, "pairs.active", 0);     //  10 route waits: W1 is never taken
    sq_worker_t *w2 = s_worker_new (proxy, S_W2_IP, "W2", 1);
    SQ_CHECK (sq_ask_expect (client, "waited for W2", "W2"));
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "active"), 0);

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    sq_worker_destroy (&w2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A worker connection that comes free goes to a waiting client whose route
//  names that worker, before clients that queued earlier without a route
static void
test_route_first_served (void)
{
    const char *args [] = { "--queue-timeout", "60000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", args);
    SQ_CHECK (proxy);
    s_ok (proxy, "ALIAS", "backend", S_W1_IP, "W1", NULL);
    s_ok (proxy, "ALIAS", "frontend", S_C_IP, "C", NULL);
    s_ok (proxy, "ROUTE", "C", "W1", NULL);
    sq_worker_t *w1 = s_worker_new (proxy, S_W1_IP, "W1", 1);
    s_wait_idle (proxy, "W1", 1);
    void *ctx = zmq_ctx_new ();
    void *holder = s_client_new (ctx, proxy, NULL, 0);
    SQ_CHECK (sq_ask_expect (holder, "holding the only slot", "W1"));
    void *early = s_client_new (ctx, proxy, NULL, 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, SQ_WAIT_MS));
    void *routed = s_client_new (ctx, proxy, S_C_IP, 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 2, SQ_WAIT_MS));

    //  The slot comes free: C takes it, though the other client came first
    zmq_close (holder);
    SQ_CHECK (sq_ask_expect (routed, "routed first", "W1"));
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, SQ_WAIT_MS));
    zmq_close (routed);
    SQ_CHECK (sq_ask_expect (early, "then the others", "W1"));

    zmq_close (early);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  2. Least loaded, with weights and reported load

static void
test_least_loaded (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", NULL);
    SQ_CHECK (proxy);
    s_ok (proxy, "ALIAS", "backend", S_W1_IP, "W1", NULL);
    s_ok (proxy, "ALIAS", "backend", S_W2_IP, "W2", NULL);
    //  Clients that put a known load on each worker, through routes
    s_ok (proxy, "ALIAS", "frontend", S_P1_IP, "P1", NULL);
    s_ok (proxy, "ALIAS", "frontend", S_P2_IP, "P2", NULL);
    s_ok (proxy, "ROUTE", "P1", "W1", NULL);
    s_ok (proxy, "ROUTE", "P2", "W2", NULL);
    sq_worker_t *w1 = s_worker_new (proxy, S_W1_IP, "W1", 5);
    sq_worker_t *w2 = s_worker_new (proxy, S_W2_IP, "W2", 4);
    s_wait_idle (proxy, "W1", 5);
    s_wait_idle (proxy, "W2", 4);
    void *ctx = zmq_ctx_new ();
    void *clients [7];
    size_t count = 0;
    for (int index = 0; index < 3; index++) {
        clients [count] = s_client_new (ctx, proxy, S_P1_IP, 0);
        SQ_CHECK (sq_ask_expect (clients [count++], "load W1", "W1"));
    }
    clients [count] = s_client_new (ctx, proxy, S_P2_IP, 0);
    SQ_CHECK (sq_ask_expect (clients [count++], "load W2", "W2"));
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "active"), 3);
    SQ_CHECK_EQ (s_worker_number (proxy, "W2", "active"), 1);
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "weight"), 1);
    double load = -1;
    SQ_CHECK_MSG (!s_worker_load (proxy, "W1", &load), "W1 has a load before any LOAD");

    //  3 pairs against 1: the next client (no route) goes to W2
    clients [count] = s_client_new (ctx, proxy, NULL, 0);
    SQ_CHECK (sq_ask_expect (clients [count++], "unrouted 1", "W2"));

    //  3/10 < 2/1: W1
    s_ok (proxy, "WEIGHT", "W1", "10", NULL);
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "weight"), 10);
    clients [count] = s_client_new (ctx, proxy, NULL, 0);
    SQ_CHECK (sq_ask_expect (clients [count++], "unrouted 2", "W1"));

    //  Reported loads: 1.0 x 5 slots / 10 > 0.0: W2
    s_ok (proxy, "LOAD", "W1", "1.0", NULL);
    s_ok (proxy, "LOAD", "W2", "0.0", NULL);
    SQ_CHECK (s_worker_load (proxy, "W1", &load));
    SQ_CHECK_MSG (load == 1.0, "W1 load %g", load);
    SQ_CHECK (s_worker_load (proxy, "W2", &load));
    SQ_CHECK_MSG (load == 0.0, "W2 load %g", load);
    clients [count] = s_client_new (ctx, proxy, NULL, 0);
    SQ_CHECK (sq_ask_expect (clients [count++], "unrouted 3", "W2"));

    char state [32];
    s_worker_string (proxy, "W1", "state", state, sizeof state);
    SQ_CHECK_STR (state, "active");
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "connections"), 5);
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "active"), 4);
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "idle"), 1);
    SQ_CHECK_EQ (s_worker_number (proxy, "W2", "active"), 3);
    SQ_CHECK_EQ (s_worker_number (proxy, "W2", "idle"), 1);
    SQ_CHECK_EQ (s_worker_number (proxy, "W2", "weight"), 1);

    //  Every pair still works
    for (size_t index = 0; index < count; index++) {
        char worker [96];
        SQ_CHECK (sq_ask (clients [index], "still there", worker, sizeof worker));
    }
    for (size_t index = 0; index < count; index++)
        zmq_close (clients [index]);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    sq_worker_destroy (&w2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  3. Drain

static void
test_drain (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", NULL);
    SQ_CHECK (proxy);
    s_ok (proxy, "ALIAS", "backend", S_W1_IP, "W1", NULL);
    s_ok (proxy, "ALIAS", "backend", S_W2_IP, "W2", NULL);
    s_ok (proxy, "ALIAS", "frontend", S_P1_IP, "P1", NULL);
    s_ok (proxy, "ROUTE", "P1", "W1", NULL);
    sq_worker_t *w1 = s_worker_new (proxy, S_W1_IP, "W1", 2);
    sq_worker_t *w2 = s_worker_new (proxy, S_W2_IP, "W2", 4);
    s_wait_idle (proxy, "W1", 2);
    s_wait_idle (proxy, "W2", 4);
    void *ctx = zmq_ctx_new ();
    void *pinned = s_client_new (ctx, proxy, S_P1_IP, 0);
    SQ_CHECK (sq_ask_expect (pinned, "before the drain", "W1"));

    s_ok (proxy, "DRAIN", "W1", NULL);
    char state [32];
    s_worker_string (proxy, "W1", "state", state, sizeof state);
    SQ_CHECK_STR (state, "draining");
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.draining", 1, SQ_WAIT_MS));
    //  W1 is the least loaded, yet new clients all go to W2
    void *clients [4];
    for (int index = 0; index < 3; index++) {
        clients [index] = s_client_new (ctx, proxy, NULL, 0);
        SQ_CHECK (sq_ask_expect (clients [index], "while W1 drains", "W2"));
        SQ_CHECK (sq_ask_expect (pinned, "W1 still serves its pair", "W1"));
    }
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "active"), 1);
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "idle"), 1);

    s_ok (proxy, "UNDRAIN", "W1", NULL);
    s_worker_string (proxy, "W1", "state", state, sizeof state);
    SQ_CHECK_STR (state, "active");
    clients [3] = s_client_new (ctx, proxy, NULL, 0);
    SQ_CHECK (sq_ask_expect (clients [3], "after the drain", "W1"));
    for (int index = 0; index < 4; index++)
        zmq_close (clients [index]);
    zmq_close (pinned);
    sq_worker_destroy (&w2);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "backend.connections", 2, SQ_WAIT_MS));
    s_wait_idle (proxy, "W1", 2);

    //  Only W1, drained: a client waits; UNDRAIN pairs it
    s_ok (proxy, "DRAIN", "W1", NULL);
    void *waiting = s_client_new (ctx, proxy, NULL, 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, SQ_WAIT_MS));
    s_stays (proxy, "pairs.active", 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, 0));
    s_ok (proxy, "UNDRAIN", "W1", NULL);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 0, 0));
    SQ_CHECK (sq_ask_expect (waiting, "undrained", "W1"));

    zmq_close (waiting);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  4. Registrations

//  Starts W1 and W2 (2 slots each) with reported loads that make the
//  balancer prefer W1, so a client that reaches W2 did so by its route
static void
s_two_workers (sq_proxy_t *proxy, sq_worker_t **w1_p, sq_worker_t **w2_p)
{
    s_ok (proxy, "ALIAS", "backend", S_W1_IP, "W1", NULL);
    s_ok (proxy, "ALIAS", "backend", S_W2_IP, "W2", NULL);
    s_ok (proxy, "LOAD", "W1", "0", NULL);
    s_ok (proxy, "LOAD", "W2", "1", NULL);
    *w1_p = s_worker_new (proxy, S_W1_IP, "W1", 2);
    *w2_p = s_worker_new (proxy, S_W2_IP, "W2", 2);
    s_wait_idle (proxy, "W1", 2);
    s_wait_idle (proxy, "W2", 2);
}

//  The local port of a client's connection, from its monitor
static int
s_connected_port (sq_monitor_t *monitor)
{
    int fd = -1;
    SQ_CHECK_MSG (sq_monitor_wait (monitor, ZMQ_EVENT_CONNECTED, SQ_WAIT_MS, &fd),
                  "the client did not connect");
    int port = sq_fd_local_port (fd);
    SQ_CHECK (port > 0);
    return port;
}

//  The CLIENTS entry of a name must show these counts
static void
s_check_client (sq_proxy_t *proxy, const char *name, long long paired, bool routed)
{
    char *json = s_report (proxy, "CLIENTS");
    int index = s_find (json, "", "name", name);
    char path [64];
    long long value = -1;
    snprintf (path, sizeof path, "%d.paired", index);
    bool ok = index >= 0 && sq_json_number (json, path, &value) && value == paired;
    snprintf (path, sizeof path, "%d.route", index);
    ok = ok && sq_json_is_null (json, path) == !routed;
    if (!ok)
        fprintf (stderr, "CLIENTS: %s\n", json);
    free (json);
    SQ_CHECK_MSG (ok, "CLIENTS does not show %s paired %lld %s a route", name, paired,
                  routed? "with": "without");
}

static void
test_register_before (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *w1, *w2;
    s_two_workers (proxy, &w1, &w2);
    s_ok (proxy, "ROUTE", "C", "W2", NULL);

    //  (a) Named before it connects, from a port chosen here: its route applies
    int port = sq_free_port (S_LOCAL_IP);
    SQ_CHECK (port > 0);
    char address [64], port_text [16];
    snprintf (port_text, sizeof port_text, "%d", port);
    snprintf (address, sizeof address, "%s:%d", S_LOCAL_IP, port);
    s_ok (proxy, "IDENTIFY", "frontend", address, "C", NULL);
    long long pending = -1;
    SQ_CHECK (sq_stats (proxy->control, "registrations.pending", &pending));
    SQ_CHECK_EQ (pending, 1);
    char *routes = s_report (proxy, "ROUTES");
    bool counted = sq_json_number (routes, "registrations", &pending) && pending == 1;
    free (routes);
    SQ_CHECK_MSG (counted, "ROUTES does not count the registration");

    void *ctx = zmq_ctx_new ();
    void *named = s_client_new (ctx, proxy, S_LOCAL_IP, port);
    SQ_CHECK (sq_ask_expect (named, "registered first", "W2"));
    char name [96];
    SQ_CHECK (s_conn_string (proxy, "frontend", address, "name", name, sizeof name));
    SQ_CHECK_STR (name, "C");
    SQ_CHECK (sq_stats_wait (proxy->control, "registrations.pending", 0, SQ_WAIT_MS));
    s_check_client (proxy, "C", 1, true);

    //  (d) Named D, which has no route: balanced as usual (W1, the idler)
    port = sq_free_port (S_LOCAL_IP);
    SQ_CHECK (port > 0 && port != atoi (port_text));
    snprintf (address, sizeof address, "%s:%d", S_LOCAL_IP, port);
    s_ok (proxy, "IDENTIFY", "frontend", address, "D", NULL);
    void *unrouted = s_client_new (ctx, proxy, S_LOCAL_IP, port);
    SQ_CHECK (sq_ask_expect (unrouted, "registered, no route", "W1"));
    SQ_CHECK (s_conn_string (proxy, "frontend", address, "name", name, sizeof name));
    SQ_CHECK_STR (name, "D");
    s_check_client (proxy, "D", 1, false);
    SQ_CHECK (sq_stats_wait (proxy->control, "registrations.pending", 0, SQ_WAIT_MS));

    zmq_close (named);
    zmq_close (unrouted);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    sq_worker_destroy (&w2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_register_after (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *w1, *w2;
    s_two_workers (proxy, &w1, &w2);
    s_ok (proxy, "ROUTE", "E", "W2", NULL);
    void *ctx = zmq_ctx_new ();

    //  Served at once under its default name (W1, as the balancer prefers)
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (client);
    sq_monitor_t *monitor = sq_monitor_new (ctx, client);
    SQ_CHECK (monitor);
    SQ_CHECK_EQ (zmq_connect (client, proxy->frontend), 0);
    char address [64], name [96];
    snprintf (address, sizeof address, "%s:%d", S_LOCAL_IP, s_connected_port (monitor));
    SQ_CHECK (sq_ask_expect (client, "unnamed", "W1"));
    SQ_CHECK (s_conn_string (proxy, "frontend", address, "name", name, sizeof name));
    SQ_CHECK_STR (name, S_LOCAL_IP);

    //  Named afterwards: LIST and CLIENTS show it; its pair goes on
    s_ok (proxy, "IDENTIFY", "frontend", address, "E", NULL);
    SQ_CHECK (s_conn_wait (proxy, "frontend", address, "name", "E"));
    s_check_client (proxy, "E", 1, true);
    SQ_CHECK (sq_ask_expect (client, "named E", "W1"));
    long long pending = -1;
    SQ_CHECK (sq_stats (proxy->control, "registrations.pending", &pending));
    SQ_CHECK_EQ (pending, 0);

    //  A worker connection renamed: it moves to a new worker
    char *list = s_report (proxy, "LIST");
    int count = sq_json_count (list, "");
    char slot [64] = "";
    for (int index = 0; index < count && !*slot; index++) {
        char path [64], text [96];
        snprintf (path, sizeof path, "%d.worker", index);
        bool of_w1 = sq_json_string (list, path, text, sizeof text) && strcmp (text, "W1") == 0;
        snprintf (path, sizeof path, "%d.state", index);
        if (of_w1 && sq_json_string (list, path, text, sizeof text)
        &&  strcmp (text, "idle") == 0) {
            snprintf (path, sizeof path, "%d.address", index);
            sq_json_string (list, path, slot, sizeof slot);
        }
    }
    free (list);
    SQ_CHECK_MSG (*slot, "W1 has no idle connection");
    s_ok (proxy, "IDENTIFY", "backend", slot, "W3", NULL);
    SQ_CHECK (s_conn_wait (proxy, "backend", slot, "worker", "W3"));
    SQ_CHECK_EQ (s_worker_number (proxy, "W3", "connections"), 1);
    SQ_CHECK_EQ (s_worker_number (proxy, "W3", "idle"), 1);
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "connections"), 1);
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "active"), 1);

    sq_monitor_destroy (&monitor);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    sq_worker_destroy (&w2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  With --identify-wait, a connection named after its greeting is routed
//  by that name from its first pairing
static void
test_register_wait (void)
{
    const char *args [] = { "--identify-wait", "2000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", args);
    SQ_CHECK (proxy);
    sq_worker_t *w1, *w2;
    s_two_workers (proxy, &w1, &w2);
    s_ok (proxy, "ROUTE", "E", "W2", NULL);
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (client);
    sq_monitor_t *monitor = sq_monitor_new (ctx, client);
    SQ_CHECK (monitor);
    SQ_CHECK_EQ (zmq_connect (client, proxy->frontend), 0);
    char address [64];
    snprintf (address, sizeof address, "%s:%d", S_LOCAL_IP, s_connected_port (monitor));
    SQ_CHECK (s_conn_wait (proxy, "frontend", address, "state", "naming"));
    s_ok (proxy, "IDENTIFY", "frontend", address, "E", NULL);
    SQ_CHECK (sq_ask_expect (client, "named while waiting", "W2"));
    SQ_CHECK (s_conn_wait (proxy, "frontend", address, "name", "E"));
    s_check_client (proxy, "E", 1, true);

    sq_monitor_destroy (&monitor);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    sq_worker_destroy (&w2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A registration whose connection never comes expires
static void
test_register_expires (void)
{
    const char *args [] = { "--identify-timeout", "300", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", args);
    SQ_CHECK (proxy);
    int port = sq_free_port (S_LOCAL_IP);
    SQ_CHECK (port > 0);
    char address [64];
    snprintf (address, sizeof address, "%s:%d", S_LOCAL_IP, port);
    s_ok (proxy, "IDENTIFY", "frontend", address, "Z", NULL);
    long long pending = -1;
    SQ_CHECK (sq_stats (proxy->control, "registrations.pending", &pending));
    SQ_CHECK_EQ (pending, 1);
    SQ_CHECK (sq_stats_wait (proxy->control, "registrations.pending", 0, SQ_WAIT_MS));
    char *routes = s_report (proxy, "ROUTES");
    bool none = sq_json_number (routes, "registrations", &pending) && pending == 0;
    free (routes);
    SQ_CHECK (none);

    //  The connection, when it comes at last, keeps its default name
    void *ctx = zmq_ctx_new ();
    void *client = s_client_new (ctx, proxy, S_LOCAL_IP, port);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, SQ_WAIT_MS));
    char name [96];
    SQ_CHECK (s_conn_string (proxy, "frontend", address, "name", name, sizeof name));
    SQ_CHECK_STR (name, S_LOCAL_IP);
    zmq_close (client);
    zmq_ctx_term (ctx);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Bytes a peer sends after its greeting while it waits for its name
//  (state "naming") must reach its partner, as before any pairing
static void
test_naming_keeps_early_bytes (void)
{
    const char *args [] = { "--identify-wait", "3000", "--queue-timeout", "60000", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", args);
    SQ_CHECK (proxy);
    //  A raw NULL client: greeting, then bytes while it is naming
    uint8_t greeting [64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0, 'N', 'U', 'L', 'L' };
    uint8_t buffer [128];
    int client = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (client >= 0);
    SQ_CHECK_EQ (sq_tcp_recv (client, buffer, 11, SQ_WAIT_MS), 11);
    SQ_CHECK_EQ (sq_tcp_send (client, greeting, sizeof greeting), 0);
    char address [64], bytes [32];
    snprintf (address, sizeof address, "%s:%d", S_LOCAL_IP, sq_fd_local_port (client));
    SQ_CHECK (s_conn_wait (proxy, "frontend", address, "state", "naming"));
    //  A pipelined READY (NULL, no metadata), sent before the client has
    //  seen any worker's greeting
    const uint8_t ready [8] = { 0x04, 6, 5, 'R', 'E', 'A', 'D', 'Y' };
    SQ_CHECK_EQ (sq_tcp_send (client, ready, sizeof ready), 0);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long bytes_in = 0;
    while (bytes_in < 72 && sq_now_ms () < deadline) {
        char *list;
        int index = s_list_conn (proxy, "frontend", address, &list);
        snprintf (bytes, sizeof bytes, "%d.bytes_in", index);
        sq_json_number (list, bytes, &bytes_in);
        free (list);
        sq_sleep_ms (20);
    }
    SQ_CHECK_EQ (bytes_in, 72);
    s_ok (proxy, "IDENTIFY", "frontend", address, "R", NULL);
    SQ_CHECK (sq_stats_wait (proxy->control, "clients.queued", 1, SQ_WAIT_MS));

    //  A raw worker, named at once: the client is given its greeting tail
    //  and screened on the READY it sent already; the worker gets the
    //  client's greeting tail (53 bytes) and then the 8 early bytes
    int worker = sq_tcp_connect (proxy->backend);
    SQ_CHECK (worker >= 0);
    SQ_CHECK_EQ (sq_tcp_recv (worker, buffer, 11, SQ_WAIT_MS), 11);
    snprintf (address, sizeof address, "%s:%d", S_LOCAL_IP, sq_fd_local_port (worker));
    SQ_CHECK (s_conn_wait (proxy, "backend", address, "state", "greeting"));
    s_ok (proxy, "IDENTIFY", "backend", address, "RW", NULL);
    SQ_CHECK_EQ (sq_tcp_send (worker, greeting, sizeof greeting), 0);
    size_t got = sq_tcp_recv (worker, buffer, 61, 5000);
    close (worker);
    close (client);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    SQ_CHECK_MSG (got == 61 && memcmp (buffer + 53, ready, sizeof ready) == 0,
                  "the worker got %zu of 61 bytes (53 greeting bytes + READY): the "
                  "proxy counted the 8 bytes sent while naming (bytes_in 72) but did "
                  "not deliver them", got);
}

//  ---------------------------------------------------------------------
//  5. The route file

static void
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    SQ_CHECK (file);
    fputs (text, file);
    SQ_CHECK_EQ (fclose (file), 0);
}

//  Waits until ROUTES shows `routes` routes; returns the reply (caller frees)
static char *
s_routes_wait (sq_proxy_t *proxy, int routes)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (true) {
        char *json = s_report (proxy, "ROUTES");
        if (sq_json_count (json, "routes") == routes)
            return json;
        if (sq_now_ms () >= deadline) {
            fprintf (stderr, "ROUTES: %s\n", json);
            free (json);
            SQ_CHECK_MSG (false, "ROUTES does not show %d routes", routes);
        }
        free (json);
        sq_sleep_ms (20);
    }
}

//  The route of a client in a ROUTES reply, as "w1 w2 ..."
static void
s_route_of (const char *json, const char *client, char *buf, size_t size)
{
    int index = s_find (json, "routes", "client", client);
    SQ_CHECK_MSG (index >= 0, "no route for %s in %s", client, json);
    char path [64];
    snprintf (path, sizeof path, "routes.%d.workers", index);
    int count = sq_json_count (json, path);
    *buf = 0;
    for (int worker = 0; worker < count; worker++) {
        char name [96];
        snprintf (path, sizeof path, "routes.%d.workers.%d", index, worker);
        SQ_CHECK (sq_json_string (json, path, name, sizeof name));
        size_t length = strlen (buf);
        snprintf (buf + length, size - length, "%s%s", length? " ": "", name);
    }
}

//  The address rule of (side, match) must name `name`
static void
s_check_alias (const char *json, const char *side, const char *match, const char *name)
{
    int count = sq_json_count (json, "aliases");
    for (int index = 0; index < count; index++) {
        char path [64], text [96];
        snprintf (path, sizeof path, "aliases.%d.side", index);
        if (!sq_json_string (json, path, text, sizeof text) || strcmp (text, side) != 0)
            continue;
        snprintf (path, sizeof path, "aliases.%d.match", index);
        if (!sq_json_string (json, path, text, sizeof text) || strcmp (text, match) != 0)
            continue;
        snprintf (path, sizeof path, "aliases.%d.name", index);
        SQ_CHECK (sq_json_string (json, path, text, sizeof text));
        SQ_CHECK_STR (text, name);
        return;
    }
    SQ_CHECK_MSG (false, "no %s rule for %s in %s", side, match, json);
}

static void
test_route_file (void)
{
    char path [512];
    snprintf (path, sizeof path, "%s/tests/routes-XXXXXX", sq_build_dir ());
    int fd = mkstemp (path);
    SQ_CHECK (fd >= 0);
    close (fd);
    s_write_file (path,
        "# routes, first version\n"
        "ALIAS backend " S_W1_IP " W1\n"
        "ALIAS frontend " S_C_IP "/32 C   # the client\n"
        "\n"
        "ROUTE C W1\n"
        "WEIGHT W1 3\n");
    const char *args [] = { "--routes", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", args);
    SQ_CHECK (proxy);
    char *json = s_routes_wait (proxy, 1);
    char route [256];
    s_route_of (json, "C", route, sizeof route);
    SQ_CHECK_STR (route, "W1");
    SQ_CHECK_EQ (sq_json_count (json, "aliases"), 2);
    s_check_alias (json, "backend", S_W1_IP, "W1");
    s_check_alias (json, "frontend", S_C_IP "/32", "C");
    free (json);
    char state [32];
    s_worker_string (proxy, "W1", "state", state, sizeof state);
    SQ_CHECK_STR (state, "offline");
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "weight"), 3);

    sq_worker_t *w1 = s_worker_new (proxy, S_W1_IP, "W1", 2);
    s_wait_idle (proxy, "W1", 2);
    void *ctx = zmq_ctx_new ();
    void *client = s_client_new (ctx, proxy, S_C_IP, 0);
    SQ_CHECK (sq_ask_expect (client, "before the reload", "W1"));

    //  A new file: new tables, and the live pair is not touched
    s_write_file (path,
        "ALIAS backend " S_W1_IP " W1\n"
        "ALIAS backend " S_W2_IP " W2\n"
        "ALIAS frontend " S_C_IP "/32 C\n"
        "ROUTE C W2 W1\n"
        "ROUTE X W1\n");
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    json = s_routes_wait (proxy, 2);
    s_route_of (json, "C", route, sizeof route);
    SQ_CHECK_STR (route, "W2 W1");
    s_route_of (json, "X", route, sizeof route);
    SQ_CHECK_STR (route, "W1");
    SQ_CHECK_EQ (sq_json_count (json, "aliases"), 3);
    s_check_alias (json, "backend", S_W2_IP, "W2");
    SQ_CHECK_EQ (s_worker_number (proxy, "W1", "weight"), 1);
    SQ_CHECK (sq_ask_expect (client, "after the reload", "W1"));
    long long total = -1;
    SQ_CHECK (sq_stats (proxy->control, "pairs.total", &total));
    SQ_CHECK_EQ (total, 1);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 1, 0));

    //  A bad file is refused with its line number; the tables stay
    s_write_file (path,
        "ALIAS backend 127.0.0.9 W9\n"
        "# a comment\n"
        "ROUTE onlyclient\n");
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    SQ_CHECK_MSG (s_log_wait (proxy, "refused: line 3"), "no 'refused: line 3' in the log");
    char *after = s_report (proxy, "ROUTES");
    SQ_CHECK_MSG (strcmp (after, json) == 0, "ROUTES changed: %s -> %s", json, after);
    free (after);
    free (json);
    SQ_CHECK (sq_ask_expect (client, "after the bad file", "W1"));

    //  At start-up a bad file stops the proxy with 2
    char binary [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    const char *argv [] = {
        binary, "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
        "--control", "tcp://127.0.0.1:*", "--routes", path, NULL
    };
    char *err = NULL;
    int code = sq_run (argv, SQ_WAIT_MS, NULL, &err);
    SQ_CHECK_MSG (code == 2, "exit code %d with a bad route file: %s", code, err);
    SQ_CHECK_MSG (err && strstr (err, "refused: line 3"), "stderr: %s", err);
    free (err);

    unlink (path);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&w1);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  6. Bad arguments

typedef struct {
    const char *frames [20];
    const char *reason;         //  Must appear in the reason
} s_bad_request_t;

static const s_bad_request_t s_bad_requests [] = {
    { { "IDENTIFY", "frontend", "127.0.0.1:4000" },         "IDENTIFY" },
    { { "IDENTIFY", "frontend", "127.0.0.1:4000", "C", "x" }, "IDENTIFY" },
    { { "IDENTIFY", "sideways", "127.0.0.1:4000", "C" },    "sideways" },
    { { "IDENTIFY", "frontend", "127.0.0.1", "C" },         "127.0.0.1" },
    { { "IDENTIFY", "frontend", "127.0.0.1:70000", "C" },   "127.0.0.1:70000" },
    { { "IDENTIFY", "backend", "300.1.2.3:80", "C" },       "300.1.2.3:80" },
    { { "IDENTIFY", "frontend", "127.0.0.1:4000", "two words" }, "two words" },
    { { "ALIAS", "backend", "10.0.0.0/8" },                 "ALIAS" },
    { { "ALIAS", "middle", "10.0.0.0/8", "W" },             "middle" },
    { { "ALIAS", "backend", "10.0.0.0/33", "W" },           "10.0.0.0/33" },
    { { "ALIAS", "backend", "10.0.0/8", "W" },              "10.0.0/8" },
    { { "ALIAS", "frontend", "not-an-ip", "W" },            "not-an-ip" },
    { { "ALIAS", "frontend", "::1/129", "W" },              "::1/129" },
    { { "UNALIAS", "backend" },                             "UNALIAS" },
    { { "UNALIAS", "sideways", "10.0.0.1" },                "sideways" },
    { { "UNALIAS", "backend", "10.9.9.9" },                 "10.9.9.9" },
    { { "ROUTE", "C" },                                     "ROUTE" },
    { { "ROUTE", "C", "W 1" },                              "W 1" },
    { { "ROUTE", "C", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l",
        "m", "n", "o", "p", "q" },                          "ROUTE" },
    { { "UNROUTE" },                                        "UNROUTE" },
    { { "UNROUTE", "nobody" },                              "nobody" },
    { { "DRAIN" },                                          "DRAIN" },
    { { "DRAIN", "W1", "W2" },                              "DRAIN" },
    { { "UNDRAIN" },                                        "UNDRAIN" },
    { { "WEIGHT", "W1" },                                   "WEIGHT" },
    { { "WEIGHT", "W1", "0" },                              "'0'" },
    { { "WEIGHT", "W1", "-3" },                             "-3" },
    { { "WEIGHT", "W1", "1000001" },                        "1000001" },
    { { "WEIGHT", "W1", "ten" },                            "ten" },
    { { "WEIGHT", "W1", "2.5" },                            "2.5" },
    { { "LOAD", "W1" },                                     "LOAD" },
    { { "LOAD", "W1", "2" },                                "'2'" },
    { { "LOAD", "W1", "-0.1" },                             "-0.1" },
    { { "LOAD", "W1", "nan" },                              "nan" },
    { { "LOAD", "W1", "half" },                             "half" },
    { { "LOAD", "W1", "0.5x" },                             "0.5x" },
};

static void
test_control_errors (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_routing", NULL);
    SQ_CHECK (proxy);
    size_t count = sizeof s_bad_requests / sizeof s_bad_requests [0];
    for (size_t index = 0; index < count; index++) {
        const s_bad_request_t *bad = &s_bad_requests [index];
        const char *frames [20];
        memcpy (frames, bad->frames, sizeof frames);
        char **reply = sq_control (proxy->control, frames, SQ_WAIT_MS);
        bool ok = reply && sq_strv_size (reply) == 2 && strcmp (reply [0], "ERROR") == 0
               && strstr (reply [1], bad->reason);
        if (!ok) {
            fprintf (stderr, "request:");
            for (size_t frame = 0; bad->frames [frame]; frame++)
                fprintf (stderr, " [%s]", bad->frames [frame]);
            fprintf (stderr, "\nreply:");
            for (size_t frame = 0; reply && reply [frame]; frame++)
                fprintf (stderr, " [%s]", reply [frame]);
            fprintf (stderr, "\n");
        }
        sq_strv_destroy (&reply);
        SQ_CHECK_MSG (ok, "%s: no ERROR naming '%s'", bad->frames [0], bad->reason);
    }
    //  Nothing was changed by the refused requests
    char *routes = s_report (proxy, "ROUTES");
    SQ_CHECK_MSG (sq_json_count (routes, "routes") == 0
               && sq_json_count (routes, "aliases") == 0, "ROUTES: %s", routes);
    free (routes);
    char *workers = s_report (proxy, "WORKERS");
    SQ_CHECK_MSG (sq_json_count (workers, "") == 0, "WORKERS: %s", workers);
    free (workers);
    long long pending = -1;
    SQ_CHECK (sq_stats (proxy->control, "registrations.pending", &pending));
    SQ_CHECK_EQ (pending, 0);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_sticky_route);
    SQ_RUN (test_route_fallback_wait);
    SQ_RUN (test_route_first_served);
    SQ_RUN (test_least_loaded);
    SQ_RUN (test_drain);
    SQ_RUN (test_register_before);
    SQ_RUN (test_register_after);
    SQ_RUN (test_register_wait);
    SQ_RUN (test_register_expires);
    SQ_RUN (test_naming_keeps_early_bytes);
    SQ_RUN (test_route_file);
    SQ_RUN (test_control_errors);
    return sq_test_summary ();
}
