/*
 * track.c - tracking rule patterns, rule snapshots, tokens and pixel URLs
 * (see track.h).
 *
 * Tokens: HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256, with the key's
 * pads computed once (track_key_set), so checking a token costs two
 * digests of two blocks each and no allocation of ours. The key never
 * leaves struct track_key and is never logged; a tag is compared with
 * CRYPTO_memcmp().
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
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
    struct track_key key; /* the database's token key */
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
    if (!track_key_load(s, &t->key, err, errlen))
        return track_rules_unref(t);
    return t;
}

/* track_rules_key - the key of the snapshot */
const struct track_key *track_rules_key(const struct track_rules *r)
{
    return &r->key;
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
    OPENSSL_cleanse(&r->key, sizeof(r->key));
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
           same_list(r->rcpt, r->nrcpt, o->rcpt, o->nrcpt) &&
           CRYPTO_memcmp(&r->key, &o->key, sizeof(r->key)) == 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#define TOKEN_BYTES (TRACK_TOKEN_RAND + TRACK_TOKEN_TAG)
#define LABEL_LEN   (sizeof(TRACK_TOKEN_LABEL) - 1)
#define SHA_BLOCK   64
#define SHA_LEN     32

static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha_md; /* fetched once: an implicit fetch per digest costs a lookup */

/* sha_fetch - OpenSSL's SHA-256, once */
static void sha_fetch(void)
{
    if ((sha_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        die("OpenSSL: no SHA-256");
}

/* track_key_set - the key XOR 0x36 and 0x5c, each padded to a block (RFC 2104) */
void track_key_set(struct track_key *k, const unsigned char raw[TRACK_KEY_LEN])
{
    memset(k->ipad, 0x36, sizeof(k->ipad));
    memset(k->opad, 0x5c, sizeof(k->opad));
    for (size_t i = 0; i < TRACK_KEY_LEN; i++) {
        k->ipad[i] ^= raw[i];
        k->opad[i] ^= raw[i];
    }
}

/* track_key_load - the key from the database */
bool track_key_load(struct store *s, struct track_key *k, char *err, size_t errlen)
{
    unsigned char raw[TRACK_KEY_LEN];

    if (store_token_key(s, raw) != STORE_OK) {
        if (!snprintf_ok(err, errlen, "token key: %s", store_error(s)))
            debug("track_key_load: error message cut");
        return false;
    }
    track_key_set(k, raw);
    OPENSSL_cleanse(raw, sizeof(raw));
    return true;
}

/* token_tag - HMAC-SHA256(key, TRACK_TOKEN_LABEL || rnd) into tag */
static void token_tag(const struct track_key *k, const unsigned char rnd[TRACK_TOKEN_RAND],
                      unsigned char tag[SHA_LEN])
{
    unsigned char in[SHA_BLOCK + LABEL_LEN + TRACK_TOKEN_RAND], out[SHA_BLOCK + SHA_LEN];
    unsigned n1 = 0, n2 = 0;
    int ok;

    pthread_once(&sha_once, sha_fetch);
    memcpy(in, k->ipad, SHA_BLOCK);
    memcpy(in + SHA_BLOCK, TRACK_TOKEN_LABEL, LABEL_LEN);
    memcpy(in + SHA_BLOCK + LABEL_LEN, rnd, TRACK_TOKEN_RAND);
    memcpy(out, k->opad, SHA_BLOCK);
    ok = EVP_Digest(in, sizeof(in), out + SHA_BLOCK, &n1, sha_md, NULL) == 1 &&
         EVP_Digest(out, sizeof(out), tag, &n2, sha_md, NULL) == 1 && n1 == SHA_LEN &&
         n2 == SHA_LEN;
    OPENSSL_cleanse(in, sizeof(in));
    OPENSSL_cleanse(out, sizeof(out));
    if (!ok)
        bug("track: SHA-256 failed");
}

/* track_token_new - random bytes and their tag, in base64url */
void track_token_new(const struct track_key *k, char out[TRACK_TOKEN_LEN + 1])
{
    unsigned char b[TOKEN_BYTES], tag[SHA_LEN];
    size_t o = 0;

    random_bytes(b, TRACK_TOKEN_RAND);
    token_tag(k, b, tag);
    memcpy(b + TRACK_TOKEN_RAND, tag, TRACK_TOKEN_TAG);
    /* 21 bytes are 7 groups of 3: 28 characters, no padding, no partial character */
    for (size_t i = 0; i < TOKEN_BYTES; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 | b[i + 2];

        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    if (o != TRACK_TOKEN_LEN)
        bug("track_token_new: %zu characters", o);
}

/* sextet - the value of base64url character c, -1 if it is none */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* token_bytes - the 21 bytes of a well-formed token s[0..n); false if it is not one */
static bool token_bytes(const char *s, size_t n, unsigned char b[TOKEN_BYTES])
{
    if (n != TRACK_TOKEN_LEN)
        return false;
    for (size_t i = 0, o = 0; i < n; i += 4) {
        int v0 = sextet((unsigned char)s[i]), v1 = sextet((unsigned char)s[i + 1]);
        int v2 = sextet((unsigned char)s[i + 2]), v3 = sextet((unsigned char)s[i + 3]);
        unsigned v;

        if ((v0 | v1 | v2 | v3) < 0)
            return false;
        v = (unsigned)v0 << 18 | (unsigned)v1 << 12 | (unsigned)v2 << 6 | (unsigned)v3;
        b[o++] = (unsigned char)(v >> 16);
        b[o++] = (unsigned char)(v >> 8);
        b[o++] = (unsigned char)v;
    }
    return true;
}

/* track_token_wellformed - the shape of a token */
bool track_token_wellformed(const char *s, size_t n)
{
    unsigned char b[TOKEN_BYTES];

    return token_bytes(s, n, b);
}

/* track_token_valid - well-formed, and the tag matches (constant time) */
bool track_token_valid(const struct track_key *k, const char *s, size_t n)
{
    unsigned char b[TOKEN_BYTES], tag[SHA_LEN];

    if (!token_bytes(s, n, b))
        return false;
    token_tag(k, b, tag);
    return CRYPTO_memcmp(tag, b + TRACK_TOKEN_RAND, TRACK_TOKEN_TAG) == 0;
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
