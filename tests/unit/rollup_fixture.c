/*
 * rollup_fixture.c - what test_store_rollup.c builds and compares
 * (rollup_fixture.h): a ledger written through the store from a fixed
 * sequence (both directions, copies stored out of order, a replayed
 * batch, tracked messages and their opens), the counters recounted from
 * the rows by SQL written apart from the store's, a copy of a database
 * without counters, and report summary and report auth as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "ledger_msg.h"
#include "store.h"
#include "store_summary.h"
#include "util.h"

#include "rollup_fixture.h"
#include "store_fixture.h"

#define NMSG  600
#define BATCH 50

/* rnd - the next number of a fixed sequence (an LCG: the same rows every run) */
static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

static const char *const actions[] = {"accept",     "accept",   "accept",  "reject",
                                      "quarantine", "tempfail", "discard", "hold"};
static const char *const methods[] = {"spf", "dkim", "dmarc", "dkim-sign", "arc"};
static const char *const results[] = {"pass",    "fail",      "softfail", "none",
                                      "neutral", "temperror", "signed",   "error"};
static const char *const senders[] = {"a@x.example", "b@x.example", NULL, ""};
static const char *const domains[] = {"Y.example", "y.example", "sub.y.example", "z.example", NULL};
static const char *const reasons[] = {"body hash did not verify", "policy=reject", NULL, ""};
static const char *const classes[] = {"human", "proxy", "prefetch", "scanner"};

/* gen - message i of the sequence s; caller frees */
static struct ledger_msg *gen(uint32_t *s, size_t i)
{
    struct ledger_msg *m = ledger_msg_new();
    char mid[64];
    unsigned nauth = rnd(s) % 6;

    m->received_at = T0 + (int64_t)(rnd(s) % SPAN);
    m->direction = rnd(s) % 5 < 2 ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    if (m->direction == LEDGER_OUTBOUND) {
        unsigned k = rnd(s) % 50;

        /* few Message-IDs: copies, some stored before their first (out of order) */
        if (k < 45 && snprintf_ok(mid, sizeof(mid), "<o%u@x.example>", k % 15))
            ledger_msg_set(&m->message_id, mid);
        else if (k < 48)
            ledger_msg_set(&m->message_id, "");
        ledger_msg_set(&m->mail_from, senders[rnd(s) % 4]);
    } else {
        assert_true(snprintf_ok(mid, sizeof(mid), "<i%zu@y.example>", i));
        ledger_msg_set(&m->message_id, mid);
        ledger_msg_set(&m->mail_from, "p@y.example");
    }
    ledger_msg_set(&m->queue_id, "Q");
    ledger_msg_set(&m->action, actions[rnd(s) % 8]);
    ledger_msg_add_rcpt(m, "r@z.example");
    for (unsigned k = 0; k < nauth; k++) {
        struct ledger_auth *a = ledger_msg_add_auth(m, methods[rnd(s) % 5], results[rnd(s) % 8]);

        if (a == NULL)
            continue;
        ledger_msg_set(&a->identity, domains[rnd(s) % 5]);
        ledger_msg_set(&a->reason, reasons[rnd(s) % 4]);
        if (rnd(s) % 3)
            ledger_msg_set(&a->selector, rnd(s) % 2 ? "S1" : "s2");
    }
    if (m->direction == LEDGER_OUTBOUND && rnd(s) % 3 != 0) { /* tracked: opens may follow */
        assert_true(snprintf_ok(mid, sizeof(mid), "tok%zu", i));
        ledger_msg_set(&m->track_token, mid);
        ledger_msg_set(&m->track_outcome, "injected");
    }
    return m;
}

/* gen_open - an open of the token of message k (maybe never tracked) at a time of s */
static struct ledger_msg *gen_open(uint32_t *s, size_t k)
{
    struct ledger_msg *m = ledger_msg_new_open();
    char tok[32];

    assert_true(snprintf_ok(tok, sizeof(tok), "tok%zu", k));
    ledger_msg_set(&m->open_token, tok);
    ledger_msg_set(&m->open_method, "GET");
    ledger_msg_set(&m->open_class, classes[rnd(s) % 4]);
    m->received_at = T0 + (int64_t)(rnd(s) % SPAN);
    return m;
}

/* rollup_fill - put the sequence's messages through the store, in batches, one batch twice */
void rollup_fill(struct store *s)
{
    uint32_t seed = 7;
    struct ledger_msg *batch[BATCH];

    for (size_t i = 0; i < NMSG; i += BATCH) {
        for (size_t k = 0; k < BATCH; k++)
            batch[k] = gen(&seed, i + k);
        assert_int_equal(store_put_messages(s, batch, BATCH), STORE_OK);
        if (i == 2 * BATCH) { /* a replayed batch adds nothing */
            assert_int_equal(store_put_messages(s, batch, BATCH), STORE_OK);
            assert_int_equal(store_added(s), 0);
        }
        for (size_t k = 0; k < BATCH; k++)
            ledger_msg_free(batch[k]);
        for (int twice = 0; twice < 2; twice++) { /* opens of the messages so far */
            for (size_t k = 0; k < BATCH; k++)
                batch[k] = gen_open(&seed, rnd(&seed) % (i + BATCH));
            assert_int_equal(store_put_messages(s, batch, BATCH), STORE_OK);
            for (size_t k = 0; k < BATCH; k++)
                ledger_msg_free(batch[k]);
        }
    }
}

/* rollup_rows_text - every row of sql on db, one line each, "|" between columns */
char *rollup_rows_text(sqlite3 *db, const char *sql)
{
    struct buf b = BUF_INIT;
    sqlite3_stmt *st = NULL;
    char *out;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const unsigned char *t = sqlite3_column_text(st, c);

            buf_printf(&b, "%s%s", c ? "|" : "", t ? (const char *)t : "NULL");
        }
        buf_putc(&b, '\n');
    }
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    out = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}

/*
 * The counters recounted from the rows, written apart from the store's
 * SQL: per message its first spf and dmarc result (lowest position), any
 * dkim, a dkim-sign "signed"; copy as %s says (window: an earlier row of
 * the Message-ID and sender; table: in message_copies).
 */
/* A message m's first spf result (0 pass, 1 fail or softfail, 2 other, -1 none), dkim (2 a
   pass, 1 only others, 0 none) and first dmarc result (as spf), columns spf, dkim, dmarc. */
#define CODES                                                                                      \
    " coalesce((SELECT CASE result WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 WHEN 'softfail' THEN 1"   \
    "  ELSE 2 END FROM message_auth a WHERE a.message_id = m.id AND method = 'spf'"                \
    "  ORDER BY position LIMIT 1), -1) AS spf,"                                                    \
    " CASE WHEN EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = m.id"                    \
    "  AND method = 'dkim' AND result = 'pass') THEN 2 WHEN EXISTS (SELECT 1 FROM message_auth a"  \
    "  WHERE a.message_id = m.id AND method = 'dkim') THEN 1 ELSE 0 END AS dkim,"                  \
    " coalesce((SELECT CASE result WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 ELSE 2 END"               \
    "  FROM message_auth a WHERE a.message_id = m.id AND method = 'dmarc'"                         \
    "  ORDER BY position LIMIT 1), -1) AS dmarc"
#define RECOUNT                                                                                    \
    "SELECT hour, direction, action, copy, spf, dkim, dmarc, sig, count(*) FROM ("                 \
    " SELECT received_at / 3600 AS hour, direction, action, %s AS copy," CODES ","                 \
    " EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = m.id AND method = 'dkim-sign'"     \
    "  AND result = 'signed') AS sig FROM messages m)"                                             \
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
#define COPY_WINDOW                                                                                \
    "(direction = 'outbound' AND coalesce(message_id, '') <> '' AND EXISTS (SELECT 1"              \
    " FROM messages p WHERE p.direction = 'outbound' AND p.message_id = m.message_id"              \
    " AND coalesce(p.mail_from, '') = coalesce(m.mail_from, '') AND (p.received_at <"              \
    " m.received_at OR (p.received_at = m.received_at AND p.id < m.id))))"
#define COPY_TABLE "EXISTS (SELECT 1 FROM message_copies c WHERE c.id = m.id)"
/* An inbound message m's first dmarc identity, and its codes, as RECOUNT computes them. */
#define DOM_OF                                                                                     \
    "coalesce((SELECT lower(identity) FROM message_auth a WHERE a.message_id = m.id"               \
    " AND method = 'dmarc' ORDER BY position LIMIT 1), '')"
#define RECOUNT_DOMAIN                                                                             \
    "SELECT day, dom, count(*), sum(spf = 0), sum(spf = 1), sum(dkim = 2), sum(dkim = 1),"         \
    " sum(dmarc = 0), sum(dmarc = 1), sum(action = 'reject'), sum(action = 'quarantine') FROM ("   \
    " SELECT received_at / 86400 AS day, action, " DOM_OF " AS dom," CODES                         \
    " FROM messages m WHERE direction = 'inbound')"                                                \
    " GROUP BY 1, 2 ORDER BY 1, 2"
#define RECOUNT_REASON                                                                             \
    "SELECT m.received_at / 86400, " DOM_OF ", b.method, b.result, coalesce(b.reason, ''),"        \
    " count(*) FROM messages m JOIN message_auth b ON b.message_id = m.id"                         \
    " WHERE m.direction = 'inbound' AND b.method IN ('spf', 'dkim', 'dmarc') AND b.result IN"      \
    " ('fail', 'softfail', 'temperror', 'permerror', 'policy') GROUP BY 1, 2, 3, 4, 5"             \
    " ORDER BY 1, 2, 3, 4, 5"
#define RECOUNT_SELECTOR                                                                           \
    "SELECT m.received_at / 86400, " DOM_OF ", coalesce(lower(b.identity), ''),"                   \
    " lower(b.selector), count(*) FROM messages m JOIN message_auth b ON b.message_id = m.id"      \
    " WHERE m.direction = 'inbound' AND b.method = 'dkim' AND b.selector IS NOT NULL"              \
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
#define RECOUNT_OPENS                                                                              \
    "SELECT opened_at / 3600, class, count(*) FROM pixel_opens GROUP BY 1, 2 ORDER BY 1, 2"

/* same_rows - sql and counters (one db) give the same rows, and some */
static void same_rows(sqlite3 *db, const char *sql, const char *counters)
{
    char *want = rollup_rows_text(db, sql), *got = rollup_rows_text(db, counters);

    assert_true(strlen(want) > 20);
    assert_string_equal(got, want);
    free(want);
    free(got);
}

/* rollup_check_counters - every table of counters holds the recount of the rows (copies: window or
 * table)
 */
void rollup_check_counters(const char *path, bool window)
{
    sqlite3 *db = NULL;
    char sql[4096];
    char *want, *got;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_true(snprintf_ok(sql, sizeof(sql), RECOUNT, window ? COPY_WINDOW : COPY_TABLE));
    want = rollup_rows_text(db, sql);
    got = rollup_rows_text(db, ROLLUP_COUNTERS);
    assert_true(strlen(want) > 100);
    assert_string_equal(got, want);
    free(want);
    free(got);
    /* every row with an earlier row of its Message-ID and sender is marked a copy */
    want = rollup_rows_text(db, "SELECT count(*) FROM messages m WHERE " COPY_WINDOW
                                " AND NOT " COPY_TABLE);
    assert_string_equal(want, "0\n");
    free(want);
    same_rows(
        db, RECOUNT_DOMAIN,
        "SELECT day, dom, n, spf_pass, spf_fail, dkim_pass, dkim_fail, dmarc_pass, dmarc_fail,"
        " rejected, quarantined FROM rollup_domain WHERE n <> 0 ORDER BY 1, 2");
    same_rows(db, RECOUNT_REASON,
              "SELECT * FROM rollup_reason WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5");
    same_rows(db, RECOUNT_SELECTOR,
              "SELECT * FROM rollup_selector WHERE n <> 0 ORDER BY 1, 2, 3, 4");
    same_rows(db, RECOUNT_OPENS, "SELECT * FROM rollup_opens WHERE n <> 0 ORDER BY 1, 2");
    sqlite3_close(db);
}

/* rollup_emptied - a copy of path without counters (a new file): its reports are read row by row */
char *rollup_emptied(const char *path)
{
    char *copy = xstrdup(new_db());
    sqlite3 *db = NULL;
    char sql[4200];

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_true(snprintf_ok(sql, sizeof(sql), "VACUUM INTO '%s'", copy));
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
    assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM rollup_mail; DELETE FROM rollup_domain;"
                                  " DELETE FROM rollup_reason; DELETE FROM rollup_selector;"
                                  " DELETE FROM rollup_opens; DELETE FROM message_copies;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    return copy;
}

/* rollup_summary_text - every number of the summary of f but the file's size; caller frees */
char *rollup_summary_text(struct store *s, const struct store_summary_filter *f)
{
    struct store_summary sum;
    struct buf b = BUF_INIT;
    char *out;

    assert_int_equal(store_summary(s, f, &sum), STORE_OK);
    buf_printf(&b, "rows %lld copies %lld in %lld out %lld\n", (long long)sum.rows,
               (long long)sum.copies, (long long)sum.messages[0], (long long)sum.messages[1]);
    for (size_t o = 0; o < 2; o++)
        for (size_t a = 0; a < STORE_ACTIONS; a++)
            buf_printf(&b, "action %zu %zu %lld\n", o, a, (long long)sum.actions[o][a]);
    buf_printf(&b, "auth %lld %lld %lld %lld signed %lld\n", (long long)sum.spf_pass,
               (long long)sum.dkim_pass, (long long)sum.dmarc_pass, (long long)sum.dmarc_fail,
               (long long)sum.signed_out);
    for (size_t i = 0; i < sum.ntop; i++)
        buf_printf(&b, "top %s %lld %lld\n", sum.top[i].domain, (long long)sum.top[i].messages,
                   (long long)sum.top[i].dmarc_fail);
    for (size_t m = 0; m < 2; m++) {
        const struct store_opens_group *g = &sum.track[m];

        buf_printf(&b, "track %s %lld %lld %lld %lld %lld %lld %lld\n", g->mode,
                   (long long)g->tracked, (long long)g->with_pixel, (long long)g->opened,
                   (long long)g->human, (long long)g->machine_only, (long long)g->median_s,
                   (long long)g->p90_s);
    }
    for (size_t i = 0; i < STORE_TTFO_BUCKETS; i++)
        buf_printf(&b, "ttfo %lld\n", (long long)sum.ttfo[i]);
    for (size_t c = 0; c < STORE_OPEN_CLASSES; c++)
        buf_printf(&b, "opens %lld\n", (long long)sum.opens[c]);
    for (size_t i = 0; i < sum.ndays; i++) {
        const struct store_summary_day *d = &sum.days[i];

        buf_printf(&b, "day %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld\n", (long long)d->day,
                   (long long)d->in, (long long)d->out, (long long)d->spf_pass,
                   (long long)d->dkim_pass, (long long)d->dmarc_pass, (long long)d->opens[0],
                   (long long)d->opens[1], (long long)d->opens[2], (long long)d->opens[3]);
    }
    buf_printf(&b, "all %lld %lld %lld\n", (long long)sum.all_rows, (long long)sum.all_tracked,
               (long long)sum.all_opens);
    store_summary_free(&sum);
    out = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}

/* auth_row - one row of report auth, every field, into the buf at arg */
static int auth_row(const struct store_auth_row *r, void *arg)
{
    struct buf *b = arg;

    buf_printf(b, "%s %lld %lld %lld %lld %lld %lld %lld %lld %lld\n", r->domain,
               (long long)r->messages, (long long)r->spf_pass, (long long)r->spf_fail,
               (long long)r->dkim_pass, (long long)r->dkim_fail, (long long)r->dmarc_pass,
               (long long)r->dmarc_fail, (long long)r->rejected, (long long)r->quarantined);
    for (size_t i = 0; i < r->nreasons; i++)
        buf_printf(b, "  reason %s %s '%s' %lld\n", r->reasons[i].method, r->reasons[i].result,
                   r->reasons[i].reason, (long long)r->reasons[i].count);
    for (size_t i = 0; i < r->nselectors; i++)
        buf_printf(b, "  selector %s %s %lld\n", r->selectors[i].domain, r->selectors[i].selector,
                   (long long)r->selectors[i].count);
    return 0;
}

/* rollup_auth_text - report auth of f, every row and field; caller frees */
char *rollup_auth_text(struct store *s, const struct store_auth_filter *f)
{
    struct buf b = BUF_INIT;
    char *out;

    assert_int_equal(store_report_auth(s, f, auth_row, &b), STORE_OK);
    out = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}
