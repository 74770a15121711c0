/*
 * store_sqlite_rollup.c - the SQLite backend keeps its counters of the
 * ledger (schema/008_rollup.sql) in step with the rows: the writer adds
 * each message it stores anew, in its transaction (sqlite_rollup_add),
 * and a prune takes its messages out before it deletes them
 * (sqlite_rollup_forget). A message's counter key is computed here in C
 * from the record on the write path (the migration and the set-based
 * statements compute the same key in SQL: ROLLUP_COLS; the unit tests
 * hold the two to each other).
 *
 * Copies: an outbound row with a Message-ID that has an earlier outbound
 * row (received_at, id) of the same Message-ID and envelope sender is put
 * in message_copies. A record that arrives out of order (earlier than the
 * rows of its Message-ID already stored: a replayed spool) makes those
 * rows copies instead. Every value is a bound parameter; only constant
 * fragments go into SQL text.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_rollup.h"
#include "util.h"

static const char sql_up_mail[] =
    "INSERT INTO rollup_mail (hour, direction, action, copy, spf, dkim, dmarc, sig, n)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)"
    " ON CONFLICT (hour, direction, action, copy, spf, dkim, dmarc, sig) DO UPDATE SET n = n + 1";
/* The earliest other outbound row of a Message-ID and envelope sender. */
static const char sql_copy_first[] =
    "SELECT id, received_at FROM messages INDEXED BY messages_copy_key"
    " WHERE message_id = ?1 AND direction = 'outbound' AND message_id <> ''"
    " AND coalesce(mail_from, '') = coalesce(?2, '') AND id <> ?3 ORDER BY received_at, id LIMIT 1";
#define UP_DOMAIN                                                                                  \
    " ON CONFLICT (day, dom) DO UPDATE SET n = n + excluded.n,"                                    \
    " spf_pass = spf_pass + excluded.spf_pass, spf_fail = spf_fail + excluded.spf_fail,"           \
    " dkim_pass = dkim_pass + excluded.dkim_pass, dkim_fail = dkim_fail + excluded.dkim_fail,"     \
    " dmarc_pass = dmarc_pass + excluded.dmarc_pass,"                                              \
    " dmarc_fail = dmarc_fail + excluded.dmarc_fail, rejected = rejected + excluded.rejected,"     \
    " quarantined = quarantined + excluded.quarantined"
static const char sql_up_domain[] =
    "INSERT INTO rollup_domain (day, dom, n, spf_pass, spf_fail, dkim_pass, dkim_fail, dmarc_pass,"
    " dmarc_fail, rejected, quarantined)"
    " VALUES (?1, lower(coalesce(?2, '')), 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)" UP_DOMAIN;
static const char sql_up_reason[] =
    "INSERT INTO rollup_reason (day, dom, method, result, reason, n)"
    " VALUES (?1, lower(coalesce(?2, '')), ?3, ?4, coalesce(?5, ''), 1)"
    " ON CONFLICT (day, dom, method, result, reason) DO UPDATE SET n = n + 1";
static const char sql_up_selector[] =
    "INSERT INTO rollup_selector (day, dom, sdom, selector, n)"
    " VALUES (?1, lower(coalesce(?2, '')), coalesce(lower(?3), ''), lower(?4), 1)"
    " ON CONFLICT (day, dom, sdom, selector) DO UPDATE SET n = n + 1";
static const char sql_up_open[] =
    "INSERT INTO rollup_opens (hour, class, n) SELECT (opened_at - (opened_at % 3600 + 3600)"
    " % 3600) / 3600, class, 1 FROM pixel_opens WHERE id = ?1"
    " ON CONFLICT (hour, class) DO UPDATE SET n = n + 1";
static const char sql_ins_copy[] = "INSERT INTO message_copies (id, received_at) VALUES (?1, ?2)";
/* The other outbound rows of row :id's Message-ID :mid and envelope sender :from. */
#define KEY_OTHERS                                                                                 \
    "SELECT id FROM messages INDEXED BY messages_copy_key WHERE message_id = :mid"                 \
    " AND direction = 'outbound' AND message_id <> '' AND coalesce(mail_from, '') ="               \
    " coalesce(:from, '') AND id <> :id"

/*
 * apply_sql - into sql: add sign (+1 / -1) times the counters of the
 * messages ids (a constant subquery) to rollup_mail
 */
static void apply_sql(struct buf *sql, const char *ids, int sign)
{
    buf_printf(sql,
               "INSERT INTO rollup_mail (hour, direction, action, copy, spf, dkim, dmarc, sig, n)"
               " SELECT hour, direction, action, EXISTS (SELECT 1 FROM message_copies c"
               " WHERE c.id = x.id), spf, dkim, dmarc, sig, %d * count(*) FROM (SELECT m.id AS id,",
               sign);
    buf_puts(sql, ROLLUP_COLS " FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id"
                              " WHERE m.id IN (");
    buf_puts(sql, ids);
    buf_puts(sql, ") GROUP BY m.received_at, m.id) AS x WHERE true"
                  " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
                  " ON CONFLICT (hour, direction, action, copy, spf, dkim, dmarc, sig)"
                  " DO UPDATE SET n = n + excluded.n");
}

/*
 * Taking messages (opens) out of the counters: each statement is its
 * head, the constant subquery choosing the ids, and its tail.
 */
struct forget_sql {
    const char *head, *tail;
};

#define INBOUND_HEAD                                                                               \
    "(SELECT m.id AS id, " ROLLUP_DAY " AS day, " ROLLUP_DOM " AS dom FROM messages m"             \
    " WHERE m.id IN ("
#define INBOUND_TAIL ") AND m.direction = 'inbound') x JOIN message_auth a ON a.message_id = x.id"

static const struct forget_sql forget_inbound[] = {
    {"INSERT INTO rollup_domain (day, dom, n, spf_pass, spf_fail, dkim_pass, dkim_fail,"
     " dmarc_pass, dmarc_fail, rejected, quarantined) SELECT day, dom, -count(*), -sum(spf = 0),"
     " -sum(spf = 1), -sum(dkim = 2), -sum(dkim = 1), -sum(dmarc = 0), -sum(dmarc = 1),"
     " -sum(action = 'reject'), -sum(action = 'quarantine') FROM (SELECT " ROLLUP_DAY " AS day,"
     " " ROLLUP_DOM " AS dom, m.action AS action," ROLLUP_CODES
     " FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id WHERE m.id IN (",
     ") AND m.direction = 'inbound' GROUP BY m.received_at, m.id) WHERE true GROUP BY 1, "
     "2" UP_DOMAIN},
    {"INSERT INTO rollup_reason (day, dom, method, result, reason, n)"
     " SELECT x.day, x.dom, a.method, a.result, coalesce(a.reason, ''), -count(*)"
     " FROM " INBOUND_HEAD,
     INBOUND_TAIL
     " WHERE " ROLLUP_FAILING " GROUP BY 1, 2, 3, 4, 5"
     " ON CONFLICT (day, dom, method, result, reason) DO UPDATE SET n = n + excluded.n"},
    {"INSERT INTO rollup_selector (day, dom, sdom, selector, n)"
     " SELECT x.day, x.dom, coalesce(lower(a.identity), ''), lower(a.selector), -count(*)"
     " FROM " INBOUND_HEAD,
     INBOUND_TAIL " WHERE a.method = 'dkim' AND a.selector IS NOT NULL GROUP BY 1, 2, 3, 4"
                  " ON CONFLICT (day, dom, sdom, selector) DO UPDATE SET n = n + excluded.n"},
    {"DELETE FROM rollup_domain WHERE day <= :cut / 86400 AND n = 0", NULL},
    {"DELETE FROM rollup_reason WHERE day <= :cut / 86400 AND n = 0", NULL},
    {"DELETE FROM rollup_selector WHERE day <= :cut / 86400 AND n = 0", NULL},
    {"DELETE FROM message_copies WHERE id IN (", ")"},
};
static const struct forget_sql forget_opens[] = {
    {"INSERT INTO rollup_opens (hour, class, n) SELECT (opened_at - (opened_at % 3600 + 3600)"
     " % 3600) / 3600, class, -count(*) FROM pixel_opens WHERE id IN (",
     ") GROUP BY 1, 2 ON CONFLICT (hour, class) DO UPDATE SET n = n + excluded.n"},
    {"DELETE FROM rollup_opens WHERE hour <= :cut / 3600 AND n = 0", NULL},
};

/* run - prepare sql, bind the named values given, run it to its end; SQLite result code */
static int run(struct sqlite_store *ss, const char *sql, const char *mid, const char *from,
               sqlite3_int64 id, int64_t cut, unsigned limit)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_str(st, ":mid", mid);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_str(st, ":from", from);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":id", id);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":cut", cut);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":limit", limit);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* apply - add sign times the counters of the messages ids (with :mid, :from, :id, ...) */
static int apply(struct sqlite_store *ss, const char *ids, int sign, const char *mid,
                 const char *from, sqlite3_int64 id, int64_t cut, unsigned limit)
{
    struct buf sql = BUF_INIT;
    int rc;

    apply_sql(&sql, ids, sign);
    rc = run(ss, buf_cstr(&sql), mid, from, id, cut, limit);
    buf_free(&sql);
    /* a prune's empty rows are in the hours before its cut; a record out of order's anywhere */
    if (rc == SQLITE_OK)
        rc = run(ss,
                 cut ? "DELETE FROM rollup_mail WHERE hour <= :cut / 3600 AND n = 0"
                     : "DELETE FROM rollup_mail WHERE n = 0",
                 NULL, NULL, 0, cut, 0);
    return rc;
}

/*
 * later_firsts - row id of m is earlier than the rows of its Message-ID
 * already stored: the one of them counted as the first becomes a copy
 * (their counters out, the copies marked, their counters in again)
 */
static int later_firsts(struct sqlite_store *ss, const struct ledger_msg *m, sqlite3_int64 id)
{
    int rc = apply(ss, KEY_OTHERS, -1, m->message_id, m->mail_from, id, 0, 0);

    if (rc == SQLITE_OK)
        rc = run(ss,
                 "INSERT INTO message_copies (id, received_at) SELECT id, received_at"
                 " FROM messages WHERE id IN (" KEY_OTHERS ")"
                 " AND id NOT IN (SELECT id FROM message_copies)",
                 m->message_id, m->mail_from, id, 0, 0);
    if (rc == SQLITE_OK)
        rc = apply(ss, KEY_OTHERS, 1, m->message_id, m->mail_from, id, 0, 0);
    return rc;
}

/* is_copy - whether row id of m is a copy (and put it in message_copies); SQLite result code */
static int is_copy(struct sqlite_store *ss, const struct ledger_msg *m, sqlite3_int64 id, int *copy)
{
    struct sqlite_rollup *ru = ss->rollup;
    sqlite3_stmt *st = ru->copy_first;
    sqlite3_int64 fid = 0, fat = 0;
    bool found = false;
    int rc;

    *copy = 0;
    if (m->direction != LEDGER_OUTBOUND || m->message_id == NULL || m->message_id[0] == '\0')
        return SQLITE_OK;
    rc = sqlite_bind_str(st, 1, m->message_id);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 2, m->mail_from);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, id);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        found = true;
        fid = sqlite3_column_int64(st, 0);
        fat = sqlite3_column_int64(st, 1);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (!found)
        return SQLITE_OK;
    if (fat > m->received_at || (fat == m->received_at && fid > id))
        return later_firsts(ss, m, id);
    *copy = 1;
    st = ru->ins_copy;
    rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, m->received_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* code - a result word's code: 0 pass, 1 one of the words of fail, 2 any other */
static int code(const char *result, bool softfail)
{
    if (result && strcmp(result, "pass") == 0)
        return 0;
    if (result && (strcmp(result, "fail") == 0 || (softfail && strcmp(result, "softfail") == 0)))
        return 1;
    return 2;
}

/* is - whether a (a method or result word, maybe NULL) is w */
static bool is(const char *a, const char *w)
{
    return a && strcmp(a, w) == 0;
}

/* rollup_of - the writer's counter statements, made and prepared on first use */
static int rollup_of(struct sqlite_store *ss, struct sqlite_rollup **out)
{
    struct sqlite_rollup *ru;
    int rc;

    if (ss->rollup == NULL)
        ss->rollup = xcalloc(1, sizeof(*ss->rollup));
    ru = *out = ss->rollup;
    rc = sqlite_prepare_cached(ss, &ru->up_mail, sql_up_mail);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ru->copy_first, sql_copy_first);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ru->ins_copy, sql_ins_copy);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ru->up_domain, sql_up_domain);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ru->up_reason, sql_up_reason);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ru->up_selector, sql_up_selector);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ru->up_open, sql_up_open);
    return rc;
}

/* step_once - step st once (its values bound), reset it; SQLite result code */
static int step_once(sqlite3_stmt *st, int rc)
{
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* failing - whether a is a failing spf, dkim or dmarc result (ROLLUP_FAILING) */
static bool failing(const struct ledger_auth *a)
{
    static const char *const results[] = {"fail", "softfail", "temperror", "permerror", "policy"};

    if (!is(a->method, "spf") && !is(a->method, "dkim") && !is(a->method, "dmarc"))
        return false;
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
        if (is(a->result, results[i]))
            return true;
    return false;
}

/* inbound - the day, domain, reason and selector counters of inbound message m */
static int inbound(struct sqlite_rollup *ru, const struct ledger_msg *m, int spf, int dkim,
                   int dmarc, const char *dom)
{
    int64_t day = rollup_floor_div(m->received_at, 86400);
    const int v[] = {spf == 0,
                     spf == 1,
                     dkim == 2,
                     dkim == 1,
                     dmarc == 0,
                     dmarc == 1,
                     is(m->action, "reject"),
                     is(m->action, "quarantine")};
    sqlite3_stmt *st = ru->up_domain;
    int rc = sqlite3_bind_int64(st, 1, day);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 2, dom);
    for (int i = 0; i < 8 && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_int(st, i + 3, v[i]);
    rc = step_once(st, rc);
    for (size_t i = 0; i < m->nauth && rc == SQLITE_OK; i++) {
        const struct ledger_auth *a = &m->auth[i];

        if (failing(a)) {
            st = ru->up_reason;
            rc = sqlite3_bind_int64(st, 1, day);
            if (rc == SQLITE_OK)
                rc = sqlite_bind_str(st, 2, dom);
            if (rc == SQLITE_OK)
                rc = sqlite_bind_str(st, 3, a->method);
            if (rc == SQLITE_OK)
                rc = sqlite_bind_str(st, 4, a->result);
            if (rc == SQLITE_OK)
                rc = sqlite_bind_str(st, 5, a->reason);
            rc = step_once(st, rc);
        }
        if (rc == SQLITE_OK && is(a->method, "dkim") && a->selector) {
            st = ru->up_selector;
            rc = sqlite3_bind_int64(st, 1, day);
            if (rc == SQLITE_OK)
                rc = sqlite_bind_str(st, 2, dom);
            if (rc == SQLITE_OK)
                rc = sqlite_bind_str(st, 3, a->identity);
            if (rc == SQLITE_OK)
                rc = sqlite_bind_str(st, 4, a->selector);
            rc = step_once(st, rc);
        }
    }
    return rc;
}

/* sqlite_rollup_add - count message m, stored anew as row id */
int sqlite_rollup_add(struct sqlite_store *ss, const struct ledger_msg *m, sqlite3_int64 id)
{
    struct sqlite_rollup *ru;
    int spf = -1, dkim = 0, dmarc = -1, sig = 0, copy = 0;
    int64_t hour = rollup_floor_div(m->received_at, ROLLUP_HOUR_S);
    const char *dom = NULL;
    sqlite3_stmt *st;
    int rc = rollup_of(ss, &ru);

    if (rc == SQLITE_OK)
        rc = is_copy(ss, m, id, &copy);
    if (rc != SQLITE_OK)
        return rc;
    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];

        if (is(a->method, "spf") && spf < 0) {
            spf = code(a->result, true);
        } else if (is(a->method, "dkim")) {
            dkim = dkim == 2 || is(a->result, "pass") ? 2 : 1;
        } else if (is(a->method, "dmarc") && dmarc < 0) {
            dmarc = code(a->result, false);
            dom = a->identity;
        } else if (is(a->method, "dkim-sign") && is(a->result, "signed")) {
            sig = 1;
        }
    }
    st = ru->up_mail;
    rc = sqlite3_bind_int64(st, 1, hour);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 2, ledger_direction_name(m->direction));
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 3, m->action);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 4, copy);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 5, spf);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 6, dkim);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 7, dmarc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 8, sig);
    rc = step_once(st, rc);
    if (rc == SQLITE_OK && m->direction == LEDGER_INBOUND)
        rc = inbound(ru, m, spf, dkim, dmarc, dom);
    return rc;
}

/* forget - run each statement of fs (n) with ids_sql between head and tail */
static int forget(struct sqlite_store *ss, const struct forget_sql *fs, size_t n,
                  const char *ids_sql, int64_t cut, unsigned limit)
{
    int rc = SQLITE_OK;

    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        struct buf sql = BUF_INIT;

        buf_puts(&sql, fs[i].head);
        if (fs[i].tail) {
            buf_puts(&sql, ids_sql);
            buf_puts(&sql, fs[i].tail);
        }
        rc = run(ss, buf_cstr(&sql), NULL, NULL, 0, cut, limit);
        buf_free(&sql);
    }
    return rc;
}

/* sqlite_rollup_forget - take the messages ids_sql chooses out of the counters */
int sqlite_rollup_forget(struct sqlite_store *ss, const char *ids_sql, int64_t cut, unsigned limit)
{
    int rc = apply(ss, ids_sql, -1, NULL, NULL, 0, cut, limit);

    if (rc == SQLITE_OK)
        rc = forget(ss, forget_inbound, sizeof(forget_inbound) / sizeof(forget_inbound[0]), ids_sql,
                    cut, limit);
    return rc;
}

/* sqlite_rollup_forget_opens - take the opens ids_sql chooses out of the counters */
int sqlite_rollup_forget_opens(struct sqlite_store *ss, const char *ids_sql, int64_t cut,
                               unsigned limit)
{
    return forget(ss, forget_opens, sizeof(forget_opens) / sizeof(forget_opens[0]), ids_sql, cut,
                  limit);
}

/* sqlite_rollup_open - count the open just stored as row id */
int sqlite_rollup_open(struct sqlite_store *ss, sqlite3_int64 id)
{
    struct sqlite_rollup *ru;
    int rc = rollup_of(ss, &ru);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(ru->up_open, 1, id);
    return step_once(ru->up_open, rc);
}

/* sqlite_rollup_finalize - free what the writer's counters hold */
void sqlite_rollup_finalize(struct sqlite_store *ss)
{
    if (ss->rollup == NULL)
        return;
    sqlite3_finalize(ss->rollup->up_mail);
    sqlite3_finalize(ss->rollup->copy_first);
    sqlite3_finalize(ss->rollup->ins_copy);
    sqlite3_finalize(ss->rollup->up_domain);
    sqlite3_finalize(ss->rollup->up_reason);
    sqlite3_finalize(ss->rollup->up_selector);
    sqlite3_finalize(ss->rollup->up_open);
    free(ss->rollup);
    ss->rollup = NULL;
}
