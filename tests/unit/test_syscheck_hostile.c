/*
 * test_syscheck_hostile.c - what
 * postmeter-milter -t and start-up print from the database, which the
 * service user can write. A key's domain, selector and file name reach
 * root's terminal (-t) and the log: no C1 control character (CSI as
 * U+009B, or the raw byte 0x9B) may pass, as the CLI's own text
 * cleaning (cli/output.c) holds. And the key checks are a loop over rows
 * a stranger controls (STYLE habit 15): thousands of broken keys must
 * not give thousands of lines to root's terminal and the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "smfi.h"
#include "store.h"
#include "syscheck.h"
#include "tmpdir_fixture.h"
#include "util.h"

static char tmpdir[] = "/tmp/pm-test-adv19-syscheck-XXXXXX";

/* The stages (the pixel engine's loader) reach the MTA through smfi; never asked here. */
static const struct smfi_ops no_ops;
const struct smfi_ops *smfi = &no_ops;

/* Values from a hostile database; none of the bytes in bad may reach the line. */
static const struct {
    const char *value, *bad;
} c1_cases[] = {
    {"/k/\xc2\x9b"
     "2J\xc2\x9b"
     "31mOK.key",
     "\xc2\x9b"}, /* CSI as UTF-8 U+009B */
    {"/k/\xc2\x9d"
     "0;title\xc2\x9c.key",
     "\xc2\x9d"}, /* OSC ... ST */
    {"/k/\x9b"
     "2J.key",
     "\x9b"}, /* 8-bit CSI */
};

static void test_c1(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(c1_cases) / sizeof(c1_cases[0]); i++) {
        struct buf out = BUF_INIT;
        bool bad;

        syscheck_line(&out, "dkim_key_dir", c1_cases[i].value, c1_cases[i].value);
        bad = strstr(buf_cstr(&out), c1_cases[i].bad) != NULL;
        buf_free(&out);
        assert_false(bad);
    }
}

#define HOSTILE_KEYS 3000 /* broken keys in the database */
#define LINES_MAX    100  /* key lines a run may print at most, whatever the database holds */

static void test_many_broken_keys(void **state)
{
    struct passwd *me = getpwuid(geteuid());
    char *db = xasprintf("%s/p.db", tmpdir), *conf = xasprintf("%s/p.conf", tmpdir), err[512];
    struct buf problems = BUF_INIT, notes = BUF_INIT, errors = BUF_INIT;
    struct store *s = store_open(db, 0, err, sizeof(err));
    struct config *c;
    FILE *fp;
    unsigned n, lines = 0;

    (void)state;
    assert_non_null(me);
    assert_non_null(s);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    for (unsigned i = 0; i < HOSTILE_KEYS; i++) {
        char domain[64], file[128];
        struct store_dkim_key k = {.domain = domain,
                                   .selector = "s1",
                                   .key_file = file,
                                   .state = STORE_DKIM_PENDING,
                                   .bits = 2048,
                                   .created_at = 1};

        snprintf(domain, sizeof(domain), "d%u.example", i);
        snprintf(file, sizeof(file), "/nonexistent-adv19/d%u.example.s1.key", i);
        assert_int_equal(store_put_dkim_key(s, &k), STORE_OK);
    }
    store_close(s);
    assert_non_null(fp = fopen(conf, "w"));
    fprintf(fp, "milter_socket = inet:1@127.0.0.1\nuser = %s\ndatabase = %s\n", me->pw_name, db);
    fclose(fp);
    assert_non_null(c = config_load(conf, &errors));
    n = syscheck_run(c, &problems, &notes);
    for (const char *p = buf_cstr(&problems); (p = strstr(p, "dkim_key_dir: ")) != NULL; p++)
        lines++;
    print_message("%u problems, %u key lines, %zu bytes\n", n, lines, problems.len);
    config_free(c);
    buf_free(&problems);
    buf_free(&notes);
    buf_free(&errors);
    free(db);
    free(conf);
    assert_true(lines > 0);
    assert_true(lines <= LINES_MAX);
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
        cmocka_unit_test(test_c1),
        cmocka_unit_test(test_many_broken_keys),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
