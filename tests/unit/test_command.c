/*  Unit tests of what streamq-ctl knows of the commands (sq_command), of
    its tables (sq_table) and of its JSON reader (sq_json_scan)  */
#include "sq_test.h"
#include "sq_command.h"
#include "sq_control.h"
#include "sq_json_scan.h"
#include "sq_table.h"
#include "sq_log.h"
#include "sq_fake_engine.h"

SQ_TEST_DEFINE

//  Commands streamq-ctl knows that this proxy's sq_control does not serve
//  yet: the control command BANS is being added beside this change. Once
//  both are in, sq_control knows it and this list must be emptied: then
//  BANS is checked like every other command.
//  The first reply frames of the proxy's control handler to the command
//  with `args` arguments: "ERROR" and the reason, or the result
static void
s_handle (sq_core_t *core, const char *name, size_t args, char *result, size_t size)
{
    const char *frames [SQ_CONTROL_FRAMES_MAX] = { name };
    sq_frames_t request = { .count = 1 + args };
    for (size_t index = 1; index <= args; index++)
        frames [index] = "x";
    for (size_t index = 0; index < request.count; index++) {
        request.data [index] = (const uint8_t *) frames [index];
        request.size [index] = strlen (frames [index]);
    }
    sq_reply_t reply = { 0 };
    sq_service_ref_t service = { SQ_SERVICE_DEFAULT, core, false };
    sq_control_handle (&service, 1, &request, &reply, 0);
    snprintf (result, size, "%s|%s", reply.count? reply.frame [0]: "",
              reply.count > 1? reply.frame [1]: "");
    sq_reply_clear (&reply);
}

//  A reply that says the number of arguments is wrong
static bool
s_usage_reply (const char *result)
{
    return strncmp (result, "ERROR|usage: ", 13) == 0 || strstr (result, "takes no arguments");
}

//  For every command streamq-ctl knows, the proxy takes exactly the
//  numbers of arguments that streamq-ctl lets through: a count below or
//  above them is a usage error there too, the bounds themselves are not
static void
test_arguments_match_the_proxy (void)
{
    sq_log_set_level (SQ_LOG_ERROR);
    fake_engine_t *engine = calloc (1, sizeof *engine);
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    sq_engine_t ops = fake_engine_ops (engine);
    sq_core_t *core = sq_core_new (&config, &ops);
    SQ_CHECK (engine && core);
    size_t checked = 0;
    for (size_t index = 0; sq_command_at (index); index++) {
        const sq_command_t *command = sq_command_at (index);
        char result [600];
        size_t local = sq_command_has (command, SQ_COMMAND_FIELD)? 1: 0;
        for (size_t args = command->min_args; args <= command->max_args; args++) {
            s_handle (core, command->name, args, result, sizeof result);
            SQ_CHECK_MSG (!s_usage_reply (result) && !strstr (result, "unknown command"),
                          "%s with %zu arguments: %s", command->name, args, result);
            SQ_CHECK (sq_command_args_ok (command, args));
        }
        if (command->min_args > 0) {
            s_handle (core, command->name, command->min_args - 1, result, sizeof result);
            SQ_CHECK_MSG (s_usage_reply (result), "%s with %zu arguments: %s",
                          command->name, command->min_args - 1, result);
            SQ_CHECK (!sq_command_args_ok (command, command->min_args - 1));
        }
        s_handle (core, command->name, command->max_args + 1, result, sizeof result);
        SQ_CHECK_MSG (s_usage_reply (result), "%s with %zu arguments: %s",
                      command->name, command->max_args + 1, result);
        SQ_CHECK_EQ (sq_command_args_ok (command, command->max_args + 1), local == 1);
        SQ_CHECK (!sq_command_args_ok (command, command->max_args + local + 1));
        checked++;
    }
    SQ_CHECK (checked >= 20);
    SQ_CHECK (sq_command_find ("route") == sq_command_find ("ROUTE"));
    SQ_CHECK (sq_command_find ("FOO") == NULL);
    sq_core_close_all (core, 0);
    sq_core_destroy (&core);
    free (engine);
}

//  The table printed, in a heap string
static char *
s_printed (const sq_table_t *table)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    sq_table_print (table, out);
    fclose (out);
    return text;
}

//  Columns in order of first appearance, names in capitals, numbers to the
//  right, strings to the left, null as "-", arrays joined, escapes undone,
//  a missing member an empty cell, no line ending in a space
static void
test_table_from_json (void)
{
    sq_table_t *table = sq_table_from_json (
        "[{\"name\":\"w1\",\"idle\":12,\"load\":null,\"route\":[\"a\",\"b\"]},"
        " {\"name\":\"worker \\\"2\\\" \\u00e9\",\"idle\":3,\"extra\":true}]");
    SQ_CHECK (table);
    SQ_CHECK_EQ (sq_table_rows (table), 2);
    char *text = s_printed (table);
    SQ_CHECK_STR (text,
        "NAME          IDLE  LOAD  ROUTE  EXTRA\n"
        "w1              12  -     a,b\n"
        "worker \"2\" \xc3\xa9     3               true\n");
    free (text);
    sq_table_destroy (&table);
    SQ_CHECK (table == NULL);

    table = sq_table_from_json ("[]");
    SQ_CHECK (table);
    text = s_printed (table);
    SQ_CHECK_STR (text, "(none)\n");
    free (text);
    sq_table_destroy (&table);

    //  A control character in a cell cannot move the terminal
    table = sq_table_from_json ("[{\"key\":\"a\\u001b[2Jb\",\"n\":1}]");
    SQ_CHECK (table);
    text = s_printed (table);
    SQ_CHECK_STR (text, "KEY     N\na?[2Jb  1\n");
    free (text);
    sq_table_destroy (&table);

    //  Not an array of objects: no table
    const char *others [] = { "{\"a\":1}", "[1,2]", "[{\"a\":1}", "[{\"a\":1}] x", "PONG", "" };
    for (size_t index = 0; index < sizeof others / sizeof others [0]; index++) {
        table = sq_table_from_json (others [index]);
        SQ_CHECK_MSG (table == NULL, "a table of '%s'", others [index]);
    }
}

//  Rows filled by hand: the widest cell sets the width
static void
test_table_cells (void)
{
    sq_table_t *table = sq_table_new ();
    SQ_CHECK (table);
    SQ_CHECK (!sq_table_cell (table, "a", "x", false));     //  No row yet
    SQ_CHECK (sq_table_row (table));
    SQ_CHECK (sq_table_cell (table, "key", "10.1.2.3", false));
    SQ_CHECK (sq_table_cell (table, "remaining_ms", "5", true));
    SQ_CHECK (sq_table_row (table));
    SQ_CHECK (sq_table_cell (table, "remaining_ms", "123456789012345", true));
    SQ_CHECK (sq_table_cell (table, "key", "::1", false));
    char *text = s_printed (table);
    SQ_CHECK_STR (text,
        "KEY       REMAINING_MS\n"
        "10.1.2.3                5\n"
        "::1       123456789012345\n");
    free (text);
    sq_table_destroy (&table);
}

//  Dotted paths into nested objects, strings copied out unescaped
static void
test_json_scan (void)
{
    const char *json = "{\"pairs\":{\"active\":3,\"total\":10},\"held\":{\"slow_peer\":"
                       "\"dis\\nconnect \\ud83d\\ude00\"},\"paused\":false,\"list\":[1,{}]}";
    const char *value = sq_json_scan_find (json, "pairs.total");
    SQ_CHECK (value && strncmp (value, "10}", 3) == 0);
    value = sq_json_scan_find (json, "pairs");
    const char *end = value? sq_json_scan_value (value, NULL, 0): NULL;
    SQ_CHECK (end && end - value == 23);
    SQ_CHECK (sq_json_scan_find (json, "pairs.none") == NULL);
    SQ_CHECK (sq_json_scan_find (json, "paused.x") == NULL);
    SQ_CHECK (sq_json_scan_find (json, "list.0") == NULL);
    SQ_CHECK (sq_json_scan_find (json, "") == sq_json_scan_space (json));
    char text [64];
    value = sq_json_scan_find (json, "held.slow_peer");
    SQ_CHECK (value && sq_json_scan_string (value, text, sizeof text));
    SQ_CHECK_STR (text, "dis\nconnect \xf0\x9f\x98\x80");
    SQ_CHECK (!sq_json_scan_string (value, text, 8));       //  Too small
    SQ_CHECK (!sq_json_scan_string ("12", text, sizeof text));
    SQ_CHECK (!sq_json_scan_string ("\"open", text, sizeof text));
    SQ_CHECK (sq_json_scan_string ("\"\\udc00\"", text, sizeof text));
    SQ_CHECK_STR (text, "\xef\xbf\xbd");
    SQ_CHECK (sq_json_scan_value ("{\"a\":}", NULL, 0) == NULL);
    SQ_CHECK (sq_json_scan_value ("[1,2", NULL, 0) == NULL);
}

int
main (void)
{
    SQ_RUN (test_arguments_match_the_proxy);
    SQ_RUN (test_table_from_json);
    SQ_RUN (test_table_cells);
    SQ_RUN (test_json_scan);
    return sq_test_summary ();
}
