/*
 * guard.c - the tracker's connection guard: per-network counts and
 * per-request deadlines (see guard.h).
 *
 * A network is an IPv4 address or an IPv6 /64 (one subscriber usually
 * holds a whole /64, so counting its single addresses would limit
 * nothing). Counts live in a chained hash table keyed by the network,
 * seeded at random, its buckets sized for tracker_max_connections; an
 * entry exists only while its count is above zero. Connections are a
 * doubly linked list the sweeper walks once a second: O(connections).
 *
 * Locking: one mutex over both tables. An entry is removed (guard_close,
 * from libmicrohttpd's CLOSED notification, before it closes the socket)
 * under the same mutex the sweeper holds while it shuts descriptors
 * down, so the sweeper never touches a descriptor already reused by
 * another connection. A deadline is an atomic the connection's own
 * thread moves forward without the lock.
 *
 * This file must never close a descriptor: that is libmicrohttpd's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "guard.h"
#include "log.h"
#include "util.h"

#define GUARD_KEY_LEN     9 /* family byte, then 4 (IPv4) or 8 (IPv6 /64) address bytes */
#define GUARD_SWEEP_NS    1000000000u
#define GUARD_BUCKETS_MIN 64u

struct guard_key {
    struct guard_key *next; /* in its bucket */
    unsigned char k[GUARD_KEY_LEN];
    unsigned n; /* connections of this network */
};

struct guard_conn {
    struct guard_conn *prev, *next; /* every open connection */
    struct guard_key *key;          /* NULL: the peer is no IP */
    int fd;
    bool cut;                  /* shut down by the sweeper already */
    _Atomic uint64_t deadline; /* monotonic ns */
};

struct guard {
    pthread_mutex_t lock;
    unsigned per_key;
    uint64_t timeout_ns;
    uint64_t seed;
    struct guard_key **bucket;
    size_t nbucket;         /* a power of two */
    struct guard_conn head; /* sentinel of the connection list */
    pthread_t sweeper;
    bool running, stopping;
    pthread_cond_t wake; /* guard_free wakes the sweeper */
};

/* guard_now - CLOCK_MONOTONIC in ns */
uint64_t guard_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* key_of - the network a is counted in: IPv4 address or IPv6 /64 */
static void key_of(const struct netaddr *a, unsigned char k[GUARD_KEY_LEN])
{
    memset(k, 0, GUARD_KEY_LEN);
    if (a->family == AF_INET) {
        k[0] = 4;
        memcpy(k + 1, a->addr, 4);
    } else {
        k[0] = 6;
        memcpy(k + 1, a->addr, 8);
    }
}

/* bucket_of - the bucket of key k (FNV-1a over the seed and the key) */
static size_t bucket_of(const struct guard *g, const unsigned char k[GUARD_KEY_LEN])
{
    uint64_t h = 14695981039346656037u ^ g->seed;

    for (size_t i = 0; i < GUARD_KEY_LEN; i++)
        h = (h ^ k[i]) * 1099511628211u;
    return (size_t)(h ^ (h >> 29)) & (g->nbucket - 1);
}

/* find - k's entry, or NULL; with the lock held */
static struct guard_key *find(const struct guard *g, const unsigned char k[GUARD_KEY_LEN])
{
    struct guard_key *e = g->bucket[bucket_of(g, k)];

    while (e != NULL && memcmp(e->k, k, GUARD_KEY_LEN) != 0)
        e = e->next;
    return e;
}

/* guard_new - empty tables */
struct guard *guard_new(unsigned max_conn, unsigned per_key, unsigned timeout_s)
{
    struct guard *g = xcalloc(1, sizeof(*g));
    pthread_condattr_t a;

    g->per_key = per_key;
    g->timeout_ns = (uint64_t)timeout_s * 1000000000u;
    g->nbucket = GUARD_BUCKETS_MIN;
    while (g->nbucket < max_conn)
        g->nbucket *= 2;
    g->bucket = xcalloc(g->nbucket, sizeof(*g->bucket));
    if (getrandom(&g->seed, sizeof(g->seed), 0) != (ssize_t)sizeof(g->seed))
        g->seed = guard_now(); /* only spreads the buckets; no secret depends on it */
    g->head.prev = g->head.next = &g->head;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* the sweeper's waits */
    if ((errno = pthread_mutex_init(&g->lock, NULL)) != 0 ||
        (errno = pthread_cond_init(&g->wake, &a)) != 0)
        die("guard: %s", strerror(errno));
    pthread_condattr_destroy(&a);
    return g;
}

/* guard_free - stop the sweeper, free what is left */
struct guard *guard_free(struct guard *g)
{
    if (g == NULL)
        return NULL;
    if (g->running) {
        pthread_mutex_lock(&g->lock);
        g->stopping = true;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->sweeper, NULL);
    }
    while (g->head.next != &g->head)
        guard_close(g, g->head.next);
    for (size_t i = 0; i < g->nbucket; i++)
        if (g->bucket[i] != NULL)
            bug("guard_free: a network still counted");
    free(g->bucket);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    return xfree(g);
}

/* guard_admit - below the limit for its network */
bool guard_admit(struct guard *g, const struct netaddr *peer)
{
    unsigned char k[GUARD_KEY_LEN];
    struct guard_key *e;
    bool ok;

    if (peer == NULL)
        return true;
    key_of(peer, k);
    pthread_mutex_lock(&g->lock);
    e = find(g, k);
    ok = e == NULL || e->n < g->per_key;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

/* guard_open - count and list a new connection */
struct guard_conn *guard_open(struct guard *g, int fd, const struct netaddr *peer, uint64_t now,
                              bool *over)
{
    struct guard_conn *c = xcalloc(1, sizeof(*c));
    unsigned char k[GUARD_KEY_LEN];

    c->fd = fd;
    c->deadline = now + g->timeout_ns;
    *over = false;
    pthread_mutex_lock(&g->lock);
    if (peer != NULL) {
        key_of(peer, k);
        if ((c->key = find(g, k)) == NULL) {
            size_t b = bucket_of(g, k);

            c->key = xcalloc(1, sizeof(*c->key));
            memcpy(c->key->k, k, GUARD_KEY_LEN);
            c->key->next = g->bucket[b];
            g->bucket[b] = c->key;
        }
        *over = ++c->key->n > g->per_key;
    }
    c->prev = g->head.prev;
    c->next = &g->head;
    c->prev->next = c;
    g->head.prev = c;
    pthread_mutex_unlock(&g->lock);
    return c;
}

/* guard_close - unlist c, uncount it, free its network's entry at zero */
void guard_close(struct guard *g, struct guard_conn *c)
{
    struct guard_key *e, **pp;

    if (c == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    if ((e = c->key) != NULL && --e->n == 0) {
        for (pp = &g->bucket[bucket_of(g, e->k)]; *pp != e; pp = &(*pp)->next)
            if (*pp == NULL)
                bug("guard_close: a network not in its bucket");
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&g->lock);
    free(c);
}

/* guard_rearm - move c's deadline to timeout_s after now */
void guard_rearm(struct guard *g, struct guard_conn *c, uint64_t now)
{
    if (c != NULL)
        c->deadline = now + g->timeout_ns;
}

/* guard_count - the count of peer's network */
unsigned guard_count(struct guard *g, const struct netaddr *peer)
{
    unsigned char k[GUARD_KEY_LEN];
    struct guard_key *e;
    unsigned n;

    key_of(peer, k);
    pthread_mutex_lock(&g->lock);
    e = find(g, k);
    n = e != NULL ? e->n : 0;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* guard_sweep - cut the connections past their deadline, each once */
unsigned guard_sweep(struct guard *g, uint64_t now, guard_cut_fn *cut, void *ctx)
{
    unsigned n = 0;

    pthread_mutex_lock(&g->lock);
    for (struct guard_conn *c = g->head.next; c != &g->head; c = c->next)
        if (!c->cut && c->deadline <= now) {
            c->cut = true;
            cut(ctx, c->fd);
            n++;
        }
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* shut - end a connection: libmicrohttpd sees end of file and closes it */
static void shut(void *ctx, int fd)
{
    (void)ctx;
    if (shutdown(fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
        warn("tracker: shutdown of a late connection: %s", strerror(errno));
}

/* sweeper - guard_sweep once a second until guard_free */
static void *sweeper(void *arg)
{
    struct guard *g = arg;
    struct timespec ts;
    unsigned n;

    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += GUARD_SWEEP_NS / 1000000000u;
        pthread_mutex_lock(&g->lock);
        while (!g->stopping && pthread_cond_timedwait(&g->wake, &g->lock, &ts) != ETIMEDOUT)
            ;
        if (g->stopping) {
            pthread_mutex_unlock(&g->lock);
            return NULL;
        }
        pthread_mutex_unlock(&g->lock);
        if ((n = guard_sweep(g, guard_now(), shut, NULL)) > 0)
            debug("tracker: %u connection(s) past tracker_timeout_s shut down", n);
    }
}

/* guard_start - the sweeper thread */
void guard_start(struct guard *g)
{
    if ((errno = pthread_create(&g->sweeper, NULL, sweeper, g)) != 0)
        die("guard: pthread_create: %s", strerror(errno));
    g->running = true;
}
