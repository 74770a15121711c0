/*
 * dmarc.c - DMARC evaluation for inbound mail (RFC 7489; np= from
 * RFC 9989): policy discovery, identifier alignment, policy selection,
 * pct sampling, and the strictest answer over several From domains.
 *
 * SUMMARY
 *   dmarc_eval() takes the candidate From domains (from_domain.c), the
 *   SPF and DKIM results, and a per-message random sample, and answers
 *   with everything an Authentication-Results header, the policy stage
 *   and the ledger need. The rules, and why, are in dmarc.h; the record
 *   syntax in dmarc_record.c; names and Organizational Domains in
 *   orgdomain.c.
 *
 *   Alignment is computed here from plain inputs: a signature aligns
 *   only if its own result is pass (nothing carries over from another
 *   signature, whatever their order); strict mode compares the names
 *   themselves, never their Organizational Domains.
 *
 * NEVER
 *   Never answers none or pass when a lookup timed out (temperror);
 *   never lets an unusable or odd From skip evaluation of a domain that
 *   appears in it; never sends reports; never keeps state between calls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "log.h"
#include "util.h"

/* Outcome of looking for the record at one name. */
enum fetch { FETCH_FOUND, FETCH_NONE, FETCH_SEVERAL, FETCH_INVALID, FETCH_TEMP, FETCH_PERM };

/* dmarc_result_name - "none", "pass", "fail", "temperror", "permerror" */
const char *dmarc_result_name(enum dmarc_result r)
{
    switch (r) {
    case DMARC_RESULT_NONE:
        return "none";
    case DMARC_RESULT_PASS:
        return "pass";
    case DMARC_RESULT_FAIL:
        return "fail";
    case DMARC_RESULT_TEMPERROR:
        return "temperror";
    case DMARC_RESULT_PERMERROR:
        return "permerror";
    }
    return "permerror";
}

/* dmarc_policy_name - "unset", "none", "quarantine", "reject" */
const char *dmarc_policy_name(enum dmarc_policy p)
{
    switch (p) {
    case DMARC_POLICY_UNSET:
        return "unset";
    case DMARC_POLICY_NONE:
        return "none";
    case DMARC_POLICY_QUARANTINE:
        return "quarantine";
    case DMARC_POLICY_REJECT:
        return "reject";
    }
    return "unset";
}

/* dmarc_source_name - "", "p", "sp", "np" */
const char *dmarc_source_name(enum dmarc_source s)
{
    switch (s) {
    case DMARC_SOURCE_NONE:
        return "";
    case DMARC_SOURCE_P:
        return "p";
    case DMARC_SOURCE_SP:
        return "sp";
    case DMARC_SOURCE_NP:
        return "np";
    }
    return "";
}

/* dns_lookup_cb - the lib/dns resolver */
static struct dns_result *dns_lookup_cb(void *arg, const char *name, int type)
{
    return dns_lookup(arg, name, type);
}

/* dns_submit_cb - start a lib/dns lookup */
static void *dns_submit_cb(void *arg, const char *name, int type)
{
    return dns_submit(arg, name, type);
}

/* dns_wait_cb - collect a lib/dns lookup */
static struct dns_result *dns_wait_cb(void *arg, void *q)
{
    (void)arg;
    return dns_wait(q);
}

/* dns_cancel_cb - drop a lib/dns lookup */
static void dns_cancel_cb(void *arg, void *q)
{
    (void)arg;
    dns_cancel(q);
}

/* dmarc_resolver_dns - a resolver that asks lib/dns */
struct dmarc_resolver dmarc_resolver_dns(struct dns *d)
{
    struct dmarc_resolver r = {dns_lookup_cb, d, dns_submit_cb, dns_wait_cb, dns_cancel_cb};

    return r;
}

/*
 * The lookups of one message: at most DMARC_LOOKUPS_MAX, some submitted
 * ahead (prefetch) and collected when the walk asks for them.
 */
struct lookups {
    const struct dmarc_resolver *res;
    unsigned count; /* lookups made or submitted */
    size_t n;
    struct pending {
        char name[ORGDOMAIN_LEN + 8];
        int type;
        void *q; /* NULL once collected */
    } p[DMARC_LOOKUPS_MAX];
};

/* lk_submit - start a lookup ahead if the resolver can (and it is not under way) */
static void lk_submit(struct lookups *lk, const char *name, int type)
{
    struct pending *e;

    if (lk->res->submit == NULL || lk->n == DMARC_LOOKUPS_MAX || lk->count >= DMARC_LOOKUPS_MAX)
        return;
    for (size_t i = 0; i < lk->n; i++)
        if (lk->p[i].q && lk->p[i].type == type && strcmp(lk->p[i].name, name) == 0)
            return;
    e = &lk->p[lk->n];
    if (!strlcpy_ok(e->name, name, sizeof(e->name)))
        return;
    e->type = type;
    e->q = lk->res->submit(lk->res->arg, name, type);
    lk->n++;
    lk->count++;
}

/* lk_get - the answer for name/type: a submitted one, else a new lookup; caller frees */
static struct dns_result *lk_get(struct lookups *lk, const char *name, int type)
{
    struct dns_result *r;

    for (size_t i = 0; i < lk->n; i++) {
        struct pending *e = &lk->p[i];

        if (e->q && e->type == type && strcmp(e->name, name) == 0) {
            r = lk->res->wait(lk->res->arg, e->q);
            e->q = NULL;
            return r;
        }
    }
    if (lk->count >= DMARC_LOOKUPS_MAX) { /* cannot happen (dmarc.h, BOUNDS); never unbounded */
        warn("dmarc: lookup budget of %d spent, %s counts as a timeout", DMARC_LOOKUPS_MAX, name);
        r = xcalloc(1, sizeof(*r));
        r->status = DNS_TEMPFAIL;
        return r;
    }
    lk->count++;
    return lk->res->lookup(lk->res->arg, name, type);
}

/* lk_finish - drop what was submitted and never collected */
static void lk_finish(struct lookups *lk)
{
    for (size_t i = 0; i < lk->n; i++)
        if (lk->p[i].q)
            lk->res->cancel(lk->res->arg, lk->p[i].q);
    lk->n = 0;
}

/* reasonf - set a->reason; an over-long reason is cut and ends in "..." */
static void reasonf(struct dmarc_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reasonf(struct dmarc_answer *a, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(a->reason, sizeof(a->reason), fmt, ap);
    va_end(ap);
    if (n < 0)
        memcpy(a->reason, "?", 2);
    else if ((size_t)n >= sizeof(a->reason))
        memcpy(a->reason + sizeof(a->reason) - 4, "...", 4);
}

/* copy_name - copy a validated name (at most 253 octets) into an answer field */
static void copy_name(char dst[ORGDOMAIN_LEN], const char *src)
{
    if (!strlcpy_ok(dst, src, ORGDOMAIN_LEN))
        bug("dmarc: name longer than 253 octets: %.40s...", src);
}

/* fetch_record - look for the one DMARC record at _dmarc.<domain> */
static enum fetch fetch_record(struct lookups *lk, const char *domain, struct dmarc_record *rec)
{
    char name[ORGDOMAIN_LEN + 8];
    struct dns_result *r;
    enum fetch f = FETCH_NONE;
    size_t count = 0, which = 0;

    memset(rec, 0, sizeof(*rec));
    if (!snprintf_ok(name, sizeof(name), "_dmarc.%s", domain) || strlen(name) > 253)
        return FETCH_NONE; /* cannot exist in the DNS */
    r = lk_get(lk, name, DNS_T_TXT);
    switch (r->status) {
    case DNS_OK:
        for (size_t i = 0; r->txt != NULL && i < r->n; i++) {
            if (dmarc_record_is_dmarc(r->txt[i], r->txt_len[i])) {
                count++;
                which = i;
            }
        }
        if (count > 1)
            f = FETCH_SEVERAL;
        else if (count == 1)
            f = dmarc_record_parse(r->txt[which], r->txt_len[which], rec) == DMARC_RECORD_OK
                    ? FETCH_FOUND
                    : FETCH_INVALID;
        break;
    case DNS_NODATA:
    case DNS_NXDOMAIN:
        break;
    case DNS_TEMPFAIL:
        f = FETCH_TEMP;
        break;
    case DNS_PERMFAIL:
        f = FETCH_PERM;
        break;
    }
    dns_result_free(r);
    return f;
}

static const int exist_types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX};

/* domain_exists - 0 if A, AAAA and MX are all NXDOMAIN, -1 on a timeout, else 1 */
static int domain_exists(struct lookups *lk, const char *domain)
{
    const size_t ntypes = sizeof(exist_types) / sizeof(exist_types[0]);
    bool temp = false;

    for (size_t i = 0; i < ntypes; i++) /* all three under way at once */
        lk_submit(lk, domain, exist_types[i]);
    for (size_t i = 0; i < ntypes; i++) {
        struct dns_result *r = lk_get(lk, domain, exist_types[i]);
        enum dns_status s = r->status;

        dns_result_free(r);
        if (s == DNS_TEMPFAIL)
            temp = true;
        else if (s != DNS_NXDOMAIN)
            return 1; /* data, nodata, or a server error: not known to be absent */
    }
    return temp ? -1 : 0;
}

/* aligned_name - normalise an authenticated domain and test alignment */
static bool aligned_name(const char *auth, const char *from, enum dmarc_align mode,
                         char out[ORGDOMAIN_LEN])
{
    const char *at;

    if (auth == NULL)
        return false;
    at = strrchr(auth, '@');
    if (at != NULL)
        auth = at + 1;
    if (orgdomain_normalize(auth, strlen(auth), out) != ORGDOMAIN_NAME)
        return false;
    return orgdomain_aligned(out, from, mode == DMARC_ALIGN_STRICT);
}

/* check_alignment - set spf_aligned, dkim_aligned and dkim_domain */
static void check_alignment(const struct dmarc_input *in, struct dmarc_answer *a)
{
    char name[ORGDOMAIN_LEN];

    for (size_t i = 0; i < in->ndkim; i++) {
        if (in->dkim[i].result != DMARC_AUTH_PASS)
            continue;
        if (aligned_name(in->dkim[i].domain, a->from_domain, a->adkim, name)) {
            a->dkim_aligned = true;
            memcpy(a->dkim_domain, name, sizeof(name));
            break;
        }
    }
    if (in->spf.result == DMARC_AUTH_PASS && in->spf.identity == DMARC_SPF_MAILFROM)
        a->spf_aligned = aligned_name(in->spf.domain, a->from_domain, a->aspf, name);
}

/* lower_policy - the next less strict policy (pct, RFC 7489 6.6.4) */
static enum dmarc_policy lower_policy(enum dmarc_policy p)
{
    return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

/* apply_policy - a failed message: which tag applies, sampling, disposition */
static void apply_policy(struct lookups *lk, const struct dmarc_input *in, bool at_org,
                         bool failing, struct dmarc_answer *a)
{
    a->result = DMARC_RESULT_FAIL;
    a->source = DMARC_SOURCE_P;
    a->policy = a->p;
    if (at_org) {
        if (a->sp != DMARC_POLICY_UNSET) {
            a->source = DMARC_SOURCE_SP;
            a->policy = a->sp;
        }
        if (a->np != DMARC_POLICY_UNSET && a->np != a->policy) {
            int e = domain_exists(lk, a->from_domain);

            if (e < 0) {
                a->result = DMARC_RESULT_TEMPERROR;
                a->source = DMARC_SOURCE_NONE;
                a->policy = DMARC_POLICY_UNSET;
                reasonf(a, "DNS timeout checking whether %s exists", a->from_domain);
                return;
            }
            if (e == 0) {
                a->source = DMARC_SOURCE_NP;
                a->policy = a->np;
            }
        }
    }
    a->sampled = in->sample % 100 < a->pct;
    a->disposition = a->sampled ? a->policy : lower_policy(a->policy);
    reasonf(a, "%s; %s=%s%s", failing ? "counted as failing" : "no aligned SPF or DKIM pass",
            dmarc_source_name(a->source), dmarc_policy_name(a->policy),
            a->sampled ? "" : ", not in pct sample");
}

/* eval_domain - DMARC for one candidate From domain; failing: no pass counts */
static void eval_domain(struct lookups *lk, const struct dmarc_input *in, const char *domain,
                        bool failing, struct dmarc_answer *a)
{
    struct dmarc_record rec;
    enum fetch f;
    bool at_org = false;
    const char *where = domain;

    memset(a, 0, sizeof(*a));
    a->disposition = DMARC_POLICY_NONE;
    copy_name(a->from_domain, domain);
    if (!orgdomain_get(domain, a->org_domain)) {
        a->result = DMARC_RESULT_PERMERROR;
        reasonf(a, "no organizational domain for %s", domain);
        return;
    }
    f = fetch_record(lk, domain, &rec);
    /* a permanent DNS error at the sub-domain must not hide the org's policy */
    if ((f == FETCH_NONE || f == FETCH_PERM) && strcmp(a->org_domain, domain) != 0) {
        dmarc_record_clear(&rec);
        where = a->org_domain;
        at_org = true;
        f = fetch_record(lk, where, &rec);
    }
    switch (f) {
    case FETCH_FOUND:
        break;
    case FETCH_NONE:
        a->result = DMARC_RESULT_NONE;
        reasonf(a, "no DMARC record");
        goto out;
    case FETCH_SEVERAL:
        a->result = DMARC_RESULT_NONE;
        reasonf(a, "several DMARC records at _dmarc.%s", where);
        goto out;
    case FETCH_INVALID:
        a->result = DMARC_RESULT_PERMERROR;
        copy_name(a->policy_domain, where);
        reasonf(a, "record at _dmarc.%s: bad or missing p=, or bad sp=, and no valid rua=", where);
        goto out;
    case FETCH_TEMP:
        a->result = DMARC_RESULT_TEMPERROR;
        reasonf(a, "DNS timeout or failure for _dmarc.%s", where);
        goto out;
    case FETCH_PERM:
        a->result = DMARC_RESULT_PERMERROR;
        reasonf(a, "DNS error for _dmarc.%s", where);
        goto out;
    }

    copy_name(a->policy_domain, where);
    a->p = rec.p;
    a->sp = rec.sp;
    a->np = rec.np;
    a->adkim = rec.adkim;
    a->aspf = rec.aspf;
    a->pct = rec.pct;
    a->rua = rec.rua;
    a->ruf = rec.ruf;
    rec.rua = rec.ruf = NULL;
    if (!failing)
        check_alignment(in, a);
    if (a->dkim_aligned || a->spf_aligned) {
        a->result = DMARC_RESULT_PASS;
        if (a->dkim_aligned)
            reasonf(a, "aligned DKIM pass (d=%s)", a->dkim_domain);
        else
            reasonf(a, "aligned SPF pass");
    } else {
        apply_policy(lk, in, at_org, failing, a);
    }
out:
    dmarc_record_clear(&rec);
}

/* rank - how strict an answer is; the highest wins among From domains */
static int rank(const struct dmarc_answer *a)
{
    switch (a->result) {
    case DMARC_RESULT_PASS:
        return 0;
    case DMARC_RESULT_NONE:
        return 1;
    case DMARC_RESULT_PERMERROR:
        return 2;
    case DMARC_RESULT_FAIL:
        if (a->disposition == DMARC_POLICY_REJECT)
            return 6;
        return a->disposition == DMARC_POLICY_QUARANTINE ? 4 : 3;
    case DMARC_RESULT_TEMPERROR:
        return 5;
    }
    return 2;
}

/* dmarc_answer_clear - free rua/ruf and zero the answer */
void dmarc_answer_clear(struct dmarc_answer *a)
{
    free(a->rua);
    free(a->ruf);
    memset(a, 0, sizeof(*a));
}

/* from_permerror - the answer when the From gives no domain to evaluate */
static void from_permerror(struct dmarc_answer *a, unsigned flags, unsigned bad)
{
    const char *why = from_domain_problem(flags & bad);

    memset(a, 0, sizeof(*a));
    a->result = DMARC_RESULT_PERMERROR;
    a->disposition = DMARC_POLICY_NONE;
    a->from_flags = flags;
    a->from_bad = true;
    reasonf(a, "%s", why ? why : "no usable From domain");
}

/* too_many - more domains than are looked up: fail, reject, no lookup (dmarc.h) */
static void too_many(struct dmarc_answer *a, unsigned flags)
{
    memset(a, 0, sizeof(*a));
    a->result = DMARC_RESULT_FAIL;
    a->policy = DMARC_POLICY_REJECT;
    a->disposition = DMARC_POLICY_REJECT;
    a->sampled = true;
    a->from_flags = flags;
    a->from_bad = true;
    if (flags & FROM_DOMAIN_FIELDS) /* inbound.c: also when fields past its bound were dropped */
        reasonf(a,
                "several From fields, more than %d domains or fields not read: "
                "those not looked up count as p=reject",
                FROM_DOMAIN_MAX);
    else
        reasonf(a, "more than %d From domains: those not looked up count as p=reject",
                FROM_DOMAIN_MAX);
}

/* bad_answer - the strictest answer of a bad From's failing candidates, as dmarc.h says */
static void bad_answer(struct dmarc_answer *a, unsigned flags, unsigned bad)
{
    const char *why = from_domain_problem(flags & bad);
    char buf[sizeof(a->reason)];

    if (a->result == DMARC_RESULT_NONE || a->result == DMARC_RESULT_PASS) {
        a->result = DMARC_RESULT_PERMERROR;
        a->disposition = DMARC_POLICY_NONE;
        reasonf(a, "no DMARC policy for any domain in it");
    }
    memcpy(buf, a->reason, sizeof(buf));
    reasonf(a, "%s: %s", why ? why : "unusable From", buf);
}

/* prefetch - submit every TXT and existence lookup the walk may make, at once */
static void prefetch(struct lookups *lk, const struct from_domains *fd)
{
    char name[ORGDOMAIN_LEN + 8], org[ORGDOMAIN_LEN];

    for (size_t i = 0; i < fd->n; i++) {
        const char *d = fd->domain[i];

        if (snprintf_ok(name, sizeof(name), "_dmarc.%s", d) && strlen(name) <= 253)
            lk_submit(lk, name, DNS_T_TXT);
        if (!orgdomain_get(d, org) || strcmp(org, d) == 0)
            continue;
        if (snprintf_ok(name, sizeof(name), "_dmarc.%s", org))
            lk_submit(lk, name, DNS_T_TXT);
        for (size_t t = 0; t < sizeof(exist_types) / sizeof(exist_types[0]); t++)
            lk_submit(lk, d, exist_types[t]); /* np= may need them */
    }
}

/* dmarc_eval - evaluate DMARC for one message */
void dmarc_eval(const struct dmarc_resolver *res, const struct dmarc_input *in,
                struct dmarc_answer *out)
{
    const struct from_domains *fd = in->from;
    unsigned bad = in->bad_flags ? in->bad_flags : FROM_DOMAIN_BAD;
    struct dmarc_answer cur;
    struct lookups *lk;
    bool failing;
    size_t i;

    if (fd == NULL || fd->n == 0) {
        from_permerror(out, fd ? fd->flags : FROM_DOMAIN_ABSENT, bad);
        return;
    }
    if (fd->flags & FROM_DOMAIN_TOO_MANY) {
        too_many(out, fd->flags);
        return;
    }
    failing = !from_domain_clean(fd, bad);
    lk = xcalloc(1, sizeof(*lk));
    lk->res = res;
    if (fd->n > 1)
        prefetch(lk, fd);
    /* Each candidate in order; stop early at a fail/reject: nothing is stricter. */
    memset(out, 0, sizeof(*out));
    for (i = 0; i < fd->n; i++) {
        eval_domain(lk, in, fd->domain[i], failing, &cur);
        if (i == 0 || rank(&cur) > rank(out)) {
            dmarc_answer_clear(out);
            *out = cur;
        } else {
            dmarc_answer_clear(&cur);
        }
        if (rank(out) == 6) {
            i++;
            break;
        }
    }
    lk_finish(lk);
    out->lookups = lk->count;
    free(lk);
    if (failing)
        bad_answer(out, fd->flags, bad);
    out->from_flags = fd->flags;
    out->from_bad = failing;
    out->ndomains = i;
    if (fd->n > 1) {
        char buf[sizeof(out->reason)];

        memcpy(buf, out->reason, sizeof(buf));
        reasonf(out, "%s (strictest of %zu From domains)", buf, fd->n);
    }
}
