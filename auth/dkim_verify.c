/*
 * dkim_verify.c - DKIM verification of inbound mail over libopendkim,
 * with key lookups through lib/dns.
 *
 * SUMMARY
 *   One DKIM_LIB per process (dkimv_open), set up with BADSIGHANDLES
 *   (a signature with syntax errors still gets a handle, so it is
 *   reported as neutral instead of vanishing), DELAYSIGPROC (no key
 *   lookups inside dkim_eoh(): we start them ourselves at end of header
 *   and libopendkim verifies in dkim_eom()), MINKEYBITS, and two
 *   callbacks: prescreen (end of header: records the signature handles,
 *   makes libopendkim ignore rsa-sha1 signatures and those whose tag-list
 *   it could not parse) and key lookup (end of message: waits for the
 *   lookup started at end of header, dkim_dns.c). libopendkim's own
 *   resolver is never used.
 *
 * HEADER FIELDS
 *   libmilter gives name and value apart; the value's folds are "\n"+WSP
 *   (Postfix) and one leading space is removed unless SMFIP_HDR_LEADSPC
 *   was negotiated. dkimv_header_line() rebuilds "Name:value" with CRLF
 *   before each fold: exact with LEADSPC, otherwise one space is put back
 *   (not before a tab or a line end). Relaxed header canonicalization is
 *   exact either way. Postfix also drops white space between a field
 *   name and its colon, which simple canonicalization cannot survive.
 *
 *   Every field but DKIM-Signature goes to libopendkim at once. The
 *   DKIM-Signature fields are held here instead (as much memory as
 *   libopendkim would take for them) until end of header; then max_sigs
 *   are chosen - d= equal to, a parent or a child of the From: domain
 *   first, then the others, each in header order - given to libopendkim
 *   after the other fields, and the rest are freed. Only the order of
 *   fields of the same name matters to DKIM (h= takes instances from the
 *   bottom up), so this changes no hash, except for a chosen signature
 *   that signs a DKIM-Signature field that was not chosen.
 *
 *   Results are made in dkim_result.c, key lookups in dkim_dns.c.
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

#include "dkim_verify_int.h"
#include "log.h"
#include "mailaddr.h"
#include "util.h"

/* lib_malloc - libopendkim's allocator: never NULL */
static void *lib_malloc(void *closure, size_t n)
{
    (void)closure;
    return xmalloc(n ? n : 1);
}

/* lib_free - libopendkim's deallocator */
static void lib_free(void *closure, void *p)
{
    (void)closure;
    free(p);
}

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

/* within - is sub equal to dom or a subdomain of it */
static bool within(const char *sub, const char *dom)
{
    size_t ls = strlen(sub), ld = strlen(dom);

    if (ls == ld)
        return strcmp(sub, dom) == 0;
    return ls > ld && sub[ls - ld - 1] == '.' && strcmp(sub + ls - ld, dom) == 0;
}

/* aligned - is a signing domain the From: domain, or a parent or child of it */
static bool aligned(const char *d, const char *from)
{
    return d && from && (within(d, from) || within(from, d));
}

/* prescreen_cb - end of header: record handles, ignore what must not be verified */
static DKIM_CBSTAT prescreen_cb(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
    struct dkimv_msg *m = dkim_get_user_context(dkim);

    if (m == NULL)
        return DKIM_CBSTAT_ERROR;
    if ((size_t)nsigs != m->nst) {
        /* one handle per field given: anything else is a libopendkim surprise */
        warn("dkim: %d signature handles for %zu fields", nsigs, m->nst);
        m->broken = "verifier error";
        return DKIM_CBSTAT_CONTINUE;
    }
    for (size_t i = 0; i < m->nst; i++) {
        struct sigst *s = &m->st[i];
        dkim_alg_t alg;

        s->sig = sigs[i];
        if (s->cand->bad) {
            dkim_sig_ignore(s->sig);
        } else if (dkim_sig_getsignalg(s->sig, &alg) == DKIM_STAT_OK && alg == DKIM_SIGN_RSASHA1) {
            s->sha1 = true; /* RFC 8301 3.1: refused without a lookup */
            dkim_sig_ignore(s->sig);
        }
    }
    return DKIM_CBSTAT_CONTINUE;
}

/* dkimv_open - the process-wide verifier */
struct dkimv *dkimv_open(struct dns *d, unsigned max_sigs, unsigned min_key_bits, char *err,
                         size_t errlen)
{
    struct dkimv *v;
    uint32_t flags = 0;
    u_int bits = min_key_bits;

    if (max_sigs == 0) {
        strlcpy_ok(err, "dkim: max_sigs must be at least 1", errlen);
        return NULL;
    }
    v = xcalloc(1, sizeof(*v));
    v->dns = d;
    v->max_sigs = max_sigs;
    v->min_key_bits = min_key_bits;
    v->lib = dkim_init(lib_malloc, lib_free);
    if (v->lib == NULL) {
        strlcpy_ok(err, "dkim: cannot initialise libopendkim", errlen);
        return xfree(v);
    }
    if (dkim_options(v->lib, DKIM_OP_GETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) !=
        DKIM_STAT_OK)
        goto fail;
    flags |= DKIM_LIBFLAGS_BADSIGHANDLES | DKIM_LIBFLAGS_DELAYSIGPROC;
    if (dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) !=
            DKIM_STAT_OK ||
        dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &bits, sizeof(bits)) !=
            DKIM_STAT_OK ||
        dkim_set_prescreen(v->lib, prescreen_cb) != DKIM_STAT_OK ||
        dkim_set_key_lookup(v->lib, dkimv_key_lookup_cb) != DKIM_STAT_OK)
        goto fail;
    if (!dkim_libfeature(v->lib, DKIM_FEATURE_ED25519))
        warn("dkim: libopendkim has no Ed25519: ed25519-sha256 signatures will be neutral");
    return v;
fail:
    strlcpy_ok(err, "dkim: libopendkim refused an option", errlen);
    dkim_close(v->lib);
    return xfree(v);
}

/* dkimv_close - free the verifier */
struct dkimv *dkimv_close(struct dkimv *v)
{
    if (v == NULL)
        return NULL;
    dkim_close(v->lib);
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
    DKIM_STAT st = DKIM_STAT_OK;

    m->v = v;
    m->leadspc = (flags & DKIMV_LEADSPC) != 0;
    m->clen[1].relaxed = true;
    m->dkim = dkim_verify(v->lib, (const unsigned char *)(id && *id ? id : "-"), NULL, &st);
    if (m->dkim == NULL || dkim_set_user_context(m->dkim, m) != DKIM_STAT_OK) {
        warn("dkim: cannot start a verification: %s", dkim_getresultstr(st));
        m->broken = "verifier error";
    }
    return m;
}

/* feed - one "Name:value" line to libopendkim; its status */
static DKIM_STAT feed(struct dkimv_msg *m, const char *line, size_t len)
{
    if (m->dkim == NULL || len == 0)
        return DKIM_STAT_INVALID;
    return dkim_header(m->dkim, (u_char *)(uintptr_t)line, len);
}

/* dkimv_header - one header field as libmilter gives it */
void dkimv_header(struct dkimv_msg *m, const char *name, const char *value)
{
    if (m->eoh_done || name == NULL || *name == '\0')
        return;
    if (value == NULL)
        value = "";
    if (strcasecmp(name, DKIM_SIGNHEADER) == 0) {
        struct cand *c;

        m->nsighdr++;
        m->cand = xrealloc(m->cand, (m->ncand + 1) * sizeof(*m->cand));
        c = &m->cand[m->ncand++];
        memset(c, 0, sizeof(*c));
        c->value = xstrdup(value);
        c->d = dkimv_tag_value(value, "d");
        if (c->d)
            str_lower(c->d);
        return;
    }
    if (m->from_domain == NULL && strcasecmp(name, "From") == 0)
        m->from_domain = domain_of_from(value);
    buf_reset(&m->line);
    dkimv_header_line(&m->line, name, value, m->leadspc);
    /* a field libopendkim refuses (bad name) is one no signature can cover */
    (void)feed(m, m->line.data, m->line.len);
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
            m->st[m->nst++].cand = &m->cand[i];
        } else {
            m->cand[i].value = xfree(m->cand[i].value);
            m->cand[i].d = xfree(m->cand[i].d);
        }
    }
}

/* dkimv_eoh - end of header: give libopendkim the chosen signatures, start lookups */
void dkimv_eoh(struct dkimv_msg *m)
{
    DKIM_STAT st;

    if (m->eoh_done)
        return;
    m->eoh_done = true;
    choose(m);
    if (m->nst == 0 || m->broken)
        return;
    for (size_t i = 0; i < m->nst; i++) {
        struct cand *c = m->st[i].cand;
        char *l = dkimv_tag_value(c->value, "l");

        /* the canonical body length is only reported next to an l= tag */
        if (l != NULL)
            m->count_len = true;
        free(l);
        buf_reset(&m->line);
        dkimv_header_line(&m->line, DKIM_SIGNHEADER, c->value, m->leadspc);
        st = feed(m, m->line.data, m->line.len);
        if (st == DKIM_STAT_SYNTAX)
            c->bad = true; /* its tag-list did not parse */
        else if (st != DKIM_STAT_OK)
            m->broken = "verifier error";
    }
    if (m->broken)
        return;
    st = dkim_eoh(m->dkim);
    if (st == DKIM_STAT_OK) {
        m->active = true;
    } else if (st != DKIM_STAT_NOSIG) { /* NOSIG: every signature ignored */
        warn("dkim: end of header: %s", dkim_getresultstr(st));
        m->broken = "verifier error";
    }
    if (m->active && !m->broken)
        dkimv_keys_start(m);
}

/* dkimv_body - a chunk of the body */
void dkimv_body(struct dkimv_msg *m, const unsigned char *chunk, size_t len)
{
    if (!m->eoh_done)
        dkimv_eoh(m);
    if (m->eom_done || len == 0)
        return;
    if (m->count_len) {
        dkimv_clen_add(&m->clen[0], chunk, len);
        dkimv_clen_add(&m->clen[1], chunk, len);
    }
    if (m->active && !m->broken) {
        DKIM_STAT st = dkim_body(m->dkim, (u_char *)(uintptr_t)chunk, len);

        if (st != DKIM_STAT_OK) {
            warn("dkim: body: %s", dkim_getresultstr(st));
            m->broken = "verifier error";
        }
    }
}

/* dkimv_eom - end of message: verify and return the results */
const struct dkimv_results *dkimv_eom(struct dkimv_msg *m)
{
    if (!m->eoh_done)
        dkimv_eoh(m);
    if (m->eom_done)
        return &m->results;
    m->eom_done = true;
    if (m->active && !m->broken) {
        _Bool testkey = 0;
        DKIM_STAT st = dkim_eom(m->dkim, &testkey);

        if (st == DKIM_STAT_INTERNAL || st == DKIM_STAT_NORESOURCE || st == DKIM_STAT_INVALID) {
            warn("dkim: end of message: %s", dkim_getresultstr(st));
            m->broken = "verifier error";
        }
    }
    dkimv_results_build(m);
    return &m->results;
}

/* dkimv_end - free everything of the message */
struct dkimv_msg *dkimv_end(struct dkimv_msg *m)
{
    if (m == NULL)
        return NULL;
    dkimv_keys_free(m);
    if (m->dkim)
        dkim_free(m->dkim);
    dkimv_results_free(m);
    for (size_t i = 0; i < m->ncand; i++) {
        free(m->cand[i].value);
        free(m->cand[i].d);
    }
    free(m->cand);
    free(m->st);
    free(m->from_domain);
    buf_free(&m->line);
    return xfree(m);
}
