/*  =========================================================================
    sq_dict - a hash map from strings to pointers

    Lookups, inserts and deletes are O(1) on average; the table doubles as
    it fills. Keys are copied; items belong to the caller.
    =========================================================================
*/
#ifndef SQ_DICT_H_INCLUDED
#define SQ_DICT_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>

typedef struct sq_dict sq_dict_t;

sq_dict_t *sq_dict_new (void);

//  Frees the map; calls destructor (when not NULL) on every item left
void sq_dict_destroy (sq_dict_t **self_p, void (*destructor) (void *item));

//  The item under key, or NULL
void *sq_dict_lookup (sq_dict_t *self, const char *key);

//  Sets key to item, replacing what was there; false when out of memory
bool sq_dict_insert (sq_dict_t *self, const char *key, void *item);

//  Removes key and returns its item, or NULL when absent
void *sq_dict_delete (sq_dict_t *self, const char *key);

size_t sq_dict_size (sq_dict_t *self);

//  Calls fn on every entry, in no particular order; fn must not change the map
void sq_dict_each (sq_dict_t *self,
                   void (*fn) (const char *key, void *item, void *argument),
                   void *argument);

//  Calls fn on every entry and removes those for which it returns false
//  (fn frees what it drops); fn must not otherwise change the map
void sq_dict_retain (sq_dict_t *self,
                     bool (*fn) (const char *key, void *item, void *argument),
                     void *argument);

#endif
