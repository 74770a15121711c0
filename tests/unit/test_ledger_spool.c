/*
 * test_ledger_spool.c - the ledger's spool: records moved to the spool
 * past the queue's high-water mark and replayed in order, exact drop
 * counts when queue and spool are both full, spool survival across a
 * stop and a restart (and a flush right after start waiting for that
 * replay), and records the database refuses (saved to
 * <spool>.rejected). Helpers in ledger_fixture.c.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "ledger.h"
#include "ledger_msg.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#include "ledger_fixture.h"

/* test_spool_and_replay - past the high-water mark records go to the spool; they are
 * replayed in order, before newer ones, once the database is back */
static void test_spool_and_replay(void **state)
{
    char dir[256], db[300], spool[300], dbdir[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    case_dir(dir, true);
    join(dbdir, dir, "db");
    join(db, dbdir, "ledger.db");
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");
    o.queue_max = 100;
    o.batch_max = 10;
    l = ledger_start(&o);
    for (int i = 0; i < 300; i++) {
        /* Leave the writer room: this case is about spooling, not dropping. */
        WAIT_STATS(l, st, st.queued < 95, 5000);
        put_timed(l, i);
    }
    WAIT_STATS(l, st, st.spooled > 0, 5000);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.written, 0);
    assert_true(st.spooled + st.queued == 300);
    assert_true(st.spool_bytes > 0);
    assert_true((uint64_t)file_size(spool) == st.spool_bytes);
    assert_false(ledger_flush(l, 50));

    assert_int_equal(mkdir(dbdir, 0700), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_true(st.spooled > 0);
    assert_int_equal(st.replayed, st.spooled);
    assert_int_equal(st.written + st.replayed, 300);
    assert_int_equal(st.dropped + st.rejected, 0);
    assert_int_equal(st.spool_bytes, 0);
    assert_int_equal(file_size(spool), 0);
    expect_range(db, 0, 300);
    ledger_stop(l, 1000);
}

struct bounds_case {
    const char *name;
    size_t queue_max;
    int spool_records; /* the spool bound fits exactly this many records (0: none) */
    int puts;
};

static const struct bounds_case bounds_cases[] = {
    {"spool-takes-none", 8, 0, 20},
    {"spool-takes-three", 8, 3, 20},
    {"queue-of-one", 1, 1, 5},
};

/*
 * test_both_bounds - a full queue sends each further record to the spool
 * (the producer gathers it, ledger_spill) until the spool's bound; only past
 * both is a record dropped, and every lost record is counted in dropped.
 * The oldest records survive: the queue's, then the spool's.
 */
static void test_both_bounds(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(bounds_cases) / sizeof(bounds_cases[0]); c++) {
        const struct bounds_case *bc = &bounds_cases[c];
        char dir[256], db[300], spool[300], dbdir[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        uint64_t bound = 0;
        int kept = (int)bc->queue_max, spooled;

        case_dir(dir, true);
        join(dbdir, dir, "db");
        join(db, dbdir, "ledger.db");
        test_opts(&o, db);
        o.spool_path = join(spool, dir, "ledger.spool");
        o.queue_max = bc->queue_max;
        /* No attempt at the database (so no spooling by the writer) before every put is done. */
        o.flush_ms = 500;
        for (int i = kept; i < kept + bc->spool_records; i++) {
            struct ledger_msg *m = make_msg(i);

            bound += encoded_len(m);
            ledger_msg_free(m);
        }
        o.spool_max_bytes = bound ? bound : 1;
        spooled = bc->puts - kept < bc->spool_records ? bc->puts - kept : bc->spool_records;
        l = ledger_start(&o);
        put_range(l, 0, bc->puts);
        /* what the queue could not take is gathered, then appended while the spool has room */
        WAIT_STATS(l, st, st.dropped + st.spooled == (uint64_t)(bc->puts - kept), 5000);
        if (st.dropped != (uint64_t)(bc->puts - kept - spooled) || st.queued != (size_t)kept ||
            st.spooled != (uint64_t)spooled)
            fail_msg("%s: dropped %llu, queued %zu, spooled %llu", bc->name,
                     (unsigned long long)st.dropped, st.queued, (unsigned long long)st.spooled);
        assert_int_equal(st.spool_bytes, bc->spool_records ? bound : 0);
        /* The writer fails and backs off; the spool is full: the queue stays. */
        WAIT_STATS(l, st, st.failures >= 2, 5000);
        sleep_ms(150);
        ledger_get_stats(l, &st);
        if (st.spooled != (uint64_t)spooled || st.queued != (size_t)kept)
            fail_msg("%s: spooled %llu, queued %zu", bc->name, (unsigned long long)st.spooled,
                     st.queued);
        /* Past both bounds: dropped. */
        put_timed(l, bc->puts);
        /* gathered, and refused by the full spool while the database is still down */
        WAIT_STATS(l, st, st.dropped == (uint64_t)(bc->puts + 1 - kept - spooled), 5000);

        assert_int_equal(mkdir(dbdir, 0700), 0);
        assert_true(ledger_flush(l, 10000));
        ledger_get_stats(l, &st);
        assert_int_equal(st.put, (uint64_t)bc->puts + 1);
        assert_int_equal(st.replayed, (uint64_t)spooled);
        assert_int_equal(st.written + st.replayed, (uint64_t)(kept + spooled));
        assert_int_equal(st.put, st.written + st.replayed + st.dropped);
        expect_set(db, 0, kept + spooled);
        ledger_stop(l, 1000);
    }
}
/* queued - records in l's queue now */
static size_t queued(struct ledger *l)
{
    struct ledger_stats st;

    ledger_get_stats(l, &st);
    return st.queued;
}

/*
 * test_slow_database_spills - a database that works but cannot keep up
 * (one record per transaction, a flood of puts): the crowded queue goes
 * to the spool instead of dropping records; all land once it catches up
 */
static void test_slow_database_spills(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    const int n = 30000;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    test_opts(&o, db);
    o.queue_max = 5000; /* a quarter of it (62 ms of puts) covers a checkpoint's stall */
    o.batch_max = 1;    /* a commit per record: slower than the puts below */
    l = ledger_start(&o);
    for (int i = 0; i < n; i++) {
        ledger_put(l, make_msg(i));
        if (i % 20 == 19) {
            sleep_ms(1); /* about 20,000 a second: a flood, not a tight loop */
            /* Past 3/4 the writer spills; a writer starved of the CPU (a loaded
               machine) must not turn that into drops before it runs at all. */
            for (int k = 0; k < 1000 && queued(l) > o.queue_max * 9 / 10; k++)
                sleep_ms(1);
        }
    }
    assert_true(ledger_flush(l, 60000));
    ledger_get_stats(l, &st);
    if (st.dropped != 0 || st.spooled == 0)
        fail_msg("dropped %llu, spooled %llu of %d", (unsigned long long)st.dropped,
                 (unsigned long long)st.spooled, n);
    assert_int_equal(st.written + st.replayed, (uint64_t)n);
    assert_int_equal(db_count(db, "SELECT count(DISTINCT uid) FROM messages"), n);
    ledger_stop(l, 1000);
}

/* test_stop_and_restart - records in memory at stop go to the spool; a later writer
 * replays them, in order, ahead of its own records */
static void test_stop_and_restart(void **state)
{
    char dir[256], db[300], spool[300], dbdir[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    int seqs[128];
    size_t n;

    (void)state;
    case_dir(dir, true);
    join(dbdir, dir, "db");
    join(db, dbdir, "ledger.db");
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");

    /* First run: the database never comes. */
    l = ledger_start(&o);
    put_range(l, 0, 30);
    WAIT_STATS(l, st, st.failures >= 1, 5000);
    ledger_stop(l, 300);
    n = spool_seqs(spool, seqs, 128);
    assert_int_equal(n, 30);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], (int)i);

    /* Second run: still no database; its records queue behind the spooled ones. */
    l = ledger_start(&o);
    assert_false(ledger_flush(l, 200));
    put_range(l, 30, 40);
    ledger_stop(l, 300);
    n = spool_seqs(spool, seqs, 128);
    assert_int_equal(n, 40);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], (int)i);

    /* Third run: the database is there; everything lands, oldest first. */
    assert_int_equal(mkdir(dbdir, 0700), 0);
    l = ledger_start(&o);
    put_range(l, 40, 45);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 5);
    assert_int_equal(st.replayed, 40);
    assert_int_equal(st.written, 5);
    assert_int_equal(st.dropped + st.rejected, 0);
    assert_int_equal(file_size(spool), 0);
    expect_range(db, 0, 45);
    ledger_stop(l, 1000);
}
/* test_flush_right_after_start - a spool left by an earlier run counts as pending from
 * the first moment: a flush right after start waits for its replay */
static void test_flush_right_after_start(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    migrated_db(db);
    test_opts(&o, db);
    for (int round = 0; round < 5; round++) {
        write_spool(spool, 10 * round, 10 * round + 10, -1);
        l = ledger_start(&o);
        assert_true(ledger_flush(l, 10000));
        ledger_get_stats(l, &st);
        if (st.replayed != 10)
            fail_msg("round %d: flush returned with %llu of 10 records replayed", round,
                     (unsigned long long)st.replayed);
        expect_range(db, 0, 10 * round + 10);
        ledger_stop(l, 1000);
        assert_int_equal(file_size(spool), 0);
    }
}

/* test_rejected - a record the database refuses goes to <spool>.rejected, the rest land;
 * both for records from memory and for records replayed from the spool */
static void test_rejected(void **state)
{
    static const int want_live[] = {0, 1, 3, 4};
    static const int want_replayed[] = {5, 7};
    char dir[256], db[300], spool[300], rejected[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    int seqs[8];

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    join(rejected, dir, "ledger.db.spool.rejected");
    migrated_db(db);
    test_opts(&o, db);
    l = ledger_start(&o);
    for (int i = 0; i < 5; i++) {
        struct ledger_msg *m = make_msg(i);

        /* action is NOT NULL in the schema: a constraint error, never retried */
        if (i == 2)
            m->action = xfree(m->action);
        ledger_put(l, m);
    }
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.written, 4);
    assert_int_equal(st.dropped + st.spooled, 0);
    expect_rows(db, want_live, 4);
    ledger_stop(l, 1000); /* releases the rejected file */
    assert_int_equal(spool_seqs(rejected, seqs, 8), 1);
    assert_int_equal(seqs[0], 2);
    assert_true(file_size(spool) <= 0); /* nothing ever waited in the spool */

    /* A refused record met during a replay, into a database the ledger creates. */
    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    join(rejected, dir, "ledger.db.spool.rejected");
    write_spool(spool, 5, 8, 6);
    test_opts(&o, db);
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.replayed, 2);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.written + st.dropped, 0);
    expect_rows(db, want_replayed, 2);
    ledger_stop(l, 1000);
    assert_int_equal(spool_seqs(rejected, seqs, 8), 1);
    assert_int_equal(seqs[0], 6);
    assert_int_equal(file_size(spool), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_and_replay),        cmocka_unit_test(test_both_bounds),
        cmocka_unit_test(test_slow_database_spills),    cmocka_unit_test(test_stop_and_restart),
        cmocka_unit_test(test_flush_right_after_start), cmocka_unit_test(test_rejected),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
