/*  =========================================================================
    sq_command - the control commands as streamq-ctl knows them

    For each command: how many arguments the proxy takes (the bounds of
    sq_control.c's own table, which tests/unit/test_command.c compares with
    it), its synopsis, and how streamq-ctl shows the reply. streamq-ctl
    checks the arguments of a command it knows before sending it, so a
    missing argument is a usage error (exit 2) with the synopsis, even
    with no proxy to ask; a command it does not know is sent as it is.
    =========================================================================
*/
#ifndef SQ_COMMAND_H_INCLUDED
#define SQ_COMMAND_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    SQ_COMMAND_TABLE = 1,       //  A JSON array of objects: a table on a terminal
    SQ_COMMAND_FIELD = 2        //  One more, optional, argument of streamq-ctl's
                                //  own: the dotted path of one field to print
} sq_command_flags_t;

typedef struct {
    const char *name;           //  In capitals; any case is accepted
    size_t min_args;            //  What the proxy takes
    size_t max_args;
    const char *synopsis;       //  "ROUTE CLIENT WORKER [FALLBACK...]"
    unsigned flags;             //  sq_command_flags_t
} sq_command_t;

//  The command of that name (any case), or NULL
const sq_command_t *sq_command_find (const char *name);

//  The command at index, in the order of streamq-ctl --help; NULL past
//  the last
const sq_command_t *sq_command_at (size_t index);

//  True when args arguments (the command's own not counted) are what
//  the command takes, its local FIELD argument included
bool sq_command_args_ok (const sq_command_t *self, size_t args);

//  True when the command has the flag
bool sq_command_has (const sq_command_t *self, sq_command_flags_t flag);

#endif
