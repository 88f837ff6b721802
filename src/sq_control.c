/*  =========================================================================
    sq_control - control commands
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sq_control.h"
#include "sq_json.h"
#include "sq_log.h"

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
s_reply_error (sq_reply_t *reply, const char *format, const char *argument)
{
    char reason [256];
    snprintf (reason, sizeof reason, format, argument);
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

char *
sq_control_stats_json (sq_core_t *core, int64_t now)
{
    const sq_core_stats_t *stats = sq_core_stats (core);
    sq_conn_table_t *conns = sq_core_conns (core);
    sq_balancer_t *balancer = sq_core_balancer (core);
    sq_json_t json;
    sq_json_init (&json);
    sq_json_object_open (&json, NULL);
    sq_json_object_open (&json, "frontend");
    sq_json_uint (&json, "connections", sq_conn_table_count (conns, SQ_FRONTEND));
    sq_json_uint (&json, "accepted", stats->accepted [SQ_FRONTEND]);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "backend");
    sq_json_uint (&json, "connections", sq_conn_table_count (conns, SQ_BACKEND));
    sq_json_uint (&json, "accepted", stats->accepted [SQ_BACKEND]);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "workers");
    sq_json_uint (&json, "idle", sq_balancer_idle_count (balancer));
    sq_json_uint (&json, "known", sq_balancer_worker_count (balancer));
    sq_json_object_close (&json);
    sq_json_object_open (&json, "clients");
    sq_json_uint (&json, "queued", sq_balancer_queued_count (balancer));
    sq_json_object_close (&json);
    sq_json_object_open (&json, "pairs");
    sq_json_uint (&json, "active", sq_core_active_pairs (core));
    sq_json_uint (&json, "total", stats->pairs_total);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "bytes");
    sq_json_uint (&json, "to_backend", stats->bytes_to [SQ_BACKEND]);
    sq_json_uint (&json, "to_frontend", stats->bytes_to [SQ_FRONTEND]);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "rejected");
    sq_json_uint (&json, "greeting", stats->rejected_greeting);
    sq_json_uint (&json, "queue", stats->rejected_queue_full + stats->rejected_queue_timeout);
    sq_json_uint (&json, "queue_full", stats->rejected_queue_full);
    sq_json_uint (&json, "queue_timeout", stats->rejected_queue_timeout);
    sq_json_object_close (&json);
    sq_json_object_open (&json, "closed");
    sq_json_uint (&json, "early_overflow", stats->closed_early_overflow);
    sq_json_uint (&json, "unflushed", stats->closed_unflushed);
    sq_json_object_close (&json);
    sq_json_bool (&json, "paused", sq_core_paused (core));
    sq_json_uint (&json, "uptime_ms", (uint64_t) (now - sq_core_started (core)));
    sq_json_object_close (&json);
    return sq_json_take (&json);
}

static void
s_list_conn (sq_json_t *json, const sq_conn_t *conn)
{
    sq_json_object_open (json, NULL);
    sq_json_uint (json, "id", conn->serial);
    sq_json_string (json, "side", sq_side_name (conn->side));
    sq_json_string (json, "address", conn->address);
    sq_json_string (json, "mechanism", conn->greeting.mechanism);
    sq_json_string (json, "state", sq_conn_state_name (conn->state));
    if (conn->side == SQ_BACKEND)
        sq_json_string (json, "worker", conn->host);
    if (conn->partner)
        sq_json_uint (json, "paired_with", conn->partner->serial);
    else
        sq_json_null (json, "paired_with");
    sq_json_uint (json, "bytes_in", conn->bytes_in);
    sq_json_uint (json, "bytes_out", conn->bytes_out);
    sq_json_object_close (json);
}

char *
sq_control_list_json (sq_core_t *core)
{
    sq_json_t json;
    sq_json_init (&json);
    sq_json_array_open (&json, NULL);
    sq_list_t *all = sq_conn_table_all (sq_core_conns (core));
    for (sq_list_node_t *node = all->next; node != all; node = node->next)
        s_list_conn (&json, sq_list_entry (node, sq_conn_t, all_node));
    sq_json_array_close (&json);
    return sq_json_take (&json);
}

//  The command frame as a short C string, or NULL if it cannot be a command
static bool
s_command_name (const sq_frames_t *request, char *name, size_t name_size)
{
    if (request->count == 0 || request->size [0] == 0 || request->size [0] >= name_size)
        return false;
    memcpy (name, request->data [0], request->size [0]);
    name [request->size [0]] = 0;
    for (size_t index = 0; index < request->size [0]; index++)
        if (name [index] < 0x21 || name [index] > 0x7E)
            return false;
    return true;
}

void
sq_control_handle (sq_core_t *core, const sq_frames_t *request, sq_reply_t *reply,
                   int64_t now)
{
    char name [32];
    if (!s_command_name (request, name, sizeof name)) {
        s_reply_error (reply, "%s", "expected a command name as the first frame");
        return;
    }
    if (request->count > 1) {
        s_reply_error (reply, "%s takes no arguments", name);
        return;
    }
    if (strcasecmp (name, "PING") == 0)
        s_reply (reply, "PONG");
    else
    if (strcasecmp (name, "STATS") == 0)
        s_reply_take (reply, sq_control_stats_json (core, now));
    else
    if (strcasecmp (name, "LIST") == 0)
        s_reply_take (reply, sq_control_list_json (core));
    else
    if (strcasecmp (name, "PAUSE") == 0 || strcasecmp (name, "RESUME") == 0) {
        bool paused = strcasecmp (name, "PAUSE") == 0;
        if (paused != sq_core_paused (core))
            sq_info ("control: %s", paused? "paused": "resumed");
        sq_core_set_paused (core, paused, now);
        s_reply (reply, "OK");
    }
    else
    if (strcasecmp (name, "TERMINATE") == 0) {
        sq_info ("control: terminate requested");
        sq_core_terminate (core);
        s_reply (reply, "OK");
    }
    else
        s_reply_error (reply, "unknown command '%s'", name);
    if (reply->count == 0)
        s_reply_error (reply, "%s", "out of memory");
}
