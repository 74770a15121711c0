/*
 * test_cli_usage.c - the conventions every postmeter command follows
 * (cli/usage.c, cli/main.c), checked on the built program: --help, -h
 * and "help" print usage on stdout and exit 0; a usage error is exactly
 * one line on stderr that says what to try, nothing on stdout, exit 2;
 * the global options (-c FILE, --utc) work after the subcommand too.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir_fixture.h"

#define PROGRAM TEST_BUILD_DIR "/cli/postmeter"
#define CONF    "@CONF@" /* replaced by the test's configuration file */

static char dir[256], conf[300];

struct run {
    int status;
    char out[16384], err[4096];
};

/* slurp - all of fd into buf[len] (cut), NUL-terminated */
static void slurp(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t r;

    while ((r = read(fd, buf + n, len - 1 - n)) > 0 && n + (size_t)r < len - 1)
        n += (size_t)r;
    if (r > 0)
        n += (size_t)r;
    buf[n] = '\0';
}

/* run_to - postmeter with args (NULL-terminated; CONF is the test's config) into *r; its
 * standard output to the file out instead of r->out unless out is NULL */
static void run_to(const char *const *args, struct run *r, const char *out)
{
    int po[2], pe[2], status;
    const char *argv[32] = {"postmeter"};
    size_t n = 1;
    pid_t pid;

    for (; args[n - 1]; n++)
        argv[n] = strcmp(args[n - 1], CONF) == 0 ? conf : args[n - 1];
    argv[n] = NULL;
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out ? open(out, O_WRONLY) : po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(PROGRAM, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    slurp(po[0], r->out, sizeof(r->out));
    slurp(pe[0], r->err, sizeof(r->err));
    close(po[0]);
    close(pe[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* run - postmeter with args, both its outputs into *r */
static void run(const char *const *args, struct run *r)
{
    run_to(args, r, NULL);
}

/* lines - how many lines s holds */
static size_t lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

struct help_case {
    const char *args[8];
    const char *says; /* on stdout */
};

static const struct help_case helps[] = {
    {{"--help"}, "usage: postmeter"},
    {{"-h"}, "report messages"},
    {{"help"}, "track add"},
    {{"help", "report"}, "report auth"},
    {{"help", "report", "messages"}, "--from-domain D"},
    {{"report", "messages", "--help"}, "--message-id ID"},
    {{"report", "messages", "--since", "x", "-h"}, "--dmarc R"},
    {{"report", "auth", "--help"}, "--domain D"},
    {{"report", "--help"}, "postmeter report messages"},
    {{"db", "check", "--help"}, "integrity"},
    {{"config", "show", "--help"}, "[-n] [KEY...]"},
    {{"auth", "--help"}, "--ip IP"},
    {{"spf", "--help"}, "--identity"},
    {{"dkim", "keygen", "--help"}, "--selector S"},
    {{"dkim", "--help"}, "dkim rotate"},
    {{"dns", "example.org", "--help"}, "--rua MAILTO"},
    {{"track", "add", "-h"}, "--recipient"},
    {{"status", "--help"}, "--format text|json"},
    {{"--version"}, "postmeter "},
};

/* test_help - usage on stdout, nothing on stderr, exit 0 */
static void test_help(void **state)
{
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
        run(helps[i].args, &r);
        if (r.status != 0 || strstr(r.out, helps[i].says) == NULL || r.err[0] != '\0')
            fail_msg("help case %zu (%s ...): exit %d, stdout \"%.200s\", stderr \"%s\"", i,
                     helps[i].args[0], r.status, r.out, r.err);
    }
}

struct error_case {
    const char *args[10];
    const char *says; /* the one line on stderr contains it */
};

static const struct error_case errors[] = {
    {{CONF, "report", "messages", "--x"},
     "postmeter: unknown option '--x' for 'report messages'; try 'postmeter report messages "
     "--help'\n"},
    {{CONF, "report", "messages", "--since"}, "option '--since' for 'report messages' needs a"},
    {{CONF, "report", "messages", "--wide=1"}, "option '--wide' for 'report messages' takes no"},
    {{CONF, "report", "messages", "--since", "tomorrow"}, "'tomorrow' is not a time"},
    {{CONF, "report", "messages", "--limit", "ten"}, "--limit: 'ten' is not a number"},
    {{CONF, "report", "messages", "--dmarc", "failed"}, "'failed' is not one of pass, fail"},
    {{CONF, "report", "messages", "--direction", "in"}, "is not one of inbound, outbound"},
    {{CONF, "report", "auth", "--format", "xml"}, "'xml' is not table, csv, json or ndjson"},
    {{CONF, "report", "auth", "extra"}, "report auth: unexpected 'extra'"},
    {{"report"}, "'report' needs a subcommand (messages, auth"},
    {{"report", "bogus"}, "unknown command 'report bogus'"},
    {{"bogus"}, "unknown command 'bogus'; try 'postmeter --help'"},
    {{NULL}, "no command given"},
    {{"-c"}, "option '-c' needs a value"},
    {{"help", "bogus"}, "unknown command 'bogus'"},
    {{CONF, "track", "list", "--format", "xml"}, "try 'postmeter track list --help'"},
    {{CONF, "track", "add"}, "give one ADDRESS or @DOMAIN"},
    {{CONF, "dkim", "list", "--bogus"}, "unknown option '--bogus' for 'dkim list'"},
    {{CONF, "dns", "--check"}, "try 'postmeter dns --help'"},
    {{CONF, "status", "--format", "xml"}, "try 'postmeter status --help'"},
    {{CONF, "config", "show", "-x"}, "unknown option '-x' for 'config show'"},
    {{CONF, "spf", "--ip"}, "option '--ip' for 'spf' needs a value"},
    {{CONF, "auth", "--helo", "x"}, "try 'postmeter auth --help'"},
    {{CONF, "db", "check", "now"}, "db check: unexpected 'now'"},
};

/* test_usage_errors - one line on stderr saying what to try, nothing on stdout, exit 2 */
static void test_usage_errors(void **state)
{
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        const char *args[12] = {NULL};

        /* CONF first means "-c CONF" before the command */
        for (size_t j = 0, k = 0; errors[i].args[j] && k < 10; j++) {
            if (j == 0 && strcmp(errors[i].args[0], CONF) == 0)
                args[k++] = "-c";
            args[k++] = errors[i].args[j];
        }
        run(args, &r);
        if (r.status != 2 || r.out[0] != '\0' || lines(r.err) != 1 ||
            strstr(r.err, errors[i].says) == NULL || strstr(r.err, "; try 'postmeter ") == NULL)
            fail_msg("error case %zu (%s %s): exit %d, stdout \"%.100s\", stderr \"%s\"", i,
                     errors[i].args[0] ? errors[i].args[0] : "",
                     errors[i].args[1] ? errors[i].args[1] : "", r.status, r.out, r.err);
    }
}

/* test_global_after - -c FILE (and --utc) after the command and its subcommand */
static void test_global_after(void **state)
{
    static const struct {
        const char *args[8];
        const char *says;
    } cases[] = {
        {{"report", "messages", "-c", CONF}, "received_at"},
        {{"report", "auth", "--format", "csv", "-c", CONF, "--utc"}, "domain,messages"},
        {{"report", "messages",
          "--config="
          "@CONF@"},
         "received_at"},
        {{"db", "check", "-c", CONF}, "ok"},
        {{"dkim", "list", "-c", CONF}, "domain"},
        {{"track", "list", "-c", CONF}, "pattern"},
        {{"config", "show", "database", "-c", CONF}, dir},
    };
    char arg[400];
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[8];

        memcpy(args, cases[i].args, sizeof(args));
        for (size_t j = 0; args[j]; j++)
            if (strcmp(args[j], "--config=@CONF@") == 0) {
                snprintf(arg, sizeof(arg), "--config=%s", conf);
                args[j] = arg;
            }
        run(args, &r);
        if (r.status != 0 || strstr(r.out, cases[i].says) == NULL || r.err[0] != '\0')
            fail_msg("case %zu (%s %s): exit %d, stdout \"%.200s\", stderr \"%s\"", i, args[0],
                     args[1], r.status, r.out, r.err);
    }
}

/*
 * test_option_values - a command option's value that looks like a global
 * option is the command's ("--subject -h" searches for "-h"; it does not
 * ask for help, nor "--subject --config=x" change the configuration)
 */
static void test_option_values(void **state)
{
    static const char *const cases[][10] = {
        {"-c", CONF, "report", "messages", "--subject", "-h", "--format", "csv", NULL},
        {"report", "messages", "-c", CONF, "--subject", "--config=x", "--format", "csv", NULL},
        {"report", "messages", "--subject", "--utc", "-c", CONF, "--format", "csv", NULL},
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run(cases[i], &r);
        if (r.status != 0 || strncmp(r.out, "received_at,", 12) != 0 || r.err[0] != '\0')
            fail_msg("case %zu: exit %d, stdout \"%.200s\", stderr \"%s\"", i, r.status, r.out,
                     r.err);
    }
}

/* test_write_error - whatever the command, output that cannot be written fails it, said */
static void test_write_error(void **state)
{
    static const char *const cases[][8] = {
        {"--version", NULL},
        {"help", NULL},
        {"config", "defaults", NULL},
        {"-c", CONF, "report", "messages", "--format", "csv", NULL},
        {"-c", CONF, "report", "summary", "--format", "html", NULL},
    };
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_to(cases[i], &r, "/dev/full");
        if (r.status != 1 || strstr(r.err, "write error on standard output") == NULL)
            fail_msg("%s %s > /dev/full: status %d, stderr '%s'", cases[i][0],
                     cases[i][1] ? cases[i][1] : "", r.status, r.err);
        run(cases[i], &r); /* and to a pipe: fine */
        assert_int_equal(r.status, 0);
    }
}

/* setup - a configuration naming a migrated database in a directory only root can change */
static int setup(void **state)
{
    const char *const migrate[] = {"-c", CONF, "db", "migrate", NULL};
    struct run r;
    FILE *fp;

    (void)state;
    /* under the build tree, not /tmp: as root, a database in a directory
     * others can change is opened as the service user (privsep) */
    snprintf(dir, sizeof(dir), "%s/test_cli_usage.XXXXXX", TEST_BUILD_DIR);
    if (tmpdir_make(dir) != 0)
        return -1;
    snprintf(conf, sizeof(conf), "%s/postmeter.conf", dir);
    if ((fp = fopen(conf, "w")) == NULL)
        return -1;
    fprintf(fp, "database = %s/ledger.db\n", dir);
    fclose(fp);
    run(migrate, &r);
    return r.status;
}

/* teardown - remove the directory */
static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),         cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_global_after), cmocka_unit_test(test_option_values),
        cmocka_unit_test(test_write_error),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
