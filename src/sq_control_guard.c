/*  =========================================================================
    sq_control_guard - a bound on the connections to the control socket
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <zmq.h>
#include "sq_control_guard.h"
#include "sq_log.h"

#define S_LOG_EVERY_MS 10000

struct sq_control_guard {
    void *socket;               //  The control socket
    void *monitor;              //  PAIR, its monitor
    size_t cap;
    size_t connections;
    uint64_t refused;
    int64_t log_due_ms;
    int port;                   //  The control socket's own TCP port, or -1
};

//  The TCP port a socket's descriptor is bound to locally, or -1
static int
s_local_port (int fd)
{
    struct sockaddr_storage address;
    socklen_t size = sizeof address;
    if (getsockname (fd, (struct sockaddr *) &address, &size) != 0)
        return -1;
    if (address.ss_family == AF_INET)
        return ntohs (((struct sockaddr_in *) &address)->sin_port);
    if (address.ss_family == AF_INET6)
        return ntohs (((struct sockaddr_in6 *) &address)->sin6_port);
    return -1;
}

//  The port of the endpoint the control socket is bound to, or -1
static int
s_bound_port (void *socket)
{
    char endpoint [256];
    size_t size = sizeof endpoint;
    if (zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0
    ||  strncmp (endpoint, "tcp://", 6) != 0)
        return -1;
    const char *colon = strrchr (endpoint, ':');
    return colon? atoi (colon + 1): -1;
}

sq_control_guard_t *
sq_control_guard_new (void *context, void *control_socket, size_t cap)
{
    sq_control_guard_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->socket = control_socket;
    self->cap = cap;
    self->port = s_bound_port (control_socket);
    const char *endpoint = "inproc://streamq-monitor-control";
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED;
    if (zmq_socket_monitor (control_socket, endpoint, events) == 0)
        self->monitor = zmq_socket (context, ZMQ_PAIR);
    if (!self->monitor || zmq_connect (self->monitor, endpoint) != 0) {
        sq_control_guard_destroy (&self);
        return NULL;
    }
    return self;
}

void
sq_control_guard_destroy (sq_control_guard_t **self_p)
{
    sq_control_guard_t *self = *self_p;
    if (!self)
        return;
    zmq_socket_monitor (self->socket, NULL, 0);
    if (self->monitor)
        zmq_close (self->monitor);
    free (self);
    *self_p = NULL;
}

void *
sq_control_guard_socket (sq_control_guard_t *self)
{
    return self->monitor;
}

//  Past the cap: the connection is shut down, if its descriptor is still
//  one of the control socket's (it may be closed and reused by now)
static void
s_refuse (sq_control_guard_t *self, int fd, int64_t now)
{
    if (self->port < 0 || s_local_port (fd) != self->port)
        return;
    shutdown (fd, SHUT_RDWR);
    self->refused++;
    if (now >= self->log_due_ms) {
        sq_warning ("control: %zu connections open, refusing more (%llu refused so far; "
                    "the cap is %zu)", self->connections - 1,
                    (unsigned long long) self->refused, self->cap);
        self->log_due_ms = now + S_LOG_EVERY_MS;
    }
}

void
sq_control_guard_events (sq_control_guard_t *self, int64_t now)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT) >= 0) {
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size (&frame) >= 6) {
            memcpy (&event, zmq_msg_data (&frame), 2);
            memcpy (&value, (uint8_t *) zmq_msg_data (&frame) + 2, 4);
        }
        while (zmq_msg_more (&frame) && zmq_msg_recv (&frame, self->monitor, 0) >= 0)
            ;                   //  The endpoint frame
        if (event == ZMQ_EVENT_ACCEPTED && ++self->connections > self->cap)
            s_refuse (self, (int) value, now);
        else
        if (event == ZMQ_EVENT_DISCONNECTED && self->connections > 0)
            self->connections--;
    }
    zmq_msg_close (&frame);
}

void
sq_control_guard_set_cap (sq_control_guard_t *self, size_t cap)
{
    self->cap = cap;
}

size_t
sq_control_guard_connections (sq_control_guard_t *self)
{
    return self->connections;
}

uint64_t
sq_control_guard_refused (sq_control_guard_t *self)
{
    return self->refused;
}
