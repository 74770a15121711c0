/*
 * dkim_pkey.h - DKIM public keys for the verifier: decoded from key
 * records once and kept (a process-wide cache keyed by the key bytes),
 * and the two signature checks (RSASSA-PKCS1-v1_5 over SHA-256, RFC 6376
 * 3.3.1; Ed25519 over the SHA-256 of the header data, RFC 8463 3).
 *
 * Thread safety: one cache serves every thread; each key handed out is
 * the caller's own reference, used read-only.
 */
#ifndef POSTMETER_DKIM_PKEY_H
#define POSTMETER_DKIM_PKEY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#define DKIM_PKEYS_MAX 256 /* keys kept; when full the cache starts over */

struct dkim_pkeys;

/* dkim_pkeys_new - an empty cache */
struct dkim_pkeys *dkim_pkeys_new(void);
/* dkim_pkeys_free - free the cache (keys handed out stay valid); returns NULL */
struct dkim_pkeys *dkim_pkeys_free(struct dkim_pkeys *c);

/*
 * dkim_pkeys_get - the key of a record's decoded p= (RSA:
 * SubjectPublicKeyInfo DER, or a PKCS#1 RSAPublicKey; Ed25519: the 32
 * raw bytes), as a new reference the caller frees with EVP_PKEY_free();
 * NULL if the bytes are not such a key. *bits gets its size.
 */
EVP_PKEY *dkim_pkeys_get(struct dkim_pkeys *c, bool ed25519, const unsigned char *p, size_t len,
                         unsigned *bits);

/*
 * dkim_pkey_verify - does sig[siglen] sign the 32-byte SHA-256 digest of
 * the header data with key? 1 yes, 0 no, -1 OpenSSL failed.
 */
int dkim_pkey_verify(EVP_PKEY *key, bool ed25519, const unsigned char *digest,
                     const unsigned char *sig, size_t siglen);

#endif
