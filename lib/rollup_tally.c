/*
 * rollup_tally.c - counts by a key of up to four strings (rollup_tally.h):
 * an open-addressing hash table (FNV-1a over the keys) kept at most half
 * full, so a lookup is a few probes; memory linear in the groups.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rollup_tally.h"
#include "util.h"

/* hash - FNV-1a over the keys, each followed by a 0 byte */
static uint64_t hash(const char *const *k, size_t nk)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < TALLY_KEYS; i++) {
        const char *s = i < nk && k[i] ? k[i] : "";

        for (; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        h = (h ^ 0) * 1099511628211ULL;
    }
    return h;
}

/* same - whether entry e has key k */
static bool same(const struct tally_entry *e, const char *const *k, size_t nk)
{
    for (size_t i = 0; i < TALLY_KEYS; i++)
        if (strcmp(e->k[i], i < nk && k[i] ? k[i] : "") != 0)
            return false;
    return true;
}

/* grow - twice the slots, every entry placed again */
static void grow(struct tally *t)
{
    size_t ns = t->nslot ? 2 * t->nslot : 64;

    free(t->slot);
    t->slot = xcalloc(ns, sizeof(*t->slot));
    t->nslot = ns;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = hash((const char *const *)t->e[i].k, TALLY_KEYS) & (ns - 1);

        while (t->slot[j])
            j = (j + 1) & (ns - 1);
        t->slot[j] = i + 1;
    }
}

/* tally_at - the entry of key k, added if new */
struct tally_entry *tally_at(struct tally *t, const char *const *k, size_t nk)
{
    size_t j;
    struct tally_entry *e;

    if (2 * (t->n + 1) > t->nslot)
        grow(t);
    j = hash(k, nk) & (t->nslot - 1);
    while (t->slot[j]) {
        if (same(&t->e[t->slot[j] - 1], k, nk))
            return &t->e[t->slot[j] - 1];
        j = (j + 1) & (t->nslot - 1);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->e = xrealloc(t->e, t->cap * sizeof(*t->e));
    }
    e = memset(&t->e[t->n], 0, sizeof(*e));
    for (size_t i = 0; i < TALLY_KEYS; i++)
        e->k[i] = xstrdup(i < nk && k[i] ? k[i] : "");
    t->slot[j] = ++t->n;
    return e;
}

/* tally_free - free t's entries and keys */
void tally_free(struct tally *t)
{
    for (size_t i = 0; i < t->n; i++)
        for (size_t k = 0; k < TALLY_KEYS; k++)
            free(t->e[i].k[k]);
    free(t->e);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}
