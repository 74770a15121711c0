/*
 * ledger_fixture.c - what the ledger unit tests share (test_ledger.c,
 * test_ledger_spool.c, test_ledger_ack*.c); see ledger_fixture.h.
 */
#include <errno.h>
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

#include "ledger_fixture.h"
#include "tmpdir_fixture.h"

static char tmpdir[] = "/tmp/pm-test-ledger-XXXXXX";
static unsigned case_no;

const char *ledger_fixture_dir(void)
{
    return tmpdir;
}

/* now_ms - monotonic clock in milliseconds */
uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* sleep_ms - sleep for ms milliseconds */
void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* case_dir - a fresh directory name for one case (created only if create) into out[256] */
const char *case_dir(char *out, bool create)
{
    assert_true(snprintf_ok(out, 256, "%s/case-%u", tmpdir, ++case_no));
    if (create)
        assert_int_equal(mkdir(out, 0777), 0);
    return out;
}

/* join - dir/name into out[300] */
const char *join(char *out, const char *dir, const char *name)
{
    assert_true(snprintf_ok(out, 300, "%s/%s", dir, name));
    return out;
}

/* file_size - bytes in the file at path, -1 if it does not exist */
long long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* make_msg - a record whose size field is its sequence number; caller frees */
struct ledger_msg *make_msg(int seq)
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
size_t encoded_len(const struct ledger_msg *m)
{
    struct buf b = BUF_INIT;
    size_t n;

    ledger_msg_encode(m, &b);
    n = b.len;
    buf_free(&b);
    return n;
}

/* test_opts - defaults with short timers, for the database at db */
void test_opts(struct ledger_opts *o, const char *db)
{
    ledger_opts_default(o);
    o->database = db;
    o->flush_ms = 20;
    o->retry_max_ms = 100;
    o->idle_close_ms = 200;
}

/* put_timed - ledger_put that must not take long; returns its duration in ms */
uint64_t put_timed(struct ledger *l, int seq)
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
void put_range(struct ledger *l, int first, int last)
{
    for (int i = first; i < last; i++)
        put_timed(l, i);
}

/* db_seqs - sequence numbers of the stored rows in commit order; how many (0 if no file) */
size_t db_seqs(const char *path, int *out, size_t max)
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
long long db_count(const char *path, const char *sql)
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
void expect_rows(const char *path, const int *want, size_t n)
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
void expect_range(const char *path, int first, int last)
{
    int *want = xcalloc((size_t)(last - first) + 1, sizeof(*want));

    for (int i = first; i < last; i++)
        want[i - first] = i;
    expect_rows(path, want, (size_t)(last - first));
    free(want);
}

/* migrated_db - create and migrate the database at path, as the CLI would */
void migrated_db(const char *path)
{
    char err[512];
    struct store *s = store_open(path, 0, err, sizeof(err));

    if (s == NULL)
        fail_msg("%s: %s", path, err);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
}

/* spool_seqs - the records waiting in the spool file at path, in order; how many */
size_t spool_seqs(const char *path, int *out, size_t max)
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

/* write_spool - a spool file holding records first..last-1, as an earlier run leaves it;
 * the record at bad (if in range) has no action, which the database refuses */
void write_spool(const char *path, int first, int last, int bad)
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

/* timed_wait - ledger_put_wait of record seq, timed */
struct answer timed_wait(struct ledger *l, int seq, unsigned wait_ms)
{
    uint64_t t0 = now_ms();
    enum ledger_ack a = ledger_put_wait(l, make_msg(seq), wait_ms);

    return (struct answer){a, now_ms() - t0};
}

/* expect_ack - the answer is want, given within [lo, hi) ms */
void expect_ack(const char *what, struct answer got, enum ledger_ack want, uint64_t lo, uint64_t hi)
{
    if (got.ack != want)
        fail_msg("%s: answered %s, want %s", what, ledger_ack_name(got.ack), ledger_ack_name(want));
    if (got.took < lo || got.took >= hi)
        fail_msg("%s: answered %s after %llu ms, want [%llu, %llu)", what, ledger_ack_name(got.ack),
                 (unsigned long long)got.took, (unsigned long long)lo, (unsigned long long)hi);
}

/* expect_set - the database holds records first..last-1 exactly once each, in any order */
void expect_set(const char *path, int first, int last)
{
    long long n = last - first;

    assert_int_equal(db_count(path, "SELECT count(*) FROM messages"), n);
    assert_int_equal(db_count(path, "SELECT count(DISTINCT uid) FROM messages"), n);
    assert_int_equal(db_count(path, "SELECT count(DISTINCT size) FROM messages"), n);
    if (n > 0) {
        assert_int_equal(db_count(path, "SELECT min(size) FROM messages"), first);
        assert_int_equal(db_count(path, "SELECT max(size) FROM messages"), last - 1);
    }
}

/* spool_file_seqs - the records in the spool file at path now, read without its lock */
long spool_file_seqs(const char *path, int *out, size_t max)
{
    struct buf b = BUF_INIT;
    size_t at = 0, used;
    long n = 0;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return 0;
    if (!buf_read_fd(&b, fileno(f)))
        n = -1;
    fclose(f);
    while (n >= 0 && at < b.len) {
        struct ledger_msg *m = ledger_msg_decode(b.data + at, b.len - at, &used);

        if (m == NULL || (size_t)n >= max)
            n = -1;
        else
            out[n++] = (int)m->size;
        ledger_msg_free(m);
        at += used;
    }
    buf_free(&b);
    return n;
}

/* spool_holds - the spool file at path holds record seq exactly once */
bool spool_holds(const char *path, int seq)
{
    int seqs[64], k = 0;
    long n = spool_file_seqs(path, seqs, 64);

    for (long i = 0; i < n; i++)
        k += seqs[i] == seq;
    return k == 1;
}

/*
 * switch_thread_ids - change the calling thread's effective uid/gid only.
 * The raw system calls (unlike the glibc wrappers, which change every
 * thread) act on one thread; a thread inherits its creator's ids, so a
 * writer started in between runs as uid while the test goes back to root.
 */
bool switch_thread_ids(uid_t uid, gid_t gid)
{
    if (uid != 0)
        return syscall(SYS_setresgid, -1, gid, -1) == 0 && syscall(SYS_setresuid, -1, uid, -1) == 0;
    return syscall(SYS_setresuid, -1, 0, -1) == 0 && syscall(SYS_setresgid, -1, 0, -1) == 0;
}

/* ledger_fixture_setup - a private temporary directory */
int ledger_fixture_setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir);
}

/* ledger_fixture_teardown - remove the temporary directory and everything in it */
int ledger_fixture_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

/* journal_path - "<spool>.journal.<i>" into out[320] */
const char *journal_path(char *out, const char *spool, int i)
{
    assert_true(snprintf_ok(out, 320, "%s.journal.%d", spool, i));
    return out;
}

/* spool_count - how many times the spool-format file at path holds record seq (missing: 0) */
int spool_count(const char *path, int seq)
{
    int seqs[JOURNAL_RECS_MAX], k = 0;
    long n = spool_file_seqs(path, seqs, JOURNAL_RECS_MAX);

    assert_true(n >= 0);
    for (long i = 0; i < n; i++)
        k += seqs[i] == seq;
    return k;
}

/* journal_count - how many times both journal files together hold record seq */
int journal_count(const char *spool, int seq)
{
    char j[320];

    return spool_count(journal_path(j, spool, 0), seq) +
           spool_count(journal_path(j, spool, 1), seq);
}

/* journal_bytes - both journal files' sizes together (a missing file counts 0) */
long long journal_bytes(const char *spool)
{
    char j[320];
    long long n = 0;

    for (int i = 0; i < 2; i++)
        if (file_size(journal_path(j, spool, i)) > 0)
            n += file_size(j);
    return n;
}

/* journal_case - a migrated database and a spool path in a fresh directory; journal on */
void journal_case(char *dir, char *db, char *spool, struct ledger_opts *o)
{
    join(db, case_dir(dir, true), "ledger.db");
    migrated_db(db);
    join(spool, dir, "ledger.spool");
    test_opts(o, db);
    o->spool_path = spool;
    o->journal = true;
}
