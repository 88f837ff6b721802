/*  =========================================================================
    sq_loop - a small event loop: file events on epoll, timers, and hooks

    Descriptors index a table that grows as higher numbers come in, so a
    ready descriptor finds its handler in O(1). Timers are few (the core's,
    the metrics server's, an engine's), so a due timer is found by a pass
    over them.
    =========================================================================
*/
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sched.h>
#include "sq_loop.h"
#include "sq_clock.h"
#include "sq_log.h"

//  Events taken from the kernel per wait
#define S_FIRED_MAX 256
//  Yields whose mean time away from the CPU is judged together
#define S_YIELD_WINDOW 64
//  A mean this long, or longer, is time slices of a process that computes
//  on the proxy's CPU, not the short bursts of peers that the yield let run
//  (with the bench's peers the mean stays under 600 us, even at 64 KiB)
#define S_YIELD_SLOW_US 1000
//  The loop then stops yielding this long, twice as long each time the
//  next window is slow again, up to the most
#define S_YIELD_REST_MS 1000
#define S_YIELD_REST_MAX_MS 32000
//  Fewer yields than this in a window found events waiting right after
//  them: the peers answer one message at a time, there is no batch to
//  gather, and a yield only delays the loop's sleep (with one message in
//  flight, under 4 in 64 found any; with a window of them, most did). The
//  loop stops yielding for S_YIELD_REST_MS then, without doubling: looking
//  again costs a window of yields a second.
#define S_YIELD_FOUND_MIN 8

typedef struct {
    int mask;                   //  As watched; 0: not watched
    sq_loop_file_fn *fn;
    void *arg;
} s_file_t;

typedef struct {
    bool used;
    bool armed;
    int64_t due_ms;
    sq_loop_timer_fn *fn;
    void *arg;
} s_timer_t;

typedef struct {
    sq_loop_hook_fn *fn;
    void *arg;
} s_hook_t;

struct sq_loop {
    int epoll_fd;
    s_file_t *files;            //  By descriptor
    int files_size;
    s_timer_t *timers;          //  Id is index + 1
    int timers_size;
    s_hook_t hooks [SQ_LOOP_HOOKS_MAX];
    int hooks_count;
    int64_t now;
    size_t yield_below;         //  0: never yield
    size_t moved;               //  Bytes moved since the last wait that
                                //  could sleep
    uint64_t yields;
    int yield_count;            //  Yields in this window, their time, and
    int64_t yield_total_us;     //  how many found events right after
    int yield_found;
    int64_t yield_slow_us;      //  A mean this long is slow; 0: never
    int64_t yield_rest_ms;      //  The last rest's length; 0 after a window
                                //  that was not slow
    int64_t yield_rest_until;   //  No yield before this time
    uint64_t yield_rests;
    struct epoll_event fired [S_FIRED_MAX];
};

sq_loop_t *
sq_loop_new (void)
{
    sq_loop_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    if (self->epoll_fd < 0) {
        free (self);
        return NULL;
    }
    self->now = sq_clock_now ();
    self->yield_slow_us = S_YIELD_SLOW_US;
    return self;
}

void
sq_loop_destroy (sq_loop_t **self_p)
{
    sq_loop_t *self = *self_p;
    if (!self)
        return;
    close (self->epoll_fd);
    free (self->files);
    free (self->timers);
    free (self);
    *self_p = NULL;
}

//  Makes room for descriptor fd in the table; false when out of memory
static bool
s_files_reserve (sq_loop_t *self, int fd)
{
    if (fd < self->files_size)
        return true;
    int size = self->files_size? self->files_size: 64;
    while (size <= fd)
        size *= 2;
    s_file_t *files = realloc (self->files, (size_t) size * sizeof *files);
    if (!files)
        return false;
    memset (files + self->files_size, 0, (size_t) (size - self->files_size) * sizeof *files);
    self->files = files;
    self->files_size = size;
    return true;
}

static uint32_t
s_epoll_events (int mask)
{
    uint32_t events = 0;
    if (mask & SQ_LOOP_READABLE)
        events |= EPOLLIN | EPOLLRDHUP;
    if (mask & SQ_LOOP_WRITABLE)
        events |= EPOLLOUT;
    if (mask & SQ_LOOP_EDGE)
        events |= EPOLLET;
    return events;
}

int
sq_loop_watch (sq_loop_t *self, int fd, int mask, sq_loop_file_fn *fn, void *arg)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (mask == 0) {
        sq_loop_unwatch (self, fd);
        return 0;
    }
    if (!s_files_reserve (self, fd)) {
        errno = ENOMEM;
        return -1;
    }
    s_file_t *file = &self->files [fd];
    struct epoll_event event = { .events = s_epoll_events (mask), .data.fd = fd };
    int operation = file->mask? EPOLL_CTL_MOD: EPOLL_CTL_ADD;
    if (file->mask != mask && epoll_ctl (self->epoll_fd, operation, fd, &event) != 0)
        return -1;
    file->mask = mask;
    file->fn = fn;
    file->arg = arg;
    return 0;
}

void
sq_loop_unwatch (sq_loop_t *self, int fd)
{
    if (fd < 0 || fd >= self->files_size || !self->files [fd].mask)
        return;
    //  A descriptor closed already left epoll by itself
    epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    self->files [fd].mask = 0;
    self->files [fd].fn = NULL;
    self->files [fd].arg = NULL;
}

int
sq_loop_mask (sq_loop_t *self, int fd)
{
    return fd >= 0 && fd < self->files_size? self->files [fd].mask: 0;
}

int
sq_loop_timer_new (sq_loop_t *self, int64_t delay_ms, sq_loop_timer_fn *fn, void *arg)
{
    int index = 0;
    while (index < self->timers_size && self->timers [index].used)
        index++;
    if (index == self->timers_size) {
        int size = self->timers_size? self->timers_size * 2: 8;
        s_timer_t *timers = realloc (self->timers, (size_t) size * sizeof *timers);
        if (!timers)
            return 0;
        memset (timers + self->timers_size, 0,
                (size_t) (size - self->timers_size) * sizeof *timers);
        self->timers = timers;
        self->timers_size = size;
    }
    self->timers [index] = (s_timer_t) { .used = true, .fn = fn, .arg = arg };
    sq_loop_timer_set (self, index + 1, delay_ms);
    return index + 1;
}

void
sq_loop_timer_set (sq_loop_t *self, int id, int64_t delay_ms)
{
    if (id < 1 || id > self->timers_size || !self->timers [id - 1].used)
        return;
    s_timer_t *timer = &self->timers [id - 1];
    timer->armed = delay_ms >= 0;
    timer->due_ms = sq_clock_now () + (delay_ms > 0? delay_ms: 0);
}

void
sq_loop_timer_destroy (sq_loop_t *self, int id)
{
    if (id >= 1 && id <= self->timers_size)
        self->timers [id - 1].used = false;
}

bool
sq_loop_hook_add (sq_loop_t *self, sq_loop_hook_fn *fn, void *arg)
{
    if (self->hooks_count == SQ_LOOP_HOOKS_MAX)
        return false;
    self->hooks [self->hooks_count++] = (s_hook_t) { fn, arg };
    return true;
}

void
sq_loop_hook_remove (sq_loop_t *self, sq_loop_hook_fn *fn, void *arg)
{
    int kept = 0;
    for (int index = 0; index < self->hooks_count; index++)
        if (self->hooks [index].fn != fn || self->hooks [index].arg != arg)
            self->hooks [kept++] = self->hooks [index];
    self->hooks_count = kept;
}

int64_t
sq_loop_now (sq_loop_t *self)
{
    return self->now;
}

//  Milliseconds until the first armed timer, at most max_wait_ms (-1: no
//  bound)
static int
s_wait_ms (sq_loop_t *self, int64_t max_wait_ms)
{
    int64_t wait = max_wait_ms;
    int64_t now = sq_clock_now ();
    for (int index = 0; index < self->timers_size; index++) {
        const s_timer_t *timer = &self->timers [index];
        if (!timer->used || !timer->armed)
            continue;
        int64_t left = timer->due_ms > now? timer->due_ms - now: 0;
        if (wait < 0 || left < wait)
            wait = left;
    }
    return wait > 86400000? 86400000: (int) wait;
}

static int
s_fired_mask (uint32_t events)
{
    int fired = 0;
    if (events & (EPOLLIN | EPOLLRDHUP))
        fired |= SQ_LOOP_READABLE;
    if (events & EPOLLOUT)
        fired |= SQ_LOOP_WRITABLE;
    if (events & (EPOLLERR | EPOLLHUP))
        fired |= SQ_LOOP_READABLE | SQ_LOOP_WRITABLE | SQ_LOOP_ERROR;
    if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
        fired |= SQ_LOOP_HANGUP;
    return fired;
}

//  Calls the handler of each ready descriptor that is still watched
static void
s_dispatch (sq_loop_t *self, int count)
{
    for (int index = 0; index < count; index++) {
        int fd = self->fired [index].data.fd;
        if (fd >= self->files_size || !self->files [fd].mask)
            continue;           //  Unwatched by an earlier handler
        s_file_t *file = &self->files [fd];
        file->fn (self, fd, s_fired_mask (self->fired [index].events), file->arg);
    }
}

static void
s_run_timers (sq_loop_t *self)
{
    for (int index = 0; index < self->timers_size; index++) {
        s_timer_t *timer = &self->timers [index];
        if (!timer->used || !timer->armed || timer->due_ms > self->now)
            continue;
        int64_t again = timer->fn (self, timer->arg);
        //  The handler may have set or removed it
        timer = &self->timers [index];
        if (timer->used && timer->armed && timer->due_ms <= self->now)
            sq_loop_timer_set (self, index + 1, again);
    }
}

void
sq_loop_set_yield_below (sq_loop_t *self, size_t bytes)
{
    self->yield_below = bytes;
}

void
sq_loop_moved (sq_loop_t *self, size_t bytes)
{
    self->moved += bytes;
}

uint64_t
sq_loop_yields (sq_loop_t *self)
{
    return self->yields;
}

//  Stops yielding for rest_ms from now
static void
s_yield_rest (sq_loop_t *self, int64_t rest_ms)
{
    self->yield_rest_until = self->now + rest_ms;
    self->yield_rests++;
}

void
sq_loop_yield_took (sq_loop_t *self, int64_t elapsed_us, bool found)
{
    self->yield_total_us += elapsed_us;
    self->yield_found += found;
    if (++self->yield_count < S_YIELD_WINDOW)
        return;
    int64_t mean_us = self->yield_total_us / self->yield_count;
    int found_count = self->yield_found;
    self->yield_count = 0;
    self->yield_total_us = 0;
    self->yield_found = 0;
    if (self->yield_slow_us > 0 && mean_us >= self->yield_slow_us) {
        self->yield_rest_ms = self->yield_rest_ms? self->yield_rest_ms * 2: S_YIELD_REST_MS;
        if (self->yield_rest_ms > S_YIELD_REST_MAX_MS)
            self->yield_rest_ms = S_YIELD_REST_MAX_MS;
        s_yield_rest (self, self->yield_rest_ms);
        sq_debug ("%d yields gave the CPU away for %lld us each on average: a process"
                  " that computes shares it; not yielding for %lld ms", S_YIELD_WINDOW,
                  (long long) mean_us, (long long) self->yield_rest_ms);
        return;
    }
    self->yield_rest_ms = 0;
    if (found_count < S_YIELD_FOUND_MIN) {
        s_yield_rest (self, S_YIELD_REST_MS);
        sq_debug ("%d of %d yields found events after them: the peers answer one"
                  " message at a time; not yielding for %d ms", found_count,
                  S_YIELD_WINDOW, S_YIELD_REST_MS);
    }
}

uint64_t
sq_loop_yield_rests (sq_loop_t *self)
{
    return self->yield_rests;
}

void
sq_loop_set_yield_slow_us (sq_loop_t *self, int64_t mean_us)
{
    self->yield_slow_us = mean_us;
}

//  Before a wait that may sleep: yields once when the turn moved a little,
//  so that the peers it woke run before the loop looks for more; unless
//  the last yields showed that a process that computes shares the CPU, or
//  that nothing came while they ran. Returns how long the yield took, -1
//  without one.
static int64_t
s_yield_if_small (sq_loop_t *self)
{
    int64_t took_us = -1;
    if (self->moved > 0 && self->moved < self->yield_below
    &&  self->now >= self->yield_rest_until) {
        int64_t before_us = sq_clock_now_us ();
        sched_yield ();
        self->yields++;
        took_us = sq_clock_now_us () - before_us;
    }
    self->moved = 0;
    return took_us;
}

//  Waits up to wait ms for events; after a yield, first looks without
//  waiting, and tells the yield's account what it found
static int
s_wait (sq_loop_t *self, int wait)
{
    int64_t took_us = wait != 0? s_yield_if_small (self): -1;
    if (took_us >= 0) {
        int count = epoll_wait (self->epoll_fd, self->fired, S_FIRED_MAX, 0);
        sq_loop_yield_took (self, took_us, count > 0);
        if (count != 0)
            return count;
    }
    return epoll_wait (self->epoll_fd, self->fired, S_FIRED_MAX, wait);
}

void
sq_loop_once (sq_loop_t *self, int64_t max_wait_ms)
{
    self->now = sq_clock_now ();
    bool busy = false;
    for (int index = 0; index < self->hooks_count; index++)
        if (self->hooks [index].fn (self, self->hooks [index].arg))
            busy = true;
    int count = s_wait (self, busy? 0: s_wait_ms (self, max_wait_ms));
    if (count < 0 && errno != EINTR)
        sq_warning ("epoll_wait failed: %s", strerror (errno));
    self->now = sq_clock_now ();
    if (count > 0)
        s_dispatch (self, count);
    s_run_timers (self);
}
