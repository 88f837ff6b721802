/*  =========================================================================
    streamq-proxy - command line, signals, and the start of the loop
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <ctype.h>
#include <getopt.h>
#include "sq_proxy.h"
#include "sq_config.h"
#include "sq_routes.h"
#include "sq_prometheus.h"
#include "sq_log.h"
#include "sq_version.h"

static void
s_usage (FILE *out)
{
    fprintf (out,
"Usage: streamq-proxy [OPTION]...\n"
"Splices each client's ZMTP stream to one worker's, so the security handshake\n"
"(NULL, PLAIN, CURVE, ...) and all encryption run end to end between them.\n"
"Clients connect to the frontend; workers connect (dial in) to the backend.\n"
"\n"
"  --frontend EP          where clients connect          (default tcp://*:5555)\n"
"  --backend EP           where workers connect          (default tcp://127.0.0.1:5556)\n"
"                         Any peer that reaches the backend can serve clients:\n"
"                         keep it private (loopback, VPN, firewall).\n"
"  --control EP           control socket (REQ/DEALER)    (default tcp://127.0.0.1:5557)\n"
"  --engine NAME          what carries the peers' bytes: 'stream' (two ZMQ_STREAM\n"
"                         sockets) or 'splice' (the proxy's own TCP sockets:\n"
"                         back-pressure per connection, and once a pair's\n"
"                         handshake is over it moves the bytes with large\n"
"                         buffers or splice(2); tcp:// endpoints only)\n"
"                                                        (default stream)\n"
"  --log-level LEVEL      error, warning, info or debug  (default info);\n"
"                         the control command LOGLEVEL changes it live\n"
"  --log-format FORMAT    text, or json: one JSON object a line (default text)\n"
"  --syslog               log to syslog (as streamq-proxy, facility daemon)\n"
"                         instead of stderr\n"
"  --syslog-facility NAME with --syslog: daemon, user, local0 to local7\n"
"  --syslog-socket PATH   with --syslog: send to this unix datagram socket\n"
"                         rather than through syslog(3) to /dev/log\n"
"  --max-queue N          clients waiting for a worker   (default 1000)\n"
"  --queue-timeout MS     longest wait for a worker      (default 10000)\n"
"  --greeting-timeout MS  time to send a ZMTP greeting   (default 5000)\n"
"  --close-linger MS      grace to deliver the last bytes before closing\n"
"                         a connection whose partner left (default 100)\n"
"  --io-threads N         libzmq I/O threads             (default 1)\n"
"  --config FILE          read options from FILE (ZPL, see README \"Configuration\n"
"                         file\"); the command line overrides it; SIGHUP reads\n"
"                         it again and applies what can change live\n"
"  --check-config         check the options and the file, then exit: 0 when\n"
"                         valid, 2 with the line and the reason when not\n"
"  --print-config         print the configuration in force (file and command\n"
"                         line) as a configuration file, then exit\n"
"  --drain-timeout MS     DRAIN ALL or SIGUSR1: how long the pairs may take\n"
"                         to finish before the proxy exits 0 (default 30000)\n"
"  --metrics URL          serve Prometheus metrics over HTTP at\n"
"                         http://HOST:PORT/PATH, e.g. http://127.0.0.1:9100/metrics;\n"
"                         port 0 picks one, which is logged (default: off)\n"
"\n"
"Securing the control socket (see README, \"Securing the control socket\"):\n"
"  --control-key FILE     the proxy's secret certificate (NAME_secret, from\n"
"                         streamq-ctl --keygen or CZMQ): the control socket\n"
"                         runs CURVE, and answers only authorised keys\n"
"  --control-clients DIR  public certificates of the authorised clients\n"
"                         (needed with --control-key); SIGHUP reloads it\n"
"  --control-open-read    any CURVE key may also run PING, STATS, LIST,\n"
"                         WORKERS, CLIENTS and ROUTES; the other commands\n"
"                         still need a key from DIR\n"
"\n"
"Names and routes (see README, \"Identities and routes\"):\n"
"  --routes FILE          address rules, routes and weights to load at start;\n"
"                         SIGHUP loads the file again (a bad file is refused,\n"
"                         with its line number, and the tables in force stay)\n"
"  --route-wait MS        how long a routed client waits for each worker of\n"
"                         its route before trying the next  (default 500)\n"
"  --route-fallback MODE  when a route is exhausted: 'any' worker, or 'wait'\n"
"                         for one of the route              (default any)\n"
"  --identify-wait MS     how long a connection waits for its IDENTIFY before\n"
"                         it is served under its default name (default 0)\n"
"  --identify-timeout MS  how long an IDENTIFY waits for its connection\n"
"                                                        (default 10000)\n"
"\n"
"Disconnections (see README, \"Disconnections and liveness\"):\n"
"  --heartbeat-interval MS   interval for a HEARTBEAT that names none (default 1000)\n"
"  --heartbeat-liveness N    intervals a name may miss before all of its\n"
"                            connections are closed              (default 3)\n"
"  --pair-idle-timeout MS    close a pair silent that long both ways (default 0: never)\n"
"  --pair-max-lifetime MS    close a pair that old               (default 0: never)\n"
"  --tcp-keepalive SPEC      TCP keepalive on both sides: off, on (kernel\n"
"                            defaults) or IDLE:INTERVAL:COUNT in seconds (default off)\n"
"  --frontend-tcp-keepalive SPEC, --backend-tcp-keepalive SPEC   the same, one side\n"
"\n"
"Slow peers and memory (see README, \"Slow peers and memory\"):\n"
"  --max-pair-buffer SIZE bytes held for one pair that its peer cannot take\n"
"                         yet, both ways together; K, M, G suffixes (default 8M)\n"
"  --max-buffer SIZE      bytes held for all connections     (default 256M)\n"
"  --slow-peer POLICY     at a bound: 'disconnect' closes that pair (its peers\n"
"                         see a lost connection), 'block' stops reading the\n"
"                         side that feeds it until it drains, so other pairs\n"
"                         on that side wait too          (default disconnect)\n"
"  --slow-peer-timeout MS with --engine splice: close a pair when bytes wait\n"
"                         for a peer and none moved for MS (default 0: never)\n"
"  --peer-hwm N           chunks (up to 8 KiB each) libzmq may queue for each\n"
"                         connection, each way, besides what the proxy\n"
"                         holds                          (default 1000)\n"
"\n"
"Limits and access (see README, \"Limits and access control\"); a connection\n"
"past a limit is closed at once and counted in STATS <side>.refused:\n"
"  --max-connections N    on each side (default: what the open-file limit\n"
"                         allows, which the proxy raises to the hard limit)\n"
"  --max-connections-per-ip N   from one IP on each side   (default 0: no limit)\n"
"  --max-connection-rate N      new connections a second from one IP, bursts\n"
"                               of up to N                 (default 0: no limit)\n"
"  --frontend-allow LIST, --frontend-deny LIST, --backend-allow LIST,\n"
"  --backend-deny LIST    IPs and CIDRs, IPv4 or IPv6, comma-separated,\n"
"                         repeatable; a deny wins, and a side with an allow\n"
"                         list lets in only those. Restrict the backend:\n"
"                         whoever connects there serves clients.\n"
"  --frontend-mechanisms LIST, --backend-mechanisms LIST\n"
"                         e.g. CURVE: a peer whose greeting names another\n"
"                         mechanism is closed          (default: any)\n"
"\n"
"  --help                 show this help and exit\n"
"  --version              show the version and exit\n"
"\n"
"Endpoints take any libzmq form, e.g. tcp://0.0.0.0:5555, tcp://[::]:5555,\n"
"ipc:///run/streamq/frontend; a port of * picks a free one, which is logged.\n"
"Control commands: PING, STATS, LIST, WORKERS, CLIENTS, ROUTES, PAUSE, RESUME,\n"
"TERMINATE, IDENTIFY, ALIAS, UNALIAS, ROUTE, UNROUTE, DRAIN, UNDRAIN, WEIGHT,\n"
"LOAD, HEARTBEAT, LOGLEVEL (see streamq-ctl --help).\n"
"Peers must speak ZMTP 3.0 or later (libzmq 4.x, JeroMQ 0.4+, pyzmq, CZMQ ...).\n"
"SIGINT or SIGTERM closes every connection and exits 0. SIGUSR1 (or DRAIN ALL)\n"
"drains: no new connection or pair, the pairs finish (within --drain-timeout),\n"
"then exit 0. SIGHUP reads --config again and applies what can change live\n"
"(and reloads --routes and --control-clients).\n"
"Exit status: 0 after a clean stop, 2 on a bad option, a key file or directory\n"
"that cannot be read, or an endpoint that cannot be bound.\n");
}

//  Parses a whole decimal number in [min, max]; false on anything else
static bool
s_parse_number (const char *text, long long min, long long max, long long *value)
{
    char *end;
    errno = 0;
    long long number = strtoll (text, &end, 10);
    if (errno || end == text || *end || number < min || number > max)
        return false;
    *value = number;
    return true;
}

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

enum {
    OPT_FRONTEND = 256, OPT_BACKEND, OPT_CONTROL, OPT_LOG_LEVEL, OPT_MAX_QUEUE,
    OPT_QUEUE_TIMEOUT, OPT_GREETING_TIMEOUT, OPT_CLOSE_LINGER, OPT_IO_THREADS,
    OPT_ROUTE_WAIT, OPT_IDENTIFY_WAIT, OPT_IDENTIFY_TIMEOUT, OPT_HEARTBEAT_INTERVAL,
    OPT_HEARTBEAT_LIVENESS, OPT_PAIR_IDLE_TIMEOUT, OPT_PAIR_MAX_LIFETIME,
    OPT_ROUTES, OPT_ROUTE_FALLBACK, OPT_TCP_KEEPALIVE, OPT_FRONTEND_KEEPALIVE,
    OPT_BACKEND_KEEPALIVE,
    OPT_MAX_PAIR_BUFFER, OPT_MAX_BUFFER, OPT_SLOW_PEER, OPT_MAX_CONNECTIONS,
    OPT_MAX_PER_IP, OPT_MAX_RATE, OPT_FRONTEND_ALLOW, OPT_FRONTEND_DENY,
    OPT_BACKEND_ALLOW, OPT_BACKEND_DENY, OPT_FRONTEND_MECHANISMS, OPT_BACKEND_MECHANISMS,
    OPT_PEER_HWM,
    OPT_CONTROL_KEY, OPT_CONTROL_CLIENTS, OPT_CONTROL_OPEN_READ,
    OPT_CONFIG, OPT_CHECK_CONFIG, OPT_DRAIN_TIMEOUT, OPT_PRINT_CONFIG, OPT_METRICS,
    OPT_LOG_FORMAT, OPT_SYSLOG, OPT_SYSLOG_FACILITY, OPT_SYSLOG_SOCKET,
    OPT_ENGINE, OPT_SLOW_PEER_TIMEOUT,
    OPT_HELP, OPT_VERSION
};

static const struct option s_options [] = {
    { "frontend",         required_argument, NULL, OPT_FRONTEND },
    { "backend",          required_argument, NULL, OPT_BACKEND },
    { "control",          required_argument, NULL, OPT_CONTROL },
    { "engine",           required_argument, NULL, OPT_ENGINE },
    { "log-level",        required_argument, NULL, OPT_LOG_LEVEL },
    { "max-queue",        required_argument, NULL, OPT_MAX_QUEUE },
    { "queue-timeout",    required_argument, NULL, OPT_QUEUE_TIMEOUT },
    { "greeting-timeout", required_argument, NULL, OPT_GREETING_TIMEOUT },
    { "close-linger",     required_argument, NULL, OPT_CLOSE_LINGER },
    { "io-threads",       required_argument, NULL, OPT_IO_THREADS },
    { "route-wait",       required_argument, NULL, OPT_ROUTE_WAIT },
    { "identify-wait",    required_argument, NULL, OPT_IDENTIFY_WAIT },
    { "identify-timeout", required_argument, NULL, OPT_IDENTIFY_TIMEOUT },
    { "heartbeat-interval", required_argument, NULL, OPT_HEARTBEAT_INTERVAL },
    { "heartbeat-liveness", required_argument, NULL, OPT_HEARTBEAT_LIVENESS },
    { "pair-idle-timeout", required_argument, NULL, OPT_PAIR_IDLE_TIMEOUT },
    { "pair-max-lifetime", required_argument, NULL, OPT_PAIR_MAX_LIFETIME },
    { "routes",           required_argument, NULL, OPT_ROUTES },
    { "route-fallback",   required_argument, NULL, OPT_ROUTE_FALLBACK },
    { "tcp-keepalive",    required_argument, NULL, OPT_TCP_KEEPALIVE },
    { "frontend-tcp-keepalive", required_argument, NULL, OPT_FRONTEND_KEEPALIVE },
    { "backend-tcp-keepalive", required_argument, NULL, OPT_BACKEND_KEEPALIVE },
    { "max-pair-buffer",  required_argument, NULL, OPT_MAX_PAIR_BUFFER },
    { "max-buffer",       required_argument, NULL, OPT_MAX_BUFFER },
    { "slow-peer",        required_argument, NULL, OPT_SLOW_PEER },
    { "slow-peer-timeout", required_argument, NULL, OPT_SLOW_PEER_TIMEOUT },
    { "peer-hwm",         required_argument, NULL, OPT_PEER_HWM },
    { "max-connections",  required_argument, NULL, OPT_MAX_CONNECTIONS },
    { "max-connections-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
    { "max-connection-rate", required_argument, NULL, OPT_MAX_RATE },
    { "frontend-allow",   required_argument, NULL, OPT_FRONTEND_ALLOW },
    { "frontend-deny",    required_argument, NULL, OPT_FRONTEND_DENY },
    { "backend-allow",    required_argument, NULL, OPT_BACKEND_ALLOW },
    { "backend-deny",     required_argument, NULL, OPT_BACKEND_DENY },
    { "frontend-mechanisms", required_argument, NULL, OPT_FRONTEND_MECHANISMS },
    { "backend-mechanisms", required_argument, NULL, OPT_BACKEND_MECHANISMS },
    { "control-key",      required_argument, NULL, OPT_CONTROL_KEY },
    { "control-clients",  required_argument, NULL, OPT_CONTROL_CLIENTS },
    { "control-open-read", no_argument,      NULL, OPT_CONTROL_OPEN_READ },
    { "config",           required_argument, NULL, OPT_CONFIG },
    { "check-config",     no_argument,       NULL, OPT_CHECK_CONFIG },
    { "drain-timeout",    required_argument, NULL, OPT_DRAIN_TIMEOUT },
    { "metrics",          required_argument, NULL, OPT_METRICS },
    { "print-config",     no_argument,       NULL, OPT_PRINT_CONFIG },
    { "log-format",       required_argument, NULL, OPT_LOG_FORMAT },
    { "syslog",           no_argument,       NULL, OPT_SYSLOG },
    { "syslog-facility",  required_argument, NULL, OPT_SYSLOG_FACILITY },
    { "syslog-socket",    required_argument, NULL, OPT_SYSLOG_SOCKET },
    { "help",             no_argument,       NULL, OPT_HELP },
    { "version",          no_argument,       NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 }
};

//  The long name of an option, from the table
static const char *
s_option_name (int option)
{
    for (const struct option *entry = s_options; entry->name; entry++)
        if (entry->val == option)
            return entry->name;
    return "?";
}

//  --print-config was given
static bool s_print_requested = false;

//  Where the option being applied comes from, for messages: "" for the
//  command line, "FILE: line N: " for the configuration file
static char s_origin [600];

static int
s_bad_value (const char *option, const char *value, const char *expected)
{
    fprintf (stderr, "streamq-proxy: %sinvalid value '%s' for --%s: expected %s\n",
             s_origin, value, option, expected);
    fprintf (stderr, "Try 'streamq-proxy --help' for more information.\n");
    return 2;
}

//  Applies one numeric option; returns 0 or the exit code for a bad value
static int
s_number_option (int option, const char *value, sq_proxy_config_t *config)
{
    long long number;
    const char *name = s_option_name (option);
    bool milliseconds = option != OPT_MAX_QUEUE && option != OPT_IO_THREADS
                     && option != OPT_HEARTBEAT_LIVENESS;
    bool zero_ok = option == OPT_CLOSE_LINGER || option == OPT_ROUTE_WAIT
                || option == OPT_IDENTIFY_WAIT || option == OPT_PAIR_IDLE_TIMEOUT
                || option == OPT_PAIR_MAX_LIFETIME || option == OPT_SLOW_PEER_TIMEOUT;
    long long min = zero_ok? 0: 1;
    long long max = option == OPT_IO_THREADS? 64: option == OPT_HEARTBEAT_LIVENESS? 1000:
                    milliseconds? 86400000LL: 100000000LL;
    if (!s_parse_number (value, min, max, &number)) {
        char expected [80];
        snprintf (expected, sizeof expected, "a whole number from %lld to %lld%s",
                  min, max, milliseconds? " (milliseconds)": "");
        return s_bad_value (name, value, expected);
    }
    switch (option) {
        case OPT_MAX_QUEUE:        config->core.max_queue = (size_t) number; break;
        case OPT_QUEUE_TIMEOUT:    config->core.queue_timeout_ms = number; break;
        case OPT_GREETING_TIMEOUT: config->core.greeting_timeout_ms = number; break;
        case OPT_CLOSE_LINGER:     config->core.close_linger_ms = number; break;
        case OPT_IO_THREADS:       config->io_threads = (int) number; break;
        case OPT_ROUTE_WAIT:       config->core.route_wait_ms = number; break;
        case OPT_IDENTIFY_WAIT:    config->core.identify_wait_ms = number; break;
        case OPT_IDENTIFY_TIMEOUT: config->core.identify_timeout_ms = number; break;
        case OPT_HEARTBEAT_INTERVAL: config->core.heartbeat_interval_ms = number; break;
        case OPT_HEARTBEAT_LIVENESS: config->core.heartbeat_liveness = number; break;
        case OPT_PAIR_IDLE_TIMEOUT: config->core.pair_idle_timeout_ms = number; break;
        case OPT_PAIR_MAX_LIFETIME: config->core.pair_max_lifetime_ms = number; break;
        case OPT_SLOW_PEER_TIMEOUT: config->core.slow_peer_timeout_ms = number; break;
        case OPT_DRAIN_TIMEOUT:    config->drain_timeout_ms = number; break;
    }
    return 0;
}

//  Parses "off", "on" or "IDLE:INTERVAL:COUNT" (seconds, counts >= 1)
static bool
s_parse_keepalive (const char *text, sq_keepalive_t *keepalive)
{
    if (strcmp (text, "off") == 0 || strcmp (text, "on") == 0) {
        *keepalive = (sq_keepalive_t) { strcmp (text, "on") == 0, -1, -1, -1 };
        return true;
    }
    int idle, interval, count, used = 0;
    if (sscanf (text, "%d:%d:%d%n", &idle, &interval, &count, &used) != 3
    ||  text [used] || idle < 1 || interval < 1 || count < 1
    ||  idle > 86400 || interval > 86400 || count > 1000)
        return false;
    *keepalive = (sq_keepalive_t) { true, idle, interval, count };
    return true;
}

//  Keepalive options: the side-specific ones win over --tcp-keepalive,
//  whatever their order on the command line
static int
s_keepalive_option (int option, const char *value, sq_keepalive_t *both,
                    bool *given, sq_keepalive_t *side)
{
    sq_keepalive_t parsed;
    if (!s_parse_keepalive (value, &parsed))
        return s_bad_value (s_option_name (option), value,
                            "off, on, or IDLE:INTERVAL:COUNT (seconds)");
    if (option == OPT_TCP_KEEPALIVE)
        *both = parsed;
    else {
        int index = option == OPT_FRONTEND_KEEPALIVE? SQ_FRONTEND: SQ_BACKEND;
        side [index] = parsed;
        given [index] = true;
    }
    return 0;
}

//  Parses a byte count with an optional K, M or G suffix (powers of 1024)
static bool
s_parse_size (const char *text, long long min, long long max, long long *value)
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
    number <<= shift;
    if (number < min || number > max)
        return false;
    *value = number;
    return true;
}

//  Buffer bounds, connection limits and rates
static int
s_limit_option (int option, const char *value, sq_proxy_config_t *config)
{
    long long number;
    bool size = option == OPT_MAX_PAIR_BUFFER || option == OPT_MAX_BUFFER;
    bool at_least_one = option == OPT_MAX_CONNECTIONS || option == OPT_PEER_HWM;
    long long min = size? 64 * 1024: at_least_one? 1: 0;
    long long max = size? (1LL << 40): 10000000;
    bool valid = size? s_parse_size (value, min, max, &number)
                     : s_parse_number (value, min, max, &number);
    if (!valid)
        return s_bad_value (s_option_name (option), value, size
            ? "a byte count from 64K to 1024G (suffix K, M or G)"
            : at_least_one? "a whole number from 1 to 10000000"
                                           : "a whole number from 0 (no limit) to 10000000");
    sq_core_config_t *core = &config->core;
    switch (option) {
        case OPT_MAX_PAIR_BUFFER: core->max_pair_buffer = (size_t) number; break;
        case OPT_MAX_BUFFER:      core->max_buffer = (size_t) number; break;
        case OPT_MAX_CONNECTIONS: config->max_connections = number; break;
        case OPT_PEER_HWM:        config->peer_hwm = (int) number; break;
        case OPT_MAX_PER_IP:      core->limits.max_per_ip = (size_t) number; break;
        case OPT_MAX_RATE:        core->limits.rate_per_ip = (unsigned) number; break;
    }
    return 0;
}

//  --frontend-allow and the like: lists of IPs and CIDRs, repeatable
static int
s_access_option (int option, const char *value, sq_proxy_config_t *config)
{
    sq_side_t side = option == OPT_FRONTEND_ALLOW || option == OPT_FRONTEND_DENY
                   ? SQ_FRONTEND: SQ_BACKEND;
    bool allow = option == OPT_FRONTEND_ALLOW || option == OPT_BACKEND_ALLOW;
    if (!config->access [side])
        config->access [side] = sq_access_new ();
    char error [256] = "out of memory";
    if (!config->access [side]
    ||  !sq_access_add (config->access [side], allow, value, error, sizeof error))
        return s_bad_value (s_option_name (option), value, error);
    config->core.limits.access [side] = config->access [side];
    return 0;
}

//  --metrics http://HOST:PORT/PATH: checked here, so that a bad URL stops
//  --check-config and the start alike; bound when the proxy starts
static int
s_metrics_option (const char *value, sq_proxy_config_t *config)
{
    sq_prometheus_url_t parsed;
    char reason [256], expected [400];
    if (!sq_prometheus_url_parse (value, &parsed, reason, sizeof reason)) {
        snprintf (expected, sizeof expected, "http://HOST:PORT/PATH, e.g. "
                  "http://127.0.0.1:9100/metrics; here %s", reason);
        return s_bad_value ("metrics", value, expected);
    }
    config->metrics = value;
    return 0;
}

//  --frontend-mechanisms CURVE,PLAIN: names as ZMTP spells them, any case
static int
s_mechanisms_option (int option, const char *value, sq_proxy_config_t *config)
{
    sq_side_t side = option == OPT_FRONTEND_MECHANISMS? SQ_FRONTEND: SQ_BACKEND;
    char *list = strdup (value);
    for (char *cursor = list; cursor && *cursor; cursor++)
        *cursor = (char) toupper ((unsigned char) *cursor);
    if (!list || !sq_greeting_mechanisms_valid (list)) {
        free (list);
        return s_bad_value (s_option_name (option), value,
                            "mechanism names separated by commas, e.g. CURVE or CURVE,PLAIN");
    }
    free (config->mechanisms [side]);
    config->mechanisms [side] = list;
    config->core.mechanisms [side] = list;
    return 0;
}

//  --log-format, --syslog, --syslog-facility and --syslog-socket: put in
//  force once, as the proxy starts (s_log_open), so that checking the
//  options, or reading them again, never moves the log
static int
s_log_option (int option, const char *value, sq_proxy_config_t *config)
{
    if (option == OPT_LOG_FORMAT) {
        if (!sq_log_format_parse (value, &config->log_format))
            return s_bad_value ("log-format", value, "text or json");
        return 0;
    }
    if (option == OPT_SYSLOG_FACILITY) {
        if (!sq_log_facility_parse (value, &config->syslog_facility))
            return s_bad_value ("syslog-facility", value, "daemon, user, or local0 to local7");
        config->syslog_facility_name = value;
    }
    else
    if (option == OPT_SYSLOG_SOCKET)
        config->syslog_socket = value;
    else
        config->syslog = true;
    return 0;
}

//  Puts the log options in force, before the first line
static void
s_log_open (const sq_proxy_config_t *config)
{
    sq_log_set_format (config->log_format);
    if (config->syslog && !sq_log_set_syslog (config->syslog_facility, config->syslog_socket))
        sq_warning ("--syslog-socket %s: %s: logging on stderr", config->syslog_socket,
                    strerror (errno));
}

//  What the parse of one set of options keeps besides the config
typedef struct {
    sq_proxy_config_t *config;
    sq_keepalive_t both;        //  --tcp-keepalive
    bool given [2];             //  A side's own keepalive was given
} s_parse_t;

//  Applies one option with its value; 0, or the exit code for a bad value
static int
s_apply (s_parse_t *parse, int option, const char *value)
{
    sq_proxy_config_t *config = parse->config;
    sq_log_level_t level;
    switch (option) {
        case OPT_FRONTEND: config->frontend = value; return 0;
        case OPT_BACKEND:  config->backend = value; return 0;
        case OPT_CONTROL:  config->control = value; return 0;
        case OPT_ENGINE:
            if (strcmp (value, "stream") != 0 && strcmp (value, "splice") != 0)
                return s_bad_value ("engine", value, "'stream' or 'splice'");
            config->engine = strcmp (value, "splice") == 0? SQ_ENGINE_SPLICE: SQ_ENGINE_STREAM;
            return 0;
        case OPT_ROUTES:   config->routes = value; return 0;
        case OPT_METRICS:  return s_metrics_option (value, config);
        case OPT_CONTROL_KEY:     config->control_auth.key_file = value; return 0;
        case OPT_CONTROL_CLIENTS: config->control_auth.clients_dir = value; return 0;
        case OPT_CONTROL_OPEN_READ: config->control_auth.open_read = true; return 0;
        case OPT_ROUTE_FALLBACK:
            if (strcmp (value, "any") != 0 && strcmp (value, "wait") != 0)
                return s_bad_value ("route-fallback", value, "'any' or 'wait'");
            config->core.route_fallback_any = strcmp (value, "any") == 0;
            return 0;
        case OPT_LOG_LEVEL:
            if (!sq_log_level_parse (value, &level))
                return s_bad_value ("log-level", value, "error, warning, info or debug");
            config->log_level = level;
            return 0;
        case OPT_LOG_FORMAT:
        case OPT_SYSLOG:
        case OPT_SYSLOG_FACILITY:
        case OPT_SYSLOG_SOCKET:
            return s_log_option (option, value, config);
        case OPT_TCP_KEEPALIVE:
        case OPT_FRONTEND_KEEPALIVE:
        case OPT_BACKEND_KEEPALIVE:
            return s_keepalive_option (option, value, &parse->both, parse->given,
                                       config->keepalive);
        case OPT_SLOW_PEER:
            if (strcmp (value, "disconnect") != 0 && strcmp (value, "block") != 0)
                return s_bad_value ("slow-peer", value, "'disconnect' or 'block'");
            config->core.slow_peer_block = strcmp (value, "block") == 0;
            return 0;
        case OPT_MAX_PAIR_BUFFER:
        case OPT_MAX_BUFFER:
        case OPT_MAX_CONNECTIONS:
        case OPT_PEER_HWM:
        case OPT_MAX_PER_IP:
        case OPT_MAX_RATE:
            return s_limit_option (option, value, config);
        case OPT_FRONTEND_ALLOW:
        case OPT_FRONTEND_DENY:
        case OPT_BACKEND_ALLOW:
        case OPT_BACKEND_DENY:
            return s_access_option (option, value, config);
        case OPT_FRONTEND_MECHANISMS:
        case OPT_BACKEND_MECHANISMS:
            return s_mechanisms_option (option, value, config);
        default:
            return s_number_option (option, value, config);
    }
}

//  An option given on the command line
typedef struct {
    int option;
    const char *value;
} s_given_t;

//  Reads argv into given []; returns -1 to go on, or an exit code (after
//  --help, --version, or a bad option)
static int
s_read_argv (int argc, char *argv [], s_given_t *given, size_t *count,
             const char **config_path, bool *check_only)
{
    int option;
    opterr = 0;
    optind = 0;                 //  From the start again, on a reload too
    *count = 0;
    while ((option = getopt_long (argc, argv, "", s_options, NULL)) != -1) {
        if (option == OPT_HELP) {
            s_usage (stdout);
            return 0;
        }
        if (option == OPT_VERSION) {
            printf ("streamq-proxy " SQ_VERSION "\n");
            return 0;
        }
        if (option == '?') {
            fprintf (stderr, "streamq-proxy: unknown or incomplete option '%s'\n",
                     argv [optind - 1]);
            fprintf (stderr, "Try 'streamq-proxy --help' for more information.\n");
            return 2;
        }
        if (option == OPT_CONFIG)
            *config_path = optarg;
        else
        if (option == OPT_CHECK_CONFIG)
            *check_only = true;
        else
        if (option == OPT_PRINT_CONFIG)
            s_print_requested = true;
        else
            given [(*count)++] = (s_given_t) { option, optarg };
    }
    if (optind < argc) {
        fprintf (stderr, "streamq-proxy: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    return -1;
}

//  Options about options: not in a configuration file
static bool
s_meta_option (int option)
{
    return option == OPT_CONFIG || option == OPT_CHECK_CONFIG || option == OPT_HELP
        || option == OPT_VERSION || option == OPT_PRINT_CONFIG;
}

//  The option a configuration file names, or 0 when it names none
static int
s_option_by_name (const char *name)
{
    for (const struct option *entry = s_options; entry->name; entry++)
        if (strcmp (entry->name, name) == 0 && !s_meta_option (entry->val))
            return entry->val;
    return 0;
}

//  A flag in the file: "name", or "name = true|yes|on|1|false|no|off|0"
static int
s_flag_value (const char *value, bool *set)
{
    if (!value || !strcmp (value, "true") || !strcmp (value, "yes")
    ||  !strcmp (value, "on") || !strcmp (value, "1"))
        *set = true;
    else
    if (!strcmp (value, "false") || !strcmp (value, "no")
    ||  !strcmp (value, "off") || !strcmp (value, "0"))
        *set = false;
    else
        return -1;
    return 0;
}

static bool
s_given_on_command_line (const s_given_t *given, size_t count, int option)
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
s_apply_file (s_parse_t *parse, const char *path, const s_given_t *given, size_t count)
{
    char error [600];
    sq_config_t *file = sq_config_load (path, error, sizeof error);
    if (!file) {
        fprintf (stderr, "streamq-proxy: %s\n", error);
        return 2;
    }
    parse->config->file = file;
    for (size_t index = 0; index < sq_config_count (file); index++) {
        const sq_config_entry_t *entry = sq_config_entry (file, index);
        int option = s_option_by_name (entry->option);
        snprintf (s_origin, sizeof s_origin, "%s: line %d: ", path, entry->line);
        bool flag = false, set = true;
        for (const struct option *known = s_options; known->name; known++)
            if (known->val == option)
                flag = known->has_arg == no_argument;
        int code = 0;
        if (!option) {
            fprintf (stderr, "streamq-proxy: %sunknown option '%s'\n", s_origin, entry->option);
            code = 2;
        }
        else
        if ((flag && s_flag_value (entry->value, &set) != 0) || (!flag && !entry->value))
            code = s_bad_value (entry->option, entry->value? entry->value: "",
                                flag? "true or false": "a value (name = value)");
        else
        if (set && !s_given_on_command_line (given, count, option))
            code = s_apply (parse, option, entry->value);
        if (code)
            return code;
    }
    s_origin [0] = 0;
    return -1;
}

//  What only the whole configuration can tell wrong
static int
s_check_whole (sq_proxy_config_t *config)
{
    if (config->core.max_pair_buffer > config->core.max_buffer) {
        fprintf (stderr, "streamq-proxy: --max-pair-buffer (%zu) is larger than "
                 "--max-buffer (%zu)\n", config->core.max_pair_buffer,
                 config->core.max_buffer);
        return 2;
    }
    char error [512];
    const char *rules = config->file? sq_config_rules (config->file): "";
    if (*rules && !sq_routes_check (rules, error, sizeof error)) {
        //  "line N: reason", N counting the rules: the file's line instead
        int rule = 0, skip = 0;
        sscanf (error, "line %d: %n", &rule, &skip);
        fprintf (stderr, "streamq-proxy: %s: line %d: %s\n", config->config_path,
                 sq_config_rule_line (config->file, (size_t) rule), error + skip);
        return 2;
    }
    config->rules = rules;
    return 0;
}

//  Fills config from the configuration file, if any, then argv; returns
//  -1 to go on, or an exit code
static int
s_parse_args (int argc, char *argv [], sq_proxy_config_t *config, bool *check_only)
{
    s_given_t *given = calloc ((size_t) argc + 1, sizeof (s_given_t));
    size_t count = 0;
    const char *path = NULL;
    int code = given? s_read_argv (argc, argv, given, &count, &path, check_only): 2;
    s_parse_t parse = { config, config->keepalive [SQ_FRONTEND], { false, false } };
    config->config_path = path;
    if (code < 0 && path)
        code = s_apply_file (&parse, path, given, count);
    for (size_t index = 0; code < 0 && index < count; index++)
        code = s_apply (&parse, given [index].option, given [index].value)? 2: -1;
    free (given);
    if (code >= 0)
        return code;
    for (int side = 0; side < 2; side++)
        if (!parse.given [side])
            config->keepalive [side] = parse.both;
    return s_check_whole (config)? 2: -1;
}

//  The command line, kept for SIGHUP: the file is read again with it
static int s_argc;
static char **s_argv;

//  Reads the configuration again into fresh (the loop's SIGHUP); false
//  (with the reason on stderr) when it is not valid
static bool
s_reload (sq_proxy_config_t *fresh)
{
    bool check_only = false;
    return s_parse_args (s_argc, s_argv, fresh, &check_only) < 0;
}

//  --check-config: what parsing could not see, without starting
static int
s_check_config (const sq_proxy_config_t *config)
{
    char error [512];
    if (!sq_proxy_check_files (config, error, sizeof error)) {
        fprintf (stderr, "streamq-proxy: %s\n", error);
        return 2;
    }
    printf ("streamq-proxy: configuration OK%s%s\n", config->config_path? ": ": "",
            config->config_path? config->config_path: "");
    return 0;
}

//  ---------------------------------------------------------------------
//  --print-config: the configuration in force, as a file would give it

//  A byte count, with a K, M or G suffix when it divides evenly
static void
s_size_text (size_t bytes, char *text, size_t size)
{
    const char *suffixes = "GMK";
    for (int index = 0; index < 3; index++) {
        size_t unit = (size_t) 1 << (10 * (3 - index));
        if (bytes >= unit && bytes % unit == 0) {
            snprintf (text, size, "%zu%c", bytes / unit, suffixes [index]);
            return;
        }
    }
    snprintf (text, size, "%zu", bytes);
}

static void
s_keepalive_text (const sq_keepalive_t *keepalive, char *text, size_t size)
{
    if (!keepalive->on || keepalive->idle_s < 0)
        snprintf (text, size, "%s", keepalive->on? "on": "off");
    else
        snprintf (text, size, "%d:%d:%d", keepalive->idle_s, keepalive->interval_s,
                  keepalive->count);
}

static const char *
s_level_name (sq_log_level_t level)
{
    const char *names [] = { "error", "warning", "info", "debug" };
    return names [level];
}

//  The value of one option, or NULL when it is not set (no default)
static const char *
s_option_text (const sq_proxy_config_t *config, int option, char *text, size_t size)
{
    const sq_core_config_t *core = &config->core;
    long long number = -1;
    switch (option) {
        case OPT_FRONTEND:      return config->frontend;
        case OPT_BACKEND:       return config->backend;
        case OPT_CONTROL:       return config->control;
        case OPT_ENGINE:        return config->engine == SQ_ENGINE_SPLICE? "splice": "stream";
        case OPT_ROUTES:        return config->routes;
        case OPT_METRICS:       return config->metrics;
        case OPT_CONTROL_KEY:   return config->control_auth.key_file;
        case OPT_CONTROL_CLIENTS: return config->control_auth.clients_dir;
        case OPT_CONTROL_OPEN_READ: return config->control_auth.open_read? "true": "false";
        case OPT_LOG_LEVEL:     return s_level_name (config->log_level);
        case OPT_ROUTE_FALLBACK: return core->route_fallback_any? "any": "wait";
        case OPT_SLOW_PEER:     return core->slow_peer_block? "block": "disconnect";
        case OPT_TCP_KEEPALIVE:
        case OPT_FRONTEND_KEEPALIVE:
            s_keepalive_text (&config->keepalive [SQ_FRONTEND], text, size);
            return text;
        case OPT_BACKEND_KEEPALIVE:
            s_keepalive_text (&config->keepalive [SQ_BACKEND], text, size);
            return text;
        case OPT_MAX_PAIR_BUFFER: s_size_text (core->max_pair_buffer, text, size); return text;
        case OPT_MAX_BUFFER:    s_size_text (core->max_buffer, text, size); return text;
        case OPT_FRONTEND_MECHANISMS: return config->mechanisms [SQ_FRONTEND];
        case OPT_BACKEND_MECHANISMS:  return config->mechanisms [SQ_BACKEND];
        case OPT_FRONTEND_ALLOW: case OPT_FRONTEND_DENY:
        case OPT_BACKEND_ALLOW: case OPT_BACKEND_DENY: {
            int side = option == OPT_FRONTEND_ALLOW || option == OPT_FRONTEND_DENY;
            const sq_access_t *access = config->access [side? SQ_FRONTEND: SQ_BACKEND];
            if (!access)
                return NULL;
            sq_access_text (access, option == OPT_FRONTEND_ALLOW || option == OPT_BACKEND_ALLOW,
                            text, size);
            return *text? text: NULL;
        }
        case OPT_MAX_CONNECTIONS: number = config->max_connections; break;
        case OPT_MAX_QUEUE:     number = (long long) core->max_queue; break;
        case OPT_QUEUE_TIMEOUT: number = core->queue_timeout_ms; break;
        case OPT_GREETING_TIMEOUT: number = core->greeting_timeout_ms; break;
        case OPT_CLOSE_LINGER:  number = core->close_linger_ms; break;
        case OPT_IO_THREADS:    number = config->io_threads; break;
        case OPT_ROUTE_WAIT:    number = core->route_wait_ms; break;
        case OPT_IDENTIFY_WAIT: number = core->identify_wait_ms; break;
        case OPT_IDENTIFY_TIMEOUT: number = core->identify_timeout_ms; break;
        case OPT_HEARTBEAT_INTERVAL: number = core->heartbeat_interval_ms; break;
        case OPT_HEARTBEAT_LIVENESS: number = core->heartbeat_liveness; break;
        case OPT_PAIR_IDLE_TIMEOUT: number = core->pair_idle_timeout_ms; break;
        case OPT_PAIR_MAX_LIFETIME: number = core->pair_max_lifetime_ms; break;
        case OPT_SLOW_PEER_TIMEOUT: number = core->slow_peer_timeout_ms; break;
        case OPT_PEER_HWM:      number = config->peer_hwm; break;
        case OPT_MAX_PER_IP:    number = (long long) core->limits.max_per_ip; break;
        case OPT_MAX_RATE:      number = core->limits.rate_per_ip; break;
        case OPT_DRAIN_TIMEOUT: number = config->drain_timeout_ms; break;
        case OPT_LOG_FORMAT:    return config->log_format == SQ_LOG_JSON? "json": "text";
        case OPT_SYSLOG:        return config->syslog? "true": "false";
        case OPT_SYSLOG_FACILITY: return config->syslog_facility_name;
        case OPT_SYSLOG_SOCKET: return config->syslog_socket;
        default:
            snprintf (text, size, "(not printable)");
            return text;
    }
    if (number < 0)
        return NULL;
    snprintf (text, size, "%lld", number);
    return text;
}

//  One "name = value" line an option, in the order of --help; an option
//  that is not set is printed as a comment. The rules follow.
static void
s_print_config (const sq_proxy_config_t *config)
{
    printf ("#   streamq-proxy %s: the configuration in force\n", SQ_VERSION);
    for (const struct option *entry = s_options; entry->name; entry++) {
        if (s_meta_option (entry->val))
            continue;
        char text [1024];
        const char *value = s_option_text (config, entry->val, text, sizeof text);
        if (value)
            printf ("%s = \"%s\"\n", entry->name, value);
        else
            printf ("#   %s = (%s)\n", entry->name, entry->val == OPT_MAX_CONNECTIONS
                    ? "from the open-file limit": "not set");
    }
    const char *rules = config->rules;
    if (*rules)
        printf ("rules\n");
    while (*rules) {
        size_t length = strcspn (rules, "\n");
        const char *space = memchr (rules, ' ', length);
        if (space && length) {
            printf ("    ");
            for (const char *cursor = rules; cursor < space; cursor++)
                putchar (tolower ((unsigned char) *cursor));
            printf (" = \"%.*s\"\n", (int) (length - (size_t) (space - rules) - 1),
                    space + 1);
        }
        rules += length + (rules [length] == '\n');
    }
}

int
main (int argc, char *argv [])
{
    sq_proxy_config_t config;
    sq_proxy_config_defaults (&config);
    bool check_only = false;
    int code = s_parse_args (argc, argv, &config, &check_only);
    if (code < 0 && check_only)
        code = s_check_config (&config);
    if (code < 0 && s_print_requested) {
        s_print_config (&config);
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
