/*  Unit tests of the ZMTP greeting parser: every chunking, bad input  */
#include "sq_test.h"
#include "sq_greeting.h"

SQ_TEST_DEFINE

//  A valid ZMTP 3.1 greeting with the given mechanism
static void
s_make_greeting (uint8_t *bytes, const char *mechanism)
{
    memset (bytes, 0, SQ_GREETING_SIZE);
    bytes [0] = 0xFF;
    bytes [8] = 0x01;           //  Padding carries no meaning in ZMTP 3
    bytes [9] = 0x7F;
    bytes [10] = 3;
    bytes [11] = 1;
    memcpy (bytes + 12, mechanism, strlen (mechanism));
    bytes [32] = 0;             //  as-server, which libzmq leaves 0
    for (int index = 33; index < SQ_GREETING_SIZE; index++)
        bytes [index] = (uint8_t) index;   //  Filler is opaque
}

//  Feeds the greeting in chunks of `step` bytes; returns bytes consumed
static size_t
s_feed_chunked (sq_greeting_t *greeting, const uint8_t *bytes, size_t size, size_t step)
{
    size_t consumed = 0;
    for (size_t offset = 0; offset < size; offset += step) {
        size_t length = size - offset < step? size - offset: step;
        consumed += sq_greeting_feed (greeting, bytes + offset, length);
        if (greeting->status != SQ_GREETING_PARTIAL)
            break;
    }
    return consumed;
}

static void
test_every_chunk_size (void)
{
    uint8_t bytes [SQ_GREETING_SIZE];
    s_make_greeting (bytes, "CURVE");
    for (size_t step = 1; step <= SQ_GREETING_SIZE; step++) {
        sq_greeting_t greeting;
        sq_greeting_init (&greeting);
        SQ_CHECK_EQ (s_feed_chunked (&greeting, bytes, sizeof bytes, step), SQ_GREETING_SIZE);
        SQ_CHECK_EQ (greeting.status, SQ_GREETING_DONE);
        SQ_CHECK_STR (greeting.mechanism, "CURVE");
        SQ_CHECK_EQ (sq_greeting_major (&greeting), 3);
        SQ_CHECK_EQ (sq_greeting_minor (&greeting), 1);
        SQ_CHECK (memcmp (sq_greeting_tail (&greeting), bytes + 11, SQ_GREETING_TAIL_SIZE) == 0);
    }
}

//  The way libzmq sends it: 10, then 1, then 53 bytes
static void
test_interleaved_chunks (void)
{
    uint8_t bytes [SQ_GREETING_SIZE];
    s_make_greeting (bytes, "PLAIN");
    sq_greeting_t greeting;
    sq_greeting_init (&greeting);
    SQ_CHECK_EQ (sq_greeting_feed (&greeting, bytes, 10), 10);
    SQ_CHECK_EQ (greeting.status, SQ_GREETING_PARTIAL);
    SQ_CHECK_EQ (sq_greeting_feed (&greeting, bytes + 10, 1), 1);
    SQ_CHECK_EQ (greeting.status, SQ_GREETING_PARTIAL);
    SQ_CHECK_EQ (sq_greeting_feed (&greeting, bytes + 11, 53), 53);
    SQ_CHECK_EQ (greeting.status, SQ_GREETING_DONE);
    SQ_CHECK_STR (greeting.mechanism, "PLAIN");
}

//  Bytes after the greeting belong to the stream and are not consumed
static void
test_trailing_bytes_left (void)
{
    uint8_t bytes [SQ_GREETING_SIZE + 7];
    s_make_greeting (bytes, "NULL");
    memset (bytes + SQ_GREETING_SIZE, 0xAB, 7);
    sq_greeting_t greeting;
    sq_greeting_init (&greeting);
    SQ_CHECK_EQ (sq_greeting_feed (&greeting, bytes, sizeof bytes), SQ_GREETING_SIZE);
    SQ_CHECK_EQ (greeting.status, SQ_GREETING_DONE);
    //  Once done, it takes nothing more
    SQ_CHECK_EQ (sq_greeting_feed (&greeting, bytes, 5), 0);
}

static void
test_any_mechanism_name (void)
{
    const char *names [] = { "NULL", "PLAIN", "CURVE", "GSSAPI", "X-MY.MECH_2+",
                             "ABCDEFGHIJKLMNOPQRST" };
    for (size_t index = 0; index < sizeof names / sizeof names [0]; index++) {
        uint8_t bytes [SQ_GREETING_SIZE];
        s_make_greeting (bytes, names [index]);
        sq_greeting_t greeting;
        sq_greeting_init (&greeting);
        sq_greeting_feed (&greeting, bytes, sizeof bytes);
        SQ_CHECK_EQ (greeting.status, SQ_GREETING_DONE);
        SQ_CHECK_STR (greeting.mechanism, names [index]);
    }
}

//  Returns the status after feeding, and how many bytes were taken
static sq_greeting_status_t
s_status_of (const uint8_t *bytes, size_t size, size_t *consumed)
{
    sq_greeting_t greeting;
    sq_greeting_init (&greeting);
    *consumed = sq_greeting_feed (&greeting, bytes, size);
    return greeting.status;
}

static void
test_bad_signatures (void)
{
    size_t consumed;
    //  An HTTP request fails on its first byte
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    SQ_CHECK_EQ (s_status_of ((const uint8_t *) http, strlen (http), &consumed),
                 SQ_GREETING_BAD_SIGNATURE);
    SQ_CHECK_EQ (consumed, 1);
    //  ZMTP 1.0: a short frame (length, flags, body)
    uint8_t zmtp10 [] = { 0x01, 0x00 };
    SQ_CHECK_EQ (s_status_of (zmtp10, sizeof zmtp10, &consumed), SQ_GREETING_BAD_SIGNATURE);
    //  ZMTP 1.0 long frame: FF, 8-byte length, flags with a clear low bit
    uint8_t zmtp10_long [12] = { 0xFF, 0, 0, 0, 0, 0, 0, 1, 0, 0x00, 3, 0 };
    SQ_CHECK_EQ (s_status_of (zmtp10_long, sizeof zmtp10_long, &consumed),
                 SQ_GREETING_BAD_SIGNATURE);
    SQ_CHECK_EQ (consumed, 10);
}

static void
test_old_versions (void)
{
    for (uint8_t version = 0; version < 3; version++) {
        uint8_t bytes [SQ_GREETING_SIZE];
        s_make_greeting (bytes, "NULL");
        bytes [10] = version;       //  ZMTP 2.0 sends 01 here (revision)
        size_t consumed;
        SQ_CHECK_EQ (s_status_of (bytes, sizeof bytes, &consumed), SQ_GREETING_BAD_VERSION);
        SQ_CHECK_EQ (consumed, 11);
    }
    //  A later major version is accepted
    uint8_t bytes [SQ_GREETING_SIZE];
    s_make_greeting (bytes, "NULL");
    bytes [10] = 4;
    size_t consumed;
    SQ_CHECK_EQ (s_status_of (bytes, sizeof bytes, &consumed), SQ_GREETING_DONE);
}

static void
test_bad_mechanisms (void)
{
    uint8_t bytes [SQ_GREETING_SIZE];
    size_t consumed;
    s_make_greeting (bytes, "");
    SQ_CHECK_EQ (s_status_of (bytes, sizeof bytes, &consumed), SQ_GREETING_BAD_MECHANISM);
    s_make_greeting (bytes, "curve");           //  Lower case is not allowed
    SQ_CHECK_EQ (s_status_of (bytes, sizeof bytes, &consumed), SQ_GREETING_BAD_MECHANISM);
    s_make_greeting (bytes, "NULL");
    bytes [12 + 6] = 'X';                       //  A character after the padding
    SQ_CHECK_EQ (s_status_of (bytes, sizeof bytes, &consumed), SQ_GREETING_BAD_MECHANISM);
    SQ_CHECK_EQ (consumed, 32);
}

static void
test_truncated (void)
{
    uint8_t bytes [SQ_GREETING_SIZE];
    s_make_greeting (bytes, "NULL");
    for (size_t size = 0; size < SQ_GREETING_SIZE; size++) {
        size_t consumed;
        SQ_CHECK_EQ (s_status_of (bytes, size, &consumed), SQ_GREETING_PARTIAL);
        SQ_CHECK_EQ (consumed, size);
    }
}

//  Random bytes are refused, and never read past 64 bytes
static void
test_random_bytes (void)
{
    srand (7);
    int refused = 0;
    for (int round = 0; round < 10000; round++) {
        uint8_t bytes [100];
        for (size_t index = 0; index < sizeof bytes; index++)
            bytes [index] = (uint8_t) rand ();
        size_t consumed;
        sq_greeting_status_t status = s_status_of (bytes, sizeof bytes, &consumed);
        SQ_CHECK (consumed <= SQ_GREETING_SIZE);
        refused += status != SQ_GREETING_DONE;
    }
    SQ_CHECK_EQ (refused, 10000);
}

static void
test_prefix_is_signature_and_major (void)
{
    SQ_CHECK_EQ (sq_greeting_prefix [0], 0xFF);
    SQ_CHECK_EQ (sq_greeting_prefix [9], 0x7F);
    SQ_CHECK_EQ (sq_greeting_prefix [10], 3);
    //  The proxy's own prefix parses as the start of a valid greeting
    size_t consumed;
    SQ_CHECK_EQ (s_status_of (sq_greeting_prefix, SQ_GREETING_PREFIX_SIZE, &consumed),
                 SQ_GREETING_PARTIAL);
}

int
main (void)
{
    SQ_RUN (test_every_chunk_size);
    SQ_RUN (test_interleaved_chunks);
    SQ_RUN (test_trailing_bytes_left);
    SQ_RUN (test_any_mechanism_name);
    SQ_RUN (test_bad_signatures);
    SQ_RUN (test_old_versions);
    SQ_RUN (test_bad_mechanisms);
    SQ_RUN (test_truncated);
    SQ_RUN (test_random_bytes);
    SQ_RUN (test_prefix_is_signature_and_major);
    return sq_test_summary ();
}
