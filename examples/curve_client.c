/*  =========================================================================
    curve_client - sends CURVE-encrypted requests through StreamQ-Proxy

        curve_client [--frontend EP] --server-key Z85 [--count N]
                     [--name NAME [--control EP]]

    Connects to the proxy's frontend as a CURVE client. The server key is
    the worker's public key (the "public=" line of the worker's key file):
    the client encrypts its handshake to that key, so only the worker can
    complete it. The proxy only forwards bytes it cannot read.

    With --name, the client names its connection to the proxy with
    libstreamq (the proxy's peer library): the proxy then shows it, and
    can route it, as client NAME instead of by its IP address.

    Sends "hello 1" .. "hello N" one at a time and prints each reply.
    Exits 0 when every reply came back as expected, 1 when a reply took more
    than 5 s or was wrong, 2 on a usage error.
    =========================================================================
*/

#include <streamq.h>
#include <zmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FRONTEND    "tcp://127.0.0.1:5555"
#define DEFAULT_CONTROL     "tcp://127.0.0.1:5557"
#define DEFAULT_COUNT       3
#define REPLY_TIMEOUT_MS    5000
#define Z85_KEY_LEN         40          //  a 32-byte key in z85 text
#define MAX_MESSAGE         256

typedef struct {
    const char *frontend;
    const char *server_key;             //  z85
    int count;
    const char *control;                //  The proxy's control socket
    const char *name;                   //  The client's name, or NULL
} s_options_t;


//  --------------------------------------------------------------------------
//  Command line

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: curve_client [--frontend EP] --server-key Z85 [--count N]\n"
        "                    [--name NAME [--control EP]]\n"
        "  --frontend EP      proxy frontend (default " DEFAULT_FRONTEND ")\n"
        "  --server-key Z85   the worker's public key (40 z85 characters)\n"
        "  --count N          requests to send (default %d)\n"
        "  --name NAME        name the connection in the proxy (default: unnamed,\n"
        "                     the proxy knows it by its IP address)\n"
        "  --control EP       proxy control socket, with --name (default "
        DEFAULT_CONTROL ")\n",
        DEFAULT_COUNT);
}

//  True when text decodes as a 32-byte z85 key. Checked here so that a
//  mistyped key is a clear error, not a handshake that silently never ends.
static bool
s_is_z85_key (const char *text)
{
    uint8_t binary [32];
    return strlen (text) == Z85_KEY_LEN && zmq_z85_decode (binary, text) != NULL;
}

//  Returns true and fills options, or prints why not and returns false
static bool
s_parse_args (int argc, char *argv [], s_options_t *options)
{
    static const struct option long_options [] = {
        { "frontend",   required_argument, NULL, 'f' },
        { "server-key", required_argument, NULL, 'k' },
        { "count",      required_argument, NULL, 'n' },
        { "control",    required_argument, NULL, 'c' },
        { "name",       required_argument, NULL, 'N' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    options->frontend = DEFAULT_FRONTEND;
    options->server_key = NULL;
    options->count = DEFAULT_COUNT;
    options->control = DEFAULT_CONTROL;
    options->name = NULL;

    int code;
    while ((code = getopt_long (argc, argv, "f:k:n:c:N:h", long_options, NULL)) != -1) {
        char *end;
        switch (code) {
            case 'f': options->frontend = optarg; break;
            case 'k': options->server_key = optarg; break;
            case 'c': options->control = optarg; break;
            case 'N': options->name = optarg; break;
            case 'n':
                options->count = (int) strtol (optarg, &end, 10);
                if (*end || options->count < 1 || options->count > 1000000) {
                    fprintf (stderr, "curve_client: --count must be 1..1000000\n");
                    return false;
                }
                break;
            case 'h': s_usage (stdout); exit (0);
            default:  s_usage (stderr); return false;
        }
    }
    if (!options->server_key || !s_is_z85_key (options->server_key)) {
        fprintf (stderr, "curve_client: --server-key must be the worker's "
                 "public key, 40 z85 characters\n");
        s_usage (stderr);
        return false;
    }
    if (options->name && (!*options->name || strlen (options->name) > STREAMQ_NAME_MAX)) {
        fprintf (stderr, "curve_client: --name must be 1..%d bytes\n", STREAMQ_NAME_MAX);
        return false;
    }
    if (optind < argc) {
        fprintf (stderr, "curve_client: unexpected argument '%s'\n", argv [optind]);
        return false;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  The client socket

//  Creates a DEALER with a fresh key pair of its own and connects it.
//  A new key pair per run is fine here because the worker accepts every
//  key; with an allow-list the client would load a fixed key pair instead.
//  With --name, *peer_p names the connection (NULL otherwise); destroy
//  it before closing the socket.
static void *
s_client_new (void *context, const s_options_t *options, streamq_peer_t **peer_p)
{
    char public_key [Z85_KEY_LEN + 1], secret_key [Z85_KEY_LEN + 1];
    if (zmq_curve_keypair (public_key, secret_key) == -1)
        return NULL;
    //  Printed so it can be matched with the worker's ZAP log line
    printf ("curve_client: my public key %s\n", public_key);

    void *client = zmq_socket (context, ZMQ_DEALER);
    int linger = 0;             //  don't hang at exit on unsent requests
    zmq_setsockopt (client, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (client, ZMQ_CURVE_SERVERKEY, options->server_key, Z85_KEY_LEN + 1);
    zmq_setsockopt (client, ZMQ_CURVE_PUBLICKEY, public_key, Z85_KEY_LEN + 1);
    zmq_setsockopt (client, ZMQ_CURVE_SECRETKEY, secret_key, Z85_KEY_LEN + 1);
    //  Before zmq_connect: libstreamq only sees connections made after it
    *peer_p = NULL;
    if (options->name) {
        *peer_p = streamq_peer_new (context, client, options->control,
                                    "frontend", options->name);
        if (!*peer_p) {
            fprintf (stderr, "curve_client: cannot name the connection via %s: %s\n",
                     options->control, zmq_strerror (errno));
            zmq_close (client);
            return NULL;
        }
    }
    if (zmq_connect (client, options->frontend) == -1) {
        fprintf (stderr, "curve_client: cannot connect to %s: %s\n",
                 options->frontend, zmq_strerror (errno));
        streamq_peer_destroy (peer_p);
        zmq_close (client);
        return NULL;
    }
    return client;
}

//  Waits up to REPLY_TIMEOUT_MS for one reply and copies it, null-terminated,
//  into reply. Returns false on a timeout.
static bool
s_recv_reply (void *client, char *reply, size_t max)
{
    zmq_pollitem_t item = { client, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, REPLY_TIMEOUT_MS) <= 0)
        return false;
    int size = zmq_recv (client, reply, max - 1, 0);
    if (size == -1)
        return false;
    //  zmq_recv reports the full size even when it truncated
    reply [(size_t) size < max - 1? (size_t) size: max - 1] = '\0';
    return true;
}

//  Sends one request and checks its reply. Returns true on the right reply.
static bool
s_exchange (void *client, int number)
{
    char request [MAX_MESSAGE], expected [MAX_MESSAGE], reply [MAX_MESSAGE];
    snprintf (request, sizeof request, "hello %d", number);
    snprintf (expected, sizeof expected, "echo: hello %d", number);
    if (zmq_send (client, request, strlen (request), 0) == -1) {
        fprintf (stderr, "curve_client: send failed: %s\n", zmq_strerror (errno));
        return false;
    }
    if (!s_recv_reply (client, reply, sizeof reply)) {
        //  With CURVE a wrong server key looks just like a missing worker:
        //  the handshake never completes, so no reply ever comes
        fprintf (stderr, "curve_client: no reply to '%s' within %d ms "
                 "(is a worker connected, and is --server-key its public key?)\n",
                 request, REPLY_TIMEOUT_MS);
        return false;
    }
    printf ("%s\n", reply);
    if (strcmp (reply, expected) != 0) {
        fprintf (stderr, "curve_client: expected '%s'\n", expected);
        return false;
    }
    return true;
}


int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    s_options_t options;
    if (!s_parse_args (argc, argv, &options))
        return 2;
    if (!zmq_has ("curve")) {
        fprintf (stderr, "curve_client: this libzmq was built without CURVE\n");
        return 1;
    }
    void *context = zmq_ctx_new ();
    streamq_peer_t *peer = NULL;
    void *client = s_client_new (context, &options, &peer);
    int received = 0;
    if (client) {
        while (received < options.count && s_exchange (client, received + 1))
            received++;
        streamq_peer_destroy (&peer);       //  before zmq_close
        zmq_close (client);
    }
    zmq_ctx_term (context);
    printf ("curve_client: %d of %d replies received\n", received, options.count);
    return received == options.count? 0: 1;
}
