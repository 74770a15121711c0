/*
 * dkim_canon.h - RFC 6376 canonicalization, shared by the DKIM signer
 * (milter/dkim_sign.c) and verifier (auth/dkim_verify.c): header fields
 * (simple 3.4.1, relaxed 3.4.2) and the body (simple 3.4.3, relaxed
 * 3.4.4) streamed into SHA-256 as it arrives, up to an l= limit (3.4.5).
 *
 * Pure computation over OpenSSL's SHA-256; never logs anything of a
 * message.
 */
#ifndef POSTMETER_DKIM_CANON_H
#define POSTMETER_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

#define DKIM_SHA256_LEN 32

/*
 * dkim_sha256 - OpenSSL's SHA-256, fetched once per process (OpenSSL 3
 * looks a digest up in its provider tables each time EVP_sha256() is
 * initialised; a fetched one skips that). NULL if OpenSSL has none.
 */
const EVP_MD *dkim_sha256(void);

/*
 * A digest of the first at canonical bytes of a body, taken on the way
 * (dkim_body_cuts): the l= of a verified signature. ok once taken.
 */
struct dkim_body_cut {
    unsigned long long at;
    unsigned char digest[DKIM_SHA256_LEN];
    bool ok;
};

/*
 * The body hash of one message under one body canonicalization, fed in
 * chunks split anywhere. Nothing of the body is kept but a few bytes of
 * state: a CR that may start a line end, one pending space (relaxed) and
 * a count of empty lines that are dropped if nothing follows them.
 */
struct dkim_body {
    EVP_MD_CTX *md;            /* SHA-256 */
    bool relaxed;              /* relaxed (RFC 6376 3.4.4), else simple (3.4.3) */
    bool cr;                   /* the last byte was a CR: a line end if LF follows */
    bool wsp;                  /* relaxed: white space seen in the line, not yet written */
    bool content;              /* the current line has written something */
    bool failed;               /* OpenSSL failed */
    unsigned long long limit;  /* canonical bytes hashed at most (l=); ~0ULL: all */
    unsigned long long total;  /* canonical bytes so far, hashed or not */
    unsigned long long empty;  /* empty lines not yet written */
    unsigned long long hashed; /* canonical bytes given to md so far */
    struct dkim_body_cut *cut; /* prefix digests to take, ascending at; not owned */
    size_t ncut, nextcut;      /* cuts, the first not yet taken */
    size_t outlen;             /* bytes in out */
    unsigned char out[2048];   /* canonical bytes waiting for the hash */
};

#define DKIM_BODY_ALL (~0ULL) /* dkim_body_init(): no l= limit */

/*
 * dkim_body_init - start a body hash of at most limit canonical bytes
 * (DKIM_BODY_ALL: the whole body); false if OpenSSL cannot (b is still
 * safe to free).
 */
bool dkim_body_init(struct dkim_body *b, bool relaxed, unsigned long long limit);
/*
 * dkim_body_cuts - also take the digest of the first cut[i].at canonical
 * bytes of the body as the hash passes them (one pass serves every l=:
 * the SHA-256 state is copied at each cut). cut[] is sorted by at,
 * without repeats, outlives b, and is set before the first update; a cut
 * past the end of the body (or past limit) stays !ok.
 */
void dkim_body_cuts(struct dkim_body *b, struct dkim_body_cut *cut, size_t ncut);
/* dkim_body_update - a chunk of the body (CRLF line ends, any split) */
void dkim_body_update(struct dkim_body *b, const unsigned char *p, size_t len);
/*
 * dkim_body_final - end of body: the SHA-256 of its first limit canonical
 * bytes in digest; false on an OpenSSL failure. b->total is then the
 * canonical length of the whole body.
 */
bool dkim_body_final(struct dkim_body *b, unsigned char digest[DKIM_SHA256_LEN]);
/* dkim_body_free - release the hash state (any point, any number of times) */
void dkim_body_free(struct dkim_body *b);

/*
 * dkim_canon_header - append the canonical form of one header field
 * ("Name:value", CRLF folds, no final line end) to out: unchanged
 * (simple, RFC 6376 3.4.1) or relaxed (3.4.2: name in lower case,
 * unfolded, white space runs as one space, none around the colon or at
 * the end). No line end is appended.
 */
void dkim_canon_header(struct buf *out, const char *line, size_t len, bool relaxed);

#endif
