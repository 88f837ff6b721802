/*  =========================================================================
    sq_service_ref - a service as the control socket, the reports and the
    metrics see it: its name and its core

    A proxy runs one or more services. Each has its own frontend and
    backend, and its own core: worker pool, queue, routes, registrations,
    bans and counters. A proxy whose configuration declares no services
    runs one, named SQ_SERVICE_DEFAULT.

    Whoever reports on several services takes them as an array of refs,
    in the order the configuration declares them; the first is the one a
    control command that names no service goes to, when a command goes
    to one service only.
    =========================================================================
*/
#ifndef SQ_SERVICE_REF_H_INCLUDED
#define SQ_SERVICE_REF_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include "sq_core.h"

//  The name of the one service of a proxy that declares none
#define SQ_SERVICE_DEFAULT "default"

//  The most services one proxy runs
#define SQ_SERVICES_MAX 64

typedef struct {
    const char *name;           //  1 to 63 of [A-Za-z0-9._-]
    sq_core_t *core;
    bool removed;               //  Removed by a reload: it drains, then goes
} sq_service_ref_t;

//  True for a valid service name: 1 to 63 of [A-Za-z0-9._-]
static inline bool
sq_service_name_ok (const char *name)
{
    size_t length = 0;
    for (; name [length]; length++) {
        char c = name [length];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
               || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok || length >= 63)
            return false;
    }
    return length > 0;
}

#endif
