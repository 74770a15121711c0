/*
 * test_dmarc_defects.c - the three libopendmarc 1.4.2 defects, each
 * shown right here over the fake resolver of dmarc_fixture.c:
 * (1) strict adkim=s with d=org.example and From sub.org.example does
 * not align; (2) From parsing that would let a forged header pass;
 * (3) failed DKIM and SPF results in any order give fail, and one
 * aligned pass alone (DKIM or SPF) gives pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dmarc_fixture.h"
#include "util.h"

/* test_defect1_strict_via_org - adkim=s, d=org.example, From sub.org.example: not aligned */
static void test_defect1_strict_via_org(void **state)
{
    struct fake_dns f;
    struct dmarc_answer a;
    struct dmarc_spf spf = {PASS, "org.example", MF};

    (void)state;
    memset(&f, 0, sizeof(f));
    eval1("a@sub.org.example", "org.example", PASS, spf, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_false(a.dkim_aligned);
    assert_false(a.spf_aligned); /* aspf=s too */
    assert_int_equal(a.adkim, DMARC_ALIGN_STRICT);
    assert_string_equal(a.policy_domain, "org.example");
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
    dmarc_answer_clear(&a);

    /* the exact name aligns */
    memset(&f, 0, sizeof(f));
    eval1("a@sub.org.example", "sub.org.example", PASS, no_spf, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_PASS);
    assert_true(a.dkim_aligned);
    dmarc_answer_clear(&a);
}

struct fromcase {
    const char *from[2];
    size_t nfrom;
    const char *d; /* passing DKIM d= */
    enum dmarc_result result;
    const char *header_from;
    enum dmarc_policy disposition;
};

static const struct fromcase from_cases[] = {
    /* the quoted local-part: the domain is victim.example; junk.example is checked too */
    {{"\"x <a@junk.example>\"@victim.example"},
     1,
     "junk.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    {{"\"x <ceo@victim.example>\"@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    {{"\"x <a@junk.example>\"@victim.example"},
     1,
     "victim.example",
     DMARC_RESULT_FAIL,
     "junk.example",
     NO}, /* junk.example (p=none) is not signed: fail, disposition none */
    /* two From fields */
    {{"a@attacker.example", "ceo@victim.example"},
     2,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    {{"ceo@victim.example", "a@attacker.example"},
     2,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    /* two addresses in one From */
    {{"a@attacker.example, ceo@victim.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    {{"a@victim.example, b@victim.example"},
     1,
     "victim.example",
     DMARC_RESULT_PASS,
     "victim.example",
     NO},
    /* groups */
    {{"G: a@attacker.example, ceo@victim.example;"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    {{"undisclosed:;"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO},
    /* unbalanced < >: salvaged, still judged */
    {{"Victim <ceo@victim.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    {{"ceo@victim.example>"}, 1, "victim.example", DMARC_RESULT_PASS, "victim.example", NO},
    {{"ceo@victim.example <a@attacker.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    /* display names and comments are not identities */
    {{"\"ceo@victim.example\" <a@attacker.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_PASS,
     "attacker.example",
     NO},
    {{"(ceo@victim.example) a@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_PASS,
     "attacker.example",
     NO},
    {{"=?utf-8?q?ceo=40victim.example?= <a@attacker.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_PASS,
     "attacker.example",
     NO},
    /* case and trailing dot */
    {{"CEO@VICTIM.EXAMPLE."}, 1, "victim.example", DMARC_RESULT_PASS, "victim.example", NO},
    {{"CEO@VICTIM.EXAMPLE."}, 1, "attacker.example", DMARC_RESULT_FAIL, "victim.example", RJ},
    /* no From, nothing usable */
    {{NULL}, 0, "victim.example", DMARC_RESULT_PERMERROR, "", NO},
    {{"John Doe"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO},
    {{"a@[192.0.2.1]"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO},
    /* a literal beside a passing domain: permerror outranks the pass */
    {{"a@[192.0.2.1], ceo@victim.example"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO},
    /* ...but not a fail */
    {{"a@[192.0.2.1], ceo@victim.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ},
    {{"ceo@victim.example!"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO},
    {{"ceo@victim.example!"}, 1, "attacker.example", DMARC_RESULT_FAIL, "victim.example", RJ},
};

/* test_defect2_from - forged or odd From fields never pass for the wrong domain */
static void test_defect2_from(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
        const struct fromcase *c = &from_cases[i];
        struct dmarc_dkim k = {PASS, c->d};
        struct fake_dns f;
        struct dmarc_answer a;

        memset(&f, 0, sizeof(f));
        eval(c->from, c->nfrom, &k, 1, no_spf, 0, &a, &f);
        if (a.result != c->result || strcmp(a.from_domain, c->header_from) != 0 ||
            a.disposition != c->disposition)
            fail_msg("case %zu (%s, d=%s): %s header.from=%s disposition=%s (%s)", i,
                     c->from[0] ? c->from[0] : "-", c->d, dmarc_result_name(a.result),
                     a.from_domain, dmarc_policy_name(a.disposition), a.reason);
        dmarc_answer_clear(&a);
    }
}

/* test_defect2_too_many - more than FROM_DOMAIN_MAX domains: permerror, no lookups */
static void test_defect2_too_many(void **state)
{
    struct buf b = BUF_INIT;
    struct fake_dns f;
    struct dmarc_answer a;
    const char *v;

    (void)state;
    for (int i = 0; i < 20; i++)
        buf_printf(&b, "a@d%d.example, ", i);
    buf_puts(&b, "ceo@victim.example");
    v = buf_cstr(&b);
    memset(&f, 0, sizeof(f));
    eval(&v, 1, NULL, 0, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_PERMERROR);
    assert_string_equal(a.from_domain, "");
    assert_true(a.from_flags & FROM_DOMAIN_TOO_MANY);
    assert_string_equal(a.reason, "too many From domains");
    assert_int_equal(f.lookups, 0);
    dmarc_answer_clear(&a);
    buf_free(&b);
}

/* permute - call fn for every order of k[0..n) (n <= 4) */
static void permute(struct dmarc_dkim *k, size_t n, size_t at,
                    void (*fn)(const struct dmarc_dkim *, size_t, void *), void *arg)
{
    if (at == n) {
        fn(k, n, arg);
        return;
    }
    for (size_t i = at; i < n; i++) {
        struct dmarc_dkim t = k[at];

        k[at] = k[i];
        k[i] = t;
        permute(k, n, at + 1, fn, arg);
        k[i] = k[at];
        k[at] = t;
    }
}

struct order_check {
    struct dmarc_spf spf;
    enum dmarc_result want;
    unsigned runs;
};

/* order_one - evaluate one order and compare */
static void order_one(const struct dmarc_dkim *k, size_t n, void *arg)
{
    struct order_check *oc = arg;
    const char *from = "a@pass.example";
    struct fake_dns f;
    struct dmarc_answer a;

    memset(&f, 0, sizeof(f));
    eval(&from, 1, k, n, oc->spf, 0, &a, &f);
    if (a.result != oc->want)
        fail_msg("order %s/%d %s/%d ...: %s, want %s (%s)", n > 0 ? k[0].domain : "-",
                 n > 0 ? (int)k[0].result : -1, n > 1 ? k[1].domain : "-",
                 n > 1 ? (int)k[1].result : -1, dmarc_result_name(a.result),
                 dmarc_result_name(oc->want), a.reason);
    oc->runs++;
    dmarc_answer_clear(&a);
}

/* test_defect3_order - failed results in any order fail; one aligned pass alone passes */
static void test_defect3_order(void **state)
{
    struct dmarc_spf spf_fail = {FAIL, "pass.example", MF};
    struct dmarc_spf spf_pass = {PASS, "pass.example", MF};
    struct dmarc_spf spf_pass_other = {PASS, "other.example", MF};
    struct dmarc_dkim fails[4] = {{FAIL, "pass.example"},
                                  {PASS, "other.example"},
                                  {DMARC_AUTH_OTHER, "pass.example"},
                                  {DMARC_AUTH_NONE, "pass.example"}};
    struct dmarc_dkim one_pass[3] = {
        {FAIL, "pass.example"}, {PASS, "pass.example"}, {PASS, "other.example"}};
    struct dmarc_dkim all_fail[2] = {{FAIL, "pass.example"}, {FAIL, "pass.example"}};
    struct order_check oc;

    (void)state;
    /* dkim fail (+ unaligned passes) + spf fail, every order: fail */
    oc = (struct order_check){spf_fail, DMARC_RESULT_FAIL, 0};
    permute(fails, 4, 0, order_one, &oc);
    assert_int_equal(oc.runs, 24);
    oc = (struct order_check){spf_pass_other, DMARC_RESULT_FAIL, 0};
    permute(fails, 4, 0, order_one, &oc);
    oc = (struct order_check){spf_fail, DMARC_RESULT_FAIL, 0};
    permute(all_fail, 2, 0, order_one, &oc);
    /* an aligned DKIM pass alone, among failures, every order: pass */
    oc = (struct order_check){spf_fail, DMARC_RESULT_PASS, 0};
    permute(one_pass, 3, 0, order_one, &oc);
    assert_int_equal(oc.runs, 6);
    /* an aligned SPF pass alone (all DKIM failed), every order: pass */
    oc = (struct order_check){spf_pass, DMARC_RESULT_PASS, 0};
    permute(fails, 4, 0, order_one, &oc);
    /* no DKIM at all, spf fail: fail; spf pass: pass */
    oc = (struct order_check){spf_fail, DMARC_RESULT_FAIL, 0};
    order_one(NULL, 0, &oc);
    oc = (struct order_check){spf_pass, DMARC_RESULT_PASS, 0};
    order_one(NULL, 0, &oc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defect1_strict_via_org),
        cmocka_unit_test(test_defect2_from),
        cmocka_unit_test(test_defect2_too_many),
        cmocka_unit_test(test_defect3_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
