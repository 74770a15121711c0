/*
 * ledger_prune.h - retention as it runs: a prune in batches that stay
 * short, with pauses between them, so that every other writer of the
 * database (the ledger's writer, postmeter-tracker's) waits for one short
 * batch at most; used by "postmeter prune" and, once a day with
 * retention_days set, by postmeter-milter's ledger writer between its
 * batches (ledger_prune_tick).
 *
 * A batch is aimed at LEDGER_PRUNE_BATCH_MS: after a batch that took
 * more than twice that, the next one is cut to what would have taken the
 * aim; after one that took less than half, it grows by a quarter (a
 * batch that suddenly takes longer, on a busy disk, is then never far
 * past the aim). After each batch
 * the prune pauses LEDGER_PRUNE_DUTY times as long as the batch took
 * (LEDGER_PRUNE_PAUSE_MS at least): a writer sleeping in SQLite's busy
 * handler finds the lock free before the next batch takes it, and a
 * writer that writes all the time keeps most of its throughput.
 */
#ifndef POSTMETER_LEDGER_PRUNE_H
#define POSTMETER_LEDGER_PRUNE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

#define LEDGER_PRUNE_BATCH_MS   20    /* aim of a batch's time */
#define LEDGER_PRUNE_DUTY       5     /* pause this many times as long as a batch took */
#define LEDGER_PRUNE_PAUSE_MS   10    /* the shortest pause between two batches */
#define LEDGER_PRUNE_MIN_ROWS   1     /* rows (parents) per batch at least ... */
#define LEDGER_PRUNE_MAX_ROWS   1024  /* ... and at most */
#define LEDGER_PRUNE_FIRST_ROWS 64    /* rows of the first batch */
#define LEDGER_PRUNE_EVERY_S    86400 /* the writer prunes once a day */
#define LEDGER_PRUNE_RETRY_S    600   /* after a failed batch, the writer tries again then */

/* One prune under way. */
struct ledger_prune_run {
    int64_t cut;                       /* rows older than this go */
    unsigned limit;                    /* parents per batch now */
    struct store_prune_counts removed; /* rows removed so far */
    uint64_t batches;                  /* batches committed */
    uint64_t longest_us;               /* the longest batch */
    uint64_t pause_us;                 /* to wait after the last batch */
    unsigned duty;                     /* pause this many times a batch's time */
};

/* ledger_prune_start - begin a prune of the rows older than cut */
void ledger_prune_start(struct ledger_prune_run *r, int64_t cut);
/* ledger_prune_next_limit - parents for the batch after one of limit parents that took us */
unsigned ledger_prune_next_limit(unsigned limit, uint64_t us);
/*
 * ledger_prune_step - one batch of r (no pause: the caller waits
 * r->pause_us before the next); *more false when nothing is left. On
 * failure r->removed is what the earlier batches removed.
 */
enum store_status ledger_prune_step(struct store *s, struct ledger_prune_run *r, bool *more);

/*
 * ledger_prune_run_all - run r to its end: batches with their pauses
 * (sleeping) between them; on failure r->removed is what went before
 */
enum store_status ledger_prune_run_all(struct store *s, struct ledger_prune_run *r);

/* The ledger writer's daily prune; all zero = the first run is due at once. */
struct ledger_prune_state {
    int64_t next_at;    /* wall clock: when the next run is due */
    bool running;       /* a run is under way */
    uint64_t resume_ms; /* monotonic: its next batch not before then */
    struct ledger_prune_run run;
};

/*
 * ledger_prune_tick - for the ledger writer, between its batches: with
 * retention_days > 0, start a run (cut: now - retention_days) once a
 * day, and do at most one batch of it per call, never sooner than the
 * pause after the last. Logs what a run removed, or why it failed (then
 * retries after LEDGER_PRUNE_RETRY_S). True while the run has work left:
 * call again after ledger_prune_wait_ms().
 */
bool ledger_prune_tick(struct store *s, struct ledger_prune_state *ps, time_t now,
                       unsigned retention_days);
/*
 * ledger_prune_wait_ms - milliseconds until ledger_prune_tick() has work
 * (0: now), UINT64_MAX with retention_days 0
 */
uint64_t ledger_prune_wait_ms(const struct ledger_prune_state *ps, time_t now,
                              unsigned retention_days);

#endif
