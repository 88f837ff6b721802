/*  =========================================================================
    sq_bans - clients refused for a while after failed handshakes

    A key (a client's registered name, else its IP) that fails a handshake
    is banned for a base time, doubled with each further failure up to a
    maximum. A completed handshake under the key clears it. A record is
    forgotten once its ban has been over for twice its length, so a key
    that fails rarely starts afresh, and the table holds about as many keys
    as failed recently. Pure: times come from the caller.
    =========================================================================
*/
#ifndef SQ_BANS_H_INCLUDED
#define SQ_BANS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct sq_bans sq_bans_t;

//  One record, as sq_bans_each shows it
typedef struct {
    const char *key;
    unsigned failures;          //  Since the key last succeeded
    int64_t until_ms;           //  The ban lasts until then
    int64_t length_ms;          //  The length of the current ban
} sq_ban_t;

sq_bans_t *sq_bans_new (void);
void sq_bans_destroy (sq_bans_t **self_p);

//  A handshake failed under key: bans it for base_ms doubled once per
//  failure remembered, at most max_ms, from now. Returns the length of the
//  ban (0 when base_ms is 0: bans are off; or when out of memory).
int64_t sq_bans_fail (sq_bans_t *self, const char *key, int64_t base_ms, int64_t max_ms,
                      int64_t now);

//  True while key is banned
bool sq_bans_refused (sq_bans_t *self, const char *key, int64_t now);

//  Forgets key (a handshake completed, or UNBAN); false when it had no record
bool sq_bans_clear (sq_bans_t *self, const char *key);

//  Keys banned now
size_t sq_bans_active (sq_bans_t *self, int64_t now);

//  Records kept, banned now or remembered
size_t sq_bans_count (sq_bans_t *self);

//  Forgets the records that are due to be forgotten
void sq_bans_expire (sq_bans_t *self, int64_t now);

//  Calls fn on every record, in no particular order
void sq_bans_each (sq_bans_t *self, void (*fn) (const sq_ban_t *ban, void *argument),
                   void *argument);

#endif
