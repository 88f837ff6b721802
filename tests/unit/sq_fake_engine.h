/*  =========================================================================
    A recording engine for unit tests of the core: it implements the core's
    own sq_engine_t interface (no libzmq), keeps every byte the core sends to
    each connection, and can be told to refuse sends (would block) or to
    report a connection gone.
    =========================================================================
*/
#ifndef SQ_FAKE_ENGINE_H_INCLUDED
#define SQ_FAKE_ENGINE_H_INCLUDED

#include "sq_core.h"

#define FAKE_PEERS 1024
#define FAKE_BYTES (16 * 1024)

typedef struct {
    uint8_t received [FAKE_BYTES];  //  What the core sent to this peer
    size_t size;
    bool closed;                    //  The core closed it
    bool blocked;                   //  Sends return AGAIN
    bool gone;                      //  Sends return GONE
    size_t sends;
} fake_peer_t;

typedef struct {
    fake_peer_t peer [2][FAKE_PEERS];
    size_t close_calls;
    bool takes_pairs;               //  Its handoff takes pairs
    size_t handoffs;                //  Pairs it was handed
    sq_engine_figures_t figures;    //  What it tells of itself, when
                                    //  figures.name is set
} fake_engine_t;

static inline fake_peer_t *
fake_peer_of (fake_engine_t *self, const sq_conn_t *conn)
{
    unsigned number = conn->id [1] << 8 | conn->id [2];
    return &self->peer [conn->side][number % FAKE_PEERS];
}

static inline sq_send_result_t
fake_send (void *handle, sq_conn_t *conn, const uint8_t *data, size_t size)
{
    fake_peer_t *peer = fake_peer_of (handle, conn);
    if (peer->gone)
        return SQ_SEND_GONE;
    if (peer->blocked)
        return SQ_SEND_AGAIN;
    if (peer->size + size <= FAKE_BYTES) {
        memcpy (peer->received + peer->size, data, size);
        peer->size += size;
    }
    peer->sends++;
    return SQ_SEND_OK;
}

static inline sq_send_result_t
fake_close (void *handle, sq_conn_t *conn)
{
    fake_engine_t *self = handle;
    fake_peer_t *peer = fake_peer_of (self, conn);
    if (peer->blocked)
        return SQ_SEND_AGAIN;
    peer->closed = true;
    self->close_calls++;
    return SQ_SEND_OK;
}

//  Takes a pair whose handshake is over when takes_pairs is set
static inline bool
fake_handoff (void *handle, sq_conn_t *client, sq_conn_t *worker)
{
    fake_engine_t *self = handle;
    (void) client;
    (void) worker;
    if (self->takes_pairs)
        self->handoffs++;
    return self->takes_pairs;
}

//  Tells its figures, once a test set their name
static inline void
fake_figures (void *handle, sq_engine_figures_t *figures)
{
    fake_engine_t *self = handle;
    if (self->figures.name)
        *figures = self->figures;
}

static inline sq_engine_t
fake_engine_ops (fake_engine_t *self)
{
    sq_engine_t engine = { .handle = self, .send = fake_send, .close = fake_close,
                           .handoff = fake_handoff, .figures = fake_figures };
    return engine;
}

//  A ZMQ_STREAM-like 5-byte routing id for peer number n
static inline void
fake_id (unsigned n, uint8_t *id)
{
    id [0] = 0;
    id [1] = (uint8_t) (n >> 8);
    id [2] = (uint8_t) n;
    id [3] = 0;
    id [4] = 0;
}

#endif
