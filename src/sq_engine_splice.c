/*  =========================================================================
    sq_engine_splice - the proxy's own TCP sockets, on the event loop

    Each connection is watched once, edge-triggered, for reading and
    writing, and keeps what the loop told it (readable, writable) until a
    read or write uses it up: a short read or write, or EAGAIN. So the
    engine stops reading a connection by not reading it, with no system
    call, and starts again from its flag.

    Until its pair's handshake is over a connection is read for the core
    (which greets, pairs and forwards). A connection with more to read
    when its turn is over waits in the ready list, for the next turn; one
    that the core does not read now (paused, or a bound of
    --slow-peer=block) waits in its side's parked list until it does.

    Then the core hands the pair over, and two relays (sq_relay), one each
    way, move its bytes: a relay whose sink is full holds what it read
    and stops reading its source, so TCP pushes back on that peer alone.
    What they move goes to the core in batches, once a turn (the dirty
    list). A pair with work left waits in ready_pairs; one that is paused
    with bytes to read waits in paused_pairs. With --slow-peer-timeout, a
    pair with bytes waiting for a peer is in the stalled list, in order
    of its last progress.

    Connections and pairs are freed after the loop's turn, never inside a
    call that may still hold them: one that goes is closed at once and
    waits in a dead list.
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
#include "sq_relay.h"
#include "sq_pipe_pool.h"
#include "sq_list.h"
#include "sq_log.h"

//  One read takes up to this much
#define S_READ_SIZE (256 * 1024)
//  Reads of one connection per turn, for fairness between connections
#define S_READS_PER_TURN 4
//  What a relay reads per turn, for the same fairness
#define S_PUMP_BUDGET (1024 * 1024)
//  Full reads in a row, in bytes, before a relay splices through a pipe:
//  one read that fills the scratch buffer, so a transfer that backs up
//  (the sink slower than the source, or large messages) moves with no
//  copy, while small exchanges keep the cheaper read and write
#define S_SPLICE_AFTER (256 * 1024)
//  The pipes lent to relays: how many, how large
#define S_PIPES_MAX 32
#define S_PIPE_SIZE (1024 * 1024)
//  Accepts per listener per turn
#define S_ACCEPTS_PER_TURN 64
//  When an accept fails even with the reserve descriptor given back, the
//  listener rests this long, so that the loop does not spin on it
#define S_ACCEPT_REST_MS 100
#define S_ENDPOINT_MAX 256
#define S_ID_SIZE 8

typedef struct sq_engine_splice sq_engine_splice_t;
typedef struct s_pair s_pair_t;

typedef struct {
    sq_engine_splice_t *engine;
    int fd;
    sq_side_t side;
    uint32_t generation;
    sq_conn_t *conn;                //  The core's, or NULL once it let go
    sq_relay_flags_t flags;         //  Edge-triggered state, see above
    bool dead;                      //  Closed; freed after the turn
    bool lingering;                 //  Closed by the core: delivering the rest
    int64_t linger_until_ms;
    uint8_t *out;                   //  Taken from the core, not yet written
    size_t out_size;
    size_t out_done;
    s_pair_t *pair;                 //  Once handed over
    int end;                        //  Its index in the pair
    sq_list_node_t list_node;       //  In ready, parked [side], or dead
    sq_list_node_t linger_node;     //  In lingering
} s_conn_t;

//  What a relay's I/O functions are called with
typedef struct {
    s_pair_t *pair;
    int from;                       //  The source's end; the sink is 1 - from
} s_way_t;

struct s_pair {
    sq_engine_splice_t *engine;
    s_conn_t *end [2];              //  The client, the worker; NULL once closed
    sq_relay_t relay [2];           //  relay [i] carries end [i]'s bytes
    s_way_t way [2];
    sq_pipe_t *pipe [2];            //  The pipe relay [i] has, or NULL
    sq_relay_flags_t no_flags;      //  Stands for the flags of a closed end
    int first_end;                  //  The end whose bytes ended first, or -1
    int64_t progress_ms;            //  When a byte was last delivered
    bool dead;
    sq_list_node_t list_node;       //  In ready_pairs, paused_pairs, dead_pairs
    sq_list_node_t stall_node;      //  In stalled
    sq_list_node_t dirty_node;      //  In dirty
};

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
    int stall_timer;                //  The first stalled pair is due
    s_conn_t **conns;               //  By descriptor
    int conns_size;
    uint32_t generation;
    int reserve_fd;                 //  Given back when out of descriptors
    uint8_t *scratch;               //  S_READ_SIZE, for every read
    sq_pipe_pool_t *pipes;
    sq_list_t ready;
    sq_list_t parked [2];
    sq_list_t dead;
    sq_list_t lingering;
    sq_list_t ready_pairs;
    sq_list_t paused_pairs;
    sq_list_t dead_pairs;
    sq_list_t stalled;
    sq_list_t dirty;
};

static void s_pair_run (s_pair_t *pair);
static void s_pair_detach (s_conn_t *c);

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

static int64_t
s_now (sq_engine_splice_t *self)
{
    return sq_loop_now (self->loop);
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
    if (c->pair)
        s_pair_detach (c);
}

//  The peer's connection failed or ended: closed, and the core told
static void
s_lost (s_conn_t *c)
{
    sq_conn_t *conn = c->conn;
    sq_engine_splice_t *self = c->engine;
    s_close_now (c);
    if (conn)
        sq_core_disconnected (self->core, conn, s_now (self));
}

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
    while (c->out && c->flags.writable) {
        ssize_t done = write (c->fd, c->out + c->out_done, c->out_size - c->out_done);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0 && s_would_block ()) {
            c->flags.writable = false;
            break;
        }
        if (done < 0) {
            s_lost (c);
            return false;
        }
        c->out_done += (size_t) done;
        if (c->out_done < c->out_size)
            c->flags.writable = false;
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
//  does not read now in its side's parked list. Stops when the core
//  hands the pair over (in sq_core_received).
static void
s_read_for_core (s_conn_t *c)
{
    sq_engine_splice_t *self = c->engine;
    for (int reads = 0; c->flags.readable && !c->dead && c->conn && !c->pair; reads++) {
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
            c->flags.readable = false;
        else
        if (got <= 0)
            s_lost (c);
        else {
            //  A short read emptied the socket: the next bytes bring an
            //  edge; but after a hang-up only the end does
            if (got < S_READ_SIZE)
                c->flags.readable = c->flags.hangup;
            sq_core_received (self->core, c->conn, self->scratch, (size_t) got, s_now (self));
        }
    }
}

//  Does what the connection's flags allow: write what it holds, read
static void
s_run (s_conn_t *c)
{
    if (c->dead)
        return;
    if (c->pair) {
        s_pair_run (c->pair);
        return;
    }
    if (!s_flush_out (c))
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
        c->flags.readable = true;
    if (fired & SQ_LOOP_WRITABLE)
        c->flags.writable = true;
    if (fired & SQ_LOOP_HANGUP)
        c->flags.hangup = true;
    s_run (c);
}

//  -------------------------------------------------------------------------
//  Pairs: the relays' I/O

static s_conn_t *
s_source (const s_way_t *way)
{
    return way->pair->end [way->from];
}

static s_conn_t *
s_sink (const s_way_t *way)
{
    return way->pair->end [1 - way->from];
}

static ssize_t
s_io_read (void *ctx, uint8_t *data, size_t size)
{
    return read (s_source (ctx)->fd, data, size);
}

static ssize_t
s_io_write (void *ctx, const uint8_t *data, size_t size)
{
    return write (s_sink (ctx)->fd, data, size);
}

static ssize_t
s_io_splice_in (void *ctx, size_t size)
{
    s_way_t *way = ctx;
    return splice (s_source (way)->fd, NULL, way->pair->pipe [way->from]->write_fd, NULL,
                   size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

static ssize_t
s_io_splice_out (void *ctx, size_t size)
{
    s_way_t *way = ctx;
    return splice (way->pair->pipe [way->from]->read_fd, NULL, s_sink (way)->fd, NULL,
                   size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

static size_t
s_io_pipe_get (void *ctx)
{
    s_way_t *way = ctx;
    sq_pipe_t *pipe = sq_pipe_pool_take (way->pair->engine->pipes);
    way->pair->pipe [way->from] = pipe;
    return pipe? pipe->size: 0;
}

static void
s_io_pipe_put (void *ctx)
{
    s_way_t *way = ctx;
    sq_pipe_pool_give (way->pair->engine->pipes, way->pair->pipe [way->from]);
    way->pair->pipe [way->from] = NULL;
}

static int
s_io_shutdown (void *ctx)
{
    return shutdown (s_sink (ctx)->fd, SHUT_WR);
}

static const sq_relay_io_t s_io = {
    .read = s_io_read, .write = s_io_write,
    .splice_in = s_io_splice_in, .splice_out = s_io_splice_out,
    .pipe_get = s_io_pipe_get, .pipe_put = s_io_pipe_put,
    .shutdown = s_io_shutdown
};

//  -------------------------------------------------------------------------
//  Pairs: what they moved, and when they stall

//  Tells the core what each relay delivered since the last report, and
//  the loop, whose yield goes by what a turn moved
static void
s_report_moved (s_pair_t *pair)
{
    sq_engine_splice_t *self = pair->engine;
    sq_list_remove (&pair->dirty_node);
    for (int from = 0; from < 2; from++) {
        uint64_t moved = sq_relay_take_moved (&pair->relay [from]);
        sq_loop_moved (self->loop, (size_t) moved);
        s_conn_t *source = pair->end [from];
        if (moved && source && source->conn)
            sq_core_moved (self->core, source->conn, moved, s_now (self));
    }
}

//  Bytes wait in a relay whose sink is still there
static bool
s_waiting (const s_pair_t *pair)
{
    for (int from = 0; from < 2; from++)
        if (pair->end [1 - from] && sq_relay_held (&pair->relay [from]))
            return true;
    return false;
}

//  Keeps the stalled list in order of progress, for --slow-peer-timeout
static void
s_track_stall (s_pair_t *pair, bool progressed)
{
    sq_engine_splice_t *self = pair->engine;
    if (progressed)
        pair->progress_ms = s_now (self);
    bool track = sq_core_config (self->core)->slow_peer_timeout_ms > 0 && s_waiting (pair);
    if (!track)
        sq_list_remove (&pair->stall_node);
    else
    if (progressed || !sq_list_linked (&pair->stall_node)) {
        sq_list_remove (&pair->stall_node);
        sq_list_append (&self->stalled, &pair->stall_node);
    }
}

//  The first stalled pair whose time is up is closed as a slow peer:
//  its sink is the peer that does not read
static void
s_expire_stalled (sq_engine_splice_t *self)
{
    int64_t timeout = sq_core_config (self->core)->slow_peer_timeout_ms;
    sq_list_node_t *first;
    while ((first = sq_list_first (&self->stalled))) {
        s_pair_t *pair = sq_list_entry (first, s_pair_t, stall_node);
        if (timeout > 0 && pair->progress_ms + timeout > s_now (self))
            break;
        sq_list_remove (&pair->stall_node);
        for (int from = 0; from < 2 && timeout > 0; from++) {
            s_conn_t *sink = pair->end [1 - from];
            if (sink && sink->conn && sq_relay_held (&pair->relay [from])) {
                sq_core_stalled (self->core, sink->conn, s_now (self));
                break;
            }
        }
    }
    int64_t delay = -1;
    if ((first = sq_list_first (&self->stalled))) {
        int64_t due = sq_list_entry (first, s_pair_t, stall_node)->progress_ms + timeout;
        delay = due > s_now (self)? due - s_now (self): 0;
    }
    sq_loop_timer_set (self->loop, self->stall_timer, delay);
}

static int64_t
s_on_stall_timer (sq_loop_t *loop, void *arg)
{
    (void) loop;
    s_expire_stalled (arg);
    return -1;
}

//  -------------------------------------------------------------------------
//  Pairs: running them

//  End i of the pair closed: its relays no longer look at its flags. The
//  pair goes once both ends are closed.
static void
s_pair_detach (s_conn_t *c)
{
    s_pair_t *pair = c->pair;
    c->pair = NULL;
    pair->end [c->end] = NULL;
    pair->relay [c->end].source = &pair->no_flags;
    pair->relay [1 - c->end].sink = &pair->no_flags;
    if (pair->end [1 - c->end] || pair->dead)
        return;
    sq_engine_splice_t *self = pair->engine;
    pair->dead = true;
    for (int from = 0; from < 2; from++)
        if (sq_relay_clear (&pair->relay [from]))
            sq_pipe_pool_discard (self->pipes, pair->pipe [from]);
    sq_list_remove (&pair->stall_node);
    sq_list_remove (&pair->dirty_node);
    sq_list_remove (&pair->list_node);
    sq_list_append (&self->dead_pairs, &pair->list_node);
}

//  Reading or writing end i failed: it is closed and the core told,
//  which closes the other end (delivering what waits for it)
static void
s_pair_lost (s_pair_t *pair, int end)
{
    s_report_moved (pair);
    s_conn_t *c = pair->end [end];
    if (c)
        s_lost (c);
}

//  Both ends have ended their bytes, and each end was passed on: the
//  end that ended first is reported gone, and the core closes the other
static void
s_pair_over (s_pair_t *pair)
{
    s_report_moved (pair);
    int first = pair->first_end >= 0? pair->first_end: 0;
    int order [2] = { first, 1 - first };
    for (int index = 0; index < 2; index++) {
        s_conn_t *c = pair->end [order [index]];
        if (c && c->conn) {
            s_lost (c);
            break;
        }
    }
    for (int end = 0; end < 2; end++)
        if (pair->end [end] && !pair->end [end]->conn)
            s_close_now (pair->end [end]);
}

//  May the relay from end `from` read its source now
static bool
s_may_read (const s_pair_t *pair, int from, bool paused)
{
    const s_conn_t *source = pair->end [from];
    return source && !paused && !source->lingering && source->conn
        && source->conn->state == SQ_CONN_PAIRED;
}

//  Closes the ends the core closed whose last bytes were delivered
static void
s_pair_close_delivered (s_pair_t *pair)
{
    for (int end = 0; end < 2; end++) {
        s_conn_t *c = pair->end [end];
        if (c && c->lingering && !sq_relay_held (&pair->relay [1 - end]))
            s_close_now (c);
    }
}

//  Pumps both relays as far as the flags allow; then, as the results
//  say: the pair's next turn, its end, or a lost end
static void
s_pair_run (s_pair_t *pair)
{
    sq_engine_splice_t *self = pair->engine;
    bool paused = sq_core_paused (self->core);
    bool more = false, held_back = false, done [2] = { false, false };
    uint64_t before = pair->relay [0].moved + pair->relay [1].moved;
    for (int from = 0; from < 2 && !pair->dead; from++) {
        if (!pair->end [1 - from])
            continue;
        sq_relay_result_t result = sq_relay_pump (&pair->relay [from], self->scratch,
                                                  S_READ_SIZE, S_PUMP_BUDGET,
                                                  s_may_read (pair, from, paused));
        if (result == SQ_RELAY_MORE)
            more = true;
        else
        if (result == SQ_RELAY_IDLE && paused && pair->end [from]
        &&  pair->end [from]->flags.readable)
            held_back = true;
        else
        if (result == SQ_RELAY_DONE) {
            done [from] = true;
            if (pair->first_end < 0)
                pair->first_end = from;
        }
        else
        if (result == SQ_RELAY_SOURCE_FAILED || result == SQ_RELAY_SINK_FAILED) {
            s_pair_lost (pair, result == SQ_RELAY_SOURCE_FAILED? from: 1 - from);
            return;
        }
    }
    if (pair->dead)
        return;
    bool progressed = pair->relay [0].moved + pair->relay [1].moved != before;
    if (progressed && !sq_list_linked (&pair->dirty_node))
        sq_list_append (&self->dirty, &pair->dirty_node);
    if (done [0] && done [1]) {
        s_pair_over (pair);
        return;
    }
    s_pair_close_delivered (pair);
    if (pair->dead)
        return;
    s_track_stall (pair, progressed);
    sq_list_remove (&pair->list_node);
    if (more)
        sq_list_append (&self->ready_pairs, &pair->list_node);
    else
    if (held_back)
        sq_list_append (&self->paused_pairs, &pair->list_node);
}

//  The core hands a pair over: its relays start with what the engine
//  still held for each peer, and run at once (this turn) for what the
//  sockets have to read
static bool
s_handoff (void *handle, sq_conn_t *client, sq_conn_t *worker)
{
    sq_engine_splice_t *self = handle;
    s_conn_t *end [2] = { s_find (self, client), s_find (self, worker) };
    s_pair_t *pair = end [0] && end [1] && !end [0]->pair && !end [1]->pair
                  && !end [0]->lingering && !end [1]->lingering
                   ? calloc (1, sizeof *pair): NULL;
    if (!pair)
        return false;
    pair->engine = self;
    pair->first_end = -1;
    pair->progress_ms = s_now (self);
    sq_list_init (&pair->list_node);
    sq_list_init (&pair->stall_node);
    sq_list_init (&pair->dirty_node);
    for (int from = 0; from < 2; from++) {
        s_conn_t *c = end [from];
        pair->end [from] = c;
        pair->way [from] = (s_way_t) { pair, from };
        sq_relay_init (&pair->relay [from], &s_io, &pair->way [from], &c->flags,
                       &end [1 - from]->flags, S_SPLICE_AFTER);
        c->pair = pair;
        c->end = from;
        sq_list_remove (&c->list_node);
    }
    //  What the engine held for a peer goes to it first
    for (int to = 0; to < 2; to++) {
        s_conn_t *c = end [to];
        if (c->out) {
            memmove (c->out, c->out + c->out_done, c->out_size - c->out_done);
            sq_relay_hold (&pair->relay [1 - to], c->out, c->out_size - c->out_done);
            c->out = NULL;
            c->out_size = c->out_done = 0;
        }
    }
    sq_list_append (&self->ready_pairs, &pair->list_node);
    return true;
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
                      .generation = ++self->generation, .flags.writable = true };
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
                                         s_now (self));
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
        sq_core_accept_failed (self->core, side, reason, s_now (self));
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
        if (self->listener [side] >= 0 && !sq_loop_mask (loop, self->listener [side]))
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
    if (!c || c->lingering || c->pair)
        return SQ_SEND_GONE;
    if (c->out)
        return SQ_SEND_AGAIN;
    size_t done = 0;
    while (c->flags.writable && done < size) {
        ssize_t wrote = write (c->fd, data + done, size - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote < 0 && s_would_block ())
            c->flags.writable = false;
        else
        if (wrote < 0) {
            s_close_now (c);    //  The core learns it from the result
            return SQ_SEND_GONE;
        }
        else {
            done += (size_t) wrote;
            if (done < size)
                c->flags.writable = false;
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
        delay = c->linger_until_ms > s_now (self)? c->linger_until_ms - s_now (self): 0;
    }
    sq_loop_timer_set (self->loop, self->linger_timer, delay);
}

//  Bytes the engine holds for the peer of c
static size_t
s_held_for (const s_conn_t *c)
{
    if (c->pair)
        return sq_relay_held (&c->pair->relay [1 - c->end]);
    return c->out? c->out_size - c->out_done: 0;
}

//  Closes the connection once what the engine holds for it is written,
//  within --close-linger; no lost-connection event follows for it. A
//  connection of a pair is read no more.
static sq_send_result_t
s_close (void *handle, sq_conn_t *conn)
{
    sq_engine_splice_t *self = handle;
    s_conn_t *c = s_find (self, conn);
    if (!c || c->lingering)
        return SQ_SEND_OK;
    c->conn = NULL;
    int64_t linger_ms = sq_core_config (self->core)->close_linger_ms;
    if (!s_held_for (c) || linger_ms <= 0) {
        s_close_now (c);
        return SQ_SEND_OK;
    }
    c->lingering = true;
    c->linger_until_ms = s_now (self) + linger_ms;
    if (!c->pair)
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
                  sq_side_name (c->side), s_held_for (c));
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
    while (!sq_list_empty (&self->dead_pairs)) {
        s_pair_t *pair = sq_list_entry (self->dead_pairs.next, s_pair_t, list_node);
        sq_list_remove (&pair->list_node);
        free (pair);
    }
}

//  The connections and pairs of a list get their turn; those with work
//  left come back to the list for the next one
static void
s_run_conns (sq_engine_splice_t *self)
{
    sq_list_t turn;
    sq_list_init (&turn);
    sq_list_move_all (&turn, &self->ready);
    while (!sq_list_empty (&turn)) {
        s_conn_t *c = sq_list_entry (turn.next, s_conn_t, list_node);
        sq_list_remove (&c->list_node);
        s_run (c);
    }
}

static void
s_run_pairs (sq_engine_splice_t *self)
{
    sq_list_t turn;
    sq_list_init (&turn);
    sq_list_move_all (&turn, &self->ready_pairs);
    while (!sq_list_empty (&turn)) {
        s_pair_t *pair = sq_list_entry (turn.next, s_pair_t, list_node);
        sq_list_remove (&pair->list_node);
        s_pair_run (pair);
    }
}

//  Before each wait: what the core reads again comes back from the parked
//  lists, connections and pairs with work get their turn, the core learns
//  what the pairs moved, stalled pairs are looked at, and what went is
//  freed. Busy while some are still ready.
static bool
s_hook (sq_loop_t *loop, void *arg)
{
    (void) loop;
    sq_engine_splice_t *self = arg;
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (!sq_list_empty (&self->parked [side]) && sq_core_reading (self->core, side))
            sq_list_move_all (&self->ready, &self->parked [side]);
    if (!sq_list_empty (&self->paused_pairs) && !sq_core_paused (self->core))
        sq_list_move_all (&self->ready_pairs, &self->paused_pairs);
    s_run_conns (self);
    s_run_pairs (self);
    while (!sq_list_empty (&self->dirty))
        s_report_moved (sq_list_entry (self->dirty.next, s_pair_t, dirty_node));
    if (!sq_list_empty (&self->stalled))
        s_expire_stalled (self);
    s_free_dead (self);
    return !sq_list_empty (&self->ready) || !sq_list_empty (&self->ready_pairs);
}

//  -------------------------------------------------------------------------
//  The engine

sq_engine_splice_t *
sq_engine_splice_new (const sq_engine_splice_config_t *config, char *error, size_t error_size)
{
    sq_engine_splice_t *self = calloc (1, sizeof *self);
    uint8_t *scratch = malloc (S_READ_SIZE);
    sq_pipe_pool_t *pipes = sq_pipe_pool_new (S_PIPES_MAX, S_PIPE_SIZE);
    if (!self || !scratch || !pipes) {
        free (self);
        free (scratch);
        sq_pipe_pool_destroy (&pipes);
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    self->config = *config;
    self->scratch = scratch;
    self->pipes = pipes;
    self->listener [0] = self->listener [1] = -1;
    sq_list_t *lists [] = {
        &self->ready, &self->parked [SQ_FRONTEND], &self->parked [SQ_BACKEND], &self->dead,
        &self->lingering, &self->ready_pairs, &self->paused_pairs, &self->dead_pairs,
        &self->stalled, &self->dirty
    };
    for (size_t index = 0; index < sizeof lists / sizeof lists [0]; index++)
        sq_list_init (lists [index]);
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
    sq_engine_splice_stop_listening (self);
    if (self->loop) {
        sq_loop_hook_remove (self->loop, s_hook, self);
        sq_loop_timer_destroy (self->loop, self->rest_timer);
        sq_loop_timer_destroy (self->loop, self->linger_timer);
        sq_loop_timer_destroy (self->loop, self->stall_timer);
    }
    if (self->reserve_fd >= 0)
        close (self->reserve_fd);
    sq_pipe_pool_destroy (&self->pipes);
    free (self->conns);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

//  The engine's name, and its pipes
static void
s_figures (void *handle, sq_engine_figures_t *figures)
{
    sq_engine_splice_t *self = handle;
    figures->name = "splice";
    figures->pipes_lent = sq_pipe_pool_lent (self->pipes);
    figures->pipes_idle = sq_pipe_pool_idle (self->pipes);
    figures->pipe_refusals = sq_pipe_pool_refusals (self->pipes);
}

sq_engine_t
sq_engine_splice_ops (sq_engine_splice_t *self)
{
    sq_engine_t engine = {
        .handle = self, .send = s_send, .close = s_close, .handoff = s_handoff,
        .figures = s_figures
    };
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
    self->stall_timer = sq_loop_timer_new (loop, -1, s_on_stall_timer, self);
    return self->rest_timer && self->linger_timer && self->stall_timer
        && s_watch_listener (self, SQ_FRONTEND) && s_watch_listener (self, SQ_BACKEND)
        && sq_loop_hook_add (loop, s_hook, self);
}

void
sq_engine_splice_stop_listening (sq_engine_splice_t *self)
{
    for (int side = SQ_FRONTEND; side <= SQ_BACKEND; side++)
        if (self->listener [side] >= 0) {
            if (self->loop)
                sq_loop_unwatch (self->loop, self->listener [side]);
            close (self->listener [side]);
            self->listener [side] = -1;
        }
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
