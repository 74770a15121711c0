/*
 * test_store_rollup.c - the ledger's counters (schema/008_rollup.sql,
 * lib/store_sqlite_rollup*.c) against the rows they count: after the
 * writer's inserts (copies out of order, replays), after each batch of
 * a prune, after the migration's backfill, with rows written around the
 * store; and report summary's mail numbers read from them against the
 * row-by-row statement the summary used before the counters (kept here
 * as the oracle, verbatim), for ranges with partial hours at both ends,
 * offsets that are not whole hours and local days across a DST change
 * (TZ=Europe/Berlin, as the CLI computes the offset).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "ledger_msg.h"
#include "store.h"
#include "store_summary.h"
#include "util.h"

#include "rollup_fixture.h"
#include "store_fixture.h"

/* The summary's mail statement before the counters (store_sqlite_summary.c at 84241c4). */
#define SQL_COPIES                                                                                 \
    "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY message_id, coalesce(mail_from,"   \
    " '') ORDER BY received_at, id) AS n FROM messages WHERE received_at >= :since"                \
    " AND received_at < :until AND direction = 'outbound' AND coalesce(message_id, '') <> '')"     \
    " WHERE n > 1"
static const char oracle_sql[] =
    "SELECT direction, action, (received_at + :off) / 86400, count(*), sum(spf IS 0),"
    " sum(coalesce(dkim, 0)), sum(dmarc IS 0), sum(dmarc IS 1), sum(coalesce(sig, 0))"
    " FROM (SELECT m.direction AS direction, m.action AS action, m.received_at AS received_at,"
    "  (min(CASE WHEN a.method = 'spf' THEN a.position * 4 + (a.result <> 'pass') END) % 4 + 4)"
    "   % 4 AS spf,"
    "  max(a.method = 'dkim' AND a.result = 'pass') AS dkim,"
    "  (min(CASE WHEN a.method = 'dmarc' THEN a.position * 4 + CASE a.result WHEN 'pass' THEN 0"
    "   WHEN 'fail' THEN 1 ELSE 2 END END) % 4 + 4) % 4 AS dmarc,"
    "  max(a.method = 'dkim-sign' AND a.result = 'signed') AS sig"
    "  FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id"
    "  WHERE m.received_at >= :since AND m.received_at < :until AND m.id NOT IN (" SQL_COPIES ")"
    "  GROUP BY m.received_at, m.id)"
    " GROUP BY 1, 2, 3";

/* action_index - the summary's action column of w */
static size_t action_index(const char *w)
{
    for (size_t a = 0; a < STORE_ACT_OTHER; a++)
        if (strcmp(w, store_action_name((enum store_action)a)) == 0)
            return a;
    return STORE_ACT_OTHER;
}

/* day_of - sum's series entry of day number d, NULL if none */
static const struct store_summary_day *day_of(const struct store_summary *sum, int64_t d)
{
    for (size_t i = 0; i < sum->ndays; i++)
        if ((sum->days[i].day + sum->utc_offset) / 86400 == d)
            return &sum->days[i];
    return NULL;
}

/* check_summary - store_summary's mail numbers of [since, until) at off equal the oracle's */
static void check_summary(struct store *s, const char *path, int64_t since, int64_t until,
                          int64_t off)
{
    struct store_summary_filter f = {since, until, off, 0};
    struct store_summary got, want;
    sqlite3_stmt *st = NULL;
    sqlite3 *db = NULL;

    memset(&want, 0, sizeof(want));
    assert_int_equal(store_summary(s, &f, &got), STORE_OK);
    want.days = xcalloc(got.ndays ? got.ndays : 1, sizeof(*want.days));
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, oracle_sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":since"), since);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":until"), until ? until : INT64_MAX);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":off"), off);
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t o = strcmp((const char *)sqlite3_column_text(st, 0), "outbound") == 0;
        int64_t n = sqlite3_column_int64(st, 3);
        const struct store_summary_day *gd = day_of(&got, sqlite3_column_int64(st, 2));
        struct store_summary_day *d;

        assert_non_null(gd);
        d = &want.days[gd - got.days];
        want.messages[o] += n;
        want.actions[o][action_index((const char *)sqlite3_column_text(st, 1))] += n;
        if (o) {
            d->out += n;
            want.signed_out += sqlite3_column_int64(st, 8);
            continue;
        }
        d->in += n;
        d->spf_pass += sqlite3_column_int64(st, 4);
        d->dkim_pass += sqlite3_column_int64(st, 5);
        d->dmarc_pass += sqlite3_column_int64(st, 6);
        want.spf_pass += sqlite3_column_int64(st, 4);
        want.dkim_pass += sqlite3_column_int64(st, 5);
        want.dmarc_pass += sqlite3_column_int64(st, 6);
        want.dmarc_fail += sqlite3_column_int64(st, 7);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (size_t o = 0; o < 2; o++) {
        assert_int_equal(got.messages[o], want.messages[o]);
        for (size_t a = 0; a < STORE_ACTIONS; a++)
            assert_int_equal(got.actions[o][a], want.actions[o][a]);
    }
    assert_int_equal(got.spf_pass, want.spf_pass);
    assert_int_equal(got.dkim_pass, want.dkim_pass);
    assert_int_equal(got.dmarc_pass, want.dmarc_pass);
    assert_int_equal(got.dmarc_fail, want.dmarc_fail);
    assert_int_equal(got.signed_out, want.signed_out);
    for (size_t i = 0; i < got.ndays; i++) {
        assert_int_equal(got.days[i].in, want.days[i].in);
        assert_int_equal(got.days[i].out, want.days[i].out);
        assert_int_equal(got.days[i].spf_pass, want.days[i].spf_pass);
        assert_int_equal(got.days[i].dkim_pass, want.days[i].dkim_pass);
        assert_int_equal(got.days[i].dmarc_pass, want.days[i].dmarc_pass);
    }
    free(want.days);
    store_summary_free(&got);
}

/* berlin - since, until and the offset of local days [d0, d1) in Europe/Berlin, as the CLI */
static void berlin(int d0, int d1, int64_t *since, int64_t *until, int64_t *off)
{
    struct tm tm = {.tm_year = 126, .tm_mon = 2, .tm_mday = d0, .tm_isdst = -1};
    const char *old = getenv("TZ");
    char *saved = old ? xstrdup(old) : NULL;
    time_t u;

    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    *since = (int64_t)mktime(&tm);
    tm = (struct tm){.tm_year = 126, .tm_mon = 2, .tm_mday = d1, .tm_isdst = -1};
    *until = (int64_t)mktime(&tm);
    u = (time_t)*until;
    localtime_r(&u, &tm);
    *off = tm.tm_gmtoff;
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
}

/* Ranges: since, until (0: none), offset; partial hours at both ends, whole days, one hour. */
static const struct {
    int64_t since, until, off;
} ranges[] = {
    {0, 0, 0},
    {0, 0, 3600},
    {T0 + 1234, T0 + 2 * 86400 + 777, 0},
    {T0 + 1234, T0 + 2 * 86400 + 777, 7200},
    {T0 + 1234, T0 + 3 * 86400 + 3599, -18000},
    {T0 + 5400, 0, 19800}, /* +05:30: hours that hold a midnight are read row by row */
    {T0 + 86400, T0 + 3 * 86400, 20700},
    {T0 + 3600, T0 + 7200, 0},
    {T0 + 100, T0 + 200, 0},
    {T0 + 3 * 3600 + 1, T0 + 30 * 3600 - 1, 3600},
    {T0 - 86400, T0 + 86400, 0},
};

/* check_all - every range of ranges[] and Berlin's local days across the DST change */
static void check_all(struct store *s, const char *path)
{
    int64_t since, until, off;

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        check_summary(s, path, ranges[i].since, ranges[i].until, ranges[i].off);
    berlin(28, 31, &since, &until, &off);
    assert_int_equal(until - since, 3 * 86400 - 3600); /* one day of 23 hours */
    assert_int_equal(off, 7200);
    check_summary(s, path, since, until, off);
    berlin(27, 30, &since, &until, &off);
    check_summary(s, path, since, until, off);
}

/* check_rows_alike - every report of the ranges reads the same from counters as row by row */
static void check_rows_alike(struct store *s, const char *path)
{
    char *copy = rollup_emptied(path);
    struct store *r = open_ok(copy, 0);

    /* the copy has the rows and no counters at all */
    assert_int_equal(sql_int(copy, "SELECT count(*) FROM messages"),
                     sql_int(path, "SELECT count(*) FROM messages"));
    assert_int_equal(sql_int(copy, "SELECT count(*) FROM rollup_mail"), 0);
    const char *doms[] = {NULL, "y.example", "Z.EXAMPLE", "example"};
    size_t tops = 0;

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        struct store_summary_filter f = {ranges[i].since, ranges[i].until, ranges[i].off, 10};
        char *a = rollup_summary_text(s, &f), *b = rollup_summary_text(r, &f);

        assert_string_equal(a, b);
        tops += strstr(a, "top ") != NULL;
        free(a);
        free(b);
        for (size_t d = 0; d < sizeof(doms) / sizeof(doms[0]); d++) {
            struct store_auth_filter af = {ranges[i].since, ranges[i].until, doms[d]};

            a = rollup_auth_text(s, &af);
            b = rollup_auth_text(r, &af);
            assert_string_equal(a, b);
            free(a);
            free(b);
        }
    }
    assert_true(tops > 5); /* failing domains listed */
    store_close(r);
    free(copy);
}

/* test_writer - counters after inserts, out-of-order copies and a replay; the summary's mail */
static void test_writer(void **state)
{
    char *path = xstrdup(new_db()); /* new_db() reuses its buffer */
    struct store *s = open_ok(path, 0);

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    rollup_fill(s);
    rollup_check_counters(path, true);
    assert_true(sql_int(path, "SELECT count(*) FROM message_copies") > 50);
    assert_true(sql_int(path, "SELECT count(*) FROM pixel_opens") > 100);
    check_all(s, path);
    check_rows_alike(s, path);
    store_close(s);
    free(path);
}

/* test_around - rows written around the store: their hours are read row by row */
static void test_around(void **state)
{
    char *path = xstrdup(new_db()); /* new_db() reuses its buffer */
    struct store *s = open_ok(path, 0);
    sqlite3 *db = NULL;

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    rollup_fill(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO messages (uid, direction, action, received_at, message_id,"
                     " mail_from) VALUES ('h1', 'inbound', 'accept', 1774580000, '<h1@x>', ''),"
                     " ('h2', 'outbound', 'reject', 1774580001, '<o3@x.example>', 'a@x.example');"
                     /* earlier than the store's rows of its Message-ID: the first of them is
                        a copy now, in an hour whose counters still hold */
                     "INSERT INTO messages (uid, direction, action, received_at, message_id,"
                     " mail_from) SELECT 'h3', 'outbound', 'tempfail', 1774569600, message_id,"
                     " mail_from FROM messages WHERE direction = 'outbound' AND message_id <> ''"
                     " AND received_at > 1774580000 AND id NOT IN (SELECT id FROM message_copies)"
                     " ORDER BY id LIMIT 1;"
                     "INSERT INTO message_auth (message_id, position, method, result)"
                     " SELECT id, 0, 'spf', 'pass' FROM messages WHERE uid = 'h1';"
                     "DELETE FROM messages WHERE id = (SELECT max(id) FROM messages"
                     " WHERE received_at >= 1774600000 AND received_at < 1774603600)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    check_all(s, path);
    check_rows_alike(s, path);
    store_close(s);
    free(path);
}

/* test_prune - every batch of a prune keeps the counters those of the rows left */
static void test_prune(void **state)
{
    char *path = xstrdup(new_db()); /* new_db() reuses its buffer */
    struct store *s = open_ok(path, 0);
    struct store_prune_counts c = {{0}};
    bool more = true;
    unsigned batches = 0;

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    rollup_fill(s);
    while (more) {
        assert_int_equal(store_prune_batch(s, T0 + 86400 + 1800, 37, &c, &more), STORE_OK);
        rollup_check_counters(path, false);
        batches++;
    }
    assert_true(batches > 3);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages WHERE received_at < 1774657800"),
                     0);
    assert_int_equal(sql_int(path, "SELECT sum(n) FROM rollup_mail"),
                     sql_int(path, "SELECT count(*) FROM messages"));
    check_all(s, path);
    check_rows_alike(s, path);
    store_close(s);
    free(path);
}

/* test_backfill - the migration counts the rows stored before it as the writer would */
static void test_backfill(void **state)
{
    char written[4096], migrated[4096];
    struct store *s;
    sqlite3 *db = NULL;
    char *a, *b;
    char sql[8192];

    (void)state;
    assert_true(snprintf_ok(written, sizeof(written), "%s", new_db()));
    assert_true(snprintf_ok(migrated, sizeof(migrated), "%s", new_db()));
    s = open_ok(written, 0);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    rollup_fill(s);
    store_close(s);
    s = open_ok(migrated, 0);
    assert_int_equal(store_migrate(s, store_migrations, 7), STORE_OK);
    store_close(s);
    assert_int_equal(sqlite3_open(migrated, &db), SQLITE_OK);
    assert_true(snprintf_ok(sql, sizeof(sql),
                            "ATTACH '%s' AS w; INSERT INTO messages SELECT * FROM w.messages;"
                            " INSERT INTO message_auth SELECT * FROM w.message_auth;"
                            " INSERT INTO message_recipients SELECT * FROM w.message_recipients;"
                            " INSERT INTO tracked_messages SELECT * FROM w.tracked_messages;"
                            " INSERT INTO tracked_recipients SELECT * FROM w.tracked_recipients;"
                            " INSERT INTO pixel_opens SELECT * FROM w.pixel_opens;",
                            written));
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = open_ok(migrated, 0);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    rollup_check_counters(migrated, true);
    assert_int_equal(sqlite3_open(written, &db), SQLITE_OK);
    a = rollup_rows_text(db, ROLLUP_COUNTERS);
    b = rollup_rows_text(db, "SELECT id, received_at FROM message_copies ORDER BY id");
    sqlite3_close(db);
    assert_int_equal(sqlite3_open(migrated, &db), SQLITE_OK);
    {
        char *a2 = rollup_rows_text(db, ROLLUP_COUNTERS);
        char *b2 = rollup_rows_text(db, "SELECT id, received_at FROM message_copies ORDER BY id");

        assert_string_equal(a2, a);
        assert_string_equal(b2, b);
        free(a2);
        free(b2);
    }
    sqlite3_close(db);
    free(a);
    free(b);
    check_all(s, migrated);
    check_rows_alike(s, migrated);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_around),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_backfill),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
