/*  =========================================================================
    sq_proxy - the event loop: polls the engine's sockets and the control
    socket, feeds the core, runs its timers, and shuts down cleanly
    =========================================================================
*/
#ifndef SQ_PROXY_H_INCLUDED
#define SQ_PROXY_H_INCLUDED

#include "sq_core.h"
#include "sq_engine_stream.h"
#include "sq_control_auth.h"

typedef struct {
    const char *frontend;
    const char *backend;
    const char *control;
    const char *routes;         //  Route file, or NULL
    int io_threads;
    sq_keepalive_t keepalive [2];   //  Per side
    long long max_connections;  //  Each side; -1: from the open-file limit
    int peer_hwm;               //  Chunks libzmq queues per connection, each way
    sq_access_t *access [2];    //  Owned; core.limits.access points here
    char *mechanisms [2];       //  Owned; core.mechanisms points here
    sq_control_auth_config_t control_auth;  //  CURVE on the control socket
    sq_core_config_t core;
} sq_proxy_config_t;

//  Fills in the documented defaults
void sq_proxy_config_defaults (sq_proxy_config_t *config);

//  Frees what the configuration owns
void sq_proxy_config_clear (sq_proxy_config_t *config);

//  Asks a running loop to stop (safe from a signal handler)
void sq_proxy_request_stop (void);

//  Asks a running loop to load its route file again (safe from a signal
//  handler)
void sq_proxy_request_reload (void);

//  Runs the proxy until SIGINT/SIGTERM or TERMINATE. Returns the process
//  exit code: 0 after a clean stop, 2 when it could not start.
int sq_proxy_run (const sq_proxy_config_t *config);

#endif
