/*
 * test_ledger.c - the ledger writer thread against a real SQLite file:
 * group commit, a database that is locked (briefly, and past the busy
 * timeout), missing (its directory does not exist yet) or read-only
 * (0444, seen by a non-root writer), records moved to the spool past the
 * queue's high-water mark and replayed in order, exact drop counts when
 * queue and spool are both full, spool survival across a stop and a
 * restart (and a flush right after start waiting for that replay), and
 * records the database refuses (saved to <spool>.rejected).
 *
 * Each record carries its sequence number in size, so the order in which
 * rows were committed (ORDER BY id) can be checked against the order in
 * which they were handed in.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "ledger.h"
#include "ledger_msg.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#define PUT_MAX_MS 50 /* ledger_put() must return well within this, whatever the database does */

static char tmpdir[] = "/tmp/pm-test-ledger-XXXXXX";
static unsigned case_no;

/* now_ms - monotonic clock in milliseconds */
static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* sleep_ms - sleep for ms milliseconds */
static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Poll the stats of l into st until cond holds; fail after ms milliseconds. */
#define WAIT_STATS(l, st, cond, ms)                                                                \
    do {                                                                                           \
        uint64_t deadline_ = now_ms() + (ms);                                                      \
        for (;;) {                                                                                 \
            ledger_get_stats((l), &(st));                                                          \
            if (cond)                                                                              \
                break;                                                                             \
            if (now_ms() > deadline_)                                                              \
                fail_msg("line %d: timed out waiting for %s", __LINE__, #cond);                    \
            sleep_ms(2);                                                                           \
        }                                                                                          \
    } while (0)

/* case_dir - a fresh directory name for one case (created only if create) into out[256] */
static const char *case_dir(char *out, bool create)
{
    assert_true(snprintf_ok(out, 256, "%s/case-%u", tmpdir, ++case_no));
    if (create)
        assert_int_equal(mkdir(out, 0777), 0);
    return out;
}

/* join - dir/name into out[300] */
static const char *join(char *out, const char *dir, const char *name)
{
    assert_true(snprintf_ok(out, 300, "%s/%s", dir, name));
    return out;
}

/* file_size - bytes in the file at path, -1 if it does not exist */
static long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* make_msg - a record whose size field is its sequence number; caller frees */
static struct ledger_msg *make_msg(int seq)
{
    struct ledger_msg *m = ledger_msg_new();
    char s[64];

    snprintf(s, sizeof(s), "Q%06d", seq);
    ledger_msg_set(&m->queue_id, s);
    ledger_msg_set(&m->host, "mx.example.org");
    ledger_msg_set(&m->mail_from, "alice@example.net");
    ledger_msg_set(&m->action, "accept");
    m->direction = seq % 2 ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    m->size = seq;
    m->received_at = 1795000000;
    snprintf(s, sizeof(s), "rcpt-%06d@example.test", seq);
    ledger_msg_add_rcpt(m, s);
    return m;
}

/* encoded_len - bytes of m in the spool */
static size_t encoded_len(const struct ledger_msg *m)
{
    struct buf b = BUF_INIT;
    size_t n;

    ledger_msg_encode(m, &b);
    n = b.len;
    buf_free(&b);
    return n;
}

/* test_opts - defaults with short timers, for the database at db */
static void test_opts(struct ledger_opts *o, const char *db)
{
    ledger_opts_default(o);
    o->database = db;
    o->flush_ms = 20;
    o->retry_max_ms = 100;
    o->idle_close_ms = 200;
}

/* put_timed - ledger_put that must not take long; returns its duration in ms */
static uint64_t put_timed(struct ledger *l, int seq)
{
    struct ledger_msg *m = make_msg(seq);
    uint64_t t0 = now_ms(), took;

    ledger_put(l, m);
    took = now_ms() - t0;
    if (took >= PUT_MAX_MS)
        fail_msg("ledger_put of record %d took %llu ms", seq, (unsigned long long)took);
    return took;
}

/* put_range - hand in records first..last-1, each timed */
static void put_range(struct ledger *l, int first, int last)
{
    for (int i = first; i < last; i++)
        put_timed(l, i);
}

/* db_seqs - sequence numbers of the stored rows in commit order; how many (0 if no file) */
static size_t db_seqs(const char *path, int *out, size_t max)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    size_t n = 0;

    if (access(path, F_OK) != 0)
        return 0;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, "SELECT size FROM messages ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return 0; /* not migrated yet */
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(n < max);
        out[n++] = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* db_count - the first column of sql on a separate connection */
static long long db_count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* expect_rows - the database holds exactly the records want[0..n), committed in that order */
static void expect_rows(const char *path, const int *want, size_t n)
{
    int *got = xcalloc(n + 16, sizeof(*got));
    size_t k = db_seqs(path, got, n + 16);

    if (k != n)
        fail_msg("%zu rows in %s, want %zu", k, path, n);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("row %zu is record %d, want %d", i, got[i], want[i]);
    assert_int_equal(db_count(path, "SELECT count(DISTINCT uid) FROM messages"), (long long)n);
    assert_int_equal(db_count(path, "SELECT count(*) FROM message_recipients"), (long long)n);
    free(got);
}

/* expect_range - the database holds exactly records first..last-1, in order */
static void expect_range(const char *path, int first, int last)
{
    int *want = xcalloc((size_t)(last - first) + 1, sizeof(*want));

    for (int i = first; i < last; i++)
        want[i - first] = i;
    expect_rows(path, want, (size_t)(last - first));
    free(want);
}

/* migrated_db - create and migrate the database at path, as the CLI would */
static void migrated_db(const char *path)
{
    char err[512];
    struct store *s = store_open(path, 0, err, sizeof(err));

    if (s == NULL)
        fail_msg("%s: %s", path, err);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
}

/* test_group_commit - records put in quick succession share transactions, each stored once */
static void test_group_commit(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    test_opts(&o, db);
    o.flush_ms = 1000; /* only the flush sends the burst: exactly one transaction */
    l = ledger_start(&o);
    put_range(l, 0, 10);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 10);
    assert_int_equal(st.commits, 1);
    expect_range(db, 0, 10);
    ledger_stop(l, 1000);

    /* 3000 records, batches of at most 1000 filled within flush_ms. */
    test_opts(&o, db);
    o.flush_ms = 50;
    l = ledger_start(&o);
    put_range(l, 10, 3010);
    assert_true(ledger_flush(l, 20000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 3000);
    assert_int_equal(st.written, 3000);
    if (st.commits == 0 || st.commits * 100 > st.written)
        fail_msg("%llu commits for %llu records: no group commit", (unsigned long long)st.commits,
                 (unsigned long long)st.written);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.spooled + st.dropped + st.rejected + st.replayed, 0);
    assert_int_equal(st.queued, 0);
    assert_true(st.db_ok);
    expect_range(db, 0, 3010);
    ledger_stop(l, 1000);
}

/* test_locked_briefly - while another connection holds the write lock, puts return at once
 * and rows wait in memory; released, they land */
static void test_locked_briefly(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    sqlite3 *other;
    uint64_t t0;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    migrated_db(db);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    test_opts(&o, db);
    l = ledger_start(&o);
    put_range(l, 0, 100);
    sleep_ms(300); /* the writer is now waiting for the lock */
    put_range(l, 100, 200);
    t0 = now_ms();
    assert_false(ledger_flush(l, 100));
    assert_true(now_ms() - t0 < 1000); /* the flush keeps its own timeout */
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 200);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.commits, 0);
    assert_int_equal(st.queued, 200);
    assert_int_equal(db_seqs(db, (int[1]){0}, 1), 0);

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 200);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.spooled + st.dropped + st.rejected, 0);
    expect_range(db, 0, 200);
    ledger_stop(l, 1000);
    sqlite3_close(other);
}

/* test_locked_past_busy_timeout - a lock held longer than the busy timeout is a failed
 * attempt, retried; puts never wait for it */
static void test_locked_past_busy_timeout(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    sqlite3 *other;
    int n = 0;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    migrated_db(db);
    assert_int_equal(sqlite3_open_v2(db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    test_opts(&o, db);
    l = ledger_start(&o);
    /* Keep handing records in while the writer waits out the busy timeout. */
    for (;;) {
        put_timed(l, n++);
        ledger_get_stats(l, &st);
        if (st.failures > 0 || n > 100000)
            break;
        sleep_ms(20);
    }
    assert_true(st.failures >= 1);
    assert_false(st.db_ok);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.queued, (size_t)n);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, (uint64_t)n);
    assert_true(st.db_ok);
    expect_range(db, 0, n);
    ledger_stop(l, 1000);
    sqlite3_close(other);
}

/* test_missing_directory - no database directory yet: rows wait, and land once it exists */
static void test_missing_directory(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    join(db, case_dir(dir, false), "ledger.db");
    test_opts(&o, db);
    l = ledger_start(&o);
    put_range(l, 0, 20);
    WAIT_STATS(l, st, st.failures >= 2, 5000);
    assert_false(ledger_flush(l, 50));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.queued, 20);
    assert_false(st.db_ok);
    put_range(l, 20, 25);

    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 25);
    assert_int_equal(st.spooled + st.dropped + st.rejected, 0);
    assert_true(st.db_ok);
    expect_range(db, 0, 25);
    ledger_stop(l, 1000);
}

/*
 * set_thread_ids - change the calling thread's effective uid/gid only.
 * Tests run as root, and root ignores permission bits, so a 0444 file is
 * only read-only to a writer thread with another effective uid. The raw
 * system calls (unlike the glibc wrappers, which change every thread)
 * act on one thread; a thread inherits its creator's ids, so the writer
 * started in between runs as nobody while the test goes back to root.
 */
static bool set_thread_ids(uid_t uid, gid_t gid)
{
    if (uid != 0)
        return syscall(SYS_setresgid, -1, gid, -1) == 0 && syscall(SYS_setresuid, -1, uid, -1) == 0;
    return syscall(SYS_setresuid, -1, 0, -1) == 0 && syscall(SYS_setresgid, -1, 0, -1) == 0;
}

/* test_readonly_file - a database file the writer cannot write: rows wait, land once it can */
static void test_readonly_file(void **state)
{
    char dir[256], db[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    bool switched;

    (void)state;
    /* Needs root, to start a writer under another uid. */
    if (getuid() != 0)
        skip();
    /* Let nobody through the 0700 mkdtemp directory, without listing it. */
    assert_int_equal(chmod(tmpdir, 0711), 0);
    join(db, case_dir(dir, true), "ledger.db");
    assert_int_equal(chmod(dir, 0777), 0); /* -wal, -shm and spool files of the writer */
    migrated_db(db);
    assert_int_equal(chmod(db, 0444), 0);

    test_opts(&o, db);
    switched = set_thread_ids(65534, 65534);
    l = switched ? ledger_start(&o) : NULL;
    assert_true(set_thread_ids(0, 0));
    assert_true(switched);
    put_range(l, 0, 20);
    WAIT_STATS(l, st, st.failures >= 2, 5000);
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.queued, 20);
    /*
     * No look into the database from here while it is 0444: a read-only
     * connection of root's would create the WAL index (-shm) owned by
     * root with the file's 0444 mode, which the writer (nobody) could not
     * repair after the chmod below. The stats say nothing was written.
     * The writer's own side files, created while the file was read-only,
     * are its to repair (store_sqlite.c: heal_side_files).
     */
    assert_int_equal(chmod(db, 0666), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.written, 20);
    assert_true(st.db_ok);
    expect_range(db, 0, 20);
    ledger_stop(l, 1000);
}

/* test_spool_and_replay - past the high-water mark records go to the spool; they are
 * replayed in order, before newer ones, once the database is back */
static void test_spool_and_replay(void **state)
{
    char dir[256], db[300], spool[300], dbdir[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    case_dir(dir, true);
    join(dbdir, dir, "db");
    join(db, dbdir, "ledger.db");
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");
    o.queue_max = 100;
    o.batch_max = 10;
    l = ledger_start(&o);
    for (int i = 0; i < 300; i++) {
        /* Leave the writer room: this case is about spooling, not dropping. */
        WAIT_STATS(l, st, st.queued < 95, 5000);
        put_timed(l, i);
    }
    WAIT_STATS(l, st, st.spooled > 0, 5000);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.written, 0);
    assert_true(st.spooled + st.queued == 300);
    assert_true(st.spool_bytes > 0);
    assert_true((uint64_t)file_size(spool) == st.spool_bytes);
    assert_false(ledger_flush(l, 50));

    assert_int_equal(mkdir(dbdir, 0700), 0);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_true(st.spooled > 0);
    assert_int_equal(st.replayed, st.spooled);
    assert_int_equal(st.written + st.replayed, 300);
    assert_int_equal(st.dropped + st.rejected, 0);
    assert_int_equal(st.spool_bytes, 0);
    assert_int_equal(file_size(spool), 0);
    expect_range(db, 0, 300);
    ledger_stop(l, 1000);
}

struct bounds_case {
    const char *name;
    size_t queue_max;
    int spool_records; /* the spool bound fits exactly this many records (0: none) */
    int puts;
};

static const struct bounds_case bounds_cases[] = {
    {"spool-takes-none", 8, 0, 20},
    {"spool-takes-three", 8, 3, 20},
    {"queue-of-one", 1, 1, 5},
};

/* test_both_bounds - queue and spool full: every lost record is counted in dropped, and
 * only the oldest records (queue, then spool) survive */
static void test_both_bounds(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(bounds_cases) / sizeof(bounds_cases[0]); c++) {
        const struct bounds_case *bc = &bounds_cases[c];
        char dir[256], db[300], spool[300], dbdir[300];
        struct ledger_opts o;
        struct ledger_stats st;
        struct ledger *l;
        uint64_t bound = 0;
        int kept;

        case_dir(dir, true);
        join(dbdir, dir, "db");
        join(db, dbdir, "ledger.db");
        test_opts(&o, db);
        o.spool_path = join(spool, dir, "ledger.spool");
        o.queue_max = bc->queue_max;
        /* No attempt at the database (so no spooling) before every put is done. */
        o.flush_ms = 500;
        for (int i = 0; i < bc->spool_records; i++) {
            struct ledger_msg *m = make_msg(i);

            bound += encoded_len(m);
            ledger_msg_free(m);
        }
        o.spool_max_bytes = bound ? bound : 1;
        l = ledger_start(&o);
        put_range(l, 0, bc->puts);
        ledger_get_stats(l, &st);
        kept = (int)bc->queue_max;
        if (st.dropped != (uint64_t)(bc->puts - kept) || st.queued != (size_t)kept)
            fail_msg("%s: dropped %llu, queued %zu", bc->name, (unsigned long long)st.dropped,
                     st.queued);
        /* The writer fails, backs off and spools what fits. */
        WAIT_STATS(l, st, st.failures >= 2, 5000);
        if (bc->spool_records)
            WAIT_STATS(l, st, st.spooled == (uint64_t)bc->spool_records, 5000);
        sleep_ms(150);
        ledger_get_stats(l, &st);
        if (st.spooled != (uint64_t)bc->spool_records)
            fail_msg("%s: spooled %llu", bc->name, (unsigned long long)st.spooled);
        assert_int_equal(st.spool_bytes, bc->spool_records ? bound : 0);
        /* Room was made in the queue: now a new record fits, and is kept. */
        put_timed(l, bc->puts);
        ledger_get_stats(l, &st);
        if (bc->spool_records) {
            assert_int_equal(st.dropped, (uint64_t)(bc->puts - kept));
            kept++;
        } else {
            assert_int_equal(st.dropped, (uint64_t)(bc->puts + 1 - kept));
        }

        assert_int_equal(mkdir(dbdir, 0700), 0);
        assert_true(ledger_flush(l, 10000));
        ledger_get_stats(l, &st);
        assert_int_equal(st.put, (uint64_t)bc->puts + 1);
        assert_int_equal(st.replayed, (uint64_t)bc->spool_records);
        assert_int_equal(st.written + st.replayed, (uint64_t)kept);
        assert_int_equal(st.put, st.written + st.replayed + st.dropped);
        {
            int want[16], n = 0;

            for (int i = 0; i < (int)bc->queue_max; i++)
                want[n++] = i;
            if (bc->spool_records)
                want[n++] = bc->puts;
            expect_rows(db, want, (size_t)n);
        }
        ledger_stop(l, 1000);
    }
}

/* spool_seqs - the records waiting in the spool file at path, in order; how many */
static size_t spool_seqs(const char *path, int *out, size_t max)
{
    char err[512];
    struct spool *sp = spool_open(path, 0, err, sizeof(err));
    struct ledger_msg *m[64];
    size_t n = 0, k;

    if (sp == NULL)
        fail_msg("%s", err);
    do {
        assert_int_equal(spool_next(sp, m, 64, &k), 0);
        for (size_t i = 0; i < k; i++) {
            assert_true(n < max);
            out[n++] = (int)m[i]->size;
            ledger_msg_free(m[i]);
        }
    } while (k == 64);
    spool_close(sp); /* without spool_done(): the file is left as it was */
    return n;
}

/* test_stop_and_restart - records in memory at stop go to the spool; a later writer
 * replays them, in order, ahead of its own records */
static void test_stop_and_restart(void **state)
{
    char dir[256], db[300], spool[300], dbdir[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    int seqs[128];
    size_t n;

    (void)state;
    case_dir(dir, true);
    join(dbdir, dir, "db");
    join(db, dbdir, "ledger.db");
    test_opts(&o, db);
    o.spool_path = join(spool, dir, "ledger.spool");

    /* First run: the database never comes. */
    l = ledger_start(&o);
    put_range(l, 0, 30);
    WAIT_STATS(l, st, st.failures >= 1, 5000);
    ledger_stop(l, 300);
    n = spool_seqs(spool, seqs, 128);
    assert_int_equal(n, 30);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], (int)i);

    /* Second run: still no database; its records queue behind the spooled ones. */
    l = ledger_start(&o);
    assert_false(ledger_flush(l, 200));
    put_range(l, 30, 40);
    ledger_stop(l, 300);
    n = spool_seqs(spool, seqs, 128);
    assert_int_equal(n, 40);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seqs[i], (int)i);

    /* Third run: the database is there; everything lands, oldest first. */
    assert_int_equal(mkdir(dbdir, 0700), 0);
    l = ledger_start(&o);
    put_range(l, 40, 45);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.put, 5);
    assert_int_equal(st.replayed, 40);
    assert_int_equal(st.written, 5);
    assert_int_equal(st.dropped + st.rejected, 0);
    assert_int_equal(file_size(spool), 0);
    expect_range(db, 0, 45);
    ledger_stop(l, 1000);
}

/* write_spool - a spool file holding records first..last-1, as an earlier run leaves it;
 * the record at bad (if in range) has no action, which the database refuses */
static void write_spool(const char *path, int first, int last, int bad)
{
    char err[512];
    struct spool *sp = spool_open(path, 0, err, sizeof(err));
    struct ledger_msg *m[64];
    int n = last - first;

    if (sp == NULL)
        fail_msg("%s", err);
    assert_true(n > 0 && n <= 64);
    for (int i = 0; i < n; i++) {
        m[i] = make_msg(first + i);
        if (first + i == bad)
            m[i]->action = xfree(m[i]->action);
    }
    assert_int_equal(spool_append(sp, m, (size_t)n), n);
    for (int i = 0; i < n; i++)
        ledger_msg_free(m[i]);
    spool_close(sp);
}

/* test_flush_right_after_start - a spool left by an earlier run counts as pending from
 * the first moment: a flush right after start waits for its replay */
static void test_flush_right_after_start(void **state)
{
    char dir[256], db[300], spool[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    migrated_db(db);
    test_opts(&o, db);
    for (int round = 0; round < 5; round++) {
        write_spool(spool, 10 * round, 10 * round + 10, -1);
        l = ledger_start(&o);
        assert_true(ledger_flush(l, 10000));
        ledger_get_stats(l, &st);
        if (st.replayed != 10)
            fail_msg("round %d: flush returned with %llu of 10 records replayed", round,
                     (unsigned long long)st.replayed);
        expect_range(db, 0, 10 * round + 10);
        ledger_stop(l, 1000);
        assert_int_equal(file_size(spool), 0);
    }
}

/* test_rejected - a record the database refuses goes to <spool>.rejected, the rest land;
 * both for records from memory and for records replayed from the spool */
static void test_rejected(void **state)
{
    static const int want_live[] = {0, 1, 3, 4};
    static const int want_replayed[] = {5, 7};
    char dir[256], db[300], spool[300], rejected[300];
    struct ledger_opts o;
    struct ledger_stats st;
    struct ledger *l;
    int seqs[8];

    (void)state;
    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    join(rejected, dir, "ledger.db.spool.rejected");
    migrated_db(db);
    test_opts(&o, db);
    l = ledger_start(&o);
    for (int i = 0; i < 5; i++) {
        struct ledger_msg *m = make_msg(i);

        /* action is NOT NULL in the schema: a constraint error, never retried */
        if (i == 2)
            m->action = xfree(m->action);
        ledger_put(l, m);
    }
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.written, 4);
    assert_int_equal(st.dropped + st.spooled, 0);
    expect_rows(db, want_live, 4);
    ledger_stop(l, 1000); /* releases the rejected file */
    assert_int_equal(spool_seqs(rejected, seqs, 8), 1);
    assert_int_equal(seqs[0], 2);
    assert_true(file_size(spool) <= 0); /* nothing ever waited in the spool */

    /* A refused record met during a replay, into a database the ledger creates. */
    join(db, case_dir(dir, true), "ledger.db");
    join(spool, dir, "ledger.db.spool");
    join(rejected, dir, "ledger.db.spool.rejected");
    write_spool(spool, 5, 8, 6);
    test_opts(&o, db);
    l = ledger_start(&o);
    assert_true(ledger_flush(l, 10000));
    ledger_get_stats(l, &st);
    assert_int_equal(st.replayed, 2);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.written + st.dropped, 0);
    expect_rows(db, want_replayed, 2);
    ledger_stop(l, 1000);
    assert_int_equal(spool_seqs(rejected, seqs, 8), 1);
    assert_int_equal(seqs[0], 6);
    assert_int_equal(file_size(spool), 0);
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
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_locked_briefly),
        cmocka_unit_test(test_locked_past_busy_timeout),
        cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_readonly_file),
        cmocka_unit_test(test_spool_and_replay),
        cmocka_unit_test(test_both_bounds),
        cmocka_unit_test(test_stop_and_restart),
        cmocka_unit_test(test_flush_right_after_start),
        cmocka_unit_test(test_rejected),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
