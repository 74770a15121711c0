/*
 * store_sqlite_status.c - the SQLite backend's summary of the ledger for
 * postmeter status: rows since a time, the newest row's time.
 *
 * Read-only; both questions are answered from the received_at index,
 * never by a scan of the table.
 */
#include "store_sqlite_int.h"

/* sqlite_ledger_summary - rows with received_at >= since; newest received_at (0 = none) */
enum store_status sqlite_ledger_summary(struct store *s, int64_t since, int64_t *rows,
                                        int64_t *newest)
{
    static const char sql[] = "SELECT (SELECT count(*) FROM messages WHERE received_at >= :since),"
                              " (SELECT coalesce(max(received_at), 0) FROM messages)";
    struct sqlite_store *ss = sqlite_of(s);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":since", since);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *rows = sqlite3_column_int64(st, 0);
        *newest = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? STORE_OK : sqlite_fail(ss, rc, "ledger summary");
}
