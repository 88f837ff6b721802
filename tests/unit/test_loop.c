/*  =========================================================================
    Unit tests of sq_loop's yield: the loop gives up the CPU once before it
    may sleep, after a turn that moved fewer bytes than its threshold but
    some, and never otherwise. Driven through a real pipe whose handler
    says what it moved, and through hooks.
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
    s_pipe_t pipe_ = { .reads = 0 };
    SQ_CHECK_EQ (pipe2 (pipe_.fds, O_NONBLOCK | O_CLOEXEC), 0);
    SQ_CHECK_EQ (sq_loop_watch (loop, pipe_.fds [0], SQ_LOOP_READABLE, s_on_readable, &pipe_), 0);
    SQ_CHECK_EQ (write (pipe_.fds [1], "hello", 5), 5);
    while (pipe_.reads == 0)
        s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 0);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 1);
    s_turn (loop);
    SQ_CHECK_EQ (sq_loop_yields (loop), 1);
    sq_loop_unwatch (loop, pipe_.fds [0]);
    close (pipe_.fds [0]);
    close (pipe_.fds [1]);
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
    return sq_test_summary ();
}
