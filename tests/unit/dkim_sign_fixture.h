/*
 * dkim_sign_fixture.h - what the DKIM signer unit tests share
 * (test_dkim_sign_keys.c: key loading and the signed header list;
 * test_dkim_sign.c: signing): the test-only keys of tests/data/dkim-sign,
 * two test messages, signing a message through milter/dkim_sign in
 * chunks, and checking the signatures with auth/dkim_verify (our
 * verifier, keys served from the public halves).
 */
#ifndef POSTMETER_TEST_DKIM_SIGN_FIXTURE_H
#define POSTMETER_TEST_DKIM_SIGN_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "dkim_sign.h"

#define KEYDIR TEST_DATA_DIR "/dkim-sign/"

/* A test message: header fields as in a file ("Name: value", LF folds) and a CRLF body. */
struct tmsg {
    const char *const *fields;
    size_t nf;
    const char *body;
};

/* Changes made to a signed message before it is verified. */
struct change {
    const char *top;       /* a field added above everything ("Name: value") */
    const char *bottom;    /* a field added below the others */
    const char *body;      /* another body */
    size_t refold;         /* 1-based index of a field whose first space becomes "\n\t" */
    size_t leadspc_verify; /* 1: the verifier's milter has SMFIP_HDR_LEADSPC */
};

/* The verifier's key lookups, answered from the keys' public halves. */
struct pubkeys {
    struct dkims_key *const *keys;
    size_t n;
};

/* full - every field the signer signs, some it does not, folds; an 8-bit body with white space */
extern const struct tmsg full;
/* short_fields, short_msg - From, To and Subject (3 fields), body "x\r\n" */
extern const char *const short_fields[];
extern const struct tmsg short_msg;

/* load - a key of tests/data/dkim-sign that must load */
struct dkims_key *load(const char *file, const char *alg, const char *selector);
/* feed - a message through a signer up to (not including) end of message */
void feed(struct dkims_msg *m, const struct tmsg *t, bool leadspc, size_t chunk);
/* sign - sign t; the message (caller ends it) and its results in *sigs */
struct dkims_msg *sign(struct dkims *s, struct dkims_key *const *keys, size_t nkeys, unsigned flags,
                       const struct tmsg *t, size_t chunk, const struct dkims_sig **sigs,
                       size_t *nok);
/* check_verify - assert what auth/dkim_verify says ("pass|pass") about the signatures of t,
 * changed by c (NULL: unchanged) */
void check_verify(const struct pubkeys *pk, const struct dkims_sig *sigs, size_t n,
                  const struct tmsg *t, const struct change *c, const char *want);

#endif
