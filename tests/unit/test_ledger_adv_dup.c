/*
 * test_ledger_adv_dup.c - adversarial review of ledger_put_wait(): a
 * record a waiting producer spooled itself (SELF) stays queued, so the
 * writer may append it to the spool a second time, and then counts it
 * twice. Each case checks that the spool holds every record once and
 * that put == written + replayed once everything is stored.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"

#include "ledger_fixture.h"

#define ADV_WAIT_MS 30
#define ADV_N       7 /* self-spooled records; with queue_max 8 the queue is crowded (> 6) */

struct adv_case {
    const char *name;
    size_t queue_max; /* 8: crowded once the writer's locked commit fails; else roomy */
};

static const struct adv_case adv_cases[] = {
    {"crowded queue: the writer spools the ring after its commit fails", 8},
    {"roomy queue: the writer commits the ring once the lock is gone", 1000},
};

/*
 * test_self_spooled_once - another connection holds the write lock; ADV_N
 * producers each give up after ADV_WAIT_MS and spool their own copy
 * (SELF). Then: the spool must hold each record once, and once the
 * lock is gone and all is flushed, each row is in the database once and
 * written + replayed == put.
 */
static void test_self_spooled_once(void **state)
{
    int bad = 0;

    (void)state;
    for (size_t c = 0; c < sizeof(adv_cases) / sizeof(adv_cases[0]); c++) {
        const struct adv_case *ac = &adv_cases[c];
        char dir[256], db[300], spool[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        int seqs[64], times[ADV_N] = {0};
        long n;
        sqlite3 *other;

        join(db, case_dir(dir, true), "ledger.db");
        join(spool, dir, "ledger.db.spool");
        migrated_db(db);
        assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        test_opts(&o, db);
        o.queue_max = ac->queue_max;
        o.retry_max_ms = 100;
        l = ledger_start(&o);
        for (int seq = 0; seq < ADV_N; seq++) {
            struct answer got = timed_wait(l, seq, ADV_WAIT_MS);

            if (got.ack != LEDGER_ACK_SELF)
                fail_msg("%s: record %d answered %s, want self-spooled", ac->name, seq,
                         ledger_ack_name(got.ack));
        }
        /* The writer's locked commit fails after the store's busy timeout (5 s). */
        WAIT_STATS(l, st, st.failures >= 1, 20000);
        sleep_ms(300); /* its back-off: whatever it does with the ring, it does now */
        n = spool_file_seqs(spool, seqs, 64);
        for (long i = 0; i < n; i++)
            times[seqs[i]]++;
        for (int seq = 0; seq < ADV_N; seq++)
            if (times[seq] != 1) {
                print_error("%s: the spool holds record %d %d times (%ld records in all)\n",
                            ac->name, seq, times[seq], n);
                bad++;
                break;
            }

        assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_true(ledger_flush(l, 20000));
        expect_set(db, 0, ADV_N);
        ledger_get_stats(l, &st);
        if (st.written + st.replayed != st.put) {
            print_error("%s: put %llu, but written %llu + replayed %llu\n", ac->name,
                        (unsigned long long)st.put, (unsigned long long)st.written,
                        (unsigned long long)st.replayed);
            bad++;
        }
        ledger_stop(l, 1000);
        sqlite3_close(other);
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_spooled_once),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
