/*  sq_clock - monotonic time in milliseconds and in microseconds  */
#include <time.h>
#include "sq_clock.h"

int64_t
sq_clock_now (void)
{
    return sq_clock_now_us () / 1000;
}

int64_t
sq_clock_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
