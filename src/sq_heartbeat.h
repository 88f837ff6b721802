/*  =========================================================================
    sq_heartbeat - names that promised heartbeats, and when each is late

    A name that sends HEARTBEAT is watched from then on: it must send the
    next one within liveness x interval. A beat only moves a deadline later,
    so the earliest deadline seen at the last look is a safe time to look
    again: until then nothing can be late, and a tick costs nothing. Looking
    costs one pass over the watched names (not over connections).
    =========================================================================
*/
#ifndef SQ_HEARTBEAT_H_INCLUDED
#define SQ_HEARTBEAT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct sq_heartbeat sq_heartbeat_t;

sq_heartbeat_t *sq_heartbeat_new (void);
void sq_heartbeat_destroy (sq_heartbeat_t **self_p);

//  Records a beat: the name is late if nothing more comes by now + timeout.
//  False when out of memory.
bool sq_heartbeat_beat (sq_heartbeat_t *self, const char *name, int64_t timeout_ms,
                        int64_t now);

//  Takes one late name into `name` and stops watching it; false when none
bool sq_heartbeat_take_late (sq_heartbeat_t *self, int64_t now, char *name, size_t size);

//  When a name may next be late, or INT64_MAX
int64_t sq_heartbeat_next_due (sq_heartbeat_t *self);

//  Names watched
size_t sq_heartbeat_count (sq_heartbeat_t *self);

#endif
