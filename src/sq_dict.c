/*  sq_dict - a hash map from strings to pointers  */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "sq_dict.h"

typedef struct s_entry {
    struct s_entry *next;
    void *item;
    char key [];
} s_entry_t;

struct sq_dict {
    s_entry_t **buckets;
    size_t bucket_count;        //  A power of two
    size_t size;
};

sq_dict_t *
sq_dict_new (void)
{
    sq_dict_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->bucket_count = 64;
    self->buckets = calloc (self->bucket_count, sizeof (s_entry_t *));
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    return self;
}

void
sq_dict_destroy (sq_dict_t **self_p, void (*destructor) (void *item))
{
    sq_dict_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->bucket_count; index++)
        while (self->buckets [index]) {
            s_entry_t *entry = self->buckets [index];
            self->buckets [index] = entry->next;
            if (destructor)
                destructor (entry->item);
            free (entry);
        }
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static size_t
s_hash (const char *key)
{
    uint64_t hash = 14695981039346656037ULL;
    for (; *key; key++)
        hash = (hash ^ (uint8_t) *key) * 1099511628211ULL;
    return (size_t) (hash ^ (hash >> 32));
}

static s_entry_t **
s_link (sq_dict_t *self, const char *key)
{
    s_entry_t **link = &self->buckets [s_hash (key) & (self->bucket_count - 1)];
    while (*link && strcmp ((*link)->key, key) != 0)
        link = &(*link)->next;
    return link;
}

void *
sq_dict_lookup (sq_dict_t *self, const char *key)
{
    s_entry_t *entry = *s_link (self, key);
    return entry? entry->item: NULL;
}

//  Doubles the buckets once there are more entries than buckets; keeps the
//  old size when memory is short (chains just get longer)
static void
s_grow (sq_dict_t *self)
{
    if (self->size < self->bucket_count)
        return;
    size_t count = self->bucket_count * 2;
    s_entry_t **buckets = calloc (count, sizeof (s_entry_t *));
    if (!buckets)
        return;
    for (size_t index = 0; index < self->bucket_count; index++)
        while (self->buckets [index]) {
            s_entry_t *entry = self->buckets [index];
            self->buckets [index] = entry->next;
            size_t target = s_hash (entry->key) & (count - 1);
            entry->next = buckets [target];
            buckets [target] = entry;
        }
    free (self->buckets);
    self->buckets = buckets;
    self->bucket_count = count;
}

bool
sq_dict_insert (sq_dict_t *self, const char *key, void *item)
{
    s_entry_t **link = s_link (self, key);
    if (*link) {
        (*link)->item = item;
        return true;
    }
    size_t key_size = strlen (key) + 1;
    s_entry_t *entry = malloc (sizeof *entry + key_size);
    if (!entry)
        return false;
    memcpy (entry->key, key, key_size);
    entry->item = item;
    entry->next = NULL;
    *link = entry;
    self->size++;
    s_grow (self);
    return true;
}

void *
sq_dict_delete (sq_dict_t *self, const char *key)
{
    s_entry_t **link = s_link (self, key);
    s_entry_t *entry = *link;
    if (!entry)
        return NULL;
    *link = entry->next;
    void *item = entry->item;
    free (entry);
    self->size--;
    return item;
}

size_t
sq_dict_size (sq_dict_t *self)
{
    return self->size;
}

void
sq_dict_each (sq_dict_t *self, void (*fn) (const char *key, void *item, void *argument),
              void *argument)
{
    for (size_t index = 0; index < self->bucket_count; index++)
        for (s_entry_t *entry = self->buckets [index]; entry; entry = entry->next)
            fn (entry->key, entry->item, argument);
}

void
sq_dict_retain (sq_dict_t *self, bool (*fn) (const char *key, void *item, void *argument),
                void *argument)
{
    for (size_t index = 0; index < self->bucket_count; index++) {
        s_entry_t **link = &self->buckets [index];
        while (*link) {
            s_entry_t *entry = *link;
            if (fn (entry->key, entry->item, argument))
                link = &entry->next;
            else {
                *link = entry->next;
                free (entry);
                self->size--;
            }
        }
    }
}
