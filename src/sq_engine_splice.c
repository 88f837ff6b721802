/*  =========================================================================
    sq_engine_splice - the proxy's own TCP sockets, on the event loop

    Each connection is watched once, edge-triggered, for reading and
    writing, and keeps what the loop told it (readable, writable) until a
    read or write uses it up: a short read or write, or EAGAIN. So the
    engine stops reading a connection by not reading it, with no system
    call, and starts again from its flag. A connection that still has
    bytes to read when its turn is over waits in the ready list, for the
    next turn; one that the core does not read now (paused, or a bound of
    --slow-peer=block) waits in its side's parked list until it does.

    Connections are freed after the loop's turn, never inside a call that
    may still hold them: one that goes is closed at once and waits in the
    dead list.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include "sq_engine_splice.h"
#include "sq_list.h"
#include "sq_log.h"

//  One read takes up to this much
#define S_READ_SIZE (256 * 1024)
//  Reads of one connection per turn, for fairness between connections
#define S_READS_PER_TURN 4
//  Accepts per listener per turn
#define S_ACCEPTS_PER_TURN 64
//  When an accept fails even with the reserve descriptor given back, the
//  listener rests this long, so that the loop does not spin on it
#define S_ACCEPT_REST_MS 100
#define S_ENDPOINT_MAX 256
#define S_ID_SIZE 8

typedef struct sq_engine_splice sq_engine_splice_t;

typedef struct {
    sq_engine_splice_t *engine;
    int fd;
    sq_side_t side;
    uint32_t generation;
    sq_conn_t *conn;                //  The core's, or NULL once it let go
    bool readable;                  //  Edge-triggered state, see above
    bool writable;
    bool dead;                      //  Closed; freed after the turn
    bool lingering;                 //  Closed by the core: delivering the rest
    int64_t linger_until_ms;
    uint8_t *out;                   //  Taken from the core, not yet written
    size_t out_size;
    size_t out_done;
    sq_list_node_t list_node;       //  In ready, parked [side], or dead
    sq_list_node_t linger_node;     //  In lingering
} s_conn_t;

typedef struct {
    sq_engine_splice_t *engine;
    sq_side_t side;
} s_listener_t;

struct sq_engine_splice {
    sq_engine_splice_config_t config;
    int listener [2];
    s_listener_t listener_arg [2];
    char endpoint [2][S_ENDPOINT_MAX];
    sq_core_t *core;
    sq_loop_t *loop;
    int rest_timer;                 //  Listeners resting after a failed accept
    int linger_timer;               //  The first lingering connection is due
    s_conn_t **conns;               //  By descriptor
    int conns_size;
    uint32_t generation;
    int reserve_fd;                 //  Given back when out of descriptors
    uint8_t *scratch;               //  S_READ_SIZE, for every read
    sq_list_t ready;
    sq_list_t parked [2];
    sq_list_t dead;
    sq_list_t lingering;
};

//  -------------------------------------------------------------------------
//  Connections

//  Makes room in the table for descriptor fd; false when out of memory
static bool
s_table_reserve (sq_engine_splice_t *self, int fd)
{
    if (fd < self->conns_size)
        return true;
    int size = self->conns_size? self->conns_size: 1024;
    while (size <= fd)
        size *= 2;
    s_conn_t **conns = realloc (self->conns, (size_t) size * sizeof *conns);
    if (!conns)
        return false;
    memset (conns + self->conns_size, 0, (size_t) (size - self->conns_size) * sizeof *conns);
    self->conns = conns;
    self->conns_size = size;
    return true;
}

static void
s_make_id (const s_conn_t *c, uint8_t *id)
{
    uint32_t fd = (uint32_t) c->fd;
    memcpy (id, &fd, 4);
    memcpy (id + 4, &c->generation, 4);
}

//  The live connection the core's conn names, or NULL
static s_conn_t *
s_find (sq_engine_splice_t *self, const sq_conn_t *conn)
{
    if (conn->id_size != S_ID_SIZE)
        return NULL;
    uint32_t fd, generation;
    memcpy (&fd, conn->id, 4);
    memcpy (&generation, conn->id + 4, 4);
    if (fd >= (uint32_t) self->conns_size)
        return NULL;
    s_conn_t *c = self->conns [fd];
    return c && !c->dead && c->generation == generation? c: NULL;
}

//  Closes the socket now, forgetting whatever it still held; the
//  connection is freed after the turn
static void
s_close_now (s_conn_t *c)
{
    if (c->dead)
        return;
    sq_engine_splice_t *self = c->engine;
    if (self->loop)
        sq_loop_unwatch (self->loop, c->fd);
    close (c->fd);
    self->conns [c->fd] = NULL;
    c->dead = true;
    c->conn = NULL;
    free (c->out);
    c->out = NULL;
    c->out_size = c->out_done = 0;
    sq_list_remove (&c->linger_node);
    sq_list_remove (&c->list_node);
    sq_list_append (&self->dead, &c->list_node);
}

//  The peer's connection failed or ended: closed, and the core told
static void
s_lost (s_conn_t *c)
{
    sq_conn_t *conn = c->conn;
    s_close_now (c);
    if (conn)
        sq_core_disconnected (c->engine->core, conn, sq_loop_now (c->engine->loop));
}

//  A read or write failed for a reason other than "would block"
static bool
s_would_block (void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

//  Writes what the core handed over and the socket did not take yet;
//  false when the connection failed (then it is lost)
static bool
s_flush_out (s_conn_t *c)
{
    while (c->out && c->writable) {
        ssize_t done = write (c->fd, c->out + c->out_done, c->out_size - c->out_done);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0 && s_would_block ()) {
            c->writable = false;
            break;
        }
        if (done < 0) {
            s_lost (c);
            return false;
        }
        c->out_done += (size_t) done;
        if (c->out_done < c->out_size)
            c->writable = false;
        else {
            free (c->out);
            c->out = NULL;
            c->out_size = c->out_done = 0;
        }
    }
    return true;
}

//  Reads for the core, up to S_READS_PER_TURN times; a connection with
//  more to read waits for its next turn in the ready list, one the core
//  does not read now in its side's parked list
static void
s_read_for_core (s_conn_t *c)
{
    sq_engine_splice_t *self = c->engine;
    for (int reads = 0; c->readable && !c->dead && c->conn; reads++) {
        if (!sq_core_reading (self->core, c->side)) {
            sq_list_remove (&c->list_node);
            sq_list_append (&self->parked [c->side], &c->list_node);
            return;
        }
        if (reads == S_READS_PER_TURN) {
            if (!sq_list_linked (&c->list_node))
                sq_list_append (&self->ready, &c->list_node);
            return;
        }
        ssize_t got = read (c->fd, self->scratch, S_READ_SIZE);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && s_would_block ())
            c->readable = false;
        else
        if (got <= 0)
            s_lost (c);
        else {
            //  A short read emptied the socket: the next bytes bring an edge
            if (got < S_READ_SIZE)
                c->readable = false;
            sq_core_received (self->core, c->conn, self->scratch, (size_t) got,
                              sq_loop_now (self->loop));
        }
    }
}

//  Does what the connection's flags allow: write what it holds, read
static void
s_run (s_conn_t *c)
{
    if (c->dead || !s_flush_out (c))
        return;
    if (c->lingering) {
        if (!c->out)
            s_close_now (c);
        return;
    }
    s_read_for_core (c);
}

static void
s_on_conn (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) loop;
    (void) fd;
    s_conn_t *c = arg;
    if (fired & SQ_LOOP_READABLE)
        c->readable = true;
    if (fired & SQ_LOOP_WRITABLE)
        c->writable = true;
    s_run (c);
}

//  -------------------------------------------------------------------------
//  Accepting

//  A new connection on a side: watched, then reported to the core, which
//  greets it (or refuses it, and closes it)
static void
s_admit (sq_engine_splice_t *self, sq_side_t side, int fd)
{
    s_conn_t *c = s_table_reserve (self, fd)? calloc (1, sizeof *c): NULL;
    if (!c) {
        sq_error ("out of memory accepting a %s connection", sq_side_name (side));
        close (fd);
        return;
    }
    *c = (s_conn_t) { .engine = self, .fd = fd, .side = side,
                      .generation = ++self->generation, .writable = true };
    sq_list_init (&c->list_node);
    sq_list_init (&c->linger_node);
    sq_net_nodelay (fd);
    sq_net_keepalive (fd, &self->config.keepalive [side]);
    if (sq_loop_watch (self->loop, fd, SQ_LOOP_READABLE | SQ_LOOP_WRITABLE | SQ_LOOP_EDGE,
                       s_on_conn, c) != 0) {
        sq_warning ("%s: cannot watch a connection: %s", sq_side_name (side), strerror (errno));
        close (fd);
        free (c);
        return;
    }
    self->conns [fd] = c;
    char host [SQ_ADDRESS_MAX] = "unknown", address [SQ_ADDRESS_MAX] = "unknown";
    sq_net_peer_address (fd, host, sizeof host, address, sizeof address);
    uint8_t id [S_ID_SIZE];
    s_make_id (c, id);
    sq_conn_t *conn = sq_core_connected (self->core, side, id, sizeof id, host, address,
                                         sq_loop_now (self->loop));
    //  Refused, or gone when greeted: the connection is closed already
    if (conn && !c->dead) {
        c->conn = conn;
        conn->fd = fd;
    }
}

//  Out of descriptors: the reserve is given back for one accept, which
//  takes the waiting connection off the queue and closes it, so that the
//  listener does not stay ready with nothing the proxy can do. (accept
//  fails for want of a descriptor before it looks at the queue, so there
//  may be no connection waiting.) Returns 1 when one was dropped, 0 when
//  none was waiting, -1 when even that accept failed.
static int
s_drop_one (sq_engine_splice_t *self, sq_side_t side, int reason)
{
    if (self->reserve_fd >= 0)
        close (self->reserve_fd);
    int fd = sq_net_accept (self->listener [side]);
    int result = fd >= 0? 1: s_would_block ()? 0: -1;
    if (fd >= 0)
        close (fd);
    self->reserve_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (result == 1)
        sq_core_accept_failed (self->core, side, reason, sq_loop_now (self->loop));
    return result;
}

static void s_rest (sq_engine_splice_t *self, sq_side_t side);

static void
s_on_listener (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) loop;
    (void) fired;
    s_listener_t *listener = arg;
    sq_engine_splice_t *self = listener->engine;
    for (int count = 0; count < S_ACCEPTS_PER_TURN; count++) {
        int accepted = sq_net_accept (fd);
        if (accepted >= 0) {
            s_admit (self, listener->side, accepted);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (s_would_block ())
            return;
        int dropped = errno == EMFILE || errno == ENFILE
                    ? s_drop_one (self, listener->side, errno): -1;
        if (dropped == 0)
            return;
        if (dropped < 0) {
            s_rest (self, listener->side);
            return;
        }
    }
}

static bool
s_watch_listener (sq_engine_splice_t *self, sq_side_t side)
{
    return sq_loop_watch (self->loop, self->listener [side], SQ_LOOP_READABLE,
                          s_on_listener, &self->listener_arg [side]) == 0;
}

//  Nothing works now: the listener rests, rather than the loop spin on it
static void
s_rest (sq_engine_splice_t *self, sq_side_t side)
{
    sq_warning ("%s: accept failed: %s", sq_side_name (side), strerror (errno));
    sq_loop_unwatch (self->loop, self->listener [side]);
    sq_loop_timer_set (self->loop, self->rest_timer, S_ACCEPT_REST_MS);
}

//  The listeners' rest is over
static int64_t
s_on_rest_timer (sq_loop_t *loop, void *arg)
{
    sq_engine_splice_t *self = arg;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (!sq_loop_mask (loop, self->listener [side]))
            s_watch_listener (self, (sq_side_t) side);
    return -1;
}

//  -------------------------------------------------------------------------
//  What the core asks

//  Sends size bytes, all or nothing: what the socket does not take now
//  is kept, and until it has gone every send says "again"
static sq_send_result_t
s_send (void *handle, sq_conn_t *conn, const uint8_t *data, size_t size)
{
    s_conn_t *c = s_find (handle, conn);
    if (!c || c->lingering)
        return SQ_SEND_GONE;
    if (c->out)
        return SQ_SEND_AGAIN;
    size_t done = 0;
    while (c->writable && done < size) {
        ssize_t wrote = write (c->fd, data + done, size - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote < 0 && s_would_block ())
            c->writable = false;
        else
        if (wrote < 0) {
            s_close_now (c);    //  The core learns it from the result
            return SQ_SEND_GONE;
        }
        else {
            done += (size_t) wrote;
            if (done < size)
                c->writable = false;
        }
    }
    if (done < size) {
        c->out = malloc (size - done);
        if (!c->out) {
            sq_error ("out of memory holding %zu bytes", size - done);
            s_close_now (c);
            return SQ_SEND_GONE;
        }
        memcpy (c->out, data + done, size - done);
        c->out_size = size - done;
    }
    return SQ_SEND_OK;
}

//  Arms the linger timer for the first lingering connection
static void
s_arm_linger (sq_engine_splice_t *self)
{
    sq_list_node_t *first = sq_list_first (&self->lingering);
    int64_t delay = -1;
    if (first) {
        s_conn_t *c = sq_list_entry (first, s_conn_t, linger_node);
        int64_t now = sq_loop_now (self->loop);
        delay = c->linger_until_ms > now? c->linger_until_ms - now: 0;
    }
    sq_loop_timer_set (self->loop, self->linger_timer, delay);
}

//  Closes the connection once what the engine holds for it is written,
//  within --close-linger; no lost-connection event follows for it
static sq_send_result_t
s_close (void *handle, sq_conn_t *conn)
{
    sq_engine_splice_t *self = handle;
    s_conn_t *c = s_find (self, conn);
    if (!c || c->lingering)
        return SQ_SEND_OK;
    c->conn = NULL;
    int64_t linger_ms = sq_core_config (self->core)->close_linger_ms;
    if (!c->out || linger_ms <= 0) {
        s_close_now (c);
        return SQ_SEND_OK;
    }
    c->lingering = true;
    c->linger_until_ms = sq_loop_now (self->loop) + linger_ms;
    sq_list_remove (&c->list_node);
    sq_list_append (&self->lingering, &c->linger_node);
    s_arm_linger (self);
    return SQ_SEND_OK;
}

//  Lingering connections whose time is up are closed with what they hold
static int64_t
s_on_linger_timer (sq_loop_t *loop, void *arg)
{
    sq_engine_splice_t *self = arg;
    sq_list_node_t *first;
    while ((first = sq_list_first (&self->lingering))) {
        s_conn_t *c = sq_list_entry (first, s_conn_t, linger_node);
        if (c->linger_until_ms > sq_loop_now (loop))
            break;
        sq_debug ("%s: closing with %zu bytes undelivered after --close-linger",
                  sq_side_name (c->side), c->out_size - c->out_done);
        s_close_now (c);
    }
    s_arm_linger (self);
    return -1;
}

//  -------------------------------------------------------------------------
//  Each turn

static void
s_free_dead (sq_engine_splice_t *self)
{
    while (!sq_list_empty (&self->dead)) {
        s_conn_t *c = sq_list_entry (self->dead.next, s_conn_t, list_node);
        sq_list_remove (&c->list_node);
        free (c);
    }
}

//  Before each wait: parked connections whose side the core reads again
//  go back to the ready list, the ready list gets its turn, and the
//  connections that went are freed. Busy while some are still ready.
static bool
s_hook (sq_loop_t *loop, void *arg)
{
    (void) loop;
    sq_engine_splice_t *self = arg;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (!sq_list_empty (&self->parked [side]) && sq_core_reading (self->core, side))
            sq_list_move_all (&self->ready, &self->parked [side]);
    sq_list_t turn;
    sq_list_init (&turn);
    sq_list_move_all (&turn, &self->ready);
    while (!sq_list_empty (&turn)) {
        s_conn_t *c = sq_list_entry (turn.next, s_conn_t, list_node);
        sq_list_remove (&c->list_node);
        s_run (c);
    }
    s_free_dead (self);
    return !sq_list_empty (&self->ready);
}

//  -------------------------------------------------------------------------
//  The engine

sq_engine_splice_t *
sq_engine_splice_new (const sq_engine_splice_config_t *config, char *error, size_t error_size)
{
    sq_engine_splice_t *self = calloc (1, sizeof *self);
    uint8_t *scratch = malloc (S_READ_SIZE);
    if (!self || !scratch) {
        free (self);
        free (scratch);
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    self->config = *config;
    self->scratch = scratch;
    self->listener [0] = self->listener [1] = -1;
    sq_list_init (&self->ready);
    sq_list_init (&self->parked [SQ_FRONTEND]);
    sq_list_init (&self->parked [SQ_BACKEND]);
    sq_list_init (&self->dead);
    sq_list_init (&self->lingering);
    self->reserve_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    const char *endpoints [2] = { config->frontend, config->backend };
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++) {
        char reason [256];
        self->listener_arg [side] = (s_listener_t) { self, (sq_side_t) side };
        self->listener [side] = sq_net_listen (endpoints [side], self->endpoint [side],
                                               S_ENDPOINT_MAX, reason, sizeof reason);
        if (self->listener [side] < 0) {
            snprintf (error, error_size, "cannot bind %s to %s: %s",
                      sq_side_name ((sq_side_t) side), endpoints [side], reason);
            sq_engine_splice_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
sq_engine_splice_destroy (sq_engine_splice_t **self_p)
{
    sq_engine_splice_t *self = *self_p;
    if (!self)
        return;
    for (int fd = 0; fd < self->conns_size; fd++)
        if (self->conns [fd])
            s_close_now (self->conns [fd]);
    s_free_dead (self);
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (self->listener [side] >= 0) {
            if (self->loop)
                sq_loop_unwatch (self->loop, self->listener [side]);
            close (self->listener [side]);
        }
    if (self->loop) {
        sq_loop_timer_destroy (self->loop, self->rest_timer);
        sq_loop_timer_destroy (self->loop, self->linger_timer);
    }
    if (self->reserve_fd >= 0)
        close (self->reserve_fd);
    free (self->conns);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

sq_engine_t
sq_engine_splice_ops (sq_engine_splice_t *self)
{
    sq_engine_t engine = { .handle = self, .send = s_send, .close = s_close };
    return engine;
}

void
sq_engine_splice_attach (sq_engine_splice_t *self, sq_core_t *core)
{
    self->core = core;
}

bool
sq_engine_splice_register (sq_engine_splice_t *self, sq_loop_t *loop)
{
    self->loop = loop;
    self->rest_timer = sq_loop_timer_new (loop, -1, s_on_rest_timer, self);
    self->linger_timer = sq_loop_timer_new (loop, -1, s_on_linger_timer, self);
    return self->rest_timer && self->linger_timer
        && s_watch_listener (self, SQ_FRONTEND) && s_watch_listener (self, SQ_BACKEND)
        && sq_loop_hook_add (loop, s_hook, self);
}

const char *
sq_engine_splice_endpoint (sq_engine_splice_t *self, sq_side_t side)
{
    return self->endpoint [side];
}

bool
sq_engine_splice_lingering (sq_engine_splice_t *self)
{
    return !sq_list_empty (&self->lingering);
}
