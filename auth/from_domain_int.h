/*
 * from_domain_int.h - what from_domain.c (the strict parser) shares with
 * from_readout.c (reading an address out of text the strict parser does
 * not accept as one, the way a lenient mail reader would show it). Not
 * for other users.
 */
#ifndef POSTMETER_FROM_DOMAIN_INT_H
#define POSTMETER_FROM_DOMAIN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "from_domain.h"
#include "orgdomain.h"

/* A small ordered set of distinct normalised domains. */
struct dset {
    size_t n;
    bool overflow; /* a distinct domain did not fit */
    char d[FROM_DOMAIN_MAX][ORGDOMAIN_LEN];
};

/* from_dset_add - add a normalised name unless present; overflow when full */
void from_dset_add(struct dset *s, const char *name);
/* from_dset_merge - add every member of src to dst, in order */
void from_dset_merge(struct dset *dst, const struct dset *src);

/* from_is_atext - RFC 5322 atext, plus any non-ASCII byte (RFC 6532) */
bool from_is_atext(unsigned char c);
/* from_is_wsp - white space or a line break of a folded field */
bool from_is_wsp(unsigned char c);

/*
 * from_read_literal - the name a reader sees in a domain literal
 * "[victim.example]" (s just after '[', end the end of the text; the
 * literal ends at ']', an '@' or there) into set; an address literal names
 * nothing. Always flags INVALID.
 */
void from_read_literal(const char *s, const char *end, struct dset *set, unsigned *flags);
/*
 * from_salvage - every "@domain" (or look-alike '@') in s[0..len) into
 * set, quoted-pairs unescaped first: after the '@' (and around dots)
 * CFWS is skipped, then a domain is read up to the first byte that
 * cannot be in a name, Unicode white space or another '@'; it is
 * normalised as the addr-spec path does, else without its
 * default-ignorable code points; a name followed only by odd non-ASCII
 * bytes is read without them. Odd ones flag INVALID.
 */
void from_salvage(const char *s, size_t len, struct dset *set, unsigned *flags);
/*
 * from_salvage_local - from_salvage() of a local-part: after each '@'
 * (before reading the name) anything that is no start of a name, comment
 * or literal is skipped up to the next '@' - control characters, DEL,
 * Unicode white space, quotes, '<', ',', ';', ':', ']' - as a reader may
 * show it as nothing or read past it
 */
void from_salvage_local(const char *s, size_t len, struct dset *set, unsigned *flags);
/*
 * from_salvage_decoded - from_salvage() of s with its encoded-words
 * decoded; flags ENCODED when that finds a domain not in raw (NULL: any
 * domain found). True if s held an encoded-word.
 */
bool from_salvage_decoded(const char *s, size_t len, const struct dset *raw, struct dset *set,
                          unsigned *flags);
/*
 * from_salvage_words - the same for text its caller already decoded
 * (dec[0..n) from from_decode_words(), which found an encoded-word)
 */
void from_salvage_words(const char *dec, size_t n, const struct dset *raw, struct dset *set,
                        unsigned *flags);

/*
 * from_decode_words - the text s[0..len) with every RFC 2047 encoded-word
 * ("=?charset?B|Q?text?=", anywhere, also inside atoms and quoted
 * strings, as lenient readers do) replaced by its decoded bytes and the
 * white space between two adjacent encoded-words dropped. Writes at most
 * len bytes plus a NUL to out (which has len + 1 bytes) and returns the
 * length written; *any says whether an encoded-word was decoded. The
 * charset is not converted: decoded bytes are copied, except NUL bytes,
 * which are dropped (so the ASCII of UTF-16 and UTF-32 text reads as
 * ASCII). A decoded word is never decoded again.
 */
size_t from_decode_words(const char *s, size_t len, char *out, bool *any);

/*
 * from_uspace_len - length of the UTF-8 sequence at p (before end) if it
 * is Unicode white space (U+00A0, U+1680, U+2000..U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000): it ends a domain. Else 0.
 */
size_t from_uspace_len(const char *p, const char *end);

/*
 * from_ignorable_len - length of a Default_Ignorable_Code_Point at p
 * (soft hyphen, zero-width space / joiners, bidi marks and controls,
 * word joiner, variation selectors, BOM, U+180E, ...), else 0. A reader
 * renders them as nothing; they do not end a domain.
 */
size_t from_ignorable_len(const char *p, const char *end);

/* from_has_bidi - does s[0..len) hold a bidi embedding, override or isolate? */
bool from_has_bidi(const char *s, size_t len);

/* from_unescape - s[0..len) without quoted-pair backslashes into out (len + 1 bytes) */
size_t from_unescape(const char *s, size_t len, char *out);

/* from_strip_ignorable - s[0..len) without default-ignorables into out (len + 1 bytes) */
size_t from_strip_ignorable(const char *s, size_t len, char *out);

/*
 * from_display_order - s[0..len) in the order a bidi display shows it:
 * each run after U+202E (RIGHT-TO-LEFT OVERRIDE) up to U+202C / U+2069
 * or the end reversed by code point, bidi controls dropped; into out
 * (len + 1 bytes). Returns the length written.
 */
size_t from_display_order(const char *s, size_t len, char *out);

/*
 * from_salvage_bidi - if s[0..len) (or dec[0..declen), its text with
 * encoded-words decoded by from_decode_words(); NULL if it had none)
 * holds a bidi embedding, override or isolate: flag BIDI and salvage
 * both in logical and in display order. False if they hold none.
 */
bool from_salvage_bidi(const char *s, size_t len, const char *dec, size_t declen, struct dset *set,
                       unsigned *flags);

/*
 * from_at_len - length of an '@' at p: 1 for '@', 3 for the look-alikes
 * U+FF20 (fullwidth) and U+FE6B (small commercial at), else 0.
 */
size_t from_at_len(const char *p, const char *end);

#endif
