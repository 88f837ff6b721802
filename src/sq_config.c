/*  =========================================================================
    sq_config - the configuration file: command-line options in ZPL
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include "sq_config.h"
#include "sq_zpl.h"
#include "sq_file.h"

//  Largest configuration file read
#define S_FILE_MAX (1024 * 1024)

struct sq_config {
    sq_config_entry_t *entries;
    size_t count;
    size_t capacity;
    char *rules;                //  Route-file text
    size_t rules_size;
    int *rule_lines;            //  The file's line of each rule
    size_t rule_count;
    //  While reading: the entry before, which may turn out to be a section
    char *pending_path;
    int pending_line;
};

void
sq_config_destroy (sq_config_t **self_p)
{
    sq_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->count; index++) {
        free (self->entries [index].option);
        free (self->entries [index].value);
    }
    free (self->entries);
    free (self->rules);
    free (self->rule_lines);
    free (self->pending_path);
    free (self);
    *self_p = NULL;
}

static bool
s_oom (char *error, size_t size)
{
    snprintf (error, size, "out of memory");
    return false;
}

//  "frontend/allow" -> "frontend-allow"
static char *
s_option_name (const char *path)
{
    char *option = strdup (path);
    for (char *cursor = option; cursor && *cursor; cursor++)
        if (*cursor == '/')
            *cursor = '-';
    return option;
}

static bool
s_add_option (sq_config_t *self, const char *path, const char *value, int line,
              char *error, size_t size)
{
    if (self->count == self->capacity) {
        size_t capacity = self->capacity? self->capacity * 2: 32;
        sq_config_entry_t *entries = realloc (self->entries, capacity * sizeof *entries);
        if (!entries)
            return s_oom (error, size);
        self->entries = entries;
        self->capacity = capacity;
    }
    sq_config_entry_t *entry = &self->entries [self->count];
    entry->option = s_option_name (path);
    entry->value = value? strdup (value): NULL;
    entry->line = line;
    if (!entry->option || (value && !entry->value)) {
        free (entry->option);
        free (entry->value);
        return s_oom (error, size);
    }
    self->count++;
    return true;
}

//  rules/alias = "backend 10.0.1.0/24 billing" -> "ALIAS backend ...\n"
static bool
s_add_rule (sq_config_t *self, const char *kind, const char *value, int line,
            char *error, size_t size)
{
    if (strcmp (kind, "alias") && strcmp (kind, "route") && strcmp (kind, "weight")) {
        snprintf (error, size, "'rules' holds alias, route and weight, not '%s'", kind);
        return false;
    }
    if (!value || !*value) {
        snprintf (error, size, "rules/%s needs a value", kind);
        return false;
    }
    size_t needed = self->rules_size + strlen (kind) + strlen (value) + 3;
    char *rules = realloc (self->rules, needed);
    if (rules)
        self->rules = rules;
    int *lines = realloc (self->rule_lines, (self->rule_count + 1) * sizeof (int));
    if (lines)
        self->rule_lines = lines;
    if (!rules || !lines)
        return s_oom (error, size);
    self->rule_lines [self->rule_count++] = line;
    size_t at = self->rules_size;
    for (const char *cursor = kind; *cursor; cursor++)
        rules [at++] = (char) toupper ((unsigned char) *cursor);
    at += (size_t) sprintf (rules + at, " %s\n", value);
    self->rules_size = at;
    return true;
}

//  A name given alone is a flag, unless the next entry is its child: it
//  is then only a section. So each such entry waits for the next one.
static bool
s_flush_pending (sq_config_t *self, const char *next_path, char *error, size_t size)
{
    if (!self->pending_path)
        return true;
    size_t length = strlen (self->pending_path);
    bool section = next_path && strncmp (next_path, self->pending_path, length) == 0
                && next_path [length] == '/';
    bool added = section || strcmp (self->pending_path, "rules") == 0
              || s_add_option (self, self->pending_path, NULL, self->pending_line,
                               error, size);
    free (self->pending_path);
    self->pending_path = NULL;
    return added;
}

static bool
s_on_entry (void *arg, const char *path, const char *value, int line,
            char *error, size_t size)
{
    sq_config_t *self = arg;
    if (!s_flush_pending (self, path, error, size))
        return false;
    if (strncmp (path, "rules/", 6) == 0) {
        if (strchr (path + 6, '/')) {
            snprintf (error, size, "a rule has no children");
            return false;
        }
        return s_add_rule (self, path + 6, value, line, error, size);
    }
    if (value)
        return s_add_option (self, path, value, line, error, size);
    self->pending_path = strdup (path);
    self->pending_line = line;
    return self->pending_path || s_oom (error, size);
}

sq_config_t *
sq_config_parse (const char *text, char *error, size_t error_size)
{
    sq_config_t *self = calloc (1, sizeof *self);
    self->rules = self? strdup (""): NULL;
    if (!self || !self->rules) {
        free (self);
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    if (!sq_zpl_parse (text, s_on_entry, self, error, error_size)
    ||  !s_flush_pending (self, NULL, error, error_size))
        sq_config_destroy (&self);
    return self;
}

sq_config_t *
sq_config_load (const char *path, char *error, size_t error_size)
{
    char *text = sq_file_read (path, S_FILE_MAX, error, error_size);
    if (!text)
        return NULL;
    char reason [512];
    sq_config_t *self = sq_config_parse (text, reason, sizeof reason);
    if (!self)
        snprintf (error, error_size, "%s: %s", path, reason);
    free (text);
    return self;
}

size_t
sq_config_count (const sq_config_t *self)
{
    return self->count;
}

const sq_config_entry_t *
sq_config_entry (const sq_config_t *self, size_t index)
{
    return index < self->count? &self->entries [index]: NULL;
}

const char *
sq_config_rules (const sq_config_t *self)
{
    return self->rules;
}

int
sq_config_rule_line (const sq_config_t *self, size_t number)
{
    return number >= 1 && number <= self->rule_count? self->rule_lines [number - 1]: 0;
}
