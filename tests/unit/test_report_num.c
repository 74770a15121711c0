/*
 * test_report_num.c - the numbers report opens prints without printf
 * (cli/report_num.c, out_i64() of cli/output.c) are the bytes printf
 * makes: golden cases worked out by hand (ties of "%.1f" go to the even
 * tenth when the double is exactly halfway, else to the side the double
 * is on), then whole ranges against report_fmt_rate() /
 * report_fmt_duration() (report_html.c) and "%" PRId64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "output.h"
#include "report_html.h"
#include "report_num.h"

struct i64_case {
    int64_t v;
    const char *want;
};

static const struct i64_case i64_cases[] = {
    {0, "0"},
    {7, "7"},
    {-1, "-1"},
    {9, "9"},
    {10, "10"},
    {-10, "-10"},
    {99, "99"},
    {100, "100"},
    {1234567890, "1234567890"},
    {-1234567890, "-1234567890"},
    {INT64_MAX, "9223372036854775807"},
    {INT64_MIN, "-9223372036854775808"},
    {INT64_MIN + 1, "-9223372036854775807"},
};

/* test_i64_golden - each case, its text and length */
static void test_i64_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(i64_cases) / sizeof(i64_cases[0]); i++) {
        char out[OUT_I64_LEN];
        size_t n = out_i64(i64_cases[i].v, out);

        assert_string_equal(out, i64_cases[i].want);
        assert_int_equal(n, strlen(i64_cases[i].want));
    }
}

/* check_i64 - out_i64(v) is printf's "%" PRId64 */
static void check_i64(int64_t v)
{
    char out[OUT_I64_LEN], want[32];

    snprintf(want, sizeof(want), "%" PRId64, v);
    out_i64(v, out);
    if (strcmp(out, want) != 0)
        fail_msg("%s: got '%s'", want, out);
}

/* test_i64_ranges - every value near 0 and next to each power of ten, both signs */
static void test_i64_ranges(void **state)
{
    int64_t p = 1;

    (void)state;
    for (int64_t v = -20000; v <= 20000; v++)
        check_i64(v);
    for (int i = 0; i < 19; i++) {
        for (int64_t d = -2; d <= 2; d++) {
            check_i64(p + d);
            check_i64(-(p + d));
        }
        if (i < 18)
            p *= 10;
    }
    for (int64_t d = 0; d < 3; d++) {
        check_i64(INT64_MAX - d);
        check_i64(INT64_MIN + d);
    }
}

struct rate_case {
    long long num, den;
    const char *want;
};

static const struct rate_case rate_cases[] = {
    {0, 0, "-"},
    {3, 0, "-"},
    {0, 1, "0.0%"},
    {1, 1, "100.0%"},
    {1, 3, "33.3%"},
    {2, 3, "66.7%"},
    {1, 6, "16.7%"},
    {1, 8, "12.5%"},
    {1, 16, "6.2%"},   /* 6.25 exactly: the even tenth */
    {3, 16, "18.8%"},  /* 18.75 exactly: the even tenth */
    {1, 2000, "0.1%"}, /* 0.05 is 0.05000000000000000277 as a double */
    {3, 2000, "0.1%"}, /* 0.15 is 0.1499999999999999944 */
    {199999, 200000, "100.0%"},
    {3, 2, "150.0%"}, /* over 100%: printf's own */
    {-1, 2, "-"},     /* below 0 reads as no rate (report_fmt_rate) */
};

/* test_rate_golden - each case */
static void test_rate_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rate_cases) / sizeof(rate_cases[0]); i++) {
        char out[16];

        if (strcmp(report_num_rate(rate_cases[i].num, rate_cases[i].den, out),
                   rate_cases[i].want) != 0)
            fail_msg("%lld / %lld: got '%s' want '%s'", rate_cases[i].num, rate_cases[i].den, out,
                     rate_cases[i].want);
    }
}

/* check_rate - report_num_rate(num, den) is report_fmt_rate(num, den) */
static void check_rate(long long num, long long den)
{
    char out[16], want[16];

    report_fmt_rate(num, den, want);
    if (strcmp(report_num_rate(num, den, out), want) != 0)
        fail_msg("%lld / %lld: got '%s' want '%s'", num, den, out, want);
}

/* test_rate_ranges - every num / den up to 1200, and near the edges of the integer path */
static void test_rate_ranges(void **state)
{
    static const long long big[] = {1000003, 99999989, (1LL << 40) - 1, 1LL << 40};

    (void)state;
    for (long long den = 0; den <= 1200; den++)
        for (long long num = -1; num <= den + 1; num++)
            check_rate(num, den);
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
        for (long long k = 0; k < 3000; k++) {
            check_rate(big[i] / 3000 * k, big[i]);
            check_rate(big[i] / 2000 * k + k, big[i]);
            check_rate(big[i] - k, big[i]);
        }
}

struct duration_case {
    long long s;
    const char *want;
};

static const struct duration_case duration_cases[] = {
    {-1, "-"},          {0, "0 s"},
    {119, "119 s"},     {120, "2 min"},
    {4500, "75 min"},   {7199, "119 min"},
    {7200, "2.0 h"},    {7380, "2.0 h"}, /* 2.05 is 2.04999999999999982 as a double */
    {8100, "2.2 h"},                     /* 2.25 exactly: the even tenth */
    {9900, "2.8 h"},                     /* 2.75 exactly: the even tenth */
    {172799, "48.0 h"}, {172800, "2.0 d"},
    {216000, "2.5 d"},  {1LL << 40, "12725829.0 d"},
};

/* test_duration_golden - each case */
static void test_duration_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(duration_cases) / sizeof(duration_cases[0]); i++) {
        char out[16];

        if (strcmp(report_num_duration(duration_cases[i].s, out), duration_cases[i].want) != 0)
            fail_msg("%lld s: got '%s' want '%s'", duration_cases[i].s, out,
                     duration_cases[i].want);
    }
}

/* check_duration - report_num_duration(s) is report_fmt_duration(s) */
static void check_duration(long long s)
{
    char out[16], want[16];

    report_fmt_duration(s, want);
    if (strcmp(report_num_duration(s, out), want) != 0)
        fail_msg("%lld s: got '%s' want '%s'", s, out, want);
}

/* test_duration_ranges - every second of the first ten days, then around the days' ties
 * and the edge of the integer path */
static void test_duration_ranges(void **state)
{
    (void)state;
    for (long long s = -3; s <= 10 * 86400; s++)
        check_duration(s);
    for (long long d = 10; d < 400000; d += 7)
        for (long long k = -2; k <= 2; k++)
            check_duration(d * 8640 + 4320 + k);
    for (long long k = -3; k <= 3; k++)
        check_duration((1LL << 40) + k);
    check_duration(INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64_golden),      cmocka_unit_test(test_i64_ranges),
        cmocka_unit_test(test_rate_golden),     cmocka_unit_test(test_rate_ranges),
        cmocka_unit_test(test_duration_golden), cmocka_unit_test(test_duration_ranges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
