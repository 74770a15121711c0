/*
 * store_sqlite_rollup_auth.c - the SQLite backend's report auth: per
 * From domain (as DMARC saw it) counts of inbound mail, its most frequent
 * failure reasons and the DKIM selectors seen, from the counters of
 * schema/008_rollup.sql for whole UTC days whose hours all hold
 * (rollup_domain, rollup_reason, rollup_selector), row by row for the
 * rest of the range; both are added up per group here (rollup_tally.h)
 * and ordered as the statements ordered them before the counters.
 * Read-only, one read transaction; every value is a bound parameter,
 * only constant fragments are ever added to SQL text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "rollup_tally.h"
#include "store_sqlite_rollup.h"
#include "util.h"

/* Inbound messages in the time range with their header.from domain (as DMARC saw it). */
static const char sql_auth_msgs[] =
    "SELECT m.id AS id, m.action AS action,"
    "  coalesce((SELECT lower(identity) FROM message_auth a WHERE a.message_id = m.id"
    "   AND a.method = 'dmarc' ORDER BY position LIMIT 1), '') AS dom"
    "  FROM messages m WHERE m.direction = 'inbound'";

/*
 * One row per inbound message with its results, then counted per domain.
 * The results come from one walk of the message's auth rows (a join
 * through message_auth's primary key, grouped by message) instead of a
 * subquery per result: "the first result of a method" is the one of the
 * lowest position, and min(position * 4 + code) keeps the positions' order
 * and carries the result's code (0 pass, 1 fail or softfail, 2 other) in
 * its remainder. The domain is the first dmarc row's, found by its
 * primary key (message_id, position).
 */
static const char sql_report_auth_head[] =
    "SELECT dom, count(*), sum(spf IS 0), sum(spf IS 1), sum(coalesce(dkim_pass, 0)),"
    " sum(coalesce(dkim_any AND NOT dkim_pass, 0)), sum(dmarc IS 0), sum(dmarc IS 1),"
    " sum(action = 'reject'), sum(action = 'quarantine')"
    " FROM (SELECT x.* FROM (SELECT coalesce((SELECT lower(identity) FROM message_auth d"
    "   WHERE d.message_id = y.id AND d.position = y.dpos), '') AS dom, y.*"
    "  FROM (SELECT m.id AS id, m.action AS action,"
    "   min(CASE WHEN a.method = 'dmarc' THEN a.position END) AS dpos,"
    "   (min(CASE WHEN a.method = 'spf' THEN a.position * 4 + CASE a.result WHEN 'pass' THEN 0"
    "    WHEN 'fail' THEN 1 WHEN 'softfail' THEN 1 ELSE 2 END END) % 4 + 4) % 4 AS spf,"
    "   max(a.method = 'dkim' AND a.result = 'pass') AS dkim_pass,"
    "   max(a.method = 'dkim') AS dkim_any,"
    "   (min(CASE WHEN a.method = 'dmarc' THEN a.position * 4 + CASE a.result WHEN 'pass' THEN 0"
    "    WHEN 'fail' THEN 1 ELSE 2 END END) % 4 + 4) % 4 AS dmarc"
    "   FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id"
    "   WHERE m.direction = 'inbound'";

/*
 * With --domain, in each of the three statements: only messages with a
 * dmarc row of the domain (or a subdomain) can be counted, so the others
 * are left out before their results are gathered (one seek each); the
 * filter on x.dom decides.
 */
static const char sql_report_auth_dom[] =
    " AND (:dom = '' OR EXISTS (SELECT 1 FROM message_auth d WHERE d.message_id = m.id"
    "  AND d.method = 'dmarc' AND (lower(d.identity) = lower(:dom)"
    "  OR substr(lower(d.identity), -length(:dom) - 1) = '.' || lower(:dom))))";

static const char sql_report_auth_group[] = " GROUP BY m.received_at, m.id) y) x WHERE (";

/* Failing results per domain and method, result, reason: most frequent first. */
static const char sql_auth_reasons_head[] =
    "SELECT x.dom, a.method, a.result, coalesce(a.reason, ''), count(*) AS n"
    " FROM message_auth a JOIN (";

static const char sql_auth_reasons_tail[] =
    " AND a.method IN ('spf', 'dkim', 'dmarc')"
    " AND a.result IN ('fail', 'softfail', 'temperror', 'permerror', 'policy')"
    " GROUP BY 1, 2, 3, 4";

/* DKIM signatures per domain and signing domain, selector: most frequent first. */
static const char sql_auth_selectors_head[] =
    "SELECT x.dom, lower(a.identity), lower(a.selector), '', count(*) AS n"
    " FROM message_auth a JOIN (";

static const char sql_auth_selectors_tail[] = " AND a.method = 'dkim' AND a.selector IS NOT NULL"
                                              " GROUP BY 1, 2, 3";

/* A counter row's domain against --domain: the domain or a subdomain of it. */
#define DOM_FILTER                                                                                 \
    " AND (:dom IS NULL OR dom = lower(:dom) OR substr(dom, -length(:dom) - 1) = '.' || "          \
    "lower(:dom))"
static const char sql_days_domain[] =
    "SELECT dom, n, spf_pass, spf_fail, dkim_pass, dkim_fail, dmarc_pass, dmarc_fail, rejected,"
    " quarantined FROM rollup_domain WHERE day >= :d0 AND day < :d1 AND n <> 0" DOM_FILTER;
static const char sql_days_reason[] = "SELECT dom, method, result, reason, n FROM rollup_reason"
                                      " WHERE day >= :d0 AND day < :d1 AND n <> 0" DOM_FILTER;
static const char sql_days_selector[] = "SELECT dom, sdom, selector, '', n FROM rollup_selector"
                                        " WHERE day >= :d0 AND day < :d1 AND n <> 0" DOM_FILTER;

/* The groups of the report while the parts of its range come in. */
struct auth_walk {
    struct sqlite_store *ss;
    const struct store_auth_filter *f;
    struct tally doms; /* dom: messages, spf pass, fail, dkim pass, fail, dmarc pass, fail, ... */
    struct tally reasons; /* dom, method, result, reason: results */
    struct tally sels;    /* dom, signing domain, selector: signatures */
};

/* auth_range - the part [lo, hi) as conditions on messages m, into sql */
static void auth_range(struct buf *sql)
{
    buf_puts(sql, " AND m.received_at >= :lo AND m.received_at < :hi");
}

/* auth_dom - the "dom" filter of f on subquery x, closing the parenthesis tail opened */
static void auth_dom(struct buf *sql, const struct store_auth_filter *f)
{
    if (f->domain)
        buf_puts(sql, " x.dom = lower(:dom) OR substr(x.dom, -length(:dom) - 1) ="
                      " '.' || lower(:dom))");
    else
        buf_puts(sql, " 1)");
}

/* auth_source - the inbound messages of a part, as subquery x, then tail and the "dom" filter */
static void auth_source(struct buf *sql, const struct store_auth_filter *f, const char *tail)
{
    buf_puts(sql, sql_auth_msgs);
    auth_range(sql);
    if (f->domain)
        buf_puts(sql, sql_report_auth_dom);
    buf_puts(sql, ") x");
    buf_puts(sql, tail);
    auth_dom(sql, f);
}

/* add_all - every row of sql (bound: :lo :hi or :d0 :d1 = a, b; :dom) into t: nk keys, values */
static int add_all(struct auth_walk *w, const char *sql, int64_t a, int64_t b, struct tally *t,
                   size_t nk)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->ss->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":lo", a);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":hi", b);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":d0", a);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":d1", b);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_str(st, ":dom", w->f->domain);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k[TALLY_KEYS];
        struct tally_entry *e;
        int nv = sqlite3_column_count(st) - (int)nk;

        rc = SQLITE_OK;
        for (size_t i = 0; i < nk; i++)
            k[i] = (const char *)sqlite3_column_text(st, (int)i);
        e = tally_at(t, k, nk);
        for (int i = 0; i < nv && i < TALLY_VALUES; i++)
            e->v[i] += sqlite3_column_int64(st, (int)nk + i);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* by_days - the counters of UTC days [d0, d1) */
static int by_days(int64_t d0, int64_t d1, void *arg)
{
    struct auth_walk *w = arg;
    int rc = add_all(w, sql_days_domain, d0, d1, &w->doms, 1);

    if (rc == SQLITE_OK)
        rc = add_all(w, sql_days_reason, d0, d1, &w->reasons, 4);
    if (rc == SQLITE_OK)
        rc = add_all(w, sql_days_selector, d0, d1, &w->sels, 4);
    return rc;
}

/* by_rows - the part [lo, hi) row by row: the statements of the report before the counters */
static int by_rows(int64_t lo, int64_t hi, void *arg)
{
    struct auth_walk *w = arg;
    const struct store_auth_filter *f = w->f;
    struct buf sql = BUF_INIT;
    int rc;

    buf_puts(&sql, sql_report_auth_head);
    auth_range(&sql);
    if (f->domain)
        buf_puts(&sql, sql_report_auth_dom);
    buf_puts(&sql, sql_report_auth_group);
    auth_dom(&sql, f);
    buf_puts(&sql, ") GROUP BY dom");
    rc = add_all(w, buf_cstr(&sql), lo, hi, &w->doms, 1);
    buf_reset(&sql);
    buf_puts(&sql, sql_auth_reasons_head);
    auth_source(&sql, f, " ON a.message_id = x.id WHERE (");
    buf_puts(&sql, sql_auth_reasons_tail);
    if (rc == SQLITE_OK)
        rc = add_all(w, buf_cstr(&sql), lo, hi, &w->reasons, 4);
    buf_reset(&sql);
    buf_puts(&sql, sql_auth_selectors_head);
    auth_source(&sql, f, " ON a.message_id = x.id WHERE (");
    buf_puts(&sql, sql_auth_selectors_tail);
    if (rc == SQLITE_OK)
        rc = add_all(w, buf_cstr(&sql), lo, hi, &w->sels, 4);
    buf_free(&sql);
    return rc;
}

/* by_messages - most messages first, then the domain */
static int by_messages(const void *a, const void *b)
{
    const struct tally_entry *x = *(const struct tally_entry *const *)a;
    const struct tally_entry *y = *(const struct tally_entry *const *)b;

    if (x->v[0] != y->v[0])
        return x->v[0] > y->v[0] ? -1 : 1;
    return strcmp(x->k[0], y->k[0]);
}

/* by_dom_count - by domain, then the most first, then the other keys */
static int by_dom_count(const void *a, const void *b)
{
    const struct tally_entry *x = *(const struct tally_entry *const *)a;
    const struct tally_entry *y = *(const struct tally_entry *const *)b;
    int c = strcmp(x->k[0], y->k[0]);

    if (c != 0)
        return c;
    if (x->v[0] != y->v[0])
        return x->v[0] > y->v[0] ? -1 : 1;
    for (size_t i = 1; i < TALLY_KEYS; i++)
        if ((c = strcmp(x->k[i], y->k[i])) != 0)
            return c;
    return 0;
}

/* sorted - t's entries with a value above 0, in order cmp; caller frees (the entries stay t's) */
static struct tally_entry **sorted(const struct tally *t, int (*cmp)(const void *, const void *),
                                   size_t *n)
{
    struct tally_entry **v = xcalloc(t->n + 1, sizeof(*v));

    *n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].v[0] > 0)
            v[(*n)++] = &t->e[i];
    qsort(v, *n, sizeof(*v), cmp);
    return v;
}

/* first_of - the index of dom's first entry in v[0..n) (sorted by domain), n if none */
static size_t first_of(struct tally_entry *const *v, size_t n, const char *dom)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(v[mid]->k[0], dom) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* emit - the rows in order, with each domain's top reasons and selectors, through fn */
static bool emit(struct auth_walk *w, int (*fn)(const struct store_auth_row *r, void *arg),
                 void *arg)
{
    size_t nd, nr, ns;
    struct tally_entry **d = sorted(&w->doms, by_messages, &nd);
    struct tally_entry **r = sorted(&w->reasons, by_dom_count, &nr);
    struct tally_entry **s = sorted(&w->sels, by_dom_count, &ns);
    bool stopped = false;

    for (size_t i = 0; i < nd && !stopped; i++) {
        struct store_auth_reason rs[STORE_AUTH_TOP];
        struct store_auth_selector ss[STORE_AUTH_TOP];
        const int64_t *v = d[i]->v;
        size_t a = first_of(r, nr, d[i]->k[0]), b = first_of(s, ns, d[i]->k[0]);
        struct store_auth_row row = {
            .domain = d[i]->k[0],
            .messages = v[0],
            .spf_pass = v[1],
            .spf_fail = v[2],
            .dkim_pass = v[3],
            .dkim_fail = v[4],
            .dmarc_pass = v[5],
            .dmarc_fail = v[6],
            .rejected = v[7],
            .quarantined = v[8],
            .reasons = rs,
            .selectors = ss,
        };

        for (; a < nr && row.nreasons < STORE_AUTH_TOP && strcmp(r[a]->k[0], row.domain) == 0; a++)
            rs[row.nreasons++] =
                (struct store_auth_reason){r[a]->k[1], r[a]->k[2], r[a]->k[3], r[a]->v[0]};
        for (; b < ns && row.nselectors < STORE_AUTH_TOP && strcmp(s[b]->k[0], row.domain) == 0;
             b++)
            ss[row.nselectors++] = (struct store_auth_selector){s[b]->k[1], s[b]->k[2], s[b]->v[0]};
        if (row.nreasons == 0)
            row.reasons = NULL;
        if (row.nselectors == 0)
            row.selectors = NULL;
        stopped = fn(&row, arg) != 0;
    }
    free(d);
    free(r);
    free(s);
    return stopped;
}

/* sqlite_report_auth - per header.from domain counts of inbound mail */
enum store_status sqlite_report_auth(struct store *s, const struct store_auth_filter *f,
                                     int (*fn)(const struct store_auth_row *r, void *arg),
                                     void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    struct auth_walk w = {.ss = ss, .f = f};
    enum store_status status = STORE_OK;
    struct rollup_plan p = {0};
    /* One read transaction: the counts, reasons and selectors are one snapshot. */
    int rc = sqlite_exec(ss->db, "BEGIN");

    if (rc == SQLITE_OK)
        rc = rollup_plan_make(ss, &rollup_src_mail, f->since ? f->since : INT64_MIN,
                              f->until ? f->until : INT64_MAX, 0, &p);
    if (rc == SQLITE_OK)
        rc = rollup_plan_days(&p, by_days, by_rows, &w);
    if (rc == SQLITE_OK)
        emit(&w, fn, arg);
    else
        status = sqlite_fail(ss, rc, "auth report");
    sqlite_rollback(ss); /* ends the read transaction */
    rollup_plan_free(&p);
    tally_free(&w.doms);
    tally_free(&w.reasons);
    tally_free(&w.sels);
    return status;
}
