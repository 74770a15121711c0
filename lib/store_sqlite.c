/*
 * store_sqlite.c - the SQLite backend of store.h: connections, migrations,
 * checks and the ledger's writes (each record by its kind: messages here,
 * pixel opens in store_sqlite_opens.c). Its reports live in
 * store_sqlite_report.c, its DKIM keys in store_sqlite_keys.c and its
 * tracking tables in store_sqlite_track.c; the SQL of this backend lives
 * in its store_sqlite*.c files and nowhere else.
 *
 * What happens to the files before SQLite opens them (modes, and refusing
 * planted files as root) is in store_sqlite_files.c.
 *
 * Connections run in WAL mode with a busy timeout, synchronous=NORMAL
 * and foreign keys on; writable ones also with a larger page cache and
 * fewer checkpoints (sqlite_writer_pragmas). Every statement is prepared,
 * and every value is a bound parameter: this file must never paste data
 * into SQL text. Writes
 * happen inside explicit transactions that are rolled back on any
 * failure, so a failed call leaves the database as it was.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_int.h"
#include "store_sqlite_rollup.h"
#include "store_sqlite_story.h"
#include "store_sqlite_summary.h"
#include "util.h"

#define SQLITE_BUSY_MS 5000 /* wait this long for a lock before giving up */

/*
 * Writers (the ledger above all) get a larger page cache and fewer
 * checkpoints. A group commit dirties one page of each secondary index
 * per record; with SQLite's default 2 MiB cache those pages are evicted
 * and read back within the transaction, and a checkpoint (two fsyncs)
 * followed every commit of more than 1000 pages. The WAL then grows to
 * about 16 MiB between checkpoints, and is cut back to 64 MiB at most
 * after one. synchronous stays NORMAL unless STORE_SYNC: a power loss may
 * lose the last commits, never the database; a commit has been written
 * with write(2) when it returns, so it survives the death of the process.
 */
static const char *const sqlite_writer_pragmas[] = {
    "PRAGMA cache_size = -16384",           /* KiB: 16 MiB */
    "PRAGMA wal_autocheckpoint = 4000",     /* pages: 16 MiB of WAL */
    "PRAGMA journal_size_limit = 67108864", /* bytes kept of the WAL */
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

/* sqlite_of - the SQLite handle behind s */
struct sqlite_store *sqlite_of(struct store *s)
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

/* sqlite_fail - record the connection's last error under what; returns its status */
enum store_status sqlite_fail(struct sqlite_store *ss, int rc, const char *what)
{
    enum store_status st = status_of(rc);

    int e = sqlite3_system_errno(ss->db);

    /* "disk I/O error" alone hides a full disk or a permission problem. */
    if (e != 0 && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN ||
                   (rc & 0xff) == SQLITE_FULL))
        store_set_error(&ss->base, "%s: %s (%s: %s)", what, sqlite3_errmsg(ss->db),
                        sqlite3_errstr(rc), strerror(e));
    else
        store_set_error(&ss->base, "%s: %s (%s)", what, sqlite3_errmsg(ss->db), sqlite3_errstr(rc));
    return st == STORE_OK ? STORE_ERROR : st;
}

/* sqlite_exec - run one parameterless statement to completion; SQLite result code */
int sqlite_exec(sqlite3 *db, const char *sql)
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

/* sqlite_rollback - end a failed transaction, if one is open */
void sqlite_rollback(struct sqlite_store *ss)
{
    if (!sqlite3_get_autocommit(ss->db) && sqlite_exec(ss->db, "ROLLBACK") != SQLITE_OK)
        warn("database: rollback failed: %s", sqlite3_errmsg(ss->db));
}

static const struct store_ops sqlite_ops;

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
    if (!sqlite_prepare_files(path, flags, err, errlen))
        return NULL;
    rc = sqlite3_open_v2(path, &db, oflags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, SQLITE_BUSY_MS);
        /* Read the header now, so a non-database or unreadable file fails here. */
        what = "read schema";
        rc = sqlite_exec(db, "SELECT count(*) FROM sqlite_schema");
    }
    if (rc == SQLITE_OK && !(flags & STORE_READONLY)) {
        /* WAL is a property of the file; failing to set it (read-only) is not fatal. */
        if (sqlite_exec(db, "PRAGMA journal_mode = WAL") != SQLITE_OK)
            debug("%s: cannot set WAL mode: %s", path, sqlite3_errmsg(db));
        for (size_t i = 0; i < sizeof(sqlite_writer_pragmas) / sizeof(*sqlite_writer_pragmas); i++)
            if (sqlite_exec(db, sqlite_writer_pragmas[i]) != SQLITE_OK)
                debug("%s: %s: %s", path, sqlite_writer_pragmas[i], sqlite3_errmsg(db));
    }
    if (rc == SQLITE_OK) {
        what = "set up connection";
        rc = sqlite_exec(db, (flags & STORE_SYNC) ? "PRAGMA synchronous = FULL"
                                                  : "PRAGMA synchronous = NORMAL");
        if (rc == SQLITE_OK)
            rc = sqlite_exec(db, "PRAGMA foreign_keys = ON");
    }
    if (rc != SQLITE_OK) {
        int e = db ? sqlite3_system_errno(db) : 0;

        if (!snprintf_ok(err, errlen, "%s: %s%s%s%s", what,
                         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), e ? " (" : "",
                         e ? strerror(e) : "", e ? ")" : ""))
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
    struct sqlite_store *ss = sqlite_of(s);

    sqlite3_finalize(ss->ins_msg);
    sqlite3_finalize(ss->ins_rcpt);
    sqlite3_finalize(ss->ins_auth);
    sqlite_track_finalize(ss);
    sqlite_opens_finalize(ss);
    sqlite_rollup_finalize(ss);
    if (sqlite3_close_v2(ss->db) != SQLITE_OK)
        warn("database: close: %s", sqlite3_errmsg(ss->db));
    free(ss);
}

/* sqlite_set_cache - PRAGMA cache_size in KiB (a number we format, never input text) */
static enum store_status sqlite_set_cache(struct store *s, unsigned mb)
{
    struct sqlite_store *ss = sqlite_of(s);
    char sql[64];
    int rc;

    if (!snprintf_ok(sql, sizeof(sql), "PRAGMA cache_size = -%llu", (unsigned long long)mb * 1024))
        bug("sqlite_set_cache: %u", mb);
    rc = sqlite_exec(ss->db, sql);
    return rc == SQLITE_OK ? STORE_OK : sqlite_fail(ss, rc, "set the page cache");
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
    struct sqlite_store *ss = sqlite_of(s);
    int v = -1, rc = read_version(ss->db, &v);

    if (rc != SQLITE_OK) {
        sqlite_fail(ss, rc, "read schema version");
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
    rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return sqlite_fail(ss, rc, what);
    /* Another process may have migrated while we waited for the lock. */
    rc = read_version(ss->db, &v);
    if (rc == SQLITE_OK && v > (int)newest) {
        sqlite_rollback(ss);
        store_set_error(&ss->base, "database schema version %d is newer than this binary (%zu)", v,
                        newest);
        return STORE_ERROR;
    }
    if (rc == SQLITE_OK && v >= m->version) {
        sqlite_rollback(ss);
        return STORE_OK;
    }
    /* Migration scripts are constant text from schema/, several statements each. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(ss->db, m->sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        if (!snprintf_ok(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version))
            bug("apply_one: pragma does not fit");
        rc = sqlite_exec(ss->db, pragma);
    }
    if (rc == SQLITE_OK)
        rc = sqlite_exec(ss->db, "COMMIT");
    if (rc != SQLITE_OK) {
        enum store_status st = sqlite_fail(ss, rc, what);

        sqlite_rollback(ss);
        return st;
    }
    info("database: applied %s", what);
    return STORE_OK;
}

/* sqlite_migrate - apply migrations newer than the database, in order */
static enum store_status sqlite_migrate(struct store *s, const struct store_migration *m, size_t n)
{
    struct sqlite_store *ss = sqlite_of(s);
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
        sqlite_fail(ss, rc, label);
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
        sqlite_fail(ss, rc, label);
        return -1;
    }
    return rows;
}

/* sqlite_check - integrity, foreign keys and schema version, reported into out */
static enum store_status sqlite_check(struct store *s, const struct store_migration *m, size_t n,
                                      struct buf *out)
{
    struct sqlite_store *ss = sqlite_of(s);
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

/* sqlite_bind_str - bind a C string, or NULL as SQL NULL */
int sqlite_bind_str(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* sqlite_insert_addresses - rows (id, 0, addrs[0]), (id, 1, addrs[1]) ... through st */
int sqlite_insert_addresses(sqlite3_stmt *st, sqlite3_int64 id, char *const *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite3_bind_int64(st, 1, id);

        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        if (rc == SQLITE_OK)
            rc = sqlite_bind_str(st, 3, addrs[i]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

/* insert_tracked_of - the tracked_messages row of a ledger record (milter mode) */
static int insert_tracked_of(struct sqlite_store *ss, const struct ledger_msg *m)
{
    const struct store_tracked t = {
        .token = m->track_token,
        .message_uid = m->uid,
        .queue_id = m->queue_id,
        .mail_from = m->mail_from,
        .header_from = m->header_from,
        .subject = m->subject,
        .mode = "milter",
        .outcome = m->track_outcome ? m->track_outcome : "unknown",
        .reason = m->track_reason,
        .created_at = m->received_at,
        .created_ms = m->track_ms,
        .rcpts = m->rcpts,
        .nrcpts = m->nrcpts,
    };

    return sqlite_insert_tracked(ss, &t);
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
        rc = sqlite_bind_str(st, i + 1, strs[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 14, m->size);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 15, m->action);
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
    ss->base.added++;
    id = sqlite3_last_insert_rowid(ss->db);
    if ((rc = sqlite_insert_addresses(ss->ins_rcpt, id, m->rcpts, m->nrcpts)) != SQLITE_OK)
        return rc;
    st = ss->ins_auth;
    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];
        const char *const vals[] = {a->method,    a->result, a->identity,    a->selector,
                                    a->algorithm, a->policy, a->disposition, a->reason};

        rc = sqlite3_bind_int64(st, 1, id);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        for (int k = 0; k < 8 && rc == SQLITE_OK; k++)
            rc = sqlite_bind_str(st, k + 3, vals[k]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    /* the counters of report summary and auth, in the same transaction (store_sqlite_rollup.c) */
    if ((rc = sqlite_rollup_add(ss, m, id)) != SQLITE_OK)
        return rc;
    return m->track_token ? insert_tracked_of(ss, m) : SQLITE_OK;
}

/* sqlite_prepare_cached - prepare *st once for the life of the connection */
int sqlite_prepare_cached(struct sqlite_store *ss, sqlite3_stmt **st, const char *sql)
{
    if (*st != NULL)
        return SQLITE_OK;
    return sqlite3_prepare_v3(ss->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* sqlite_put_messages - all of msgs[0..n) in one transaction, or none */
static enum store_status sqlite_put_messages(struct store *s, struct ledger_msg *const *msgs,
                                             size_t n)
{
    struct sqlite_store *ss = sqlite_of(s);
    enum store_status st;
    const char *what = "prepare";
    int rc;

    rc = sqlite_prepare_cached(ss, &ss->ins_msg, sql_ins_msg);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ss->ins_rcpt, sql_ins_rcpt);
    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ss->ins_auth, sql_ins_auth);
    if (rc == SQLITE_OK) {
        what = "begin";
        rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");
    }
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        if (msgs[i]->kind == LEDGER_OPEN) {
            size_t added = ss->base.added;

            what = "insert open";
            rc = sqlite_insert_open(ss, msgs[i]);
            /* stored now: counted for report summary (store_sqlite_rollup.c) */
            if (rc == SQLITE_OK && ss->base.added > added)
                rc = sqlite_rollup_open(ss, sqlite3_last_insert_rowid(ss->db));
        } else {
            what = "insert message";
            rc = insert_one(ss, msgs[i]);
        }
    }
    if (rc == SQLITE_OK) {
        what = "commit";
        rc = sqlite_exec(ss->db, "COMMIT");
    }
    if (rc == SQLITE_OK)
        return STORE_OK;
    st = sqlite_fail(ss, rc, what);
    sqlite_rollback(ss);
    ss->base.added = 0; /* nothing of it was stored */
    ss->base.discarded = 0;
    return st;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .version = sqlite_version,
    .set_cache = sqlite_set_cache,
    .migrate = sqlite_migrate,
    .check = sqlite_check,
    .put_messages = sqlite_put_messages,
    .report_messages = sqlite_report_messages,
    .report_auth = sqlite_report_auth,
    .ledger_summary = sqlite_ledger_summary,
    .put_dkim_key = sqlite_put_dkim_key,
    .list_dkim_keys = sqlite_list_dkim_keys,
    .set_dkim_key_state = sqlite_set_dkim_key_state,
    .remove_dkim_key = sqlite_remove_dkim_key,
    .put_track_rule = sqlite_put_track_rule,
    .list_track_rules = sqlite_list_track_rules,
    .set_track_rule_enabled = sqlite_set_track_rule_enabled,
    .remove_track_rule = sqlite_remove_track_rule,
    .put_tracked = sqlite_put_tracked,
    .forget_tracked = sqlite_forget_tracked,
    .token_key = sqlite_token_key,
    .prune_count = sqlite_prune_count,
    .prune_batch = sqlite_prune_batch,
    .summary = sqlite_summary,
    .opens_walk = sqlite_opens_walk,
    .story_tracked = sqlite_story_tracked,
};
