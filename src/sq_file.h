/*  =========================================================================
    sq_file - reading a small text file whole

    Key files, the configuration file and the route file are all read the
    same way: whole, with a size limit, refused when they hold a NUL byte.
    =========================================================================
*/
#ifndef SQ_FILE_H_INCLUDED
#define SQ_FILE_H_INCLUDED

#include <stddef.h>

//  Reads a text file of at most max bytes into a NUL-terminated string the
//  caller frees; NULL with a reason ("cannot open PATH: ...", "PATH is
//  larger than N KiB", ...) in error
char *sq_file_read (const char *path, size_t max, char *error, size_t size);

#endif
