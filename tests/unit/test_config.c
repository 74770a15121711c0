/*
 * test_config.c - postmeter.conf parsing: defaults, every kind of error
 * with its FILE:LINE message, and the effective-value dump.
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
#include "util.h"
#include "tmpdir_fixture.h"

static char tmpdir[] = "/tmp/pm-test-config-XXXXXX";

/* write_conf - write text to a fresh file; returns its path (static) */
static const char *write_conf(const char *text)
{
    static char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/postmeter.conf", tmpdir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fwrite(text, 1, strlen(text), fp);
    fclose(fp);
    return path;
}

static void test_defaults(void **state)
{
    struct config *c = config_defaults();
    struct netaddr a;

    (void)state;
    /* Postfix's queue directory whatever the prefix: chrooted smtpd's
     * unix:postmeter/milter.sock (contrib/postfix-main.cf.snippet) */
    assert_string_equal(c->milter_socket, "unix:/var/spool/postfix/postmeter/milter.sock");
    assert_int_equal(c->milter_socket_mode, 0660);
    assert_string_equal(c->user, "postmeter");
    assert_false(c->log_subject);
    assert_int_equal(c->on_internal_error, ON_ERROR_ACCEPT);
    assert_non_null(c->dns_servers);
    assert_null(c->dns_servers[0]);
    assert_true(netaddr_parse("127.0.0.5", &a));
    assert_true(netlist_match(&c->trusted_networks, &a));
    assert_true(netaddr_parse("::1", &a));
    assert_true(netlist_match(&c->trusted_networks, &a));
    assert_true(netaddr_parse("192.0.2.1", &a));
    assert_false(netlist_match(&c->trusted_networks, &a));
    config_free(c);
}

static void test_good_file(void **state)
{
    struct buf err = BUF_INIT;
    const char *path = write_conf("# comment\n"
                                  "\n"
                                  "  milter_socket = inet:8891@127.0.0.1  \n"
                                  "database=/var/tmp/x.db\n"
                                  "log_subject = YES\n"
                                  "milter_socket_mode = 0600\n"
                                  "trusted_networks = 10.0.0.0/8 192.168.1.0/24, 2001:db8::/32\n"
                                  "dns_servers = 127.0.0.1@5353, ::1\n"
                                  "on_internal_error = tempfail\n"
                                  "ledger_batch_max = 1\n");
    struct config *c = config_load(path, &err);
    struct netaddr a;

    (void)state;
    assert_non_null(c);
    assert_int_equal(err.len, 0);
    assert_string_equal(c->milter_socket, "inet:8891@127.0.0.1");
    assert_string_equal(c->database, "/var/tmp/x.db");
    assert_true(c->log_subject);
    assert_int_equal(c->milter_socket_mode, 0600);
    assert_int_equal(c->on_internal_error, ON_ERROR_TEMPFAIL);
    assert_int_equal(c->ledger_batch_max, 1);
    assert_string_equal(c->dns_servers[0], "127.0.0.1@5353");
    assert_string_equal(c->dns_servers[1], "::1");
    assert_null(c->dns_servers[2]);
    assert_true(netaddr_parse("10.9.8.7", &a));
    assert_true(netlist_match(&c->trusted_networks, &a));
    assert_true(netaddr_parse("127.0.0.1", &a));
    assert_false(netlist_match(&c->trusted_networks, &a)); /* replaced, not added */
    assert_true(netaddr_parse("2001:db8:1::5", &a));
    assert_true(netlist_match(&c->trusted_networks, &a));
    config_free(c);
    buf_free(&err);
}

struct bad_case {
    const char *text;
    const char *message; /* expected, after "PATH:" */
};

static const struct bad_case bad_cases[] = {
    {"no_such_key = 1\n", "1: unknown key \"no_such_key\"\n"},
    {"track_exclude = a@example.org,#legal@example.org\n",
     "1: track_exclude: list item \"#legal@example.org\" starts with '#' (a '#' after white space "
     "starts a comment)\n"},
    {"trusted_networks = 10.0.0.0/8,#192.0.2.0/24\n",
     "1: trusted_networks: list item \"#192.0.2.0/24\" starts with '#' (a '#' after white space "
     "starts a comment)\n"},
    {"# c\nlog_subject = maybe\n", "2: log_subject: \"maybe\" is not yes or no\n"},
    {"ledger_batch_max = lots\n", "1: ledger_batch_max: \"lots\" is not a number\n"},
    {"ledger_batch_max = 0\n", "1: ledger_batch_max: 0 is out of range (1..100000)\n"},
    {"ledger_batch_max = 100001\n", "1: ledger_batch_max: 100001 is out of range (1..100000)\n"},
    {"ledger_batch_max = 99999999999999999999\n",
     "1: ledger_batch_max: \"99999999999999999999\" is not a number\n"},
    {"ledger_batch_max = -1\n", "1: ledger_batch_max: \"-1\" is not a number\n"},
    {"milter_socket_mode = 0999\n", "1: milter_socket_mode: \"0999\" is not an octal number\n"},
    {"milter_socket_mode = 01777\n", "1: milter_socket_mode: 01777 is out of range (00..0777)\n"},
    {"on_internal_error = reject\n",
     "1: on_internal_error: \"reject\" is not one of: accept tempfail\n"},
    {"milter_socket = /run/x.sock\n",
     "1: milter_socket: expected unix:PATH or inet:PORT@ADDRESS\n"},
    {"milter_socket = unix:relative.sock\n",
     "1: milter_socket: unix socket path must be absolute\n"},
    {"milter_socket = inet:99999@127.0.0.1\n",
     "1: milter_socket: expected inet:PORT@ADDRESS with PORT 1..65535\n"},
    {"trusted_networks = 10.0.0.0/33\n",
     "1: trusted_networks: \"10.0.0.0/33\" is not an address or ADDRESS/PREFIX network\n"},
    {"dns_servers = resolver.example\n",
     "1: dns_servers: \"resolver.example\" is not ADDRESS[@PORT] with a literal IP address\n"},
    {"dns_servers = 127.0.0.1@0\n",
     "1: dns_servers: \"127.0.0.1@0\" is not ADDRESS[@PORT] with a literal IP address\n"},
    {"database =\n", "1: database: must not be empty\n"},
    {"dkim_key_dir = keys\n", "1: dkim_key_dir: \"keys\" is not an absolute path\n"},
    {"just some words\n", "1: expected \"key = value\"\n"},
    {"log_subject = yes\nlog_subject = no\n", "2: log_subject is already set at line 1\n"},
};

/* One comment rule: '#' at the start of a line or after white space. */
struct comment_case {
    const char *line;  /* one line of the file */
    const char *key;   /* the string key it sets */
    const char *value; /* what that key holds afterwards */
};

static const struct comment_case comment_cases[] = {
    {"milter_socket_group = postfix   # smtpd runs as postfix\n", "group", "postfix"},
    {"milter_socket_group = postfix\t# tab before the comment\n", "group", "postfix"},
    {"milter_socket_group = postfix#notacomment\n", "group", "postfix#notacomment"},
    {"milter_socket_group = # only a comment, the value is empty\n", "group", ""},
    {"milter_socket_group=#right after the equals sign\n", "group", ""},
    {"trusted_networks = 10.0.0.0/8 #192.0.2.0/24\n", "nets", NULL}, /* checked below */
    {"  # indented comment line\n", "group", ""},
    {"tracking_base_url = https://t.example/p#frag  # a comment\n", "url",
     "https://t.example/p#frag"},
};

static void test_trailing_comments(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(comment_cases) / sizeof(comment_cases[0]); i++) {
        const struct comment_case *t = &comment_cases[i];
        struct buf err = BUF_INIT;
        struct config *c = config_load(write_conf(t->line), &err);

        if (c == NULL)
            fail_msg("case %zu: %s", i, buf_cstr(&err));
        if (strcmp(t->key, "nets") == 0) {
            struct netaddr a;

            assert_true(netaddr_parse("10.1.2.3", &a));
            assert_true(netlist_match(&c->trusted_networks, &a));
            assert_true(netaddr_parse("192.0.2.1", &a));
            assert_false(netlist_match(&c->trusted_networks, &a)); /* commented out */
        } else if (strcmp(t->key, "group") == 0)
            assert_string_equal(c->milter_socket_group, t->value);
        else
            assert_string_equal(c->tracking_base_url, t->value);
        config_free(c);
        buf_free(&err);
    }
}

/* A mode with a trailing comment is the mode, not "a bad octal number". */
static void test_trailing_comment_mode(void **state)
{
    struct buf err = BUF_INIT;
    struct config *c = config_load(write_conf("milter_socket_mode = 0640   # group only\n"), &err);

    (void)state;
    if (c == NULL)
        fail_msg("%s", buf_cstr(&err));
    assert_int_equal(c->milter_socket_mode, 0640);
    config_free(c);
    buf_free(&err);
}

static void test_bad_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct buf err = BUF_INIT;
        const char *path = write_conf(bad_cases[i].text);
        char *expect = xasprintf("%s:%s", path, bad_cases[i].message);
        struct config *c = config_load(path, &err);

        if (c != NULL || strcmp(buf_cstr(&err), expect) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, buf_cstr(&err), expect);
        free(expect);
        buf_free(&err);
    }
}

static void test_all_errors_reported(void **state)
{
    struct buf err = BUF_INIT;
    const char *path = write_conf("a = 1\nlog_subject = yes\nb = 2\n");
    char *expect = xasprintf("%s:1: unknown key \"a\"\n%s:3: unknown key \"b\"\n", path, path);

    (void)state;
    assert_null(config_load(path, &err));
    assert_string_equal(buf_cstr(&err), expect);
    free(expect);
    buf_free(&err);
}

static void test_nul_byte(void **state)
{
    struct buf err = BUF_INIT;
    const char *path = write_conf("log_subject = yes\n");
    FILE *fp = fopen(path, "w");
    char *expect = xasprintf("%s:1: line contains a NUL byte\n", path);

    (void)state;
    fwrite("debug = y\0es\n", 1, 13, fp);
    fclose(fp);
    assert_null(config_load(path, &err));
    assert_string_equal(buf_cstr(&err), expect);
    free(expect);
    buf_free(&err);
}

static void test_missing_file(void **state)
{
    struct buf err = BUF_INIT;

    (void)state;
    assert_null(config_load("/nonexistent/postmeter.conf", &err));
    assert_string_equal(buf_cstr(&err),
                        "/nonexistent/postmeter.conf: cannot open: No such file or directory\n");
    buf_free(&err);
}

static void test_dump_round_trip(void **state)
{
    struct buf err = BUF_INIT;
    const char *path = write_conf("trusted_networks = 10.0.0.0/8, ::1\n"
                                  "dns_servers = 127.0.0.1@53\n"
                                  "log_subject = yes\n");
    struct config *c = config_load(path, &err), *again;
    char *dump1 = NULL, *dump2 = NULL;
    size_t len1 = 0, len2 = 0;
    FILE *fp;

    (void)state;
    assert_non_null(c);
    fp = open_memstream(&dump1, &len1);
    config_dump(c, fp);
    fclose(fp);
    assert_non_null(strstr(dump1, "trusted_networks = 10.0.0.0/8, ::1\n"));
    assert_non_null(strstr(dump1, "milter_socket_mode = 0660\n"));
    assert_non_null(strstr(dump1, "log_subject = yes\n"));
    /* the dump is itself a valid config that reads back to the same dump */
    path = write_conf(dump1);
    again = config_load(path, &err);
    assert_non_null(again);
    fp = open_memstream(&dump2, &len2);
    config_dump(again, fp);
    fclose(fp);
    assert_string_equal(dump1, dump2);
    free(dump1);
    free(dump2);
    config_free(c);
    config_free(again);
    buf_free(&err);
}

static void test_effective_values(void **state)
{
    struct config *c = config_defaults();
    char *spool;

    (void)state;
    free(c->hostname);
    c->hostname = xstrdup("mx.example.org");
    assert_string_equal(config_effective_authserv_id(c), "mx.example.org");
    free(c->authserv_id);
    c->authserv_id = xstrdup("auth.example.org");
    assert_string_equal(config_effective_authserv_id(c), "auth.example.org");
    spool = config_spool_path(c);
    assert_string_equal(spool, POSTMETER_LOCALSTATEDIR "/lib/postmeter/postmeter.db.spool");
    free(spool);
    config_free(c);
}

/* every key of the table is documented in the man page and the example */
static void test_keys_documented(void **state)
{
    static const char *const docs[] = {"/packaging/man/postmeter.conf.5",
                                       "/contrib/postmeter.conf.example"};
    char *desc = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&desc, &len);

    (void)state;
    config_describe(fp);
    fclose(fp);
    for (size_t d = 0; d < 2; d++) {
        char *path = xasprintf("%s%s", TEST_SOURCE_DIR, docs[d]);
        char *text = NULL, *copy = xstrdup(desc);
        size_t cap = 0;
        FILE *in = fopen(path, "r");

        assert_non_null(in);
        assert_true(getdelim(&text, &cap, '\0', in) > 0);
        fclose(in);
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char key[64];

            /* config_describe prints "#key = default" lines */
            if (line[0] != '#' || line[1] == ' ' || sscanf(line + 1, "%63[a-z_]", key) != 1)
                continue;
            if (strstr(text, key) == NULL)
                fail_msg("%s does not mention %s", path, key);
        }
        free(copy);
        free(text);
        free(path);
    }
    free(desc);
}

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir);
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_effective_values),
        cmocka_unit_test(test_keys_documented),
        cmocka_unit_test(test_trailing_comments),
        cmocka_unit_test(test_trailing_comment_mode),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
