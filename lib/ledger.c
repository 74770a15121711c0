/*
 * ledger.c - the ledger writer thread (see ledger.h).
 *
 * Producers only ever take the mutex to append a pointer to the ring;
 * every piece of I/O (database, spool, logging of drops) happens on the
 * writer thread with the mutex released. This file must never make
 * ledger_put() wait for anything but that mutex, and never lose a record
 * without counting it (dropped) and saying so (warn).
 *
 * Order: the spool always holds records older than the ring, so the
 * writer replays the spool first and only then commits the ring; records
 * move from the ring to the spool only in whole, from the head.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ledger.h"
#include "log.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#define BACKOFF_MIN_MS 100   /* first pause after a failed attempt */
#define LOG_EVERY_MS   60000 /* repeat a failure warning at most this often */
#define DROP_LOG_MS    10000 /* report drops at most this often */
#define SPOOL_RETRY_MS 1000  /* after a short or failed spool append */

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
    size_t head, count, bytes;
    uint64_t removed;        /* records taken off the ring's head, ever */
    uint64_t batch_deadline; /* ms: the oldest queued record must go by then */
    bool writer_waiting, stopping, spool_pending;
    uint64_t stop_deadline;
    struct ledger_stats st;

    /* The writer thread's own. */
    struct store *store;
    dev_t dev;
    ino_t ino;
    struct spool *spool, *rejected;
    struct ledger_msg **batch;
    unsigned backoff_ms;
    uint64_t retry_at, spool_retry_at, last_use, fail_logged_at, drops_logged, drop_log_at;
    uint64_t failures_in_row;
    uint64_t refused;      /* records reject() took off a batch, ever */
    unsigned cache_now;    /* MiB set on this connection; 0 = not yet */
    bool cache_warned;     /* a failed cache change was logged on this connection */
    uint64_t big_batch_at; /* ms: the last batch of LEDGER_BIG_BATCH or more */
};

/* mono_ms - monotonic clock in milliseconds */
static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* wait_until - wait on cv until deadline (ms, 0 = no deadline); mu held */
static void wait_until(struct ledger *l, pthread_cond_t *cv, uint64_t deadline)
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
 * take_head - remove k records from the ring's head; mu held. The records
 * are not freed here: the caller holds them (copy_head) and frees them
 * after releasing mu, so producers never wait for thousands of free()s.
 */
static void take_head(struct ledger *l, size_t k)
{
    for (size_t i = 0; i < k; i++) {
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

/* copy_head - copy up to max pointers from the ring's head into out; mu held */
static size_t copy_head(struct ledger *l, struct ledger_msg **out, size_t max)
{
    size_t n = l->count < max ? l->count : max;

    for (size_t i = 0; i < n; i++)
        out[i] = l->ring[(l->head + i) % l->o.queue_max];
    return n;
}

/* give_back - return freed memory to the system (the cache's pages, after they were freed) */
static void give_back(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* close_store - close the connection; its cache goes back to the system if it was big */
static void close_store(struct ledger *l)
{
    bool big = l->cache_now > LEDGER_CACHE_SMALL_MB;

    l->store = store_close(l->store);
    l->cache_now = 0;
    l->cache_warned = false;
    pthread_mutex_lock(&l->mu);
    l->st.cache_mb = 0;
    pthread_mutex_unlock(&l->mu);
    if (big)
        give_back();
}

/*
 * db_failed - note a failed attempt: close, back off, warn now and then.
 * why may point into the store's own error text, so it is copied before
 * the store is closed.
 */
static void db_failed(struct ledger *l, const char *why_in)
{
    uint64_t now = mono_ms();
    char why[512];

    if (!strlcpy_ok(why, why_in, sizeof(why)))
        debug("ledger: error message cut");
    close_store(l);
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (l->backoff_ms > l->o.retry_max_ms)
        l->backoff_ms = l->o.retry_max_ms;
    l->retry_at = now + l->backoff_ms;
    if (l->failures_in_row++ == 0 || now >= l->fail_logged_at + LOG_EVERY_MS) {
        warn("ledger: database %s: %s (records wait in memory and %s)", l->database, why,
             l->spool_path);
        l->fail_logged_at = now;
    }
    pthread_mutex_lock(&l->mu);
    l->st.failures++;
    l->st.db_ok = false;
    pthread_mutex_unlock(&l->mu);
}

/* db_worked - note a successful commit */
static void db_worked(struct ledger *l)
{
    if (l->failures_in_row)
        info("ledger: database %s writable again after %llu failed attempts", l->database,
             (unsigned long long)l->failures_in_row);
    l->failures_in_row = 0;
    l->backoff_ms = 0;
    l->retry_at = 0;
    l->last_use = mono_ms();
    pthread_mutex_lock(&l->mu);
    l->st.commits++;
    l->st.db_ok = true;
    pthread_mutex_unlock(&l->mu);
}

/* ensure_store - an open, migrated connection to the file now at the path */
static bool ensure_store(struct ledger *l)
{
    struct stat sb;
    char err[512];
    int v;

    if (l->store && l->is_file &&
        (stat(l->database, &sb) != 0 || sb.st_dev != l->dev || sb.st_ino != l->ino)) {
        info("ledger: database %s was removed or replaced; reopening", l->database);
        close_store(l);
    }
    if (l->store)
        return true;
    l->store = store_open(l->database, l->o.migrate ? 0 : STORE_NOCREATE, err, sizeof(err));
    if (l->store == NULL) {
        db_failed(l, err);
        return false;
    }
    l->cache_now = 0; /* the store's own until the first batch (fit_cache()) */
    if (l->o.migrate) {
        if (store_migrate(l->store, store_migrations, store_migrations_count) != STORE_OK) {
            if (!snprintf_ok(err, sizeof(err), "migrate: %s", store_error(l->store)))
                debug("ledger: error message cut");
            db_failed(l, err);
            return false;
        }
    } else if ((v = store_version(l->store)) != (int)store_migrations_count) {
        if (!snprintf_ok(err, sizeof(err), "schema version %d, this binary writes %zu", v,
                         store_migrations_count))
            debug("ledger: error message cut");
        db_failed(l, err);
        return false;
    }
    if (l->is_file && stat(l->database, &sb) == 0) {
        l->dev = sb.st_dev;
        l->ino = sb.st_ino;
    }
    return true;
}

/* get_spool - the spool, opened on first use; NULL (logged) if it cannot be */
static struct spool *get_spool(struct ledger *l)
{
    char err[512];

    if (l->spool == NULL) {
        l->spool = spool_open(l->spool_path, l->o.spool_max_bytes, err, sizeof(err));
        if (l->spool == NULL)
            warn("ledger: spool: %s", err);
    }
    return l->spool;
}

/* note_spool - publish the spool's state to stats and flushers */
static void note_spool(struct ledger *l)
{
    pthread_mutex_lock(&l->mu);
    l->spool_pending = l->spool && spool_pending(l->spool);
    l->st.spool_bytes = l->spool ? spool_size(l->spool) : 0;
    pthread_cond_broadcast(&l->settled);
    pthread_mutex_unlock(&l->mu);
}

/* reject - save one record the database refuses to <spool>.rejected */
static void reject(struct ledger *l, struct ledger_msg *m)
{
    char err[512];
    bool saved = false;

    l->refused++;
    if (l->rejected == NULL)
        l->rejected = spool_open(l->rejected_path, 0, err, sizeof(err));
    if (l->rejected == NULL)
        warn("ledger: %s", err);
    else
        saved = spool_append(l->rejected, &m, 1) == 1;
    if (saved)
        warn("ledger: record %s refused by the database (%s); saved to %s", m->uid,
             l->store ? store_error(l->store) : "?", l->rejected_path);
    else
        warn("ledger: record %s refused by the database and cannot be saved to %s; dropped", m->uid,
             l->rejected_path);
    pthread_mutex_lock(&l->mu);
    if (saved)
        l->st.rejected++;
    else
        l->st.dropped++;
    pthread_mutex_unlock(&l->mu);
}

/* fit_cache - the page cache for a batch of n records (see LEDGER_CACHE_SMALL_MB) */
static void fit_cache(struct ledger *l, size_t n)
{
    uint64_t now = mono_ms();
    unsigned small = l->o.cache_mb < LEDGER_CACHE_SMALL_MB ? l->o.cache_mb : LEDGER_CACHE_SMALL_MB;
    unsigned want = small;
    bool shrink;

    if (l->o.cache_mb == 0)
        return;
    if (n >= LEDGER_BIG_BATCH || (n > 0 && n >= l->o.batch_max)) { /* a full batch is big */
        l->big_batch_at = now;
        want = l->o.cache_mb;
    } else if (l->cache_now > small && now - l->big_batch_at < l->o.cache_shrink_ms) {
        want = l->cache_now; /* still busy a moment ago */
    }
    if (want == l->cache_now)
        return;
    if (store_set_cache(l->store, want) != STORE_OK) {
        if (!l->cache_warned) /* once per connection: the batch goes on with the cache it has */
            warn("ledger: database %s: %s", l->database, store_error(l->store));
        l->cache_warned = true;
        return;
    }
    shrink = l->cache_now > want;
    l->cache_now = want;
    pthread_mutex_lock(&l->mu);
    l->st.cache_mb = want;
    pthread_mutex_unlock(&l->mu);
    if (shrink)
        give_back();
}

/*
 * commit - write msgs[0..n) to the database. Returns how many of them are
 * settled (committed, or rejected one by one after the batch was refused);
 * fewer than n only when the database became unusable.
 */
static size_t commit(struct ledger *l, struct ledger_msg *const *msgs, size_t n)
{
    enum store_status st;

    if (!ensure_store(l))
        return 0;
    fit_cache(l, n);
    st = store_put_messages(l->store, msgs, n);
    if (st == STORE_OK) {
        db_worked(l);
        return n;
    }
    if (st == STORE_RETRY) {
        db_failed(l, store_error(l->store));
        return 0;
    }
    /* One bad record spoils the batch: find it by writing them one by one. */
    for (size_t i = 0; i < n; i++) {
        st = store_put_messages(l->store, &msgs[i], 1);
        if (st == STORE_OK)
            db_worked(l);
        else if (st == STORE_ERROR)
            reject(l, msgs[i]);
        else {
            db_failed(l, store_error(l->store));
            return i;
        }
    }
    return n;
}

/* replay_batch - replay the next spooled batch; false if the database failed */
static bool replay_batch(struct ledger *l)
{
    size_t n, done;
    uint64_t refused = l->refused;

    if (spool_next(l->spool, l->batch, l->o.batch_max, &n) != 0) {
        warn("ledger: spool %s: read: %s", l->spool_path, strerror(errno));
        l->retry_at = mono_ms() + SPOOL_RETRY_MS;
        return false;
    }
    done = n ? commit(l, l->batch, n) : 0;
    if (done == n)
        spool_done(l->spool);
    for (size_t i = 0; i < n; i++)
        l->batch[i] = ledger_msg_free(l->batch[i]);
    pthread_mutex_lock(&l->mu);
    if (done == n)
        l->st.replayed += n - (l->refused - refused);
    pthread_mutex_unlock(&l->mu);
    note_spool(l);
    return done == n;
}

/* write_batch - commit the ring's oldest records (up to batch_max) */
static void write_batch(struct ledger *l)
{
    size_t n, done;
    uint64_t refused = l->refused;

    pthread_mutex_lock(&l->mu);
    n = copy_head(l, l->batch, l->o.batch_max);
    pthread_mutex_unlock(&l->mu);
    done = commit(l, l->batch, n);
    pthread_mutex_lock(&l->mu);
    l->st.written += done - (l->refused - refused);
    take_head(l, done);
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < done; i++)
        l->batch[i] = ledger_msg_free(l->batch[i]);
}

/* spool_ring - move every queued record, oldest first, to the spool */
static void spool_ring(struct ledger *l)
{
    struct ledger_msg **all;
    size_t n;
    long k;

    if (get_spool(l) == NULL) {
        l->spool_retry_at = mono_ms() + SPOOL_RETRY_MS;
        return;
    }
    pthread_mutex_lock(&l->mu);
    all = xcalloc(l->count ? l->count : 1, sizeof(*all));
    n = copy_head(l, all, l->count);
    pthread_mutex_unlock(&l->mu);
    if (n == 0) {
        free(all);
        return;
    }
    k = spool_append(l->spool, all, n);
    if (k < 0)
        warn("ledger: spool %s: append: %s", l->spool_path, strerror(errno));
    else if ((size_t)k < n)
        debug("ledger: spool %s full: %zu records stay in memory", l->spool_path, n - (size_t)k);
    if (k < (long)n)
        l->spool_retry_at = mono_ms() + SPOOL_RETRY_MS;
    if (k > 0) {
        pthread_mutex_lock(&l->mu);
        l->st.spooled += (uint64_t)k;
        take_head(l, (size_t)k);
        pthread_mutex_unlock(&l->mu);
    }
    for (long i = 0; i < k; i++)
        all[i] = ledger_msg_free(all[i]);
    free(all);
    note_spool(l);
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

/* finish - at stop: spool what is still in memory, drop (counted) what cannot be */
static void finish(struct ledger *l)
{
    size_t left;

    pthread_mutex_lock(&l->mu);
    left = l->count;
    pthread_mutex_unlock(&l->mu);
    if (left > 0)
        spool_ring(l);
    pthread_mutex_lock(&l->mu);
    left = l->count;
    if (left > 0) {
        l->st.dropped += left;
        for (size_t i = 0; i < left; i++)
            ledger_msg_free(l->ring[(l->head + i) % l->o.queue_max]);
        take_head(l, left);
    }
    pthread_mutex_unlock(&l->mu);
    if (left > 0)
        warn("ledger: %zu records dropped at stop: database and spool %s unusable", left,
             l->spool_path);
    close_store(l);
}

/* writer_main - the writer thread: replay, commit, spool, back off, idle */
static void *writer_main(void *arg)
{
    struct ledger *l = arg;

    get_spool(l);
    note_spool(l);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        uint64_t now = mono_ms(), deadline;
        bool db_due = now >= l->retry_at, replay = l->spool_pending;

        log_drops(l, now);
        if (l->stopping && (l->count == 0 || !db_due || now >= l->stop_deadline))
            break;
        if (!db_due) {
            /* Backing off: past the high-water mark, make room by spooling. */
            if (crowded(l) && now >= l->spool_retry_at) {
                pthread_mutex_unlock(&l->mu);
                spool_ring(l);
                pthread_mutex_lock(&l->mu);
                continue;
            }
            deadline = l->retry_at;
            if (crowded(l) && l->spool_retry_at < deadline)
                deadline = l->spool_retry_at;
        } else if (replay || l->count >= l->o.batch_max ||
                   (l->count > 0 && (now >= l->batch_deadline || l->stopping))) {
            bool spool_now = crowded(l) && now >= l->spool_retry_at;

            pthread_mutex_unlock(&l->mu);
            if (!replay)
                write_batch(l);
            else if (spool_now)
                spool_ring(l); /* a long replay: newer records queue behind it */
            else
                replay_batch(l);
            pthread_mutex_lock(&l->mu);
            continue;
        } else if (l->count > 0) {
            deadline = l->batch_deadline;
        } else if (l->store) {
            deadline = l->last_use + l->o.idle_close_ms;
            if (now >= deadline) {
                pthread_mutex_unlock(&l->mu);
                close_store(l);
                pthread_mutex_lock(&l->mu);
                continue;
            }
        } else {
            deadline = 0;
        }
        l->writer_waiting = true;
        wait_until(l, &l->wake, deadline);
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
    l->ring = xcalloc(l->o.queue_max, sizeof(*l->ring));
    l->ring_mem = xcalloc(l->o.queue_max, sizeof(*l->ring_mem));
    l->batch = xcalloc(l->o.batch_max, sizeof(*l->batch));
    pthread_mutex_init(&l->mu, NULL);
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

/*
 * ledger_put - hand over a record; never waits for I/O. Its size is
 * counted before the lock is taken (linear in its recipients).
 */
void ledger_put(struct ledger *l, struct ledger_msg *m)
{
    size_t mem = ledger_msg_mem(m), at;
    bool was_crowded;

    pthread_mutex_lock(&l->mu);
    l->st.put++;
    if (l->count == l->o.queue_max || (l->o.queue_max_bytes && l->bytes >= l->o.queue_max_bytes)) {
        l->st.dropped++; /* logged by the writer */
        pthread_mutex_unlock(&l->mu);
        ledger_msg_free(m);
        return;
    }
    was_crowded = crowded(l);
    at = (l->head + l->count) % l->o.queue_max;
    l->ring[at] = m;
    l->ring_mem[at] = mem;
    l->bytes += mem;
    if (++l->count == 1)
        l->batch_deadline = mono_ms() + l->o.flush_ms;
    if (l->writer_waiting &&
        (l->count == 1 || l->count == l->o.batch_max || (crowded(l) && !was_crowded)))
        pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
}

/* ledger_flush - wait until everything in memory now is stored (see ledger.h) */
bool ledger_flush(struct ledger *l, unsigned timeout_ms)
{
    uint64_t deadline = mono_ms() + timeout_ms, target;
    bool ok;

    pthread_mutex_lock(&l->mu);
    target = l->removed + l->count;
    if (l->writer_waiting)
        pthread_cond_signal(&l->wake);
    for (;;) {
        ok = l->removed >= target && !l->spool_pending;
        if (ok || mono_ms() >= deadline)
            break;
        /* Do not wait for flush_ms to pass: a flush wants the batch now. */
        l->batch_deadline = 0;
        wait_until(l, &l->settled, deadline);
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
    if (l == NULL)
        return NULL;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    l->stop_deadline = mono_ms() + timeout_ms;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    if (st != NULL)
        ledger_get_stats(l, st); /* with what finish() dropped */
    l->spool = spool_close(l->spool);
    l->rejected = spool_close(l->rejected);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    pthread_cond_destroy(&l->settled);
    free(l->ring);
    free(l->ring_mem);
    free(l->batch);
    free(l->database);
    free(l->spool_path);
    free(l->rejected_path);
    free(l);
    return NULL;
}
