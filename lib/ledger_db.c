/*
 * ledger_db.c - the ledger writer's database work (see ledger.h): the
 * connection, its back-off, its page cache, and commits that find the one
 * record a database refuses. Runs on the writer thread only.
 */
#include <malloc.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ledger_int.h"
#include "log.h"
#include "spool.h"
#include "store.h"
#include "util.h"

/* give_back - return freed memory to the system (the cache's pages, after they were freed) */
static void give_back(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* ledger_close_store - close the connection; its cache goes back to the system if it was big */
void ledger_close_store(struct ledger *l)
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
    uint64_t now = ledger_mono_ms();
    char why[512];

    if (!strlcpy_ok(why, why_in, sizeof(why)))
        debug("ledger: error message cut");
    ledger_close_store(l);
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
    l->last_use = ledger_mono_ms();
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
        ledger_close_store(l);
    }
    if (l->store)
        return true;
    l->store =
        store_open(l->database, (l->o.migrate ? 0 : STORE_NOCREATE) | (l->o.sync ? STORE_SYNC : 0),
                   err, sizeof(err));
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

/* reject - save one record the database refuses to <spool>.rejected; false if it is lost */
static bool reject(struct ledger *l, struct ledger_msg *m)
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
    return saved;
}

/* fit_cache - the page cache for a batch of n records (see LEDGER_CACHE_SMALL_MB) */
static void fit_cache(struct ledger *l, size_t n)
{
    uint64_t now = ledger_mono_ms();
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
 * ledger_commit - write msgs[0..n) to the database. Returns how many of them are
 * settled (committed, or rejected one by one after the batch was refused);
 * fewer than n only when the database became unusable. l->lost[i] tells
 * whether settled record i was refused and could not be saved either.
 */
size_t ledger_commit(struct ledger *l, struct ledger_msg *const *msgs, size_t n)
{
    enum store_status st;

    memset(l->lost, 0, n * sizeof(*l->lost));
    l->added = 0;
    l->discarded = 0;
    if (!ensure_store(l))
        return 0;
    fit_cache(l, n);
    st = store_put_messages(l->store, msgs, n);
    if (st == STORE_OK) {
        l->added = store_added(l->store);
        l->discarded = store_discarded(l->store);
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
        if (st == STORE_OK) {
            l->added += store_added(l->store);
            l->discarded += store_discarded(l->store);
            db_worked(l);
        } else if (st == STORE_ERROR)
            l->lost[i] = !reject(l, msgs[i]);
        else {
            db_failed(l, store_error(l->store));
            return i;
        }
    }
    return n;
}

/* ledger_prune_work - one batch of the daily prune, on the writer's connection */
bool ledger_prune_work(struct ledger *l)
{
    bool more;

    if (!ensure_store(l))
        return false;
    more = ledger_prune_tick(l->store, &l->prune, time(NULL), l->o.retention_days);
    l->last_use = ledger_mono_ms();
    return more;
}
