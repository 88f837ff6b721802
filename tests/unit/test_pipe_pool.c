/*  =========================================================================
    Unit tests of sq_pipe_pool: real pipes, lent, given back, discarded,
    and what the pool counts of them
    =========================================================================
*/
#include "sq_test.h"
#include "sq_pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

SQ_TEST_DEFINE

//  A pipe is made when first asked for, lent, kept when given back empty,
//  and lent again; the pool counts what it holds and what it lent
static void
test_lends_and_keeps (void)
{
    sq_pipe_pool_t *pool = sq_pipe_pool_new (2, 64 * 1024);
    SQ_CHECK (pool);
    SQ_CHECK_EQ (sq_pipe_pool_count (pool), 0);
    sq_pipe_t *pipe = sq_pipe_pool_take (pool);
    SQ_CHECK (pipe);
    SQ_CHECK (pipe->size >= 4096);
    SQ_CHECK (fcntl (pipe->read_fd, F_GETFL) & O_NONBLOCK);
    SQ_CHECK_EQ (write (pipe->write_fd, "ab", 2), 2);
    char data [2];
    SQ_CHECK_EQ (read (pipe->read_fd, data, 2), 2);
    SQ_CHECK_EQ (sq_pipe_pool_count (pool), 1);
    SQ_CHECK_EQ (sq_pipe_pool_lent (pool), 1);
    sq_pipe_pool_give (pool, pipe);
    SQ_CHECK_EQ (sq_pipe_pool_count (pool), 1);
    SQ_CHECK_EQ (sq_pipe_pool_lent (pool), 0);
    SQ_CHECK_EQ (sq_pipe_pool_idle (pool), 1);
    SQ_CHECK (sq_pipe_pool_take (pool) == pipe);
    sq_pipe_pool_give (pool, pipe);
    SQ_CHECK_EQ (sq_pipe_pool_refusals (pool), 0);
    sq_pipe_pool_destroy (&pool);
    SQ_CHECK (pool == NULL);
}

//  With every pipe lent, a take has none and is counted; a pipe closed
//  with bytes in it makes room for a new one
static void
test_refuses_past_its_max (void)
{
    sq_pipe_pool_t *pool = sq_pipe_pool_new (2, 64 * 1024);
    sq_pipe_t *first = sq_pipe_pool_take (pool);
    sq_pipe_t *second = sq_pipe_pool_take (pool);
    SQ_CHECK (first && second && first != second);
    SQ_CHECK (sq_pipe_pool_take (pool) == NULL);
    SQ_CHECK (sq_pipe_pool_take (pool) == NULL);
    SQ_CHECK_EQ (sq_pipe_pool_refusals (pool), 2);
    SQ_CHECK_EQ (sq_pipe_pool_lent (pool), 2);
    SQ_CHECK_EQ (write (first->write_fd, "left", 4), 4);
    sq_pipe_pool_discard (pool, first);
    SQ_CHECK_EQ (sq_pipe_pool_count (pool), 1);
    SQ_CHECK_EQ (sq_pipe_pool_lent (pool), 1);
    sq_pipe_t *third = sq_pipe_pool_take (pool);
    SQ_CHECK (third);
    SQ_CHECK_EQ (read (third->read_fd, (char [4]) { 0 }, 4), -1);      //  Empty
    SQ_CHECK_EQ (sq_pipe_pool_refusals (pool), 2);
    sq_pipe_pool_give (pool, second);
    sq_pipe_pool_give (pool, third);
    SQ_CHECK_EQ (sq_pipe_pool_lent (pool), 0);
    SQ_CHECK_EQ (sq_pipe_pool_count (pool), 2);
    sq_pipe_pool_destroy (&pool);
}

int
main (void)
{
    SQ_RUN (test_lends_and_keeps);
    SQ_RUN (test_refuses_past_its_max);
    return sq_test_summary ();
}
