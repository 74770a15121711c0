/*
 * cli.h - what the postmeter subcommands share: the configuration and a
 * way to open the store with a clear error.
 */
#ifndef POSTMETER_CLI_H
#define POSTMETER_CLI_H

#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "store.h"

/* Exit codes: 0 ok, 1 the check found a problem / runtime error, 2 usage. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* cli_open_store - open the configured database or exit with a message */
struct store *cli_open_store(const struct config *c, int flags);
/*
 * cli_open_current - the configured database for reading; NULL (with a
 * message) if its schema is older than this binary's ("run postmeter db
 * migrate"); exits if it cannot be opened
 */
struct store *cli_open_current(const struct config *c);

int cmd_auth(const struct config *c, int argc, char **argv);
int cmd_config(const struct config *c, int argc, char **argv);
int cmd_db(const struct config *c, int argc, char **argv);
int cmd_dkim(const struct config *c, int argc, char **argv);
int cmd_dns(const struct config *c, int argc, char **argv);
int cmd_prune(const struct config *c, int argc, char **argv);
int cmd_report(const struct config *c, int argc, char **argv);
int cmd_spf(const struct config *c, int argc, char **argv);
int cmd_status(const struct config *c, int argc, char **argv);
int cmd_track(const struct config *c, int argc, char **argv);

/* Stored DKIM keys, copied out of the store (dkim_keys.c). */
struct cli_keys {
    struct store_dkim_key *k; /* strings owned by the array */
    size_t n;
};

/*
 * cli_dkim_keys - the stored keys of domain (NULL = all), in the store's
 * order, into *out. False (with a message on stderr) on error.
 */
bool cli_dkim_keys(const struct config *c, struct store *s, const char *domain,
                   struct cli_keys *out);
/* cli_dkim_keys_free - free what cli_dkim_keys() filled in */
void cli_dkim_keys_free(struct cli_keys *ks);
/* cli_dkim_find - the key with selector sel (any case) in ks, NULL if none */
const struct store_dkim_key *cli_dkim_find(const struct cli_keys *ks, const char *sel);
/* cli_dkim_find_state - the first key of algorithm a in state st in ks, NULL if none */
const struct store_dkim_key *cli_dkim_find_state(const struct cli_keys *ks, enum store_dkim_alg a,
                                                 enum store_dkim_state st);
/*
 * cli_dkim_domain - argument arg as a domain for DKIM keys: lower case,
 * without a trailing dot; NULL (with a message on stderr) if it is not
 * a usable domain name. Caller frees.
 */
char *cli_dkim_domain(const char *arg);
/*
 * cli_dkim_open_rw - the configured database for writing, created and
 * migrated if need be; exits with a message on failure.
 */
struct store *cli_dkim_open_rw(const struct config *c);

/* What cli_dkim_make() should make. */
struct cli_new_key {
    const char *domain;   /* checked, lower case */
    const char *selector; /* checked, lower case; NULL: today's first free default */
    enum store_dkim_alg algorithm;
    unsigned bits; /* RSA */
    enum store_dkim_state state;
};

/*
 * cli_dkim_make - make the key nk describes for a domain whose stored
 * keys are ks: write its file (dkim_key_dir/DOMAIN.SELECTOR.key, group
 * of the configured user when we are root), register it in s, print
 * what was made and its TXT record. Exit status; on failure nothing is
 * left behind.
 */
int cli_dkim_make(const struct config *c, struct store *s, const struct cli_keys *ks,
                  const struct cli_new_key *nk);
/*
 * cli_dkim_published - look up k's TXT record through dns_servers: true
 * if it carries k's public key; else false with the reason in why
 * (missing, another key, DNS timeout, unreadable key file). (cmd_dns.c)
 */
bool cli_dkim_published(const struct config *c, const struct store_dkim_key *k, struct buf *why);

#endif
