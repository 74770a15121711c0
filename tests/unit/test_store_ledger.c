/*
 * test_store_ledger.c - ledger records in the SQLite store: put/report of
 * messages with every field and filter, per-domain authentication
 * counts (store_report_auth), idempotent puts and all-or-nothing
 * batches. The records are specs[] of store_fixture.c; the schema's own
 * cases are in test_store.c.
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
#include "util.h"

#include "store_fixture.h"

/* same_str - NULL-aware string equality */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

struct collect {
    struct ledger_msg *const *put; /* what was stored, by seq */
    int seqs[16];
    size_t n;
    size_t stop_after; /* return non-zero after this many (0 = never) */
};

/* collect_fn - report callback: check the record against what was put, note its seq */
static int collect_fn(const struct ledger_msg *m, void *arg)
{
    struct collect *c = arg;
    const struct ledger_msg *w;

    assert_true(m->size >= 0 && m->size < (int64_t)NSPECS && c->n < 16);
    w = c->put[m->size];
    assert_string_equal(m->uid, w->uid);
    assert_true(same_str(m->host, w->host));
    assert_true(same_str(m->queue_id, w->queue_id));
    assert_true(same_str(m->message_id, w->message_id));
    assert_true(same_str(m->date_header, w->date_header));
    assert_int_equal(m->direction, w->direction);
    assert_true(same_str(m->client_ip, w->client_ip));
    assert_true(same_str(m->client_ptr, w->client_ptr));
    assert_true(same_str(m->helo, w->helo));
    assert_true(same_str(m->sasl_user, w->sasl_user));
    assert_true(same_str(m->mail_from, w->mail_from));
    assert_true(same_str(m->header_from, w->header_from));
    assert_true(same_str(m->subject, w->subject));
    assert_true(same_str(m->action, w->action));
    assert_true(m->received_at == w->received_at);
    assert_int_equal(m->nrcpts, w->nrcpts);
    for (size_t i = 0; i < m->nrcpts; i++)
        assert_string_equal(m->rcpts[i], w->rcpts[i]);
    assert_int_equal(m->nauth, w->nauth);
    for (size_t i = 0; i < m->nauth; i++) {
        assert_string_equal(m->auth[i].method, w->auth[i].method);
        assert_string_equal(m->auth[i].result, w->auth[i].result);
        assert_true(same_str(m->auth[i].identity, w->auth[i].identity));
        assert_true(same_str(m->auth[i].selector, w->auth[i].selector));
        assert_null(m->auth[i].policy);
    }
    c->seqs[c->n++] = (int)m->size;
    return c->stop_after && c->n >= c->stop_after;
}

/* put_specs - a migrated database holding specs[] (put in two batches); msgs[] filled */
static struct store *put_specs(const char *path, struct ledger_msg **msgs)
{
    struct store *s = open_ok(path, 0);

    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < NSPECS; i++)
        msgs[i] = spec_msg(i);
    assert_int_equal(store_put_messages(s, msgs, 2), STORE_OK);
    assert_int_equal(store_put_messages(s, msgs + 2, NSPECS - 2), STORE_OK);
    assert_int_equal(store_put_messages(s, msgs, 0), STORE_OK);
    return s;
}

struct filter_case {
    const char *name;
    struct store_msg_filter f;
    int want[NSPECS + 1]; /* seqs in report order, -1 terminated */
};

static const struct filter_case filter_cases[] = {
    {"all", {0}, {0, 1, 2, 3, 4, -1}},
    {"since", {.since = 3000}, {2, 3, 4, -1}},
    {"until", {.until = 3000}, {0, 1, -1}},
    {"since-until", {.since = 2000, .until = 5000}, {1, 2, 3, -1}},
    {"sender-envelope-nocase", {.sender = "Alice@a.Example"}, {0, 2, -1}},
    {"sender-header", {.sender = "carol@c.example"}, {1, -1}},
    {"sender-null", {.sender = ""}, {1, -1}},
    {"recipient-nocase", {.recipient = "BOB@b.example"}, {0, 1, 4, -1}},
    {"recipient-second", {.recipient = "dave@d.example"}, {1, -1}},
    {"recipient-none", {.recipient = "nobody@b.example"}, {-1}},
    /* a limit keeps the newest (issue 20), still reported oldest first */
    {"limit", {.limit = 2}, {3, 4, -1}},
    {"all-filters", {.since = 1, .until = 4000, .recipient = "bob@b.example", .limit = 1}, {1, -1}},
    {"sender-and-recipient", {.sender = "alice@a.example", .recipient = "bob@b.example"}, {0, -1}},
};

/* test_put_and_report - every field comes back, filters select and order as documented */
static void test_put_and_report(void **state)
{
    const char *path = new_db();
    struct ledger_msg *msgs[NSPECS];
    struct store *s = put_specs(path, msgs);

    (void)state;
    for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
        const struct filter_case *fc = &filter_cases[i];
        struct collect c = {.put = msgs};
        size_t nwant = 0;

        while (fc->want[nwant] >= 0)
            nwant++;
        assert_int_equal(store_report_messages(s, &fc->f, collect_fn, &c), STORE_OK);
        if (c.n != nwant || memcmp(c.seqs, fc->want, nwant * sizeof(int)) != 0)
            fail_msg("%s: got %zu records (first %d), want %zu", fc->name, c.n,
                     c.n ? c.seqs[0] : -1, nwant);
    }
    /* A NULL filter is no filter; a callback can stop the walk. */
    {
        struct collect c = {.put = msgs, .stop_after = 3};

        assert_int_equal(store_report_messages(s, NULL, collect_fn, &c), STORE_OK);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.seqs[2], 2);
    }
    store_close(s);
    /* Read-only connections report too. */
    s = open_ok(path, STORE_READONLY);
    {
        struct collect c = {.put = msgs};

        assert_int_equal(store_report_messages(s, NULL, collect_fn, &c), STORE_OK);
        assert_int_equal(c.n, NSPECS);
    }
    store_close(s);
    for (size_t i = 0; i < NSPECS; i++)
        ledger_msg_free(msgs[i]);
}

struct auth_spec {
    const char *from_domain; /* dmarc identity; NULL = no dmarc row */
    const char *spf, *dmarc; /* results; NULL = no row */
    const char *dkim[3];     /* dkim results, NULL-terminated */
    const char *action;
    enum ledger_direction dir;
    int64_t at;
};

static const struct auth_spec auth_specs[] = {
    {"a.example", "pass", "pass", {"pass", NULL}, "accept", LEDGER_INBOUND, 100},
    {"A.Example", "fail", "fail", {"fail", NULL}, "reject", LEDGER_INBOUND, 200},
    {"a.example", "softfail", "fail", {"fail", "pass", NULL}, "quarantine", LEDGER_INBOUND, 300},
    {"news.a.example", "none", "pass", {"pass", NULL}, "accept", LEDGER_INBOUND, 400},
    {"b.example", "pass", "none", {NULL}, "accept", LEDGER_INBOUND, 500},
    {"a.example", NULL, NULL, {NULL}, "accept", LEDGER_OUTBOUND, 600}, /* not counted */
    {NULL, "pass", "permerror", {NULL}, "accept", LEDGER_INBOUND, 700},
    {"xa.example", "pass", "pass", {NULL}, "accept", LEDGER_INBOUND, 800},
};
#define NAUTHSPECS (sizeof(auth_specs) / sizeof(auth_specs[0]))

struct auth_want {
    const char *domain;
    int64_t n[9]; /* messages spf_pass spf_fail dkim_pass dkim_fail dmarc_pass dmarc_fail
                     rejected quarantined */
};

struct auth_collect {
    struct auth_want got[NAUTHSPECS];
    size_t n;
};

/* auth_fn - report callback: copy the row */
static int auth_fn(const struct store_auth_row *r, void *arg)
{
    struct auth_collect *c = arg;
    struct auth_want *w = &c->got[c->n++];

    w->domain = strdup(r->domain);
    w->n[0] = r->messages;
    w->n[1] = r->spf_pass;
    w->n[2] = r->spf_fail;
    w->n[3] = r->dkim_pass;
    w->n[4] = r->dkim_fail;
    w->n[5] = r->dmarc_pass;
    w->n[6] = r->dmarc_fail;
    w->n[7] = r->rejected;
    w->n[8] = r->quarantined;
    return 0;
}

struct auth_case {
    const char *name;
    struct store_auth_filter f;
    struct auth_want want[6]; /* in report order; domain NULL ends */
};

static const struct auth_case auth_cases[] = {
    {"all",
     {0},
     {{"a.example", {3, 1, 2, 2, 1, 1, 2, 1, 1}},
      {"", {1, 1, 0, 0, 0, 0, 0, 0, 0}},
      {"b.example", {1, 1, 0, 0, 0, 0, 0, 0, 0}},
      {"news.a.example", {1, 0, 0, 1, 0, 1, 0, 0, 0}},
      {"xa.example", {1, 1, 0, 0, 0, 1, 0, 0, 0}}}},
    {"domain-and-subdomains",
     {.domain = "A.EXAMPLE"},
     {{"a.example", {3, 1, 2, 2, 1, 1, 2, 1, 1}}, {"news.a.example", {1, 0, 0, 1, 0, 1, 0, 0, 0}}}},
    {"since-until",
     {.since = 200, .until = 500},
     {{"a.example", {2, 0, 2, 1, 1, 0, 2, 1, 1}}, {"news.a.example", {1, 0, 0, 1, 0, 1, 0, 0, 0}}}},
};

/* test_report_auth - counts per header.from domain, inbound only, filters */
static void test_report_auth(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *msgs[NAUTHSPECS];

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < NAUTHSPECS; i++) {
        const struct auth_spec *a = &auth_specs[i];
        struct ledger_msg *m = msgs[i] = ledger_msg_new();
        struct ledger_auth *r;

        m->direction = a->dir;
        m->received_at = a->at;
        ledger_msg_set(&m->action, a->action);
        if (a->spf)
            ledger_msg_set(&ledger_msg_add_auth(m, "spf", a->spf)->identity, "x.example");
        for (size_t k = 0; a->dkim[k]; k++)
            ledger_msg_add_auth(m, "dkim", a->dkim[k]);
        if (a->dmarc) {
            r = ledger_msg_add_auth(m, "dmarc", a->dmarc);
            ledger_msg_set(&r->identity, a->from_domain);
        }
    }
    assert_int_equal(store_put_messages(s, msgs, NAUTHSPECS), STORE_OK);
    for (size_t c = 0; c < sizeof(auth_cases) / sizeof(auth_cases[0]); c++) {
        const struct auth_case *ac = &auth_cases[c];
        struct auth_collect got = {0};
        size_t nwant = 0;

        assert_int_equal(store_report_auth(s, &ac->f, auth_fn, &got), STORE_OK);
        while (nwant < 6 && ac->want[nwant].domain)
            nwant++;
        if (got.n != nwant)
            fail_msg("%s: %zu rows, want %zu", ac->name, got.n, nwant);
        for (size_t i = 0; i < nwant; i++) {
            if (strcmp(got.got[i].domain, ac->want[i].domain) != 0)
                fail_msg("%s: row %zu is %s, want %s", ac->name, i, got.got[i].domain,
                         ac->want[i].domain);
            for (size_t k = 0; k < 9; k++)
                if (got.got[i].n[k] != ac->want[i].n[k])
                    fail_msg("%s: %s count %zu is %lld, want %lld", ac->name, ac->want[i].domain, k,
                             (long long)got.got[i].n[k], (long long)ac->want[i].n[k]);
            free((char *)got.got[i].domain);
        }
    }
    store_close(s);
    for (size_t i = 0; i < NAUTHSPECS; i++)
        ledger_msg_free(msgs[i]);
}

/* test_put_idempotent - a uid already stored is skipped, with its recipients */
static void test_put_idempotent(void **state)
{
    const char *path = new_db();
    struct ledger_msg *msgs[NSPECS], *twice[3];
    struct store *s = put_specs(path, msgs);
    long long nrcpts = 0;

    (void)state;
    for (size_t i = 0; i < NSPECS; i++)
        nrcpts += (long long)msgs[i]->nrcpts;
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), nrcpts);
    /* Again in a later batch, and twice within one batch. */
    assert_int_equal(store_put_messages(s, msgs, NSPECS), STORE_OK);
    twice[0] = msgs[1];
    twice[1] = ledger_msg_new();
    twice[2] = twice[1];
    ledger_msg_set(&twice[1]->action, "accept");
    ledger_msg_add_rcpt(twice[1], "x@example.test");
    assert_int_equal(store_put_messages(s, twice, 3), STORE_OK);
    store_close(s);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), NSPECS + 1);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), nrcpts + 1);
    assert_int_equal(sql_int(path, "SELECT count(DISTINCT uid) FROM messages"), NSPECS + 1);
    ledger_msg_free(twice[1]);
    for (size_t i = 0; i < NSPECS; i++)
        ledger_msg_free(msgs[i]);
}

/* test_put_all_or_nothing - one refused record fails the whole batch, with STORE_ERROR */
static void test_put_all_or_nothing(void **state)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *m[3];

    (void)state;
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < 3; i++) {
        m[i] = spec_msg(i);
    }
    /* action is NOT NULL in the schema: the one way a ledger record can be refused. */
    m[2]->action = xfree(m[2]->action);
    assert_int_equal(store_put_messages(s, m, 3), STORE_ERROR);
    assert_non_null(strstr(store_error(s), "NOT NULL"));
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM message_recipients"), 0);
    /* The connection is still usable: the good ones go in afterwards. */
    assert_int_equal(store_put_messages(s, m, 2), STORE_OK);
    store_close(s);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM messages"), 2);
    for (size_t i = 0; i < 3; i++)
        ledger_msg_free(m[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_and_report),
        cmocka_unit_test(test_put_idempotent),
        cmocka_unit_test(test_report_auth),
        cmocka_unit_test(test_put_all_or_nothing),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
