/*  =========================================================================
    fuzz_routes - the route file parser and its all-or-nothing promise

    Input: the file's text (it ends at the first NUL, as a file read into a
    C string does). It is loaded into a core that already has a route file
    in force and a few connections. A refused text must leave the tables
    exactly as they were and say "line N: ..."; an accepted one must load
    again to the same tables, and to the same rules and routes as in a
    fresh core, since a load replaces rather than adds.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_fuzz.h"
#include "sq_routes.h"
#include "sq_report.h"

#define S_ERROR_MAX 512

static const char *s_baseline =
    "# in force before the fuzzed text\n"
    "ALIAS backend 10.1.0.0/16 pool-a\n"
    "ALIAS frontend fd00:0::/32 branch\n"
    "ROUTE branch pool-a pool-b\n"
    "WEIGHT pool-a 3\n";

//  The tables a route file sets, as the ROUTES and WORKERS replies show them
static char *
s_tables (sq_core_t *core)
{
    sq_service_ref_t service = { SQ_SERVICE_DEFAULT, core, false };
    char *routes = sq_report_routes (&service, 1, SQ_PAGE_ALL, false);
    char *workers = sq_report_workers (&service, 1, SQ_PAGE_ALL, false);
    SQ_FUZZ_CHECK (routes && workers);
    SQ_FUZZ_CHECK (sq_fuzz_json_valid (routes) && sq_fuzz_json_valid (workers));
    size_t size = strlen (routes) + strlen (workers) + 2;
    char *tables = malloc (size);
    SQ_FUZZ_CHECK (tables);
    snprintf (tables, size, "%s\n%s", routes, workers);
    free (routes);
    free (workers);
    return tables;
}

//  Loads text with an error buffer of exactly error_size bytes, so that
//  ASan sees a write past its end
static bool
s_load (sq_core_t *core, const char *text, size_t error_size, int64_t now)
{
    char *error = malloc (error_size);
    SQ_FUZZ_CHECK (error);
    error [0] = 0;
    bool loaded = sq_routes_load (core, text, error, error_size, now);
    if (!loaded) {
        SQ_FUZZ_CHECK (strnlen (error, error_size) < error_size);
        SQ_FUZZ_CHECK (strncmp (error, "line ", error_size - 1 < 5? error_size - 1: 5) == 0);
    }
    free (error);
    return loaded;
}

//  Loading into a core with nothing in force gives the same rules and
//  routes (weights show only for workers the core knows: not compared)
static void
s_check_fresh (sq_core_t *core, const char *text, int64_t now)
{
    sq_send_result_t answer = SQ_SEND_OK;
    sq_engine_t engine = sq_fuzz_engine (&answer);
    sq_core_t *fresh = sq_fuzz_core (NULL, &engine);
    SQ_FUZZ_CHECK (s_load (fresh, text, S_ERROR_MAX, now));
    sq_service_ref_t services [2] = { { SQ_SERVICE_DEFAULT, fresh, false },
                                      { SQ_SERVICE_DEFAULT, core, false } };
    char *expected = sq_report_routes (&services [0], 1, SQ_PAGE_ALL, false);
    char *actual = sq_report_routes (&services [1], 1, SQ_PAGE_ALL, false);
    SQ_FUZZ_CHECK (expected && actual && strcmp (expected, actual) == 0);
    free (expected);
    free (actual);
    sq_fuzz_core_destroy (&fresh, now);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    SQ_FUZZ_CHECK (text);
    memcpy (text, data, size);
    text [size] = 0;

    sq_send_result_t answer = SQ_SEND_OK;
    sq_engine_t engine = sq_fuzz_engine (&answer);
    sq_core_t *core = sq_fuzz_core (NULL, &engine);
    int64_t now = 1000;
    SQ_FUZZ_CHECK (s_load (core, s_baseline, S_ERROR_MAX, now));
    //  Two workers and three clients, one of them waiting: a load makes
    //  waiting clients try again
    sq_fuzz_connect (core, SQ_BACKEND, 1, "CURVE", now);
    sq_fuzz_connect (core, SQ_BACKEND, 2, "NULL", now);
    for (unsigned n = 1; n <= 3; n++)
        sq_fuzz_connect (core, SQ_FRONTEND, n, "CURVE", now);

    char *before = s_tables (core);
    bool loaded = s_load (core, text, S_ERROR_MAX, now);
    char *after = s_tables (core);
    if (loaded) {
        SQ_FUZZ_CHECK (s_load (core, text, S_ERROR_MAX, now));
        char *again = s_tables (core);
        SQ_FUZZ_CHECK (strcmp (after, again) == 0);
        free (again);
        s_check_fresh (core, text, now);
    }
    else {
        SQ_FUZZ_CHECK (strcmp (before, after) == 0);
        //  The same refusal into a small buffer is cut short, not overrun
        SQ_FUZZ_CHECK (!s_load (core, text, 1 + size % 16, now + 1));
    }
    free (before);
    free (after);
    sq_fuzz_core_destroy (&core, now);
    free (text);
    return 0;
}
