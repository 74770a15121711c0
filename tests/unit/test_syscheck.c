/*
 * test_syscheck.c - the system checks of postmeter-milter -t
 * (milter/syscheck.c) without an MTA: the one-line "KEY: what; fix:
 * what" format, with control characters from values (a key file's path
 * comes from the database) made harmless; and, for configurations that
 * need no other user, which keys a run reports, in order, all of them
 * in one run. The checks as another user and against a real system are
 * in tests/integration/test_milter_check.py.
 */
#include <setjmp.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "smfi.h"
#include "syscheck.h"
#include "tmpdir_fixture.h"
#include "util.h"

static char tmpdir[] = "/tmp/pm-test-syscheck-XXXXXX";

/* The stages (the pixel engine's loader) reach the MTA through smfi; never asked here. */
static const struct smfi_ops no_ops;
const struct smfi_ops *smfi = &no_ops;

/* One line: its parts and the line made of them. */
struct line_case {
    const char *key, *what, *fix, *want;
};

static const struct line_case line_cases[] = {
    {"user", "user \"x\" does not exist", "create it",
     "user: user \"x\" does not exist; fix: create it\n"},
    {"dkim_key_dir", "cannot read /k/a\nb.key", "chmod 0640 /k/a\nb.key",
     "dkim_key_dir: cannot read /k/a?b.key; fix: chmod 0640 /k/a?b.key\n"},
    {"database", "tab\there, del\x7f, esc\x1b[1m", "cr\r",
     "database: tab?here, del?, esc?[1m; fix: cr?\n"},
    {"database", "/var/lib/caf\xc3\xa9", "ok", "database: /var/lib/caf\xc3\xa9; fix: ok\n"},
};

static void test_line(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
        const struct line_case *t = &line_cases[i];
        struct buf out = BUF_INIT;

        syscheck_line(&out, t->key, t->what, t->fix);
        assert_string_equal(buf_cstr(&out), t->want);
        buf_free(&out);
    }
}

/*
 * A configuration (after a common head: an inet socket, so nothing of
 * the system's /run is asked) and the keys of the lines it must give, in
 * order, each with a word of what it says. "@" stands for the test's
 * directory, "~" for the user running the test.
 */
struct run_case {
    const char *conf;
    const char *keys[6];
    const char *says[6];
};

static const struct run_case run_cases[] = {
    {"user = pmtest-no-such-user\n", {"user"}, {"does not exist"}},
    {"user = pmtest-no-such-user\ndatabase = rel.db\nledger_spool = rel.spool\n"
     "pid_file = rel.pid\n",
     {"user", "database", "ledger_spool", "pid_file"},
     {"does not exist", "\"rel.db\" is not an absolute path", "\"rel.spool\" is not an absolute",
      "\"rel.pid\" is not an absolute"}},
    {"user = pmtest-no-such-user\nmilter_socket = unix:@/nosock/m.sock\n"
     "milter_socket_group = pmtest-no-such-group\npid_file = @/nopid/p.pid\n",
     {"user", "milter_socket_group", "milter_socket", "pid_file"},
     {"does not exist", "group \"pmtest-no-such-group\" does not exist",
      "the directory @/nosock (for the socket) does not exist",
      "the directory @/nopid (for the pid file) does not exist"}},
    {"user = pmtest-no-such-user\nmilter_socket_group = pmtest-no-such-group\n",
     {"user"},
     {"does not exist"}}, /* the group of an inet socket is not used */
    {"user = ~\ndatabase = @/nodb/p.db\n",
     {"database"},
     {"the directory @/nodb does not exist; it must exist and be writable by user ~"}},
    {"user = ~\ndatabase = @/p.db\nledger_spool = @/nospool/s\n",
     {"ledger_spool"},
     {"the directory @/nospool does not exist"}},
    /* @/ro is a read-only mount (setup): the advice is ReadWritePaths, not chown */
    {"user = ~\ndatabase = @/ro/p.db\n",
     {"database"},
     {"the directory @/ro is on a read-only file system"}},
    {"user = ~\ndatabase = @/p.db\n", {NULL}, {NULL}},
};

/* expand - s with "@" as the test's directory and "~" as our user name; caller frees */
static char *expand(const char *s)
{
    struct passwd *me = getpwuid(geteuid());
    struct buf b = BUF_INIT;

    assert_non_null(me);
    for (; *s; s++) {
        if (*s == '@')
            buf_puts(&b, tmpdir);
        else if (*s == '~')
            buf_puts(&b, me->pw_name);
        else
            buf_putc(&b, *s);
    }
    return buf_steal(&b);
}

static void test_run(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(run_cases) / sizeof(run_cases[0]); i++) {
        const struct run_case *t = &run_cases[i];
        char *text = expand(t->conf);
        char *body = xasprintf(
            "%s%s", strstr(text, "milter_socket =") ? "" : "milter_socket = inet:1@127.0.0.1\n",
            text);
        char *path = xasprintf("%s/case.conf", tmpdir), *line, *save = NULL;
        struct buf problems = BUF_INIT, notes = BUF_INIT, err = BUF_INIT;
        struct config *c;
        size_t n = 0;
        FILE *fp = fopen(path, "w");

        assert_non_null(fp);
        fputs(body, fp);
        fclose(fp);
        c = config_load(path, &err);
        assert_non_null(c);
        syscheck_run(c, &problems, &notes);
        for (line = strtok_r(problems.data, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *key = xasprintf("%s: ", t->keys[n] ? t->keys[n] : "(none)");
            char *says = t->says[n] ? expand(t->says[n]) : xstrdup("(none)");

            print_message("case %zu: %s\n", i, line);
            assert_non_null(t->keys[n]);
            assert_true(strncmp(line, key, strlen(key)) == 0);
            assert_non_null(strstr(line, says));
            assert_non_null(strstr(line, "; fix: "));
            free(key);
            free(says);
            n++;
        }
        assert_null(n < 6 ? t->keys[n] : NULL); /* every line wanted came */
        assert_int_equal(notes.len, 0);
        config_free(c);
        buf_free(&problems);
        buf_free(&notes);
        buf_free(&err);
        free(path);
        free(body);
        free(text);
    }
}

/* setup - the test's directory, with a read-only tmpfs at @/ro in a mount namespace of ours */
static int setup(void **state)
{
    char ro[sizeof(tmpdir) + 4];

    (void)state;
    if (tmpdir_make(tmpdir) != 0 || unshare(CLONE_NEWNS) != 0 ||
        mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    snprintf(ro, sizeof(ro), "%s/ro", tmpdir);
    if (mkdir(ro, 0755) != 0 || mount("pm-test-ro", ro, "tmpfs", MS_RDONLY, "size=64k") != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char ro[sizeof(tmpdir) + 4];

    (void)state;
    snprintf(ro, sizeof(ro), "%s/ro", tmpdir);
    umount(ro);
    return tmpdir_remove(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line),
        cmocka_unit_test(test_run),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
