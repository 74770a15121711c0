/*
 * test_store.c - the SQLite store's schema handling: migrations on a
 * fresh database and as an upgrade (only the newer ones run, data is
 * kept), refusal of a database newer than the binary and of badly
 * numbered migrations, a failing migration rolled back, store_check,
 * open errors, read-only access and WAL mode. Ledger records put and
 * reported are in test_store_ledger.c, what both share in
 * store_fixture.c.
 */
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

#include "store_fixture.h"

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

struct open_case {
    const char *name;
    const char *file; /* under store_fixture_dir(); NULL = the dsn itself */
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
    assert_true(snprintf_ok(junk, sizeof(junk), "%s/junk.db", store_fixture_dir()));
    fp = fopen(junk, "w");
    assert_non_null(fp);
    fputs("this is not an SQLite database, but it is long enough to have a header..........\n", fp);
    fclose(fp);
    for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
        const struct open_case *oc = &open_cases[i];
        char path[300], err[512] = "";
        struct store *s;

        if (oc->file)
            assert_true(snprintf_ok(path, sizeof(path), "%s/%s", store_fixture_dir(), oc->file));
        else
            assert_true(strlcpy_ok(path, oc->dsn, sizeof(path)));
        s = store_open(path, oc->flags, err, sizeof(err));
        if (s != NULL || strstr(err, oc->err) == NULL || strchr(err, '\n') != NULL)
            fail_msg("%s: got %p, \"%s\"", oc->name, (void *)s, err);
    }
    assert_int_equal(access(junk, F_OK), 0);
    {
        char path[300];

        assert_true(snprintf_ok(path, sizeof(path), "%s/missing.db", store_fixture_dir()));
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
    struct ledger_msg *m;
    enum store_status st;
    char err[512] = "";

    (void)state;
    /* Needs root, to create a file another user cannot write. The suite runs
       as root (tests/run.sh): not being root is a failure, never a silent pass. */
    if (getuid() != 0)
        fail_msg("needs root, to write as nobody (running as uid %u)", (unsigned)getuid());
    m = spec_msg(0);
    assert_true(snprintf_ok(dir, sizeof(dir), "%s/ro", store_fixture_dir()));
    assert_true(snprintf_ok(path, sizeof(path), "%s/ledger.db", dir));
    /* mkdtemp made it 0700: let nobody through */
    assert_int_equal(chmod(store_fixture_dir(), 0711), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    s = open_ok(path, 0); /* root opens a database only where root alone can change it */
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
    assert_int_equal(chmod(dir, 0777), 0); /* nobody may create the -wal and -shm files */
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
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_readonly_connection),
        cmocka_unit_test(test_readonly_file),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
