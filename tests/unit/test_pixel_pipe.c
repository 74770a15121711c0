/*
 * test_pixel_pipe.c - the pure parts of postmeter-pixelfilter's pipe mode
 * (pixelfilter/pipe_msg.c): the command line, the top-level header walk
 * (end of header, removing the opt-out field byte-exactly, reading From
 * and Subject, "X-Postmeter-Track: no") and the per-recipient decision.
 * The process side (sendmail, exit codes) is in
 * tests/integration/test_pixel_pipe.py.
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
#include "pipe.h"
#include "store.h"
#include "track.h"
#include "util.h"
#include "tmpdir_fixture.h"

static char dbdir[] = "/tmp/test_pixel_pipe.XXXXXX"; /* root's alone: root opens the database */

/* parse - pipe_args_parse over a NULL-terminated list of arguments */
static bool parse(struct pipe_args *a, struct buf *why, char **argv)
{
    int argc = 0;

    while (argv[argc])
        argc++;
    buf_reset(why);
    return pipe_args_parse(argc, argv, a, why);
}

static void test_args(void **state)
{
    char *ok[] = {"pf", "-c",           "/x.conf",       "-f", "a@b.example", "-q", "QID",
                  "--", "r1@x.example", "-r2@x.example", NULL};
    char *null_sender[] = {"pf", "-f", "", "--", "r@x.example", NULL};
    char *angle[] = {"pf", "-f", "<>", "--", "r@x.example", NULL};
    char *dash_sender[] = {"pf", "-f", "-s", "--", "r@x.example", NULL};
    char *sendmail[] = {"pf", "--sendmail", "/opt/sm", "-f", "a@b", "--", "r", NULL};
    char *help[] = {"pf", "-h", NULL};
    char *no_f[] = {"pf", "--", "r@x.example", NULL};
    char *no_rcpt[] = {"pf", "-f", "a@b", "--", NULL};
    char *empty_rcpt[] = {"pf", "-f", "a@b", "--", "", NULL};
    char *relative[] = {"pf", "--sendmail", "sendmail", "-f", "a@b", "--", "r", NULL};
    char *bogus[] = {"pf", "--bogus", "-f", "a@b", "--", "r", NULL};
    char *missing[] = {"pf", "-f", NULL};
    struct buf why = BUF_INIT;
    struct pipe_args a;

    (void)state;
    assert_true(parse(&a, &why, ok));
    assert_string_equal(a.config, "/x.conf");
    assert_string_equal(a.sender, "a@b.example");
    assert_string_equal(a.queue_id, "QID");
    assert_string_equal(a.sendmail, PIPE_SENDMAIL);
    assert_int_equal(a.nrcpts, 2);
    assert_string_equal(a.rcpts[0], "r1@x.example");
    assert_string_equal(a.rcpts[1], "-r2@x.example"); /* after "--": not an option */
    assert_false(a.help);

    assert_true(parse(&a, &why, null_sender));
    assert_string_equal(a.sender, "");
    assert_null(a.config);
    assert_null(a.queue_id);
    assert_true(parse(&a, &why, angle));
    assert_string_equal(a.sender, "");
    assert_true(parse(&a, &why, dash_sender));
    assert_string_equal(a.sender, "-s");
    assert_true(parse(&a, &why, sendmail));
    assert_string_equal(a.sendmail, "/opt/sm");
    assert_true(parse(&a, &why, help));
    assert_true(a.help);

    assert_false(parse(&a, &why, no_f));
    assert_non_null(strstr(buf_cstr(&why), "no -f SENDER"));
    assert_false(parse(&a, &why, no_rcpt));
    assert_non_null(strstr(buf_cstr(&why), "no recipients"));
    assert_false(parse(&a, &why, empty_rcpt));
    assert_false(parse(&a, &why, relative));
    assert_non_null(strstr(buf_cstr(&why), "not an absolute path"));
    assert_false(parse(&a, &why, bogus));
    assert_non_null(strstr(buf_cstr(&why), "--bogus"));
    assert_false(parse(&a, &why, missing));
    buf_free(&why);
}

static void test_header_end(void **state)
{
    static const char lf[] = "A: 1\nB: 2\n\nbody\n";
    static const char crlf[] = "A: 1\r\nB: 2\r\n\r\nbody\r\n";
    static const char none[] = "A: 1\nB: 2\n";
    static const char empty_head[] = "\nbody\n";

    (void)state;
    assert_int_equal(pipe_header_end(lf, strlen(lf)), 11);
    assert_int_equal(pipe_header_end(crlf, strlen(crlf)), 14);
    assert_int_equal(pipe_header_end(none, strlen(none)), strlen(none));
    assert_int_equal(pipe_header_end(empty_head, strlen(empty_head)), 1);
    assert_int_equal(pipe_header_end("", 0), 0);
}

/* strip - pipe_strip_field(in, PIPE_OPT_OUT_FIELD) as a string; *n = fields removed */
static char *strip(const char *in, unsigned *n)
{
    struct buf out = BUF_INIT;

    *n = pipe_strip_field(in, strlen(in), PIPE_OPT_OUT_FIELD, &out);
    buf_reserve(&out, 0);
    return buf_steal(&out);
}

static void test_strip(void **state)
{
    static const struct {
        const char *in, *want;
        unsigned removed;
    } cases[] = {
        /* nothing to remove: byte for byte, odd line ends and all */
        {"From: a@b\r\nSubject: x \n\r\nbody\r\n", "From: a@b\r\nSubject: x \n\r\nbody\r\n", 0},
        {"From: a@b\n\nX-Postmeter-Track: no\n", "From: a@b\n\nX-Postmeter-Track: no\n", 0},
        /* first, middle, last; any case; obsolete "name :" */
        {"X-Postmeter-Track: no\nFrom: a@b\n\nbody\n", "From: a@b\n\nbody\n", 1},
        {"From: a@b\r\nx-postmeter-track: NO\r\nTo: c@d\r\n\r\nb\r\n",
         "From: a@b\r\nTo: c@d\r\n\r\nb\r\n", 1},
        {"From: a@b\nX-Postmeter-Track : yes\n\nb\n", "From: a@b\n\nb\n", 1},
        /* continuation lines go with it; several fields */
        {"X-Postmeter-Track: n\n o\nFrom: a@b\nX-Postmeter-Track: yes\n\tmore\n\nb\n",
         "From: a@b\n\nb\n", 2},
        /* other names that start the same, or end the same, stay */
        {"X-Postmeter-Tracking: no\nX-X-Postmeter-Track: no\n\nb\n",
         "X-Postmeter-Tracking: no\nX-X-Postmeter-Track: no\n\nb\n", 0},
        /* a header without body, without a final line end */
        {"From: a@b\nX-Postmeter-Track: no", "From: a@b\n", 1},
        /* inside a MIME part (not top-level): stays */
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nX-Postmeter-Track: no\n\nx\n--b--\n",
         "Content-Type: multipart/mixed; boundary=b\n\n--b\nX-Postmeter-Track: no\n\nx\n--b--\n",
         0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned n;
        char *got = strip(cases[i].in, &n);

        assert_string_equal(got, cases[i].want);
        assert_int_equal(n, cases[i].removed);
        free(got);
    }
}

static void test_field_value(void **state)
{
    static const char m[] =
        "Received: x\r\nFROM: \"Ann\" <ann@example.org>,\r\n  bob@example.org\r\n"
        "Subject:  Hello\r\n\tworld  \r\nFrom: second@example.org\r\n\r\n"
        "Subject: body\r\n";
    char *v;

    (void)state;
    v = pipe_field_value(m, strlen(m), "From");
    assert_string_equal(v, "\"Ann\" <ann@example.org>,  bob@example.org");
    free(v);
    v = pipe_field_value(m, strlen(m), "Subject");
    assert_string_equal(v, "Hello\tworld");
    free(v);
    assert_null(pipe_field_value(m, strlen(m), "To"));
    assert_null(pipe_field_value(m, strlen(m), "Subjec"));
    v = pipe_field_value("Subject:\n\n", 10, "Subject");
    assert_string_equal(v, "");
    free(v);
}

static void test_opt_out(void **state)
{
    static const char *const yes[] = {
        "X-Postmeter-Track: no\n\nb\n",
        "From: a\nX-Postmeter-Track:   No  \r\n\r\nb\n",
        "X-Postmeter-Track: yes\nX-Postmeter-Track: no\n\nb\n",
        "X-Postmeter-Track:\n no\n\nb\n",
    };
    static const char *const no[] = {
        "X-Postmeter-Track: yes\n\nb\n",   "X-Postmeter-Track: nope\n\nb\n",
        "X-Postmeter-Track: n o\n\nb\n",   "From: a\n\nX-Postmeter-Track: no\n",
        "X-Postmeter-Tracking: no\n\nb\n",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(pipe_opt_out(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(pipe_opt_out(no[i], strlen(no[i])));
}

static void test_rcpt_tracked(void **state)
{
    char path[64], err[256];
    struct store *s;
    struct track_rules *r;
    struct config *c = config_defaults();
    struct store_track_rule sender = {
        .field = STORE_TRACK_SENDER, .pattern = "@news.example", .enabled = true, .created_at = 1};
    struct store_track_rule rcpt = {.field = STORE_TRACK_RECIPIENT,
                                    .pattern = "vip@client.example",
                                    .enabled = true,
                                    .created_at = 1};
    struct pipe_msg_facts f = {.sender = "", .header_from = NULL, .opt_out = false};

    (void)state;
    snprintf(path, sizeof(path), "%s/pipe.db", dbdir);
    unlink(path);
    s = store_open(path, 0, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    assert_int_equal(store_put_track_rule(s, &sender, NULL), STORE_OK);
    assert_int_equal(store_put_track_rule(s, &rcpt, NULL), STORE_OK);
    r = track_rules_load(s, err, sizeof(err));
    assert_non_null(r);
    free(c->track_exclude);
    c->track_exclude = xcalloc(2, sizeof(char *));
    c->track_exclude[0] = xstrdup("@private.example");

    /* the null sender, no From: only a recipient rule tracks */
    assert_false(pipe_rcpt_tracked(c, r, &f, "a@other.example"));
    assert_true(pipe_rcpt_tracked(c, r, &f, "VIP@client.example"));
    /* the envelope sender or the From address */
    f.sender = "list@news.example";
    assert_true(pipe_rcpt_tracked(c, r, &f, "a@other.example"));
    f.sender = "bounce@mailer.example";
    f.header_from = "editor@NEWS.example";
    assert_true(pipe_rcpt_tracked(c, r, &f, "a@other.example"));
    /* track_exclude is per recipient */
    assert_false(pipe_rcpt_tracked(c, r, &f, "x@private.example"));
    /* the opt-out field wins over every rule */
    f.opt_out = true;
    assert_false(pipe_rcpt_tracked(c, r, &f, "a@other.example"));
    assert_false(pipe_rcpt_tracked(c, r, &f, "vip@client.example"));
    /* a quoted local part matches no address pattern, its domain still does */
    f.opt_out = false;
    f.header_from = NULL;
    f.sender = "\"a b\"@news.example";
    assert_true(pipe_rcpt_tracked(c, r, &f, "x@y.example"));

    track_rules_unref(r);
    store_close(s);
    config_free(c);
    unlink(path);
    snprintf(err, sizeof(err), "%s-wal", path);
    unlink(err);
    snprintf(err, sizeof(err), "%s-shm", path);
    unlink(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args),    cmocka_unit_test(test_header_end),
        cmocka_unit_test(test_strip),   cmocka_unit_test(test_field_value),
        cmocka_unit_test(test_opt_out), cmocka_unit_test(test_rcpt_tracked),
    };

    int rc;

    if (tmpdir_make(dbdir) != 0)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmpdir_remove(dbdir);
    return rc;
}
