/*  =========================================================================
    sq_json_scan - reading JSON text where it lies
    =========================================================================
*/
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sq_json_scan.h"

const char *
sq_json_scan_space (const char *at)
{
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r')
        at++;
    return at;
}

//  The end of the string whose opening quote is at `at`, or NULL
static const char *
s_json_string_end (const char *at)
{
    for (at++; *at != '"'; at++) {
        if ((unsigned char) *at < 0x20)         //  The NUL at the end too
            return NULL;
        if (*at != '\\')
            continue;
        at++;
        if (*at == 'u') {
            for (int index = 1; index <= 4; index++)
                if (!isxdigit ((unsigned char) at [index]))
                    return NULL;
            at += 4;
        }
        else
        if (!*at || !strchr ("\"\\/bfnrt", *at))
            return NULL;
    }
    return at + 1;
}

static const char *
s_json_digits_end (const char *at)
{
    if (!isdigit ((unsigned char) *at))
        return NULL;
    while (isdigit ((unsigned char) *at))
        at++;
    return at;
}

//  The end of the number at `at`, or NULL
static const char *
s_json_number_end (const char *at)
{
    if (*at == '-')
        at++;
    at = *at == '0'? at + 1: s_json_digits_end (at);
    if (at && *at == '.')
        at = s_json_digits_end (at + 1);
    if (at && (*at == 'e' || *at == 'E')) {
        at++;
        if (*at == '+' || *at == '-')
            at++;
        at = s_json_digits_end (at);
    }
    return at;
}

//  The end of the string, number, true, false or null at `at`, or NULL
static const char *
s_json_scalar_end (const char *at)
{
    if (*at == '"')
        return s_json_string_end (at);
    if (*at == '-' || isdigit ((unsigned char) *at))
        return s_json_number_end (at);
    const char *words [] = { "true", "false", "null" };
    for (int index = 0; index < 3; index++)
        if (strncmp (at, words [index], strlen (words [index])) == 0)
            return at + strlen (words [index]);
    return NULL;
}

static void
s_put (FILE *out, const char *text, size_t size)
{
    if (out)
        fwrite (text, 1, size, out);
}

//  A new line, indented for depth
static void
s_put_line (FILE *out, int depth)
{
    if (out)
        fprintf (out, "\n%*s", 2 * depth, "");
}

const char *
sq_json_scan_value (const char *at, FILE *out, int depth)
{
    at = sq_json_scan_space (at);
    if (*at != '{' && *at != '[') {
        const char *end = s_json_scalar_end (at);
        if (end)
            s_put (out, at, (size_t) (end - at));
        return end;
    }
    bool object = *at == '{';
    char close = object? '}': ']';
    if (depth >= SQ_JSON_SCAN_DEPTH_MAX)
        return NULL;
    s_put (out, at, 1);
    at = sq_json_scan_space (at + 1);
    if (*at == close) {
        s_put (out, at, 1);
        return at + 1;
    }
    while (true) {
        s_put_line (out, depth + 1);
        if (object) {
            const char *end = *at == '"'? s_json_string_end (at): NULL;
            if (!end)
                return NULL;
            s_put (out, at, (size_t) (end - at));
            at = sq_json_scan_space (end);
            if (*at++ != ':')
                return NULL;
            s_put (out, ": ", 2);
        }
        at = sq_json_scan_value (at, out, depth + 1);
        if (!at)
            return NULL;
        at = sq_json_scan_space (at);
        if (*at == ',') {
            s_put (out, ",", 1);
            at = sq_json_scan_space (at + 1);
        }
        else
        if (*at == close) {
            s_put_line (out, depth);
            s_put (out, at, 1);
            return at + 1;
        }
        else
            return NULL;
    }
}

const char *
sq_json_scan_find (const char *json, const char *path)
{
    const char *at = sq_json_scan_space (json);
    while (*path) {
        size_t length = strcspn (path, ".");
        if (*at != '{')
            return NULL;
        at = sq_json_scan_space (at + 1);
        bool found = false;
        while (!found && *at == '"') {
            const char *end = s_json_string_end (at);
            if (!end)
                return NULL;
            found = (size_t) (end - at) == length + 2 && memcmp (at + 1, path, length) == 0;
            at = sq_json_scan_space (end);
            if (*at++ != ':')
                return NULL;
            at = sq_json_scan_space (at);
            if (!found && (at = sq_json_scan_value (at, NULL, 0)) != NULL) {
                at = sq_json_scan_space (at);
                at = sq_json_scan_space (at + (*at == ','));
            }
            if (!at)
                return NULL;
        }
        if (!found)
            return NULL;
        path += length + (path [length] == '.');
    }
    return at;
}

//  The code point of the four hex digits at at
static unsigned
s_hex4 (const char *at)
{
    char digits [5] = { at [0], at [1], at [2], at [3], 0 };
    return (unsigned) strtoul (digits, NULL, 16);
}

//  Writes a code point as UTF-8 into buf [*used], when it fits
static bool
s_utf8_put (unsigned code, char *buf, size_t size, size_t *used)
{
    unsigned char bytes [4];
    size_t length = code < 0x80? 1: code < 0x800? 2: code < 0x10000? 3: 4;
    if (length == 1)
        bytes [0] = (unsigned char) code;
    else {
        for (size_t index = length - 1; index > 0; index--, code >>= 6)
            bytes [index] = (unsigned char) (0x80 | (code & 0x3F));
        bytes [0] = (unsigned char) ((0xF00 >> length) | code);
    }
    if (*used + length >= size)
        return false;
    memcpy (buf + *used, bytes, length);
    *used += length;
    return true;
}

//  The character of the \u escape at at (at the 'u'), moving at past it
//  and past the low half of a surrogate pair
static unsigned
s_unicode_escape (const char **at)
{
    unsigned code = s_hex4 (*at + 1);
    *at += 4;
    if (code >= 0xD800 && code <= 0xDBFF && strncmp (*at + 1, "\\u", 2) == 0) {
        unsigned low = s_hex4 (*at + 3);
        if (low >= 0xDC00 && low <= 0xDFFF) {
            *at += 6;
            return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
    }
    return code >= 0xD800 && code <= 0xDFFF? 0xFFFD: code;
}

bool
sq_json_scan_string (const char *at, char *buf, size_t size)
{
    at = sq_json_scan_space (at);
    const char *end = *at == '"'? s_json_string_end (at): NULL;
    if (!end || size == 0)
        return false;
    size_t used = 0;
    for (at++; at < end - 1; at++) {
        unsigned code = (unsigned char) *at;
        if (*at == '\\') {
            at++;
            const char *plain = strchr ("\"\\/bfnrt", *at);
            code = *at == 'u'? s_unicode_escape (&at)
                 : (unsigned char) "\"\\/\b\f\n\r\t" [plain - "\"\\/bfnrt"];
        }
        else
        if (code >= 0x80) {
            //  Bytes of a UTF-8 sequence are copied as they are
            if (used + 1 >= size)
                return false;
            buf [used++] = *at;
            continue;
        }
        if (!s_utf8_put (code, buf, size, &used))
            return false;
    }
    buf [used] = 0;
    return true;
}
