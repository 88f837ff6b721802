/*  =========================================================================
    test_install - make install and make uninstall, the installed library
    through pkg-config, the manual pages against --help, the systemd unit

    Runs from the top of the tree, where `make test` runs the tests. Each
    `make install` here takes the build directory under test ($SQ_BUILD)
    with `-o all`: it installs what was built and never compiles. One
    install is staged, as a package build does (DESTDIR, PREFIX=/usr); one
    goes to a PREFIX of its own without DESTDIR (LDCONFIG=true, so the
    system's library cache is not touched). Both live under
    $SQ_BUILD/tests/install-<engine>/ (one directory per engine, so the
    runs of both engines may go at once) and are removed by make uninstall.

    The manual pages must document every option, command, group of
    options, signal and environment variable that `--help` prints, so a
    new option without its entry fails here. Checks that need a tool this
    machine lacks (pkg-config, cc, groff, systemd-analyze) are skipped
    with a note on stdout.
    =========================================================================
*/
#include "sq_test.h"
#include "sq_harness.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/stat.h>

SQ_TEST_DEFINE

//  Longest shell command or path built here
#define S_TEXT_MAX 8192

//  A make, a compile or systemd-analyze may be slow on a loaded machine
#define S_RUN_MS (300 * 1000)

//  Absolute paths: the build directory (at most S_BUILD_MAX long), the
//  root of both installs, the staging root (DESTDIR), the PREFIX of the
//  second install
#define S_BUILD_MAX 1000
static char s_build [PATH_MAX];
static char s_root [S_BUILD_MAX + 32];
static char s_stage [S_BUILD_MAX + 64];
static char s_prefix [S_BUILD_MAX + 64];

//  --help of both programs, read once
static char *s_proxy_help;
static char *s_ctl_help;

//  ---------------------------------------------------------------------
//  Helpers

//  Runs a shell command (printf format); returns its exit code and, when
//  out_p is not NULL, its stdout (caller frees). Prints the command and
//  its output on stderr when it fails.
static int
s_sh (char **out_p, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_sh (char **out_p, const char *format, ...)
{
    char command [S_TEXT_MAX];
    va_list args;
    va_start (args, format);
    int size = vsnprintf (command, sizeof command, format, args);
    va_end (args);
    if (size < 0 || (size_t) size >= sizeof command) {
        fprintf (stderr, "command too long: %.200s...\n", command);
        return -1;
    }
    const char *argv [] = { "/bin/sh", "-c", command, NULL };
    char *out = NULL, *err = NULL;
    int code = sq_run (argv, S_RUN_MS, &out, &err);
    if (code != 0)
        fprintf (stderr, "$ %s\n(exit %d)\n%s%s", command, code,
                 out? out: "", err? err: "");
    if (out_p)
        *out_p = out;
    else
        free (out);
    free (err);
    return code;
}

//  True if the tool is on PATH
static bool
s_have (const char *tool)
{
    char command [256];
    snprintf (command, sizeof command, "command -v %s >/dev/null 2>&1", tool);
    const char *argv [] = { "/bin/sh", "-c", command, NULL };
    return sq_run (argv, S_RUN_MS, NULL, NULL) == 0;
}

//  Runs `make install` (or uninstall) from the top of the tree, with
//  the build under test and the given variables; returns the exit code
static int
s_make (const char *target, const char *variables)
{
    return s_sh (NULL, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory "
                 "-o all BUILD='%s' %s %s", s_build, variables, target);
}

//  Removes trailing newlines and spaces in place
static char *
s_chomp (char *text)
{
    size_t length = text? strlen (text): 0;
    while (length && isspace ((unsigned char) text [length - 1]))
        text [--length] = 0;
    return text;
}

//  Checks a regular file and its permission bits
static void
s_check_file (const char *base, const char *path, mode_t mode)
{
    char full [S_TEXT_MAX];
    snprintf (full, sizeof full, "%s%s", base, path);
    struct stat info;
    SQ_CHECK_MSG (lstat (full, &info) == 0, "%s is missing", full);
    SQ_CHECK_MSG (S_ISREG (info.st_mode), "%s is not a regular file", full);
    SQ_CHECK_MSG ((info.st_mode & 07777) == mode, "%s has mode %04o, expected %04o",
                  full, (unsigned) (info.st_mode & 07777), (unsigned) mode);
}

//  Checks a symbolic link and what it points to
static void
s_check_link (const char *base, const char *path, const char *target)
{
    char full [S_TEXT_MAX], points [PATH_MAX];
    snprintf (full, sizeof full, "%s%s", base, path);
    ssize_t size = readlink (full, points, sizeof points - 1);
    SQ_CHECK_MSG (size > 0, "%s is not a symbolic link", full);
    points [size] = 0;
    SQ_CHECK_MSG (strcmp (points, target) == 0, "%s points to %s, expected %s",
                  full, points, target);
}

//  The value of "Name: value" or "name=value" at the start of a line of
//  text, copied into buf; false if there is no such line
static bool
s_field (const char *text, const char *name, char *buf, size_t size)
{
    size_t length = strlen (name);
    for (const char *line = text; line && *line; line = strchr (line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp (line, name, length) == 0) {
            const char *value = line + length;
            size_t span = strcspn (value, "\n");
            if (span >= size)
                return false;
            memcpy (buf, value, span);
            buf [span] = 0;
            return true;
        }
    }
    return false;
}

//  ---------------------------------------------------------------------
//  Manual pages

//  Reads a page with its roff escapes for - (\-), no-hyphenation (\%)
//  and zero width (\&) removed, so options read as on the command line
static char *
s_man_read (const char *path)
{
    char *text = sq_file_read (path);
    if (!text)
        return NULL;
    char *to = text;
    for (const char *from = text; *from; from++) {
        if (from [0] == '\\' && (from [1] == '-' || from [1] == '%' || from [1] == '&')) {
            if (from [1] == '-')
                *to++ = '-';
            from++;
        }
        else
            *to++ = *from;
    }
    *to = 0;
    return text;
}

//  True if c may be part of an option or command name
static bool
s_word_char (char c)
{
    return isalnum ((unsigned char) c) || c == '-' || c == '_';
}

//  True if the line (up to its newline) holds the word, not as a part of
//  a longer name
static bool
s_line_has_word (const char *line, const char *word)
{
    size_t length = strlen (word);
    const char *end = strchr (line, '\n');
    if (!end)
        end = line + strlen (line);
    for (const char *at = line; at + length <= end; at++)
        if (strncmp (at, word, length) == 0
        &&  (at == line || !s_word_char (at [-1]))
        &&  (at + length == end || !s_word_char (at [length])))
            return true;
    return false;
}

//  True if a line that sets text in bold (.B, .BI, .BR: the tag of an
//  entry, or a name in running text) holds the word
static bool
s_man_bold (const char *man, const char *word)
{
    for (const char *line = man; line && *line; line = strchr (line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp (line, ".B", 2) == 0 && s_line_has_word (line, word))
            return true;
    }
    return false;
}

//  True if the page has an entry whose tag starts with the command and
//  holds every word of its synopsis: a .B line whose first word is the
//  command, with the lines after it up to the first that is not a macro
static bool
s_man_entry (const char *man, const char *command, char words [][64], size_t count)
{
    for (const char *line = man; line && *line; line = strchr (line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp (line, ".B", 2) != 0)
            continue;
        const char *first = line + strcspn (line, " \n");
        first += strspn (first, " \"");
        size_t length = strlen (command);
        if (strncmp (first, command, length) != 0 || s_word_char (first [length]))
            continue;
        bool all = true;
        for (size_t index = 0; index < count && all; index++) {
            bool found = false;
            for (const char *tag = line; tag && *tag == '.' && !found;
                 tag = strchr (tag, '\n'), tag = tag? tag + 1: NULL)
                found = s_line_has_word (tag, words [index]);
            all = found;
        }
        if (all)
            return true;
    }
    return false;
}

//  Runs a program with --help, returns its stdout
static char *
s_help (const char *program)
{
    char binary [512];
    sq_build_path (program, binary, sizeof binary);
    const char *argv [] = { binary, "--help", NULL };
    char *out = NULL;
    int code = sq_run (argv, SQ_WAIT_MS, &out, NULL);
    if (code != 0) {
        fprintf (stderr, "%s --help exited %d\n", binary, code);
        free (out);
        return NULL;
    }
    return out;
}

//  Checks every long and short option that help prints (its entries, and
//  options it refers to) against the bold lines of the page; returns how
//  many were checked
static size_t
s_check_options (const char *help, const char *man, const char *page)
{
    size_t checked = 0;
    for (const char *at = help; *at; at++) {
        if (*at != '-' || (at > help && (s_word_char (at [-1]) || at [-1] == '/')))
            continue;
        bool is_long = at [1] == '-';
        if (!isalpha ((unsigned char) at [is_long? 2: 1]))
            continue;
        size_t length = is_long? 2: 1;
        while (s_word_char (at [length]))
            length++;
        if (!is_long && length != 2)
            continue;               //  A dash in prose, not -x
        char option [64];
        snprintf (option, sizeof option, "%.*s", (int) length, at);
        SQ_CHECK_MSG (s_man_bold (man, option), "%s does not document %s", page, option);
        checked++;
        at += length - 1;
    }
    return checked;
}

//  Checks the literal words of the usage lines at the top of help (the
//  first line, and the indented ones right after it): a lower-case word,
//  not an option nor in brackets, such as a subcommand, needs an entry
static void
s_check_usage (const char *help, const char *man, const char *page)
{
    const char *line = help;
    do {
        const char *end = strchr (line, '\n');
        if (!end)
            end = line + strlen (line);
        for (const char *at = line; at < end; ) {
            at += strspn (at, " ");
            size_t length = strcspn (at, " \n");
            bool word = length > 0;
            for (size_t index = 0; word && index < length; index++)
                word = islower ((unsigned char) at [index]);
            if (word) {
                char name [64];
                snprintf (name, sizeof name, "%.*s", (int) length, at);
                SQ_CHECK_MSG (s_man_entry (man, name, NULL, 0),
                              "%s has no entry for '%s' of its usage", page, name);
            }
            at += length;
        }
        line = *end? end + 1: end;
    } while (*line == ' ');
}

//  Checks that each group of options in help, a line "Title (see README,
//  ...)", has a subsection of that title in the page
static void
s_check_groups (const char *help, const char *man, const char *page)
{
    for (const char *line = help; line && *line; line = strchr (line, '\n')) {
        if (*line == '\n')
            line++;
        const char *see = strstr (line, " (see README");
        const char *end = strchr (line, '\n');
        if (!isupper ((unsigned char) *line) || !see || (end && see > end))
            continue;
        char title [128], subsection [160];
        snprintf (title, sizeof title, "%.*s", (int) (see - line), line);
        snprintf (subsection, sizeof subsection, ".SS \"%s", title);
        bool found = strstr (man, subsection) != NULL;
        snprintf (subsection, sizeof subsection, ".SS %s", title);
        SQ_CHECK_MSG (found || strstr (man, subsection), "%s has no subsection '%s'",
                      page, title);
    }
}

//  Checks every word of help that starts with prefix (SIG, $, STREAMQ_)
//  against the bold lines of the page
static void
s_check_names (const char *help, const char *prefix, const char *man, const char *page)
{
    size_t length = strlen (prefix);
    for (const char *at = strstr (help, prefix); at; at = strstr (at + 1, prefix)) {
        if (at > help && s_word_char (at [-1]))
            continue;
        const char *name = at [0] == '$'? at + 1: at;
        size_t size = length - (name - at);
        while (isupper ((unsigned char) name [size]) || isdigit ((unsigned char) name [size])
           ||  name [size] == '_')
            size++;
        if (size <= length - (name - at))
            continue;
        char word [64];
        snprintf (word, sizeof word, "%.*s", (int) size, name);
        SQ_CHECK_MSG (s_man_bold (man, word), "%s does not document %s", page, word);
    }
}

//  Checks the .TH line of a page names the version the program prints
static void
s_check_version (const char *program, const char *man, const char *page)
{
    char binary [512];
    sq_build_path (program, binary, sizeof binary);
    const char *argv [] = { binary, "--version", NULL };
    char *out = NULL;
    SQ_CHECK_EQ (sq_run (argv, SQ_WAIT_MS, &out, NULL), 0);
    const char *version = strrchr (s_chomp (out), ' ');
    SQ_CHECK (version);
    char th [128];
    SQ_CHECK_MSG (s_field (man, ".TH ", th, sizeof th), "%s has no .TH line", page);
    SQ_CHECK_MSG (s_line_has_word (th, version + 1),
                  "%s: .TH %s does not name version %s", page, th, version + 1);
    free (out);
}

//  ---------------------------------------------------------------------
//  Tests

//  make install DESTDIR=<stage> PREFIX=/usr puts every file in its place
//  with its mode
static void
test_install_staged (void)
{
    SQ_CHECK_EQ (s_sh (NULL, "rm -rf '%s' && mkdir -p '%s'", s_root, s_root), 0);
    char variables [S_TEXT_MAX];
    snprintf (variables, sizeof variables, "DESTDIR='%s' PREFIX=/usr", s_stage);
    SQ_CHECK_EQ (s_make ("install", variables), 0);

    s_check_file (s_stage, "/usr/bin/streamq-proxy", 0755);
    s_check_file (s_stage, "/usr/bin/streamq-ctl", 0755);
    s_check_file (s_stage, "/usr/include/streamq.h", 0644);
    s_check_file (s_stage, "/usr/lib/libstreamq.a", 0644);
    s_check_file (s_stage, "/usr/lib/pkgconfig/libstreamq.pc", 0644);
    s_check_file (s_stage, "/usr/share/man/man1/streamq-proxy.1", 0644);
    s_check_file (s_stage, "/usr/share/man/man1/streamq-ctl.1", 0644);
    s_check_file (s_stage, "/usr/lib/systemd/system/streamq-proxy.service", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/streamq.cfg.example", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/README.md", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/doc/operations.md", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/doc/control.md", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/doc/security.md", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/doc/workers.md", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/doc/development.md", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/streamq-rules.yml", 0644);
    s_check_file (s_stage, "/usr/share/doc/streamq-proxy/streamq-dashboard.json", 0644);
    s_check_file (s_stage, "/usr/share/bash-completion/completions/streamq-ctl", 0644);
    s_check_file (s_stage, "/usr/lib/python3/dist-packages/streamq_peer.py", 0644);

    //  The shared library: its real name carries the version of the .pc
    //  file, its soname the major number
    char path [S_TEXT_MAX], version [64], name [128], soname [128];
    snprintf (path, sizeof path, "%s/usr/lib/pkgconfig/libstreamq.pc", s_stage);
    char *pc = sq_file_read (path);
    SQ_CHECK (pc);
    SQ_CHECK_MSG (s_field (pc, "prefix=", path, sizeof path) && strcmp (path, "/usr") == 0,
                  "libstreamq.pc: prefix is not /usr:\n%s", pc);
    SQ_CHECK_MSG (s_field (pc, "Version: ", version, sizeof version), "no Version in .pc");
    free (pc);
    snprintf (name, sizeof name, "libstreamq.so.%s", version);
    snprintf (soname, sizeof soname, "libstreamq.so.%.*s",
              (int) strcspn (version, "."), version);
    snprintf (path, sizeof path, "/usr/lib/%s", name);
    s_check_file (s_stage, path, 0755);
    snprintf (path, sizeof path, "/usr/lib/%s", soname);
    s_check_link (s_stage, path, name);
    s_check_link (s_stage, "/usr/lib/libstreamq.so", soname);
    char *out = NULL;
    SQ_CHECK_EQ (s_sh (&out, "readelf -d '%s/usr/lib/%s'", s_stage, name), 0);
    char expected [160];
    snprintf (expected, sizeof expected, "Library soname: [%s]", soname);
    SQ_CHECK_MSG (strstr (out, expected), "%s has no soname %s", name, soname);
    free (out);

    //  The unit runs the installed program, with PREFIX substituted
    snprintf (path, sizeof path, "%s/usr/lib/systemd/system/streamq-proxy.service", s_stage);
    char *unit = sq_file_read (path);
    SQ_CHECK (unit);
    SQ_CHECK_MSG (strstr (unit, "\nExecStart=/usr/bin/streamq-proxy --config "
                                "/etc/streamq/streamq.cfg\n"),
                  "the unit does not start /usr/bin/streamq-proxy --config:\n%s", unit);
    regex_t variable;
    SQ_CHECK_EQ (regcomp (&variable, "@[A-Z_]+@", REG_EXTENDED | REG_NOSUB), 0);
    bool left = regexec (&variable, unit, 0, NULL, 0) == 0;
    regfree (&variable);
    SQ_CHECK_MSG (!left, "the unit still holds a @VARIABLE@:\n%s", unit);
    free (unit);
}

//  pkg-config finds the staged library, and a program compiles and links
//  against the installed header and library, shared and static
static void
test_pkg_config_staged (void)
{
    if (!s_have ("pkg-config") || !s_have ("cc")) {
        printf ("note: pkg-config or cc missing: linking against the installed "
                "library not checked\n");
        return;
    }
    //  Without a sysroot: the paths the .pc file gives on the target
    char *out = NULL;
    SQ_CHECK_EQ (s_sh (&out, "export PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' && "
                       "pkg-config --variable=libdir libstreamq && "
                       "pkg-config --variable=includedir libstreamq", s_stage), 0);
    SQ_CHECK_MSG (strcmp (s_chomp (out), "/usr/lib\n/usr/include") == 0,
                  "libdir, includedir: %s", out);
    free (out);

    //  A peer that names its socket's connections, as an application would
    char path [S_TEXT_MAX];
    snprintf (path, sizeof path, "%s/peer.c", s_root);
    FILE *file = fopen (path, "w");
    SQ_CHECK (file);
    fputs ("#include <stdio.h>\n"
           "#include <zmq.h>\n"
           "#include <streamq.h>\n"
           "int main (void)\n"
           "{\n"
           "    void *ctx = zmq_ctx_new ();\n"
           "    void *socket = zmq_socket (ctx, ZMQ_DEALER);\n"
           "    streamq_peer_t *peer = streamq_peer_new (ctx, socket,\n"
           "        \"tcp://127.0.0.1:9\", \"backend\", \"install-check\");\n"
           "    int made = peer != NULL;\n"
           "    if (peer)\n"
           "        streamq_peer_destroy (&peer);\n"
           "    zmq_close (socket);\n"
           "    zmq_ctx_term (ctx);\n"
           "    printf (\"%d.%d.%d %s\\n\", STREAMQ_VERSION_MAJOR, STREAMQ_VERSION_MINOR,\n"
           "            STREAMQ_VERSION_PATCH, made? \"made\": \"failed\");\n"
           "    return made? 0: 1;\n"
           "}\n", file);
    SQ_CHECK_EQ (fclose (file), 0);

    //  A library built with the sanitizers (make test-asan) needs them in
    //  the program too
    SQ_CHECK_EQ (s_sh (&out, "readelf -d '%s/usr/lib/libstreamq.so' "
                       "| grep -c 'NEEDED.*libasan' || true", s_stage), 0);
    const char *sanitize = atoi (out) > 0? "-fsanitize=address,undefined": "";
    free (out);

    //  The sysroot makes pkg-config point into the staging root
    char pkg_config [S_TEXT_MAX];
    snprintf (pkg_config, sizeof pkg_config, "PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' "
              "PKG_CONFIG_SYSROOT_DIR='%s' PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 "
              "PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 pkg-config", s_stage, s_stage);
    SQ_CHECK_EQ (s_sh (NULL, "cd '%s' && cc -std=c11 -Wall -Werror %s peer.c -o peer-shared "
                       "$(%s --cflags --libs libstreamq libzmq)", s_root, sanitize,
                       pkg_config), 0);
    SQ_CHECK_EQ (s_sh (NULL, "cd '%s' && cc -std=c11 -Wall -Werror %s peer.c -o peer-static "
                       "$(%s --cflags libstreamq) '%s/usr/lib/libstreamq.a' "
                       "$(%s --libs libzmq) -lpthread", s_root, sanitize, pkg_config,
                       s_stage, pkg_config), 0);

    //  The shared one loads the library by its soname from the stage
    SQ_CHECK_EQ (s_sh (&out, "%s --modversion libstreamq", pkg_config), 0);
    char version [64];
    snprintf (version, sizeof version, "%s", s_chomp (out));
    free (out);
    SQ_CHECK_EQ (s_sh (&out, "cd '%s' && LD_LIBRARY_PATH='%s/usr/lib' ./peer-shared && "
                       "LD_LIBRARY_PATH='%s/usr/lib' ldd ./peer-shared", s_root, s_stage,
                       s_stage), 0);
    char expected [S_TEXT_MAX];
    snprintf (expected, sizeof expected, "%s made\n", version);
    SQ_CHECK_MSG (strncmp (out, expected, strlen (expected)) == 0,
                  "the header's version is not the .pc file's %s: %s", version, out);
    snprintf (expected, sizeof expected, "libstreamq.so.%.*s => %s/usr/lib/",
              (int) strcspn (version, "."), version, s_stage);
    SQ_CHECK_MSG (strstr (out, expected), "peer-shared does not load %s...:\n%s",
                  expected, out);
    free (out);

    SQ_CHECK_EQ (s_sh (&out, "cd '%s' && ./peer-static && ldd ./peer-static", s_root), 0);
    SQ_CHECK_MSG (!strstr (out, "libstreamq"), "peer-static loads libstreamq:\n%s", out);
    free (out);
}

//  What the installed bash completion offers for the words of a command
//  line, the last one being completed (heap, one a line)
static char *
s_complete (const char *words)
{
    char *out = NULL;
    int code = s_sh (&out, "bash --norc --noprofile -c '"
                     "source \"%s/usr/share/bash-completion/completions/streamq-ctl\" && "
                     "COMP_WORDS=(%s) && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && "
                     "_streamq_ctl && printf \"%%s\\n\" \"${COMPREPLY[@]}\"'",
                     s_stage, words);
    if (code != 0) {
        free (out);
        return NULL;
    }
    return out;
}

//  True if the line list holds the word as a whole line
static bool
s_has_line (const char *lines, const char *word)
{
    size_t length = strlen (word);
    for (const char *at = lines; at && *at; at = strchr (at, '\n'), at = at? at + 1: NULL)
        if (strncmp (at, word, length) == 0 && (at [length] == '\n' || !at [length]))
            return true;
    return false;
}

//  The bash completion offers every command and long option of
//  streamq-ctl --help, and the words a command takes
static void
test_bash_completion (void)
{
    if (!s_have ("bash")) {
        printf ("note: bash missing: the completion is not checked\n");
        return;
    }
    char *commands = s_complete ("streamq-ctl \"\"");
    char *options = s_complete ("streamq-ctl --");
    SQ_CHECK (commands && options);
    const char *section = strstr (s_ctl_help, "\nCommands");
    SQ_CHECK (section);
    size_t count = 0;
    for (const char *line = strchr (section + 1, '\n') + 1; *line && *line != '\n';
         line = strchr (line, '\n') + 1) {
        if (strncmp (line, "  ", 2) == 0 && isupper ((unsigned char) line [2])) {
            char command [64];
            snprintf (command, sizeof command, "%.*s", (int) strcspn (line + 2, " \n"),
                      line + 2);
            SQ_CHECK_MSG (s_has_line (commands, command), "no completion for %s:\n%s",
                          command, commands);
            count++;
        }
        if (!strchr (line, '\n'))
            break;
    }
    SQ_CHECK (count >= 15 && s_has_line (commands, "watch"));
    //  The options: the long names in the tag of each entry, a line that
    //  starts with "-" (up to the two spaces before its description)
    size_t options_seen = 0;
    for (const char *line = s_ctl_help; line && *line; line = strchr (line, '\n'),
         line = line? line + 1: NULL) {
        const char *tag = line + strspn (line, " ");
        if (tag == line || *tag != '-')
            continue;
        const char *end = strstr (tag, "  ");
        for (const char *at = strstr (tag, "--"); at && (!end || at < end);
             at = strstr (at + 2, "--")) {
            char option [64];
            snprintf (option, sizeof option, "%.*s",
                      (int) strspn (at, "-abcdefghijklmnopqrstuvwxyz"), at);
            SQ_CHECK_MSG (s_has_line (options, option), "no completion for %s:\n%s",
                          option, options);
            options_seen++;
        }
    }
    SQ_CHECK (options_seen >= 12);
    free (commands);
    free (options);
    char *words = s_complete ("streamq-ctl -c tcp://127.0.0.1:9 IDENTIFY \"\"");
    SQ_CHECK_STR (words, "frontend\nbackend\n");
    free (words);
    words = s_complete ("streamq-ctl LOGLEVEL w");
    SQ_CHECK_STR (words, "warning\n");
    free (words);
    words = s_complete ("streamq-ctl drain A");
    SQ_CHECK_STR (words, "ALL\n");
    free (words);
}

//  make install with a PREFIX and no DESTDIR: what a make install on a
//  host does; the unit and the .pc file point into that PREFIX
static void
test_install_prefix (void)
{
    char variables [S_TEXT_MAX];
    snprintf (variables, sizeof variables, "DESTDIR= PREFIX='%s' LDCONFIG=true", s_prefix);
    SQ_CHECK_EQ (s_make ("install", variables), 0);
    s_check_file (s_prefix, "/bin/streamq-proxy", 0755);
    s_check_file (s_prefix, "/lib/systemd/system/streamq-proxy.service", 0644);

    char path [S_TEXT_MAX], line [S_TEXT_MAX];
    snprintf (path, sizeof path, "%s/lib/pkgconfig/libstreamq.pc", s_prefix);
    char *pc = sq_file_read (path);
    SQ_CHECK (pc);
    SQ_CHECK_MSG (s_field (pc, "prefix=", line, sizeof line) && strcmp (line, s_prefix) == 0,
                  "libstreamq.pc: prefix is not %s:\n%s", s_prefix, pc);
    free (pc);

    //  The installed program runs, and checks the example configuration
    //  when it has --check-config
    char *out = NULL;
    SQ_CHECK_EQ (s_sh (&out, "'%s/bin/streamq-proxy' --version", s_prefix), 0);
    free (out);
    if (strstr (s_proxy_help, "--check-config"))
        SQ_CHECK_EQ (s_sh (NULL, "'%s/bin/streamq-proxy' --check-config --config "
                           "'%s/share/doc/streamq-proxy/streamq.cfg.example'",
                           s_prefix, s_prefix), 0);
    else
        printf ("note: streamq-proxy has no --check-config: the example "
                "configuration is not checked\n");

    snprintf (path, sizeof path, "%s/lib/systemd/system/streamq-proxy.service", s_prefix);
    char *unit = sq_file_read (path);
    SQ_CHECK (unit);
    snprintf (line, sizeof line, "\nExecStart=%s/bin/streamq-proxy ", s_prefix);
    SQ_CHECK_MSG (strstr (unit, line), "the unit does not start %s/bin/streamq-proxy",
                  s_prefix);
    //  Every option the unit gives the program exists
    const char *exec = strstr (unit, line) + strlen (line);
    for (const char *at = strstr (exec, "--"); at && at < strchr (exec, '\n');
         at = strstr (at + 2, "--")) {
        char option [64];
        snprintf (option, sizeof option, "%.*s", (int) strcspn (at, " \n"), at);
        SQ_CHECK_MSG (strstr (s_proxy_help, option),
                      "the unit passes %s, which streamq-proxy --help does not list",
                      option);
    }
    free (unit);

    //  systemd's own check, with the installed manual pages for its
    //  Documentation= lines
    if (s_have ("systemd-analyze")) {
        SQ_CHECK_EQ (s_sh (&out, "MANPATH='%s/share/man' systemd-analyze verify '%s' 2>&1",
                           s_prefix, path), 0);
        SQ_CHECK_MSG (*s_chomp (out) == 0, "systemd-analyze verify: %s", out);
        free (out);
    }
    else
        printf ("note: systemd-analyze missing: the unit is not verified\n");
}

//  make uninstall removes every file install put there
static void
test_uninstall (void)
{
    char variables [S_TEXT_MAX];
    snprintf (variables, sizeof variables, "DESTDIR='%s' PREFIX=/usr", s_stage);
    SQ_CHECK_EQ (s_make ("uninstall", variables), 0);
    snprintf (variables, sizeof variables, "DESTDIR= PREFIX='%s' LDCONFIG=true", s_prefix);
    SQ_CHECK_EQ (s_make ("uninstall", variables), 0);
    char *out = NULL;
    SQ_CHECK_EQ (s_sh (&out, "find '%s' '%s' ! -type d", s_stage, s_prefix), 0);
    SQ_CHECK_MSG (*s_chomp (out) == 0, "make uninstall left:\n%s", out);
    free (out);
    SQ_CHECK_EQ (s_sh (NULL, "rm -rf '%s'", s_root), 0);
}

//  streamq-proxy.1 documents what streamq-proxy --help prints
static void
test_man_proxy (void)
{
    char *man = s_man_read ("doc/streamq-proxy.1");
    SQ_CHECK (man);
    size_t checked = s_check_options (s_proxy_help, man, "streamq-proxy.1");
    SQ_CHECK_MSG (checked >= 40, "only %zu options read from --help", checked);
    s_check_groups (s_proxy_help, man, "streamq-proxy.1");
    s_check_usage (s_proxy_help, man, "streamq-proxy.1");
    s_check_names (s_proxy_help, "SIG", man, "streamq-proxy.1");
    s_check_names (s_proxy_help, "$", man, "streamq-proxy.1");
    s_check_names (s_proxy_help, "STREAMQ_", man, "streamq-proxy.1");
    s_check_version ("streamq-proxy", man, "streamq-proxy.1");
    free (man);
}

//  streamq-ctl.1 documents what streamq-ctl --help prints, and every
//  control command streamq-proxy --help lists
static void
test_man_ctl (void)
{
    char *man = s_man_read ("doc/streamq-ctl.1");
    SQ_CHECK (man);
    size_t checked = s_check_options (s_ctl_help, man, "streamq-ctl.1");
    SQ_CHECK_MSG (checked >= 10, "only %zu options read from --help", checked);
    s_check_usage (s_ctl_help, man, "streamq-ctl.1");
    s_check_names (s_ctl_help, "$", man, "streamq-ctl.1");
    s_check_names (s_ctl_help, "STREAMQ_", man, "streamq-ctl.1");
    s_check_version ("streamq-ctl", man, "streamq-ctl.1");

    //  Commands: each line of the Commands section that starts with one;
    //  its synopsis (up to two spaces) must be in the entry's tag
    const char *section = strstr (s_ctl_help, "\nCommands");
    SQ_CHECK_MSG (section, "streamq-ctl --help has no Commands section");
    size_t commands = 0;
    for (const char *line = strchr (section + 1, '\n') + 1; *line && *line != '\n';
         line = strchr (line, '\n') + 1) {
        if (strncmp (line, "  ", 2) == 0 && isupper ((unsigned char) line [2])) {
            const char *synopsis = line + 2;
            const char *end = strstr (synopsis, "  ");
            const char *eol = strchr (synopsis, '\n');
            if (!end || (eol && eol < end))
                end = eol;
            char words [16][64];
            size_t count = 0;
            for (const char *at = synopsis; at < end && count < 16; at++)
                if (isupper ((unsigned char) *at) && (at == synopsis || !s_word_char (at [-1]))) {
                    size_t length = strspn (at, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
                    snprintf (words [count++], 64, "%.*s", (int) length, at);
                    at += length - 1;
                }
            SQ_CHECK_MSG (s_man_entry (man, words [0], words, count),
                          "streamq-ctl.1 has no entry %s with %.*s", words [0],
                          (int) (end - synopsis), synopsis);
            commands++;
        }
        if (!strchr (line, '\n'))
            break;
    }
    SQ_CHECK_MSG (commands >= 15, "only %zu commands read from --help", commands);

    //  The proxy's list of commands: "Control commands: PING, ..., X (see"
    char *proxy_man = s_man_read ("doc/streamq-proxy.1");
    SQ_CHECK (proxy_man);
    const char *list = strstr (s_proxy_help, "Control commands:");
    SQ_CHECK_MSG (list, "streamq-proxy --help lists no control commands");
    const char *end = strstr (list, "(see");
    SQ_CHECK (end);
    for (const char *at = list + strlen ("Control commands:"); at < end; at++)
        if (isupper ((unsigned char) *at) && !s_word_char (at [-1])) {
            char command [64];
            size_t length = strspn (at, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            snprintf (command, sizeof command, "%.*s", (int) length, at);
            SQ_CHECK_MSG (s_man_entry (man, command, NULL, 0),
                          "streamq-ctl.1 has no entry for %s", command);
            SQ_CHECK_MSG (s_man_bold (proxy_man, command),
                          "streamq-proxy.1 does not list %s", command);
            at += length - 1;
        }
    free (proxy_man);
    free (man);
}

//  groff renders both pages without a warning
static void
test_man_render (void)
{
    if (!s_have ("groff")) {
        printf ("note: groff missing (Debian: groff-base): the pages are not rendered\n");
        return;
    }
    const char *pages [] = { "doc/streamq-proxy.1", "doc/streamq-ctl.1" };
    for (size_t index = 0; index < 2; index++) {
        char *out = NULL;
        SQ_CHECK_EQ (s_sh (&out, "groff -man -Tutf8 -ww -z '%s' 2>&1", pages [index]), 0);
        SQ_CHECK_MSG (*s_chomp (out) == 0, "groff warns about %s:\n%s", pages [index], out);
        free (out);
    }
}

int
main (void)
{
    //  From the top of the tree only: make and the pages are found there
    if (access ("Makefile", R_OK) != 0 || access ("doc/streamq-proxy.1", R_OK) != 0) {
        fprintf (stderr, "test_install: run from the top of the source tree\n");
        return 1;
    }
    if (!realpath (sq_build_dir (), s_build)) {
        fprintf (stderr, "test_install: no build directory %s: %s\n", sq_build_dir (),
                 strerror (errno));
        return 1;
    }
    if (strlen (s_build) > S_BUILD_MAX) {
        fprintf (stderr, "test_install: the build directory's path is too long\n");
        return 1;
    }
    snprintf (s_root, sizeof s_root, "%.1000s/tests/install-%.16s", s_build,
              *sq_engine ()? sq_engine (): "any");
    snprintf (s_stage, sizeof s_stage, "%s/stage", s_root);
    snprintf (s_prefix, sizeof s_prefix, "%s/prefix", s_root);
    s_proxy_help = s_help ("streamq-proxy");
    s_ctl_help = s_help ("streamq-ctl");
    if (!s_proxy_help || !s_ctl_help)
        return 1;

    SQ_RUN (test_install_staged);
    SQ_RUN (test_pkg_config_staged);
    SQ_RUN (test_bash_completion);
    SQ_RUN (test_install_prefix);
    SQ_RUN (test_uninstall);
    SQ_RUN (test_man_proxy);
    SQ_RUN (test_man_ctl);
    SQ_RUN (test_man_render);

    free (s_proxy_help);
    free (s_ctl_help);
    return sq_test_summary ();
}
