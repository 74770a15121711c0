/*
 * store_summary.c - the front door of report summary and report opens
 * (store_summary.h): checks the arguments, has the backend read the
 * rows (store_sqlite_summary.c), and makes what every backend would
 * make alike: the groups of tracked rows with their rates' counts and
 * the median and p90 time to the first human open, and the histogram of
 * those times.
 *
 * Holds no SQL and must never grow any, like store.c. Memory is linear
 * in the tracked rows of the range (one time per row with a human open).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_backend.h"
#include "util.h"

static const char *const mode_names[2] = {"milter", "pipe"};
static const char *const action_names[STORE_ACTIONS] = {
    [STORE_ACT_ACCEPT] = "accept",         [STORE_ACT_REJECT] = "reject",
    [STORE_ACT_QUARANTINE] = "quarantine", [STORE_ACT_TEMPFAIL] = "tempfail",
    [STORE_ACT_DISCARD] = "discard",       [STORE_ACT_OTHER] = "other",
};
static const char *const class_names[STORE_OPEN_CLASSES] = {
    [STORE_OPEN_HUMAN] = "human",
    [STORE_OPEN_PROXY] = "proxy",
    [STORE_OPEN_PREFETCH] = "prefetch",
    [STORE_OPEN_SCANNER] = "scanner",
};
/* Upper bounds (exclusive) of the time-to-first-human-open buckets, and their names. */
static const int64_t ttfo_limits[STORE_TTFO_BUCKETS] = {
    300, 1800, 7200, 21600, 86400, 3 * 86400, 7 * 86400, INT64_MAX,
};
static const char *const ttfo_labels[STORE_TTFO_BUCKETS] = {
    "< 5 min", "5-30 min", "30 min-2 h", "2-6 h", "6-24 h", "1-3 d", "3-7 d", ">= 7 d",
};

/* store_summary_mode_name - "milter" (0) or "pipe" (1) */
const char *store_summary_mode_name(size_t i)
{
    if (i >= 2)
        bug("store_summary_mode_name: %zu", i);
    return mode_names[i];
}

/* store_action_name - the action's word */
const char *store_action_name(enum store_action a)
{
    if ((unsigned)a >= STORE_ACTIONS)
        bug("store_action_name: %d", (int)a);
    return action_names[a];
}

/* store_open_class_name - the class's word */
const char *store_open_class_name(enum store_open_class c)
{
    if ((unsigned)c >= STORE_OPEN_CLASSES)
        bug("store_open_class_name: %d", (int)c);
    return class_names[c];
}

/* store_ttfo_limit - bucket i holds times below this */
int64_t store_ttfo_limit(size_t i)
{
    if (i >= STORE_TTFO_BUCKETS)
        bug("store_ttfo_limit: %zu", i);
    return ttfo_limits[i];
}

/* store_ttfo_label - bucket i in words */
const char *store_ttfo_label(size_t i)
{
    if (i >= STORE_TTFO_BUCKETS)
        bug("store_ttfo_label: %zu", i);
    return ttfo_labels[i];
}

/* store_rate - num / den in percent, -1 without a denominator */
double store_rate(int64_t num, int64_t den)
{
    return den > 0 ? 100.0 * (double)num / (double)den : -1.0;
}

/* One group while the rows come: its numbers, its own copies of the strings, its times. */
struct group {
    struct store_opens_group g;
    char *mode, *key, *sender, *subject;
    int64_t *t; /* seconds to the first human open, one per row that has one */
    size_t nt, capt;
};

struct groups {
    struct group *v;
    size_t n, cap;
    int64_t ttfo[STORE_TTFO_BUCKETS];
};

/* add_item - one tracked row into the last group, or a new one if it belongs to none */
static int add_item(const struct store_opens_item *it, void *arg)
{
    struct groups *gs = arg;
    struct group *g = gs->n ? &gs->v[gs->n - 1] : NULL;

    if (g == NULL || strcmp(g->mode, it->mode) != 0 || g->g.day != it->day ||
        strcmp(g->key, it->key) != 0) {
        if (gs->n == gs->cap) {
            gs->cap = gs->cap ? 2 * gs->cap : 8;
            gs->v = xrealloc(gs->v, gs->cap * sizeof(*gs->v));
        }
        g = memset(&gs->v[gs->n++], 0, sizeof(*g));
        g->mode = xstrdup(it->mode);
        g->key = xstrdup(it->key);
        g->sender = it->sender ? xstrdup(it->sender) : NULL;
        g->subject = it->subject ? xstrdup(it->subject) : NULL;
        g->g.day = it->day;
        g->g.first_at = it->created_at;
    }
    g->g.first_at = it->created_at < g->g.first_at ? it->created_at : g->g.first_at;
    g->g.tracked++;
    if (!it->pixel)
        return 0;
    g->g.with_pixel++;
    if (it->opened)
        g->g.opened++;
    if (it->first_human != 0) {
        int64_t dt = it->first_human > it->created_at ? it->first_human - it->created_at : 0;
        size_t b = 0;

        g->g.human++;
        if (g->nt == g->capt) {
            g->capt = g->capt ? 2 * g->capt : 4;
            g->t = xrealloc(g->t, g->capt * sizeof(*g->t));
        }
        g->t[g->nt++] = dt;
        while (dt >= ttfo_limits[b])
            b++;
        gs->ttfo[b]++;
    } else if (it->opened) {
        g->g.machine_only++;
    }
    return 0;
}

/* cmp_i64 - qsort order of int64_t */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* rank - the nearest-rank p-th percentile (p in percent) of sorted t[0..n), n > 0 */
static int64_t rank(const int64_t *t, size_t n, unsigned p)
{
    size_t r = (n * p + 99) / 100; /* ceil(p * n / 100), 1-based */

    return t[r ? r - 1 : 0];
}

/* finish - each group's strings pointed at and its median and p90 */
static void finish(struct groups *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        struct group *g = &gs->v[i];

        g->g.mode = g->mode;
        g->g.key = g->key;
        g->g.sender = g->sender;
        g->g.subject = g->subject;
        g->g.median_s = g->g.p90_s = -1;
        if (g->nt == 0)
            continue;
        qsort(g->t, g->nt, sizeof(*g->t), cmp_i64);
        g->g.median_s = rank(g->t, g->nt, 50);
        g->g.p90_s = rank(g->t, g->nt, 90);
    }
}

/* groups_free - free the groups */
static void groups_free(struct groups *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        free(gs->v[i].mode);
        free(gs->v[i].key);
        free(gs->v[i].sender);
        free(gs->v[i].subject);
        free(gs->v[i].t);
    }
    free(gs->v);
}

/* by_time - day, then first row, then key, then mode */
static int by_time(const void *a, const void *b)
{
    const struct store_opens_group *x = &((const struct group *)a)->g;
    const struct store_opens_group *y = &((const struct group *)b)->g;
    int c;

    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    if (x->first_at != y->first_at)
        return x->first_at < y->first_at ? -1 : 1;
    if ((c = strcmp(x->key, y->key)) != 0)
        return c;
    return strcmp(x->mode, y->mode);
}

/* by_size - the most tracked first, then key, then mode */
static int by_size(const void *a, const void *b)
{
    const struct store_opens_group *x = &((const struct group *)a)->g;
    const struct store_opens_group *y = &((const struct group *)b)->g;
    int c;

    if (x->tracked != y->tracked)
        return x->tracked > y->tracked ? -1 : 1;
    if ((c = strcmp(x->key, y->key)) != 0)
        return c;
    return strcmp(x->mode, y->mode);
}

/* check_opens - refuse a filter a backend cannot serve */
static bool check_opens(struct store *s, const struct store_opens_filter *f)
{
    if ((unsigned)f->by > STORE_BY_SUBJECT) {
        store_set_error(s, "opens report: no grouping %d", (int)f->by);
        return false;
    }
    if (f->since < 0 || f->until < 0 || (f->until && f->until <= f->since)) {
        store_set_error(s, "opens report: the range %lld..%lld is empty", (long long)f->since,
                        (long long)f->until);
        return false;
    }
    return true;
}

/* store_report_opens - f's tracked rows in groups, one call of fn each */
enum store_status store_report_opens(struct store *s, const struct store_opens_filter *f,
                                     int (*fn)(const struct store_opens_group *g, void *arg),
                                     void *arg)
{
    struct groups gs;
    enum store_status st;

    memset(&gs, 0, sizeof(gs));
    if (!check_opens(s, f))
        return STORE_ERROR;
    st = s->ops->opens_walk(s, f, add_item, &gs);
    if (st == STORE_OK) {
        finish(&gs);
        if (f->by == STORE_BY_DAY || f->by == STORE_BY_MESSAGE)
            qsort(gs.v, gs.n, sizeof(*gs.v), by_time);
        else if (f->by != STORE_BY_NONE)
            qsort(gs.v, gs.n, sizeof(*gs.v), by_size);
        for (size_t i = 0; i < gs.n; i++)
            if (fn(&gs.v[i].g, arg))
                break;
    }
    groups_free(&gs);
    return st;
}

/* store_summary - the numbers of f's range into *out */
enum store_status store_summary(struct store *s, const struct store_summary_filter *f,
                                struct store_summary *out)
{
    struct groups gs;
    enum store_status st;

    memset(out, 0, sizeof(*out));
    memset(&gs, 0, sizeof(gs));
    for (size_t i = 0; i < 2; i++) {
        out->track[i].mode = mode_names[i];
        out->track[i].key = "";
        out->track[i].median_s = out->track[i].p90_s = -1;
    }
    if (f->top > STORE_SUMMARY_TOP_MAX || f->since < 0 || f->until < 0 ||
        (f->until && f->until <= f->since) || f->utc_offset < -86400 || f->utc_offset > 86400) {
        store_set_error(s, "summary: range %lld..%lld, offset %lld, top %u", (long long)f->since,
                        (long long)f->until, (long long)f->utc_offset, f->top);
        return STORE_ERROR;
    }
    out->since = f->since;
    out->until = f->until;
    out->utc_offset = f->utc_offset;
    st = s->ops->summary(s, f, out, add_item, &gs);
    if (st == STORE_OK) {
        finish(&gs);
        for (size_t i = 0; i < gs.n; i++) {
            size_t m = strcmp(gs.v[i].mode, mode_names[1]) == 0;

            out->track[m] = gs.v[i].g;
            out->track[m].mode = mode_names[m];
            out->track[m].key = "";
            out->track[m].sender = out->track[m].subject = NULL;
        }
        memcpy(out->ttfo, gs.ttfo, sizeof(out->ttfo));
    }
    groups_free(&gs);
    if (st != STORE_OK)
        store_summary_free(out);
    return st;
}

/* store_summary_free - free what store_summary() filled in */
void store_summary_free(struct store_summary *sum)
{
    for (size_t i = 0; i < sum->ntop; i++)
        free(sum->top[i].domain);
    free(sum->top);
    free(sum->days);
    sum->top = NULL;
    sum->days = NULL;
    sum->ntop = sum->ndays = 0;
}
