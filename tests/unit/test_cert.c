/*  Unit tests of the certificate reader and the sets of authorised keys  */
#include "sq_test.h"
#include "sq_cert.h"
#include "sq_log.h"

#include <dirent.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zmq.h>

SQ_TEST_DEFINE

static char s_public [SQ_CERT_Z85_SIZE];
static char s_secret [SQ_CERT_Z85_SIZE];
static char s_dir [64];

//  Writes text to dir/name
static void
s_write (const char *name, const char *text)
{
    char path [256];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    SQ_CHECK (file);
    fputs (text, file);
    fclose (file);
}

//  Parses text, which must be refused with a reason containing `reason`
static void
s_expect_refused (const char *text, const char *reason)
{
    sq_cert_t cert;
    char error [256] = "";
    SQ_CHECK_MSG (!sq_cert_parse (text, &cert, error, sizeof error),
                  "'%s' was accepted", text);
    SQ_CHECK_MSG (strstr (error, reason), "error '%s' does not say '%s'", error, reason);
}

//  A public certificate as CZMQ writes it: a header of comments, an empty
//  metadata section, then the key
static void
test_public_czmq_layout (void)
{
    char text [1024];
    snprintf (text, sizeof text,
        "#   ****  Generated on 2026-01-01 00:00:00 by a certificate tool  ****\n"
        "#   ZeroMQ CURVE Public Certificate\n"
        "#   A comment line much longer than the others, to check that long comment lines are no trouble at all for the reader, however long they are, really.\n"
        "\n"
        "metadata\n"
        "curve\n"
        "    public-key = \"%s\"\n", s_public);
    sq_cert_t cert;
    char error [256] = "";
    SQ_CHECK_MSG (sq_cert_parse (text, &cert, error, sizeof error), "%s", error);
    SQ_CHECK_STR (cert.public_key, s_public);
    SQ_CHECK_STR (cert.secret_key, "");
}

//  Both keys, metadata with values, single quotes, CRLF, a trailing comment
static void
test_secret_variants (void)
{
    char text [1024];
    snprintf (text, sizeof text,
        "metadata\r\n"
        "    name = \"worker one\"    # who\r\n"
        "    email = ops@example.com\r\n"
        "curve\r\n"
        "    public-key = '%s'\r\n"
        "    secret-key=\"%s\" # keep it\r\n", s_public, s_secret);
    sq_cert_t cert;
    char error [256] = "";
    SQ_CHECK_MSG (sq_cert_parse (text, &cert, error, sizeof error), "%s", error);
    SQ_CHECK_STR (cert.public_key, s_public);
    SQ_CHECK_STR (cert.secret_key, s_secret);
}

//  Keys outside the top-level "curve" section are not keys
static void
test_keys_elsewhere_ignored (void)
{
    char text [512];
    snprintf (text, sizeof text,
        "metadata\n    public-key = \"%s\"\ncurve\n    nested\n        secret-key = \"%s\"\n",
        s_public, s_secret);
    s_expect_refused (text, "no public-key or secret-key");
    s_expect_refused ("", "no public-key or secret-key");
}

static void
test_malformed (void)
{
    char text [512];
    s_expect_refused ("curve\n\tpublic-key = \"x\"\n", "line 2: tabs");
    s_expect_refused ("curve\n   public-key = \"x\"\n", "line 2: indentation");
    s_expect_refused ("curve\n        public-key = \"x\"\n", "line 2: indented too deep");
    s_expect_refused ("    curve\n", "line 1: indented too deep");
    s_expect_refused ("curve\n    public-key = \"abc\n", "line 2: value has no closing quote");
    s_expect_refused ("curve\n    public-key \"abc\"\n", "line 2: expected '='");
    s_expect_refused ("curve\n    = \"abc\"\n", "line 2: expected a name");
    s_expect_refused ("curve\n    public-key = \"abc\" extra\n", "line 2: unexpected text");
    s_expect_refused ("curve\n    public-key = \"abc\"\n", "line 2: not a CURVE key");
    //  40 characters, one of them outside the Z85 alphabet
    snprintf (text, sizeof text, "curve\n    public-key = \"%.39s~\"\n", s_public);
    s_expect_refused (text, "line 2: not a CURVE key");
    snprintf (text, sizeof text, "curve\n    public-key = \"%s\"\n    public-key = \"%s\"\n",
              s_public, s_public);
    s_expect_refused (text, "line 3: key given twice");
}

//  A secret certificate must hold a secret key whose public key matches
static void
test_load_secret (void)
{
    char text [512], path [256], error [512];
    sq_cert_t cert;
    snprintf (path, sizeof path, "%s/only_secret", s_dir);
    snprintf (text, sizeof text, "curve\n    secret-key = \"%s\"\n", s_secret);
    s_write ("only_secret", text);
    SQ_CHECK_MSG (sq_cert_load_secret (path, &cert, error, sizeof error), "%s", error);
    SQ_CHECK_STR (cert.public_key, s_public);

    char other_public [SQ_CERT_Z85_SIZE], other_secret [SQ_CERT_Z85_SIZE];
    SQ_CHECK_EQ (zmq_curve_keypair (other_public, other_secret), 0);
    snprintf (path, sizeof path, "%s/mismatch", s_dir);
    snprintf (text, sizeof text, "curve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
              other_public, s_secret);
    s_write ("mismatch", text);
    SQ_CHECK (!sq_cert_load_secret (path, &cert, error, sizeof error));
    SQ_CHECK_MSG (strstr (error, "does not belong"), "%s", error);

    snprintf (path, sizeof path, "%s/public_only", s_dir);
    snprintf (text, sizeof text, "curve\n    public-key = \"%s\"\n", s_public);
    s_write ("public_only", text);
    SQ_CHECK (!sq_cert_load_secret (path, &cert, error, sizeof error));
    SQ_CHECK_MSG (strstr (error, "has no secret-key"), "%s", error);

    snprintf (path, sizeof path, "%s/absent", s_dir);
    SQ_CHECK (!sq_cert_load (path, &cert, error, sizeof error));
    SQ_CHECK_MSG (strstr (error, "cannot open") && strstr (error, path), "%s", error);
}

//  A saved pair reads back; the secret file is private; nothing is
//  overwritten
static void
test_save_pair (void)
{
    char path [256], secret_path [256], error [512];
    snprintf (path, sizeof path, "%s/saved", s_dir);
    snprintf (secret_path, sizeof secret_path, "%s/saved_secret", s_dir);
    SQ_CHECK_MSG (sq_cert_save_pair (path, s_public, s_secret, error, sizeof error),
                  "%s", error);
    sq_cert_t cert;
    SQ_CHECK (sq_cert_load (path, &cert, error, sizeof error));
    SQ_CHECK_STR (cert.public_key, s_public);
    SQ_CHECK_STR (cert.secret_key, "");
    SQ_CHECK (sq_cert_load_secret (secret_path, &cert, error, sizeof error));
    SQ_CHECK_STR (cert.secret_key, s_secret);
    struct stat info;
    SQ_CHECK (stat (secret_path, &info) == 0);
    SQ_CHECK_EQ (info.st_mode & 0777, 0600);
    SQ_CHECK (!sq_cert_save_pair (path, s_public, s_secret, error, sizeof error));
    SQ_CHECK_MSG (strstr (error, "File exists"), "%s", error);
}

//  Makes dir/sub with certificates of every kind; returns the key of the
//  good one in good
static void
s_make_key_dir (const char *sub, uint8_t *good)
{
    char path [256], text [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, sub);
    SQ_CHECK (mkdir (path, 0700) == 0);
    char name [128];
    snprintf (name, sizeof name, "%s/good", sub);
    snprintf (text, sizeof text, "curve\n    public-key = \"%s\"\n", s_public);
    s_write (name, text);
    snprintf (name, sizeof name, "%s/good.copy", sub);
    s_write (name, text);                   //  The same key twice
    snprintf (name, sizeof name, "%s/good_secret", sub);
    snprintf (text, sizeof text, "curve\n    secret-key = \"%s\"\n", s_secret);
    s_write (name, text);
    snprintf (name, sizeof name, "%s/broken", sub);
    s_write (name, "curve\n    public-key = \"short\"\n");
    snprintf (name, sizeof name, "%s/.hidden", sub);
    s_write (name, "not a certificate\n");
    snprintf (path, sizeof path, "%s/%s/subdir", s_dir, sub);
    SQ_CHECK (mkdir (path, 0700) == 0);
    SQ_CHECK (zmq_z85_decode (good, s_public));
}

static void
test_keyset (void)
{
    uint8_t good [SQ_CERT_KEY_SIZE], other [SQ_CERT_KEY_SIZE];
    s_make_key_dir ("keys", good);
    char path [256], error [512] = "";
    snprintf (path, sizeof path, "%s/keys", s_dir);
    sq_keyset_t *keys = sq_keyset_load_dir (path, error, sizeof error);
    SQ_CHECK_MSG (keys, "%s", error);
    SQ_CHECK_EQ (sq_keyset_size (keys), 1);
    SQ_CHECK (sq_keyset_contains (keys, good));
    memcpy (other, good, sizeof other);
    other [31] ^= 1;
    SQ_CHECK (!sq_keyset_contains (keys, other));
    sq_keyset_destroy (&keys);
    SQ_CHECK (keys == NULL);

    snprintf (path, sizeof path, "%s/missing", s_dir);
    SQ_CHECK (!sq_keyset_load_dir (path, error, sizeof error));
    SQ_CHECK_MSG (strstr (error, "cannot read the directory"), "%s", error);

    //  An empty directory is a valid, empty set
    snprintf (path, sizeof path, "%s/empty", s_dir);
    SQ_CHECK (mkdir (path, 0700) == 0);
    keys = sq_keyset_load_dir (path, error, sizeof error);
    SQ_CHECK (keys && sq_keyset_size (keys) == 0 && !sq_keyset_contains (keys, good));
    sq_keyset_destroy (&keys);
}

//  Removes the temporary directory and all it holds (two levels deep)
static void
s_remove_tree (const char *path)
{
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir)) != NULL) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        char child [512];
        snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
        if (unlink (child) != 0)
            s_remove_tree (child);
    }
    if (dir)
        closedir (dir);
    rmdir (path);
}

int
main (void)
{
    sq_log_set_level (SQ_LOG_ERROR);
    if (zmq_curve_keypair (s_public, s_secret) != 0) {
        printf ("# note: libzmq without CURVE, certificate tests skipped\n");
        return sq_test_summary ();
    }
    snprintf (s_dir, sizeof s_dir, "/tmp/sq-test-cert-XXXXXX");
    if (!mkdtemp (s_dir)) {
        perror ("mkdtemp");
        return 1;
    }
    SQ_RUN (test_public_czmq_layout);
    SQ_RUN (test_secret_variants);
    SQ_RUN (test_keys_elsewhere_ignored);
    SQ_RUN (test_malformed);
    SQ_RUN (test_load_secret);
    SQ_RUN (test_save_pair);
    SQ_RUN (test_keyset);
    s_remove_tree (s_dir);
    return sq_test_summary ();
}
