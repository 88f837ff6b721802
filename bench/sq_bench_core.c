/*  =========================================================================
    sq_bench_core - the core alone: pairing decisions and lookups at size

        sq_bench_core [--quick] [--csv FILE]

    Drives the I/O-free core with an engine that does nothing and a
    synthetic clock, at three sizes (100, 1 000 and 100 000 connections,
    with 10, 100 and 10 000 workers), to show whether its costs stay flat
    as the tables grow. Per size:

    - lookups by routing id, in random order over every live connection;
    - pairing: a client arrives and sends its greeting and READY command,
      the core screens it, chooses a worker and pairs them (timed alone:
      the "pairing decision"); then,
      untimed in that figure but counted in the cycle rate, the client
      leaves, the worker connection closes and the worker dials a new slot,
      so the population stays the same from one cycle to the next;
    - one loop turn of housekeeping (sq_core_next_timeout + sq_core_tick).

    The population at N connections: N/2 idle worker slots and N/4 pairs,
    spread evenly over the workers.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sq_core.h"
#include "sq_log.h"
#include "sq_bench.h"

#define S_ID_SIZE 5
//  Bounds of each timed phase: whichever comes first
#define S_MAX_CYCLES 2000000
#define S_MAX_LOOKUPS 20000000
#define S_MAX_TURNS 2000000

typedef struct {
    size_t conns;
    size_t workers;
} s_size_t;

static const s_size_t s_sizes [] = {
    { 100, 10 }, { 1000, 100 }, { 100000, 10000 }
};

typedef struct {
    sq_core_t *core;
    uint32_t next_id [2];
    int64_t now;
    //  A NULL peer's greeting, then its READY command: a worker sends the
    //  greeting alone on arrival, a client both
    uint8_t greeting [SQ_GREETING_SIZE + SQ_BENCH_NULL_READY_SIZE];
    uint64_t engine_calls;
} s_bench_t;

typedef struct {
    double lookups_per_s;
    double lookup_ns;
    double pairings_per_s;      //  The pairing call alone
    double pairing_ns;
    double cycles_per_s;        //  Connect, greet, pair, leave, redial
    double turn_ns;             //  next_timeout + tick
    size_t misses;              //  Lookups that found nothing (must be 0)
} s_result_t;

static int64_t
s_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

//  The engine: takes every byte and every close, does nothing
static sq_send_result_t
s_engine_send (void *handle, sq_conn_t *conn, const uint8_t *data, size_t size)
{
    (void) conn; (void) data; (void) size;
    ((s_bench_t *) handle)->engine_calls++;
    return SQ_SEND_OK;
}

static sq_send_result_t
s_engine_close (void *handle, sq_conn_t *conn)
{
    (void) conn;
    ((s_bench_t *) handle)->engine_calls++;
    return SQ_SEND_OK;
}

//  A ZMQ_STREAM-like id: 00 + a 32-bit counter per side
static void
s_make_id (uint32_t number, uint8_t *id)
{
    id [0] = 0;
    id [1] = (uint8_t) (number >> 24);
    id [2] = (uint8_t) (number >> 16);
    id [3] = (uint8_t) (number >> 8);
    id [4] = (uint8_t) number;
}

static void
s_worker_host (size_t worker, char *host, size_t size)
{
    snprintf (host, size, "10.%zu.%zu.%zu", worker >> 16 & 255, worker >> 8 & 255, worker & 255);
}

//  The bytes a peer of that side opens with
static size_t
s_opening (sq_side_t side)
{
    return side == SQ_FRONTEND? SQ_GREETING_SIZE + SQ_BENCH_NULL_READY_SIZE: SQ_GREETING_SIZE;
}

//  A peer connects and sends its whole NULL greeting (a client its READY
//  too); returns its connection
static sq_conn_t *
s_arrive (s_bench_t *self, sq_side_t side, const char *host)
{
    uint8_t id [S_ID_SIZE];
    s_make_id (++self->next_id [side], id);
    sq_conn_t *conn = sq_core_connected (self->core, side, id, S_ID_SIZE,
                                         host, host, self->now);
    if (conn)
        sq_core_received (self->core, conn, self->greeting, s_opening (side), self->now);
    return conn;
}

static bool
s_bench_init (s_bench_t *self, const s_size_t *size)
{
    memset (self, 0, sizeof *self);
    memcpy (self->greeting, "\xFF\0\0\0\0\0\0\0\0\x7F\x03\x01NULL", 16);
    memcpy (self->greeting + SQ_GREETING_SIZE, SQ_BENCH_NULL_READY, SQ_BENCH_NULL_READY_SIZE);
    self->now = 1000000;
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    config.close_linger_ms = 0;         //  Close at once: no timer to wait for
    config.max_queue = size->conns;
    sq_engine_t engine = { .handle = self, .send = s_engine_send, .close = s_engine_close };
    self->core = sq_core_new (&config, &engine);
    if (!self->core)
        return false;
    //  3N/4 worker slots, round robin over the workers, then N/4 clients
    //  take N/4 of them
    char host [SQ_NAME_MAX];
    for (size_t slot = 0; slot < size->conns * 3 / 4; slot++) {
        s_worker_host (slot % size->workers, host, sizeof host);
        if (!s_arrive (self, SQ_BACKEND, host))
            return false;
    }
    for (size_t client = 0; client < size->conns / 4; client++)
        if (!s_arrive (self, SQ_FRONTEND, "192.168.0.1"))
            return false;
    return sq_core_active_pairs (self->core) == size->conns / 4;
}

static void
s_bench_destroy (s_bench_t *self)
{
    sq_core_close_all (self->core, self->now);
    sq_core_destroy (&self->core);
}

//  Random lookups over every connection made so far (all still live)
static void
s_lookups (s_bench_t *self, double seconds, s_result_t *result)
{
    uint64_t state = 88172645463325252ULL;
    size_t count = 0;
    int64_t start = s_now_ns ();
    int64_t end = start + (int64_t) (seconds * 1e9);
    while (count < S_MAX_LOOKUPS && (count % 1024 || s_now_ns () < end)) {
        //  xorshift: cheap, and no pattern the hash could profit from
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        sq_side_t side = (state >> 40) & 1? SQ_FRONTEND: SQ_BACKEND;
        uint8_t id [S_ID_SIZE];
        s_make_id ((uint32_t) (state % self->next_id [side]) + 1, id);
        if (!sq_core_lookup (self->core, side, id, S_ID_SIZE))
            result->misses++;
        count++;
    }
    double elapsed = (double) (s_now_ns () - start) / 1e9;
    result->lookups_per_s = (double) count / elapsed;
    result->lookup_ns = elapsed * 1e9 / (double) count;
}

//  One cycle; returns the nanoseconds the pairing call took, or -1
static int64_t
s_cycle (s_bench_t *self)
{
    uint8_t id [S_ID_SIZE];
    s_make_id (++self->next_id [SQ_FRONTEND], id);
    self->now++;
    sq_conn_t *client = sq_core_connected (self->core, SQ_FRONTEND, id, S_ID_SIZE,
                                           "192.168.0.1", "192.168.0.1", self->now);
    if (!client)
        return -1;
    int64_t start = s_now_ns ();
    sq_core_received (self->core, client, self->greeting, s_opening (SQ_FRONTEND), self->now);
    int64_t took = s_now_ns () - start;
    if (client->state != SQ_CONN_PAIRED)
        return -1;
    char host [SQ_ADDRESS_MAX];
    memcpy (host, client->partner->host, sizeof host);
    sq_core_disconnected (self->core, client, self->now);
    return s_arrive (self, SQ_BACKEND, host)? took: -1;
}

static bool
s_pairings (s_bench_t *self, double seconds, s_result_t *result)
{
    size_t count = 0;
    int64_t paired_ns = 0;
    int64_t start = s_now_ns ();
    int64_t end = start + (int64_t) (seconds * 1e9);
    while (count < S_MAX_CYCLES && (count % 256 || s_now_ns () < end)) {
        int64_t took = s_cycle (self);
        if (took < 0)
            return false;
        paired_ns += took;
        count++;
    }
    double elapsed = (double) (s_now_ns () - start) / 1e9;
    result->cycles_per_s = (double) count / elapsed;
    result->pairing_ns = (double) paired_ns / (double) count;
    result->pairings_per_s = 1e9 / result->pairing_ns;
    return true;
}

//  What the event loop pays on every turn with this many connections
static void
s_turns (s_bench_t *self, double seconds, s_result_t *result)
{
    size_t count = 0;
    int64_t start = s_now_ns ();
    int64_t end = start + (int64_t) (seconds * 1e9);
    while (count < S_MAX_TURNS && (count % 256 || s_now_ns () < end)) {
        sq_core_next_timeout (self->core, self->now);
        sq_core_tick (self->core, self->now);
        count++;
    }
    result->turn_ns = (double) (s_now_ns () - start) / (double) count;
}

static bool
s_measure (const s_size_t *size, double seconds, s_result_t *result)
{
    memset (result, 0, sizeof *result);
    s_bench_t bench;
    bool ok = s_bench_init (&bench, size);
    if (ok) {
        s_lookups (&bench, seconds, result);
        ok = s_pairings (&bench, seconds, result);
        s_turns (&bench, seconds / 4, result);
    }
    if (bench.core)
        s_bench_destroy (&bench);
    return ok && result->misses == 0;
}

int
main (int argc, char *argv [])
{
    double seconds = 1.0;
    const char *csv_path = NULL;
    for (int arg = 1; arg < argc; arg++) {
        if (strcmp (argv [arg], "--quick") == 0)
            seconds = 0.25;
        else
        if (strcmp (argv [arg], "--csv") == 0 && arg + 1 < argc)
            csv_path = argv [++arg];
        else {
            fprintf (stderr, "usage: sq_bench_core [--quick] [--csv FILE]\n");
            return 2;
        }
    }
    sq_log_set_level (SQ_LOG_ERROR);
    FILE *csv = csv_path? fopen (csv_path, "w"): NULL;
    if (csv)
        fprintf (csv, "connections,workers,lookups_per_s,lookup_ns,pairings_per_s,"
                      "pairing_ns,cycles_per_s,turn_ns\n");
    printf ("| connections | workers | lookups/s | ns/lookup | pairings/s | ns/pairing "
            "| cycles/s | ns/loop turn |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int status = 0;
    for (size_t index = 0; index < sizeof s_sizes / sizeof s_sizes [0]; index++) {
        s_result_t r;
        if (!s_measure (&s_sizes [index], seconds, &r)) {
            fprintf (stderr, "sq_bench_core: the core misbehaved at %zu connections\n",
                     s_sizes [index].conns);
            status = 1;
            continue;
        }
        printf ("| %zu | %zu | %.0f | %.1f | %.0f | %.1f | %.0f | %.1f |\n",
                s_sizes [index].conns, s_sizes [index].workers, r.lookups_per_s,
                r.lookup_ns, r.pairings_per_s, r.pairing_ns, r.cycles_per_s, r.turn_ns);
        if (csv)
            fprintf (csv, "%zu,%zu,%.0f,%.2f,%.0f,%.2f,%.0f,%.2f\n",
                     s_sizes [index].conns, s_sizes [index].workers, r.lookups_per_s,
                     r.lookup_ns, r.pairings_per_s, r.pairing_ns, r.cycles_per_s, r.turn_ns);
    }
    if (csv)
        fclose (csv);
    return status;
}
