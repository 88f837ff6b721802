/*  =========================================================================
    sq_control - control commands
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include "sq_control.h"
#include "sq_report.h"
#include "sq_identity.h"
#include "sq_log.h"

#define S_ARG_MAX 256

typedef struct {
    const sq_service_ref_t *services;   //  Those the request covers
    size_t service_count;
    bool named;                 //  SERVICE <name> chose the one service
    bool tagged;                //  Entries of reports name their service
    const sq_service_ref_t *service;    //  The one a write runs on now
    sq_core_t *core;            //  Its core
    char **args;                //  After the command
    size_t count;
    sq_reply_t *reply;
    int64_t now;
} s_request_t;

//  -------------------------------------------------------------------------
//  Replies

//  Adds a frame the reply now owns; a NULL text (out of memory) is dropped
static void
s_reply_take (sq_reply_t *reply, char *text)
{
    if (text && reply->count < SQ_CONTROL_FRAMES_MAX)
        reply->frame [reply->count++] = text;
    else
        free (text);
}

static void
s_reply (sq_reply_t *reply, const char *text)
{
    s_reply_take (reply, strdup (text));
}

static void
s_error (sq_reply_t *reply, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_error (sq_reply_t *reply, const char *format, ...)
{
    char reason [512];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    s_reply (reply, "ERROR");
    s_reply (reply, reason);
}

void
sq_reply_clear (sq_reply_t *reply)
{
    for (size_t index = 0; index < reply->count; index++)
        free (reply->frame [index]);
    reply->count = 0;
}

//  -------------------------------------------------------------------------
//  Checks of arguments

bool
sq_control_name_ok (const char *name)
{
    size_t length = strlen (name);
    if (length == 0 || length >= SQ_NAME_MAX)
        return false;
    for (; *name; name++)
        if (*name < 0x21 || *name > 0x7E)
            return false;
    return true;
}

bool
sq_control_weight_parse (const char *text, unsigned *weight)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < 1 || value > SQ_WEIGHT_MAX)
        return false;
    *weight = (unsigned) value;
    return true;
}

//  Checks names among the arguments, from `first` on; replies if one is bad
static bool
s_names_ok (s_request_t *request, size_t first)
{
    for (size_t index = first; index < request->count; index++)
        if (!sq_control_name_ok (request->args [index])) {
            s_error (request->reply, "'%s' is not a valid name (1 to %d printable "
                     "characters, no space)", request->args [index], SQ_NAME_MAX - 1);
            return false;
        }
    return true;
}

static bool
s_side_ok (s_request_t *request, sq_side_t *side)
{
    if (sq_side_parse (request->args [0], side))
        return true;
    s_error (request->reply, "side must be 'frontend' or 'backend', not '%s'",
             request->args [0]);
    return false;
}

//  "ip:port" or "[ipv6]:port", as the proxy shows peer addresses
static bool
s_address_ok (const char *address)
{
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address)
        return false;
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 1 || port > 65535)
        return false;
    char ip [SQ_ADDRESS_MAX];
    size_t length = (size_t) (colon - address);
    if (length >= sizeof ip)
        return false;
    memcpy (ip, address, length);
    ip [length] = 0;
    uint8_t binary [16];
    if (ip [0] == '[' && ip [length - 1] == ']') {
        ip [length - 1] = 0;
        return inet_pton (AF_INET6, ip + 1, binary) == 1;
    }
    return inet_pton (AF_INET, ip, binary) == 1;
}

//  -------------------------------------------------------------------------
//  Commands

//  For a log line: " in service <name>" when the proxy has several, else ""
static const char *
s_where (const s_request_t *request, char *text, size_t size)
{
    if (!request->tagged)
        return "";
    snprintf (text, size, " in service %s", request->service->name);
    return text;
}

static void
s_ping (s_request_t *request)
{
    s_reply (request->reply, "PONG");
}

//  STATS: one service's, or the totals and every service's
static void
s_stats (s_request_t *request)
{
    if (request->named)
        s_reply_take (request->reply, sq_report_stats_service (request->services,
                                                               request->now));
    else
        s_reply_take (request->reply, sq_report_stats (request->services,
                                                       request->service_count, request->now));
}

//  A report's page from its optional arguments [offset [count]]; false
//  (with an ERROR) when they are not whole numbers in range
static bool
s_page (s_request_t *request, sq_page_t *page)
{
    page->offset = 0;
    page->count = SQ_PAGE_DEFAULT;
    for (size_t index = 0; index < request->count; index++) {
        char *end;
        long long value = strtoll (request->args [index], &end, 10);
        long long max = index == 0? 1000000000LL: SQ_PAGE_MAX;
        if (end == request->args [index] || *end || value < (long long) index || value > max) {
            s_error (request->reply, "%s must be a whole number from %d to %lld, not '%s'",
                     index == 0? "offset": "count", (int) index, max, request->args [index]);
            return false;
        }
        if (index == 0)
            page->offset = (size_t) value;
        else
            page->count = (size_t) value;
    }
    return true;
}

static void
s_list (s_request_t *request)
{
    sq_page_t page;
    if (s_page (request, &page))
        s_reply_take (request->reply, sq_report_list (request->services,
                      request->service_count, page, true));
}

static void
s_workers (s_request_t *request)
{
    sq_page_t page;
    if (s_page (request, &page))
        s_reply_take (request->reply, sq_report_workers (request->services,
                      request->service_count, page, request->tagged));
}

static void
s_clients (s_request_t *request)
{
    sq_page_t page;
    if (s_page (request, &page))
        s_reply_take (request->reply, sq_report_clients (request->services,
                      request->service_count, page, request->tagged));
}

static void
s_routes (s_request_t *request)
{
    sq_page_t page;
    if (s_page (request, &page))
        s_reply_take (request->reply, sq_report_routes (request->services,
                      request->service_count, page, request->tagged));
}

//  CLOSE <side> <ip|cidr|name>: closes the live connections that match,
//  with their partners; replies OK and how many matched
static void
s_close (s_request_t *request)
{
    sq_side_t side;
    if (!s_side_ok (request, &side))
        return;
    size_t closed = sq_core_close_matching (request->core, side, request->args [1],
                                            request->now);
    char where [96];
    sq_warning ("control: CLOSE %s %s closed %zu connections and their partners%s",
                sq_side_name (side), request->args [1], closed,
                s_where (request, where, sizeof where));
    char count [32];
    snprintf (count, sizeof count, "%zu", closed);
    s_reply (request->reply, "OK");
    s_reply (request->reply, count);
}

static void
s_bans (s_request_t *request)
{
    s_reply_take (request->reply, sq_report_bans (request->services, request->service_count,
                                                  request->now, request->tagged));
}

static void
s_unban (s_request_t *request)
{
    if (sq_core_unban (request->core, request->args [0]))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "no ban for %s", request->args [0]);
}

static void
s_pause (s_request_t *request)
{
    char where [96];
    if (!sq_core_paused (request->core))
        sq_info ("control: paused%s", s_where (request, where, sizeof where));
    sq_core_set_paused (request->core, true, request->now);
    s_reply (request->reply, "OK");
}

static void
s_resume (s_request_t *request)
{
    char where [96];
    if (sq_core_paused (request->core))
        sq_info ("control: resumed%s", s_where (request, where, sizeof where));
    sq_core_set_paused (request->core, false, request->now);
    s_reply (request->reply, "OK");
}

//  TERMINATE stops the proxy: every service's core is told, whichever
//  the loop watches
static void
s_terminate (s_request_t *request)
{
    if (request->named) {
        s_error (request->reply, "%s", "TERMINATE is for the whole proxy");
        return;
    }
    sq_info ("control: terminate requested");
    for (size_t at = 0; at < request->service_count; at++)
        sq_core_terminate (request->services [at].core);
    s_reply (request->reply, "OK");
}

static void
s_identify (s_request_t *request)
{
    sq_side_t side;
    if (!s_side_ok (request, &side) || !s_names_ok (request, 2))
        return;
    if (!s_address_ok (request->args [1])) {
        s_error (request->reply, "'%s' is not an address: expected ip:port or [ipv6]:port",
                 request->args [1]);
        return;
    }
    if (sq_identity_pending (sq_core_identity (request->core)) >= SQ_CONTROL_REGISTRATIONS_MAX) {
        s_error (request->reply, "too many registrations waiting for their connection (%d)",
                 SQ_CONTROL_REGISTRATIONS_MAX);
        return;
    }
    bool applied = sq_core_identify (request->core, side, request->args [1],
                                     request->args [2], request->now);
    sq_debug ("control: %s %s named %s (%s)", sq_side_name (side), request->args [1],
              request->args [2], applied? "connected": "waiting for it");
    s_reply (request->reply, "OK");
}

static void
s_alias (s_request_t *request)
{
    sq_side_t side;
    char reason [256];
    if (!s_side_ok (request, &side) || !s_names_ok (request, 2))
        return;
    if (sq_identity_alias (sq_core_identity (request->core), side, request->args [1],
                           request->args [2], reason, sizeof reason))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "%s", reason);
}

static void
s_unalias (s_request_t *request)
{
    sq_side_t side;
    if (!s_side_ok (request, &side))
        return;
    if (sq_identity_unalias (sq_core_identity (request->core), side, request->args [1]))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "no %s rule for '%s'", sq_side_name (side), request->args [1]);
}

static void
s_route (s_request_t *request)
{
    if (!s_names_ok (request, 0))
        return;
    sq_balancer_t *balancer = sq_core_balancer (request->core);
    if (!sq_balancer_route (balancer, request->args [0])
    &&  sq_balancer_route_count (balancer) >= SQ_CONTROL_ROUTES_MAX) {
        s_error (request->reply, "too many routes (%d): UNROUTE some first",
                 SQ_CONTROL_ROUTES_MAX);
        return;
    }
    if (sq_core_route (request->core, request->args [0], (const char **) request->args + 1,
                       request->count - 1, request->now))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "%s", "out of memory");
}

static void
s_unroute (s_request_t *request)
{
    if (sq_core_unroute (request->core, request->args [0], request->now))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "no route for '%s'", request->args [0]);
}

//  A setting may keep a record of a worker that is not connected: false
//  (with an ERROR) when that would pass the bound
static bool
s_worker_room (s_request_t *request)
{
    sq_balancer_t *balancer = sq_core_balancer (request->core);
    if (sq_balancer_worker (balancer, request->args [0])
    ||  sq_balancer_record_count (balancer) < SQ_CONTROL_WORKERS_MAX)
        return true;
    s_error (request->reply, "too many workers known by name (%d)", SQ_CONTROL_WORKERS_MAX);
    return false;
}

static void
s_set_draining (s_request_t *request, bool draining)
{
    if (!s_names_ok (request, 0) || !s_worker_room (request))
        return;
    if (sq_core_set_draining (request->core, request->args [0], draining, request->now))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "%s", "out of memory");
}

//  DRAIN ALL drains the whole proxy before it stops (as SIGUSR1 does);
//  DRAIN <worker> drains one worker
static void
s_drain (s_request_t *request)
{
    if (strcmp (request->args [0], "ALL") == 0) {
        sq_core_drain_all (request->core, request->now);
        s_reply (request->reply, "OK");
    }
    else
        s_set_draining (request, true);
}

static void
s_undrain (s_request_t *request)
{
    s_set_draining (request, false);
}

static void
s_weight (s_request_t *request)
{
    unsigned weight;
    if (!s_names_ok (request, 0) || !s_worker_room (request))
        return;
    if (!sq_control_weight_parse (request->args [1], &weight))
        s_error (request->reply, "weight must be a whole number from 1 to %d, not '%s'",
                 SQ_WEIGHT_MAX, request->args [1]);
    else
    if (sq_core_set_weight (request->core, request->args [0], weight))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "%s", "out of memory");
}

static void
s_load (s_request_t *request)
{
    if (!s_names_ok (request, 0) || !s_worker_room (request))
        return;
    char *end;
    double load = strtod (request->args [1], &end);
    if (end == request->args [1] || *end || !(load >= 0 && load <= 1))
        s_error (request->reply, "load must be a number from 0 to 1, not '%s'",
                 request->args [1]);
    else
    if (sq_core_set_load (request->core, request->args [0], load))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "%s", "out of memory");
}

static void
s_heartbeat (s_request_t *request)
{
    if (!s_names_ok (request, 0))
        return;
    long long interval = 0;
    if (request->count == 2) {
        char *end;
        interval = strtoll (request->args [1], &end, 10);
        if (end == request->args [1] || *end || interval < 1 || interval > 86400000) {
            s_error (request->reply, "interval must be a whole number of milliseconds "
                     "from 1 to 86400000, not '%s'", request->args [1]);
            return;
        }
    }
    if (sq_core_heartbeat (request->core, request->args [0], interval, request->now))
        s_reply (request->reply, "OK");
    else
        s_error (request->reply, "%s", "out of memory");
}

//  LOGLEVEL [<level>]: the level in force, after setting it. The change is
//  logged at info under the more verbose of the two levels, so that a log
//  that shows info lines shows it.
static void
s_loglevel (s_request_t *request)
{
    if (request->named) {
        s_error (request->reply, "%s", "LOGLEVEL is for the whole proxy");
        return;
    }
    sq_log_level_t level = sq_log_level ();
    if (request->count == 1) {
        sq_log_level_t wanted;
        if (!sq_log_level_parse (request->args [0], &wanted)) {
            s_error (request->reply, "level must be error, warning, info or debug, "
                     "not '%s'", request->args [0]);
            return;
        }
        if (wanted > level)
            sq_log_set_level (wanted);
        if (wanted != level)
            sq_info ("control: log level %s (was %s)", sq_log_level_name (wanted),
                     sq_log_level_name (level));
        sq_log_set_level (wanted);
        s_reply (request->reply, "OK");
    }
    s_reply (request->reply, sq_log_level_name (sq_log_level ()));
}

//  Whom a command is for: the proxy (run once), the services it reads
//  (run once over them), or each service it changes (run once a service,
//  see s_broadcast); a draining service, removed by a reload, takes only
//  the commands of S_ANY
typedef enum { S_PROXY, S_READ, S_WRITE, S_ANY } s_scope_t;

typedef struct {
    const char *name;
    size_t min_args;
    size_t max_args;
    const char *usage;
    void (*run) (s_request_t *request);
    s_scope_t scope;
} s_command_t;

static const s_command_t s_commands [] = {
    { "PING",      0, 0,  "PING",                             s_ping,      S_PROXY },
    { "STATS",     0, 0,  "STATS",                            s_stats,     S_READ },
    { "LIST",      0, 2,  "LIST [<offset> [<count>]]",        s_list,      S_READ },
    { "WORKERS",   0, 2,  "WORKERS [<offset> [<count>]]",     s_workers,   S_READ },
    { "CLIENTS",   0, 2,  "CLIENTS [<offset> [<count>]]",     s_clients,   S_READ },
    { "ROUTES",    0, 2,  "ROUTES [<offset> [<count>]]",      s_routes,    S_READ },
    { "CLOSE",     2, 2,  "CLOSE <frontend|backend> <ip|cidr|name>", s_close, S_ANY },
    { "BANS",      0, 0,  "BANS",                             s_bans,      S_READ },
    { "UNBAN",     1, 1,  "UNBAN <client name or IP>",        s_unban,     S_WRITE },
    { "PAUSE",     0, 0,  "PAUSE",                            s_pause,     S_WRITE },
    { "RESUME",    0, 0,  "RESUME",                           s_resume,    S_WRITE },
    { "TERMINATE", 0, 0,  "TERMINATE",                        s_terminate, S_PROXY },
    { "IDENTIFY",  3, 3,  "IDENTIFY <frontend|backend> <ip:port> <name>", s_identify, S_WRITE },
    { "ALIAS",     3, 3,  "ALIAS <frontend|backend> <ip|cidr> <name>",    s_alias, S_WRITE },
    { "UNALIAS",   2, 2,  "UNALIAS <frontend|backend> <ip|cidr>",         s_unalias, S_WRITE },
    { "ROUTE",     2, 1 + SQ_ROUTE_MAX, "ROUTE <client> <worker> [<fallback>...]", s_route,
                                                                           S_WRITE },
    { "UNROUTE",   1, 1,  "UNROUTE <client>",                 s_unroute,   S_WRITE },
    { "DRAIN",     1, 1,  "DRAIN <worker> | DRAIN ALL",       s_drain,     S_WRITE },
    { "UNDRAIN",   1, 1,  "UNDRAIN <worker>",                 s_undrain,   S_WRITE },
    { "WEIGHT",    2, 2,  "WEIGHT <worker> <1..1000000>",     s_weight,    S_WRITE },
    { "LOAD",      2, 2,  "LOAD <worker> <0..1>",             s_load,      S_WRITE },
    //  A draining service's workers still beat: without their heartbeats
    //  it would close their pairs before they end
    { "HEARTBEAT", 1, 2,  "HEARTBEAT <name> [<interval-ms>]", s_heartbeat, S_ANY },
    { "LOGLEVEL",  0, 1,  "LOGLEVEL [error|warning|info|debug]", s_loglevel, S_PROXY },
};

static const s_command_t *
s_command_find (const char *name)
{
    for (size_t index = 0; index < sizeof s_commands / sizeof s_commands [0]; index++)
        if (strcasecmp (name, s_commands [index].name) == 0)
            return &s_commands [index];
    return NULL;
}

//  The commands that only read: a secured control socket may open them
//  to any client (--control-open-read). Every other command, including
//  IDENTIFY and HEARTBEAT, changes what the proxy does.
static const char *s_read_only [] = {
    "PING", "STATS", "LIST", "WORKERS", "CLIENTS", "ROUTES", "BANS"
};

bool
sq_control_read_only (const char *command)
{
    for (size_t index = 0; index < sizeof s_read_only / sizeof s_read_only [0]; index++)
        if (strcasecmp (command, s_read_only [index]) == 0)
            return true;
    return false;
}

size_t
sq_control_service_prefix (const sq_frames_t *request)
{
    static const char prefix [] = "SERVICE";
    size_t length = sizeof prefix - 1;
    if (request->count >= 2 && request->size [0] == length
    &&  strncasecmp ((const char *) request->data [0], prefix, length) == 0)
        return 2;
    return 0;
}

//  Copies frame `index` into a C string; false when it is empty, too long,
//  or holds anything but printable characters
static bool
s_frame_text (const sq_frames_t *request, size_t index, char *text)
{
    size_t size = request->size [index];
    if (size == 0 || size >= S_ARG_MAX)
        return false;
    memcpy (text, request->data [index], size);
    text [size] = 0;
    for (size_t at = 0; at < size; at++)
        if (text [at] < 0x20 || text [at] > 0x7E)
            return false;
    return true;
}

//  Moves the frames of from into an empty reply
static void
s_reply_move (sq_reply_t *into, sq_reply_t *from)
{
    *into = *from;
    from->count = 0;
}

//  Runs a command that changes a service on each service the request
//  covers, a draining one only for S_ANY. Replies what the first service
//  that took it replied (OK: for CLOSE with the count summed over the
//  services), else the first error.
static void
s_broadcast (const s_command_t *command, s_request_t *request)
{
    sq_reply_t taken = { 0 }, refused = { 0 };
    size_t closed = 0;
    for (size_t at = 0; at < request->service_count; at++) {
        const sq_service_ref_t *service = &request->services [at];
        if (service->removed && command->scope != S_ANY)
            continue;
        sq_reply_t one = { 0 };
        s_request_t call = *request;
        call.service = service;
        call.core = service->core;
        call.reply = &one;
        command->run (&call);
        bool ok = one.count && strcmp (one.frame [0], "OK") == 0;
        if (ok && command->run == s_close && one.count == 2)
            closed += strtoull (one.frame [1], NULL, 10);
        if (ok && taken.count == 0)
            s_reply_move (&taken, &one);
        else
        if (!ok && refused.count == 0)
            s_reply_move (&refused, &one);
        sq_reply_clear (&one);
    }
    if (taken.count == 2 && command->run == s_close) {
        char sum [32];
        snprintf (sum, sizeof sum, "%zu", closed);
        free (taken.frame [1]);
        taken.count = 1;
        s_reply (&taken, sum);
    }
    if (taken.count) {
        s_reply_move (request->reply, &taken);
        sq_reply_clear (&refused);
    }
    else
    if (refused.count)
        s_reply_move (request->reply, &refused);
    else
        s_error (request->reply, "no service takes %s: every one is being removed",
                 command->name);
}

//  Runs the command for whom it is for
static void
s_run (const s_command_t *command, s_request_t *request)
{
    if (command->scope == S_PROXY || command->scope == S_READ) {
        request->service = request->services;
        request->core = request->services->core;
        command->run (request);
    }
    else
    if (request->named && request->services->removed && command->scope != S_ANY)
        s_error (request->reply, "service '%s' is being removed: it takes only CLOSE "
                 "and HEARTBEAT", request->services->name);
    else
        s_broadcast (command, request);
}

//  Takes the SERVICE <name> that may lead the request: the request then
//  covers that service only. False (with an ERROR) when the name is not
//  one of them.
static bool
s_service_choose (s_request_t *request, char **args, size_t args_count)
{
    if (args_count == 0 || strcasecmp (args [0], "SERVICE") != 0)
        return true;
    if (args_count < 2) {
        s_error (request->reply, "%s", "usage: SERVICE <name> <command> [<argument>...]");
        return false;
    }
    const char *name = args [1];
    if (!sq_service_name_ok (name)) {
        s_error (request->reply, "'%s' is not a valid service name (1 to 63 of "
                 "A-Z a-z 0-9 . _ -)", name);
        return false;
    }
    for (size_t at = 0; at < request->service_count; at++)
        if (strcmp (request->services [at].name, name) == 0) {
            request->services += at;
            request->service_count = 1;
            request->named = true;
            return true;
        }
    s_error (request->reply, "no service '%s'", name);
    return false;
}

void
sq_control_handle (const sq_service_ref_t *services, size_t count,
                   const sq_frames_t *request, sq_reply_t *reply, int64_t now)
{
    char texts [SQ_CONTROL_FRAMES_MAX][S_ARG_MAX];
    char *args [SQ_CONTROL_FRAMES_MAX];
    for (size_t index = 0; index < request->count; index++) {
        if (!s_frame_text (request, index, texts [index])) {
            s_error (reply, "frame %zu is empty, too long, or not printable text", index + 1);
            return;
        }
        args [index] = texts [index];
    }
    s_request_t call = { services, count, false, count > 1, services, services->core,
                         args, request->count, reply, now };
    if (!s_service_choose (&call, args, request->count))
        return;
    size_t first = call.named? 2: 0;
    if (request->count <= first) {
        s_error (reply, "%s", first? "expected a command after SERVICE <name>"
                                   : "expected a command name as the first frame");
        return;
    }
    const s_command_t *command = s_command_find (args [first]);
    if (!command) {
        s_error (reply, "unknown command '%s'", args [first]);
        return;
    }
    call.args = args + first + 1;
    call.count = request->count - first - 1;
    if (call.count < command->min_args || call.count > command->max_args) {
        if (command->max_args == 0)
            s_error (reply, "%s takes no arguments", command->name);
        else
            s_error (reply, "usage: %s", command->usage);
        return;
    }
    s_run (command, &call);
    if (reply->count == 0)
        s_error (reply, "%s", "out of memory");
}
