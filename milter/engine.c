/*
 * engine.c - the listening socket, the connection threads and their I/O.
 * See engine.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "msession.h"
#include "util.h"

#define IDLE_KEEP      4  /* idle threads kept however long they wait */
#define IDLE_SECONDS   60 /* more than IDLE_KEEP idle threads end after this */
#define LISTEN_BACKLOG 256

/* One connection being served (in the engine's list, to cut at shutdown). */
struct econn {
    int fd;
    struct econn *next, *prev;
};

struct engine {
    int fd;           /* listening socket */
    char *path;       /* unix socket file, or NULL */
    bool tcp;         /* inet sockets: re-arm TCP_QUICKACK */
    int stop_pipe[2]; /* engine_stop() -> engine_run() */
    const struct smfiDesc *desc;
    unsigned timeout_s;

    pthread_mutex_t mu;
    pthread_cond_t work;    /* a connection is queued, or stopping */
    pthread_cond_t changed; /* a connection or thread ended */
    int *queue;             /* accepted fds waiting for a thread */
    size_t qlen, qcap;
    unsigned threads, idle;
    unsigned active;     /* connections being served */
    struct econn *conns; /* ... their list */
    bool stopping;       /* threads end instead of waiting */
};

/* ---- listening ---- */

static struct engine *engine_new(void)
{
    struct engine *e = xcalloc(1, sizeof(*e));

    e->fd = -1;
    e->stop_pipe[0] = e->stop_pipe[1] = -1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->changed, NULL);
    return e;
}

static void engine_free(struct engine *e)
{
    if (e->fd >= 0)
        close(e->fd);
    for (int i = 0; i < 2; i++)
        if (e->stop_pipe[i] >= 0)
            close(e->stop_pipe[i]);
    for (size_t i = 0; i < e->qlen; i++)
        close(e->queue[i]);
    free(e->queue);
    free(e->path);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work);
    pthread_cond_destroy(&e->changed);
    free(e);
}

/* listen_unix - a unix socket at path with the given mode */
static bool listen_unix(struct engine *e, const char *path, unsigned mode, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old;
    int rc;

    if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "a unix socket needs an absolute path of at most %zu bytes",
                 sizeof(sun.sun_path) - 1);
        return false;
    }
    strcpy(sun.sun_path, path);
    if ((e->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return false;
    }
    if (lstat(path, &st) == 0) {
        int probe;

        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket (not removed)", path);
            return false;
        }
        /* someone answering on it: in use; nobody: stale, replace it */
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            close(probe);
            snprintf(err, errlen, "%s: another process listens on it", path);
            return false;
        }
        if (probe >= 0)
            close(probe);
        unlink(path);
    }
    old = umask(0777 & ~mode);
    rc = bind(e->fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc != 0) {
        snprintf(err, errlen, "bind %s: %s (does its directory exist?)", path, strerror(errno));
        return false;
    }
    e->path = xstrdup(path);
    return true;
}

/* listen_inet - PORT[@HOST] for family AF_INET or AF_INET6 */
static bool listen_inet(struct engine *e, const char *arg, int family, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *res = NULL;
    char *port = xstrdup(arg), *host = strchr(port, '@');
    char *end;
    unsigned long pn;
    int rc, one = 1;

    if (host)
        *host++ = '\0';
    pn = strtoul(port, &end, 10);
    if (port[0] == '\0' || *end || pn == 0 || pn > 65535 || (host && host[0] == '\0')) {
        snprintf(err, errlen, "want PORT or PORT@HOST (port 1-65535)");
        free(port);
        return false;
    }
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf(err, errlen, "%s: %s", host ? host : "any address", gai_strerror(rc));
        free(port);
        return false;
    }
    free(port);
    e->fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (e->fd < 0 || setsockopt(e->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(e->fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        freeaddrinfo(res);
        return false;
    }
    freeaddrinfo(res);
    e->tcp = true;
    return true;
}

/* engine_listen - create, bind, listen */
struct engine *engine_listen(const char *spec, unsigned mode, char *err, size_t errlen)
{
    struct engine *e = engine_new();
    bool ok;

    if (strncmp(spec, "unix:", 5) == 0)
        ok = listen_unix(e, spec + 5, mode, err, errlen);
    else if (strncmp(spec, "local:", 6) == 0)
        ok = listen_unix(e, spec + 6, mode, err, errlen);
    else if (strncmp(spec, "inet:", 5) == 0)
        ok = listen_inet(e, spec + 5, AF_INET, err, errlen);
    else if (strncmp(spec, "inet6:", 6) == 0)
        ok = listen_inet(e, spec + 6, AF_INET6, err, errlen);
    else {
        snprintf(err, errlen, "want unix:PATH, inet:PORT@HOST or inet6:PORT@HOST");
        ok = false;
    }
    if (ok && listen(e->fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        ok = false;
    }
    if (ok && pipe2(e->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        ok = false;
    }
    if (!ok) {
        if (e->path)
            unlink(e->path);
        engine_free(e);
        return NULL;
    }
    return e;
}

const char *engine_path(const struct engine *e)
{
    return e->path;
}

/* ---- one connection ---- */

/*
 * send_all - send the whole buffer; false if the MTA is gone or stuck.
 * Not util's write_all(): send(MSG_NOSIGNAL), so an MTA that hung up
 * never raises SIGPIPE in whatever program runs the engine.
 */
static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* serve - one MTA connection, start to end */
static void serve(struct engine *e, int fd)
{
    SMFICTX *s = msession_new(e->desc);
    struct timeval tv = {.tv_sec = (time_t)e->timeout_s};
    int one = 1;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (e->tcp)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (;;) {
        size_t room;
        void *in = msession_space(s, &room);
        ssize_t r = read(fd, in, room);
        bool go_on;
        struct buf *out;

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            warn("milter: the MTA said nothing for %u s; connection dropped", e->timeout_s);
            break;
        }
        if (r <= 0)
            break; /* the MTA closed (or we were cut at shutdown) */
        /* Postfix writes each no-reply packet on its own: ACK at once, not in 40 ms */
        if (e->tcp)
            setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
        go_on = msession_received(s, (size_t)r);
        out = msession_output(s);
        if (out->len > 0) {
            if (!send_all(fd, out->data, out->len)) {
                warn("milter: cannot answer the MTA: %s", strerror(errno));
                break;
            }
            buf_reset(out);
        }
        if (!go_on)
            break;
    }
    msession_free(s);
}

/* conn_thread - serve queued connections; end when stopping or idle too long */
static void *conn_thread(void *arg)
{
    struct engine *e = arg;

    pthread_mutex_lock(&e->mu);
    for (;;) {
        struct econn ec;

        while (e->qlen == 0 && !e->stopping) {
            struct timespec until;
            int rc;

            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += IDLE_SECONDS;
            e->idle++;
            rc = pthread_cond_timedwait(&e->work, &e->mu, &until);
            e->idle--;
            if (rc == ETIMEDOUT && e->qlen == 0 && e->idle >= IDLE_KEEP)
                goto out;
        }
        if (e->qlen == 0)
            break; /* stopping */
        ec.fd = e->queue[--e->qlen];
        ec.prev = NULL;
        ec.next = e->conns;
        if (e->conns)
            e->conns->prev = &ec;
        e->conns = &ec;
        e->active++;
        pthread_mutex_unlock(&e->mu);

        serve(e, ec.fd);

        pthread_mutex_lock(&e->mu);
        if (ec.prev)
            ec.prev->next = ec.next;
        else
            e->conns = ec.next;
        if (ec.next)
            ec.next->prev = ec.prev;
        close(ec.fd);
        e->active--;
        pthread_cond_broadcast(&e->changed);
    }
out:
    e->threads--;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* hand_over - give an accepted connection to an idle thread or a new one */
static void hand_over(struct engine *e, int fd)
{
    pthread_attr_t a;
    pthread_t tid;
    int rc = 0;

    pthread_mutex_lock(&e->mu);
    if (e->qlen == e->qcap) {
        e->qcap = e->qcap ? e->qcap * 2 : 16;
        e->queue = xrealloc(e->queue, e->qcap * sizeof(*e->queue));
    }
    e->queue[e->qlen++] = fd;
    if (e->idle >= e->qlen) {
        pthread_cond_signal(&e->work);
    } else {
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &a, conn_thread, e);
        pthread_attr_destroy(&a);
        if (rc == 0)
            e->threads++;
    }
    pthread_mutex_unlock(&e->mu);
    if (rc != 0)
        warn("milter: cannot start a connection thread: %s (the connection waits)", strerror(rc));
}

/* engine_run - the accept loop */
void engine_run(struct engine *e, const struct smfiDesc *desc, unsigned timeout_s)
{
    struct pollfd p[2] = {{.fd = e->fd, .events = POLLIN},
                          {.fd = e->stop_pipe[0], .events = POLLIN}};
    sigset_t all, old;

    e->desc = desc;
    e->timeout_s = timeout_s ? timeout_s : 1;
    /* connection threads never take process signals: main.c does */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (;;) {
        int fd;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            warn("milter: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        fd = accept4(e->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                warn("milter: accept: %s (waiting a moment)", strerror(errno));
                nanosleep(&(struct timespec){0, 100000000}, NULL);
            }
            continue;
        }
        hand_over(e, fd);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(e->fd);
    e->fd = -1;
    if (e->path)
        unlink(e->path);
}

/* engine_stop - wake engine_run() */
void engine_stop(struct engine *e)
{
    if (write(e->stop_pipe[1], "", 1) < 0) {
        /* full: a stop is pending already */
    }
}

unsigned engine_active(struct engine *e)
{
    unsigned n;

    pthread_mutex_lock(&e->mu);
    n = e->active + (unsigned)e->qlen;
    pthread_mutex_unlock(&e->mu);
    return n;
}

/* wait_until - wait on changed until cond() or the deadline; true if cond() */
static bool wait_changed(struct engine *e, unsigned secs, bool (*cond)(struct engine *))
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += secs;
    while (!cond(e))
        if (pthread_cond_timedwait(&e->changed, &e->mu, &until) == ETIMEDOUT)
            return cond(e);
    return true;
}

static bool no_connections(struct engine *e)
{
    return e->active == 0 && e->qlen == 0;
}

static bool no_threads(struct engine *e)
{
    return e->threads == 0;
}

/* engine_close - let connections end, cut the rest, wait for every thread, free */
void engine_close(struct engine *e, unsigned grace_s)
{
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->work);
    if (!wait_changed(e, grace_s, no_connections)) {
        warn("%u connection(s) still open at shutdown: closing them",
             e->active + (unsigned)e->qlen);
        for (struct econn *c = e->conns; c; c = c->next)
            shutdown(c->fd, SHUT_RDWR);
        /* accepted but never served: closed unread (the MTA applies milter_default_action) */
        while (e->qlen > 0)
            close(e->queue[--e->qlen]);
    }
    if (!wait_changed(e, grace_s + 30, no_threads)) {
        /* a callback hangs: leave the engine to it rather than free what it uses */
        warn("%u connection thread(s) did not end", e->threads);
        pthread_mutex_unlock(&e->mu);
        return;
    }
    pthread_mutex_unlock(&e->mu);
    engine_free(e);
}
