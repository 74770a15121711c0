/*
 * store_sqlite_opens.c - the SQLite backend's pixel opens (schema
 * 006_opens, 007_token_key): an open record of the ledger (LEDGER_OPEN)
 * becomes one pixel_opens row, inside the caller's batch transaction,
 * and moves its message's first_open_at / first_human_open_at.
 *
 * An open is stored only if its token is in tracked_messages; otherwise
 * it is discarded and counted (store_discarded()). Here, where the
 * message's accept time is known, an open sooner than the record's
 * open_min_ms after it becomes a scanner's (the open_min_seconds rule of
 * tracker-httpd/classify.c's table), unless a request rule already made
 * it one. It must never store anything of the request beyond the
 * record's open fields, and never paste a value into SQL text.
 */
#include <sqlite3.h>

#include "store_sqlite_int.h"

/*
 * The token is looked up in the same statement: no row for an unknown
 * token. after_ms is how long after its message's acceptance the open
 * came (created_ms is NULL for rows older than the column).
 */
static const char sql_open_insert[] =
    "INSERT INTO pixel_opens (uid, tracked_id, opened_at, ip, user_agent, method, class, reason,"
    " host)"
    " SELECT ?1, id, ?3, ?4, ?5, ?6, CASE WHEN soon THEN 'scanner' ELSE ?7 END,"
    "  CASE WHEN soon THEN 'opened ' || after_ms || ' ms after acceptance (open_min_seconds)'"
    "  ELSE ?8 END, ?9"
    " FROM (SELECT id, ?11 - coalesce(created_ms, created_at * 1000) AS after_ms,"
    "  ?7 <> 'scanner' AND ?10 > 0 AND ?11 - coalesce(created_ms, created_at * 1000) < ?10"
    "  AS soon FROM tracked_messages WHERE token = ?2)"
    " WHERE true ON CONFLICT (uid) DO NOTHING";
static const char sql_open_seen[] = "SELECT 1 FROM pixel_opens WHERE uid = ?1";
/*
 * The open just inserted (its class final) moves its message's first
 * opens, written only when it is earlier (replays come in any order).
 * Measured with 600,000 opens of 10,000 messages in batches of 500
 * (release build, 2 shared cores): about 28,000 opens/s against about
 * 32,000 without this statement; the same columns through RETURNING on
 * the insert instead of last_insert_rowid() gave about 27,000.
 */
static const char sql_open_first[] =
    "UPDATE tracked_messages SET first_open_at = min(coalesce(first_open_at, o.at), o.at),"
    " first_human_open_at = CASE WHEN o.human"
    "  THEN min(coalesce(first_human_open_at, o.at), o.at) ELSE first_human_open_at END"
    " FROM (SELECT tracked_id, opened_at AS at, class IN ('human', 'proxy') AS human"
    "  FROM pixel_opens WHERE id = last_insert_rowid()) AS o"
    " WHERE tracked_messages.id = o.tracked_id AND (first_open_at IS NULL OR first_open_at > o.at"
    "  OR (o.human AND (first_human_open_at IS NULL OR first_human_open_at > o.at)))";

/* open_stored - whether an open with uid is already stored (*seen); SQLite result code */
static int open_stored(struct sqlite_store *ss, const char *uid, bool *seen)
{
    sqlite3_stmt *st;
    int rc = sqlite_prepare_cached(ss, &ss->open_seen, sql_open_seen);

    if (rc != SQLITE_OK)
        return rc;
    st = ss->open_seen;
    rc = sqlite_bind_str(st, 1, uid);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *seen = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* open_first - the open just inserted moves its message's first opens */
static int open_first(struct sqlite_store *ss)
{
    int rc = sqlite_prepare_cached(ss, &ss->open_first, sql_open_first);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(ss->open_first);
    sqlite3_reset(ss->open_first);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * sqlite_insert_open - the pixel_opens row of open m, in the caller's
 * transaction: counted in added if stored now, in discarded if its token
 * is unknown, in neither if its uid is already stored (a replay).
 * SQLite result code.
 */
int sqlite_insert_open(struct sqlite_store *ss, const struct ledger_msg *m)
{
    const char *const strs[] = {m->uid,        m->open_token,  NULL,
                                m->open_ip,    m->open_agent,  m->open_method,
                                m->open_class, m->open_reason, m->host};
    sqlite3_stmt *st;
    bool seen = false;
    int rc = sqlite_prepare_cached(ss, &ss->ins_open, sql_open_insert);

    if (rc != SQLITE_OK)
        return rc;
    st = ss->ins_open;
    for (int i = 0; i < 9 && rc == SQLITE_OK; i++)
        rc = i == 2 ? sqlite3_bind_int64(st, 3, m->received_at)
                    : sqlite_bind_str(st, i + 1, strs[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 10, m->open_min_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 11, m->open_ms ? m->open_ms : m->received_at * 1000);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (sqlite3_changes(ss->db) > 0) {
        ss->base.added++;
        return open_first(ss);
    }
    /* Nothing inserted: a replayed open, or one of a token nobody tracked. */
    if ((rc = open_stored(ss, m->uid, &seen)) != SQLITE_OK)
        return rc;
    if (!seen)
        ss->base.discarded++;
    return SQLITE_OK;
}

/* sqlite_opens_finalize - free the statements sqlite_insert_open caches */
void sqlite_opens_finalize(struct sqlite_store *ss)
{
    sqlite3_finalize(ss->ins_open);
    sqlite3_finalize(ss->open_seen);
    sqlite3_finalize(ss->open_first);
    ss->ins_open = ss->open_seen = ss->open_first = NULL;
}
