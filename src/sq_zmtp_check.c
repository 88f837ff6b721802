/*  =========================================================================
    sq_zmtp_check - what a client's first handshake command must look like
    =========================================================================
*/
#include <string.h>
#include <ctype.h>
#include "sq_zmtp_check.h"
#include "sq_frame_reader.h"

static bool
s_property_char (uint8_t letter)
{
    return isalnum (letter) || letter == '-' || letter == '_' || letter == '.'
        || letter == '+';
}

bool
sq_zmtp_metadata_valid (const uint8_t *data, size_t size)
{
    size_t at = 0;
    while (at < size) {
        size_t name_size = data [at++];
        if (name_size == 0 || name_size > size - at)
            return false;
        for (size_t index = 0; index < name_size; index++)
            if (!s_property_char (data [at + index]))
                return false;
        at += name_size;
        if (size - at < 4)
            return false;
        uint64_t value_size = (uint64_t) data [at] << 24 | (uint64_t) data [at + 1] << 16
                            | (uint64_t) data [at + 2] << 8 | data [at + 3];
        at += 4;
        if (value_size > size - at)
            return false;
        at += (size_t) value_size;
    }
    return true;
}

//  A body that starts with the command name `name`
static bool
s_named (const uint8_t *body, size_t size, const char *name)
{
    size_t length = strlen (name);
    return size >= 1 + length && body [0] == length && memcmp (body + 1, name, length) == 0;
}

//  PLAIN HELLO after its name: username and password, each behind its
//  length byte, and nothing more
static bool
s_plain_hello_valid (const uint8_t *data, size_t size)
{
    if (size < 1 || data [0] > size - 1)
        return false;
    size_t at = 1 + data [0];
    if (size - at < 1 || data [at] > size - at - 1)
        return false;
    return at + 1 + data [at] == size;
}

//  The body of the first command, checked for its mechanism
static const char *
s_check_body (const char *mechanism, const uint8_t *body, size_t size)
{
    if (strcmp (mechanism, "NULL") == 0) {
        if (!s_named (body, size, "READY"))
            return "not a READY";
        if (!sq_zmtp_metadata_valid (body + 6, size - 6))
            return "a READY whose metadata does not parse";
        return NULL;
    }
    if (strcmp (mechanism, "PLAIN") == 0) {
        if (!s_named (body, size, "HELLO"))
            return "not a HELLO";
        if (!s_plain_hello_valid (body + 6, size - 6))
            return "a HELLO whose username and password do not parse";
        return NULL;
    }
    if (strcmp (mechanism, "CURVE") == 0) {
        if (!s_named (body, size, "HELLO"))
            return "not a HELLO";
        if (size != SQ_CURVE_HELLO_SIZE)
            return "a HELLO of the wrong size";
        if (body [6] != 1 || body [7] != 0)
            return "a HELLO of an unknown version";
        return NULL;
    }
    return NULL;                //  Unknown mechanism: the framing sufficed
}

const char *
sq_zmtp_check_first (const char *mechanism, const uint8_t *frame, size_t size)
{
    sq_frame_reader_t reader;
    sq_frame_reader_init (&reader, 0);
    size_t used = sq_frame_reader_feed (&reader, frame, size);
    if (reader.status == SQ_FRAME_MALFORMED)
        return reader.error;
    if (reader.status != SQ_FRAME_COMPLETE || used != size)
        return "an incomplete frame";
    if (!sq_frame_reader_is_command (&reader))
        return "a message before the handshake";
    size_t header = size - (size_t) reader.size;
    return s_check_body (mechanism, frame + header, (size_t) reader.size);
}

void
sq_zmtp_error_reason (const uint8_t *body, size_t body_size, char *reason, size_t size)
{
    size_t at = sq_frame_libzmq_plain_error (body, body_size)? 5: 1 + (body_size? body [0]: 0);
    size_t length = at < body_size? body [at]: 0;
    at++;
    if (at > body_size)
        at = body_size;
    if (length > body_size - at)
        length = body_size - at;
    if (length >= size)
        length = size - 1;
    for (size_t index = 0; index < length; index++) {
        uint8_t letter = body [at + index];
        reason [index] = letter >= 0x20 && letter < 0x7F && letter != '"'? (char) letter: '?';
    }
    reason [length] = 0;
}
