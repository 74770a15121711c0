/*
 * dkim_sign_int.h - what dkim_sign.c (the message flow and the
 * signature), dkim_sign_key.c (the keys) and dkim_canon.c (RFC 6376
 * canonicalization) share. Not for use outside those files: everyone
 * else goes through dkim_sign.h.
 */
#ifndef POSTMETER_DKIM_SIGN_INT_H
#define POSTMETER_DKIM_SIGN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

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

#define DKIMS_SHA256_LEN 32

/*
 * The body hash of one message under one body canonicalization, fed in
 * chunks split anywhere (dkim_canon.c). Nothing of the body is kept but
 * a few bytes of state: a CR that may start a line end, one pending
 * space (relaxed) and a count of empty lines that are dropped if nothing
 * follows them.
 */
struct dkims_body {
    EVP_MD_CTX *md;          /* SHA-256 */
    bool relaxed;            /* relaxed (RFC 6376 3.4.4), else simple (3.4.3) */
    bool cr;                 /* the last byte was a CR: a line end if LF follows */
    bool wsp;                /* relaxed: white space seen in the line, not yet written */
    bool content;            /* the current line has written something */
    bool any;                /* something was ever written */
    bool failed;             /* OpenSSL failed */
    size_t empty;            /* empty lines not yet written */
    size_t outlen;           /* bytes in out */
    unsigned char out[2048]; /* canonical bytes waiting for the hash */
};

/* dkims_body_init - start a body hash; false if OpenSSL cannot (b is still safe to free) */
bool dkims_body_init(struct dkims_body *b, bool relaxed);
/* dkims_body_update - a chunk of the body (CRLF line ends, any split) */
void dkims_body_update(struct dkims_body *b, const unsigned char *p, size_t len);
/* dkims_body_final - end of body: the SHA-256 in digest; false on an OpenSSL failure */
bool dkims_body_final(struct dkims_body *b, unsigned char digest[DKIMS_SHA256_LEN]);
/* dkims_body_free - release the hash state (any point, any number of times) */
void dkims_body_free(struct dkims_body *b);

/*
 * dkims_canon_header - append the canonical form of one header field
 * ("Name:value", CRLF folds, no final line end) to out: unchanged
 * (simple, RFC 6376 3.4.1) or relaxed (3.4.2: name in lower case,
 * unfolded, white space runs as one space, none around the colon or at
 * the end). No line end is appended.
 */
void dkims_canon_header(struct buf *out, const char *line, size_t len, bool relaxed);

#endif
