/*
 * store_sqlite_track.c - the SQLite backend's tracking tables (schema
 * 004_tracking, token_key): rules, tracked messages with their
 * recipients, and the token key. Every statement prepared with bound
 * values; the key is never put in an error message.
 */
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_int.h"
#include "util.h"

static const char sql_rule_insert[] =
    "INSERT INTO tracking_rules (field, pattern, enabled, note, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_rule_exists[] =
    "SELECT id FROM tracking_rules WHERE field = ?1 AND pattern = ?2";
static const char sql_rule_list[] =
    "SELECT id, field, pattern, enabled, note, created_at FROM tracking_rules ORDER BY id";
static const char sql_rule_enable[] = "UPDATE tracking_rules SET enabled = ?2 WHERE id = ?1";
static const char sql_rule_delete[] = "DELETE FROM tracking_rules WHERE id = ?1";
static const char sql_tracked_insert[] =
    "INSERT INTO tracked_messages (token, message_uid, queue_id, mail_from, header_from, subject,"
    " mode, outcome, reason, created_at, created_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_tracked_delete[] = "DELETE FROM tracked_messages WHERE token = ?1";
static const char sql_tracked_rcpt_insert[] =
    "INSERT INTO tracked_recipients (tracked_id, position, address) VALUES (?1, ?2, ?3)";
static const char sql_token_key[] = "SELECT key FROM token_key WHERE id = 1";

/* sqlite_put_track_rule - insert one rule unless the same one exists */
enum store_status sqlite_put_track_rule(struct store *s, const struct store_track_rule *r,
                                        int64_t *id)
{
    struct sqlite_store *ss = sqlite_of(s);
    const char *field = store_track_field_name(r->field);
    sqlite3_stmt *st = NULL;
    int rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");
    bool refused = false;

    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_rule_exists, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 1, field);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 2, r->pattern);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        store_set_error(s, "there is already a %s rule for %s (rule %lld)", field, r->pattern,
                        (long long)sqlite3_column_int64(st, 0));
        refused = true;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK && !refused)
        rc = sqlite3_prepare_v2(ss->db, sql_rule_insert, -1, &st, NULL);
    if (rc == SQLITE_OK && !refused) {
        rc = sqlite_bind_str(st, 1, field);
        if (rc == SQLITE_OK)
            rc = sqlite_bind_str(st, 2, r->pattern);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int(st, 3, r->enabled ? 1 : 0);
        if (rc == SQLITE_OK)
            rc = sqlite_bind_str(st, 4, r->note);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 5, r->created_at);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE) {
            rc = SQLITE_OK;
            if (id)
                *id = sqlite3_last_insert_rowid(ss->db);
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && !refused && (rc = sqlite_exec(ss->db, "COMMIT")) == SQLITE_OK)
        return STORE_OK;
    if (refused) {
        sqlite_rollback(ss);
        return STORE_ERROR;
    }
    {
        enum store_status status = sqlite_fail(ss, rc, "add tracking rule");

        sqlite_rollback(ss);
        return status;
    }
}

/* sqlite_list_track_rules - every rule by id */
enum store_status sqlite_list_track_rules(struct store *s,
                                          int (*fn)(const struct store_track_rule *r, void *arg),
                                          void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    enum store_status status = STORE_OK;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql_rule_list, -1, &st, NULL);

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *field = (const char *)sqlite3_column_text(st, 1);
        const char *pattern = (const char *)sqlite3_column_text(st, 2);
        struct store_track_rule r = {
            .id = sqlite3_column_int64(st, 0),
            .pattern = pattern ? pattern : "",
            .enabled = sqlite3_column_int(st, 3) != 0,
            .note = (const char *)sqlite3_column_text(st, 4),
            .created_at = sqlite3_column_int64(st, 5),
        };

        if (!store_track_field_parse(field, &r.field)) {
            store_set_error(s, "tracking rule %lld: unknown field \"%s\"", (long long)r.id,
                            field ? field : "");
            status = STORE_ERROR;
            rc = SQLITE_DONE;
            break;
        }
        if (fn(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = sqlite_fail(ss, rc, "list tracking rules");
    sqlite3_finalize(st);
    return status;
}

/* change_rule - run sql on rule id (binding ?2 = v when with_value); STORE_ERROR if no such rule */
static enum store_status change_rule(struct store *s, const char *sql, int64_t id, bool with_value,
                                     int v, const char *what)
{
    struct sqlite_store *ss = sqlite_of(s);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK && with_value)
        rc = sqlite3_bind_int(st, 2, v);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite_fail(ss, rc == SQLITE_OK ? SQLITE_ERROR : rc, what);
    if (sqlite3_changes(ss->db) == 0) {
        store_set_error(s, "there is no tracking rule %lld", (long long)id);
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* sqlite_set_track_rule_enabled - switch a rule */
enum store_status sqlite_set_track_rule_enabled(struct store *s, int64_t id, bool enabled)
{
    return change_rule(s, sql_rule_enable, id, true, enabled ? 1 : 0, "change tracking rule");
}

/* sqlite_remove_track_rule - delete a rule */
enum store_status sqlite_remove_track_rule(struct store *s, int64_t id)
{
    return change_rule(s, sql_rule_delete, id, false, 0, "remove tracking rule");
}

/* sqlite_insert_tracked - t and its recipients, in the caller's transaction */
int sqlite_insert_tracked(struct sqlite_store *ss, const struct store_tracked *t)
{
    const char *const strs[] = {t->token,     t->message_uid, t->queue_id,
                                t->mail_from, t->header_from, t->subject,
                                t->mode,      t->outcome,     t->reason};
    sqlite3_int64 id;
    sqlite3_stmt *st;
    int rc = sqlite_prepare_cached(ss, &ss->ins_tracked, sql_tracked_insert);

    if (rc == SQLITE_OK)
        rc = sqlite_prepare_cached(ss, &ss->ins_tracked_rcpt, sql_tracked_rcpt_insert);
    if (rc != SQLITE_OK)
        return rc;
    st = ss->ins_tracked;
    for (int i = 0; i < 9 && rc == SQLITE_OK; i++)
        rc = sqlite_bind_str(st, i + 1, strs[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 10, t->created_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 11, t->created_ms ? t->created_ms : t->created_at * 1000);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    id = sqlite3_last_insert_rowid(ss->db);
    return sqlite_insert_addresses(ss->ins_tracked_rcpt, id, t->rcpts, t->nrcpts);
}

/* sqlite_put_tracked - one tracked message in its own transaction */
enum store_status sqlite_put_tracked(struct store *s, const struct store_tracked *t)
{
    struct sqlite_store *ss = sqlite_of(s);
    enum store_status status;
    const char *what = "begin";
    int rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");

    if (rc == SQLITE_OK) {
        what = "record tracked message";
        rc = sqlite_insert_tracked(ss, t);
    }
    if (rc == SQLITE_OK) {
        what = "commit";
        rc = sqlite_exec(ss->db, "COMMIT");
    }
    if (rc == SQLITE_OK)
        return STORE_OK;
    status = sqlite_fail(ss, rc, what);
    sqlite_rollback(ss);
    return status;
}

/* sqlite_forget_tracked - delete one token's row (its recipients go by the foreign key) */
enum store_status sqlite_forget_tracked(struct store *s, const char *token)
{
    struct sqlite_store *ss = sqlite_of(s);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql_tracked_delete, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 1, token);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE
               ? STORE_OK
               : sqlite_fail(ss, rc == SQLITE_OK ? SQLITE_ERROR : rc, "forget tracked message");
}

/* sqlite_token_key - the one row of token_key */
enum store_status sqlite_token_key(struct store *s, unsigned char key[32])
{
    struct sqlite_store *ss = sqlite_of(s);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql_token_key, -1, &st, NULL);
    enum store_status status = STORE_OK;

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB &&
        sqlite3_column_bytes(st, 0) == 32) {
        memcpy(key, sqlite3_column_blob(st, 0), 32);
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        store_set_error(s, "the database has no token key of 32 bytes");
        status = STORE_ERROR;
    } else {
        status = sqlite_fail(ss, rc, "read the token key");
    }
    sqlite3_finalize(st);
    return status;
}

/* sqlite_track_finalize - free the cached statements */
void sqlite_track_finalize(struct sqlite_store *ss)
{
    sqlite3_finalize(ss->ins_tracked);
    sqlite3_finalize(ss->ins_tracked_rcpt);
    ss->ins_tracked = ss->ins_tracked_rcpt = NULL;
}
