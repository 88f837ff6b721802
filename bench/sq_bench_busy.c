/*  =========================================================================
    sq_bench_busy - a process that computes without ever sleeping

        sq_bench busy [--ms MS]

    Spins on a fixed amount of arithmetic until SIGTERM or SIGINT, or
    until MS have passed (10 minutes by default), then prints one line:
        busy,LOOPS_PER_S
    What it did a second is the CPU it was given: bench/run.sh busy runs
    it beside the proxy to measure what the loop's yield costs a neighbour
    that computes (bench/README.md, "A proxy that yields").
    =========================================================================
*/
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <getopt.h>
#include "sq_bench.h"

//  Additions in one loop: about a millisecond here, short enough that a
//  signal ends the run within one loop
#define S_LOOP_ADDS 1000000L
#define S_DEFAULT_MS (10L * 60 * 1000)

static volatile sig_atomic_t s_stop;
//  Where each loop leaves its result, so that the compiler keeps the loop
static volatile long s_sink;

static void
s_on_signal (int signal_number)
{
    (void) signal_number;
    s_stop = 1;
}

//  One loop of arithmetic that the compiler cannot drop
static void
s_loop (void)
{
    long sum = s_sink;
    for (long index = 0; index < S_LOOP_ADDS; index++)
        sum += index ^ (sum >> 3);
    s_sink = sum;
}

int
sq_bench_busy (int argc, char *argv [])
{
    long ms = S_DEFAULT_MS;
    static const struct option options [] = {
        { "ms", required_argument, NULL, 'm' },
        { NULL, 0, NULL, 0 }
    };
    int code;
    while ((code = getopt_long (argc, argv, "", options, NULL)) != -1)
        if (code != 'm' || !sq_bench_parse_long (optarg, 24L * 3600 * 1000, &ms)) {
            fprintf (stderr, "usage: sq_bench busy [--ms MS]\n");
            return 2;
        }
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigaction (SIGTERM, &action, NULL);
    sigaction (SIGINT, &action, NULL);

    int64_t start = sq_bench_now_ns ();
    int64_t until = start + ms * 1000000L;
    long loops = 0;
    int64_t now = start;
    while (!s_stop && now < until) {
        s_loop ();
        loops++;
        now = sq_bench_now_ns ();
    }
    double seconds = (double) (now - start) / 1e9;
    printf ("busy,%.1f\n", seconds > 0? (double) loops / seconds: 0.0);
    return 0;
}
