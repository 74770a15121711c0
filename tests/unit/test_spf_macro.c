/*
 * test_spf_macro.c - SPF macro strings (auth/spf_macro.c): the RFC 7208
 * section 7.4 examples, escapes, URL encoding, syntax errors and bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "spf_macro.h"

static int p_calls;

/* p_value - %{p} for the tests, counting calls */
static const char *p_value(void *arg)
{
    (void)arg;
    p_calls++;
    return "mx.example.org";
}

/* RFC 7208 7.4: strong-bad@email.example.com from 192.0.2.3 */
static const struct spf_macro_vars v4 = {
    .s = "strong-bad@email.example.com",
    .l = "strong-bad",
    .o = "email.example.com",
    .d = "email.example.com",
    .i = "192.0.2.3",
    .v = "in-addr",
    .h = "mx.example.org",
    .c = "192.0.2.3",
    .r = "receiver.example.net",
    .t = "1700000000",
    .p_get = p_value,
};

/* ... and from 2001:db8::cb01 (nibbles as the RFC prints them) */
static const struct spf_macro_vars v6 = {
    .s = "strong-bad@email.example.com",
    .l = "strong-bad",
    .o = "email.example.com",
    .d = "email.example.com",
    .i = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1",
    .v = "ip6",
    .h = "mx.example.org",
    .c = "2001:db8::cb01",
    .r = "receiver.example.net",
    .t = "1700000000",
    .p_get = p_value,
};

struct expand_case {
    const struct spf_macro_vars *vars;
    unsigned flags;
    const char *in;
    const char *out; /* NULL: must be an error */
};

static const struct expand_case expand_cases[] = {
    /* RFC 7208 7.4 */
    {&v4, 0, "%{s}", "strong-bad@email.example.com"},
    {&v4, 0, "%{o}", "email.example.com"},
    {&v4, 0, "%{d}", "email.example.com"},
    {&v4, 0, "%{d4}", "email.example.com"},
    {&v4, 0, "%{d3}", "email.example.com"},
    {&v4, 0, "%{d2}", "example.com"},
    {&v4, 0, "%{d1}", "com"},
    {&v4, 0, "%{dr}", "com.example.email"},
    {&v4, 0, "%{d2r}", "example.email"},
    {&v4, 0, "%{l}", "strong-bad"},
    {&v4, 0, "%{l-}", "strong.bad"},
    {&v4, 0, "%{lr}", "strong-bad"},
    {&v4, 0, "%{lr-}", "bad.strong"},
    {&v4, 0, "%{l1r-}", "strong"},
    {&v4, 0, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
    {&v4, 0, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
    {&v4, 0, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
    {&v4, 0, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
    {&v4, 0, "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
    {&v6, 0, "%{ir}.%{v}._spf.%{d2}",
     "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
    /* escapes, other letters, transformers */
    {&v4, 0, "a%%b%_c%-d", "a%b c%20d"},
    {&v4, 0, "%{h}", "mx.example.org"},
    {&v4, 0, "%{p}.ok", "mx.example.org.ok"},
    {&v4, 0, "%{p2}", "example.org"},
    {&v4, 0, "%{D2}", "example.com"},
    {&v4, 0, "%{S}", "strong-bad%40email.example.com"},
    {&v4, 0, "%{d02}", "example.com"},
    {&v4, 0, "%{d99999999999999999999}", "email.example.com"}, /* capped, no overflow */
    {&v4, 0, "%{l2r+-}", "bad.strong"},
    {&v4, 0, "%{s=}", "strong-bad@email.example.com"},
    {&v4, 0, "%{s@}", NULL}, /* '@' is no delimiter */
    {&v4, SPF_MACRO_EXPLAIN, "%{c} via %{r} at %{t}",
     "192.0.2.3 via receiver.example.net at 1700000000"},
    {&v6, SPF_MACRO_EXPLAIN, "%{c}", "2001:db8::cb01"},
    {&v4, SPF_MACRO_EXPLAIN, "%{C}", "192.0.2.3"},
    {&v4, 0, "", ""},
    /* errors */
    {&v4, 0, "%", NULL},
    {&v4, 0, "abc%", NULL},
    {&v4, 0, "%x", NULL},
    {&v4, 0, "%(ir)", NULL},
    {&v4, 0, "%{", NULL},
    {&v4, 0, "%{d", NULL},
    {&v4, 0, "%{a}", NULL},
    {&v4, 0, "%{d0}", NULL},
    {&v4, 0, "%{dr2}", NULL},
    {&v4, 0, "%{d2r!}", NULL},
    {&v4, 0, "%{c}", NULL}, /* c r t: explanations only */
    {&v4, 0, "%{r}", NULL},
    {&v4, 0, "%{t}", NULL},
    {&v4, 0, "a b", NULL}, /* spaces: explanations only */
    {&v4, SPF_MACRO_EXPLAIN, "a b", "a b"},
    {&v4, SPF_MACRO_EXPLAIN, "a\tb", NULL},
    {&v4, 0, "caf\xc3\xa9.example", NULL},
};

static void test_expand(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++) {
        const struct expand_case *k = &expand_cases[i];
        struct buf b = BUF_INIT;
        char err[128] = "";
        bool ok;

        buf_puts(&b, "pre:");
        ok = spf_macro_expand(k->in, strlen(k->in), k->flags, k->vars, &b, err, sizeof(err));
        if (k->out == NULL) {
            if (ok)
                fail_msg("case %zu \"%s\": expanded to \"%s\", want an error", i, k->in,
                         buf_cstr(&b));
            if (err[0] == '\0' || strcmp(buf_cstr(&b), "pre:") != 0)
                fail_msg("case %zu \"%s\": no reason, or output left behind", i, k->in);
            if (spf_macro_check(k->in, strlen(k->in), k->flags, NULL, 0))
                fail_msg("case %zu \"%s\": the syntax check accepts it", i, k->in);
        } else {
            if (!ok)
                fail_msg("case %zu \"%s\": error %s", i, k->in, err);
            if (strcmp(buf_cstr(&b) + 4, k->out) != 0)
                fail_msg("case %zu \"%s\": \"%s\", want \"%s\"", i, k->in, buf_cstr(&b) + 4,
                         k->out);
            if (!spf_macro_check(k->in, strlen(k->in), k->flags, err, sizeof(err)))
                fail_msg("case %zu \"%s\": the syntax check rejects it: %s", i, k->in, err);
        }
        buf_free(&b);
    }
}

static void test_url_escape(void **state)
{
    struct spf_macro_vars v = v4;
    struct buf b = BUF_INIT;

    (void)state;
    v.l = "~jack&jill=up-a_b3.c";
    assert_true(spf_macro_expand("%{L}", 4, 0, &v, &b, NULL, 0));
    assert_string_equal(buf_cstr(&b), "~jack%26jill%3Dup-a_b3.c");
    buf_reset(&b);
    v.h = "JUMPIN' JUPITER";
    assert_true(spf_macro_expand("%{H}", 4, 0, &v, &b, NULL, 0));
    assert_string_equal(buf_cstr(&b), "JUMPIN%27%20JUPITER");
    buf_reset(&b);
    v.l = "a\x01\xff";
    assert_true(spf_macro_expand("%{L}", 4, 0, &v, &b, NULL, 0));
    assert_string_equal(buf_cstr(&b), "a%01%FF");
    buf_free(&b);
}

static void test_nul_and_length(void **state)
{
    struct buf b = BUF_INIT;
    char err[128];

    (void)state;
    /* a NUL inside the given length is a byte like any other: not allowed */
    assert_false(spf_macro_check("ab\0cd", 5, 0, err, sizeof(err)));
    /* only len bytes are read */
    assert_true(spf_macro_expand("ab%", 2, 0, &v4, &b, err, sizeof(err)));
    assert_string_equal(buf_cstr(&b), "ab");
    buf_free(&b);
}

static void test_bound(void **state)
{
    struct buf in = BUF_INIT, out = BUF_INIT;
    char err[128];

    (void)state;
    /* 200 x %{S} (about 32 bytes each escaped) is more than SPF_MACRO_MAX */
    for (int i = 0; i < 200; i++)
        buf_puts(&in, "%{S}");
    assert_false(spf_macro_expand(in.data, in.len, 0, &v4, &out, err, sizeof(err)));
    assert_int_equal(out.len, 0);
    assert_non_null(strstr(err, "longer"));
    /* ... while the syntax alone is fine */
    assert_true(spf_macro_check(in.data, in.len, 0, err, sizeof(err)));
    buf_free(&in);
    buf_free(&out);
}

static void test_p_lazy(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    p_calls = 0;
    assert_true(spf_macro_expand("%{d}", 4, 0, &v4, &b, NULL, 0));
    assert_int_equal(p_calls, 0); /* no PTR lookups unless %{p} is used */
    assert_true(spf_macro_expand("%{p}", 4, 0, &v4, &b, NULL, 0));
    assert_int_equal(p_calls, 1);
    assert_true(spf_macro_check("%{p}", 4, 0, NULL, 0));
    assert_int_equal(p_calls, 1); /* checking never computes */
    buf_free(&b);
}

struct end_case {
    const char *spec;
    bool ok;
};

static const struct end_case end_cases[] = {
    {"example.com", true},
    {"example.com.", true},
    {"foo.example.xn--zckzah", true},
    {"a.12-34", true},
    {"%{d}", true},
    {"_spf.%{d2}", true},
    {"foo%-", true},
    {"%{p}.should.example.com", true},
    {"foo:bar/baz.example.com", true},
    {"museum", false},
    {"museum.", false},
    {"111.222.33.44", false},
    {"abc.123", false},
    {"example.-com", false},
    {"example.com-", false},
    {"example.com:8080", false},
    {"example.com/24", false},
    {"foo-bar", false},
    {"%{d}com", false},
    {"%{d}.", false},
    {"example..", false},
};

static void test_domain_end(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(end_cases) / sizeof(end_cases[0]); i++)
        if (spf_macro_ends_ok(end_cases[i].spec, strlen(end_cases[i].spec)) != end_cases[i].ok)
            fail_msg("case %zu \"%s\": want %s", i, end_cases[i].spec,
                     end_cases[i].ok ? "ok" : "rejected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),         cmocka_unit_test(test_url_escape),
        cmocka_unit_test(test_nul_and_length), cmocka_unit_test(test_bound),
        cmocka_unit_test(test_p_lazy),         cmocka_unit_test(test_domain_end),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
