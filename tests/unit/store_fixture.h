/*
 * store_fixture.h - what the store unit tests share (test_store.c: the
 * schema, migrations, checks, open errors and read-only access;
 * test_store_ledger.c: ledger records put and reported): a private
 * temporary directory with a fresh database name per call, an open that
 * must succeed, a query on a separate connection, and the records specs[]
 * (each carries its sequence number in size).
 */
#ifndef POSTMETER_TEST_STORE_FIXTURE_H
#define POSTMETER_TEST_STORE_FIXTURE_H

#include <stddef.h>

#include "ledger_msg.h"
#include "store.h"

#define NSPECS ((size_t)5) /* records in specs[] (store_fixture.c) */

/* new_db - a fresh database file name in the test directory (static buffer) */
const char *new_db(void);
/* open_ok - store_open that must succeed */
struct store *open_ok(const char *path, int flags);
/* sql_int - first column of the first row of sql on a separate connection (-1 if no row) */
long long sql_int(const char *path, const char *sql);
/* spec_msg - record i (< NSPECS) of specs, every other field set from i; caller frees */
struct ledger_msg *spec_msg(size_t i);
/* store_fixture_dir - the private temporary directory of this run */
const char *store_fixture_dir(void);
/* store_fixture_setup - a private temporary directory */
int store_fixture_setup(void **state);
/* store_fixture_teardown - remove the temporary directory and everything in it */
int store_fixture_teardown(void **state);

#endif
