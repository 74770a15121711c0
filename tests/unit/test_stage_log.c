/*
 * test_stage_log.c - the milter's log line per message
 * (milter/stage_log.c): made from the ledger record, one exact line per
 * kind of message (inbound pass, DMARC reject, several signatures,
 * outbound signed twice, unsigned with its reason, tracked), values from
 * the message escaped and cut, the line bounded; never the subject, a
 * recipient or the token; written by the ledger stage at end of message
 * unless log_messages = no.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "conn.h"
#include "ledger_msg.h"
#include "log.h"
#include "milter.h"
#include "smfi.h"
#include "stage_ledger.h"
#include "stage_log.h"
#include "tmpdir_fixture.h"
#include "util.h"

/* The stages reach the MTA through smfi; this test never asks it anything. */
static const struct smfi_ops no_ops;
const struct smfi_ops *smfi = &no_ops;

/* What must never reach the log, set in every record. */
#define SECRET_SUBJECT "Quarterly numbers SECRET"
#define SECRET_RCPT    "secret-rcpt@example.net"
#define SECRET_TOKEN   "TOKENabcdef0123456789"

struct result {
    const char *method, *result, *identity, *selector, *algorithm, *policy, *reason;
};

struct line_case {
    const char *name;
    enum ledger_direction dir;
    const char *queue_id, *from;
    struct result res[4];
    const char *track_outcome, *track_reason, *action, *unsigned_why;
    const char *want;
};

static const struct line_case line_cases[] = {
    {"inbound pass",
     LEDGER_INBOUND,
     "4XyZ1",
     "news@example.org",
     {{"spf", "pass", "example.org", NULL, NULL, NULL, "ip4:192.0.2.1"},
      {"dkim", "pass", "example.org", "sel1", "rsa-sha256", NULL, "2048-bit key"},
      {"dmarc", "pass", "example.org", NULL, NULL, "reject", NULL}},
     NULL,
     NULL,
     "accept",
     NULL,
     "4XyZ1: inbound from=<news@example.org> spf=pass dkim=pass (d=example.org s=sel1) "
     "dmarc=pass (header.from=example.org p=reject) action=accept"},
    {"inbound fail, p=reject",
     LEDGER_INBOUND,
     "4XyZ2",
     "ceo@victim.example",
     {{"spf", "fail", "victim.example", NULL, NULL, NULL, "-all"},
      {"dmarc", "fail", "victim.example", NULL, NULL, "reject", "SPF not aligned"}},
     NULL,
     NULL,
     "reject",
     NULL,
     "4XyZ2: inbound from=<ceo@victim.example> spf=fail dkim=none "
     "dmarc=fail (header.from=victim.example p=reject: SPF not aligned) action=reject"},
    {"inbound, two signatures, one bad; no SPF (local)",
     LEDGER_INBOUND,
     "4XyZ3",
     "",
     {{"dkim", "pass", "example.org", "sel1", "rsa-sha256", NULL, "2048-bit key"},
      {"dkim", "fail", "list.example", "s2", "ed25519-sha256", NULL, "body hash did not verify"},
      {"dmarc", "pass", "example.org", NULL, NULL, "none", NULL}},
     NULL,
     NULL,
     "accept",
     NULL,
     "4XyZ3: inbound from=<> dkim=pass (d=example.org s=sel1) "
     "dkim=fail (d=list.example s=s2: body hash did not verify) "
     "dmarc=pass (header.from=example.org p=none) action=accept"},
    {"inbound quarantine, dmarc without a policy",
     LEDGER_INBOUND,
     "4XyZ4",
     "x@nopolicy.example",
     {{"spf", "softfail", "nopolicy.example", NULL, NULL, NULL, NULL},
      {"dmarc", "none", "nopolicy.example", NULL, NULL, NULL, NULL}},
     NULL,
     NULL,
     "quarantine",
     NULL,
     "4XyZ4: inbound from=<x@nopolicy.example> spf=softfail dkim=none "
     "dmarc=none (header.from=nopolicy.example) action=quarantine"},
    {"outbound signed with two algorithms, tracked",
     LEDGER_OUTBOUND,
     "4XyZ5",
     "alice@example.org",
     {{"dkim-sign", "signed", "example.org", "sel1", "rsa-sha256", NULL, NULL},
      {"dkim-sign", "signed", "example.org", "sel2", "ed25519-sha256", NULL, NULL}},
     "injected",
     "text/html part",
     "accept",
     NULL,
     "4XyZ5: outbound from=<alice@example.org> signed=yes (d=example.org s=sel1 a=rsa-sha256) "
     "signed=yes (d=example.org s=sel2 a=ed25519-sha256) tracked=injected action=accept"},
    {"outbound unsigned with its reason, tracked without HTML",
     LEDGER_OUTBOUND,
     "4XyZ6",
     "bob@other.example",
     {{NULL}},
     "no-html",
     "no text/html part",
     "accept",
     "no key for the From domain",
     "4XyZ6: outbound from=<bob@other.example> signed=no (no key for the From domain) "
     "tracked=no-html (no text/html part) action=accept"},
    {"outbound, a key that could not sign: tempfail",
     LEDGER_OUTBOUND,
     "4XyZ7",
     "alice@example.org",
     {{"dkim-sign", "error", "example.org", "sel1", "rsa-sha256", NULL, "key file unreadable"}},
     NULL,
     NULL,
     "tempfail",
     "not used when there is a result",
     "4XyZ7: outbound from=<alice@example.org> "
     "signed=error (d=example.org s=sel1 a=rsa-sha256: key file unreadable) action=tempfail"},
    {"outbound, no queue id, null sender, reason unknown",
     LEDGER_OUTBOUND,
     NULL,
     "",
     {{NULL}},
     NULL,
     NULL,
     "accept",
     NULL,
     "-: outbound from=<> signed=no action=accept"},
    {"hostile values: CR, LF, space, brackets, DEL, UTF-8",
     LEDGER_INBOUND,
     "4X\r\nY",
     "a b\r\nc(d)@x>\x7f\xc3\xa9",
     {{"dkim", "fail", "ex\r\nample.org", "s 1", NULL, NULL, "bad\r\nsig (x) \\"},
      {"dmarc", "fail", "ex\tample.org", NULL, NULL, "reject\n", NULL}},
     NULL,
     NULL,
     "reject",
     NULL,
     "4X\\x0D\\x0AY: inbound from=<a\\x20b\\x0D\\x0Ac\\x28d\\x29@x\\x3E\\x7F\\xC3\\xA9> "
     "dkim=fail (d=ex\\x0D\\x0Aample.org s=s\\x201: bad\\x0D\\x0Asig \\x28x\\x29 \\x5C) "
     "dmarc=fail (header.from=ex\\x09ample.org p=reject\\x0A) action=reject"},
    {"hostile tracking outcome and reason",
     LEDGER_OUTBOUND,
     "4XyZ8",
     "a@example.org",
     {{NULL}},
     "error\naction=accept",
     "the MTA\r\nrefused",
     "accept",
     "several From domains",
     "4XyZ8: outbound from=<a@example.org> signed=no (several From domains) "
     "tracked=error\\x0Aaction\\x3Daccept (the MTA\\x0D\\x0Arefused) action=accept"},
};

/* record - the ledger record of a case, with what must never be logged */
static struct ledger_msg *record(const struct line_case *t)
{
    struct ledger_msg *m = ledger_msg_new();

    m->direction = t->dir;
    ledger_msg_set(&m->queue_id, t->queue_id);
    ledger_msg_set(&m->mail_from, t->from);
    ledger_msg_set(&m->header_from, "someone@example.org");
    ledger_msg_set(&m->subject, SECRET_SUBJECT);
    ledger_msg_add_rcpt(m, SECRET_RCPT);
    for (size_t i = 0; i < 4 && t->res[i].method; i++) {
        const struct result *r = &t->res[i];
        struct ledger_auth *a = ledger_msg_add_auth(m, r->method, r->result);

        assert_non_null(a);
        ledger_msg_set(&a->identity, r->identity);
        ledger_msg_set(&a->selector, r->selector);
        ledger_msg_set(&a->algorithm, r->algorithm);
        ledger_msg_set(&a->policy, r->policy);
        ledger_msg_set(&a->reason, r->reason);
    }
    if (t->track_outcome)
        ledger_msg_set(&m->track_token, SECRET_TOKEN);
    ledger_msg_set(&m->track_outcome, t->track_outcome);
    ledger_msg_set(&m->track_reason, t->track_reason);
    ledger_msg_set(&m->action, t->action);
    return m;
}

/* no_secret - the line holds neither subject, recipient nor token, nor a line break */
static void no_secret(const char *name, const char *line)
{
    if (strstr(line, "SECRET") || strstr(line, "secret-rcpt") || strstr(line, "TOKEN") ||
        strpbrk(line, "\r\n"))
        fail_msg("%s: '%s'", name, line);
}

/* test_lines - each kind of message gives its exact line */
static void test_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
        const struct line_case *t = &line_cases[i];
        struct ledger_msg *m = record(t);
        struct buf b = BUF_INIT;

        stage_log_format(m, t->unsigned_why, &b);
        if (strcmp(buf_cstr(&b), t->want) != 0)
            fail_msg("%s:\n got  '%s'\n want '%s'", t->name, buf_cstr(&b), t->want);
        no_secret(t->name, buf_cstr(&b));
        buf_free(&b);
        ledger_msg_free(m);
    }
}

/* test_long_values - a value past its bound is cut with "..." (an exact fit is not) */
static void test_long_values(void **state)
{
    static const struct {
        size_t len;     /* bytes of the sender */
        char c;         /* made of this byte */
        size_t kept;    /* bytes of it kept */
        size_t escaped; /* each kept byte as that many */
        bool cut;
    } cases[] = {
        {STAGE_LOG_ADDR_MAX, 'a', STAGE_LOG_ADDR_MAX, 1, false},
        {STAGE_LOG_ADDR_MAX + 1, 'a', STAGE_LOG_ADDR_MAX - 3, 1, true},
        {5000, 'a', STAGE_LOG_ADDR_MAX - 3, 1, true},
        {STAGE_LOG_ADDR_MAX / 4, '\n', STAGE_LOG_ADDR_MAX / 4, 4, false},
        {STAGE_LOG_ADDR_MAX / 4 + 1, '\n', (STAGE_LOG_ADDR_MAX - 3) / 4, 4, true},
        {100000, '\r', (STAGE_LOG_ADDR_MAX - 3) / 4, 4, true},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ledger_msg *m = ledger_msg_new();
        struct buf b = BUF_INIT, want = BUF_INIT;
        char *from = xmalloc(cases[i].len + 1);

        memset(from, cases[i].c, cases[i].len);
        from[cases[i].len] = '\0';
        ledger_msg_set(&m->mail_from, from);
        ledger_msg_set(&m->queue_id, "Q1");
        ledger_msg_set(&m->action, "accept");
        buf_puts(&want, "Q1: inbound from=<");
        for (size_t k = 0; k < cases[i].kept; k++)
            buf_puts(&want, cases[i].escaped == 1 ? "a" : cases[i].c == '\n' ? "\\x0A" : "\\x0D");
        buf_puts(&want, cases[i].cut ? "...> action=accept" : "> action=accept");
        stage_log_format(m, NULL, &b);
        if (strcmp(buf_cstr(&b), buf_cstr(&want)) != 0)
            fail_msg("case %zu:\n got  '%s'\n want '%s'", i, buf_cstr(&b), buf_cstr(&want));
        free(from);
        buf_free(&b);
        buf_free(&want);
        ledger_msg_free(m);
    }
}

/* test_line_bound - the most results a record holds, each at its bounds: the line stays bounded,
 * what does not fit is counted, action= ends it */
static void test_line_bound(void **state)
{
    struct ledger_msg *m = ledger_msg_new();
    struct buf b = BUF_INIT;
    char *from = xmalloc(4001), *domain = xmalloc(301), *reason = xmalloc(301);
    const char *p;
    size_t shown = 0, omitted = 0, n = 0;

    (void)state;
    memset(from, 'f', 4000);
    from[4000] = '\0';
    memset(domain, 'd', 300);
    domain[300] = '\0';
    memset(reason, '\n', 300);
    reason[300] = '\0';
    m->direction = LEDGER_INBOUND;
    ledger_msg_set(&m->queue_id, from);
    ledger_msg_set(&m->mail_from, from);
    ledger_msg_set(&m->action, "reject");
    while (ledger_msg_add_auth(m, "dkim", "fail") != NULL) {
        ledger_msg_set(&m->auth[n].identity, domain);
        ledger_msg_set(&m->auth[n].selector, domain);
        ledger_msg_set(&m->auth[n++].reason, reason);
    }
    assert_int_equal(n, LEDGER_AUTH_MAX);
    stage_log_format(m, NULL, &b);
    assert_true(b.len <= STAGE_LOG_LINE_MAX);
    assert_non_null(strstr(buf_cstr(&b), "..."));
    for (p = buf_cstr(&b); (p = strstr(p, " dkim=fail (")) != NULL; p++)
        shown++;
    p = strstr(buf_cstr(&b), " omitted=");
    assert_non_null(p);
    assert_int_equal(sscanf(p, " omitted=%zu", &omitted), 1);
    assert_true(shown > 0);
    assert_int_equal(shown + omitted, LEDGER_AUTH_MAX);
    assert_string_equal(p + strcspn(p + 1, " ") + 1, " action=reject");
    free(from);
    free(domain);
    free(reason);
    buf_free(&b);
    ledger_msg_free(m);
}

/* eom_logged - one local (outbound) message through the ledger stage; what it logged */
static char *eom_logged(bool log_messages)
{
    struct config *cfg = config_defaults();
    struct stderr_capture cap;
    struct conn *c;
    char *text;

    cfg->log_messages = log_messages;
    milter_setup(NULL, NULL, cfg);
    c = conn_new(milter_cfg_acquire());
    conn_set_client(c, "localhost", NULL); /* a local submission: outbound */
    conn_begin_message(c, "alice@example.org", NULL);
    ledger_stage_rcpt(c, SECRET_RCPT);
    assert_int_equal(stderr_capture_begin(&cap), 0);
    ledger_stage_eom(c, "4LogQ", "accept"); /* no sink: the record is freed */
    assert_non_null(text = stderr_capture_end(&cap));
    conn_free(c);
    milter_teardown();
    return text;
}

/* test_ledger_stage_logs - the ledger stage writes the line, and log_messages = no silences it */
static void test_ledger_stage_logs(void **state)
{
    char *on, *off, *line;

    (void)state;
    log_open("test_stage_log", LOG_TO_STDERR);
    on = eom_logged(true);
    off = eom_logged(false);
    if (strstr(on, "test_stage_log: 4LogQ: outbound from=<alice@example.org> "
                   "signed=no (no signing keys) action=accept\n") == NULL)
        fail_msg("log_messages = yes logged '%s'", on);
    line = strstr(on, "4LogQ: outbound");
    line = xstrndup(line, strcspn(line, "\n"));
    no_secret("log_messages = yes", line);
    free(line);
    if (strstr(off, "4LogQ: outbound") != NULL)
        fail_msg("log_messages = no logged '%s'", off);
    free(on);
    free(off);
}

/* test_default_on - log_messages is on unless the file says no */
static void test_default_on(void **state)
{
    struct config *cfg = config_defaults();

    (void)state;
    assert_true(cfg->log_messages);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),      cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_line_bound), cmocka_unit_test(test_ledger_stage_logs),
        cmocka_unit_test(test_default_on),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
