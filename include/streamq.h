/*  =========================================================================
    streamq - the peer library of StreamQ-Proxy

    StreamQ-Proxy tells its connections apart by name. A peer (a worker on
    the backend, or a client on the frontend) names its TCP connections by
    sending the proxy's control socket, for each connection,

        IDENTIFY  <frontend|backend>  <ip:port>  <name>

    where ip:port is the connection's address as the proxy sees it: the
    peer's local address of that TCP connection. A libzmq socket opens,
    loses and redials its connections on its own, so the peer cannot send
    this by hand. streamq_peer_new watches the socket with a libzmq socket
    monitor and a background thread, and sends IDENTIFY for every
    connection the socket makes, including every reconnect.

        void *worker = zmq_socket (ctx, ZMQ_ROUTER);
        //  ... ZMQ_IMMEDIATE 1, ZMQ_HANDSHAKE_IVL 0 (doc/workers.md)
        streamq_peer_t *peer = streamq_peer_new (ctx, worker,
            "tcp://127.0.0.1:5557", "backend", "billing-1");
        zmq_connect (worker, "tcp://127.0.0.1:5556");   //  after, not before
        ...
        streamq_peer_destroy (&peer);                   //  before zmq_close
        zmq_close (worker);

    Registration never blocks the application: requests are sent without
    waiting, answers are read in the background, and an ERROR answer is
    logged on stderr (prefixed "libstreamq:") once per distinct reason.

    Lost slots. When a handshake fails with a protocol error (behind the
    proxy, any client holding the wrong CURVE server key causes one),
    libzmq 4.3 closes that connection and never redials it: a worker
    loses one slot for good. libzmq allows one monitor per socket, and
    the peer holds it, so the peer also watches for these failures and
    remembers where each happened. libzmq sockets are not thread-safe,
    so it does not redial itself: the thread that owns the socket calls
    streamq_peer_redial in its loop.

        while (running) {
            zmq_pollitem_t items [] = {
                { worker, 0, ZMQ_POLLIN, 0 },
                { NULL, streamq_peer_redial_fd (peer), ZMQ_POLLIN, 0 }
            };
            zmq_poll (items, 2, 1000);
            if (items [0].revents & ZMQ_POLLIN)
                ...serve one request...
            streamq_peer_redial (peer);                 //  cheap if nothing lost
        }

    Heartbeats. The background thread also sends the proxy

        HEARTBEAT  <name>  <interval-ms>

    every interval (1000 ms by default), with no work for the
    application. A proxy that has heard a name's heartbeat watches it:
    when several intervals pass in silence (--heartbeat-liveness, 3 by
    default) it closes every connection of that name and their partners.
    The heartbeats come from a thread of the application's process, so
    they stop when the process is frozen (SIGSTOP, a debugger, a swapped
    out host) or dies, and a client paired with it is freed at once
    instead of waiting for TCP to notice. Change or stop them with
    streamq_peer_set_heartbeat.

    CURVE. A proxy started with --control-key runs CURVE on its control
    socket and answers only the keys of its --control-clients directory.
    streamq_peer_new_curve takes the peer's key pair and the proxy's
    control public key; the peer's public key must be in that directory
    for its IDENTIFY and HEARTBEAT requests to be accepted.

    Several proxies. Several proxies may serve one service (behind an L4
    balancer, say), and each worker then dials in to every one of them.
    One peer serves such a socket: streamq_peer_new attaches it to a
    first proxy, and streamq_peer_add_proxy to one more each time, as
    the pair (endpoint the socket dials there, that proxy's control
    endpoint). Each connection is registered at the proxy it was made
    to, heartbeats go to every proxy, and a slot lost at one proxy is
    redialled there (streamq_peer_redial dials where it was lost).

        streamq_peer_t *peer = streamq_peer_new (ctx, worker,
            "tcp://10.0.0.1:5557", "backend", "billing-1");
        streamq_peer_add_proxy (peer, "tcp://10.0.0.2:5556", "tcp://10.0.0.2:5557");
        for (int slot = 0; slot < 4; slot++) {
            zmq_connect (worker, "tcp://10.0.0.1:5556");    //  registered at .1
            zmq_connect (worker, "tcp://10.0.0.2:5556");    //  registered at .2
        }

    Limits (libzmq 4.3): a socket has at most one monitor, so do not call
    zmq_socket_monitor on the socket while a peer watches it (that would
    silently stop the registration, and the redial of lost slots). Only
    tcp:// connections over IPv4 or IPv6 are registered; other transports
    are skipped.

    StreamQ-Proxy is free software under the GNU Lesser General Public
    License, version 3 or later.
    =========================================================================
*/
#ifndef STREAMQ_H_INCLUDED
#define STREAMQ_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STREAMQ_VERSION_MAJOR 0
#define STREAMQ_VERSION_MINOR 2
#define STREAMQ_VERSION_PATCH 0

//  Longest name accepted by streamq_peer_new, in bytes
#define STREAMQ_NAME_MAX 255

//  Heartbeat interval of a new peer, in milliseconds
#define STREAMQ_HEARTBEAT_DEFAULT_MS 1000
//  Longest heartbeat interval streamq_peer_set_heartbeat accepts (1 day,
//  the longest the proxy accepts)
#define STREAMQ_HEARTBEAT_MAX_MS 86400000

//  Most proxies one peer is attached to, the first one included
#define STREAMQ_PROXIES_MAX 64

typedef struct streamq_peer streamq_peer_t;

//  Starts registering every connection that `socket` makes with the proxy
//  whose control socket is at control_endpoint. side is "frontend" (the
//  socket is a client of the proxy) or "backend" (a worker); name is the
//  name the proxy shows for each of its connections (1 to
//  STREAMQ_NAME_MAX bytes). context is the libzmq context of `socket`.
//
//  Call it BEFORE zmq_connect on the socket: the monitor only sees the
//  connections made after it starts. A worker's socket should have
//  ZMQ_IMMEDIATE 1 by then (see doc/workers.md): on side "backend" with
//  ZMQ_IMMEDIATE 0 it says so on stderr. Returns NULL with errno set on
//  error: EINVAL for a NULL argument, an unknown side or a bad name, or
//  the libzmq error (e.g. for a malformed control_endpoint). Never waits
//  for the proxy: it may be down, and the requests go out when it is up.
//
//  Thread safety: call it from the thread that uses `socket`, while no
//  other thread uses that socket (it calls zmq_socket_monitor on it).
//  The peer then runs its own thread, with its own sockets in `context`.
streamq_peer_t *
    streamq_peer_new (void *context, void *socket, const char *control_endpoint,
                      const char *side, const char *name);

//  The same as streamq_peer_new, for a proxy whose control socket runs
//  CURVE (streamq-proxy --control-key): the peer's control connections
//  are CURVE clients. Keys are Z85 text, 40 characters: secret_key is the
//  peer's secret key; public_key its public key, or NULL to derive it
//  from secret_key (when given, it must match); server_key the proxy's
//  control public key. The key files streamq-ctl --keygen and CZMQ make
//  hold them as "public-key" and "secret-key". The public key must be in
//  the proxy's --control-clients directory: a proxy refuses any other key
//  at the handshake (even with --control-open-read, which opens only
//  read-only commands, and IDENTIFY and HEARTBEAT change state). A
//  refused key is logged on stderr, once, and nothing is registered.
//
//  Returns NULL with errno set on error: as streamq_peer_new, EINVAL for
//  a key that is not 40 Z85 characters or a public key that does not
//  match the secret one, ENOTSUP for a libzmq built without CURVE. The
//  keys are copied into the peer's sockets; the caller's strings may go
//  once it returns. Thread safety: as streamq_peer_new.
streamq_peer_t *
    streamq_peer_new_curve (void *context, void *socket, const char *control_endpoint,
                            const char *side, const char *name,
                            const char *public_key, const char *secret_key,
                            const char *server_key);

//  Stops watching the socket, stops and joins the background thread, and
//  frees everything; sets *self_p to NULL. Does nothing if self_p or
//  *self_p is NULL. Returns promptly whether or not the proxy is there:
//  requests not yet delivered are dropped (the sockets close with
//  ZMQ_LINGER 0).
//
//  Thread safety: call it from the thread that uses the socket, and
//  BEFORE zmq_close on the socket and before zmq_ctx_term on the context.
void
    streamq_peer_destroy (streamq_peer_t **self_p);

//  Returns how many IDENTIFY requests the proxy has answered "OK" so far
//  (for tests and health checks); with several proxies, all of them. Thread safety: any thread, any time
//  between new and destroy.
size_t
    streamq_peer_registered (streamq_peer_t *self);

//  Returns how many IDENTIFY requests the proxy has answered "ERROR" so
//  far (a proxy without IDENTIFY, a bad name, ...), over all proxies. Thread safety: as
//  streamq_peer_registered.
size_t
    streamq_peer_refused (streamq_peer_t *self);

//  Calls zmq_connect on the socket once for each connection it lost to a
//  failed handshake (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) since the last
//  call, on the endpoint where that connection was lost. Returns how many
//  connections it dialled (0 when nothing was lost: that case takes no
//  lock and no system call, so calling it once per loop turn, or every
//  100 ms, costs nothing), or -1 with errno set: EINVAL for a NULL self,
//  or the error of zmq_connect. After an error the slots not yet dialled
//  stay due, and the next call tries them again.
//
//  Only failures on connections the socket made with zmq_connect count:
//  a connection it accepted on a bound endpoint is not its to redial. A
//  refusal by the socket's ZAP handler (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
//  costs no slot (libzmq redials after the refused client hangs up) and
//  does not count either.
//
//  The endpoint is the one libzmq reports for the connection: libzmq
//  4.3.4 reports it as given to zmq_connect ("tcp://localhost:5556",
//  "tcp://src;dst"), so it is redialled as given; a libzmq that reports
//  the address it resolved, without the source, has that redialled, and
//  it still counts at the proxy it was made to. Protocol errors after a finished
//  handshake (a message over ZMQ_MAXMSGSIZE, a malformed frame) also
//  end a connection for good in libzmq 4.3, but raise no event: they are
//  not seen.
//
//  Thread safety: call it only from the thread that uses the socket (it
//  calls zmq_connect on it), between new and destroy.
int
    streamq_peer_redial (streamq_peer_t *self);

//  Returns how many connections the socket has lost to failed handshakes
//  so far, redialled or not, at every proxy. Thread safety: any thread, any time between
//  new and destroy.
size_t
    streamq_peer_lost (streamq_peer_t *self);

//  Returns a file descriptor that is readable while some lost connection
//  waits for streamq_peer_redial, for a poll loop: add it to zmq_poll as
//  { NULL, fd, ZMQ_POLLIN, 0 } and the loop wakes as soon as a slot is
//  lost. Only poll it: never read, write or close it (streamq_peer_redial
//  empties it, destroy closes it). -1 for a NULL self. Thread safety: any
//  thread, any time between new and destroy.
int
    streamq_peer_redial_fd (streamq_peer_t *self);

//  Sets the heartbeat interval, in milliseconds: the background thread
//  sends HEARTBEAT <name> <interval_ms> to the control socket of every
//  proxy the peer is attached to every interval_ms, and each proxy
//  expects the next one within --heartbeat-liveness (3) such intervals. A new peer sends them every
//  STREAMQ_HEARTBEAT_DEFAULT_MS; its first goes one interval after
//  streamq_peer_new. A change is sent at once, with the new interval, so
//  the proxy applies it from then on. 0 turns heartbeats off.
//
//  Turning them off once the proxy has heard one does not stop it
//  watching the name: after its liveness runs out it closes the name's
//  connections (libzmq reconnects them) and forgets the name, which is
//  then no longer watched. To run without heartbeats, turn them off
//  right after streamq_peer_new. Heartbeats are per name: peers that
//  share a name keep each other alive, so give each process its own.
//
//  Heartbeats never block: while the proxy is away none are queued, and
//  one that cannot be sent is dropped. An ERROR reply (a proxy without
//  heartbeats) is logged on stderr once. Returns 0, or -1 with errno
//  EINVAL for a NULL self or an interval outside 0..STREAMQ_HEARTBEAT_MAX_MS.
//
//  Thread safety: any thread, any time between new and destroy.
int
    streamq_peer_set_heartbeat (streamq_peer_t *self, int interval_ms);

//  Attaches the peer to one more proxy (since 0.2). endpoint is what the
//  socket dials at that proxy (its backend for a worker, its frontend for
//  a client), control_endpoint that proxy's control socket. From then on
//  every connection the socket makes to endpoint is registered there
//  (IDENTIFY), every heartbeat also goes there, and its slots lost to
//  failed handshakes are counted there (streamq_peer_lost_at) and
//  redialled there, at endpoint, by streamq_peer_redial. Connections to
//  any endpoint that no added proxy has are the first proxy's: the one
//  given to streamq_peer_new. Returns the proxy's index (1 for the first
//  added, then 2, ...; the first proxy is 0), or -1 with errno set:
//  EINVAL for a NULL argument or an endpoint that is malformed or does
//  not resolve, EEXIST for an endpoint another added proxy has, ENOSPC
//  past STREAMQ_PROXIES_MAX, or the libzmq error (e.g. for a malformed
//  control_endpoint).
//
//  Connections are told apart by the endpoint libzmq reports for them:
//  endpoint as given, or, for tcp://, the addresses its host resolves
//  to when this is called (give IP addresses if they may change) with
//  its port and without a source address ("tcp://src;dst" is dst).
//  A proxy cannot be removed, short of destroying the peer. It uses no
//  CURVE on its control connection, even when the peer was made with
//  streamq_peer_new_curve: see streamq_peer_add_proxy_curve.
//
//  Call it BEFORE the socket connects to endpoint. Thread safety: call
//  it from the thread that uses the socket, between new and destroy.
int
    streamq_peer_add_proxy (streamq_peer_t *self, const char *endpoint,
                            const char *control_endpoint);

//  The same as streamq_peer_add_proxy (since 0.2), for a proxy whose
//  control socket runs CURVE: the keys are as for streamq_peer_new_curve,
//  server_key that proxy's control public key. Each proxy has its own
//  keys: the peer keeps no secret key of another proxy's. Returns as
//  streamq_peer_add_proxy, and errno as streamq_peer_new_curve for a bad
//  key. Thread safety: as streamq_peer_add_proxy.
int
    streamq_peer_add_proxy_curve (streamq_peer_t *self, const char *endpoint,
                                  const char *control_endpoint, const char *public_key,
                                  const char *secret_key, const char *server_key);

//  Return, for the proxy at index proxy (0 is the first, as
//  streamq_peer_add_proxy numbers them), what streamq_peer_registered,
//  streamq_peer_refused and streamq_peer_lost count over all proxies
//  (since 0.2): IDENTIFY requests it answered "OK", those it answered
//  "ERROR", and slots lost on its endpoint. 0 for a NULL self or no such
//  proxy. Thread safety: any thread, any time between new and destroy.
size_t
    streamq_peer_registered_at (streamq_peer_t *self, int proxy);
size_t
    streamq_peer_refused_at (streamq_peer_t *self, int proxy);
size_t
    streamq_peer_lost_at (streamq_peer_t *self, int proxy);

#ifdef __cplusplus
}
#endif

#endif
