/*  =========================================================================
    test_limits - who may connect, how many, how often, with what mechanism

    Every limit closes a new connection at once and counts it under
    <side>.refused.<reason> in STATS: --max-connections, --max-connections-
    per-ip, --max-connection-rate, and the allow/deny lists of both sides,
    over IPv4 and IPv6. --frontend-mechanisms / --backend-mechanisms close a
    peer at its greeting. Running out of file descriptors is survived and
    counted. Raw TCP peers stand for clients and workers: the proxy greets
    every connection it admits, so an admitted one stays open and a refused
    one sees EOF at once. Peers on 127.0.0.2 and up come from other IPs
    (Linux routes all of 127.0.0.0/8 to loopback).
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <errno.h>
#include <dirent.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

SQ_TEST_DEFINE

#define S_MAX_FDS 64

//  Connects a raw TCP socket from source (an IP, or NULL for any) to the
//  port of endpoint on host (an IPv4 or IPv6 literal); -1 on failure
static int
s_tcp_from (const char *source, const char *host, const char *endpoint)
{
    int port = sq_endpoint_port (endpoint);
    bool v6 = strchr (host, ':') != NULL;
    struct sockaddr_storage to, from;
    memset (&to, 0, sizeof to);
    memset (&from, 0, sizeof from);
    socklen_t size = v6? sizeof (struct sockaddr_in6): sizeof (struct sockaddr_in);
    if (v6) {
        struct sockaddr_in6 *to6 = (struct sockaddr_in6 *) &to;
        to6->sin6_family = AF_INET6;
        to6->sin6_port = htons ((uint16_t) port);
        inet_pton (AF_INET6, host, &to6->sin6_addr);
        ((struct sockaddr_in6 *) &from)->sin6_family = AF_INET6;
        if (source)
            inet_pton (AF_INET6, source, &((struct sockaddr_in6 *) &from)->sin6_addr);
    }
    else {
        struct sockaddr_in *to4 = (struct sockaddr_in *) &to;
        to4->sin_family = AF_INET;
        to4->sin_port = htons ((uint16_t) port);
        inet_pton (AF_INET, host, &to4->sin_addr);
        ((struct sockaddr_in *) &from)->sin_family = AF_INET;
        if (source)
            inet_pton (AF_INET, source, &((struct sockaddr_in *) &from)->sin_addr);
    }
    int fd = socket (v6? AF_INET6: AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    if ((source && bind (fd, (struct sockaddr *) &from, size) == -1)
    ||  connect (fd, (struct sockaddr *) &to, size) == -1) {
        fprintf (stderr, "s_tcp_from %s -> %s: %s\n", source? source: "any", endpoint,
                 strerror (errno));
        close (fd);
        return -1;
    }
    return fd;
}

//  True when the proxy closed the connection (it may first send its
//  11-byte greeting, which sq_tcp_wait_closed reads and drops)
static bool
s_refused (int fd)
{
    return fd >= 0 && sq_tcp_wait_closed (fd, SQ_WAIT_MS);
}

//  The connections s_admitted saw greeted, for s_kept to check together
static int s_greeted [16];
static size_t s_greeted_count;

//  True when the proxy sent the connection its greeting; s_kept then
//  tells whether it also kept it
static bool
s_admitted (int fd)
{
    uint8_t hello [11];
    if (fd < 0 || sq_tcp_recv (fd, hello, sizeof hello, SQ_WAIT_MS) != sizeof hello
    ||  s_greeted_count == sizeof s_greeted / sizeof s_greeted [0])
        return false;
    s_greeted [s_greeted_count++] = fd;
    return true;
}

//  True when every connection s_admitted saw greeted since the last call
//  is still open after one quiet period (one for all of them, not one
//  each); forgets them
static bool
s_kept (void)
{
    sq_sleep_ms (SQ_QUIET_MS);
    bool kept = true;
    for (size_t index = 0; index < s_greeted_count; index++)
        if (sq_tcp_wait_closed (s_greeted [index], 1)) {
            fprintf (stderr, "connection %zu of %zu was closed\n", index + 1, s_greeted_count);
            kept = false;
        }
    s_greeted_count = 0;
    return kept;
}

static void
s_close_all (int *fds, size_t count)
{
    for (size_t index = 0; index < count; index++)
        if (fds [index] >= 0)
            close (fds [index]);
}

//  A proxy whose admitted peers wait a long time for their greeting, and
//  for their first command (a greeted client is given an idle worker's
//  greeting, then screened), and in the queue
static sq_proxy_t *
s_proxy (const char **extra)
{
    const char *args [24] = {
        "--greeting-timeout", "600000", "--handshake-timeout", "600000",
        "--queue-timeout", "600000"
    };
    size_t count = 6;
    s_greeted_count = 0;            //  Those of a test that failed
    for (size_t index = 0; extra && extra [index] && count < 23; index++)
        args [count++] = extra [index];
    args [count] = NULL;
    return sq_proxy_start ("test_limits", args);
}

//  ---------------------------------------------------------------------

static void
test_max_connections (void)
{
    const char *args [] = { "--max-connections", "3", NULL };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    for (int side = 0; side < 2; side++) {
        const char *endpoint = side == 0? proxy->frontend: proxy->backend;
        const char *name = side == 0? "frontend": "backend";
        char path [64];
        int fds [4];
        for (int index = 0; index < 3; index++) {
            fds [index] = s_tcp_from (NULL, "127.0.0.1", endpoint);
            SQ_CHECK (fds [index] >= 0);
        }
        snprintf (path, sizeof path, "%s.connections", name);
        SQ_CHECK (sq_stats_wait (proxy->control, path, 3, SQ_WAIT_MS));
        fds [3] = s_tcp_from (NULL, "127.0.0.1", endpoint);
        SQ_CHECK (s_refused (fds [3]));
        snprintf (path, sizeof path, "%s.refused.max_connections", name);
        SQ_CHECK_EQ (sq_stat (proxy, path), 1);
        //  One leaves: there is room for one more
        close (fds [0]);
        close (fds [3]);
        snprintf (path, sizeof path, "%s.connections", name);
        SQ_CHECK (sq_stats_wait (proxy->control, path, 2, SQ_WAIT_MS));
        fds [0] = s_tcp_from (NULL, "127.0.0.1", endpoint);
        SQ_CHECK (s_admitted (fds [0]));
        SQ_CHECK (s_kept ());
        s_close_all (fds, 3);
    }
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_max_connections_per_ip (void)
{
    const char *args [] = { "--max-connections-per-ip", "2", NULL };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    int fds [5];
    fds [0] = s_tcp_from ("127.0.0.2", "127.0.0.1", proxy->frontend);
    fds [1] = s_tcp_from ("127.0.0.2", "127.0.0.1", proxy->frontend);
    SQ_CHECK (sq_stats_wait (proxy->control, "frontend.connections", 2, SQ_WAIT_MS));
    fds [2] = s_tcp_from ("127.0.0.2", "127.0.0.1", proxy->frontend);
    SQ_CHECK (s_refused (fds [2]));
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.refused.per_ip"), 1);
    //  Another IP, and the same IP on the other side, have their own counts
    fds [3] = s_tcp_from ("127.0.0.3", "127.0.0.1", proxy->frontend);
    SQ_CHECK (s_admitted (fds [3]));
    fds [4] = s_tcp_from ("127.0.0.2", "127.0.0.1", proxy->backend);
    SQ_CHECK (s_admitted (fds [4]));
    //  When one of the first two leaves, 127.0.0.2 may connect again
    close (fds [0]);
    SQ_CHECK (sq_stats_wait (proxy->control, "frontend.connections", 2, SQ_WAIT_MS));
    close (fds [2]);
    fds [0] = s_tcp_from ("127.0.0.2", "127.0.0.1", proxy->frontend);
    fds [2] = -1;
    SQ_CHECK (s_admitted (fds [0]));
    SQ_CHECK (s_kept ());
    s_close_all (fds, 5);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

static void
test_max_connections_per_ip_v6 (void)
{
    const char *args [] = {
        "--max-connections-per-ip", "1", "--frontend", "tcp://[::1]:*", NULL
    };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    SQ_CHECK (strstr (proxy->frontend, "[::1]"));
    int first = s_tcp_from (NULL, "::1", proxy->frontend);
    SQ_CHECK (s_admitted (first));
    int second = s_tcp_from (NULL, "::1", proxy->frontend);
    SQ_CHECK (s_refused (second));
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.refused.per_ip"), 1);
    SQ_CHECK (s_kept ());
    close (first);
    close (second);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Bursts of --max-connection-rate are let in, more are refused, and the
//  bucket fills again with time
static void
test_connection_rate (void)
{
    const char *args [] = { "--max-connection-rate", "5", NULL };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    int fds [20];
    for (int index = 0; index < 20; index++)
        fds [index] = s_tcp_from ("127.0.0.4", "127.0.0.1", proxy->frontend);
    long long refused = 0, accepted = 0;
    SQ_CHECK (sq_stats_wait_min (proxy->control, "frontend.refused.rate", 1, SQ_WAIT_MS));
    //  Every attempt is decided: admitted or refused for its rate
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline) {
        refused = sq_stat (proxy, "frontend.refused.rate");
        accepted = sq_stat (proxy, "frontend.accepted");
        if (refused + accepted == 20)
            break;
        sq_sleep_ms (50);
    }
    SQ_CHECK_EQ (refused + accepted, 20);
    SQ_CHECK (accepted >= 5);
    //  Another IP is not affected
    int other = s_tcp_from ("127.0.0.5", "127.0.0.1", proxy->frontend);
    SQ_CHECK (s_admitted (other));
    //  A second later the bucket has room again
    sq_sleep_ms (1500);
    int again = s_tcp_from ("127.0.0.4", "127.0.0.1", proxy->frontend);
    SQ_CHECK (s_admitted (again));
    SQ_CHECK (s_kept ());
    close (other);
    close (again);
    s_close_all (fds, 20);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Allow and deny lists on one side; a deny wins over an allow
static void
test_allow_deny_v4 (void)
{
    const char *args [] = {
        "--frontend-allow", "127.0.0.2,127.0.0.8/29",
        "--frontend-deny", "127.0.0.9",
        "--backend-deny", "127.0.0.0/30",
        NULL
    };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    int fds [7];
    fds [0] = s_tcp_from ("127.0.0.2", "127.0.0.1", proxy->frontend);
    fds [1] = s_tcp_from ("127.0.0.10", "127.0.0.1", proxy->frontend);
    fds [2] = s_tcp_from ("127.0.0.3", "127.0.0.1", proxy->frontend);
    fds [3] = s_tcp_from ("127.0.0.9", "127.0.0.1", proxy->frontend);
    fds [4] = s_tcp_from ("127.0.0.1", "127.0.0.1", proxy->backend);
    fds [5] = s_tcp_from ("127.0.0.3", "127.0.0.1", proxy->backend);
    fds [6] = s_tcp_from ("127.0.0.4", "127.0.0.1", proxy->backend);
    SQ_CHECK (s_admitted (fds [0]));
    SQ_CHECK (s_admitted (fds [1]));
    SQ_CHECK (s_refused (fds [2]));         //  In no allow block
    SQ_CHECK (s_refused (fds [3]));         //  Allowed, but denied
    SQ_CHECK (s_refused (fds [4]));
    SQ_CHECK (s_refused (fds [5]));
    SQ_CHECK (s_admitted (fds [6]));        //  Outside 127.0.0.0/30
    SQ_CHECK (s_kept ());
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.refused.denied"), 2);
    SQ_CHECK_EQ (sq_stat (proxy, "backend.refused.denied"), 2);
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.connections"), 2);
    SQ_CHECK_EQ (sq_stat (proxy, "backend.connections"), 1);
    s_close_all (fds, 7);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  IPv6 rules match IPv6 peers; IPv4 rules never do
static void
test_allow_deny_v6 (void)
{
    const char *deny [] = { "--frontend", "tcp://[::1]:*", "--frontend-deny", "::1", NULL };
    sq_proxy_t *proxy = s_proxy (deny);
    SQ_CHECK (proxy);
    SQ_CHECK (s_refused (s_tcp_from (NULL, "::1", proxy->frontend)));
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.refused.denied"), 1);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);

    const char *allow [] = {
        "--frontend", "tcp://[::1]:*", "--frontend-allow", "::/127,fd00::/8", NULL
    };
    proxy = s_proxy (allow);
    SQ_CHECK (proxy);
    int fd = s_tcp_from (NULL, "::1", proxy->frontend);
    SQ_CHECK (s_admitted (fd));
    SQ_CHECK (s_kept ());
    close (fd);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);

    const char *v4_only [] = {
        "--frontend", "tcp://[::1]:*", "--frontend-allow", "127.0.0.0/8", NULL
    };
    proxy = s_proxy (v4_only);
    SQ_CHECK (proxy);
    SQ_CHECK (s_refused (s_tcp_from (NULL, "::1", proxy->frontend)));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  The control socket on IPv6 loopback, reached by streamq-ctl
static void
test_control_ipv6 (void)
{
    const char *args [] = { "--control", "tcp://[::1]:*", NULL };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    SQ_CHECK (strncmp (proxy->control, "tcp://[::1]:", 12) == 0);
    char ctl [512];
    sq_build_path ("streamq-ctl", ctl, sizeof ctl);
    const char *argv [] = { ctl, "--control", proxy->control, "PING", NULL };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run (argv, SQ_WAIT_MS, &out, NULL), 0);
    SQ_CHECK (out && strstr (out, "PONG"));
    free (out);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A proxy bound to [::] sees an IPv4 client as ::ffff:a.b.c.d; IPv4
//  rules still apply to it
static void
test_ipv4_mapped (void)
{
    const char *args [] = {
        "--frontend", "tcp://[::]:*", "--frontend-deny", "127.0.0.6", NULL
    };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    SQ_CHECK (s_refused (s_tcp_from ("127.0.0.6", "127.0.0.1", proxy->frontend)));
    int fd = s_tcp_from ("127.0.0.7", "127.0.0.1", proxy->frontend);
    SQ_CHECK (s_admitted (fd));
    char *list = sq_control_str (proxy->control, "LIST");
    SQ_CHECK (list);
    bool v4 = strstr (list, "\"127.0.0.7:") != NULL;
    free (list);
    SQ_CHECK (v4);
    SQ_CHECK (s_kept ());
    close (fd);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  Mechanisms

//  A ZMTP 3.0 greeting naming a mechanism
static void
s_greeting (uint8_t *greeting, const char *mechanism)
{
    memset (greeting, 0, 64);
    greeting [0] = 0xFF;
    greeting [9] = 0x7F;
    greeting [10] = 3;
    memcpy (greeting + 12, mechanism, strlen (mechanism));
}

static void
test_mechanisms (void)
{
    const char *args [] = {
        "--frontend-mechanisms", "curve", "--backend-mechanisms", "CURVE,PLAIN", NULL
    };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    uint8_t greeting [64];
    struct { const char *endpoint, *mechanism; bool allowed; } cases [] = {
        { proxy->frontend, "NULL", false },
        { proxy->frontend, "PLAIN", false },
        { proxy->frontend, "CURVE", true },
        { proxy->backend, "NULL", false },
        { proxy->backend, "PLAIN", true },
        { proxy->backend, "CURVE", true },
    };
    int fds [6];
    for (int index = 0; index < 6; index++) {
        fds [index] = s_tcp_from (NULL, "127.0.0.1", cases [index].endpoint);
        SQ_CHECK (fds [index] >= 0);
        s_greeting (greeting, cases [index].mechanism);
        SQ_CHECK_EQ (sq_tcp_send (fds [index], greeting, sizeof greeting), 0);
    }
    for (int index = 0; index < 6; index++)
        SQ_CHECK_MSG (cases [index].allowed? s_admitted (fds [index]): s_refused (fds [index]),
                      "case %d (%s)", index, cases [index].mechanism);
    SQ_CHECK (s_kept ());
    SQ_CHECK_EQ (sq_stat (proxy, "frontend.rejected_mechanism"), 2);
    SQ_CHECK_EQ (sq_stat (proxy, "backend.rejected_mechanism"), 1);
    SQ_CHECK_EQ (sq_stat (proxy, "rejected.mechanism"), 3);
    s_close_all (fds, 6);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  With CURVE required on both sides, a real CURVE pair still works
static void
test_mechanisms_curve_pair (void)
{
    const char *args [] = {
        "--frontend-mechanisms", "CURVE", "--backend-mechanisms", "CURVE", NULL
    };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    char server_public [41], server_secret [41], client_public [41], client_secret [41];
    SQ_CHECK_EQ (zmq_curve_keypair (server_public, server_secret), 0);
    SQ_CHECK_EQ (zmq_curve_keypair (client_public, client_secret), 0);
    sq_security_t server = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = server_public, .secret_key = server_secret
    };
    sq_worker_config_t config = { .type = ZMQ_DEALER, .connections = 1, .security = &server };
    sq_worker_t *worker = sq_worker_new (proxy->backend, &config);
    SQ_CHECK (worker);
    void *ctx = zmq_ctx_new ();
    sq_security_t client_security = {
        .mechanism = SQ_CURVE, .server_key = server_public,
        .public_key = client_public, .secret_key = client_secret
    };
    void *client = sq_peer_new (ctx, ZMQ_DEALER, &client_security, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "curve only"), 0);
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "curve only");
    free (reply);
    SQ_CHECK_EQ (sq_stat (proxy, "rejected.mechanism"), 0);
    zmq_close (client);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  Bad values are refused with exit code 2 and a reason

static void
test_bad_values (void)
{
    char binary [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    const char *cases [][3] = {
        { "--frontend-allow", "300.1.1.1", "300.1.1.1" },
        { "--backend-deny", "10.0.0.0/33", "prefix" },
        { "--frontend-allow", ",", "names no IP" },
        { "--frontend-mechanisms", "CUR VE", "mechanism names" },
        { "--backend-mechanisms", "", "mechanism names" },
        { "--slow-peer", "fast", "'disconnect' or 'block'" },
        { "--engine", "epoll", "'stream' or 'splice'" },
        { "--max-pair-buffer", "1K", "64K" },
        { "--max-buffer", "12Q", "suffix" },
        { "--max-connections", "0", "1 to" },
        { "--max-connections-per-ip", "-1", "0 (no limit)" },
        { "--max-connection-rate", "x", "0 (no limit)" },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        const char *argv [] = { binary, cases [index][0], cases [index][1], NULL };
        char *err = NULL;
        int code = sq_run (argv, SQ_WAIT_MS, NULL, &err);
        SQ_CHECK_MSG (code == 2 && err && strstr (err, cases [index][2]),
                      "%s %s: exit %d, stderr: %s", cases [index][0], cases [index][1],
                      code, err? err: "(none)");
        free (err);
    }
    const char *bigger [] = { binary, "--max-pair-buffer", "2M", "--max-buffer", "1M", NULL };
    char *err = NULL;
    SQ_CHECK_EQ (sq_run (bigger, SQ_WAIT_MS, NULL, &err), 2);
    SQ_CHECK (err && strstr (err, "larger than"));
    free (err);
    //  The splice engine listens on TCP only
    const char *ipc [] = { binary, "--engine", "splice", "--frontend", "ipc:///nonexistent/f",
                           "--control", "tcp://127.0.0.1:*", NULL };
    err = NULL;
    SQ_CHECK_EQ (sq_run (ipc, SQ_WAIT_MS, NULL, &err), 2);
    SQ_CHECK_MSG (err && strstr (err, "expected tcp://HOST:PORT"), "%s", err? err: "(none)");
    free (err);
}

//  ---------------------------------------------------------------------
//  Out of file descriptors

static int
s_open_files (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    int count = 0;
    while (readdir (dir))
        count++;
    closedir (dir);
    return count - 2;
}

//  Sets the soft limit only: raising a hard limit again needs privileges
static bool
s_set_files (pid_t pid, rlim_t files, rlim_t hard)
{
    struct rlimit limit = { files, hard };
    return prlimit (pid, RLIMIT_NOFILE, &limit, NULL) == 0;
}

//  A REQ socket kept open, so STATS still gets through while the proxy
//  cannot accept a new control connection
static long long
s_ask_stat (void *control, const char *path)
{
    if (sq_send_str (control, "STATS") != 0)
        return -1;
    char *json = sq_recv_str (control, SQ_WAIT_MS);
    long long value = -1;
    if (!json || !sq_json_number (json, path, &value))
        value = -1;
    free (json);
    return value;
}

static void
test_out_of_descriptors (void)
{
    const char *args [] = { "--max-connections", "1000", NULL };
    sq_proxy_t *proxy = s_proxy (args);
    SQ_CHECK (proxy);
    struct rlimit before;
    SQ_CHECK (prlimit (proxy->pid, RLIMIT_NOFILE, NULL, &before) == 0);
    void *ctx = zmq_ctx_new ();
    void *control = sq_peer_new (ctx, ZMQ_REQ, NULL, proxy->control);
    SQ_CHECK (control);
    SQ_CHECK (s_ask_stat (control, "frontend.connections") == 0);

    int open = s_open_files (proxy->pid);
    SQ_CHECK (open > 0);
    SQ_CHECK (s_set_files (proxy->pid, (rlim_t) open + 4, before.rlim_max));
    int fds [S_MAX_FDS];
    for (int index = 0; index < 16; index++)
        fds [index] = s_tcp_from (NULL, "127.0.0.1", proxy->frontend);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long failed = 0;
    while (sq_now_ms () < deadline && (failed = s_ask_stat (control, "frontend.accept_failed")) < 1)
        sq_sleep_ms (100);
    SQ_CHECK_MSG (failed >= 1, "accept_failed %lld", failed);
    //  Every pending connection is decided, admitted or refused, and then
    //  the failures stop: no busy loop while descriptors stay short. The
    //  engines differ here: libzmq retries a failed accept, and with the
    //  reserve given back the core refuses what it then accepts; the
    //  splice engine takes each connection it could not accept off the
    //  queue with the reserve and closes it, once per failure.
    long long decided = 0;
    deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline && decided < 16) {
        decided = s_ask_stat (control, "frontend.connections")
                + s_ask_stat (control, "frontend.refused.max_connections");
        if (sq_engine_is ("splice"))
            decided += s_ask_stat (control, "frontend.accept_failed");
        sq_sleep_ms (100);
    }
    SQ_CHECK_EQ (decided, 16);
    long long settled = -1;
    deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline && settled != failed) {
        settled = failed;
        sq_sleep_ms (1000);
        failed = s_ask_stat (control, "frontend.accept_failed");
    }
    SQ_CHECK_MSG (settled == failed, "accept_failed still growing: %lld", failed);
    //  The proxy goes on: it answers, and once descriptors are free again
    //  it serves a real pair
    s_close_all (fds, 16);
    SQ_CHECK (s_set_files (proxy->pid, before.rlim_cur, before.rlim_max));
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker);
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "after the drought"), 0);
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "after the drought");
    free (reply);
    zmq_close (client);
    zmq_close (control);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    char *log = sq_file_read (proxy->log_path);
    bool logged = log && strstr (log, "cannot accept a connection");
    free (log);
    SQ_CHECK (logged);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Idle connections to the control port are bounded: past the cap each
//  new one is closed at once, the ones within it stay, and the control
//  socket still answers
static void
test_control_connections_bounded (void)
{
    const char *args [] = { "--max-control-connections", "4", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_limits", args);
    SQ_CHECK (proxy);
    int fds [10];
    for (int index = 0; index < 10; index++) {
        fds [index] = sq_tcp_connect (proxy->control);
        SQ_CHECK (fds [index] >= 0);
    }
    //  The six past the cap are closed; which ones depends on the order
    //  libzmq accepted them in
    int closed = 0;
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (closed < 6 && sq_now_ms () < deadline) {
        closed = 0;
        for (int index = 0; index < 10; index++)
            if (fds [index] >= 0 && sq_tcp_wait_closed (fds [index], 1)) {
                close (fds [index]);
                fds [index] = -1;
            }
        for (int index = 0; index < 10; index++)
            closed += fds [index] < 0;
        sq_sleep_ms (20);
    }
    SQ_CHECK_EQ (closed, 6);
    sq_sleep_ms (SQ_QUIET_MS);
    for (int index = 0; index < 10; index++)
        if (fds [index] >= 0)
            SQ_CHECK_MSG (!sq_tcp_wait_closed (fds [index], 1), "a connection within the cap closed");
    //  Closing one makes room for a REQ client: the proxy still answers
    for (int index = 0; index < 10; index++)
        if (fds [index] >= 0) {
            close (fds [index]);
            fds [index] = -1;
            break;
        }
    char *pong = sq_control_str (proxy->control, "PING");
    SQ_CHECK (pong && strcmp (pong, "PONG") == 0);
    free (pong);
    for (int index = 0; index < 10; index++)
        if (fds [index] >= 0)
            close (fds [index]);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A libzmq DEALER client dialling the frontend from source_ip
static void *
s_client_from (void *ctx, const sq_proxy_t *proxy, const char *source_ip)
{
    char endpoint [300];
    SQ_CHECK (sq_endpoint_from (proxy->frontend, source_ip, 0, endpoint, sizeof endpoint));
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, endpoint);
    SQ_CHECK (client);
    return client;
}

//  Sends text and checks that its echo comes back
static void
s_echoed (void *client, const char *text)
{
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_MSG (echo && strcmp (echo, text) == 0, "no echo of '%s'", text);
    free (echo);
}

//  CLOSE closes the live pairs of an address block, and only those: a
//  rule would only touch new connections
static void
test_close_live_connections (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_limits", NULL);
    SQ_CHECK (proxy);
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_ROUTER, 3);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 3, SQ_WAIT_MS));
    void *ctx = zmq_ctx_new ();
    void *first = s_client_from (ctx, proxy, "127.0.0.2");
    void *second = s_client_from (ctx, proxy, "127.0.0.2");
    void *other = s_client_from (ctx, proxy, "127.0.0.3");
    s_echoed (first, "one");
    s_echoed (second, "two");
    s_echoed (other, "three");
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 3, SQ_WAIT_MS));
    const char *request [] = { "CLOSE", "frontend", "127.0.0.2/32", NULL };
    char **reply = sq_control (proxy->control, request, SQ_WAIT_MS);
    SQ_CHECK (reply && sq_strv_size (reply) == 2);
    SQ_CHECK_STR (reply [0], "OK");
    SQ_CHECK_STR (reply [1], "2");
    sq_strv_destroy (&reply);
    //  Both pairs of 127.0.0.2 end (their clients, left to libzmq,
    //  redial as after any lost connection); the pair of 127.0.0.3 goes on
    SQ_CHECK (sq_stats_wait (proxy->control, "closed.operator", 2, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait_min (proxy->control, "closed.partner", 2, SQ_WAIT_MS));
    s_echoed (other, "still here");
    char *log = sq_file_read (proxy->log_path);
    SQ_CHECK (log && strstr (log, "CLOSE frontend 127.0.0.2/32 closed 2 connections"));
    free (log);
    zmq_close (first);
    zmq_close (second);
    zmq_close (other);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

int
main (void)
{
    SQ_RUN (test_max_connections);
    SQ_RUN (test_max_connections_per_ip);
    SQ_RUN (test_max_connections_per_ip_v6);
    SQ_RUN (test_connection_rate);
    SQ_RUN (test_allow_deny_v4);
    SQ_RUN (test_allow_deny_v6);
    SQ_RUN (test_ipv4_mapped);
    SQ_RUN (test_control_ipv6);
    SQ_RUN (test_mechanisms);
    SQ_RUN (test_mechanisms_curve_pair);
    SQ_RUN (test_bad_values);
    SQ_RUN (test_out_of_descriptors);
    SQ_RUN (test_control_connections_bounded);
    SQ_RUN (test_close_live_connections);
    return sq_test_summary ();
}
