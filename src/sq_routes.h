/*  =========================================================================
    sq_routes - the route file: address rules, routes and weights, as text

    One command a line, as on the control socket; '#' starts a comment:
        ALIAS  <frontend|backend> <ip|cidr> <name>
        ROUTE  <client> <worker> [<fallback>...]
        WEIGHT <worker> <1..1000000>
    Loading is all or nothing: every line is checked first; only a file
    with no error replaces the rules, routes and weights in force. Live
    pairs are never touched. No I/O here: the caller reads the file.
    =========================================================================
*/
#ifndef SQ_ROUTES_H_INCLUDED
#define SQ_ROUTES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_core.h"

//  Checks the text without applying it; false with "line N: reason"
bool sq_routes_check (const char *text, char *error, size_t error_size);

//  Replaces the core's address rules, routes and weights with the text's.
//  On an error changes nothing and writes "line N: reason" into error.
bool sq_routes_load (sq_core_t *core, const char *text, char *error, size_t error_size,
                     int64_t now);

#endif
