/*
 * store_sqlite_report.c - the SQLite backend's reports: messages with
 * their recipients and authentication results, and per-domain
 * authentication counts. Read-only; every value is a bound parameter,
 * only constant fragments are ever added to SQL text.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_int.h"
#include "util.h"

static const char sql_report_auth[] =
    "SELECT method, result, identity, selector, algorithm, policy, disposition, reason"
    " FROM message_auth WHERE message_id = ?1 ORDER BY position";
static const char sql_report_cols[] =
    "SELECT id, uid, host, queue_id, message_id, date_header, direction, client_ip,"
    " client_ptr, helo, sasl_user, mail_from, header_from, subject, size, action,"
    " received_at FROM messages WHERE 1";
static const char sql_report_rcpts[] =
    "SELECT address FROM message_recipients WHERE message_id = ?1 ORDER BY position";

/* sqlite_col_str - copy of text column i, NULL for SQL NULL; caller frees */
char *sqlite_col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

/* load_auth - the authentication results of message id into m */
static int load_auth(sqlite3_stmt *ra, sqlite3_int64 id, struct ledger_msg *m)
{
    int rc = sqlite3_bind_int64(ra, 1, id);

    while (rc == SQLITE_OK && (rc = sqlite3_step(ra)) == SQLITE_ROW) {
        const unsigned char *method = sqlite3_column_text(ra, 0);
        const unsigned char *result = sqlite3_column_text(ra, 1);
        struct ledger_auth *a = ledger_msg_add_auth(m, (const char *)method, (const char *)result);

        if (a) {
            a->identity = sqlite_col_str(ra, 2);
            a->selector = sqlite_col_str(ra, 3);
            a->algorithm = sqlite_col_str(ra, 4);
            a->policy = sqlite_col_str(ra, 5);
            a->disposition = sqlite_col_str(ra, 6);
            a->reason = sqlite_col_str(ra, 7);
        }
        rc = SQLITE_OK;
    }
    sqlite3_reset(ra);
    return rc == SQLITE_DONE ? SQLITE_OK : rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

/* row_to_msg - a record from one report row, its recipients and results; caller frees */
static int row_to_msg(sqlite3_stmt *row, sqlite3_stmt *rq, sqlite3_stmt *ra,
                      struct ledger_msg **out)
{
    struct ledger_msg *m = xcalloc(1, sizeof(*m));
    const unsigned char *uid = sqlite3_column_text(row, 1);
    const unsigned char *dir = sqlite3_column_text(row, 6);
    int rc;

    /* uids are written by ledger_msg_new(): 32 hex characters. */
    if (uid && !strlcpy_ok(m->uid, (const char *)uid, sizeof(m->uid)))
        debug("database: message uid %s cut", (const char *)uid);
    m->host = sqlite_col_str(row, 2);
    m->queue_id = sqlite_col_str(row, 3);
    m->message_id = sqlite_col_str(row, 4);
    m->date_header = sqlite_col_str(row, 5);
    m->direction =
        dir && strcmp((const char *)dir, "outbound") == 0 ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    m->client_ip = sqlite_col_str(row, 7);
    m->client_ptr = sqlite_col_str(row, 8);
    m->helo = sqlite_col_str(row, 9);
    m->sasl_user = sqlite_col_str(row, 10);
    m->mail_from = sqlite_col_str(row, 11);
    m->header_from = sqlite_col_str(row, 12);
    m->subject = sqlite_col_str(row, 13);
    m->size = sqlite3_column_int64(row, 14);
    m->action = sqlite_col_str(row, 15);
    m->received_at = sqlite3_column_int64(row, 16);
    rc = sqlite3_bind_int64(rq, 1, sqlite3_column_int64(row, 0));
    while (rc == SQLITE_OK && (rc = sqlite3_step(rq)) == SQLITE_ROW) {
        const unsigned char *a = sqlite3_column_text(rq, 0);

        ledger_msg_add_rcpt(m, a ? (const char *)a : "");
        rc = SQLITE_OK;
    }
    sqlite3_reset(rq);
    if (rc == SQLITE_DONE)
        rc = load_auth(ra, sqlite3_column_int64(row, 0), m);
    else if (rc == SQLITE_OK)
        rc = SQLITE_ERROR;
    if (rc != SQLITE_OK) {
        ledger_msg_free(m);
        return rc;
    }
    *out = m;
    return SQLITE_OK;
}

/* sqlite_bind_named_int - bind an int64 to :name if the statement uses it */
int sqlite_bind_named_int(sqlite3_stmt *st, const char *name, sqlite3_int64 v)
{
    int i = sqlite3_bind_parameter_index(st, name);

    return i > 0 ? sqlite3_bind_int64(st, i, v) : SQLITE_OK;
}

/* sqlite_bind_named_str - bind a string to :name if the statement uses it */
int sqlite_bind_named_str(sqlite3_stmt *st, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(st, name);

    return i > 0 ? sqlite_bind_str(st, i, v) : SQLITE_OK;
}

/* A filter that is one bound text value: the SQL it adds, its parameter, its value. */
struct text_filter {
    const char *sql, *param, *value;
};

/* sqlite_report_messages - call fn for each matching message, oldest first */
enum store_status sqlite_report_messages(struct store *s, const struct store_msg_filter *f,
                                         int (*fn)(const struct ledger_msg *m, void *arg),
                                         void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    struct buf sql = BUF_INIT, like = BUF_INIT;
    sqlite3_stmt *st = NULL, *rq = NULL, *ra = NULL;
    enum store_status status = STORE_OK;
    int rc;

    if (f->subject) { /* "%TEXT%" with LIKE's own characters escaped */
        buf_putc(&like, '%');
        for (const char *p = f->subject; *p; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                buf_putc(&like, '\\');
            buf_putc(&like, *p);
        }
        buf_putc(&like, '%');
    }
    const struct text_filter tf[] = {
        {" AND (mail_from = :sender COLLATE NOCASE OR header_from = :sender COLLATE NOCASE)",
         ":sender", f->sender},
        {" AND (substr(mail_from, -length(:sdom) - 1) COLLATE NOCASE = '@' || :sdom"
         " OR substr(header_from, -length(:sdom) - 1) COLLATE NOCASE = '@' || :sdom)",
         ":sdom", f->sender_domain},
        {" AND id IN (SELECT message_id FROM message_recipients"
         " WHERE address = :rcpt COLLATE NOCASE)",
         ":rcpt", f->recipient},
        {" AND (substr(header_from, -length(:fdom) - 1) COLLATE NOCASE = '@' || :fdom"
         " OR substr(header_from, -length(:fdom) - 1) COLLATE NOCASE = '.' || :fdom)",
         ":fdom", f->from_domain},
        {" AND direction = :dir", ":dir", f->direction},
        {" AND action = :action COLLATE NOCASE", ":action", f->action},
        {" AND EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = messages.id"
         " AND a.method = 'spf' AND a.result = :spf COLLATE NOCASE)",
         ":spf", f->spf},
        {" AND EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = messages.id"
         " AND a.method = 'dkim' AND a.result = :dkim COLLATE NOCASE)",
         ":dkim", f->dkim},
        {" AND EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = messages.id"
         " AND a.method = 'dmarc' AND a.result = :dmarc COLLATE NOCASE)",
         ":dmarc", f->dmarc},
        {" AND queue_id = :qid", ":qid", f->queue_id},
        {" AND (message_id = :mid OR message_id = '<' || :mid || '>')", ":mid", f->message_id},
        {" AND subject LIKE :subj ESCAPE '\\'", ":subj", f->subject ? buf_cstr(&like) : NULL},
    };
    const size_t ntf = sizeof(tf) / sizeof(tf[0]);

    /* Only constant fragments go into the text; every value is bound. */
    if (f->limit) /* the newest limit rows, shown oldest first */
        buf_puts(&sql, "SELECT * FROM (");
    buf_puts(&sql, sql_report_cols);
    if (f->since)
        buf_puts(&sql, " AND received_at >= :since");
    if (f->until)
        buf_puts(&sql, " AND received_at < :until");
    for (size_t i = 0; i < ntf; i++)
        if (tf[i].value)
            buf_puts(&sql, tf[i].sql);
    if (f->limit)
        buf_puts(&sql, " ORDER BY received_at DESC, id DESC LIMIT :limit)");
    buf_puts(&sql, " ORDER BY received_at, id");
    rc = sqlite3_prepare_v2(ss->db, buf_cstr(&sql), -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_report_rcpts, -1, &rq, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_report_auth, -1, &ra, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":since", f->since);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":until", f->until);
    for (size_t i = 0; i < ntf && rc == SQLITE_OK; i++)
        rc = sqlite_bind_named_str(st, tf[i].param, tf[i].value);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":limit", (sqlite3_int64)f->limit);
    /* A read transaction makes the rows and their recipients one snapshot. */
    if (rc == SQLITE_OK)
        rc = sqlite_exec(ss->db, "BEGIN");
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ledger_msg *m = NULL;
        int stop;

        rc = row_to_msg(st, rq, ra, &m);
        if (rc != SQLITE_OK)
            break;
        stop = fn(m, arg);
        ledger_msg_free(m);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        status = sqlite_fail(ss, rc, "report");
    sqlite3_finalize(st);
    sqlite3_finalize(rq);
    sqlite3_finalize(ra);
    sqlite_rollback(ss); /* ends the read transaction */
    buf_free(&sql);
    buf_free(&like);
    return status;
}

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
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, n DESC, 2, 3, 4";
/* DKIM signatures per domain and signing domain, selector: most frequent first. */
static const char sql_auth_selectors_head[] =
    "SELECT x.dom, lower(a.identity), lower(a.selector), '', count(*) AS n"
    " FROM message_auth a JOIN (";
static const char sql_auth_selectors_tail[] = " AND a.method = 'dkim' AND a.selector IS NOT NULL"
                                              " GROUP BY 1, 2, 3 ORDER BY 1, n DESC, 2, 3";

/* One domain's top reasons or selectors (whichever list it is in). */
struct top_group {
    char *dom;
    size_t n;
    struct store_auth_reason r[STORE_AUTH_TOP];
    struct store_auth_selector s[STORE_AUTH_TOP];
};

struct top_list {
    struct top_group *g; /* ordered by dom (as SQLite's BINARY collation: strcmp) */
    size_t n;
};

/* auth_range - f's time range as conditions on messages m, into sql */
static void auth_range(struct buf *sql, const struct store_auth_filter *f)
{
    if (f->since)
        buf_puts(sql, " AND m.received_at >= :since");
    if (f->until)
        buf_puts(sql, " AND m.received_at < :until");
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

/* auth_source - the inbound messages of f, as subquery x, then tail and the "dom" filter */
static void auth_source(struct buf *sql, const struct store_auth_filter *f, const char *tail)
{
    buf_puts(sql, sql_auth_msgs);
    auth_range(sql, f);
    if (f->domain)
        buf_puts(sql, sql_report_auth_dom);
    buf_puts(sql, ") x");
    buf_puts(sql, tail);
    auth_dom(sql, f);
}

/* auth_prepare - prepare sql and bind f's values */
static int auth_prepare(struct sqlite_store *ss, const struct buf *sql,
                        const struct store_auth_filter *f, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(ss->db, buf_cstr(sql), -1, st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(*st, ":since", f->since);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(*st, ":until", f->until);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_str(*st, ":dom", f->domain);
    return rc;
}

/* col - text column i ("" for NULL), copied; caller frees */
static char *col(sqlite3_stmt *st, int i)
{
    char *t = sqlite_col_str(st, i);

    return t ? t : xstrdup("");
}

/* load_top - the first STORE_AUTH_TOP rows per domain of a reasons or selectors query */
static int load_top(struct sqlite_store *ss, const struct store_auth_filter *f, bool selectors,
                    struct top_list *out)
{
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    int rc;

    buf_puts(&sql, selectors ? sql_auth_selectors_head : sql_auth_reasons_head);
    auth_source(&sql, f, " ON a.message_id = x.id WHERE (");
    buf_puts(&sql, selectors ? sql_auth_selectors_tail : sql_auth_reasons_tail);
    rc = auth_prepare(ss, &sql, f, &st);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *dom = sqlite3_column_text(st, 0);
        struct top_group *g = out->n ? &out->g[out->n - 1] : NULL;

        rc = SQLITE_OK;
        dom = dom ? dom : (const unsigned char *)"";
        if (g == NULL || strcmp(g->dom, (const char *)dom) != 0) {
            out->g = xrealloc(out->g, (out->n + 1) * sizeof(*out->g));
            g = memset(&out->g[out->n++], 0, sizeof(*g));
            g->dom = xstrdup((const char *)dom);
        }
        if (g->n >= STORE_AUTH_TOP)
            continue;
        if (selectors)
            g->s[g->n] =
                (struct store_auth_selector){col(st, 1), col(st, 2), sqlite3_column_int64(st, 4)};
        else
            g->r[g->n] = (struct store_auth_reason){col(st, 1), col(st, 2), col(st, 3),
                                                    sqlite3_column_int64(st, 4)};
        g->n++;
    }
    sqlite3_finalize(st);
    buf_free(&sql);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* top_find - the group of dom in l, NULL if none */
static const struct top_group *top_find(const struct top_list *l, const char *dom)
{
    size_t lo = 0, hi = l->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->g[mid].dom, dom);

        if (c == 0)
            return &l->g[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* top_free - free a list load_top() filled */
static void top_free(struct top_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        for (size_t j = 0; j < l->g[i].n; j++) {
            free((char *)l->g[i].r[j].method);
            free((char *)l->g[i].r[j].result);
            free((char *)l->g[i].r[j].reason);
            free((char *)l->g[i].s[j].domain);
            free((char *)l->g[i].s[j].selector);
        }
        free(l->g[i].dom);
    }
    free(l->g);
}

/* sqlite_report_auth - per header.from domain counts of inbound mail */
enum store_status sqlite_report_auth(struct store *s, const struct store_auth_filter *f,
                                     int (*fn)(const struct store_auth_row *r, void *arg),
                                     void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    struct top_list reasons = {NULL, 0}, sels = {NULL, 0};
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    enum store_status status = STORE_OK;
    int rc;

    /* Only constant fragments go into the text; every value is bound. */
    buf_puts(&sql, sql_report_auth_head);
    auth_range(&sql, f);
    if (f->domain)
        buf_puts(&sql, sql_report_auth_dom);
    buf_puts(&sql, sql_report_auth_group);
    auth_dom(&sql, f);
    buf_puts(&sql, ") GROUP BY dom ORDER BY count(*) DESC, dom");
    /* One read transaction: the counts, reasons and selectors are one snapshot. */
    rc = sqlite_exec(ss->db, "BEGIN");
    if (rc == SQLITE_OK)
        rc = load_top(ss, f, false, &reasons);
    if (rc == SQLITE_OK)
        rc = load_top(ss, f, true, &sels);
    if (rc == SQLITE_OK)
        rc = auth_prepare(ss, &sql, f, &st);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *dom = sqlite3_column_text(st, 0);
        const char *d = dom ? (const char *)dom : "";
        const struct top_group *tr = top_find(&reasons, d), *ts = top_find(&sels, d);
        struct store_auth_row r = {
            .domain = d,
            .messages = sqlite3_column_int64(st, 1),
            .spf_pass = sqlite3_column_int64(st, 2),
            .spf_fail = sqlite3_column_int64(st, 3),
            .dkim_pass = sqlite3_column_int64(st, 4),
            .dkim_fail = sqlite3_column_int64(st, 5),
            .dmarc_pass = sqlite3_column_int64(st, 6),
            .dmarc_fail = sqlite3_column_int64(st, 7),
            .rejected = sqlite3_column_int64(st, 8),
            .quarantined = sqlite3_column_int64(st, 9),
            .reasons = tr ? tr->r : NULL,
            .nreasons = tr ? tr->n : 0,
            .selectors = ts ? ts->s : NULL,
            .nselectors = ts ? ts->n : 0,
        };

        if (fn(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = sqlite_fail(ss, rc, "auth report");
    sqlite3_finalize(st);
    sqlite_rollback(ss); /* ends the read transaction */
    top_free(&reasons);
    top_free(&sels);
    buf_free(&sql);
    return status;
}
