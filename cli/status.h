/*
 * status.h - postmeter status: what it gathers (status_info.c), the
 * milter probe (status_probe.c), and how it judges and prints it
 * (cmd_status.c).
 *
 * Gathering only reads: the milter's status file, its pid file, its
 * socket (one option negotiation), the database (read-only) and the
 * spool file's size. Nothing here writes anything.
 */
#ifndef POSTMETER_CLI_STATUS_H
#define POSTMETER_CLI_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

#define STATUS_FILE_SUFFIX  ".milter-status" /* as milter/status_file.h writes it */
#define STATUS_PROBE_MS     1000 /* the milter must answer the negotiation within this */
#define STATUS_STALE_S      30   /* a status file older than this (running milter) is stale */
#define STATUS_COUNT_MAX_MB 16   /* spool records are counted in files up to this size */

/* The milter's status file (milter/status_file.h), as read. */
struct status_file {
    bool present;
    char why[256]; /* why it was not read, "" if absent or read */
    long long format, pid, started_at, updated_at, stopped_at;
    long long config_loaded_at, config_mtime_ns, reload_failed_at;
    char version[64], socket[512], config_file[4096];
    bool have_ledger; /* the ledger_ keys were there */
    long long put, written, replayed, spooled, dropped, rejected, self_spooled, unsafe, queued;
    long long spool_bytes, spool_bytes_before, db_ok;
};

/* One domain's DKIM keys in the database. */
struct status_domain {
    char *domain;
    const struct store_dkim_key **active, **pending; /* into the cli_keys */
    size_t nactive, npending, nretired;
};

/* Everything postmeter status looks at. */
struct status_info {
    char *status_path; /* DATABASE.milter-status */
    struct status_file sf;

    /* the milter */
    long long pid;          /* 0 = none known */
    const char *pid_source; /* "pid_file", "status_file" or NULL */
    char pid_why[256];      /* pid_file: why it gave no live process, "" = fine or none */
    bool running;           /* a live process with that pid (or, no pid known: answering) */
    const char *socket;     /* probed: the status file's, else the configuration's */
    bool answering;
    long long probe_ms;
    char probe_why[256];

    /* its configuration */
    const char *config_file;   /* the milter's (status file), else ours, NULL = defaults */
    long long config_mtime_ns; /* now; -1 = cannot stat */
    bool reload_pending;

    /* the database */
    bool db_readable;
    char db_why[512];
    long long db_bytes; /* database + -wal; -1 unknown */
    long long today_since;
    int64_t rows_today, last_row_at;
    struct cli_keys keys;
    struct status_domain *domains;
    size_t ndomains;
    long long rules, rules_enabled;

    /* the spool */
    char *spool_path;
    long long spool_bytes;   /* -1: cannot stat */
    long long spool_records; /* -1: not counted */
};

/*
 * status_probe - connect to the milter socket spec (unix:PATH, local:PATH,
 * inet:PORT[@ADDR], inet6:PORT[@ADDR]), send SMFIC_OPTNEG and wait up to
 * timeout_ms for SMFIC_OPTNEG back; true if it came (then SMFIC_QUIT).
 * False with a reason in why[whylen]. *ms is how long it took.
 */
bool status_probe(const char *spec, unsigned timeout_ms, long long *ms, char *why, size_t whylen);

/* status_gather - everything about c's milter and ledger into si; never exits */
void status_gather(const struct config *c, struct status_info *si);
/* status_info_free - free what status_gather() filled in */
void status_info_free(struct status_info *si);

#endif
