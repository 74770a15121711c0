/*
 * test_store_opens_first.c - what the store decides when it writes an
 * open (lib/store_sqlite_opens.c, schema token_key): the open_min_seconds
 * rule, applied where the tracked message's accept time is known (1.9 s
 * after acceptance is a scanner's, 2.1 s a person's; the times injected
 * through the records, never slept), and each tracked message's
 * first_open_at / first_human_open_at after opens of mixed classes in
 * any order, replays and unknown tokens; opens stored before the
 * migration fill the columns in.
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

#define TOKEN_T   "acceptedAtMsTTTTTTTTTTTTTTTT" /* created_ms = ACCEPT_MS */
#define TOKEN_U   "beforeTheColumnUUUUUUUUUUUUU" /* created_ms NULL: created_at * 1000 counts */
#define TOKEN_F   "firstOpensFFFFFFFFFFFFFFFFFF" /* for the first-open columns */
#define TOKEN_G   "neverOpenedGGGGGGGGGGGGGGGGG" /* tracked, never opened */
#define TOKEN_X   "unknownXXXXXXXXXXXXXXXXXXXXX" /* nobody tracked it */
#define ACCEPT_MS 1795000000500LL
#define U_AT      1795001000LL /* TOKEN_U's created_at */

/* an_open - an open record of token, class cls, reason "request rule", at open_ms */
static struct ledger_msg *an_open(const char *token, const char *cls, int64_t received_at,
                                  int64_t open_ms, int64_t min_ms)
{
    struct ledger_msg *m = ledger_msg_new_open();

    ledger_msg_set(&m->host, "px.example.org");
    ledger_msg_set(&m->open_token, token);
    ledger_msg_set(&m->open_method, strcmp(cls, "scanner") == 0 ? "HEAD" : "GET");
    ledger_msg_set(&m->open_class, cls);
    ledger_msg_set(&m->open_reason, "request rule");
    m->received_at = received_at;
    m->open_ms = open_ms;
    m->open_min_ms = min_ms;
    return m;
}

/* put_one - store m alone in a batch */
static void put_one(struct store *s, struct ledger_msg *m)
{
    if (store_put_messages(s, &m, 1) != STORE_OK)
        fail_msg("put: %s", store_error(s));
}

/* row_text - text column col of the pixel_opens row of uid (static copy; "" if none) */
static const char *row_text(const char *path, const char *col, const char *uid)
{
    static char out[256];
    char sql[128];
    sqlite3 *db;
    sqlite3_stmt *st;

    out[0] = '\0';
    snprintf(sql, sizeof(sql), "SELECT %s FROM pixel_opens WHERE uid = ?1", col);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* track - a tracked message of token, accepted at created_at (s) / created_ms */
static void track(struct store *s, const char *token, int64_t created_at, int64_t created_ms)
{
    const struct store_tracked t = {.token = token,
                                    .mode = "pipe",
                                    .outcome = "injected",
                                    .created_at = created_at,
                                    .created_ms = created_ms};

    assert_int_equal(store_put_tracked(s, &t), STORE_OK);
}

/* migrated - a fresh database at path with every migration, open */
static struct store *migrated(const char *path)
{
    struct store *s = open_ok(path, 0);

    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    return s;
}

/* The rule at its boundary and around it, one open per row. */
static void test_open_min(void **state)
{
    static const struct {
        const char *name, *token, *cls;
        int64_t after_ms;   /* open_ms - the accept time; INT64_MIN: open_ms 0 (see at) */
        int64_t at;         /* received_at when after_ms is INT64_MIN */
        int64_t min_ms;     /* open_min_ms of the record */
        const char *want;   /* class stored */
        const char *reason; /* reason stored */
    } cases[] = {
        {"1.9 s after: a scanner", TOKEN_T, "human", 1900, 0, 2000, "scanner",
         "opened 1900 ms after acceptance (open_min_seconds)"},
        {"2.1 s after: a person", TOKEN_T, "human", 2100, 0, 2000, "human", "request rule"},
        {"exactly 2 s after is not sooner", TOKEN_T, "human", 2000, 0, 2000, "human",
         "request rule"},
        {"1.999 s after", TOKEN_T, "human", 1999, 0, 2000, "scanner",
         "opened 1999 ms after acceptance (open_min_seconds)"},
        {"a prefetch too soon", TOKEN_T, "prefetch", 500, 0, 2000, "scanner",
         "opened 500 ms after acceptance (open_min_seconds)"},
        {"a proxy too soon", TOKEN_T, "proxy", 1000, 0, 2000, "scanner",
         "opened 1000 ms after acceptance (open_min_seconds)"},
        {"a prefetch in time stays one", TOKEN_T, "prefetch", 2500, 0, 2000, "prefetch",
         "request rule"},
        {"a scanner too soon keeps its own reason", TOKEN_T, "scanner", 100, 0, 2000, "scanner",
         "request rule"},
        {"open_min_seconds = 0: no rule", TOKEN_T, "human", 100, 0, 0, "human", "request rule"},
        {"open_min_seconds = 5: 4.9 s", TOKEN_T, "human", 4900, 0, 5000, "scanner",
         "opened 4900 ms after acceptance (open_min_seconds)"},
        {"open_min_seconds = 5: 5.1 s", TOKEN_T, "human", 5100, 0, 5000, "human", "request rule"},
        {"before acceptance (clocks apart)", TOKEN_T, "human", -300, 0, 2000, "scanner",
         "opened -300 ms after acceptance (open_min_seconds)"},
        {"an older record without open_ms: received_at counts", TOKEN_T, "human", INT64_MIN,
         ACCEPT_MS / 1000 + 1, 2000, "scanner",
         "opened 500 ms after acceptance (open_min_seconds)"},
        {"a row from before created_ms, 1.9 s", TOKEN_U, "human", 1900, 0, 2000, "scanner",
         "opened 1900 ms after acceptance (open_min_seconds)"},
        {"a row from before created_ms, 2.1 s", TOKEN_U, "human", 2100, 0, 2000, "human",
         "request rule"},
    };
    const char *path = new_db();
    struct store *s = migrated(path);
    char *err = NULL;
    sqlite3 *db;

    (void)state;
    track(s, TOKEN_T, ACCEPT_MS / 1000, ACCEPT_MS);
    track(s, TOKEN_U, U_AT, 0);
    /* as a row made before the column: no created_ms */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db,
                     "UPDATE tracked_messages SET created_ms = NULL WHERE token = '" TOKEN_U "'",
                     NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s", err);
    sqlite3_close(db);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t base = strcmp(cases[i].token, TOKEN_U) == 0 ? U_AT * 1000 : ACCEPT_MS;
        int64_t open_ms = cases[i].after_ms == INT64_MIN ? 0 : base + cases[i].after_ms;
        int64_t at = open_ms ? open_ms / 1000 : cases[i].at;
        struct ledger_msg *m = an_open(cases[i].token, cases[i].cls, at, open_ms, cases[i].min_ms);
        const char *got;

        put_one(s, m);
        if (strcmp((got = row_text(path, "class", m->uid)), cases[i].want) != 0)
            fail_msg("%s: class %s, want %s", cases[i].name, got, cases[i].want);
        if (strcmp((got = row_text(path, "reason", m->uid)), cases[i].reason) != 0)
            fail_msg("%s: reason \"%s\", want \"%s\"", cases[i].name, got, cases[i].reason);
        ledger_msg_free(m);
    }
    store_close(s);
}

/* first_cols - "first_open_at/first_human_open_at" of token's row, "-" for NULL (static) */
static const char *first_cols(const char *path, const char *token)
{
    static char out[64];
    sqlite3 *db;
    sqlite3_stmt *st;

    snprintf(out, sizeof(out), "no row");
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT first_open_at, first_human_open_at FROM"
                                        " tracked_messages WHERE token = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        char a[24] = "-", b[24] = "-";

        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            snprintf(a, sizeof(a), "%lld", (long long)sqlite3_column_int64(st, 0));
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            snprintf(b, sizeof(b), "%lld", (long long)sqlite3_column_int64(st, 1));
        snprintf(out, sizeof(out), "%s/%s", a, b);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* The columns after each open of a sequence (TOKEN_F accepted at 5000 s, open_min_seconds 2). */
static void test_first_open(void **state)
{
    static const struct {
        const char *name, *token, *cls;
        int64_t at;       /* received_at, s (open_ms = at * 1000) */
        int replay;       /* > 0: store the record of that row (1-based) again */
        const char *want; /* TOKEN_F's first_open_at/first_human_open_at after it */
    } steps[] = {
        {"a person 1 s after acceptance: too soon, a scanner", TOKEN_F, "human", 5001, 0, "5001/-"},
        {"a prefetch", TOKEN_F, "prefetch", 5010, 0, "5001/-"},
        {"a person through a proxy: the first human open", TOKEN_F, "proxy", 5100, 0, "5001/5100"},
        {"an earlier person's open written later (spool order)", TOKEN_F, "human", 5050, 0,
         "5001/5050"},
        {"a later person", TOKEN_F, "human", 5200, 0, "5001/5050"},
        {"an earlier scanner: first open only", TOKEN_F, "scanner", 5000, 0, "5000/5050"},
        {"a replay of row 4 changes nothing", TOKEN_F, "human", 0, 4, "5000/5050"},
        {"another message's open", TOKEN_G, "human", 3000, 0, "5000/5050"},
        {"an unknown token's open", TOKEN_X, "human", 1000, 0, "5000/5050"},
        {"an even earlier person", TOKEN_F, "human", 5030, 0, "5000/5030"},
    };
    const char *path = new_db();
    struct store *s = migrated(path);
    struct ledger_msg *kept[sizeof(steps) / sizeof(steps[0])] = {NULL};
    const char *token_h = "otherHHHHHHHHHHHHHHHHHHHHHHH";

    (void)state;
    track(s, TOKEN_F, 5000, 5000000);
    track(s, TOKEN_G, 2000, 2000000);
    track(s, token_h, 2000, 2000000);
    assert_string_equal(first_cols(path, TOKEN_F), "-/-");
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct ledger_msg *m;
        const char *got;

        if (steps[i].replay > 0) {
            m = kept[steps[i].replay - 1];
        } else {
            int64_t at = steps[i].at;

            m = kept[i] = an_open(steps[i].token, steps[i].cls, at, at * 1000, 2000);
        }
        put_one(s, m);
        if (strcmp((got = first_cols(path, TOKEN_F)), steps[i].want) != 0)
            fail_msg("%s: %s, want %s", steps[i].name, got, steps[i].want);
    }
    assert_string_equal(first_cols(path, TOKEN_G), "3000/3000");
    assert_string_equal(first_cols(path, token_h), "-/-");
    assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens"), 8);
    assert_string_equal(row_text(path, "class", kept[0]->uid), "scanner");
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        ledger_msg_free(kept[i]);
    store_close(s);
}

/* Opens stored before the migration: the migration fills the columns in. */
static void test_backfill(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    size_t before = 0;
    char *err = NULL;
    sqlite3 *db;

    (void)state;
    while (before < store_migrations_count &&
           strcmp(store_migrations[before].name, "token_key") != 0)
        before++;
    assert_true(before < store_migrations_count);
    assert_int_equal(store_migrate(s, store_migrations, before), STORE_OK);
    store_close(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db,
                     "INSERT INTO tracked_messages (id, token, mode, outcome, created_at) VALUES"
                     " (1, 'a', 'pipe', 'injected', 10), (2, 'b', 'pipe', 'injected', 10),"
                     " (3, 'c', 'pipe', 'injected', 10);"
                     "INSERT INTO pixel_opens (uid, tracked_id, opened_at, method, class) VALUES"
                     " ('u1', 1, 50, 'GET', 'human'), ('u2', 1, 40, 'GET', 'prefetch'),"
                     " ('u3', 1, 45, 'GET', 'proxy'), ('u4', 2, 30, 'HEAD', 'scanner')",
                     NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s", err);
    sqlite3_close(db);
    s = migrated(path);
    store_close(s);
    assert_string_equal(first_cols(path, "a"), "40/45");
    assert_string_equal(first_cols(path, "b"), "30/-");
    assert_string_equal(first_cols(path, "c"), "-/-");
    assert_int_equal(sql_int(path, "SELECT length(key) FROM token_key WHERE id = 1"), 32);
}

/* The token key: one row, read by the store, different in each database. */
static void test_token_key(void **state)
{
    unsigned char a[32], b[32], zero[32] = {0};
    struct store *s1 = migrated(new_db()), *s2 = migrated(new_db());

    (void)state;
    assert_int_equal(store_token_key(s1, a), STORE_OK);
    assert_int_equal(store_token_key(s2, b), STORE_OK);
    assert_memory_not_equal(a, b, 32);
    assert_memory_not_equal(a, zero, 32);
    store_close(s1);
    store_close(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_min),
        cmocka_unit_test(test_first_open),
        cmocka_unit_test(test_backfill),
        cmocka_unit_test(test_token_key),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
