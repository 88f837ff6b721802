/*  =========================================================================
    sq_cert - CURVE key files in CZMQ's certificate format

    The reader understands the part of ZPL that certificates use: one
    "name" or "name = value" per line, nesting by indentation in steps of
    four spaces, values bare or in single or double quotes, and lines
    that start with '#' as comments. Z85 text may itself hold '#' and '=',
    so a value is read by its quotes, never cut at a '#'.
    =========================================================================
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <zmq.h>
#include "sq_cert.h"
#include "sq_zpl.h"
#include "sq_file.h"
#include "sq_log.h"

//  Longest certificate file read; real ones are under 1 KiB
#define S_FILE_MAX  65536

//  -------------------------------------------------------------------------
//  Keys

bool
sq_cert_z85_valid (const char *text, uint8_t *binary)
{
    uint8_t scratch [SQ_CERT_KEY_SIZE];
    return text && strlen (text) == SQ_CERT_Z85_SIZE - 1
        && zmq_z85_decode (binary? binary: scratch, text) != NULL;
}

//  -------------------------------------------------------------------------
//  Parsing

//  Keeps a key found in the "curve" section
static bool
s_take_key (const char *value, char *key, char *error, size_t size)
{
    if (*key) {
        snprintf (error, size, "key given twice");
        return false;
    }
    if (!sq_cert_z85_valid (value, NULL)) {
        snprintf (error, size, "not a CURVE key (expected 40 Z85 characters)");
        return false;
    }
    strcpy (key, value);
    return true;
}

//  Takes curve/public-key and curve/secret-key; skips everything else
static bool
s_on_entry (void *arg, const char *path, const char *value, int line,
            char *error, size_t size)
{
    (void) line;
    sq_cert_t *cert = arg;
    if (value && strcmp (path, "curve/public-key") == 0)
        return s_take_key (value, cert->public_key, error, size);
    if (value && strcmp (path, "curve/secret-key") == 0)
        return s_take_key (value, cert->secret_key, error, size);
    return true;
}

bool
sq_cert_parse (const char *text, sq_cert_t *cert, char *error, size_t size)
{
    memset (cert, 0, sizeof *cert);
    if (!sq_zpl_parse (text, s_on_entry, cert, error, size))
        return false;
    if (!*cert->public_key && !*cert->secret_key) {
        snprintf (error, size, "no public-key or secret-key in a 'curve' section");
        return false;
    }
    return true;
}

//  -------------------------------------------------------------------------
//  Files

bool
sq_cert_load (const char *path, sq_cert_t *cert, char *error, size_t size)
{
    char *text = sq_file_read (path, S_FILE_MAX, error, size);
    if (!text)
        return false;
    char reason [256];
    bool parsed = sq_cert_parse (text, cert, reason, sizeof reason);
    free (text);
    if (!parsed)
        snprintf (error, size, "%s: %s", path, reason);
    return parsed;
}

bool
sq_cert_load_secret (const char *path, sq_cert_t *cert, char *error, size_t size)
{
    if (!sq_cert_load (path, cert, error, size))
        return false;
    if (!*cert->secret_key) {
        snprintf (error, size, "%s has no secret-key: give the secret certificate "
                  "(the NAME_secret file)", path);
        return false;
    }
    char derived [SQ_CERT_Z85_SIZE];
    if (zmq_curve_public (derived, cert->secret_key) != 0) {
        snprintf (error, size, "%s: cannot derive the public key: %s", path,
                  zmq_strerror (zmq_errno ()));
        return false;
    }
    if (*cert->public_key && strcmp (cert->public_key, derived) != 0) {
        snprintf (error, size, "%s: its public-key does not belong to its secret-key",
                  path);
        return false;
    }
    strcpy (cert->public_key, derived);
    return true;
}

//  Writes one certificate file, which must not exist yet
static bool
s_file_write (const char *path, mode_t mode, const char *title,
              const char *public_key, const char *secret_key, char *error, size_t size)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    FILE *file = fd >= 0? fdopen (fd, "w"): NULL;
    if (!file) {
        snprintf (error, size, "cannot create %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return false;
    }
    char date [32];
    time_t now = time (NULL);
    strftime (date, sizeof date, "%Y-%m-%d %H:%M:%S", gmtime (&now));
    fprintf (file, "#   ZeroMQ CURVE %s Certificate\n", title);
    fprintf (file, "#   Made by streamq-ctl --keygen on %s UTC\n\n", date);
    fprintf (file, "metadata\ncurve\n    public-key = \"%s\"\n", public_key);
    if (secret_key)
        fprintf (file, "    secret-key = \"%s\"\n", secret_key);
    if (fclose (file) != 0) {
        snprintf (error, size, "cannot write %s: %s", path, strerror (errno));
        return false;
    }
    return true;
}

bool
sq_cert_save_pair (const char *path, const char *public_key, const char *secret_key,
                   char *error, size_t size)
{
    char secret_path [4096];
    if (snprintf (secret_path, sizeof secret_path, "%s_secret", path)
        >= (int) sizeof secret_path) {
        snprintf (error, size, "path too long");
        return false;
    }
    //  The secret file first: if the public one cannot be made, nobody
    //  holds a public key whose secret is lost
    if (!s_file_write (secret_path, 0600, "**Secret**", public_key, secret_key,
                       error, size))
        return false;
    if (!s_file_write (path, 0644, "Public", public_key, NULL, error, size)) {
        unlink (secret_path);
        return false;
    }
    return true;
}

//  -------------------------------------------------------------------------
//  Key sets

struct sq_keyset_s {
    uint8_t (*keys) [SQ_CERT_KEY_SIZE];     //  Sorted, distinct
    size_t size;
    size_t alloc;
};

static int
s_key_compare (const void *one, const void *other)
{
    return memcmp (one, other, SQ_CERT_KEY_SIZE);
}

static bool
s_keyset_add (sq_keyset_t *self, const uint8_t *key)
{
    if (self->size == self->alloc) {
        size_t alloc = self->alloc? self->alloc * 2: 16;
        void *keys = realloc (self->keys, alloc * SQ_CERT_KEY_SIZE);
        if (!keys)
            return false;
        self->keys = keys;
        self->alloc = alloc;
    }
    memcpy (self->keys [self->size++], key, SQ_CERT_KEY_SIZE);
    return true;
}

//  Sorts the keys and drops duplicates (one key in two files)
static void
s_keyset_sort (sq_keyset_t *self)
{
    if (self->size == 0)
        return;
    qsort (self->keys, self->size, SQ_CERT_KEY_SIZE, s_key_compare);
    size_t kept = 1;
    for (size_t index = 1; index < self->size; index++)
        if (memcmp (self->keys [index], self->keys [kept - 1], SQ_CERT_KEY_SIZE))
            memcpy (self->keys [kept++], self->keys [index], SQ_CERT_KEY_SIZE);
    self->size = kept;
}

//  True when name ends with suffix
static bool
s_ends_with (const char *name, const char *suffix)
{
    size_t length = strlen (name), suffix_length = strlen (suffix);
    return length >= suffix_length
        && strcmp (name + length - suffix_length, suffix) == 0;
}

//  Adds the public key of one directory entry, or says why not
static bool
s_keyset_load_file (sq_keyset_t *self, const char *dir, const char *name)
{
    char path [4096], error [512];
    struct stat info;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    if (stat (path, &info) != 0 || !S_ISREG (info.st_mode)) {
        sq_debug ("control keys: skipped %s: not a regular file", path);
        return true;
    }
    sq_cert_t cert;
    uint8_t key [SQ_CERT_KEY_SIZE];
    if (!sq_cert_load (path, &cert, error, sizeof error)) {
        sq_warning ("control keys: skipped %s", error);
        return true;
    }
    if (!*cert.public_key || !sq_cert_z85_valid (cert.public_key, key)) {
        sq_warning ("control keys: skipped %s: no public-key", path);
        return true;
    }
    if (*cert.secret_key)
        sq_warning ("control keys: %s holds a secret key: keep secret keys out of "
                    "this directory", path);
    return s_keyset_add (self, key);
}

sq_keyset_t *
sq_keyset_load_dir (const char *path, char *error, size_t size)
{
    DIR *dir = opendir (path);
    if (!dir) {
        snprintf (error, size, "cannot read the directory %s: %s", path, strerror (errno));
        return NULL;
    }
    sq_keyset_t *self = calloc (1, sizeof *self);
    bool memory = self != NULL;
    struct dirent *entry;
    while (memory && (entry = readdir (dir)) != NULL) {
        if (entry->d_name [0] == '.')
            continue;               //  ".", "..", and hidden files
        if (s_ends_with (entry->d_name, "_secret"))
            sq_debug ("control keys: skipped %s/%s: a secret certificate", path,
                      entry->d_name);
        else
            memory = s_keyset_load_file (self, path, entry->d_name);
    }
    closedir (dir);
    if (!memory) {
        snprintf (error, size, "out of memory loading %s", path);
        sq_keyset_destroy (&self);
        return NULL;
    }
    s_keyset_sort (self);
    return self;
}

void
sq_keyset_destroy (sq_keyset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->keys);
    free (*self_p);
    *self_p = NULL;
}

size_t
sq_keyset_size (const sq_keyset_t *self)
{
    return self? self->size: 0;
}

bool
sq_keyset_contains (const sq_keyset_t *self, const uint8_t *key)
{
    return self && self->size
        && bsearch (key, self->keys, self->size, SQ_CERT_KEY_SIZE, s_key_compare);
}
