/*
 * ledger_fixture.h - what the ledger unit tests share (test_ledger.c:
 * the database in trouble; test_ledger_spool.c: the spool;
 * test_ledger_ack*.c: ledger_put_wait's answers): a private temporary
 * directory with one fresh directory per case, records that carry their
 * sequence number in size, timed puts and waits, and checks of what the
 * database and the spool hold, in commit order.
 */
#ifndef POSTMETER_TEST_LEDGER_FIXTURE_H
#define POSTMETER_TEST_LEDGER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ledger.h"
#include "ledger_msg.h"

#define PUT_MAX_MS    50 /* ledger_put() must return well within this, whatever the database does */
#define ANSWER_MAX_MS 2000 /* an answer that waits for no timer comes well within this */

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

/* now_ms - monotonic clock in milliseconds */
uint64_t now_ms(void);
/* sleep_ms - sleep for ms milliseconds */
void sleep_ms(unsigned ms);
/* case_dir - a fresh directory name for one case (created only if create) into out[256] */
const char *case_dir(char *out, bool create);
/* join - dir/name into out[300] */
const char *join(char *out, const char *dir, const char *name);
/* file_size - bytes in the file at path, -1 if it does not exist */
long long file_size(const char *path);
/* make_msg - a record whose size field is its sequence number; caller frees */
struct ledger_msg *make_msg(int seq);
/* encoded_len - bytes of m in the spool */
size_t encoded_len(const struct ledger_msg *m);
/* test_opts - defaults with short timers, for the database at db */
void test_opts(struct ledger_opts *o, const char *db);
/* put_timed - ledger_put that must not take long; returns its duration in ms */
uint64_t put_timed(struct ledger *l, int seq);
/* put_range - hand in records first..last-1, each timed */
void put_range(struct ledger *l, int first, int last);
/* db_seqs - sequence numbers of the stored rows in commit order; how many (0 if no file) */
size_t db_seqs(const char *path, int *out, size_t max);
/* db_count - the first column of sql on a separate connection */
long long db_count(const char *path, const char *sql);
/* expect_rows - the database holds exactly the records want[0..n), committed in that order */
void expect_rows(const char *path, const int *want, size_t n);
/* expect_range - the database holds exactly records first..last-1, in order */
void expect_range(const char *path, int first, int last);
/* migrated_db - create and migrate the database at path, as the CLI would */
void migrated_db(const char *path);
/* spool_seqs - the records waiting in the spool file at path, in order; how many */
size_t spool_seqs(const char *path, int *out, size_t max);
/* write_spool - a spool file holding records first..last-1, as an earlier run leaves it;
 * the record at bad (if in range) has no action, which the database refuses */
void write_spool(const char *path, int first, int last, int bad);
/* What a waiting connection got from ledger_put_wait(), and after how long. */
struct answer {
    enum ledger_ack ack;
    uint64_t took; /* ms */
};

/* timed_wait - ledger_put_wait of record seq, timed */
struct answer timed_wait(struct ledger *l, int seq, unsigned wait_ms);
/* expect_ack - the answer is want, given within [lo, hi) ms; what names the case */
void expect_ack(const char *what, struct answer got, enum ledger_ack want, uint64_t lo,
                uint64_t hi);
/* expect_set - the database holds records first..last-1 exactly once each, in any order */
void expect_set(const char *path, int first, int last);
/* spool_file_seqs - the records in the spool file at path as it is now, read without the
 * spool's lock (a running ledger holds it); how many, 0 without a file, -1 if it holds
 * anything but whole records. No cmocka assertion: threads may call it. */
long spool_file_seqs(const char *path, int *out, size_t max);
/* spool_holds - the spool file at path holds record seq exactly once (no cmocka assertion) */
bool spool_holds(const char *path, int seq);
/* switch_thread_ids - the calling thread's effective uid and gid only (a writer started
 * in between runs as them; root ignores permission bits); true if it worked */
bool switch_thread_ids(uid_t uid, gid_t gid);
#define JOURNAL_RECS_MAX 256 /* records journal_count() reads from one file at most */
/* journal_path - "<spool>.journal.<i>" into out[320] */
const char *journal_path(char *out, const char *spool, int i);
/* spool_count - how many times the spool-format file at path holds record seq (missing: 0;
 * at most JOURNAL_RECS_MAX records read) */
int spool_count(const char *path, int seq);
/* journal_count - how many times both journal files together hold record seq */
int journal_count(const char *spool, int seq);
/* journal_bytes - both journal files' sizes together (a missing file counts 0) */
long long journal_bytes(const char *spool);
/* journal_case - a migrated database (dir/ledger.db) and spool path (dir/ledger.spool) in a
 * fresh directory dir[256] (db, spool: [300]); test_opts with the journal on */
void journal_case(char *dir, char *db, char *spool, struct ledger_opts *o);
/* ledger_fixture_dir - the private temporary directory of this run */
const char *ledger_fixture_dir(void);
/* ledger_fixture_setup - a private temporary directory */
int ledger_fixture_setup(void **state);
/* ledger_fixture_teardown - remove the temporary directory and everything in it */
int ledger_fixture_teardown(void **state);

#endif
