/*  =========================================================================
    test_options - the option table: every entry complete, its defaults
    the core's, its ranges enforced, endpoints checked for their form,
    the rules between options, --help wrapped and complete, what
    --print-config prints read back to the same configuration, the
    reload's kept values, and the example file's commented lines valid
    once uncommented
    =========================================================================
*/
#include <ctype.h>
#include "sq_test.h"
#include "sq_options.h"
#include "sq_config.h"
#include "sq_file.h"

SQ_TEST_DEFINE

//  A value each option takes that is not its default
static const char *
s_sample (const sq_option_t *option, char *text, size_t size)
{
    struct { const char *name, *value; } odd [] = {
        { "frontend", "tcp://127.0.0.1:7001" }, { "backend", "tcp://[::1]:7002" },
        { "control", "ipc:///tmp/streamq-control" }, { "log-level", "debug" },
        { "log-format", "json" }, { "syslog-facility", "local3" },
        { "metrics", "http://127.0.0.1:9100/metrics" }, { "tcp-keepalive", "on" },
        { "frontend-tcp-keepalive", "60:10:5" }, { "backend-tcp-keepalive", "off" },
        { "frontend-allow", "10.0.0.0/8,192.0.2.7" }, { "frontend-deny", "10.0.0.66" },
        { "backend-allow", "fd00::/8" }, { "backend-deny", "192.0.2.1" },
        { "frontend-mechanisms", "CURVE" }, { "backend-mechanisms", "CURVE,PLAIN" },
        { "max-pair-buffer", "1M" }, { "max-buffer", "2G" },
    };
    for (size_t index = 0; index < sizeof odd / sizeof odd [0]; index++)
        if (strcmp (odd [index].name, option->name) == 0)
            return odd [index].value;
    switch (option->type) {
        case SQ_OPTION_FLAG:    return "true";
        case SQ_OPTION_CHOICE:  return option->choices [0];
        case SQ_OPTION_STRING:  return "/etc/streamq/some-file";
        default:
            snprintf (text, size, "%lld", option->max - 1);
            return text;
    }
}

//  What sq_options_print writes, as a string (caller frees)
static char *
s_printed (const sq_proxy_config_t *config)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    sq_options_print (config, out);
    fclose (out);
    return text;
}

//  Reads configuration text as main does: each entry through the table
static bool
s_read (const char *text, sq_proxy_config_t *config, sq_config_t **file_p)
{
    char error [512], expected [512];
    sq_options_defaults (config);
    *file_p = sq_config_parse (text, error, sizeof error);
    SQ_CHECK_MSG (*file_p, "%s", error);
    for (size_t index = 0; index < sq_config_count (*file_p); index++) {
        const sq_config_entry_t *entry = sq_config_entry (*file_p, index);
        const sq_option_t *option = sq_options_find (entry->option);
        SQ_CHECK_MSG (option && !(option->flags & SQ_OPTION_META), "'%s'", entry->option);
        if (!sq_options_apply (option, entry->value, config, expected, sizeof expected)) {
            fprintf (stderr, "%s = %s: expected %s\n", entry->option,
                     entry->value? entry->value: "", expected);
            return false;
        }
    }
    config->rules = sq_config_rules (*file_p);
    sq_options_finish (config);
    return true;
}

//  Every entry says what it is, where it goes and what it defaults to;
//  names are unique; the getopt table is the table
static void
test_table_complete (void)
{
    const struct option *getopt = sq_options_getopt ();
    SQ_CHECK (sq_options_count () > 40);
    for (size_t index = 0; index < sq_options_count (); index++) {
        const sq_option_t *option = sq_options_at (index);
        SQ_CHECK_MSG (option->help && *option->help, "--%s has no help", option->name);
        SQ_CHECK (option->group < SQ_GROUP_COUNT);
        SQ_CHECK (*sq_options_group_title (option->group));
        SQ_CHECK_MSG ((option->type == SQ_OPTION_FLAG) == (option->arg == NULL),
                      "--%s: a flag has no argument, an option one", option->name);
        SQ_CHECK_MSG (option == sq_options_find (option->name), "--%s twice", option->name);
        SQ_CHECK_STR (getopt [index].name, option->name);
        SQ_CHECK_EQ (getopt [index].val, 256 + (int) index);
        if (option->flags & SQ_OPTION_META)
            continue;
        SQ_CHECK_MSG (option->size > 0, "--%s has no field", option->name);
        SQ_CHECK_MSG (option->type == SQ_OPTION_FLAG || option->fallback || option->unset,
                      "--%s has no default", option->name);
        SQ_CHECK_MSG (option->type != SQ_OPTION_CUSTOM
                      || (option->parse && option->print), "--%s", option->name);
        SQ_CHECK_MSG (option->type != SQ_OPTION_CHOICE || option->choices, "--%s",
                      option->name);
    }
    SQ_CHECK (getopt [sq_options_count ()].name == NULL);
    SQ_CHECK (sq_options_find ("nonsense") == NULL);
}

//  The table's defaults are the core's own, and each default reads back
//  as itself
static void
test_defaults (void)
{
    sq_proxy_config_t config;
    sq_options_defaults (&config);
    sq_core_config_t core;
    memset (&core, 0, sizeof core);
    sq_core_config_defaults (&core);
    SQ_CHECK (memcmp (&core, &config.core, sizeof core) == 0);
    SQ_CHECK_EQ (config.max_connections, -1);
    SQ_CHECK_STR (config.frontend, "tcp://*:5555");
    SQ_CHECK (!config.keepalive [SQ_BACKEND].on);
    for (size_t index = 0; index < sq_options_count (); index++) {
        const sq_option_t *option = sq_options_at (index);
        char text [256];
        const char *value = sq_options_text (option, &config, text, sizeof text);
        if (option->fallback)
            SQ_CHECK_MSG (value && strcmp (value, option->fallback) == 0,
                          "--%s: default %s reads back as %s", option->name,
                          option->fallback, value? value: "(null)");
        else
        if (option->unset && option->type != SQ_OPTION_CUSTOM)
            SQ_CHECK_MSG (value == NULL, "--%s is set by default", option->name);
    }
}

//  Numbers take their range and nothing past it
static void
test_ranges (void)
{
    sq_proxy_config_t config;
    sq_options_defaults (&config);
    char expected [512], value [64];
    for (size_t index = 0; index < sq_options_count (); index++) {
        const sq_option_t *option = sq_options_at (index);
        if (option->type != SQ_OPTION_MS && option->type != SQ_OPTION_COUNT)
            continue;
        long long edges [] = { option->min, option->max, option->min - 1, option->max + 1 };
        for (int edge = 0; edge < 4; edge++) {
            snprintf (value, sizeof value, "%lld", edges [edge]);
            bool valid = sq_options_apply (option, value, &config, expected, sizeof expected);
            SQ_CHECK_MSG (valid == (edge < 2), "--%s %s", option->name, value);
            if (!valid)
                SQ_CHECK_MSG (strstr (expected, "a whole number from"), "%s", expected);
        }
        SQ_CHECK (!sq_options_apply (option, "12x", &config, expected, sizeof expected));
        SQ_CHECK (!sq_options_apply (option, "", &config, expected, sizeof expected));
    }
    const sq_option_t *queue = sq_options_find ("queue-timeout");
    SQ_CHECK (!sq_options_apply (queue, "0", &config, expected, sizeof expected));
    SQ_CHECK_STR (expected, "a whole number from 1 to 86400000 (milliseconds)");
    const sq_option_t *per_ip = sq_options_find ("max-connections-per-ip");
    SQ_CHECK (!sq_options_apply (per_ip, "-1", &config, expected, sizeof expected));
    SQ_CHECK_STR (expected, "a whole number from 0 (no limit) to 10000000");
    const sq_option_t *buffer = sq_options_find ("max-pair-buffer");
    SQ_CHECK (sq_options_apply (buffer, "64k", &config, expected, sizeof expected));
    SQ_CHECK_EQ (config.core.max_pair_buffer, 64 * 1024);
    SQ_CHECK (!sq_options_apply (buffer, "63K", &config, expected, sizeof expected));
    SQ_CHECK_STR (expected, "a byte count from 64K to 1024G (suffix K, M or G)");
    SQ_CHECK (!sq_options_apply (buffer, "1025G", &config, expected, sizeof expected));
    SQ_CHECK (!sq_options_apply (buffer, "8MB", &config, expected, sizeof expected));
    const sq_option_t *slow = sq_options_find ("slow-peer");
    SQ_CHECK (!sq_options_apply (slow, "fast", &config, expected, sizeof expected));
    SQ_CHECK_STR (expected, "'disconnect' or 'block'");
    SQ_CHECK (sq_options_apply (slow, "block", &config, expected, sizeof expected));
    SQ_CHECK (config.core.slow_peer_block);
    const sq_option_t *flag = sq_options_find ("control-open-read");
    SQ_CHECK (!sq_options_apply (flag, "maybe", &config, expected, sizeof expected));
    SQ_CHECK (sq_options_apply (flag, NULL, &config, expected, sizeof expected));
    SQ_CHECK (config.control_auth.open_read);
    SQ_CHECK (sq_options_apply (flag, "off", &config, expected, sizeof expected));
    SQ_CHECK (!config.control_auth.open_read);
    SQ_CHECK (!sq_options_apply (queue, NULL, &config, expected, sizeof expected));
    SQ_CHECK_STR (expected, "a value (name = value)");
}

//  Endpoints are checked for their form as they are read
static void
test_endpoints (void)
{
    sq_proxy_config_t config;
    sq_options_defaults (&config);
    const sq_option_t *frontend = sq_options_find ("frontend");
    const char *good [] = {
        "tcp://*:5555", "tcp://127.0.0.1:0", "tcp://*:*", "tcp://[::]:5555",
        "tcp://[fe80::1%eth0]:65535", "tcp://eth0:5555", "ipc:///run/streamq/frontend",
        "ipc://@abstract"
    };
    const char *bad [] = {
        "foo://bar", "tcp://127.0.0.1:99999", "tcp://127.0.0.1:65536", "tcp://127.0.0.1",
        "tcp://:5555", "tcp://127.0.0.1:-1", "tcp://127.0.0.1:+5", "tcp://[::1:5555",
        "tcp://[zz]:5555", "tcp://a b:5555", "ipc://", "inproc://x", "", "tcp://[]:1"
    };
    char expected [512];
    for (size_t index = 0; index < sizeof good / sizeof good [0]; index++)
        SQ_CHECK_MSG (sq_options_apply (frontend, good [index], &config, expected,
                                        sizeof expected), "%s: %s", good [index], expected);
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        SQ_CHECK_MSG (!sq_options_apply (frontend, bad [index], &config, expected,
                                         sizeof expected), "%s accepted", bad [index]);
        SQ_CHECK (strstr (expected, "tcp://HOST:PORT"));
    }
    SQ_CHECK (!sq_options_apply (frontend, "tcp://127.0.0.1:99999", &config, expected,
                                 sizeof expected));
    SQ_CHECK (strstr (expected, "the port '99999' is not * nor 0 to 65535"));
}

//  The rules between options, one check for all
static void
test_rules_between_options (void)
{
    char error [512];
    sq_proxy_config_t config;
    sq_options_defaults (&config);
    SQ_CHECK (sq_options_check (&config, error, sizeof error));
    config.control_auth.clients_dir = "clients";
    SQ_CHECK (!sq_options_check (&config, error, sizeof error));
    SQ_CHECK_STR (error, "--control-clients and --control-open-read need --control-key FILE");
    config.control_auth.clients_dir = NULL;
    config.control_auth.open_read = true;
    SQ_CHECK (!sq_options_check (&config, error, sizeof error));
    config.control_auth.key_file = "proxy_secret";
    SQ_CHECK (!sq_options_check (&config, error, sizeof error));
    SQ_CHECK (strstr (error, "--control-key needs --control-clients DIR"));
    config.control_auth.clients_dir = "clients";
    SQ_CHECK (sq_options_check (&config, error, sizeof error));
    config.core.max_pair_buffer = config.core.max_buffer + 1;
    SQ_CHECK (!sq_options_check (&config, error, sizeof error));
    SQ_CHECK (strstr (error, "is larger than --max-buffer"));
    sq_options_defaults (&config);
    config.rules = "ROUTE a\n";
    config.config_path = "streamq.cfg";
    SQ_CHECK (!sq_options_check (&config, error, sizeof error));
    SQ_CHECK (strstr (error, "streamq.cfg: line 0: usage: ROUTE"));
}

//  --help: lines of at most 80 columns, each option that is not hidden
//  on a line of its own once, the groups in order with their README line
static void
test_help (void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    sq_options_usage (out);
    fclose (out);
    for (const char *line = text; *line; line += strcspn (line, "\n") + 1)
        SQ_CHECK_MSG (strcspn (line, "\n") <= 80, "too long: %.*s",
                      (int) strcspn (line, "\n"), line);
    for (size_t index = 0; index < sq_options_count (); index++) {
        const sq_option_t *option = sq_options_at (index);
        char tag [80];
        snprintf (tag, sizeof tag, "\n  --%s ", option->name);
        const char *at = strstr (text, tag);
        bool hidden = option->flags & SQ_OPTION_HIDDEN;
        SQ_CHECK_MSG ((at != NULL) != hidden, "--%s in --help: %s", option->name,
                      at? "yes": "no");
        SQ_CHECK_MSG (!at || !strstr (at + 1, tag), "--%s twice in --help", option->name);
    }
    const char *last = text;
    for (int group = SQ_GROUP_HANDSHAKES; group < SQ_GROUP_OTHER; group++) {
        char heading [160];
        snprintf (heading, sizeof heading, "\n%s (see README, \"",
                  sq_options_group_title ((sq_option_group_t) group));
        const char *at = strstr (text, heading);
        SQ_CHECK_MSG (at && at > last, "no heading %s", heading + 1);
        last = at;
    }
    free (text);
}

//  What --print-config prints reads back to the same configuration,
//  every option set to something else than its default
static void
test_print_reads_back (void)
{
    sq_proxy_config_t config;
    sq_options_defaults (&config);
    char expected [512], text [64];
    for (size_t index = 0; index < sq_options_count (); index++) {
        const sq_option_t *option = sq_options_at (index);
        if (option->flags & SQ_OPTION_META)
            continue;
        const char *value = s_sample (option, text, sizeof text);
        SQ_CHECK_MSG (sq_options_apply (option, value, &config, expected, sizeof expected),
                      "--%s %s: %s", option->name, value, expected);
    }
    config.rules = "ALIAS backend 10.0.1.0/24 billing\nWEIGHT billing-1 3\n";
    sq_options_finish (&config);
    char *printed = s_printed (&config);
    SQ_CHECK (!strstr (printed, "(not set"));
    sq_proxy_config_t again;
    sq_config_t *file = NULL;
    SQ_CHECK (s_read (printed, &again, &file));
    char *reprinted = s_printed (&again);
    SQ_CHECK_STR (reprinted, printed);
    SQ_CHECK_EQ (again.keepalive [SQ_FRONTEND].idle_s, 60);
    SQ_CHECK (!again.keepalive [SQ_BACKEND].on);
    free (printed);
    free (reprinted);
    sq_proxy_config_t *both [] = { &config, &again };
    for (int index = 0; index < 2; index++)
        for (int side = 0; side < 2; side++) {
            sq_access_destroy (&both [index]->access [side]);
            free (both [index]->mechanisms [side]);
        }
    sq_config_destroy (&file);
}

//  --tcp-keepalive goes to each side whose own option was not given,
//  whatever the order
static void
test_keepalive_sides (void)
{
    sq_proxy_config_t config;
    sq_options_defaults (&config);
    char expected [128];
    SQ_CHECK (sq_options_apply (sq_options_find ("backend-tcp-keepalive"), "off", &config,
                                expected, sizeof expected));
    SQ_CHECK (sq_options_apply (sq_options_find ("tcp-keepalive"), "30:5:3", &config,
                                expected, sizeof expected));
    sq_options_finish (&config);
    SQ_CHECK (config.keepalive [SQ_FRONTEND].on);
    SQ_CHECK_EQ (config.keepalive [SQ_FRONTEND].count, 3);
    SQ_CHECK (!config.keepalive [SQ_BACKEND].on);
    SQ_CHECK (!sq_options_apply (sq_options_find ("tcp-keepalive"), "30:5", &config,
                                 expected, sizeof expected));
    SQ_CHECK_STR (expected, "off, on, or IDLE:INTERVAL:COUNT (seconds)");
}

//  A reload keeps the running value of what needs a restart, and takes
//  the rest from the file read again
static void
test_keep_running (void)
{
    sq_proxy_config_t running, fresh;
    sq_options_defaults (&running);
    sq_options_defaults (&fresh);
    running.frontend = "tcp://127.0.0.1:1";
    running.io_threads = 2;
    running.keepalive [SQ_BACKEND].on = true;
    running.syslog_facility_name = "local1";
    fresh.frontend = "tcp://127.0.0.1:2";
    fresh.io_threads = 3;
    fresh.core.max_queue = 5;
    fresh.log_level = SQ_LOG_DEBUG;
    fresh.control_auth.open_read = true;
    sq_options_keep_running (&running, &fresh);
    SQ_CHECK_STR (fresh.frontend, "tcp://127.0.0.1:1");
    SQ_CHECK_EQ (fresh.io_threads, 2);
    SQ_CHECK (fresh.keepalive [SQ_BACKEND].on);
    SQ_CHECK_STR (fresh.syslog_facility_name, "local1");
    SQ_CHECK (!fresh.control_auth.open_read);
    SQ_CHECK_EQ (fresh.core.max_queue, 5);
    SQ_CHECK_EQ (fresh.log_level, SQ_LOG_DEBUG);
}

//  True when the commented section at line holds a child with children
//  of its own ("#services", "#    billing", "#        frontend = ...")
static bool
s_nested_section (const char *line)
{
    for (line += strcspn (line, "\n"); *line == '\n' && strncmp (line + 1, "#    ", 5) == 0;
         line += 1 + strcspn (line + 1, "\n"))
        if (strncmp (line + 1, "#        ", 9) == 0 && line [10] != ' ')
            return true;
    return false;
}

//  Uncommenting an option's line in examples/streamq.cfg (with its
//  commented parent, for a child) gives a valid file. A commented block
//  nested deeper (the services) is uncommented as a whole, which
//  test_services checks.
static void
test_example_uncomments (void)
{
    char error [256];
    char *example = sq_file_read ("examples/streamq.cfg", 1 << 20, error, sizeof error);
    SQ_CHECK_MSG (example, "%s", error);
    size_t tried = 0;
    const char *parent = NULL;
    bool in_nested = false;
    for (const char *line = example; *line; line += strcspn (line, "\n") + 1) {
        size_t length = strcspn (line, "\n");
        const char *name = line + 1 + strspn (line + 1, " ");
        size_t indent = (size_t) (name - line - 1);
        bool option = *line == '#' && islower ((unsigned char) *name)
                   && (strstr (name, " = ") && strstr (name, " = ") < line + length);
        bool section = *line == '#' && islower ((unsigned char) *name) && indent == 0
                    && name [strspn (name, "abcdefghijklmnopqrstuvwxyz-")] == '\n';
        if (*line != '#' && *line != '\n' && *line != ' ')
            parent = NULL;          //  A live line: a child would go under it
        if (section) {
            parent = line;
            in_nested = s_nested_section (line);
            //  test_services checks that one as a whole; another would go
            //  unchecked
            SQ_CHECK_MSG (!in_nested || strncmp (line, "#services\n", 10) == 0,
                          "a nested commented block: %.*s", (int) length, line);
        }
        else
        if (strncmp (line, "#    ", 5) != 0)
            in_nested = false;      //  The end of a commented block
        if (!option || in_nested)
            continue;
        //  The text with this line (and its commented parent) uncommented
        size_t size = strlen (example) + 1;
        char *text = malloc (size);
        SQ_CHECK (text);
        size_t to = 0;
        for (const char *from = example; *from; from++)
            if (!((from == line || (indent && from == parent)) && *from == '#'))
                text [to++] = *from;
        text [to] = 0;
        sq_proxy_config_t config;
        sq_config_t *file = NULL;
        SQ_CHECK_MSG (s_read (text, &config, &file), "uncommented: %.*s", (int) length, line);
        for (int side = 0; side < 2; side++) {
            sq_access_destroy (&config.access [side]);
            free (config.mechanisms [side]);
        }
        sq_config_destroy (&file);
        free (text);
        tried++;
    }
    SQ_CHECK (tried >= 10);
    free (example);
}

int
main (void)
{
    SQ_RUN (test_table_complete);
    SQ_RUN (test_defaults);
    SQ_RUN (test_ranges);
    SQ_RUN (test_endpoints);
    SQ_RUN (test_rules_between_options);
    SQ_RUN (test_help);
    SQ_RUN (test_print_reads_back);
    SQ_RUN (test_keepalive_sides);
    SQ_RUN (test_keep_running);
    SQ_RUN (test_example_uncomments);
    return sq_test_summary ();
}
