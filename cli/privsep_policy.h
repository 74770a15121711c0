/*
 * privsep_policy.h - which key-file requests the root parent of
 * privsep.c answers for one command, derived from that command's own
 * command line: never from the child, never from the database.
 *
 * The child reads a database the service user can write; a hostile one
 * can take the child over. The most it can then make root do is what
 * the command line asked for: keygen and rotate D make one key file
 * D.SELECTOR.key (and may delete that file again, the clean-up after a
 * failed registration); remove D S --delete-file deletes D.S.key only;
 * dns D and rotate --activate read public halves of D's key files; every
 * other command gets nothing. At most PRIVSEP_MAX_REQUESTS requests.
 */
#ifndef POSTMETER_CLI_PRIVSEP_POLICY_H
#define POSTMETER_CLI_PRIVSEP_POLICY_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>

#include "dkim_txt.h"

/* What the child may ask of the root parent. */
enum privsep_op {
    PRIVSEP_DIR = 1, /* make dkim_key_dir */
    PRIVSEP_CREATE,  /* make a key file */
    PRIVSEP_EXISTS,  /* is a name taken? */
    PRIVSEP_REMOVE,  /* delete a key file */
    PRIVSEP_PUBLIC,  /* a key file's public half */
};

/*
 * Requests per command: keygen's search for a free default selector
 * checks up to 100 names (DKIM_SELECTOR_TRIES in dkim_keys.c), then makes
 * the directory and one key; dns reads one public key per stored key of
 * the domain. Past this, every request is refused.
 */
#define PRIVSEP_MAX_REQUESTS 128

/* What one command may ask for, and what it has asked so far. */
struct privsep_scope {
    char domain[254];                     /* key files DOMAIN.SELECTOR.key only; "": none */
    char selector[DKIM_SELECTOR_MAX + 1]; /* "": any selector; else only this one */
    unsigned ops;                         /* (1 << op) for each request the command makes */
    unsigned requests;                    /* asked so far */
    bool create_asked;                    /* one key per command */
    bool remove_asked;                    /* one deletion per command */
    char created[NAME_MAX + 1];           /* the file made for this command, "" none */
};

/*
 * The options of postmeter dkim (cmd_dkim.c parses with this table too,
 * so the parent reads the command line exactly as the command does).
 */
extern const struct option privsep_dkim_options[];

/* The options of postmeter dns (cmd_dns.c parses with this table too). */
extern const struct option privsep_dns_options[];

/*
 * privsep_scope_of - the scope of command argv[0..argc) (argv[0] "dkim"
 * or "dns", as main() hands it on): empty (nothing allowed) for any
 * other command or one that does not parse. Prints nothing; reorders
 * argv as getopt_long does.
 */
void privsep_scope_of(int argc, char **argv, struct privsep_scope *sc);

/*
 * privsep_allow - may the parent do op on name (a file name within
 * dkim_key_dir; ignored for PRIVSEP_DIR) for sc's command? NULL if so
 * (the request is counted), else why not.
 */
const char *privsep_allow(struct privsep_scope *sc, enum privsep_op op, const char *name);

/* privsep_made - note that the parent made key file name for sc's command */
void privsep_made(struct privsep_scope *sc, const char *name);

#endif
