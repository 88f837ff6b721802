/*  =========================================================================
    streamq_ctl - command line client for the StreamQ-Proxy control socket

    Sends one command (and its arguments) as the frames of one multipart
    message, waits for the reply, prints each reply frame on its own line;
    on a terminal LIST, WORKERS, CLIENTS and BANS are printed as tables and
    other JSON indented (--raw, --pretty, --table choose). STATS FIELD
    prints one field. `watch` asks for STATS again and again and shows a
    summary with rates.

        streamq-ctl [--control EP] [--timeout MS] [--raw|--pretty|--table]
                    [--key FILE] [--server-key FILE|KEY] COMMAND [ARG...]
        streamq-ctl [OPTION...] watch [--interval MS] [--count N]
        streamq-ctl --keygen NAME

    With --server-key the socket is a CURVE client of a control socket
    that runs CURVE (streamq-proxy --control-key), with the key pair of
    --key, or a throwaway one. --keygen makes a key pair in CZMQ's
    certificate format.

    Exit status: 0 success, 1 the proxy replied "ERROR", 2 usage error
    (a command it knows with the wrong arguments, a STATS field the reply
    lacks), no reply within the timeout (connection refused or not), or a
    key the proxy refused. The exit codes are part of the interface:
    scripts and tests rely on them.
    =========================================================================
*/

#include <zmq.h>
#include <errno.h>
#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sq_version.h"
#include "sq_cert.h"
#include "sq_command.h"
#include "sq_json_scan.h"
#include "sq_table.h"
#include "sq_service_ref.h"
#define SQ_CTL_VERSION          SQ_VERSION
#define SQ_CTL_DEFAULT_CONTROL  "tcp://127.0.0.1:5557"
#define SQ_CTL_DEFAULT_TIMEOUT  2000
#define SQ_CTL_DEFAULT_INTERVAL 1000
#define SQ_CTL_ENV_CONTROL      "STREAMQ_CONTROL"

#define SQ_CTL_EXIT_OK          0
#define SQ_CTL_EXIT_ERROR       1       //  the proxy answered "ERROR"
#define SQ_CTL_EXIT_USAGE       2       //  bad command line, or no reply

//  Internal value: parsing succeeded and the command should be sent
#define SQ_CTL_CONTINUE         -1

//  Long options without a short form
#define SQ_CTL_OPT_KEYGEN       256

//  How reply frames that hold JSON are printed
typedef enum {
    S_OUTPUT_AUTO,              //  On a terminal tables and indented JSON,
                                //  else as they are
    S_OUTPUT_RAW,               //  As they are, one line each
    S_OUTPUT_PRETTY,            //  Indented
    S_OUTPUT_TABLE              //  Tables where the command has them
} s_output_t;

typedef struct {
    const char *control;        //  control endpoint
    int timeout;                //  msecs to wait for the reply
    int argc;                   //  command and arguments, argv [0] = command
    char **argv;
    const sq_command_t *command;    //  The command, when streamq-ctl knows it
    const char *service;        //  --service: the one service to ask, or NULL
    const char *field;          //  STATS FIELD: the path of the one to print
    const char *key_file;       //  --key: our secret certificate, or NULL
    const char *server_key;     //  --server-key: a file or a Z85 key, or NULL
    const char *keygen;         //  --keygen: where to write a new key pair
    sq_cert_t cert;             //  Our key pair, when CURVE
    char server_public [SQ_CERT_Z85_SIZE];
    s_output_t output;          //  --raw, --pretty, --table
    bool watch;                 //  watch (or --watch): STATS, again and again
    int interval;               //  msecs between two STATS, when watching
    long count;                 //  refreshes before exiting; 0: no end
} s_options_t;


//  --------------------------------------------------------------------------
//  Usage texts. The short one goes to stderr after a usage error; the full
//  one to stdout on --help, so that `streamq-ctl --help | less` works.

static void
s_short_usage (FILE *out)
{
    fprintf (out,
        "Usage: streamq-ctl [--control EP] [--timeout MS] [--raw|--pretty|--table]\n"
        "                   [--key FILE] [--server-key FILE|KEY] [--service NAME]\n"
        "                   COMMAND [ARG...]\n"
        "       streamq-ctl [OPTION...] watch [--interval MS] [--count N]\n"
        "       streamq-ctl --keygen NAME\n"
        "Try 'streamq-ctl --help' for more information.\n");
}

static void
s_full_usage (FILE *out)
{
    fprintf (out,
        "Usage: streamq-ctl [--control EP] [--timeout MS] [--raw|--pretty|--table]\n"
        "                   [--key FILE] [--server-key FILE|KEY] [--service NAME]\n"
        "                   COMMAND [ARG...]\n"
        "       streamq-ctl [OPTION...] watch [--interval MS] [--count N]\n"
        "       streamq-ctl --keygen NAME\n"
        "Sends COMMAND to a StreamQ-Proxy control socket and prints each reply\n"
        "frame on its own line. When stdout is a terminal, LIST, WORKERS,\n"
        "CLIENTS and BANS are printed as aligned tables, and any other frame\n"
        "holding a JSON object or array indented; into a pipe, or with --raw,\n"
        "every frame is printed as it came (JSON for scripts and jq).\n"
        "\n"
        "Options:\n"
        "  -c, --control EP   control endpoint (default $" SQ_CTL_ENV_CONTROL
        " if set,\n"
        "                     else " SQ_CTL_DEFAULT_CONTROL ")\n"
        "  -t, --timeout MS   how long to wait for the reply (default %d)\n"
        "  -r, --raw          print every frame as it came, one line each, even\n"
        "                     on a terminal (what scripts and pipes get anyway)\n"
        "  -p, --pretty       print JSON frames indented, even into a pipe, and\n"
        "                     not as tables\n"
        "  -T, --table        print LIST, WORKERS, CLIENTS and BANS as tables,\n"
        "                     even into a pipe (e.g. for watch(1))\n"
        "  -S, --service NAME send COMMAND to that service of the proxy only\n"
        "                     (as SERVICE NAME before it); without it, a read\n"
        "                     covers every service, a change goes to each, and\n"
        "                     the entries of tables show their SERVICE\n"
        "  -s, --server-key FILE|KEY   the proxy's control public key, as its\n"
        "                     certificate file or 40 Z85 characters: talk CURVE\n"
        "                     to a proxy started with --control-key\n"
        "  -k, --key FILE     our secret certificate (NAME_secret, from --keygen\n"
        "                     or CZMQ); without it a throwaway key pair is used,\n"
        "                     which only a proxy with --control-open-read answers\n"
        "                     (read-only commands)\n"
        "      --keygen NAME  write a new key pair: NAME (public, give it to the\n"
        "                     proxy's --control-clients directory) and NAME_secret\n"
        "                     (mode 0600); prints the public key\n"
        "  -h, --help         print this help and exit\n"
        "  -V, --version      print the version and exit\n"
        "\n"
        "Commands (any case; whatever else is given is sent as it is):\n"
        "  PING               check the proxy is alive (replies PONG)\n"
        "  STATS [FIELD]      counters, as one JSON object; with FIELD, a dotted\n"
        "                     path such as pairs.active, only that value\n"
        "  LIST [OFFSET [COUNT]]  a page of the connections, as a JSON array\n"
        "                     (1000 unless COUNT; WORKERS, CLIENTS, ROUTES too)\n"
        "  WORKERS            workers by name: state, connections, idle, load\n"
        "  CLIENTS            connected clients by name, with their routes\n"
        "  ROUTES             routes, address rules, waiting registrations\n"
        "  BANS               clients refused after failed handshakes: key,\n"
        "                     failures, remaining_ms\n"
        "  CLOSE SIDE MATCH   close the live connections of SIDE whose IP is in\n"
        "                     MATCH (IP or CIDR) or whose name is MATCH, and\n"
        "                     their partners (rules touch new connections only)\n"
        "  PAUSE              stop reading frontend and backend\n"
        "  RESUME             start reading again\n"
        "  TERMINATE          close every connection and stop the proxy\n"
        "  IDENTIFY SIDE IP:PORT NAME   name one connection (SIDE: frontend\n"
        "                     or backend; IP:PORT as the proxy sees the peer)\n"
        "  ALIAS SIDE IP|CIDR NAME      name connections from an address\n"
        "  UNALIAS SIDE IP|CIDR         remove that rule\n"
        "  ROUTE CLIENT WORKER [FALLBACK...]   send a client to these workers\n"
        "  UNROUTE CLIENT     remove that route\n"
        "  DRAIN WORKER       no new pairs to a worker\n"
        "  DRAIN ALL          drain the proxy: it exits 0 when its pairs are done\n"
        "  UNDRAIN WORKER     new pairs to it again\n"
        "  WEIGHT WORKER N    share of clients, 1 to 1000000 (default 1)\n"
        "  LOAD WORKER X      the worker's own load, 0 to 1\n"
        "  HEARTBEAT NAME [MS]  NAME is alive; announces its interval\n"
        "  UNBAN KEY          lift a client's ban (KEY: its name or IP, as BANS\n"
        "                     shows it)\n"
        "  LOGLEVEL [LEVEL]   set the proxy's log level (error, warning, info\n"
        "                     or debug); replies OK and the level in force,\n"
        "                     or, with no LEVEL, just the level\n"
        "\n"
        "watch (or --watch) asks for STATS every interval and shows a summary:\n"
        "connections, pairs, bytes, workers, rejections, the engine and its\n"
        "pipes, with rates per second from one refresh to the next; on a\n"
        "terminal it clears the screen first. With --raw it prints each STATS\n"
        "reply as one line instead.\n"
        "It runs until Ctrl-C (exit 0) or the proxy stops answering (exit 2).\n"
        "  -i, --interval MS  time between two refreshes (default %d)\n"
        "  -n, --count N      stop after N refreshes (exit 0)\n"
        "\n"
        "A CURVE proxy answers a key it does not know with nothing (exit 2);\n"
        "with --control-open-read, it answers ERROR 'not authorised' to a\n"
        "command that changes state.\n"
        "\n"
        "A command listed here with missing or extra arguments is a usage error,\n"
        "found before anything is sent; any other command is sent as it is.\n"
        "When no reply comes, streamq-ctl says whether the connection was\n"
        "refused (nothing listens at the endpoint: is the proxy running?).\n"
        "\n"
        "Exit status: 0 success, 1 the proxy replied ERROR,\n"
        "             2 usage error (wrong arguments, a STATS FIELD the reply\n"
        "             does not have), no reply within the timeout, connection\n"
        "             refused, or our key refused.\n",
        SQ_CTL_DEFAULT_TIMEOUT, SQ_CTL_DEFAULT_INTERVAL);
}

//  Reports a usage error the same way for every cause
static int
s_usage_error (const char *message, const char *detail)
{
    fprintf (stderr, "streamq-ctl: %s%s%s\n",
             message, detail? ": ": "", detail? detail: "");
    s_short_usage (stderr);
    return SQ_CTL_EXIT_USAGE;
}


//  --------------------------------------------------------------------------
//  Parses a whole number in [min, max]: a timeout, an interval or a count.
//  A timeout of zero would never wait for the reply, and zmq_poll takes a
//  negative value as "wait forever", which a control tool must never do.

static bool
s_parse_whole (const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long number = strtol (text, &end, 10);
    if (errno || end == text || *end != '\0' || number < min || number > max)
        return false;
    *value = number;
    return true;
}

//  Reports an unknown option or a missing value. getopt's own messages are
//  switched off (opterr = 0) so that every error names "streamq-ctl" rather
//  than whatever path the binary was started with.
static int
s_option_error (int code, char *argv [])
{
    //  getopt has stepped past the faulty argument. A long option is named
    //  by that argument; a short one by optopt, since it may sit inside a
    //  cluster such as "-Vx"
    const char *argument = argv [optind - 1];
    char short_name [3] = { '-', (char) optopt, '\0' };
    bool is_long = strncmp (argument, "--", 2) == 0 || optopt == 0;
    const char *option = is_long? argument: short_name;
    if (code == ':')
        return s_usage_error ("option needs a value", option);
    if (is_long && optopt != 0)     //  e.g. "--help=yes"
        return s_usage_error ("option takes no value", option);
    return s_usage_error ("unknown option", option);
}

//  Applies one option; SQ_CTL_CONTINUE, or the exit code
static int
s_apply_option (int code, char *argv [], s_options_t *options)
{
    long number;
    switch (code) {
        case 'c':
            if (*optarg == '\0')
                return s_usage_error ("--control needs an endpoint", NULL);
            options->control = optarg;
            break;
        case 't':
            if (!s_parse_whole (optarg, 1, INT_MAX, &number))
                return s_usage_error (
                    "--timeout must be a whole number of msecs >= 1", optarg);
            options->timeout = (int) number;
            break;
        case 'i':
            if (!s_parse_whole (optarg, 10, 86400000, &number))
                return s_usage_error (
                    "--interval must be a whole number of msecs from 10 to 86400000",
                    optarg);
            options->interval = (int) number;
            break;
        case 'n':
            if (!s_parse_whole (optarg, 1, LONG_MAX, &number))
                return s_usage_error ("--count must be a whole number >= 1", optarg);
            options->count = number;
            break;
        case 'S':
            if (!sq_service_name_ok (optarg))
                return s_usage_error ("--service needs a name of 1 to 63 of A-Z a-z "
                                      "0-9 . _ -", optarg);
            options->service = optarg;
            break;
        case 'k': options->key_file = optarg; break;
        case 's': options->server_key = optarg; break;
        case 'r': options->output = S_OUTPUT_RAW; break;
        case 'p': options->output = S_OUTPUT_PRETTY; break;
        case 'T': options->output = S_OUTPUT_TABLE; break;
        case 'w': options->watch = true; break;
        case SQ_CTL_OPT_KEYGEN:
            if (*optarg == '\0')
                return s_usage_error ("--keygen needs a file name", NULL);
            options->keygen = optarg;
            break;
        case 'h':
            s_full_usage (stdout);
            return SQ_CTL_EXIT_OK;
        case 'V':
            printf ("streamq-ctl %s\n", SQ_CTL_VERSION);
            return SQ_CTL_EXIT_OK;
        default:
            return s_option_error (code, argv);
    }
    return SQ_CTL_CONTINUE;
}

//  Reads options up to the first argument that is not one. Returns
//  SQ_CTL_CONTINUE, or the exit code.
static int
s_parse_options (int argc, char *argv [], s_options_t *options)
{
    static const struct option long_options [] = {
        { "control", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 't' },
        { "key",     required_argument, NULL, 'k' },
        { "server-key", required_argument, NULL, 's' },
        { "service", required_argument, NULL, 'S' },
        { "keygen",  required_argument, NULL, SQ_CTL_OPT_KEYGEN },
        { "raw",     no_argument,       NULL, 'r' },
        { "pretty",  no_argument,       NULL, 'p' },
        { "table",   no_argument,       NULL, 'T' },
        { "watch",   no_argument,       NULL, 'w' },
        { "interval", required_argument, NULL, 'i' },
        { "count",   required_argument, NULL, 'n' },
        { "help",    no_argument,       NULL, 'h' },
        { "version", no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    //  "+" stops at the first non-option, so a command's own arguments
    //  (even ones starting with '-') pass through; ":" reports a missing
    //  value apart from an unknown option
    opterr = 0;
    optind = 0;                 //  From the start: this runs twice for watch
    int code;
    while ((code = getopt_long (argc, argv, "+:c:t:k:s:S:rpTwi:n:hV", long_options, NULL)) != -1) {
        int result = s_apply_option (code, argv, options);
        if (result != SQ_CTL_CONTINUE)
            return result;
    }
    return SQ_CTL_CONTINUE;
}

//  A command streamq-ctl knows must have the arguments it takes (a usage
//  error otherwise); STATS FIELD keeps its FIELD for itself. Returns
//  SQ_CTL_CONTINUE or the exit code.
static int
s_check_command (s_options_t *options)
{
    //  SERVICE NAME typed before the command is --service NAME
    if (options->argc >= 3 && strcasecmp (options->argv [0], "SERVICE") == 0) {
        if (options->service)
            return s_usage_error ("--service and SERVICE: one service at a time", NULL);
        if (!sq_service_name_ok (options->argv [1]))
            return s_usage_error ("SERVICE needs a name of 1 to 63 of A-Z a-z 0-9 . _ -",
                                  options->argv [1]);
        options->service = options->argv [1];
        options->argc -= 2;
        options->argv += 2;
    }
    options->command = sq_command_find (options->argv [0]);
    const sq_command_t *command = options->command;
    size_t args = (size_t) options->argc - 1;
    if (!command)
        return SQ_CTL_CONTINUE;
    if (!sq_command_args_ok (command, args)) {
        fprintf (stderr, "streamq-ctl: usage: streamq-ctl [OPTION...] %s\n",
                 command->synopsis);
        fprintf (stderr, "Try 'streamq-ctl --help' for more information.\n");
        return SQ_CTL_EXIT_USAGE;
    }
    if (sq_command_has (command, SQ_COMMAND_FIELD) && args > command->max_args) {
        options->field = options->argv [--options->argc];
        if (*options->field == 0)
            return s_usage_error ("the field may not be empty", NULL);
    }
    return SQ_CTL_CONTINUE;
}

//  Fills options from the command line. Returns SQ_CTL_CONTINUE when a
//  command should be sent (or watch run), else the exit code (after
//  --help, --version or a usage error).
static int
s_parse_args (int argc, char *argv [], s_options_t *options)
{
    memset (options, 0, sizeof *options);
    const char *env = getenv (SQ_CTL_ENV_CONTROL);
    options->control = env && *env? env: SQ_CTL_DEFAULT_CONTROL;
    options->timeout = SQ_CTL_DEFAULT_TIMEOUT;
    options->interval = SQ_CTL_DEFAULT_INTERVAL;

    int code = s_parse_options (argc, argv, options);
    if (code != SQ_CTL_CONTINUE)
        return code;
    int first = optind;
    //  "watch" is ours, not the proxy's: its own options follow it (getopt
    //  takes the word itself for the program's name)
    if (first < argc && strcasecmp (argv [first], "watch") == 0) {
        options->watch = true;
        code = s_parse_options (argc - first, argv + first, options);
        if (code != SQ_CTL_CONTINUE)
            return code;
        if (optind < argc - first)
            return s_usage_error ("watch takes no command", argv [first + optind]);
        first = argc;
    }
    if (options->watch && first == argc) {
        static char stats [] = "STATS";
        static char *request [] = { stats };
        options->argc = 1;
        options->argv = request;
    }
    if (options->keygen)
        return first < argc? s_usage_error ("--keygen takes no command", argv [first]):
                             SQ_CTL_CONTINUE;
    if (options->watch)
        return first < argc? s_usage_error ("watch sends STATS: no command", argv [first]):
                             SQ_CTL_CONTINUE;
    if (options->count || options->interval != SQ_CTL_DEFAULT_INTERVAL)
        return s_usage_error ("--count and --interval go with watch", NULL);
    if (first >= argc)
        return s_usage_error ("no command given", NULL);
    //  An empty first frame would read as a delimiter, not as a command
    if (*argv [first] == '\0')
        return s_usage_error ("the command may not be empty", NULL);
    options->argc = argc - first;
    options->argv = argv + first;
    return s_check_command (options);
}


//  --------------------------------------------------------------------------
//  CURVE keys

//  Writes a new key pair as NAME and NAME_secret and prints the public
//  key. Returns the exit code.
static int
s_keygen (const char *name)
{
    char public_key [SQ_CERT_Z85_SIZE], secret_key [SQ_CERT_Z85_SIZE], error [512];
    if (zmq_curve_keypair (public_key, secret_key) != 0) {
        fprintf (stderr, "streamq-ctl: cannot make a key pair: %s\n",
                 zmq_strerror (errno));
        return SQ_CTL_EXIT_USAGE;
    }
    bool saved = sq_cert_save_pair (name, public_key, secret_key, error, sizeof error);
    explicit_bzero (secret_key, sizeof secret_key);
    if (!saved) {
        fprintf (stderr, "streamq-ctl: %s\n", error);
        return SQ_CTL_EXIT_USAGE;
    }
    printf ("%s\n", public_key);
    return SQ_CTL_EXIT_OK;
}

//  Reads the proxy's public key: a certificate file, or a Z85 key given
//  as is (a file of that name wins). False after saying why.
static bool
s_server_key_load (s_options_t *options)
{
    const char *given = options->server_key;
    if (access (given, F_OK) != 0 && sq_cert_z85_valid (given, NULL)) {
        strcpy (options->server_public, given);
        return true;
    }
    sq_cert_t cert;
    char error [512];
    if (!sq_cert_load (given, &cert, error, sizeof error)) {
        fprintf (stderr, "streamq-ctl: --server-key: %s\n", error);
        return false;
    }
    if (!*cert.public_key) {
        fprintf (stderr, "streamq-ctl: --server-key: %s has no public-key\n", given);
        return false;
    }
    strcpy (options->server_public, cert.public_key);
    explicit_bzero (&cert, sizeof cert);
    return true;
}

//  Loads the keys CURVE needs: the proxy's public key, and our pair from
//  --key or a throwaway one. Returns SQ_CTL_CONTINUE or the exit code.
static int
s_keys_load (s_options_t *options)
{
    if (!options->server_key)
        return options->key_file?
            s_usage_error ("--key needs --server-key, the proxy's public key", NULL):
            SQ_CTL_CONTINUE;
    if (!s_server_key_load (options))
        return SQ_CTL_EXIT_USAGE;
    char error [512];
    if (options->key_file
    &&  !sq_cert_load_secret (options->key_file, &options->cert, error, sizeof error)) {
        fprintf (stderr, "streamq-ctl: --key: %s\n", error);
        return SQ_CTL_EXIT_USAGE;
    }
    if (!options->key_file
    &&  zmq_curve_keypair (options->cert.public_key, options->cert.secret_key) != 0) {
        fprintf (stderr, "streamq-ctl: cannot make a key pair: %s\n",
                 zmq_strerror (errno));
        return SQ_CTL_EXIT_USAGE;
    }
    return SQ_CTL_CONTINUE;
}


//  --------------------------------------------------------------------------
//  Monotonic clock in msecs, for a deadline that wall-clock changes can't
//  move

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Sends the request: an empty delimiter, then SERVICE and its name with
//  --service, then the command and its arguments, one frame each. The delimiter makes the DEALER's message look
//  like a REQ socket's, which the control socket answers in kind; DEALER
//  rather than REQ because REQ's send/receive lock-step buys nothing for a
//  single exchange. Returns 0, or -1 with errno set.
static int
s_send_request (void *socket, const s_options_t *options)
{
    if (zmq_send (socket, "", 0, ZMQ_SNDMORE) == -1)
        return -1;
    if (options->service
    &&  (zmq_send (socket, "SERVICE", 7, ZMQ_SNDMORE) == -1
    ||   zmq_send (socket, options->service, strlen (options->service), ZMQ_SNDMORE) == -1))
        return -1;
    for (int index = 0; index < options->argc; index++) {
        const char *frame = options->argv [index];
        int flags = index + 1 < options->argc? ZMQ_SNDMORE: 0;
        if (zmq_send (socket, frame, strlen (frame), flags) == -1)
            return -1;
    }
    return 0;
}

//  Under CURVE, the DEALER's handshake is watched with a socket monitor,
//  so that a refused key is reported at once, as such, and a timeout can
//  say that the handshake never finished
typedef struct {
    void *monitor;              //  PAIR receiving the events, or NULL
    int refused;                //  ZAP status code of a refusal, or 0
    int protocol_error;         //  ZMQ_PROTOCOL_ERROR_* of a failure, or 0
    bool cut;                   //  A connection closed during its handshake
} s_watch_t;

#define SQ_CTL_MONITOR  "inproc://streamq-ctl-monitor"

//  Starts watching socket's handshakes. The PAIR connects before the
//  monitor binds (inproc allows it), so it is there for the first event.
static bool
s_watch_start (s_watch_t *watch, void *context, void *socket)
{
    int linger = 0;
    watch->monitor = zmq_socket (context, ZMQ_PAIR);
    return watch->monitor
        && zmq_setsockopt (watch->monitor, ZMQ_LINGER, &linger, sizeof linger) == 0
        && zmq_connect (watch->monitor, SQ_CTL_MONITOR) == 0
        && zmq_socket_monitor (socket, SQ_CTL_MONITOR,
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                               | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0;
}

static void
s_watch_stop (s_watch_t *watch, void *socket)
{
    if (watch->monitor) {
        zmq_socket_monitor (socket, NULL, 0);
        zmq_close (watch->monitor);
        watch->monitor = NULL;
    }
}

//  Reads one event: its first frame holds a 16-bit event number and a
//  32-bit value, the second the endpoint. True if it ends the wait.
static bool
s_watch_read (s_watch_t *watch)
{
    uint8_t event [6];
    char endpoint [256];
    if (zmq_recv (watch->monitor, event, sizeof event, ZMQ_DONTWAIT) != sizeof event)
        return false;
    zmq_recv (watch->monitor, endpoint, sizeof endpoint, 0);
    uint16_t number;
    uint32_t value;
    memcpy (&number, event, sizeof number);
    memcpy (&value, event + 2, sizeof value);
    if (number == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        watch->refused = (int) value;
    else
    if (number == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        watch->protocol_error = (int) value;
    else
        watch->cut = true;      //  libzmq redials: wait on
    return watch->refused || watch->protocol_error;
}

//  Set by SIGINT and SIGTERM in watch mode, which then ends (exit 0)
static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_interrupt (int signal_number)
{
    (void) signal_number;
    s_interrupted = 1;
}

//  Waits until the reply can be read, the handshake fails for good, or the
//  deadline passes. A signal that interrupts zmq_poll (EINTR) does not cut
//  the wait short, but for the end of watch. Returns true when a reply is
//  ready.
static bool
s_wait_reply (void *socket, s_watch_t *watch, int timeout)
{
    long long deadline = s_now_ms () + timeout;
    while (true) {
        long long left = deadline - s_now_ms ();
        if (left <= 0)
            return false;
        zmq_pollitem_t items [] = {
            { socket, 0, ZMQ_POLLIN, 0 }, { watch->monitor, 0, ZMQ_POLLIN, 0 }
        };
        int rc = zmq_poll (items, watch->monitor? 2: 1, (long) left);
        if (rc > 0 && (items [0].revents & ZMQ_POLLIN))
            return true;
        if (rc > 0 && s_watch_read (watch))
            return false;
        if (rc == -1 && (errno != EINTR || s_interrupted))
            return false;
    }
}

//  How long the probe after a silence may take to connect
#define SQ_CTL_PROBE_MS         1000

//  Connects a plain socket to address, waiting at most SQ_CTL_PROBE_MS;
//  0 when it connects, else the errno of the failure
static int
s_probe_connect (const struct sockaddr *address, socklen_t size)
{
    int fd = socket (address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return errno;
    int error = connect (fd, address, size) == 0? 0: errno;
    if (error == EINPROGRESS) {
        struct pollfd item = { fd, POLLOUT, 0 };
        socklen_t length = sizeof error;
        if (poll (&item, 1, SQ_CTL_PROBE_MS) != 1
        ||  getsockopt (fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
            error = ETIMEDOUT;
    }
    close (fd);
    return error;
}

//  After no reply: whether anything listens at the control endpoint, by
//  connecting to it as libzmq would (tcp:// and ipc:// only). 0 when
//  something accepts, the errno of the failure (ECONNREFUSED, ENOENT...),
//  or -1 when the endpoint cannot be probed.
static int
s_probe (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        struct sockaddr_un address = { .sun_family = AF_UNIX };
        const char *path = endpoint + 6;
        if (strlen (path) >= sizeof address.sun_path)
            return -1;
        strcpy (address.sun_path, path);
        if (*path == '@')           //  Abstract, as libzmq spells it
            address.sun_path [0] = 0;
        return s_probe_connect ((struct sockaddr *) &address, (socklen_t)
                                (offsetof (struct sockaddr_un, sun_path) + strlen (path)
                                 + (*path != '@')));
    }
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return -1;
    //  tcp://[SOURCE;]HOST:PORT, HOST maybe [IPv6]
    const char *host = strrchr (endpoint, ';')? strrchr (endpoint, ';') + 1: endpoint + 6;
    const char *colon = strrchr (host, ':');
    char name [256];
    bool bracket = *host == '[' && colon && colon > host && colon [-1] == ']';
    if (!colon || (size_t) (colon - host) >= sizeof name)
        return -1;
    snprintf (name, sizeof name, "%.*s", (int) (colon - host - 2 * bracket), host + bracket);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *found = NULL;
    if (getaddrinfo (name, colon + 1, &hints, &found) != 0 || !found)
        return -1;
    int error = s_probe_connect (found->ai_addr, found->ai_addrlen);
    freeaddrinfo (found);
    return error;
}

//  Says why no reply came
static void
s_no_reply (const s_options_t *options, const s_watch_t *watch)
{
    if (watch->refused)
        fprintf (stderr, "streamq-ctl: the proxy at %s refused our key %s "
                 "(ZAP status %d): it is not in its --control-clients\n",
                 options->control, options->cert.public_key, watch->refused);
    else
    if (watch->protocol_error)
        fprintf (stderr, "streamq-ctl: the CURVE handshake with %s failed "
                 "(protocol error 0x%x)\n", options->control, watch->protocol_error);
    else {
        int probe = s_probe (options->control);
        if (probe == ECONNREFUSED || probe == ENOENT)
            fprintf (stderr, "streamq-ctl: no reply from %s within %d ms: %s "
                     "(is streamq-proxy running, with --control %s?)\n",
                     options->control, options->timeout,
                     probe == ENOENT? "no such socket": "connection refused",
                     options->control);
        else
            fprintf (stderr, "streamq-ctl: no reply from %s within %d ms\n",
                     options->control, options->timeout);
        if (watch->cut)
            fprintf (stderr, "streamq-ctl: the proxy closed the connection during "
                     "the CURVE handshake: is --server-key its control key, and "
                     "was it started with --control-key?\n");
    }
}

//  Makes socket a CURVE client with our key pair; 0 or -1
static int
s_curve_set (void *socket, const s_options_t *options)
{
    if (zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, options->server_public, 40) == -1
    ||  zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, options->cert.public_key, 40) == -1
    ||  zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, options->cert.secret_key, 40) == -1)
        return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Printing the reply

//  Writes a frame that holds a JSON object or array indented, and a
//  newline; false, having written nothing, when it holds anything else
static bool
s_print_pretty (FILE *out, const void *data, size_t size)
{
    char *text = malloc (size + 1);
    char *pretty = NULL;
    size_t length = 0;
    bool done = false;
    if (text && !memchr (data, 0, size)) {
        memcpy (text, data, size);
        text [size] = 0;
        const char *start = sq_json_scan_space (text);
        FILE *buffer = *start == '{' || *start == '['? open_memstream (&pretty, &length): NULL;
        const char *end = buffer? sq_json_scan_value (start, buffer, 0): NULL;
        if (buffer && fclose (buffer) == 0 && end && *sq_json_scan_space (end) == 0) {
            fwrite (pretty, 1, length, out);
            fputc ('\n', out);
            done = true;
        }
    }
    free (pretty);
    free (text);
    return done;
}

//  A whole reply, the delimiter left out: its frames, each a copy with a
//  NUL after it (the size does not count it)
typedef struct {
    bool is_error;              //  The first frame is "ERROR"
    size_t count;
    char **frame;
    size_t *size;
} s_reply_t;

static void
s_reply_clear (s_reply_t *reply)
{
    for (size_t index = 0; index < reply->count; index++)
        free (reply->frame [index]);
    free (reply->frame);
    free (reply->size);
    memset (reply, 0, sizeof *reply);
}

//  Appends a copy of the frame; false when out of memory
static bool
s_reply_add (s_reply_t *reply, zmq_msg_t *frame)
{
    size_t size = zmq_msg_size (frame);
    char **frames = realloc (reply->frame, (reply->count + 1) * sizeof (char *));
    if (frames)
        reply->frame = frames;
    size_t *sizes = realloc (reply->size, (reply->count + 1) * sizeof (size_t));
    if (sizes)
        reply->size = sizes;
    char *copy = frames && sizes? malloc (size + 1): NULL;
    if (!copy)
        return false;
    memcpy (copy, zmq_msg_data (frame), size);
    copy [size] = 0;
    reply->frame [reply->count] = copy;
    reply->size [reply->count++] = size;
    return true;
}

//  Reads the whole reply (libzmq delivers all its frames together) into
//  reply; false, having said why, when that fails
static bool
s_read_reply (void *socket, s_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    bool more = true;
    for (int received = 0; more; received++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, socket, 0) == -1) {
            fprintf (stderr, "streamq-ctl: receive failed: %s\n", zmq_strerror (errno));
            zmq_msg_close (&frame);
            s_reply_clear (reply);
            return false;
        }
        more = zmq_msg_more (&frame);
        //  The proxy mirrors our empty delimiter; it is not part of the reply
        bool is_delimiter = received == 0 && zmq_msg_size (&frame) == 0;
        bool kept = is_delimiter || s_reply_add (reply, &frame);
        zmq_msg_close (&frame);
        if (!kept) {
            fprintf (stderr, "streamq-ctl: out of memory\n");
            s_reply_clear (reply);
            return false;
        }
    }
    reply->is_error = reply->count > 0 && strcmp (reply->frame [0], "ERROR") == 0;
    return true;
}

//  Writes one frame as it came, and a newline. JSON and other text
//  frames come out as they are, so the output can be piped into jq.
static void
s_print_frame (FILE *out, const char *frame, size_t size)
{
    fwrite (frame, 1, size, out);
    fputc ('\n', out);
}

//  An "ERROR" reply: the frames after it are the reason, each a whole
//  "streamq-ctl: error: " line on stderr, so that stdout stays empty for
//  a script that parses it. Returns the exit code.
static int
s_print_error (const s_reply_t *reply, const s_options_t *options)
{
    for (size_t index = 1; index < reply->count; index++) {
        fputs ("streamq-ctl: error: ", stderr);
        s_print_frame (stderr, reply->frame [index], reply->size [index]);
    }
    if (reply->count == 1)
        fprintf (stderr, "streamq-ctl: error: (the proxy gave no reason)\n");
    if (reply->count > 1 && options->command
    &&  strncmp (reply->frame [1], "unknown command", 15) == 0)
        fprintf (stderr, "streamq-ctl: this proxy does not know %s: it is older "
                 "than this streamq-ctl (%s)\n", options->command->name, SQ_CTL_VERSION);
    return SQ_CTL_EXIT_ERROR;
}

//  STATS FIELD: the value at that dotted path alone, a string without its
//  quotes and escapes. Returns the exit code: a path the reply does not
//  have is a usage error.
static int
s_print_field (const char *json, const char *field, bool pretty)
{
    const char *value = *field? sq_json_scan_find (json, field): NULL;
    const char *end = value? sq_json_scan_value (value, NULL, 0): NULL;
    if (!end) {
        fprintf (stderr, "streamq-ctl: STATS has no field '%s' (the fields are the "
                 "dotted paths into what 'streamq-ctl --raw STATS' prints, e.g. "
                 "pairs.active)\n", field);
        return SQ_CTL_EXIT_USAGE;
    }
    size_t size = (size_t) (end - value);
    char *text = *value == '"'? malloc (size + 1): NULL;
    if (text && sq_json_scan_string (value, text, size + 1))
        printf ("%s\n", text);
    else
    if (!pretty || !s_print_pretty (stdout, value, size))
        s_print_frame (stdout, value, size);
    free (text);
    return SQ_CTL_EXIT_OK;
}

//  A reply that is a JSON array of objects, as an aligned table; false,
//  having written nothing, when it is not one
static bool
s_print_table (const char *json)
{
    sq_table_t *table = sq_table_from_json (json);
    if (!table)
        return false;
    sq_table_print (table, stdout);
    sq_table_destroy (&table);
    return true;
}

//  Prints the reply as the options ask: an error's reason on stderr, a
//  field, a table, or every frame on its own line (JSON indented when
//  pretty). Returns the exit code.
static int
s_print_reply (const s_reply_t *reply, const s_options_t *options, bool pretty, bool table)
{
    if (reply->is_error)
        return s_print_error (reply, options);
    if (options->field)
        return s_print_field (reply->count? reply->frame [0]: "", options->field, pretty);
    if (table && reply->count == 1 && options->command
    &&  sq_command_has (options->command, SQ_COMMAND_TABLE)
    &&  s_print_table (reply->frame [0]))
        return SQ_CTL_EXIT_OK;
    for (size_t index = 0; index < reply->count; index++)
        if (!pretty || !s_print_pretty (stdout, reply->frame [index], reply->size [index]))
            s_print_frame (stdout, reply->frame [index], reply->size [index]);
    return SQ_CTL_EXIT_OK;
}

//  Sends the request and reads the whole reply into reply. Returns
//  SQ_CTL_CONTINUE when there is one to print, else the exit code: after
//  an interrupted watch, 0.
static int
s_exchange (void *socket, s_watch_t *watch, const s_options_t *options, s_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    if (s_send_request (socket, options) == 0
    &&  s_wait_reply (socket, watch, options->timeout))
        return s_read_reply (socket, reply)? SQ_CTL_CONTINUE: SQ_CTL_EXIT_USAGE;
    if (s_interrupted)
        return SQ_CTL_EXIT_OK;
    s_no_reply (options, watch);
    return SQ_CTL_EXIT_USAGE;
}


//  --------------------------------------------------------------------------
//  watch: STATS every interval, as a summary with rates per second

//  The counters shown with a rate
static const char *s_rated [] = {
    "frontend.accepted", "backend.accepted", "pairs.total", "bytes.to_backend",
    "bytes.to_frontend", "rejected.greeting", "rejected.queue", "engine.pipe_refusals"
};
#define SQ_CTL_RATED    (sizeof s_rated / sizeof s_rated [0])

//  One STATS reading, to compute the next one's rates
typedef struct {
    bool taken;
    double uptime_ms;
    double counter [SQ_CTL_RATED];
} s_sample_t;

//  The number at path in a STATS reply; 0 when there is none
static double
s_stat (const char *stats, const char *path)
{
    const char *value = sq_json_scan_find (stats, path);
    return value? strtod (value, NULL): 0;
}

//  "12 B", "1.5 KiB", "3.2 MiB" ... into buf
static const char *
s_bytes_text (double bytes, char *buf, size_t size)
{
    const char *units [] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int unit = 0;
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        unit++;
    }
    snprintf (buf, size, unit? "%.1f %s": "%.0f %s", bytes, units [unit]);
    return buf;
}

//  The rates of the counters since the previous reading into rate [],
//  "-" when there is none (the first reading, or a proxy that restarted)
static void
s_rates (const s_sample_t *now, const s_sample_t *previous, char rate [][32])
{
    double seconds = previous->taken? (now->uptime_ms - previous->uptime_ms) / 1000: 0;
    for (size_t index = 0; index < SQ_CTL_RATED; index++) {
        double delta = now->counter [index] - previous->counter [index];
        char number [24];
        if (seconds <= 0 || delta < 0)
            snprintf (rate [index], 32, "-/s");
        else
        if (strncmp (s_rated [index], "bytes.", 6) == 0)
            snprintf (rate [index], 32, "%s/s",
                      s_bytes_text (delta / seconds, number, sizeof number));
        else
            snprintf (rate [index], 32, "%.1f/s", delta / seconds);
    }
}

//  The engine's line: its name, and the splice engine's pipes (a proxy
//  that names no engine has none)
static void
s_engine_print (const char *stats, const s_sample_t *now, char rate [][32])
{
    char name [16] = "";
    const char *value = sq_json_scan_find (stats, "engine.name");
    if (value && sscanf (value, "\"%15[a-z]\"", name) != 1)
        name [0] = 0;
    if (strcmp (name, "splice") == 0)
        printf ("  engine       splice  pipes lent %.0f  idle %.0f  refused %.0f (%s)\n",
                s_stat (stats, "engine.pipes_lent"), s_stat (stats, "engine.pipes_idle"),
                now->counter [7], rate [7]);
    else
    if (*name)
        printf ("  engine       %s\n", name);
}

//  Prints one refresh and makes it the previous reading
static void
s_summary_print (const char *stats, s_sample_t *previous, const s_options_t *options)
{
    s_sample_t now = { true, s_stat (stats, "uptime_ms"), { 0 } };
    for (size_t index = 0; index < SQ_CTL_RATED; index++)
        now.counter [index] = s_stat (stats, s_rated [index]);
    char rate [SQ_CTL_RATED][32], clock [16], held [24], held_max [24], to [2][24];
    s_rates (&now, previous, rate);
    time_t wall = time (NULL);
    struct tm local;
    strftime (clock, sizeof clock, "%H:%M:%S", localtime_r (&wall, &local));
    long long up = (long long) now.uptime_ms / 1000;
    const char *paused = sq_json_scan_find (stats, "paused");
    printf ("streamq-proxy %s at %s, up %lldh%02lldm%02llds%s\n", options->control,
            clock, up / 3600, up / 60 % 60, up % 60,
            paused && strncmp (paused, "true", 4) == 0? ", PAUSED": "");
    printf ("  connections  frontend %.0f  backend %.0f\n",
            s_stat (stats, "frontend.connections"), s_stat (stats, "backend.connections"));
    printf ("  accepted     frontend %.0f (%s)  backend %.0f (%s)\n",
            now.counter [0], rate [0], now.counter [1], rate [1]);
    printf ("  pairs        active %.0f  total %.0f (%s)\n",
            s_stat (stats, "pairs.active"), now.counter [2], rate [2]);
    printf ("  bytes        to backend %s (%s)  to frontend %s (%s)\n",
            s_bytes_text (now.counter [3], to [0], sizeof to [0]), rate [3],
            s_bytes_text (now.counter [4], to [1], sizeof to [1]), rate [4]);
    printf ("  workers      known %.0f  idle %.0f  draining %.0f  clients queued %.0f\n",
            s_stat (stats, "workers.known"), s_stat (stats, "workers.idle"),
            s_stat (stats, "workers.draining"), s_stat (stats, "clients.queued"));
    printf ("  rejected     greeting %.0f (%s)  queue %.0f (%s)\n",
            now.counter [5], rate [5], now.counter [6], rate [6]);
    printf ("  held         %s of %s\n",
            s_bytes_text (s_stat (stats, "held.bytes"), held, sizeof held),
            s_bytes_text (s_stat (stats, "held.max"), held_max, sizeof held_max));
    s_engine_print (stats, &now, rate);
    *previous = now;
}

//  Sleeps msecs; false when watch is interrupted meanwhile
static bool
s_sleep (int msecs)
{
    long long deadline = s_now_ms () + msecs;
    while (!s_interrupted) {
        long long left = deadline - s_now_ms ();
        if (left <= 0)
            return true;
        struct timespec pause = { (time_t) (left / 1000), (long) (left % 1000) * 1000000 };
        nanosleep (&pause, NULL);
    }
    return false;
}

//  Ctrl-C (or SIGTERM) ends watch between two refreshes, or during the
//  wait for a reply: no SA_RESTART, so that the wait is cut short
static void
s_catch_interrupts (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_interrupt;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
}

//  Asks for STATS until --count refreshes, Ctrl-C (0 both), an ERROR (1)
//  or no reply (2). Returns the exit code.
static int
s_watch_stats (void *socket, s_watch_t *watch, const s_options_t *options)
{
    bool terminal = isatty (STDOUT_FILENO);
    s_sample_t previous = { false, 0, { 0 } };
    s_catch_interrupts ();
    for (long refresh = 0; !options->count || refresh < options->count; refresh++) {
        if (refresh > 0 && !s_sleep (options->interval))
            break;
        s_reply_t reply;
        int code = s_exchange (socket, watch, options, &reply);
        if (code == SQ_CTL_CONTINUE && reply.is_error)
            code = s_print_error (&reply, options);
        else
        if (code == SQ_CTL_CONTINUE && reply.count == 0 && !s_interrupted) {
            fprintf (stderr, "streamq-ctl: the proxy replied to STATS with nothing\n");
            code = SQ_CTL_EXIT_USAGE;
        }
        if (code != SQ_CTL_CONTINUE || s_interrupted) {
            s_reply_clear (&reply);
            return code == SQ_CTL_CONTINUE? SQ_CTL_EXIT_OK: code;
        }
        const char *stats = reply.frame [0];
        if (options->output == S_OUTPUT_RAW)
            printf ("%s\n", stats);
        else {
            //  On a terminal each refresh replaces the last; in a file they
            //  follow one another
            if (terminal)
                fputs ("\033[H\033[2J", stdout);
            else
            if (refresh > 0)
                putchar ('\n');
            s_summary_print (stats, &previous, options);
        }
        s_reply_clear (&reply);
        if (fflush (stdout) == EOF)
            return SQ_CTL_EXIT_USAGE;
    }
    return SQ_CTL_EXIT_OK;
}


//  --------------------------------------------------------------------------
//  Opens the DEALER socket, sends the request, waits for and prints the
//  reply (or runs watch). Returns the exit code.
static int
s_run (void *context, const s_options_t *options)
{
    void *socket = zmq_socket (context, ZMQ_DEALER);
    if (!socket) {
        fprintf (stderr, "streamq-ctl: cannot create socket: %s\n",
                 zmq_strerror (errno));
        return SQ_CTL_EXIT_USAGE;
    }
    //  Linger 0: on a timeout, unsent bytes must not keep the tool alive.
    //  The send timeout bounds zmq_send too, in case it ever blocks.
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (socket, ZMQ_SNDTIMEO, &options->timeout,
                    sizeof options->timeout);

    int exit_code = SQ_CTL_EXIT_USAGE;
    s_watch_t watch = { NULL, 0, 0, false };
    //  Tables and indented JSON are for people: by default only on a
    //  terminal, so that scripts and pipes get the frames as they came
    bool terminal = isatty (STDOUT_FILENO);
    bool pretty = options->output == S_OUTPUT_PRETTY
               || (options->output != S_OUTPUT_RAW && terminal);
    bool table = options->output == S_OUTPUT_TABLE
              || (options->output == S_OUTPUT_AUTO && terminal);
    //  libzmq connects to tcp://[v6 address] only with ZMQ_IPV6 set
    int ipv6 = strncmp (options->control, "tcp://[", 7) == 0;
    s_reply_t reply = { 0 };
    if (options->server_key
    && (s_curve_set (socket, options) == -1
    ||  !s_watch_start (&watch, context, socket)))
        fprintf (stderr, "streamq-ctl: cannot set up CURVE: %s\n", zmq_strerror (errno));
    else
    if (zmq_setsockopt (socket, ZMQ_IPV6, &ipv6, sizeof ipv6) == -1
    ||  zmq_connect (socket, options->control) == -1)
        fprintf (stderr, "streamq-ctl: cannot connect to %s: %s\n",
                 options->control, zmq_strerror (errno));
    else
    if (options->watch)
        exit_code = s_watch_stats (socket, &watch, options);
    else
    if ((exit_code = s_exchange (socket, &watch, options, &reply)) == SQ_CTL_CONTINUE)
        exit_code = s_print_reply (&reply, options, pretty, table);
    s_reply_clear (&reply);
    s_watch_stop (&watch, socket);

    zmq_close (socket);
    return exit_code;
}


int
main (int argc, char *argv [])
{
    s_options_t options;
    int exit_code = s_parse_args (argc, argv, &options);
    if (exit_code == SQ_CTL_CONTINUE && options.keygen)
        exit_code = s_keygen (options.keygen);
    if (exit_code == SQ_CTL_CONTINUE)
        exit_code = s_keys_load (&options);
    if (exit_code != SQ_CTL_CONTINUE)
        return exit_code;

    void *context = zmq_ctx_new ();
    if (!context) {
        fprintf (stderr, "streamq-ctl: cannot create context: %s\n",
                 zmq_strerror (errno));
        return SQ_CTL_EXIT_USAGE;
    }
    exit_code = s_run (context, &options);
    zmq_ctx_term (context);
    explicit_bzero (&options.cert, sizeof options.cert);

    //  A reply that could not be written (closed pipe, full disk) is not
    //  a success
    if (fflush (stdout) == EOF && exit_code == SQ_CTL_EXIT_OK)
        exit_code = SQ_CTL_EXIT_USAGE;
    return exit_code;
}
