/*
 * test_spf_limits.c - the processing limits of the SPF evaluator
 * (auth/spf_eval.c, auth/spf_lookup.c; RFC 7208 4.6.4), each at the
 * limit and one past it: 10 DNS-querying terms (include, a, mx, ptr,
 * exists, redirect count; ip4, ip6, all do not), 2 void lookups (the a,
 * mx and exists queries count; an MX host without addresses and the ptr
 * lookups do not), 10 names per mx (more is a permerror), 10 PTR names
 * per ptr (the rest are ignored).
 *
 * DNS is a table: this program defines every external function of
 * lib/dns.c (dns_open, dns_close, dns_submit, dns_wait, dns_cancel,
 * dns_lookup), so the linker never takes dns.o out of libpostmeter.a and
 * auth/spf*.c ask the zone below. Were dns.o pulled in all the same
 * (lib/dns.c grew a function something here calls), the link would fail
 * with duplicate definitions; it never silently reaches a real resolver.
 * A name not in the zone is NXDOMAIN; a name in it without a record of
 * the asked type is NODATA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "dns.h"
#include "spf.h"
#include "util.h"

#define NV 12 /* values per record at most (11 MX or PTR names + NULL) */

/* One record set of the fake zone: name, type, values (TXT text, address,
 * MX host in preference order, PTR name). */
struct zrr {
    const char *name;
    int type;
    const char *v[NV];
};

/* The client of most cases, and an address that is never the client's. */
#define CLIENT "192.0.2.1"
#define OTHER  "198.51.100.9"

/* Terms of the records: "a" terms that are looked up and do not match. */
#define AH  " a:h.example"
#define AH5 AH AH AH AH AH
#define AH9 AH5 AH AH AH AH

/* Ten MX or PTR names under z.example: p1.z.example .. p10.z.example. */
#define TEN(p)                                                                                     \
    p "1.z.example", p "2.z.example", p "3.z.example", p "4.z.example", p "5.z.example",           \
        p "6.z.example", p "7.z.example", p "8.z.example", p "9.z.example", p "10.z.example"

static const struct zrr zone[] = {
    {"h.example", DNS_T_A, {OTHER}},
    {"ok.example", DNS_T_A, {CLIENT}},
    {"nodata.example", DNS_T_TXT, {"not spf"}}, /* exists: A, MX: NODATA */
    /* 10 DNS-querying terms: at the limit, and one past it */
    {"a10.example", DNS_T_TXT, {"v=spf1" AH9 " a:ok.example -all"}},
    {"a11.example", DNS_T_TXT, {"v=spf1" AH9 AH " a:ok.example -all"}},
    {"all10.example", DNS_T_TXT, {"v=spf1" AH9 AH " ip4:192.0.2.0/24 -all"}},
    {"ip10.example", DNS_T_TXT, {"v=spf1" AH9 AH " ip6:2001:db8::/32 ip4:10.0.0.1 -all"}},
    {"inc10.example", DNS_T_TXT, {"v=spf1" AH9 " include:neutral.example ip4:" CLIENT " -all"}},
    {"inc11.example", DNS_T_TXT, {"v=spf1" AH9 AH " include:neutral.example ip4:" CLIENT}},
    {"neutral.example", DNS_T_TXT, {"v=spf1 ?ip4:203.0.113.1"}},
    {"mx10.example", DNS_T_TXT, {"v=spf1" AH9 " mx:mxh.example ip4:" CLIENT " -all"}},
    {"mx11.example", DNS_T_TXT, {"v=spf1" AH9 AH " mx:mxh.example ip4:" CLIENT " -all"}},
    {"mxh.example", DNS_T_MX, {"h.example"}},
    {"ptr10.example", DNS_T_TXT, {"v=spf1" AH9 " ptr:ptr.example ip4:" CLIENT " -all"}},
    {"ptr11.example", DNS_T_TXT, {"v=spf1" AH9 AH " ptr:ptr.example ip4:" CLIENT " -all"}},
    {"exists10.example", DNS_T_TXT, {"v=spf1" AH9 " exists:nodata.example ip4:" CLIENT " -all"}},
    {"exists11.example", DNS_T_TXT, {"v=spf1" AH9 AH " exists:nodata.example ip4:" CLIENT " -all"}},
    {"redir10.example", DNS_T_TXT, {"v=spf1" AH9 " redirect=pass.example"}},
    {"redir11.example", DNS_T_TXT, {"v=spf1" AH9 AH " redirect=pass.example"}},
    {"pass.example", DNS_T_TXT, {"v=spf1 ip4:" CLIENT " -all"}},
    /* terms inside an included record count against the same 10 */
    {"deep10.example", DNS_T_TXT, {"v=spf1 include:five.example" AH AH AH " a:ok.example -all"}},
    {"deep11.example", DNS_T_TXT, {"v=spf1 include:five.example" AH AH AH AH " a:ok.example"}},
    {"five.example", DNS_T_TXT, {"v=spf1" AH5 " -all"}},
    /* 2 void lookups: at the limit, and one past it, for each kind */
    {"void-a2.example", DNS_T_TXT, {"v=spf1 a:v1.example a:nodata.example ip4:" CLIENT " -all"}},
    {"void-a3.example",
     DNS_T_TXT,
     {"v=spf1 a:v1.example a:v2.example a:nodata.example ip4:" CLIENT " -all"}},
    {"void-mx2.example", DNS_T_TXT, {"v=spf1 a:v1.example mx:nodata.example ip4:" CLIENT " -all"}},
    {"void-mx3.example",
     DNS_T_TXT,
     {"v=spf1 a:v1.example a:v2.example mx:v3.example ip4:" CLIENT " -all"}},
    {"void-ex2.example", DNS_T_TXT, {"v=spf1 a:v1.example exists:v2.example ip4:" CLIENT " -all"}},
    {"void-ex3.example",
     DNS_T_TXT,
     {"v=spf1 a:v1.example a:v2.example exists:v3.example ip4:" CLIENT " -all"}},
    /* not void lookups: MX hosts without addresses, the client's PTR lookup */
    {"void-mxhost.example",
     DNS_T_TXT,
     {"v=spf1 a:v1.example a:v2.example mx:noaddr.example ip4:" CLIENT " -all"}},
    {"noaddr.example", DNS_T_MX, {"gone1.example", "nodata.example", "gone2.example"}},
    {"void-ptr.example",
     DNS_T_TXT,
     {"v=spf1 a:v1.example a:v2.example ptr:v3.example ip4:" CLIENT " -all"}},
    /* 10 MX names per mx: the tenth is looked at; eleven are a permerror */
    {"mxn10.example", DNS_T_TXT, {"v=spf1 mx:ten.example -all"}},
    {"ten.example", DNS_T_MX, {TEN("n")}},
    {"mxn11.example", DNS_T_TXT, {"v=spf1 mx:eleven.example -all"}},
    {"eleven.example", DNS_T_MX, {"ok.example", TEN("n")}},
    {"n10.z.example", DNS_T_A, {CLIENT}}, /* n1..n9: NXDOMAIN */
    /* 10 PTR names per ptr: the tenth is validated, the eleventh ignored */
    {"ptrn.example", DNS_T_TXT, {"v=spf1 ptr:z.example -all"}},
    {"10.2.0.192.in-addr.arpa", DNS_T_PTR, {TEN("x")}},
    {"11.2.0.192.in-addr.arpa", DNS_T_PTR, {TEN("x"), "x11.z.example"}},
    {"x10.z.example", DNS_T_A, {"192.0.2.10"}}, /* x1..x9: NXDOMAIN */
    {"x11.z.example", DNS_T_A, {"192.0.2.11"}},
};

/* What the fake resolver was asked, for the messages of failed cases. */
static unsigned lookups;

/* The handles: nothing but what a lookup needs. */
struct dns {
    int unused;
};
struct dns_query {
    char *name;
    int type;
};

/* dns_open - the fake context */
struct dns *dns_open(char *const *servers, unsigned timeout_ms, char *err, size_t errlen)
{
    (void)servers;
    (void)timeout_ms;
    (void)err;
    (void)errlen;
    return xcalloc(1, sizeof(struct dns));
}

/* dns_close - free the fake context; returns NULL */
struct dns *dns_close(struct dns *d)
{
    free(d);
    return NULL;
}

/* dns_submit - remember the question; answered in dns_wait() */
struct dns_query *dns_submit(struct dns *d, const char *name, int type)
{
    struct dns_query *q = xcalloc(1, sizeof(*q));

    assert_non_null(d);
    q->name = xstrdup(name);
    q->type = type;
    return q;
}

/* same_name - DNS names equal: without case, trailing dot or not */
static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* answer - the result for name/type from the zone; caller frees */
static struct dns_result *answer(const char *name, int type)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));
    const struct zrr *e = NULL;
    bool known = false;

    for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
        if (same_name(zone[i].name, name)) {
            known = true;
            if (zone[i].type == type)
                e = &zone[i];
        }
    r->status = e ? DNS_OK : known ? DNS_NODATA : DNS_NXDOMAIN;
    r->rcode = known ? 0 : 3;
    if (e == NULL)
        return r;
    while (r->n < NV && e->v[r->n])
        r->n++;
    if (type == DNS_T_TXT) {
        r->txt = xcalloc(r->n, sizeof(*r->txt));
        r->txt_len = xcalloc(r->n, sizeof(*r->txt_len));
    } else if (type == DNS_T_MX) {
        r->mx = xcalloc(r->n, sizeof(*r->mx));
    } else if (type == DNS_T_PTR) {
        r->names = xcalloc(r->n, sizeof(*r->names));
    } else {
        r->addrs = xcalloc(r->n, sizeof(*r->addrs));
    }
    for (size_t i = 0; i < r->n; i++) {
        if (type == DNS_T_TXT) {
            r->txt[i] = xstrdup(e->v[i]);
            r->txt_len[i] = strlen(e->v[i]);
        } else if (type == DNS_T_MX) {
            r->mx[i].preference = 10 * (unsigned)(i + 1);
            r->mx[i].host = xstrdup(e->v[i]);
        } else if (type == DNS_T_PTR) {
            r->names[i] = xstrdup(e->v[i]);
        } else {
            r->addrs[i] = xstrdup(e->v[i]);
        }
    }
    return r;
}

/* dns_wait - the zone's answer to q; frees q */
struct dns_result *dns_wait(struct dns_query *q)
{
    struct dns_result *r = answer(q->name, q->type);

    lookups++;
    free(q->name);
    free(q);
    return r;
}

/* dns_cancel - forget q; returns NULL */
struct dns_query *dns_cancel(struct dns_query *q)
{
    free(q->name);
    free(q);
    return NULL;
}

/* dns_lookup - dns_submit + dns_wait */
struct dns_result *dns_lookup(struct dns *d, const char *name, int type)
{
    return dns_wait(dns_submit(d, name, type));
}

#define NOT_COUNTED -1 /* a permerror's counts are not part of the contract */

struct limit_case {
    const char *rfc;    /* the section of RFC 7208 that says so */
    const char *what;   /* what the case shows */
    const char *ip;     /* the client */
    const char *domain; /* MAIL FROM postmaster@domain */
    enum spf_result want;
    const char *problem; /* a substring of the problem (permerror), or NULL */
    int terms, voids;    /* the answer's counts, or NOT_COUNTED */
};

static const struct limit_case cases[] = {
    /* 10 DNS-querying terms */
    {"4.6.4", "10 a terms: the 10th matches", CLIENT, "a10.example", SPF_PASS, NULL, 10, 0},
    {"4.6.4", "11 a terms: permerror before the 11th", CLIENT, "a11.example", SPF_PERMERROR,
     "more than 10 DNS-querying terms (at \"a:ok.example\")", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "ip4 and all do not count", CLIENT, "all10.example", SPF_PASS, NULL, 10, 0},
    {"4.6.4", "ip6 and ip4 do not count", CLIENT, "ip10.example", SPF_FAIL, NULL, 10, 0},
    {"4.6.4", "include is the 10th", CLIENT, "inc10.example", SPF_PASS, NULL, 10, 0},
    {"4.6.4", "include is the 11th", CLIENT, "inc11.example", SPF_PERMERROR,
     "more than 10 DNS-querying terms (at \"include:neutral.example\")", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "mx is the 10th (its host's lookup does not count)", CLIENT, "mx10.example", SPF_PASS,
     NULL, 10, 0},
    {"4.6.4", "mx is the 11th", CLIENT, "mx11.example", SPF_PERMERROR,
     "more than 10 DNS-querying terms (at \"mx:mxh.example\")", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "ptr is the 10th", CLIENT, "ptr10.example", SPF_PASS, NULL, 10, 0},
    {"4.6.4", "ptr is the 11th", CLIENT, "ptr11.example", SPF_PERMERROR,
     "more than 10 DNS-querying terms (at \"ptr:ptr.example\")", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "exists is the 10th", CLIENT, "exists10.example", SPF_PASS, NULL, 10, 1},
    {"4.6.4", "exists is the 11th", CLIENT, "exists11.example", SPF_PERMERROR,
     "more than 10 DNS-querying terms (at \"exists:nodata.example\")", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "redirect is the 10th", CLIENT, "redir10.example", SPF_PASS, NULL, 10, 0},
    {"4.6.4", "redirect is the 11th", CLIENT, "redir11.example", SPF_PERMERROR,
     "more than 10 DNS-querying terms (at \"redirect\")", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "an include's terms count: 1 + 5 + 4", CLIENT, "deep10.example", SPF_PASS, NULL, 10,
     0},
    {"4.6.4", "an include's terms count: 1 + 5 + 5", CLIENT, "deep11.example", SPF_PERMERROR,
     "more than 10 DNS-querying terms (at \"a:ok.example\")", NOT_COUNTED, NOT_COUNTED},
    /* 2 void lookups */
    {"4.6.4", "a: NXDOMAIN + NODATA are 2 voids", CLIENT, "void-a2.example", SPF_PASS, NULL, 2, 2},
    {"4.6.4", "a: the 3rd void", CLIENT, "void-a3.example", SPF_PERMERROR,
     "more than 2 void DNS lookups (the last for nodata.example)", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "mx: its MX query is the 2nd void", CLIENT, "void-mx2.example", SPF_PASS, NULL, 2, 2},
    {"4.6.4", "mx: its MX query is the 3rd void", CLIENT, "void-mx3.example", SPF_PERMERROR,
     "more than 2 void DNS lookups (the last for v3.example)", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "exists: the 2nd void", CLIENT, "void-ex2.example", SPF_PASS, NULL, 2, 2},
    {"4.6.4", "exists: the 3rd void", CLIENT, "void-ex3.example", SPF_PERMERROR,
     "more than 2 void DNS lookups (the last for v3.example)", NOT_COUNTED, NOT_COUNTED},
    {"4.6.4", "MX hosts without addresses are no void lookups", CLIENT, "void-mxhost.example",
     SPF_PASS, NULL, 3, 2},
    {"4.6.4", "the client's PTR lookup is no void lookup", CLIENT, "void-ptr.example", SPF_PASS,
     NULL, 3, 2},
    /* 10 names per mx */
    {"4.6.4", "10 MX names: the 10th matches", CLIENT, "mxn10.example", SPF_PASS, NULL, 1, 0},
    {"4.6.4", "11 MX names: permerror, though the 1st would match", CLIENT, "mxn11.example",
     SPF_PERMERROR, "more than 10 MX records for eleven.example", NOT_COUNTED, NOT_COUNTED},
    /* 10 names per ptr */
    {"4.6.4, 5.5", "10 PTR names: the 10th is validated", "192.0.2.10", "ptrn.example", SPF_PASS,
     NULL, 1, 0},
    {"4.6.4, 5.5", "11 PTR names: the 11th is ignored", "192.0.2.11", "ptrn.example", SPF_FAIL,
     NULL, 1, 0},
};

/* test_limits - every case: result, problem, counts */
static void test_limits(void **state)
{
    struct dns *d = dns_open(NULL, 1000, NULL, 0);
    unsigned bad = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct limit_case *k = &cases[i];
        char from[128];
        struct spf_request req = {.client_ip = k->ip, .helo = "client.example", .mail_from = from};
        struct spf_answer a;
        bool ok;

        assert_true(snprintf_ok(from, sizeof(from), "postmaster@%s", k->domain));
        lookups = 0;
        spf_eval(d, &req, &a);
        ok = a.result == k->want;
        if (k->problem)
            ok = ok && a.problem && strstr(a.problem, k->problem);
        if (k->terms != NOT_COUNTED)
            ok = ok && a.dns_terms == (unsigned)k->terms;
        if (k->voids != NOT_COUNTED)
            ok = ok && a.void_lookups == (unsigned)k->voids;
        if (!ok) {
            bad++;
            print_error("case %zu (RFC 7208 %s, %s): %s: %s, %u terms, %u voids (%u lookups), "
                        "problem \"%s\"; want %s, %d terms, %d voids, problem \"%s\" (-1: any)\n",
                        i, k->rfc, k->what, k->domain, spf_result_name(a.result), a.dns_terms,
                        a.void_lookups, lookups, a.problem ? a.problem : "",
                        spf_result_name(k->want), k->terms, k->voids, k->problem ? k->problem : "");
        }
        spf_answer_free(&a);
    }
    dns_close(d);
    if (bad)
        fail_msg("%u of %zu cases wrong", bad, sizeof(cases) / sizeof(cases[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
