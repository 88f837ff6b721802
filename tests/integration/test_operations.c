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
#include <arpa/inet.h>
#include <netinet/in.h>
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

//  ---------------------------------------------------------------------
//  C. The log in JSON, from the first line to the last

//  Checks that every line of text is one JSON object with a time, a level
//  and a message, and no usage hint; returns the number of lines
static int
s_check_json_lines (const char *text, const char *what)
{
    char *copy = strdup (text), *save = NULL;
    int lines = 0;
    for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        char time [64], level [16], message [1024];
        SQ_CHECK_MSG (sq_json_valid (line) && *line == '{', "%s: not JSON: '%s'", what, line);
        SQ_CHECK_MSG (sq_json_string (line, "time", time, sizeof time)
                   && sq_json_string (line, "level", level, sizeof level)
                   && sq_json_string (line, "message", message, sizeof message)
                   && *message, "%s: fields missing: '%s'", what, line);
        SQ_CHECK_MSG (!strstr (message, "--help"), "%s: a usage hint: '%s'", what, line);
        lines++;
    }
    free (copy);
    return lines;
}

//  A TCP listener on 127.0.0.1 that holds its port; the endpoint in buf
static int
s_taken_port (char *endpoint, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    SQ_CHECK (fd >= 0 && bind (fd, (struct sockaddr *) &address, sizeof address) == 0
              && listen (fd, 4) == 0);
    snprintf (endpoint, size, "tcp://127.0.0.1:%d", sq_fd_local_port (fd));
    return fd;
}

//  Writes text to the file at path
static void
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    SQ_CHECK (file && fputs (text, file) >= 0 && fclose (file) == 0);
}

//  With --log-format json every start-up failure is one JSON object on
//  stderr, at level error, with no "Try --help"; in text the hint stays
static void
test_json_start_failures (void)
{
    char taken [64], path [512], routes [600];
    int taken_fd = s_taken_port (taken, sizeof taken);
    sq_build_path ("tests/test_operations-bad.cfg", path, sizeof path);
    s_write_file (path, "#   a file that sets the format, then goes wrong\n"
                        "log-format = \"json\"\nmax-queue = \"lots\"\n");
    snprintf (routes, sizeof routes, "%s.missing", path);
    const char *frontend = "--frontend", *any = "tcp://127.0.0.1:*";
    const char *cases [][12] = {
        { "--bogus", "--log-format", "json", NULL },
        { "--log-format=json", "--max-queue", "-1", NULL },
        { "--log-format", "json", "stray", NULL },
        { "--config", path, NULL },
        { "--log-format", "json", "--config", routes, NULL },
        { "--log-format", "json", "--frontend", taken, "--backend", any, "--control", any,
          NULL },
        { "--log-format", "json", frontend, any, "--backend", any, "--control", taken, NULL },
        { "--log-format", "json", frontend, any, "--backend", any, "--control", any,
          "--routes", routes, NULL },
        { "--log-format", "json", "--check-config", "--routes", routes, NULL },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        char *out, *err, what [64];
        snprintf (what, sizeof what, "case %zu (%s)", index, cases [index][0]);
        SQ_CHECK_MSG (sq_run_program ("streamq-proxy", cases [index], &out, &err) == 2,
                      "%s did not exit 2: '%s'", what, err);
        SQ_CHECK_EQ (*out, 0);
        SQ_CHECK_MSG (s_check_json_lines (err, what) >= 1, "%s: nothing on stderr", what);
        SQ_CHECK_MSG (strstr (err, "\"level\":\"error\""), "%s: no error: '%s'", what, err);
        free (out);
        free (err);
    }
    close (taken_fd);
    //  In text, for a person at the command line, the hint is there
    const char *text [] = { "--bogus", NULL };
    char *err;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", text, NULL, &err), 2);
    SQ_CHECK_STR (err, "streamq-proxy: unknown or incomplete option '--bogus'\n"
                       "Try 'streamq-proxy --help' for more information.\n");
    free (err);
    unlink (path);
}

//  Waits until the proxy's log holds the text; false after SQ_WAIT_MS
static bool
s_log_wait (sq_proxy_t *proxy, const char *text)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline) {
        if (s_log_has (proxy, text))
            return true;
        sq_sleep_ms (20);
    }
    fprintf (stderr, "no '%s' in %s\n", text, proxy->log_path);
    return false;
}

//  A SIGHUP that finds the file broken is refused, with its reason, in
//  JSON like every other line of the log
static void
test_json_reload_refused (void)
{
    char path [512];
    sq_build_path ("tests/test_operations-reload.cfg", path, sizeof path);
    s_write_file (path, "log-format = \"json\"\nmax-queue = 10\n");
    const char *args [] = { "--config", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_operations", args);
    SQ_CHECK (proxy);
    s_write_file (path, "log-format = \"json\"\nmax-queue = 10\nbogus = 1\n");
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    char reason [600];
    snprintf (reason, sizeof reason, "reload: %s: line 3: unknown option 'bogus'", path);
    SQ_CHECK (s_log_wait (proxy, reason));
    SQ_CHECK (s_log_wait (proxy, "reload: the configuration is not valid"));
    //  The same with a broken value, for a line the file already had
    s_write_file (path, "log-format = \"json\"\nmax-queue = ten\n");
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    SQ_CHECK (s_log_wait (proxy, "invalid value 'ten' for --max-queue"));
    char *pong = sq_control_str (proxy->control, "PING");
    SQ_CHECK_STR (pong, "PONG");
    free (pong);
    char log_path [512];
    snprintf (log_path, sizeof log_path, "%s", proxy->log_path);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    char *log = sq_file_read (log_path);
    SQ_CHECK (log);
    SQ_CHECK (s_check_json_lines (log, log_path) >= 8);
    SQ_CHECK_MSG (strstr (log, "\"message\":\"stopped\"}"), "no last line: %s", log);
    free (log);
    unlink (path);
}

//  ---------------------------------------------------------------------
//  D. systemd notifications, on a real notify socket

//  A datagram socket bound at a fresh path, as systemd's notify socket
static int
s_notify_socket (char *path, size_t size)
{
    snprintf (path, size, "/tmp/sq-operations-notify-%d.sock", (int) getpid ());
    unlink (path);
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf (address.sun_path, sizeof address.sun_path, "%s", path);
    SQ_CHECK (fd >= 0 && bind (fd, (struct sockaddr *) &address, sizeof address) == 0);
    return fd;
}

//  Receives notifications until one has a line that is exactly `line`;
//  that one (heap), or NULL after SQ_WAIT_MS. Every other one received on
//  the way is appended to seen, when not NULL.
static char *
s_notify_wait (int fd, const char *line, char *seen, size_t size)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char packet [4096];
    while (sq_now_ms () < deadline) {
        struct timeval timeout = { 0, 100000 };
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        ssize_t got = recv (fd, packet, sizeof packet - 1, 0);
        if (got <= 0)
            continue;
        packet [got] = 0;
        for (const char *at = packet; at; at = strchr (at, '\n'), at = at? at + 1: NULL)
            if (strncmp (at, line, strlen (line)) == 0
            &&  (at [strlen (line)] == '\n' || at [strlen (line)] == 0))
                return strdup (packet);
        if (seen)
            snprintf (seen + strlen (seen), size - strlen (seen), "[%s]", packet);
    }
    fprintf (stderr, "no notification %s within %d ms\n", line, SQ_WAIT_MS);
    return NULL;
}

//  READY=1 once bound (with its endpoints in STATUS=), RELOADING=1 then
//  READY=1 around a SIGHUP, STOPPING=1 at SIGTERM
static void
test_notify (void)
{
    char path [108];
    int fd = s_notify_socket (path, sizeof path);
    SQ_CHECK_EQ (setenv ("NOTIFY_SOCKET", path, 1), 0);
    sq_proxy_t *proxy = sq_proxy_start ("test_operations", NULL);
    unsetenv ("NOTIFY_SOCKET");
    SQ_CHECK (proxy);
    char *ready = s_notify_wait (fd, "READY=1", NULL, 0);
    char status [600];
    snprintf (status, sizeof status, "STATUS=ready: frontend %s, backend %s", proxy->frontend,
              proxy->backend);
    SQ_CHECK_MSG (ready && strstr (ready, status), "'%s'", ready? ready: "(none)");
    free (ready);
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    char seen [4096] = "";
    char *reloading = s_notify_wait (fd, "RELOADING=1", seen, sizeof seen);
    SQ_CHECK_MSG (reloading && strstr (reloading, "\nMONOTONIC_USEC="), "'%s' after %s",
                  reloading? reloading: "(none)", seen);
    free (reloading);
    ready = s_notify_wait (fd, "READY=1", NULL, 0);
    SQ_CHECK (ready);
    free (ready);
    SQ_CHECK (s_log_wait (proxy, "reload: configuration applied"));
    SQ_CHECK_EQ (kill (proxy->pid, SIGTERM), 0);
    char *stopping = s_notify_wait (fd, "STOPPING=1", NULL, 0);
    SQ_CHECK (stopping);
    free (stopping);
    SQ_CHECK_EQ (sq_proxy_stop_with (&proxy, 0), 0);
    //  No watchdog was asked for: none was sent
    SQ_CHECK_MSG (!strstr (seen, "WATCHDOG"), "%s", seen);
    close (fd);
    unlink (path);
}

//  With $WATCHDOG_USEC the proxy pings at half of it, again and again,
//  and logs that it does
static void
test_watchdog (void)
{
    char path [108];
    int fd = s_notify_socket (path, sizeof path);
    SQ_CHECK_EQ (setenv ("NOTIFY_SOCKET", path, 1), 0);
    SQ_CHECK_EQ (setenv ("WATCHDOG_USEC", "300000", 1), 0);
    sq_proxy_t *proxy = sq_proxy_start ("test_operations", NULL);
    unsetenv ("NOTIFY_SOCKET");
    unsetenv ("WATCHDOG_USEC");
    SQ_CHECK (proxy);
    SQ_CHECK (s_log_has (proxy, "systemd watchdog: a ping every 150 ms"));
    for (int ping = 0; ping < 3; ping++) {
        char *watchdog = s_notify_wait (fd, "WATCHDOG=1", NULL, 0);
        SQ_CHECK_MSG (watchdog, "ping %d missing", ping);
        free (watchdog);
    }
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    close (fd);
    unlink (path);
}

int
main (void)
{
    SQ_RUN (test_open_backend_warning);
    SQ_RUN (test_json_start_failures);
    SQ_RUN (test_json_reload_refused);
    SQ_RUN (test_notify);
    SQ_RUN (test_watchdog);
    return sq_test_summary ();
}
