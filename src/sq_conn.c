/*  =========================================================================
    sq_conn - connections and the O(1) connection table
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <stdarg.h>
#include "sq_conn.h"
#include "sq_log.h"

struct sq_conn_table {
    sq_conn_t **buckets;
    size_t bucket_count;        //  Always a power of two
    size_t count [2];           //  Per side
    sq_list_t all;
};

#define S_INITIAL_BUCKETS 1024

sq_conn_t *
sq_conn_new (sq_side_t side, const uint8_t *id, size_t id_size)
{
    assert (id_size <= SQ_ID_MAX);
    sq_conn_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->side = side;
    self->state = SQ_CONN_GREETING;
    memcpy (self->id, id, id_size);
    self->id_size = id_size;
    self->fd = -1;
    sq_greeting_init (&self->greeting);
    sq_buf_init (&self->early);
    sq_buf_init (&self->outq);
    sq_list_init (&self->state_node);
    sq_list_init (&self->blocked_node);
    sq_list_init (&self->wait_node);
    sq_list_init (&self->age_node);
    sq_list_init (&self->activity_node);
    sq_list_init (&self->all_node);
    sq_list_init (&self->handshake_node);
    return self;
}

void
sq_conn_destroy (sq_conn_t **self_p)
{
    sq_conn_t *self = *self_p;
    if (!self)
        return;
    sq_buf_clear (&self->early);
    sq_buf_clear (&self->outq);
    free (self->reader);
    free (self);
    *self_p = NULL;
}

void
sq_conn_log (const sq_conn_t *self, const char *format, ...)
{
    if (!sq_log_enabled (SQ_LOG_INFO))
        return;
    char event [256];
    va_list args;
    va_start (args, format);
    vsnprintf (event, sizeof event, format, args);
    va_end (args);
    sq_info ("%s #%llu %s %s", sq_side_name (self->side),
             (unsigned long long) self->serial, self->address, event);
}

const char *
sq_side_name (sq_side_t side)
{
    return side == SQ_FRONTEND? "frontend": "backend";
}

const char *
sq_closed_name (sq_closed_t code)
{
    static const char *names [SQ_CLOSED_COUNT] = {
        "peer", "partner", "heartbeat", "idle_timeout", "lifetime", "greeting",
        "queue", "slow_peer", "handshake", "operator", "shutdown",
        "other"
    };
    return code < SQ_CLOSED_COUNT? names [code]: "other";
}

void
sq_conn_address_key (sq_side_t side, const char *address, char *key, size_t size)
{
    snprintf (key, size, "%c %s", side == SQ_FRONTEND? 'f': 'b', address);
}

const char *
sq_conn_state_name (sq_conn_state_t state)
{
    static const char *names [] = {
        "greeting", "naming", "screening", "queued", "idle", "paired", "closing",
        "dead"
    };
    return names [state];
}

//  FNV-1a over the side and the id bytes
static size_t
s_hash (sq_side_t side, const uint8_t *id, size_t id_size)
{
    uint64_t hash = 14695981039346656037ULL ^ (uint64_t) side;
    hash *= 1099511628211ULL;
    for (size_t index = 0; index < id_size; index++) {
        hash ^= id [index];
        hash *= 1099511628211ULL;
    }
    return (size_t) (hash ^ (hash >> 32));
}

sq_conn_table_t *
sq_conn_table_new (void)
{
    sq_conn_table_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->bucket_count = S_INITIAL_BUCKETS;
    self->buckets = calloc (self->bucket_count, sizeof (sq_conn_t *));
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    sq_list_init (&self->all);
    return self;
}

void
sq_conn_table_destroy (sq_conn_table_t **self_p)
{
    sq_conn_table_t *self = *self_p;
    if (!self)
        return;
    while (!sq_list_empty (&self->all)) {
        sq_conn_t *conn = sq_list_entry (self->all.next, sq_conn_t, all_node);
        sq_list_remove (&conn->all_node);
        sq_conn_destroy (&conn);
    }
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static sq_conn_t **
s_bucket (sq_conn_table_t *self, sq_side_t side, const uint8_t *id, size_t id_size)
{
    return &self->buckets [s_hash (side, id, id_size) & (self->bucket_count - 1)];
}

//  Doubles the buckets when the table holds more entries than buckets, so
//  chains stay short; on allocation failure it keeps the old size
static void
s_grow (sq_conn_table_t *self)
{
    size_t total = self->count [0] + self->count [1];
    if (total < self->bucket_count)
        return;
    sq_conn_t **old = self->buckets;
    size_t old_count = self->bucket_count;
    sq_conn_t **buckets = calloc (old_count * 2, sizeof (sq_conn_t *));
    if (!buckets)
        return;
    self->buckets = buckets;
    self->bucket_count = old_count * 2;
    for (size_t index = 0; index < old_count; index++)
        while (old [index]) {
            sq_conn_t *conn = old [index];
            old [index] = conn->hash_next;
            sq_conn_t **bucket = s_bucket (self, conn->side, conn->id, conn->id_size);
            conn->hash_next = *bucket;
            *bucket = conn;
        }
    free (old);
}

void
sq_conn_table_insert (sq_conn_table_t *self, sq_conn_t *conn)
{
    assert (!sq_conn_table_lookup (self, conn->side, conn->id, conn->id_size));
    s_grow (self);
    sq_conn_t **bucket = s_bucket (self, conn->side, conn->id, conn->id_size);
    conn->hash_next = *bucket;
    *bucket = conn;
    self->count [conn->side]++;
    sq_list_append (&self->all, &conn->all_node);
}

void
sq_conn_table_remove (sq_conn_table_t *self, sq_conn_t *conn)
{
    sq_conn_t **link = s_bucket (self, conn->side, conn->id, conn->id_size);
    while (*link && *link != conn)
        link = &(*link)->hash_next;
    if (!*link)
        return;                 //  Not in the table
    *link = conn->hash_next;
    conn->hash_next = NULL;
    self->count [conn->side]--;
    sq_list_remove (&conn->all_node);
}

sq_conn_t *
sq_conn_table_lookup (sq_conn_table_t *self, sq_side_t side,
                      const uint8_t *id, size_t id_size)
{
    sq_conn_t *conn = *s_bucket (self, side, id, id_size);
    while (conn) {
        if (conn->side == side && conn->id_size == id_size
        &&  memcmp (conn->id, id, id_size) == 0)
            return conn;
        conn = conn->hash_next;
    }
    return NULL;
}

size_t
sq_conn_table_count (sq_conn_table_t *self, sq_side_t side)
{
    return self->count [side];
}

sq_list_t *
sq_conn_table_all (sq_conn_table_t *self)
{
    return &self->all;
}
