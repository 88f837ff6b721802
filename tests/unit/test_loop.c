/*  =========================================================================
    Unit tests of sq_loop's yield: the loop gives up the CPU once before it
    may sleep, after a turn that moved fewer bytes than its threshold but
    some, and never otherwise; it stops for a while when its yields keep
    it off the CPU long, or when too few of them find events waiting after
    them. Driven through a real pipe whose handler says what it moved,
    through hooks, and by telling the loop how long yields took and what
    they found.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_loop.h"
#include <unistd.h>
#include <fcntl.h>

SQ_TEST_DEFINE

//  What a pipe's read end moves when readable
typedef struct {
    int fds [2];
    size_t reads;
} s_pipe_t;

//  Reads what the pipe holds and tells the loop how much
static void
s_on_readable (sq_loop_t *loop, int fd, int fired, void *arg)
{
    (void) fired;
    s_pipe_t *pipe_ = arg;
    char data [4096];
    ssize_t got = read (fd, data, sizeof data);
    if (got > 0) {
        pipe_->reads++;
        sq_loop_moved (loop, (size_t) got);
    }
}

//  Makes a non-blocking pipe whose read end the loop watches
static void
s_pipe_watch (sq_loop_t *loop, s_pipe_t *pipe_)
{
    pipe_->reads = 0;
    SQ_CHECK_EQ (pipe2 (pipe_->fds, O_NONBLOCK | O_CLOEXEC), 0);
    SQ_CHECK_EQ (sq_loop_watch (loop, pipe_->fds [0], SQ_LOOP_READABLE, s_on_readable, pipe_), 0);
}

//  Unwatches and closes both ends
static void
s_pipe_close (sq_loop_t *loop, s_pipe_t *pipe_)
{
    sq_loop_unwatch (loop, pipe_->fds [0]);
    close (pipe_->fds [0]);
    close (pipe_->fds [1]);
}

//  A hook that keeps the loop from sleeping while *arg is true
static bool
s_busy_hook (sq_loop_t *loop, void *arg)
{
    (void) loop;
    return *(bool *) arg;
}

//  One turn that may sleep up to 1 ms
static void
s_turn (sq_loop_t *loop)
{
    sq_loop_once (loop, 1);
}

static void
test_never_by_default (void)
{
    sq_loop_t *loop = sq_loop_new ();
    SQ_CHECK (loop);
    sq_loop_moved (loop, 100);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);
    sq_loop_destroy (&loop);
}

static void
test_small_turns_yield (void)
{
    sq_loop_t *loop = sq_loop_new ();
    sq_loop_set_yield_below (loop, 64 * 1024);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);     //  Nothing moved
    sq_loop_moved (loop, 1);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 1);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 1);     //  The count starts again
    sq_loop_moved (loop, 64 * 1024 - 1);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 2);
    sq_loop_destroy (&loop);
}

static void
test_large_turns_do_not (void)
{
    sq_loop_t *loop = sq_loop_new ();
    sq_loop_set_yield_below (loop, 64 * 1024);
    sq_loop_moved (loop, 64 * 1024);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);
    //  What a turn moved adds up
    sq_loop_moved (loop, 40000);
    sq_loop_moved (loop, 40000);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);
    sq_loop_set_yield_below (loop, 0);
    sq_loop_moved (loop, 10);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);
    sq_loop_destroy (&loop);
}

//  A turn that does not sleep does not yield; its bytes count towards the
//  next turn that may
static void
test_busy_turns_do_not (void)
{
    sq_loop_t *loop = sq_loop_new ();
    sq_loop_set_yield_below (loop, 64 * 1024);
    bool busy = true;
    SQ_CHECK (sq_loop_hook_add (loop, s_busy_hook, &busy));
    sq_loop_moved (loop, 100);
    s_turn (loop);
    sq_loop_moved (loop, 100);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);
    sq_loop_moved (loop, 70000);
    s_turn (loop);
    busy = false;
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);     //  70 200 since the last sleep
    sq_loop_moved (loop, 100);
    busy = true;
    s_turn (loop);
    busy = false;
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 1);
    sq_loop_destroy (&loop);
}

//  Bytes a handler moves make the next turn yield, once
static void
test_handler_moves (void)
{
    sq_loop_t *loop = sq_loop_new ();
    sq_loop_set_yield_below (loop, 64 * 1024);
    s_pipe_t pipe_;
    s_pipe_watch (loop, &pipe_);
    SQ_CHECK_EQ (write (pipe_.fds [1], "hello", 5), 5);
    while (pipe_.reads == 0)
        s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 1);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 1);
    s_pipe_close (loop, &pipe_);
    sq_loop_destroy (&loop);
}

//  Tells the loop that count yields took elapsed_us each, and whether
//  they found events after them
static void
s_yields_took (sq_loop_t *loop, int count, int64_t elapsed_us, bool found)
{
    for (int index = 0; index < count; index++)
        sq_loop_yield_took (loop, elapsed_us, found);
}

//  Whether a turn after a small one yields
static bool
s_small_turn_yields (sq_loop_t *loop)
{
    uint64_t before = sq_loop_yields (loop);
    sq_loop_moved (loop, 100);
    s_turn (loop);
    return sq_loop_yields (loop) == before + 1;
}

//  64 yields of 1 ms or more on average stop the yield for a second, the
//  next slow 64 for two; 64 that are quicker change nothing. The turns
//  here yield for real and count, but a test makes fewer than 64 of them.
static void
test_slow_yields_rest (void)
{
    sq_loop_t *loop = sq_loop_new ();
    SQ_CHECK (loop);
    sq_loop_set_yield_below (loop, 64 * 1024);
    s_yields_took (loop, 64, 999, true);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 0);
    SQ_CHECK (s_small_turn_yields (loop));
    //  Completes that window of 64 (the turn's own yield was the first)
    s_yields_took (loop, 63, 2000, true);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 1);
    SQ_CHECK (!s_small_turn_yields (loop));
    usleep (1100 * 1000);
    SQ_CHECK (s_small_turn_yields (loop));      //  The second is over
    s_yields_took (loop, 63, 2000, true);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 2);
    usleep (1100 * 1000);
    SQ_CHECK (!s_small_turn_yields (loop));     //  Two seconds this time
    sq_loop_destroy (&loop);
}

//  A loop that yields after turns under 64 KiB and judges its yields by
//  what they found alone, not by how long they took: with other processes
//  on the machine a real yield can take many milliseconds
static sq_loop_t *
s_loop_judging_found (void)
{
    sq_loop_t *loop = sq_loop_new ();
    SQ_CHECK (loop);
    sq_loop_set_yield_below (loop, 64 * 1024);
    sq_loop_set_yield_slow_us (loop, 0);
    return loop;
}

//  Fewer than 8 yields in 64 that found events stop the yield for a
//  second, and the next such window for a second again; 8 change nothing.
//  Each turn here yields for real, in a loop that watches nothing, so its
//  yield finds nothing and counts as one of the window.
static void
test_yields_finding_nothing_rest (void)
{
    sq_loop_t *loop = s_loop_judging_found ();
    SQ_CHECK (s_small_turn_yields (loop));
    s_yields_took (loop, 8, 10, true);
    s_yields_took (loop, 55, 10, false);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 0);
    SQ_CHECK (s_small_turn_yields (loop));
    s_yields_took (loop, 7, 10, true);
    s_yields_took (loop, 56, 10, false);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 1);
    SQ_CHECK (!s_small_turn_yields (loop));
    usleep (1100 * 1000);
    SQ_CHECK (s_small_turn_yields (loop));
    s_yields_took (loop, 63, 10, false);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 2);
    usleep (1100 * 1000);
    SQ_CHECK (s_small_turn_yields (loop));      //  A second again, not two
    sq_loop_destroy (&loop);
}

//  Turns of a pipe: writes size bytes, then turns until the handler has
//  read them all (it reads 4 096 at most at a time)
static void
s_pipe_turns (sq_loop_t *loop, s_pipe_t *pipe_, size_t size)
{
    char data [8192] = { 0 };
    SQ_CHECK_EQ (write (pipe_->fds [1], data, size), (ssize_t) size);
    size_t reads = pipe_->reads + (size + 4095) / 4096;
    while (pipe_->reads < reads)
        s_turn (loop);
    s_turn (loop);              //  The yield after the last read
}

//  A real pipe: when bytes wait after a yield (a write of 5 000 bytes is
//  two reads, the second after the yield of the first), the loop keeps
//  yielding; when a write is one read and nothing follows, the window's
//  yields find nothing and the loop stops yielding.
static void
test_found_bytes_keep_yielding (void)
{
    sq_loop_t *loop = s_loop_judging_found ();
    s_pipe_t pipe_;
    s_pipe_watch (loop, &pipe_);
    while (sq_loop_yields (loop) < 128)
        s_pipe_turns (loop, &pipe_, 5000);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 0);
    while (sq_loop_yields (loop) < 256 && sq_loop_yield_rests (loop) == 0)
        s_pipe_turns (loop, &pipe_, 100);
    SQ_CHECK_EQ (sq_loop_yield_rests (loop), 1);
    SQ_CHECK (sq_loop_yields (loop) <= 192);    //  Within a window of 64
    uint64_t yields = sq_loop_yields (loop);
    s_pipe_turns (loop, &pipe_, 100);
    SQ_CHECK_EQ (sq_loop_yields (loop), yields);
    s_pipe_close (loop, &pipe_);
    sq_loop_destroy (&loop);
}

int
main (void)
{
    SQ_RUN (test_never_by_default);
    SQ_RUN (test_small_turns_yield);
    SQ_RUN (test_large_turns_do_not);
    SQ_RUN (test_busy_turns_do_not);
    SQ_RUN (test_handler_moves);
    SQ_RUN (test_slow_yields_rest);
    SQ_RUN (test_yields_finding_nothing_rest);
    SQ_RUN (test_found_bytes_keep_yielding);
    return sq_test_summary ();
}
