/*
 * engine.c - the connection threads and their I/O, and the bounds on
 * them. See engine.h; the listening socket is engine_listen.c.
 *
 * What a stranger on the socket can take, and the bound on it: threads
 * and sessions (max_conns: one thread per connection served, the rest
 * are closed at accept), time (a packet must be whole within timeout_s
 * of its first byte; silence between packets at most timeout_s) and
 * input memory (8 KiB per connection, plus big packets under way within
 * the shared budget, charged for what has arrived). Refusals are logged once per burst, not per
 * connection.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "engine_int.h"
#include "log.h"
#include "msession.h"
#include "util.h"

#define IDLE_KEEP    4  /* idle threads kept however long they wait */
#define IDLE_SECONDS 60 /* more than IDLE_KEEP idle threads end after this */
#define BURST_LOG_S  60 /* a refusal is logged at most this often */

/* ---- the engine ---- */

/* engine_new - an engine with nothing open */
struct engine *engine_new(void)
{
    struct engine *e = xcalloc(1, sizeof(*e));

    e->fd = -1;
    e->stop_pipe[0] = e->stop_pipe[1] = -1;
    e->max_conns = ENGINE_MAX_CONNECTIONS;
    atomic_init(&e->budget.used, 0);
    atomic_init(&e->budget.max, ENGINE_MAX_BUFFERED);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->changed, NULL);
    return e;
}

/* engine_free - close what is open, free */
void engine_free(struct engine *e)
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

/* engine_set_limits - connections served at once, bytes buffered for big packets */
void engine_set_limits(struct engine *e, unsigned max_connections, size_t max_buffered)
{
    pthread_mutex_lock(&e->mu);
    e->max_conns = max_connections ? max_connections : ENGINE_MAX_CONNECTIONS;
    pthread_mutex_unlock(&e->mu);
    atomic_store(&e->budget.max, max_buffered ? max_buffered : ENGINE_MAX_BUFFERED);
}

/* engine_buffered - bytes charged to the budget now */
size_t engine_buffered(struct engine *e)
{
    return atomic_load(&e->budget.used);
}

/*
 * burst_note - one more refusal; true if it is to be logged now (the
 * first of a burst, then once every BURST_LOG_S), with b->since refusals
 * (this one included) to report
 */
static bool burst_note(struct burst *b)
{
    time_t now = time(NULL);

    b->since++;
    b->all++;
    if (b->on && now - b->logged < BURST_LOG_S)
        return false;
    b->on = true;
    b->logged = now;
    return true;
}

/* burst_end - the refusing is over; how many were refused in all (0: none) */
static unsigned long burst_end(struct burst *b)
{
    unsigned long n = b->on ? b->all : 0;

    memset(b, 0, sizeof(*b));
    return n;
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

/*
 * wait_input - wait until fd is readable or the deadline (CLOCK_MONOTONIC)
 * passes; false at the deadline
 */
static bool wait_input(int fd, const struct timespec *deadline)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    for (;;) {
        struct timespec now;
        long long ms;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &now);
        ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
             (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
        if (ms <= 0)
            return false;
        rc = poll(&p, 1, (int)ms);
        if (rc > 0)
            return true;
        if (rc == 0)
            return false;
        if (errno != EINTR)
            return true; /* read() says what is wrong */
    }
}

/* no_room - a connection's big packet did not fit in the budget: log it, once per burst */
static void no_room(struct engine *e, size_t pending)
{
    bool log;
    unsigned long n;

    pthread_mutex_lock(&e->mu);
    log = burst_note(&e->no_room);
    n = e->no_room.since;
    if (log)
        e->no_room.since = 0;
    pthread_mutex_unlock(&e->mu);
    if (log)
        warn("milter: big packets under way hold %zu KiB (milter_max_buffer_mb): %lu "
             "connection(s) cut whose packet did not fit, the last after %zu byte(s) (the MTA "
             "applies its milter_default_action)",
             engine_buffered(e) / 1024, n, pending);
}

/*
 * serve - one MTA connection, start to end. Silence between packets is
 * bounded by SO_RCVTIMEO; a packet under way must be whole within
 * timeout_s of the read that brought its first byte, however it trickles.
 */
static void serve(struct engine *e, int fd)
{
    SMFICTX *s = msession_new(e->desc);
    struct timeval tv = {.tv_sec = (time_t)e->timeout_s};
    struct timespec deadline = {0};
    bool timed = false; /* a packet is under way: deadline holds */
    int one = 1;

    msession_set_budget(s, &e->budget);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (e->tcp)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (;;) {
        size_t room;
        void *in = msession_space(s, &room);
        ssize_t r;
        bool go_on;
        unsigned long before;
        struct buf *out;

        if (in == NULL) {
            no_room(e, msession_pending(s));
            break;
        }
        if (timed && !wait_input(fd, &deadline)) {
            warn("milter: a packet from the MTA was not whole within %u s; connection dropped",
                 e->timeout_s);
            break;
        }
        r = read(fd, in, room);
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
        before = msession_packets(s);
        go_on = msession_received(s, (size_t)r);
        /* a new packet under way (its first byte came in this read): its clock starts */
        if (msession_pending(s) == 0) {
            timed = false;
        } else if (!timed || msession_packets(s) != before) {
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += (time_t)e->timeout_s;
            timed = true;
        }
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

/*
 * hand_over - give an accepted connection to an idle thread or a new one;
 * false (nothing done) when max_conns are open already
 */
static bool hand_over(struct engine *e, int fd)
{
    pthread_attr_t a;
    pthread_t tid;
    int rc = 0;

    pthread_mutex_lock(&e->mu);
    if (e->active + e->qlen >= e->max_conns) {
        pthread_mutex_unlock(&e->mu);
        return false;
    }
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
    return true;
}

/*
 * refuse - past max_conns: close at once. The MTA's handshake then fails
 * at its first read and it applies its milter_default_action right away,
 * where a connection left in the backlog would wait for its connect or
 * command timeout.
 */
static void refuse(struct engine *e, int fd)
{
    unsigned max;

    close(fd);
    if (!burst_note(&e->full))
        return;
    pthread_mutex_lock(&e->mu);
    max = e->max_conns;
    pthread_mutex_unlock(&e->mu);
    warn("milter: %u connections open (milter_max_connections): %lu new one(s) closed at once "
         "(the MTA applies its milter_default_action)",
         max, e->full.since);
    e->full.since = 0;
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
        if (!hand_over(e, fd)) {
            refuse(e, fd);
        } else if (e->full.on) {
            unsigned long n = burst_end(&e->full);

            info("milter: below milter_max_connections again (%lu connection(s) were refused)", n);
        }
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
