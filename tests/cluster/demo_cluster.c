/*  =========================================================================
    demo_cluster - a cluster that runs: two proxies behind HAProxy, one of
    them stopped while clients are served

        make demo-cluster

    Starts two proxies (each with --metrics, whose /readyz HAProxy
    checks), CURVE echo workers that each dial in to both proxies with one
    ROUTER socket, HAProxy in TCP mode in front (balance leastconn,
    option httpchk GET /readyz every 200 ms), and CURVE clients that
    connect through HAProxy and check every byte of every echo. Then it
    stops one proxy and prints what the clients saw: that the clients of
    the stopped proxy were served again through the other, how long that
    took, and that the pairs on the surviving proxy went on without losing
    a byte. Then it starts the stopped proxy again on its ports: the
    workers redial it, HAProxy puts it back in rotation, and the clients
    that come next go to it. Everything listens on 127.0.0.1 and is
    stopped at the end.
    Exits 0 when every client was served after the switch, no byte was
    lost or changed on the survivor's pairs, and the proxy came back with
    every worker slot and took the next clients; 1 otherwise.

    Environment: CLUSTER_CLIENTS (16, and half as many once the proxy is
    back), CLUSTER_WORKERS (4), CLUSTER_SLOTS
    (8: each worker's connections to each proxy), SQ_BUILD (build).
    =========================================================================
*/
#include "sq_harness.h"
#include "sq_cluster.h"

#include <stdio.h>
#include <stdlib.h>

//  The whole number in the environment variable, or fallback
static int
s_env (const char *name, int fallback, int most)
{
    const char *text = getenv (name);
    int value = text? atoi (text): fallback;
    return value < 1? fallback: value > most? most: value;
}

//  True when what the figures show is what a cluster promises
static bool
s_holds (const sq_cluster_config_t *config, const sq_cluster_figures_t *figures)
{
    return figures->ran && figures->on_proxy [0] >= 1 && figures->on_proxy [1] >= 1
        && figures->switched == figures->on_proxy [0]
        && figures->served_after == config->clients && figures->stalled == 0
        && figures->survivors_intact == figures->on_proxy [1]
        && figures->survivor_lost == 0 && figures->changed == 0
        && figures->rejoin_idle == config->workers * config->slots
        && figures->late_on_restarted == config->late_clients;
}

int
main (void)
{
    sq_cluster_config_t config = {
        .name = "demo_cluster",
        .clients = s_env ("CLUSTER_CLIENTS", 16, SQ_CLUSTER_MAX_CLIENTS / 2),
        .late_clients = s_env ("CLUSTER_CLIENTS", 16, SQ_CLUSTER_MAX_CLIENTS / 2) / 2,
        .workers = s_env ("CLUSTER_WORKERS", 4, 64),
        .slots = s_env ("CLUSTER_SLOTS", 8, 256),
        .rounds = 50, .pause_ms = 5, .max_size = 64 * 1024, .verbose = true
    };
    sq_cluster_figures_t figures;
    bool ran = sq_cluster_run (&config, &figures);
    sq_cluster_print (&config, &figures);
    bool holds = s_holds (&config, &figures);
    printf ("demo-cluster: %s\n", !ran? figures.failure: holds?
            "every client served after the switch, no byte lost or changed on the survivor,"
            " proxy-1 back in rotation":
            "FAILED: see the figures above");
    return holds? 0: 1;
}
