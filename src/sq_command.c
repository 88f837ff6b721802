/*  =========================================================================
    sq_command - the control commands as streamq-ctl knows them
    =========================================================================
*/
#include <strings.h>
#include "sq_command.h"

//  Workers in one route (SQ_ROUTE_MAX in sq_balancer.h): a route is the
//  client and up to this many workers
#define S_ROUTE_MAX 16

static const sq_command_t s_commands [] = {
    { "PING",      0, 0, "PING",                           0 },
    { "STATS",     0, 0, "STATS [FIELD]",                  SQ_COMMAND_FIELD },
    { "LIST",      0, 2, "LIST [OFFSET [COUNT]]",          SQ_COMMAND_TABLE },
    { "WORKERS",   0, 2, "WORKERS [OFFSET [COUNT]]",       SQ_COMMAND_TABLE },
    { "CLIENTS",   0, 2, "CLIENTS [OFFSET [COUNT]]",       SQ_COMMAND_TABLE },
    { "ROUTES",    0, 2, "ROUTES [OFFSET [COUNT]]",        0 },
    { "BANS",      0, 0, "BANS",                           SQ_COMMAND_TABLE },
    { "CLOSE",     2, 2, "CLOSE SIDE MATCH",               0 },
    { "PAUSE",     0, 0, "PAUSE",                          0 },
    { "RESUME",    0, 0, "RESUME",                         0 },
    { "TERMINATE", 0, 0, "TERMINATE",                      0 },
    { "IDENTIFY",  3, 3, "IDENTIFY SIDE IP:PORT NAME",     0 },
    { "ALIAS",     3, 3, "ALIAS SIDE IP|CIDR NAME",        0 },
    { "UNALIAS",   2, 2, "UNALIAS SIDE IP|CIDR",           0 },
    { "ROUTE",     2, 1 + S_ROUTE_MAX, "ROUTE CLIENT WORKER [FALLBACK...]", 0 },
    { "UNROUTE",   1, 1, "UNROUTE CLIENT",                 0 },
    { "DRAIN",     1, 1, "DRAIN WORKER|ALL",               0 },
    { "UNDRAIN",   1, 1, "UNDRAIN WORKER",                 0 },
    { "WEIGHT",    2, 2, "WEIGHT WORKER N",                0 },
    { "LOAD",      2, 2, "LOAD WORKER X",                  0 },
    { "HEARTBEAT", 1, 2, "HEARTBEAT NAME [MS]",            0 },
    { "UNBAN",     1, 1, "UNBAN KEY",                      0 },
    { "LOGLEVEL",  0, 1, "LOGLEVEL [LEVEL]",               0 },
};

#define S_COMMANDS (sizeof s_commands / sizeof s_commands [0])

const sq_command_t *
sq_command_find (const char *name)
{
    for (size_t index = 0; index < S_COMMANDS; index++)
        if (strcasecmp (name, s_commands [index].name) == 0)
            return &s_commands [index];
    return NULL;
}

const sq_command_t *
sq_command_at (size_t index)
{
    return index < S_COMMANDS? &s_commands [index]: NULL;
}

bool
sq_command_args_ok (const sq_command_t *self, size_t args)
{
    size_t local = sq_command_has (self, SQ_COMMAND_FIELD)? 1: 0;
    return args >= self->min_args && args <= self->max_args + local;
}

bool
sq_command_has (const sq_command_t *self, sq_command_flags_t flag)
{
    return (self->flags & flag) != 0;
}
