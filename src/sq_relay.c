/*  =========================================================================
    sq_relay - one direction of a pair the engine moves itself

    A relay copies (read into the caller's scratch buffer, write at once,
    hold what the sink did not take) or, once a transfer is large, splices
    through a pipe. It holds bytes in one mode at a time: it takes a pipe
    only with nothing held, and holds nothing while it has one.
    =========================================================================
*/
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "sq_relay.h"

//  What one step of the pump did
typedef enum {
    S_IDLE,                 //  Nothing more until a flag is set again
    S_PROGRESS,             //  Moved something: go on
    S_BUDGET,               //  Could go on, but read its budget
    S_DONE,
    S_SOURCE_FAILED,
    S_SINK_FAILED
} s_step_t;

void
sq_relay_init (sq_relay_t *self, const sq_relay_io_t *io, void *ctx,
               sq_relay_flags_t *source, sq_relay_flags_t *sink, size_t splice_after)
{
    memset (self, 0, sizeof *self);
    self->io = io;
    self->ctx = ctx;
    self->source = source;
    self->sink = sink;
    self->splice_after = io->splice_in && io->splice_out && io->pipe_get? splice_after: 0;
}

bool
sq_relay_clear (sq_relay_t *self)
{
    free (self->held);
    self->held = NULL;
    self->held_size = self->held_done = 0;
    bool kept = false;
    if (self->pipe_size) {
        if (self->piped == 0)
            self->io->pipe_put (self->ctx);
        else
            kept = true;
        self->pipe_size = self->piped = 0;
    }
    return kept;
}

void
sq_relay_hold (sq_relay_t *self, uint8_t *data, size_t size)
{
    free (self->held);
    self->held = data;
    self->held_size = size;
    self->held_done = 0;
}

size_t
sq_relay_held (const sq_relay_t *self)
{
    return self->held_size - self->held_done + self->piped;
}

uint64_t
sq_relay_take_moved (sq_relay_t *self)
{
    uint64_t moved = self->moved;
    self->moved = 0;
    return moved;
}

static bool
s_would_block (void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

//  Writes to the sink; returns the bytes taken (0 when it would block,
//  which clears the sink's flag, as does a short write), or -1 on failure
static ssize_t
s_write (sq_relay_t *self, const uint8_t *data, size_t size)
{
    ssize_t wrote;
    do
        wrote = self->io->write (self->ctx, data, size);
    while (wrote < 0 && errno == EINTR);
    if (wrote < 0 && !s_would_block ()) {
        self->error = errno;
        return -1;
    }
    if (wrote < (ssize_t) size)
        self->sink->writable = false;
    if (wrote < 0)
        return 0;
    self->moved += (uint64_t) wrote;
    return wrote;
}

//  Offers what is held to the sink
static s_step_t
s_flush_held (sq_relay_t *self)
{
    if (!self->sink->writable)
        return S_IDLE;
    ssize_t wrote = s_write (self, self->held + self->held_done,
                             self->held_size - self->held_done);
    if (wrote < 0)
        return S_SINK_FAILED;
    self->held_done += (size_t) wrote;
    if (self->held_done == self->held_size) {
        free (self->held);
        self->held = NULL;
        self->held_size = self->held_done = 0;
    }
    return wrote > 0? S_PROGRESS: S_IDLE;
}

//  The source ended and everything before its end was delivered: the
//  sink learns it
static s_step_t
s_pass_end (sq_relay_t *self)
{
    if (self->io->shutdown (self->ctx) != 0 && errno != ENOTCONN) {
        self->error = errno;
        return S_SINK_FAILED;
    }
    self->done = true;
    return S_DONE;
}

//  Keeps what the sink did not take of a read
static s_step_t
s_hold_rest (sq_relay_t *self, const uint8_t *data, size_t size)
{
    self->held = malloc (size);
    if (!self->held) {
        self->error = ENOMEM;
        return S_SINK_FAILED;
    }
    memcpy (self->held, data, size);
    self->held_size = size;
    self->held_done = 0;
    return S_PROGRESS;
}

//  After full reads of splice_after bytes in a row, with nothing held,
//  the relay goes on through a pipe if io has one to give
static void
s_take_pipe (sq_relay_t *self)
{
    if (!self->splice_after || self->held || self->full_run < self->splice_after)
        return;
    self->pipe_size = self->io->pipe_get (self->ctx);
    self->piped = 0;
    self->pipe_stuck = false;
}

//  One read into scratch and its write to the sink
static s_step_t
s_copy_read (sq_relay_t *self, uint8_t *scratch, size_t scratch_size, size_t *taken)
{
    ssize_t got;
    do
        got = self->io->read (self->ctx, scratch, scratch_size);
    while (got < 0 && errno == EINTR);
    if (got < 0 && s_would_block ()) {
        self->source->readable = false;
        return S_IDLE;
    }
    if (got < 0) {
        self->error = errno;
        return S_SOURCE_FAILED;
    }
    if (got == 0) {
        self->ended = true;
        return S_PROGRESS;
    }
    *taken += (size_t) got;
    //  A short read emptied the source: its next bytes bring an edge
    if ((size_t) got < scratch_size) {
        self->source->readable = self->source->hangup;
        self->full_run = 0;
    }
    else
        self->full_run += (size_t) got;
    ssize_t wrote = self->sink->writable? s_write (self, scratch, (size_t) got): 0;
    if (wrote < 0)
        return S_SINK_FAILED;
    if (wrote < got)
        return s_hold_rest (self, scratch + wrote, (size_t) (got - wrote));
    s_take_pipe (self);
    return S_PROGRESS;
}

//  One step of copying: what is held first, then the end, then a read
static s_step_t
s_copy_step (sq_relay_t *self, uint8_t *scratch, size_t scratch_size, size_t budget,
             size_t *taken, bool may_read)
{
    if (self->held)
        return s_flush_held (self);
    if (self->ended)
        return s_pass_end (self);
    if (!may_read || !self->source->readable)
        return S_IDLE;
    if (*taken >= budget)
        return S_BUDGET;
    return s_copy_read (self, scratch, scratch_size, taken);
}

//  The pipe into the sink, until the sink would block
static s_step_t
s_splice_out (sq_relay_t *self)
{
    if (!self->piped || !self->sink->writable)
        return S_IDLE;
    ssize_t sent;
    do
        sent = self->io->splice_out (self->ctx, self->piped);
    while (sent < 0 && errno == EINTR);
    if (sent < 0 && s_would_block ()) {
        self->sink->writable = false;
        return S_IDLE;
    }
    if (sent <= 0) {
        self->error = sent < 0? errno: EPIPE;
        return S_SINK_FAILED;
    }
    self->piped -= (size_t) sent;
    self->moved += (uint64_t) sent;
    self->pipe_stuck = false;
    return S_PROGRESS;
}

//  The source into the pipe, while the pipe has room
static s_step_t
s_splice_in (sq_relay_t *self, size_t budget, size_t *taken)
{
    if (*taken >= budget)
        return S_BUDGET;
    ssize_t got;
    do
        got = self->io->splice_in (self->ctx, self->pipe_size - self->piped);
    while (got < 0 && errno == EINTR);
    if (got < 0 && s_would_block ()) {
        //  An empty socket, or a full pipe: only an empty pipe tells
        if (self->piped == 0)
            self->source->readable = false;
        else
            self->pipe_stuck = true;
        return S_IDLE;
    }
    if (got < 0) {
        self->error = errno;
        return S_SOURCE_FAILED;
    }
    if (got == 0)
        self->ended = true;
    self->piped += (size_t) got;
    *taken += (size_t) got;
    return S_PROGRESS;
}

//  Gives the pipe back once it is empty and the source has nothing to read
static void
s_leave_pipe (sq_relay_t *self, bool may_read)
{
    if (self->piped == 0 && (!may_read || self->ended || !self->source->readable)) {
        self->io->pipe_put (self->ctx);
        self->pipe_size = 0;
        self->full_run = 0;
    }
}

//  One step through the pipe: out to the sink, the end, in from the source
static s_step_t
s_pipe_step (sq_relay_t *self, size_t budget, size_t *taken, bool may_read)
{
    s_step_t out = s_splice_out (self);
    if (out != S_IDLE && out != S_PROGRESS)
        return out;
    if (self->ended && !self->piped) {
        s_leave_pipe (self, may_read);
        return s_pass_end (self);
    }
    s_step_t in = S_IDLE;
    if (may_read && self->source->readable && !self->ended && !self->pipe_stuck
    &&  self->piped < self->pipe_size)
        in = s_splice_in (self, budget, taken);
    if (in == S_SOURCE_FAILED || in == S_BUDGET)
        return in;
    if (out == S_PROGRESS || in == S_PROGRESS)
        return S_PROGRESS;
    s_leave_pipe (self, may_read);
    return S_IDLE;
}

sq_relay_result_t
sq_relay_pump (sq_relay_t *self, uint8_t *scratch, size_t scratch_size, size_t budget,
               bool may_read)
{
    if (self->done)
        return SQ_RELAY_DONE;
    size_t taken = 0;
    while (true) {
        s_step_t step = self->pipe_size? s_pipe_step (self, budget, &taken, may_read)
                                       : s_copy_step (self, scratch, scratch_size, budget,
                                                      &taken, may_read);
        switch (step) {
            case S_PROGRESS:        continue;
            case S_IDLE:            return SQ_RELAY_IDLE;
            case S_BUDGET:          return SQ_RELAY_MORE;
            case S_DONE:            return SQ_RELAY_DONE;
            case S_SOURCE_FAILED:   return SQ_RELAY_SOURCE_FAILED;
            case S_SINK_FAILED:     return SQ_RELAY_SINK_FAILED;
        }
    }
}
