/*
 * test_ledger_ack_unsafe.c - the ledger writer's acknowledgement path
 * (ledger_put_wait) when the record cannot be made durable, or not in
 * time: the database and the spool both unwritable (only in memory after
 * wait_ms, counted unsafe), the queue full (spooled at once, or dropped),
 * a record the database refuses (saved to <spool>.rejected, or lost).
 * Each case names what the waiting connection got and when, and what
 * became of the record. The durable answers: test_ledger_ack.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"
#include "util.h"

#include "ledger_fixture.h"

#define FULL_WAIT_MS 5000 /* a waiter that finds the queue full must not wait this long */

/* How the spool (or <spool>.rejected) cannot be written, in the cases below. */
enum no_spool { NO_SPOOL_PARENT_FILE, NO_SPOOL_DIR, NO_SPOOL_BOUND, NO_SPOOL_FSIZE };

/* spool_unwritable - set o's spool in dir up (in spool[300]) so that it cannot be written */
static void spool_unwritable(struct ledger_opts *o, const char *dir, enum no_spool how, char *spool)
{
    char file[300];
    FILE *f;

    switch (how) {
    case NO_SPOOL_PARENT_FILE: /* open() fails with ENOTDIR */
        f = fopen(join(file, dir, "file"), "w");
        assert_non_null(f);
        fclose(f);
        join(spool, file, "ledger.spool");
        break;
    case NO_SPOOL_DIR: /* created on the first append: ENOENT then */
        join(spool, join(file, dir, "nowhere"), "ledger.spool");
        break;
    case NO_SPOOL_BOUND: /* spool_max_bytes reached: EFBIG */
        join(spool, dir, "ledger.spool");
        o->spool_max_bytes = 1;
        break;
    case NO_SPOOL_FSIZE: /* the kernel refuses the write (RLIMIT_FSIZE, set around the call) */
        join(spool, dir, "ledger.spool");
        break;
    }
    o->spool_path = spool;
}

struct memory_case {
    const char *name;
    enum no_spool how;
};

static const struct memory_case memory_cases[] = {
    {"spool's parent is a file", NO_SPOOL_PARENT_FILE},
    {"spool's directory missing", NO_SPOOL_DIR},
    {"spool bound reached", NO_SPOOL_BOUND},
    {"file size limit (disk full)", NO_SPOOL_FSIZE},
};

#define MEMORY_WAIT_MS 100

/*
 * test_memory - neither the database nor the spool can be written: after
 * wait_ms the waiter gets MEMORY, counted in unsafe (not in dropped), and
 * nothing half-written is left in the spool; the record stays queued and
 * is stored, once, when the database comes back.
 */
static void test_memory(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(memory_cases) / sizeof(memory_cases[0]); c++) {
        const struct memory_case *mc = &memory_cases[c];
        char dir[256], db[300], dbdir[300], spool[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        struct rlimit old, tiny = {1, 1};
        void (*old_xfsz)(int) = SIG_DFL;
        struct answer got;

        join(db, join(dbdir, case_dir(dir, true), "db"), "ledger.db");
        test_opts(&o, db);
        o.flush_ms = 5000;
        spool_unwritable(&o, dir, mc->how, spool);
        l = ledger_start(&o);
        if (mc->how == NO_SPOOL_FSIZE) {
            old_xfsz = signal(SIGXFSZ, SIG_IGN);
            assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
            tiny.rlim_max = old.rlim_max;
            assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
        }
        got = timed_wait(l, 0, MEMORY_WAIT_MS);
        if (mc->how == NO_SPOOL_FSIZE) {
            assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
            signal(SIGXFSZ, old_xfsz);
        }
        expect_ack(mc->name, got, LEDGER_ACK_MEMORY, MEMORY_WAIT_MS - 10, ANSWER_MAX_MS);
        assert_true(file_size(spool) <= 0);
        ledger_get_stats(l, &st);
        assert_int_equal(st.unsafe, 1);
        assert_int_equal(st.queued, 1);
        assert_int_equal(st.written + st.spooled + st.self_spooled + st.dropped, 0);

        assert_int_equal(mkdir(dbdir, 0700), 0);
        assert_true(ledger_flush(l, 20000));
        expect_range(db, 0, 1);
        ledger_stop(l, 1000);
    }
}

struct full_case {
    const char *name;
    bool spool_ok;
    enum ledger_ack want;
};

static const struct full_case full_cases[] = {
    {"spool writable", true, LEDGER_ACK_SELF},
    {"spool unwritable", false, LEDGER_ACK_DROPPED},
};

/*
 * test_queue_full - the queue is full (the writer waits for a lock): the
 * waiter does not wait at all: its record goes to the spool (SELF), or,
 * the spool unwritable, is lost (DROPPED, counted in dropped, not in
 * unsafe). Never dropped while the spool can be written.
 */
static void test_queue_full(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(full_cases) / sizeof(full_cases[0]); c++) {
        const struct full_case *fc = &full_cases[c];
        char dir[256], db[300], spool[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        sqlite3 *other;
        int kept = fc->spool_ok ? 3 : 2;

        join(db, case_dir(dir, true), "ledger.db");
        migrated_db(db);
        assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        test_opts(&o, db);
        o.queue_max = 2;
        if (fc->spool_ok)
            o.spool_path = join(spool, dir, "ledger.spool");
        else
            spool_unwritable(&o, dir, NO_SPOOL_PARENT_FILE, spool);
        l = ledger_start(&o);
        put_range(l, 0, 2);
        expect_ack(fc->name, timed_wait(l, 2, FULL_WAIT_MS), fc->want, 0, ANSWER_MAX_MS);
        if (fc->spool_ok && !spool_holds(spool, 2))
            fail_msg("%s: record 2 answered but not in the spool", fc->name);
        ledger_get_stats(l, &st);
        assert_int_equal(st.put, 3);
        /* Records 0 and 1 wait in memory, or the writer moved them behind record 2. */
        assert_int_equal(st.queued + st.spooled, 2);
        assert_int_equal(st.self_spooled, fc->spool_ok ? 1 : 0);
        assert_int_equal(st.dropped, fc->spool_ok ? 0 : 1);
        assert_int_equal(st.written + st.unsafe, 0);

        assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        assert_true(ledger_flush(l, 20000));
        expect_set(db, 0, kept);
        ledger_stop(l, 1000);
        sqlite3_close(other);
    }
}

struct refused_case {
    const char *name;
    bool saved; /* <spool>.rejected can be written */
    enum ledger_ack want;
};

static const struct refused_case refused_cases[] = {
    {"refused, saved to .rejected", true, LEDGER_ACK_STORED},
    {"refused, .rejected unwritable", false, LEDGER_ACK_DROPPED},
};

/*
 * test_refused - a record the database refuses (no action: NOT NULL) is
 * settled at once: saved to <spool>.rejected before the answer (STORED,
 * ledger.h), or, that file unwritable, lost, counted in dropped: then the
 * answer must say so (DROPPED), never STORED. The writer carries on.
 */
static void test_refused(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(refused_cases) / sizeof(refused_cases[0]); c++) {
        const struct refused_case *rc = &refused_cases[c];
        char dir[256], db[300], spool[300], rejected[320];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        struct ledger_msg *m = make_msg(0);
        uint64_t t0;
        struct answer got;

        join(db, case_dir(dir, true), "ledger.db");
        migrated_db(db);
        test_opts(&o, db);
        o.flush_ms = 5000;
        if (rc->saved)
            o.spool_path = join(spool, dir, "ledger.spool");
        else
            spool_unwritable(&o, dir, NO_SPOOL_DIR, spool);
        assert_true(snprintf_ok(rejected, sizeof(rejected), "%s.rejected", spool));
        l = ledger_start(&o);
        m->action = xfree(m->action);
        t0 = now_ms();
        got.ack = ledger_put_wait(l, m, FULL_WAIT_MS);
        got.took = now_ms() - t0;
        expect_ack(rc->name, got, rc->want, 0, ANSWER_MAX_MS);
        if (rc->saved != spool_holds(rejected, 0))
            fail_msg("%s: answered; record in %s: %s", rc->name, rejected,
                     rc->saved ? "no" : "yes");
        ledger_get_stats(l, &st);
        assert_int_equal(st.rejected, rc->saved ? 1 : 0);
        assert_int_equal(st.dropped, rc->saved ? 0 : 1);
        assert_int_equal(st.written + st.spooled + st.self_spooled + st.unsafe, 0);

        expect_ack(rc->name, timed_wait(l, 1, FULL_WAIT_MS), LEDGER_ACK_STORED, 0, ANSWER_MAX_MS);
        expect_range(db, 1, 2);
        ledger_stop(l, 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_refused),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
