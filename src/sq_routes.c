/*  =========================================================================
    sq_routes - the route file

    The same code runs each line twice: first against scratch tables, which
    finds any bad line before anything changes; then, only if all lines
    passed, against the proxy's own tables, emptied first.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sq_routes.h"
#include "sq_control.h"
#include "sq_identity.h"
#include "sq_balancer.h"

#define S_LINE_MAX  1024
#define S_WORDS_MAX (2 + SQ_ROUTE_MAX)

typedef struct {
    char text [S_LINE_MAX];
    char *words [S_WORDS_MAX];
    size_t count;
} s_line_t;

//  Splits a line into words, dropping a comment; false when too long or
//  with too many words
static bool
s_split (const char *start, size_t length, s_line_t *line)
{
    if (length >= S_LINE_MAX)
        return false;
    memcpy (line->text, start, length);
    line->text [length] = 0;
    char *hash = strchr (line->text, '#');
    if (hash)
        *hash = 0;
    line->count = 0;
    char *save = NULL;
    for (char *word = strtok_r (line->text, " \t\r", &save); word;
         word = strtok_r (NULL, " \t\r", &save)) {
        if (line->count == S_WORDS_MAX)
            return false;
        line->words [line->count++] = word;
    }
    return true;
}

static bool
s_names_ok (const s_line_t *line, size_t first, size_t last, char *reason, size_t size)
{
    for (size_t index = first; index <= last && index < line->count; index++)
        if (!sq_control_name_ok (line->words [index])) {
            snprintf (reason, size, "'%s' is not a valid name", line->words [index]);
            return false;
        }
    return true;
}

static bool
s_alias (const s_line_t *line, sq_identity_t *identity, char *reason, size_t size)
{
    sq_side_t side;
    if (line->count != 4) {
        snprintf (reason, size, "usage: ALIAS <frontend|backend> <ip|cidr> <name>");
        return false;
    }
    if (!sq_side_parse (line->words [1], &side)) {
        snprintf (reason, size, "side must be 'frontend' or 'backend', not '%s'",
                  line->words [1]);
        return false;
    }
    return s_names_ok (line, 3, 3, reason, size)
        && sq_identity_alias (identity, side, line->words [2], line->words [3], reason, size);
}

static bool
s_route (const s_line_t *line, sq_balancer_t *balancer, char *reason, size_t size)
{
    if (line->count < 3) {
        snprintf (reason, size, "usage: ROUTE <client> <worker> [<fallback>...] "
                  "(at most %d workers)", SQ_ROUTE_MAX);
        return false;
    }
    if (!s_names_ok (line, 1, line->count - 1, reason, size))
        return false;
    if (sq_balancer_route_set (balancer, line->words [1], (const char **) line->words + 2,
                               line->count - 2))
        return true;
    snprintf (reason, size, "out of memory");
    return false;
}

static bool
s_weight (const s_line_t *line, sq_balancer_t *balancer, char *reason, size_t size)
{
    unsigned weight;
    if (line->count != 3 || !sq_control_weight_parse (line->words [2], &weight)) {
        snprintf (reason, size, "usage: WEIGHT <worker> <1..%d>", SQ_WEIGHT_MAX);
        return false;
    }
    if (!s_names_ok (line, 1, 1, reason, size))
        return false;
    if (sq_balancer_set_weight (balancer, line->words [1], weight))
        return true;
    snprintf (reason, size, "out of memory");
    return false;
}

static bool
s_line (const s_line_t *line, sq_identity_t *identity, sq_balancer_t *balancer,
        char *reason, size_t size)
{
    const char *command = line->words [0];
    if (strcasecmp (command, "ALIAS") == 0)
        return s_alias (line, identity, reason, size);
    if (strcasecmp (command, "ROUTE") == 0)
        return s_route (line, balancer, reason, size);
    if (strcasecmp (command, "WEIGHT") == 0)
        return s_weight (line, balancer, reason, size);
    snprintf (reason, size, "unknown command '%s' (expected ALIAS, ROUTE or WEIGHT)", command);
    return false;
}

//  Runs every line of the text against the tables; stops at the first bad one
static bool
s_run (const char *text, sq_identity_t *identity, sq_balancer_t *balancer,
       char *error, size_t error_size)
{
    size_t number = 0;
    while (*text) {
        const char *end = strchr (text, '\n');
        size_t length = end? (size_t) (end - text): strlen (text);
        number++;
        s_line_t line;
        char reason [256] = "too long, or too many words";
        if (!s_split (text, length, &line)
        ||  (line.count > 0 && !s_line (&line, identity, balancer, reason, sizeof reason))) {
            snprintf (error, error_size, "line %zu: %s", number, reason);
            return false;
        }
        text += length + (end? 1: 0);
    }
    return true;
}

bool
sq_routes_check (const char *text, char *error, size_t error_size)
{
    sq_identity_t *identity = sq_identity_new ();
    sq_balancer_t *balancer = sq_balancer_new ();
    bool checked = identity && balancer
                && s_run (text, identity, balancer, error, error_size);
    if (!identity || !balancer)
        snprintf (error, error_size, "out of memory");
    sq_identity_destroy (&identity);
    sq_balancer_destroy (&balancer);
    return checked;
}

bool
sq_routes_load (sq_core_t *core, const char *text, char *error, size_t error_size,
                int64_t now)
{
    if (!sq_routes_check (text, error, error_size))
        return false;
    sq_identity_aliases_clear (sq_core_identity (core));
    sq_balancer_routes_clear (sq_core_balancer (core));
    sq_balancer_reset_weights (sq_core_balancer (core));
    s_run (text, sq_core_identity (core), sq_core_balancer (core), error, error_size);
    sq_core_routing_changed (core, now);
    return true;
}
