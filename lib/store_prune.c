/*
 * store_prune.c - the front door of retention (store.h): checks a prune's
 * arguments and forwards it to the backend (store_sqlite_prune.c).
 *
 * Holds no SQL and must never grow any, like store.c.
 */
#include "log.h"
#include "store_backend.h"

static const char *const prune_table_names[STORE_PRUNE_TABLES] = {
    [STORE_PRUNE_MESSAGES] = "messages",
    [STORE_PRUNE_RCPTS] = "message_recipients",
    [STORE_PRUNE_AUTH] = "message_auth",
    [STORE_PRUNE_TRACKED] = "tracked_messages",
    [STORE_PRUNE_TRACKED_RCPTS] = "tracked_recipients",
    [STORE_PRUNE_OPENS] = "pixel_opens",
};

/* store_prune_table_name - the table's name */
const char *store_prune_table_name(enum store_prune_table t)
{
    if ((unsigned)t >= STORE_PRUNE_TABLES)
        bug("store_prune_table_name: table %d", (int)t);
    return prune_table_names[t];
}

/* store_prune_count - what a prune at cut would remove (a dry run) */
enum store_status store_prune_count(struct store *s, int64_t cut, struct store_prune_counts *c)
{
    *c = (struct store_prune_counts){{0}};
    if (cut <= 0) {
        store_set_error(s, "prune: cut %lld is not a time", (long long)cut);
        return STORE_ERROR;
    }
    return s->ops->prune_count(s, cut, c);
}

/* store_prune_batch - one batch of a prune at cut */
enum store_status store_prune_batch(struct store *s, int64_t cut, unsigned limit,
                                    struct store_prune_counts *c, bool *more)
{
    *more = false;
    if (cut <= 0 || limit == 0) {
        store_set_error(s, "prune: cut %lld, batch of %u rows", (long long)cut, limit);
        return STORE_ERROR;
    }
    return s->ops->prune_batch(s, cut, limit, c, more);
}
