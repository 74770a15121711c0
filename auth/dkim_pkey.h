/*
 * dkim_pkey.h - DKIM public keys for the verifier: decoded from key
 * records once and kept (a process-wide cache keyed by the key bytes),
 * and the two signature checks (RSASSA-PKCS1-v1_5 over SHA-256, RFC 6376
 * 3.3.1; Ed25519 over the SHA-256 of the header data, RFC 8463 3).
 *
 * RSA keys the verifier refuses (a key record is a stranger's input, and
 * the cost of an RSA check grows with the modulus and the exponent):
 * a modulus over DKIM_RSA_BITS_MAX bits or even, an exponent of more than
 * DKIM_RSA_E_BITS_MAX bits, even, or below 3. OpenSSL itself takes any
 * exponent below the modulus up to 3072 bits, and a 3072-bit exponent
 * costs about 6 ms per signature (a junk b= pays it all before "bad
 * signature"); with these bounds the dearest allowed check (4096 bits,
 * e = 2^32 - 1) costs about 0.15 ms (bench/README.md).
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

/*
 * The largest RSA modulus taken, in bits: RFC 8301 3.2 has verifiers
 * handle 1024 to 4096 bits, and a larger key costs about 4x per doubling
 * of its size (8192 bits: see bench/README.md) for nothing a signer
 * needs. Keep in step with packaging/man/postmeter-milter.8.
 */
#define DKIM_RSA_BITS_MAX   4096
#define DKIM_RSA_E_BITS_MAX 32 /* the public exponent is below 2^32 (65537 in practice) */

#define DKIM_PKEY_STR_(x) #x
#define DKIM_PKEY_STR(x)  DKIM_PKEY_STR_(x)

/* Why a key is refused (A-R comments; tests/fuzz/fuzz_dkim_verify.c lists them). */
#define DKIM_PKEY_UNUSABLE  "key unusable for the algorithm" /* no key of the type */
#define DKIM_PKEY_TOO_LONG  "RSA key over " DKIM_PKEY_STR(DKIM_RSA_BITS_MAX) " bits"
#define DKIM_PKEY_E_LARGE   "RSA key exponent too large" /* DKIM_RSA_E_BITS_MAX */
#define DKIM_PKEY_E_INVALID "RSA key exponent invalid"   /* even, or below 3 */
#define DKIM_PKEY_N_INVALID "RSA key modulus invalid"    /* even */

struct dkim_pkeys;

/* dkim_pkeys_new - an empty cache */
struct dkim_pkeys *dkim_pkeys_new(void);
/* dkim_pkeys_free - free the cache (keys handed out stay valid); returns NULL */
struct dkim_pkeys *dkim_pkeys_free(struct dkim_pkeys *c);

/*
 * dkim_pkeys_get - the key of a record's decoded p= (RSA:
 * SubjectPublicKeyInfo DER, or a PKCS#1 RSAPublicKey; Ed25519: the 32
 * raw bytes), as a new reference the caller frees with EVP_PKEY_free();
 * NULL if the bytes are not such a key or it is refused, with *why one of
 * the DKIM_PKEY_* reasons (static text; NULL when a key is returned).
 * *bits gets its size (also of a refused RSA key; 0 if none was decoded).
 * Refusals are cached like keys: the checks run once per key.
 */
EVP_PKEY *dkim_pkeys_get(struct dkim_pkeys *c, bool ed25519, const unsigned char *p, size_t len,
                         unsigned *bits, const char **why);

/*
 * dkim_pkey_verify - does sig[siglen] sign the 32-byte SHA-256 digest of
 * the header data with key? 1 yes, 0 no, -1 OpenSSL failed.
 */
int dkim_pkey_verify(EVP_PKEY *key, bool ed25519, const unsigned char *digest,
                     const unsigned char *sig, size_t siglen);

#endif
