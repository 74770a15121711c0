/*
 * daemon_db.c - the database at a ledger-writing daemon's start (see
 * daemon_db.h): give, migrate, ledger options.
 */
#include <stdlib.h>

#include "daemon_db.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* daemon_db_give - database, side files and spools to u, or die */
void daemon_db_give(const char *database, const char *const *spools, const struct daemon_user *u)
{
    char err[512];

    for (size_t i = 0; i == 0 || store_side_suffixes[i - 1] != NULL; i++) {
        char *p = xasprintf("%s%s", database, i ? store_side_suffixes[i - 1] : "");

        if (!daemon_give(p, u, err, sizeof(err)))
            die("database: %s: not touched; remove it, then start again", err);
        free(p);
    }
    for (size_t i = 0; spools[i] != NULL; i++)
        if (!daemon_give(spools[i], u, err, sizeof(err)))
            die("spool: %s: not touched; remove it, then start again", err);
}

/* daemon_db_migrate - create if need be (mode 0640) and migrate, as the caller */
void daemon_db_migrate(const char *database)
{
    char err[512];
    struct store *s = store_open(database, 0, err, sizeof(err));

    if (s == NULL) {
        warn("database %s: %s (rows will wait in memory and the spool)", database, err);
        return;
    }
    if (store_migrate(s, store_migrations, store_migrations_count) != STORE_OK)
        warn("database %s: %s", database, store_error(s));
    store_close(s);
}

/* daemon_db_ledger_opts - ledger options from the configuration */
void daemon_db_ledger_opts(const struct config *c, const char *spool, struct ledger_opts *o)
{
    ledger_opts_default(o);
    o->database = c->database;
    o->spool_path = spool;
    o->queue_max = c->ledger_queue_max;
    o->queue_max_bytes = (size_t)c->ledger_queue_mb << 20;
    o->batch_max = c->ledger_batch_max;
    o->flush_ms = c->ledger_flush_ms;
    o->spool_max_bytes = (uint64_t)c->ledger_spool_max_mb << 20;
    o->cache_mb = c->ledger_cache_mb;
    o->sync = c->ledger_sync;
    /* With ledger_sync the wait shares one fsync per group commit; a journal
       append per answer would each need its own. */
    o->journal = c->ledger_journal && !c->ledger_sync;
}
