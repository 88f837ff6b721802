/*  =========================================================================
    test_control_auth - CURVE on the control socket

    Keys are made by streamq-ctl --keygen in a temporary directory: the
    proxy's pair, an authorised client whose pair sits in the proxy's
    --control-clients directory (its secret file too, which the proxy
    must skip), and a stranger. An authorised key is answered, state
    changes included; a stranger and a plain NULL client get nothing.
    With --control-open-read a stranger may read but not change state.
    Both programs' --help name the new options.
    streamq-ctl with --key and --server-key, and libstreamq's IDENTIFY
    and HEARTBEAT, work through the CURVE control socket. SIGHUP reloads
    the directory: a new key is admitted, and a key removed loses its
    rights on a connection made before. Bad key files stop the proxy
    with exit code 2.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"
#include "streamq.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

SQ_TEST_DEFINE

#define S_KEY_SIZE 41

//  The keys of one party, read back from the files streamq-ctl wrote
typedef struct {
    char public_file [512];
    char secret_file [512];
    char public_key [S_KEY_SIZE];
    char secret_key [S_KEY_SIZE];
} s_party_t;

static char s_dir [64];             //  Temporary directory
static char s_clients [128];        //  The proxy's --control-clients
static s_party_t s_proxy_keys, s_admin, s_stranger;

//  ---------------------------------------------------------------------
//  Keys

//  Copies the quoted value of `field` in a certificate file into key
static bool
s_key_read (const char *path, const char *field, char *key)
{
    char *text = sq_file_read (path);
    char *at = text? strstr (text, field): NULL;
    at = at? strchr (at, '"'): NULL;
    bool found = at && strlen (at) > S_KEY_SIZE && at [S_KEY_SIZE] == '"';
    if (found) {
        memcpy (key, at + 1, S_KEY_SIZE - 1);
        key [S_KEY_SIZE - 1] = 0;
    }
    free (text);
    return found;
}

//  Makes a key pair at path with streamq-ctl --keygen and reads it back
static void
s_party_make (s_party_t *party, const char *path)
{
    const char *args [] = { "--keygen", path, NULL };
    char *out = NULL, *err = NULL;
    int code = sq_run_program ("streamq-ctl", args, &out, &err);
    SQ_CHECK_MSG (code == 0, "keygen %s exited %d: %s", path, code, err);
    snprintf (party->public_file, sizeof party->public_file, "%s", path);
    snprintf (party->secret_file, sizeof party->secret_file, "%s_secret", path);
    SQ_CHECK (s_key_read (party->public_file, "public-key", party->public_key));
    SQ_CHECK (s_key_read (party->secret_file, "secret-key", party->secret_key));
    //  It prints the public key, and keeps the secret file private
    SQ_CHECK_MSG (strncmp (out, party->public_key, S_KEY_SIZE - 1) == 0,
                  "keygen printed '%s'", out);
    struct stat info;
    SQ_CHECK (stat (party->secret_file, &info) == 0 && (info.st_mode & 0777) == 0600);
    free (out);
    free (err);
}

//  ---------------------------------------------------------------------
//  Talking to the control socket

//  A REQ to the control socket: a CURVE client with party's keys, or a
//  NULL client when party is NULL
static void *
s_client_new (void *ctx, const char *endpoint, const s_party_t *party)
{
    sq_security_t curve = {
        .mechanism = SQ_CURVE, .server_key = s_proxy_keys.public_key,
        .public_key = party? party->public_key: NULL,
        .secret_key = party? party->secret_key: NULL
    };
    void *socket = sq_peer_new (ctx, ZMQ_REQ, party? &curve: NULL, endpoint);
    SQ_CHECK (socket);
    return socket;
}

//  Sends one request on client; returns the reply's frames as one string
//  joined by '|' (caller frees), or NULL if none within timeout_ms
static char *
s_ask (void *client, const char *command, int timeout_ms)
{
    //  A frame a word
    char words [256];
    snprintf (words, sizeof words, "%s", command);
    char *rest = NULL;
    for (char *word = strtok_r (words, " ", &rest); word; word = strtok_r (NULL, " ", &rest))
        SQ_CHECK (zmq_send (client, word, strlen (word), rest && *rest? ZMQ_SNDMORE: 0) >= 0);
    sq_msg_t *reply = sq_msg_recv (client, timeout_ms);
    if (!reply)
        return NULL;
    size_t size = 1;
    for (size_t index = 0; index < reply->count; index++)
        size += reply->size [index] + 1;
    char *joined = calloc (1, size);
    for (size_t index = 0; index < reply->count; index++) {
        if (index)
            strcat (joined, "|");
        strcat (joined, (char *) reply->data [index]);
    }
    sq_msg_destroy (&reply);
    return joined;
}

//  One request on a connection of its own; NULL if no reply in timeout_ms
static char *
s_request (const char *endpoint, const s_party_t *party, const char *command,
           int timeout_ms)
{
    void *ctx = zmq_ctx_new ();
    void *client = s_client_new (ctx, endpoint, party);
    char *reply = s_ask (client, command, timeout_ms);
    zmq_close (client);
    zmq_ctx_term (ctx);
    return reply;
}

//  The request must be answered exactly so
static void
s_expect (const char *endpoint, const s_party_t *party, const char *command,
          const char *expected)
{
    char *reply = s_request (endpoint, party, command, SQ_WAIT_MS);
    SQ_CHECK_MSG (reply && strcmp (reply, expected) == 0, "%s got '%s', expected '%s'",
                  command, reply? reply: "(nothing)", expected);
    free (reply);
}

//  A request that must get no answer
typedef struct {
    const s_party_t *party;     //  NULL: a NULL-mechanism client
    const char *command;
} s_unanswered_t;

//  Each request, on a connection of its own, sent together; none may get
//  an answer in one quiet period
static void
s_expect_nothing (const char *endpoint, const s_unanswered_t *requests, size_t count)
{
    void *ctx = zmq_ctx_new ();
    void *clients [8];
    SQ_CHECK (count <= sizeof clients / sizeof clients [0]);
    for (size_t index = 0; index < count; index++) {
        clients [index] = s_client_new (ctx, endpoint, requests [index].party);
        const char *command = requests [index].command;
        SQ_CHECK (zmq_send (clients [index], command, strlen (command), 0) >= 0);
    }
    int64_t deadline = sq_now_ms () + SQ_QUIET_MS;
    for (size_t index = 0; index < count; index++) {
        int64_t left = deadline - sq_now_ms ();
        sq_msg_t *reply = sq_msg_recv (clients [index], left > 0? (int) left: 0);
        SQ_CHECK_MSG (reply == NULL, "%s was answered '%s'", requests [index].command,
                      (char *) reply->data [0]);
        zmq_close (clients [index]);
    }
    zmq_ctx_term (ctx);
}

//  STATS as the authorised client; the JSON must be valid (caller frees)
static char *
s_stats (const char *endpoint, const s_party_t *party)
{
    char *json = s_request (endpoint, party, "STATS", SQ_WAIT_MS);
    SQ_CHECK_MSG (json && sq_json_valid (json), "STATS got '%s'", json? json: "(nothing)");
    return json;
}

static bool
s_paused (const char *endpoint)
{
    char *json = s_stats (endpoint, &s_admin);
    bool paused = true;
    SQ_CHECK (sq_json_bool (json, "paused", &paused));
    free (json);
    return paused;
}

//  ---------------------------------------------------------------------
//  The proxy

//  Starts a proxy with CURVE on its control socket, and extra arguments
static sq_proxy_t *
s_proxy_start (bool open_read)
{
    const char *args [] = {
        "--control-key", s_proxy_keys.secret_file, "--control-clients", s_clients,
        open_read? "--control-open-read": NULL, NULL
    };
    sq_proxy_t *proxy = sq_proxy_start ("test_control_auth", args);
    SQ_CHECK (proxy);
    return proxy;
}

//  True when the proxy's log holds text
static bool
s_log_has (sq_proxy_t *proxy, const char *text)
{
    char *log = sq_file_read (proxy->log_path);
    bool found = log && strstr (log, text);
    free (log);
    return found;
}

//  ---------------------------------------------------------------------
//  Tests

//  The authorised key is answered, state changes included; the proxy
//  logs its public key and the one key of the directory (the secret file
//  beside it is skipped)
static void
test_authorised_key (void)
{
    sq_proxy_t *proxy = s_proxy_start (false);
    s_expect (proxy->control, &s_admin, "PING", "PONG");
    char *json = s_stats (proxy->control, &s_admin);
    long long active = -1;
    SQ_CHECK (sq_json_number (json, "pairs.active", &active) && active == 0);
    free (json);
    s_expect (proxy->control, &s_admin, "PAUSE", "OK");
    SQ_CHECK (s_paused (proxy->control));
    s_expect (proxy->control, &s_admin, "RESUME", "OK");
    SQ_CHECK (!s_paused (proxy->control));
    char line [128];
    snprintf (line, sizeof line, "control: CURVE, public key %s", s_proxy_keys.public_key);
    SQ_CHECK_MSG (s_log_has (proxy, line), "no '%s' in the log", line);
    SQ_CHECK (s_log_has (proxy, "control keys: 1 authorised key loaded from "));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  A key not in the directory, and a client without CURVE, get nothing;
//  the proxy still answers the authorised key afterwards
static void
test_unknown_key_gets_nothing (void)
{
    sq_proxy_t *proxy = s_proxy_start (false);
    const s_unanswered_t requests [] = {
        { &s_stranger, "PING" }, { &s_stranger, "PAUSE" }, { NULL, "PING" }
    };
    s_expect_nothing (proxy->control, requests, 3);
    SQ_CHECK (!s_paused (proxy->control));
    s_expect (proxy->control, &s_admin, "PING", "PONG");
    SQ_CHECK (s_log_has (proxy, "is not authorised"));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  With --control-open-read any key may read, only the authorised one
//  may change state; a client without CURVE still gets nothing
static void
test_open_read (void)
{
    sq_proxy_t *proxy = s_proxy_start (true);
    s_expect (proxy->control, &s_stranger, "PING", "PONG");
    char *json = s_stats (proxy->control, &s_stranger);
    free (json);
    char *workers = s_request (proxy->control, &s_stranger, "WORKERS", SQ_WAIT_MS);
    SQ_CHECK_MSG (workers && sq_json_valid (workers), "WORKERS got '%s'", workers);
    free (workers);
    s_expect (proxy->control, &s_stranger, "PAUSE", "ERROR|not authorised");
    s_expect (proxy->control, &s_stranger, "TERMINATE", "ERROR|not authorised");
    s_expect (proxy->control, &s_stranger, "HEARTBEAT", "ERROR|not authorised");
    //  After SERVICE <name>, the command is what counts
    s_expect (proxy->control, &s_stranger, "SERVICE default PING", "PONG");
    s_expect (proxy->control, &s_stranger, "service default PAUSE", "ERROR|not authorised");
    s_expect (proxy->control, &s_stranger, "SERVICE nobody PAUSE", "ERROR|not authorised");
    s_expect (proxy->control, &s_stranger, "SERVICE nobody PING", "ERROR|no service 'nobody'");
    SQ_CHECK (!s_paused (proxy->control));
    s_expect (proxy->control, &s_admin, "PAUSE", "OK");
    SQ_CHECK (s_paused (proxy->control));
    s_expect_nothing (proxy->control, &(s_unanswered_t) { NULL, "STATS" }, 1);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  streamq-ctl with --key and --server-key (a file or the key itself);
//  a stranger is told its key was refused, and exits 2
static void
test_ctl_curve (void)
{
    sq_proxy_t *proxy = s_proxy_start (false);
    char *out = NULL, *err = NULL;
    const char *ping [] = { "--control", proxy->control, "--key", s_admin.secret_file,
                            "--server-key", s_proxy_keys.public_file, "PING", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", ping, &out, &err), 0);
    SQ_CHECK_STR (out, "PONG\n");
    free (out);
    free (err);

    const char *by_key [] = { "--control", proxy->control, "--key", s_admin.secret_file,
                              "--server-key", s_proxy_keys.public_key, "PAUSE", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", by_key, &out, &err), 0);
    SQ_CHECK_STR (out, "OK\n");
    free (out);
    free (err);
    SQ_CHECK (s_paused (proxy->control));

    const char *stranger [] = { "--control", proxy->control, "--key", s_stranger.secret_file,
                                "--server-key", s_proxy_keys.public_file, "RESUME", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", stranger, &out, &err), 2);
    SQ_CHECK_MSG (*out == 0 && strstr (err, "refused our key"), "stranger: '%s' '%s'",
                  out, err);
    free (out);
    free (err);
    SQ_CHECK (s_paused (proxy->control));

    //  Without --key, a throwaway key: this proxy does not know it either
    const char *throwaway [] = { "--control", proxy->control, "--server-key",
                                 s_proxy_keys.public_file, "PING", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", throwaway, NULL, NULL), 2);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  streamq-ctl against an open-read proxy: reading works with any key,
//  a state change exits 1 with the reason
static void
test_ctl_open_read (void)
{
    sq_proxy_t *proxy = s_proxy_start (true);
    char *out = NULL, *err = NULL;
    const char *stats [] = { "--control", proxy->control, "--server-key",
                             s_proxy_keys.public_file, "STATS", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", stats, &out, &err), 0);
    SQ_CHECK_MSG (sq_json_valid (out), "STATS printed '%s'", out);
    free (out);
    free (err);
    const char *pause [] = { "--control", proxy->control, "--key", s_stranger.secret_file,
                             "--server-key", s_proxy_keys.public_file, "PAUSE", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", pause, &out, &err), 1);
    SQ_CHECK_MSG (strstr (err, "streamq-ctl: error: not authorised"), "PAUSE: '%s'", err);
    free (out);
    free (err);
    SQ_CHECK (!s_paused (proxy->control));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Polls WORKERS, as the authorised client, until a worker of that name
//  shows up
static bool
s_worker_seen (const char *control, const char *name)
{
    char needle [128];
    snprintf (needle, sizeof needle, "\"name\":\"%s\"", name);
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline) {
        char *workers = s_request (control, &s_admin, "WORKERS", SQ_WAIT_MS);
        bool seen = workers && strstr (workers, needle);
        free (workers);
        if (seen)
            return true;
        sq_sleep_ms (50);
    }
    return false;
}

//  libstreamq names a worker and sends its heartbeats through the CURVE
//  control socket; a peer with a stranger's key registers nothing
static void
test_libstreamq_curve (void)
{
    sq_proxy_t *proxy = s_proxy_start (false);
    void *ctx = zmq_ctx_new ();
    void *worker = sq_worker_socket_new (ctx, ZMQ_DEALER, NULL, NULL);
    SQ_CHECK (worker);
    streamq_peer_t *peer = streamq_peer_new_curve (ctx, worker, proxy->control,
        "backend", "auth-worker", NULL, s_admin.secret_key, s_proxy_keys.public_key);
    SQ_CHECK_MSG (peer, "streamq_peer_new_curve: %s", strerror (errno));
    SQ_CHECK_EQ (streamq_peer_set_heartbeat (peer, 200), 0);
    SQ_CHECK_EQ (zmq_connect (worker, proxy->backend), 0);
    SQ_CHECK_MSG (s_worker_seen (proxy->control, "auth-worker"), "auth-worker not in WORKERS");
    //  The proxy applied the IDENTIFY; its OK reaches the peer's thread a
    //  moment later
    int64_t registered_by = sq_now_ms () + SQ_WAIT_MS;
    while (streamq_peer_registered (peer) < 1 && sq_now_ms () < registered_by)
        sq_sleep_ms (20);
    SQ_CHECK (streamq_peer_registered (peer) >= 1);
    SQ_CHECK_EQ (streamq_peer_refused (peer), 0);
    //  Its heartbeats came through too
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    long long watched = 0;
    while (watched < 1 && sq_now_ms () < deadline) {
        char *json = s_stats (proxy->control, &s_admin);
        sq_json_number (json, "heartbeats.watched", &watched);
        free (json);
        sq_sleep_ms (50);
    }
    SQ_CHECK_EQ (watched, 1);

    //  A stranger's key: the handshake is refused, nothing registered
    void *other = sq_worker_socket_new (ctx, ZMQ_DEALER, NULL, NULL);
    streamq_peer_t *refused = streamq_peer_new_curve (ctx, other, proxy->control,
        "backend", "stranger", s_stranger.public_key, s_stranger.secret_key,
        s_proxy_keys.public_key);
    SQ_CHECK (refused);
    SQ_CHECK_EQ (zmq_connect (other, proxy->backend), 0);
    sq_sleep_ms (SQ_QUIET_MS);
    SQ_CHECK_EQ (streamq_peer_registered (refused), 0);
    streamq_peer_destroy (&refused);
    zmq_close (other);

    streamq_peer_destroy (&peer);
    zmq_close (worker);
    zmq_ctx_term (ctx);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  Bad keys are refused at once
static void
test_libstreamq_bad_keys (void)
{
    void *ctx = zmq_ctx_new ();
    void *socket = sq_peer_new (ctx, ZMQ_DEALER, NULL, NULL);
    const char *endpoint = "tcp://127.0.0.1:1";
    errno = 0;
    SQ_CHECK (!streamq_peer_new_curve (ctx, socket, endpoint, "backend", "x",
                                       NULL, "short", s_proxy_keys.public_key));
    SQ_CHECK_EQ (errno, EINVAL);
    errno = 0;
    SQ_CHECK (!streamq_peer_new_curve (ctx, socket, endpoint, "backend", "x",
                                       NULL, s_admin.secret_key, NULL));
    SQ_CHECK_EQ (errno, EINVAL);
    //  A public key that is not the secret key's
    errno = 0;
    SQ_CHECK (!streamq_peer_new_curve (ctx, socket, endpoint, "backend", "x",
                                       s_stranger.public_key, s_admin.secret_key,
                                       s_proxy_keys.public_key));
    SQ_CHECK_EQ (errno, EINVAL);
    zmq_close (socket);
    zmq_ctx_term (ctx);
}

//  Copies a file; false on error
static bool
s_copy (const char *from, const char *to)
{
    char *text = sq_file_read (from);
    FILE *file = text? fopen (to, "w"): NULL;
    if (file) {
        fputs (text, file);
        fclose (file);
    }
    free (text);
    return file != NULL;
}

//  Polls a request on a connection of its own until it is answered so
static bool
s_wait_answer (const char *endpoint, const s_party_t *party, const char *command,
               const char *expected)
{
    int64_t deadline = sq_now_ms () + SQ_WAIT_MS;
    while (sq_now_ms () < deadline) {
        char *reply = s_request (endpoint, party, command, 500);
        bool matched = reply && strcmp (reply, expected) == 0;
        free (reply);
        if (matched)
            return true;
    }
    return false;
}

//  SIGHUP loads the directory again: a key added is admitted; a key
//  removed is refused at its next request, on a connection it made before
static void
test_reload (void)
{
    sq_proxy_t *proxy = s_proxy_start (false);
    void *ctx = zmq_ctx_new ();
    void *admin = s_client_new (ctx, proxy->control, &s_admin);
    char *reply = s_ask (admin, "PING", SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "PONG");
    free (reply);

    char added [256], saved [256];
    snprintf (added, sizeof added, "%s/stranger", s_clients);
    snprintf (saved, sizeof saved, "%s/admin.saved", s_dir);
    SQ_CHECK (s_copy (s_stranger.public_file, added));
    SQ_CHECK (s_copy (s_admin.public_file, saved));
    SQ_CHECK_EQ (unlink (s_admin.public_file), 0);
    SQ_CHECK_EQ (kill (proxy->pid, SIGHUP), 0);
    SQ_CHECK_MSG (s_wait_answer (proxy->control, &s_stranger, "PING", "PONG"),
                  "the added key was not admitted after SIGHUP");
    reply = s_ask (admin, "PING", SQ_WAIT_MS);
    SQ_CHECK_STR (reply, "ERROR|not authorised");
    free (reply);
    zmq_close (admin);
    zmq_ctx_term (ctx);
    s_expect_nothing (proxy->control, &(s_unanswered_t) { &s_admin, "PING" }, 1);

    //  The directory as it was
    SQ_CHECK_EQ (unlink (added), 0);
    SQ_CHECK (s_copy (saved, s_admin.public_file));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
}

//  The proxy's command line with bad keys: exit 2 and a reason
static void
s_expect_refused_start (const char **extra, const char *reason)
{
    char binary [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    const char *argv [16] = {
        binary, "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
        "--control", "tcp://127.0.0.1:*"
    };
    int argc = 7;
    for (int index = 0; extra [index]; index++)
        argv [argc++] = extra [index];
    argv [argc] = NULL;
    char *out = NULL, *err = NULL;
    int code = sq_run (argv, SQ_WAIT_MS, &out, &err);
    SQ_CHECK_MSG (code == 2 && strstr (err, reason),
                  "%s %s: exit %d, stderr '%s' (expected '%s')", extra [0],
                  extra [1]? extra [1]: "", code, err, reason);
    free (out);
    free (err);
}

static void
test_bad_key_files (void)
{
    char garbage [256], missing [256];
    snprintf (garbage, sizeof garbage, "%s/garbage", s_dir);
    FILE *file = fopen (garbage, "w");
    SQ_CHECK (file);
    fputs ("curve\n    secret-key = \"not a key\"\n", file);
    fclose (file);
    snprintf (missing, sizeof missing, "%s/missing", s_dir);

    const char *absent [] = { "--control-key", missing, "--control-clients", s_clients, NULL };
    s_expect_refused_start (absent, "cannot open");
    const char *broken [] = { "--control-key", garbage, "--control-clients", s_clients, NULL };
    s_expect_refused_start (broken, "line 2: not a CURVE key");
    const char *public_only [] = { "--control-key", s_proxy_keys.public_file,
                                   "--control-clients", s_clients, NULL };
    s_expect_refused_start (public_only, "has no secret-key");
    const char *no_dir [] = { "--control-key", s_proxy_keys.secret_file,
                              "--control-clients", missing, NULL };
    s_expect_refused_start (no_dir, "cannot read the directory");
    const char *no_clients [] = { "--control-key", s_proxy_keys.secret_file, NULL };
    s_expect_refused_start (no_clients, "--control-key needs --control-clients");
    const char *no_key [] = { "--control-open-read", NULL };
    s_expect_refused_start (no_key, "need --control-key");
}

//  Both programs' --help name the options
static void
test_help (void)
{
    char binary [512];
    sq_build_path ("streamq-proxy", binary, sizeof binary);
    const char *proxy [] = { binary, "--help", NULL };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run (proxy, SQ_WAIT_MS, &out, NULL), 0);
    const char *proxy_options [] = {
        "--control-key FILE", "--control-clients DIR", "--control-open-read"
    };
    for (size_t index = 0; index < 3; index++)
        SQ_CHECK_MSG (strstr (out, proxy_options [index]), "proxy --help: no %s",
                      proxy_options [index]);
    free (out);
    const char *help [] = { "--help", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", help, &out, NULL), 0);
    const char *ctl_options [] = { "--key FILE", "--server-key FILE|KEY", "--keygen NAME" };
    for (size_t index = 0; index < 3; index++)
        SQ_CHECK_MSG (strstr (out, ctl_options [index]), "streamq-ctl --help: no %s",
                      ctl_options [index]);
    free (out);
}

//  Removes the temporary directory (two levels deep)
static void
s_remove_tree (const char *path)
{
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir)) != NULL) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        char child [512];
        snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
        if (unlink (child) != 0)
            s_remove_tree (child);
    }
    if (dir)
        closedir (dir);
    rmdir (path);
}

//  Makes the keys every test uses
static void
test_keygen (void)
{
    char path [256];
    snprintf (path, sizeof path, "%s/proxy", s_dir);
    s_party_make (&s_proxy_keys, path);
    snprintf (path, sizeof path, "%s/admin", s_clients);
    s_party_make (&s_admin, path);
    snprintf (path, sizeof path, "%s/stranger", s_dir);
    s_party_make (&s_stranger, path);
    //  Never overwrites a key
    const char *again [] = { "--keygen", path, NULL };
    char *err = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", again, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "File exists"), "'%s'", err);
    free (err);
}

int
main (void)
{
    if (!zmq_has ("curve")) {
        printf ("# note: libzmq without CURVE, tests skipped\n");
        return sq_test_summary ();
    }
    snprintf (s_dir, sizeof s_dir, "/tmp/sq-test-auth-XXXXXX");
    if (!mkdtemp (s_dir)) {
        perror ("mkdtemp");
        return 1;
    }
    snprintf (s_clients, sizeof s_clients, "%s/clients", s_dir);
    mkdir (s_clients, 0700);
    SQ_RUN (test_help);
    SQ_RUN (test_keygen);
    if (sq_test_failed == 0) {
        SQ_RUN (test_authorised_key);
        SQ_RUN (test_unknown_key_gets_nothing);
        SQ_RUN (test_open_read);
        SQ_RUN (test_ctl_curve);
        SQ_RUN (test_ctl_open_read);
        SQ_RUN (test_libstreamq_curve);
        SQ_RUN (test_libstreamq_bad_keys);
        SQ_RUN (test_bad_key_files);
        SQ_RUN (test_reload);
    }
    s_remove_tree (s_dir);
    return sq_test_summary ();
}
