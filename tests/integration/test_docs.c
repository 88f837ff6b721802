/*  =========================================================================
    test_docs - the documents against a running proxy

    README.md and the documents of doc/ name STATS fields, list control commands, show
    log lines and link to each other. This test runs the real proxy
    through the events the documents show (a CURVE worker, clients
    served and refused, a peer that is not ZMTP, a CLOSE, a
    CURVE control socket, an open backend) and checks that:

    - every STATS field named in backticks as a dotted path is in a real
      STATS reply, and the reply shown in a block marked
      "<!-- sample: stats -->" has exactly the fields of a real one;
    - every command of the command table of doc/control.md is one the
      proxy knows, and every command streamq-ctl --help lists is there;
    - every line of a block marked "<!-- sample: log -->" has the shape of
      a line the proxy wrote: the same words, numbers aside ("..." stands
      for the time, a JSON line for its level and message);
    - every relative link points at a file that exists and, for an
      #anchor into a Markdown file, at one of its headings (GitHub's rules);
    - every section streamq-proxy --help points to is a heading of README.md.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

SQ_TEST_DEFINE

//  ---------------------------------------------------------------------
//  Lists of strings

typedef struct {
    char **items;
    size_t count;
    size_t capacity;
} s_list_t;

static void
s_list_add (s_list_t *self, const char *text, size_t size)
{
    if (self->count == self->capacity) {
        self->capacity = self->capacity? self->capacity * 2: 64;
        self->items = realloc (self->items, self->capacity * sizeof (char *));
        if (!self->items)
            abort ();
    }
    char *copy = malloc (size + 1);
    if (!copy)
        abort ();
    memcpy (copy, text, size);
    copy [size] = 0;
    self->items [self->count++] = copy;
}

static void
s_list_addstr (s_list_t *self, const char *text)
{
    s_list_add (self, text, strlen (text));
}

static bool
s_list_has (const s_list_t *self, const char *text)
{
    for (size_t index = 0; index < self->count; index++)
        if (strcmp (self->items [index], text) == 0)
            return true;
    return false;
}

static void
s_list_clear (s_list_t *self)
{
    for (size_t index = 0; index < self->count; index++)
        free (self->items [index]);
    free (self->items);
    memset (self, 0, sizeof *self);
}

//  ---------------------------------------------------------------------
//  Markdown: lines, fenced blocks, paragraphs, code spans, headings

typedef struct {
    char path [256];
    char *text;                 //  The file, cut into lines in place
    char **lines;
    bool *code;                 //  The line is in a fenced block, fences included
    size_t count;
} s_doc_t;

//  The line without its leading spaces
static const char *
s_trimmed (const char *line)
{
    while (*line == ' ')
        line++;
    return line;
}

static bool
s_doc_load (s_doc_t *self, const char *path)
{
    memset (self, 0, sizeof *self);
    snprintf (self->path, sizeof self->path, "%s", path);
    self->text = sq_file_read (path);
    if (!self->text)
        return false;
    size_t lines = 1;
    for (const char *at = self->text; *at; at++)
        lines += *at == '\n';
    self->lines = calloc (lines, sizeof (char *));
    self->code = calloc (lines, sizeof (bool));
    if (!self->lines || !self->code)
        abort ();
    bool fenced = false;
    for (char *line = self->text; line; ) {
        char *end = strchr (line, '\n');
        if (end)
            *end = 0;
        bool fence = strncmp (s_trimmed (line), "```", 3) == 0;
        self->code [self->count] = fenced || fence;
        if (fence)
            fenced = !fenced;
        self->lines [self->count++] = line;
        line = end? end + 1: NULL;
    }
    return true;
}

static void
s_doc_free (s_doc_t *self)
{
    free (self->text);
    free (self->lines);
    free (self->code);
    memset (self, 0, sizeof *self);
}

//  The documents that name fields, commands and samples
static size_t
s_docs_load (s_doc_t *docs, size_t max, bool with_other_readmes)
{
    size_t count = 0;
    SQ_CHECK_MSG (s_doc_load (&docs [count++], "README.md"),
                  "no README.md: run from the top of the tree");
    glob_t found;
    SQ_CHECK (glob ("doc/*.md", 0, NULL, &found) == 0);
    for (size_t index = 0; index < found.gl_pathc && count < max; index++)
        SQ_CHECK (s_doc_load (&docs [count++], found.gl_pathv [index]));
    SQ_CHECK_MSG (found.gl_pathc >= 5, "only %zu files in doc/", found.gl_pathc);
    globfree (&found);
    if (with_other_readmes) {
        SQ_CHECK (count + 2 <= max);
        SQ_CHECK (s_doc_load (&docs [count++], "examples/README.md"));
        SQ_CHECK (s_doc_load (&docs [count++], "bench/README.md"));
    }
    return count;
}

static void
s_docs_free (s_doc_t *docs, size_t count)
{
    for (size_t index = 0; index < count; index++)
        s_doc_free (&docs [index]);
}

//  The paragraphs of a document outside fenced blocks: runs of non-blank
//  lines joined by spaces, so that a code span may cross a line
static void
s_paragraphs (const s_doc_t *doc, s_list_t *paragraphs)
{
    size_t index = 0;
    while (index < doc->count) {
        if (doc->code [index] || !*s_trimmed (doc->lines [index])) {
            index++;
            continue;
        }
        size_t size = 0;
        size_t first = index;
        for (; index < doc->count && !doc->code [index] && *s_trimmed (doc->lines [index]);
             index++)
            size += strlen (doc->lines [index]) + 1;
        char *joined = calloc (1, size + 1);
        if (!joined)
            abort ();
        for (size_t line = first; line < index; line++) {
            strcat (joined, doc->lines [line]);
            strcat (joined, " ");
        }
        s_list_addstr (paragraphs, joined);
        free (joined);
    }
}

//  The code spans of a paragraph (single backticks; a run of backticks
//  opens a span closed by the same run)
static void
s_code_spans (const char *paragraph, s_list_t *spans)
{
    const char *at = paragraph;
    while ((at = strchr (at, '`'))) {
        size_t run = strspn (at, "`");
        char fence [8];
        snprintf (fence, sizeof fence, "%.*s", (int) (run < 7? run: 7), at);
        const char *start = at + run;
        const char *end = strstr (start, fence);
        if (!end)
            return;
        s_list_add (spans, start, (size_t) (end - start));
        at = end + run;
    }
}

//  The paragraph with its code spans blanked out, for links
static char *
s_without_spans (const char *paragraph)
{
    char *copy = strdup (paragraph);
    if (!copy)
        abort ();
    char *at = copy;
    while ((at = strchr (at, '`'))) {
        char *end = strchr (at + 1, '`');
        if (!end)
            break;
        memset (at, ' ', (size_t) (end - at + 1));
        at = end + 1;
    }
    return copy;
}

//  GitHub's anchor for a heading: lower case; letters, digits, '-' and
//  '_' kept, spaces made '-', other ASCII dropped, bytes past ASCII kept
static void
s_slug (const char *heading, char *slug, size_t size)
{
    size_t length = 0;
    for (const unsigned char *at = (const unsigned char *) heading; *at && length + 1 < size;
         at++) {
        if (isalnum (*at) || *at == '-' || *at == '_' || *at >= 0x80)
            slug [length++] = (char) tolower (*at);
        else
        if (*at == ' ')
            slug [length++] = '-';
    }
    slug [length] = 0;
}

//  The heading's text, or NULL when the line is not a heading
static const char *
s_heading (const char *line, char *text, size_t size)
{
    size_t hashes = strspn (line, "#");
    if (hashes == 0 || hashes > 6 || line [hashes] != ' ')
        return NULL;
    const char *start = line + hashes + 1;
    size_t length = strlen (start);
    while (length && (start [length - 1] == ' ' || start [length - 1] == '#'))
        length--;
    snprintf (text, size, "%.*s", (int) length, start);
    return text;
}

//  Every heading's text and its anchor, numbered as GitHub numbers repeats
static void
s_headings (const s_doc_t *doc, s_list_t *titles, s_list_t *anchors)
{
    for (size_t index = 0; index < doc->count; index++) {
        char text [512], slug [512];
        if (doc->code [index] || !s_heading (doc->lines [index], text, sizeof text))
            continue;
        if (titles)
            s_list_addstr (titles, text);
        s_slug (text, slug, sizeof slug);
        char unique [600];
        snprintf (unique, sizeof unique, "%s", slug);
        for (int repeat = 1; s_list_has (anchors, unique); repeat++)
            snprintf (unique, sizeof unique, "%s-%d", slug, repeat);
        s_list_addstr (anchors, unique);
    }
}

//  The lines of every fenced block of the document marked with the given
//  comment on the last non-blank line before it
static void
s_samples (const s_doc_t *doc, const char *marker, s_list_t *lines, s_list_t *blocks)
{
    for (size_t index = 0; index < doc->count; index++) {
        if (strncmp (s_trimmed (doc->lines [index]), "```", 3) || !doc->code [index]
        ||  (index > 0 && doc->code [index - 1]))
            continue;               //  Not the opening fence of a block
        size_t before = index;
        while (before > 0 && !*s_trimmed (doc->lines [before - 1]))
            before--;
        if (before == 0 || strcmp (s_trimmed (doc->lines [before - 1]), marker))
            continue;
        size_t size = 0;
        size_t last = index + 1;
        for (; last < doc->count && strncmp (s_trimmed (doc->lines [last]), "```", 3); last++) {
            size += strlen (doc->lines [last]) + 1;
            if (lines && *s_trimmed (doc->lines [last]))
                s_list_addstr (lines, doc->lines [last]);
        }
        if (blocks) {
            char *block = calloc (1, size + 1);
            if (!block)
                abort ();
            for (size_t line = index + 1; line < last; line++) {
                strcat (block, doc->lines [line]);
                strcat (block, "\n");
            }
            s_list_addstr (blocks, block);
            free (block);
        }
        index = last;
    }
}

//  ---------------------------------------------------------------------
//  JSON: the paths of every leaf of an object

//  Skips one JSON string at at ('"'); returns what follows, or NULL
static const char *
s_skip_string (const char *at, char *text, size_t size)
{
    size_t length = 0;
    for (at++; *at && *at != '"'; at++) {
        if (*at == '\\' && at [1])
            at++;
        if (text && length + 1 < size)
            text [length++] = *at;
    }
    if (text)
        text [length] = 0;
    return *at == '"'? at + 1: NULL;
}

static const char *
s_ws (const char *at)
{
    while (*at == ' ' || *at == '\n' || *at == '\t' || *at == '\r')
        at++;
    return at;
}

//  Walks the value at at, adding the path of each leaf (any value but a
//  non-empty object) to paths; the keys under a "by_name", and the
//  service names under the top "services", are "*".
//  Returns what follows the value, or NULL when it is not JSON.
static const char *
s_json_leaves (const char *at, const char *prefix, s_list_t *paths)
{
    at = s_ws (at);
    if (*at == '{') {
        at = s_ws (at + 1);
        if (*at == '}') {
            s_list_addstr (paths, prefix);
            return at + 1;
        }
        const char *last = strrchr (prefix, '.');
        bool by_name = strcmp (last? last + 1: prefix, "by_name") == 0
                    || strcmp (prefix, "services") == 0;
        while (true) {
            char key [256], path [1024];
            if (*at != '"' || !(at = s_skip_string (at, key, sizeof key)))
                return NULL;
            snprintf (path, sizeof path, "%s%s%s", prefix, *prefix? ".": "",
                      by_name? "*": key);
            at = s_ws (at);
            if (*at != ':' || !(at = s_json_leaves (at + 1, path, paths)))
                return NULL;
            at = s_ws (at);
            if (*at == '}')
                return at + 1;
            if (*at != ',')
                return NULL;
            at = s_ws (at + 1);
        }
    }
    s_list_addstr (paths, prefix);
    if (*at == '"')
        return s_skip_string (at, NULL, 0);
    if (*at == '[') {
        int depth = 0;
        for (; *at; at++) {
            if (*at == '"') {
                if (!(at = s_skip_string (at, NULL, 0)))
                    return NULL;
                at--;
            }
            else
            if (*at == '[')
                depth++;
            else
            if (*at == ']' && --depth == 0)
                return at + 1;
        }
        return NULL;
    }
    size_t length = strspn (at, "0123456789+-.eEtruefalsn");
    return length? at + length: NULL;
}

//  True when path is a leaf of paths, or the path of an object above one
static bool
s_path_known (const s_list_t *paths, const char *path)
{
    size_t length = strlen (path);
    for (size_t index = 0; index < paths->count; index++) {
        const char *leaf = paths->items [index];
        if (strncmp (leaf, path, length) == 0 && (leaf [length] == 0 || leaf [length] == '.'))
            return true;
    }
    return false;
}

//  ---------------------------------------------------------------------
//  Log lines: words, numbers aside

#define S_TOKENS    64
#define S_TOKEN     256

typedef char s_token_t [S_TOKEN];

//  Splits text at spaces into tokens, each digit run made "0"
static size_t
s_tokens (const char *text, s_token_t *tokens, size_t max)
{
    size_t count = 0;
    while (*text && count < max) {
        text += strspn (text, " \t");
        if (!*text)
            break;
        size_t length = strcspn (text, " \t");
        size_t out = 0;
        for (size_t index = 0; index < length && out + 1 < S_TOKEN; index++) {
            bool digit = isdigit ((unsigned char) text [index]);
            if (!digit)
                tokens [count][out++] = text [index];
            else
            if (index == 0 || !isdigit ((unsigned char) text [index - 1]))
                tokens [count][out++] = '0';
        }
        tokens [count++][out] = 0;
        text += length;
    }
    return count;
}

//  A file path, as opposed to an endpoint
static bool
s_is_path (const char *token)
{
    return strchr (token, '/') && !strstr (token, "://");
}

static bool
s_is_time (const char *token)
{
    return strcmp (token, "0-0-0T0:0:0.0Z") == 0;
}

//  True when one line of the proxy's log (text, with its time) has the
//  shape of the sample: a text line with or without its time ("..." or
//  nothing for it), or a JSON line, checked by its level and message
static bool
s_sample_matches (const char *sample, const char *log)
{
    char text [2048];
    snprintf (text, sizeof text, "%s", sample);
    if (*s_trimmed (sample) == '{') {
        char level [32], message [1024];
        if (!sq_json_valid (sample)
        ||  !sq_json_string (sample, "level", level, sizeof level)
        ||  !sq_json_string (sample, "message", message, sizeof message))
            return false;
        snprintf (text, sizeof text, "%s %s",
                  strcmp (level, "warning") == 0? "warn": level, message);
    }
    static s_token_t want [S_TOKENS], have [S_TOKENS];
    size_t wanted = s_tokens (text, want, S_TOKENS);
    size_t skip_want = wanted && strcmp (want [0], "...") == 0;
    bool timed = wanted && s_is_time (want [0]);
    for (const char *line = log; line && *line; ) {
        const char *end = strchr (line, '\n');
        char one [2048];
        snprintf (one, sizeof one, "%.*s", (int) (end? end - line: (long) strlen (line)), line);
        size_t had = s_tokens (one, have, S_TOKENS);
        size_t skip_have = timed? 0: 1;
        bool same = had >= skip_have && had - skip_have == wanted - skip_want;
        for (size_t index = 0; same && index + skip_want < wanted; index++) {
            const char *a = want [index + skip_want], *b = have [index + skip_have];
            same = strcmp (a, b) == 0 || (s_is_path (a) && s_is_path (b));
        }
        if (same)
            return true;
        line = end? end + 1: NULL;
    }
    return false;
}

//  ---------------------------------------------------------------------
//  The proxy, through what the documents show

static char *s_log;             //  The logs of the proxies of the scenario
static char *s_stats;           //  A STATS reply with workers connected

//  Sends a control command of several frames; true when it answers OK
static bool
s_ok (const char *control, const char **frames)
{
    char **reply = sq_control (control, frames, SQ_WAIT_MS);
    bool ok = reply && reply [0] && strcmp (reply [0], "OK") == 0;
    if (!ok)
        fprintf (stderr, "%s: %s %s\n", frames [0], reply && reply [0]? reply [0]: "no reply",
                 reply && reply [0] && reply [1]? reply [1]: "");
    sq_strv_destroy (&reply);
    return ok;
}

static void
s_log_append (const char *path)
{
    char *text = sq_file_read (path);
    SQ_CHECK (text);
    size_t had = s_log? strlen (s_log): 0;
    s_log = realloc (s_log, had + strlen (text) + 1);
    SQ_CHECK (s_log);
    strcpy (s_log + had, text);
    free (text);
}

//  Sends text and waits for its echo
static void
s_echo (void *client, const char *text)
{
    SQ_CHECK_EQ (sq_send_str (client, text), 0);
    char *reply = sq_recv_str (client, SQ_WAIT_MS);
    SQ_CHECK_MSG (reply && strcmp (reply, text) == 0, "no echo of '%s'", text);
    free (reply);
}

//  A proxy that serves one CURVE client, rejects a peer that is not ZMTP,
//  bans a CURVE client with a wrong server key and one whose key the
//  worker refuses, and closes a worker's connections for the operator; then a
//  proxy with a CURVE control socket and a backend open to other hosts
static void
test_scenario (void)
{
    sq_proxy_t *proxy = sq_proxy_start ("test_docs", NULL);
    SQ_CHECK (proxy);
    const char *alias [] = { "ALIAS", "backend", "127.0.0.1", "billing", NULL };
    SQ_CHECK (s_ok (proxy->control, alias));

    char server_public [41], server_secret [41], client_public [41], client_secret [41];
    char stranger_public [41], stranger_secret [41];
    SQ_CHECK_EQ (zmq_curve_keypair (server_public, server_secret), 0);
    SQ_CHECK_EQ (zmq_curve_keypair (client_public, client_secret), 0);
    SQ_CHECK_EQ (zmq_curve_keypair (stranger_public, stranger_secret), 0);
    sq_security_t curve_server = {
        .mechanism = SQ_CURVE, .as_server = true,
        .public_key = server_public, .secret_key = server_secret
    };
    uint8_t client_key [32];
    SQ_CHECK (zmq_z85_decode (client_key, client_public));
    sq_zap_rule_t only_client = { .client_key = client_key };
    sq_worker_config_t curve_config = {
        .type = ZMQ_ROUTER, .connections = 2, .security = &curve_server, .zap = &only_client
    };
    sq_worker_t *curve_worker = sq_worker_new (proxy->backend, &curve_config);
    SQ_CHECK (curve_worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));

    //  A CURVE client served, then gone
    void *ctx = zmq_ctx_new ();
    sq_security_t client_security = {
        .mechanism = SQ_CURVE, .server_key = server_public,
        .public_key = client_public, .secret_key = client_secret
    };
    void *client = sq_peer_new (ctx, ZMQ_DEALER, &client_security, proxy->frontend);
    SQ_CHECK (client);
    s_echo (client, "hello 1");
    zmq_close (client);
    SQ_CHECK (sq_stats_wait (proxy->control, "pairs.active", 0, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 2, SQ_WAIT_MS));

    //  The log level, changed and back
    const char *debug [] = { "LOGLEVEL", "debug", NULL }, *info [] = { "LOGLEVEL", "info", NULL };
    SQ_CHECK (s_ok (proxy->control, debug));
    SQ_CHECK (s_ok (proxy->control, info));

    //  A peer that is not ZMTP
    int fd = sq_tcp_connect (proxy->frontend);
    SQ_CHECK (fd >= 0);
    const char *http = "GET / HTTP/1.0\r\n\r\n";
    SQ_CHECK_EQ (sq_tcp_send (fd, http, strlen (http)), 0);
    SQ_CHECK (sq_tcp_wait_closed (fd, SQ_WAIT_MS));
    close (fd);
    SQ_CHECK (sq_stats_wait (proxy->control, "rejected.greeting", 1, SQ_WAIT_MS));

    //  A CURVE client with the wrong server key: the worker closes, the
    //  slot is lost, the client banned
    sq_security_t wrong_key = {
        .mechanism = SQ_CURVE, .server_key = stranger_public,
        .public_key = client_public, .secret_key = client_secret
    };
    client = sq_peer_new (ctx, ZMQ_DEALER, &wrong_key, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "hello 1"), 0);
    SQ_CHECK (sq_stats_wait_min (proxy->control, "handshakes.failed_by.worker_closed", 1,
                                 SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait_min (proxy->control, "workers.slots_lost", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait_min (proxy->control, "frontend.refused.handshake", 1, SQ_WAIT_MS));
    zmq_close (client);
    const char *unban [] = { "UNBAN", "127.0.0.1", NULL };
    SQ_CHECK (s_ok (proxy->control, unban));

    //  A CURVE client whose key the worker's ZAP handler refuses: the
    //  worker sends ERROR, and redials
    sq_security_t refused_key = {
        .mechanism = SQ_CURVE, .server_key = server_public,
        .public_key = stranger_public, .secret_key = stranger_secret
    };
    client = sq_peer_new (ctx, ZMQ_DEALER, &refused_key, proxy->frontend);
    SQ_CHECK (client);
    SQ_CHECK_EQ (sq_send_str (client, "let me in"), 0);
    SQ_CHECK (sq_stats_wait_min (proxy->control, "handshakes.failed_by.error", 1, SQ_WAIT_MS));
    zmq_close (client);
    SQ_CHECK (s_ok (proxy->control, unban));
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    //  STATS with a worker by name
    s_stats = sq_control_str (proxy->control, "STATS");
    SQ_CHECK (s_stats && sq_json_valid (s_stats));

    //  The operator closes the worker's connections; they redial
    const char *close_billing [] = { "CLOSE", "backend", "billing", NULL };
    SQ_CHECK (s_ok (proxy->control, close_billing));
    SQ_CHECK (sq_stats_wait_min (proxy->control, "closed.operator", 1, SQ_WAIT_MS));
    SQ_CHECK (sq_stats_wait (proxy->control, "workers.idle", 1, SQ_WAIT_MS));

    //  The worker goes: its last connection's close is logged
    sq_worker_destroy (&curve_worker);
    SQ_CHECK (sq_stats_wait (proxy->control, "backend.connections", 0, SQ_WAIT_MS));
    zmq_ctx_term (ctx);
    char log_path [512];
    snprintf (log_path, sizeof log_path, "%s", proxy->log_path);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    s_log_append (log_path);

    //  A CURVE control socket, with the key pair doc/security.md shows,
    //  three authorised keys, and a backend open to other hosts
    char dir [512], path [600];
    char clients [600];
    sq_build_path ("tests/test_docs-keys", dir, sizeof dir);
    snprintf (clients, sizeof clients, "%s/clients", dir);
    SQ_CHECK (mkdir (dir, 0700) == 0 || errno == EEXIST);
    SQ_CHECK (mkdir (clients, 0700) == 0 || errno == EEXIST);
    snprintf (path, sizeof path, "%s/proxy_secret", dir);
    FILE *file = fopen (path, "w");
    SQ_CHECK (file);
    fputs ("metadata\ncurve\n"
           "    public-key = \"Gn^<ALh:1jt?x/)?3fK}tr#U5i7pvDcIv0@k#A^[\"\n"
           "    secret-key = \"2UFIOgMi8qdv-{vhFk5eMYy$+@lj43LWfL#ZOZ{-\"\n", file);
    SQ_CHECK_EQ (fclose (file), 0);
    SQ_CHECK_EQ (chmod (path, 0600), 0);
    for (int index = 0; index < 3; index++) {
        char public_key [41], secret_key [41], name [700];
        SQ_CHECK_EQ (zmq_curve_keypair (public_key, secret_key), 0);
        snprintf (name, sizeof name, "%s/clients/client%d", dir, index);
        file = fopen (name, "w");
        SQ_CHECK (file);
        fprintf (file, "metadata\ncurve\n    public-key = \"%s\"\n", public_key);
        SQ_CHECK_EQ (fclose (file), 0);
    }
    const char *args [] = { "--backend", "tcp://0.0.0.0:0", "--control-key", path,
                            "--control-clients", clients, NULL };
    proxy = sq_proxy_start ("test_docs", args);
    SQ_CHECK (proxy);
    snprintf (log_path, sizeof log_path, "%s", proxy->log_path);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);
    s_log_append (log_path);
}

//  ---------------------------------------------------------------------
//  STATS fields

//  Adds to paths the STATS paths a code span names: braces expanded,
//  <side> as frontend and backend, <name> under by_name or services as
//  "*", any other
//  placeholder cutting the path; nothing when the span is not a dotted
//  path into STATS (its first name is not a group of the reply)
static void
s_span_paths (const char *span, const s_list_t *leaves, s_list_t *paths)
{
    if (!strchr (span, '.') || strspn (span, "abcdefghijklmnopqrstuvwxyz"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.<>{},+-") != strlen (span) || *span == '.')
        return;
    const char *open = strchr (span, '{'), *close = open? strchr (open, '}'): NULL;
    if (open && close) {
        for (const char *choice = open + 1; choice < close; ) {
            size_t length = strcspn (choice, ",}");
            char expanded [512];
            snprintf (expanded, sizeof expanded, "%.*s%.*s%s", (int) (open - span), span,
                      (int) length, choice, close + 1);
            s_span_paths (expanded, leaves, paths);
            choice += length + (choice [length] == ',');
        }
        return;
    }
    if (strncmp (span, "<side>.", 7) == 0) {
        char side [512];
        snprintf (side, sizeof side, "frontend%s", span + 6);
        s_span_paths (side, leaves, paths);
        snprintf (side, sizeof side, "backend%s", span + 6);
        s_span_paths (side, leaves, paths);
        return;
    }
    char path [512] = "";
    for (const char *at = span; *at; ) {
        size_t length = strcspn (at, ".");
        bool placeholder = *at == '<';
        if (placeholder && (strcmp (path, "workers.by_name") == 0
                        || strcmp (path, "services") == 0))
            strcat (path, ".*");
        else
        if (placeholder)
            break;
        else
            snprintf (path + strlen (path), sizeof path - strlen (path), "%s%.*s",
                      *path? ".": "", (int) length, at);
        at += length + (at [length] == '.');
    }
    //  Only a path whose first name is a group of STATS is about STATS
    char group [128];
    snprintf (group, sizeof group, "%.*s", (int) strcspn (path, "."), path);
    if (*path && strchr (span, '.') && s_path_known (leaves, group))
        s_list_addstr (paths, path);
}

//  Every dotted STATS path the documents name in a code span is there
static void
test_stats_fields (void)
{
    SQ_CHECK_MSG (s_stats, "no STATS from the scenario");
    s_list_t leaves = { 0 };
    SQ_CHECK (s_json_leaves (s_stats, "", &leaves));
    SQ_CHECK (leaves.count > 50);
    SQ_CHECK (s_path_known (&leaves, "pairs.active"));
    SQ_CHECK (s_path_known (&leaves, "handshakes.failed_by"));
    SQ_CHECK (s_path_known (&leaves, "workers.by_name.*.idle"));
    SQ_CHECK (!s_path_known (&leaves, "pairs.act"));
    //  The span rules themselves
    s_list_t probe = { 0 };
    s_span_paths ("<side>.refused.<reason>", &leaves, &probe);
    s_span_paths ("handshakes.failed_by.{error,nosuch}", &leaves, &probe);
    s_span_paths ("examples/streamq.cfg", &leaves, &probe);
    s_span_paths ("worker.key", &leaves, &probe);
    SQ_CHECK_EQ (probe.count, 4);
    SQ_CHECK_STR (probe.items [0], "frontend.refused");
    SQ_CHECK_STR (probe.items [1], "backend.refused");
    SQ_CHECK_STR (probe.items [3], "handshakes.failed_by.nosuch");
    SQ_CHECK (!s_path_known (&leaves, probe.items [3]));
    s_list_clear (&probe);

    s_doc_t docs [16];
    size_t count = s_docs_load (docs, 16, false);
    size_t checked = 0;
    for (size_t doc = 0; doc < count; doc++) {
        s_list_t paragraphs = { 0 }, spans = { 0 }, paths = { 0 };
        s_paragraphs (&docs [doc], &paragraphs);
        for (size_t index = 0; index < paragraphs.count; index++)
            s_code_spans (paragraphs.items [index], &spans);
        for (size_t index = 0; index < spans.count; index++)
            s_span_paths (spans.items [index], &leaves, &paths);
        for (size_t index = 0; index < paths.count; index++) {
            SQ_CHECK_MSG (s_path_known (&leaves, paths.items [index]),
                          "%s names the STATS field '%s', which a STATS reply does not have",
                          docs [doc].path, paths.items [index]);
            checked++;
        }
        s_list_clear (&paragraphs);
        s_list_clear (&spans);
        s_list_clear (&paths);
    }
    SQ_CHECK_MSG (checked >= 60, "only %zu STATS fields found in the documents", checked);
    s_docs_free (docs, count);
    s_list_clear (&leaves);
}

//  True when the sample shows the real leaf: as it is, or, for a member
//  of a service's STATS ("services.*.pairs.active"), as the same member of
//  the totals, once the sample shows a service at all
static bool
s_sample_shows (const s_list_t *shown, const char *leaf)
{
    if (s_list_has (shown, leaf))
        return true;
    return strncmp (leaf, "services.*.", 11) == 0 && s_list_has (shown, leaf + 11)
        && s_path_known (shown, "services.*");
}

//  The STATS reply the documents show has the fields of a real one (a
//  service's STATS under "services" may show only some of its members)
static void
test_stats_sample (void)
{
    SQ_CHECK_MSG (s_stats, "no STATS from the scenario");
    s_list_t real = { 0 };
    SQ_CHECK (s_json_leaves (s_stats, "", &real));
    s_doc_t docs [16];
    size_t count = s_docs_load (docs, 16, false);
    size_t samples = 0;
    for (size_t doc = 0; doc < count; doc++) {
        s_list_t blocks = { 0 };
        s_samples (&docs [doc], "<!-- sample: stats -->", NULL, &blocks);
        for (size_t index = 0; index < blocks.count; index++) {
            s_list_t shown = { 0 };
            const char *end = s_json_leaves (blocks.items [index], "", &shown);
            SQ_CHECK_MSG (end && !*s_ws (end), "%s: the STATS sample is not JSON",
                          docs [doc].path);
            for (size_t leaf = 0; leaf < shown.count; leaf++)
                SQ_CHECK_MSG (s_list_has (&real, shown.items [leaf]),
                              "%s shows the STATS field '%s', which STATS does not have",
                              docs [doc].path, shown.items [leaf]);
            for (size_t leaf = 0; leaf < real.count; leaf++)
                SQ_CHECK_MSG (s_sample_shows (&shown, real.items [leaf]),
                              "STATS has '%s', which the sample in %s does not show",
                              real.items [leaf], docs [doc].path);
            s_list_clear (&shown);
            samples++;
        }
        s_list_clear (&blocks);
    }
    SQ_CHECK_MSG (samples >= 1, "no block marked <!-- sample: stats -->");
    s_docs_free (docs, count);
    s_list_clear (&real);
}

//  ---------------------------------------------------------------------
//  Log samples

static void
test_log_samples (void)
{
    SQ_CHECK_MSG (s_log, "no log from the scenario");
    //  The rules themselves: numbers, the time and paths aside, words count
    SQ_CHECK (s_sample_matches ("... info  ready", s_log));
    SQ_CHECK (s_sample_matches ("2027-01-02T03:04:05.678Z info  ready", s_log));
    SQ_CHECK (s_sample_matches ("{\"time\":\"...\",\"level\":\"info\",\"message\":\"ready\"}",
                                s_log));
    SQ_CHECK (!s_sample_matches ("... info  ready now", s_log));
    SQ_CHECK (!s_sample_matches ("... warn  ready", s_log));
    SQ_CHECK (!s_sample_matches ("... info  frontend #5 10.1.2.3:47746 acepted (10.1.2.3)",
                                 s_log));
    SQ_CHECK (s_sample_matches ("... info  frontend #5 10.1.2.3:47746 accepted (10.1.2.3)",
                                s_log));

    s_doc_t docs [16];
    size_t count = s_docs_load (docs, 16, false);
    size_t checked = 0;
    for (size_t doc = 0; doc < count; doc++) {
        s_list_t lines = { 0 };
        s_samples (&docs [doc], "<!-- sample: log -->", &lines, NULL);
        for (size_t index = 0; index < lines.count; index++) {
            SQ_CHECK_MSG (s_sample_matches (lines.items [index], s_log),
                          "%s: the proxy wrote no line like this sample:\n  %s",
                          docs [doc].path, lines.items [index]);
            checked++;
        }
        s_list_clear (&lines);
    }
    SQ_CHECK_MSG (checked >= 15, "only %zu log samples found", checked);
    s_docs_free (docs, count);
}

//  ---------------------------------------------------------------------
//  Control commands

//  The command names of the command table of doc/control.md: the first
//  upper-case word of each code span of each row's first cell
static void
s_table_commands (s_list_t *commands)
{
    s_doc_t doc;
    SQ_CHECK (s_doc_load (&doc, "doc/control.md"));
    bool table = false;
    for (size_t index = 0; index < doc.count; index++) {
        const char *line = doc.lines [index];
        if (doc.code [index])
            continue;
        if (!table) {
            table = strncmp (line, "| command |", 11) == 0;
            index += table;                 //  The separator row
            continue;
        }
        if (*line != '|')
            break;
        //  The first cell ends at the first '|' not escaped
        const char *end = line + 1;
        while (*end && !(*end == '|' && end [-1] != '\\'))
            end++;
        char cell [512];
        snprintf (cell, sizeof cell, "%.*s", (int) (end - line - 1), line + 1);
        s_list_t spans = { 0 };
        s_code_spans (cell, &spans);
        for (size_t span = 0; span < spans.count; span++) {
            const char *word = spans.items [span];
            size_t length = strspn (word, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            if (length && (word [length] == 0 || word [length] == ' ')) {
                char name [64];
                snprintf (name, sizeof name, "%.*s", (int) length, word);
                if (!s_list_has (commands, name))
                    s_list_addstr (commands, name);
            }
        }
        s_list_clear (&spans);
    }
    s_doc_free (&doc);
}

//  The reply to the command with more arguments than any takes: a known
//  command refuses them (and does nothing), an unknown one is unknown
static bool
s_command_known (const char *control, const char *command)
{
    const char *frames [24] = { command };
    for (int index = 1; index <= 18; index++)
        frames [index] = "x";
    char **reply = sq_control (control, frames, SQ_WAIT_MS);
    SQ_CHECK_MSG (reply && sq_strv_size (reply) >= 2 && strcmp (reply [0], "ERROR") == 0,
                  "%s with 18 arguments: no ERROR", command);
    bool known = strncmp (reply [1], "unknown command", 15) != 0;
    sq_strv_destroy (&reply);
    return known;
}

static void
test_commands (void)
{
    s_list_t commands = { 0 };
    s_table_commands (&commands);
    SQ_CHECK_MSG (commands.count >= 20, "only %zu commands in doc/control.md's table",
                  commands.count);
    sq_proxy_t *proxy = sq_proxy_start ("test_docs", NULL);
    SQ_CHECK (proxy);
    SQ_CHECK (!s_command_known (proxy->control, "NOSUCHCOMMAND"));
    for (size_t index = 0; index < commands.count; index++)
        SQ_CHECK_MSG (s_command_known (proxy->control, commands.items [index]),
                      "doc/control.md lists %s, which the proxy does not know",
                      commands.items [index]);
    //  The proxy is still there: no command did anything
    long long uptime = -1;
    SQ_CHECK (sq_stats (proxy->control, "uptime_ms", &uptime));
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);

    //  Every command streamq-ctl lists is in the table
    const char *args [] = { "--help", NULL };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", args, &out, NULL), 0);
    const char *section = strstr (out, "\nCommands");
    SQ_CHECK (section);
    size_t listed = 0;
    for (const char *line = strchr (section + 1, '\n'); line && line [1] != '\n';
         line = strchr (line + 1, '\n')) {
        const char *word = line + 1;
        if (strncmp (word, "  ", 2) || !isupper ((unsigned char) word [2]))
            continue;
        char name [64];
        snprintf (name, sizeof name, "%.*s", (int) strspn (word + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                  word + 2);
        SQ_CHECK_MSG (s_list_has (&commands, name),
                      "streamq-ctl --help lists %s, which doc/control.md's table does not",
                      name);
        listed++;
    }
    SQ_CHECK_MSG (listed >= 20, "only %zu commands in streamq-ctl --help", listed);
    free (out);
    s_list_clear (&commands);
}

//  ---------------------------------------------------------------------
//  Links and sections

//  Checks the target of one link of the document at doc_path
static void
s_check_link (const char *doc_path, const char *target)
{
    if (strstr (target, "://") || strncmp (target, "mailto:", 7) == 0)
        return;
    char file [512], anchor [256] = "";
    size_t length = strcspn (target, "#");
    if (target [length] == '#')
        snprintf (anchor, sizeof anchor, "%s", target + length + 1);
    const char *slash = strrchr (doc_path, '/');
    if (length == 0)
        snprintf (file, sizeof file, "%.255s", doc_path);
    else
        snprintf (file, sizeof file, "%.*s%.*s", slash? (int) (slash - doc_path + 1): 0,
                  doc_path, (int) length, target);
    struct stat info;
    SQ_CHECK_MSG (stat (file, &info) == 0, "%s links to %s: no such file", doc_path, target);
    size_t name = strlen (file);
    if (!*anchor || name < 3 || strcmp (file + name - 3, ".md"))
        return;
    s_doc_t doc;
    SQ_CHECK (s_doc_load (&doc, file));
    s_list_t anchors = { 0 };
    s_headings (&doc, NULL, &anchors);
    SQ_CHECK_MSG (s_list_has (&anchors, anchor), "%s links to %s: %s has no heading #%s",
                  doc_path, target, file, anchor);
    s_list_clear (&anchors);
    s_doc_free (&doc);
}

static void
test_links (void)
{
    //  GitHub's rules, on headings of these documents
    char slug [256];
    s_slug ("systemd: Type=notify and the watchdog", slug, sizeof slug);
    SQ_CHECK_STR (slug, "systemd-typenotify-and-the-watchdog");
    s_slug ("Node (zeromq.js)", slug, sizeof slug);
    SQ_CHECK_STR (slug, "node-zeromqjs");
    s_slug ("Naming connections: `IDENTIFY`", slug, sizeof slug);
    SQ_CHECK_STR (slug, "naming-connections-identify");
    s_slug ("ZMQ_HANDSHAKE_IVL", slug, sizeof slug);
    SQ_CHECK_STR (slug, "zmq_handshake_ivl");

    s_doc_t docs [16];
    size_t count = s_docs_load (docs, 16, true);
    size_t links = 0;
    for (size_t doc = 0; doc < count; doc++) {
        s_list_t paragraphs = { 0 };
        s_paragraphs (&docs [doc], &paragraphs);
        for (size_t index = 0; index < paragraphs.count; index++) {
            char *text = s_without_spans (paragraphs.items [index]);
            for (char *at = strstr (text, "]("); at; at = strstr (at + 2, "](")) {
                char *end = strchr (at + 2, ')');
                SQ_CHECK_MSG (end, "%s: a link with no end: %.40s", docs [doc].path, at);
                char target [512];
                snprintf (target, sizeof target, "%.*s", (int) (end - at - 2), at + 2);
                s_check_link (docs [doc].path, target);
                links++;
            }
            free (text);
        }
        s_list_clear (&paragraphs);
    }
    SQ_CHECK_MSG (links >= 80, "only %zu links found", links);
    s_docs_free (docs, count);
}

//  Each section streamq-proxy --help points to, 'see README, "Title"', is
//  a heading of README.md
static void
test_help_sections (void)
{
    const char *args [] = { "--help", NULL };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", args, &out, NULL), 0);
    s_doc_t readme;
    SQ_CHECK (s_doc_load (&readme, "README.md"));
    s_list_t titles = { 0 }, anchors = { 0 };
    s_headings (&readme, &titles, &anchors);
    for (const char *at = strstr (out, "see README"); at; at = strstr (at + 1, "see README")) {
        const char *quote = at + strlen ("see README");
        quote += strspn (quote, ", ");
        if (*quote != '"')
            continue;
        //  The title, with a line break and its indent made one space
        char title [256];
        size_t length = 0;
        for (const char *in = quote + 1; *in && *in != '"' && length + 1 < sizeof title; in++) {
            if (*in == '\n') {
                in += strspn (in + 1, " ");
                title [length++] = ' ';
            }
            else
                title [length++] = *in;
        }
        title [length] = 0;
        SQ_CHECK_MSG (s_list_has (&titles, title),
                      "streamq-proxy --help points to README, \"%s\", which it does not have",
                      title);
    }
    s_list_clear (&titles);
    s_list_clear (&anchors);
    s_doc_free (&readme);
    free (out);
}

int
main (void)
{
    SQ_RUN (test_scenario);
    SQ_RUN (test_stats_fields);
    SQ_RUN (test_stats_sample);
    SQ_RUN (test_log_samples);
    SQ_RUN (test_commands);
    SQ_RUN (test_links);
    SQ_RUN (test_help_sections);
    free (s_log);
    free (s_stats);
    return sq_test_summary ();
}
