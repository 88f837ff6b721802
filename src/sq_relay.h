/*  =========================================================================
    sq_relay - one direction of a pair the engine moves itself: bytes from
    a source connection to a sink connection, with back-pressure

    The relay does no I/O of its own: it calls the functions of an
    sq_relay_io_t (read, write, splice through a pipe, shut the sink's
    writing side down), so its logic can be tested without sockets.

    Back-pressure: what the sink did not take is held (at most one read,
    in a buffer of the size read, or what is in the pipe), and while
    anything is held the source is not read. So a relay never holds more
    than one read's worth or one pipe's worth, the source's kernel buffer
    fills, and TCP's own flow control tells the sending peer to wait, as
    it would end to end. Nothing is dropped, cut or reordered.

    The source's readable flag and the sink's writable flag belong to the
    connections (each is the source of one relay and the sink of the
    other): the relay reads them and clears them when a read or write
    shows that they no longer hold (edge-triggered readiness: a short read
    or write, or EAGAIN; but after a hang-up only the end itself), and the
    engine sets them when the loop says so.

    Large transfers go through a pipe with splice(2), when io offers one:
    after splice_after bytes came in full reads in a row (a read that
    fills the whole scratch buffer) the relay asks for a pipe, and gives
    it back once the pipe is empty and the source has nothing more to
    read. splice from a socket into a pipe says EAGAIN both when the
    socket is empty and when the pipe is full, so the relay takes EAGAIN
    for an empty socket only when its pipe is empty; otherwise it tries
    again once the sink has taken something from the pipe.

    The source's end (a read of 0) is passed on once everything before it
    was delivered: the sink's writing side is shut down, and the relay is
    done; the other direction of the pair goes on (a half-closed
    connection stays half-open through the proxy).
    =========================================================================
*/
#ifndef SQ_RELAY_H_INCLUDED
#define SQ_RELAY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

//  The I/O of one relay; each function returns as the system call it
//  stands for does (bytes, 0 at the end, or -1 with errno set)
typedef struct {
    ssize_t (*read) (void *ctx, uint8_t *data, size_t size);
    ssize_t (*write) (void *ctx, const uint8_t *data, size_t size);
    //  The source into the pipe, and the pipe into the sink; both NULL
    //  when there is no splice
    ssize_t (*splice_in) (void *ctx, size_t size);
    ssize_t (*splice_out) (void *ctx, size_t size);
    //  A pipe for this relay: its capacity in bytes, or 0 when there is
    //  none to have; and giving it back, empty
    size_t (*pipe_get) (void *ctx);
    void (*pipe_put) (void *ctx);
    //  Shuts the sink's writing side down; -1 with errno on failure
    int (*shutdown) (void *ctx);
} sq_relay_io_t;

typedef enum {
    SQ_RELAY_IDLE = 0,      //  Waits for the source or the sink to be ready
    SQ_RELAY_MORE,          //  The budget ran out with work left: call again
    SQ_RELAY_DONE,          //  The source ended, and that was passed on
    SQ_RELAY_SOURCE_FAILED, //  Reading the source failed (errno kept in error)
    SQ_RELAY_SINK_FAILED    //  Writing the sink failed
} sq_relay_result_t;

//  What the loop told of a connection and was not used up yet
typedef struct {
    bool readable;              //  Bytes, or the end, to read
    bool writable;              //  Room to write
    bool hangup;                //  The peer ended or the connection failed:
                                //  a short read does not empty it, only
                                //  the end (or the failure) does
} sq_relay_flags_t;

typedef struct {
    const sq_relay_io_t *io;
    void *ctx;
    sq_relay_flags_t *source;   //  The source's flags
    sq_relay_flags_t *sink;     //  The sink's flags
    size_t splice_after;        //  Bytes of full reads in a row before a pipe;
                                //  0: never
    uint8_t *held;              //  What the sink did not take, or NULL
    size_t held_size;
    size_t held_done;
    size_t piped;               //  Bytes in the pipe
    size_t pipe_size;           //  0: no pipe now
    size_t full_run;            //  Bytes of full reads in a row
    bool ended;                 //  The source ended (read 0)
    bool done;                  //  And the sink was shut down
    bool pipe_stuck;            //  splice_in said EAGAIN with bytes in the pipe
    int error;                  //  errno of a failure
    uint64_t moved;             //  Delivered to the sink, not yet taken
} sq_relay_t;

//  Sets a relay up, holding nothing, with the flags it reads and clears
//  (the source's readable, the sink's writable)
void sq_relay_init (sq_relay_t *self, const sq_relay_io_t *io, void *ctx,
                    sq_relay_flags_t *source, sq_relay_flags_t *sink, size_t splice_after);

//  Frees what it holds; a pipe it still has is given back to io only when
//  empty (returns true if it kept a pipe with bytes in it, which the
//  caller must then close rather than reuse)
bool sq_relay_clear (sq_relay_t *self);

//  Takes size bytes to deliver before anything read: what the engine held
//  for the sink when the pair was handed to it. Takes ownership of data
//  (from malloc). Call before the first pump.
void sq_relay_hold (sq_relay_t *self, uint8_t *data, size_t size);

//  Moves bytes while the flags allow it and until about budget bytes were
//  read, reading into scratch (scratch_size bytes). may_read false moves
//  only what is held (a relay whose source is closing or paused).
sq_relay_result_t sq_relay_pump (sq_relay_t *self, uint8_t *scratch, size_t scratch_size,
                                 size_t budget, bool may_read);

//  Bytes held for the sink (buffer and pipe)
size_t sq_relay_held (const sq_relay_t *self);

//  Bytes delivered since the last call, for the core's counters
uint64_t sq_relay_take_moved (sq_relay_t *self);

#endif
