/*
 * cmd_prune.c - postmeter prune --older-than AGE [--dry-run]: remove the
 * ledger's messages (with their recipients and authentication results),
 * tracked messages (with their recipients) and pixel opens older than
 * AGE, and print how many rows of each table went (--dry-run: would go).
 *
 * The rows go in short batches, each its own transaction, with pauses
 * between them (lib/ledger_prune.h), so postmeter-milter's and
 * postmeter-tracker's writers keep writing meanwhile; an interrupted
 * prune leaves whole batches removed and the rest in place. It never
 * touches anything younger than AGE, nor DKIM keys or tracking rules.
 *
 * Exit status: 0 done, 1 the database failed (what was removed before
 * is printed), 2 usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ledger_prune.h"
#include "timeutil.h"

#define PRUNE_MAX_DAYS 36500 /* an AGE of at most a hundred years */

/* prune_usage - one line on stderr saying what is wrong; CLI_USAGE */
static int prune_usage(const char *what, const char *arg)
{
    fprintf(stderr, "postmeter: prune: %s%s%s%s; try 'postmeter prune --help'\n", what,
            arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "");
    return CLI_USAGE;
}

/*
 * parse_age - AGE as "Nd" (days) or "Nh" (hours), N >= 1, into seconds;
 * false if it is neither. A parser of its own until the CLI's shared time
 * arguments take spans like these; its forms stay a subset of theirs.
 */
static bool parse_age(const char *s, int64_t *secs)
{
    int64_t n = 0;
    const char *p = s;

    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n > (int64_t)PRUNE_MAX_DAYS * 24)
            return false;
    }
    if (p == s || n == 0 || *p == '\0' || p[1] != '\0')
        return false;
    if (*p == 'd' && n <= PRUNE_MAX_DAYS)
        *secs = n * 86400;
    else if (*p == 'h')
        *secs = n * 3600;
    else
        return false;
    return true;
}

/* print_counts - the rows per table, and their total */
static void print_counts(const struct store_prune_counts *c)
{
    int64_t total = 0;

    for (size_t t = 0; t < STORE_PRUNE_TABLES; t++) {
        printf("  %-20s %12" PRId64 "\n", store_prune_table_name((enum store_prune_table)t),
               c->n[t]);
        total += c->n[t];
    }
    printf("  %-20s %12" PRId64 "\n", "total", total);
}

/* open_current - the database (read-only for a dry run) at this binary's schema, or NULL */
static struct store *open_current(const struct config *c, bool dry_run)
{
    struct store *s = cli_open_store(c, STORE_NOCREATE | (dry_run ? STORE_READONLY : 0));
    int v = store_version(s);

    if (v == (int)store_migrations_count)
        return s;
    if (v < 0)
        fprintf(stderr, "postmeter: prune: %s: %s\n", c->database, store_error(s));
    else if (v < (int)store_migrations_count)
        fprintf(stderr,
                "postmeter: prune: %s has schema version %d, this binary %zu: run 'postmeter db "
                "migrate'\n",
                c->database, v, store_migrations_count);
    else
        fprintf(stderr,
                "postmeter: prune: %s has schema version %d, newer than this binary (%zu)\n",
                c->database, v, store_migrations_count);
    return store_close(s);
}

/* cmd_prune - postmeter prune --older-than AGE [--dry-run] */
int cmd_prune(const struct config *c, int argc, char **argv)
{
    static const struct option longopts[] = {{"older-than", required_argument, NULL, 'o'},
                                             {"dry-run", no_argument, NULL, 'n'},
                                             {NULL, 0, NULL, 0}};
    const char *age_arg = NULL;
    struct ledger_prune_run run;
    char cut_iso[TIME_ISO_LEN];
    bool dry_run = false;
    enum store_status st = STORE_OK;
    struct store *s;
    int64_t age;
    int ch;

    optind = 0; /* start afresh and permute */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch == 'o')
            age_arg = optarg;
        else if (ch == 'n')
            dry_run = true;
        else if (ch == ':')
            return prune_usage("option needs a value:", argv[optind - 1]);
        else
            return prune_usage("unknown option", argv[optind - 1]);
    }
    if (optind < argc)
        return prune_usage("unexpected argument", argv[optind]);
    if (age_arg == NULL)
        return prune_usage("--older-than AGE is required (AGE: 90d or 12h)", NULL);
    if (!parse_age(age_arg, &age))
        return prune_usage("--older-than: AGE is a number of days (90d) or hours (12h), not",
                           age_arg);
    if ((s = open_current(c, dry_run)) == NULL)
        return CLI_FAIL;
    ledger_prune_start(&run, (int64_t)time(NULL) - age);
    time_format_iso(run.cut, cut_iso);
    if (dry_run)
        st = store_prune_count(s, run.cut, &run.removed);
    else
        st = ledger_prune_run_all(s, &run);
    if (st != STORE_OK)
        fprintf(stderr, "postmeter: prune: %s: %s\n", c->database, store_error(s));
    if (dry_run && st == STORE_OK)
        printf("would remove the rows older than %s (dry run):\n", cut_iso);
    else if (!dry_run)
        printf("%s the rows older than %s:\n", st == STORE_OK ? "removed" : "stopped; removed",
               cut_iso);
    if (!dry_run || st == STORE_OK)
        print_counts(&run.removed);
    store_close(s);
    return st == STORE_OK ? CLI_OK : CLI_FAIL;
}
