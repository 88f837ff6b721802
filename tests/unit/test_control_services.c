/*  =========================================================================
    Unit tests of a proxy with two services, as the control socket, the
    reports and the metrics see it: two real cores, each with its own
    recording engine, and the commands that go to one or to both.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_control.h"
#include "sq_report.h"
#include "sq_prometheus.h"
#include "sq_json_scan.h"
#include "sq_identity.h"
#include "sq_log.h"
#include "sq_fake_engine.h"
#include "sq_prometheus_check.h"

SQ_TEST_DEFINE

static fake_engine_t *engines [2];
static sq_service_ref_t services [2];

static void
s_setup (void)
{
    sq_log_set_level (SQ_LOG_ERROR);
    const char *names [2] = { SQ_SERVICE_DEFAULT, "billing" };
    for (int at = 0; at < 2; at++) {
        engines [at] = calloc (1, sizeof (fake_engine_t));
        sq_core_config_t config;
        sq_core_config_defaults (&config);
        config.close_linger_ms = 0;
        sq_engine_t ops = fake_engine_ops (engines [at]);
        services [at] = (sq_service_ref_t) { names [at], sq_core_new (&config, &ops), false };
    }
}

static void
s_teardown (void)
{
    for (int at = 0; at < 2; at++) {
        sq_core_close_all (services [at].core, 0);
        sq_core_destroy (&services [at].core);
        free (engines [at]);
    }
}

//  Runs a request given as strings against both services; the reply is
//  left in *reply, emptied first
static void
s_request (sq_reply_t *reply, int count, const char **frames)
{
    sq_reply_clear (reply);
    sq_frames_t request = { .count = (size_t) count };
    for (int index = 0; index < count; index++) {
        request.data [index] = (const uint8_t *) frames [index];
        request.size [index] = strlen (frames [index]);
    }
    sq_control_handle (services, 2, &request, reply, 0);
}

#define S_REQUEST(reply, ...) \
    s_request (reply, sizeof ((const char *[]) { __VA_ARGS__ }) / sizeof (const char *), \
               (const char *[]) { __VA_ARGS__ })

//  Connects peer n of a side from host to service at, with its NULL
//  greeting done
static sq_conn_t *
s_connect (int at, sq_side_t side, unsigned n, const char *host)
{
    uint8_t id [5];
    fake_id (n, id);
    char address [64];
    snprintf (address, sizeof address, "%s:%u", host, 40000 + n);
    sq_core_t *core = services [at].core;
    sq_conn_t *conn = sq_core_connected (core, side, id, 5, host, address, 0);
    uint8_t greeting [64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1, 'N', 'U', 'L', 'L' };
    sq_core_received (core, conn, greeting, sizeof greeting, 0);
    return conn;
}

//  The number at a dotted path of a JSON reply, or -1 when there is none
static long long
s_number (const char *json, const char *path)
{
    const char *at = sq_json_scan_find (json, path);
    return at? strtoll (at, NULL, 10): -1;
}

//  How many times needle is in text
static int
s_occurs (const char *text, const char *needle)
{
    int count = 0;
    for (const char *at = strstr (text, needle); at; at = strstr (at + 1, needle))
        count++;
    return count;
}

//  SERVICE <name> sends a command to that service only; an unknown or
//  invalid name, or no command after it, is an ERROR that says so
static void
test_service_prefix (void)
{
    s_setup ();
    sq_reply_t reply = { 0 };
    S_REQUEST (&reply, "SERVICE", "billing", "PAUSE");
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK (sq_core_paused (services [1].core));
    SQ_CHECK (!sq_core_paused (services [0].core));
    S_REQUEST (&reply, "service", "billing", "resume");
    SQ_CHECK (!sq_core_paused (services [1].core));
    S_REQUEST (&reply, "SERVICE", "nobody", "STATS");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK_STR (reply.frame [1], "no service 'nobody'");
    S_REQUEST (&reply, "SERVICE", "bad/name", "STATS");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "not a valid service name"));
    S_REQUEST (&reply, "SERVICE", "billing");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK_STR (reply.frame [1], "expected a command after SERVICE <name>");
    S_REQUEST (&reply, "SERVICE");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    S_REQUEST (&reply, "SERVICE", "billing", "TERMINATE");
    SQ_CHECK_STR (reply.frame [1], "TERMINATE is for the whole proxy");
    SQ_CHECK (!sq_core_terminating (services [0].core));
    SQ_CHECK (!sq_core_terminating (services [1].core));
    S_REQUEST (&reply, "SERVICE", "billing", "PING");
    SQ_CHECK_STR (reply.frame [0], "PONG");
    S_REQUEST (&reply, "SERVICE", "billing", "PING", "x");
    SQ_CHECK_STR (reply.frame [1], "PING takes no arguments");
    //  The frames of the prefix, for the proxy's check of what a client may run
    sq_frames_t request = { .count = 3,
        .data = { (const uint8_t *) "Service", (const uint8_t *) "billing",
                  (const uint8_t *) "PAUSE" },
        .size = { 7, 7, 5 } };
    SQ_CHECK_EQ (sq_control_service_prefix (&request), 2);
    request.count = 1;
    SQ_CHECK_EQ (sq_control_service_prefix (&request), 0);
    request.data [0] = (const uint8_t *) "SERVICES";
    request.size [0] = 8;
    request.count = 3;
    SQ_CHECK_EQ (sq_control_service_prefix (&request), 0);
    sq_reply_clear (&reply);
    s_teardown ();
}

//  PAUSE, RESUME and TERMINATE without SERVICE are for the whole proxy
static void
test_proxy_commands (void)
{
    s_setup ();
    sq_reply_t reply = { 0 };
    S_REQUEST (&reply, "PAUSE");
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK (sq_core_paused (services [0].core) && sq_core_paused (services [1].core));
    S_REQUEST (&reply, "RESUME");
    SQ_CHECK (!sq_core_paused (services [0].core) && !sq_core_paused (services [1].core));
    S_REQUEST (&reply, "SERVICE", "default", "PAUSE");
    SQ_CHECK (sq_core_paused (services [0].core) && !sq_core_paused (services [1].core));
    S_REQUEST (&reply, "SERVICE", "default", "LOGLEVEL", "debug");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (sq_log_level () == SQ_LOG_ERROR);
    S_REQUEST (&reply, "TERMINATE");
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK (sq_core_terminating (services [0].core));
    SQ_CHECK (sq_core_terminating (services [1].core));
    sq_reply_clear (&reply);
    s_teardown ();
}

//  STATS without SERVICE: the totals where one service has them, each
//  service's own under "services"; with SERVICE, that service's alone
static void
test_stats_totals (void)
{
    s_setup ();
    sq_conn_t *clients [2];
    clients [0] = s_connect (0, SQ_FRONTEND, 1, "10.0.0.1");
    clients [1] = s_connect (1, SQ_FRONTEND, 2, "10.0.0.2");
    s_connect (1, SQ_FRONTEND, 3, "10.0.0.3");
    s_connect (0, SQ_BACKEND, 4, "10.0.1.1");
    s_connect (1, SQ_BACKEND, 5, "10.0.1.1");
    //  Each first client, given its worker's greeting, sends its READY
    const uint8_t ready [8] = { 0x04, 6, 5, 'R', 'E', 'A', 'D', 'Y' };
    for (int at = 0; at < 2; at++) {
        sq_core_received (services [at].core, clients [at], ready, sizeof ready, 0);
        SQ_CHECK_EQ (clients [at]->state, SQ_CONN_PAIRED);
    }
    //  Each service's engine has pipes of its own
    engines [0]->figures = (sq_engine_figures_t) { "splice", 2, 1, 4 };
    engines [1]->figures = (sq_engine_figures_t) { "splice", 1, 4, 5 };
    sq_reply_t reply = { 0 };
    S_REQUEST (&reply, "STATS");
    SQ_CHECK_EQ (reply.count, 1);
    const char *stats = reply.frame [0];
    const char *paths [] = {
        "frontend.connections", "frontend.accepted", "backend.connections",
        "pairs.active", "pairs.total", "bytes.to_frontend", "bytes.to_backend",
        "pairing_wait.count", "pairing_wait.buckets_ms.+Inf", "pairing_wait.sum_ms",
        "pair_duration.buckets_ms.1000", "workers.idle", "workers.known",
        "clients.queued", "held.max", "registrations.pending", "engine.pipes_lent",
        "engine.pipes_idle", "engine.pipe_refusals", NULL
    };
    for (int index = 0; paths [index]; index++) {
        char one [128], other [128];
        snprintf (one, sizeof one, "services.default.%s", paths [index]);
        snprintf (other, sizeof other, "services.billing.%s", paths [index]);
        long long total = s_number (stats, paths [index]);
        SQ_CHECK_MSG (total >= 0, "no %s", paths [index]);
        SQ_CHECK_MSG (total == s_number (stats, one) + s_number (stats, other),
                      "%s: %lld is not the sum", paths [index], total);
    }
    SQ_CHECK_EQ (s_number (stats, "frontend.connections"), 3);
    SQ_CHECK_EQ (s_number (stats, "services.billing.frontend.connections"), 2);
    SQ_CHECK_EQ (s_number (stats, "services.default.engine.pipes_lent"), 2);
    SQ_CHECK_EQ (s_number (stats, "engine.pipes_lent"), 3);
    SQ_CHECK_EQ (s_number (stats, "engine.pipes_idle"), 5);
    SQ_CHECK_EQ (s_number (stats, "engine.pipe_refusals"), 9);
    SQ_CHECK (strstr (stats, "\"engine\":{\"name\":\"splice\","));
    SQ_CHECK_EQ (s_number (stats, "pairs.active"), 2);
    //  One worker, known to both services by the same name: merged
    SQ_CHECK_EQ (s_number (stats, "pairing_wait.count"), 2);
    SQ_CHECK (strstr (stats, "\"by_name\":{\"10.0.1.1\":{\"active\":2,\"idle\":0}}"));
    SQ_CHECK (!strstr (stats, "\"removing\":true"));
    SQ_CHECK (sq_json_scan_find (stats, "services.billing.removing"));
    SQ_CHECK (!sq_json_scan_find (stats, "removing"));
    S_REQUEST (&reply, "SERVICE", "billing", "STATS");
    SQ_CHECK_EQ (s_number (reply.frame [0], "frontend.connections"), 2);
    SQ_CHECK (!sq_json_scan_find (reply.frame [0], "services"));
    sq_reply_clear (&reply);
    s_teardown ();
}

//  LIST, WORKERS, CLIENTS, BANS: the entries of one service after the
//  other's, each named by its service; a page applies within each
static void
test_entries_concatenated (void)
{
    s_setup ();
    s_connect (0, SQ_FRONTEND, 1, "10.0.0.1");
    s_connect (0, SQ_FRONTEND, 2, "10.0.0.2");
    s_connect (1, SQ_FRONTEND, 3, "10.0.0.3");
    s_connect (1, SQ_BACKEND, 4, "10.0.1.1");
    sq_reply_t reply = { 0 };
    S_REQUEST (&reply, "LIST");
    const char *list = reply.frame [0];
    SQ_CHECK_EQ (s_occurs (list, "{\"service\":\"default\",\"id\":"), 2);
    SQ_CHECK_EQ (s_occurs (list, "{\"service\":\"billing\",\"id\":"), 2);
    SQ_CHECK (strstr (list, "\"service\":\"default\"") < strstr (list, "\"service\":\"billing\""));
    S_REQUEST (&reply, "LIST", "0", "1");
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "\"service\""), 2);
    S_REQUEST (&reply, "LIST", "1");
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "\"service\":\"default\""), 1);
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "\"service\":\"billing\""), 1);
    S_REQUEST (&reply, "SERVICE", "billing", "LIST");
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "\"service\":\"billing\""), 2);
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "\"service\":\"default\""), 0);
    S_REQUEST (&reply, "CLIENTS");
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "{\"service\":\"default\",\"name\":"), 2);
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "{\"service\":\"billing\",\"name\":"), 1);
    S_REQUEST (&reply, "WORKERS");
    SQ_CHECK_STR (reply.frame [0], "[{\"service\":\"billing\",\"name\":\"10.0.1.1\","
                  "\"state\":\"active\",\"connections\":1,\"idle\":1,\"active\":0,"
                  "\"weight\":1,\"load\":null}]");
    S_REQUEST (&reply, "BANS");
    SQ_CHECK_STR (reply.frame [0], "[]");
    S_REQUEST (&reply, "ALIAS", "frontend", "10.0.0.0/24", "app");
    S_REQUEST (&reply, "ROUTES");
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "{\"service\":\"default\",\"side\":"), 1);
    SQ_CHECK_EQ (s_occurs (reply.frame [0], "{\"service\":\"billing\",\"side\":"), 1);
    sq_reply_clear (&reply);
    s_teardown ();
}

//  A command that changes something, without SERVICE, goes to every
//  service: OK when one took it, else the first error
static void
test_writes_broadcast (void)
{
    s_setup ();
    sq_reply_t reply = { 0 };
    S_REQUEST (&reply, "ROUTE", "c", "w");
    SQ_CHECK_STR (reply.frame [0], "OK");
    for (int at = 0; at < 2; at++)
        SQ_CHECK (sq_balancer_route (sq_core_balancer (services [at].core), "c"));
    S_REQUEST (&reply, "SERVICE", "default", "UNROUTE", "c");
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK (!sq_balancer_route (sq_core_balancer (services [0].core), "c"));
    S_REQUEST (&reply, "UNROUTE", "c");
    SQ_CHECK_STR (reply.frame [0], "OK");
    S_REQUEST (&reply, "UNROUTE", "c");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK_STR (reply.frame [1], "no route for 'c'");
    S_REQUEST (&reply, "WEIGHT", "w", "0");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    //  IDENTIFY: applied where the connection is live, kept elsewhere
    sq_conn_t *worker = s_connect (1, SQ_BACKEND, 4, "10.0.1.1");
    S_REQUEST (&reply, "IDENTIFY", "backend", "10.0.1.1:40004", "gpu");
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK_STR (worker->name, "gpu");
    SQ_CHECK_EQ (sq_identity_pending (sq_core_identity (services [0].core)), 1);
    SQ_CHECK_EQ (sq_identity_pending (sq_core_identity (services [1].core)), 0);
    //  CLOSE counts what it closed in every service
    s_connect (0, SQ_FRONTEND, 1, "10.0.0.1");
    s_connect (1, SQ_FRONTEND, 2, "10.0.0.2");
    s_connect (1, SQ_FRONTEND, 3, "10.9.0.3");
    S_REQUEST (&reply, "CLOSE", "frontend", "10.0.0.0/24");
    SQ_CHECK_EQ (reply.count, 2);
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK_STR (reply.frame [1], "2");
    S_REQUEST (&reply, "HEARTBEAT", "gpu", "1000");
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK_EQ (sq_core_heartbeat_count (services [0].core), 1);
    SQ_CHECK_EQ (sq_core_heartbeat_count (services [1].core), 1);
    sq_reply_clear (&reply);
    s_teardown ();
}

//  A service removed by a reload drains: it shows in reads, takes CLOSE
//  and HEARTBEAT, and no other change
static void
test_removed_service (void)
{
    s_setup ();
    services [1].removed = true;
    s_connect (1, SQ_FRONTEND, 1, "10.0.0.1");
    sq_reply_t reply = { 0 };
    S_REQUEST (&reply, "ROUTE", "c", "w");
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK (sq_balancer_route (sq_core_balancer (services [0].core), "c"));
    SQ_CHECK (!sq_balancer_route (sq_core_balancer (services [1].core), "c"));
    S_REQUEST (&reply, "SERVICE", "billing", "ROUTE", "c", "w");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "being removed"));
    S_REQUEST (&reply, "PAUSE");
    SQ_CHECK (!sq_core_paused (services [1].core));
    S_REQUEST (&reply, "STATS");
    SQ_CHECK (strstr (reply.frame [0], "\"removing\":true"));
    SQ_CHECK_EQ (s_number (reply.frame [0], "frontend.connections"), 1);
    S_REQUEST (&reply, "SERVICE", "billing", "CLOSE", "frontend", "10.0.0.1");
    SQ_CHECK_STR (reply.frame [1], "1");
    services [0].removed = true;
    S_REQUEST (&reply, "UNROUTE", "c");
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "every one is being removed"));
    sq_reply_clear (&reply);
    s_teardown ();
}

//  The metrics: each family once, a sample for each service, and totals
//  that add up
static void
test_metrics_of_services (void)
{
    s_setup ();
    s_connect (0, SQ_FRONTEND, 1, "10.0.0.1");
    s_connect (1, SQ_FRONTEND, 2, "10.0.0.2");
    s_connect (1, SQ_FRONTEND, 3, "10.0.0.3");
    char *text = sq_prometheus_text (services, 2, "4.3.4", 0);
    SQ_CHECK (text);
    char error [512] = "";
    SQ_CHECK_MSG (sq_prometheus_check (text, error, sizeof error), "%s", error);
    SQ_CHECK_EQ (s_occurs (text, "# TYPE streamq_connections_accepted_total counter\n"), 1);
    SQ_CHECK_EQ (sq_prometheus_value (text,
        "streamq_connections_accepted_total{service=\"default\",side=\"frontend\"}"), 1);
    SQ_CHECK_EQ (sq_prometheus_value (text,
        "streamq_connections_accepted_total{service=\"billing\",side=\"frontend\"}"), 2);
    SQ_CHECK_EQ (sq_prometheus_value (text,
        "streamq_pair_duration_seconds_count{service=\"billing\"}"), 0);
    //  Every sample names its service
    for (const char *line = text; *line; line = strchr (line, '\n') + 1)
        if (*line != '#') {
            const char *labels = strchr (line, '{');
            SQ_CHECK_MSG (labels && labels < strchr (line, ' ')
                          && strncmp (labels, "{service=\"", 10) == 0, "%.60s", line);
        }
    free (text);
    text = sq_prometheus_text (services, 0, "4.3.4", 0);
    SQ_CHECK_STR (text, "");
    free (text);
    s_teardown ();
}

//  /readyz: every service that is not being removed must be ready, and
//  the first that is not is named; /readyz/NAME asks one
static void
test_readiness (void)
{
    s_setup ();
    char body [160];
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, NULL, body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: service default: no idle worker\n");
    s_connect (0, SQ_BACKEND, 1, "10.0.1.1");
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, NULL, body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: service billing: no idle worker\n");
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, "default", body, sizeof body), 200);
    SQ_CHECK_STR (body, "ok: 1 idle worker connection\n");
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, "nobody", body, sizeof body), 404);
    s_connect (1, SQ_BACKEND, 2, "10.0.1.2");
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, NULL, body, sizeof body), 200);
    SQ_CHECK_STR (body, "ok: 2 idle worker connections\n");
    //  One service paused: the proxy is not ready, the other service is
    sq_core_set_paused (services [1].core, true, 0);
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, NULL, body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: service billing: paused\n");
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, "default", body, sizeof body), 200);
    //  A service being removed is left out, but answers for itself
    services [1].removed = true;
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, NULL, body, sizeof body), 200);
    SQ_CHECK_EQ (sq_prometheus_ready (services, 2, "billing", body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: removing\n");
    //  One service, as a proxy without services has: the reason alone
    sq_core_set_paused (services [0].core, true, 0);
    SQ_CHECK_EQ (sq_prometheus_ready (services, 1, NULL, body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: paused\n");
    SQ_CHECK_EQ (sq_prometheus_ready (services, 0, NULL, body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: no service\n");
    s_teardown ();
}

int
main (void)
{
    SQ_RUN (test_service_prefix);
    SQ_RUN (test_proxy_commands);
    SQ_RUN (test_stats_totals);
    SQ_RUN (test_entries_concatenated);
    SQ_RUN (test_writes_broadcast);
    SQ_RUN (test_removed_service);
    SQ_RUN (test_metrics_of_services);
    SQ_RUN (test_readiness);
    return sq_test_summary ();
}
