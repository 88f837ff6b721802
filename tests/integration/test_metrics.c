/*  =========================================================================
    test_metrics - Prometheus metrics over HTTP (--metrics)

    The proxy serves its metrics on a port it picks (port 0) and logs the
    URL; the test scrapes it with raw HTTP requests over TCP, checks the
    answer (status, Content-Type, every line valid text format) and that
    the values move as a client and a worker pair, talk and part. Other
    paths get 404, other methods 405; a proxy without --metrics opens no
    port for it; a bad URL, or a port already taken, stops it with exit 2.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"
#include "sq_prometheus_check.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

SQ_TEST_DEFINE

//  ---------------------------------------------------------------------
//  HTTP over a raw TCP socket

typedef struct {
    int status;
    char content_type [128];
    char *body;                 //  Heap, NUL-terminated
} s_answer_t;

//  The metrics URL the proxy logged ("listening: metrics URL"), into url
static bool
s_metrics_url (sq_proxy_t *proxy, char *url, size_t size)
{
    char *log = sq_file_read (proxy->log_path);
    const char *found = log? strstr (log, "listening: metrics "): NULL;
    if (found) {
        found += strlen ("listening: metrics ");
        snprintf (url, size, "%.*s", (int) strcspn (found, " \r\n"), found);
    }
    free (log);
    return found != NULL;
}

//  Splits http://HOST:PORT/PATH into host (no brackets), port and path
static bool
s_url_split (const char *url, char *host, size_t host_size, char *port, size_t port_size,
             const char **path)
{
    if (strncmp (url, "http://", 7) != 0)
        return false;
    const char *start = url + 7;
    const char *end = *start == '['? strchr (start, ']'): strchr (start, ':');
    if (!end)
        return false;
    if (*start == '[')
        snprintf (host, host_size, "%.*s", (int) (end - start - 1), start + 1);
    else
        snprintf (host, host_size, "%.*s", (int) (end - start), start);
    const char *colon = *start == '['? end + 1: end;
    *path = strchr (colon, '/');
    if (*colon != ':' || !*path)
        return false;
    snprintf (port, port_size, "%.*s", (int) (*path - colon - 1), colon + 1);
    return true;
}

static int
s_connect (const char *host, const char *port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
    struct addrinfo *found = NULL;
    if (getaddrinfo (host, port, &hints, &found) != 0)
        return -1;
    int fd = socket (found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect (fd, found->ai_addr, found->ai_addrlen) != 0) {
        fprintf (stderr, "connect %s:%s: %s\n", host, port, strerror (errno));
        close (fd);
        fd = -1;
    }
    freeaddrinfo (found);
    return fd;
}

//  Reads until the server closes (it answers Connection: close)
static char *
s_read_all (int fd)
{
    size_t size = 0, capacity = 65536;
    char *data = malloc (capacity);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (data && sq_now_ms () < deadline) {
        struct pollfd item = { fd, POLLIN, 0 };
        if (poll (&item, 1, 100) <= 0)
            continue;
        if (size + 1 == capacity)
            data = realloc (data, capacity *= 2);
        ssize_t got = data? recv (fd, data + size, capacity - size - 1, 0): 0;
        if (got <= 0)
            break;
        size += (size_t) got;
    }
    if (data)
        data [size] = 0;
    return data;
}

//  Sends one request and reads the answer; false if none came
static bool
s_http (const char *url, const char *method, const char *path, s_answer_t *answer)
{
    memset (answer, 0, sizeof *answer);
    char host [64], port [16];
    const char *url_path;
    if (!s_url_split (url, host, sizeof host, port, sizeof port, &url_path))
        return false;
    int fd = s_connect (host, port);
    if (fd < 0)
        return false;
    char request [512];
    snprintf (request, sizeof request, "%s %s HTTP/1.1\r\nHost: %s:%s\r\n"
              "Connection: close\r\n\r\n", method, path? path: url_path, host, port);
    char *reply = sq_tcp_send (fd, request, strlen (request)) == 0? s_read_all (fd): NULL;
    close (fd);
    const char *body = reply? strstr (reply, "\r\n\r\n"): NULL;
    if (!body || sscanf (reply, "HTTP/1.%*d %d", &answer->status) != 1) {
        fprintf (stderr, "no HTTP answer from %s: '%s'\n", url, reply? reply: "");
        free (reply);
        return false;
    }
    //  Header names are case-insensitive
    for (const char *line = strstr (reply, "\r\n"); line && line < body;
         line = strstr (line + 2, "\r\n"))
        if (strncasecmp (line + 2, "Content-Type: ", 14) == 0)
            snprintf (answer->content_type, sizeof answer->content_type, "%.*s",
                      (int) strcspn (line + 16, "\r\n"), line + 16);
    answer->body = strdup (body + 4);
    free (reply);
    return answer->body != NULL;
}

//  GETs the metrics and checks the answer is 200 and valid text format;
//  returns the body (caller frees)
static char *
s_scrape (const char *url)
{
    s_answer_t answer;
    SQ_CHECK (s_http (url, "GET", NULL, &answer));
    SQ_CHECK_EQ (answer.status, 200);
    SQ_CHECK_STR (answer.content_type, "text/plain; version=0.0.4; charset=utf-8");
    char error [512] = "";
    SQ_CHECK_MSG (sq_prometheus_check (answer.body, error, sizeof error), "%s", error);
    return answer.body;
}

//  One series' value in a fresh scrape
static double
s_metric (const char *url, const char *series)
{
    char *text = s_scrape (url);
    double value = sq_prometheus_value (text, series);
    free (text);
    SQ_CHECK_MSG (!isnan (value), "no series %s", series);
    return value;
}

//  Scrapes until series >= minimum; false (with the value) after SQ_WAIT_MS
static bool
s_metric_wait_min (const char *url, const char *series, double minimum)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    double value = NAN;
    while (sq_now_ms () < deadline) {
        value = s_metric (url, series);
        if (value >= minimum)
            return true;
        sq_sleep_ms (50);
    }
    fprintf (stderr, "%s stayed at %g, below %g\n", series, value, minimum);
    return false;
}

//  ---------------------------------------------------------------------
//  Listening sockets of a process, from /proc

//  TCP sockets in LISTEN state that the process holds
static int
s_listening (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/fd", (int) pid);
    unsigned long inodes [256];
    int count = 0, listening = 0;
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir)) && count < 256) {
        char link [512], target [128];
        snprintf (link, sizeof link, "%s/%s", path, entry->d_name);
        ssize_t length = readlink (link, target, sizeof target - 1);
        if (length > 0) {
            target [length] = 0;
            if (sscanf (target, "socket:[%lu]", &inodes [count]) == 1)
                count++;
        }
    }
    if (dir)
        closedir (dir);
    const char *tables [] = { "tcp", "tcp6" };
    for (size_t table = 0; table < 2; table++) {
        snprintf (path, sizeof path, "/proc/%d/net/%s", (int) pid, tables [table]);
        char *text = sq_file_read (path);
        for (const char *line = text? strchr (text, '\n'): NULL; line && line [1];
             line = strchr (line + 1, '\n')) {
            char state [8];
            unsigned long inode;
            if (sscanf (line + 1, "%*s %*s %*s %7s %*s %*s %*s %*s %*s %lu", state, &inode) != 2
            ||  strcmp (state, "0A") != 0)
                continue;
            for (int index = 0; index < count; index++)
                listening += inodes [index] == inode;
        }
        free (text);
    }
    return listening;
}

//  ---------------------------------------------------------------------
//  Tests

//  The values move as a client and a worker pair, talk, and part
static void
test_values_move (void)
{
    const char *args [] = { "--metrics", "http://127.0.0.1:0/metrics", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_metrics", args);
    SQ_CHECK (proxy);
    char url [256];
    SQ_CHECK (s_metrics_url (proxy, url, sizeof url));
    SQ_CHECK (strncmp (url, "http://127.0.0.1:", 17) == 0 && strstr (url, ":0/") == NULL);
    char *text = s_scrape (url);
    SQ_CHECK (strstr (text, "streamq_build_info{service=\"default\",version=\"0.1.0\",libzmq=\""));
    //  The engine it runs, as STATS names it too
    const char *engine = sq_engine_is ("splice")? "splice": "stream";
    char series [128];
    snprintf (series, sizeof series, "streamq_engine_info{service=\"default\",engine=\"%s\"}",
              engine);
    SQ_CHECK_EQ (sq_prometheus_value (text, series), 1);
    char *stats = sq_control_str (proxy->control, "STATS");
    char name [64];
    snprintf (name, sizeof name, "\"engine\":{\"name\":\"%s\",", engine);
    SQ_CHECK_MSG (stats && strstr (stats, name), "no %s in STATS", name);
    free (stats);
    SQ_CHECK_EQ (sq_prometheus_value (text, "streamq_pairs_total{service=\"default\"}"), 0);
    double to_backend = sq_prometheus_value (text, "streamq_bytes_total{service=\"default\",direction=\"to_backend\"}");
    double chunks = sq_prometheus_value (text, "streamq_chunks_total{service=\"default\",direction=\"to_frontend\"}");
    free (text);

    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker);
    SQ_CHECK (s_metric_wait_min (url, "streamq_workers_idle_slots{service=\"default\"}", 1));
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (client);
    for (int round = 0; round < 3; round++) {
        SQ_CHECK_EQ (sq_send_str (client, "ping"), 0);
        char *echo = sq_recv_str (client, SQ_WAIT_MS);
        SQ_CHECK (echo && strcmp (echo, "ping") == 0);
        free (echo);
    }
    text = s_scrape (url);
    SQ_CHECK_EQ (sq_prometheus_value (text, "streamq_pairs_total{service=\"default\"}"), 1);
    SQ_CHECK_EQ (sq_prometheus_value (text, "streamq_pairs_active{service=\"default\"}"), 1);
    SQ_CHECK_EQ (sq_prometheus_value (text,
                 "streamq_connections{service=\"default\",side=\"frontend\",state=\"paired\"}"), 1);
    SQ_CHECK (sq_prometheus_value (text, "streamq_bytes_total{service=\"default\",direction=\"to_backend\"}")
              > to_backend + 3 * 4);
    SQ_CHECK (sq_prometheus_value (text, "streamq_chunks_total{service=\"default\",direction=\"to_frontend\"}")
              >= chunks + 3);
    SQ_CHECK_EQ (sq_prometheus_value (text, "streamq_pairing_wait_seconds_count{service=\"default\"}"), 1);
    SQ_CHECK_EQ (sq_prometheus_value (text, "streamq_pair_duration_seconds_count{service=\"default\"}"), 0);
    SQ_CHECK (sq_prometheus_value (text, "streamq_uptime_seconds{service=\"default\"}") > 0);
    free (text);
    //  STATS agrees
    long long total = 0;
    SQ_CHECK (sq_stats (proxy->control, "pairs.total", &total) && total == 1);
    SQ_CHECK (sq_stats (proxy->control, "pairing_wait.count", &total) && total == 1);

    //  The client leaves: its pair ends
    zmq_close (client);
    SQ_CHECK (s_metric_wait_min (url, "streamq_pair_duration_seconds_count{service=\"default\"}", 1));
    SQ_CHECK (s_metric_wait_min (url, "streamq_closed_total{service=\"default\",reason=\"peer\"}", 1));
    SQ_CHECK_EQ (s_metric (url, "streamq_pairs_active{service=\"default\"}"), 0);
    zmq_ctx_term (ctx);
    sq_worker_destroy (&worker);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Only the path given serves metrics; only GET and HEAD
static void
test_paths_and_methods (void)
{
    const char *args [] = { "--metrics", "http://127.0.0.1:0/probe/metrics", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_metrics", args);
    SQ_CHECK (proxy);
    char url [256];
    SQ_CHECK (s_metrics_url (proxy, url, sizeof url));
    SQ_CHECK (strstr (url, "/probe/metrics"));
    free (s_scrape (url));
    const char *missing [] = { "/metrics", "/other", "/probe/metrics/x", "/", NULL };
    for (size_t index = 0; missing [index]; index++) {
        s_answer_t answer;
        SQ_CHECK (s_http (url, "GET", missing [index], &answer));
        SQ_CHECK_MSG (answer.status == 404, "%s: %d", missing [index], answer.status);
        free (answer.body);
    }
    s_answer_t answer;
    SQ_CHECK (s_http (url, "POST", NULL, &answer));
    SQ_CHECK_EQ (answer.status, 405);
    free (answer.body);
    SQ_CHECK (s_http (url, "HEAD", NULL, &answer));
    SQ_CHECK_EQ (answer.status, 200);
    SQ_CHECK_STR (answer.body, "");
    free (answer.body);
    //  The loop still serves peers and the control socket after all that
    char *pong = sq_control_str (proxy->control, "PING");
    SQ_CHECK (pong && strcmp (pong, "PONG") == 0);
    free (pong);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  GETs path at the metrics server; the answer's status, its body in body
static int
s_get (const char *url, const char *path, char *body, size_t size)
{
    s_answer_t answer;
    SQ_CHECK (s_http (url, "GET", path, &answer));
    snprintf (body, size, "%s", answer.body);
    free (answer.body);
    return answer.status;
}

//  GETs path until it answers status; false (with the last answer) after
//  SQ_WAIT_MS
static bool
s_get_wait (const char *url, const char *path, int status, char *body, size_t size)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    int last = 0;
    while (sq_now_ms () < deadline) {
        if ((last = s_get (url, path, body, size)) == status)
            return true;
        sq_sleep_ms (50);
    }
    fprintf (stderr, "%s stayed at %d (%s), not %d\n", path, last, body, status);
    return false;
}

//  /healthz answers while the proxy runs; /readyz only while a client
//  would be paired at once: 503 with the reason before any worker, when
//  paused and when draining, 200 with an idle worker connection; the
//  same for one service at /readyz/NAME. All at the metrics server's
//  port, whatever its path.
static void
test_health_and_readiness (void)
{
    const char *args [] = { "--metrics", "http://127.0.0.1:0/probe/metrics", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_metrics", args);
    SQ_CHECK (proxy);
    char url [256], body [256];
    SQ_CHECK (s_metrics_url (proxy, url, sizeof url));
    SQ_CHECK_EQ (s_get (url, "/healthz", body, sizeof body), 200);
    SQ_CHECK_STR (body, "ok\n");
    SQ_CHECK_EQ (s_get (url, "/readyz", body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: no idle worker\n");
    s_answer_t answer;
    SQ_CHECK (s_http (url, "POST", "/readyz", &answer));
    SQ_CHECK_EQ (answer.status, 405);
    free (answer.body);
    SQ_CHECK (s_http (url, "HEAD", "/healthz", &answer));
    SQ_CHECK_EQ (answer.status, 200);
    free (answer.body);

    //  A worker connects: ready
    sq_worker_t *worker = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (worker);
    SQ_CHECK (s_get_wait (url, "/readyz", 200, body, sizeof body));
    SQ_CHECK_STR (body, "ok: 1 idle worker connection\n");
    char *reply = sq_control_str (proxy->control, "PAUSE");
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    SQ_CHECK_EQ (s_get (url, "/readyz", body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: paused\n");
    //  One service's readiness, by its name: the one of a proxy that
    //  declares none is "default"
    SQ_CHECK_EQ (s_get (url, "/readyz/default", body, sizeof body), 503);
    SQ_CHECK_STR (body, "not ready: paused\n");
    SQ_CHECK_EQ (s_get (url, "/readyz/nobody", body, sizeof body), 404);
    reply = sq_control_str (proxy->control, "RESUME");
    SQ_CHECK_STR (reply, "OK");
    free (reply);
    SQ_CHECK_EQ (s_get (url, "/readyz", body, sizeof body), 200);
    SQ_CHECK_EQ (s_get (url, "/readyz/default", body, sizeof body), 200);

    //  The one worker connection takes a client: no idle worker again
    void *ctx = zmq_ctx_new ();
    void *client = sq_peer_new (ctx, ZMQ_DEALER, NULL, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "hello"), 0);
    char *echo = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_STR (echo, "hello");
    free (echo);
    SQ_CHECK (s_get_wait (url, "/readyz", 503, body, sizeof body));
    SQ_CHECK_STR (body, "not ready: no idle worker\n");

    //  Draining, with that pair still open: not ready, yet alive
    sq_worker_t *spare = sq_echo_new (proxy->backend, ZMQ_DEALER, 1);
    SQ_CHECK (spare);
    SQ_CHECK (s_get_wait (url, "/readyz", 200, body, sizeof body));
    const char *drain [] = { "DRAIN", "ALL", NULL };
    char **drained = sq_control (proxy->control, drain, SQ_WAIT_MS);
    SQ_CHECK (drained && drained [0] && strcmp (drained [0], "OK") == 0);
    sq_strv_destroy (&drained);
    SQ_CHECK (s_get_wait (url, "/readyz", 503, body, sizeof body));
    SQ_CHECK_STR (body, "not ready: draining\n");
    SQ_CHECK_EQ (s_get (url, "/healthz", body, sizeof body), 200);
    zmq_close (client);
    zmq_ctx_term (ctx);
    SQ_CHECK_EQ (sq_proxy_stop_with (&proxy, 0), 0);
    sq_worker_destroy (&worker);
    sq_worker_destroy (&spare);
}

//  Without --metrics, no HTTP port: the frontend, the backend and the
//  control socket are all the proxy listens on
static void
test_off_by_default (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_metrics", NULL);
    SQ_CHECK (proxy);
    char url [256];
    SQ_CHECK (!s_metrics_url (proxy, url, sizeof url));
    SQ_CHECK_EQ (s_listening (proxy->pid), 3);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    const char *args [] = { "--metrics", "http://127.0.0.1:0/metrics", NULL };
    proxy = sq_proxy_start ("test_metrics", args);
    SQ_CHECK (proxy);
    SQ_CHECK_EQ (s_listening (proxy->pid), 4);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Runs the proxy on free ports with these extra arguments; returns its
//  exit code, with its stderr in err (caller frees)
static int
s_proxy_run (const char *metrics, char **err)
{
    char binary [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    const char *argv [] = {
        binary, "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
        "--control", "tcp://127.0.0.1:*", "--metrics", metrics, NULL
    };
    return sq_run (argv, SQ_WAIT_MS, NULL, err);
}

//  A bad URL, or a port already taken, stops the proxy with exit 2
static void
test_bad_url_exits_2 (void)
{
    const char *bad [] = {
        "https://127.0.0.1:9100/metrics", "http://127.0.0.1/metrics",
        "http://example.com:9100/metrics", "http://127.0.0.1:70000/metrics",
        "http://127.0.0.1:9100", NULL
    };
    for (size_t index = 0; bad [index]; index++) {
        char *err = NULL;
        int code = s_proxy_run (bad [index], &err);
        SQ_CHECK_MSG (code == 2 && err && strstr (err, "for --metrics: expected http://HOST:PORT/PATH"),
                      "%s: exit %d, stderr: %s", bad [index], code, err? err: "");
        free (err);
    }
    //  A port that another socket holds
    int holder = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    SQ_CHECK (holder >= 0 && bind (holder, (struct sockaddr *) &address, sizeof address) == 0
              && listen (holder, 1) == 0
              && getsockname (holder, (struct sockaddr *) &address, &size) == 0);
    char taken [128];
    snprintf (taken, sizeof taken, "http://127.0.0.1:%d/metrics", ntohs (address.sin_port));
    char *err = NULL;
    int code = s_proxy_run (taken, &err);
    close (holder);
    SQ_CHECK_MSG (code == 2 && err && strstr (err, "cannot serve metrics at"),
                  "exit %d, stderr: %s", code, err? err: "");
    free (err);
}

//  An IPv6 address, where the host has one
static void
test_ipv6 (void)
{
    int probe = socket (AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 address = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool usable = probe >= 0 && bind (probe, (struct sockaddr *) &address, sizeof address) == 0;
    if (probe >= 0)
        close (probe);
    if (!usable) {
        printf ("     (no IPv6 loopback here: test_ipv6 checks nothing)\n");
        return;
    }
    const char *args [] = { "--metrics", "http://[::1]:0/metrics", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_metrics", args);
    SQ_CHECK (proxy);
    char url [256];
    SQ_CHECK (s_metrics_url (proxy, url, sizeof url));
    SQ_CHECK (strncmp (url, "http://[::1]:", 13) == 0);
    free (s_scrape (url));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  ---------------------------------------------------------------------
//  The dashboard and the alert rules of dist/

//  True when name is family, or a series of the histogram family
static bool
s_of_family (const char *name, const char *family, bool histogram)
{
    size_t length = strlen (family);
    if (strncmp (name, family, length) != 0)
        return false;
    return name [length] == 0
        || (histogram && (!strcmp (name + length, "_bucket") || !strcmp (name + length, "_sum")
                          || !strcmp (name + length, "_count")));
}

//  True when the scrape has a family that name is a series of
static bool
s_served (const char *scrape, const char *name)
{
    for (const char *line = strstr (scrape, "# TYPE "); line; line = strstr (line + 1, "# TYPE ")) {
        char family [128], type [32];
        if (sscanf (line, "# TYPE %127s %31s", family, type) == 2
        &&  s_of_family (name, family, strcmp (type, "histogram") == 0))
            return true;
    }
    return false;
}

//  Checks every streamq_ name in the file against the scrape; returns how
//  many names it holds
static int
s_check_names (const char *path, const char *scrape)
{
    char *text = sq_file_read (path);
    SQ_CHECK_MSG (text, "cannot read %s (run from the top of the tree)", path);
    int names = 0;
    for (const char *at = strstr (text, "streamq_"); at; at = strstr (at + 1, "streamq_")) {
        if (at > text && (isalnum ((unsigned char) at [-1]) || at [-1] == '_'))
            continue;
        char name [128];
        snprintf (name, sizeof name, "%.*s", (int) strspn (at, "abcdefghijklmnopqrstuvwxyz"
                                                           "0123456789_"), at);
        SQ_CHECK_MSG (s_served (scrape, name), "%s uses %s, which the proxy does not serve",
                      path, name);
        names++;
    }
    free (text);
    return names;
}

//  Every "by (...)" of the file keeps the service label: an alert of one
//  service is not hidden by another's figures. Returns how many there are.
static int
s_check_by_service (const char *path)
{
    char *text = sq_file_read (path);
    SQ_CHECK_MSG (text, "cannot read %s", path);
    int count = 0;
    for (const char *at = strstr (text, "by ("); at; at = strstr (at + 1, "by (")) {
        int length = (int) strcspn (at, ")");
        SQ_CHECK_MSG (memmem (at, (size_t) length, "service", 7), "%s: '%.*s)' drops the "
                      "service label", path, length, at);
        count++;
    }
    free (text);
    return count;
}

//  Every metric name that the Grafana dashboard's and the alert rules'
//  queries use is one a running proxy serves; the dashboard follows the
//  services chosen, and the rules keep them apart
static void
test_dashboard_and_rules_names (void)
{
    const char *args [] = { "--metrics", "http://127.0.0.1:0/metrics", NULL };
    sq_proxy_t *proxy = sq_proxy_start ("test_metrics", args);
    SQ_CHECK (proxy);
    char url [256];
    SQ_CHECK (s_metrics_url (proxy, url, sizeof url));
    char *scrape = s_scrape (url);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);

    char *dashboard = sq_file_read ("dist/streamq-dashboard.json");
    SQ_CHECK_MSG (dashboard && sq_json_valid (dashboard), "dist/streamq-dashboard.json is not JSON");
    int panels = sq_json_count (dashboard, "panels");
    SQ_CHECK (panels >= 10);
    int queries = 0;
    for (int index = 0; index < panels; index++) {
        char path [64], expression [1024];
        snprintf (path, sizeof path, "panels.%d.targets", index);
        for (int target = 0; target < sq_json_count (dashboard, path); target++) {
            char expr [96];
            snprintf (expr, sizeof expr, "%s.%d.expr", path, target);
            SQ_CHECK (sq_json_string (dashboard, expr, expression, sizeof expression));
            SQ_CHECK_MSG (strstr (expression, "streamq_"), "%s: '%s'", expr, expression);
            SQ_CHECK_MSG (strstr (expression, "service=~\"$service\""),
                          "%s does not follow the service chosen: '%s'", expr, expression);
            queries++;
        }
    }
    free (dashboard);
    SQ_CHECK (queries >= 20);
    SQ_CHECK (s_check_names ("dist/streamq-dashboard.json", scrape) >= queries);
    SQ_CHECK (s_check_names ("dist/streamq-rules.yml", scrape) >= 5);
    SQ_CHECK (s_check_by_service ("dist/streamq-rules.yml") >= 5);
    free (scrape);
}

//  promtool checks the rules, and runs their unit tests: each alert fires
//  on the series made up for it, and only on those
static void
test_alert_rules (void)
{
    const char *check [] = { "promtool", "check", "rules", "dist/streamq-rules.yml", NULL };
    const char *unit [] = { "promtool", "test", "rules",
                            "tests/prometheus/streamq-rules.test.yml", NULL };
    const char *paths [] = { "/usr/bin/promtool", "/usr/local/bin/promtool" };
    for (size_t index = 0; index < 2 && check [0] [0] != '/'; index++)
        if (access (paths [index], X_OK) == 0)
            check [0] = unit [0] = paths [index];
    if (check [0] [0] != '/') {
        printf ("# note: promtool missing (Debian: prometheus, which make test installs): "
                "the alert rules are not checked\n");
        return;
    }
    char *out, *err;
    int code = sq_run (check, SQ_WAIT_MS, &out, &err);
    SQ_CHECK_MSG (code == 0 && strstr (out, "SUCCESS: 5 rules found"), "promtool check rules "
                  "exited %d: %s%s", code, out, err);
    free (out);
    free (err);
    code = sq_run (unit, SQ_WAIT_MS, &out, &err);
    SQ_CHECK_MSG (code == 0 && strstr (out, "SUCCESS"), "promtool test rules exited %d: %s%s",
                  code, out, err);
    free (out);
    free (err);
}

int
main (void)
{
    SQ_RUN (test_values_move);
    SQ_RUN (test_paths_and_methods);
    SQ_RUN (test_health_and_readiness);
    SQ_RUN (test_off_by_default);
    SQ_RUN (test_bad_url_exits_2);
    SQ_RUN (test_ipv6);
    SQ_RUN (test_dashboard_and_rules_names);
    SQ_RUN (test_alert_rules);
    return sq_test_summary ();
}
