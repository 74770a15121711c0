/*
 * ledger.c - the ledger writer thread and its queue (see ledger.h);
 * ledger_put_wait() and the answers' waits are in ledger_wait.c.
 *
 * Producers only ever take the mutex to append a pointer to the ring;
 * every piece of I/O (database, spool, logging of drops) happens on the
 * writer thread with the mutex released. This file must never make
 * ledger_put() wait for anything but that mutex, and never lose a record
 * without counting it (dropped) and saying so (warn).
 *
 * ledger_put_wait() is the one exception, by design: its caller waits
 * (on its own condition variable, signalled when the writer takes its
 * record off the ring) and, past its bound, encodes its record under the
 * mutex and appends it to the spool itself.
 *
 * Order: without waiters, the spool always holds records older than the
 * ring, so the writer replays the spool first and only then commits the
 * ring; records move from the ring to the spool only in whole, from the
 * head. A waiter's record goes first (and a self-spooled copy is
 * appended out of order): the answer to a message waits for no backlog.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ledger_int.h"
#include "log.h"
#include "spool.h"
#include "util.h"

/* ledger_mono_ms - monotonic clock in milliseconds */
uint64_t ledger_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ledger_wait_until - wait on cv until deadline (ms, 0 = no deadline); mu held */
void ledger_wait_until(struct ledger *l, pthread_cond_t *cv, uint64_t deadline)
{
    struct timespec ts;

    if (deadline == 0) {
        pthread_cond_wait(cv, &l->mu);
        return;
    }
    ts.tv_sec = (time_t)(deadline / 1000);
    ts.tv_nsec = (long)(deadline % 1000) * 1000000;
    pthread_cond_timedwait(cv, &l->mu, &ts);
}

/* ledger_opts_default - fill o with the defaults */
void ledger_opts_default(struct ledger_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->queue_max = 50000;
    o->queue_max_bytes = (size_t)64 << 20;
    o->batch_max = 10000;
    o->flush_ms = 50;
    o->spool_max_bytes = (uint64_t)1 << 30;
    o->retry_max_ms = 5000;
    o->idle_close_ms = 2000;
    o->migrate = true;
    o->cache_mb = 32;
    o->cache_shrink_ms = 10000;
}

/*
 * ledger_take_head - remove k records from the ring's head, telling their
 * waiters fate; mu held. The records are not freed here: the caller holds
 * them (ledger_copy_head) and frees them after releasing mu, so producers
 * never wait for thousands of free()s.
 */
void ledger_take_head(struct ledger *l, size_t k, enum ledger_ack fate)
{
    for (size_t i = 0; i < k; i++) {
        struct ledger_waiter *w = l->ring_wait[l->head];

        if (w != NULL) {
            w->fate = fate;
            w->done = true;
            pthread_cond_signal(&w->cv);
            l->ring_wait[l->head] = NULL;
            l->waiters--;
        }
        l->ring_self[l->head] = false;
        l->ring_jnl[l->head] = false;
        l->ring[l->head] = NULL;
        l->bytes -= l->ring_mem[l->head];
        l->head = (l->head + 1) % l->o.queue_max;
    }
    l->count -= k;
    l->removed += k;
    pthread_cond_broadcast(&l->settled);
}

/* crowded - the ring is past a high-water mark (records or bytes): time to spool; mu held */
static bool crowded(const struct ledger *l)
{
    return l->count > l->high_water || (l->o.queue_max_bytes && l->bytes > l->high_water_bytes);
}

/* ledger_copy_head - copy up to max pointers from the ring's head into out; mu held */
size_t ledger_copy_head(struct ledger *l, struct ledger_msg **out, bool *self, size_t max)
{
    size_t n = l->count < max ? l->count : max;

    for (size_t i = 0; i < n; i++) {
        out[i] = l->ring[(l->head + i) % l->o.queue_max];
        if (self != NULL)
            self[i] = l->ring_self[(l->head + i) % l->o.queue_max];
    }
    return n;
}

/* write_batch - commit the ring's oldest records (up to batch_max) */
static void write_batch(struct ledger *l)
{
    size_t n, done;

    pthread_mutex_lock(&l->mu);
    n = ledger_copy_head(l, l->batch, NULL, l->o.batch_max);
    pthread_mutex_unlock(&l->mu);
    done = ledger_commit(l, l->batch, n);
    for (size_t i = 0; i < done; i++)
        if (l->lost[i]) /* it may have been answered from the journal: keep that copy */
            ledger_journal_keep(l);
    pthread_mutex_lock(&l->mu);
    l->st.written += l->added; /* a record whose spooled copy was replayed first counts once */
    l->st.discarded += l->discarded;
    for (size_t i = 0; i < done; i++) /* a record refused and not saved is lost: say so */
        ledger_take_head(l, 1, l->lost[i] ? LEDGER_ACK_DROPPED : LEDGER_ACK_STORED);
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < done; i++)
        l->batch[i] = ledger_msg_free(l->batch[i]);
}

/* log_drops - report records dropped by ledger_put() since the last report; mu held */
static void log_drops(struct ledger *l, uint64_t now)
{
    uint64_t d = l->st.dropped;

    if (d == l->drops_logged || now < l->drop_log_at)
        return;
    pthread_mutex_unlock(&l->mu);
    warn("ledger: %llu records dropped: queue (%zu records, %zu bytes) and spool full or unusable",
         (unsigned long long)(d - l->drops_logged), l->o.queue_max, l->o.queue_max_bytes);
    pthread_mutex_lock(&l->mu);
    l->drops_logged = d;
    l->drop_log_at = now + DROP_LOG_MS;
}

/* log_drops_final - at stop: the drops log_drops() has not reported yet, now */
static void log_drops_final(struct ledger *l)
{
    pthread_mutex_lock(&l->mu);
    l->drop_log_at = 0; /* no writer is left to report them later */
    log_drops(l, ledger_mono_ms());
    pthread_mutex_unlock(&l->mu);
}

/*
 * finish - at stop: spool what is still in memory; what cannot be is
 * kept in the journal if it is there (the files stay for the next
 * start), else dropped (counted)
 */
static void finish(struct ledger *l)
{
    size_t left, kept = 0;

    ledger_spill_flush(l);
    pthread_mutex_lock(&l->mu);
    left = l->count;
    pthread_mutex_unlock(&l->mu);
    if (left > 0)
        ledger_spool_ring(l);
    pthread_mutex_lock(&l->mu);
    left = l->count;
    if (left > 0) {
        for (size_t i = 0; i < left; i++) {
            size_t at = (l->head + i) % l->o.queue_max;

            kept += l->ring_jnl[at];
            ledger_msg_free(l->ring[at]);
        }
        l->st.dropped += left - kept;
        l->drops_logged += left - kept; /* said below */
        l->st.journal_kept += kept;
        ledger_take_head(l, left, LEDGER_ACK_DROPPED);
    }
    l->closed = true; /* from now on a producer spools its record itself */
    pthread_mutex_unlock(&l->mu);
    ledger_journal_finish(l, left > 0 || l->jkeep); /* what is left: keep its journal */
    if (kept > 0)
        warn("ledger: %zu records kept in the journal %s.journal.0/.1 at stop for the next start: "
             "database and spool %s unusable",
             kept, l->spool_path, l->spool_path);
    if (left > kept)
        warn("ledger: %zu records dropped at stop: database and spool %s unusable", left - kept,
             l->spool_path);
    ledger_close_store(l);
}

/* prune_wait_ms - ms until the daily prune has a batch to do; UINT64_MAX: never */
static uint64_t prune_wait_ms(const struct ledger *l)
{
    return ledger_prune_wait_ms(&l->prune, time(NULL), l->o.retention_days);
}

/* writer_main - the writer thread: replay, commit, spool, back off, idle */
static void *writer_main(void *arg)
{
    struct ledger *l = arg;

    ledger_open_spool(l);
    ledger_journal_recover(l);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        uint64_t now = ledger_mono_ms(), deadline;
        bool db_due = now >= l->retry_at, replay = l->spool_pending;
        bool urgent = l->waiters > 0; /* someone's answer waits for a record */
        /* While backing off, the queue goes to the spool when crowded, when an
           answer waits, and with the journal (its files are emptied only once
           their records left the queue; the spool is what status shows). */
        bool to_spool = crowded(l) || urgent || (l->o.journal && l->count > 0);
        bool spool_due = to_spool && now >= l->spool_retry_at;

        log_drops(l, now);
        if (l->spill_pending) { /* a full queue's records: to the spool file at once */
            pthread_mutex_unlock(&l->mu);
            ledger_spill_flush(l);
            pthread_mutex_lock(&l->mu);
            continue;
        }
        if (l->stopping && (l->count == 0 || !db_due || now >= l->stop_deadline))
            break;
        if (!db_due) {
            /* Backing off: make room, or make a waiter's record durable, by spooling. */
            if (spool_due) {
                pthread_mutex_unlock(&l->mu);
                ledger_journal_switch(l);
                ledger_spool_ring(l);
                ledger_journal_trim(l);
                pthread_mutex_lock(&l->mu);
                continue;
            }
            deadline = l->retry_at;
            if (to_spool && l->spool_retry_at < deadline)
                deadline = l->spool_retry_at;
        } else if (replay || l->count >= l->o.batch_max ||
                   (l->count > 0 && (now >= l->batch_deadline || l->stopping || urgent))) {
            bool ring_first = !replay || (urgent && l->count > 0);
            bool spill = crowded(l) && now >= l->spool_retry_at;

            pthread_mutex_unlock(&l->mu);
            if (spill || ring_first)
                ledger_journal_switch(l);
            if (spill)
                ledger_spool_ring(l); /* the database keeps up no more (a long replay, a
                                         flood): the queue goes to the spool, not dropped */
            else if (ring_first)
                write_batch(l); /* a waiter's record goes before the spool's backlog */
            else
                ledger_replay_batch(l);
            ledger_journal_trim(l);
            pthread_mutex_lock(&l->mu);
            continue;
        } else if (prune_wait_ms(l) == 0) {
            /* Between batches of mail: one short batch of the daily prune. */
            pthread_mutex_unlock(&l->mu);
            ledger_prune_work(l);
            pthread_mutex_lock(&l->mu);
            continue;
        } else if (l->count > 0) {
            deadline = l->batch_deadline;
        } else if (l->store) {
            deadline = l->last_use + l->o.idle_close_ms;
            if (now >= deadline) {
                pthread_mutex_unlock(&l->mu);
                ledger_close_store(l);
                pthread_mutex_lock(&l->mu);
                continue;
            }
        } else {
            deadline = 0;
        }
        if (db_due && prune_wait_ms(l) != UINT64_MAX &&
            (deadline == 0 || now + prune_wait_ms(l) < deadline))
            deadline = now + prune_wait_ms(l); /* idle: wake for the prune */
        l->writer_waiting = true;
        ledger_wait_until(l, &l->wake, deadline);
        l->writer_waiting = false;
    }
    pthread_mutex_unlock(&l->mu);
    finish(l);
    return NULL;
}

/* ledger_start - copy opts and start the writer thread */
struct ledger *ledger_start(const struct ledger_opts *opts)
{
    struct ledger *l = xcalloc(1, sizeof(*l));
    pthread_condattr_t ca;
    int rc;

    l->o = *opts;
    if (l->o.queue_max == 0)
        l->o.queue_max = 1;
    if (l->o.batch_max == 0)
        l->o.batch_max = 1;
    if (l->o.retry_max_ms < BACKOFF_MIN_MS)
        l->o.retry_max_ms = BACKOFF_MIN_MS;
    l->database = xstrdup(opts->database ? opts->database : "");
    l->o.database = l->database;
    l->spool_path =
        opts->spool_path ? xstrdup(opts->spool_path) : xasprintf("%s.spool", l->database);
    l->o.spool_path = l->spool_path;
    l->rejected_path = xasprintf("%s.rejected", l->spool_path);
    l->is_file = strncmp(l->database, "postgres", 8) != 0;
    l->high_water = l->o.queue_max * 3 / 4;
    l->high_water_bytes = l->o.queue_max_bytes / 4 * 3;
    /* Until the writer has opened the spool, it may hold records from an
       earlier run: a ledger_flush() before then must wait for their replay. */
    l->spool_pending = true;
    l->st.db_ok = true; /* no failure seen yet: postmeter status must not say otherwise */
    l->ring = xcalloc(l->o.queue_max, sizeof(*l->ring));
    l->ring_mem = xcalloc(l->o.queue_max, sizeof(*l->ring_mem));
    l->ring_wait = xcalloc(l->o.queue_max, sizeof(*l->ring_wait));
    l->ring_self = xcalloc(l->o.queue_max, sizeof(*l->ring_self));
    l->ring_jnl = xcalloc(l->o.queue_max, sizeof(*l->ring_jnl));
    l->batch = xcalloc(l->o.batch_max, sizeof(*l->batch));
    l->lost = xcalloc(l->o.batch_max, sizeof(*l->lost));
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->smu, NULL);
    ledger_journal_init(l);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_cond_init(&l->settled, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&l->thread, NULL, writer_main, l);
    if (rc != 0)
        die("ledger: cannot start the writer thread: %s", strerror(rc));
    return l;
}

/* ledger_leave - a caller of ledger_put*() is done with l; mu held, and released here */
void ledger_leave(struct ledger *l)
{
    if (--l->users == 0 && l->closed)
        pthread_cond_broadcast(&l->settled); /* ledger_stop() may free l now */
    pthread_mutex_unlock(&l->mu);
}

/*
 * ledger_enqueue - append m (mem bytes) to the ring for waiter w (NULL:
 * nobody waits); false if the queue is full; mu held
 */
bool ledger_enqueue(struct ledger *l, struct ledger_msg *m, size_t mem, struct ledger_waiter *w,
                    size_t *slot)
{
    bool was_crowded;
    size_t at;

    l->st.put++;
    if (l->closed || l->count == l->o.queue_max ||
        (l->o.queue_max_bytes && l->bytes >= l->o.queue_max_bytes))
        return false;
    was_crowded = crowded(l);
    at = (l->head + l->count) % l->o.queue_max;
    l->ring[at] = m;
    l->ring_mem[at] = mem;
    l->ring_wait[at] = w;
    l->bytes += mem;
    if (++l->count == 1)
        l->batch_deadline = ledger_mono_ms() + l->o.flush_ms;
    if (w != NULL) {
        l->waiters++;
        l->batch_deadline = 0; /* someone waits: no time to fill the batch */
    }
    if (l->writer_waiting &&
        (l->count == 1 || l->count == l->o.batch_max || w != NULL || (crowded(l) && !was_crowded)))
        pthread_cond_signal(&l->wake);
    *slot = at;
    return true;
}

/*
 * ledger_put - hand over a record; waits for no I/O while the queue has
 * room. Its size is counted before the lock is taken (linear in its
 * recipients). A full queue does not drop it: the caller encodes it
 * and gathers it for the spool (ledger_spill: a flood the writer cannot
 * keep up with costs its producers an encoding, not a record); dropped
 * only if the spool cannot take it either.
 */
void ledger_put(struct ledger *l, struct ledger_msg *m)
{
    size_t mem = ledger_msg_mem(m), at;
    struct buf rec = BUF_INIT;
    bool taken, closed;
    int err;

    pthread_mutex_lock(&l->mu);
    l->users++;
    taken = ledger_enqueue(l, m, mem, NULL, &at);
    if (taken) {
        ledger_leave(l);
        return;
    }
    closed = l->closed;
    pthread_mutex_unlock(&l->mu);
    ledger_msg_encode(m, &rec);
    ledger_msg_free(m);
    if (!closed) {
        ledger_spill(l, rec.data, rec.len); /* counted when it is appended */
        buf_free(&rec);
        pthread_mutex_lock(&l->mu);
        ledger_leave(l);
        return;
    }
    err = ledger_spool_bytes(l, rec.data, rec.len); /* the writer is gone: at once */
    buf_free(&rec);
    pthread_mutex_lock(&l->mu);
    if (err == 0)
        l->st.spooled++;
    else
        l->st.dropped++;
    ledger_leave(l);
}

/* ledger_flush - wait until everything in memory now is stored (see ledger.h) */
bool ledger_flush(struct ledger *l, unsigned timeout_ms)
{
    uint64_t deadline = ledger_mono_ms() + timeout_ms, target;
    bool ok;

    pthread_mutex_lock(&l->mu);
    target = l->removed + l->count;
    if (l->writer_waiting)
        pthread_cond_signal(&l->wake);
    for (;;) {
        ok = l->removed >= target && !l->spool_pending;
        if (ok || ledger_mono_ms() >= deadline)
            break;
        /* Do not wait for flush_ms to pass: a flush wants the batch now. */
        l->batch_deadline = 0;
        ledger_wait_until(l, &l->settled, deadline);
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* ledger_get_stats - snapshot of the counters */
void ledger_get_stats(struct ledger *l, struct ledger_stats *st)
{
    pthread_mutex_lock(&l->mu);
    *st = l->st;
    st->queued = l->count;
    st->queued_bytes = l->bytes;
    pthread_mutex_unlock(&l->mu);
}

/* ledger_stop - commit what can be within timeout_ms, spool the rest, free */
struct ledger *ledger_stop(struct ledger *l, unsigned timeout_ms)
{
    return ledger_stop_stats(l, timeout_ms, NULL);
}

/* ledger_stop_stats - ledger_stop(); the final counters into *st unless st is NULL */
struct ledger *ledger_stop_stats(struct ledger *l, unsigned timeout_ms, struct ledger_stats *st)
{
    uint64_t deadline;
    unsigned users;

    if (l == NULL)
        return NULL;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    l->stop_deadline = ledger_mono_ms() + timeout_ms;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    /* A producer may still be inside ledger_put_wait() (woken by finish(),
       or spooling its own record): wait for it before freeing anything. */
    pthread_mutex_lock(&l->mu);
    deadline = ledger_mono_ms() + STOP_USERS_MS;
    while (l->users > 0 && ledger_mono_ms() < deadline)
        ledger_wait_until(l, &l->settled, deadline);
    users = l->users;
    pthread_mutex_unlock(&l->mu);
    if (users > 0) {
        warn("ledger: %u caller(s) still inside at stop; the writer's memory is left to them",
             users);
        log_drops_final(l);
        if (st != NULL)
            ledger_get_stats(l, st);
        return NULL;
    }
    /* What a producer gathered after finish() (before it saw closed) goes now. */
    ledger_spill_flush(l);
    log_drops_final(l); /* and what the writer's last appends or the producers dropped */
    if (st != NULL)
        ledger_get_stats(l, st); /* with what finish() dropped */
    l->spool = spool_close(l->spool);
    buf_free(&l->spill);
    free(l->spill_end);
    pthread_mutex_destroy(&l->smu);
    l->rejected = spool_close(l->rejected);
    ledger_journal_free(l);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    pthread_cond_destroy(&l->settled);
    free(l->ring);
    free(l->ring_mem);
    free(l->ring_wait);
    free(l->ring_self);
    free(l->ring_jnl);
    free(l->batch);
    free(l->lost);
    free(l->database);
    free(l->spool_path);
    free(l->rejected_path);
    free(l);
    return NULL;
}
