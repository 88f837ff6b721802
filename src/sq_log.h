/*  =========================================================================
    sq_log - one line per event: on stderr as "<UTC time> <level> <message>"
    or as one JSON object, or to syslog

    The level may change while other threads log (the LOGLEVEL control
    command); the format and the destination are set once, at start-up,
    before any thread but the main one runs.
    =========================================================================
*/
#ifndef SQ_LOG_H_INCLUDED
#define SQ_LOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef enum {
    SQ_LOG_ERROR = 0,
    SQ_LOG_WARNING = 1,
    SQ_LOG_INFO = 2,
    SQ_LOG_DEBUG = 3
} sq_log_level_t;

typedef enum {
    SQ_LOG_TEXT = 0,            //  "<UTC time> <level> <message>"
    SQ_LOG_JSON = 1             //  {"time":"...","level":"...","message":"..."}
} sq_log_format_t;

//  Sets the most verbose level that is written (default info)
void sq_log_set_level (sq_log_level_t level);

//  The level in force
sq_log_level_t sq_log_level (void);

//  Parses "error", "warning" (or "warn"), "info", "debug"; false if unknown
bool sq_log_level_parse (const char *name, sq_log_level_t *level);

//  "error", "warning", "info" or "debug": what sq_log_level_parse reads
const char *sq_log_level_name (sq_log_level_t level);

//  Sets the format of the lines (default text)
void sq_log_set_format (sq_log_format_t format);

//  The format in force
sq_log_format_t sq_log_format (void);

//  Parses "text" or "json"; false if unknown
bool sq_log_format_parse (const char *name, sq_log_format_t *format);

//  Parses a syslog facility: "daemon", "user", "local0" to "local7"
bool sq_log_facility_parse (const char *name, int *facility);

//  Sends the lines to syslog instead of stderr, as "streamq-proxy[<pid>]"
//  at this facility (LOG_DAEMON, ...), each level at its syslog priority.
//  With socket_path NULL they go through syslog(3); otherwise they are
//  written, in the same form, as datagrams to that unix socket (a log
//  socket other than /dev/log, or a test's). May be called again to
//  change either. False, with errno set, if the socket cannot be made.
bool sq_log_set_syslog (int facility, const char *socket_path);

//  Formats one line as the current format writes it to stderr, without
//  the newline; always NUL-terminated, a JSON line always a whole object
//  even when the message is cut short. Returns the length.
size_t sq_log_format_line (char *line, size_t size, sq_log_level_t level,
                           const struct timespec *time, const char *message);

//  True when a message at this level would be written
bool sq_log_enabled (sq_log_level_t level);

//  Writes one line, printf-style, when the level is enabled
void sq_log (sq_log_level_t level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Until changed again, each line sq_log writes begins "CONTEXT: " (NULL:
//  nothing). Returns the context it replaces, for the caller to put back.
const char *sq_log_set_context (const char *context);

//  Says why the proxy cannot start, or what is wrong with its options, to
//  whoever started it, at any level: in text on stderr as "streamq-proxy:
//  <message>" (a command-line message, with no time stamp); in JSON as
//  a log line at level error on stderr, so that every line is one JSON
//  object. With syslog in force the line goes to syslog as well.
void sq_log_failure (const char *format, ...)
    __attribute__ ((format (printf, 1, 2)));

#define sq_error(...)   sq_log (SQ_LOG_ERROR, __VA_ARGS__)
#define sq_warning(...) sq_log (SQ_LOG_WARNING, __VA_ARGS__)
#define sq_info(...)    sq_log (SQ_LOG_INFO, __VA_ARGS__)
#define sq_debug(...)   sq_log (SQ_LOG_DEBUG, __VA_ARGS__)

#endif
