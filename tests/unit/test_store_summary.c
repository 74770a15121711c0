/*
 * test_store_summary.c - the numbers of postmeter report summary and
 * report opens (store_summary.h) on a ledger filled through the store
 * API with known rows at fixed times: messages of both directions with
 * every action and their SPF/DKIM/DMARC/signing results, an outbound
 * message reinjected twice (pipe filter copies: counted once), rows
 * just outside the range; tracked rows of both modes with opens of
 * every class. Every expected number below was worked out by hand from
 * the rows (the comments say how), never read from the output.
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
#define H  3600LL
#define D  86400LL

/* A ledger message: direction 'i'/'o', its results (NULL = no such row). */
struct fmsg {
    const char *name;
    int64_t at;
    char dir;
    const char *mid, *from, *action;
    const char *spf, *dkim1, *dkim2, *dmarc, *dom, *sign;
};

static const struct fmsg msgs[] = {
    {"m1", T0 + 1 * H, 'i', "<i1@a>", "x@a.example", "accept", "pass", "pass", NULL, "pass",
     "a.example", NULL},
    {"m2", T0 + 2 * H, 'i', "<i2@e>", "x@evil.example", "reject", "fail", "fail", NULL, "fail",
     "evil.example", NULL},
    {"m3", T0 + 3 * H, 'i', "<i3@e>", "y@evil.example", "quarantine", "pass", "fail", NULL, "fail",
     "EVIL.example", NULL},
    {"m4", T0 + 4 * H, 'o', "<o1@x>", "news@a.example", "accept", NULL, NULL, NULL, NULL, NULL,
     "signed"},
    /* m5: a copy of m4 (same Message-ID and sender): counted once */
    {"m5", T0 + 4 * H + 10, 'o', "<o1@x>", "news@a.example", "accept", NULL, NULL, NULL, NULL, NULL,
     "signed"},
    {"m6", T0 + D + 1 * H, 'i', "<i6@n>", "z@n.example", "tempfail", NULL, NULL, NULL, NULL, NULL,
     NULL},
    /* m7: 23:30 UTC, the next day at UTC+1; dkim passes with its second signature */
    {"m7", T0 + D + 23 * H + 1800, 'i', "<i7@b>", "w@b.example", "accept", "softfail", "fail",
     "pass", "pass", "b.example", NULL},
    {"m8", T0 + D + 2 * H, 'o', "<o2@x>", "news@a.example", "accept", NULL, NULL, NULL, NULL, NULL,
     NULL},
    {"m9", T0 + D + 3 * H, 'o', "<o3@x>", "news@a.example", "tempfail", NULL, NULL, NULL, NULL,
     NULL, "error"},
    /* m10: m4's Message-ID from another sender: not a copy */
    {"m10", T0 + D + 4 * H, 'o', "<o1@x>", "other@a.example", "accept", NULL, NULL, NULL, NULL,
     NULL, "signed"},
    {"m11", T0 + 2 * D + 1 * H, 'i', "<i11@c>", "v@c.example", "accept", "pass", NULL, NULL, "fail",
     "c.example", NULL},
    {"m12", T0 + 2 * D + 2 * H, 'i', "<i12@a>", "u@a.example", "discard", "pass", "pass", NULL,
     "pass", "a.example", NULL},
    {"m13", T0 - 1, 'i', "<i13@e>", "x@evil.example", "accept", "fail", NULL, NULL, "fail",
     "evil.example", NULL},
    {"m14", T0 + 3 * D, 'o', "<o9@x>", "news@a.example", "accept", NULL, NULL, NULL, NULL, NULL,
     NULL},
    /* m15, m16: no Message-ID, same sender: two messages */
    {"m15", T0 + 2 * D + 5 * H, 'o', NULL, "news@a.example", "hold", NULL, NULL, NULL, NULL, NULL,
     NULL},
    {"m16", T0 + 2 * D + 6 * H, 'o', NULL, "news@a.example", "accept", NULL, NULL, NULL, NULL, NULL,
     NULL},
};
#define NMSGS (sizeof(msgs) / sizeof(msgs[0]))

/* A tracked row and its opens (class, seconds after created_at). */
struct ftrack {
    const char *token, *mode, *qid, *mail_from, *header_from, *subject, *outcome;
    int64_t at;
    const char *rcpts[3];
    struct {
        const char *cls;
        int64_t after;
    } opens[3];
};

static const struct ftrack tracks[] = {
    {"tok1AAAAAAAAAAAAAAAAAAAAAAAA",
     "milter",
     "Q1",
     "news@a.example",
     "news@a.example",
     "Hello",
     "injected",
     T0 + 1000,
     {"R1@X.example", "r2@y.example"},
     {{"human", 600}, {"proxy", 7200}, {"scanner", 5}}},
    {"tok2AAAAAAAAAAAAAAAAAAAAAAAA",
     "milter",
     "Q2",
     "News@A.example",
     NULL,
     "Hello",
     "injected",
     T0 + D + 100,
     {"r3@x.example"},
     {{"prefetch", 10}}},
    {"tok3AAAAAAAAAAAAAAAAAAAAAAAA",
     "milter",
     "Q3",
     "sales@b.example",
     "sales@b.example",
     NULL,
     "no-html",
     T0 + 2 * D,
     {"r1@x.example"},
     {{NULL, 0}}},
    {"tok4AAAAAAAAAAAAAAAAAAAAAAAA",
     "pipe",
     "P1",
     "news@a.example",
     "news@a.example",
     "Hello",
     "injected",
     T0 + 200,
     {"r1@x.example"},
     {{"human", 3800}}},
    {"tok5AAAAAAAAAAAAAAAAAAAAAAAA",
     "pipe",
     "P1",
     "news@a.example",
     "news@a.example",
     "Hello",
     "injected",
     T0 + 300,
     {"r4@z.example"},
     {{NULL, 0}}},
    {"tok6AAAAAAAAAAAAAAAAAAAAAAAA",
     "pipe",
     "P1",
     "news@a.example",
     "news@a.example",
     "Hello",
     "injected",
     T0 + 400,
     {"r5@z.example"},
     {{"proxy", 90000}}},
    /* t7: tracked before the range, opened in it */
    {"tok7AAAAAAAAAAAAAAAAAAAAAAAA",
     "milter",
     "Q0",
     "news@a.example",
     "news@a.example",
     "Old",
     "injected",
     T0 - 100,
     {"r1@x.example"},
     {{"human", 150}}},
    /* t8: tracked at the range's end (outside a closed range), opened after it */
    {"tok8AAAAAAAAAAAAAAAAAAAAAAAA",
     "pipe",
     "P9",
     "news@a.example",
     "news@a.example",
     "Late",
     "injected",
     T0 + 3 * D,
     {"r6@z.example"},
     {{"human", 10}}},
};
#define NTRACKS (sizeof(tracks) / sizeof(tracks[0]))

/* make_msg - the ledger record of f; caller frees */
static struct ledger_msg *make_msg(const struct fmsg *f)
{
    struct ledger_msg *m = ledger_msg_new();
    struct ledger_auth *a;

    m->direction = f->dir == 'o' ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    m->received_at = f->at;
    ledger_msg_set(&m->queue_id, f->name);
    ledger_msg_set(&m->message_id, f->mid);
    ledger_msg_set(&m->mail_from, f->from);
    ledger_msg_set(&m->header_from, f->from);
    ledger_msg_set(&m->action, f->action);
    ledger_msg_add_rcpt(m, "rcpt@r.example");
    if (f->spf && (a = ledger_msg_add_auth(m, "spf", f->spf)))
        ledger_msg_set(&a->identity, f->dom);
    if (f->dkim1 && (a = ledger_msg_add_auth(m, "dkim", f->dkim1)))
        ledger_msg_set(&a->identity, f->dom);
    if (f->dkim2 && (a = ledger_msg_add_auth(m, "dkim", f->dkim2)))
        ledger_msg_set(&a->identity, f->dom);
    if (f->dmarc && (a = ledger_msg_add_auth(m, "dmarc", f->dmarc)))
        ledger_msg_set(&a->identity, f->dom);
    if (f->sign && (a = ledger_msg_add_auth(m, "dkim-sign", f->sign)))
        ledger_msg_set(&a->identity, "a.example");
    return m;
}

/* fill - a migrated database with msgs[] and tracks[] and their opens; its path */
static const char *fill(void)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *batch[NMSGS + 3 * NTRACKS];
    size_t n = 0;

    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < NTRACKS; i++) {
        const struct ftrack *t = &tracks[i];
        size_t nr = 0;

        while (nr < 3 && t->rcpts[nr])
            nr++;
        const struct store_tracked st = {.token = t->token,
                                         .queue_id = t->qid,
                                         .mail_from = t->mail_from,
                                         .header_from = t->header_from,
                                         .subject = t->subject,
                                         .mode = t->mode,
                                         .outcome = t->outcome,
                                         .created_at = t->at,
                                         .rcpts = (char *const *)t->rcpts,
                                         .nrcpts = nr};
        assert_int_equal(store_put_tracked(s, &st), STORE_OK);
    }
    for (size_t i = 0; i < NMSGS; i++)
        batch[n++] = make_msg(&msgs[i]);
    for (size_t i = 0; i < NTRACKS; i++) {
        for (size_t k = 0; k < 3 && tracks[i].opens[k].cls; k++) {
            struct ledger_msg *o = ledger_msg_new_open();

            ledger_msg_set(&o->open_token, tracks[i].token);
            ledger_msg_set(&o->open_class, tracks[i].opens[k].cls);
            ledger_msg_set(&o->open_method,
                           strcmp(tracks[i].opens[k].cls, "scanner") == 0 ? "HEAD" : "GET");
            o->received_at = tracks[i].at + tracks[i].opens[k].after;
            batch[n++] = o;
        }
    }
    assert_int_equal(store_put_messages(s, batch, n), STORE_OK);
    assert_int_equal(store_discarded(s), 0);
    for (size_t i = 0; i < n; i++)
        ledger_msg_free(batch[i]);
    store_close(s);
    return path;
}

/* Expected numbers of one opens group (also the summary's per-mode numbers). */
struct xgroup {
    const char *mode, *key;
    int64_t day;
    int64_t tracked, with_pixel, opened, human, machine_only, median, p90;
};

/* check_group - g is x */
static void check_group(const struct store_opens_group *g, const struct xgroup *x)
{
    assert_string_equal(g->mode, x->mode);
    assert_string_equal(g->key, x->key);
    assert_int_equal(g->day, x->day);
    assert_int_equal(g->tracked, x->tracked);
    assert_int_equal(g->with_pixel, x->with_pixel);
    assert_int_equal(g->opened, x->opened);
    assert_int_equal(g->human, x->human);
    assert_int_equal(g->machine_only, x->machine_only);
    assert_int_equal(g->median_s, x->median);
    assert_int_equal(g->p90_s, x->p90);
    /* what a reader checks: people and machines are the opened ones */
    assert_int_equal(g->human + g->machine_only, g->opened);
}

/* Expected days: in, out, spf, dkim, dmarc, opens by class. */
struct xday {
    int64_t day, in, out, spf, dkim, dmarc, opens[STORE_OPEN_CLASSES];
};

struct summary_case {
    const char *name;
    struct store_summary_filter f;
    int64_t rows, copies, in, out;
    int64_t act_in[STORE_ACTIONS], act_out[STORE_ACTIONS];
    int64_t spf, dkim, dmarc, dmarc_fail, signed_out;
    size_t ntop;
    const char *top[3];
    int64_t top_msgs[3], top_fail[3];
    struct xgroup track[2];
    int64_t ttfo[STORE_TTFO_BUCKETS];
    int64_t opens[STORE_OPEN_CLASSES];
    size_t ndays;
    struct xday days[4];
};

/* act order: accept, reject, quarantine, tempfail, discard, other */
static const struct summary_case summary_cases[] = {
    {
        "three UTC days",
        {T0, T0 + 3 * D, 0, 10},
        /* m1..m12, m15, m16; m5 is m4's copy */
        14,
        1,
        7,
        6,
        {3, 1, 1, 1, 1, 0}, /* m1 m7 m11 | m2 | m3 | m6 | m12 */
        {4, 0, 0, 1, 0, 1}, /* m4 m8 m10 m16 | m9 | m15 (hold) */
        4,
        3,
        3,
        3,
        2, /* spf m1 m3 m11 m12; dkim m1 m7 m12; dmarc m1 m7 m12 / m2 m3 m11;
              signed m4 m10 */
        2,
        {"evil.example", "c.example"},
        {2, 1},
        {2, 1},
        {{"milter", "", 0, 3, 2, 2, 1, 1, 600, 600}, {"pipe", "", 0, 3, 3, 2, 2, 0, 3800, 90000}},
        {0, 1, 1, 0, 0, 1, 0, 0}, /* 600 s, 3800 s, 90000 s */
        {3, 2, 1, 1},             /* human t1 t4 t7, proxy t1 t6, prefetch t2, scanner t1 */
        3,
        {{T0, 3, 1, 2, 1, 1, {3, 1, 0, 1}},
         {T0 + D, 2, 3, 0, 1, 1, {0, 1, 1, 0}},
         {T0 + 2 * D, 2, 2, 2, 1, 1, {0, 0, 0, 0}}},
    },
    {
        "UTC+1: m7 moves a day, a fourth day starts before until",
        {T0, T0 + 3 * D, 3600, 1},
        14,
        1,
        7,
        6,
        {3, 1, 1, 1, 1, 0},
        {4, 0, 0, 1, 0, 1},
        4,
        3,
        3,
        3,
        2,
        1,
        {"evil.example"},
        {2},
        {2},
        {{"milter", "", 0, 3, 2, 2, 1, 1, 600, 600}, {"pipe", "", 0, 3, 3, 2, 2, 0, 3800, 90000}},
        {0, 1, 1, 0, 0, 1, 0, 0},
        {3, 2, 1, 1},
        4,
        {{T0 - H, 3, 1, 2, 1, 1, {3, 1, 0, 1}},
         {T0 + D - H, 1, 3, 0, 0, 0, {0, 1, 1, 0}},
         {T0 + 2 * D - H, 3, 2, 2, 2, 2, {0, 0, 0, 0}},
         {T0 + 3 * D - H, 0, 0, 0, 0, 0, {0, 0, 0, 0}}},
    },
    {
        "open end from the second day",
        {T0 + D, 0, 0, 10},
        /* m6..m12, m14, m15, m16: m10 is no copy (m4 is before the range) */
        10,
        0,
        4,
        6,
        {2, 0, 0, 1, 1, 0}, /* m7 m11 | m6 | m12 */
        {4, 0, 0, 1, 0, 1}, /* m8 m10 m14 m16 | m9 | m15 */
        2,
        2,
        2,
        1,
        1, /* spf m11 m12; dkim m7 m12; dmarc m7 m12 / m11; signed m10 */
        1,
        {"c.example"},
        {1},
        {1},
        {{"milter", "", 0, 2, 1, 1, 0, 1, -1, -1}, {"pipe", "", 0, 1, 1, 1, 1, 0, 10, 10}},
        {1, 0, 0, 0, 0, 0, 0, 0},
        {1, 1, 1, 0}, /* human t8, proxy t6 (T0 + 90400), prefetch t2 */
        3,            /* day 1 .. day 3 (m14, t8's open) */
        {{T0 + D, 2, 3, 0, 1, 1, {0, 1, 1, 0}},
         {T0 + 2 * D, 2, 2, 2, 1, 1, {0, 0, 0, 0}},
         {T0 + 3 * D, 0, 1, 0, 0, 0, {1, 0, 0, 0}}},
    },
};

/* test_summary - every number of each case */
static void test_summary(void **state)
{
    const char *path = fill();
    struct store *s = open_ok(path, STORE_READONLY);
    long long bytes = sql_int(path, "PRAGMA page_count") * sql_int(path, "PRAGMA page_size");

    (void)state;
    for (size_t c = 0; c < sizeof(summary_cases) / sizeof(summary_cases[0]); c++) {
        const struct summary_case *x = &summary_cases[c];
        struct store_summary sum;
        int64_t acts[2] = {0, 0};

        print_message("case: %s\n", x->name);
        assert_int_equal(store_summary(s, &x->f, &sum), STORE_OK);
        assert_int_equal(sum.rows, x->rows);
        assert_int_equal(sum.copies, x->copies);
        assert_int_equal(sum.messages[LEDGER_INBOUND], x->in);
        assert_int_equal(sum.messages[LEDGER_OUTBOUND], x->out);
        for (size_t a = 0; a < STORE_ACTIONS; a++) {
            assert_int_equal(sum.actions[LEDGER_INBOUND][a], x->act_in[a]);
            assert_int_equal(sum.actions[LEDGER_OUTBOUND][a], x->act_out[a]);
            acts[0] += sum.actions[0][a];
            acts[1] += sum.actions[1][a];
        }
        /* the totals line: actions add up to the messages, messages and copies to the rows */
        assert_int_equal(acts[0], sum.messages[0]);
        assert_int_equal(acts[1], sum.messages[1]);
        assert_int_equal(sum.messages[0] + sum.messages[1] + sum.copies, sum.rows);
        assert_int_equal(sum.spf_pass, x->spf);
        assert_int_equal(sum.dkim_pass, x->dkim);
        assert_int_equal(sum.dmarc_pass, x->dmarc);
        assert_int_equal(sum.dmarc_fail, x->dmarc_fail);
        assert_int_equal(sum.signed_out, x->signed_out);
        assert_int_equal(sum.ntop, x->ntop);
        for (size_t i = 0; i < x->ntop; i++) {
            assert_string_equal(sum.top[i].domain, x->top[i]);
            assert_int_equal(sum.top[i].messages, x->top_msgs[i]);
            assert_int_equal(sum.top[i].dmarc_fail, x->top_fail[i]);
        }
        check_group(&sum.track[0], &x->track[0]);
        check_group(&sum.track[1], &x->track[1]);
        for (size_t b = 0; b < STORE_TTFO_BUCKETS; b++)
            assert_int_equal(sum.ttfo[b], x->ttfo[b]);
        for (size_t k = 0; k < STORE_OPEN_CLASSES; k++)
            assert_int_equal(sum.opens[k], x->opens[k]);
        assert_int_equal(sum.ndays, x->ndays);
        for (size_t i = 0; i < x->ndays; i++) {
            const struct store_summary_day *d = &sum.days[i];

            assert_int_equal(d->day, x->days[i].day);
            assert_int_equal(d->in, x->days[i].in);
            assert_int_equal(d->out, x->days[i].out);
            assert_int_equal(d->spf_pass, x->days[i].spf);
            assert_int_equal(d->dkim_pass, x->days[i].dkim);
            assert_int_equal(d->dmarc_pass, x->days[i].dmarc);
            for (size_t k = 0; k < STORE_OPEN_CLASSES; k++)
                assert_int_equal(d->opens[k], x->days[i].opens[k]);
        }
        /* the whole database: 16 messages, 8 tracked rows, 8 opens */
        assert_int_equal(sum.all_rows, 16);
        assert_int_equal(sum.all_tracked, 8);
        assert_int_equal(sum.all_opens, 8);
        assert_true(bytes > 0);
        assert_int_equal(sum.db_bytes, bytes);
        store_summary_free(&sum);
    }
    store_close(s);
}

struct opens_case {
    const char *name;
    struct store_opens_filter f;
    size_t n;
    struct xgroup g[7];
};

static const struct opens_case opens_cases[] = {
    {"one group per mode",
     {T0, T0 + 3 * D, NULL, NULL, STORE_BY_NONE, 0},
     2,
     {{"milter", "", 0, 3, 2, 2, 1, 1, 600, 600}, {"pipe", "", 0, 3, 3, 2, 2, 0, 3800, 90000}}},
    {"by message, oldest first; the pipe copies are one message",
     {T0, T0 + 3 * D, NULL, NULL, STORE_BY_MESSAGE, 0},
     4,
     {{"pipe", "P1", 0, 3, 3, 2, 2, 0, 3800, 90000},
      {"milter", "Q1", 0, 1, 1, 1, 1, 0, 600, 600},
      {"milter", "Q2", 0, 1, 1, 1, 0, 1, -1, -1},
      {"milter", "Q3", 0, 1, 0, 0, 0, 0, -1, -1}}},
    {"by sender, any case of it",
     {T0, T0 + 3 * D, NULL, NULL, STORE_BY_SENDER, 0},
     3,
     {{"pipe", "news@a.example", 0, 3, 3, 2, 2, 0, 3800, 90000},
      {"milter", "news@a.example", 0, 2, 2, 2, 1, 1, 600, 600},
      {"milter", "sales@b.example", 0, 1, 0, 0, 0, 0, -1, -1}}},
    {"by recipient",
     {T0, T0 + 3 * D, NULL, NULL, STORE_BY_RECIPIENT, 0},
     6,
     {{"milter", "r1@x.example", 0, 2, 1, 1, 1, 0, 600, 600},
      {"pipe", "r1@x.example", 0, 1, 1, 1, 1, 0, 3800, 3800},
      {"milter", "r2@y.example", 0, 1, 1, 1, 1, 0, 600, 600},
      {"milter", "r3@x.example", 0, 1, 1, 1, 0, 1, -1, -1},
      {"pipe", "r4@z.example", 0, 1, 1, 0, 0, 0, -1, -1},
      {"pipe", "r5@z.example", 0, 1, 1, 1, 1, 0, 90000, 90000}}},
    {"by day",
     {T0, T0 + 3 * D, NULL, NULL, STORE_BY_DAY, 0},
     4,
     {{"pipe", "", T0, 3, 3, 2, 2, 0, 3800, 90000},
      {"milter", "", T0, 1, 1, 1, 1, 0, 600, 600},
      {"milter", "", T0 + D, 1, 1, 1, 0, 1, -1, -1},
      {"milter", "", T0 + 2 * D, 1, 0, 0, 0, 0, -1, -1}}},
    {"by day at UTC-1: t1..t6 are a day earlier but t2, t3",
     {T0, T0 + 3 * D, NULL, NULL, STORE_BY_DAY, -3600},
     4,
     {{"pipe", "", T0 - D + H, 3, 3, 2, 2, 0, 3800, 90000},
      {"milter", "", T0 - D + H, 1, 1, 1, 1, 0, 600, 600},
      {"milter", "", T0 + H, 1, 1, 1, 0, 1, -1, -1},
      {"milter", "", T0 + D + H, 1, 0, 0, 0, 0, -1, -1}}},
    {"by subject",
     {T0, T0 + 3 * D, NULL, NULL, STORE_BY_SUBJECT, 0},
     3,
     {{"pipe", "Hello", 0, 3, 3, 2, 2, 0, 3800, 90000},
      {"milter", "Hello", 0, 2, 2, 2, 1, 1, 600, 600},
      {"milter", "", 0, 1, 0, 0, 0, 0, -1, -1}}},
    {"--sender @b.example",
     {T0, T0 + 3 * D, NULL, "b.example", STORE_BY_NONE, 0},
     1,
     {{"milter", "", 0, 1, 0, 0, 0, 0, -1, -1}}},
    {"--sender NEWS@a.example by message",
     {T0, T0 + 3 * D, "NEWS@a.example", NULL, STORE_BY_MESSAGE, 0},
     3,
     {{"pipe", "P1", 0, 3, 3, 2, 2, 0, 3800, 90000},
      {"milter", "Q1", 0, 1, 1, 1, 1, 0, 600, 600},
      {"milter", "Q2", 0, 1, 1, 1, 0, 1, -1, -1}}},
    {"--since the second day, open end",
     {T0 + D, 0, NULL, NULL, STORE_BY_NONE, 0},
     2,
     {{"milter", "", 0, 2, 1, 1, 0, 1, -1, -1}, {"pipe", "", 0, 1, 1, 1, 1, 0, 10, 10}}},
};

/* The groups a report gave. */
struct got {
    struct store_opens_group g[8];
    char key[8][64], mode[8][16], sender[8][64];
    size_t n;
    size_t stop_after; /* 0 = never stop */
};

/* collect - copy each group (strings too) */
static int collect(const struct store_opens_group *g, void *arg)
{
    struct got *got = arg;

    assert_true(got->n < 8);
    got->g[got->n] = *g;
    assert_true(strlcpy_ok(got->key[got->n], g->key, sizeof(got->key[0])));
    assert_true(strlcpy_ok(got->mode[got->n], g->mode, sizeof(got->mode[0])));
    assert_true(
        strlcpy_ok(got->sender[got->n], g->sender ? g->sender : "(null)", sizeof(got->sender[0])));
    got->g[got->n].key = got->key[got->n];
    got->g[got->n].sender = got->sender[got->n];
    got->g[got->n].mode = got->mode[got->n];
    got->n++;
    return got->stop_after && got->n == got->stop_after;
}

/* test_opens - every group of every case, in order */
static void test_opens(void **state)
{
    const char *path = fill();
    struct store *s = open_ok(path, STORE_READONLY);

    (void)state;
    for (size_t c = 0; c < sizeof(opens_cases) / sizeof(opens_cases[0]); c++) {
        const struct opens_case *x = &opens_cases[c];
        struct got got;

        memset(&got, 0, sizeof(got));
        print_message("case: %s\n", x->name);
        assert_int_equal(store_report_opens(s, &x->f, collect, &got), STORE_OK);
        assert_int_equal(got.n, x->n);
        for (size_t i = 0; i < x->n; i++)
            check_group(&got.g[i], &x->g[i]);
        if (x->f.by == STORE_BY_MESSAGE) /* the sender and subject of the message's first row */
            assert_string_equal(got.g[0].sender, "news@a.example");
    }
    store_close(s);
}

/* test_opens_stop_and_errors - a callback stops the walk; an empty range is refused */
static void test_opens_stop_and_errors(void **state)
{
    const char *path = fill();
    struct store *s = open_ok(path, STORE_READONLY);
    struct store_opens_filter f = {T0, T0 + 3 * D, NULL, NULL, STORE_BY_RECIPIENT, 0};
    struct store_summary_filter sf = {T0, T0, 0, 5};
    struct store_summary sum;
    struct got got;

    (void)state;
    memset(&got, 0, sizeof(got));
    got.stop_after = 2;
    assert_int_equal(store_report_opens(s, &f, collect, &got), STORE_OK);
    assert_int_equal(got.n, 2);
    f.until = f.since;
    assert_int_equal(store_report_opens(s, &f, collect, &got), STORE_ERROR);
    assert_int_equal(store_summary(s, &sf, &sum), STORE_ERROR);
    sf.until = T0 + D;
    sf.top = STORE_SUMMARY_TOP_MAX + 1;
    assert_int_equal(store_summary(s, &sf, &sum), STORE_ERROR);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_opens),
        cmocka_unit_test(test_opens_stop_and_errors),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
