/*  =========================================================================
    sq_engine_stream - the ZMQ_STREAM engine
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <zmq.h>
#include "sq_engine_stream.h"
#include "sq_log.h"

#define S_ENDPOINT_MAX 256
//  Chunks read from one side before looking at the others, for fairness
#define S_BATCH 256

struct sq_engine_stream;

//  What a watched descriptor stands for, for its handler
typedef struct {
    struct sq_engine_stream *engine;
    sq_side_t side;
} s_watch_t;

struct sq_engine_stream {
    void *socket [2];
    void *monitor [2];          //  Accept failures of each side (PAIR)
    char endpoint [2][S_ENDPOINT_MAX];
    sq_core_t *core;
    sq_loop_t *loop;
    s_watch_t watch [2];
    int reserve_fd;             //  A descriptor to give back when out of them
    int64_t last_failure_ms;    //  Last failed accept
    //  The chunk being reported to the core: when the core forwards exactly
    //  these bytes, the message itself is sent on, with no copy
    zmq_msg_t *current;
};

//  Keepalive is a socket option libzmq applies to each TCP connection
static void
s_set_keepalive (void *socket, const sq_keepalive_t *keepalive)
{
    int on = keepalive->on? 1: 0;
    zmq_setsockopt (socket, ZMQ_TCP_KEEPALIVE, &on, sizeof on);
    if (!keepalive->on)
        return;
    zmq_setsockopt (socket, ZMQ_TCP_KEEPALIVE_IDLE, &keepalive->idle_s, sizeof (int));
    zmq_setsockopt (socket, ZMQ_TCP_KEEPALIVE_INTVL, &keepalive->interval_s, sizeof (int));
    zmq_setsockopt (socket, ZMQ_TCP_KEEPALIVE_CNT, &keepalive->count, sizeof (int));
}

void
sq_engine_stream_set_ipv6 (void *socket, const char *endpoint)
{
    int ipv6 = strncmp (endpoint, "tcp://[", 7) == 0;
    zmq_setsockopt (socket, ZMQ_IPV6, &ipv6, sizeof ipv6);
}

//  libzmq reports a failed accept (out of file descriptors, say) only
//  through a socket monitor: without one the proxy could not see, count
//  or log it. Each engine's (one a service) has its own endpoint.
static void *
s_monitor_new (void *context, void *socket, const char *name)
{
    static unsigned s_made = 0;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://streamq-monitor-%s-%u", name, s_made++);
    if (zmq_socket_monitor (socket, endpoint, ZMQ_EVENT_ACCEPT_FAILED) != 0)
        return NULL;
    void *monitor = zmq_socket (context, ZMQ_PAIR);
    if (monitor && zmq_connect (monitor, endpoint) != 0) {
        zmq_close (monitor);
        monitor = NULL;
    }
    return monitor;
}

static void *
s_socket_new (void *context, const char *endpoint, const char *name,
              const sq_keepalive_t *keepalive, int hwm, char *bound,
              char *error, size_t error_size)
{
    void *socket = zmq_socket (context, ZMQ_STREAM);
    if (!socket) {
        snprintf (error, error_size, "cannot create the %s socket: %s",
                  name, zmq_strerror (zmq_errno ()));
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    s_set_keepalive (socket, keepalive);
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    sq_engine_stream_set_ipv6 (socket, endpoint);
    if (zmq_bind (socket, endpoint) != 0) {
        snprintf (error, error_size, "cannot bind %s to %s: %s",
                  name, endpoint, zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    size_t size = S_ENDPOINT_MAX;
    if (zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, bound, &size) != 0)
        snprintf (bound, S_ENDPOINT_MAX, "%s", endpoint);
    return socket;
}

sq_engine_stream_t *
sq_engine_stream_new (void *context, const char *frontend, const char *backend,
                      const sq_keepalive_t *keepalive, int hwm,
                      char *error, size_t error_size)
{
    sq_engine_stream_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    self->reserve_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    self->socket [SQ_FRONTEND] = s_socket_new (context, frontend, "frontend",
        &keepalive [SQ_FRONTEND], hwm, self->endpoint [SQ_FRONTEND], error, error_size);
    if (self->socket [SQ_FRONTEND])
        self->socket [SQ_BACKEND] = s_socket_new (context, backend, "backend",
            &keepalive [SQ_BACKEND], hwm, self->endpoint [SQ_BACKEND], error, error_size);
    if (!self->socket [SQ_BACKEND]) {
        sq_engine_stream_destroy (&self);
        return NULL;
    }
    self->monitor [SQ_FRONTEND] = s_monitor_new (context, self->socket [SQ_FRONTEND], "frontend");
    self->monitor [SQ_BACKEND] = s_monitor_new (context, self->socket [SQ_BACKEND], "backend");
    if (!self->monitor [SQ_FRONTEND] || !self->monitor [SQ_BACKEND])
        sq_warning ("cannot watch for failed accepts: %s", zmq_strerror (zmq_errno ()));
    return self;
}

static bool s_hook (sq_loop_t *loop, void *arg);

void
sq_engine_stream_destroy (sq_engine_stream_t **self_p)
{
    sq_engine_stream_t *self = *self_p;
    if (!self)
        return;
    if (self->reserve_fd >= 0)
        close (self->reserve_fd);
    if (self->loop)
        sq_loop_hook_remove (self->loop, s_hook, self);
    for (int side = 0; side < 2; side++) {
        if (self->loop && self->socket [side]) {
            int fd = -1;
            size_t size = sizeof fd;
            if (zmq_getsockopt (self->socket [side], ZMQ_FD, &fd, &size) == 0)
                sq_loop_unwatch (self->loop, fd);
            if (self->monitor [side]
            &&  zmq_getsockopt (self->monitor [side], ZMQ_FD, &fd, &size) == 0)
                sq_loop_unwatch (self->loop, fd);
        }
        if (self->monitor [side]) {
            zmq_socket_monitor (self->socket [side], NULL, 0);
            zmq_close (self->monitor [side]);
        }
        if (self->socket [side])
            zmq_close (self->socket [side]);
    }
    free (self);
    *self_p = NULL;
}

void
sq_engine_stream_set_linger (sq_engine_stream_t *self, int linger_ms)
{
    for (int side = 0; side < 2; side++)
        zmq_setsockopt (self->socket [side], ZMQ_LINGER, &linger_ms, sizeof linger_ms);
}

//  A peer that reads nothing fills its pipe, and libzmq then refuses even
//  the empty message that would close it: the proxy could never let it
//  go. So the engine shuts the TCP connection down itself; libzmq sees
//  the end, and reports the connection lost. The descriptor is checked
//  first to still be that peer's, as libzmq may have closed it and
//  handed its number to a newer connection.
static void
s_shutdown_stalled (sq_conn_t *conn)
{
    char host [SQ_ADDRESS_MAX], address [SQ_ADDRESS_MAX];
    if (conn->fd < 0 || conn->fd_shut
    ||  !sq_net_peer_address (conn->fd, host, sizeof host, address, sizeof address)
    ||  strcmp (address, conn->address) != 0)
        return;
    if (shutdown (conn->fd, SHUT_RDWR) == 0) {
        conn->fd_shut = true;
        sq_debug ("%s #%llu %s: pipe full, shut down to close it",
                  sq_side_name (conn->side), (unsigned long long) conn->serial, conn->address);
    }
}

//  Sends [id][bytes]; libzmq refuses the id frame at once when the peer's
//  pipe is full, so a message goes whole or not at all
static sq_send_result_t
s_send_frames (sq_engine_stream_t *self, sq_conn_t *conn, const void *data, size_t size)
{
    void *socket = self->socket [conn->side];
    if (zmq_send (socket, conn->id, conn->id_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno () == EAGAIN)
            return SQ_SEND_AGAIN;
        if (zmq_errno () != EHOSTUNREACH)
            sq_warning ("%s: send failed: %s", sq_side_name (conn->side),
                        zmq_strerror (zmq_errno ()));
        return SQ_SEND_GONE;
    }
    if (zmq_send (socket, data, size, ZMQ_DONTWAIT) < 0) {
        sq_warning ("%s: send failed after routing id: %s", sq_side_name (conn->side),
                    zmq_strerror (zmq_errno ()));
        return SQ_SEND_GONE;
    }
    return SQ_SEND_OK;
}

//  Sends the chunk being reported on, moving the message: no copy
static sq_send_result_t
s_send_current (sq_engine_stream_t *self, sq_conn_t *conn)
{
    void *socket = self->socket [conn->side];
    if (zmq_send (socket, conn->id, conn->id_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return zmq_errno () == EAGAIN? SQ_SEND_AGAIN: SQ_SEND_GONE;
    if (zmq_msg_send (self->current, socket, ZMQ_DONTWAIT) < 0) {
        sq_warning ("%s: send failed after routing id: %s", sq_side_name (conn->side),
                    zmq_strerror (zmq_errno ()));
        return SQ_SEND_GONE;
    }
    self->current = NULL;
    return SQ_SEND_OK;
}

static sq_send_result_t
s_send (void *handle, sq_conn_t *conn, const uint8_t *data, size_t size)
{
    sq_engine_stream_t *self = handle;
    //  A zero-length frame would close the connection
    if (size == 0)
        return SQ_SEND_OK;
    if (self->current && data == zmq_msg_data (self->current)
    &&  size == zmq_msg_size (self->current))
        return s_send_current (self, conn);
    return s_send_frames (self, conn, data, size);
}

static sq_send_result_t
s_close (void *handle, sq_conn_t *conn)
{
    sq_send_result_t result = s_send_frames (handle, conn, "", 0);
    if (result == SQ_SEND_AGAIN)
        s_shutdown_stalled (conn);
    return result;
}

//  The engine's name: it has no pipes
static void
s_figures (void *handle, sq_engine_figures_t *figures)
{
    (void) handle;
    figures->name = "stream";
}

sq_engine_t
sq_engine_stream_ops (sq_engine_stream_t *self)
{
    sq_engine_t engine = {
        .handle = self, .send = s_send, .close = s_close, .figures = s_figures
    };
    return engine;
}

void
sq_engine_stream_attach (sq_engine_stream_t *self, sq_core_t *core)
{
    self->core = core;
}

const char *
sq_engine_stream_endpoint (sq_engine_stream_t *self, sq_side_t side)
{
    return self->endpoint [side];
}

//  Peer IP and address from its socket while it is open, as
//  s_shutdown_stalled will see them; else the IP libzmq noted, no port
static void
s_peer_address (zmq_msg_t *msg, char *host, size_t host_size,
                char *address, size_t address_size)
{
    int fd = zmq_msg_get (msg, ZMQ_SRCFD);
    if (fd >= 0 && sq_net_peer_address (fd, host, host_size, address, address_size))
        return;
    const char *ip = zmq_msg_gets (msg, "Peer-Address");
    if (ip && strncasecmp (ip, "::ffff:", 7) == 0 && strchr (ip + 7, '.'))
        ip += 7;                //  An IPv4 peer of [::], named as IPv4
    snprintf (host, host_size, "%s", ip? ip: "unknown");
    snprintf (address, address_size, "%s", host);
}

//  A zero-length chunk: a connection arrived (unknown id) or left (known).
//  No notice can come for a connection the proxy closed or lost itself:
//  libzmq stops reading a pipe once the proxy closes it, and a pipe its peer
//  closed is read to the end, notice included, before its id goes away.
//  Notices of different connections may come in any order (libzmq reads its
//  pipes in turn), so ids carry no order to rely on.
static void
s_notice (sq_engine_stream_t *self, sq_side_t side, zmq_msg_t *id, zmq_msg_t *data,
          sq_conn_t *conn, int64_t now)
{
    const uint8_t *id_data = zmq_msg_data (id);
    size_t id_size = zmq_msg_size (id);
    if (conn)
        sq_core_disconnected (self->core, conn, now);
    else
    if (id_size <= SQ_ID_MAX) {
        char host [SQ_ADDRESS_MAX], address [SQ_ADDRESS_MAX];
        s_peer_address (data, host, sizeof host, address, sizeof address);
        sq_conn_t *added = sq_core_connected (self->core, side, id_data, id_size,
                                              host, address, now);
        if (added)
            added->fd = zmq_msg_get (data, ZMQ_SRCFD);
    }
}

//  Reads up to `limit` chunks from one side without blocking and reports
//  them to the core; returns how many were read
static size_t
s_receive (sq_engine_stream_t *self, sq_side_t side, size_t limit, int64_t now)
{
    void *socket = self->socket [side];
    size_t count = 0;
    zmq_msg_t id, data;
    zmq_msg_init (&id);
    zmq_msg_init (&data);
    //  A bound reached in the middle of a batch stops it (--slow-peer=block)
    while (count < limit && sq_core_reading (self->core, side)
    &&     zmq_msg_recv (&id, socket, ZMQ_DONTWAIT) >= 0) {
        //  The data frame is already there: ZMQ_STREAM delivers both at once
        if (zmq_msg_recv (&data, socket, 0) < 0)
            break;
        count++;
        sq_conn_t *conn = sq_core_lookup (self->core, side,
                                          zmq_msg_data (&id), zmq_msg_size (&id));
        if (zmq_msg_size (&data) == 0)
            s_notice (self, side, &id, &data, conn, now);
        else
        if (conn) {
            self->current = &data;
            sq_core_received (self->core, conn, zmq_msg_data (&data),
                              zmq_msg_size (&data), now);
            self->current = NULL;
        }
        //  Else: bytes from a connection the proxy already closed (see above:
        //  not expected from libzmq, but harmless to ignore)
    }
    zmq_msg_close (&id);
    zmq_msg_close (&data);
    return count;
}

//  The proxy keeps one descriptor in reserve. When libzmq fails to accept
//  for want of one, the reserve is given back, so its next accept works
//  and the core can refuse (close) what it accepts, instead of libzmq
//  retrying in a busy loop while every descriptor is taken. The reserve
//  is taken again once accepts have stopped failing for a while.
#define S_RESERVE_QUIET_MS 100

static void
s_reserve_update (sq_engine_stream_t *self, bool failed, int64_t now)
{
    if (failed) {
        self->last_failure_ms = now;
        if (self->reserve_fd >= 0) {
            close (self->reserve_fd);
            self->reserve_fd = -1;
        }
    }
    else
    if (self->reserve_fd < 0 && now >= self->last_failure_ms + S_RESERVE_QUIET_MS)
        self->reserve_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
}

//  Reads what the monitors reported and tells the core. A monitor event
//  is two frames: 16-bit event and 32-bit value, then the endpoint.
static void
s_events (sq_engine_stream_t *self, int64_t now)
{
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++) {
        if (!self->monitor [side])
            continue;
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        while (zmq_msg_recv (&frame, self->monitor [side], ZMQ_DONTWAIT) >= 0) {
            uint16_t event = 0;
            uint32_t value = 0;
            if (zmq_msg_size (&frame) >= 6) {
                memcpy (&event, zmq_msg_data (&frame), 2);
                memcpy (&value, (uint8_t *) zmq_msg_data (&frame) + 2, 4);
            }
            while (zmq_msg_more (&frame)
            &&     zmq_msg_recv (&frame, self->monitor [side], 0) >= 0)
                ;               //  The endpoint frame
            if (event == ZMQ_EVENT_ACCEPT_FAILED) {
                s_reserve_update (self, true, now);
                sq_core_accept_failed (self->core, (sq_side_t) side, (int) value, now);
            }
        }
        zmq_msg_close (&frame);
    }
    s_reserve_update (self, false, now);
}

//  True when the socket has a message to read. Reading ZMQ_EVENTS also
//  runs the socket's pending commands, which re-arms its ZMQ_FD.
static bool
s_readable (void *socket)
{
    int events = 0;
    size_t size = sizeof events;
    return zmq_getsockopt (socket, ZMQ_EVENTS, &events, &size) == 0
        && (events & ZMQ_POLLIN);
}

//  Reads one batch from a side, if the core reads it; true when a whole
//  batch came, so more may wait
static bool
s_serve_side (sq_engine_stream_t *self, sq_side_t side, int64_t now)
{
    return sq_core_reading (self->core, side)
        && s_receive (self, side, S_BATCH, now) == S_BATCH;
}

//  A side's ZMQ_FD fired: news of arrived messages, or that a full pipe
//  has drained (then the core's tick offers held bytes again). The check
//  at the end runs libzmq's pending commands, which re-arms the FD.
static void
s_on_socket (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) fd;
    (void) fired;
    s_watch_t *watch = arg;
    s_serve_side (watch->engine, watch->side, sq_loop_now (loop));
    s_readable (watch->engine->socket [watch->side]);
}

static void
s_on_monitor (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) fd;
    (void) fired;
    s_events (((s_watch_t *) arg)->engine, sq_loop_now (loop));
}

//  Before each wait: a batch from each side, the monitors, then a last
//  look at each side. ZMQ_FD is edge-triggered: a send may have taken in
//  the wake-up of a message that arrived meanwhile, so a side the core
//  reads that has a message keeps the loop awake. A side whose reading
//  stopped (--slow-peer=block) is still looked at, for the notices that
//  its full pipes drained; the look takes those in.
static bool
s_hook (sq_loop_t *loop, void *arg)
{
    sq_engine_stream_t *self = arg;
    int64_t now = sq_loop_now (loop);
    bool busy = false;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (s_serve_side (self, (sq_side_t) side, now))
            busy = true;
    s_events (self, now);
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (s_readable (self->socket [side]) && sq_core_reading (self->core, side))
            busy = true;
    return busy;
}

//  Watches the ZMQ_FD of a socket for its handler
static bool
s_watch_socket (sq_engine_stream_t *self, void *socket, sq_loop_file_fn *fn, s_watch_t *watch)
{
    int fd = -1;
    size_t size = sizeof fd;
    return zmq_getsockopt (socket, ZMQ_FD, &fd, &size) == 0
        && sq_loop_watch (self->loop, fd, SQ_LOOP_READABLE, fn, watch) == 0;
}

bool
sq_engine_stream_register (sq_engine_stream_t *self, sq_loop_t *loop)
{
    self->loop = loop;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++) {
        self->watch [side] = (s_watch_t) { self, (sq_side_t) side };
        if (!s_watch_socket (self, self->socket [side], s_on_socket, &self->watch [side]))
            return false;
        if (self->monitor [side]
        &&  !s_watch_socket (self, self->monitor [side], s_on_monitor, &self->watch [side]))
            return false;
    }
    return sq_loop_hook_add (loop, s_hook, self);
}
