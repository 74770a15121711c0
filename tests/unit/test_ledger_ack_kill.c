/*
 * test_ledger_ack_kill.c - an acknowledged ledger record survives kill -9
 * of the process at any instant: a child process hands records in with
 * ledger_put_wait() and reports each answer on a pipe the moment it has
 * it; the parent kills it with SIGKILL at a random moment, starts a new
 * writer on the same database and spool, and checks that every record
 * the child had an answer for is in the database exactly once. Rounds
 * cover each durable answer: stored (healthy database), self-spooled
 * (locked database), both (the lock released mid-round) and spooled (no
 * database directory), each without and with the write-ahead journal
 * (o.journal: answers "journaled" without waiting for the writer, the
 * journal files switched and emptied during the round). The unit twin of
 * tests/integration/test_ledger_kill.py.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"
#include "util.h"

#include "ledger_fixture.h"

#define SHORT_WAIT_MS 20   /* the child's wait_ms where answers are self-spooled */
#define LONG_WAIT_MS  2000 /* and where they must not be */
#define KILL_POLL_MS  10000

enum kill_db {
    KILL_HEALTHY,  /* answers: stored */
    KILL_LOCKED,   /* another connection holds the write lock all along: self-spooled */
    KILL_UNLOCKED, /* the lock is released after half of the answers: self, then either */
    KILL_NO_DIR,   /* the database's directory does not exist: spooled */
};

struct kill_case {
    const char *name;
    enum kill_db db;
    enum ledger_ack want; /* every answer (before the release, for KILL_UNLOCKED) */
    unsigned wait_ms;     /* the child's */
    bool journal;         /* o.journal */
    int records;          /* the child hands in this many: more than it can before the kill */
    int kill_max;         /* the kill comes after 1..kill_max-1 answers were read */
    unsigned pause_us;    /* and then a pause of 0..pause_us-1 us */
};

/* A stored or spooled answer takes about a millisecond, a self-spooled one SHORT_WAIT_MS. */
static const struct kill_case kill_cases[] = {
    {"healthy", KILL_HEALTHY, LEDGER_ACK_STORED, LONG_WAIT_MS, false, 100000, 300, 3000},
    {"locked", KILL_LOCKED, LEDGER_ACK_SELF, SHORT_WAIT_MS, false, 60, 40, 2000 * SHORT_WAIT_MS},
    {"unlocked mid-round", KILL_UNLOCKED, LEDGER_ACK_SELF, SHORT_WAIT_MS, false, 100000, 40, 3000},
    {"no database directory", KILL_NO_DIR, LEDGER_ACK_SPOOLED, LONG_WAIT_MS, false, 100000, 300,
     3000},
    /* Journaled answers take microseconds: kills come later in the round. */
    {"journal, healthy", KILL_HEALTHY, LEDGER_ACK_JOURNALED, LONG_WAIT_MS, true, 100000, 3000,
     3000},
    {"journal, locked", KILL_LOCKED, LEDGER_ACK_JOURNALED, SHORT_WAIT_MS, true, 100000, 3000, 3000},
    {"journal, unlocked mid-round", KILL_UNLOCKED, LEDGER_ACK_JOURNALED, SHORT_WAIT_MS, true,
     100000, 3000, 3000},
    {"journal, no database directory", KILL_NO_DIR, LEDGER_ACK_JOURNALED, LONG_WAIT_MS, true,
     100000, 3000, 3000},
};

#define KILL_ROUNDS 3 /* of each case */

/* One answer, as the child reports it (smaller than PIPE_BUF: written at once). */
struct kill_ack {
    int seq;
    int ack;
};

/*
 * kill_child - the child: wait for the go byte, then hand in records one
 * by one, reporting each answer; never returns. No cmocka here.
 */
static void kill_child(const struct ledger_opts *o, const struct kill_case *kc, int go_fd,
                       int ack_fd)
{
    struct ledger *l;
    char go;

    if (read(go_fd, &go, 1) != 1)
        _exit(3);
    l = ledger_start(o);
    for (int i = 0; i < kc->records; i++) {
        struct kill_ack a = {i, (int)ledger_put_wait(l, make_msg(i), kc->wait_ms)};

        if (write(ack_fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
            _exit(4);
    }
    ledger_stop(l, 5000);
    _exit(0); /* no leak check, no cmocka teardown: the parent owns those */
}

/* read_ack - the child's next answer into *a; false at its end */
static bool read_ack(int fd, struct kill_ack *a)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t r;

    if (poll(&p, 1, KILL_POLL_MS) != 1)
        fail_msg("no answer from the child within %d ms", KILL_POLL_MS);
    do
        r = read(fd, a, sizeof(*a));
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return false;
    assert_int_equal(r, (ssize_t)sizeof(*a));
    return true;
}

struct round {
    const struct kill_case *kc;
    unsigned seed;
    int acked;       /* answers read: records 0..acked-1 */
    int released_at; /* answers read before the lock went (KILL_UNLOCKED) */
    int kill_at;     /* answers read before the kill */
    int journaled;   /* answers "journaled" */
};

/* durable_without_journal - an answer that waited for the writer (or spooled itself) */
static bool durable_without_journal(int ack)
{
    return ack == LEDGER_ACK_STORED || ack == LEDGER_ACK_SELF || ack == LEDGER_ACK_SPOOLED;
}

/*
 * check_ack - the answer for record a->seq is durable, and the one this
 * round expects. With the journal, answers wait for the writer until it
 * has recovered the journals at start: any durable answer is right until
 * the first "journaled" one, and only "journaled" after it.
 */
static void check_ack(struct round *r, const struct kill_ack *a)
{
    bool released = r->kc->db == KILL_UNLOCKED && r->acked >= r->released_at;
    bool ok;

    if (a->seq != r->acked)
        fail_msg("%s (seed %u): answer for record %d, want %d", r->kc->name, r->seed, a->seq,
                 r->acked);
    if (r->kc->journal)
        ok = a->ack == LEDGER_ACK_JOURNALED ||
             (r->journaled == 0 && durable_without_journal(a->ack));
    else if (released)
        ok = a->ack == LEDGER_ACK_SELF || a->ack == LEDGER_ACK_STORED;
    else
        ok = a->ack == (int)r->kc->want;
    if (!ok)
        fail_msg("%s (seed %u): record %d answered %s, want %s", r->kc->name, r->seed, a->seq,
                 ledger_ack_name((enum ledger_ack)a->ack),
                 released && !r->kc->journal ? "self-spooled or stored"
                                             : ledger_ack_name(r->kc->want));
    r->journaled += a->ack == LEDGER_ACK_JOURNALED;
}

/* lock_db - another connection on db holding the write lock; NULL if kc needs none */
static sqlite3 *lock_db(const struct kill_case *kc, const char *db)
{
    sqlite3 *other = NULL;

    if (kc->db != KILL_LOCKED && kc->db != KILL_UNLOCKED)
        return NULL;
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return other;
}

/* unlock_db - release and close other; NULL */
static sqlite3 *unlock_db(sqlite3 *other)
{
    if (other != NULL) {
        assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
    }
    return NULL;
}

/* check_db - every answered record is in db once; at most the one in flight besides */
static void check_db(const struct round *r, const char *db)
{
    char sql[128];
    long long rows = db_count(db, "SELECT count(*) FROM messages");

    if (rows < r->acked || rows > r->acked + 1)
        fail_msg("%s (seed %u): %lld rows after %d answers", r->kc->name, r->seed, rows, r->acked);
    assert_int_equal(db_count(db, "SELECT count(DISTINCT uid) FROM messages"), rows);
    assert_int_equal(db_count(db, "SELECT count(DISTINCT size) FROM messages"), rows);
    assert_true(
        snprintf_ok(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE size < %d", r->acked));
    if (db_count(db, sql) != r->acked)
        fail_msg("%s (seed %u): %lld of the %d answered records in the database", r->kc->name,
                 r->seed, db_count(db, sql), r->acked);
    print_message("%s: killed after %d answers (killed at %d), %lld rows\n", r->kc->name, r->acked,
                  r->kill_at, rows);
}

/* kill_round - one child, killed after a random number of answers plus a random pause */
static void kill_round(const struct kill_case *kc, unsigned seed)
{
    char dir[256], db[300], dbdir[300], spool[300];
    struct round r = {.kc = kc, .seed = seed};
    struct ledger_opts o;
    struct ledger *l;
    struct kill_ack a;
    sqlite3 *other;
    int go[2], acks[2], status;
    pid_t pid;

    case_dir(dir, true);
    join(spool, dir, "ledger.spool");
    if (kc->db == KILL_NO_DIR)
        join(db, join(dbdir, dir, "db"), "ledger.db");
    else
        migrated_db(join(db, dir, "ledger.db"));
    test_opts(&o, db);
    o.spool_path = spool;
    o.flush_ms = 5000; /* an answer never waits for the batch: a kill loses what is queued */
    o.journal = kc->journal;
    if (kc->journal)
        o.batch_max = 64; /* the journal files are switched and emptied during the round */
    r.kill_at = 1 + (int)(rand_r(&seed) % (unsigned)(kc->kill_max - 1));
    r.released_at = (r.kill_at + 1) / 2;

    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(acks), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        close(acks[0]);
        kill_child(&o, kc, go[0], acks[1]);
    }
    close(go[0]);
    close(acks[1]);
    /* Locked only now: a child must not inherit an SQLite connection. */
    other = lock_db(kc, db);
    assert_int_equal(write(go[1], "g", 1), 1);
    while (r.acked < r.kill_at && read_ack(acks[0], &a)) {
        check_ack(&r, &a);
        if (++r.acked == r.released_at && kc->db == KILL_UNLOCKED)
            other = unlock_db(other);
    }
    usleep(rand_r(&seed) % kc->pause_us); /* somewhere in a later answer */
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("%s: the child was not killed by the test (status %#x)", kc->name,
                 (unsigned)status);
    while (read_ack(acks[0], &a)) { /* answers it gave before it died */
        check_ack(&r, &a);
        r.acked++;
    }
    close(acks[0]);
    close(go[1]);
    other = unlock_db(other);

    /* The next run of the process: everything answered is stored once. */
    if (kc->db == KILL_NO_DIR)
        assert_int_equal(mkdir(dbdir, 0700), 0);
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 20000));
    ledger_stop(l, 1000);
    check_db(&r, db);
    assert_int_equal(file_size(spool) > 0, 0);
    if (kc->journal) {
        char j[320];

        if (r.journaled == 0)
            fail_msg("%s (seed %u): no answer of %d was journaled", kc->name, r.seed, r.acked);
        for (int i = 0; i < 2; i++) { /* recovered at the restart, emptied at its stop */
            assert_true(snprintf_ok(j, sizeof(j), "%s.journal.%d", spool, i));
            assert_int_equal(file_size(j) > 0, 0);
        }
    }
}

/* test_kill_after_answer - rounds of kill -9 at random moments, per kind of answer */
static void test_kill_after_answer(void **state)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

    (void)state;
    print_message("seed %u\n", seed);
    for (int round = 0; round < KILL_ROUNDS; round++)
        for (size_t c = 0; c < sizeof(kill_cases) / sizeof(kill_cases[0]); c++)
            kill_round(&kill_cases[c], seed + (unsigned)(round * 16 + c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_after_answer),
    };

    return cmocka_run_group_tests(tests, ledger_fixture_setup, ledger_fixture_teardown);
}
