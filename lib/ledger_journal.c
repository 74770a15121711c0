/*
 * ledger_journal.c - the ledger's write-ahead journal (o.journal).
 *
 * ledger_put_wait() appends its encoded record with one write(2) (and
 * fdatasync with o.sync; the daemons turn the journal off with
 * ledger_sync, where a group commit shares one fsync) to the current of
 * two journal files, <spool>.journal.0 and .1, then queues the record
 * like ledger_put() and answers LEDGER_ACK_JOURNALED at once: no wakeup
 * of the writer per message, which keeps its flush_ms batching. A write
 * that returned survives the death of the process, which is the promise
 * of the answer; a record the writer later drops (refused by the
 * database and not saved) stops journaling and keeps both files.
 *
 * Truncation: the append and the enqueue happen under jmu, so when the
 * writer, about to take records off the ring, switches producers to the
 * other file (under jmu and mu) and notes removed + count, every record
 * in the old file is in the ring before that mark. Once removed reaches
 * the mark (committed, spooled, or counted dropped), the old file holds
 * nothing needed and is emptied; only then may the writer switch again.
 *
 * At start the writer moves both files' records to the spool (replayed
 * as usual; records are idempotent by uid), or into the database where
 * the spool cannot take them, before producers may journal; until then,
 * and whenever an append fails, answers wait for the writer. A file it
 * could not empty so is kept, also at a clean stop, for the next start.
 * This file must never empty a journal whose records are not yet
 * committed or spooled.
 */
#include <errno.h>
#include <string.h>

#include "ledger_int.h"
#include "log.h"
#include "spool.h"
#include "util.h"

/* ledger_journal_init - name the journal files */
void ledger_journal_init(struct ledger *l)
{
    pthread_mutex_init(&l->jmu, NULL);
    l->jpath[0] = xasprintf("%s.journal.0", l->spool_path);
    l->jpath[1] = xasprintf("%s.journal.1", l->spool_path);
}

/*
 * recover_batch - settle the n records of l->batch read from a journal:
 * to the spool or, if the spool cannot take them all (unusable, full),
 * straight into the database (records are idempotent by uid, so a part
 * also spooled lands once); false if neither took every one of them.
 */
static bool recover_batch(struct ledger *l, size_t n)
{
    if (ledger_spool_msgs(l, l->batch, n) == 0)
        return true;
    if (ledger_commit(l, l->batch, n) != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (l->lost[k])
            return false; /* refused and not saved: keep the journal's copy */
    pthread_mutex_lock(&l->mu);
    l->st.replayed += l->added;
    l->st.discarded += l->discarded;
    pthread_mutex_unlock(&l->mu);
    return true;
}

/* recover_one - move journal i's records to the spool; false (logged) if not all went */
static bool recover_one(struct ledger *l, int i)
{
    char err[512];
    size_t n, max = l->o.batch_max < REPLAY_BATCH ? l->o.batch_max : REPLAY_BATCH;
    l->jr[i] = spool_open(l->jpath[i], l->o.spool_max_bytes, err, sizeof(err));
    if (l->jr[i] == NULL) {
        warn("ledger: journal: %s", err);
        return false;
    }
    spool_set_sync(l->jr[i], l->o.sync);
    for (;;) {
        bool ok;

        if (spool_next(l->jr[i], l->batch, max, &n) != 0) {
            warn("ledger: journal %s: read: %s", l->jpath[i], strerror(errno));
            return false;
        }
        if (n == 0)
            break;
        ok = recover_batch(l, n);
        for (size_t k = 0; k < n; k++)
            l->batch[k] = ledger_msg_free(l->batch[k]);
        if (!ok) {
            warn("ledger: journal %s: cannot move its records to the spool or the database; "
                 "kept for the next start, journaling off",
                 l->jpath[i]);
            return false;
        }
        spool_done(l->jr[i]);
    }
    if (spool_clear(l->jr[i]) != 0) {
        warn("ledger: journal %s: truncate: %s", l->jpath[i], strerror(errno));
        return false;
    }
    return true;
}

/* ledger_journal_recover - move both journals to the spool, then let producers journal */
void ledger_journal_recover(struct ledger *l)
{
    bool ok = recover_one(l, 0);

    ok = recover_one(l, 1) && ok;
    if (!ok)
        l->jkeep = true; /* what could not be moved stays for the next start: not emptied
                            at stop (ledger_journal_finish) */
    pthread_mutex_lock(&l->jmu);
    l->jready = ok && l->o.journal;
    l->jcur = 0;
    pthread_mutex_unlock(&l->jmu);
    pthread_mutex_lock(&l->mu);
    l->jrecovered = true; /* even if not all could be moved: they wait for the next start */
    pthread_mutex_unlock(&l->mu);
    ledger_note_spool(l);
}

/* ledger_journal_write - append under jmu; 0 with jmu held, or an errno with it released */
int ledger_journal_write(struct ledger *l, const char *data, size_t len)
{
    int err, cur;
    uint64_t now;

    pthread_mutex_lock(&l->jmu);
    if (!l->jready) {
        pthread_mutex_unlock(&l->jmu);
        return EAGAIN;
    }
    if (spool_append_bytes(l->jr[l->jcur], data, len) == 0)
        return 0;
    err = errno ? errno : EIO;
    cur = l->jcur;
    now = ledger_mono_ms();
    if (l->jwarned_at == 0 || now >= l->jwarned_at + DROP_LOG_MS) {
        l->jwarned_at = now;
        pthread_mutex_unlock(&l->jmu);
        warn("ledger: journal %s: append: %s; waiting for the writer instead", l->jpath[cur],
             strerror(err));
        return err;
    }
    pthread_mutex_unlock(&l->jmu);
    return err;
}

/* ledger_journal_unlock - release jmu */
void ledger_journal_unlock(struct ledger *l)
{
    pthread_mutex_unlock(&l->jmu);
}

/* ledger_journal_switch - producers to the other file, noting what the old one covers */
void ledger_journal_switch(struct ledger *l)
{
    pthread_mutex_lock(&l->jmu);
    if (l->jready && !l->jold_pending && spool_size(l->jr[l->jcur]) > 0) {
        pthread_mutex_lock(&l->mu);
        l->jold_until = l->removed + l->count;
        pthread_mutex_unlock(&l->mu);
        l->jcur ^= 1;
        l->jold_pending = true;
    }
    pthread_mutex_unlock(&l->jmu);
}

/* ledger_journal_trim - empty the old file once nothing in it is needed */
void ledger_journal_trim(struct ledger *l)
{
    bool done;
    int old;

    if (l->jkeep)
        return; /* a dropped record may be in either file */
    if (!l->jold_pending)
        return; /* only the writer sets and clears it */
    pthread_mutex_lock(&l->mu);
    done = l->removed >= l->jold_until;
    pthread_mutex_unlock(&l->mu);
    if (!done)
        return;
    /* Producers use jr[jcur] only, and only this thread changes jcur. */
    old = l->jcur ^ 1;
    if (spool_clear(l->jr[old]) != 0) {
        warn("ledger: journal %s: truncate: %s", l->jpath[old], strerror(errno));
        return; /* retried after the next batch */
    }
    l->jold_pending = false;
}

/* ledger_journal_keep - a record was dropped: keep both files, stop journaling (writer) */
void ledger_journal_keep(struct ledger *l)
{
    bool was;

    l->jkeep = true;
    pthread_mutex_lock(&l->jmu);
    was = l->jready;
    l->jready = false; /* before the drop is settled: later answers wait for the writer */
    pthread_mutex_unlock(&l->jmu);
    if (was)
        warn("ledger: a record was dropped after it may have been journaled: journal %s and %s "
             "kept for the next start; answers wait for the writer until then",
             l->jpath[0], l->jpath[1]);
}

/* ledger_journal_finish - stop journaling; empty both files unless keep */
void ledger_journal_finish(struct ledger *l, bool keep)
{
    pthread_mutex_lock(&l->jmu);
    l->jready = false; /* from now on ledger_put_wait() takes the old path */
    if (!keep)
        for (int i = 0; i < 2; i++)
            if (l->jr[i] != NULL && spool_clear(l->jr[i]) != 0)
                warn("ledger: journal %s: truncate: %s", l->jpath[i], strerror(errno));
    pthread_mutex_unlock(&l->jmu);
}

/* ledger_journal_free - close the files and free the names */
void ledger_journal_free(struct ledger *l)
{
    for (int i = 0; i < 2; i++) {
        l->jr[i] = spool_close(l->jr[i]);
        free(l->jpath[i]);
    }
    pthread_mutex_destroy(&l->jmu);
}
