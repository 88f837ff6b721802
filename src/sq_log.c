/*  =========================================================================
    sq_log - timestamped log lines on stderr

    Each line is formatted whole into a buffer and written with one call, so
    lines from different threads never interleave.
    =========================================================================
*/
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "sq_log.h"

static sq_log_level_t s_level = SQ_LOG_INFO;
static const char *s_names [] = { "error", "warn", "info", "debug" };

void
sq_log_set_level (sq_log_level_t level)
{
    s_level = level;
}

bool
sq_log_level_parse (const char *name, sq_log_level_t *level)
{
    if (strcasecmp (name, "warning") == 0)
        name = "warn";
    for (int index = 0; index < 4; index++)
        if (strcasecmp (name, s_names [index]) == 0) {
            *level = (sq_log_level_t) index;
            return true;
        }
    return false;
}

bool
sq_log_enabled (sq_log_level_t level)
{
    return level <= s_level;
}

void
sq_log (sq_log_level_t level, const char *format, ...)
{
    if (!sq_log_enabled (level))
        return;
    char line [1024];
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    size_t size = strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    size += snprintf (line + size, sizeof line - size, ".%03ldZ %-5s ",
                      ts.tv_nsec / 1000000, s_names [level]);
    va_list args;
    va_start (args, format);
    int written = vsnprintf (line + size, sizeof line - size - 1, format, args);
    va_end (args);
    size = written < 0? size: size + (size_t) written;
    if (size > sizeof line - 2)
        size = sizeof line - 2;
    line [size++] = '\n';
    if (write (STDERR_FILENO, line, size) < 0) {
        //  Nowhere left to report a failing stderr
    }
}
