/*  =========================================================================
    sq_identity - the name of a connection, learnt through the control socket

    A connection's name is, in this order: (a) a registration for that exact
    connection, by side and "ip:port" as the proxy sees it, which may come
    before the connection (it then waits, until it expires) or after it;
    (b) an address rule: side + IP or CIDR -> name, the longest prefix
    winning; (c) the peer's IP. The proxy never reads ZMTP metadata for this
    (under CURVE it is encrypted anyway).
    =========================================================================
*/
#ifndef SQ_IDENTITY_H_INCLUDED
#define SQ_IDENTITY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_conn.h"
#include "sq_cidr.h"

typedef struct sq_identity sq_identity_t;

typedef struct {
    sq_side_t side;
    char match [SQ_ADDRESS_MAX];    //  As given: "10.0.0.0/8", "::1", ...
    char name [SQ_NAME_MAX];
    sq_cidr_t cidr;
} sq_alias_t;

sq_identity_t *sq_identity_new (void);
void sq_identity_destroy (sq_identity_t **self_p);

//  Parses "frontend" or "backend"
bool sq_side_parse (const char *text, sq_side_t *side);

//  Keeps a registration for a connection not seen yet, until expires_ms; a
//  new one for the same connection replaces it. False when out of memory.
bool sq_identity_register (sq_identity_t *self, sq_side_t side, const char *address,
                           const char *name, int64_t expires_ms);

//  Takes the waiting registration for a new connection into name; false
//  when there is none
bool sq_identity_take (sq_identity_t *self, sq_side_t side, const char *address,
                       char *name, size_t name_size);

//  Drops registrations whose time is up; returns how many
size_t sq_identity_expire (sq_identity_t *self, int64_t now);

//  When the next registration expires, or INT64_MAX
int64_t sq_identity_next_expiry (sq_identity_t *self);

//  Registrations waiting for their connection
size_t sq_identity_pending (sq_identity_t *self);

//  Adds or replaces the rule for (side, match); match is an IP or a CIDR,
//  IPv4 or IPv6. On a bad match returns false with a reason in error.
bool sq_identity_alias (sq_identity_t *self, sq_side_t side, const char *match,
                        const char *name, char *error, size_t error_size);

//  Removes the rule for (side, match); false when there was none
bool sq_identity_unalias (sq_identity_t *self, sq_side_t side, const char *match);

//  Removes every rule
void sq_identity_aliases_clear (sq_identity_t *self);

//  The rules, for listing
size_t sq_identity_alias_count (sq_identity_t *self);
const sq_alias_t *sq_identity_alias_at (sq_identity_t *self, size_t index);

//  The name by rule, or else the host itself (no registration involved)
void sq_identity_resolve (sq_identity_t *self, sq_side_t side, const char *host,
                          char *name, size_t name_size);

#endif
