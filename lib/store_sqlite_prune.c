/*
 * store_sqlite_prune.c - the SQLite backend's retention (store.h,
 * "Retention"): count, or remove in one short transaction per batch, the
 * rows older than a cut.
 *
 * A batch deletes the rows that belong to a parent (recipients,
 * authentication results) with their own statements before the parents,
 * so every row removed is counted (sqlite3_changes() does not count what
 * a foreign key's ON DELETE CASCADE takes), and the cascades then find
 * nothing. Each group's parents are chosen by one subquery, used by
 * every statement of the group within the transaction, so the children
 * removed are exactly those of the parents removed. Every statement
 * walks an index in time order from its oldest row (the rows before it
 * are gone), so a batch costs its own rows, never a scan of the table.
 * The ledger's counters (schema/008_rollup.sql) lose a batch's messages
 * in the same transaction, before the rows go. Every value is a bound
 * parameter; this file must never paste data into SQL text.
 */
#include <sqlite3.h>

#include "store_sqlite_rollup.h"

/* The opens a batch removes: the oldest, by the opened_at index. */
#define OLD_OPENS                                                                                  \
    "SELECT id FROM pixel_opens WHERE opened_at < :cut ORDER BY opened_at, id LIMIT :limit"
/*
 * The tracked messages a batch removes: old ones without an open left (the
 * opens before the cut went first; one at or after it keeps its message).
 */
#define OLD_TRACKED                                                                                \
    "SELECT id FROM tracked_messages AS t WHERE created_at < :cut"                                 \
    " AND NOT EXISTS (SELECT 1 FROM pixel_opens AS o WHERE o.tracked_id = t.id)"                   \
    " ORDER BY created_at, id LIMIT :limit"
/* The ledger messages a batch removes: the oldest, by the received_at index. */
#define OLD_MESSAGES                                                                               \
    "SELECT id FROM messages WHERE received_at < :cut ORDER BY received_at, id LIMIT :limit"

/* One statement of a batch: the rows it removes are counted in table. */
struct prune_step {
    enum store_prune_table table;
    bool parent; /* its rows count against the batch's limit */
    const char *sql;
};

/* In order: a group's children before its parents; opens before tracked messages. */
static const struct prune_step batch_steps[] = {
    {STORE_PRUNE_OPENS, true, "DELETE FROM pixel_opens WHERE id IN (" OLD_OPENS ")"},
    {STORE_PRUNE_TRACKED_RCPTS, false,
     "DELETE FROM tracked_recipients WHERE tracked_id IN (" OLD_TRACKED ")"},
    {STORE_PRUNE_TRACKED, true, "DELETE FROM tracked_messages WHERE id IN (" OLD_TRACKED ")"},
    {STORE_PRUNE_RCPTS, false,
     "DELETE FROM message_recipients WHERE message_id IN (" OLD_MESSAGES ")"},
    {STORE_PRUNE_AUTH, false, "DELETE FROM message_auth WHERE message_id IN (" OLD_MESSAGES ")"},
    {STORE_PRUNE_MESSAGES, true, "DELETE FROM messages WHERE id IN (" OLD_MESSAGES ")"},
};

/*
 * What a whole prune would remove now. A tracked message is counted if no
 * open at or after the cut keeps it: the batches remove the older opens
 * first, so these are the ones they remove.
 */
#define KEPT_TRACKED                                                                               \
    "SELECT id FROM tracked_messages AS t WHERE created_at < :cut"                                 \
    " AND NOT EXISTS (SELECT 1 FROM pixel_opens AS o WHERE o.tracked_id = t.id"                    \
    " AND o.opened_at >= :cut)"

static const struct prune_step count_steps[] = {
    {STORE_PRUNE_MESSAGES, true, "SELECT count(*) FROM messages WHERE received_at < :cut"},
    {STORE_PRUNE_RCPTS, false,
     "SELECT count(*) FROM message_recipients WHERE message_id IN"
     " (SELECT id FROM messages WHERE received_at < :cut)"},
    {STORE_PRUNE_AUTH, false,
     "SELECT count(*) FROM message_auth WHERE message_id IN"
     " (SELECT id FROM messages WHERE received_at < :cut)"},
    {STORE_PRUNE_TRACKED, true, "SELECT count(*) FROM (" KEPT_TRACKED ")"},
    {STORE_PRUNE_TRACKED_RCPTS, false,
     "SELECT count(*) FROM tracked_recipients WHERE tracked_id IN (" KEPT_TRACKED ")"},
    {STORE_PRUNE_OPENS, true, "SELECT count(*) FROM pixel_opens WHERE opened_at < :cut"},
};

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NSTEPS(count_steps) == STORE_PRUNE_TABLES, "one count per table");

/*
 * run_step - prepare and run step's statement with :cut and :limit
 * bound: a count's result, or the rows a delete removed, into *n; SQLite
 * result code
 */
static int run_step(struct sqlite_store *ss, const struct prune_step *step, int64_t cut,
                    unsigned limit, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ss->db, step->sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":cut", cut);
    if (rc == SQLITE_OK)
        rc = sqlite_bind_named_int(st, ":limit", limit);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *n = sqlite3_changes64(ss->db);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* sqlite_prune_count - every table's rows older than cut, in one read transaction */
enum store_status sqlite_prune_count(struct store *s, int64_t cut, struct store_prune_counts *c)
{
    struct sqlite_store *ss = sqlite_of(s);
    enum store_status st;
    int rc = sqlite_exec(ss->db, "BEGIN");

    for (size_t i = 0; i < NSTEPS(count_steps) && rc == SQLITE_OK; i++)
        rc = run_step(ss, &count_steps[i], cut, 0, &c->n[count_steps[i].table]);
    if (rc == SQLITE_OK)
        rc = sqlite_exec(ss->db, "COMMIT");
    if (rc == SQLITE_OK)
        return STORE_OK;
    *c = (struct store_prune_counts){{0}};
    st = sqlite_fail(ss, rc, "count old rows");
    sqlite_rollback(ss);
    return st;
}

/* sqlite_prune_batch - up to limit parents older than cut, with their children, in one transaction
 */
enum store_status sqlite_prune_batch(struct store *s, int64_t cut, unsigned limit,
                                     struct store_prune_counts *c, bool *more)
{
    struct sqlite_store *ss = sqlite_of(s);
    struct store_prune_counts got = {{0}};
    unsigned left = limit;
    enum store_status st;
    int rc = sqlite_exec(ss->db, "BEGIN IMMEDIATE");

    for (size_t i = 0; i < NSTEPS(batch_steps) && rc == SQLITE_OK && left > 0; i++) {
        const struct prune_step *step = &batch_steps[i];
        int64_t n = 0;

        /* the counters lose the messages before their rows go (store_sqlite_rollup.c) */
        if (step->table == STORE_PRUNE_RCPTS)
            rc = sqlite_rollup_forget(ss, OLD_MESSAGES, cut, left);
        else if (step->table == STORE_PRUNE_OPENS)
            rc = sqlite_rollup_forget_opens(ss, OLD_OPENS, cut, left);
        if (rc == SQLITE_OK)
            rc = run_step(ss, step, cut, left, &n);
        got.n[step->table] += n;
        if (rc == SQLITE_OK && step->parent)
            left -= n < (int64_t)left ? (unsigned)n : left;
    }
    if (rc == SQLITE_OK)
        rc = sqlite_exec(ss->db, "COMMIT");
    if (rc == SQLITE_OK) {
        for (size_t t = 0; t < STORE_PRUNE_TABLES; t++)
            c->n[t] += got.n[t];
        *more = left == 0;
        return STORE_OK;
    }
    st = sqlite_fail(ss, rc, "delete old rows");
    sqlite_rollback(ss);
    return st;
}
