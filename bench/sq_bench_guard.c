/*  =========================================================================
    sq_bench_guard - what one wrong-key client costs a stock worker

    The scenario of the guarded handshakes: a stock libzmq ROUTER CURVE
    worker (no libstreamq, so it never redials a slot lost to a failed
    handshake) dials N slots to the proxy; one CURVE client holding a stale
    server key is left to libzmq's default reconnect (100 ms) from
    127.0.0.2, while a correct client from 127.0.0.1 opens one new
    connection per request. After the run it prints, as one Markdown table
    row: the slots the worker still holds, the good requests served, and
    the proxy's counters of lost slots and refused connections.

    Usage: sq_bench_guard [SLOTS [SECONDS]] (default 64 and 11), with
    SQ_BUILD naming the directory of the streamq-proxy to measure.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_harness.h"

#define S_RECONNECT_MS  100     //  libzmq's default

//  One request on a new connection; true when its echo came back
static bool
s_request (void *ctx, const sq_proxy_t *proxy, const sq_keypair_t *good,
           const char *server_key, int number)
{
    void *client = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.1", good, server_key,
                                        S_RECONNECT_MS);
    if (!client)
        return false;
    char text [32];
    snprintf (text, sizeof text, "request %d", number);
    bool served = false;
    if (sq_send_str (client, text) == 0) {
        char *echo = sq_recv_str (client, 2000);
        served = echo && strcmp (echo, text) == 0;
        free (echo);
    }
    zmq_close (client);
    return served;
}

static long long
s_stat (const sq_proxy_t *proxy, const char *path)
{
    long long value = -1;
    sq_stats (proxy->control, path, &value);
    return value;
}

int
main (int argc, char *argv [])
{
    int slots = argc > 1? atoi (argv [1]): 64;
    int seconds = argc > 2? atoi (argv [2]): 11;
    sq_proxy_t *proxy = sq_proxy_start ("sq_bench_guard", NULL);
    if (!proxy || slots < 1 || seconds < 1)
        return 2;
    sq_keypair_t server, impostor, good, bad;
    zmq_curve_keypair (server.public_key, server.secret_key);
    zmq_curve_keypair (impostor.public_key, impostor.secret_key);
    zmq_curve_keypair (good.public_key, good.secret_key);
    zmq_curve_keypair (bad.public_key, bad.secret_key);
    sq_security_t worker_security = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = server.public_key, .secret_key = server.secret_key
    };
    sq_worker_config_t config = {
        .type = ZMQ_ROUTER, .connections = slots, .security = &worker_security
    };
    sq_worker_t *worker = sq_worker_new (proxy->backend, &config);
    if (!worker || !sq_stats_wait (proxy->control, "workers.idle", slots, SQ_WAIT_MS))
        return 2;

    void *ctx = zmq_ctx_new ();
    void *attacker = sq_curve_client_new (ctx, proxy->frontend, "127.0.0.2", &bad,
                                          impostor.public_key, S_RECONNECT_MS);
    int asked = 0, served = 0;
    int64_t end = sq_now_ms () + seconds * 1000LL;
    while (sq_now_ms () < end) {
        served += s_request (ctx, proxy, &good, server.public_key, asked++);
        sq_sleep_ms (100);
    }
    zmq_close (attacker);
    //  Slots that the good clients used come back once libzmq redials them
    sq_sleep_ms (1000);
    printf ("| %d | %d s | %lld | %d of %d | %lld | %lld |\n", slots, seconds,
            s_stat (proxy, "backend.connections"), served, asked,
            s_stat (proxy, "workers.slots_lost"), s_stat (proxy, "frontend.refused.handshake"));
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    return sq_proxy_stop (&proxy) == 0? 0: 1;
}
