/*
 * dkim_pkey.c - DKIM public keys: decoded once, kept, and used to check
 * signatures.
 *
 * SUMMARY
 *   Decoding a key (OpenSSL 3's decoders walk their provider tables) is
 *   much dearer than checking an RSA signature with it, and mail from one
 *   domain comes signed with the same key again and again. So a key's
 *   bytes (what p= decodes to, with its type) map to the parsed EVP_PKEY
 *   in a small table under a mutex; DKIM_PKEYS_MAX entries at most, and
 *   when it is full it is emptied and starts over (entries handed out
 *   keep their own references). Keys come from DNS answers that lib/dns
 *   already keeps for their TTL, and the cache is keyed by the bytes
 *   themselves, so a rotated key is a new entry, never a stale hit.
 *
 *   An RSA key is checked once, when it is decoded: a modulus over
 *   DKIM_RSA_BITS_MAX bits, an exponent of more than DKIM_RSA_E_BITS_MAX
 *   bits (what an RSA check costs grows with both: a 3072-bit exponent,
 *   which OpenSSL takes, makes one check cost about 6 ms), an even
 *   exponent or one below 3, an even modulus: refused. Bytes that are no
 *   key and refused keys are cached too (key NULL, with the reason), so
 *   repeating them costs a lookup, not a decode.
 *
 * NEVER
 *   Never logs key material; never hands out a key it does not hold a
 *   reference for.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dkim_canon.h"
#include "dkim_pkey.h"
#include "util.h"

#define ED25519_RAW_LEN 32
#define ED25519_BITS    256

struct pkey_entry {
    bool ed25519;
    unsigned char *bytes;
    size_t len;
    EVP_PKEY *key;   /* NULL: refused, for why */
    const char *why; /* static text, key NULL */
    unsigned bits;
};

struct dkim_pkeys {
    pthread_mutex_t mu;
    size_t n;
    struct pkey_entry e[DKIM_PKEYS_MAX];
};

/* dkim_pkeys_new - an empty cache */
struct dkim_pkeys *dkim_pkeys_new(void)
{
    struct dkim_pkeys *c = xcalloc(1, sizeof(*c));

    pthread_mutex_init(&c->mu, NULL);
    return c;
}

/* clear - drop every entry (lock held) */
static void clear(struct dkim_pkeys *c)
{
    for (size_t i = 0; i < c->n; i++) {
        EVP_PKEY_free(c->e[i].key);
        free(c->e[i].bytes);
    }
    c->n = 0;
}

/* dkim_pkeys_free - free the cache */
struct dkim_pkeys *dkim_pkeys_free(struct dkim_pkeys *c)
{
    if (c == NULL)
        return NULL;
    clear(c);
    pthread_mutex_destroy(&c->mu);
    return xfree(c);
}

/* rsa_refused - why an RSA key may not verify (see dkim_pkey.h); NULL if it may */
static const char *rsa_refused(const EVP_PKEY *k, unsigned bits)
{
    BIGNUM *n = NULL, *e = NULL;
    const char *why = NULL;

    if (bits > DKIM_RSA_BITS_MAX)
        why = DKIM_PKEY_TOO_LONG;
    else if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
             EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
        why = DKIM_PKEY_UNUSABLE;
    else if (!BN_is_odd(n))
        why = DKIM_PKEY_N_INVALID;
    else if (BN_num_bits(e) > DKIM_RSA_E_BITS_MAX)
        why = DKIM_PKEY_E_LARGE;
    else if (!BN_is_odd(e) || BN_num_bits(e) < 2) /* e is odd and at least 3 */
        why = DKIM_PKEY_E_INVALID;
    BN_free(n);
    BN_free(e);
    return why;
}

/* decode - parse key bytes; NULL if they are not a key of the type, with *why */
static EVP_PKEY *decode(bool ed25519, const unsigned char *p, size_t len, unsigned *bits,
                        const char **why)
{
    const unsigned char *q = p;
    EVP_PKEY *k;

    *why = DKIM_PKEY_UNUSABLE;
    if (ed25519) {
        k = len == ED25519_RAW_LEN ? EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, p, len)
                                   : NULL;
        if (k != NULL) {
            *bits = ED25519_BITS;
            *why = NULL;
        }
        return k;
    }
    if (len > LONG_MAX)
        return NULL;
    k = d2i_PUBKEY(NULL, &q, (long)len);
    if (k == NULL || q != p + len) {
        EVP_PKEY_free(k);
        q = p; /* some publish the bare PKCS#1 RSAPublicKey */
        k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
        if (k != NULL && q != p + len) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    if (k != NULL && !EVP_PKEY_is_a(k, "RSA")) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    if (k == NULL)
        return NULL;
    *bits = (unsigned)EVP_PKEY_get_bits(k);
    *why = rsa_refused(k, *bits);
    if (*why != NULL) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* dkim_pkeys_get - the key of p[len], a new reference; NULL with *why if none */
EVP_PKEY *dkim_pkeys_get(struct dkim_pkeys *c, bool ed25519, const unsigned char *p, size_t len,
                         unsigned *bits, const char **why)
{
    EVP_PKEY *k = NULL;
    const char *w;
    unsigned b = 0;

    *bits = 0;
    *why = DKIM_PKEY_UNUSABLE;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        struct pkey_entry *e = &c->e[i];

        if (e->ed25519 == ed25519 && e->len == len && memcmp(e->bytes, p, len) == 0) {
            *bits = e->bits;
            if (e->key == NULL)
                *why = e->why;
            else if (EVP_PKEY_up_ref(e->key) == 1)
                k = e->key;
            pthread_mutex_unlock(&c->mu);
            if (k != NULL)
                *why = NULL;
            return k;
        }
    }
    pthread_mutex_unlock(&c->mu);
    /* decoded outside the lock: other threads' hits do not wait for it */
    k = decode(ed25519, p, len, &b, &w);
    pthread_mutex_lock(&c->mu);
    if (c->n == DKIM_PKEYS_MAX)
        clear(c);
    if (k == NULL || EVP_PKEY_up_ref(k) == 1) {
        struct pkey_entry *e = &c->e[c->n++];

        e->ed25519 = ed25519;
        e->bytes = xmalloc(len ? len : 1);
        memcpy(e->bytes, p, len);
        e->len = len;
        e->key = k;
        e->why = w;
        e->bits = b;
    }
    pthread_mutex_unlock(&c->mu);
    *bits = b;
    *why = w;
    return k;
}

/* dkim_pkey_verify - does sig sign the header data's digest with key */
int dkim_pkey_verify(EVP_PKEY *key, bool ed25519, const unsigned char *digest,
                     const unsigned char *sig, size_t siglen)
{
    int rc = -1;

    if (ed25519) {
        EVP_MD_CTX *mc = EVP_MD_CTX_new();

        if (mc && EVP_DigestVerifyInit_ex(mc, NULL, NULL, NULL, NULL, key, NULL) == 1) {
            rc = EVP_DigestVerify(mc, sig, siglen, digest, DKIM_SHA256_LEN);
            if (rc < 0)
                rc = 0; /* a malformed signature is a bad one */
        }
        EVP_MD_CTX_free(mc);
    } else {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        const EVP_MD *md = dkim_sha256();

        if (pc && md && EVP_PKEY_verify_init(pc) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
            EVP_PKEY_CTX_set_signature_md(pc, md) == 1) {
            rc = EVP_PKEY_verify(pc, sig, siglen, digest, DKIM_SHA256_LEN);
            if (rc < 0)
                rc = 0;
        }
        EVP_PKEY_CTX_free(pc);
    }
    return rc;
}
