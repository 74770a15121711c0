/*
 * store_sqlite_int.h - what the SQLite backend's files share (internal to
 * lib/: store_sqlite.c, store_sqlite_files.c, store_sqlite_report.c,
 * store_sqlite_keys.c, store_sqlite_track.c, store_sqlite_status.c,
 * store_sqlite_opens.c, store_sqlite_prune.c, and the counters'
 * store_sqlite_rollup*.c).
 */
#ifndef POSTMETER_STORE_SQLITE_INT_H
#define POSTMETER_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "store_backend.h"

struct sqlite_store {
    struct store base; /* first: a struct store * is a struct sqlite_store * */
    sqlite3 *db;
    int flags;
    sqlite3_stmt *ins_msg;                        /* cached by put_messages */
    sqlite3_stmt *ins_rcpt;                       /* cached by put_messages */
    sqlite3_stmt *ins_auth;                       /* cached by put_messages */
    sqlite3_stmt *ins_tracked, *ins_tracked_rcpt; /* cached by sqlite_insert_tracked */
    sqlite3_stmt *ins_open, *open_seen;           /* cached by sqlite_insert_open */
    sqlite3_stmt *open_first;                     /* cached by sqlite_insert_open */
    struct sqlite_rollup *rollup;                 /* store_sqlite_rollup.c, made on first use */
};

/*
 * sqlite_prepare_files - before SQLite opens path: as root refuse planted
 * or redirectable files, create a new database 0640, heal side files;
 * false with a reason in err (then path must not be opened)
 */
bool sqlite_prepare_files(const char *path, int flags, char *err, size_t errlen);
/* sqlite_of - the SQLite handle behind s */
struct sqlite_store *sqlite_of(struct store *s);
/* sqlite_fail - record the connection's last error under what; returns its status */
enum store_status sqlite_fail(struct sqlite_store *ss, int rc, const char *what);
/* sqlite_exec - run one parameterless statement to completion; SQLite result code */
int sqlite_exec(sqlite3 *db, const char *sql);
/* sqlite_rollback - end a failed transaction, if one is open */
void sqlite_rollback(struct sqlite_store *ss);
/* sqlite_prepare_cached - prepare *st once for the life of the connection; SQLite result code */
int sqlite_prepare_cached(struct sqlite_store *ss, sqlite3_stmt **st, const char *sql);
/* sqlite_insert_addresses - rows (id, i, addrs[i]) through st, i = 0..n-1; SQLite result code */
int sqlite_insert_addresses(sqlite3_stmt *st, sqlite3_int64 id, char *const *addrs, size_t n);
/* sqlite_bind_str - bind a C string, or NULL as SQL NULL */
int sqlite_bind_str(sqlite3_stmt *st, int i, const char *v);
/* sqlite_col_str - copy of text column i, NULL for SQL NULL; caller frees */
char *sqlite_col_str(sqlite3_stmt *st, int i);
/* sqlite_bind_named_int - bind an int64 to :name if the statement uses it */
int sqlite_bind_named_int(sqlite3_stmt *st, const char *name, sqlite3_int64 v);
/* sqlite_bind_named_str - bind a string to :name if the statement uses it */
int sqlite_bind_named_str(sqlite3_stmt *st, const char *name, const char *v);

/* The operations of the other files (see store_backend.h). */
enum store_status sqlite_report_messages(struct store *s, const struct store_msg_filter *f,
                                         int (*fn)(const struct ledger_msg *m, void *arg),
                                         void *arg);
enum store_status sqlite_report_auth(struct store *s, const struct store_auth_filter *f,
                                     int (*fn)(const struct store_auth_row *r, void *arg),
                                     void *arg);
enum store_status sqlite_ledger_summary(struct store *s, int64_t since, int64_t *rows,
                                        int64_t *newest);
enum store_status sqlite_put_dkim_key(struct store *s, const struct store_dkim_key *k);
enum store_status sqlite_list_dkim_keys(struct store *s, const char *domain,
                                        int (*fn)(const struct store_dkim_key *k, void *arg),
                                        void *arg);
enum store_status sqlite_set_dkim_key_state(struct store *s, const char *domain,
                                            const char *selector, enum store_dkim_state state,
                                            int64_t now);
enum store_status sqlite_remove_dkim_key(struct store *s, const char *domain, const char *selector,
                                         bool even_active);
enum store_status sqlite_put_track_rule(struct store *s, const struct store_track_rule *r,
                                        int64_t *id);
enum store_status sqlite_list_track_rules(struct store *s,
                                          int (*fn)(const struct store_track_rule *r, void *arg),
                                          void *arg);
enum store_status sqlite_set_track_rule_enabled(struct store *s, int64_t id, bool enabled);
enum store_status sqlite_remove_track_rule(struct store *s, int64_t id);
enum store_status sqlite_put_tracked(struct store *s, const struct store_tracked *t);
enum store_status sqlite_forget_tracked(struct store *s, const char *token);
enum store_status sqlite_token_key(struct store *s, unsigned char key[32]);
/*
 * sqlite_insert_tracked - insert t and its recipients inside the caller's
 * transaction (the ledger's batch or put_tracked's own); SQLite result code
 */
int sqlite_insert_tracked(struct sqlite_store *ss, const struct store_tracked *t);
/* sqlite_track_finalize - free the statements sqlite_insert_tracked caches */
void sqlite_track_finalize(struct sqlite_store *ss);
/*
 * sqlite_insert_open - the pixel_opens row of open record m, in the
 * caller's transaction, if its token is tracked: counts it in added, or
 * in discarded (unknown token), or in neither (uid already stored);
 * SQLite result code
 */
int sqlite_insert_open(struct sqlite_store *ss, const struct ledger_msg *m);
/* sqlite_opens_finalize - free the statements sqlite_insert_open caches */
void sqlite_opens_finalize(struct sqlite_store *ss);
/* retention (store_sqlite_prune.c) */
enum store_status sqlite_prune_count(struct store *s, int64_t cut, struct store_prune_counts *c);
enum store_status sqlite_prune_batch(struct store *s, int64_t cut, unsigned limit,
                                     struct store_prune_counts *c, bool *more);

#endif
