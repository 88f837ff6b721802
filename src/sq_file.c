/*  =========================================================================
    sq_file - reading a small text file whole
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <errno.h>
#include "sq_file.h"

char *
sq_file_read (const char *path, size_t max, char *error, size_t size)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (error, size, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    char *text = malloc (max + 1);
    size_t got = text? fread (text, 1, max + 1, file): 0;
    bool failed = ferror (file);
    fclose (file);
    if (!text || failed || got > max) {
        if (!text || failed)
            snprintf (error, size, "cannot read %s: %s", path,
                      text? "read error": "out of memory");
        else
            snprintf (error, size, "%s is larger than %zu KiB", path, max / 1024);
        free (text);
        return NULL;
    }
    text [got] = 0;
    if (strlen (text) != got) {
        snprintf (error, size, "%s is not a text file", path);
        free (text);
        return NULL;
    }
    return text;
}
