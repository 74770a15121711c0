/*
 * test_ledger_journal_adv.c - adversarial cases of the ledger's
 * write-ahead journal (lib/ledger_journal.c) that test_ledger_journal.c
 * does not cover: journal files an earlier run left that the start
 * cannot move to the spool (spool unusable or too small; database up or
 * down), which must be stored or kept, never emptied unread; and answers
 * while the queue is full (a locked database), each of which must be in
 * a journal file or the spool when it is given, and stored once later;
 * a FIFO where a journal file goes.
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

#define WAIT_MS 5000 /* wait_ms of the answers */

/* write_journal - records first..last-1 appended to the journal file at path, as a run
 * killed after answering them leaves it */
static void write_journal(const char *path, int first, int last)
{
    char err[512];
    struct spool *sp = spool_open(path, 0, err, sizeof(err));

    if (sp == NULL)
        fail_msg("%s", err);
    for (int i = first; i < last; i++) {
        struct ledger_msg *m = make_msg(i);

        assert_int_equal(spool_append(sp, &m, 1), 1);
        ledger_msg_free(m);
    }
    spool_close(sp);
}

/* What keeps the first start after the "crash" from moving the journals to the spool. */
struct unmoved_case {
    const char *name;
    bool spool_dir;      /* the spool path is a directory */
    bool no_database;    /* the database's directory is missing */
    int spool_room;      /* spool_max_bytes in records (0: the default bound) */
    bool journal;        /* o.journal of both starts */
    bool stored_at_once; /* the database is up: the first start stores them already */
};

static const struct unmoved_case unmoved_cases[] = {
    {"spool a directory, no database", true, true, 0, true, false},
    {"spool a directory, no database, journal off now", true, true, 0, false, false},
    {"spool a directory, database up", true, false, 0, true, true},
    {"spool too small, database up", false, false, 3, true, true},
    {"spool too small, journal off now", false, false, 3, false, true},
};

#define UNMOVED_RECS 15 /* records 0..9 in journal.0, 10..14 in journal.1 */

/*
 * test_unmoved_journal_kept - an earlier run answered records 0..14
 * "journaled" and was killed. The next start cannot move them to the
 * spool (a directory there, or a spool bound smaller than they are).
 * Whether or not the database is up, no answered record may be lost:
 * with the database up they are stored at once; in any case a clean stop
 * must not empty journal files whose records are neither stored nor
 * spooled, and a later start with the spool usable stores each once.
 */
static void test_unmoved_journal_kept(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(unmoved_cases) / sizeof(unmoved_cases[0]); c++) {
        const struct unmoved_case *uc = &unmoved_cases[c];
        char dir[256], db[300], spool[300], j[320], nodb[300];
        struct ledger_opts o;
        struct ledger *l;
        struct ledger_msg *probe = make_msg(UNMOVED_RECS);
        size_t one = encoded_len(probe);

        ledger_msg_free(probe);
        journal_case(dir, db, spool, &o);
        o.journal = uc->journal;
        write_journal(journal_path(j, spool, 0), 0, 10);
        write_journal(journal_path(j, spool, 1), 10, UNMOVED_RECS);
        if (uc->spool_dir)
            assert_int_equal(mkdir(spool, 0700), 0);
        if (uc->no_database)
            o.database = join(nodb, dir, "missing/ledger.db");
        if (uc->spool_room)
            o.spool_max_bytes = (uint64_t)uc->spool_room * one;

        /* The first start after the crash, then a clean stop. */
        l = ledger_start(&o);
        if (uc->stored_at_once) {
            (void)ledger_flush(l, 5000);
            if (db_count(db, "SELECT count(*) FROM messages") != UNMOVED_RECS)
                fail_msg("%s: %lld of %d journaled records stored by the start, database up",
                         uc->name, db_count(db, "SELECT count(*) FROM messages"), UNMOVED_RECS);
            expect_set(db, 0, UNMOVED_RECS);
        }
        ledger_stop(l, 1000);
        if (!uc->stored_at_once)
            for (int i = 0; i < UNMOVED_RECS; i++)
                if (journal_count(spool, i) != 1)
                    fail_msg("%s: journaled record %d neither stored nor spooled, and %d times "
                             "in the journal files after a clean stop",
                             uc->name, i, journal_count(spool, i));

        /* The spool usable again, the database up: everything once. */
        if (uc->spool_dir)
            assert_int_equal(rmdir(spool), 0);
        o.database = db;
        l = ledger_start(&o);
        assert_true(ledger_flush(l, 20000));
        expect_set(db, 0, UNMOVED_RECS);
        ledger_stop(l, 1000);
        if (journal_bytes(spool) != 0)
            fail_msg("%s: %lld bytes left in the journal files", uc->name, journal_bytes(spool));
    }
}

#define FULL_QUEUE 8  /* queue_max */
#define FULL_RECS  40 /* records answered while the writer is stuck on the lock */

/*
 * test_full_queue_answers - the database is locked by another connection,
 * so the writer sits in its busy wait while producers answer: the queue
 * (FULL_QUEUE records) fills up, and journal_put takes its queue-full
 * path. Every answer is "journaled" (then in a journal file) or
 * "self-spooled" (then in the spool) the moment it is given, both kinds
 * occur, and after the lock goes and a stop and a restart each record is
 * stored exactly once (a record in the journal and the spool lands once).
 */
static void test_full_queue_answers(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger *l;
    sqlite3 *other;
    int journaled = 0, self = 0;

    (void)state;
    journal_case(dir, db, spool, &o);
    o.queue_max = FULL_QUEUE;
    o.flush_ms = 1;
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 20000)); /* the journals recovered: journaling on */
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(timed_wait(l, 0, WAIT_MS).ack, LEDGER_ACK_JOURNALED);
    sleep_ms(100); /* the writer is in its commit, waiting for the lock */
    for (int i = 1; i < FULL_RECS; i++) {
        struct answer a = timed_wait(l, i, WAIT_MS);

        if (a.ack == LEDGER_ACK_JOURNALED) {
            journaled++;
            if (journal_count(spool, i) != 1)
                fail_msg("record %d answered journaled; %d times in the journal files", i,
                         journal_count(spool, i));
        } else if (a.ack == LEDGER_ACK_SELF) {
            self++;
            if (spool_count(spool, i) != 1)
                fail_msg("record %d answered self-spooled; %d times in the spool", i,
                         spool_count(spool, i));
        } else
            fail_msg("record %d answered %s with the queue full", i, ledger_ack_name(a.ack));
    }
    if (self == 0 || journaled == 0)
        fail_msg("%d journaled, %d self-spooled: the queue never filled (or never had room)",
                 journaled, self);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_true(ledger_flush(l, 20000));
    ledger_stop(l, 1000);
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 20000));
    ledger_stop(l, 1000);
    expect_set(db, 0, FULL_RECS);
    assert_int_equal(journal_bytes(spool), 0);
}

/*
 * test_fifo_journal - a FIFO planted where a journal file goes must not
 * hang the writer's recovery (a read that never returns) nor the answers
 * (an append that never returns, under the journal's mutex): the start
 * refuses it, journaling stays off, and answers wait for the writer.
 */
static void test_fifo_journal(void **state)
{
    char dir[256], db[300], spool[300], j[320];
    struct ledger_opts o;
    struct ledger *l;

    (void)state;
    journal_case(dir, db, spool, &o);
    assert_int_equal(mkfifo(journal_path(j, spool, 0), 0600), 0);
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 5000));
    for (int i = 0; i < 3; i++)
        expect_ack("FIFO journal", timed_wait(l, i, WAIT_MS), LEDGER_ACK_STORED, 0, ANSWER_MAX_MS);
    ledger_stop(l, 1000);
    expect_range(db, 0, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unmoved_journal_kept),
        cmocka_unit_test(test_full_queue_answers),
        cmocka_unit_test(test_fifo_journal),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
