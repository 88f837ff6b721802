/*  =========================================================================
    sq_control - control commands: parse, dispatch, reply; no I/O

    A request is a list of frames, command first (case does not matter);
    the reply is a list of frames: a result, or "ERROR" and a reason.
        [SERVICE <name>] <command> [<argument>...]
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
        CLOSE <side> <ip|cidr|name>                -> OK <count closed>
        BANS                                       -> one JSON frame
        UNBAN <client name or IP>                  -> OK
    where side is "frontend" or "backend".

    A proxy runs one or more services (sq_service_ref.h). SERVICE <name>
    before a command sends it to that service only. Without it, a read
    (STATS, LIST, WORKERS, CLIENTS, ROUTES, BANS) covers every service,
    and a command that changes something goes to every service, answered
    OK when at least one took it, else with the first service's error.
    PING, PAUSE, RESUME, TERMINATE and LOGLEVEL without SERVICE are for the
    whole proxy; TERMINATE and LOGLEVEL refuse a SERVICE. A service being
    removed by a reload takes only CLOSE and HEARTBEAT. Each entry of LIST
    names its service; those of WORKERS, CLIENTS, ROUTES and BANS do when
    the proxy has several.
    =========================================================================
*/
#ifndef SQ_CONTROL_H_INCLUDED
#define SQ_CONTROL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_core.h"
#include "sq_service_ref.h"

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

//  Runs one request against the services (count >= 1, services [0] the
//  default) and fills the reply, which the caller empties with
//  sq_reply_clear after sending it
void sq_control_handle (const sq_service_ref_t *services, size_t count,
                        const sq_frames_t *request, sq_reply_t *reply, int64_t now);

//  The frames of a SERVICE <name> that leads the request: 2, else 0. What
//  a client may run (sq_control_read_only) is the command after them.
size_t sq_control_service_prefix (const sq_frames_t *request);

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
