/*  =========================================================================
    sq_admission - whether a new connection may come in

    Checked when a peer connects, before the proxy spends anything on it:
    the side's access list, the side's connection limit, the limit of
    connections from one IP, and the rate of new connections from one IP
    (a token bucket: `rate` connections a second, bursts of up to `rate`).
    A refused connection is closed at once by the caller and counted.

    Per-IP records exist only while an IP has connections or its bucket is
    refilling, so a flood from many addresses costs memory for about one
    second of its connections.
    =========================================================================
*/
#ifndef SQ_ADMISSION_H_INCLUDED
#define SQ_ADMISSION_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_conn.h"
#include "sq_access.h"

typedef enum {
    SQ_ADMITTED = 0,
    SQ_REFUSED_DENIED,              //  Not allowed by the side's access list
    SQ_REFUSED_MAX_CONNECTIONS,     //  The side has its maximum
    SQ_REFUSED_PER_IP,              //  The IP has its maximum on this side
    SQ_REFUSED_RATE,                //  The IP connects too often
    SQ_REFUSED_DRAINING,            //  The proxy drains before it stops
    SQ_REFUSED_HANDSHAKE,           //  Banned after failed handshakes
    SQ_REFUSED_QUEUE_PER_IP,        //  Its IP holds its share of the queue
    SQ_REFUSED_COUNT
} sq_refusal_t;

typedef struct {
    size_t max_connections [2];     //  Per side; 0: no limit
    size_t max_per_ip;              //  Per side and IP; 0: no limit
    unsigned rate_per_ip;           //  New connections a second per IP; 0: no limit
    const sq_access_t *access [2];  //  NULL: everyone may connect
} sq_admission_limits_t;

typedef struct sq_admission sq_admission_t;

sq_admission_t *sq_admission_new (void);
void sq_admission_destroy (sq_admission_t **self_p);

//  "admitted", "denied", "max_connections", "per_ip", "rate", "draining",
//  "handshake", "queue_per_ip"
const char *sq_refusal_name (sq_refusal_t refusal);

//  Decides on a new connection from host, with `live` connections on the
//  side now. When admitted the connection counts against host until
//  sq_admission_left. False-free: returns SQ_ADMITTED when out of memory.
sq_refusal_t sq_admission_check (sq_admission_t *self, const sq_admission_limits_t *limits,
                                 sq_side_t side, const char *host, size_t live,
                                 int64_t now);

//  An admitted connection from host is gone
void sq_admission_left (sq_admission_t *self, sq_side_t side, const char *host, int64_t now);

//  Forgets IPs with no connection and a full bucket
void sq_admission_tick (sq_admission_t *self, int64_t now);

//  IPs with a record, for tests and STATS
size_t sq_admission_tracked (sq_admission_t *self);

#endif
