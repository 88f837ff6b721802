/*  =========================================================================
    sq_admission - whether a new connection may come in
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_admission.h"
#include "sq_dict.h"
#include "sq_list.h"

//  A bucket that holds `rate` tokens refills in a second: an idle IP is
//  forgotten after that
#define S_FORGET_MS 1000

typedef struct {
    char key [SQ_ADDRESS_KEY_MAX];
    size_t live;                //  Admitted connections still open
    double tokens;              //  Connections it may open now
    int64_t refilled_ms;        //  When tokens were last brought up to date
    int64_t idle_ms;            //  When live went to zero
    sq_list_node_t idle_node;   //  In the idle list while live is zero
} s_peer_t;

struct sq_admission {
    sq_dict_t *peers;           //  "f ip" / "b ip" -> s_peer_t
    sq_list_t idle;             //  Peers with no connection, oldest first
};

static const char *s_refusal_names [SQ_REFUSED_COUNT] = {
    "admitted", "denied", "max_connections", "per_ip", "rate", "draining",
    "handshake", "queue_per_ip"
};

const char *
sq_refusal_name (sq_refusal_t refusal)
{
    return refusal < SQ_REFUSED_COUNT? s_refusal_names [refusal]: "?";
}

sq_admission_t *
sq_admission_new (void)
{
    sq_admission_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->peers = sq_dict_new ();
    sq_list_init (&self->idle);
    if (!self->peers)
        sq_admission_destroy (&self);
    return self;
}

void
sq_admission_destroy (sq_admission_t **self_p)
{
    sq_admission_t *self = *self_p;
    if (!self)
        return;
    if (self->peers)
        sq_dict_destroy (&self->peers, free);
    free (self);
    *self_p = NULL;
}

static void
s_key (sq_side_t side, const char *host, char *key)
{
    snprintf (key, SQ_ADDRESS_KEY_MAX, "%c %s", side == SQ_FRONTEND? 'f': 'b', host);
}

//  The record of an IP, made with a full bucket when new; NULL when out of memory
static s_peer_t *
s_peer_require (sq_admission_t *self, const char *key, unsigned rate, int64_t now)
{
    s_peer_t *peer = sq_dict_lookup (self->peers, key);
    if (peer)
        return peer;
    peer = calloc (1, sizeof *peer);
    if (!peer)
        return NULL;
    snprintf (peer->key, sizeof peer->key, "%s", key);
    peer->tokens = rate;
    peer->refilled_ms = now;
    peer->idle_ms = now;
    sq_list_append (&self->idle, &peer->idle_node);
    if (!sq_dict_insert (self->peers, key, peer)) {
        sq_list_remove (&peer->idle_node);
        free (peer);
        return NULL;
    }
    return peer;
}

static void
s_refill (s_peer_t *peer, unsigned rate, int64_t now)
{
    peer->tokens += (double) (now - peer->refilled_ms) * rate / 1000.0;
    if (peer->tokens > rate)
        peer->tokens = rate;
    peer->refilled_ms = now;
}

sq_refusal_t
sq_admission_check (sq_admission_t *self, const sq_admission_limits_t *limits,
                    sq_side_t side, const char *host, size_t live, int64_t now)
{
    if (limits->access [side] && !sq_access_permits (limits->access [side], host))
        return SQ_REFUSED_DENIED;
    if (limits->max_connections [side] && live >= limits->max_connections [side])
        return SQ_REFUSED_MAX_CONNECTIONS;
    if (!limits->max_per_ip && !limits->rate_per_ip)
        return SQ_ADMITTED;
    char key [SQ_ADDRESS_KEY_MAX];
    s_key (side, host, key);
    s_peer_t *peer = s_peer_require (self, key, limits->rate_per_ip, now);
    if (!peer)
        return SQ_ADMITTED;         //  Limits are a defence, not a reason to fail
    if (limits->max_per_ip && peer->live >= limits->max_per_ip)
        return SQ_REFUSED_PER_IP;
    if (limits->rate_per_ip) {
        s_refill (peer, limits->rate_per_ip, now);
        if (peer->tokens < 1.0)
            return SQ_REFUSED_RATE;
        peer->tokens -= 1.0;
    }
    if (peer->live++ == 0)
        sq_list_remove (&peer->idle_node);
    return SQ_ADMITTED;
}

void
sq_admission_left (sq_admission_t *self, sq_side_t side, const char *host, int64_t now)
{
    char key [SQ_ADDRESS_KEY_MAX];
    s_key (side, host, key);
    s_peer_t *peer = sq_dict_lookup (self->peers, key);
    if (!peer || peer->live == 0)
        return;
    if (--peer->live == 0) {
        peer->idle_ms = now;
        sq_list_append (&self->idle, &peer->idle_node);
    }
}

void
sq_admission_tick (sq_admission_t *self, int64_t now)
{
    sq_list_node_t *first;
    while ((first = sq_list_first (&self->idle))) {
        s_peer_t *peer = sq_list_entry (first, s_peer_t, idle_node);
        if (peer->idle_ms + S_FORGET_MS > now)
            break;
        sq_list_remove (&peer->idle_node);
        sq_dict_delete (self->peers, peer->key);
        free (peer);
    }
}

size_t
sq_admission_tracked (sq_admission_t *self)
{
    return sq_dict_size (self->peers);
}
