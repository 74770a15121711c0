/*
 * store_sqlite_rollup_mail.c - report summary's mail numbers (messages
 * by direction, action and day, with their results, copies once) from
 * the counters of schema/008_rollup.sql where they hold, row by row
 * where they do not. Read-only, inside the caller's read transaction;
 * every value is bound, only constant fragments go into SQL text.
 *
 * The range [since, until) is cut into whole UTC hours and the parts of
 * an hour at its two ends (store_sqlite_rollup_plan.c). A whole hour is
 * read from rollup_mail when its counters hold its rows (the rows of the
 * hour were all stored by the store, none removed around it) and the
 * hour lies within one day of the caller's offset; any other part is
 * read row by row, as before the counters. A row written around the
 * store that is earlier than the store's rows of its Message-ID makes
 * the first of those a copy: it is taken out of its counted hour. Either way a message is
 * counted as it was row by row: an outbound row counts unless an earlier
 * row (received_at, id) of the range has its Message-ID and envelope
 * sender. Counted hours leave out the rows in message_copies, and look
 * again at those of them (few) whose earlier rows all lie before the
 * range: those count after all.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_rollup.h"
#include "util.h"

#define DAY_S 86400

/* An outbound row m that an earlier row of the range (received_at >= :since) makes a copy. */
#define NOT_FIRST                                                                                  \
    "(m.direction = 'outbound' AND m.message_id <> '' AND EXISTS (SELECT 1 FROM messages p"        \
    " INDEXED BY messages_copy_key WHERE p.message_id = m.message_id AND p.direction = 'outbound'" \
    " AND p.message_id <> '' AND coalesce(p.mail_from, '') = coalesce(m.mail_from, '')"            \
    " AND p.received_at >= :since AND (p.received_at < m.received_at"                              \
    " OR (p.received_at = m.received_at AND p.id < m.id))))"
#define ROW_SUMS                                                                                   \
    "SELECT direction, action, (received_at + :off) / 86400, count(*), sum(spf = 0),"              \
    " sum(dkim = 2), sum(dmarc = 0), sum(dmarc = 1), sum(sig) FROM (SELECT " ROLLUP_COLS
/* Every counted row of [:lo, :hi), row by row. */
static const char sql_rows[] =
    ROW_SUMS " FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id"
             " WHERE m.received_at >= :lo AND m.received_at < :hi AND NOT " NOT_FIRST
             " GROUP BY m.received_at, m.id) GROUP BY 1, 2, 3";
/* The copies of [:lo, :hi) that count after all: no earlier row of theirs in the range. */
static const char sql_promoted[] =
    ROW_SUMS " FROM message_copies c JOIN messages m ON m.id = c.id"
             " LEFT JOIN message_auth a ON a.message_id = m.id"
             " WHERE c.received_at >= :lo AND c.received_at < :hi AND NOT " NOT_FIRST
             " GROUP BY m.received_at, m.id) GROUP BY 1, 2, 3";
/*
 * The rows not marked as copies that an earlier row of [:lo, :hi) makes
 * copies (as many rows a counted hour counts too many): only a row
 * written around the store, earlier than the store's rows of its
 * Message-ID, can be such a row.
 */
static const char sql_unmarked[] =
    "SELECT DISTINCT l.id, l.received_at FROM messages r JOIN messages l INDEXED BY"
    " messages_copy_key ON l.message_id = r.message_id AND l.direction = 'outbound'"
    " AND l.message_id <> '' AND coalesce(l.mail_from, '') = coalesce(r.mail_from, '')"
    " AND (l.received_at > r.received_at OR (l.received_at = r.received_at AND l.id > r.id))"
    " WHERE r.received_at >= :lo AND r.received_at < :hi AND r.direction = 'outbound'"
    " AND r.message_id <> '' AND l.id NOT IN (SELECT id FROM message_copies)";
/* One message's numbers (to take out of a counted hour). */
static const char sql_one[] =
    ROW_SUMS " FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id WHERE m.id = :id"
             " GROUP BY m.received_at, m.id) GROUP BY 1, 2, 3";
/* rollup_mail's hours against the ledger's rows */
const struct rollup_src rollup_src_mail = {
    "SELECT (SELECT count(*) FROM messages) = (SELECT coalesce(sum(n), 0) FROM rollup_mail)",

    "SELECT (SELECT min(received_at) FROM messages), (SELECT max(received_at) FROM messages),"
    " (SELECT min(hour) FROM rollup_mail), (SELECT max(hour) FROM rollup_mail)",
    "SELECT count(*) FROM messages WHERE received_at >= ?1 AND received_at < ?2",
    "SELECT hour, sum(n) FROM rollup_mail WHERE hour >= ?1 AND hour < ?2 GROUP BY hour",
};
static const char sql_counters[] =
    "SELECT hour, direction, action, spf, dkim, dmarc, sig, n FROM rollup_mail"
    " WHERE hour >= ?1 AND hour < ?2 AND copy = 0 AND n <> 0";

/* sums - run a prepared ROW_SUMS statement over [lo, hi), one call of fn per group */
static int sums(sqlite3_stmt *st, const struct store_summary_filter *f, int64_t lo, int64_t hi,
                void (*fn)(const struct rollup_mail_row *r, void *arg), void *arg)
{
    int rc = sqlite_bind_named_int(st, ":lo", lo);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":hi", hi);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":since", f->since);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":off", f->utc_offset);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct rollup_mail_row r = {
            .direction = (const char *)sqlite3_column_text(st, 0),
            .action = (const char *)sqlite3_column_text(st, 1),
            .day = sqlite3_column_int64(st, 2),
            .n = sqlite3_column_int64(st, 3),
            .spf_pass = sqlite3_column_int64(st, 4),
            .dkim_pass = sqlite3_column_int64(st, 5),
            .dmarc_pass = sqlite3_column_int64(st, 6),
            .dmarc_fail = sqlite3_column_int64(st, 7),
            .signed_out = sqlite3_column_int64(st, 8),
        };

        fn(&r, arg);
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* counters - the counted rows of p's counted hours */
static int counters(struct sqlite_store *ss, const struct store_summary_filter *f,
                    const struct rollup_plan *p,
                    void (*fn)(const struct rollup_mail_row *r, void *arg), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql_counters, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, p->h0);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, p->h1);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t h = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 7);
        int spf = sqlite3_column_int(st, 3), dkim = sqlite3_column_int(st, 4);
        int dmarc = sqlite3_column_int(st, 5), sig = sqlite3_column_int(st, 6);
        struct rollup_mail_row r = {
            .direction = (const char *)sqlite3_column_text(st, 1),
            .action = (const char *)sqlite3_column_text(st, 2),
            .day = (h * ROLLUP_HOUR_S + f->utc_offset) / DAY_S, /* as SQLite: toward zero */
            .n = n,
            .spf_pass = spf == 0 ? n : 0,
            .dkim_pass = dkim == 2 ? n : 0,
            .dmarc_pass = dmarc == 0 ? n : 0,
            .dmarc_fail = dmarc == 1 ? n : 0,
            .signed_out = sig ? n : 0,
        };

        rc = SQLITE_OK;
        if (p->whole[h - p->h0])
            fn(&r, arg);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The messages of counted hours that are copies after all, while they are found. */
struct ids {
    int64_t *v;
    size_t n, cap;
};

/* unmarked - into out: p's counted rows that a row of [lo, hi) makes copies */
static int unmarked(struct sqlite_store *ss, const struct rollup_plan *p, int64_t lo, int64_t hi,
                    struct ids *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql_unmarked, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":lo", lo);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":hi", hi);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t h = rollup_floor_div(sqlite3_column_int64(st, 1), ROLLUP_HOUR_S);

        rc = SQLITE_OK;
        if (h < p->h0 || h >= p->h1 || !p->whole[h - p->h0])
            continue;
        for (size_t i = 0; i < out->n; i++)
            if (out->v[i] == sqlite3_column_int64(st, 0))
                goto next; /* found from another part already */
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 8;
            out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
        }
        out->v[out->n++] = sqlite3_column_int64(st, 0);
    next:;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Negates the numbers of the groups on their way to the caller's fn. */
struct negate {
    void (*fn)(const struct rollup_mail_row *r, void *arg);
    void *arg;
};

/* negated - r with every number negated, to the caller */
static void negated(const struct rollup_mail_row *r, void *arg)
{
    const struct negate *ng = arg;
    struct rollup_mail_row x = *r;

    x.n = -x.n;
    x.spf_pass = -x.spf_pass;
    x.dkim_pass = -x.dkim_pass;
    x.dmarc_pass = -x.dmarc_pass;
    x.dmarc_fail = -x.dmarc_fail;
    x.signed_out = -x.signed_out;
    ng->fn(&x, ng->arg);
}

/* take_out - the messages ids out of the numbers given so far */
static int take_out(struct sqlite_store *ss, const struct store_summary_filter *f,
                    const struct ids *ids, void (*fn)(const struct rollup_mail_row *r, void *arg),
                    void *arg)
{
    struct negate ng = {fn, arg};
    sqlite3_stmt *st = NULL;
    int rc = ids->n ? sqlite3_prepare_v2(ss->db, sql_one, -1, &st, NULL) : SQLITE_OK;

    for (size_t i = 0; i < ids->n && rc == SQLITE_OK; i++) {
        rc = sqlite_bind_named_int(st, ":id", ids->v[i]);
        if (rc == SQLITE_OK)
            rc = sums(st, f, 0, 0, negated, &ng);
    }
    sqlite3_finalize(st);
    return rc;
}

/* by_rows - the parts of [lo, hi) not read from counters: row by row; promoted copies */
static int by_rows(struct sqlite_store *ss, const struct store_summary_filter *f,
                   const struct rollup_plan *p, int64_t lo, int64_t hi,
                   void (*fn)(const struct rollup_mail_row *r, void *arg), void *arg)
{
    sqlite3_stmt *rows = NULL, *prom = NULL;
    int64_t h0 = p->h0, h1 = p->h1;
    struct ids later = {NULL, 0, 0};
    int rc = sqlite3_prepare_v2(ss->db, sql_rows, -1, &rows, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_promoted, -1, &prom, NULL);
    if (h0 >= h1) { /* no whole hour */
        if (rc == SQLITE_OK && lo < hi)
            rc = sums(rows, f, lo, hi, fn, arg);
    } else {
        if (rc == SQLITE_OK && lo < h0 * ROLLUP_HOUR_S)
            rc = sums(rows, f, lo, h0 * ROLLUP_HOUR_S, fn, arg);
        if (rc == SQLITE_OK && lo < h0 * ROLLUP_HOUR_S)
            rc = unmarked(ss, p, lo, h0 * ROLLUP_HOUR_S, &later);
        /* each run of hours of one kind at once */
        for (int64_t a = h0, b; rc == SQLITE_OK && a < h1; a = b) {
            bool w = p->whole[a - h0];

            for (b = a + 1; b < h1 && p->whole[b - h0] == w; b++)
                ;
            rc = sums(w ? prom : rows, f, a * ROLLUP_HOUR_S, b * ROLLUP_HOUR_S, fn, arg);
            if (rc == SQLITE_OK && !w)
                rc = unmarked(ss, p, a * ROLLUP_HOUR_S, b * ROLLUP_HOUR_S, &later);
        }
        if (rc == SQLITE_OK && h1 * ROLLUP_HOUR_S < hi)
            rc = sums(rows, f, h1 * ROLLUP_HOUR_S, hi, fn, arg);
        if (rc == SQLITE_OK)
            rc = take_out(ss, f, &later, fn, arg);
    }
    sqlite3_finalize(rows);
    sqlite3_finalize(prom);
    free(later.v);
    return rc;
}

/* sqlite_rollup_mail - the counted messages of f's range, from counters where they hold */
int sqlite_rollup_mail(struct sqlite_store *ss, const struct store_summary_filter *f,
                       const struct rollup_plan *p,
                       void (*fn)(const struct rollup_mail_row *r, void *arg), void *arg)
{
    int rc = SQLITE_OK;

    if (p->h0 < p->h1)
        rc = counters(ss, f, p, fn, arg);
    if (rc == SQLITE_OK && p->lo < p->hi)
        rc = by_rows(ss, f, p, p->lo, p->hi, fn, arg);
    return rc;
}
