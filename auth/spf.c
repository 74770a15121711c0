/*
 * spf.c - the SPF evaluator's API: a request becomes a check (identity,
 * <sender>, <domain>, the macro values of the client address), the first
 * TXT lookup is submitted at once, and spf_finish() turns the evaluation
 * (spf_eval.c) into an answer with the explanation for a fail.
 *
 * SUMMARY
 *   Identity (RFC 7208 2.3, 2.4, 4.3): MAIL FROM "local@domain" checks
 *   domain with <sender> as given ("postmaster" replaces an empty local
 *   part; a sender without "@" is taken as a domain); the null sender
 *   and the HELO identity check the HELO name with postmaster@HELO. A
 *   <domain> that is not a multi-label domain name (a label of 0 or more
 *   than 63 octets, more than 253 octets, a domain literal, bytes outside
 *   printable ASCII) gives none without any lookup. A trailing dot is
 *   dropped.
 *
 *   Explanation (RFC 7208 6.2), for a fail only: the exp= of the record
 *   whose mechanism decided (after redirects; never an included record's)
 *   is expanded, its TXT fetched (no lookup limit counts it); exactly one
 *   TXT record that is a valid explanation-string is expanded with c, r
 *   and t allowed. Anything else - no exp=, DNS trouble, none or several
 *   records, bad syntax, too long - gives the default explanation (the
 *   request's, or SPF_DEFAULT_EXPLANATION). Bytes outside printable ASCII
 *   that a macro value brings in become '?', so the text is safe in an SMTP
 *   reply.
 *
 * NEVER
 *   Never waits in spf_start(), never returns none when DNS failed, never
 *   keeps a pointer into the caller's request.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "spf_int.h"
#include "spf_record.h"
#include "util.h"

#define DEFAULT_MAX_TIME_MS     20000
#define INPUT_MAX               1024 /* longest sender or HELO name we look at */
#define SPF_DEFAULT_EXPLANATION "%{c} is not one of %{d}'s designated mail servers"

/* spf_result_name - the RFC 7208 word for a result */
const char *spf_result_name(enum spf_result r)
{
    switch (r) {
    case SPF_NONE:
        return "none";
    case SPF_NEUTRAL:
        return "neutral";
    case SPF_PASS:
        return "pass";
    case SPF_FAIL:
        return "fail";
    case SPF_SOFTFAIL:
        return "softfail";
    case SPF_TEMPERROR:
        return "temperror";
    case SPF_PERMERROR:
        return "permerror";
    }
    return "permerror";
}

/* spf_identity_name - "mailfrom" or "helo" */
const char *spf_identity_name(enum spf_identity id)
{
    return id == SPF_ID_HELO ? "helo" : "mailfrom";
}

/* domain_ok - RFC 7208 4.3: a multi-label domain name we can look up */
static bool domain_ok(const char *d)
{
    size_t len = strlen(d), label = 0, labels = 0;

    if (len == 0 || len > 253 || d[0] == '[')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)d[i];

        if (ch <= 0x20 || ch >= 0x7f)
            return false;
        if (ch == '.') {
            if (label == 0)
                return false;
            labels++;
            label = 0;
        } else if (++label > 63) {
            return false;
        }
    }
    return label > 0 && labels >= 1;
}

/* set_client - parse the client address and fill %{i} %{c} */
static bool set_client(struct spf_check *c, const char *ip)
{
    struct netaddr a;
    char *p = c->mi;

    if (ip == NULL || !netaddr_parse(ip, &a))
        return false;
    c->family = a.family;
    memcpy(c->addr, a.addr, sizeof(c->addr));
    netaddr_format(&a, c->mc);
    if (a.family == AF_INET) {
        strlcpy_ok(c->mi, c->mc, sizeof(c->mi));
        return true;
    }
    /* 32 nibbles, upper case as in the RFC 7208 test suite (DNS ignores case) */
    for (int i = 0; i < 16; i++) {
        static const char hex[] = "0123456789ABCDEF";

        *p++ = hex[a.addr[i] >> 4];
        *p++ = '.';
        *p++ = hex[a.addr[i] & 0xf];
        *p++ = i < 15 ? '.' : '\0';
    }
    return true;
}

/* set_identity - <sender>, local part and <domain> for the request */
static void set_identity(struct spf_check *c, const struct spf_request *req)
{
    const char *from = req->mail_from, *at;
    size_t dlen;

    if (req->identity == SPF_ID_MAILFROM && from != NULL && *from != '\0') {
        c->identity = SPF_ID_MAILFROM;
        at = strrchr(from, '@');
        if (at == NULL) {
            c->local = xstrdup("postmaster");
            c->domain = xstrdup(from);
        } else {
            c->local = at == from ? xstrdup("postmaster") : xstrndup(from, (size_t)(at - from));
            c->domain = xstrdup(at + 1);
        }
    } else {
        c->identity = SPF_ID_HELO;
        c->local = xstrdup("postmaster");
        c->domain = xstrdup(c->helo);
    }
    dlen = strlen(c->domain);
    if (dlen > 0 && c->domain[dlen - 1] == '.')
        c->domain[dlen - 1] = '\0';
    c->sender = xasprintf("%s@%s", c->local, c->domain);
}

/* decide - the result is known in spf_start() */
static struct spf_check *decide(struct spf_check *c, enum spf_result r, const char *why)
{
    c->decided = true;
    c->result = r;
    spf_problem(c, "%s", why);
    return c;
}

/* spf_start - validate the request and submit the first TXT lookup */
struct spf_check *spf_start(struct dns *d, const struct spf_request *req)
{
    struct spf_check *c = xcalloc(1, sizeof(*c));
    char *qn;

    c->dns = d;
    c->max_time_ms = req->max_time_ms ? req->max_time_ms : DEFAULT_MAX_TIME_MS;
    c->helo = xstrdup(req->helo && strlen(req->helo) <= INPUT_MAX ? req->helo : "");
    c->receiver = xstrdup(req->receiver && *req->receiver ? req->receiver : "unknown");
    c->default_exp = xstrdup(req->default_explanation);
    if (!snprintf_ok(c->mt, sizeof(c->mt), "%lld", req->now ? req->now : (long long)time(NULL)))
        bug("spf: time does not fit");
    set_identity(c, req);
    if (!set_client(c, req->client_ip))
        return decide(c, SPF_NONE, "no usable client IP address");
    if (c->identity == SPF_ID_MAILFROM && strlen(req->mail_from) > INPUT_MAX)
        return decide(c, SPF_NONE, "sender address too long");
    if (!domain_ok(c->domain)) {
        if (*c->domain == '\0')
            return decide(c, SPF_NONE,
                          c->identity == SPF_ID_HELO ? "no HELO name to check"
                                                     : "the sender has no domain");
        qn = spf_quoted(c->domain);
        c->decided = true;
        c->result = SPF_NONE;
        spf_problem(c, "\"%s\" is not a domain name SPF can check", qn);
        free(qn);
        return c;
    }
    qn = spf_query_name(c->domain);
    c->first = dns_submit(d, qn, DNS_T_TXT);
    free(qn);
    return c;
}

/* check_free - free a check (its first query must be gone) */
static void check_free(struct spf_check *c)
{
    if (c->first != NULL)
        bug("spf: check freed with a lookup outstanding");
    free(c->sender);
    free(c->local);
    free(c->domain);
    free(c->helo);
    free(c->receiver);
    free(c->default_exp);
    free(c->problem);
    free(c->mechanism);
    free(c->final_domain);
    free(c->exp_spec);
    for (size_t i = 0; i < c->nptr; i++)
        free(c->ptr_names[i]);
    free(c->p_domain);
    free(c->p_value);
    free(c);
}

/* spf_cancel - abandon a started check without waiting; frees it */
struct spf_check *spf_cancel(struct spf_check *c)
{
    if (c == NULL)
        return NULL;
    if (c->first != NULL)
        c->first = dns_cancel(c->first);
    check_free(c);
    return NULL;
}

/* expand_explain - expand an explanation-string for <domain> d into out */
static bool expand_explain(struct spf_check *c, const char *s, size_t len, const char *d,
                           struct buf *out)
{
    struct spf_macro_vars v;
    struct spf_p_ctx p;
    char err[128];

    spf_vars(c, d, &v, &p);
    return spf_macro_expand(s, len, SPF_MACRO_EXPLAIN, &v, out, err, sizeof(err));
}

/* fetch_explain - the exp= text, expanded, into out; false if unusable */
static bool fetch_explain(struct spf_check *c, struct buf *out)
{
    struct buf name = BUF_INIT;
    struct dns_result *r = NULL;
    char *saved = c->problem;
    enum spf_lk st = SPF_LK_VOID;
    bool ok = false, valid;

    c->problem = NULL; /* whatever goes wrong here is no problem of the result */
    if (spf_target(c, c->exp_spec, c->final_domain, &name, &valid) && valid)
        r = spf_lookup(c, buf_cstr(&name), DNS_T_TXT, &st);
    if (st == SPF_LK_OK && r->n == 1 && r->txt_len[0] <= SPF_RECORD_MAX)
        ok = expand_explain(c, r->txt[0], r->txt_len[0], c->final_domain, out);
    dns_result_free(r);
    buf_free(&name);
    free(c->problem);
    c->problem = saved;
    return ok;
}

/* explanation - the text for a fail; caller frees */
static char *explanation(struct spf_check *c)
{
    struct buf b = BUF_INIT;
    const char *d = c->final_domain ? c->final_domain : c->domain;

    if (c->exp_spec == NULL || !fetch_explain(c, &b)) {
        buf_reset(&b);
        if (c->default_exp == NULL ||
            !expand_explain(c, c->default_exp, strlen(c->default_exp), d, &b)) {
            buf_reset(&b);
            if (!expand_explain(c, SPF_DEFAULT_EXPLANATION, strlen(SPF_DEFAULT_EXPLANATION), d, &b))
                bug("spf: the built-in explanation does not expand");
        }
    }
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] < 0x20 || (unsigned char)b.data[i] > 0x7e)
            b.data[i] = '?';
    return buf_steal(&b);
}

/* set_deadline - the evaluation may take max_time_ms from now on (the
 * time between spf_start() and spf_finish() is the message's, not ours) */
static void set_deadline(struct spf_check *c)
{
    unsigned ms = c->max_time_ms;

    clock_gettime(CLOCK_MONOTONIC, &c->deadline);
    c->deadline.tv_sec += ms / 1000;
    c->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (c->deadline.tv_nsec >= 1000000000L) {
        c->deadline.tv_sec++;
        c->deadline.tv_nsec -= 1000000000L;
    }
}

/* spf_finish - complete the evaluation, fill *out, free the check */
void spf_finish(struct spf_check *c, struct spf_answer *out)
{
    memset(out, 0, sizeof(*out));
    set_deadline(c);
    if (!c->decided)
        spf_check_top(c);
    out->result = c->result;
    out->identity = c->identity;
    out->domain = xstrdup(c->domain);
    out->sender = xstrdup(c->sender);
    out->dns_terms = c->dns_terms;
    out->void_lookups = c->void_lookups;
    if (c->result == SPF_FAIL)
        out->explanation = explanation(c);
    if (c->result == SPF_NONE || c->result == SPF_TEMPERROR || c->result == SPF_PERMERROR) {
        out->problem = c->problem ? c->problem : xstrdup(spf_result_name(c->result));
        c->problem = NULL;
    } else {
        out->mechanism = c->mechanism;
        c->mechanism = NULL;
    }
    check_free(c);
}

/* spf_eval - spf_start() + spf_finish() */
void spf_eval(struct dns *d, const struct spf_request *req, struct spf_answer *out)
{
    spf_finish(spf_start(d, req), out);
}

/* spf_answer_free - free the strings of an answer and zero it */
void spf_answer_free(struct spf_answer *a)
{
    free(a->domain);
    free(a->sender);
    free(a->mechanism);
    free(a->explanation);
    free(a->problem);
    memset(a, 0, sizeof(*a));
}
