/*  =========================================================================
    sq_json - a small JSON writer for control replies

    Values are written in order; inside an object each call names its key,
    inside an array the key is NULL. Commas and escaping are handled here.
    =========================================================================
*/
#ifndef SQ_JSON_H_INCLUDED
#define SQ_JSON_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SQ_JSON_DEPTH_MAX 16

typedef struct {
    char *data;
    size_t size;
    size_t capacity;
    bool failed;                        //  Out of memory or too deep
    int depth;
    bool first [SQ_JSON_DEPTH_MAX];     //  No value yet at this depth
} sq_json_t;

void sq_json_init (sq_json_t *self);
void sq_json_free (sq_json_t *self);

void sq_json_object_open (sq_json_t *self, const char *key);
void sq_json_object_close (sq_json_t *self);
void sq_json_array_open (sq_json_t *self, const char *key);
void sq_json_array_close (sq_json_t *self);
void sq_json_uint (sq_json_t *self, const char *key, uint64_t value);
void sq_json_double (sq_json_t *self, const char *key, double value);
void sq_json_string (sq_json_t *self, const char *key, const char *value);
void sq_json_bool (sq_json_t *self, const char *key, bool value);
void sq_json_null (sq_json_t *self, const char *key);

//  The text written, NUL-terminated, now owned by the caller; NULL if the
//  writer failed. The writer is empty afterwards.
char *sq_json_take (sq_json_t *self);

#endif
