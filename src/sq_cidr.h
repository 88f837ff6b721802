/*  =========================================================================
    sq_cidr - an IP address or a CIDR block, IPv4 or IPv6, and matching

    Address rules (ALIAS) and access lists (--frontend-allow, ...) both
    match a peer's IP against blocks like 10.0.0.0/8 or fd00::/8. An
    IPv4-mapped IPv6 peer (::ffff:10.1.2.3, what a proxy bound to [::]
    sees of an IPv4 client) matches as the IPv4 address it carries.
    =========================================================================
*/
#ifndef SQ_CIDR_H_INCLUDED
#define SQ_CIDR_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct {
    int family;                 //  AF_INET or AF_INET6
    uint8_t address [16];
    int prefix;                 //  Leading bits that must match
} sq_cidr_t;

//  Parses "ip" or "ip/prefix"; on failure returns false with a reason
bool sq_cidr_parse (const char *text, sq_cidr_t *cidr, char *error, size_t error_size);

//  Parses a peer's IP, as the engine reports it, into family and address;
//  an IPv4-mapped IPv6 address becomes IPv4. False if it is not an IP.
bool sq_cidr_host (const char *host, int *family, uint8_t *address);

//  True when the address (from sq_cidr_host) lies in the block
bool sq_cidr_contains (const sq_cidr_t *cidr, int family, const uint8_t *address);

#endif
