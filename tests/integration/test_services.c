/*  =========================================================================
    test_services - several services in one proxy

    A configuration file may declare services under "services", each with
    its own frontend and backend, worker pool, queue, routes, bans and
    counters. These tests start the real proxy with such files and drive
    real libzmq workers and clients (CURVE end to end) and raw TCP peers
    against it:

    - two services whose workers hold different CURVE keys: every client
      reaches the worker of its own service (the reply names the worker,
      its ZAP handler saw exactly its clients, no handshake fails), and
      STATS (services.<name>, the totals at the top), SERVICE <name>
      STATS, streamq-ctl --service, the metrics (service="<name>") and
      /readyz, /readyz/<name> all tell the services apart;
    - one service's full queue, or its PAUSE, leaves the other serving,
      its rejection counters at 0; PAUSE without SERVICE pauses them all;
      LIST tags each connection with its service;
    - top-level options are every service's defaults, a service's own
      replace them (an access list as a whole); a routes file is its
      service's; a change without SERVICE goes to every service, with it
      to that one;
    - SIGHUP adds a service and removes one with a live pair: the pair
      keeps echoing, byte for byte, until its client leaves; the removed
      service's endpoints stop accepting at once; the new one serves; a
      service kept takes its changed options; the removed one leaves
      STATS once its pair is over;
    - --check-config, and start-up, refuse a proxy-wide option under a
      service, a service without an endpoint, a bad or repeated name, two
      services on one frontend, with exit 2 and a message naming it; the
      services block of examples/streamq.cfg, uncommented, is valid;
    - without "services" the proxy runs one service, "default".

    The harness starts every proxy with --frontend, --backend and
    --control on the command line: the services' own endpoints, from the
    file, take the place of the first two. The endpoints are ports free
    when the test picks them.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"
#include "sq_prometheus_check.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

SQ_TEST_DEFINE

//  ---------------------------------------------------------------------
//  Files and ports

static char s_dir [512];        //  A directory of our own, for the files
static char s_files [32][600];  //  What we wrote there, removed at the end
static int s_file_count = 0;

//  Writes text to a file of that name in our directory; its path
static const char *
s_write (const char *name, const char *text)
{
    if (!*s_dir) {
        char stem [512];
        sq_build_path ("tests", stem, sizeof stem);
        mkdir (stem, 0755);
        snprintf (s_dir, sizeof s_dir, "%.480s/test_services-XXXXXX", stem);
        if (!mkdtemp (s_dir)) {
            *s_dir = 0;
            return NULL;
        }
    }
    char path [600];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *out = fopen (path, "w");
    if (!out)
        return NULL;
    fputs (text, out);
    fclose (out);
    for (int index = 0; index < s_file_count; index++)
        if (strcmp (s_files [index], path) == 0)
            return s_files [index];
    if (s_file_count == 32)
        return NULL;
    snprintf (s_files [s_file_count], sizeof s_files [0], "%s", path);
    return s_files [s_file_count++];
}

static void
s_remove_files (void)
{
    for (int index = 0; index < s_file_count; index++)
        unlink (s_files [index]);
    if (*s_dir)
        rmdir (s_dir);
}

//  Fills endpoints with count "tcp://127.0.0.1:PORT", on distinct ports
//  free right now
static void
s_endpoints (char endpoints [][64], int count)
{
    int ports [16];
    SQ_CHECK (count <= 16);
    for (int index = 0; index < count; index++) {
        bool fresh = false;
        for (int attempt = 0; attempt < 50 && !fresh; attempt++) {
            ports [index] = sq_free_port ("127.0.0.1");
            fresh = ports [index] > 0;
            for (int other = 0; fresh && other < index; other++)
                fresh = ports [other] != ports [index];
        }
        SQ_CHECK_MSG (fresh, "no free port");
        snprintf (endpoints [index], 64, "tcp://127.0.0.1:%d", ports [index]);
    }
}

//  ---------------------------------------------------------------------
//  Control and STATS

//  Sends the frames; the reply (free with sq_strv_destroy), which must come
static char **
s_control (sq_proxy_t *proxy, const char **frames)
{
    char **reply = sq_control (proxy->control, frames, SQ_WAIT_MS);
    SQ_CHECK_MSG (reply && reply [0], "no reply to %s %s", frames [0],
                  frames [1]? frames [1]: "");
    return reply;
}

//  Sends the frames and checks the proxy answers OK
static void
s_ok (sq_proxy_t *proxy, const char **frames)
{
    char **reply = s_control (proxy, frames);
    bool ok = strcmp (reply [0], "OK") == 0;
    char first [256];
    snprintf (first, sizeof first, "%s %s", reply [0], reply [1]? reply [1]: "");
    sq_strv_destroy (&reply);
    SQ_CHECK_MSG (ok, "%s %s %s: %s", frames [0], frames [1]? frames [1]: "",
                  frames [1] && frames [2]? frames [2]: "", first);
}

//  A JSON reply to a command of one service ("SERVICE <name> <command>"),
//  or of the proxy (service NULL); heap string, checked well formed
static char *
s_json (sq_proxy_t *proxy, const char *service, const char *command)
{
    const char *frames [] = { "SERVICE", service, command, NULL };
    char **reply = s_control (proxy, service? frames: frames + 2);
    char *json = strdup (reply [0]);
    bool valid = sq_json_valid (json);
    sq_strv_destroy (&reply);
    SQ_CHECK_MSG (valid, "%s%s%s: not JSON: %.200s", service? "SERVICE ": "",
                  service? service: "", command, json);
    return json;
}

//  One number of a reply, which must be there
static long long
s_number (const char *json, const char *path)
{
    long long value = -1;
    SQ_CHECK_MSG (sq_json_number (json, path, &value), "no %s in %.200s", path, json);
    return value;
}

//  What a STATS reply is tested for at a path
typedef bool (s_stats_test_fn) (const char *json, const char *path, bool want);

//  The member at path is there (want) or is not
static bool
s_present (const char *json, const char *path, bool want)
{
    return (sq_json_find (json, path) != NULL) == want;
}

//  The boolean at path is want
static bool
s_bool_is (const char *json, const char *path, bool want)
{
    bool current = !want;
    return sq_json_bool (json, path, &current) && current == want;
}

//  Polls STATS until test holds at path; false after SQ_WAIT_MS, said
//  with what was awaited
static bool
s_wait_stats_test (sq_proxy_t *proxy, const char *path, s_stats_test_fn *test, bool want,
                   const char *awaited)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (true) {
        char *json = sq_control_str (proxy->control, "STATS");
        bool holds = json && test (json, path, want);
        free (json);
        if (holds)
            return true;
        if (sq_now_ms () >= deadline)
            break;
        sq_sleep_ms (25);
    }
    fprintf (stderr, "STATS %s: not %s after %d ms\n", path, awaited, SQ_WAIT_MS);
    return false;
}

//  Polls STATS until path is there (present) or is not; false after
//  SQ_WAIT_MS
static bool
s_wait_present (sq_proxy_t *proxy, const char *path, bool present)
{
    return s_wait_stats_test (proxy, path, s_present, present, present? "there": "gone");
}

//  Polls STATS until the boolean at path is value; false after SQ_WAIT_MS
static bool
s_wait_bool (sq_proxy_t *proxy, const char *path, bool value)
{
    return s_wait_stats_test (proxy, path, s_bool_is, value, value? "true": "false");
}

//  Counts the entries of a JSON array reply by their "service"; every
//  entry must have one
static void
s_count_services (const char *json, int *billing, int *auth, int *other)
{
    int count = sq_json_count (json, "");
    SQ_CHECK_MSG (count >= 0, "not an array: %.200s", json);
    *billing = *auth = *other = 0;
    for (int index = 0; index < count; index++) {
        char path [32], service [80];
        snprintf (path, sizeof path, "%d.service", index);
        SQ_CHECK_MSG (sq_json_string (json, path, service, sizeof service),
                      "entry %d has no \"service\": %.300s", index, json);
        if (strcmp (service, "billing") == 0)
            (*billing)++;
        else
        if (strcmp (service, "auth") == 0)
            (*auth)++;
        else
            (*other)++;
    }
}

//  ---------------------------------------------------------------------
//  Workers and clients

//  Answers "<name>|<request>": the handler of a worker that names itself
static sq_msg_t *
s_named (sq_msg_t *request, void *arg)
{
    return sq_name_reply (request, (const char *) arg);
}

//  A ROUTER worker named name with slots connections to endpoint: a CURVE
//  server with the key pair server (and a ZAP handler that accepts any
//  client key), or NULL when server is NULL
static sq_worker_t *
s_worker (const char *endpoint, const char *name, const sq_keypair_t *server, int slots)
{
    sq_security_t security = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = server? server->public_key: NULL,
        .secret_key = server? server->secret_key: NULL
    };
    sq_zap_rule_t any_key = { .client_key = NULL };
    sq_worker_config_t config = {
        .type = ZMQ_ROUTER, .connections = slots,
        .security = server? &security: NULL, .zap = server? &any_key: NULL,
        .handler = s_named, .handler_arg = (void *) name
    };
    sq_worker_t *worker = sq_worker_new (endpoint, &config);
    SQ_CHECK_MSG (worker, "cannot start worker %s", name);
    return worker;
}

//  A DEALER client of endpoint: CURVE with a fresh key pair, trusting
//  server_key, or NULL when server_key is NULL
static void *
s_client (void *ctx, const char *endpoint, const char *server_key)
{
    sq_keypair_t own;
    sq_keypair_new (&own);
    sq_security_t security = {
        .mechanism = SQ_CURVE, .server_key = server_key,
        .public_key = own.public_key, .secret_key = own.secret_key
    };
    void *client = sq_peer_new (ctx, ZMQ_DEALER, server_key? &security: NULL, endpoint);
    SQ_CHECK_MSG (client, "cannot connect a client to %s", endpoint);
    return client;
}

//  A raw NULL client of endpoint that has greeted and waits for a worker
static int
s_queued_client (const char *endpoint)
{
    int fd = sq_tcp_connect (endpoint);
    SQ_CHECK (fd >= 0);
    SQ_CHECK (sq_zmtp_expect_prefix (fd, SQ_WAIT_MS));
    uint8_t greeting [64];
    sq_zmtp_greeting (greeting, "NULL");
    SQ_CHECK_EQ (sq_tcp_send (fd, greeting, 64), 0);
    return fd;
}

//  A raw client of endpoint is closed, whether at once or once greeted
static void
s_client_refused (const char *endpoint)
{
    int fd = sq_tcp_connect (endpoint);
    SQ_CHECK (fd >= 0);
    uint8_t prefix [11];
    if (sq_tcp_recv (fd, prefix, 11, SQ_WAIT_MS) == 11) {
        uint8_t greeting [64];
        sq_zmtp_greeting (greeting, "NULL");
        sq_tcp_send (fd, greeting, 64);     //  May find it closed already
    }
    bool closed = sq_tcp_wait_closed (fd, SQ_WAIT_MS);
    close (fd);
    SQ_CHECK_MSG (closed, "a client of %s was not closed", endpoint);
}

//  A new TCP connection to endpoint is refused, or closed without a
//  greeting: nothing there accepts peers any more
static void
s_not_accepting (const char *endpoint)
{
    int fd = sq_tcp_connect (endpoint);
    if (fd < 0)
        return;                     //  Refused: nothing listens
    uint8_t prefix [11];
    size_t got = sq_tcp_recv (fd, prefix, sizeof prefix, SQ_WAIT_MS);
    bool closed = got < sizeof prefix && sq_tcp_wait_closed (fd, SQ_WAIT_MS);
    close (fd);
    SQ_CHECK_MSG (got < sizeof prefix, "%s greeted a new connection", endpoint);
    SQ_CHECK_MSG (closed, "%s accepted a new connection and kept it open", endpoint);
}

//  Sends size bytes of a pattern from client and checks the very same
//  bytes come back
static void
s_echo_bytes (void *client, size_t size, unsigned seed)
{
    uint8_t *data = malloc (size);
    SQ_CHECK (data);
    for (size_t index = 0; index < size; index++)
        data [index] = (uint8_t) (index * 31 + seed * 7 + (index >> 8));
    bool sent = zmq_send (client, data, size, 0) == (int) size;
    sq_msg_t *echo = sent? sq_msg_recv (client, SQ_WAIT_MS): NULL;
    bool same = echo && echo->count == 1 && echo->size [0] == size
             && memcmp (echo->data [0], data, size) == 0;
    size_t echoed = echo && echo->count? echo->size [0]: 0;
    sq_msg_destroy (&echo);
    free (data);
    SQ_CHECK_MSG (sent, "could not send %zu bytes", size);
    SQ_CHECK_MSG (same, "%zu bytes sent, %zu came back, or not the same", size, echoed);
}

//  ---------------------------------------------------------------------
//  Metrics over HTTP

//  The URL the proxy logged ("listening: metrics URL"), into url
static void
s_metrics_url (sq_proxy_t *proxy, char *url, size_t size)
{
    char *log = sq_file_read (proxy->log_path);
    const char *found = log? strstr (log, "listening: metrics "): NULL;
    if (found) {
        found += strlen ("listening: metrics ");
        snprintf (url, size, "%.*s", (int) strcspn (found, " \r\n\""), found);
    }
    free (log);
    SQ_CHECK_MSG (found && strncmp (url, "http://127.0.0.1:", 17) == 0,
                  "no metrics URL in the log");
}

//  GETs path (NULL: the URL's own) at the metrics server; its status, the
//  body in *body (heap, caller frees); -1 when no answer came
static int
s_http_get (const char *url, const char *path, char **body)
{
    *body = NULL;
    const char *port = url + strlen ("http://127.0.0.1:");
    const char *own_path = strchr (port, '/');
    char endpoint [64], request [512];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%.*s",
              (int) (own_path? own_path - port: (long) strlen (port)), port);
    snprintf (request, sizeof request,
              "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
              path? path: own_path? own_path: "/");
    int fd = sq_tcp_connect (endpoint);
    if (fd < 0)
        return -1;
    size_t capacity = 4 << 20;
    char *reply = calloc (1, capacity);
    size_t got = reply && sq_tcp_send (fd, request, strlen (request)) == 0?
        sq_tcp_recv (fd, reply, capacity - 1, SQ_WAIT_MS): 0;
    close (fd);
    int status = -1;
    const char *start = got? strstr (reply, "\r\n\r\n"): NULL;
    if (start && sscanf (reply, "HTTP/1.%*d %d", &status) == 1)
        *body = strdup (start + 4);
    else
        status = -1;
    free (reply);
    return status;
}

//  A scrape of the metrics, which must be valid text format
static char *
s_scrape (const char *url)
{
    char *body = NULL;
    int status = s_http_get (url, NULL, &body);
    SQ_CHECK_MSG (status == 200 && body, "GET %s: %d", url, status);
    char error [512] = "";
    bool valid = sq_prometheus_check (body, error, sizeof error);
    if (!valid)
        free (body);
    SQ_CHECK_MSG (valid, "%s", error);
    return body;
}

//  The sum of the samples of family whose labels hold service="<service>"
//  (service NULL: of the samples with no service label); NAN when none
static double
s_metric (const char *text, const char *family, const char *service)
{
    char label [128];
    snprintf (label, sizeof label, "service=\"%s\"", service? service: "");
    size_t length = strlen (family);
    double sum = 0;
    bool found = false;
    for (const char *line = text; line && *line; ) {
        const char *end = strchr (line, '\n');
        size_t size = end? (size_t) (end - line): strlen (line);
        if (strncmp (line, family, length) == 0
        &&  (line [length] == '{' || line [length] == ' ')) {
            const char *close = line [length] == '{'? memchr (line, '}', size): NULL;
            const char *value = close? close + 1: line + length;
            bool labelled = false, match = false;
            for (const char *at = line + length; close && at < close; at++)
                if ((*at == '{' || *at == ',') && strncmp (at + 1, "service=\"", 9) == 0) {
                    labelled = true;
                    match = service && strncmp (at + 1, label, strlen (label)) == 0;
                }
            if (service? match: !labelled) {
                sum += strtod (value, NULL);
                found = true;
            }
        }
        line = end? end + 1: NULL;
    }
    return found? sum: NAN;
}

//  GETs path until it answers status; false (with the last answer) after
//  SQ_WAIT_MS
static bool
s_http_wait (const char *url, const char *path, int status)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    int last = -1;
    char *body = NULL;
    while (true) {
        free (body);
        last = s_http_get (url, path, &body);
        if (last == status || sq_now_ms () >= deadline)
            break;
        sq_sleep_ms (50);
    }
    if (last != status)
        fprintf (stderr, "GET %s: %d (%s), not %d\n", path, last, body? body: "", status);
    free (body);
    return last == status;
}

//  ---------------------------------------------------------------------
//  Two services, two CURVE keys

#define S_BILLING_CLIENTS   3
#define S_AUTH_CLIENTS      2

static void
test_two_services_apart (void)
{
    char ep [4][64];
    s_endpoints (ep, 4);
    char text [2048];
    snprintf (text, sizeof text,
        "metrics = \"http://127.0.0.1:0/metrics\"\n"
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "    auth\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "        backend-mechanisms = \"CURVE\"\n",
        ep [0], ep [1], ep [2], ep [3]);
    const char *path = s_write ("apart.cfg", text);
    SQ_CHECK (path);
    const char *args [] = { "--config", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_services", args);
    SQ_CHECK (proxy);
    char url [256];
    s_metrics_url (proxy, url, sizeof url);

    //  Each service is ready once it has an idle worker, and the proxy
    //  once every service has one
    SQ_CHECK (s_http_wait (url, "/readyz/billing", 503));
    SQ_CHECK (s_http_wait (url, "/readyz", 503));
    sq_keypair_t billing_key, auth_key;
    sq_keypair_new (&billing_key);
    sq_keypair_new (&auth_key);
    sq_worker_t *billing = s_worker (ep [1], "billing-worker", &billing_key, 4);
    SQ_CHECK (sq_stats_wait (proxy->control, "services.billing.workers.idle", 4, SQ_WAIT_MS));
    SQ_CHECK (s_http_wait (url, "/readyz/billing", 200));
    SQ_CHECK (s_http_wait (url, "/readyz/auth", 503));
    SQ_CHECK (s_http_wait (url, "/readyz", 503));
    sq_worker_t *auth = s_worker (ep [3], "auth-worker", &auth_key, 4);
    SQ_CHECK (sq_stats_wait (proxy->control, "services.auth.workers.idle", 4, SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "services.billing.workers.idle"), 4);
    SQ_CHECK_EQ (sq_stat (proxy, "workers.idle"), 8);
    SQ_CHECK (s_http_wait (url, "/readyz/auth", 200));
    SQ_CHECK (s_http_wait (url, "/readyz", 200));

    //  Every client, with its own service's server key, is answered by
    //  its own service's worker: a client sent to the other worker would
    //  fail its CURVE handshake and never be answered
    void *ctx = zmq_ctx_new ();
    void *clients [S_BILLING_CLIENTS + S_AUTH_CLIENTS];
    for (int index = 0; index < S_BILLING_CLIENTS + S_AUTH_CLIENTS; index++) {
        bool is_billing = index < S_BILLING_CLIENTS;
        clients [index] = s_client (ctx, ep [is_billing? 0: 2],
                                    is_billing? billing_key.public_key: auth_key.public_key);
        char request [32];
        snprintf (request, sizeof request, "request %d", index);
        SQ_CHECK (sq_ask_expect (clients [index], request,
                                 is_billing? "billing-worker": "auth-worker"));
    }
    //  And again, over the pairs made
    for (int index = 0; index < S_BILLING_CLIENTS + S_AUTH_CLIENTS; index++)
        SQ_CHECK (sq_ask_expect (clients [index], "again",
                                 index < S_BILLING_CLIENTS? "billing-worker": "auth-worker"));

    //  Each worker's ZAP handler saw its own clients, and those only
    sq_zap_seen_t seen;
    sq_zap_seen (sq_worker_zap (billing), &seen);
    SQ_CHECK_EQ (seen.accepted, S_BILLING_CLIENTS);
    SQ_CHECK_EQ (seen.refused, 0);
    sq_zap_seen (sq_worker_zap (auth), &seen);
    SQ_CHECK_EQ (seen.accepted, S_AUTH_CLIENTS);
    SQ_CHECK_EQ (seen.refused, 0);

    //  STATS: each service's own counters under services.<name>, the
    //  totals where they have always been
    SQ_CHECK (sq_stats_wait (proxy->control, "services.billing.handshakes.completed",
                             S_BILLING_CLIENTS, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "services.auth.handshakes.completed",
                             S_AUTH_CLIENTS, SQ_WAIT_MS));
    char *json = s_json (proxy, NULL, "STATS");
    SQ_CHECK_EQ (s_number (json, "services.billing.pairs.total"), S_BILLING_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "services.auth.pairs.total"), S_AUTH_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "pairs.total"), S_BILLING_CLIENTS + S_AUTH_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "services.billing.pairs.active"), S_BILLING_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "services.auth.pairs.active"), S_AUTH_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "pairs.active"), S_BILLING_CLIENTS + S_AUTH_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "services.billing.frontend.accepted"), S_BILLING_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "services.auth.frontend.accepted"), S_AUTH_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "services.billing.handshakes.failed"), 0);
    SQ_CHECK_EQ (s_number (json, "services.auth.handshakes.failed"), 0);
    SQ_CHECK_EQ (s_number (json, "handshakes.failed"), 0);
    SQ_CHECK_EQ (s_number (json, "handshakes.completed"),
                 s_number (json, "services.billing.handshakes.completed")
                 + s_number (json, "services.auth.handshakes.completed"));
    SQ_CHECK_EQ (s_number (json, "services.billing.workers.slots_lost"), 0);
    SQ_CHECK_EQ (s_number (json, "services.auth.workers.slots_lost"), 0);
    SQ_CHECK (!sq_json_find (json, "services.default"));
    free (json);

    //  SERVICE <name> STATS: that service's STATS alone
    json = s_json (proxy, "billing", "STATS");
    SQ_CHECK_EQ (s_number (json, "pairs.total"), S_BILLING_CLIENTS);
    SQ_CHECK_EQ (s_number (json, "handshakes.failed"), 0);
    free (json);
    json = s_json (proxy, "auth", "STATS");
    SQ_CHECK_EQ (s_number (json, "pairs.total"), S_AUTH_CLIENTS);
    free (json);
    const char *unknown [] = { "SERVICE", "nosuch", "STATS", NULL };
    char **reply = s_control (proxy, unknown);
    SQ_CHECK_STR (reply [0], "ERROR");
    sq_strv_destroy (&reply);

    //  streamq-ctl --service
    const char *ctl [] = {
        "--control", proxy->control, "--service", "auth", "STATS", "pairs.total", NULL
    };
    char *out = NULL, *err = NULL;
    int code = sq_run_program ("streamq-ctl", ctl, &out, &err);
    char expected [16];
    snprintf (expected, sizeof expected, "%d\n", S_AUTH_CLIENTS);
    bool printed = code == 0 && out && strcmp (out, expected) == 0;
    SQ_CHECK_MSG (printed, "streamq-ctl --service auth: exit %d, out '%s', err '%s'", code,
                  out? out: "", err? err: "");
    free (out);
    free (err);

    //  The metrics: each sample under its service's label
    char *scrape = s_scrape (url);
    double billing_pairs = s_metric (scrape, "streamq_pairs_total", "billing");
    double auth_pairs = s_metric (scrape, "streamq_pairs_total", "auth");
    double unlabelled = s_metric (scrape, "streamq_pairs_total", NULL);
    double billing_active = s_metric (scrape, "streamq_pairs_active", "billing");
    double auth_idle = s_metric (scrape, "streamq_workers_idle_slots", "auth");
    free (scrape);
    SQ_CHECK_MSG (billing_pairs == S_BILLING_CLIENTS,
                  "streamq_pairs_total{service=\"billing\"} %g", billing_pairs);
    SQ_CHECK_MSG (auth_pairs == S_AUTH_CLIENTS,
                  "streamq_pairs_total{service=\"auth\"} %g", auth_pairs);
    SQ_CHECK_MSG (isnan (unlabelled), "streamq_pairs_total without a service label");
    SQ_CHECK_MSG (billing_active == S_BILLING_CLIENTS,
                  "streamq_pairs_active{service=\"billing\"} %g", billing_active);
    SQ_CHECK_MSG (auth_idle == 4 - S_AUTH_CLIENTS,
                  "streamq_workers_idle_slots{service=\"auth\"} %g", auth_idle);

    for (int index = 0; index < S_BILLING_CLIENTS + S_AUTH_CLIENTS; index++)
        zmq_close (clients [index]);
    zmq_ctx_term (ctx);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    sq_worker_destroy (&billing);
    sq_worker_destroy (&auth);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  One service full or paused, the other serving

static void
test_queue_full_and_pause_stay_in_their_service (void)
{
    char ep [4][64];
    s_endpoints (ep, 4);
    char text [2048];
    //  The top-level options are every service's defaults; billing
    //  overrides max-queue
    snprintf (text, sizeof text,
        "max-queue = 100\n"
        "queue-timeout = 120000\n"
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "        max-queue = 1\n"
        "    auth\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n",
        ep [0], ep [1], ep [2], ep [3]);
    const char *path = s_write ("full.cfg", text);
    SQ_CHECK (path);
    const char *args [] = { "--config", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_services", args);
    SQ_CHECK (proxy);

    //  billing has no worker: one client waits, the next is refused
    int waiting = s_queued_client (ep [0]);
    SQ_CHECK (sq_stats_wait (proxy->control, "services.billing.clients.queued", 1, SQ_WAIT_MS));
    s_client_refused (ep [0]);
    SQ_CHECK (sq_stats_wait_min (proxy->control, "services.billing.rejected.queue_full", 1,
                                 SQ_WAIT_MS));

    //  auth's queue is its own, and as long as the top level says
    int auth_waiting [2];
    for (int index = 0; index < 2; index++)
        auth_waiting [index] = s_queued_client (ep [2]);
    SQ_CHECK (sq_stats_wait (proxy->control, "services.auth.clients.queued", 2, SQ_WAIT_MS));
    sq_worker_t *auth = s_worker (ep [3], "auth-worker", NULL, 4);
    for (int index = 0; index < 2; index++) {
        SQ_CHECK (sq_zmtp_expect_tail (auth_waiting [index], "NULL", SQ_WAIT_MS));
        close (auth_waiting [index]);
    }

    //  auth clients are served while billing's queue is full
    void *ctx = zmq_ctx_new ();
    for (int index = 0; index < 3; index++) {
        void *client = s_client (ctx, ep [2], NULL);
        SQ_CHECK (sq_ask_expect (client, "served", "auth-worker"));
        zmq_close (client);
    }
    s_client_refused (ep [0]);
    char *json = s_json (proxy, NULL, "STATS");
    SQ_CHECK_EQ (s_number (json, "services.billing.clients.queued"), 1);
    SQ_CHECK (s_number (json, "services.billing.rejected.queue_full") >= 2);
    SQ_CHECK_EQ (s_number (json, "services.auth.rejected.queue_full"), 0);
    SQ_CHECK_EQ (s_number (json, "services.auth.rejected.queue"), 0);
    SQ_CHECK_EQ (s_number (json, "services.auth.rejected.queue_timeout"), 0);
    SQ_CHECK_EQ (s_number (json, "services.auth.frontend.refused.queue_per_ip"), 0);
    SQ_CHECK_EQ (s_number (json, "services.auth.clients.queued"), 0);
    SQ_CHECK_EQ (s_number (json, "services.auth.pairs.total"), 3);
    SQ_CHECK_EQ (s_number (json, "services.billing.pairs.total"), 0);
    SQ_CHECK_EQ (s_number (json, "rejected.queue_full"),
                 s_number (json, "services.billing.rejected.queue_full"));
    free (json);

    //  LIST tags each connection with its service; SERVICE <name> LIST
    //  holds that service's alone
    int billing_count, auth_count, other_count;
    json = s_json (proxy, NULL, "LIST");
    s_count_services (json, &billing_count, &auth_count, &other_count);
    free (json);
    SQ_CHECK (billing_count >= 1);              //  The client waiting
    SQ_CHECK (auth_count >= 1);                 //  The worker's connections
    SQ_CHECK_EQ (other_count, 0);
    json = s_json (proxy, "auth", "LIST");
    s_count_services (json, &billing_count, &auth_count, &other_count);
    free (json);
    SQ_CHECK (auth_count >= 1 && billing_count == 0 && other_count == 0);
    json = s_json (proxy, NULL, "WORKERS");
    s_count_services (json, &billing_count, &auth_count, &other_count);
    free (json);
    SQ_CHECK (auth_count == 1 && billing_count == 0 && other_count == 0);

    //  SERVICE billing PAUSE: auth goes on
    const char *pause_billing [] = { "SERVICE", "billing", "PAUSE", NULL };
    const char *resume_billing [] = { "SERVICE", "billing", "RESUME", NULL };
    s_ok (proxy, pause_billing);
    SQ_CHECK (s_wait_bool (proxy, "services.billing.paused", true));
    SQ_CHECK (s_wait_bool (proxy, "services.auth.paused", false));
    void *client = s_client (ctx, ep [2], NULL);
    SQ_CHECK (sq_ask_expect (client, "while billing is paused", "auth-worker"));
    zmq_close (client);
    s_ok (proxy, resume_billing);
    SQ_CHECK (s_wait_bool (proxy, "services.billing.paused", false));

    //  SERVICE auth PAUSE: a new auth client waits, unanswered, while
    //  billing serves the client it had queued
    const char *pause_auth [] = { "SERVICE", "auth", "PAUSE", NULL };
    const char *resume_auth [] = { "SERVICE", "auth", "RESUME", NULL };
    s_ok (proxy, pause_auth);
    SQ_CHECK (s_wait_bool (proxy, "services.auth.paused", true));
    SQ_CHECK (s_wait_bool (proxy, "services.billing.paused", false));
    client = s_client (ctx, ep [2], NULL);
    SQ_CHECK_EQ (sq_send_str (client, "while auth is paused"), 0);
    sq_worker_t *billing = s_worker (ep [1], "billing-worker", NULL, 2);
    SQ_CHECK (sq_zmtp_expect_tail (waiting, "NULL", SQ_WAIT_MS));
    close (waiting);
    void *billing_client = s_client (ctx, ep [0], NULL);
    SQ_CHECK (sq_ask_expect (billing_client, "while auth is paused", "billing-worker"));
    zmq_close (billing_client);
    char *early = sq_recv_str (client, SQ_QUIET_MS);
    SQ_CHECK_MSG (!early, "a paused service answered: %s", early);
    s_ok (proxy, resume_auth);
    char *late = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_MSG (late && strcmp (late, "auth-worker|while auth is paused") == 0,
                  "after RESUME: %s", late? late: "no reply");
    free (late);
    zmq_close (client);

    //  PAUSE without SERVICE pauses every service, RESUME resumes them
    const char *pause [] = { "PAUSE", NULL }, *resume [] = { "RESUME", NULL };
    s_ok (proxy, pause);
    SQ_CHECK (s_wait_bool (proxy, "services.billing.paused", true));
    SQ_CHECK (s_wait_bool (proxy, "services.auth.paused", true));
    s_ok (proxy, resume);
    SQ_CHECK (s_wait_bool (proxy, "services.billing.paused", false));
    SQ_CHECK (s_wait_bool (proxy, "services.auth.paused", false));
    client = s_client (ctx, ep [0], NULL);
    SQ_CHECK (sq_ask_expect (client, "resumed", "billing-worker"));
    zmq_close (client);

    //  The counters of auth never moved
    json = s_json (proxy, "auth", "STATS");
    SQ_CHECK_EQ (s_number (json, "rejected.queue_full"), 0);
    SQ_CHECK_EQ (s_number (json, "rejected.queue"), 0);
    free (json);

    zmq_ctx_term (ctx);
    sq_worker_destroy (&auth);
    sq_worker_destroy (&billing);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  Top-level options as defaults, a service's own as overrides

//  True when a raw connection from ip to endpoint is greeted; false when
//  the proxy closes it without a greeting
static bool
s_greeted_from (const char *endpoint, const char *ip)
{
    int fd = sq_tcp_connect_from (endpoint, ip);
    SQ_CHECK (fd >= 0);
    uint8_t prefix [11];
    size_t got = sq_tcp_recv (fd, prefix, sizeof prefix, SQ_WAIT_MS);
    bool closed = got < sizeof prefix && sq_tcp_wait_closed (fd, SQ_WAIT_MS);
    close (fd);
    SQ_CHECK_MSG (got == sizeof prefix || closed,
                  "%s from %s: neither greeted nor closed", endpoint, ip);
    return got == sizeof prefix;
}

//  The ROUTES reply of one service holds text
static bool
s_routes_hold (sq_proxy_t *proxy, const char *service, const char *text)
{
    char *json = s_json (proxy, service, "ROUTES");
    bool found = strstr (json, text) != NULL;
    free (json);
    return found;
}

static void
test_defaults_and_overrides (void)
{
    char ep [4][64];
    s_endpoints (ep, 4);
    const char *routes = s_write ("billing.routes", "ALIAS backend 127.0.0.0/8 billing-pool\n");
    SQ_CHECK (routes);
    char text [2048];
    //  The top-level deny list is billing's; auth's replaces it
    snprintf (text, sizeof text,
        "frontend\n"
        "    deny = \"127.0.0.9\"\n"
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "        routes = \"%s\"\n"
        "    auth\n"
        "        frontend = \"%s\"\n"
        "            deny = \"127.0.0.8\"\n"
        "        backend = \"%s\"\n",
        ep [0], ep [1], routes, ep [2], ep [3]);
    const char *path = s_write ("overrides.cfg", text);
    SQ_CHECK (path);
    const char *args [] = { "--config", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_services", args);
    SQ_CHECK (proxy);

    SQ_CHECK (!s_greeted_from (ep [0], "127.0.0.9"));
    SQ_CHECK (s_greeted_from (ep [0], "127.0.0.8"));
    SQ_CHECK (s_greeted_from (ep [2], "127.0.0.9"));
    SQ_CHECK (!s_greeted_from (ep [2], "127.0.0.8"));
    SQ_CHECK (sq_stats_wait (proxy->control, "services.billing.frontend.refused.denied", 1,
                             SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "services.auth.frontend.refused.denied", 1,
                             SQ_WAIT_MS));
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.refused.denied"), 2);

    //  The routes file is billing's alone
    SQ_CHECK (s_routes_hold (proxy, "billing", "billing-pool"));
    SQ_CHECK (!s_routes_hold (proxy, "auth", "billing-pool"));

    //  A change without SERVICE goes to every service; with it, to one
    const char *everywhere [] = { "ALIAS", "backend", "127.0.0.0/8", "everywhere", NULL };
    s_ok (proxy, everywhere);
    SQ_CHECK (s_routes_hold (proxy, "billing", "everywhere"));
    SQ_CHECK (s_routes_hold (proxy, "auth", "everywhere"));
    const char *one [] = {
        "SERVICE", "auth", "ALIAS", "frontend", "127.0.0.0/8", "auth-clients", NULL
    };
    s_ok (proxy, one);
    SQ_CHECK (s_routes_hold (proxy, "auth", "auth-clients"));
    SQ_CHECK (!s_routes_hold (proxy, "billing", "auth-clients"));
    const char *unknown [] = {
        "SERVICE", "nosuch", "ALIAS", "frontend", "127.0.0.0/8", "lost", NULL
    };
    char **reply = s_control (proxy, unknown);
    SQ_CHECK_STR (reply [0], "ERROR");
    sq_strv_destroy (&reply);
    SQ_CHECK (!s_routes_hold (proxy, "billing", "lost"));
    SQ_CHECK (!s_routes_hold (proxy, "auth", "lost"));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  SIGHUP adds a service and removes one

static void
test_reload_adds_and_removes (void)
{
    char ep [6][64];
    s_endpoints (ep, 6);
    char text [2048];
    snprintf (text, sizeof text,
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "    auth\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "        max-pair-buffer = 1M\n",
        ep [0], ep [1], ep [2], ep [3]);
    const char *path = s_write ("reload.cfg", text);
    SQ_CHECK (path);
    const char *args [] = { "--config", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_services", args);
    SQ_CHECK (proxy);
    SQ_CHECK_EQ (sq_stat (proxy, "services.auth.held.max_pair"), 1 << 20);
    SQ_CHECK_EQ (sq_stat (proxy, "services.billing.held.max_pair"), 8 << 20);

    //  A billing pair, live across the reload
    sq_worker_t *billing = sq_echo_new (ep [1], ZMQ_ROUTER, 2);
    sq_worker_t *auth = s_worker (ep [3], "auth-worker", NULL, 2);
    SQ_CHECK (billing);
    void *ctx = zmq_ctx_new ();
    void *live = s_client (ctx, ep [0], NULL);
    s_echo_bytes (live, 1000, 1);
    s_echo_bytes (live, 100000, 2);
    SQ_CHECK (sq_stats_wait (proxy->control, "services.billing.pairs.active", 1, SQ_WAIT_MS));

    //  billing goes, reports comes, auth stays with a larger buffer
    snprintf (text, sizeof text,
        "services\n"
        "    auth\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "        max-pair-buffer = 2M\n"
        "    reports\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n",
        ep [2], ep [3], ep [4], ep [5]);
    SQ_CHECK (s_write ("reload.cfg", text));
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    SQ_CHECK (s_wait_present (proxy, "services.reports", true));
    SQ_CHECK (s_wait_bool (proxy, "services.billing.removing", true));
    SQ_CHECK (sq_stats_wait (proxy->control, "services.auth.held.max_pair", 2 << 20,
                             SQ_WAIT_MS));

    //  The removed service's endpoints accept nobody
    s_not_accepting (ep [0]);
    s_not_accepting (ep [1]);

    //  The new service serves, and so does the one kept
    sq_worker_t *reports = s_worker (ep [5], "reports-worker", NULL, 2);
    void *client = s_client (ctx, ep [4], NULL);
    SQ_CHECK (sq_ask_expect (client, "new service", "reports-worker"));
    zmq_close (client);
    client = s_client (ctx, ep [2], NULL);
    SQ_CHECK (sq_ask_expect (client, "kept service", "auth-worker"));
    zmq_close (client);
    SQ_CHECK_EQ (sq_stat (proxy, "services.reports.pairs.total"), 1);

    //  The live pair goes on, byte for byte, while its service drains
    for (unsigned round = 3; round < 8; round++)
        s_echo_bytes (live, round % 2? 100000: 777, round);
    SQ_CHECK_EQ (sq_stat (proxy, "services.billing.pairs.active"), 1);
    bool removing = false;
    char *json = s_json (proxy, NULL, "STATS");
    SQ_CHECK (sq_json_bool (json, "services.billing.removing", &removing) && removing);
    free (json);

    //  Its client leaves: the removed service is gone, and stays closed
    zmq_close (live);
    SQ_CHECK (s_wait_present (proxy, "services.billing", false));
    SQ_CHECK (s_wait_present (proxy, "services.auth", true));
    SQ_CHECK (s_wait_present (proxy, "services.reports", true));
    s_not_accepting (ep [0]);
    client = s_client (ctx, ep [4], NULL);
    SQ_CHECK (sq_ask_expect (client, "after the removal", "reports-worker"));
    zmq_close (client);

    zmq_ctx_term (ctx);
    sq_worker_destroy (&billing);
    sq_worker_destroy (&auth);
    sq_worker_destroy (&reports);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  Configuration errors

//  True when text holds every one of the NULL-terminated words, and one
//  at least of the alternatives (when there are any)
static bool
s_holds (const char *text, const char **words, const char **alternatives)
{
    if (!text)
        return false;
    for (int index = 0; words [index]; index++)
        if (!strstr (text, words [index]))
            return false;
    for (int index = 0; alternatives && alternatives [index]; index++)
        if (strstr (text, alternatives [index]))
            return true;
    return !alternatives;
}

//  --check-config with the file, and start-up with it, exit 2 with a
//  message holding every one of the words and one of the alternatives
static void
s_refused_any (const char *name, const char *text, const char **words,
               const char **alternatives)
{
    const char *path = s_write (name, text);
    SQ_CHECK (path);
    for (int start = 0; start < 2; start++) {
        const char *check [] = { "--config", path, "--check-config", NULL };
        const char *run [] = { "--config", path, "--control", "tcp://127.0.0.1:*", NULL };
        char *err = NULL;
        int code = sq_run_program ("streamq-proxy", start? run: check, NULL, &err);
        bool refused = code == 2 && s_holds (err, words, alternatives);
        char shown [1024];
        snprintf (shown, sizeof shown, "%s", err? err: "");
        free (err);
        SQ_CHECK_MSG (refused, "%s, %s: exit %d, expected 2 and '%s%s%s': %s", name,
                      start? "start": "--check-config", code, words [0],
                      words [1]? "', '": "", words [1]? words [1]: "", shown);
    }
}

static void
s_refused (const char *name, const char *text, const char **words)
{
    s_refused_any (name, text, words, NULL);
}

static void
test_configuration_errors (void)
{
    char ep [4][64];
    s_endpoints (ep, 4);
    char text [2048];

    //  A valid file passes, which the errors below then break
    snprintf (text, sizeof text,
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "    auth\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "        backend-mechanisms = \"CURVE\"\n"
        "        max-queue = 10\n",
        ep [0], ep [1], ep [2], ep [3]);
    const char *path = s_write ("valid.cfg", text);
    SQ_CHECK (path);
    const char *check [] = { "--config", path, "--check-config", NULL };
    char *out = NULL, *err = NULL;
    int code = sq_run_program ("streamq-proxy", check, &out, &err);
    bool passed = code == 0 && out && strstr (out, "configuration OK");
    SQ_CHECK_MSG (passed, "a valid file: exit %d: %s", code, err? err: "");
    free (out);
    free (err);

    //  A proxy-wide option under a service, with a valid value: refused,
    //  naming the file, the line and the option
    struct { const char *name, *value; } proxy_wide [] = {
        { "control", "\"tcp://127.0.0.1:1\"" }, { "control-open-read", "false" },
        { "max-control-connections", "8" }, { "metrics", "\"http://127.0.0.1:0/metrics\"" },
        { "log-level", "debug" }, { "syslog", "false" }, { "syslog-facility", "local1" },
        { "engine", "stream" }, { "io-threads", "2" }, { "drain-timeout", "1000" },
    };
    for (size_t index = 0; index < sizeof proxy_wide / sizeof proxy_wide [0]; index++) {
        snprintf (text, sizeof text,
            "services\n"
            "    billing\n"
            "        frontend = \"%s\"\n"
            "        backend = \"%s\"\n"
            "        %s = %s\n",
            ep [0], ep [1], proxy_wide [index].name, proxy_wide [index].value);
        char option [64];
        snprintf (option, sizeof option, "--%s", proxy_wide [index].name);
        const char *words [] = { "proxy-wide.cfg", "line 5", option, "whole proxy", NULL };
        s_refused ("proxy-wide.cfg", text, words);
    }
    //  Also given as a child, "control" with "key" under it
    snprintf (text, sizeof text,
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "        control\n"
        "            key = \"proxy_secret\"\n",
        ep [0], ep [1]);
    const char *child [] = { "--control-key", "whole proxy", NULL };
    s_refused ("proxy-wide-child.cfg", text, child);

    //  A service without its backend, or its frontend
    snprintf (text, sizeof text,
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        max-queue = 10\n",
        ep [0]);
    const char *no_backend [] = { "billing", "backend", "not set", NULL };
    s_refused ("no-backend.cfg", text, no_backend);
    snprintf (text, sizeof text,
        "services\n"
        "    auth\n"
        "        backend = \"%s\"\n",
        ep [1]);
    const char *no_frontend [] = { "auth", "frontend", "not set", NULL };
    s_refused ("no-frontend.cfg", text, no_frontend);

    //  Names: 1 to 63 of [A-Za-z0-9._-]; ZPL takes these, the proxy not
    const char *bad_names [] = {
        "bill$ing", "bill@ing", "a+b",
        "a123456789b123456789c123456789d123456789e123456789f123456789ghij"
    };
    SQ_CHECK_EQ (strlen (bad_names [3]), 64);
    for (size_t index = 0; index < sizeof bad_names / sizeof bad_names [0]; index++) {
        snprintf (text, sizeof text,
            "services\n"
            "    %s\n"
            "        frontend = \"%s\"\n"
            "        backend = \"%s\"\n",
            bad_names [index], ep [0], ep [1]);
        const char *words [] = { bad_names [index], NULL };
        const char *about [] = { "name", "service", NULL };
        s_refused_any ("bad-name.cfg", text, words, about);
    }
    //  63 characters and every kind of character allowed: fine
    snprintf (text, sizeof text,
        "services\n"
        "    A.b_c-9%.56s\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n",
        bad_names [3], ep [0], ep [1]);
    path = s_write ("good-name.cfg", text);
    SQ_CHECK (path);
    check [1] = path;
    code = sq_run_program ("streamq-proxy", check, NULL, &err);
    SQ_CHECK_MSG (code == 0, "a 63-character name: exit %d: %s", code, err? err: "");
    free (err);
    check [1] = NULL;

    //  A name twice
    snprintf (text, sizeof text,
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n",
        ep [0], ep [1], ep [2], ep [3]);
    const char *twice [] = { "billing", NULL };
    const char *again [] = { "twice", "duplicate", "already", "more than once", "again",
                             NULL };
    s_refused_any ("twice.cfg", text, twice, again);

    //  Two services on one frontend
    snprintf (text, sizeof text,
        "services\n"
        "    billing\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n"
        "    auth\n"
        "        frontend = \"%s\"\n"
        "        backend = \"%s\"\n",
        ep [0], ep [1], ep [0], ep [3]);
    const char *same [] = { "frontend", NULL };
    const char *which [] = { ep [0], "auth", NULL };
    s_refused_any ("same-frontend.cfg", text, same, which);
}

//  The commented services block of examples/streamq.cfg, uncommented
//  (every line of it, as its comment says), makes a valid file with
//  several services
static void
test_example_block (void)
{
    char *example = sq_file_read ("examples/streamq.cfg");
    SQ_CHECK_MSG (example, "no examples/streamq.cfg: run from the top of the tree");
    const char *block = strstr (example, "\n#services\n");
    SQ_CHECK_MSG (block, "examples/streamq.cfg has no commented services block");
    block++;
    size_t size = strlen (example) + 1;
    char *text = malloc (size);
    SQ_CHECK (text);
    //  The file up to the block, the block without the '#' that starts
    //  each of its lines, then the rest of the file
    size_t to = (size_t) (block - example);
    memcpy (text, example, to);
    const char *line = block;
    int services = 0;
    bool first = true;
    while (*line == '#' && (first || strncmp (line, "#    ", 5) == 0)) {
        size_t length = strcspn (line, "\n");
        if (strncmp (line, "#    ", 5) == 0 && line [5] != ' ')
            services++;
        memcpy (text + to, line + 1, length);
        to += length;
        line += length;
        if (*line == '\n')
            text [to++] = *line++;
        first = false;
    }
    strcpy (text + to, line);
    SQ_CHECK_MSG (services >= 2, "the example's block declares %d services", services);
    const char *path = s_write ("example.cfg", text);
    free (text);
    free (example);
    SQ_CHECK (path);
    const char *check [] = { "--config", path, "--check-config", NULL };
    char *out = NULL, *err = NULL;
    int code = sq_run_program ("streamq-proxy", check, &out, &err);
    bool passed = code == 0 && out && strstr (out, "configuration OK");
    SQ_CHECK_MSG (passed, "the example's services block: exit %d: %s", code, err? err: "");
    free (out);
    free (err);
}

//  ---------------------------------------------------------------------
//  No services: one, named "default"

static void
test_without_services (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_services", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = s_worker (proxy->backend, "the-worker", NULL, 2);
    SQ_CHECK (sq_stats_wait (proxy->control, "services.default.workers.idle", 2, SQ_WAIT_MS));
    void *ctx = zmq_ctx_new ();
    void *client = s_client (ctx, proxy->frontend, NULL);
    SQ_CHECK (sq_ask_expect (client, "hello", "the-worker"));

    char *json = s_json (proxy, NULL, "STATS");
    SQ_CHECK_EQ (s_number (json, "services.default.pairs.total"), 1);
    SQ_CHECK_EQ (s_number (json, "pairs.total"), 1);
    SQ_CHECK_EQ (s_number (json, "services.default.frontend.accepted"),
                 s_number (json, "frontend.accepted"));
    SQ_CHECK (sq_json_find (json, "services.default.handshakes.failed"));
    free (json);
    json = s_json (proxy, "default", "STATS");
    SQ_CHECK_EQ (s_number (json, "pairs.total"), 1);
    free (json);
    const char *unknown [] = { "SERVICE", "billing", "STATS", NULL };
    char **reply = s_control (proxy, unknown);
    SQ_CHECK_STR (reply [0], "ERROR");
    sq_strv_destroy (&reply);

    //  Every connection is the default service's: the pair and the idle slot
    json = s_json (proxy, NULL, "LIST");
    int count = sq_json_count (json, "");
    SQ_CHECK_MSG (count >= 3, "LIST: %s", json);
    for (int index = 0; index < count; index++) {
        char path [32], service [80];
        snprintf (path, sizeof path, "%d.service", index);
        SQ_CHECK_MSG (sq_json_string (json, path, service, sizeof service)
                      && strcmp (service, "default") == 0, "LIST: %s", json);
    }
    free (json);

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_configuration_errors);
    SQ_RUN (test_example_block);
    SQ_RUN (test_without_services);
    SQ_RUN (test_two_services_apart);
    SQ_RUN (test_queue_full_and_pause_stay_in_their_service);
    SQ_RUN (test_defaults_and_overrides);
    SQ_RUN (test_reload_adds_and_removes);
    s_remove_files ();
    return sq_test_summary ();
}
