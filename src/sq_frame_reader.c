/*  =========================================================================
    sq_frame_reader - follows ZMTP 3 framing: bytes in, frames out, no I/O
    =========================================================================
*/
#include <stdio.h>
#include <string.h>
#include "sq_frame_reader.h"

enum { S_FLAGS = 0, S_SIZE, S_BODY };

//  Flag bits ZMTP 3 leaves reserved: a peer must send them as zero
#define S_RESERVED 0xF8

void
sq_frame_reader_init (sq_frame_reader_t *self, uint64_t max_size)
{
    memset (self, 0, sizeof *self);
    self->stage = S_FLAGS;
    self->max_size = max_size;
}

static size_t
s_malformed (sq_frame_reader_t *self, const char *error, size_t used)
{
    self->status = SQ_FRAME_MALFORMED;
    self->error = error;
    return used;
}

//  What is wrong with a command's name, once head holds its length byte
//  (a length that fits the body) and then all of it (letters only, as RFC
//  23 asks), or NULL
static const char *
s_name_error (const sq_frame_reader_t *self)
{
    size_t length = self->head [0];
    if (length == 0)
        return "a command with an empty name";
    if (length > self->size - 1) {
        //  Perhaps libzmq's PLAIN ERROR: undecided until its name is in
        bool maybe = length == 0x5E && self->size >= 5;
        if (maybe && self->head_size < 5)
            return NULL;
        if (maybe && sq_frame_libzmq_plain_error (self->head, self->head_size))
            return NULL;
        return "a command name longer than its frame";
    }
    if (self->head_size < 1 + length)
        return NULL;                    //  Not all of it yet
    for (size_t index = 1; index <= length; index++) {
        uint8_t letter = self->head [index];
        if (!((letter >= 'A' && letter <= 'Z') || (letter >= 'a' && letter <= 'z')))
            return "a command name that is not letters";
    }
    return NULL;
}

//  Where the name of the current command ends in its body: after its
//  length byte, then after the name; libzmq's PLAIN ERROR is told from a
//  name too long for its frame on its first 5 bytes
static size_t
s_name_end (const sq_frame_reader_t *self)
{
    if (self->head_size == 0)
        return 1;
    size_t length = self->head [0];
    if (length == 0x5E && length > self->size - 1 && self->size >= 5)
        return 5;
    return 1 + length;
}

//  The size is known: checks it and moves on to the body (or ends an
//  empty frame); false when the frame is malformed
static bool
s_size_known (sq_frame_reader_t *self)
{
    if (self->max_size && self->size > self->max_size) {
        s_malformed (self, "a frame larger than a handshake allows", 0);
        return false;
    }
    if ((self->flags & SQ_FRAME_COMMAND) && self->size == 0) {
        s_malformed (self, "an empty command frame", 0);
        return false;
    }
    self->stage = S_BODY;
    self->body_read = 0;
    self->head_size = 0;
    self->named = false;
    return true;
}

static void
s_frame_done (sq_frame_reader_t *self)
{
    self->status = SQ_FRAME_COMPLETE;
    self->stage = S_FLAGS;
    self->frames++;
}

static size_t
s_feed_flags (sq_frame_reader_t *self, uint8_t flags)
{
    if (flags & S_RESERVED)
        return s_malformed (self, "reserved flag bits set", 0);
    if ((flags & SQ_FRAME_COMMAND) && (flags & SQ_FRAME_MORE))
        return s_malformed (self, "a command frame marked 'more'", 0);
    self->flags = flags;
    self->size = 0;
    self->size_read = 0;
    self->size_needed = (flags & SQ_FRAME_LONG)? 8: 1;
    self->stage = S_SIZE;
    return 1;
}

static void
s_feed_size (sq_frame_reader_t *self, uint8_t byte)
{
    self->size = self->size << 8 | byte;
    self->size_read++;
    if (self->size_read == self->size_needed && s_size_known (self) && self->size == 0)
        s_frame_done (self);
}

//  Takes body bytes, keeping the head; returns how many it took. While a
//  command's name is not all in, it takes no byte past the name, so that
//  a bad name breaks the framing at the same byte in every chunking.
static size_t
s_feed_body (sq_frame_reader_t *self, const uint8_t *data, size_t size)
{
    uint64_t left = self->size - self->body_read;
    size_t take = left < size? (size_t) left: size;
    bool naming = (self->flags & SQ_FRAME_COMMAND) && !self->named;
    if (naming && take > s_name_end (self) - self->head_size)
        take = s_name_end (self) - self->head_size;
    size_t room = SQ_FRAME_HEAD_MAX - self->head_size;
    size_t keep = take < room? take: room;
    memcpy (self->head + self->head_size, data, keep);
    self->head_size += keep;
    self->body_read += take;
    if (naming) {
        const char *error = s_name_error (self);
        if (error)
            return s_malformed (self, error, take);
        self->named = self->head_size == s_name_end (self);
    }
    if (self->body_read == self->size)
        s_frame_done (self);
    return take;
}

size_t
sq_frame_reader_feed (sq_frame_reader_t *self, const uint8_t *data, size_t size)
{
    if (self->status == SQ_FRAME_MALFORMED)
        return 0;
    self->status = SQ_FRAME_PARTIAL;
    size_t used = 0;
    while (used < size && self->status == SQ_FRAME_PARTIAL) {
        if (self->stage == S_FLAGS)
            used += s_feed_flags (self, data [used]);
        else
        if (self->stage == S_SIZE)
            s_feed_size (self, data [used++]);
        else
            used += s_feed_body (self, data + used, size - used);
    }
    return used;
}

bool
sq_frame_reader_is_command (const sq_frame_reader_t *self)
{
    return (self->flags & SQ_FRAME_COMMAND) != 0;
}

bool
sq_frame_libzmq_plain_error (const uint8_t *body, size_t size)
{
    return size >= 5 && body [0] == 0x5E && memcmp (body + 1, "RROR", 4) == 0;
}

bool
sq_frame_reader_named (const sq_frame_reader_t *self, const char *name)
{
    size_t length = strlen (name);
    if (!sq_frame_reader_is_command (self))
        return false;
    if (sq_frame_libzmq_plain_error (self->head, self->head_size))
        return strcmp (name, "ERROR") == 0;
    return self->head_size >= 1 + length && self->head [0] == length
        && memcmp (self->head + 1, name, length) == 0;
}

void
sq_frame_reader_name (const sq_frame_reader_t *self, char *name, size_t size)
{
    if (sq_frame_libzmq_plain_error (self->head, self->head_size)) {
        snprintf (name, size, "ERROR");
        return;
    }
    size_t length = self->head_size? self->head [0]: 0;
    if (length > self->head_size - 1)
        length = self->head_size - 1;
    if (length >= size)
        length = size - 1;
    memcpy (name, self->head + 1, length);
    name [length] = 0;
}

uint64_t
sq_frame_reader_wire_size (const sq_frame_reader_t *self)
{
    return 1 + self->size_needed + self->size;
}
