/*
 * dns_cache.h - answers kept in the process for their TTL, in front of
 * libunbound (internal to lib/: dns.c uses it).
 *
 * libunbound caches too, but reaching its cache costs a round trip
 * through its resolver thread and our event thread (pipes, futexes,
 * context switches): several per message, since every inbound message
 * asks the same few names (SPF, DKIM key, DMARC) again. A hit here is a
 * mutex, a hash lookup and a copy.
 *
 * Only definite answers are kept: DNS_OK, DNS_NODATA and DNS_NXDOMAIN,
 * for the TTL libunbound reported (at most DNS_CACHE_MAX_TTL seconds,
 * negative ones at most DNS_CACHE_NEG_TTL); never a timeout or failure,
 * never with a TTL of 0. At most DNS_CACHE_MAX entries: when full, the
 * expired ones go, and if none has expired the whole cache is emptied.
 * Names compare without case and without a trailing dot. Times are
 * seconds of CLOCK_MONOTONIC, passed in (tests choose them).
 */
#ifndef POSTMETER_DNS_CACHE_H
#define POSTMETER_DNS_CACHE_H

#include <stdint.h>

#include "dns.h"

#define DNS_CACHE_MAX     4096
#define DNS_CACHE_MAX_TTL 300
#define DNS_CACHE_NEG_TTL 60

struct dns_cache;

/* dns_cache_new - an empty cache */
struct dns_cache *dns_cache_new(void);
/* dns_cache_free - free it and every entry; returns NULL */
struct dns_cache *dns_cache_free(struct dns_cache *c);
/* dns_cache_get - a copy of the answer for (name, type) still fresh at now, or NULL */
struct dns_result *dns_cache_get(struct dns_cache *c, const char *name, int type, int64_t now);
/* dns_cache_put - keep a copy of r for ttl seconds from now, if it is worth keeping */
void dns_cache_put(struct dns_cache *c, const char *name, int type, const struct dns_result *r,
                   uint32_t ttl, int64_t now);
/* dns_cache_size - entries held (expired ones included until swept) */
unsigned dns_cache_size(struct dns_cache *c);
/* dns_result_copy - a deep copy of r; caller frees */
struct dns_result *dns_result_copy(const struct dns_result *r);

#endif
