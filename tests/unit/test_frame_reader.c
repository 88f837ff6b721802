/*  =========================================================================
    Unit tests of the ZMTP frame reader and of the first-command checks:
    every chunking of real handshakes, and the ways framing breaks
    =========================================================================
*/
#include "sq_test.h"
#include "sq_frame_reader.h"
#include "sq_zmtp_check.h"

SQ_TEST_DEFINE

//  Appends a frame (flags, short or long size, body) to a stream
static size_t
s_frame (uint8_t *out, uint8_t flags, const uint8_t *body, size_t size)
{
    size_t at = 0;
    out [at++] = flags | (size > 255? SQ_FRAME_LONG: 0);
    if (size > 255)
        for (int shift = 56; shift >= 0; shift -= 8)
            out [at++] = (uint8_t) ((uint64_t) size >> shift);
    else
        out [at++] = (uint8_t) size;
    memcpy (out + at, body, size);
    return at + size;
}

//  A command: its name, then `extra` bytes of data (from `data`, or zeros)
static size_t
s_command (uint8_t *out, const char *name, const uint8_t *data, size_t extra)
{
    uint8_t body [2048];
    size_t length = strlen (name);
    body [0] = (uint8_t) length;
    memcpy (body + 1, name, length);
    if (data)
        memcpy (body + 1 + length, data, extra);
    else
        memset (body + 1 + length, 0, extra);
    return s_frame (out, SQ_FRAME_COMMAND, body, 1 + length + extra);
}

//  A CURVE HELLO as libzmq sends it: version 1.0, 72 bytes of padding,
//  then key, nonce and box (their bytes do not matter to the proxy)
static size_t
s_curve_hello (uint8_t *out)
{
    uint8_t data [194];
    memset (data, 0, sizeof data);
    data [0] = 1;
    for (size_t index = 74; index < sizeof data; index++)
        data [index] = (uint8_t) (index * 7);
    return s_command (out, "HELLO", data, sizeof data);
}

//  Feeds a stream in chunks of `step` bytes; records each complete frame's
//  name (or "MSG") in names, separated by spaces. False if malformed.
static bool
s_read_all (const uint8_t *stream, size_t size, size_t step, char *names, size_t room)
{
    sq_frame_reader_t reader;
    sq_frame_reader_init (&reader, 65536);
    names [0] = 0;
    for (size_t offset = 0; offset < size; ) {
        size_t length = size - offset < step? size - offset: step;
        size_t used = sq_frame_reader_feed (&reader, stream + offset, length);
        if (reader.status == SQ_FRAME_MALFORMED)
            return false;
        if (reader.status == SQ_FRAME_COMPLETE) {
            char name [SQ_COMMAND_NAME_MAX + 1] = "MSG";
            if (sq_frame_reader_is_command (&reader))
                sq_frame_reader_name (&reader, name, sizeof name);
            size_t at = strlen (names);
            snprintf (names + at, room - at, "%s%s", at? " ": "", name);
        }
        offset += used;
    }
    return true;
}

//  A whole CURVE handshake, then messages: every chunk size finds the
//  same frames, and consumption stops at each frame's end
static void
test_every_chunking (void)
{
    uint8_t stream [4096];
    size_t size = s_curve_hello (stream);
    size += s_command (stream + size, "WELCOME", NULL, 160);
    size += s_command (stream + size, "INITIATE", NULL, 300);
    size += s_command (stream + size, "READY", NULL, 40);
    uint8_t big [600];
    memset (big, 'x', sizeof big);
    size += s_frame (stream + size, SQ_FRAME_MORE, big, 3);
    size += s_frame (stream + size, 0, big, sizeof big);   //  A long frame
    size += s_frame (stream + size, 0, big, 0);            //  An empty one
    for (size_t step = 1; step <= size; step++) {
        char names [256];
        SQ_CHECK_MSG (s_read_all (stream, size, step, names, sizeof names),
                      "malformed at step %zu", step);
        SQ_CHECK_STR (names, "HELLO WELCOME INITIATE READY MSG MSG MSG");
    }
}

static void
test_frame_fields (void)
{
    uint8_t stream [512];
    size_t size = s_curve_hello (stream);
    sq_frame_reader_t reader;
    sq_frame_reader_init (&reader, 0);
    SQ_CHECK_EQ (sq_frame_reader_feed (&reader, stream, size + 0), size);
    SQ_CHECK_EQ (reader.status, SQ_FRAME_COMPLETE);
    SQ_CHECK (sq_frame_reader_is_command (&reader));
    SQ_CHECK (sq_frame_reader_named (&reader, "HELLO"));
    SQ_CHECK (!sq_frame_reader_named (&reader, "HELL"));
    SQ_CHECK (!sq_frame_reader_named (&reader, "READY"));
    SQ_CHECK_EQ (reader.size, SQ_CURVE_HELLO_SIZE);
    SQ_CHECK_EQ (sq_frame_reader_wire_size (&reader), size);
    SQ_CHECK_EQ (reader.frames, 1);
    //  A long frame keeps only its head
    uint8_t body [2000];
    memset (body, 'y', sizeof body);
    uint8_t frame [2100];
    size_t long_size = s_frame (frame, 0, body, sizeof body);
    SQ_CHECK_EQ (sq_frame_reader_feed (&reader, frame, long_size), long_size);
    SQ_CHECK_EQ (reader.status, SQ_FRAME_COMPLETE);
    SQ_CHECK_EQ (reader.head_size, SQ_FRAME_HEAD_MAX);
    SQ_CHECK_EQ (sq_frame_reader_wire_size (&reader), long_size);
    SQ_CHECK_EQ (reader.frames, 2);
}

//  Feeds bytes at once and expects the framing to break
static void
s_expect_malformed (const uint8_t *bytes, size_t size, uint64_t max_size)
{
    sq_frame_reader_t reader;
    sq_frame_reader_init (&reader, max_size);
    sq_frame_reader_feed (&reader, bytes, size);
    SQ_CHECK_EQ (reader.status, SQ_FRAME_MALFORMED);
    SQ_CHECK (reader.error);
    //  It stays malformed
    SQ_CHECK_EQ (sq_frame_reader_feed (&reader, bytes, size), 0);
    SQ_CHECK_EQ (reader.status, SQ_FRAME_MALFORMED);
}

static void
test_malformed (void)
{
    s_expect_malformed ((const uint8_t *) "\xFF\x05hello", 7, 0);         //  Reserved bits
    s_expect_malformed ((const uint8_t *) "\x05\x06\x05READY", 8, 0);     //  Command + more
    s_expect_malformed ((const uint8_t *) "\x04\x00", 2, 0);              //  Empty command
    s_expect_malformed ((const uint8_t *) "\x04\x06\x00READY", 8, 0);     //  Empty name
    s_expect_malformed ((const uint8_t *) "\x04\x03\x09REA", 5, 0);       //  Name too long
    s_expect_malformed ((const uint8_t *) "\x04\x06\x05RE4DY", 8, 0);     //  Not letters
    //  A long frame header announcing 2^62 bytes, past the bound
    s_expect_malformed ((const uint8_t *) "\x06\x40\0\0\0\0\0\0\0", 9, 65536);
    s_expect_malformed ((const uint8_t *) "\x00\xFF", 2, 100);            //  Past 100
    //  The same frames pass without a bound, or under it
    sq_frame_reader_t reader;
    sq_frame_reader_init (&reader, 0);
    SQ_CHECK_EQ (sq_frame_reader_feed (&reader, (const uint8_t *) "\x06\x40\0\0\0\0\0\0\0", 9), 9);
    SQ_CHECK_EQ (reader.status, SQ_FRAME_PARTIAL);
}

//  Garbage of every byte value as the first byte: only ZMTP flags pass
static void
test_first_byte (void)
{
    for (int value = 0; value < 256; value++) {
        uint8_t bytes [2] = { (uint8_t) value, 0 };
        sq_frame_reader_t reader;
        sq_frame_reader_init (&reader, 0);
        sq_frame_reader_feed (&reader, bytes, 1);
        bool valid = (value & 0xF8) == 0 && value != 0x05 && value != 0x07;
        SQ_CHECK_MSG ((reader.status != SQ_FRAME_MALFORMED) == valid, "flags %02x", value);
    }
}

static void
test_first_command_checks (void)
{
    uint8_t frame [1024];
    //  NULL: READY with metadata
    uint8_t metadata [] = {
        11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 6,
        'D', 'E', 'A', 'L', 'E', 'R', 8, 'I', 'd', 'e', 'n', 't', 'i', 't', 'y', 0, 0, 0, 0
    };
    size_t size = s_command (frame, "READY", metadata, sizeof metadata);
    SQ_CHECK (sq_zmtp_check_first ("NULL", frame, size) == NULL);
    //  Metadata cut short, or a value longer than the command
    size = s_command (frame, "READY", metadata, sizeof metadata - 1);
    SQ_CHECK (sq_zmtp_check_first ("NULL", frame, size) != NULL);
    metadata [15] = 200;
    size = s_command (frame, "READY", metadata, sizeof metadata);
    SQ_CHECK (sq_zmtp_check_first ("NULL", frame, size) != NULL);
    size = s_command (frame, "HELLO", NULL, 0);
    SQ_CHECK (sq_zmtp_check_first ("NULL", frame, size) != NULL);
    //  PLAIN: HELLO with a username and a password, nothing more
    const uint8_t plain [] = { 5, 'a', 'd', 'm', 'i', 'n', 6, 's', 'e', 'c', 'r', 'e', 't' };
    size = s_command (frame, "HELLO", plain, sizeof plain);
    SQ_CHECK (sq_zmtp_check_first ("PLAIN", frame, size) == NULL);
    size = s_command (frame, "HELLO", plain, sizeof plain - 1);
    SQ_CHECK (sq_zmtp_check_first ("PLAIN", frame, size) != NULL);
    uint8_t longer [sizeof plain + 1];
    memcpy (longer, plain, sizeof plain);
    longer [sizeof plain] = '!';
    size = s_command (frame, "HELLO", longer, sizeof longer);
    SQ_CHECK (sq_zmtp_check_first ("PLAIN", frame, size) != NULL);
    size = s_command (frame, "READY", NULL, 0);
    SQ_CHECK (sq_zmtp_check_first ("PLAIN", frame, size) != NULL);
    //  CURVE: HELLO of 200 bytes, version 1.0
    size = s_curve_hello (frame);
    SQ_CHECK (sq_zmtp_check_first ("CURVE", frame, size) == NULL);
    size = s_command (frame, "HELLO", NULL, 193);
    SQ_CHECK (sq_zmtp_check_first ("CURVE", frame, size) != NULL);
    size = s_curve_hello (frame);
    frame [8] = 2;                          //  Version 2.0
    SQ_CHECK (sq_zmtp_check_first ("CURVE", frame, size) != NULL);
    //  A mechanism the proxy does not know: any well-framed command
    size = s_command (frame, "TOKEN", NULL, 40);
    SQ_CHECK (sq_zmtp_check_first ("GSSAPI", frame, size) == NULL);
    //  Never a message, nor garbage, nor half a frame
    size = s_frame (frame, 0, (const uint8_t *) "data", 4);
    SQ_CHECK (sq_zmtp_check_first ("GSSAPI", frame, size) != NULL);
    SQ_CHECK (sq_zmtp_check_first ("NULL", (const uint8_t *) "GET / HTTP/1.1", 14) != NULL);
    size = s_curve_hello (frame);
    SQ_CHECK (sq_zmtp_check_first ("CURVE", frame, size - 1) != NULL);
}

static void
test_error_reason (void)
{
    uint8_t frame [300];
    const uint8_t reason [] = { 3, '4', '0', '0' };
    size_t size = s_command (frame, "ERROR", reason, sizeof reason);
    char text [64];
    sq_zmtp_error_reason (frame + 2, size - 2, text, sizeof text);
    SQ_CHECK_STR (text, "400");
    //  Unprintable bytes and quotes become '?'; a reason cut short stops
    const uint8_t odd [] = { 4, 'a', '"', 0x01, 'b' };
    size = s_command (frame, "ERROR", odd, sizeof odd);
    sq_zmtp_error_reason (frame + 2, size - 2, text, sizeof text);
    SQ_CHECK_STR (text, "a??b");
    size = s_command (frame, "ERROR", odd, 3);
    sq_zmtp_error_reason (frame + 2, size - 2, text, sizeof text);
    SQ_CHECK_STR (text, "a?");
    size = s_command (frame, "ERROR", NULL, 0);
    sq_zmtp_error_reason (frame + 2, size - 2, text, sizeof text);
    SQ_CHECK_STR (text, "");
}

//  libzmq 4.3's PLAIN server sends its ERROR with a length byte of 0x5E
//  and the name "RROR" (an escape in its source swallows the E): the
//  reader takes it for the ERROR it is, in every chunking, and a frame
//  that only starts the same way is still malformed
static void
test_libzmq_plain_error (void)
{
    const uint8_t frame [] = { 0x04, 9, 0x5E, 'R', 'R', 'O', 'R', 3, '4', '0', '0' };
    for (size_t step = 1; step <= sizeof frame; step++) {
        sq_frame_reader_t reader;
        sq_frame_reader_init (&reader, 65536);
        size_t at = 0;
        while (at < sizeof frame && reader.status != SQ_FRAME_MALFORMED
           &&  reader.status != SQ_FRAME_COMPLETE) {
            size_t length = sizeof frame - at < step? sizeof frame - at: step;
            at += sq_frame_reader_feed (&reader, frame + at, length);
        }
        SQ_CHECK_EQ (reader.status, SQ_FRAME_COMPLETE);
        SQ_CHECK_EQ (at, sizeof frame);
        SQ_CHECK (sq_frame_reader_named (&reader, "ERROR"));
        char name [16], reason [16];
        sq_frame_reader_name (&reader, name, sizeof name);
        SQ_CHECK_STR (name, "ERROR");
        sq_zmtp_error_reason (reader.head, reader.head_size, reason, sizeof reason);
        SQ_CHECK_STR (reason, "400");
    }
    const uint8_t other [] = { 0x04, 9, 0x5E, 'R', 'X', 'O', 'R', 3, '4', '0', '0' };
    s_expect_malformed (other, sizeof other, 0);
}

int
main (void)
{
    SQ_RUN (test_every_chunking);
    SQ_RUN (test_frame_fields);
    SQ_RUN (test_malformed);
    SQ_RUN (test_first_byte);
    SQ_RUN (test_first_command_checks);
    SQ_RUN (test_error_reason);
    SQ_RUN (test_libzmq_plain_error);
    return sq_test_summary ();
}
