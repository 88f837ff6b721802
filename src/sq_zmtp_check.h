/*  =========================================================================
    sq_zmtp_check - what a client's first handshake command must look like

    The proxy screens a client before any worker sees it: the client's
    first command is checked for structure against its mechanism's RFC.
    NULL (RFC 23): READY with metadata that parses. PLAIN (RFC 24): HELLO
    with a username and a password, nothing more. CURVE (RFC 26): HELLO of
    exactly 200 bytes, version 1.0. Any other mechanism: any command (the
    framing alone is checked). Pure functions over bytes.
    =========================================================================
*/
#ifndef SQ_ZMTP_CHECK_H_INCLUDED
#define SQ_ZMTP_CHECK_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

//  The body of a CURVE HELLO: name, version, padding, C', nonce, box
#define SQ_CURVE_HELLO_SIZE 200

//  Checks the first frame a client sent after its greeting, whole (flags,
//  size and body). Returns NULL when it is a well-formed first command
//  for the mechanism, else a short reason for the log.
const char *sq_zmtp_check_first (const char *mechanism, const uint8_t *frame, size_t size);

//  True when data is a run of ZMTP properties (a name of 1 to 255 letters,
//  digits or "-_.+" behind its length byte, a value behind its 4-byte
//  length) that ends exactly at size
bool sq_zmtp_metadata_valid (const uint8_t *data, size_t size);

//  The reason of an ERROR command from the start of its body (its name
//  included), as printable text: other bytes become '?'
void sq_zmtp_error_reason (const uint8_t *body, size_t body_size, char *reason, size_t size);

#endif
