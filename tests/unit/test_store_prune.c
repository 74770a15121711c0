/*
 * test_store_prune.c - retention in the SQLite store (store_prune_count,
 * store_prune_batch) on rows of known ages around a cut
 * (prune_fixture.c): a count removes nothing and says what a prune
 * removes; batches of any size remove exactly every row older than the
 * cut with what belongs to it, never one at the cut or younger, never
 * more parents than their limit, and say when nothing is left; a
 * tracked message stays while an open at or after the cut does; a
 * pruned token's open is then discarded like an unknown one; a failed
 * batch removes nothing; bad arguments and a read-only database fail.
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

#include "prune_fixture.h"
#include "store_fixture.h"

#define CUT ((int64_t)1000000000) /* the cut of these tests */

/* test_count_dry - a count says what a prune removes and removes nothing */
static void test_count_dry(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT);
    struct store_prune_counts got, gone, all;

    (void)state;
    prune_expect(&gone, &all);
    assert_int_equal(store_prune_count(s, CUT, &got), STORE_OK);
    prune_counts_equal(&got, &gone, "count at the cut");
    prune_check_untouched(path);
    /* a cut before every row counts nothing; one after every row counts them all */
    assert_int_equal(store_prune_count(s, CUT - 200000, &got), STORE_OK);
    prune_counts_equal(&got, &(struct store_prune_counts){{0}}, "count before all");
    assert_int_equal(store_prune_count(s, CUT + 200000, &got), STORE_OK);
    prune_counts_equal(&got, &all, "count after all");
    store_close(s);
}

/* Batch sizes: one parent at a time, a few, exactly all, more than all. */
static const unsigned limits[] = {1, 2, 3, 7, 11, 1000};

/* test_batches - every batch size removes exactly the old rows, limit parents at most per batch */
static void test_batches(void **state)
{
    (void)state;
    for (size_t li = 0; li < sizeof(limits) / sizeof(limits[0]); li++) {
        const unsigned limit = limits[li];
        const char *path = new_db();
        struct store *s = prune_fill(path, CUT);
        struct store_prune_counts got = {{0}}, gone, all;
        int64_t before = 0, parents;
        unsigned batches = 0;
        bool more = true;

        prune_expect(&gone, &all);
        parents = prune_parents(&gone);
        while (more) {
            assert_int_equal(store_prune_batch(s, CUT, limit, &got, &more), STORE_OK);
            batches++;
            /* a batch that says "more" removed a full limit of parents; the last one fewer */
            if (more ? prune_parents(&got) - before != limit
                     : prune_parents(&got) - before >= limit)
                fail_msg("limit %u, batch %u: %lld parents, more %d", limit, batches,
                         (long long)(prune_parents(&got) - before), more);
            before = prune_parents(&got);
            assert_true(batches <= parents + 1);
        }
        assert_int_equal(batches, parents / limit + 1);
        prune_counts_equal(&got, &gone, "removed");
        prune_check_done(path);
        /* again: nothing left to remove */
        got = (struct store_prune_counts){{0}};
        assert_int_equal(store_prune_batch(s, CUT, limit, &got, &more), STORE_OK);
        assert_false(more);
        prune_counts_equal(&got, &(struct store_prune_counts){{0}}, "second prune");
        store_close(s);
    }
}

/* put_open - put an open of token at t; its fate: 1 stored, 0 discarded */
static int put_open(struct store *s, const char *token, int64_t t)
{
    struct ledger_msg *m = ledger_msg_new_open();

    ledger_msg_set(&m->open_token, token);
    ledger_msg_set(&m->open_method, "GET");
    ledger_msg_set(&m->open_class, "human");
    m->received_at = t;
    assert_int_equal(store_put_messages(s, &m, 1), STORE_OK);
    assert_int_equal(store_added(s) + store_discarded(s), 1);
    ledger_msg_free(m);
    return (int)store_added(s);
}

/* test_pruned_token - an open of a pruned token is discarded as unknown; a kept one's is stored */
static void test_pruned_token(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT);
    struct store_prune_counts got = {{0}};
    bool more = true;

    (void)state;
    while (more)
        assert_int_equal(store_prune_batch(s, CUT, 1000, &got, &more), STORE_OK);
    for (size_t i = 0; i < prune_nrows; i++) {
        const struct prune_row *r = &prune_rows[i];

        if (r->kind == 't')
            assert_int_equal(put_open(s, prune_token(i), CUT + 1000), !r->gone);
        else if (r->kind == 'm' && r->tracked)
            assert_int_equal(put_open(s, prune_token(i), CUT + 1000), !r->tgone);
    }
    store_close(s);
}

/* test_failed_batch - a batch that fails part-way removes nothing and counts nothing */
static void test_failed_batch(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT);
    struct store_prune_counts got = {{0}};
    sqlite3 *db;
    bool more = true;

    (void)state;
    /* The oldest message refuses to go: the batch fails at its last statement. */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TRIGGER keep BEFORE DELETE ON messages"
                     " WHEN old.queue_id = 'Q0' BEGIN SELECT RAISE(ABORT, 'kept'); END",
                     NULL, NULL, NULL),
        SQLITE_OK);
    got.n[STORE_PRUNE_OPENS] = 42;
    assert_int_not_equal(store_prune_batch(s, CUT, 1000, &got, &more), STORE_OK);
    assert_non_null(strstr(store_error(s), "old rows"));
    assert_int_equal(got.n[STORE_PRUNE_OPENS], 42);
    for (size_t t = 0; t < STORE_PRUNE_TABLES; t++)
        assert_int_equal(got.n[t], t == STORE_PRUNE_OPENS ? 42 : 0);
    prune_check_untouched(path);
    /* Without the trigger the same prune goes through. */
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER keep", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    got = (struct store_prune_counts){{0}};
    more = true;
    while (more)
        assert_int_equal(store_prune_batch(s, CUT, 1000, &got, &more), STORE_OK);
    prune_check_done(path);
    store_close(s);
}

/* test_refused - bad arguments, and a read-only database for a prune (not for a count) */
static void test_refused(void **state)
{
    const char *path = new_db();
    struct store *s = prune_fill(path, CUT), *ro;
    struct store_prune_counts got = {{0}}, gone, all;
    bool more = true;

    (void)state;
    assert_int_equal(store_prune_batch(s, 0, 10, &got, &more), STORE_ERROR);
    assert_false(more);
    assert_int_equal(store_prune_batch(s, CUT, 0, &got, &more), STORE_ERROR);
    assert_int_equal(store_prune_count(s, -5, &got), STORE_ERROR);
    prune_counts_equal(&got, &(struct store_prune_counts){{0}}, "refused");
    store_close(s);
    ro = open_ok(path, STORE_READONLY);
    assert_int_not_equal(store_prune_batch(ro, CUT, 10, &got, &more), STORE_OK);
    prune_counts_equal(&got, &(struct store_prune_counts){{0}}, "read-only prune");
    prune_check_untouched(path);
    prune_expect(&gone, &all);
    assert_int_equal(store_prune_count(ro, CUT, &got), STORE_OK);
    prune_counts_equal(&got, &gone, "read-only count");
    store_close(ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_dry),    cmocka_unit_test(test_batches),
        cmocka_unit_test(test_pruned_token), cmocka_unit_test(test_failed_batch),
        cmocka_unit_test(test_refused),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
