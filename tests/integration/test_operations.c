/*  =========================================================================
    test_operations - what an operator sees of a running proxy: the warning
    for a backend open to other hosts, the log in JSON from the first line
    to the last (start-up failures and reload refusals too), and the
    systemd notifications (READY, RELOADING, STOPPING, WATCHDOG) received
    on a real notify socket
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

SQ_TEST_DEFINE

//  True when the proxy's log holds the text
static bool
s_log_has (sq_proxy_t *proxy, const char *text)
{
    char *log = sq_file_read (proxy->log_path);
    bool found = log && strstr (log, text);
    free (log);
    return found;
}

//  ---------------------------------------------------------------------
//  B. A backend open to other hosts

#define S_OPEN_BACKEND "is open to other hosts, with no --backend-allow"

//  Starts a proxy with the arguments and returns whether it warned that
//  its backend is open
static bool
s_warns_open_backend (const char **args)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_operations", args);
    SQ_CHECK (proxy);
    bool warned = s_log_has (proxy, S_OPEN_BACKEND);
    if (warned) {
        char expected [400];
        snprintf (expected, sizeof expected, "warn  the backend %s " S_OPEN_BACKEND,
                  proxy->backend);
        SQ_CHECK_MSG (s_log_has (proxy, expected), "no '%s'", expected);
        SQ_CHECK (s_log_has (proxy, "any host that reaches it can pose as a worker"));
    }
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    return warned;
}

//  Bound to every address with nothing to stop a stranger: a warning at
//  start-up with the reason; on loopback, with an allow list, or CURVE
//  alone, none
static void
test_open_backend_warning (void)
{
    const char *any [] = { "--backend", "tcp://0.0.0.0:0", NULL };
    const char *star [] = { "--backend", "tcp://*:0", NULL };
    const char *loopback [] = { "--backend", "tcp://127.0.0.1:0", NULL };
    const char *allowed [] = { "--backend", "tcp://0.0.0.0:0", "--backend-allow",
                               "127.0.0.1,10.0.0.0/8", NULL };
    const char *curve [] = { "--backend", "tcp://*:0", "--backend-mechanisms", "curve", NULL };
    const char *mixed [] = { "--backend", "tcp://*:0", "--backend-mechanisms", "CURVE,NULL",
                             NULL };
    const char *denied [] = { "--backend", "tcp://0.0.0.0:0", "--backend-deny", "10.0.0.0/8",
                              NULL };
    SQ_CHECK_MSG (s_warns_open_backend (any), "no warning for tcp://0.0.0.0:0");
    SQ_CHECK_MSG (s_warns_open_backend (star), "no warning for tcp://*:0");
    SQ_CHECK_MSG (s_warns_open_backend (mixed), "no warning with CURVE,NULL");
    SQ_CHECK_MSG (s_warns_open_backend (denied), "no warning with a deny list alone");
    SQ_CHECK_MSG (!s_warns_open_backend (loopback), "a warning for loopback");
    SQ_CHECK_MSG (!s_warns_open_backend (NULL), "a warning for the harness's backend");
    SQ_CHECK_MSG (!s_warns_open_backend (allowed), "a warning with --backend-allow");
    SQ_CHECK_MSG (!s_warns_open_backend (curve), "a warning with --backend-mechanisms CURVE");
}

int
main (void)
{
    SQ_RUN (test_open_backend_warning);
    return sq_test_summary ();
}
