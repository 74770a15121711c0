/*
 * dns.c - every DNS lookup postmeter makes, through one shared libunbound
 * context with its cache.
 *
 * SUMMARY
 *   One ub_ctx per process, in threaded async mode: libunbound runs its
 *   own resolver thread, and one thread of ours ("event thread") polls
 *   ub_fd() and calls ub_process(), which runs dns_callback() for each
 *   finished lookup. Any thread may dns_submit() and dns_wait(): a waiter
 *   sleeps on its query's condition variable until the callback fills
 *   the result or the deadline (submission + timeout_ms, monotonic clock)
 *   passes. On timeout the lookup is ub_cancel()led and the waiter gets
 *   DNS_TEMPFAIL. dns_cancel() is a waiter that gives up at once (the
 *   same path as a timeout, without waiting).
 *
 *   Ownership of a query: it holds one reference for the waiter and one
 *   for the callback while libunbound may still call it. libunbound skips
 *   the callback exactly when ub_cancel() returned UB_NOERROR (it checks
 *   the cancelled flag and takes the callback under the same lock), so a
 *   timed-out waiter drops the callback's reference then; otherwise the
 *   callback is on its way and frees the query itself. d->mu guards every
 *   query's state and the list of queries awaiting a callback.
 *
 * RESOLVERS
 *   With servers ("addr[@port]"), every query is forwarded to them
 *   (ub_ctx_set_fwd). Without, the nameservers of /etc/resolv.conf are
 *   used; if it lists none, libunbound recurses from the root itself.
 *   /etc/hosts is NOT read: postmeter asks about other people's domains
 *   (SPF, DKIM, DMARC, PTR) and must see what every other receiver sees,
 *   not local overrides. Forwarding to loopback is allowed
 *   (do-not-query-localhost: no). Unbound's built-in local zones (test.,
 *   invalid., onion., home.arpa., the AS112 and loopback reverse zones)
 *   are made transparent, so those names are asked of the configured
 *   resolver, which applies its own policy; only "localhost." stays local.
 *
 * RESULT MAPPING
 *   In dns_answer.c (which also holds the rdata parsers).
 *
 * NEVER
 *   Never blocks a caller longer than the timeout, never lets a late
 *   answer touch a freed query, never reads rdata out of bounds. Create
 *   the context after any fork(): its threads do not survive one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <unbound.h>

#include "buf.h"
#include "dns.h"
#include "dns_answer.h"
#include "dns_cache.h"
#include "log.h"
#include "util.h"

struct dns {
    struct ub_ctx *ctx;
    unsigned timeout_ms;
    pthread_t thread;        /* the event thread */
    int wake[2];             /* pipe; a byte on it stops the event thread */
    pthread_mutex_t mu;      /* guards every query's state and the list */
    struct dns_query *cb;    /* queries whose callback may still come */
    struct dns_cache *cache; /* definite answers for their TTL (dns_cache.h) */
};

struct dns_query {
    struct dns *d;
    struct dns_query *prev, *next; /* on d->cb while the callback may come */
    pthread_cond_t cond;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    int type;
    int async_id;
    char *name;       /* what was asked, for the cache */
    int refs;         /* waiter + callback */
    bool done;        /* res is filled */
    bool waiter_gone; /* timed out; the callback frees */
    struct dns_result *res;
};

/* Built-in unbound zones made transparent (see RESOLVERS above). */
static const char *const transparent_zones[] = {
    "127.in-addr.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "home.arpa.",
    "onion.",
    "test.",
    "invalid.",
    "10.in-addr.arpa.",
    "168.192.in-addr.arpa.",
    "0.in-addr.arpa.",
    "254.169.in-addr.arpa.",
    "2.0.192.in-addr.arpa.",
    "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.",
    "255.255.255.255.in-addr.arpa.",
    "d.f.ip6.arpa.",
    "8.e.f.ip6.arpa.",
    "9.e.f.ip6.arpa.",
    "a.e.f.ip6.arpa.",
    "b.e.f.ip6.arpa.",
    "8.b.d.0.1.0.0.2.ip6.arpa."};

/* cb_unlink - take q off the list of queries awaiting a callback (mu held) */
static void cb_unlink(struct dns *d, struct dns_query *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        d->cb = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
    q->refs--;
}

/* query_free - release a query nobody refers to any more */
static void query_free(struct dns_query *q)
{
    pthread_cond_destroy(&q->cond);
    dns_result_free(q->res);
    free(q->name);
    free(q);
}

/* now_s - seconds of CLOCK_MONOTONIC, the cache's clock */
static int64_t now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec;
}

/* dns_callback - libunbound's completion, run on the event thread */
static void dns_callback(void *arg, int err, struct ub_result *u)
{
    struct dns_query *q = arg;
    struct dns_result *r;
    struct dns *d;

    if (q == NULL) { /* the warm-up lookup from dns_open */
        ub_resolve_free(u);
        return;
    }
    d = q->d;
    r = dns_answer_from_ub(q->type, err, u);
    if (err == 0 && u != NULL && u->ttl > 0)
        dns_cache_put(d->cache, q->name, q->type, r, (uint32_t)u->ttl, now_s());
    ub_resolve_free(u);
    pthread_mutex_lock(&d->mu);
    cb_unlink(d, q);
    q->res = r;
    q->done = true;
    if (q->waiter_gone) {
        if (q->refs != 0)
            bug("dns_callback: query still referenced");
        query_free(q);
    } else {
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&d->mu);
}

/* event_thread - deliver libunbound's answers until told to stop */
static void *event_thread(void *arg)
{
    struct dns *d = arg;
    struct pollfd pfd[2];

    pfd[0].fd = ub_fd(d->ctx);
    pfd[0].events = POLLIN;
    pfd[1].fd = d->wake[0];
    pfd[1].events = POLLIN;
    for (;;) {
        int rc;

        if (poll(pfd, 2, -1) < 0) {
            if (errno != EINTR)
                bug("dns: poll: %s", strerror(errno));
            continue;
        }
        if (pfd[1].revents != 0)
            break;
        if (pfd[0].revents == 0)
            continue;
        rc = ub_process(d->ctx);
        if (rc != 0) {
            /* the resolver thread is gone; lookups will time out */
            warn("dns: ub_process: %s", ub_strerror(rc));
            pfd[0].fd = -1;
        }
    }
    return NULL;
}

/* deadline_after - CLOCK_MONOTONIC now + ms */
static struct timespec deadline_after(unsigned ms)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* dns_submit - start a lookup; never blocks on the network; caller waits */
struct dns_query *dns_submit(struct dns *d, const char *name, int type)
{
    struct dns_query *q;
    pthread_condattr_t ca;
    int rc;

    if (type != DNS_T_A && type != DNS_T_AAAA && type != DNS_T_TXT && type != DNS_T_MX &&
        type != DNS_T_PTR)
        bug("dns_submit: unsupported type %d", type);
    q = xcalloc(1, sizeof(*q));
    q->d = d;
    q->type = type;
    q->refs = 1;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&q->cond, &ca) != 0)
        die("dns: pthread_cond_init failed");
    pthread_condattr_destroy(&ca);
    q->deadline = deadline_after(d->timeout_ms);
    if (name == NULL || *name == '\0') {
        q->res = dns_result_new(DNS_PERMFAIL, -1);
        q->done = true;
        return q;
    }
    if ((q->res = dns_cache_get(d->cache, name, type, now_s())) != NULL) {
        q->done = true;
        return q;
    }
    q->name = xstrdup(name);

    pthread_mutex_lock(&d->mu);
    q->refs++;
    q->next = d->cb;
    if (d->cb)
        d->cb->prev = q;
    d->cb = q;
    pthread_mutex_unlock(&d->mu);

    rc = ub_resolve_async(d->ctx, name, type, 1 /* IN */, q, dns_callback, &q->async_id);
    if (rc != 0) {
        /* libunbound kept nothing: the callback will never come */
        pthread_mutex_lock(&d->mu);
        cb_unlink(d, q);
        q->res = dns_result_new(rc == UB_SYNTAX ? DNS_PERMFAIL : DNS_TEMPFAIL, -1);
        q->done = true;
        pthread_mutex_unlock(&d->mu);
        if (rc != UB_SYNTAX)
            warn("dns: lookup of %s: %s", name, ub_strerror(rc));
    }
    return q;
}

/* give_up - (mu held) the waiter leaves a query that is not done: cancel
 * it with libunbound, or leave it to the callback that is under way */
static void give_up(struct dns *d, struct dns_query *q)
{
    int rc;

    pthread_mutex_unlock(&d->mu);
    rc = ub_cancel(d->ctx, q->async_id);
    pthread_mutex_lock(&d->mu);
    if (!q->done) {
        if (rc == UB_NOERROR)
            cb_unlink(d, q); /* libunbound will not call back */
        else
            q->waiter_gone = true; /* the callback is under way */
    }
}

/* dns_wait - wait for a submitted query, free it, return its result */
struct dns_result *dns_wait(struct dns_query *q)
{
    struct dns *d = q->d;
    struct dns_result *r;
    bool free_it;

    pthread_mutex_lock(&d->mu);
    while (!q->done) {
        int rc = pthread_cond_timedwait(&q->cond, &d->mu, &q->deadline);

        if (rc == ETIMEDOUT)
            break;
        if (rc != 0 && rc != EINTR)
            bug("dns_wait: pthread_cond_timedwait: %s", strerror(rc));
    }
    if (!q->done)
        give_up(d, q);
    if (q->done) {
        r = q->res;
        q->res = NULL;
    } else {
        r = dns_result_new(DNS_TEMPFAIL, -1);
    }
    q->refs--;
    free_it = q->refs == 0;
    pthread_mutex_unlock(&d->mu);
    if (free_it)
        query_free(q);
    return r;
}

/* dns_cancel - give up on a submitted query without waiting; frees it */
struct dns_query *dns_cancel(struct dns_query *q)
{
    struct dns *d = q->d;
    bool free_it;

    pthread_mutex_lock(&d->mu);
    if (!q->done)
        give_up(d, q);
    q->refs--;
    free_it = q->refs == 0;
    pthread_mutex_unlock(&d->mu);
    if (free_it)
        query_free(q); /* also frees a result that came in meanwhile */
    return NULL;
}

/* dns_lookup - dns_submit + dns_wait */
struct dns_result *dns_lookup(struct dns *d, const char *name, int type)
{
    return dns_wait(dns_submit(d, name, type));
}

/* set_option - ub_ctx_set_option with a readable error */
static bool set_option(struct ub_ctx *ctx, const char *opt, const char *val, char *err,
                       size_t errlen)
{
    int rc = ub_ctx_set_option(ctx, opt, val);

    if (rc != 0) {
        if (!snprintf_ok(err, errlen, "dns option %s %s: %s", opt, val, ub_strerror(rc)))
            strlcpy_ok(err, "dns option rejected", errlen);
        return false;
    }
    return true;
}

/* configure - resolvers and options on a fresh context; false with err */
static bool configure(struct ub_ctx *ctx, char *const *servers, char *err, size_t errlen)
{
    char zone[128];
    int rc;

    rc = ub_ctx_async(ctx, 1);
    if (rc != 0) {
        if (!snprintf_ok(err, errlen, "dns: threads: %s", ub_strerror(rc)))
            strlcpy_ok(err, "dns: threads unavailable", errlen);
        return false;
    }
    if (!set_option(ctx, "do-not-query-localhost:", "no", err, errlen))
        return false;
    for (size_t i = 0; i < sizeof(transparent_zones) / sizeof(transparent_zones[0]); i++) {
        if (!snprintf_ok(zone, sizeof(zone), "%s transparent", transparent_zones[i]))
            bug("dns: zone name too long");
        if (!set_option(ctx, "local-zone:", zone, err, errlen))
            return false;
    }
    for (unsigned o = 16; o <= 31; o++) {
        if (!snprintf_ok(zone, sizeof(zone), "%u.172.in-addr.arpa. transparent", o))
            bug("dns: zone name too long");
        if (!set_option(ctx, "local-zone:", zone, err, errlen))
            return false;
    }
    for (unsigned o = 64; o <= 127; o++) {
        if (!snprintf_ok(zone, sizeof(zone), "%u.100.in-addr.arpa. transparent", o))
            bug("dns: zone name too long");
        if (!set_option(ctx, "local-zone:", zone, err, errlen))
            return false;
    }

    if (servers == NULL || servers[0] == NULL) {
        rc = ub_ctx_resolvconf(ctx, NULL);
        if (rc != 0) {
            if (!snprintf_ok(err, errlen, "dns: /etc/resolv.conf: %s (%s)", ub_strerror(rc),
                             strerror(errno)))
                strlcpy_ok(err, "dns: cannot read /etc/resolv.conf", errlen);
            return false;
        }
        return true;
    }
    for (size_t i = 0; servers[i] != NULL; i++) {
        rc = *servers[i] ? ub_ctx_set_fwd(ctx, servers[i]) : UB_SYNTAX;
        if (rc != 0) {
            if (!snprintf_ok(err, errlen, "dns server \"%s\": %s (want addr[@port])", servers[i],
                             ub_strerror(rc)))
                strlcpy_ok(err, "dns server: bad address", errlen);
            return false;
        }
    }
    return true;
}

/* dns_open - create the shared context; NULL with a reason in err */
struct dns *dns_open(char *const *servers, unsigned timeout_ms, char *err, size_t errlen)
{
    struct ub_ctx *ctx;
    struct dns *d;
    sigset_t all, old;
    int rc;

    if (timeout_ms == 0) {
        strlcpy_ok(err, "dns: timeout must be at least 1 ms", errlen);
        return NULL;
    }
    ctx = ub_ctx_create();
    if (ctx == NULL) {
        strlcpy_ok(err, "dns: cannot create libunbound context", errlen);
        return NULL;
    }
    if (!configure(ctx, servers, err, errlen)) {
        ub_ctx_delete(ctx);
        return NULL;
    }
    d = xcalloc(1, sizeof(*d));
    d->ctx = ctx;
    d->timeout_ms = timeout_ms;
    d->cache = dns_cache_new();
    if (pthread_mutex_init(&d->mu, NULL) != 0)
        die("dns: pthread_mutex_init failed");
    if (pipe2(d->wake, O_CLOEXEC) != 0)
        die("dns: pipe: %s", strerror(errno));

    /*
     * Both threads (ours, and libunbound's, which the first lookup starts)
     * inherit a fully blocked signal mask, so signals reach the daemon's
     * own threads. The warm-up lookup of "localhost." is answered from
     * libunbound's built-in zone without network traffic, and applies the
     * configuration now rather than on the first real lookup.
     */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&d->thread, NULL, event_thread, d);
    if (rc != 0)
        die("dns: pthread_create: %s", strerror(rc));
    rc = ub_resolve_async(ctx, "localhost.", DNS_T_A, 1, NULL, dns_callback, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        if (!snprintf_ok(err, errlen, "dns: cannot start resolver: %s", ub_strerror(rc)))
            strlcpy_ok(err, "dns: cannot start resolver", errlen);
        dns_close(d);
        return NULL;
    }
    return d;
}

/* dns_close - cancel outstanding queries and free; returns NULL */
struct dns *dns_close(struct dns *d)
{
    struct dns_query *q, *next;
    size_t attached = 0;
    char c = 'q';
    int rc;

    if (d == NULL)
        return NULL;
    while ((rc = (int)write(d->wake[1], &c, 1)) < 0 && errno == EINTR)
        ;
    if (rc != 1)
        bug("dns_close: cannot wake the event thread: %s", strerror(errno));
    pthread_join(d->thread, NULL);
    ub_ctx_delete(d->ctx); /* no callback runs after this */
    d->ctx = NULL;

    pthread_mutex_lock(&d->mu);
    for (q = d->cb; q != NULL; q = next) {
        next = q->next;
        cb_unlink(d, q);
        if (q->waiter_gone) {
            query_free(q);
        } else {
            /* submitted, not yet waited for: dns_wait() will return
             * TEMPFAIL without touching the (kept) context */
            q->res = dns_result_new(DNS_TEMPFAIL, -1);
            q->done = true;
            pthread_cond_signal(&q->cond);
            attached++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    close(d->wake[0]);
    close(d->wake[1]);
    d->cache = dns_cache_free(d->cache);
    if (attached > 0) {
        /* their dns_wait() still locks d->mu: keep d (a few bytes) alive */
        warn("dns_close: %zu lookups were never waited for", attached);
        return NULL;
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
    return NULL;
}
