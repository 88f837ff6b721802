/*  =========================================================================
    sq_net - TCP socket helpers the engines share

    Addresses are named one way for every engine: a peer's host is its IP
    (an IPv4 peer of a socket bound to [::] is named by its IPv4 address,
    not as ::ffff:a.b.c.d) and its address is "ip:port", or "[ip]:port" for
    IPv6. Endpoints are libzmq's tcp:// form, and a bound endpoint is named
    as libzmq's ZMQ_LAST_ENDPOINT names it.
    =========================================================================
*/
#ifndef SQ_NET_H_INCLUDED
#define SQ_NET_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>

//  TCP keepalive on one side's connections. Numbers of -1 keep the
//  kernel's defaults (net.ipv4.tcp_keepalive_*).
typedef struct {
    bool on;
    int idle_s;                 //  Silence before the first probe
    int interval_s;             //  Between probes
    int count;                  //  Unanswered probes before the connection drops
} sq_keepalive_t;

//  The IP of the peer of fd (host) and its "ip:port" or "[ip]:port"
//  (address); false if fd is not a connected IP socket
bool sq_net_peer_address (int fd, char *host, size_t host_size,
                          char *address, size_t address_size);

//  Binds and listens on a tcp:// endpoint: "tcp://HOST:PORT" where HOST
//  is an IPv4 address, [IPv6 address], a name (resolved to IPv4) or *
//  (every IPv4 address), and PORT a number, or * or 0 for a free one. An
//  IPv6 socket also takes IPv4 peers. Returns a non-blocking listening
//  descriptor and the endpoint bound ("tcp://127.0.0.1:41234"), or -1
//  with a reason in error.
int sq_net_listen (const char *endpoint, char *bound, size_t bound_size,
                   char *error, size_t error_size);

//  Accepts one connection, non-blocking and close-on-exec; -1 with errno
//  as accept4 sets it
int sq_net_accept (int listener);

//  Sets TCP_NODELAY (no Nagle delay: ZMTP frames go at once)
void sq_net_nodelay (int fd);

//  Sets TCP keepalive on a connection as keepalive says
void sq_net_keepalive (int fd, const sq_keepalive_t *keepalive);

#endif
