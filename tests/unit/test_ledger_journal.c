/*
 * test_ledger_journal.c - the ledger's write-ahead journal (o.journal,
 * lib/ledger_journal.c): answers without waiting for the writer, files
 * emptied in turn while running, what an earlier run left recovered at
 * start (with or without the journal on now), no file without it, the
 * fallback to waiting when a journal file cannot be written, and a
 * record the writer drops after its answer kept for the next start.
 * Kill -9 at random moments with the journal on: test_ledger_ack_kill.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"
#include "spool.h"
#include "util.h"

#include "ledger_fixture.h"

#define WAIT_MS 5000 /* wait_ms of the answers: a journaled one must not come near it */
#define SLOW_MS 5000 /* flush_ms where the writer must not commit during the case */

/* write_journal - records first..last-1 with the uids of msgs[] appended to the journal file */
static void write_journal(const char *path, struct ledger_msg **msgs, int first, int last)
{
    char err[512];
    struct spool *sp = spool_open(path, 0, err, sizeof(err));

    if (sp == NULL)
        fail_msg("%s", err);
    assert_int_equal(spool_append(sp, msgs + first, (size_t)(last - first)), last - first);
    spool_close(sp);
}

/* start_ready - start a ledger and wait until it has recovered the journals */
static struct ledger *start_ready(const struct ledger_opts *o)
{
    struct ledger *l = ledger_start(o);

    assert_true(ledger_flush(l, 20000)); /* settled only once the journals are recovered */
    return l;
}

/*
 * test_answers_before_commit - with a writer that commits only every
 * SLOW_MS, answers are "journaled" at once: nothing is in the database
 * yet, every record is in a journal file; the writer commits them later
 * and the stop empties the files.
 */
static void test_answers_before_commit(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    const int n = 100;

    (void)state;
    journal_case(dir, db, spool, &o);
    o.flush_ms = SLOW_MS;
    l = start_ready(&o);
    for (int i = 0; i < n; i++)
        expect_ack("healthy", timed_wait(l, i, WAIT_MS), LEDGER_ACK_JOURNALED, 0, ANSWER_MAX_MS);
    assert_int_equal(db_count(db, "SELECT count(*) FROM messages"), 0);
    for (int i = 0; i < n; i++)
        if (journal_count(spool, i) != 1)
            fail_msg("record %d answered; in the journal files %d times", i,
                     journal_count(spool, i));
    ledger_get_stats(l, &st);
    assert_int_equal(st.journaled, n);
    assert_true(ledger_flush(l, 20000));
    expect_range(db, 0, n);
    ledger_stop(l, 1000);
    assert_int_equal(journal_bytes(spool), 0);
}

/*
 * test_emptied_while_running - the files are switched and emptied in
 * turn while the writer runs, not only at stop: after 2000 records are
 * committed, two more records (each a batch of its own: one switch and
 * one emptying each) leave the journal with at most those two.
 */
static void test_emptied_while_running(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger *l;
    const int n = 2000;
    struct ledger_msg *probe = make_msg(n);
    long long one = (long long)encoded_len(probe);
    uint64_t deadline;

    (void)state;
    ledger_msg_free(probe);
    journal_case(dir, db, spool, &o);
    o.batch_max = 16;
    o.flush_ms = 1;
    l = start_ready(&o);
    for (int i = 0; i < n; i++)
        assert_int_equal(timed_wait(l, i, WAIT_MS).ack, LEDGER_ACK_JOURNALED);
    for (int i = n; i < n + 2; i++) {
        assert_true(ledger_flush(l, 20000));
        assert_int_equal(timed_wait(l, i, WAIT_MS).ack, LEDGER_ACK_JOURNALED);
    }
    assert_true(ledger_flush(l, 20000));
    expect_range(db, 0, n + 2);
    /* The writer empties a file right after the batch that settles it. */
    deadline = now_ms() + 2000;
    while (journal_bytes(spool) > 2 * one && now_ms() < deadline)
        sleep_ms(10);
    if (journal_bytes(spool) > 2 * one)
        fail_msg("journal holds %lld bytes after %d records committed (one is %lld bytes)",
                 journal_bytes(spool), n + 2, one);
    ledger_stop(l, 1000);
}

/*
 * test_locked_not_emptied - with the database locked the writer switches
 * files and its batch fails, and with the spool unusable (its path a
 * directory) it cannot move the queue there either: a journal file must
 * not be emptied while records it holds are only in memory. Every
 * answered record stays in a journal file, and all land once the lock
 * goes.
 */
static void test_locked_not_emptied(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger *l;
    sqlite3 *other;
    const int n = 60;

    (void)state;
    journal_case(dir, db, spool, &o);
    assert_int_equal(mkdir(spool, 0700), 0);
    o.batch_max = 8;
    o.flush_ms = 1;
    l = start_ready(&o);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(timed_wait(l, i, WAIT_MS).ack, LEDGER_ACK_JOURNALED);
        if (i % 10 == 9)
            sleep_ms(20); /* the writer switches files and starts its batch */
    }
    /* Its batch waits out SQLite's busy timeout (5 s, store_sqlite.c), fails,
       and the writer then empties whatever file it may. */
    sleep_ms(5800);
    for (int i = 0; i < n; i++)
        if (journal_count(spool, i) != 1)
            fail_msg("record %d answered journaled, only in memory; %d times in the journal", i,
                     journal_count(spool, i));
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_true(ledger_flush(l, 20000));
    expect_set(db, 0, n);
    ledger_stop(l, 1000);
    assert_int_equal(journal_bytes(spool), 0);
}

/*
 * test_outage_spooled - while the database is unusable the journaled
 * queue goes to the spool (what postmeter status shows as a backlog) and
 * the journal files are emptied; all land once the database is back.
 */
static void test_outage_spooled(void **state)
{
    char dir[256], db[300], dbdir[300], spool[300];
    struct ledger_opts o;
    struct ledger *l;
    uint64_t deadline;
    const int n = 20;

    (void)state;
    case_dir(dir, true);
    join(db, join(dbdir, dir, "db"), "ledger.db"); /* its directory does not exist yet */
    join(spool, dir, "ledger.spool");
    test_opts(&o, db);
    o.spool_path = spool;
    o.journal = true;
    l = start_ready(&o);
    for (int i = 0; i < n; i++)
        assert_int_equal(timed_wait(l, i, WAIT_MS).ack, LEDGER_ACK_JOURNALED);
    deadline = now_ms() + 5000;
    while ((spool_file_seqs(spool, (int[JOURNAL_RECS_MAX]){0}, JOURNAL_RECS_MAX) < n ||
            journal_bytes(spool) > 0) &&
           now_ms() < deadline)
        sleep_ms(20);
    for (int i = 0; i < n; i++)
        if (spool_count(spool, i) != 1 || journal_count(spool, i) != 0)
            fail_msg("record %d: %d times in the spool, %d in the journal (want 1, 0)", i,
                     spool_count(spool, i), journal_count(spool, i));
    assert_int_equal(mkdir(dbdir, 0700), 0);
    assert_true(ledger_flush(l, 20000));
    expect_set(db, 0, n);
    ledger_stop(l, 1000);
}

/*
 * test_kept_at_stop - a stop with the database and the spool unusable
 * leaves journaled records in the journal, counted as kept, not dropped;
 * the next start stores them.
 */
static void test_kept_at_stop(void **state)
{
    char dir[256], db[300], dbdir[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    const int n = 5;

    (void)state;
    case_dir(dir, true);
    join(db, join(dbdir, dir, "db"), "ledger.db"); /* its directory does not exist yet */
    join(spool, dir, "ledger.spool");
    assert_int_equal(mkdir(spool, 0700), 0); /* the spool cannot be a file */
    test_opts(&o, db);
    o.spool_path = spool;
    o.journal = true;
    l = start_ready(&o);
    for (int i = 0; i < n; i++)
        assert_int_equal(timed_wait(l, i, WAIT_MS).ack, LEDGER_ACK_JOURNALED);
    ledger_stop_stats(l, 200, &st);
    assert_int_equal(st.journal_kept, n);
    assert_int_equal(st.dropped, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(journal_count(spool, i), 1);

    assert_int_equal(mkdir(dbdir, 0700), 0);
    l = start_ready(&o);
    expect_set(db, 0, n);
    ledger_stop(l, 1000);
    assert_int_equal(journal_bytes(spool), 0);
}

struct recover_case {
    const char *name;
    bool journal; /* o.journal of the run that finds the files */
};

static const struct recover_case recover_cases[] = {
    {"journal on", true},
    {"journal off now", false},
};

/*
 * test_recovered_at_start - an earlier run died leaving records in both
 * journal files, some of them already committed: the next start stores
 * each once, whether or not it journals itself, and empties the files.
 */
static void test_recovered_at_start(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(recover_cases) / sizeof(recover_cases[0]); c++) {
        const struct recover_case *rc = &recover_cases[c];
        char dir[256], db[300], spool[300], j[320];
        struct ledger_opts o;
        struct ledger *l;

        struct ledger_msg *msgs[80];

        for (int i = 0; i < 80; i++)
            msgs[i] = make_msg(i);
        journal_case(dir, db, spool, &o);
        o.journal = false;
        l = ledger_start(&o);
        for (int i = 0; i < 20; i++) { /* committed before the "crash": the same uids */
            struct ledger_msg *m = make_msg(i);

            memcpy(m->uid, msgs[i]->uid, sizeof(m->uid));
            ledger_put(l, m);
        }
        assert_true(ledger_flush(l, 20000));
        ledger_stop(l, 1000);
        write_journal(journal_path(j, spool, 0), msgs, 10, 50);
        write_journal(journal_path(j, spool, 1), msgs, 50, 80);
        for (int i = 0; i < 80; i++)
            ledger_msg_free(msgs[i]);

        o.journal = rc->journal;
        l = start_ready(&o);
        expect_set(db, 0, 80);
        ledger_stop(l, 1000);
        if (journal_bytes(spool) != 0)
            fail_msg("%s: %lld bytes left in the journal files", rc->name, journal_bytes(spool));
    }
}

/* test_off_no_files - without the journal no journal file is created */
static void test_off_no_files(void **state)
{
    char dir[256], db[300], spool[300], j[320];
    struct ledger_opts o;
    struct ledger *l;
    struct stat st;

    (void)state;
    journal_case(dir, db, spool, &o);
    o.journal = false;
    l = start_ready(&o);
    for (int i = 0; i < 5; i++)
        expect_ack("journal off", timed_wait(l, i, WAIT_MS), LEDGER_ACK_STORED, 0, ANSWER_MAX_MS);
    ledger_stop(l, 1000);
    for (int i = 0; i < 2; i++)
        if (lstat(journal_path(j, spool, i), &st) == 0 || errno != ENOENT)
            fail_msg("%s exists with the journal off", j);
}

/*
 * test_unwritable_waits - a journal file past its bound (the spool's,
 * ledger_spool_max_mb) cannot take the record: the answer waits for the
 * writer as without a journal, and says "stored".
 */
static void test_unwritable_waits(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    journal_case(dir, db, spool, &o);
    o.spool_max_bytes = 16; /* smaller than any record */
    l = start_ready(&o);
    for (int i = 0; i < 5; i++)
        expect_ack("journal full", timed_wait(l, i, WAIT_MS), LEDGER_ACK_STORED, 0, ANSWER_MAX_MS);
    expect_range(db, 0, 5);
    ledger_get_stats(l, &st);
    assert_int_equal(st.journaled, 0);
    ledger_stop(l, 1000);
}

/*
 * test_dropped_kept - a record answered "journaled" that the database
 * then refuses, with <spool>.rejected unwritable (a directory there), is
 * dropped by the writer: the journal files are kept at stop, answers
 * after the drop wait for the writer, and the next start (with
 * .rejected writable again) saves the record to .rejected.
 */
static void test_dropped_kept(void **state)
{
    char dir[256], db[300], spool[300], rejected[320], j0[320], j1[320];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger_msg *m;
    struct ledger *l;
    struct answer got;
    uint64_t t0;

    (void)state;
    journal_case(dir, db, spool, &o);
    assert_true(snprintf_ok(rejected, sizeof(rejected), "%s.rejected", spool));
    assert_int_equal(mkdir(rejected, 0700), 0);
    l = start_ready(&o);
    m = make_msg(0);
    m->action = xfree(m->action); /* NOT NULL in the database: refused */
    t0 = now_ms();
    got.ack = ledger_put_wait(l, m, WAIT_MS);
    got.took = now_ms() - t0;
    expect_ack("refused record", got, LEDGER_ACK_JOURNALED, 0, ANSWER_MAX_MS);
    assert_true(ledger_flush(l, 20000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.dropped, 1);
    expect_ack("after the drop", timed_wait(l, 1, WAIT_MS), LEDGER_ACK_STORED, 0, ANSWER_MAX_MS);
    ledger_stop(l, 1000);
    if (!spool_holds(journal_path(j0, spool, 0), 0) && !spool_holds(journal_path(j1, spool, 1), 0))
        fail_msg("the dropped record's journal copy was emptied at stop");

    assert_int_equal(rmdir(rejected), 0);
    l = start_ready(&o);
    ledger_stop(l, 1000);
    if (!spool_holds(rejected, 0))
        fail_msg("the next start did not save the refused record to %s", rejected);
    expect_range(db, 1, 2);
    assert_int_equal(journal_bytes(spool), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_before_commit), cmocka_unit_test(test_emptied_while_running),
        cmocka_unit_test(test_locked_not_emptied),    cmocka_unit_test(test_outage_spooled),
        cmocka_unit_test(test_recovered_at_start),    cmocka_unit_test(test_off_no_files),
        cmocka_unit_test(test_unwritable_waits),      cmocka_unit_test(test_dropped_kept),
        cmocka_unit_test(test_kept_at_stop),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
