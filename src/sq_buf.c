/*  sq_buf - a FIFO of byte chunks  */
#include <stdlib.h>
#include <string.h>
#include "sq_buf.h"

struct sq_buf_chunk {
    sq_buf_chunk_t *next;
    size_t size;
    uint8_t data [];
};

void
sq_buf_init (sq_buf_t *self)
{
    memset (self, 0, sizeof *self);
}

void
sq_buf_clear (sq_buf_t *self)
{
    while (self->head)
        sq_buf_pop (self);
}

bool
sq_buf_append (sq_buf_t *self, const uint8_t *data, size_t size)
{
    sq_buf_chunk_t *chunk = malloc (sizeof *chunk + size);
    if (!chunk)
        return false;
    chunk->next = NULL;
    chunk->size = size;
    if (size)
        memcpy (chunk->data, data, size);
    if (self->tail)
        self->tail->next = chunk;
    else
        self->head = chunk;
    self->tail = chunk;
    self->size += size;
    self->chunks++;
    return true;
}

bool
sq_buf_peek (const sq_buf_t *self, const uint8_t **data, size_t *size)
{
    if (!self->head)
        return false;
    *data = self->head->data;
    *size = self->head->size;
    return true;
}

void
sq_buf_pop (sq_buf_t *self)
{
    sq_buf_chunk_t *chunk = self->head;
    if (!chunk)
        return;
    self->head = chunk->next;
    if (!self->head)
        self->tail = NULL;
    self->size -= chunk->size;
    self->chunks--;
    free (chunk);
}

size_t
sq_buf_copy (const sq_buf_t *self, uint8_t *dest, size_t size)
{
    size_t copied = 0;
    for (const sq_buf_chunk_t *chunk = self->head; chunk && copied < size;
         chunk = chunk->next) {
        size_t take = chunk->size < size - copied? chunk->size: size - copied;
        memcpy (dest + copied, chunk->data, take);
        copied += take;
    }
    return copied;
}
