/*
 * ledger_int.h - what the ledger writer's files share (ledger.c: the
 * queue, the producers and the writer's loop; ledger_db.c: the
 * database; ledger_spool.c: the spool). Not for use outside lib/ledger*.c.
 */
#ifndef POSTMETER_LEDGER_INT_H
#define POSTMETER_LEDGER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "ledger.h"
#include "ledger_prune.h"

#define BACKOFF_MIN_MS 100   /* first pause after a failed attempt */
#define LOG_EVERY_MS   60000 /* repeat a failure warning at most this often */
#define DROP_LOG_MS    10000 /* report drops at most this often */
#define SPOOL_RETRY_MS 1000  /* after a short or failed spool append */
#define STOP_USERS_MS  5000  /* ledger_stop() waits this long for callers still inside */
/* Records per replayed batch at most: a waiting answer waits for one such
   commit at worst (a few ms). */
#define REPLAY_BATCH 512
/* A full queue's records are gathered this many bytes at a time before
   they are appended to the spool (ledger_spill): one write(2) for a few
   hundred opens in a flood instead of one each. */
#define LEDGER_SPILL_BYTES (64u * 1024)

/*
 * A producer waiting in ledger_put_wait() for one ring entry. The writer
 * sets fate and done, and signals cv, when it takes the entry off the
 * ring (under mu); a producer that gives up first unhooks itself.
 */
struct ledger_waiter {
    pthread_cond_t cv;
    enum ledger_ack fate;
    bool done;
};

struct ledger {
    struct ledger_opts o;
    char *database, *spool_path, *rejected_path;
    bool is_file; /* the dsn is a file we can stat() */
    size_t high_water, high_water_bytes;
    pthread_t thread;

    /* Shared with producers, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* the writer waits on it */
    pthread_cond_t settled; /* ledger_flush() waits on it */
    struct ledger_msg **ring;
    size_t *ring_mem; /* ledger_msg_mem() of each ring entry, as ledger_put() counted it */
    struct ledger_waiter **ring_wait; /* who waits for each ring entry (NULL: nobody) */
    bool *ring_self;                  /* the entry's producer spooled a copy itself */
    bool *ring_jnl;                   /* the entry is in a journal file (journal_put) */
    unsigned users;                   /* callers inside ledger_put*() now */
    bool closed;                      /* the writer has finished: nothing more is taken */
    size_t waiters;                   /* ring entries someone waits for */
    uint64_t unsafe_logged_at;        /* ms: the last warning about LEDGER_ACK_MEMORY */
    size_t head, count, bytes;
    uint64_t removed;        /* records taken off the ring's head, ever */
    uint64_t batch_deadline; /* ms: the oldest queued record must go by then */
    bool writer_waiting, stopping, spool_pending;
    bool spill_pending; /* ledger_spill gathered records: the writer appends them next */
    uint64_t stop_deadline;
    struct ledger_stats st;

    /* The spool: opened by whoever needs it first (the writer, or a
       producer spooling its own record), used under smu; lock order smu
       before mu. */
    pthread_mutex_t smu;
    struct spool *spool;
    struct buf spill;             /* under smu: encoded records a full queue could not take
                                     (ledger_put), LEDGER_SPILL_BYTES at most, then appended */
    size_t spill_n;               /* under smu: how many records spill holds */
    size_t *spill_end, spill_cap; /* under smu: where each of them ends in spill */
    uint64_t spool_warned_at;     /* ms: the last warning that it cannot be opened */

    /* The write-ahead journal (o.journal; ledger_journal.c): two files,
       producers append to jr[jcur] under jmu (lock order jmu before mu and
       before smu is never needed: jmu is released before any spooling). */
    pthread_mutex_t jmu;
    char *jpath[2];
    struct spool *jr[2];
    int jcur;            /* the file producers append to; changed by the writer under jmu */
    bool jrecovered;     /* under mu: the journals were moved to the spool at start
                            (until then spool_pending stays true for ledger_flush) */
    bool jready;         /* recovered at start and usable: producers may journal */
    uint64_t jwarned_at; /* ms: the last warning that an append failed */
    bool jold_pending;   /* the writer's: jr[!jcur] waits to be emptied */
    bool jkeep;          /* the writer's: a record was dropped after it may have been
                            journaled: journaling stops, the files are kept for the
                            next start (which stores or saves its copy to .rejected) */
    uint64_t jold_until; /* once removed reaches this, jr[!jcur] holds nothing needed */

    /* The writer thread's own. */
    struct store *store;
    struct ledger_prune_state prune; /* retention_days: the daily prune */
    dev_t dev;
    ino_t ino;
    struct spool *rejected;
    struct ledger_msg **batch;
    bool *lost;       /* per record of the last ledger_commit(): refused and not saved */
    size_t added;     /* records the last ledger_commit() stored anew (not replayed copies) */
    size_t discarded; /* opens of unknown tokens the last ledger_commit() did not store */
    unsigned backoff_ms;
    uint64_t retry_at, spool_retry_at, last_use, fail_logged_at, drops_logged, drop_log_at;
    uint64_t failures_in_row;
    uint64_t refused;      /* records reject() took off a batch, ever */
    unsigned cache_now;    /* MiB set on this connection; 0 = not yet */
    bool cache_warned;     /* a failed cache change was logged on this connection */
    uint64_t big_batch_at; /* ms: the last batch of LEDGER_BIG_BATCH or more */
};

/* ledger_mono_ms - monotonic clock in milliseconds */
uint64_t ledger_mono_ms(void);
/*
 * ledger_take_head - remove k records from the ring's head, telling their
 * waiters fate; mu held. The records are not freed: the caller holds them.
 */
void ledger_take_head(struct ledger *l, size_t k, enum ledger_ack fate);
/* ledger_copy_head - copy up to max pointers from the ring's head into out (and, unless
 * self is NULL, their ring_self flags into self); mu held */
size_t ledger_copy_head(struct ledger *l, struct ledger_msg **out, bool *self, size_t max);

/* ledger_db.c: the writer's database work */
/* ledger_commit - write msgs[0..n); how many are settled (fewer: the database broke) */
size_t ledger_commit(struct ledger *l, struct ledger_msg *const *msgs, size_t n);
/* ledger_wait_until - wait on cv until deadline (ms, 0 = no deadline); mu held */
void ledger_wait_until(struct ledger *l, pthread_cond_t *cv, uint64_t deadline);
/* ledger_leave - a caller of ledger_put*() is done with l; mu held, and released here */
void ledger_leave(struct ledger *l);
/* ledger_enqueue - append m (mem bytes) to the ring for waiter w (NULL: nobody waits) at
 * *slot; false if the queue is full or closed; mu held */
bool ledger_enqueue(struct ledger *l, struct ledger_msg *m, size_t mem, struct ledger_waiter *w,
                    size_t *slot);
/* ledger_prune_work - one batch of the daily prune (o.retention_days); true if more is left */
bool ledger_prune_work(struct ledger *l);
/* ledger_close_store - close the writer's connection */
void ledger_close_store(struct ledger *l);

/* ledger_spool.c: the spool */
/* ledger_replay_batch - replay the next spooled batch; false if the database failed */
bool ledger_replay_batch(struct ledger *l);
/* ledger_spool_ring - move every queued record, oldest first, to the spool */
void ledger_spool_ring(struct ledger *l);
/* ledger_note_spool - publish the spool's state to stats and flushers */
void ledger_note_spool(struct ledger *l);
/* ledger_open_spool - open the spool now if it can be (at start) */
void ledger_open_spool(struct ledger *l);
/* ledger_spool_bytes - append one producer's encoded record to the spool; 0 or an errno */
int ledger_spool_bytes(struct ledger *l, const char *data, size_t len);

/* ledger_spill - gather a record the full queue could not take; appended LEDGER_SPILL_BYTES
   at a time, or by ledger_spill_flush */
void ledger_spill(struct ledger *l, const char *data, size_t len);

/* ledger_spill_flush - append what ledger_spill gathered to the spool now */
void ledger_spill_flush(struct ledger *l);

/* ledger_spool_msgs - append msgs[0..n) to the spool (writer); 0, or -1 if not all went */
int ledger_spool_msgs(struct ledger *l, struct ledger_msg *const *msgs, size_t n);

/* ledger_journal.c: the write-ahead journal */
/* ledger_journal_init - name the journal files (at start, no I/O) */
void ledger_journal_init(struct ledger *l);
/* ledger_journal_recover - move both journals' records to the spool (or, where it cannot take
 * them, the database); enable journaling; keep what could not be moved (writer) */
void ledger_journal_recover(struct ledger *l);
/* ledger_journal_write - append an encoded record; on 0 jmu is HELD (caller enqueues,
 * then ledger_journal_unlock); on an errno jmu is released */
int ledger_journal_write(struct ledger *l, const char *data, size_t len);
/* ledger_journal_unlock - release jmu after ledger_journal_write() succeeded */
void ledger_journal_unlock(struct ledger *l);
/* ledger_journal_switch - the writer is about to take records off the ring: switch files */
void ledger_journal_switch(struct ledger *l);
/* ledger_journal_trim - empty the old file once everything it covers left the ring */
void ledger_journal_trim(struct ledger *l);
/* ledger_journal_keep - a record was dropped: keep both files for the next start, stop
 * journaling (writer, before the drop is settled) */
void ledger_journal_keep(struct ledger *l);
/* ledger_journal_finish - at stop: empty both files if nothing was dropped (all !keep) */
void ledger_journal_finish(struct ledger *l, bool keep);
/* ledger_journal_free - close the files and free the names */
void ledger_journal_free(struct ledger *l);

#endif
