/*
 * dns_cache.c - answers kept for their TTL in front of libunbound.
 * See dns_cache.h.
 */
#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "dns_cache.h"
#include "log.h"
#include "util.h"

#define BUCKETS 1024 /* a power of two */

struct entry {
    struct entry *next;
    int type;
    int64_t expires;
    struct dns_result *r;
    char name[]; /* lower case, no trailing dot */
};

struct dns_cache {
    pthread_mutex_t mu;
    struct entry *bucket[BUCKETS];
    unsigned n;
};

struct dns_cache *dns_cache_new(void)
{
    struct dns_cache *c = xcalloc(1, sizeof(*c));

    if (pthread_mutex_init(&c->mu, NULL) != 0)
        die("dns cache: pthread_mutex_init failed");
    return c;
}

static void entry_free(struct entry *e)
{
    dns_result_free(e->r);
    free(e);
}

/* sweep - drop every entry, or only those expired at now (mu held) */
static void sweep(struct dns_cache *c, bool all, int64_t now)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        struct entry **pp = &c->bucket[i];

        while (*pp) {
            struct entry *e = *pp;

            if (all || e->expires <= now) {
                *pp = e->next;
                entry_free(e);
                c->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

struct dns_cache *dns_cache_free(struct dns_cache *c)
{
    if (c == NULL)
        return NULL;
    sweep(c, true, 0);
    pthread_mutex_destroy(&c->mu);
    return xfree(c);
}

/* normalize - name in lower case without a trailing dot into out; false if too long */
static bool normalize(const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n >= outlen)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[n] = '\0';
    return true;
}

/* hash - FNV-1a of the normalized name and the type */
static size_t hash(const char *name, int type)
{
    uint32_t h = 2166136261u ^ (uint32_t)type;

    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h & (BUCKETS - 1);
}

/* dns_result_copy - a deep copy */
struct dns_result *dns_result_copy(const struct dns_result *r)
{
    struct dns_result *c = xcalloc(1, sizeof(*c));

    c->status = r->status;
    c->rcode = r->rcode;
    c->n = r->n;
    if (r->addrs) {
        c->addrs = xcalloc(r->n, sizeof(*c->addrs));
        for (size_t i = 0; i < r->n; i++)
            c->addrs[i] = r->addrs[i] ? xstrdup(r->addrs[i]) : NULL;
    }
    if (r->txt) {
        c->txt = xcalloc(r->n, sizeof(*c->txt));
        c->txt_len = xcalloc(r->n, sizeof(*c->txt_len));
        for (size_t i = 0; i < r->n; i++) {
            size_t len = r->txt_len ? r->txt_len[i] : (r->txt[i] ? strlen(r->txt[i]) : 0);

            c->txt_len[i] = len;
            if (r->txt[i]) {
                c->txt[i] = xmalloc(len + 1);
                memcpy(c->txt[i], r->txt[i], len);
                c->txt[i][len] = '\0';
            }
        }
    }
    if (r->mx) {
        c->mx = xcalloc(r->n, sizeof(*c->mx));
        for (size_t i = 0; i < r->n; i++) {
            c->mx[i].preference = r->mx[i].preference;
            c->mx[i].host = r->mx[i].host ? xstrdup(r->mx[i].host) : NULL;
        }
    }
    if (r->names) {
        c->names = xcalloc(r->n, sizeof(*c->names));
        for (size_t i = 0; i < r->n; i++)
            c->names[i] = r->names[i] ? xstrdup(r->names[i]) : NULL;
    }
    return c;
}

struct dns_result *dns_cache_get(struct dns_cache *c, const char *name, int type, int64_t now)
{
    char key[256];
    struct dns_result *r = NULL;

    if (!normalize(name, key, sizeof(key)))
        return NULL;
    pthread_mutex_lock(&c->mu);
    for (struct entry *e = c->bucket[hash(key, type)]; e; e = e->next)
        if (e->type == type && e->expires > now && strcmp(e->name, key) == 0) {
            r = dns_result_copy(e->r);
            break;
        }
    pthread_mutex_unlock(&c->mu);
    return r;
}

void dns_cache_put(struct dns_cache *c, const char *name, int type, const struct dns_result *r,
                   uint32_t ttl, int64_t now)
{
    char key[256];
    struct entry *e, **pp;
    size_t h;

    if (r->status == DNS_OK)
        ttl = ttl < DNS_CACHE_MAX_TTL ? ttl : DNS_CACHE_MAX_TTL;
    else if (r->status == DNS_NODATA || r->status == DNS_NXDOMAIN)
        ttl = ttl < DNS_CACHE_NEG_TTL ? ttl : DNS_CACHE_NEG_TTL;
    else
        return; /* a failure is asked again next time */
    if (ttl == 0 || !normalize(name, key, sizeof(key)))
        return;
    h = hash(key, type);
    e = xmalloc(sizeof(*e) + strlen(key) + 1);
    e->type = type;
    e->expires = now + ttl;
    e->r = dns_result_copy(r);
    strcpy(e->name, key);
    pthread_mutex_lock(&c->mu);
    /* a newer answer replaces the one kept */
    for (pp = &c->bucket[h]; *pp; pp = &(*pp)->next)
        if ((*pp)->type == type && strcmp((*pp)->name, key) == 0) {
            struct entry *old = *pp;

            *pp = old->next;
            entry_free(old);
            c->n--;
            break;
        }
    if (c->n >= DNS_CACHE_MAX)
        sweep(c, false, now);
    if (c->n >= DNS_CACHE_MAX)
        sweep(c, true, now);
    e->next = c->bucket[h];
    c->bucket[h] = e;
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

unsigned dns_cache_size(struct dns_cache *c)
{
    unsigned n;

    pthread_mutex_lock(&c->mu);
    n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
