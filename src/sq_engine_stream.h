/*  =========================================================================
    sq_engine_stream - the ZMQ_STREAM engine: two raw sockets feed the core

    frontend and backend are ZMQ_STREAM sockets. Every chunk a peer sends
    arrives as [routing id][bytes]; a zero-length chunk announces a new
    connection (id not seen before) or a lost one (id known). This engine
    turns those into sq_core events and carries out the core's sends and
    closes. It is the only place that calls libzmq for peer traffic.
    =========================================================================
*/
#ifndef SQ_ENGINE_STREAM_H_INCLUDED
#define SQ_ENGINE_STREAM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "sq_core.h"
#include "sq_loop.h"
#include "sq_net.h"

typedef struct sq_engine_stream sq_engine_stream_t;

//  Creates both sockets, with keepalive [side] for each, and binds them.
//  hwm is how many chunks (of up to 8 KiB) libzmq may queue for each
//  connection each way (ZMQ_SNDHWM, ZMQ_RCVHWM). On failure returns NULL
//  with a reason in `error`.
sq_engine_stream_t *sq_engine_stream_new (void *context, const char *frontend,
                                          const char *backend,
                                          const sq_keepalive_t *keepalive, int hwm,
                                          char *error, size_t error_size);

void sq_engine_stream_destroy (sq_engine_stream_t **self_p);

//  The sq_engine_t the core calls
sq_engine_t sq_engine_stream_ops (sq_engine_stream_t *self);

//  Sets the core that receives events
void sq_engine_stream_attach (sq_engine_stream_t *self, sq_core_t *core);

//  Serves both sides from the loop: their ZMQ_FDs and the accept monitors
//  are watched, and a hook reads what libzmq holds before each wait (as
//  ZMQ_FD only tells of a change). Reading stops while the core says so
//  (paused, or a bound of --slow-peer=block). Call after attach. False
//  when the loop cannot take a descriptor.
bool sq_engine_stream_register (sq_engine_stream_t *self, sq_loop_t *loop);

//  The endpoint a side is bound to (with the real port for "*")
const char *sq_engine_stream_endpoint (sq_engine_stream_t *self, sq_side_t side);

//  Sets ZMQ_IPV6 on a socket when its endpoint is an IPv6 one
//  (tcp://[...]:port), which libzmq needs to bind or connect it
void sq_engine_stream_set_ipv6 (void *socket, const char *endpoint);

//  Sets how long closing the sockets may wait for queued bytes (ms)
void sq_engine_stream_set_linger (sq_engine_stream_t *self, int linger_ms);

#endif
