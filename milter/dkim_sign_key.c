/*
 * dkim_sign_key.c - the private keys of milter/dkim_sign: read from PEM
 * files once, checked, and kept parsed (an OpenSSL EVP_PKEY) for every
 * message to sign with.
 *
 * DESCRIPTION
 *   dkims_key_load() reads the file with pemkey_read_path() (lib/pemkey.c,
 *   shared with postmeter: a missing or unreadable file is told apart
 *   from a bad key) - as the service user, after the privilege drop,
 *   never following a symbolic link or a second name as the file, and
 *   without blocking on a FIFO: the path comes from the database, which
 *   that user can write -, parsed by OpenSSL with no passphrase callback
 *   that could prompt (an encrypted key is an error), checks
 *   the key type against the algorithm and the RSA size (RFC 8301: at
 *   least 1024 bits), and keeps the EVP_PKEY. RSA keys may be PKCS#1
 *   ("BEGIN RSA PRIVATE KEY") or PKCS#8, Ed25519 keys PKCS#8. The file
 *   buffer is wiped right after parsing (pemkey.c); the EVP_PKEY
 *   is freed with EVP_PKEY_free(), which clears the key material.
 *
 *   A loaded key is never changed again: messages in any threads sign
 *   with it at once (OpenSSL 3 allows concurrent use of one EVP_PKEY
 *   with separate EVP_MD_CTXs), each holding its own reference
 *   (EVP_PKEY_up_ref), so a key freed by its owner lives on until the
 *   last message that started with it ends.
 *
 * NEVER
 *   Never logs, prints or puts in an error string any part of a key file;
 *   never prompts for a passphrase; never leaves a copy of key material
 *   in freed memory that it allocated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dkim_sign.h"
#include "dkim_sign_int.h"
#include "dkim_txt.h"
#include "pemkey.h"
#include "util.h"

#define RSA_MIN_BITS   1024 /* RFC 8301 3.2 */
#define ED25519_PUBLEN 32

/* dkims_alg_name - the a= word of an algorithm */
const char *dkims_alg_name(enum dkims_alg alg)
{
    return alg == DKIMS_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

/* parse_alg - the algorithm a configuration word names; false if none */
static bool parse_alg(const char *word, enum dkims_alg *alg)
{
    if (strcasecmp(word, "rsa-sha256") == 0 || strcasecmp(word, "rsa") == 0) {
        *alg = DKIMS_RSA_SHA256;
        return true;
    }
    if (strcasecmp(word, "ed25519-sha256") == 0 || strcasecmp(word, "ed25519") == 0) {
        *alg = DKIMS_ED25519_SHA256;
        return true;
    }
    return false;
}

/* check_key - does the key suit the algorithm; sets *bits; false with a reason in err */
static bool check_key(const char *path, EVP_PKEY *pkey, enum dkims_alg alg, unsigned *bits,
                      char *err, size_t errlen)
{
    int type = EVP_PKEY_get_base_id(pkey);

    if (alg == DKIMS_ED25519_SHA256) {
        if (type != EVP_PKEY_ED25519) {
            (void)snprintf_ok(err, errlen, "dkim-sign: %s: not an Ed25519 key (ed25519-sha256)",
                              path);
            return false;
        }
        *bits = 256;
        return true;
    }
    if (type != EVP_PKEY_RSA) {
        (void)snprintf_ok(err, errlen, "dkim-sign: %s: not an RSA key (rsa-sha256)", path);
        return false;
    }
    if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
        (void)snprintf_ok(err, errlen, "dkim-sign: %s: RSA key of %d bits: at least %d needed",
                          path, EVP_PKEY_get_bits(pkey), RSA_MIN_BITS);
        return false;
    }
    *bits = (unsigned)EVP_PKEY_get_bits(pkey);
    return true;
}

/* public_key - fill k->pub from the parsed key: SubjectPublicKeyInfo DER or raw Ed25519; false on
 * failure */
static bool public_key(struct dkims_key *k)
{
    bool ok = false;

    if (k->alg == DKIMS_ED25519_SHA256) {
        k->pub = xmalloc(ED25519_PUBLEN);
        k->publen = ED25519_PUBLEN;
        ok = EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &k->publen) == 1 &&
             k->publen == ED25519_PUBLEN;
    } else {
        unsigned char *der = NULL;
        int dlen = i2d_PUBKEY(k->pkey, &der);

        if (dlen > 0) {
            k->pub = xmalloc((size_t)dlen);
            memcpy(k->pub, der, (size_t)dlen);
            k->publen = (size_t)dlen;
            ok = true;
        }
        OPENSSL_free(der);
    }
    ERR_clear_error();
    return ok;
}

/* dkims_key_load - read and check a PEM private key file once */
struct dkims_key *dkims_key_load(const char *domain, const char *selector, const char *algorithm,
                                 const char *path, char *err, size_t errlen)
{
    struct dkims_key *k;
    char why[512];
    EVP_PKEY *pkey;
    enum dkims_alg alg;
    unsigned bits = 0;

    if (domain == NULL || !dkim_txt_name_ok(domain)) {
        (void)snprintf_ok(err, errlen, "dkim-sign: bad signing domain \"%s\"",
                          domain ? domain : "");
        return NULL;
    }
    if (selector == NULL || !dkim_txt_name_ok(selector)) {
        (void)snprintf_ok(err, errlen, "dkim-sign: %s: bad selector \"%s\"", domain,
                          selector ? selector : "");
        return NULL;
    }
    if (algorithm == NULL || !parse_alg(algorithm, &alg)) {
        (void)snprintf_ok(err, errlen,
                          "dkim-sign: %s: unknown algorithm \"%s\" (rsa-sha256 or ed25519-sha256)",
                          domain, algorithm ? algorithm : "");
        return NULL;
    }
    if (path == NULL || *path == '\0') {
        (void)snprintf_ok(err, errlen, "dkim-sign: %s: no key file", domain);
        return NULL;
    }
    if ((pkey = pemkey_read_path(path, why, sizeof(why))) == NULL) {
        (void)snprintf_ok(err, errlen, "dkim-sign: %s", why);
        return NULL;
    }
    if (!check_key(path, pkey, alg, &bits, err, errlen)) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k = xcalloc(1, sizeof(*k));
    k->domain = xstrdup(domain);
    k->selector = xstrdup(selector);
    k->alg = alg;
    k->bits = bits;
    k->pkey = pkey; /* the key's reference from now on */
    if (!public_key(k)) {
        (void)snprintf_ok(err, errlen, "dkim-sign: %s: cannot derive the public key", path);
        return dkims_key_free(k);
    }
    return k;
}

/* dkims_key_free - wipe and free a key */
struct dkims_key *dkims_key_free(struct dkims_key *k)
{
    if (k == NULL)
        return NULL;
    EVP_PKEY_free(k->pkey); /* our reference; messages that started with it hold theirs */
    free(k->pub);
    free(k->domain);
    free(k->selector);
    OPENSSL_cleanse(k, sizeof(*k));
    return xfree(k);
}

/* dkims_key_domain - d= */
const char *dkims_key_domain(const struct dkims_key *k)
{
    return k->domain;
}

/* dkims_key_selector - s= */
const char *dkims_key_selector(const struct dkims_key *k)
{
    return k->selector;
}

/* dkims_key_algorithm - a= */
const char *dkims_key_algorithm(const struct dkims_key *k)
{
    return dkims_alg_name(k->alg);
}

/* dkims_key_bits - key size */
unsigned dkims_key_bits(const struct dkims_key *k)
{
    return k->bits;
}

/* dkims_key_public - base64 p= value; caller frees */
char *dkims_key_public(const struct dkims_key *k)
{
    char *out = xmalloc(4 * ((k->publen + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, k->pub, (int)k->publen);
    return out;
}
