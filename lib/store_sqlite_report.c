/*
 * store_sqlite_report.c - the SQLite backend's report of messages with
 * their recipients and authentication results (per-domain authentication
 * counts: store_sqlite_rollup_auth.c). Read-only; every value is a bound
 * parameter, only constant fragments are ever added to SQL text.
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
