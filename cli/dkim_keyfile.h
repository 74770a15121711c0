/*
 * dkim_keyfile.h - DKIM private key files for postmeter dkim and
 * postmeter dns: make a key with OpenSSL and write it so that only root
 * and the milter's group can ever read it, and derive the public key
 * that goes into DNS from a key file (ours or made elsewhere).
 *
 * Nothing here ever prints, logs or returns private key material.
 */
#ifndef POSTMETER_CLI_DKIM_KEYFILE_H
#define POSTMETER_CLI_DKIM_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "store.h"

#define KEYFILE_MODE         0640 /* root rw, the milter's group r, nobody else */
#define KEYFILE_DIR_MODE     0750
#define KEYFILE_RSA_MIN      1024
#define KEYFILE_RSA_MAX      4096
#define KEYFILE_RSA_BITS     2048 /* default */
#define KEYFILE_ED25519_BITS 256

/* The public half of a key. */
struct keyfile_pub {
    enum store_dkim_alg algorithm;
    unsigned bits; /* RSA modulus size; 256 for Ed25519 */
    char *p;       /* base64 for the p= tag (RFC 6376 / RFC 8463); caller frees */
};

/*
 * keyfile_ensure_dir - make dir (mode 0750, owner root, group gid when
 * gid != (gid_t)-1) unless it exists; its parent must exist. False with a
 * reason in err[errlen].
 */
bool keyfile_ensure_dir(const char *dir, gid_t gid, char *err, size_t errlen);
/*
 * keyfile_create - generate a key (RSA of KEYFILE_RSA_MIN to
 * KEYFILE_RSA_MAX bits, or Ed25519) and write it
 * as PKCS#8 PEM to path, which must not exist: through a temporary file
 * in the same directory made with O_EXCL and mode 0600, given group gid
 * (unless (gid_t)-1; owner root when we are root), then mode 0640,
 * fsync, and a rename that never replaces an existing file. The public
 * half goes to *pub. False with a reason in err[errlen]; then no file is
 * left behind.
 */
bool keyfile_create(const char *path, enum store_dkim_alg a, unsigned bits, gid_t gid,
                    struct keyfile_pub *pub, char *err, size_t errlen);
/*
 * keyfile_path - dir/DOMAIN.SELECTOR.key: the name of the key file of
 * domain's key selector (both checked, lower case), the only name
 * keygen gives and remove --delete-file deletes. Caller frees.
 */
char *keyfile_path(const char *dir, const char *domain, const char *selector);
/*
 * keyfile_base - the name path has inside dir, if path lies directly in
 * dir (dir "/x/keys": "/x/keys/a.key" is "a.key"; "/x/keys/sub/a.key",
 * "/etc/a.key" are NULL). Points into path.
 */
const char *keyfile_base(const char *dir, const char *path);
/*
 * keyfile_public - read the private key in path, which must lie directly
 * in dir (the database names key files, and whoever can write it must
 * not make root read another file): dir walked with safefile_walk, the
 * file opened through its descriptor without following a link or
 * blocking on a FIFO, a plain regular file of at most PEMKEY_MAX bytes,
 * parsed from memory (pemkey_read, as postmeter-milter reads keys: PEM,
 * PKCS#8 or traditional; never asks for a passphrase); derive its public half into *pub. False with
 * a reason in err[errlen].
 */
bool keyfile_public(const char *dir, const char *path, struct keyfile_pub *pub, char *err,
                    size_t errlen);
/* keyfile_pub_free - free pub's strings */
void keyfile_pub_free(struct keyfile_pub *pub);

/*
 * keyfile_public_of - keyfile_public() of stored key k's file in dir,
 * checking that it holds a key of k's algorithm. False with a reason in
 * err[errlen].
 */
bool keyfile_public_of(const char *dir, const struct store_dkim_key *k, struct keyfile_pub *pub,
                       char *err, size_t errlen);
/*
 * keyfile_pub_matches - true if pub (read from k's file) is of k's
 * algorithm; else false with a reason in err[errlen], pub freed.
 */
bool keyfile_pub_matches(const struct store_dkim_key *k, struct keyfile_pub *pub, char *err,
                         size_t errlen);
/* keyfile_exists - does anything (of any type) have the name path, directly in dir? */
bool keyfile_exists(const char *dir, const char *path);
/*
 * keyfile_remove - delete path, which must lie directly in dir and be a
 * plain file (regular, one name), through dir's descriptor (unlinkat,
 * after an fstatat that does not follow a link): the database names it
 * and must not make root delete anything else. 1 deleted; 0 it was not
 * there; -1 refused or failed, reason in err[errlen].
 */
int keyfile_remove(const char *dir, const char *path, char *err, size_t errlen);

#endif
