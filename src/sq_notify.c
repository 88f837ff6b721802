/*  =========================================================================
    sq_notify - telling systemd how the proxy is doing (sd_notify)
    =========================================================================
*/
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include "sq_notify.h"
#include "sq_clock.h"
#include "sq_log.h"

struct sq_notify {
    int64_t interval_ms;        //  Between two watchdog pings; 0: none
    int64_t due_ms;             //  Next ping; 0: at the first run
    bool stopping;              //  STOPPING=1 said
};

sq_notify_t *
sq_notify_new (void)
{
    sq_notify_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    uint64_t usec = 0;
    if (sd_watchdog_enabled (0, &usec) > 0 && usec > 0) {
        self->interval_ms = (int64_t) (usec / 2000);
        if (self->interval_ms < 1)
            self->interval_ms = 1;
        sq_info ("systemd watchdog: a ping every %lld ms", (long long) self->interval_ms);
    }
    return self;
}

void
sq_notify_destroy (sq_notify_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

//  Sends the state; a failure is logged at debug, as nothing depends on it
static void
s_send (const char *state)
{
    int rc = sd_notify (0, state);
    if (rc < 0)
        sq_debug ("sd_notify: error %d", -rc);
}

void
sq_notify_ready (sq_notify_t *self, const char *status)
{
    (void) self;
    char state [600];
    snprintf (state, sizeof state, "READY=1\nSTATUS=%s", status);
    s_send (state);
}

void
sq_notify_reloading (sq_notify_t *self)
{
    (void) self;
    //  The time stamp is what Type=notify-reload asks for; plain notify
    //  takes it too
    char state [128];
    snprintf (state, sizeof state, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
              (unsigned long long) sq_clock_now_us ());
    s_send (state);
}

void
sq_notify_stopping (sq_notify_t *self, const char *status)
{
    if (self->stopping)
        return;
    self->stopping = true;
    char state [600];
    snprintf (state, sizeof state, "STOPPING=1\nSTATUS=%s", status);
    s_send (state);
}

int64_t
sq_notify_timeout (sq_notify_t *self, int64_t now)
{
    if (!self->interval_ms)
        return -1;
    return self->due_ms > now? self->due_ms - now: 0;
}

void
sq_notify_run (sq_notify_t *self, int64_t now)
{
    if (!self->interval_ms || now < self->due_ms)
        return;
    s_send ("WATCHDOG=1");
    self->due_ms = now + self->interval_ms;
}
