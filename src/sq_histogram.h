/*  =========================================================================
    sq_histogram - a histogram of durations with fixed buckets

    Counts observations in milliseconds into a fixed set of buckets, from
    1 ms to one hour, plus one for everything longer, and keeps their sum
    and count: what a Prometheus histogram needs. Observing is O(1) (a
    short scan of a fixed table) and allocates nothing, so the core can
    count every pair. A zeroed struct is an empty histogram.
    =========================================================================
*/
#ifndef SQ_HISTOGRAM_H_INCLUDED
#define SQ_HISTOGRAM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  Buckets with an upper bound; one more holds what passes the last bound
#define SQ_HISTOGRAM_BOUNDS 16

typedef struct {
    uint64_t bucket [SQ_HISTOGRAM_BOUNDS + 1];  //  Not cumulative; the last: +Inf
    uint64_t count;
    uint64_t sum_ms;
} sq_histogram_t;

//  Counts one duration; a negative one counts as 0
void sq_histogram_observe (sq_histogram_t *self, int64_t ms);

//  Upper bound of bucket index (0 .. SQ_HISTOGRAM_BOUNDS - 1), inclusive,
//  in milliseconds
int64_t sq_histogram_bound_ms (size_t index);

//  Observations up to and including bound index, as Prometheus counts a
//  bucket; index SQ_HISTOGRAM_BOUNDS is +Inf, which equals count
uint64_t sq_histogram_cumulative (const sq_histogram_t *self, size_t index);

#endif
