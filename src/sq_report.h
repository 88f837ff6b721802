/*  =========================================================================
    sq_report - the JSON the control socket answers with: STATS, LIST,
    WORKERS, CLIENTS, ROUTES. Each returns text the caller frees, or NULL
    when out of memory.
    =========================================================================
*/
#ifndef SQ_REPORT_H_INCLUDED
#define SQ_REPORT_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include "sq_core.h"

//  A page of a report: at most `count` entries from entry `offset` on, so
//  that no report holds the loop for long; a page shorter than count is
//  the last
typedef struct {
    size_t offset;
    size_t count;
} sq_page_t;

#define SQ_PAGE_DEFAULT 1000        //  Entries a page when none is asked
#define SQ_PAGE_MAX     10000       //  The most a page may ask for
//  Every entry, for the proxy's own checks (not from the control socket)
#define SQ_PAGE_ALL     ((sq_page_t) { 0, SIZE_MAX })

char *sq_report_stats (sq_core_t *core, int64_t now);
//  Pages of: connections in the order they came; workers, clients and
//  routes sorted by name
char *sq_report_list (sq_core_t *core, sq_page_t page);
char *sq_report_workers (sq_core_t *core, sq_page_t page);
char *sq_report_clients (sq_core_t *core, sq_page_t page);
//  ROUTES: {"routes": [a page], "aliases": [all], "registrations": N}
char *sq_report_routes (sq_core_t *core, sq_page_t page);
//  BANS: [{"key", "failures", "remaining_ms", "length_ms"}], sorted by key;
//  a key whose ban is over but whose failures are remembered has
//  remaining_ms 0
char *sq_report_bans (sq_core_t *core, int64_t now);

#endif
