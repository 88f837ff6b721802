/*  =========================================================================
    sq_access - allow and deny lists of CIDRs
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "sq_access.h"

typedef struct {
    sq_cidr_t *blocks;
    size_t count;
} s_list_t;

struct sq_access {
    s_list_t allow;
    s_list_t deny;
};

sq_access_t *
sq_access_new (void)
{
    return calloc (1, sizeof (sq_access_t));
}

void
sq_access_destroy (sq_access_t **self_p)
{
    sq_access_t *self = *self_p;
    if (!self)
        return;
    free (self->allow.blocks);
    free (self->deny.blocks);
    free (self);
    *self_p = NULL;
}

//  Parses every entry first, so a bad list changes nothing
bool
sq_access_add (sq_access_t *self, bool allow, const char *list,
               char *error, size_t error_size)
{
    s_list_t *target = allow? &self->allow: &self->deny;
    char *copy = strdup (list);
    size_t room = strlen (list) / 2 + 1;    //  At most this many entries
    sq_cidr_t *blocks = realloc (target->blocks,
                                 (target->count + room) * sizeof (sq_cidr_t));
    if (!copy || !blocks) {
        free (copy);
        if (blocks)
            target->blocks = blocks;
        snprintf (error, error_size, "out of memory");
        return false;
    }
    target->blocks = blocks;
    size_t added = 0;
    char *save = NULL;
    bool ok = true;
    for (char *entry = strtok_r (copy, ",", &save); entry && ok;
         entry = strtok_r (NULL, ",", &save))
        ok = sq_cidr_parse (entry, &blocks [target->count + added++], error, error_size);
    if (ok && added == 0) {
        snprintf (error, error_size, "'%s' names no IP or CIDR", list);
        ok = false;
    }
    if (ok)
        target->count += added;
    free (copy);
    return ok;
}

static bool
s_list_contains (const s_list_t *list, int family, const uint8_t *address)
{
    for (size_t index = 0; index < list->count; index++)
        if (sq_cidr_contains (&list->blocks [index], family, address))
            return true;
    return false;
}

bool
sq_access_permits (const sq_access_t *self, const char *host)
{
    int family;
    uint8_t address [16];
    if (!sq_cidr_host (host, &family, address))
        return self->allow.count == 0;
    if (s_list_contains (&self->deny, family, address))
        return false;
    return self->allow.count == 0 || s_list_contains (&self->allow, family, address);
}

bool
sq_access_open (const sq_access_t *self)
{
    return self->allow.count == 0 && self->deny.count == 0;
}

void
sq_access_text (const sq_access_t *self, bool allow, char *text, size_t size)
{
    const s_list_t *list = allow? &self->allow: &self->deny;
    size_t used = 0;
    text [0] = 0;
    for (size_t index = 0; index < list->count && used < size; index++) {
        const sq_cidr_t *block = &list->blocks [index];
        char ip [INET6_ADDRSTRLEN];
        inet_ntop (block->family, block->address, ip, sizeof ip);
        int full = block->family == AF_INET? 32: 128;
        int wrote = block->prefix == full
                  ? snprintf (text + used, size - used, "%s%s", index? ",": "", ip)
                  : snprintf (text + used, size - used, "%s%s/%d", index? ",": "", ip,
                              block->prefix);
        used += wrote > 0? (size_t) wrote: 0;
    }
}
