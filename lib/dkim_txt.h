/*
 * dkim_txt.h - DKIM key records as text: the TXT value for a public key,
 * zone-file syntax (character-strings of at most 255 bytes), reading a
 * published record back for comparison, and the names involved (domain,
 * selector, the default selector of a new key).
 *
 * Pure string work: no DNS, no files, no cryptography. Only public key
 * material ever passes through here.
 */
#ifndef POSTMETER_DKIM_TXT_H
#define POSTMETER_DKIM_TXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

#define DKIM_TXT_STRING_MAX 255 /* bytes in one DNS character-string */
#define DKIM_SELECTOR_MAX   63  /* our limit: one DNS label's worth */

/*
 * dkim_txt_domain_ok - d is a domain we make keys for: dot-separated
 * labels of letters, digits and inner hyphens, 1..63 bytes each, at
 * least two labels, at most 253 bytes, no trailing dot.
 */
bool dkim_txt_domain_ok(const char *d);
/*
 * dkim_txt_selector_ok - s is a selector (RFC 6376 3.1: dot-separated
 * labels of letters, digits and inner hyphens) of at most
 * DKIM_SELECTOR_MAX bytes.
 */
bool dkim_txt_selector_ok(const char *s);
/*
 * dkim_txt_name_ok - n is a name a DKIM tag and DNS can take as a domain
 * or selector (what the signer accepts in its key table, and the
 * verifier in d= and s=): dot-separated labels of letters, digits, "-"
 * and "_" (seen in the wild), 1..63 bytes each, at most 253 bytes, no
 * empty label, no trailing dot. Looser than dkim_txt_domain_ok() and
 * dkim_txt_selector_ok(), which are for names we make keys for.
 */
bool dkim_txt_name_ok(const char *n);
/*
 * dkim_txt_selector - the default selector of a key of algorithm a made
 * at time now (UTC): "s" for RSA, "e" for Ed25519, then YYYYMMDD; the
 * n-th key of that day (n >= 2) gets "-n" (s20261125, s20261125-2, ...).
 * Writes into out[outlen]; false if it does not fit or n is 0.
 */
bool dkim_txt_selector(enum store_dkim_alg a, int64_t now, unsigned n, char *out, size_t outlen);

/* dkim_txt_key_type - the k= tag of an algorithm: "rsa" or "ed25519" */
const char *dkim_txt_key_type(enum store_dkim_alg a);
/* dkim_txt_value - append "v=DKIM1; k=TYPE; p=P" (P: base64 public key) to out */
void dkim_txt_value(struct buf *out, enum store_dkim_alg a, const char *p);
/*
 * dkim_txt_strings - append value[0..len) as zone-file character-strings:
 * each quoted, at most DKIM_TXT_STRING_MAX bytes of the value, separated
 * by sep; '"' and '\' are escaped, other bytes outside printable ASCII
 * written as \DDD. An empty value is "".
 */
void dkim_txt_strings(struct buf *out, const char *value, size_t len, const char *sep);
/*
 * dkim_txt_zone - append one TXT record in zone-file syntax and a
 * newline: "OWNER. IN TXT "..."", or with several strings
 * "OWNER. IN TXT ( "..." <newline, tab> "..." )". owner is written with
 * a trailing dot.
 */
void dkim_txt_zone(struct buf *out, const char *owner, const char *value);

/*
 * dkim_txt_tag - the value of tag in a DKIM tag list (RFC 6376 3.2:
 * "tag=value; ..."), with all white space removed, appended to value.
 * False if the tag is absent or the list is malformed. The first
 * occurrence counts.
 */
bool dkim_txt_tag(const char *rec, size_t len, const char *tag, struct buf *value);

enum dkim_txt_match {
    DKIM_TXT_SAME = 0,      /* a DKIM key record with our key */
    DKIM_TXT_OTHER_KEY = 1, /* a DKIM key record with another (or a revoked) key */
    DKIM_TXT_NOT_DKIM = 2   /* not a DKIM key record (no p=, v= other than DKIM1) */
};

/*
 * dkim_txt_compare - does the published record rec[0..len) carry the key
 * of type a with base64 public key p? Tag order and white space do not
 * matter; a missing k= means rsa (RFC 6376 3.6.1).
 */
enum dkim_txt_match dkim_txt_compare(const char *rec, size_t len, enum store_dkim_alg a,
                                     const char *p);

#endif
