/*  =========================================================================
    sq_greeting - ZMTP 3 greeting parser: bytes in, state out, no I/O

    A ZMTP 3 greeting is 64 bytes: signature (FF, 8 padding bytes, 7F),
    major and minor version, a 20-byte mechanism name padded with NULs, the
    as-server byte and 31 bytes of filler. Peers send it in any chunking
    (libzmq interleaves it with the other side's), so the parser takes bytes
    as they come and decides as early as it can: byte 0 and 9 tell ZMTP from
    anything else, byte 10 tells ZMTP 3 from 1.0 and 2.0.
    =========================================================================
*/
#ifndef SQ_GREETING_H_INCLUDED
#define SQ_GREETING_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SQ_GREETING_SIZE        64
//  The proxy speaks the first 11 bytes itself: signature and major version
#define SQ_GREETING_PREFIX_SIZE 11
#define SQ_MECHANISM_MAX        20

typedef enum {
    SQ_GREETING_PARTIAL = 0,        //  Needs more bytes
    SQ_GREETING_DONE,               //  All 64 bytes, valid
    SQ_GREETING_BAD_SIGNATURE,      //  Not ZMTP at all (or ZMTP 1.0)
    SQ_GREETING_BAD_VERSION,        //  ZMTP below 3.0
    SQ_GREETING_BAD_MECHANISM       //  Mechanism name not per ZMTP 3
} sq_greeting_status_t;

typedef struct {
    uint8_t bytes [SQ_GREETING_SIZE];
    size_t size;                            //  Bytes received so far
    sq_greeting_status_t status;
    char mechanism [SQ_MECHANISM_MAX + 1];  //  Set when done, NUL-terminated
} sq_greeting_t;

//  What the proxy sends every new connection: FF 00*7 01 7F 03
extern const uint8_t sq_greeting_prefix [SQ_GREETING_PREFIX_SIZE];

//  Makes an empty parser
void sq_greeting_init (sq_greeting_t *self);

//  Feeds bytes and returns how many were consumed. Consumption stops after
//  the 64th byte (the rest belongs to the stream that follows) or at the
//  first byte that makes the greeting invalid. Read self->status after.
size_t sq_greeting_feed (sq_greeting_t *self, const uint8_t *data, size_t size);

//  Bytes 11..63 of a complete greeting: what the partner must receive
static inline const uint8_t *
sq_greeting_tail (const sq_greeting_t *self)
{
    return self->bytes + SQ_GREETING_PREFIX_SIZE;
}

#define SQ_GREETING_TAIL_SIZE (SQ_GREETING_SIZE - SQ_GREETING_PREFIX_SIZE)

static inline int
sq_greeting_major (const sq_greeting_t *self)
{
    return self->bytes [10];
}

static inline int
sq_greeting_minor (const sq_greeting_t *self)
{
    return self->bytes [11];
}

//  The key of a complete greeting's tail, which names it byte for byte:
//  "CURVE/3.1", followed by "/" and the as-server byte and filler in hex
//  when they are not all zero (libzmq sends zeros). Peers with one key
//  send identical tails, so a client given one may meet any of them.
void sq_greeting_pool_key (const sq_greeting_t *self, char *key, size_t size);

//  A short reason for a status, for logs
const char *sq_greeting_status_str (sq_greeting_status_t status);

//  True when list ("CURVE,PLAIN") is one or more valid mechanism names
//  separated by commas
bool sq_greeting_mechanisms_valid (const char *list);

//  True when mechanism is one of the names in list (NULL: any mechanism)
bool sq_greeting_mechanism_listed (const char *list, const char *mechanism);

#endif
