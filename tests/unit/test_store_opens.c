/*
 * test_store_opens.c - pixel opens in the SQLite store (schema
 * 006_opens): a batch mixing messages and opens writes each by its kind,
 * an open only if its token is tracked (else discarded and counted),
 * with every field as handed in; a replay adds nothing; reports of
 * messages never count opens; a bad open spoils its batch like any bad
 * record; the first (human) open of a message is read from an index; a
 * forgotten tracked message takes its opens along; an older database
 * migrates to the opens schema and checks clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger_msg.h"
#include "store.h"
#include "util.h"

#include "store_fixture.h"

#define TOKEN_A "milterAAAAAAAAAAAAAAAAAAAAAA" /* tracked by a message of the batch itself */
#define TOKEN_B "pipeBBBBBBBBBBBBBBBBBBBBBBBB" /* tracked before, as postmeter-pixelfilter does */
#define TOKEN_X "unknownXXXXXXXXXXXXXXXXXXXXX" /* nobody tracked it */

/* One record of the mixed batch. */
struct entry {
    char kind;          /* 'm': a message (tracking token if token), 'o': an open */
    const char *token;  /* open_token or track_token */
    const char *method; /* an open's */
    const char *cls;    /* an open's class */
    const char *ip;     /* an open's, NULL = none */
    const char *agent;  /* an open's, NULL = none */
    int64_t at;         /* received_at */
    bool stored;        /* an open's fate: a row (true) or discarded */
};

static const struct entry batch[] = {
    {'m', TOKEN_A, NULL, NULL, NULL, NULL, 900, true},
    {'o', TOKEN_A, "GET", "human", "192.0.2.0",
     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", 1000, true},
    {'o', TOKEN_B, "GET", "proxy", "2001:db8:1::", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)",
     1001, true},
    {'o', TOKEN_X, "GET", "human", "198.51.100.0", "Mozilla/5.0", 1002, false},
    {'m', NULL, NULL, NULL, NULL, NULL, 950, true},
    {'o', NULL, "HEAD", "scanner", NULL, NULL, 1003, false},
    {'o', TOKEN_A, "HEAD", "scanner", NULL, NULL, 999, true},
    {'o', "", "GET", "human", NULL, NULL, 1004, false},
    {'o', TOKEN_B, "GET", "prefetch", "203.0.113.0", "a\nb\xff\xfe\xc3(", 1005, true},
};
#define NBATCH (sizeof(batch) / sizeof(batch[0]))

/* entry_msg - the record of batch entry i (fresh uid); caller frees */
static struct ledger_msg *entry_msg(size_t i)
{
    const struct entry *e = &batch[i];
    struct ledger_msg *m;
    char reason[32];

    if (e->kind == 'm') {
        m = spec_msg(i % NSPECS);
        ledger_msg_set(&m->track_token, e->token);
        if (e->token)
            ledger_msg_set(&m->track_outcome, "injected");
        m->received_at = e->at;
        return m;
    }
    m = ledger_msg_new_open();
    snprintf(reason, sizeof(reason), "rule %zu", i);
    ledger_msg_set(&m->host, "px.example.org");
    ledger_msg_set(&m->open_token, e->token);
    ledger_msg_set(&m->open_ip, e->ip);
    ledger_msg_set(&m->open_agent, e->agent);
    ledger_msg_set(&m->open_method, e->method);
    ledger_msg_set(&m->open_class, e->cls);
    ledger_msg_set(&m->open_reason, reason);
    m->received_at = e->at;
    return m;
}

/* stored_rows - rows of pixel_opens with m's uid and exactly m's fields (0 or 1) */
static long long stored_rows(const char *path, const struct ledger_msg *m)
{
    static const char sql[] =
        "SELECT count(*) FROM pixel_opens o JOIN tracked_messages t ON t.id = o.tracked_id"
        " WHERE o.uid = ?1 AND t.token = ?2 AND o.opened_at = ?3 AND o.ip IS ?4"
        " AND o.user_agent IS ?5 AND o.method = ?6 AND o.class = ?7 AND o.reason IS ?8"
        " AND o.host IS ?9";
    const char *const strs[] = {m->uid,        m->open_token,  NULL,
                                m->open_ip,    m->open_agent,  m->open_method,
                                m->open_class, m->open_reason, m->host};
    sqlite3 *db;
    sqlite3_stmt *st;
    long long n = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < 9; i++) {
        if (i == 2)
            assert_int_equal(sqlite3_bind_int64(st, 3, m->received_at), SQLITE_OK);
        else if (strs[i])
            assert_int_equal(sqlite3_bind_text(st, i + 1, strs[i], -1, SQLITE_STATIC), SQLITE_OK);
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* tracked_db - a migrated database in which TOKEN_B is tracked (pipe mode); open store */
static struct store *tracked_db(const char *path)
{
    char *rcpts[] = {"bob@b.example"};
    const struct store_tracked t = {.token = TOKEN_B,
                                    .mail_from = "news@a.example",
                                    .mode = "pipe",
                                    .outcome = "injected",
                                    .created_at = 800,
                                    .rcpts = rcpts,
                                    .nrcpts = 1};
    struct store *s = open_ok(path, 0);

    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    assert_int_equal(store_put_tracked(s, &t), STORE_OK);
    return s;
}

/* count_fn - report callback: count the records, which must all be messages */
static int count_fn(const struct ledger_msg *m, void *arg)
{
    assert_int_equal(m->kind, LEDGER_MESSAGE);
    assert_non_null(m->action);
    (*(size_t *)arg)++;
    return 0;
}

/* test_mixed_batch - messages and opens in one batch: rows for known tokens, the rest
 * discarded and counted; the same batch again adds nothing; reports see messages only */
static void test_mixed_batch(void **state)
{
    const char *path = new_db();
    struct store *s = tracked_db(path);
    struct ledger_msg *msgs[NBATCH];
    size_t stored = 0, discarded = 0, msgn = 0, reported = 0;
    int64_t rows = -1, newest = -1;
    struct store_msg_filter f = {0};

    (void)state;
    for (size_t i = 0; i < NBATCH; i++) {
        msgs[i] = entry_msg(i);
        if (batch[i].kind == 'm')
            msgn++;
        else if (batch[i].stored)
            stored++;
        else
            discarded++;
    }
    assert_int_equal(store_put_messages(s, msgs, NBATCH), STORE_OK);
    assert_int_equal(store_added(s), msgn + stored);
    assert_int_equal(store_discarded(s), discarded);
    for (size_t i = 0; i < NBATCH; i++) {
        long long want = batch[i].kind == 'o' && batch[i].stored ? 1 : 0;

        if (batch[i].kind == 'o' && stored_rows(path, msgs[i]) != want)
            fail_msg("entry %zu: %lld rows, want %lld", i, stored_rows(path, msgs[i]), want);
    }
    assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens"), (long long)stored);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), (long long)msgn);
    /* the opens of TOKEN_A point at the row its message made in the same batch */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens o JOIN tracked_messages t"
                                   " ON t.id = o.tracked_id WHERE t.token = '" TOKEN_A
                                   "' AND t.mode = 'milter'"),
                     2);

    /* The same batch again (a replay): nothing added; unknown tokens are discarded again. */
    assert_int_equal(store_put_messages(s, msgs, NBATCH), STORE_OK);
    assert_int_equal(store_added(s), 0);
    assert_int_equal(store_discarded(s), discarded);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens"), (long long)stored);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), (long long)msgn);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM tracked_messages"), 2);

    /* Reports of messages never count an open. */
    assert_int_equal(store_report_messages(s, &f, count_fn, &reported), STORE_OK);
    assert_int_equal(reported, msgn);
    assert_int_equal(store_ledger_summary(s, 0, &rows, &newest), STORE_OK);
    assert_int_equal(rows, (int64_t)msgn);
    assert_int_equal(newest, 950);

    /* A batch of opens of unknown tokens only: nothing added, all discarded. */
    assert_int_equal(store_put_messages(s, &msgs[3], 1), STORE_OK);
    assert_int_equal(store_added(s), 0);
    assert_int_equal(store_discarded(s), 1);
    for (size_t i = 0; i < NBATCH; i++)
        ledger_msg_free(msgs[i]);
    store_close(s);
}

struct bad_open {
    const char *name, *method, *cls;
};

static const struct bad_open bad_opens[] = {
    {"no-class", "GET", NULL},
    {"unknown-class", "GET", "robot"},
    {"no-method", NULL, "human"},
    {"post", "POST", "human"},
};

/* test_bad_open_spoils_batch - an open the schema refuses fails its batch, which leaves
 * nothing behind and counts nothing */
static void test_bad_open_spoils_batch(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(bad_opens) / sizeof(bad_opens[0]); k++) {
        const char *path = new_db();
        struct store *s = tracked_db(path);
        struct ledger_msg *msgs[4] = {spec_msg(0), entry_msg(2), entry_msg(3), entry_msg(2)};

        ledger_msg_set(&msgs[3]->open_method, bad_opens[k].method);
        ledger_msg_set(&msgs[3]->open_class, bad_opens[k].cls);
        if (store_put_messages(s, msgs, 4) != STORE_ERROR)
            fail_msg("%s: the batch was taken", bad_opens[k].name);
        assert_int_equal(store_added(s), 0);
        assert_int_equal(store_discarded(s), 0);
        assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens"), 0);
        assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 0);
        /* without the bad one, the rest goes in */
        assert_int_equal(store_put_messages(s, msgs, 3), STORE_OK);
        assert_int_equal(store_added(s), 2);
        assert_int_equal(store_discarded(s), 1);
        for (size_t i = 0; i < 4; i++)
            ledger_msg_free(msgs[i]);
        store_close(s);
    }
}

/* plan - the query plan of sql, its steps joined by "; " into out[n] */
static const char *plan(const char *path, const char *sql, char *out, size_t n)
{
    char q[512];
    sqlite3 *db;
    sqlite3_stmt *st;

    out[0] = '\0';
    assert_true(snprintf_ok(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql));
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t len = strlen(out);

        assert_true(snprintf_ok(out + len, n - len, "%s; ", sqlite3_column_text(st, 3)));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

struct plan_case {
    const char *what, *sql;
    const char *want; /* in the plan */
};

static const struct plan_case plan_cases[] = {
    {"first human open of a message",
     "SELECT min(opened_at) FROM pixel_opens WHERE tracked_id = 1 AND class = 'human'",
     "SEARCH pixel_opens USING COVERING INDEX pixel_opens_tracked (tracked_id=? AND class=?)"},
    {"first open of a message, every class a seek",
     "SELECT min(opened_at) FROM pixel_opens WHERE tracked_id = 1"
     " AND class IN ('human', 'proxy', 'prefetch', 'scanner')",
     "SEARCH pixel_opens USING COVERING INDEX pixel_opens_tracked (tracked_id=? AND class=?)"},
    {"first open of a message", "SELECT min(opened_at) FROM pixel_opens WHERE tracked_id = 1",
     "SEARCH pixel_opens USING COVERING INDEX pixel_opens_tracked (tracked_id=?)"},
    {"opens of a message by class",
     "SELECT class, count(*) FROM pixel_opens WHERE tracked_id = 1 GROUP BY class",
     "SEARCH pixel_opens USING COVERING INDEX pixel_opens_tracked (tracked_id=?)"},
    {"first human open of every message",
     "SELECT tracked_id, min(opened_at) FROM pixel_opens WHERE class = 'human'"
     " GROUP BY tracked_id",
     "COVERING INDEX pixel_opens_tracked"},
    {"opens in a time range",
     "SELECT count(*) FROM pixel_opens WHERE opened_at >= 1000 AND opened_at < 2000",
     "SEARCH pixel_opens USING COVERING INDEX pixel_opens_opened_at (opened_at>? AND "
     "opened_at<?)"},
    {"token lookup of the writer", "SELECT id FROM tracked_messages WHERE token = 'x'",
     "SEARCH tracked_messages USING COVERING INDEX sqlite_autoindex_tracked_messages_1 "
     "(token=?)"},
};

/* test_report_queries_use_indexes - what the reports ask of opens is answered from an index */
static void test_report_queries_use_indexes(void **state)
{
    const char *path = new_db();
    struct store *s = tracked_db(path);
    char got[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++)
        if (strstr(plan(path, plan_cases[i].sql, got, sizeof(got)), plan_cases[i].want) == NULL)
            fail_msg("%s: plan is \"%s\"", plan_cases[i].what, got);
    store_close(s);
}

/* test_forget_takes_opens - a forgotten tracked message takes its opens; the check stays clean */
static void test_forget_takes_opens(void **state)
{
    const char *path = new_db();
    struct store *s = tracked_db(path);
    struct ledger_msg *msgs[NBATCH];
    struct buf out = BUF_INIT;

    (void)state;
    for (size_t i = 0; i < NBATCH; i++)
        msgs[i] = entry_msg(i);
    assert_int_equal(store_put_messages(s, msgs, NBATCH), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens"), 4);
    assert_int_equal(store_forget_tracked(s, TOKEN_B), STORE_OK);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens"), 2);
    assert_int_equal(store_check(s, store_migrations, store_migrations_count, &out), STORE_OK);
    assert_non_null(strstr(buf_cstr(&out), "foreign keys: ok\n"));
    buf_free(&out);
    for (size_t i = 0; i < NBATCH; i++)
        ledger_msg_free(msgs[i]);
    store_close(s);
}

/* test_migrate_from_5 - a database of schema 5 with tracked mail gets the opens table, keeps
 * its rows, takes opens, and checks clean at the new version */
static void test_migrate_from_5(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *m = entry_msg(0), *o = entry_msg(1);
    struct buf out = BUF_INIT;
    char want[64];

    (void)state;
    assert_true(store_migrations_count >= 6);
    assert_int_equal(store_migrations[5].version, 6);
    assert_string_equal(store_migrations[5].name, "opens");
    assert_int_equal(store_migrate(s, store_migrations, 5), STORE_OK);
    /* the tracked row as a binary of schema 5 wrote it (this one writes later columns too) */
    assert_int_equal(sql_int(path,
                             "INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                             " VALUES ('" TOKEN_A "', 'milter', 'injected', 900) RETURNING id"),
                     1);
    assert_int_equal(store_check(s, store_migrations, store_migrations_count, &out), STORE_ERROR);
    assert_non_null(strstr(buf_cstr(&out), "run 'postmeter db migrate'"));
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'pixel_opens'"),
                     0);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    assert_int_equal(store_version(s), (int)store_migrations_count);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM tracked_messages"), 1);
    assert_int_equal(store_put_messages(s, &o, 1), STORE_OK);
    assert_int_equal(store_added(s), 1);
    buf_reset(&out);
    assert_int_equal(store_check(s, store_migrations, store_migrations_count, &out), STORE_OK);
    assert_true(
        snprintf_ok(want, sizeof(want), "schema version: %zu (current)\n", store_migrations_count));
    assert_non_null(strstr(buf_cstr(&out), want));
    buf_free(&out);
    ledger_msg_free(m);
    ledger_msg_free(o);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_batch),
        cmocka_unit_test(test_bad_open_spoils_batch),
        cmocka_unit_test(test_report_queries_use_indexes),
        cmocka_unit_test(test_forget_takes_opens),
        cmocka_unit_test(test_migrate_from_5),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
