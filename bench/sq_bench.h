/*  =========================================================================
    sq_bench - the benchmark tool's shared helpers and subcommands

    One program, several roles, so every contender is driven by the same
    code: an echo worker, a zmq_proxy broker, a load-generating client, and
    raw ZMTP peers for the scale runs. See bench/README.md.
    =========================================================================
*/
#ifndef SQ_BENCH_H_INCLUDED
#define SQ_BENCH_H_INCLUDED

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

//  A NULL READY command with its Socket-Type (DEALER): what a raw peer
//  sends once it has its partner's greeting, so that screening passes
#define SQ_BENCH_NULL_READY "\x04\x1c\x05READY\x0bSocket-Type\x00\x00\x00\x06" "DEALER"
#define SQ_BENCH_NULL_READY_SIZE 30

//  Monotonic time in nanoseconds
int64_t sq_bench_now_ns (void);

//  CPU seconds used by a process (all its threads) and its direct children
//  (socat forks one per connection), from the scheduler's exact run time;
//  -1 when the process is gone
double sq_bench_proc_cpu (int pid);

//  A /proc/PID/status field in KiB ("VmRSS", "VmHWM"), summed over the
//  process and its direct children, or -1 when the process is gone
long sq_bench_proc_kib (int pid, const char *field);

//  Asks the proxy's control socket for STATS and returns the integer at
//  group.key (e.g. "workers", "idle"), or -1 on no answer or no such key
long long sq_bench_stats (void *context, const char *control,
                          const char *group, const char *key);

//  Asks the proxy's control socket for STATS and puts its JSON text, NUL
//  terminated, in reply; returns its length, or -1 on no answer
int sq_bench_stats_text (void *context, const char *control, char *reply, size_t size);

//  The integer at group.key of a JSON object of objects (STATS), looking
//  only at group's own members, or -1 when there is none
long long sq_bench_json_int (const char *json, const char *group, const char *key);

//  Raises RLIMIT_NOFILE (soft and, when allowed, hard) to at least want;
//  returns the soft limit in force afterwards
long sq_bench_raise_nofile (long want);

//  Parses a positive decimal integer no larger than max; false otherwise
bool sq_bench_parse_long (const char *text, long max, long *value);

//  Subcommands: each takes its own argv (argv [0] is the subcommand name)
//  and returns the process exit code
int sq_bench_worker (int argc, char *argv []);
int sq_bench_broker (int argc, char *argv []);
int sq_bench_client (int argc, char *argv []);
int sq_bench_scale (int argc, char *argv []);
int sq_bench_slow (int argc, char *argv []);
int sq_bench_stall (int argc, char *argv []);
int sq_bench_busy (int argc, char *argv []);

#endif
