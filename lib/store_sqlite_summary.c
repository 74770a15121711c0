/*
 * store_sqlite_summary.c - the SQLite backend's numbers for report
 * summary and report opens (store_summary.h): mail per direction,
 * action and day with its authentication, failing From domains, opens
 * per day and class, the database's size, and the tracked rows with
 * their first opens. Read-only; every value is a bound parameter, and
 * only constant fragments chosen by an enum are ever added to SQL text.
 *
 * Mail by direction, action and day, the failing From domains and the
 * opens per day come from the ledger's counters where they hold
 * (store_sqlite_rollup_mail.c, which also keeps the copy rule: outbound
 * rows of the range with the same Message-ID and envelope sender are one
 * message, the first by received_at, id; store_sqlite_rollup_top.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_int.h"
#include "store_sqlite_rollup.h"
#include "store_sqlite_summary.h"
#include "util.h"

#define DAY_S 86400

static const char sql_rows[] =
    "SELECT count(*) FROM messages WHERE received_at >= :since AND received_at < :until";
static const char sql_totals[] =
    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM tracked_messages),"
    " (SELECT count(*) FROM pixel_opens)";

/*
 * first_open_sql - SQL for the time of tracked row t's first open (human:
 * of class human or proxy), NULL when there is none. The one place that
 * knows where first opens come from: the row's own first_open_at and
 * first_human_open_at (007_token_key.sql), which the store sets with each
 * open it writes. A row without first_open_at is looked up in pixel_opens
 * (a seek into pixel_opens_tracked that finds nothing for a row never
 * opened), so opens written around the store (by hand, by a test's SQL)
 * still count; unless kept (opens_kept()): then every open's row set them.
 */
static const char *first_open_sql(bool human, bool kept)
{
    if (kept)
        return human ? "t.first_human_open_at" : "t.first_open_at";
    return human ? "CASE WHEN t.first_open_at IS NOT NULL THEN t.first_human_open_at ELSE"
                   " (SELECT min(o.opened_at) FROM pixel_opens o WHERE o.tracked_id = t.id"
                   " AND o.class IN ('human', 'proxy')) END"
                 : "coalesce(t.first_open_at, (SELECT min(o.opened_at) FROM pixel_opens o"
                   " WHERE o.tracked_id = t.id))";
}

/*
 * opens_kept - whether every open was stored by the store (which sets
 * the first opens of its tracked message with it): the opens' counters
 * add up to the rows of pixel_opens. Then a tracked row without
 * first_open_at has no open, and needs no look into pixel_opens.
 */
static bool opens_kept(struct sqlite_store *ss)
{
    sqlite3_stmt *st = NULL;
    bool kept = false;

    if (sqlite3_prepare_v2(ss->db,
                           "SELECT (SELECT count(*) FROM pixel_opens) ="
                           " (SELECT coalesce(sum(n), 0) FROM rollup_opens)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        kept = sqlite3_column_int(st, 0) != 0;
    sqlite3_finalize(st);
    return kept;
}

/* A day's numbers while the series is gathered (d: days since the epoch at the offset). */
struct day_entry {
    int64_t d;
    struct store_summary_day v;
};

struct day_list {
    struct day_entry *e;
    size_t n, cap;
};

/* day_at - the entry of day d in l, added if new (a linear scan from the end: rows come grouped) */
static struct store_summary_day *day_at(struct day_list *l, int64_t d)
{
    for (size_t i = l->n; i-- > 0;)
        if (l->e[i].d == d)
            return &l->e[i].v;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
    }
    memset(&l->e[l->n], 0, sizeof(l->e[l->n]));
    l->e[l->n].d = d;
    return &l->e[l->n++].v;
}

/* day_of - the day number of t at offset off (floor division) */
static int64_t day_of(int64_t t, int64_t off)
{
    int64_t x = t + off;

    return x >= 0 ? x / DAY_S : -((-x + DAY_S - 1) / DAY_S);
}

/* days_dense - every day of the range from l into out (capped at STORE_SUMMARY_MAX_DAYS) */
static void days_dense(const struct day_list *l, struct store_summary *out)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN, first, last;

    for (size_t i = 0; i < l->n; i++) {
        lo = l->e[i].d < lo ? l->e[i].d : lo;
        hi = l->e[i].d > hi ? l->e[i].d : hi;
    }
    first = out->since ? day_of(out->since, out->utc_offset) : lo;
    last = out->until ? day_of(out->until - 1, out->utc_offset) : hi;
    if (l->n == 0 && (out->since == 0 || out->until == 0))
        return; /* no data and an open end: no series */
    if (last - first + 1 > STORE_SUMMARY_MAX_DAYS)
        first = last - STORE_SUMMARY_MAX_DAYS + 1;
    if (last < first)
        return;
    out->ndays = (size_t)(last - first + 1);
    out->days = xcalloc(out->ndays, sizeof(*out->days));
    for (size_t i = 0; i < out->ndays; i++)
        out->days[i].day = (first + (int64_t)i) * DAY_S - out->utc_offset;
    for (size_t i = 0; i < l->n; i++) {
        const struct store_summary_day *v = &l->e[i].v;
        struct store_summary_day *o;

        if (l->e[i].d < first || l->e[i].d > last)
            continue;
        o = &out->days[l->e[i].d - first];
        o->in += v->in;
        o->out += v->out;
        o->spf_pass += v->spf_pass;
        o->dkim_pass += v->dkim_pass;
        o->dmarc_pass += v->dmarc_pass;
        for (size_t c = 0; c < STORE_OPEN_CLASSES; c++)
            o->opens[c] += v->opens[c];
    }
}

/* action_of - the action word's enum */
static enum store_action action_of(const char *w)
{
    for (size_t a = 0; a < STORE_ACT_OTHER; a++)
        if (w && strcmp(w, store_action_name((enum store_action)a)) == 0)
            return (enum store_action)a;
    return STORE_ACT_OTHER;
}

/* class_of - the open class's enum, STORE_OPEN_CLASSES for an unknown word */
static size_t class_of(const char *w)
{
    for (size_t c = 0; c < STORE_OPEN_CLASSES; c++)
        if (w && strcmp(w, store_open_class_name((enum store_open_class)c)) == 0)
            return c;
    return STORE_OPEN_CLASSES;
}

/* prepare_range - prepare sql and bind the range, offset and top of f */
static int prepare_range(struct sqlite_store *ss, const char *sql,
                         const struct store_summary_filter *f, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(*st, ":since", f->since);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(*st, ":until", f->until ? f->until : INT64_MAX);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(*st, ":off", f->utc_offset);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(*st, ":top", f->top);
    return rc;
}

/* The summary and its series while the mail numbers come in. */
struct mail_acc {
    struct store_summary *out;
    struct day_list *days;
};

/* mail_row - one group of counted messages into the summary and its day */
static void mail_row(const struct rollup_mail_row *r, void *arg)
{
    struct mail_acc *acc = arg;
    struct store_summary *out = acc->out;
    size_t o = r->direction && strcmp(r->direction, "outbound") == 0;
    struct store_summary_day *d = day_at(acc->days, r->day);

    out->messages[o] += r->n;
    out->actions[o][action_of(r->action)] += r->n;
    if (o) {
        d->out += r->n;
        out->signed_out += r->signed_out;
        return;
    }
    d->in += r->n;
    d->spf_pass += r->spf_pass;
    d->dkim_pass += r->dkim_pass;
    d->dmarc_pass += r->dmarc_pass;
    out->spf_pass += r->spf_pass;
    out->dkim_pass += r->dkim_pass;
    out->dmarc_pass += r->dmarc_pass;
    out->dmarc_fail += r->dmarc_fail;
}

/* open_row - one group of opens into the summary and its day */
static void open_row(int64_t day, const char *cls, int64_t n, void *arg)
{
    struct mail_acc *acc = arg;
    size_t c = class_of(cls);

    if (c == STORE_OPEN_CLASSES)
        return; /* the schema's CHECK allows none */
    acc->out->opens[c] += n;
    day_at(acc->days, day)->opens[c] += n;
}

/* one_int - the first column of sql's one row (parameters: the range) into *v */
static int one_int(struct sqlite_store *ss, const char *sql, const struct store_summary_filter *f,
                   int col, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare_range(ss, sql, f, &st);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, col);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* count_rows - add the ledger rows of [lo, hi) to *n */
static int count_rows(struct sqlite_store *ss, int64_t lo, int64_t hi, int64_t *n)
{
    const struct store_summary_filter part = {.since = lo, .until = hi};
    int64_t v = 0;
    int rc = lo < hi ? one_int(ss, sql_rows, &part, 0, &v) : SQLITE_OK;

    *n += v;
    return rc;
}

/* counted - rows, mail, failing domains and opens, from the counters where they hold */
static int counted(struct sqlite_store *ss, const struct store_summary_filter *f,
                   struct store_summary *out, struct day_list *days, int64_t *rows)
{
    struct mail_acc acc = {out, days};
    struct rollup_plan p;
    int rc = rollup_plan_make(ss, &rollup_src_mail, f->since, f->until ? f->until : INT64_MAX,
                              f->utc_offset, &p);

    /* the rows of the range: its whole hours were counted for the plan, the ends here */
    *rows = p.rows;
    if (rc == SQLITE_OK && p.lo < p.hi)
        rc = count_rows(ss, p.lo, p.h0 < p.h1 ? p.h0 * ROLLUP_HOUR_S : p.hi, rows);
    if (rc == SQLITE_OK && p.h0 < p.h1)
        rc = count_rows(ss, p.h1 * ROLLUP_HOUR_S, p.hi, rows);
    if (rc == SQLITE_OK)
        rc = sqlite_rollup_mail(ss, f, &p, mail_row, &acc);
    if (rc == SQLITE_OK)
        rc = sqlite_rollup_top(ss, f, &p, out);
    rollup_plan_free(&p);
    if (rc == SQLITE_OK)
        rc = sqlite_rollup_opens(ss, f, open_row, &acc);
    return rc;
}

/* totals - the whole database's rows and size */
static int totals(struct sqlite_store *ss, const struct store_summary_filter *f,
                  struct store_summary *out)
{
    int64_t pages = 0, size = 0;
    int rc = one_int(ss, sql_totals, f, 0, &out->all_rows);

    if (rc == SQLITE_OK)
        rc = one_int(ss, sql_totals, f, 1, &out->all_tracked);
    if (rc == SQLITE_OK)
        rc = one_int(ss, sql_totals, f, 2, &out->all_opens);
    if (rc == SQLITE_OK)
        rc = one_int(ss, "PRAGMA page_count", f, 0, &pages);
    if (rc == SQLITE_OK)
        rc = one_int(ss, "PRAGMA page_size", f, 0, &size);
    out->db_bytes = pages * size;
    return rc;
}

/* sqlite_summary - the ledger's numbers and the tracked rows, one read transaction */
enum store_status sqlite_summary(struct store *s, const struct store_summary_filter *f,
                                 struct store_summary *out,
                                 int (*fn)(const struct store_opens_item *it, void *arg), void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    const struct store_opens_filter of = {.since = f->since, .until = f->until};
    struct day_list days = {NULL, 0, 0};
    enum store_status status = STORE_OK;
    int64_t rows = 0;
    int rc = sqlite_exec(ss->db, "BEGIN");

    if (rc == SQLITE_OK)
        rc = counted(ss, f, out, &days, &rows);
    if (rc == SQLITE_OK)
        rc = totals(ss, f, out);
    if (rc != SQLITE_OK)
        status = sqlite_fail(ss, rc, "summary");
    else
        status = sqlite_opens_walk(s, &of, fn, arg);
    sqlite_rollback(ss); /* ends the read transaction */
    out->rows = rows;
    out->copies = rows - out->messages[0] - out->messages[1];
    days_dense(&days, out);
    free(days.e);
    return status;
}

/* Per --by: the group's key and day (constant SQL), and whether recipients are joined. */
static const struct {
    const char *key, *day;
    bool rcpts;
} opens_by[] = {
    [STORE_BY_NONE] = {"''", "0", false},
    [STORE_BY_MESSAGE] = {"coalesce(t.queue_id, '#' || t.id)", "0", false},
    [STORE_BY_SENDER] = {"lower(coalesce(nullif(t.header_from, ''), t.mail_from, ''))", "0", false},
    [STORE_BY_RECIPIENT] = {"lower(r.address)", "0", true},
    [STORE_BY_DAY] = {"''", "(t.created_at + :off) / 86400", false},
    [STORE_BY_SUBJECT] = {"coalesce(t.subject, '')", "0", false},
};

/* walk_rows - one call of fn per row of st (an opens walk); SQLITE_DONE at the end or when fn stops
 */
static int walk_rows(sqlite3_stmt *st, const struct store_opens_filter *f,
                     int (*fn)(const struct store_opens_item *it, void *arg), void *arg, bool *stop)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0), *key = sqlite3_column_text(st, 1);
        struct store_opens_item it = {
            .mode = mode ? (const char *)mode : "",
            .key = key ? (const char *)key : "",
            .day = f->by == STORE_BY_DAY ? sqlite3_column_int64(st, 2) * DAY_S - f->utc_offset : 0,
            .sender = (const char *)sqlite3_column_text(st, 3),
            .subject = (const char *)sqlite3_column_text(st, 4),
            .created_at = sqlite3_column_int64(st, 5),
            .pixel = sqlite3_column_int(st, 6) != 0,
            .opened = sqlite3_column_int(st, 7) != 0,
            .first_human = sqlite3_column_int64(st, 8),
        };

        if (fn(&it, arg)) {
            *stop = true;
            return SQLITE_DONE;
        }
    }
    return rc;
}

/* sqlite_opens_walk - f's tracked rows with their first opens, one call of fn each */
enum store_status sqlite_opens_walk(struct store *s, const struct store_opens_filter *f,
                                    int (*fn)(const struct store_opens_item *it, void *arg),
                                    void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    enum store_status status = STORE_OK;
    bool stop = false, kept = opens_kept(ss);
    int rc;

    if ((unsigned)f->by >= sizeof(opens_by) / sizeof(opens_by[0]))
        bug("sqlite_opens_walk: by %d", (int)f->by);
    /* Only constant fragments go into the text; every value is bound. */
    buf_printf(&sql,
               "SELECT t.mode, %s, %s, %s, t.created_at, t.outcome = 'injected', %s IS NOT NULL, %s"
               " FROM tracked_messages t",
               opens_by[f->by].key, opens_by[f->by].day,
               /* a group's sender and subject: only by message (store_summary.h) */
               f->by == STORE_BY_MESSAGE ? "coalesce(nullif(t.header_from, ''), t.mail_from),"
                                           " t.subject"
                                         : "NULL, NULL",
               first_open_sql(false, kept), first_open_sql(true, kept));
    if (opens_by[f->by].rcpts)
        buf_puts(&sql, " JOIN tracked_recipients r ON r.tracked_id = t.id");
    buf_puts(&sql, " WHERE t.created_at >= :since AND t.created_at < :until");
    if (f->sender)
        buf_puts(&sql, " AND (t.mail_from = :sender COLLATE NOCASE"
                       " OR t.header_from = :sender COLLATE NOCASE)");
    if (f->sender_domain)
        buf_puts(&sql, " AND (substr(t.mail_from, -length(:sdom) - 1) COLLATE NOCASE = '@' || :sdom"
                       " OR substr(t.header_from, -length(:sdom) - 1) COLLATE NOCASE"
                       " = '@' || :sdom)");
    /*
     * One group per mode: each mode's rows in the order of
     * tracked_messages_created_at, one mode after the other (the schema's
     * CHECK allows these two), instead of a sort of the range's rows.
     */
    if (f->by == STORE_BY_NONE)
        buf_puts(&sql, " AND t.mode = :mode ORDER BY t.created_at, t.id");
    else
        buf_puts(&sql, " ORDER BY 1, 3, 2, t.created_at, t.id");
    rc = sqlite3_prepare_v2(ss->db, buf_cstr(&sql), -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":since", f->since);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":until", f->until ? f->until : INT64_MAX);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":off", f->utc_offset);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_str(st, ":sender", f->sender);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_str(st, ":sdom", f->sender_domain);
    /* BY_NONE: the statement once per mode, "milter" before "pipe" (as sorted) */
    for (size_t m = 0; rc == SQLITE_OK && m < 2; m++) {
        rc = sqlite_bind_named_str(st, ":mode", store_summary_mode_name(m));
        if (rc == SQLITE_OK)
            rc = walk_rows(st, f, fn, arg, &stop);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE && m == 0 && f->by == STORE_BY_NONE && !stop)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = sqlite_fail(ss, rc, "opens report");
    sqlite3_finalize(st);
    buf_free(&sql);
    return status;
}
