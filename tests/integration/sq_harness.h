/*  =========================================================================
    sq_harness - helpers shared by the integration tests

    Starts and stops the real proxy binary as a child process, talks to its
    control socket, reads its STATS JSON, and drives real libzmq peers
    (clients, echo workers, a ZAP handler) and raw TCP peers against it.

    Everything here is asynchronous: tests never assert timing, they poll
    for an outcome with a generous bound (SQ_WAIT_MS) and, to conclude that
    something does not happen, watch for a quiet period (SQ_QUIET_MS).
    Harness functions never abort a test themselves: they return NULL,
    false or -1 and print why on stderr, and the test checks the result.
    The few at the end, for test binaries only, are the exception: each
    fails the current test itself (with SQ_CHECK), and says so.
    =========================================================================
*/
#ifndef SQ_HARNESS_H_INCLUDED
#define SQ_HARNESS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zmq.h>

//  Multiplier of the two bounds below: $SQ_TIME_SCALE, a whole number from
//  1 (the default) to 100, for slow runs such as the proxy under valgrind
int sq_time_scale (void);

//  Bound for anything that must happen (the test machine is shared and slow)
#define SQ_WAIT_MS  (20000 * sq_time_scale ())
//  How long nothing must happen before a test concludes it does not happen
#define SQ_QUIET_MS (2500 * sq_time_scale ())

//  ---------------------------------------------------------------------
//  Time and files

//  Monotonic clock in milliseconds
int64_t sq_now_ms (void);

//  Sleeps for the given number of milliseconds
void sq_sleep_ms (int msecs);

//  The engine the proxy runs with: $SQ_ENGINE ("stream" or "splice"), or
//  "" for the proxy's default (stream)
const char *sq_engine (void);

//  True when the proxy runs the engine of that name ("stream" by default).
//  For the few checks of what truly differs between the engines.
bool sq_engine_is (const char *name);

//  Directory holding the built binaries: $SQ_BUILD, or "build"
const char *sq_build_dir (void);

//  Writes "<build dir>/<name>" into buf
void sq_build_path (const char *name, char *buf, size_t size);

//  Reads a whole file into a NUL-terminated heap string; NULL on error
char *sq_file_read (const char *path);

//  Returns the TCP port of an endpoint "tcp://host:port", or -1
int sq_endpoint_port (const char *endpoint);

//  Writes into buf a libzmq endpoint that connects to the tcp:// endpoint
//  from a chosen local address: "tcp://<source_ip>:<source_port>;<host:port>"
//  (source_port 0: any). Linux routes all of 127.0.0.0/8 to loopback, so
//  peers on one host can look like distinct hosts (127.0.0.2, 127.0.0.3...).
//  False if endpoint is not tcp:// or buf is too small.
bool sq_endpoint_from (const char *endpoint, const char *source_ip, int source_port,
                       char *buf, size_t size);

//  A TCP port that is free on the IPv4 address ip right now (bound, then
//  released), or -1. It is below the kernel's ephemeral range, so no
//  connect and no bind to port 0, in this process or another test's, can
//  take it before the caller binds it; only another explicit pick could.
int sq_free_port (const char *ip);

//  ---------------------------------------------------------------------
//  The proxy process

typedef struct {
    pid_t pid;                  //  Child process id
    char frontend [256];        //  Bound endpoints, from the log
    char backend [256];
    char control [256];
    char metrics [256];         //  The --metrics URL, from the log; "" without
    char log_path [512];        //  stdout + stderr of the proxy
} sq_proxy_t;

//  Starts $SQ_BUILD/streamq-proxy on three ephemeral 127.0.0.1 ports, with
//  --engine $SQ_ENGINE when that is set, plus the NULL-terminated extra
//  arguments (args may be NULL), waits for its
//  "ready" line and parses the "listening:" lines (in text or JSON; the
//  metrics URL when there is one). The log goes to
//  $SQ_BUILD/tests/<name>-<n>.proxy.log. Returns NULL (after printing the
//  log) if the proxy does not become ready within SQ_WAIT_MS.
//  Call from the main thread: the child dies with the thread that forked.
//  $SQ_PROXY_WRAPPER, when set, is a command put before the proxy's (words
//  split at spaces, the first one looked up in PATH), in which "{log}"
//  stands for $SQ_BUILD/tests/<name>-<n>, e.g.
//  "valgrind --log-file={log}.valgrind.log --error-exitcode=97".
sq_proxy_t *sq_proxy_start (const char *name, const char **args);

//  Sends SIGTERM, waits for the exit and destroys the object. Returns the
//  exit code, 128 + N if killed by signal N, or -1 if it had to be killed
//  with SIGKILL after SQ_WAIT_MS.
int sq_proxy_stop (sq_proxy_t **self_p);

//  Like sq_proxy_stop, with any signal; signum 0 sends nothing and only
//  waits (e.g. after a TERMINATE command).
int sq_proxy_stop_with (sq_proxy_t **self_p, int signum);

//  Prints the last lines of the proxy log on stderr (for failure reports)
void sq_proxy_print_log (sq_proxy_t *self, int lines);

//  Returns the port of the proxy's --metrics server (whose /readyz a
//  balancer checks), or -1 when it has none
int sq_proxy_metrics_port (sq_proxy_t *self);

//  ---------------------------------------------------------------------
//  HAProxy: an L4 balancer in front of several proxies

typedef struct {
    pid_t pid;                  //  Child process id
    char frontend [256];        //  tcp://127.0.0.1:PORT, where clients connect
    char config_path [512];     //  The configuration written for it
    char socket_path [108];     //  Its runtime API (the stats socket)
    char log_path [512];        //  Its stdout + stderr
} sq_haproxy_t;

//  Starts HAProxy (haproxy in PATH, or /usr/sbin/haproxy) in the
//  foreground, in TCP mode: a frontend on a free 127.0.0.1 port whose
//  connections go to the backend "proxies", made of the lines the caller
//  gives (balance, checks, server lines, as HAProxy reads them), and the
//  runtime API on a Unix socket. The configuration goes to a temporary
//  file beside its log, $SQ_BUILD/tests/<name>-<n>.haproxy.log. Waits
//  until the runtime API answers (HAProxy has bound its frontend by then).
//  Returns NULL (after printing the log) if HAProxy is missing or does not
//  start within SQ_WAIT_MS. Call from the main thread, as sq_proxy_start.
//  HAProxy runs as it is, never under $SQ_PROXY_WRAPPER; its check timeout
//  grows with sq_time_scale (), for proxies that run under one.
sq_haproxy_t *sq_haproxy_start (const char *name, const char *backend);

//  Sends one command of the runtime API ("show stat") and returns the
//  whole answer (heap string, caller frees), or NULL if none came
char *sq_haproxy_command (sq_haproxy_t *self, const char *command);

//  Copies the status HAProxy shows for server `server` of the backend
//  "proxies" ("UP", "DOWN", "UP 1/2" while going down...) into buf;
//  false if the runtime API does not answer or has no such server
bool sq_haproxy_server_status (sq_haproxy_t *self, const char *server,
                               char *buf, size_t size);

//  Polls until the status of server is exactly `status`; false (with the
//  last status on stderr) if not within timeout_ms
bool sq_haproxy_wait_status (sq_haproxy_t *self, const char *server,
                             const char *status, int timeout_ms);

//  Sends SIGTERM, waits for the exit (SIGKILL after SQ_WAIT_MS), removes
//  the configuration and the socket, destroys the object and nulls the
//  pointer. Returns the exit code as sq_proxy_stop does.
int sq_haproxy_stop (sq_haproxy_t **self_p);

//  Prints the last lines of HAProxy's log on stderr (for failure reports)
void sq_haproxy_print_log (sq_haproxy_t *self, int lines);

//  ---------------------------------------------------------------------
//  Running a program to completion

//  Runs argv (argv [0] is a path) with stdin from /dev/null, collects its
//  stdout and stderr into heap strings (when out_p / err_p are not NULL,
//  caller frees). Returns the exit code, 128 + N if killed by signal N,
//  or -1 if it did not finish within timeout_ms (it is then killed).
int sq_run (const char **argv, int timeout_ms, char **out_p, char **err_p);

//  Runs $SQ_BUILD/<program> with the NULL-terminated args (after its
//  name) as sq_run does, within SQ_WAIT_MS
int sq_run_program (const char *program, const char **args, char **out_p, char **err_p);

//  ---------------------------------------------------------------------
//  Control socket

//  Sends the NULL-terminated request frames with a REQ socket and returns
//  the reply as a NULL-terminated array of NUL-terminated strings, or NULL
//  if no reply came within timeout_ms. Free with sq_strv_destroy.
char **sq_control (const char *endpoint, const char **frames, int timeout_ms);

//  Sends a one-frame command and returns the first reply frame (heap
//  string, caller frees), or NULL if no reply within SQ_WAIT_MS
char *sq_control_str (const char *endpoint, const char *command);

//  Number of strings in a NULL-terminated array
size_t sq_strv_size (char **strv);

//  Frees a NULL-terminated string array and nulls the pointer
void sq_strv_destroy (char ***strv_p);

//  ---------------------------------------------------------------------
//  Tiny JSON reader: paths are dotted member names, and a number selects
//  an array element, e.g. "pairs.active" or "0.side" or "" (the root).

//  True if the text is exactly one well-formed JSON value
bool sq_json_valid (const char *json);

//  Returns a pointer to the value at path inside json, or NULL
const char *sq_json_find (const char *json, const char *path);

//  Reads an integer at path; false if absent or not a number
bool sq_json_number (const char *json, const char *path, long long *value);

//  Copies the (unescaped) string at path into buf; false if not a string
bool sq_json_string (const char *json, const char *path, char *buf, size_t size);

//  Reads true/false at path; false if absent or not a boolean
bool sq_json_bool (const char *json, const char *path, bool *value);

//  True if the value at path is the literal null
bool sq_json_is_null (const char *json, const char *path);

//  Number of elements of the array at path, or -1 if not an array
int sq_json_count (const char *json, const char *path);

//  ---------------------------------------------------------------------
//  STATS polling

//  Reads one STATS number now; false if no reply or no such path
bool sq_stats (const char *control, const char *path, long long *value);

//  Polls STATS until path == value; false (with the last value printed)
//  if that did not happen within timeout_ms
bool sq_stats_wait (const char *control, const char *path, long long value,
                    int timeout_ms);

//  Polls STATS until path >= value; false as above
bool sq_stats_wait_min (const char *control, const char *path, long long value,
                        int timeout_ms);

//  ---------------------------------------------------------------------
//  Multipart messages

typedef struct {
    size_t count;               //  Number of frames
    size_t alloc;
    uint8_t **data;             //  Frame bodies (each NUL-terminated too)
    size_t *size;               //  Frame sizes
} sq_msg_t;

//  Creates an empty message
sq_msg_t *sq_msg_new (void);

//  Destroys a message and nulls the pointer
void sq_msg_destroy (sq_msg_t **self_p);

//  Appends a copy of a frame
void sq_msg_add (sq_msg_t *self, const void *data, size_t size);

//  Appends a string as a frame (without its NUL)
void sq_msg_addstr (sq_msg_t *self, const char *text);

//  Sends all frames (blocking up to the socket's ZMQ_SNDTIMEO); 0 or -1
int sq_msg_send (sq_msg_t *self, void *socket);

//  Receives one multipart message, waiting up to timeout_ms; NULL if none
sq_msg_t *sq_msg_recv (void *socket, int timeout_ms);

//  True if both messages have the same frames, byte for byte
bool sq_msg_eq (sq_msg_t *self, sq_msg_t *other);

//  Sends one string frame; 0 or -1
int sq_send_str (void *socket, const char *text);

//  Receives a message and returns its first frame as a heap string, or
//  NULL if nothing arrived within timeout_ms
char *sq_recv_str (void *socket, int timeout_ms);

//  ---------------------------------------------------------------------
//  libzmq peers

typedef enum {
    SQ_NULL,
    SQ_PLAIN,
    SQ_CURVE
} sq_mechanism_t;

typedef struct {
    sq_mechanism_t mechanism;
    bool as_server;             //  PLAIN / CURVE server (the workers)
    const char *username;       //  PLAIN client
    const char *password;
    const char *server_key;     //  CURVE client: server public key (Z85)
    const char *public_key;     //  CURVE: own public key (Z85)
    const char *secret_key;     //  CURVE: own secret key (Z85)
} sq_security_t;

//  A CURVE key pair, each key in Z85 (40 characters and a NUL)
typedef struct {
    char public_key [41];
    char secret_key [41];
} sq_keypair_t;

//  Creates a socket of the given type with test options (LINGER 0,
//  HANDSHAKE_IVL 0, short RECONNECT_IVL, SNDTIMEO) and the security
//  options (security may be NULL for NULL), and connects it to endpoint
//  unless endpoint is NULL. Returns NULL on error.
void *sq_peer_new (void *ctx, int type, const sq_security_t *security,
                   const char *endpoint);

//  sq_peer_new for a worker, with ZMQ_IMMEDIATE 1 as well: a reply queued
//  for a client that left goes with its connection instead of to the
//  next client of the slot (doc/workers.md, "ZMQ_IMMEDIATE")
void *sq_worker_socket_new (void *ctx, int type, const sq_security_t *security,
                            const char *endpoint);

//  A CURVE DEALER client in ctx with the key pair own (NULL: a fresh one),
//  trusting server_key, connected to endpoint from source: a local IPv4
//  address, "<ip>:<port>" to fix the local port too, or NULL for no
//  chosen address (see sq_endpoint_from). It has sq_peer_new's options
//  (LINGER 0...) but redials a lost connection after reconnect_ms
//  (ZMQ_RECONNECT_IVL). Returns NULL on error.
void *sq_curve_client_new (void *ctx, const char *endpoint, const char *source,
                           const sq_keypair_t *own, const char *server_key,
                           int reconnect_ms);

//  ---------------------------------------------------------------------
//  ZAP handler: a thread answering inproc://zeromq.zap.01 in one context

typedef struct {
    const char *username;       //  PLAIN: the only accepted user (NULL: any)
    const char *password;       //  PLAIN: its password (NULL: any)
    const uint8_t *client_key;  //  CURVE: the only accepted key, 32 bytes
                                //  (NULL: any key)
} sq_zap_rule_t;

typedef struct {
    int requests;               //  Requests seen so far
    int accepted;
    int refused;
    char mechanism [32];        //  Of the last request
    char username [256];        //  PLAIN, last request
    char password [256];
    uint8_t client_key [32];    //  CURVE, last request
    size_t client_key_size;
} sq_zap_seen_t;

typedef struct sq_zap_s sq_zap_t;

//  Binds the handler in ctx and starts its thread; NULL on error
sq_zap_t *sq_zap_new (void *ctx, const sq_zap_rule_t *rule);

//  Stops the thread, closes its socket, nulls the pointer
void sq_zap_destroy (sq_zap_t **self_p);

//  Copies what the handler has seen so far
void sq_zap_seen (sq_zap_t *self, sq_zap_seen_t *seen);

//  Waits until the handler has seen at least `requests` requests
bool sq_zap_wait (sq_zap_t *self, int requests, int timeout_ms);

//  ---------------------------------------------------------------------
//  Workers: a thread with its own context, answering every message

//  Turns a request into a reply (may return the request itself, or NULL
//  for no reply). For a ROUTER worker frame 0 is the routing id. Runs in
//  the worker thread.
typedef sq_msg_t *(sq_handler_fn) (sq_msg_t *request, void *arg);

typedef struct {
    int type;                   //  ZMQ_DEALER or ZMQ_ROUTER
    int connections;            //  zmq_connect calls (ROUTER: N clients)
    const sq_security_t *security;  //  NULL: NULL mechanism
    const sq_zap_rule_t *zap;   //  NULL: no ZAP handler
    sq_handler_fn *handler;     //  NULL: echo
    void *handler_arg;
} sq_worker_config_t;

typedef struct sq_worker_s sq_worker_t;

//  Creates the worker's context (and ZAP handler), connects (with
//  sq_worker_socket_new's options) and starts the thread. Returns NULL on
//  error.
sq_worker_t *sq_worker_new (const char *endpoint, const sq_worker_config_t *config);

//  A NULL-mechanism echo worker
sq_worker_t *sq_echo_new (const char *endpoint, int type, int connections);

//  A stock CURVE echo worker (no libstreamq: a connection it loses is not
//  redialled) of type ZMQ_ROUTER or ZMQ_DEALER, with `connections`
//  connections to endpoint, the key pair server, and a ZAP handler that
//  accepts only client_key (32 bytes), or any key if client_key is NULL.
//  Returns NULL on error.
sq_worker_t *sq_curve_worker_new (const char *endpoint, int type, int connections,
                                  const sq_keypair_t *server, const uint8_t *client_key);

//  Stops and joins the thread, terminates the context, nulls the pointer
void sq_worker_destroy (sq_worker_t **self_p);

//  Messages handled so far
long sq_worker_handled (sq_worker_t *self);

//  The worker's ZAP handler, or NULL
sq_zap_t *sq_worker_zap (sq_worker_t *self);

//  ---------------------------------------------------------------------
//  Socket monitor

typedef struct sq_monitor_s sq_monitor_t;

//  Monitors every event of socket (which lives in ctx). Create it before
//  the socket connects, destroy it before the socket is closed.
sq_monitor_t *sq_monitor_new (void *ctx, void *socket);

//  Waits for the next event of the given kind (earlier events of other
//  kinds are consumed); stores its value (e.g. the fd) when value is not
//  NULL. False if none within timeout_ms.
bool sq_monitor_wait (sq_monitor_t *self, int event, int timeout_ms, int *value);

//  Stops monitoring and closes the monitor socket
void sq_monitor_destroy (sq_monitor_t **self_p);

//  ---------------------------------------------------------------------
//  Raw TCP peers

//  Connects a plain TCP socket to the host:port of a tcp:// endpoint;
//  returns the fd (close-on-exec) or -1
int sq_tcp_connect (const char *endpoint);

//  Writes all bytes; 0 or -1 (never raises SIGPIPE)
int sq_tcp_send (int fd, const void *data, size_t size);

//  Reads until size bytes arrived, EOF, an error or timeout_ms; returns
//  the number of bytes read
size_t sq_tcp_recv (int fd, void *buf, size_t size, int timeout_ms);

//  Reads and discards until the peer closes (EOF or ECONNRESET); false if
//  the connection is still open after timeout_ms
bool sq_tcp_wait_closed (int fd, int timeout_ms);

//  Local port of a connected socket fd, or -1
int sq_fd_local_port (int fd);

//  Like sq_tcp_connect, from the local IPv4 address source_ip (any port),
//  e.g. "127.0.0.2" to look like another host; the fd or -1
int sq_tcp_connect_from (const char *endpoint, const char *source_ip);

//  ---------------------------------------------------------------------
//  ZMTP 3 by hand, for raw TCP peers. A frame is a flags byte (0x04: a
//  command, 0x02: an 8-byte size, 0x01: more), a size, then the body; a
//  command body starts with its name's length and its name.

//  What the proxy sends first on every connection: FF 00*7 01 7F 03
extern const uint8_t sq_zmtp_prefix [11];

//  Fills a 64-byte ZMTP 3.0 greeting that names mechanism (as-server 0)
void sq_zmtp_greeting (uint8_t *greeting, const char *mechanism);

//  Reads the proxy's 11 bytes and checks them; false (and why, on stderr)
//  if they do not all arrive within timeout_ms or differ
bool sq_zmtp_expect_prefix (int fd, int timeout_ms);

//  Reads the 53 bytes of a partner's greeting after its prefix (minor
//  version, mechanism, as-server, filler) and checks the mechanism; false
//  (and why, on stderr) otherwise
bool sq_zmtp_expect_tail (int fd, const char *mechanism, int timeout_ms);

//  Writes a short command frame into buf: name, then body_size bytes of
//  body; returns the frame's size, or 0 if it does not fit
size_t sq_zmtp_command (uint8_t *buf, size_t size, const char *name,
                        const void *body, size_t body_size);

//  Writes a READY command frame with the one property Socket-Type into
//  buf; returns its size, or 0 if it does not fit
size_t sq_zmtp_ready (uint8_t *buf, size_t size, const char *socket_type);

//  Writes a short, last message frame holding text into buf; returns its
//  size, or 0 if it does not fit
size_t sq_zmtp_message (uint8_t *buf, size_t size, const char *text);

typedef struct {
    uint8_t flags;
    size_t size;
    uint8_t body [4096];
} sq_zmtp_frame_t;

//  Reads one frame, short or long, of at most 4096 bytes of body; false
//  if it does not arrive whole within timeout_ms or is bigger
bool sq_zmtp_read_frame (int fd, sq_zmtp_frame_t *frame, int timeout_ms);

//  True if frame is a command named name (e.g. "READY")
bool sq_zmtp_is_command (const sq_zmtp_frame_t *frame, const char *name);

//  ---------------------------------------------------------------------
//  Log files and programs that run beside the test

//  Number of times text occurs in the file at path (0 if unreadable)
int sq_file_count (const char *path, const char *text);

//  Polls the file at path until text occurs in it at least `times` times;
//  false (with the count reached on stderr) if not within timeout_ms
bool sq_file_wait (const char *path, const char *text, int times, int timeout_ms);

//  Finds command in PATH as the shell would (or checks it, if it holds a
//  slash) and writes its path into buf; false if there is none
bool sq_which (const char *command, char *buf, size_t size);

//  A python3 that can import zmq (Debian's python3-zmq): $SQ_PYTHON if set,
//  else the first python3 in PATH that can. NULL, and on stderr what to
//  install, if there is none. Found once, then remembered.
const char *sq_python_zmq (void);

//  Starts argv (argv [0] is a path) with stdin from /dev/null and stdout
//  and stderr appended to log_path. It inherits the environment, and dies
//  with the test binary if the test does not stop it. Returns its pid, or
//  -1. Call from the main thread, as sq_proxy_start.
pid_t sq_child_start (const char **argv, const char *log_path);

//  True while the child started by sq_child_start runs; it is then reaped
//  and forgotten once it has exited (*code gets its exit code, as sq_run
//  returns it, when code is not NULL)
bool sq_child_running (pid_t pid, int *code);

//  Sends signum to the child (0: none, only waits), waits up to SQ_WAIT_MS
//  for it, kills it if needed. Returns the exit code as sq_run does (-1
//  if it had to be killed).
int sq_child_stop (pid_t pid, int signum);

//  ---------------------------------------------------------------------
//  Raw ZMTP 3.0 NULL peers: raw TCP, the handshake done by hand, then
//  frames written and read as bytes

//  Connects to a tcp:// endpoint, reads the 11 bytes the proxy greets
//  with and sends a NULL greeting; returns the fd, or -1
int sq_raw_connect (const char *endpoint);

//  Once paired: reads the partner's greeting bytes 11..63 (NULL) and
//  sends READY with this Socket-Type; false (the reason on stderr) on
//  anything else or SQ_WAIT_MS
bool sq_raw_ready (int fd, const char *socket_type);

//  Reads the partner's READY; false (the reason on stderr) otherwise
bool sq_raw_expect_ready (int fd);

//  Both of the above, for a raw peer whose partner is a libzmq peer
bool sq_raw_handshake (int fd, const char *socket_type);

//  Sends the header of a last message frame of size bytes (the long
//  form); its body follows as plain bytes. 0 or -1.
int sq_raw_send_header (int fd, uint64_t size);

//  Reads a frame header, short or long; false on the end of the stream,
//  an error or timeout_ms
bool sq_raw_recv_header (int fd, uint8_t *flags, uint64_t *size, int timeout_ms);

//  Sends a one-frame message with text; 0 or -1
int sq_raw_send_text (int fd, const char *text);

//  Reads a one-frame message and checks it holds text; false otherwise
bool sq_raw_recv_text (int fd, const char *text);

//  ---------------------------------------------------------------------
//  Processes

//  A "Name:   N kB" line of /proc/PID/status (VmRSS, VmHWM...), in KiB,
//  or -1
long sq_proc_status_kib (pid_t pid, const char *name);

//  ---------------------------------------------------------------------
//  Workers that answer with their own name, clients that ask which one

//  The reply a worker named `name` gives: "<name>|<last frame>", behind
//  the request's envelope (the routing id, for a ROUTER)
sq_msg_t *sq_name_reply (const sq_msg_t *request, const char *name);

//  Sends text, waits SQ_WAIT_MS for "<worker>|<text>" and puts the worker's
//  name into worker; false (with the reason on stderr) otherwise
bool sq_ask (void *client, const char *text, char *worker, size_t size);

//  As sq_ask; the answer must come from the worker named `expected`
bool sq_ask_expect (void *client, const char *text, const char *expected);

//  ---------------------------------------------------------------------
//  For test binaries only: these fail the current test themselves (see
//  tests/sq_test.h), so they exist only where sq_test.h was included
//  before this header. Programs that link the harness without the test
//  framework (the soak, the benchmarks, demo_cluster) do not see them.

#ifdef SQ_TEST_H_INCLUDED

//  Fills self with a new CURVE key pair; fails the test if libzmq cannot
//  make one
static inline void
sq_keypair_new (sq_keypair_t *self)
{
    SQ_CHECK_EQ (zmq_curve_keypair (self->public_key, self->secret_key), 0);
}

//  Reads one STATS number now; fails the test if the proxy did not answer
//  or has no such path
static inline long long
sq_stat (sq_proxy_t *proxy, const char *path)
{
    long long value = -1;
    SQ_CHECK_MSG (sq_stats (proxy->control, path, &value), "no %s in STATS", path);
    return value;
}

#endif

#endif
