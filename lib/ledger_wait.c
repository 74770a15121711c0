/*
 * ledger_wait.c - ledger_put_wait(): an answer that waits until its
 * record is durable (see ledger.h), by a journal append (o.journal;
 * ledger_journal.c) or by waiting for the writer and, past its bound,
 * spooling the record itself; and the histogram of those waits.
 *
 * This file must never answer a record as durable that is not in the
 * journal, the spool or the database, nor wait longer than wait_ms plus
 * one spool append.
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

/* mono_us - monotonic clock in microseconds */
static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* wait_bucket - the histogram bucket of a wait of us microseconds (four per power of two) */
static unsigned wait_bucket(uint64_t us)
{
    unsigned k = 0, b;

    if (us < 4)
        return (unsigned)us;
    while ((us >> k) > 1)
        k++; /* k = floor(log2(us)) >= 2 */
    b = 4 * (k - 1) + (unsigned)((us >> (k - 2)) & 3);
    return b < LEDGER_WAIT_BUCKETS ? b : LEDGER_WAIT_BUCKETS - 1;
}

/* bucket_top - the smallest wait (us) above bucket b's range */
static uint64_t bucket_top(unsigned b)
{
    if (b < 4)
        return b + 1;
    return (uint64_t)(4 + b % 4 + 1) << (b / 4 - 1);
}

/* ledger_wait_percentile - the wait below which pct% of st's waits fell, in us */
uint64_t ledger_wait_percentile(const struct ledger_stats *st, unsigned pct)
{
    uint64_t total = 0, seen = 0, want;

    for (unsigned b = 0; b < LEDGER_WAIT_BUCKETS; b++)
        total += st->wait_hist[b];
    if (total == 0)
        return 0;
    want = (total * pct + 99) / 100;
    for (unsigned b = 0; b < LEDGER_WAIT_BUCKETS; b++) {
        seen += st->wait_hist[b];
        if (seen >= want && seen > 0)
            return bucket_top(b);
    }
    return bucket_top(LEDGER_WAIT_BUCKETS - 1);
}

/* ledger_ack_name - the word for an acknowledgement, for logs */
const char *ledger_ack_name(enum ledger_ack a)
{
    switch (a) {
    case LEDGER_ACK_STORED:
        return "stored";
    case LEDGER_ACK_SPOOLED:
        return "spooled";
    case LEDGER_ACK_SELF:
        return "self-spooled";
    case LEDGER_ACK_MEMORY:
        return "memory";
    case LEDGER_ACK_JOURNALED:
        return "journaled";
    case LEDGER_ACK_DROPPED:
        return "dropped";
    }
    return "?";
}

/* note_unsafe - count a record that is not durable, warn now and then; mu held */
static void note_unsafe(struct ledger *l, int err, bool dropped)
{
    uint64_t now = ledger_mono_ms();

    if (dropped)
        l->st.dropped++;
    else
        l->st.unsafe++;
    if (l->unsafe_logged_at != 0 && now < l->unsafe_logged_at + DROP_LOG_MS)
        return;
    l->unsafe_logged_at = now;
    pthread_mutex_unlock(&l->mu);
    warn("ledger: a record is %s: the writer did not store it in time and the spool %s cannot "
         "be written (%s)%s",
         dropped ? "lost (the queue is full)" : "only in memory", l->spool_path, strerror(err),
         dropped ? "" : "; it is written later unless postmeter-milter dies first");
    pthread_mutex_lock(&l->mu);
}

/*
 * journal_put - append m to the journal and queue it without waiting;
 * false (m untouched) if the journal cannot take it: the caller waits as
 * without a journal. *ack gets the answer.
 */
static bool journal_put(struct ledger *l, struct ledger_msg *m, size_t mem, uint64_t start,
                        enum ledger_ack *ack)
{
    struct buf rec = BUF_INIT;
    size_t at;
    bool taken;
    int err;

    ledger_msg_encode(m, &rec);
    if (ledger_journal_write(l, rec.data, rec.len) != 0) {
        buf_free(&rec);
        return false;
    }
    /* jmu held: the writer cannot switch files between the append and the enqueue. */
    pthread_mutex_lock(&l->mu);
    l->users++;
    taken = ledger_enqueue(l, m, mem, NULL, &at);
    if (taken)
        l->ring_jnl[at] = true; /* at stop, kept in the journal if it cannot be stored */
    ledger_journal_unlock(l);
    *ack = LEDGER_ACK_JOURNALED;
    if (taken)
        l->st.journaled++;
    else {
        /* The queue is full or the writer stopped: the journal's copy may be
           emptied with the records around it, so spool the record now. */
        pthread_mutex_unlock(&l->mu);
        ledger_msg_free(m);
        err = ledger_spool_bytes(l, rec.data, rec.len);
        pthread_mutex_lock(&l->mu);
        *ack = err == 0 ? LEDGER_ACK_SELF : LEDGER_ACK_DROPPED;
        if (err != 0)
            note_unsafe(l, err, true);
    }
    l->st.waits++;
    l->st.wait_hist[wait_bucket(mono_us() - start)]++;
    ledger_leave(l);
    buf_free(&rec);
    return true;
}

/* ledger_put_wait - hand over a record and wait until it is durable (see ledger.h) */
enum ledger_ack ledger_put_wait(struct ledger *l, struct ledger_msg *m, unsigned wait_ms)
{
    struct ledger_waiter w = {.fate = LEDGER_ACK_MEMORY};
    size_t mem, at = 0;
    uint64_t start, deadline;
    struct buf rec = BUF_INIT;
    pthread_condattr_t ca;
    int err;

    if (wait_ms == 0) {
        ledger_put(l, m);
        return LEDGER_ACK_MEMORY;
    }
    mem = ledger_msg_mem(m);
    start = mono_us();
    if (l->o.journal && journal_put(l, m, mem, start, &w.fate))
        return w.fate;
    deadline = ledger_mono_ms() + wait_ms;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&l->mu);
    l->users++;
    if (!ledger_enqueue(l, m, mem, &w, &at)) {
        /* The queue is full (or the writer has stopped): this record goes
           to the spool now, or is lost. */
        pthread_mutex_unlock(&l->mu);
        ledger_msg_encode(m, &rec);
        ledger_msg_free(m);
        err = ledger_spool_bytes(l, rec.data, rec.len);
        pthread_mutex_lock(&l->mu);
        if (err == 0)
            w.fate = LEDGER_ACK_SELF;
        else {
            w.fate = LEDGER_ACK_DROPPED;
            note_unsafe(l, err, true);
        }
    } else {
        while (!w.done && ledger_mono_ms() < deadline)
            ledger_wait_until(l, &w.cv, deadline);
        if (!w.done) {
            /* The writer is stuck (a locked database, a slow disk): the
               record is still at its slot, and nobody frees it while mu
               is held. Unhook, copy it out, and spool the copy. */
            uint64_t seq = l->removed + (at + l->o.queue_max - l->head) % l->o.queue_max;

            l->ring_wait[at] = NULL;
            l->waiters--;
            ledger_msg_encode(l->ring[at], &rec);
            pthread_mutex_unlock(&l->mu);
            err = ledger_spool_bytes(l, rec.data, rec.len);
            pthread_mutex_lock(&l->mu);
            w.fate = LEDGER_ACK_SELF;
            if (err == 0 && seq >= l->removed) /* still queued: the writer need not spool it */
                l->ring_self[at] = true;
            if (err != 0) {
                w.fate = LEDGER_ACK_MEMORY;
                note_unsafe(l, err, false);
            }
        }
    }
    l->st.waits++;
    l->st.wait_hist[wait_bucket(mono_us() - start)]++;
    ledger_leave(l);
    pthread_cond_destroy(&w.cv);
    buf_free(&rec);
    return w.fate;
}
