/*
 * usage.c - the table of postmeter's commands with their usage text, the
 * global options, --help, and the one-line usage errors (usage.h).
 *
 * Every command and subcommand is one line of the table: main.c finds it
 * here, runs it and asks privsep for what it needs; --help prints its
 * lines. A new command is a new line (and its cmd_*.c), nothing else.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd_report_story.h"
#include "cmd_report_summary.h"
#include "complete.h"
#include "timearg.h"
#include "usage.h"
#include "util.h"

#define REPORT_COMMON                                                                              \
    "  --since T, --until T    received at or after T, before T\n"                                 \
    "  --format F              table (default), csv, json (an array) or ndjson (an\n"              \
    "                          object per line); field names in postmeter(1)\n"                    \
    "  --wide                  the table shows every column and cuts none\n"

static const struct cli_command commands[] = {
    {"report", "messages", cmd_report, CLI_NEED_DB, "[FILTERS] [--limit N] [--format F] [--wide]",
     "messages in the ledger, oldest first",
     REPORT_COMMON
     "  --limit N               only the newest N messages (still shown oldest first)\n"
     "  --sender A              envelope sender or header From address A; a domain\n"
     "                          (example.org or @example.org): any address of it\n"
     "  --recipient A           one of the recipients is A\n"
     "  --from-domain D         header From domain D or a subdomain of it\n"
     "  --direction DIR         inbound or outbound\n"
     "  --action A              accept, reject, tempfail, quarantine or discard\n"
     "  --spf R, --dkim R, --dmarc R\n"
     "                          a result of that method is R (pass, fail, softfail,\n"
     "                          neutral, none, temperror, permerror, policy)\n"
     "  --queue-id Q            the Postfix queue id Q\n"
     "  --message-id ID         the Message-ID ID (with or without <>)\n"
     "  --subject TEXT          the subject contains TEXT, any case (when log_subject\n"
     "                          = yes stored it)\n"},
    {"report", "auth", cmd_report, CLI_NEED_DB, "[--domain D] [--since T] [--until T] [--format F]",
     "SPF/DKIM/DMARC counts, failure reasons, DKIM selectors per From domain",
     REPORT_COMMON "  --domain D              domain D and its subdomains only\n"},
    {"report", "summary", cmd_report_summary, CLI_NEED_DB,
     "[--since T] [--until T] [--top N] [--format table|html] [--mail-to ADDR]",
     "mail in and out, actions, authentication rates, failing From domains, open rates, the "
     "ledger's health",
     "  --since T, --until T    received at or after T, before T (default: the last 24 h)\n"
     "  --top N                 failing From domains listed (default 10, at most 100)\n"
     "  --format F              table (default) or html: one page with charts\n"
     "  --mail-to ADDR          mail both (text + HTML) to ADDR through sendmail(1)\n"},
    {"report", "opens", cmd_report_opens, CLI_NEED_DB,
     "[--by message|sender|recipient|day|subject] [--sender A|@D] [--since T] [--until T] "
     "[--format F]",
     "tracked mail: estimated (people) and raw open rates, time to the first human open",
     "  --since T, --until T    tracked at or after T, before T (default: all)\n"
     "  --by G                  one row per message, sender, recipient, day or subject\n"
     "  --sender A              envelope or header sender A; @D or D: any address of D\n"
     "  --format F              table (default), csv, json, ndjson or html\n"
     "  --wide                  the table shows every column and cuts none\n"},
    {"report", "open", cmd_report_open, CLI_NEED_DB,
     "TOKEN | --message-id ID | --queue-id Q [--format F] [--wide]",
     "one tracked message's story: ledger row, recipients, auth, outcome, every open",
     "  --message-id ID         the tracked rows of the messages with Message-ID ID\n"
     "  --queue-id Q            the tracked rows of queue id Q\n"
     "  --format F              table (default: a story to read), csv, json or ndjson\n"
     "                          (one row per open); field names in postmeter(1)\n"
     "  --wide                  the table shows every column and cuts none\n"},
    {"report", "message", cmd_report_message, CLI_NEED_DB,
     "QUEUEID | --message-id ID [--format F] [--wide]",
     "any message's story, with why it got its DMARC result in words",
     "  --message-id ID         the messages with Message-ID ID (with or without <>)\n"
     "  --format F              table (default: a story to read), csv, json or ndjson\n"
     "                          (one row per message); field names in postmeter(1)\n"
     "  --wide                  the table shows every column and cuts none\n"},
    {"prune", NULL, cmd_prune, CLI_NEED_DB, "--older-than AGE [--dry-run]",
     "remove the ledger's, tracking's and opens' rows older than AGE (90d, 12h)",
     "  --older-than AGE        a number of days (90d) or hours (12h)\n"
     "  --dry-run               print what would be removed, remove nothing\n"},
    {"db", "migrate", cmd_db, CLI_NEED_DB, "", "create the database or bring its schema up to date",
     NULL},
    {"db", "check", cmd_db, CLI_NEED_DB, "", "integrity check and schema version", NULL},
    {"config", "show", cmd_config, CLI_NEED_NOTHING, "[-n] [KEY...]", "every key's effective value",
     "  -n                      only the keys the file sets\n"},
    {"config", "defaults", cmd_config, CLI_NEED_NOTHING, "",
     "every key with its default and doc line", NULL},
    {"auth", NULL, cmd_auth, CLI_NEED_NOTHING, "--ip IP [--helo NAME] [--mail-from ADDR] < MESSAGE",
     "the Authentication-Results header and action postmeter-milter would give",
     "  --ip IP                 the connecting client's address\n"
     "  --helo NAME             its HELO name\n"
     "  --mail-from ADDR        the envelope sender\n"},
    {"spf", NULL, cmd_spf, CLI_NEED_NOTHING,
     "--ip IP [--helo NAME] [--mail-from ADDR] [--identity I]",
     "evaluate SPF as postmeter-milter would (exit 0 whatever the result)",
     "  --ip IP                 the connecting client's address\n"
     "  --helo NAME             its HELO name\n"
     "  --mail-from ADDR        the envelope sender\n"
     "  --identity I            check mailfrom (default) or helo\n"},
    {"dkim", "keygen", cmd_dkim, CLI_NEED_KEYS, "DOMAIN [--selector S] [--algorithm A] [--bits N]",
     "make a signing key (pending if the domain signs) and print its TXT record",
     "  --selector S            the selector (default: one for today)\n"
     "  --algorithm A           rsa (default) or ed25519\n"
     "  --bits N                RSA key size\n"},
    {"dkim", "list", cmd_dkim, CLI_NEED_DB, "[DOMAIN] [--format table|csv|json|ndjson]",
     "the stored keys", NULL},
    {"dkim", "rotate", cmd_dkim, CLI_NEED_KEYS,
     "DOMAIN [--selector S] [--algorithm A] [--bits N]\n"
     "       | DOMAIN --activate [SELECTOR] [--force]",
     "make a pending key; --activate: sign with it, retire the old one",
     "  --activate [SELECTOR]   sign with the published pending key\n"
     "  --force                 activate even if its record is not in DNS\n"},
    {"dkim", "remove", cmd_dkim, CLI_NEED_KEYS, "DOMAIN SELECTOR [--delete-file] [--force]",
     "forget a key",
     "  --delete-file           delete its key file too\n"
     "  --force                 even the active key\n"},
    {"dns", NULL, cmd_dns, CLI_NEED_KEYS, "DOMAIN [--mx HOST] [--rua MAILTO] [--check]",
     "the DKIM, SPF, DMARC and MX records to publish (zone-file syntax)",
     "  --mx HOST               the MX host (default: none)\n"
     "  --rua MAILTO            where DMARC aggregate reports go\n"
     "  --check                 compare with DNS; exit 1 if a record is wrong\n"},
    {"track", "add", cmd_track, CLI_NEED_DB,
     "ADDRESS|@DOMAIN [--recipient] [--disabled] [--note TEXT]",
     "track outbound mail from (or, --recipient, to) an address or domain",
     "  --recipient             match a recipient, not the sender\n"
     "  --disabled              add the rule disabled\n"
     "  --note TEXT             a note for the admin\n"},
    {"track", "list", cmd_track, CLI_NEED_DB, "[--format table|csv|json|ndjson]",
     "the tracking rules", NULL},
    {"track", "enable", cmd_track, CLI_NEED_DB, "ID", "enable a rule", NULL},
    {"track", "disable", cmd_track, CLI_NEED_DB, "ID", "disable a rule", NULL},
    {"track", "remove", cmd_track, CLI_NEED_DB, "ID", "remove a rule", NULL},
    {"status", NULL, cmd_status, CLI_NEED_DB, "[--format text|json]",
     "the milter, its keys and its ledger on one screen (exit 1: attention)", NULL},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char globals_text[] =
    "global options (before or after the command):\n"
    "  -c FILE, --config FILE  the configuration file\n"
    "                          (default " CONFIG_DEFAULT_PATH ")\n"
    "  --utc                   read and show times in UTC, not local time\n"
    "  -h, --help              this usage; -V, --version: the version\n";
static const char times_text[] = "T is " TIMEARG_FORMS_WRAPPED ".\n";

static const struct cli_command *current;

/* cli_set_command - the command that runs now, for messages */
void cli_set_command(const struct cli_command *cmd)
{
    current = cmd;
}

/* words - "name" or "name sub" of cmd ("" for none) into out[len] */
static const char *words(const struct cli_command *cmd, char *out, size_t len)
{
    if (cmd == NULL)
        snprintf_cut(out, len, "%s", "");
    else
        snprintf_cut(out, len, "%s%s%s", cmd->name, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
    return out;
}

/* try_line - "; try 'postmeter [WORDS ]--help'" and the newline, on stderr */
static void try_line(const char *w)
{
    fprintf(stderr, "; try 'postmeter %s%s--help'\n", w, *w ? " " : "");
}

/* cli_usage - one usage error line about the current command */
int cli_usage(const char *fmt, ...)
{
    char w[64];
    va_list ap;

    words(current, w, sizeof(w));
    fprintf(stderr, "postmeter: %s%s", w, *w ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    try_line(w);
    return CLI_USAGE;
}

/* cli_time_option - --since or --until into *since or *until (see usage.h) */
int cli_time_option(int ch, const char *arg, int64_t now, int64_t *since, int64_t *until,
                    bool given[2])
{
    if (!timearg_parse(arg, now, timearg_utc(), ch == 's' ? since : until))
        return cli_usage("--%s: '%s' is not a time; use %s", ch == 's' ? "since" : "until", arg,
                         TIMEARG_FORMS);
    given[ch == 'u'] = true;
    return -1;
}

/* cli_bad_option - the usage error for getopt_long()'s '?' or ':' */
int cli_bad_option(int ch, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    size_t n = strcspn(arg, "=");
    char w[64];

    words(current, w, sizeof(w));
    if (ch == ':')
        fprintf(stderr, "postmeter: option '%.*s' for '%s' needs a value", (int)n, arg, w);
    else if (strncmp(arg, "--", 2) == 0 && optopt != 0)
        fprintf(stderr, "postmeter: option '%.*s' for '%s' takes no value", (int)n, arg, w);
    else if (optopt != 0)
        fprintf(stderr, "postmeter: unknown option '-%c' for '%s'", optopt, w);
    else
        fprintf(stderr, "postmeter: unknown option '%.*s' for '%s'", (int)n, arg, w);
    try_line(w);
    return CLI_USAGE;
}

/* take_value - the value of global option opt at argv[*i] ("-cFILE", "--config=F", or next) */
static const char *take_value(int argc, char **argv, int *i, const char *opt, size_t optlen)
{
    const char *a = argv[*i] + optlen;

    if (*a == '=' && opt[1] == '-')
        return a + 1;
    if (*a != '\0' && opt[1] != '-')
        return a;
    if (*a != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/*
 * is_global - argv[i] is a global option (-h, --help, -V, --version,
 * --utc, -c, --config); *skip: it takes the next argument as its value
 */
static bool is_global(char **argv, int i, bool *skip)
{
    const char *a = argv[i];

    *skip = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0;
    return *skip || strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-V") == 0 ||
           strcmp(a, "--version") == 0 || strcmp(a, "--utc") == 0 || strncmp(a, "-c", 2) == 0 ||
           strncmp(a, "--config=", 9) == 0;
}

/* command_in - the command argv names, its globals (and their values) left out; NULL if none */
static const struct cli_command *command_in(int argc, char **argv)
{
    const char *w[2] = {NULL, NULL};
    int n = 0;
    bool skip;

    for (int i = 1; i < argc && n < 2 && strcmp(argv[i], "--") != 0; i++) {
        if (is_global(argv, i, &skip))
            i += skip;
        else if (argv[i][0] == '-')
            break; /* the command's own options come after its words */
        else
            w[n++] = argv[i];
    }
    for (size_t i = 0; w[0] && i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, w[0]) == 0 &&
            (commands[i].sub == NULL || (w[1] && strcmp(commands[i].sub, w[1]) == 0)))
            return &commands[i];
    return NULL;
}

/*
 * takes_value - option a (no "=VALUE" in it) of cmd takes the next
 * argument as its value: its options text shows it followed by one
 * space and a placeholder ("  --subject TEXT  ..."), not by the two
 * spaces before a description
 */
static bool takes_value(const struct cli_command *cmd, const char *a)
{
    size_t n = strlen(a);

    if (cmd == NULL || cmd->options == NULL || a[0] != '-' || strchr(a, '=') != NULL)
        return false;
    for (const char *p = strstr(cmd->options, a); p; p = strstr(p + 1, a))
        if (p > cmd->options && (p[-1] == ' ' || p[-1] == '\n') && p[n] == ' ' && p[n + 1] != ' ' &&
            p[n + 1] != '\n')
            return true;
    return false;
}

/* cli_globals_take - take the global options out of argv wherever they stand */
int cli_globals_take(int *argc, char **argv, struct cli_globals *g)
{
    const struct cli_command *cmd = command_in(*argc, argv);
    int out = 1, i;

    memset(g, 0, sizeof(*g));
    for (i = 1; i < *argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];

        if (takes_value(cmd, a) && i + 1 < *argc) {
            /* the command's option and its value, which may look like a global */
            argv[out++] = argv[i++];
            argv[out++] = argv[i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            g->help = true;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            g->version = true;
        } else if (strcmp(a, "--utc") == 0) {
            g->utc = true;
        } else if (strncmp(a, "-c", 2) == 0 || strncmp(a, "--config", 8) == 0) {
            bool lng = a[1] == '-';

            if (lng && a[8] != '\0' && a[8] != '=') {
                argv[out++] = argv[i];
                continue;
            }
            if ((g->config = take_value(*argc, argv, &i, lng ? "--config" : "-c", lng ? 8 : 2)) ==
                NULL) {
                fprintf(stderr,
                        "postmeter: option '%s' needs a value (the configuration "
                        "file); try 'postmeter --help'\n",
                        lng ? "--config" : "-c");
                return CLI_USAGE;
            }
        } else {
            argv[out++] = argv[i];
        }
    }
    while (i < *argc)
        argv[out++] = argv[i++];
    argv[out] = NULL;
    *argc = out;
    return -1;
}

/* subs_of - the subcommands of name as "a, b, c" into out[len]; false if name is no command */
static bool subs_of(const char *name, char *out, size_t len)
{
    bool found = false;

    out[0] = '\0';
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        found = true;
        if (commands[i].sub)
            snprintf_cut(out + strlen(out), len - strlen(out), "%s%s", out[0] ? ", " : "",
                         commands[i].sub);
    }
    return found;
}

/* cli_find - the command argv[0] [argv[1]] names */
const struct cli_command *cli_find(int argc, char **argv, int *status)
{
    char subs[256];

    *status = CLI_USAGE;
    if (argc < 1 || argv[0][0] == '-') {
        if (argc < 1)
            fprintf(stderr, "postmeter: no command given");
        else
            fprintf(stderr, "postmeter: unknown option '%s'", argv[0]);
        try_line("");
        return NULL;
    }
    if (!subs_of(argv[0], subs, sizeof(subs))) {
        fprintf(stderr, "postmeter: unknown command '%s'", argv[0]);
        try_line("");
        return NULL;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, argv[0]) != 0)
            continue;
        if (commands[i].sub == NULL || (argc >= 2 && strcmp(commands[i].sub, argv[1]) == 0))
            return &commands[i];
    }
    if (argc < 2)
        fprintf(stderr, "postmeter: '%s' needs a subcommand (%s)", argv[0], subs);
    else
        fprintf(stderr, "postmeter: unknown command '%s %s' (%s has %s)", argv[0], argv[1], argv[0],
                subs);
    try_line(argv[0]);
    return NULL;
}

/* print_one - the usage line of cmd, with its summary */
static void print_one(const struct cli_command *cmd, bool details)
{
    char w[64];

    words(cmd, w, sizeof(w));
    printf("%s %s%s%s\n", details ? "usage: postmeter" : "  postmeter", w,
           *cmd->synopsis ? " " : "", cmd->synopsis);
    printf(details ? "\n%s.\n" : "      %s\n", cmd->summary);
    if (details && cmd->options)
        printf("\noptions:\n%s", cmd->options);
}

/* cli_complete - "help --complete": every command's line for the bash completion (complete.h) */
static int cli_complete(void)
{
    complete_print("-", NULL, "", globals_text);
    complete_print("help", NULL, "", NULL);
    for (size_t i = 0; i < NCOMMANDS; i++)
        complete_print(commands[i].name, commands[i].sub, commands[i].synopsis,
                       commands[i].options);
    return CLI_OK;
}

/* cli_help - usage of the command the words name, on stdout */
int cli_help(int argc, char **argv)
{
    const struct cli_command *cmd = NULL;
    char subs[256];
    int status;

    if (argc == 1 && strcmp(argv[0], "--complete") == 0) /* hidden: for the bash completion */
        return cli_complete();
    if (argc >= 1 && !subs_of(argv[0], subs, sizeof(subs))) {
        fprintf(stderr, "postmeter: help: unknown command '%s'", argv[0]);
        try_line("");
        return CLI_USAGE;
    }
    if (argc >= 2 || (argc == 1 && subs[0] == '\0')) {
        if ((cmd = cli_find(argc, argv, &status)) == NULL)
            return status;
        print_one(cmd, true);
        printf("\n%s%s", globals_text,
               (cmd->run == cmd_report || cmd->run == cmd_report_summary ||
                cmd->run == cmd_report_opens)
                   ? times_text
                   : "");
        return CLI_OK;
    }
    printf("usage: postmeter [-c FILE] [--utc] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (argc == 0 || strcmp(commands[i].name, argv[0]) == 0)
            print_one(&commands[i], false);
    printf("\n%s%s\n'postmeter help COMMAND [SUB]' or 'postmeter COMMAND [SUB] --help' shows "
           "a\ncommand's options; postmeter(1) has the details.\n",
           globals_text, times_text);
    return CLI_OK;
}
