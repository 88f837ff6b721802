/*  =========================================================================
    sq_report - the JSON the control socket answers with: STATS, LIST,
    WORKERS, CLIENTS, ROUTES. Each returns text the caller frees, or NULL
    when out of memory.
    =========================================================================
*/
#ifndef SQ_REPORT_H_INCLUDED
#define SQ_REPORT_H_INCLUDED

#include <stdint.h>
#include "sq_core.h"

char *sq_report_stats (sq_core_t *core, int64_t now);
char *sq_report_list (sq_core_t *core);
char *sq_report_workers (sq_core_t *core);
char *sq_report_clients (sq_core_t *core);
char *sq_report_routes (sq_core_t *core);
//  BANS: [{"key", "failures", "remaining_ms", "length_ms"}], sorted by key;
//  a key whose ban is over but whose failures are remembered has
//  remaining_ms 0
char *sq_report_bans (sq_core_t *core, int64_t now);

#endif
