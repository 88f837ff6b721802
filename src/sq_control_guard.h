/*  =========================================================================
    sq_control_guard - a bound on the connections to the control socket

    libzmq accepts every TCP connection to the control socket's endpoint,
    and each costs a descriptor: idle ones could take those the frontend
    and backend need. A socket monitor tells the guard of each connection
    the control socket accepts and loses; past the cap, a new connection
    is shut down at once (libzmq then drops it), counted and logged (the
    first, then a summary at most every 10 s).
    =========================================================================
*/
#ifndef SQ_CONTROL_GUARD_H_INCLUDED
#define SQ_CONTROL_GUARD_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct sq_control_guard sq_control_guard_t;

//  Watches control_socket (a bound socket in context); NULL when the
//  monitor cannot be made
sq_control_guard_t *sq_control_guard_new (void *context, void *control_socket,
                                          size_t cap);

//  Stops watching (before the control socket is closed)
void sq_control_guard_destroy (sq_control_guard_t **self_p);

//  The monitor socket, to poll for events
void *sq_control_guard_socket (sq_control_guard_t *self);

//  Reads what the monitor reported: counts connections, shuts down those
//  past the cap
void sq_control_guard_events (sq_control_guard_t *self, int64_t now);

//  A new cap (SIGHUP); connections already open stay
void sq_control_guard_set_cap (sq_control_guard_t *self, size_t cap);

//  Connections open now, and those refused so far
size_t sq_control_guard_connections (sq_control_guard_t *self);
uint64_t sq_control_guard_refused (sq_control_guard_t *self);

#endif
