/*  =========================================================================
    test_check_config - the option table seen from outside, and one check
    for --check-config and start-up alike

    --help names each option once and the configuration file takes each
    name; what --print-config prints reads back to the same configuration;
    --check-config refuses what start-up refuses (an endpoint's form, a
    host libzmq cannot bind to, a file it cannot read, options that need
    one another), and with --bind what cannot be bound; README's example
    configuration passes the check and then starts; the manual page's
    option list is what the program prints for it.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

SQ_TEST_DEFINE

//  Writes text to a file in the build directory; returns its path
static const char *
s_write (const char *name, const char *text)
{
    static char paths [8][512];
    static int next = 0;
    char *path = paths [next++ % 8];
    char file [256];
    snprintf (file, sizeof file, "tests/test_check_config-%s", name);
    sq_build_path (file, path, 512);
    FILE *out = fopen (path, "w");
    if (!out)
        return NULL;
    fputs (text, out);
    fclose (out);
    return path;
}

//  The options about options: on the command line only
static bool
s_meta (const char *name)
{
    const char *meta [] = {
        "config", "check-config", "bind", "print-config", "help", "version"
    };
    for (size_t index = 0; index < sizeof meta / sizeof meta [0]; index++)
        if (strcmp (name, meta [index]) == 0)
            return true;
    return false;
}

//  A value for an option that has none by default
static const char *
s_sample (const char *name)
{
    struct { const char *name, *value; } samples [] = {
        { "syslog-socket", "/run/streamq/log.sock" }, { "metrics", "http://127.0.0.1:0/m" },
        { "control-key", "proxy_secret" }, { "control-clients", "clients" },
        { "routes", "routes.txt" }, { "max-connections", "500" },
        { "frontend-allow", "10.0.0.0/8,192.0.2.7" }, { "frontend-deny", "10.0.0.66" },
        { "backend-allow", "127.0.0.0/8" }, { "backend-deny", "127.0.0.9" },
        { "frontend-mechanisms", "CURVE" }, { "backend-mechanisms", "CURVE,NULL" },
    };
    for (size_t index = 0; index < sizeof samples / sizeof samples [0]; index++)
        if (strcmp (samples [index].name, name) == 0)
            return samples [index].value;
    return NULL;
}

//  --help names each option on a line of its own, once; a file with
//  every one of them is read, and --print-config shows each as given
static void
test_every_option_in_help_and_file (void)
{
    const char *help_args [] = { "--help", NULL };
    const char *print_args [] = { "--print-config", NULL };
    char *help = NULL, *defaults = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", help_args, &help, NULL), 0);
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", print_args, &defaults, NULL), 0);
    char file [16384] = "";
    size_t used = 0, options = 0;
    for (const char *line = help; *line; line += strcspn (line, "\n") + 1) {
        char name [64];
        if (sscanf (line, "  --%63[a-z0-9-]", name) != 1)
            continue;
        char tag [80];
        snprintf (tag, sizeof tag, "\n  --%s ", name);
        SQ_CHECK_MSG (strstr (strstr (help, tag) + 1, tag) == NULL, "--%s twice", name);
        if (s_meta (name))
            continue;
        //  Its default, as --print-config gives it, or a sample
        char key [80], value [256] = "";
        snprintf (key, sizeof key, "\n%s = \"", name);
        const char *at = strstr (defaults, key);
        if (at)
            snprintf (value, sizeof value, "%.*s", (int) strcspn (at + strlen (key), "\""),
                      at + strlen (key));
        else {
            SQ_CHECK_MSG (s_sample (name), "no value for --%s", name);
            snprintf (value, sizeof value, "%s", s_sample (name));
        }
        if (strcmp (name, "control-open-read") == 0)
            snprintf (value, sizeof value, "true");
        used += (size_t) snprintf (file + used, sizeof file - used, "%s = \"%s\"\n",
                                   name, value);
        options++;
    }
    SQ_CHECK (options > 40 && used < sizeof file);
    const char *path = s_write ("every.cfg", file);
    const char *args [] = { "--config", path, "--print-config", NULL };
    char *printed = NULL, *err = NULL;
    int code = sq_run_program ("streamq-proxy", args, &printed, &err);
    SQ_CHECK_MSG (code == 0, "exit %d: %s", code, err);
    for (const char *line = file; *line; line += strcspn (line, "\n") + 1) {
        char expected [400];
        snprintf (expected, sizeof expected, "\n%.*s\n", (int) strcspn (line, "\n"), line);
        SQ_CHECK_MSG (strstr (printed, expected), "--print-config lacks %s", expected + 1);
    }
    free (help);
    free (defaults);
    free (printed);
    free (err);
}

//  What --print-config prints, read as a file, prints the same again;
//  the command line overrides the file, a repeatable option as a whole
static void
test_print_config_reads_back (void)
{
    const char *path = s_write ("first.cfg",
        "frontend = \"tcp://127.0.0.1:7001\"\n"
        "    allow = \"10.0.0.0/8\"\n"
        "    allow = \"192.0.2.1\"\n"
        "    tcp-keepalive = \"60:10:5\"\n"
        "max-pair-buffer = 1M\n"
        "slow-peer = block\n"
        "log-level = debug\n"
        "rules\n"
        "    alias = \"backend 10.0.1.0/24 billing\"\n"
        "    weight = \"billing-1 3\"\n");
    const char *args [] = {
        "--config", path, "--max-queue", "7", "--backend-deny", "127.0.0.9",
        "--backend-deny", "127.0.0.10", "--tcp-keepalive", "on", "--print-config", NULL
    };
    char *first = NULL, *second = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", args, &first, NULL), 0);
    SQ_CHECK (strstr (first, "\nfrontend-allow = \"10.0.0.0/8,192.0.2.1\"\n"));
    SQ_CHECK (strstr (first, "\nbackend-deny = \"127.0.0.9,127.0.0.10\"\n"));
    SQ_CHECK (strstr (first, "\nfrontend-tcp-keepalive = \"60:10:5\"\n"));
    SQ_CHECK (strstr (first, "\nbackend-tcp-keepalive = \"on\"\n"));
    SQ_CHECK (strstr (first, "\n    weight = \"billing-1 3\"\n"));
    const char *again_path = s_write ("second.cfg", first);
    const char *again [] = { "--config", again_path, "--print-config", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", again, &second, NULL), 0);
    SQ_CHECK_STR (second, first);
    free (first);
    free (second);
}

//  The arguments are refused by --check-config and by start-up alike,
//  exit 2, with a reason holding `reason`
static void
s_refused (const char *option, const char *value, const char *reason)
{
    const char *endpoints [] = {
        "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
        "--control", "tcp://127.0.0.1:*"
    };
    for (int start = 0; start < 2; start++) {
        const char *args [16];
        int count = 0;
        for (int index = 0; index < 6; index++)
            args [count++] = endpoints [index];
        args [count++] = option;
        if (value)
            args [count++] = value;
        if (!start)
            args [count++] = "--check-config";
        args [count] = NULL;
        char *err = NULL;
        int code = sq_run_program ("streamq-proxy", args, NULL, &err);
        SQ_CHECK_MSG (code == 2 && err && strstr (err, reason),
                      "%s %s %s: exit %d: %s", start? "start": "check", option,
                      value? value: "", code, err? err: "");
        free (err);
    }
}

static void
test_check_refuses_what_start_refuses (void)
{
    s_refused ("--frontend", "foo://bar", "invalid value 'foo://bar' for --frontend");
    s_refused ("--backend", "tcp://127.0.0.1:99999", "the port '99999' is not");
    s_refused ("--control", "tcp://nowhere.invalid:5557",
               "the host 'nowhere.invalid' cannot be resolved");
    s_refused ("--routes", "/nonexistent/streamq-routes", "cannot open /nonexistent");
    s_refused ("--control-key", "/nonexistent/proxy_secret", "needs --control-clients");
    s_refused ("--control-clients", "/nonexistent/clients",
               "--control-clients and --control-open-read need --control-key FILE");
    s_refused ("--control-open-read", NULL, "need --control-key FILE");
    char dir [512];
    sq_build_path ("tests", dir, sizeof dir);
    s_refused ("--routes", dir, dir);
    const char *unreadable [] = {
        "--control-key", "/nonexistent/proxy_secret", "--control-clients", dir,
        "--check-config", NULL
    };
    char *err = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", unreadable, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "--control-key: "), "%s", err);
    free (err);
}

//  A TCP listener on 127.0.0.1 at a port from sq_free_port, which stays
//  free once the listener closes (no other test's connect can take it);
//  its port
static int
s_listen (int *port)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        *port = sq_free_port ("127.0.0.1");
        int fd = *port > 0? socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0): -1;
        if (fd < 0)
            return -1;
        struct sockaddr_in address = { .sin_family = AF_INET,
                                       .sin_port = htons ((uint16_t) *port) };
        address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        if (bind (fd, (struct sockaddr *) &address, sizeof address) == 0
        &&  listen (fd, 1) == 0)
            return fd;
        close (fd);             //  Picked by another test meanwhile
    }
    return -1;
}

//  --check-config --bind binds and releases the endpoints: a port already
//  taken fails it, which --check-config alone does not see
static void
test_check_bind (void)
{
    int port = 0;
    int fd = s_listen (&port);
    SQ_CHECK (fd >= 0);
    char taken [64], metrics [80];
    snprintf (taken, sizeof taken, "tcp://127.0.0.1:%d", port);
    snprintf (metrics, sizeof metrics, "http://127.0.0.1:%d/metrics", port);
    const char *check [] = {
        "--frontend", taken, "--backend", "tcp://127.0.0.1:*", "--control",
        "tcp://127.0.0.1:*", "--check-config", NULL, NULL
    };
    char *out = NULL, *err = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", check, &out, NULL), 0);
    SQ_CHECK (strstr (out, "configuration OK"));
    free (out);
    check [7] = "--bind";
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", check, NULL, &err), 2);
    char expected [128];
    snprintf (expected, sizeof expected, "cannot bind frontend to %s: ", taken);
    SQ_CHECK_MSG (strstr (err, expected), "%s", err);
    free (err);
    //  The metrics address too
    const char *metrics_check [] = {
        "--frontend", "tcp://127.0.0.1:*", "--backend", "tcp://127.0.0.1:*",
        "--control", "tcp://127.0.0.1:*", "--metrics", metrics, "--check-config",
        "--bind", NULL
    };
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", metrics_check, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "cannot bind metrics to"), "%s", err);
    free (err);
    close (fd);
    //  Free, it binds: and what it bound is released, so binding again works
    for (int round = 0; round < 2; round++) {
        SQ_CHECK_EQ (sq_run_program ("streamq-proxy", metrics_check, &out, &err), 0);
        SQ_CHECK_MSG (strstr (out, "configuration OK"), "%s", err);
        free (out);
        free (err);
    }
    //  Two endpoints on one port: each alone binds, both at once do not
    char same [64];
    snprintf (same, sizeof same, "tcp://127.0.0.1:%d", sq_free_port ("127.0.0.1"));
    const char *twice [] = {
        "--frontend", same, "--backend", same, "--control", "tcp://127.0.0.1:*",
        "--check-config", "--bind", NULL
    };
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", twice, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "cannot bind backend to"), "%s", err);
    free (err);
    //  --bind goes with --check-config
    const char *alone [] = { "--bind", NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", alone, NULL, &err), 2);
    SQ_CHECK (strstr (err, "--bind goes with --check-config"));
    free (err);
}

//  The example configuration of doc/operations.md (section "Configuration
//  file"), with its keys made here and endpoints on loopback: the check
//  passes, and the proxy starts with it. Without the keys it names, both
//  refuse it.
static void
test_readme_example (void)
{
    char *readme = sq_file_read ("doc/operations.md");
    SQ_CHECK (readme);
    const char *section = strstr (readme, "\n## Configuration file\n");
    SQ_CHECK (section);
    const char *block = strstr (section, "\n```\n");
    SQ_CHECK (block);
    block += 5;
    const char *end = strstr (block, "\n```\n");
    SQ_CHECK (end);
    char example [4096];
    snprintf (example, sizeof example, "%.*s\n", (int) (end - block), block);
    SQ_CHECK (strstr (example, "control-open-read = true"));
    const char *path = s_write ("readme.cfg", example);

    //  The keys: the proxy's, and a client's public one in a directory
    char proxy_key [512], clients [512], client_key [600], secret [700];
    sq_build_path ("tests/test_check_config-proxy", proxy_key, sizeof proxy_key);
    sq_build_path ("tests/test_check_config-clients", clients, sizeof clients);
    snprintf (client_key, sizeof client_key, "%s/ops", clients);
    mkdir (clients, 0755);
    const char *made [] = { proxy_key, client_key };
    for (int index = 0; index < 2; index++) {
        snprintf (secret, sizeof secret, "%s_secret", made [index]);
        unlink (made [index]);
        unlink (secret);
    }
    const char *keygen [] = { "--keygen", proxy_key, NULL };
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", keygen, NULL, NULL), 0);
    keygen [1] = client_key;
    SQ_CHECK_EQ (sq_run_program ("streamq-ctl", keygen, NULL, NULL), 0);
    snprintf (secret, sizeof secret, "%s_secret", client_key);
    unlink (secret);
    snprintf (secret, sizeof secret, "%s_secret", proxy_key);

    const char *check [] = {
        "--config", path, "--frontend", "tcp://127.0.0.1:*", "--backend",
        "tcp://127.0.0.1:*", "--control", "tcp://127.0.0.1:*", "--control-key", secret,
        "--control-clients", clients, "--check-config", NULL
    };
    char *out = NULL, *err = NULL;
    //  A directory of clients that cannot be read is refused
    check [11] = "/nonexistent/clients";
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", check, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "--control-clients: "), "%s", err);
    free (err);
    check [11] = clients;
    int code = sq_run_program ("streamq-proxy", check, &out, &err);
    SQ_CHECK_MSG (code == 0 && strstr (out, "configuration OK"), "exit %d: %s", code, err);
    free (out);
    free (err);
    const char *start [] = {
        "--config", path, "--control-key", secret, "--control-clients", clients, NULL
    };
    sq_proxy_t *proxy = sq_proxy_start ("test_check_config", start);
    SQ_CHECK (proxy);
    SQ_CHECK_EQ (sq_proxy_stop (&proxy), 0);

    //  The same example without the keys it names
    char without [4096] = "";
    size_t used = 0;
    for (const char *line = example; *line; line += strcspn (line, "\n") + 1)
        if (strncmp (line, "control-key", 11) != 0 && strncmp (line, "control-clients", 15) != 0)
            used += (size_t) snprintf (without + used, sizeof without - used, "%.*s\n",
                                       (int) strcspn (line, "\n"), line);
    path = s_write ("readme-without-keys.cfg", without);
    check [1] = path;
    check [8] = "--check-config";
    check [9] = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", check, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "need --control-key FILE"), "%s", err);
    free (err);
    check [8] = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", check, NULL, &err), 2);
    SQ_CHECK_MSG (strstr (err, "need --control-key FILE"), "%s", err);
    free (err);
    free (readme);
}

//  doc/streamq-proxy.1 holds, between its markers, what --help-man prints
//  (`make man` puts it there)
static void
test_man_block (void)
{
    char *man = sq_file_read ("doc/streamq-proxy.1");
    SQ_CHECK (man);
    const char *begin = strstr (man, "\n.\\\" BEGIN OPTIONS\n");
    const char *end = strstr (man, "\n.\\\" END OPTIONS\n");
    SQ_CHECK (begin && end && begin < end);
    begin += strlen ("\n.\\\" BEGIN OPTIONS\n");
    char *block = strndup (begin, (size_t) (end - begin) + 1);
    const char *args [] = { "--help-man", NULL };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", args, &out, NULL), 0);
    SQ_CHECK_MSG (strcmp (out, block) == 0,
                  "doc/streamq-proxy.1 is not what --help-man prints: run make man");
    //  Hidden from --help
    const char *help [] = { "--help", NULL };
    char *usage = NULL;
    SQ_CHECK_EQ (sq_run_program ("streamq-proxy", help, &usage, NULL), 0);
    SQ_CHECK (!strstr (usage, "--help-man"));
    free (usage);
    free (out);
    free (block);
    free (man);
}

int
main (void)
{
    SQ_RUN (test_every_option_in_help_and_file);
    SQ_RUN (test_print_config_reads_back);
    SQ_RUN (test_check_refuses_what_start_refuses);
    SQ_RUN (test_check_bind);
    SQ_RUN (test_readme_example);
    SQ_RUN (test_man_block);
    return sq_test_summary ();
}
