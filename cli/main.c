/*
 * main.c - postmeter, the command line tool: global options (anywhere
 * before "--"), then one command of the table in usage.c.
 *
 * Reads the same configuration file as the daemons. Without -c, a missing
 * default file means built-in defaults; a file given with -c must exist.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "privsep.h"
#include "timearg.h"
#include "usage.h"
#include "util.h"

/* cli_open_store - open the configured database or exit with a message */
struct store *cli_open_store(const struct config *c, int flags)
{
    char err[512];
    struct store *s = store_open(c->database, flags, err, sizeof(err));

    if (s == NULL)
        die("%s: %s", c->database, err);
    return s;
}

/* cli_open_current - the database for reading, refusing an older schema */
struct store *cli_open_current(const struct config *c)
{
    struct store *s = cli_open_store(c, STORE_READONLY | STORE_NOCREATE);
    int v = store_version(s);

    if (v >= 0 && v < (int)store_migrations_count) {
        fprintf(stderr,
                "postmeter: %s has schema version %d, this binary %zu: run 'postmeter db "
                "migrate'\n",
                c->database, v, store_migrations_count);
        return store_close(s);
    }
    return s;
}

/* run - the command line's command; its exit status */
static int run(int argc, char **argv)
{
    const struct cli_command *cmd;
    struct cli_globals g;
    struct config *c;
    struct buf errors = BUF_INIT;
    int status;

    log_open("postmeter", LOG_TO_STDERR);
    opterr = 0; /* every command reports a bad option itself, in one line (usage.c) */
    if ((status = cli_globals_take(&argc, argv, &g)) >= 0)
        return status;
    argc--;
    argv++;
    if (g.version) {
        printf("postmeter %s\n", POSTMETER_VERSION);
        return CLI_OK;
    }
    if (argc >= 1 && strcmp(argv[0], "help") == 0)
        return cli_help(argc - 1, argv + 1);
    if (g.help) /* the words before the first option name the command */
        return cli_help(argc >= 2 && argv[1][0] != '-' ? 2 : argc >= 1 && argv[0][0] != '-', argv);
    if ((cmd = cli_find(argc, argv, &status)) == NULL)
        return status;
    cli_set_command(cmd);
    timearg_set_utc(g.utc);
    if (g.config == NULL && access(CONFIG_DEFAULT_PATH, F_OK) != 0)
        c = config_defaults();
    else if ((c = config_load(g.config ? g.config : CONFIG_DEFAULT_PATH, &errors)) == NULL) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        return CLI_FAIL;
    }
    optind = 1; /* subcommands parse their own options from argv[0] = command */
    /* As root, on the service user's database directory: the database as that user. */
    if ((status = cli_privsep(c, cmd->need, argc, argv)) < 0)
        status = cmd->run(c, argc, argv);
    config_free(c);
    return status;
}

/*
 * main - run the command, then make sure what it printed was written: a
 * report redirected to a full disk (or any write error on standard
 * output) fails the command with a message instead of exiting 0 with
 * the file cut short
 */
int main(int argc, char **argv)
{
    int status = run(argc, argv);

    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "postmeter: write error on standard output%s%s\n", errno ? ": " : "",
                errno ? strerror(errno) : "");
        return status == CLI_OK ? CLI_FAIL : status;
    }
    return status;
}
