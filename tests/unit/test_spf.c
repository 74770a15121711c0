/*
 * test_spf.c - the SPF evaluator without DNS: record selection and syntax
 * (auth/spf_record.c), CIDR matching, the bounds on records, and what
 * spf_start()/spf_finish() decide before any lookup (auth/spf.c). The
 * processing limits (RFC 7208 4.6.4) over a fake zone: test_spf_limits.c.
 * The evaluation over DNS is tested against the RFC 7208 test suite by
 * tests/integration/test_spf_rfc7208.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "buf.h"
#include "spf.h"
#include "spf_record.h"

struct is_case {
    const char *txt;
    bool spf;
};

static const struct is_case is_cases[] = {
    {"v=spf1", true},      {"v=spf1 -all", true},   {"V=SpF1 ~all", true},   {"v=spf10", false},
    {"v=spf1-all", false}, {"v=spf1\t-all", false}, {"v=spf2.0/pra", false}, {" v=spf1", false},
    {"", false},           {"spf1", false},
};

static void test_is_spf(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(is_cases) / sizeof(is_cases[0]); i++)
        if (spf_record_is_spf(is_cases[i].txt, strlen(is_cases[i].txt)) != is_cases[i].spf)
            fail_msg("case %zu \"%s\": want %s", i, is_cases[i].txt,
                     is_cases[i].spf ? "an SPF record" : "not SPF");
}

struct parse_case {
    const char *txt;
    int nterms; /* -1: syntax error */
    const char *redirect, *exp;
};

static const struct parse_case parse_cases[] = {
    {"v=spf1", 0, NULL, NULL},
    {"v=spf1 ", 0, NULL, NULL},
    {"v=spf1  -all  ", 1, NULL, NULL},
    {"v=spf1 a mx ptr ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{i}.x.example include:a.example "
     "?all",
     8, NULL, NULL},
    {"V=SPF1 A MX -ALL", 3, NULL, NULL},
    {"v=spf1 redirect=_spf.example.com", 0, "_spf.example.com", NULL},
    {"v=spf1 -all exp=explain.%{d}", 1, NULL, "explain.%{d}"},
    {"v=spf1 Redirect=a.example EXP=b.example", 0, "a.example", "b.example"},
    {"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", 2, NULL, NULL},
    {"v=spf1 default=+", 0, NULL, NULL},
    {"v=spf1 foo=%{c}%{r}%{t}", 0, NULL, NULL},
    {"v=spf1 foo=", 0, NULL, NULL},
    {"v=spf1 a:foo:bar/baz.example.com", 1, NULL, NULL},
    {"v=spf1 a:foo.example.xn--zckzah", 1, NULL, NULL},
    {"v=spf1 a:%{H}", 1, NULL, NULL},
    {"v=spf1 ip6:::1.1.1.1/0", 1, NULL, NULL},
    {"v=spf1 ip4:0.0.0.0/0", 1, NULL, NULL},
    /* errors */
    {"v=spf1 -all moo", -1, NULL, NULL},
    {"v=spf1 moo.cow/far_out=man:dog/cat", -1, NULL, NULL},
    {"v=spf1 1up=foo", -1, NULL, NULL},
    {"v=spf1 =all", -1, NULL, NULL},
    {"v=spf1 redirect:example.com", -1, NULL, NULL},
    {"v=spf1 redirect=a.example redirect=a.example", -1, NULL, NULL},
    {"v=spf1 exp=a.example.com exp=b.example.com", -1, NULL, NULL},
    {"v=spf1 exp=", -1, NULL, NULL},
    {"v=spf1 redirect=", -1, NULL, NULL},
    {"v=spf1 exp=-all", -1, NULL, NULL},
    {"v=spf1 exp=%{r}.example.com", -1, NULL, NULL},
    {"v=spf1 foo=%abc", -1, NULL, NULL},
    {"v=spf1 -all.", -1, NULL, NULL},
    {"v=spf1 -all:foo", -1, NULL, NULL},
    {"v=spf1 -all/8", -1, NULL, NULL},
    {"v=spf1 include", -1, NULL, NULL},
    {"v=spf1 include:", -1, NULL, NULL},
    {"v=spf1 include:a.example.com/24", -1, NULL, NULL},
    {"v=spf1 exists", -1, NULL, NULL},
    {"v=spf1 exists:", -1, NULL, NULL},
    {"v=spf1 ptr:", -1, NULL, NULL},
    {"v=spf1 ptr/0", -1, NULL, NULL},
    {"v=spf1 a:", -1, NULL, NULL},
    {"v=spf1 a/33", -1, NULL, NULL},
    {"v=spf1 a//129", -1, NULL, NULL},
    {"v=spf1 a/24/64", -1, NULL, NULL},
    {"v=spf1 a/024", -1, NULL, NULL},
    {"v=spf1 mx:example.com:8080", -1, NULL, NULL},
    {"v=spf1 a:111.222.33.44", -1, NULL, NULL},
    {"v=spf1 a:abc.123", -1, NULL, NULL},
    {"v=spf1 a:museum", -1, NULL, NULL},
    {"v=spf1 a:example.-com", -1, NULL, NULL},
    {"v=spf1 a:%{a}.example.com", -1, NULL, NULL},
    {"v=spf1 a:%{c}.example.com", -1, NULL, NULL},
    {"v=spf1 exists:%(ir).example.com", -1, NULL, NULL},
    {"v=spf1 ip4", -1, NULL, NULL},
    {"v=spf1 ip4:", -1, NULL, NULL},
    {"v=spf1 ip4:1.2.3", -1, NULL, NULL},
    {"v=spf1 ip4:1.2.3.4:8080", -1, NULL, NULL},
    {"v=spf1 ip4:01.2.3.4", -1, NULL, NULL},
    {"v=spf1 ip4:1.2.3.4/33", -1, NULL, NULL},
    {"v=spf1 ip4:1.2.3.4/032", -1, NULL, NULL},
    {"v=spf1 ip4:1.2.3.4//32", -1, NULL, NULL},
    {"v=spf1 ip4:1.2.3.4/", -1, NULL, NULL},
    {"v=spf1 ip4:2001:db8::1", -1, NULL, NULL},
    {"v=spf1 ip6", -1, NULL, NULL},
    {"v=spf1 ip6::CAFE::BABE", -1, NULL, NULL},
    {"v=spf1 ip6:::1/129", -1, NULL, NULL},
    {"v=spf1 ip6:::1//33", -1, NULL, NULL},
    {"v=spf1 ip6:fe80::1%eth0", -1, NULL, NULL},
    {"v=spf1 ip6:1.2.3.4", -1, NULL, NULL},
    {"v=spf1 a:ctrl.example.com\rptr -all", -1, NULL, NULL},
    {"v=spf1 ip4:192.0.2.5\n -all", -1, NULL, NULL},
    {"v=spf1 \x96"
     "all",
     -1, NULL, NULL},
    {"v=spf1 a:\xef\xbb\xbfgarbage.example.net", -1, NULL, NULL},
    {"v=spf1 ,all", -1, NULL, NULL},
    {"v=spf1 +-all", -1, NULL, NULL},
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *k = &parse_cases[i];
        char err[256] = "";
        struct spf_record *r = spf_record_parse(k->txt, strlen(k->txt), err, sizeof(err));

        if (k->nterms < 0) {
            if (r != NULL)
                fail_msg("case %zu \"%s\": parsed, want a syntax error", i, k->txt);
            if (err[0] == '\0')
                fail_msg("case %zu \"%s\": no reason given", i, k->txt);
            continue;
        }
        if (r == NULL)
            fail_msg("case %zu \"%s\": %s", i, k->txt, err);
        if (r->nterms != (size_t)k->nterms)
            fail_msg("case %zu \"%s\": %zu terms, want %d", i, k->txt, r->nterms, k->nterms);
        if ((k->redirect == NULL) != (r->redirect == NULL) ||
            (k->redirect && strcmp(k->redirect, r->redirect) != 0))
            fail_msg("case %zu: redirect \"%s\"", i, r->redirect ? r->redirect : "(none)");
        if ((k->exp == NULL) != (r->exp == NULL) || (k->exp && strcmp(k->exp, r->exp) != 0))
            fail_msg("case %zu: exp \"%s\"", i, r->exp ? r->exp : "(none)");
        spf_record_free(r);
    }
}

static void test_term_fields(void **state)
{
    const char *txt = "v=spf1 -a:foo.example.com/24//64 ~mx//48 ?ptr:%{d} ip4:192.0.2.77/24 "
                      "+ip6:2001:DB8::/32 include:_spf.example.net all";
    char err[256];
    struct spf_record *r = spf_record_parse(txt, strlen(txt), err, sizeof(err));
    unsigned char net4[4], net6[16];

    (void)state;
    assert_non_null(r);
    assert_int_equal(r->nterms, 7);
    assert_int_equal(r->terms[0].mech, SPF_MECH_A);
    assert_int_equal(r->terms[0].qualifier, '-');
    assert_string_equal(r->terms[0].domain_spec, "foo.example.com");
    assert_int_equal(r->terms[0].cidr4, 24);
    assert_int_equal(r->terms[0].cidr6, 64);
    assert_string_equal(r->terms[0].text, "-a:foo.example.com/24//64");
    assert_int_equal(r->terms[1].mech, SPF_MECH_MX);
    assert_int_equal(r->terms[1].qualifier, '~');
    assert_null(r->terms[1].domain_spec);
    assert_int_equal(r->terms[1].cidr4, 32);
    assert_int_equal(r->terms[1].cidr6, 48);
    assert_int_equal(r->terms[2].mech, SPF_MECH_PTR);
    assert_int_equal(r->terms[2].qualifier, '?');
    assert_string_equal(r->terms[2].domain_spec, "%{d}");
    assert_int_equal(r->terms[3].mech, SPF_MECH_IP4);
    assert_int_equal(r->terms[3].qualifier, '+');
    assert_int_equal(r->terms[3].cidr4, 24);
    inet_pton(AF_INET, "192.0.2.77", net4);
    assert_memory_equal(r->terms[3].net, net4, 4);
    assert_int_equal(r->terms[4].mech, SPF_MECH_IP6);
    assert_int_equal(r->terms[4].cidr6, 32);
    inet_pton(AF_INET6, "2001:db8::", net6);
    assert_memory_equal(r->terms[4].net, net6, 16);
    assert_int_equal(r->terms[5].mech, SPF_MECH_INCLUDE);
    assert_string_equal(r->terms[5].domain_spec, "_spf.example.net");
    assert_int_equal(r->terms[6].mech, SPF_MECH_ALL);
    spf_record_free(r);
}

static void test_record_bound(void **state)
{
    struct buf b = BUF_INIT;
    struct spf_record *r;
    char err[256];

    (void)state;
    buf_puts(&b, "v=spf1");
    while (b.len + 4 <= SPF_RECORD_MAX)
        buf_puts(&b, " all");
    r = spf_record_parse(b.data, b.len, err, sizeof(err));
    assert_non_null(r); /* up to the bound: fine, and linear */
    spf_record_free(r);
    buf_puts(&b, " all");
    assert_null(spf_record_parse(b.data, b.len, err, sizeof(err)));
    assert_non_null(strstr(err, "longer"));
    buf_free(&b);
}

struct net_case {
    const char *net, *addr;
    unsigned bits;
    bool match;
};

static const struct net_case net_cases[] = {
    {"192.0.2.0", "192.0.2.77", 24, true},
    {"192.0.2.0", "192.0.3.1", 24, false},
    {"192.0.2.77", "192.0.2.77", 32, true},
    {"192.0.2.77", "192.0.2.78", 32, false},
    {"1.1.1.1", "203.0.113.9", 0, true},
    {"192.0.2.128", "192.0.2.200", 25, true},
    {"192.0.2.128", "192.0.2.100", 25, false},
    {"10.0.0.0", "10.255.1.1", 8, true},
    {"10.0.0.0", "11.0.0.1", 8, false},
    {"10.0.0.0", "11.0.0.1", 7, true},
    {"10.0.0.0", "12.0.0.1", 6, false},
    {"10.0.0.0", "12.0.0.1", 5, true},
    {"2001:db8::", "2001:db8:ffff::1", 32, true},
    {"2001:db8::", "2001:db9::1", 32, false},
    {"cafe:babe:8000::", "cafe:babe:8000::", 33, true},
    {"cafe:babe:8000::", "cafe:babe::1", 33, false},
    {"2001:db8::1", "2001:db8::1", 128, true},
    {"2001:db8::1", "2001:db8::2", 127, false},
    {"::", "ffff::1", 0, true},
};

static void test_net_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(net_cases) / sizeof(net_cases[0]); i++) {
        const struct net_case *k = &net_cases[i];
        unsigned char n[16] = {0}, a[16] = {0};
        int fam = strchr(k->net, ':') ? AF_INET6 : AF_INET;

        assert_int_equal(inet_pton(fam, k->net, n), 1);
        assert_int_equal(inet_pton(fam, k->addr, a), 1);
        if (spf_net_match(n, a, k->bits) != k->match)
            fail_msg("case %zu %s/%u vs %s: want %s", i, k->net, k->bits, k->addr,
                     k->match ? "match" : "no match");
    }
}

static void test_printable(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    spf_printable(&b, "a\"b\\c\r\n\x80\0z", 10, 64);
    assert_string_equal(buf_cstr(&b), "a\\x22b\\x5Cc\\x0D\\x0A\\x80\\x00z");
    buf_reset(&b);
    spf_printable(&b, "abcdef", 6, 3);
    assert_string_equal(buf_cstr(&b), "abc...");
    buf_free(&b);
}

struct early_case {
    const char *ip, *helo, *from;
    enum spf_identity want_id;
    const char *domain, *sender;
};

/* Requests spf_start() answers (none) without any DNS lookup. */
static const struct early_case early_cases[] = {
    {"192.0.2.1", "", "", SPF_ID_HELO, "", "postmaster@"},
    {"192.0.2.1", NULL, NULL, SPF_ID_HELO, "", "postmaster@"},
    {"192.0.2.1", "A2345678", "", SPF_ID_HELO, "A2345678", "postmaster@A2345678"},
    {"192.0.2.1", "[192.0.2.1]", "", SPF_ID_HELO, "[192.0.2.1]", "postmaster@[192.0.2.1]"},
    {"192.0.2.1", "h.example", "foo@[1.2.3.5]", SPF_ID_MAILFROM, "[1.2.3.5]", "foo@[1.2.3.5]"},
    {"192.0.2.1", "h.example", "@[1.2.3.5]", SPF_ID_MAILFROM, "[1.2.3.5]", "postmaster@[1.2.3.5]"},
    {"192.0.2.1", "h.example", "a@A...example.com", SPF_ID_MAILFROM, "A...example.com",
     "a@A...example.com"},
    {"192.0.2.1", "h.example",
     "a@A123456789012345678901234567890123456789012345678901234567890123.example.com",
     SPF_ID_MAILFROM,
     "A123456789012345678901234567890123456789012345678901234567890123.example.com",
     "a@A123456789012345678901234567890123456789012345678901234567890123.example.com"},
    {"192.0.2.1", "h.example", "a@exa mple.com", SPF_ID_MAILFROM, "exa mple.com", "a@exa mple.com"},
    {"192.0.2.1", "h.example", "a@.", SPF_ID_MAILFROM, "", "a@"},
    {"not-an-ip", "h.example", "a@example.com", SPF_ID_MAILFROM, "example.com", "a@example.com"},
    {"", "h.example", "a@example.com", SPF_ID_MAILFROM, "example.com", "a@example.com"},
};

static void test_early_none(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(early_cases) / sizeof(early_cases[0]); i++) {
        const struct early_case *k = &early_cases[i];
        struct spf_request req = {.client_ip = k->ip, .helo = k->helo, .mail_from = k->from};
        struct spf_answer a;

        /* a NULL resolver: these must be decided without DNS */
        spf_eval(NULL, &req, &a);
        if (a.result != SPF_NONE)
            fail_msg("case %zu: %s, want none", i, spf_result_name(a.result));
        if (a.identity != k->want_id || strcmp(a.domain, k->domain) != 0 ||
            strcmp(a.sender, k->sender) != 0)
            fail_msg("case %zu: %s \"%s\" \"%s\"", i, spf_identity_name(a.identity), a.domain,
                     a.sender);
        if (a.problem == NULL || a.mechanism != NULL || a.explanation != NULL)
            fail_msg("case %zu: want a problem and nothing else", i);
        spf_answer_free(&a);
        assert_null(a.problem);
    }
}

static void test_cancel_decided(void **state)
{
    struct spf_request req = {.client_ip = "192.0.2.1", .helo = "x"};

    (void)state;
    assert_null(spf_cancel(spf_start(NULL, &req)));
    assert_null(spf_cancel(NULL));
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(spf_result_name(SPF_NONE), "none");
    assert_string_equal(spf_result_name(SPF_NEUTRAL), "neutral");
    assert_string_equal(spf_result_name(SPF_PASS), "pass");
    assert_string_equal(spf_result_name(SPF_FAIL), "fail");
    assert_string_equal(spf_result_name(SPF_SOFTFAIL), "softfail");
    assert_string_equal(spf_result_name(SPF_TEMPERROR), "temperror");
    assert_string_equal(spf_result_name(SPF_PERMERROR), "permerror");
    assert_string_equal(spf_identity_name(SPF_ID_MAILFROM), "mailfrom");
    assert_string_equal(spf_identity_name(SPF_ID_HELO), "helo");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_spf),      cmocka_unit_test(test_parse),
        cmocka_unit_test(test_term_fields), cmocka_unit_test(test_record_bound),
        cmocka_unit_test(test_net_match),   cmocka_unit_test(test_printable),
        cmocka_unit_test(test_early_none),  cmocka_unit_test(test_cancel_decided),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
