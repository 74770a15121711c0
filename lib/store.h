/*
 * store.h - the database behind the ledger, reports, DKIM keys and
 * (later) rules and opens, spoken in operations, never in SQL.
 *
 * One backend today: SQLite (WAL mode, busy timeout, migrations from
 * schema/NNN_name.sql embedded at build time, tracked in PRAGMA
 * user_version). A PostgreSQL backend will sit behind the same calls,
 * chosen by the database string ("postgresql://..." vs a path); each
 * backend keeps all of its SQL in its own file. Every statement is
 * prepared with bound parameters.
 *
 * A struct store is used by one thread at a time.
 */
#ifndef POSTMETER_STORE_H
#define POSTMETER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ledger_msg.h"

/* Result of an operation. */
enum store_status {
    STORE_OK = 0,
    STORE_RETRY = 1, /* transient: locked, busy, read-only, disk full, I/O,
                        cannot open; the same call may succeed later */
    STORE_ERROR = 2  /* the data or the schema is wrong; retrying won't help */
};

struct store_migration {
    int version;      /* 1, 2, 3, ... = PRAGMA user_version after it */
    const char *name; /* from the file name, e.g. "initial" */
    const char *sql;  /* the script, run inside one transaction */
};

/*
 * The suffixes of the files the database keeps beside its path ("-wal",
 * "-shm", "-journal"), NULL at the end: whoever hands the database over
 * (or checks it) handles these as well.
 */
extern const char *const store_side_suffixes[];

/* The migrations embedded from schema/ (generated at build time). */
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

#define STORE_READONLY 0x01 /* open for reading (reports, check) */
#define STORE_NOCREATE 0x02 /* fail instead of creating a missing database */
#define STORE_SYNC     0x04 /* fsync every commit (SQLite: synchronous=FULL) */

struct store;

/*
 * store_open - open the database named by dsn (a file path for SQLite).
 * Returns NULL and writes a one-line reason into err[errlen] on failure.
 * Does not migrate.
 */
struct store *store_open(const char *dsn, int flags, char *err, size_t errlen);
/* store_close - close and free; returns NULL */
struct store *store_close(struct store *s);
/* store_error - the last error of s as one line (never NULL) */
const char *store_error(const struct store *s);

/*
 * store_set_cache - let this connection cache up to mb MiB of database
 * pages (the ledger's writer: a group commit touches a page of every
 * index per record, so the cache decides how many are read back)
 */
enum store_status store_set_cache(struct store *s, unsigned mb);

/* store_version - schema version of the open database (0 = empty), -1 on error */
int store_version(struct store *s);
/*
 * store_migrate - apply migrations m[0..n) newer than the database's
 * version, each in its own transaction, in order. A database newer than
 * the newest migration is an error (an older binary must not write it).
 */
enum store_status store_migrate(struct store *s, const struct store_migration *m, size_t n);
/*
 * store_check - integrity_check and schema version against m[0..n); a
 * human-readable report is appended to out. STORE_OK only if all is well.
 */
enum store_status store_check(struct store *s, const struct store_migration *m, size_t n,
                              struct buf *out);

/*
 * store_put_messages - write msgs[0..n) (with their recipients) in ONE
 * transaction. Records whose uid is already stored are skipped, so a
 * replay after a crash never duplicates. All or nothing. Each record is
 * written by its kind: a message to the ledger's tables, an open
 * (LEDGER_OPEN) to pixel_opens, and only if its token is in
 * tracked_messages; an open of an unknown token is discarded, counted in
 * store_discarded().
 */
enum store_status store_put_messages(struct store *s, struct ledger_msg *const *msgs, size_t n);
/* store_added - how many records the last successful store_put_messages() stored that were not
 * there already (a replayed copy of a stored record is not) */
size_t store_added(const struct store *s);
/* store_discarded - how many opens the last successful store_put_messages() discarded because
 * their token is not in tracked_messages (a discarded open is not in store_added()) */
size_t store_discarded(const struct store *s);

/*
 * Filter for store_report_messages(); zero/NULL fields do not filter.
 * Text compares without regard to (ASCII) case.
 */
struct store_msg_filter {
    int64_t since;                  /* received_at >= since (0 = no bound) */
    int64_t until;                  /* received_at < until (0 = no bound) */
    const char *sender;             /* equals mail_from or header_from */
    const char *sender_domain;      /* mail_from or header_from is an address @ exactly it */
    const char *recipient;          /* one of the recipients */
    const char *from_domain;        /* header_from's domain is it or a subdomain of it */
    const char *direction;          /* "inbound" or "outbound" */
    const char *action;             /* accept, reject, ... */
    const char *spf, *dkim, *dmarc; /* a result row of that method has this result */
    const char *queue_id;           /* equals queue_id (exact) */
    const char *message_id;         /* equals message_id, with or without its <> */
    const char *subject;            /* the subject contains it */
    size_t limit;                   /* 0 = all; else only the newest limit messages */
};

/*
 * store_report_messages - call fn once per matching message, oldest
 * first (with a limit: the newest limit of them, still oldest first),
 * with a record that is only valid during the call. A non-zero return
 * from fn stops the walk (not an error).
 */
enum store_status store_report_messages(struct store *s, const struct store_msg_filter *f,
                                        int (*fn)(const struct ledger_msg *m, void *arg),
                                        void *arg);

/* Filter for store_report_auth(); zero/NULL fields do not filter. */
struct store_auth_filter {
    int64_t since;      /* received_at >= since */
    int64_t until;      /* received_at < until */
    const char *domain; /* header.from domain, or a subdomain of it (case-insensitive) */
};

#define STORE_AUTH_TOP 5 /* reasons and selectors kept per domain */

/* A failing result (fail, softfail, temperror, permerror, policy) and its reason. */
struct store_auth_reason {
    const char *method, *result; /* "dkim", "fail" */
    const char *reason;          /* "" when the result had none */
    int64_t count;               /* results (rows) of the domain's messages */
};

/* A DKIM selector seen on the domain's mail: signing domain (d=), selector (s=). */
struct store_auth_selector {
    const char *domain, *selector;
    int64_t count; /* signatures */
};

/*
 * One header.from domain's inbound mail. Counts are messages: dkim_pass
 * has at least one passing signature, dkim_fail has signatures and none
 * passing; spf_fail counts fail and softfail.
 */
struct store_auth_row {
    const char *domain; /* lower case; "" when the message had no usable From */
    int64_t messages;
    int64_t spf_pass, spf_fail;
    int64_t dkim_pass, dkim_fail;
    int64_t dmarc_pass, dmarc_fail;
    int64_t rejected, quarantined;
    /* the most frequent failure reasons, most first (at most STORE_AUTH_TOP) */
    const struct store_auth_reason *reasons;
    size_t nreasons;
    /* the DKIM selectors seen, most used first (at most STORE_AUTH_TOP) */
    const struct store_auth_selector *selectors;
    size_t nselectors;
};

/*
 * store_report_auth - call fn once per header.from domain of inbound
 * mail, busiest first, with a row valid only during the call. A non-zero
 * return from fn stops the walk.
 */
enum store_status store_report_auth(struct store *s, const struct store_auth_filter *f,
                                    int (*fn)(const struct store_auth_row *r, void *arg),
                                    void *arg);

/*
 * store_ledger_summary - how many ledger rows have received_at >= since
 * into *rows, and the newest row's received_at into *newest (0 = no
 * rows): postmeter status
 */
enum store_status store_ledger_summary(struct store *s, int64_t since, int64_t *rows,
                                       int64_t *newest);

/*
 * DKIM signing keys (schema 003_dkim_keys). A key is pending (made by a
 * rotation: published in DNS, not signing yet), active (signs; at most
 * one per domain and algorithm) or retired (no longer signs, still
 * published for verification until removed). The private key stays in
 * key_file; the database never holds it.
 */
enum store_dkim_alg { STORE_DKIM_RSA_SHA256 = 0, STORE_DKIM_ED25519_SHA256 = 1 };
enum store_dkim_state { STORE_DKIM_ACTIVE = 0, STORE_DKIM_PENDING = 1, STORE_DKIM_RETIRED = 2 };

/*
 * One key. What a signer needs: sign for domain (d=) with selector (s=),
 * algorithm (a= is store_dkim_alg_name()) and the PEM in key_file, when
 * state is STORE_DKIM_ACTIVE.
 */
struct store_dkim_key {
    const char *domain;   /* lower case, no trailing dot */
    const char *selector; /* lower case */
    enum store_dkim_alg algorithm;
    unsigned bits;        /* RSA modulus size; 256 for Ed25519 */
    const char *key_file; /* absolute path of the PEM private key */
    enum store_dkim_state state;
    int64_t created_at;   /* seconds since the epoch */
    int64_t activated_at; /* 0 = never active */
    int64_t retired_at;   /* 0 = not retired */
};

/* store_dkim_alg_name - "rsa-sha256" or "ed25519-sha256" (the a= tag) */
const char *store_dkim_alg_name(enum store_dkim_alg a);
/* store_dkim_alg_parse - the algorithm named s (as above); false if none */
bool store_dkim_alg_parse(const char *s, enum store_dkim_alg *a);
/* store_dkim_state_name - "active", "pending" or "retired" */
const char *store_dkim_state_name(enum store_dkim_state st);
/* store_dkim_state_parse - the state named s; false if none */
bool store_dkim_state_parse(const char *s, enum store_dkim_state *st);

/*
 * store_put_dkim_key - add k (domain and selector are stored in lower
 * case). STORE_ERROR if the domain already has that selector, if k is
 * active and the domain already has an active key of its algorithm, or
 * if a field is unusable (empty name, relative key_file).
 */
enum store_status store_put_dkim_key(struct store *s, const struct store_dkim_key *k);
/*
 * store_list_dkim_keys - call fn once per key of domain (NULL = every
 * domain), ordered by domain, then active, pending, retired, then
 * algorithm and age (oldest first), with a record valid only during the
 * call. A non-zero return from fn stops the walk (not an error).
 */
enum store_status store_list_dkim_keys(struct store *s, const char *domain,
                                       int (*fn)(const struct store_dkim_key *k, void *arg),
                                       void *arg);
/*
 * store_set_dkim_key_state - move a key to state at time now, in one
 * transaction. Making a key active retires the domain's active key of
 * the same algorithm (a rotation); leaving retired clears retired_at.
 * Setting the state a key already has changes nothing. STORE_ERROR if
 * there is no such key.
 */
enum store_status store_set_dkim_key_state(struct store *s, const char *domain,
                                           const char *selector, enum store_dkim_state state,
                                           int64_t now);
/*
 * store_remove_dkim_key - forget a key (never touches its file).
 * STORE_ERROR if there is no such key, or if it is active and
 * even_active is false.
 */
enum store_status store_remove_dkim_key(struct store *s, const char *domain, const char *selector,
                                        bool even_active);

/*
 * Open tracking (schema 004_tracking). A rule tracks outbound mail whose
 * sender (envelope sender or header From) or one of whose envelope
 * recipients matches its pattern: a whole address or "@domain" (exactly
 * that domain), stored in lower case.
 */
enum store_track_field { STORE_TRACK_SENDER = 0, STORE_TRACK_RECIPIENT = 1 };

struct store_track_rule {
    int64_t id; /* set by the store */
    enum store_track_field field;
    const char *pattern; /* "user@example.org" or "@example.org" */
    bool enabled;
    const char *note; /* free text for the admin, NULL = none */
    int64_t created_at;
};

/* store_track_field_name - "sender" or "recipient" */
const char *store_track_field_name(enum store_track_field f);
/* store_track_field_parse - the field named s; false if none */
bool store_track_field_parse(const char *s, enum store_track_field *f);

/*
 * store_put_track_rule - add r (its pattern is checked with
 * track_pattern_normalize() and stored in lower case) and set *id to its
 * id (id may be NULL). STORE_ERROR if the same field and pattern exist.
 */
enum store_status store_put_track_rule(struct store *s, const struct store_track_rule *r,
                                       int64_t *id);
/*
 * store_list_track_rules - call fn once per rule, by id, with a record
 * valid only during the call. A non-zero return from fn stops the walk.
 */
enum store_status store_list_track_rules(struct store *s,
                                         int (*fn)(const struct store_track_rule *r, void *arg),
                                         void *arg);
/* store_set_track_rule_enabled - enable or disable rule id; STORE_ERROR if there is none */
enum store_status store_set_track_rule_enabled(struct store *s, int64_t id, bool enabled);
/* store_remove_track_rule - forget rule id; STORE_ERROR if there is none */
enum store_status store_remove_track_rule(struct store *s, int64_t id);

/*
 * One tracked message (or, from postmeter-pixelfilter, one recipient's
 * copy of it): the token in its pixel URL and what the injection did.
 */
struct store_tracked {
    const char *token;       /* TRACK_TOKEN_LEN characters, unique */
    const char *message_uid; /* the ledger row's uid, NULL if none */
    const char *queue_id, *mail_from, *header_from, *subject; /* NULL = unknown */
    const char *mode;                                         /* "milter" or "pipe" */
    const char *outcome; /* "injected", "no-html", "skipped-signed", ... */
    const char *reason;  /* NULL = nothing to say */
    int64_t created_at;
    int64_t created_ms; /* the same time in milliseconds; 0 = created_at * 1000 */
    char *const *rcpts;
    size_t nrcpts;
};

/* store_put_tracked - record one tracked message in its own transaction */
enum store_status store_put_tracked(struct store *s, const struct store_tracked *t);
/*
 * store_token_key - the database's token key (schema token_key: one row,
 * made once by the migration) into key; the key that makes and checks
 * pixel tokens (track.h). STORE_ERROR if there is none.
 */
enum store_status store_token_key(struct store *s, unsigned char key[32]);
/*
 * store_forget_tracked - remove the row of token (and its recipients):
 * for a copy recorded but then not handed on, which will be retried with
 * a new token. Removing a token that is not there is not an error.
 */
enum store_status store_forget_tracked(struct store *s, const char *token);

/*
 * Retention (postmeter prune, retention_days; store_prune.c): rows older
 * than a cut (a time; rows AT the cut stay) are removed in small
 * batches, each its own short transaction, so that other writers of the
 * database wait one batch at most. What goes:
 *  - an open (pixel_opens) by its opened_at;
 *  - a tracked message (tracked_messages, with its tracked_recipients)
 *    by its created_at, once no open of it is left: one with an open
 *    at or after the cut stays, and so that open keeps its message;
 *  - a ledger message (messages, with its message_recipients and
 *    message_auth) by its received_at.
 * A batch removes opens first, then tracked messages, then messages.
 * Nothing in this contract is SQLite's: a backend keeps no state between
 * batches and finds the oldest rows by their time index each time (the
 * PostgreSQL one can run the same DELETE ... WHERE id IN (SELECT ...
 * LIMIT n) statements, children first, in one transaction).
 */
enum store_prune_table {
    STORE_PRUNE_MESSAGES = 0,
    STORE_PRUNE_RCPTS,         /* message_recipients, with their message */
    STORE_PRUNE_AUTH,          /* message_auth, with their message */
    STORE_PRUNE_TRACKED,       /* tracked_messages */
    STORE_PRUNE_TRACKED_RCPTS, /* tracked_recipients, with their tracked message */
    STORE_PRUNE_OPENS,         /* pixel_opens */
    STORE_PRUNE_TABLES
};

/* Rows per table, indexed by enum store_prune_table. */
struct store_prune_counts {
    int64_t n[STORE_PRUNE_TABLES];
};

/* store_prune_table_name - the table's name ("messages", "pixel_opens", ...) */
const char *store_prune_table_name(enum store_prune_table t);
/*
 * store_prune_count - how many rows of each table a prune at cut would
 * remove now, into *c (overwritten), removing nothing (a dry run)
 */
enum store_status store_prune_count(struct store *s, int64_t cut, struct store_prune_counts *c);
/*
 * store_prune_batch - remove, in ONE transaction, up to limit (>= 1)
 * opens, tracked messages and messages (each with the rows that belong
 * to it) older than cut, and add the rows removed to *c. *more is false
 * when nothing older than cut was left to remove; true means call again
 * (the last call of a run may find nothing). All or nothing: on failure
 * nothing of the batch is removed and *c is unchanged.
 */
enum store_status store_prune_batch(struct store *s, int64_t cut, unsigned limit,
                                    struct store_prune_counts *c, bool *more);

#endif
