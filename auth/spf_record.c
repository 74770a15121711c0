/*
 * spf_record.c - one SPF record: recognising it among a name's TXT
 * records and checking its whole syntax into terms, without DNS.
 *
 * SUMMARY
 *   record    = "v=spf1" *( 1*SP ( directive / modifier ) ) *SP
 *   directive = [ "+" / "-" / "~" / "?" ] mechanism
 *   modifier  = redirect / explanation / unknown-modifier
 *   unknown-modifier = name "=" macro-string,
 *   name      = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 *   A term is a modifier when it starts with a name followed by "=";
 *   otherwise it is a mechanism, whose name (up to ":" or "/") must be
 *   one of all, include, a, mx, ptr, ip4, ip6, exists (any case). Names
 *   of the known modifiers are not "unknown": a bad redirect= or exp= is
 *   an error, not ignored. Unknown modifiers are checked (macro syntax)
 *   and dropped.
 *
 *   Domain-specs are macro-strings (letters c, r, t not allowed) ending
 *   in a macro or in "." toplabel (RFC 7208 7.1); a/mx take a dual CIDR
 *   suffix ("/24", "//64", "/24//64"); ip4/ip6 take one prefix. Prefix
 *   lengths are decimal without leading zeros, at most 32 / 128.
 *   Terms are separated by spaces only: a tab, CR, LF, NUL or non-ASCII
 *   byte anywhere in a term makes the record a syntax error.
 *
 * NEVER
 *   Never does DNS, never reads past len (records may hold NUL bytes),
 *   never accepts a record longer than SPF_RECORD_MAX.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "spf_macro.h"
#include "spf_record.h"
#include "util.h"

#define QUOTE_MAX 64 /* bytes of a term quoted in an error */

static const struct {
    const char *name;
    enum spf_mech mech;
} mech_names[] = {
    {"all", SPF_MECH_ALL}, {"include", SPF_MECH_INCLUDE}, {"a", SPF_MECH_A},
    {"mx", SPF_MECH_MX},   {"ptr", SPF_MECH_PTR},         {"ip4", SPF_MECH_IP4},
    {"ip6", SPF_MECH_IP6}, {"exists", SPF_MECH_EXISTS},
};

/* spf_printable - append s for logs and headers, escaped and bounded */
void spf_printable(struct buf *out, const char *s, size_t len, size_t max)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (i == max) {
            buf_puts(out, "...");
            return;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf_putc(out, c);
        else
            buf_printf(out, "\\x%02X", c);
    }
}

/* term_err - "what \"term\"" into err; returns false */
static bool term_err(char *err, size_t errlen, const char *what, const char *t, size_t n)
{
    struct buf b = BUF_INIT;

    buf_printf(&b, "%s \"", what);
    spf_printable(&b, t, n, QUOTE_MAX);
    buf_putc(&b, '"');
    if (!strlcpy_ok(err, buf_cstr(&b), errlen) && errlen > 4)
        memcpy(err + errlen - 4, "...", 4);
    buf_free(&b);
    return false;
}

/* spf_record_is_spf - "v=spf1" in any case, then a space or the end */
bool spf_record_is_spf(const char *txt, size_t len)
{
    return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 && (len == 6 || txt[6] == ' ');
}

/* spf_net_match - true if the first bits of addr and net agree */
bool spf_net_match(const unsigned char *net, const unsigned char *addr, unsigned bits)
{
    size_t full = bits / 8;
    unsigned rem = bits % 8;

    if (memcmp(net, addr, full) != 0)
        return false;
    if (rem != 0) {
        unsigned char mask = (unsigned char)(0xff00u >> rem);

        return (net[full] & mask) == (addr[full] & mask);
    }
    return true;
}

/* parse_prefix - s[0..n) as a prefix length in 0..max, no leading zeros */
static bool parse_prefix(const char *s, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;

    if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* digits_before - length of the run of digits ending at s[n - 1] */
static size_t digits_before(const char *s, size_t n)
{
    size_t k = 0;

    while (k < n && s[n - 1 - k] >= '0' && s[n - 1 - k] <= '9')
        k++;
    return k;
}

/*
 * split_dual_cidr - take "/N", "//M" or "/N//M" off the end of s[0..*n),
 * shortening *n; false if a prefix is out of range
 */
static bool split_dual_cidr(const char *s, size_t *n, unsigned *c4, unsigned *c6)
{
    size_t k = digits_before(s, *n);

    *c4 = 32;
    *c6 = 128;
    if (k > 0 && *n >= k + 2 && s[*n - k - 1] == '/' && s[*n - k - 2] == '/') {
        if (!parse_prefix(s + *n - k, k, 128, c6))
            return false;
        *n -= k + 2;
        k = digits_before(s, *n);
    }
    if (k > 0 && *n >= k + 1 && s[*n - k - 1] == '/') {
        if (!parse_prefix(s + *n - k, k, 32, c4))
            return false;
        *n -= k + 1;
    }
    return true;
}

/* domain_spec_ok - a non-empty macro-string ending as a domain must */
static bool domain_spec_ok(const char *s, size_t n, char *err, size_t errlen)
{
    char why[128];

    if (n == 0) {
        strlcpy_ok(err, "empty domain-spec", errlen);
        return false;
    }
    if (!spf_macro_check(s, n, 0, why, sizeof(why)))
        return term_err(err, errlen, why, s, n);
    if (!spf_macro_ends_ok(s, n))
        return term_err(err, errlen, "not a domain name (bad top label)", s, n);
    return true;
}

/* parse_ip - ip4/ip6 argument "addr[/prefix]" (after the ':') */
static bool parse_ip(struct spf_term *t, const char *s, size_t n, char *err, size_t errlen)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    bool v4 = t->mech == SPF_MECH_IP4;
    char addr[64];

    if (alen == 0 || alen >= sizeof(addr))
        return term_err(err, errlen, v4 ? "bad IPv4 address in" : "bad IPv6 address in", s, n);
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (memchr(addr, '\0', alen) != NULL || inet_pton(v4 ? AF_INET : AF_INET6, addr, t->net) != 1)
        return term_err(err, errlen, v4 ? "bad IPv4 address in" : "bad IPv6 address in", s, n);
    if (slash == NULL)
        return true;
    if (!parse_prefix(slash + 1, n - alen - 1, v4 ? 32 : 128, v4 ? &t->cidr4 : &t->cidr6))
        return term_err(err, errlen, "bad prefix length in", s, n);
    return true;
}

/* parse_mechanism - one directive t[0..n) into a term; false with err */
static bool parse_mechanism(struct spf_term *term, const char *t, size_t n, char *err,
                            size_t errlen)
{
    size_t i = 0, nlen, alen;
    const char *arg;
    bool found = false;

    term->qualifier = '+';
    if (n > 0 && t[0] != '\0' && strchr("+-~?", t[0]) != NULL) {
        term->qualifier = t[0];
        i = 1;
    }
    for (nlen = 0; i + nlen < n && t[i + nlen] != ':' && t[i + nlen] != '/'; nlen++)
        ;
    for (size_t k = 0; k < sizeof(mech_names) / sizeof(mech_names[0]); k++) {
        if (strlen(mech_names[k].name) == nlen &&
            strncasecmp(t + i, mech_names[k].name, nlen) == 0) {
            term->mech = mech_names[k].mech;
            found = true;
        }
    }
    if (!found)
        return term_err(err, errlen, "unknown mechanism", t, n);
    arg = t + i + nlen; /* ":..." or "/..." or "" */
    alen = n - i - nlen;
    term->cidr4 = 32;
    term->cidr6 = 128;

    switch (term->mech) {
    case SPF_MECH_ALL:
        if (alen != 0)
            return term_err(err, errlen, "\"all\" takes no argument:", t, n);
        return true;
    case SPF_MECH_INCLUDE:
    case SPF_MECH_EXISTS:
        if (alen == 0 || arg[0] != ':')
            return term_err(err, errlen, "missing \":domain\" in", t, n);
        if (!domain_spec_ok(arg + 1, alen - 1, err, errlen))
            return false;
        term->domain_spec = xstrndup(arg + 1, alen - 1);
        return true;
    case SPF_MECH_A:
    case SPF_MECH_MX:
        if (!split_dual_cidr(arg, &alen, &term->cidr4, &term->cidr6))
            return term_err(err, errlen, "bad prefix length in", t, n);
        /* fall through */
    case SPF_MECH_PTR:
        if (alen == 0)
            return true;
        if (arg[0] != ':')
            return term_err(err, errlen, "bad argument in", t, n);
        if (!domain_spec_ok(arg + 1, alen - 1, err, errlen))
            return false;
        term->domain_spec = xstrndup(arg + 1, alen - 1);
        return true;
    case SPF_MECH_IP4:
    case SPF_MECH_IP6:
        if (alen < 2 || arg[0] != ':')
            return term_err(err, errlen, "missing address in", t, n);
        return parse_ip(term, arg + 1, alen - 1, err, errlen);
    }
    return false;
}

/* modifier_name_len - length of name in "name=", or 0 if t is no modifier */
static size_t modifier_name_len(const char *t, size_t n)
{
    size_t i;

    if (n == 0 || !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
        return 0;
    for (i = 1; i < n; i++) {
        char c = t[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            break;
    }
    return i < n && t[i] == '=' ? i : 0;
}

/* parse_modifier - a "name=value" term; false with err */
static bool parse_modifier(struct spf_record *r, const char *t, size_t n, size_t name_len,
                           char *err, size_t errlen)
{
    const char *v = t + name_len + 1;
    size_t vlen = n - name_len - 1;
    char **slot = NULL;
    char why[128];

    if (name_len == 8 && strncasecmp(t, "redirect", 8) == 0)
        slot = &r->redirect;
    else if (name_len == 3 && strncasecmp(t, "exp", 3) == 0)
        slot = &r->exp;
    if (slot == NULL) { /* unknown modifier: must be a valid macro-string */
        if (!spf_macro_check(v, vlen, SPF_MACRO_CRT, why, sizeof(why)))
            return term_err(err, errlen, why, t, n);
        return true;
    }
    if (*slot != NULL)
        return term_err(err, errlen, "modifier given twice:", t, n);
    if (!domain_spec_ok(v, vlen, err, errlen))
        return false;
    *slot = xstrndup(v, vlen);
    return true;
}

/* spf_record_parse - check the whole record and split it into terms */
struct spf_record *spf_record_parse(const char *txt, size_t len, char *err, size_t errlen)
{
    struct spf_record *r;
    size_t i, cap = 0;

    if (len > SPF_RECORD_MAX) {
        if (!snprintf_ok(err, errlen, "record longer than %d bytes", SPF_RECORD_MAX))
            strlcpy_ok(err, "record too long", errlen);
        return NULL;
    }
    if (!spf_record_is_spf(txt, len)) {
        strlcpy_ok(err, "not an SPF record", errlen);
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    for (i = 6; i < len;) {
        size_t start, n, name_len;

        while (i < len && txt[i] == ' ')
            i++;
        if (i == len)
            break;
        start = i;
        while (i < len && txt[i] != ' ')
            i++;
        n = i - start;
        name_len = modifier_name_len(txt + start, n);
        if (name_len > 0) {
            if (!parse_modifier(r, txt + start, n, name_len, err, errlen))
                return spf_record_free(r);
            continue;
        }
        if (r->nterms == cap) {
            cap = cap ? cap * 2 : 8;
            r->terms = xrealloc(r->terms, cap * sizeof(*r->terms));
        }
        memset(&r->terms[r->nterms], 0, sizeof(r->terms[0]));
        r->terms[r->nterms].text = xstrndup(txt + start, n);
        r->nterms++;
        if (!parse_mechanism(&r->terms[r->nterms - 1], txt + start, n, err, errlen))
            return spf_record_free(r);
    }
    return r;
}

/* spf_record_free - free a parsed record; returns NULL */
struct spf_record *spf_record_free(struct spf_record *r)
{
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < r->nterms; i++) {
        free(r->terms[i].text);
        free(r->terms[i].domain_spec);
    }
    free(r->terms);
    free(r->redirect);
    free(r->exp);
    return xfree(r);
}
