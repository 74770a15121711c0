/*
 * dmarc_fixture.c - the fake resolver and evaluation helpers the DMARC
 * unit tests share; see dmarc_fixture.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_fixture.h"
#include "util.h"

/* fake_find - the entry for name/type in a table, or NULL */
static const struct fake_rr *fake_find(const struct fake_rr *rr, size_t n, const char *name,
                                       int type)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rr[i].name, name) == 0 && (rr[i].type == 0 || rr[i].type == type))
            return &rr[i];
    return NULL;
}

/* fake_log - append "<prefix>TYPE name;" to the log while it has room */
static void fake_log(struct fake_dns *f, const char *prefix, const char *name, int type)
{
    size_t used = strlen(f->log);

    if (used + strlen(name) + 9 < sizeof(f->log))
        snprintf(f->log + used, sizeof(f->log) - used, "%s%s %s;", prefix,
                 type == DNS_T_TXT  ? "TXT"
                 : type == DNS_T_A  ? "A"
                 : type == DNS_T_MX ? "MX"
                                    : "AAAA",
                 name);
}

/* fake_lookup - answer from the tables; anything unlisted is NXDOMAIN */
struct dns_result *fake_lookup(void *arg, const char *name, int type)
{
    struct fake_dns *f = arg;
    const struct fake_rr *e = fake_find(f->rr, f->n, name, type);
    struct dns_result *r = xcalloc(1, sizeof(*r));

    if (e == NULL && f->rr2)
        e = fake_find(f->rr2, f->n2, name, type);
    f->lookups++;
    fake_log(f, "", name, type);
    r->status = e ? e->status : DNS_NXDOMAIN;
    r->rcode = r->status == DNS_NXDOMAIN ? 3 : 0;
    if (r->status != DNS_OK)
        return r;
    if (type == DNS_T_TXT) {
        while (r->n < 3 && e->txt[r->n])
            r->n++;
        r->txt = xcalloc(r->n, sizeof(*r->txt));
        r->txt_len = xcalloc(r->n, sizeof(*r->txt_len));
        for (size_t i = 0; i < r->n; i++) {
            r->txt[i] = xstrdup(e->txt[i]);
            r->txt_len[i] = strlen(e->txt[i]);
        }
    } else if (type == DNS_T_MX) {
        r->n = 1;
        r->mx = xcalloc(1, sizeof(*r->mx));
        r->mx[0].host = xstrdup("mx.example");
    } else {
        r->n = 1;
        r->addrs = xcalloc(1, sizeof(*r->addrs));
        r->addrs[0] = xstrdup(type == DNS_T_A ? "192.0.2.1" : "2001:db8::1");
    }
    return r;
}

struct fake_query {
    char *name;
    int type;
};

/* fake_submit - remember the query; answered at wait */
static void *fake_submit(void *arg, const char *name, int type)
{
    struct fake_dns *f = arg;
    struct fake_query *q = xcalloc(1, sizeof(*q));

    f->submitted++;
    f->lookups++;
    fake_log(f, "+", name, type);
    q->name = xstrdup(name);
    q->type = type;
    return q;
}

/* fake_wait - answer a submitted query */
static struct dns_result *fake_wait(void *arg, void *query)
{
    struct fake_dns *f = arg;
    struct fake_query *q = query;
    struct dns_result *r = fake_lookup(arg, q->name, q->type);

    f->lookups--; /* counted at submit */
    f->waited++;
    free(q->name);
    free(q);
    return r;
}

/* fake_cancel - drop a submitted query */
static void fake_cancel(void *arg, void *query)
{
    struct fake_dns *f = arg;
    struct fake_query *q = query;

    f->cancelled++;
    free(q->name);
    free(q);
}

/* The shared test zone. */
static const struct fake_rr zone[] = {
    {"_dmarc.reject.example",
     DNS_T_TXT,
     DNS_OK,
     {"v=DMARC1; p=reject; rua=mailto:d@reject.example; ruf=mailto:f@reject.example"}},
    {"_dmarc.quar.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=quarantine"}},
    {"_dmarc.none.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=none"}},
    {"_dmarc.pass.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=reject"}},
    {"_dmarc.org.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=reject; adkim=s; aspf=s"}},
    {"_dmarc.victim.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=reject"}},
    {"_dmarc.junk.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=none"}},
    {"_dmarc.attacker.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=none"}},
    {"_dmarc.sub.fallback.example",
     DNS_T_TXT,
     DNS_OK,
     {"v=DMARC1; p=none", "v=DMARC1; p=quarantine"}},
    {"_dmarc.fallback.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=reject"}},
    {"_dmarc.mixed.example",
     DNS_T_TXT,
     DNS_OK,
     {"v=spf1 -all", "v=DMARC1; p=reject", "google-site-verification=x"}},
    {"_dmarc.notdmarc.example",
     DNS_T_TXT,
     DNS_OK,
     {"v=DMARC2; p=reject", "x v=DMARC1; p=reject", "v=dmarc1; p=reject"}},
    {"_dmarc.badp.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=bogus; rua=mailto:a@badp.example"}},
    {"_dmarc.badpnorua.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=bogus"}},
    {"_dmarc.timeout.example", DNS_T_TXT, DNS_TEMPFAIL, {NULL}},
    {"_dmarc.orgtimeout.example", DNS_T_TXT, DNS_TEMPFAIL, {NULL}},
    {"_dmarc.perm.example", DNS_T_TXT, DNS_PERMFAIL, {NULL}},
    {"_dmarc.sub.permsub.example", DNS_T_TXT, DNS_PERMFAIL, {NULL}},
    {"_dmarc.permsub.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=reject"}},
    {"_dmarc.nodata.example", DNS_T_TXT, DNS_NODATA, {NULL}},
    {"_dmarc.np.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=none; sp=quarantine; np=reject"}},
    {"exists.np.example", DNS_T_A, DNS_OK, {NULL}},
    {"mxonly.np.example", DNS_T_A, DNS_NODATA, {NULL}},
    {"mxonly.np.example", DNS_T_AAAA, DNS_NODATA, {NULL}},
    {"mxonly.np.example", DNS_T_MX, DNS_OK, {NULL}},
    {"slow.np.example", DNS_T_A, DNS_TEMPFAIL, {NULL}},
    {"slow.np.example", DNS_T_AAAA, DNS_NXDOMAIN, {NULL}},
    {"slow.np.example", DNS_T_MX, DNS_NXDOMAIN, {NULL}},
};

/* eval - analyse From fields, evaluate with the zone (plus extra), return the fake's log */
void eval(const char *const *from, size_t nfrom, const struct dmarc_dkim *dkim, size_t ndkim,
          struct dmarc_spf spf, unsigned sample, struct dmarc_answer *a, struct fake_dns *f)
{
    struct from_domains fd;
    struct dmarc_input in;
    struct dmarc_resolver res = {fake_lookup, f, NULL, NULL, NULL};

    from_domain_analyze(from, nfrom, &fd);
    memset(&in, 0, sizeof(in));
    in.from = &fd;
    in.spf = spf;
    in.dkim = dkim;
    in.ndkim = ndkim;
    in.sample = sample;
    in.bad_flags = f->bad_flags;
    if (f->async) {
        res.submit = fake_submit;
        res.wait = fake_wait;
        res.cancel = fake_cancel;
    }
    if (f->rr == NULL) {
        f->rr = zone;
        f->n = sizeof(zone) / sizeof(zone[0]);
    }
    dmarc_eval(&res, &in, a);
}

/* eval1 - one From value, one DKIM signature (or none), SPF */
void eval1(const char *from, const char *d, enum dmarc_auth dres, struct dmarc_spf spf,
           struct dmarc_answer *a, struct fake_dns *f)
{
    struct dmarc_dkim k = {dres, d};

    eval(&from, 1, &k, d ? 1 : 0, spf, 0, a, f);
}

const struct dmarc_spf no_spf = {DMARC_AUTH_NONE, NULL, DMARC_SPF_MAILFROM};
