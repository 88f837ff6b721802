/*  =========================================================================
    sq_cluster - two proxies behind HAProxy, one stopped while clients echo

    Runs a cluster of real processes and measures what its clients see
    when one proxy stops:

    - two proxies (sq_proxy_start), each with --metrics, whose /readyz
      HAProxy checks;
    - CURVE echo workers, each one ROUTER socket that dials `slots`
      connections to the backend of every proxy; a worker's reply says
      which proxy the request came through (the peer of the connection it
      arrived on); ZMQ_IMMEDIATE, as doc/workers.md asks of every worker,
      so that a reply to a client of the stopped proxy is not given to
      the next client of that slot once the proxy is back;
    - HAProxy in TCP mode in front (sq_haproxy_start): balance leastconn,
      `option httpchk GET /readyz` on each proxy's metrics port every
      200 ms (fall 2, rise 1), redispatch on a failed connect;
    - CURVE DEALER clients that connect through HAProxy, one after
      another, and echo numbered requests whose every byte they check; a
      client that sees its connection end sends its request again, its
      libzmq socket redials on its own.

    Once every client has echoed `rounds` times, it stops the first proxy
    (SIGTERM), then waits until every client it held is served through
    the other, and until every client has echoed `rounds` times more.
    Then it starts the stopped proxy again on the same ports, waits until
    the workers have redialled it and HAProxy sees it UP, and starts
    `late_clients` more clients, which leastconn sends to it. The
    figures say what happened; sq_cluster_run asserts nothing but that
    the cluster could be run, so a test checks the figures, and a demo
    prints them.
    =========================================================================
*/
#ifndef SQ_CLUSTER_H_INCLUDED
#define SQ_CLUSTER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SQ_CLUSTER_PROXIES      2
#define SQ_CLUSTER_MAX_CLIENTS  256

typedef struct {
    const char *name;           //  Names the logs: $SQ_BUILD/tests/<name>-...
    int workers;                //  Worker processes' worth of sockets
    int slots;                  //  Connections of each worker to each proxy
    int clients;                //  At the start
    int late_clients;           //  After the stopped proxy is back (with
                                //  clients, at most SQ_CLUSTER_MAX_CLIENTS)
    int rounds;                 //  Echoes per client before the stop, and after
    int pause_ms;               //  Between a reply and the next request
    size_t max_size;            //  Requests are 12 to max_size bytes
    bool verbose;               //  Says each step on stdout ("# ..." lines)
} sq_cluster_config_t;

typedef struct {
    bool ran;                   //  Every step ran (else `failure` says where)
    char failure [256];
    int stop_code;              //  Exit code of the stopped proxy
    //  Where the clients were when the first proxy stopped
    int on_proxy [SQ_CLUSTER_PROXIES];
    //  Clients of the stopped proxy served again through the other
    int switched;
    //  Clients that echoed `rounds` times after the switch
    int served_after;
    //  Clients of the survivor whose pair never broke: no disconnection,
    //  no request sent twice, every reply through the same proxy
    int survivors_intact;
    long survivor_replies_during;   //  Between the stop and the last switch
    uint64_t survivor_bytes;    //  Echoed and checked on the survivor's pairs
    uint64_t survivor_lost;     //  Sent on the survivor's pairs, never echoed
    long changed;               //  Replies whose bytes differ (every client)
    long duplicates;            //  Second replies to a request sent twice
    long stalled;               //  Clients that waited SQ_WAIT_MS for a reply
    long long survivor_new_pairs;   //  Pairs the survivor made after the stop
    int64_t down_ms;            //  From the stop to HAProxy's DOWN (-1: never)
    int64_t switch_ms [SQ_CLUSTER_MAX_CLIENTS];     //  Per switched client, sorted
    //  The stopped proxy started again on its ports
    int64_t rejoin_ms;          //  From its start to HAProxy's UP (-1: never)
    long long rejoin_idle;      //  Worker slots idle there once UP
    int late_on_restarted;      //  Late clients HAProxy sent to it
} sq_cluster_figures_t;

//  Runs the cluster through the stop of one proxy and fills figures;
//  false (with figures->failure) if a step could not run: a process did
//  not start, a wait ran out. Stops every process and thread it started.
//  Call from the main thread (it starts processes).
bool sq_cluster_run (const sq_cluster_config_t *config, sq_cluster_figures_t *figures);

//  Prints the figures on stdout, one "# "-prefixed line each
void sq_cluster_print (const sq_cluster_config_t *config,
                       const sq_cluster_figures_t *figures);

#endif
