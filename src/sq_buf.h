/*  =========================================================================
    sq_buf - a FIFO of byte chunks

    Holds bytes that could not be delivered yet, in order. Chunks keep the
    boundaries they were appended with, so a held chunk is sent as it came.
    =========================================================================
*/
#ifndef SQ_BUF_H_INCLUDED
#define SQ_BUF_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct sq_buf_chunk sq_buf_chunk_t;

typedef struct {
    sq_buf_chunk_t *head;
    sq_buf_chunk_t *tail;
    size_t size;            //  Bytes held in all chunks
    size_t chunks;          //  Number of chunks
} sq_buf_t;

//  Makes an empty buffer
void sq_buf_init (sq_buf_t *self);

//  Frees every chunk; the buffer is empty afterwards
void sq_buf_clear (sq_buf_t *self);

//  Copies size bytes to the tail; returns false when out of memory (nothing
//  is appended then)
bool sq_buf_append (sq_buf_t *self, const uint8_t *data, size_t size);

//  The oldest chunk; returns false when the buffer is empty
bool sq_buf_peek (const sq_buf_t *self, const uint8_t **data, size_t *size);

//  Copies up to size bytes from the start of the buffer into dest;
//  returns how many it copied
size_t sq_buf_copy (const sq_buf_t *self, uint8_t *dest, size_t size);

//  Drops the oldest chunk
void sq_buf_pop (sq_buf_t *self);

static inline bool
sq_buf_empty (const sq_buf_t *self)
{
    return self->head == NULL;
}

#endif
