/*
 * dkim_verify.c - DKIM verification of inbound mail (RFC 6376, RFC 8463,
 * RFC 8301): the message flow. Our own code over OpenSSL's libcrypto;
 * key lookups through lib/dns.
 *
 * SUMMARY
 *   Header fields are kept as the signer saw them (one buffer for the
 *   message, offsets per field) until end of message, when h= picks
 *   from them. At end of header up to max_sigs DKIM-Signature fields are
 *   chosen - d= equal to, a parent or a child of the From: domain first,
 *   then the others, each in header order -, parsed and checked
 *   (dkim_sig.c), their key lookups started (dkim_dns.c: DNS overlaps the
 *   body) and one body hash set up per distinct body canonicalization
 *   and l= among them (lib/dkim_canon.c), so two signatures over the same
 *   body hash it once. At end of message each signature is verified
 *   (dkim_check.c) and the results made (dkim_result.c).
 *
 * HEADER FIELDS
 *   A milter gets name and value apart; the value's folds are "\n"+WSP
 *   (Postfix) and one leading space is removed unless SMFIP_HDR_LEADSPC
 *   was negotiated. dkimv_header_line() rebuilds "Name:value" with CRLF
 *   before each fold: exact with LEADSPC, otherwise one space is put back
 *   (not before a tab or a line end). Relaxed header canonicalization is
 *   exact either way. Postfix also drops white space between a field
 *   name and its colon, which simple canonicalization cannot survive.
 *
 * NEVER
 *   Never logs header contents, signatures or keys; never makes more than
 *   max_sigs key lookups for a message; never says fail for a DNS
 *   timeout; never keeps a pointer into a caller's string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dkim_verify_int.h"
#include "log.h"
#include "mailaddr.h"
#include "util.h"

/* is_space - WSP, CR or LF */
static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* dkimv_header_line - append "Name:value" with CRLF folds */
void dkimv_header_line(struct buf *out, const char *name, const char *value, bool leadspc)
{
    char prev = '\0';

    buf_puts(out, name);
    buf_putc(out, ':');
    if (!leadspc && value[0] != '\t' && value[0] != '\r' && value[0] != '\n')
        buf_putc(out, ' ');
    for (const char *p = value; *p; p++) {
        if (*p == '\n' && prev != '\r')
            buf_putc(out, '\r');
        buf_putc(out, *p);
        prev = *p;
    }
}

/* dkimv_tag_value - a tag's value without white space, or NULL; caller frees */
char *dkimv_tag_value(const char *taglist, const char *tag)
{
    size_t tlen = strlen(tag);
    const char *p = taglist;

    while (*p) {
        const char *name, *end = strchr(p, ';');
        size_t nlen;

        if (end == NULL)
            end = p + strlen(p);
        while (p < end && is_space((unsigned char)*p))
            p++;
        name = p;
        while (p < end && *p != '=' && !is_space((unsigned char)*p))
            p++;
        nlen = (size_t)(p - name);
        while (p < end && is_space((unsigned char)*p))
            p++;
        if (p < end && *p == '=' && nlen == tlen && strncmp(name, tag, tlen) == 0) {
            struct buf v = BUF_INIT;

            for (p++; p < end; p++)
                if (!is_space((unsigned char)*p))
                    buf_putc(&v, *p);
            return v.data ? buf_steal(&v) : xstrdup("");
        }
        p = *end ? end + 1 : end;
    }
    return NULL;
}

/* domain_of_from - lower-case domain of a From: value's first address, or NULL */
static char *domain_of_from(const char *value)
{
    char *addr = mailaddr_first(value), *at, *dom = NULL;

    if (addr && (at = strrchr(addr, '@')) != NULL && at[1]) {
        size_t len;

        dom = str_lower(xstrdup(at + 1));
        len = strlen(dom);
        if (len > 1 && dom[len - 1] == '.')
            dom[len - 1] = '\0';
    }
    free(addr);
    return dom;
}

/* aligned - is a signing domain the From: domain, or a parent or child of it */
static bool aligned(const char *d, const char *from)
{
    return d && from && (dkim_domain_within(d, from) || dkim_domain_within(from, d));
}

/* dkimv_open - the process-wide verifier */
struct dkimv *dkimv_open(struct dns *d, unsigned max_sigs, unsigned min_key_bits, char *err,
                         size_t errlen)
{
    struct dkimv *v;

    if (max_sigs == 0) {
        strlcpy_ok(err, "dkim: max_sigs must be at least 1", errlen);
        return NULL;
    }
    /* OpenSSL is not touched here: a process that never verifies never loads it (dkim_sha256()) */
    v = xcalloc(1, sizeof(*v));
    v->dns = d;
    v->max_sigs = max_sigs;
    v->min_key_bits = min_key_bits;
    v->pkeys = dkim_pkeys_new();
    return v;
}

/* dkimv_close - free the verifier */
struct dkimv *dkimv_close(struct dkimv *v)
{
    if (v == NULL)
        return NULL;
    dkim_pkeys_free(v->pkeys);
    return xfree(v);
}

/* dkimv_set_lookup - answer key lookups with fn instead of DNS */
void dkimv_set_lookup(struct dkimv *v, struct dns_result *(*fn)(void *arg, const char *name),
                      void *arg)
{
    v->lookup = fn;
    v->lookup_arg = arg;
}

/* dkimv_begin - start a message */
struct dkimv_msg *dkimv_begin(struct dkimv *v, const char *id, unsigned flags)
{
    struct dkimv_msg *m = xcalloc(1, sizeof(*m));

    (void)id;
    m->v = v;
    m->leadspc = (flags & DKIMV_LEADSPC) != 0;
    m->now = (long long)time(NULL);
    return m;
}

/* dkimv_header - one header field as the milter gives it */
void dkimv_header(struct dkimv_msg *m, const char *name, const char *value)
{
    struct hfield *f;

    if (m->eoh_done || name == NULL || *name == '\0')
        return;
    if (value == NULL)
        value = "";
    if (m->hdr_full || m->hdr.len + strlen(name) + strlen(value) > DKIMV_HEADER_MAX) {
        m->hdr_full = true; /* what h= signs may be gone: no signature can be checked */
        return;
    }
    if (m->nf == m->fcap) { /* doubling: a message has 10-30 fields, one malloc or three */
        m->fcap = m->fcap ? 2 * m->fcap : 16;
        m->f = xrealloc(m->f, m->fcap * sizeof(*m->f));
    }
    f = &m->f[m->nf++];
    f->off = m->hdr.len;
    f->nlen = strlen(name);
    dkimv_header_line(&m->hdr, name, value, m->leadspc);
    f->len = m->hdr.len - f->off;
    if (strcasecmp(name, "DKIM-Signature") == 0) {
        struct cand *c;

        m->cand = xrealloc(m->cand, (m->ncand + 1) * sizeof(*m->cand));
        c = &m->cand[m->ncand++];
        memset(c, 0, sizeof(*c));
        c->field = m->nf - 1;
        c->value = xstrdup(value);
        c->d = dkimv_tag_value(value, "d");
        if (c->d) {
            size_t dl = strlen(str_lower(c->d));

            if (dl > 1 && c->d[dl - 1] == '.') /* as the From: domain is compared */
                c->d[dl - 1] = '\0';
        }
    } else if (m->from_domain == NULL && strcasecmp(name, "From") == 0) {
        m->from_domain = domain_of_from(value);
    }
}

/* choose - pick the DKIM-Signature fields to verify, set up m->st */
static void choose(struct dkimv_msg *m)
{
    size_t n = 0;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < m->ncand && n < m->v->max_sigs; i++)
            if (!m->cand[i].chosen && (pass == 1 || aligned(m->cand[i].d, m->from_domain))) {
                m->cand[i].chosen = true;
                n++;
            }
    m->st = xcalloc(n ? n : 1, sizeof(*m->st));
    for (size_t i = 0; i < m->ncand; i++) {
        if (m->cand[i].chosen) {
            m->st[m->nst].cand = &m->cand[i];
            m->st[m->nst].body = -1;
            m->nst++;
        } else {
            m->cand[i].value = xfree(m->cand[i].value);
            m->cand[i].d = xfree(m->cand[i].d);
        }
    }
}

/* body_for - the index of the body hash a signature needs, made if new */
static int body_for(struct dkimv_msg *m, const struct dkim_sig *sig)
{
    unsigned long long limit = sig->has_l ? sig->l : DKIM_BODY_ALL;
    struct dkimv_body *b;

    for (size_t i = 0; i < m->nbodies; i++)
        if (m->bodies[i].relaxed == sig->body_relaxed && m->bodies[i].limit == limit)
            return (int)i;
    m->bodies = xrealloc(m->bodies, (m->nbodies + 1) * sizeof(*m->bodies));
    b = &m->bodies[m->nbodies];
    memset(b, 0, sizeof(*b));
    b->relaxed = sig->body_relaxed;
    b->limit = limit;
    if (!dkim_body_init(&b->b, b->relaxed, limit))
        m->broken = "verifier error";
    return (int)m->nbodies++;
}

/* dkimv_eoh - end of header: parse the chosen signatures, start lookups */
void dkimv_eoh(struct dkimv_msg *m)
{
    if (m->eoh_done)
        return;
    m->eoh_done = true;
    choose(m);
    for (size_t i = 0; i < m->nst; i++) {
        struct sigst *s = &m->st[i];

        dkim_sig_parse(&s->sig, s->cand->value, strlen(s->cand->value), m->now);
        if (s->sig.error == NULL && s->sig.alg != DKIM_ALG_RSA_SHA1)
            s->body = body_for(m, &s->sig);
    }
    dkimv_keys_start(m);
}

/* dkimv_body - a chunk of the body */
void dkimv_body(struct dkimv_msg *m, const unsigned char *chunk, size_t len)
{
    if (!m->eoh_done)
        dkimv_eoh(m);
    if (m->eom_done || len == 0)
        return;
    for (size_t i = 0; i < m->nbodies; i++)
        dkim_body_update(&m->bodies[i].b, chunk, len);
}

/* dkimv_eom - end of message: verify and return the results */
const struct dkimv_results *dkimv_eom(struct dkimv_msg *m)
{
    if (!m->eoh_done)
        dkimv_eoh(m);
    if (m->eom_done)
        return &m->results;
    m->eom_done = true;
    for (size_t i = 0; i < m->nbodies; i++) {
        struct dkimv_body *b = &m->bodies[i];

        b->ok = dkim_body_final(&b->b, b->digest);
        if (!b->ok)
            m->broken = "verifier error";
    }
    for (size_t i = 0; i < m->nst; i++)
        dkimv_check(m, &m->st[i]);
    dkimv_results_build(m);
    return &m->results;
}

/* dkimv_end - free everything of the message */
struct dkimv_msg *dkimv_end(struct dkimv_msg *m)
{
    if (m == NULL)
        return NULL;
    dkimv_keys_free(m);
    dkimv_results_free(m);
    for (size_t i = 0; i < m->nst; i++)
        dkim_sig_free(&m->st[i].sig);
    for (size_t i = 0; i < m->nbodies; i++)
        dkim_body_free(&m->bodies[i].b);
    free(m->bodies);
    for (size_t i = 0; i < m->ncand; i++) {
        free(m->cand[i].value);
        free(m->cand[i].d);
    }
    free(m->cand);
    free(m->st);
    free(m->f);
    free(m->from_domain);
    buf_free(&m->hdr);
    return xfree(m);
}
