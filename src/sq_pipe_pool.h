/*  =========================================================================
    sq_pipe_pool - a few pipes, kept for splice(2) and lent out

    A user may own only so many pipe pages (fs.pipe-user-pages-soft: about
    64 pipes of 1 MiB by default), so the pool makes at most `max` pipes,
    lends an empty one to whoever asks, and takes it back empty. A pipe
    that is not empty when its borrower ends is closed, not kept. When no
    pipe can be had, the borrower copies instead.
    =========================================================================
*/
#ifndef SQ_PIPE_POOL_H_INCLUDED
#define SQ_PIPE_POOL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int read_fd;
    int write_fd;
    size_t size;                //  Capacity in bytes
} sq_pipe_t;

typedef struct sq_pipe_pool sq_pipe_pool_t;

//  A pool of up to max pipes of about size bytes each (the kernel may
//  give less), made when first asked for; NULL when out of memory
sq_pipe_pool_t *sq_pipe_pool_new (size_t max, size_t size);

//  Closes every pipe the pool holds (lent ones are the borrowers' to
//  give back or close first)
void sq_pipe_pool_destroy (sq_pipe_pool_t **self_p);

//  An empty non-blocking pipe, or NULL when none can be had
sq_pipe_t *sq_pipe_pool_take (sq_pipe_pool_t *self);

//  Takes back an empty pipe
void sq_pipe_pool_give (sq_pipe_pool_t *self, sq_pipe_t *pipe);

//  Closes a pipe that still holds bytes
void sq_pipe_pool_discard (sq_pipe_pool_t *self, sq_pipe_t *pipe);

//  Pipes made and not closed, lent or not
size_t sq_pipe_pool_count (sq_pipe_pool_t *self);

//  Of those, the pipes lent out now, and those kept empty for the next
size_t sq_pipe_pool_lent (sq_pipe_pool_t *self);
size_t sq_pipe_pool_idle (sq_pipe_pool_t *self);

//  How many times sq_pipe_pool_take had none to give: every pipe lent,
//  or the kernel refused a new one
uint64_t sq_pipe_pool_refusals (sq_pipe_pool_t *self);

#endif
