/*  =========================================================================
    fuzz_greeting - the ZMTP greeting parser, fed in chunks

    Input: one plan byte, then the bytes a peer sends. The plan byte picks
    the chunking: 0 feeds everything at once, else chunks alternate between
    (plan & 15) + 1 and (plan >> 4) + 1 bytes, with an empty feed before
    each. Every feed is checked against the promises of sq_greeting.h, and
    the outcome against a parser fed all at once and against the ZMTP 3
    rules restated here: the result must not depend on the chunking.
    =========================================================================
*/
#include <stdlib.h>
#include <string.h>
#include "sq_fuzz.h"
#include "sq_greeting.h"

#define S_MECHANISM_AT 12

//  The ZMTP 3 rules, written out independently of the parser

static bool
s_mechanism_char (uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr ("-_.+", c));
}

//  1 to 20 mechanism chars, padded with NULs to 20 bytes
static bool
s_mechanism_valid (const uint8_t *name)
{
    const uint8_t *nul = memchr (name, 0, SQ_MECHANISM_MAX);
    size_t length = nul? (size_t) (nul - name): SQ_MECHANISM_MAX;
    if (length == 0)
        return false;
    for (size_t index = 0; index < length; index++)
        if (!s_mechanism_char (name [index]))
            return false;
    for (size_t index = length; index < SQ_MECHANISM_MAX; index++)
        if (name [index])
            return false;
    return true;
}

//  What a parser must decide after the whole stream, and how many bytes it
//  must take: it stops at the first byte that breaks a rule, or at 64
static sq_greeting_status_t
s_expected (const uint8_t *data, size_t size, size_t *consumed)
{
    const size_t mechanism_end = S_MECHANISM_AT + SQ_MECHANISM_MAX;
    //  In stream order, each rule with the byte count that settles it
    const struct {
        size_t settled_at;
        bool decides;
        sq_greeting_status_t status;
    } rules [] = {
        { 1,  size >= 1 && data [0] != 0xFF,     SQ_GREETING_BAD_SIGNATURE },
        { 10, size >= 10 && !(data [9] & 1),     SQ_GREETING_BAD_SIGNATURE },
        { 11, size >= 11 && data [10] < 3,       SQ_GREETING_BAD_VERSION },
        { mechanism_end, size >= mechanism_end
                      && !s_mechanism_valid (data + S_MECHANISM_AT),
                                                 SQ_GREETING_BAD_MECHANISM },
        { SQ_GREETING_SIZE, size >= SQ_GREETING_SIZE, SQ_GREETING_DONE }
    };
    for (size_t index = 0; index < sizeof rules / sizeof rules [0]; index++)
        if (rules [index].decides) {
            *consumed = rules [index].settled_at;
            return rules [index].status;
        }
    *consumed = size;
    return SQ_GREETING_PARTIAL;
}

//  One feed, checked. The chunk gets its own buffer so that ASan sees a
//  read past its end.
static size_t
s_feed (sq_greeting_t *parser, const uint8_t *data, size_t size)
{
    uint8_t *chunk = malloc (size? size: 1);
    SQ_FUZZ_CHECK (chunk);
    memcpy (chunk, data, size);
    sq_greeting_t before;
    memcpy (&before, parser, sizeof before);

    size_t consumed = sq_greeting_feed (parser, chunk, size);
    SQ_FUZZ_CHECK (consumed <= size);
    SQ_FUZZ_CHECK (parser->size == before.size + consumed);
    SQ_FUZZ_CHECK (parser->size <= SQ_GREETING_SIZE);
    //  Bytes taken are kept, in order, after the ones already there
    SQ_FUZZ_CHECK (memcmp (parser->bytes, before.bytes, before.size) == 0);
    SQ_FUZZ_CHECK (memcmp (parser->bytes + before.size, chunk, consumed) == 0);
    if (before.status != SQ_GREETING_PARTIAL)
        //  A decision is final: nothing more is taken, nothing changes
        SQ_FUZZ_CHECK (consumed == 0 && memcmp (parser, &before, sizeof before) == 0);
    else
    if (parser->status == SQ_GREETING_PARTIAL)
        //  Undecided: it took everything and still wants more
        SQ_FUZZ_CHECK (consumed == size && parser->size < SQ_GREETING_SIZE);
    else
        //  It decided on the last byte it took
        SQ_FUZZ_CHECK (consumed >= 1);
    free (chunk);
    return consumed;
}

//  A complete greeting says what its bytes say
static void
s_check_done (const sq_greeting_t *parser)
{
    SQ_FUZZ_CHECK (parser->size == SQ_GREETING_SIZE);
    SQ_FUZZ_CHECK (parser->bytes [0] == 0xFF && (parser->bytes [9] & 1));
    SQ_FUZZ_CHECK (sq_greeting_major (parser) >= 3);
    SQ_FUZZ_CHECK (sq_greeting_minor (parser) == parser->bytes [11]);
    SQ_FUZZ_CHECK (s_mechanism_valid (parser->bytes + S_MECHANISM_AT));
    size_t length = strnlen (parser->mechanism, sizeof parser->mechanism);
    SQ_FUZZ_CHECK (length >= 1 && length <= SQ_MECHANISM_MAX);
    SQ_FUZZ_CHECK (length == strnlen ((const char *) parser->bytes + S_MECHANISM_AT,
                                      SQ_MECHANISM_MAX));
    SQ_FUZZ_CHECK (memcmp (parser->mechanism, parser->bytes + S_MECHANISM_AT, length) == 0);
    SQ_FUZZ_CHECK (sq_greeting_tail (parser) == parser->bytes + SQ_GREETING_PREFIX_SIZE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t plan = data [0];
    const uint8_t *stream = data + 1;
    size_t length = size - 1;

    sq_greeting_t parser;
    sq_greeting_init (&parser);
    SQ_FUZZ_CHECK (parser.size == 0 && parser.status == SQ_GREETING_PARTIAL);
    size_t offset = 0, consumed = 0;
    for (unsigned chunk = 0; offset < length; chunk++) {
        size_t step = plan == 0? length
                    : (size_t) ((chunk % 2? plan >> 4: plan & 15) + 1);
        if (step > length - offset)
            step = length - offset;
        SQ_FUZZ_CHECK (s_feed (&parser, stream + offset, 0) == 0);
        consumed += s_feed (&parser, stream + offset, step);
        offset += step;
    }
    SQ_FUZZ_CHECK (consumed == parser.size);

    //  The same stream at once gives the same result
    sq_greeting_t whole;
    sq_greeting_init (&whole);
    SQ_FUZZ_CHECK (s_feed (&whole, stream, length) == consumed);
    SQ_FUZZ_CHECK (whole.status == parser.status);
    SQ_FUZZ_CHECK (memcmp (whole.bytes, parser.bytes, parser.size) == 0);

    //  And the rules agree
    size_t expected_consumed;
    SQ_FUZZ_CHECK (s_expected (stream, length, &expected_consumed) == parser.status);
    SQ_FUZZ_CHECK (expected_consumed == consumed);
    if (parser.status == SQ_GREETING_DONE)
        s_check_done (&parser);
    SQ_FUZZ_CHECK (sq_greeting_status_str (parser.status) != NULL);
    return 0;
}
