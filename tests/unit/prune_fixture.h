/*
 * prune_fixture.h - what the retention tests share (test_store_prune.c,
 * test_ledger_prune.c, test_store_prune_busy.c): a table of rows of known
 * ages around a cut, put into a store through its ordinary calls, with
 * what a prune at the cut must remove, and checks that exactly that went.
 */
#ifndef POSTMETER_TEST_PRUNE_FIXTURE_H
#define POSTMETER_TEST_PRUNE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * One row of the table. 'm': a ledger message with rcpts recipients and
 * auth results, tracked (milter mode: a tracked_messages row with the
 * same time and recipients) if tracked; 't': a tracked message of
 * postmeter-pixelfilter (pipe mode) with rcpts recipients; 'o': an open
 * of the token of row parent. at is the time relative to the cut.
 */
struct prune_row {
    char kind;
    int parent; /* 'o': the row of the tracked message opened */
    int64_t at;
    unsigned rcpts, auth;
    bool tracked; /* 'm': it has a tracked_messages row */
    bool gone;    /* a prune at the cut removes it (the message, tracked message or open) */
    bool tgone;   /* 'm' tracked: a prune at the cut removes its tracked_messages row */
};

extern const struct prune_row prune_rows[];
extern const size_t prune_nrows;

/* prune_token - the tracking token of row i (static buffer) */
const char *prune_token(size_t i);
/* prune_fill - a migrated database at path holding prune_rows around cut; open store */
struct store *prune_fill(const char *path, int64_t cut);
/*
 * prune_expect - from the table: the rows a prune at the cut removes
 * (*gone) and all of them (*all), per table
 */
void prune_expect(struct store_prune_counts *gone, struct store_prune_counts *all);
/* prune_rows_now - the rows of each table in the database at path now */
void prune_rows_now(const char *path, struct store_prune_counts *now);
/* prune_parents - messages + tracked messages + opens in c */
int64_t prune_parents(const struct store_prune_counts *c);
/*
 * prune_check_done - the database at path holds exactly the rows of the
 * table a prune at the cut keeps (row by row), nothing that belongs to a
 * removed row, and passes the foreign key check
 */
void prune_check_done(const char *path);
/* prune_check_untouched - the database at path holds every row of the table */
void prune_check_untouched(const char *path);
/* prune_counts_equal - fail (naming what) unless a and b agree for every table */
void prune_counts_equal(const struct store_prune_counts *a, const struct store_prune_counts *b,
                        const char *what);

#endif
