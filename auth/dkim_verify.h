/*
 * dkim_verify.h - DKIM signature verification of inbound mail (RFC 6376,
 * Ed25519 per RFC 8463, algorithm and key rules of RFC 8301): our own
 * code over OpenSSL's libcrypto, with key lookups through lib/dns.
 *
 * A message is streamed in as a milter sees it: header fields one by one
 * (name and value as libmilter hands them over), end of header, body
 * chunks (CRLF line ends), end of message. The answer is one result per
 * DKIM-Signature verified, in header order; a message without any
 * DKIM-Signature has no results (Authentication-Results: dkim=none).
 *
 * Results (RFC 8601 2.7.1 words):
 *   pass       signature and body hash verified with an acceptable key
 *   fail       verified and wrong ("bad signature", "body hash mismatch"),
 *              or refused: "key too short (N bits)" (below
 *              dkim_min_key_bits), "rsa-sha1 not accepted" (RFC 8301),
 *              "key revoked" (p= empty: RFC 6376 6.1.2 says to treat it
 *              as a failed signature check)
 *   neutral    the signature has syntax errors or is expired
 *   temperror  the key could not be fetched now (DNS timeout, SERVFAIL)
 *   permerror  no key (NXDOMAIN, no TXT record: RFC 6376 6.1.2
 *              "PERMFAIL (no key for signature)"), an unusable key record
 *              (syntax, wrong key type, several records), an RSA key
 *              too dear to check (dkim_pkey.h: "RSA key over 4096 bits",
 *              "RSA key exponent too large"/"invalid", "RSA key modulus
 *              invalid"), more than DKIM_SIG_H_MAX names in h= ("too
 *              many h= names")
 *   policy     not produced today (kept for local policy decisions)
 *
 * Bounds: at most max_sigs signatures are verified (and looked up in DNS)
 * per message; when there are more, those whose d= is the From: domain
 * (or a parent or child of it) are chosen first, then the others in
 * header order, and the rest are only counted (results->skipped). The
 * header is kept until end of message (h= picks from it), up to
 * DKIMV_HEADER_MAX (1 MiB) - past that no signature can be checked and
 * each is neutral "header too large"; the body never: it is canonicalized
 * and hashed as it streams by, once per body canonicalization among the
 * chosen signatures (at most two), every l= a digest taken on the way.
 * A signature's h= has at most DKIM_SIG_H_MAX (512) names, more is
 * permerror "too many h= names"; the fields are indexed by name once, so
 * a message costs O(header log header + max_sigs x header + body) CPU,
 * whatever its h= lists say (tests/unit/test_dkim_cpu.c, bench/
 * dkim_worst_bench.c).
 *
 * l= (RFC 6376 3.5, 8.2): an l= longer than the canonical body fails; a
 * pass whose body goes on past l= is reported with "partial body" and,
 * unless the message began with DKIMV_PARTIAL_COUNTS, dmarc_ignore.
 *
 * Thread safety: one struct dkimv serves every thread; a struct
 * dkimv_msg is used by one thread at a time. Never logs header contents,
 * signatures or keys.
 */
#ifndef POSTMETER_DKIM_VERIFY_H
#define POSTMETER_DKIM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "dns.h"

enum dkimv_result {
    DKIMV_PASS = 0,
    DKIMV_FAIL,
    DKIMV_NEUTRAL,
    DKIMV_POLICY,
    DKIMV_TEMPERROR,
    DKIMV_PERMERROR,
};

/* dkimv_begin() flags */
#define DKIMV_LEADSPC 0x1 /* header values keep their leading white space (SMFIP_HDR_LEADSPC) */
/*
 * A pass whose body goes on past its l= counts for DMARC (the
 * dkim_partial_body = count setting). Without it such a pass is
 * dmarc_ignore: RFC 6376 8.2 - anyone can append content to the message,
 * so the signing domain does not vouch for what the reader sees. The
 * result stays pass either way.
 */
#define DKIMV_PARTIAL_COUNTS 0x2

/* One verified signature. Strings are owned by the message (dkimv_end). */
struct dkimv_sig {
    enum dkimv_result result;
    const char *domain;    /* d= ("" if missing) */
    const char *selector;  /* s= ("" if missing) */
    const char *algorithm; /* a= as written ("" if missing) */
    const char *b;         /* first characters of b= for header.b (RFC 6008): at least 8,
                              more when needed to tell this message's signatures apart */
    const char *identity;  /* i= decoded; NULL when the signature has no i= */
    const char *comment;   /* short reason: "bad signature", "l=1234 partial body"; "" if none */
    unsigned key_bits;     /* size of the key used (256 for Ed25519); 0 if none was loaded */
    long long body_length; /* l= value; -1 when absent */
    bool partial_body;     /* l= is shorter than the canonical body: content follows what was
                              signed ("partial body" in the comment) */
    bool dmarc_ignore;     /* a pass with a partial body, not to be counted for DMARC (see
                              DKIMV_PARTIAL_COUNTS); the comment says DKIMV_NOT_FOR_DMARC */
};

/* What the comment of a dmarc_ignore result says after "l=N partial body; ". */
#define DKIMV_NOT_FOR_DMARC "ignored for DMARC"

struct dkimv_results {
    size_t n;                    /* signatures verified and reported */
    const struct dkimv_sig *sig; /* n entries, in header order */
    size_t skipped;              /* DKIM-Signature fields over max_sigs: not verified */
};

struct dkimv;     /* process-wide: limits, resolver, parsed keys */
struct dkimv_msg; /* one message being verified */

/*
 * dkimv_open - the process-wide verifier, created once. d (which must
 * outlive it) serves the key lookups; NULL makes every lookup a temperror
 * unless dkimv_set_lookup() is used. max_sigs >= 1; keys of fewer than
 * min_key_bits bits fail (RSA; Ed25519 keys are always 256 bits). NULL with
 * a reason in err if it cannot be set up.
 */
struct dkimv *dkimv_open(struct dns *d, unsigned max_sigs, unsigned min_key_bits, char *err,
                         size_t errlen);
/* dkimv_close - free the verifier (no message may be in progress); returns NULL */
struct dkimv *dkimv_close(struct dkimv *v);
/*
 * dkimv_set_lookup - answer key lookups with fn(arg, "sel._domainkey.dom")
 * instead of DNS (tests, offline checks). fn returns a TXT result the
 * verifier frees. Call before the first message.
 */
void dkimv_set_lookup(struct dkimv *v, struct dns_result *(*fn)(void *arg, const char *name),
                      void *arg);

/* dkimv_begin - start a message (id, e.g. the queue id, is not used today); caller ends it */
struct dkimv_msg *dkimv_begin(struct dkimv *v, const char *id, unsigned flags);
/*
 * dkimv_header - one header field as libmilter gives it: name without the
 * colon, value with folds as "\n" + WSP (or "\r\n" + WSP), its first
 * space removed unless DKIMV_LEADSPC. Copies what it keeps.
 */
void dkimv_header(struct dkimv_msg *m, const char *name, const char *value);
/* dkimv_eoh - end of the header; starts the key lookups (they overlap the body) */
void dkimv_eoh(struct dkimv_msg *m);
/* dkimv_body - a chunk of the body, CRLF line ends, any split */
void dkimv_body(struct dkimv_msg *m, const unsigned char *chunk, size_t len);
/*
 * dkimv_eom - end of message: wait for the keys, verify, return the
 * results, owned by m and valid until dkimv_end(). Calls dkimv_eoh() if
 * the caller did not.
 */
const struct dkimv_results *dkimv_eom(struct dkimv_msg *m);
/* dkimv_end - free everything of the message at any point (abort too); returns NULL */
struct dkimv_msg *dkimv_end(struct dkimv_msg *m);

/* dkimv_result_name - "pass", "fail", "neutral", "policy", "temperror", "permerror" */
const char *dkimv_result_name(enum dkimv_result r);

/*
 * Internals, exposed for the unit tests (tests/unit/test_dkim_verify*.c).
 */

/* Outcome of fetching a key record (dkimv_pick_key). */
enum dkimv_key_status {
    DKIMV_KEY_OK = 0, /* out holds the record to verify with */
    DKIMV_KEY_NONE,   /* no key: NXDOMAIN, no TXT, no DKIM key record */
    DKIMV_KEY_MULTI,  /* several DKIM key records */
    DKIMV_KEY_BAD,    /* malformed answer or record (NUL bytes), bad name */
    DKIMV_KEY_LONG,   /* record longer than DKIMV_KEY_RECORD_MAX, even compacted */
    DKIMV_KEY_TEMP,   /* temporary DNS failure */
};

/*
 * dkimv_header_line - append "Name:value" as the signer saw it: CRLF
 * before every fold, and (without leadspc) the space libmilter removed
 * put back, unless the value starts with a tab or a line end (libmilter
 * removes a space only).
 */
void dkimv_header_line(struct buf *out, const char *name, const char *value, bool leadspc);
/*
 * dkimv_tag_value - the value of tag in a DKIM tag-list with all white
 * space removed, or NULL if the tag is absent; caller frees.
 */
char *dkimv_tag_value(const char *taglist, const char *tag);
/*
 * dkimv_b_prefix_len - how many leading characters of b[i] to show so
 * that it differs from every other b[j] (at least 8, at most its length).
 */
size_t dkimv_b_prefix_len(const char *const *b, size_t n, size_t i);
/*
 * dkimv_pick_key - choose the key record of a TXT answer and write it to
 * out[outlen] (compacted - white space and n= notes dropped - when it
 * would not fit); *why gets a short reason when the status is not OK.
 */
enum dkimv_key_status dkimv_pick_key(const struct dns_result *r, char *out, size_t outlen,
                                     const char **why);

#endif
