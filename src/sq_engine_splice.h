/*  =========================================================================
    sq_engine_splice - the proxy's own TCP sockets, on the event loop

    The engine accepts the TCP connections of both sides itself: non-
    blocking sockets with TCP_NODELAY, watched edge-triggered by the loop,
    in the loop's one thread. Every byte a peer sends goes to the core,
    which greets, pairs and forwards; what a socket cannot take at once is
    held here, one send's worth per connection at most, and the engine
    says "again" to the core until it has gone.

    Routing ids are 8 bytes: the descriptor and a generation number, so a
    descriptor number that comes back names a new connection.
    =========================================================================
*/
#ifndef SQ_ENGINE_SPLICE_H_INCLUDED
#define SQ_ENGINE_SPLICE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_core.h"
#include "sq_loop.h"
#include "sq_net.h"

typedef struct sq_engine_splice sq_engine_splice_t;

typedef struct {
    const char *frontend;           //  tcp:// endpoints (see sq_net_listen)
    const char *backend;
    sq_keepalive_t keepalive [2];   //  Per side
} sq_engine_splice_config_t;

//  Binds both sides; NULL with a reason in error
sq_engine_splice_t *sq_engine_splice_new (const sq_engine_splice_config_t *config,
                                          char *error, size_t error_size);

//  Closes every connection and both listening sockets
void sq_engine_splice_destroy (sq_engine_splice_t **self_p);

//  The sq_engine_t the core calls
sq_engine_t sq_engine_splice_ops (sq_engine_splice_t *self);

//  Sets the core that receives events
void sq_engine_splice_attach (sq_engine_splice_t *self, sq_core_t *core);

//  Watches both listening sockets and adds the engine's hook and timer to
//  the loop; call after attach. False when the loop cannot take them.
bool sq_engine_splice_register (sq_engine_splice_t *self, sq_loop_t *loop);

//  The endpoint a side is bound to, as libzmq would name it
const char *sq_engine_splice_endpoint (sq_engine_splice_t *self, sq_side_t side);

//  True while connections the core closed still deliver their last bytes
bool sq_engine_splice_lingering (sq_engine_splice_t *self);

//  Closes the listeners: no new connection is accepted; those there go on
void sq_engine_splice_stop_listening (sq_engine_splice_t *self);

#endif
