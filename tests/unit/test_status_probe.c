/*
 * test_status_probe.c -  postmeter
 * status's milter probe (cli/status_probe.c, compiled in here) with
 * sockets that misbehave: a name that does not resolve must give a
 * reason naming it (it was read after being freed), a milter that
 * accepts and never answers must be given up on within the time bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../cli/status_probe.c"

static char tmpdir[] = "/tmp/pm-test-adv19-probe-XXXXXX";

#include "tmpdir_fixture.h"

/* A spec whose host is not an address: refused at once, naming that host (no name
 * lookup: it could outlast the probe's bound). */
struct resolve_case {
    const char *spec, *host;
};

static const struct resolve_case resolve_cases[] = {
    {"inet:8891@a..invalid", "a..invalid"},
    {"inet6:8891@b..invalid", "b..invalid"},
    {"inet:8891@c..example-host-name-long-enough-to-leave-the-small-bins.invalid",
     "c..example-host-name-long-enough-to-leave-the-small-bins.invalid"},
    {"inet:8891@milter.example.com", "milter.example.com"},
};

static void test_unresolvable_host(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(resolve_cases) / sizeof(resolve_cases[0]); i++) {
        char why[256];
        long long ms = -1;

        assert_false(status_probe(resolve_cases[i].spec, 1000, &ms, why, sizeof(why)));
        print_message("%s: %s\n", resolve_cases[i].spec, why);
        assert_non_null(strstr(why, "cannot probe"));
        assert_non_null(strstr(why, "addresses only"));
        assert_non_null(strstr(why, resolve_cases[i].host));
    }
}

/* A unix socket that accepts (the backlog does) and never answers: false within the bound. */
static void test_silent_milter(void **state)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    char spec[200], why[256];
    long long ms, t0;

    (void)state;
    assert_true(fd >= 0);
    assert_true(snprintf_ok(sun.sun_path, sizeof(sun.sun_path), "%s/m.sock", tmpdir));
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_true(snprintf_ok(spec, sizeof(spec), "unix:%s", sun.sun_path));
    t0 = now_ms();
    assert_false(status_probe(spec, 300, &ms, why, sizeof(why)));
    assert_true(now_ms() - t0 < 1300);
    assert_non_null(strstr(why, "no answer"));
    close(fd);
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
        cmocka_unit_test(test_unresolvable_host),
        cmocka_unit_test(test_silent_milter),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
