/*
 * serve.c - the tracker's HTTP servers: one libmicrohttpd daemon per
 * listening socket, each with its own epoll threads (a pool the size of
 * the CPUs), and the one request handler they share.
 *
 * The answers are made once at start and shared: the GIF (with the
 * headers below), 404 and 405. Every path under the prefix gets the very
 * same GIF answer whether its token is well-formed, known or not, so the
 * endpoint tells nobody which tokens exist; only a well-formed token
 * whose tag is the token key's (track.h; any well-formed token while the
 * key is not read, tokenkey.c) makes an open, handed to the ledger
 * writer's queue (ledger_put: never waits for the database). A forged
 * token is counted (outcome bad_token) and never logged. A request never waits on anything but the
 * settings' read lock, held for microseconds.
 *
 * Bounds: tracker_max_connections shared equally by the listening
 * sockets (libmicrohttpd's), tracker_max_per_ip per network over all of
 * them (an IPv4 address, an IPv6 /64: guard.c, through the accept policy
 * and the connection notifications), tracker_timeout_s for each request
 * from the connection's start or the previous answer to its answer, however
 * slowly it trickles in (guard.c's sweeper shuts a late one down; libmicrohttpd's
 * own timeout, the same value, only counts silence), a GET or HEAD that
 * announces a body refused with 400 unread, TRACKER_HEADERS_KB of memory per
 * connection (a request header that does not fit is refused with 431, a
 * request line with 414), and libmicrohttpd itself answers a malformed
 * header 400, an HTTP/1.1 request without Host 400 (strict mode), another
 * major HTTP version 505, and closes on a request line it cannot parse.
 */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "log.h"
#include "ratecap.h"
#include "timeutil.h"
#include "track.h"
#include "tracker.h"
#include "util.h"

#define XFF_HEADERS_MAX 8 /* X-Forwarded-For fields looked at (the last ones) */

/* The 43-byte transparent 1x1 GIF89a: one palette entry, transparent, one pixel. */
static const unsigned char gif[43] = {
    'G',  'I',  'F',  '8',  '9',  'a',  0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

static const char not_found_body[] = "not found\n";
static const char method_body[] = "method not allowed\n";
static const char bad_body[] = "bad request\n";

struct serve {
    struct MHD_Daemon **d;
    size_t n;
    struct ledger *ledger;
    pthread_rwlock_t lock;     /* readers: requests; writer: serve_replace */
    struct tracker_conf *conf; /* under lock */
    struct MHD_Response *gif, *not_found, *method, *bad;
    struct guard *guard; /* per-network counts, per-request deadlines */
};

/* now_ns - the monotonic clock */
static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* header - add a header to a response being made at start, or die */
static void header(struct MHD_Response *r, const char *name, const char *value)
{
    if (MHD_add_response_header(r, name, value) != MHD_YES)
        die("libmicrohttpd: cannot add the header %s", name);
}

/* static_response - a shared answer over static bytes, never cached by anyone */
static struct MHD_Response *static_response(const void *body, size_t len, const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);

    if (r == NULL)
        die("libmicrohttpd: cannot make a response");
    header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
           "no-store, no-cache, must-revalidate, private, max-age=0");
    header(r, MHD_HTTP_HEADER_PRAGMA, "no-cache");
    header(r, MHD_HTTP_HEADER_EXPIRES, "0");
    return r;
}

/* lookup - a request header's value (classify's callback) */
static const char *lookup(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

struct xff {
    const char *v[XFF_HEADERS_MAX];
    size_t n;
};

/* collect_xff - keep the last XFF_HEADERS_MAX X-Forwarded-For fields, in order */
static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct xff *x = cls;

    (void)kind;
    if (value == NULL || strcasecmp(key, "X-Forwarded-For") != 0)
        return MHD_YES;
    if (x->n == XFF_HEADERS_MAX) {
        memmove(x->v, x->v + 1, (XFF_HEADERS_MAX - 1) * sizeof(x->v[0]));
        x->n--;
    }
    x->v[x->n++] = value;
    return MHD_YES;
}

/* client_of - the client's address (after trusted_proxies); false if the peer is no IP */
static bool client_of(struct MHD_Connection *conn, const struct tracker_conf *tc,
                      struct netaddr *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct netaddr peer;
    struct xff x = {.n = 0};

    if (ci == NULL || !netaddr_from_sockaddr(ci->client_addr, &peer))
        return false;
    if (tc->proxies.n > 0 && netlist_match(&tc->proxies, &peer))
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_xff, &x);
    *out = tracker_client(&peer, &tc->proxies, x.v, x.n);
    return true;
}

/* record - classify the request and hand its open to the ledger writer */
static void record(struct serve *s, const struct tracker_conf *tc, struct MHD_Connection *conn,
                   const char *method, const char *token, const struct netaddr *client)
{
    struct ledger_msg *m = ledger_msg_new_open();
    const char *agent = lookup(conn, MHD_HTTP_HEADER_USER_AGENT);
    struct classify_request req = {
        .method = method, .agent = agent, .client = client, .header = lookup, .header_ctx = conn};
    struct classify_result res;
    char ip[NETADDR_STRLEN + 4];
    struct buf reason = BUF_INIT;
    int64_t ms = time_now_us() / 1000;

    classify(tc->nets, &req, &res);
    classify_reason(&res, &reason);
    m->open_token = xstrndup(token, TRACK_TOKEN_LEN);
    ledger_msg_set(&m->open_ip,
                   client ? tracker_ip_keep(client, tc->cfg->open_ip_storage, ip) : NULL);
    if (agent != NULL) { /* stored clean: no escape sequence, valid UTF-8 for every reader */
        struct buf clean = BUF_INIT;

        buf_put_clean(&clean, agent, tracker_agent_cut(agent));
        m->open_agent = buf_steal(&clean);
    }
    ledger_msg_set(&m->open_method, method);
    ledger_msg_set(&m->open_class, classify_class_name(res.cls));
    m->open_reason = buf_steal(&reason);
    ledger_msg_set(&m->host, config_effective_hostname(tc->cfg));
    m->received_at = ms / 1000;
    m->open_ms = ms;
    /* the open_min_seconds rule needs the message's accept time: the writer applies it */
    m->open_min_ms = (int64_t)tc->cfg->open_min_seconds * 1000;
    ledger_put(s->ledger, m);
    metrics_open(res.cls);
}

/* dynamic - a response made for one request (takes body), queued and released */
static enum MHD_Result dynamic(struct MHD_Connection *conn, unsigned status, const char *type,
                               struct buf *body)
{
    size_t len = body->len;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, buf_steal(body), MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* has_body - the request announces a body (Transfer-Encoding, or a Content-Length but 0) */
static bool has_body(struct MHD_Connection *conn)
{
    const char *len = lookup(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (lookup(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
        return true;
    return len != NULL && (len[0] == '\0' || len[strspn(len, "0")] != '\0');
}

/* handle - every request: route, record, answer */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct serve *s = cls;
    uint64_t t0 = now_ns();
    enum tracker_method mk = strcmp(method, "GET") == 0    ? METHOD_GET
                             : strcmp(method, "HEAD") == 0 ? METHOD_HEAD
                                                           : METHOD_OTHER;
    enum tracker_outcome outcome;
    const struct tracker_conf *tc;
    const char *token;
    enum tracker_token verdict;
    struct netaddr client;
    bool have_client;
    struct MHD_Response *r = NULL;
    const char *type = "text/plain";
    unsigned status = MHD_HTTP_OK;
    enum MHD_Result ret;
    struct buf body = BUF_INIT;

    (void)version, (void)upload_data;
    /*
     * libmicrohttpd calls once the header is in, then once per piece of a
     * body, then once more. An answer queued at the first call ends the
     * connection (no keep-alive); so a GET or HEAD is answered at the last
     * call. Neither should carry a body: one that announces one is refused
     * with 400 at the first call, its body never read (an endless chunked
     * body must not hold the connection).
     */
    if (mk != METHOD_OTHER && *req_cls == NULL) {
        *req_cls = s;
        if (!has_body(conn))
            return MHD_YES;
        ret = MHD_queue_response(conn, MHD_HTTP_BAD_REQUEST, s->bad);
        metrics_request(mk, OUTCOME_BAD, now_ns() - t0);
        return ret;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (mk == METHOD_OTHER) {
        ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, s->method);
        metrics_request(mk, OUTCOME_METHOD, now_ns() - t0);
        return ret;
    }
    pthread_rwlock_rdlock(&s->lock);
    tc = s->conf;
    have_client = client_of(conn, tc, &client);
    switch (tracker_route(tc->prefix, url, &token)) {
    case ROUTE_PIXEL:
        r = s->gif;
        verdict = tracker_token_verdict(tracker_key(), token, TRACK_TOKEN_LEN);
        if (verdict == TOKEN_FORGED) {
            outcome = OUTCOME_FORGED; /* never the cap's business: it counts real tokens */
            break;
        }
        outcome = verdict == TOKEN_VALID ? OUTCOME_OPEN : OUTCOME_UNVERIFIED;
        if (tracker_cap_open(tc->cfg, token, TRACK_TOKEN_LEN, have_client ? &client : NULL))
            record(s, tc, conn, method, token, have_client ? &client : NULL);
        break;
    case ROUTE_BLANK:
        r = s->gif, outcome = OUTCOME_BLANK;
        break;
    case ROUTE_NOT_FOUND:
        r = s->not_found, status = MHD_HTTP_NOT_FOUND, outcome = OUTCOME_NOT_FOUND;
        break;
    case ROUTE_HEALTHZ:
    case ROUTE_METRICS:
        if (!have_client || !netlist_match(&tc->metrics_allow, &client)) {
            /* what any other path there gets: the GIF under an empty prefix, else 404 */
            bool under = tc->prefix[0] == '\0';

            r = under ? s->gif : s->not_found;
            status = under ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
            outcome = OUTCOME_DENIED;
        } else if (strcmp(url, "/healthz") == 0) {
            if (metrics_health(s->ledger, tc->cfg, &body))
                buf_puts(&body, "ok\n");
            else
                status = MHD_HTTP_SERVICE_UNAVAILABLE;
            outcome = OUTCOME_HEALTHZ;
        } else {
            metrics_render(s->ledger, &body);
            type = "text/plain; version=0.0.4"; /* the Prometheus text format */
            outcome = OUTCOME_METRICS;
        }
        break;
    default:
        bug("tracker: unknown route");
    }
    pthread_rwlock_unlock(&s->lock);
    ret = r != NULL ? MHD_queue_response(conn, status, r) : dynamic(conn, status, type, &body);
    buf_free(&body);
    metrics_request(mk, outcome, now_ns() - t0);
    return ret;
}

/* mhd_log - libmicrohttpd's complaints (bad requests, limits hit) at debug level */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf_cut(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    debug("http: %s", line);
}

/* accept_ok - libmicrohttpd's accept policy: the peer's network is below tracker_max_per_ip */
static enum MHD_Result accept_ok(void *cls, const struct sockaddr *addr, socklen_t len)
{
    struct serve *s = cls;
    struct netaddr peer;

    (void)len;
    return guard_admit(s->guard, netaddr_from_sockaddr(addr, &peer) ? &peer : NULL) ? MHD_YES
                                                                                    : MHD_NO;
}

/*
 * on_connection - a connection starts (counted, its first request due
 * within tracker_timeout_s) or closes (forgotten, before libmicrohttpd
 * closes its socket). One that got past accept_ok over its network's
 * limit (accepts racing) is shut down at once.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct serve *s = cls;
    const union MHD_ConnectionInfo *fd, *ci;
    struct netaddr peer;
    bool over;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        guard_close(s->guard, *socket_ctx);
        *socket_ctx = NULL;
        return;
    }
    if ((fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL)
        bug("tracker: a connection without a socket");
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *socket_ctx =
        guard_open(s->guard, fd->connect_fd,
                   ci != NULL && netaddr_from_sockaddr(ci->client_addr, &peer) ? &peer : NULL,
                   now_ns(), &over);
    if (over)
        shutdown(fd->connect_fd, SHUT_RDWR);
}

/* on_completed - an answer went out (or a request ended): the next is due tracker_timeout_s on */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct serve *s = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    (void)req_cls, (void)toe;
    if (ci != NULL)
        guard_rearm(s->guard, ci->socket_context, now_ns());
}

/* pool_size - worker threads per server: one per CPU, at most 8 */
static unsigned pool_size(unsigned limit)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = cpus < 1 ? 1 : cpus > 8 ? 8 : (unsigned)cpus;

    return n > limit ? limit : n; /* each worker must be allowed a connection */
}

/* serve_start - one daemon per socket */
struct serve *serve_start(const int *fds, size_t n, struct tracker_conf *conf, struct ledger *l)
{
    struct serve *s = xcalloc(1, sizeof(*s));
    const struct config *c = conf->cfg;
    unsigned per = (c->tracker_max_connections + (unsigned)n - 1) / (unsigned)n;
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    /* a reload must not wait behind a stream of requests */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    if ((errno = pthread_rwlock_init(&s->lock, &attr)) != 0)
        die("pthread_rwlock_init: %s", strerror(errno));
    pthread_rwlockattr_destroy(&attr);
    s->conf = conf;
    s->ledger = l;
    s->gif = static_response(gif, sizeof(gif), "image/gif");
    s->not_found = static_response(not_found_body, sizeof(not_found_body) - 1, "text/plain");
    s->method = static_response(method_body, sizeof(method_body) - 1, "text/plain");
    header(s->method, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    s->bad = static_response(bad_body, sizeof(bad_body) - 1, "text/plain");
    header(s->bad, MHD_HTTP_HEADER_CONNECTION, "close");
    s->guard = guard_new(c->tracker_max_connections, c->tracker_max_per_ip, c->tracker_timeout_s);
    s->d = xcalloc(n, sizeof(*s->d));
    for (size_t i = 0; i < n; i++) {
        s->d[i] = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
            accept_ok, s, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_LISTEN_SOCKET, fds[i], MHD_OPTION_CONNECTION_LIMIT, per,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, c->tracker_timeout_s,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)TRACKER_HEADERS_KB * 1024,
            MHD_OPTION_THREAD_POOL_SIZE, pool_size(per), MHD_OPTION_STRICT_FOR_CLIENT, 1,
            MHD_OPTION_END);
        if (s->d[i] == NULL)
            die("tracker_listen = %s: libmicrohttpd did not start", c->tracker_listen[i]);
        s->n++;
    }
    guard_start(s->guard);
    return s;
}

/* serve_replace - swap the settings in; the old ones are no longer read when this returns */
struct tracker_conf *serve_replace(struct serve *s, struct tracker_conf *conf)
{
    struct tracker_conf *old;

    pthread_rwlock_wrlock(&s->lock);
    old = s->conf;
    s->conf = conf;
    pthread_rwlock_unlock(&s->lock);
    return old;
}

/* serve_quiesce - every request reads the token key inside the settings' read lock: wait it out */
void serve_quiesce(struct serve *s)
{
    pthread_rwlock_wrlock(&s->lock);
    pthread_rwlock_unlock(&s->lock);
}

/* serve_stop - every socket stops accepting, then each server stops */
struct serve *serve_stop(struct serve *s)
{
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        MHD_socket fd = MHD_quiesce_daemon(s->d[i]);

        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    for (size_t i = 0; i < s->n; i++)
        MHD_stop_daemon(s->d[i]);
    MHD_destroy_response(s->gif);
    MHD_destroy_response(s->not_found);
    MHD_destroy_response(s->method);
    MHD_destroy_response(s->bad);
    s->guard = guard_free(s->guard); /* every connection was closed by now */
    pthread_rwlock_destroy(&s->lock);
    free(s->d);
    return xfree(s);
}
