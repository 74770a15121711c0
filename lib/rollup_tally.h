/*
 * rollup_tally.h - counts by a key of up to four strings, for merging
 * what the ledger's counters and its rows say about the same groups
 * (report summary's failing domains, report auth): a hash table that
 * owns copies of its keys. Knows no SQL and no backend.
 */
#ifndef POSTMETER_ROLLUP_TALLY_H
#define POSTMETER_ROLLUP_TALLY_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_KEYS   4
#define TALLY_VALUES 9

struct tally_entry {
    char *k[TALLY_KEYS]; /* "" for a key not given */
    int64_t v[TALLY_VALUES];
};

struct tally {
    struct tally_entry *e; /* in the order first seen */
    size_t n, cap;
    size_t *slot; /* open addressing: index + 1 into e, 0 = empty */
    size_t nslot;
};

/*
 * tally_at - the entry of key (k[0..nk), NULL as ""), added with zero
 * values if new; valid until the next tally_at
 */
struct tally_entry *tally_at(struct tally *t, const char *const *k, size_t nk);
/* tally_free - free t's entries and keys (t itself is the caller's) */
void tally_free(struct tally *t);

#endif
