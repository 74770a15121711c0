/*
 * test_dns_cache.c - the answers kept in front of libunbound
 * (lib/dns_cache.c): what is kept and for how long, names without case
 * or trailing dot, types apart, copies that outlive the cache, the bound
 * on entries, and deep copies of every kind of result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns_cache.h"
#include "util.h"

/* txt_result - a DNS_OK TXT answer with one string (may hold a NUL) */
static struct dns_result *txt_result(const char *s, size_t len)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));

    r->status = DNS_OK;
    r->n = 1;
    r->txt = xcalloc(1, sizeof(*r->txt));
    r->txt_len = xcalloc(1, sizeof(*r->txt_len));
    r->txt[0] = xmalloc(len + 1);
    memcpy(r->txt[0], s, len);
    r->txt[0][len] = '\0';
    r->txt_len[0] = len;
    return r;
}

static struct dns_result *status_result(enum dns_status s)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));

    r->status = s;
    r->rcode = s == DNS_NXDOMAIN ? 3 : 0;
    return r;
}

/* what is kept, and until when */
static void test_kept_for_ttl(void **state)
{
    static const struct {
        enum dns_status status;
        uint32_t ttl;
        int64_t fresh_until; /* seconds after the put; 0: never kept */
    } cases[] = {
        {DNS_OK, 30, 30},
        {DNS_OK, 3600, DNS_CACHE_MAX_TTL},
        {DNS_OK, 0, 0},
        {DNS_NODATA, 30, 30},
        {DNS_NODATA, 3600, DNS_CACHE_NEG_TTL},
        {DNS_NXDOMAIN, 3600, DNS_CACHE_NEG_TTL},
        {DNS_TEMPFAIL, 300, 0},
        {DNS_PERMFAIL, 300, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dns_cache *c = dns_cache_new();
        struct dns_result *r = cases[i].status == DNS_OK ? txt_result("v=spf1 -all", 11)
                                                         : status_result(cases[i].status);
        struct dns_result *got;

        print_message("case %zu\n", i);
        dns_cache_put(c, "example.org", DNS_T_TXT, r, cases[i].ttl, 1000);
        dns_result_free(r);
        got = dns_cache_get(c, "example.org", DNS_T_TXT, 1000);
        if (cases[i].fresh_until == 0) {
            assert_null(got);
            assert_int_equal(dns_cache_size(c), 0);
        } else {
            assert_non_null(got);
            assert_int_equal(got->status, cases[i].status);
            dns_result_free(got);
            got = dns_cache_get(c, "example.org", DNS_T_TXT, 1000 + cases[i].fresh_until - 1);
            assert_non_null(got);
            dns_result_free(got);
            assert_null(dns_cache_get(c, "example.org", DNS_T_TXT, 1000 + cases[i].fresh_until));
        }
        dns_cache_free(c);
    }
}

/* names compare without case or trailing dot; types and names stay apart */
static void test_keys(void **state)
{
    struct dns_cache *c = dns_cache_new();
    struct dns_result *r = txt_result("a\0b", 3), *got;

    (void)state;
    dns_cache_put(c, "Sel._DomainKey.Example.ORG.", DNS_T_TXT, r, 60, 0);
    dns_result_free(r);
    got = dns_cache_get(c, "sel._domainkey.example.org", DNS_T_TXT, 1);
    assert_non_null(got);
    assert_int_equal(got->txt_len[0], 3);
    assert_memory_equal(got->txt[0], "a\0b", 3);
    dns_result_free(got);
    assert_null(dns_cache_get(c, "sel._domainkey.example.org", DNS_T_A, 1));
    assert_null(dns_cache_get(c, "_domainkey.example.org", DNS_T_TXT, 1));
    assert_null(dns_cache_get(c, "sel._domainkey.example.org.x", DNS_T_TXT, 1));
    /* a newer answer replaces the old one */
    r = txt_result("new", 3);
    dns_cache_put(c, "sel._domainkey.example.org", DNS_T_TXT, r, 60, 2);
    dns_result_free(r);
    assert_int_equal(dns_cache_size(c), 1);
    got = dns_cache_get(c, "SEL._domainkey.example.org", DNS_T_TXT, 3);
    assert_string_equal(got->txt[0], "new");
    dns_result_free(got);
    /* a name longer than any DNS name is never kept */
    {
        char longname[300];

        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        r = status_result(DNS_NXDOMAIN);
        dns_cache_put(c, longname, DNS_T_TXT, r, 60, 0);
        dns_result_free(r);
        assert_null(dns_cache_get(c, longname, DNS_T_TXT, 1));
        assert_int_equal(dns_cache_size(c), 1);
    }
    dns_cache_free(c);
}

/* the bound: expired entries go first, then everything */
static void test_bound(void **state)
{
    struct dns_cache *c = dns_cache_new();
    struct dns_result *r = status_result(DNS_NXDOMAIN), *got;
    char name[64];

    (void)state;
    for (int i = 0; i < DNS_CACHE_MAX; i++) {
        snprintf(name, sizeof(name), "n%d.example", i);
        /* the first half expires at 10, the rest at 50 */
        dns_cache_put(c, name, DNS_T_A, r, i < DNS_CACHE_MAX / 2 ? 10 : 50, 0);
    }
    assert_int_equal(dns_cache_size(c), DNS_CACHE_MAX);
    dns_cache_put(c, "one-more.example", DNS_T_A, r, 50, 20); /* sweeps the expired half */
    assert_int_equal(dns_cache_size(c), DNS_CACHE_MAX / 2 + 1);
    got = dns_cache_get(c, "n4095.example", DNS_T_A, 20);
    assert_non_null(got);
    dns_result_free(got);
    for (int i = 0; i < DNS_CACHE_MAX; i++) {
        snprintf(name, sizeof(name), "m%d.example", i);
        dns_cache_put(c, name, DNS_T_A, r, 50, 20);
    }
    assert_true(dns_cache_size(c) <= DNS_CACHE_MAX);
    dns_result_free(r);
    dns_cache_free(c);
}

/* copies of every kind of answer are deep and equal */
static void test_copy(void **state)
{
    struct dns_result r = {.status = DNS_OK, .rcode = 0, .n = 2};
    char *addrs[] = {"192.0.2.1", "2001:db8::1"};
    char *names[] = {"a.example", "b.example"};
    struct dns_mx mx[] = {{10, "mx1.example"}, {20, "mx2.example"}};
    struct dns_result *c;

    (void)state;
    r.addrs = addrs;
    c = dns_result_copy(&r);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->addrs[1], "2001:db8::1");
    assert_ptr_not_equal(c->addrs[1], addrs[1]);
    assert_null(c->txt);
    dns_result_free(c);
    r.addrs = NULL;
    r.mx = mx;
    c = dns_result_copy(&r);
    assert_int_equal(c->mx[1].preference, 20);
    assert_string_equal(c->mx[0].host, "mx1.example");
    dns_result_free(c);
    r.mx = NULL;
    r.names = names;
    c = dns_result_copy(&r);
    assert_string_equal(c->names[1], "b.example");
    dns_result_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_for_ttl),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_copy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
