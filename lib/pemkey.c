/*
 * pemkey.c - a private key from a PEM file (see pemkey.h).
 *
 * The file's bytes live in one buffer, wiped (OPENSSL_cleanse) right
 * after OpenSSL parsed them. Must never log, print or put in a message
 * any part of a key file, and never prompt for a passphrase.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "log.h"
#include "pemkey.h"
#include "safefile.h"
#include "util.h"

/* no_passphrase - OpenSSL's passphrase callback: never prompt, note that one was wanted */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(bool *)arg = true;
    return -1;
}

/* say - a reason about shown into err; a cut message is logged at debug level */
static void say(char *err, size_t errlen, const char *shown, const char *why)
{
    if (!snprintf_ok(err, errlen, "%s: %s", shown, why))
        debug("pemkey: message cut");
}

/* pemkey_read - the private key in plain file name in dfd */
EVP_PKEY *pemkey_read(int dfd, const char *name, const char *shown, char *err, size_t errlen)
{
    size_t len = 0, size = 0;
    unsigned char *data = safefile_read(dfd, name, shown, PEMKEY_MAX, &len, &size, err, errlen);
    EVP_PKEY *pkey = NULL;
    bool asked = false;
    BIO *bio;

    if (data == NULL)
        return NULL;
    if ((bio = BIO_new_mem_buf(data, (int)len)) != NULL) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked);
        BIO_free(bio);
    }
    ERR_clear_error(); /* nothing of it is for the next user of this thread's queue */
    if (bio == NULL)
        say(err, errlen, shown, "out of memory");
    else if (pkey == NULL)
        say(err, errlen, shown,
            asked                                 ? "encrypted private keys are not supported"
            : memmem(data, len, "-----BEGIN", 10) ? "no private key that can be read in it"
                                                  : "not a PEM private key file");
    OPENSSL_cleanse(data, size);
    free(data);
    return pkey;
}

/* pemkey_read_path - pemkey_read of path, its directory walked safely */
EVP_PKEY *pemkey_read_path(const char *path, char *err, size_t errlen)
{
    const char *base = NULL;
    EVP_PKEY *pkey;
    int dfd;

    if ((dfd = safefile_walk(path, SAFEFILE_PARENT, &base, err, errlen)) < 0)
        return NULL;
    pkey = pemkey_read(dfd, base, path, err, errlen);
    close(dfd);
    return pkey;
}
