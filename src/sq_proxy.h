/*  =========================================================================
    sq_proxy - runs the proxy: starts the engine, the core, the control
    socket and the metrics server on one event loop, and shuts down cleanly
    =========================================================================
*/
#ifndef SQ_PROXY_H_INCLUDED
#define SQ_PROXY_H_INCLUDED

#include "sq_core.h"
#include "sq_engine_stream.h"
#include "sq_engine_splice.h"
#include "sq_control_auth.h"
#include "sq_config.h"
#include "sq_log.h"

//  Which engine carries the peers' bytes
typedef enum {
    SQ_ENGINE_STREAM = 0,       //  Two ZMQ_STREAM sockets (the default)
    SQ_ENGINE_SPLICE            //  The proxy's own TCP sockets
} sq_engine_kind_t;

typedef struct sq_proxy_config {
    sq_engine_kind_t engine;
    const char *frontend;
    const char *backend;
    const char *control;
    const char *routes;         //  Route file, or NULL
    const char *metrics;        //  --metrics URL, or NULL: no HTTP server
    int io_threads;
    size_t yield_below;         //  The loop yields after a turn that moved
                                //  fewer bytes (0: never)
    sq_keepalive_t keepalive [2];   //  Per side
    //  While the options are read: --tcp-keepalive, and whether a side's
    //  own was given (sq_options_finish gives the first to the others)
    sq_keepalive_t keepalive_both;
    bool keepalive_given [2];
    long long max_connections;  //  Each side; -1: from the open-file limit
    int peer_hwm;               //  Chunks libzmq queues per connection, each way
    long long max_control_connections;  //  Connections to the control socket
    sq_access_t *access [2];    //  Owned; core.limits.access points here
    char *mechanisms [2];       //  Owned; core.mechanisms points here
    sq_control_auth_config_t control_auth;  //  CURVE on the control socket
    sq_log_level_t log_level;
    //  Put in force once, as the proxy starts: a reload that changes them
    //  is logged as needing a restart
    sq_log_format_t log_format;
    bool syslog;
    const char *syslog_facility_name;   //  "daemon", "local0"...
    const char *syslog_socket;  //  --syslog-socket, or NULL
    int64_t drain_timeout_ms;   //  DRAIN ALL / SIGUSR1: time for pairs to finish
    const char *config_path;    //  --config, or NULL
    sq_config_t *file;          //  Owned: the file's options (values point here)
    const char *rules;          //  The file's rules as route-file text, or ""
    //  Reads the configuration again into fresh, for SIGHUP; false (the
    //  reason logged) when it is not valid. NULL: nothing to reload.
    bool (*reload) (struct sq_proxy_config *fresh);
    sq_core_config_t core;
    //  Services (doc/services.md). With none declared the proxy runs one,
    //  SQ_SERVICE_DEFAULT, of this configuration. Each one declared is a
    //  whole configuration of its own: the top level's options, then its
    //  own; it owns nothing the top level owns.
    size_t service_count;
    struct sq_proxy_config *services [SQ_CONFIG_SERVICES_MAX];     //  Owned
    //  In a service's configuration: its name and its index in the file
    //  (-1 and NULL at the top level)
    int service_index;
    const char *service_name;
    const sq_config_t *service_file;    //  The file that declares it
} sq_proxy_config_t;

//  The services a configuration runs: its declared services, or itself
//  alone. Fills services (SQ_CONFIG_SERVICES_MAX) and returns how many.
size_t sq_proxy_config_services (sq_proxy_config_t *config, sq_proxy_config_t **services);

//  The name of a service's configuration (SQ_SERVICE_DEFAULT at the top level)
const char *sq_proxy_config_service_name (const sq_proxy_config_t *config);

//  Fills in the documented defaults (those of the option table)
void sq_proxy_config_defaults (sq_proxy_config_t *config);

//  Frees what the configuration owns, its services' configurations too
void sq_proxy_config_clear (sq_proxy_config_t *config);

//  Checks what the options name, without starting: the hosts of the
//  endpoints resolve, the route file can be read and parses, the key
//  file and the clients' directory can be read. Start-up and
//  --check-config run it. False with a reason.
bool sq_proxy_check_names (const sq_proxy_config_t *config, char *error, size_t size);

//  --check-config --bind: binds the frontend, the backend, the control
//  socket and the metrics address, then releases them. False with what
//  could not be bound ("cannot bind frontend to EP: reason; ...").
bool sq_proxy_check_bind (const sq_proxy_config_t *config, char *error, size_t size);

//  Asks a running loop to drain: stop pairing, let pairs finish within
//  drain_timeout_ms, then exit 0 (safe from a signal handler)
void sq_proxy_request_drain (void);

//  Asks a running loop to stop (safe from a signal handler)
void sq_proxy_request_stop (void);

//  Asks a running loop to load its route file again (safe from a signal
//  handler)
void sq_proxy_request_reload (void);

//  Runs the proxy until SIGINT/SIGTERM, TERMINATE, or the end of a drain.
//  SIGHUP reads the configuration again (config->reload) and config then
//  holds the one in force. Returns the process
//  exit code: 0 after a clean stop, 2 when it could not start.
int sq_proxy_run (sq_proxy_config_t *config);

#endif
