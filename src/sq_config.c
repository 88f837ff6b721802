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
#include "sq_service_ref.h"

//  Largest configuration file read
#define S_FILE_MAX (1024 * 1024)

//  Rules as route-file text, with the file's line of each
typedef struct {
    char *text;
    size_t size;
    int *lines;
    size_t count;
} s_rules_t;

//  A service the file declares under "services"
typedef struct {
    char *name;
    int line;
    s_rules_t rules;
} s_service_t;

struct sq_config {
    sq_config_entry_t *entries;
    size_t count;
    size_t capacity;
    s_rules_t rules;            //  The top level's
    s_service_t services [SQ_CONFIG_SERVICES_MAX];
    size_t service_count;
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
    free (self->rules.text);
    free (self->rules.lines);
    for (size_t index = 0; index < self->service_count; index++) {
        free (self->services [index].name);
        free (self->services [index].rules.text);
        free (self->services [index].rules.lines);
    }
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
s_add_option (sq_config_t *self, int service, const char *path, const char *value,
              int line, char *error, size_t size)
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
    entry->service = service;
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
s_add_rule (s_rules_t *self, const char *kind, const char *value, int line,
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
    size_t needed = self->size + strlen (kind) + strlen (value) + 3;
    char *text = realloc (self->text, needed);
    if (text)
        self->text = text;
    int *lines = realloc (self->lines, (self->count + 1) * sizeof (int));
    if (lines)
        self->lines = lines;
    if (!text || !lines)
        return s_oom (error, size);
    self->lines [self->count++] = line;
    size_t at = self->size;
    for (const char *cursor = kind; *cursor; cursor++)
        text [at++] = (char) toupper ((unsigned char) *cursor);
    at += (size_t) sprintf (text + at, " %s\n", value);
    self->size = at;
    return true;
}

//  "services/billing": declares the service
static bool
s_add_service (sq_config_t *self, const char *name, int line, char *error, size_t size)
{
    if (!sq_service_name_ok (name)) {
        snprintf (error, size, "'%s' is not a service name: 1 to 63 letters, digits, "
                  "'.', '_' or '-'", name);
        return false;
    }
    for (size_t index = 0; index < self->service_count; index++)
        if (strcmp (self->services [index].name, name) == 0) {
            snprintf (error, size, "service '%s' is declared twice (first at line %d)",
                      name, self->services [index].line);
            return false;
        }
    if (self->service_count == SQ_CONFIG_SERVICES_MAX) {
        snprintf (error, size, "more than %d services", SQ_CONFIG_SERVICES_MAX);
        return false;
    }
    s_service_t *service = &self->services [self->service_count];
    service->name = strdup (name);
    service->line = line;
    service->rules.text = strdup ("");
    if (!service->name || !service->rules.text) {
        free (service->name);
        free (service->rules.text);
        return s_oom (error, size);
    }
    self->service_count++;
    return true;
}

//  The service a path under "services/" is in, and the rest of its path
//  ("services/billing/frontend" -> billing's index, "frontend"); -1 with
//  a reason when the path names no declared service
static int
s_service_of (sq_config_t *self, const char *path, const char **rest,
              char *error, size_t size)
{
    const char *name = path + strlen ("services/");
    const char *slash = strchr (name, '/');
    size_t length = slash? (size_t) (slash - name): strlen (name);
    for (size_t index = 0; index < self->service_count; index++)
        if (strlen (self->services [index].name) == length
        &&  strncmp (self->services [index].name, name, length) == 0) {
            *rest = slash? slash + 1: NULL;
            return (int) index;
        }
    snprintf (error, size, "%.*s is not a service", (int) length, name);
    return -1;
}

//  An entry of the top level, or of a service: an option, or a rule
static bool
s_add_entry (sq_config_t *self, int service, const char *path, const char *value,
             int line, char *error, size_t size)
{
    s_rules_t *rules = service < 0? &self->rules: &self->services [service].rules;
    if (strncmp (path, "rules/", 6) == 0) {
        if (strchr (path + 6, '/')) {
            snprintf (error, size, "a rule has no children");
            return false;
        }
        return s_add_rule (rules, path + 6, value, line, error, size);
    }
    if (strcmp (path, "rules") == 0 && !value)
        return true;
    if (strcmp (path, "services") == 0 || strncmp (path, "services/", 9) == 0) {
        snprintf (error, size, "services are declared at the top level only");
        return false;
    }
    return s_add_option (self, service, path, value, line, error, size);
}

//  An entry under "services": a service, or one of its options or rules
static bool
s_add_service_entry (sq_config_t *self, const char *path, const char *value, int line,
                     char *error, size_t size)
{
    const char *name = path + strlen ("services/");
    if (!strchr (name, '/')) {
        if (value) {
            snprintf (error, size, "service '%s' holds options, not a value", name);
            return false;
        }
        return s_add_service (self, name, line, error, size);
    }
    const char *rest = NULL;
    int service = s_service_of (self, path, &rest, error, size);
    return service >= 0 && s_add_entry (self, service, rest, value, line, error, size);
}

//  Any entry, by where its path is
static bool
s_add_path (sq_config_t *self, const char *path, const char *value, int line,
            char *error, size_t size)
{
    if (strcmp (path, "services") == 0) {
        if (value) {
            snprintf (error, size, "'services' holds services, not a value");
            return false;
        }
        return true;
    }
    if (strncmp (path, "services/", 9) == 0)
        return s_add_service_entry (self, path, value, line, error, size);
    return s_add_entry (self, -1, path, value, line, error, size);
}

//  A name given alone is a flag, unless the next entry is its child: it
//  is then only a section. So each such entry waits for the next one. A
//  service is declared either way.
static bool
s_flush_pending (sq_config_t *self, const char *next_path, char *error, size_t size)
{
    if (!self->pending_path)
        return true;
    const char *path = self->pending_path;
    size_t length = strlen (path);
    bool section = next_path && strncmp (next_path, path, length) == 0
                && next_path [length] == '/';
    bool service = strncmp (path, "services/", 9) == 0 && !strchr (path + 9, '/');
    bool added = (section && !service)
              || s_add_path (self, path, NULL, self->pending_line, error, size);
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
    if (value)
        return s_add_path (self, path, value, line, error, size);
    self->pending_path = strdup (path);
    self->pending_line = line;
    return self->pending_path || s_oom (error, size);
}

sq_config_t *
sq_config_parse (const char *text, char *error, size_t error_size)
{
    sq_config_t *self = calloc (1, sizeof *self);
    self->rules.text = self? strdup (""): NULL;
    if (!self || !self->rules.text) {
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
    return self->rules.text;
}

int
sq_config_rule_line (const sq_config_t *self, size_t number)
{
    return number >= 1 && number <= self->rules.count? self->rules.lines [number - 1]: 0;
}

size_t
sq_config_service_count (const sq_config_t *self)
{
    return self->service_count;
}

const char *
sq_config_service_name (const sq_config_t *self, size_t service)
{
    return service < self->service_count? self->services [service].name: NULL;
}

int
sq_config_service_line (const sq_config_t *self, size_t service)
{
    return service < self->service_count? self->services [service].line: 0;
}

const char *
sq_config_service_rules (const sq_config_t *self, size_t service)
{
    return service < self->service_count? self->services [service].rules.text: "";
}

int
sq_config_service_rule_line (const sq_config_t *self, size_t service, size_t number)
{
    if (service >= self->service_count)
        return 0;
    const s_rules_t *rules = &self->services [service].rules;
    return number >= 1 && number <= rules->count? rules->lines [number - 1]: 0;
}
