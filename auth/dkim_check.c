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
 *   an l= longer than the body fails. Then the signature over the header
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
 * NEVER
 *   Never passes a signature whose key, header hash or body hash did not
 *   check; never logs anything of the message or the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

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

/* header_digest - SHA-256 of the header data s signs; false if OpenSSL failed */
static bool header_digest(struct dkimv_msg *m, struct sigst *s,
                          unsigned char digest[DKIM_SHA256_LEN])
{
    struct buf data = BUF_INIT, own = BUF_INIT;
    bool *used = xcalloc(m->nf ? m->nf : 1, sizeof(*used));
    const struct hfield *sf = &m->f[s->cand->field];
    unsigned int dlen = 0;
    bool ok;

    used[s->cand->field] = true;
    for (size_t k = 0; k < s->sig.nh; k++) {
        const char *name = s->sig.h[k];
        size_t nlen = strlen(name);

        for (size_t j = m->nf; j-- > 0;) {
            const struct hfield *f = &m->f[j];

            if (!used[j] && f->nlen == nlen && strncasecmp(m->hdr.data + f->off, name, nlen) == 0) {
                used[j] = true;
                dkim_canon_header(&data, m->hdr.data + f->off, f->len, s->sig.hdr_relaxed);
                buf_add(&data, "\r\n", 2);
                break;
            }
        }
    }
    strip_b(&own, m->hdr.data + sf->off, sf->len);
    dkim_canon_header(&data, own.data ? own.data : "", own.len, s->sig.hdr_relaxed);
    ok =
        EVP_Digest(data.data ? data.data : "", data.len, digest, &dlen, dkim_sha256(), NULL) == 1 &&
        dlen == DKIM_SHA256_LEN;
    buf_free(&data);
    buf_free(&own);
    free(used);
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
                          &s->bits);
    if (*out == NULL) {
        ERR_clear_error();
        outcome(s, DKIMV_PERMERROR, "key unusable for the algorithm");
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
    if (err != NULL) {
        outcome(s, DKIMV_NEUTRAL, err);
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
    if (s->sig.has_l && s->sig.l > body->b.total) {
        outcome(s, DKIMV_FAIL, "l= longer than the body");
    } else if (!header_digest(m, s, digest) ||
               (rc = dkim_pkey_verify(key, s->sig.alg == DKIM_ALG_ED25519_SHA256, digest,
                                      (const unsigned char *)buf_cstr(&s->sig.b), s->sig.b.len)) <
                   0) {
        outcome(s, DKIMV_TEMPERROR, "verifier error");
    } else if (rc == 0) {
        outcome(s, DKIMV_FAIL, "bad signature");
    } else if (s->sig.bh.len != DKIM_SHA256_LEN ||
               memcmp(buf_cstr(&s->sig.bh), body->digest, DKIM_SHA256_LEN) != 0) {
        outcome(s, DKIMV_FAIL, "body hash mismatch");
    }
    ERR_clear_error();
    EVP_PKEY_free(key);
}
