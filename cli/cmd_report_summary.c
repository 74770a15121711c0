/*
 * cmd_report_summary.c - postmeter report summary | opens: the
 * numbers of store_summary.h as aligned tables (output.h) or, with
 * --format html, as one self-contained page (report_html.h).
 * Read-only: never changes the database or any file.
 *
 * The table columns of report opens are its CSV and JSON field names
 * too: postmeter(1) documents them.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmd_report_summary.h"
#include "output.h"
#include "report_html.h"
#include "report_mail.h"
#include "report_num.h"
#include "status.h"
#include "timearg.h"
#include "timeutil.h"
#include "usage.h"
#include "util.h"

#define SUMMARY_TOP_DEFAULT 10
#define SUMMARY_DEFAULT_S   86400 /* without --since: the last 24 hours */

/* What the options of both reports said. */
struct sum_args {
    int64_t since, until;
    bool html, wide;
    enum out_format format;
    unsigned top;
    struct store_opens_filter of;
    const char *mail_to; /* --mail-to ADDR (report_mail.h) */
};

/* local_offset - seconds east of UTC at t where days start (0 with --utc) */
static int64_t local_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (timearg_utc() || localtime_r(&tt, &tm) == NULL)
        return 0;
    return (int64_t)tm.tm_gmtoff;
}

/* by_opt - the grouping named v; false if none */
static bool by_opt(const char *v, enum store_opens_by *by)
{
    for (int i = STORE_BY_MESSAGE; i <= STORE_BY_SUBJECT; i++)
        if (strcmp(v, report_by_name((enum store_opens_by)i)) == 0) {
            *by = (enum store_opens_by)i;
            return true;
        }
    return false;
}

/* sum_parse - the options (opts) into *a; -1 if all is well, else the exit status */
static int sum_parse(const struct option *opts, bool opens, int argc, char **argv,
                     struct sum_args *a)
{
    int64_t now = time_now();
    bool given[2] = {false, false}; /* --since, --until */
    unsigned long n;
    char *end;
    int ch, rc;

    memset(a, 0, sizeof(*a));
    a->top = SUMMARY_TOP_DEFAULT;
    a->format = OUT_TABLE;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
        case 'u':
            if ((rc = cli_time_option(ch, optarg, now, &a->since, &a->until, given)) >= 0)
                return rc;
            break;
        case 't':
            n = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || n > STORE_SUMMARY_TOP_MAX)
                return cli_usage("--top: '%s' is not a number from 0 to %d", optarg,
                                 STORE_SUMMARY_TOP_MAX);
            a->top = (unsigned)n;
            break;
        case 'b':
            if (!by_opt(optarg, &a->of.by))
                return cli_usage("--by: '%s' is not message, sender, recipient, day or subject",
                                 optarg);
            break;
        case 'f':
            if (*optarg == '\0' || strcmp(optarg, "@") == 0)
                return cli_usage("--sender: give an address or a domain");
            if (strrchr(optarg, '@') == NULL || optarg[0] == '@')
                a->of.sender_domain = optarg[0] == '@' ? optarg + 1 : optarg;
            else
                a->of.sender = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "html") == 0)
                a->html = true;
            else if (!out_parse_format(optarg, &a->format) || (!opens && a->format != OUT_TABLE))
                return cli_usage("--format: '%s' is not %s", optarg,
                                 opens ? "table, csv, json, ndjson or html" : "table or html");
            break;
        case 'w':
            a->wide = true;
            break;
        case 'M':
            a->mail_to = optarg;
            break;
        default:
            return cli_bad_option(ch, argv);
        }
    }
    if (optind != argc)
        return cli_usage("unexpected '%s'", argv[optind]);
    if (!opens && !given[0]) {
        a->since = (given[1] ? a->until : now) - SUMMARY_DEFAULT_S;
        given[0] = true;
    }
    if (given[0] && given[1] && a->until <= a->since)
        return cli_usage("--until is not after --since: no time is between them");
    timearg_range(&a->since, given[0], &a->until, given[1]);
    a->of.since = a->since;
    a->of.until = a->until;
    a->of.utc_offset = local_offset(a->until ? a->until : now);
    return -1;
}

/* table - print rows of text cells (all OUT_STR) under a title, as one aligned table */
static void table(const char *title, const struct out_col *cols, size_t ncols, const char **cells,
                  size_t nrows)
{
    struct out *o;
    struct out_val *v = xcalloc(ncols, sizeof(*v));

    printf("\n%s\n", title);
    fflush(stdout);
    o = out_new(OUT_TABLE, cols, ncols, stdout);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++)
            v[c].s = cells[r * ncols + c];
        out_row(o, v);
    }
    out_end(o);
    free(v);
}

/* Text cells: each one a copy, freed together. */
struct cells {
    const char **c;
    size_t n;
};

/* put - a printf-made cell */
static void put(struct cells *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct cells *cs, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cs->c = xrealloc(cs->c, (cs->n + 1) * sizeof(*cs->c));
    cs->c[cs->n++] = buf_steal(&b);
}

/* put_count - n as a cell if known, else "unknown" */
static void put_count(struct cells *cs, bool known, long long n)
{
    if (known)
        put(cs, "%lld", n);
    else
        put(cs, "unknown");
}

/* cells_free - free the cells and start again */
static void cells_free(struct cells *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        free((char *)cs->c[i]);
    free(cs->c);
    cs->c = NULL;
    cs->n = 0;
}

#define S(name)                                                                                    \
    {                                                                                              \
        name, OUT_STR, true                                                                        \
    }

/* group_unit - what a group of mode counts: recipients (pipe) or messages */
static const char *group_unit(const struct store_opens_group *g)
{
    return strcmp(g->mode, "pipe") == 0 ? "recipients" : "messages";
}

/* group_row - a group's numbers as cells: mode, unit, counts, rates, times (as opens_row) */
static void group_row(struct cells *cs, const struct store_opens_group *g)
{
    char r1[16], r2[16], d1[16], d2[16];

    put(cs, "%s", g->mode);
    put(cs, "%s", group_unit(g));
    put(cs, "%lld", (long long)g->tracked);
    put(cs, "%lld", (long long)g->with_pixel);
    put(cs, "%lld", (long long)g->human);
    put(cs, "%lld", (long long)g->machine_only);
    put(cs, "%lld", (long long)g->opened);
    put(cs, "%s", report_fmt_rate(g->human, g->with_pixel, r1));
    put(cs, "%s", report_fmt_rate(g->opened, g->with_pixel, r2));
    put(cs, "%s", report_fmt_duration(g->median_s, d1));
    put(cs, "%s", report_fmt_duration(g->p90_s, d2));
}

#define I(name)                                                                                    \
    {                                                                                              \
        name, OUT_INT, true                                                                        \
    }
/* report opens: its JSON field names (postmeter(1)); the counts are numbers */
#define GROUP_COLS                                                                                 \
    S("mode"), S("unit"), I("tracked"), I("with_pixel"), I("opened_by_person"), I("machine_only"), \
        I("opened_any"), S("estimated_open_rate"), S("raw_open_rate"), S("median_first_open"),     \
        S("p90_first_open")
#define NGROUP_COLS 11

/* summary_text - the summary as aligned tables and the totals line */
static void summary_text(const struct store_summary *s, const struct report_health *h)
{
    static const struct out_col mail_cols[] = {S("direction"), S("messages"),   S("accept"),
                                               S("reject"),    S("quarantine"), S("tempfail"),
                                               S("discard"),   S("other")};
    static const struct out_col auth_cols[] = {S("result"), S("messages"), S("of"), S("rate")};
    static const struct out_col top_cols[] = {S("from_domain"), S("messages"), S("dmarc_fail")};
    static const struct out_col track_cols[] = {
        S("mode"),     S("unit"),     S("tracked"),  S("with_pixel"), S("people"), S("machines"),
        S("any_open"), S("est_rate"), S("raw_rate"), S("median"),     S("p90")};
    static const struct out_col ttfo_cols[] = {S("first_human_open_after"), S("tracked")};
    static const struct out_col ledger_cols[] = {S("ledger"), S("value")};
    struct cells cs = {NULL, 0};
    char a[TIMEARG_LEN], z[TIMEARG_LEN], r[16];

    printf("postmeter summary from %s to %s\n", timearg_format(s->since, timearg_utc(), false, a),
           s->until ? timearg_format(s->until, timearg_utc(), false, z) : "now");
    for (size_t d = 0; d < 2; d++) {
        put(&cs, "%s", d ? "outbound" : "inbound");
        put(&cs, "%lld", (long long)s->messages[d]);
        for (size_t k = 0; k < STORE_ACTIONS; k++)
            put(&cs, "%lld", (long long)s->actions[d][k]);
    }
    table("Mail:", mail_cols, 8, cs.c, 2);
    cells_free(&cs);
    printf("totals: %lld inbound + %lld outbound = %lld messages =", (long long)s->messages[0],
           (long long)s->messages[1], (long long)(s->messages[0] + s->messages[1]));
    for (size_t k = 0; k < STORE_ACTIONS; k++)
        printf("%s %lld %s", k ? " +" : "", (long long)(s->actions[0][k] + s->actions[1][k]),
               store_action_name((enum store_action)k));
    printf(
        "\n        %lld ledger rows = %lld messages + %lld copies (reinjected copies count once)\n",
        (long long)s->rows, (long long)(s->messages[0] + s->messages[1]), (long long)s->copies);
    const struct {
        const char *name;
        long long n, of;
    } au[] = {{"spf pass in", s->spf_pass, s->messages[0]},
              {"dkim pass in", s->dkim_pass, s->messages[0]},
              {"dmarc pass in", s->dmarc_pass, s->messages[0]},
              {"dmarc fail in", s->dmarc_fail, s->messages[0]},
              {"dkim signed out", s->signed_out, s->messages[1]}};
    for (size_t i = 0; i < sizeof(au) / sizeof(au[0]); i++) {
        put(&cs, "%s", au[i].name);
        put(&cs, "%lld", au[i].n);
        put(&cs, "%lld", au[i].of);
        put(&cs, "%s", report_fmt_rate(au[i].n, au[i].of, r));
    }
    table("Authentication:", auth_cols, 4, cs.c, 5);
    cells_free(&cs);
    for (size_t i = 0; i < s->ntop; i++) {
        put(&cs, "%s", s->top[i].domain[0] ? s->top[i].domain : "(no From domain)");
        put(&cs, "%lld", (long long)s->top[i].messages);
        put(&cs, "%lld", (long long)s->top[i].dmarc_fail);
    }
    table("Top failing From domains (DMARC):", top_cols, 3, cs.c, s->ntop);
    cells_free(&cs);
    for (size_t m = 0; m < 2; m++)
        group_row(&cs, &s->track[m]);
    table("Open tracking (estimated rate: people / with a pixel; raw: any fetch):", track_cols,
          NGROUP_COLS, cs.c, 2);
    cells_free(&cs);
    for (size_t i = 0; i < STORE_TTFO_BUCKETS; i++) {
        put(&cs, "%s", store_ttfo_label(i));
        put(&cs, "%lld", (long long)s->ttfo[i]);
    }
    table("Time to the first human open:", ttfo_cols, 2, cs.c, STORE_TTFO_BUCKETS);
    cells_free(&cs);
    put(&cs, "rows (all)");
    put(&cs, "%lld", (long long)s->all_rows);
    put(&cs, "tracked (all)");
    put(&cs, "%lld", (long long)s->all_tracked);
    put(&cs, "opens (all)");
    put(&cs, "%lld", (long long)s->all_opens);
    put(&cs, "database bytes");
    put(&cs, "%lld", (long long)s->db_bytes);
    put(&cs, "spooled since start");
    put_count(&cs, h->status_file, h->spooled);
    put(&cs, "dropped since start");
    put_count(&cs, h->status_file, h->dropped);
    put(&cs, "waiting in the spool");
    put_count(&cs, h->spool_records >= 0, h->spool_records);
    table("Ledger:", ledger_cols, 2, cs.c, 7);
    cells_free(&cs);
}

/* health - what the milter's status file and the spool say */
static void health(const struct config *c, struct report_health *h)
{
    struct status_info si;

    status_gather(c, &si);
    h->status_file = si.sf.present && si.sf.have_ledger;
    h->spooled = si.sf.spooled;
    h->dropped = si.sf.dropped;
    h->spool_records = si.spool_records;
    h->file_bytes = si.db_bytes;
    status_info_free(&si);
}

/* cmd_report_summary - postmeter report summary [--since T] [--until T] [--top N] [--format F] */
int cmd_report_summary(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},   {"until", required_argument, NULL, 'u'},
        {"top", required_argument, NULL, 't'},     {"format", required_argument, NULL, 'F'},
        {"mail-to", required_argument, NULL, 'M'}, {NULL, 0, NULL, 0},
    };
    struct sum_args a;
    struct store_summary_filter f;
    struct store_summary s;
    struct report_health h = {false, 0, 0, -1, -1};
    struct store *st;
    enum store_status rc;
    int status;

    if ((status = sum_parse(opts, false, argc - 1, argv + 1, &a)) >= 0)
        return status;
    f = (struct store_summary_filter){a.since, a.until, a.of.utc_offset, a.top};
    if ((st = cli_open_current(c)) == NULL)
        return CLI_FAIL;
    rc = store_summary(st, &f, &s);
    if (rc != STORE_OK) {
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(st));
        store_close(st);
        return CLI_FAIL;
    }
    store_close(st);
    health(c, &h);
    if (a.mail_to)
        status = report_mail_summary(c, a.mail_to, &s, &h, summary_text);
    else if (a.html)
        report_html_summary(&s, &h, stdout);
    else
        summary_text(&s, &h);
    store_summary_free(&s);
    return a.mail_to ? status : CLI_OK;
}

/* The groups of report opens, kept for the page (strings copied). */
struct opens_out {
    struct out *o;
    enum store_opens_by by;
    struct store_opens_group *g;
    size_t n;
};

/* opens_row - one group: a row of the table, or kept for the page */
static int opens_row(const struct store_opens_group *g, void *arg)
{
    struct opens_out *oo = arg;
    struct out_val v[3 + NGROUP_COLS];
    char day[16], r1[16], r2[16], d1[16], d2[16];
    size_t k = 0;

    if (oo->o == NULL) {
        struct store_opens_group *c;

        oo->g = xrealloc(oo->g, (oo->n + 1) * sizeof(*oo->g));
        c = &oo->g[oo->n++];
        *c = *g;
        c->mode = xstrdup(g->mode);
        c->key = xstrdup(g->key);
        c->sender = g->sender ? xstrdup(g->sender) : NULL;
        c->subject = g->subject ? xstrdup(g->subject) : NULL;
        return 0;
    }
    /* group_row's cells without printf or a copy each: this runs once per group,
       300,000 times for --by recipient on a big ledger (bench/README.md) */
    memset(v, 0, sizeof(v));
    v[k++].s = oo->by == STORE_BY_DAY ? report_fmt_day(g->day, day) : g->key;
    if (oo->by == STORE_BY_MESSAGE) {
        v[k++].s = g->sender;
        v[k++].s = g->subject;
    }
    v[k].s = g->mode;
    v[k + 1].s = group_unit(g);
    v[k + 2].i = g->tracked; /* the OUT_INT columns */
    v[k + 3].i = g->with_pixel;
    v[k + 4].i = g->human;
    v[k + 5].i = g->machine_only;
    v[k + 6].i = g->opened;
    v[k + 7].s = report_num_rate(g->human, g->with_pixel, r1);
    v[k + 8].s = report_num_rate(g->opened, g->with_pixel, r2);
    v[k + 9].s = report_num_duration(g->median_s, d1);
    v[k + 10].s = report_num_duration(g->p90_s, d2);
    out_row(oo->o, v);
    return 0;
}

/* cmd_report_opens - postmeter report opens [--by B] [--sender A] [--since T] [--until T] */
int cmd_report_opens(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"by", required_argument, NULL, 'b'},
        {"sender", required_argument, NULL, 'f'},
        {"format", required_argument, NULL, 'F'},
        {"wide", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct out_col cols[3 + NGROUP_COLS] = {S("all")};
    static const struct out_col group_cols[] = {GROUP_COLS};
    struct opens_out oo = {NULL, STORE_BY_NONE, NULL, 0};
    struct sum_args a;
    struct store *st;
    enum store_status rc;
    size_t k = 1;
    int status;

    if ((status = sum_parse(opts, true, argc - 1, argv + 1, &a)) >= 0)
        return status;
    cols[0].name = report_by_name(a.of.by);
    if (a.of.by == STORE_BY_MESSAGE) {
        cols[k++] = (struct out_col)S("sender");
        cols[k++] = (struct out_col)S("subject");
    }
    memcpy(&cols[k], group_cols, sizeof(group_cols));
    if ((st = cli_open_current(c)) == NULL)
        return CLI_FAIL;
    oo.by = a.of.by;
    if (!a.html) {
        oo.o = out_new(a.format, cols, k + NGROUP_COLS, stdout);
        out_set_wide(oo.o, a.wide);
    }
    rc = store_report_opens(st, &a.of, opens_row, &oo);
    if (oo.o)
        out_end(oo.o);
    else if (rc == STORE_OK)
        report_html_opens(oo.g, oo.n, &a.of, stdout);
    if (rc != STORE_OK)
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(st));
    for (size_t i = 0; i < oo.n; i++) {
        free((char *)oo.g[i].mode);
        free((char *)oo.g[i].key);
        free((char *)oo.g[i].sender);
        free((char *)oo.g[i].subject);
    }
    free(oo.g);
    store_close(st);
    return rc == STORE_OK ? CLI_OK : CLI_FAIL;
}
