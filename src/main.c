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
"  --log-level LEVEL      error, warning, info or debug  (default info)\n"
"  --max-queue N          clients waiting for a worker   (default 1000)\n"
"  --queue-timeout MS     longest wait for a worker      (default 10000)\n"
"  --greeting-timeout MS  time to send a ZMTP greeting   (default 5000)\n"
"  --close-linger MS      grace to deliver the last bytes before closing\n"
"                         a connection whose partner left (default 100)\n"
"  --io-threads N         libzmq I/O threads             (default 1)\n"
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
"LOAD, HEARTBEAT (see streamq-ctl --help).\n"
"Peers must speak ZMTP 3.0 or later (libzmq 4.x, JeroMQ 0.4+, pyzmq, CZMQ ...).\n"
"SIGINT or SIGTERM closes every connection and exits 0; SIGHUP reloads --routes\n"
"and --control-clients.\n"
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
    OPT_HELP, OPT_VERSION
};

static const struct option s_options [] = {
    { "frontend",         required_argument, NULL, OPT_FRONTEND },
    { "backend",          required_argument, NULL, OPT_BACKEND },
    { "control",          required_argument, NULL, OPT_CONTROL },
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

static int
s_bad_value (const char *option, const char *value, const char *expected)
{
    fprintf (stderr, "streamq-proxy: invalid value '%s' for --%s: expected %s\n",
             value, option, expected);
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
                || option == OPT_PAIR_MAX_LIFETIME;
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

//  Fills config from argv; returns -1 to go on, or an exit code
static int
s_parse_args (int argc, char *argv [], sq_proxy_config_t *config)
{
    int option;
    sq_keepalive_t both = config->keepalive [SQ_FRONTEND];
    bool given [2] = { false, false };
    opterr = 0;
    while ((option = getopt_long (argc, argv, "", s_options, NULL)) != -1) {
        int code = 0;
        sq_log_level_t level;
        switch (option) {
            case OPT_FRONTEND: config->frontend = optarg; break;
            case OPT_BACKEND:  config->backend = optarg; break;
            case OPT_CONTROL:  config->control = optarg; break;
            case OPT_ROUTES:   config->routes = optarg; break;
            case OPT_CONTROL_KEY:     config->control_auth.key_file = optarg; break;
            case OPT_CONTROL_CLIENTS: config->control_auth.clients_dir = optarg; break;
            case OPT_CONTROL_OPEN_READ: config->control_auth.open_read = true; break;
            case OPT_ROUTE_FALLBACK:
                if (strcmp (optarg, "any") != 0 && strcmp (optarg, "wait") != 0)
                    return s_bad_value ("route-fallback", optarg, "'any' or 'wait'");
                config->core.route_fallback_any = strcmp (optarg, "any") == 0;
                break;
            case OPT_LOG_LEVEL:
                if (!sq_log_level_parse (optarg, &level))
                    return s_bad_value ("log-level", optarg, "error, warning, info or debug");
                sq_log_set_level (level);
                break;
            case OPT_TCP_KEEPALIVE:
            case OPT_FRONTEND_KEEPALIVE:
            case OPT_BACKEND_KEEPALIVE:
                code = s_keepalive_option (option, optarg, &both, given, config->keepalive);
                if (code)
                    return code;
                break;
            case OPT_SLOW_PEER:
                if (strcmp (optarg, "disconnect") != 0 && strcmp (optarg, "block") != 0)
                    return s_bad_value ("slow-peer", optarg, "'disconnect' or 'block'");
                config->core.slow_peer_block = strcmp (optarg, "block") == 0;
                break;
            case OPT_MAX_PAIR_BUFFER:
            case OPT_MAX_BUFFER:
            case OPT_MAX_CONNECTIONS:
            case OPT_PEER_HWM:
            case OPT_MAX_PER_IP:
            case OPT_MAX_RATE:
                code = s_limit_option (option, optarg, config);
                if (code)
                    return code;
                break;
            case OPT_FRONTEND_ALLOW:
            case OPT_FRONTEND_DENY:
            case OPT_BACKEND_ALLOW:
            case OPT_BACKEND_DENY:
                code = s_access_option (option, optarg, config);
                if (code)
                    return code;
                break;
            case OPT_FRONTEND_MECHANISMS:
            case OPT_BACKEND_MECHANISMS:
                code = s_mechanisms_option (option, optarg, config);
                if (code)
                    return code;
                break;
            case OPT_HELP:     s_usage (stdout); return 0;
            case OPT_VERSION:  printf ("streamq-proxy " SQ_VERSION "\n"); return 0;
            case '?':
                fprintf (stderr, "streamq-proxy: unknown or incomplete option '%s'\n",
                         argv [optind - 1]);
                fprintf (stderr, "Try 'streamq-proxy --help' for more information.\n");
                return 2;
            default:
                code = s_number_option (option, optarg, config);
                if (code)
                    return code;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "streamq-proxy: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    for (int side = 0; side < 2; side++)
        if (!given [side])
            config->keepalive [side] = both;
    if (config->core.max_pair_buffer > config->core.max_buffer) {
        fprintf (stderr, "streamq-proxy: --max-pair-buffer (%zu) is larger than "
                 "--max-buffer (%zu)\n", config->core.max_pair_buffer,
                 config->core.max_buffer);
        return 2;
    }
    return -1;
}

int
main (int argc, char *argv [])
{
    sq_proxy_config_t config;
    sq_proxy_config_defaults (&config);
    int code = s_parse_args (argc, argv, &config);
    if (code < 0) {
        s_install_signals ();
        sq_info ("streamq-proxy %s starting", SQ_VERSION);
        code = sq_proxy_run (&config);
    }
    sq_proxy_config_clear (&config);
    return code;
}
