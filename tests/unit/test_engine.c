/*
 * test_engine.c - the milter server's sockets and threads (engine.c):
 * socket specs and their errors, a stale unix socket replaced and a live
 * one refused, many MTA connections at once over unix and TCP, a silent
 * MTA dropped after the timeout, and shutdown cutting an idle connection
 * (its close callback still runs, the socket file is removed); the
 * bounds: connections past the limit closed at once, a packet that
 * trickles cut at the timeout from its first byte, big packets under way
 * within a shared budget, charged for what arrived, not what a length
 * announced.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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

/* conversation_body - negotiate, n messages with a last body chunk of `body` bytes, quit */
static void conversation_body(const char *spec, int n, size_t body)
{
    struct buf out = BUF_INIT;
    unsigned char o[12] = {0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x1f, 0xff, 0xff};
    int fd = dial(spec);
    char *got, *chunk = xcalloc(1, body + 1);

    mproto_put(&out, SMFIC_OPTNEG, o, sizeof(o));
    for (int i = 0; i < n; i++)
        mproto_put(&out, SMFIC_BODYEOB, chunk, body);
    free(chunk);
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

/* conversation - negotiate, n messages, quit; checks every answer */
static void conversation(const char *spec, int n)
{
    conversation_body(spec, n, 0);
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

/* the negotiation as Postfix sends it */
static const unsigned char optneg[] = {0, 0,    0,    13, SMFIC_OPTNEG, 0,    0,   0, 6, 0,
                                       0, 0x01, 0xff, 0,  0x1f,         0xff, 0xff};

/* a silent MTA is dropped after the timeout; shutdown cuts an idle connection */
static void test_timeout_and_shutdown(void **state)
{
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

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* negotiated - a connection that got its negotiation answered (a thread serves it), or -1 */
static int negotiated(const char *spec)
{
    struct timeval tv = {.tv_sec = 10};
    int fd = dial(spec);
    char *got;
    bool ok;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ok = send(fd, optneg, sizeof(optneg), MSG_NOSIGNAL) == (ssize_t)sizeof(optneg);
    got = read_packets(fd, 1);
    ok = ok && strcmp(got, "O") == 0;
    free(got);
    if (!ok)
        close(fd);
    return ok ? fd : -1;
}

/* closed_within - the server closes fd within ms (EOF or a reset, not silence) */
static bool closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    return poll(&p, 1, ms) == 1 && read(fd, &c, 1) <= 0;
}

/* wait_for - poll until get(e) == want, 5 s at most */
static bool wait_for(struct engine *e, size_t (*get)(struct engine *), size_t want)
{
    for (int i = 0; i < 500 && get(e) != want; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    return get(e) == want;
}

static size_t active(struct engine *e)
{
    return engine_active(e);
}

/*
 * test_connection_limit - past max_connections a connection is closed at
 * once (the MTA's handshake fails and it applies milter_default_action,
 * no connect timeout); once one ends, a new one is served
 */
static void test_connection_limit(void **state)
{
    char *spec = xasprintf("unix:%s/l.sock", dir);
    struct server *sv = server_start(spec, 30);
    int idle[3];

    (void)state;
    engine_set_limits(sv->e, 3, 0);
    for (int i = 0; i < 3; i++)
        assert_true((idle[i] = negotiated(spec)) >= 0);
    for (int k = 0; k < 3; k++) {
        double t0 = now_s();

        if (negotiated(spec) >= 0)
            fail_msg("connection %d past the limit was served", 4 + k);
        if (now_s() - t0 > 3)
            fail_msg("connection %d past the limit: refused after %.1f s", 4 + k, now_s() - t0);
    }
    assert_int_equal(engine_active(sv->e), 3);
    close(idle[0]);
    assert_true(wait_for(sv->e, active, 2));
    conversation(spec, 2);
    assert_true((idle[0] = negotiated(spec)) >= 0);
    for (int i = 0; i < 3; i++)
        close(idle[i]);
    server_stop(sv, 5);
    free(spec);
}

/*
 * test_packet_deadline - a packet must be whole within the timeout of
 * its first byte: one in two halves a second apart is served; one
 * trickling a byte every 0.5 s is cut at about the timeout (2 s)
 */
static void test_packet_deadline(void **state)
{
    char *spec = xasprintf("unix:%s/d.sock", dir), name[41], *got;
    struct server *sv = server_start(spec, 2);
    struct buf helo = BUF_INIT;
    double t0, cut = -1;
    int fd;

    (void)state;
    memset(name, 'h', 40);
    name[40] = '\0';
    mproto_put(&helo, SMFIC_HELO, name, sizeof(name));
    assert_true((fd = negotiated(spec)) >= 0);
    assert_int_equal(write(fd, helo.data, 20), 20);
    sleep(1);
    assert_int_equal(write(fd, helo.data + 20, helo.len - 20), (ssize_t)helo.len - 20);
    got = read_packets(fd, 1);
    assert_string_equal(got, "c");
    free(got);
    /* the same packet, a byte every 0.5 s (it would take 23 s): give up after 8 s */
    t0 = now_s();
    for (size_t i = 0; i < helo.len && now_s() - t0 < 8; i++) {
        if (send(fd, helo.data + i, 1, MSG_NOSIGNAL) != 1 || closed_within(fd, 500)) {
            cut = now_s() - t0;
            break;
        }
    }
    if (cut < 1.5 || cut > 3.5)
        fail_msg("a trickling packet was cut after %.1f s (-1: not at all), want about 2", cut);
    close(fd);
    buf_free(&helo);
    server_stop(sv, 5);
    free(spec);
}

/*
 * send_big - announce a body packet of MPROTO_MAX_PACKET (4 MiB), send
 * its command and `sent` data bytes; false if the server cut it first
 */
static bool send_big(int fd, size_t sent)
{
    struct buf b = BUF_INIT;
    uint32_t n = htonl(MPROTO_MAX_PACKET);
    bool ok;

    buf_add(&b, &n, 4);
    buf_putc(&b, SMFIC_BODY);
    buf_reserve(&b, sent);
    memset(b.data + b.len, 'x', sent);
    b.len += sent;
    ok = write(fd, b.data, b.len) == (ssize_t)b.len;
    buf_free(&b);
    return ok;
}

/*
 * test_buffer_budget - the first report's shape (a packet announced at
 * 4 MiB, 4 MiB - 1 bytes sent) holds its buffer against the budget; a
 * second one is cut once its bytes take the budget (8 MiB) past its
 * bound, small packets still go, and the budget is back once the first
 * connection ends
 */
static void test_buffer_budget(void **state)
{
    char *spec = xasprintf("unix:%s/b.sock", dir);
    struct server *sv = server_start(spec, 30);
    size_t charge = MILTER_LEN_BYTES + MPROTO_MAX_PACKET + 1; /* the packet and a NUL */
    int a, b;

    (void)state;
    engine_set_limits(sv->e, 10, 8u << 20);
    assert_true((a = negotiated(spec)) >= 0);
    assert_true(send_big(a, MPROTO_MAX_PACKET - 2)); /* one byte short */
    assert_true(wait_for(sv->e, engine_buffered, charge));
    assert_true((b = negotiated(spec)) >= 0);
    send_big(b, 3u << 20); /* its buffer would grow to 4 MiB: cut on the way */
    if (!closed_within(b, 3000))
        fail_msg("a big packet past the budget was not cut (%zu buffered)", engine_buffered(sv->e));
    close(b);
    assert_int_equal(engine_buffered(sv->e), charge);
    conversation(spec, 1);
    close(a);
    assert_true(wait_for(sv->e, engine_buffered, 0));
    assert_true((b = negotiated(spec)) >= 0);
    assert_true(send_big(b, MPROTO_MAX_PACKET - 2));
    assert_true(wait_for(sv->e, engine_buffered, charge));
    assert_false(closed_within(b, 200));
    close(b);
    assert_true(wait_for(sv->e, engine_buffered, 0));
    server_stop(sv, 5);
    free(spec);
}

/*
 * test_budget_announced - the second report: 30 connections announce a
 * 4 MiB packet and send only its length and command (150 bytes in all).
 * None is cut, none holds any of the budget (8 MiB), and messages with
 * body chunks past 8 KiB still go through meanwhile.
 */
static void test_budget_announced(void **state)
{
    char *spec = xasprintf("unix:%s/a.sock", dir);
    struct server *sv = server_start(spec, 30);
    int hog[30];

    (void)state;
    engine_set_limits(sv->e, 40, 8u << 20);
    for (int i = 0; i < 30; i++) {
        assert_true((hog[i] = negotiated(spec)) >= 0);
        assert_true(send_big(hog[i], 0));
    }
    for (int i = 0; i < 30; i++)
        if (closed_within(hog[i], i == 0 ? 300 : 0))
            fail_msg("connection %d that announced 4 MiB was cut (%zu buffered)", i,
                     engine_buffered(sv->e));
    assert_int_equal(engine_buffered(sv->e), 0);
    conversation_body(spec, 2, 9000);
    conversation_body(spec, 2, 60000);
    for (int i = 0; i < 30; i++)
        close(hog[i]);
    assert_true(wait_for(sv->e, engine_buffered, 0));
    server_stop(sv, 5);
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
    signal(SIGPIPE, SIG_IGN); /* a write to a connection the server cut fails, not kills */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_unix_many),
        cmocka_unit_test(test_inet_many),
        cmocka_unit_test(test_unix_stale_live_file),
        cmocka_unit_test(test_timeout_and_shutdown),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_packet_deadline),
        cmocka_unit_test(test_buffer_budget),
        cmocka_unit_test(test_budget_announced),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
