/*
 * cmd_report.c - postmeter report messages | auth: the ledger, filtered,
 * as a table, CSV, JSON or NDJSON (output.h). Read-only; never changes
 * the database. The column names are the JSON field names: postmeter(1)
 * documents them, and a rename breaks every script that reads them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "report_story.h"
#include "timearg.h"
#include "timeutil.h"
#include "usage.h"
#include "util.h"

static const struct out_col message_cols[] = {
    {"received_at", OUT_TIME, true}, {"direction", OUT_STR, true}, {"queue_id", OUT_STR, true},
    {"message_id", OUT_STR, false},  {"mail_from", OUT_STR, true}, {"recipients", OUT_LIST, true},
    {"header_from", OUT_STR, true},  {"subject", OUT_STR, false},  {"client_ip", OUT_STR, false},
    {"client_ptr", OUT_STR, false},  {"helo", OUT_STR, false},     {"sasl_user", OUT_STR, false},
    {"size", OUT_INT, false},        {"action", OUT_STR, true},    {"host", OUT_STR, false},
    {"dmarc", OUT_STR, true},        {"auth", OUT_LIST, false},
};
#define NCOLS (sizeof(message_cols) / sizeof(message_cols[0]))
_Static_assert(NCOLS == STORY_MSG_VALS + 2, "message_cols: story_msg_vals, dmarc, auth");

/* message_row - one ledger record as an output row */
static int message_row(const struct ledger_msg *m, void *arg)
{
    char **auth = story_auth_list(m);
    const char *dmarc = NULL;

    for (size_t i = 0; i < m->nauth; i++)
        if (strcmp(m->auth[i].method, "dmarc") == 0)
            dmarc = m->auth[i].result;
    struct out_val v[NCOLS];

    story_msg_vals(m, v);
    v[STORY_MSG_VALS] = (struct out_val){.s = dmarc};
    v[STORY_MSG_VALS + 1] = (struct out_val){.list = auth, .n = m->nauth};

    out_row(arg, v);
    story_list_free(auth);
    return 0;
}

/* The options of every report; each report accepts a subset. */
struct report_args {
    int64_t since, until;
    const char *domain;
    struct store_msg_filter f; /* report messages */
    enum out_format format;
    bool wide;
};

/* one_of - is v one of the words in list (NULL-terminated)? */
static bool one_of(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(v, *list) == 0)
            return true;
    return false;
}

static const char *const results[] = {"pass",      "fail",      "softfail", "neutral", "none",
                                      "temperror", "permerror", "policy",   NULL};
static const char *const actions[] = {"accept",     "reject",  "tempfail",
                                      "quarantine", "discard", NULL};
static const char *const directions[] = {"inbound", "outbound", NULL};

/* word_opt - value v of option opt if it is one of list, else NULL (with the usage error) */
static const char *word_opt(const char *opt, const char *v, const char *const *list)
{
    struct buf b = BUF_INIT;

    if (one_of(v, list))
        return v;
    for (size_t i = 0; list[i]; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", list[i]);
    cli_usage("--%s: '%s' is not one of %s", opt, v, buf_cstr(&b));
    buf_free(&b);
    return NULL;
}

/* sender_opt - --sender A: an address, or a domain (example.org, @example.org) */
static void sender_opt(const char *v, struct store_msg_filter *f)
{
    const char *at = strrchr(v, '@');

    f->sender = f->sender_domain = NULL;
    if (at == NULL)
        f->sender_domain = v;
    else if (at == v)
        f->sender_domain = v + 1;
    else
        f->sender = v;
}

/*
 * report_parse - parse argv with opts into *a; -1 when all is well, else
 * the exit status to return. The option's val is its short name below.
 */
static int report_parse(const struct option *opts, int argc, char **argv, struct report_args *a)
{
    int64_t now = time_now();
    bool given[2] = {false, false}; /* --since, --until */
    char *end;
    int ch, rc;

    memset(a, 0, sizeof(*a));
    a->format = OUT_TABLE;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
        case 'u':
            if ((rc = cli_time_option(ch, optarg, now, &a->since, &a->until, given)) >= 0)
                return rc;
            break;
        case 'f':
            sender_opt(optarg, &a->f);
            if (*optarg == '\0' || strcmp(optarg, "@") == 0)
                return cli_usage("--sender: give an address or a domain");
            break;
        case 'r':
            a->f.recipient = optarg;
            break;
        case 'd':
            a->domain = optarg;
            break;
        case 'D':
            a->f.from_domain = *optarg == '@' ? optarg + 1 : optarg;
            break;
        case 'q':
            a->f.queue_id = optarg;
            break;
        case 'm':
            a->f.message_id = optarg;
            break;
        case 'S':
            a->f.subject = optarg;
            break;
        case 'i':
            if ((a->f.direction = word_opt("direction", optarg, directions)) == NULL)
                return CLI_USAGE;
            break;
        case 'a':
            if ((a->f.action = word_opt("action", optarg, actions)) == NULL)
                return CLI_USAGE;
            break;
        case 'P':
            if ((a->f.spf = word_opt("spf", optarg, results)) == NULL)
                return CLI_USAGE;
            break;
        case 'K':
            if ((a->f.dkim = word_opt("dkim", optarg, results)) == NULL)
                return CLI_USAGE;
            break;
        case 'M':
            if ((a->f.dmarc = word_opt("dmarc", optarg, results)) == NULL)
                return CLI_USAGE;
            break;
        case 'n':
            a->f.limit = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || a->f.limit == 0)
                return cli_usage("--limit: '%s' is not a number of messages (1 or more)", optarg);
            break;
        case 'F':
            if (!out_parse_format(optarg, &a->format))
                return cli_usage("--format: '%s' is not table, csv, json or ndjson", optarg);
            break;
        case 'w':
            a->wide = true;
            break;
        default:
            return cli_bad_option(ch, argv);
        }
    }
    if (optind != argc)
        return cli_usage("unexpected '%s'", argv[optind]);
    if (given[0] && given[1] && a->until <= a->since)
        return cli_usage("--until is not after --since: no time is between them");
    timearg_range(&a->since, given[0], &a->until, given[1]);
    return -1;
}

/* report_done - say why a report failed, close the store; the exit status */
static int report_done(const struct config *c, struct store *s, enum store_status st)
{
    if (st != STORE_OK)
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
    store_close(s);
    return st == STORE_OK ? CLI_OK : CLI_FAIL;
}

/* report_messages - postmeter report messages [filters] [--format F] */
static int report_messages(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"sender", required_argument, NULL, 'f'},
        {"recipient", required_argument, NULL, 'r'},
        {"from-domain", required_argument, NULL, 'D'},
        {"direction", required_argument, NULL, 'i'},
        {"action", required_argument, NULL, 'a'},
        {"spf", required_argument, NULL, 'P'},
        {"dkim", required_argument, NULL, 'K'},
        {"dmarc", required_argument, NULL, 'M'},
        {"queue-id", required_argument, NULL, 'q'},
        {"message-id", required_argument, NULL, 'm'},
        {"subject", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'F'},
        {"wide", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct report_args a;
    struct store *s;
    struct out *o;
    enum store_status st;
    int rc;

    if ((rc = report_parse(opts, argc, argv, &a)) >= 0)
        return rc;
    a.f.since = a.since;
    a.f.until = a.until;
    s = cli_open_store(c, STORE_READONLY | STORE_NOCREATE);
    o = out_new(a.format, message_cols, NCOLS, stdout);
    out_set_wide(o, a.wide);
    st = store_report_messages(s, &a.f, message_row, o);
    out_end(o);
    return report_done(c, s, st);
}

static const struct out_col auth_cols[] = {
    {"domain", OUT_STR, true},           {"messages", OUT_INT, true},
    {"spf_pass", OUT_INT, true},         {"spf_fail", OUT_INT, true},
    {"dkim_pass", OUT_INT, true},        {"dkim_fail", OUT_INT, true},
    {"dmarc_pass", OUT_INT, true},       {"dmarc_fail", OUT_INT, true},
    {"rejected", OUT_INT, true},         {"quarantined", OUT_INT, true},
    {"failure_reasons", OUT_LIST, true}, {"dkim_selectors", OUT_LIST, true},
};
#define NAUTHCOLS (sizeof(auth_cols) / sizeof(auth_cols[0]))

/* auth_row - one domain's counts as an output row */
static int auth_row(const struct store_auth_row *r, void *arg)
{
    char *reasons[STORE_AUTH_TOP], *sels[STORE_AUTH_TOP];
    size_t nr = r->nreasons < STORE_AUTH_TOP ? r->nreasons : STORE_AUTH_TOP;
    size_t ns = r->nselectors < STORE_AUTH_TOP ? r->nselectors : STORE_AUTH_TOP;

    for (size_t i = 0; i < nr; i++) { /* "dkim=fail: body hash mismatch (3)" */
        const struct store_auth_reason *x = &r->reasons[i];

        reasons[i] = xasprintf("%s=%s%s%s (%lld)", x->method, x->result, *x->reason ? ": " : "",
                               x->reason, (long long)x->count);
    }
    for (size_t i = 0; i < ns; i++) /* "s1._domainkey.example.org (4)": the key's DNS name */
        sels[i] = xasprintf("%s._domainkey.%s (%lld)", r->selectors[i].selector,
                            r->selectors[i].domain, (long long)r->selectors[i].count);
    struct out_val v[NAUTHCOLS] = {
        {.s = r->domain[0] ? r->domain : "(no From domain)"},
        {.i = r->messages},
        {.i = r->spf_pass},
        {.i = r->spf_fail},
        {.i = r->dkim_pass},
        {.i = r->dkim_fail},
        {.i = r->dmarc_pass},
        {.i = r->dmarc_fail},
        {.i = r->rejected},
        {.i = r->quarantined},
        {.list = reasons, .n = nr},
        {.list = sels, .n = ns},
    };

    out_row(arg, v);
    for (size_t i = 0; i < nr; i++)
        free(reasons[i]);
    for (size_t i = 0; i < ns; i++)
        free(sels[i]);
    return 0;
}

/* report_auth - postmeter report auth [--since T] [--until T] [--domain D] [--format F] */
static int report_auth(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},  {"until", required_argument, NULL, 'u'},
        {"domain", required_argument, NULL, 'd'}, {"format", required_argument, NULL, 'F'},
        {"wide", no_argument, NULL, 'w'},         {NULL, 0, NULL, 0},
    };
    struct report_args a;
    struct store_auth_filter f;
    struct store *s;
    struct out *o;
    enum store_status st;
    int rc;

    if ((rc = report_parse(opts, argc, argv, &a)) >= 0)
        return rc;
    f = (struct store_auth_filter){.since = a.since, .until = a.until, .domain = a.domain};
    s = cli_open_store(c, STORE_READONLY | STORE_NOCREATE);
    o = out_new(a.format, auth_cols, NAUTHCOLS, stdout);
    out_set_wide(o, a.wide);
    st = store_report_auth(s, &f, auth_row, o);
    out_end(o);
    return report_done(c, s, st);
}

/* cmd_report - report messages|auth ...: main.c checked the subcommand (usage.c) */
int cmd_report(const struct config *c, int argc, char **argv)
{
    if (strcmp(argv[1], "messages") == 0)
        return report_messages(c, argc - 1, argv + 1);
    return report_auth(c, argc - 1, argv + 1);
}
