/*
 * store_sqlite_summary.h - the SQLite backend's operations for report
 * summary and report opens (store_sqlite_summary.c), for the ops table
 * in store_sqlite.c. Internal to lib/.
 */
#ifndef POSTMETER_STORE_SQLITE_SUMMARY_H
#define POSTMETER_STORE_SQLITE_SUMMARY_H

#include "store_summary.h"

/*
 * sqlite_summary - the ledger's numbers of f's range into out, and its
 * tracked rows through fn, in one read transaction (store_backend.h)
 */
enum store_status sqlite_summary(struct store *s, const struct store_summary_filter *f,
                                 struct store_summary *out,
                                 int (*fn)(const struct store_opens_item *it, void *arg),
                                 void *arg);
/* sqlite_opens_walk - f's tracked rows, one call of fn each (store_backend.h: opens_walk) */
enum store_status sqlite_opens_walk(struct store *s, const struct store_opens_filter *f,
                                    int (*fn)(const struct store_opens_item *it, void *arg),
                                    void *arg);

#endif
