/*  =========================================================================
    Unit tests of sq_relay: one direction of a pair, its buffer, its
    back-pressure, the end of a stream and splice through a pipe, driven
    through a scripted source, sink and pipe in memory. No sockets.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_relay.h"
#include <errno.h>

SQ_TEST_DEFINE

#define S_DATA      (4 * 1024 * 1024)
#define S_SCRATCH   (64 * 1024)
#define S_PIPE      (128 * 1024)

//  A source that has `arrived` bytes of data so far, a sink that takes
//  `room` more bytes, and a pipe of S_PIPE bytes
typedef struct {
    uint8_t *data;              //  What the source sends, S_DATA bytes
    size_t arrived;             //  Of it, readable so far
    size_t read_pos;
    bool ended;                 //  The source ends after `arrived`
    int read_error;             //  Reads fail with this errno
    size_t reads;
    uint8_t *out;               //  What the sink got
    size_t out_size;
    size_t room;                //  What the sink takes before EAGAIN
    int write_error;
    bool shut;                  //  The sink's writing side was shut down
    bool offer_pipe;            //  pipe_get gives one
    bool piping;                //  The relay has the pipe
    uint8_t pipe [S_PIPE];
    size_t piped;
    size_t pipe_full_at;        //  splice_in says EAGAIN with this much in it
    int pipe_gets, pipe_puts;
} s_io_t;

static size_t
s_min (size_t a, size_t b)
{
    return a < b? a: b;
}

static ssize_t
s_read (void *ctx, uint8_t *data, size_t size)
{
    s_io_t *io = ctx;
    io->reads++;
    if (io->read_error) {
        errno = io->read_error;
        return -1;
    }
    size_t count = s_min (size, io->arrived - io->read_pos);
    if (count == 0) {
        if (io->ended)
            return 0;
        errno = EAGAIN;
        return -1;
    }
    memcpy (data, io->data + io->read_pos, count);
    io->read_pos += count;
    return (ssize_t) count;
}

static ssize_t
s_write (void *ctx, const uint8_t *data, size_t size)
{
    s_io_t *io = ctx;
    if (io->write_error) {
        errno = io->write_error;
        return -1;
    }
    size_t count = s_min (size, io->room);
    if (count == 0) {
        errno = EAGAIN;
        return -1;
    }
    memcpy (io->out + io->out_size, data, count);
    io->out_size += count;
    io->room -= count;
    return (ssize_t) count;
}

static ssize_t
s_splice_in (void *ctx, size_t size)
{
    s_io_t *io = ctx;
    SQ_CHECK (io->piping);
    if (io->piped >= io->pipe_full_at) {
        errno = EAGAIN;         //  As the kernel says for a full pipe
        return -1;
    }
    uint8_t *chunk = malloc (size);
    ssize_t got = s_read (io, chunk, s_min (size, S_PIPE - io->piped));
    if (got > 0) {
        memcpy (io->pipe + io->piped, chunk, (size_t) got);
        io->piped += (size_t) got;
    }
    free (chunk);
    return got;
}

static ssize_t
s_splice_out (void *ctx, size_t size)
{
    s_io_t *io = ctx;
    SQ_CHECK (io->piping && size <= io->piped);
    ssize_t wrote = s_write (io, io->pipe, size);
    if (wrote > 0) {
        memmove (io->pipe, io->pipe + wrote, io->piped - (size_t) wrote);
        io->piped -= (size_t) wrote;
    }
    return wrote;
}

static size_t
s_pipe_get (void *ctx)
{
    s_io_t *io = ctx;
    io->pipe_gets++;
    if (!io->offer_pipe)
        return 0;
    io->piping = true;
    return S_PIPE;
}

static void
s_pipe_put (void *ctx)
{
    s_io_t *io = ctx;
    SQ_CHECK (io->piping && io->piped == 0);
    io->piping = false;
    io->pipe_puts++;
}

static int
s_shutdown (void *ctx)
{
    ((s_io_t *) ctx)->shut = true;
    return 0;
}

static const sq_relay_io_t s_copy_io = {
    .read = s_read, .write = s_write, .shutdown = s_shutdown
};
static const sq_relay_io_t s_splice_io = {
    .read = s_read, .write = s_write, .splice_in = s_splice_in, .splice_out = s_splice_out,
    .pipe_get = s_pipe_get, .pipe_put = s_pipe_put, .shutdown = s_shutdown
};

static s_io_t *io;
static sq_relay_t relay;
static sq_relay_flags_t source, sink;
static uint8_t scratch [S_SCRATCH];

static void
s_setup (const sq_relay_io_t *ops, size_t splice_after)
{
    io = calloc (1, sizeof *io);
    io->data = malloc (S_DATA);
    io->out = malloc (S_DATA);
    for (size_t index = 0; index < S_DATA; index++)
        io->data [index] = (uint8_t) (index * 7 + index / 251);
    io->pipe_full_at = S_PIPE;
    source = (sq_relay_flags_t) { .readable = true, .writable = true };
    sink = (sq_relay_flags_t) { .readable = false, .writable = true };
    sq_relay_init (&relay, ops, io, &source, &sink, splice_after);
}

static void
s_teardown (void)
{
    sq_relay_clear (&relay);
    free (io->data);
    free (io->out);
    free (io);
}

//  The sink got exactly the first `size` bytes the source sent
static bool
s_delivered (size_t size)
{
    return io->out_size == size && memcmp (io->out, io->data, size) == 0;
}

static sq_relay_result_t
s_pump (void)
{
    return sq_relay_pump (&relay, scratch, S_SCRATCH, 2 * S_DATA, true);
}

//  What arrives goes on at once; a short read clears the source's flag
static void
test_copies_through (void)
{
    s_setup (&s_copy_io, 0);
    io->arrived = 1000;
    io->room = S_DATA;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (s_delivered (1000));
    SQ_CHECK (!source.readable);
    SQ_CHECK_EQ (sq_relay_held (&relay), 0);
    SQ_CHECK_EQ (sq_relay_take_moved (&relay), 1000);
    SQ_CHECK_EQ (sq_relay_take_moved (&relay), 0);
    //  Nothing is read until the flag is set again
    io->arrived = 3000;
    size_t reads = io->reads;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK_EQ (io->reads, reads);
    source.readable = true;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (s_delivered (3000));
    s_teardown ();
}

//  A full sink: the relay holds the rest of one read and reads no more,
//  so the source is pushed back; bytes go on in order as the sink drains
static void
test_back_pressure (void)
{
    s_setup (&s_copy_io, 0);
    io->arrived = S_DATA;
    io->room = 10000;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (s_delivered (10000));
    SQ_CHECK (!sink.writable);
    SQ_CHECK (source.readable);
    SQ_CHECK_EQ (io->reads, 1);
    SQ_CHECK_EQ (sq_relay_held (&relay), S_SCRATCH - 10000);
    //  However often it is pumped, nothing more is read
    for (int turn = 0; turn < 10; turn++)
        SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK_EQ (io->reads, 1);
    //  The sink takes a little: the held bytes go first, still no read
    io->room = 1000;
    sink.writable = true;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (s_delivered (11000));
    SQ_CHECK_EQ (io->reads, 1);
    //  Then the sink drains: everything arrives, in order, never more
    //  than one read held on the way
    while (io->out_size < S_DATA) {
        io->room = 70000;
        sink.writable = true;
        SQ_CHECK (s_pump () == SQ_RELAY_IDLE);
        SQ_CHECK (sq_relay_held (&relay) <= S_SCRATCH);
    }
    SQ_CHECK (s_delivered (S_DATA));
    s_teardown ();
}

//  The end of the source is passed on once all before it was delivered
static void
test_end_after_the_bytes (void)
{
    s_setup (&s_copy_io, 0);
    io->arrived = 5000;
    io->ended = true;
    io->room = 2000;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (!io->shut);
    io->room = S_DATA;
    sink.writable = true;
    //  The short read cleared the flag; the end comes with the next edge
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (s_delivered (5000));
    SQ_CHECK (!io->shut);
    source.readable = true;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_DONE);
    SQ_CHECK (io->shut);
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_DONE);
    s_teardown ();
}

//  After a hang-up a short read does not empty the source: the relay reads
//  on to its end, with no further edge
static void
test_hangup_reads_to_the_end (void)
{
    s_setup (&s_copy_io, 0);
    io->arrived = 5000;
    io->ended = true;
    io->room = S_DATA;
    source.hangup = true;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_DONE);
    SQ_CHECK (s_delivered (5000));
    SQ_CHECK (io->shut);
    s_teardown ();
}

static void
test_failures (void)
{
    s_setup (&s_copy_io, 0);
    io->arrived = 100;
    io->room = S_DATA;
    io->read_error = ECONNRESET;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_SOURCE_FAILED);
    SQ_CHECK_EQ (relay.error, ECONNRESET);
    s_teardown ();
    s_setup (&s_copy_io, 0);
    io->arrived = 100;
    io->write_error = EPIPE;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_SINK_FAILED);
    SQ_CHECK_EQ (relay.error, EPIPE);
    s_teardown ();
}

//  A relay reads about its budget, then says there is more
static void
test_budget (void)
{
    s_setup (&s_copy_io, 0);
    io->arrived = S_DATA;
    io->room = S_DATA;
    SQ_CHECK_EQ (sq_relay_pump (&relay, scratch, S_SCRATCH, 3 * S_SCRATCH, true),
                 SQ_RELAY_MORE);
    SQ_CHECK (s_delivered (3 * S_SCRATCH));
    SQ_CHECK (source.readable);
    s_teardown ();
}

//  A relay that may not read delivers what it holds, and reads nothing
static void
test_no_reading (void)
{
    s_setup (&s_copy_io, 0);
    uint8_t *early = malloc (300);
    memcpy (early, io->data, 300);
    sq_relay_hold (&relay, early, 300);
    io->arrived = S_DATA;
    io->room = S_DATA;
    SQ_CHECK_EQ (sq_relay_pump (&relay, scratch, S_SCRATCH, S_DATA, false), SQ_RELAY_IDLE);
    SQ_CHECK_EQ (io->reads, 0);
    SQ_CHECK_EQ (io->out_size, 300);
    SQ_CHECK (memcmp (io->out, io->data, 300) == 0);
    s_teardown ();
}

//  What the engine held for the sink goes before anything read
static void
test_held_first (void)
{
    s_setup (&s_copy_io, 0);
    uint8_t *early = malloc (5);
    memcpy (early, "early", 5);
    sq_relay_hold (&relay, early, 5);
    io->arrived = 100;
    io->room = S_DATA;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK_EQ (io->out_size, 105);
    SQ_CHECK (memcmp (io->out, "early", 5) == 0);
    SQ_CHECK (memcmp (io->out + 5, io->data, 100) == 0);
    s_teardown ();
}

//  A large transfer goes through a pipe, in order, and the pipe goes back
//  once it is empty and the source has nothing more
static void
test_splice_large (void)
{
    s_setup (&s_splice_io, 2 * S_SCRATCH);
    io->offer_pipe = true;
    io->arrived = S_DATA / 2;
    io->room = S_DATA;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (s_delivered (S_DATA / 2));
    SQ_CHECK_EQ (io->pipe_gets, 1);
    SQ_CHECK_EQ (io->pipe_puts, 1);
    SQ_CHECK (!io->piping);
    SQ_CHECK (!source.readable);
    SQ_CHECK_EQ (sq_relay_take_moved (&relay), S_DATA / 2);
    s_teardown ();
}

//  No pipe to be had: the relay copies
static void
test_splice_none_to_have (void)
{
    s_setup (&s_splice_io, S_SCRATCH);
    io->arrived = S_DATA;
    io->room = S_DATA;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (s_delivered (S_DATA));
    SQ_CHECK (io->pipe_gets > 0);
    SQ_CHECK (!io->piping);
    s_teardown ();
}

//  EAGAIN from splice_in with bytes in the pipe may mean a full pipe: the
//  source keeps its flag, and is read again once the sink took some.
//  With an empty pipe it means an empty source.
static void
test_splice_ambiguous_again (void)
{
    s_setup (&s_splice_io, S_SCRATCH);
    io->offer_pipe = true;
    io->arrived = S_DATA;
    io->room = S_SCRATCH;
    io->pipe_full_at = 1000;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    //  One full read copied, then the pipe: its first splice filled it
    //  past pipe_full_at, and the sink is full
    SQ_CHECK (io->piping);
    SQ_CHECK (io->piped > 0);
    SQ_CHECK (source.readable);
    SQ_CHECK (!sink.writable);
    SQ_CHECK_EQ (sq_relay_held (&relay), io->piped);
    //  The sink drains: what is in the pipe goes, then the source is read
    //  again, to the end, in order
    while (io->out_size < S_DATA) {
        io->room = 100000;
        sink.writable = true;
        SQ_CHECK (s_pump () == SQ_RELAY_IDLE);
        SQ_CHECK (source.readable || io->read_pos == S_DATA);
    }
    SQ_CHECK (s_delivered (S_DATA));
    //  Now the source is empty: EAGAIN with an empty pipe clears its flag
    sink.writable = true;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (!source.readable);
    SQ_CHECK (!io->piping);
    s_teardown ();
}

//  The end passes through the pipe too, after every byte
static void
test_splice_end (void)
{
    s_setup (&s_splice_io, S_SCRATCH);
    io->offer_pipe = true;
    io->arrived = S_DATA;
    io->ended = true;
    io->room = S_DATA;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_DONE);
    SQ_CHECK (s_delivered (S_DATA));
    SQ_CHECK (io->shut);
    SQ_CHECK (!io->piping);
    s_teardown ();
}

//  A relay cleared with bytes in its pipe says so: that pipe is not reused
static void
test_clear_with_bytes_in_pipe (void)
{
    s_setup (&s_splice_io, S_SCRATCH);
    io->offer_pipe = true;
    io->arrived = S_DATA;
    io->room = S_SCRATCH;
    SQ_CHECK_EQ (s_pump (), SQ_RELAY_IDLE);
    SQ_CHECK (io->piping && io->piped > 0);
    SQ_CHECK (sq_relay_clear (&relay));
    SQ_CHECK_EQ (io->pipe_puts, 0);
    SQ_CHECK_EQ (sq_relay_held (&relay), 0);
    io->piping = false;
    s_teardown ();
}

int
main (void)
{
    SQ_RUN (test_copies_through);
    SQ_RUN (test_back_pressure);
    SQ_RUN (test_end_after_the_bytes);
    SQ_RUN (test_hangup_reads_to_the_end);
    SQ_RUN (test_failures);
    SQ_RUN (test_budget);
    SQ_RUN (test_no_reading);
    SQ_RUN (test_held_first);
    SQ_RUN (test_splice_large);
    SQ_RUN (test_splice_none_to_have);
    SQ_RUN (test_splice_ambiguous_again);
    SQ_RUN (test_splice_end);
    SQ_RUN (test_clear_with_bytes_in_pipe);
    return sq_test_summary ();
}
