/*
 * store_sqlite_rollup_plan.c - which parts of a report's range the
 * counters of schema/008_rollup.sql can answer (store_sqlite_rollup.h):
 * the whole UTC hours of the range whose counters add up to the rows of
 * that hour (the writer stored every row of it and nothing was removed
 * around the store), and the whole UTC days all of whose hours do; the
 * rest is read row by row. Read-only, inside the caller's read
 * transaction; every value is bound.
 *
 * When the counters' total equals the table's rows (nothing written or
 * removed around the store), every hour holds; otherwise each hour's
 * rows are counted in the time index (the whole ledger's 720 hours of
 * 1,000,000 messages: 60-70 ms).
 */
#include <stdint.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "store_sqlite_rollup.h"
#include "util.h"

#define DAY_S 86400
/*
 * The most hours a plan checks one by one (about 114 years: 10 MB and,
 * with counters that do not add up, as many seeks). A range whose rows
 * spread wider (a time in milliseconds or a negative one stored as
 * seconds) is read row by row, as before the counters.
 */
#define PLAN_MAX_HOURS 1000000

/* rollup_floor_div - a / b rounded down (b > 0) */
int64_t rollup_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0); /* no negation: INT64_MIN too */
}

/* straddles - whether hour h holds the start of a day at offset off */
static bool straddles(int64_t h, int64_t off)
{
    int64_t r = (h * ROLLUP_HOUR_S + off) % DAY_S;

    r = r < 0 ? r + DAY_S : r;
    return r > DAY_S - ROLLUP_HOUR_S;
}

/* extent - the first and last hour holding rows or counters; false when none does */
static int extent(struct sqlite_store *ss, const struct rollup_src *src, struct rollup_plan *p,
                  bool *any)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, src->extent, -1, &st, NULL);

    *any = false;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool rows = sqlite3_column_type(st, 0) != SQLITE_NULL;
        bool hours = sqlite3_column_type(st, 2) != SQLITE_NULL;

        p->dmin = rows ? rollup_floor_div(sqlite3_column_int64(st, 0), ROLLUP_HOUR_S) : INT64_MAX;
        p->dmax = rows ? rollup_floor_div(sqlite3_column_int64(st, 1), ROLLUP_HOUR_S) : INT64_MIN;
        if (hours) {
            int64_t a = sqlite3_column_int64(st, 2), b = sqlite3_column_int64(st, 3);

            p->dmin = a < p->dmin ? a : p->dmin;
            p->dmax = b > p->dmax ? b : p->dmax;
        }
        *any = rows || hours;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * all_kept - whether the counters' total equals the table's rows: then
 * no row was written or removed around the store (short of a hand-made
 * DELETE and INSERT of exactly as many rows), and every hour holds
 * without counting its rows (a count of the whole table reads its pages'
 * cell counts: 1,000,000 rows in about 10 ms, against 60-70 ms hour by
 * hour)
 */
static int all_kept(struct sqlite_store *ss, const struct rollup_src *src, bool *kept)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, src->totals, -1, &st, NULL);

    *kept = false;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *kept = sqlite3_column_int(st, 0) != 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* check_hours - p->trusted[i]: hour h0 + i's counters hold its rows; whole: and in one day */
static int check_hours(struct sqlite_store *ss, const struct rollup_src *src, int64_t off,
                       struct rollup_plan *p)
{
    size_t nh = (size_t)(p->h1 - p->h0);
    int64_t *sum = xcalloc(nh, sizeof(*sum));
    sqlite3_stmt *st = NULL;
    bool kept = false;
    int rc = sqlite3_prepare_v2(ss->db, src->hour_sums, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, p->h0);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, p->h1);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sum[sqlite3_column_int64(st, 0) - p->h0] = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_DONE)
        rc = all_kept(ss, src, &kept);
    for (size_t i = 0; i < nh && rc == SQLITE_OK && kept; i++) {
        p->rows += sum[i];
        p->trusted[i] = true;
        p->whole[i] = off % ROLLUP_HOUR_S == 0 || !straddles(p->h0 + (int64_t)i, off);
    }
    if (rc == SQLITE_OK && !kept)
        rc = sqlite3_prepare_v2(ss->db, src->hour_rows, -1, &st, NULL);
    for (size_t i = 0; i < nh && rc == SQLITE_OK && !kept; i++) {
        int64_t h = p->h0 + (int64_t)i;

        rc = sqlite3_bind_int64(st, 1, h * ROLLUP_HOUR_S);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 2, (h + 1) * ROLLUP_HOUR_S);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            p->rows += sqlite3_column_int64(st, 0);
            p->trusted[i] = sqlite3_column_int64(st, 0) == sum[i];
            p->whole[i] = p->trusted[i] && (off % ROLLUP_HOUR_S == 0 || !straddles(h, off));
            rc = SQLITE_OK;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    free(sum);
    return rc;
}

/* rollup_plan_make - the plan of [since, until) for the counters src, days at offset off */
int rollup_plan_make(struct sqlite_store *ss, const struct rollup_src *src, int64_t since,
                     int64_t until, int64_t off, struct rollup_plan *p)
{
    bool any = false;
    int rc;

    *p = (struct rollup_plan){.lo = since, .hi = until};
    rc = extent(ss, src, p, &any);
    if (rc != SQLITE_OK || !any) {
        p->lo = p->hi = 0;
        return rc;
    }
    /* Only the hours that hold anything: the rest of the range is empty. */
    if (p->dmin > INT64_MIN / ROLLUP_HOUR_S + 1 && p->lo < p->dmin * ROLLUP_HOUR_S)
        p->lo = p->dmin * ROLLUP_HOUR_S;
    if (p->dmax < INT64_MAX / ROLLUP_HOUR_S - 1 && p->hi > (p->dmax + 1) * ROLLUP_HOUR_S)
        p->hi = (p->dmax + 1) * ROLLUP_HOUR_S;
    if (p->lo >= p->hi) {
        p->lo = p->hi = 0;
        return SQLITE_OK;
    }
    p->h0 = rollup_floor_div(p->lo, ROLLUP_HOUR_S) + (p->lo % ROLLUP_HOUR_S != 0);
    p->h1 = rollup_floor_div(p->hi, ROLLUP_HOUR_S);
    if (p->h0 >= p->h1)
        return SQLITE_OK;
    if (p->h1 - p->h0 > PLAN_MAX_HOURS) { /* no counted hour: all row by row */
        p->h0 = p->h1 = 0;
        return SQLITE_OK;
    }
    p->trusted = xcalloc((size_t)(p->h1 - p->h0), sizeof(*p->trusted));
    p->whole = xcalloc((size_t)(p->h1 - p->h0), sizeof(*p->whole));
    return check_hours(ss, src, off, p);
}

/* rollup_plan_free - free what rollup_plan_make() made */
void rollup_plan_free(struct rollup_plan *p)
{
    free(p->trusted);
    free(p->whole);
    p->trusted = p->whole = NULL;
}

/* day_counted - whether every hour of UTC day d is in p's counted hours or holds nothing */
static bool day_counted(const struct rollup_plan *p, int64_t d)
{
    for (int64_t x = d * 24; x < d * 24 + 24; x++) {
        if (x < p->dmin || x > p->dmax)
            continue;
        if (x < p->h0 || x >= p->h1 || !p->trusted[x - p->h0])
            return false;
    }
    return true;
}

/* rollup_plan_days - [lo, hi) as runs of counted UTC days and parts to read row by row */
int rollup_plan_days(const struct rollup_plan *p, int (*days)(int64_t d0, int64_t d1, void *arg),
                     int (*rows)(int64_t lo, int64_t hi, void *arg), void *arg)
{
    int64_t d0, d1;
    int rc = SQLITE_OK;

    if (p->lo >= p->hi)
        return SQLITE_OK;
    if (p->h0 >= p->h1) /* no counted hour (the range may span more days than a walk should) */
        return rows(p->lo, p->hi, arg);
    d0 = rollup_floor_div(p->lo, DAY_S);
    d1 = rollup_floor_div(p->hi - 1, DAY_S) + 1;
    for (int64_t a = d0, b; rc == SQLITE_OK && a < d1; a = b) {
        bool w = day_counted(p, a);

        for (b = a + 1; b < d1 && day_counted(p, b) == w; b++)
            ;
        if (w) {
            rc = days(a, b, arg);
        } else {
            int64_t lo = a * DAY_S > p->lo ? a * DAY_S : p->lo;
            int64_t hi = b * DAY_S < p->hi ? b * DAY_S : p->hi;

            rc = rows(lo, hi, arg);
        }
    }
    return rc;
}

/* rollup_plan_hours - [lo, hi) as runs of whole hours and parts to read row by row */
int rollup_plan_hours(const struct rollup_plan *p, int (*hours)(int64_t h0, int64_t h1, void *arg),
                      int (*rows)(int64_t lo, int64_t hi, void *arg), void *arg)
{
    int rc = SQLITE_OK;

    if (p->lo >= p->hi)
        return SQLITE_OK;
    if (p->h0 >= p->h1)
        return rows(p->lo, p->hi, arg);
    if (p->lo < p->h0 * ROLLUP_HOUR_S)
        rc = rows(p->lo, p->h0 * ROLLUP_HOUR_S, arg);
    for (int64_t a = p->h0, b; rc == SQLITE_OK && a < p->h1; a = b) {
        bool w = p->whole[a - p->h0];

        for (b = a + 1; b < p->h1 && p->whole[b - p->h0] == w; b++)
            ;
        rc = w ? hours(a, b, arg) : rows(a * ROLLUP_HOUR_S, b * ROLLUP_HOUR_S, arg);
    }
    if (rc == SQLITE_OK && p->h1 * ROLLUP_HOUR_S < p->hi)
        rc = rows(p->h1 * ROLLUP_HOUR_S, p->hi, arg);
    return rc;
}
