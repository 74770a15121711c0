/*
 * dkim_result.c - what dkim_verify.c reports: per-signature results from
 * libopendkim's state and our key lookups, header.b prefixes, and the
 * canonical body length behind "partial body".
 *
 * RESULTS
 *   pass: signature and body hash verified, and (RSA) the key has at
 *   least min_key_bits. fail: bad signature, body hash mismatch, key too
 *   short, rsa-sha1, revoked key (RFC 6376 6.1.2: "treat this as a failed
 *   signature check"), l= longer than the body, i= refused by a t=s key.
 *   permerror: no key (NXDOMAIN, no TXT, no key record: RFC 6376 6.1.2
 *   PERMFAIL "no key for signature", which never checked the signature),
 *   a key record libopendkim cannot use, several key records. temperror:
 *   DNS timeout or SERVFAIL, libopendkim trouble. neutral: signature
 *   syntax errors, expired or future signatures (RFC 8601 2.7.1: "could
 *   not be processed").
 *
 *   The comment is ours, or libopendkim's short error text for syntax
 *   errors. A signature with l= has "l=N" in it, and "partial body" when
 *   the body, canonicalized as its c= says (counted while it streams by),
 *   is longer than N: content was, or may have been, added after signing.
 *
 * NEVER
 *   Never puts key material into a comment; never reads a tag value
 *   libopendkim parsed when our own copy of the field will do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_verify_int.h"
#include "util.h"

#define B_PREFIX_MIN 8 /* RFC 6008 section 4 */
#define ED25519_BITS 256

/* dkimv_result_name - the RFC 8601 word for a result */
const char *dkimv_result_name(enum dkimv_result r)
{
    switch (r) {
    case DKIMV_PASS:
        return "pass";
    case DKIMV_FAIL:
        return "fail";
    case DKIMV_NEUTRAL:
        return "neutral";
    case DKIMV_POLICY:
        return "policy";
    case DKIMV_TEMPERROR:
        return "temperror";
    case DKIMV_PERMERROR:
        return "permerror";
    }
    return "permerror";
}

/* dkimv_b_prefix_len - shortest prefix (>= 8) of b[i] unlike every other b[j] */
size_t dkimv_b_prefix_len(const char *const *b, size_t n, size_t i)
{
    size_t len = strlen(b[i]), need = B_PREFIX_MIN;

    for (size_t j = 0; j < n; j++) {
        size_t k = 0;

        if (j == i || strcmp(b[i], b[j]) == 0)
            continue;
        while (b[i][k] && b[i][k] == b[j][k])
            k++;
        if (k + 1 > need)
            need = k + 1; /* one character past the common part */
    }
    return need < len ? need : len;
}

/* clen_end_line - a CRLF ends the current line */
static void clen_end_line(struct canon_len *c)
{
    c->ws = false; /* relaxed: white space at the end of a line goes */
    if (c->line == 0) {
        c->empty++;
    } else {
        c->total += c->empty * 2 + c->line + 2;
        c->empty = 0;
        c->line = 0;
    }
}

/* dkimv_clen_add - count a chunk of body into a canonical length */
void dkimv_clen_add(struct canon_len *c, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (c->cr) {
            c->cr = false;
            if (p[i] == '\n') {
                clen_end_line(c);
                continue;
            }
            c->line += 1 + (c->relaxed && c->ws); /* a lone CR is content */
            c->ws = false;
        }
        if (p[i] == '\r') {
            c->cr = true;
        } else if (c->relaxed && (p[i] == ' ' || p[i] == '\t')) {
            c->ws = true;
        } else {
            c->line += 1 + (c->relaxed && c->ws);
            c->ws = false;
        }
    }
}

/* dkimv_clen_total - canonical length of the whole body */
unsigned long long dkimv_clen_total(const struct canon_len *c)
{
    unsigned long long line = c->line + (c->cr ? 1 + (c->relaxed && c->ws) : 0);
    unsigned long long total = c->total;

    if (line > 0) /* a last line without CRLF gets one */
        total += c->empty * 2 + line + 2;
    if (total == 0 && !c->relaxed)
        total = 2; /* simple: an empty body is one CRLF */
    return total;
}

/* key_error_reason - our words for libopendkim's key errors */
static const char *key_error_reason(int err)
{
    switch (err) {
    case DKIM_SIGERROR_NOKEY:
        return "no key for signature";
    case DKIM_SIGERROR_DNSSYNTAX:
        return "key record syntax error";
    case DKIM_SIGERROR_KEYDECODE:
        return "key unusable for the algorithm";
    case DKIM_SIGERROR_MULTIREPLY:
        return "several key records";
    default:
        return dkim_sig_geterrorstr(err);
    }
}

/* classify - the result of one signature, reason appended to why */
static enum dkimv_result classify(struct dkimv_msg *m, struct sigst *s, unsigned bits, bool ed25519,
                                  struct buf *why)
{
    unsigned flags;
    int err, bh;

    if (s->cand->bad) {
        buf_puts(why, "signature syntax error");
        return DKIMV_NEUTRAL;
    }
    if (s->sha1) {
        buf_puts(why, "rsa-sha1 not accepted");
        return DKIMV_FAIL;
    }
    if (m->broken || s->sig == NULL) {
        buf_puts(why, m->broken ? m->broken : "not verified");
        return DKIMV_TEMPERROR;
    }
    if (s->asked && s->key && s->key->status != DKIMV_KEY_OK) {
        buf_puts(why, s->key->why);
        return s->key->status == DKIMV_KEY_TEMP ? DKIMV_TEMPERROR : DKIMV_PERMERROR;
    }
    err = dkim_sig_geterror(s->sig);
    flags = dkim_sig_getflags(s->sig);
    bh = dkim_sig_getbh(s->sig);
    if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH &&
        (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN)) {
        if (!ed25519 && bits < m->v->min_key_bits) {
            buf_printf(why, "key too short (%u bits)", bits);
            return DKIMV_FAIL;
        }
        return DKIMV_PASS;
    }
    switch (err) {
    case DKIM_SIGERROR_KEYTOOSMALL:
        buf_printf(why, "key too short (%u bits)", bits);
        return DKIMV_FAIL;
    case DKIM_SIGERROR_BADSIG:
        buf_puts(why, (flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MISMATCH
                          ? "body hash mismatch"
                          : "bad signature");
        return DKIMV_FAIL;
    case DKIM_SIGERROR_KEYREVOKED:
        buf_puts(why, "key revoked");
        return DKIMV_FAIL;
    case DKIM_SIGERROR_TOOLARGE_L:
        buf_puts(why, "l= longer than the body");
        return DKIMV_FAIL;
    case DKIM_SIGERROR_SUBDOMAIN:
        buf_puts(why, "i= subdomain refused by the key (t=s)");
        return DKIMV_FAIL;
    case DKIM_SIGERROR_KEYFAIL:
        buf_puts(why, "key lookup failed");
        return DKIMV_TEMPERROR;
    case DKIM_SIGERROR_NOKEY:
    case DKIM_SIGERROR_DNSSYNTAX:
    case DKIM_SIGERROR_MULTIREPLY:
    case DKIM_SIGERROR_KEYVERSION:
    case DKIM_SIGERROR_KEYUNKNOWNHASH:
    case DKIM_SIGERROR_KEYHASHMISMATCH:
    case DKIM_SIGERROR_NOTEMAILKEY:
    case DKIM_SIGERROR_KEYTYPEMISSING:
    case DKIM_SIGERROR_KEYTYPEUNKNOWN:
    case DKIM_SIGERROR_KEYDECODE:
        buf_puts(why, key_error_reason(err));
        return DKIMV_PERMERROR;
    case DKIM_SIGERROR_UNKNOWN:
    case DKIM_SIGERROR_OK:
        buf_puts(why, "not verified");
        return DKIMV_TEMPERROR;
    default: /* signature syntax, expired, in the future */
        buf_puts(why, dkim_sig_geterrorstr(err) ? dkim_sig_geterrorstr(err) : "signature error");
        return DKIMV_NEUTRAL;
    }
}

/* tag_or_empty - a tag's value, "" when absent; caller frees */
static char *tag_or_empty(const char *value, const char *tag)
{
    char *v = dkimv_tag_value(value, tag);

    return v ? v : xstrdup("");
}

/* hexval - value of a hex digit, -1 if none */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* qp_decode - dkim-quoted-printable (RFC 6376 2.11, white space already
 * gone) decoded; the text as it is if malformed or decoding to NUL;
 * caller frees */
static char *qp_decode(const char *s)
{
    struct buf b = BUF_INIT;

    for (const char *p = s; *p; p++) {
        int hi, lo;

        if (*p != '=') {
            buf_putc(&b, *p);
            continue;
        }
        if ((hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0 || hi * 16 + lo == 0) {
            buf_free(&b);
            return xstrdup(s);
        }
        buf_putc(&b, hi * 16 + lo);
        p += 2;
    }
    return b.data ? buf_steal(&b) : xstrdup("");
}

/* fill - one result from a signature's state */
static void fill(struct dkimv_msg *m, struct sigst *s, struct dkimv_sig *r)
{
    const char *value = s->cand->value;
    char *a = tag_or_empty(value, "a"), *l = dkimv_tag_value(value, "l");
    char *i = dkimv_tag_value(value, "i");
    struct buf why = BUF_INIT;
    bool ed25519 = str_eq_nocase(a, "ed25519-sha256");
    unsigned bits = 0;

    r->domain = tag_or_empty(value, "d");
    r->selector = tag_or_empty(value, "s");
    r->algorithm = a;
    r->identity = i ? qp_decode(i) : NULL;
    r->body_length = -1;
    if (l && *l && strspn(l, "0123456789") == strlen(l) && strlen(l) <= 18)
        r->body_length = strtoll(l, NULL, 10);
    if (s->sig && !s->sha1 && !s->cand->bad) {
        unsigned flags = dkim_sig_getflags(s->sig);
        int err = dkim_sig_geterror(s->sig);

        if (ed25519)
            bits = (flags & DKIM_SIGFLAG_PASSED) || err == DKIM_SIGERROR_BADSIG ? ED25519_BITS : 0;
        else if (dkim_sig_getkeysize(s->sig, &bits) != DKIM_STAT_OK)
            bits = 0;
    }
    r->key_bits = bits;
    r->result = classify(m, s, bits, ed25519, &why);
    if (r->body_length >= 0) {
        char *c = tag_or_empty(value, "c"), *slash = strchr(c, '/');
        unsigned long long body =
            dkimv_clen_total(&m->clen[slash && str_eq_nocase(slash + 1, "relaxed")]);

        buf_printf(&why, "%sl=%lld%s", why.len ? "; " : "", r->body_length,
                   (unsigned long long)r->body_length < body ? " partial body" : "");
        free(c);
    }
    if (s->sig && (dkim_sig_getflags(s->sig) & DKIM_SIGFLAG_TESTKEY))
        buf_printf(&why, "%stesting key", why.len ? "; " : "");
    r->comment = why.data ? buf_steal(&why) : xstrdup("");
    free(l);
    free(i);
}

/* dkimv_results_build - the results of every chosen signature into m->results */
void dkimv_results_build(struct dkimv_msg *m)
{
    char **b;

    m->res = xcalloc(m->nst ? m->nst : 1, sizeof(*m->res));
    b = xcalloc(m->nst ? m->nst : 1, sizeof(*b));
    for (size_t i = 0; i < m->nst; i++) {
        fill(m, &m->st[i], &m->res[i]);
        b[i] = tag_or_empty(m->st[i].cand->value, "b");
    }
    for (size_t i = 0; i < m->nst; i++)
        m->res[i].b = xstrndup(b[i], dkimv_b_prefix_len((const char *const *)b, m->nst, i));
    for (size_t i = 0; i < m->nst; i++)
        free(b[i]);
    free(b);
    m->results.n = m->nst;
    m->results.sig = m->res;
    m->results.skipped = m->nsighdr - m->nst;
}

/* dkimv_results_free - free what dkimv_results_build() made */
void dkimv_results_free(struct dkimv_msg *m)
{
    for (size_t i = 0; m->res && i < m->nst; i++) {
        struct dkimv_sig *r = &m->res[i];

        free((char *)r->domain);
        free((char *)r->selector);
        free((char *)r->algorithm);
        free((char *)r->b);
        free((char *)r->identity);
        free((char *)r->comment);
    }
    m->res = xfree(m->res);
}
