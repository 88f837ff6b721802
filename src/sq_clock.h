/*  sq_clock - monotonic time in milliseconds, for timers and ages  */
#ifndef SQ_CLOCK_H_INCLUDED
#define SQ_CLOCK_H_INCLUDED

#include <stdint.h>

//  Milliseconds on a clock that never goes back (CLOCK_MONOTONIC)
int64_t sq_clock_now (void);

#endif
