/*
 * test_dmarc_defects.c - the three libopendmarc 1.4.2 defects, each
 * shown right here over the fake resolver of dmarc_fixture.c:
 * (1) strict adkim=s with d=org.example and From sub.org.example does
 * not align; (2) From parsing that would let a forged header pass;
 * (3) failed DKIM and SPF results in any order give fail, and one
 * aligned pass alone (DKIM or SPF) gives pass. For (2), each From shape
 * of auth/from_domain.h with the answer it must get: a From DMARC cannot
 * evaluate counts every domain in it as failing (habit 16).
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
    bool bad; /* a From DMARC cannot evaluate: every domain in it counts as failing */
};

#define CLEAN false
#define BAD   true

static const struct fromcase from_cases[] = {
    /*
     * an '@' in a quoted local-part: bad (the domain is victim.example;
     * junk.example counts too), every domain failing, even signed ones
     */
    {{"\"x <a@junk.example>\"@victim.example"},
     1,
     "junk.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"\"x <ceo@victim.example>\"@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* victim.example's own signature does not count either */
    {{"\"x <a@junk.example>\"@victim.example"},
     1,
     "victim.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* a look-alike '@' in the local-part: the same */
    {{"ceo\xef\xbc\xa0victim.example@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* two From fields (evaluated here; inbound.c refuses them by default) */
    {{"a@attacker.example", "ceo@victim.example"},
     2,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     CLEAN},
    {{"ceo@victim.example", "a@attacker.example"},
     2,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     CLEAN},
    /* two addresses in one From */
    {{"a@attacker.example, ceo@victim.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     CLEAN},
    {{"a@victim.example, b@victim.example"},
     1,
     "victim.example",
     DMARC_RESULT_PASS,
     "victim.example",
     NO,
     CLEAN},
    /* groups */
    {{"G: a@attacker.example, ceo@victim.example;"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     CLEAN},
    {{"undisclosed:;"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO, BAD},
    /* unbalanced < >: salvaged, every domain failing, even with its own signature */
    {{"Victim <ceo@victim.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"ceo@victim.example>"}, 1, "victim.example", DMARC_RESULT_FAIL, "victim.example", RJ, BAD},
    {{"ceo@victim.example <a@attacker.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* no policy anywhere: permerror; p=none: fail, none (the caller's dmarc_bad_from acts) */
    {{"ceo@nothing.example>"},
     1,
     "nothing.example",
     DMARC_RESULT_PERMERROR,
     "nothing.example",
     NO,
     BAD},
    {{"ceo@none.example>"}, 1, "none.example", DMARC_RESULT_FAIL, "none.example", NO, BAD},
    /* obs-route: not accepted; both domains failing */
    {{"<@attacker.example:ceo@victim.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* display names and comments are not identities */
    {{"\"ceo@victim.example\" <a@attacker.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_PASS,
     "attacker.example",
     NO,
     CLEAN},
    {{"(ceo@victim.example) a@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_PASS,
     "attacker.example",
     NO,
     CLEAN},
    {{"a@attacker.example (ceo@victim.example)"},
     1,
     "attacker.example",
     DMARC_RESULT_PASS,
     "attacker.example",
     NO,
     CLEAN},
    {{"=?utf-8?q?ceo=40victim.example?= <a@attacker.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_PASS,
     "attacker.example",
     NO,
     CLEAN},
    /* encoded-words where the address is: decoded, failing */
    {{"=?utf-8?b?Y2VvQHZpY3RpbS5leGFtcGxl?="},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"<=?utf-8?q?ceo=40victim.example?=>"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"=?utf-8?q?ceo=40victim.example?=@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"=?utf-8?b?Y2VvQHZpY3RpbS5leGFtcGxl?="},
     1,
     "victim.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* case and trailing dot */
    {{"CEO@VICTIM.EXAMPLE."}, 1, "victim.example", DMARC_RESULT_PASS, "victim.example", NO, CLEAN},
    {{"CEO@VICTIM.EXAMPLE."},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     CLEAN},
    /* no From, nothing to read */
    {{NULL}, 0, "victim.example", DMARC_RESULT_PERMERROR, "", NO, BAD},
    {{""}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO, BAD},
    {{"John Doe"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO, BAD},
    {{"a@[192.0.2.1]"}, 1, "victim.example", DMARC_RESULT_PERMERROR, "", NO, BAD},
    /* a literal: the name in it is what a reader sees, failing */
    {{"ceo@[victim.example]"}, 1, "victim.example", DMARC_RESULT_FAIL, "victim.example", RJ, BAD},
    /* a literal beside a domain: that domain counts as failing, even signed */
    {{"a@[192.0.2.1], ceo@victim.example"},
     1,
     "victim.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"a@[192.0.2.1], ceo@victim.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"ceo@victim.example!"}, 1, "victim.example", DMARC_RESULT_FAIL, "victim.example", RJ, BAD},
    {{"ceo@victim.example!"}, 1, "attacker.example", DMARC_RESULT_FAIL, "victim.example", RJ, BAD},
    /* a quoted-pair or an invisible character after a quoted '@': victim.example all the same */
    {{"\"ceo@\\victim.example\"@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"\"CEO\" <\"ceo@\\victim.example\"@attacker.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"\"ceo@victim\\.example\"@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"\"ceo@\xe2\x80\x8bvictim.example\"@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"\"ceo@vic\xc2\xadtim.example\"@attacker.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* white space, folding or a comment after the '@' of a malformed field */
    {{"<ceo@ victim.example"}, 1, "attacker.example", DMARC_RESULT_FAIL, "victim.example", RJ, BAD},
    {{"<ceo@\r\n victim.example"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    {{"ceo@(x)victim.example>"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* a right-to-left override: a bidi display shows ceo@victim.example */
    {{"ceo@\xe2\x80\xae"
      "elpmaxe.mitciv"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
    /* a no-break space after the address */
    {{"ceo@victim.example\xc2\xa0"},
     1,
     "attacker.example",
     DMARC_RESULT_FAIL,
     "victim.example",
     RJ,
     BAD},
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
            a.disposition != c->disposition || a.from_bad != c->bad)
            fail_msg("case %zu (%s, d=%s): %s header.from=%s disposition=%s bad=%d (%s)", i,
                     c->from[0] ? c->from[0] : "-", c->d, dmarc_result_name(a.result),
                     a.from_domain, dmarc_policy_name(a.disposition), a.from_bad, a.reason);
        /* a bad From's reason starts with what is wrong with it */
        if (c->bad) {
            const char *why = from_domain_problem(a.from_flags & FROM_DOMAIN_BAD);

            if (why == NULL || strncmp(a.reason, why, strlen(why)) != 0)
                fail_msg("case %zu: reason \"%s\" does not start with \"%s\"", i, a.reason,
                         why ? why : "-");
        }
        dmarc_answer_clear(&a);
    }
}

/*
 * An '@' in a local-part, whatever follows it (an invisible or odd
 * character), or a comment with an '@' inside the address: attacker.example
 * signed, the From bad, victim.example's p=reject applies.
 */
static const char *const local_at[] = {
    "\"ceo@\x7fvictim.example\"@attacker.example",
    "\"ceo@\xc2\xa0victim.example\"@attacker.example",
    "\"ceo@\xe3\x80\x80victim.example\"@attacker.example", /* U+3000 */
    "\"ceo@\xe2\x80\x83victim.example\"@attacker.example", /* U+2003 */
    "\"ceo@\\\"victim.example\"@attacker.example",
    "\"ceo@<victim.example\"@attacker.example",
    "\"ceo@,victim.example\"@attacker.example",
    "\"ceo@;victim.example\"@attacker.example",
    "\"ceo@:victim.example\"@attacker.example",
    "\"ceo@]victim.example\"@attacker.example",
    "\"ceo@ victim.example\"@attacker.example",
    "\"a\" <\"ceo@\x7fvictim.example\"@attacker.example>",
    "ceo(ceo@victim.example)@attacker.example",
    "<(ceo@victim.example)ceo@attacker.example>",
    "<ceo@attacker.example (ceo@victim.example)>",
};

/* check_local_at - one From that must fail under victim.example's p=reject */
static void check_local_at(const char *from, const char *why)
{
    struct dmarc_dkim k = {PASS, "attacker.example"};
    struct fake_dns f;
    struct dmarc_answer a;

    memset(&f, 0, sizeof(f));
    eval(&from, 1, &k, 1, no_spf, 0, &a, &f);
    if (a.result != DMARC_RESULT_FAIL || strcmp(a.from_domain, "victim.example") != 0 ||
        a.disposition != DMARC_POLICY_REJECT || !a.from_bad ||
        strncmp(a.reason, why, strlen(why)) != 0)
        fail_msg("\"%s\": %s header.from=%s disposition=%s bad=%d (%s)", from,
                 dmarc_result_name(a.result), a.from_domain, dmarc_policy_name(a.disposition),
                 a.from_bad, a.reason);
    dmarc_answer_clear(&a);
}

/* test_defect2_local_at - an '@' inside a local-part or an address's comment: victim's p=reject */
static void test_defect2_local_at(void **state)
{
    char from[64];

    (void)state;
    for (size_t i = 0; i < sizeof(local_at) / sizeof(local_at[0]); i++)
        check_local_at(local_at[i], local_at[i][0] == '"' ? "'@' inside a From local-part"
                                                          : "malformed From field");
    /* every C0 control after the quoted '@' */
    for (int c = 1; c < 0x20; c++) {
        assert_true(
            snprintf_ok(from, sizeof(from), "\"ceo@%cvictim.example\"@attacker.example", c));
        check_local_at(from, "'@' inside a From local-part");
    }
}

/* test_defect2_cut - a From field longer than FROM_VALUE_MAX: bad, its domains failing */
static void test_defect2_cut(void **state)
{
    struct buf b = BUF_INIT;
    struct dmarc_dkim k = {PASS, "attacker.example"};
    struct fake_dns f;
    struct dmarc_answer a;
    const char *v;

    (void)state;
    buf_puts(&b, "x@attacker.example");
    for (int i = 0; i < 65530; i++)
        buf_putc(&b, ',');
    buf_puts(&b, " CEO <ceo@victim.example>");
    v = buf_cstr(&b);
    memset(&f, 0, sizeof(f));
    eval(&v, 1, &k, 1, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL); /* the signature does not count */
    assert_true(a.from_bad);
    assert_true(a.from_flags & FROM_DOMAIN_CUT);
    assert_string_equal(a.from_domain, "attacker.example");
    assert_string_equal(a.reason, "From field too long: counted as failing; p=none");
    dmarc_answer_clear(&a);

    /* the same start, one byte shorter than the cut: a clean pass */
    buf_reset(&b);
    buf_puts(&b, "x@attacker.example");
    for (int i = 0; i < FROM_VALUE_MAX - 18; i++)
        buf_putc(&b, ',');
    v = buf_cstr(&b);
    memset(&f, 0, sizeof(f));
    eval(&v, 1, &k, 1, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_PASS);
    assert_false(a.from_bad);
    dmarc_answer_clear(&a);
    buf_free(&b);
}

/* test_defect2_fields - several From fields counted as bad: each domain failing */
static void test_defect2_fields(void **state)
{
    const char *two[] = {"a@attacker.example", "a@attacker.example"};
    const char *mixed[] = {"a@attacker.example", "ceo@victim.example"};
    struct dmarc_dkim k = {PASS, "attacker.example"};
    struct fake_dns f;
    struct dmarc_answer a;

    (void)state;
    memset(&f, 0, sizeof(f));
    f.bad_flags = FROM_DOMAIN_BAD | FROM_DOMAIN_FIELDS;
    eval(two, 2, &k, 1, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL); /* the signature does not count */
    assert_true(a.from_bad);
    assert_int_equal(a.disposition, DMARC_POLICY_NONE);
    assert_string_equal(a.reason, "several From fields: counted as failing; p=none");
    dmarc_answer_clear(&a);

    memset(&f, 0, sizeof(f));
    f.bad_flags = FROM_DOMAIN_BAD | FROM_DOMAIN_FIELDS;
    eval(mixed, 2, &k, 1, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_string_equal(a.from_domain, "victim.example");
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
    dmarc_answer_clear(&a);

    /* without FIELDS in bad_flags the same fields are evaluated as usual */
    memset(&f, 0, sizeof(f));
    eval(two, 2, &k, 1, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_PASS);
    assert_false(a.from_bad);
    dmarc_answer_clear(&a);
}

/* test_defect2_too_many - more than FROM_DOMAIN_MAX domains: fail, reject, no lookups */
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
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
    assert_true(a.from_bad);
    assert_string_equal(a.from_domain, "");
    assert_true(a.from_flags & FROM_DOMAIN_TOO_MANY);
    assert_string_equal(a.reason,
                        "more than 8 From domains: those not looked up count as p=reject");
    assert_int_equal(f.lookups, 0);
    dmarc_answer_clear(&a);

    /* exactly 9: the ninth is never looked up, so it may be anyone's p=reject */
    buf_reset(&b);
    for (int i = 0; i < 8; i++)
        buf_printf(&b, "a@none%d.example, ", i);
    buf_puts(&b, "ceo@victim.example");
    v = buf_cstr(&b);
    memset(&f, 0, sizeof(f));
    eval(&v, 1, NULL, 0, no_spf, 0, &a, &f);
    assert_int_equal(a.result, DMARC_RESULT_FAIL);
    assert_int_equal(a.disposition, DMARC_POLICY_REJECT);
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
        cmocka_unit_test(test_defect2_fields),
        cmocka_unit_test(test_defect2_too_many),
        cmocka_unit_test(test_defect3_order),
        cmocka_unit_test(test_defect2_local_at),
        cmocka_unit_test(test_defect2_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
