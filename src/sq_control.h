/*  =========================================================================
    sq_control - control commands: parse, dispatch, reply; no I/O

    A request is a list of frames, command first; the reply is a list of
    frames. The loop moves frames between the control socket and here.
    Commands (case does not matter):
        PING                    -> PONG
        STATS                   -> one JSON object of counters
        LIST                    -> one JSON array, every connection
        PAUSE / RESUME          -> OK  (stop / restart reading peers)
        TERMINATE               -> OK  (the proxy then shuts down)
        anything else           -> ERROR, reason
    =========================================================================
*/
#ifndef SQ_CONTROL_H_INCLUDED
#define SQ_CONTROL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "sq_core.h"

#define SQ_CONTROL_FRAMES_MAX 16

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

//  Frees the reply's frames; it is empty afterwards
void sq_reply_clear (sq_reply_t *reply);

//  The STATS object and the LIST array, as text owned by the caller
char *sq_control_stats_json (sq_core_t *core, int64_t now);
char *sq_control_list_json (sq_core_t *core);

#endif
