/*  =========================================================================
    streamq_ctl - command line client for the StreamQ-Proxy control socket

    Sends one command (and its arguments) as the frames of one multipart
    message, waits for the reply, prints each reply frame on its own line.

        streamq-ctl [--control EP] [--timeout MS] COMMAND [ARG...]

    Exit status: 0 success, 1 the proxy replied "ERROR", 2 usage error or
    no reply within the timeout. The exit codes are part of the interface:
    scripts and tests rely on them.
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

#include "sq_version.h"
#define SQ_CTL_VERSION          SQ_VERSION
#define SQ_CTL_DEFAULT_CONTROL  "tcp://127.0.0.1:5557"
#define SQ_CTL_DEFAULT_TIMEOUT  2000
#define SQ_CTL_ENV_CONTROL      "STREAMQ_CONTROL"

#define SQ_CTL_EXIT_OK          0
#define SQ_CTL_EXIT_ERROR       1       //  the proxy answered "ERROR"
#define SQ_CTL_EXIT_USAGE       2       //  bad command line, or no reply

//  Internal value: parsing succeeded and the command should be sent
#define SQ_CTL_CONTINUE         -1

typedef struct {
    const char *control;        //  control endpoint
    int timeout;                //  msecs to wait for the reply
    int argc;                   //  command and arguments, argv [0] = command
    char **argv;
} s_options_t;


//  --------------------------------------------------------------------------
//  Usage texts. The short one goes to stderr after a usage error; the full
//  one to stdout on --help, so that `streamq-ctl --help | less` works.

static void
s_short_usage (FILE *out)
{
    fprintf (out,
        "Usage: streamq-ctl [--control EP] [--timeout MS] COMMAND [ARG...]\n"
        "Try 'streamq-ctl --help' for more information.\n");
}

static void
s_full_usage (FILE *out)
{
    fprintf (out,
        "Usage: streamq-ctl [--control EP] [--timeout MS] COMMAND [ARG...]\n"
        "Sends COMMAND to a StreamQ-Proxy control socket and prints each reply\n"
        "frame on its own line.\n"
        "\n"
        "Options:\n"
        "  -c, --control EP   control endpoint (default $" SQ_CTL_ENV_CONTROL
        " if set,\n"
        "                     else " SQ_CTL_DEFAULT_CONTROL ")\n"
        "  -t, --timeout MS   how long to wait for the reply (default %d)\n"
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
        "Exit status: 0 success, 1 the proxy replied ERROR,\n"
        "             2 usage error or no reply within the timeout.\n",
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
        { "help",    no_argument,       NULL, 'h' },
        { "version", no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    const char *env = getenv (SQ_CTL_ENV_CONTROL);
    options->control = env && *env? env: SQ_CTL_DEFAULT_CONTROL;
    options->timeout = SQ_CTL_DEFAULT_TIMEOUT;

    //  "+" stops at the first non-option, so a command's own arguments
    //  (even ones starting with '-') pass through; ":" reports a missing
    //  value apart from an unknown option
    opterr = 0;
    int code;
    while ((code = getopt_long (argc, argv, "+:c:t:hV", long_options, NULL)) != -1) {
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

//  Waits until the reply can be read or the deadline passes. A signal that
//  interrupts zmq_poll (EINTR) does not cut the wait short. Returns true when
//  a reply is ready.
static bool
s_wait_reply (void *socket, int timeout)
{
    long long deadline = s_now_ms () + timeout;
    while (true) {
        long long left = deadline - s_now_ms ();
        if (left <= 0)
            return false;
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, (long) left);
        if (rc > 0)
            return true;
        if (rc == -1 && errno != EINTR)
            return false;
    }
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
    if (zmq_connect (socket, options->control) == -1)
        fprintf (stderr, "streamq-ctl: cannot connect to %s: %s\n",
                 options->control, zmq_strerror (errno));
    else
    if (s_send_request (socket, options) == -1
    || !s_wait_reply (socket, options->timeout))
        fprintf (stderr, "streamq-ctl: no reply from %s within %d ms\n",
                 options->control, options->timeout);
    else
        exit_code = s_read_reply (socket);

    zmq_close (socket);
    return exit_code;
}


int
main (int argc, char *argv [])
{
    s_options_t options;
    int exit_code = s_parse_args (argc, argv, &options);
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

    //  A reply that could not be written (closed pipe, full disk) is not
    //  a success
    if (fflush (stdout) == EOF && exit_code == SQ_CTL_EXIT_OK)
        exit_code = SQ_CTL_EXIT_USAGE;
    return exit_code;
}
