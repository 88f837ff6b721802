/*  sq_json - a small JSON writer  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_json.h"

void
sq_json_init (sq_json_t *self)
{
    memset (self, 0, sizeof *self);
    self->first [0] = true;
}

void
sq_json_free (sq_json_t *self)
{
    free (self->data);
    sq_json_init (self);
}

static void
s_append (sq_json_t *self, const char *text, size_t size)
{
    if (self->failed)
        return;
    if (self->size + size + 1 > self->capacity) {
        size_t capacity = self->capacity? self->capacity * 2: 256;
        while (capacity < self->size + size + 1)
            capacity *= 2;
        char *data = realloc (self->data, capacity);
        if (!data) {
            self->failed = true;
            return;
        }
        self->data = data;
        self->capacity = capacity;
    }
    memcpy (self->data + self->size, text, size);
    self->size += size;
    self->data [self->size] = 0;
}

static void
s_append_string (sq_json_t *self, const char *value)
{
    s_append (self, "\"", 1);
    for (const unsigned char *c = (const unsigned char *) value; *c; c++) {
        char escaped [8];
        if (*c == '"' || *c == '\\') {
            escaped [0] = '\\';
            escaped [1] = (char) *c;
            s_append (self, escaped, 2);
        }
        else
        if (*c < 0x20) {
            snprintf (escaped, sizeof escaped, "\\u%04x", *c);
            s_append (self, escaped, 6);
        }
        else
            s_append (self, (const char *) c, 1);
    }
    s_append (self, "\"", 1);
}

//  Writes the comma and the key that come before a value
static void
s_prefix (sq_json_t *self, const char *key)
{
    if (!self->first [self->depth])
        s_append (self, ",", 1);
    self->first [self->depth] = false;
    if (key) {
        s_append_string (self, key);
        s_append (self, ":", 1);
    }
}

static void
s_open (sq_json_t *self, const char *key, const char *bracket)
{
    s_prefix (self, key);
    s_append (self, bracket, 1);
    if (self->depth + 1 >= SQ_JSON_DEPTH_MAX) {
        self->failed = true;
        return;
    }
    self->first [++self->depth] = true;
}

static void
s_close (sq_json_t *self, const char *bracket)
{
    s_append (self, bracket, 1);
    if (self->depth > 0)
        self->depth--;
}

void
sq_json_object_open (sq_json_t *self, const char *key)
{
    s_open (self, key, "{");
}

void
sq_json_object_close (sq_json_t *self)
{
    s_close (self, "}");
}

void
sq_json_array_open (sq_json_t *self, const char *key)
{
    s_open (self, key, "[");
}

void
sq_json_array_close (sq_json_t *self)
{
    s_close (self, "]");
}

void
sq_json_uint (sq_json_t *self, const char *key, uint64_t value)
{
    char text [24];
    int size = snprintf (text, sizeof text, "%llu", (unsigned long long) value);
    s_prefix (self, key);
    s_append (self, text, (size_t) size);
}

void
sq_json_double (sq_json_t *self, const char *key, double value)
{
    char text [32];
    int size = snprintf (text, sizeof text, "%.6g", value);
    s_prefix (self, key);
    s_append (self, text, (size_t) size);
}

void
sq_json_string (sq_json_t *self, const char *key, const char *value)
{
    s_prefix (self, key);
    s_append_string (self, value);
}

void
sq_json_bool (sq_json_t *self, const char *key, bool value)
{
    s_prefix (self, key);
    s_append (self, value? "true": "false", value? 4: 5);
}

void
sq_json_null (sq_json_t *self, const char *key)
{
    s_prefix (self, key);
    s_append (self, "null", 4);
}

char *
sq_json_take (sq_json_t *self)
{
    char *text = self->failed? NULL: self->data;
    if (text == NULL && !self->failed)
        text = strdup ("");
    if (self->failed)
        free (self->data);
    sq_json_init (self);
    return text;
}
