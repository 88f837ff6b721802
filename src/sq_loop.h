/*  =========================================================================
    sq_loop - a small event loop: file events on epoll, timers, and hooks

    One thread runs the loop. Each turn runs the hooks (work to do before
    sleeping; a hook that still has work keeps the loop from sleeping),
    waits on epoll until a watched descriptor is ready or the first timer is
    due, calls the handler of each ready descriptor, then runs the timers
    that are due. Handlers may watch, unwatch and close any descriptor,
    their own included, and add or remove timers, at any time.

    A descriptor is watched level-triggered (its handler is called on every
    turn while it is ready) unless SQ_LOOP_EDGE is in its mask: then the
    handler is told once per change, and the owner keeps track of what it
    has not yet read or written. A handler can be called for a descriptor
    that was closed and whose number came back (an event fired in the same
    turn): handlers must treat a readiness that is not there as harmless.
    =========================================================================
*/
#ifndef SQ_LOOP_H_INCLUDED
#define SQ_LOOP_H_INCLUDED

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define SQ_LOOP_READABLE    1
#define SQ_LOOP_WRITABLE    2
#define SQ_LOOP_EDGE        4   //  In a mask: edge-triggered
#define SQ_LOOP_ERROR       8   //  Fired only: an error or hang-up (with
                                //  READABLE and WRITABLE, so that the owner
                                //  reads or writes, and learns which)
#define SQ_LOOP_HANGUP     16   //  Fired only: the peer ended its stream or
                                //  the connection failed; reads reach that
                                //  end with no further event, even after a
                                //  short read

typedef struct sq_loop sq_loop_t;

//  A watched descriptor is ready: fired holds SQ_LOOP_READABLE,
//  SQ_LOOP_WRITABLE, SQ_LOOP_ERROR, SQ_LOOP_HANGUP
typedef void (sq_loop_file_fn) (sq_loop_t *loop, int fd, int fired, void *arg);

//  A timer is due; returns the milliseconds until it is due again, or -1
//  to disarm it (it stays, and sq_loop_timer_set can arm it again)
typedef int64_t (sq_loop_timer_fn) (sq_loop_t *loop, void *arg);

//  Runs before each wait; returns true when it has work left that cannot
//  wait for an event (the loop then polls without sleeping)
typedef bool (sq_loop_hook_fn) (sq_loop_t *loop, void *arg);

//  A new loop, or NULL (errno set) when epoll cannot be had
sq_loop_t *sq_loop_new (void);

//  Frees the loop; the descriptors it watched stay open
void sq_loop_destroy (sq_loop_t **self_p);

//  Watches fd for the events in mask (READABLE, WRITABLE, EDGE), replacing
//  what was watched before; mask 0 stops watching. Returns 0, or -1 with
//  errno set.
int sq_loop_watch (sq_loop_t *self, int fd, int mask, sq_loop_file_fn *fn, void *arg);

//  Stops watching fd (before closing it); safe if fd is not watched
void sq_loop_unwatch (sq_loop_t *self, int fd);

//  The mask fd is watched with, or 0
int sq_loop_mask (sq_loop_t *self, int fd);

//  A timer due in delay_ms (-1: disarmed until sq_loop_timer_set). Returns
//  its id (> 0), or 0 when out of memory.
int sq_loop_timer_new (sq_loop_t *self, int64_t delay_ms, sq_loop_timer_fn *fn, void *arg);

//  Arms the timer delay_ms from now, or disarms it (-1)
void sq_loop_timer_set (sq_loop_t *self, int id, int64_t delay_ms);

//  Removes the timer
void sq_loop_timer_destroy (sq_loop_t *self, int id);

//  Adds a hook, run before each wait in the order hooks were added; false
//  when there is no room (SQ_LOOP_HOOKS_MAX)
#define SQ_LOOP_HOOKS_MAX 160
bool sq_loop_hook_add (sq_loop_t *self, sq_loop_hook_fn *fn, void *arg);

//  Removes the hook of that function and argument, if it is there (not
//  from inside a hook)
void sq_loop_hook_remove (sq_loop_t *self, sq_loop_hook_fn *fn, void *arg);

//  The time of the current turn (sq_clock_now when it woke)
int64_t sq_loop_now (sq_loop_t *self);

//  Yields the CPU before sleeping after a turn that moved fewer than bytes
//  (but some); 0, the default, never yields
void sq_loop_set_yield_below (sq_loop_t *self, size_t bytes);

//  A handler or hook moved bytes this turn
void sq_loop_moved (sq_loop_t *self, size_t bytes);

//  How many times the loop yielded since it was made
uint64_t sq_loop_yields (sq_loop_t *self);

//  Tells the loop how long a yield kept it off the CPU, and whether events
//  were waiting right after it; the loop tells itself of its own yields,
//  and a test may call this too. It judges them 64 at a time:
//  - When they took 1 ms or more each on average, they ran time slices of
//    a process that computes on this CPU, and a yield there delays the
//    proxy's next bytes by a slice: the loop stops yielding for a second,
//    twice as long each time the next 64 are as slow again, up to 32 s.
//    64 quicker ones bring the next rest back to a second.
//  - Otherwise, when fewer than 8 of them found events waiting, the peers
//    answer one message at a time and a yield only delays the loop's
//    sleep: the loop stops yielding for a second, then looks again.
void sq_loop_yield_took (sq_loop_t *self, int64_t elapsed_us, bool found);

//  How many times the loop stopped yielding for a while
uint64_t sq_loop_yield_rests (sq_loop_t *self);

//  The mean time away from the CPU at which yields are judged slow (1 000
//  us unless set); 0 never judges them slow. A test of the other judgement
//  sets 0, so that the machine's other processes cannot decide it.
void sq_loop_set_yield_slow_us (sq_loop_t *self, int64_t mean_us);

//  One turn: hooks, a wait of at most max_wait_ms (-1: until an event or a
//  timer), handlers, timers. A signal that interrupts the wait ends the
//  turn early.
void sq_loop_once (sq_loop_t *self, int64_t max_wait_ms);

#endif
