/*
 * test_tracker_request.c - what postmeter-tracker makes of a request
 * apart from HTTP (tracker-httpd/request.c, conf.c): routes and tokens,
 * the client behind trusted proxies (X-Forwarded-For), the address and
 * agent kept, the prefix taken from tracking_base_url.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_check.h"
#include "track.h"
#include "tracker.h"
#include "util.h"

#define TOK "abcdefghijklmnopqrstuvwxyz-_" /* 28 base64url characters */

static void test_route(void **state)
{
    static const struct {
        const char *prefix, *url;
        enum tracker_route want;
    } cases[] = {
        {"/px", "/px/o/" TOK ".gif", ROUTE_PIXEL},
        {"/px", "/px/o/ABCDEFGHIJKLMNOPQRSTUVWXYZ01.gif", ROUTE_PIXEL},
        {"/px", "/px/o/-_cdefghijklmnopqrstuvwxyz99.gif", ROUTE_PIXEL},
        {"", "/o/" TOK ".gif", ROUTE_PIXEL},
        {"/a/b", "/a/b/o/" TOK ".gif", ROUTE_PIXEL},
        /* malformed tokens and other paths under the prefix: blank */
        {"/px", "/px/o/abcdefghijklmnopqrstuA.gif", ROUTE_BLANK},        /* 22: before tags */
        {"/px", "/px/o/abcdefghijklmnopqrstuvwxyz-.gif", ROUTE_BLANK},   /* 27 */
        {"/px", "/px/o/abcdefghijklmnopqrstuvwxyz-_A.gif", ROUTE_BLANK}, /* 29 */
        {"/px", "/px/o/abcdefghijklmnopqrstuvwxyz+_.gif", ROUTE_BLANK},
        {"/px", "/px/o/abcdefghijklmnopqrstuvwxyz=_.gif", ROUTE_BLANK},
        {"/px", "/px/o/abcdefghijklmnopqrstuvwxy.-_.gif", ROUTE_BLANK},
        {"/px", "/px/o/" TOK ".png", ROUTE_BLANK},
        {"/px", "/px/o/" TOK ".gif/", ROUTE_BLANK},
        {"/px", "/px/o/" TOK ".gifx", ROUTE_BLANK},
        {"/px", "/px/x/" TOK ".gif", ROUTE_BLANK},
        {"/px", "/px//o/" TOK ".gif", ROUTE_BLANK},
        {"/px", "/px", ROUTE_BLANK},
        {"/px", "/px/", ROUTE_BLANK},
        {"/px", "/px/healthz", ROUTE_BLANK},
        {"", "/", ROUTE_BLANK},
        {"", "/anything", ROUTE_BLANK},
        /* outside the prefix */
        {"/px", "/", ROUTE_NOT_FOUND},
        {"/px", "/pxo/" TOK ".gif", ROUTE_NOT_FOUND},
        {"/px", "/o/" TOK ".gif", ROUTE_NOT_FOUND},
        {"/px", "/PX/o/" TOK ".gif", ROUTE_NOT_FOUND},
        {"/px", "", ROUTE_NOT_FOUND},
        /* the two fixed paths, whatever the prefix */
        {"/px", "/healthz", ROUTE_HEALTHZ},
        {"", "/healthz", ROUTE_HEALTHZ},
        {"/px", "/metrics", ROUTE_METRICS},
        {"/px", "/metrics/", ROUTE_NOT_FOUND},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *token = (const char *)1;
        enum tracker_route got = tracker_route(cases[i].prefix, cases[i].url, &token);

        if (got != cases[i].want)
            fail_msg("%s under \"%s\": route %d, want %d", cases[i].url, cases[i].prefix, got,
                     cases[i].want);
        if (got == ROUTE_PIXEL
                ? token == NULL ||
                      strncmp(token, cases[i].url + strlen(cases[i].url) - 4 - TRACK_TOKEN_LEN,
                              TRACK_TOKEN_LEN) != 0
                : token != NULL)
            fail_msg("%s: wrong token", cases[i].url);
    }
}

/* Every token track_token_new() makes is well-formed. */
static void test_token_new_ok(void **state)
{
    char t[TRACK_TOKEN_LEN + 1];
    unsigned char raw[TRACK_KEY_LEN] = {1, 2, 3};
    struct track_key key;

    (void)state;
    track_key_set(&key, raw);
    for (int i = 0; i < 2000; i++) {
        track_token_new(&key, t);
        assert_true(tracker_token_ok(t, strlen(t)));
    }
    assert_false(tracker_token_ok("abcdefghijklmnopqr\0tuvwxyz-_", TRACK_TOKEN_LEN));
}

static void test_client(void **state)
{
    static const struct {
        const char *name, *peer, *xff[3];
        const char *want;
    } cases[] = {
        {"no proxy: XFF ignored", "192.0.2.1", {"203.0.113.9"}, "192.0.2.1"},
        {"proxy, no XFF: the proxy", "10.0.0.1", {NULL}, "10.0.0.1"},
        {"proxy: the address it adds", "10.0.0.1", {"203.0.113.9"}, "203.0.113.9"},
        {"forged left part ignored", "10.0.0.1", {"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
        {"two trusted hops", "10.0.0.1", {"1.1.1.1, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
        {"every hop trusted: the leftmost", "10.0.0.1", {"10.0.0.3,10.0.0.2"}, "10.0.0.3"},
        {"two fields, last wins", "10.0.0.1", {"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
        {"two fields, trusted last", "10.0.0.1", {"203.0.113.9", "10.0.0.5"}, "203.0.113.9"},
        {"garbage right of it: the proxy", "10.0.0.1", {"203.0.113.9, garbage"}, "10.0.0.1"},
        {"garbage behind a trusted hop", "10.0.0.1", {"junk, 10.0.0.2"}, "10.0.0.2"},
        {"empty entry", "10.0.0.1", {"203.0.113.9,"}, "10.0.0.1"},
        {"port is garbage", "10.0.0.1", {"203.0.113.9:4711"}, "10.0.0.1"},
        {"IPv6", "10.0.0.1", {" 2001:db8::7 "}, "2001:db8::7"},
        {"v6 proxy", "::1", {"198.51.100.1"}, "198.51.100.1"},
    };
    struct netlist proxies = {NULL, 0};
    struct cidr c;

    (void)state;
    assert_true(cidr_parse("10.0.0.0/8", &c));
    netlist_add(&proxies, &c);
    assert_true(cidr_parse("::1", &c));
    netlist_add(&proxies, &c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct netaddr peer, got;
        char text[NETADDR_STRLEN];
        size_t n = 0;

        while (n < 3 && cases[i].xff[n])
            n++;
        assert_true(netaddr_parse(cases[i].peer, &peer));
        got = tracker_client(&peer, &proxies, cases[i].xff, n);
        netaddr_format(&got, text);
        if (strcmp(text, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].name, text, cases[i].want);
    }
    netlist_free(&proxies);
}

/* At most TRACKER_XFF_MAX entries are looked at: past them, the last hop believed. */
static void test_client_bound(void **state)
{
    struct netlist proxies = {NULL, 0};
    struct buf xff = BUF_INIT;
    struct netaddr peer, got;
    struct cidr c;
    char text[NETADDR_STRLEN];
    const char *v[1];

    (void)state;
    assert_true(cidr_parse("10.0.0.0/8", &c));
    netlist_add(&proxies, &c);
    buf_puts(&xff, "203.0.113.9");
    for (int i = 0; i < TRACKER_XFF_MAX; i++)
        buf_printf(&xff, ", 10.0.%d.%d", i / 250, i % 250 + 1);
    v[0] = buf_cstr(&xff);
    assert_true(netaddr_parse("10.9.9.9", &peer));
    got = tracker_client(&peer, &proxies, v, 1);
    assert_string_equal(netaddr_format(&got, text), "10.0.0.1"); /* the 64th from the right */
    buf_free(&xff);
    netlist_free(&proxies);
}

static void test_ip_keep(void **state)
{
    static const struct {
        const char *addr;
        int storage;
        const char *want;
    } cases[] = {
        {"192.0.2.77", IP_STORAGE_FULL, "192.0.2.77"},
        {"192.0.2.77", IP_STORAGE_TRUNCATE, "192.0.2.0/24"},
        {"192.0.2.77", IP_STORAGE_NONE, NULL},
        {"2001:db8:1:2:3:4:5:6", IP_STORAGE_FULL, "2001:db8:1:2:3:4:5:6"},
        {"2001:db8:1:2:3:4:5:6", IP_STORAGE_TRUNCATE, "2001:db8:1::/48"},
        {"2001:db8:ffff:ffff::1", IP_STORAGE_TRUNCATE, "2001:db8:ffff::/48"},
        {"::ffff:198.51.100.200", IP_STORAGE_TRUNCATE, "198.51.100.0/24"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct netaddr a;
        char out[NETADDR_STRLEN + 4];
        const char *got;

        assert_true(netaddr_parse(cases[i].addr, &a));
        got = tracker_ip_keep(&a, cases[i].storage, out);
        if (cases[i].want == NULL ? got != NULL : got == NULL || strcmp(got, cases[i].want))
            fail_msg("%s (%d): got %s", cases[i].addr, cases[i].storage, got ? got : "NULL");
    }
}

static void test_agent_cut(void **state)
{
    char agent[TRACKER_AGENT_MAX + 10];

    (void)state;
    assert_int_equal(tracker_agent_cut("curl/8"), 6);
    memset(agent, 'a', sizeof(agent) - 1);
    agent[sizeof(agent) - 1] = '\0';
    assert_int_equal(tracker_agent_cut(agent), TRACKER_AGENT_MAX);
    agent[TRACKER_AGENT_MAX] = '\0';
    assert_int_equal(tracker_agent_cut(agent), TRACKER_AGENT_MAX);
    /* a 3-byte character across the bound is left out whole */
    memset(agent, 'a', sizeof(agent) - 1);
    memcpy(agent + TRACKER_AGENT_MAX - 1, "\xe2\x82\xac", 3);
    assert_int_equal(tracker_agent_cut(agent), TRACKER_AGENT_MAX - 1);
    memset(agent, 'a', sizeof(agent) - 1);
    memcpy(agent + TRACKER_AGENT_MAX - 3, "\xe2\x82\xac", 3);
    assert_int_equal(tracker_agent_cut(agent), TRACKER_AGENT_MAX);
}

static void test_base_prefix(void **state)
{
    static const struct {
        const char *url, *want; /* want NULL: refused */
    } cases[] = {
        {"http://127.0.0.1:8088/px", "/px"},
        {"https://t.example.org/px/", "/px"},
        {"https://t.example.org/a/b//", "/a/b"},
        {"https://t.example.org", ""},
        {"https://t.example.org/", ""},
        {"https://t.example.org/px?x=1", NULL},
        {"https://t.example.org/px#f", NULL},
        {"https://t.example.org/p%78", NULL},
        {"", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf why = BUF_INIT;
        char *got = tracker_base_prefix(cases[i].url, &why);

        if (cases[i].want == NULL ? got != NULL || why.len == 0
                                  : got == NULL || strcmp(got, cases[i].want))
            fail_msg("\"%s\": got %s (%s)", cases[i].url, got ? got : "NULL", buf_cstr(&why));
        free(got);
        buf_free(&why);
    }
}

/* tracker_listen entries (config_check.c): literal addresses, IPv6 in brackets */
static void test_listen_spec(void **state)
{
    static const struct {
        const char *spec, *addr; /* addr NULL: refused */
        unsigned port;
    } cases[] = {
        {"127.0.0.1:8088", "127.0.0.1", 8088},
        {"0.0.0.0:80", "0.0.0.0", 80},
        {"[::1]:8088", "::1", 8088},
        {"[::]:443", "::", 443},
        {"[2001:db8::5]:65535", "2001:db8::5", 65535},
        {"::1:8088", NULL, 0},
        {"localhost:80", NULL, 0},
        {"127.0.0.1", NULL, 0},
        {"127.0.0.1:", NULL, 0},
        {"127.0.0.1:0", NULL, 0},
        {"127.0.0.1:65536", NULL, 0},
        {"127.0.0.1:80x", NULL, 0},
        {"[127.0.0.1]:80", NULL, 0},
        {"[::1]8088", NULL, 0},
        {"[]:80", NULL, 0},
        {"[::1:80", NULL, 0},
        {":80", NULL, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct netaddr a, want;
        unsigned port = 0;
        struct buf why = BUF_INIT;
        bool ok = config_parse_listen(cases[i].spec, &a, &port);

        if (ok != (cases[i].addr != NULL) || ok != config_check_listen(cases[i].spec, &why))
            fail_msg("%s: %s", cases[i].spec, ok ? "taken" : "refused");
        if (ok) {
            assert_true(netaddr_parse(cases[i].addr, &want));
            assert_int_equal(a.family, want.family);
            assert_memory_equal(a.addr, want.addr, sizeof(a.addr));
            assert_int_equal(port, cases[i].port);
        } else
            assert_non_null(strstr(buf_cstr(&why), cases[i].spec));
        buf_free(&why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),       cmocka_unit_test(test_token_new_ok),
        cmocka_unit_test(test_client),      cmocka_unit_test(test_client_bound),
        cmocka_unit_test(test_ip_keep),     cmocka_unit_test(test_agent_cut),
        cmocka_unit_test(test_base_prefix), cmocka_unit_test(test_listen_spec),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
