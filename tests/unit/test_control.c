/*  Unit tests of the control commands and the JSON they reply with  */
#include "sq_test.h"
#include "sq_control.h"
#include "sq_json.h"
#include "sq_log.h"
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
    sq_control_handle (core, &request, reply, 0);
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
    sq_reply_clear (&reply);
    s_request (&reply, 1, (const char *[]) { "LIST" });
    SQ_CHECK_STR (reply.frame [0],
        "[{\"id\":1,\"side\":\"frontend\",\"address\":\"10.0.0.1:5000\",\"name\":\"10.0.0.1\","
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

int
main (void)
{
    SQ_RUN (test_ping_pause_resume_terminate);
    SQ_RUN (test_errors_say_why);
    SQ_RUN (test_stats_and_list_reflect_core);
    SQ_RUN (test_json_escapes_and_nests);
    return sq_test_summary ();
}
