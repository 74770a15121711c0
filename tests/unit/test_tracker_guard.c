/*
 * test_tracker_guard.c - postmeter-tracker's connection guard
 * (tracker-httpd/guard.c): which clients share a network (an IPv4
 * address, an IPv6 /64), counts going up and down with the limit, the
 * per-request deadline (a trickling client is cut however it sends),
 * and a reused descriptor never cut for the connection that had it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard.h"

#define S 1000000000ull /* one second in ns */

/* addr - a parsed address, or the test fails */
static struct netaddr addr(const char *s)
{
    struct netaddr a;

    if (!netaddr_parse(s, &a))
        fail_msg("cannot parse %s", s);
    return a;
}

static void test_network(void **state)
{
    static const struct {
        const char *a, *b;
        bool same;
    } cases[] = {
        {"2001:db8::1", "2001:db8::2", true},
        {"2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff", true}, /* the whole /64 */
        {"2001:db8:0:0:8000::", "2001:db8::1", true},
        {"2001:db8::1", "2001:db8:0:1::1", false}, /* the next /64 */
        {"2001:db8::1", "2001:db9::1", false},
        {"192.0.2.1", "192.0.2.1", true},
        {"192.0.2.1", "192.0.2.2", false},       /* IPv4: the address itself */
        {"192.0.2.1", "::ffff:192.0.2.1", true}, /* v4-mapped is the IPv4 client */
        {"0.0.0.0", "::", false},                /* families never share */
        {"192.0.2.1", "c000:201::", false},      /* nor do equal leading bytes */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct guard *g = guard_new(10, 1, 5);
        struct netaddr a = addr(cases[i].a), b = addr(cases[i].b);
        bool over;
        struct guard_conn *c = guard_open(g, 3, &a, 0, &over);

        assert_false(over);
        if (guard_admit(g, &b) == cases[i].same || guard_count(g, &b) != (cases[i].same ? 1 : 0))
            fail_msg("%s and %s: expected %s network", cases[i].a, cases[i].b,
                     cases[i].same ? "the same" : "another");
        guard_close(g, c);
        assert_int_equal(guard_count(g, &a), 0);
        assert_true(guard_admit(g, &b));
        g = guard_free(g);
    }
}

static void test_counts(void **state)
{
    /* one step: open (from addr, expecting over) or close (conn number) */
    static const struct {
        char op; /* 'o'pen, 'c'lose */
        const char *from;
        int conn;     /* the connection a close ends */
        bool over;    /* open: past the limit (3) */
        unsigned n64; /* then: the count of 2001:db8::/64 */
        unsigned nv4; /* then: the count of 192.0.2.7 */
    } steps[] = {
        {'o', "2001:db8::1", 0, false, 1, 0}, {'o', "2001:db8::2", 1, false, 2, 0},
        {'o', "192.0.2.7", 2, false, 2, 1},   {'o', "2001:db8::3:4", 3, false, 3, 1},
        {'o', "2001:db8::5", 4, true, 4, 1}, /* a racing accept: counted, reported over */
        {'c', NULL, 4, false, 3, 1},          {'c', NULL, 0, false, 2, 1},
        {'o', "2001:db8::9", 5, false, 3, 1}, {'c', NULL, 2, false, 3, 0},
        {'o', NULL, 6, false, 3, 0}, /* no IP: counted nowhere */
        {'c', NULL, 1, false, 2, 0},          {'c', NULL, 3, false, 1, 0},
        {'c', NULL, 5, false, 0, 0},          {'c', NULL, 6, false, 0, 0},
    };
    struct guard *g = guard_new(4, 3, 5);
    struct guard_conn *c[8] = {NULL};
    struct netaddr n64 = addr("2001:db8::77"), nv4 = addr("192.0.2.7");

    (void)state;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        bool over = false;

        if (steps[i].op == 'o') {
            struct netaddr a;

            if (steps[i].from != NULL)
                a = addr(steps[i].from);
            c[steps[i].conn] =
                guard_open(g, 10 + steps[i].conn, steps[i].from ? &a : NULL, 0, &over);
        } else {
            guard_close(g, c[steps[i].conn]);
            c[steps[i].conn] = NULL;
        }
        if (over != steps[i].over || guard_count(g, &n64) != steps[i].n64 ||
            guard_count(g, &nv4) != steps[i].nv4)
            fail_msg("step %zu: over %d, /64 %u, v4 %u; expected %d, %u, %u", i, over,
                     guard_count(g, &n64), guard_count(g, &nv4), steps[i].over, steps[i].n64,
                     steps[i].nv4);
        assert_true(guard_admit(g, &n64) == (steps[i].n64 < 3));
        assert_true(guard_admit(g, &nv4) == (steps[i].nv4 < 3));
    }
    assert_true(guard_admit(g, NULL));
    g = guard_free(g);
}

struct cuts {
    int fd[16];
    size_t n;
};

/* record_cut - the test's cut: remember the descriptor */
static void record_cut(void *ctx, int fd)
{
    struct cuts *k = ctx;

    assert_true(k->n < 16);
    k->fd[k->n++] = fd;
}

/* cuts_are - k holds exactly want (a -1 terminated list), in order; then empties it */
static void cuts_are(struct cuts *k, const int *want, const char *when)
{
    size_t n = 0;

    while (want[n] != -1)
        n++;
    if (k->n != n || memcmp(k->fd, want, n * sizeof(int)) != 0)
        fail_msg("%s: %zu cut(s), expected %zu", when, k->n, n);
    k->n = 0;
}

static void test_deadline(void **state)
{
    /* timeout 2 s. fd 5 opened at 0; fd 6 at 1 s, its answer out at 2.5 s; fd 7 at 0, never rearmed
     */
    static const struct {
        uint64_t at;
        int cut[4];
    } sweeps[] = {
        {1 * S, {-1}},
        {2 * S - 1, {-1}},
        {2 * S, {5, 7, -1}}, /* due exactly now: cut */
        {3 * S, {-1}},       /* each once */
        {4 * S, {-1}},       /* fd 6: 2.5 s + 2 s */
        {4 * S + S / 2, {6, -1}},
        {60 * S, {-1}},
    };
    struct guard *g = guard_new(8, 8, 2);
    struct netaddr a = addr("198.51.100.1");
    struct cuts k = {.n = 0};
    struct guard_conn *c5, *c6, *c7;
    bool over;

    (void)state;
    c5 = guard_open(g, 5, &a, 0, &over);
    c7 = guard_open(g, 7, &a, 0, &over);
    c6 = guard_open(g, 6, &a, 1 * S, &over);
    guard_rearm(g, c6, 2 * S + S / 2);
    for (size_t i = 0; i < sizeof(sweeps) / sizeof(sweeps[0]); i++) {
        char when[32];
        unsigned n = guard_sweep(g, sweeps[i].at, record_cut, &k);

        snprintf(when, sizeof(when), "sweep %zu", i);
        assert_int_equal(n, k.n);
        cuts_are(&k, sweeps[i].cut, when);
    }
    guard_close(g, c5);
    guard_close(g, c6);
    guard_close(g, c7);
    g = guard_free(g);
}

static void test_fd_reuse(void **state)
{
    struct guard *g = guard_new(8, 8, 2);
    struct cuts k = {.n = 0};
    struct guard_conn *old, *new;
    bool over;

    (void)state;
    /* closed before its deadline, descriptor 9 then taken by a new connection */
    old = guard_open(g, 9, NULL, 0, &over);
    guard_close(g, old);
    new = guard_open(g, 9, NULL, 5 * S, &over);
    guard_sweep(g, 3 * S, record_cut, &k); /* past the old deadline: nothing */
    cuts_are(&k, (const int[]){-1}, "the old connection's deadline");
    guard_sweep(g, 7 * S, record_cut, &k);
    cuts_are(&k, (const int[]){9, -1}, "the new connection's deadline");
    guard_close(g, new);
    /* cut, closed, reused: the new one gets its own deadline and its own cut */
    new = guard_open(g, 9, NULL, 8 * S, &over);
    guard_sweep(g, 9 * S, record_cut, &k);
    cuts_are(&k, (const int[]){-1}, "reused after a cut");
    guard_sweep(g, 10 * S, record_cut, &k);
    cuts_are(&k, (const int[]){9, -1}, "reused, then late");
    guard_close(g, new);
    guard_sweep(g, 100 * S, record_cut, &k);
    cuts_are(&k, (const int[]){-1}, "everything closed");
    g = guard_free(g);
}

static void test_sweeper_thread(void **state)
{
    /* the real sweeper shuts a late socket down: the peer reads end of file */
    struct guard *g = guard_new(8, 8, 1);
    struct guard_conn *c;
    int sv[2];
    char ch;
    bool over;
    struct timeval tv = {.tv_sec = 5};

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    c = guard_open(g, sv[0], NULL, guard_now(), &over);
    guard_start(g);
    assert_int_equal(read(sv[1], &ch, 1), 0); /* not -1 (timed out after 5 s) */
    guard_close(g, c);
    g = guard_free(g);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network),        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_deadline),       cmocka_unit_test(test_fd_reuse),
        cmocka_unit_test(test_sweeper_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
