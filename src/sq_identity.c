/*  =========================================================================
    sq_identity - registrations and address rules
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_identity.h"
#include "sq_dict.h"
#include "sq_list.h"

#define S_ALIASES_MAX 4096

typedef struct {
    char key [SQ_ADDRESS_KEY_MAX];
    char name [SQ_NAME_MAX];
    int64_t expires_ms;
    sq_list_node_t node;        //  In the expiry list, oldest first
} s_registration_t;

struct sq_identity {
    sq_dict_t *registrations;   //  "f ip:port" / "b ip:port" -> s_registration_t
    sq_list_t expiry;           //  Registrations in order of expiry
    sq_alias_t *aliases;
    size_t alias_count;
};

sq_identity_t *
sq_identity_new (void)
{
    sq_identity_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->registrations = sq_dict_new ();
    self->aliases = calloc (S_ALIASES_MAX, sizeof (sq_alias_t));
    sq_list_init (&self->expiry);
    if (!self->registrations || !self->aliases)
        sq_identity_destroy (&self);
    return self;
}

void
sq_identity_destroy (sq_identity_t **self_p)
{
    sq_identity_t *self = *self_p;
    if (!self)
        return;
    if (self->registrations)
        sq_dict_destroy (&self->registrations, free);
    free (self->aliases);
    free (self);
    *self_p = NULL;
}

bool
sq_side_parse (const char *text, sq_side_t *side)
{
    if (strcmp (text, "frontend") == 0)
        *side = SQ_FRONTEND;
    else
    if (strcmp (text, "backend") == 0)
        *side = SQ_BACKEND;
    else
        return false;
    return true;
}

static void
s_registration_drop (sq_identity_t *self, s_registration_t *registration)
{
    sq_dict_delete (self->registrations, registration->key);
    sq_list_remove (&registration->node);
    free (registration);
}

bool
sq_identity_register (sq_identity_t *self, sq_side_t side, const char *address,
                      const char *name, int64_t expires_ms)
{
    char key [SQ_ADDRESS_KEY_MAX];
    sq_conn_address_key (side, address, key, sizeof key);
    s_registration_t *old = sq_dict_lookup (self->registrations, key);
    if (old)
        s_registration_drop (self, old);
    s_registration_t *registration = calloc (1, sizeof *registration);
    if (!registration)
        return false;
    memcpy (registration->key, key, sizeof key);
    snprintf (registration->name, sizeof registration->name, "%s", name);
    registration->expires_ms = expires_ms;
    if (!sq_dict_insert (self->registrations, registration->key, registration)) {
        free (registration);
        return false;
    }
    //  One timeout for all: appending keeps the list in order of expiry
    sq_list_append (&self->expiry, &registration->node);
    return true;
}

bool
sq_identity_take (sq_identity_t *self, sq_side_t side, const char *address,
                  char *name, size_t name_size)
{
    char key [SQ_ADDRESS_KEY_MAX];
    sq_conn_address_key (side, address, key, sizeof key);
    s_registration_t *registration = sq_dict_lookup (self->registrations, key);
    if (!registration)
        return false;
    snprintf (name, name_size, "%s", registration->name);
    s_registration_drop (self, registration);
    return true;
}

size_t
sq_identity_expire (sq_identity_t *self, int64_t now)
{
    size_t count = 0;
    sq_list_node_t *first;
    while ((first = sq_list_first (&self->expiry))) {
        s_registration_t *registration = sq_list_entry (first, s_registration_t, node);
        if (registration->expires_ms > now)
            break;
        s_registration_drop (self, registration);
        count++;
    }
    return count;
}

int64_t
sq_identity_next_expiry (sq_identity_t *self)
{
    sq_list_node_t *first = sq_list_first (&self->expiry);
    return first? sq_list_entry (first, s_registration_t, node)->expires_ms: INT64_MAX;
}

size_t
sq_identity_pending (sq_identity_t *self)
{
    return sq_dict_size (self->registrations);
}

static sq_alias_t *
s_alias_find (sq_identity_t *self, sq_side_t side, const char *match)
{
    for (size_t index = 0; index < self->alias_count; index++)
        if (self->aliases [index].side == side
        &&  strcmp (self->aliases [index].match, match) == 0)
            return &self->aliases [index];
    return NULL;
}

bool
sq_identity_alias (sq_identity_t *self, sq_side_t side, const char *match,
                   const char *name, char *error, size_t error_size)
{
    sq_alias_t alias = { .side = side };
    if (!sq_cidr_parse (match, &alias.cidr, error, error_size))
        return false;
    snprintf (alias.match, sizeof alias.match, "%s", match);
    snprintf (alias.name, sizeof alias.name, "%s", name);
    sq_alias_t *slot = s_alias_find (self, side, match);
    if (!slot) {
        if (self->alias_count == S_ALIASES_MAX) {
            snprintf (error, error_size, "too many address rules (%d)", S_ALIASES_MAX);
            return false;
        }
        slot = &self->aliases [self->alias_count++];
    }
    *slot = alias;
    return true;
}

bool
sq_identity_unalias (sq_identity_t *self, sq_side_t side, const char *match)
{
    sq_alias_t *slot = s_alias_find (self, side, match);
    if (!slot)
        return false;
    *slot = self->aliases [--self->alias_count];
    return true;
}

void
sq_identity_aliases_clear (sq_identity_t *self)
{
    self->alias_count = 0;
}

size_t
sq_identity_alias_count (sq_identity_t *self)
{
    return self->alias_count;
}

const sq_alias_t *
sq_identity_alias_at (sq_identity_t *self, size_t index)
{
    return index < self->alias_count? &self->aliases [index]: NULL;
}

void
sq_identity_resolve (sq_identity_t *self, sq_side_t side, const char *host,
                     char *name, size_t name_size)
{
    snprintf (name, name_size, "%s", host);
    uint8_t address [16];
    int family;
    if (!sq_cidr_host (host, &family, address))
        return;
    const sq_alias_t *best = NULL;
    for (size_t index = 0; index < self->alias_count; index++) {
        const sq_alias_t *alias = &self->aliases [index];
        if (alias->side == side && sq_cidr_contains (&alias->cidr, family, address)
        &&  (!best || alias->cidr.prefix > best->cidr.prefix))
            best = alias;
    }
    if (best)
        snprintf (name, name_size, "%s", best->name);
}
