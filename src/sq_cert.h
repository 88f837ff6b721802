/*  =========================================================================
    sq_cert - CURVE key files in CZMQ's certificate format, and sets of
    public keys loaded from a directory

    A certificate is a ZPL text file (the format of CZMQ's zcert), so files
    made by CZMQ tools work here and the other way round. The public file
    NAME holds the public key; the secret file NAME_secret holds both:

        #   ZeroMQ CURVE **Secret** Certificate
        metadata
        curve
            public-key = "<40 Z85 characters>"
            secret-key = "<40 Z85 characters>"

    Only what keys need is read: the "public-key" and "secret-key" values
    of the top-level "curve" section. Comments, metadata and other
    sections are skipped. No I/O besides reading and writing those files.
    =========================================================================
*/
#ifndef SQ_CERT_H_INCLUDED
#define SQ_CERT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A key in Z85 text: 40 characters and a NUL
#define SQ_CERT_Z85_SIZE 41
//  A key in binary
#define SQ_CERT_KEY_SIZE 32

typedef struct {
    char public_key [SQ_CERT_Z85_SIZE];     //  "" when the file has none
    char secret_key [SQ_CERT_Z85_SIZE];     //  "" in a public certificate
} sq_cert_t;

//  True for a valid Z85 key: exactly 40 characters that decode to 32 bytes
//  (stores them in binary when binary is not NULL)
bool sq_cert_z85_valid (const char *text, uint8_t *binary);

//  Reads the keys out of certificate text. False, with a reason, when the
//  text is not ZPL this reader understands, when a key is not valid Z85,
//  or when it holds neither key.
bool sq_cert_parse (const char *text, sq_cert_t *cert, char *error, size_t size);

//  Reads a certificate file (at most 64 KiB); false with a reason
bool sq_cert_load (const char *path, sq_cert_t *cert, char *error, size_t size);

//  Loads a secret certificate: both keys, the public one derived from the
//  secret one when missing, and the two must match. False with a reason.
bool sq_cert_load_secret (const char *path, sq_cert_t *cert, char *error,
                          size_t size);

//  Writes a new key pair as `path` (public, mode 0644) and `path`_secret
//  (mode 0600). Refuses to overwrite either file. False with a reason.
bool sq_cert_save_pair (const char *path, const char *public_key,
                        const char *secret_key, char *error, size_t size);

//  ---------------------------------------------------------------------
//  A set of public keys, for lookups by binary key

typedef struct sq_keyset_s sq_keyset_t;

//  Loads the public key of every certificate in a directory. Files whose
//  name ends in "_secret", hidden files, and files without a valid public
//  key are skipped, each with a warning in the log (a secret file is
//  skipped silently: it sits beside its public file). Returns NULL with a
//  reason when the directory cannot be read.
sq_keyset_t *sq_keyset_load_dir (const char *path, char *error, size_t size);

//  Destroys a set and nulls the pointer
void sq_keyset_destroy (sq_keyset_t **self_p);

//  Number of distinct keys in the set
size_t sq_keyset_size (const sq_keyset_t *self);

//  True if the 32-byte key is in the set
bool sq_keyset_contains (const sq_keyset_t *self, const uint8_t *key);

#endif
