/*  sq_heartbeat - names that promised heartbeats, and when each is late  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_heartbeat.h"
#include "sq_dict.h"

typedef struct {
    int64_t deadline_ms;
} s_watch_t;

struct sq_heartbeat {
    sq_dict_t *watched;         //  Name -> s_watch_t
    int64_t next_due_ms;        //  No deadline is earlier than this
};

sq_heartbeat_t *
sq_heartbeat_new (void)
{
    sq_heartbeat_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->watched = sq_dict_new ();
    self->next_due_ms = INT64_MAX;
    if (!self->watched) {
        free (self);
        return NULL;
    }
    return self;
}

void
sq_heartbeat_destroy (sq_heartbeat_t **self_p)
{
    sq_heartbeat_t *self = *self_p;
    if (!self)
        return;
    sq_dict_destroy (&self->watched, free);
    free (self);
    *self_p = NULL;
}

bool
sq_heartbeat_beat (sq_heartbeat_t *self, const char *name, int64_t timeout_ms, int64_t now)
{
    s_watch_t *watch = sq_dict_lookup (self->watched, name);
    if (!watch) {
        watch = calloc (1, sizeof *watch);
        if (!watch || !sq_dict_insert (self->watched, name, watch)) {
            free (watch);
            return false;
        }
    }
    watch->deadline_ms = now + timeout_ms;
    //  A shorter timeout than before can bring the earliest deadline forward
    if (watch->deadline_ms < self->next_due_ms)
        self->next_due_ms = watch->deadline_ms;
    return true;
}

typedef struct {
    int64_t now;
    char *late;                 //  First late name found, copied here
    size_t size;
    bool found;
    int64_t earliest;           //  Earliest deadline not yet due
} s_look_t;

static void
s_look (const char *name, void *item, void *argument)
{
    s_look_t *look = argument;
    const s_watch_t *watch = item;
    if (watch->deadline_ms <= look->now && !look->found) {
        snprintf (look->late, look->size, "%s", name);
        look->found = true;
    }
    else
    if (watch->deadline_ms > look->now && watch->deadline_ms < look->earliest)
        look->earliest = watch->deadline_ms;
}

bool
sq_heartbeat_take_late (sq_heartbeat_t *self, int64_t now, char *name, size_t size)
{
    if (now < self->next_due_ms)
        return false;
    s_look_t look = { now, name, size, false, INT64_MAX };
    sq_dict_each (self->watched, s_look, &look);
    if (!look.found) {
        self->next_due_ms = look.earliest;
        return false;
    }
    free (sq_dict_delete (self->watched, name));
    return true;
}

int64_t
sq_heartbeat_next_due (sq_heartbeat_t *self)
{
    return self->next_due_ms;
}

size_t
sq_heartbeat_count (sq_heartbeat_t *self)
{
    return sq_dict_size (self->watched);
}
