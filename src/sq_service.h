/*  =========================================================================
    sq_service - one service of the proxy: a frontend and a backend on the
    engine the configuration names, and the core that decides for them

    Each service has its own worker pool, queue, routes, registrations,
    bans and counters (its core). The proxy runs one or more on one event
    loop; see doc/services.md. A service removed by a reload stops
    accepting at once, closes what is not paired, lets its pairs finish,
    and is destroyed once it has no connection left.
    =========================================================================
*/
#ifndef SQ_SERVICE_H_INCLUDED
#define SQ_SERVICE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include "sq_proxy.h"
#include "sq_loop.h"

typedef struct sq_service sq_service_t;

//  Makes the service config describes, named name: binds its frontend and
//  backend (ZMQ_STREAM sockets in context, or the proxy's own for the
//  splice engine), makes its core and loads its rules and route file.
//  files is the open-file limit in force, which `sharing` services share
//  (for the default --max-connections). NULL with the reason logged.
sq_service_t *sq_service_new (const char *name, const sq_proxy_config_t *config,
                              void *context, rlim_t files, size_t sharing);

//  Frees the core and the engine; the service's connections are closed
//  without a word to the core (close them first)
void sq_service_destroy (sq_service_t **self_p);

//  Registers the engine and the core's timer with the loop; false when
//  the loop has no room
bool sq_service_register (sq_service_t *self, sq_loop_t *loop);

const char *sq_service_name (sq_service_t *self);
sq_core_t *sq_service_core (sq_service_t *self);

//  Where a side listens, as bound ("tcp://127.0.0.1:5555")
const char *sq_service_endpoint (sq_service_t *self, sq_side_t side);

//  Runs what the core has due (a hook at the start of each turn)
void sq_service_tick (sq_service_t *self, int64_t now);

//  Sets the core's timer for the loop's wait (a hook at the end of each turn)
void sq_service_arm (sq_service_t *self, int64_t now);

//  Takes what SIGHUP can change while running: timeouts, limits, access
//  lists, rules and routes (the rest needs a restart)
void sq_service_reconfigure (sq_service_t *self, const sq_proxy_config_t *config,
                             rlim_t files, size_t sharing);

//  Loads the service's rules and route file again (SIGHUP without a
//  configuration file to read); false, logged, when they are refused
bool sq_service_reload_routes (sq_service_t *self, const sq_proxy_config_t *config);

//  A reload removed the service: it stops accepting, closes what is not
//  paired and lets its pairs finish
void sq_service_remove (sq_service_t *self, int64_t now);

//  True once removed
bool sq_service_removed (sq_service_t *self);

//  At shutdown, once every connection was closed: true while the loop
//  must still run for the last bytes to go
bool sq_service_linger (sq_service_t *self, int linger_ms);

//  True when the configuration's rules and route file can be read and
//  parse; false with the reason
bool sq_service_check_routes (const sq_proxy_config_t *config, char *error, size_t size);

//  True for endpoints only this host can reach: ipc, inproc, loopback TCP
bool sq_service_endpoint_is_local (const char *endpoint);

#endif
