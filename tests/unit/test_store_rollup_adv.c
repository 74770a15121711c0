/*
 * test_store_rollup_adv.c - the ledger's counters (schema/008_rollup.sql,
 * lib/store_sqlite_rollup*.c) under rows an adversary or a broken clock
 * writes: received_at far in the future or the past (a millisecond time
 * stored as seconds, a negative time). report summary, report auth and
 * report opens must answer as the rows do, in bounded memory and time;
 * the oracle is a count of the rows themselves.
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
#include "store_summary.h"
#include "util.h"

#include "rollup_fixture.h"
#include "store_fixture.h"

/* Times of the messages of one case (0 ends the list): sane ones with an odd one among them. */
static const struct {
    const char *name;
    int64_t at[4];
} far_cases[] = {
    {"far future", {T0 + 10, T0 + 7200, 9000000000000000000LL, 0}},
    {"far past", {T0 + 10, -9000000000000000000LL, T0 + 90000, 0}},
    {"milliseconds", {T0 + 10, T0 * 1000, T0 + 3700, 0}},
    {"both ends", {-4000000000000000000LL, T0, 4000000000000000000LL, 0}},
    {"the limits", {INT64_MIN, T0, INT64_MAX, 0}},
    {"epoch", {1, T0, T0 + 86400 * 3, 0}},
};

/* put - store an inbound message at t with a failing dmarc result of dom and a dkim selector */
static void put(struct store *s, int64_t t, size_t i)
{
    struct ledger_msg *m = ledger_msg_new();
    struct ledger_auth *a;
    char mid[64];

    assert_true(snprintf_ok(mid, sizeof(mid), "<far%zu@y.example>", i));
    m->received_at = t;
    m->direction = i % 2 ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    ledger_msg_set(&m->message_id, mid);
    ledger_msg_set(&m->mail_from, "p@y.example");
    ledger_msg_set(&m->queue_id, "Q");
    ledger_msg_set(&m->action, "reject");
    ledger_msg_add_rcpt(m, "r@z.example");
    a = ledger_msg_add_auth(m, "dkim", "fail");
    ledger_msg_set(&a->identity, "y.example");
    ledger_msg_set(&a->selector, "s1");
    a = ledger_msg_add_auth(m, "dmarc", "fail");
    ledger_msg_set(&a->identity, "y.example");
    assert_int_equal(store_put_messages(s, &m, 1), STORE_OK);
    ledger_msg_free(m);
}

/*
 * check_reports - summary and auth of everything count each row of path
 * once (no --since is [0, INT64_MAX) for the summary, as before the
 * counters)
 */
static void check_reports(struct store *s, const char *path)
{
    struct store_summary_filter f = {0, 0, 0, 10};
    struct store_auth_filter af = {0, 0, NULL};
    struct store_summary sum;
    long long in = sql_int(path, "SELECT count(*) FROM messages WHERE direction = 'inbound'"
                                 " AND received_at >= 0 AND received_at < 9223372036854775807");
    long long out = sql_int(path, "SELECT count(*) FROM messages WHERE direction = 'outbound'"
                                  " AND received_at >= 0 AND received_at < 9223372036854775807");
    char *text;

    assert_int_equal(store_summary(s, &f, &sum), STORE_OK);
    assert_int_equal(sum.messages[0], in);
    assert_int_equal(sum.messages[1], out);
    assert_int_equal(sum.dmarc_fail, in);
    store_summary_free(&sum);
    text = rollup_auth_text(s, &af);
    assert_true(in == 0 || strstr(text, "y.example") != NULL);
    free(text);
}

/* test_far_times - odd received_at: every report counts each row once, nothing unbounded */
static void test_far_times(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(far_cases) / sizeof(far_cases[0]); c++) {
        char *path = xstrdup(new_db()); /* new_db() reuses its buffer */
        struct store *s = open_ok(path, 0);
        sqlite3 *db = NULL;

        print_message("case %s\n", far_cases[c].name);
        assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
        for (size_t i = 0; i < 4 && far_cases[c].at[i]; i++)
            put(s, far_cases[c].at[i], i);
        check_reports(s, path);
        /* a row deleted around the store: the counters no longer add up, hours are checked */
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(db, "DELETE FROM messages WHERE id = (SELECT min(id) FROM messages)", NULL,
                         NULL, NULL),
            SQLITE_OK);
        sqlite3_close(db);
        check_reports(s, path);
        store_close(s);
        free(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_far_times),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
