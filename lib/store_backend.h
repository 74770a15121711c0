/*
 * store_backend.h - what a database backend provides to store.c
 * (internal to lib/: nothing above store.h includes this).
 *
 * A backend embeds struct store as the first member of its own handle
 * and fills in ops. store.c owns the dispatch by dsn and the error text;
 * a backend owns all of its SQL and must never let a statement reach
 * store.c or its callers.
 */
#ifndef POSTMETER_STORE_BACKEND_H
#define POSTMETER_STORE_BACKEND_H

#include "store.h"
#include "store_story.h"
#include "store_summary.h"

#define STORE_ERR_LEN 512

struct store_ops {
    const char *name; /* "sqlite", later "postgresql" */
    void (*close)(struct store *s);
    int (*version)(struct store *s);
    enum store_status (*set_cache)(struct store *s, unsigned mb);
    enum store_status (*migrate)(struct store *s, const struct store_migration *m, size_t n);
    enum store_status (*check)(struct store *s, const struct store_migration *m, size_t n,
                               struct buf *out);
    enum store_status (*put_messages)(struct store *s, struct ledger_msg *const *msgs, size_t n);
    enum store_status (*report_messages)(struct store *s, const struct store_msg_filter *f,
                                         int (*fn)(const struct ledger_msg *m, void *arg),
                                         void *arg);
    enum store_status (*report_auth)(struct store *s, const struct store_auth_filter *f,
                                     int (*fn)(const struct store_auth_row *r, void *arg),
                                     void *arg);
    enum store_status (*ledger_summary)(struct store *s, int64_t since, int64_t *rows,
                                        int64_t *newest);
    /* DKIM keys: names already lower case and checked by store.c */
    enum store_status (*put_dkim_key)(struct store *s, const struct store_dkim_key *k);
    enum store_status (*list_dkim_keys)(struct store *s, const char *domain,
                                        int (*fn)(const struct store_dkim_key *k, void *arg),
                                        void *arg);
    enum store_status (*set_dkim_key_state)(struct store *s, const char *domain,
                                            const char *selector, enum store_dkim_state state,
                                            int64_t now);
    enum store_status (*remove_dkim_key)(struct store *s, const char *domain, const char *selector,
                                         bool even_active);
    /* tracking: patterns already normalized by store.c */
    enum store_status (*put_track_rule)(struct store *s, const struct store_track_rule *r,
                                        int64_t *id);
    enum store_status (*list_track_rules)(struct store *s,
                                          int (*fn)(const struct store_track_rule *r, void *arg),
                                          void *arg);
    enum store_status (*set_track_rule_enabled)(struct store *s, int64_t id, bool enabled);
    enum store_status (*remove_track_rule)(struct store *s, int64_t id);
    enum store_status (*put_tracked)(struct store *s, const struct store_tracked *t);
    enum store_status (*forget_tracked)(struct store *s, const char *token);
    enum store_status (*token_key)(struct store *s, unsigned char key[32]);
    /* retention: cut and limit already checked by store_prune.c */
    enum store_status (*prune_count)(struct store *s, int64_t cut, struct store_prune_counts *c);
    enum store_status (*prune_batch)(struct store *s, int64_t cut, unsigned limit,
                                     struct store_prune_counts *c, bool *more);
    /* report summary and report opens (store_summary.c makes groups and rates) */
    enum store_status (*summary)(struct store *s, const struct store_summary_filter *f,
                                 struct store_summary *out,
                                 int (*fn)(const struct store_opens_item *it, void *arg),
                                 void *arg);
    enum store_status (*opens_walk)(struct store *s, const struct store_opens_filter *f,
                                    int (*fn)(const struct store_opens_item *it, void *arg),
                                    void *arg);
    /* report open and report message (store_story.h) */
    enum store_status (*story_tracked)(struct store *s, enum store_story_by by, const char *value,
                                       int (*fn)(const struct store_story_tracked *t, void *arg),
                                       void *arg);
};

/* The part of every backend handle that store.c knows. */
struct store {
    const struct store_ops *ops;
    char err[STORE_ERR_LEN]; /* last error, one line */
    size_t added;            /* records the last put_messages stored (not already there) */
    size_t discarded;        /* opens the last put_messages did not store: unknown token */
};

/* store_set_error - set the last error of s (printf-style; a long line is cut) */
void store_set_error(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* store_check_numbering - m[i].version == i + 1 for all i; else sets the error */
bool store_check_numbering(struct store *s, const struct store_migration *m, size_t n);

/*
 * store_sqlite_open - open an SQLite database file (see store_open()).
 * Returns NULL with a reason in err[errlen].
 */
struct store *store_sqlite_open(const char *path, int flags, char *err, size_t errlen);

#endif
