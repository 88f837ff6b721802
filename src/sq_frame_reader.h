/*  =========================================================================
    sq_frame_reader - follows ZMTP 3 framing: bytes in, frames out, no I/O

    After the greeting a ZMTP stream is a run of frames: a flags byte (0x01
    more, 0x02 long size, 0x04 command; other bits reserved, zero), a size
    (1 byte, or 8 bytes in network order when long) and a body. A command's
    body starts with its name: one length byte, then the name. The framing
    and the names are plain text under every mechanism (RFC 23, 26), so the
    proxy can follow a handshake without any key.

    The reader takes bytes in any chunking and stops after the end of each
    frame, so that its caller can look at that frame (its flags, size, and
    the first SQ_FRAME_HEAD_MAX bytes of its body) before feeding on. It
    keeps no more than that head, whatever the frame's size.
    =========================================================================
*/
#ifndef SQ_FRAME_READER_H_INCLUDED
#define SQ_FRAME_READER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

//  Bytes of a frame's body kept: a command name (up to 255) fits, and an
//  ERROR's reason (up to 255) nearly so
#define SQ_FRAME_HEAD_MAX   320
#define SQ_FRAME_MORE       0x01
#define SQ_FRAME_LONG       0x02
#define SQ_FRAME_COMMAND    0x04
#define SQ_COMMAND_NAME_MAX 255

typedef enum {
    SQ_FRAME_PARTIAL = 0,       //  Needs more bytes
    SQ_FRAME_COMPLETE,          //  A frame just ended; look, then feed on
    SQ_FRAME_MALFORMED          //  Not ZMTP framing; the reader stays so
} sq_frame_status_t;

typedef struct sq_frame_reader {
    int stage;                  //  Flags, size bytes, or body
    uint8_t flags;
    unsigned size_needed;       //  1 or 8
    unsigned size_read;
    uint64_t size;              //  Body size of the current frame
    uint64_t body_read;
    uint64_t max_size;          //  A larger frame is malformed (0: any size)
    size_t head_size;           //  Bytes of the body kept in head
    bool named;                 //  A command's name is all in head, valid
    uint8_t head [SQ_FRAME_HEAD_MAX];
    uint64_t frames;            //  Frames completed so far
    sq_frame_status_t status;
    const char *error;          //  Why it is malformed
} sq_frame_reader_t;

//  Makes a reader at the start of a frame. Frames of more than max_size
//  bytes of body are malformed (0: no bound).
void sq_frame_reader_init (sq_frame_reader_t *self, uint64_t max_size);

//  Feeds bytes and returns how many were consumed. It stops just after the
//  last byte of a frame (status COMPLETE: the frame's fields are readable
//  until the next feed), at the first byte that breaks the framing
//  (MALFORMED, for good), or when the bytes run out (PARTIAL).
size_t sq_frame_reader_feed (sq_frame_reader_t *self, const uint8_t *data, size_t size);

//  After COMPLETE: true when the frame was a command
bool sq_frame_reader_is_command (const sq_frame_reader_t *self);

//  After COMPLETE, for a command: true when its name is `name`
bool sq_frame_reader_named (const sq_frame_reader_t *self, const char *name);

//  After COMPLETE, for a command: copies its name (printable, NUL-ended)
//  into name
void sq_frame_reader_name (const sq_frame_reader_t *self, char *name, size_t size);

//  True when a command body starts as libzmq 4.3's PLAIN server writes its
//  ERROR: "\x05ERROR" in its source is read by the C compiler as 0x5E and
//  "RROR", so the name's length byte is 0x5E and the name "RROR". Its peers
//  read it back the same way; the proxy takes it for the ERROR it means.
bool sq_frame_libzmq_plain_error (const uint8_t *body, size_t size);

//  Bytes the last complete frame took on the wire, header included
uint64_t sq_frame_reader_wire_size (const sq_frame_reader_t *self);

#endif
