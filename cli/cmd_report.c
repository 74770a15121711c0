/*
 * cmd_report.c - postmeter report messages | auth: the ledger, filtered,
 * as a table, CSV or JSON. Read-only; never changes the database.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "timeutil.h"
#include "util.h"

static const struct out_col message_cols[] = {
    {"received_at", OUT_STR, true}, {"direction", OUT_STR, true}, {"queue_id", OUT_STR, true},
    {"message_id", OUT_STR, false}, {"mail_from", OUT_STR, true}, {"recipients", OUT_LIST, true},
    {"header_from", OUT_STR, true}, {"subject", OUT_STR, false},  {"client_ip", OUT_STR, true},
    {"client_ptr", OUT_STR, false}, {"helo", OUT_STR, false},     {"sasl_user", OUT_STR, false},
    {"size", OUT_INT, true},        {"action", OUT_STR, true},    {"host", OUT_STR, false},
    {"dmarc", OUT_STR, true},       {"auth", OUT_LIST, false},
};
#define NCOLS (sizeof(message_cols) / sizeof(message_cols[0]))

/* auth_text - one result as "method=result key=value ..."; caller frees */
static char *auth_text(const struct ledger_auth *a)
{
    const char *const kv[][2] = {
        {"identity", a->identity}, {"selector", a->selector},       {"algorithm", a->algorithm},
        {"policy", a->policy},     {"disposition", a->disposition}, {"reason", a->reason},
    };
    struct buf b = BUF_INIT;

    buf_printf(&b, "%s=%s", a->method, a->result);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (kv[i][1])
            buf_printf(&b, " %s=%s", kv[i][0], kv[i][1]);
    return buf_steal(&b);
}

/* message_row - one ledger record as an output row */
static int message_row(const struct ledger_msg *m, void *arg)
{
    char when[TIME_ISO_LEN];
    char **auth = xcalloc(m->nauth + 1, sizeof(*auth));
    const char *dmarc = NULL;

    for (size_t i = 0; i < m->nauth; i++) {
        auth[i] = auth_text(&m->auth[i]);
        if (strcmp(m->auth[i].method, "dmarc") == 0)
            dmarc = m->auth[i].result;
    }
    struct out_val v[NCOLS] = {
        {.s = time_format_iso(m->received_at, when)},
        {.s = ledger_direction_name(m->direction)},
        {.s = m->queue_id},
        {.s = m->message_id},
        {.s = m->mail_from},
        {.list = m->rcpts, .n = m->nrcpts},
        {.s = m->header_from},
        {.s = m->subject},
        {.s = m->client_ip},
        {.s = m->client_ptr},
        {.s = m->helo},
        {.s = m->sasl_user},
        {.i = m->size},
        {.s = m->action},
        {.s = m->host},
        {.s = dmarc},
        {.list = auth, .n = m->nauth},
    };

    out_row(arg, v);
    for (size_t i = 0; i < m->nauth; i++)
        free(auth[i]);
    free(auth);
    return 0;
}

/* parse_time_opt - --since/--until value or exit with usage */
static int64_t parse_time_opt(const char *opt, const char *v, int64_t now)
{
    int64_t t;

    if (!time_parse(v, now, &t)) {
        fprintf(stderr, "postmeter: %s: \"%s\" is not a time (ISO 8601, now, 30m, 12h, 7d, 2w)\n",
                opt, v);
        exit(CLI_USAGE);
    }
    return t;
}

/* The options of every report; each report accepts a subset. */
struct report_args {
    int64_t since, until;
    const char *sender, *recipient, *domain;
    size_t limit;
    enum out_format format;
};

/*
 * report_parse - parse argv with opts (a subset of since, until, sender,
 * recipient, domain, limit, format) into *a; -1 when all is well, else
 * the exit status to return.
 */
static int report_parse(const char *kind, const struct option *opts, int argc, char **argv,
                        struct report_args *a)
{
    int64_t now = time_now();
    char *end;
    int ch;

    memset(a, 0, sizeof(*a));
    a->format = OUT_TABLE;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            a->since = parse_time_opt("--since", optarg, now);
            break;
        case 'u':
            a->until = parse_time_opt("--until", optarg, now);
            break;
        case 'f':
            a->sender = optarg;
            break;
        case 'r':
            a->recipient = optarg;
            break;
        case 'd':
            a->domain = optarg;
            break;
        case 'n':
            a->limit = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0') {
                fprintf(stderr, "postmeter: --limit: \"%s\" is not a number\n", optarg);
                return CLI_USAGE;
            }
            break;
        case 'F':
            if (!out_parse_format(optarg, &a->format)) {
                fprintf(stderr, "postmeter: --format: use table, csv or json\n");
                return CLI_USAGE;
            }
            break;
        default:
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "postmeter: report %s: unexpected \"%s\"\n", kind, argv[optind]);
        return CLI_USAGE;
    }
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
        {"format", required_argument, NULL, 'F'},
        {"limit", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    struct report_args a;
    struct store_msg_filter f;
    struct store *s;
    struct out *o;
    enum store_status st;
    int rc;

    if ((rc = report_parse("messages", opts, argc, argv, &a)) >= 0)
        return rc;
    f = (struct store_msg_filter){.since = a.since,
                                  .until = a.until,
                                  .sender = a.sender,
                                  .recipient = a.recipient,
                                  .limit = a.limit};
    s = cli_open_store(c, STORE_READONLY | STORE_NOCREATE);
    o = out_new(a.format, message_cols, NCOLS, stdout);
    st = store_report_messages(s, &f, message_row, o);
    out_end(o);
    return report_done(c, s, st);
}

static const struct out_col auth_cols[] = {
    {"domain", OUT_STR, true},      {"messages", OUT_INT, true},   {"spf_pass", OUT_INT, true},
    {"spf_fail", OUT_INT, true},    {"dkim_pass", OUT_INT, true},  {"dkim_fail", OUT_INT, true},
    {"dmarc_pass", OUT_INT, true},  {"dmarc_fail", OUT_INT, true}, {"rejected", OUT_INT, true},
    {"quarantined", OUT_INT, true},
};
#define NAUTHCOLS (sizeof(auth_cols) / sizeof(auth_cols[0]))

/* auth_row - one domain's counts as an output row */
static int auth_row(const struct store_auth_row *r, void *arg)
{
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
    };

    out_row(arg, v);
    return 0;
}

/* report_auth - postmeter report auth [--since T] [--until T] [--domain D] [--format F] */
static int report_auth(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"domain", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    struct report_args a;
    struct store_auth_filter f;
    struct store *s;
    struct out *o;
    enum store_status st;
    int rc;

    if ((rc = report_parse("auth", opts, argc, argv, &a)) >= 0)
        return rc;
    f = (struct store_auth_filter){.since = a.since, .until = a.until, .domain = a.domain};
    s = cli_open_store(c, STORE_READONLY | STORE_NOCREATE);
    o = out_new(a.format, auth_cols, NAUTHCOLS, stdout);
    st = store_report_auth(s, &f, auth_row, o);
    out_end(o);
    return report_done(c, s, st);
}

/* cmd_report - report KIND ... */
int cmd_report(const struct config *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "messages") == 0)
        return report_messages(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "auth") == 0)
        return report_auth(c, argc - 1, argv + 1);
    fprintf(stderr, "usage: postmeter report messages|auth [options]\n");
    return CLI_USAGE;
}
