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
        streamq_peer_t *peer = streamq_peer_new (ctx, worker,
            "tcp://127.0.0.1:5557", "backend", "billing-1");
        zmq_connect (worker, "tcp://127.0.0.1:5556");   //  after, not before
        ...
        streamq_peer_destroy (&peer);                   //  before zmq_close
        zmq_close (worker);

    Registration never blocks the application: requests are sent without
    waiting, answers are read in the background, and an ERROR answer is
    logged on stderr (prefixed "libstreamq:") once per distinct reason.

    Limits (libzmq 4.3): a socket has at most one monitor, so do not call
    zmq_socket_monitor on the socket while a peer watches it (that would
    silently stop the registration). Only tcp:// connections over IPv4 or
    IPv6 are registered; other transports are skipped.

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
#define STREAMQ_VERSION_MINOR 1
#define STREAMQ_VERSION_PATCH 0

//  Longest name accepted by streamq_peer_new, in bytes
#define STREAMQ_NAME_MAX 255

typedef struct streamq_peer streamq_peer_t;

//  Starts registering every connection that `socket` makes with the proxy
//  whose control socket is at control_endpoint. side is "frontend" (the
//  socket is a client of the proxy) or "backend" (a worker); name is the
//  name the proxy shows for each of its connections (1 to
//  STREAMQ_NAME_MAX bytes). context is the libzmq context of `socket`.
//
//  Call it BEFORE zmq_connect on the socket: the monitor only sees the
//  connections made after it starts. Returns NULL with errno set on
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
//  (for tests and health checks). Thread safety: any thread, any time
//  between new and destroy.
size_t
    streamq_peer_registered (streamq_peer_t *self);

//  Returns how many IDENTIFY requests the proxy has answered "ERROR" so
//  far (a proxy without IDENTIFY, a bad name, ...). Thread safety: as
//  streamq_peer_registered.
size_t
    streamq_peer_refused (streamq_peer_t *self);

#ifdef __cplusplus
}
#endif

#endif
