/*
 * from_domain.h - the author domains DMARC must judge: a strict reading
 * of the RFC5322.From header field(s) (RFC 5322 3.4 and 3.6.2, groups per
 * RFC 6854, UTF-8 per RFC 6532).
 *
 * The answer is a set of candidate domains (normalised: lower case, A-
 * labels, no trailing dot) plus flags that say what was odd. DMARC is
 * evaluated for EVERY candidate and the strictest outcome wins (see
 * dmarc.h), so whichever address a mail reader shows, a forged header
 * cannot get a pass for a domain it does not belong to, and no oddity
 * makes DMARC be skipped for a domain that appears as an author. Why not
 * "several domains => permerror + reject"? That rejects the rare lawful
 * multi-author message outright and throws away which domain failed;
 * evaluating each costs a few lookups (bounded by FROM_DOMAIN_MAX) and a
 * forged domain still fails with its owner's own policy.
 *
 * Outcome table. "cands" are the candidate domains in order; "DMARC" is
 * what dmarc_eval() then answers (dmarc.h): "each" = evaluated for every
 * candidate, the strictest answer wins; "permerror/-" = permerror with
 * header.from absent, disposition none, from_flags saying why.
 *
 *   From field(s)                        flags             cands               DMARC
 *   -----------------------------------  ----------------  ------------------  -----------
 *   (no From field)                      ABSENT            -                   permerror/-
 *   a@b.example                          -                 b.example           normal
 *   A@B.EXAMPLE  /  a@example.com.       -                 b.example /         normal
 *                                                          example.com
 *   a@b.example (comment)                -                 b.example           normal
 *   (c) <a@b.example>                    -                 b.example           normal
 *   (x@evil.example) <a@b.example>       -                 b.example           normal
 *   =?utf-8?q?J=C3=B6rg?= <a@b.example>  -                 b.example           normal
 *     (an encoded-word is an atom of the display name; never decoded)
 *   "ceo@victim.example" <a@b.example>   -                 b.example           normal
 *     (display names are not identities: see below)
 *   a@b.example, c@b.example             -                 b.example           normal
 *   a@b.example, c@d.example             MULTI             b.example d.example each
 *   Group: a@b.example, c@d.example;     GROUP MULTI       b.example d.example each
 *   undisclosed:;                        GROUP EMPTY       -                   permerror/-
 *   (empty value, only a comment)        EMPTY             -                   permerror/-
 *   two From fields                      FIELDS [MULTI]    union of both       each
 *   "x <a@junk.example>"@victim.example  QUOTED MULTI      victim.example      each
 *                                                          junk.example
 *     (the addr-spec's domain is victim.example; an '@domain' inside a
 *     quoted local-part is added after it: a reader may show it)
 *   <a@b.example  /  a@b.example>        SYNTAX            b.example           normal
 *   info@b.example <info@b.example>      SYNTAX            b.example           normal
 *   x@y.example <a@b.example>            SYNTAX MULTI      y.example b.example each
 *   John Doe   (no address at all)       SYNTAX EMPTY      -                   permerror/-
 *   a@[192.0.2.1]  /  a@192.0.2.1        INVALID EMPTY     -                   permerror/-
 *   a@[192.0.2.1], c@d.example           INVALID           d.example           each, and
 *                                                                              at least
 *                                                                              permerror
 *   a@bad..example                       SYNTAX INVALID    -                   permerror/-
 *                                        EMPTY
 *   a@victim.example!                    SYNTAX INVALID    victim.example      at least
 *                                                                              permerror
 *   a@münchen.example                    -                 xn--mnchen-3ya.     normal
 *                                                          example
 *   > FROM_DOMAIN_MAX distinct domains   TOO_MANY MULTI    (first 8, unused)   permerror/-
 *
 * "at least permerror": an invalid candidate ranks as a permerror, so
 * the others can turn it into a fail but never into none or pass.
 *
 * Why display names and comments of a well-formed field are not scanned
 * for addresses: services legitimately write "someone@gmail.com via
 * Helpdesk" <support@company.example>; judging gmail.com's policy there
 * would reject honest mail. DMARC's identifier is the addr-spec.

 * SYNTAX: a field the strict parser rejects is not guessed at; instead
 * every "@domain" in its raw text (display names and comments included)
 * becomes a candidate ("salvage"), so unbalanced brackets or a bare '@'
 * in a display name can only add domains that must pass, never hide one.
 * Candidates from addr-specs come first (the first is header.from when
 * everything passes), then domains found inside quoted local-parts.
 *
 * Bounded: one linear pass over each field; thousands of mailboxes of a
 * few domains cost nothing more; domains beyond FROM_DOMAIN_MAX stop the
 * analysis (TOO_MANY). Thread safe (no shared state). Never does DNS.
 */
#ifndef POSTMETER_FROM_DOMAIN_H
#define POSTMETER_FROM_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "orgdomain.h"

/* At most this many distinct candidate domains are kept and evaluated. */
#define FROM_DOMAIN_MAX 8

/* flags */
#define FROM_DOMAIN_ABSENT   0x01u  /* no From field at all */
#define FROM_DOMAIN_FIELDS   0x02u  /* more than one From field */
#define FROM_DOMAIN_SYNTAX   0x04u  /* a field failed the strict parse; salvaged */
#define FROM_DOMAIN_MULTI    0x08u  /* more than one distinct candidate domain */
#define FROM_DOMAIN_GROUP    0x10u  /* group syntax (RFC 6854) */
#define FROM_DOMAIN_QUOTED   0x20u  /* an '@domain' inside a quoted local-part */
#define FROM_DOMAIN_INVALID  0x40u  /* a domain was a literal or not a usable name */
#define FROM_DOMAIN_EMPTY    0x80u  /* a field gave no candidate domain */
#define FROM_DOMAIN_TOO_MANY 0x100u /* more than FROM_DOMAIN_MAX candidates */

struct from_domains {
    unsigned flags;
    size_t nfields;    /* From fields examined */
    size_t nmailboxes; /* mailboxes the strict parser accepted */
    size_t n;          /* candidates in domain[] */
    char domain[FROM_DOMAIN_MAX][ORGDOMAIN_LEN];
};

/*
 * from_domain_analyze - the candidate author domains of the From fields
 * values[0..nvalues) (field bodies after "From:", folding allowed).
 * nvalues == 0 means the message has no From field. Fills *out.
 */
void from_domain_analyze(const char *const *values, size_t nvalues, struct from_domains *out);

/*
 * from_domain_usable - true when DMARC can be evaluated: at least one
 * candidate and not TOO_MANY. (INVALID with other candidates is usable:
 * the invalid one counts as a permerror among their results.)
 */
bool from_domain_usable(const struct from_domains *fd);

/* from_domain_problem - short text for the oddest flag, or NULL if none */
const char *from_domain_problem(unsigned flags);

#endif
