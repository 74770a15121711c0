/*
 * from_readout.c - what a mail reader could show as an address in From
 * text that from_domain.c's strict parser does not accept as one: RFC
 * 2047 encoded-words decoded, '@' look-alikes, quoted-pairs unescaped,
 * CFWS after an '@', Unicode white space that ends a domain, invisible
 * characters read as IDNA reads them (or left out), names in domain
 * literals (see from_domain_int.h); and the small domain set both files
 * fill. from_view.c holds the character classes and reader views.
 *
 * Used only to find MORE candidate domains (each one must then pass
 * DMARC or fail under its owner's policy), never to accept a field.
 *
 * NEVER
 *   Never writes more than its input's length, never reads past end,
 *   never decodes its own output again; a domain read after an '@' stops
 *   at the next '@', so salvage stays linear.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "from_domain_int.h"
#include "orgdomain.h"
#include "util.h"

struct eword {
    const char *end;  /* one past the closing "?=" */
    const char *text; /* encoded text */
    size_t text_len;  /* its length */
    bool b64;         /* B (else Q) */
};

/* is_token - a byte of an RFC 2047 charset or encoding token */
static bool is_token(unsigned char c)
{
    return c > ' ' && c < 0x7f && strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

/* parse_eword - an encoded-word starting at p ("=?"); false if there is none */
static bool parse_eword(const char *p, const char *end, struct eword *w)
{
    const char *cs, *q = p + 2;

    if (end - p < 8 || p[0] != '=' || p[1] != '?')
        return false;
    cs = q;
    while (q < end && is_token((unsigned char)*q))
        q++;
    if (q == cs || q >= end || *q != '?')
        return false;
    q++;
    if (end - q < 3 || q[1] != '?')
        return false;
    if (*q == 'B' || *q == 'b')
        w->b64 = true;
    else if (*q == 'Q' || *q == 'q')
        w->b64 = false;
    else
        return false;
    q += 2;
    w->text = q;
    while (q < end && *q != '?' && (unsigned char)*q > ' ' && (unsigned char)*q < 0x7f)
        q++;
    if (end - q < 2 || q[0] != '?' || q[1] != '=')
        return false;
    w->text_len = (size_t)(q - w->text);
    w->end = q + 2;
    return true;
}

/* b64_value - the 6-bit value of a base64 character, or -1 */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* hex_value - the value of a hex digit, or -1 */
static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* put - one decoded byte; a NUL is dropped (that also reads UTF-16/32 ASCII as ASCII) */
static void put(char *out, size_t *n, unsigned char c)
{
    if (c != 0)
        out[(*n)++] = (char)c;
}

/* decode_eword - the decoded bytes of w appended to out (never more than its raw length) */
static void decode_eword(const struct eword *w, char *out, size_t *n)
{
    unsigned acc = 0, bits = 0;

    for (size_t i = 0; i < w->text_len; i++) {
        unsigned char c = (unsigned char)w->text[i];

        if (w->b64) {
            int v = b64_value(c);

            if (v < 0)
                continue; /* '=' padding and junk: lenient readers skip it */
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                put(out, n, (unsigned char)(acc >> bits));
                acc &= (1u << bits) - 1;
            }
        } else if (c == '_') {
            put(out, n, ' ');
        } else if (c == '=' && i + 2 < w->text_len && hex_value(w->text[i + 1]) >= 0 &&
                   hex_value(w->text[i + 2]) >= 0) {
            put(out, n,
                (unsigned char)(hex_value(w->text[i + 1]) * 16 + hex_value(w->text[i + 2])));
            i += 2;
        } else {
            put(out, n, c);
        }
    }
}

/* from_decode_words - s with every encoded-word decoded (see from_domain_int.h) */
size_t from_decode_words(const char *s, size_t len, char *out, bool *any)
{
    const char *p = s, *end = s + len;
    size_t n = 0;
    bool after_word = false;

    *any = false;
    while (p < end) {
        struct eword w;

        if (*p == '=' && parse_eword(p, end, &w)) {
            decode_eword(&w, out, &n);
            p = w.end;
            *any = after_word = true;
            continue;
        }
        if (after_word && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
            const char *q = p;
            struct eword next;

            while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
                q++;
            if (q < end && *q == '=' && parse_eword(q, end, &next)) {
                p = q; /* RFC 2047 6.2: white space between encoded-words is dropped */
                continue;
            }
        }
        after_word = false;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return n;
}

/* from_at_len - length of an '@' or a look-alike at p, else 0 */
size_t from_at_len(const char *p, const char *end)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t left = (size_t)(end - p);

    if (left >= 1 && u[0] == '@')
        return 1;
    if (left >= 3 && u[0] == 0xef &&
        ((u[1] == 0xbc && u[2] == 0xa0) || (u[1] == 0xb9 && u[2] == 0xab)))
        return 3;
    return 0;
}

/* from_is_atext - RFC 5322 atext, plus any non-ASCII byte (RFC 6532) */
bool from_is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* from_is_wsp - white space or a line break of a folded field */
bool from_is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* is_domain_char - a byte that may be part of a name in salvage */
static bool is_domain_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c >= 0x80;
}

/* from_dset_add - add a normalised name unless present; overflow when full */
void from_dset_add(struct dset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->d[i], name) == 0)
            return;
    if (s->n == FROM_DOMAIN_MAX) {
        s->overflow = true;
        return;
    }
    memcpy(s->d[s->n++], name, ORGDOMAIN_LEN);
}

/* from_dset_merge - add every member of src to dst, in order */
void from_dset_merge(struct dset *dst, const struct dset *src)
{
    for (size_t i = 0; i < src->n; i++)
        from_dset_add(dst, src->d[i]);
    if (src->overflow)
        dst->overflow = true;
}

/* name_tail_junk - is s[0..n) only non-ASCII bytes (an invisible or odd tail)? */
static bool name_tail_junk(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x80)
            return false;
    return n > 0;
}

/*
 * add_name - normalise s[0..n) (trailing dots dropped) into set: as the
 * addr-spec path reads it (orgdomain_normalize: IDNA2008 with the UTS#46
 * mapping, which drops a soft hyphen or a zero-width space); if that
 * refuses it, as a reader shows it, without its default-ignorable code
 * points (INVALID then). False if it is no name either way.
 */
static bool add_name(const char *s, size_t n, struct dset *set, unsigned *flags)
{
    char name[ORGDOMAIN_LEN], *vis;
    size_t m;
    bool ok;

    while (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0)
        return false;
    if (orgdomain_normalize(s, n, name) == ORGDOMAIN_NAME) {
        from_dset_add(set, name);
        return true;
    }
    vis = xmalloc(n + 1);
    m = from_strip_ignorable(s, n, vis);
    while (m > 0 && vis[m - 1] == '.')
        m--;
    ok = m > 0 && m < n && orgdomain_normalize(vis, m, name) == ORGDOMAIN_NAME;
    free(vis);
    if (ok) {
        *flags |= FROM_DOMAIN_INVALID;
        from_dset_add(set, name);
    }
    return ok;
}

/*
 * from_read_literal - the name a reader sees in a domain literal "[victim.example]"
 * (s just after '['; it ends at ']', the next '@' or end); an address
 * literal names nothing. Always INVALID.
 */
void from_read_literal(const char *s, const char *end, struct dset *set, unsigned *flags)
{
    const char *e = s;

    while (e < end && *e != ']' && from_at_len(e, end) == 0)
        e++;
    *flags |= FROM_DOMAIN_INVALID;
    while (s < e && from_is_wsp((unsigned char)*s))
        s++;
    while (e > s && from_is_wsp((unsigned char)e[-1]))
        e--;
    add_name(s, (size_t)(e - s), set, flags);
}

/*
 * skip_cfws - past white space, line folding and comments at s (RFC 5322
 * CFWS); a comment that is unterminated or holds an '@' before its end
 * is not skipped (the '@' starts an address of its own: each byte is
 * read by one '@' only, so salvage stays linear).
 */
static const char *skip_cfws(const char *s, const char *end)
{
    for (;;) {
        const char *q = s;
        size_t depth = 0;

        while (s < end && from_is_wsp((unsigned char)*s))
            s++;
        if (s == end || *s != '(')
            return s;
        for (q = s; q < end; q++) {
            if (from_at_len(q, end) != 0)
                return s;
            if (*q == '(')
                depth++;
            else if (*q == ')' && --depth == 0)
                break;
        }
        if (q == end)
            return s;
        s = q + 1;
    }
}

/*
 * read_domain - the domain a reader sees after an '@' at s: CFWS skipped
 * after the '@' and around dots (obs-domain), then up to the first byte
 * that cannot be part of a name, Unicode white space or another '@';
 * default-ignorable code points are part of the text (add_name). A name
 * followed by odd non-ASCII bytes is read without them. Odd ones flag
 * INVALID.
 */
static void read_domain(const char *s, const char *end, struct dset *set, unsigned *flags)
{
    char text[4 * ORGDOMAIN_LEN];
    const char *q = skip_cfws(s, end);
    size_t n = 0, ascii = 0;
    bool too_long = false;

    if (q < end && *q == '[') {
        from_read_literal(q + 1, end, set, flags);
        return;
    }
    while (q < end && from_uspace_len(q, end) == 0 && from_at_len(q, end) == 0) {
        if (from_is_wsp((unsigned char)*q) || *q == '(') {
            const char *r = skip_cfws(q, end);

            if (r == q || r == end || *r != '.')
                break;
            q = r; /* CFWS before a dot */
            continue;
        }
        if (!is_domain_char((unsigned char)*q))
            break;
        if (n + 1 < sizeof(text))
            text[n++] = *q;
        else
            too_long = true;
        q = *q == '.' ? skip_cfws(q + 1, end) : q + 1;
    }
    if (q < end && from_is_atext((unsigned char)*q) && from_uspace_len(q, end) == 0 &&
        from_at_len(q, end) == 0)
        *flags |= FROM_DOMAIN_INVALID; /* "@victim.example!": the rest is no name */
    while (n > 0 && text[n - 1] == '.')
        n--;
    if (too_long)
        *flags |= FROM_DOMAIN_INVALID;
    if (n == 0 || too_long || add_name(text, n, set, flags))
        return;
    *flags |= FROM_DOMAIN_INVALID;
    while (ascii < n && (unsigned char)text[ascii] < 0x80)
        ascii++;
    if (name_tail_junk(text + ascii, n - ascii))
        add_name(text, ascii, set, flags); /* "victim.example" + a combining mark, say */
}

/*
 * skip_odd - past what a reader may show as nothing or as punctuation
 * between an '@' and a name (controls, DEL, Unicode white space, quotes,
 * '<', ',', ';', ':', ']', a leading '.' or '-', ...): up to a byte that
 * can start a name, a comment, a literal or the next '@'
 */
static const char *skip_odd(const char *p, const char *end)
{
    while (p < end && from_at_len(p, end) == 0) {
        unsigned char c = (unsigned char)*p;
        size_t k = from_uspace_len(p, end);

        if (k == 0 && (c == '(' || c == '[' || (is_domain_char(c) && c != '.' && c != '-')))
            break;
        p += k ? k : 1;
    }
    return p;
}

/* salvage - from_salvage(); lenient: odd bytes after each '@' skipped first (skip_odd) */
static void salvage(const char *s, size_t len, struct dset *set, unsigned *flags, bool lenient)
{
    char *text = xmalloc(len + 1);
    const char *end = text + from_unescape(s, len, text);

    for (const char *p = text; p < end;) {
        size_t at = from_at_len(p, end);

        if (at == 0) {
            p++;
            continue;
        }
        p += at;
        if (lenient)
            p = skip_odd(p, end);
        read_domain(p, end, set, flags);
    }
    free(text);
}

/*
 * from_salvage - every "@domain" (or look-alike '@') in s[0..len) into
 * set, read in the text as a reader shows it: quoted-pairs without their
 * backslash ("ceo@\victim.example" is ceo@victim.example)
 */
void from_salvage(const char *s, size_t len, struct dset *set, unsigned *flags)
{
    salvage(s, len, set, flags, false);
}

/*
 * from_salvage_local - from_salvage() of a local-part: after each '@'
 * what a reader may show as nothing or as punctuation is skipped, so
 * "ceo@<DEL>victim.example" and "ceo@\"victim.example" read victim.example
 */
void from_salvage_local(const char *s, size_t len, struct dset *set, unsigned *flags)
{
    salvage(s, len, set, flags, true);
}

/*
 * from_salvage_decoded - salvage the text with its encoded-words decoded, as
 * a lenient reader shows it; ENCODED if that reads an address the raw
 * text does not have (raw: the domains the raw text gave). True if there
 * was an encoded-word.
 */
bool from_salvage_decoded(const char *s, size_t len, const struct dset *raw, struct dset *set,
                          unsigned *flags)
{
    char *dec;
    bool any;
    size_t n;

    if (len < 8 || memmem(s, len, "=?", 2) == NULL)
        return false;
    dec = xmalloc(len + 1);
    n = from_decode_words(s, len, dec, &any);
    if (any)
        from_salvage_words(dec, n, raw, set, flags);
    free(dec);
    return any;
}

/* from_salvage_words - from_salvage_decoded() of text already decoded */
void from_salvage_words(const char *dec, size_t n, const struct dset *raw, struct dset *set,
                        unsigned *flags)
{
    struct dset found;

    memset(&found, 0, sizeof(found));
    from_salvage(dec, n, &found, flags);
    for (size_t i = 0; i < found.n; i++) {
        bool known = false;

        for (size_t j = 0; raw && j < raw->n && !known; j++)
            known = strcmp(raw->d[j], found.d[i]) == 0;
        if (!known)
            *flags |= FROM_DOMAIN_ENCODED;
    }
    if (found.overflow)
        *flags |= FROM_DOMAIN_ENCODED;
    from_dset_merge(set, &found);
}
