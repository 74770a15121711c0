/*
 * tracker.h - postmeter-tracker's parts: the settings a reload may
 * replace (conf.c), what a request is made of (request.c: route, token,
 * client address, stored address), the token key (tokenkey.c), the
 * counters (metrics.c), the listening sockets (listen.c) and the HTTP
 * servers (serve.c).
 *
 * The tracker never reaches milter/, auth/ or pixelfilter/ code, and a
 * request never waits for the database: an open is handed to the ledger
 * writer's queue (ledger_put) and the answer goes out at once.
 */
#ifndef POSTMETER_TRACKER_H
#define TRACKER_QUEUE_BYTES   (1u << 20) /* the tracker's ledger queue at most (ledger_queue_mb) */
#define TRACKER_MALLOC_ARENAS 2          /* glibc malloc arenas (M_ARENA_MAX): RSS, not speed */
#define TRACKER_CACHE_MB      2          /* its writer's page cache at most (ledger_cache_mb) */
#define POSTMETER_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "classify.h"
#include "config.h"
#include "ledger.h"
#include "netaddr.h"
#include "track.h"

#define TRACKER_AGENT_MAX  512 /* bytes of a User-Agent kept in an open */
#define TRACKER_XFF_MAX    64  /* X-Forwarded-For addresses looked at, right to left */
#define TRACKER_HEADERS_KB 8   /* memory of one connection: the request header must fit */

/* What SIGHUP replaces as a whole; read-only while in use. */
struct tracker_conf {
    struct config *cfg;           /* owned */
    char *prefix;                 /* path of tracking_base_url without a trailing '/': "/px", "" */
    struct netlist proxies;       /* trusted_proxies */
    struct netlist metrics_allow; /* tracker_metrics_allow */
    struct classify_nets *nets;   /* the machine networks */
};

/*
 * tracker_conf_new - the tracker's view of c (takes ownership of c):
 * the prefix, the networks of its lists, the machine-networks files.
 * NULL with one line per problem in errors (c is freed then).
 */
struct tracker_conf *tracker_conf_new(struct config *c, struct buf *errors);
/* tracker_conf_free - free it and its config; returns NULL */
struct tracker_conf *tracker_conf_free(struct tracker_conf *tc);
/* tracker_conf_print - the tracker's effective values, one "name: value" a line */
void tracker_conf_print(const struct tracker_conf *tc, FILE *out);
/* tracker_base_prefix - the path of url without trailing '/' (caller frees); NULL + why */
char *tracker_base_prefix(const char *url, struct buf *why);

/* What a path asks for. */
enum tracker_route {
    ROUTE_PIXEL,     /* <prefix>/o/<well-formed token>.gif */
    ROUTE_BLANK,     /* anything else under the prefix: the same GIF, nothing recorded */
    ROUTE_HEALTHZ,   /* /healthz */
    ROUTE_METRICS,   /* /metrics */
    ROUTE_NOT_FOUND, /* outside the prefix */
};

/* tracker_token_ok - s[0..n) has the shape of a token track_token_new() makes */
bool tracker_token_ok(const char *s, size_t n);

/* What the tracker makes of a well-formed token. */
enum tracker_token {
    TOKEN_VALID,      /* its tag is the key's: queued (the writer still looks it up) */
    TOKEN_FORGED,     /* its tag is not: the same answer, counted, nothing queued */
    TOKEN_UNVERIFIED, /* no key yet: queued, the writer discards it if unknown */
};
/* tracker_token_verdict - what to do with well-formed token[0..n) under key (NULL: none yet) */
enum tracker_token tracker_token_verdict(const struct track_key *key, const char *token, size_t n);

/* tracker_key - the token key, NULL while it is not read (any thread) */
const struct track_key *tracker_key(void);
/*
 * tracker_key_try - read the token key from database unless it is read
 * or the last failed attempt is less than a few seconds old (main
 * thread; the first failure is logged); true once it is read. Once read,
 * it is read again when another file is at the path and every half
 * minute: a different key (the database made anew) is published and the
 * one it replaced is *replaced (else NULL), for tracker_key_retire() once
 * no request can hold it (serve_quiesce()).
 */
bool tracker_key_try(const char *database, struct track_key **replaced);
/* tracker_key_retire - free a key tracker_key_try() replaced (NULL: nothing); returns NULL */
struct track_key *tracker_key_retire(struct track_key *k);
/* tracker_key_free - forget the key (at exit, with no request thread left) */
void tracker_key_free(void);
/* tracker_route - what url asks for; a pixel's token is *token (TRACK_TOKEN_LEN bytes in url) */
enum tracker_route tracker_route(const char *prefix, const char *url, const char **token);
/*
 * tracker_client - the client's address: peer, unless peer is a trusted
 * proxy; then the rightmost X-Forwarded-For address (xff[0..n), in the
 * order the headers came) that is not one, the leftmost if all are, the
 * last trusted hop if an entry does not parse. At most TRACKER_XFF_MAX
 * entries are looked at.
 */
struct netaddr tracker_client(const struct netaddr *peer, const struct netlist *proxies,
                              const char *const *xff, size_t n);
/* tracker_ip_keep - a as open_ip_storage keeps it into out; NULL for none */
const char *tracker_ip_keep(const struct netaddr *a, int storage, char out[NETADDR_STRLEN + 4]);
/* tracker_agent_cut - the length of agent to keep: at most TRACKER_AGENT_MAX, whole UTF-8 */
size_t tracker_agent_cut(const char *agent);

/* Request methods and outcomes, as /metrics counts them. */
enum tracker_method { METHOD_GET, METHOD_HEAD, METHOD_OTHER, METHOD_N };
enum tracker_outcome {
    OUTCOME_OPEN,      /* a pixel with a valid token: an open was recorded (unless capped) */
    OUTCOME_BLANK,     /* the GIF, nothing recorded (malformed token, other path) */
    OUTCOME_NOT_FOUND, /* outside the prefix */
    OUTCOME_HEALTHZ,
    OUTCOME_METRICS,
    OUTCOME_DENIED,     /* /metrics or /healthz from outside tracker_metrics_allow */
    OUTCOME_METHOD,     /* not GET or HEAD: 405 */
    OUTCOME_BAD,        /* a GET or HEAD with a body: 400, the body never read */
    OUTCOME_FORGED,     /* a well-formed token whose tag is wrong: the GIF, nothing recorded */
    OUTCOME_UNVERIFIED, /* a well-formed token while the key is not read: recorded (unless
                           capped), checked when written */
    OUTCOME_N
};

/* metrics_request - count a request and how long its answer took to make */
void metrics_request(enum tracker_method m, enum tracker_outcome o, uint64_t ns);
/* metrics_open - count an open of class c */
void metrics_open(enum open_class c);
/* metrics_render - the Prometheus text of every counter and of l's stats */
void metrics_render(struct ledger *l, struct buf *out);
/* metrics_health - true if the writer keeps up; else the reason (one line) in why */
bool metrics_health(struct ledger *l, const struct config *c, struct buf *why);

/* listen_open - one bound, listening, non-blocking socket per tracker_listen entry; dies */
int *listen_open(char *const *listen, size_t *n);

struct serve;
/*
 * serve_start - an HTTP server (libmicrohttpd, its own threads) on each
 * of fds[0..n), answering from *conf (read under serve_conf_*) and
 * handing opens to l. Dies if one cannot start.
 */
struct serve *serve_start(const int *fds, size_t n, struct tracker_conf *conf, struct ledger *l);
/* serve_replace - make conf current (takes it); returns the previous one, no longer in use */
struct tracker_conf *serve_replace(struct serve *s, struct tracker_conf *conf);
/* serve_quiesce - return once no request that began before the call is still being handled */
void serve_quiesce(struct serve *s);
/* serve_stop - stop accepting, close every connection, stop the threads; returns NULL */
struct serve *serve_stop(struct serve *s);

#endif
