/*  =========================================================================
    sq_zpl - a reader of ZPL, the ZeroMQ property language

    ZPL (rfc.zeromq.org/spec/4) is the text format of CZMQ's zconfig and
    of Malamute's configuration: one "name" or "name = value" a line, four
    spaces of indent a level making a line the child of the one above,
    '#' starting a comment. A value is quoted with " or ', or runs to the
    next space. The reader hands each entry to a callback with its path
    ("frontend/allow") and line number; it keeps no tree.
    =========================================================================
*/
#ifndef SQ_ZPL_H_INCLUDED
#define SQ_ZPL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Longest name, value or path the reader takes
#define SQ_ZPL_TOKEN_MAX 1024

//  Called for each entry: value is NULL for a name with no "= value".
//  Returns false to stop, with a reason in error.
typedef bool (sq_zpl_fn) (void *arg, const char *path, const char *value, int line,
                          char *error, size_t error_size);

//  Reads the text; false with "line N: reason" in error when the text is
//  not ZPL or when the callback refused an entry
bool sq_zpl_parse (const char *text, sq_zpl_fn *callback, void *arg,
                   char *error, size_t error_size);

#endif
