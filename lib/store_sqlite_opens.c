/*
 * store_sqlite_opens.c - the SQLite backend's pixel opens (schema
 * 006_opens): an open record of the ledger (LEDGER_OPEN) becomes one
 * pixel_opens row, inside the caller's batch transaction.
 *
 * An open is stored only if its token is in tracked_messages; otherwise
 * it is discarded and counted (store_discarded()). It must never store
 * anything of the request beyond the record's open fields, and never
 * paste a value into SQL text.
 */
#include <sqlite3.h>

#include "store_sqlite_int.h"

/* The token is looked up in the same statement: no row for an unknown token. */
static const char sql_open_insert[] =
    "INSERT INTO pixel_opens (uid, tracked_id, opened_at, ip, user_agent, method, class, reason,"
    " host)"
    " SELECT ?1, id, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM tracked_messages WHERE token = ?2"
    " ON CONFLICT (uid) DO NOTHING";
static const char sql_open_seen[] = "SELECT 1 FROM pixel_opens WHERE uid = ?1";

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
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (sqlite3_changes(ss->db) > 0) {
        ss->base.added++;
        return SQLITE_OK;
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
    ss->ins_open = ss->open_seen = NULL;
}
