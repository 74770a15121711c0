/*
 * spf_macro.c - RFC 7208 section 7 macro strings: syntax check and
 * expansion, without DNS.
 *
 * SUMMARY
 *   macro-string = *( macro-expand / macro-literal )
 *   macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                  / "%%" / "%_" / "%-"
 *   Letters s l o d i p h v everywhere, c r t only in explanation text;
 *   case-insensitive, an upper-case letter URL-escapes its value (every
 *   byte outside ALPHA DIGIT "-" "." "_" "~" becomes %XX). Transformers:
 *   a non-zero count of right-hand parts to keep, then "r" to reverse;
 *   delimiters (any of . - + , / _ =) split the value, "." by default;
 *   the kept parts are joined with ".".
 *
 * BOUNDS
 *   An expansion longer than SPF_MACRO_MAX bytes is an error (a hostile
 *   record cannot make us build megabytes); a transformer count is capped
 *   while parsing (no overflow); the parts of a value are counted before
 *   they are stored.
 *
 * NEVER
 *   Never does DNS itself (%{p} comes from the caller's callback), never
 *   reads past len (strings may hold NUL bytes), never accepts a byte
 *   outside printable ASCII.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spf_macro.h"
#include "util.h"

#define DELIMITERS ".-+,/_="
#define COUNT_CAP  1000 /* a transformer count beyond any real number of parts */
#define MAX_DELIMS 8

/* set_err - store a reason (truncation checked); returns false */
static bool set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return false;
    va_start(ap, fmt);
    n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= errlen)
        strlcpy_ok(err, "macro syntax error", errlen);
    return false;
}

/* is_alpha - ASCII letter */
static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_digit - ASCII digit */
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* is_unreserved - RFC 3986 unreserved: kept as is by URL escaping */
static bool is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* letter_value - the value of a lower-case macro letter */
static const char *letter_value(int letter, const struct spf_macro_vars *v)
{
    const char *s = NULL;

    switch (letter) {
    case 's':
        s = v->s;
        break;
    case 'l':
        s = v->l;
        break;
    case 'o':
        s = v->o;
        break;
    case 'd':
        s = v->d;
        break;
    case 'i':
        s = v->i;
        break;
    case 'p':
        s = v->p_get ? v->p_get(v->p_arg) : "unknown";
        break;
    case 'v':
        s = v->v;
        break;
    case 'h':
        s = v->h;
        break;
    case 'c':
        s = v->c;
        break;
    case 'r':
        s = v->r;
        break;
    case 't':
        s = v->t;
        break;
    }
    return s ? s : "";
}

/* is_delim - true if c is one of the macro's delimiters */
static bool is_delim(char c, const char *delims, size_t ndelims)
{
    return memchr(delims, c, ndelims) != NULL;
}

/*
 * transform - append value split on delims, optionally reversed, keeping
 * the right-most count parts (0 = all), joined with "."; escaped if url
 */
static void transform(struct buf *out, const char *value, unsigned count, bool reverse,
                      const char *delims, size_t ndelims, bool url)
{
    size_t vlen = strlen(value), nparts = 1, first, k = 0;
    size_t *start, *plen;
    struct buf tmp = BUF_INIT;

    for (size_t i = 0; i < vlen; i++)
        if (is_delim(value[i], delims, ndelims))
            nparts++;
    start = xcalloc(nparts, sizeof(*start));
    plen = xcalloc(nparts, sizeof(*plen));
    start[0] = 0;
    for (size_t i = 0; i <= vlen; i++) {
        if (i == vlen || is_delim(value[i], delims, ndelims)) {
            plen[k] = i - start[k];
            if (++k < nparts)
                start[k] = i + 1;
        }
    }
    if (reverse) {
        for (size_t a = 0, b = nparts - 1; a < b; a++, b--) {
            size_t ts = start[a], tl = plen[a];

            start[a] = start[b];
            plen[a] = plen[b];
            start[b] = ts;
            plen[b] = tl;
        }
    }
    first = (count == 0 || count >= nparts) ? 0 : nparts - count;
    for (size_t p = first; p < nparts; p++) {
        if (p > first)
            buf_putc(&tmp, '.');
        buf_add(&tmp, value + start[p], plen[p]);
    }
    if (!url) {
        buf_add(out, tmp.data ? tmp.data : "", tmp.len);
    } else {
        for (size_t i = 0; i < tmp.len; i++) {
            unsigned char c = (unsigned char)tmp.data[i];

            if (is_unreserved(c))
                buf_putc(out, c);
            else
                buf_printf(out, "%%%02X", c);
        }
    }
    buf_free(&tmp);
    free(start);
    free(plen);
}

/* parse_expand - parse "%{...}" at s[*i] ('{' already seen at s[*i - 1]);
 * append its expansion if vars; false with err on bad syntax */
static bool parse_expand(const char *s, size_t len, size_t *i, unsigned flags,
                         const struct spf_macro_vars *vars, struct buf *out, char *err,
                         size_t errlen)
{
    char delims[MAX_DELIMS];
    size_t ndelims = 0, ndigits = 0;
    unsigned count = 0;
    bool reverse = false, upper;
    int letter;

    if (*i >= len)
        return set_err(err, errlen, "unterminated macro");
    letter = (unsigned char)s[*i];
    upper = letter >= 'A' && letter <= 'Z';
    if (upper)
        letter += 'a' - 'A';
    if (letter == '\0' || strchr("slodiphvcrt", letter) == NULL) {
        unsigned char c = (unsigned char)s[*i];

        if (c > 0x20 && c < 0x7f)
            return set_err(err, errlen, "unknown macro letter '%c'", c);
        return set_err(err, errlen, "unknown macro letter 0x%02x", c);
    }
    if (strchr("crt", letter) != NULL && !(flags & SPF_MACRO_CRT))
        return set_err(err, errlen, "macro letter '%c' is only allowed in explanations", letter);
    (*i)++;
    while (*i < len && is_digit((unsigned char)s[*i])) {
        count = count * 10 + (unsigned)(s[*i] - '0');
        if (count > COUNT_CAP)
            count = COUNT_CAP;
        ndigits++;
        (*i)++;
    }
    if (ndigits > 0 && count == 0)
        return set_err(err, errlen, "macro part count must not be zero");
    if (*i < len && (s[*i] == 'r' || s[*i] == 'R')) {
        reverse = true;
        (*i)++;
    }
    while (*i < len && s[*i] != '\0' && strchr(DELIMITERS, s[*i]) != NULL) {
        if (ndelims < MAX_DELIMS && !is_delim(s[*i], delims, ndelims))
            delims[ndelims++] = s[*i];
        (*i)++;
    }
    if (*i >= len || s[*i] != '}')
        return set_err(err, errlen, "bad macro transformer or missing '}'");
    (*i)++;
    if (ndelims == 0)
        delims[ndelims++] = '.';
    if (vars != NULL)
        transform(out, letter_value(letter, vars), count, reverse, delims, ndelims, upper);
    return true;
}

/* spf_macro_expand - check s and, with vars, append its expansion to out */
bool spf_macro_expand(const char *s, size_t len, unsigned flags, const struct spf_macro_vars *vars,
                      struct buf *out, char *err, size_t errlen)
{
    size_t start = out ? out->len : 0, i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            if (i + 1 >= len) {
                set_err(err, errlen, "'%%' at the end of a macro string");
                goto bad;
            }
            c = (unsigned char)s[i + 1];
            i += 2;
            if (c == '{') {
                if (!parse_expand(s, len, &i, flags, vars, out, err, errlen))
                    goto bad;
            } else if (c == '%' || c == '_' || c == '-') {
                if (vars != NULL)
                    buf_puts(out, c == '%' ? "%" : c == '_' ? " " : "%20");
            } else {
                set_err(err, errlen, "'%%' followed by 0x%02x", c);
                goto bad;
            }
        } else if ((c > 0x20 && c < 0x7f) || (c == ' ' && (flags & SPF_MACRO_SPACE))) {
            if (vars != NULL)
                buf_putc(out, c);
            i++;
        } else {
            set_err(err, errlen, "character 0x%02x not allowed", c);
            goto bad;
        }
        if (vars != NULL && out->len - start > SPF_MACRO_MAX) {
            set_err(err, errlen, "macro expansion longer than %d bytes", SPF_MACRO_MAX);
            goto bad;
        }
    }
    return true;
bad:
    if (vars != NULL)
        buf_truncate(out, start);
    return false;
}

/* spf_macro_check - syntax only */
bool spf_macro_check(const char *s, size_t len, unsigned flags, char *err, size_t errlen)
{
    return spf_macro_expand(s, len, flags, NULL, NULL, err, errlen);
}

/* toplabel_ok - RFC 7208 toplabel: alphanumerics with at least one
 * letter, or alphanumerics and inner dashes */
static bool toplabel_ok(const char *s, size_t len)
{
    bool alpha = false, dash = false;

    if (len == 0 || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '-')
            dash = true;
        else if (is_alpha(c))
            alpha = true;
        else if (!is_digit(c))
            return false;
    }
    return alpha || dash;
}

/* spf_macro_ends_ok - domain-end: a macro-expand, or "." toplabel ["."] */
bool spf_macro_ends_ok(const char *s, size_t len)
{
    size_t lit = 0, i = 0, end, dot;

    while (i < len) {
        if (s[i] == '%' && i + 1 < len) {
            if (s[i + 1] == '{') {
                const char *close = memchr(s + i, '}', len - i);

                i = close ? (size_t)(close - s) + 1 : len;
            } else {
                i += 2;
            }
            lit = i; /* the literal tail starts after this macro */
        } else {
            i++;
        }
    }
    if (lit == len)
        return len > 0; /* ends with a macro-expand */
    end = len;
    if (s[end - 1] == '.')
        end--;
    for (dot = end; dot > lit && s[dot - 1] != '.'; dot--)
        ;
    if (dot == lit)
        return false; /* no "." before the top label in the literal tail */
    return toplabel_ok(s + dot, end - dot);
}
