/*
 * dkim_sign_int.h - what dkim_sign.c (the message flow and the
 * signature) and dkim_sign_key.c (the keys) share; RFC 6376
 * canonicalization is lib/dkim_canon.c, shared with the verifier. Not for use outside those files:
 * everyone else goes through dkim_sign.h.
 */
#ifndef POSTMETER_DKIM_SIGN_INT_H
#define POSTMETER_DKIM_SIGN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dkim_canon.h"

enum dkims_alg {
    DKIMS_RSA_SHA256,     /* RSASSA-PKCS1-v1_5 over SHA-256 (RFC 6376 3.3.1) */
    DKIMS_ED25519_SHA256, /* PureEdDSA over the SHA-256 of the header data (RFC 8463) */
};

struct dkims_key {
    char *domain;
    char *selector;
    enum dkims_alg alg;
    unsigned bits;
    EVP_PKEY *pkey;     /* parsed once; read-only, shared by messages (each holds a reference) */
    unsigned char *pub; /* SubjectPublicKeyInfo DER (RSA) or the raw key (Ed25519) */
    size_t publen;
};

/* dkims_alg_name - the a= word of an algorithm */
const char *dkims_alg_name(enum dkims_alg alg);

#endif
