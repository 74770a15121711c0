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
 *   body) and one body hash set up per body canonicalization among them
 *   (lib/dkim_canon.c), with a prefix digest per distinct l=: the body is
 *   canonicalized and hashed at most twice, however many signatures and
 *   l= values there are. At end of message each signature is verified
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
#include "from_domain.h"
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
    m->partial_counts = (flags & DKIMV_PARTIAL_COUNTS) != 0;
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

        if (m->ncand == m->candcap) { /* doubling: thousands may come */
            m->candcap = m->candcap ? 2 * m->candcap : 4;
            m->cand = xrealloc(m->cand, m->candcap * sizeof(*m->cand));
        }
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
    } else if (m->from_domain == NULL && from_is_name(name)) {
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
            m->st[m->nst].cut = -1;
            m->nst++;
        } else {
            m->cand[i].value = xfree(m->cand[i].value);
            m->cand[i].d = xfree(m->cand[i].d);
        }
    }
}

/* body_for - the index of the body hash of a canonicalization, made if new */
static int body_for(struct dkimv_msg *m, bool relaxed)
{
    struct dkimv_body *b;

    for (size_t i = 0; i < m->nbodies; i++)
        if (m->bodies[i].relaxed == relaxed)
            return (int)i;
    m->bodies = xrealloc(m->bodies, (m->nbodies + 1) * sizeof(*m->bodies)); /* at most 2 */
    b = &m->bodies[m->nbodies];
    memset(b, 0, sizeof(*b));
    b->relaxed = relaxed;
    if (!dkim_body_init(&b->b, relaxed, DKIM_BODY_ALL))
        m->broken = "verifier error";
    return (int)m->nbodies++;
}

/* cmp_cut - order of two cuts by length */
static int cmp_cut(const void *a, const void *b)
{
    unsigned long long x = ((const struct dkim_body_cut *)a)->at;
    unsigned long long y = ((const struct dkim_body_cut *)b)->at;

    return x < y ? -1 : x > y;
}

/*
 * set_cuts - the distinct l= of the signatures of each body hash, sorted,
 * and each signature's cut among them (at most max_sigs per message)
 */
static void set_cuts(struct dkimv_msg *m)
{
    for (size_t k = 0; k < m->nbodies; k++) {
        struct dkimv_body *b = &m->bodies[k];
        size_t n = 0;

        b->cut = xcalloc(m->nst ? m->nst : 1, sizeof(*b->cut));
        for (size_t i = 0; i < m->nst; i++)
            if (m->st[i].body == (int)k && m->st[i].sig.has_l)
                b->cut[n++].at = m->st[i].sig.l;
        qsort(b->cut, n, sizeof(*b->cut), cmp_cut);
        b->ncut = 0;
        for (size_t i = 0; i < n; i++)
            if (b->ncut == 0 || b->cut[b->ncut - 1].at != b->cut[i].at)
                b->cut[b->ncut++].at = b->cut[i].at;
        dkim_body_cuts(&b->b, b->cut, b->ncut);
        for (size_t i = 0; i < m->nst; i++) {
            struct sigst *s = &m->st[i];

            if (s->body != (int)k || !s->sig.has_l)
                continue;
            for (size_t c = 0; c < b->ncut; c++) /* ncut <= max_sigs */
                if (b->cut[c].at == s->sig.l)
                    s->cut = (int)c;
        }
    }
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
            s->body = body_for(m, s->sig.body_relaxed);
    }
    set_cuts(m);
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
    for (size_t i = 0; i < m->nbodies; i++) {
        dkim_body_free(&m->bodies[i].b);
        free(m->bodies[i].cut);
    }
    free(m->bodies);
    dkimv_index_free(m);
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
