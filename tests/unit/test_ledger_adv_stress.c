/*
 * test_ledger_adv_stress.c - adversarial review of ledger_put_wait():
 * many producers with tiny waits against a database another connection
 * locks and unlocks in a loop, so waiters time out while the writer
 * takes their records (the races between a waiter giving up and the
 * writer's take_head). Afterwards (stop, restart, replay) every record
 * must be in the database exactly once, nothing counted lost, and the
 * counters must add up. Run under ASan (the default build) and TSan.
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
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"

#include "ledger_fixture.h"

#define PRODUCERS 6
#define PER       150
#define TOTAL     (PRODUCERS * PER)

struct stress_case {
    const char *name;
    size_t queue_max;
    unsigned hold_ms; /* the other connection holds the lock up to this long */
};

static const struct stress_case stress_cases[] = {
    {"roomy queue, short locks", 1000, 40},
    {"tiny queue (full: producers spool), short locks", 16, 40},
    {"roomy queue, long locks", 1000, 400},
};

struct prod {
    struct ledger *l;
    int first;
    unsigned seed;
    enum ledger_ack *acks;
};

static atomic_bool locker_stop;

/* prod_main - hand in records first..first+PER-1, each with a tiny random wait */
static void *prod_main(void *arg)
{
    static const unsigned waits[] = {1, 2, 3, 5, 10, 20};
    struct prod *p = arg;

    for (int i = 0; i < PER; i++) {
        unsigned w = waits[rand_r(&p->seed) % 6];

        p->acks[p->first + i] = ledger_put_wait(p->l, make_msg(p->first + i), w);
    }
    return NULL;
}

struct locker {
    const char *db;
    unsigned hold_ms;
};

/* locker_main - lock the database for a random while, release it, again */
static void *locker_main(void *arg)
{
    struct locker *lk = arg;
    unsigned seed = 7;
    sqlite3 *db;

    if (sqlite3_open_v2(lk->db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_busy_timeout(db, 5000);
    while (!atomic_load(&locker_stop)) {
        if (sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK) {
            sleep_ms(rand_r(&seed) % (lk->hold_ms + 1));
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        }
        sleep_ms(rand_r(&seed) % 20);
    }
    sqlite3_close(db);
    return NULL;
}

/*
 * test_stress - PRODUCERS threads, tiny waits, a flapping lock: each
 * record lands exactly once after stop + restart, nothing is counted
 * dropped or unsafe (the spool is writable and unbounded), and every
 * record is accounted for: put == TOTAL.
 */
static void test_stress(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(stress_cases) / sizeof(stress_cases[0]); c++) {
        const struct stress_case *sc = &stress_cases[c];
        static enum ledger_ack acks[TOTAL];
        char dir[256], db[300];
        struct ledger_opts o;
        struct ledger_stats st, st2;
        struct ledger *l;
        struct prod p[PRODUCERS];
        pthread_t th[PRODUCERS], lt;
        struct locker lk;
        unsigned count[5] = {0};

        join(db, case_dir(dir, true), "ledger.db");
        migrated_db(db);
        lk = (struct locker){db, sc->hold_ms};
        test_opts(&o, db);
        o.queue_max = sc->queue_max;
        o.spool_max_bytes = 0;
        atomic_store(&locker_stop, false);
        assert_int_equal(pthread_create(&lt, NULL, locker_main, &lk), 0);
        l = ledger_start(&o);
        for (int i = 0; i < PRODUCERS; i++) {
            p[i] = (struct prod){l, i * PER, (unsigned)(i + 1) * 31u, acks};
            assert_int_equal(pthread_create(&th[i], NULL, prod_main, &p[i]), 0);
        }
        for (int i = 0; i < PRODUCERS; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
        atomic_store(&locker_stop, true);
        assert_int_equal(pthread_join(lt, NULL), 0);
        ledger_stop_stats(l, 5000, &st);
        for (int i = 0; i < TOTAL; i++)
            count[acks[i]]++;
        print_message("%s: stored %u spooled %u self %u memory %u dropped %u; put %llu written "
                      "%llu replayed %llu spooled %llu self %llu unsafe %llu dropped %llu\n",
                      sc->name, count[0], count[1], count[2], count[3], count[4],
                      (unsigned long long)st.put, (unsigned long long)st.written,
                      (unsigned long long)st.replayed, (unsigned long long)st.spooled,
                      (unsigned long long)st.self_spooled, (unsigned long long)st.unsafe,
                      (unsigned long long)st.dropped);
        assert_int_equal(st.put, TOTAL);
        assert_int_equal(st.dropped + st.unsafe, 0);
        assert_int_equal(count[LEDGER_ACK_MEMORY] + count[LEDGER_ACK_DROPPED], 0);

        /* A restart replays what the spool holds; nothing twice. */
        l = ledger_start(&o);
        assert_true(ledger_flush(l, 30000));
        ledger_stop_stats(l, 1000, &st2);
        expect_set(db, 0, TOTAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
