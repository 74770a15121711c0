/*
 * test_engine.c - the milter server's sockets and threads (engine.c):
 * socket specs and their errors, a stale unix socket replaced and a live
 * one refused, many MTA connections at once over unix and TCP, a silent
 * MTA dropped after the timeout, and shutdown cutting an idle connection
 * (its close callback still runs, the socket file is removed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "engine.h"
#include "mproto.h"
#include "msession.h"
#include "util.h"

static char dir[] = "/tmp/test_engine.XXXXXX";
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned eoms, closes;

static sfsistat t_eom(SMFICTX *s)
{
    pthread_mutex_lock(&mu);
    eoms++;
    pthread_mutex_unlock(&mu);
    msession_insheader(s, 0, "X-Test", " yes");
    return SMFIS_CONTINUE;
}

static sfsistat t_close(SMFICTX *s)
{
    (void)s;
    pthread_mutex_lock(&mu);
    closes++;
    pthread_mutex_unlock(&mu);
    return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
    .xxfi_name = "test",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS,
    .xxfi_eom = t_eom,
    .xxfi_close = t_close,
};

static unsigned counter(unsigned *c)
{
    unsigned n;

    pthread_mutex_lock(&mu);
    n = *c;
    pthread_mutex_unlock(&mu);
    return n;
}

struct server {
    struct engine *e;
    pthread_t tid;
    unsigned timeout;
};

static void *server_thread(void *arg)
{
    struct server *sv = arg;

    engine_run(sv->e, &desc, sv->timeout);
    return NULL;
}

static struct server *server_start(const char *spec, unsigned timeout)
{
    struct server *sv = xcalloc(1, sizeof(*sv));
    char err[256];

    sv->e = engine_listen(spec, 0660, err, sizeof(err));
    if (sv->e == NULL)
        fail_msg("engine_listen %s: %s", spec, err);
    sv->timeout = timeout;
    assert_int_equal(pthread_create(&sv->tid, NULL, server_thread, sv), 0);
    return sv;
}

static void server_stop(struct server *sv, unsigned grace)
{
    engine_stop(sv->e);
    pthread_join(sv->tid, NULL);
    engine_close(sv->e, grace);
    free(sv);
}

static int dial(const char *spec)
{
    int fd;

    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};

        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", spec + 5);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    } else {
        struct sockaddr_in sin = {.sin_family = AF_INET};

        sin.sin_port = htons((uint16_t)atoi(spec + 5));
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    return fd;
}

/* read_packets - read until `want` packets arrived; returns their commands */
static char *read_packets(int fd, int want)
{
    struct buf in = BUF_INIT, cmds = BUF_INIT;
    size_t off = 0;
    int got = 0;

    while (got < want) {
        char tmp[4096];
        struct mpkt p;
        size_t used;
        ssize_t r = read(fd, tmp, sizeof(tmp));

        if (r <= 0)
            break;
        buf_add(&in, tmp, (size_t)r);
        while (got < want && mproto_frame((unsigned char *)in.data + off, in.len - off, &p,
                                          &used) == MPROTO_PACKET) {
            buf_putc(&cmds, p.cmd);
            off += used;
            got++;
        }
    }
    buf_free(&in);
    return buf_steal(&cmds);
}

/* conversation - negotiate, n messages, quit; checks every answer */
static void conversation(const char *spec, int n)
{
    struct buf out = BUF_INIT;
    unsigned char o[12] = {0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x1f, 0xff, 0xff};
    int fd = dial(spec);
    char *got;

    mproto_put(&out, SMFIC_OPTNEG, o, sizeof(o));
    for (int i = 0; i < n; i++)
        mproto_put(&out, SMFIC_BODYEOB, NULL, 0);
    mproto_put(&out, SMFIC_QUIT, NULL, 0);
    assert_int_equal(write(fd, out.data, out.len), (ssize_t)out.len);
    got = read_packets(fd, 1 + 2 * n);
    assert_int_equal(strlen(got), 1 + 2 * n);
    assert_int_equal(got[0], SMFIC_OPTNEG);
    for (int i = 0; i < n; i++) {
        assert_int_equal(got[1 + 2 * i], SMFIR_INSHEADER);
        assert_int_equal(got[2 + 2 * i], SMFIR_CONTINUE);
    }
    free(got);
    buf_free(&out);
    close(fd);
}

static void *client_thread(void *arg)
{
    conversation(arg, 5);
    return NULL;
}

static void many_clients(const char *spec)
{
    pthread_t t[20];
    unsigned e0 = counter(&eoms);
    struct server *sv = server_start(spec, 30);

    for (int i = 0; i < 20; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, (void *)spec), 0);
    for (int i = 0; i < 20; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(counter(&eoms) - e0, 100);
    server_stop(sv, 5);
}

static void test_unix_many(void **state)
{
    char *spec = xasprintf("unix:%s/m.sock", dir);
    struct stat st;

    (void)state;
    many_clients(spec);
    /* the socket file is gone after the server stopped */
    assert_int_not_equal(stat(spec + 5, &st), 0);
    free(spec);
}

/* free_port - a TCP port nobody listens on right now */
static int free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t l = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &l), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

static void test_inet_many(void **state)
{
    char *spec = xasprintf("inet:%d@127.0.0.1", free_port());

    (void)state;
    many_clients(spec);
    free(spec);
}

/* specs that cannot work, each with a message */
static void test_bad_specs(void **state)
{
    static const char *const bad[] = {
        "bogus:1",  "inet:",    "inet:0",     "inet:70000",
        "inet:12x", "inet:25@", "unix:rel/x", "inet6:25@127.0.0.1",
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(engine_listen(bad[i], 0660, err, sizeof(err)));
        print_message("%s: %s\n", bad[i], err);
        assert_true(err[0] != '\0');
    }
}

/* a stale socket file is replaced, a live one refused, a plain file left alone */
static void test_unix_stale_live_file(void **state)
{
    char *path = xasprintf("%s/s.sock", dir), *spec = xasprintf("unix:%s", path);
    char *file = xasprintf("unix:%s/plain", dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct server *sv;
    struct stat st;
    char err[256];
    int fd;
    FILE *f;

    (void)state;
    /* stale: bound by a process that is gone */
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    sv = server_start(spec, 30);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    /* live: refused, and the running one keeps its file */
    assert_null(engine_listen(spec, 0660, err, sizeof(err)));
    assert_non_null(strstr(err, "another process"));
    conversation(spec, 1);
    server_stop(sv, 5);
    /* a file that is not a socket is never removed */
    f = fopen(file + 5, "w");
    fclose(f);
    assert_null(engine_listen(file, 0660, err, sizeof(err)));
    assert_non_null(strstr(err, "not a socket"));
    assert_int_equal(stat(file + 5, &st), 0);
    unlink(file + 5);
    free(file);
    free(spec);
    free(path);
}

/* a silent MTA is dropped after the timeout; shutdown cuts an idle connection */
static void test_timeout_and_shutdown(void **state)
{
    static const unsigned char optneg[] = {0, 0,    0,    13, SMFIC_OPTNEG, 0,    0,   0, 6, 0,
                                           0, 0x01, 0xff, 0,  0x1f,         0xff, 0xff};
    char *spec = xasprintf("unix:%s/t.sock", dir), buf[16], *got;
    struct server *sv = server_start(spec, 1);
    unsigned c0 = counter(&closes);
    int fd = dial(spec);

    (void)state;
    assert_int_equal(read(fd, buf, sizeof(buf)), 0); /* dropped after about a second */
    close(fd);
    server_stop(sv, 5);
    assert_int_equal(counter(&closes) - c0, 1);

    sv = server_start(spec, 60);
    fd = dial(spec);
    /*
     * Negotiate first: engine_active() counts a connection still queued
     * for a thread too, and one cut there never had a session (nor a
     * close callback). Once the reply is here, a thread serves it.
     */
    assert_int_equal(write(fd, optneg, sizeof(optneg)), (ssize_t)sizeof(optneg));
    got = read_packets(fd, 1);
    assert_string_equal(got, "O");
    free(got);
    assert_true(engine_active(sv->e) >= 1);
    c0 = counter(&closes);
    server_stop(sv, 0); /* no grace: cut at once */
    assert_int_equal(counter(&closes) - c0, 1);
    assert_int_equal(read(fd, buf, sizeof(buf)), 0);
    close(fd);
    free(spec);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);

    (void)state;
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_unix_many),
        cmocka_unit_test(test_inet_many),
        cmocka_unit_test(test_unix_stale_live_file),
        cmocka_unit_test(test_timeout_and_shutdown),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
