/*
 * ledger_bench.c - how fast the ledger writer puts messages into SQLite,
 * against a direct sqlite3 insert loop measured in the same run.
 *
 * SYNOPSIS
 *     ledger_bench [-n messages] [-p producers] [-r rounds] [-b batch_max]
 *                  [-q queue_max] [-f flush_ms] [-t direct_txn] [-d dir] [-k]
 *                  [-P sql] [-U]
 *
 * DESCRIPTION
 *     Each round builds the same kind of records (lib/ledger_msg.h, two
 *     recipients, field sizes like real mail) before any clock starts,
 *     then times three ways of storing them, each into a fresh database
 *     with the schema from the embedded migrations:
 *
 *     direct  this program inserts them itself: one thread, the store's
 *             INSERT statements prepared once, direct_txn rows per
 *             transaction, same pragmas (WAL, synchronous=NORMAL, the
 *             writer's cache and checkpoint settings). The
 *             ceiling: no queue, no threads, no hand-over, big
 *             transactions.
 *     batch   the same with batch_max rows per transaction: what SQLite
 *             alone costs at the ledger's transaction size.
 *     ledger  producer threads hand them to ledger_put(); the writer
 *             thread commits them in batches (group commit). Timed from
 *             the first put until ledger_flush() says all is committed.
 *
 *     The order rotates between rounds. Producers are faster than any
 *     database, so they pause (outside ledger_put, counted) while more
 *     than queue_max / 2 records wait: the run measures the writer at
 *     full load without ever reaching the spool or the drop path. Every
 *     ledger_put() call is timed; its percentiles show whether a producer
 *     (a milter thread) ever waits for the database.
 *
 *     The records, the databases and the direct path's statements live
 *     in bench/common/ledger_records.c.
 *
 *     Output: msg/s of each, the ratios ledger / direct (against the
 *     ceiling) and ledger / batch (the cost of the writer machinery
 *     itself), medians over the rounds, the commits the writer made, and
 *     ledger_put latency.
 *
 *     Two what-if switches for tuning work (not for the target): -P runs
 *     one more SQL statement on the connections of the direct and batch
 *     runs only (e.g. "PRAGMA cache_size = -65536": what would the store
 *     gain from it?); -U gives
 *     both paths time-ordered record uids instead of random ones (what
 *     would a UUIDv7-like uid in ledger_msg_new() gain?).
 *
 * DIAGNOSTICS
 *     Exit 1 if a run lost, spooled or rejected a record, or a database
 *     does not hold exactly the rows put in. It never touches a database
 *     other than the ones it creates in a fresh directory under dir
 *     (default /tmp), removed at the end unless -k.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger.h"
#include "ledger_msg.h"
#include "log.h"
#include "store.h"
#include "bench_util.h"
#include "ledger_records.h"
#include "util.h"

struct bench_opts {
    size_t messages, producers, rounds, direct_txn;
    struct ledger_opts ledger;
    const char *dir;
    const char *direct_sql; /* -P: what-if statement on the direct connection only */
    bool ordered_uid;       /* -U: what-if time-ordered record uids */
    bool keep;
};

struct producer {
    pthread_t thread;
    struct ledger *ledger;
    struct ledger_msg **msgs; /* handed over one by one (ownership moves) */
    size_t n;
    uint32_t *lat_ns; /* n put latencies */
    size_t pause_above;
    uint64_t pauses;
    pthread_barrier_t *go;
};

struct run_result {
    double secs;
    uint64_t commits;
};

/* The three kinds of run, in the order of the columns. */
enum { RUN_DIRECT, RUN_BATCH, RUN_LEDGER };
static const char *const run_name[] = {"direct", "batch", "ledger"};

/* now_s - monotonic seconds */
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* now_ns - monotonic nanoseconds */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* run_direct - insert msgs from this thread in transactions of txn rows */
static struct run_result run_direct(const struct bench_opts *o, const char *path,
                                    struct ledger_msg **msgs, size_t txn)
{
    struct run_result r = {0, 0};
    struct direct_stmts ds;
    sqlite3 *db;
    double t0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        die("%s: %s", path, sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 5000);
    direct_setup(db, o->direct_sql, &ds);
    t0 = now_s();
    for (size_t i = 0; i < o->messages; i += txn) {
        size_t end = i + txn < o->messages ? i + txn : o->messages;

        exec_or_die(db, "BEGIN IMMEDIATE");
        for (size_t j = i; j < end; j++)
            direct_insert(db, &ds, msgs[j]);
        exec_or_die(db, "COMMIT");
        r.commits++;
    }
    r.secs = now_s() - t0;
    direct_finalize(&ds);
    sqlite3_close(db);
    return r;
}

/* producer_main - hand this producer's records to the ledger, timing each put */
static void *producer_main(void *arg)
{
    struct producer *p = arg;
    struct ledger_stats st;
    struct timespec pause = {0, 200000};

    pthread_barrier_wait(p->go);
    for (size_t i = 0; i < p->n; i++) {
        uint64_t t;

        if ((i & 255) == 0) {
            for (;;) {
                ledger_get_stats(p->ledger, &st);
                if (st.queued <= p->pause_above)
                    break;
                p->pauses++;
                nanosleep(&pause, NULL);
            }
        }
        t = now_ns();
        ledger_put(p->ledger, p->msgs[i]);
        t = now_ns() - t;
        p->lat_ns[i] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
        p->msgs[i] = NULL;
    }
    return NULL;
}

/* run_ledger - msgs[0..n) through ledger_put() from o->producers threads */
static struct run_result run_ledger(const struct bench_opts *o, const char *path,
                                    struct ledger_msg **msgs, size_t n, uint32_t *lat_ns,
                                    uint64_t *pauses)
{
    struct producer *p = xcalloc(o->producers, sizeof(*p));
    struct ledger_opts lo = o->ledger;
    struct run_result r = {0, 0};
    struct ledger_stats st;
    pthread_barrier_t go;
    struct ledger *l;
    size_t at = 0;
    double t0;

    lo.database = path;
    l = ledger_start(&lo);
    pthread_barrier_init(&go, NULL, (unsigned)o->producers + 1);
    for (size_t i = 0; i < o->producers; i++) {
        size_t k = n / o->producers + (i < n % o->producers);

        p[i] = (struct producer){.ledger = l,
                                 .msgs = msgs + at,
                                 .n = k,
                                 .lat_ns = lat_ns + at,
                                 .pause_above = lo.queue_max / 2,
                                 .go = &go};
        at += k;
        if (pthread_create(&p[i].thread, NULL, producer_main, &p[i]) != 0)
            die("cannot start a producer thread");
    }
    pthread_barrier_wait(&go);
    t0 = now_s();
    for (size_t i = 0; i < o->producers; i++) {
        pthread_join(p[i].thread, NULL);
        *pauses += p[i].pauses;
    }
    if (!ledger_flush(l, 600000))
        die("ledger run: ledger_flush timed out");
    r.secs = now_s() - t0;
    ledger_get_stats(l, &st);
    r.commits = st.commits;
    if (st.written != n || st.dropped || st.spooled || st.rejected || st.failures)
        die("ledger run: written %" PRIu64 " of %zu, dropped %" PRIu64 ", spooled %" PRIu64
            ", rejected %" PRIu64 ", failed attempts %" PRIu64,
            st.written, n, st.dropped, st.spooled, st.rejected, st.failures);
    ledger_stop(l, 10000);
    pthread_barrier_destroy(&go);
    free(p);
    return r;
}

/* cmp_u32 - qsort order of uint32_t */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* fmt_ns - a latency for humans, written into out[len] */
static const char *fmt_ns(char *out, size_t len, uint32_t ns)
{
    bool ok;

    if (ns < 10000)
        ok = snprintf_ok(out, len, "%.2f us", ns / 1e3);
    else if (ns < 10000000)
        ok = snprintf_ok(out, len, "%.0f us", ns / 1e3);
    else
        ok = snprintf_ok(out, len, "%.1f ms", ns / 1e6);
    if (!ok)
        bug("fmt_ns: buffer too small");
    return out;
}

/* usage - how to call us */
__attribute__((noreturn)) static void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: ledger_bench [-n messages] [-p producers] [-r rounds] [-b batch_max]\n"
            "                    [-q queue_max] [-f flush_ms] [-t direct_txn] [-d dir] [-k]\n"
            "                    [-P sql] [-U]\n"
            "  -n  messages per run (200000)         -p  producer threads (4)\n"
            "  -r  rounds, order alternating (3)     -b  ledger batch_max (ledger default)\n"
            "  -q  ledger queue_max (default)        -f  ledger flush_ms (default)\n"
            "  -t  rows per direct transaction (10000)\n"
            "  -d  where to make the temporary directory for the databases (/tmp)\n"
            "  -k  keep the databases\n"
            "  -P  what-if: one more SQL statement on the direct connection only\n"
            "  -U  what-if: time-ordered record uids on both paths\n");
    exit(status);
}

/* parse_args - options into o */
static void parse_args(int argc, char **argv, struct bench_opts *o)
{
    int c;

    while ((c = getopt(argc, argv, "n:p:r:b:q:f:t:d:kP:Uh")) != -1) {
        switch (c) {
        case 'n':
            o->messages = bench_size_arg(optarg, usage);
            break;
        case 'p':
            o->producers = bench_size_arg(optarg, usage);
            break;
        case 'r':
            o->rounds = bench_size_arg(optarg, usage);
            break;
        case 'b':
            o->ledger.batch_max = bench_size_arg(optarg, usage);
            break;
        case 'q':
            o->ledger.queue_max = bench_size_arg(optarg, usage);
            break;
        case 'f':
            o->ledger.flush_ms = (unsigned)bench_size_arg(optarg, usage);
            break;
        case 't':
            o->direct_txn = bench_size_arg(optarg, usage);
            break;
        case 'd':
            o->dir = optarg;
            break;
        case 'k':
            o->keep = true;
            break;
        case 'P':
            o->direct_sql = optarg;
            break;
        case 'U':
            o->ordered_uid = true;
            break;
        case 'h':
            usage(0);
        default:
            usage(2);
        }
    }
    if (optind != argc)
        usage(2);
}

/* The whole run: where the databases are and what was measured. */
struct bench {
    struct bench_opts o;
    char *dir, *db_template, *db_direct, *db_ledger;
    double *rate[3];           /* msg/s per round: RUN_DIRECT, RUN_BATCH, RUN_LEDGER */
    double *ratio_d, *ratio_b; /* ledger / direct, ledger / batch per round */
    uint32_t *lat;             /* every ledger_put, all rounds */
    uint64_t pauses, commits;
    size_t avg_bytes;
};

/* run_one - one run of kind k on fresh records and a fresh database; msg/s */
static double run_one(struct bench *b, size_t r, int k)
{
    const struct bench_opts *o = &b->o;
    struct ledger_msg **msgs = make_msgs(o->messages, r, o->ordered_uid);
    const char *db = k == RUN_LEDGER ? b->db_ledger : b->db_direct;
    struct run_result res;
    size_t nauth = 0;

    for (size_t i = 0; i < o->messages; i++)
        nauth += msgs[i]->nauth;
    if (b->avg_bytes == 0) {
        for (size_t i = 0; i < o->messages; i++)
            b->avg_bytes += field_bytes(msgs[i]);
        b->avg_bytes /= o->messages;
    }
    fresh_db(b->db_template, db);
    if (k == RUN_LEDGER) {
        res = run_ledger(o, db, msgs, o->messages, b->lat + r * o->messages, &b->pauses);
        b->commits += res.commits;
    } else {
        res = run_direct(o, db, msgs, k == RUN_DIRECT ? o->direct_txn : o->ledger.batch_max);
        for (size_t i = 0; i < o->messages; i++)
            ledger_msg_free(msgs[i]);
    }
    free(msgs);
    check_db(db, o->messages, nauth, run_name[k]);
    return (double)o->messages / res.secs;
}

/* run_round - the three runs in an order that rotates with r */
static void run_round(struct bench *b, size_t r)
{
    char order[64] = "";

    for (int i = 0; i < 3; i++) {
        int k = (int)((r + (size_t)i) % 3);

        b->rate[k][r] = run_one(b, r, k);
        if (!snprintf_ok(order + strlen(order), sizeof(order) - strlen(order), "%s%s", i ? "," : "",
                         run_name[k]))
            bug("run_round: order does not fit");
    }
    b->ratio_d[r] = b->rate[RUN_LEDGER][r] / b->rate[RUN_DIRECT][r];
    b->ratio_b[r] = b->rate[RUN_LEDGER][r] / b->rate[RUN_BATCH][r];
    printf("%-6zu %-20s %9.0f %9.0f %9.0f %8.2f %8.2f\n", r + 1, order, b->rate[RUN_DIRECT][r],
           b->rate[RUN_BATCH][r], b->rate[RUN_LEDGER][r], b->ratio_d[r], b->ratio_b[r]);
    fflush(stdout);
}

/* report - medians, target, group commit and put latency */
static void report(struct bench *b)
{
    const struct bench_opts *o = &b->o;
    size_t runs = o->rounds, nlat = o->messages * o->rounds;
    double md = bench_median(b->rate[RUN_DIRECT], runs),
           mb = bench_median(b->rate[RUN_BATCH], runs),
           ml = bench_median(b->rate[RUN_LEDGER], runs), mrd = bench_median(b->ratio_d, runs),
           mrb = bench_median(b->ratio_b, runs);
    char b1[32], b2[32], b3[32], b4[32];

    printf("%-6s %-20s %9.0f %9.0f %9.0f %8.2f %8.2f\n\n", "median", "", md, mb, ml, mrd, mrb);
    printf("ledger: %.0f msg/s (target >= 20000: %s)\n", ml, ml >= 20000 ? "ok" : "MISSED");
    printf("ledger / direct (the ceiling, %zu rows per transaction): %.2f; ledger / batch (direct "
           "with the ledger's %zu rows per transaction): %.2f\n",
           o->direct_txn, mrd, o->ledger.batch_max, mrb);
    printf("group commit: %" PRIu64 " transactions for %zu messages in %zu runs, %.0f messages "
           "each (batch_max %zu)\n",
           b->commits, nlat, runs, (double)nlat / (double)b->commits, o->ledger.batch_max);
    qsort(b->lat, nlat, sizeof(*b->lat), cmp_u32);
    printf("ledger_put latency over %zu calls: p50 %s, p99 %s, p99.9 %s, max %s\n", nlat,
           fmt_ns(b1, sizeof(b1), b->lat[nlat / 2]),
           fmt_ns(b2, sizeof(b2), b->lat[nlat * 99 / 100]),
           fmt_ns(b3, sizeof(b3), b->lat[nlat * 999 / 1000]),
           fmt_ns(b4, sizeof(b4), b->lat[nlat - 1]));
    printf("producers paused %" PRIu64 " times while more than %zu records were queued (the "
           "pause is outside ledger_put)\n",
           b->pauses, o->ledger.queue_max / 2);
}

/* What cleanup() removes: every file the run may create, then the directory. */
static char *cleanup_files[16];
static size_t cleanup_nfiles;
static char *cleanup_dir;

/* cleanup - remove the databases; async-signal-safe (paths made in advance) */
static void cleanup(void)
{
    for (size_t i = 0; i < cleanup_nfiles; i++)
        (void)unlink(cleanup_files[i]);
    if (cleanup_dir != NULL)
        (void)rmdir(cleanup_dir);
}

/* on_signal - SIGINT/SIGTERM: clean up and go */
static void on_signal(int sig)
{
    cleanup();
    _exit(128 + sig);
}

/* arm_cleanup - remove b's databases at exit, after die() and on SIGINT/SIGTERM */
static void arm_cleanup(const struct bench *b)
{
    static const char *const suffix[] = {"", "-wal", "-shm", ".spool", ".spool.rejected"};
    const char *const dbs[] = {b->db_template, b->db_direct, b->db_ledger};
    struct sigaction sa;

    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < sizeof(suffix) / sizeof(suffix[0]); k++)
            cleanup_files[cleanup_nfiles++] = xasprintf("%s%s", dbs[i], suffix[k]);
    cleanup_dir = b->dir;
    atexit(cleanup);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    struct bench b = {
        .o = {.messages = 200000, .producers = 4, .rounds = 3, .direct_txn = 10000, .dir = "/tmp"}};
    const struct bench_opts *o = &b.o;

    log_open("ledger_bench", LOG_TO_STDERR);
    ledger_opts_default(&b.o.ledger);
    parse_args(argc, argv, &b.o);
    b.dir = xasprintf("%s/ledger_bench.XXXXXX", o->dir);
    if (mkdtemp(b.dir) == NULL)
        die("mkdtemp %s: %s", b.dir, strerror(errno));
    b.db_template = xasprintf("%s/template.db", b.dir);
    b.db_direct = xasprintf("%s/direct.db", b.dir);
    b.db_ledger = xasprintf("%s/ledger.db", b.dir);
    if (!o->keep)
        arm_cleanup(&b);
    for (int k = 0; k < 3; k++)
        b.rate[k] = xcalloc(o->rounds, sizeof(double));
    b.ratio_d = xcalloc(o->rounds, sizeof(double));
    b.ratio_b = xcalloc(o->rounds, sizeof(double));
    b.lat = xcalloc(o->messages * o->rounds, sizeof(*b.lat));
    make_template(b.db_template);

    printf("ledger_bench: %zu messages per run, 2 recipients each, %zu producer threads, %zu "
           "rounds, %ld CPUs, SQLite %s\n",
           o->messages, o->producers, o->rounds, sysconf(_SC_NPROCESSORS_ONLN),
           sqlite3_libversion());
    printf("  ledger: queue_max %zu, batch_max %zu, flush_ms %u; direct: %zu rows per "
           "transaction%s%s; databases in %s\n",
           o->ledger.queue_max, o->ledger.batch_max, o->ledger.flush_ms, o->direct_txn,
           o->direct_sql ? ", what-if: " : "", o->direct_sql ? o->direct_sql : "", b.dir);
    if (o->ordered_uid)
        printf("  what-if: time-ordered record uids\n");
    printf("%-6s %-20s %9s %9s %9s %8s %8s\n", "", "", "direct", "batch", "ledger", "ledger/",
           "ledger/");
    printf("%-6s %-20s %9s %9s %9s %8s %8s\n", "round", "order", "msg/s", "msg/s", "msg/s",
           "direct", "batch");
    fflush(stdout);
    for (size_t r = 0; r < o->rounds; r++)
        run_round(&b, r);
    report(&b);
    printf("record: %zu bytes of field data on average (13 text fields, 2 recipients; inbound "
           "ones, about 80%%, with spf, dkim and dmarc results)\n",
           b.avg_bytes);

    free(b.lat);
    for (int k = 0; k < 3; k++)
        free(b.rate[k]);
    free(b.ratio_d);
    free(b.ratio_b);
    return 0; /* cleanup() removes the databases at exit */
}
