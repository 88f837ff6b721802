/*  =========================================================================
    test_cli - command line, signals, log format, control socket, and
    the streamq-ctl tool
    =========================================================================
*/
#include <sys/resource.h>
#include "sq_test.h"
#include "sq_harness.h"

#include <regex.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

    const char *nothing [] = { NULL };
    SQ_CHECK_EQ (s_run_ctl (nothing, NULL), 2);

    int dead_fd;
    char dead [64];
    snprintf (dead, sizeof dead, "tcp://127.0.0.1:%d", s_dead_port (&dead_fd));
    const char *unreachable [] = { "--control", dead, "--timeout", "500", "PING", NULL };
    SQ_CHECK_EQ (s_run_ctl (unreachable, NULL), 2);
    close (dead_fd);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
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
    SQ_RUN (test_raises_file_limit);
    return sq_test_summary ();
}
