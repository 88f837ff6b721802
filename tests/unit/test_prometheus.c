/*  =========================================================================
    Unit tests of the metrics text: the histogram, the --metrics URL, and
    the Prometheus text the core renders, checked line by line against the
    format (sq_prometheus_check.h) and for its values, with a recording
    engine and a synthetic clock. No sockets, no HTTP.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_core.h"
#include "sq_prometheus.h"
#include "sq_report.h"
#include "sq_fake_engine.h"
#include "sq_log.h"
#include "sq_prometheus_check.h"

SQ_TEST_DEFINE

static fake_engine_t *engine;
static sq_core_t *core;
static int64_t now;

static void
s_setup (void)
{
    sq_log_set_level (SQ_LOG_ERROR);
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    config.close_linger_ms = 0;
    engine = calloc (1, sizeof *engine);
    sq_engine_t ops = fake_engine_ops (engine);
    core = sq_core_new (&config, &ops);
    now = sq_core_started (core);
}

static void
s_teardown (void)
{
    sq_core_close_all (core, now);
    sq_core_destroy (&core);
    free (engine);
}

//  Connects peer n on a side; with a mechanism, sends its greeting
static sq_conn_t *
s_peer (sq_side_t side, unsigned n, const char *mechanism)
{
    uint8_t id [5];
    fake_id (n, id);
    char address [64];
    snprintf (address, sizeof address, "10.0.0.%u:%u", n, 40000 + n);
    sq_conn_t *conn = sq_core_connected (core, side, id, 5, "10.0.0.1", address, now);
    SQ_CHECK (conn);
    if (mechanism) {
        uint8_t greeting [SQ_GREETING_SIZE];
        memset (greeting, 0, sizeof greeting);
        memcpy (greeting, "\xFF\0\0\0\0\0\0\0\0\x7F\x03\x01", 12);
        memcpy (greeting + 12, mechanism, strlen (mechanism));
        sq_core_received (core, conn, greeting, sizeof greeting, now);
    }
    return conn;
}

//  The text now, checked against the format; the caller frees it
static char *
s_scrape (void)
{
    sq_service_ref_t service = { SQ_SERVICE_DEFAULT, core, false };
    char *text = sq_prometheus_text (&service, 1, "4.3.4", now);
    SQ_CHECK (text);
    char error [512] = "";
    bool valid = sq_prometheus_check (text, error, sizeof error);
    if (!valid)
        fprintf (stderr, "%s\n", text);
    SQ_CHECK_MSG (valid, "%s", error);
    return text;
}

//  The value of one series, which must be there
static double
s_value (const char *text, const char *series)
{
    double value = sq_prometheus_value (text, series);
    SQ_CHECK_MSG (!isnan (value), "no series %s", series);
    return value;
}

static void
test_histogram_buckets (void)
{
    sq_histogram_t histogram;
    memset (&histogram, 0, sizeof histogram);
    sq_histogram_observe (&histogram, -5);      //  As 0
    sq_histogram_observe (&histogram, 1);       //  le 1 ms: a bound is inclusive
    sq_histogram_observe (&histogram, 2);
    sq_histogram_observe (&histogram, 60000);
    sq_histogram_observe (&histogram, 7200000); //  Past the last bound
    SQ_CHECK_EQ (histogram.count, 5);
    SQ_CHECK_EQ (histogram.sum_ms, 1 + 2 + 60000 + 7200000);
    SQ_CHECK_EQ (sq_histogram_bound_ms (0), 1);
    SQ_CHECK_EQ (sq_histogram_bound_ms (SQ_HISTOGRAM_BOUNDS - 1), 3600000);
    SQ_CHECK_EQ (sq_histogram_cumulative (&histogram, 0), 2);
    SQ_CHECK_EQ (sq_histogram_cumulative (&histogram, 1), 3);
    uint64_t previous = 0;
    for (size_t index = 0; index <= SQ_HISTOGRAM_BOUNDS; index++) {
        uint64_t cumulative = sq_histogram_cumulative (&histogram, index);
        SQ_CHECK (cumulative >= previous);
        previous = cumulative;
        if (index > 0 && index < SQ_HISTOGRAM_BOUNDS)
            SQ_CHECK (sq_histogram_bound_ms (index) > sq_histogram_bound_ms (index - 1));
    }
    SQ_CHECK_EQ (sq_histogram_cumulative (&histogram, SQ_HISTOGRAM_BOUNDS - 1), 4);
    SQ_CHECK_EQ (sq_histogram_cumulative (&histogram, SQ_HISTOGRAM_BOUNDS), 5);
}

static void
test_url_parse (void)
{
    sq_prometheus_url_t url;
    char error [256];
    SQ_CHECK (sq_prometheus_url_parse ("http://127.0.0.1:9100/metrics", &url, error, sizeof error));
    SQ_CHECK_STR (url.host, "127.0.0.1");
    SQ_CHECK_EQ (url.port, 9100);
    SQ_CHECK_STR (url.path, "/metrics");
    SQ_CHECK (!url.ipv6);
    SQ_CHECK (sq_prometheus_url_parse ("http://0.0.0.0:0/", &url, error, sizeof error));
    SQ_CHECK_EQ (url.port, 0);
    SQ_CHECK_STR (url.path, "/");
    SQ_CHECK (sq_prometheus_url_parse ("http://[::1]:65535/a/b", &url, error, sizeof error));
    SQ_CHECK (url.ipv6);
    SQ_CHECK_STR (url.host, "::1");
    SQ_CHECK_EQ (url.port, 65535);
    SQ_CHECK_STR (url.path, "/a/b");
    SQ_CHECK (sq_prometheus_url_parse ("http://localhost:80/m", &url, error, sizeof error));
    SQ_CHECK_STR (url.host, "127.0.0.1");
    const char *bad [] = {
        "", "https://127.0.0.1:9100/metrics", "127.0.0.1:9100/metrics",
        "http://127.0.0.1/metrics", "http://127.0.0.1:/metrics",
        "http://127.0.0.1:65536/metrics", "http://127.0.0.1:123456/metrics",
        "http://127.0.0.1:-1/metrics", "http://127.0.0.1:9100", "http://127.0.0.1:9100metrics",
        "http://example.com:9100/metrics", "http://300.0.0.1:9100/metrics",
        "http://:9100/metrics", "http://[::1:9100/metrics", "http://[nope]:9100/metrics",
        "http://::1:9100/metrics", "http://127.0.0.1:9100/a b", "http://127.0.0.1:9100/a?b",
        "http://127.0.0.1:9100/a#b", NULL
    };
    for (size_t index = 0; bad [index]; index++) {
        error [0] = 0;
        SQ_CHECK_MSG (!sq_prometheus_url_parse (bad [index], &url, error, sizeof error),
                      "'%s' was accepted", bad [index]);
        SQ_CHECK_MSG (*error, "'%s' was refused without a reason", bad [index]);
    }
}

//  An empty proxy: every family is there, valid, at zero
static void
test_text_of_an_empty_proxy (void)
{
    s_setup ();
    now += 1500;
    char *text = s_scrape ();
    SQ_CHECK (strstr (text, "streamq_build_info{service=\"default\",version=\"0.1.0\",libzmq=\"4.3.4\"} 1\n"));
    SQ_CHECK (strstr (text, "streamq_uptime_seconds{service=\"default\"} 1.500\n"));
    SQ_CHECK_EQ (s_value (text, "streamq_pairs_total{service=\"default\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_connections{service=\"default\",side=\"frontend\",state=\"queued\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_pairing_wait_seconds_count{service=\"default\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_pair_duration_seconds_bucket{service=\"default\",le=\"+Inf\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_pair_duration_seconds_bucket{service=\"default\",le=\"0.001\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_pair_duration_seconds_bucket{service=\"default\",le=\"3600\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_refused_total{service=\"default\",side=\"backend\",reason=\"draining\"}"), 0);
    const char *families [] = {
        "connections", "connections_accepted_total", "pairs_active", "pairs_total",
        "bytes_total", "chunks_total", "closed_total", "rejected_total", "refused_total",
        "accept_failed_total", "queue_length", "held_bytes", "workers_known",
        "workers_idle_slots", "uptime_seconds", "build_info", "pairing_wait_seconds",
        "pair_duration_seconds", "handshakes_completed_total", "handshakes_failed_total",
        "handshakes_in_progress", "workers_slots_lost_total", "bans_active",
        "handshake_duration_seconds", "engine_info", "engine_pipes",
        "engine_pipe_refusals_total", NULL
    };
    for (size_t index = 0; families [index]; index++) {
        char type [128];
        snprintf (type, sizeof type, "# TYPE streamq_%s ", families [index]);
        SQ_CHECK_MSG (strstr (text, type), "no family %s", families [index]);
    }
    free (text);
    s_teardown ();
}

//  A pair's life moves the counters, gauges and both histograms
static void
test_text_follows_a_pair (void)
{
    s_setup ();
    sq_conn_t *client = s_peer (SQ_FRONTEND, 1, "NULL");
    now += 3;                                   //  Waits 3 ms for a worker
    sq_conn_t *worker = s_peer (SQ_BACKEND, 2, "NULL");
    //  The client, given the worker's tail, sends its READY; the worker
    //  gets it and answers with its own: the handshake is over
    SQ_CHECK_EQ (client->state, SQ_CONN_SCREENING);
    const uint8_t ready [8] = { 0x04, 6, 5, 'R', 'E', 'A', 'D', 'Y' };
    sq_core_received (core, client, ready, sizeof ready, now);
    SQ_CHECK_EQ (client->state, SQ_CONN_PAIRED);
    sq_core_received (core, worker, ready, sizeof ready, now);
    SQ_CHECK_EQ (client->handshake, SQ_HANDSHAKE_DONE);
    sq_core_received (core, client, (const uint8_t *) "hello", 5, now);
    sq_core_received (core, worker, (const uint8_t *) "hi", 2, now);
    //  A worker named with characters a label value must escape
    SQ_CHECK (sq_core_identify (core, SQ_BACKEND, worker->address, "we\"ird\\name", now));
    s_peer (SQ_FRONTEND, 3, NULL);              //  Still in its greeting
    char *text = s_scrape ();
    SQ_CHECK_EQ (s_value (text, "streamq_pairs_total{service=\"default\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_pairs_active{service=\"default\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_connections{service=\"default\",side=\"frontend\",state=\"paired\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_connections{service=\"default\",side=\"backend\",state=\"paired\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_connections{service=\"default\",side=\"frontend\",state=\"greeting\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_connections_accepted_total{service=\"default\",side=\"frontend\"}"), 2);
    //  The proxy's 11 bytes, the partner's greeting tail (53), its READY
    //  (8), the data
    SQ_CHECK_EQ (s_value (text, "streamq_bytes_total{service=\"default\",direction=\"to_backend\"}"),
                 11 + 53 + 8 + 5);
    SQ_CHECK_EQ (s_value (text, "streamq_bytes_total{service=\"default\",direction=\"to_frontend\"}"),
                 11 + 11 + 53 + 8 + 2);
    SQ_CHECK_EQ (s_value (text, "streamq_chunks_total{service=\"default\",direction=\"to_backend\"}"), 4);
    SQ_CHECK_EQ (s_value (text, "streamq_chunks_total{service=\"default\",direction=\"to_frontend\"}"), 5);
    SQ_CHECK_EQ (s_value (text, "streamq_handshakes_completed_total{service=\"default\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_handshakes_failed_total{service=\"default\",reason=\"malformed\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_handshake_duration_seconds_count{service=\"default\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_worker_active_pairs{service=\"default\",worker=\"we\\\"ird\\\\name\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_pairing_wait_seconds_bucket{service=\"default\",le=\"0.001\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_pairing_wait_seconds_bucket{service=\"default\",le=\"0.005\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_pairing_wait_seconds_count{service=\"default\"}"), 1);
    SQ_CHECK (strstr (text, "streamq_pairing_wait_seconds_sum{service=\"default\"} 0.003\n"));
    SQ_CHECK_EQ (s_value (text, "streamq_pair_duration_seconds_count{service=\"default\"}"), 0);
    free (text);
    //  The client leaves after 2 s: the pair ends, its worker is closed
    now += 2000;
    sq_core_disconnected (core, client, now);
    sq_core_tick (core, now);
    text = s_scrape ();
    SQ_CHECK_EQ (s_value (text, "streamq_pairs_active{service=\"default\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_pair_duration_seconds_bucket{service=\"default\",le=\"1\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_pair_duration_seconds_bucket{service=\"default\",le=\"2.5\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_pair_duration_seconds_count{service=\"default\"}"), 1);
    SQ_CHECK (strstr (text, "streamq_pair_duration_seconds_sum{service=\"default\"} 2.000\n"));
    SQ_CHECK_EQ (s_value (text, "streamq_closed_total{service=\"default\",reason=\"peer\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_closed_total{service=\"default\",reason=\"partner\"}"), 1);
    free (text);
    //  STATS shows the same histograms
    sq_service_ref_t service = { SQ_SERVICE_DEFAULT, core, false };
    char *stats = sq_report_stats_service (&service, now);
    SQ_CHECK (stats && strstr (stats, "\"pairing_wait\":{\"count\":1,\"sum_ms\":3,"));
    SQ_CHECK (strstr (stats, "\"pair_duration\":{\"count\":1,\"sum_ms\":2000,"
                             "\"buckets_ms\":{\"1\":0,"));
    SQ_CHECK (strstr (stats, "\"2500\":1,"));
    SQ_CHECK (strstr (stats, "\"+Inf\":1}"));
    SQ_CHECK (strstr (stats, "\"chunks\":{\"to_backend\":4,\"to_frontend\":5}"));
    SQ_CHECK (strstr (stats, "\"handshakes\":{\"completed\":1,\"failed\":0,"));
    free (stats);
    s_teardown ();
}

//  Rejections and refusals by reason
static void
test_text_counts_rejections (void)
{
    s_setup ();
    sq_conn_t *bad = s_peer (SQ_FRONTEND, 1, NULL);
    sq_core_received (core, bad, (const uint8_t *) "GET / HTTP/1.0\r\n", 16, now);
    sq_core_drain_all (core, now);
    uint8_t id [5];
    fake_id (9, id);
    SQ_CHECK (!sq_core_connected (core, SQ_BACKEND, id, 5, "10.0.0.9", "10.0.0.9:1", now));
    char *text = s_scrape ();
    SQ_CHECK_EQ (s_value (text, "streamq_rejected_total{service=\"default\",reason=\"greeting\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_closed_total{service=\"default\",reason=\"greeting\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_refused_total{service=\"default\",side=\"backend\",reason=\"draining\"}"), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_refused_total{service=\"default\",side=\"frontend\",reason=\"draining\"}"), 0);
    SQ_CHECK_EQ (s_value (text, "streamq_draining{service=\"default\"}"), 1);
    free (text);
    s_teardown ();
}

//  Scrapes and checks the engine's families: its name, and its pipes
static void
s_check_engine (const char *name, double lent, double idle, double refusals)
{
    char *text = s_scrape ();
    char info [128];
    snprintf (info, sizeof info, "streamq_engine_info{service=\"default\",engine=\"%s\"}", name);
    SQ_CHECK_EQ (s_value (text, info), 1);
    SQ_CHECK_EQ (s_value (text, "streamq_engine_pipes{service=\"default\",state=\"lent\"}"), lent);
    SQ_CHECK_EQ (s_value (text, "streamq_engine_pipes{service=\"default\",state=\"idle\"}"), idle);
    SQ_CHECK_EQ (s_value (text, "streamq_engine_pipe_refusals_total{service=\"default\"}"),
                 refusals);
    free (text);
}

//  The engine's name and pipes, as it tells them; an engine that tells
//  nothing has no name and no pipes
static void
test_text_tells_the_engine (void)
{
    s_setup ();
    s_check_engine ("", 0, 0, 0);
    engine->figures = (sq_engine_figures_t) { "splice", 2, 3, 7 };
    s_check_engine ("splice", 2, 3, 7);
    s_teardown ();
}

//  The checker itself refuses what is not the format
static void
test_checker_refuses_bad_text (void)
{
    const char *bad [] = {
        "streamq_x 1\n",                                            //  No HELP, TYPE
        "# HELP a_total h\n# TYPE a_total counter\na_total 1",      //  No final newline
        "# HELP a h\n# TYPE a counter\na 1\n",                      //  Counter not *_total
        "# HELP a h\n# TYPE a gauge\na{x=\"1} 1\n",                 //  Unclosed value
        "# HELP a h\n# TYPE a gauge\na{x=\"\\q\"} 1\n",             //  Bad escape
        "# HELP a h\n# TYPE a gauge\na one\n",                      //  Not a number
        "# HELP a h\n# TYPE a gauge\na 1\na 2\n",                   //  A series twice
        "# HELP a h\n# TYPE a gauge\n# HELP b h\n# TYPE b gauge\na 1\nb 1\na{x=\"y\"} 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
            "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",        //  Not cumulative
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
            "h_sum 1\nh_count 1\n",                                 //  No +Inf
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 1\nh_count 3\n",                                 //  Count differs
        NULL
    };
    for (size_t index = 0; bad [index]; index++) {
        char error [256] = "";
        SQ_CHECK_MSG (!sq_prometheus_check (bad [index], error, sizeof error),
                      "case %zu was accepted", index);
    }
    char error [256] = "";
    const char *good = "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                       "h_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n";
    SQ_CHECK_MSG (sq_prometheus_check (good, error, sizeof error), "%s", error);
}

int
main (void)
{
    SQ_RUN (test_histogram_buckets);
    SQ_RUN (test_url_parse);
    SQ_RUN (test_text_of_an_empty_proxy);
    SQ_RUN (test_text_follows_a_pair);
    SQ_RUN (test_text_counts_rejections);
    SQ_RUN (test_text_tells_the_engine);
    SQ_RUN (test_checker_refuses_bad_text);
    return sq_test_summary ();
}
