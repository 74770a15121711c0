/*
 * test_engine_listen.c - the stale-socket probe of engine_listen() on a
 * unix socket whose directory someone else may own: a listener that
 * never accepts and whose queue is full must not hang start-up (it is
 * live: refused at once); a symbolic link at the socket's name is never
 * followed (not a socket: nothing removed, nothing connected to); a
 * socket nobody answers on is replaced. An error cut to fit its buffer
 * says so. Each case runs under an alarm:
 * a probe that blocks kills the test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "tmpdir_fixture.h"
#include "util.h"

#define HANG_S 10 /* a probe still blocked after this long hangs start-up */

static char dir[] = "/tmp/test_engine_listen.XXXXXX";

/* listener - a socket bound at path listening with backlog; its fd */
static int listener(const char *path, int backlog)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_true(snprintf_ok(sun.sun_path, sizeof(sun.sun_path), "%s", path));
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    if (backlog >= 0)
        assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

/* fill - connect to path without blocking until its queue is full; the clients in fds[] */
static int fill(const char *path, int *fds, int max)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int n = 0;

    assert_true(snprintf_ok(sun.sun_path, sizeof(sun.sun_path), "%s", path));
    while (n < max) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
            assert_int_equal(errno, EAGAIN);
            close(fd);
            return n;
        }
        fds[n++] = fd;
    }
    fail_msg("the queue of %s never filled", path);
    return n;
}

enum plant { FULL_QUEUE, LINK_TO_LIVE, LINK_TO_STALE, STALE };

struct probe_case {
    const char *name;
    enum plant plant;
    bool starts;         /* engine_listen() succeeds */
    const char *message; /* else: in its error */
};

static const struct probe_case cases[] = {
    {"a listener that never accepts, queue full", FULL_QUEUE, false, "another process listens"},
    {"symbolic link to a live socket", LINK_TO_LIVE, false, "not a socket"},
    {"symbolic link to a stale socket", LINK_TO_STALE, false, "not a socket"},
    {"a stale socket", STALE, true, NULL},
};

static void test_probe(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct probe_case *c = &cases[i];
        char *sock = xasprintf("%s/m%zu.sock", dir, i), *other = xasprintf("%s/o%zu.sock", dir, i);
        char *spec = xasprintf("unix:%s", sock), err[512] = "";
        int fds[64], n = 0, lfd = -1;
        struct engine *e;
        struct stat st;
        time_t t0;

        print_message("case: %s\n", c->name);
        if (c->plant == FULL_QUEUE) {
            lfd = listener(sock, 0);
            n = fill(sock, fds, 64);
        } else if (c->plant == STALE) {
            close(listener(sock, -1));
        } else {
            lfd = listener(other, c->plant == LINK_TO_LIVE ? 5 : -1);
            if (c->plant == LINK_TO_STALE) {
                close(lfd);
                lfd = -1;
            }
            assert_int_equal(symlink(other, sock), 0);
        }
        alarm(HANG_S);
        t0 = time(NULL);
        e = engine_listen(spec, 0660, err, sizeof(err));
        alarm(0);
        assert_true(time(NULL) - t0 < 3);
        if (c->starts) {
            if (e == NULL)
                fail_msg("%s: %s", c->name, err);
            engine_close(e, 0);
        } else {
            assert_null(e);
            if (strstr(err, c->message) == NULL)
                fail_msg("%s: \"%s\" does not say \"%s\"", c->name, err, c->message);
            /* what was there is still there */
            assert_int_equal(lstat(sock, &st), 0);
            assert_true(c->plant == FULL_QUEUE ? S_ISSOCK(st.st_mode) : S_ISLNK(st.st_mode));
            if (c->plant != FULL_QUEUE)
                assert_int_equal(lstat(other, &st), 0);
        }
        while (n > 0)
            close(fds[--n]);
        if (lfd >= 0)
            close(lfd);
        free(spec);
        free(other);
        free(sock);
    }
}

/* test_message_cut - an error that does not fit its buffer says it was cut ("..." at its end) */
static void test_message_cut(void **state)
{
    char *file = xasprintf("%s/not-a-socket-with-a-long-name", dir), *spec;
    char err[24] = "";
    FILE *fp = fopen(file, "w");

    (void)state;
    assert_non_null(fp);
    fclose(fp);
    spec = xasprintf("unix:%s", file);
    assert_null(engine_listen(spec, 0660, err, sizeof(err)));
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_string_equal(err + sizeof(err) - 4, "...");
    assert_int_equal(access(file, F_OK), 0); /* not a socket: left alone */
    free(spec);
    free(file);
}

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(dir);
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_message_cut),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
