/*  =========================================================================
    sq_fuzz - what the fuzz targets share

    Each target (fuzz_greeting.c, fuzz_control.c, fuzz_routes.c) defines
    LLVMFuzzerTestOneInput. Built with clang and -fsanitize=fuzzer it is a
    libFuzzer binary; built with gcc and sq_fuzz_replay.c it is a test that
    replays the seed corpus and the regressions. A target reports a broken
    promise with SQ_FUZZ_CHECK, which aborts: libFuzzer keeps the input as
    a crash, the replay test fails.
    =========================================================================
*/
#ifndef SQ_FUZZ_H_INCLUDED
#define SQ_FUZZ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "sq_core.h"

//  The entry point libFuzzer calls once per input; always returns 0
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Aborts when cond is false, naming it; unlike assert, NDEBUG never
//  turns it off
#define SQ_FUZZ_CHECK(cond) do { \
    if (!(cond)) \
        sq_fuzz_fail (__FILE__, __LINE__, #cond); \
} while (0)

void sq_fuzz_fail (const char *file, int line, const char *what)
    __attribute__ ((noreturn));

//  An engine with no I/O that gives every send and close the answer held
//  in *answer: SQ_SEND_OK takes them, SQ_SEND_AGAIN would block,
//  SQ_SEND_GONE says the connection is gone
sq_engine_t sq_fuzz_engine (sq_send_result_t *answer);

//  A core with this configuration (NULL: the defaults) and engine; logs
//  only errors from then on
sq_core_t *sq_fuzz_core (const sq_core_config_t *config, sq_engine_t *engine);

//  Closes every connection and destroys the core
void sq_fuzz_core_destroy (sq_core_t **core_p, int64_t now);

//  Writes a valid 64-byte ZMTP 3.0 greeting for a mechanism name
void sq_fuzz_greeting (uint8_t *bytes, const char *mechanism);

//  Connects peer number n (1..255) of a side, with an address made from n
//  ("10.0.0.n:5000+n" for clients, "10.1.0.n:6000+n" for workers, an IPv6
//  address when n is a multiple of 3), and sends a complete greeting when
//  mechanism is not NULL. Returns the connection or NULL.
sq_conn_t *sq_fuzz_connect (sq_core_t *core, sq_side_t side, unsigned n,
                            const char *mechanism, int64_t now);

//  The live connection of peer n on a side, or NULL
sq_conn_t *sq_fuzz_lookup (sq_core_t *core, sq_side_t side, unsigned n);

//  True when text is exactly one well-formed JSON value
bool sq_fuzz_json_valid (const char *text);

#endif
