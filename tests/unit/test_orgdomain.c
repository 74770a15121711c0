/*
 * test_orgdomain.c - normalised names and Organizational Domains from
 * Debian's Public Suffix List (libpsl), and identifier alignment.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "orgdomain.h"

struct norm_case {
    const char *in;
    enum orgdomain_kind kind;
    const char *out; /* for ORGDOMAIN_NAME */
};

static const struct norm_case norm_cases[] = {
    {"example.com", ORGDOMAIN_NAME, "example.com"},
    {"EXAMPLE.Com", ORGDOMAIN_NAME, "example.com"},
    {"example.com.", ORGDOMAIN_NAME, "example.com"},
    {"example.com..", ORGDOMAIN_INVALID, NULL},
    {".example.com", ORGDOMAIN_INVALID, NULL},
    {"a..b", ORGDOMAIN_INVALID, NULL},
    {"", ORGDOMAIN_INVALID, NULL},
    {".", ORGDOMAIN_INVALID, NULL},
    {"localhost", ORGDOMAIN_NAME, "localhost"},
    {"_dmarc.x-y.example", ORGDOMAIN_NAME, "_dmarc.x-y.example"},
    {"a b.example", ORGDOMAIN_INVALID, NULL},
    {"a!.example", ORGDOMAIN_INVALID, NULL},
    {"192.0.2.1", ORGDOMAIN_LITERAL, NULL},
    {"[192.0.2.1]", ORGDOMAIN_LITERAL, NULL},
    {"[IPv6:2001:db8::1]", ORGDOMAIN_LITERAL, NULL},
    {"2001:db8::1", ORGDOMAIN_LITERAL, NULL},
    {"1.2.3.4.example", ORGDOMAIN_NAME, "1.2.3.4.example"},
    {"3com.com", ORGDOMAIN_NAME, "3com.com"},
    {"münchen.de", ORGDOMAIN_NAME, "xn--mnchen-3ya.de"},
    {"MÜNCHEN.DE", ORGDOMAIN_NAME, "xn--mnchen-3ya.de"},
    {"xn--mnchen-3ya.de", ORGDOMAIN_NAME, "xn--mnchen-3ya.de"},
    {"b\xff.example", ORGDOMAIN_INVALID, NULL},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.example", /* 63 */
     ORGDOMAIN_NAME, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.example"},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.example", /* 64 */
     ORGDOMAIN_INVALID, NULL},
};

/* test_normalize - the comparable form of names */
static void test_normalize(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        char out[ORGDOMAIN_LEN];
        enum orgdomain_kind k =
            orgdomain_normalize(norm_cases[i].in, strlen(norm_cases[i].in), out);

        if (k != norm_cases[i].kind)
            fail_msg("case %zu \"%s\": kind %d, want %d", i, norm_cases[i].in, k,
                     norm_cases[i].kind);
        if (k == ORGDOMAIN_NAME && strcmp(out, norm_cases[i].out) != 0)
            fail_msg("case %zu \"%s\": \"%s\", want \"%s\"", i, norm_cases[i].in, out,
                     norm_cases[i].out);
    }
}

/* test_normalize_lengths - 253 octets is the most; a NUL inside is invalid */
static void test_normalize_lengths(void **state)
{
    char name[300], out[ORGDOMAIN_LEN];

    (void)state;
    /* 63+1+63+1+63+1+61 = 253 */
    memset(name, 'a', sizeof(name));
    name[63] = name[127] = name[191] = '.';
    name[253] = '\0';
    assert_int_equal(orgdomain_normalize(name, 253, out), ORGDOMAIN_NAME);
    assert_int_equal(strlen(out), 253);
    name[253] = '.'; /* with the root dot: still 253 */
    assert_int_equal(orgdomain_normalize(name, 254, out), ORGDOMAIN_NAME);
    name[253] = 'a';
    assert_int_equal(orgdomain_normalize(name, 254, out), ORGDOMAIN_INVALID);
    assert_int_equal(orgdomain_normalize("a\0b.example", 11, out), ORGDOMAIN_INVALID);
    assert_int_equal(orgdomain_normalize("example.com", 7, out), ORGDOMAIN_NAME);
    assert_string_equal(out, "example");
}

struct org_case {
    const char *domain;
    const char *org; /* NULL = none */
};

static const struct org_case org_cases[] = {
    {"example.com", "example.com"},
    {"mail.example.com", "example.com"},
    {"a.b.c.example.com", "example.com"},
    {"co.uk", "co.uk"}, /* a public suffix is its own */
    {"example.co.uk", "example.co.uk"},
    {"sub.sub.example.co.uk", "example.co.uk"},
    {"com", "com"},
    {"localhost", "localhost"}, /* single label */
    {"example", "example"},
    {"a.b.example", "b.example"},             /* unlisted TLD: the "*" rule */
    {"foo.blogspot.com", "foo.blogspot.com"}, /* private section */
    {"a.foo.blogspot.com", "foo.blogspot.com"},
    {"city.kawasaki.jp", "city.kawasaki.jp"}, /* exception rule !city.kawasaki.jp */
    {"www.city.kawasaki.jp", "city.kawasaki.jp"},
    {"x.y.kawasaki.jp", "x.y.kawasaki.jp"}, /* wildcard *.kawasaki.jp */
    {"a.b.xn--p1ai", "b.xn--p1ai"},         /* IDN TLD, A-labels */
    {"a.b.xn--55qx5d.cn", "b.xn--55qx5d.cn"},
    {"192.0.2.1", NULL}, /* IP literals: no org domain */
    {"[192.0.2.1]", NULL},
    {"2001:db8::1", NULL},
    {"Example.COM", NULL}, /* not normalised: refused */
    {"", NULL},
};

/* test_org - Organizational Domains */
static void test_org(void **state)
{
    (void)state;
    orgdomain_init();
    for (size_t i = 0; i < sizeof(org_cases) / sizeof(org_cases[0]); i++) {
        char out[ORGDOMAIN_LEN];
        bool ok = orgdomain_get(org_cases[i].domain, out);

        if (org_cases[i].org == NULL) {
            if (ok)
                fail_msg("case %zu \"%s\": org \"%s\", want none", i, org_cases[i].domain, out);
            assert_string_equal(out, "");
        } else if (!ok || strcmp(out, org_cases[i].org) != 0) {
            fail_msg("case %zu \"%s\": org \"%s\", want \"%s\"", i, org_cases[i].domain,
                     ok ? out : "(none)", org_cases[i].org);
        }
    }
}

struct align_case {
    const char *a, *b;
    bool strict, aligned;
};

static const struct align_case align_cases[] = {
    {"example.com", "example.com", true, true},
    {"example.com", "example.com", false, true},
    {"mail.example.com", "example.com", false, true},
    {"mail.example.com", "example.com", true, false},
    {"org.example", "sub.org.example", true, false}, /* libopendmarc defect 1 */
    {"org.example", "sub.org.example", false, true},
    {"a.example.co.uk", "b.example.co.uk", false, true},
    {"example.co.uk", "other.co.uk", false, false},
    {"co.uk", "example.co.uk", false, false},
    {"a.blogspot.com", "b.blogspot.com", false, false},
    {"example.com", "example.net", false, false},
    {"192.0.2.1", "192.0.2.1", true, false},
    {"192.0.2.1", "192.0.2.1", false, false},
    {"a.b.example", "c.b.example", false, true},
};

/* test_aligned - identifier alignment, strict and relaxed */
static void test_aligned(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(align_cases) / sizeof(align_cases[0]); i++) {
        const struct align_case *c = &align_cases[i];

        if (orgdomain_aligned(c->a, c->b, c->strict) != c->aligned ||
            orgdomain_aligned(c->b, c->a, c->strict) != c->aligned)
            fail_msg("case %zu: %s / %s %s: want %s", i, c->a, c->b,
                     c->strict ? "strict" : "relaxed", c->aligned ? "aligned" : "not aligned");
    }
}

/* org_thread - many lookups at once through the one list */
static void *org_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        char out[ORGDOMAIN_LEN];

        if (!orgdomain_get("sub.sub.example.co.uk", out) || strcmp(out, "example.co.uk") != 0)
            return (void *)1;
    }
    return NULL;
}

/* test_threads - eight threads load and share the list */
static void test_threads(void **state)
{
    pthread_t t[8];

    (void)state;
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, org_thread, NULL), 0);
    for (int i = 0; i < 8; i++) {
        void *ret;

        pthread_join(t[i], &ret);
        assert_null(ret);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* first, so that eight threads race to load the list */
        cmocka_unit_test(test_threads),           cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_normalize_lengths), cmocka_unit_test(test_org),
        cmocka_unit_test(test_aligned),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
