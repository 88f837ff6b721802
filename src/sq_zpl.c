/*  =========================================================================
    sq_zpl - a reader of ZPL, the ZeroMQ property language
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sq_zpl.h"

//  Nesting the reader follows; deeper is refused
#define S_DEPTH_MAX 16

typedef struct {
    const char *at;             //  Where the line goes on
    int number;                 //  Line number, from 1
    char *error;
    size_t error_size;
    //  The names of the entries enclosing this line, by depth
    char names [S_DEPTH_MAX][SQ_ZPL_TOKEN_MAX];
    int depth;                  //  Of the line before; -1 before the first
    char value [SQ_ZPL_TOKEN_MAX];
    char path [SQ_ZPL_TOKEN_MAX];
    char line [SQ_ZPL_TOKEN_MAX * 3];
} s_reader_t;

static bool
s_fail (s_reader_t *self, const char *reason)
{
    snprintf (self->error, self->error_size, "line %d: %s", self->number, reason);
    return false;
}

//  A ZPL name: a letter or digit, then letters, digits and $-_@.&+/
static bool
s_name_char (char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return !first && c && strchr ("$-_@.&+/", c) != NULL;
}

//  True when only spaces, and perhaps a comment, are left on the line
static bool
s_rest_empty (const char *at)
{
    while (*at == ' ')
        at++;
    return *at == 0 || *at == '#';
}

static bool
s_read_name (s_reader_t *self, char *name)
{
    size_t length = 0;
    if (!s_name_char (*self->at, true))
        return s_fail (self, "expected a name");
    while (s_name_char (self->at [length], false))
        length++;
    if (length >= SQ_ZPL_TOKEN_MAX)
        return s_fail (self, "name too long");
    memcpy (name, self->at, length);
    name [length] = 0;
    self->at += length;
    return true;
}

//  Reads what follows a name: nothing, or "= value"
static bool
s_read_value (s_reader_t *self, char *value, bool *has_value)
{
    const char *at = self->at;
    while (*at == ' ')
        at++;
    *has_value = *at == '=';
    if (!*has_value)
        return s_rest_empty (at) || s_fail (self, "expected '=' or the end of the line");
    at++;
    while (*at == ' ')
        at++;
    const char *end;
    bool quoted = *at == '"' || *at == '\'';
    if (quoted) {
        end = strchr (at + 1, *at);
        if (!end)
            return s_fail (self, "value has no closing quote");
        at++;
    }
    else
        for (end = at; *end && *end != ' '; end++)
            ;
    size_t length = (size_t) (end - at);
    if (length >= SQ_ZPL_TOKEN_MAX)
        return s_fail (self, "value too long");
    memcpy (value, at, length);
    value [length] = 0;
    return s_rest_empty (end + (quoted? 1: 0))
        || s_fail (self, "unexpected text after the value");
}

//  The indent of a line makes its depth: four spaces a level
static bool
s_read_depth (s_reader_t *self, int *depth)
{
    size_t indent = strspn (self->at, " ");
    if (self->at [indent] == '\t')
        return s_fail (self, "tabs are not allowed, indent with four spaces");
    if (indent % 4)
        return s_fail (self, "indentation is not a multiple of four spaces");
    *depth = (int) (indent / 4);
    if (*depth > self->depth + 1)
        return s_fail (self, "indented too deep");
    if (*depth >= S_DEPTH_MAX)
        return s_fail (self, "nested too deep");
    self->at += indent;
    return true;
}

//  Parses one line: its path is the names above it and its own
static bool
s_parse_line (s_reader_t *self, sq_zpl_fn *callback, void *arg)
{
    int depth;
    if (!s_read_depth (self, &depth))
        return false;
    bool has_value;
    if (!s_read_name (self, self->names [depth])
    ||  !s_read_value (self, self->value, &has_value))
        return false;
    self->depth = depth;
    size_t used = 0;
    for (int level = 0; level <= depth; level++) {
        int wrote = snprintf (self->path + used, sizeof self->path - used, "%s%s",
                              level? "/": "", self->names [level]);
        if (wrote < 0 || (size_t) wrote >= sizeof self->path - used)
            return s_fail (self, "path too long");
        used += (size_t) wrote;
    }
    if (callback (arg, self->path, has_value? self->value: NULL, self->number,
                  self->error, self->error_size))
        return true;
    //  The callback's reason, with the line number in front
    char reason [512];
    snprintf (reason, sizeof reason, "%s", self->error);
    return s_fail (self, reason);
}

bool
sq_zpl_parse (const char *text, sq_zpl_fn *callback, void *arg,
              char *error, size_t error_size)
{
    s_reader_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, error_size, "out of memory");
        return false;
    }
    self->error = error;
    self->error_size = error_size;
    self->depth = -1;
    bool good = true;
    while (good && *text) {
        size_t length = strcspn (text, "\n");
        const char *next = text + length + (text [length] == '\n');
        self->number++;
        size_t blank = strspn (text, " \r");
        bool empty = blank >= length || text [blank] == '#';
        if (!empty && length >= sizeof self->line)
            good = s_fail (self, "line too long");
        else
        if (!empty) {
            memcpy (self->line, text, length);
            self->line [length] = 0;
            while (length > 0 && (self->line [length - 1] == '\r'
                               || self->line [length - 1] == ' '))
                self->line [--length] = 0;
            self->at = self->line;
            good = s_parse_line (self, callback, arg);
        }
        text = next;
    }
    free (self);
    return good;
}
