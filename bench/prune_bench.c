/*
 * prune_bench.c - what a prune costs the ledger's writes: a writer's
 * throughput and its longest commit while "postmeter prune" removes old
 * rows, against the same writer alone, measured in the same run.
 *
 * SYNOPSIS
 *     prune_bench [-n messages] [-b batch] [-t seconds] [-D duty] [-i] [-d dir] [-k]
 *
 * DESCRIPTION
 *     Fills a fresh database (the embedded schema) with n old messages
 *     (default 100,000), each with two recipients and two authentication
 *     results, and a tracked message with one recipient and three opens
 *     for every fifth of them: 6 rows per message, 600,000 by default,
 *     and copies it to a twin. Then a writer thread commits records like
 *     real mail (bench/common/ledger_records.c) through
 *     store_put_messages() in transactions of batch records (default 64),
 *     as fast as it can:
 *
 *     prune   on the database, while the prune of "postmeter prune"
 *             (ledger_prune_run_all) runs on another connection over
 *             every old row, until it is done; with -i the writer runs
 *             the prune's batches itself, between its own, on its own
 *             connection (ledger_prune_step, as the ledger writer does
 *             with retention_days);
 *     alone   on the twin, as long as the prune took (at least the
 *             given seconds, default 0), no prune.
 *
 *     A writer slows as its database grows (its indexes outgrow the
 *     cache), so both start from the same rows and run as long: a
 *     writer alone measured before the prune, for a few seconds, made the
 *     prune look about twice as costly as it is.
 *
 *     -D sets the prune's pause after each batch, in times the batch took
 *     (LEDGER_PRUNE_DUTY by default).
 *
 *     Output: the writer's messages/s and longest commit in each, their
 *     ratio, its thread's CPU time per message in each (which other
 *     work on the machine moves less than the wall clock), and the
 *     prune's time, rows/s, batches and longest batch.
 *     The targets (issue 20): no commit waits 100 ms or more during the
 *     prune, and the writer keeps 0.8 of its throughput or more.
 *
 * DIAGNOSTICS
 *     Exit 1 if a database call fails, the prune leaves an old row or
 *     removes a new one. It never touches a database other than the one
 *     it creates in a fresh directory under dir (default /tmp), removed
 *     at the end unless -k.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench_util.h"
#include "ledger_prune.h"
#include "ledger_records.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define AGE_DAYS 90

static size_t nmsgs = 100000, batch = 64;
static unsigned seconds;

/* mono_us - monotonic clock in microseconds */
static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* sleep_us - sleep us microseconds */
static void sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* usage - how to call it; exits */
static void usage(int status)
{
    fprintf(
        status ? stderr : stdout,
        "usage: prune_bench [-n messages] [-b batch] [-t seconds] [-D duty] [-i] [-d dir] [-k]\n");
    exit(status);
}

/* prep - a prepared statement or die */
static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("%s: %s", sql, sqlite3_errmsg(db));
    return st;
}

/* step_ints - bind ints v[0..n) to st, run it, reset it */
static void step_ints(sqlite3 *db, sqlite3_stmt *st, const int64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(st, i + 1, v[i]);
    if (sqlite3_step(st) != SQLITE_DONE)
        die("fill: %s", sqlite3_errmsg(db));
    sqlite3_reset(st);
}

/* fill_old - nmsgs old messages (and tracked messages, opens) before cut */
static void fill_old(const char *path, int64_t cut)
{
    sqlite3 *db;
    sqlite3_stmt *msg, *rcpt, *auth, *tr, *trcpt, *open;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("%s: %s", path, sqlite3_errmsg(db));
    exec_or_die(db, "BEGIN");
    msg = prep(db, "INSERT INTO messages (id, uid, direction, mail_from, header_from, action,"
                   " received_at) VALUES (?1, 'old' || ?1, 'inbound', 'a' || (?1 % 997) ||"
                   " '@example.org', 'a@example.org', 'accept', ?2)");
    rcpt = prep(db, "INSERT INTO message_recipients VALUES (?1, ?2, 'r' || (?1 % 5003) ||"
                    " '@example.net')");
    auth = prep(db, "INSERT INTO message_auth (message_id, position, method, result, identity)"
                    " VALUES (?1, ?2, 'dkim', 'pass', 'example.org')");
    tr = prep(db, "INSERT INTO tracked_messages (id, token, mode, outcome, created_at)"
                  " VALUES (?1, printf('old%025d', ?1), 'pipe', 'injected', ?2)");
    trcpt = prep(db, "INSERT INTO tracked_recipients VALUES (?1, 0, 'r' || ?1 || '@example.net')");
    open = prep(db, "INSERT INTO pixel_opens (uid, tracked_id, opened_at, method, class)"
                    " VALUES ('o' || ?1 || '.' || ?2, ?1, ?3, 'GET', 'human')");
    for (int64_t i = 1; i <= (int64_t)nmsgs; i++) {
        int64_t t = cut - 10 - ((int64_t)nmsgs - i) * 60; /* its opens too are older */

        step_ints(db, msg, (int64_t[]){i, t}, 2);
        for (int64_t p = 0; p < 2; p++) {
            step_ints(db, rcpt, (int64_t[]){i, p}, 2);
            step_ints(db, auth, (int64_t[]){i, p}, 2);
        }
        if (i % 5)
            continue;
        step_ints(db, tr, (int64_t[]){i / 5, t}, 2);
        step_ints(db, trcpt, (int64_t[]){i / 5}, 1);
        for (int64_t k = 0; k < 3; k++)
            step_ints(db, open, (int64_t[]){i / 5, k, t + 1 + k}, 3);
    }
    sqlite3_stmt *all[] = {msg, rcpt, auth, tr, trcpt, open};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        sqlite3_finalize(all[k]);
    exec_or_die(db, "COMMIT");
    sqlite3_close(db);
}

/* What the writer did. */
struct writer {
    struct store *s;
    atomic_bool stop;
    size_t msgs, auth, commits, slow; /* slow: commits of 100 ms or more */
    uint64_t longest_us, us, cpu_us;  /* cpu_us: the writer thread's CPU time */
    struct ledger_prune_run *run;     /* -i: the prune this writer runs between its batches */
    atomic_bool pruned;               /* -i: the prune is done */
    uint64_t resume_us;               /* -i: its next batch not before then */
};

/* thread_cpu_us - CPU time of the calling thread in microseconds */
static uint64_t thread_cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* writer_main - commit batches of new records until told to stop */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint64_t t0 = mono_us(), cpu0 = thread_cpu_us();

    for (size_t r = 0; !atomic_load(&w->stop); r++) {
        struct ledger_msg **v = make_msgs(batch, r, false);
        uint64_t c0 = mono_us(), us;

        if (store_put_messages(w->s, v, batch) != STORE_OK)
            die("writer: %s", store_error(w->s));
        us = mono_us() - c0;
        if (us > w->longest_us)
            w->longest_us = us;
        w->slow += us >= 100000;
        w->msgs += batch;
        w->commits++;
        for (size_t i = 0; i < batch; i++) {
            w->auth += v[i]->nauth;
            ledger_msg_free(v[i]);
        }
        free(v);
        if (w->run != NULL && !atomic_load(&w->pruned) && mono_us() >= w->resume_us) {
            bool more = false;

            if (ledger_prune_step(w->s, w->run, &more) != STORE_OK)
                die("prune: %s", store_error(w->s));
            w->resume_us = mono_us() + w->run->pause_us;
            if (!more)
                atomic_store(&w->pruned, true);
        }
    }
    w->us = mono_us() - t0;
    w->cpu_us = thread_cpu_us() - cpu0;
    return NULL;
}

/* start_writer - a writer thread on its own connection */
static void start_writer(struct writer *w, pthread_t *th, const char *path,
                         struct ledger_prune_run *run)
{
    char err[512];

    *w = (struct writer){.run = run};
    if ((w->s = store_open(path, STORE_NOCREATE, err, sizeof(err))) == NULL)
        die("%s: %s", path, err);
    if (pthread_create(th, NULL, writer_main, w) != 0)
        die("pthread_create");
}

/* stop_writer - stop it, wait for it, close its connection */
static void stop_writer(struct writer *w, pthread_t th)
{
    atomic_store(&w->stop, true);
    pthread_join(th, NULL);
    w->s = store_close(w->s);
}

/* rate - messages per second of w */
static double rate(const struct writer *w)
{
    return w->us ? (double)w->msgs * 1e6 / (double)w->us : 0;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp";
    char tmpl[4096], path[4200], twin[4200], err[512];
    struct ledger_prune_run run;
    struct writer alone, during;
    struct store *s;
    pthread_t th;
    uint64_t t0, prune_us;
    int64_t cut = (int64_t)time(NULL) - AGE_DAYS * 86400, rows = 0;
    bool keep = false, inline_prune = false;
    unsigned duty = 0;
    int ch, status = 0;

    log_open("prune_bench", LOG_TO_STDERR);
    while ((ch = getopt(argc, argv, "n:b:t:d:D:kih")) != -1) {
        if (ch == 'n')
            nmsgs = bench_size_arg(optarg, usage);
        else if (ch == 'b')
            batch = bench_size_arg(optarg, usage);
        else if (ch == 't')
            seconds = (unsigned)bench_size_arg(optarg, usage);
        else if (ch == 'd')
            dir = optarg;
        else if (ch == 'k')
            keep = true;
        else if (ch == 'D' && (duty = (unsigned)bench_size_arg(optarg, usage)) > 1000)
            usage(2); /* bench_size_arg takes up to 2^32, which would wrap */
        else if (ch == 'D')
            continue;
        else if (ch == 'i')
            inline_prune = true;
        else
            usage(ch == 'h' ? 0 : 2);
    }
    if (!snprintf_ok(tmpl, sizeof(tmpl), "%s/prune-bench-XXXXXX", dir) || mkdtemp(tmpl) == NULL)
        die("%s: cannot make a directory", dir);
    if (!snprintf_ok(path, sizeof(path), "%s/ledger.db", tmpl) ||
        !snprintf_ok(twin, sizeof(twin), "%s/twin.db", tmpl))
        die("path too long");
    make_template(path);
    t0 = mono_us();
    fill_old(path, cut);
    printf("filled %zu old messages (%zu rows) in %.1f s\n", nmsgs, nmsgs * 6,
           (double)(mono_us() - t0) / 1e6);

    /* Both writers start from the same database: the prune's and a twin. */
    fresh_db(path, twin);

    if ((s = store_open(path, STORE_NOCREATE, err, sizeof(err))) == NULL)
        die("%s: %s", path, err);
    ledger_prune_start(&run, cut);
    if (duty)
        run.duty = duty;
    t0 = mono_us();
    start_writer(&during, &th, path, inline_prune ? &run : NULL);
    if (!inline_prune && ledger_prune_run_all(s, &run) != STORE_OK)
        die("prune: %s", store_error(s));
    while (inline_prune && !atomic_load(&during.pruned))
        sleep_us(10000);
    prune_us = mono_us() - t0;
    stop_writer(&during, th);
    store_close(s);

    /* The same writer alone on the twin for as long (a writer slows as its database grows). */
    start_writer(&alone, &th, twin, NULL);
    sleep_us(prune_us < seconds * 1000000ull ? seconds * 1000000ull : prune_us);
    stop_writer(&alone, th);

    for (size_t t = 0; t < STORE_PRUNE_TABLES; t++)
        rows += run.removed.n[t];
    printf("writer alone:       %9.0f msg/s, %zu commits, longest %.1f ms, %zu of 100 ms or more\n",
           rate(&alone), alone.commits, (double)alone.longest_us / 1000, alone.slow);
    printf("writer during prune:%9.0f msg/s, %zu commits, longest %.1f ms, %zu of 100 ms or more\n",
           rate(&during), during.commits, (double)during.longest_us / 1000, during.slow);
    printf("ratio during/alone: %.2f (target >= 0.80)\n",
           rate(&alone) > 0 ? rate(&during) / rate(&alone) : 0);
    /* What the load of other work moves less: the writer thread's own CPU per message. */
    printf("writer CPU per message: alone %.1f us, during prune %.1f us (with -i: its batches "
           "included)\n",
           alone.msgs ? (double)alone.cpu_us / (double)alone.msgs : 0,
           during.msgs ? (double)during.cpu_us / (double)during.msgs : 0);
    printf("prune: %" PRId64 " rows in %.1f s (%.0f rows/s), %" PRIu64
           " batches, longest %.1f ms, last limit %u\n",
           rows, (double)prune_us / 1e6, (double)rows * 1e6 / (double)prune_us, run.batches,
           (double)run.longest_us / 1000, run.limit);
    printf("longest commit during prune: %.1f ms (target < 100 ms): %s\n",
           (double)during.longest_us / 1000, during.longest_us < 100000 ? "ok" : "MISSED");
    if (rows != (int64_t)nmsgs * 6) {
        fprintf(stderr, "prune removed %" PRId64 " rows, want %zu\n", rows, nmsgs * 6);
        status = 1;
    }
    check_db(path, during.msgs, during.auth, "after the prune");
    check_db(twin, nmsgs + alone.msgs, 2 * nmsgs + alone.auth, "the twin");
    if (!keep) {
        remove_db(path);
        remove_db(twin);
        rmdir(tmpl);
    }
    return status;
}
