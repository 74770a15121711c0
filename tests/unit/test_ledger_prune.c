/*
 * test_ledger_prune.c - the ledger writer's daily prune
 * (ledger_prune_tick) against a store holding rows of known ages
 * (prune_fixture.c): off with retention_days 0; a run removes exactly
 * what is older than retention_days, one bounded batch per call and none
 * during the pause after a batch; the next run is a day later, sooner
 * after a failure (which removes nothing), at once after the clock went
 * back; the batch size follows the batch time (ledger_prune_next_limit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ledger_msg.h"
#include "ledger_prune.h"
#include "store.h"
#include "util.h"

#include "prune_fixture.h"
#include "store_fixture.h"

#define DAYS      30
#define NOW       ((time_t)2000000000)
#define CUT       ((int64_t)NOW - DAYS * 86400)
#define MAX_TICKS 10000

/* mono_ms - monotonic clock in milliseconds */
static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* run_ticks - tick at now until the run is over; the ticks taken */
static unsigned run_ticks(struct store *s, struct ledger_prune_state *ps, time_t now)
{
    unsigned ticks = 1;

    while (ledger_prune_tick(s, ps, now, DAYS)) {
        struct timespec pause = {0, 2000000};

        assert_true(++ticks < MAX_TICKS);
        nanosleep(&pause, NULL);
    }
    return ticks;
}

/* test_off - retention_days 0 never prunes */
static void test_off(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT);
    struct ledger_prune_state ps = {0};

    (void)state;
    assert_false(ledger_prune_tick(s, &ps, NOW, 0));
    assert_false(ledger_prune_tick(s, &ps, NOW + 5 * 86400, 0));
    assert_int_equal(ledger_prune_wait_ms(&ps, NOW, 0), UINT64_MAX);
    prune_check_untouched(path);
    store_close(s);
}

/* test_run - due at once; removes what is older than the days; then due a day later */
static void test_run(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT);
    struct ledger_prune_state ps = {0};
    struct store_prune_counts gone, all, now;

    (void)state;
    prune_expect(&gone, &all);
    assert_int_equal(ledger_prune_wait_ms(&ps, NOW, DAYS), 0);
    run_ticks(s, &ps, NOW);
    prune_check_done(path);
    prune_counts_equal(&ps.run.removed, &gone, "the run's count");
    assert_int_equal(ps.run.cut, CUT);
    /* Done for today: nothing happens until a day after the run began. */
    assert_int_equal(ledger_prune_wait_ms(&ps, NOW, DAYS), (uint64_t)LEDGER_PRUNE_EVERY_S * 1000);
    assert_int_equal(ledger_prune_wait_ms(&ps, NOW + 3600, DAYS),
                     (uint64_t)(LEDGER_PRUNE_EVERY_S - 3600) * 1000);
    assert_false(ledger_prune_tick(s, &ps, NOW + LEDGER_PRUNE_EVERY_S - 1, DAYS));
    assert_int_equal(ps.run.cut, CUT);
    /* A day later the cut is a day on: the rows kept (all younger than a day) go. */
    assert_int_equal(ledger_prune_wait_ms(&ps, NOW + LEDGER_PRUNE_EVERY_S, DAYS), 0);
    run_ticks(s, &ps, NOW + LEDGER_PRUNE_EVERY_S);
    assert_int_equal(ps.run.cut, CUT + LEDGER_PRUNE_EVERY_S);
    for (size_t t = 0; t < STORE_PRUNE_TABLES; t++)
        all.n[t] -= gone.n[t];
    prune_counts_equal(&ps.run.removed, &all, "the next day's run: the rest");
    prune_rows_now(path, &now);
    prune_counts_equal(&now, &(struct store_prune_counts){{0}}, "rows left the next day");
    store_close(s);
}

/* old_messages - n messages with one recipient each, all received at t */
static void old_messages(struct store *s, size_t n, int64_t t)
{
    struct ledger_msg **msgs = xcalloc(n, sizeof(*msgs));

    for (size_t i = 0; i < n; i++) {
        msgs[i] = ledger_msg_new();
        ledger_msg_set(&msgs[i]->action, "accept");
        ledger_msg_add_rcpt(msgs[i], "bulk@example.org");
        msgs[i]->received_at = t;
    }
    assert_int_equal(store_put_messages(s, msgs, n), STORE_OK);
    for (size_t i = 0; i < n; i++)
        ledger_msg_free(msgs[i]);
    free(msgs);
}

/* test_one_batch_per_tick - a tick does one batch of the run, and none while it pauses */
static void test_one_batch_per_tick(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT);
    struct ledger_prune_state ps = {0};
    struct store_prune_counts gone, all, now;
    uint64_t before;
    const size_t extra = 3 * LEDGER_PRUNE_FIRST_ROWS;

    (void)state;
    old_messages(s, extra, CUT - 10);
    before = mono_ms();
    assert_true(ledger_prune_tick(s, &ps, NOW, DAYS));
    assert_int_equal(ps.run.batches, 1);
    /* The first batch: the first limit of parents and nothing more. */
    assert_int_equal(prune_parents(&ps.run.removed), LEDGER_PRUNE_FIRST_ROWS);
    prune_expect(&gone, &all);
    prune_rows_now(path, &now);
    assert_int_equal(prune_parents(&all) + (int64_t)extra - prune_parents(&now),
                     LEDGER_PRUNE_FIRST_ROWS);
    /* The pause after it: LEDGER_PRUNE_DUTY times the batch, LEDGER_PRUNE_PAUSE_MS at least. */
    assert_true(ps.resume_ms >= before + LEDGER_PRUNE_PAUSE_MS);
    assert_true(ps.run.pause_us >= LEDGER_PRUNE_DUTY * ps.run.longest_us);
    assert_true(ps.resume_ms >= before + ps.run.pause_us / 1000);
    /* While it lasts a tick does nothing and says there is more. */
    ps.resume_ms = mono_ms() + 3600 * 1000;
    assert_true(ledger_prune_tick(s, &ps, NOW, DAYS));
    assert_int_equal(ps.run.batches, 1);
    assert_true(ledger_prune_wait_ms(&ps, NOW, DAYS) > 3000 * 1000);
    ps.resume_ms = 0;
    run_ticks(s, &ps, NOW);
    assert_int_equal(ps.run.removed.n[STORE_PRUNE_MESSAGES],
                     gone.n[STORE_PRUNE_MESSAGES] + (int64_t)extra);
    assert_true(ps.run.batches >= 2);
    prune_check_done(path);
    store_close(s);
}

/* test_failure_retry - a failed batch removes nothing; the next try is LEDGER_PRUNE_RETRY_S later
 */
static void test_failure_retry(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT), *ro;
    struct ledger_prune_state ps = {0};
    struct store_prune_counts gone, all, now;

    (void)state;
    store_close(s);
    ro = open_ok(path, STORE_READONLY);
    assert_false(ledger_prune_tick(ro, &ps, NOW, DAYS));
    assert_false(ps.running);
    assert_int_equal(ledger_prune_wait_ms(&ps, NOW, DAYS), (uint64_t)LEDGER_PRUNE_RETRY_S * 1000);
    assert_false(ledger_prune_tick(ro, &ps, NOW + LEDGER_PRUNE_RETRY_S - 1, DAYS));
    prune_check_untouched(path);
    store_close(ro);
    s = open_ok(path, 0);
    run_ticks(s, &ps, NOW + LEDGER_PRUNE_RETRY_S);
    /* Every row of the table is younger than the cut by less than the retry: all go. */
    assert_int_equal(ps.run.cut, CUT + LEDGER_PRUNE_RETRY_S);
    prune_expect(&gone, &all);
    prune_counts_equal(&ps.run.removed, &all, "the retry");
    prune_rows_now(path, &now);
    prune_counts_equal(&now, &(struct store_prune_counts){{0}}, "rows left after the retry");
    store_close(s);
}

/* test_clock_back - a next run put off by more than a day (the clock went back) is due at once */
static void test_clock_back(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT);
    struct ledger_prune_state ps = {.next_at = (int64_t)NOW + 30 * 86400};

    (void)state;
    assert_int_equal(ledger_prune_wait_ms(&ps, NOW, DAYS), 0);
    run_ticks(s, &ps, NOW);
    prune_check_done(path);
    store_close(s);
}

/* A batch's size and time, and the next batch's size. */
struct limit_case {
    unsigned limit;
    uint64_t ms; /* what the batch took */
    unsigned want;
};

/* test_limit - a slow batch cuts the next to the aim, a quick one grows it by a quarter */
static void test_limit(void **state)
{
    const struct limit_case cases[] = {
        {64, 0, 81},
        {1, 0, 2},
        {64, LEDGER_PRUNE_BATCH_MS / 2, 64},
        {64, LEDGER_PRUNE_BATCH_MS, 64},
        {64, 2 * LEDGER_PRUNE_BATCH_MS, 64},
        {64, 4 * LEDGER_PRUNE_BATCH_MS, 16},
        {1000, 100 * LEDGER_PRUNE_BATCH_MS, 10},
        {1, 10 * LEDGER_PRUNE_BATCH_MS, LEDGER_PRUNE_MIN_ROWS},
        {LEDGER_PRUNE_MAX_ROWS, 0, LEDGER_PRUNE_MAX_ROWS},
        {LEDGER_PRUNE_MAX_ROWS - 1, 1, LEDGER_PRUNE_MAX_ROWS},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (ledger_prune_next_limit(cases[i].limit, cases[i].ms * 1000) != cases[i].want)
            fail_msg("case %zu: %u rows in %llu ms: next %u, want %u", i, cases[i].limit,
                     (unsigned long long)cases[i].ms,
                     ledger_prune_next_limit(cases[i].limit, cases[i].ms * 1000), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_one_batch_per_tick),
        cmocka_unit_test(test_failure_retry),
        cmocka_unit_test(test_clock_back),
        cmocka_unit_test(test_limit),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
