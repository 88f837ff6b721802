/*  =========================================================================
    sq_bans - clients refused for a while after failed handshakes
    =========================================================================
*/
#include <stdlib.h>
#include "sq_bans.h"
#include "sq_dict.h"

typedef struct {
    unsigned failures;
    int64_t until_ms;
    int64_t length_ms;
} s_record_t;

struct sq_bans {
    sq_dict_t *records;         //  key -> s_record_t
};

sq_bans_t *
sq_bans_new (void)
{
    sq_bans_t *self = calloc (1, sizeof *self);
    if (self)
        self->records = sq_dict_new ();
    if (self && !self->records)
        free (self), self = NULL;
    return self;
}

void
sq_bans_destroy (sq_bans_t **self_p)
{
    sq_bans_t *self = *self_p;
    if (!self)
        return;
    sq_dict_destroy (&self->records, free);
    free (self);
    *self_p = NULL;
}

int64_t
sq_bans_fail (sq_bans_t *self, const char *key, int64_t base_ms, int64_t max_ms,
              int64_t now)
{
    if (base_ms <= 0)
        return 0;
    s_record_t *record = sq_dict_lookup (self->records, key);
    if (!record) {
        record = calloc (1, sizeof *record);
        if (!record || !sq_dict_insert (self->records, key, record)) {
            free (record);
            return 0;
        }
    }
    int64_t length = base_ms;
    for (unsigned index = 0; index < record->failures && length < max_ms; index++)
        length *= 2;
    if (length > max_ms)
        length = max_ms > base_ms? max_ms: base_ms;
    record->failures++;
    record->length_ms = length;
    record->until_ms = now + length;
    return length;
}

bool
sq_bans_refused (sq_bans_t *self, const char *key, int64_t now)
{
    s_record_t *record = sq_dict_lookup (self->records, key);
    return record && now < record->until_ms;
}

bool
sq_bans_clear (sq_bans_t *self, const char *key)
{
    s_record_t *record = sq_dict_delete (self->records, key);
    free (record);
    return record != NULL;
}

typedef struct {
    int64_t now;
    size_t count;
} s_count_t;

static void
s_count_active (const char *key, void *item, void *argument)
{
    (void) key;
    s_count_t *count = argument;
    count->count += count->now < ((s_record_t *) item)->until_ms;
}

size_t
sq_bans_active (sq_bans_t *self, int64_t now)
{
    s_count_t count = { now, 0 };
    sq_dict_each (self->records, s_count_active, &count);
    return count.count;
}

size_t
sq_bans_count (sq_bans_t *self)
{
    return sq_dict_size (self->records);
}

static bool
s_keep (const char *key, void *item, void *argument)
{
    (void) key;
    s_record_t *record = item;
    int64_t now = *(int64_t *) argument;
    if (now < record->until_ms + 2 * record->length_ms)
        return true;
    free (record);
    return false;
}

void
sq_bans_expire (sq_bans_t *self, int64_t now)
{
    sq_dict_retain (self->records, s_keep, &now);
}

typedef struct {
    void (*fn) (const sq_ban_t *ban, void *argument);
    void *argument;
} s_each_t;

static void
s_each (const char *key, void *item, void *argument)
{
    s_each_t *each = argument;
    const s_record_t *record = item;
    sq_ban_t ban = { key, record->failures, record->until_ms, record->length_ms };
    each->fn (&ban, each->argument);
}

void
sq_bans_each (sq_bans_t *self, void (*fn) (const sq_ban_t *ban, void *argument),
              void *argument)
{
    s_each_t each = { fn, argument };
    sq_dict_each (self->records, s_each, &each);
}
