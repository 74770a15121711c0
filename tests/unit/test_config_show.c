/*
 * test_config_show.c - postmeter config show (cli/config_show.c): the
 * nearest key suggested for a misspelt one, only when it is close; the
 * keys a file sets (-n) and no others; the keys named, in their order;
 * where the configuration came from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_show.h"
#include "tmpdir_fixture.h"

static char tmpdir[] = "/tmp/pm-test-config-show-XXXXXX";

/* write_conf - text into a fresh file; its path (static) */
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

/* load - config_load() of text, which must have no errors */
static struct config *load(const char *text)
{
    struct buf err = BUF_INIT;
    struct config *c = config_load(write_conf(text), &err);

    assert_non_null(c);
    assert_int_equal(err.len, 0);
    buf_free(&err);
    return c;
}

/* Stream output caught in memory. */
struct mem {
    char *data;
    size_t len;
    FILE *fp;
};

static void mem_open(struct mem *m)
{
    m->data = NULL;
    m->len = 0;
    m->fp = open_memstream(&m->data, &m->len);
    assert_non_null(m->fp);
}

/* mem_close - the text written (caller frees) */
static char *mem_close(struct mem *m)
{
    fclose(m->fp);
    return m->data;
}

static void test_distance(void **state)
{
    static const struct {
        const char *a, *b;
        size_t d;
    } cases[] = {
        {"database", "database", 0},  {"databse", "database", 1}, /* a letter left out */
        {"datbaase", "database", 1},                              /* two letters swapped */
        {"DATABASE", "database", 0},                              /* case ignored */
        {"databasex", "database", 1}, {"dtabse", "database", 2},  {"", "user", 4}, {"user", "", 4},
        {"kitten", "sitting", 3},
    };
    char long_name[80];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("%s / %s\n", cases[i].a, cases[i].b);
        assert_int_equal(config_show_distance(cases[i].a, cases[i].b), cases[i].d);
    }
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(config_show_distance(long_name, "user"), SIZE_MAX); /* bounded */
}

static void test_nearest(void **state)
{
    static const struct {
        const char *typed, *want; /* want NULL: no suggestion */
    } cases[] = {
        {"databse", "database"},
        {"Database", "database"},
        {"milter_sockt", "milter_socket"},
        {"milter-socket", "milter_socket"},
        {"ledger_spoll", "ledger_spool"},
        {"usr", "user"},
        {"pidfile", "pid_file"},
        {"dkim_key_dirs", "dkim_key_dir"},
        {"zzzzzz", NULL},     /* nothing like it */
        {"data", NULL},       /* four letters off "database": too far */
        {"x", NULL},          /* too short to guess */
        {"spool", NULL},      /* a part of a name is not a misspelling */
        {"mysql_host", NULL}, /* another program's key */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = config_show_nearest(cases[i].typed);

        print_message("%s -> %s\n", cases[i].typed, got ? got : "(none)");
        if (cases[i].want == NULL)
            assert_null(got);
        else
            assert_string_equal(got ? got : "(none)", cases[i].want);
    }
}

static void test_only_set(void **state)
{
    struct config *c = load("# a comment\n"
                            "log_subject = yes\n"
                            "\n"
                            "database = /var/tmp/x.db\n"
                            "debug = no\n"); /* set to its default: still set */
    struct mem m;
    char *out;

    (void)state;
    assert_int_equal(config_key_line(c, (size_t)config_key_index("log_subject")), 2);
    assert_int_equal(config_key_line(c, (size_t)config_key_index("database")), 4);
    assert_int_equal(config_key_line(c, (size_t)config_key_index("user")), 0);
    mem_open(&m);
    config_show_all(c, true, m.fp);
    out = mem_close(&m);
    /* table order, not file order */
    assert_string_equal(out, "database = /var/tmp/x.db\n"
                             "log_subject = yes\n"
                             "debug = no\n");
    free(out);
    config_free(c);

    c = config_defaults(); /* no file: nothing set */
    mem_open(&m);
    config_show_all(c, true, m.fp);
    out = mem_close(&m);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(config_key_line(c, 0), 0);
    config_free(c);
}

static void test_all(void **state)
{
    struct config *c = load("user = mail\n");
    struct mem m;
    char *out, *line;
    size_t n = 0;

    (void)state;
    mem_open(&m);
    config_show_all(c, false, m.fp);
    out = mem_close(&m);
    for (line = out; (line = strchr(line, '\n')) != NULL; line++)
        n++;
    assert_int_equal(n, config_key_count()); /* one line per key */
    assert_non_null(strstr(out, "\nuser = mail\n"));
    free(out);
    config_free(c);
}

static void test_named(void **state)
{
    struct config *c = load("log_subject = yes\n");
    char *named[] = {"user", "log_subject"};
    char *bad[] = {"user", "databse", "zzzzzz"};
    struct mem m, e;
    char *out, *err;

    (void)state;
    mem_open(&m);
    mem_open(&e);
    assert_true(config_show_keys(c, named, 2, false, m.fp, e.fp));
    out = mem_close(&m);
    err = mem_close(&e);
    assert_string_equal(out, "user = postmeter\nlog_subject = yes\n"); /* the order asked */
    assert_string_equal(err, "");
    free(out);
    free(err);

    mem_open(&m);
    mem_open(&e);
    assert_true(config_show_keys(c, named, 2, true, m.fp, e.fp)); /* -n: set ones only */
    out = mem_close(&m);
    err = mem_close(&e);
    assert_string_equal(out, "log_subject = yes\n");
    free(out);
    free(err);

    mem_open(&m);
    mem_open(&e);
    assert_false(config_show_keys(c, bad, 3, false, m.fp, e.fp));
    out = mem_close(&m);
    err = mem_close(&e);
    assert_string_equal(out, ""); /* nothing printed when a key is unknown */
    assert_string_equal(err, "postmeter: unknown key \"databse\"; did you mean database?\n"
                             "postmeter: unknown key \"zzzzzz\" (postmeter config defaults lists "
                             "them)\n");
    free(out);
    free(err);
    config_free(c);
}

static void test_source(void **state)
{
    struct config *c = load("debug = no\n");
    struct mem m;
    char *out, *want;

    (void)state;
    mem_open(&m);
    config_show_source(c, m.fp);
    out = mem_close(&m);
    if (asprintf(&want, "# read from %s/postmeter.conf\n", tmpdir) < 0)
        fail();
    assert_string_equal(out, want);
    free(want);
    free(out);
    config_free(c);

    c = config_defaults();
    mem_open(&m);
    config_show_source(c, m.fp);
    out = mem_close(&m);
    assert_non_null(strstr(out, "no configuration file"));
    assert_non_null(strstr(out, "built-in defaults"));
    free(out);
    config_free(c);
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
        cmocka_unit_test(test_distance), cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_only_set), cmocka_unit_test(test_all),
        cmocka_unit_test(test_named),    cmocka_unit_test(test_source),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
