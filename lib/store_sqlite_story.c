/*
 * store_sqlite_story.c - the SQLite backend's part of report open and
 * report message (store_story.h): tracked rows by token, queue id or
 * ledger uid, with their recipients and opens. Read-only, in one read
 * transaction; every value is a bound parameter and the statement is
 * one of three constants chosen by an enum.
 *
 * The rows are read completely (within the bounds of store_story.h)
 * before the first callback, so a callback may use the store; called
 * from another report's callback (inside its read transaction), it
 * reads in that snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_int.h"
#include "store_sqlite_story.h"
#include "util.h"

#define TRACKED_COLS                                                                               \
    "SELECT id, token, message_uid, queue_id, mail_from, header_from, subject, mode, outcome,"     \
    " reason, created_at, coalesce(created_ms, 0), coalesce(first_open_at, 0),"                    \
    " coalesce(first_human_open_at, 0) FROM tracked_messages"
#define TRACKED_ORDER " ORDER BY created_at, id LIMIT ?2"

/* by store_story_by; the queue id has no index of its own (a walk of the table) */
static const char *const sql_tracked[] = {
    TRACKED_COLS " WHERE token = ?1" TRACKED_ORDER,
    TRACKED_COLS " WHERE queue_id = ?1" TRACKED_ORDER,
    TRACKED_COLS " WHERE message_uid = ?1" TRACKED_ORDER,
};
static const char sql_rcpts[] =
    "SELECT address FROM tracked_recipients WHERE tracked_id = ?1 ORDER BY position";
static const char sql_opens[] =
    "SELECT opened_at, class, reason, ip, user_agent, method, host FROM pixel_opens"
    " WHERE tracked_id = ?1 ORDER BY opened_at, id LIMIT ?2";
static const char sql_count[] = "SELECT count(*) FROM pixel_opens WHERE tracked_id = ?1";

/* One tracked row as read, owning its strings. */
struct row {
    sqlite3_int64 id;
    struct store_story_tracked t;
    char *str[9]; /* token, message_uid, queue_id, mail_from, header_from, subject, mode,
                     outcome, reason */
    char **rcpts;
    struct store_story_open *opens;
};

/* row_free - free what r owns */
static void row_free(struct row *r)
{
    for (size_t i = 0; i < 9; i++)
        free(r->str[i]);
    for (size_t i = 0; i < r->t.nrcpts; i++)
        free(r->rcpts[i]);
    free(r->rcpts);
    for (size_t i = 0; i < r->t.nopens; i++) {
        struct store_story_open *o = &r->opens[i];

        free((char *)o->cls);
        free((char *)o->reason);
        free((char *)o->ip);
        free((char *)o->agent);
        free((char *)o->method);
        free((char *)o->host);
    }
    free(r->opens);
}

/* read_row - the tracked row st stands on into r */
static void read_row(sqlite3_stmt *st, struct row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    for (int i = 0; i < 9; i++)
        r->str[i] = sqlite_col_str(st, i + 1);
    r->t.token = r->str[0];
    r->t.message_uid = r->str[1];
    r->t.queue_id = r->str[2];
    r->t.mail_from = r->str[3];
    r->t.header_from = r->str[4];
    r->t.subject = r->str[5];
    r->t.mode = r->str[6];
    r->t.outcome = r->str[7];
    r->t.reason = r->str[8];
    r->t.created_at = sqlite3_column_int64(st, 10);
    r->t.created_ms = sqlite3_column_int64(st, 11);
    r->t.first_open_at = sqlite3_column_int64(st, 12);
    r->t.first_human_open_at = sqlite3_column_int64(st, 13);
}

/* read_rcpts - r's recipients through rq; SQLite result code */
static int read_rcpts(sqlite3_stmt *rq, struct row *r)
{
    int rc = sqlite3_bind_int64(rq, 1, r->id);

    while (rc == SQLITE_OK && (rc = sqlite3_step(rq)) == SQLITE_ROW) {
        r->rcpts = xrealloc(r->rcpts, (r->t.nrcpts + 1) * sizeof(*r->rcpts));
        r->rcpts[r->t.nrcpts] = sqlite_col_str(rq, 0);
        if (r->rcpts[r->t.nrcpts] == NULL)
            r->rcpts[r->t.nrcpts] = xstrdup("");
        r->t.nrcpts++;
        rc = SQLITE_OK;
    }
    sqlite3_reset(rq);
    r->t.rcpts = r->rcpts;
    return rc == SQLITE_DONE ? SQLITE_OK : rc == SQLITE_OK ? SQLITE_ERROR : rc;
}

/* read_opens - r's first opens through ro and their count through rc_st; SQLite result code */
static int read_opens(sqlite3_stmt *ro, sqlite3_stmt *rc_st, struct row *r)
{
    int rc = sqlite3_bind_int64(ro, 1, r->id);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(ro, 2, STORE_STORY_OPENS_MAX);
    while (rc == SQLITE_OK && (rc = sqlite3_step(ro)) == SQLITE_ROW) {
        struct store_story_open *o;

        r->opens = xrealloc(r->opens, (r->t.nopens + 1) * sizeof(*r->opens));
        o = &r->opens[r->t.nopens++];
        o->opened_at = sqlite3_column_int64(ro, 0);
        o->cls = sqlite_col_str(ro, 1);
        o->reason = sqlite_col_str(ro, 2);
        o->ip = sqlite_col_str(ro, 3);
        o->agent = sqlite_col_str(ro, 4);
        o->method = sqlite_col_str(ro, 5);
        o->host = sqlite_col_str(ro, 6);
        rc = SQLITE_OK;
    }
    sqlite3_reset(ro);
    r->t.opens = r->opens;
    if (rc != SQLITE_DONE)
        return rc == SQLITE_OK ? SQLITE_ERROR : rc;
    rc = sqlite3_bind_int64(rc_st, 1, r->id);
    if (rc == SQLITE_OK && (rc = sqlite3_step(rc_st)) == SQLITE_ROW) {
        r->t.opens_total = sqlite3_column_int64(rc_st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_reset(rc_st);
    return rc;
}

/* sqlite_story_tracked - the tracked rows whose field by is value, oldest first */
enum store_status sqlite_story_tracked(struct store *s, enum store_story_by by, const char *value,
                                       int (*fn)(const struct store_story_tracked *t, void *arg),
                                       void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
    sqlite3_stmt *st = NULL, *rq = NULL, *ro = NULL, *rn = NULL;
    struct row *rows = NULL;
    size_t n = 0;
    bool own = sqlite3_get_autocommit(ss->db) != 0;
    int rc;

    if ((size_t)by >= sizeof(sql_tracked) / sizeof(sql_tracked[0]))
        bug("sqlite_story_tracked: by %d", (int)by);
    /* one snapshot: a read transaction of our own, or the caller's (a report's callback) */
    rc = own ? sqlite_exec(ss->db, "BEGIN") : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_tracked[by], -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_rcpts, -1, &rq, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_opens, -1, &ro, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ss->db, sql_count, -1, &rn, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 1, value);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 2, STORE_STORY_TRACKED_MAX);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows = xrealloc(rows, (n + 1) * sizeof(*rows));
        read_row(st, &rows[n++]);
        rc = read_rcpts(rq, &rows[n - 1]);
        if (rc == SQLITE_OK)
            rc = read_opens(ro, rn, &rows[n - 1]);
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    sqlite3_finalize(rq);
    sqlite3_finalize(ro);
    sqlite3_finalize(rn);
    if (rc == SQLITE_OK && own)
        rc = sqlite_exec(ss->db, "COMMIT");
    if (rc != SQLITE_OK) {
        enum store_status status = sqlite_fail(ss, rc, "story");

        if (own)
            sqlite_rollback(ss);
        for (size_t i = 0; i < n; i++)
            row_free(&rows[i]);
        free(rows);
        return status;
    }
    for (size_t i = 0; i < n; i++) {
        if (fn(&rows[i].t, arg) != 0)
            break;
    }
    for (size_t i = 0; i < n; i++)
        row_free(&rows[i]);
    free(rows);
    return STORE_OK;
}
