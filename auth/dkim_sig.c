/*
 * dkim_sig.c - DKIM-Signature fields and DKIM key records: parsed and
 * checked for what a verifier needs before any cryptography.
 *
 * SIGNATURES (RFC 6376 3.5)
 *   Required: v=1, a=, b=, bh=, d=, h=, s=. a= is rsa-sha256 or
 *   ed25519-sha256 (RFC 8463); rsa-sha1 is recognised so that it can be
 *   refused (RFC 8301 3.1). d= and s= are names (labels of letters,
 *   digits, "-" and "_"), never looked up otherwise. c= defaults to
 *   simple/simple, a lone word means that header canonicalization and a
 *   simple body. h= must name From (RFC 6376 5.4) and has at most
 *   DKIM_SIG_H_MAX names (more is DKIM_SIG_TOO_MANY_H, which the verifier
 *   reports as permerror: a bound on the work a stranger's signature may
 *   cause, not a syntax problem). The domain of i= must
 *   be d= or below it. q= if present must offer dns/txt. b= and bh= are non-empty base64. d= and
 *   the domain of i= lose one trailing dot. t= and x= are numbers, x=
 *   after t= (RFC 6376 3.5: "MUST be greater than"); a
 *   signature past its x= is expired, one whose t= lies more than
 *   DKIM_CLOCK_DRIFT seconds ahead is from the future. Every such
 *   problem makes the signature one that "could not be processed"
 *   (neutral); the first one found is the reason given.
 *
 * KEY RECORDS (RFC 6376 3.6.1, RFC 8463 4)
 *   v= if present is DKIM1; k= (default rsa) must fit the signature's
 *   algorithm; h= if present must allow sha256; s= if present must be *
 *   or include email; t= flags y (testing) and s (i= must be d=); p=
 *   must be present: empty is a revoked key, otherwise base64 of the key.
 *   Unknown tags are ignored (RFC 6376 3.2).
 *
 * NEVER
 *   Never reads past the given length; never treats a problem as a
 *   verified signature.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_sig.h"
#include "dkim_tags.h"
#include "dkim_txt.h"
#include "util.h"

#define NUM_DIGITS_MAX 18 /* fits a long long */

/* number - a tag value of digits only into *out; false if not one */
static bool number(const char *v, unsigned long long *out)
{
    size_t n = strlen(v);

    if (n == 0 || n > NUM_DIGITS_MAX || strspn(v, "0123456789") != n)
        return false;
    *out = strtoull(v, NULL, 10);
    return true;
}

/* in_list - does colon-separated list hold word (case-insensitive) */
static bool in_list(const char *list, const char *word)
{
    size_t wl = strlen(word);

    for (const char *p = list; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len == wl && strncasecmp(p, word, wl) == 0)
            return true;
        p += len + (end != NULL);
    }
    return false;
}

/* canon_word - "simple" -> false, "relaxed" -> true; false in *ok for anything else */
static bool canon_word(const char *w, size_t len, bool *ok)
{
    if (len == 6 && strncasecmp(w, "simple", 6) == 0)
        return false;
    if (len == 7 && strncasecmp(w, "relaxed", 7) == 0)
        return true;
    *ok = false;
    return false;
}

/* parse_c - the c= tag; false if unknown */
static bool parse_c(struct dkim_sig *sig, const char *c)
{
    const char *slash = strchr(c, '/');
    bool ok = true;

    if (slash == NULL) {
        sig->hdr_relaxed = canon_word(c, strlen(c), &ok);
        sig->body_relaxed = false;
    } else {
        sig->hdr_relaxed = canon_word(c, (size_t)(slash - c), &ok);
        sig->body_relaxed = canon_word(slash + 1, strlen(slash + 1), &ok);
    }
    return ok;
}

/* What parse_h() found. */
enum h_status { H_OK, H_EMPTY_NAME, H_TOO_MANY };

/* parse_h - the h= list into sig->h (lower case), at most DKIM_SIG_H_MAX names */
static enum h_status parse_h(struct dkim_sig *sig, const char *h)
{
    size_t cap = 0;

    for (const char *p = h;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len == 0)
            return H_EMPTY_NAME;
        if (sig->nh == DKIM_SIG_H_MAX)
            return H_TOO_MANY;
        if (sig->nh == cap) { /* doubling: one h= is parsed in O(its length) */
            cap = cap ? 2 * cap : 16;
            sig->h = xrealloc(sig->h, cap * sizeof(*sig->h));
        }
        sig->h[sig->nh++] = str_lower(xstrndup(p, len));
        if (end == NULL)
            return H_OK;
        p = end + 1;
    }
}

/* no_final_dot - d without one trailing dot (a fully qualified name), as From: domains are */
static char *no_final_dot(char *d)
{
    size_t len = strlen(d);

    if (len > 1 && d[len - 1] == '.')
        d[len - 1] = '\0';
    return d;
}

/* dkim_domain_within - is sub equal to dom or below it */
bool dkim_domain_within(const char *sub, const char *dom)
{
    size_t ls = strlen(sub), ld = strlen(dom);

    if (ls == ld)
        return strcmp(sub, dom) == 0;
    return ls > ld && sub[ls - ld - 1] == '.' && strcmp(sub + ls - ld, dom) == 0;
}

/* parse_alg - a= into sig->alg; false if unknown */
static bool parse_alg(struct dkim_sig *sig, const char *a)
{
    if (strcasecmp(a, "rsa-sha256") == 0)
        sig->alg = DKIM_ALG_RSA_SHA256;
    else if (strcasecmp(a, "ed25519-sha256") == 0)
        sig->alg = DKIM_ALG_ED25519_SHA256;
    else if (strcasecmp(a, "rsa-sha1") == 0)
        sig->alg = DKIM_ALG_RSA_SHA1;
    else
        return false;
    return true;
}

/* check - the checks in order; the first problem's reason, NULL if none */
static const char *check(struct dkim_sig *sig, const struct dkim_tags *tl, long long now)
{
    const char *v = dkim_tags_get(tl, "v"), *a = dkim_tags_get(tl, "a");
    const char *b = dkim_tags_get(tl, "b"), *bh = dkim_tags_get(tl, "bh");
    const char *d = dkim_tags_get(tl, "d"), *h = dkim_tags_get(tl, "h");
    const char *s = dkim_tags_get(tl, "s"), *c = dkim_tags_get(tl, "c");
    const char *i = dkim_tags_get(tl, "i"), *l = dkim_tags_get(tl, "l");
    const char *q = dkim_tags_get(tl, "q"), *t = dkim_tags_get(tl, "t");
    const char *x = dkim_tags_get(tl, "x");
    unsigned long long tv = 0, xv = 0;
    bool alg_ok = a && parse_alg(sig, a);
    enum h_status hs = H_OK;

    if (v == NULL || a == NULL || b == NULL || bh == NULL || d == NULL || h == NULL || s == NULL)
        return "signature missing a required tag";
    if (strcmp(v, "1") != 0)
        return "signature version not 1";
    if (!alg_ok)
        return "unknown algorithm";
    if (*d == '\0' || *s == '\0' || *b == '\0' || *bh == '\0' || !dkim_base64_decode(b, &sig->b) ||
        !dkim_base64_decode(bh, &sig->bh) || (hs = parse_h(sig, h)) == H_EMPTY_NAME)
        return "signature syntax error";
    if (hs == H_TOO_MANY)
        return DKIM_SIG_TOO_MANY_H;
    sig->domain = no_final_dot(str_lower(xstrdup(d)));
    sig->selector = str_lower(xstrdup(s));
    if (!dkim_txt_name_ok(sig->domain) || !dkim_txt_name_ok(sig->selector))
        return "signature syntax error";
    if (c && !parse_c(sig, c))
        return "unknown canonicalization";
    if (q && !in_list(q, "dns/txt"))
        return "unknown query method";
    if ((l && !number(l, &sig->l)) || (t && !number(t, &tv)) || (x && !number(x, &xv)) ||
        (t && x && xv <= tv))
        return "signature syntax error";
    sig->has_l = l != NULL;
    if (i) {
        const char *at = strrchr(i, '@');

        if (at == NULL)
            return "signature syntax error";
        sig->identity_domain = no_final_dot(str_lower(xstrdup(at + 1)));
        if (!dkim_domain_within(sig->identity_domain, sig->domain))
            return "i= not within d=";
    }
    {
        bool from = false;

        for (size_t k = 0; k < sig->nh && !from; k++)
            from = strcmp(sig->h[k], "from") == 0;
        if (!from)
            return "From: not signed";
    }
    if (x && (long long)xv < now)
        return "signature expired";
    if (t && (long long)tv > now + DKIM_CLOCK_DRIFT)
        return "signature in the future";
    return NULL;
}

/* dkim_sig_parse - parse and check a DKIM-Signature value */
void dkim_sig_parse(struct dkim_sig *sig, const char *value, size_t len, long long now)
{
    struct dkim_tags tl = {0};

    if (!dkim_tags_parse(&tl, value, len))
        sig->error = "signature syntax error";
    else
        sig->error = check(sig, &tl, now); /* sets alg first when a= is known */
    dkim_tags_free(&tl);
}

/* dkim_sig_free - release what dkim_sig_parse() made */
void dkim_sig_free(struct dkim_sig *sig)
{
    free(sig->domain);
    free(sig->selector);
    for (size_t i = 0; i < sig->nh; i++)
        free(sig->h[i]);
    free(sig->h);
    buf_free(&sig->b);
    buf_free(&sig->bh);
    free(sig->identity_domain);
    memset(sig, 0, sizeof(*sig));
}

/* dkim_keyrec_parse - parse a key record for a signature of algorithm alg */
enum dkim_keyrec_status dkim_keyrec_parse(struct dkim_keyrec *k, const char *rec, size_t len,
                                          enum dkim_alg alg, const char **why)
{
    struct dkim_tags tl = {0};
    const char *v, *kt, *h, *s, *t, *p;
    enum dkim_keyrec_status st = DKIM_KEYREC_BAD;

    if (!dkim_tags_parse(&tl, rec, len)) {
        *why = "key record syntax error";
        goto done;
    }
    v = dkim_tags_get(&tl, "v");
    kt = dkim_tags_get(&tl, "k");
    h = dkim_tags_get(&tl, "h");
    s = dkim_tags_get(&tl, "s");
    t = dkim_tags_get(&tl, "t");
    p = dkim_tags_get(&tl, "p");
    if (v && strcmp(v, "DKIM1") != 0) {
        *why = "unsupported key version";
        goto done;
    }
    if (p == NULL) {
        *why = "key record syntax error";
        goto done;
    }
    k->ed25519 = kt && strcasecmp(kt, "ed25519") == 0;
    if ((kt && !k->ed25519 && strcasecmp(kt, "rsa") != 0) ||
        k->ed25519 != (alg == DKIM_ALG_ED25519_SHA256)) {
        *why = "key unusable for the algorithm";
        goto done;
    }
    if (h && !in_list(h, "sha256")) {
        *why = "key does not allow sha256";
        goto done;
    }
    if (s && !in_list(s, "*") && !in_list(s, "email")) {
        *why = "key not for email";
        goto done;
    }
    k->testing = t && in_list(t, "y");
    k->strict = t && in_list(t, "s");
    if (*p == '\0') {
        st = DKIM_KEYREC_REVOKED;
        *why = "key revoked";
        goto done;
    }
    if (!dkim_base64_decode(p, &k->p)) {
        *why = "key record syntax error";
        goto done;
    }
    st = DKIM_KEYREC_OK;
done:
    dkim_tags_free(&tl);
    return st;
}

/* dkim_keyrec_free - release what dkim_keyrec_parse() made */
void dkim_keyrec_free(struct dkim_keyrec *k)
{
    buf_free(&k->p);
    memset(k, 0, sizeof(*k));
}
