/*  =========================================================================
    streamq-proxy - command line, signals, and the start of the loop

    What each option is, its default, its help and where it goes come from
    the option table (sq_options); this file reads the command line and
    the configuration file with it, and acts on the options about options:

        --config FILE, --check-config [--bind], --print-config,
        --help, --version, and --help-man, which prints the OPTIONS block
        of the manual page for `make man` (hidden from --help)
    =========================================================================
*/
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include "sq_proxy.h"
#include "sq_options.h"
#include "sq_config.h"
#include "sq_log.h"
#include "sq_version.h"

static void
s_on_signal (int signal_number)
{
    if (signal_number == SIGHUP)
        sq_proxy_request_reload ();
    else
    if (signal_number == SIGUSR1)
        sq_proxy_request_drain ();
    else
        sq_proxy_request_stop ();
}

static void
s_install_signals (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    sigaction (SIGHUP, &action, NULL);
    sigaction (SIGUSR1, &action, NULL);
    signal (SIGPIPE, SIG_IGN);
}

//  What the options about options asked for
typedef struct {
    const char *config_path;    //  --config
    bool check;                 //  --check-config
    bool bind;                  //  --bind
    bool print;                 //  --print-config
} s_meta_t;

//  Where the option being applied comes from, for messages: "" for the
//  command line, "FILE: line N: " for the configuration file
static char s_origin [600];

//  True while SIGHUP reads the configuration again: what is wrong then
//  goes to the log of the running proxy
static bool s_reloading = false;

//  Says what is wrong with the options or the configuration file: at
//  start to whoever started the proxy (in the log's format: one JSON
//  object with --log-format json), during a reload in the log
static void
s_complain (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_complain (const char *format, ...)
{
    char message [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    if (s_reloading)
        sq_error ("reload: %s", message);
    else
        sq_log_failure ("%s", message);
}

//  After a usage error on the command line, where to read more: for a
//  person at a terminal, so not into a JSON log nor during a reload
static void
s_hint (void)
{
    if (!s_reloading && sq_log_format () == SQ_LOG_TEXT)
        fprintf (stderr, "Try 'streamq-proxy --help' for more information.\n");
}

//  Applies one option with its value (NULL: a flag given alone); 0, or
//  the exit code for a bad value
static int
s_apply (const sq_option_t *option, const char *value, sq_proxy_config_t *config)
{
    char expected [512];
    if (!sq_options_apply (option, value, config, expected, sizeof expected)) {
        s_complain ("%sinvalid value '%s' for --%s: expected %s", s_origin,
                    value? value: "", option->name, expected);
        s_hint ();
        return 2;
    }
    //  At start the messages that follow, about the options, are in this
    //  format already; a reload keeps the format in force
    if (strcmp (option->name, "log-format") == 0 && !s_reloading)
        sq_log_set_format (config->log_format);
    return 0;
}

//  Puts the log options in force, before the first line
static void
s_log_open (const sq_proxy_config_t *config)
{
    sq_log_set_format (config->log_format);
    int facility = 0;
    sq_log_facility_parse (config->syslog_facility_name, &facility);
    if (config->syslog && !sq_log_set_syslog (facility, config->syslog_socket))
        sq_warning ("--syslog-socket %s: %s: logging on stderr", config->syslog_socket,
                    strerror (errno));
}

//  An option given on the command line
typedef struct {
    const sq_option_t *option;
    const char *value;
} s_given_t;

//  Acts on an option about options; returns -1 to go on, or an exit code
static int
s_meta_option (const sq_option_t *option, const char *value, s_meta_t *meta)
{
    const char *name = option->name;
    if (strcmp (name, "help") == 0)
        sq_options_usage (stdout);
    else
    if (strcmp (name, "help-man") == 0)
        sq_options_man (stdout);
    else
    if (strcmp (name, "version") == 0)
        printf ("streamq-proxy " SQ_VERSION "\n");
    else {
        if (strcmp (name, "config") == 0)
            meta->config_path = value;
        meta->check |= strcmp (name, "check-config") == 0;
        meta->bind |= strcmp (name, "bind") == 0;
        meta->print |= strcmp (name, "print-config") == 0;
        return -1;
    }
    return 0;
}

//  Reads argv into given []; returns -1 to go on, or an exit code (after
//  --help, --version, or a bad option)
static int
s_read_argv (int argc, char *argv [], s_given_t *given, size_t *count, s_meta_t *meta)
{
    int code;
    opterr = 0;
    optind = 0;                 //  From the start again, on a reload too
    *count = 0;
    while ((code = getopt_long (argc, argv, "", sq_options_getopt (), NULL)) != -1) {
        const sq_option_t *option = code >= 256? sq_options_at ((size_t) code - 256): NULL;
        if (!option) {
            s_complain ("unknown or incomplete option '%s'", argv [optind - 1]);
            s_hint ();
            return 2;
        }
        if (option->flags & SQ_OPTION_META) {
            int exit_code = s_meta_option (option, optarg, meta);
            if (exit_code >= 0)
                return exit_code;
        }
        else
            given [(*count)++] = (s_given_t) { option, optarg };
    }
    if (optind < argc) {
        s_complain ("unexpected argument '%s'", argv [optind]);
        return 2;
    }
    return -1;
}

//  The option a configuration file names, or NULL when it names none
static const sq_option_t *
s_file_option (const char *name)
{
    const sq_option_t *option = sq_options_find (name);
    return option && !(option->flags & SQ_OPTION_META)? option: NULL;
}

static bool
s_given_on_command_line (const s_given_t *given, size_t count, const sq_option_t *option)
{
    for (size_t index = 0; index < count; index++)
        if (given [index].option == option)
            return true;
    return false;
}

//  Applies the file's options, except those the command line gives: the
//  command line overrides the file, a repeatable option as a whole.
//  Returns -1 to go on, or an exit code.
static int
s_apply_file (sq_proxy_config_t *config, const char *path, const s_given_t *given,
              size_t count)
{
    char error [600];
    sq_config_t *file = sq_config_load (path, error, sizeof error);
    if (!file) {
        s_complain ("%s", error);
        return 2;
    }
    config->file = file;
    config->rules = sq_config_rules (file);
    //  The file's log-format first, so that what is wrong in the lines
    //  before it is said in that format
    const sq_option_t *log_format = sq_options_find ("log-format");
    for (size_t index = 0; index < sq_config_count (file); index++) {
        const sq_config_entry_t *entry = sq_config_entry (file, index);
        if (entry->service < 0 && s_file_option (entry->option) == log_format && entry->value
        &&  !s_given_on_command_line (given, count, log_format)
        &&  sq_options_apply (log_format, entry->value, config, error, sizeof error)
        &&  !s_reloading)
            sq_log_set_format (config->log_format);
    }
    for (size_t index = 0; index < sq_config_count (file); index++) {
        const sq_config_entry_t *entry = sq_config_entry (file, index);
        if (entry->service >= 0)
            continue;
        const sq_option_t *option = s_file_option (entry->option);
        snprintf (s_origin, sizeof s_origin, "%s: line %d: ", path, entry->line);
        int code = 0;
        if (!option) {
            s_complain ("%sunknown option '%s'", s_origin, entry->option);
            code = 2;
        }
        else
        if (!s_given_on_command_line (given, count, option))
            code = s_apply (option, entry->value, config);
        if (code)
            return code;
    }
    s_origin [0] = 0;
    return -1;
}

//  -------------------------------------------------------------------------
//  Services: each is the top level's options (the file's and the command
//  line's), then its own

//  True when service `service` of the file sets the option
static bool
s_given_in_service (const sq_config_t *file, int service, const sq_option_t *option)
{
    for (size_t index = 0; index < sq_config_count (file); index++) {
        const sq_config_entry_t *entry = sq_config_entry (file, index);
        if (entry->service == service && s_file_option (entry->option) == option)
            return true;
    }
    return false;
}

//  True when the top level sets the option, in the file or on the command line
static bool
s_given_at_top (const sq_config_t *file, const s_given_t *given, size_t count,
                const sq_option_t *option)
{
    return s_given_in_service (file, -1, option)
        || s_given_on_command_line (given, count, option);
}

//  Applies the top level's options to a service's configuration, except
//  those the service sets: the file's (unless the command line gives
//  them), then the command line's. 0, or an exit code.
static int
s_apply_top (sq_proxy_config_t *config, const sq_config_t *file, const s_given_t *given,
             size_t count)
{
    int service = config->service_index;
    int code = 0;
    for (size_t index = 0; !code && index < sq_config_count (file); index++) {
        const sq_config_entry_t *entry = sq_config_entry (file, index);
        const sq_option_t *option = s_file_option (entry->option);
        if (entry->service < 0 && option && !s_given_on_command_line (given, count, option)
        &&  !s_given_in_service (file, service, option))
            code = s_apply (option, entry->value, config);
    }
    for (size_t index = 0; !code && index < count; index++)
        if (!s_given_in_service (file, service, given [index].option))
            code = s_apply (given [index].option, given [index].value, config);
    return code;
}

//  Applies the service's own options: those of the whole proxy are
//  refused. 0, or an exit code.
static int
s_apply_service (sq_proxy_config_t *config, const sq_config_t *file)
{
    for (size_t index = 0; index < sq_config_count (file); index++) {
        const sq_config_entry_t *entry = sq_config_entry (file, index);
        if (entry->service != config->service_index)
            continue;
        const sq_option_t *option = s_file_option (entry->option);
        snprintf (s_origin, sizeof s_origin, "%s: line %d: ", config->config_path,
                  entry->line);
        if (!option)
            s_complain ("%sunknown option '%s'", s_origin, entry->option);
        else
        if (option->flags & SQ_OPTION_PROXY)
            s_complain ("%s--%s is for the whole proxy, not a service", s_origin,
                        option->name);
        if (!option || (option->flags & SQ_OPTION_PROXY) || s_apply (option, entry->value, config))
            return 2;
    }
    s_origin [0] = 0;
    return 0;
}

//  What a service must set itself: its frontend and backend
static int
s_service_complete (const sq_proxy_config_t *config, const sq_config_t *file)
{
    const char *sides [] = { "frontend", "backend" };
    for (int side = 0; side < 2; side++)
        if (!s_given_in_service (file, config->service_index, sq_options_find (sides [side]))) {
            s_complain ("%s: line %d: service %s: %s is not set", config->config_path,
                        sq_config_service_line (file, (size_t) config->service_index),
                        config->service_name, sides [side]);
            return 2;
        }
    return 0;
}

//  The configuration of service `service` of the file, added to top's
//  services; 0, or an exit code
static int
s_build_service (sq_proxy_config_t *top, size_t service, const s_given_t *given,
                 size_t count)
{
    const sq_config_t *file = top->file;
    sq_proxy_config_t *config = calloc (1, sizeof *config);
    if (!config) {
        s_complain ("out of memory");
        return 2;
    }
    sq_proxy_config_defaults (config);
    top->services [top->service_count++] = config;
    config->service_index = (int) service;
    config->service_name = sq_config_service_name (file, service);
    config->service_file = file;
    config->config_path = top->config_path;
    const char *rules = sq_config_service_rules (file, service);
    config->rules = *rules? rules: top->rules;
    int code = s_apply_top (config, file, given, count);
    if (!code)
        code = s_apply_service (config, file);
    if (!code)
        code = s_service_complete (config, file);
    if (code)
        return code;
    sq_options_finish (config);
    char error [1024];
    if (!sq_options_check (config, error, sizeof error)) {
        s_complain ("service %s: %s", config->service_name, error);
        return 2;
    }
    return 0;
}

//  True for an endpoint whose port the system picks: two services may
//  both ask for one
static bool
s_any_port (const char *endpoint)
{
    size_t length = strlen (endpoint);
    return (length > 2 && strcmp (endpoint + length - 2, ":0") == 0)
        || (length > 2 && strcmp (endpoint + length - 2, ":*") == 0);
}

//  Two services on one endpoint would fail at the bind: said here first
static int
s_services_distinct (const sq_proxy_config_t *top)
{
    for (size_t one = 0; one < top->service_count; one++)
        for (size_t other = 0; other < one; other++) {
            const sq_proxy_config_t *a = top->services [one], *b = top->services [other];
            const char *ends_a [] = { a->frontend, a->backend };
            const char *ends_b [] = { b->frontend, b->backend };
            const char *sides [] = { "frontend", "backend" };
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++)
                    if (strcmp (ends_a [x], ends_b [y]) == 0 && !s_any_port (ends_a [x])) {
                        s_complain ("service %s: its %s %s is service %s's %s too",
                                    a->service_name, sides [x], ends_a [x],
                                    b->service_name, sides [y]);
                        return 2;
                    }
        }
    return 0;
}

//  Builds the configuration of each service the file declares; with
//  services a frontend or backend of the top level is not used (and said
//  so). 0, or an exit code.
static int
s_build_services (sq_proxy_config_t *top, const s_given_t *given, size_t count)
{
    const sq_config_t *file = top->file;
    if (!file || sq_config_service_count (file) == 0)
        return 0;
    const char *sides [] = { "frontend", "backend" };
    for (int side = 0; side < 2; side++)
        if (s_given_at_top (file, given, count, sq_options_find (sides [side])))
            sq_warning ("--%s is not used: services are declared, and each sets its own",
                        sides [side]);
    int code = 0;
    for (size_t service = 0; !code && service < sq_config_service_count (file); service++)
        code = s_build_service (top, service, given, count);
    return code? code: s_services_distinct (top);
}

//  --log-format on the command line, put in force before anything else is
//  read, so that a bad option before it is said in that format too
static void
s_log_format_early (int argc, char *argv [])
{
    for (int index = 1; index < argc && strcmp (argv [index], "--") != 0; index++) {
        const char *value = NULL;
        sq_log_format_t format;
        if (strcmp (argv [index], "--log-format") == 0 && index + 1 < argc)
            value = argv [++index];
        else
        if (strncmp (argv [index], "--log-format=", 13) == 0)
            value = argv [index] + 13;
        if (value && sq_log_format_parse (value, &format))
            sq_log_set_format (format);
    }
}

//  Fills config from the configuration file, if any, then argv, and
//  checks the rules between options; returns -1 to go on, or an exit code
static int
s_parse_args (int argc, char *argv [], sq_proxy_config_t *config, s_meta_t *meta)
{
    s_given_t *given = calloc ((size_t) argc + 1, sizeof (s_given_t));
    size_t count = 0;
    int code = given? s_read_argv (argc, argv, given, &count, meta): 2;
    config->config_path = meta->config_path;
    if (code < 0 && meta->config_path)
        code = s_apply_file (config, meta->config_path, given, count);
    for (size_t index = 0; code < 0 && index < count; index++)
        code = s_apply (given [index].option, given [index].value, config)? 2: -1;
    if (code < 0) {
        sq_options_finish (config);
        char error [1024];
        if (!sq_options_check (config, error, sizeof error)) {
            s_complain ("%s", error);
            code = 2;
        }
    }
    if (code < 0 && s_build_services (config, given, count))
        code = 2;
    free (given);
    return code;
}

//  The command line, kept for SIGHUP: the file is read again with it
static int s_argc;
static char **s_argv;

//  Reads the configuration again into fresh (the loop's SIGHUP); false
//  (with the reason in the log) when it is not valid
static bool
s_reload (sq_proxy_config_t *fresh)
{
    s_meta_t meta = { NULL, false, false, false };
    s_reloading = true;
    bool valid = s_parse_args (s_argc, s_argv, fresh, &meta) < 0;
    s_reloading = false;
    return valid;
}

//  --check-config: what the start would find wrong, without starting;
//  with --bind, the endpoints are bound and released too
static int
s_check_config (const sq_proxy_config_t *config, bool bind)
{
    char error [2048];
    if (!sq_proxy_check_names (config, error, sizeof error)
    ||  (bind && !sq_proxy_check_bind (config, error, sizeof error))) {
        s_complain ("%s", error);
        return 2;
    }
    printf ("streamq-proxy: configuration OK%s%s%s\n", config->config_path? ": ": "",
            config->config_path? config->config_path: "", bind? " (endpoints bound)": "");
    return 0;
}

int
main (int argc, char *argv [])
{
    sq_proxy_config_t config;
    sq_proxy_config_defaults (&config);
    s_meta_t meta = { NULL, false, false, false };
    s_log_format_early (argc, argv);
    int code = s_parse_args (argc, argv, &config, &meta);
    if (code < 0 && meta.bind && !meta.check) {
        s_complain ("--bind goes with --check-config");
        s_hint ();
        code = 2;
    }
    if (code < 0 && meta.check)
        code = s_check_config (&config, meta.bind);
    if (code < 0 && meta.print) {
        sq_options_print (&config, stdout);
        code = 0;
    }
    if (code < 0) {
        s_argc = argc;
        s_argv = argv;
        config.reload = s_reload;
        s_install_signals ();
        s_log_open (&config);
        sq_log_set_level (config.log_level);
        sq_info ("streamq-proxy %s starting%s%s", SQ_VERSION,
                 config.config_path? " with ": "",
                 config.config_path? config.config_path: "");
        code = sq_proxy_run (&config);
    }
    sq_proxy_config_clear (&config);
    return code;
}
