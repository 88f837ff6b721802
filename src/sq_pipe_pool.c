/*  =========================================================================
    sq_pipe_pool - a few pipes, kept for splice(2) and lent out
    =========================================================================
*/
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include "sq_pipe_pool.h"

struct sq_pipe_pool {
    size_t max;
    size_t size;
    size_t count;               //  Made and not closed
    size_t idle;                //  Of those, in free []
    uint64_t refusals;          //  Takes that had none to give
    sq_pipe_t **free;
};

sq_pipe_pool_t *
sq_pipe_pool_new (size_t max, size_t size)
{
    sq_pipe_pool_t *self = calloc (1, sizeof *self);
    if (self)
        self->free = calloc (max? max: 1, sizeof (sq_pipe_t *));
    if (!self || !self->free) {
        free (self);
        return NULL;
    }
    self->max = max;
    self->size = size;
    return self;
}

static void
s_close (sq_pipe_t *pipe)
{
    close (pipe->read_fd);
    close (pipe->write_fd);
    free (pipe);
}

void
sq_pipe_pool_destroy (sq_pipe_pool_t **self_p)
{
    sq_pipe_pool_t *self = *self_p;
    if (!self)
        return;
    while (self->idle)
        s_close (self->free [--self->idle]);
    free (self->free);
    free (self);
    *self_p = NULL;
}

//  A new pipe of about the pool's size, or NULL
static sq_pipe_t *
s_make (sq_pipe_pool_t *self)
{
    int fds [2];
    sq_pipe_t *pipe = malloc (sizeof *pipe);
    if (!pipe || pipe2 (fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        free (pipe);
        return NULL;
    }
    //  Over the user's allowance the kernel refuses a larger pipe: it
    //  then keeps its default size
    fcntl (fds [1], F_SETPIPE_SZ, (int) self->size);
    int size = fcntl (fds [1], F_GETPIPE_SZ);
    *pipe = (sq_pipe_t) { fds [0], fds [1], size > 0? (size_t) size: 4096 };
    return pipe;
}

sq_pipe_t *
sq_pipe_pool_take (sq_pipe_pool_t *self)
{
    if (self->idle)
        return self->free [--self->idle];
    sq_pipe_t *pipe = self->count < self->max? s_make (self): NULL;
    if (pipe)
        self->count++;
    else
        self->refusals++;
    return pipe;
}

void
sq_pipe_pool_give (sq_pipe_pool_t *self, sq_pipe_t *pipe)
{
    self->free [self->idle++] = pipe;
}

void
sq_pipe_pool_discard (sq_pipe_pool_t *self, sq_pipe_t *pipe)
{
    s_close (pipe);
    self->count--;
}

size_t
sq_pipe_pool_count (sq_pipe_pool_t *self)
{
    return self->count;
}

size_t
sq_pipe_pool_lent (sq_pipe_pool_t *self)
{
    return self->count - self->idle;
}

size_t
sq_pipe_pool_idle (sq_pipe_pool_t *self)
{
    return self->idle;
}

uint64_t
sq_pipe_pool_refusals (sq_pipe_pool_t *self)
{
    return self->refusals;
}
