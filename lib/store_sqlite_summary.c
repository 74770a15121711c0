/*
 * store_sqlite_summary.c - the SQLite backend's numbers for report
 * summary and report opens (store_summary.h): mail per direction,
 * action and day with its authentication, failing From domains, opens
 * per day and class, the database's size, and the tracked rows with
 * their first opens. Read-only; every value is a bound parameter, and
 * only constant fragments chosen by an enum are ever added to SQL text.
 *
 * Copies: outbound rows of the range with the same Message-ID and
 * envelope sender are one message (postmeter-pixelfilter's reinjected
 * copies); row_number() over them keeps the first (by received_at, id).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_int.h"
#include "store_sqlite_summary.h"
#include "util.h"

#define DAY_S 86400

/*
 * The range's copies: outbound rows with the same Message-ID and envelope
 * sender as an earlier row (received_at, id) of the range. Only those rows
 * are numbered (a sort of the range's outbound rows with a Message-ID),
 * inbound mail never is: every inbound row counts.
 */
#define SQL_COPIES                                                                                 \
    "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY message_id, coalesce(mail_from,"   \
    " '') ORDER BY received_at, id) AS n FROM messages WHERE received_at >= :since"                \
    " AND received_at < :until AND direction = 'outbound' AND coalesce(message_id, '') <> '')"     \
    " WHERE n > 1"

/*
 * One row per counted message of the range with its results, from one
 * walk of its auth rows (a join through message_auth's primary key, grouped
 * by the message in the order of messages_received_at: no sort) instead of
 * a subquery per result. "The first result of a method" is the one of the
 * lowest position: min(position * 4 + code) keeps the position's order and
 * carries the result's code (0 pass, 1 fail, 2 other) in its remainder.
 */
static const char sql_mail[] =
    "SELECT direction, action, (received_at + :off) / 86400, count(*), sum(spf IS 0),"
    " sum(coalesce(dkim, 0)), sum(dmarc IS 0), sum(dmarc IS 1), sum(coalesce(sig, 0))"
    " FROM (SELECT m.direction AS direction, m.action AS action, m.received_at AS received_at,"
    "  (min(CASE WHEN a.method = 'spf' THEN a.position * 4 + (a.result <> 'pass') END) % 4 + 4)"
    "   % 4 AS spf,"
    "  max(a.method = 'dkim' AND a.result = 'pass') AS dkim,"
    "  (min(CASE WHEN a.method = 'dmarc' THEN a.position * 4 + CASE a.result WHEN 'pass' THEN 0"
    "   WHEN 'fail' THEN 1 ELSE 2 END END) % 4 + 4) % 4 AS dmarc,"
    "  max(a.method = 'dkim-sign' AND a.result = 'signed') AS sig"
    "  FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id"
    "  WHERE m.received_at >= :since AND m.received_at < :until AND m.id NOT IN (" SQL_COPIES ")"
    "  GROUP BY m.received_at, m.id)"
    " GROUP BY 1, 2, 3";
static const char sql_rows[] =
    "SELECT count(*) FROM messages WHERE received_at >= :since AND received_at < :until";
/*
 * Each inbound message's first DMARC row (its From domain and result), by
 * its dmarc rows alone: with one min() the other columns are the row's
 * that has it (SQLite's bare columns); without a dmarc row they are NULL.
 */
static const char sql_top[] =
    "SELECT dom, count(*), sum(dmarc = 'fail') AS f FROM (SELECT min(a.position),"
    "  coalesce(lower(a.identity), '') AS dom, a.result AS dmarc"
    "  FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id AND a.method = 'dmarc'"
    "  WHERE m.direction = 'inbound' AND m.received_at >= :since AND m.received_at < :until"
    "  GROUP BY m.received_at, m.id)"
    " GROUP BY dom HAVING f > 0 ORDER BY f DESC, count(*) DESC, dom LIMIT :top";
static const char sql_opens_day[] =
    "SELECT (opened_at + :off) / 86400, class, count(*) FROM pixel_opens"
    " WHERE opened_at >= :since AND opened_at < :until GROUP BY 1, 2";
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
 * still count.
 */
static const char *first_open_sql(bool human)
{
    return human ? "CASE WHEN t.first_open_at IS NOT NULL THEN t.first_human_open_at ELSE"
                   " (SELECT min(o.opened_at) FROM pixel_opens o WHERE o.tracked_id = t.id"
                   " AND o.class IN ('human', 'proxy')) END"
                 : "coalesce(t.first_open_at, (SELECT min(o.opened_at) FROM pixel_opens o"
                   " WHERE o.tracked_id = t.id))";
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

/* mail - messages by direction, action and day with their results, into out and days */
static int mail(struct sqlite_store *ss, const struct store_summary_filter *f,
                struct store_summary *out, struct day_list *days)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare_range(ss, sql_mail, f, &st);

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *dir = sqlite3_column_text(st, 0);
        size_t o = dir && strcmp((const char *)dir, "outbound") == 0;
        int64_t n = sqlite3_column_int64(st, 3);
        struct store_summary_day *d = day_at(days, sqlite3_column_int64(st, 2));

        rc = SQLITE_OK;
        out->messages[o] += n;
        out->actions[o][action_of((const char *)sqlite3_column_text(st, 1))] += n;
        if (o) {
            d->out += n;
            out->signed_out += sqlite3_column_int64(st, 8);
            continue;
        }
        d->in += n;
        d->spf_pass += sqlite3_column_int64(st, 4);
        d->dkim_pass += sqlite3_column_int64(st, 5);
        d->dmarc_pass += sqlite3_column_int64(st, 6);
        out->spf_pass += sqlite3_column_int64(st, 4);
        out->dkim_pass += sqlite3_column_int64(st, 5);
        out->dmarc_pass += sqlite3_column_int64(st, 6);
        out->dmarc_fail += sqlite3_column_int64(st, 7);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* top - the From domains with the most DMARC failures */
static int top(struct sqlite_store *ss, const struct store_summary_filter *f,
               struct store_summary *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (f->top == 0)
        return SQLITE_OK;
    out->top = xcalloc(f->top, sizeof(*out->top));
    rc = prepare_range(ss, sql_top, f, &st);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW && out->ntop < f->top) {
        struct store_summary_domain *d = &out->top[out->ntop++];
        const unsigned char *dom = sqlite3_column_text(st, 0);

        rc = SQLITE_OK;
        d->domain = xstrdup(dom ? (const char *)dom : "");
        d->messages = sqlite3_column_int64(st, 1);
        d->dmarc_fail = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* opens_by_day - the range's opens per day and class into out and days */
static int opens_by_day(struct sqlite_store *ss, const struct store_summary_filter *f,
                        struct store_summary *out, struct day_list *days)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare_range(ss, sql_opens_day, f, &st);

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t c = class_of((const char *)sqlite3_column_text(st, 1));
        int64_t n = sqlite3_column_int64(st, 2);

        rc = SQLITE_OK;
        if (c == STORE_OPEN_CLASSES)
            continue; /* the schema's CHECK allows none */
        out->opens[c] += n;
        day_at(days, sqlite3_column_int64(st, 0))->opens[c] += n;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
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
        rc = one_int(ss, sql_rows, f, 0, &rows);
    if (rc == SQLITE_OK)
        rc = mail(ss, f, out, &days);
    if (rc == SQLITE_OK)
        rc = top(ss, f, out);
    if (rc == SQLITE_OK)
        rc = opens_by_day(ss, f, out, &days);
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

/* sqlite_opens_walk - f's tracked rows with their first opens, one call of fn each */
enum store_status sqlite_opens_walk(struct store *s, const struct store_opens_filter *f,
                                    int (*fn)(const struct store_opens_item *it, void *arg),
                                    void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    enum store_status status = STORE_OK;
    int rc;

    if ((unsigned)f->by >= sizeof(opens_by) / sizeof(opens_by[0]))
        bug("sqlite_opens_walk: by %d", (int)f->by);
    /* Only constant fragments go into the text; every value is bound. */
    buf_printf(&sql,
               "SELECT t.mode, %s, %s, coalesce(nullif(t.header_from, ''), t.mail_from),"
               " t.subject, t.created_at, t.outcome = 'injected', %s IS NOT NULL, %s"
               " FROM tracked_messages t",
               opens_by[f->by].key, opens_by[f->by].day, first_open_sql(false),
               first_open_sql(true));
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
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
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

        rc = SQLITE_OK;
        if (fn(&it, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        status = sqlite_fail(ss, rc, "opens report");
    sqlite3_finalize(st);
    buf_free(&sql);
    return status;
}
