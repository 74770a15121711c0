/*
 * dkim_sign.h - DKIM signing of outbound mail (RFC 6376; RSA-SHA256 and
 * Ed25519-SHA256 per RFC 8463), our own canonicalization over OpenSSL:
 * the engine the milter's outbound stage calls after pixel injection,
 * over the final body.
 *
 * Keys are loaded once (dkims_key_load: PEM files, parsed and checked
 * with OpenSSL, kept parsed in memory only, wiped when freed); nothing
 * is decoded again per message. A message is
 * streamed in as a milter sees it: header fields one by one (name and
 * value as libmilter hands them over), end of header, body chunks (CRLF
 * line ends), end of message. Several keys sign one message at once
 * (dual signing: an RSA and an Ed25519 key give two DKIM-Signature
 * fields); the answer is one result per key, in the order the keys were
 * given: the DKIM-Signature field value, or why that key could not sign.
 *
 * Signed header fields: From, To, Cc, Subject, Date, Message-ID,
 * Reply-To, MIME-Version, Content-Type, Content-Transfer-Encoding (those
 * present, every instance), and From once more than it appears
 * (oversigned: a From field added later breaks the signature).
 * Canonicalization relaxed/relaxed unless DKIMS_SIMPLE_HEADER /
 * DKIMS_SIMPLE_BODY. No l= (the whole body is signed), no x=, no i=.
 * Simple header canonicalization wants SMFIP_HDR_LEADSPC: without it
 * libmilter loses whether a field had a space after its colon, and
 * "Subject:x" is signed as "Subject: x" (relaxed does not care). A body
 * that does not end with CRLF is signed as if it did (RFC 6376 3.4.3/4).
 * The body is canonicalized and hashed as it streams in, never kept.
 *
 * Inserting the result: smfi_insheader(ctx, 0, "DKIM-Signature", value).
 * The value has no leading white space; its folds are "\n\t" (libmilter
 * and Postfix turn them into the message's line ends). Without
 * SMFIP_HDR_LEADSPC the MTA puts "DKIM-Signature: " before it, which is
 * exactly what was signed. When the milter negotiated SMFIP_HDR_LEADSPC
 * the MTA adds nothing, so the CALLER must insert " " + value (a space,
 * then the value); with simple header canonicalization anything else
 * breaks the signature.
 *
 * Thread safety: one struct dkims serves every thread; a loaded key is
 * read-only and may be shared by any number of messages in any threads;
 * a struct dkims_msg is used by one thread at a time.
 *
 * Never logs or prints key material (nor header or body contents); error
 * strings name files, domains, selectors and reasons only.
 */
#ifndef POSTMETER_DKIM_SIGN_H
#define POSTMETER_DKIM_SIGN_H

#include <stdbool.h>
#include <stddef.h>

/* dkims_begin() flags */
#define DKIMS_LEADSPC       0x1 /* header values keep their leading white space (SMFIP_HDR_LEADSPC) */
#define DKIMS_SIMPLE_HEADER 0x2 /* c=simple/... instead of relaxed/... */
#define DKIMS_SIMPLE_BODY   0x4 /* c=.../simple instead of .../relaxed */
#define DKIMS_SIMPLE        (DKIMS_SIMPLE_HEADER | DKIMS_SIMPLE_BODY)

struct dkims;     /* process-wide: settings shared by every message (t=) */
struct dkims_key; /* one private key with its domain and selector */
struct dkims_msg; /* one message being signed */

/* One key's outcome. Strings are owned by the message (dkims_end). */
struct dkims_sig {
    const char *domain;    /* d= */
    const char *selector;  /* s= */
    const char *algorithm; /* "rsa-sha256" or "ed25519-sha256" */
    const char *value;     /* the DKIM-Signature value (see above); NULL on error */
    const char *error;     /* NULL on success; a short reason otherwise */
};

/*
 * dkims_open - the process-wide signer, created once. It does not touch
 * OpenSSL and does not fail today (err is for what a later version may
 * check): a broken OpenSSL fails the first key or signature instead, and
 * postmeter-milter -t.
 */
struct dkims *dkims_open(char *err, size_t errlen);
/* dkims_close - free the signer (no message may be in progress); returns NULL */
struct dkims *dkims_close(struct dkims *s);
/*
 * dkims_set_time - sign with t=when instead of the current time (tests
 * and reproducible output only). Call before the first message.
 */
bool dkims_set_time(struct dkims *s, unsigned long long when);

/*
 * dkims_key_load - read a PEM private key file once: RSA (PKCS#1 "BEGIN
 * RSA PRIVATE KEY" or PKCS#8, at least 1024 bits) for algorithm
 * "rsa-sha256" (or "rsa"), Ed25519 PKCS#8 (openssl genpkey -algorithm
 * ed25519) for "ed25519-sha256" (or "ed25519"). Encrypted keys are
 * refused (never a passphrase prompt). NULL with a reason in err (the
 * path and what is wrong, never the file's contents) if the file is
 * missing, unreadable, not such a key, or domain or selector are not
 * DNS names. Caller frees with dkims_key_free().
 */
struct dkims_key *dkims_key_load(const char *domain, const char *selector, const char *algorithm,
                                 const char *path, char *err, size_t errlen);
/* dkims_key_free - wipe and free a key (not while a dkims_begin() with it runs); returns NULL */
struct dkims_key *dkims_key_free(struct dkims_key *k);
/* dkims_key_domain - the signing domain (d=) */
const char *dkims_key_domain(const struct dkims_key *k);
/* dkims_key_selector - the selector (s=) */
const char *dkims_key_selector(const struct dkims_key *k);
/* dkims_key_algorithm - "rsa-sha256" or "ed25519-sha256" */
const char *dkims_key_algorithm(const struct dkims_key *k);
/* dkims_key_bits - RSA modulus size; 256 for Ed25519 */
unsigned dkims_key_bits(const struct dkims_key *k);
/*
 * dkims_key_public - the p= value of the key's DNS record: base64 of the
 * SubjectPublicKeyInfo (RSA) or of the raw 32-byte key (Ed25519, RFC
 * 8463); caller frees.
 */
char *dkims_key_public(const struct dkims_key *k);

/*
 * dkims_begin - start signing a message with nkeys keys (0 is allowed:
 * nothing is signed). The message takes its own reference to each key
 * here; the keys may be freed once dkims_begin() returns. Caller ends the
 * message with dkims_end().
 */
struct dkims_msg *dkims_begin(struct dkims *s, struct dkims_key *const *keys, size_t nkeys,
                              unsigned flags);
/*
 * dkims_header - one header field as libmilter gives it: name without the
 * colon, value with folds as "\n" + WSP (or "\r\n" + WSP), its first
 * space removed unless DKIMS_LEADSPC. Fields that are not signed are not
 * kept. Ignored after end of header.
 */
void dkims_header(struct dkims_msg *m, const char *name, const char *value);
/* dkims_eoh - end of the header */
void dkims_eoh(struct dkims_msg *m);
/* dkims_body - a chunk of the body, CRLF line ends, any split */
void dkims_body(struct dkims_msg *m, const unsigned char *chunk, size_t len);
/*
 * dkims_eom - end of message: sign. *sigs gets one entry per key, in the
 * order given to dkims_begin(), owned by m and valid until dkims_end();
 * returns how many of them have a value (the others have an error). Calls
 * dkims_eoh() if the caller did not; a second call returns the same.
 */
size_t dkims_eom(struct dkims_msg *m, const struct dkims_sig **sigs);
/* dkims_end - free everything of the message at any point (abort too); returns NULL */
struct dkims_msg *dkims_end(struct dkims_msg *m);

#endif
