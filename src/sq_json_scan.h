/*  =========================================================================
    sq_json_scan - reading JSON text where it lies, for streamq-ctl

    Just strict enough to tell a JSON value from other text: it walks a
    value (and may write it indented on the way), finds a member by its
    dotted path, and copies a string out unescaped. Nothing is allocated;
    every function takes a NUL-terminated text and a position in it.
    =========================================================================
*/
#ifndef SQ_JSON_SCAN_H_INCLUDED
#define SQ_JSON_SCAN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

//  Nesting deeper than this is refused as not JSON
#define SQ_JSON_SCAN_DEPTH_MAX 64

//  The first byte at or after at that is not JSON white space
const char *sq_json_scan_space (const char *at);

//  The end of the JSON value at at (white space before it skipped), or
//  NULL when there is none. When out is not NULL the value is written
//  there on the way, each member and element on its own line, indented
//  two spaces a level from depth; strings and numbers as they are.
const char *sq_json_scan_value (const char *at, FILE *out, int depth);

//  The value of the member at a dotted path ("pairs.active") of nested
//  JSON objects, or NULL when there is no such member. "" is the root.
const char *sq_json_scan_find (const char *json, const char *path);

//  Copies the JSON string at at into buf, unescaped, as UTF-8 (a \u
//  escape that is not a character becomes U+FFFD); false when at holds
//  no string or buf is too small
bool sq_json_scan_string (const char *at, char *buf, size_t size);

#endif
