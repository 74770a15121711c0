/*
 * authres.c - writing and recognising Authentication-Results values
 * (RFC 8601; see authres.h).
 *
 * Everything a sender controls (identities, domains, selectors) goes
 * through put_value() or put_comment(), which quote or escape it, and
 * control characters never reach the output: a hostile identity must not
 * be able to end the field, start a new one or forge a method.
 */
#include <string.h>

#include "authres.h"
#include "util.h"

#define FOLD_AT 78 /* fold before a property that would pass this column */
/* Bounds that keep every line far below 998 octets whatever the input:
 * a longer property value is left out, a longer comment is cut. */
#define VALUE_MAX   256
#define COMMENT_MAX 200

/* is_tspecial - RFC 2045 tspecials */
static bool is_tspecial(unsigned char ch)
{
    return strchr("()<>@,;:\\\"/[]?=", ch) != NULL;
}

/* is_token - an RFC 2045 token: printable ASCII, no space, no tspecial */
static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || is_tspecial(*p))
            return false;
    return true;
}

/* is_atext - RFC 5322 atext (and '.', for dot-atoms) */
static bool is_atext(unsigned char ch)
{
    return (ch > ' ' && ch < 0x7f && !strchr("()<>[]:;@\\,\"", ch));
}

/* is_domain - letters, digits, '-', '.', '_' only; no empty labels at the ends */
static bool is_domain(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_'))
            return false;
    }
    return true;
}

/* is_plain_address - [local-part] "@" domain that RFC 8601 lets stand unquoted */
static bool is_plain_address(const char *s)
{
    const char *at = strchr(s, '@');

    if (at == NULL || strchr(at + 1, '@'))
        return false;
    for (const char *p = s; p < at; p++)
        if (!is_atext((unsigned char)*p) || (*p == '.' && (p == s || p[-1] == '.' || p + 1 == at)))
            return false;
    return is_domain(at + 1, strlen(at + 1));
}

/* put - append text and keep the column count */
static void put(struct authres *ar, const char *s, size_t n)
{
    buf_add(&ar->b, s, n);
    ar->line_len += n;
}

/* put_str - put a C string */
static void put_str(struct authres *ar, const char *s)
{
    put(ar, s, strlen(s));
}

/* fold - start a new continuation line */
static void fold(struct authres *ar)
{
    buf_puts(&ar->b, "\n\t");
    ar->line_len = 8; /* a tab counts as up to 8 columns */
}

/* put_value - a token or address as is, anything else as a quoted-string */
static void put_value(struct authres *ar, const char *v)
{
    if (is_token(v) || is_plain_address(v)) {
        put_str(ar, v);
        return;
    }
    put(ar, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(ar, "\\", 1);
        if (*p < ' ' || *p == 0x7f)
            put(ar, "?", 1);
        else
            put(ar, (const char *)p, 1);
    }
    put(ar, "\"", 1);
}

/* put_comment - "(text)" with parentheses and backslashes escaped */
static void put_comment(struct authres *ar, const char *text)
{
    size_t n = 0;

    put(ar, "(", 1);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++, n++) {
        if (n == COMMENT_MAX) {
            put(ar, "...", 3);
            break;
        }
        if (*p == '(' || *p == ')' || *p == '\\')
            put(ar, "\\", 1);
        if (*p < ' ' || *p == 0x7f)
            put(ar, "?", 1);
        else
            put(ar, (const char *)p, 1);
    }
    put(ar, ")", 1);
}

/* authres_begin - start a value for authserv_id */
void authres_begin(struct authres *ar, const char *authserv_id)
{
    ar->b = (struct buf)BUF_INIT;
    ar->line_len = strlen(AUTHRES_HEADER) + 2;
    ar->methods = 0;
    put_value(ar, authserv_id);
}

/* authres_method - start "; method=result (comment)" */
void authres_method(struct authres *ar, const char *method, const char *result, const char *comment)
{
    put(ar, ";", 1);
    fold(ar);
    put_str(ar, method);
    put(ar, "=", 1);
    put_str(ar, result);
    if (comment && *comment) {
        put(ar, " ", 1);
        put_comment(ar, comment);
    }
    ar->methods++;
}

/* authres_prop - add " ptype.property=value" */
void authres_prop(struct authres *ar, const char *ptype_property, const char *value)
{
    size_t before = ar->b.len, col = ar->line_len;

    if (value && strlen(value) > VALUE_MAX)
        return; /* hostile or broken input: better no property than a line past 998 */
    put(ar, " ", 1);
    put_str(ar, ptype_property);
    put(ar, "=", 1);
    put_value(ar, value ? value : "");
    if (col > 8 && col + (ar->b.len - before) + 1 > FOLD_AT) { /* + 1: a ";" may follow */
        /* Too long for this line: write it again on a new one. */
        struct buf tmp = BUF_INIT;

        buf_add(&tmp, ar->b.data + before + 1, ar->b.len - before - 1);
        buf_truncate(&ar->b, before);
        fold(ar);
        put(ar, tmp.data, tmp.len);
        buf_free(&tmp);
    }
}

/* authres_finish - the finished value; caller frees */
char *authres_finish(struct authres *ar)
{
    if (ar->methods == 0)
        put_str(ar, "; none");
    ar->methods = 0;
    ar->line_len = 0;
    return buf_steal(&ar->b);
}

/* authres_free - drop a value being built */
void authres_free(struct authres *ar)
{
    buf_free(&ar->b);
    ar->methods = 0;
}

/* is_space - white space a reader may see between words: SP, HT, LF, VT, FF, CR */
static bool is_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* skip_comment - past a (nested) comment that starts at p, or to the end if it never closes */
static const char *skip_comment(const char *p)
{
    for (int depth = 0; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')' && --depth == 0) {
            return p + 1;
        }
    }
    return p;
}

/* skip_cfws - skip white space (folding included) and (nested) comments */
static const char *skip_cfws(const char *p)
{
    for (;;) {
        while (is_space((unsigned char)*p))
            p++;
        if (*p != '(')
            return p;
        p = skip_comment(p);
    }
}

/* authres_authserv_id - the authserv-id a received value claims; caller frees */
char *authres_authserv_id(const char *value)
{
    const char *p = skip_cfws(value);
    struct buf id = BUF_INIT;

    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            buf_putc(&id, (unsigned char)*p);
        }
        if (*p != '"') {
            buf_free(&id);
            return NULL;
        }
    } else {
        for (; *p && *p != ';' && *p != '(' && !is_space((unsigned char)*p); p++)
            buf_putc(&id, (unsigned char)*p);
    }
    if (id.len == 0) {
        buf_free(&id);
        return NULL;
    }
    return buf_steal(&id);
}

/*
 * same_id - a and b (n and m bytes, a non-empty) equal, ASCII case
 * ignored, and one trailing dot of each (not a lone ".")
 */
static bool same_id(const char *a, size_t n, const char *b, size_t m)
{
    if (n > 1 && a[n - 1] == '.')
        n--;
    if (m > 1 && b[m - 1] == '.')
        m--;
    if (n != m || n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

        if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != (y >= 'A' && y <= 'Z' ? y + 32 : y))
            return false;
    }
    return true;
}

/*
 * first_word - the first word of a value as a lax reader may take it,
 * into w: comments, double quotes and the backslash of quoted-pairs are
 * dropped; the word ends at ';' or white space, and at any other byte
 * that cannot be in a token (non-ASCII, control, tspecial) when
 * junk_ends, which is dropped otherwise. One pass, no backtracking.
 */
static void first_word(const char *value, bool junk_ends, struct buf *w)
{
    const char *p = value;

    buf_reset(w);
    while (*p && *p != ';') {
        unsigned char ch;

        if (*p == '(') {
            p = skip_comment(p);
            continue;
        }
        if (*p == '"') {
            p++;
            continue;
        }
        if (*p == '\\' && p[1])
            p++;
        ch = (unsigned char)*p++;
        if (ch > ' ' && ch < 0x7f && !is_tspecial(ch))
            buf_putc(w, ch);
        else if ((is_space(ch) || junk_ends || ch == ';') && w->len > 0)
            break;
    }
}

/* authres_list_add - append idx, doubling the array when full */
void authres_list_add(struct authres_list *l, unsigned idx)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = idx;
}

/* authres_list_free - release the array */
void authres_list_free(struct authres_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/*
 * authres_is_ours - does a received value claim authserv_id? Yes if its
 * authserv-id (RFC 8601: a token or quoted-string, CFWS around) is ours,
 * and also if it cannot be read so but its first word, read laxly (see
 * first_word, both ways), is: a reader (Sieve, a spam filter, a mail
 * client) may well take it for ours, so such a field must go too.
 * Case is ignored, and one trailing dot.
 */
bool authres_is_ours(const char *value, const char *authserv_id)
{
    char *id = authres_authserv_id(value);
    size_t ours = strlen(authserv_id);
    struct buf w = BUF_INIT;
    bool yes = id != NULL && same_id(id, strlen(id), authserv_id, ours);

    free(id);
    for (int junk_ends = 0; !yes && junk_ends < 2; junk_ends++) {
        first_word(value, junk_ends, &w);
        yes = same_id(w.data ? w.data : "", w.len, authserv_id, ours);
    }
    buf_free(&w);
    return yes;
}
