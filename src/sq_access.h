/*  =========================================================================
    sq_access - who may connect to one side: allow and deny lists of CIDRs

    A peer is refused when its IP is in a deny block, or when the allow
    list is not empty and its IP is in none of the allow blocks. So a deny
    wins over an allow: "--backend-allow 10.0.0.0/8 --backend-deny
    10.9.0.0/16" lets in 10.x but not 10.9.x. Empty lists let in everyone.
    =========================================================================
*/
#ifndef SQ_ACCESS_H_INCLUDED
#define SQ_ACCESS_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>
#include "sq_cidr.h"

typedef struct sq_access sq_access_t;

sq_access_t *sq_access_new (void);
void sq_access_destroy (sq_access_t **self_p);

//  Adds a comma-separated list of IPs and CIDRs to the allow list (allow
//  true) or the deny list; on a bad entry adds nothing and returns false
//  with a reason
bool sq_access_add (sq_access_t *self, bool allow, const char *list,
                    char *error, size_t error_size);

//  True when a peer with this IP may connect. A host that is not an IP
//  (an ipc:// peer) is let in only when the allow list is empty.
bool sq_access_permits (const sq_access_t *self, const char *host);

//  Writes the allow (or deny) list as "ip,ip/prefix,..." ("" when empty)
void sq_access_text (const sq_access_t *self, bool allow, char *text, size_t size);

//  True when neither list has an entry
bool sq_access_open (const sq_access_t *self);

#endif
