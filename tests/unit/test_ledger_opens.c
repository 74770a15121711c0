/*
 * test_ledger_opens.c - opens (LEDGER_OPEN records) through the ledger
 * writer, end to end: handed in while the database is locked, or gone
 * (then spooled), or left in a spool by an earlier run, they land once
 * the database is back, each open of a tracked token exactly once and
 * each open of an unknown token discarded and counted in
 * stats.discarded; messages in between are written as before. Helpers
 * in ledger_fixture.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#include "ledger_fixture.h"

#define NTOKENS 5 /* tracked tokens in the database */

/*
 * What record seq is: every 7th a message (make_msg), else an open;
 * every 4th open is of a token nobody tracked. An open carries seq in
 * received_at (opened_at), a message in size.
 */
static bool is_message(int seq)
{
    return seq % 7 == 6;
}

/* is_known - record seq is an open of a tracked token */
static bool is_known(int seq)
{
    return !is_message(seq) && seq % 4 != 3;
}

/* token - the token of open seq into out[32] */
static const char *token(char *out, int seq)
{
    if (is_known(seq))
        snprintf(out, 32, "tracked%021d", seq % NTOKENS);
    else
        snprintf(out, 32, "unknown%021d", seq);
    return out;
}

/* make_record - record seq (see is_message); caller frees */
static struct ledger_msg *make_record(int seq)
{
    struct ledger_msg *m;
    char t[32];

    if (is_message(seq))
        return make_msg(seq);
    m = ledger_msg_new_open();
    ledger_msg_set(&m->host, "px.example.org");
    ledger_msg_set(&m->open_token, token(t, seq));
    ledger_msg_set(&m->open_ip, seq % 2 ? "192.0.2.0" : NULL);
    ledger_msg_set(&m->open_agent, seq % 3 ? "Mozilla/5.0 (X11; Linux x86_64)" : NULL);
    ledger_msg_set(&m->open_method, seq % 5 ? "GET" : "HEAD");
    ledger_msg_set(&m->open_class, seq % 5 ? "human" : "scanner");
    ledger_msg_set(&m->open_reason, seq % 5 ? "no rule matched" : "HEAD request");
    m->received_at = seq;
    return m;
}

/* put_records - hand in records first..last-1 (ledger_put, which must not wait) */
static void put_records(struct ledger *l, int first, int last)
{
    for (int seq = first; seq < last; seq++) {
        uint64_t t0 = now_ms();

        ledger_put(l, make_record(seq));
        assert_true(now_ms() - t0 < PUT_MAX_MS);
    }
}

/* counts - how many of records first..last-1 are messages, known opens, unknown opens */
static void counts(int first, int last, int *msgs, int *known, int *unknown)
{
    *msgs = *known = *unknown = 0;
    for (int seq = first; seq < last; seq++) {
        if (is_message(seq))
            (*msgs)++;
        else if (is_known(seq))
            (*known)++;
        else
            (*unknown)++;
    }
}

/* tracked_db - migrate the database at path and track NTOKENS tokens in it */
static void tracked_db(const char *path)
{
    char err[512], t[32];
    struct store *s;

    migrated_db(path);
    s = store_open(path, 0, err, sizeof(err));
    if (s == NULL)
        fail_msg("%s: %s", path, err);
    for (int i = 0; i < NTOKENS; i++) {
        const struct store_tracked tr = {
            .token = t, .mode = "pipe", .outcome = "injected", .created_at = 1795000000};

        snprintf(t, sizeof(t), "tracked%021d", i); /* token() of a known open */
        assert_int_equal(store_put_tracked(s, &tr), STORE_OK);
    }
    store_close(s);
}

/* expect_opens - the database holds exactly the known opens of first..last-1, once each,
 * each pointing at its token, and exactly the messages among them */
static void expect_opens(const char *db, int first, int last)
{
    int msgs, known, unknown, n = 0;
    sqlite3 *h;
    sqlite3_stmt *st;
    char t[32];

    counts(first, last, &msgs, &known, &unknown);
    assert_int_equal(db_count(db, "SELECT count(*) FROM pixel_opens"), known);
    assert_int_equal(db_count(db, "SELECT count(DISTINCT uid) FROM pixel_opens"), known);
    assert_int_equal(db_count(db, "SELECT count(*) FROM messages"), msgs);
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT o.opened_at, t.token FROM pixel_opens o JOIN"
                                        " tracked_messages t ON t.id = o.tracked_id"
                                        " ORDER BY o.opened_at",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int seq = first; seq < last; seq++) {
        if (!is_known(seq))
            continue;
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), seq);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), token(t, seq));
        n++;
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_int_equal(n, known);
}

/* test_locked_then_released - opens handed in while another connection holds the database
 * wait in memory; released, the known ones land once and the others are counted */
static void test_locked_then_released(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    sqlite3 *other;
    int msgs, known, unknown;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    tracked_db(db);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    test_opts(&o, db);
    l = ledger_start(&o);
    put_records(l, 0, 100);
    sleep_ms(300); /* the writer is now waiting for the lock */
    put_records(l, 100, 200);
    assert_false(ledger_flush(l, 100));
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 200);
    assert_int_equal(st.written + st.discarded, 0);
    assert_int_equal(st.queued, 200);

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    counts(0, 200, &msgs, &known, &unknown);
    assert_true(msgs > 0 && known > 0 && unknown > 0);
    assert_int_equal(st.written, msgs + known);
    assert_int_equal(st.discarded, unknown);
    assert_int_equal(st.replayed + st.spooled + st.dropped + st.rejected, 0);
    assert_int_equal(st.queued, 0);
    expect_opens(db, 0, 200);
    ledger_stop(l, 1000);
    sqlite3_close(other);
}

/* test_gone_spooled_back - with the database gone, opens past the high-water mark go to the
 * spool; once it is back they are replayed: known ones once, the others counted */
static void test_gone_spooled_back(void **state)
{
    char dir[256], db[300], spool[300], dbdir[300], ready[300], readydb[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    int msgs, known, unknown;

    (void)state;
    case_dir(dir, true);
    join(dbdir, dir, "db");
    join(db, dbdir, "ledger.db");
    join(ready, dir, "ready");
    join(readydb, ready, "ledger.db");
    assert_int_equal(mkdir(ready, 0700), 0);
    tracked_db(readydb);
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");
    o.queue_max = 100;
    o.batch_max = 10;
    l = ledger_start(&o);
    for (int i = 0; i < 300; i++) {
        WAIT_STATS(l, st, st.queued < 95, 5000); /* about spooling, not dropping */
        put_records(l, i, i + 1);
    }
    WAIT_STATS(l, st, st.spooled > 0, 5000);
    assert_int_equal(st.written + st.discarded + st.dropped, 0);
    assert_false(ledger_flush(l, 50));

    assert_int_equal(rename(ready, dbdir), 0); /* the database is back */
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    counts(0, 300, &msgs, &known, &unknown);
    assert_true(st.spooled > 0 && st.replayed > 0);
    assert_int_equal(st.written + st.replayed, msgs + known);
    assert_int_equal(st.discarded, unknown);
    assert_int_equal(st.dropped + st.rejected, 0);
    assert_int_equal(file_size(spool), 0);
    expect_opens(db, 0, 300);
    ledger_stop(l, 1000);
}

/* spool_records - append records first..last-1 to the spool file at path */
static void spool_records(const char *path, int first, int last)
{
    char err[512];
    struct spool *sp = spool_open(path, 0, err, sizeof(err));
    struct ledger_msg *m[64];
    int n = last - first;

    if (sp == NULL)
        fail_msg("%s", err);
    assert_true(n > 0 && n <= 64);
    for (int i = 0; i < n; i++)
        m[i] = make_record(first + i);
    assert_int_equal(spool_append(sp, m, (size_t)n), n);
    for (int i = 0; i < n; i++)
        ledger_msg_free(m[i]);
    spool_close(sp);
}

/* test_spool_replayed_twice - a spool of opens from an earlier run is replayed at start;
 * the same records replayed again (a crash between commit and emptying the spool) add
 * no row */
static void test_spool_replayed_twice(void **state)
{
    char dir[256], db[300], spool[300], copy[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    int msgs, known, unknown;
    FILE *in, *out;
    char buf[4096];
    size_t n;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    tracked_db(db);
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");
    spool_records(spool, 0, 60);
    /* keep the spool's bytes for the second run */
    join(copy, dir, "spool.copy");
    in = fopen(spool, "rb");
    out = fopen(copy, "wb");
    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);

    counts(0, 60, &msgs, &known, &unknown);
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.replayed, msgs + known);
    assert_int_equal(st.discarded, unknown);
    assert_int_equal(st.written + st.dropped + st.rejected, 0);
    ledger_stop(l, 1000);
    expect_opens(db, 0, 60);

    assert_int_equal(rename(copy, spool), 0);
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.replayed + st.written + st.dropped + st.rejected, 0);
    ledger_stop(l, 1000);
    expect_opens(db, 0, 60);
}

/* test_refused_open_in_batch - an open the database refuses goes to <spool>.rejected alone;
 * the rest of its batch is written one by one, discarded opens still counted */
static void test_refused_open_in_batch(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    struct ledger_msg *bad;
    sqlite3 *other;
    int msgs, known, unknown;
    char t[32];

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    tracked_db(db);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    test_opts(&o, db);
    l = ledger_start(&o);
    put_records(l, 0, 20);
    bad = ledger_msg_new_open(); /* of a tracked token, of a class the schema does not know */
    ledger_msg_set(&bad->open_token, token(t, 0));
    ledger_msg_set(&bad->open_method, "GET");
    ledger_msg_set(&bad->open_class, "robot");
    bad->received_at = 1000;
    ledger_put(l, bad);
    put_records(l, 20, 40);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    counts(0, 40, &msgs, &known, &unknown);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.written, msgs + known);
    assert_int_equal(st.discarded, unknown);
    assert_int_equal(st.dropped, 0);
    ledger_stop(l, 1000);
    sqlite3_close(other);
    expect_opens(db, 0, 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locked_then_released),
        cmocka_unit_test(test_gone_spooled_back),
        cmocka_unit_test(test_spool_replayed_twice),
        cmocka_unit_test(test_refused_open_in_batch),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
