/*  =========================================================================
    sq_notify - telling systemd how the proxy is doing (sd_notify)

    Under a unit of Type=notify, systemd gives the proxy a datagram socket
    ($NOTIFY_SOCKET) and, with WatchdogSec=, an interval ($WATCHDOG_USEC).
    The proxy says READY=1 once it is bound, RELOADING=1 then READY=1
    around a SIGHUP, STOPPING=1 when it drains or stops, and WATCHDOG=1 at
    half the interval, from its loop, so that a loop that hangs is killed
    and restarted. Outside systemd (no $NOTIFY_SOCKET) every call does
    nothing. The environment is left as it is.
    =========================================================================
*/
#ifndef SQ_NOTIFY_H_INCLUDED
#define SQ_NOTIFY_H_INCLUDED

#include <stdint.h>

typedef struct sq_notify sq_notify_t;

//  Reads the watchdog settings once; NULL only when out of memory
sq_notify_t *sq_notify_new (void);

//  Frees the object and nulls the pointer
void sq_notify_destroy (sq_notify_t **self_p);

//  READY=1, with a STATUS= line for systemctl status
void sq_notify_ready (sq_notify_t *self, const char *status);

//  RELOADING=1: the configuration is being read again; READY=1 follows
void sq_notify_reloading (sq_notify_t *self);

//  STOPPING=1 (said once), with a STATUS= line
void sq_notify_stopping (sq_notify_t *self, const char *status);

//  Milliseconds from now until sq_notify_run has a watchdog ping to
//  send, 0 when one is due, -1 when there is no watchdog
int64_t sq_notify_timeout (sq_notify_t *self, int64_t now);

//  Sends WATCHDOG=1 when one is due (at half of $WATCHDOG_USEC)
void sq_notify_run (sq_notify_t *self, int64_t now);

#endif
