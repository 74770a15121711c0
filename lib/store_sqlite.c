/*
 * store_sqlite.c - the SQLite backend of store.h: all of its SQL lives
 * here.
 *
 * Connections run in WAL mode with a busy timeout, synchronous=NORMAL
 * and foreign keys on. Every statement is prepared, and every value is a
 * bound parameter: this file must never paste data into SQL text. Writes
 * happen inside explicit transactions that are rolled back on any
 * failure, so a failed call leaves the database as it was.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store_backend.h"
#include "util.h"

#define SQLITE_BUSY_MS 5000 /* wait this long for a lock before giving up */

struct sqlite_store {
    struct store base; /* first: a struct store * is a struct sqlite_store * */
    sqlite3 *db;
    int flags;
    sqlite3_stmt *ins_msg;  /* cached by put_messages */
    sqlite3_stmt *ins_rcpt; /* cached by put_messages */
    sqlite3_stmt *ins_auth; /* cached by put_messages */
};

static const char sql_ins_msg[] =
    "INSERT INTO messages (uid, host, queue_id, message_id, date_header, direction,"
    " client_ip, client_ptr, helo, sasl_user, mail_from, header_from, subject, size,"
    " action, received_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    " ON CONFLICT (uid) DO NOTHING";
static const char sql_ins_rcpt[] =
    "INSERT INTO message_recipients (message_id, position, address) VALUES (?1, ?2, ?3)";
static const char sql_ins_auth[] =
    "INSERT INTO message_auth (message_id, position, method, result, identity, selector,"
    " algorithm, policy, disposition, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_report_auth[] =
    "SELECT method, result, identity, selector, algorithm, policy, disposition, reason"
    " FROM message_auth WHERE message_id = ?1 ORDER BY position";
static const char sql_report_cols[] =
    "SELECT id, uid, host, queue_id, message_id, date_header, direction, client_ip,"
    " client_ptr, helo, sasl_user, mail_from, header_from, subject, size, action,"
    " received_at FROM messages WHERE 1";
static const char sql_report_rcpts[] =
    "SELECT address FROM message_recipients WHERE message_id = ?1 ORDER BY position";

/* sq - the SQLite handle behind s */
static struct sqlite_store *sq(struct store *s)
{
    return (struct sqlite_store *)s;
}

/* status_of - store status for an SQLite result code */
static enum store_status status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return STORE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
        return STORE_RETRY;
    default:
        return STORE_ERROR;
    }
}

/* fail - record the connection's last error under what; returns its status */
static enum store_status fail(struct sqlite_store *ss, int rc, const char *what)
{
    enum store_status st = status_of(rc);

    store_set_error(&ss->base, "%s: %s (%s)", what, sqlite3_errmsg(ss->db), sqlite3_errstr(rc));
    return st == STORE_OK ? STORE_ERROR : st;
}

/* exec_simple - run one parameterless statement to completion; SQLite result code */
static int exec_simple(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* rollback - end a failed transaction, if one is open */
static void rollback(struct sqlite_store *ss)
{
    if (!sqlite3_get_autocommit(ss->db) && exec_simple(ss->db, "ROLLBACK") != SQLITE_OK)
        warn("database: rollback failed: %s", sqlite3_errmsg(ss->db));
}

static const struct store_ops sqlite_ops;

/*
 * heal_side_files - give -wal and -shm the database file's mode again.
 * SQLite creates them with the mode the database has at that moment, and
 * a connection that could not write leaves them behind: after an admin
 * made the database read-only and writable again, read-only side files
 * would refuse every write forever. Only files we own are touched, and
 * only write bits the database file itself has are added.
 */
static void heal_side_files(const char *path)
{
    static const char *const suffix[] = {"-wal", "-shm"};
    struct stat db, side;
    char name[4096];

    if (stat(path, &db) != 0 || access(path, W_OK) != 0)
        return;
    for (size_t i = 0; i < 2; i++) {
        if (!snprintf_ok(name, sizeof(name), "%s%s", path, suffix[i]))
            return;
        if (stat(name, &side) != 0 || side.st_uid != geteuid())
            continue;
        if ((side.st_mode & 0222) == (db.st_mode & 0222) || (side.st_mode & db.st_mode & 0200))
            continue;
        if (chmod(name, (side.st_mode | (db.st_mode & 0222)) & 07777) == 0)
            info("database: %s was read-only; made writable like %s", name, path);
        else
            warn("database: chmod %s: %m", name);
    }
}

/* store_sqlite_open - open (and set up) an SQLite database file */
struct store *store_sqlite_open(const char *path, int flags, char *err, size_t errlen)
{
    struct sqlite_store *ss;
    sqlite3 *db = NULL;
    int oflags = SQLITE_OPEN_NOMUTEX, rc;
    const char *what = "open";

    if (flags & STORE_READONLY)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | ((flags & STORE_NOCREATE) ? 0 : SQLITE_OPEN_CREATE);
    if (!(flags & STORE_READONLY))
        heal_side_files(path);
    rc = sqlite3_open_v2(path, &db, oflags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, SQLITE_BUSY_MS);
        /* Read the header now, so a non-database or unreadable file fails here. */
        what = "read schema";
        rc = exec_simple(db, "SELECT count(*) FROM sqlite_schema");
    }
    if (rc == SQLITE_OK && !(flags & STORE_READONLY)) {
        /* WAL is a property of the file; failing to set it (read-only) is not fatal. */
        if (exec_simple(db, "PRAGMA journal_mode = WAL") != SQLITE_OK)
            debug("%s: cannot set WAL mode: %s", path, sqlite3_errmsg(db));
    }
    if (rc == SQLITE_OK) {
        what = "set up connection";
        rc = exec_simple(db, "PRAGMA synchronous = NORMAL");
        if (rc == SQLITE_OK)
            rc = exec_simple(db, "PRAGMA foreign_keys = ON");
    }
    if (rc != SQLITE_OK) {
        if (!snprintf_ok(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)))
            debug("store_sqlite_open: error message cut");
        sqlite3_close_v2(db);
        return NULL;
    }
    ss = xcalloc(1, sizeof(*ss));
    ss->base.ops = &sqlite_ops;
    ss->db = db;
    ss->flags = flags;
    return &ss->base;
}

/* sqlite_close - finalize cached statements and close */
static void sqlite_close(struct store *s)
{
    struct sqlite_store *ss = sq(s);

    sqlite3_finalize(ss->ins_msg);
    sqlite3_finalize(ss->ins_rcpt);
    sqlite3_finalize(ss->ins_auth);
    if (sqlite3_close_v2(ss->db) != SQLITE_OK)
        warn("database: close: %s", sqlite3_errmsg(ss->db));
    free(ss);
}

/* read_version - PRAGMA user_version into *v; SQLite result code */
static int read_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* sqlite_version - schema version, -1 on error */
static int sqlite_version(struct store *s)
{
    struct sqlite_store *ss = sq(s);
    int v = -1, rc = read_version(ss->db, &v);

    if (rc != SQLITE_OK) {
        fail(ss, rc, "read schema version");
        return -1;
    }
    return v;
}

/* apply_one - run migration m inside its own transaction unless already applied */
static enum store_status apply_one(struct sqlite_store *ss, const struct store_migration *m,
                                   size_t newest)
{
    char pragma[64], what[128];
    int rc, v = -1;

    if (!snprintf_ok(what, sizeof(what), "migration %d (%s)", m->version, m->name))
        strcpy(what, "migration");
    rc = exec_simple(ss->db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return fail(ss, rc, what);
    /* Another process may have migrated while we waited for the lock. */
    rc = read_version(ss->db, &v);
    if (rc == SQLITE_OK && v > (int)newest) {
        rollback(ss);
        store_set_error(&ss->base, "database schema version %d is newer than this binary (%zu)", v,
                        newest);
        return STORE_ERROR;
    }
    if (rc == SQLITE_OK && v >= m->version) {
        rollback(ss);
        return STORE_OK;
    }
    /* Migration scripts are constant text from schema/, several statements each. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(ss->db, m->sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        if (!snprintf_ok(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version))
            bug("apply_one: pragma does not fit");
        rc = exec_simple(ss->db, pragma);
    }
    if (rc == SQLITE_OK)
        rc = exec_simple(ss->db, "COMMIT");
    if (rc != SQLITE_OK) {
        enum store_status st = fail(ss, rc, what);

        rollback(ss);
        return st;
    }
    info("database: applied %s", what);
    return STORE_OK;
}

/* sqlite_migrate - apply migrations newer than the database, in order */
static enum store_status sqlite_migrate(struct store *s, const struct store_migration *m, size_t n)
{
    struct sqlite_store *ss = sq(s);
    int v = sqlite_version(s);

    if (v < 0)
        return STORE_RETRY;
    if (v > (int)n) {
        store_set_error(s, "database schema version %d is newer than this binary (%zu)", v, n);
        return STORE_ERROR;
    }
    for (size_t i = (size_t)v; i < n; i++) {
        enum store_status st = apply_one(ss, &m[i], n);

        if (st != STORE_OK)
            return st;
    }
    return STORE_OK;
}

/* check_rows - run a checking pragma, one report line per row; rows seen, -1 on error */
static long check_rows(struct sqlite_store *ss, const char *sql, const char *label, struct buf *out)
{
    sqlite3_stmt *st;
    long rows = 0;
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK) {
        fail(ss, rc, label);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int cols = sqlite3_column_count(st);

        buf_printf(out, "%s:", label);
        for (int i = 0; i < cols; i++) {
            const unsigned char *t = sqlite3_column_text(st, i);

            buf_printf(out, " %s", t ? (const char *)t : "NULL");
        }
        buf_putc(out, '\n');
        rows++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fail(ss, rc, label);
        return -1;
    }
    return rows;
}

/* sqlite_check - integrity, foreign keys and schema version, reported into out */
static enum store_status sqlite_check(struct store *s, const struct store_migration *m, size_t n,
                                      struct buf *out)
{
    struct sqlite_store *ss = sq(s);
    enum store_status st = STORE_OK;
    size_t before = out->len;
    long rows;
    int v;

    rows = check_rows(ss, "PRAGMA integrity_check", "integrity", out);
    if (rows < 0) {
        buf_printf(out, "integrity: cannot check: %s\n", store_error(s));
        st = STORE_ERROR;
    } else if (rows != 1 || strcmp(buf_cstr(out) + before, "integrity: ok\n") != 0) {
        st = STORE_ERROR;
    }
    rows = check_rows(ss, "PRAGMA foreign_key_check", "foreign key violation", out);
    if (rows != 0)
        st = STORE_ERROR;
    if (rows == 0)
        buf_puts(out, "foreign keys: ok\n");
    if (!store_check_numbering(s, m, n)) {
        buf_printf(out, "migrations: %s\n", store_error(s));
        return STORE_ERROR;
    }
    v = sqlite_version(s);
    if (v < 0) {
        buf_printf(out, "schema version: cannot read: %s\n", store_error(s));
        return STORE_ERROR;
    }
    if (v == (int)n) {
        buf_printf(out, "schema version: %d (current)\n", v);
    } else if (v < (int)n) {
        buf_printf(out, "schema version: %d, this binary has %zu: run 'postmeter db migrate'\n", v,
                   n);
        st = STORE_ERROR;
    } else {
        buf_printf(out, "schema version: %d is newer than this binary (%zu)\n", v, n);
        st = STORE_ERROR;
    }
    if (st != STORE_OK)
        store_set_error(s, "database check failed");
    return st;
}

/* bind_str - bind a C string, or NULL as SQL NULL */
static int bind_str(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* insert_one - insert m and, if it is new, its recipients; SQLite result code */
static int insert_one(struct sqlite_store *ss, const struct ledger_msg *m)
{
    sqlite3_stmt *st = ss->ins_msg;
    const char *const strs[] = {m->uid,        m->host,        m->queue_id,
                                m->message_id, m->date_header, ledger_direction_name(m->direction),
                                m->client_ip,  m->client_ptr,  m->helo,
                                m->sasl_user,  m->mail_from,   m->header_from,
                                m->subject};
    sqlite3_int64 id;
    int rc = SQLITE_OK;

    for (int i = 0; i < 13 && rc == SQLITE_OK; i++)
        rc = bind_str(st, i + 1, strs[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 14, m->size);
    if (rc == SQLITE_OK)
        rc = bind_str(st, 15, m->action);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 16, m->received_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (sqlite3_changes(ss->db) == 0)
        return SQLITE_OK; /* uid already stored: a replay */
    id = sqlite3_last_insert_rowid(ss->db);
    st = ss->ins_rcpt;
    for (size_t i = 0; i < m->nrcpts; i++) {
        rc = sqlite3_bind_int64(st, 1, id);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        if (rc == SQLITE_OK)
            rc = bind_str(st, 3, m->rcpts[i]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    st = ss->ins_auth;
    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];
        const char *const vals[] = {a->method,    a->result, a->identity,    a->selector,
                                    a->algorithm, a->policy, a->disposition, a->reason};

        rc = sqlite3_bind_int64(st, 1, id);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        for (int k = 0; k < 8 && rc == SQLITE_OK; k++)
            rc = bind_str(st, k + 3, vals[k]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

/* prepare_cached - prepare *st once for the life of the connection */
static int prepare_cached(struct sqlite_store *ss, sqlite3_stmt **st, const char *sql)
{
    if (*st != NULL)
        return SQLITE_OK;
    return sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* sqlite_put_messages - all of msgs[0..n) in one transaction, or none */
static enum store_status sqlite_put_messages(struct store *s, struct ledger_msg *const *msgs,
                                             size_t n)
{
    struct sqlite_store *ss = sq(s);
    enum store_status st;
    const char *what = "prepare";
    int rc;

    rc = prepare_cached(ss, &ss->ins_msg, sql_ins_msg);
    if (rc == SQLITE_OK)
        rc = prepare_cached(ss, &ss->ins_rcpt, sql_ins_rcpt);
    if (rc == SQLITE_OK)
        rc = prepare_cached(ss, &ss->ins_auth, sql_ins_auth);
    if (rc == SQLITE_OK) {
        what = "begin";
        rc = exec_simple(ss->db, "BEGIN IMMEDIATE");
    }
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        what = "insert message";
        rc = insert_one(ss, msgs[i]);
    }
    if (rc == SQLITE_OK) {
        what = "commit";
        rc = exec_simple(ss->db, "COMMIT");
    }
    if (rc == SQLITE_OK)
        return STORE_OK;
    st = fail(ss, rc, what);
    rollback(ss);
    return st;
}

/* col_str - copy of text column i, NULL for SQL NULL; caller frees */
static char *col_str(sqlite3_stmt *st, int i)
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
            a->identity = col_str(ra, 2);
            a->selector = col_str(ra, 3);
            a->algorithm = col_str(ra, 4);
            a->policy = col_str(ra, 5);
            a->disposition = col_str(ra, 6);
            a->reason = col_str(ra, 7);
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
    m->host = col_str(row, 2);
    m->queue_id = col_str(row, 3);
    m->message_id = col_str(row, 4);
    m->date_header = col_str(row, 5);
    m->direction =
        dir && strcmp((const char *)dir, "outbound") == 0 ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    m->client_ip = col_str(row, 7);
    m->client_ptr = col_str(row, 8);
    m->helo = col_str(row, 9);
    m->sasl_user = col_str(row, 10);
    m->mail_from = col_str(row, 11);
    m->header_from = col_str(row, 12);
    m->subject = col_str(row, 13);
    m->size = sqlite3_column_int64(row, 14);
    m->action = col_str(row, 15);
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

/* bind_named_int - bind an int64 to :name if the statement uses it */
static int bind_named_int(sqlite3_stmt *st, const char *name, sqlite3_int64 v)
{
    int i = sqlite3_bind_parameter_index(st, name);

    return i > 0 ? sqlite3_bind_int64(st, i, v) : SQLITE_OK;
}

/* bind_named_str - bind a string to :name if the statement uses it */
static int bind_named_str(sqlite3_stmt *st, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(st, name);

    return i > 0 ? bind_str(st, i, v) : SQLITE_OK;
}

/* sqlite_report_messages - call fn for each matching message, oldest first */
static enum store_status sqlite_report_messages(struct store *s, const struct store_msg_filter *f,
                                                int (*fn)(const struct ledger_msg *m, void *arg),
                                                void *arg)
{
    struct sqlite_store *ss = sq(s);
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL, *rq = NULL, *ra = NULL;
    enum store_status status = STORE_OK;
    int rc;

    /* Only constant fragments go into the text; every value is bound. */
    buf_puts(&sql, sql_report_cols);
    if (f->since)
        buf_puts(&sql, " AND received_at >= :since");
    if (f->until)
        buf_puts(&sql, " AND received_at < :until");
    if (f->sender)
        buf_puts(&sql, " AND (mail_from = :sender COLLATE NOCASE"
                       " OR header_from = :sender COLLATE NOCASE)");
    if (f->recipient)
        buf_puts(&sql, " AND id IN (SELECT message_id FROM message_recipients"
                       " WHERE address = :rcpt COLLATE NOCASE)");
    buf_puts(&sql, " ORDER BY received_at, id LIMIT :limit");
    rc = sqlite3_prepare_v2(ss->db, buf_cstr(&sql), -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_report_rcpts, -1, &rq, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_report_auth, -1, &ra, NULL);
    if (rc == SQLITE_OK)
        rc = bind_named_int(st, ":since", f->since);
    if (rc == SQLITE_OK)
        rc = bind_named_int(st, ":until", f->until);
    if (rc == SQLITE_OK)
        rc = bind_named_str(st, ":sender", f->sender);
    if (rc == SQLITE_OK)
        rc = bind_named_str(st, ":rcpt", f->recipient);
    if (rc == SQLITE_OK)
        rc = bind_named_int(st, ":limit", f->limit ? (sqlite3_int64)f->limit : -1);
    /* A read transaction makes the rows and their recipients one snapshot. */
    if (rc == SQLITE_OK)
        rc = exec_simple(ss->db, "BEGIN");
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
        status = fail(ss, rc, "report");
    sqlite3_finalize(st);
    sqlite3_finalize(rq);
    sqlite3_finalize(ra);
    rollback(ss); /* ends the read transaction */
    buf_free(&sql);
    return status;
}

/* One row per inbound message with its results, then counted per domain. */
static const char sql_report_auth_head[] =
    "SELECT dom, count(*), sum(spf = 'pass'), sum(spf IN ('fail', 'softfail')),"
    " sum(dkim_pass), sum(dkim_any AND NOT dkim_pass), sum(dmarc = 'pass'),"
    " sum(dmarc = 'fail'), sum(action = 'reject'), sum(action = 'quarantine')"
    " FROM (SELECT m.action AS action,"
    "  coalesce((SELECT lower(identity) FROM message_auth a WHERE a.message_id = m.id"
    "   AND a.method = 'dmarc' ORDER BY position LIMIT 1), '') AS dom,"
    "  (SELECT result FROM message_auth a WHERE a.message_id = m.id AND a.method = 'spf'"
    "   ORDER BY position LIMIT 1) AS spf,"
    "  EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = m.id AND a.method = 'dkim'"
    "   AND a.result = 'pass') AS dkim_pass,"
    "  EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = m.id"
    "   AND a.method = 'dkim') AS dkim_any,"
    "  (SELECT result FROM message_auth a WHERE a.message_id = m.id AND a.method = 'dmarc'"
    "   ORDER BY position LIMIT 1) AS dmarc"
    "  FROM messages m WHERE m.direction = 'inbound'";

/* sqlite_report_auth - per header.from domain counts of inbound mail */
static enum store_status sqlite_report_auth(struct store *s, const struct store_auth_filter *f,
                                            int (*fn)(const struct store_auth_row *r, void *arg),
                                            void *arg)
{
    struct sqlite_store *ss = sq(s);
    struct buf sql = BUF_INIT;
    sqlite3_stmt *st = NULL;
    enum store_status status = STORE_OK;
    int rc;

    /* Only constant fragments go into the text; every value is bound. */
    buf_puts(&sql, sql_report_auth_head);
    if (f->since)
        buf_puts(&sql, " AND m.received_at >= :since");
    if (f->until)
        buf_puts(&sql, " AND m.received_at < :until");
    buf_puts(&sql, ")");
    if (f->domain)
        buf_puts(&sql, " WHERE dom = lower(:dom) OR substr(dom, -length(:dom) - 1) ="
                       " '.' || lower(:dom)");
    buf_puts(&sql, " GROUP BY dom ORDER BY count(*) DESC, dom");
    rc = sqlite3_prepare_v2(ss->db, buf_cstr(&sql), -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = bind_named_int(st, ":since", f->since);
    if (rc == SQLITE_OK)
        rc = bind_named_int(st, ":until", f->until);
    if (rc == SQLITE_OK)
        rc = bind_named_str(st, ":dom", f->domain);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *dom = sqlite3_column_text(st, 0);
        struct store_auth_row r = {
            .domain = dom ? (const char *)dom : "",
            .messages = sqlite3_column_int64(st, 1),
            .spf_pass = sqlite3_column_int64(st, 2),
            .spf_fail = sqlite3_column_int64(st, 3),
            .dkim_pass = sqlite3_column_int64(st, 4),
            .dkim_fail = sqlite3_column_int64(st, 5),
            .dmarc_pass = sqlite3_column_int64(st, 6),
            .dmarc_fail = sqlite3_column_int64(st, 7),
            .rejected = sqlite3_column_int64(st, 8),
            .quarantined = sqlite3_column_int64(st, 9),
        };

        if (fn(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = fail(ss, rc, "auth report");
    sqlite3_finalize(st);
    buf_free(&sql);
    return status;
}

/* DKIM keys (003_dkim_keys). */
static const char sql_dkim_cols[] =
    "SELECT domain, selector, algorithm, bits, key_file, state, created_at, activated_at,"
    " retired_at FROM dkim_keys";
static const char sql_dkim_order[] =
    " ORDER BY domain, CASE state WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END,"
    " algorithm, created_at, selector";
static const char sql_dkim_insert[] =
    "INSERT INTO dkim_keys (domain, selector, algorithm, bits, key_file, state, created_at,"
    " activated_at, retired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_dkim_get[] =
    "SELECT algorithm, state FROM dkim_keys WHERE domain = ?1 AND selector = ?2";
static const char sql_dkim_active_of[] =
    "SELECT selector FROM dkim_keys WHERE domain = ?1 AND algorithm = ?2 AND state = 'active'";
static const char sql_dkim_retire_others[] =
    "UPDATE dkim_keys SET state = 'retired', retired_at = ?4"
    " WHERE domain = ?1 AND algorithm = ?2 AND state = 'active' AND selector <> ?3";
static const char sql_dkim_set_state[] =
    "UPDATE dkim_keys SET state = ?3,"
    " activated_at = CASE WHEN ?3 = 'active' THEN ?4 ELSE activated_at END,"
    " retired_at = CASE WHEN ?3 = 'retired' THEN ?4 ELSE NULL END"
    " WHERE domain = ?1 AND selector = ?2";
static const char sql_dkim_delete[] = "DELETE FROM dkim_keys WHERE domain = ?1 AND selector = ?2";

/* bind_time - bind seconds since the epoch, 0 as SQL NULL */
static int bind_time(sqlite3_stmt *st, int i, int64_t t)
{
    return t ? sqlite3_bind_int64(st, i, t) : sqlite3_bind_null(st, i);
}

/* step_done - prepare sql, bind strs[0..n) as ?1.., run it to completion; SQLite result code */
static int step_done(struct sqlite_store *ss, const char *sql, const char *const *strs, int n,
                     int64_t t, int t_index)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);

    for (int i = 0; i < n && rc == SQLITE_OK; i++)
        rc = bind_str(st, i + 1, strs[i]);
    if (rc == SQLITE_OK && t_index > 0)
        rc = bind_time(st, t_index, t);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

/*
 * dkim_lookup - the algorithm and state of (domain, selector) into
 * alg[alglen] and state[statelen] ("" for both if there is no such key);
 * SQLite result code
 */
static int dkim_lookup(struct sqlite_store *ss, const char *domain, const char *selector, char *alg,
                       size_t alglen, char *state, size_t statelen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ss->db, sql_dkim_get, -1, &st, NULL);

    alg[0] = state[0] = '\0';
    if (rc == SQLITE_OK)
        rc = bind_str(st, 1, domain);
    if (rc == SQLITE_OK)
        rc = bind_str(st, 2, selector);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *a = sqlite3_column_text(st, 0), *s = sqlite3_column_text(st, 1);

        /* Both columns are CHECKed to short constants. */
        if (!strlcpy_ok(alg, a ? (const char *)a : "", alglen) ||
            !strlcpy_ok(state, s ? (const char *)s : "", statelen))
            bug("dkim_lookup: algorithm or state longer than expected");
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

/* dkim_active_selector - the active selector of (domain, alg) into sel[len] ("" if none) */
static int dkim_active_selector(struct sqlite_store *ss, const char *domain, const char *alg,
                                char *sel, size_t len)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ss->db, sql_dkim_active_of, -1, &st, NULL);

    sel[0] = '\0';
    if (rc == SQLITE_OK)
        rc = bind_str(st, 1, domain);
    if (rc == SQLITE_OK)
        rc = bind_str(st, 2, alg);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);

        if (!strlcpy_ok(sel, t ? (const char *)t : "?", len))
            debug("dkim_active_selector: selector cut");
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

/* dkim_end - commit if rc is SQLITE_OK and no error was set, else roll back */
static enum store_status dkim_end(struct sqlite_store *ss, int rc, const char *what, bool refused)
{
    enum store_status st;

    if (rc == SQLITE_OK && !refused) {
        rc = exec_simple(ss->db, "COMMIT");
        if (rc == SQLITE_OK)
            return STORE_OK;
        what = "commit";
    }
    st = refused ? STORE_ERROR : fail(ss, rc, what);
    rollback(ss);
    return st;
}

/* sqlite_put_dkim_key - insert one key, with clear refusals */
static enum store_status sqlite_put_dkim_key(struct store *s, const struct store_dkim_key *k)
{
    struct sqlite_store *ss = sq(s);
    const char *alg = store_dkim_alg_name(k->algorithm);
    char old_alg[32], old_state[32], active[256];
    sqlite3_stmt *st = NULL;
    bool refused = false;
    int rc = exec_simple(ss->db, "BEGIN IMMEDIATE");

    if (rc == SQLITE_OK)
        rc = dkim_lookup(ss, k->domain, k->selector, old_alg, sizeof(old_alg), old_state,
                         sizeof(old_state));
    if (rc == SQLITE_OK && old_state[0]) {
        store_set_error(s, "%s already has a DKIM key with selector %s (%s, %s)", k->domain,
                        k->selector, old_alg, old_state);
        refused = true;
    }
    if (rc == SQLITE_OK && !refused && k->state == STORE_DKIM_ACTIVE) {
        rc = dkim_active_selector(ss, k->domain, alg, active, sizeof(active));
        if (rc == SQLITE_OK && active[0]) {
            store_set_error(s, "%s already has an active %s key (selector %s)", k->domain, alg,
                            active);
            refused = true;
        }
    }
    if (rc == SQLITE_OK && !refused)
        rc = sqlite3_prepare_v2(ss->db, sql_dkim_insert, -1, &st, NULL);
    if (rc == SQLITE_OK && !refused) {
        rc = bind_str(st, 1, k->domain);
        if (rc == SQLITE_OK)
            rc = bind_str(st, 2, k->selector);
        if (rc == SQLITE_OK)
            rc = bind_str(st, 3, alg);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 4, k->bits);
        if (rc == SQLITE_OK)
            rc = bind_str(st, 5, k->key_file);
        if (rc == SQLITE_OK)
            rc = bind_str(st, 6, store_dkim_state_name(k->state));
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 7, k->created_at);
        if (rc == SQLITE_OK)
            rc = bind_time(st, 8, k->activated_at);
        if (rc == SQLITE_OK)
            rc = bind_time(st, 9, k->retired_at);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return dkim_end(ss, rc, "add DKIM key", refused);
}

/* sqlite_list_dkim_keys - call fn per key of domain (NULL = all) */
static enum store_status sqlite_list_dkim_keys(struct store *s, const char *domain,
                                               int (*fn)(const struct store_dkim_key *k, void *arg),
                                               void *arg)
{
    struct sqlite_store *ss = sq(s);
    struct buf sql = BUF_INIT;
    enum store_status status = STORE_OK;
    sqlite3_stmt *st = NULL;
    int rc;

    /* Only constant fragments go into the text; the domain is bound. */
    buf_puts(&sql, sql_dkim_cols);
    if (domain)
        buf_puts(&sql, " WHERE domain = ?1");
    buf_puts(&sql, sql_dkim_order);
    rc = sqlite3_prepare_v2(ss->db, buf_cstr(&sql), -1, &st, NULL);
    if (rc == SQLITE_OK && domain)
        rc = bind_str(st, 1, domain);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *alg = (const char *)sqlite3_column_text(st, 2);
        const char *state = (const char *)sqlite3_column_text(st, 5);
        const char *dom = (const char *)sqlite3_column_text(st, 0);
        const char *sel = (const char *)sqlite3_column_text(st, 1);
        const char *file = (const char *)sqlite3_column_text(st, 4);
        sqlite3_int64 bits = sqlite3_column_int64(st, 3);
        struct store_dkim_key k = {
            .domain = dom ? dom : "",
            .selector = sel ? sel : "",
            .bits = bits > 0 && bits <= 65536 ? (unsigned)bits : 0,
            .key_file = file ? file : "",
            .created_at = sqlite3_column_int64(st, 6),
            .activated_at = sqlite3_column_int64(st, 7),
            .retired_at = sqlite3_column_int64(st, 8),
        };

        /* The schema CHECKs both; anything else is a database edited by hand. */
        if (!store_dkim_alg_parse(alg, &k.algorithm) || !store_dkim_state_parse(state, &k.state)) {
            store_set_error(s, "DKIM key %s %s: unknown algorithm \"%s\" or state \"%s\"", k.domain,
                            k.selector, alg ? alg : "", state ? state : "");
            status = STORE_ERROR;
            rc = SQLITE_DONE;
            break;
        }
        if (fn(&k, arg)) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = fail(ss, rc, "list DKIM keys");
    sqlite3_finalize(st);
    buf_free(&sql);
    return status;
}

/* sqlite_set_dkim_key_state - move a key to state; active retires the old active key */
static enum store_status sqlite_set_dkim_key_state(struct store *s, const char *domain,
                                                   const char *selector,
                                                   enum store_dkim_state state, int64_t now)
{
    struct sqlite_store *ss = sq(s);
    const char *name = store_dkim_state_name(state);
    char alg[32], cur[32];
    bool refused = false;
    int rc = exec_simple(ss->db, "BEGIN IMMEDIATE");

    if (rc == SQLITE_OK)
        rc = dkim_lookup(ss, domain, selector, alg, sizeof(alg), cur, sizeof(cur));
    if (rc == SQLITE_OK && cur[0] == '\0') {
        store_set_error(s, "%s has no DKIM key with selector %s", domain, selector);
        refused = true;
    }
    if (rc == SQLITE_OK && !refused && strcmp(cur, name) == 0) {
        rollback(ss); /* nothing to change */
        return STORE_OK;
    }
    if (rc == SQLITE_OK && !refused && state == STORE_DKIM_ACTIVE) {
        const char *const args[] = {domain, alg, selector};

        rc = step_done(ss, sql_dkim_retire_others, args, 3, now, 4);
    }
    if (rc == SQLITE_OK && !refused) {
        const char *const args[] = {domain, selector, name};

        rc = step_done(ss, sql_dkim_set_state, args, 3, now, 4);
    }
    return dkim_end(ss, rc, "change DKIM key state", refused);
}

/* sqlite_remove_dkim_key - delete one key row */
static enum store_status sqlite_remove_dkim_key(struct store *s, const char *domain,
                                                const char *selector, bool even_active)
{
    struct sqlite_store *ss = sq(s);
    char alg[32], cur[32];
    bool refused = false;
    int rc = exec_simple(ss->db, "BEGIN IMMEDIATE");

    if (rc == SQLITE_OK)
        rc = dkim_lookup(ss, domain, selector, alg, sizeof(alg), cur, sizeof(cur));
    if (rc == SQLITE_OK && cur[0] == '\0') {
        store_set_error(s, "%s has no DKIM key with selector %s", domain, selector);
        refused = true;
    } else if (rc == SQLITE_OK && !even_active && strcmp(cur, "active") == 0) {
        store_set_error(s, "DKIM key %s of %s is active (it signs mail)", selector, domain);
        refused = true;
    }
    if (rc == SQLITE_OK && !refused) {
        const char *const args[] = {domain, selector};

        rc = step_done(ss, sql_dkim_delete, args, 2, 0, 0);
    }
    return dkim_end(ss, rc, "remove DKIM key", refused);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .version = sqlite_version,
    .migrate = sqlite_migrate,
    .check = sqlite_check,
    .put_messages = sqlite_put_messages,
    .report_messages = sqlite_report_messages,
    .report_auth = sqlite_report_auth,
    .put_dkim_key = sqlite_put_dkim_key,
    .list_dkim_keys = sqlite_list_dkim_keys,
    .set_dkim_key_state = sqlite_set_dkim_key_state,
    .remove_dkim_key = sqlite_remove_dkim_key,
};
