/*  =========================================================================
    curve_worker - an echo worker that speaks CURVE through StreamQ-Proxy

        curve_worker [--backend EP] [--control EP] [--name NAME]
                     [--secret-file F] [--slots N] [--proxy EP,EP]...

    The worker dials in to the proxy's backend and is the CURVE server: it
    holds the only secret key. The proxy splices each client's TCP stream to
    one of the worker's connections, so the CURVE handshake and every
    encrypted message run between client and worker; the proxy never holds
    a key. The ZAP handler below sees each client's public key, which shows
    the handshake really happened here and not in the proxy.

    The worker names its connections with libstreamq (the proxy's peer
    library): the proxy shows them as one worker called NAME, and
    libstreamq also tells the worker when a failed handshake has cost it
    a connection, which the worker then dials again (see "Lost slots").

    Several proxies: each --proxy BACKEND,CONTROL makes the worker dial
    one more proxy's backend, N slots there too, and libstreamq names
    those connections through that proxy's control socket, heartbeats
    there too and redials there the slots lost there.

    Key file (default worker.key), created with mode 0600 when missing:
        public=<40 z85 characters>
        secret=<40 z85 characters>
    =========================================================================
*/

#include <streamq.h>
#include <zmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BACKEND     "tcp://127.0.0.1:5556"
#define DEFAULT_CONTROL     "tcp://127.0.0.1:5557"
#define DEFAULT_NAME        "curve-worker"
#define DEFAULT_KEY_FILE    "worker.key"
#define DEFAULT_SLOTS       4
#define MAX_SLOTS           1000
//  Proxies besides the one of --backend and --control
#define MAX_MORE_PROXIES    (STREAMQ_PROXIES_MAX - 1)
#define Z85_KEY_LEN         40          //  a 32-byte key in z85 text
#define ZAP_ENDPOINT        "inproc://zeromq.zap.01"
#define ECHO_PREFIX         "echo: "

//  One more proxy: its backend and its control socket
typedef struct {
    char *backend;
    char *control;
} s_proxy_t;

typedef struct {
    const char *backend;
    const char *control;                //  The proxy's control socket
    const char *name;                   //  The worker's name in the proxy
    const char *key_file;
    int slots;
    s_proxy_t more [MAX_MORE_PROXIES];  //  --proxy, in order
    int more_count;
} s_options_t;

typedef struct {
    char public_key [Z85_KEY_LEN + 1];  //  z85, null-terminated
    char secret_key [Z85_KEY_LEN + 1];
} s_keypair_t;

//  Set by SIGINT / SIGTERM; the main loop checks it
static volatile sig_atomic_t s_interrupted = 0;


//  --------------------------------------------------------------------------
//  Command line

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: curve_worker [--backend EP] [--control EP] [--name NAME]\n"
        "                    [--secret-file F] [--slots N]\n"
        "  --backend EP       proxy backend to dial (default " DEFAULT_BACKEND ")\n"
        "  --control EP       proxy control socket, to name the connections\n"
        "                     (default " DEFAULT_CONTROL ")\n"
        "  --name NAME        the worker's name in the proxy (default "
        DEFAULT_NAME ")\n"
        "  --secret-file F    key pair file, created if missing (default "
        DEFAULT_KEY_FILE ")\n"
        "  --slots N          clients served at once (default %d), at each proxy\n"
        "  --proxy EP,EP      one more proxy: its backend and its control socket\n"
        "                     (again for each one more)\n",
        DEFAULT_SLOTS);
}

//  Adds "BACKEND,CONTROL" to the proxies of options (which point into
//  argv); false, saying why, if it is not that or there are too many
static bool
s_proxy_parse (char *text, s_options_t *options)
{
    char *comma = strchr (text, ',');
    if (!comma || comma == text || !comma [1]) {
        fprintf (stderr, "curve_worker: --proxy needs BACKEND,CONTROL, not '%s'\n", text);
        return false;
    }
    if (options->more_count == MAX_MORE_PROXIES) {
        fprintf (stderr, "curve_worker: at most %d --proxy\n", MAX_MORE_PROXIES);
        return false;
    }
    *comma = '\0';
    options->more [options->more_count++] = (s_proxy_t) { text, comma + 1 };
    return true;
}

//  Returns true and fills options, or prints why not and returns false
static bool
s_parse_args (int argc, char *argv [], s_options_t *options)
{
    static const struct option long_options [] = {
        { "backend",     required_argument, NULL, 'b' },
        { "control",     required_argument, NULL, 'c' },
        { "name",        required_argument, NULL, 'n' },
        { "secret-file", required_argument, NULL, 'f' },
        { "slots",       required_argument, NULL, 's' },
        { "proxy",       required_argument, NULL, 'p' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    options->backend = DEFAULT_BACKEND;
    options->control = DEFAULT_CONTROL;
    options->name = DEFAULT_NAME;
    options->key_file = DEFAULT_KEY_FILE;
    options->slots = DEFAULT_SLOTS;

    int code;
    options->more_count = 0;
    while ((code = getopt_long (argc, argv, "b:c:n:f:s:p:h", long_options, NULL)) != -1) {
        char *end;
        switch (code) {
            case 'b': options->backend = optarg; break;
            case 'c': options->control = optarg; break;
            case 'n': options->name = optarg; break;
            case 'f': options->key_file = optarg; break;
            case 's':
                options->slots = (int) strtol (optarg, &end, 10);
                if (*end || options->slots < 1 || options->slots > MAX_SLOTS) {
                    fprintf (stderr, "curve_worker: --slots must be 1..%d\n",
                             MAX_SLOTS);
                    return false;
                }
                break;
            case 'p':
                if (!s_proxy_parse (optarg, options))
                    return false;
                break;
            case 'h': s_usage (stdout); exit (0);
            default:  s_usage (stderr); return false;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "curve_worker: unexpected argument '%s'\n", argv [optind]);
        return false;
    }
    if (!*options->name || strlen (options->name) > STREAMQ_NAME_MAX) {
        fprintf (stderr, "curve_worker: --name must be 1..%d bytes\n", STREAMQ_NAME_MAX);
        return false;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  Key file. z85 text keeps the file readable and lets the public key be
//  pasted straight onto the client's command line.

//  Reads "public=" and "secret=" lines. Returns 0, -1 if the file does not
//  exist (errno ENOENT), or -2 if it exists but is not a valid key pair.
static int
s_keypair_load (const char *path, s_keypair_t *keys)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line [256];
    keys->public_key [0] = keys->secret_key [0] = '\0';
    while (fgets (line, sizeof line, file)) {
        line [strcspn (line, "\r\n")] = '\0';
        if (strncmp (line, "public=", 7) == 0 && strlen (line + 7) == Z85_KEY_LEN)
            strcpy (keys->public_key, line + 7);
        else
        if (strncmp (line, "secret=", 7) == 0 && strlen (line + 7) == Z85_KEY_LEN)
            strcpy (keys->secret_key, line + 7);
    }
    fclose (file);

    //  Derive the public key from the secret one: this both validates the
    //  secret and catches a file whose two lines do not belong together
    char derived [Z85_KEY_LEN + 1];
    if (!keys->secret_key [0]
    ||  zmq_curve_public (derived, keys->secret_key) == -1
    ||  strcmp (derived, keys->public_key) != 0)
        return -2;
    return 0;
}

//  Generates a key pair and writes it to a new file readable by the owner
//  only (it holds the secret). O_EXCL: never overwrite an existing key.
static int
s_keypair_create (const char *path, s_keypair_t *keys)
{
    if (zmq_curve_keypair (keys->public_key, keys->secret_key) == -1)
        return -1;
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd == -1)
        return -1;
    FILE *file = fdopen (fd, "w");
    if (!file) {
        close (fd);
        return -1;
    }
    fprintf (file, "public=%s\nsecret=%s\n", keys->public_key, keys->secret_key);
    return fclose (file) == 0? 0: -1;
}

//  Loads the key file, or creates it when it does not exist
static bool
s_keypair_get (const char *path, s_keypair_t *keys)
{
    int rc = s_keypair_load (path, keys);
    if (rc == 0) {
        printf ("curve_worker: loaded key pair from %s\n", path);
        return true;
    }
    if (rc == -2) {
        fprintf (stderr, "curve_worker: %s is not a valid key pair "
                 "(expected public=... and secret=... lines)\n", path);
        return false;
    }
    if (errno != ENOENT || s_keypair_create (path, keys) == -1) {
        fprintf (stderr, "curve_worker: cannot read or create %s: %s\n",
                 path, strerror (errno));
        return false;
    }
    printf ("curve_worker: generated a new key pair in %s\n", path);
    return true;
}


//  --------------------------------------------------------------------------
//  ZAP handler (ZeroMQ RFC 27). libzmq asks it to approve every CURVE
//  handshake on the worker's socket, passing the client's public key.

#define ZAP_MAX_FRAMES  8

//  Receives one multipart ZAP request into frames. Returns the number of
//  frames kept, or -1 when the context is shutting down.
static int
s_zap_recv (void *handler, zmq_msg_t *frames)
{
    int count = 0;
    bool more = true;
    while (more) {
        //  Frames past the few we use are read (to finish the message) and
        //  dropped
        zmq_msg_t extra;
        zmq_msg_t *frame = count < ZAP_MAX_FRAMES? &frames [count]: &extra;
        zmq_msg_init (frame);
        if (zmq_msg_recv (frame, handler, 0) == -1) {
            zmq_msg_close (frame);
            while (count > 0)
                zmq_msg_close (&frames [--count]);
            return -1;
        }
        more = zmq_msg_more (frame);
        if (frame == &extra)
            zmq_msg_close (frame);
        else
            count++;
    }
    return count;
}

//  Logs the client's public key. Request frames: version, request id,
//  domain, address, routing id, mechanism, then for CURVE the 32-byte key.
//  The address frame names the far end of the worker's TCP connection,
//  which is the proxy, never the client; the key is the client identity
//  that survives the proxy, and the one CURVE proves.
static void
s_zap_log (zmq_msg_t *frames)
{
    char client_key [Z85_KEY_LEN + 1] = "(none)";
    if (zmq_msg_size (&frames [6]) == 32)
        zmq_z85_encode (client_key, zmq_msg_data (&frames [6]), 32);
    printf ("curve_worker: handshake from client key %s: accepted\n", client_key);
}

//  Sends the reply: version, request id, status code ("200" accepts,
//  "400" refuses), status text, user id, metadata
static void
s_zap_reply (void *handler, zmq_msg_t *request_id, const char *status)
{
    bool accepted = strcmp (status, "200") == 0;
    zmq_send (handler, "1.0", 3, ZMQ_SNDMORE);
    zmq_msg_send (request_id, handler, ZMQ_SNDMORE);
    zmq_send (handler, status, strlen (status), ZMQ_SNDMORE);
    zmq_send (handler, accepted? "OK": "refused", accepted? 2: 7, ZMQ_SNDMORE);
    zmq_send (handler, "", 0, ZMQ_SNDMORE);
    zmq_send (handler, "", 0, 0);
}

//  The handler thread: answers requests until the context shuts down
static void *
s_zap_thread (void *args)
{
    void *handler = args;
    zmq_msg_t frames [ZAP_MAX_FRAMES];
    int count;
    while ((count = s_zap_recv (handler, frames)) != -1) {
        //  A REP socket must answer every request, even a malformed one
        //  (libzmq never sends those), or it could not receive again
        if (count < 7) {
            zmq_msg_t no_id;
            zmq_msg_init (&no_id);
            s_zap_reply (handler, count >= 2? &frames [1]: &no_id, "400");
            zmq_msg_close (&no_id);
        }
        else {
            s_zap_log (frames);
            //  A real deployment would look the key up in an allow-list
            //  here and answer "400" for an unknown client (libzmq then
            //  sends the client an ERROR; the client hangs up, and the
            //  slot redials as after any disconnect: no slot is lost,
            //  and libstreamq does not count it). This example
            //  accepts every key
            s_zap_reply (handler, &frames [1], "200");
        }
        while (count > 0)
            zmq_msg_close (&frames [--count]);
    }
    zmq_close (handler);
    return NULL;
}

//  Binds the handler socket in this thread, then hands it to a new thread.
//  Binding first guarantees the handler exists before any handshake:
//  without one, libzmq would accept CURVE clients unchecked.
static bool
s_zap_start (void *context, pthread_t *thread)
{
    void *handler = zmq_socket (context, ZMQ_REP);
    if (!handler || zmq_bind (handler, ZAP_ENDPOINT) == -1) {
        fprintf (stderr, "curve_worker: cannot bind %s: %s\n",
                 ZAP_ENDPOINT, zmq_strerror (errno));
        return false;
    }
    //  Block SIGINT/SIGTERM in the new thread (it inherits this mask) so
    //  they reach the main thread, whose zmq_poll they interrupt
    sigset_t signals, previous;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &signals, &previous);
    int rc = pthread_create (thread, NULL, s_zap_thread, handler);
    pthread_sigmask (SIG_SETMASK, &previous, NULL);
    if (rc != 0) {
        fprintf (stderr, "curve_worker: cannot start ZAP thread\n");
        zmq_close (handler);
        return false;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  The worker socket

//  Creates the CURVE server ROUTER; s_worker_connect dials it
static void *
s_worker_new (void *context, const s_keypair_t *keys)
{
    void *worker = zmq_socket (context, ZMQ_ROUTER);
    int as_server = 1;
    //  0 = no handshake deadline. An idle slot sits in the proxy's pool
    //  waiting for a client, with its handshake unfinished; with the 30 s
    //  default libzmq would drop and redial every idle slot twice a minute
    int handshake_ivl = 0;
    //  1 = a slot's queue ends with its connection. A connecting socket
    //  otherwise keeps it across redials, and a reply still queued for a
    //  client that left would go to the next client of that slot
    int immediate = 1;
    int linger = 0;
    zmq_setsockopt (worker, ZMQ_CURVE_SERVER, &as_server, sizeof as_server);
    zmq_setsockopt (worker, ZMQ_CURVE_SECRETKEY, keys->secret_key, Z85_KEY_LEN + 1);
    zmq_setsockopt (worker, ZMQ_HANDSHAKE_IVL, &handshake_ivl, sizeof handshake_ivl);
    zmq_setsockopt (worker, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    zmq_setsockopt (worker, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (worker, ZMQ_ZAP_DOMAIN, "curve_worker", strlen ("curve_worker"));
    return worker;
}

//  Starts naming the worker's connections to the proxy, and to each
//  --proxy at its own control socket. Before any zmq_connect: libstreamq
//  only sees the connections made after it. The proxies need not be up
//  yet; requests go out when they are.
static streamq_peer_t *
s_peer_new (void *context, void *worker, const s_options_t *options)
{
    streamq_peer_t *peer = streamq_peer_new (context, worker, options->control,
                                             "backend", options->name);
    if (!peer)
        fprintf (stderr, "curve_worker: cannot watch the worker socket for %s: %s\n",
                 options->control, zmq_strerror (errno));
    for (int index = 0; peer && index < options->more_count; index++) {
        const s_proxy_t *proxy = &options->more [index];
        if (streamq_peer_add_proxy (peer, proxy->backend, proxy->control) == -1) {
            fprintf (stderr, "curve_worker: cannot add the proxy %s (control %s): %s\n",
                     proxy->backend, proxy->control, zmq_strerror (errno));
            streamq_peer_destroy (&peer);
        }
    }
    return peer;
}

//  Dials the backend once per slot. Why several connections: the proxy
//  splices one client to one backend TCP connection, and one TCP
//  connection carries one ZMTP session, so each connection serves
//  exactly one client at a time. A ROUTER that connects N times holds N
//  sessions and tells the clients apart by routing id. When a client
//  leaves, the proxy closes its connection and libzmq redials by itself,
//  offering a fresh slot.
static bool
s_backend_connect (void *worker, const char *backend, int slots)
{
    for (int slot = 0; slot < slots; slot++) {
        if (zmq_connect (worker, backend) == -1) {
            fprintf (stderr, "curve_worker: cannot connect to %s: %s\n",
                     backend, zmq_strerror (errno));
            return false;
        }
    }
    return true;
}

//  Dials every proxy's backend, the same number of slots at each
static bool
s_worker_connect (void *worker, const s_options_t *options)
{
    bool connected = s_backend_connect (worker, options->backend, options->slots);
    for (int index = 0; connected && index < options->more_count; index++)
        connected = s_backend_connect (worker, options->more [index].backend,
                                       options->slots);
    return connected;
}

//  Sends one content frame back with the echo prefix
static int
s_echo_frame (void *worker, zmq_msg_t *frame, int flags)
{
    size_t size = zmq_msg_size (frame);
    size_t prefix = strlen (ECHO_PREFIX);
    zmq_msg_t reply;
    if (zmq_msg_init_size (&reply, prefix + size) == -1)
        return -1;
    memcpy (zmq_msg_data (&reply), ECHO_PREFIX, prefix);
    memcpy ((char *) zmq_msg_data (&reply) + prefix, zmq_msg_data (frame), size);
    if (zmq_msg_send (&reply, worker, flags) == -1) {
        zmq_msg_close (&reply);
        return -1;
    }
    return 0;
}

//  Receives one request and sends the reply. The routing id frame (which
//  ROUTER put first) and any empty delimiter (sent by a REQ client) go back
//  unchanged so the reply finds its way; every other frame comes back as
//  "echo: " + frame. Returns -1 when interrupted.
static int
s_echo_once (void *worker)
{
    bool more = true;
    bool envelope = true;       //  still in routing id / delimiter frames
    int index = 0;
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, worker, 0) == -1) {
            zmq_msg_close (&frame);
            return -1;
        }
        more = zmq_msg_more (&frame);
        int flags = more? ZMQ_SNDMORE: 0;
        if (envelope && (index == 0 || zmq_msg_size (&frame) == 0))
            zmq_msg_send (&frame, worker, flags);
        else {
            envelope = false;
            s_echo_frame (worker, &frame, flags);
        }
        zmq_msg_close (&frame);     //  harmless after a send
        index++;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Lost slots. When a handshake fails on a protocol error (typically a
//  client that used the wrong server key), libzmq does not redial that
//  connection as it does after a plain disconnect: it gives the connection
//  up for good (libzmq 4.3, session_base.cpp, engine_error). Behind the
//  proxy any client can cause this, so each such client would silently
//  cost the worker one slot. libstreamq watches for these failures (it
//  holds the socket's only monitor) and streamq_peer_redial dials one new
//  slot for each, here in the thread that owns the socket. (A ZAP refusal
//  is not one of them: the slot comes back by itself once the refused
//  client hangs up.)

//  Dials again the slots lost since the last call, each at the proxy it
//  was lost at; cheap when none were
static void
s_slots_redial (streamq_peer_t *peer)
{
    int redialled = streamq_peer_redial (peer);
    if (redialled == -1)
        fprintf (stderr, "curve_worker: cannot redial a lost slot: %s (will retry)\n",
                 zmq_strerror (errno));
    else
    if (redialled > 0)
        printf ("curve_worker: %d handshake%s failed (a client with the wrong "
                "server key?); dialled %d new slot%s, %zu lost so far\n",
                redialled, redialled == 1? "": "s", redialled,
                redialled == 1? "": "s", streamq_peer_lost (peer));
}

//  Serves requests and replaces lost slots until SIGINT or SIGTERM
static void
s_worker_run (void *worker, streamq_peer_t *peer)
{
    while (!s_interrupted) {
        //  The second item wakes the loop as soon as a slot is lost
        zmq_pollitem_t items [] = {
            { worker, 0, ZMQ_POLLIN, 0 },
            { NULL, streamq_peer_redial_fd (peer), ZMQ_POLLIN, 0 }
        };
        //  The timeout is only a backstop: a signal interrupts zmq_poll
        int rc = zmq_poll (items, 2, 1000);
        if (rc == -1 && errno != EINTR)
            break;
        if (rc > 0 && (items [0].revents & ZMQ_POLLIN)
        &&  s_echo_once (worker) == -1)
            break;
        s_slots_redial (peer);
    }
}


//  --------------------------------------------------------------------------

static void
s_signal_handler (int signal_value)
{
    (void) signal_value;
    s_interrupted = 1;
}

//  No SA_RESTART: the signal must interrupt zmq_poll (EINTR)
static void
s_catch_signals (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_signal_handler;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
}

int
main (int argc, char *argv [])
{
    //  Line-buffered even into a pipe or file, so logs appear at once
    setvbuf (stdout, NULL, _IOLBF, 0);
    s_options_t options;
    if (!s_parse_args (argc, argv, &options))
        return 2;
    if (!zmq_has ("curve")) {
        fprintf (stderr, "curve_worker: this libzmq was built without CURVE\n");
        return 1;
    }
    s_keypair_t keys;
    if (!s_keypair_get (options.key_file, &keys))
        return 1;
    printf ("curve_worker: public key %s\n", keys.public_key);

    s_catch_signals ();
    void *context = zmq_ctx_new ();
    pthread_t zap_thread;
    if (!s_zap_start (context, &zap_thread)) {
        zmq_ctx_term (context);
        return 1;
    }
    int exit_code = 1;
    void *worker = s_worker_new (context, &keys);
    streamq_peer_t *peer = worker? s_peer_new (context, worker, &options): NULL;
    if (peer && s_worker_connect (worker, &options)) {
        printf ("curve_worker: %d slots dialling %s, named %s via %s\n", options.slots,
                options.backend, options.name, options.control);
        for (int index = 0; index < options.more_count; index++)
            printf ("curve_worker: %d slots dialling %s, named %s via %s\n", options.slots,
                    options.more [index].backend, options.name,
                    options.more [index].control);
        s_worker_run (worker, peer);
        exit_code = 0;
    }
    //  The peer first: it stops watching the socket before it closes
    streamq_peer_destroy (&peer);
    if (worker)
        zmq_close (worker);
    //  Shutdown wakes the ZAP thread's blocking receive with ETERM; it then
    //  closes its socket, and only then can the context terminate
    zmq_ctx_shutdown (context);
    pthread_join (zap_thread, NULL);
    zmq_ctx_term (context);
    printf ("curve_worker: stopped\n");
    return exit_code;
}
