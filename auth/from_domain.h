/*
 * from_domain.h - the author domains DMARC must judge: a strict reading
 * of the RFC5322.From header field(s) (RFC 5322 3.4 and 3.6.2, groups per
 * RFC 6854, UTF-8 per RFC 6532), plus every domain a lenient mail reader
 * could show in a field the strict reading rejects.
 *
 * The answer is a set of candidate domains (normalised: lower case, A-
 * labels, no trailing dot) plus flags that say what was odd. DMARC is
 * evaluated for EVERY candidate and the strictest outcome wins (see
 * dmarc.h), so whichever address a mail reader shows, a forged header
 * cannot get a pass for a domain it does not belong to, and no oddity
 * makes DMARC be skipped for a domain that appears as an author.
 *
 * Two kinds of answer (habit 16: "cannot evaluate" never lets mail by):
 *   clean  well-formed, at most FROM_DOMAIN_MAX domains: each candidate
 *          gets normal DMARC, the strictest answer wins ("each" below);
 *   bad    a flag of FROM_DOMAIN_BAD (malformed, encoded-word or literal
 *          where an address is, an '@' in a local-part, no mailbox, no
 *          From, too many domains):
 *          every candidate counts as FAILING DMARC under its own policy,
 *          and the configured dmarc_bad_from action (default reject)
 *          applies on top; too many domains is a reject outright
 *          (dmarc.h, inbound.h).
 *
 * Outcome table ("-" = no candidate):
 *
 *   From field(s)                        flags             cands               kind
 *   -----------------------------------  ----------------  ------------------  ------
 *   (no From field)                      ABSENT            -                   bad
 *   a@b.example                          -                 b.example           clean
 *   A@B.EXAMPLE  /  a@example.com.       -                 b.example /         clean
 *                                                          example.com
 *   a@b.example (comment)                -                 b.example           clean
 *   (x@evil.example) <a@b.example>       -                 b.example           clean
 *   a@b.example (ceo@victim.example)     -                 b.example           clean
 *   a(c)@b.example                       -                 b.example           clean
 *   ceo(ceo@victim.example)@b.example    SYNTAX MULTI      victim.example      bad
 *                                                          b.example
 *   <(ceo@victim.example)a@b.example>  /  <a@b.example (ceo@victim.example)>
 *                                        SYNTAX MULTI      (as above)          bad
 *   ceo@(victim.example)b.example        SYNTAX            b.example           bad
 *     (a comment inside an address: one with an '@' before or after the
 *     domain, any inside the domain; one after the whole address, outside
 *     any angle brackets, is a name as above)
 *   =?utf-8?q?J=C3=B6rg?= <a@b.example>  -                 b.example           clean
 *     (an encoded-word display name is not decoded: not an identity)
 *   "ceo@victim.example" <a@b.example>   -                 b.example           clean
 *     (display names are not identities: see below)
 *   a@b.example, c@b.example             -                 b.example           clean
 *   a@b.example, c@d.example             MULTI             b.example d.example clean
 *   Group: a@b.example, c@d.example;     GROUP MULTI       b.example d.example clean
 *   undisclosed:;                        GROUP EMPTY       -                   bad
 *   (empty value, only a comment)        EMPTY             -                   bad
 *   two From fields                      FIELDS [MULTI]    union of both       dmarc_
 *                                                                              multiple_
 *                                                                              from
 *   "x <a@junk.example>"@victim.example  QUOTED MULTI      victim.example      bad
 *                                                          junk.example
 *     (the addr-spec's domain is victim.example; an '@domain' inside a
 *     quoted local-part is added after it: a reader may show it)
 *   "x@b.example"@b.example              QUOTED            b.example           bad
 *     (an '@' in a local-part is bad whatever follows it)
 *   "ceo@<DEL>victim.example"@b.example  QUOTED MULTI      b.example           bad
 *     (after an '@' in a local-part, controls,              victim.example
 *     Unicode spaces and punctuation such as " < , ; : ] are skipped
 *     before the name is read)
 *   ceo\uFF20victim.example@b.example    QUOTED MULTI      b.example           bad
 *     (a look-alike '@' in a local-part)                   victim.example
 *   "ceo@\\victim.example"@b.example     QUOTED MULTI      b.example           bad
 *     (read unescaped; so is "ceo@vic<U+00AD>tim..."        victim.example
 *     with the soft hyphen dropped, as IDNA does)
 *   "ceo@vic<U+200E>tim.example"@b.example                 b.example           bad
 *                                        QUOTED MULTI      victim.example
 *     (IDNA refuses it: read as a    INVALID
 *     reader shows it, without the invisible character)
 *   =?utf-8?q?ceo=40victim.example?=@b.example             b.example           bad
 *                                        ENCODED QUOTED    victim.example
 *                                        MULTI
 *     (readers show "ceo@victim.example"@b.example)
 *   =?utf-8?b?Y2VvQHZpY3RpbS5leGFtcGxl?= SYNTAX ENCODED    victim.example      bad
 *   <=?utf-8?q?ceo=40victim.example?=>   SYNTAX ENCODED    victim.example      bad
 *   <a@b.example  /  a@b.example>        SYNTAX            b.example           bad
 *   info@b.example <info@b.example>      SYNTAX            b.example           bad
 *   x@y.example <a@b.example>            SYNTAX MULTI      y.example b.example bad
 *   <@route.example:a@b.example>         SYNTAX MULTI      route.example       bad
 *     (obs-route: not accepted)                            b.example
 *   a@victim.example<U+00A0>             SYNTAX            victim.example      bad
 *     (a domain ends at Unicode white space; invisible characters are
 *     part of it, read as above)
 *   <ceo@ victim.example  /              SYNTAX            victim.example      bad
 *   ceo@(x)victim . example>
 *     (salvage skips CFWS after '@' and around dots)
 *   ceo@<U+202E>elpmaxe.mitciv           SYNTAX INVALID    elpmaxe.mitciv      bad
 *     (right-to-left override: as    BIDI MULTI        victim.example
 *     written and as displayed)
 *   "<U+202E>" <a@b.example>             BIDI MULTI        b.example a         bad
 *   (a field over FROM_VALUE_MAX bytes)  CUT               every "@domain" of  bad
 *                                                          its first bytes
 *   John Doe   (no address at all)       SYNTAX EMPTY      -                   bad
 *   a@[192.0.2.1]  /  a@192.0.2.1        INVALID EMPTY     -                   bad
 *   ceo@[victim.example]                 INVALID           victim.example      bad
 *   a@[192.0.2.1], c@d.example           INVALID           d.example           bad
 *   a@bad..example                       SYNTAX INVALID    -                   bad
 *                                        EMPTY
 *   a@victim.example!                    SYNTAX INVALID    victim.example      bad
 *   a@münchen.example                    -                 xn--mnchen-3ya.     clean
 *                                                          example
 *   > FROM_DOMAIN_MAX distinct domains   TOO_MANY MULTI    (first 8)           bad
 *
 * Why display names and comments of a well-formed field are not scanned
 * for addresses: services legitimately write "someone@gmail.com via
 * Helpdesk" <support@company.example>; judging gmail.com's policy there
 * would reject honest mail, and it is the receiving convention (a
 * comment after an address is what old readers show as its name). DMARC's
 * identifier is the addr-spec.
 *
 * SYNTAX: a field the strict parser rejects is not guessed at; instead
 * every "@domain" in its raw text (display names and comments included)
 * becomes a candidate ("salvage"), and so does every one in the text
 * with its encoded-words decoded (RFC 2047, anywhere, as lenient readers
 * do; ENCODED when that finds a domain the raw text lacks). Salvage reads
 * the text as a reader shows it: quoted-pairs unescaped, CFWS skipped
 * after the '@' and around dots; a domain runs up to the first byte that
 * cannot be in a name, Unicode white space or another '@', and is
 * normalised as an addr-spec's is (orgdomain_normalize: IDNA2008 with
 * the UTS#46 mapping) or, if that refuses it, without its
 * default-ignorable code points (INVALID); a name followed only by odd
 * non-ASCII bytes is read without them; "[name]" is read as the name
 * (INVALID). The same salvage finds the '@domain' in a local-part.
 *
 * QUOTED: an '@' (or a look-alike) anywhere in a local-part - quoted,
 * escaped or in an atom - makes the From bad whatever follows it (no
 * client writes one; a reader shows a second address), and every domain
 * read after such an '@' is a candidate (after it, bytes a reader shows
 * as nothing or as punctuation are skipped before the name). A comment
 * inside an address (before the '@' or inside angle brackets holding an
 * '@', or anywhere within the domain) fails the strict parse (SYNTAX).
 *
 * BIDI: an embedding, override or isolate control (U+202A..U+202E,
 * U+2066..U+2069) anywhere in a field, raw or in a decoded encoded-word,
 * can make a display show another address than the text holds: the
 * field is bad and salvaged both as written and in display order (the
 * text after U+202E reversed up to U+202C / U+2069). Bidi marks (U+200E,
 * U+200F, U+061C) cannot reorder letters and are only invisible.
 *
 * CUT: only the first FROM_VALUE_MAX bytes of a field are read (and
 * salvaged, whatever they hold); the field is bad.
 * Candidates from addr-specs come first (the first is header.from when
 * everything passes), then domains found inside local-parts.
 *
 * Bounded: a few linear passes over at most FROM_VALUE_MAX bytes of each
 * field (decoded, unescaped and display-order copies are never longer
 * than the field; a domain read after an '@' stops at the next '@'); thousands of mailboxes of a
 * few domains cost nothing more; domains beyond FROM_DOMAIN_MAX stop the analysis (TOO_MANY).
 * Thread safe (no shared state). Never does DNS.
 */
#ifndef POSTMETER_FROM_DOMAIN_H
#define POSTMETER_FROM_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "orgdomain.h"

/* At most this many distinct candidate domains are kept and evaluated. */
#define FROM_DOMAIN_MAX 8

/*
 * Bytes of one From field that are read. A longer field is CUT: its
 * first FROM_VALUE_MAX bytes are salvaged (every "@domain" in them,
 * failing) and the rest is not read, so the field is bad. A caller that
 * keeps copies keeps FROM_VALUE_MAX + 1 bytes, so the cut is seen.
 */
#define FROM_VALUE_MAX 65536

/*
 * From fields a reader of the header keeps: more are counted, not read
 * (the message is then FIELDS and TOO_MANY: inbound rejects it, the
 * signer never signs it).
 */
#define FROM_FIELDS_MAX 16

/* flags */
#define FROM_DOMAIN_ABSENT   0x01u  /* no From field at all */
#define FROM_DOMAIN_FIELDS   0x02u  /* more than one From field */
#define FROM_DOMAIN_SYNTAX   0x04u  /* a field failed the strict parse; salvaged */
#define FROM_DOMAIN_MULTI    0x08u  /* more than one distinct candidate domain */
#define FROM_DOMAIN_GROUP    0x10u  /* group syntax (RFC 6854) */
#define FROM_DOMAIN_QUOTED   0x20u  /* an '@' (or look-alike) inside a local-part */
#define FROM_DOMAIN_INVALID  0x40u  /* a domain was a literal or not a usable name */
#define FROM_DOMAIN_EMPTY    0x80u  /* a field gave no candidate domain */
#define FROM_DOMAIN_TOO_MANY 0x100u /* more than FROM_DOMAIN_MAX candidates */
#define FROM_DOMAIN_ENCODED  0x200u /* an encoded-word where an address is */
#define FROM_DOMAIN_CUT      0x400u /* a field longer than FROM_VALUE_MAX: only its start read */
#define FROM_DOMAIN_BIDI     0x800u /* a bidi embedding, override or isolate control */

/* The flags that make a From one DMARC cannot evaluate as usual ("bad"). */
#define FROM_DOMAIN_BAD                                                                            \
    (FROM_DOMAIN_ABSENT | FROM_DOMAIN_SYNTAX | FROM_DOMAIN_INVALID | FROM_DOMAIN_EMPTY |           \
     FROM_DOMAIN_TOO_MANY | FROM_DOMAIN_ENCODED | FROM_DOMAIN_CUT | FROM_DOMAIN_BIDI |             \
     FROM_DOMAIN_QUOTED)

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
 * from_domain_clean - true when DMARC can be evaluated as usual: at
 * least one candidate and none of the flags in bad (FROM_DOMAIN_BAD, or
 * more: dmarc.c adds FIELDS when several From fields are refused).
 */
bool from_domain_clean(const struct from_domains *fd, unsigned bad);

/*
 * from_is_name - is name a From field's name: "From" in any case, also
 * with white space before the colon (RFC 5322 4.5 obs-optional; readers
 * show it as From; Postfix drops that space before a milter sees the
 * name, the CLI may not). Every reader of From fields uses it.
 */
bool from_is_name(const char *name);

/* from_domain_problem - short text for the oddest flag, or NULL if none */
const char *from_domain_problem(unsigned flags);

#endif
