/*  =========================================================================
    sq_options - the proxy's options, each described once in one table

    The parsers and printers of the odd options come first, then the
    table, then what reads, prints and explains options from it.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <ctype.h>
#include <stdint.h>
#include <zmq.h>
#include "sq_options.h"
#include "sq_access.h"
#include "sq_greeting.h"
#include "sq_prometheus.h"
#include "sq_routes.h"
#include "sq_log.h"
#include "sq_version.h"

//  Where an option's value lives in a config
static void *
s_field (const sq_option_t *option, sq_proxy_config_t *config)
{
    return (char *) config + option->offset;
}

//  The same, to read
static const void *
s_field_const (const sq_option_t *option, const sq_proxy_config_t *config)
{
    return (const char *) config + option->offset;
}

//  -------------------------------------------------------------------------
//  The odd options: their own parse and print

//  A string option's text (syslog-facility, metrics)
static const char *
s_print_string (const sq_option_t *option, const sq_proxy_config_t *config,
                char *text, size_t size)
{
    (void) text;
    (void) size;
    return *(const char *const *) s_field_const (option, config);
}

//  --log-level: error, warning, info or debug (any case, as sq_log reads them)
static bool
s_parse_log_level (const sq_option_t *option, const char *value,
                   sq_proxy_config_t *config, char *expected, size_t size)
{
    (void) option;
    (void) expected;
    (void) size;
    return sq_log_level_parse (value, &config->log_level);
}

//  The level's name
static const char *
s_print_log_level (const sq_option_t *option, const sq_proxy_config_t *config,
                   char *text, size_t size)
{
    (void) option;
    (void) text;
    (void) size;
    return sq_log_level_name (config->log_level);
}

//  The format is put in force as the proxy starts (and, for what is said
//  about the options, by main as soon as it is read)
static bool
s_parse_log_format (const sq_option_t *option, const char *value,
                    sq_proxy_config_t *config, char *expected, size_t size)
{
    (void) option;
    (void) expected;
    (void) size;
    return sq_log_format_parse (value, &config->log_format);
}

//  The format's name
static const char *
s_print_log_format (const sq_option_t *option, const sq_proxy_config_t *config,
                    char *text, size_t size)
{
    (void) option;
    (void) text;
    (void) size;
    return config->log_format == SQ_LOG_JSON? "json": "text";
}

//  The facility is kept by name, and turned into syslog's number when
//  the log opens
static bool
s_parse_facility (const sq_option_t *option, const char *value,
                  sq_proxy_config_t *config, char *expected, size_t size)
{
    (void) option;
    (void) expected;
    (void) size;
    int facility;
    if (!sq_log_facility_parse (value, &facility))
        return false;
    config->syslog_facility_name = value;
    return true;
}

//  --metrics http://HOST:PORT/PATH: checked here, so that a bad URL stops
//  --check-config and the start alike; bound when the proxy starts
static bool
s_parse_metrics (const sq_option_t *option, const char *value,
                 sq_proxy_config_t *config, char *expected, size_t size)
{
    (void) option;
    sq_prometheus_url_t parsed;
    char reason [256];
    if (!sq_prometheus_url_parse (value, &parsed, reason, sizeof reason)) {
        snprintf (expected, size, "http://HOST:PORT/PATH, e.g. "
                  "http://127.0.0.1:9100/metrics; here %s", reason);
        return false;
    }
    config->metrics = value;
    return true;
}

//  "off", "on" or "IDLE:INTERVAL:COUNT" (seconds, counts >= 1). The
//  side-specific options win over --tcp-keepalive whatever their order:
//  it is kept aside, and sq_options_finish gives it to the other sides.
static bool
s_parse_keepalive (const sq_option_t *option, const char *value,
                   sq_proxy_config_t *config, char *expected, size_t size)
{
    (void) expected;
    (void) size;
    sq_keepalive_t parsed = { strcmp (value, "on") == 0, -1, -1, -1 };
    if (strcmp (value, "off") != 0 && strcmp (value, "on") != 0) {
        int idle, interval, count, used = 0;
        if (sscanf (value, "%d:%d:%d%n", &idle, &interval, &count, &used) != 3
        ||  value [used] || idle < 1 || interval < 1 || count < 1
        ||  idle > 86400 || interval > 86400 || count > 1000)
            return false;
        parsed = (sq_keepalive_t) { true, idle, interval, count };
    }
    if (option->side < 0)
        config->keepalive_both = parsed;
    else {
        config->keepalive [option->side] = parsed;
        config->keepalive_given [option->side] = true;
    }
    return true;
}

//  A side's keepalive; --tcp-keepalive shows the frontend's
static const char *
s_print_keepalive (const sq_option_t *option, const sq_proxy_config_t *config,
                   char *text, size_t size)
{
    const sq_keepalive_t *keepalive = &config->keepalive [option->side < 0? SQ_FRONTEND
                                                                          : option->side];
    if (!keepalive->on || keepalive->idle_s < 0)
        return keepalive->on? "on": "off";
    snprintf (text, size, "%d:%d:%d", keepalive->idle_s, keepalive->interval_s,
              keepalive->count);
    return text;
}

//  --frontend-allow and the like: lists of IPs and CIDRs, repeatable
static bool
s_parse_access (const sq_option_t *option, const char *value,
                sq_proxy_config_t *config, char *expected, size_t size)
{
    sq_access_t **access = &config->access [option->side];
    if (!*access)
        *access = sq_access_new ();
    snprintf (expected, size, "out of memory");
    if (!*access || !sq_access_add (*access, option->allow, value, expected, size))
        return false;
    config->core.limits.access [option->side] = *access;
    return true;
}

//  The allow or the deny list of a side, comma-separated; NULL when empty
static const char *
s_print_access (const sq_option_t *option, const sq_proxy_config_t *config,
                char *text, size_t size)
{
    const sq_access_t *access = config->access [option->side];
    if (!access)
        return NULL;
    sq_access_text (access, option->allow, text, size);
    return *text? text: NULL;
}

//  --frontend-mechanisms CURVE,PLAIN: names as ZMTP spells them, any case
static bool
s_parse_mechanisms (const sq_option_t *option, const char *value,
                    sq_proxy_config_t *config, char *expected, size_t size)
{
    (void) expected;
    (void) size;
    char *list = strdup (value);
    for (char *cursor = list; cursor && *cursor; cursor++)
        *cursor = (char) toupper ((unsigned char) *cursor);
    if (!list || !sq_greeting_mechanisms_valid (list)) {
        free (list);
        return false;
    }
    free (config->mechanisms [option->side]);
    config->mechanisms [option->side] = list;
    config->core.mechanisms [option->side] = list;
    return true;
}

//  A side's mechanisms, as stored (in capitals); NULL: any
static const char *
s_print_mechanisms (const sq_option_t *option, const sq_proxy_config_t *config,
                    char *text, size_t size)
{
    (void) text;
    (void) size;
    return config->mechanisms [option->side];
}

//  -------------------------------------------------------------------------
//  The table: one entry an option, in the order of --help. An entry gives
//    name, arg         --name ARG; the file's name is the same
//    type, min, max    what the value is (see sq_option_type_t)
//    fallback          the default, as a value; zero: what 0 means;
//                      unset: what no value means, when there is no default
//    help, man         --help's text; the manual page's, in roff, when it
//                      says more (its default sentence is added to it)
//    group, flags      where --help shows it; SQ_OPTION_LIVE when SIGHUP
//                      changes it in a running proxy
//    S_AT (field)      where its value goes in sq_proxy_config_t

//  Where an option's value goes
#define S_AT(field) .offset = offsetof (sq_proxy_config_t, field), \
                    .size = sizeof (((sq_proxy_config_t *) 0)->field)

//  Every number of milliseconds is at most a day
#define S_DAY_MS 86400000LL

static const char *const s_fallback_words [] = { "wait", "any", NULL };
static const char *const s_slow_peer_words [] = { "disconnect", "block", NULL };
//  In the order of sq_engine_kind_t
static const char *const s_engine_words [] = { "stream", "splice", NULL };

static const sq_option_t s_table [] = {
    //  -----------------------------------------------------------------
    //  Endpoints and general options
    { .name = "frontend", .arg = "EP", .type = SQ_OPTION_ENDPOINT,
      .fallback = "tcp://*:5555", S_AT (frontend),
      .help = "where clients connect",
      .man = "Where clients connect." },
    { .name = "backend", .arg = "EP", .type = SQ_OPTION_ENDPOINT,
      .fallback = "tcp://127.0.0.1:5556", S_AT (backend),
      .help = "where workers connect. Any peer that reaches the backend can serve "
              "clients: keep it private (loopback, VPN, firewall). A warning is logged "
              "when other hosts reach it with neither --backend-allow nor "
              "--backend-mechanisms CURVE.",
      .man = "Where workers connect.\n"
             "Any peer that reaches the backend can serve clients: keep it private\n"
             "(loopback, VPN, firewall).\n"
             "Bound where other hosts reach it, with neither\n"
             ".B \\-\\-backend\\-allow\n"
             "nor\n"
             ".BR \"\\-\\-backend\\-mechanisms CURVE\" ,\n"
             "it is logged as a warning at start-up." },
    { .name = "control", .arg = "EP", .type = SQ_OPTION_ENDPOINT,
      .fallback = "tcp://127.0.0.1:5557", .flags = SQ_OPTION_PROXY, S_AT (control),
      .help = "control socket (REQ/DEALER)",
      .man = "The control socket, for REQ and DEALER clients.\n"
             "The proxy warns at start-up when it is bound where other hosts can reach it." },
    { .name = "engine", .arg = "NAME", .type = SQ_OPTION_CHOICE,
      .choices = s_engine_words, .fallback = "stream", .flags = SQ_OPTION_PROXY, S_AT (engine),
      .help = "what carries the peers' bytes: 'stream' (two ZMQ_STREAM sockets) or "
              "'splice' (the proxy's own TCP sockets: back-pressure per connection, "
              "and once a pair's handshake is over it moves the bytes with large "
              "buffers or splice(2); tcp:// endpoints only)",
      .man = "What carries the peers' bytes.\n"
             ".B stream\n"
             "(the default): two ZMQ_STREAM sockets, as the requirements name.\n"
             ".B splice\n"
             "accepts the TCP connections itself, with back-pressure per connection,\n"
             "and once a pair's handshake is over moves its bytes with large buffers or\n"
             "splice(2), out of the core's way; tcp:// endpoints only." },
    { .name = "yield-below", .arg = "SIZE", .type = SQ_OPTION_SIZE, .min = 0,
      .max = 1LL << 30, .fallback = "64K", .zero = "never", .flags = SQ_OPTION_PROXY,
      S_AT (yield_below),
      .help = "with --engine splice: after a turn that moved fewer bytes than this "
              "(but some), give the CPU to the peers it woke before looking for more; "
              "K, M, G suffixes",
      .man = "With\n"
             ".BR \\-\\-engine\\ splice :\n"
             "after a turn of the event loop that moved fewer bytes than this, but\n"
             "some, the proxy gives up the CPU once\n"
             ".RB ( sched_yield (2))\n"
             "before it sleeps: the peers those bytes woke run first, and the next\n"
             "turn carries more bytes instead of sleeping and being woken for each\n"
             "small batch. Where the proxy shares CPUs with its peers this cut its CPU\n"
             "per byte by up to half in the benchmarks; on a host with idle CPUs it\n"
             "costs one system call per turn. The proxy judges its yields 64 at a\n"
             "time. When they kept it off the CPU for 1 ms or more each on average, a\n"
             "process that computes shares its CPU and a yield would delay the proxy\n"
             "by its time slice: the proxy stops yielding for a second, longer while\n"
             "that lasts (up to 32 s). When fewer than 8 of them found new bytes\n"
             "waiting, the peers answer one message at a time, there is no batch to\n"
             "gather, and a yield would only add to each round trip: the proxy stops\n"
             "yielding for a second, then looks again. Both log at debug level." },
    { .name = "log-level", .arg = "LEVEL", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_log_level, .print = s_print_log_level,
      .expected = "error, warning, info or debug",
      .fallback = "info", S_AT (log_level), .flags = SQ_OPTION_LIVE | SQ_OPTION_PROXY,
      .help = "error, warning, info or debug; the control command LOGLEVEL changes it live",
      .man = ".BR error \", \" warning \", \" info \" or \" debug ;\n"
             ".B info\n"
             "logs one line per connection event.\n"
             "The control command\n"
             ".B LOGLEVEL\n"
             "changes it while the proxy runs." },
    { .name = "log-format", .arg = "FORMAT", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_log_format, .print = s_print_log_format, .expected = "text or json",
      .fallback = "text", .flags = SQ_OPTION_PROXY, S_AT (log_format),
      .help = "text, or json: one JSON object a line, start-up errors and reload "
              "refusals too",
      .man = ".B text\n"
             ".RI ( \"UTC-time level message\" )\n"
             "or\n"
             ".BR json :\n"
             "one JSON object a line, with\n"
             ".BR time ,\n"
             ".B level\n"
             "and\n"
             ".BR message .\n"
             "In JSON every line the proxy writes is such an object, from the first to\n"
             "the last: a bad option or file, an endpoint it cannot bind, a reload it\n"
             "refuses (level\n"
             ".BR error ,\n"
             "with the reason), and no\n"
             ".B Try \\-\\-help\n"
             "hint, which only text has.\n"
             "A bad option is said in JSON when\n"
             ".B \\-\\-log\\-format json\n"
             "is on the command line, or in the configuration file (even before that\n"
             "line); a file that cannot be read at all is said in the format of the\n"
             "command line.\n"
             "The output of\n"
             ".BR \\-\\-help ,\n"
             ".BR \\-\\-version ,\n"
             ".B \\-\\-print\\-config\n"
             "and the\n"
             ".B configuration OK\n"
             "of\n"
             ".B \\-\\-check\\-config\n"
             "is the command's result, on standard output, not log lines.\n"
             "In text, what stops the proxy from starting is a line\n"
             ".BI \"streamq-proxy: \" reason\n"
             "on standard error; with\n"
             ".B \\-\\-syslog\n"
             "it goes to syslog as well." },
    { .name = "syslog", .type = SQ_OPTION_FLAG, .flags = SQ_OPTION_PROXY, S_AT (syslog),
      .restart = "--syslog options changed: they need a restart",
      .help = "log to syslog (as streamq-proxy, facility daemon) instead of stderr",
      .man = "Logs to syslog, as\n"
             ".B streamq-proxy\n"
             "with facility\n"
             ".BR daemon ,\n"
             "instead of standard error." },
    { .name = "syslog-facility", .arg = "NAME", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_facility, .print = s_print_string,
      .expected = "daemon, user, or local0 to local7",
      .fallback = "daemon", .flags = SQ_OPTION_PROXY, S_AT (syslog_facility_name),
      .restart = "--syslog options changed: they need a restart",
      .help = "with --syslog: daemon, user, local0 to local7",
      .man = ".BR daemon ,\n"
             ".BR user ,\n"
             "or\n"
             ".B local0\n"
             "to\n"
             ".BR local7 ,\n"
             "with\n"
             ".BR \\-\\-syslog ." },
    { .name = "syslog-socket", .arg = "PATH", .type = SQ_OPTION_STRING,
      .unset = "syslog(3)", .flags = SQ_OPTION_PROXY, S_AT (syslog_socket), .restart = "--syslog options changed: they need a restart",
      .help = "with --syslog: send to this unix datagram socket rather than through "
              "syslog(3) to /dev/log",
      .man = "Sends the log lines to this Unix datagram socket rather than through\n"
             ".BR syslog (3)\n"
             "to\n"
             ".IR /dev/log ,\n"
             "with\n"
             ".BR \\-\\-syslog ." },
    { .name = "max-queue", .arg = "N", .type = SQ_OPTION_COUNT, .min = 1, .max = 100000000,
      .fallback = "1000", S_AT (core.max_queue), .flags = SQ_OPTION_LIVE,
      .help = "clients waiting for a worker",
      .man = "Clients that may wait for a worker at once." },
    { .name = "max-queue-per-ip", .arg = "N", .type = SQ_OPTION_COUNT, .min = 0,
      .max = 100000000, .fallback = "100", .zero = "no limit",
      S_AT (core.max_queue_per_ip), .flags = SQ_OPTION_LIVE,
      .help = "of those, from one IP; past it a client is closed",
      .man = "Of the clients waiting for a worker, how many may come from one IP; past\n"
             "it a client is closed and counted in\n"
             ".BR frontend.refused.queue_per_ip ." },
    { .name = "queue-timeout", .arg = "MS", .type = SQ_OPTION_MS, .min = 1, .max = S_DAY_MS,
      .fallback = "10000", S_AT (core.queue_timeout_ms), .flags = SQ_OPTION_LIVE,
      .help = "longest wait for a worker",
      .man = "The longest a client waits for a worker before it is closed." },
    { .name = "greeting-timeout", .arg = "MS", .type = SQ_OPTION_MS, .min = 1,
      .max = S_DAY_MS, .fallback = "5000", S_AT (core.greeting_timeout_ms),
      .flags = SQ_OPTION_LIVE,
      .help = "time to send a ZMTP greeting",
      .man = "The time a peer has to send its ZMTP greeting.\n"
             "A peer that is not ZMTP, speaks ZMTP below 3.0, names an invalid mechanism\n"
             "or is late, is closed and counted in\n"
             ".BR rejected.greeting ." },
    { .name = "close-linger", .arg = "MS", .type = SQ_OPTION_MS, .min = 0, .max = S_DAY_MS,
      .fallback = "100", S_AT (core.close_linger_ms), .flags = SQ_OPTION_LIVE,
      .help = "grace to deliver the last bytes before closing a connection whose "
              "partner left",
      .man = "Grace to deliver the last bytes before closing a connection whose partner\n"
             "left." },
    { .name = "io-threads", .arg = "N", .type = SQ_OPTION_COUNT, .min = 1, .max = 64,
      .fallback = "1", .flags = SQ_OPTION_PROXY, S_AT (io_threads),
      .help = "libzmq I/O threads",
      .man = "libzmq I/O threads, 1 to 64." },
    { .name = "config", .arg = "FILE", .type = SQ_OPTION_STRING, .flags = SQ_OPTION_META,
      .help = "read options from FILE (ZPL, see README \"Configuration file\"); the "
              "command line overrides it; SIGHUP reads it again and applies what can "
              "change live. The file may declare several services, each with its own "
              "frontend, backend, pool and options (doc/services.md); SIGHUP adds and "
              "removes them",
      .man = "Reads options from\n"
             ".I FILE\n"
             "(see\n"
             ".BR \"CONFIGURATION FILE\" ).\n"
             "The command line overrides the file.\n"
             "SIGHUP reads the file again and applies what can change while the proxy\n"
             "runs (see\n"
             ".BR SIGNALS ).\n"
             "The file may declare several services, each with its own frontend,\n"
             "backend, worker pool and options (see\n"
             ".BR SERVICES );\n"
             "SIGHUP adds and removes them." },
    { .name = "check-config", .type = SQ_OPTION_FLAG, .flags = SQ_OPTION_META,
      .help = "check the options, the file, and what they name (endpoints and their "
              "hosts, files, the rules between options), then exit: 0 when valid, 2 "
              "with the line and the reason when not; start-up refuses nothing that "
              "passes it but an endpoint already taken",
      .man = "Checks the options, the configuration file, its rules, the routes file,\n"
             "the key files and directory, the endpoints (their form, and that their\n"
             "hosts resolve) and the rules between options, then exits: 0 (printing\n"
             ".BR \"configuration OK\" )\n"
             "when all are valid, 2 with the file, the line and the reason when not.\n"
             "Start-up, SIGHUP and\n"
             ".B \\-\\-check\\-config\n"
             "run the same checks, so a configuration that passes starts, unless an\n"
             "endpoint is taken: see\n"
             ".BR \\-\\-bind ." },
    { .name = "bind", .type = SQ_OPTION_FLAG, .flags = SQ_OPTION_META,
      .help = "with --check-config: also bind the endpoints (frontend, backend, "
              "control, metrics), release them, and say which cannot be bound",
      .man = "With\n"
             ".BR \\-\\-check\\-config :\n"
             "also binds the frontend, the backend, the control socket and the\n"
             ".B \\-\\-metrics\n"
             "address, then releases them; each one that cannot be bound (a port taken,\n"
             "an address not on this host) is said, and the exit status is 2." },
    { .name = "print-config", .type = SQ_OPTION_FLAG, .flags = SQ_OPTION_META,
      .help = "print the configuration in force (file and command line) as a "
              "configuration file, then exit",
      .man = "Prints the configuration in force, the file and the command line\n"
             "together, as a configuration file, then exits." },
    { .name = "drain-timeout", .arg = "MS", .type = SQ_OPTION_MS, .min = 1, .max = S_DAY_MS,
      .fallback = "30000", S_AT (drain_timeout_ms), .flags = SQ_OPTION_LIVE | SQ_OPTION_PROXY,
      .help = "DRAIN ALL or SIGUSR1: how long the pairs may take to finish before the "
              "proxy exits 0",
      .man = "After\n"
             ".B DRAIN ALL\n"
             "or SIGUSR1, how long the pairs may take to finish before the proxy closes\n"
             "the rest and exits 0." },
    { .name = "metrics", .arg = "URL", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_metrics, .print = s_print_string, .unset = "off",
      .flags = SQ_OPTION_PROXY, S_AT (metrics),
      .help = "serve Prometheus metrics over HTTP at http://HOST:PORT/PATH, e.g. "
              "http://127.0.0.1:9100/metrics; port 0 picks one, which is logged; "
              "/healthz and /readyz answer there too, for probes",
      .man = "Serves metrics in the Prometheus text format over HTTP at\n"
             ".IR URL ,\n"
             "which is\n"
             ".RI http:// HOST : PORT / PATH ,\n"
             "for example\n"
             ".BR http://127.0.0.1:9100/metrics .\n"
             ".I HOST\n"
             "is an IPv4 address, an IPv6 address in brackets, or localhost; a\n"
             ".I PORT\n"
             "of 0 picks a free port, and the URL served is logged as\n"
             ".BR \"listening: metrics\" .\n"
             "At the same\n"
             ".IR HOST : PORT ,\n"
             "whatever\n"
             ".IR PATH ,\n"
             ".B /healthz\n"
             "answers 200\n"
             ".B ok\n"
             "while the proxy runs, and\n"
             ".B /readyz\n"
             "answers 200 while a client that arrives would be paired at once (an idle\n"
             "worker connection, not paused, not draining), else 503 with the reason, such\n"
             "as\n"
             ".BR \"not ready: no idle worker\" ,\n"
             "for a load balancer or an orchestrator.\n"
             "Other paths answer 404." },

    //  -----------------------------------------------------------------
    //  Guarded handshakes
    { .name = "handshake-timeout", .arg = "MS", .type = SQ_OPTION_MS, .min = 1,
      .max = S_DAY_MS, .fallback = "5000", S_AT (core.handshake_timeout_ms),
      .group = SQ_GROUP_HANDSHAKES, .flags = SQ_OPTION_LIVE,
      .help = "time for a client's first command, then for the rest of the handshake "
              "once a worker has it",
      .man = "A client is given an idle worker's greeting and has this long to send its\n"
             "first handshake command, which is checked before any worker sees it; once\n"
             "a worker has it, the rest of the handshake has this long again.\n"
             "Past it the connection (and its worker's) is closed and counted in\n"
             ".BR handshakes.failed_by.timeout ." },
    { .name = "handshake-ban", .arg = "MS", .type = SQ_OPTION_MS, .min = 0, .max = S_DAY_MS,
      .fallback = "30000", .zero = "no bans", S_AT (core.handshake_ban_ms),
      .group = SQ_GROUP_HANDSHAKES, .flags = SQ_OPTION_LIVE,
      .help = "a client that a worker refuses (it closes, or sends ERROR) is refused "
              "for MS, doubled at each further failure",
      .man = "A client whose handshake a worker refused (it closed, or sent\n"
             ".BR ERROR ,\n"
             "after the client's command) is refused on arrival for\n"
             ".IR MS ,\n"
             "doubled at each further failure, under its registered name, else its IP;\n"
             "a completed handshake clears it.\n"
             "Counted in\n"
             ".BR frontend.refused.handshake ;\n"
             "see the control commands\n"
             ".B BANS\n"
             "and\n"
             ".BR UNBAN ." },
    { .name = "handshake-ban-max", .arg = "MS", .type = SQ_OPTION_MS, .min = 1,
      .max = S_DAY_MS, .fallback = "3600000", S_AT (core.handshake_ban_max_ms),
      .group = SQ_GROUP_HANDSHAKES, .flags = SQ_OPTION_LIVE,
      .help = "the longest such ban",
      .man = "The longest such ban." },

    //  -----------------------------------------------------------------
    //  Securing the control socket
    { .name = "control-key", .arg = "FILE", .type = SQ_OPTION_STRING,
      .unset = "none: no CURVE", .flags = SQ_OPTION_PROXY, S_AT (control_auth.key_file), .group = SQ_GROUP_CONTROL,
      .help = "the proxy's secret certificate (NAME_secret, from streamq-ctl --keygen "
              "or CZMQ): the control socket runs CURVE, and answers only authorised keys",
      .man = "The proxy's secret certificate\n"
             ".RI ( NAME _secret,\n"
             "from\n"
             ".B streamq-ctl \\-\\-keygen\n"
             "or CZMQ's\n"
             ".BR zcert_save ).\n"
             "The control socket then runs CURVE and answers only authorised keys.\n"
             "Needs\n"
             ".BR \\-\\-control\\-clients ." },
    { .name = "control-clients", .arg = "DIR", .type = SQ_OPTION_STRING,
      .unset = "none", .flags = SQ_OPTION_PROXY, S_AT (control_auth.clients_dir), .group = SQ_GROUP_CONTROL,
      .help = "public certificates of the authorised clients (needed with "
              "--control-key); SIGHUP reloads it",
      .man = "The public certificates of the authorised clients, one file each; needs\n"
             ".BR \\-\\-control\\-key .\n"
             "Secret certificates\n"
             ".RI ( NAME _secret),\n"
             "hidden files and files without a valid\n"
             ".B public-key\n"
             "are skipped with a warning.\n"
             "SIGHUP loads the directory again: a key added is admitted at its next\n"
             "handshake, a key removed loses its rights at its next request." },
    { .name = "control-open-read", .type = SQ_OPTION_FLAG,
      .flags = SQ_OPTION_PROXY, S_AT (control_auth.open_read), .group = SQ_GROUP_CONTROL,
      .help = "any CURVE key may also run PING, STATS, LIST, WORKERS, CLIENTS, "
              "ROUTES and BANS; the other commands still need a key from DIR (needs "
              "--control-key)",
      .man = "Any CURVE key may also run\n"
             ".BR PING \", \" STATS \", \" LIST \", \" WORKERS \", \" CLIENTS \", \" ROUTES \" and \" BANS ;\n"
             "the other commands still need a key from\n"
             ".IR DIR ,\n"
             "and get\n"
             ".B ERROR not authorised\n"
             "otherwise.\n"
             "Needs\n"
             ".BR \\-\\-control\\-key .\n"
             "Clients without CURVE are never answered." },
    { .name = "max-control-connections", .arg = "N", .type = SQ_OPTION_COUNT, .min = 1,
      .max = 10000000, .fallback = "64", S_AT (max_control_connections),
      .group = SQ_GROUP_CONTROL, .flags = SQ_OPTION_LIVE | SQ_OPTION_PROXY,
      .help = "connections to the control socket at once; one more is closed at once",
      .man = "Connections to the control socket at once; one past it is closed as soon\n"
             "as it is accepted, so that idle control connections cannot take the\n"
             "descriptors the frontend and backend need." },

    //  -----------------------------------------------------------------
    //  Names and routes
    { .name = "routes", .arg = "FILE", .type = SQ_OPTION_STRING, .unset = "none",
      S_AT (routes),
      .group = SQ_GROUP_ROUTES, .flags = SQ_OPTION_LIVE,
      .help = "address rules, routes and weights to load at start; SIGHUP loads the "
              "file again (a bad file is refused, with its line number, and the tables "
              "in force stay)",
      .man = "Address rules, routes and weights to load at start-up: one control command\n"
             "a line\n"
             ".RB ( ALIAS \", \" ROUTE \", \" WEIGHT ),\n"
             ".B #\n"
             "for comments.\n"
             "SIGHUP loads the file again and replaces the rules, routes and weights in\n"
             "force.\n"
             "A file with a bad line is refused as a whole, with its line number in the\n"
             "log, and the tables in force stay; at start-up it stops the proxy with exit\n"
             "status 2." },
    { .name = "route-wait", .arg = "MS", .type = SQ_OPTION_MS, .min = 0, .max = S_DAY_MS,
      .fallback = "500", S_AT (core.route_wait_ms), .group = SQ_GROUP_ROUTES,
      .flags = SQ_OPTION_LIVE,
      .help = "how long a routed client waits for each worker of its route before "
              "trying the next",
      .man = "How long a routed client waits for each worker of its route before it also\n"
             "accepts the next one." },
    { .name = "route-fallback", .arg = "MODE", .type = SQ_OPTION_CHOICE,
      .choices = s_fallback_words, .fallback = "any", S_AT (core.route_fallback_any),
      .group = SQ_GROUP_ROUTES, .flags = SQ_OPTION_LIVE,
      .help = "when a route is exhausted: 'any' worker, or 'wait' for one of the route",
      .man = "When a route is exhausted:\n"
             ".B any\n"
             "worker, or\n"
             ".B wait\n"
             "for one of the route\n"
             ".RB ( \\-\\-queue\\-timeout\n"
             "still applies)." },
    { .name = "identify-wait", .arg = "MS", .type = SQ_OPTION_MS, .min = 0, .max = S_DAY_MS,
      .fallback = "0", S_AT (core.identify_wait_ms), .group = SQ_GROUP_ROUTES,
      .flags = SQ_OPTION_LIVE,
      .help = "how long a connection waits for its IDENTIFY before it is served under "
              "its default name",
      .man = "How long a connection whose greeting is done waits for its\n"
             ".B IDENTIFY\n"
             "before it is served under its default name, so that clients are routed by\n"
             "their registered name from their first connection." },
    { .name = "identify-timeout", .arg = "MS", .type = SQ_OPTION_MS, .min = 1,
      .max = S_DAY_MS, .fallback = "10000", S_AT (core.identify_timeout_ms),
      .group = SQ_GROUP_ROUTES, .flags = SQ_OPTION_LIVE,
      .help = "how long an IDENTIFY waits for its connection",
      .man = "How long an\n"
             ".B IDENTIFY\n"
             "that comes before its connection waits for it." },

    //  -----------------------------------------------------------------
    //  Disconnections
    { .name = "heartbeat-interval", .arg = "MS", .type = SQ_OPTION_MS, .min = 1,
      .max = S_DAY_MS, .fallback = "1000", S_AT (core.heartbeat_interval_ms),
      .group = SQ_GROUP_DISCONNECTIONS, .flags = SQ_OPTION_LIVE,
      .help = "interval for a HEARTBEAT that names none",
      .man = "The interval of a\n"
             ".B HEARTBEAT\n"
             "command that gives none." },
    { .name = "heartbeat-liveness", .arg = "N", .type = SQ_OPTION_COUNT, .min = 1,
      .max = 1000, .fallback = "3", S_AT (core.heartbeat_liveness),
      .group = SQ_GROUP_DISCONNECTIONS, .flags = SQ_OPTION_LIVE,
      .help = "intervals a name may miss before all of its connections are closed",
      .man = "Intervals a name that sent a heartbeat may miss before the proxy closes all\n"
             "of its connections, on both sides, and their partners." },
    { .name = "pair-idle-timeout", .arg = "MS", .type = SQ_OPTION_MS, .min = 0,
      .max = S_DAY_MS, .fallback = "0", .zero = "never", S_AT (core.pair_idle_timeout_ms),
      .group = SQ_GROUP_DISCONNECTIONS, .flags = SQ_OPTION_LIVE,
      .help = "close a pair silent that long both ways",
      .man = "Closes a pair through which no byte passed, either way, for that long.\n"
             "Give the peers ZMTP heartbeats\n"
             ".RB ( ZMQ_HEARTBEAT_IVL )\n"
             "shorter than this, so that a live but quiet pair is never idle." },
    { .name = "pair-max-lifetime", .arg = "MS", .type = SQ_OPTION_MS, .min = 0,
      .max = S_DAY_MS, .fallback = "0", .zero = "never", S_AT (core.pair_max_lifetime_ms),
      .group = SQ_GROUP_DISCONNECTIONS, .flags = SQ_OPTION_LIVE,
      .help = "close a pair that old",
      .man = "Closes a pair that old, counted from its pairing; both peers reconnect and\n"
             "are paired afresh." },
    { .name = "tcp-keepalive", .arg = "SPEC", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_keepalive, .print = s_print_keepalive,
      .expected = "off, on, or IDLE:INTERVAL:COUNT (seconds)",
      .fallback = "off", S_AT (keepalive), .side = -1,
      .group = SQ_GROUP_DISCONNECTIONS, .restart = "TCP keepalive changed: it needs a restart",
      .help = "TCP keepalive on both sides: off, on (kernel defaults) or "
              "IDLE:INTERVAL:COUNT in seconds",
      .man = "TCP keepalive on every connection, both sides:\n"
             ".BR off ,\n"
             ".B on\n"
             "(the kernel's settings) or\n"
             ".IB IDLE : INTERVAL : COUNT\n"
             "in seconds." },
    { .name = "frontend-tcp-keepalive", .arg = "SPEC", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_keepalive, .print = s_print_keepalive,
      .expected = "off, on, or IDLE:INTERVAL:COUNT (seconds)",
      .unset = "that of --tcp-keepalive", S_AT (keepalive [SQ_FRONTEND]), .side = SQ_FRONTEND,
      .group = SQ_GROUP_DISCONNECTIONS, .restart = "TCP keepalive changed: it needs a restart",
      .help = "the same, for the frontend alone; wins over --tcp-keepalive",
      .man = "The same for the frontend alone; wins over\n"
             ".B \\-\\-tcp\\-keepalive\n"
             "whatever the order." },
    { .name = "backend-tcp-keepalive", .arg = "SPEC", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_keepalive, .print = s_print_keepalive,
      .expected = "off, on, or IDLE:INTERVAL:COUNT (seconds)",
      .unset = "that of --tcp-keepalive", S_AT (keepalive [SQ_BACKEND]), .side = SQ_BACKEND,
      .group = SQ_GROUP_DISCONNECTIONS, .restart = "TCP keepalive changed: it needs a restart",
      .help = "the same, for the backend alone; wins over --tcp-keepalive",
      .man = "The same for the backend alone; wins over\n"
             ".B \\-\\-tcp\\-keepalive\n"
             "whatever the order." },

    //  -----------------------------------------------------------------
    //  Slow peers and memory
    { .name = "max-pair-buffer", .arg = "SIZE", .type = SQ_OPTION_SIZE, .min = 64 * 1024,
      .max = 1LL << 40, .fallback = "8M", S_AT (core.max_pair_buffer),
      .group = SQ_GROUP_SLOW, .flags = SQ_OPTION_LIVE,
      .help = "bytes held for one pair that its peer cannot take yet, both ways "
              "together; K, M, G suffixes",
      .man = "Bytes held for one pair that its peer cannot take yet, both ways together;\n"
             "suffixes K, M and G (powers of 1024), from 64K to 1024G; at most\n"
             ".BR \\-\\-max\\-buffer ." },
    { .name = "max-buffer", .arg = "SIZE", .type = SQ_OPTION_SIZE, .min = 64 * 1024,
      .max = 1LL << 40, .fallback = "256M", S_AT (core.max_buffer),
      .group = SQ_GROUP_SLOW, .flags = SQ_OPTION_LIVE,
      .help = "bytes held for all connections",
      .man = "Bytes held for all connections together." },
    { .name = "slow-peer", .arg = "POLICY", .type = SQ_OPTION_CHOICE,
      .choices = s_slow_peer_words, .fallback = "disconnect", S_AT (core.slow_peer_block),
      .group = SQ_GROUP_SLOW, .flags = SQ_OPTION_LIVE,
      .help = "at a bound: 'disconnect' closes that pair (its peers see a lost "
              "connection), 'block' stops reading the side that feeds it until it "
              "drains, so other pairs on that side wait too",
      .man = "What happens at a bound.\n"
             ".B disconnect\n"
             "closes that pair: its peers see a lost connection, never a\n"
             "corrupt stream; past\n"
             ".BR \\-\\-max\\-buffer ,\n"
             "the pairs holding the most are closed.\n"
             ".B block\n"
             "stops reading the side that feeds the bytes until they drain to half the\n"
             "bound: nothing is lost, but every other pair on that side waits too." },
    { .name = "slow-peer-timeout", .arg = "MS", .type = SQ_OPTION_MS, .min = 0,
      .max = S_DAY_MS, .fallback = "0", .zero = "never", S_AT (core.slow_peer_timeout_ms),
      .group = SQ_GROUP_SLOW, .flags = SQ_OPTION_LIVE,
      .help = "with --engine splice: close a pair when bytes wait for a peer and none "
              "moved for MS",
      .man = "With\n"
             ".BR \\-\\-engine\\ splice :\n"
             "closes a pair, counted in\n"
             ".BR closed.slow_peer ,\n"
             "when bytes wait for one of its peers and none moved for that long." },
    { .name = "peer-hwm", .arg = "N", .type = SQ_OPTION_COUNT, .min = 1, .max = 10000000,
      .fallback = "1000", S_AT (peer_hwm), .group = SQ_GROUP_SLOW,
      .help = "chunks (up to 8 KiB each) libzmq may queue for each connection, each "
              "way, besides what the proxy holds",
      .man = "Chunks (up to 8 KiB each) libzmq may queue for each connection, each way,\n"
             "besides what the proxy holds." },

    //  -----------------------------------------------------------------
    //  Limits and access
    { .name = "max-connections", .arg = "N", .type = SQ_OPTION_COUNT, .min = 1,
      .max = 10000000, .unset = "what the open-file limit allows, which the proxy "
      "raises to the hard limit", S_AT (max_connections), .group = SQ_GROUP_LIMITS,
      .flags = SQ_OPTION_LIVE,
      .help = "on each side",
      .man = "Connections on each side.\n"
             "What the open-file limit allows is half of it, less a reserve of 128; the\n"
             "proxy raises its open-file limit to the hard limit at start-up." },
    { .name = "max-connections-per-ip", .arg = "N", .type = SQ_OPTION_COUNT, .min = 0,
      .max = 10000000, .fallback = "0", .zero = "no limit", S_AT (core.limits.max_per_ip),
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE,
      .help = "from one IP on each side",
      .man = "Connections from one IP on each side." },
    { .name = "max-connection-rate", .arg = "N", .type = SQ_OPTION_COUNT, .min = 0,
      .max = 10000000, .fallback = "0", .zero = "no limit", S_AT (core.limits.rate_per_ip),
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE,
      .help = "new connections a second from one IP, bursts of up to N",
      .man = "New connections a second from one IP, in bursts of up to\n"
             ".IR N ." },
    { .name = "frontend-allow", .arg = "LIST", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_access, .print = s_print_access, .unset = "everyone",
      S_AT (access [SQ_FRONTEND]), .side = SQ_FRONTEND, .allow = true,
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE | SQ_OPTION_REPEATABLE,
      .help = "IPs and CIDRs, IPv4 or IPv6, comma-separated: a frontend with an "
              "allow list lets in only those",
      .man = "IPs and CIDRs, IPv4 or IPv6, comma-separated, for example\n"
             ".BR 10.0.0.0/8,fd00::/8,192.0.2.7 .\n"
             "A frontend with an allow list lets in only the peers in it; a deny wins\n"
             "over an allow." },
    { .name = "frontend-deny", .arg = "LIST", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_access, .print = s_print_access, .unset = "no one",
      S_AT (access [SQ_FRONTEND]), .side = SQ_FRONTEND,
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE | SQ_OPTION_REPEATABLE,
      .help = "the same, refused; a deny wins over an allow",
      .man = "IPs and CIDRs, as for\n"
             ".BR \\-\\-frontend\\-allow ,\n"
             "refused on the frontend; a deny wins over an allow." },
    { .name = "backend-allow", .arg = "LIST", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_access, .print = s_print_access, .unset = "everyone",
      S_AT (access [SQ_BACKEND]), .side = SQ_BACKEND, .allow = true,
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE | SQ_OPTION_REPEATABLE,
      .help = "the same, for the backend. Restrict it: whoever connects there serves "
              "clients.",
      .man = "The same for the backend.\n"
             "Restrict the backend: whoever connects there serves clients." },
    { .name = "backend-deny", .arg = "LIST", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_access, .print = s_print_access, .unset = "no one",
      S_AT (access [SQ_BACKEND]), .side = SQ_BACKEND,
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE | SQ_OPTION_REPEATABLE,
      .help = "the same, refused on the backend",
      .man = "IPs and CIDRs refused on the backend." },
    { .name = "frontend-mechanisms", .arg = "LIST", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_mechanisms, .print = s_print_mechanisms,
      .expected = "mechanism names separated by commas, e.g. CURVE or CURVE,PLAIN",
      .unset = "any", S_AT (mechanisms [SQ_FRONTEND]), .side = SQ_FRONTEND,
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE,
      .help = "e.g. CURVE: a client whose greeting names another mechanism is closed",
      .man = "Security mechanisms the frontend accepts, comma-separated, in any case, for\n"
             "example\n"
             ".B CURVE\n"
             "or\n"
             ".BR CURVE,PLAIN .\n"
             "A peer whose greeting names another mechanism is closed before it takes a\n"
             "partner." },
    { .name = "backend-mechanisms", .arg = "LIST", .type = SQ_OPTION_CUSTOM,
      .parse = s_parse_mechanisms, .print = s_print_mechanisms,
      .expected = "mechanism names separated by commas, e.g. CURVE or CURVE,PLAIN",
      .unset = "any", S_AT (mechanisms [SQ_BACKEND]), .side = SQ_BACKEND,
      .group = SQ_GROUP_LIMITS, .flags = SQ_OPTION_LIVE,
      .help = "the same, for workers",
      .man = "The same for the backend." },

    //  -----------------------------------------------------------------
    //  Other options
    { .name = "help", .type = SQ_OPTION_FLAG, .group = SQ_GROUP_OTHER,
      .flags = SQ_OPTION_META,
      .help = "show this help and exit",
      .man = "Shows the options and exits." },
    { .name = "version", .type = SQ_OPTION_FLAG, .group = SQ_GROUP_OTHER,
      .flags = SQ_OPTION_META,
      .help = "show the version and exit",
      .man = "Shows the version and exits." },
    //  Prints the manual page's OPTIONS block (make man puts it in
    //  doc/streamq-proxy.1); for the build, not for operators
    { .name = "help-man", .type = SQ_OPTION_FLAG, .group = SQ_GROUP_OTHER,
      .flags = SQ_OPTION_META | SQ_OPTION_HIDDEN,
      .help = "print the OPTIONS section of the manual page, in roff, and exit" },
};

#define S_TABLE_SIZE (sizeof s_table / sizeof s_table [0])

//  The groups, in the order of sq_option_group_t: the title (the manual
//  page's subsection), the README section --help points to (NULL: no
//  heading in --help), what --help says of the group, what the manual
//  page says of it (roff)
static const struct {
    const char *title, *readme, *help, *man;
} s_groups [SQ_GROUP_COUNT] = {
    { "Endpoints and general options", NULL, NULL, NULL },
    { "Guarded handshakes", "Guarded handshakes",
      "a client's first handshake command is checked before any worker sees it:",
      "A greeted client is given the greeting of an idle worker connection and\n"
      "its first handshake command (READY, or HELLO under PLAIN and CURVE) is\n"
      "checked for structure before any worker sees a byte of it; only then is a\n"
      "worker committed.\n"
      "The handshake is then followed to its end, by its frame headers alone." },
    { "Securing the control socket", "Securing the control socket", NULL,
      "Anyone who reaches the control socket can pause, drain, reroute or stop the\n"
      "proxy.\n"
      "These options run CURVE on the control socket only; the frontend and the\n"
      "backend never run a handshake of their own." },
    { "Names and routes", "Identities and routes", NULL, NULL },
    { "Disconnections", "Disconnections and liveness", NULL,
      "Some failures close no TCP connection: a frozen or wedged peer process, a\n"
      "host that crashed, a NAT entry that was dropped.\n"
      "These strategies end such pairs; they combine freely, and the first to fire\n"
      "closes." },
    { "Slow peers and memory", "Slow peers and memory", NULL,
      "When a peer reads slower than its partner writes, the proxy holds the\n"
      "bytes, in order, within these bounds." },
    { "Limits and access", "Limits and access control",
      "a connection past a limit is closed at once and counted in STATS "
      "<side>.refused:",
      "A connection past a limit is closed at once, counted in\n"
      ".B STATS\n"
      "under\n"
      ".BI < side >.refused. reason\\fR,\n"
      "and logged (the first one, then a summary at most every 10 seconds)." },
    { "Other options", NULL, NULL, NULL },
};

size_t
sq_options_count (void)
{
    return S_TABLE_SIZE;
}

const sq_option_t *
sq_options_at (size_t index)
{
    return index < S_TABLE_SIZE? &s_table [index]: NULL;
}

const sq_option_t *
sq_options_find (const char *name)
{
    for (size_t index = 0; index < S_TABLE_SIZE; index++)
        if (strcmp (s_table [index].name, name) == 0)
            return &s_table [index];
    return NULL;
}

const char *
sq_options_group_title (sq_option_group_t group)
{
    return group < SQ_GROUP_COUNT? s_groups [group].title: "?";
}

//  -------------------------------------------------------------------------
//  Values of the usual types

static bool
s_is_number (const sq_option_t *option)
{
    return option->type == SQ_OPTION_MS || option->type == SQ_OPTION_COUNT
        || option->type == SQ_OPTION_SIZE;
}

//  Stores a whole number in the option's field, whatever its width
static void
s_store (const sq_option_t *option, sq_proxy_config_t *config, long long value)
{
    void *field = s_field (option, config);
    if (option->size == sizeof (int64_t)) {
        int64_t wide = value;
        memcpy (field, &wide, sizeof wide);
    }
    else
    if (option->size == sizeof (int32_t)) {
        int32_t narrow = (int32_t) value;
        memcpy (field, &narrow, sizeof narrow);
    }
    else
    if (option->size == sizeof (bool))
        *(bool *) field = value != 0;
}

//  The whole number in the option's field (a size_t never holds more
//  than the largest option, so it reads as signed)
static long long
s_load (const sq_option_t *option, const sq_proxy_config_t *config)
{
    const void *field = s_field_const (option, config);
    if (option->size == sizeof (int64_t)) {
        int64_t wide;
        memcpy (&wide, field, sizeof wide);
        return wide;
    }
    if (option->size == sizeof (int32_t)) {
        int32_t narrow;
        memcpy (&narrow, field, sizeof narrow);
        return narrow;
    }
    return *(const bool *) field;
}

//  A whole decimal number, nothing after it
static bool
s_parse_whole (const char *text, long long *value)
{
    char *end;
    errno = 0;
    long long number = strtoll (text, &end, 10);
    if (errno || end == text || *end)
        return false;
    *value = number;
    return true;
}

//  A byte count with an optional K, M or G suffix (powers of 1024)
static bool
s_parse_size (const char *text, long long max, long long *value)
{
    char *end;
    errno = 0;
    long long number = strtoll (text, &end, 10);
    if (errno || end == text || number < 0)
        return false;
    const char *suffixes = "KMG";
    const char *suffix = *end? strchr (suffixes, toupper ((unsigned char) *end)): NULL;
    if (*end && (!suffix || end [1]))
        return false;
    int shift = suffix? 10 * (int) (suffix - suffixes + 1): 0;
    if (number > (max >> shift))
        return false;
    *value = number << shift;
    return true;
}

//  A byte count, with a K, M or G suffix when it divides evenly
static void
s_size_text (long long bytes, char *text, size_t size)
{
    const char *suffixes = "GMK";
    for (int index = 0; index < 3; index++) {
        long long unit = 1LL << (10 * (3 - index));
        if (bytes >= unit && bytes % unit == 0) {
            snprintf (text, size, "%lld%c", bytes / unit, suffixes [index]);
            return;
        }
    }
    snprintf (text, size, "%lld", bytes);
}

//  A number's value: a whole number in range, or a size
static bool
s_parse_number (const sq_option_t *option, const char *value, long long *number)
{
    bool parsed = option->type == SQ_OPTION_SIZE? s_parse_size (value, option->max, number)
                                                : s_parse_whole (value, number);
    return parsed && *number >= option->min && *number <= option->max;
}

//  tcp://HOST:PORT: HOST is *, an IPv4 address, a name, or an IPv6
//  address in brackets; PORT is * or 0 to 65535
static bool
s_tcp_valid (const char *address, char *reason, size_t size)
{
    const char *colon = NULL;
    if (*address == '[') {
        const char *close = strchr (address, ']');
        if (!close || close == address + 1 || close [1] != ':') {
            snprintf (reason, size, "an IPv6 address goes in brackets, then :PORT");
            return false;
        }
        const char *zone = memchr (address, '%', (size_t) (close - address));
        for (const char *cursor = address + 1; cursor < close; cursor++)
            if (zone && cursor > zone? !isalnum ((unsigned char) *cursor)
                                       && !strchr ("-._", *cursor)
                                     : !isxdigit ((unsigned char) *cursor)
                                       && !strchr (":.%", *cursor)) {
                snprintf (reason, size, "'%.*s' is not an IPv6 address",
                          (int) (close - address - 1), address + 1);
                return false;
            }
        colon = close + 1;
    }
    else {
        colon = strrchr (address, ':');
        size_t length = colon? (size_t) (colon - address): 0;
        bool star = length == 1 && *address == '*';
        for (size_t index = 0; index < length && !star; index++)
            if (!isalnum ((unsigned char) address [index]) && !strchr ("-._", address [index]))
                length = 0;
        if (!colon || !length) {
            snprintf (reason, size, "no host, or not one of *, an address or a name");
            return false;
        }
    }
    long long port;
    if (strcmp (colon + 1, "*") != 0
    &&  (!isdigit ((unsigned char) colon [1]) || !s_parse_whole (colon + 1, &port)
    ||   port > 65535)) {
        snprintf (reason, size, "the port '%s' is not * nor 0 to 65535", colon + 1);
        return false;
    }
    return true;
}

//  The form of an endpoint the proxy binds; false with the reason
static bool
s_endpoint_valid (const char *endpoint, char *expected, size_t size)
{
    char reason [160] = "";
    if (strncmp (endpoint, "tcp://", 6) == 0)
        s_tcp_valid (endpoint + 6, reason, sizeof reason);
    else
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        if (!endpoint [6])
            snprintf (reason, sizeof reason, "an ipc endpoint needs a path");
    }
    else
        snprintf (reason, sizeof reason, "the transport is not tcp:// nor ipc://");
    if (*reason)
        snprintf (expected, size, "tcp://HOST:PORT (PORT * or 0 to 65535), "
                  "tcp://[IPv6]:PORT or ipc://PATH; here %s", reason);
    return *reason == 0;
}

//  A flag's value in a file: "name", or "name = true|yes|on|1|false|no|off|0"
static bool
s_parse_flag (const char *value, bool *set)
{
    const char *yes [] = { "true", "yes", "on", "1" };
    const char *no [] = { "false", "no", "off", "0" };
    for (size_t index = 0; index < 4; index++) {
        if (!value || strcmp (value, yes [index]) == 0)
            return (*set = true);
        if (strcmp (value, no [index]) == 0)
            return !(*set = false);
    }
    return false;
}

//  What a bad value of a usual type is told
static void
s_expected (const sq_option_t *option, char *expected, size_t size)
{
    char low [80], high [40];
    if (option->type == SQ_OPTION_SIZE) {
        s_size_text (option->min, low, sizeof low);
        s_size_text (option->max, high, sizeof high);
        snprintf (expected, size, "a byte count from %s to %s (suffix K, M or G)", low, high);
    }
    else
    if (s_is_number (option)) {
        if (option->min == 0 && option->zero)
            snprintf (low, sizeof low, "0 (%s)", option->zero);
        else
            snprintf (low, sizeof low, "%lld", option->min);
        snprintf (expected, size, "a whole number from %s to %lld%s", low, option->max,
                  option->type == SQ_OPTION_MS? " (milliseconds)": "");
    }
    else
    if (option->type == SQ_OPTION_CHOICE) {
        size_t used = 0;
        for (size_t index = 0; option->choices [index] && used < size; index++)
            used += (size_t) snprintf (expected + used, size - used, "%s'%s'",
                index == 0? "": option->choices [index + 1]? ", ": " or ",
                option->choices [index]);
    }
    else
    if (option->type == SQ_OPTION_FLAG)
        snprintf (expected, size, "true or false");
    else
        snprintf (expected, size, "%s", option->expected? option->expected: "a value");
}

bool
sq_options_apply (const sq_option_t *option, const char *value,
                  sq_proxy_config_t *config, char *expected, size_t size)
{
    *expected = 0;
    bool valid = true, set = true;
    long long number = 0;
    if (!value && option->type != SQ_OPTION_FLAG) {
        snprintf (expected, size, "a value (name = value)");
        return false;
    }
    switch (option->type) {
        case SQ_OPTION_ENDPOINT:
            if (!s_endpoint_valid (value, expected, size))
                return false;
            //  fall through
        case SQ_OPTION_STRING:
            *(const char **) s_field (option, config) = value;
            break;
        case SQ_OPTION_MS:
        case SQ_OPTION_COUNT:
        case SQ_OPTION_SIZE:
            valid = s_parse_number (option, value, &number);
            if (valid)
                s_store (option, config, number);
            break;
        case SQ_OPTION_FLAG:
            valid = s_parse_flag (value, &set);
            if (valid)
                s_store (option, config, set);
            break;
        case SQ_OPTION_CHOICE:
            valid = false;
            for (long long index = 0; option->choices [index] && !valid; index++)
                if (strcmp (option->choices [index], value) == 0) {
                    s_store (option, config, index);
                    valid = true;
                }
            break;
        case SQ_OPTION_CUSTOM:
            valid = option->parse (option, value, config, expected, size);
            break;
    }
    if (!valid && !*expected)
        s_expected (option, expected, size);
    return valid;
}

void
sq_options_finish (sq_proxy_config_t *config)
{
    for (int side = 0; side < 2; side++)
        if (!config->keepalive_given [side])
            config->keepalive [side] = config->keepalive_both;
}

void
sq_options_defaults (sq_proxy_config_t *config)
{
    memset (config, 0, sizeof *config);
    sq_core_config_defaults (&config->core);
    config->rules = "";
    char expected [256];
    for (size_t index = 0; index < S_TABLE_SIZE; index++) {
        const sq_option_t *option = &s_table [index];
        if (option->flags & SQ_OPTION_META)
            continue;
        if (option->fallback)
            sq_options_apply (option, option->fallback, config, expected, sizeof expected);
        else
        if (s_is_number (option))
            s_store (option, config, -1);       //  Not set
    }
    sq_options_finish (config);
}

const char *
sq_options_text (const sq_option_t *option, const sq_proxy_config_t *config,
                 char *text, size_t size)
{
    long long number;
    switch (option->type) {
        case SQ_OPTION_ENDPOINT:
        case SQ_OPTION_STRING:
            return *(const char *const *) s_field_const (option, config);
        case SQ_OPTION_FLAG:
            return s_load (option, config)? "true": "false";
        case SQ_OPTION_CHOICE:
            return option->choices [s_load (option, config)];
        case SQ_OPTION_CUSTOM:
            return option->print (option, config, text, size);
        default:
            number = s_load (option, config);
            if (number < 0)
                return NULL;
            if (option->type == SQ_OPTION_SIZE)
                s_size_text (number, text, size);
            else
                snprintf (text, size, "%lld", number);
            return text;
    }
}

//  -------------------------------------------------------------------------
//  The rules between options

//  The file's line of rule number `number` of the configuration: of its
//  service's own rules, or of the top level's
static int
s_rule_line (const sq_proxy_config_t *config, size_t number)
{
    const sq_config_t *file = config->service_file;
    int service = config->service_index;
    if (file && service >= 0 && *sq_config_service_rules (file, (size_t) service))
        return sq_config_service_rule_line (file, (size_t) service, number);
    return config->file? sq_config_rule_line (config->file, number): 0;
}

bool
sq_options_check (const sq_proxy_config_t *config, char *error, size_t size)
{
    const sq_control_auth_config_t *auth = &config->control_auth;
    if (config->core.max_pair_buffer > config->core.max_buffer)
        snprintf (error, size, "--max-pair-buffer (%zu) is larger than --max-buffer (%zu)",
                  config->core.max_pair_buffer, config->core.max_buffer);
    else
    if (!auth->key_file && (auth->clients_dir || auth->open_read))
        snprintf (error, size, "--control-clients and --control-open-read need "
                  "--control-key FILE");
    else
    if (auth->key_file && !auth->clients_dir)
        snprintf (error, size, "--control-key needs --control-clients DIR, the "
                  "public keys of the authorised clients");
    else
    if (auth->key_file && !zmq_has ("curve"))
        snprintf (error, size, "--control-key: this libzmq was built without CURVE");
    else {
        char reason [512];
        if (!*config->rules || sq_routes_check (config->rules, reason, sizeof reason))
            return true;
        //  "line N: reason", N counting the rules: the file's line instead
        int rule = 0, skip = 0;
        sscanf (reason, "line %d: %n", &rule, &skip);
        snprintf (error, size, "%s: line %d: %s", config->config_path,
                  s_rule_line (config, (size_t) rule), reason + skip);
    }
    return false;
}

//  -------------------------------------------------------------------------
//  The command line

const struct option *
sq_options_getopt (void)
{
    static struct option table [S_TABLE_SIZE + 1];
    if (!table [0].name)
        for (size_t index = 0; index < S_TABLE_SIZE; index++)
            table [index] = (struct option) {
                s_table [index].name,
                s_table [index].type == SQ_OPTION_FLAG? no_argument: required_argument,
                NULL, 256 + (int) index
            };
    return table;
}

//  -------------------------------------------------------------------------
//  --help

//  --help's lines are at most this long
#define S_WIDTH 80
//  Where an option's text starts
#define S_TEXT_COLUMN 25
//  A space that never breaks a line (within a default's text)
#define S_NBSP '\001'

//  Prints text from column `column`, wrapping it at S_WIDTH to `indent`
static void
s_wrap (FILE *out, const char *text, int column, int indent)
{
    bool first = true;
    text += strspn (text, " ");
    while (*text) {
        int length = (int) strcspn (text, " ");
        if (!first && column + 1 + length > S_WIDTH) {
            fprintf (out, "\n%*s", indent, "");
            column = indent;
        }
        else
        if (!first)
            column += fprintf (out, " ");
        for (int index = 0; index < length; index++)
            fputc (text [index] == S_NBSP? ' ': text [index], out);
        column += length;
        text += length;
        text += strspn (text, " ");
        first = false;
    }
}

//  What --help says after an option's text: repeatable, its default
static void
s_help_default (const sq_option_t *option, char *text, size_t size)
{
    const char *repeatable = option->flags & SQ_OPTION_REPEATABLE? "repeatable": "";
    const char *then = *repeatable && (option->fallback || option->unset)? "; ": "";
    if (option->fallback && option->zero && strcmp (option->fallback, "0") == 0)
        snprintf (text, size, "(%s%sdefault 0: %s)", repeatable, then, option->zero);
    else
    if (option->fallback && option->zero)
        snprintf (text, size, "(%s%sdefault %s; 0: %s)", repeatable, then,
                  option->fallback, option->zero);
    else
    if (option->fallback)
        snprintf (text, size, "(%s%sdefault %s)", repeatable, then, option->fallback);
    else
    if (option->unset)
        snprintf (text, size, "(%s%sdefault: %s)", repeatable, then, option->unset);
    else
        snprintf (text, size, "%s%s%s", *repeatable? "(": "", repeatable,
                  *repeatable? ")": "");
    //  "(default VALUE" stays on one line
    char *value = strstr (text, "default");
    value = value? value + strcspn (value, " "): NULL;
    for (char *cursor = text; value && cursor <= value && *cursor; cursor++)
        if (*cursor == ' ')
            *cursor = S_NBSP;
}

//  One option in --help: its tag, then its text and default from column
//  S_TEXT_COLUMN (on the next line when the tag reaches it)
static void
s_usage_option (FILE *out, const sq_option_t *option)
{
    char text [1200];
    int column = fprintf (out, "  --%s%s%s", option->name, option->arg? " ": "",
                          option->arg? option->arg: "");
    if (column >= S_TEXT_COLUMN) {
        fputc ('\n', out);
        column = 0;
    }
    fprintf (out, "%*s", S_TEXT_COLUMN - column, "");
    size_t used = (size_t) snprintf (text, sizeof text, "%s ", option->help);
    if (!(option->flags & SQ_OPTION_META) && used < sizeof text)
        s_help_default (option, text + used, sizeof text - used);
    s_wrap (out, text, S_TEXT_COLUMN, S_TEXT_COLUMN);
    fputc ('\n', out);
}

void
sq_options_usage (FILE *out)
{
    fputs ("Usage: streamq-proxy [OPTION]...\n"
           "Splices each client's ZMTP stream to one worker's, so the security handshake\n"
           "(NULL, PLAIN, CURVE, ...) and all encryption run end to end between them.\n"
           "Clients connect to the frontend; workers connect (dial in) to the backend.\n", out);
    for (int group = 0; group < SQ_GROUP_COUNT; group++) {
        fputc ('\n', out);
        if (s_groups [group].readme) {
            char heading [300];
            snprintf (heading, sizeof heading, "%s (see README, \"%s\"):%s%s",
                      s_groups [group].title, s_groups [group].readme,
                      s_groups [group].help? " ": "",
                      s_groups [group].help? s_groups [group].help: "");
            s_wrap (out, heading, 0, 0);
            fputc ('\n', out);
        }
        for (size_t index = 0; index < S_TABLE_SIZE; index++)
            if (s_table [index].group == (sq_option_group_t) group
            &&  !(s_table [index].flags & SQ_OPTION_HIDDEN))
                s_usage_option (out, &s_table [index]);
    }
    fputs ("\n"
           "Endpoints take any libzmq form, e.g. tcp://0.0.0.0:5555, tcp://[::]:5555,\n"
           "ipc:///run/streamq/frontend; a port of * picks a free one, which is logged.\n"
           "Control commands: PING, STATS, LIST, WORKERS, CLIENTS, ROUTES, BANS, PAUSE,\n"
           "RESUME, TERMINATE, IDENTIFY, ALIAS, UNALIAS, ROUTE, UNROUTE, DRAIN, UNDRAIN,\n"
           "WEIGHT, LOAD, HEARTBEAT, LOGLEVEL, UNBAN (see streamq-ctl --help).\n"
           "Peers must speak ZMTP 3.0 or later (libzmq 4.x, JeroMQ 0.4+, pyzmq, CZMQ ...).\n"
           "SIGINT or SIGTERM closes every connection and exits 0. SIGUSR1 (or DRAIN ALL)\n"
           "drains: no new connection or pair, the pairs finish (within --drain-timeout),\n"
           "then exit 0. SIGHUP reads --config again and applies what can change live\n"
           "(and reloads --routes and --control-clients).\n"
           "Exit status: 0 after a clean stop, 2 on a bad option, a key file or directory\n"
           "that cannot be read, or an endpoint that cannot be bound.\n", out);
}

//  -------------------------------------------------------------------------
//  The manual page

//  Text for roff: dashes as \-, a backslash as \e
static void
s_roff (FILE *out, const char *text)
{
    for (const char *cursor = text; *cursor; cursor++)
        if (*cursor == '-')
            fputs ("\\-", out);
        else
        if (*cursor == '\\')
            fputs ("\\e", out);
        else
            fputc (*cursor, out);
}

//  The sentence that gives an option's default
static void
s_man_default (FILE *out, const sq_option_t *option)
{
    if (option->fallback && s_is_number (option)) {
        fprintf (out, "Default %s", option->fallback);
        if (option->zero) {
            fputs (strcmp (option->fallback, "0") == 0? ": ": "; 0: ", out);
            s_roff (out, option->zero);
        }
        fputs (".\n", out);
    }
    else
    if (option->fallback) {
        fputs ("Default\n.BR ", out);
        s_roff (out, option->fallback);
        fputs (" .\n", out);
    }
    else
    if (option->unset) {
        fputs ("Default: ", out);
        s_roff (out, option->unset);
        fputs (".\n", out);
    }
}

//  One option in the manual page: a tagged paragraph, its text, whether
//  it repeats, whether SIGHUP can change it, its default
static void
s_man_option (FILE *out, const sq_option_t *option)
{
    fputs (".TP\n", out);
    fputs (option->arg? ".BI ": ".B ", out);
    fputs ("\\-\\-", out);
    s_roff (out, option->name);
    if (option->arg)
        fprintf (out, " \" %s\"", option->arg);
    fputc ('\n', out);
    if (option->man)
        fprintf (out, "%s\n", option->man);
    else {
        s_roff (out, option->help);
        fputc ('\n', out);
    }
    if (option->flags & SQ_OPTION_REPEATABLE)
        fputs ("The option can be repeated.\n", out);
    if (!(option->flags & (SQ_OPTION_LIVE | SQ_OPTION_META)))
        fputs ("A change takes a restart: SIGHUP logs it as needing one.\n", out);
    if (!(option->flags & SQ_OPTION_META))
        s_man_default (out, option);
}

void
sq_options_man (FILE *out)
{
    for (int group = 0; group < SQ_GROUP_COUNT; group++) {
        fprintf (out, ".SS \"%s\"\n", s_groups [group].title);
        if (s_groups [group].man)
            fprintf (out, "%s\n", s_groups [group].man);
        for (size_t index = 0; index < S_TABLE_SIZE; index++)
            if (s_table [index].group == (sq_option_group_t) group
            &&  !(s_table [index].flags & SQ_OPTION_HIDDEN))
                s_man_option (out, &s_table [index]);
    }
}

//  -------------------------------------------------------------------------
//  --print-config

//  The rules, as a configuration file has them, under "rules" at indent
static void
s_print_rules (const char *rules, const char *indent, FILE *out)
{
    if (*rules)
        fprintf (out, "%srules\n", indent);
    while (*rules) {
        size_t length = strcspn (rules, "\n");
        const char *space = memchr (rules, ' ', length);
        if (space && length) {
            fprintf (out, "%s    ", indent);
            for (const char *cursor = rules; cursor < space; cursor++)
                fputc (tolower ((unsigned char) *cursor), out);
            fprintf (out, " = \"%.*s\"\n", (int) (length - (size_t) (space - rules) - 1),
                     space + 1);
        }
        rules += length + (rules [length] == '\n');
    }
}

//  A service, under "services": the options whose value is not the top
//  level's, and its rules when they are its own
static void
s_print_service (const sq_proxy_config_t *top, const sq_proxy_config_t *service, FILE *out)
{
    fprintf (out, "    %s\n", service->service_name);
    for (size_t index = 0; index < S_TABLE_SIZE; index++) {
        const sq_option_t *option = &s_table [index];
        if (option->flags & (SQ_OPTION_META | SQ_OPTION_PROXY))
            continue;
        char text [1024], top_text [1024];
        const char *value = sq_options_text (option, service, text, sizeof text);
        const char *top_value = sq_options_text (option, top, top_text, sizeof top_text);
        if (value && (!top_value || strcmp (value, top_value) != 0))
            fprintf (out, "        %s = \"%s\"\n", option->name, value);
    }
    if (service->rules != top->rules)
        s_print_rules (service->rules, "        ", out);
}

void
sq_options_print (const sq_proxy_config_t *config, FILE *out)
{
    fprintf (out, "#   streamq-proxy %s: the configuration in force\n", SQ_VERSION);
    for (size_t index = 0; index < S_TABLE_SIZE; index++) {
        const sq_option_t *option = &s_table [index];
        if (option->flags & SQ_OPTION_META)
            continue;
        char text [1024];
        const char *value = sq_options_text (option, config, text, sizeof text);
        if (value)
            fprintf (out, "%s = \"%s\"\n", option->name, value);
        else
            fprintf (out, "#   %s = (not set%s%s)\n", option->name,
                     option->unset? ": ": "", option->unset? option->unset: "");
    }
    s_print_rules (config->rules, "", out);
    for (size_t index = 0; index < config->service_count; index++) {
        if (index == 0)
            fprintf (out, "services\n");
        s_print_service (config, config->services [index], out);
    }
}

//  -------------------------------------------------------------------------
//  Reloads

//  True for an option whose change only a restart applies
static bool
s_needs_restart (const sq_option_t *option)
{
    return !(option->flags & (SQ_OPTION_LIVE | SQ_OPTION_META));
}

void
sq_options_restart_notes (const sq_proxy_config_t *running, const sq_proxy_config_t *fresh)
{
    const char *said [S_TABLE_SIZE];
    size_t said_count = 0;
    for (size_t index = 0; index < S_TABLE_SIZE; index++) {
        const sq_option_t *option = &s_table [index];
        if (!s_needs_restart (option))
            continue;
        char was_text [1024], now_text [1024];
        const char *was = sq_options_text (option, running, was_text, sizeof was_text);
        const char *now = sq_options_text (option, fresh, now_text, sizeof now_text);
        if (strcmp (was? was: "", now? now: "") == 0)
            continue;
        bool again = false;
        for (size_t note = 0; note < said_count && !again; note++)
            again = option->restart && strcmp (said [note], option->restart) == 0;
        if (again)
            continue;
        if (option->restart) {
            said [said_count++] = option->restart;
            sq_warning ("reload: %s", option->restart);
        }
        else
            sq_warning ("reload: --%s changed: it needs a restart", option->name);
    }
}

void
sq_options_keep_running (const sq_proxy_config_t *running, sq_proxy_config_t *fresh)
{
    for (size_t index = 0; index < S_TABLE_SIZE; index++)
        if (s_needs_restart (&s_table [index]))
            memcpy (s_field (&s_table [index], fresh),
                    s_field_const (&s_table [index], running), s_table [index].size);
}
