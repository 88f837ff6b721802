/*  =========================================================================
    sq_greeting - ZMTP 3 greeting parser
    =========================================================================
*/
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include "sq_greeting.h"

const uint8_t sq_greeting_prefix [SQ_GREETING_PREFIX_SIZE] = {
    0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F, 0x03
};

#define S_MECHANISM_OFFSET 12

void
sq_greeting_init (sq_greeting_t *self)
{
    memset (self, 0, sizeof *self);
}

//  ZMTP 3: mechanism-char = "A"-"Z" | DIGIT | "-" | "_" | "." | "+"
static bool
s_mechanism_char (uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '-' || c == '_' || c == '.' || c == '+';
}

//  The name is one or more mechanism chars, then only NULs
static bool
s_mechanism_parse (sq_greeting_t *self)
{
    const uint8_t *name = self->bytes + S_MECHANISM_OFFSET;
    size_t length = 0;
    while (length < SQ_MECHANISM_MAX && s_mechanism_char (name [length]))
        length++;
    if (length == 0)
        return false;
    for (size_t index = length; index < SQ_MECHANISM_MAX; index++)
        if (name [index] != 0)
            return false;
    memcpy (self->mechanism, name, length);
    self->mechanism [length] = 0;
    return true;
}

//  Judges the byte just stored at position size - 1
static sq_greeting_status_t
s_check_byte (sq_greeting_t *self)
{
    size_t position = self->size - 1;
    uint8_t byte = self->bytes [position];
    if (position == 0 && byte != 0xFF)
        return SQ_GREETING_BAD_SIGNATURE;
    //  libzmq reads a clear low bit here as an unversioned ZMTP 1.0 peer
    if (position == 9 && (byte & 0x01) == 0)
        return SQ_GREETING_BAD_SIGNATURE;
    if (position == 10 && byte < 3)
        return SQ_GREETING_BAD_VERSION;
    if (position == S_MECHANISM_OFFSET + SQ_MECHANISM_MAX - 1
    && !s_mechanism_parse (self))
        return SQ_GREETING_BAD_MECHANISM;
    if (self->size == SQ_GREETING_SIZE)
        return SQ_GREETING_DONE;
    return SQ_GREETING_PARTIAL;
}

size_t
sq_greeting_feed (sq_greeting_t *self, const uint8_t *data, size_t size)
{
    size_t consumed = 0;
    while (self->status == SQ_GREETING_PARTIAL && consumed < size) {
        self->bytes [self->size++] = data [consumed++];
        self->status = s_check_byte (self);
    }
    return consumed;
}

const char *
sq_greeting_status_str (sq_greeting_status_t status)
{
    switch (status) {
        case SQ_GREETING_PARTIAL:       return "incomplete greeting";
        case SQ_GREETING_DONE:          return "greeting complete";
        case SQ_GREETING_BAD_SIGNATURE: return "not a ZMTP peer (bad signature)";
        case SQ_GREETING_BAD_VERSION:   return "ZMTP version below 3.0";
        case SQ_GREETING_BAD_MECHANISM: return "invalid mechanism name";
    }
    return "unknown";
}

bool
sq_greeting_mechanisms_valid (const char *list)
{
    size_t length = 0;
    for (const char *cursor = list; ; cursor++) {
        if (*cursor == ',' || *cursor == 0) {
            if (length == 0)
                return false;           //  Empty name
            if (*cursor == 0)
                return true;
            length = 0;
        }
        else
        if (!s_mechanism_char ((uint8_t) *cursor) || ++length > SQ_MECHANISM_MAX)
            return false;
    }
}

bool
sq_greeting_mechanism_listed (const char *list, const char *mechanism)
{
    if (!list)
        return true;
    size_t length = strlen (mechanism);
    for (const char *cursor = list; *cursor; ) {
        const char *comma = strchr (cursor, ',');
        size_t name_length = comma? (size_t) (comma - cursor): strlen (cursor);
        if (name_length == length && memcmp (cursor, mechanism, length) == 0)
            return true;
        cursor += name_length + (comma? 1: 0);
    }
    return false;
}

void
sq_greeting_pool_key (const sq_greeting_t *self, char *key, size_t size)
{
    int used = snprintf (key, size, "%s/3.%d", self->mechanism, sq_greeting_minor (self));
    const uint8_t *rest = self->bytes + 32;     //  as-server, then filler
    size_t rest_size = SQ_GREETING_SIZE - 32;
    bool zero = true;
    for (size_t index = 0; index < rest_size; index++)
        zero = zero && rest [index] == 0;
    if (zero || used < 0)
        return;
    size_t at = (size_t) used;
    if (at + 1 < size)
        key [at++] = '/';
    for (size_t index = 0; index < rest_size && at + 2 < size; index++, at += 2)
        snprintf (key + at, size - at, "%02x", rest [index]);
    key [at < size? at: size - 1] = 0;
}
