/*  =========================================================================
    sq_cidr - an IP address or a CIDR block, and matching
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "sq_cidr.h"

#define S_TEXT_MAX 64

bool
sq_cidr_parse (const char *text, sq_cidr_t *cidr, char *error, size_t error_size)
{
    char ip [S_TEXT_MAX];
    if (strlen (text) >= sizeof ip) {
        snprintf (error, error_size, "'%.40s...' is too long for an IP or CIDR", text);
        return false;
    }
    snprintf (ip, sizeof ip, "%s", text);
    char *slash = strchr (ip, '/');
    if (slash)
        *slash = 0;
    cidr->family = strchr (ip, ':')? AF_INET6: AF_INET;
    int bits = cidr->family == AF_INET? 32: 128;
    memset (cidr->address, 0, sizeof cidr->address);
    if (inet_pton (cidr->family, ip, cidr->address) != 1) {
        snprintf (error, error_size, "'%s' is not an IP address or CIDR", text);
        return false;
    }
    cidr->prefix = bits;
    if (slash) {
        char *end;
        long prefix = strtol (slash + 1, &end, 10);
        if (*end || end == slash + 1 || prefix < 0 || prefix > bits) {
            snprintf (error, error_size, "'%s' has a bad prefix length (0..%d)", text, bits);
            return false;
        }
        cidr->prefix = (int) prefix;
    }
    return true;
}

bool
sq_cidr_host (const char *host, int *family, uint8_t *address)
{
    memset (address, 0, 16);
    *family = strchr (host, ':')? AF_INET6: AF_INET;
    if (inet_pton (*family, host, address) != 1)
        return false;
    static const uint8_t mapped [12] = { 0,0,0,0, 0,0,0,0, 0,0,0xFF,0xFF };
    if (*family == AF_INET6 && memcmp (address, mapped, sizeof mapped) == 0) {
        memmove (address, address + 12, 4);
        memset (address + 4, 0, 12);
        *family = AF_INET;
    }
    return true;
}

bool
sq_cidr_contains (const sq_cidr_t *cidr, int family, const uint8_t *address)
{
    if (cidr->family != family)
        return false;
    int bytes = cidr->prefix / 8, bits = cidr->prefix % 8;
    if (memcmp (cidr->address, address, (size_t) bytes) != 0)
        return false;
    if (bits == 0)
        return true;
    uint8_t mask = (uint8_t) (0xFF << (8 - bits));
    return (cidr->address [bytes] & mask) == (address [bytes] & mask);
}
