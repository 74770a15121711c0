/*
 * dkim_dns.c - DKIM key lookups for dkim_verify.c: through lib/dns (or a
 * test's lookup function).
 *
 * SUMMARY
 *   At end of header dkimv_keys_start() submits one TXT lookup of
 *   sel._domainkey.domain per distinct key among the signatures to
 *   verify (at most max_sigs), so DNS overlaps the body transfer. At end
 *   of message dkimv_key_finish() waits for it (lib/dns bounds the wait
 *   by dns_timeout_ms from submission) and keeps the key record, or the
 *   reason there is none.
 *
 * KEY RECORDS
 *   NXDOMAIN and NODATA: no key (permerror). Timeout, SERVFAIL: temperror.
 *   Other DNS failures, records with NUL bytes: permerror. One TXT record
 *   is the key record whatever it holds (dkim_sig.c judges its syntax).
 *   Of several, the one with a p= tag is taken; several with p= are a
 *   permerror rather than a guess (RFC 6376 3.6.2.2 lets a verifier
 *   choose). We take at most DKIMV_KEY_RECORD_MAX bytes of record: a
 *   longer one is compacted (white space and the n= notes dropped, which
 *   changes no meaning) and refused if it still does not fit - RSA keys
 *   up to 8192 bits fit.
 *
 * NEVER
 *   Never logs key records; never leaves a lookup running after
 *   dkimv_keys_free().
 */
#include <string.h>

#include "dkim_verify_int.h"
#include "log.h"
#include "util.h"

/* has_key_tag - does a record carry a p= tag */
static bool has_key_tag(const char *rec)
{
    char *p = dkimv_tag_value(rec, "p");
    bool yes = p != NULL;

    free(p);
    return yes;
}

/* compact - rec without white space and n= into out[outlen]; false if too long */
static bool compact(const char *rec, char *out, size_t outlen)
{
    struct buf all = BUF_INIT, res = BUF_INIT;
    const char *seg;
    bool ok;

    for (const char *p = rec; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            buf_putc(&all, *p);
    seg = buf_cstr(&all);
    while (*seg) {
        const char *end = strchr(seg, ';');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);

        if (len > 0 && strncmp(seg, "n=", 2) != 0) {
            if (res.len > 0)
                buf_putc(&res, ';');
            buf_add(&res, seg, len);
        }
        seg += len + (end != NULL);
    }
    ok = strlcpy_ok(out, buf_cstr(&res), outlen);
    buf_free(&all);
    buf_free(&res);
    return ok;
}

/* dkimv_pick_key - choose the key record of a TXT answer */
enum dkimv_key_status dkimv_pick_key(const struct dns_result *r, char *out, size_t outlen,
                                     const char **why)
{
    size_t pick = 0, nkeys = 0;

    if (outlen > 0)
        out[0] = '\0';
    switch (r->status) {
    case DNS_OK:
        break;
    case DNS_NXDOMAIN:
    case DNS_NODATA:
        *why = "no key for signature";
        return DKIMV_KEY_NONE;
    case DNS_TEMPFAIL:
        *why = r->rcode == 2 ? "key lookup failed (SERVFAIL)" : "key lookup timed out";
        return DKIMV_KEY_TEMP;
    case DNS_PERMFAIL:
    default:
        *why = "key lookup failed";
        return DKIMV_KEY_BAD;
    }
    if (r->txt == NULL || r->n == 0) {
        *why = "no key for signature";
        return DKIMV_KEY_NONE;
    }
    if (r->n > 1) {
        for (size_t i = 0; i < r->n; i++)
            if (has_key_tag(r->txt[i])) {
                pick = i;
                nkeys++;
            }
        if (nkeys == 0) {
            *why = "no key for signature";
            return DKIMV_KEY_NONE;
        }
        if (nkeys > 1) {
            *why = "several key records";
            return DKIMV_KEY_MULTI;
        }
    }
    if (strlen(r->txt[pick]) != r->txt_len[pick]) {
        *why = "malformed key record";
        return DKIMV_KEY_BAD;
    }
    if (strlcpy_ok(out, r->txt[pick], outlen) || compact(r->txt[pick], out, outlen))
        return DKIMV_KEY_OK;
    if (outlen > 0)
        out[0] = '\0';
    *why = "key record too long";
    return DKIMV_KEY_LONG;
}

/* key_find - the message's lookup of name, or a new one (not submitted) */
static struct dkimv_key *key_find(struct dkimv_msg *m, const char *sel, const char *dom)
{
    char *name = str_lower(xasprintf("%s._domainkey.%s", sel, dom));
    struct dkimv_key *k;

    for (size_t i = 0; i < m->nkeys; i++) {
        if (strcmp(m->keys[i]->name, name) == 0) {
            free(name);
            return m->keys[i];
        }
    }
    k = xcalloc(1, sizeof(*k));
    k->name = name;
    m->keys = xrealloc(m->keys, (m->nkeys + 1) * sizeof(*m->keys));
    m->keys[m->nkeys++] = k;
    return k;
}

/* dkimv_keys_start - submit one lookup per distinct key */
void dkimv_keys_start(struct dkimv_msg *m)
{
    for (size_t i = 0; i < m->nst; i++) {
        struct sigst *s = &m->st[i];

        if (s->sig.error != NULL || s->sig.alg == DKIM_ALG_RSA_SHA1)
            continue; /* decided without a key */
        s->key = key_find(m, s->sig.selector, s->sig.domain);
        if (s->key->q == NULL && !s->key->done && m->v->lookup == NULL && m->v->dns != NULL)
            s->key->q = dns_submit(m->v->dns, s->key->name, DNS_T_TXT);
    }
}

/* dkimv_key_finish - wait for (or make) the lookup and pick its record */
void dkimv_key_finish(struct dkimv_msg *m, struct dkimv_key *k)
{
    struct dns_result *r = NULL;

    if (k->done)
        return;
    if (k->q != NULL) {
        r = dns_wait(k->q);
        k->q = NULL;
    } else if (m->v->lookup != NULL) {
        r = m->v->lookup(m->v->lookup_arg, k->name);
    } else if (m->v->dns != NULL) {
        r = dns_lookup(m->v->dns, k->name, DNS_T_TXT);
    }
    if (r == NULL) {
        k->status = DKIMV_KEY_TEMP;
        k->why = "no resolver";
    } else {
        char *tmp = xmalloc(DKIMV_KEY_RECORD_MAX);

        k->status = dkimv_pick_key(r, tmp, DKIMV_KEY_RECORD_MAX, &k->why);
        if (k->status == DKIMV_KEY_OK)
            k->record = xstrdup(tmp);
        free(tmp);
        dns_result_free(r);
    }
    k->done = true;
}

/* dkimv_keys_free - cancel lookups still out, free every key */
void dkimv_keys_free(struct dkimv_msg *m)
{
    for (size_t i = 0; i < m->nkeys; i++) {
        struct dkimv_key *k = m->keys[i];

        if (k->q != NULL)
            dns_cancel(k->q);
        free(k->name);
        free(k->record);
        free(k);
    }
    m->keys = xfree(m->keys);
    m->nkeys = 0;
}
