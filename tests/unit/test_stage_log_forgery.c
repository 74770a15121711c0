/*
 * test_stage_log_forgery.c - the log line
 * per message (milter/stage_log.c) must not let a value from the message
 * forge a result an admin greps for. A DKIM-Signature's d= and s= are
 * logged as the signature spells them (any printable character but ';',
 * '=' included), the envelope sender likewise; a failing message whose
 * signature says d=dmarc=pass must not match "grep dmarc=pass", one that
 * was rejected must not match "grep action=accept".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "conn.h"
#include "ledger_msg.h"
#include "smfi.h"
#include "stage_log.h"

/* The stages reach the MTA through smfi; this test never asks it anything. */
static const struct smfi_ops no_ops;
const struct smfi_ops *smfi = &no_ops;

struct forge_case {
    const char *name;
    const char *from;                                /* envelope sender */
    const char *spf, *dkim, *d, *s, *dmarc, *action; /* the real outcome */
    const char *forged;                              /* must not be in the line */
    const char *real;                                /* must be in the line */
};

/* Values a DKIM-Signature header of the message sets (d=, s=). */
static const struct forge_case sig_cases[] = {
    {"d= spells a DMARC pass", "a@evil.example", "fail", "fail", "dmarc=pass", "s1", "fail",
     "reject", "dmarc=pass", "dmarc=fail"},
    {"s= spells an accept", "a@evil.example", "fail", "permerror", "evil.example", "action=accept",
     "fail", "reject", "action=accept", "action=reject"},
    {"d= spells an SPF pass", "a@evil.example", "fail", "fail", "spf=pass", "s1", "fail", "reject",
     "spf=pass", "spf=fail"},
    {"s= spells a DKIM pass", "a@evil.example", "softfail", "fail", "evil.example", "dkim=pass",
     "fail", "reject", "dkim=pass", "dkim=fail"},
};

/* The envelope sender (MAIL FROM: a local part may hold '='). */
static const struct forge_case from_cases[] = {
    {"sender spells a DMARC pass", "dmarc=pass@evil.example", "fail", "fail", "evil.example", "s1",
     "fail", "reject", "dmarc=pass", "dmarc=fail"},
    {"sender spells an accept", "action=accept@evil.example", "fail", "fail", "evil.example", "s1",
     "fail", "reject", "action=accept", "action=reject"},
};

/* line - the line of case t */
static char *line(const struct forge_case *t)
{
    struct ledger_msg *m = ledger_msg_new();
    struct ledger_auth *a;
    struct buf b = BUF_INIT;

    m->direction = LEDGER_INBOUND;
    ledger_msg_set(&m->queue_id, "4AdV19");
    ledger_msg_set(&m->mail_from, t->from);
    a = ledger_msg_add_auth(m, "spf", t->spf);
    ledger_msg_set(&a->identity, "evil.example");
    a = ledger_msg_add_auth(m, "dkim", t->dkim);
    ledger_msg_set(&a->identity, t->d);
    ledger_msg_set(&a->selector, t->s);
    ledger_msg_set(&a->reason, "signature did not verify");
    a = ledger_msg_add_auth(m, "dmarc", t->dmarc);
    ledger_msg_set(&a->identity, "victim.example");
    ledger_msg_set(&a->policy, "reject");
    ledger_msg_set(&m->action, t->action);
    stage_log_format(m, NULL, &b);
    ledger_msg_free(m);
    return buf_steal(&b);
}

/* check - no case's line holds its forged result; each holds its real one */
static void check(const struct forge_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *l = line(&cases[i]);
        bool real = strstr(l, cases[i].real) != NULL, forged = strstr(l, cases[i].forged) != NULL;

        print_message("%s: %s\n", cases[i].name, l);
        free(l); /* before a failed assertion leaves */
        assert_true(real);
        assert_false(forged);
    }
}

static void test_signature_values(void **state)
{
    (void)state;
    check(sig_cases, sizeof(sig_cases) / sizeof(sig_cases[0]));
}

static void test_envelope_sender(void **state)
{
    (void)state;
    check(from_cases, sizeof(from_cases) / sizeof(from_cases[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_values),
        cmocka_unit_test(test_envelope_sender),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
