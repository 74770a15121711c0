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

#include "ledger.h"

#define BACKOFF_MIN_MS 100   /* first pause after a failed attempt */
#define LOG_EVERY_MS   60000 /* repeat a failure warning at most this often */
#define DROP_LOG_MS    10000 /* report drops at most this often */
#define SPOOL_RETRY_MS 1000  /* after a short or failed spool append */
#define STOP_USERS_MS  5000  /* ledger_stop() waits this long for callers still inside */
/* Records per replayed batch at most: a waiting answer waits for one such
   commit at worst (a few ms). */
#define REPLAY_BATCH 512

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
    unsigned users;                   /* callers inside ledger_put*() now */
    bool closed;                      /* the writer has finished: nothing more is taken */
    size_t waiters;                   /* ring entries someone waits for */
    uint64_t unsafe_logged_at;        /* ms: the last warning about LEDGER_ACK_MEMORY */
    size_t head, count, bytes;
    uint64_t removed;        /* records taken off the ring's head, ever */
    uint64_t batch_deadline; /* ms: the oldest queued record must go by then */
    bool writer_waiting, stopping, spool_pending;
    uint64_t stop_deadline;
    struct ledger_stats st;

    /* The spool: opened by whoever needs it first (the writer, or a
       producer spooling its own record), used under smu; lock order smu
       before mu. */
    pthread_mutex_t smu;
    struct spool *spool;
    uint64_t spool_warned_at; /* ms: the last warning that it cannot be opened */

    /* The writer thread's own. */
    struct store *store;
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

#endif
