/*  =========================================================================
    sq_log - one line per event on stderr: "<UTC time> <level> <message>"
    =========================================================================
*/
#ifndef SQ_LOG_H_INCLUDED
#define SQ_LOG_H_INCLUDED

#include <stdbool.h>

typedef enum {
    SQ_LOG_ERROR = 0,
    SQ_LOG_WARNING = 1,
    SQ_LOG_INFO = 2,
    SQ_LOG_DEBUG = 3
} sq_log_level_t;

//  Sets the most verbose level that is written (default info)
void sq_log_set_level (sq_log_level_t level);

//  Parses "error", "warning" (or "warn"), "info", "debug"; false if unknown
bool sq_log_level_parse (const char *name, sq_log_level_t *level);

//  True when a message at this level would be written
bool sq_log_enabled (sq_log_level_t level);

//  Writes one line, printf-style, when the level is enabled
void sq_log (sq_log_level_t level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#define sq_error(...)   sq_log (SQ_LOG_ERROR, __VA_ARGS__)
#define sq_warning(...) sq_log (SQ_LOG_WARNING, __VA_ARGS__)
#define sq_info(...)    sq_log (SQ_LOG_INFO, __VA_ARGS__)
#define sq_debug(...)   sq_log (SQ_LOG_DEBUG, __VA_ARGS__)

#endif
