/*  =========================================================================
    sq_control_auth - CURVE on the control socket, with a ZAP handler that
    admits the keys of a directory

    With a key pair for the proxy (--control-key) and a directory of
    authorised public keys (--control-clients), the control socket is a
    CURVE server. A ZAP handler, a thread of its own on
    inproc://zeromq.zap.01 in the proxy's context, admits a client whose
    key is in the directory, and refuses any other (ZAP 400: the client's
    handshake fails and it gets nothing). With --control-open-read it
    admits any key, and only the read-only commands are open to a key not
    in the directory.

    The handler gives each client its public key (Z85) as User-Id. The
    proxy checks that key against the set in force for every request, so
    a key removed from the directory and reloaded (SIGHUP) loses its
    rights at its next request, not only at its next handshake.
    =========================================================================
*/
#ifndef SQ_CONTROL_AUTH_H_INCLUDED
#define SQ_CONTROL_AUTH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

typedef struct {
    const char *key_file;       //  The proxy's secret certificate; NULL: no CURVE
    const char *clients_dir;    //  Public certificates of authorised clients
    bool open_read;             //  Any key may run the read-only commands
} sq_control_auth_config_t;

typedef struct sq_control_auth_s sq_control_auth_t;

//  Loads the proxy's key pair and the authorised keys, binds the ZAP
//  handler in context and starts its thread. Call it before the control
//  socket binds: libzmq lets every client in while no handler is bound.
//  Sets *self_p to NULL when config asks for no CURVE. The combination
//  of options is checked before, by sq_options_check (a key needs a
//  directory, and CURVE in libzmq). False, with a reason, for an
//  unreadable file or directory.
bool sq_control_auth_start (sq_control_auth_t **self_p, void *context,
                            const sq_control_auth_config_t *config,
                            char *error, size_t size);

//  Stops the thread and closes the handler; nulls the pointer. Call it
//  after the control socket is closed and before zmq_ctx_term.
void sq_control_auth_destroy (sq_control_auth_t **self_p);

//  Makes socket a CURVE server with the proxy's key pair, under the
//  handler's ZAP domain. Call before zmq_bind. 0, or -1 with zmq_errno.
int sq_control_auth_apply (sq_control_auth_t *self, void *socket);

//  Loads the directory of authorised keys again. When it cannot be read,
//  the keys in force stay, and it returns false (the reason is logged).
bool sq_control_auth_reload (sq_control_auth_t *self);

//  True when the request whose command frame (as received, so carrying
//  the connection's User-Id) is `command` may run: always when self is
//  NULL; for a key in the directory; for any key when the command is
//  read-only and open-read is on. Logs a refusal.
bool sq_control_auth_allows (sq_control_auth_t *self, zmq_msg_t *command);

//  The proxy's public key, in Z85
const char *sq_control_auth_public_key (sq_control_auth_t *self);

#endif
