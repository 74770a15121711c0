/*
 * prune_fixture.c - rows of known ages around a cut and the checks of
 * what a prune at the cut leaves (prune_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger_msg.h"
#include "store.h"
#include "track.h"
#include "util.h"

#include "prune_fixture.h"
#include "store_fixture.h"

/* The cut is at 0; "gone" rows are older than it, a row at 0 stays. */
const struct prune_row prune_rows[] = {
    /* ledger messages */
    {'m', -1, -100000, 2, 3, false, true, false},
    {'m', -1, -1, 1, 0, false, true, false},
    {'m', -1, 0, 3, 2, false, false, false}, /* exactly at the cut: stays */
    {'m', -1, 1, 2, 1, false, false, false},
    {'m', -1, -5000, 1, 1, true, true, true},  /* tracked; its only open (row 13) is old */
    {'m', -1, -7000, 2, 0, true, true, false}, /* tracked; an open at +10 (row 18) keeps it */
    {'m', -1, 50, 1, 4, true, false, false},   /* young and tracked */
    /* tracked messages of the pipe filter */
    {'t', -1, -300, 2, 0, false, true, false},  /* 7: both opens old */
    {'t', -1, -300, 1, 0, false, false, false}, /* 8: an open at the cut keeps it */
    {'t', -1, 0, 1, 0, false, false, false},    /* 9: at the cut */
    {'t', -1, -1, 3, 0, false, true, false},    /* 10: never opened */
    {'t', -1, 100, 1, 0, false, false, false},  /* 11: young */
    /* opens */
    {'o', 7, -200, 0, 0, false, true, false},
    {'o', 4, -4000, 0, 0, false, true, false},
    {'o', 7, -100, 0, 0, false, true, false},
    {'o', 8, -50, 0, 0, false, true, false},
    {'o', 8, 0, 0, 0, false, false, false}, /* exactly at the cut: stays */
    {'o', 9, 5, 0, 0, false, false, false},
    {'o', 5, 10, 0, 0, false, false, false},
    {'o', 11, -10, 0, 0, false, true, false}, /* old open of a young message: goes alone */
};
const size_t prune_nrows = sizeof(prune_rows) / sizeof(prune_rows[0]);

/* prune_token - the tracking token of row i */
const char *prune_token(size_t i)
{
    static char tok[TRACK_TOKEN_LEN + 1];

    assert_true(snprintf_ok(tok, sizeof(tok), "prune%023zu", i));
    assert_int_equal(strlen(tok), TRACK_TOKEN_LEN);
    return tok;
}

/* row_msg - the record of row i ('m' or 'o') at cut; caller frees */
static struct ledger_msg *row_msg(size_t i, int64_t cut)
{
    const struct prune_row *r = &prune_rows[i];
    struct ledger_msg *m = r->kind == 'o' ? ledger_msg_new_open() : ledger_msg_new();
    char s[64];

    m->received_at = cut + r->at;
    snprintf(s, sizeof(s), "row %zu", i);
    if (r->kind == 'o') {
        ledger_msg_set(&m->open_token, prune_token((size_t)r->parent));
        ledger_msg_set(&m->open_method, "GET");
        ledger_msg_set(&m->open_class, "human");
        ledger_msg_set(&m->open_reason, s);
        ledger_msg_set(&m->host, "px.example.org");
        return m;
    }
    snprintf(s, sizeof(s), "Q%zu", i);
    ledger_msg_set(&m->queue_id, s);
    ledger_msg_set(&m->action, "accept");
    m->direction = LEDGER_OUTBOUND;
    for (unsigned k = 0; k < r->rcpts; k++) {
        snprintf(s, sizeof(s), "r%u-%zu@example.org", k, i);
        ledger_msg_add_rcpt(m, s);
    }
    for (unsigned k = 0; k < r->auth; k++)
        ledger_msg_add_auth(m, k ? "dkim" : "spf", "pass");
    if (r->tracked) {
        ledger_msg_set(&m->track_token, prune_token(i));
        ledger_msg_set(&m->track_outcome, "injected");
    }
    return m;
}

/* put_kind - put every row of kind k ('m' or 'o') in one batch */
static void put_kind(struct store *s, char k, int64_t cut)
{
    struct ledger_msg *msgs[64];
    size_t n = 0;

    for (size_t i = 0; i < prune_nrows; i++)
        if (prune_rows[i].kind == k)
            msgs[n++] = row_msg(i, cut);
    assert_true(n < sizeof(msgs) / sizeof(msgs[0]));
    if (store_put_messages(s, msgs, n) != STORE_OK)
        fail_msg("put rows '%c': %s", k, store_error(s));
    assert_int_equal(store_added(s), n);
    for (size_t i = 0; i < n; i++)
        ledger_msg_free(msgs[i]);
}

/* put_tracked - the pipe-mode tracked message of row i at cut */
static void put_tracked(struct store *s, size_t i, int64_t cut)
{
    const struct prune_row *r = &prune_rows[i];
    char token[TRACK_TOKEN_LEN + 1], q[32], addr[8][64], *rcpts[8];
    struct store_tracked t = {.token = token,
                              .queue_id = q,
                              .mode = "pipe",
                              .outcome = "injected",
                              .created_at = cut + r->at,
                              .rcpts = rcpts,
                              .nrcpts = r->rcpts};

    assert_true(r->rcpts <= 8);
    strcpy(token, prune_token(i));
    snprintf(q, sizeof(q), "Q%zu", i);
    for (unsigned k = 0; k < r->rcpts; k++) {
        snprintf(addr[k], sizeof(addr[k]), "t%u-%zu@example.org", k, i);
        rcpts[k] = addr[k];
    }
    assert_int_equal(store_put_tracked(s, &t), STORE_OK);
}

/* prune_fill - a migrated database holding prune_rows around cut */
struct store *prune_fill(const char *path, int64_t cut)
{
    struct store *s = open_ok(path, 0);

    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    put_kind(s, 'm', cut);
    for (size_t i = 0; i < prune_nrows; i++)
        if (prune_rows[i].kind == 't')
            put_tracked(s, i, cut);
    put_kind(s, 'o', cut);
    assert_int_equal(store_discarded(s), 0);
    return s;
}

/* prune_expect - what the table says a prune at the cut removes, and holds in all */
void prune_expect(struct store_prune_counts *gone, struct store_prune_counts *all)
{
    *gone = *all = (struct store_prune_counts){{0}};
    for (size_t i = 0; i < prune_nrows; i++) {
        const struct prune_row *r = &prune_rows[i];
        struct store_prune_counts *to[2] = {all, r->gone ? gone : NULL};

        for (int k = 0; k < 2 && to[k]; k++) {
            if (r->kind == 'm') {
                to[k]->n[STORE_PRUNE_MESSAGES]++;
                to[k]->n[STORE_PRUNE_RCPTS] += r->rcpts;
                to[k]->n[STORE_PRUNE_AUTH] += r->auth;
            } else if (r->kind == 't') {
                to[k]->n[STORE_PRUNE_TRACKED]++;
                to[k]->n[STORE_PRUNE_TRACKED_RCPTS] += r->rcpts;
            } else {
                to[k]->n[STORE_PRUNE_OPENS]++;
            }
        }
        if (r->kind == 'm' && r->tracked) { /* its milter-mode tracked row */
            all->n[STORE_PRUNE_TRACKED]++;
            all->n[STORE_PRUNE_TRACKED_RCPTS] += r->rcpts;
            gone->n[STORE_PRUNE_TRACKED] += r->tgone;
            gone->n[STORE_PRUNE_TRACKED_RCPTS] += r->tgone ? r->rcpts : 0;
        }
    }
}

/* prune_rows_now - the rows of each table in the database now */
void prune_rows_now(const char *path, struct store_prune_counts *now)
{
    char sql[128];

    for (size_t t = 0; t < STORE_PRUNE_TABLES; t++) {
        assert_true(snprintf_ok(sql, sizeof(sql), "SELECT count(*) FROM %s",
                                store_prune_table_name((enum store_prune_table)t)));
        now->n[t] = sql_int(path, sql);
    }
}

/* prune_parents - messages + tracked messages + opens in c */
int64_t prune_parents(const struct store_prune_counts *c)
{
    return c->n[STORE_PRUNE_MESSAGES] + c->n[STORE_PRUNE_TRACKED] + c->n[STORE_PRUNE_OPENS];
}

/* prune_counts_equal - a and b agree for every table */
void prune_counts_equal(const struct store_prune_counts *a, const struct store_prune_counts *b,
                        const char *what)
{
    for (size_t t = 0; t < STORE_PRUNE_TABLES; t++)
        if (a->n[t] != b->n[t])
            fail_msg("%s: %s: %lld, want %lld", what,
                     store_prune_table_name((enum store_prune_table)t), (long long)a->n[t],
                     (long long)b->n[t]);
}

/* row_present - 1 if row i (with tracked: its tracked_messages row) is in the database */
static long long row_present(const char *path, size_t i, bool tracked)
{
    const struct prune_row *r = &prune_rows[i];
    char sql[192];

    if (r->kind == 'o')
        assert_true(snprintf_ok(sql, sizeof(sql),
                                "SELECT count(*) FROM pixel_opens WHERE reason = 'row %zu'", i));
    else if (r->kind == 't' || tracked)
        assert_true(snprintf_ok(sql, sizeof(sql),
                                "SELECT count(*) FROM tracked_messages WHERE token = '%s'",
                                prune_token(i)));
    else
        assert_true(snprintf_ok(sql, sizeof(sql),
                                "SELECT count(*) FROM messages WHERE queue_id = 'Q%zu'", i));
    return sql_int(path, sql);
}

/* check_rows - every row of the table present, or present unless gone (after) */
static void check_rows(const char *path, bool after)
{
    struct store_prune_counts gone, all, now;

    for (size_t i = 0; i < prune_nrows; i++) {
        const struct prune_row *r = &prune_rows[i];
        long long want = after && r->gone ? 0 : 1;

        if (row_present(path, i, false) != want)
            fail_msg("row %zu ('%c' at cut%+lld): %lld rows, want %lld", i, r->kind,
                     (long long)r->at, row_present(path, i, false), want);
        want = after && r->tgone ? 0 : 1;
        if (r->kind == 'm' && r->tracked && row_present(path, i, true) != want)
            fail_msg("row %zu: tracked row present %lld, want %lld", i, row_present(path, i, true),
                     want);
    }
    prune_expect(&gone, &all);
    for (size_t t = 0; after && t < STORE_PRUNE_TABLES; t++)
        all.n[t] -= gone.n[t];
    prune_rows_now(path, &now);
    prune_counts_equal(&now, &all, after ? "rows left" : "rows");
}

/* prune_check_done - exactly the rows the table keeps, no orphan, foreign keys clean */
void prune_check_done(const char *path)
{
    static const char *const orphans[] = {
        "SELECT count(*) FROM message_recipients WHERE message_id NOT IN (SELECT id FROM messages)",
        "SELECT count(*) FROM message_auth WHERE message_id NOT IN (SELECT id FROM messages)",
        "SELECT count(*) FROM tracked_recipients WHERE tracked_id NOT IN"
        " (SELECT id FROM tracked_messages)",
        "SELECT count(*) FROM pixel_opens WHERE tracked_id NOT IN (SELECT id FROM "
        "tracked_messages)",
    };

    check_rows(path, true);
    for (size_t i = 0; i < sizeof(orphans) / sizeof(orphans[0]); i++)
        if (sql_int(path, orphans[i]) != 0)
            fail_msg("%s: %lld", orphans[i], sql_int(path, orphans[i]));
    assert_int_equal(sql_int(path, "PRAGMA foreign_key_check"), -1); /* no row */
}

/* prune_check_untouched - every row of the table is there */
void prune_check_untouched(const char *path)
{
    check_rows(path, false);
}
