/*
 * rollup_fixture.h - what test_store_rollup.c shares with its fixture
 * (rollup_fixture.c): the ledger it writes, the recount of the counters,
 * a copy without counters, and reports as text to compare.
 */
#ifndef POSTMETER_TEST_ROLLUP_FIXTURE_H
#define POSTMETER_TEST_ROLLUP_FIXTURE_H

#include <stdbool.h>

#include <sqlite3.h>

#include "store.h"
#include "store_summary.h"

#define T0   1774569600LL  /* 2026-03-27T00:00:00Z; Berlin's clocks go forward on the 29th */
#define SPAN (4 * 86400LL) /* the messages' times: [T0, T0 + SPAN) */

/* rollup_mail's rows, in order */
#define ROLLUP_COUNTERS                                                                            \
    "SELECT hour, direction, action, copy, spf, dkim, dmarc, sig, n FROM rollup_mail"              \
    " WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"

/* rollup_fill - put the fixed sequence's messages and opens through the store, one batch twice */
void rollup_fill(struct store *s);
/* rollup_rows_text - every row of sql on db, one line each, "|" between columns; caller frees */
char *rollup_rows_text(sqlite3 *db, const char *sql);
/*
 * rollup_check_counters - every table of counters at path holds the
 * recount of its rows (copies: by the rows' times if window, else
 * message_copies); every copy is marked
 */
void rollup_check_counters(const char *path, bool window);
/* rollup_emptied - a copy of path without counters (a new file; caller frees the name) */
char *rollup_emptied(const char *path);
/* rollup_summary_text - every number of report summary of f but the file's size; caller frees */
char *rollup_summary_text(struct store *s, const struct store_summary_filter *f);
/* rollup_auth_text - report auth of f, every row and field; caller frees */
char *rollup_auth_text(struct store *s, const struct store_auth_filter *f);

#endif
