/*  =========================================================================
    sq_tally - counts by string key, such as queued clients per IP

    A key has a record only while its count is above zero.
    =========================================================================
*/
#ifndef SQ_TALLY_H_INCLUDED
#define SQ_TALLY_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>

typedef struct sq_tally sq_tally_t;

sq_tally_t *sq_tally_new (void);
void sq_tally_destroy (sq_tally_t **self_p);

//  The count of key (0 when it has none)
size_t sq_tally_get (sq_tally_t *self, const char *key);

//  Adds one to key; false when out of memory (nothing counted)
bool sq_tally_up (sq_tally_t *self, const char *key);

//  Takes one from key (nothing when it has none)
void sq_tally_down (sq_tally_t *self, const char *key);

//  Keys with a count
size_t sq_tally_keys (sq_tally_t *self);

#endif
