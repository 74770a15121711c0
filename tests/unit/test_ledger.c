/*
 * test_ledger.c - the ledger writer thread against a real SQLite file:
 * group commit, a database that is locked (briefly, and past the busy
 * timeout), missing (its directory does not exist yet) or read-only
 * (0444, seen by a non-root writer). The spool's cases are in
 * test_ledger_spool.c, what both share in ledger_fixture.c.
 *
 * Each record carries its sequence number in size, so the order in which
 * rows were committed (ORDER BY id) can be checked against the order in
 * which they were handed in.
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

/* test_group_commit - records put in quick succession share transactions, each stored once */
static void test_group_commit(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    test_opts(&o, db);
    o.flush_ms = 1000; /* only the flush sends the burst: exactly one transaction */
    l = ledger_start(&o);
    put_range(l, 0, 10);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 10);
    assert_int_equal(st.commits, 1);
    expect_range(db, 0, 10);
    ledger_stop(l, 1000);

    /* 3000 records, batches of at most 1000 filled within flush_ms. */
    test_opts(&o, db);
    o.flush_ms = 50;
    l = ledger_start(&o);
    put_range(l, 10, 3010);
    assert_true(ledger_flush(l, 20000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 3000);
    assert_int_equal(st.written, 3000);
    if (st.commits == 0 || st.commits * 100 > st.written)
        fail_msg("%llu commits for %llu records: no group commit", (unsigned long long)st.commits,
                 (unsigned long long)st.written);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.spooled + st.dropped + st.rejected + st.replayed, 0);
    assert_int_equal(st.queued, 0);
    assert_true(st.db_ok);
    expect_range(db, 0, 3010);
    ledger_stop(l, 1000);
}

/*
 * test_cache_follows_load - small batches keep the writer's page cache
 * small; a big one (a burst, a backlog) gets cache_mb until
 * cache_shrink_ms pass without another (ledger.h, LEDGER_CACHE_SMALL_MB)
 */
static void test_cache_follows_load(void **state)
{
    static const struct {
        int n;          /* records in one batch (flush_ms is long: only the flush sends) */
        unsigned pause; /* ms before them */
        unsigned want;  /* cache after them, MiB */
    } steps[] = {
        {5, 0, LEDGER_CACHE_SMALL_MB},                    /* mail as it comes */
        {LEDGER_BIG_BATCH, 0, 24},                        /* a burst: exactly big */
        {3, 0, 24},                                       /* just after it: still big */
        {3, 1500, LEDGER_CACHE_SMALL_MB},                 /* cache_shrink_ms later */
        {LEDGER_BIG_BATCH - 1, 0, LEDGER_CACHE_SMALL_MB}, /* one short of big */
        {2000, 0, 24},                                    /* a backlog */
    };
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    int seq = 0;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    test_opts(&o, db);
    o.flush_ms = 5000;
    o.idle_close_ms = 60000; /* the connection (and its cache) stays for the whole case */
    o.cache_mb = 24;
    o.cache_shrink_ms = 1000;
    l = ledger_start(&o);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        sleep_ms(steps[i].pause);
        put_range(l, seq, seq + steps[i].n);
        seq += steps[i].n;
        assert_true(ledger_flush(l, 20000));
        ledger_get_stats(l, &st);
        if (st.cache_mb != steps[i].want)
            fail_msg("step %zu (%d records): cache %u MiB, want %u", i, steps[i].n, st.cache_mb,
                     steps[i].want);
        assert_int_equal(st.commits, i + 1);
    }
    expect_range(db, 0, seq);
    ledger_stop(l, 1000);
}

/* test_locked_briefly - while another connection holds the write lock, puts return at once
 * and rows wait in memory; released, they land */
static void test_locked_briefly(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    sqlite3 *other;
    uint64_t t0;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    migrated_db(db);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    test_opts(&o, db);
    l = ledger_start(&o);
    put_range(l, 0, 100);
    sleep_ms(300); /* the writer is now waiting for the lock */
    put_range(l, 100, 200);
    t0 = now_ms();
    assert_false(ledger_flush(l, 100));
    assert_true(now_ms() - t0 < 1000); /* the flush keeps its own timeout */
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 200);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.commits, 0);
    assert_int_equal(st.queued, 200);
    assert_int_equal(db_seqs(db, (int[1]){0}, 1), 0);

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 200);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.spooled + st.dropped + st.rejected, 0);
    expect_range(db, 0, 200);
    ledger_stop(l, 1000);
    sqlite3_close(other);
}

/* test_locked_past_busy_timeout - a lock held longer than the busy timeout is a failed
 * attempt, retried; puts never wait for it */
static void test_locked_past_busy_timeout(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    sqlite3 *other;
    int n = 0;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    migrated_db(db);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    test_opts(&o, db);
    l = ledger_start(&o);
    /* Keep handing records in while the writer waits out the busy timeout. */
    for (;;) {
        put_timed(l, n++);
        ledger_get_stats(l, &st);
        if (st.failures > 0 || n > 100000)
            break;
        sleep_ms(20);
    }
    assert_true(st.failures >= 1);
    assert_false(st.db_ok);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.queued, (size_t)n);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, (uint64_t)n);
    assert_true(st.db_ok);
    expect_range(db, 0, n);
    ledger_stop(l, 1000);
    sqlite3_close(other);
}

/* test_missing_directory - no database directory yet: rows wait, and land once it exists */
static void test_missing_directory(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    join(db, case_dir(dir, false), "ledger.db");
    test_opts(&o, db);
    l = ledger_start(&o);
    put_range(l, 0, 20);
    WAIT_STATS(l, st, st.failures >= 2, 5000);
    assert_false(ledger_flush(l, 50));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.queued, 20);
    assert_false(st.db_ok);
    put_range(l, 20, 25);

    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 25);
    assert_int_equal(st.spooled + st.dropped + st.rejected, 0);
    assert_true(st.db_ok);
    expect_range(db, 0, 25);
    ledger_stop(l, 1000);
}

/*
 * set_thread_ids - change the calling thread's effective uid/gid only.
 * Tests run as root, and root ignores permission bits, so a 0444 file is
 * only read-only to a writer thread with another effective uid. The raw
 * system calls (unlike the glibc wrappers, which change every thread)
 * act on one thread; a thread inherits its creator's ids, so the writer
 * started in between runs as nobody while the test goes back to root.
 */
static bool set_thread_ids(uid_t uid, gid_t gid)
{
    if (uid != 0)
        return syscall(SYS_setresgid, -1, gid, -1) == 0 && syscall(SYS_setresuid, -1, uid, -1) == 0;
    return syscall(SYS_setresuid, -1, 0, -1) == 0 && syscall(SYS_setresgid, -1, 0, -1) == 0;
}

/* test_readonly_file - a database file the writer cannot write: rows wait, land once it can */
static void test_readonly_file(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    bool switched;

    (void)state;
    /* Needs root, to start a writer under another uid. The suite runs as
       root (tests/run.sh): not being root is a failure, never a silent pass. */
    if (getuid() != 0)
        fail_msg("needs root, to start a writer as nobody (running as uid %u)", (unsigned)getuid());
    /* Let nobody through the 0700 mkdtemp directory, without listing it. */
    assert_int_equal(chmod(ledger_fixture_dir(), 0711), 0);
    join(db, case_dir(dir, true), "ledger.db");
    migrated_db(db);                       /* by root: in a directory root alone can change */
    assert_int_equal(chmod(dir, 0777), 0); /* -wal, -shm and spool files of the writer */
    assert_int_equal(chmod(db, 0444), 0);

    test_opts(&o, db);
    switched = set_thread_ids(65534, 65534);
    l = switched ? ledger_start(&o) : NULL;
    assert_true(set_thread_ids(0, 0));
    assert_true(switched);
    put_range(l, 0, 20);
    WAIT_STATS(l, st, st.failures >= 2, 5000);
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.queued, 20);
    /*
     * No look into the database from here while it is 0444: a read-only
     * connection of root's would create the WAL index (-shm) owned by
     * root with the file's 0444 mode, which the writer (nobody) could not
     * repair after the chmod below. The stats say nothing was written.
     * The writer's own side files, created while the file was read-only,
     * are its to repair (store_sqlite.c: heal_side_files).
     */
    assert_int_equal(chmod(db, 0666), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 20);
    assert_true(st.db_ok);
    expect_range(db, 0, 20);
    ledger_stop(l, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_commit),      cmocka_unit_test(test_cache_follows_load),
        cmocka_unit_test(test_locked_briefly),    cmocka_unit_test(test_locked_past_busy_timeout),
        cmocka_unit_test(test_missing_directory), cmocka_unit_test(test_readonly_file),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
