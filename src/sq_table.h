/*  =========================================================================
    sq_table - rows of text cells, printed as aligned columns

    streamq-ctl shows LIST, WORKERS, CLIENTS and BANS this way on a
    terminal: a header of the column names in capitals, then one line a
    row, each column as wide as its widest cell, two spaces between
    columns, numbers aligned right. The columns are the members of the
    rows, in the order they first appear, so a reply that gains a member
    gains a column.
    =========================================================================
*/
#ifndef SQ_TABLE_H_INCLUDED
#define SQ_TABLE_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

typedef struct sq_table sq_table_t;

//  An empty table; NULL when out of memory
sq_table_t *sq_table_new (void);

//  Frees the table and nulls the pointer
void sq_table_destroy (sq_table_t **self_p);

//  A table of a JSON array of objects, one row an object: a string
//  member is its text, a number or true/false as written, null "-", an
//  array its elements joined by commas, an object its JSON. NULL when the
//  text is not such an array (or out of memory).
sq_table_t *sq_table_from_json (const char *json);

//  Starts a new row, which the next cells fill; false when out of memory
bool sq_table_row (sq_table_t *self);

//  Sets the cell of the named column in the current row (a copy of
//  text; a column is added at its first cell); number aligns it right.
//  False when out of memory or no row was started.
bool sq_table_cell (sq_table_t *self, const char *column, const char *text, bool number);

//  Rows so far
size_t sq_table_rows (const sq_table_t *self);

//  Writes the header and the rows; "(none)" when there are no rows.
//  A byte that is not printable (a control character) is shown as '?'.
void sq_table_print (const sq_table_t *self, FILE *out);

#endif
