/*
 * test_ledger_bytes.c - the ledger queue's byte bound (queue_max_bytes):
 * what a record counts (ledger_msg_mem()), records moved to the spool past
 * three quarters of the bound while the row bound is far away, exact drop
 * counts when the spool takes nothing, and one record bigger than the
 * whole bound (a million-recipient envelope) taken, spooled and replayed
 * rather than held or lost. Helpers in ledger_fixture.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ledger.h"
#include "ledger_msg.h"
#include "util.h"

#include "ledger_fixture.h"

#define CHUNK LEDGER_MEM_CHUNK

/* str_mem - what a heap copy of s counts */
static size_t str_mem(const char *s)
{
    return strlen(s) + 1 + CHUNK;
}

/* big_msg - record seq with nrcpts recipients of 24 octets each; caller frees */
static struct ledger_msg *big_msg(int seq, size_t nrcpts)
{
    struct ledger_msg *m = make_msg(seq);
    char r[64];

    for (size_t i = 1; i < nrcpts; i++) {
        snprintf(r, sizeof(r), "r%09zu@example.test", i);
        ledger_msg_add_rcpt(m, r);
    }
    return m;
}

/* test_msg_mem - the struct, each string, the arrays at their capacity, one chunk each */
static void test_msg_mem(void **state)
{
    struct ledger_msg *m = ledger_msg_new(), *b;
    struct ledger_auth *a;
    size_t want = sizeof(*m) + CHUNK;

    (void)state;
    assert_int_equal(ledger_msg_mem(m), want);
    ledger_msg_set(&m->queue_id, "Q1");
    ledger_msg_set(&m->subject, "a subject");
    want += str_mem("Q1") + str_mem("a subject");
    assert_int_equal(ledger_msg_mem(m), want);
    for (int i = 0; i < 5; i++)
        ledger_msg_add_rcpt(m, "bob@example.test");
    want += 8 * sizeof(char *) + CHUNK + 5 * str_mem("bob@example.test");
    assert_int_equal(ledger_msg_mem(m), want);
    a = ledger_msg_add_auth(m, "spf", "pass");
    ledger_msg_set(&a->identity, "example.test");
    want += 4 * sizeof(*a) + CHUNK + str_mem("spf") + str_mem("pass") + str_mem("example.test");
    assert_int_equal(ledger_msg_mem(m), want);
    ledger_msg_free(m);

    /* linear in the recipients: 100,000 of them take about 100,000 times one */
    b = big_msg(0, 100000);
    assert_true(ledger_msg_mem(b) > 100000 * (24 + CHUNK + sizeof(char *)));
    assert_true(ledger_msg_mem(b) < 100000 * (24 + CHUNK + 2 * sizeof(char *)) + 4096);
    ledger_msg_free(b);
}

/* one_mem - what make_msg() records count */
static size_t one_mem(void)
{
    struct ledger_msg *m = make_msg(0);
    size_t n = ledger_msg_mem(m);

    ledger_msg_free(m);
    return n;
}

/* test_bytes_spool - the database is away and the row bound far: past three quarters of the
 * byte bound records go to the spool, none is dropped, and all are replayed in order */
static void test_bytes_spool(void **state)
{
    char dir[256], db[300], spool[300], dbdir[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    size_t bound = 20 * one_mem();

    (void)state;
    case_dir(dir, true);
    join(dbdir, dir, "db");
    join(db, dbdir, "ledger.db");
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");
    o.queue_max = 100000;
    o.queue_max_bytes = bound;
    l = ledger_start(&o);
    for (int i = 0; i < 300; i++) {
        /* Leave the writer room: this case is about spooling, not dropping. */
        WAIT_STATS(l, st, st.queued_bytes < bound - 2 * one_mem(), 5000);
        put_timed(l, i);
    }
    WAIT_STATS(l, st, st.spooled > 0 && st.queued < 16, 5000);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.written, 0);
    assert_true(st.spooled + st.queued == 300);
    assert_int_equal(st.queued_bytes, st.queued * one_mem());

    assert_int_equal(mkdir(dbdir, 0700), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written + st.replayed, 300);
    assert_int_equal(st.dropped + st.rejected, 0);
    assert_int_equal(st.queued_bytes, 0);
    expect_range(db, 0, 300);
    ledger_stop(l, 1000);
}

struct drop_case {
    const char *name;
    size_t bound_records; /* the byte bound: this many make_msg() records */
    size_t plus;          /* and this many bytes more */
    int puts;
    int kept; /* taken while the queue held less than the bound */
};

static const struct drop_case drop_cases[] = {
    {"bound-exact", 3, 0, 10, 3},
    {"bound-plus-one", 3, 1, 10, 4},
    {"bound-below-one-record", 0, 1, 5, 1},
};

/* test_bytes_drop - the spool takes nothing: a record is taken while the queue holds less than
 * the bound, every other one is dropped and counted */
static void test_bytes_drop(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(drop_cases) / sizeof(drop_cases[0]); c++) {
        const struct drop_case *dc = &drop_cases[c];
        char dir[256], db[300], spool[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;

        case_dir(dir, true);
        join(db, dir, "missing/ledger.db");
        test_opts(&o, db);
        o.spool_path = join(spool, dir, "ledger.spool");
        o.spool_max_bytes = 1;
        o.flush_ms = 500; /* no attempt at the database before every put is done */
        o.queue_max = 1000;
        o.queue_max_bytes = dc->bound_records * one_mem() + dc->plus;
        l = ledger_start(&o);
        put_range(l, 0, dc->puts);
        /* the records past the bound are gathered, then dropped when the spool refuses them */
        WAIT_STATS(l, st, st.dropped + st.queued == (uint64_t)dc->puts, 5000);
        if (st.dropped != (uint64_t)(dc->puts - dc->kept) || st.queued != (size_t)dc->kept)
            fail_msg("%s: dropped %llu, queued %zu", dc->name, (unsigned long long)st.dropped,
                     st.queued);
        assert_int_equal(st.queued_bytes, (size_t)dc->kept * one_mem());
        ledger_stop(l, 100);
    }
}

/* test_bytes_big_record - a record bigger than the whole bound is taken into an empty queue,
 * the next one goes to the spool (its producer gathers it for the spool) while it is there, and the
 * writer spools it too; once the database is back both are stored, the big one with every recipient
 */
static void test_bytes_big_record(void **state)
{
    char dir[256], db[300], spool[300], dbdir[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    struct ledger_msg *big = big_msg(0, 20000);
    size_t big_mem = ledger_msg_mem(big);

    (void)state;
    case_dir(dir, true);
    join(dbdir, dir, "db");
    join(db, dbdir, "ledger.db");
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");
    o.flush_ms = 500;
    o.queue_max_bytes = 8 * one_mem();
    assert_true(big_mem > 100 * o.queue_max_bytes);
    l = ledger_start(&o);
    ledger_put(l, big);
    put_timed(l, 1);
    ledger_get_stats(l, &st);
    /* the big one in the queue (unless the writer, woken by the second one gathered for the
       spool, has spooled it already); the second not in it */
    assert_true(st.queued == 1 ? st.queued_bytes == big_mem : st.queued == 0);
    assert_int_equal(st.dropped, 0);
    WAIT_STATS(l, st, st.spooled == 2 && st.queued == 0, 5000);
    assert_int_equal(st.queued_bytes, 0);
    put_timed(l, 2); /* room again */
    assert_int_equal(mkdir(dbdir, 0700), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.replayed, 2);
    assert_int_equal(st.written, 1);
    assert_int_equal(db_count(db, "SELECT count(*) FROM message_recipients"), 20002);
    ledger_stop(l, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_mem),
        cmocka_unit_test(test_bytes_spool),
        cmocka_unit_test(test_bytes_drop),
        cmocka_unit_test(test_bytes_big_record),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
