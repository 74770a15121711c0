/*
 * ledger.h - the ledger writer: one thread per process that owns the
 * database connection and writes every record handed to it.
 *
 * Producers (milter threads) call ledger_put(), which never blocks on the
 * database and never fails: records wait in an in-memory queue bounded in
 * records and in bytes, and are committed in batches (group commit).
 * While the database cannot be written (locked, read-only, missing, disk
 * full), or cannot keep up (a flood, a long replay), records stay queued;
 * past a high-water mark (three quarters of either bound) the writer
 * moves them to an append-only spool file next to the database and
 * replays that file, in order, once the database is back. Mail is never
 * delayed for the database. A producer that finds the queue full (the
 * writer cannot keep up even by spooling) appends its record to the
 * spool itself: it pays that write, nothing is dropped.
 *
 * Nothing is dropped silently: if both bounds (queue and spool) are hit,
 * the record is dropped, a counter goes up and a warning is logged. The
 * byte bound counts ledger_msg_mem(); a record is taken while the queue
 * holds less than queue_max_bytes, so the queue holds at most that plus
 * the one record that crossed it (which the writer spools first).
 *
 * Durability (ledger_put_wait): a producer that must not answer before
 * its record survives the death of the process hands it in and waits.
 * The writer commits at once when someone waits (the records that queued
 * meanwhile go in the same transaction: group commit), and while the
 * database is backing off it appends the queue to the spool at once. A
 * producer still waiting after wait_ms (the writer is stuck in a locked
 * database or a slow disk) appends its own record to the spool. A record
 * may thus be both spooled and committed; replays are idempotent by the
 * record's uid, so it lands once. "Durable" means committed (SQLite WAL,
 * written with write(2)) or appended to the spool with write(2): both
 * survive kill -9; with sync set both are also fsync'ed before the
 * answer, so they survive a power loss.
 */
#ifndef POSTMETER_LEDGER_H
#define POSTMETER_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_msg.h"

struct ledger_opts {
    const char *database;     /* store dsn (SQLite path) */
    const char *spool_path;   /* spool file; NULL = database + ".spool" */
    size_t queue_max;         /* records held in memory at most */
    size_t queue_max_bytes;   /* their ledger_msg_mem() bytes at most (0 = no bound) */
    size_t batch_max;         /* records per transaction at most */
    unsigned flush_ms;        /* longest a record waits for a batch to fill */
    uint64_t spool_max_bytes; /* spool file size bound (0 = no bound) */
    unsigned retry_max_ms;    /* back-off cap between attempts at a broken db */
    unsigned idle_close_ms;   /* close the connection after this long idle,
                                 so a replaced, moved or chmod'ed database
                                 file is seen on the next open */
    bool migrate;             /* apply embedded migrations when opening */
    unsigned cache_mb;        /* page cache of the writer's connection while busy (0:
                                 the store's, always); see LEDGER_CACHE_SMALL_MB */
    unsigned cache_shrink_ms; /* back to the small cache after this long without a
                                 big batch */
    bool sync;                /* fsync commits (SQLite synchronous=FULL) and spool
                                 appends before ledger_put_wait() returns */
    unsigned retention_days;  /* prune rows older than this once a day between
                                 batches (ledger_prune.h); 0 = never */
    bool journal;             /* ledger_put_wait() appends the record to a write-ahead
                                 journal (<spool>.journal.0/.1) and answers at once
                                 (LEDGER_ACK_JOURNALED); see ledger_journal.c */
};

/*
 * The writer's page cache follows its load: batches of fewer than
 * LEDGER_BIG_BATCH records (mail as it comes: a few per flush_ms) run
 * with LEDGER_CACHE_SMALL_MB, where SQLite's misses are reads from the
 * kernel's page cache; a big batch (LEDGER_BIG_BATCH records, or a full
 * batch_max if that is smaller: a backlog, a spool replay) switches
 * to cache_mb, which keeps such batches fast on a large database, until
 * cache_shrink_ms pass without another. Otherwise cache_mb of database
 * pages would stay in the process for good once the database outgrew it.
 */
#define LEDGER_CACHE_SMALL_MB 2
#define LEDGER_BIG_BATCH      256

/* ledger_opts_default - fill o with the defaults (database left NULL) */
void ledger_opts_default(struct ledger_opts *o);

#define LEDGER_WAIT_BUCKETS 96 /* up to 2^25 us (33 s), then the rest */

struct ledger_stats {
    uint64_t put;                            /* records handed in */
    uint64_t written;                        /* records committed to the database */
    uint64_t spooled;                        /* records appended to the spool file */
    uint64_t replayed;                       /* spooled records later committed; a record
                                                stored from both its copies (self-spooled)
                                                counts once, in written or in replayed */
    uint64_t dropped;                        /* records lost because every bound was hit */
    uint64_t failures;                       /* failed database attempts */
    uint64_t rejected;                       /* records the database refused (constraint, bad
                                                data): appended to <spool>.rejected, not retried */
    uint64_t commits;                        /* successful transactions (group commit: far
                                                fewer than written + replayed) */
    uint64_t discarded;                      /* opens (LEDGER_OPEN) not stored because their
                                                token is not in tracked_messages when written;
                                                not in written or replayed. An open both
                                                self-spooled and committed counts twice */
    uint64_t self_spooled;                   /* records a waiting producer appended to the spool
                                                itself (ledger_put_wait past wait_ms) */
    uint64_t unsafe;                         /* ledger_put_wait() returned LEDGER_ACK_MEMORY */
    uint64_t journaled;                      /* ledger_put_wait() answers LEDGER_ACK_JOURNALED */
    uint64_t journal_kept;                   /* journaled records neither stored nor spooled at
                                                stop: left in the journal for the next start
                                                (not in dropped) */
    uint64_t waits;                          /* ledger_put_wait() calls that waited */
    uint64_t wait_hist[LEDGER_WAIT_BUCKETS]; /* their waits, log-linear buckets
                              of microseconds (four per power of two, 19%
                              wide); read with ledger_wait_percentile() */
    size_t queued;                           /* records in memory now */
    size_t queued_bytes;                     /* their ledger_msg_mem() bytes */
    uint64_t spool_bytes;                    /* size of the spool file now */
    bool db_ok;                              /* the last attempt at the database succeeded
                                                (true before the first: no failure seen) */
    unsigned cache_mb; /* the writer's page cache now (0: not set, or no connection) */
};

struct ledger;

/*
 * ledger_start - copy opts, start the writer thread and return its handle.
 * Does not touch the database from the calling thread; an unreachable
 * database at start is logged and retried, not fatal.
 */
struct ledger *ledger_start(const struct ledger_opts *opts);
/* ledger_put - hand over a record (takes ownership); no I/O while the queue has room; with
 * the queue full the caller appends the record to the spool itself (dropped, counted and
 * logged, only if that fails too) */
void ledger_put(struct ledger *l, struct ledger_msg *m);

/* What ledger_put_wait() got for the record, and so what survives a crash. */
enum ledger_ack {
    LEDGER_ACK_STORED,    /* the writer committed it (or, refused by the database,
                             saved it to <spool>.rejected) */
    LEDGER_ACK_SPOOLED,   /* the writer appended it to the spool (database down) */
    LEDGER_ACK_SELF,      /* not settled within wait_ms: the caller appended it to
                             the spool itself; the writer still commits its copy */
    LEDGER_ACK_MEMORY,    /* neither within wait_ms and the spool cannot be
                             written (directory, disk full, bound): the record is
                             only in memory, written later if the process lives;
                             counted in unsafe and warned */
    LEDGER_ACK_DROPPED,   /* the queue was full and the spool cannot be written, or
                             the database refused the record and <spool>.rejected
                             cannot be written: the record is lost (counted in
                             dropped, warned) */
    LEDGER_ACK_JOURNALED, /* appended to the write-ahead journal (o.journal); the
                             writer commits it in its own time, a restart replays it */
};

/*
 * ledger_put_wait - hand over a record (takes ownership) and return once
 * it is durable (see the top of this file), after about wait_ms at most
 * plus one spool append. wait_ms 0 = do not wait (ledger_put(), answered
 * LEDGER_ACK_MEMORY without counting it unsafe). A full queue does not
 * drop the record: the caller spools it at once. With o.journal, once the
 * writer has recovered the journals at start, the record is appended to
 * the journal and the answer comes without waiting for the writer; while
 * the journal cannot be written it waits as without one.
 */
enum ledger_ack ledger_put_wait(struct ledger *l, struct ledger_msg *m, unsigned wait_ms);
/* ledger_ack_name - "stored", "spooled", "self-spooled", "memory", "dropped", "journaled" */
const char *ledger_ack_name(enum ledger_ack a);
/* ledger_wait_percentile - the wait below which pct% of st's waits fell, in us (0: none) */
uint64_t ledger_wait_percentile(const struct ledger_stats *st, unsigned pct);
/*
 * ledger_flush - wait up to timeout_ms until everything handed in so far
 * is committed to the database; true if it was. Precisely: true once
 * every record that was in memory at the call has left memory (committed,
 * spooled, rejected, or dropped) AND the spool holds nothing awaiting
 * replay. From then on each record handed in before the call is in the
 * database, or counted in dropped, rejected or (an open of an unknown
 * token) discarded.
 */
bool ledger_flush(struct ledger *l, unsigned timeout_ms);
/* ledger_get_stats - snapshot of the counters */
void ledger_get_stats(struct ledger *l, struct ledger_stats *st);
/*
 * ledger_stop - commit what can be committed within timeout_ms, spool the
 * rest, stop the thread and free everything. Returns NULL.
 */
struct ledger *ledger_stop(struct ledger *l, unsigned timeout_ms);
/*
 * ledger_stop_stats - ledger_stop(), and the counters as they are at the
 * very end into *st (records dropped by the stop itself included), so a
 * last log line agrees with the warnings before it. Returns NULL.
 */
struct ledger *ledger_stop_stats(struct ledger *l, unsigned timeout_ms, struct ledger_stats *st);

#endif
