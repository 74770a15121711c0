/*
 * track.c - tracking rule patterns, rule snapshots, tokens and pixel URLs
 * (see track.h).
 */
#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "track.h"
#include "util.h"

struct track_rules {
    atomic_uint refs;
    char **sender; /* enabled sender patterns */
    size_t nsender;
    char **rcpt; /* enabled recipient patterns */
    size_t nrcpt;
};

/* domain_ok - a domain name: labels of letters, digits, '-', '_' or UTF-8, no empty label */
static bool domain_ok(const char *d)
{
    size_t n = strlen(d);

    if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.' || strstr(d, "..") != NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)d; *p; p++)
        if (!(*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

/* track_pattern_normalize - check a pattern, lower-case it */
char *track_pattern_normalize(const char *p, struct buf *why)
{
    const char *at = p ? strchr(p, '@') : NULL;
    char *out;
    size_t n;

    if (p == NULL || *p == '\0') {
        buf_puts(why, "empty pattern");
        return NULL;
    }
    n = strlen(p);
    if (n > 1 && p[n - 1] == '.' && p[n - 2] != '.' && p[n - 2] != '@') {
        /* "user@example.org." is the same address: drop the root's dot */
        char *trimmed = xstrndup(p, n - 1), *r = track_pattern_normalize(trimmed, why);

        free(trimmed);
        return r;
    }
    if (n > TRACK_PATTERN_MAX) {
        buf_printf(why, "pattern longer than %d characters", TRACK_PATTERN_MAX);
        return NULL;
    }
    if (at == NULL || strchr(at + 1, '@') != NULL) {
        buf_printf(why, "\"%s\" is neither an address (user@domain) nor @domain", p);
        return NULL;
    }
    for (const unsigned char *c = (const unsigned char *)p; c < (const unsigned char *)at; c++)
        if (*c <= ' ' || *c == 0x7f || *c == '<' || *c == '>' || *c == ',' || *c == '"') {
            buf_printf(why, "\"%s\": the local part has a character an address cannot have", p);
            return NULL;
        }
    if (!domain_ok(at + 1)) {
        buf_printf(why, "\"%s\": \"%s\" is not a domain name", p, at + 1);
        return NULL;
    }
    out = xstrdup(p);
    str_lower(out);
    return out;
}

/* domain_eq - domain a (maybe with one trailing dot) equals b, ignoring case */
static bool domain_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);

    if (na > 0 && a[na - 1] == '.')
        na--;
    return na == nb && strncasecmp(a, b, na) == 0;
}

/* track_pattern_match - address against one normalized pattern */
bool track_pattern_match(const char *pat, const char *addr)
{
    const char *at;

    if (pat == NULL || addr == NULL || (at = strrchr(addr, '@')) == NULL)
        return false;
    if (pat[0] == '@')
        return domain_eq(at + 1, pat + 1);
    {
        const char *pat_at = strrchr(pat, '@');
        size_t local = (size_t)(pat_at - pat);

        return (size_t)(at - addr) == local && strncasecmp(addr, pat, local) == 0 &&
               domain_eq(at + 1, pat_at + 1);
    }
}

/* track_list_match - one of the patterns in list */
bool track_list_match(char *const *list, const char *addr)
{
    for (size_t i = 0; list && list[i]; i++)
        if (track_pattern_match(list[i], addr))
            return true;
    return false;
}

/* collect - store callback: keep the enabled rules */
static int collect(const struct store_track_rule *r, void *arg)
{
    struct track_rules *t = arg;

    if (!r->enabled)
        return 0;
    if (r->field == STORE_TRACK_SENDER) {
        t->sender = xrealloc(t->sender, (t->nsender + 1) * sizeof(*t->sender));
        t->sender[t->nsender++] = xstrdup(r->pattern);
    } else {
        t->rcpt = xrealloc(t->rcpt, (t->nrcpt + 1) * sizeof(*t->rcpt));
        t->rcpt[t->nrcpt++] = xstrdup(r->pattern);
    }
    return 0;
}

/* track_rules_load - the enabled rules */
struct track_rules *track_rules_load(struct store *s, char *err, size_t errlen)
{
    struct track_rules *t = xcalloc(1, sizeof(*t));

    atomic_init(&t->refs, 1);
    if (store_list_track_rules(s, collect, t) != STORE_OK) {
        if (!strlcpy_ok(err, store_error(s), errlen))
            debug("track_rules_load: error message cut");
        return track_rules_unref(t);
    }
    return t;
}

/* track_rules_count - enabled rules */
size_t track_rules_count(const struct track_rules *r)
{
    return r ? r->nsender + r->nrcpt : 0;
}

/* track_rules_ref - one more reference */
struct track_rules *track_rules_ref(struct track_rules *r)
{
    if (r)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

/* track_rules_unref - drop a reference */
struct track_rules *track_rules_unref(struct track_rules *r)
{
    if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
        return NULL;
    for (size_t i = 0; i < r->nsender; i++)
        free(r->sender[i]);
    for (size_t i = 0; i < r->nrcpt; i++)
        free(r->rcpt[i]);
    free(r->sender);
    free(r->rcpt);
    free(r);
    return NULL;
}

/* any_match - addr matches one of v[0..n) */
static bool any_match(char *const *v, size_t n, const char *addr)
{
    for (size_t i = 0; i < n; i++)
        if (track_pattern_match(v[i], addr))
            return true;
    return false;
}

/* track_rules_match_sender - a sender rule matches */
bool track_rules_match_sender(const struct track_rules *r, const char *addr)
{
    return r && addr && any_match(r->sender, r->nsender, addr);
}

/* track_rules_match_recipient - a recipient rule matches */
bool track_rules_match_recipient(const struct track_rules *r, const char *addr)
{
    return r && addr && any_match(r->rcpt, r->nrcpt, addr);
}

/* same_list - equal string vectors */
static bool same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* track_rules_same - the same enabled rules, in the same order */
bool track_rules_same(const struct track_rules *r, const struct track_rules *o)
{
    if (r == NULL || o == NULL)
        return r == o;
    return same_list(r->sender, r->nsender, o->sender, o->nsender) &&
           same_list(r->rcpt, r->nrcpt, o->rcpt, o->nrcpt);
}

/* track_token_new - 128 random bits as 22 base64url characters */
void track_token_new(char out[TRACK_TOKEN_LEN + 1])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[16];
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;

    random_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        acc = (acc << 8) | rnd[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    if (o != TRACK_TOKEN_LEN)
        bug("track_token_new: %zu characters", o);
}

/* track_pixel_url - base + "/o/" + token + ".gif" */
void track_pixel_url(const char *base, const char *token, struct buf *out)
{
    size_t n = strlen(base);

    while (n > 0 && base[n - 1] == '/')
        n--;
    buf_add(out, base, n);
    buf_printf(out, "/o/%s.gif", token);
}

/* track_base_url_ok - an http(s) URL safe inside an HTML attribute */
bool track_base_url_ok(const char *url, struct buf *why)
{
    const char *rest;

    if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    else {
        buf_printf(why, "\"%s\" does not start with http:// or https://", url);
        return false;
    }
    if (*rest == '\0' || *rest == '/') {
        buf_printf(why, "\"%s\" has no host name", url);
        return false;
    }
    if (strlen(url) > 900) {
        buf_puts(why, "longer than 900 characters");
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("\"'<>\\`", *p)) {
            buf_printf(why, "\"%s\" has a character that does not belong in a URL", url);
            return false;
        }
    return true;
}
