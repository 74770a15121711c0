/*
 * test_ledger_adv_stop.c - adversarial review of ledger_put_wait(): the
 * ledger stopped (ledger_stop) while connections still wait in
 * ledger_put_wait(), as milter/main.c does when engine_close() gives up
 * on hung connection threads. The waiters must all return (their record
 * spooled) without touching the freed ledger (ASan: heap-use-after-free).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"

#include "ledger_fixture.h"

#define WAITERS 64
#define ROUNDS  4

struct waiter {
    struct ledger *l;
    int seq;
    enum ledger_ack ack;
};

/* waiter_main - one connection waiting for its record, up to 10 s */
static void *waiter_main(void *arg)
{
    struct waiter *w = arg;

    w->ack = ledger_put_wait(w->l, make_msg(w->seq), 10000);
    return NULL;
}

/*
 * stop_round - the database is locked (the writer sits in
 * its 5 s busy wait), WAITERS connections wait, the ledger is stopped:
 * the stop spools their records and wakes them; each gets SPOOLED and the
 * spool holds all of them.
 */
static void stop_round(void)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    struct waiter w[WAITERS];
    pthread_t th[WAITERS];
    int seqs[WAITERS + 1];
    sqlite3 *other;

    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    migrated_db(db);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    test_opts(&o, db);
    l = ledger_start(&o);
    for (int i = 0; i < WAITERS; i++) {
        w[i] = (struct waiter){l, i, LEDGER_ACK_DROPPED};
        assert_int_equal(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
    }
    WAIT_STATS(l, st, st.put == WAITERS, 5000);
    ledger_stop(l, 0);
    for (int i = 0; i < WAITERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].ack, LEDGER_ACK_SPOOLED);
    }
    assert_int_equal(spool_file_seqs(spool, seqs, WAITERS + 1), WAITERS);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(other);
}

/* test_stop_while_waiting - stop_round, ROUNDS times (the race is lost now and then) */
static void test_stop_while_waiting(void **state)
{
    (void)state;
    for (int round = 0; round < ROUNDS; round++)
        stop_round();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_while_waiting),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
