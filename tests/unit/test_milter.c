/*
 * test_milter.c - postmeter-milter's callbacks driven through a fake smfi
 * adapter, without an MTA: direction, the fields of each ledger record,
 * several messages per connection, abort, protocol no-reply flags and a
 * configuration replaced while a connection is open.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "milter.h"
#include "smfi.h"
#include "stage_ledger.h"
#include "util.h"

/* --- the fake adapter --- */

struct fake_ctx {
    void *priv;
    const char *macros[8][2]; /* name, value */
};

static char *fake_getsymval(SMFICTX *ctx, char *name)
{
    struct fake_ctx *f = (struct fake_ctx *)ctx;

    for (int i = 0; i < 8 && f->macros[i][0]; i++)
        if (strcmp(f->macros[i][0], name) == 0)
            return (char *)f->macros[i][1];
    return NULL;
}

static void *fake_getpriv(SMFICTX *ctx)
{
    return ((struct fake_ctx *)ctx)->priv;
}

static int fake_setpriv(SMFICTX *ctx, void *priv)
{
    ((struct fake_ctx *)ctx)->priv = priv;
    return MI_SUCCESS;
}

#define MAX_REMOVED 1024
static int removed_ar[MAX_REMOVED]; /* indexes of Authentication-Results fields removed */
static int nremoved_ar;

static int fake_chgheader(SMFICTX *ctx, char *name, int idx, char *value)
{
    (void)ctx;
    assert_string_equal(name, "Authentication-Results");
    assert_null(value);
    assert_true(nremoved_ar < MAX_REMOVED);
    removed_ar[nremoved_ar++] = idx;
    return MI_SUCCESS;
}

static const struct smfi_ops fake_ops = {
    .getsymval = fake_getsymval,
    .getpriv = fake_getpriv,
    .setpriv = fake_setpriv,
    .chgheader = fake_chgheader,
};
const struct smfi_ops *smfi = &fake_ops;

/* --- the sink: records emitted so far --- */

static struct ledger_msg *emitted[16];
static size_t nemitted;

static void sink(void *arg, const struct config *c, struct ledger_msg *m)
{
    (void)arg;
    (void)c;
    assert_true(nemitted < 16);
    emitted[nemitted++] = m;
}

static void clear_emitted(void)
{
    for (size_t i = 0; i < nemitted; i++)
        ledger_msg_free(emitted[i]);
    nemitted = 0;
}

/* --- helpers --- */

static struct config *test_config(bool log_subject)
{
    struct config *c = config_defaults();

    free(c->hostname);
    c->hostname = xstrdup("mx.test");
    c->log_subject = log_subject;
    return c;
}

static struct sockaddr_storage addr_of(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    return ss;
}

/* header_size - what one header adds to the message size */
static int64_t header_size(const char *name, const char *value)
{
    return (int64_t)(strlen(name) + strlen(value) + 4);
}

/* send_message - one whole transaction; returns the expected size */
static int64_t send_message(struct fake_ctx *f, const char *from, const char *const *rcpts,
                            const char *const (*headers)[2], const char *body)
{
    char *argv[2] = {NULL, NULL};
    int64_t size = 2 + (int64_t)strlen(body);

    argv[0] = (char *)from;
    assert_int_equal(milter_envfrom((SMFICTX *)f, argv), SMFIS_CONTINUE);
    for (size_t i = 0; rcpts[i]; i++) {
        argv[0] = (char *)rcpts[i];
        assert_int_equal(milter_envrcpt((SMFICTX *)f, argv), SMFIS_CONTINUE);
    }
    for (size_t i = 0; headers[i][0]; i++) {
        milter_header((SMFICTX *)f, (char *)headers[i][0], (char *)headers[i][1]);
        size += header_size(headers[i][0], headers[i][1]);
    }
    milter_eoh((SMFICTX *)f);
    milter_body((SMFICTX *)f, (unsigned char *)body, strlen(body));
    assert_int_equal(milter_eom((SMFICTX *)f), SMFIS_CONTINUE);
    return size;
}

static const char *const std_headers[][2] = {
    {"From", "Alice Example <alice@sender.example>"},
    {"To", "bob@example.test"},
    {"Subject", "Hello there"},
    {"Message-ID", "<1234@sender.example>"},
    {"Date", "Tue, 24 Nov 2026 10:00:00 +0000"},
    {NULL, NULL},
};

/* --- the cases --- */

struct dir_case {
    const char *name;
    const char *hostname; /* as the MTA passes it */
    const char *ip;       /* NULL: no address (local submission) */
    const char *auth;     /* {auth_authen}, NULL if none */
    enum ledger_direction want;
    const char *want_ptr;
};

static const struct dir_case dir_cases[] = {
    {"inbound", "mail.sender.example", "192.0.2.10", NULL, LEDGER_INBOUND, "mail.sender.example"},
    {"inbound-v6", "mail6.sender.example", "2001:db8::25", NULL, LEDGER_INBOUND,
     "mail6.sender.example"},
    {"unknown-name", "[192.0.2.10]", "192.0.2.10", NULL, LEDGER_INBOUND, NULL},
    {"trusted", "localhost", "127.0.0.1", NULL, LEDGER_OUTBOUND, "localhost"},
    {"trusted-mapped", "localhost", "::ffff:127.0.0.1", NULL, LEDGER_OUTBOUND, "localhost"},
    {"sasl", "laptop.example", "192.0.2.77", "alice", LEDGER_OUTBOUND, "laptop.example"},
    {"local", "localhost", NULL, NULL, LEDGER_OUTBOUND, "localhost"},
};

static void test_direction_and_fields(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
        const struct dir_case *dc = &dir_cases[i];
        struct fake_ctx f = {.macros = {{"i", "4XyZ1"}, {"{auth_authen}", dc->auth}}};
        struct sockaddr_storage ss;
        const char *rcpts[] = {"<bob@example.test>", "<carol@example.test>", NULL};
        struct ledger_msg *m;
        int64_t size;

        if (dc->ip)
            ss = addr_of(dc->ip);
        milter_setup(sink, NULL, test_config(false));
        milter_connect((SMFICTX *)&f, (char *)dc->hostname, dc->ip ? (struct sockaddr *)&ss : NULL);
        milter_helo((SMFICTX *)&f, "helo.sender.example");
        size = send_message(&f, "<alice@sender.example>", rcpts, std_headers, "hi\r\n");
        milter_close((SMFICTX *)&f);
        assert_int_equal(milter_active(), 0);

        if (nemitted != 1)
            fail_msg("%s: %zu records", dc->name, nemitted);
        m = emitted[0];
        if (m->direction != dc->want)
            fail_msg("%s: direction %s", dc->name, ledger_direction_name(m->direction));
        assert_string_equal(m->queue_id, "4XyZ1");
        assert_string_equal(m->mail_from, "alice@sender.example");
        assert_string_equal(m->header_from, "alice@sender.example");
        assert_string_equal(m->message_id, "<1234@sender.example>");
        assert_string_equal(m->date_header, "Tue, 24 Nov 2026 10:00:00 +0000");
        assert_string_equal(m->helo, "helo.sender.example");
        assert_string_equal(m->host, "mx.test");
        assert_string_equal(m->action, "accept");
        assert_null(m->subject); /* log_subject = no */
        assert_int_equal(m->nrcpts, 2);
        assert_string_equal(m->rcpts[0], "bob@example.test");
        assert_string_equal(m->rcpts[1], "carol@example.test");
        assert_int_equal(m->size, size);
        assert_true(m->received_at > 1700000000);
        assert_int_equal(strlen(m->uid), LEDGER_UID_LEN);
        if (dc->ip) {
            const char *want_ip = strncmp(dc->ip, "::ffff:", 7) ? dc->ip : dc->ip + 7;

            assert_non_null(m->client_ip);
            assert_string_equal(m->client_ip, want_ip);
        } else {
            assert_null(m->client_ip);
        }
        if (dc->want_ptr)
            assert_string_equal(m->client_ptr, dc->want_ptr);
        else
            assert_null(m->client_ptr);
        if (dc->auth)
            assert_string_equal(m->sasl_user, dc->auth);
        else
            assert_null(m->sasl_user);
        clear_emitted();
        milter_teardown();
    }
}

static void test_several_messages_and_abort(void **state)
{
    struct fake_ctx f = {.macros = {{"i", "Q1"}}};
    struct sockaddr_storage ss = addr_of("198.51.100.7");
    const char *r1[] = {"<one@example.test>", NULL};
    const char *r2[] = {"<two@example.test>", NULL};
    char *argv[2] = {"<x@sender.example>", NULL};

    (void)state;
    milter_setup(sink, NULL, test_config(false));
    milter_connect((SMFICTX *)&f, "mx.sender.example", (struct sockaddr *)&ss);
    milter_helo((SMFICTX *)&f, "mx.sender.example");
    send_message(&f, "<>", r1, std_headers, "first\r\n");
    /* an abandoned transaction leaves no record */
    milter_envfrom((SMFICTX *)&f, argv);
    argv[0] = "<lost@example.test>";
    milter_envrcpt((SMFICTX *)&f, argv);
    milter_abort((SMFICTX *)&f);
    f.macros[0][1] = "Q2";
    send_message(&f, "<y@sender.example>", r2, std_headers, "second\r\n");
    milter_close((SMFICTX *)&f);

    assert_int_equal(nemitted, 2);
    assert_string_equal(emitted[0]->queue_id, "Q1");
    assert_string_equal(emitted[0]->mail_from, ""); /* null sender */
    assert_int_equal(emitted[0]->nrcpts, 1);
    assert_string_equal(emitted[0]->rcpts[0], "one@example.test");
    assert_string_equal(emitted[1]->queue_id, "Q2");
    assert_string_equal(emitted[1]->mail_from, "y@sender.example");
    assert_int_equal(emitted[1]->nrcpts, 1);
    assert_string_equal(emitted[1]->rcpts[0], "two@example.test");
    assert_string_not_equal(emitted[0]->uid, emitted[1]->uid);
    clear_emitted();
    milter_teardown();
}

static void test_subject_and_odd_headers(void **state)
{
    struct fake_ctx f = {.macros = {{"i", "S1"}}};
    struct sockaddr_storage ss = addr_of("192.0.2.1");
    const char *rcpts[] = {"<bob@example.test>", NULL};
    char long_subject[901], huge[20000];
    const char *headers[][2] = {
        {"Subject", long_subject},
        {"Subject", "second subject is ignored"},
        {"From", "first@example.org"},
        {"From", "second@example.org"},
        {"X-Huge", huge},
        {"Message-ID", huge},
        {"Date", "Tue, 24 Nov 2026\r\n\t10:00:00 +0000"},
        {NULL, NULL},
    };
    struct ledger_msg *m;

    (void)state;
    memset(long_subject, 's', 900);
    long_subject[900] = '\0';
    memset(huge, 'h', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    milter_setup(sink, NULL, test_config(true));
    milter_connect((SMFICTX *)&f, "x", (struct sockaddr *)&ss);
    send_message(&f, "<a@b.example>", rcpts, headers, "");
    milter_close((SMFICTX *)&f);

    assert_int_equal(nemitted, 1);
    m = emitted[0];
    assert_string_equal(m->subject, long_subject); /* 900 chars, intact */
    assert_string_equal(m->header_from, "first@example.org");
    assert_int_equal(strlen(m->message_id), LEDGER_FIELD_MAX);               /* cut, bounded */
    assert_string_equal(m->date_header, "Tue, 24 Nov 2026\t10:00:00 +0000"); /* unfolded */
    assert_null(m->helo);
    clear_emitted();
    milter_teardown();
}

static void test_no_reply_negotiation(void **state)
{
    struct fake_ctx f = {0}, g = {0};
    unsigned long a, p, x, y;

    (void)state;
    milter_setup(sink, NULL, test_config(false));
    /* the MTA offers no-reply for headers: we take it */
    milter_negotiate((SMFICTX *)&f, SMFIF_ADDHDRS | SMFIF_QUARANTINE,
                     SMFIP_NR_HDR | SMFIP_NR_BODY | SMFIP_NR_EOH | SMFIP_NR_CONN, 0, 0, &a, &p, &x,
                     &y);
    assert_int_equal(a, SMFIF_ADDHDRS | SMFIF_QUARANTINE);
    assert_int_equal(p, SMFIP_NR_HDR | SMFIP_NR_BODY | SMFIP_NR_EOH | SMFIP_NR_CONN);
    assert_int_equal(milter_connect((SMFICTX *)&f, "client.example", NULL), SMFIS_NOREPLY);
    assert_int_equal(milter_helo((SMFICTX *)&f, "client.example"), SMFIS_CONTINUE);
    assert_int_equal(milter_header((SMFICTX *)&f, "X", "y"), SMFIS_NOREPLY);
    assert_int_equal(milter_eoh((SMFICTX *)&f), SMFIS_NOREPLY);
    /* an MTA that offers nothing gets replies to every step */
    milter_negotiate((SMFICTX *)&g, 0, 0, 0, 0, &a, &p, &x, &y);
    assert_int_equal(p, 0);
    assert_int_equal(milter_header((SMFICTX *)&g, "X", "y"), SMFIS_CONTINUE);
    assert_int_equal(milter_body((SMFICTX *)&g, (unsigned char *)"b", 1), SMFIS_CONTINUE);
    milter_close((SMFICTX *)&f);
    milter_close((SMFICTX *)&g);
    assert_int_equal(nemitted, 0);
    milter_teardown();
}

static void test_reload_keeps_open_connections(void **state)
{
    struct fake_ctx old_conn = {.macros = {{"i", "OLD"}}}, new_conn = {.macros = {{"i", "NEW"}}};
    struct sockaddr_storage ss = addr_of("192.0.2.1");
    const char *rcpts[] = {"<bob@example.test>", NULL};

    (void)state;
    milter_setup(sink, NULL, test_config(false));
    milter_connect((SMFICTX *)&old_conn, "x", (struct sockaddr *)&ss);
    milter_replace_config(test_config(true)); /* SIGHUP with log_subject = yes */
    milter_connect((SMFICTX *)&new_conn, "x", (struct sockaddr *)&ss);
    send_message(&old_conn, "<a@b.example>", rcpts, std_headers, "");
    send_message(&new_conn, "<a@b.example>", rcpts, std_headers, "");
    milter_close((SMFICTX *)&old_conn);
    milter_close((SMFICTX *)&new_conn);
    assert_int_equal(nemitted, 2);
    assert_null(emitted[0]->subject);
    assert_string_equal(emitted[1]->subject, "Hello there");
    clear_emitted();
    milter_teardown();
}

static void test_rcpt_without_mail_follows_on_internal_error(void **state)
{
    struct fake_ctx f = {0};
    struct config *c = test_config(false);
    char *argv[2] = {"<x@example.test>", NULL};

    (void)state;
    c->on_internal_error = ON_ERROR_TEMPFAIL;
    milter_setup(sink, NULL, c);
    assert_int_equal(milter_envrcpt((SMFICTX *)&f, argv), SMFIS_TEMPFAIL);
    assert_int_equal(milter_eom((SMFICTX *)&f), SMFIS_TEMPFAIL);
    milter_close((SMFICTX *)&f);
    milter_replace_config(test_config(false)); /* default: accept */
    assert_int_equal(milter_envrcpt((SMFICTX *)&f, argv), SMFIS_ACCEPT);
    milter_close((SMFICTX *)&f);
    assert_int_equal(nemitted, 0);
    milter_teardown();
}

/* test_outbound_forged_authres - outbound mail loses fields claiming our authserv-id */
static void test_outbound_forged_authres(void **state)
{
    static const char *const hdrs[][2] = {
        {"From", "alice@example.test"},
        {"Authentication-Results", "other.example; dkim=pass"},
        {"Authentication-Results", " MX.TEST; spf=pass"},
        {"Subject", "x"},
        {"Authentication-Results", "mx.test; dmarc=pass"},
        {NULL, NULL},
    };
    const char *rcpts[] = {"<bob@example.test>", NULL};
    struct fake_ctx f = {0};
    struct sockaddr_storage ss = addr_of("127.0.0.1");
    struct config *c = test_config(false);

    (void)state;
    free(c->authserv_id);
    c->authserv_id = xstrdup("mx.test");
    milter_setup(sink, NULL, c);
    nremoved_ar = 0;
    milter_connect((SMFICTX *)&f, (char *)"localhost", (struct sockaddr *)&ss);
    send_message(&f, "<alice@example.test>", rcpts, hdrs, "body\r\n");
    assert_int_equal(nremoved_ar, 2);
    assert_int_equal(removed_ar[0], 3); /* the last first: indexes stay valid */
    assert_int_equal(removed_ar[1], 2);
    milter_close((SMFICTX *)&f);
    clear_emitted();
    milter_teardown();
}

/*
 * forged_cases - outbound messages with n fields claiming our authserv-id
 * (every `every`-th Authentication-Results field; the others name
 * another host), Subject fields between them
 */
static const struct forged_case {
    const char *name;
    unsigned fields; /* Authentication-Results fields in the header */
    unsigned every;  /* every this many is ours (forged) */
} forged_cases[] = {
    {"one", 1, 1},
    {"eight", 8, 1},
    {"nine", 9, 1},
    {"ten (the report)", 10, 1},
    {"ten among 30", 30, 3},
    {"hundred", 100, 1},
    {"700 among 1000", 1000, 1},
};

/* test_outbound_forged_authres_many - every forged field goes, however many, the last first */
static void test_outbound_forged_authres_many(void **state)
{
    const char *rcpts[] = {"<bob@example.test>", NULL};
    struct sockaddr_storage ss = addr_of("127.0.0.1");
    struct config *c = test_config(false);

    (void)state;
    free(c->authserv_id);
    c->authserv_id = xstrdup("mx.test");
    milter_setup(sink, NULL, c);
    for (size_t k = 0; k < sizeof(forged_cases) / sizeof(forged_cases[0]); k++) {
        const struct forged_case *fc = &forged_cases[k];
        const char *(*hdrs)[2] = xcalloc(2 * fc->fields + 2, sizeof(*hdrs));
        struct fake_ctx f = {0};
        unsigned n = 0, want = 0;

        hdrs[n][0] = "From", hdrs[n++][1] = "alice@example.test";
        for (unsigned i = 1; i <= fc->fields; i++) {
            hdrs[n][0] = "Authentication-Results";
            hdrs[n++][1] = i % fc->every == 0 ? "mx.test; dmarc=pass" : "other.example; spf=pass";
            hdrs[n][0] = "Subject", hdrs[n++][1] = "x";
        }
        nremoved_ar = 0;
        milter_connect((SMFICTX *)&f, (char *)"localhost", (struct sockaddr *)&ss);
        send_message(&f, "<alice@example.test>", rcpts, (const char *const(*)[2])hdrs, "b\r\n");
        /* every forged one, from the last down, each by its index among the A-R fields */
        for (unsigned i = fc->fields; i >= 1; i--) {
            if (i % fc->every != 0)
                continue;
            if (want >= (unsigned)nremoved_ar || removed_ar[want] != (int)i)
                fail_msg("%s: removal %u is not field %u", fc->name, want, i);
            want++;
        }
        if ((unsigned)nremoved_ar != want)
            fail_msg("%s: %d fields removed, want %u", fc->name, nremoved_ar, want);
        milter_close((SMFICTX *)&f);
        clear_emitted();
        free(hdrs);
    }
    milter_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direction_and_fields),
        cmocka_unit_test(test_several_messages_and_abort),
        cmocka_unit_test(test_subject_and_odd_headers),
        cmocka_unit_test(test_no_reply_negotiation),
        cmocka_unit_test(test_reload_keeps_open_connections),
        cmocka_unit_test(test_rcpt_without_mail_follows_on_internal_error),
        cmocka_unit_test(test_outbound_forged_authres),
        cmocka_unit_test(test_outbound_forged_authres_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
