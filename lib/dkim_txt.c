/*
 * dkim_txt.c - DKIM key records as text (see dkim_txt.h): the value we
 * publish, how it is written in a zone file, how a published one is read
 * back, and the names of domains and selectors.
 *
 * Only public key material passes through here; this file must never
 * see, print or log a private key.
 */
#include <string.h>
#include <time.h>

#include "dkim_txt.h"
#include "util.h"

/* is_ldh_label - s[0..n) is a DNS label of letters, digits and inner hyphens */
static bool is_ldh_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
    }
    return true;
}

/* ldh_labels - s is one or more LDH labels separated by single dots; *count gets how many */
static bool ldh_labels(const char *s, size_t *count)
{
    const char *p = s;

    *count = 0;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        if (!is_ldh_label(p, n))
            return false;
        ++*count;
        if (dot == NULL)
            return true;
        p = dot + 1;
    }
}

/* dkim_txt_domain_ok - a domain name we make keys for */
bool dkim_txt_domain_ok(const char *d)
{
    size_t labels;

    return d != NULL && strlen(d) <= 253 && ldh_labels(d, &labels) && labels >= 2;
}

/* dkim_txt_selector_ok - a selector of at most DKIM_SELECTOR_MAX bytes */
bool dkim_txt_selector_ok(const char *s)
{
    size_t labels;

    return s != NULL && strlen(s) <= DKIM_SELECTOR_MAX && ldh_labels(s, &labels);
}

/* dkim_txt_selector - default selector: s/e + YYYYMMDD [+ -n] */
bool dkim_txt_selector(enum store_dkim_alg a, int64_t now, unsigned n, char *out, size_t outlen)
{
    time_t t = (time_t)now;
    struct tm tm;
    char prefix = a == STORE_DKIM_ED25519_SHA256 ? 'e' : 's';

    if (n == 0 || gmtime_r(&t, &tm) == NULL)
        return false;
    if (n == 1)
        return snprintf_ok(out, outlen, "%c%04d%02d%02d", prefix, tm.tm_year + 1900, tm.tm_mon + 1,
                           tm.tm_mday);
    return snprintf_ok(out, outlen, "%c%04d%02d%02d-%u", prefix, tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, n);
}

/* dkim_txt_key_type - the k= tag of an algorithm */
const char *dkim_txt_key_type(enum store_dkim_alg a)
{
    return a == STORE_DKIM_ED25519_SHA256 ? "ed25519" : "rsa";
}

/* dkim_txt_value - "v=DKIM1; k=TYPE; p=P" */
void dkim_txt_value(struct buf *out, enum store_dkim_alg a, const char *p)
{
    buf_printf(out, "v=DKIM1; k=%s; p=%s", dkim_txt_key_type(a), p);
}

/* dkim_txt_strings - quoted character-strings of at most 255 bytes each */
void dkim_txt_strings(struct buf *out, const char *value, size_t len, const char *sep)
{
    size_t i = 0;

    do {
        size_t end = len - i > DKIM_TXT_STRING_MAX ? i + DKIM_TXT_STRING_MAX : len;

        if (i > 0)
            buf_puts(out, sep);
        buf_putc(out, '"');
        for (; i < end; i++) {
            unsigned char c = (unsigned char)value[i];

            if (c == '"' || c == '\\')
                buf_printf(out, "\\%c", c);
            else if (c < 0x20 || c >= 0x7f)
                buf_printf(out, "\\%03u", c);
            else
                buf_putc(out, c);
        }
        buf_putc(out, '"');
    } while (i < len);
}

/* dkim_txt_zone - one TXT record in zone-file syntax */
void dkim_txt_zone(struct buf *out, const char *owner, const char *value)
{
    size_t len = strlen(value);
    size_t olen = strlen(owner);
    bool dot = olen > 0 && owner[olen - 1] == '.';

    buf_printf(out, "%s%s IN TXT ", owner, dot ? "" : ".");
    if (len <= DKIM_TXT_STRING_MAX) {
        dkim_txt_strings(out, value, len, " ");
    } else {
        buf_puts(out, "( ");
        dkim_txt_strings(out, value, len, "\n\t");
        buf_puts(out, " )");
    }
    buf_putc(out, '\n');
}

/* is_wsp - white space as it may appear in a tag list (FWS, and CR/LF) */
static bool is_wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* dkim_txt_name_ok - a domain or selector DNS and a DKIM tag can take */
bool dkim_txt_name_ok(const char *s)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > 253)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '.') {
            if (label == 0)
                return false; /* leading dot or ".." */
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0; /* no trailing dot */
}

/* dkim_txt_tag - the value of tag in a tag list, white space removed */
bool dkim_txt_tag(const char *rec, size_t len, const char *tag, struct buf *value)
{
    size_t tlen = strlen(tag), i = 0;

    while (i < len) {
        size_t end = i, a, b;
        const char *eq;

        while (end < len && rec[end] != ';')
            end++;
        /* One tag-spec is rec[i..end). */
        a = i;
        while (a < end && is_wsp(rec[a]))
            a++;
        if (a < end) {
            eq = memchr(rec + a, '=', end - a);
            if (eq == NULL)
                return false; /* malformed tag-spec */
            b = (size_t)(eq - rec);
            while (b > a && is_wsp(rec[b - 1]))
                b--;
            if (b - a == tlen && memcmp(rec + a, tag, tlen) == 0) {
                for (size_t k = (size_t)(eq - rec) + 1; k < end; k++)
                    if (!is_wsp(rec[k]))
                        buf_putc(value, rec[k]);
                return true;
            }
        }
        i = end + 1;
    }
    return false;
}

/* dkim_txt_compare - does rec carry our key? */
enum dkim_txt_match dkim_txt_compare(const char *rec, size_t len, enum store_dkim_alg a,
                                     const char *p)
{
    struct buf v = BUF_INIT, k = BUF_INIT, key = BUF_INIT;
    enum dkim_txt_match m = DKIM_TXT_NOT_DKIM;

    if (dkim_txt_tag(rec, len, "v", &v) && strcmp(buf_cstr(&v), "DKIM1") != 0)
        goto done;
    if (!dkim_txt_tag(rec, len, "p", &key))
        goto done;
    if (!dkim_txt_tag(rec, len, "k", &k))
        buf_puts(&k, "rsa");
    if (strcmp(buf_cstr(&k), dkim_txt_key_type(a)) == 0 && key.len > 0 &&
        strcmp(buf_cstr(&key), p) == 0)
        m = DKIM_TXT_SAME;
    else
        m = DKIM_TXT_OTHER_KEY;
done:
    buf_free(&v);
    buf_free(&k);
    buf_free(&key);
    return m;
}
