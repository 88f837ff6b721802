/*  =========================================================================
    fuzz_frames - the ZMTP frame reader and the first-command checks

    Input: one plan byte, one byte that picks a mechanism (NULL, PLAIN,
    CURVE, or one the proxy does not know), then the bytes a peer sends
    after its greeting. The plan byte picks the chunking as in
    fuzz_greeting.c. Every feed is checked against the promises of
    sq_frame_reader.h; the frames found must not depend on the chunking;
    the first complete frame goes through sq_zmtp_check_first, whose
    verdict must agree with the reader's on the framing.
    =========================================================================
*/
#include <stdlib.h>
#include <string.h>
#include "sq_fuzz.h"
#include "sq_frame_reader.h"
#include "sq_zmtp_check.h"

#define S_MAX_FRAMES 64
#define S_MAX_SIZE   65536

//  What a run found: the frames' wire sizes and flags, and how it ended
typedef struct {
    size_t count;
    uint64_t wire [S_MAX_FRAMES];
    uint8_t flags [S_MAX_FRAMES];
    sq_frame_status_t status;
    size_t consumed;
} s_run_t;

//  One feed, checked; its chunk in its own buffer so ASan sees overreads
static size_t
s_feed (sq_frame_reader_t *reader, const uint8_t *data, size_t size)
{
    uint8_t *chunk = malloc (size? size: 1);
    SQ_FUZZ_CHECK (chunk);
    memcpy (chunk, data, size);
    sq_frame_status_t before = reader->status;
    uint64_t frames = reader->frames;
    size_t used = sq_frame_reader_feed (reader, chunk, size);
    free (chunk);
    SQ_FUZZ_CHECK (used <= size);
    if (before == SQ_FRAME_MALFORMED)
        SQ_FUZZ_CHECK (used == 0 && reader->status == SQ_FRAME_MALFORMED);
    if (reader->status == SQ_FRAME_PARTIAL)
        SQ_FUZZ_CHECK (used == size && reader->frames == frames);
    if (reader->status == SQ_FRAME_COMPLETE) {
        SQ_FUZZ_CHECK (reader->frames == frames + 1);
        SQ_FUZZ_CHECK (reader->head_size <= SQ_FRAME_HEAD_MAX);
        SQ_FUZZ_CHECK (reader->head_size == (reader->size < SQ_FRAME_HEAD_MAX
                                             ? reader->size: SQ_FRAME_HEAD_MAX));
        SQ_FUZZ_CHECK (reader->size <= S_MAX_SIZE);
        SQ_FUZZ_CHECK (!(reader->flags & 0xF8));
        if (sq_frame_reader_is_command (reader)) {
            char name [SQ_COMMAND_NAME_MAX + 1];
            sq_frame_reader_name (reader, name, sizeof name);
            SQ_FUZZ_CHECK (strlen (name) >= 1 && !(reader->flags & SQ_FRAME_MORE));
        }
    }
    if (reader->status == SQ_FRAME_MALFORMED)
        SQ_FUZZ_CHECK (reader->error != NULL);
    return used;
}

//  Reads the stream in chunks of the plan, recording each frame
static void
s_read (const uint8_t *stream, size_t length, uint8_t plan, s_run_t *run)
{
    memset (run, 0, sizeof *run);
    sq_frame_reader_t reader;
    sq_frame_reader_init (&reader, S_MAX_SIZE);
    size_t offset = 0;
    for (unsigned chunk = 0; offset < length && reader.status != SQ_FRAME_MALFORMED; chunk++) {
        size_t step = plan == 0? length - offset
                    : (size_t) ((chunk % 2? plan >> 4: plan & 15) + 1);
        if (step > length - offset)
            step = length - offset;
        //  A frame ends within the chunk: feed the rest of it after
        size_t used = 0;
        while (used < step || step == 0) {
            used += s_feed (&reader, stream + offset + used, step - used);
            if (reader.status == SQ_FRAME_COMPLETE && run->count < S_MAX_FRAMES) {
                run->wire [run->count] = sq_frame_reader_wire_size (&reader);
                run->flags [run->count++] = reader.flags;
            }
            if (reader.status != SQ_FRAME_COMPLETE || step == 0)
                break;
        }
        offset += used;
    }
    run->status = reader.status == SQ_FRAME_COMPLETE? SQ_FRAME_PARTIAL: reader.status;
    run->consumed = offset;
}

static const char *s_mechanisms [] = { "NULL", "PLAIN", "CURVE", "GSSAPI" };

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t plan = data [0];
    const char *mechanism = s_mechanisms [data [1] % 4];
    const uint8_t *stream = data + 2;
    size_t length = size - 2;

    s_run_t chunked, whole;
    s_read (stream, length, plan, &chunked);
    s_read (stream, length, 0, &whole);
    SQ_FUZZ_CHECK (chunked.count == whole.count);
    SQ_FUZZ_CHECK (chunked.status == whole.status);
    SQ_FUZZ_CHECK (chunked.consumed == whole.consumed);
    SQ_FUZZ_CHECK (memcmp (chunked.wire, whole.wire, whole.count * sizeof whole.wire [0]) == 0);
    SQ_FUZZ_CHECK (memcmp (chunked.flags, whole.flags, whole.count) == 0);

    //  A well-formed first command is a whole, well-framed command frame
    if (whole.count >= 1) {
        size_t first = (size_t) whole.wire [0];
        const char *bad = sq_zmtp_check_first (mechanism, stream, first);
        if (!bad)
            SQ_FUZZ_CHECK (whole.flags [0] & SQ_FRAME_COMMAND);
        if (!(whole.flags [0] & SQ_FRAME_COMMAND))
            SQ_FUZZ_CHECK (bad != NULL);
        //  Cut short, it is never well formed
        SQ_FUZZ_CHECK (sq_zmtp_check_first (mechanism, stream, first - 1) != NULL);
    }
    else
    if (length > 0)
        SQ_FUZZ_CHECK (sq_zmtp_check_first (mechanism, stream, length) != NULL);
    return 0;
}
