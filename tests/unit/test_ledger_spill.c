/*
 * test_ledger_spill.c - records a full queue cannot take are gathered
 * (ledger_spill) and appended to the spool a buffer at a time: none is
 * lost or stored twice, whether the database works or is missing, and
 * when the ledger stops right after the producers; while the database is
 * missing the gathered records reach the spool file without waiting for
 * its back-off.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ledger.h"
#include "ledger_fixture.h"
#include "ledger_msg.h"

#define PRODUCERS 2
#define EACH      1500

struct producer {
    struct ledger *l;
    int first;
};

/* produce - EACH records from first on, as fast as ledger_put takes them */
static void *produce(void *arg)
{
    struct producer *p = arg;

    put_range(p->l, p->first, p->first + EACH);
    return NULL;
}

struct spill_case {
    const char *name;
    bool db_up;        /* the database works while the flood runs */
    bool wait_spooled; /* before the stop, wait until the spool file has them (else stop at
                          once: records still gathered in memory when the stop begins) */
};

static const struct spill_case cases[] = {
    {"db-up-stop-at-once", true, false},
    {"db-missing-stop-at-once", false, false},
    {"db-missing-spooled", false, true},
};

/* test_flood_none_lost - every record once in the database after a restart with it back */
static void test_flood_none_lost(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct spill_case *sc = &cases[c];
        char dir[256], db[300], dbdir[300], spool[300];
        struct producer p[PRODUCERS];
        pthread_t t[PRODUCERS];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;

        case_dir(dir, true);
        join(dbdir, dir, "db");
        join(db, dbdir, "ledger.db");
        if (sc->db_up)
            assert_int_equal(mkdir(dbdir, 0700), 0);
        test_opts(&o, db);
        o.spool_path = join(spool, dir, "ledger.spool");
        o.queue_max = 8; /* nearly every record is gathered */
        l = ledger_start(&o);
        for (int i = 0; i < PRODUCERS; i++) {
            p[i] = (struct producer){l, i * EACH};
            assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
        }
        for (int i = 0; i < PRODUCERS; i++)
            pthread_join(t[i], NULL);
        if (sc->wait_spooled) /* in the spool file, not only gathered */
            WAIT_STATS(l, st, st.spooled + st.queued == PRODUCERS * EACH, 5000);
        ledger_stop_stats(l, 2000, &st);
        if (st.dropped != 0)
            fail_msg("%s: %llu dropped", sc->name, (unsigned long long)st.dropped);
        if (!sc->db_up)
            assert_int_equal(mkdir(dbdir, 0700), 0);
        l = ledger_start(&o); /* replays the spool */
        if (!ledger_flush(l, 20000))
            fail_msg("%s: the restarted ledger did not store its spool", sc->name);
        ledger_stop(l, 2000);
        expect_set(db, 0, PRODUCERS * EACH);
    }
}

/*
 * test_spooled_during_backoff - with the database missing and the writer
 * backing off for seconds, gathered records reach the spool file at once
 * (the first one wakes the writer), not at its next attempt
 */
static void test_spooled_during_backoff(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    uint64_t t0;

    (void)state;
    case_dir(dir, true);
    join(db, dir, "missing/ledger.db");
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");
    o.queue_max = 1;
    o.retry_max_ms = 60000;
    l = ledger_start(&o);
    put_timed(l, 0);
    /* 100 + 200 + 400 + 800 ms of back-off: the next attempt is 1.6 s after the fifth */
    WAIT_STATS(l, st, st.failures >= 5, 10000);
    t0 = now_ms();
    for (int i = 1; i <= 50; i++)
        put_timed(l, i);
    WAIT_STATS(l, st, st.spooled + st.queued == 51, 5000);
    if (now_ms() - t0 > 600)
        fail_msg("the gathered records took %llu ms to reach the spool",
                 (unsigned long long)(now_ms() - t0));
    assert_int_equal(st.failures, 5); /* no attempt at the database meanwhile */
    assert_int_equal(st.dropped, 0);
    assert_true(st.spool_bytes > 0);
    assert_int_equal(file_size(spool), st.spool_bytes); /* in the file, not in memory */
    ledger_stop(l, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_none_lost),
        cmocka_unit_test(test_spooled_during_backoff),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
