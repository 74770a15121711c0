/*
 * ledger_spool.c - the ledger writer's spool (see ledger.h): moving the
 * queue to the spool while the database is away, replaying it once the
 * database is back, and the append of a producer that waited too long.
 *
 * The spool is shared with producers (ledger_spool_bytes), so every use
 * of l->spool holds smu; the database is never written under smu, so a
 * producer spooling its record never waits for the database.
 */
#include <errno.h>
#include <string.h>

#include "ledger_int.h"
#include "log.h"
#include "spool.h"
#include "util.h"

/* get_spool - the spool, opened on first use; NULL (logged) if it cannot be; smu held */
static struct spool *get_spool(struct ledger *l)
{
    char err[512];

    if (l->spool == NULL) {
        uint64_t now = ledger_mono_ms();

        l->spool = spool_open(l->spool_path, l->o.spool_max_bytes, err, sizeof(err));
        if (l->spool == NULL &&
            (l->spool_warned_at == 0 || now >= l->spool_warned_at + DROP_LOG_MS)) {
            warn("ledger: spool: %s", err);
            l->spool_warned_at = now;
        } else if (l->spool != NULL)
            spool_set_sync(l->spool, l->o.sync);
    }
    return l->spool;
}

/* note_spool_locked - publish the spool's state to stats and flushers; smu held */
static void note_spool_locked(struct ledger *l)
{
    pthread_mutex_lock(&l->mu);
    l->spool_pending = (l->spool && spool_pending(l->spool)) || l->spill_n > 0 || !l->jrecovered;
    l->st.spool_bytes = l->spool ? spool_size(l->spool) : 0;
    pthread_cond_broadcast(&l->settled);
    pthread_mutex_unlock(&l->mu);
}

/* ledger_note_spool - publish the spool's state to stats and flushers */
void ledger_note_spool(struct ledger *l)
{
    pthread_mutex_lock(&l->smu);
    note_spool_locked(l);
    pthread_mutex_unlock(&l->smu);
}

/* ledger_open_spool - open the spool now if it can be, and say what it holds */
void ledger_open_spool(struct ledger *l)
{
    pthread_mutex_lock(&l->smu);
    get_spool(l);
    note_spool_locked(l);
    pthread_mutex_unlock(&l->smu);
}

/*
 * spill_flush_locked - append the gathered records to the spool: counted
 * spooled, or dropped if the spool cannot take them all (the writer logs
 * drops); smu held
 */
static void spill_flush_locked(struct ledger *l)
{
    size_t n = l->spill_n, got = 0;

    if (n == 0)
        return;
    if (get_spool(l) == NULL)
        got = 0;
    else if (spool_append_bytes(l->spool, l->spill.data, l->spill.len) == 0)
        got = n;
    else if (errno == EFBIG) /* past the spool's bound: the oldest that fit go in */
        for (size_t start = 0; got < n; start = l->spill_end[got++])
            if (spool_append_bytes(l->spool, l->spill.data + start, l->spill_end[got] - start))
                break;
    l->spill.len = 0;
    l->spill_n = 0;
    pthread_mutex_lock(&l->mu);
    l->spill_pending = false;
    l->st.spooled += got;
    l->st.dropped += n - got;
    pthread_mutex_unlock(&l->mu);
    note_spool_locked(l);
}

/*
 * ledger_spill - a record the full queue could not take (ledger_put),
 * encoded: gathered in memory under smu and appended to the spool
 * LEDGER_SPILL_BYTES at a time by the producer that fills the buffer, or
 * sooner by the writer, which the first gathered record wakes (whether
 * the database works or not). Until then it is in memory only, as a
 * queued record is (ledger_put promises no more).
 */
void ledger_spill(struct ledger *l, const char *data, size_t len)
{
    pthread_mutex_lock(&l->smu);
    buf_add(&l->spill, data, len);
    if (l->spill_n == l->spill_cap) {
        l->spill_cap = l->spill_cap ? 2 * l->spill_cap : 256;
        l->spill_end = xrealloc(l->spill_end, l->spill_cap * sizeof(*l->spill_end));
    }
    l->spill_end[l->spill_n] = l->spill.len;
    if (l->spill_n++ == 0) {
        pthread_mutex_lock(&l->mu);
        l->spool_pending = true; /* ledger_flush waits for it; the writer replays it */
        l->spill_pending = true;
        if (l->writer_waiting)
            pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->mu);
    }
    if (l->spill.len >= LEDGER_SPILL_BYTES)
        spill_flush_locked(l);
    pthread_mutex_unlock(&l->smu);
}

/* ledger_spill_flush - append what ledger_spill gathered to the spool now */
void ledger_spill_flush(struct ledger *l)
{
    pthread_mutex_lock(&l->smu);
    spill_flush_locked(l);
    pthread_mutex_unlock(&l->smu);
}

/* ledger_replay_batch - replay the next spooled batch; false if the database failed */
bool ledger_replay_batch(struct ledger *l)
{
    size_t n, done, max = l->o.batch_max < REPLAY_BATCH ? l->o.batch_max : REPLAY_BATCH;
    int rc;

    pthread_mutex_lock(&l->smu);
    spill_flush_locked(l); /* the gathered records are the spool's newest */
    rc = l->spool ? spool_next(l->spool, l->batch, max, &n) : (n = 0, 0);
    pthread_mutex_unlock(&l->smu);
    if (rc != 0) {
        warn("ledger: spool %s: read: %s", l->spool_path, strerror(errno));
        l->retry_at = ledger_mono_ms() + SPOOL_RETRY_MS;
        return false;
    }
    /* The database is written without smu: a producer spooling its own
       record meanwhile appends behind this batch. */
    done = n ? ledger_commit(l, l->batch, n) : 0;
    pthread_mutex_lock(&l->smu);
    if (done == n && l->spool)
        spool_done(l->spool);
    pthread_mutex_unlock(&l->smu);
    for (size_t i = 0; i < n; i++)
        l->batch[i] = ledger_msg_free(l->batch[i]);
    pthread_mutex_lock(&l->mu);
    if (done == n) {
        l->st.replayed += l->added; /* a copy already stored (self-spooled) is not counted */
        l->st.discarded += l->discarded;
    }
    pthread_mutex_unlock(&l->mu);
    ledger_note_spool(l);
    return done == n;
}

/* ledger_spool_ring - move every queued record, oldest first, to the spool */
void ledger_spool_ring(struct ledger *l)
{
    struct ledger_msg **all, **put;
    bool *self;
    size_t n, np = 0, covered;
    long got;

    pthread_mutex_lock(&l->mu);
    all = xcalloc(l->count ? l->count : 1, sizeof(*all));
    self = xcalloc(l->count ? l->count : 1, sizeof(*self));
    n = ledger_copy_head(l, all, self, l->count);
    pthread_mutex_unlock(&l->mu);
    if (n == 0) {
        free(all);
        free(self);
        return;
    }
    /* A record whose producer spooled a copy itself is not appended again. */
    put = xcalloc(n, sizeof(*put));
    for (size_t i = 0; i < n; i++)
        if (!self[i])
            put[np++] = all[i];
    pthread_mutex_lock(&l->smu);
    got = np == 0 ? 0 : get_spool(l) ? spool_append(l->spool, put, np) : -1;
    if (got < 0 && l->spool)
        warn("ledger: spool %s: append: %s", l->spool_path, strerror(errno));
    else if (got >= 0 && (size_t)got < np)
        debug("ledger: spool %s full: %zu records stay in memory", l->spool_path, np - (size_t)got);
    /* The ring's prefix now durable: self-spooled records, and the appended
       ones, up to the first record that was not appended. */
    covered = 0;
    for (size_t done = 0; covered < n; covered++) {
        if (self[covered])
            continue;
        if (got < 0 || done == (size_t)got)
            break;
        done++;
    }
    if (got < (long)np)
        l->spool_retry_at = ledger_mono_ms() + SPOOL_RETRY_MS;
    if (covered > 0) {
        pthread_mutex_lock(&l->mu);
        l->st.spooled += (uint64_t)got;
        ledger_take_head(l, covered, LEDGER_ACK_SPOOLED);
        pthread_mutex_unlock(&l->mu);
    }
    note_spool_locked(l);
    pthread_mutex_unlock(&l->smu);
    for (size_t i = 0; i < covered; i++)
        all[i] = ledger_msg_free(all[i]);
    free(put);
    free(self);
    free(all);
}

/*
 * ledger_spool_bytes - append one producer's encoded record to the spool
 * (the producer waited longer than it may); 0, or the errno why not (the
 * caller reports it). The record stays queued, so the writer also
 * commits it: the replay of this copy then finds its uid stored and adds
 * nothing.
 */
int ledger_spool_bytes(struct ledger *l, const char *data, size_t len)
{
    int err = 0;

    pthread_mutex_lock(&l->smu);
    if (get_spool(l) == NULL)
        err = EIO;
    else if (spool_append_bytes(l->spool, data, len) != 0)
        err = errno ? errno : EIO;
    if (err == 0) {
        pthread_mutex_lock(&l->mu);
        l->st.self_spooled++;
        pthread_mutex_unlock(&l->mu);
    }
    note_spool_locked(l);
    pthread_mutex_unlock(&l->smu);
    return err;
}

/* ledger_spool_msgs - append msgs[0..n) to the spool; 0, or -1 if not all were appended */
int ledger_spool_msgs(struct ledger *l, struct ledger_msg *const *msgs, size_t n)
{
    long got;

    pthread_mutex_lock(&l->smu);
    got = get_spool(l) ? spool_append(l->spool, msgs, n) : -1;
    note_spool_locked(l);
    pthread_mutex_unlock(&l->smu);
    return got == (long)n ? 0 : -1;
}
