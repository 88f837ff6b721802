/*  =========================================================================
    fuzz_control - control commands against a core with live connections

    Input: one setup byte, then lines ('\n'). The setup byte connects peers
    before the first line: bits 0-1 the number of clients, bits 2-3 the
    number of workers (0 to 3 each), bits 4-5 which mechanism the first
    one greets with (none, NULL, PLAIN, CURVE, then in turn for the next),
    bit 6 short timers (identify wait, pair idle timeout and lifetime),
    bit 7 routes that never fall back to any worker. Each line is then:
        @<ms>          time passes by that many milliseconds
        +<c>           a new peer connects: side c & 1, mechanism (c >> 1) & 3
        -<c>           a peer disconnects: side c & 1, peer (c >> 1) mod count
        ><c><bytes>    that peer sends the rest of the line
        ~              the engine's answer to sends and closes changes, in
                       turn: OK (at first), would block, connection gone
        anything else  a request: frames split on '\t'; an empty line has none
    After each line a millisecond passes and the core runs its timers.
    Every reply is checked: OK, PONG, ERROR and a reason, or valid JSON;
    and after each line, the connection table: no dead connection left,
    pairs that point at each other, and as many as the core counts.
    =========================================================================
*/
#include <stdlib.h>
#include <string.h>
#include "sq_fuzz.h"
#include "sq_control.h"

//  Peer numbers are one byte in the routing id the harness makes
#define S_PEERS_MAX 255
//  Longest jump of time one line can make
#define S_JUMP_MAX  10000000

typedef struct {
    sq_core_t *core;
    sq_send_result_t answer;    //  The engine's answer to sends and closes
    int64_t now;
    unsigned peers [2];         //  Peers connected so far, per side
} s_fuzz_t;

static const char *s_mechanisms [4] = { NULL, "NULL", "PLAIN", "CURVE" };

static void
s_setup (s_fuzz_t *self, uint8_t setup)
{
    sq_core_config_t config;
    sq_core_config_defaults (&config);
    if (setup & 0x40) {
        config.identify_wait_ms = 200;
        config.pair_idle_timeout_ms = 2000;
        config.pair_max_lifetime_ms = 5000;
    }
    config.route_fallback_any = !(setup & 0x80);
    memset (self, 0, sizeof *self);
    self->now = 1000;
    self->answer = SQ_SEND_OK;
    sq_engine_t engine = sq_fuzz_engine (&self->answer);
    self->core = sq_fuzz_core (&config, &engine);

    //  Workers first, so that clients find them
    unsigned clients = setup & 3, workers = (setup >> 2) & 3, mechanism = (setup >> 4) & 3;
    for (unsigned index = 0; index < workers + clients; index++) {
        sq_side_t side = index < workers? SQ_BACKEND: SQ_FRONTEND;
        sq_fuzz_connect (self->core, side, ++self->peers [side],
                         s_mechanisms [(mechanism + index) % 4], self->now);
    }
}

//  -------------------------------------------------------------------------
//  Requests

static bool
s_printable (const char *text)
{
    for (; *text; text++)
        if (*text < 0x20 || *text > 0x7E)
            return false;
    return true;
}

//  A log level as LOGLEVEL names it
static bool
s_level_name (const char *text)
{
    return strcmp (text, "error") == 0 || strcmp (text, "warning") == 0
        || strcmp (text, "info") == 0 || strcmp (text, "debug") == 0;
}

static void
s_check_reply (const sq_reply_t *reply)
{
    SQ_FUZZ_CHECK (reply->count >= 1 && reply->count <= SQ_CONTROL_FRAMES_MAX);
    for (size_t index = 0; index < reply->count; index++)
        SQ_FUZZ_CHECK (reply->frame [index] && s_printable (reply->frame [index]));
    const char *first = reply->frame [0];
    if (strcmp (first, "ERROR") == 0)
        SQ_FUZZ_CHECK (reply->count == 2 && *reply->frame [1]);
    else
    if (*first == '{' || *first == '[')
        SQ_FUZZ_CHECK (reply->count == 1 && sq_fuzz_json_valid (first));
    else
    if (reply->count == 2)          //  LOGLEVEL <level>: OK, then the level
        SQ_FUZZ_CHECK (strcmp (first, "OK") == 0 && s_level_name (reply->frame [1]));
    else                            //  OK, PONG, or the level alone (LOGLEVEL)
        SQ_FUZZ_CHECK (reply->count == 1
                    && (strcmp (first, "OK") == 0 || strcmp (first, "PONG") == 0
                    ||  s_level_name (first)));
}

//  Splits the line into frames, each in a buffer of its own so that ASan
//  sees a read past its end, and runs it as one request
static void
s_request (s_fuzz_t *self, const uint8_t *line, size_t length)
{
    sq_frames_t request = { .count = 0 };
    size_t start = 0;
    while (length > 0 && start <= length) {
        const uint8_t *tab = memchr (line + start, '\t', length - start);
        size_t end = tab? (size_t) (tab - line): length;
        if (request.count == SQ_CONTROL_FRAMES_MAX) {
            //  The proxy refuses such a request before parsing it
            request.count++;
            break;
        }
        size_t size = end - start;
        uint8_t *frame = malloc (size? size: 1);
        SQ_FUZZ_CHECK (frame);
        memcpy (frame, line + start, size);
        request.data [request.count] = frame;
        request.size [request.count++] = size;
        start = end + 1;
    }
    size_t frames = request.count;
    if (frames <= SQ_CONTROL_FRAMES_MAX) {
        sq_reply_t reply = { .count = 0 };
        sq_service_ref_t service = { SQ_SERVICE_DEFAULT, self->core, false };
        sq_control_handle (&service, 1, &request, &reply, self->now);
        s_check_reply (&reply);
        sq_reply_clear (&reply);
        SQ_FUZZ_CHECK (reply.count == 0);
    }
    for (size_t index = 0; index < frames && index < SQ_CONTROL_FRAMES_MAX; index++)
        free ((void *) request.data [index]);
}

//  -------------------------------------------------------------------------
//  Peers and time

//  The live connection a line's peer byte names, or NULL
static sq_conn_t *
s_peer (s_fuzz_t *self, uint8_t choice)
{
    sq_side_t side = choice & 1? SQ_BACKEND: SQ_FRONTEND;
    if (self->peers [side] == 0)
        return NULL;
    return sq_fuzz_lookup (self->core, side, 1 + (choice >> 1) % self->peers [side]);
}

static void
s_peer_line (s_fuzz_t *self, const uint8_t *line, size_t length)
{
    if (length < 2)
        return;
    uint8_t choice = line [1];
    if (line [0] == '+') {
        sq_side_t side = choice & 1? SQ_BACKEND: SQ_FRONTEND;
        if (self->peers [side] < S_PEERS_MAX)
            sq_fuzz_connect (self->core, side, ++self->peers [side],
                             s_mechanisms [(choice >> 1) & 3], self->now);
        return;
    }
    sq_conn_t *conn = s_peer (self, choice);
    if (!conn)
        return;
    if (line [0] == '-')
        sq_core_disconnected (self->core, conn, self->now);
    else
    if (length > 2) {
        uint8_t *bytes = malloc (length - 2);
        SQ_FUZZ_CHECK (bytes);
        memcpy (bytes, line + 2, length - 2);
        sq_core_received (self->core, conn, bytes, length - 2, self->now);
        free (bytes);
    }
}

//  Between events the table holds live connections only, and partners
//  point at each other
static void
s_check_core (sq_core_t *core)
{
    sq_conn_table_t *table = sq_core_conns (core);
    size_t count [2] = { 0, 0 }, pairs = 0;
    sq_list_t *all = sq_conn_table_all (table);
    for (sq_list_node_t *node = all->next; node != all; node = node->next) {
        sq_conn_t *conn = sq_list_entry (node, sq_conn_t, all_node);
        SQ_FUZZ_CHECK (conn->state != SQ_CONN_DEAD);
        SQ_FUZZ_CHECK (sq_core_lookup (core, conn->side, conn->id, conn->id_size) == conn);
        count [conn->side]++;
        if (conn->state == SQ_CONN_PAIRED) {
            SQ_FUZZ_CHECK (conn->partner && conn->partner->partner == conn);
            SQ_FUZZ_CHECK (conn->partner->side != conn->side);
            SQ_FUZZ_CHECK (conn->partner->state == SQ_CONN_PAIRED);
            pairs += conn->side == SQ_FRONTEND;
        }
        else
            SQ_FUZZ_CHECK (conn->partner == NULL);
    }
    SQ_FUZZ_CHECK (count [SQ_FRONTEND] == sq_conn_table_count (table, SQ_FRONTEND));
    SQ_FUZZ_CHECK (count [SQ_BACKEND] == sq_conn_table_count (table, SQ_BACKEND));
    SQ_FUZZ_CHECK (pairs == sq_core_active_pairs (core));
}

static void
s_tick (s_fuzz_t *self, int64_t elapsed)
{
    self->now += elapsed;
    sq_core_tick (self->core, self->now);
    SQ_FUZZ_CHECK (sq_core_next_timeout (self->core, self->now) >= -1);
}

//  "@<ms>": the digits after '@', at most S_JUMP_MAX
static int64_t
s_jump (const uint8_t *line, size_t length)
{
    int64_t elapsed = 0;
    for (size_t index = 1; index < length && line [index] >= '0' && line [index] <= '9'; index++) {
        elapsed = elapsed * 10 + (line [index] - '0');
        if (elapsed > S_JUMP_MAX)
            return S_JUMP_MAX;
    }
    return elapsed;
}

static void
s_line (s_fuzz_t *self, const uint8_t *line, size_t length)
{
    uint8_t first = length? line [0]: 0;
    if (first == '@')
        s_tick (self, s_jump (line, length));
    else
    if (first == '+' || first == '-' || first == '>')
        s_peer_line (self, line, length);
    else
    if (first == '~' && length == 1)
        self->answer = self->answer == SQ_SEND_OK? SQ_SEND_AGAIN
                     : self->answer == SQ_SEND_AGAIN? SQ_SEND_GONE: SQ_SEND_OK;
    else
        s_request (self, line, length);
    s_check_core (self->core);
    s_tick (self, 1);
    s_check_core (self->core);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    s_fuzz_t fuzz;
    s_setup (&fuzz, data [0]);
    const uint8_t *at = data + 1, *end = data + size;
    while (at < end) {
        const uint8_t *newline = memchr (at, '\n', (size_t) (end - at));
        size_t length = newline? (size_t) (newline - at): (size_t) (end - at);
        s_line (&fuzz, at, length);
        at += length + 1;
    }
    fuzz.answer = SQ_SEND_OK;
    sq_fuzz_core_destroy (&fuzz.core, fuzz.now);
    return 0;
}
