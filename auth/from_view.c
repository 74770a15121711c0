/*
 * from_view.c - how a mail reader renders From text that the strict
 * parser (from_domain.c) does not accept as an address: quoted-pairs
 * shown without their backslash, default-ignorable code points (soft
 * hyphen, zero-width and bidi marks, variation selectors, ...) shown as
 * nothing, white space that ends a domain, and text after a bidi
 * override (U+202E) shown in reverse (see from_domain_int.h).
 *
 * Used only to find MORE candidate domains, never to accept a field.
 *
 * NEVER
 *   Never writes more than its input's length, never reads past end;
 *   every function is one linear pass.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "from_domain_int.h"
#include "util.h"

#define CP_RLO 0x202eu /* RIGHT-TO-LEFT OVERRIDE */
#define CP_PDF 0x202cu /* POP DIRECTIONAL FORMATTING */
#define CP_PDI 0x2069u /* POP DIRECTIONAL ISOLATE */

/* utf8_cp - the code point of the valid UTF-8 sequence at p (*cp) and its length; 0 if none */
static size_t utf8_cp(const char *p, const char *end, unsigned *cp)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t left = (size_t)(end - p), n;
    unsigned v;

    if (left == 0)
        return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] >= 0xc2 && u[0] <= 0xdf) {
        n = 2;
        v = u[0] & 0x1fu;
    } else if (u[0] >= 0xe0 && u[0] <= 0xef) {
        n = 3;
        v = u[0] & 0x0fu;
    } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
        n = 4;
        v = u[0] & 0x07u;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (u[i] & 0x3fu);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)))
        return 0; /* overlong or out of range */
    *cp = v;
    return n;
}

/* is_ignorable - Unicode Default_Ignorable_Code_Point (plus U+180E): rendered as nothing */
static bool is_ignorable(unsigned cp)
{
    return cp == 0xad || cp == 0x34f || cp == 0x61c || (cp >= 0x115f && cp <= 0x1160) ||
           (cp >= 0x17b4 && cp <= 0x17b5) || (cp >= 0x180b && cp <= 0x180f) ||
           (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x206f) || cp == 0x3164 || (cp >= 0xfe00 && cp <= 0xfe0f) ||
           cp == 0xfeff || cp == 0xffa0 || (cp >= 0xfff0 && cp <= 0xfff8) ||
           (cp >= 0x1bca0 && cp <= 0x1bca3) || (cp >= 0x1d173 && cp <= 0x1d17a) ||
           (cp >= 0xe0000 && cp <= 0xe0fff);
}

/* is_bidi_control - an embedding, override or isolate: it reorders what follows */
static bool is_bidi_control(unsigned cp)
{
    return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* from_ignorable_len - length of a default-ignorable code point at p, else 0 */
size_t from_ignorable_len(const char *p, const char *end)
{
    unsigned cp;
    size_t n = utf8_cp(p, end, &cp);

    return n > 1 && is_ignorable(cp) ? n : 0;
}

/* from_uspace_len - length of Unicode white space at p (it ends a domain), else 0 */
size_t from_uspace_len(const char *p, const char *end)
{
    unsigned cp;
    size_t n = utf8_cp(p, end, &cp);

    if (n < 2)
        return 0;
    return cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
                   cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000
               ? n
               : 0;
}

/* from_has_bidi - does s[0..len) hold a bidi embedding, override or isolate control? */
bool from_has_bidi(const char *s, size_t len)
{
    const char *p = s, *end = s + len;

    while ((p = memchr(p, 0xe2, (size_t)(end - p))) != NULL) {
        unsigned cp;
        size_t n = utf8_cp(p, end, &cp);

        if (n == 3 && is_bidi_control(cp))
            return true;
        p++;
    }
    return false;
}

/* from_unescape - s[0..len) with the backslash of every quoted-pair dropped, into out */
size_t from_unescape(const char *s, size_t len, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len)
            i++;
        out[n++] = s[i];
    }
    out[n] = '\0';
    return n;
}

/* from_strip_ignorable - s[0..len) without its default-ignorable code points, into out */
size_t from_strip_ignorable(const char *s, size_t len, char *out)
{
    const char *p = s, *end = s + len;
    size_t n = 0;

    while (p < end) {
        size_t k = from_ignorable_len(p, end);

        if (k > 0) {
            p += k;
            continue;
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
    return n;
}

/* unit_len - length of the code point (or the invalid byte) at p */
static size_t unit_len(const char *p, const char *end, unsigned *cp)
{
    size_t n = utf8_cp(p, end, cp);

    if (n == 0) {
        *cp = 0xfffd;
        n = 1;
    }
    return n;
}

/*
 * from_display_order - s[0..len) as a bidi display shows Latin text: the
 * run after each RIGHT-TO-LEFT OVERRIDE, up to a PDF, PDI or the end,
 * reversed code point by code point; the controls themselves dropped.
 * (Embeddings and isolates do not reorder left-to-right letters.)
 */
size_t from_display_order(const char *s, size_t len, char *out)
{
    const char *p = s, *end = s + len;
    size_t n = 0;

    while (p < end) {
        unsigned cp;
        size_t k = unit_len(p, end, &cp), kept = 0, stop = 0;
        const char *run, *q;
        char *w;

        p += k;
        if (cp != CP_RLO) {
            if (!is_bidi_control(cp)) {
                memcpy(out + n, p - k, k);
                n += k;
            }
            continue;
        }
        /* the overridden run: its bytes without controls, written back to front */
        q = run = p;
        while (q < end) {
            k = unit_len(q, end, &cp);
            if (cp == CP_PDF || cp == CP_PDI) {
                stop = k;
                break;
            }
            if (!is_bidi_control(cp))
                kept += k;
            q += k;
        }
        w = out + n + kept;
        for (const char *r = run; r < q; r += k) {
            k = unit_len(r, q, &cp);
            if (is_bidi_control(cp))
                continue;
            w -= k;
            memcpy(w, r, k);
        }
        n += kept;
        p = q + stop; /* past the PDF / PDI */
    }
    out[n] = '\0';
    return n;
}

/* salvage_display - from_salvage() of s[0..len) in display order */
static void salvage_display(const char *s, size_t len, struct dset *set, unsigned *flags)
{
    char *view = xmalloc(len + 1);
    size_t n = from_display_order(s, len, view);

    from_salvage(view, n, set, flags);
    free(view);
}

/*
 * from_salvage_bidi - for a field holding a bidi control (raw or in a
 * decoded encoded-word): flag BIDI and salvage every domain in both its
 * logical and its display order. False (nothing done) without one.
 */
bool from_salvage_bidi(const char *s, size_t len, const char *dec, size_t declen, struct dset *set,
                       unsigned *flags)
{
    if (!from_has_bidi(s, len) && !(dec && from_has_bidi(dec, declen)))
        return false;
    *flags |= FROM_DOMAIN_BIDI;
    from_salvage(s, len, set, flags);
    salvage_display(s, len, set, flags);
    if (dec) {
        from_salvage(dec, declen, set, flags);
        salvage_display(dec, declen, set, flags);
    }
    return true;
}
