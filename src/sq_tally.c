/*  =========================================================================
    sq_tally - counts by string key, such as queued clients per IP
    =========================================================================
*/
#include <stdlib.h>
#include "sq_tally.h"
#include "sq_dict.h"

struct sq_tally {
    sq_dict_t *counts;          //  key -> size_t
};

sq_tally_t *
sq_tally_new (void)
{
    sq_tally_t *self = calloc (1, sizeof *self);
    if (self)
        self->counts = sq_dict_new ();
    if (self && !self->counts)
        free (self), self = NULL;
    return self;
}

void
sq_tally_destroy (sq_tally_t **self_p)
{
    sq_tally_t *self = *self_p;
    if (!self)
        return;
    sq_dict_destroy (&self->counts, free);
    free (self);
    *self_p = NULL;
}

size_t
sq_tally_get (sq_tally_t *self, const char *key)
{
    size_t *count = sq_dict_lookup (self->counts, key);
    return count? *count: 0;
}

bool
sq_tally_up (sq_tally_t *self, const char *key)
{
    size_t *count = sq_dict_lookup (self->counts, key);
    if (!count) {
        count = calloc (1, sizeof *count);
        if (!count || !sq_dict_insert (self->counts, key, count)) {
            free (count);
            return false;
        }
    }
    (*count)++;
    return true;
}

void
sq_tally_down (sq_tally_t *self, const char *key)
{
    size_t *count = sq_dict_lookup (self->counts, key);
    if (count && --*count == 0)
        free (sq_dict_delete (self->counts, key));
}

size_t
sq_tally_keys (sq_tally_t *self)
{
    return sq_dict_size (self->counts);
}
