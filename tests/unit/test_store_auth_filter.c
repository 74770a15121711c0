/*
 * test_store_auth_filter.c - report messages' --spf, --dkim and --dmarc
 * filters (store_report_messages) alone, together and with ranges, on
 * messages with none, one or several results of a method in either
 * case. The wanted messages of each case come from the same rules that
 * made the records (want_msg), not from the store. And the question the
 * filters ask of each message is answered by the index of
 * 009_auth_results_index.sql alone (test_filter_plan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ledger_msg.h"
#include "store.h"

#include "store_fixture.h"

#define NMSG  60   /* one message per hour */
#define HOUR  3600 /* seconds */
#define BASE  (20000 * 86400LL)
#define AT(i) (BASE + (int64_t)(i)*HOUR + 100)

/* The results of message i, one rule per method. */
static const char *spf_of(int i)
{
    static const char *const w[] = {"pass", "fail", "softfail"};

    return w[i % 3];
}

/* dkim_of - message i's dkim results into r[] (NULL-terminated): none, pass, fail, or fail and pass
 */
static void dkim_of(int i, const char *r[3])
{
    r[0] = r[1] = r[2] = NULL;
    if (i % 4 == 1)
        r[0] = "pass";
    else if (i % 4 == 2)
        r[0] = "fail";
    else if (i % 4 == 3)
        r[0] = "fail", r[1] = "pass";
}

/* dmarc_of - message i's dmarc result: the case varies, the filter ignores case */
static const char *dmarc_of(int i)
{
    if (i % 10 == 5)
        return "FAIL";
    return i % 5 == 0 ? "fail" : "pass";
}

/* make_msg - record i (a fresh uid of its own) with its auth rows; caller frees */
static struct ledger_msg *make_msg(int i)
{
    struct ledger_msg *m = ledger_msg_new();
    const char *dkim[3];

    ledger_msg_set(&m->mail_from, "a@example.org");
    ledger_msg_set(&m->header_from, "a@example.org");
    ledger_msg_set(&m->action, "accept");
    m->direction = LEDGER_INBOUND;
    m->received_at = AT(i);
    m->size = i;
    ledger_msg_add_rcpt(m, "b@example.net");
    ledger_msg_add_auth(m, "spf", spf_of(i));
    dkim_of(i, dkim);
    for (int k = 0; dkim[k]; k++)
        ledger_msg_add_auth(m, "dkim", dkim[k]);
    ledger_msg_add_auth(m, "dmarc", dmarc_of(i));
    return m;
}

struct fcase {
    const char *name;
    const char *spf, *dkim, *dmarc;
    int since, until; /* hours from BASE, -1: no bound */
};

/* want_msg - whether message i matches c, by the rules above */
static bool want_msg(const struct fcase *c, int i)
{
    const char *dkim[3];
    bool dk = c->dkim == NULL;

    if (c->since >= 0 && AT(i) < BASE + (int64_t)c->since * HOUR)
        return false;
    if (c->until >= 0 && AT(i) >= BASE + (int64_t)c->until * HOUR)
        return false;
    if (c->spf && strcasecmp(c->spf, spf_of(i)) != 0)
        return false;
    dkim_of(i, dkim);
    for (int k = 0; dkim[k] && !dk; k++)
        dk = strcasecmp(c->dkim, dkim[k]) == 0;
    return dk && (c->dmarc == NULL || strcasecmp(c->dmarc, dmarc_of(i)) == 0);
}

static const struct fcase cases[] = {
    {"spf fail, all", "fail", NULL, NULL, -1, -1},
    {"spf FAIL nocase, all", "FAIL", NULL, NULL, -1, -1},
    {"dkim fail, all (a message with fail and pass too)", NULL, "fail", NULL, -1, -1},
    {"dkim pass, all", NULL, "pass", NULL, -1, -1},
    {"dmarc fail, all (either case)", NULL, NULL, "fail", -1, -1},
    {"spf fail and dkim fail, all", "fail", "fail", NULL, -1, -1},
    {"all three, all", "softfail", "pass", "pass", -1, -1},
    {"none match, all", "neutral", NULL, NULL, -1, -1},
    {"spf fail, since hour 5 (55 of 60)", "fail", NULL, NULL, 5, -1},
    {"dkim fail, until hour 40", NULL, "fail", NULL, -1, 40},
    {"spf fail, hours 10-12", "fail", NULL, NULL, 10, 12},
    {"dkim fail, hours 20-29", NULL, "fail", NULL, 20, 29},
    {"spf and dkim fail, hours 30-35", "fail", "fail", NULL, 30, 35},
    {"dmarc FAIL, hours 0-8", NULL, NULL, "FAIL", 0, 8},
    {"none match, hours 50-52", "neutral", NULL, NULL, 50, 52},
    {"spf fail, since hour 58", "fail", NULL, NULL, 58, -1},
};

struct got {
    int seq[NMSG];
    size_t n;
};

/* got_fn - report callback: note the message's number */
static int got_fn(const struct ledger_msg *m, void *arg)
{
    struct got *g = arg;

    assert_true(g->n < NMSG);
    g->seq[g->n++] = (int)m->size;
    return 0;
}

/* test_auth_filters - every case: exactly the messages wanted, oldest first */
static void test_auth_filters(void **state)
{
    struct store *s = open_ok(new_db(), 0);
    struct ledger_msg *msgs[NMSG];

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (int i = 0; i < NMSG; i++)
        msgs[i] = make_msg(i);
    assert_int_equal(store_put_messages(s, msgs, NMSG), STORE_OK);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const struct fcase *c = &cases[k];
        struct store_msg_filter f = {.spf = c->spf, .dkim = c->dkim, .dmarc = c->dmarc};
        struct got g = {.n = 0};
        size_t nwant = 0;

        if (c->since >= 0)
            f.since = BASE + (int64_t)c->since * HOUR;
        if (c->until >= 0)
            f.until = BASE + (int64_t)c->until * HOUR;
        assert_int_equal(store_report_messages(s, &f, got_fn, &g), STORE_OK);
        for (int i = 0; i < NMSG; i++) {
            if (!want_msg(c, i))
                continue;
            if (nwant >= g.n || g.seq[nwant] != i)
                fail_msg("%s: result %zu is %d, want message %d", c->name, nwant,
                         nwant < g.n ? g.seq[nwant] : -1, i);
            nwant++;
        }
        if (g.n != nwant)
            fail_msg("%s: %zu messages, want %zu", c->name, g.n, nwant);
    }
    /* The cases above must not all be empty: the rules give matches. */
    assert_true(want_msg(&cases[0], 1) && want_msg(&cases[10], 10));
    for (int i = 0; i < NMSG; i++)
        ledger_msg_free(msgs[i]);
    store_close(s);
}

/*
 * test_filter_plan - "has message ?1 a result row of method M with the
 * word ?2 in any case", as store_sqlite_report.c's filters ask it, is
 * answered from the covering index message_auth_results (a report over
 * 1,000,000 messages asks it once per message: bench/README.md)
 */
static void test_filter_plan(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    sqlite3 *db;
    sqlite3_stmt *st;
    char plan[1024] = "";

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "EXPLAIN QUERY PLAN SELECT 1 FROM message_auth a"
                                        " WHERE a.message_id = ?1 AND a.method = 'dkim'"
                                        " AND a.result = ?2 COLLATE NOCASE",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);

        if (d != NULL && strlen(plan) + strlen(d) + 2 < sizeof(plan)) {
            strcat(plan, d);
            strcat(plan, ";");
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (strstr(plan, "COVERING INDEX message_auth_results") == NULL ||
        strstr(plan, "result=?") == NULL)
        fail_msg("plan: %s", plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_filters),
        cmocka_unit_test(test_filter_plan),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
