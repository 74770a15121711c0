/*
 * test_ledger_ack.c - the ledger writer's acknowledgement path
 * (ledger_put_wait) when the record can be made durable: what a waiting
 * connection gets, and when, from a healthy database (stored, without
 * waiting for the batch to fill), a locked one (its own copy spooled
 * after wait_ms) and an unusable one (the writer spools it at once); and
 * without waiting (wait_ms 0); the wait histogram's percentiles. Each
 * case checks that what the answer promises is true the moment it
 * returns (the row in the database, the record in the spool file) and
 * that the record lands exactly once in the end. When it cannot be made
 * durable: test_ledger_ack_unsafe.c; kill -9 at any instant:
 * test_ledger_ack_kill.c.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"

#include "ledger_fixture.h"

/* expect_waits - st counted n waits, the slowest of them (histogram) in (lo_us, hi_us] */
static void expect_waits(const struct ledger_stats *st, uint64_t n, uint64_t lo_us, uint64_t hi_us)
{
    uint64_t top = ledger_wait_percentile(st, 100);

    assert_int_equal(st->waits, n);
    /* A bucket's top is above every wait in it and at most 25% above its bottom. */
    if (top <= lo_us || top > hi_us + hi_us / 4 + 1)
        fail_msg("slowest wait %llu us, want (%llu, %llu]", (unsigned long long)top,
                 (unsigned long long)lo_us, (unsigned long long)(hi_us + hi_us / 4 + 1));
}

struct stored_case {
    const char *name;
    bool fresh; /* the writer creates the database (else it exists, migrated) */
    bool sync;
};

static const struct stored_case stored_cases[] = {
    {"fresh database", true, false},
    {"existing database", false, false},
    {"sync", false, true},
};

/*
 * test_stored - a healthy database: the waiter gets STORED as soon as the
 * commit is done, long before flush_ms (5 s); the row can be read on
 * another connection the moment the call returns, with the records that
 * queued before it in the same transaction. Nothing is spooled.
 */
static void test_stored(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(stored_cases) / sizeof(stored_cases[0]); c++) {
        const struct stored_case *sc = &stored_cases[c];
        char dir[256], db[300], spool[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        uint64_t slowest = 0;

        join(db, case_dir(dir, true), "ledger.db");
        join(spool, dir, "ledger.db.spool");
        if (!sc->fresh)
            migrated_db(db);
        test_opts(&o, db);
        o.flush_ms = 5000;
        o.idle_close_ms = 60000;
        o.sync = sc->sync;
        l = ledger_start(&o);
        put_range(l, 0, 3); /* these wait for the batch to fill (flush_ms) */
        for (int seq = 3; seq < 6; seq++) {
            struct answer got = timed_wait(l, seq, 10000);

            expect_ack(sc->name, got, LEDGER_ACK_STORED, 0, ANSWER_MAX_MS);
            slowest = got.took > slowest ? got.took : slowest;
            expect_range(db, 0, seq + 1); /* on another connection, right now */
        }
        ledger_get_stats(l, &st);
        assert_int_equal(st.commits, 3); /* records 0-3 in one transaction, then 4, then 5 */
        assert_int_equal(st.written, 6);
        assert_int_equal(st.spooled + st.self_spooled + st.unsafe + st.dropped, 0);
        expect_waits(&st, 3, 0, (slowest + 1) * 1000);
        assert_true(file_size(spool) <= 0);
        ledger_stop(l, 1000);
    }
}

struct locked_case {
    const char *name;
    int producers; /* threads waiting at once */
    bool sync;
};

static const struct locked_case locked_cases[] = {
    {"one waiter", 1, false},
    {"four waiters, sync", 4, true},
};

#define LOCKED_WAIT_MS 100

struct producer {
    struct ledger *l;
    const char *spool;
    int seq;
    struct answer got;
    bool spooled_at_return; /* the spool file held the record when the call returned */
};

/* producer_main - one connection's answer: put_wait, then look at the spool at once */
static void *producer_main(void *arg)
{
    struct producer *p = arg;

    p->got = timed_wait(p->l, p->seq, LOCKED_WAIT_MS);
    p->spooled_at_return = spool_holds(p->spool, p->seq);
    return NULL;
}

/*
 * test_locked - another connection holds the write lock (the store waits
 * 5 s for it): each waiter gives up after wait_ms, appends its own copy
 * to the spool and gets SELF; the copy is in the spool file when the call
 * returns. Once the lock is gone, each record is in the database once
 * (the writer's copy and the spooled one share a uid).
 */
static void test_locked(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(locked_cases) / sizeof(locked_cases[0]); c++) {
        const struct locked_case *lc = &locked_cases[c];
        char dir[256], db[300], spool[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        struct producer p[4];
        pthread_t th[4];
        uint64_t slowest = 0;
        int seqs[8];
        sqlite3 *other;

        join(db, case_dir(dir, true), "ledger.db");
        join(spool, dir, "ledger.db.spool");
        migrated_db(db);
        assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        test_opts(&o, db);
        o.flush_ms = 5000;
        o.sync = lc->sync;
        l = ledger_start(&o);
        for (int i = 0; i < lc->producers; i++) {
            p[i] = (struct producer){.l = l, .spool = spool, .seq = i};
            assert_int_equal(pthread_create(&th[i], NULL, producer_main, &p[i]), 0);
        }
        for (int i = 0; i < lc->producers; i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
            expect_ack(lc->name, p[i].got, LEDGER_ACK_SELF, LOCKED_WAIT_MS - 10, 1000);
            if (!p[i].spooled_at_return)
                fail_msg("%s: record %d answered but not in the spool", lc->name, p[i].seq);
            slowest = p[i].got.took > slowest ? p[i].got.took : slowest;
        }
        ledger_get_stats(l, &st);
        assert_int_equal(st.self_spooled, (uint64_t)lc->producers);
        assert_int_equal(st.written + st.spooled + st.unsafe + st.dropped, 0);
        assert_int_equal(st.queued, (size_t)lc->producers); /* the writer's copies */
        expect_waits(&st, (uint64_t)lc->producers, (LOCKED_WAIT_MS - 1) * 1000,
                     (slowest + 1) * 1000);
        assert_int_equal(spool_file_seqs(spool, seqs, 8), lc->producers);
        assert_int_equal(db_count(db, "SELECT count(*) FROM messages"), 0);

        assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_true(ledger_flush(l, 20000));
        expect_set(db, 0, lc->producers);
        assert_int_equal(file_size(spool), 0);
        ledger_stop(l, 1000);
        sqlite3_close(other);
    }
}

struct unusable_case {
    const char *name;
    bool readonly; /* else the database's directory does not exist */
};

static const struct unusable_case unusable_cases[] = {
    {"missing directory", false},
    {"read-only file", true},
};

#define UNUSABLE_WAIT_MS 5000

/*
 * test_unusable - a database that fails at once (missing directory, a
 * read-only file): the writer backs off and spools the waiter's record
 * at once: SPOOLED, long before wait_ms, both for the first attempt and
 * while backing off; the spool file holds it at return. Once the
 * database works, the replay stores each record once.
 */
static void test_unusable(void **state)
{
    (void)state;
    if (getuid() != 0)
        fail_msg("needs root, to start a writer as nobody (running as uid %u)", (unsigned)getuid());
    for (size_t c = 0; c < sizeof(unusable_cases) / sizeof(unusable_cases[0]); c++) {
        const struct unusable_case *uc = &unusable_cases[c];
        char dir[256], db[300], dbdir[300], spool[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l = NULL;
        bool switched = true;

        case_dir(dir, true);
        join(spool, dir, "ledger.spool");
        if (uc->readonly) {
            assert_int_equal(chmod(ledger_fixture_dir(), 0711), 0);
            join(db, dir, "ledger.db");
            migrated_db(db);
            assert_int_equal(chmod(dir, 0777), 0);
            assert_int_equal(chmod(db, 0444), 0);
        } else {
            join(db, join(dbdir, dir, "db"), "ledger.db");
        }
        test_opts(&o, db);
        o.spool_path = spool;
        o.flush_ms = 5000;
        if (uc->readonly)
            switched = switch_thread_ids(65534, 65534);
        if (switched)
            l = ledger_start(&o);
        assert_true(switch_thread_ids(0, 0));
        assert_true(switched);
        for (int seq = 0; seq < 2; seq++) {
            expect_ack(uc->name, timed_wait(l, seq, UNUSABLE_WAIT_MS), LEDGER_ACK_SPOOLED, 0,
                       ANSWER_MAX_MS);
            if (!spool_holds(spool, seq))
                fail_msg("%s: record %d answered but not in the spool", uc->name, seq);
        }
        ledger_get_stats(l, &st);
        assert_int_equal(st.spooled, 2);
        assert_true(st.failures >= 1);
        assert_int_equal(st.written + st.self_spooled + st.unsafe + st.dropped, 0);

        if (uc->readonly)
            assert_int_equal(chmod(db, 0666), 0);
        else
            assert_int_equal(mkdir(dbdir, 0700), 0);
        assert_true(ledger_flush(l, 20000));
        expect_range(db, 0, 2);
        assert_int_equal(file_size(spool), 0);
        ledger_stop(l, 1000);
    }
}

/* How the spool cannot be written, in test_memory and test_queue_full. */
/*
 * test_no_wait - wait_ms 0 is ledger_put(): MEMORY at once, not counted
 * as unsafe nor as a wait; the record waits for its batch (flush_ms) as
 * any other, and is stored once.
 */
static void test_no_wait(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    migrated_db(db);
    test_opts(&o, db);
    o.flush_ms = 5000;
    l = ledger_start(&o);
    expect_ack("wait_ms 0", timed_wait(l, 0, 0), LEDGER_ACK_MEMORY, 0, PUT_MAX_MS);
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 1);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.unsafe + st.waits + st.self_spooled + st.written, 0);
    assert_int_equal(ledger_wait_percentile(&st, 50), 0);
    assert_int_equal(db_count(db, "SELECT count(*) FROM messages"), 0);
    assert_true(ledger_flush(l, 20000));
    expect_range(db, 0, 1);
    ledger_stop(l, 1000);
}

struct pct_case {
    const char *name;
    struct {
        unsigned bucket;
        uint64_t n;
    } hist[3];
    unsigned pct;
    uint64_t want; /* us: the top of the bucket that holds the pct-th percent of the waits */
};

/*
 * Bucket b < 4 holds waits of b us; from b = 4 on, four buckets per power
 * of two: b = 4 (k - 1) + j holds [(4 + j) 2^(k-2), (5 + j) 2^(k-2)) us,
 * j = 0..3. So bucket 4 is [4, 5), 8 is [8, 10), 12 is [16, 20), 40 is
 * [2048, 2560), 61 is [81920, 98304), 95 is [7 2^22, 2^25).
 */
static const struct pct_case pct_cases[] = {
    {"no waits", {{0, 0}}, 50, 0},
    {"no waits, p100", {{0, 0}}, 100, 0},
    {"one wait of 0 us", {{0, 1}}, 50, 1},
    {"one wait of 3 us", {{3, 1}}, 99, 4},
    {"p0 is the fastest", {{8, 1}, {40, 5}}, 0, 10},
    {"90 fast, 10 slow: p50", {{40, 90}, {61, 10}}, 50, 2560},
    {"90 fast, 10 slow: p90", {{40, 90}, {61, 10}}, 90, 2560},
    {"90 fast, 10 slow: p91", {{40, 90}, {61, 10}}, 91, 98304},
    {"90 fast, 10 slow: p100", {{40, 90}, {61, 10}}, 100, 98304},
    {"three: p33 rounds up to the 1st", {{4, 1}, {8, 1}, {12, 1}}, 33, 5},
    {"three: p34 needs the 2nd", {{4, 1}, {8, 1}, {12, 1}}, 34, 10},
    {"three: p66", {{4, 1}, {8, 1}, {12, 1}}, 66, 10},
    {"three: p67 needs the 3rd", {{4, 1}, {8, 1}, {12, 1}}, 67, 20},
    {"the last bucket", {{95, 2}}, 50, (uint64_t)1 << 25},
};

/* test_wait_percentile - known histograms, known percentiles; and the answers' names */
static void test_wait_percentile(void **state)
{
    static const struct {
        enum ledger_ack a;
        const char *name;
    } names[] = {
        {LEDGER_ACK_STORED, "stored"},     {LEDGER_ACK_SPOOLED, "spooled"},
        {LEDGER_ACK_SELF, "self-spooled"}, {LEDGER_ACK_MEMORY, "memory"},
        {LEDGER_ACK_DROPPED, "dropped"},
    };

    (void)state;
    for (size_t c = 0; c < sizeof(pct_cases) / sizeof(pct_cases[0]); c++) {
        const struct pct_case *pc = &pct_cases[c];
        struct ledger_stats st;
        uint64_t got;

        memset(&st, 0, sizeof(st));
        for (size_t i = 0; i < 3; i++)
            st.wait_hist[pc->hist[i].bucket] += pc->hist[i].n;
        got = ledger_wait_percentile(&st, pc->pct);
        if (got != pc->want)
            fail_msg("%s: p%u = %llu us, want %llu", pc->name, pc->pct, (unsigned long long)got,
                     (unsigned long long)pc->want);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(ledger_ack_name(names[i].a), names[i].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored),          cmocka_unit_test(test_locked),
        cmocka_unit_test(test_unusable),        cmocka_unit_test(test_no_wait),
        cmocka_unit_test(test_wait_percentile),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
