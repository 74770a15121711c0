/*
 * test_dmarc.c - DMARC alignment, policy selection, discovery, several
 * From domains and threads, over the table-driven fake resolver of
 * dmarc_fixture.c (the record parser has its own table in
 * test_dmarc_record.c, libopendmarc's defects theirs in
 * test_dmarc_defects.c).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dmarc.h"
#include "dmarc_fixture.h"
#include "util.h"

/* ---- alignment -------------------------------------------------------- */

struct align_case {
    const char *record; /* at _dmarc.example.com */
    const char *from;
    const char *d;
    enum dmarc_auth dres;
    struct dmarc_spf spf;
    bool dkim_aligned, spf_aligned;
    enum dmarc_result result;
};

#define NOSPF                                                                                      \
    {                                                                                              \
        DMARC_AUTH_NONE, NULL, MF                                                                  \
    }

static const struct align_case align_cases[] = {
    /* DKIM relaxed / strict */
    {"p=reject", "a@example.com", "example.com", PASS, NOSPF, true, false, DMARC_RESULT_PASS},
    {"p=reject", "a@example.com", "mail.example.com", PASS, NOSPF, true, false, DMARC_RESULT_PASS},
    {"p=reject; adkim=s", "a@example.com", "mail.example.com", PASS, NOSPF, false, false,
     DMARC_RESULT_FAIL},
    {"p=reject; adkim=s", "a@example.com", "example.com", PASS, NOSPF, true, false,
     DMARC_RESULT_PASS},
    {"p=reject; adkim=s", "a@Example.COM", "EXAMPLE.com.", PASS, NOSPF, true, false,
     DMARC_RESULT_PASS},
    {"p=reject; adkim=s", "a@sub.example.com", "example.com", PASS, NOSPF, false, false,
     DMARC_RESULT_FAIL},
    {"p=reject", "a@sub.example.com", "example.com", PASS, NOSPF, true, false, DMARC_RESULT_PASS},
    {"p=reject", "a@example.com", "example.net", PASS, NOSPF, false, false, DMARC_RESULT_FAIL},
    {"p=reject", "a@example.com", "com", PASS, NOSPF, false, false, DMARC_RESULT_FAIL},
    {"p=reject", "a@example.com", "example.com", FAIL, NOSPF, false, false, DMARC_RESULT_FAIL},
    {"p=reject", "a@example.com", "example.com", DMARC_AUTH_OTHER, NOSPF, false, false,
     DMARC_RESULT_FAIL},
    {"p=reject", "a@example.com", "", PASS, NOSPF, false, false, DMARC_RESULT_FAIL},
    {"p=reject", "a@example.com", "[192.0.2.1]", PASS, NOSPF, false, false, DMARC_RESULT_FAIL},
    /* SPF relaxed / strict; HELO never aligns */
    {"p=reject",
     "a@example.com",
     NULL,
     FAIL,
     {PASS, "bounce.example.com", MF},
     false,
     true,
     DMARC_RESULT_PASS},
    {"p=reject; aspf=s",
     "a@example.com",
     NULL,
     FAIL,
     {PASS, "bounce.example.com", MF},
     false,
     false,
     DMARC_RESULT_FAIL},
    {"p=reject; aspf=s",
     "a@example.com",
     NULL,
     FAIL,
     {PASS, "example.com", MF},
     false,
     true,
     DMARC_RESULT_PASS},
    {"p=reject",
     "a@example.com",
     NULL,
     FAIL,
     {PASS, "user@example.com", MF},
     false,
     true,
     DMARC_RESULT_PASS},
    {"p=reject",
     "a@example.com",
     NULL,
     FAIL,
     {PASS, "example.com", HELO},
     false,
     false,
     DMARC_RESULT_FAIL},
    {"p=reject",
     "a@example.com",
     NULL,
     FAIL,
     {DMARC_AUTH_OTHER, "example.com", MF},
     false,
     false,
     DMARC_RESULT_FAIL},
    {"p=reject",
     "a@example.com",
     NULL,
     FAIL,
     {FAIL, "example.com", MF},
     false,
     false,
     DMARC_RESULT_FAIL},
    {"p=reject",
     "a@example.com",
     NULL,
     FAIL,
     {PASS, "example.net", MF},
     false,
     false,
     DMARC_RESULT_FAIL},
    {"p=reject", "a@example.com", NULL, FAIL, {PASS, NULL, MF}, false, false, DMARC_RESULT_FAIL},
    /* both */
    {"p=reject",
     "a@example.com",
     "example.com",
     PASS,
     {PASS, "example.com", MF},
     true,
     true,
     DMARC_RESULT_PASS},
};

/* test_alignment_table - the alignment rows through dmarc_eval */
static void test_alignment_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(align_cases) / sizeof(align_cases[0]); i++) {
        const struct align_case *c = &align_cases[i];
        char record[128];
        struct fake_rr rr[1] = {{"_dmarc.example.com", DNS_T_TXT, DNS_OK, {record}}};
        struct fake_dns f = {.rr = rr, .n = 1};
        struct dmarc_answer a;

        assert_true(snprintf_ok(record, sizeof(record), "v=DMARC1; %s", c->record));
        eval1(c->from, c->d, c->dres, c->spf, &a, &f);
        if (a.result != c->result || a.dkim_aligned != c->dkim_aligned ||
            a.spf_aligned != c->spf_aligned)
            fail_msg("case %zu (%s, From %s, d=%s): %s dkim_aligned=%d spf_aligned=%d (%s)", i,
                     c->record, c->from, c->d ? c->d : "-", dmarc_result_name(a.result),
                     a.dkim_aligned, a.spf_aligned, a.reason);
        dmarc_answer_clear(&a);
    }
}

/* ---- policy selection -------------------------------------------------- */

struct policy_case {
    const char *from;    /* From domain */
    const char *at_from; /* record at _dmarc.<from>, or NULL */
    const char *at_org;  /* record at _dmarc.example.com, or NULL */
    bool exists;         /* the From domain has an A record */
    unsigned sample;
    enum dmarc_source source;
    enum dmarc_policy policy;
    bool sampled;
    enum dmarc_policy disposition;
};

#define SP_P  DMARC_SOURCE_P
#define SP_SP DMARC_SOURCE_SP
#define SP_NP DMARC_SOURCE_NP

static const struct policy_case policy_cases[] = {
    /* p at the From domain */
    {"example.com", NULL, "v=DMARC1; p=reject", true, 0, SP_P, RJ, true, RJ},
    {"example.com", NULL, "v=DMARC1; p=quarantine", true, 99, SP_P, QU, true, QU},
    {"example.com", NULL, "v=DMARC1; p=none", true, 0, SP_P, NO, true, NO},
    /* pct: sampled when sample < pct; otherwise one step lower */
    {"example.com", NULL, "v=DMARC1; p=reject; pct=50", true, 49, SP_P, RJ, true, RJ},
    {"example.com", NULL, "v=DMARC1; p=reject; pct=50", true, 50, SP_P, RJ, false, QU},
    {"example.com", NULL, "v=DMARC1; p=quarantine; pct=50", true, 50, SP_P, QU, false, NO},
    {"example.com", NULL, "v=DMARC1; p=reject; pct=0", true, 0, SP_P, RJ, false, QU},
    {"example.com", NULL, "v=DMARC1; p=reject; pct=100", true, 99, SP_P, RJ, true, RJ},
    {"example.com", NULL, "v=DMARC1; p=reject; pct=1", true, 0, SP_P, RJ, true, RJ},
    {"example.com", NULL, "v=DMARC1; p=reject; pct=1", true, 1, SP_P, RJ, false, QU},
    /* a sample outside 0..99 is taken modulo 100, never "outside every pct" */
    {"example.com", NULL, "v=DMARC1; p=reject", true, 100, SP_P, RJ, true, RJ},
    {"example.com", NULL, "v=DMARC1; p=reject; pct=50", true, 149, SP_P, RJ, true, RJ},
    {"example.com", NULL, "v=DMARC1; p=reject; pct=50", true, 4000000050u, SP_P, RJ, false, QU},
    /* sub-domain, record at the org domain: sp, else p */
    {"sub.example.com", NULL, "v=DMARC1; p=reject; sp=none", true, 0, SP_SP, NO, true, NO},
    {"sub.example.com", NULL, "v=DMARC1; p=none; sp=reject", true, 0, SP_SP, RJ, true, RJ},
    {"sub.example.com", NULL, "v=DMARC1; p=quarantine", true, 0, SP_P, QU, true, QU},
    {"sub.example.com", NULL, "v=DMARC1; p=reject; sp=quarantine; pct=25", true, 30, SP_SP, QU,
     false, NO},
    /* np for a non-existent sub-domain (RFC 9989) */
    {"sub.example.com", NULL, "v=DMARC1; p=quarantine; sp=reject; np=none", true, 0, SP_SP, RJ,
     true, RJ},
    {"sub.example.com", NULL, "v=DMARC1; p=quarantine; sp=reject; np=none", false, 0, SP_NP, NO,
     true, NO},
    {"sub.example.com", NULL, "v=DMARC1; p=none; np=reject", false, 0, SP_NP, RJ, true, RJ},
    {"sub.example.com", NULL, "v=DMARC1; p=none; np=reject", true, 0, SP_P, NO, true, NO},
    {"sub.example.com", NULL, "v=DMARC1; p=none; np=reject; pct=10", false, 50, SP_NP, RJ, false,
     QU},
    /* np equal to what applies anyway: no existence lookups, p/sp reported */
    {"sub.example.com", NULL, "v=DMARC1; p=reject; np=reject", false, 0, SP_P, RJ, true, RJ},
    /* the sub-domain's own record: its p, never its sp or np */
    {"sub.example.com", "v=DMARC1; p=none; sp=reject; np=reject", "v=DMARC1; p=reject", false, 0,
     SP_P, NO, true, NO},
    /* np at the From domain itself (an org domain that does not exist): p */
    {"example.com", NULL, "v=DMARC1; p=quarantine; np=reject", false, 0, SP_P, QU, true, QU},
};

/* test_policy_table - which tag applies, sampling, disposition */
static void test_policy_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
        const struct policy_case *c = &policy_cases[i];
        char from[300], dname[300];
        struct fake_rr rr[3];
        size_t n = 0;
        struct fake_dns f;
        struct dmarc_answer a;
        const char *v = from;

        memset(rr, 0, sizeof(rr));
        assert_true(snprintf_ok(from, sizeof(from), "x@%s", c->from));
        assert_true(snprintf_ok(dname, sizeof(dname), "_dmarc.%s", c->from));
        if (c->at_from)
            rr[n++] = (struct fake_rr){dname, DNS_T_TXT, DNS_OK, {c->at_from}};
        if (c->at_org)
            rr[n++] = (struct fake_rr){"_dmarc.example.com", DNS_T_TXT, DNS_OK, {c->at_org}};
        if (c->exists)
            rr[n++] = (struct fake_rr){c->from, DNS_T_A, DNS_OK, {NULL}};
        memset(&f, 0, sizeof(f));
        f.rr = rr;
        f.n = n;
        eval(&v, 1, NULL, 0, no_spf, c->sample, &a, &f);
        if (a.result != DMARC_RESULT_FAIL || a.source != c->source || a.policy != c->policy ||
            a.sampled != c->sampled || a.disposition != c->disposition)
            fail_msg("case %zu (%s): %s source=%s policy=%s sampled=%d disposition=%s (%s)", i,
                     c->at_org, dmarc_result_name(a.result), dmarc_source_name(a.source),
                     dmarc_policy_name(a.policy), a.sampled, dmarc_policy_name(a.disposition),
                     a.reason);
        dmarc_answer_clear(&a);
    }
}

/* test_np_lookups - existence is asked only when np would change the answer */
static void test_np_lookups(void **state)
{
    struct fake_dns f;
    struct dmarc_answer a;

    (void)state;
    memset(&f, 0, sizeof(f));
    eval1("a@ghost.np.example", NULL, FAIL, no_spf, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_int_equal(a.source, DMARC_SOURCE_NP);
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
    assert_string_equal(a.policy_domain, "np.example");
    assert_string_equal(f.log, "TXT _dmarc.ghost.np.example;TXT _dmarc.np.example;"
                               "A ghost.np.example;AAAA ghost.np.example;MX ghost.np.example;");
    dmarc_answer_clear(&a);

    memset(&f, 0, sizeof(f));
    eval1("a@exists.np.example", NULL, FAIL, no_spf, &a, &f);
    assert_int_equal(a.source, DMARC_SOURCE_SP);
    assert_int_equal(a.disposition, DMARC_POLICY_QUARANTINE);
    assert_string_equal(f.log, "TXT _dmarc.exists.np.example;TXT _dmarc.np.example;"
                               "A exists.np.example;");
    dmarc_answer_clear(&a);

    /* NODATA is not NXDOMAIN: the name exists (it has an MX) */
    memset(&f, 0, sizeof(f));
    eval1("a@mxonly.np.example", NULL, FAIL, no_spf, &a, &f);
    assert_int_equal(a.source, DMARC_SOURCE_SP);
    dmarc_answer_clear(&a);

    /* a timeout while checking existence: temperror, never a weaker policy */
    memset(&f, 0, sizeof(f));
    eval1("a@slow.np.example", NULL, FAIL, no_spf, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_TEMPERROR);
    assert_int_equal(a.disposition, DMARC_POLICY_NONE);
    dmarc_answer_clear(&a);

    /* a pass never looks at existence */
    memset(&f, 0, sizeof(f));
    eval1("a@ghost.np.example", "np.example", PASS, no_spf, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_PASS);
    assert_int_equal(f.lookups, 2);
    dmarc_answer_clear(&a);
}

/* ---- discovery -------------------------------------------------------- */

/* 3 x 61 + 51 + 14: a 248-octet name; "_dmarc." + it is 255, over 253 */
#define L60      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx."
#define L50      "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy."
#define LONG_SUB L60 L60 L60 L50

struct disc_case {
    const char *from;
    enum dmarc_result result;
    const char *policy_domain;
    enum dmarc_policy p;
    const char *log; /* lookups made, in order */
};

static const struct disc_case disc_cases[] = {
    {"a@reject.example", DMARC_RESULT_FAIL, "reject.example", RJ, "TXT _dmarc.reject.example;"},
    /* fallback to the org domain */
    {"a@x.y.reject.example", DMARC_RESULT_FAIL, "reject.example", RJ,
     "TXT _dmarc.x.y.reject.example;TXT _dmarc.reject.example;"},
    {"a@sub.nodata.example", DMARC_RESULT_NONE, "", UN,
     "TXT _dmarc.sub.nodata.example;TXT _dmarc.nodata.example;"},
    /* several DMARC records: none, and no fallback */
    {"a@sub.fallback.example", DMARC_RESULT_NONE, "", UN, "TXT _dmarc.sub.fallback.example;"},
    /* other TXT records are ignored */
    {"a@mixed.example", DMARC_RESULT_FAIL, "mixed.example", RJ, "TXT _dmarc.mixed.example;"},
    {"a@notdmarc.example", DMARC_RESULT_NONE, "", UN, "TXT _dmarc.notdmarc.example;"},
    {"a@sub.notdmarc.example", DMARC_RESULT_NONE, "", UN,
     "TXT _dmarc.sub.notdmarc.example;TXT _dmarc.notdmarc.example;"},
    /* no record anywhere */
    {"a@nothing.example", DMARC_RESULT_NONE, "", UN, "TXT _dmarc.nothing.example;"},
    {"a@co.uk", DMARC_RESULT_NONE, "", UN, "TXT _dmarc.co.uk;"},
    /* invalid p: with rua -> p=none; without -> permerror */
    {"a@badp.example", DMARC_RESULT_FAIL, "badp.example", NO, "TXT _dmarc.badp.example;"},
    {"a@badpnorua.example", DMARC_RESULT_PERMERROR, "badpnorua.example", UN,
     "TXT _dmarc.badpnorua.example;"},
    /* timeouts: temperror, never none; no fallback past a timeout */
    {"a@timeout.example", DMARC_RESULT_TEMPERROR, "", UN, "TXT _dmarc.timeout.example;"},
    {"a@sub.timeout.example", DMARC_RESULT_TEMPERROR, "", UN,
     "TXT _dmarc.sub.timeout.example;TXT _dmarc.timeout.example;"},
    {"a@sub.orgtimeout.example", DMARC_RESULT_TEMPERROR, "", UN,
     "TXT _dmarc.sub.orgtimeout.example;TXT _dmarc.orgtimeout.example;"},
    {"a@perm.example", DMARC_RESULT_PERMERROR, "", UN, "TXT _dmarc.perm.example;"},
    /* a permanent DNS error at the sub-domain falls back to the org domain */
    {"a@sub.permsub.example", DMARC_RESULT_FAIL, "permsub.example", RJ,
     "TXT _dmarc.sub.permsub.example;TXT _dmarc.permsub.example;"},
    /* a name too long for "_dmarc." goes straight to the org domain */
    {"a@" LONG_SUB "reject.example", DMARC_RESULT_FAIL, "reject.example", RJ,
     "TXT _dmarc.reject.example;"},
};

/* test_discovery_table - where the record comes from */
static void test_discovery_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(disc_cases) / sizeof(disc_cases[0]); i++) {
        const struct disc_case *c = &disc_cases[i];
        struct fake_dns f;
        struct dmarc_answer a;

        memset(&f, 0, sizeof(f));
        eval1(c->from, "unrelated.example", PASS, no_spf, &a, &f);
        if (a.result != c->result || strcmp(a.policy_domain, c->policy_domain) != 0 ||
            a.p != c->p || strcmp(f.log, c->log) != 0)
            fail_msg("case %zu (%s): %s policy_domain=%s p=%s lookups \"%s\" (%s)", i, c->from,
                     dmarc_result_name(a.result), a.policy_domain, dmarc_policy_name(a.p), f.log,
                     a.reason);
        if (a.result == DMARC_RESULT_TEMPERROR || a.result == DMARC_RESULT_NONE ||
            a.result == DMARC_RESULT_PERMERROR)
            assert_int_equal(a.disposition, DMARC_POLICY_NONE);
        dmarc_answer_clear(&a);
    }
}

/* test_answer_fields - every field of a passing answer */
static void test_answer_fields(void **state)
{
    struct fake_dns f;
    struct dmarc_answer a;
    struct dmarc_spf spf = {PASS, "bounce.reject.example", MF};

    (void)state;
    memset(&f, 0, sizeof(f));
    eval1("Someone <someone@Mail.Reject.Example>", NULL, FAIL, spf, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_PASS);
    assert_string_equal(a.from_domain, "mail.reject.example");
    assert_string_equal(a.org_domain, "reject.example");
    assert_string_equal(a.policy_domain, "reject.example");
    assert_int_equal(a.p, RJ);
    assert_int_equal(a.sp, UN);
    assert_int_equal(a.np, UN);
    assert_int_equal(a.pct, 100);
    assert_int_equal(a.adkim, R);
    assert_int_equal(a.aspf, R);
    assert_true(a.spf_aligned);
    assert_false(a.dkim_aligned);
    assert_int_equal(a.disposition, NO);
    assert_int_equal(a.source, DMARC_SOURCE_NONE);
    assert_string_equal(a.rua, "mailto:d@reject.example");
    assert_string_equal(a.ruf, "mailto:f@reject.example");
    assert_int_equal(a.ndomains, 1);
    assert_int_equal(a.from_flags, 0);
    assert_string_equal(a.reason, "aligned SPF pass");
    dmarc_answer_clear(&a);
    assert_null(a.rua);

    assert_string_equal(dmarc_result_name(DMARC_RESULT_TEMPERROR), "temperror");
    assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
    assert_string_equal(dmarc_source_name(DMARC_SOURCE_NP), "np");
}

/* ---- several From domains ---------------------------------------------- */

/* test_multi_strictest - the strictest answer wins; early stop */
static void test_multi_strictest(void **state)
{
    struct dmarc_dkim k[2] = {{PASS, "pass.example"}, {PASS, "none.example"}};
    const char *v;
    struct fake_dns f;
    struct dmarc_answer a;

    (void)state;
    /* pass + none -> none */
    v = "a@pass.example, b@nothing.example";
    memset(&f, 0, sizeof(f));
    eval(&v, 1, k, 2, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_NONE);
    assert_string_equal(a.from_domain, "nothing.example");
    assert_int_equal(a.ndomains, 2);
    assert_non_null(strstr(a.reason, "strictest of 2 From domains"));
    dmarc_answer_clear(&a);

    /* pass + fail(none) + fail(quarantine) -> quarantine */
    v = "a@pass.example, b@quar.example, c@none.example";
    k[1].result = FAIL;
    memset(&f, 0, sizeof(f));
    eval(&v, 1, k, 2, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_string_equal(a.from_domain, "quar.example");
    assert_int_equal(a.disposition, DMARC_POLICY_QUARANTINE);
    dmarc_answer_clear(&a);

    /* reject found first: stop there */
    v = "a@reject.example, b@quar.example, c@timeout.example";
    memset(&f, 0, sizeof(f));
    eval(&v, 1, k, 2, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_string_equal(a.from_domain, "reject.example");
    assert_int_equal(a.ndomains, 1);
    assert_int_equal(f.lookups, 1);
    dmarc_answer_clear(&a);

    /* a timeout outranks quarantine... */
    v = "a@quar.example, b@timeout.example";
    memset(&f, 0, sizeof(f));
    eval(&v, 1, k, 2, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_TEMPERROR);
    assert_int_equal(a.ndomains, 2);
    dmarc_answer_clear(&a);

    /* ...but does not stop the walk: a domain that never answers cannot hide a p=reject */
    v = "a@quar.example, b@timeout.example, c@reject.example";
    memset(&f, 0, sizeof(f));
    eval(&v, 1, k, 2, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_string_equal(a.from_domain, "reject.example");
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
    assert_int_equal(a.ndomains, 3);
    dmarc_answer_clear(&a);

    /* all pass -> pass, header.from the first */
    v = "a@pass.example, b@none.example";
    k[1].result = PASS;
    memset(&f, 0, sizeof(f));
    eval(&v, 1, k, 2, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_PASS);
    assert_string_equal(a.from_domain, "pass.example");
    dmarc_answer_clear(&a);
}

/* test_multi_prefetch - several domains: every lookup submitted at once, bounded */
static void test_multi_prefetch(void **state)
{
    static const struct fake_rr npq[] = {
        {"_dmarc.npq.example", DNS_T_TXT, DNS_OK, {"v=DMARC1; p=none; np=quarantine"}}};
    struct dmarc_dkim k = {PASS, "other.example"};
    struct fake_dns f;
    struct dmarc_answer a;
    struct buf b = BUF_INIT;
    const char *v;

    (void)state;
    /* two domains: their TXT (and the sub-domain's org TXT and existence) first */
    v = "b@quar.example, a@x.np.example";
    memset(&f, 0, sizeof(f));
    f.async = true;
    eval(&v, 1, &k, 1, no_spf, 0, &a, &f);
    assert_string_equal(f.log, "+TXT _dmarc.quar.example;"
                               "+TXT _dmarc.x.np.example;+TXT _dmarc.np.example;"
                               "+A x.np.example;+AAAA x.np.example;+MX x.np.example;"
                               "TXT _dmarc.quar.example;"
                               "TXT _dmarc.x.np.example;TXT _dmarc.np.example;"
                               "A x.np.example;AAAA x.np.example;MX x.np.example;");
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_string_equal(a.from_domain, "x.np.example"); /* np=reject: it does not exist */
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
    assert_int_equal(f.cancelled, 0);
    assert_int_equal(a.lookups, 6);
    dmarc_answer_clear(&a);

    /* a reject first: the rest were under way and are dropped, not waited for */
    v = "a@reject.example, b@sub.quar.example";
    memset(&f, 0, sizeof(f));
    f.async = true;
    eval(&v, 1, &k, 1, no_spf, 0, &a, &f);
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
    assert_int_equal(f.submitted, 6);
    assert_int_equal(f.waited, 1);
    assert_int_equal(f.cancelled, 5);
    dmarc_answer_clear(&a);

    /*
     * The worst case: 8 sub-domains that do not exist, of an org domain
     * whose np= differs: two TXT and three existence lookups each, every
     * domain walked (none says reject): DMARC_LOOKUPS_MAX, never more.
     */
    for (int i = 0; i < FROM_DOMAIN_MAX; i++)
        buf_printf(&b, "%sa@s%d.npq.example", i ? ", " : "", i);
    v = buf_cstr(&b);
    for (int async = 0; async < 2; async++) {
        memset(&f, 0, sizeof(f));
        f.rr = npq;
        f.n = 1;
        f.async = async;
        eval(&v, 1, &k, 1, no_spf, 0, &a, &f);
        assert_int_equal(a.result, DMARC_RESULT_FAIL);
        assert_int_equal(a.disposition, DMARC_POLICY_QUARANTINE);
        assert_int_equal(a.ndomains, FROM_DOMAIN_MAX);
        assert_int_equal(f.lookups, DMARC_LOOKUPS_MAX);
        assert_int_equal(a.lookups, DMARC_LOOKUPS_MAX);
        assert_int_equal(f.submitted, f.waited + f.cancelled);
        dmarc_answer_clear(&a);
    }
    buf_free(&b);
}

/* ---- threads ------------------------------------------------------------ */

/* eval_thread - 300 evaluations; returns non-NULL on a wrong answer */
static void *eval_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 300; i++) {
        struct dmarc_dkim k = {PASS, i % 2 ? "sub.reject.example" : "other.example"};
        const char *v = i % 3 ? "a@x.reject.example" : "\"q@junk.example\"@victim.example";
        struct fake_dns f;
        struct dmarc_answer a;
        enum dmarc_result want = i % 3 == 0 || i % 2 == 0 ? DMARC_RESULT_FAIL : DMARC_RESULT_PASS;
        bool ok;

        memset(&f, 0, sizeof(f));
        eval(&v, 1, &k, 1, no_spf, (unsigned)i % 100, &a, &f);
        ok = a.result == want;
        dmarc_answer_clear(&a);
        if (!ok)
            return (void *)1;
    }
    return NULL;
}

/* test_threads - eight threads evaluate at once */
static void test_threads(void **state)
{
    pthread_t t[8];

    (void)state;
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, eval_thread, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *ret;

        pthread_join(t[i], &ret);
        assert_null(ret);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),         cmocka_unit_test(test_alignment_table),
        cmocka_unit_test(test_policy_table),    cmocka_unit_test(test_np_lookups),
        cmocka_unit_test(test_discovery_table), cmocka_unit_test(test_answer_fields),
        cmocka_unit_test(test_multi_strictest), cmocka_unit_test(test_multi_prefetch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
