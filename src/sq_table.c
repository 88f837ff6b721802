/*  =========================================================================
    sq_table - rows of text cells, printed as aligned columns
    =========================================================================
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sq_table.h"
#include "sq_json_scan.h"

//  More columns than any reply has; a wider table is refused
#define S_COLUMNS_MAX 32
//  Longest cell kept from JSON; a longer one is cut
#define S_CELL_MAX 1024

typedef struct {
    char *text;                 //  NULL: no cell in this row
    bool number;
} s_cell_t;

typedef struct {
    s_cell_t cell [S_COLUMNS_MAX];
} s_row_t;

struct sq_table {
    char *column [S_COLUMNS_MAX];
    size_t columns;
    s_row_t *rows;
    size_t count;
    size_t capacity;
};

sq_table_t *
sq_table_new (void)
{
    return calloc (1, sizeof (sq_table_t));
}

void
sq_table_destroy (sq_table_t **self_p)
{
    sq_table_t *self = *self_p;
    if (!self)
        return;
    for (size_t row = 0; row < self->count; row++)
        for (size_t index = 0; index < self->columns; index++)
            free (self->rows [row].cell [index].text);
    for (size_t index = 0; index < self->columns; index++)
        free (self->column [index]);
    free (self->rows);
    free (self);
    *self_p = NULL;
}

bool
sq_table_row (sq_table_t *self)
{
    if (self->count == self->capacity) {
        size_t capacity = self->capacity? 2 * self->capacity: 16;
        s_row_t *rows = realloc (self->rows, capacity * sizeof (s_row_t));
        if (!rows)
            return false;
        self->rows = rows;
        self->capacity = capacity;
    }
    memset (&self->rows [self->count++], 0, sizeof (s_row_t));
    return true;
}

//  The index of the named column, added when new; -1 when there is no
//  room or memory for it
static int
s_column (sq_table_t *self, const char *name)
{
    for (size_t index = 0; index < self->columns; index++)
        if (strcasecmp (self->column [index], name) == 0)
            return (int) index;
    if (self->columns == S_COLUMNS_MAX)
        return -1;
    char *copy = strdup (name);
    if (!copy)
        return -1;
    for (char *at = copy; *at; at++)
        *at = (char) toupper ((unsigned char) *at);
    self->column [self->columns] = copy;
    return (int) self->columns++;
}

bool
sq_table_cell (sq_table_t *self, const char *column, const char *text, bool number)
{
    int index = self->count? s_column (self, column): -1;
    char *copy = index >= 0? strdup (text): NULL;
    if (!copy)
        return false;
    s_cell_t *cell = &self->rows [self->count - 1].cell [index];
    free (cell->text);
    *cell = (s_cell_t) { copy, number };
    return true;
}

size_t
sq_table_rows (const sq_table_t *self)
{
    return self->count;
}

//  Characters on screen: UTF-8 continuation bytes take no column
static size_t
s_width (const char *text)
{
    size_t width = 0;
    for (; *text; text++)
        width += ((unsigned char) *text & 0xC0) != 0x80;
    return width;
}

//  Writes one cell, a control character as '?', padded to width on the
//  left (right-aligned) or the right. The padding is kept in *pending and
//  written only before more text, so no line ends in spaces.
static void
s_put_cell (FILE *out, const char *text, size_t width, bool right, size_t *pending)
{
    size_t padding = width - s_width (text);
    if (right)
        *pending += padding;
    if (*text)
        fprintf (out, "%*s", (int) *pending, "");
    if (*text)
        *pending = 0;
    for (; *text; text++)
        fputc (iscntrl ((unsigned char) *text)? '?': *text, out);
    if (!right)
        *pending += padding;
}

//  The width of each column: its widest cell, or its name
static void
s_widths (const sq_table_t *self, size_t *width)
{
    for (size_t index = 0; index < self->columns; index++) {
        width [index] = s_width (self->column [index]);
        for (size_t row = 0; row < self->count; row++) {
            const char *text = self->rows [row].cell [index].text;
            if (text && s_width (text) > width [index])
                width [index] = s_width (text);
        }
    }
}

void
sq_table_print (const sq_table_t *self, FILE *out)
{
    if (self->count == 0) {
        fprintf (out, "(none)\n");
        return;
    }
    size_t width [S_COLUMNS_MAX], pending = 0;
    s_widths (self, width);
    for (size_t index = 0; index < self->columns; index++) {
        pending += index? 2: 0;
        s_put_cell (out, self->column [index], width [index], false, &pending);
    }
    fputc ('\n', out);
    for (size_t row = 0; row < self->count; row++) {
        pending = 0;
        for (size_t index = 0; index < self->columns; index++) {
            const s_cell_t *cell = &self->rows [row].cell [index];
            pending += index? 2: 0;
            s_put_cell (out, cell->text? cell->text: "", width [index], cell->number,
                        &pending);
        }
        fputc ('\n', out);
    }
}

//  -------------------------------------------------------------------------
//  From JSON

//  Appends length bytes of text to cell, cut to fit size
static void
s_append (char *cell, size_t size, const char *text, size_t length)
{
    size_t used = strlen (cell);
    if (used + length >= size)
        length = size - used - 1;
    memcpy (cell + used, text, length);
    cell [used + length] = 0;
}

//  Appends the text of one value at [start, end) to cell: a string
//  unescaped, anything else as written
static void
s_scalar_text (const char *start, const char *end, char *cell, size_t size)
{
    size_t used = strlen (cell);
    if (*start != '"' || !sq_json_scan_string (start, cell + used, size - used))
        s_append (cell, size, start, (size_t) (end - start));
}

//  The elements of the (valid) array at at, joined by commas; returns the
//  end of the array
static const char *
s_array_text (const char *at, char *cell, size_t size)
{
    at = sq_json_scan_space (at + 1);
    while (*at != ']') {
        const char *end = sq_json_scan_value (at, NULL, 1);
        if (*cell)
            s_append (cell, size, ",", 1);
        s_scalar_text (at, end, cell, size);
        at = sq_json_scan_space (end);
        if (*at == ',')
            at = sq_json_scan_space (at + 1);
    }
    return at + 1;
}

//  Reads the value at at into cell, as sq_table_from_json shows it, and
//  whether it is a number; returns its end, or NULL
static const char *
s_value_text (const char *at, char *cell, size_t size, bool *number)
{
    at = sq_json_scan_space (at);
    *cell = 0;
    *number = *at == '-' || isdigit ((unsigned char) *at);
    if (*at == '[')
        return s_array_text (at, cell, size);
    const char *end = sq_json_scan_value (at, NULL, 0);
    if (!end)
        return NULL;
    if (strncmp (at, "null", 4) == 0)
        snprintf (cell, size, "-");
    else
        s_scalar_text (at, end, cell, size);
    return end;
}

//  Adds the object at at as a row; returns its end, or NULL
static const char *
s_object_row (sq_table_t *self, const char *at)
{
    if (*at != '{' || !sq_table_row (self))
        return NULL;
    at = sq_json_scan_space (at + 1);
    while (*at != '}') {
        char key [256], cell [S_CELL_MAX];
        bool number;
        const char *colon = sq_json_scan_value (at, NULL, 1);
        if (!colon || !sq_json_scan_string (at, key, sizeof key))
            return NULL;
        colon = sq_json_scan_space (colon);
        at = *colon == ':'? s_value_text (colon + 1, cell, sizeof cell, &number): NULL;
        if (!at || !sq_table_cell (self, key, cell, number))
            return NULL;
        at = sq_json_scan_space (at);
        if (*at == ',')
            at = sq_json_scan_space (at + 1);
        else
        if (*at != '}')
            return NULL;
    }
    return at + 1;
}

sq_table_t *
sq_table_from_json (const char *json)
{
    const char *at = sq_json_scan_space (json);
    const char *end = *at == '['? sq_json_scan_value (at, NULL, 0): NULL;
    sq_table_t *self = end && *sq_json_scan_space (end) == 0? sq_table_new (): NULL;
    if (!self)
        return NULL;
    at = sq_json_scan_space (at + 1);
    while (at && *at != ']') {
        at = s_object_row (self, at);
        at = at? sq_json_scan_space (at): NULL;
        if (at && *at == ',')
            at = sq_json_scan_space (at + 1);
    }
    if (!at)
        sq_table_destroy (&self);
    return self;
}
