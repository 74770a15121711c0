/*
 * test_ledger_adv_replay.c - adversarial review of ledger_put_wait():
 * answers while the writer replays a spooled backlog (after an outage,
 * or at start after kill -9). The design says a waiter's record goes
 * before the backlog; a replay batch (up to batch_max records) already
 * under way is not interrupted, so an answer can wait for it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ledger.h"
#include "ledger_msg.h"
#include "spool.h"

#include "ledger_fixture.h"

#define BACKLOG 40000
#define ANSWERS 200
#define WAIT_MS 200

/* write_backlog - a spool file holding records 0..BACKLOG-1, as an earlier run leaves it */
static void write_backlog(const char *path)
{
    char err[512];
    struct spool *sp = spool_open(path, 0, err, sizeof(err));
    struct ledger_msg *m[100];

    if (sp == NULL)
        fail_msg("%s", err);
    spool_set_sync(sp, false);
    for (int first = 0; first < BACKLOG; first += 100) {
        for (int i = 0; i < 100; i++)
            m[i] = make_msg(first + i);
        assert_int_equal(spool_append(sp, m, 100), 100);
        for (int i = 0; i < 100; i++)
            ledger_msg_free(m[i]);
    }
    spool_close(sp);
}

/*
 * test_answers_during_replay - a spool of BACKLOG records from an earlier
 * run; while the writer replays it, connections answer one after the
 * other: none should have to spool its own record (SELF: the writer kept
 * it waiting wait_ms), and the slowest answer should be far below wait_ms.
 */
static void test_answers_during_replay(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    unsigned self = 0;
    uint64_t slowest = 0, t0;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    migrated_db(db);
    write_backlog(spool);
    test_opts(&o, db);
    t0 = now_ms();
    l = ledger_start(&o);
    for (int i = 0; i < ANSWERS; i++) {
        struct answer got = timed_wait(l, BACKLOG + i, WAIT_MS);

        self += got.ack == LEDGER_ACK_SELF;
        slowest = got.took > slowest ? got.took : slowest;
        sleep_ms(5);
    }
    ledger_get_stats(l, &st);
    print_message("replayed %llu of %d in %llu ms; %u of %d answers self-spooled, slowest %llu ms, "
                  "commits %llu, p50 %llu us, p90 %llu us, p99 %llu us\n",
                  (unsigned long long)st.replayed, BACKLOG, (unsigned long long)(now_ms() - t0),
                  self, ANSWERS, (unsigned long long)slowest, (unsigned long long)st.commits,
                  (unsigned long long)ledger_wait_percentile(&st, 50),
                  (unsigned long long)ledger_wait_percentile(&st, 90),
                  (unsigned long long)ledger_wait_percentile(&st, 99));
    assert_true(ledger_flush(l, 60000));
    expect_set(db, 0, BACKLOG + ANSWERS);
    ledger_stop(l, 1000);
    /* A replay batch is small (REPLAY_BATCH): an answer waits for one at
       worst, so the usual answer is quick and few need their own copy (a
       checkpoint in a commit can still take longer than WAIT_MS). With
       batch_max-sized replay batches most answers waited out a batch. */
    if (self > ANSWERS / 40 || ledger_wait_percentile(&st, 90) > WAIT_MS * 1000 / 2)
        fail_msg("%u answers self-spooled, 90th percentile of the waits %llu us", self,
                 (unsigned long long)ledger_wait_percentile(&st, 90));
    assert_true(slowest < WAIT_MS + 2000); /* bounded: wait_ms, then one append */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_during_replay),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
