/*  =========================================================================
    sq_fuzz - what the fuzz targets share: an engine, peers, a JSON check
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_fuzz.h"
#include "sq_log.h"

void
sq_fuzz_fail (const char *file, int line, const char *what)
{
    fprintf (stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort ();
}

//  -------------------------------------------------------------------------
//  An engine with no I/O

//  Where s_send reads every byte it is given, so that a bad pointer or size
//  shows under ASan
static volatile uint8_t s_sink;

static sq_send_result_t
s_send (void *handle, sq_conn_t *conn, const uint8_t *data, size_t size)
{
    (void) conn;
    for (size_t index = 0; index < size; index++)
        s_sink ^= data [index];
    return *(sq_send_result_t *) handle;
}

static sq_send_result_t
s_close (void *handle, sq_conn_t *conn)
{
    (void) conn;
    return *(sq_send_result_t *) handle;
}

sq_engine_t
sq_fuzz_engine (sq_send_result_t *answer)
{
    sq_engine_t engine = { .handle = answer, .send = s_send, .close = s_close };
    return engine;
}

sq_core_t *
sq_fuzz_core (const sq_core_config_t *config, sq_engine_t *engine)
{
    //  Every connection event logs at info level: far too slow for a fuzzer
    sq_log_set_level (SQ_LOG_ERROR);
    sq_core_config_t defaults;
    if (!config) {
        sq_core_config_defaults (&defaults);
        config = &defaults;
    }
    sq_core_t *core = sq_core_new (config, engine);
    SQ_FUZZ_CHECK (core);
    return core;
}

void
sq_fuzz_core_destroy (sq_core_t **core_p, int64_t now)
{
    sq_core_close_all (*core_p, now);
    sq_core_destroy (core_p);
}

//  -------------------------------------------------------------------------
//  Peers

void
sq_fuzz_greeting (uint8_t *bytes, const char *mechanism)
{
    static const uint8_t head [12] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0 };
    memset (bytes, 0, SQ_GREETING_SIZE);
    memcpy (bytes, head, sizeof head);
    memcpy (bytes + 12, mechanism, strlen (mechanism));
}

static void
s_id (unsigned n, uint8_t *id)
{
    id [0] = 0;
    id [1] = (uint8_t) (n >> 8);
    id [2] = (uint8_t) n;
    id [3] = 0;
    id [4] = 0;
}

sq_conn_t *
sq_fuzz_connect (sq_core_t *core, sq_side_t side, unsigned n,
                 const char *mechanism, int64_t now)
{
    char host [32], address [SQ_ADDRESS_MAX];
    unsigned net = side == SQ_FRONTEND? 0: 1;
    unsigned port = (side == SQ_FRONTEND? 5000: 6000) + n;
    if (n % 3 == 0) {
        snprintf (host, sizeof host, "fd00:%u::%u", net, n);
        snprintf (address, sizeof address, "[%s]:%u", host, port);
    }
    else {
        snprintf (host, sizeof host, "10.%u.0.%u", net, n);
        snprintf (address, sizeof address, "%s:%u", host, port);
    }
    uint8_t id [5];
    s_id (n, id);
    sq_core_connected (core, side, id, sizeof id, host, address, now);
    //  The connection may be gone already (an engine that fails its sends):
    //  like the real engine, look it up before reporting bytes
    sq_conn_t *conn = sq_fuzz_lookup (core, side, n);
    if (conn && mechanism) {
        uint8_t greeting [SQ_GREETING_SIZE];
        sq_fuzz_greeting (greeting, mechanism);
        sq_core_received (core, conn, greeting, sizeof greeting, now);
    }
    return sq_fuzz_lookup (core, side, n);
}

sq_conn_t *
sq_fuzz_lookup (sq_core_t *core, sq_side_t side, unsigned n)
{
    uint8_t id [5];
    s_id (n, id);
    return sq_core_lookup (core, side, id, sizeof id);
}

//  -------------------------------------------------------------------------
//  A strict JSON reader that only says yes or no (RFC 8259)

#define S_JSON_DEPTH_MAX 32

static bool s_json_value (const char **at, int depth);

static void
s_json_space (const char **at)
{
    while (**at == ' ' || **at == '\t' || **at == '\n' || **at == '\r')
        (*at)++;
}

static bool
s_json_string (const char **at)
{
    const char *c = *at;
    if (*c++ != '"')
        return false;
    while (*c != '"') {
        if ((unsigned char) *c < 0x20)
            return false;           //  Includes the end of the text
        if (*c == '\\') {
            c++;
            if (*c == 'u') {
                for (int digit = 1; digit <= 4; digit++)
                    if (!c [digit] || !strchr ("0123456789abcdefABCDEF", c [digit]))
                        return false;
                c += 4;
            }
            else
            if (!*c || !strchr ("\"\\/bfnrt", *c))
                return false;
        }
        c++;
    }
    *at = c + 1;
    return true;
}

static bool
s_json_digits (const char **at)
{
    const char *start = *at;
    while (**at >= '0' && **at <= '9')
        (*at)++;
    return *at > start;
}

static bool
s_json_number (const char **at)
{
    if (**at == '-')
        (*at)++;
    if (**at == '0')
        (*at)++;
    else
    if (!s_json_digits (at))
        return false;
    if (**at == '.') {
        (*at)++;
        if (!s_json_digits (at))
            return false;
    }
    if (**at == 'e' || **at == 'E') {
        (*at)++;
        if (**at == '+' || **at == '-')
            (*at)++;
        if (!s_json_digits (at))
            return false;
    }
    return true;
}

//  An object (close '}') or an array (close ']'), from its opening bracket
static bool
s_json_members (const char **at, char close, int depth)
{
    (*at)++;
    s_json_space (at);
    if (**at == close) {
        (*at)++;
        return true;
    }
    while (true) {
        if (close == '}') {
            if (!s_json_string (at))
                return false;
            s_json_space (at);
            if (*(*at)++ != ':')
                return false;
        }
        if (!s_json_value (at, depth + 1))
            return false;
        s_json_space (at);
        char next = *(*at)++;
        if (next == close)
            return true;
        if (next != ',')
            return false;
        s_json_space (at);
    }
}

static bool
s_json_value (const char **at, int depth)
{
    if (depth > S_JSON_DEPTH_MAX)
        return false;
    s_json_space (at);
    const char *c = *at;
    if (*c == '{')
        return s_json_members (at, '}', depth);
    if (*c == '[')
        return s_json_members (at, ']', depth);
    if (*c == '"')
        return s_json_string (at);
    static const char *words [] = { "true", "false", "null" };
    for (size_t index = 0; index < 3; index++)
        if (strncmp (c, words [index], strlen (words [index])) == 0) {
            *at += strlen (words [index]);
            return true;
        }
    return s_json_number (at);
}

bool
sq_fuzz_json_valid (const char *text)
{
    const char *at = text;
    if (!s_json_value (&at, 0))
        return false;
    s_json_space (&at);
    return *at == 0;
}
