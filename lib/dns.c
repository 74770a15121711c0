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
 *   NOERROR with data -> DNS_OK; NOERROR without -> DNS_NODATA;
 *   NXDOMAIN -> DNS_NXDOMAIN; SERVFAIL (also what libunbound reports when
 *   no server answers), our timeout, and libunbound errors other than
 *   syntax -> DNS_TEMPFAIL; a name libunbound cannot parse (empty label,
 *   label > 63, name > 255 octets), FORMERR, NOTIMP, REFUSED, other
 *   rcodes and malformed rdata (any record of the answer) -> DNS_PERMFAIL.
 *   One libunbound limitation is worked around: it reports SERVFAIL for
 *   an answer holding a zero-length rdata (which it cannot copy out), so
 *   for TXT such an answer is read from ub_result.answer_packet.
 *   rcode is the DNS rcode, or -1 when there was no answer.
 *
 *   Names come back in presentation form without the trailing dot ("."
 *   for the root, e.g. a null MX); '.', '\' and bytes outside 0x21..0x7e
 *   inside a label are escaped (\. \\ \DDD), which libunbound reads back.
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
#include "log.h"
#include "util.h"

struct dns {
    struct ub_ctx *ctx;
    unsigned timeout_ms;
    pthread_t thread;     /* the event thread */
    int wake[2];          /* pipe; a byte on it stops the event thread */
    pthread_mutex_t mu;   /* guards every query's state and the list */
    struct dns_query *cb; /* queries whose callback may still come */
};

struct dns_query {
    struct dns *d;
    struct dns_query *prev, *next; /* on d->cb while the callback may come */
    pthread_cond_t cond;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    int type;
    int async_id;
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

/* dns_status_name - "ok", "nodata", "nxdomain", "tempfail", "permfail" */
const char *dns_status_name(enum dns_status s)
{
    switch (s) {
    case DNS_OK:
        return "ok";
    case DNS_NODATA:
        return "nodata";
    case DNS_NXDOMAIN:
        return "nxdomain";
    case DNS_TEMPFAIL:
        return "tempfail";
    case DNS_PERMFAIL:
        return "permfail";
    }
    return "unknown";
}

/* result_new - an empty result with status s; caller frees */
static struct dns_result *result_new(enum dns_status s, int rcode)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));

    r->status = s;
    r->rcode = rcode;
    return r;
}

/* dns_result_free - free a result; returns NULL */
struct dns_result *dns_result_free(struct dns_result *r)
{
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (r->addrs)
            free(r->addrs[i]);
        if (r->txt)
            free(r->txt[i]);
        if (r->mx)
            free(r->mx[i].host);
        if (r->names)
            free(r->names[i]);
    }
    free(r->addrs);
    free(r->txt);
    free(r->txt_len);
    free(r->mx);
    free(r->names);
    return xfree(r);
}

/* wire_name - decode an uncompressed wire name in p[0..len); NULL if
 * malformed; *used gets the octets consumed; caller frees */
static char *wire_name(const unsigned char *p, size_t len, size_t *used)
{
    struct buf b = BUF_INIT;
    size_t i = 0;

    for (;;) {
        size_t l;

        if (i >= len)
            goto bad;
        l = p[i++];
        if (l == 0)
            break;
        /* > 63: a compression pointer or extended label type; libunbound
         * hands out rdata names uncompressed, so either is corruption */
        if (l > 63 || l > len - i || i + l >= 255)
            goto bad;
        if (b.len > 0)
            buf_putc(&b, '.');
        for (size_t k = 0; k < l; k++) {
            unsigned char c = p[i + k];

            if (c == '.' || c == '\\')
                buf_printf(&b, "\\%c", c);
            else if (c <= 0x20 || c >= 0x7f)
                buf_printf(&b, "\\%03u", c);
            else
                buf_putc(&b, c);
        }
        i += l;
    }
    *used = i;
    if (b.len == 0)
        buf_putc(&b, '.');
    return buf_steal(&b);
bad:
    buf_free(&b);
    return NULL;
}

/* parse_txt - join the character-strings of one TXT rdata; false if
 * a length runs past the end */
static bool parse_txt(const unsigned char *p, size_t len, struct dns_result *r, size_t i)
{
    struct buf b = BUF_INIT;
    size_t off = 0;

    while (off < len) {
        size_t l = p[off++];

        if (l > len - off) {
            buf_free(&b);
            return false;
        }
        buf_add(&b, p + off, l);
        off += l;
    }
    r->txt_len[i] = b.len;
    r->txt[i] = buf_steal(&b);
    return true;
}

/* parse_rdata - fill entry i of r from one record; false if malformed */
static bool parse_rdata(int type, const unsigned char *p, size_t len, struct dns_result *r,
                        size_t i)
{
    char text[INET6_ADDRSTRLEN];
    size_t used;

    switch (type) {
    case DNS_T_A:
    case DNS_T_AAAA:
        if (len != (type == DNS_T_A ? 4u : 16u))
            return false;
        if (inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, p, text, sizeof(text)) == NULL)
            return false;
        r->addrs[i] = xstrdup(text);
        return true;
    case DNS_T_TXT:
        return parse_txt(p, len, r, i);
    case DNS_T_MX:
        if (len < 3)
            return false;
        r->mx[i].preference = (unsigned)p[0] << 8 | p[1];
        r->mx[i].host = wire_name(p + 2, len - 2, &used);
        if (r->mx[i].host != NULL && used != len - 2)
            r->mx[i].host = xfree(r->mx[i].host);
        return r->mx[i].host != NULL;
    case DNS_T_PTR:
        r->names[i] = wire_name(p, len, &used);
        if (r->names[i] != NULL && used != len)
            r->names[i] = xfree(r->names[i]);
        return r->names[i] != NULL;
    }
    return false;
}

/* skip_name - step over a (possibly compressed) name at p[*off] */
static bool skip_name(const unsigned char *p, size_t len, size_t *off)
{
    while (*off < len) {
        unsigned l = p[*off];

        if (l == 0) {
            (*off)++;
            return true;
        }
        if ((l & 0xc0) == 0xc0) {
            if (len - *off < 2)
                return false;
            *off += 2;
            return true;
        }
        if (l > 63)
            return false;
        *off += 1 + l;
    }
    return false;
}

/*
 * txt_from_packet - the TXT records of the answer packet libunbound kept.
 * libunbound 1.17 cannot hand a zero-length rdata out through
 * ub_result.data (its result conversion fails on it) and then reports
 * SERVFAIL although the answer says NOERROR. A zero-length TXT record is
 * just an empty string to us (as parse_txt() reads it), so for TXT we read
 * the answer section ourselves. NULL if the packet is not a NOERROR answer
 * holding TXT records that we can walk.
 */
static struct dns_result *txt_from_packet(const struct ub_result *u)
{
    const unsigned char *p = u->answer_packet;
    size_t len = u->answer_len > 0 ? (size_t)u->answer_len : 0, off = 12, start, n = 0;
    struct dns_result *r = NULL;
    unsigned qd, an;

    if (p == NULL || len < 12 || (p[2] & 0x80) == 0 || (p[3] & 0x0f) != 0)
        return NULL;
    qd = (unsigned)p[4] << 8 | p[5];
    an = (unsigned)p[6] << 8 | p[7];
    for (unsigned i = 0; i < qd; i++) {
        if (!skip_name(p, len, &off) || len - off < 4)
            return NULL;
        off += 4;
    }
    start = off;
    for (int pass = 0; pass < 2; pass++) {
        off = start;
        for (unsigned i = 0; i < an; i++) {
            unsigned type, class, rdlen;

            if (!skip_name(p, len, &off) || len - off < 10)
                return dns_result_free(r);
            type = (unsigned)p[off] << 8 | p[off + 1];
            class = (unsigned)p[off + 2] << 8 | p[off + 3];
            rdlen = (unsigned)p[off + 8] << 8 | p[off + 9];
            off += 10;
            if (rdlen > len - off)
                return dns_result_free(r);
            if (type == DNS_T_TXT && class == 1) {
                if (pass == 0)
                    n++;
                else if (!parse_txt(p + off, rdlen, r, r->n++))
                    return dns_result_free(r);
            }
            off += rdlen;
        }
        if (pass == 0) {
            if (n == 0)
                return NULL;
            r = result_new(DNS_OK, 0);
            r->txt = xcalloc(n, sizeof(*r->txt));
            r->txt_len = xcalloc(n, sizeof(*r->txt_len));
        }
    }
    return r;
}

/* result_from_ub - map libunbound's answer to ours; caller frees */
static struct dns_result *result_from_ub(int type, int err, const struct ub_result *u)
{
    struct dns_result *r;
    size_t n = 0;

    if (err != 0 || u == NULL)
        return result_new(err == UB_SYNTAX ? DNS_PERMFAIL : DNS_TEMPFAIL, -1);
    if (u->rcode == 2 && type == DNS_T_TXT && !u->bogus && (r = txt_from_packet(u)) != NULL)
        return r;
    switch (u->rcode) {
    case 0:
        break;
    case 3:
        return result_new(DNS_NXDOMAIN, 3);
    case 2:
        return result_new(DNS_TEMPFAIL, 2);
    default:
        return result_new(DNS_PERMFAIL, u->rcode);
    }
    if (u->havedata && u->data != NULL)
        while (u->data[n] != NULL)
            n++;
    if (n == 0)
        return result_new(DNS_NODATA, 0);

    r = result_new(DNS_OK, 0);
    if (type == DNS_T_A || type == DNS_T_AAAA)
        r->addrs = xcalloc(n, sizeof(*r->addrs));
    else if (type == DNS_T_TXT) {
        r->txt = xcalloc(n, sizeof(*r->txt));
        r->txt_len = xcalloc(n, sizeof(*r->txt_len));
    } else if (type == DNS_T_MX)
        r->mx = xcalloc(n, sizeof(*r->mx));
    else
        r->names = xcalloc(n, sizeof(*r->names));
    r->n = n; /* entries not yet parsed are NULL, which dns_result_free skips */
    for (size_t i = 0; i < n; i++) {
        if (u->len[i] < 0 ||
            !parse_rdata(type, (const unsigned char *)u->data[i], (size_t)u->len[i], r, i)) {
            warn("dns: malformed type %d record %zu for %s", type, i, u->qname);
            dns_result_free(r);
            return result_new(DNS_PERMFAIL, 0);
        }
    }
    return r;
}

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
    free(q);
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
    r = result_from_ub(q->type, err, u);
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
        q->res = result_new(DNS_PERMFAIL, -1);
        q->done = true;
        return q;
    }

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
        q->res = result_new(rc == UB_SYNTAX ? DNS_PERMFAIL : DNS_TEMPFAIL, -1);
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
        r = result_new(DNS_TEMPFAIL, -1);
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
            q->res = result_new(DNS_TEMPFAIL, -1);
            q->done = true;
            pthread_cond_signal(&q->cond);
            attached++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    close(d->wake[0]);
    close(d->wake[1]);
    if (attached > 0) {
        /* their dns_wait() still locks d->mu: keep d (a few bytes) alive */
        warn("dns_close: %zu lookups were never waited for", attached);
        return NULL;
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
    return NULL;
}
