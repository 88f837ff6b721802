/*  =========================================================================
    test_cluster - two proxies behind HAProxy, and one of them stops

    Real processes all the way: two proxies, HAProxy in TCP mode in front
    of them (leastconn, a health check on each proxy's /readyz), CURVE
    echo workers dialled in to both proxies, CURVE clients through
    HAProxy that check every byte of every echo (sq_cluster.h). The first
    proxy stops while the clients echo. Checks that:

    - HAProxy spread the clients over both proxies, and took the stopped
      one out of rotation;
    - every client of the stopped proxy was served again, through the
      other, by the same libzmq socket (it redialled HAProxy);
    - every pair on the surviving proxy went on without a break: no
      disconnection, no request sent twice, zero bytes lost or changed,
      and the survivor made new pairs only for the clients that came over;
    - every client echoed again after the switch;
    - the stopped proxy, started again on its ports, got every worker slot
      back (the workers redialled it) and HAProxy sent it the clients
      that came next (leastconn: it held none).

    The time of the switch is printed, not checked.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"
#include "sq_cluster.h"

SQ_TEST_DEFINE

//  Two workers of four slots at each proxy, four clients, two more once
//  the stopped proxy is back
static void
test_stop_one_proxy (void)
{
    sq_cluster_config_t config = {
        .name = "test_cluster", .workers = 2, .slots = 4, .clients = 4, .late_clients = 2,
        .rounds = 10, .pause_ms = 10, .max_size = 9000, .verbose = true
    };
    sq_cluster_figures_t figures;
    bool ran = sq_cluster_run (&config, &figures);
    sq_cluster_print (&config, &figures);
    SQ_CHECK_MSG (ran, "%s", figures.failure);
    SQ_CHECK_EQ (figures.stop_code, 0);
    SQ_CHECK_EQ (figures.on_proxy [0] + figures.on_proxy [1], config.clients);
    SQ_CHECK_MSG (figures.on_proxy [0] >= 1 && figures.on_proxy [1] >= 1,
                  "HAProxy did not use both proxies: %d and %d clients",
                  figures.on_proxy [0], figures.on_proxy [1]);
    SQ_CHECK_MSG (figures.down_ms >= 0, "HAProxy never marked the stopped proxy DOWN");
    //  Every client of the stopped proxy, served through the other
    SQ_CHECK_EQ (figures.switched, figures.on_proxy [0]);
    SQ_CHECK_EQ (figures.served_after, config.clients);
    SQ_CHECK_EQ (figures.stalled, 0);
    //  The survivor's pairs: unbroken, every byte back as it went
    SQ_CHECK_EQ (figures.survivors_intact, figures.on_proxy [1]);
    SQ_CHECK_EQ (figures.survivor_lost, 0);
    SQ_CHECK_EQ (figures.changed, 0);
    SQ_CHECK (figures.survivor_bytes > 0);
    SQ_CHECK_EQ (figures.survivor_new_pairs, figures.switched);
    //  Back on its ports: the workers redialled it, HAProxy sends it clients
    SQ_CHECK (figures.rejoin_ms >= 0);
    SQ_CHECK_EQ (figures.rejoin_idle, config.workers * config.slots);
    SQ_CHECK_EQ (figures.late_on_restarted, config.late_clients);
}

int
main (void)
{
    SQ_RUN (test_stop_one_proxy);
    return sq_test_summary ();
}
