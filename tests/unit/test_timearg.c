/*
 * test_timearg.c - the CLI's one time-argument parser and its time
 * display (cli/timearg.c): every accepted form to the exact second,
 * local (TZ fixed at UTC+1 without DST, so no test depends on the
 * machine's zone or the date it runs) and --utc; malformed input refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "timearg.h"

#define NOW 1796655731LL /* 2026-12-07T15:02:11Z = 16:02:11 +0100 */
#define D1  1796083200LL /* 2026-12-01T00:00:00Z */
#define H   3600LL

struct good {
    const char *in;
    bool utc;
    int64_t want;
};

static const struct good goods[] = {
    {"now", false, NOW},
    {"45s", false, NOW - 45},
    {"30m", false, NOW - 30 * 60},
    {"24h", false, NOW - 24 * H},
    {"7d", false, NOW - 7 * 24 * H},
    {"2w", false, NOW - 14 * 24 * H},
    {"0d", false, NOW},
    {"999999999s", false, NOW - 999999999},
    /* the day's first second where the reader is: local midnight */
    {"today", false, D1 + 6 * 24 * H - H},
    {"yesterday", false, D1 + 5 * 24 * H - H},
    {"today", true, D1 + 6 * 24 * H},
    {"yesterday", true, D1 + 5 * 24 * H},
    /* no zone: local time; --utc: UTC */
    {"2026-12-01", false, D1 - H},
    {"2026-12-01", true, D1},
    {"2026-12-01T10:00", false, D1 + 10 * H - H},
    {"2026-12-01 10:00:30", false, D1 + 10 * H - H + 30},
    {"2026-12-01t10:00", true, D1 + 10 * H},
    /* a zone wins over both */
    {"2026-12-01T10:00Z", false, D1 + 10 * H},
    {"2026-12-01T10:00z", true, D1 + 10 * H},
    {"2026-12-01T10:00:00+02:00", false, D1 + 8 * H},
    {"2026-12-01T10:00:00-0130", false, D1 + 11 * H + 1800},
    {"2026-12-01T10:00:00.123456Z", false, D1 + 10 * H},
    {"2024-02-29T00:00Z", false, 1709164800},
    {"1970-01-01T00:00:00Z", false, 0},
};

static const char *const bads[] = {
    "",
    "x",
    "tomorrow",
    "Today",
    "NOW",
    "1y",
    "24",
    "h",
    "-3d",
    "+3d",
    "7d ",
    " 7d",
    "7 d",
    "1234567890m", /* ten digits */
    "2026-13-01",
    "2026-00-10",
    "2026-02-29",
    "2026-12-32",
    "2026-12-00",
    "2026-12-1",
    "26-12-01",
    "2026/12/01",
    "2026-12-01T24:00",
    "2026-12-01T10:60",
    "2026-12-01T10:00:60",
    "2026-12-01T10",
    "2026-12-01T10:00+25:00",
    "2026-12-01T10:00+01:60",
    "2026-12-01T10:00Zjunk",
    "2026-12-01T10:00:00.",
    "2026-12-01T10:00:00.Z",
    "2026-12-01X10:00",
    "2026-12-01T10:00 +01:00",
    "2026-12-01T10:00+1",
};

/* tz_fixed - every test reads local time as UTC+1, no DST */
static int tz_fixed(void **state)
{
    (void)state;
    setenv("TZ", "XXX-1", 1);
    tzset();
    return 0;
}

/* test_good - each good form gives its exact second */
static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        int64_t got = -1;

        if (!timearg_parse(goods[i].in, NOW, goods[i].utc, &got))
            fail_msg("\"%s\" refused", goods[i].in);
        if (got != goods[i].want)
            fail_msg("\"%s\" (utc %d): %lld, want %lld", goods[i].in, goods[i].utc, (long long)got,
                     (long long)goods[i].want);
    }
}

/* test_bad - each malformed argument is refused, in both modes */
static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        int64_t got = 42;

        if (timearg_parse(bads[i], NOW, false, &got) || timearg_parse(bads[i], NOW, true, &got))
            fail_msg("\"%s\" accepted as %lld", bads[i], (long long)got);
    }
    assert_false(timearg_parse(NULL, NOW, false, &(int64_t){0}));
}

struct shown {
    int64_t t;
    bool utc, machine;
    const char *want;
};

/* test_format - local time with its offset, RFC 3339 for machines, --utc */
static void test_format(void **state)
{
    static const struct shown cases[] = {
        {NOW, false, false, "2026-12-07 16:02:11 +0100"},
        {NOW, false, true, "2026-12-07T16:02:11+01:00"},
        {NOW, true, false, "2026-12-07 15:02:11 +0000"},
        {NOW, true, true, "2026-12-07T15:02:11Z"},
        {D1 - H, false, false, "2026-12-01 00:00:00 +0100"},
        {INT64_MAX, true, true, "9999-12-31T23:59:59Z"},
        {INT64_MIN, true, true, "0000-01-01T00:00:00Z"},
    };
    char out[TIMEARG_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(timearg_format(cases[i].t, cases[i].utc, cases[i].machine, out),
                            cases[i].want);
    /* a zone west of UTC */
    setenv("TZ", "YYY+5:30", 1);
    tzset();
    assert_string_equal(timearg_format(NOW, false, false, out), "2026-12-07 09:32:11 -0530");
    assert_string_equal(timearg_format(NOW, false, true, out), "2026-12-07T09:32:11-05:30");
    tz_fixed(NULL);
}

/* test_round_trip - what is shown reads back as the same second */
static void test_round_trip(void **state)
{
    char out[TIMEARG_LEN];
    int64_t back = 0;

    (void)state;
    assert_true(timearg_parse(timearg_format(NOW, false, true, out), 0, false, &back));
    assert_int_equal(back, NOW);
    assert_true(timearg_parse(timearg_format(NOW, true, true, out), 0, false, &back));
    assert_int_equal(back, NOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
    };

    return cmocka_run_group_tests(tests, tz_fixed, NULL);
}
