/*  =========================================================================
    sq_prometheus_check - a checker of the Prometheus text format, for tests

    sq_prometheus_check (text, error, size) reads a whole exposition and
    returns false, with the line and the reason in error, when any line is
    not valid text format 0.0.4: every line a "# HELP name text", a
    "# TYPE name type" or a sample "name{label="value",...} number"; names
    and label names well formed, label values escaped; each family's
    HELP and TYPE once, before its samples, which follow together; no
    series twice; counters named *_total; in a histogram the buckets in
    ascending order of le, cumulative, ending with le="+Inf", and _count
    equal to the +Inf bucket, with _sum present; a histogram of several
    series (by their other labels) has each whole, the next after the
    _count of the one before.

    sq_prometheus_value (text, series) reads the value of one series, as
    written ("streamq_pairs_total", "streamq_bytes_total{direction=...}").
    =========================================================================
*/
#ifndef SQ_PROMETHEUS_CHECK_H_INCLUDED
#define SQ_PROMETHEUS_CHECK_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <math.h>

#define SQ_PC_FAMILIES 128
#define SQ_PC_SERIES 1024

typedef struct {
    char name [128];
    char type [16];
    bool help, typed, closed;   //  closed: another family's samples came after
    //  Histograms: the buckets seen so far, and what the +Inf bucket said
    double last_le, last_bucket, inf_bucket;
    bool has_inf, has_sum, has_count;
    double count;
} sq_pc_family_t;

typedef struct {
    sq_pc_family_t family [SQ_PC_FAMILIES];
    int families;
    char *series [SQ_PC_SERIES];
    int series_count;
    int current;                //  Family of the last sample, or -1
    char *error;
    size_t error_size;
    int line;
} sq_pc_t;

static inline bool
sq_pc_fail (sq_pc_t *self, const char *reason, const char *detail)
{
    snprintf (self->error, self->error_size, "line %d: %s: %s", self->line, reason, detail);
    return false;
}

static inline bool
sq_pc_name_ok (const char *name, size_t length, bool colon)
{
    if (length == 0)
        return false;
    for (size_t index = 0; index < length; index++) {
        char c = name [index];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
                   || (colon && c == ':');
        if (!letter && !(index > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static inline sq_pc_family_t *
sq_pc_family (sq_pc_t *self, const char *name, size_t length, bool create)
{
    for (int index = 0; index < self->families; index++)
        if (strlen (self->family [index].name) == length
        &&  memcmp (self->family [index].name, name, length) == 0)
            return &self->family [index];
    if (!create || self->families == SQ_PC_FAMILIES || length >= 128)
        return NULL;
    sq_pc_family_t *family = &self->family [self->families++];
    memset (family, 0, sizeof *family);
    memcpy (family->name, name, length);
    family->last_le = -INFINITY;
    return family;
}

//  "# HELP name text" or "# TYPE name type"; other comments are allowed
static inline bool
sq_pc_comment (sq_pc_t *self, const char *line)
{
    bool help = strncmp (line, "# HELP ", 7) == 0;
    bool type = strncmp (line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return true;
    const char *name = line + 7;
    size_t length = strcspn (name, " ");
    if (!sq_pc_name_ok (name, length, true))
        return sq_pc_fail (self, "bad metric name", line);
    sq_pc_family_t *family = sq_pc_family (self, name, length, true);
    if (!family)
        return sq_pc_fail (self, "too many families", line);
    if (family->closed || (self->current >= 0 && &self->family [self->current] == family))
        return sq_pc_fail (self, "HELP or TYPE after the family's samples", line);
    if (help) {
        if (family->help || name [length] != ' ')
            return sq_pc_fail (self, "HELP twice, or without text", line);
        family->help = true;
        return true;
    }
    const char *kind = name + length + (name [length] == ' ');
    if (family->typed)
        return sq_pc_fail (self, "TYPE twice", line);
    if (strcmp (kind, "counter") && strcmp (kind, "gauge") && strcmp (kind, "histogram")
    &&  strcmp (kind, "summary") && strcmp (kind, "untyped"))
        return sq_pc_fail (self, "unknown type", line);
    if (strcmp (kind, "counter") == 0
    &&  (length < 6 || memcmp (name + length - 6, "_total", 6) != 0))
        return sq_pc_fail (self, "a counter not named *_total", line);
    family->typed = true;
    snprintf (family->type, sizeof family->type, "%s", kind);
    return true;
}

//  Reads {name="value",...} at cursor; le gets the value of a label "le"
static inline bool
sq_pc_labels (sq_pc_t *self, const char **cursor, char *le, size_t le_size, const char *line)
{
    const char *at = *cursor;
    if (*at != '{')
        return true;
    at++;
    while (*at != '}') {
        size_t length = strcspn (at, "=");
        if (!sq_pc_name_ok (at, length, false) || at [length] != '=' || at [length + 1] != '"')
            return sq_pc_fail (self, "bad label", line);
        bool is_le = length == 2 && memcmp (at, "le", 2) == 0;
        at += length + 2;
        size_t used = 0;
        while (*at != '"') {
            if (*at == 0)
                return sq_pc_fail (self, "label value not closed", line);
            if (*at == '\\') {
                at++;
                if (*at != '\\' && *at != '"' && *at != 'n')
                    return sq_pc_fail (self, "bad escape in a label value", line);
            }
            if (is_le && used + 1 < le_size)
                le [used++] = *at;
            at++;
        }
        if (is_le)
            le [used] = 0;
        at++;
        if (*at == ',')
            at++;
        else
        if (*at != '}')
            return sq_pc_fail (self, "labels not separated by commas", line);
    }
    *cursor = at + 1;
    return true;
}

static inline bool
sq_pc_number (const char *text, double *value)
{
    if (strcmp (text, "+Inf") == 0 || strcmp (text, "-Inf") == 0 || strcmp (text, "NaN") == 0) {
        *value = strcmp (text, "NaN") == 0? NAN: text [0] == '+'? INFINITY: -INFINITY;
        return true;
    }
    char *end;
    *value = strtod (text, &end);
    return end != text && *end == 0;
}

//  The histogram rules, for one sample of a histogram family
static inline bool
sq_pc_histogram (sq_pc_t *self, sq_pc_family_t *family, const char *suffix,
                 const char *le, double value, const char *line)
{
    if (strcmp (suffix, "_bucket") == 0 && family->has_count) {
        //  The next series of the family (other labels): it starts anew
        if (!family->has_sum)
            return sq_pc_fail (self, "a histogram series without _sum", line);
        family->last_le = -INFINITY;
        family->last_bucket = 0;
        family->has_inf = family->has_sum = family->has_count = false;
    }
    if (strcmp (suffix, "_bucket") == 0) {
        double bound;
        if (!*le || !sq_pc_number (le, &bound))
            return sq_pc_fail (self, "a bucket without a valid le", line);
        if (family->has_inf || bound <= family->last_le)
            return sq_pc_fail (self, "buckets not in ascending order of le", line);
        if (value < family->last_bucket)
            return sq_pc_fail (self, "buckets not cumulative", line);
        family->last_le = bound;
        family->last_bucket = value;
        if (isinf (bound)) {
            family->has_inf = true;
            family->inf_bucket = value;
        }
        return true;
    }
    if (!family->has_inf)
        return sq_pc_fail (self, "_sum or _count before the +Inf bucket", line);
    if (strcmp (suffix, "_sum") == 0)
        family->has_sum = true;
    else {
        family->has_count = true;
        family->count = value;
        if (value != family->inf_bucket)
            return sq_pc_fail (self, "_count differs from the +Inf bucket", line);
    }
    return true;
}

//  The family a sample belongs to: its name, or for a histogram its name
//  less _bucket, _sum or _count
static inline sq_pc_family_t *
sq_pc_family_of (sq_pc_t *self, const char *name, size_t length, const char **suffix)
{
    const char *suffixes [] = { "_bucket", "_sum", "_count" };
    for (size_t index = 0; index < 3; index++) {
        size_t size = strlen (suffixes [index]);
        if (length > size && memcmp (name + length - size, suffixes [index], size) == 0) {
            sq_pc_family_t *family = sq_pc_family (self, name, length - size, false);
            if (family && strcmp (family->type, "histogram") == 0) {
                *suffix = suffixes [index];
                return family;
            }
        }
    }
    *suffix = "";
    return sq_pc_family (self, name, length, false);
}

static inline bool
sq_pc_sample (sq_pc_t *self, const char *line)
{
    size_t length = strcspn (line, "{ ");
    if (!sq_pc_name_ok (line, length, true))
        return sq_pc_fail (self, "bad metric name", line);
    const char *suffix;
    sq_pc_family_t *family = sq_pc_family_of (self, line, length, &suffix);
    if (!family || !family->typed || !family->help)
        return sq_pc_fail (self, "a sample without HELP and TYPE before it", line);
    int index = (int) (family - self->family);
    if (family->closed)
        return sq_pc_fail (self, "the family's samples are not together", line);
    if (self->current >= 0 && self->current != index)
        self->family [self->current].closed = true;
    self->current = index;
    if (strcmp (family->type, "histogram") == 0 && !*suffix)
        return sq_pc_fail (self, "a histogram sample without _bucket, _sum or _count", line);
    const char *cursor = line + length;
    char le [64] = "";
    if (!sq_pc_labels (self, &cursor, le, sizeof le, line))
        return false;
    if (*cursor != ' ')
        return sq_pc_fail (self, "no space before the value", line);
    size_t series_length = (size_t) (cursor - line);
    for (int other = 0; other < self->series_count; other++)
        if (strlen (self->series [other]) == series_length
        &&  memcmp (self->series [other], line, series_length) == 0)
            return sq_pc_fail (self, "a series twice", line);
    if (self->series_count < SQ_PC_SERIES)
        self->series [self->series_count++] = strndup (line, series_length);
    double value;
    if (!sq_pc_number (cursor + 1, &value))
        return sq_pc_fail (self, "the value is not a number", line);
    if (strcmp (family->type, "counter") == 0 && !(value >= 0))
        return sq_pc_fail (self, "a counter below zero", line);
    if (*suffix)
        return sq_pc_histogram (self, family, suffix, le, value, line);
    return true;
}

static inline bool
sq_prometheus_check (const char *text, char *error, size_t error_size)
{
    sq_pc_t *self = calloc (1, sizeof *self);
    if (!self)
        return false;
    self->current = -1;
    self->error = error;
    self->error_size = error_size;
    bool valid = *text && text [strlen (text) - 1] == '\n';
    if (!valid)
        snprintf (error, error_size, "the text is empty or does not end with a newline");
    for (const char *line = text; valid && *line; ) {
        self->line++;
        size_t length = strcspn (line, "\n");
        char *copy = strndup (line, length);
        if (!copy || !*copy)
            valid = sq_pc_fail (self, "an empty line", "");
        else
            valid = copy [0] == '#'? sq_pc_comment (self, copy): sq_pc_sample (self, copy);
        free (copy);
        line += length + (line [length] == '\n');
    }
    for (int index = 0; valid && index < self->families; index++) {
        sq_pc_family_t *family = &self->family [index];
        if (strcmp (family->type, "histogram") == 0
        &&  (!family->has_inf || !family->has_sum || !family->has_count))
            valid = sq_pc_fail (self, "a histogram without +Inf, _sum or _count", family->name);
    }
    for (int index = 0; index < self->series_count; index++)
        free (self->series [index]);
    free (self);
    return valid;
}

//  The value of a series, written exactly as in the text; NAN when absent
static inline double
sq_prometheus_value (const char *text, const char *series)
{
    size_t length = strlen (series);
    for (const char *line = text; line && *line; ) {
        if (strncmp (line, series, length) == 0 && line [length] == ' ')
            return strtod (line + length + 1, NULL);
        line = strchr (line, '\n');
        line = line? line + 1: NULL;
    }
    return NAN;
}

#endif
