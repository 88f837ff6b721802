/*  =========================================================================
    test_cli - command line, signals, log format, control socket, and
    the streamq-ctl tool: its exit codes, STATS FIELD, and its tables on
    a terminal (run under a pseudo-terminal)
    =========================================================================
*/
#include <sys/resource.h>
#include "sq_test.h"
#include "sq_harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <regex.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

SQ_TEST_DEFINE

static void
test_help (void)
{
    const char *args [] = { "--help", NULL };
    char *out, *err;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", args, &out, &err), 0);
    const char *options [] = {
        "--frontend", "--backend", "--control", "--log-level", "--max-queue",
        "--queue-timeout", "--greeting-timeout", "--close-linger", "--io-threads",
        "--help", "--version"
    };
    for (size_t index = 0; index < sizeof options / sizeof options [0]; index++)
        SQ_CHECK_MSG (strstr (out, options [index]), "--help does not mention %s",
                      options [index]);
    free (out);
    free (err);
}

static void
test_version (void)
{
    const char *args [] = { "--version", NULL };
    char *out, *err;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", args, &out, &err), 0);
    regex_t pattern;
    SQ_CHECK_EQ (regcomp (&pattern, "^streamq-proxy [0-9]+\\.[0-9]+\\.[0-9]+\n$",
                          REG_EXTENDED | REG_NOSUB), 0);
    bool match = regexec (&pattern, out, 0, NULL, 0) == 0;
    regfree (&pattern);
    SQ_CHECK_MSG (match, "--version printed '%s'", out);
    free (out);
    free (err);
}

//  The arguments must be refused with exit 2 and a message on stderr
static void
s_expect_usage_error (const char **args)
{
    char *out, *err;
    int code = sq_run_program ("streamq-proxy", args, &out, &err);
    SQ_CHECK_MSG (code == 2, "'%s %s' exited %d, expected 2", args [0],
                  args [1]? args [1]: "", code);
    SQ_CHECK_MSG (strlen (err) > 0, "'%s' printed nothing on stderr", args [0]);
    free (out);
    free (err);
}

static void
test_bad_arguments (void)
{
    const char *bad_flag [] = { "--bogus", NULL };
    const char *bad_number [] = { "--max-queue", "abc", NULL };
    const char *bad_timeout [] = { "--queue-timeout", "10ms", NULL };
    const char *bad_level [] = { "--log-level", "loud", NULL };
    const char *missing [] = { "--max-queue", NULL };
    const char *stray [] = { "stray", NULL };
    s_expect_usage_error (bad_flag);
    s_expect_usage_error (bad_number);
    s_expect_usage_error (bad_timeout);
    s_expect_usage_error (bad_level);
    s_expect_usage_error (missing);
    s_expect_usage_error (stray);
}

//  A second proxy reusing one of the first proxy's endpoints exits 2
static void
test_bind_conflict (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    const char *names [] = { "--frontend", "--backend", "--control" };
    const char *taken [] = { proxy->frontend, proxy->backend, proxy->control };
    for (int index = 0; index < 3; index++) {
        const char *args [] = {
            "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
            "--control", "tcp://127.0.0.1:*", names [index], taken [index], NULL
        };
        s_expect_usage_error (args);
    }
    char *pong = sq_control_str (proxy->control, "PING");
    SQ_CHECK_STR (pong, "PONG");
    free (pong);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Every start-up line has the documented shape, and the listening lines
//  come before "ready" in order
static void
test_log_format (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    char *log = sq_file_read (proxy->log_path);
    SQ_CHECK (log);
    regex_t pattern;
    SQ_CHECK_EQ (regcomp (&pattern, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                          "[0-9]{2}\\.[0-9]{3}Z (error|warning|info |debug) [^ ]",
                          REG_EXTENDED | REG_NOSUB), 0);
    char *save = NULL;
    int lines = 0;
    for (char *line = strtok_r (log, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        SQ_CHECK_MSG (regexec (&pattern, line, 0, NULL, 0) == 0, "log line '%s'", line);
        lines++;
    }
    regfree (&pattern);
    free (log);
    SQ_CHECK (lines >= 4);

    log = sq_file_read (proxy->log_path);
    char *frontend = strstr (log, "info  listening: frontend tcp://127.0.0.1:");
    char *backend = strstr (log, "info  listening: backend tcp://127.0.0.1:");
    char *control = strstr (log, "info  listening: control tcp://127.0.0.1:");
    char *ready = strstr (log, "info  ready\n");
    SQ_CHECK (frontend && backend && control && ready);
    SQ_CHECK (frontend < backend && backend < control && control < ready);
    free (log);
    //  The ports printed are the ones really bound
    int fd = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (fd >= 0);
    uint8_t hello [11];
    SQ_CHECK_EQ (sq_tcp_recv (fd, hello, 11, SQ_WAIT_MS), 11);
    close (fd);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A proxy with a paired client, stopped by a signal, exits 0
static void
s_stop_by_signal (int signum)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (worker && client);
    SQ_CHECK_EQ (sq_send_str (client, "before the signal"), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, "before the signal");
    free (echo);
    SQ_CHECK_EQ (sq_proxy_stop_with (&proxy, signum), 0);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
}

static void
test_sigterm (void)
{
    s_stop_by_signal (SIGTERM);
}

static void
test_sigint (void)
{
    s_stop_by_signal (SIGINT);
}

static void
test_terminate (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    char *reply = sq_control_str (proxy->control, "TERMINATE");
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    SQ_CHECK_EQ (sq_proxy_stop_with (&proxy, 0), 0);
}

//  Sends the request frames from a DEALER and checks the reply frames
static void
s_dealer_request (void *dealer, const char **request, const char **expected)
{
    sq_msg_t *msg = sq_msg_new ();
    for (int index = 0; request [index]; index++)
        sq_msg_addstr (msg, request [index]);
    SQ_CHECK_EQ (sq_msg_send (msg, dealer), 0);
    sq_msg_destroy (&msg);
    sq_msg_t *reply = sq_msg_recv (dealer, SQ_WAIT_MS);
    SQ_CHECK (reply);
    size_t count = 0;
    while (expected [count])
        count++;
    SQ_CHECK_EQ (reply->count, count);
    for (size_t index = 0; index < count; index++)
        SQ_CHECK_STR ((char *) reply->data [index], expected [index]);
    sq_msg_destroy (&reply);
}

static void
test_ping (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    const char *ping [] = { "PING", NULL };
    char **reply = sq_control (proxy->control, ping, SQ_WAIT_MS);
    SQ_CHECK (reply);
    SQ_CHECK_EQ (sq_strv_size (reply), 1);
    SQ_CHECK_STR (reply [0], "PONG");
    sq_strv_destroy (&reply);

    //  A DEALER, with and without the empty delimiter: the reply mirrors it
    void *ctx = zmq_ctx_new ();
    void *dealer = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->control);
    const char *with [] = { "", "PING", NULL }, *with_reply [] = { "", "PONG", NULL };
    const char *without [] = { "PING", NULL }, *without_reply [] = { "PONG", NULL };
    s_dealer_request (dealer, with, with_reply);
    s_dealer_request (dealer, without, without_reply);
    zmq_close (dealer);
    zmq_ctx_term (ctx);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_unknown_command (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    const char *request [] = { "FOO", "bar", NULL };
    char **reply = sq_control (proxy->control, request, SQ_WAIT_MS);
    SQ_CHECK (reply);
    SQ_CHECK_EQ (sq_strv_size (reply), 2);
    SQ_CHECK_STR (reply [0], "ERROR");
    SQ_CHECK_MSG (strstr (reply [1], "FOO"), "reason '%s' does not name the command",
                  reply [1]);
    sq_strv_destroy (&reply);
    //  The control socket still works afterwards
    char *pong = sq_control_str (proxy->control, "PING");
    SQ_CHECK_STR (pong, "PONG");
    free (pong);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Reads STATS "paused"
static bool
s_paused (sq_proxy_t *proxy)
{
    char *json = sq_control_str (proxy->control, "STATS");
    bool paused = false;
    SQ_CHECK (json && sq_json_bool (json, "paused", &paused));
    free (json);
    return paused;
}

static void
test_pause_resume (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (worker && client);
    SQ_CHECK_EQ (sq_send_str (client, "before pause"), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, "before pause");
    free (echo);

    char *reply = sq_control_str (proxy->control, "PAUSE");
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    SQ_CHECK (s_paused (proxy));
    SQ_CHECK_EQ (sq_send_str (client, "during pause"), 0);
    sq_msg_t *early = sq_msg_recv (client, SQ_QUIET_MS);
    SQ_CHECK_MSG (early == NULL, "traffic flowed while paused");
    SQ_CHECK_EQ (sq_worker_handled (worker), 1);

    reply = sq_control_str (proxy->control, "RESUME");
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    SQ_CHECK (!s_paused (proxy));
    echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, "during pause");
    free (echo);

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  streamq-ctl

//  Runs streamq-ctl with the arguments; returns its exit code
static int
s_run_ctl (const char **args, char **out_p)
{
    return sq_run_program ("streamq-ctl", args, out_p, NULL);
}

//  A TCP port bound but not listening: connecting to it is refused, and
//  nothing else can take it while we hold it
static int
s_dead_port (int *fd_p)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    SQ_CHECK (fd >= 0 && bind (fd, (struct sockaddr *) &address, sizeof address) == 0);
    *fd_p = fd;
    return sq_fd_local_port (fd);
}

static void
test_ctl (void)
{
    char *err;
    char binary [512];
    sq_build_path ("streamq-ctl", binary, sizeof binary);
    if (access (binary, X_OK) != 0) {
        printf ("# note: %s is missing, streamq-ctl checks skipped\n", binary);
        return;
    }
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    char *out;
    const char *ping [] = { "--control", proxy->control, "PING", NULL };
    SQ_CHECK_EQ (s_run_ctl (ping, &out), 0);
    SQ_CHECK_STR (out, "PONG\n");
    free (out);

    const char *stats [] = { "--control", proxy->control, "STATS", NULL };
    SQ_CHECK_EQ (s_run_ctl (stats, &out), 0);
    long long active = -1;
    SQ_CHECK_MSG (sq_json_valid (out) && sq_json_number (out, "pairs.active", &active),
                  "STATS printed '%s'", out);
    SQ_CHECK_EQ (active, 0);
    free (out);

    const char *foo [] = { "--control", proxy->control, "FOO", NULL };
    SQ_CHECK_EQ (s_run_ctl (foo, NULL), 1);

    //  One service: --service NAME, or SERVICE NAME before the command
    const char *service [] = { "--control", proxy->control, "--service", "default",
                               "STATS", "pairs.active", NULL };
    SQ_CHECK_EQ (s_run_ctl (service, &out), 0);
    SQ_CHECK_STR (out, "0\n");
    free (out);
    const char *typed [] = { "--control", proxy->control, "service", "default", "PING", NULL };
    SQ_CHECK_EQ (s_run_ctl (typed, &out), 0);
    SQ_CHECK_STR (out, "PONG\n");
    free (out);
    const char *unknown [] = { "--control", proxy->control, "-S", "nobody", "PING", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", unknown, NULL, &err), 1);
    SQ_CHECK_MSG (strstr (err, "no service 'nobody'"), "--service nobody: '%s'", err);
    free (err);
    const char *invalid [] = { "--control", proxy->control, "--service", "a/b", "PING", NULL };
    SQ_CHECK_EQ (s_run_ctl (invalid, NULL), 2);
    const char *short_of [] = { "--control", proxy->control, "-S", "default", "ROUTE", "c",
                                NULL };
    SQ_CHECK_EQ (s_run_ctl (short_of, NULL), 2);

    const char *nothing [] = { NULL };
    SQ_CHECK_EQ (s_run_ctl (nothing, NULL), 2);

    int dead_fd;
    char dead [64];
    snprintf (dead, sizeof dead, "tcp://127.0.0.1:%d", s_dead_port (&dead_fd));
    const char *unreachable [] = { "--control", dead, "--timeout", "500", "PING", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", unreachable, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "connection refused"), "a refused connection: '%s'", err);
    free (err);
    //  Something listens but never answers: no reply, and not refused
    SQ_CHECK_EQ (listen (dead_fd, 4), 0);
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", unreachable, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "no reply from") && !strstr (err, "refused"),
                  "a silent listener: '%s'", err);
    free (err);
    close (dead_fd);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A command streamq-ctl knows, with missing or extra arguments, is a
//  usage error with its synopsis, found before anything is sent: the
//  endpoint here has nothing behind it
static void
test_ctl_usage (void)
{
    int dead_fd;
    char dead [64];
    snprintf (dead, sizeof dead, "tcp://127.0.0.1:%d", s_dead_port (&dead_fd));
    const char *cases [][5] = {
        { "ROUTE", NULL },              { "route", "client", NULL },
        { "IDENTIFY", "frontend", NULL }, { "WEIGHT", "w1", NULL },
        { "UNROUTE", NULL },            { "PING", "extra", NULL },
        { "STATS", "pairs", "active", NULL }, { "LOGLEVEL", "info", "debug", NULL }
    };
    const char *synopses [] = {
        "ROUTE CLIENT WORKER [FALLBACK...]", "ROUTE CLIENT WORKER [FALLBACK...]",
        "IDENTIFY SIDE IP:PORT NAME", "WEIGHT WORKER N", "UNROUTE CLIENT", "PING",
        "STATS [FIELD]", "LOGLEVEL [LEVEL]"
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        const char *args [10] = { "--control", dead, "--timeout", "500" };
        for (size_t word = 0; cases [index][word]; word++)
            args [4 + word] = cases [index][word];
        char *out, *err, expected [128];
        SQ_CHECK_EQ (sq_run_program ("streamq-ctl", args, &out, &err), 2);
        snprintf (expected, sizeof expected, "streamq-ctl: usage: streamq-ctl [OPTION...] %s\n",
                  synopses [index]);
        SQ_CHECK_MSG (*out == 0 && strstr (err, expected) && !strstr (err, "no reply"),
                      "%s: '%s'", cases [index][0], err);
        free (out);
        free (err);
    }
    close (dead_fd);
}

//  STATS FIELD prints that value alone; a path STATS lacks is exit 2
static void
test_ctl_stats_field (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    const char *paths [] = { "pairs.active", "held.slow_peer", "paused", "pairs" };
    const char *expected [] = { "0\n", "disconnect\n", "false\n", NULL };
    for (size_t index = 0; index < 4; index++) {
        const char *args [] = { "--control", proxy->control, "STATS", paths [index], NULL };
        char *out;
        SQ_CHECK_EQ (s_run_ctl (args, &out), 0);
        if (expected [index])
            SQ_CHECK_STR (out, expected [index]);
        else {
            long long total = -1;
            SQ_CHECK_MSG (sq_json_valid (out) && sq_json_number (out, "total", &total)
                          && total == 0, "STATS pairs printed '%s'", out);
        }
        free (out);
    }
    const char *missing [] = { "--control", proxy->control, "stats", "pairs.nope", NULL };
    char *out, *err;
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", missing, &out, &err), 2);
    SQ_CHECK_MSG (*out == 0 && strstr (err, "STATS has no field 'pairs.nope'"), "'%s'", err);
    free (out);
    free (err);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  streamq-ctl on a terminal

//  Runs streamq-ctl with the arguments, its stdout a pseudo-terminal (in
//  raw mode, so that the bytes are what it wrote), its stderr into err_p
//  when not NULL. Returns its exit code, or -1.
static int
s_run_tty (const char **args, char **out_p, char **err_p)
{
    char binary [512];
    sq_build_path ("streamq-ctl", binary, sizeof binary);
    const char *argv [32] = { binary };
    for (int index = 0; args [index] && index < 30; index++)
        argv [index + 1] = args [index];
    int master, slave, err_pipe [2];
    struct termios raw;
    if (openpty (&master, &slave, NULL, NULL, NULL) != 0 || pipe2 (err_pipe, O_CLOEXEC) != 0
    ||  tcgetattr (slave, &raw) != 0)
        return -1;
    cfmakeraw (&raw);
    tcsetattr (slave, TCSANOW, &raw);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        int null_fd = open ("/dev/null", O_RDONLY);
        dup2 (null_fd, 0);
        dup2 (slave, 1);
        dup2 (err_pipe [1], 2);
        execv (binary, (char **) argv);
        _exit (127);
    }
    close (slave);
    close (err_pipe [1]);
    char *text [2] = { calloc (1, 1), calloc (1, 1) };
    size_t size [2] = { 0, 0 };
    int fds [2] = { master, err_pipe [0] };
    bool open_fds [2] = { true, true };
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while ((open_fds [0] || open_fds [1]) && sq_now_ms () < deadline) {
        struct pollfd items [2] = { { fds [0], POLLIN, 0 }, { fds [1], POLLIN, 0 } };
        for (int index = 0; index < 2; index++)
            if (!open_fds [index])
                items [index].fd = -1;
        if (poll (items, 2, 100) <= 0)
            continue;
        for (int index = 0; index < 2; index++) {
            if (!items [index].revents)
                continue;
            char chunk [4096];
            //  A pseudo-terminal reads EIO once the other side has closed
            ssize_t got = read (fds [index], chunk, sizeof chunk);
            if (got <= 0) {
                open_fds [index] = false;
                continue;
            }
            text [index] = realloc (text [index], size [index] + (size_t) got + 1);
            memcpy (text [index] + size [index], chunk, (size_t) got);
            size [index] += (size_t) got;
            text [index][size [index]] = 0;
        }
    }
    int status = 0;
    if (open_fds [0] || open_fds [1])
        kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    close (master);
    close (err_pipe [0]);
    if (out_p)
        *out_p = text [0];
    else
        free (text [0]);
    if (err_p)
        *err_p = text [1];
    else
        free (text [1]);
    return WIFEXITED (status) && !open_fds [0]? WEXITSTATUS (status): -1;
}

//  Where each column of a table starts, from its header: at 0, and after
//  every run of two spaces or more; returns the number of columns
static size_t
s_columns (const char *header, size_t *start, size_t max)
{
    size_t count = 0;
    for (size_t at = 0; header [at] && header [at] != '\n' && count < max; at++)
        if (header [at] != ' ' && (at == 0 || (at >= 2 && header [at - 1] == ' '
                                               && header [at - 2] == ' ')))
            start [count++] = at;
    return count;
}

//  The cell of a line between two column starts, spaces trimmed, into buf
static void
s_cell (const char *line, size_t from, size_t to, char *buf, size_t size)
{
    size_t length = strcspn (line, "\n");
    if (from > length)
        from = length;
    if (to > length)
        to = length;
    while (from < to && line [from] == ' ')
        from++;
    while (to > from && line [to - 1] == ' ')
        to--;
    snprintf (buf, size, "%.*s", (int) (to - from), line + from);
}

//  The text a table shows for the member at path of the JSON: a string
//  as it is, a number, true/false, "-" for null, array elements joined
static void
s_shown (const char *json, const char *path, char *buf, size_t size)
{
    long long number;
    bool flag;
    *buf = 0;
    if (sq_json_is_null (json, path))
        snprintf (buf, size, "-");
    else
    if (sq_json_number (json, path, &number))
        snprintf (buf, size, "%lld", number);
    else
    if (sq_json_bool (json, path, &flag))
        snprintf (buf, size, "%s", flag? "true": "false");
    else
    if (sq_json_count (json, path) >= 0)
        for (int index = 0; index < sq_json_count (json, path); index++) {
            char element [256], inner [300];
            snprintf (inner, sizeof inner, "%s.%d", path, index);
            if (sq_json_string (json, inner, element, sizeof element))
                snprintf (buf + strlen (buf), size - strlen (buf), "%s%s", index? ",": "",
                          element);
        }
    else
        sq_json_string (json, path, buf, size);
}

//  The table streamq-ctl prints on a terminal shows exactly what the JSON
//  holds: a header of the members in capitals, one aligned line each
static void
s_check_table (const char *json, const char *table, size_t rows)
{
    SQ_CHECK_EQ (sq_json_count (json, ""), (long long) rows);
    size_t start [32];
    size_t columns = s_columns (table, start, 32);
    SQ_CHECK_MSG (columns >= 2, "no table: '%s'", table);
    const char *line = table;
    for (size_t row = 0; row < rows; row++) {
        line = strchr (line, '\n');
        SQ_CHECK_MSG (line && line [1], "row %zu missing: '%s'", row, table);
        line++;
        for (size_t column = 0; column < columns; column++) {
            char name [64], path [96], cell [512], shown [512];
            size_t end = column + 1 < columns? start [column + 1]: strlen (table);
            s_cell (table, start [column], end, name, sizeof name);
            for (char *at = name; *at; at++)
                *at = (char) tolower ((unsigned char) *at);
            snprintf (path, sizeof path, "%zu.%s", row, name);
            s_cell (line, start [column], end, cell, sizeof cell);
            s_shown (json, path, shown, sizeof shown);
            SQ_CHECK_MSG (strcmp (cell, shown) == 0, "row %zu, %s: '%s', the JSON "
                          "has '%s':\n%s", row, name, cell, shown, table);
            //  Two spaces before every column, whatever the row
            SQ_CHECK_MSG (column == 0 || strcspn (line, "\n") <= start [column]
                       || (line [start [column] - 1] == ' ' && line [start [column] - 2] == ' '),
                          "row %zu is not aligned at %s:\n%s", row, name, table);
        }
    }
    SQ_CHECK_MSG (strchr (line, '\n') && strchr (line, '\n') [1] == 0, "lines after the "
                  "rows:\n%s", table);
}

//  On a terminal LIST, WORKERS and CLIENTS are tables of their JSON; with
//  --raw the JSON as into a pipe; --table makes a table into a pipe
static void
test_ctl_tables (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    //  Two connections of one worker (named by its address): one paired
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    sq_worker_t *spare = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker && spare);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "a table"), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, "a table");
    free (echo);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));
    const char *route [] = { "ROUTE", "127.0.0.1", "127.0.0.1", "spare", NULL };
    char **reply = sq_control (proxy->control, route, SQ_WAIT_MS);
    SQ_CHECK (reply && reply [0] && strcmp (reply [0], "OK") == 0);
    sq_strv_destroy (&reply);

    const char *commands [] = { "LIST", "WORKERS", "CLIENTS" };
    const size_t rows [] = { 3, 1, 1 };
    for (size_t index = 0; index < 3; index++) {
        const char *piped [] = { "--control", proxy->control, commands [index], NULL };
        char *json, *table, *raw;
        SQ_CHECK_EQ (s_run_ctl (piped, &json), 0);
        SQ_CHECK_MSG (sq_json_valid (json), "%s into a pipe: '%s'", commands [index], json);
        SQ_CHECK_EQ (s_run_tty (piped, &table, NULL), 0);
        s_check_table (json, table, rows [index]);
        //  A connection names its service
        if (index == 0)
            SQ_CHECK_MSG (strncmp (table, "SERVICE ", 8) == 0, "LIST: '%s'", table);
        free (table);
        const char *forced [] = { "--control", proxy->control, "--table", commands [index],
                                  NULL };
        SQ_CHECK_EQ (s_run_ctl (forced, &table), 0);
        s_check_table (json, table, rows [index]);
        free (table);
        const char *raw_args [] = { "--control", proxy->control, "--raw", commands [index],
                                    NULL };
        SQ_CHECK_EQ (s_run_tty (raw_args, &raw, NULL), 0);
        SQ_CHECK_STR (raw, json);
        free (raw);
        free (json);
    }
    //  What has no table is indented JSON on a terminal
    const char *stats [] = { "--control", proxy->control, "STATS", NULL };
    char *out;
    SQ_CHECK_EQ (s_run_tty (stats, &out, NULL), 0);
    SQ_CHECK_MSG (sq_json_valid (out) && strncmp (out, "{\n  \"", 5) == 0, "'%s'", out);
    free (out);

    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    sq_worker_destroy (&spare);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A control peer that answers BANS requests with given replies, in turn
typedef struct {
    void *socket;
    const char **replies [4];   //  Frames of each reply, NULL-terminated
    int answered;
} s_control_peer_t;

static void *
s_control_peer_run (void *argument)
{
    s_control_peer_t *self = argument;
    for (int turn = 0; self->replies [turn]; turn++) {
        sq_msg_t *request = sq_msg_recv (self->socket, SQ_WAIT_MS);
        if (!request)
            break;
        //  Routing id and delimiter back, then the reply
        sq_msg_t *answer = sq_msg_new ();
        for (size_t index = 0; index < request->count && index < 2; index++)
            sq_msg_add (answer, request->data [index], request->size [index]);
        for (size_t index = 0; self->replies [turn][index]; index++)
            sq_msg_addstr (answer, self->replies [turn][index]);
        bool bans = request->count == 3 && strcmp ((char *) request->data [2], "BANS") == 0;
        if (bans && sq_msg_send (answer, self->socket) == 0)
            self->answered++;
        sq_msg_destroy (&answer);
        sq_msg_destroy (&request);
    }
    return NULL;
}

//  BANS: a table of key, failures and remaining_ms on a terminal; and a
//  proxy that does not know the command is said to be older, exit 1
static void
test_ctl_bans (void)
{
    void *ctx = zmq_ctx_new ();
    s_control_peer_t peer = { zmq_socket (ctx, ZMQ_ROUTER), { NULL }, 0 };
    int linger = 0;
    zmq_setsockopt (peer.socket, ZMQ_LINGER, &linger, sizeof linger);
    SQ_CHECK_EQ (zmq_bind (peer.socket, "tcp://127.0.0.1:*"), 0);
    char endpoint [256];
    size_t size = sizeof endpoint;
    SQ_CHECK_EQ (zmq_getsockopt (peer.socket, ZMQ_LAST_ENDPOINT, endpoint, &size), 0);
    const char *bans [] = {
        "[{\"key\":\"10.0.0.7\",\"failures\":5,\"remaining_ms\":29000},"
        "{\"key\":\"192.168.100.200\",\"failures\":12,\"remaining_ms\":450}]", NULL
    };
    const char *none [] = { "[]", NULL };
    const char *unknown [] = { "ERROR", "unknown command 'BANS'", NULL };
    peer.replies [0] = bans;
    peer.replies [1] = none;
    peer.replies [2] = unknown;
    pthread_t thread;
    SQ_CHECK_EQ (pthread_create (&thread, NULL, s_control_peer_run, &peer), 0);

    const char *args [] = { "--control", endpoint, "BANS", NULL };
    char *out, *err;
    SQ_CHECK_EQ (s_run_tty (args, &out, NULL), 0);
    s_check_table (bans [0], out, 2);
    const char *header = "KEY              FAILURES  REMAINING_MS\n";
    SQ_CHECK_MSG (strncmp (out, header, strlen (header)) == 0, "'%s'", out);
    free (out);
    SQ_CHECK_EQ (s_run_tty (args, &out, NULL), 0);
    SQ_CHECK_STR (out, "(none)\n");
    free (out);
    SQ_CHECK_EQ (s_run_tty (args, &out, &err), 1);
    SQ_CHECK_MSG (*out == 0 && strstr (err, "streamq-ctl: error: unknown command 'BANS'\n")
                  && strstr (err, "this proxy does not know BANS"), "'%s' / '%s'", out, err);
    free (out);
    free (err);
    pthread_join (thread, NULL);
    SQ_CHECK_EQ (peer.answered, 3);
    zmq_close (peer.socket);
    zmq_ctx_term (ctx);
}

//  The interface: every reply frame on its own line on stdout, the
//  "ERROR" reply too
static void
test_ctl_error_output (void)
{
    char binary [512];
    sq_build_path ("streamq-ctl", binary, sizeof binary);
    if (access (binary, X_OK) != 0) {
        printf ("# note: %s is missing, streamq-ctl checks skipped\n", binary);
        return;
    }
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (proxy);
    const char *foo [] = { "--control", proxy->control, "FOO", NULL };
    char *out, *err;
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", foo, &out, &err), 1);
    //  An error is not a result: nothing on stdout, the reason on stderr
    SQ_CHECK_MSG (out [0] == 0 && strstr (err, "streamq-ctl: error: unknown command 'FOO'"),
                  "FOO printed '%s' on stdout ('%s' on stderr)", out, err);
    free (out);
    free (err);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A low soft limit on open files is raised to the hard one, and logged
static void
test_raises_file_limit (void)
{
    //  valgrind keeps the limit its client starts with: nothing to see
    if (getenv ("SQ_PROXY_WRAPPER")) {
        printf ("# note: the proxy runs under SQ_PROXY_WRAPPER, not checked\n");
        return;
    }
    struct rlimit saved;
    SQ_CHECK (getrlimit (RLIMIT_NOFILE, &saved) == 0);
    if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max <= 256) {
        printf ("# note: hard open-file limit %llu, nothing to raise\n",
                (unsigned long long) saved.rlim_max);
        return;
    }
    struct rlimit low = { 256, saved.rlim_max };
    SQ_CHECK (setrlimit (RLIMIT_NOFILE, &low) == 0);
    sq_proxy_t *proxy = sq_proxy_start ("test_cli", NULL);
    SQ_CHECK (setrlimit (RLIMIT_NOFILE, &saved) == 0);
    SQ_CHECK (proxy);
    char expected [96];
    if (saved.rlim_max == RLIM_INFINITY)
        snprintf (expected, sizeof expected, "info  open files: no limit");
    else
        snprintf (expected, sizeof expected, "info  open files: up to %llu ",
                  (unsigned long long) saved.rlim_max);
    char *log = sq_file_read (proxy->log_path);
    SQ_CHECK (log);
    bool found = strstr (log, expected) != NULL;
    free (log);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    SQ_CHECK_MSG (found, "no '%s' in the log", expected);
}

int
main (void)
{
    SQ_RUN (test_help);
    SQ_RUN (test_version);
    SQ_RUN (test_bad_arguments);
    SQ_RUN (test_bind_conflict);
    SQ_RUN (test_log_format);
    SQ_RUN (test_sigterm);
    SQ_RUN (test_sigint);
    SQ_RUN (test_terminate);
    SQ_RUN (test_ping);
    SQ_RUN (test_unknown_command);
    SQ_RUN (test_pause_resume);
    SQ_RUN (test_ctl);
    SQ_RUN (test_ctl_error_output);
    SQ_RUN (test_ctl_usage);
    SQ_RUN (test_ctl_stats_field);
    SQ_RUN (test_ctl_tables);
    SQ_RUN (test_ctl_bans);
    SQ_RUN (test_raises_file_limit);
    return sq_test_summary ();
}
