/*
 * test_stage_ledger.c - the milter's ledger stage (milter/stage_ledger.c)
 * bounds one message's record: recipients past ledger_max_recipients are
 * counted, not kept, and the total goes to the log at end of message; a
 * million-recipient envelope makes a record of the bound's size.
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
#include "ledger_msg.h"
#include "log.h"
#include "milter.h"
#include "smfi.h"
#include "stage_ledger.h"
#include "tmpdir_fixture.h"
#include "util.h"

/* The stages reach the MTA through smfi; this test never asks it anything. */
static const struct smfi_ops no_ops;
const struct smfi_ops *smfi = &no_ops;

static struct ledger_msg *emitted; /* the last record the stage handed on */

/* sink - keep the record the stage emits */
static void sink(void *arg, const struct config *c, struct ledger_msg *m)
{
    (void)arg;
    (void)c;
    ledger_msg_free(emitted);
    emitted = m;
}

/* eom_logged - ledger_stage_eom() with standard error caught; what it logged (caller frees) */
static char *eom_logged(struct conn *c)
{
    struct stderr_capture cap;
    char *text;

    assert_int_equal(stderr_capture_begin(&cap), 0);
    ledger_stage_eom(c, "4XyZ1", "accept");
    assert_non_null(text = stderr_capture_end(&cap));
    return text;
}

struct rcpt_case {
    unsigned max;    /* ledger_max_recipients */
    size_t rcpts;    /* RCPT TO seen */
    const char *log; /* the warning, NULL: none */
};

static const struct rcpt_case rcpt_cases[] = {
    {10, 3, NULL},
    {10, 10, NULL},
    {10, 11, "4XyZ1: 11 recipients; the ledger record keeps the first 10 (ledger_max_recipients)"},
    {1, 5, "4XyZ1: 5 recipients; the ledger record keeps the first 1 (ledger_max_recipients)"},
    {10000, 1000000,
     "4XyZ1: 1000000 recipients; the ledger record keeps the first 10000 (ledger_max_recipients)"},
};

/* test_recipient_bound - the first max recipients in envelope order, the rest counted */
static void test_recipient_bound(void **state)
{
    (void)state;
    log_open("test_stage_ledger", LOG_TO_STDERR);
    for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
        const struct rcpt_case *t = &rcpt_cases[i];
        struct config *cfg = config_defaults();
        struct conn *c;
        char rcpt[64], *logged;
        size_t kept = t->rcpts < t->max ? t->rcpts : t->max;

        cfg->ledger_max_recipients = t->max;
        milter_setup(sink, NULL, cfg);
        c = conn_new(milter_cfg_acquire());
        conn_begin_message(c, "alice@example.org", NULL);
        for (size_t k = 0; k < t->rcpts; k++) {
            snprintf(rcpt, sizeof(rcpt), "r%zu@example.net", k);
            ledger_stage_rcpt(c, rcpt);
        }
        logged = eom_logged(c);
        assert_non_null(emitted);
        if (emitted->nrcpts != kept || emitted->rcpts_omitted != t->rcpts - kept)
            fail_msg("case %zu: %zu kept, %zu omitted", i, emitted->nrcpts, emitted->rcpts_omitted);
        for (size_t k = 0; k < kept; k++) {
            snprintf(rcpt, sizeof(rcpt), "r%zu@example.net", k);
            assert_string_equal(emitted->rcpts[k], rcpt);
        }
        if (t->log == NULL ? strstr(logged, "recipients") != NULL : strstr(logged, t->log) == NULL)
            fail_msg("case %zu: logged '%s'", i, logged);
        /* the record stays near the bound's size whatever the envelope held */
        assert_true(ledger_msg_mem(emitted) < 4096 + kept * 64);
        free(logged);
        emitted = ledger_msg_free(emitted);
        conn_free(c);
        milter_teardown();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipient_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
