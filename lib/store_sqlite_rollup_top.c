/*
 * store_sqlite_rollup_top.c - report summary's failing From domains and
 * its opens per day, from the counters of schema/008_rollup.sql where
 * they hold and row by row elsewhere (store_sqlite_rollup.h): whole UTC
 * days from rollup_domain (the rest of the range from the rows, as the
 * summary read it before the counters), whole hours from rollup_opens.
 * Read-only, inside the caller's read transaction; every value is
 * bound, only constant fragments go into SQL text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "rollup_tally.h"
#include "store_sqlite_rollup.h"
#include "util.h"

#define DAY_S 86400

/* Failing domains of whole days: inbound messages and DMARC failures per domain. */
static const char sql_top_days[] = "SELECT dom, n, dmarc_fail FROM rollup_domain"
                                   " WHERE day >= ?1 AND day < ?2 AND n <> 0";
/* The same of [:lo, :hi) row by row: each inbound message's first DMARC row. */
static const char sql_top_rows[] =
    "SELECT dom, count(*), sum(dmarc = 'fail') FROM (SELECT min(a.position),"
    "  coalesce(lower(a.identity), '') AS dom, a.result AS dmarc"
    "  FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id AND a.method = 'dmarc'"
    "  WHERE m.direction = 'inbound' AND m.received_at >= :lo AND m.received_at < :hi"
    "  GROUP BY m.received_at, m.id)"
    " GROUP BY dom";
/* rollup_opens's hours against pixel_opens */
static const struct rollup_src src_opens = {
    "SELECT (SELECT count(*) FROM pixel_opens) = (SELECT coalesce(sum(n), 0) FROM rollup_opens)",

    "SELECT (SELECT min(opened_at) FROM pixel_opens), (SELECT max(opened_at) FROM pixel_opens),"
    " (SELECT min(hour) FROM rollup_opens), (SELECT max(hour) FROM rollup_opens)",
    "SELECT count(*) FROM pixel_opens WHERE opened_at >= ?1 AND opened_at < ?2",
    "SELECT hour, sum(n) FROM rollup_opens WHERE hour >= ?1 AND hour < ?2 GROUP BY hour",
};
static const char sql_opens_hours[] = "SELECT hour, class, n FROM rollup_opens"
                                      " WHERE hour >= ?1 AND hour < ?2 AND n <> 0";
static const char sql_opens_rows[] =
    "SELECT (opened_at + ?3) / 86400, class, count(*) FROM pixel_opens"
    " WHERE opened_at >= ?1 AND opened_at < ?2 GROUP BY 1, 2";

/* What the walks of a range fill in. */
struct top_walk {
    struct sqlite_store *ss;
    const struct store_summary_filter *f;
    struct tally t; /* by domain: v[0] messages, v[1] DMARC failures */
    void (*fn)(int64_t day, const char *cls, int64_t n, void *arg);
    void *arg;
};

/* add_top - each row of sql (a domain's messages and failures; ?1/:lo, ?2/:hi bound) into w */
static int add_top(struct top_walk *w, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->ss->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, a);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, b);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        struct tally_entry *e = tally_at(&w->t, &k, 1);

        rc = SQLITE_OK;
        e->v[0] += sqlite3_column_int64(st, 1);
        e->v[1] += sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* top_days - the counters of UTC days [d0, d1) */
static int top_days(int64_t d0, int64_t d1, void *arg)
{
    return add_top(arg, sql_top_days, d0, d1);
}

/* top_rows - [lo, hi) row by row */
static int top_rows(int64_t lo, int64_t hi, void *arg)
{
    return add_top(arg, sql_top_rows, lo, hi);
}

/* by_failures - most DMARC failures first, then most messages, then the domain */
static int by_failures(const void *a, const void *b)
{
    const struct tally_entry *x = *(const struct tally_entry *const *)a;
    const struct tally_entry *y = *(const struct tally_entry *const *)b;

    if (x->v[1] != y->v[1])
        return x->v[1] > y->v[1] ? -1 : 1;
    if (x->v[0] != y->v[0])
        return x->v[0] > y->v[0] ? -1 : 1;
    return strcmp(x->k[0], y->k[0]);
}

/* sqlite_rollup_top - the failing From domains of p's range into out->top */
int sqlite_rollup_top(struct sqlite_store *ss, const struct store_summary_filter *f,
                      const struct rollup_plan *p, struct store_summary *out)
{
    struct top_walk w = {.ss = ss, .f = f};
    struct tally_entry **v;
    size_t n = 0;
    int rc;

    if (f->top == 0)
        return SQLITE_OK;
    out->top = xcalloc(f->top, sizeof(*out->top));
    rc = rollup_plan_days(p, top_days, top_rows, &w);
    v = xcalloc(w.t.n + 1, sizeof(*v));
    for (size_t i = 0; i < w.t.n; i++)
        if (w.t.e[i].v[1] > 0)
            v[n++] = &w.t.e[i];
    qsort(v, n, sizeof(*v), by_failures);
    for (size_t i = 0; rc == SQLITE_OK && i < n && out->ntop < f->top; i++) {
        struct store_summary_domain *d = &out->top[out->ntop++];

        d->domain = xstrdup(v[i]->k[0]);
        d->messages = v[i]->v[0];
        d->dmarc_fail = v[i]->v[1];
    }
    free(v);
    tally_free(&w.t);
    return rc;
}

/* opens_hours - the counters of whole hours [h0, h1) */
static int opens_hours(int64_t h0, int64_t h1, void *arg)
{
    struct top_walk *w = arg;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->ss->db, sql_opens_hours, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, h0);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, h1);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t h = sqlite3_column_int64(st, 0);

        rc = SQLITE_OK;
        w->fn((h * ROLLUP_HOUR_S + w->f->utc_offset) / DAY_S, /* as SQLite: toward zero */
              (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2), w->arg);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* opens_rows - [lo, hi) row by row */
static int opens_rows(int64_t lo, int64_t hi, void *arg)
{
    struct top_walk *w = arg;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->ss->db, sql_opens_rows, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, lo);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, hi);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, w->f->utc_offset);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        w->fn(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
              sqlite3_column_int64(st, 2), w->arg);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* sqlite_rollup_opens - the opens of f's range per day and class */
int sqlite_rollup_opens(struct sqlite_store *ss, const struct store_summary_filter *f,
                        void (*fn)(int64_t day, const char *cls, int64_t n, void *arg), void *arg)
{
    struct top_walk w = {.ss = ss, .f = f, .fn = fn, .arg = arg};
    struct rollup_plan p;
    int rc = rollup_plan_make(ss, &src_opens, f->since, f->until ? f->until : INT64_MAX,
                              f->utc_offset, &p);

    if (rc == SQLITE_OK)
        rc = rollup_plan_hours(&p, opens_hours, opens_rows, &w);
    rollup_plan_free(&p);
    return rc;
}
