/*  =========================================================================
    sq_service - one service of the proxy: its engine and its core
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_service.h"
#include "sq_engine_stream.h"
#include "sq_engine_splice.h"
#include "sq_routes.h"
#include "sq_access.h"
#include "sq_file.h"
#include "sq_clock.h"
#include "sq_log.h"

//  What a service needs of an engine, whichever runs
typedef struct {
    void *self;
    sq_engine_t ops;            //  What the core calls
    void (*attach) (void *self, sq_core_t *core);
    bool (*register_with) (void *self, sq_loop_t *loop);
    const char *(*endpoint) (void *self, sq_side_t side);
    //  No new connection is accepted (NULL: the core refuses them)
    void (*stop_listening) (void *self);
    //  At shutdown, once every connection was closed: the time the last
    //  bytes may take. True while the loop must still run for them.
    bool (*linger) (void *self, int linger_ms);
    void (*destroy) (void *self);
} s_engine_t;

struct sq_service {
    char *name;
    char *log_context;          //  "service NAME" for a declared service, or NULL
    s_engine_t engine;
    sq_core_t *core;
    sq_loop_t *loop;
    int core_timer;             //  When the core's next timeout is due
    bool removed;
};

//  Largest route file read
#define S_ROUTES_MAX (16 * 1024 * 1024)

//  Descriptors kept for what is not a peer connection: libzmq's own
//  (sockets, mailboxes, I/O threads), the control socket and its clients
#define S_FILES_RESERVED 128

//  -------------------------------------------------------------------------
//  The engines, behind s_engine_t

static void
s_stream_attach (void *self, sq_core_t *core)
{
    sq_engine_stream_attach (self, core);
}

static bool
s_stream_register (void *self, sq_loop_t *loop)
{
    return sq_engine_stream_register (self, loop);
}

static const char *
s_stream_endpoint (void *self, sq_side_t side)
{
    return sq_engine_stream_endpoint (self, side);
}

//  libzmq delivers what it queued while the context terminates
static bool
s_stream_linger (void *self, int linger_ms)
{
    sq_engine_stream_set_linger (self, linger_ms);
    return false;
}

static void
s_stream_destroy (void *self)
{
    sq_engine_stream_t *engine = self;
    sq_engine_stream_destroy (&engine);
}

static bool
s_stream_new (s_engine_t *engine, void *context, const sq_proxy_config_t *config,
              char *error, size_t error_size)
{
    sq_engine_stream_t *self = sq_engine_stream_new (context, config->frontend,
                                                     config->backend, config->keepalive,
                                                     config->peer_hwm, error, error_size);
    if (!self)
        return false;
    *engine = (s_engine_t) {
        .self = self, .ops = sq_engine_stream_ops (self), .attach = s_stream_attach,
        .register_with = s_stream_register, .endpoint = s_stream_endpoint,
        .linger = s_stream_linger, .destroy = s_stream_destroy
    };
    return true;
}

static void
s_splice_attach (void *self, sq_core_t *core)
{
    sq_engine_splice_attach (self, core);
}

static bool
s_splice_register (void *self, sq_loop_t *loop)
{
    return sq_engine_splice_register (self, loop);
}

static const char *
s_splice_endpoint (void *self, sq_side_t side)
{
    return sq_engine_splice_endpoint (self, side);
}

static void
s_splice_stop_listening (void *self)
{
    sq_engine_splice_stop_listening (self);
}

//  The engine delivers what it holds for closed connections while the
//  loop runs
static bool
s_splice_linger (void *self, int linger_ms)
{
    (void) linger_ms;
    return sq_engine_splice_lingering (self);
}

static void
s_splice_destroy (void *self)
{
    sq_engine_splice_t *engine = self;
    sq_engine_splice_destroy (&engine);
}

static bool
s_splice_new (s_engine_t *engine, const sq_proxy_config_t *config,
              char *error, size_t error_size)
{
    sq_engine_splice_config_t splice = {
        .frontend = config->frontend, .backend = config->backend
    };
    memcpy (splice.keepalive, config->keepalive, sizeof splice.keepalive);
    sq_engine_splice_t *self = sq_engine_splice_new (&splice, error, error_size);
    if (!self)
        return false;
    *engine = (s_engine_t) {
        .self = self, .ops = sq_engine_splice_ops (self), .attach = s_splice_attach,
        .register_with = s_splice_register, .endpoint = s_splice_endpoint,
        .stop_listening = s_splice_stop_listening,
        .linger = s_splice_linger, .destroy = s_splice_destroy
    };
    return true;
}

//  -------------------------------------------------------------------------
//  Rules and routes

//  The rules of the configuration file, then the route file's; NULL with
//  a reason (the route file's own line numbers) when a part is refused
static char *
s_routing_text (const sq_proxy_config_t *config, char *error, size_t size)
{
    char *file_text = config->routes? sq_file_read (config->routes, S_ROUTES_MAX, error, size)
                                    : strdup ("");
    if (!file_text)
        return NULL;
    char reason [512];
    if (!sq_routes_check (file_text, reason, sizeof reason)) {
        snprintf (error, size, "routes file %s refused: %s", config->routes, reason);
        free (file_text);
        return NULL;
    }
    size_t length = strlen (config->rules) + strlen (file_text) + 2;
    char *text = malloc (length);
    if (text)
        snprintf (text, length, "%s\n%s", config->rules, file_text);
    else
        snprintf (error, size, "out of memory");
    free (file_text);
    return text;
}

bool
sq_service_check_routes (const sq_proxy_config_t *config, char *error, size_t size)
{
    char *text = s_routing_text (config, error, size);
    free (text);
    return text != NULL;
}

bool
sq_service_reload_routes (sq_service_t *self, const sq_proxy_config_t *config)
{
    if (!config->routes && !*config->rules)
        return true;
    char error [600];
    char *text = s_routing_text (config, error, sizeof error);
    bool loaded = text && sq_routes_load (self->core, text, error, sizeof error,
                                          sq_clock_now ());
    free (text);
    const char *saved = sq_log_set_context (self->log_context);
    if (loaded)
        sq_info ("rules loaded%s%s%s%s",
                 *config->rules? " from ": "", *config->rules? config->config_path: "",
                 config->routes? " from ": "", config->routes? config->routes: "");
    else
        sq_error ("%s", error);
    sq_log_set_context (saved);
    return loaded;
}

//  -------------------------------------------------------------------------
//  Start-up checks

bool
sq_service_endpoint_is_local (const char *endpoint)
{
    const char *local [] = {
        "ipc://", "inproc://", "tcp://127.", "tcp://localhost:", "tcp://[::1]:"
    };
    for (size_t index = 0; index < sizeof local / sizeof local [0]; index++)
        if (strncmp (endpoint, local [index], strlen (local [index])) == 0)
            return true;
    return false;
}

//  True when the allow list of that side has an entry
static bool
s_allow_list (const sq_proxy_config_t *config, sq_side_t side)
{
    char text [16] = "";
    if (config->access [side])
        sq_access_text (config->access [side], true, text, sizeof text);
    return *text != 0;
}

//  Whoever connects to the backend is handed clients. Reachable from other
//  hosts, with no allow list and not CURVE alone (where each client checks
//  its worker's key), it lets any host that reaches it pose as a worker.
static void
s_warn_open_backend (const char *bound, const sq_proxy_config_t *config)
{
    const char *mechanisms = config->mechanisms [SQ_BACKEND];
    if (sq_service_endpoint_is_local (bound) || s_allow_list (config, SQ_BACKEND)
    ||  (mechanisms && strcmp (mechanisms, "CURVE") == 0))
        return;
    sq_warning ("the backend %s is open to other hosts, with no --backend-allow and "
                "not --backend-mechanisms CURVE: any host that reaches it can pose as "
                "a worker and be handed clients", bound);
}

//  --max-connections, or by default the service's share of what the
//  open-file limit allows: a connection past that limit would fail inside
//  libzmq's accept, where the proxy cannot see or count it, so it is
//  refused before that
static void
s_connection_limits (sq_core_config_t *core, long long configured, rlim_t files,
                     size_t sharing)
{
    long long each = configured;
    if (sharing == 0)
        sharing = 1;
    if (each < 0 && files != RLIM_INFINITY)
        each = files > 2 * S_FILES_RESERVED
             ? (long long) ((files - S_FILES_RESERVED) / (2 * sharing)): 1;
    if (each < 1 && configured < 0)
        each = 1;
    for (int side = 0; side < 2; side++)
        core->limits.max_connections [side] = each > 0? (size_t) each: 0;
    if (each > 0)
        sq_info ("connections: up to %lld on each side%s", each,
                 configured < 0? " (from the open-file limit)": "");
    if (configured > 0 && files != RLIM_INFINITY
    &&  (rlim_t) (2 * configured + S_FILES_RESERVED) > files)
        sq_warning ("--max-connections %lld on each side needs about %lld "
                    "open files; the limit is %llu", configured,
                    2 * configured + S_FILES_RESERVED, (unsigned long long) files);
}

//  -------------------------------------------------------------------------
//  The service

//  Makes the engine and the core, loads the rules; false, logged, when
//  any of them cannot be
static bool
s_service_start (sq_service_t *self, const sq_proxy_config_t *config, void *context,
                 rlim_t files, size_t sharing)
{
    char error [512];
    bool made = config->engine == SQ_ENGINE_SPLICE
              ? s_splice_new (&self->engine, config, error, sizeof error)
              : s_stream_new (&self->engine, context, config, error, sizeof error);
    if (!made) {
        sq_log_failure ("%s%s%s", self->log_context? self->log_context: "",
                        self->log_context? ": ": "", error);
        return false;
    }
    sq_core_config_t core_config = config->core;
    core_config.log_context = self->log_context;
    s_connection_limits (&core_config, config->max_connections, files, sharing);
    self->core = sq_core_new (&core_config, &self->engine.ops);
    if (!self->core) {
        sq_log_failure ("out of memory");
        return false;
    }
    self->engine.attach (self->engine.self, self->core);
    if (!sq_service_reload_routes (self, config))
        return false;
    sq_info ("listening: frontend %s", sq_service_endpoint (self, SQ_FRONTEND));
    sq_info ("listening: backend %s", sq_service_endpoint (self, SQ_BACKEND));
    s_warn_open_backend (sq_service_endpoint (self, SQ_BACKEND), config);
    return true;
}

sq_service_t *
sq_service_new (const char *name, const sq_proxy_config_t *config, void *context,
                rlim_t files, size_t sharing)
{
    sq_service_t *self = calloc (1, sizeof *self);
    char log_context [128];
    snprintf (log_context, sizeof log_context, "service %s", name);
    if (self) {
        self->name = strdup (name);
        self->log_context = config->service_name? strdup (log_context): NULL;
    }
    if (!self || !self->name || (config->service_name && !self->log_context)) {
        sq_log_failure ("out of memory");
        sq_service_destroy (&self);
        return NULL;
    }
    const char *saved = sq_log_set_context (self->log_context);
    bool started = s_service_start (self, config, context, files, sharing);
    sq_log_set_context (saved);
    if (!started)
        sq_service_destroy (&self);
    return self;
}

void
sq_service_destroy (sq_service_t **self_p)
{
    sq_service_t *self = *self_p;
    if (!self)
        return;
    if (self->loop && self->core_timer)
        sq_loop_timer_destroy (self->loop, self->core_timer);
    sq_core_destroy (&self->core);
    if (self->engine.self)
        self->engine.destroy (self->engine.self);
    free (self->name);
    free (self->log_context);
    free (self);
    *self_p = NULL;
}

//  The core's timeout is due: it runs now
static int64_t
s_on_core_timer (sq_loop_t *loop, void *arg)
{
    sq_service_t *self = arg;
    sq_core_tick (self->core, sq_loop_now (loop));
    return -1;
}

bool
sq_service_register (sq_service_t *self, sq_loop_t *loop)
{
    self->loop = loop;
    self->core_timer = sq_loop_timer_new (loop, -1, s_on_core_timer, self);
    return self->core_timer && self->engine.register_with (self->engine.self, loop);
}

const char *
sq_service_name (sq_service_t *self)
{
    return self->name;
}

sq_core_t *
sq_service_core (sq_service_t *self)
{
    return self->core;
}

const char *
sq_service_endpoint (sq_service_t *self, sq_side_t side)
{
    return self->engine.endpoint (self->engine.self, side);
}

void
sq_service_tick (sq_service_t *self, int64_t now)
{
    sq_core_tick (self->core, now);
}

void
sq_service_arm (sq_service_t *self, int64_t now)
{
    sq_loop_timer_set (self->loop, self->core_timer, sq_core_next_timeout (self->core, now));
}

void
sq_service_reconfigure (sq_service_t *self, const sq_proxy_config_t *config,
                        rlim_t files, size_t sharing)
{
    const char *saved = sq_log_set_context (self->log_context);
    sq_core_config_t core_config = config->core;
    core_config.log_context = self->log_context;
    s_connection_limits (&core_config, config->max_connections, files, sharing);
    sq_core_reconfigure (self->core, &core_config);
    if (!sq_service_reload_routes (self, config))
        sq_warning ("keeping the address rules, routes and weights in force");
    sq_log_set_context (saved);
}

void
sq_service_remove (sq_service_t *self, int64_t now)
{
    if (self->removed)
        return;
    self->removed = true;
    if (self->engine.stop_listening)
        self->engine.stop_listening (self->engine.self);
    sq_core_drain_all (self->core, now);
    const char *saved = sq_log_set_context (self->log_context);
    sq_info ("removed: no new connections; its %zu pairs finish",
             sq_core_active_pairs (self->core));
    sq_log_set_context (saved);
}

bool
sq_service_removed (sq_service_t *self)
{
    return self->removed;
}

bool
sq_service_linger (sq_service_t *self, int linger_ms)
{
    return self->engine.linger (self->engine.self, linger_ms);
}
