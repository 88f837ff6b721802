/*  =========================================================================
    sq_bench - the benchmark tool of StreamQ-Proxy

        sq_bench keygen                      a CURVE key pair, z85
        sq_bench version                     the libzmq version
        sq_bench worker ...                  an echo worker (bind or dial in)
        sq_bench broker ...                  a zmq_proxy ROUTER/DEALER broker
        sq_bench client ...                  load: latency and throughput
        sq_bench scale ...                   raw ZMTP peers, thousands at once
        sq_bench slow ...                    a peer that never reads: the
                                             slow-peer policy and memory
        sq_bench stall ...                   a worker that reads nothing for
                                             a while, its client's message
                                             large, a neighbour beside it

    Every contender (direct, StreamQ-Proxy, broker, HAProxy, socat) is
    driven by these same roles, so the differences come from what sits
    between client and worker. bench/run.sh runs the matrix.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <getopt.h>
#include <unistd.h>
#include <zmq.h>
#include "sq_bench.h"

#define S_Z85_KEY 40
//  Messages echoed per wake-up before polling again
#define S_ECHO_BATCH 1024
//  Longest life of a worker or broker, so a forgotten one goes away
#define S_LIFETIME_MS (30L * 60 * 1000)

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: sq_bench COMMAND [OPTION]...\n"
        "  keygen                 print a CURVE key pair (public=, secret=)\n"
        "  version                print the libzmq version\n"
        "  worker (--bind EP | --connect EP) [--slots N] [--dealer]\n"
        "         [--secret Z85] [--lifetime-ms MS]\n"
        "                         echo every message back\n"
        "  broker --frontend EP --backend EP [--secret Z85] [--lifetime-ms MS]\n"
        "                         zmq_proxy: ROUTER (CURVE server when --secret)\n"
        "                         to DEALER (NULL)\n"
        "  client --connect EP --size BYTES [--pairs N] [--runs N] [--lat-ms MS]\n"
        "         [--tput-ms MS] [--window N] [--server-key Z85] [--watch-pid PID]\n"
        "  scale  --frontend EP --backend EP --control EP --pid PID [--pairs N]\n"
        "         [--idle-ms MS] [--churn-ms MS] [--churn-slots N]\n"
        "  slow   --frontend EP --backend EP --control EP --pid PID [--pairs N]\n"
        "         [--ms MS] [--peer-hwm N] [--label TEXT]\n"
        "                         echo pairs beside a peer that never reads\n"
        "  stall  --frontend EP --backend EP --control EP --pid PID [--ms MS]\n"
        "         [--size BYTES] [--label TEXT]\n"
        "                         a worker that reads nothing for MS while its\n"
        "                         client sends BYTES; a neighbouring pair beside it\n"
        "  busy   [--ms MS]       compute without sleeping until TERM or MS;\n"
        "                         print the loops done a second\n");
}

static bool
s_is_key (const char *text)
{
    uint8_t binary [32];
    return text && strlen (text) == S_Z85_KEY && zmq_z85_decode (binary, text);
}

static int
s_keygen (void)
{
    char public_key [S_Z85_KEY + 1], secret_key [S_Z85_KEY + 1];
    if (zmq_curve_keypair (public_key, secret_key) != 0) {
        fprintf (stderr, "sq_bench: this libzmq has no CURVE\n");
        return 1;
    }
    printf ("public=%s\nsecret=%s\n", public_key, secret_key);
    return 0;
}


//  --------------------------------------------------------------------------
//  Worker: echoes each message, frame by frame, as it came. On a ROUTER the
//  first frame is the routing id and so the reply goes back to its sender;
//  on a DEALER behind the broker the envelope comes back unchanged.

typedef struct {
    const char *bind;
    const char *connect;
    long slots;
    bool dealer;
    const char *secret;
    long lifetime_ms;
} s_worker_opts_t;

static bool
s_worker_args (int argc, char *argv [], s_worker_opts_t *opts)
{
    static const struct option options [] = {
        { "bind", required_argument, NULL, 'b' },
        { "connect", required_argument, NULL, 'c' },
        { "slots", required_argument, NULL, 'n' },
        { "dealer", no_argument, NULL, 'd' },
        { "secret", required_argument, NULL, 's' },
        { "lifetime-ms", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    *opts = (s_worker_opts_t) { .slots = 1, .lifetime_ms = S_LIFETIME_MS };
    int code;
    while ((code = getopt_long (argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        if (code == 'b') opts->bind = optarg;
        else if (code == 'c') opts->connect = optarg;
        else if (code == 'n') ok = sq_bench_parse_long (optarg, 10000, &opts->slots);
        else if (code == 'd') opts->dealer = true;
        else if (code == 's') ok = s_is_key (opts->secret = optarg);
        else if (code == 'l') ok = sq_bench_parse_long (optarg, 24L * 3600 * 1000, &opts->lifetime_ms);
        else ok = false;
        if (!ok)
            return false;
    }
    return (opts->bind != NULL) != (opts->connect != NULL);
}

static void *
s_worker_socket (void *context, const s_worker_opts_t *opts)
{
    void *socket = zmq_socket (context, opts->dealer? ZMQ_DEALER: ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    if (opts->secret) {
        int as_server = 1;
        zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &as_server, sizeof as_server);
        zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, opts->secret, S_Z85_KEY + 1);
    }
    //  An idle slot waits in the proxy with its handshake unfinished: no
    //  deadline, or libzmq would drop and redial it every 30 s
    int handshake_ivl = 0;
    zmq_setsockopt (socket, ZMQ_HANDSHAKE_IVL, &handshake_ivl, sizeof handshake_ivl);
    int rc = 0;
    if (opts->bind)
        rc = zmq_bind (socket, opts->bind);
    for (long slot = 0; opts->connect && rc == 0 && slot < opts->slots; slot++)
        rc = zmq_connect (socket, opts->connect);
    if (rc != 0) {
        fprintf (stderr, "sq_bench worker: %s: %s\n", opts->bind? opts->bind: opts->connect,
                 zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    return socket;
}

//  Echoes what is waiting, up to a batch; false on a fatal error
static bool
s_echo_batch (void *socket)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    bool ok = true;
    for (int count = 0; count < S_ECHO_BATCH; count++) {
        if (zmq_msg_recv (&frame, socket, ZMQ_DONTWAIT) < 0) {
            ok = zmq_errno () == EAGAIN;
            break;
        }
        //  The same message object goes back: no copy in the worker
        int more = zmq_msg_more (&frame);
        if (zmq_msg_send (&frame, socket, more? ZMQ_SNDMORE: 0) < 0) {
            ok = zmq_errno () == EHOSTUNREACH;
            if (!ok)
                break;
        }
    }
    zmq_msg_close (&frame);
    return ok;
}

int
sq_bench_worker (int argc, char *argv [])
{
    s_worker_opts_t opts;
    if (!s_worker_args (argc, argv, &opts)) {
        s_usage (stderr);
        return 2;
    }
    void *context = zmq_ctx_new ();
    void *socket = s_worker_socket (context, &opts);
    if (!socket) {
        zmq_ctx_term (context);
        return 1;
    }
    int64_t end = sq_bench_now_ns () + opts.lifetime_ms * 1000000;
    bool ok = true;
    while (ok && sq_bench_now_ns () < end) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, 1000);
        if (rc < 0 && zmq_errno () != EINTR)
            break;
        if (rc > 0)
            ok = s_echo_batch (socket);
    }
    zmq_close (socket);
    zmq_ctx_term (context);
    return ok? 0: 1;
}


//  --------------------------------------------------------------------------
//  Broker: the classic zmq_proxy. Security ends here: clients talk CURVE to
//  the broker, which decrypts and hands plain messages to the workers.

typedef struct {
    const char *frontend;
    const char *backend;
    const char *secret;
    long lifetime_ms;
} s_broker_opts_t;

static bool
s_broker_args (int argc, char *argv [], s_broker_opts_t *opts)
{
    static const struct option options [] = {
        { "frontend", required_argument, NULL, 'f' },
        { "backend", required_argument, NULL, 'b' },
        { "secret", required_argument, NULL, 's' },
        { "lifetime-ms", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    *opts = (s_broker_opts_t) { .lifetime_ms = S_LIFETIME_MS };
    int code;
    while ((code = getopt_long (argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        if (code == 'f') opts->frontend = optarg;
        else if (code == 'b') opts->backend = optarg;
        else if (code == 's') ok = s_is_key (opts->secret = optarg);
        else if (code == 'l') ok = sq_bench_parse_long (optarg, 24L * 3600 * 1000, &opts->lifetime_ms);
        else ok = false;
        if (!ok)
            return false;
    }
    return opts->frontend && opts->backend;
}

int
sq_bench_broker (int argc, char *argv [])
{
    s_broker_opts_t opts;
    if (!s_broker_args (argc, argv, &opts)) {
        s_usage (stderr);
        return 2;
    }
    void *context = zmq_ctx_new ();
    void *frontend = zmq_socket (context, ZMQ_ROUTER);
    void *backend = zmq_socket (context, ZMQ_DEALER);
    if (opts.secret) {
        int as_server = 1;
        zmq_setsockopt (frontend, ZMQ_CURVE_SERVER, &as_server, sizeof as_server);
        zmq_setsockopt (frontend, ZMQ_CURVE_SECRETKEY, opts.secret, S_Z85_KEY + 1);
    }
    if (zmq_bind (frontend, opts.frontend) != 0 || zmq_bind (backend, opts.backend) != 0) {
        fprintf (stderr, "sq_bench broker: cannot bind: %s\n", zmq_strerror (zmq_errno ()));
        return 1;
    }
    //  zmq_proxy never returns while the context lives: the alarm's default
    //  action ends the process when its lifetime is over
    alarm ((unsigned) (opts.lifetime_ms / 1000 + 1));
    zmq_proxy (frontend, backend, NULL);
    return 0;
}


int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    const char *command = argv [1];
    if (strcmp (command, "keygen") == 0)
        return s_keygen ();
    if (strcmp (command, "version") == 0) {
        int major, minor, patch;
        zmq_version (&major, &minor, &patch);
        printf ("%d.%d.%d\n", major, minor, patch);
        return 0;
    }
    if (strcmp (command, "worker") == 0)
        return sq_bench_worker (argc - 1, argv + 1);
    if (strcmp (command, "broker") == 0)
        return sq_bench_broker (argc - 1, argv + 1);
    if (strcmp (command, "client") == 0)
        return sq_bench_client (argc - 1, argv + 1);
    if (strcmp (command, "scale") == 0)
        return sq_bench_scale (argc - 1, argv + 1);
    if (strcmp (command, "slow") == 0)
        return sq_bench_slow (argc - 1, argv + 1);
    if (strcmp (command, "stall") == 0)
        return sq_bench_stall (argc - 1, argv + 1);
    if (strcmp (command, "busy") == 0)
        return sq_bench_busy (argc - 1, argv + 1);
    if (strcmp (command, "--help") == 0 || strcmp (command, "help") == 0) {
        s_usage (stdout);
        return 0;
    }
    s_usage (stderr);
    return 2;
}
