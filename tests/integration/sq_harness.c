/*  =========================================================================
    sq_harness - helpers shared by the integration tests

    See sq_harness.h for what each function guarantees.
    =========================================================================
*/
#include "sq_harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

//  =====================================================================
//  Time and files

int64_t
sq_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sq_sleep_ms (int msecs)
{
    struct timespec ts = { msecs / 1000, (long) (msecs % 1000) * 1000000 };
    while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
        ;
}

int
sq_time_scale (void)
{
    //  Read once; worker threads use the bounds too
    static atomic_int scale = 0;
    int value = atomic_load (&scale);
    if (value == 0) {
        const char *text = getenv ("SQ_TIME_SCALE");
        value = text? atoi (text): 1;
        value = value < 1? 1: value > 100? 100: value;
        atomic_store (&scale, value);
    }
    return value;
}

const char *
sq_engine (void)
{
    const char *engine = getenv ("SQ_ENGINE");
    return engine? engine: "";
}

bool
sq_engine_is (const char *name)
{
    const char *engine = sq_engine ();
    return strcmp (*engine? engine: "stream", name) == 0;
}

const char *
sq_build_dir (void)
{
    const char *dir = getenv ("SQ_BUILD");
    return dir && *dir? dir: "build";
}

void
sq_build_path (const char *name, char *buf, size_t size)
{
    snprintf (buf, size, "%s/%s", sq_build_dir (), name);
}

char *
sq_file_read (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t size = 0, alloc = 4096;
    char *text = malloc (alloc);
    size_t got;
    while ((got = fread (text + size, 1, alloc - size - 1, file)) > 0) {
        size += got;
        if (alloc - size < 1024)
            text = realloc (text, alloc *= 2);
    }
    fclose (file);
    text [size] = 0;
    return text;
}

int
sq_endpoint_port (const char *endpoint)
{
    const char *colon = endpoint? strrchr (endpoint, ':'): NULL;
    if (!colon || !isdigit ((unsigned char) colon [1]))
        return -1;
    return atoi (colon + 1);
}

bool
sq_endpoint_from (const char *endpoint, const char *source_ip, int source_port,
                  char *buf, size_t size)
{
    if (!endpoint || strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    int length = snprintf (buf, size, "tcp://%s:%d;%s", source_ip, source_port,
                           endpoint + 6);
    return length > 0 && (size_t) length < size;
}

//  Where sq_free_port looks: from S_PICK_LOW up to below the kernel's
//  ephemeral range (the ports it gives to every connect and to binds of
//  port 0), read once
#define S_PICK_LOW 10000
#define S_PICK_MIN_SPAN 1000

static int
s_pick_high (void)
{
    static int high = 0;
    if (high)
        return high;
    int low = 32768, top = 60999;
    FILE *file = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (file) {
        if (fscanf (file, "%d %d", &low, &top) != 2)
            low = 32768;
        fclose (file);
    }
    high = low - 1;
    return high;
}

//  True if port is free on address now (bound, then released)
static bool
s_port_free (struct sockaddr_in *address, int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return false;
    address->sin_port = htons ((uint16_t) port);
    bool free_now = bind (fd, (struct sockaddr *) address, sizeof *address) == 0;
    close (fd);
    return free_now;
}

int
sq_free_port (const char *ip)
{
    struct sockaddr_in address = { .sin_family = AF_INET };
    if (inet_pton (AF_INET, ip, &address.sin_addr) != 1)
        return -1;
    int high = s_pick_high ();
    if (high - S_PICK_LOW < S_PICK_MIN_SPAN)
        return -1;
    //  A pseudo-random start, so that test binaries running at once do
    //  not walk the same ports in the same order
    static unsigned seed = 0;
    if (!seed)
        seed = (unsigned) getpid () * 2654435761u ^ (unsigned) time (NULL);
    int span = high - S_PICK_LOW + 1;
    for (int attempt = 0; attempt < 1000; attempt++) {
        int port = S_PICK_LOW + (int) (rand_r (&seed) % (unsigned) span);
        if (s_port_free (&address, port))
            return port;
    }
    return -1;
}

//  =====================================================================
//  Child processes: a registry so no proxy outlives the test binary

#define SQ_MAX_CHILDREN 64
static volatile pid_t s_children [SQ_MAX_CHILDREN];
//  Heap object owning each child (a proxy a failed test left behind), or NULL
static void *s_owners [SQ_MAX_CHILDREN];
static bool s_installed = false;

//  Kills every registered child; async-signal-safe
static void
s_kill_children (void)
{
    for (int index = 0; index < SQ_MAX_CHILDREN; index++)
        if (s_children [index] > 0)
            kill (s_children [index], SIGKILL);
}

static void
s_on_exit (void)
{
    //  A leak report after a failed test ends the process without flushing
    fflush (stdout);
    for (int index = 0; index < SQ_MAX_CHILDREN; index++) {
        pid_t pid = s_children [index];
        if (pid > 0) {
            fprintf (stderr, "sq_harness: killing leftover child %d\n", (int) pid);
            if (s_owners [index])       //  A proxy a failed test left running
                sq_proxy_print_log (s_owners [index], 30);
            kill (pid, SIGKILL);
            waitpid (pid, NULL, 0);
            s_children [index] = 0;
            free (s_owners [index]);
            s_owners [index] = NULL;
        }
    }
}

static void
s_on_signal (int signum)
{
    s_kill_children ();
    signal (signum, SIG_DFL);
    raise (signum);
}

static void
s_install (void)
{
    if (s_installed)
        return;
    s_installed = true;
    atexit (s_on_exit);
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);
    signal (SIGHUP, s_on_signal);
    signal (SIGPIPE, SIG_IGN);
}

static void
s_register (pid_t pid, void *owner)
{
    for (int index = 0; index < SQ_MAX_CHILDREN; index++)
        if (s_children [index] == 0) {
            s_owners [index] = owner;
            s_children [index] = pid;
            return;
        }
}

static void
s_unregister (pid_t pid)
{
    for (int index = 0; index < SQ_MAX_CHILDREN; index++)
        if (s_children [index] == pid) {
            s_children [index] = 0;
            s_owners [index] = NULL;
        }
}

//  Converts a waitpid status into our exit code convention
static int
s_exit_code (int status)
{
    if (WIFEXITED (status))
        return WEXITSTATUS (status);
    if (WIFSIGNALED (status))
        return 128 + WTERMSIG (status);
    return -1;
}

//  Waits for a child up to timeout_ms; returns its exit code, or -2 if
//  it is still running
static int
s_wait_child (pid_t pid, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    while (true) {
        int status;
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid)
            return s_exit_code (status);
        if (rc == -1 && errno != EINTR)
            return -1;
        if (sq_now_ms () >= deadline)
            return -2;
        sq_sleep_ms (10);
    }
}

//  In the child after fork: dies with the parent, wires stdio, execs.
//  Only async-signal-safe calls here: the parent has threads.
static void
s_child_exec (pid_t parent, int in_fd, int out_fd, int err_fd, const char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
        _exit (127);
    dup2 (in_fd, 0);
    dup2 (out_fd, 1);
    dup2 (err_fd, 2);
    for (int fd = 3; fd < 1024; fd++)
        close (fd);
    execv (argv [0], (char **) argv);
    _exit (127);
}

//  Forks and execs argv with the given stdio; registers the child with
//  its owner, freed at exit if the child is still registered then
static pid_t
s_spawn (const char **argv, int out_fd, int err_fd, void *owner)
{
    s_install ();
    int in_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0)
        s_child_exec (parent, in_fd, out_fd, err_fd, argv);
    if (in_fd >= 0)
        close (in_fd);
    if (pid > 0)
        s_register (pid, owner);
    return pid;
}

//  =====================================================================
//  The proxy process

//  Copies the endpoint that follows `tag` in the log into buf
static bool
s_parse_endpoint (const char *log, const char *tag, char *buf, size_t size)
{
    const char *start = strstr (log, tag);
    if (!start)
        return false;
    start += strlen (tag);
    size_t length = strcspn (start, " \t\r\n\"");
    if (length == 0 || length >= size)
        return false;
    memcpy (buf, start, length);
    buf [length] = 0;
    return true;
}

//  True once the log holds a complete line whose message is "ready", in
//  text or in JSON (--log-format json)
static bool
s_log_ready (const char *log)
{
    static const char json [] = "\"message\":\"ready\"}";
    size_t json_size = sizeof json - 1;
    const char *line = log;
    while (line && *line) {
        const char *end = strchr (line, '\n');
        if (!end)
            return false;           //  Incomplete last line
        if (end - line >= 6 && memcmp (end - 6, " ready", 6) == 0)
            return true;
        if ((size_t) (end - line) >= json_size && memcmp (end - json_size, json, json_size) == 0)
            return true;
        line = end + 1;
    }
    return false;
}

//  Waits for the ready line and fills the endpoints; false on failure
static bool
s_proxy_wait_ready (sq_proxy_t *self)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline) {
        char *log = sq_file_read (self->log_path);
        bool ready = log && s_log_ready (log)
            && s_parse_endpoint (log, "listening: frontend ", self->frontend, sizeof self->frontend)
            && s_parse_endpoint (log, "listening: backend ", self->backend, sizeof self->backend)
            && s_parse_endpoint (log, "listening: control ", self->control, sizeof self->control);
        if (ready)
            s_parse_endpoint (log, "listening: metrics ", self->metrics, sizeof self->metrics);
        free (log);
        if (ready)
            return true;
        if (s_wait_child (self->pid, 0) != -2) {
            s_unregister (self->pid);
            self->pid = 0;
            fprintf (stderr, "sq_proxy_start: the proxy exited before ready\n");
            return false;
        }
        sq_sleep_ms (10);
    }
    fprintf (stderr, "sq_proxy_start: no ready line within %d ms\n", SQ_WAIT_MS);
    return false;
}

//  Finds a command in PATH, as the shell would, into buf; false if absent
static bool
s_which (const char *command, char *buf, size_t size)
{
    if (strchr (command, '/')) {
        snprintf (buf, size, "%s", command);
        return access (buf, X_OK) == 0;
    }
    const char *path = getenv ("PATH");
    while (path && *path) {
        size_t length = strcspn (path, ":");
        snprintf (buf, size, "%.*s/%s", (int) length, path, command);
        if (length > 0 && access (buf, X_OK) == 0)
            return true;
        path += length + (path [length] == ':');
    }
    return false;
}

//  Puts the words of $SQ_PROXY_WRAPPER into argv, "{log}" replaced by
//  log_stem, using storage for the text. Returns the number of words, or
//  -1 if the wrapper is unusable.
static int
s_wrapper_argv (const char *log_stem, char *storage, size_t size,
                const char **argv, int max)
{
    const char *wrapper = getenv ("SQ_PROXY_WRAPPER");
    int count = 0;
    char *save = NULL;
    char *text = wrapper? strdup (wrapper): NULL;
    for (char *word = text? strtok_r (text, " \t", &save): NULL;
         word; word = strtok_r (NULL, " \t", &save)) {
        char *mark = strstr (word, "{log}");
        int length = mark?
            snprintf (storage, size, "%.*s%s%s", (int) (mark - word), word,
                      log_stem, mark + 5):
            snprintf (storage, size, "%s", word);
        if (length < 0 || (size_t) length + 1 > size || count == max
        ||  (count == 0 && !s_which (word, storage, size))) {
            fprintf (stderr, "sq_proxy_start: cannot use SQ_PROXY_WRAPPER '%s'\n", wrapper);
            free (text);
            return -1;
        }
        length = strlen (storage);
        argv [count++] = storage;
        storage += length + 1;
        size -= length + 1;
    }
    free (text);
    return count;
}

sq_proxy_t *
sq_proxy_start (const char *name, const char **args)
{
    static int counter = 0;
    char binary [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    if (access (binary, X_OK) != 0) {
        fprintf (stderr, "sq_proxy_start: %s is missing\n", binary);
        return NULL;
    }
    sq_proxy_t *self = calloc (1, sizeof *self);
    char dir [512];
    sq_build_path ("tests", dir, sizeof dir);
    mkdir (dir, 0755);
    char stem [440], storage [4096];
    const char *engine = sq_engine ();
    snprintf (stem, sizeof stem, "%.300s/%.100s%s%.16s-%d", dir, name, *engine? "-": "",
              engine, ++counter);
    snprintf (self->log_path, sizeof self->log_path, "%s.proxy.log", stem);

    const char *argv [96];
    int argc = s_wrapper_argv (stem, storage, sizeof storage, argv, 32);
    if (argc < 0) {
        free (self);
        return NULL;
    }
    const char *own [] = {
        binary, "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
        "--control", "tcp://127.0.0.1:*"
    };
    for (size_t index = 0; index < sizeof own / sizeof own [0]; index++)
        argv [argc++] = own [index];
    if (*engine) {
        argv [argc++] = "--engine";
        argv [argc++] = engine;
    }
    for (int index = 0; args && args [index] && argc < 95; index++)
        argv [argc++] = args [index];
    argv [argc] = NULL;

    int log_fd = open (self->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd == -1) {
        fprintf (stderr, "sq_proxy_start: cannot write %s\n", self->log_path);
        free (self);
        return NULL;
    }
    self->pid = s_spawn (argv, log_fd, log_fd, self);
    close (log_fd);
    if (self->pid <= 0 || !s_proxy_wait_ready (self)) {
        sq_proxy_print_log (self, 40);
        sq_proxy_stop_with (&self, SIGKILL);
        return NULL;
    }
    printf ("# proxy %d: %s (frontend %s, backend %s, control %s)\n",
            (int) self->pid, self->log_path, self->frontend, self->backend,
            self->control);
    fflush (stdout);
    return self;
}

int
sq_proxy_stop (sq_proxy_t **self_p)
{
    return sq_proxy_stop_with (self_p, SIGTERM);
}

int
sq_proxy_stop_with (sq_proxy_t **self_p, int signum)
{
    sq_proxy_t *self = *self_p;
    if (!self)
        return -1;
    int code = -1;
    if (self->pid > 0) {
        if (signum)
            kill (self->pid, signum);
        code = s_wait_child (self->pid, SQ_WAIT_MS);
        if (code == -2) {
            fprintf (stderr, "sq_proxy_stop: proxy %d did not exit, killing it\n",
                     (int) self->pid);
            kill (self->pid, SIGKILL);
            waitpid (self->pid, NULL, 0);
            code = -1;
        }
        s_unregister (self->pid);
        if (code != 0 && signum != SIGKILL) {
            fprintf (stderr, "sq_proxy_stop: proxy exit code %d\n", code);
            sq_proxy_print_log (self, 40);
            if (getenv ("SQ_PROXY_WRAPPER"))
                fprintf (stderr, "sq_proxy_stop: it ran under '%s': see its logs "
                         "beside %s\n", getenv ("SQ_PROXY_WRAPPER"), self->log_path);
        }
    }
    free (self);
    *self_p = NULL;
    return code;
}

//  Prints the last lines of the log at path on stderr
static void
s_print_log (const char *path, int lines)
{
    char *log = sq_file_read (path);
    if (!log)
        return;
    const char *start = log + strlen (log);
    int seen = 0;
    while (start > log && seen <= lines)
        if (*--start == '\n')
            seen++;
    if (*start == '\n')
        start++;
    fprintf (stderr, "---- last lines of %s\n%s---- end of log\n", path, start);
    free (log);
}

void
sq_proxy_print_log (sq_proxy_t *self, int lines)
{
    if (self)
        s_print_log (self->log_path, lines);
}

int
sq_proxy_metrics_port (sq_proxy_t *self)
{
    //  http://HOST:PORT/PATH: the port follows the last ':' before the path
    const char *host = self && *self->metrics? strstr (self->metrics, "://"): NULL;
    const char *path = host? strchr (host + 3, '/'): NULL;
    const char *colon = NULL;
    for (const char *at = host? host + 3: NULL; at && at < path; at++)
        if (*at == ':')
            colon = at;
    return colon && isdigit ((unsigned char) colon [1])? atoi (colon + 1): -1;
}

//  =====================================================================
//  Running a program to completion

//  Appends what is readable on fd to *text; false at EOF or error
static bool
s_drain_fd (int fd, char **text, size_t *size)
{
    char chunk [4096];
    ssize_t got = read (fd, chunk, sizeof chunk);
    if (got <= 0)
        return got == -1 && errno == EINTR;
    *text = realloc (*text, *size + got + 1);
    memcpy (*text + *size, chunk, got);
    *size += got;
    (*text) [*size] = 0;
    return true;
}

int
sq_run (const char **argv, int timeout_ms, char **out_p, char **err_p)
{
    int out_pipe [2], err_pipe [2];
    if (pipe2 (out_pipe, O_CLOEXEC) || pipe2 (err_pipe, O_CLOEXEC))
        return -1;
    pid_t pid = s_spawn (argv, out_pipe [1], err_pipe [1], NULL);
    close (out_pipe [1]);
    close (err_pipe [1]);
    char *text [2] = { calloc (1, 1), calloc (1, 1) };
    size_t size [2] = { 0, 0 };
    struct pollfd items [2] = { { out_pipe [0], POLLIN, 0 }, { err_pipe [0], POLLIN, 0 } };
    int64_t deadline = sq_now_ms () + timeout_ms;
    int open_fds = 2;
    while (pid > 0 && open_fds > 0 && sq_now_ms () < deadline) {
        if (poll (items, 2, 50) <= 0)
            continue;
        for (int index = 0; index < 2; index++)
            if (items [index].fd >= 0 && items [index].revents
            &&  !s_drain_fd (items [index].fd, &text [index], &size [index])) {
                items [index].fd = -1;
                open_fds--;
            }
    }
    int code = pid > 0? s_wait_child (pid, (int) (deadline - sq_now_ms ())): -1;
    if (code == -2) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        code = -1;
    }
    if (pid > 0)
        s_unregister (pid);
    close (out_pipe [0]);
    close (err_pipe [0]);
    if (out_p) *out_p = text [0]; else free (text [0]);
    if (err_p) *err_p = text [1]; else free (text [1]);
    return code;
}

int
sq_run_program (const char *program, const char **args, char **out_p, char **err_p)
{
    char binary [512];
    sq_build_path (program, binary, sizeof binary);
    const char *argv [64] = { binary };
    size_t count = 1;
    for (size_t index = 0; args && args [index] && count < 63; index++)
        argv [count++] = args [index];
    argv [count] = NULL;
    return sq_run (argv, SQ_WAIT_MS, out_p, err_p);
}

//  =====================================================================
//  HAProxy

//  Writes HAProxy's configuration for the frontend port and the
//  caller's backend lines to a new temporary file; false on error
static bool
s_haproxy_config (sq_haproxy_t *self, int port, const char *backend)
{
    int fd = mkstemps (self->config_path, 4);
    FILE *file = fd >= 0? fdopen (fd, "w"): NULL;
    if (!file) {
        fprintf (stderr, "sq_haproxy_start: cannot write %s\n", self->config_path);
        if (fd >= 0)
            close (fd);
        return false;
    }
    //  The check timeout follows the time scale: a proxy under valgrind
    //  answers its probes slowly. maxconn 400 needs some 800 descriptors,
    //  under the usual soft limit of 1024 (HAProxy refuses to start when it
    //  cannot raise its limit to what maxconn needs)
    fprintf (file,
        "global\n"
        "    maxconn 400\n"
        "    stats socket %s mode 600 level admin\n"
        "defaults\n"
        "    mode tcp\n"
        "    timeout connect 1s\n"
        "    timeout client 1h\n"
        "    timeout server 1h\n"
        "    timeout check %ds\n"
        "frontend clients\n"
        "    bind 127.0.0.1:%d\n"
        "    default_backend proxies\n"
        "backend proxies\n"
        "%s\n",
        self->socket_path, sq_time_scale (), port, backend);
    return fclose (file) == 0;
}

//  Starts HAProxy on one free port; false if it did not come up (the
//  port may have been taken meanwhile)
static bool
s_haproxy_try (sq_haproxy_t *self, const char *binary, const char *backend)
{
    int port = sq_free_port ("127.0.0.1");
    if (port <= 0 || !s_haproxy_config (self, port, backend))
        return false;
    snprintf (self->frontend, sizeof self->frontend, "tcp://127.0.0.1:%d", port);
    int log_fd = open (self->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const char *argv [] = { binary, "-db", "-f", self->config_path, NULL };
    self->pid = log_fd >= 0? s_spawn (argv, log_fd, log_fd, NULL): -1;
    if (log_fd >= 0)
        close (log_fd);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (self->pid > 0 && sq_now_ms () < deadline) {
        char *info = sq_haproxy_command (self, "show info");
        bool up = info && strstr (info, "Pid:");
        free (info);
        if (up)
            return true;
        if (s_wait_child (self->pid, 0) != -2) {
            s_unregister (self->pid);
            self->pid = 0;
            break;
        }
        sq_sleep_ms (20);
    }
    return false;
}

sq_haproxy_t *
sq_haproxy_start (const char *name, const char *backend)
{
    static int counter = 0;
    char binary [512];
    if (!s_which ("haproxy", binary, sizeof binary)
    &&  !s_which ("/usr/sbin/haproxy", binary, sizeof binary)) {
        fprintf (stderr, "sq_haproxy_start: no haproxy (apt-get install haproxy)\n");
        return NULL;
    }
    sq_haproxy_t *self = calloc (1, sizeof *self);
    char dir [512], stem [440];
    sq_build_path ("tests", dir, sizeof dir);
    mkdir (dir, 0755);
    const char *engine = sq_engine ();
    snprintf (stem, sizeof stem, "%.300s/%.100s%s%.16s-%d", dir, name, *engine? "-": "",
              engine, ++counter);
    snprintf (self->log_path, sizeof self->log_path, "%s.haproxy.log", stem);
    //  A Unix socket path must fit in 108 bytes: it goes to /tmp
    snprintf (self->socket_path, sizeof self->socket_path, "/tmp/sq-haproxy-%d-%d.sock",
              (int) getpid (), counter);
    unlink (self->log_path);
    for (int attempt = 0; attempt < 3; attempt++) {
        snprintf (self->config_path, sizeof self->config_path, "%s-XXXXXX.cfg", stem);
        if (s_haproxy_try (self, binary, backend)) {
            printf ("# haproxy %d: %s (frontend %s)\n", (int) self->pid, self->log_path,
                    self->frontend);
            fflush (stdout);
            return self;
        }
        if (self->pid > 0)
            sq_child_stop (self->pid, SIGKILL);
        self->pid = 0;
        unlink (self->config_path);
    }
    fprintf (stderr, "sq_haproxy_start: HAProxy did not start\n");
    sq_haproxy_print_log (self, 30);
    unlink (self->socket_path);
    free (self);
    return NULL;
}

char *
sq_haproxy_command (sq_haproxy_t *self, const char *command)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf (address.sun_path, sizeof address.sun_path, "%.107s", self->socket_path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return NULL;
    char *answer = NULL;
    size_t size = 0;
    if (connect (fd, (struct sockaddr *) &address, sizeof address) == 0
    &&  sq_tcp_send (fd, command, strlen (command)) == 0 && sq_tcp_send (fd, "\n", 1) == 0) {
        answer = calloc (1, 1);
        struct pollfd item = { fd, POLLIN, 0 };
        //  HAProxy closes the connection after the answer
        while (poll (&item, 1, SQ_WAIT_MS) > 0 && s_drain_fd (fd, &answer, &size))
            ;
    }
    close (fd);
    if (answer && size == 0) {
        free (answer);
        answer = NULL;
    }
    return answer;
}

//  Copies field `column` (0-based) of a CSV line into buf
static void
s_csv_field (const char *line, int column, char *buf, size_t size)
{
    for (int index = 0; index < column && line; index++) {
        line = strpbrk (line, ",\n");
        line = line && *line == ','? line + 1: NULL;
    }
    size_t length = line? strcspn (line, ",\n"): 0;
    snprintf (buf, size, "%.*s", (int) length, line? line: "");
}

bool
sq_haproxy_server_status (sq_haproxy_t *self, const char *server, char *buf, size_t size)
{
    //  show stat: "# pxname,svname,...,status,..." then one CSV line a row
    char *stat = sq_haproxy_command (self, "show stat");
    const char *header = stat? strstr (stat, "# pxname,"): NULL;
    int column = -1;
    for (int index = 0; header && column < 0 && index < 100; index++) {
        char field [64];
        s_csv_field (header + 2, index, field, sizeof field);
        if (strcmp (field, "status") == 0)
            column = index;
    }
    char prefix [256];
    snprintf (prefix, sizeof prefix, "\nproxies,%s,", server);
    const char *row = column >= 0? strstr (stat, prefix): NULL;
    if (row)
        s_csv_field (row + 1, column, buf, size);
    free (stat);
    return row != NULL;
}

bool
sq_haproxy_wait_status (sq_haproxy_t *self, const char *server, const char *status,
                        int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    char now [64] = "";
    while (true) {
        if (sq_haproxy_server_status (self, server, now, sizeof now)
        &&  strcmp (now, status) == 0)
            return true;
        if (sq_now_ms () >= deadline)
            break;
        sq_sleep_ms (10);
    }
    fprintf (stderr, "sq_haproxy_wait_status: %s is '%s', not %s, after %d ms\n",
             server, now, status, timeout_ms);
    return false;
}

int
sq_haproxy_stop (sq_haproxy_t **self_p)
{
    sq_haproxy_t *self = *self_p;
    if (!self)
        return -1;
    int code = self->pid > 0? sq_child_stop (self->pid, SIGTERM): -1;
    unlink (self->config_path);
    unlink (self->socket_path);
    free (self);
    *self_p = NULL;
    return code;
}

void
sq_haproxy_print_log (sq_haproxy_t *self, int lines)
{
    if (self)
        s_print_log (self->log_path, lines);
}

//  =====================================================================
//  Control socket

char **
sq_control (const char *endpoint, const char **frames, int timeout_ms)
{
    void *ctx = zmq_ctx_new ();
    void *socket = sq_peer_new (ctx, ZMQ_REQ, NULL, endpoint);
    char **reply = NULL;
    if (socket) {
        sq_msg_t *request = sq_msg_new ();
        for (int index = 0; frames [index]; index++)
            sq_msg_addstr (request, frames [index]);
        sq_msg_t *answer = sq_msg_send (request, socket) == 0?
            sq_msg_recv (socket, timeout_ms): NULL;
        if (answer) {
            reply = calloc (answer->count + 1, sizeof (char *));
            for (size_t index = 0; index < answer->count; index++)
                reply [index] = strdup ((char *) answer->data [index]);
        }
        sq_msg_destroy (&request);
        sq_msg_destroy (&answer);
        zmq_close (socket);
    }
    zmq_ctx_term (ctx);
    return reply;
}

char *
sq_control_str (const char *endpoint, const char *command)
{
    const char *frames [] = { command, NULL };
    char **reply = sq_control (endpoint, frames, SQ_WAIT_MS);
    char *first = NULL;
    if (reply && reply [0]) {
        first = reply [0];
        reply [0] = strdup ("");    //  Keep the array well-formed to free it
    }
    sq_strv_destroy (&reply);
    return first;
}

size_t
sq_strv_size (char **strv)
{
    size_t size = 0;
    while (strv && strv [size])
        size++;
    return size;
}

void
sq_strv_destroy (char ***strv_p)
{
    char **strv = *strv_p;
    for (size_t index = 0; strv && strv [index]; index++)
        free (strv [index]);
    free (strv);
    *strv_p = NULL;
}

//  =====================================================================
//  Tiny JSON reader

static const char *s_json_value_end (const char *p);

static const char *
s_json_ws (const char *p)
{
    while (*p && isspace ((unsigned char) *p))
        p++;
    return p;
}

//  Returns the end of the string starting at p, or NULL
static const char *
s_json_string_end (const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!p [1])
                return NULL;
            p++;
        }
        else
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

//  Returns the end of the object or array starting at p, or NULL
static const char *
s_json_container_end (const char *p)
{
    char close = *p == '{'? '}': ']';
    p = s_json_ws (p + 1);
    if (*p == close)
        return p + 1;
    while (true) {
        if (close == '}') {
            p = s_json_string_end (s_json_ws (p));
            if (!p || *(p = s_json_ws (p)) != ':')
                return NULL;
            p++;
        }
        p = s_json_value_end (p);
        if (!p)
            return NULL;
        p = s_json_ws (p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

//  Returns the end of the value starting at p (after blanks), or NULL
static const char *
s_json_value_end (const char *p)
{
    p = s_json_ws (p);
    if (*p == '"')
        return s_json_string_end (p);
    if (*p == '{' || *p == '[')
        return s_json_container_end (p);
    const char *start = p;
    while (*p && (isalnum ((unsigned char) *p) || strchr ("+-.", *p)))
        p++;
    return p > start? p: NULL;
}

//  Finds member name [0..length) of the object at p; returns its value
static const char *
s_json_member (const char *p, const char *name, size_t length)
{
    p = s_json_ws (p);
    if (*p != '{')
        return NULL;
    p = s_json_ws (p + 1);
    while (*p == '"') {
        const char *end = s_json_string_end (p);
        if (!end)
            return NULL;
        bool match = (size_t) (end - p - 2) == length && memcmp (p + 1, name, length) == 0;
        p = s_json_ws (end);
        if (*p != ':')
            return NULL;
        p = s_json_ws (p + 1);
        if (match)
            return p;
        p = s_json_value_end (p);
        if (!p || *(p = s_json_ws (p)) != ',')
            return NULL;
        p = s_json_ws (p + 1);
    }
    return NULL;
}

//  Returns element `index` of the array at p, or NULL
static const char *
s_json_element (const char *p, long index)
{
    p = s_json_ws (p);
    if (*p != '[' || *(p = s_json_ws (p + 1)) == ']')
        return NULL;
    for (long current = 0; current < index; current++) {
        p = s_json_value_end (p);
        if (!p || *(p = s_json_ws (p)) != ',')
            return NULL;
        p = s_json_ws (p + 1);
    }
    return p;
}

bool
sq_json_valid (const char *json)
{
    const char *end = json? s_json_value_end (json): NULL;
    return end && *s_json_ws (end) == 0;
}

const char *
sq_json_find (const char *json, const char *path)
{
    const char *p = json? s_json_ws (json): NULL;
    while (p && path && *path) {
        size_t length = strcspn (path, ".");
        bool is_index = length > 0 && strspn (path, "0123456789") >= length;
        if (*p == '[' && is_index)
            p = s_json_element (p, atol (path));
        else
            p = s_json_member (p, path, length);
        path += length;
        if (*path == '.')
            path++;
    }
    return p;
}

bool
sq_json_number (const char *json, const char *path, long long *value)
{
    const char *p = sq_json_find (json, path);
    if (!p || !(*p == '-' || isdigit ((unsigned char) *p)))
        return false;
    char *end;
    *value = strtoll (p, &end, 10);
    return end > p;
}

bool
sq_json_string (const char *json, const char *path, char *buf, size_t size)
{
    const char *p = sq_json_find (json, path);
    const char *end = p? s_json_string_end (p): NULL;
    if (!end || size == 0)
        return false;
    size_t length = 0;
    for (p++; p < end - 1 && length + 1 < size; p++) {
        if (*p == '\\') {
            p++;
            buf [length++] = *p == 'n'? '\n': *p == 't'? '\t': *p == 'u'? '?': *p;
            if (*p == 'u')
                p += 4;
        }
        else
            buf [length++] = *p;
    }
    buf [length] = 0;
    return true;
}

bool
sq_json_bool (const char *json, const char *path, bool *value)
{
    const char *p = sq_json_find (json, path);
    if (p && strncmp (p, "true", 4) == 0)
        *value = true;
    else
    if (p && strncmp (p, "false", 5) == 0)
        *value = false;
    else
        return false;
    return true;
}

bool
sq_json_is_null (const char *json, const char *path)
{
    const char *p = sq_json_find (json, path);
    return p && strncmp (p, "null", 4) == 0;
}

int
sq_json_count (const char *json, const char *path)
{
    const char *p = sq_json_find (json, path);
    if (!p || *p != '[')
        return -1;
    if (*s_json_ws (p + 1) == ']')
        return 0;
    int count = 0;
    while (s_json_element (p, count))
        count++;
    return count;
}

//  =====================================================================
//  STATS polling

bool
sq_stats (const char *control, const char *path, long long *value)
{
    char *json = sq_control_str (control, "STATS");
    bool found = json && sq_json_number (json, path, value);
    free (json);
    return found;
}

//  Polls until path compares to value (at_least: >=, else ==)
static bool
s_stats_wait (const char *control, const char *path, long long value,
              bool at_least, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    long long current = 0;
    bool found = false;
    while (true) {
        found = sq_stats (control, path, &current);
        if (found && (at_least? current >= value: current == value))
            return true;
        if (sq_now_ms () >= deadline)
            break;
        sq_sleep_ms (25);
    }
    if (found)
        fprintf (stderr, "sq_stats_wait: %s %s %lld not reached in %d ms, last %lld\n",
                 path, at_least? ">=": "==", value, timeout_ms, current);
    else
        fprintf (stderr, "sq_stats_wait: %s not in STATS (or no reply)\n", path);
    return false;
}

bool
sq_stats_wait (const char *control, const char *path, long long value, int timeout_ms)
{
    return s_stats_wait (control, path, value, false, timeout_ms);
}

bool
sq_stats_wait_min (const char *control, const char *path, long long value,
                   int timeout_ms)
{
    return s_stats_wait (control, path, value, true, timeout_ms);
}

//  =====================================================================
//  Multipart messages

sq_msg_t *
sq_msg_new (void)
{
    return calloc (1, sizeof (sq_msg_t));
}

void
sq_msg_destroy (sq_msg_t **self_p)
{
    sq_msg_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->count; index++)
        free (self->data [index]);
    free (self->data);
    free (self->size);
    free (self);
    *self_p = NULL;
}

void
sq_msg_add (sq_msg_t *self, const void *data, size_t size)
{
    if (self->count == self->alloc) {
        self->alloc = self->alloc? self->alloc * 2: 4;
        self->data = realloc (self->data, self->alloc * sizeof (uint8_t *));
        self->size = realloc (self->size, self->alloc * sizeof (size_t));
    }
    uint8_t *copy = malloc (size + 1);
    if (size)
        memcpy (copy, data, size);
    copy [size] = 0;
    self->data [self->count] = copy;
    self->size [self->count++] = size;
}

void
sq_msg_addstr (sq_msg_t *self, const char *text)
{
    sq_msg_add (self, text, strlen (text));
}

int
sq_msg_send (sq_msg_t *self, void *socket)
{
    for (size_t index = 0; index < self->count; index++) {
        int flags = index + 1 < self->count? ZMQ_SNDMORE: 0;
        if (zmq_send (socket, self->data [index], self->size [index], flags) == -1)
            return -1;
    }
    return self->count? 0: -1;
}

//  Waits until socket is readable; false on timeout
static bool
s_wait_readable (void *socket, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    while (true) {
        zmq_pollitem_t item = { socket, 0, ZMQ_POLLIN, 0 };
        long remaining = (long) (deadline - sq_now_ms ());
        int rc = zmq_poll (&item, 1, remaining > 0? remaining: 0);
        if (rc > 0)
            return true;
        if (rc == -1 && errno == EINTR && remaining > 0)
            continue;
        return false;
    }
}

sq_msg_t *
sq_msg_recv (void *socket, int timeout_ms)
{
    if (!s_wait_readable (socket, timeout_ms))
        return NULL;
    sq_msg_t *self = sq_msg_new ();
    bool more = true;
    while (more) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, socket, self->count? 0: ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&frame);
            sq_msg_destroy (&self);
            return NULL;
        }
        sq_msg_add (self, zmq_msg_data (&frame), zmq_msg_size (&frame));
        more = zmq_msg_more (&frame);
        zmq_msg_close (&frame);
    }
    return self;
}

bool
sq_msg_eq (sq_msg_t *self, sq_msg_t *other)
{
    if (!self || !other || self->count != other->count)
        return false;
    for (size_t index = 0; index < self->count; index++)
        if (self->size [index] != other->size [index]
        ||  memcmp (self->data [index], other->data [index], self->size [index]))
            return false;
    return true;
}

int
sq_send_str (void *socket, const char *text)
{
    return zmq_send (socket, text, strlen (text), 0) == -1? -1: 0;
}

char *
sq_recv_str (void *socket, int timeout_ms)
{
    sq_msg_t *msg = sq_msg_recv (socket, timeout_ms);
    char *text = msg? strdup ((char *) msg->data [0]): NULL;
    sq_msg_destroy (&msg);
    return text;
}

//  =====================================================================
//  libzmq peers

//  Sets the mechanism options; 0 or -1
static int
s_set_security (void *socket, const sq_security_t *security)
{
    int one = 1, rc = 0;
    if (!security || security->mechanism == SQ_NULL)
        return 0;
    if (security->as_server)
        rc |= zmq_setsockopt (socket, ZMQ_ZAP_DOMAIN, "sq-test", 7);
    if (security->mechanism == SQ_PLAIN) {
        if (security->as_server)
            return rc | zmq_setsockopt (socket, ZMQ_PLAIN_SERVER, &one, sizeof one);
        rc |= zmq_setsockopt (socket, ZMQ_PLAIN_USERNAME, security->username,
                              strlen (security->username));
        return rc | zmq_setsockopt (socket, ZMQ_PLAIN_PASSWORD, security->password,
                                    strlen (security->password));
    }
    if (security->as_server)
        rc |= zmq_setsockopt (socket, ZMQ_CURVE_SERVER, &one, sizeof one);
    else
        rc |= zmq_setsockopt (socket, ZMQ_CURVE_SERVERKEY, security->server_key, 40);
    rc |= zmq_setsockopt (socket, ZMQ_CURVE_PUBLICKEY, security->public_key, 40);
    return rc | zmq_setsockopt (socket, ZMQ_CURVE_SECRETKEY, security->secret_key, 40);
}

//  sq_peer_new, and ZMQ_IMMEDIATE as given
static void *
s_peer_new (void *ctx, int type, const sq_security_t *security, const char *endpoint,
            int immediate)
{
    void *socket = zmq_socket (ctx, type);
    if (!socket)
        return NULL;
    int zero = 0, reconnect = 50, timeout = SQ_WAIT_MS / 2;
    int rc = zmq_setsockopt (socket, ZMQ_LINGER, &zero, sizeof zero);
    rc |= zmq_setsockopt (socket, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    //  An idle worker or queued client never finishes its handshake
    rc |= zmq_setsockopt (socket, ZMQ_HANDSHAKE_IVL, &zero, sizeof zero);
    rc |= zmq_setsockopt (socket, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect);
    rc |= zmq_setsockopt (socket, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    rc |= s_set_security (socket, security);
    if (rc == 0 && endpoint)
        rc = zmq_connect (socket, endpoint);
    if (rc != 0) {
        fprintf (stderr, "sq_peer_new: %s\n", zmq_strerror (zmq_errno ()));
        zmq_close (socket);
        return NULL;
    }
    return socket;
}

void *
sq_peer_new (void *ctx, int type, const sq_security_t *security, const char *endpoint)
{
    return s_peer_new (ctx, type, security, endpoint, 0);
}

void *
sq_worker_socket_new (void *ctx, int type, const sq_security_t *security,
                      const char *endpoint)
{
    return s_peer_new (ctx, type, security, endpoint, 1);
}

//  Writes into buf what to dial to reach endpoint from source: a local
//  IPv4 address, "<ip>:<port>", or NULL (endpoint as it is); false if
//  it does not fit
static bool
s_dial_from (const char *endpoint, const char *source, char *buf, size_t size)
{
    if (!source) {
        int length = snprintf (buf, size, "%s", endpoint);
        return length > 0 && (size_t) length < size;
    }
    char ip [64];
    int length = snprintf (ip, sizeof ip, "%s", source);
    if (length <= 0 || (size_t) length >= sizeof ip)
        return false;
    char *colon = strchr (ip, ':');
    int port = colon? atoi (colon + 1): 0;
    if (colon)
        *colon = 0;
    return sq_endpoint_from (endpoint, ip, port, buf, size);
}

void *
sq_curve_client_new (void *ctx, const char *endpoint, const char *source,
                     const sq_keypair_t *own, const char *server_key, int reconnect_ms)
{
    sq_keypair_t fresh;
    char dial [320];
    if (!own && zmq_curve_keypair (fresh.public_key, fresh.secret_key) != 0) {
        fprintf (stderr, "sq_curve_client_new: %s\n", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    if (!s_dial_from (endpoint, source, dial, sizeof dial)) {
        fprintf (stderr, "sq_curve_client_new: cannot dial %s from %s\n", endpoint,
                 source? source: "anywhere");
        return NULL;
    }
    if (!own)
        own = &fresh;
    sq_security_t security = {
        .mechanism = SQ_CURVE, .server_key = server_key,
        .public_key = own->public_key, .secret_key = own->secret_key
    };
    void *client = sq_peer_new (ctx, ZMQ_DEALER, &security, NULL);
    if (!client)
        return NULL;
    if (zmq_setsockopt (client, ZMQ_RECONNECT_IVL, &reconnect_ms, sizeof reconnect_ms) != 0
    ||  zmq_connect (client, dial) != 0) {
        fprintf (stderr, "sq_curve_client_new: %s\n", zmq_strerror (zmq_errno ()));
        zmq_close (client);
        return NULL;
    }
    return client;
}

//  =====================================================================
//  ZAP handler

struct sq_zap_s {
    void *socket;               //  REP on inproc://zeromq.zap.01
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mutex;      //  Guards seen
    sq_zap_seen_t seen;
    char *username;             //  The rule, copied
    char *password;
    uint8_t client_key [32];
    bool check_key;
};

//  Copies frame `index` of msg into buf as a string
static void
s_copy_frame (sq_msg_t *msg, size_t index, char *buf, size_t size)
{
    const char *text = index < msg->count? (const char *) msg->data [index]: "";
    snprintf (buf, size, "%s", text);
}

//  Records one request and decides; true to accept
static bool
s_zap_decide (sq_zap_t *self, sq_msg_t *request)
{
    pthread_mutex_lock (&self->mutex);
    sq_zap_seen_t *seen = &self->seen;
    seen->requests++;
    s_copy_frame (request, 5, seen->mechanism, sizeof seen->mechanism);
    bool accept = true;
    if (strcmp (seen->mechanism, "PLAIN") == 0) {
        s_copy_frame (request, 6, seen->username, sizeof seen->username);
        s_copy_frame (request, 7, seen->password, sizeof seen->password);
        accept = (!self->username || strcmp (self->username, seen->username) == 0)
              && (!self->password || strcmp (self->password, seen->password) == 0);
    }
    else
    if (strcmp (seen->mechanism, "CURVE") == 0 && request->count > 6) {
        seen->client_key_size = request->size [6] < 32? request->size [6]: 32;
        memcpy (seen->client_key, request->data [6], seen->client_key_size);
        accept = !self->check_key
              || (request->size [6] == 32 && memcmp (request->data [6], self->client_key, 32) == 0);
    }
    if (accept)
        seen->accepted++;
    else
        seen->refused++;
    pthread_mutex_unlock (&self->mutex);
    return accept;
}

static void *
s_zap_thread (void *args)
{
    sq_zap_t *self = args;
    while (!atomic_load (&self->stop)) {
        sq_msg_t *request = sq_msg_recv (self->socket, 50);
        if (!request)
            continue;
        bool accept = s_zap_decide (self, request);
        sq_msg_t *reply = sq_msg_new ();
        sq_msg_addstr (reply, "1.0");
        sq_msg_add (reply, request->count > 1? request->data [1]: NULL,
                    request->count > 1? request->size [1]: 0);
        sq_msg_addstr (reply, accept? "200": "400");
        sq_msg_addstr (reply, accept? "OK": "refused by test rule");
        sq_msg_addstr (reply, accept? "tester": "");
        sq_msg_add (reply, NULL, 0);
        sq_msg_send (reply, self->socket);
        sq_msg_destroy (&reply);
        sq_msg_destroy (&request);
    }
    zmq_close (self->socket);
    return NULL;
}

sq_zap_t *
sq_zap_new (void *ctx, const sq_zap_rule_t *rule)
{
    sq_zap_t *self = calloc (1, sizeof *self);
    self->socket = zmq_socket (ctx, ZMQ_REP);
    int zero = 0;
    zmq_setsockopt (self->socket, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind (self->socket, "inproc://zeromq.zap.01") != 0) {
        fprintf (stderr, "sq_zap_new: %s\n", zmq_strerror (zmq_errno ()));
        zmq_close (self->socket);
        free (self);
        return NULL;
    }
    self->username = rule && rule->username? strdup (rule->username): NULL;
    self->password = rule && rule->password? strdup (rule->password): NULL;
    self->check_key = rule && rule->client_key;
    if (self->check_key)
        memcpy (self->client_key, rule->client_key, 32);
    pthread_mutex_init (&self->mutex, NULL);
    atomic_init (&self->stop, false);
    pthread_create (&self->thread, NULL, s_zap_thread, self);
    return self;
}

void
sq_zap_destroy (sq_zap_t **self_p)
{
    sq_zap_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    pthread_mutex_destroy (&self->mutex);
    free (self->username);
    free (self->password);
    free (self);
    *self_p = NULL;
}

void
sq_zap_seen (sq_zap_t *self, sq_zap_seen_t *seen)
{
    pthread_mutex_lock (&self->mutex);
    *seen = self->seen;
    pthread_mutex_unlock (&self->mutex);
}

bool
sq_zap_wait (sq_zap_t *self, int requests, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    while (true) {
        sq_zap_seen_t seen;
        sq_zap_seen (self, &seen);
        if (seen.requests >= requests)
            return true;
        if (sq_now_ms () >= deadline)
            return false;
        sq_sleep_ms (10);
    }
}

//  =====================================================================
//  Workers

struct sq_worker_s {
    void *ctx;
    void *socket;               //  Used by the thread only, once started
    sq_zap_t *zap;
    pthread_t thread;
    atomic_bool stop;
    atomic_long handled;
    sq_handler_fn *handler;
    void *handler_arg;
};

static void *
s_worker_thread (void *args)
{
    sq_worker_t *self = args;
    while (!atomic_load (&self->stop)) {
        sq_msg_t *request = sq_msg_recv (self->socket, 50);
        if (!request)
            continue;
        sq_msg_t *reply = self->handler?
            self->handler (request, self->handler_arg): request;
        //  Counted before replying: whoever got the reply sees the count
        atomic_fetch_add (&self->handled, 1);
        if (reply)
            sq_msg_send (reply, self->socket);
        if (reply != request)
            sq_msg_destroy (&reply);
        sq_msg_destroy (&request);
    }
    zmq_close (self->socket);
    return NULL;
}

sq_worker_t *
sq_worker_new (const char *endpoint, const sq_worker_config_t *config)
{
    sq_worker_t *self = calloc (1, sizeof *self);
    self->ctx = zmq_ctx_new ();
    if (config->zap)
        self->zap = sq_zap_new (self->ctx, config->zap);
    self->socket = sq_worker_socket_new (self->ctx, config->type, config->security, endpoint);
    for (int extra = 1; self->socket && extra < config->connections; extra++)
        if (zmq_connect (self->socket, endpoint) != 0) {
            zmq_close (self->socket);
            self->socket = NULL;
        }
    if (!self->socket || (config->zap && !self->zap)) {
        if (self->socket)
            zmq_close (self->socket);
        sq_zap_destroy (&self->zap);
        zmq_ctx_term (self->ctx);
        free (self);
        return NULL;
    }
    self->handler = config->handler;
    self->handler_arg = config->handler_arg;
    atomic_init (&self->stop, false);
    atomic_init (&self->handled, 0);
    pthread_create (&self->thread, NULL, s_worker_thread, self);
    return self;
}

sq_worker_t *
sq_echo_new (const char *endpoint, int type, int connections)
{
    sq_worker_config_t config = { .type = type, .connections = connections };
    return sq_worker_new (endpoint, &config);
}

sq_worker_t *
sq_curve_worker_new (const char *endpoint, int type, int connections,
                     const sq_keypair_t *server, const uint8_t *client_key)
{
    sq_security_t security = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = server->public_key, .secret_key = server->secret_key
    };
    sq_zap_rule_t rule = { .client_key = client_key };
    sq_worker_config_t config = {
        .type = type, .connections = connections, .security = &security, .zap = &rule
    };
    return sq_worker_new (endpoint, &config);
}

void
sq_worker_destroy (sq_worker_t **self_p)
{
    sq_worker_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    sq_zap_destroy (&self->zap);
    zmq_ctx_term (self->ctx);
    free (self);
    *self_p = NULL;
}

long
sq_worker_handled (sq_worker_t *self)
{
    return atomic_load (&self->handled);
}

sq_zap_t *
sq_worker_zap (sq_worker_t *self)
{
    return self->zap;
}

//  =====================================================================
//  Socket monitor

struct sq_monitor_s {
    void *socket;               //  The monitored socket
    void *pair;                 //  Receives the events
};

sq_monitor_t *
sq_monitor_new (void *ctx, void *socket)
{
    static atomic_int counter = 0;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://sq-monitor-%d",
              atomic_fetch_add (&counter, 1));
    if (zmq_socket_monitor (socket, endpoint, ZMQ_EVENT_ALL) != 0)
        return NULL;
    sq_monitor_t *self = calloc (1, sizeof *self);
    self->socket = socket;
    self->pair = zmq_socket (ctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt (self->pair, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect (self->pair, endpoint);
    return self;
}

bool
sq_monitor_wait (sq_monitor_t *self, int event, int timeout_ms, int *value)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    while (true) {
        long remaining = (long) (deadline - sq_now_ms ());
        sq_msg_t *msg = sq_msg_recv (self->pair, remaining > 0? remaining: 0);
        if (!msg)
            return false;
        bool match = false;
        if (msg->size [0] >= 6) {
            uint16_t kind;
            uint32_t data;
            memcpy (&kind, msg->data [0], 2);
            memcpy (&data, msg->data [0] + 2, 4);
            match = kind == event;
            if (match && value)
                *value = (int) data;
        }
        sq_msg_destroy (&msg);
        if (match)
            return true;
    }
}

void
sq_monitor_destroy (sq_monitor_t **self_p)
{
    sq_monitor_t *self = *self_p;
    if (!self)
        return;
    zmq_socket_monitor (self->socket, NULL, 0);
    zmq_close (self->pair);
    free (self);
    *self_p = NULL;
}

//  =====================================================================
//  Raw TCP peers

int
sq_tcp_connect (const char *endpoint)
{
    int port = sq_endpoint_port (endpoint);
    if (port <= 0)
        return -1;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (fd == -1 || connect (fd, (struct sockaddr *) &address, sizeof address) == -1) {
        fprintf (stderr, "sq_tcp_connect: %s: %s\n", endpoint, strerror (errno));
        if (fd != -1)
            close (fd);
        return -1;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int
sq_tcp_send (int fd, const void *data, size_t size)
{
    const uint8_t *bytes = data;
    while (size > 0) {
        ssize_t sent = send (fd, bytes, size, MSG_NOSIGNAL);
        if (sent == -1 && errno == EINTR)
            continue;
        if (sent <= 0)
            return -1;
        bytes += sent;
        size -= sent;
    }
    return 0;
}

size_t
sq_tcp_recv (int fd, void *buf, size_t size, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    size_t got = 0;
    while (got < size) {
        long remaining = (long) (deadline - sq_now_ms ());
        if (remaining <= 0)
            break;
        struct pollfd item = { fd, POLLIN, 0 };
        if (poll (&item, 1, (int) remaining) <= 0)
            continue;               //  EINTR, or the deadline check ends it
        ssize_t rc = recv (fd, (uint8_t *) buf + got, size - got, 0);
        if (rc == -1 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        got += rc;
    }
    return got;
}

bool
sq_tcp_wait_closed (int fd, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    while (true) {
        long remaining = (long) (deadline - sq_now_ms ());
        struct pollfd item = { fd, POLLIN, 0 };
        if (remaining <= 0)
            return false;
        if (poll (&item, 1, (int) remaining) <= 0)
            continue;
        char chunk [4096];
        ssize_t rc = recv (fd, chunk, sizeof chunk, 0);
        if (rc == 0 || (rc == -1 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

int
sq_fd_local_port (int fd)
{
    struct sockaddr_in address;
    socklen_t size = sizeof address;
    if (getsockname (fd, (struct sockaddr *) &address, &size) == -1
    ||  address.sin_family != AF_INET)
        return -1;
    return ntohs (address.sin_port);
}

//  ---------------------------------------------------------------------
//  Workers that answer with their own name, clients that ask which one

sq_msg_t *
sq_name_reply (const sq_msg_t *request, const char *name)
{
    sq_msg_t *reply = sq_msg_new ();
    for (size_t index = 0; index + 1 < request->count; index++)
        sq_msg_add (reply, request->data [index], request->size [index]);
    char text [512];
    snprintf (text, sizeof text, "%s|%s", name,
              request->count? (char *) request->data [request->count - 1]: "");
    sq_msg_addstr (reply, text);
    return reply;
}

bool
sq_ask (void *client, const char *text, char *worker, size_t size)
{
    if (sq_send_str (client, text) != 0) {
        fprintf (stderr, "could not send '%s'\n", text);
        return false;
    }
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    if (!reply) {
        fprintf (stderr, "no reply to '%s' within %d ms\n", text, SQ_WAIT_MS);
        return false;
    }
    char *bar = strchr (reply, '|');
    bool ok = bar && strcmp (bar + 1, text) == 0;
    if (ok) {
        *bar = 0;
        snprintf (worker, size, "%s", reply);
    }
    else
        fprintf (stderr, "bad reply '%s' to '%s'\n", reply, text);
    free (reply);
    return ok;
}

bool
sq_ask_expect (void *client, const char *text, const char *expected)
{
    char worker [96];
    if (!sq_ask (client, text, worker, sizeof worker))
        return false;
    if (strcmp (worker, expected) == 0)
        return true;
    fprintf (stderr, "'%s' was answered by %s, not %s\n", text, worker, expected);
    return false;
}

int
sq_tcp_connect_from (const char *endpoint, const char *source_ip)
{
    int port = sq_endpoint_port (endpoint);
    struct sockaddr_in source = { .sin_family = AF_INET };
    if (port <= 0 || inet_pton (AF_INET, source_ip, &source.sin_addr) != 1)
        return -1;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (fd == -1
    ||  bind (fd, (struct sockaddr *) &source, sizeof source) == -1
    ||  connect (fd, (struct sockaddr *) &address, sizeof address) == -1) {
        fprintf (stderr, "sq_tcp_connect_from: %s from %s: %s\n", endpoint, source_ip,
                 strerror (errno));
        if (fd != -1)
            close (fd);
        return -1;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

//  =====================================================================
//  ZMTP 3 by hand

const uint8_t sq_zmtp_prefix [11] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3 };

void
sq_zmtp_greeting (uint8_t *greeting, const char *mechanism)
{
    memset (greeting, 0, 64);
    memcpy (greeting, sq_zmtp_prefix, 11);
    size_t length = strlen (mechanism);
    memcpy (greeting + 12, mechanism, length < 20? length: 20);
}

bool
sq_zmtp_expect_prefix (int fd, int timeout_ms)
{
    uint8_t prefix [11];
    size_t got = sq_tcp_recv (fd, prefix, 11, timeout_ms);
    if (got != 11) {
        fprintf (stderr, "sq_zmtp_expect_prefix: %zu of 11 bytes in %d ms\n", got, timeout_ms);
        return false;
    }
    if (memcmp (prefix, sq_zmtp_prefix, 11)) {
        fprintf (stderr, "sq_zmtp_expect_prefix: not the proxy's 11 bytes\n");
        return false;
    }
    return true;
}

bool
sq_zmtp_expect_tail (int fd, const char *mechanism, int timeout_ms)
{
    uint8_t tail [53];
    size_t got = sq_tcp_recv (fd, tail, 53, timeout_ms);
    if (got != 53) {
        fprintf (stderr, "sq_zmtp_expect_tail: %zu of 53 bytes in %d ms\n", got, timeout_ms);
        return false;
    }
    //  tail [0] is the minor version; the mechanism is greeting bytes 12..31
    char expected [20] = { 0 };
    memcpy (expected, mechanism, strlen (mechanism) < 20? strlen (mechanism): 20);
    if (memcmp (tail + 1, expected, 20)) {
        fprintf (stderr, "sq_zmtp_expect_tail: mechanism '%.20s', not %s\n",
                 (char *) tail + 1, mechanism);
        return false;
    }
    return true;
}

size_t
sq_zmtp_command (uint8_t *buf, size_t size, const char *name, const void *body,
                 size_t body_size)
{
    size_t name_size = strlen (name);
    size_t frame_size = 3 + name_size + body_size;
    if (name_size > 255 || 1 + name_size + body_size > 255 || frame_size > size)
        return 0;
    buf [0] = 0x04;
    buf [1] = (uint8_t) (1 + name_size + body_size);
    buf [2] = (uint8_t) name_size;
    memcpy (buf + 3, name, name_size);
    if (body_size)
        memcpy (buf + 3 + name_size, body, body_size);
    return frame_size;
}

size_t
sq_zmtp_ready (uint8_t *buf, size_t size, const char *socket_type)
{
    uint8_t property [300];
    size_t type_size = strlen (socket_type);
    if (type_size > 200)
        return 0;
    property [0] = 11;
    memcpy (property + 1, "Socket-Type", 11);
    const uint8_t length [4] = { 0, 0, 0, (uint8_t) type_size };
    memcpy (property + 12, length, 4);
    memcpy (property + 16, socket_type, type_size);
    return sq_zmtp_command (buf, size, "READY", property, 16 + type_size);
}

size_t
sq_zmtp_message (uint8_t *buf, size_t size, const char *text)
{
    size_t text_size = strlen (text);
    if (text_size > 255 || 2 + text_size > size)
        return 0;
    buf [0] = 0x00;
    buf [1] = (uint8_t) text_size;
    memcpy (buf + 2, text, text_size);
    return 2 + text_size;
}

bool
sq_zmtp_read_frame (int fd, sq_zmtp_frame_t *frame, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    uint64_t size;
    if (!sq_raw_recv_header (fd, &frame->flags, &size, timeout_ms))
        return false;
    if (size > sizeof frame->body) {
        fprintf (stderr, "sq_zmtp_read_frame: a frame of %llu bytes\n",
                 (unsigned long long) size);
        return false;
    }
    frame->size = (size_t) size;
    return sq_tcp_recv (fd, frame->body, frame->size,
                        (int) (deadline - sq_now_ms ())) == frame->size;
}

bool
sq_zmtp_is_command (const sq_zmtp_frame_t *frame, const char *name)
{
    size_t name_size = strlen (name);
    return (frame->flags & 0x04) && frame->size >= 1 + name_size
        && frame->body [0] == name_size && memcmp (frame->body + 1, name, name_size) == 0;
}

//  =====================================================================
//  Log files and programs that run beside the test

int
sq_file_count (const char *path, const char *text)
{
    char *content = sq_file_read (path);
    int count = 0;
    for (const char *at = content? strstr (content, text): NULL; at && *text;
         at = strstr (at + strlen (text), text))
        count++;
    free (content);
    return count;
}

bool
sq_file_wait (const char *path, const char *text, int times, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    int count = 0;
    while (true) {
        count = sq_file_count (path, text);
        if (count >= times)
            return true;
        if (sq_now_ms () >= deadline)
            break;
        sq_sleep_ms (25);
    }
    fprintf (stderr, "sq_file_wait: '%s' %d times in %s within %d ms, not %d\n",
             text, count, path, timeout_ms, times);
    return false;
}

bool
sq_which (const char *command, char *buf, size_t size)
{
    return s_which (command, buf, size);
}

pid_t
sq_child_start (const char **argv, const char *log_path)
{
    int log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd == -1) {
        fprintf (stderr, "sq_child_start: cannot write %s\n", log_path);
        return -1;
    }
    pid_t pid = s_spawn (argv, log_fd, log_fd, NULL);
    close (log_fd);
    return pid > 0? pid: -1;
}

bool
sq_child_running (pid_t pid, int *code)
{
    int status = s_wait_child (pid, 0);
    if (status == -2)
        return true;
    s_unregister (pid);
    if (code)
        *code = status;
    return false;
}

int
sq_child_stop (pid_t pid, int signum)
{
    if (pid <= 0)
        return -1;
    if (signum)
        kill (pid, signum);
    int code = s_wait_child (pid, SQ_WAIT_MS);
    if (code == -2) {
        fprintf (stderr, "sq_child_stop: child %d did not exit, killing it\n", (int) pid);
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        code = -1;
    }
    s_unregister (pid);
    return code;
}

//  True if the python3 at path imports zmq
static bool
s_python_has_zmq (const char *path)
{
    const char *argv [] = { path, "-c", "import zmq", NULL };
    return sq_run (argv, SQ_WAIT_MS, NULL, NULL) == 0;
}

const char *
sq_python_zmq (void)
{
    static char found [512] = "";
    if (*found)
        return found;
    const char *chosen = getenv ("SQ_PYTHON");
    if (chosen && *chosen) {
        if (sq_which (chosen, found, sizeof found) && s_python_has_zmq (found))
            return found;
        fprintf (stderr, "sq_python_zmq: SQ_PYTHON=%s cannot import zmq\n", chosen);
        *found = 0;
        return NULL;
    }
    bool any = false;
    const char *path = getenv ("PATH");
    while (path && *path) {
        size_t length = strcspn (path, ":");
        char candidate [512];
        snprintf (candidate, sizeof candidate, "%.*s/python3", (int) length, path);
        path += length + (path [length] == ':');
        if (length == 0 || access (candidate, X_OK) != 0)
            continue;
        any = true;
        if (s_python_has_zmq (candidate)) {
            snprintf (found, sizeof found, "%s", candidate);
            return found;
        }
    }
    fprintf (stderr, "sq_python_zmq: %s: install python3-zmq (apt-get install python3-zmq)\n",
             any? "no python3 in PATH can import zmq": "no python3 in PATH");
    return NULL;
}

//  =====================================================================
//  Raw ZMTP 3.0 NULL peers

int
sq_raw_connect (const char *endpoint)
{
    int fd = sq_tcp_connect (endpoint);
    if (fd < 0)
        return -1;
    uint8_t greeting [64];
    sq_zmtp_greeting (greeting, "NULL");
    if (!sq_zmtp_expect_prefix (fd, SQ_WAIT_MS) || sq_tcp_send (fd, greeting, 64) != 0) {
        fprintf (stderr, "sq_raw_connect: no proxy greeting from %s\n", endpoint);
        close (fd);
        return -1;
    }
    return fd;
}

bool
sq_raw_ready (int fd, const char *socket_type)
{
    uint8_t ready [300];
    size_t size = sq_zmtp_ready (ready, sizeof ready, socket_type);
    if (!sq_zmtp_expect_tail (fd, "NULL", SQ_WAIT_MS)) {
        fprintf (stderr, "sq_raw_ready: no NULL greeting from the partner\n");
        return false;
    }
    return size && sq_tcp_send (fd, ready, size) == 0;
}

bool
sq_raw_expect_ready (int fd)
{
    sq_zmtp_frame_t frame;
    if (!sq_zmtp_read_frame (fd, &frame, SQ_WAIT_MS) || !sq_zmtp_is_command (&frame, "READY")) {
        fprintf (stderr, "sq_raw_expect_ready: no READY from the partner\n");
        return false;
    }
    return true;
}

bool
sq_raw_handshake (int fd, const char *socket_type)
{
    return sq_raw_ready (fd, socket_type) && sq_raw_expect_ready (fd);
}

int
sq_raw_send_header (int fd, uint64_t size)
{
    uint8_t header [9] = { 0x02 };
    for (int index = 8; index >= 1; index--, size >>= 8)
        header [index] = (uint8_t) size;
    return sq_tcp_send (fd, header, sizeof header);
}

bool
sq_raw_recv_header (int fd, uint8_t *flags, uint64_t *size, int timeout_ms)
{
    int64_t deadline = sq_now_ms () + timeout_ms;
    uint8_t header [9];
    if (sq_tcp_recv (fd, header, 2, timeout_ms) != 2)
        return false;
    *flags = header [0];
    *size = header [1];
    if (!(*flags & 0x02))
        return true;
    if (sq_tcp_recv (fd, header + 2, 7, (int) (deadline - sq_now_ms ())) != 7)
        return false;
    *size = 0;
    for (int index = 1; index < 9; index++)
        *size = (*size << 8) | header [index];
    return true;
}

int
sq_raw_send_text (int fd, const char *text)
{
    uint8_t frame [257];
    size_t size = sq_zmtp_message (frame, sizeof frame, text);
    return size? sq_tcp_send (fd, frame, size): -1;
}

bool
sq_raw_recv_text (int fd, const char *text)
{
    uint8_t flags;
    uint64_t size;
    char body [256];
    if (!sq_raw_recv_header (fd, &flags, &size, SQ_WAIT_MS) || (flags & 0x05)
    ||  size != strlen (text) || sq_tcp_recv (fd, body, size, SQ_WAIT_MS) != size
    ||  memcmp (body, text, size) != 0) {
        fprintf (stderr, "sq_raw_recv_text: expected '%s'\n", text);
        return false;
    }
    return true;
}

//  =====================================================================
//  Processes

long
sq_proc_status_kib (pid_t pid, const char *name)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long value = -1;
    size_t length = strlen (name);
    while (file && value < 0 && fgets (line, sizeof line, file))
        if (strncmp (line, name, length) == 0 && line [length] == ':')
            value = atol (line + length + 1);
    if (file)
        fclose (file);
    return value;
}
