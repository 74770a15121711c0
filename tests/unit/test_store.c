/*
 * test_store.c - the SQLite store: migrations on a fresh database and as
 * an upgrade (only the newer ones run, data is kept), refusal of a
 * database newer than the binary and of badly numbered migrations, a
 * failing migration rolled back, store_check, put/report of messages
 * with every field and filter, idempotent puts, all-or-nothing batches,
 * open errors, read-only access and WAL mode.
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
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "ledger_msg.h"
#include "store.h"
#include "util.h"

static char tmpdir[] = "/tmp/pm-test-store-XXXXXX";
static unsigned db_no;

/* new_db - a fresh database file name in the test directory (static buffer) */
static const char *new_db(void)
{
    static char path[256];

    assert_true(snprintf_ok(path, sizeof(path), "%s/db-%u.sqlite", tmpdir, ++db_no));
    return path;
}

/* open_ok - store_open that must succeed */
static struct store *open_ok(const char *path, int flags)
{
    char err[512] = "";
    struct store *s = store_open(path, flags, err, sizeof(err));

    if (s == NULL)
        fail_msg("store_open %s: %s", path, err);
    return s;
}

/* sql_int - first column of the first row of sql on a separate connection (-1 if no row) */
static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* sql_text - first column of the first row as text into out[outlen] ("" if none) */
static const char *sql_text(const char *path, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    out[0] = '\0';
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        assert_true(strlcpy_ok(out, (const char *)sqlite3_column_text(st, 0), outlen));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* sql_exec - run sql on a separate connection; must succeed */
static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* has_table - the database at path has a table called name */
static bool has_table(const char *path, const char *name)
{
    char sql[256];

    assert_true(snprintf_ok(
        sql, sizeof(sql), "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
        name));
    return sql_int(path, sql) == 1;
}

/* Test migrations: version 1, then 2 on top of it. */
static const struct store_migration mig_v1 = {
    1, "first", "CREATE TABLE t (a INTEGER NOT NULL);\nINSERT INTO t (a) VALUES (1);\n"};
static const struct store_migration mig_v2 = {
    2, "second",
    "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x';\n"
    "CREATE TABLE applied (n INTEGER);\nINSERT INTO applied (n) VALUES (2);\n"};
static const struct store_migration mig_bad = {
    2, "broken", "CREATE TABLE half (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"};

/* test_fresh_database - an empty file migrates to the embedded version, in WAL mode */
static void test_fresh_database(void **state)
{
    const char *path = new_db();
    struct store *s;
    char mode[32];
    char want[32];

    (void)state;
    assert_true(store_migrations_count >= 1);
    for (size_t i = 0; i < store_migrations_count; i++) {
        assert_int_equal(store_migrations[i].version, (int)i + 1);
        assert_non_null(store_migrations[i].name);
        assert_non_null(store_migrations[i].sql);
    }
    assert_string_equal(store_migrations[0].name, "initial");
    s = open_ok(path, 0);
    assert_int_equal(store_version(s), 0);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    assert_int_equal(store_version(s), (int)store_migrations_count);
    /* Migrating again changes nothing. */
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    assert_int_equal(store_version(s), (int)store_migrations_count);
    /* Seen from another connection: user_version, tables and WAL mode. */
    assert_int_equal(sql_int(path, "PRAGMA user_version"), (long long)store_migrations_count);
    assert_true(has_table(path, "messages"));
    assert_true(has_table(path, "message_recipients"));
    assert_string_equal(sql_text(path, "PRAGMA journal_mode", mode, sizeof(mode)), "wal");
    store_close(s);
    /* WAL is a property of the file: it stays after the store is closed. */
    assert_string_equal(sql_text(path, "PRAGMA journal_mode", mode, sizeof(mode)), "wal");
    snprintf(want, sizeof(want), "%zu", store_migrations_count);
    assert_string_equal(sql_text(path, "PRAGMA user_version", mode, sizeof(mode)), want);
}

/* test_upgrade - a version 1 database gets only migration 2, and keeps its rows */
static void test_upgrade(void **state)
{
    const struct store_migration both[] = {mig_v1, mig_v2};
    const char *path = new_db();
    struct store *s = open_ok(path, 0);

    (void)state;
    assert_int_equal(store_migrate(s, both, 1), STORE_OK);
    assert_int_equal(store_version(s), 1);
    assert_false(has_table(path, "applied"));
    store_close(s);
    sql_exec(path, "INSERT INTO t (a) VALUES (42)");

    s = open_ok(path, 0);
    assert_int_equal(store_migrate(s, both, 2), STORE_OK);
    assert_int_equal(store_version(s), 2);
    store_close(s);
    /* Migration 1 did not run again: its INSERT would have added a second 1. */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM t"), 2);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM t WHERE a = 42 AND b = 'x'"), 1);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM applied"), 1);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 2);
}

/* test_upgrade_embedded - the embedded schema plus one more migration keeps ledger rows */
static void test_upgrade_embedded(void **state)
{
    size_t n = store_migrations_count;
    struct store_migration *more = xcalloc(n + 1, sizeof(*more));
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *m = ledger_msg_new();

    (void)state;
    memcpy(more, store_migrations, n * sizeof(*more));
    more[n].version = (int)n + 1;
    more[n].name = "test_extra";
    more[n].sql = "CREATE TABLE test_extra (id INTEGER PRIMARY KEY, note TEXT);";
    assert_int_equal(store_migrate(s, store_migrations, n), STORE_OK);
    ledger_msg_set(&m->action, "accept");
    ledger_msg_add_rcpt(m, "bob@example.test");
    m->received_at = 1795000000;
    assert_int_equal(store_put_messages(s, &m, 1), STORE_OK);
    assert_int_equal(store_migrate(s, more, n + 1), STORE_OK);
    assert_int_equal(store_version(s), (int)n + 1);
    store_close(s);
    assert_true(has_table(path, "test_extra"));
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 1);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), 1);
    ledger_msg_free(m);
    free(more);
}

/* test_newer_database_refused - a database ahead of the binary is never touched */
static void test_newer_database_refused(void **state)
{
    const struct store_migration both[] = {mig_v1, mig_v2};
    const char *path = new_db();
    struct store *s = open_ok(path, 0);

    (void)state;
    assert_int_equal(store_migrate(s, both, 2), STORE_OK);
    assert_int_equal(store_migrate(s, both, 1), STORE_ERROR);
    assert_non_null(strstr(store_error(s), "newer than this binary"));
    assert_int_equal(store_version(s), 2);
    store_close(s);
    /* The same against the embedded table. */
    path = new_db();
    s = open_ok(path, 0);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
    sql_exec(path, "PRAGMA user_version = 99");
    s = open_ok(path, 0);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_ERROR);
    assert_non_null(strstr(store_error(s), "version 99 is newer"));
    assert_int_equal(store_version(s), 99);
    store_close(s);
}

struct numbering_case {
    const char *name;
    int versions[3];
    size_t n;
};

static const struct numbering_case numbering_cases[] = {
    {"gap", {1, 3}, 2},  {"starts-at-2", {2}, 1},  {"repeated", {1, 1}, 2},
    {"zero", {0, 1}, 2}, {"backwards", {2, 1}, 2}, {"gap-later", {1, 2, 4}, 3},
};

/* test_numbering_refused - badly numbered migrations are refused before any of them runs */
static void test_numbering_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(numbering_cases) / sizeof(numbering_cases[0]); i++) {
        const struct numbering_case *nc = &numbering_cases[i];
        struct store_migration m[3];
        const char *path = new_db();
        struct store *s = open_ok(path, 0);

        for (size_t k = 0; k < nc->n; k++) {
            m[k] = mig_v1;
            m[k].version = nc->versions[k];
        }
        if (store_migrate(s, m, nc->n) != STORE_ERROR)
            fail_msg("%s: accepted", nc->name);
        if (strstr(store_error(s), "expected") == NULL)
            fail_msg("%s: error \"%s\"", nc->name, store_error(s));
        assert_int_equal(store_version(s), 0);
        store_close(s);
        assert_false(has_table(path, "t"));
    }
}

/* test_failed_migration_rolled_back - a migration with an SQL error leaves no trace */
static void test_failed_migration_rolled_back(void **state)
{
    const struct store_migration with_bad[] = {mig_v1, mig_bad};
    const char *path = new_db();
    struct store *s = open_ok(path, 0);

    (void)state;
    /* Migration 1 commits on its own; migration 2 fails and is rolled back. */
    assert_int_equal(store_migrate(s, with_bad, 2), STORE_ERROR);
    assert_non_null(strstr(store_error(s), "migration 2 (broken)"));
    assert_non_null(strstr(store_error(s), "no_such_table"));
    assert_int_equal(store_version(s), 1);
    /* Still usable afterwards: no transaction left open. */
    assert_int_equal(store_migrate(s, with_bad, 1), STORE_OK);
    store_close(s);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 1);
    assert_true(has_table(path, "t"));
    assert_false(has_table(path, "half"));
    assert_int_equal(sql_int(path, "SELECT count(*) FROM t"), 1);
}

struct check_case {
    const char *name;
    const char *set_version; /* SQL run after migrating, or NULL */
    enum store_status want;
    const char *line; /* a line the report must contain */
};

static const struct check_case check_cases[] = {
    {"current", NULL, STORE_OK, "schema version: 1 (current)\n"},
    {"behind", "PRAGMA user_version = 0", STORE_ERROR, "run 'postmeter db migrate'\n"},
    {"ahead", "PRAGMA user_version = 7", STORE_ERROR, "schema version: 7 is newer"},
};

/* test_check - store_check passes a good database and fails a wrong version */
static void test_check(void **state)
{
    const struct store_migration v1[] = {mig_v1};

    (void)state;
    for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        const struct check_case *cc = &check_cases[i];
        const char *path = new_db();
        struct store *s = open_ok(path, 0);
        struct buf out = BUF_INIT;
        enum store_status st;

        assert_int_equal(store_migrate(s, v1, 1), STORE_OK);
        if (cc->set_version)
            sql_exec(path, cc->set_version);
        st = store_check(s, v1, 1, &out);
        if (st != cc->want || strstr(buf_cstr(&out), cc->line) == NULL)
            fail_msg("%s: status %d, report:\n%s", cc->name, st, buf_cstr(&out));
        assert_non_null(strstr(buf_cstr(&out), "integrity: ok\n"));
        assert_non_null(strstr(buf_cstr(&out), "foreign keys: ok\n"));
        buf_free(&out);
        store_close(s);
    }
}

/* test_check_embedded - the embedded schema checks clean, read-only too */
static void test_check_embedded(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct buf out = BUF_INIT;
    char want[64];

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
    s = open_ok(path, STORE_READONLY | STORE_NOCREATE);
    assert_int_equal(store_check(s, store_migrations, store_migrations_count, &out), STORE_OK);
    snprintf(want, sizeof(want), "schema version: %zu (current)\n", store_migrations_count);
    assert_non_null(strstr(buf_cstr(&out), want));
    buf_free(&out);
    store_close(s);
}

/* Messages for the put/report tests; seq is stored in size. */
struct msg_spec {
    int64_t received_at;
    enum ledger_direction dir;
    const char *mail_from, *header_from, *subject;
    const char *rcpts[3];
};

static const struct msg_spec specs[] = {
    {1000, LEDGER_INBOUND, "alice@a.example", "alice@a.example", "one", {"bob@b.example", NULL}},
    {2000, LEDGER_OUTBOUND, "", "Carol@C.example", NULL, {"Dave@D.example", "bob@B.EXAMPLE", NULL}},
    {3000, LEDGER_INBOUND, "ALICE@A.EXAMPLE", "other@x.example", "three", {NULL}},
    {3000, LEDGER_OUTBOUND, "erin@e.example", NULL, "four", {"erin2@e.example", NULL}},
    {5000, LEDGER_INBOUND, NULL, NULL, NULL, {"bob@b.example", NULL}},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

/* spec_msg - record number i of specs, with every other field set from i; caller frees */
static struct ledger_msg *spec_msg(size_t i)
{
    const struct msg_spec *sp = &specs[i];
    struct ledger_msg *m = ledger_msg_new();
    char s[64];

    snprintf(s, sizeof(s), "Q%zu", i);
    ledger_msg_set(&m->queue_id, s);
    ledger_msg_set(&m->host, "mx.example.org");
    snprintf(s, sizeof(s), "<%zu@example.org>", i);
    ledger_msg_set(&m->message_id, s);
    ledger_msg_set(&m->date_header, i % 2 ? NULL : "Tue, 24 Nov 2026 10:00:00 +0000");
    m->direction = sp->dir;
    ledger_msg_set(&m->client_ip, i == 4 ? NULL : "192.0.2.9");
    ledger_msg_set(&m->client_ptr, i == 1 ? "ptr.example.net" : NULL);
    ledger_msg_set(&m->helo, "helo.example.net");
    ledger_msg_set(&m->sasl_user, sp->dir == LEDGER_OUTBOUND ? "alice" : NULL);
    ledger_msg_set(&m->mail_from, sp->mail_from);
    ledger_msg_set(&m->header_from, sp->header_from);
    ledger_msg_set(&m->subject, sp->subject);
    ledger_msg_set(&m->action, i == 2 ? "quarantine" : "accept");
    m->size = (int64_t)i;
    m->received_at = sp->received_at;
    for (size_t k = 0; sp->rcpts[k]; k++)
        ledger_msg_add_rcpt(m, sp->rcpts[k]);
    /* Inbound records carry i authentication results (dkim per signature). */
    for (size_t k = 0; sp->dir == LEDGER_INBOUND && k < i; k++) {
        struct ledger_auth *a = ledger_msg_add_auth(m, k == 0 ? "spf" : "dkim", "pass");

        ledger_msg_set(&a->identity, "a.example");
        ledger_msg_set(&a->selector, k ? "s1" : NULL);
    }
    return m;
}

/* same_str - NULL-aware string equality */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

struct collect {
    struct ledger_msg *const *put; /* what was stored, by seq */
    int seqs[16];
    size_t n;
    size_t stop_after; /* return non-zero after this many (0 = never) */
};

/* collect_fn - report callback: check the record against what was put, note its seq */
static int collect_fn(const struct ledger_msg *m, void *arg)
{
    struct collect *c = arg;
    const struct ledger_msg *w;

    assert_true(m->size >= 0 && m->size < (int64_t)NSPECS && c->n < 16);
    w = c->put[m->size];
    assert_string_equal(m->uid, w->uid);
    assert_true(same_str(m->host, w->host));
    assert_true(same_str(m->queue_id, w->queue_id));
    assert_true(same_str(m->message_id, w->message_id));
    assert_true(same_str(m->date_header, w->date_header));
    assert_int_equal(m->direction, w->direction);
    assert_true(same_str(m->client_ip, w->client_ip));
    assert_true(same_str(m->client_ptr, w->client_ptr));
    assert_true(same_str(m->helo, w->helo));
    assert_true(same_str(m->sasl_user, w->sasl_user));
    assert_true(same_str(m->mail_from, w->mail_from));
    assert_true(same_str(m->header_from, w->header_from));
    assert_true(same_str(m->subject, w->subject));
    assert_true(same_str(m->action, w->action));
    assert_true(m->received_at == w->received_at);
    assert_int_equal(m->nrcpts, w->nrcpts);
    for (size_t i = 0; i < m->nrcpts; i++)
        assert_string_equal(m->rcpts[i], w->rcpts[i]);
    assert_int_equal(m->nauth, w->nauth);
    for (size_t i = 0; i < m->nauth; i++) {
        assert_string_equal(m->auth[i].method, w->auth[i].method);
        assert_string_equal(m->auth[i].result, w->auth[i].result);
        assert_true(same_str(m->auth[i].identity, w->auth[i].identity));
        assert_true(same_str(m->auth[i].selector, w->auth[i].selector));
        assert_null(m->auth[i].policy);
    }
    c->seqs[c->n++] = (int)m->size;
    return c->stop_after && c->n >= c->stop_after;
}

/* put_specs - a migrated database holding specs[] (put in two batches); msgs[] filled */
static struct store *put_specs(const char *path, struct ledger_msg **msgs)
{
    struct store *s = open_ok(path, 0);

    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < NSPECS; i++)
        msgs[i] = spec_msg(i);
    assert_int_equal(store_put_messages(s, msgs, 2), STORE_OK);
    assert_int_equal(store_put_messages(s, msgs + 2, NSPECS - 2), STORE_OK);
    assert_int_equal(store_put_messages(s, msgs, 0), STORE_OK);
    return s;
}

struct filter_case {
    const char *name;
    struct store_msg_filter f;
    int want[NSPECS + 1]; /* seqs in report order, -1 terminated */
};

static const struct filter_case filter_cases[] = {
    {"all", {0}, {0, 1, 2, 3, 4, -1}},
    {"since", {.since = 3000}, {2, 3, 4, -1}},
    {"until", {.until = 3000}, {0, 1, -1}},
    {"since-until", {.since = 2000, .until = 5000}, {1, 2, 3, -1}},
    {"sender-envelope-nocase", {.sender = "Alice@a.Example"}, {0, 2, -1}},
    {"sender-header", {.sender = "carol@c.example"}, {1, -1}},
    {"sender-null", {.sender = ""}, {1, -1}},
    {"recipient-nocase", {.recipient = "BOB@b.example"}, {0, 1, 4, -1}},
    {"recipient-second", {.recipient = "dave@d.example"}, {1, -1}},
    {"recipient-none", {.recipient = "nobody@b.example"}, {-1}},
    {"limit", {.limit = 2}, {0, 1, -1}},
    {"all-filters", {.since = 1, .until = 4000, .recipient = "bob@b.example", .limit = 1}, {0, -1}},
    {"sender-and-recipient", {.sender = "alice@a.example", .recipient = "bob@b.example"}, {0, -1}},
};

/* test_put_and_report - every field comes back, filters select and order as documented */
static void test_put_and_report(void **state)
{
    const char *path = new_db();
    struct ledger_msg *msgs[NSPECS];
    struct store *s = put_specs(path, msgs);

    (void)state;
    for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
        const struct filter_case *fc = &filter_cases[i];
        struct collect c = {.put = msgs};
        size_t nwant = 0;

        while (fc->want[nwant] >= 0)
            nwant++;
        assert_int_equal(store_report_messages(s, &fc->f, collect_fn, &c), STORE_OK);
        if (c.n != nwant || memcmp(c.seqs, fc->want, nwant * sizeof(int)) != 0)
            fail_msg("%s: got %zu records (first %d), want %zu", fc->name, c.n,
                     c.n ? c.seqs[0] : -1, nwant);
    }
    /* A NULL filter is no filter; a callback can stop the walk. */
    {
        struct collect c = {.put = msgs, .stop_after = 3};

        assert_int_equal(store_report_messages(s, NULL, collect_fn, &c), STORE_OK);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.seqs[2], 2);
    }
    store_close(s);
    /* Read-only connections report too. */
    s = open_ok(path, STORE_READONLY);
    {
        struct collect c = {.put = msgs};

        assert_int_equal(store_report_messages(s, NULL, collect_fn, &c), STORE_OK);
        assert_int_equal(c.n, NSPECS);
    }
    store_close(s);
    for (size_t i = 0; i < NSPECS; i++)
        ledger_msg_free(msgs[i]);
}

struct auth_spec {
    const char *from_domain; /* dmarc identity; NULL = no dmarc row */
    const char *spf, *dmarc; /* results; NULL = no row */
    const char *dkim[3];     /* dkim results, NULL-terminated */
    const char *action;
    enum ledger_direction dir;
    int64_t at;
};

static const struct auth_spec auth_specs[] = {
    {"a.example", "pass", "pass", {"pass", NULL}, "accept", LEDGER_INBOUND, 100},
    {"A.Example", "fail", "fail", {"fail", NULL}, "reject", LEDGER_INBOUND, 200},
    {"a.example", "softfail", "fail", {"fail", "pass", NULL}, "quarantine", LEDGER_INBOUND, 300},
    {"news.a.example", "none", "pass", {"pass", NULL}, "accept", LEDGER_INBOUND, 400},
    {"b.example", "pass", "none", {NULL}, "accept", LEDGER_INBOUND, 500},
    {"a.example", NULL, NULL, {NULL}, "accept", LEDGER_OUTBOUND, 600}, /* not counted */
    {NULL, "pass", "permerror", {NULL}, "accept", LEDGER_INBOUND, 700},
    {"xa.example", "pass", "pass", {NULL}, "accept", LEDGER_INBOUND, 800},
};
#define NAUTHSPECS (sizeof(auth_specs) / sizeof(auth_specs[0]))

struct auth_want {
    const char *domain;
    int64_t n[9]; /* messages spf_pass spf_fail dkim_pass dkim_fail dmarc_pass dmarc_fail
                     rejected quarantined */
};

struct auth_collect {
    struct auth_want got[NAUTHSPECS];
    size_t n;
};

/* auth_fn - report callback: copy the row */
static int auth_fn(const struct store_auth_row *r, void *arg)
{
    struct auth_collect *c = arg;
    struct auth_want *w = &c->got[c->n++];

    w->domain = strdup(r->domain);
    w->n[0] = r->messages;
    w->n[1] = r->spf_pass;
    w->n[2] = r->spf_fail;
    w->n[3] = r->dkim_pass;
    w->n[4] = r->dkim_fail;
    w->n[5] = r->dmarc_pass;
    w->n[6] = r->dmarc_fail;
    w->n[7] = r->rejected;
    w->n[8] = r->quarantined;
    return 0;
}

struct auth_case {
    const char *name;
    struct store_auth_filter f;
    struct auth_want want[6]; /* in report order; domain NULL ends */
};

static const struct auth_case auth_cases[] = {
    {"all",
     {0},
     {{"a.example", {3, 1, 2, 2, 1, 1, 2, 1, 1}},
      {"", {1, 1, 0, 0, 0, 0, 0, 0, 0}},
      {"b.example", {1, 1, 0, 0, 0, 0, 0, 0, 0}},
      {"news.a.example", {1, 0, 0, 1, 0, 1, 0, 0, 0}},
      {"xa.example", {1, 1, 0, 0, 0, 1, 0, 0, 0}}}},
    {"domain-and-subdomains",
     {.domain = "A.EXAMPLE"},
     {{"a.example", {3, 1, 2, 2, 1, 1, 2, 1, 1}}, {"news.a.example", {1, 0, 0, 1, 0, 1, 0, 0, 0}}}},
    {"since-until",
     {.since = 200, .until = 500},
     {{"a.example", {2, 0, 2, 1, 1, 0, 2, 1, 1}}, {"news.a.example", {1, 0, 0, 1, 0, 1, 0, 0, 0}}}},
};

/* test_report_auth - counts per header.from domain, inbound only, filters */
static void test_report_auth(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *msgs[NAUTHSPECS];

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < NAUTHSPECS; i++) {
        const struct auth_spec *a = &auth_specs[i];
        struct ledger_msg *m = msgs[i] = ledger_msg_new();
        struct ledger_auth *r;

        m->direction = a->dir;
        m->received_at = a->at;
        ledger_msg_set(&m->action, a->action);
        if (a->spf)
            ledger_msg_set(&ledger_msg_add_auth(m, "spf", a->spf)->identity, "x.example");
        for (size_t k = 0; a->dkim[k]; k++)
            ledger_msg_add_auth(m, "dkim", a->dkim[k]);
        if (a->dmarc) {
            r = ledger_msg_add_auth(m, "dmarc", a->dmarc);
            ledger_msg_set(&r->identity, a->from_domain);
        }
    }
    assert_int_equal(store_put_messages(s, msgs, NAUTHSPECS), STORE_OK);
    for (size_t c = 0; c < sizeof(auth_cases) / sizeof(auth_cases[0]); c++) {
        const struct auth_case *ac = &auth_cases[c];
        struct auth_collect got = {0};
        size_t nwant = 0;

        assert_int_equal(store_report_auth(s, &ac->f, auth_fn, &got), STORE_OK);
        while (nwant < 6 && ac->want[nwant].domain)
            nwant++;
        if (got.n != nwant)
            fail_msg("%s: %zu rows, want %zu", ac->name, got.n, nwant);
        for (size_t i = 0; i < nwant; i++) {
            if (strcmp(got.got[i].domain, ac->want[i].domain) != 0)
                fail_msg("%s: row %zu is %s, want %s", ac->name, i, got.got[i].domain,
                         ac->want[i].domain);
            for (size_t k = 0; k < 9; k++)
                if (got.got[i].n[k] != ac->want[i].n[k])
                    fail_msg("%s: %s count %zu is %lld, want %lld", ac->name, ac->want[i].domain, k,
                             (long long)got.got[i].n[k], (long long)ac->want[i].n[k]);
            free((char *)got.got[i].domain);
        }
    }
    store_close(s);
    for (size_t i = 0; i < NAUTHSPECS; i++)
        ledger_msg_free(msgs[i]);
}

/* test_put_idempotent - a uid already stored is skipped, with its recipients */
static void test_put_idempotent(void **state)
{
    const char *path = new_db();
    struct ledger_msg *msgs[NSPECS], *twice[3];
    struct store *s = put_specs(path, msgs);
    long long nrcpts = 0;

    (void)state;
    for (size_t i = 0; i < NSPECS; i++)
        nrcpts += (long long)msgs[i]->nrcpts;
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), nrcpts);
    /* Again in a later batch, and twice within one batch. */
    assert_int_equal(store_put_messages(s, msgs, NSPECS), STORE_OK);
    twice[0] = msgs[1];
    twice[1] = ledger_msg_new();
    twice[2] = twice[1];
    ledger_msg_set(&twice[1]->action, "accept");
    ledger_msg_add_rcpt(twice[1], "x@example.test");
    assert_int_equal(store_put_messages(s, twice, 3), STORE_OK);
    store_close(s);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), NSPECS + 1);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), nrcpts + 1);
    assert_int_equal(sql_int(path, "SELECT count(DISTINCT uid) FROM messages"), NSPECS + 1);
    ledger_msg_free(twice[1]);
    for (size_t i = 0; i < NSPECS; i++)
        ledger_msg_free(msgs[i]);
}

/* test_put_all_or_nothing - one refused record fails the whole batch, with STORE_ERROR */
static void test_put_all_or_nothing(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *m[3];

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < 3; i++) {
        m[i] = spec_msg(i);
    }
    /* action is NOT NULL in the schema: the one way a ledger record can be refused. */
    m[2]->action = xfree(m[2]->action);
    assert_int_equal(store_put_messages(s, m, 3), STORE_ERROR);
    assert_non_null(strstr(store_error(s), "NOT NULL"));
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), 0);
    /* The connection is still usable: the good ones go in afterwards. */
    assert_int_equal(store_put_messages(s, m, 2), STORE_OK);
    store_close(s);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 2);
    for (size_t i = 0; i < 3; i++)
        ledger_msg_free(m[i]);
}

struct open_case {
    const char *name;
    const char *file; /* under tmpdir; NULL = the dsn itself */
    const char *dsn;
    int flags;
    const char *err; /* expected in the message */
};

static const struct open_case open_cases[] = {
    {"missing-nocreate", "missing.db", NULL, STORE_NOCREATE, "unable to open database file"},
    {"missing-readonly", "missing.db", NULL, STORE_READONLY, "unable to open database file"},
    {"missing-directory", "no-dir/x.db", NULL, 0, "unable to open database file"},
    {"not-a-database", "junk.db", NULL, 0, "file is not a database"},
    {"directory", ".", NULL, 0, "open"},
    {"empty-dsn", NULL, "", 0, "no database configured"},
    {"postgres", NULL, "postgresql://db.example/postmeter", 0, "PostgreSQL"},
};

/* test_open_errors - an unusable dsn gives NULL and a one-line reason; nothing is created */
static void test_open_errors(void **state)
{
    char junk[300];
    FILE *fp;

    (void)state;
    assert_true(snprintf_ok(junk, sizeof(junk), "%s/junk.db", tmpdir));
    fp = fopen(junk, "w");
    assert_non_null(fp);
    fputs("this is not an SQLite database, but it is long enough to have a header..........\n", fp);
    fclose(fp);
    for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
        const struct open_case *oc = &open_cases[i];
        char path[300], err[512] = "";
        struct store *s;

        if (oc->file)
            assert_true(snprintf_ok(path, sizeof(path), "%s/%s", tmpdir, oc->file));
        else
            assert_true(strlcpy_ok(path, oc->dsn, sizeof(path)));
        s = store_open(path, oc->flags, err, sizeof(err));
        if (s != NULL || strstr(err, oc->err) == NULL || strchr(err, '\n') != NULL)
            fail_msg("%s: got %p, \"%s\"", oc->name, (void *)s, err);
    }
    assert_int_equal(access(junk, F_OK), 0);
    {
        char path[300];

        assert_true(snprintf_ok(path, sizeof(path), "%s/missing.db", tmpdir));
        assert_int_equal(access(path, F_OK), -1); /* STORE_NOCREATE created nothing */
    }
}

/* test_readonly_connection - writes through STORE_READONLY are transient failures */
static void test_readonly_connection(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *m = spec_msg(0);

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
    s = open_ok(path, STORE_READONLY);
    assert_int_equal(store_version(s), (int)store_migrations_count);
    /* STORE_RETRY, not STORE_ERROR: the ledger must keep the record and try later. */
    assert_int_equal(store_put_messages(s, &m, 1), STORE_RETRY);
    assert_non_null(strstr(store_error(s), "readonly"));
    store_close(s);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 0);
    ledger_msg_free(m);
}

/*
 * set_thread_ids - change this thread's effective uid/gid only. Root
 * ignores file permission bits, so a read-only file needs a non-root
 * effective uid; the raw system calls (not the glibc wrappers, which
 * change every thread) let the test switch back to root afterwards.
 */
static bool set_thread_ids(uid_t uid, gid_t gid)
{
    if (uid != 0)
        return syscall(SYS_setresgid, -1, gid, -1) == 0 && syscall(SYS_setresuid, -1, uid, -1) == 0;
    return syscall(SYS_setresuid, -1, 0, -1) == 0 && syscall(SYS_setresgid, -1, 0, -1) == 0;
}

/* test_readonly_file - a 0444 database file, written by a non-root user, fails as "try
 * again later"; made writable again, it takes writes (side files left read-only by the
 * failed attempt included) */
static void test_readonly_file(void **state)
{
    char dir[256], path[300];
    struct store *s;
    struct ledger_msg *m = spec_msg(0);
    enum store_status st;
    char err[512] = "";

    (void)state;
    /* Needs root, to create a file another user cannot write. */
    if (getuid() != 0)
        skip();
    assert_true(snprintf_ok(dir, sizeof(dir), "%s/ro", tmpdir));
    assert_true(snprintf_ok(path, sizeof(path), "%s/ledger.db", dir));
    assert_int_equal(chmod(tmpdir, 0711), 0); /* mkdtemp made it 0700: let nobody through */
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_int_equal(chmod(dir, 0777), 0); /* nobody may create the -wal and -shm files */
    s = open_ok(path, 0);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
    assert_int_equal(chown(path, 65534, 65534), 0);
    assert_int_equal(chmod(path, 0444), 0);

    assert_true(set_thread_ids(65534, 65534));
    s = store_open(path, 0, err, sizeof(err));
    /* Refusing at open or at the write are both fine; an error that is final is not. */
    st = s ? store_put_messages(s, &m, 1) : STORE_RETRY;
    if (s)
        assert_true(strlcpy_ok(err, store_error(s), sizeof(err)));
    store_close(s);
    assert_true(set_thread_ids(0, 0));
    if (st != STORE_RETRY || (strstr(err, "readonly") == NULL && strstr(err, "read-only") == NULL))
        fail_msg("write to a read-only file: status %d, \"%s\"", st, err);

    assert_int_equal(chmod(path, 0644), 0);
    assert_true(set_thread_ids(65534, 65534));
    s = store_open(path, 0, err, sizeof(err));
    st = s ? store_put_messages(s, &m, 1) : STORE_ERROR;
    if (s)
        assert_true(strlcpy_ok(err, store_error(s), sizeof(err)));
    store_close(s);
    assert_true(set_thread_ids(0, 0));
    if (st != STORE_OK)
        fail_msg("writable again: status %d, \"%s\"", st, err);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 1);
    ledger_msg_free(m);
}

/* rm_entry - nftw callback: remove one entry */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* setup - a private temporary directory */
static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* teardown - remove the temporary directory and everything in it */
static int teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_database),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_upgrade_embedded),
        cmocka_unit_test(test_newer_database_refused),
        cmocka_unit_test(test_numbering_refused),
        cmocka_unit_test(test_failed_migration_rolled_back),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_embedded),
        cmocka_unit_test(test_put_and_report),
        cmocka_unit_test(test_put_idempotent),
        cmocka_unit_test(test_report_auth),
        cmocka_unit_test(test_put_all_or_nothing),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_readonly_connection),
        cmocka_unit_test(test_readonly_file),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
