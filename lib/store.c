/*
 * store.c - the database front door: picks a backend by the dsn and
 * forwards each operation to it.
 *
 * Holds no SQL and must never grow any: statements belong to the
 * backend files (store_sqlite.c, later store_pg.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store_backend.h"
#include "util.h"

/* is_postgres_dsn - dsn names a PostgreSQL server rather than a file */
static bool is_postgres_dsn(const char *dsn)
{
    return strncmp(dsn, "postgresql://", 13) == 0 || strncmp(dsn, "postgres://", 11) == 0;
}

/* store_open - open the database named by dsn */
struct store *store_open(const char *dsn, int flags, char *err, size_t errlen)
{
    if (dsn == NULL || dsn[0] == '\0') {
        if (!snprintf_ok(err, errlen, "no database configured"))
            bug("store_open: error buffer too small");
        return NULL;
    }
    if (is_postgres_dsn(dsn)) {
        if (!snprintf_ok(err, errlen, "not built with PostgreSQL support yet"))
            bug("store_open: error buffer too small");
        return NULL;
    }
    return store_sqlite_open(dsn, flags, err, errlen);
}

/* store_close - close and free */
struct store *store_close(struct store *s)
{
    if (s != NULL)
        s->ops->close(s);
    return NULL;
}

/* store_error - the last error of s as one line */
const char *store_error(const struct store *s)
{
    return s->err[0] ? s->err : "no error";
}

/* store_set_error - set the last error of s */
void store_set_error(struct store *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    if (n < 0)
        strcpy(s->err, "(unprintable error)");
    else if ((size_t)n >= sizeof(s->err))
        memcpy(s->err + sizeof(s->err) - 4, "...", 4);
}

/* store_check_numbering - migrations are numbered 1..n in order */
bool store_check_numbering(struct store *s, const struct store_migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].version != (int)i + 1) {
            store_set_error(s, "migration %zu (%s) has version %d, expected %zu", i,
                            m[i].name ? m[i].name : "?", m[i].version, i + 1);
            return false;
        }
    }
    return true;
}

/* store_version - schema version of the open database */
int store_version(struct store *s)
{
    return s->ops->version(s);
}

/* store_migrate - apply the migrations newer than the database */
enum store_status store_migrate(struct store *s, const struct store_migration *m, size_t n)
{
    if (!store_check_numbering(s, m, n))
        return STORE_ERROR;
    return s->ops->migrate(s, m, n);
}

/* store_check - integrity and schema version report */
enum store_status store_check(struct store *s, const struct store_migration *m, size_t n,
                              struct buf *out)
{
    return s->ops->check(s, m, n, out);
}

/* store_put_messages - write a batch of records in one transaction */
enum store_status store_put_messages(struct store *s, struct ledger_msg *const *msgs, size_t n)
{
    if (n == 0)
        return STORE_OK;
    return s->ops->put_messages(s, msgs, n);
}

/* store_report_messages - walk matching messages, oldest first */
enum store_status store_report_messages(struct store *s, const struct store_msg_filter *f,
                                        int (*fn)(const struct ledger_msg *m, void *arg), void *arg)
{
    static const struct store_msg_filter none;

    return s->ops->report_messages(s, f ? f : &none, fn, arg);
}

/* store_report_auth - per header.from domain counts of inbound mail */
enum store_status store_report_auth(struct store *s, const struct store_auth_filter *f,
                                    int (*fn)(const struct store_auth_row *r, void *arg), void *arg)
{
    static const struct store_auth_filter none;

    return s->ops->report_auth(s, f ? f : &none, fn, arg);
}
