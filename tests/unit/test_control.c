/*  Unit tests of the control commands and the JSON they reply with  */
#include "sq_test.h"
#include "sq_control.h"
#include "sq_json.h"
#include "sq_log.h"
#include "sq_report.h"
#include "sq_fake_engine.h"

SQ_TEST_DEFINE

static fake_engine_t *engine;
static sq_core_t *core;

static void
s_setup (void)
{
    sq_log_set_level (SQ_LOG_ERROR);
    engine = calloc (1, sizeof *engine);
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    sq_engine_t ops = fake_engine_ops (engine);
    core = sq_core_new (&config, &ops);
}

static void
s_teardown (void)
{
    sq_core_close_all (core, 0);
    sq_core_destroy (&core);
    free (engine);
}

//  Runs a request given as strings; the reply is left in *reply
static void
s_request (sq_reply_t *reply, int count, const char **frames)
{
    sq_frames_t request = { .count = (size_t) count };
    for (int index = 0; index < count; index++) {
        request.data [index] = (const uint8_t *) frames [index];
        request.size [index] = strlen (frames [index]);
    }
    sq_service_ref_t service = { SQ_SERVICE_DEFAULT, core, false };
    sq_control_handle (&service, 1, &request, reply, 0);
}

static void
test_ping_pause_resume_terminate (void)
{
    s_setup ();
    sq_reply_t reply = { 0 };
    s_request (&reply, 1, (const char *[]) { "PING" });
    SQ_CHECK_EQ (reply.count, 1);
    SQ_CHECK_STR (reply.frame [0], "PONG");
    sq_reply_clear (&reply);
    s_request (&reply, 1, (const char *[]) { "PAUSE" });
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK (sq_core_paused (core));
    sq_reply_clear (&reply);
    s_request (&reply, 1, (const char *[]) { "resume" });
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK (!sq_core_paused (core));
    sq_reply_clear (&reply);
    SQ_CHECK (!sq_core_terminating (core));
    s_request (&reply, 1, (const char *[]) { "TERMINATE" });
    SQ_CHECK (sq_core_terminating (core));
    sq_reply_clear (&reply);
    s_teardown ();
}

static void
test_errors_say_why (void)
{
    s_setup ();
    sq_reply_t reply = { 0 };
    s_request (&reply, 1, (const char *[]) { "FROB" });
    SQ_CHECK_EQ (reply.count, 2);
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK_STR (reply.frame [1], "unknown command 'FROB'");
    sq_reply_clear (&reply);
    s_request (&reply, 2, (const char *[]) { "PING", "extra" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK_STR (reply.frame [1], "PING takes no arguments");
    sq_reply_clear (&reply);
    s_request (&reply, 0, NULL);
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    sq_reply_clear (&reply);
    s_request (&reply, 1, (const char *[]) { "" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    sq_reply_clear (&reply);
    s_teardown ();
}

static void
test_stats_and_list_reflect_core (void)
{
    s_setup ();
    uint8_t id [5];
    fake_id (1, id);
    sq_core_connected (core, SQ_FRONTEND, id, 5, "10.0.0.1", "10.0.0.1:5000", 0);
    sq_reply_t reply = { 0 };
    s_request (&reply, 1, (const char *[]) { "STATS" });
    SQ_CHECK_EQ (reply.count, 1);
    const char *stats = reply.frame [0];
    SQ_CHECK (strstr (stats, "\"frontend\":{\"connections\":1,"));
    SQ_CHECK (strstr (stats, "\"backend\":{\"connections\":0,"));
    SQ_CHECK (strstr (stats, "\"pairs\":{\"active\":0,\"total\":0}"));
    SQ_CHECK (strstr (stats, "\"bytes\":{\"to_backend\":0,\"to_frontend\":11}"));
    SQ_CHECK (strstr (stats, "\"rejected\":{\"greeting\":0,\"queue\":0,"));
    SQ_CHECK (strstr (stats, "\"workers\":{\"idle\":0,"));
    SQ_CHECK (strstr (stats, "\"clients\":{\"queued\":0}"));
    //  An engine that tells nothing of itself
    SQ_CHECK (strstr (stats, "\"engine\":{\"name\":\"\",\"pipes_lent\":0,\"pipes_idle\":0,"
                             "\"pipe_refusals\":0}"));
    //  The one service's own STATS, under its name
    SQ_CHECK (strstr (stats, "\"services\":{\"default\":{\"frontend\":{\"connections\":1,"));
    sq_reply_clear (&reply);
    s_request (&reply, 1, (const char *[]) { "LIST" });
    SQ_CHECK_STR (reply.frame [0],
        "[{\"service\":\"default\",\"id\":1,\"side\":\"frontend\",\"address\":\"10.0.0.1:5000\",\"name\":\"10.0.0.1\","
        "\"mechanism\":\"\","
        "\"state\":\"greeting\",\"paired_with\":null,\"bytes_in\":0,\"bytes_out\":11}]");
    sq_reply_clear (&reply);
    s_teardown ();
}

static void
test_json_escapes_and_nests (void)
{
    sq_json_t json;
    sq_json_init (&json);
    sq_json_object_open (&json, NULL);
    sq_json_string (&json, "text", "a\"b\\c\n");
    sq_json_array_open (&json, "list");
    sq_json_uint (&json, NULL, 1);
    sq_json_bool (&json, NULL, true);
    sq_json_null (&json, NULL);
    sq_json_array_close (&json);
    sq_json_object_close (&json);
    char *text = sq_json_take (&json);
    SQ_CHECK_STR (text, "{\"text\":\"a\\\"b\\\\c\\u000a\",\"list\":[1,true,null]}");
    free (text);
}

//  Connects a peer of a side from host and completes its NULL greeting
static sq_conn_t *
s_connect (sq_side_t side, unsigned n, const char *host)
{
    uint8_t id [5];
    fake_id (n, id);
    char address [64];
    snprintf (address, sizeof address, "%s:%u", host, 40000 + n);
    sq_conn_t *conn = sq_core_connected (core, side, id, 5, host, address, 0);
    uint8_t greeting [64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 1, 'N', 'U', 'L', 'L' };
    sq_core_received (core, conn, greeting, sizeof greeting, 0);
    return conn;
}

//  Runs a request and returns how many entries its JSON array holds
static int
s_entries (const char **frames, int count, const char *array)
{
    sq_reply_t reply = { 0 };
    s_request (&reply, count, frames);
    SQ_CHECK_EQ (reply.count, 1);
    const char *at = reply.frame [0];
    if (array)
        at = strstr (at, array);
    SQ_CHECK (at);
    int entries = 0, depth = 0;
    for (const char *cursor = strchr (at, '['); cursor && *cursor; cursor++) {
        entries += *cursor == '{' && depth == 1;
        depth += *cursor == '[' || *cursor == '{';
        depth -= *cursor == ']' || *cursor == '}';
        if (depth == 0)
            break;
    }
    sq_reply_clear (&reply);
    return entries;
}

//  Reports come in pages: offset and count, 1000 entries by default
static void
test_reports_in_pages (void)
{
    s_setup ();
    for (unsigned n = 1; n <= 1200; n++)
        s_connect (SQ_FRONTEND, n, "10.0.0.1");
    SQ_CHECK_EQ (s_entries ((const char *[]) { "LIST" }, 1, NULL), SQ_PAGE_DEFAULT);
    SQ_CHECK_EQ (s_entries ((const char *[]) { "LIST", "1000" }, 2, NULL), 200);
    SQ_CHECK_EQ (s_entries ((const char *[]) { "LIST", "10", "5" }, 3, NULL), 5);
    SQ_CHECK_EQ (s_entries ((const char *[]) { "LIST", "5000" }, 2, NULL), 0);
    sq_reply_t reply = { 0 };
    s_request (&reply, 3, (const char *[]) { "LIST", "0", "0" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    sq_reply_clear (&reply);
    s_request (&reply, 3, (const char *[]) { "WORKERS", "0", "10001" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    sq_reply_clear (&reply);
    s_request (&reply, 2, (const char *[]) { "CLIENTS", "-1" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    sq_reply_clear (&reply);
    //  Routes are paged in the order of their client names
    for (int index = 0; index < 30; index++) {
        char client [16];
        snprintf (client, sizeof client, "c%02d", index);
        s_request (&reply, 3, (const char *[]) { "ROUTE", client, "w" });
        SQ_CHECK_STR (reply.frame [0], "OK");
        sq_reply_clear (&reply);
    }
    SQ_CHECK_EQ (s_entries ((const char *[]) { "ROUTES", "25", "10" }, 3, "\"routes\""), 5);
    s_request (&reply, 3, (const char *[]) { "ROUTES", "2", "1" });
    SQ_CHECK (strstr (reply.frame [0], "\"client\":\"c02\""));
    sq_reply_clear (&reply);
    s_teardown ();
}

//  CLOSE by address block or by name, on one side, with the partners
static void
test_close_matching (void)
{
    s_setup ();
    for (unsigned n = 1; n <= 3; n++)
        s_connect (SQ_FRONTEND, n, "10.0.0.1");
    s_connect (SQ_FRONTEND, 4, "10.9.0.1");
    s_connect (SQ_BACKEND, 5, "10.0.0.1");
    sq_reply_t reply = { 0 };
    s_request (&reply, 3, (const char *[]) { "CLOSE", "frontend", "10.0.0.0/24" });
    SQ_CHECK_EQ (reply.count, 2);
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK_STR (reply.frame [1], "3");
    sq_reply_clear (&reply);
    sq_core_tick (core, 1000);              //  Past the close linger
    SQ_CHECK_EQ (sq_conn_table_count (sq_core_conns (core), SQ_FRONTEND), 1);
    SQ_CHECK_EQ (sq_conn_table_count (sq_core_conns (core), SQ_BACKEND), 1);
    SQ_CHECK_EQ (sq_core_stats (core)->closed [SQ_CLOSED_OPERATOR], 3);
    //  By name: the worker 10.0.0.1 (its default name)
    s_request (&reply, 3, (const char *[]) { "CLOSE", "backend", "10.0.0.1" });
    SQ_CHECK_STR (reply.frame [1], "1");
    sq_reply_clear (&reply);
    s_request (&reply, 3, (const char *[]) { "CLOSE", "frontend", "nobody" });
    SQ_CHECK_STR (reply.frame [1], "0");
    sq_reply_clear (&reply);
    s_request (&reply, 3, (const char *[]) { "CLOSE", "middle", "10.0.0.1" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    sq_reply_clear (&reply);
    s_teardown ();
}

//  The tables the control socket fills are bounded, with a clear ERROR
static void
test_tables_bounded (void)
{
    s_setup ();
    sq_reply_t reply = { 0 };
    char name [32], address [32];
    for (int index = 0; index < SQ_CONTROL_ROUTES_MAX; index++) {
        snprintf (name, sizeof name, "client-%d", index);
        s_request (&reply, 3, (const char *[]) { "ROUTE", name, "w" });
        sq_reply_clear (&reply);
    }
    s_request (&reply, 3, (const char *[]) { "ROUTE", "one-more", "w" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "too many routes"));
    sq_reply_clear (&reply);
    //  Replacing a route is still fine
    s_request (&reply, 3, (const char *[]) { "ROUTE", "client-7", "w2" });
    SQ_CHECK_STR (reply.frame [0], "OK");
    sq_reply_clear (&reply);
    for (int index = 0; index < SQ_CONTROL_REGISTRATIONS_MAX; index++) {
        snprintf (address, sizeof address, "10.1.%d.%d:5000", index / 250, index % 250);
        s_request (&reply, 4, (const char *[]) { "IDENTIFY", "frontend", address, "n" });
        sq_reply_clear (&reply);
    }
    s_request (&reply, 4, (const char *[]) { "IDENTIFY", "frontend", "10.2.0.1:1", "n" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "too many registrations"));
    sq_reply_clear (&reply);
    for (int index = 0; index < SQ_CONTROL_WORKERS_MAX; index++) {
        snprintf (name, sizeof name, "worker-%d", index);
        s_request (&reply, 3, (const char *[]) { "WEIGHT", name, "2" });
        sq_reply_clear (&reply);
    }
    s_request (&reply, 3, (const char *[]) { "LOAD", "worker-new", "0.5" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "too many workers"));
    sq_reply_clear (&reply);
    s_request (&reply, 3, (const char *[]) { "LOAD", "worker-3", "0.5" });
    SQ_CHECK_STR (reply.frame [0], "OK");
    sq_reply_clear (&reply);
    s_teardown ();
}

int
main (void)
{
    SQ_RUN (test_ping_pause_resume_terminate);
    SQ_RUN (test_errors_say_why);
    SQ_RUN (test_stats_and_list_reflect_core);
    SQ_RUN (test_json_escapes_and_nests);
    SQ_RUN (test_reports_in_pages);
    SQ_RUN (test_close_matching);
    SQ_RUN (test_tables_bounded);
    return sq_test_summary ();
}
