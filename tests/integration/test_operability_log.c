/*  =========================================================================
    test_operability_log - the proxy's log formats and destinations, the
    LOGLEVEL command, and streamq-ctl's output modes and watch

    A proxy logging JSON or to syslog prints no "ready" line the harness
    could read, so those tests start it themselves, on ports picked free,
    and wait until its control socket answers.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <ctype.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

SQ_TEST_DEFINE

//  ---------------------------------------------------------------------
//  A proxy started here, its stdout and stderr in a file

typedef struct {
    pid_t pid;
    char control [64];
    char log_path [512];
} s_proxy_t;

//  Starts the proxy with the arguments after its three endpoints, and
//  waits until its control socket answers PING; false if it does not
static bool
s_proxy_try (s_proxy_t *proxy, const char *name, const char **args)
{
    char binary [512], frontend [64], backend [64], dir [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    sq_build_path ("tests", dir, sizeof dir);
    mkdir (dir, 0755);
    snprintf (proxy->log_path, sizeof proxy->log_path, "%.400s/%.60s.proxy.log", dir, name);
    snprintf (frontend, sizeof frontend, "tcp://127.0.0.1:%d", sq_free_port ("127.0.0.1"));
    snprintf (backend, sizeof backend, "tcp://127.0.0.1:%d", sq_free_port ("127.0.0.1"));
    snprintf (proxy->control, sizeof proxy->control, "tcp://127.0.0.1:%d",
              sq_free_port ("127.0.0.1"));
    const char *argv [32] = { binary, "--frontend", frontend, "--backend", backend,
                              "--control", proxy->control };
    int argc = 7;
    for (int index = 0; args && args [index] && argc < 31; index++)
        argv [argc++] = args [index];
    argv [argc] = NULL;
    int log_fd = open (proxy->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd == -1)
        return false;
    proxy->pid = fork ();
    if (proxy->pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int null_fd = open ("/dev/null", O_RDONLY);
        dup2 (null_fd, STDIN_FILENO);
        dup2 (log_fd, STDOUT_FILENO);
        dup2 (log_fd, STDERR_FILENO);
        execv (binary, (char **) argv);
        _exit (127);
    }
    close (log_fd);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (proxy->pid > 0 && sq_now_ms () < deadline) {
        if (waitpid (proxy->pid, NULL, WNOHANG) != 0) {
            proxy->pid = -1;            //  It exited: nothing to kill
            break;
        }
        const char *ping [] = { "PING", NULL };
        char **reply = sq_control (proxy->control, ping, 200);
        bool ready = reply && reply [0] && strcmp (reply [0], "PONG") == 0;
        sq_strv_destroy (&reply);
        if (ready)
            return true;
    }
    fprintf (stderr, "s_proxy_start: %s did not answer PING\n", name);
    if (proxy->pid > 0) {
        kill (proxy->pid, SIGKILL);
        waitpid (proxy->pid, NULL, 0);
    }
    return false;
}

//  s_proxy_try on free ports, again on others (up to three times) when
//  one of them was taken between sq_free_port and the proxy's bind (a
//  test running at the same time may take it)
static bool
s_proxy_start (s_proxy_t *proxy, const char *name, const char **args)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (s_proxy_try (proxy, name, args))
            return true;
        char *log = sq_file_read (proxy->log_path);
        bool taken = log && strstr (log, "Address already in use");
        free (log);
        if (!taken)
            return false;
        fprintf (stderr, "s_proxy_start: a port was taken, trying others\n");
    }
    return false;
}

//  Sends TERMINATE and waits for the exit; its exit code, or -1
static int
s_proxy_terminate (s_proxy_t *proxy)
{
    char *reply = sq_control_str (proxy->control, "TERMINATE");
    free (reply);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    int status;
    while (sq_now_ms () < deadline)
        if (waitpid (proxy->pid, &status, WNOHANG) == proxy->pid)
            return WIFEXITED (status)? WEXITSTATUS (status): -1;
        else
            sq_sleep_ms (10);
    kill (proxy->pid, SIGKILL);
    waitpid (proxy->pid, NULL, 0);
    return -1;
}

//  The control reply to the request frames, frames joined by '|'
static char *
s_request (const char *control, const char **frames)
{
    char **reply = sq_control (control, frames, SQ_WAIT_MS);
    char text [8192] = "";
    for (size_t index = 0; reply && reply [index]; index++)
        snprintf (text + strlen (text), sizeof text - strlen (text), "%s%s",
                  index? "|": "", reply [index]);
    bool answered = reply != NULL;
    sq_strv_destroy (&reply);
    return answered? strdup (text): NULL;
}

//  ---------------------------------------------------------------------
//  The log

//  --log-format json: every line one JSON object with time, level, message
static void
test_json_lines (void)
{
    s_proxy_t proxy;
    const char *args [] = { "--log-format", "json", NULL };
    SQ_CHECK (s_proxy_start (&proxy, "test_operability_log-json", args));
    //  A message with a quote in it, at info
    const char *request [] = { "LOGLEVEL", "debug", NULL };
    char *reply = s_request (proxy.control, request);
    SQ_CHECK_STR (reply, "OK|debug");
    free (reply);
    const char *identify [] = { "IDENTIFY", "frontend", "10.1.2.3:4567", "a\"b", NULL };
    reply = s_request (proxy.control, identify);
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    SQ_CHECK_EQ (s_proxy_terminate (&proxy), 0);

    char *log = sq_file_read (proxy.log_path);
    SQ_CHECK (log);
    regex_t stamp;
    SQ_CHECK_EQ (regcomp (&stamp, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                          "[0-9]{2}\\.[0-9]{3}Z$", REG_EXTENDED | REG_NOSUB), 0);
    int lines = 0;
    bool ready = false, named = false;
    char *save = NULL;
    for (char *line = strtok_r (log, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        char time [64], level [16], message [1024];
        SQ_CHECK_MSG (sq_json_valid (line), "not JSON: '%s'", line);
        SQ_CHECK_MSG (sq_json_string (line, "time", time, sizeof time)
                   && sq_json_string (line, "level", level, sizeof level)
                   && sq_json_string (line, "message", message, sizeof message),
                      "fields missing: '%s'", line);
        SQ_CHECK_MSG (regexec (&stamp, time, 0, NULL, 0) == 0, "time '%s'", time);
        SQ_CHECK_MSG (strcmp (level, "info") == 0 || strcmp (level, "debug") == 0
                   || strcmp (level, "warning") == 0, "level '%s'", level);
        ready |= strcmp (message, "ready") == 0;
        named |= strcmp (level, "debug") == 0
              && strstr (message, "10.1.2.3:4567 named a\"b") != NULL;
        lines++;
    }
    regfree (&stamp);
    free (log);
    SQ_CHECK (lines >= 6);
    SQ_CHECK_MSG (ready, "no 'ready' message");
    SQ_CHECK_MSG (named, "no debug line for the IDENTIFY");
}

//  The lines after the last one holding `mark` in the proxy's log (heap,
//  caller frees); NULL if there is no such line
static char *
s_log_after (const char *log_path, const char *mark)
{
    char *log = sq_file_read (log_path);
    char *found = NULL;
    for (char *at = log? strstr (log, mark): NULL; at; at = strstr (at + 1, mark))
        found = at;
    char *after = found? strdup (strchr (found, '\n')? strchr (found, '\n') + 1: ""): NULL;
    free (log);
    return after;
}

//  LOGLEVEL reads and sets the level: debug lines appear, then error
//  silences info
static void
test_loglevel (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_operability_log", NULL);
    SQ_CHECK (proxy);
    const char *read_level [] = { "LOGLEVEL", NULL };
    char *reply = s_request (proxy->control, read_level);
    SQ_CHECK_STR (reply, "info");
    free (reply);

    const char *debug [] = { "LOGLEVEL", "debug", NULL };
    reply = s_request (proxy->control, debug);
    SQ_CHECK_STR (reply, "OK|debug");
    free (reply);
    const char *identify [] = { "IDENTIFY", "frontend", "10.9.8.7:1234", "traced", NULL };
    reply = s_request (proxy->control, identify);
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    char *after = s_log_after (proxy->log_path, "info  control: log level debug (was info)");
    SQ_CHECK_MSG (after && strstr (after, "debug control: frontend 10.9.8.7:1234 named traced"),
                  "no debug line after LOGLEVEL debug: '%s'", after? after: "(no change line)");
    free (after);

    const char *bad [] = { "LOGLEVEL", "loud", NULL };
    reply = s_request (proxy->control, bad);
    SQ_CHECK_MSG (reply && strncmp (reply, "ERROR|", 6) == 0 && strstr (reply, "'loud'"),
                  "LOGLEVEL loud: '%s'", reply? reply: "(no reply)");
    free (reply);
    const char *two [] = { "LOGLEVEL", "info", "debug", NULL };
    reply = s_request (proxy->control, two);
    SQ_CHECK_MSG (reply && strncmp (reply, "ERROR|usage: LOGLEVEL", 21) == 0, "'%s'", reply);
    free (reply);

    const char *error [] = { "LOGLEVEL", "error", NULL };
    reply = s_request (proxy->control, error);
    SQ_CHECK_STR (reply, "OK|error");
    free (reply);
    //  A connection that comes and goes is two info lines at info
    int fd = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (fd >= 0);
    SQ_CHECK (sq_stats_wait (proxy->control, "frontend.accepted", 1, SQ_WAIT_MS));
    close (fd);
    SQ_CHECK (sq_stats_wait (proxy->control, "frontend.connections", 0, SQ_WAIT_MS));
    reply = s_request (proxy->control, read_level);
    SQ_CHECK_STR (reply, "error");
    free (reply);
    after = s_log_after (proxy->log_path, "info  control: log level error (was debug)");
    SQ_CHECK_MSG (after && !strstr (after, " info  ") && !strstr (after, " debug "),
                  "info or debug lines at level error: '%s'", after? after: "(no change line)");
    free (after);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A datagram socket bound at a fresh path, where the proxy sends syslog
static int
s_syslog_server (char *path, size_t size)
{
    snprintf (path, size, "/tmp/sq-operability-log-%d.sock", (int) getpid ());
    unlink (path);
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf (address.sun_path, sizeof address.sun_path, "%s", path);
    if (fd >= 0 && bind (fd, (struct sockaddr *) &address, sizeof address) == 0)
        return fd;
    if (fd >= 0)
        close (fd);
    return -1;
}

//  Receives datagrams until one holds `text`; that one (heap), or NULL
static char *
s_syslog_wait (int fd, const char *text)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    char packet [8192];
    while (sq_now_ms () < deadline) {
        struct timeval timeout = { 0, 100000 };
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        ssize_t got = recv (fd, packet, sizeof packet - 1, 0);
        if (got <= 0)
            continue;
        packet [got] = 0;
        if (strstr (packet, text))
            return strdup (packet);
    }
    return NULL;
}

//  --syslog-facility local0 --syslog-socket PATH: the lines come as
//  syslog datagrams, with the priority of their level, none on stderr
static void
test_syslog_socket (void)
{
    char path [108];
    int server = s_syslog_server (path, sizeof path);
    SQ_CHECK (server >= 0);
    s_proxy_t proxy;
    const char *args [] = { "--syslog", "--syslog-facility", "local0", "--syslog-socket",
                            path, NULL };
    SQ_CHECK (s_proxy_start (&proxy, "test_operability_log-syslog", args));
    char prefix [64];
    snprintf (prefix, sizeof prefix, " streamq-proxy[%d]: ", (int) proxy.pid);
    char *ready = s_syslog_wait (server, "]: ready");
    //  local0 (16 << 3) + info (6), + debug (7)
    SQ_CHECK_MSG (ready && strncmp (ready, "<134>", 5) == 0 && strstr (ready, prefix),
                  "'%s'", ready? ready: "(no ready line)");
    free (ready);
    const char *debug [] = { "LOGLEVEL", "debug", NULL };
    char *reply = s_request (proxy.control, debug);
    SQ_CHECK_STR (reply, "OK|debug");
    free (reply);
    const char *identify [] = { "IDENTIFY", "backend", "10.1.1.1:99", "w1", NULL };
    reply = s_request (proxy.control, identify);
    free (reply);
    char *line = s_syslog_wait (server, "named w1");
    SQ_CHECK_MSG (line && strncmp (line, "<135>", 5) == 0, "'%s'", line? line: "(none)");
    free (line);
    SQ_CHECK_EQ (s_proxy_terminate (&proxy), 0);
    close (server);
    unlink (path);
    char *log = sq_file_read (proxy.log_path);
    SQ_CHECK_MSG (log && *log == 0, "on stderr: '%s'", log? log: "(no file)");
    free (log);
}

//  --syslog through syslog(3): the proxy runs, answers, and writes
//  nothing on stderr (whether a syslog daemon listens or not)
static void
test_syslog_accepted (void)
{
    s_proxy_t proxy;
    const char *args [] = { "--syslog", "--log-format", "json", NULL };
    SQ_CHECK (s_proxy_start (&proxy, "test_operability_log-syslog3", args));
    SQ_CHECK_EQ (s_proxy_terminate (&proxy), 0);
    char *log = sq_file_read (proxy.log_path);
    SQ_CHECK_MSG (log && *log == 0, "on stderr: '%s'", log? log: "(no file)");
    free (log);
}

//  Bad values are refused at start, exit 2; --help names the options
static void
test_options (void)
{
    char binary [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    const char *format [] = { binary, "--log-format", "xml", NULL };
    const char *facility [] = { binary, "--syslog-facility", "local8", NULL };
    char *err = NULL;
    SQ_CHECK_EQ (sq_run (format, SQ_WAIT_MS, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "--log-format"), "'%s'", err);
    free (err);
    SQ_CHECK_EQ (sq_run (facility, SQ_WAIT_MS, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "--syslog-facility"), "'%s'", err);
    free (err);
    const char *help [] = { binary, "--help", NULL };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run (help, SQ_WAIT_MS, &out, NULL), 0);
    const char *named [] = { "--log-format", "--syslog ", "--syslog-facility",
                             "--syslog-socket", "LOGLEVEL" };
    for (size_t index = 0; index < sizeof named / sizeof named [0]; index++)
        SQ_CHECK_MSG (strstr (out, named [index]), "--help: no %s", named [index]);
    free (out);
}

//  ---------------------------------------------------------------------
//  streamq-ctl

//  The text without the white space outside JSON strings (heap)
static char *
s_compact (const char *json)
{
    char *text = malloc (strlen (json) + 1), *to = text;
    bool quoted = false;
    for (const char *at = json; *at; at++) {
        if (quoted && *at == '\\' && at [1]) {
            *to++ = *at++;
            *to++ = *at;
            continue;
        }
        if (*at == '"')
            quoted = !quoted;
        if (quoted || !isspace ((unsigned char) *at))
            *to++ = *at;
    }
    *to = 0;
    return text;
}

//  --raw prints the frames as they are; --pretty the same JSON indented;
//  into a pipe, with neither, the frames as they are
static void
test_ctl_raw_and_pretty (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_operability_log", NULL);
    SQ_CHECK (proxy);
    const char *route [] = { "ROUTE", "client \"1\"", "w1", "w2", NULL };
    char *reply = s_request (proxy->control, route);
    free (reply);
    const char *route_ok [] = { "ROUTE", "c1", "w1", "w2", NULL };
    reply = s_request (proxy->control, route_ok);
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    const char *routes [] = { "ROUTES", NULL };
    char *frame = s_request (proxy->control, routes);
    SQ_CHECK (frame && sq_json_valid (frame) && strstr (frame, "\"c1\""));

    char *out, expected [8192];
    snprintf (expected, sizeof expected, "%s\n", frame);
    const char *raw [] = { "--control", proxy->control, "--raw", "ROUTES", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", raw, &out, NULL), 0);
    SQ_CHECK_STR (out, expected);
    free (out);
    const char *plain [] = { "--control", proxy->control, "ROUTES", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", plain, &out, NULL), 0);
    SQ_CHECK_STR (out, expected);
    free (out);

    const char *pretty [] = { "--control", proxy->control, "--pretty", "ROUTES", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", pretty, &out, NULL), 0);
    SQ_CHECK_MSG (sq_json_valid (out) && strstr (out, "{\n  \""), "--pretty: '%s'", out);
    char *compact = s_compact (out);
    SQ_CHECK_STR (compact, frame);
    free (compact);
    free (out);
    free (frame);

    //  Several frames, not JSON: one a line, as they are, either way
    const char *level [] = { "--control", proxy->control, "-p", "LOGLEVEL", "info", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", level, &out, NULL), 0);
    SQ_CHECK_STR (out, "OK\ninfo\n");
    free (out);
    const char *raw_level [] = { "--control", proxy->control, "-r", "loglevel", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", raw_level, &out, NULL), 0);
    SQ_CHECK_STR (out, "info\n");
    free (out);
    //  An ERROR is still the reason on stderr, exit 1
    char *err;
    const char *bad [] = { "--control", proxy->control, "--pretty", "LOGLEVEL", "loud", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", bad, &out, &err), 1);
    SQ_CHECK_MSG (*out == 0 && strstr (err, "streamq-ctl: error: level must be"),
                  "'%s' / '%s'", out, err);
    free (out);
    free (err);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Lines of out that start with prefix
static int
s_count_lines (const char *out, const char *prefix)
{
    int count = 0;
    for (const char *line = out; line && *line; line = strchr (line, '\n')? strchr (line, '\n') + 1: NULL)
        count += strncmp (line, prefix, strlen (prefix)) == 0;
    return count;
}

//  watch --count 2: two summaries, the second with rates; --raw: two STATS
static void
test_ctl_watch (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_operability_log", NULL);
    SQ_CHECK (proxy);
    char *out;
    const char *watch [] = { "--control", proxy->control, "watch", "--count", "2",
                             "--interval", "200", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", watch, &out, NULL), 0);
    char header [300];
    snprintf (header, sizeof header, "streamq-proxy %s at ", proxy->control);
    SQ_CHECK_MSG (s_count_lines (out, header) == 2, "watch printed '%s'", out);
    SQ_CHECK_MSG (s_count_lines (out, "  pairs        active 0  total 0 (") == 2, "'%s'", out);
    const char *engine = sq_engine_is ("splice")
                       ? "  engine       splice  pipes lent 0  idle 0  refused 0 ("
                       : "  engine       stream\n";
    SQ_CHECK_MSG (s_count_lines (out, engine) == 2, "'%s'", out);
    //  The first refresh has no rate yet, the second has
    SQ_CHECK_MSG (strstr (out, "total 0 (-/s)") && strstr (out, "total 0 (0.0/s)"), "'%s'", out);
    free (out);

    const char *raw [] = { "--control", proxy->control, "--raw", "--watch", "-n", "2",
                           "-i", "100", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", raw, &out, NULL), 0);
    char *second = strchr (out, '\n');
    SQ_CHECK_MSG (second && s_count_lines (out, "{\"frontend\":") == 2, "'%s'", out);
    *second = 0;
    SQ_CHECK (sq_json_valid (out) && sq_json_find (out, "uptime_ms"));
    free (out);

    //  Usage errors, and no proxy
    const char *stray [] = { "--control", proxy->control, "watch", "PING", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", stray, NULL, NULL), 2);
    const char *lonely [] = { "--control", proxy->control, "--count", "2", "PING", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", lonely, NULL, NULL), 2);
    const char *zero [] = { "--control", proxy->control, "watch", "--count", "0", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", zero, NULL, NULL), 2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    char dead [64], *err;
    snprintf (dead, sizeof dead, "tcp://127.0.0.1:%d", sq_free_port ("127.0.0.1"));
    const char *gone [] = { "--control", dead, "--timeout", "300", "watch", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", gone, &out, &err), 2);
    SQ_CHECK_MSG (strstr (err, "no reply"), "'%s'", err);
    free (out);
    free (err);
}

//  --help names every command, with its arguments, and the options
static void
test_ctl_help (void)
{
    char *out;
    const char *help [] = { "--help", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", help, &out, NULL), 0);
    const char *named [] = {
        "  PING ", "  STATS ", "  LIST ", "  WORKERS ", "  CLIENTS ", "  ROUTES ",
        "  PAUSE ", "  RESUME ", "  TERMINATE ", "  IDENTIFY SIDE IP:PORT NAME",
        "  ALIAS SIDE IP|CIDR NAME", "  UNALIAS SIDE IP|CIDR", "  ROUTE CLIENT WORKER",
        "  UNROUTE CLIENT", "  DRAIN WORKER", "  UNDRAIN WORKER", "  WEIGHT WORKER N",
        "  LOAD WORKER X", "  HEARTBEAT NAME [MS]", "  LOGLEVEL [LEVEL]",
        "--raw", "--pretty", "watch", "--interval MS", "--count N"
    };
    for (size_t index = 0; index < sizeof named / sizeof named [0]; index++)
        SQ_CHECK_MSG (strstr (out, named [index]), "streamq-ctl --help: no '%s'",
                      named [index]);
    free (out);
}

int
main (void)
{
    SQ_RUN (test_json_lines);
    SQ_RUN (test_loglevel);
    SQ_RUN (test_syslog_socket);
    SQ_RUN (test_syslog_accepted);
    SQ_RUN (test_options);
    SQ_RUN (test_ctl_raw_and_pretty);
    SQ_RUN (test_ctl_watch);
    SQ_RUN (test_ctl_help);
    return sq_test_summary ();
}
