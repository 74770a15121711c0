/*
 * main.c - postmeter, the command line tool: global options, then one
 * subcommand (db, config, report, auth, spf, dkim, dns, track, status).
 *
 * Reads the same configuration file as the daemons. Without -c, a missing
 * default file means built-in defaults; a file given with -c must exist.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "privsep.h"
#include "util.h"

/* usage - how to call postmeter */
static int usage(FILE *fp, int status)
{
    fprintf(fp, "usage: postmeter [-c FILE] COMMAND [ARGS]\n"
                "\n"
                "commands:\n"
                "  report messages [--since T] [--until T] [--sender A] [--recipient A]\n"
                "                  [--limit N] [--format table|csv|json]\n"
                "  report auth [--since T] [--until T] [--domain D] [--format F]\n"
                "                  inbound SPF/DKIM/DMARC pass and fail counts per From domain\n"
                "  db migrate      create the database or bring its schema up to date\n"
                "  db check        integrity check and schema version\n"
                "  config show [-n] [KEY...]\n"
                "                  every key's effective value (-n: those the file sets)\n"
                "  config defaults every key with its default and doc line\n"
                "  auth --ip IP [--helo NAME] [--mail-from ADDR] < MESSAGE\n"
                "                  the Authentication-Results header and the action\n"
                "                  postmeter-milter would give this inbound message\n"
                "  spf --ip IP [--helo NAME] [--mail-from ADDR] [--identity mailfrom|helo]\n"
                "                  evaluate SPF as postmeter-milter would; prints the result,\n"
                "                  then the explanation or problem (exit 0 whatever it is)\n"
                "  dkim keygen DOMAIN [--selector S] [--algorithm rsa|ed25519] [--bits N]\n"
                "                  make a signing key (active, or pending if the domain already\n"
                "                  signs with that algorithm) and print its TXT record\n"
                "  dkim list [DOMAIN] [--format table|csv|json]\n"
                "  dkim rotate DOMAIN [--selector S] [--algorithm A] [--bits N]\n"
                "                  make a pending key (published, not signing) to replace one\n"
                "  dkim rotate DOMAIN --activate [SELECTOR] [--force]\n"
                "                  sign with the published pending key, retire the old one\n"
                "  dkim remove DOMAIN SELECTOR [--delete-file] [--force]\n"
                "  dns DOMAIN [--mx HOST] [--rua MAILTO] [--check]\n"
                "                  the DKIM, SPF, DMARC and MX records to publish (zone-file\n"
                "                  syntax); --check compares them with DNS (exit 1 if wrong)\n"
                "  track add ADDRESS|@DOMAIN [--recipient] [--disabled] [--note TEXT]\n"
                "                  track outbound mail from (or, --recipient, to) it\n"
                "  track list [--format table|csv|json]\n"
                "  track enable|disable|remove ID\n"
                "  status [--format text|json]\n"
                "                  postmeter-milter, its keys and its ledger on one screen;\n"
                "                  exit 1 if something needs attention\n"
                "\n"
                "T is ISO 8601 (2026-11-24, 2026-11-24T10:00:00Z), \"now\", or a span\n"
                "before now: 30m, 12h, 7d, 2w.\n");
    return status;
}

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

/* need_of - what command argv[0] (argc words) needs: the database, key files, nothing */
static enum cli_need need_of(int argc, char **argv)
{
    static const char *const db[] = {"db", "report", "track", "status"};

    for (size_t i = 0; i < sizeof(db) / sizeof(db[0]); i++)
        if (strcmp(argv[0], db[i]) == 0)
            return CLI_NEED_DB;
    if (strcmp(argv[0], "dns") == 0) /* reads key files: root's */
        return CLI_NEED_KEYS;
    if (strcmp(argv[0], "dkim") == 0 && argc >= 2)
        return strcmp(argv[1], "list") == 0 ? CLI_NEED_DB : CLI_NEED_KEYS;
    return CLI_NEED_NOTHING;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    struct config *c;
    struct buf errors = BUF_INIT;
    int ch, status;

    log_open("postmeter", LOG_TO_STDERR);
    while ((ch = getopt(argc, argv, "+c:hV")) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 'h':
            return usage(stdout, CLI_OK);
        case 'V':
            printf("postmeter %s\n", POSTMETER_VERSION);
            return CLI_OK;
        default:
            return usage(stderr, CLI_USAGE);
        }
    }
    if (optind >= argc)
        return usage(stderr, CLI_USAGE);
    if (path == NULL && access(CONFIG_DEFAULT_PATH, F_OK) != 0)
        c = config_defaults();
    else if ((c = config_load(path ? path : CONFIG_DEFAULT_PATH, &errors)) == NULL) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        return CLI_FAIL;
    }
    argc -= optind;
    argv += optind;
    optind = 1; /* subcommands parse their own options from argv[0] = command */
    /* As root, on the service user's database directory: the database as that user. */
    if ((status = cli_privsep(c, need_of(argc, argv), argc, argv)) >= 0) {
        config_free(c);
        return status;
    }
    if (strcmp(argv[0], "db") == 0)
        status = cmd_db(c, argc, argv);
    else if (strcmp(argv[0], "config") == 0)
        status = cmd_config(c, argc, argv);
    else if (strcmp(argv[0], "report") == 0)
        status = cmd_report(c, argc, argv);
    else if (strcmp(argv[0], "auth") == 0)
        status = cmd_auth(c, argc, argv);
    else if (strcmp(argv[0], "spf") == 0)
        status = cmd_spf(c, argc, argv);
    else if (strcmp(argv[0], "dkim") == 0)
        status = cmd_dkim(c, argc, argv);
    else if (strcmp(argv[0], "dns") == 0)
        status = cmd_dns(c, argc, argv);
    else if (strcmp(argv[0], "track") == 0)
        status = cmd_track(c, argc, argv);
    else if (strcmp(argv[0], "status") == 0)
        status = cmd_status(c, argc, argv);
    else {
        fprintf(stderr, "postmeter: unknown command \"%s\"\n", argv[0]);
        status = usage(stderr, CLI_USAGE);
    }
    config_free(c);
    return status;
}
