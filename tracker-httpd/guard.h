/*
 * guard.h - postmeter-tracker's own watch over its connections (guard.c):
 * how many each client network holds (an IPv4 address, an IPv6 /64) and
 * the deadline by which each connection's current request must have been
 * read and answered. A connection past its deadline is shut down, however
 * slowly it keeps sending: libmicrohttpd's own timeout only counts
 * silence.
 *
 * Nothing here knows HTTP; serve.c feeds it from libmicrohttpd's accept
 * policy and connection notifications. Every table is bounded by the
 * connections open at once (tracker_max_connections).
 */
#ifndef POSTMETER_GUARD_H
#define POSTMETER_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "netaddr.h"

struct guard;      /* opaque: the tables and their lock */
struct guard_conn; /* opaque: one connection's entry */

/* guard_new - tables for about max_conn connections, per_key of them per network */
struct guard *guard_new(unsigned max_conn, unsigned per_key, unsigned timeout_s);
/* guard_free - stop the sweeper (if started) and free everything; returns NULL */
struct guard *guard_free(struct guard *g);

/* guard_admit - true if peer's network (NULL: not an IP) holds fewer than per_key */
bool guard_admit(struct guard *g, const struct netaddr *peer);
/*
 * guard_open - count a new connection on descriptor fd from peer (NULL:
 * not an IP), its first request due timeout_s after now (monotonic ns).
 * *over is set if its network now holds more than per_key (accepts
 * racing past guard_admit): the caller shuts it down. The entry is the
 * caller's until guard_close.
 */
struct guard_conn *guard_open(struct guard *g, int fd, const struct netaddr *peer, uint64_t now,
                              bool *over);
/* guard_close - uncount and forget c (before its descriptor is closed); NULL is a no-op */
void guard_close(struct guard *g, struct guard_conn *c);
/* guard_rearm - an answer went out at now: the next request is due timeout_s later */
void guard_rearm(struct guard *g, struct guard_conn *c, uint64_t now);
/* guard_count - how many connections peer's network holds */
unsigned guard_count(struct guard *g, const struct netaddr *peer);

/* guard_cut_fn - what guard_sweep does to a descriptor past its deadline */
typedef void guard_cut_fn(void *ctx, int fd);
/* guard_sweep - cut (once) every connection whose deadline is <= now; how many were cut */
unsigned guard_sweep(struct guard *g, uint64_t now, guard_cut_fn *cut, void *ctx);

/* guard_start - a thread sweeping once a second with shutdown(fd, SHUT_RDWR); dies */
void guard_start(struct guard *g);
/* guard_now - the monotonic clock in ns, as the deadlines count */
uint64_t guard_now(void);

#endif
