/*  =========================================================================
    streamq_ctl - command line client for the StreamQ-Proxy control socket

    Sends one command (and its arguments) as the frames of one multipart
    message, waits for the reply, prints each reply frame on its own line.

        streamq-ctl [--control EP] [--timeout MS]
                    [--key FILE] [--server-key FILE|KEY] COMMAND [ARG...]
        streamq-ctl --keygen NAME

    With --server-key the socket is a CURVE client of a control socket
    that runs CURVE (streamq-proxy --control-key), with the key pair of
    --key, or a throwaway one. --keygen makes a key pair in CZMQ's
    certificate format.

    Exit status: 0 success, 1 the proxy replied "ERROR", 2 usage error,
    no reply within the timeout, or a key the proxy refused. The exit
    codes are part of the interface: scripts and tests rely on them.
    =========================================================================
*/

#include <zmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sq_version.h"
#include "sq_cert.h"
#define SQ_CTL_VERSION          SQ_VERSION
#define SQ_CTL_DEFAULT_CONTROL  "tcp://127.0.0.1:5557"
#define SQ_CTL_DEFAULT_TIMEOUT  2000
#define SQ_CTL_ENV_CONTROL      "STREAMQ_CONTROL"

#define SQ_CTL_EXIT_OK          0
#define SQ_CTL_EXIT_ERROR       1       //  the proxy answered "ERROR"
#define SQ_CTL_EXIT_USAGE       2       //  bad command line, or no reply

//  Internal value: parsing succeeded and the command should be sent
#define SQ_CTL_CONTINUE         -1

//  Long options without a short form
#define SQ_CTL_OPT_KEYGEN       256

typedef struct {
    const char *control;        //  control endpoint
    int timeout;                //  msecs to wait for the reply
    int argc;                   //  command and arguments, argv [0] = command
    char **argv;
    const char *key_file;       //  --key: our secret certificate, or NULL
    const char *server_key;     //  --server-key: a file or a Z85 key, or NULL
    const char *keygen;         //  --keygen: where to write a new key pair
    sq_cert_t cert;             //  Our key pair, when CURVE
    char server_public [SQ_CERT_Z85_SIZE];
} s_options_t;


//  --------------------------------------------------------------------------
//  Usage texts. The short one goes to stderr after a usage error; the full
//  one to stdout on --help, so that `streamq-ctl --help | less` works.

static void
s_short_usage (FILE *out)
{
    fprintf (out,
        "Usage: streamq-ctl [--control EP] [--timeout MS] [--key FILE]\n"
        "                   [--server-key FILE|KEY] COMMAND [ARG...]\n"
        "       streamq-ctl --keygen NAME\n"
        "Try 'streamq-ctl --help' for more information.\n");
}

static void
s_full_usage (FILE *out)
{
    fprintf (out,
        "Usage: streamq-ctl [--control EP] [--timeout MS] [--key FILE]\n"
        "                   [--server-key FILE|KEY] COMMAND [ARG...]\n"
        "       streamq-ctl --keygen NAME\n"
        "Sends COMMAND to a StreamQ-Proxy control socket and prints each reply\n"
        "frame on its own line.\n"
        "\n"
        "Options:\n"
        "  -c, --control EP   control endpoint (default $" SQ_CTL_ENV_CONTROL
        " if set,\n"
        "                     else " SQ_CTL_DEFAULT_CONTROL ")\n"
        "  -t, --timeout MS   how long to wait for the reply (default %d)\n"
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
        "Commands:\n"
        "  PING               check the proxy is alive (replies PONG)\n"
        "  STATS              counters, as one JSON object\n"
        "  LIST               every connection, as a JSON array\n"
        "  PAUSE              stop reading frontend and backend\n"
        "  RESUME             start reading again\n"
        "  TERMINATE          close every connection and stop the proxy\n"
        "  WORKERS            workers by name: state, connections, idle, load\n"
        "  CLIENTS            connected clients by name, with their routes\n"
        "  ROUTES             routes, address rules, waiting registrations\n"
        "  IDENTIFY SIDE IP:PORT NAME   name one connection (SIDE: frontend\n"
        "                     or backend; IP:PORT as the proxy sees the peer)\n"
        "  ALIAS SIDE IP|CIDR NAME      name connections from an address\n"
        "  UNALIAS SIDE IP|CIDR         remove that rule\n"
        "  ROUTE CLIENT WORKER [FALLBACK...]   send a client to these workers\n"
        "  UNROUTE CLIENT     remove that route\n"
        "  DRAIN WORKER       no new pairs to a worker; UNDRAIN WORKER ends it\n"
        "  WEIGHT WORKER N    share of clients, 1 to 1000000 (default 1)\n"
        "  LOAD WORKER X      the worker's own load, 0 to 1\n"
        "  HEARTBEAT NAME [MS]  NAME is alive; announces its interval\n"
        "\n"
        "A CURVE proxy answers a key it does not know with nothing (exit 2);\n"
        "with --control-open-read, it answers ERROR 'not authorised' to a\n"
        "command that changes state.\n"
        "\n"
        "Exit status: 0 success, 1 the proxy replied ERROR,\n"
        "             2 usage error, no reply within the timeout, or our key\n"
        "             refused.\n",
        SQ_CTL_DEFAULT_TIMEOUT);
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
//  Parses a timeout in msecs. Only a whole positive number fits: zero would
//  never wait for the reply, and zmq_poll takes a negative value as "wait
//  forever", which a control tool must never do.

static bool
s_parse_timeout (const char *text, int *timeout)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end != '\0' || value < 1 || value > INT_MAX)
        return false;
    *timeout = (int) value;
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

//  Fills options from the command line. Returns SQ_CTL_CONTINUE when a
//  command should be sent, else the exit code (after --help, --version or
//  a usage error).
static int
s_parse_args (int argc, char *argv [], s_options_t *options)
{
    static const struct option long_options [] = {
        { "control", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 't' },
        { "key",     required_argument, NULL, 'k' },
        { "server-key", required_argument, NULL, 's' },
        { "keygen",  required_argument, NULL, SQ_CTL_OPT_KEYGEN },
        { "help",    no_argument,       NULL, 'h' },
        { "version", no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    const char *env = getenv (SQ_CTL_ENV_CONTROL);
    options->control = env && *env? env: SQ_CTL_DEFAULT_CONTROL;
    options->timeout = SQ_CTL_DEFAULT_TIMEOUT;
    options->key_file = options->server_key = options->keygen = NULL;

    //  "+" stops at the first non-option, so a command's own arguments
    //  (even ones starting with '-') pass through; ":" reports a missing
    //  value apart from an unknown option
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, "+:c:t:k:s:hV", long_options, NULL)) != -1) {
        switch (code) {
            case 'c':
                if (*optarg == '\0')
                    return s_usage_error ("--control needs an endpoint", NULL);
                options->control = optarg;
                break;
            case 't':
                if (!s_parse_timeout (optarg, &options->timeout))
                    return s_usage_error (
                        "--timeout must be a whole number of msecs >= 1", optarg);
                break;
            case 'k':
                options->key_file = optarg;
                break;
            case 's':
                options->server_key = optarg;
                break;
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
    }
    if (options->keygen)
        return optind < argc? s_usage_error ("--keygen takes no command", argv [optind]):
                              SQ_CTL_CONTINUE;
    if (optind >= argc)
        return s_usage_error ("no command given", NULL);
    //  An empty first frame would read as a delimiter, not as a command
    if (*argv [optind] == '\0')
        return s_usage_error ("the command may not be empty", NULL);
    options->argc = argc - optind;
    options->argv = argv + optind;
    return SQ_CTL_CONTINUE;
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

//  Sends the request: an empty delimiter, then the command and its
//  arguments, one frame each. The delimiter makes the DEALER's message look
//  like a REQ socket's, which the control socket answers in kind; DEALER
//  rather than REQ because REQ's send/receive lock-step buys nothing for a
//  single exchange. Returns 0, or -1 with errno set.
static int
s_send_request (void *socket, const s_options_t *options)
{
    if (zmq_send (socket, "", 0, ZMQ_SNDMORE) == -1)
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

//  Waits until the reply can be read, the handshake fails for good, or the
//  deadline passes. A signal that interrupts zmq_poll (EINTR) does not cut
//  the wait short. Returns true when a reply is ready.
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
        if (rc == -1 && errno != EINTR)
            return false;
    }
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

//  Writes one reply frame to out, followed by a newline. JSON and other text
//  frames come out as they are, so the output can be piped into jq.
static void
s_print_frame (FILE *out, zmq_msg_t *frame)
{
    fwrite (zmq_msg_data (frame), 1, zmq_msg_size (frame), out);
    fputc ('\n', out);
}

//  True when the frame holds exactly the given text
static bool
s_frame_is (zmq_msg_t *frame, const char *text)
{
    size_t size = strlen (text);
    return zmq_msg_size (frame) == size
        && memcmp (zmq_msg_data (frame), text, size) == 0;
}

//  Prints one frame of the reply proper. After an "ERROR" the frames are
//  the reason: they go to stderr, each as a whole "streamq-ctl: error: "
//  line, so stdout stays empty for a script that parses it.
static void
s_print_reply_frame (zmq_msg_t *frame, bool is_error)
{
    if (is_error) {
        fputs ("streamq-ctl: error: ", stderr);
        s_print_frame (stderr, frame);
    }
    else
        s_print_frame (stdout, frame);
}

//  Reads the whole reply (libzmq delivers all its frames together) and
//  prints it. Returns the exit code.
static int
s_read_reply (void *socket)
{
    bool is_error = false;
    int received = 0;           //  frames received, delimiter included
    int content = 0;            //  frames of the reply proper
    bool more = true;
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, socket, 0) == -1) {
            fprintf (stderr, "streamq-ctl: receive failed: %s\n",
                     zmq_strerror (errno));
            zmq_msg_close (&frame);
            return SQ_CTL_EXIT_USAGE;
        }
        more = zmq_msg_more (&frame);
        //  The proxy mirrors our empty delimiter; it is not part of the reply
        bool is_delimiter = received++ == 0 && zmq_msg_size (&frame) == 0;
        if (!is_delimiter) {
            if (content++ == 0 && s_frame_is (&frame, "ERROR"))
                is_error = true;
            else
                s_print_reply_frame (&frame, is_error);
        }
        zmq_msg_close (&frame);
    }
    if (!is_error)
        return SQ_CTL_EXIT_OK;
    if (content == 1)
        fprintf (stderr, "streamq-ctl: error: (the proxy gave no reason)\n");
    return SQ_CTL_EXIT_ERROR;
}

//  Opens the DEALER socket, sends the request, waits for and prints the
//  reply. Returns the exit code.
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
    //  libzmq connects to tcp://[v6 address] only with ZMQ_IPV6 set
    int ipv6 = strncmp (options->control, "tcp://[", 7) == 0;
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
    if (s_send_request (socket, options) == -1
    || !s_wait_reply (socket, &watch, options->timeout))
        s_no_reply (options, &watch);
    else
        exit_code = s_read_reply (socket);
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
