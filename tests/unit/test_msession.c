/*
 * test_msession.c - one milter conversation (msession.c) driven with
 * byte strings, as Postfix's milter8 sends them:
 * negotiation, no-reply steps, macros per command, replies for every
 * status, modifications only at end of message, chunked body
 * replacement, input split at every byte, and malformed packets.
 *
 * Each case is a script of MTA packets; the recording filter below logs
 * every callback as text, and the session's output is decoded into text
 * too, so a case compares two short strings.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "mproto.h"
#include "msession.h"
#include "msession_fixture.h"
#include "util.h"

/* ---- the recording filter ---- */

static struct buf calls; /* what the callbacks saw */
static struct {
    unsigned long nr; /* SMFIP_NR_* the filter asks for */
    sfsistat eom_status;
    const char *reply[3]; /* setreply() at end of message, if [0] */
    bool modify;          /* insheader, chgheader, quarantine at end of message */
    size_t newbody;       /* replacebody() with this many bytes, if > 0 */
    bool modify_early;    /* try insheader() in the header callback */
} script;
static int closes;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&calls, fmt, ap);
    va_end(ap);
}

static sfsistat nr(unsigned long flag)
{
    return (script.nr & flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat t_negotiate(SMFICTX *s, unsigned long f0, unsigned long f1, unsigned long f2,
                            unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                            unsigned long *pf2, unsigned long *pf3)
{
    (void)s, (void)f2, (void)f3;
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY); /* no quarantine */
    *pf1 = f1 & (script.nr | SMFIP_HDR_LEADSPC);
    *pf2 = *pf3 = 0;
    logf_("neg;");
    return SMFIS_CONTINUE;
}

static sfsistat t_connect(SMFICTX *s, char *host, _SOCK_ADDR *sa)
{
    char a[64] = "-";

    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, a, sizeof(a));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof(a));
    logf_("conn %s %s;", host, a);
    (void)s;
    return nr(SMFIP_NR_CONN);
}

static sfsistat t_helo(SMFICTX *s, char *helo)
{
    char *v = msession_getsymval(s, "{client_name}");

    logf_("helo %s %s;", helo, v ? v : "-");
    return nr(SMFIP_NR_HELO);
}

static sfsistat t_envfrom(SMFICTX *s, char **argv)
{
    char *au = msession_getsymval(s, "{auth_authen}"), *q = msession_getsymval(s, "i");

    logf_("mail");
    for (; *argv; argv++)
        logf_(" %s", *argv);
    logf_(" auth=%s i=%s;", au ? au : "-", q ? q : "-");
    return nr(SMFIP_NR_MAIL);
}

static sfsistat t_envrcpt(SMFICTX *s, char **argv)
{
    (void)s;
    logf_("rcpt %s;", argv[0]);
    return nr(SMFIP_NR_RCPT);
}

static sfsistat t_header(SMFICTX *s, char *name, char *value)
{
    logf_("hdr %s=%s;", name, value);
    if (script.modify_early)
        logf_("early insheader %d;", msession_insheader(s, 0, "X-Early", "no"));
    return nr(SMFIP_NR_HDR);
}

static sfsistat t_eoh(SMFICTX *s)
{
    (void)s;
    logf_("eoh;");
    return nr(SMFIP_NR_EOH);
}

static sfsistat t_body(SMFICTX *s, unsigned char *chunk, size_t len)
{
    (void)s, (void)chunk;
    logf_("body %zu;", len);
    return nr(SMFIP_NR_BODY);
}

static sfsistat t_eom(SMFICTX *s)
{
    char *q = msession_getsymval(s, "{i}"), *au = msession_getsymval(s, "auth_authen");

    logf_("eom i=%s auth=%s;", q ? q : "-", au ? au : "-");
    if (script.reply[0])
        logf_("setreply %d;", msession_setreply(s, (char *)script.reply[0], (char *)script.reply[1],
                                                (char *)script.reply[2]));
    if (script.modify) {
        msession_insheader(s, 0, "Authentication-Results", " mx; spf=pass");
        msession_chgheader(s, "Authentication-Results", 2, NULL);
        msession_quarantine(s, "held");
    }
    if (script.newbody) {
        unsigned char *b = xcalloc(1, script.newbody);

        msession_replacebody(s, b, (int)script.newbody);
        free(b);
    }
    return script.eom_status;
}

static sfsistat t_abort(SMFICTX *s)
{
    (void)s;
    logf_("abort;");
    return SMFIS_CONTINUE;
}

static sfsistat t_close(SMFICTX *s)
{
    (void)s;
    logf_("close;");
    closes++;
    return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
    .xxfi_name = "test",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY,
    .xxfi_connect = t_connect,
    .xxfi_helo = t_helo,
    .xxfi_envfrom = t_envfrom,
    .xxfi_envrcpt = t_envrcpt,
    .xxfi_header = t_header,
    .xxfi_eoh = t_eoh,
    .xxfi_body = t_body,
    .xxfi_eom = t_eom,
    .xxfi_abort = t_abort,
    .xxfi_close = t_close,
    .xxfi_negotiate = t_negotiate,
};

/* decode - the session's output as text: one word per packet */
static char *decode(const struct buf *out)
{
    struct buf t = BUF_INIT;
    struct mpkt p;
    size_t off = 0, used;

    while (mproto_frame((const unsigned char *)out->data + off, out->len - off, &p, &used) ==
           MPROTO_PACKET) {
        uint32_t v[3];

        switch (p.cmd) {
        case SMFIC_OPTNEG:
            assert_int_equal(p.len, 12);
            memcpy(v, p.data, 12);
            buf_printf(&t, "O(%u,%#x,%#x) ", ntohl(v[0]), ntohl(v[1]), ntohl(v[2]));
            break;
        case SMFIR_INSHEADER:
        case SMFIR_CHGHEADER:
            memcpy(v, p.data, 4);
            buf_printf(&t, "%c(%u,%s,%s) ", p.cmd, ntohl(v[0]), (const char *)p.data + 4,
                       (const char *)p.data + 4 + strlen((const char *)p.data + 4) + 1);
            break;
        case SMFIR_REPLYCODE:
        case SMFIR_QUARANTINE:
            buf_printf(&t, "%c(%s) ", p.cmd, (const char *)p.data);
            break;
        case SMFIR_REPLBODY:
            buf_printf(&t, "b(%zu) ", p.len);
            break;
        default:
            buf_printf(&t, "%c ", p.cmd);
        }
        off += used;
    }
    assert_int_equal(off, out->len); /* nothing half-written */
    if (t.len)
        buf_truncate(&t, t.len - 1);
    return buf_steal(&t);
}

/* message - one SMTP transaction as Postfix sends it after negotiation */
static void message(struct buf *b, const char *qid, const char *auth)
{
    if (auth)
        macro(b, SMFIC_MAIL, "{auth_authen}", auth, NULL);
    else
        macro(b, SMFIC_MAIL, "{mail_mailer}", "smtp", NULL);
    pkts(b, SMFIC_MAIL, "<a@example.test>", "SIZE=100", NULL);
    pkts(b, SMFIC_RCPT, "<b@example.test>", NULL);
    pkts(b, SMFIC_HEADER, "Subject", " hi", NULL);
    pkt(b, SMFIC_EOH, NULL, 0);
    pkt(b, SMFIC_BODY, "hello\r\n", 7);
    macro(b, SMFIC_BODYEOB, "i", qid, NULL);
    pkt(b, SMFIC_BODYEOB, NULL, 0);
}

struct run {
    char *calls, *out;
    bool go_on;
};

/* run - feed input (whole, or split into pieces of `step` bytes), free the session */
static struct run run(const struct buf *in, size_t step)
{
    SMFICTX *s = msession_new(&desc);
    struct buf out = BUF_INIT;
    struct run r = {.go_on = true};

    buf_reset(&calls);
    closes = 0;
    for (size_t off = 0; off < in->len && r.go_on;) {
        size_t n = step && in->len - off > step ? step : in->len - off;

        r.go_on = msession_input(s, in->data + off, n);
        buf_add(&out, msession_output(s)->data, msession_output(s)->len);
        buf_reset(msession_output(s));
        off += n;
    }
    msession_free(s);
    r.out = decode(&out);
    r.calls = buf_steal(&calls);
    buf_free(&out);
    return r;
}

static void run_free(struct run *r)
{
    free(r->calls);
    free(r->out);
}

static void reset_script(void)
{
    memset(&script, 0, sizeof(script));
    script.eom_status = SMFIS_CONTINUE;
}

/* reset_nr_all - the script's defaults, every step without a reply (as postmeter asks) */
static void reset_nr_all(void)
{
    reset_script();
    script.nr = NR_ALL;
}

/* ---- conversations ---- */

struct conv_case {
    const char *name;
    unsigned long nr;
    sfsistat eom_status;
    const char *reply[3];
    bool modify;
    size_t newbody;
    const char *want_out; /* after the optneg answer */
};

static const struct conv_case conv_cases[] = {
    {"no-reply steps: one answer per message", NR_ALL, SMFIS_CONTINUE, {0}, false, 0, "c"},
    {"every step answered", 0, SMFIS_CONTINUE, {0}, false, 0, "c c c c c c c c"},
    {"accept", NR_ALL, SMFIS_ACCEPT, {0}, false, 0, "a"},
    {"discard", NR_ALL, SMFIS_DISCARD, {0}, false, 0, "d"},
    {"reject without text", NR_ALL, SMFIS_REJECT, {0}, false, 0, "r"},
    {"tempfail without text", NR_ALL, SMFIS_TEMPFAIL, {0}, false, 0, "t"},
    {"reject with text",
     NR_ALL,
     SMFIS_REJECT,
     {"550", "5.7.1", "DMARC policy"},
     false,
     0,
     "y(550 5.7.1 DMARC policy)"},
    {"tempfail with text",
     NR_ALL,
     SMFIS_TEMPFAIL,
     {"451", "4.7.1", "try later"},
     false,
     0,
     "y(451 4.7.1 try later)"},
    {"a 5xx text does not make a tempfail permanent",
     NR_ALL,
     SMFIS_TEMPFAIL,
     {"550", "5.7.1", "no"},
     false,
     0,
     "t"},
    {"text without enhanced code",
     NR_ALL,
     SMFIS_REJECT,
     {"554", NULL, "go away"},
     false,
     0,
     "y(554 go away)"},
    {"modifications before the answer; quarantine not negotiated",
     NR_ALL,
     SMFIS_CONTINUE,
     {0},
     true,
     0,
     "i(0,Authentication-Results, mx; spf=pass) m(2,Authentication-Results,) c"},
    {"body replaced in 64 KiB chunks",
     NR_ALL,
     SMFIS_CONTINUE,
     {0},
     false,
     150000,
     "b(65535) b(65535) b(18930) c"},
    {"small body replaced in one chunk", NR_ALL, SMFIS_CONTINUE, {0}, false, 10, "b(10) c"},
};

static void test_conversations(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(conv_cases) / sizeof(conv_cases[0]); i++) {
        const struct conv_case *c = &conv_cases[i];
        struct buf in = BUF_INIT;
        char *want;

        reset_script();
        script.nr = c->nr;
        script.eom_status = c->eom_status;
        memcpy(script.reply, c->reply, sizeof(script.reply));
        script.modify = c->modify;
        script.newbody = c->newbody;
        session_start(&in);
        message(&in, "4XyZ1", NULL);
        pkt(&in, SMFIC_QUIT, NULL, 0);
        want = xasprintf("O(6,%#lx,%#lx) %s", SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY,
                         c->nr | SMFIP_HDR_LEADSPC | SMFIP_NOUNKNOWN | SMFIP_NODATA, c->want_out);
        /* whole, and split at every byte: the same calls and answers */
        for (size_t step = 0; step <= 1; step++) {
            struct run r = run(&in, step);

            print_message("%s (step %zu)\n", c->name, step);
            assert_string_equal(r.out, want);
            assert_false(r.go_on); /* QUIT */
            assert_non_null(strstr(r.calls, "eom i=4XyZ1"));
            run_free(&r);
        }
        free(want);
        buf_free(&in);
    }
}

/* the callbacks in order, with macros of the right command */
static void test_callbacks_and_macros(void **state)
{
    struct buf in = BUF_INIT;
    struct run r;

    (void)state;
    reset_nr_all();
    session_start(&in);
    message(&in, "Q1", "alice");
    message(&in, "Q2", NULL); /* a second message: the first one's macros are gone */
    macro(&in, SMFIC_MAIL, "{auth_authen}", "bob", NULL);
    pkts(&in, SMFIC_MAIL, "<>", NULL);
    pkt(&in, SMFIC_ABORT, NULL, 0);
    r = run(&in, 0);
    assert_string_equal(r.calls,
                        "neg;conn client.example 192.0.2.7;helo client.example client.example;"
                        "mail <a@example.test> SIZE=100 auth=alice i=-;rcpt <b@example.test>;"
                        "hdr Subject= hi;eoh;body 7;eom i=Q1 auth=alice;"
                        "mail <a@example.test> SIZE=100 auth=- i=-;rcpt <b@example.test>;"
                        "hdr Subject= hi;eoh;body 7;eom i=Q2 auth=-;"
                        "mail <> auth=bob i=-;abort;close;");
    assert_true(r.go_on); /* no QUIT: the MTA just went away */
    run_free(&r);
    buf_free(&in);
}

/* connect information of every family */
static void test_connect_families(void **state)
{
    static const struct {
        char family;
        const char *addr, *want;
    } cases[] = {
        {SMFIA_INET, "192.0.2.1", "conn h 192.0.2.1;"},
        {SMFIA_INET6, "2001:db8::1", "conn h 2001:db8::1;"},
        {SMFIA_INET6, "IPv6:2001:db8::2", "conn h 2001:db8::2;"},
        {SMFIA_UNIX, "/var/run/x", "conn h -;"},
        {SMFIA_UNKNOWN, NULL, "conn h -;"},
        {SMFIA_INET, "not-an-address", "conn h -;"},
    };

    (void)state;
    reset_nr_all();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf in = BUF_INIT;
        struct run r;
        char *want = xasprintf("neg;%sclose;", cases[i].want);

        optneg(&in, 6, ALL_ACTIONS, ALL_PROTOCOL);
        connect_inet(&in, "h", cases[i].family, cases[i].addr);
        r = run(&in, 0);
        assert_true(r.go_on);
        assert_string_equal(r.calls, want);
        free(want);
        run_free(&r);
        buf_free(&in);
    }
}

/* modifications outside end of message, or not negotiated, fail */
static void test_modification_rules(void **state)
{
    struct buf in = BUF_INIT;
    struct run r;
    char *want;

    (void)state;
    reset_nr_all();
    script.modify_early = true;
    session_start(&in);
    message(&in, "Q1", NULL);
    r = run(&in, 0);
    assert_non_null(strstr(r.calls, "early insheader -1;"));
    want = xasprintf("O(6,%#lx,%#lx) c", SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY,
                     NR_ALL | SMFIP_HDR_LEADSPC | SMFIP_NOUNKNOWN | SMFIP_NODATA);
    assert_string_equal(r.out, want);
    free(want);
    run_free(&r);
    buf_free(&in);
}

/* the MTA offers less: we take only what it offers */
static void test_negotiation_limits(void **state)
{
    struct buf in = BUF_INIT;
    struct run r;

    (void)state;
    reset_nr_all();
    optneg(&in, 2, SMFIF_ADDHDRS, 0x3f); /* an old MTA: version 2, no NR steps */
    r = run(&in, 0);
    assert_string_equal(r.out, "O(2,0x1,0)");
    run_free(&r);
    buf_free(&in);
}

/* broken input ends the conversation without a crash; close runs once */
static void test_malformed(void **state)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        bool negotiate_first;
    } cases[] = {
        {"zero length", "\0\0\0\0", 4, false},
        {"length over the limit",
         "\x7f\xff\xff\xff"
         "O",
         5, false},
        {"command before negotiation",
         "\0\0\0\x01"
         "Q",
         5, false},
        {"short negotiation",
         "\0\0\0\x05"
         "O\0\0\0\x06",
         9, false},
        {"header without terminator",
         "\0\0\0\x04"
         "Lab:",
         8, true},
        {"mail without strings",
         "\0\0\0\x01"
         "M",
         5, true},
        {"connect without family",
         "\0\0\0\x03"
         "Ch\0",
         7, true},
        {"connect address unterminated",
         "\0\0\0\x08"
         "Ch\0"
         "4\x01\x02"
         "12",
         12, true},
        {"unknown command",
         "\0\0\0\x01"
         "Z",
         5, true},
    };

    (void)state;
    reset_nr_all();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf in = BUF_INIT;
        struct run r;

        if (cases[i].negotiate_first)
            optneg(&in, 6, ALL_ACTIONS, ALL_PROTOCOL);
        buf_add(&in, cases[i].bytes, cases[i].len);
        /* whatever follows is not read */
        pkts(&in, SMFIC_HELO, "after", NULL);
        r = run(&in, 0);
        print_message("%s\n", cases[i].name);
        assert_false(r.go_on);
        assert_null(strstr(r.calls, "helo"));
        assert_int_equal(closes, 1);
        run_free(&r);
        buf_free(&in);
    }
}

/* macros that do not parse are dropped; a body chunk with end of message goes first */
static void test_odd_but_valid(void **state)
{
    struct buf in = BUF_INIT;
    struct run r;

    (void)state;
    reset_nr_all();
    session_start(&in);
    pkt(&in, SMFIC_MACRO, "M{x}", 4); /* unterminated: ignored */
    pkt(&in, SMFIC_MACRO, "", 0);     /* no command: ignored */
    pkts(&in, SMFIC_MAIL, "<a@b>", NULL);
    pkt(&in, SMFIC_BODYEOB, "tail", 4);
    pkt(&in, SMFIC_QUIT_NC, NULL, 0); /* close, a new connection follows */
    connect_inet(&in, "second", SMFIA_INET, "192.0.2.9");
    r = run(&in, 3);
    assert_true(r.go_on);
    assert_string_equal(strstr(r.calls, "mail"), "mail <a@b> auth=- i=-;body 4;eom i=- auth=-;"
                                                 "close;conn second 192.0.2.9;close;");
    run_free(&r);
    buf_free(&in);
}

/* setreply refuses what would break the SMTP reply */
static void test_setreply_checks(void **state)
{
    static const struct {
        const char *rcode, *xcode, *msg;
        int want;
    } cases[] = {
        {"550", "5.7.1", "ok", MI_SUCCESS},     {"451", "4.3.0", NULL, MI_SUCCESS},
        {"250", NULL, "x", MI_FAILURE},         {"55", NULL, "x", MI_FAILURE},
        {"5x0", NULL, "x", MI_FAILURE},         {"550", "4.7.1", "x", MI_FAILURE},
        {"550", "5.7.1", "a\r\nb", MI_FAILURE}, {NULL, NULL, "x", MI_FAILURE},
    };
    SMFICTX *s = msession_new(&desc);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(msession_setreply(s, (char *)cases[i].rcode, (char *)cases[i].xcode,
                                           (char *)cases[i].msg),
                         cases[i].want);
    buf_reset(&calls);
    msession_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversations),      cmocka_unit_test(test_callbacks_and_macros),
        cmocka_unit_test(test_connect_families),   cmocka_unit_test(test_modification_rules),
        cmocka_unit_test(test_negotiation_limits), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_odd_but_valid),      cmocka_unit_test(test_setreply_checks),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    buf_free(&calls);
    return rc;
}
