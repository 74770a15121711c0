/*
 * ratecap.c - the cap on opens handed to the ledger per token and per
 * (token, client network) per window, in a fixed set-associative table.
 *
 * Each key is a keyed hash (SipHash-2-4 with a random key made at start,
 * so nobody can aim tokens at one set) of the token, or of the token and
 * the client's /24 (IPv4) or /64 (IPv6). A set has RATECAP_WAYS entries
 * of (key, window start, count) under one of RATECAP_SHARDS mutexes. A
 * key's window starts at its first open and ends window_s later; then
 * its count starts again. A key not in its set takes the slot of an
 * empty or expired entry, else of the least-counted (oldest on a tie):
 * its count starts at one, never inherited, so a reader's first open is
 * never refused for someone else's. Two keys with one 64-bit hash would
 * share a count: 2^-64 per pair, and not aimable without the key.
 *
 * Memory: RATECAP_WAYS * RATECAP_SETS * 16 bytes, allocated once. Work
 * per open: two hashes of at most 40 bytes and two scans of 8 entries.
 * Must never depend on whether a token is known (no oracle) and never
 * allocate per request.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ratecap.h"
#include "util.h"

#define KEY_MAX 64 /* bytes hashed for one key: a tag, a token, an address */

struct entry {
    uint64_t key; /* 0: empty */
    uint32_t start, count;
};

struct ratecap {
    uint64_t k0, k1; /* SipHash key */
    struct entry *e; /* RATECAP_SETS * RATECAP_WAYS */
    pthread_mutex_t lock[RATECAP_SHARDS];
    _Atomic uint64_t capped;
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                  \
        v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                     \
        v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                     \
        v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                  \
    } while (0)

/* siphash - SipHash-2-4 of p[0..n) under (k0, k1) */
static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *p, size_t n)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t m, b = (uint64_t)n << 56;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        m = 0;
        for (size_t j = 0; j < 8; j++)
            m |= (uint64_t)p[i + j] << (8 * j);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; i + j < n; j++)
        b |= (uint64_t)p[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ratecap_new - the table, every entry empty */
struct ratecap *ratecap_new(void)
{
    struct ratecap *rc = xcalloc(1, sizeof(*rc));

    random_bytes(&rc->k0, sizeof(rc->k0));
    random_bytes(&rc->k1, sizeof(rc->k1));
    rc->e = xcalloc((size_t)RATECAP_SETS * RATECAP_WAYS, sizeof(*rc->e));
    for (size_t i = 0; i < RATECAP_SHARDS; i++)
        if (pthread_mutex_init(&rc->lock[i], NULL) != 0)
            bug("ratecap_new: pthread_mutex_init failed");
    return rc;
}

/* ratecap_free - the table and its locks */
struct ratecap *ratecap_free(struct ratecap *rc)
{
    if (rc == NULL)
        return NULL;
    for (size_t i = 0; i < RATECAP_SHARDS; i++)
        pthread_mutex_destroy(&rc->lock[i]);
    free(rc->e);
    return xfree(rc);
}

/* ratecap_entries - the fixed capacity */
size_t ratecap_entries(void)
{
    return (size_t)RATECAP_SETS * RATECAP_WAYS;
}

/* ratecap_capped - refusals so far */
uint64_t ratecap_capped(const struct ratecap *rc)
{
    return atomic_load_explicit(&rc->capped, memory_order_relaxed);
}

/* expired - e's window (window_s from its start) is over at now */
static bool expired(const struct entry *e, uint32_t now, unsigned window_s)
{
    return (uint32_t)(now - e->start) >= window_s;
}

/* take - count one open of key against cap; false if its window already holds cap */
static bool take(struct ratecap *rc, uint64_t key, unsigned cap, uint32_t now, unsigned window_s)
{
    size_t set = (size_t)(key >> 32) & (RATECAP_SETS - 1);
    struct entry *s = &rc->e[set * RATECAP_WAYS], *victim = NULL;
    pthread_mutex_t *lock = &rc->lock[set % RATECAP_SHARDS];
    bool ok = true;

    pthread_mutex_lock(lock);
    for (size_t w = 0; w < RATECAP_WAYS; w++)
        if (s[w].key == key) {
            victim = &s[w];
            break;
        }
    if (victim != NULL) {
        if (expired(victim, now, window_s))
            victim->start = now, victim->count = 0;
        if (victim->count >= cap)
            ok = false;
        else
            victim->count++;
        pthread_mutex_unlock(lock);
        return ok;
    }
    /* not here: an empty or expired slot, else the least counted (oldest on a tie) */
    for (size_t w = 0; w < RATECAP_WAYS; w++) {
        struct entry *e = &s[w];

        if (e->key == 0 || expired(e, now, window_s)) {
            victim = e;
            break;
        }
        if (victim == NULL || e->count < victim->count ||
            (e->count == victim->count &&
             (uint32_t)(now - e->start) > (uint32_t)(now - victim->start)))
            victim = e;
    }
    victim->key = key, victim->start = now, victim->count = 1; /* cap >= 1: the first passes */
    pthread_mutex_unlock(lock);
    return true;
}

/* key_of - the hash of tag, the token and n bytes of net; never 0 (an empty slot) */
static uint64_t key_of(const struct ratecap *rc, char tag, const char *token, size_t len,
                       const unsigned char *net, size_t n)
{
    unsigned char b[KEY_MAX];
    uint64_t h;

    if (2 + len + n > sizeof(b))
        bug("ratecap: a key of %zu bytes", 2 + len + n);
    b[0] = (unsigned char)tag;
    b[1] = (unsigned char)len;
    memcpy(b + 2, token, len);
    if (n > 0)
        memcpy(b + 2 + len, net, n);
    h = siphash(rc->k0, rc->k1, b, 2 + len + n);
    return h ? h : 1;
}

/* ratecap_allow - the (token, network) count first, so one network cannot spend the token's */
bool ratecap_allow(struct ratecap *rc, const struct ratecap_limits *lim, const char *token,
                   size_t len, const struct netaddr *client, uint64_t now)
{
    unsigned char net[9] = {0}; /* family tag, then the /24 or /64 */
    size_t n = 1;
    uint32_t t = (uint32_t)now;

    if (len > KEY_MAX - 2 - sizeof(net))
        len = KEY_MAX - 2 - sizeof(net);
    if (client != NULL && client->family == AF_INET) {
        net[0] = 4, memcpy(net + 1, client->addr, 3), n = 4;
    } else if (client != NULL) {
        net[0] = 6, memcpy(net + 1, client->addr, 8), n = 9;
    }
    if (take(rc, key_of(rc, 'n', token, len, net, n), lim->per_network, t, lim->window_s) &&
        take(rc, key_of(rc, 't', token, len, NULL, 0), lim->per_token, t, lim->window_s))
        return true;
    atomic_fetch_add_explicit(&rc->capped, 1, memory_order_relaxed);
    return false;
}

static struct ratecap *tracker_cap;
static pthread_once_t tracker_cap_once = PTHREAD_ONCE_INIT;

/* cap_init - make the tracker's table (once) */
static void cap_init(void)
{
    tracker_cap = ratecap_new();
}

/* tracker_cap_open - the open under c's limits, in the process-wide table */
bool tracker_cap_open(const struct config *c, const char *token, size_t len,
                      const struct netaddr *client)
{
    struct ratecap_limits lim = {.per_network = c->tracker_opens_per_network,
                                 .per_token = c->tracker_opens_per_token,
                                 .window_s = c->tracker_opens_window_s};
    struct timespec ts;

    pthread_once(&tracker_cap_once, cap_init);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ratecap_allow(tracker_cap, &lim, token, len, client, (uint64_t)ts.tv_sec);
}

/* tracker_cap_render - the refusals counter */
void tracker_cap_render(struct buf *out)
{
    pthread_once(&tracker_cap_once, cap_init);
    buf_puts(out, "# HELP postmeter_tracker_opens_capped_total Opens not recorded because their "
                  "token (or token and client network) reached tracker_opens_per_token "
                  "(tracker_opens_per_network) in tracker_opens_window_s.\n"
                  "# TYPE postmeter_tracker_opens_capped_total counter\n");
    buf_printf(out, "postmeter_tracker_opens_capped_total %llu\n",
               (unsigned long long)ratecap_capped(tracker_cap));
}
