/*  =========================================================================
    sq_fuzz_replay - runs one fuzz target over its seeds and regressions

    Linked with one target (fuzz/fuzz_<target>.c) in the normal build, as
    $(BUILD)/tests/test_fuzz_<target>, and run by `make test` from the top
    of the tree: the empty input, then every file of fuzz/corpus/<target>/
    and fuzz/regressions/<target>/ goes through LLVMFuzzerTestOneInput once,
    in name order. A broken promise aborts; the last line of the log names
    the input. With arguments it replays those files or directories instead,
    e.g. a crash file libFuzzer wrote.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <sys/stat.h>
#include "sq_test.h"
#include "sq_fuzz.h"

#ifndef SQ_FUZZ_TARGET
#   error "build with -DSQ_FUZZ_TARGET=\"<target>\""
#endif

SQ_TEST_DEFINE

//  The whole file in a buffer of exactly its size, so that ASan sees a read
//  past the input's end; NULL when it cannot be read
static uint8_t *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    struct stat info;
    uint8_t *data = NULL;
    if (file && fstat (fileno (file), &info) == 0) {
        *size = (size_t) info.st_size;
        data = malloc (*size? *size: 1);
        if (data && fread (data, 1, *size, file) != *size) {
            free (data);
            data = NULL;
        }
    }
    if (!data)
        fprintf (stderr, "%s: cannot read: %s\n", path, strerror (errno));
    if (file)
        fclose (file);
    return data;
}

//  Runs one file through the target; false when it cannot be read
static bool
s_replay_file (const char *path)
{
    size_t size;
    uint8_t *data = s_read_file (path, &size);
    if (!data)
        return false;
    //  Named first: if the target aborts, this is the log's last line
    fprintf (stderr, "replaying %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput (data, size);
    free (data);
    return true;
}

static int
s_visible (const struct dirent *entry)
{
    return entry->d_name [0] != '.';
}

//  Replays every regular file of a directory, in name order; returns how
//  many, or -1 when the directory or a file cannot be read
static int
s_replay_dir (const char *path)
{
    struct dirent **entries;
    int count = scandir (path, &entries, s_visible, alphasort);
    if (count < 0) {
        fprintf (stderr, "%s: %s\n", path, strerror (errno));
        return -1;
    }
    int replayed = 0;
    for (int index = 0; index < count; index++) {
        char file [4096];
        struct stat info;
        snprintf (file, sizeof file, "%s/%s", path, entries [index]->d_name);
        if (replayed >= 0 && stat (file, &info) == 0 && S_ISREG (info.st_mode))
            replayed = s_replay_file (file)? replayed + 1: -1;
        free (entries [index]);
    }
    free (entries);
    return replayed;
}

//  One line of the test report per path, as sq_test.h prints them
static void
s_report (const char *path, int replayed)
{
    if (replayed >= 0) {
        sq_test_passed++;
        printf ("ok   %s: %d input%s\n", path, replayed, replayed == 1? "": "s");
    }
    else {
        sq_test_failed++;
        printf ("FAIL %s\n", path);
    }
    fflush (stdout);
}

//  A file, or every file of a directory; a missing path that is not
//  required counts as no input
static void
s_replay_path (const char *path, bool required)
{
    struct stat info;
    if (stat (path, &info) != 0) {
        if (required)
            fprintf (stderr, "%s: %s\n", path, strerror (errno));
        s_report (path, required? -1: 0);
    }
    else
    if (S_ISREG (info.st_mode))
        s_report (path, s_replay_file (path)? 1: -1);
    else
        s_report (path, s_replay_dir (path));
}

int
main (int argc, char *argv [])
{
    if (argc > 1) {
        for (int index = 1; index < argc; index++)
            s_replay_path (argv [index], true);
        return sq_test_summary ();
    }
    LLVMFuzzerTestOneInput ((const uint8_t *) "", 0);
    sq_test_passed++;
    printf ("ok   the empty input\n");
    //  The seeds must be there; regressions only once a bug was found
    s_replay_path ("fuzz/corpus/" SQ_FUZZ_TARGET, true);
    s_replay_path ("fuzz/regressions/" SQ_FUZZ_TARGET, false);
    return sq_test_summary ();
}
