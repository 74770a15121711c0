/*
 * store_sqlite_keys.c - the SQLite backend's DKIM key table (schema
 * 003_dkim_keys). Every statement prepared with bound values; never
 * touches the key files themselves.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite_int.h"
#include "util.h"

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
        rc = sqlite_bind_str(st, i + 1, strs[i]);
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
        rc = sqlite_bind_str(st, 1, domain);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 2, selector);
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
        rc = sqlite_bind_str(st, 1, domain);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_str(st, 2, alg);
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
        rc = sqlite_exec(ss->db, "COMMIT");
        if (rc == SQLITE_OK)
            return STORE_OK;
        what = "commit";
    }
    st = refused ? STORE_ERROR : sqlite_fail(ss, rc, what);
    sqlite_rollback(ss);
    return st;
}

/* sqlite_put_dkim_key - insert one key, with clear refusals */
enum store_status sqlite_put_dkim_key(struct store *s, const struct store_dkim_key *k)
{
    struct sqlite_store *ss = sqlite_of(s);
    const char *alg = store_dkim_alg_name(k->algorithm);
    char old_alg[32], old_state[32], active[256];
    sqlite3_stmt *st = NULL;
    bool refused = false;
    int rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");

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
        rc = sqlite_bind_str(st, 1, k->domain);
        if (rc == SQLITE_OK)
            rc = sqlite_bind_str(st, 2, k->selector);
        if (rc == SQLITE_OK)
            rc = sqlite_bind_str(st, 3, alg);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 4, k->bits);
        if (rc == SQLITE_OK)
            rc = sqlite_bind_str(st, 5, k->key_file);
        if (rc == SQLITE_OK)
            rc = sqlite_bind_str(st, 6, store_dkim_state_name(k->state));
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
enum store_status sqlite_list_dkim_keys(struct store *s, const char *domain,
                                        int (*fn)(const struct store_dkim_key *k, void *arg),
                                        void *arg)
{
    struct sqlite_store *ss = sqlite_of(s);
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
        rc = sqlite_bind_str(st, 1, domain);
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
        status = sqlite_fail(ss, rc, "list DKIM keys");
    sqlite3_finalize(st);
    buf_free(&sql);
    return status;
}

/* sqlite_set_dkim_key_state - move a key to state; active retires the old active key */
enum store_status sqlite_set_dkim_key_state(struct store *s, const char *domain,
                                            const char *selector, enum store_dkim_state state,
                                            int64_t now)
{
    struct sqlite_store *ss = sqlite_of(s);
    const char *name = store_dkim_state_name(state);
    char alg[32], cur[32];
    bool refused = false;
    int rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");

    if (rc == SQLITE_OK)
        rc = dkim_lookup(ss, domain, selector, alg, sizeof(alg), cur, sizeof(cur));
    if (rc == SQLITE_OK && cur[0] == '\0') {
        store_set_error(s, "%s has no DKIM key with selector %s", domain, selector);
        refused = true;
    }
    if (rc == SQLITE_OK && !refused && strcmp(cur, name) == 0) {
        sqlite_rollback(ss); /* nothing to change */
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
enum store_status sqlite_remove_dkim_key(struct store *s, const char *domain, const char *selector,
                                         bool even_active)
{
    struct sqlite_store *ss = sqlite_of(s);
    char alg[32], cur[32];
    bool refused = false;
    int rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");

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
