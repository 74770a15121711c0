/*
 * test_store_report_first.c - what the faster report queries must keep
 * (lib/store_sqlite_summary.c, store_sqlite_report.c): the time to a
 * tracked message's first human open comes from its first_open_at /
 * first_human_open_at, so it survives the pruning of that open's row
 * while a younger open keeps the message; and "the first result of a
 * method" is the one of the lowest position when a message has several
 * rows of it (report summary and report auth). Rows go in through the
 * store API; expected numbers are worked out by hand from the rows.
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
#include "store_summary.h"
#include "util.h"

#include "store_fixture.h"

#define T0 1764547200LL /* 2025-12-01T00:00:00Z */
#define D  86400LL

/* A tracked message with two opens of a class, the first one then pruned. */
struct first_case {
    const char *name;
    const char *cls1, *cls2; /* the opens' classes, at T0 + 100 and T0 + 10 days */
    bool prune;              /* delete the first open's row, as a prune of old opens does */
    int64_t human, machine_only, median;
};

static const struct first_case first_cases[] = {
    {"two human opens", "human", "human", false, 1, 0, 100},
    /* the first human open was at +100 s, whatever is left of its row */
    {"first human open pruned", "human", "human", true, 1, 0, 100},
    {"first open a proxy's, pruned", "proxy", "human", true, 1, 0, 100},
    {"a scanner, then a person 10 days on", "scanner", "human", false, 1, 0, 10 * D},
    {"scanner only", "scanner", "prefetch", true, 0, 1, -1},
};

/* put_open - an open of token at t by class cls, through the store */
static void put_open(struct store *s, const char *token, const char *cls, int64_t t)
{
    struct ledger_msg *o = ledger_msg_new_open();

    ledger_msg_set(&o->open_token, token);
    ledger_msg_set(&o->open_class, cls);
    ledger_msg_set(&o->open_method, "GET");
    o->received_at = t;
    assert_int_equal(store_put_messages(s, &o, 1), STORE_OK);
    ledger_msg_free(o);
}

/* one_group - the only group of report opens into *out */
static int one_group(const struct store_opens_group *g, void *arg)
{
    *(struct store_opens_group *)arg = *g;
    return 0;
}

/* test_first_open - each case's group and the summary's per-mode numbers */
static void test_first_open(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(first_cases) / sizeof(first_cases[0]); i++) {
        const struct first_case *c = &first_cases[i];
        const char *path = new_db();
        struct store *s = open_ok(path, 0);
        const char *tok = "AAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        char *const rcpts[] = {(char *)"r@b.example"};
        const struct store_tracked t = {.token = tok,
                                        .queue_id = "Q1",
                                        .mail_from = "news@a.example",
                                        .mode = "milter",
                                        .outcome = "injected",
                                        .created_at = T0,
                                        .rcpts = rcpts,
                                        .nrcpts = 1};
        const struct store_opens_filter of = {.by = STORE_BY_NONE};
        const struct store_summary_filter sf = {.since = T0 - D, .until = T0 + D};
        struct store_opens_group g;
        struct store_summary sum;

        print_message("case %zu: %s\n", i, c->name);
        assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
        assert_int_equal(store_put_tracked(s, &t), STORE_OK);
        put_open(s, tok, c->cls1, T0 + 100);
        put_open(s, tok, c->cls2, T0 + 10 * D);
        if (c->prune)
            sql_int(path, "DELETE FROM pixel_opens WHERE opened_at < 1764547200 + 86400");
        assert_int_equal(sql_int(path, "SELECT count(*) FROM pixel_opens"), c->prune ? 1 : 2);
        memset(&g, 0, sizeof(g));
        assert_int_equal(store_report_opens(s, &of, one_group, &g), STORE_OK);
        assert_int_equal(g.tracked, 1);
        assert_int_equal(g.opened, 1);
        assert_int_equal(g.human, c->human);
        assert_int_equal(g.machine_only, c->machine_only);
        assert_int_equal(g.median_s, c->median);
        assert_int_equal(store_summary(s, &sf, &sum), STORE_OK);
        assert_int_equal(sum.track[0].human, c->human);
        assert_int_equal(sum.track[0].median_s, c->median);
        store_summary_free(&sum);
        store_close(s);
    }
}

/* An auth row: method, result, From domain (NULL for none). */
struct arow {
    const char *method, *result, *identity;
};

/* Inbound messages with several rows of a method, in position order. */
static const struct {
    struct arow a[5];
} auth_msgs[] = {
    /* spf: helo fail, then mail from pass: the first (fail) counts; dmarc fail at 1, pass at 3 */
    {{{"spf", "fail", "x.example"},
      {"dmarc", "fail", "First.example"},
      {"spf", "pass", "x.example"},
      {"dmarc", "pass", "second.example"}}},
    /* spf pass first, softfail after; dmarc pass first: from second.example */
    {{{"spf", "pass", "x.example"},
      {"spf", "softfail", "x.example"},
      {"dmarc", "pass", "Second.example"},
      {"dmarc", "fail", "first.example"}}},
    /* dkim fails, then passes: dkim passes; no dmarc row: domain "" */
    {{{"dkim", "fail", "x.example"}, {"dkim", "pass", "x.example"}, {"spf", "neutral", NULL}}},
};
#define NAUTH (sizeof(auth_msgs) / sizeof(auth_msgs[0]))

/* collect_auth - the auth report's rows, copied by domain into arg (3 at most) */
static int collect_auth(const struct store_auth_row *r, void *arg)
{
    struct store_auth_row *v = arg;
    size_t i = strcmp(r->domain, "first.example") == 0    ? 0
               : strcmp(r->domain, "second.example") == 0 ? 1
               : strcmp(r->domain, "") == 0               ? 2
                                                          : 3;

    if (i == 3)
        fail_msg("auth report: domain '%s'", r->domain);
    v[i] = *r;
    v[i].domain = NULL; /* valid only during the call */
    v[i].reasons = NULL;
    v[i].selectors = NULL;
    return 0;
}

/* test_first_result - the lowest position decides, in report summary and report auth */
static void test_first_result(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *v[NAUTH];
    const struct store_summary_filter sf = {.since = T0 - D, .until = T0 + D, .top = 5};
    const struct store_auth_filter af = {0};
    struct store_auth_row rows[3];
    struct store_summary sum;

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < NAUTH; i++) {
        struct ledger_msg *m = ledger_msg_new();

        m->direction = LEDGER_INBOUND;
        ledger_msg_set(&m->mail_from, "a@x.example");
        ledger_msg_set(&m->action, "accept");
        m->received_at = T0 + 60 * (int64_t)i;
        for (size_t k = 0; k < 5 && auth_msgs[i].a[k].method; k++) {
            struct ledger_auth *a =
                ledger_msg_add_auth(m, auth_msgs[i].a[k].method, auth_msgs[i].a[k].result);

            assert_non_null(a);
            if (auth_msgs[i].a[k].identity)
                ledger_msg_set(&a->identity, auth_msgs[i].a[k].identity);
        }
        v[i] = m;
    }
    assert_int_equal(store_put_messages(s, v, NAUTH), STORE_OK);
    for (size_t i = 0; i < NAUTH; i++)
        ledger_msg_free(v[i]);

    assert_int_equal(store_summary(s, &sf, &sum), STORE_OK);
    assert_int_equal(sum.messages[0], 3);
    assert_int_equal(sum.spf_pass, 1);   /* message 2 only */
    assert_int_equal(sum.dkim_pass, 1);  /* message 3 */
    assert_int_equal(sum.dmarc_pass, 1); /* message 2 */
    assert_int_equal(sum.dmarc_fail, 1); /* message 1 */
    assert_int_equal(sum.ntop, 1);       /* only first.example failed */
    assert_string_equal(sum.top[0].domain, "first.example");
    assert_int_equal(sum.top[0].messages, 1);
    assert_int_equal(sum.top[0].dmarc_fail, 1);
    store_summary_free(&sum);

    memset(rows, 0, sizeof(rows));
    assert_int_equal(store_report_auth(s, &af, collect_auth, rows), STORE_OK);
    /* first.example: message 1: spf fail, dmarc fail */
    assert_int_equal(rows[0].messages, 1);
    assert_int_equal(rows[0].spf_pass, 0);
    assert_int_equal(rows[0].spf_fail, 1);
    assert_int_equal(rows[0].dmarc_pass, 0);
    assert_int_equal(rows[0].dmarc_fail, 1);
    /* second.example: message 2: spf pass (softfail after it), dmarc pass */
    assert_int_equal(rows[1].messages, 1);
    assert_int_equal(rows[1].spf_pass, 1);
    assert_int_equal(rows[1].spf_fail, 0);
    assert_int_equal(rows[1].dmarc_pass, 1);
    assert_int_equal(rows[1].dmarc_fail, 0);
    /* no dmarc row: message 3, dkim failed once and passed: a pass, not a failure */
    assert_int_equal(rows[2].messages, 1);
    assert_int_equal(rows[2].dkim_pass, 1);
    assert_int_equal(rows[2].dkim_fail, 0);
    assert_int_equal(rows[2].spf_pass, 0);
    assert_int_equal(rows[2].spf_fail, 0);

    /* --domain: message 1 has a dmarc row of second.example, but not as its first */
    const struct store_auth_filter df = {.domain = "SECOND.example"};
    memset(rows, 0, sizeof(rows));
    assert_int_equal(store_report_auth(s, &df, collect_auth, rows), STORE_OK);
    assert_int_equal(rows[0].messages, 0);
    assert_int_equal(rows[1].messages, 1);
    assert_int_equal(rows[1].dmarc_pass, 1);
    assert_int_equal(rows[2].messages, 0);
    /* a parent domain takes both subdomains' messages, not the one without dmarc */
    const struct store_auth_filter pf = {.domain = "example"};
    memset(rows, 0, sizeof(rows));
    assert_int_equal(store_report_auth(s, &pf, collect_auth, rows), STORE_OK);
    assert_int_equal(rows[0].messages, 1);
    assert_int_equal(rows[1].messages, 1);
    assert_int_equal(rows[2].messages, 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_open),
        cmocka_unit_test(test_first_result),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
