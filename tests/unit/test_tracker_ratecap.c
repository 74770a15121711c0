/*
 * test_tracker_ratecap.c - the cap on recorded opens per token and per
 * (token, client network) per window (tracker-httpd/ratecap.c): under and
 * over each cap, the window rolling over, networks counted apart, a
 * bounded table under a million distinct tokens that still lets every
 * first open through, and threads sharing one table.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratecap.h"
#include "util.h"

#define TOKEN_A "AAAAAAAAAAAAAAAAAAAAAA"
#define TOKEN_B "BBBBBBBBBBBBBBBBBBBBBA"

/* One open: at time t, of token, from addr ("" for no address); want: recorded or not. */
struct step {
    unsigned t;
    const char *token, *addr;
    bool want;
};

struct cap_case {
    const char *name;
    struct ratecap_limits lim;
    struct step steps[16];
    size_t nsteps;
    uint64_t capped; /* refusals counted at the end */
};

static const struct cap_case cases[] = {
    {"under and over the per-network cap",
     {3, 100, 60},
     {{0, TOKEN_A, "192.0.2.1", true},
      {1, TOKEN_A, "192.0.2.1", true},
      {2, TOKEN_A, "192.0.2.200", true}, /* same /24 */
      {3, TOKEN_A, "192.0.2.1", false},
      {4, TOKEN_A, "192.0.2.9", false}},
     5,
     2},
    {"another /24 and another token count apart",
     {1, 100, 60},
     {{0, TOKEN_A, "192.0.2.1", true},
      {0, TOKEN_A, "192.0.2.1", false},
      {0, TOKEN_A, "192.0.3.1", true},
      {0, TOKEN_B, "192.0.2.1", true},
      {0, TOKEN_A, "", true}, /* no address: a network of its own */
      {0, TOKEN_A, "", false}},
     6,
     2},
    {"IPv6 counts per /64",
     {1, 100, 60},
     {{0, TOKEN_A, "2001:db8:1:2::1", true},
      {0, TOKEN_A, "2001:db8:1:2:ffff::9", false},
      {0, TOKEN_A, "2001:db8:1:3::1", true}},
     3,
     1},
    {"the per-token cap across networks",
     {5, 3, 60},
     {{0, TOKEN_A, "192.0.2.1", true},
      {0, TOKEN_A, "198.51.100.1", true},
      {0, TOKEN_A, "203.0.113.1", true},
      {0, TOKEN_A, "10.0.0.1", false},
      {0, TOKEN_B, "10.0.0.1", true}},
     5,
     1},
    {"one network's flood does not spend the token's budget",
     {2, 4, 60},
     {{0, TOKEN_A, "192.0.2.1", true},
      {0, TOKEN_A, "192.0.2.1", true},
      {0, TOKEN_A, "192.0.2.1", false},
      {0, TOKEN_A, "192.0.2.1", false},
      {0, TOKEN_A, "192.0.2.1", false},
      {0, TOKEN_A, "198.51.100.1", true},
      {0, TOKEN_A, "198.51.100.1", true},
      {0, TOKEN_A, "203.0.113.1", false}},
     8,
     4},
    {"the window rolls over",
     {2, 100, 60},
     {{100, TOKEN_A, "192.0.2.1", true},
      {130, TOKEN_A, "192.0.2.1", true},
      {159, TOKEN_A, "192.0.2.1", false},
      {160, TOKEN_A, "192.0.2.1", true}, /* 60 s after the first */
      {161, TOKEN_A, "192.0.2.1", true},
      {162, TOKEN_A, "192.0.2.1", false}},
     6,
     2},
    {"the per-token window rolls over too",
     {100, 1, 10},
     {{0, TOKEN_A, "192.0.2.1", true},
      {9, TOKEN_A, "198.51.100.1", false},
      {10, TOKEN_A, "198.51.100.1", true}},
     3,
     1},
};

/* addr_of - s as an address, NULL for "" */
static const struct netaddr *addr_of(const char *s, struct netaddr *a)
{
    if (*s == '\0')
        return NULL;
    assert_true(netaddr_parse(s, a));
    return a;
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct cap_case *c = &cases[i];
        struct ratecap *rc = ratecap_new();

        for (size_t j = 0; j < c->nsteps; j++) {
            const struct step *s = &c->steps[j];
            struct netaddr a;
            bool got =
                ratecap_allow(rc, &c->lim, s->token, strlen(s->token), addr_of(s->addr, &a), s->t);

            if (got != s->want)
                fail_msg("%s: step %zu: allowed %d, want %d", c->name, j, got, s->want);
        }
        if (ratecap_capped(rc) != c->capped)
            fail_msg("%s: capped %llu, want %llu", c->name, (unsigned long long)ratecap_capped(rc),
                     (unsigned long long)c->capped);
        ratecap_free(rc);
    }
}

/* token_of - a distinct 22-character token for i */
static void token_of(unsigned i, char out[23])
{
    snprintf(out, 23, "T%020uA", i);
}

/*
 * A million distinct tokens in one window: the table stays its fixed
 * size (allocated once), every first open passes, and a token at its cap
 * stays capped while the flood goes by (its count is the highest of its set).
 */
static void test_bounded(void **state)
{
    struct ratecap_limits lim = {2, 1000, 3600};
    struct ratecap *rc = ratecap_new();
    struct netaddr a;
    char tok[23];

    (void)state;
    assert_true(netaddr_parse("192.0.2.1", &a));
    assert_int_equal(ratecap_entries(), (size_t)RATECAP_SETS * RATECAP_WAYS);
    assert_true(ratecap_entries() * 16 <= (4u << 20));
    assert_true(ratecap_allow(rc, &lim, TOKEN_A, 22, &a, 0));
    assert_true(ratecap_allow(rc, &lim, TOKEN_A, 22, &a, 0));
    for (unsigned i = 0; i < 1000000; i++) {
        token_of(i, tok);
        if (!ratecap_allow(rc, &lim, tok, 22, &a, 1))
            fail_msg("first open of token %u refused", i);
    }
    assert_int_equal(ratecap_capped(rc), 0);
    assert_false(ratecap_allow(rc, &lim, TOKEN_A, 22, &a, 2));
    assert_int_equal(ratecap_capped(rc), 1);
    ratecap_free(rc);
}

/*
 * Every entry at its cap, then a million new tokens: each first open
 * passes (the slot a new key takes starts from zero, it never inherits
 * the count of the key it pushed out).
 */
static void test_evict_resets(void **state)
{
    struct ratecap_limits lim = {1, 1, 3600};
    struct ratecap *rc = ratecap_new();
    struct netaddr a;
    char tok[23];

    (void)state;
    assert_true(netaddr_parse("2001:db8::1", &a));
    for (unsigned i = 0; i < 1000000; i++) {
        token_of(i, tok);
        if (!ratecap_allow(rc, &lim, tok, 22, &a, 5))
            fail_msg("first open of token %u refused", i);
        if (i < 1000 && ratecap_allow(rc, &lim, tok, 22, &a, 5))
            fail_msg("second open of token %u passed", i);
    }
    assert_int_equal(ratecap_capped(rc), 1000);
    ratecap_free(rc);
}

#define THREADS     8
#define PER_THREAD  5000
#define HOT_NETWORK 7 /* opens of the shared token each thread's network may record */

struct worker {
    struct ratecap *rc;
    unsigned id, allowed;
};

/* work - PER_THREAD opens of one shared token from the thread's own /24, and some others */
static void *work(void *p)
{
    struct worker *w = p;
    struct ratecap_limits lim = {HOT_NETWORK, 1000000, 3600};
    struct netaddr a;
    char addr[32], tok[23];

    snprintf(addr, sizeof(addr), "10.%u.0.1", w->id);
    if (!netaddr_parse(addr, &a))
        return NULL;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        if (ratecap_allow(w->rc, &lim, TOKEN_A, 22, &a, 0))
            w->allowed++;
        token_of(w->id * PER_THREAD + i, tok);
        if (!ratecap_allow(w->rc, &lim, tok, 22, &a, 0))
            w->allowed += 1000000; /* a distinct token's only open: never refused */
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct ratecap *rc = ratecap_new();
    pthread_t t[THREADS];
    struct worker w[THREADS];

    (void)state;
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){rc, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].allowed, HOT_NETWORK);
    }
    assert_int_equal(ratecap_capped(rc), THREADS * (PER_THREAD - HOT_NETWORK));
    ratecap_free(rc);
}

/* The per-token cap shared by threads: exactly the cap passes, all networks together. */
static void *work_token(void *p)
{
    struct worker *w = p;
    struct ratecap_limits lim = {1000000, 100, 3600};
    struct netaddr a;

    if (!netaddr_parse(w->id % 2 ? "192.0.2.1" : "2001:db8::1", &a))
        return NULL;
    for (unsigned i = 0; i < PER_THREAD; i++)
        if (ratecap_allow(w->rc, &lim, TOKEN_B, 22, &a, 0))
            w->allowed++;
    return NULL;
}

static void test_threads_token(void **state)
{
    struct ratecap *rc = ratecap_new();
    pthread_t t[THREADS];
    struct worker w[THREADS];
    unsigned total = 0;

    (void)state;
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){rc, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work_token, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        total += w[i].allowed;
    }
    assert_int_equal(total, 100);
    assert_int_equal(ratecap_capped(rc), THREADS * PER_THREAD - 100);
    ratecap_free(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),         cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_evict_resets),  cmocka_unit_test(test_threads),
        cmocka_unit_test(test_threads_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
