/*
 * ledger_records.h - what bench/ledger_bench.c stores: records like the
 * milter writes for real mail (about 80% inbound with spf, dkim and dmarc
 * results, two recipients, field sizes like real mail), the databases
 * they go into (a migrated template copied per run, checked afterwards),
 * and the "direct" path: the store's own statements and pragmas, run by
 * the caller without the ledger writer. Every failure dies.
 */
#ifndef POSTMETER_BENCH_LEDGER_RECORDS_H
#define POSTMETER_BENCH_LEDGER_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "ledger_msg.h"

/* make_msgs - n records of round r (caller frees the array and each) */
struct ledger_msg **make_msgs(size_t n, size_t r, bool ordered_uid);
/* field_bytes - bytes of field data in m (strings and recipients) */
size_t field_bytes(const struct ledger_msg *m);

/* remove_db - remove the database file path and its companions */
void remove_db(const char *path);
/* make_template - an empty database at path with the current schema */
void make_template(const char *path);
/* fresh_db - path becomes a copy of the template database */
void fresh_db(const char *template, const char *path);
/* check_db - the database holds exactly n messages, 2n recipients and nauth results */
void check_db(const char *path, size_t n, size_t nauth, const char *what);
/* exec_or_die - run one statement without results */
void exec_or_die(sqlite3 *db, const char *sql);

/* The direct runs' prepared statements. */
struct direct_stmts {
    sqlite3_stmt *msg, *rcpt, *auth;
};

/* direct_setup - the store's pragmas (and extra_sql, if any) on db, and its statements in ds */
void direct_setup(sqlite3 *db, const char *extra_sql, struct direct_stmts *ds);
/* direct_insert - one record, its recipients and results, as store_sqlite.c does */
void direct_insert(sqlite3 *db, const struct direct_stmts *ds, const struct ledger_msg *m);
/* direct_finalize - the statements of direct_setup() */
void direct_finalize(struct direct_stmts *ds);

#endif
