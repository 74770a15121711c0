/*
 * test_stage_sign.c - the signing decision of the milter's outbound DKIM
 * stage (milter/stage_sign.c): a key of example.test is registered and
 * loaded from tests/data/dkim-sign, then outbound messages whose From
 * fields name example.test are signed only when the From reads cleanly
 * (auth/from_domain.h): a malformed, encoded-word, bidi or cut From, a
 * literal, several From fields or several domains are never signed (our
 * signature must not vouch for a deceptive author), and why is logged
 * once per message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "conn.h"
#include "dkim_sign.h"
#include "from_domain.h"
#include "log.h"
#include "milter.h"
#include "smfi.h"
#include "stage_sign.h"
#include "store.h"
#include "tmpdir_fixture.h"
#include "util.h"

static unsigned inserted; /* DKIM-Signature fields the stage inserted */

/* fake_insheader - count the signatures */
static int fake_insheader(SMFICTX *ctx, int idx, char *name, char *value)
{
    (void)ctx;
    (void)idx;
    (void)value;
    assert_string_equal(name, "DKIM-Signature");
    inserted++;
    return MI_SUCCESS;
}

static const struct smfi_ops fake_ops = {.insheader = fake_insheader};
const struct smfi_ops *smfi = &fake_ops;

/* sink - the ledger records are not looked at here */
static void sink(void *arg, const struct config *c, struct ledger_msg *m)
{
    (void)arg;
    (void)c;
    ledger_msg_free(m);
}

static char dir[] = "/tmp/postmeter-test-stage-sign-XXXXXX";

/* A long From: the address, then a comment past FROM_VALUE_MAX (built at run time). */
#define LONG_FROM "@long"

struct sign_case {
    const char *from[3]; /* From field values (NULL ends; LONG_FROM: the long one) */
    const char *why;     /* the logged reason; NULL: signed */
    bool spaced;         /* the second From field's name is "From \t" (obs-optional) */
};

static const struct sign_case cases[] = {
    {{"alice@example.test"}, NULL, false},
    {{"Alice <alice@example.test>"}, NULL, false},
    {{"=?utf-8?q?Al=C3=AFce?= <alice@example.test>"}, NULL, false},
    {{"alice@sub.example.test"}, NULL, false}, /* the nearest parent with keys signs */
    /* one domain, ours, but a From DMARC cannot evaluate: never signed */
    {{"<alice@example.test"}, "malformed From field", false},
    {{"info@example.test <alice@example.test>"}, "malformed From field", false},
    {{"<=?utf-8?q?alice=40example.test?=>"}, "encoded-word in a From address", false},
    {{"alice@example.test (\xe2\x80\xae)"}, "bidi control in a From field", false},
    {{LONG_FROM}, "From field too long", false},
    {{"alice@[192.0.2.1]"}, "From domain is a literal or invalid", false},
    {{"undisclosed:;"}, "From field without a mailbox", false},
    {{NULL}, "no From field", false},
    /* ambiguous authors */
    {{"alice@example.test", "bob@example.test"}, "several From fields", false},
    {{"alice@example.test", "mallory@attacker.example"}, "several From fields", true},
    {{"alice@example.test, mallory@attacker.example"}, "several From domains", false},
    /* an '@' in a local-part, whatever follows it: a reader sees another domain */
    {{"\"ceo@\x7fvictim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\x01victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\x1bvictim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\x1fvictim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\xc2\xa0victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\xe3\x80\x80victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\xe2\x80\x83victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\\\"victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@<victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@,victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@;victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@:victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@]victim.example\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"ceo@\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"alice@example.test\"@example.test"}, "'@' inside a From local-part", false},
    {{"\"a\" <\"ceo@\x7fvictim.example\"@example.test>"}, "'@' inside a From local-part", false},
    {{"alice\xef\xbc\xa0victim.example@example.test"}, "'@' inside a From local-part", false},
    /* a comment inside the address: with an '@', or anywhere in the domain */
    {{"ceo(ceo@victim.example)@example.test"}, "malformed From field", false},
    {{"<ceo@example.test (ceo@victim.example)>"}, "malformed From field", false},
    {{"ceo@(victim.example)example.test"}, "malformed From field", false},
    /* everyday shapes: signed */
    {{"\"Doe, John\" <alice@example.test>"}, NULL, false},
    {{"alice@example.test (Alice)"}, NULL, false},
    {{"alice@example.test (alice@victim.example)"}, NULL, false},
    {{"<alice@EXAMPLE.test>"}, NULL, false},
    {{"alice@example.test."}, NULL, false},
    {{"J\xc3\xb6rg <alice@example.test>"}, NULL, false},
    {{"Team: alice@example.test, bob@example.test;"}, NULL, false},
    {{"\"alice@example.test\" <alice@example.test>"}, NULL, false},
    {{"\"Alice Doe\" <\"alice doe\"@example.test>"}, NULL, false},
    {{"alice(x)@example.test"}, NULL, false},
};

/* logged_eom - sign_stage_eom() with standard error caught; what it logged (caller frees) */
static char *logged_eom(struct conn *c, const char **action)
{
    struct stderr_capture cap;
    char *text;

    assert_int_equal(stderr_capture_begin(&cap), 0);
    assert_int_equal(sign_stage_eom(c, NULL, action), SMFIS_CONTINUE);
    assert_non_null(text = stderr_capture_end(&cap));
    return text;
}

/* test_from_decides - signed only for a From that reads cleanly as one of our domains */
static void test_from_decides(void **state)
{
    char db[128], err[256], *long_from;
    struct store_dkim_key k = {
        .domain = "example.test",
        .selector = "s1",
        .algorithm = STORE_DKIM_ED25519_SHA256,
        .bits = 256,
        .key_file = TEST_DATA_DIR "/dkim-sign/ed25519.pem",
        .state = STORE_DKIM_ACTIVE,
        .created_at = 1,
        .activated_at = 1,
    };
    struct config *cfg = config_defaults();
    struct dkims *signer;
    struct store *s;
    size_t ll = FROM_VALUE_MAX + 100;

    (void)state;
    log_open("test_stage_sign", LOG_TO_STDERR);
    assert_true(snprintf_ok(db, sizeof(db), "%s/keys.db", dir));
    assert_non_null(s = store_open(db, 0, err, sizeof(err)));
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    assert_int_equal(store_put_dkim_key(s, &k), STORE_OK);
    store_close(s);
    assert_non_null(signer = dkims_open(err, sizeof(err)));
    sign_stage_setup(signer);
    free(cfg->database);
    cfg->database = xstrdup(db);
    milter_setup(sink, NULL, cfg);
    assert_int_equal(sign_stage_refresh(cfg, true), 1);
    long_from = xmalloc(ll + 1);
    memset(long_from, 'x', ll);
    memcpy(long_from, "alice@example.test (", 20);
    long_from[ll - 1] = ')';
    long_from[ll] = '\0';

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct sign_case *t = &cases[i];
        struct conn *c = conn_new(milter_cfg_acquire());
        const char *action = "accept";
        char *logged;

        conn_begin_message(c, "alice@example.test", "alice");
        assert_true(c->outbound);
        sign_stage_begin(c);
        assert_non_null(c->sign);
        for (size_t f = 0; f < 3 && t->from[f]; f++)
            sign_stage_header(c, f > 0 && t->spaced ? "From \t" : "From",
                              strcmp(t->from[f], LONG_FROM) == 0 ? long_from : t->from[f]);
        sign_stage_header(c, "To", "bob@example.org");
        sign_stage_header(c, "Subject", "test");
        sign_stage_eoh(c);
        sign_stage_body(c, (const unsigned char *)"x\r\n", 3);
        inserted = 0;
        ledger_msg_set(&c->msg->queue_id, "4QID1");
        logged = logged_eom(c, &action);
        if (t->why == NULL && (inserted != 1 || strstr(logged, "not signed") != NULL))
            fail_msg("case %zu: %u signature(s), logged '%s'", i, inserted, logged);
        if (t->why != NULL) {
            char want[128];

            assert_true(snprintf_ok(want, sizeof(want), "4QID1: not signed: %s", t->why));
            /* once: the first "not signed" is the only one */
            if (inserted != 0 || strstr(logged, want) == NULL ||
                strstr(strstr(logged, want) + strlen(want), "not signed") != NULL)
                fail_msg("case %zu: %u signature(s), logged '%s'", i, inserted, logged);
        }
        assert_string_equal(action, "accept");
        free(logged);
        conn_free(c);
    }
    free(long_from);
    milter_teardown();
    sign_stage_setup(NULL);
    sign_stage_teardown();
    dkims_close(signer);
}

static int group_setup(void **state)
{
    (void)state;
    return tmpdir_make(dir);
}

static int group_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_decides),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
