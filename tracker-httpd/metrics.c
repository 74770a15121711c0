/*
 * metrics.c - the tracker's counters, /metrics in the Prometheus text
 * format (version 0.0.4) and the /healthz verdict.
 *
 * Counters are process-wide atomics (relaxed: each is a sum on its own),
 * bumped by the servers' threads; a rendering reads them once each. No
 * label ever holds a token, an address or an agent: only the fixed names
 * of methods, outcomes and classes below.
 */
#include <inttypes.h>
#include <stdatomic.h>

#include "ratecap.h"
#include "tracker.h"

static const char *const method_names[METHOD_N] = {"GET", "HEAD", "other"};
static const char *const outcome_names[OUTCOME_N] = {
    "open",      "blank",          "not_found",          "healthz",
    "metrics",   "denied",         "method_not_allowed", "bad_request",
    "bad_token", "open_unverified"};

/* Upper bounds of the duration buckets in nanoseconds (then +Inf): sub-millisecond first. */
static const uint64_t bucket_ns[] = {25000,   50000,   100000,   250000,   500000,    1000000,
                                     2500000, 5000000, 10000000, 50000000, 250000000, 1000000000};
#define NBUCKETS (sizeof(bucket_ns) / sizeof(bucket_ns[0]))

static _Atomic uint64_t requests[METHOD_N][OUTCOME_N];
static _Atomic uint64_t opens[OPEN_NCLASSES];
static _Atomic uint64_t buckets[NBUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
static _Atomic uint64_t duration_sum_ns;

/* metrics_request - count one request and its duration */
void metrics_request(enum tracker_method m, enum tracker_outcome o, uint64_t ns)
{
    size_t b = 0;

    while (b < NBUCKETS && ns > bucket_ns[b])
        b++;
    atomic_fetch_add_explicit(&requests[m][o], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&duration_sum_ns, ns, memory_order_relaxed);
}

/* metrics_open - count one open */
void metrics_open(enum open_class c)
{
    atomic_fetch_add_explicit(&opens[c], 1, memory_order_relaxed);
}

/* load - a counter's value */
static uint64_t load(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* family - HELP and TYPE lines of one metric */
static void family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* metrics_render - every counter, then the ledger writer's */
void metrics_render(struct ledger *l, struct buf *out)
{
    struct ledger_stats st;
    uint64_t cum = 0;

    family(out, "postmeter_tracker_requests_total", "counter",
           "HTTP requests answered, by method and outcome.");
    for (size_t m = 0; m < METHOD_N; m++)
        for (size_t o = 0; o < OUTCOME_N; o++)
            buf_printf(
                out, "postmeter_tracker_requests_total{method=\"%s\",outcome=\"%s\"} %" PRIu64 "\n",
                method_names[m], outcome_names[o], load(&requests[m][o]));
    family(out, "postmeter_opens_total", "counter",
           "Opens handed to the ledger writer, by class (an unknown token is discarded "
           "when written).");
    for (size_t c = 0; c < OPEN_NCLASSES; c++)
        buf_printf(out, "postmeter_opens_total{class=\"%s\"} %" PRIu64 "\n",
                   classify_class_name((enum open_class)c), load(&opens[c]));
    family(out, "postmeter_tracker_request_duration_seconds", "histogram",
           "Time from a request's header to its queued answer.");
    for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += load(&buckets[b]);
        if (b < NBUCKETS)
            buf_printf(out,
                       "postmeter_tracker_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                       (double)bucket_ns[b] / 1e9, cum);
        else
            buf_printf(
                out, "postmeter_tracker_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                cum);
    }
    buf_printf(out, "postmeter_tracker_request_duration_seconds_sum %.9f\n",
               (double)load(&duration_sum_ns) / 1e9);
    buf_printf(out, "postmeter_tracker_request_duration_seconds_count %" PRIu64 "\n", cum);

    ledger_get_stats(l, &st);
    family(out, "postmeter_tracker_queue_depth", "gauge",
           "Opens waiting in memory for the writer.");
    buf_printf(out, "postmeter_tracker_queue_depth %zu\n", st.queued);
    family(out, "postmeter_tracker_spool_bytes", "gauge",
           "Bytes of the tracker's spool file (opens waiting for the database).");
    buf_printf(out, "postmeter_tracker_spool_bytes %" PRIu64 "\n", st.spool_bytes);
    family(out, "postmeter_tracker_rows_written_total", "counter",
           "Opens committed to the database (directly or from the spool).");
    buf_printf(out, "postmeter_tracker_rows_written_total %" PRIu64 "\n", st.written + st.replayed);
    family(out, "postmeter_tracker_rows_dropped_total", "counter",
           "Opens lost because the queue and the spool were full.");
    buf_printf(out, "postmeter_tracker_rows_dropped_total %" PRIu64 "\n", st.dropped);
    family(out, "postmeter_tracker_opens_discarded_total", "counter",
           "Opens not stored because their token is not in tracked_messages.");
    buf_printf(out, "postmeter_tracker_opens_discarded_total %" PRIu64 "\n", st.discarded);
    family(out, "postmeter_tracker_database_up", "gauge",
           "1 if the last attempt at the database succeeded.");
    buf_printf(out, "postmeter_tracker_database_up %d\n", st.db_ok ? 1 : 0);
    family(out, "postmeter_tracker_token_key_loaded", "gauge",
           "1 once the token key is read: forged tokens are answered and not queued.");
    buf_printf(out, "postmeter_tracker_token_key_loaded %d\n", tracker_key() != NULL ? 1 : 0);
    tracker_cap_render(out);
}

/* metrics_health - the writer keeps up: the database answers, the queue is below its mark */
bool metrics_health(struct ledger *l, const struct config *c, struct buf *why)
{
    struct ledger_stats st;
    size_t mark = (size_t)c->ledger_queue_max / 4 * 3;

    ledger_get_stats(l, &st);
    if (!st.db_ok) {
        buf_printf(why, "database unavailable: %zu open(s) in memory, %" PRIu64 " spool bytes\n",
                   st.queued, st.spool_bytes);
        return false;
    }
    if (st.queued >= mark) {
        buf_printf(why, "writer behind: %zu open(s) in memory (mark %zu)\n", st.queued, mark);
        return false;
    }
    return true;
}
