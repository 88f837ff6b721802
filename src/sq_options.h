/*  =========================================================================
    sq_options - the proxy's options, each described once in one table

    An entry names an option and says what it takes (its type, its range,
    its argument's name in --help), its default (as text), its help, the
    group it is shown in, whether SIGHUP can change it while the proxy
    runs, and where its value goes in sq_proxy_config_t. Everything that
    speaks of options comes from that table: the command line (getopt),
    the configuration file (the same names, without dashes), --help, the
    OPTIONS section of the manual page, --print-config, and on a reload
    which changes need a restart.

    Adding an option is adding one entry (and its field in the config).
    Options about options (--config, --check-config, --help...) are in the
    table too, marked SQ_OPTION_META: main acts on them, and they are in
    no file nor in --print-config.
    =========================================================================
*/
#ifndef SQ_OPTIONS_H_INCLUDED
#define SQ_OPTIONS_H_INCLUDED

#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>
#include "sq_proxy.h"

typedef enum {
    SQ_OPTION_STRING,           //  Any text: a file, a directory, a path
    SQ_OPTION_ENDPOINT,         //  tcp://HOST:PORT, tcp://[IPv6]:PORT, ipc://PATH
    SQ_OPTION_MS,               //  Milliseconds, a whole number in [min, max]
    SQ_OPTION_COUNT,            //  A whole number in [min, max]
    SQ_OPTION_SIZE,             //  Bytes, with a K, M or G suffix, in [min, max]
    SQ_OPTION_FLAG,             //  No argument; true or false in a file
    SQ_OPTION_CHOICE,           //  One of the words of `choices`, stored as its index
    SQ_OPTION_CUSTOM            //  parse and print say
} sq_option_type_t;

//  What an option is besides its type
#define SQ_OPTION_LIVE       1  //  SIGHUP changes it while the proxy runs
#define SQ_OPTION_REPEATABLE 2  //  Each value adds; the command line's replace the file's
#define SQ_OPTION_META       4  //  About options: not in a file, not printed
#define SQ_OPTION_HIDDEN     8  //  Not in --help nor in the manual page
#define SQ_OPTION_PROXY     16  //  For the whole proxy: not set under a service

//  The groups of --help and of the manual page, in their order
typedef enum {
    SQ_GROUP_GENERAL, SQ_GROUP_HANDSHAKES, SQ_GROUP_CONTROL, SQ_GROUP_ROUTES,
    SQ_GROUP_DISCONNECTIONS, SQ_GROUP_SLOW, SQ_GROUP_LIMITS, SQ_GROUP_OTHER,
    SQ_GROUP_COUNT
} sq_option_group_t;

typedef struct sq_option sq_option_t;

//  Reads value into config; false when it is not valid, with what was
//  expected in `expected` (left empty: the entry's `expected` says it)
typedef bool (sq_option_parse_fn) (const sq_option_t *option, const char *value,
                                   sq_proxy_config_t *config, char *expected, size_t size);

//  The option's value as a file would give it, in text or a constant;
//  NULL when it is not set
typedef const char *(sq_option_print_fn) (const sq_option_t *option,
                                          const sq_proxy_config_t *config,
                                          char *text, size_t size);

struct sq_option {
    const char *name;           //  "max-queue": --max-queue, and max-queue in a file
    const char *arg;            //  Its argument in --help ("N", "MS"); NULL for a flag
    sq_option_type_t type;
    long long min, max;         //  For numbers and sizes
    const char *fallback;       //  The default, as a value of the option; NULL: none
    const char *zero;           //  What 0 means, when it means something
    const char *unset;          //  What the option's absence means, with no default
    const char *help;           //  --help's text (wrapped when printed)
    const char *man;            //  The manual page's text, in roff; NULL: help's
    sq_option_group_t group;
    unsigned flags;             //  SQ_OPTION_LIVE...
    size_t offset, size;        //  Its field in sq_proxy_config_t
    const char *const *choices; //  SQ_OPTION_CHOICE: the words, NULL-ended
    sq_option_parse_fn *parse;  //  SQ_OPTION_CUSTOM
    sq_option_print_fn *print;  //  SQ_OPTION_CUSTOM
    const char *expected;       //  SQ_OPTION_CUSTOM: what a bad value is told
    int side;                   //  For a side's own option: SQ_FRONTEND, SQ_BACKEND; -1
    bool allow;                 //  For an access list: allow (else deny)
    const char *restart;        //  The reload's note when it changes, when it
                                //  is not "--NAME changed: it needs a restart"
};

//  How many entries the table has, and entry `index` (NULL past the end)
size_t sq_options_count (void);
const sq_option_t *sq_options_at (size_t index);

//  The entry of that name (without dashes), or NULL
const sq_option_t *sq_options_find (const char *name);

//  The group's title, as --help and the manual page give it
const char *sq_options_group_title (sq_option_group_t group);

//  Fills config with every option's default: zero, the core's defaults,
//  then each entry's fallback
void sq_options_defaults (sq_proxy_config_t *config);

//  Applies one value (NULL for a flag given alone); false when it is not
//  valid, with "a whole number from 1 to 64" or the like in expected
bool sq_options_apply (const sq_option_t *option, const char *value,
                       sq_proxy_config_t *config, char *expected, size_t size);

//  Once every option is applied: what depends on several (a side's TCP
//  keepalive from --tcp-keepalive, unless the side's own was given)
void sq_options_finish (sq_proxy_config_t *config);

//  The option's value in config as text a file would take; NULL when it
//  is not set
const char *sq_options_text (const sq_option_t *option, const sq_proxy_config_t *config,
                             char *text, size_t size);

//  The rules between options, and the file's rules: true, or false with
//  the reason. Start-up, --check-config and SIGHUP all run it.
bool sq_options_check (const sq_proxy_config_t *config, char *error, size_t size);

//  The table as getopt_long takes it: each entry's val is 256 plus its
//  index. The array is built once and lives as long as the process.
const struct option *sq_options_getopt (void);

//  --help: the usage, the options by group, and what follows them
void sq_options_usage (FILE *out);

//  The OPTIONS section of the manual page, after its first paragraph, in
//  roff: what doc/streamq-proxy.1 holds between its two markers
void sq_options_man (FILE *out);

//  --print-config: one "name = value" line an option in the table's order
//  (a comment for one not set), then the rules
void sq_options_print (const sq_proxy_config_t *config, FILE *out);

//  Logs, as warnings, the changes from running to fresh that only a
//  restart applies (one line per note)
void sq_options_restart_notes (const sq_proxy_config_t *running,
                               const sq_proxy_config_t *fresh);

//  Gives fresh the running values of what only a restart applies (their
//  fields are copied: an option that needs a restart owns no memory)
void sq_options_keep_running (const sq_proxy_config_t *running, sq_proxy_config_t *fresh);

#endif
