/*  =========================================================================
    sq_report - the JSON the control socket answers with: STATS, LIST,
    WORKERS, CLIENTS, ROUTES, BANS. Each returns text the caller frees, or
    NULL when out of memory.

    Each report covers the services it is given, in their order. A report
    of entries (LIST, WORKERS, CLIENTS, ROUTES, BANS) puts the entries of
    one service after those of the one before, and applies its page within
    each service; with tagged, each entry starts with "service": its
    service's name. STATS gives the totals over the services, then each
    service's own STATS under "services".
    =========================================================================
*/
#ifndef SQ_REPORT_H_INCLUDED
#define SQ_REPORT_H_INCLUDED

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "sq_core.h"
#include "sq_service_ref.h"

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

//  The figures of STATS that add up over services: every member is a
//  uint64_t (a histogram is too), so that adding is member by member
typedef struct {
    struct {
        uint64_t connections;
        uint64_t accepted;
        uint64_t refused [SQ_REFUSED_COUNT];
        uint64_t rejected_mechanism;
        uint64_t reading_stops;
        uint64_t accept_failed;
    } side [2];                 //  SQ_FRONTEND, SQ_BACKEND
    uint64_t workers_idle, workers_slots_lost, workers_known, workers_draining;
    uint64_t clients_queued;
    uint64_t pairs_active, pairs_total;
    uint64_t bytes_to [2], chunks_to [2];
    sq_histogram_t pairing_wait, pair_duration, handshake_time;
    uint64_t rejected_greeting, rejected_queue_full, rejected_queue_timeout;
    uint64_t held_bytes, held_max, held_max_pair;
    uint64_t closed [SQ_CLOSED_COUNT], closed_early_overflow, closed_unflushed;
    uint64_t handshakes_completed, handshakes_failed;
    uint64_t handshakes_failed_by [SQ_HS_FAILED_COUNT];
    uint64_t screening, following;
    uint64_t bans_active, bans_remembered;
    uint64_t heartbeats_watched, registrations_pending;
    uint64_t pipes_lent, pipes_idle, pipe_refusals;
} sq_report_figures_t;

//  The figures of one core now
void sq_report_figures (sq_core_t *core, int64_t now, sq_report_figures_t *figures);

//  Adds more into total
void sq_report_figures_add (sq_report_figures_t *total, const sq_report_figures_t *more);

//  STATS of one service: its core's figures, "paused", "uptime_ms", and
//  "removing": true while a removed service drains
char *sq_report_stats_service (const sq_service_ref_t *service, int64_t now);

//  STATS of the proxy: the figures summed over the services (workers.by_name
//  merged by name), then "services": {"<name>": its STATS, ...}. held.max
//  and held.max_pair are summed too; held.slow_peer and paused are the
//  first service's; uptime_ms is the proxy's: that of its oldest service.
char *sq_report_stats (const sq_service_ref_t *services, size_t count, int64_t now);

//  Pages of: connections in the order they came; workers, clients and
//  routes sorted by name
char *sq_report_list (const sq_service_ref_t *services, size_t count, sq_page_t page,
                      bool tagged);
char *sq_report_workers (const sq_service_ref_t *services, size_t count, sq_page_t page,
                         bool tagged);
char *sq_report_clients (const sq_service_ref_t *services, size_t count, sq_page_t page,
                         bool tagged);
//  ROUTES: {"routes": [a page], "aliases": [all], "registrations": N},
//  registrations summed over the services
char *sq_report_routes (const sq_service_ref_t *services, size_t count, sq_page_t page,
                        bool tagged);
//  BANS: [{"key", "failures", "remaining_ms", "length_ms"}], sorted by key;
//  a key whose ban is over but whose failures are remembered has
//  remaining_ms 0
char *sq_report_bans (const sq_service_ref_t *services, size_t count, int64_t now,
                      bool tagged);

#endif
