/*  =========================================================================
    sq_liveness - pairs that end by time, names whose heartbeats stop, and
    connections an operator closes

    A pair may be closed when silent both ways for --pair-idle-timeout, or
    when older than --pair-max-lifetime; a name that sent heartbeats and
    then misses --heartbeat-liveness intervals has every connection closed.
    Pairs are kept in two lists, by pairing time and by last activity, so
    only their heads can be due.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_core_private.h"
#include "sq_log.h"
#include "sq_cidr.h"

void
sq_liveness_pair_active (sq_core_t *self, sq_conn_t *conn, int64_t now)
{
    if (self->config.pair_idle_timeout_ms <= 0)
        return;
    sq_conn_t *client = conn->side == SQ_FRONTEND? conn: conn->partner;
    client->last_activity_ms = now;
    sq_list_remove (&client->activity_node);
    sq_list_append (&self->pairs_by_activity, &client->activity_node);
}

//  When a pair counts as silent since: the proxy reads nobody while paused,
//  so that time does not count against a pair. Taking the later of the two
//  times keeps the activity list in order.
static int64_t
s_idle_since (sq_core_t *self, const sq_conn_t *client)
{
    return client->last_activity_ms > self->resumed_ms? client->last_activity_ms
                                                       : self->resumed_ms;
}

//  Both lists are in order of their clock (pairing time, last activity),
//  so only their heads can be due
static void
s_expire_pairs (sq_core_t *self, int64_t now)
{
    int64_t lifetime = self->config.pair_max_lifetime_ms;
    int64_t idle = self->config.pair_idle_timeout_ms;
    sq_list_node_t *first;
    while (lifetime > 0 && (first = sq_list_first (&self->pairs_by_age))) {
        sq_conn_t *client = sq_list_entry (first, sq_conn_t, age_node);
        if (client->paired_ms + lifetime > now)
            break;
        sq_flow_close (self, client, SQ_CLOSED_LIFETIME, "pair lifetime", now);
    }
    while (idle > 0 && !self->paused && (first = sq_list_first (&self->pairs_by_activity))) {
        sq_conn_t *client = sq_list_entry (first, sq_conn_t, activity_node);
        if (s_idle_since (self, client) + idle > now)
            break;
        sq_flow_close (self, client, SQ_CLOSED_IDLE, "pair idle timeout", now);
    }
}

//  Closing one connection closes its partner too, which may be further
//  down the list, so all are chosen first, then closed. Rare (a lost
//  name, a drain), so a pass over the connections is fine.
size_t
sq_liveness_close_where (sq_core_t *self, bool (*pick) (const sq_conn_t *conn, const void *arg),
                         const void *arg, sq_closed_t code, const char *reason, int64_t now)
{
    size_t count = sq_conn_table_count (self->conns, SQ_FRONTEND)
                 + sq_conn_table_count (self->conns, SQ_BACKEND);
    sq_conn_t **chosen = calloc (count + 1, sizeof (sq_conn_t *));
    if (!chosen)
        return 0;
    size_t found = 0;
    sq_list_t *all = sq_conn_table_all (self->conns);
    for (sq_list_node_t *node = all->next; node != all && found < count; node = node->next) {
        sq_conn_t *conn = sq_list_entry (node, sq_conn_t, all_node);
        if (pick (conn, arg))
            chosen [found++] = conn;
    }
    for (size_t index = 0; index < found; index++)
        sq_flow_close (self, chosen [index], code, reason, now);
    free (chosen);
    return found;
}

static bool
s_named (const sq_conn_t *conn, const void *name)
{
    return strcmp (conn->name, name) == 0;
}

//  Closes every connection of a name whose heartbeats stopped
static void
s_close_name (sq_core_t *self, const char *name, int64_t now)
{
    sq_warning ("%s sent no heartbeat in %lld intervals: closing its connections",
                name, (long long) self->config.heartbeat_liveness);
    sq_liveness_close_where (self, s_named, name, SQ_CLOSED_HEARTBEAT, "heartbeat lost", now);
}

static void
s_expire_heartbeats (sq_core_t *self, int64_t now)
{
    char name [SQ_NAME_MAX];
    while (sq_heartbeat_take_late (self->heartbeat, now, name, sizeof name))
        s_close_name (self, name, now);
}

bool
sq_core_heartbeat (sq_core_t *self, const char *name, int64_t interval_ms, int64_t now)
{
    int64_t interval = interval_ms > 0? interval_ms: self->config.heartbeat_interval_ms;
    return sq_heartbeat_beat (self->heartbeat, name,
                              interval * self->config.heartbeat_liveness, now);
}

size_t
sq_core_heartbeat_count (sq_core_t *self)
{
    return sq_heartbeat_count (self->heartbeat);
}

int64_t
sq_liveness_next_due (sq_core_t *self)
{
    int64_t next = INT64_MAX;
    sq_list_node_t *first = sq_list_first (&self->pairs_by_age);
    if (first && self->config.pair_max_lifetime_ms > 0)
        next = sq_list_entry (first, sq_conn_t, age_node)->paired_ms
             + self->config.pair_max_lifetime_ms;
    first = sq_list_first (&self->pairs_by_activity);
    if (first && self->config.pair_idle_timeout_ms > 0 && !self->paused) {
        int64_t due = s_idle_since (self, sq_list_entry (first, sq_conn_t, activity_node))
                    + self->config.pair_idle_timeout_ms;
        if (due < next)
            next = due;
    }
    int64_t beat = sq_heartbeat_next_due (self->heartbeat);
    return beat < next? beat: next;
}

void
sq_liveness_tick (sq_core_t *self, int64_t now)
{
    s_expire_pairs (self, now);
    s_expire_heartbeats (self, now);
}

//  What CLOSE matches: a side, then an address block or a name
typedef struct {
    sq_side_t side;
    bool by_address;
    sq_cidr_t cidr;
    const char *name;
} s_match_t;

static bool
s_matches (const sq_conn_t *conn, const void *arg)
{
    const s_match_t *match = arg;
    if (conn->side != match->side || conn->state == SQ_CONN_CLOSING
    ||  conn->state == SQ_CONN_DEAD)
        return false;
    if (!match->by_address)
        return strcmp (conn->name, match->name) == 0
            || (conn->worker && strcmp (conn->worker->name, match->name) == 0);
    int family;
    uint8_t address [16];
    return sq_cidr_host (conn->host, &family, address)
        && sq_cidr_contains (&match->cidr, family, address);
}

static size_t
s_core_close_matching (sq_core_t *self, sq_side_t side, const char *match, int64_t now)
{
    s_match_t rule = { .side = side, .name = match };
    char error [128];
    rule.by_address = sq_cidr_parse (match, &rule.cidr, error, sizeof error);
    size_t count = sq_liveness_close_where (self, s_matches, &rule, SQ_CLOSED_OPERATOR,
                                           "closed by the operator", now);
    sq_flow_reap (self);
    return count;
}

//  The same, its log lines naming the core's service
size_t
sq_core_close_matching (sq_core_t *self, sq_side_t side, const char *match, int64_t now)
{
    const char *saved = sq_log_set_context (self->config.log_context);
    size_t result = s_core_close_matching (self, side, match, now);
    sq_log_set_context (saved);
    return result;
}
