/*
 * ledger_prune.c - retention as it runs (ledger_prune.h): batches sized
 * to stay near LEDGER_PRUNE_BATCH_MS, and the ledger writer's daily
 * prune.
 *
 * Never holds the database for more than one batch, never runs two
 * batches without a pause between them, and knows no SQL (the store
 * does).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "buf.h"
#include "ledger_prune.h"
#include "log.h"
#include "timeutil.h"

/* mono_us - monotonic clock in microseconds */
static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ledger_prune_start - begin a prune of the rows older than cut */
void ledger_prune_start(struct ledger_prune_run *r, int64_t cut)
{
    *r = (struct ledger_prune_run){
        .cut = cut, .limit = LEDGER_PRUNE_FIRST_ROWS, .duty = LEDGER_PRUNE_DUTY};
}

/* ledger_prune_next_limit - cut to the aim after a slow batch, grow by a quarter after a quick one
 */
unsigned ledger_prune_next_limit(unsigned limit, uint64_t us)
{
    const uint64_t aim = (uint64_t)LEDGER_PRUNE_BATCH_MS * 1000;
    uint64_t next = limit;

    if (us > 2 * aim)
        next = (uint64_t)limit * aim / us;
    else if (us < aim / 2)
        next = (uint64_t)limit + limit / 4 + 1;
    if (next < LEDGER_PRUNE_MIN_ROWS)
        return LEDGER_PRUNE_MIN_ROWS;
    return next > LEDGER_PRUNE_MAX_ROWS ? LEDGER_PRUNE_MAX_ROWS : (unsigned)next;
}

/* ledger_prune_step - one batch of r; the next one's size and the pause after it */
enum store_status ledger_prune_step(struct store *s, struct ledger_prune_run *r, bool *more)
{
    uint64_t t0 = mono_us(), us;
    enum store_status st = store_prune_batch(s, r->cut, r->limit, &r->removed, more);

    us = mono_us() - t0;
    if (st != STORE_OK)
        return st;
    r->batches++;
    if (us > r->longest_us)
        r->longest_us = us;
    r->pause_us = us * r->duty;
    if (r->pause_us < (uint64_t)LEDGER_PRUNE_PAUSE_MS * 1000)
        r->pause_us = (uint64_t)LEDGER_PRUNE_PAUSE_MS * 1000;
    if (*more)
        r->limit = ledger_prune_next_limit(r->limit, us);
    return STORE_OK;
}

/* ledger_prune_run_all - every batch of r, pausing between them */
enum store_status ledger_prune_run_all(struct store *s, struct ledger_prune_run *r)
{
    enum store_status st;
    bool more = true;

    while ((st = ledger_prune_step(s, r, &more)) == STORE_OK && more) {
        struct timespec ts = {.tv_sec = (time_t)(r->pause_us / 1000000),
                              .tv_nsec = (long)(r->pause_us % 1000000) * 1000};

        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return st;
}

/* log_run - say what the finished run r removed */
static void log_run(const struct ledger_prune_run *r)
{
    struct buf line = BUF_INIT;
    char cut[TIME_ISO_LEN];

    for (size_t t = 0; t < STORE_PRUNE_TABLES; t++)
        buf_printf(&line, "%s%" PRId64 " %s", t ? ", " : "", r->removed.n[t],
                   store_prune_table_name((enum store_prune_table)t));
    info("ledger: pruned rows older than %s: %s (%" PRIu64 " batches, longest %" PRIu64 " ms)",
         time_format_iso(r->cut, cut), buf_cstr(&line), r->batches, r->longest_us / 1000);
    buf_free(&line);
}

/* ledger_prune_tick - at most one batch of the daily prune */
bool ledger_prune_tick(struct store *s, struct ledger_prune_state *ps, time_t now,
                       unsigned retention_days)
{
    bool more = false;

    if (retention_days == 0) {
        ps->running = false;
        return false;
    }
    if (!ps->running) {
        /* A clock set back must not put the next run off by as much. */
        if (ps->next_at > (int64_t)now + LEDGER_PRUNE_EVERY_S)
            ps->next_at = (int64_t)now;
        if ((int64_t)now < ps->next_at)
            return false;
        ledger_prune_start(&ps->run, (int64_t)now - (int64_t)retention_days * 86400);
        ps->running = true;
        ps->resume_ms = 0;
        ps->next_at = (int64_t)now + LEDGER_PRUNE_EVERY_S;
    }
    if (mono_us() / 1000 < ps->resume_ms)
        return true; /* still pausing after the last batch */
    if (ledger_prune_step(s, &ps->run, &more) != STORE_OK) {
        warn("ledger: prune of rows older than %u days: %s; trying again in %d minutes",
             retention_days, store_error(s), LEDGER_PRUNE_RETRY_S / 60);
        ps->running = false;
        ps->next_at = (int64_t)now + LEDGER_PRUNE_RETRY_S;
        return false;
    }
    if (!more) {
        log_run(&ps->run);
        ps->running = false;
        return false;
    }
    ps->resume_ms = mono_us() / 1000 + (ps->run.pause_us + 999) / 1000;
    return true;
}

/* ledger_prune_wait_ms - how long until ledger_prune_tick() has work */
uint64_t ledger_prune_wait_ms(const struct ledger_prune_state *ps, time_t now,
                              unsigned retention_days)
{
    uint64_t mono;

    if (retention_days == 0)
        return UINT64_MAX;
    if (!ps->running) {
        if (ps->next_at <= (int64_t)now || ps->next_at > (int64_t)now + LEDGER_PRUNE_EVERY_S)
            return 0;
        return (uint64_t)(ps->next_at - (int64_t)now) * 1000;
    }
    mono = mono_us() / 1000;
    return ps->resume_ms > mono ? ps->resume_ms - mono : 0;
}
