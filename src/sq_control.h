/*  =========================================================================
    sq_control - control commands: parse, dispatch, reply; no I/O

    A request is a list of frames, command first (case does not matter);
    the reply is a list of frames: a result, or "ERROR" and a reason.
        PING                          -> PONG
        STATS | LIST | WORKERS | CLIENTS | ROUTES  -> one JSON frame
        PAUSE | RESUME | TERMINATE    -> OK
        IDENTIFY <side> <ip:port> <name>           -> OK
        ALIAS <side> <ip|cidr> <name> | UNALIAS <side> <ip|cidr>  -> OK
        ROUTE <client> <worker> [<fallback>...] | UNROUTE <client> -> OK
        DRAIN <worker> | UNDRAIN <worker>          -> OK
        WEIGHT <worker> <1..1000000>               -> OK
        LOAD <worker> <0..1>                       -> OK
        HEARTBEAT <name> [<interval-ms>]           -> OK
        LOGLEVEL [error|warning|info|debug]        -> [OK] <level in force>
    where side is "frontend" or "backend".
    =========================================================================
*/
#ifndef SQ_CONTROL_H_INCLUDED
#define SQ_CONTROL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_core.h"

//  A command, up to 16 workers in a route, and room to spare
#define SQ_CONTROL_FRAMES_MAX 24
//  The largest frame the control socket takes (ZMQ_MAXMSGSIZE): every
//  argument is shorter than 256 bytes
#define SQ_CONTROL_FRAME_BYTES_MAX 4096
//  What the control socket may make the proxy keep, at most: routes,
//  registrations waiting for their connection, and workers known by name
//  (connected, or kept for a WEIGHT, LOAD or DRAIN)
#define SQ_CONTROL_ROUTES_MAX        10000
#define SQ_CONTROL_REGISTRATIONS_MAX 10000
#define SQ_CONTROL_WORKERS_MAX       10000

typedef struct {
    size_t count;
    const uint8_t *data [SQ_CONTROL_FRAMES_MAX];
    size_t size [SQ_CONTROL_FRAMES_MAX];
} sq_frames_t;

typedef struct {
    size_t count;
    char *frame [SQ_CONTROL_FRAMES_MAX];    //  Each malloc'd, NUL-terminated
} sq_reply_t;

//  Runs one request against the core and fills the reply (which the caller
//  empties with sq_reply_clear after sending it)
void sq_control_handle (sq_core_t *core, const sq_frames_t *request,
                        sq_reply_t *reply, int64_t now);

//  True for a command that only reads (PING, STATS, LIST, WORKERS, CLIENTS,
//  ROUTES; any case): one that a read-only client of the control socket
//  may run
bool sq_control_read_only (const char *command);

//  Frees the reply's frames; it is empty afterwards
void sq_reply_clear (sq_reply_t *reply);

//  A valid client or worker name: 1 to 63 printable characters, no space
bool sq_control_name_ok (const char *name);

//  Parses a weight, 1 to SQ_WEIGHT_MAX
bool sq_control_weight_parse (const char *text, unsigned *weight);

#endif
