/*
 * spf_eval.c - check_host() (RFC 7208 sections 4, 5, 6): fetching and
 * choosing the SPF record, evaluating its mechanisms, include and
 * redirect, and the processing limits. Its DNS goes through
 * spf_lookup.c.
 *
 * SUMMARY
 *   A record is parsed whole before any term is evaluated (a syntax error
 *   anywhere is a permerror). Terms are evaluated left to right; the
 *   first that matches gives its qualifier's result. include recurses:
 *   pass matches; fail, softfail, neutral do not; temperror stays
 *   temperror; permerror and none become permerror. redirect= applies
 *   only when no mechanism matched, replaces the domain and runs the
 *   target's record in place (its exp=, not ours, counts); a target
 *   without a record is a permerror.
 *
 *   A DNS failure is temperror, except inside ptr (RFC 7208 5.5). More
 *   than two void lookups (NXDOMAIN or NODATA) are a permerror; the limit
 *   is on terms, so what counts is the a mechanism's address query, the
 *   mx mechanism's MX query (not its hosts' address queries: an IPv6
 *   client must not exhaust the limit on MX hosts without AAAA) and the
 *   exists query. The PTR lookups of ptr and %{p} do not count: the
 *   sender does not control the client's reverse zone. A target name
 *   that cannot exist matches nothing and is not looked up. More than 10
 *   MX names is a permerror; a null MX ("." as the host) is skipped.
 *
 * BOUNDS
 *   Every include, a, mx, ptr, exists and redirect counts against the
 *   limit of 10 before it is looked up, so recursion is at most 10 deep
 *   and an evaluation makes at most about 10 x 11 queries plus the
 *   client's PTR names; spf_lookup() checks the deadline before each.
 *
 * NEVER
 *   Never returns none where DNS failed, never follows more than 10 MX
 *   names, never lets a record's text into a problem string unescaped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "log.h"
#include "spf_int.h"
#include "spf_record.h"
#include "util.h"

enum match { M_NO, M_YES, M_TEMP, M_PERM };

/* problem_at - spf_problem(): before, the name quoted, after */
static void problem_at(struct spf_check *c, const char *before, const char *name, const char *after)
{
    char *q = spf_quoted(name);

    spf_problem(c, "%s%s%s", before, q, after);
    free(q);
}

/* note_void - count a void lookup; false (permerror) past the limit */
static bool note_void(struct spf_check *c, const char *name)
{
    if (++c->void_lookups <= SPF_MAX_VOID)
        return true;
    problem_at(c, "more than 2 void DNS lookups (the last for ", name, ")");
    return false;
}

/* count_term - count a DNS-querying term; false (permerror) past 10 */
static bool count_term(struct spf_check *c, const char *text)
{
    if (++c->dns_terms <= SPF_MAX_DNS_TERMS)
        return true;
    problem_at(c, "more than 10 DNS-querying terms (at \"", text, "\")");
    return false;
}

/*
 * match_addrs - a/mx: the addresses of name against the client. For the
 * a mechanism, name is ours and a void answer counts; for an MX host
 * (mx_host), name is as lib/dns gave it and a void answer does not count:
 * the limit is on terms (RFC 7208 4.6.4), and the mx term's void lookup is
 * its MX query (an IPv6 client must not exhaust the limit because a
 * domain's MX hosts have no AAAA records).
 */
static enum match match_addrs(struct spf_check *c, const char *name, bool mx_host,
                              const struct spf_term *t)
{
    int type = c->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
    unsigned bits = c->family == AF_INET ? t->cidr4 : t->cidr6;
    struct dns_result *r;
    enum spf_lk st;
    bool hit;

    r = mx_host ? spf_lookup_presented(c, name, type, &st) : spf_lookup(c, name, type, &st);
    if (st == SPF_LK_TEMP)
        return M_TEMP;
    if (st == SPF_LK_VOID)
        return mx_host || note_void(c, name) ? M_NO : M_PERM;
    hit = spf_has_addr(c, r, bits);
    dns_result_free(r);
    return hit ? M_YES : M_NO;
}

/* match_mx - the mx mechanism for name */
static enum match match_mx(struct spf_check *c, const char *name, const struct spf_term *t)
{
    struct dns_result *r;
    enum match m = M_NO;
    enum spf_lk st;

    r = spf_lookup(c, name, DNS_T_MX, &st);
    if (st == SPF_LK_TEMP)
        return M_TEMP;
    if (st == SPF_LK_VOID)
        return note_void(c, name) ? M_NO : M_PERM;
    if (r->n > SPF_MAX_MX) {
        problem_at(c, "more than 10 MX records for ", name, "");
        dns_result_free(r);
        return M_PERM;
    }
    for (size_t i = 0; i < r->n && m == M_NO; i++)
        if (strcmp(r->mx[i].host, ".") != 0) /* null MX (RFC 7505) */
            m = match_addrs(c, r->mx[i].host, true, t);
    dns_result_free(r);
    return m;
}

static enum spf_result check_host(struct spf_check *c, const char *domain, unsigned depth,
                                  struct dns_query *pre);

/* match_include - include: the target's check_host() */
static enum match match_include(struct spf_check *c, const char *name, bool ok, unsigned depth)
{
    if (!ok) {
        problem_at(c, "include of ", name, ", which cannot be a domain name");
        return M_PERM;
    }
    switch (check_host(c, name, depth + 1, NULL)) {
    case SPF_PASS:
        return M_YES;
    case SPF_FAIL:
    case SPF_SOFTFAIL:
    case SPF_NEUTRAL:
        return M_NO;
    case SPF_TEMPERROR:
        return M_TEMP;
    case SPF_NONE:
        problem_at(c, "include:", name, " has no SPF record");
        return M_PERM;
    case SPF_PERMERROR:
        break;
    }
    return M_PERM;
}

/* match_term - evaluate one mechanism for <domain> domain */
static enum match match_term(struct spf_check *c, const struct spf_term *t, const char *domain,
                             unsigned depth)
{
    struct buf name = BUF_INIT;
    struct dns_result *r;
    enum spf_lk st;
    enum match m;
    bool ok;

    switch (t->mech) {
    case SPF_MECH_ALL:
        return M_YES;
    case SPF_MECH_IP4:
        return c->family == AF_INET && spf_net_match(t->net, c->addr, t->cidr4) ? M_YES : M_NO;
    case SPF_MECH_IP6:
        return c->family == AF_INET6 && spf_net_match(t->net, c->addr, t->cidr6) ? M_YES : M_NO;
    default:
        break;
    }
    if (!count_term(c, t->text))
        return M_PERM;
    if (!spf_target(c, t->domain_spec, domain, &name, &ok)) {
        buf_free(&name);
        return M_PERM;
    }
    if (t->mech == SPF_MECH_INCLUDE)
        m = match_include(c, buf_cstr(&name), ok, depth);
    else if (!ok) /* cannot exist: no match, nothing looked up */
        m = M_NO;
    else if (t->mech == SPF_MECH_A)
        m = match_addrs(c, buf_cstr(&name), false, t);
    else if (t->mech == SPF_MECH_MX)
        m = match_mx(c, buf_cstr(&name), t);
    else if (t->mech == SPF_MECH_PTR)
        m = spf_ptr_match(c, buf_cstr(&name)) ? M_YES : M_NO;
    else { /* exists: any A record, whatever the client's family */
        r = spf_lookup(c, buf_cstr(&name), DNS_T_A, &st);
        m = st == SPF_LK_OK ? M_YES : st == SPF_LK_TEMP ? M_TEMP : M_NO;
        if (st == SPF_LK_VOID && !note_void(c, buf_cstr(&name)))
            m = M_PERM;
        dns_result_free(r);
    }
    buf_free(&name);
    return m;
}

/* fetch_record - the one SPF record of domain (pre: its TXT lookup, if
 * already submitted); SPF_NEUTRAL stands for "found" in the return */
static enum spf_result fetch_record(struct spf_check *c, const char *domain, struct dns_query *pre,
                                    struct spf_record **out)
{
    struct dns_result *r;
    enum spf_lk st;
    size_t which = 0, found = 0;
    char err[256];

    *out = NULL;
    r = pre ? spf_lookup_wait(c, pre, domain, DNS_T_TXT, &st)
            : spf_lookup(c, domain, DNS_T_TXT, &st);
    if (st == SPF_LK_TEMP)
        return SPF_TEMPERROR;
    for (size_t i = 0; r != NULL && i < r->n; i++)
        if (spf_record_is_spf(r->txt[i], r->txt_len[i])) {
            which = i;
            found++;
        }
    if (found == 0) {
        problem_at(c, "no SPF record at ", domain, "");
        dns_result_free(r);
        return SPF_NONE;
    }
    if (found > 1) {
        problem_at(c, "", domain, " has more than one SPF record");
        dns_result_free(r);
        return SPF_PERMERROR;
    }
    *out = spf_record_parse(r->txt[which], r->txt_len[which], err, sizeof(err));
    dns_result_free(r);
    if (*out == NULL) {
        char *q = spf_quoted(domain);

        spf_problem(c, "SPF record of %s: %s", q, err);
        free(q);
        return SPF_PERMERROR;
    }
    return SPF_NEUTRAL;
}

/* qualifier_result - the result a matching term gives */
static enum spf_result qualifier_result(char q)
{
    switch (q) {
    case '-':
        return SPF_FAIL;
    case '~':
        return SPF_SOFTFAIL;
    case '?':
        return SPF_NEUTRAL;
    }
    return SPF_PASS;
}

/* eval_record - the mechanisms of rec; *matched tells if one matched */
static enum spf_result eval_record(struct spf_check *c, const struct spf_record *rec,
                                   const char *domain, unsigned depth, bool *matched)
{
    *matched = false;
    for (size_t i = 0; i < rec->nterms; i++) {
        const struct spf_term *t = &rec->terms[i];

        switch (match_term(c, t, domain, depth)) {
        case M_NO:
            continue;
        case M_TEMP:
            return SPF_TEMPERROR;
        case M_PERM:
            return SPF_PERMERROR;
        case M_YES:
            *matched = true;
            if (depth == 0) {
                free(c->mechanism);
                c->mechanism = xstrdup(t->text);
                free(c->final_domain);
                c->final_domain = xstrdup(domain);
                free(c->exp_spec);
                c->exp_spec = xstrdup(rec->exp);
            }
            return qualifier_result(t->qualifier);
        }
    }
    return SPF_NEUTRAL;
}

/* check_host - RFC 7208 4: the result for domain; depth 0 is the top */
static enum spf_result check_host(struct spf_check *c, const char *domain, unsigned depth,
                                  struct dns_query *pre)
{
    struct spf_record *rec;
    struct buf next = BUF_INIT;
    char *cur = xstrdup(domain);
    bool redirected = false, matched, ok;
    enum spf_result res;

    if (depth > SPF_MAX_DNS_TERMS) /* cannot happen: every include counts */
        bug("spf: include depth %u", depth);
    for (;;) {
        res = fetch_record(c, cur, pre, &rec);
        pre = NULL;
        if (res == SPF_NONE && redirected) {
            problem_at(c, "redirect=", cur, " has no SPF record");
            res = SPF_PERMERROR;
        }
        if (res != SPF_NEUTRAL)
            break;
        res = eval_record(c, rec, cur, depth, &matched);
        if (matched || res != SPF_NEUTRAL || rec->redirect == NULL) {
            spf_record_free(rec);
            break;
        }
        if (!count_term(c, "redirect") || !spf_target(c, rec->redirect, cur, &next, &ok)) {
            res = SPF_PERMERROR;
        } else if (!ok) {
            problem_at(c, "redirect to ", buf_cstr(&next), ", which cannot be a domain name");
            res = SPF_PERMERROR;
        }
        spf_record_free(rec);
        if (res == SPF_PERMERROR)
            break;
        free(cur);
        cur = buf_steal(&next);
        redirected = true;
    }
    buf_free(&next);
    free(cur);
    return res;
}

/* spf_check_top - run check_host() for c->domain, using c->first */
void spf_check_top(struct spf_check *c)
{
    struct dns_query *q = c->first;

    c->first = NULL;
    c->result = check_host(c, c->domain, 0, q);
}
