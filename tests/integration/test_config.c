/*  =========================================================================
    test_config - the configuration file, its reload, and draining

    --config reads options from a ZPL file, the command line overriding
    it; --check-config says what is wrong and where; --print-config shows
    what is in force. The example file ships with the defaults, which a
    test checks against the proxy's own. SIGHUP applies what can change
    live. DRAIN ALL and SIGUSR1 stop the proxy once its pairs are done.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

SQ_TEST_DEFINE

//  Writes text to a file in the build directory; returns its path
static const char *
s_write (const char *name, const char *text)
{
    static char paths [8][512];
    static int next = 0;
    char *path = paths [next++ % 8];
    char file [256];
    snprintf (file, sizeof file, "tests/test_config-%s", name);
    sq_build_path (file, path, 512);
    FILE *out = fopen (path, "w");
    if (!out)
        return NULL;
    fputs (text, out);
    fclose (out);
    return path;
}

//  True when the proxy's log gets a line holding text within SQ_WAIT_MS
static bool
s_log_shows (sq_proxy_t *proxy, const char *text)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline) {
        char *log = sq_file_read (proxy->log_path);
        bool found = log && strstr (log, text);
        free (log);
        if (found)
            return true;
        sq_sleep_ms (50);
    }
    fprintf (stderr, "the log never showed '%s'\n", text);
    sq_proxy_print_log (proxy, 20);
    return false;
}

//  True when the example names an option, or the option is about options
//  (--config, --help...). A side's option may be a child of the side.
static bool
s_in_example (const char *example, const char *name)
{
    const char *meta [] = { "config", "check-config", "bind", "print-config", "help",
                            "version" };
    for (size_t index = 0; index < sizeof meta / sizeof meta [0]; index++)
        if (strcmp (name, meta [index]) == 0)
            return true;
    const char *child = strncmp (name, "frontend-", 9) == 0? name + 9
                      : strncmp (name, "backend-", 8) == 0? name + 8: name;
    return strstr (example, name) || strstr (example, child);
}

//  The example ships the defaults: read, it changes nothing, and it names
//  every option of --help
static void
test_example_is_the_defaults (void)
{
    char *with = NULL, *without = NULL, *help = NULL;
    const char *check [] = { "--config", "examples/streamq.cfg", "--check-config", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", check, NULL, NULL), 0);
    const char *print_with [] = { "--config", "examples/streamq.cfg", "--print-config", NULL };
    const char *print_without [] = { "--print-config", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", print_with, &with, NULL), 0);
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", print_without, &without, NULL), 0);
    SQ_CHECK (with && without && strlen (without) > 500);
    SQ_CHECK_STR (with, without);
    const char *usage [] = { "--help", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", usage, &help, NULL), 0);
    char *example = sq_file_read ("examples/streamq.cfg");
    SQ_CHECK (example && help);
    //  Options are the "--name" words of the lines that start with one
    for (char *line = strtok (help, "\n"); line; line = strtok (NULL, "\n")) {
        if (strncmp (line, "  --", 4) != 0)
            continue;
        for (const char *at = strstr (line, "--"); at; at = strstr (at + 2, "--")) {
            char name [64];
            if (sscanf (at + 2, "%63[a-z0-9-]", name) == 1)
                SQ_CHECK_MSG (s_in_example (example, name),
                              "--%s is not in examples/streamq.cfg", name);
        }
    }
    free (example);
    free (help);
    free (with);
    free (without);
}

//  --check-config says which line is wrong and why, and exits 2
static void
test_check_config_errors (void)
{
    struct { const char *text, *expected; } cases [] = {
        { "max-queue = lots\n", "line 1: invalid value 'lots' for --max-queue" },
        { "# fine\nnonsense = 1\n", "line 2: unknown option 'nonsense'" },
        { "frontend\n  allow = x\n", "line 2: indentation" },
        { "frontend\n    allow = \"300.0.0.1\"\n", "line 2: invalid value '300.0.0.1'" },
        { "control-open-read = maybe\n", "line 1: invalid value 'maybe'" },
        { "max-queue\n", "line 1: invalid value '' for --max-queue" },
        { "rules\n    alias = \"backend 10.0.0.0/8 b\"\n    route = \"a\"\n",
          "line 3: usage: ROUTE" },
        { "rules\n    colour = \"red\"\n", "line 2: 'rules' holds" },
        { "slow-peer = \"fast\n", "line 1: value has no closing quote" },
        { "max-pair-buffer = 1G\nmax-buffer = 1M\n", "larger than" },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        const char *path = s_write ("bad.cfg", cases [index].text);
        SQ_CHECK (path);
        const char *args [] = { "--config", path, "--check-config", NULL };
        char *err = NULL;
        int code = sq_run_program ("streamq-proxy", args, NULL, &err);
        SQ_CHECK_MSG (code == 2 && err && strstr (err, cases [index].expected),
                      "case %zu: exit %d, stderr: %s", index, code, err? err: "");
        free (err);
    }
    const char *missing [] = { "--config", "/nonexistent/streamq.cfg", "--check-config", NULL };
    char *err = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", missing, NULL, &err), 2);
    SQ_CHECK (err && strstr (err, "cannot open"));
    free (err);
}

//  The command line overrides the file, a repeatable option as a whole
static void
test_command_line_overrides (void)
{
    const char *path = s_write ("override.cfg",
        "max-queue = 50\n"
        "queue-timeout = 700\n"
        "frontend\n"
        "    allow = \"10.0.0.0/8\"\n"
        "    allow = \"192.0.2.1\"\n"
        "control-open-read\n"
        //  Open-read needs a key; --print-config reads no file it names
        "control-key = \"proxy.key_secret\"\n"
        "control-clients = \"clients\"\n");
    const char *args [] = {
        "--config", path, "--max-queue", "7", "--frontend-allow", "127.0.0.1",
        "--print-config", NULL
    };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", args, &out, NULL), 0);
    SQ_CHECK (out);
    SQ_CHECK (strstr (out, "max-queue = \"7\""));
    SQ_CHECK (strstr (out, "queue-timeout = \"700\""));
    SQ_CHECK (strstr (out, "frontend-allow = \"127.0.0.1\""));
    SQ_CHECK (strstr (out, "control-open-read = \"true\""));
    free (out);
}

//  A running proxy takes its options and rules from the file
static void
test_running_with_a_file (void)
{
    const char *path = s_write ("run.cfg",
        "frontend\n"
        "    deny = \"127.0.0.9\"\n"
        "max-queue = 3\n"
        "rules\n"
        "    alias = \"backend 127.0.0.0/8 local-workers\"\n"
        "    weight = \"local-workers 5\"\n");
    const char *args [] = { "--config", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_config", args);
    SQ_CHECK (proxy);
    char *routes = sq_control_str (proxy->control, "ROUTES");
    SQ_CHECK (routes && strstr (routes, "local-workers"));
    free (routes);
    char from [300];
    SQ_CHECK (sq_endpoint_from (proxy->frontend, "127.0.0.9", 0, from, sizeof from));
    void *ctx = zmq_ctx_new ();
    void *denied = sq_peer_new (ctx, ZMQ_DEALER, NULL, from);
    SQ_CHECK (denied);
    SQ_CHECK (sq_stats_wait_min (proxy->control, "frontend.refused.denied", 1, SQ_WAIT_MS));
    zmq_close (denied);
    zmq_ctx_term (ctx);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  SIGHUP: what can change live does; the rest is logged; a bad file
//  changes nothing
static void
test_reload (void)
{
    const char *path = s_write ("reload.cfg", "max-pair-buffer = 1M\nlog-level = info\n");
    const char *args [] = { "--config", path, NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_config", args);
    SQ_CHECK (proxy);
    long long value = 0;
    SQ_CHECK (sq_stats (proxy->control, "held.max_pair", &value));
    SQ_CHECK_EQ (value, 1024 * 1024);
    SQ_CHECK (s_write ("reload.cfg",
        "max-pair-buffer = 2M\n"
        "frontend = \"tcp://127.0.0.1:1\"\n"
        "rules\n"
        "    alias = \"frontend 127.0.0.0/8 reloaded-clients\"\n"));
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    SQ_CHECK (s_log_shows (proxy, "reload: configuration applied"));
    SQ_CHECK (sq_stats (proxy->control, "held.max_pair", &value));
    SQ_CHECK_EQ (value, 2 * 1024 * 1024);
    char *routes = sq_control_str (proxy->control, "ROUTES");
    SQ_CHECK (routes && strstr (routes, "reloaded-clients"));
    free (routes);
    //  The frontend is given on the command line too: the command line
    //  wins, so nothing needs a restart; a file-only change would
    SQ_CHECK (s_write ("reload.cfg", "max-pair-buffer = 3M\nio-threads = 2\n"));
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    SQ_CHECK (s_log_shows (proxy, "--io-threads changed: it needs a restart"));
    //  A bad file: refused, the configuration in force stays
    SQ_CHECK (s_write ("reload.cfg", "max-pair-buffer = tiny\n"));
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    SQ_CHECK (s_log_shows (proxy, "keeping the one in force"));
    SQ_CHECK (sq_stats (proxy->control, "held.max_pair", &value));
    SQ_CHECK_EQ (value, 3 * 1024 * 1024);
    char *pong = sq_control_str (proxy->control, "PING");
    SQ_CHECK_STR (pong, "PONG");
    free (pong);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Waits for the proxy process to exit by itself; its exit code, or -1
static int
s_wait_exit (sq_proxy_t **proxy_p)
{
    return sq_proxy_stop_with (proxy_p, 0);
}

//  DRAIN ALL: idle workers and new connections are refused, the pair in
//  progress goes on, and the proxy exits 0 when it ends
static void
test_drain_all (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_config", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    sq_worker_t *spare = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker && spare);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK_EQ (sq_send_str (client, "before"), 0);
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "before");
    free (reply);
    const char *drain [] = { "DRAIN", "ALL", NULL };
    char **answer = sq_control (proxy->control, drain, SQ_WAIT_MS);
    SQ_CHECK (answer && strcmp (answer [0], "OK") == 0);
    sq_strv_destroy (&answer);
    //  The idle worker connection is closed; it redials and is refused
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait_min (proxy->control, "backend.refused.draining", 1, SQ_WAIT_MS));
    //  The pair goes on
    SQ_CHECK_EQ (sq_send_str (client, "during"), 0);
    reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "during");
    free (reply);
    SQ_CHECK (kill (proxy->pid, 0) == 0);
    //  The client leaves: the proxy has nothing left and exits 0
    zmq_close (client);
    SQ_CHECK (s_log_shows (proxy, "drained: every pair has finished"));
    SQ_CHECK_EQ (s_wait_exit (&proxy), 0);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    sq_worker_destroy (&spare);
}

//  SIGUSR1 drains too; a pair that does not end is closed at the timeout
static void
test_drain_timeout (void)
{
    const char *args [] = { "--drain-timeout", "500", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_config", args);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker);
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK_EQ (sq_send_str (client, "stay"), 0);
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "stay");
    free (reply);
    SQ_CHECK_EQ (kill (proxy->pid, SIGUSR1), 0);
    SQ_CHECK (s_log_shows (proxy, "drain timeout: closing 1 pairs"));
    SQ_CHECK_EQ (s_wait_exit (&proxy), 0);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
}

int
main (void)
{
    SQ_RUN (test_example_is_the_defaults);
    SQ_RUN (test_check_config_errors);
    SQ_RUN (test_command_line_overrides);
    SQ_RUN (test_running_with_a_file);
    SQ_RUN (test_reload);
    SQ_RUN (test_drain_all);
    SQ_RUN (test_drain_timeout);
    return sq_test_summary ();
}
