/*  =========================================================================
    test_log - log lines as text and JSON (escaping, cut-off messages),
    level and format names, syslog datagrams, and the LOGLEVEL command
    =========================================================================
*/
#include <stdlib.h>
#include <unistd.h>
#include <syslog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "sq_test.h"
#include "sq_log.h"
#include "sq_control.h"
#include "sq_fake_engine.h"

SQ_TEST_DEFINE

//  2026-11-25T03:01:02.345Z
static const struct timespec s_time = { 1795575662, 345000000 };

static void
test_names (void)
{
    sq_log_level_t level;
    const char *names [] = { "error", "warning", "info", "debug" };
    for (int index = 0; index < 4; index++) {
        SQ_CHECK (sq_log_level_parse (names [index], &level));
        SQ_CHECK_EQ (level, index);
        SQ_CHECK_STR (sq_log_level_name (level), names [index]);
    }
    SQ_CHECK (sq_log_level_parse ("WARN", &level) && level == SQ_LOG_WARNING);
    SQ_CHECK (!sq_log_level_parse ("loud", &level));
    sq_log_format_t format;
    SQ_CHECK (sq_log_format_parse ("json", &format) && format == SQ_LOG_JSON);
    SQ_CHECK (sq_log_format_parse ("TEXT", &format) && format == SQ_LOG_TEXT);
    SQ_CHECK (!sq_log_format_parse ("xml", &format));
    int facility;
    SQ_CHECK (sq_log_facility_parse ("daemon", &facility) && facility == LOG_DAEMON);
    SQ_CHECK (sq_log_facility_parse ("local7", &facility) && facility == LOG_LOCAL7);
    SQ_CHECK (!sq_log_facility_parse ("local8", &facility));
}

static void
test_text_line (void)
{
    char line [256];
    sq_log_set_format (SQ_LOG_TEXT);
    size_t size = sq_log_format_line (line, sizeof line, SQ_LOG_WARNING, &s_time, "a \"b\"");
    SQ_CHECK_STR (line, "2026-11-25T03:01:02.345Z warn  a \"b\"");
    SQ_CHECK_EQ (size, strlen (line));
}

static void
test_json_line_escapes (void)
{
    char line [512];
    sq_log_set_format (SQ_LOG_JSON);
    //  Quote, backslash, newline, tab, control, DEL, UTF-8 (e acute, euro
    //  sign), a byte that is no UTF-8, and a sequence cut off at the end
    const char *message = "q\" b\\ n\n t\t c\x01 d\x7f \xc3\xa9 \xe2\x82\xac x\xff end\xe2\x82";
    size_t size = sq_log_format_line (line, sizeof line, SQ_LOG_INFO, &s_time, message);
    SQ_CHECK_STR (line, "{\"time\":\"2026-11-25T03:01:02.345Z\",\"level\":\"info\","
                  "\"message\":\"q\\\" b\\\\ n\\n t\\t c\\u0001 d\\u007f \xc3\xa9 "
                  "\xe2\x82\xac x\\ufffd end\\ufffd\\ufffd\"}");
    SQ_CHECK_EQ (size, strlen (line));
    //  Overlong forms and surrogates are not UTF-8 either
    sq_log_format_line (line, sizeof line, SQ_LOG_ERROR, &s_time, "\xc0\xaf\xed\xa0\x80");
    SQ_CHECK (strstr (line, "\"level\":\"error\",\"message\":\"\\ufffd\\ufffd"
                            "\\ufffd\\ufffd\\ufffd\"}"));
    sq_log_set_format (SQ_LOG_TEXT);
}

//  A message too long for the line is cut between two escapes, never in
//  one: the line stays one whole object
static void
test_json_line_cut (void)
{
    sq_log_set_format (SQ_LOG_JSON);
    char line [160];
    size_t head = strlen ("{\"time\":\"2026-11-25T03:01:02.345Z\",\"level\":\"debug\","
                          "\"message\":\"\"}");
    for (size_t size = head + 1; size <= sizeof line; size++) {
        size_t length = sq_log_format_line (line, size, SQ_LOG_DEBUG, &s_time,
                                            "\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\x01\x01");
        SQ_CHECK (length < size && length == strlen (line));
        SQ_CHECK_MSG (length >= 2 && strcmp (line + length - 2, "\"}") == 0, "'%s'", line);
        //  Between the opening quote and the closing one, only whole escapes
        const char *inside = strstr (line, "\"message\":\"") + 11;
        for (const char *at = inside; at < line + length - 2; at++)
            if (*at == '\\') {
                at++;
                SQ_CHECK_MSG (*at == '"' || (*at == 'u' && at + 4 < line + length - 2),
                              "'%s' cut in an escape", line);
            }
            else
                SQ_CHECK_MSG (*at != '"', "'%s' has a bare quote", line);
    }
    //  No room for the object at all: an empty line, not half an object
    SQ_CHECK_EQ (sq_log_format_line (line, 20, SQ_LOG_INFO, &s_time, "x"), 0);
    SQ_CHECK_STR (line, "");
    sq_log_set_format (SQ_LOG_TEXT);
}

//  A datagram socket at a fresh path, as a syslog daemon would bind
static int
s_syslog_server (char *path, size_t size)
{
    snprintf (path, size, "/tmp/sq-test-log-%d.sock", (int) getpid ());
    unlink (path);
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf (address.sun_path, sizeof address.sun_path, "%s", path);
    SQ_CHECK (fd >= 0 && bind (fd, (struct sockaddr *) &address, sizeof address) == 0);
    struct timeval timeout = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return fd;
}

//  Receives one datagram as a string; "" if none came
static void
s_receive (int fd, char *text, size_t size)
{
    ssize_t got = recv (fd, text, size - 1, 0);
    text [got > 0? got: 0] = 0;
}

static fake_engine_t *s_engine;
static sq_core_t *s_core;

static void
s_request (sq_reply_t *reply, int count, const char **frames)
{
    sq_frames_t request = { .count = (size_t) count };
    for (int index = 0; index < count; index++) {
        request.data [index] = (const uint8_t *) frames [index];
        request.size [index] = strlen (frames [index]);
    }
    sq_service_ref_t service = { SQ_SERVICE_DEFAULT, s_core, false };
    sq_control_handle (&service, 1, &request, reply, 0);
}

//  Lines go to the socket as "<PRI>Mmm dd hh:mm:ss streamq-proxy[pid]: ",
//  each level at its priority; LOGLEVEL sets the level, and says so
static void
test_syslog_and_loglevel (void)
{
    char path [108], text [2048], expected [64];
    int server = s_syslog_server (path, sizeof path);
    SQ_CHECK (sq_log_set_syslog (LOG_LOCAL3, path));
    sq_log_set_format (SQ_LOG_TEXT);
    sq_log_set_level (SQ_LOG_INFO);
    sq_info ("hello %d", 42);
    s_receive (server, text, sizeof text);
    snprintf (expected, sizeof expected, " streamq-proxy[%d]: hello 42", (int) getpid ());
    SQ_CHECK_MSG (strncmp (text, "<158>", 5) == 0 && strstr (text, expected), "'%s'", text);

    s_engine = calloc (1, sizeof *s_engine);
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    sq_engine_t ops = fake_engine_ops (s_engine);
    s_core = sq_core_new (&config, &ops);
    sq_reply_t reply = { 0 };
    s_request (&reply, 1, (const char *[]) { "LOGLEVEL" });
    SQ_CHECK_EQ (reply.count, 1);
    SQ_CHECK_STR (reply.frame [0], "info");
    sq_reply_clear (&reply);

    s_request (&reply, 2, (const char *[]) { "loglevel", "DEBUG" });
    SQ_CHECK_EQ (reply.count, 2);
    SQ_CHECK_STR (reply.frame [0], "OK");
    SQ_CHECK_STR (reply.frame [1], "debug");
    sq_reply_clear (&reply);
    SQ_CHECK_EQ (sq_log_level (), SQ_LOG_DEBUG);
    s_receive (server, text, sizeof text);
    SQ_CHECK_MSG (strstr (text, "control: log level debug (was info)"), "'%s'", text);
    sq_debug ("details");
    s_receive (server, text, sizeof text);
    SQ_CHECK_MSG (strncmp (text, "<159>", 5) == 0 && strstr (text, ": details"), "'%s'", text);

    //  Going quieter, the change is said before it silences info
    s_request (&reply, 2, (const char *[]) { "LOGLEVEL", "error" });
    SQ_CHECK_STR (reply.frame [1], "error");
    sq_reply_clear (&reply);
    s_receive (server, text, sizeof text);
    SQ_CHECK_MSG (strstr (text, "control: log level error (was debug)"), "'%s'", text);
    sq_info ("not written");
    sq_error ("written");
    s_receive (server, text, sizeof text);
    SQ_CHECK_MSG (strncmp (text, "<155>", 5) == 0 && strstr (text, ": written"), "'%s'", text);

    s_request (&reply, 2, (const char *[]) { "LOGLEVEL", "loud" });
    SQ_CHECK_EQ (reply.count, 2);
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "'loud'"));
    sq_reply_clear (&reply);
    s_request (&reply, 3, (const char *[]) { "LOGLEVEL", "info", "debug" });
    SQ_CHECK_STR (reply.frame [0], "ERROR");
    SQ_CHECK (strstr (reply.frame [1], "usage: LOGLEVEL"));
    sq_reply_clear (&reply);
    SQ_CHECK_EQ (sq_log_level (), SQ_LOG_ERROR);
    SQ_CHECK (!sq_control_read_only ("LOGLEVEL"));

    //  In JSON the datagram carries the whole object
    sq_log_set_format (SQ_LOG_JSON);
    sq_error ("as \"json\"");
    s_receive (server, text, sizeof text);
    SQ_CHECK_MSG (strstr (text, "]: {\"time\":\"") && strstr (text, "\"level\":\"error\","
                  "\"message\":\"as \\\"json\\\"\"}"), "'%s'", text);
    sq_log_set_format (SQ_LOG_TEXT);

    sq_core_close_all (s_core, 0);
    sq_core_destroy (&s_core);
    free (s_engine);
    close (server);
    unlink (path);
}

int
main (void)
{
    SQ_RUN (test_names);
    SQ_RUN (test_text_line);
    SQ_RUN (test_json_line_escapes);
    SQ_RUN (test_json_line_cut);
    //  Last: from here on the process logs to a socket that is gone
    SQ_RUN (test_syslog_and_loglevel);
    return sq_test_summary ();
}
