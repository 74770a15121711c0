/*
 * cli.h - what the postmeter subcommands share: the configuration and a
 * way to open the store with a clear error.
 */
#ifndef POSTMETER_CLI_H
#define POSTMETER_CLI_H

#include "config.h"
#include "store.h"

/* Exit codes: 0 ok, 1 the check found a problem / runtime error, 2 usage. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* cli_open_store - open the configured database or exit with a message */
struct store *cli_open_store(const struct config *c, int flags);

int cmd_auth(const struct config *c, int argc, char **argv);
int cmd_config(const struct config *c, int argc, char **argv);
int cmd_db(const struct config *c, int argc, char **argv);
int cmd_report(const struct config *c, int argc, char **argv);
int cmd_spf(const struct config *c, int argc, char **argv);

#endif
