/*
 * dkim_tags.c - RFC 6376 tag-lists and base64, strictly.
 *
 * SUMMARY
 *   One pass over the list: each tag-spec's name is checked against the
 *   grammar, its value's bytes against VALCHAR and white space, and the
 *   value is stored without its white space. FWS is taken as any run of
 *   SP, HTAB, CR and LF (a header field reaches us unfolded or with CRLF
 *   folds; either way the bytes are white space).
 *
 * NEVER
 *   Never reads past len; never accepts a duplicate tag.
 */
#include <string.h>

#include "base64.h"
#include "dkim_tags.h"

/* is_fws - a byte of folding white space */
static bool is_fws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* is_alpha - ALPHA */
static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* name_ok - s[0..len) is a tag-name */
static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || !is_alpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '_')
            return false;
    }
    return true;
}

/* dkim_tags_get - the value of tag name, NULL if absent */
const char *dkim_tags_get(const struct dkim_tags *tl, const char *name)
{
    for (size_t i = 0; i < tl->n; i++)
        if (strcmp(tl->text.data + tl->t[i].name, name) == 0)
            return tl->text.data + tl->t[i].value;
    return NULL;
}

/* add_spec - parse one tag-spec s[0..len) into tl; false if invalid */
static bool add_spec(struct dkim_tags *tl, const char *s, size_t len)
{
    size_t a = 0, b, eq;

    while (a < len && is_fws((unsigned char)s[a]))
        a++;
    if (a == len)
        return true; /* empty tag-spec */
    for (eq = a; eq < len && s[eq] != '='; eq++)
        ;
    if (eq == len)
        return false;
    for (b = eq; b > a && is_fws((unsigned char)s[b - 1]); b--)
        ;
    if (!name_ok(s + a, b - a) || tl->n == DKIM_TAGS_MAX)
        return false;
    for (size_t i = 0; i < tl->n; i++) {
        const char *have = tl->text.data + tl->t[i].name;

        if (strlen(have) == b - a && memcmp(have, s + a, b - a) == 0)
            return false; /* duplicate */
    }
    tl->t[tl->n].name = tl->text.len;
    buf_add(&tl->text, s + a, b - a);
    buf_putc(&tl->text, '\0');
    tl->t[tl->n].value = tl->text.len;
    for (size_t i = eq + 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (is_fws(c))
            continue;
        if (c < 0x21 || c > 0x7e || c == ';')
            return false;
        buf_putc(&tl->text, c);
    }
    buf_putc(&tl->text, '\0');
    tl->n++;
    return true;
}

/* dkim_tags_parse - parse a tag-list */
bool dkim_tags_parse(struct dkim_tags *tl, const char *s, size_t len)
{
    size_t i = 0;

    tl->n = 0;
    buf_reset(&tl->text);
    while (i <= len) {
        const char *semi = memchr(s + i, ';', len - i);
        size_t end = semi ? (size_t)(semi - s) : len;

        if (!add_spec(tl, s + i, end - i)) {
            tl->n = 0;
            buf_reset(&tl->text);
            return false;
        }
        i = end + 1;
    }
    return true;
}

/* dkim_tags_free - release a tag-list */
void dkim_tags_free(struct dkim_tags *tl)
{
    buf_free(&tl->text);
    tl->n = 0;
}

/* dkim_base64_decode - append the bytes of base64 text s to out */
bool dkim_base64_decode(const char *s, struct buf *out)
{
    return base64_decode(s, strlen(s), BASE64_PAD_OPTIONAL, out);
}
