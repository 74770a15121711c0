/*
 * test_store_story.c - report open and report message (store_story.h)
 * on a store filled through the store and ledger API: every field of a
 * tracked row read back by token, queue id and ledger uid (recipients,
 * outcome, first opens, each open's time, class, reason, IP, agent), and
 * each DMARC wording case on a message stored and read back, its
 * results written as auth/inbound.c writes them with the reasons
 * auth/dmarc.c gives. The expected sentences are written by hand.
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
#include "store_story.h"
#include "util.h"

#include "store_fixture.h"

#define T0 1796083200LL /* 2026-12-01T00:00:00Z */

/* One result row: method, result, identity, selector, policy, disposition, reason. */
struct fauth {
    const char *method, *result, *identity, *selector, *policy, *disposition, *reason;
};

struct dmarc_case {
    const char *name;
    char dir;              /* 'i' or 'o' */
    const char *mail_from; /* "" = the null sender */
    struct fauth auth[5];
    const char *want;
};

static const struct dmarc_case dmarc_cases[] = {
    {"fail, SPF pass not aligned, no signature",
     'i',
     "x@bounce.other.org",
     {{"spf", "pass", "bounce.other.org", NULL, NULL, NULL, "ip4"},
      {"dmarc", "fail", "example.org", NULL, "reject", "reject",
       "no aligned SPF or DKIM pass; p=reject"}},
     "DMARC fail: From domain example.org publishes p=reject; SPF passed for bounce.other.org, "
     "which is not aligned; the message had no DKIM signature"},
    {"fail, SPF fail, signature failed",
     'i',
     "x@bounce.other.org",
     {{"spf", "fail", "bounce.other.org", NULL, NULL, NULL, "-all"},
      {"dkim", "fail", "example.org", "s1", NULL, NULL, "body hash did not verify"},
      {"dmarc", "fail", "example.org", NULL, "reject", "reject",
       "no aligned SPF or DKIM pass; p=reject"}},
     "DMARC fail: From domain example.org publishes p=reject; SPF failed for bounce.other.org "
     "(-all); no DKIM signature of example.org verified (d=example.org s=s1: fail, body hash "
     "did not verify)"},
    {"fail under sp=, a third party's signature passed",
     'i',
     "n@news.example.org",
     {{"spf", "softfail", "news.example.org", NULL, NULL, NULL, "~all"},
      {"dkim", "fail", "news.example.org", "nl", NULL, NULL, "signature expired"},
      {"dkim", "pass", "esp.test", "esp1", NULL, NULL, NULL},
      {"dmarc", "fail", "news.example.org", NULL, "quarantine", "quarantine",
       "no aligned SPF or DKIM pass; sp=quarantine"}},
     "DMARC fail: From domain news.example.org publishes sp=quarantine for its subdomains; SPF "
     "soft-failed for news.example.org (~all); DKIM passed for d=esp.test (s=esp1), which is not "
     "aligned; no DKIM signature of news.example.org verified (d=news.example.org s=nl: fail, "
     "signature expired)"},
    {"fail under np=",
     'i',
     "a@other.org",
     {{"spf", "none", "other.org", NULL, NULL, NULL, NULL},
      {"dmarc", "fail", "ghost.example.org", NULL, "reject", "reject",
       "no aligned SPF or DKIM pass; np=reject"}},
     "DMARC fail: From domain ghost.example.org publishes np=reject for subdomains that do not "
     "exist; no SPF record for other.org; the message had no DKIM signature"},
    {"fail outside the pct sample",
     'i',
     "a@other.org",
     {{"spf", "pass", "other.org", NULL, NULL, NULL, NULL},
      {"dmarc", "fail", "example.org", NULL, "reject", "quarantine",
       "no aligned SPF or DKIM pass; p=reject, not in pct sample"}},
     "DMARC fail: From domain example.org publishes p=reject; the message was not in the pct= "
     "sample, so it asks for quarantine only; SPF passed for other.org, which is not aligned; the "
     "message had no DKIM signature"},
    {"fail, null sender: SPF of the HELO name",
     'i',
     "",
     {{"spf", "pass", "mx.other.org", NULL, NULL, NULL, NULL},
      {"dmarc", "fail", "example.org", NULL, "reject", "reject",
       "no aligned SPF or DKIM pass; p=reject"}},
     "DMARC fail: From domain example.org publishes p=reject; SPF passed for the HELO name "
     "mx.other.org, which never aligns; the message had no DKIM signature"},
    {"fail, a From that cannot be evaluated",
     'i',
     "a@example.org",
     {{"spf", "pass", "example.org", NULL, NULL, NULL, NULL},
      {"dmarc", "fail", "example.org", NULL, "reject", "reject",
       "several From addresses: counted as failing; p=reject"}},
     "DMARC fail: From domain example.org publishes p=reject; the From header cannot be evaluated "
     "safely (several From addresses), so no SPF or DKIM pass counts"},
    {"fail, too many From domains",
     'i',
     "a@example.org",
     {{"dmarc", "fail", NULL, NULL, "reject", "reject",
       "more than 8 From domains: those not looked up count as p=reject"}},
     "DMARC fail: no usable From domain, treated as p=reject; the From header cannot be evaluated "
     "safely (more than 8 From domains: those not looked up count as p=reject), so no SPF or DKIM "
     "pass counts"},
    {"fail, the strictest of several From domains",
     'i',
     "a@other.org",
     {{"spf", "pass", "other.org", NULL, NULL, NULL, NULL},
      {"dmarc", "fail", "example.org", NULL, "reject", "reject",
       "no aligned SPF or DKIM pass; p=reject (strictest of 2 From domains)"}},
     "DMARC fail: From domain example.org publishes p=reject; SPF passed for other.org, which is "
     "not aligned; the message had no DKIM signature; the strictest answer of the 2 From "
     "domains"},
    {"pass by DKIM",
     'i',
     "a@other.org",
     {{"spf", "pass", "other.org", NULL, NULL, NULL, NULL},
      {"dkim", "fail", "example.org", "old", NULL, NULL, "no key"},
      {"dkim", "pass", "example.org", "s1", NULL, NULL, NULL},
      {"dmarc", "pass", "example.org", NULL, "none", "none", "aligned DKIM pass (d=example.org)"}},
     "DMARC pass: From domain example.org publishes p=none; the DKIM signature of example.org "
     "(s=s1) verified and is aligned"},
    {"pass by SPF",
     'i',
     "a@mail.example.org",
     {{"spf", "pass", "mail.example.org", NULL, NULL, NULL, NULL},
      {"dmarc", "pass", "example.org", NULL, "quarantine", "none", "aligned SPF pass"}},
     "DMARC pass: From domain example.org publishes p=quarantine; SPF passed for "
     "mail.example.org, which is aligned"},
    {"none: no record",
     'i',
     "a@example.net",
     {{"spf", "pass", "example.net", NULL, NULL, NULL, NULL},
      {"dmarc", "none", "example.net", NULL, NULL, NULL, "no DMARC record"}},
     "DMARC none: From domain example.net publishes no DMARC record (nor does its organizational "
     "domain), so no policy applies"},
    {"none: several records",
     'i',
     "a@example.net",
     {{"dmarc", "none", "example.net", NULL, NULL, NULL,
       "several DMARC records at _dmarc.example.net"}},
     "DMARC none: From domain example.net; _dmarc.example.net has several DMARC records, so none "
     "of them applies"},
    {"temperror",
     'i',
     "a@example.net",
     {{"dmarc", "temperror", "example.net", NULL, NULL, NULL,
       "DNS timeout or failure for _dmarc.example.net"}},
     "DMARC temperror: From domain example.net; the DNS lookup of _dmarc.example.net timed out or "
     "failed, so the result could not be known"},
    {"permerror: a bad record",
     'i',
     "a@example.net",
     {{"dmarc", "permerror", "example.net", NULL, "none", "none",
       "record at _dmarc.example.net: bad or missing p=, or bad sp=, and no valid rua="}},
     "DMARC permerror: From domain example.net; the record at _dmarc.example.net has a bad or "
     "missing p= (or a bad sp=) and no valid rua=, so no policy can be applied"},
    {"outbound",
     'o',
     "me@local.test",
     {{"dkim-sign", "pass", "local.test", "s1", NULL, NULL, NULL}},
     "no DMARC result: outbound mail is not evaluated"},
    {"inbound without a DMARC row", 'i', "a@example.net", {{NULL}}, "no DMARC result stored"},
};
#define NDMARC (sizeof(dmarc_cases) / sizeof(dmarc_cases[0]))

/* case_msg - the ledger record of case i (queue id "D<i>"); caller frees */
static struct ledger_msg *case_msg(size_t i)
{
    const struct dmarc_case *dc = &dmarc_cases[i];
    struct ledger_msg *m = ledger_msg_new();
    char qid[16];

    snprintf(qid, sizeof(qid), "D%zu", i);
    m->direction = dc->dir == 'o' ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    m->received_at = T0 + (int64_t)i;
    ledger_msg_set(&m->queue_id, qid);
    ledger_msg_set(&m->mail_from, dc->mail_from);
    ledger_msg_set(&m->action, "accept");
    ledger_msg_add_rcpt(m, "rcpt@local.test");
    for (size_t k = 0; k < 5 && dc->auth[k].method; k++) {
        const struct fauth *f = &dc->auth[k];
        struct ledger_auth *a = ledger_msg_add_auth(m, f->method, f->result);

        assert_non_null(a);
        ledger_msg_set(&a->identity, f->identity);
        ledger_msg_set(&a->selector, f->selector);
        ledger_msg_set(&a->policy, f->policy);
        ledger_msg_set(&a->disposition, f->disposition);
        ledger_msg_set(&a->reason, f->reason);
    }
    return m;
}

/* A tracked row with opens (class, seconds after, ip, agent, reason). */
static const char *const tok_a = "tokStoryAAAAAAAAAAAAAAAAAAAA";
static const char *const tok_b = "tokStoryBBBBBBBBBBBBBBBBBBBB";
static const struct {
    const char *token, *cls, *ip, *agent, *reason, *method;
    int64_t after;
} opens[] = {
    {"tokStoryAAAAAAAAAAAAAAAAAAAA", "human", "192.0.2.0/24", "Firefox", "no rule", "GET", 900},
    {"tokStoryAAAAAAAAAAAAAAAAAAAA", "scanner", "198.51.100.0/24", NULL, "HEAD", "HEAD", 2},
    {"tokStoryAAAAAAAAAAAAAAAAAAAA", "proxy", "66.249.84.0/24", "GoogleImageProxy", "Gmail proxy",
     "GET", 300},
    {"tokStoryBBBBBBBBBBBBBBBBBBBB", "prefetch", NULL, "Mozilla/5.0", "Apple MPP", "GET", 10},
};
#define NOPENS   (sizeof(opens) / sizeof(opens[0]))
#define TRACK_AT (T0 + 1000)

static char msg_uid[LEDGER_UID_LEN + 1];

/* fill - the DMARC cases' messages, an outbound message tracked (two tokens), opens */
static const char *fill(void)
{
    const char *path = new_db();
    struct store *s = open_ok(path, 0);
    struct ledger_msg *batch[NDMARC + 1 + NOPENS];
    char *r1[] = {"One@X.example", "two@y.example"}, *r2[] = {"three@z.example"};
    size_t n = 0;

    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (size_t i = 0; i < NDMARC; i++)
        batch[n++] = case_msg(i);
    batch[n] = ledger_msg_new();
    batch[n]->direction = LEDGER_OUTBOUND;
    batch[n]->received_at = TRACK_AT;
    ledger_msg_set(&batch[n]->queue_id, "QT1");
    ledger_msg_set(&batch[n]->message_id, "<t1@local.test>");
    ledger_msg_set(&batch[n]->action, "accept");
    memcpy(msg_uid, batch[n]->uid, sizeof(msg_uid));
    n++;
    const struct store_tracked ta = {.token = tok_a,
                                     .message_uid = msg_uid,
                                     .queue_id = "QT1",
                                     .mail_from = "news@local.test",
                                     .header_from = "news@local.test",
                                     .subject = "Hello",
                                     .mode = "milter",
                                     .outcome = "injected",
                                     .created_at = TRACK_AT,
                                     .created_ms = TRACK_AT * 1000 + 5,
                                     .rcpts = r1,
                                     .nrcpts = 2};
    const struct store_tracked tb = {.token = tok_b,
                                     .queue_id = "QT1",
                                     .mode = "pipe",
                                     .outcome = "no-html",
                                     .reason = "no HTML part",
                                     .created_at = TRACK_AT + 1,
                                     .rcpts = r2,
                                     .nrcpts = 1};
    assert_int_equal(store_put_tracked(s, &ta), STORE_OK);
    assert_int_equal(store_put_tracked(s, &tb), STORE_OK);
    for (size_t i = 0; i < NOPENS; i++) {
        struct ledger_msg *o = ledger_msg_new_open();

        ledger_msg_set(&o->open_token, opens[i].token);
        ledger_msg_set(&o->open_class, opens[i].cls);
        ledger_msg_set(&o->open_ip, opens[i].ip);
        ledger_msg_set(&o->open_agent, opens[i].agent);
        ledger_msg_set(&o->open_reason, opens[i].reason);
        ledger_msg_set(&o->open_method, opens[i].method);
        o->received_at = TRACK_AT + opens[i].after;
        batch[n++] = o;
    }
    assert_int_equal(store_put_messages(s, batch, n), STORE_OK);
    assert_int_equal(store_discarded(s), 0);
    for (size_t i = 0; i < n; i++)
        ledger_msg_free(batch[i]);
    store_close(s);
    return path;
}

/* word_case - the sentence of the one message read back */
static int word_case(const struct ledger_msg *m, void *arg)
{
    struct buf *b = arg;

    assert_int_equal(b->len, 0); /* one message per queue id */
    store_story_dmarc(m, b);
    return 0;
}

/* test_dmarc_words - each case's sentence, on the message as stored and read back */
static void test_dmarc_words(void **state)
{
    struct store *s = open_ok(fill(), STORE_READONLY);

    (void)state;
    for (size_t i = 0; i < NDMARC; i++) {
        char qid[16];
        struct store_msg_filter f = {.queue_id = qid};
        struct buf b = BUF_INIT;

        snprintf(qid, sizeof(qid), "D%zu", i);
        assert_int_equal(store_report_messages(s, &f, word_case, &b), STORE_OK);
        if (strcmp(buf_cstr(&b), dmarc_cases[i].want) != 0)
            fail_msg("%s:\n got  %s\n want %s", dmarc_cases[i].name, buf_cstr(&b),
                     dmarc_cases[i].want);
        buf_free(&b);
    }
    store_close(s);
}

/* Tracked rows a walk saw: tokens in order, and the checks it made. */
struct seen {
    size_t n;
    const char *tokens[4];
};

/* check_row - a tracked row's fields against what fill() stored */
static int check_row(const struct store_story_tracked *t, void *arg)
{
    struct seen *sn = arg;

    assert_true(sn->n < 4);
    sn->tokens[sn->n++] = strcmp(t->token, tok_a) == 0 ? tok_a : tok_b;
    assert_string_equal(t->queue_id, "QT1");
    if (strcmp(t->token, tok_a) == 0) {
        assert_string_equal(t->message_uid, msg_uid);
        assert_string_equal(t->mode, "milter");
        assert_string_equal(t->outcome, "injected");
        assert_null(t->reason);
        assert_string_equal(t->mail_from, "news@local.test");
        assert_string_equal(t->subject, "Hello");
        assert_int_equal(t->created_at, TRACK_AT);
        assert_int_equal(t->created_ms, TRACK_AT * 1000 + 5);
        assert_int_equal(t->nrcpts, 2);
        assert_string_equal(t->rcpts[0], "One@X.example");
        assert_string_equal(t->rcpts[1], "two@y.example");
        /* opens oldest first: scanner +2, proxy +300, human +900 */
        assert_int_equal(t->opens_total, 3);
        assert_int_equal(t->nopens, 3);
        assert_int_equal(t->opens[0].opened_at, TRACK_AT + 2);
        assert_string_equal(t->opens[0].cls, "scanner");
        assert_string_equal(t->opens[0].method, "HEAD");
        assert_null(t->opens[0].agent);
        assert_string_equal(t->opens[0].ip, "198.51.100.0/24");
        assert_string_equal(t->opens[1].cls, "proxy");
        assert_string_equal(t->opens[1].reason, "Gmail proxy");
        assert_string_equal(t->opens[1].agent, "GoogleImageProxy");
        assert_int_equal(t->opens[2].opened_at, TRACK_AT + 900);
        assert_string_equal(t->opens[2].cls, "human");
        assert_string_equal(t->opens[2].ip, "192.0.2.0/24");
        assert_string_equal(t->opens[2].reason, "no rule");
        /* first open: the scanner's; first human open: the proxy's (a person behind it) */
        assert_int_equal(t->first_open_at, TRACK_AT + 2);
        assert_int_equal(t->first_human_open_at, TRACK_AT + 300);
    } else {
        assert_null(t->message_uid);
        assert_string_equal(t->mode, "pipe");
        assert_string_equal(t->outcome, "no-html");
        assert_string_equal(t->reason, "no HTML part");
        assert_null(t->subject);
        assert_int_equal(t->created_ms, (TRACK_AT + 1) * 1000); /* store_tracked: 0 = created_at */
        assert_int_equal(t->nrcpts, 1);
        assert_string_equal(t->rcpts[0], "three@z.example");
        assert_int_equal(t->opens_total, 1);
        assert_int_equal(t->nopens, 1);
        assert_string_equal(t->opens[0].cls, "prefetch");
        assert_null(t->opens[0].ip);
        assert_int_equal(t->first_open_at, TRACK_AT + 10);
        assert_int_equal(t->first_human_open_at, 0);
    }
    return 0;
}

/* test_tracked - each lookup finds exactly its rows, every field as stored */
static void test_tracked(void **state)
{
    struct store *s = open_ok(fill(), STORE_READONLY);
    const struct {
        enum store_story_by by;
        const char *value;
        size_t n;
        const char *first;
    } cases[] = {
        {STORE_STORY_TOKEN, "tokStoryAAAAAAAAAAAAAAAAAAAA", 1, tok_a},
        {STORE_STORY_TOKEN, "tokStoryBBBBBBBBBBBBBBBBBBBB", 1, tok_b},
        {STORE_STORY_TOKEN, "tokStoryAAAAAAAAAAAAAAAAAAAa", 0, NULL}, /* exact, case too */
        {STORE_STORY_QUEUE_ID, "QT1", 2, tok_a},                      /* oldest first */
        {STORE_STORY_QUEUE_ID, "QT2", 0, NULL},
        {STORE_STORY_MESSAGE_UID, msg_uid, 1, tok_a},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seen sn = {0, {NULL}};

        assert_int_equal(store_story_tracked(s, cases[i].by, cases[i].value, check_row, &sn),
                         STORE_OK);
        assert_int_equal(sn.n, cases[i].n);
        if (cases[i].n)
            assert_ptr_equal(sn.tokens[0], cases[i].first);
    }
    assert_int_equal(store_story_tracked(s, STORE_STORY_TOKEN, "", check_row, NULL), STORE_ERROR);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dmarc_words),
        cmocka_unit_test(test_tracked),
    };

    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
