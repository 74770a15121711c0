/*
 * dkim_check.c - the verification of one DKIM signature at end of
 * message (RFC 6376 6.1), after dkim_verify.c parsed it and hashed the
 * body.
 *
 * ORDER
 *   A signature that does not parse is neutral; rsa-sha1 fails (RFC 8301
 *   3.1); any other problem of the signature itself (dkim_sig.c) is
 *   neutral. Then the key: the lookup's outcome (no key: permerror; DNS
 *   trouble: temperror), the record's (dkim_sig.c: permerror, or fail
 *   for a revoked key), the key bytes (undecodable: permerror), its size
 *   (an RSA key under min_key_bits fails), t=s against i=. Then the body:
 *   an l= longer than the canonical body fails (RFC 6376 3.5, l=: "MUST
 *   NOT be larger than the actual number of octets in the canonicalized
 *   message body"; python3-dkim accepts it: tests/data/dkim
 *   length-long.eml). A signature with more than DKIM_SIG_H_MAX names in
 *   h= is permerror before any of this. Then the signature over the header
 *   data ("bad signature"), and last the body hash ("body hash
 *   mismatch"): a header that does not verify is reported as such even
 *   when the body changed too.
 *
 * HEADER DATA (RFC 6376 3.7, 5.4.2)
 *   For each name in h=, the last field of that name not yet used (the
 *   fields are taken from the bottom up), canonicalized, with CRLF; a
 *   name with no field left adds nothing. The signature's own field is
 *   never one of them (the signer did not have it yet). Then the
 *   signature's own field with the value of b= deleted, canonicalized,
 *   without CRLF. Its SHA-256 is what RSA and Ed25519 (RFC 8463 3) sign.
 *
 * BOUNDS
 *   The fields are indexed by name once per message (sorted: O(n log n));
 *   a name of h= is a binary search and takes the next field of its
 *   group from the bottom, so duplicate names (oversigning) cost O(1)
 *   each. A field's relaxed form is made once per message, whatever the
 *   number of signatures. Per signature: at most DKIM_SIG_H_MAX names,
 *   and at most the whole header hashed (no field twice); per message at
 *   most max_sigs signatures. No walk over the header per name.
 *
 * NEVER
 *   Never passes a signature whose key, header hash or body hash did not
 *   check; never logs anything of the message or the key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "dkim_verify_int.h"
#include "util.h"

/* outcome - set a signature's result and reason */
static void outcome(struct sigst *s, enum dkimv_result r, const char *why)
{
    s->result = r;
    snprintf(s->why, sizeof(s->why), "%s", why);
}

/* is_fws - white space of a folded field */
static bool is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* strip_b - append line[0..len) to out with the value of its b= tag deleted */
static void strip_b(struct buf *out, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len), *end = line + len;
    const char *p;

    if (colon == NULL) {
        buf_add(out, line, len);
        return;
    }
    for (p = colon + 1; p < end;) {
        const char *semi = memchr(p, ';', (size_t)(end - p)), *q = p, *eq;

        if (semi == NULL)
            semi = end;
        while (q < semi && is_fws(*q))
            q++;
        if (q < semi && *q == 'b') {
            for (eq = q + 1; eq < semi && is_fws(*eq); eq++)
                ;
            if (eq < semi && *eq == '=') {
                buf_add(out, line, (size_t)(eq + 1 - line)); /* up to and with the "=" */
                buf_add(out, semi, (size_t)(end - semi));    /* from the ";" on */
                return;
            }
        }
        p = semi + 1;
    }
    buf_add(out, line, len);
}

/* name_cmp - compare two field names, ASCII case ignored */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;

    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

        x = x >= 'A' && x <= 'Z' ? x + ('a' - 'A') : x;
        y = y >= 'A' && y <= 'Z' ? y + ('a' - 'A') : y;
        if (x != y)
            return x < y ? -1 : 1;
    }
    return alen < blen ? -1 : alen > blen;
}

/* A field's name for sorting. */
struct hname {
    const char *p;
    size_t len, field;
};

/* cmp_hname - by name, then by position in the header */
static int cmp_hname(const void *a, const void *b)
{
    const struct hname *x = a, *y = b;
    int c = name_cmp(x->p, x->len, y->p, y->len);

    if (c != 0)
        return c;
    return x->field < y->field ? -1 : x->field > y->field;
}

/*
 * index_header - m->byname and m->groups: the fields sorted by name once
 * per message, O(n log n) in the fields (at most DKIMV_HEADER_MAX bytes),
 * so that a name of h= costs a binary search, not a walk over the header
 */
static void index_header(struct dkimv_msg *m)
{
    struct hname *hn = xcalloc(m->nf ? m->nf : 1, sizeof(*hn));

    for (size_t j = 0; j < m->nf; j++)
        hn[j] = (struct hname){m->hdr.data + m->f[j].off, m->f[j].nlen, j};
    qsort(hn, m->nf, sizeof(*hn), cmp_hname);
    m->byname = xcalloc(m->nf ? m->nf : 1, sizeof(*m->byname));
    m->groups = xcalloc(m->nf ? m->nf : 1, sizeof(*m->groups));
    m->roff = xcalloc(m->nf ? m->nf : 1, sizeof(*m->roff));
    m->rlen = xcalloc(m->nf ? m->nf : 1, sizeof(*m->rlen));
    for (size_t j = 0; j < m->nf; j++) {
        m->byname[j] = hn[j].field;
        m->roff[j] = SIZE_MAX;
        if (j == 0 || name_cmp(hn[j - 1].p, hn[j - 1].len, hn[j].p, hn[j].len) != 0)
            m->groups[m->ngroups++].start = j;
        m->groups[m->ngroups - 1].n++;
    }
    free(hn);
}

/* find_group - the group of fields named name (lower case), or -1 */
static long find_group(const struct dkimv_msg *m, const char *name, size_t nlen)
{
    size_t lo = 0, hi = m->ngroups;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct hfield *f = &m->f[m->byname[m->groups[mid].start]];
        int c = name_cmp(m->hdr.data + f->off, f->nlen, name, nlen);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* dkimv_index_free - free the header index */
void dkimv_index_free(struct dkimv_msg *m)
{
    m->byname = xfree(m->byname);
    m->groups = xfree(m->groups);
    m->roff = xfree(m->roff);
    m->rlen = xfree(m->rlen);
    m->ngroups = 0;
    buf_free(&m->rcanon);
}

/* field_canon - field j canonicalized (relaxed: made once per message); *len its length */
static const char *field_canon(struct dkimv_msg *m, size_t j, bool relaxed, size_t *len)
{
    const struct hfield *f = &m->f[j];

    if (!relaxed) {
        *len = f->len;
        return m->hdr.data + f->off;
    }
    if (m->roff[j] == SIZE_MAX) {
        m->roff[j] = m->rcanon.len;
        dkim_canon_header(&m->rcanon, m->hdr.data + f->off, f->len, true);
        m->rlen[j] = m->rcanon.len - m->roff[j];
    }
    *len = m->rlen[j];
    return m->rcanon.data ? m->rcanon.data + m->roff[j] : "";
}

/*
 * header_digest - SHA-256 of the header data s signs; false if OpenSSL
 * failed. Work: a binary search per name of h= (at most DKIM_SIG_H_MAX),
 * and each field hashed at most once per signature (every field is
 * taken at most once), so at most the header's size per signature.
 */
static bool header_digest(struct dkimv_msg *m, struct sigst *s,
                          unsigned char digest[DKIM_SHA256_LEN])
{
    struct buf own = BUF_INIT, owncanon = BUF_INIT;
    size_t *taken, self = s->cand->field; /* per group: fields taken from its bottom */
    const struct hfield *sf = &m->f[self];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int dlen = 0;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, dkim_sha256(), NULL) == 1;

    if (m->byname == NULL)
        index_header(m);
    taken = xcalloc(m->ngroups ? m->ngroups : 1, sizeof(*taken));
    for (size_t k = 0; k < s->sig.nh && ok; k++) {
        long g = find_group(m, s->sig.h[k], strlen(s->sig.h[k]));

        while (g >= 0 && taken[g] < m->groups[g].n) {
            const struct hgroup *gr = &m->groups[g];
            size_t j = m->byname[gr->start + gr->n - 1 - taken[g]++], len;
            const char *text;

            if (j == self) /* the signer did not have it yet */
                continue;
            text = field_canon(m, j, s->sig.hdr_relaxed, &len);
            ok = EVP_DigestUpdate(ctx, text, len) == 1 && EVP_DigestUpdate(ctx, "\r\n", 2) == 1;
            break;
        }
    }
    strip_b(&own, m->hdr.data + sf->off, sf->len);
    dkim_canon_header(&owncanon, own.data ? own.data : "", own.len, s->sig.hdr_relaxed);
    ok = ok && EVP_DigestUpdate(ctx, owncanon.data ? owncanon.data : "", owncanon.len) == 1 &&
         EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == DKIM_SHA256_LEN;
    EVP_MD_CTX_free(ctx);
    buf_free(&own);
    buf_free(&owncanon);
    free(taken);
    return ok;
}

/* key_checks - the key's part; true with s->bits and *out set if the key may verify */
static bool key_checks(struct dkimv_msg *m, struct sigst *s, EVP_PKEY **out)
{
    struct dkim_keyrec kr = {0};
    enum dkim_keyrec_status ks;
    const char *why = NULL;
    bool ed25519 = s->sig.alg == DKIM_ALG_ED25519_SHA256;

    dkimv_key_finish(m, s->key);
    if (s->key->status != DKIMV_KEY_OK) {
        outcome(s, s->key->status == DKIMV_KEY_TEMP ? DKIMV_TEMPERROR : DKIMV_PERMERROR,
                s->key->why);
        return false;
    }
    ks = dkim_keyrec_parse(&kr, s->key->record, strlen(s->key->record), s->sig.alg, &why);
    if (ks != DKIM_KEYREC_OK) {
        outcome(s, ks == DKIM_KEYREC_REVOKED ? DKIMV_FAIL : DKIMV_PERMERROR, why);
        dkim_keyrec_free(&kr);
        return false;
    }
    s->testing = kr.testing; /* of a key that was used */
    *out = dkim_pkeys_get(m->v->pkeys, ed25519, (const unsigned char *)buf_cstr(&kr.p), kr.p.len,
                          &s->bits, &why);
    if (*out == NULL) { /* no key, or an RSA key past the bounds of dkim_pkey.h */
        ERR_clear_error();
        outcome(s, DKIMV_PERMERROR, why);
    } else if (!ed25519 && s->bits < m->v->min_key_bits) {
        snprintf(s->why, sizeof(s->why), "key too short (%u bits)", s->bits);
        s->result = DKIMV_FAIL;
    } else if (kr.strict && s->sig.identity_domain &&
               strcmp(s->sig.identity_domain, s->sig.domain) != 0) {
        outcome(s, DKIMV_FAIL, "i= subdomain refused by the key (t=s)");
    } else {
        dkim_keyrec_free(&kr);
        return true;
    }
    dkim_keyrec_free(&kr);
    EVP_PKEY_free(*out);
    *out = NULL;
    return false;
}

/* dkimv_check - verify one chosen signature */
void dkimv_check(struct dkimv_msg *m, struct sigst *s)
{
    const char *err = s->sig.error;
    unsigned char digest[DKIM_SHA256_LEN];
    const struct dkimv_body *body;
    const unsigned char *bdigest;
    EVP_PKEY *key = NULL;
    int rc;

    outcome(s, DKIMV_PASS, "");
    if (err != NULL && strcmp(err, "signature syntax error") == 0) {
        outcome(s, DKIMV_NEUTRAL, err);
        return;
    }
    if (s->sig.alg == DKIM_ALG_RSA_SHA1) {
        outcome(s, DKIMV_FAIL, "rsa-sha1 not accepted");
        return;
    }
    if (err != NULL) { /* past a bound is not a mere syntax problem: permerror */
        outcome(s, strcmp(err, DKIM_SIG_TOO_MANY_H) == 0 ? DKIMV_PERMERROR : DKIMV_NEUTRAL, err);
        return;
    }
    if (m->hdr_full) {
        outcome(s, DKIMV_NEUTRAL, "header too large");
        return;
    }
    if (m->broken || s->key == NULL || s->body < 0) {
        outcome(s, DKIMV_TEMPERROR, m->broken ? m->broken : "not verified");
        return;
    }
    if (!key_checks(m, s, &key))
        return;
    body = &m->bodies[s->body];
    bdigest = s->cut >= 0 ? body->cut[s->cut].digest : body->digest;
    if (s->sig.has_l && s->sig.l > body->b.total) {
        outcome(s, DKIMV_FAIL, "l= longer than the body");
    } else if (s->cut >= 0 && !body->cut[s->cut].ok) {
        outcome(s, DKIMV_TEMPERROR, "verifier error"); /* OpenSSL failed at the cut */
    } else if (!header_digest(m, s, digest) ||
               (rc = dkim_pkey_verify(key, s->sig.alg == DKIM_ALG_ED25519_SHA256, digest,
                                      (const unsigned char *)buf_cstr(&s->sig.b), s->sig.b.len)) <
                   0) {
        outcome(s, DKIMV_TEMPERROR, "verifier error");
    } else if (rc == 0) {
        outcome(s, DKIMV_FAIL, "bad signature");
    } else if (s->sig.bh.len != DKIM_SHA256_LEN ||
               memcmp(buf_cstr(&s->sig.bh), bdigest, DKIM_SHA256_LEN) != 0) {
        outcome(s, DKIMV_FAIL, "body hash mismatch");
    }
    ERR_clear_error();
    EVP_PKEY_free(key);
}
