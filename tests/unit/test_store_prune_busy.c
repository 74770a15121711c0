/*
 * test_store_prune_busy.c - a prune beside a writer: while "postmeter
 * prune"'s loop (ledger_prune_run_all) removes 20,000 old rows in its
 * batches, a second connection commits one message at a time, as the
 * ledger's writer does with mail as it comes. Every old row goes, every
 * row written meanwhile stays, no commit fails. The waits are printed,
 * not judged: bench/prune.sh times them (optimised, 600,000 rows).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger_msg.h"
#include "ledger_prune.h"
#include "store.h"
#include "util.h"

#include "store_fixture.h"

#define OLD_MESSAGES 4000 /* each with 2 recipients and 2 results: 20,000 rows */
#define CUT          ((int64_t)1000000000)

/* mono_us - monotonic clock in microseconds */
static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* fill_old - OLD_MESSAGES messages older than the cut, straight into the tables */
static void fill_old(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *msg, *rcpt, *auth;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO messages (id, uid, direction, mail_from,"
                                        " action, received_at) VALUES (?1, 'old' || ?1, 'inbound',"
                                        " 'a' || (?1 % 997) || '@example.org', 'accept', ?2)",
                                        -1, &msg, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO message_recipients VALUES (?1, ?2,"
                                        " 'r' || (?1 % 5003) || '@example.net')",
                                        -1, &rcpt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO message_auth (message_id, position, method,"
                                        " result) VALUES (?1, ?2, 'dkim', 'pass')",
                                        -1, &auth, NULL),
                     SQLITE_OK);
    for (int i = 1; i <= OLD_MESSAGES; i++) {
        sqlite3_bind_int(msg, 1, i);
        sqlite3_bind_int64(msg, 2, CUT - 1 - (OLD_MESSAGES - i) * 10);
        assert_int_equal(sqlite3_step(msg), SQLITE_DONE);
        sqlite3_reset(msg);
        for (int p = 0; p < 2; p++) {
            sqlite3_stmt *kids[] = {rcpt, auth};

            for (int k = 0; k < 2; k++) {
                sqlite3_bind_int(kids[k], 1, i);
                sqlite3_bind_int(kids[k], 2, p);
                assert_int_equal(sqlite3_step(kids[k]), SQLITE_DONE);
                sqlite3_reset(kids[k]);
            }
        }
    }
    sqlite3_finalize(msg);
    sqlite3_finalize(rcpt);
    sqlite3_finalize(auth);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The prune's thread. */
struct pruner {
    const char *path;
    struct ledger_prune_run run;
    enum store_status st;
    uint64_t us;
    atomic_bool done;
};

/* prune_main - the prune, as postmeter prune runs it, on its own connection */
static void *prune_main(void *arg)
{
    struct pruner *p = arg;
    struct store *s = open_ok(p->path, STORE_NOCREATE);
    uint64_t t0 = mono_us();

    ledger_prune_start(&p->run, CUT);
    p->st = ledger_prune_run_all(s, &p->run);
    p->us = mono_us() - t0;
    store_close(s);
    atomic_store(&p->done, true);
    return NULL;
}

/* young_msg - a message of now (after the cut) with two recipients and a result */
static struct ledger_msg *young_msg(unsigned i)
{
    struct ledger_msg *m = ledger_msg_new();

    ledger_msg_set(&m->action, "accept");
    ledger_msg_set(&m->mail_from, "new@example.org");
    ledger_msg_add_rcpt(m, "one@example.net");
    ledger_msg_add_rcpt(m, "two@example.net");
    ledger_msg_add_auth(m, "spf", "pass");
    m->received_at = CUT + i;
    return m;
}

/* test_beside_writer - a prune and a writer's commits at once: each keeps to its rows */
static void test_beside_writer(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct pruner p = {.path = path};
    uint64_t longest = 0, total = 0;
    unsigned written = 0;
    pthread_t th;

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    fill_old(path);
    assert_int_equal(sql_int(path, "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM"
                                   " message_recipients) + (SELECT count(*) FROM message_auth)"),
                     5 * OLD_MESSAGES);
    assert_int_equal(pthread_create(&th, NULL, prune_main, &p), 0);
    do { /* at least one commit while the prune runs */
        struct ledger_msg *m = young_msg(written);
        struct timespec gap = {0, 2000000}; /* mail as it comes: a commit every few ms */
        uint64_t t0 = mono_us(), us;

        assert_int_equal(store_put_messages(s, &m, 1), STORE_OK);
        us = mono_us() - t0;
        ledger_msg_free(m);
        written++;
        total += us;
        if (us > longest)
            longest = us;
        nanosleep(&gap, NULL);
    } while (!atomic_load(&p.done));
    assert_int_equal(pthread_join(th, NULL), 0);
    printf("prune: %.1f s, %llu batches (longest %.1f ms, last limit %u); writer: %u commits, "
           "mean %.2f ms, longest %.1f ms\n",
           (double)p.us / 1e6, (unsigned long long)p.run.batches, (double)p.run.longest_us / 1000,
           p.run.limit, written, written ? (double)total / written / 1000 : 0.0,
           (double)longest / 1000);
    assert_int_equal(p.st, STORE_OK);
    assert_true(p.run.batches > 1); /* the writer had gaps to commit in */
    assert_int_equal(p.run.removed.n[STORE_PRUNE_MESSAGES], OLD_MESSAGES);
    assert_int_equal(p.run.removed.n[STORE_PRUNE_RCPTS], 2 * OLD_MESSAGES);
    assert_int_equal(p.run.removed.n[STORE_PRUNE_AUTH], 2 * OLD_MESSAGES);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), written);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), 2 * written);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_auth"), written);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beside_writer),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
