/*  sq_clock - monotonic time in milliseconds, for timers and ages, and in
    microseconds, for shorter spans  */
#ifndef SQ_CLOCK_H_INCLUDED
#define SQ_CLOCK_H_INCLUDED

#include <stdint.h>

//  Milliseconds on a clock that never goes back (CLOCK_MONOTONIC)
int64_t sq_clock_now (void);

//  Microseconds on the same clock
int64_t sq_clock_now_us (void);

#endif
