/*
 * usage.h - postmeter's commands in one table, and the conventions every
 * command follows: --help (-h) and "postmeter help [COMMAND [SUB]]" print
 * usage on stdout and exit 0; a usage error is one line on stderr saying
 * what to do, exit 2; the global options (-c FILE, --utc, -h, -V) are
 * taken out of the command line wherever they stand before "--".
 */
#ifndef POSTMETER_CLI_USAGE_H
#define POSTMETER_CLI_USAGE_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "privsep.h"

/* One command (sub NULL) or subcommand of postmeter. */
struct cli_command {
    const char *name; /* "report" */
    const char *sub;  /* "messages"; NULL: the command has no subcommands */
    int (*run)(const struct config *c, int argc, char **argv); /* argv[0] = name */
    enum cli_need need;   /* what privsep must provide (privsep.h) */
    const char *synopsis; /* the arguments after "postmeter name [sub]" */
    const char *summary;  /* one line: what it does */
    const char *options;  /* its options, lines of "  --opt  text\n"; NULL: none */
};

/* What the global options said. */
struct cli_globals {
    const char *config; /* -c FILE / --config FILE; NULL: the default */
    bool help;          /* -h / --help anywhere */
    bool version;       /* -V / --version */
    bool utc;           /* --utc */
};

/*
 * cli_globals_take - take the global options out of argv[1..*argc)
 * (wherever they stand, up to "--") into *g; argv keeps the rest in
 * order, *argc shrinks. -1 if all is well, else the exit status (the
 * error is printed).
 */
int cli_globals_take(int *argc, char **argv, struct cli_globals *g);

/*
 * cli_find - the command argv[0] [argv[1]] names (argc words). NULL if
 * none: then *status is the exit status and the error was printed.
 */
const struct cli_command *cli_find(int argc, char **argv, int *status);

/*
 * cli_help - usage of the command named by the words argv[0..argc) (none:
 * every command; a command with subcommands: each of them) on stdout;
 * CLI_OK, or CLI_USAGE (with the error on stderr) for an unknown name
 */
int cli_help(int argc, char **argv);

/* cli_set_command - the command that runs now ("report messages"), for messages */
void cli_set_command(const struct cli_command *cmd);

/*
 * cli_usage - "postmeter: COMMAND: MESSAGE; try 'postmeter COMMAND
 * --help'" on stderr, one line; returns CLI_USAGE
 */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * cli_time_option - the value of --since (ch 's', into *since) or
 * --until ('u', into *until) as timearg_parse() reads it, given[0] or
 * given[1] set; -1, or CLI_USAGE (said) if it is not a time
 */
int cli_time_option(int ch, const char *arg, int64_t now, int64_t *since, int64_t *until,
                    bool given[2]);

/*
 * cli_bad_option - the usage error for what getopt_long() just returned
 * (ch '?' or ':' with optstring starting with ':'; argv its argv): an
 * unknown option, a missing value, a value given to a flag. CLI_USAGE.
 */
int cli_bad_option(int ch, char **argv);

#endif
