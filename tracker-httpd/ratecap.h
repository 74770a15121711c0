/*
 * ratecap.h - how many opens of one token the tracker hands to the
 * ledger per time window: per (token, client network) and per token, in
 * a fixed-size table (bounded memory whatever the clients send).
 *
 * One valid token must not be able to fill the database: any recipient
 * has one. The cap applies to every well-formed token, known or not, and
 * a capped request gets the very same answer, so it tells nobody which
 * tokens exist. Excess opens are counted (postmeter_tracker_opens_capped_total),
 * never stored.
 */
#ifndef POSTMETER_RATECAP_H
#define POSTMETER_RATECAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "netaddr.h"

/*
 * Table size: a build-time constant, not a key. 8 ways x 16384 sets of
 * 16 bytes is 2 MiB, whatever the load (the tracker's RSS budget is 20
 * MiB); both kinds of entry share it. A full table never blocks anyone:
 * a new key takes the slot of an expired or the least-counted entry of
 * its set, and starts at zero (eviction resets a count, never inherits
 * one), so the worst a flood of distinct tokens can do is weaken the cap
 * for a key it evicted - it cannot keep a reader's first open out.
 */
#define RATECAP_WAYS   8
#define RATECAP_SETS   16384 /* power of two */
#define RATECAP_SHARDS 256   /* mutexes; a set's lock is set % RATECAP_SHARDS */

struct ratecap;

struct ratecap_limits {
    unsigned per_network; /* opens per (token, client /24 or /64) per window */
    unsigned per_token;   /* opens per token per window, from all networks */
    unsigned window_s;    /* the window in seconds, starting at a key's first open */
};

/* ratecap_new - an empty table (its hash key is random) */
struct ratecap *ratecap_new(void);
/* ratecap_free - free it; returns NULL */
struct ratecap *ratecap_free(struct ratecap *rc);
/*
 * ratecap_allow - true if an open of token[0..len) from client (NULL: no
 * address) at now (seconds of a monotonic clock) is under both limits;
 * then it is counted. False (counted as capped) otherwise. Thread-safe.
 */
bool ratecap_allow(struct ratecap *rc, const struct ratecap_limits *lim, const char *token,
                   size_t len, const struct netaddr *client, uint64_t now);
/* ratecap_capped - opens refused by rc so far */
uint64_t ratecap_capped(const struct ratecap *rc);
/* ratecap_entries - the table's capacity in entries (fixed) */
size_t ratecap_entries(void);

/*
 * tracker_cap_open - the tracker's process-wide table: may this open be
 * recorded under c's tracker_opens_* limits? (client may be NULL)
 */
bool tracker_cap_open(const struct config *c, const char *token, size_t len,
                      const struct netaddr *client);
/* tracker_cap_render - postmeter_tracker_opens_capped_total in Prometheus text */
void tracker_cap_render(struct buf *out);

#endif
