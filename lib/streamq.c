/*  =========================================================================
    streamq - the peer library of StreamQ-Proxy

    See include/streamq.h for the API and what it guarantees.

    How it works. streamq_peer_new starts a libzmq socket monitor on the
    application's socket, and a background thread that owns two sockets:
    a PAIR that receives the monitor events, and a DEALER to the proxy's
    control socket. For each ZMQ_EVENT_CONNECTED (its value is the fd of
    the new TCP connection) the thread reads the connection's local
    address with getsockname, which is the address the proxy sees, and
    sends IDENTIFY without waiting. Replies are read as they come, in the
    same loop, built around zmq_poll with a timeout for periodic work.

    Heartbeats: the same loop sends HEARTBEAT <name> <interval-ms> every
    interval, on a DEALER of its own. It is the thread of the application's
    process that sends them, so they stop when the process is frozen or
    dies, and the proxy then frees the connections of that name and their
    partners. They have their own socket for two reasons. With
    ZMQ_IMMEDIATE it queues nothing while the proxy is away, so the
    proxy never gets a burst of stale heartbeats, and a long absence
    never fills the queue that IDENTIFY requests need. And their replies
    stay apart from the IDENTIFY replies that streamq_peer_registered and
    streamq_peer_refused count. streamq_peer_set_heartbeat stores the
    interval in an atomic and wakes the thread through the wake pipe; the
    thread sends at once with the new interval, so the proxy learns of a
    change before the old interval runs out.

    Lost slots: the monitor also reports ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL.
    libzmq 4.3 never redials a connection that failed that way, and only
    the application's thread may call zmq_connect on its socket. So the
    thread records where each slot was lost, in a list guarded by a mutex,
    and makes a pipe readable; streamq_peer_redial, in the application's
    thread, takes the list, empties the pipe and dials. The thread counts
    only failures on endpoints the socket connected to (seen in a
    CONNECTED event): a failure on an accepted connection names the
    socket's own bound address, which must never be dialled.

    Several proxies: each proxy has its own two DEALERs (and watch), in
    a fixed table that streamq_peer_add_proxy fills in the application's
    thread and publishes by raising an atomic count; the thread polls
    what is published and owns it from then on. A monitor event names
    the endpoint of its connection, as given to zmq_connect (libzmq
    4.3.4) or as resolved, so each added proxy keeps both forms of its
    endpoint, and an event on one of them is that proxy's: IDENTIFY
    goes to its control socket, a lost slot is counted there. Any other
    is the first proxy's. Heartbeats go to every proxy at once. Lost
    slots stay one list, by endpoint: redialling an endpoint dials that
    proxy again.

    CURVE: streamq_peer_new_curve makes both DEALERs CURVE clients with
    the keys given (copied into the sockets, then wiped). A proxy that
    refuses the key answers nothing, so a third socket, a PAIR fed by a
    monitor of the control DEALER, reports the failed handshake, and the
    thread logs it once.

    Stopping: destroy sets `stopping`, stops the monitor (libzmq then
    sends a last MONITOR_STOPPED event, with a blocking send, and closes
    its end), then sets `quit`, wakes the thread through the wake pipe,
    and joins it. The same pipe also carries heartbeat changes and new
    proxies, so the thread stops only once `quit` is set: were it to stop
    on `stopping` alone (a wake from an earlier change still in the pipe),
    it would close the PAIR before the last event, and that send would
    wait for a reader for ever. The thread closes its own sockets with ZMQ_LINGER
    0, so nothing waits for an absent proxy.
    =========================================================================
*/
//  pipe2 is a GNU extension (the top Makefile defines this already)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "streamq.h"

#include <zmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

//  The loop wakes at least this often, even with nothing to do
#define S_TICK_MS           1000
//  Frames longer than this are truncated when read (replies, endpoints)
#define S_FRAME_MAX         256
//  Distinct ERROR reasons logged per peer; later new ones are not logged
#define S_REASONS_MAX       8
//  Heartbeats queued at most on the heartbeat socket while the proxy does
//  not read them; later ones are dropped (the proxy needs only the last)
#define S_BEAT_HWM          4
//  Longest heartbeat interval as text, with its NUL
#define S_BEAT_TEXT_MAX     16
//  "[" + IPv6 text + "]:" + port + NUL
#define S_ADDRESS_MAX       (INET6_ADDRSTRLEN + 9)
//  Distinct endpoints remembered as connected to; past this many, the
//  oldest is forgotten
#define S_DIALLED_MAX       64
//  Events the monitor reports. DISCONNECTED is not used yet: it is there
//  for a deregistration that may join this loop.
#define S_EVENTS            (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED \
                             | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL \
                             | ZMQ_EVENT_MONITOR_STOPPED)

//  Slots lost on one endpoint, waiting for streamq_peer_redial
typedef struct {
    char endpoint [S_FRAME_MAX];
    size_t count;
} s_lost_t;

//  One proxy the peer is attached to: its control socket, and the forms
//  libzmq reports for the endpoint the socket dials there. Made in the
//  application's thread, then owned by the peer's thread once published.
typedef struct {
    char *control_endpoint;     //  For log lines
    char (*dials) [S_FRAME_MAX];    //  Endpoints that are this proxy's; none
                                    //  for the first, which takes the rest
    size_t dials_count;
    void *control;              //  DEALER to the control socket (thread's)
    void *beat;                 //  DEALER for heartbeats (thread's)
    void *watch;                //  PAIR: handshake failures of control (thread's)
    char public_key [41];       //  Our CURVE key (Z85) when CURVE, for the log
    bool key_logged;            //  A refusal of that key was logged
    bool full_logged;           //  "control socket full" was logged
    atomic_size_t registered;   //  Replies "OK" to IDENTIFY
    atomic_size_t refused;      //  Replies "ERROR" to IDENTIFY
    atomic_size_t lost;         //  Slots lost on this proxy's endpoints
    char logged [S_REASONS_MAX][S_FRAME_MAX];   //  Commands and ERROR reasons logged
    size_t logged_count;
} s_proxy_t;

struct streamq_peer {
    void *socket;               //  The application's socket, monitored
    void *monitor;              //  PAIR receiving the events (thread's)
    int wake [2];               //  Pipe: destroy, a heartbeat change, a new proxy
    pthread_t thread;
    bool monitoring;            //  The socket monitor is running
    bool running;               //  The thread was started
    atomic_bool stopping;       //  Set by destroy before it stops the monitor
    atomic_bool quit;           //  Set once the monitor is stopped: the thread returns
    atomic_int heartbeat;       //  Interval asked for, in ms; 0: off
    char side [16];             //  "frontend" or "backend"
    char name [STREAMQ_NAME_MAX + 1];
    void *context;              //  The application's context, for added proxies
    //  Proxies: streamq_peer_add_proxy fills an entry, then publishes it
    //  by raising proxy_count (an atomic, so a full barrier: the thread
    //  then owns the entry's sockets)
    s_proxy_t *proxies [STREAMQ_PROXIES_MAX];
    atomic_size_t proxy_count;
    pthread_mutex_t add_lock;   //  Serialises streamq_peer_add_proxy calls
    bool add_lock_made;
    //  Lost slots: the thread adds, streamq_peer_redial takes
    pthread_mutex_t lost_lock;  //  Guards lost_list, lost_size, due
    bool lock_made;             //  lost_lock was initialised
    s_lost_t *lost_list;        //  Due for redial, one entry per endpoint
    size_t lost_size;           //  Entries in use
    size_t lost_alloc;          //  Entries allocated
    atomic_size_t lost_due;     //  Slots in lost_list (read without the lock)
    int due [2];                //  Pipe: readable while lost_list is not empty
    //  Owned by the thread
    int beat_interval;          //  Interval in force, in ms; 0: off
    int64_t beat_next;          //  When the next heartbeat is due (monotonic ms)
    bool memory_logged;         //  "cannot remember a lost slot" was logged
    char dialled [S_DIALLED_MAX][S_FRAME_MAX];  //  Endpoints connected to
    size_t dialled_count;
    size_t dialled_next;        //  Slot the next new endpoint takes
};

//  The keys of a CURVE control connection, in Z85
typedef struct {
    char public_key [41];
    char secret_key [41];
    char server_key [41];
} s_curve_t;

//  One received frame, NUL-terminated (truncated to S_FRAME_MAX - 1)
typedef struct {
    char data [S_FRAME_MAX];
    size_t size;
    bool truncated;             //  The frame was longer than data holds
} s_frame_t;

//  What one turn of the loop asks for next
typedef enum {
    S_RUNNING,                  //  Carry on
    S_STOPPED,                  //  destroy asked to stop
    S_CONTEXT_ENDED             //  The context is shutting down (ETERM)
} s_status_t;


//  --------------------------------------------------------------------------
//  Arguments

static bool
s_side_valid (const char *side)
{
    return side && (strcmp (side, "frontend") == 0 || strcmp (side, "backend") == 0);
}

//  A name is 1..STREAMQ_NAME_MAX bytes. Anything else (characters the
//  proxy accepts) is the proxy's to judge: its ERROR reply is logged.
static bool
s_name_valid (const char *name)
{
    return name && *name && strlen (name) <= STREAMQ_NAME_MAX;
}


//  --------------------------------------------------------------------------
//  Addresses

//  Port of an IPv4 or IPv6 socket address, or -1
static int
s_sockaddr_port (const struct sockaddr_storage *address)
{
    if (address->ss_family == AF_INET) {
        struct sockaddr_in in4;
        memcpy (&in4, address, sizeof in4);
        return ntohs (in4.sin_port);
    }
    if (address->ss_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy (&in6, address, sizeof in6);
        return ntohs (in6.sin6_port);
    }
    return -1;
}

//  Writes the host part of an IPv6 address. An IPv4-mapped address
//  (::ffff:a.b.c.d, from a dual-stack socket) is written as a.b.c.d and
//  *v6 is set false: an IPv4 proxy sees the peer's IPv4 address. The
//  scope id of a link-local address is left out: it names an interface
//  of this host, which the proxy cannot share.
static bool
s_host6_format (const struct sockaddr_in6 *in6, char *host, size_t size, bool *v6)
{
    *v6 = !IN6_IS_ADDR_V4MAPPED (&in6->sin6_addr);
    if (*v6)
        return inet_ntop (AF_INET6, &in6->sin6_addr, host, (socklen_t) size) != NULL;
    return inet_ntop (AF_INET, &in6->sin6_addr.s6_addr [12], host, (socklen_t) size) != NULL;
}

//  Writes "a.b.c.d:port" or "[v6]:port", the form the proxy uses for
//  its connections. False for a family other than IPv4 and IPv6.
static bool
s_address_format (const struct sockaddr_storage *address, char *buf, size_t size)
{
    char host [INET6_ADDRSTRLEN];
    bool v6 = false;
    bool valid = false;
    if (address->ss_family == AF_INET) {
        struct sockaddr_in in4;
        memcpy (&in4, address, sizeof in4);
        valid = inet_ntop (AF_INET, &in4.sin_addr, host, sizeof host) != NULL;
    }
    else
    if (address->ss_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy (&in6, address, sizeof in6);
        valid = s_host6_format (&in6, host, sizeof host, &v6);
    }
    if (valid)
        snprintf (buf, size, v6? "[%s]:%d": "%s:%d", host, s_sockaddr_port (address));
    return valid;
}

//  Guards against a stale event. The fd of a connection that closed at
//  once may belong to another socket by the time the event is read, so
//  the fd's remote port must be the port the event's endpoint names.
//  Endpoints without a numeric port are not checked.
static bool
s_remote_port_matches (int fd, const char *endpoint)
{
    const char *colon = strrchr (endpoint, ':');
    if (!colon || colon [1] < '0' || colon [1] > '9')
        return true;
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (*end)
        return true;
    struct sockaddr_storage remote;
    socklen_t length = sizeof remote;
    if (getpeername (fd, (struct sockaddr *) &remote, &length) == -1)
        return false;
    return s_sockaddr_port (&remote) == port;
}

//  Writes the local address of a connected TCP fd, as the proxy sees it
static bool
s_local_address (int fd, char *buf, size_t size)
{
    struct sockaddr_storage local;
    socklen_t length = sizeof local;
    if (getsockname (fd, (struct sockaddr *) &local, &length) == -1)
        return false;
    return s_address_format (&local, buf, size);
}


//  --------------------------------------------------------------------------
//  Messages

//  Receives one whole message if one is waiting (never blocks: the other
//  frames of a message arrive with its first). Keeps the first `max`
//  frames in frames [] and returns the number of frames the message had,
//  or -1 with errno set (EAGAIN: nothing waiting; ETERM: context ended).
static int
s_recv_frames (void *socket, s_frame_t *frames, int max)
{
    int count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, socket, count == 0? ZMQ_DONTWAIT: 0) == -1) {
            int error = errno;
            zmq_msg_close (&frame);
            errno = error;
            return -1;
        }
        more = zmq_msg_more (&frame);
        if (count < max) {
            size_t size = zmq_msg_size (&frame);
            frames [count].size = size < S_FRAME_MAX? size: S_FRAME_MAX - 1;
            frames [count].truncated = size >= S_FRAME_MAX;
            memcpy (frames [count].data, zmq_msg_data (&frame), frames [count].size);
            frames [count].data [frames [count].size] = '\0';
        }
        zmq_msg_close (&frame);
        count++;
    }
    return count;
}


//  --------------------------------------------------------------------------
//  Registration (runs in the thread)

//  Logs that a control socket's queue is full, once per proxy. This
//  happens only when that proxy has been away for a long time while the
//  socket kept connecting to it.
static void
s_log_full (streamq_peer_t *self, s_proxy_t *proxy)
{
    if (proxy->full_logged)
        return;
    proxy->full_logged = true;
    fprintf (stderr, "libstreamq: cannot queue IDENTIFY for %s (%s): the proxy "
             "at %s is not reading; registrations are dropped until it is\n",
             self->name, self->side, proxy->control_endpoint);
}

//  Queues IDENTIFY <side> <address> <name> to proxy, after the empty
//  delimiter a DEALER sends to a ROUTER that answers REQ clients. Never
//  waits: once the first frame is queued, libzmq queues the rest.
static void
s_identify (streamq_peer_t *self, s_proxy_t *proxy, const char *address)
{
    const char *frames [] = { "", "IDENTIFY", self->side, address, self->name };
    size_t count = sizeof frames / sizeof frames [0];
    for (size_t index = 0; index < count; index++) {
        int flags = ZMQ_DONTWAIT | (index + 1 < count? ZMQ_SNDMORE: 0);
        if (zmq_send (proxy->control, frames [index], strlen (frames [index]), flags) == -1) {
            if (errno == EAGAIN)
                s_log_full (self, proxy);
            return;
        }
    }
}

//  --------------------------------------------------------------------------
//  Proxies

//  The proxies published so far (the thread sees an added one from its
//  next turn on; the application thread, at once)
static size_t
s_proxies (streamq_peer_t *self)
{
    return atomic_load (&self->proxy_count);
}

//  True if endpoint is one of the forms of proxy's dial endpoint
static bool
s_proxy_dials (const s_proxy_t *proxy, const char *endpoint)
{
    for (size_t index = 0; index < proxy->dials_count; index++)
        if (strcmp (proxy->dials [index], endpoint) == 0)
            return true;
    return false;
}

//  The proxy a connection on endpoint (as libzmq reports it) belongs to:
//  the added proxy whose dial endpoint it is, else the first proxy
static s_proxy_t *
s_proxy_for (streamq_peer_t *self, const char *endpoint)
{
    size_t count = s_proxies (self);
    for (size_t index = 1; index < count; index++)
        if (s_proxy_dials (self->proxies [index], endpoint))
            return self->proxies [index];
    return self->proxies [0];
}

//  --------------------------------------------------------------------------
//  Lost slots

//  True if the socket made a connection to endpoint (thread only)
static bool
s_dialled_known (streamq_peer_t *self, const char *endpoint)
{
    for (size_t index = 0; index < self->dialled_count; index++)
        if (strcmp (self->dialled [index], endpoint) == 0)
            return true;
    return false;
}

//  Remembers that the socket connected to endpoint (thread only)
static void
s_dialled_add (streamq_peer_t *self, const s_frame_t *endpoint)
{
    if (endpoint->truncated || s_dialled_known (self, endpoint->data))
        return;
    snprintf (self->dialled [self->dialled_next], S_FRAME_MAX, "%s", endpoint->data);
    self->dialled_next = (self->dialled_next + 1) % S_DIALLED_MAX;
    if (self->dialled_count < S_DIALLED_MAX)
        self->dialled_count++;
}

//  Empties the due pipe (non-blocking). Caller holds lost_lock.
static void
s_due_clear (streamq_peer_t *self)
{
    char bytes [16];
    while (read (self->due [0], bytes, sizeof bytes) > 0)
        ;
}

//  Makes the due pipe readable. One byte is enough: it is written only
//  when the list stops being empty. Caller holds lost_lock.
static void
s_due_signal (streamq_peer_t *self)
{
    char byte = 0;
    while (write (self->due [1], &byte, 1) == -1 && errno == EINTR)
        ;
}

//  Adds count slots due on endpoint to the list, and makes the due pipe
//  readable. False if there was no memory for a new entry.
static bool
s_lost_add (streamq_peer_t *self, const char *endpoint, size_t count)
{
    pthread_mutex_lock (&self->lost_lock);
    size_t index = 0;
    while (index < self->lost_size && strcmp (self->lost_list [index].endpoint, endpoint))
        index++;
    bool added = true;
    if (index == self->lost_size && self->lost_size == self->lost_alloc) {
        size_t alloc = self->lost_alloc? self->lost_alloc * 2: 4;
        s_lost_t *list = realloc (self->lost_list, alloc * sizeof *list);
        if (list) {
            self->lost_list = list;
            self->lost_alloc = alloc;
        }
        added = list != NULL;
    }
    if (added) {
        if (index == self->lost_size) {
            snprintf (self->lost_list [index].endpoint, S_FRAME_MAX, "%s", endpoint);
            self->lost_list [index].count = 0;
            self->lost_size++;
        }
        self->lost_list [index].count += count;
        if (atomic_fetch_add (&self->lost_due, count) == 0)
            s_due_signal (self);
    }
    pthread_mutex_unlock (&self->lost_lock);
    return added;
}

//  Takes the whole list (caller frees it) and stores its size in *size;
//  NULL if nothing is due
static s_lost_t *
s_lost_take (streamq_peer_t *self, size_t *size)
{
    pthread_mutex_lock (&self->lost_lock);
    s_lost_t *list = self->lost_list;
    *size = self->lost_size;
    self->lost_list = NULL;
    self->lost_size = self->lost_alloc = 0;
    atomic_store (&self->lost_due, 0);
    s_due_clear (self);
    pthread_mutex_unlock (&self->lost_lock);
    return list;
}

//  A handshake failed with a protocol error on endpoint: libzmq has
//  dropped that connection for good. Counted only if the socket had
//  connected to endpoint (see the top of this file), at the proxy the
//  endpoint is of.
static void
s_handshake_failed (streamq_peer_t *self, const s_frame_t *endpoint)
{
    if (endpoint->truncated || !s_dialled_known (self, endpoint->data))
        return;
    atomic_fetch_add (&s_proxy_for (self, endpoint->data)->lost, 1);
    if (!s_lost_add (self, endpoint->data, 1) && !self->memory_logged) {
        self->memory_logged = true;
        fprintf (stderr, "libstreamq: out of memory: a connection of %s lost to a "
                 "failed handshake on %s will not be redialled\n",
                 self->name, endpoint->data);
    }
}


//  --------------------------------------------------------------------------
//  Events (run in the thread)

//  A new connection: registers its address at the proxy it was made to.
//  Only tcp:// connections have an address the proxy can match.
static void
s_connected (streamq_peer_t *self, int fd, const char *endpoint)
{
    char address [S_ADDRESS_MAX];
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return;
    //  A connection already gone is not worth registering: it will not
    //  reach the proxy, or did and left
    if (!s_remote_port_matches (fd, endpoint)
    ||  !s_local_address (fd, address, sizeof address))
        return;
    s_identify (self, s_proxy_for (self, endpoint), address);
}

//  Handles one monitor event: frame 0 holds a 16-bit event and a 32-bit
//  value (host byte order), frame 1 the endpoint (libzmq's v1 format).
//  Events are the socket's, of no one proxy: proxy is NULL.
static void
s_event_handle (streamq_peer_t *self, s_proxy_t *proxy, s_frame_t *frames, int count)
{
    (void) proxy;
    if (count < 2 || frames [0].size != 6)
        return;
    uint16_t event;
    uint32_t value;
    memcpy (&event, frames [0].data, sizeof event);
    memcpy (&value, frames [0].data + 2, sizeof value);
    if (event == ZMQ_EVENT_CONNECTED) {
        s_dialled_add (self, &frames [1]);
        s_connected (self, (int) value, frames [1].data);
    }
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        s_handshake_failed (self, &frames [1]);
    else
    if (event == ZMQ_EVENT_MONITOR_STOPPED && !atomic_load (&self->stopping))
        fprintf (stderr, "libstreamq: the monitor of the %s socket stopped before "
                 "streamq_peer_destroy (socket closed, or zmq_socket_monitor "
                 "called on it again): new connections are no longer registered\n",
                 self->name);
}

//  Logs an ERROR reason to command (IDENTIFY or HEARTBEAT) the first
//  time this peer gets it for that command from that proxy
static void
s_log_refusal (streamq_peer_t *self, s_proxy_t *proxy, const char *command,
               const char *reason)
{
    char key [S_FRAME_MAX];
    if (snprintf (key, sizeof key, "%s %s", command, reason) < 0)
        return;
    for (size_t index = 0; index < proxy->logged_count; index++)
        if (strcmp (proxy->logged [index], key) == 0)
            return;
    if (proxy->logged_count == S_REASONS_MAX)
        return;
    memcpy (proxy->logged [proxy->logged_count++], key, sizeof key);
    if (strcmp (command, "IDENTIFY") == 0)
        fprintf (stderr, "libstreamq: the proxy at %s refused IDENTIFY %s %s: %s\n",
                 proxy->control_endpoint, self->side, self->name, reason);
    else
        fprintf (stderr, "libstreamq: the proxy at %s refused %s %s: %s\n",
                 proxy->control_endpoint, command, self->name, reason);
}

//  Handles one reply of proxy: ["", ] "OK" | "ERROR" "<reason>". Replies
//  carry no request id, so a refusal is logged with the peer's name only.
static void
s_reply_handle (streamq_peer_t *self, s_proxy_t *proxy, s_frame_t *frames, int count)
{
    int first = count > 0 && frames [0].size == 0? 1: 0;
    if (count <= first)
        return;
    if (strcmp (frames [first].data, "OK") == 0) {
        atomic_fetch_add (&proxy->registered, 1);
        return;
    }
    atomic_fetch_add (&proxy->refused, 1);
    s_log_refusal (self, proxy, "IDENTIFY",
                   count > first + 1? frames [first + 1].data: frames [first].data);
}


//  --------------------------------------------------------------------------
//  Heartbeats (run in the thread)

//  Monotonic clock in milliseconds: a frozen process, once thawed, finds
//  its heartbeat overdue and sends one at once
static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Queues HEARTBEAT <name> <interval-ms> to proxy, after the empty
//  delimiter, if its heartbeat socket is connected and not full. Never
//  waits: a heartbeat that cannot go now is dropped (the next one
//  replaces it).
static void
s_heartbeat_send (streamq_peer_t *self, s_proxy_t *proxy)
{
    char interval [S_BEAT_TEXT_MAX];
    snprintf (interval, sizeof interval, "%d", self->beat_interval);
    const char *frames [] = { "", "HEARTBEAT", self->name, interval };
    size_t count = sizeof frames / sizeof frames [0];
    for (size_t index = 0; index < count; index++) {
        int flags = ZMQ_DONTWAIT | (index + 1 < count? ZMQ_SNDMORE: 0);
        if (zmq_send (proxy->beat, frames [index], strlen (frames [index]), flags) == -1)
            return;
    }
}

//  Sends the heartbeat to every proxy if it is due, or at once if the
//  interval changed (so the proxies learn a new interval before the old
//  one runs out). Returns how long the loop may wait before the next
//  call, in ms.
static int
s_heartbeat_tick (streamq_peer_t *self)
{
    int64_t now = s_now_ms ();
    int interval = atomic_load (&self->heartbeat);
    if (interval != self->beat_interval) {
        self->beat_interval = interval;
        self->beat_next = now;
    }
    if (interval == 0)
        return S_TICK_MS;
    if (now >= self->beat_next) {
        size_t count = s_proxies (self);
        for (size_t index = 0; index < count; index++)
            s_heartbeat_send (self, self->proxies [index]);
        self->beat_next = now + interval;
    }
    int64_t wait = self->beat_next - now;
    return wait < S_TICK_MS? (int) wait: S_TICK_MS;
}

//  Handles one reply to a heartbeat: "OK" is the normal case; an ERROR
//  (a proxy that does not know HEARTBEAT, a bad name) is logged once
static void
s_beat_reply_handle (streamq_peer_t *self, s_proxy_t *proxy, s_frame_t *frames, int count)
{
    int first = count > 0 && frames [0].size == 0? 1: 0;
    if (count <= first || strcmp (frames [first].data, "OK") == 0)
        return;
    s_log_refusal (self, proxy, "HEARTBEAT",
                   count > first + 1? frames [first + 1].data: frames [first].data);
}

//  Handles one handshake failure of a control connection (under CURVE):
//  the proxy refused our key, or the handshake broke (a wrong server
//  key). Logged once per proxy: libzmq redials, and fails the same way
//  each time.
static void
s_watch_handle (streamq_peer_t *self, s_proxy_t *proxy, s_frame_t *frames, int count)
{
    if (count < 1 || frames [0].size != 6 || proxy->key_logged)
        return;
    uint16_t event;
    uint32_t value;
    memcpy (&event, frames [0].data, sizeof event);
    memcpy (&value, frames [0].data + 2, sizeof value);
    proxy->key_logged = true;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        fprintf (stderr, "libstreamq: the proxy at %s refused the CURVE key %s of %s "
                 "(ZAP status %u): it is not in the proxy's --control-clients, so "
                 "nothing is registered there\n", proxy->control_endpoint,
                 proxy->public_key, self->name, (unsigned) value);
    else
        fprintf (stderr, "libstreamq: the CURVE handshake of %s with the control "
                 "socket at %s failed (protocol error 0x%x): is the server key the "
                 "proxy's control key?\n", self->name, proxy->control_endpoint,
                 (unsigned) value);
}


//  --------------------------------------------------------------------------
//  The thread

//  What handles the messages of one socket the loop polls; proxy is the
//  proxy the socket talks to (NULL for the monitor)
typedef void (s_handler_fn) (streamq_peer_t *self, s_proxy_t *proxy,
                             s_frame_t *frames, int count);

//  One socket the loop polls
typedef struct {
    void *socket;
    s_proxy_t *proxy;
    s_handler_fn *handler;
} s_source_t;

//  Sockets the loop polls at most: the monitor, and three per proxy
#define S_SOURCES_MAX       (1 + 3 * STREAMQ_PROXIES_MAX)

//  Handles every message waiting on source with its handler. Returns
//  false if the context is shutting down.
static bool
s_drain (streamq_peer_t *self, const s_source_t *source)
{
    s_frame_t frames [4];
    int count;
    while ((count = s_recv_frames (source->socket, frames, 4)) != -1)
        source->handler (self, source->proxy, frames, count < 4? count: 4);
    return errno != ETERM;
}

//  Lists the sockets to poll: the monitor first, then each proxy's
//  control, heartbeat and (under CURVE) watch sockets. Returns how many.
static int
s_sources_list (streamq_peer_t *self, s_source_t *sources)
{
    int count = 0;
    sources [count++] = (s_source_t) { self->monitor, NULL, s_event_handle };
    size_t proxies = s_proxies (self);
    for (size_t index = 0; index < proxies; index++) {
        s_proxy_t *proxy = self->proxies [index];
        sources [count++] = (s_source_t) { proxy->control, proxy, s_reply_handle };
        sources [count++] = (s_source_t) { proxy->beat, proxy, s_beat_reply_handle };
        if (proxy->watch)
            sources [count++] = (s_source_t) { proxy->watch, proxy, s_watch_handle };
    }
    return count;
}

//  Empties the wake pipe (non-blocking); true if destroy asked to stop
static bool
s_wake_read (streamq_peer_t *self)
{
    char bytes [16];
    while (read (self->wake [0], bytes, sizeof bytes) > 0)
        ;
    return atomic_load (&self->quit);
}

//  Sends heartbeats if due, then waits for events, replies, a heartbeat
//  change, a new proxy or the stop signal, until the next heartbeat or
//  S_TICK_MS
static s_status_t
s_poll_once (streamq_peer_t *self)
{
    int timeout = s_heartbeat_tick (self);
    s_source_t sources [S_SOURCES_MAX];
    zmq_pollitem_t items [S_SOURCES_MAX + 1];
    int count = s_sources_list (self, sources);
    items [0] = (zmq_pollitem_t) { NULL, self->wake [0], ZMQ_POLLIN, 0 };
    for (int index = 0; index < count; index++)
        items [index + 1] = (zmq_pollitem_t) { sources [index].socket, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (items, count + 1, timeout) == -1)
        return errno == EINTR? S_RUNNING: S_CONTEXT_ENDED;
    if ((items [0].revents & ZMQ_POLLIN) && s_wake_read (self))
        return S_STOPPED;
    for (int index = 0; index < count; index++)
        if ((items [index + 1].revents & ZMQ_POLLIN) && !s_drain (self, &sources [index]))
            return S_CONTEXT_ENDED;
    return S_RUNNING;
}

//  Closes a proxy's sockets (LINGER 0: nothing is waited for)
static void
s_proxy_sockets_close (s_proxy_t *proxy)
{
    if (proxy->control)
        zmq_close (proxy->control);
    if (proxy->beat)
        zmq_close (proxy->beat);
    if (proxy->watch)
        zmq_close (proxy->watch);
    proxy->control = proxy->beat = proxy->watch = NULL;
}

//  Closes the thread's sockets: the monitor's and every proxy's
static void
s_sockets_close (streamq_peer_t *self)
{
    if (self->monitor)
        zmq_close (self->monitor);
    self->monitor = NULL;
    size_t count = s_proxies (self);
    for (size_t index = 0; index < count; index++)
        s_proxy_sockets_close (self->proxies [index]);
}

//  Blocks until destroy sets `quit` and writes to the wake pipe
//  (heartbeat changes wake it too, and are ignored: the sockets are gone)
static void
s_wait_wake (streamq_peer_t *self)
{
    struct pollfd item = { self->wake [0], POLLIN, 0 };
    do {
        while (poll (&item, 1, -1) == -1 && errno == EINTR)
            ;
    } while (!s_wake_read (self));
}

//  Runs until destroy. If the application shuts the context down first,
//  the sockets are closed at once (so zmq_ctx_term can finish) and the
//  thread waits for destroy.
static void *
s_thread (void *args)
{
    streamq_peer_t *self = args;
    s_status_t status;
    while ((status = s_poll_once (self)) == S_RUNNING)
        ;
    s_sockets_close (self);
    if (status == S_CONTEXT_ENDED)
        s_wait_wake (self);
    return NULL;
}


//  --------------------------------------------------------------------------
//  Set-up and tear-down

//  Makes socket a CURVE client; 0 or -1 with errno set
static int
s_curve_set (void *socket, const s_curve_t *curve)
{
    if (zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, curve->server_key, 40) == -1
    ||  zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, curve->public_key, 40) == -1
    ||  zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, curve->secret_key, 40) == -1)
        return -1;
    return 0;
}

//  Creates a socket of the given type with ZMQ_LINGER 0, connected to
//  endpoint; NULL with errno set on error. A send_hwm above 0 also sets
//  ZMQ_IMMEDIATE and that ZMQ_SNDHWM: messages are queued only on a live
//  connection, and at most send_hwm of them (for heartbeats, which are
//  worthless once late). A curve makes it a CURVE client.
static void *
s_socket_new (void *context, int type, const char *endpoint, int send_hwm,
              const s_curve_t *curve)
{
    void *socket = zmq_socket (context, type);
    int linger = 0, immediate = 1;
    //  libzmq connects to tcp://[v6 address] only with ZMQ_IPV6 set
    int ipv6 = strncmp (endpoint, "tcp://[", 7) == 0;
    if (socket
    && (zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger) == -1
    ||  zmq_setsockopt (socket, ZMQ_IPV6, &ipv6, sizeof ipv6) == -1
    ||  (send_hwm > 0
    &&  (zmq_setsockopt (socket, ZMQ_IMMEDIATE, &immediate, sizeof immediate) == -1
    ||   zmq_setsockopt (socket, ZMQ_SNDHWM, &send_hwm, sizeof send_hwm) == -1))
    ||  (curve && s_curve_set (socket, curve) == -1)
    ||  zmq_connect (socket, endpoint) == -1)) {
        int error = errno;
        zmq_close (socket);
        errno = error;
        socket = NULL;
    }
    return socket;
}

//  Starts monitoring the application's socket. The PAIR connects before
//  the monitor binds (inproc allows that), so it is attached the moment
//  the monitor exists: libzmq sends events with a blocking send, and a
//  monitor without a reader could stall the socket's I/O thread.
static int
s_monitor_start (streamq_peer_t *self, void *context)
{
    static atomic_uint counter = 0;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://streamq-monitor-%u",
              atomic_fetch_add (&counter, 1));
    self->monitor = s_socket_new (context, ZMQ_PAIR, endpoint, 0, NULL);
    if (!self->monitor)
        return -1;
    if (zmq_socket_monitor (self->socket, endpoint, S_EVENTS) == -1)
        return -1;
    self->monitoring = true;
    return 0;
}

//  Under CURVE, watches a proxy's control connection handshakes, so that
//  a refused key is logged rather than silently registering nothing
static int
s_watch_start (s_proxy_t *proxy, void *context)
{
    static atomic_uint counter = 0;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://streamq-watch-%u",
              atomic_fetch_add (&counter, 1));
    proxy->watch = s_socket_new (context, ZMQ_PAIR, endpoint, 0, NULL);
    if (!proxy->watch)
        return -1;
    return zmq_socket_monitor (proxy->control, endpoint,
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                               | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
}

//  Frees a proxy, its sockets closed if still open; errno is kept
static void
s_proxy_free (s_proxy_t *proxy)
{
    int error = errno;
    s_proxy_sockets_close (proxy);
    free (proxy->control_endpoint);
    free (proxy->dials);
    free (proxy);
    errno = error;
}

//  Adds form to the proxy's dial forms, once; false if out of memory
static bool
s_dial_add (s_proxy_t *proxy, const char *form)
{
    if (s_proxy_dials (proxy, form))
        return true;
    char (*dials) [S_FRAME_MAX] = realloc (proxy->dials,
                                           (proxy->dials_count + 1) * sizeof *dials);
    if (!dials)
        return false;
    proxy->dials = dials;
    snprintf (proxy->dials [proxy->dials_count++], S_FRAME_MAX, "%s", form);
    return true;
}

//  Splits "tcp://[src;]host:port" into host (without IPv6 brackets) and
//  port; false if it has no host or no port
static bool
s_tcp_split (const char *endpoint, char *host, size_t host_size, const char **port)
{
    const char *rest = endpoint + 6;
    const char *semicolon = strchr (rest, ';');
    if (semicolon)
        rest = semicolon + 1;
    const char *colon = strrchr (rest, ':');
    if (!colon || colon == rest || !colon [1])
        return false;
    size_t length = (size_t) (colon - rest);
    if (rest [0] == '[' && colon [-1] == ']') {
        rest++;
        length -= 2;
    }
    if (length == 0 || length >= host_size)
        return false;
    memcpy (host, rest, length);
    host [length] = '\0';
    *port = colon + 1;
    return true;
}

//  Writes the forms libzmq may report for the endpoint the socket dials
//  at a proxy: the endpoint as given (libzmq 4.3.4 reports that), and,
//  for tcp://, "tcp://a.b.c.d:port" or "tcp://[v6]:port" for each address
//  its host resolves to now, without a source address (the form other
//  libzmq releases report). 0, or -1 with errno EINVAL for an endpoint
//  that is too long, malformed or does not resolve.
static int
s_dials_resolve (s_proxy_t *proxy, const char *endpoint)
{
    char host [S_FRAME_MAX];
    const char *port;
    if (strlen (endpoint) >= S_FRAME_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (!s_dial_add (proxy, endpoint))
        return -1;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return 0;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *found = NULL;
    if (!s_tcp_split (endpoint, host, sizeof host, &port)
    ||  getaddrinfo (host, port, &hints, &found) != 0) {
        errno = EINVAL;
        return -1;
    }
    bool added = true;
    for (struct addrinfo *item = found; item && added; item = item->ai_next) {
        struct sockaddr_storage address;
        char text [S_ADDRESS_MAX], form [S_ADDRESS_MAX + 8];
        if (item->ai_addrlen > sizeof address)
            continue;
        memset (&address, 0, sizeof address);
        memcpy (&address, item->ai_addr, item->ai_addrlen);
        if (!s_address_format (&address, text, sizeof text))
            continue;
        snprintf (form, sizeof form, "tcp://%s", text);
        added = s_dial_add (proxy, form);
    }
    freeaddrinfo (found);
    return added? 0: -1;
}

//  Makes a proxy: its control and heartbeat DEALERs to control_endpoint
//  (CURVE clients when curve is not NULL, then with a watch on the
//  control DEALER), and, when endpoint is not NULL, the forms of the
//  endpoint the socket dials there. NULL with errno set.
static s_proxy_t *
s_proxy_new (void *context, const char *endpoint, const char *control_endpoint,
             const s_curve_t *curve)
{
    s_proxy_t *proxy = calloc (1, sizeof *proxy);
    if (!proxy)
        return NULL;
    atomic_init (&proxy->registered, 0);
    atomic_init (&proxy->refused, 0);
    atomic_init (&proxy->lost, 0);
    if (curve)
        memcpy (proxy->public_key, curve->public_key, sizeof proxy->public_key);
    proxy->control_endpoint = strdup (control_endpoint);
    if (!proxy->control_endpoint
    ||  (endpoint && s_dials_resolve (proxy, endpoint) == -1)) {
        s_proxy_free (proxy);
        return NULL;
    }
    proxy->control = s_socket_new (context, ZMQ_DEALER, control_endpoint, 0, curve);
    if (proxy->control)
        proxy->beat = s_socket_new (context, ZMQ_DEALER, control_endpoint,
                                    S_BEAT_HWM, curve);
    if (!proxy->control || !proxy->beat
    ||  (curve && s_watch_start (proxy, context) == -1)) {
        s_proxy_free (proxy);
        return NULL;
    }
    return proxy;
}

//  True if one of proxy's dial forms is already an attached proxy's
static bool
s_proxy_known (streamq_peer_t *self, const s_proxy_t *proxy)
{
    size_t count = s_proxies (self);
    for (size_t index = 1; index < count; index++)
        for (size_t form = 0; form < proxy->dials_count; form++)
            if (s_proxy_dials (self->proxies [index], proxy->dials [form]))
                return true;
    return false;
}

//  Publishes proxy: the thread takes it over from its next turn (and from
//  the next event it reads, so a connection made after this returns is
//  registered there). Returns its index.
static int
s_proxy_publish (streamq_peer_t *self, s_proxy_t *proxy)
{
    size_t index = s_proxies (self);
    self->proxies [index] = proxy;
    atomic_store (&self->proxy_count, index + 1);
    return (int) index;
}

//  Starts the thread with every signal blocked, so the application's
//  signal handlers run in its own threads and interrupt its own calls
static int
s_thread_start (streamq_peer_t *self)
{
    sigset_t all, previous;
    sigfillset (&all);
    pthread_sigmask (SIG_SETMASK, &all, &previous);
    int rc = pthread_create (&self->thread, NULL, s_thread, self);
    pthread_sigmask (SIG_SETMASK, &previous, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    self->running = true;
    return 0;
}

//  Wakes the thread. A full pipe (EAGAIN) is as good: it is readable.
static void
s_wake (streamq_peer_t *self)
{
    char byte = 0;
    while (write (self->wake [1], &byte, 1) == -1 && errno == EINTR)
        ;
}

//  Stops the thread: sets `quit`, so the wake makes it return
static void
s_thread_stop (streamq_peer_t *self)
{
    atomic_store (&self->quit, true);
    s_wake (self);
    pthread_join (self->thread, NULL);
    self->running = false;
}

//  Frees a peer in any state: after destroy, or a half-made one from new
static void
s_peer_free (streamq_peer_t *self)
{
    int error = errno;
    if (self->monitoring)
        zmq_socket_monitor (self->socket, NULL, 0);
    if (self->running)
        s_thread_stop (self);
    s_sockets_close (self);
    for (int index = 0; index < 2; index++) {
        if (self->wake [index] >= 0)
            close (self->wake [index]);
        if (self->due [index] >= 0)
            close (self->due [index]);
    }
    size_t proxies = s_proxies (self);
    for (size_t index = 0; index < proxies; index++)
        s_proxy_free (self->proxies [index]);
    if (self->lock_made)
        pthread_mutex_destroy (&self->lost_lock);
    if (self->add_lock_made)
        pthread_mutex_destroy (&self->add_lock);
    free (self->lost_list);
    free (self);
    errno = error;
}

//  Allocates a peer and copies its arguments; NULL with errno set
static streamq_peer_t *
s_peer_alloc (void *context, void *socket, const char *side, const char *name)
{
    streamq_peer_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->context = context;
    self->socket = socket;
    self->wake [0] = self->wake [1] = -1;
    self->due [0] = self->due [1] = -1;
    atomic_init (&self->stopping, false);
    atomic_init (&self->quit, false);
    atomic_init (&self->proxy_count, 0);
    atomic_init (&self->lost_due, 0);
    atomic_init (&self->heartbeat, STREAMQ_HEARTBEAT_DEFAULT_MS);
    //  The first heartbeat goes one interval after start: a peer made
    //  only to name connections can turn heartbeats off before any left
    self->beat_interval = STREAMQ_HEARTBEAT_DEFAULT_MS;
    self->beat_next = s_now_ms () + STREAMQ_HEARTBEAT_DEFAULT_MS;
    snprintf (self->side, sizeof self->side, "%s", side);
    snprintf (self->name, sizeof self->name, "%s", name);
    int rc = pthread_mutex_init (&self->lost_lock, NULL);
    self->lock_made = rc == 0;
    if (rc == 0) {
        rc = pthread_mutex_init (&self->add_lock, NULL);
        self->add_lock_made = rc == 0;
    }
    if (rc != 0)
        errno = rc;
    //  Neither pipe blocks: the reader empties it whatever it holds, and
    //  a writer finding it full has nothing to add
    if (rc != 0
    ||  pipe2 (self->wake, O_CLOEXEC | O_NONBLOCK) == -1
    ||  pipe2 (self->due, O_CLOEXEC | O_NONBLOCK) == -1) {
        s_peer_free (self);
        return NULL;
    }
    return self;
}


//  --------------------------------------------------------------------------
//  API

//  Warns on stderr when a worker's socket (side "backend") would keep a
//  slot's queue across redials (ZMQ_IMMEDIATE 0, libzmq's default): a
//  reply still queued for a client that left would go to the next client
//  of that connection (doc/workers.md, "ZMQ_IMMEDIATE")
static void
s_immediate_check (void *socket, const char *side, const char *name)
{
    int immediate = 1;
    size_t size = sizeof immediate;
    if (strcmp (side, "backend") == 0
    &&  zmq_getsockopt (socket, ZMQ_IMMEDIATE, &immediate, &size) == 0 && !immediate)
        fprintf (stderr, "libstreamq: the socket of worker %s has ZMQ_IMMEDIATE 0: "
                 "a reply still queued when its client leaves goes to the next "
                 "client of that connection; set it to 1 before zmq_connect\n", name);
}

//  Creates a peer, with CURVE on its control connection when curve is
//  not NULL
static streamq_peer_t *
s_peer_new (void *context, void *socket, const char *control_endpoint,
            const char *side, const char *name, const s_curve_t *curve)
{
    if (!context || !socket || !control_endpoint
    ||  !s_side_valid (side) || !s_name_valid (name)) {
        errno = EINVAL;
        return NULL;
    }
    streamq_peer_t *self = s_peer_alloc (context, socket, side, name);
    if (!self)
        return NULL;
    s_proxy_t *first = s_proxy_new (context, NULL, control_endpoint, curve);
    if (first)
        s_proxy_publish (self, first);
    if (!first
    ||  s_monitor_start (self, context) == -1
    ||  s_thread_start (self) == -1) {
        s_peer_free (self);
        return NULL;
    }
    s_immediate_check (socket, side, name);
    return self;
}

//  Copies a Z85 key after checking it: 40 characters that decode
static bool
s_key_copy (char *key, const char *given)
{
    uint8_t binary [32];
    if (!given || strlen (given) != 40 || !zmq_z85_decode (binary, given))
        return false;
    memcpy (key, given, 41);
    return true;
}

//  Fills curve from the given keys; the public key is derived from the
//  secret one when NULL, and must match it when given. EINVAL for a bad
//  key, ENOTSUP for a libzmq without CURVE.
static int
s_curve_fill (s_curve_t *curve, const char *public_key, const char *secret_key,
              const char *server_key)
{
    char derived [41];
    if (!zmq_has ("curve")) {
        errno = ENOTSUP;
        return -1;
    }
    if (!s_key_copy (curve->secret_key, secret_key)
    ||  !s_key_copy (curve->server_key, server_key)
    ||  zmq_curve_public (derived, curve->secret_key) != 0
    ||  (public_key && strcmp (public_key, derived) != 0)) {
        errno = EINVAL;
        return -1;
    }
    memcpy (curve->public_key, derived, sizeof derived);
    return 0;
}

streamq_peer_t *
streamq_peer_new (void *context, void *socket, const char *control_endpoint,
                  const char *side, const char *name)
{
    return s_peer_new (context, socket, control_endpoint, side, name, NULL);
}

streamq_peer_t *
streamq_peer_new_curve (void *context, void *socket, const char *control_endpoint,
                        const char *side, const char *name, const char *public_key,
                        const char *secret_key, const char *server_key)
{
    s_curve_t curve;
    streamq_peer_t *self = NULL;
    if (s_curve_fill (&curve, public_key, secret_key, server_key) == 0)
        self = s_peer_new (context, socket, control_endpoint, side, name, &curve);
    int error = errno;
    //  No copy of the secret key stays behind (libzmq keeps its own)
    explicit_bzero (&curve, sizeof curve);
    errno = error;
    return self;
}

//  Attaches the peer to one more proxy, under the add lock; the index of
//  the proxy, or -1 with errno set
static int
s_proxy_add (streamq_peer_t *self, const char *endpoint, const char *control_endpoint,
             const s_curve_t *curve)
{
    if (!self || !endpoint || !control_endpoint) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock (&self->add_lock);
    int index = -1;
    s_proxy_t *proxy = NULL;
    if (s_proxies (self) == STREAMQ_PROXIES_MAX)
        errno = ENOSPC;
    else
        proxy = s_proxy_new (self->context, endpoint, control_endpoint, curve);
    if (proxy && s_proxy_known (self, proxy)) {
        s_proxy_free (proxy);
        proxy = NULL;
        errno = EEXIST;
    }
    if (proxy) {
        index = s_proxy_publish (self, proxy);
        s_wake (self);              //  To poll its sockets at once
    }
    pthread_mutex_unlock (&self->add_lock);
    return index;
}

int
streamq_peer_add_proxy (streamq_peer_t *self, const char *endpoint,
                        const char *control_endpoint)
{
    return s_proxy_add (self, endpoint, control_endpoint, NULL);
}

int
streamq_peer_add_proxy_curve (streamq_peer_t *self, const char *endpoint,
                              const char *control_endpoint, const char *public_key,
                              const char *secret_key, const char *server_key)
{
    s_curve_t curve;
    int index = -1;
    if (!self)
        errno = EINVAL;
    else
    if (s_curve_fill (&curve, public_key, secret_key, server_key) == 0)
        index = s_proxy_add (self, endpoint, control_endpoint, &curve);
    int error = errno;
    explicit_bzero (&curve, sizeof curve);
    errno = error;
    return index;
}

void
streamq_peer_destroy (streamq_peer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    streamq_peer_t *self = *self_p;
    //  Set first, so the thread takes the MONITOR_STOPPED event that
    //  follows as the expected end, not as a lost monitor
    atomic_store (&self->stopping, true);
    s_peer_free (self);
    *self_p = NULL;
}

//  Which counter of a proxy to read
typedef enum {
    S_REGISTERED,
    S_REFUSED,
    S_LOST
} s_counter_t;

//  One counter of the proxy at index, or 0 for no such proxy
static size_t
s_counter_at (streamq_peer_t *self, int index, s_counter_t counter)
{
    if (!self || index < 0 || (size_t) index >= s_proxies (self))
        return 0;
    s_proxy_t *proxy = self->proxies [index];
    if (counter == S_REGISTERED)
        return atomic_load (&proxy->registered);
    if (counter == S_REFUSED)
        return atomic_load (&proxy->refused);
    return atomic_load (&proxy->lost);
}

//  One counter summed over every proxy
static size_t
s_counter_sum (streamq_peer_t *self, s_counter_t counter)
{
    size_t sum = 0;
    size_t count = self? s_proxies (self): 0;
    for (size_t index = 0; index < count; index++)
        sum += s_counter_at (self, (int) index, counter);
    return sum;
}

size_t
streamq_peer_registered (streamq_peer_t *self)
{
    return s_counter_sum (self, S_REGISTERED);
}

size_t
streamq_peer_refused (streamq_peer_t *self)
{
    return s_counter_sum (self, S_REFUSED);
}

size_t
streamq_peer_registered_at (streamq_peer_t *self, int proxy)
{
    return s_counter_at (self, proxy, S_REGISTERED);
}

size_t
streamq_peer_refused_at (streamq_peer_t *self, int proxy)
{
    return s_counter_at (self, proxy, S_REFUSED);
}

size_t
streamq_peer_lost_at (streamq_peer_t *self, int proxy)
{
    return s_counter_at (self, proxy, S_LOST);
}

int
streamq_peer_redial (streamq_peer_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    //  The common case, nothing lost, takes no lock
    if (atomic_load (&self->lost_due) == 0)
        return 0;
    size_t size;
    s_lost_t *list = s_lost_take (self, &size);
    int redialled = 0;
    int error = 0;
    for (size_t index = 0; index < size; index++) {
        //  After an error, what is left goes back on the list
        while (!error && list [index].count > 0) {
            if (zmq_connect (self->socket, list [index].endpoint) == -1)
                error = errno;
            else {
                list [index].count--;
                redialled++;
            }
        }
        if (error && list [index].count > 0)
            s_lost_add (self, list [index].endpoint, list [index].count);
    }
    free (list);
    if (error) {
        errno = error;
        return -1;
    }
    return redialled;
}

size_t
streamq_peer_lost (streamq_peer_t *self)
{
    return s_counter_sum (self, S_LOST);
}

int
streamq_peer_redial_fd (streamq_peer_t *self)
{
    return self? self->due [0]: -1;
}

int
streamq_peer_set_heartbeat (streamq_peer_t *self, int interval_ms)
{
    if (!self || interval_ms < 0 || interval_ms > STREAMQ_HEARTBEAT_MAX_MS) {
        errno = EINVAL;
        return -1;
    }
    //  Only a change wakes the thread: it then sends a heartbeat at once
    if (atomic_exchange (&self->heartbeat, interval_ms) != interval_ms)
        s_wake (self);
    return 0;
}
