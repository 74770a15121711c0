/*
 * dkim_sig.h - what a DKIM-Signature field and a DKIM key record say
 * (RFC 6376 3.5 and 3.6.1, RFC 8463, RFC 8301), checked for what a
 * verifier needs before any cryptography: required tags, versions,
 * algorithms, canonicalizations, h= naming From, i= within d=, times.
 *
 * Pure parsing over lib/dkim_tags.c; no DNS, no keys.
 */
#ifndef POSTMETER_DKIM_SIG_H
#define POSTMETER_DKIM_SIG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define DKIM_CLOCK_DRIFT 300 /* seconds a t= may lie in the future */
/*
 * Names in one h= list at most. Signers list 5-60 (oversigning doubles a
 * few); a signature with more is refused (dkim_sig_parse() error
 * DKIM_SIG_TOO_MANY_H, permerror) before any header field is looked at.
 */
#define DKIM_SIG_H_MAX      512
#define DKIM_SIG_TOO_MANY_H "too many h= names"

enum dkim_alg {
    DKIM_ALG_RSA_SHA256,
    DKIM_ALG_ED25519_SHA256,
    DKIM_ALG_RSA_SHA1, /* parsed to be refused (RFC 8301 3.1) */
};

/* A parsed DKIM-Signature. Strings are owned by it. */
struct dkim_sig {
    const char *error; /* NULL: usable; else why not (static text, result neutral) */
    enum dkim_alg alg;
    bool hdr_relaxed;  /* c= header canonicalization */
    bool body_relaxed; /* c= body canonicalization */
    char *domain;      /* d=, lower case, no trailing dot */
    char *selector;    /* s=, lower case */
    char **h;          /* h= names, lower case */
    size_t nh;
    struct buf b;  /* b= decoded */
    struct buf bh; /* bh= decoded */
    bool has_l;
    unsigned long long l;  /* l= */
    char *identity_domain; /* the domain of i= (lower case), NULL without i= */
};

/* dkim_domain_within - is sub equal to dom or a subdomain of it (both lower case) */
bool dkim_domain_within(const char *sub, const char *dom);

/*
 * dkim_sig_parse - parse the value of a DKIM-Signature field as of now
 * (seconds since the epoch) into sig (zeroed by the caller). Always
 * fills what it can; sig->error says why the signature cannot be
 * verified: "signature syntax error", "signature version not 1",
 * "signature missing a required tag", "unknown algorithm", "unknown
 * canonicalization", "unknown query method", "From: not signed", "i= not
 * within d=", "signature expired", "signature in the future",
 * DKIM_SIG_TOO_MANY_H (more than DKIM_SIG_H_MAX names in h=).
 */
void dkim_sig_parse(struct dkim_sig *sig, const char *value, size_t len, long long now);
/* dkim_sig_free - release what dkim_sig_parse() made */
void dkim_sig_free(struct dkim_sig *sig);

enum dkim_keyrec_status {
    DKIM_KEYREC_OK = 0,
    DKIM_KEYREC_REVOKED, /* p= empty: fail (RFC 6376 3.6.1) */
    DKIM_KEYREC_BAD,     /* unusable for this signature: permerror, why says why */
};

/* A parsed key record. */
struct dkim_keyrec {
    bool ed25519; /* k=ed25519, else k=rsa (the default) */
    bool testing; /* t=y */
    bool strict;  /* t=s: i= must be d= itself */
    struct buf p; /* p= decoded: SubjectPublicKeyInfo (or PKCS#1) DER, or the raw Ed25519 key */
};

/*
 * dkim_keyrec_parse - parse a key record for a signature of algorithm
 * alg into k (zeroed by the caller). On DKIM_KEYREC_BAD *why is one of
 * "key record syntax error", "unsupported key version", "key unusable
 * for the algorithm" (k= of another algorithm, or an unknown k=), "key
 * does not allow sha256", "key not for email".
 */
enum dkim_keyrec_status dkim_keyrec_parse(struct dkim_keyrec *k, const char *rec, size_t len,
                                          enum dkim_alg alg, const char **why);
/* dkim_keyrec_free - release what dkim_keyrec_parse() made */
void dkim_keyrec_free(struct dkim_keyrec *k);

#endif
