/*
 * dkim_result.c - what dkim_verify.c reports: per-signature results from
 * dkim_check.c's outcomes, header.b prefixes, and l= with "partial body".
 *
 * RESULTS
 *   pass: signature and body hash verified, and (RSA) the key has at
 *   least min_key_bits. fail: bad signature, body hash mismatch, key too
 *   short, rsa-sha1, revoked key (RFC 6376 6.1.2: "treat this as a failed
 *   signature check"), l= longer than the body, i= refused by a t=s key.
 *   permerror: no key (NXDOMAIN, no TXT, no key record: RFC 6376 6.1.2
 *   PERMFAIL "no key for signature", which never checked the signature),
 *   a key record we cannot use, several key records. temperror: DNS
 *   timeout or SERVFAIL, OpenSSL trouble. neutral: signature syntax
 *   errors, expired or future signatures (RFC 8601 2.7.1: "could not be
 *   processed").
 *
 *   A signature with l= has "l=N" in its comment, and "partial body" when
 *   the body, canonicalized as its c= says (counted while it streams by),
 *   is longer than N: content was, or may have been, added after signing
 *   (RFC 6376 8.2: anyone may append text, a link, a whole new MIME part
 *   to such a message and keep dkim=pass). Such a pass is dmarc_ignore,
 *   "; ignored for DMARC" in the comment, unless the admin said otherwise
 *   (DKIMV_PARTIAL_COUNTS; dkim_partial_body = count): it stays a pass
 *   for Authentication-Results, but DMARC must not take it as the From:
 *   domain vouching for what the reader sees. A key with t=y adds
 *   "testing key".
 *
 * NEVER
 *   Never puts key material into a comment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_verify_int.h"
#include "util.h"

#define B_PREFIX_MIN 8 /* RFC 6008 section 4 */

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

/* fill - one result from a signature's outcome */
static void fill(struct dkimv_msg *m, struct sigst *s, struct dkimv_sig *r)
{
    const char *value = s->cand->value;
    char *l = dkimv_tag_value(value, "l"), *i = dkimv_tag_value(value, "i");
    struct buf why = BUF_INIT;

    r->domain = tag_or_empty(value, "d");
    r->selector = tag_or_empty(value, "s");
    r->algorithm = tag_or_empty(value, "a");
    r->identity = i ? qp_decode(i) : NULL;
    r->body_length = -1;
    if (l && *l && strspn(l, "0123456789") == strlen(l) && strlen(l) <= 18)
        r->body_length = strtoll(l, NULL, 10);
    r->key_bits = s->bits;
    r->result = s->result;
    buf_puts(&why, s->why);
    if (r->body_length >= 0) {
        /* "partial body": the body, canonicalized as c= says, is longer than l= */
        r->partial_body =
            s->body >= 0 && (unsigned long long)r->body_length < m->bodies[s->body].b.total;
        r->dmarc_ignore = r->partial_body && r->result == DKIMV_PASS && !m->partial_counts;
        buf_printf(&why, "%sl=%lld%s%s", why.len ? "; " : "", r->body_length,
                   r->partial_body ? " partial body" : "",
                   r->dmarc_ignore ? "; " DKIMV_NOT_FOR_DMARC : "");
    }
    if (s->testing)
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
    m->results.skipped = m->ncand - m->nst;
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
