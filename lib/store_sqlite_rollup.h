/*
 * store_sqlite_rollup.h - the SQLite backend's counters of the ledger
 * (schema/008_rollup.sql): kept by the writer and by prune in their own
 * transactions (store_sqlite_rollup.c), read by report summary
 * (store_sqlite_rollup_mail.c). Internal to lib/.
 */
#ifndef POSTMETER_STORE_SQLITE_ROLLUP_H
#define POSTMETER_STORE_SQLITE_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>

#include "store_sqlite_int.h"
#include "store_summary.h"

#define ROLLUP_HOUR_S 3600

/*
 * The rollup columns of one message m, from a LEFT JOIN of its
 * message_auth rows a grouped by the message (GROUP BY m.received_at,
 * m.id); the codes are 008_rollup.sql's, and the migration repeats them.
 */
#define ROLLUP_CODES                                                                               \
    " coalesce((min(CASE WHEN a.method = 'spf' THEN a.position * 4 + CASE a.result"                \
    " WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 WHEN 'softfail' THEN 1 ELSE 2 END END)"                \
    " % 4 + 4) % 4, -1) AS spf,"                                                                   \
    " coalesce(max(CASE WHEN a.method = 'dkim' THEN 1 + (a.result = 'pass') END), 0) AS dkim,"     \
    " coalesce((min(CASE WHEN a.method = 'dmarc' THEN a.position * 4 + CASE a.result"              \
    " WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 ELSE 2 END END) % 4 + 4) % 4, -1) AS dmarc,"           \
    " coalesce(max(a.method = 'dkim-sign' AND a.result = 'signed'), 0) AS sig"
#define ROLLUP_COLS                                                                                \
    "(m.received_at - (m.received_at % 3600 + 3600) % 3600) / 3600 AS hour,"                       \
    " m.direction AS direction, m.action AS action, m.received_at AS received_at," ROLLUP_CODES
/* The UTC day of message m and its From domain as DMARC saw it ('' without). */
#define ROLLUP_DAY "(m.received_at - (m.received_at % 86400 + 86400) % 86400) / 86400"
#define ROLLUP_DOM                                                                                 \
    "coalesce((SELECT lower(d.identity) FROM message_auth d WHERE d.message_id = m.id"             \
    " AND d.method = 'dmarc' ORDER BY d.position LIMIT 1), '')"
/* The failing results report auth lists with their reasons. */
#define ROLLUP_FAILING                                                                             \
    "a.method IN ('spf', 'dkim', 'dmarc')"                                                         \
    " AND a.result IN ('fail', 'softfail', 'temperror', 'permerror', 'policy')"

/* State of the writer's counters: statements prepared once per connection. */
struct sqlite_rollup {
    sqlite3_stmt *up_mail, *copy_first, *ins_copy;
    sqlite3_stmt *up_domain, *up_reason, *up_selector, *up_open;
};

/*
 * sqlite_rollup_add - count message m, just stored anew as row id (its
 * auth rows too), in the caller's transaction; SQLite result code
 */
int sqlite_rollup_add(struct sqlite_store *ss, const struct ledger_msg *m, sqlite3_int64 id);
/*
 * sqlite_rollup_open - count the open just stored as row id (the
 * caller's transaction); SQLite result code
 */
int sqlite_rollup_open(struct sqlite_store *ss, sqlite3_int64 id);
/*
 * sqlite_rollup_forget_opens - take the opens ids_sql chooses (as for
 * sqlite_rollup_forget) out of the counters; SQLite result code
 */
int sqlite_rollup_forget_opens(struct sqlite_store *ss, const char *ids_sql, int64_t cut,
                               unsigned limit);
/*
 * sqlite_rollup_forget - take the messages chosen by ids_sql (a constant
 * subquery of message ids, its parameters :cut and :limit bound to cut
 * and limit) out of the counters before they are deleted, in the
 * caller's transaction; SQLite result code
 */
int sqlite_rollup_forget(struct sqlite_store *ss, const char *ids_sql, int64_t cut, unsigned limit);
/* sqlite_rollup_finalize - free what the writer's counters hold */
void sqlite_rollup_finalize(struct sqlite_store *ss);

/* The SQL that tells which hours a table of counters holds (rollup_plan_make). */
struct rollup_src {
    const char *totals;    /* 1 when the counters' total equals the table's rows */
    const char *extent;    /* min and max of the rows' time, min and max hour of the counters */
    const char *hour_rows; /* rows with ?1 <= time < ?2 */
    const char *hour_sums; /* hour, total of the counters, for ?1 <= hour < ?2 */
};

/*
 * What the counters answer of a range [lo, hi) (clamped to the hours
 * that hold rows or counters; lo == hi: nothing there): the whole hours
 * [h0, h1) of it whose counters hold every row (trusted), and of those
 * the ones within one day at the caller's offset (whole).
 */
struct rollup_plan {
    int64_t lo, hi, h0, h1;
    int64_t dmin, dmax; /* first and last hour holding anything */
    int64_t rows;       /* the rows of the hours [h0, h1) */
    bool *trusted, *whole;
};

/* rollup_floor_div - a / b rounded down (b > 0) */
int64_t rollup_floor_div(int64_t a, int64_t b);
/* rollup_plan_make - the plan of [since, until) for src, days at offset off; SQLite result code */
int rollup_plan_make(struct sqlite_store *ss, const struct rollup_src *src, int64_t since,
                     int64_t until, int64_t off, struct rollup_plan *p);
/* rollup_plan_free - free what rollup_plan_make() made */
void rollup_plan_free(struct rollup_plan *p);
/*
 * rollup_plan_days - walk p's range in order: days(d0, d1) for each run
 * of UTC days [d0, d1) whose hours are all trusted (or hold nothing),
 * rows(lo, hi) for each part in between; stops at the first result
 * that is not SQLITE_OK and returns it
 */
int rollup_plan_days(const struct rollup_plan *p, int (*days)(int64_t d0, int64_t d1, void *arg),
                     int (*rows)(int64_t lo, int64_t hi, void *arg), void *arg);
/*
 * rollup_plan_hours - walk p's range in order: hours(h0, h1) for each
 * run of whole hours, rows(lo, hi) for each part in between; as
 * rollup_plan_days
 */
int rollup_plan_hours(const struct rollup_plan *p, int (*hours)(int64_t h0, int64_t h1, void *arg),
                      int (*rows)(int64_t lo, int64_t hi, void *arg), void *arg);
/* rollup_src_mail - rollup_mail's hours (for every ledger table of counters) */
extern const struct rollup_src rollup_src_mail;

/* One group of counted messages of report summary: direction, action, day. */
struct rollup_mail_row {
    const char *direction, *action;
    int64_t day; /* (t + utc_offset) / 86400, as SQLite divides */
    int64_t n, spf_pass, dkim_pass, dmarc_pass, dmarc_fail, signed_out;
};

/*
 * sqlite_rollup_top - report summary's failing From domains of p's range
 * (rollup_src_mail's plan) into out->top (xcalloc'd, f->top at most):
 * rollup_domain for whole UTC days, the rows for the rest; SQLite
 * result code
 */
int sqlite_rollup_top(struct sqlite_store *ss, const struct store_summary_filter *f,
                      const struct rollup_plan *p, struct store_summary *out);
/*
 * sqlite_rollup_opens - the opens of f's range per day (as SQLite
 * divides) and class word, one call of fn per group (a group may come
 * more than once: add them up); SQLite result code
 */
int sqlite_rollup_opens(struct sqlite_store *ss, const struct store_summary_filter *f,
                        void (*fn)(int64_t day, const char *cls, int64_t n, void *arg), void *arg);
/*
 * sqlite_rollup_mail - the counted messages of f's range (copies once),
 * one call of fn per group (a group may come more than once: add them
 * up): whole hours from rollup_mail where an hour's counters hold every
 * row of the hour, the rest row by row; SQLite result code
 */
int sqlite_rollup_mail(struct sqlite_store *ss, const struct store_summary_filter *f,
                       const struct rollup_plan *p,
                       void (*fn)(const struct rollup_mail_row *r, void *arg), void *arg);

#endif
