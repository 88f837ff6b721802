/*  =========================================================================
    sq_log - timestamped log lines on stderr, or to syslog

    Each line is formatted whole into a buffer and written with one call, so
    lines from different threads never interleave. In JSON each line is one
    object; the message is escaped so that any bytes it holds (a peer's
    name, a path) keep the line valid JSON and valid UTF-8.
    =========================================================================
*/
#include <stdio.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "sq_log.h"

//  A message is cut at this size; escaped in JSON it may grow six-fold
#define S_MESSAGE_MAX 1024
#define S_LINE_MAX    (8 * S_MESSAGE_MAX)
#define S_IDENT       "streamq-proxy"

//  Read by every thread, changed by the LOGLEVEL command
static atomic_int s_level = SQ_LOG_INFO;
static sq_log_format_t s_format = SQ_LOG_TEXT;
//  Column names in text lines, kept 5 wide ("warn ") as they always were
static const char *s_short_names [] = { "error", "warn", "info", "debug" };
static const char *s_names [] = { "error", "warning", "info", "debug" };
static const int s_priorities [] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

//  Syslog, when on: through syslog(3), or straight to a socket path
static struct {
    bool on;
    int facility;
    int fd;                     //  Datagram socket, or -1 for syslog(3)
    struct sockaddr_un address;
} s_syslog = { false, LOG_DAEMON, -1, { AF_UNIX, "" } };

void
sq_log_set_level (sq_log_level_t level)
{
    atomic_store (&s_level, (int) level);
}

sq_log_level_t
sq_log_level (void)
{
    return (sq_log_level_t) atomic_load (&s_level);
}

bool
sq_log_level_parse (const char *name, sq_log_level_t *level)
{
    if (strcasecmp (name, "warn") == 0)
        name = "warning";
    for (int index = 0; index < 4; index++)
        if (strcasecmp (name, s_names [index]) == 0) {
            *level = (sq_log_level_t) index;
            return true;
        }
    return false;
}

const char *
sq_log_level_name (sq_log_level_t level)
{
    return level >= SQ_LOG_ERROR && level <= SQ_LOG_DEBUG? s_names [level]: "?";
}

void
sq_log_set_format (sq_log_format_t format)
{
    s_format = format;
}

sq_log_format_t
sq_log_format (void)
{
    return s_format;
}

bool
sq_log_format_parse (const char *name, sq_log_format_t *format)
{
    if (strcasecmp (name, "text") == 0)
        *format = SQ_LOG_TEXT;
    else
    if (strcasecmp (name, "json") == 0)
        *format = SQ_LOG_JSON;
    else
        return false;
    return true;
}

bool
sq_log_facility_parse (const char *name, int *facility)
{
    static const struct { const char *name; int facility; } facilities [] = {
        { "daemon", LOG_DAEMON }, { "user", LOG_USER },
        { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
        { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
        { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
        { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 }
    };
    for (size_t index = 0; index < sizeof facilities / sizeof facilities [0]; index++)
        if (strcasecmp (name, facilities [index].name) == 0) {
            *facility = facilities [index].facility;
            return true;
        }
    return false;
}

bool
sq_log_set_syslog (int facility, const char *socket_path)
{
    if (socket_path) {
        if (strlen (socket_path) >= sizeof s_syslog.address.sun_path) {
            errno = ENAMETOOLONG;
            return false;
        }
        if (s_syslog.fd == -1)
            s_syslog.fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s_syslog.fd == -1)
            return false;
        strcpy (s_syslog.address.sun_path, socket_path);
    }
    else {
        if (s_syslog.fd != -1)
            close (s_syslog.fd);
        s_syslog.fd = -1;
        openlog (S_IDENT, LOG_PID, facility);
    }
    s_syslog.facility = facility;
    s_syslog.on = true;
    return true;
}

bool
sq_log_enabled (sq_log_level_t level)
{
    return (int) level <= atomic_load (&s_level);
}

//  -------------------------------------------------------------------------
//  Formatting

//  "2026-11-25T03:01:02.345Z" into buf (at least 32 bytes); its length
static size_t
s_time_text (const struct timespec *time, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r (&time->tv_sec, &tm);
    size_t length = strftime (buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    length += (size_t) snprintf (buf + length, size - length, ".%03ldZ",
                                 time->tv_nsec / 1000000);
    return length;
}

//  Length of the well-formed UTF-8 sequence at text, or 0 if there is none
//  (a stray continuation byte, an overlong form, a surrogate, a cut-off
//  sequence, or a code point past U+10FFFF)
static size_t
s_utf8_length (const unsigned char *text)
{
    unsigned char lead = text [0];
    size_t length = lead >= 0xC2 && lead <= 0xDF? 2:
                    lead >= 0xE0 && lead <= 0xEF? 3:
                    lead >= 0xF0 && lead <= 0xF4? 4: 0;
    for (size_t index = 1; index < length; index++)
        if ((text [index] & 0xC0) != 0x80)
            return 0;
    //  The second byte's range that rules out overlongs, surrogates and
    //  values past U+10FFFF
    if ((lead == 0xE0 && text [1] < 0xA0) || (lead == 0xED && text [1] > 0x9F)
    ||  (lead == 0xF0 && text [1] < 0x90) || (lead == 0xF4 && text [1] > 0x8F))
        return 0;
    return length;
}

//  Appends text to out [*used] as the inside of a JSON string, stopping
//  before an escape or character that would not fit in size (so the string
//  can always be closed). Bytes that are not UTF-8 become U+FFFD.
static void
s_json_escape (const char *text, char *out, size_t size, size_t *used)
{
    const unsigned char *at = (const unsigned char *) text;
    while (*at) {
        char escaped [8];
        const char *piece = escaped;
        size_t length = 2, consumed = 1;
        escaped [0] = '\\';
        if (*at == '"' || *at == '\\')
            escaped [1] = (char) *at;
        else
        if (*at == '\n' || *at == '\r' || *at == '\t')
            escaped [1] = *at == '\n'? 'n': *at == '\r'? 'r': 't';
        else
        if (*at < 0x20 || *at == 0x7F)
            length = (size_t) snprintf (escaped, sizeof escaped, "\\u%04x", *at);
        else
        if (*at < 0x80)
            piece = (const char *) at, length = 1;
        else
        if ((consumed = s_utf8_length (at)) > 0)
            piece = (const char *) at, length = consumed;
        else {
            piece = "\\ufffd", length = 6;
            consumed = 1;
        }
        if (*used + length >= size)
            break;
        memcpy (out + *used, piece, length);
        *used += length;
        at += consumed;
    }
    out [*used] = 0;
}

size_t
sq_log_format_line (char *line, size_t size, sq_log_level_t level,
                    const struct timespec *time, const char *message)
{
    char stamp [40];
    s_time_text (time, stamp, sizeof stamp);
    if (s_format == SQ_LOG_TEXT) {
        int length = snprintf (line, size, "%s %-5s %s", stamp, s_short_names [level],
                               message);
        return length < 0? 0: (size_t) length < size? (size_t) length: size - 1;
    }
    static const char closing [] = "\"}";
    int head = snprintf (line, size, "{\"time\":\"%s\",\"level\":\"%s\",\"message\":\"",
                         stamp, s_names [level]);
    if (head < 0 || (size_t) head + sizeof closing > size) {
        *line = 0;              //  No room for a whole object
        return 0;
    }
    size_t used = (size_t) head;
    s_json_escape (message, line, size - (sizeof closing - 1), &used);
    memcpy (line + used, closing, sizeof closing);
    return used + sizeof closing - 1;
}

//  -------------------------------------------------------------------------
//  Writing

//  As syslog(3) would send it: "<PRI>Mmm dd hh:mm:ss ident[pid]: text",
//  local time
static void
s_syslog_send (sq_log_level_t level, const struct timespec *time, const char *text)
{
    char packet [S_LINE_MAX + 128];
    struct tm tm;
    localtime_r (&time->tv_sec, &tm);
    int length = snprintf (packet, sizeof packet, "<%d>", s_syslog.facility | s_priorities [level]);
    length += (int) strftime (packet + length, sizeof packet - (size_t) length,
                              "%b %e %H:%M:%S ", &tm);
    length += snprintf (packet + length, sizeof packet - (size_t) length, S_IDENT "[%d]: %s",
                        (int) getpid (), text);
    if (length >= (int) sizeof packet)
        length = (int) sizeof packet - 1;
    //  With no reader at the path the line is lost, as with syslog(3)
    //  and no daemon: there is nowhere to say so
    sendto (s_syslog.fd, packet, (size_t) length, 0,
            (const struct sockaddr *) &s_syslog.address, sizeof s_syslog.address);
}

//  In text the message alone (syslog stamps the time and the priority);
//  in JSON the whole object, for a collector that parses it
static void
s_syslog_write (sq_log_level_t level, const struct timespec *time, const char *message)
{
    char line [S_LINE_MAX];
    const char *text = message;
    if (s_format == SQ_LOG_JSON) {
        sq_log_format_line (line, sizeof line, level, time, message);
        text = line;
    }
    if (s_syslog.fd == -1)
        syslog (s_priorities [level], "%s", text);
    else
        s_syslog_send (level, time, text);
}

//  Writes one whole line and its newline on stderr
static void
s_stderr_write (char *line, size_t size)
{
    line [size++] = '\n';
    if (write (STDERR_FILENO, line, size) < 0) {
        //  Nowhere left to report a failing stderr
    }
}

//  What lines begin with now, or NULL
static const char *s_context = NULL;

const char *
sq_log_set_context (const char *context)
{
    const char *before = s_context;
    s_context = context;
    return before;
}

void
sq_log (sq_log_level_t level, const char *format, ...)
{
    if (!sq_log_enabled (level))
        return;
    struct timespec time;
    clock_gettime (CLOCK_REALTIME, &time);
    char message [S_MESSAGE_MAX];
    int used = s_context? snprintf (message, sizeof message, "%s: ", s_context): 0;
    if (used < 0 || (size_t) used >= sizeof message)
        used = 0;
    va_list args;
    va_start (args, format);
    vsnprintf (message + used, sizeof message - (size_t) used, format, args);
    va_end (args);
    if (s_syslog.on) {
        s_syslog_write (level, &time, message);
        return;
    }
    char line [S_LINE_MAX];
    s_stderr_write (line, sq_log_format_line (line, sizeof line - 1, level, &time, message));
}

void
sq_log_failure (const char *format, ...)
{
    struct timespec time;
    clock_gettime (CLOCK_REALTIME, &time);
    char message [S_MESSAGE_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    if (s_syslog.on)
        s_syslog_write (SQ_LOG_ERROR, &time, message);
    char line [S_LINE_MAX];
    size_t size;
    if (s_format == SQ_LOG_JSON)
        size = sq_log_format_line (line, sizeof line - 1, SQ_LOG_ERROR, &time, message);
    else {
        int length = snprintf (line, sizeof line - 1, S_IDENT ": %s", message);
        size = length < 0? 0: (size_t) length < sizeof line - 1? (size_t) length
                                                               : sizeof line - 2;
    }
    s_stderr_write (line, size);
}
