/*  =========================================================================
    sq_histogram - a histogram of durations with fixed buckets
    =========================================================================
*/
#include "sq_histogram.h"

//  From a fast local pairing (1 ms) to a long session (an hour); the
//  same bounds serve the wait for a worker and the life of a pair
static const int64_t s_bounds_ms [SQ_HISTOGRAM_BOUNDS] = {
    1, 5, 10, 25, 50, 100, 250, 500,
    1000, 2500, 5000, 10000, 30000, 60000, 300000, 3600000
};

void
sq_histogram_observe (sq_histogram_t *self, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    size_t index = 0;
    while (index < SQ_HISTOGRAM_BOUNDS && ms > s_bounds_ms [index])
        index++;
    self->bucket [index]++;
    self->count++;
    self->sum_ms += (uint64_t) ms;
}

int64_t
sq_histogram_bound_ms (size_t index)
{
    return index < SQ_HISTOGRAM_BOUNDS? s_bounds_ms [index]: INT64_MAX;
}

uint64_t
sq_histogram_cumulative (const sq_histogram_t *self, size_t index)
{
    uint64_t total = 0;
    for (size_t bucket = 0; bucket <= index && bucket <= SQ_HISTOGRAM_BOUNDS; bucket++)
        total += self->bucket [bucket];
    return total;
}
