/*
 * cmd_track.c - postmeter track add|list|enable|disable|remove: the
 * tracking rules (which outbound mail gets an open-tracking pixel).
 *
 * postmeter-milter reads the rules again within a minute of a change
 * (at once on SIGHUP); postmeter-pixelfilter reads them per message.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "output.h"
#include "timeutil.h"
#include "track.h"
#include "usage.h"
#include "util.h"

/* track_usage - one line on stderr; returns CLI_USAGE */
static int track_usage(void)
{
    return cli_usage("wrong arguments");
}

/* track_add - postmeter track add PATTERN [--recipient] [--disabled] [--note TEXT] */
static int track_add(const struct config *c, int argc, char **argv)
{
    static const struct option longopts[] = {{"recipient", no_argument, NULL, 'r'},
                                             {"disabled", no_argument, NULL, 'd'},
                                             {"note", required_argument, NULL, 'n'},
                                             {NULL, 0, NULL, 0}};
    struct store_track_rule r = {.field = STORE_TRACK_SENDER, .enabled = true};
    struct buf why = BUF_INIT;
    struct store *s;
    char *pattern;
    int64_t id = 0;
    int ch;

    optind = 0; /* start afresh and permute: options may follow the pattern */
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch == 'r')
            r.field = STORE_TRACK_RECIPIENT;
        else if (ch == 'd')
            r.enabled = false;
        else if (ch == 'n')
            r.note = optarg;
        else
            return cli_bad_option(ch, argv);
    }
    if (optind + 1 != argc)
        return cli_usage("give one ADDRESS or @DOMAIN");
    if ((pattern = track_pattern_normalize(argv[optind], &why)) == NULL) {
        fprintf(stderr, "postmeter: %s\n", buf_cstr(&why));
        buf_free(&why);
        return CLI_USAGE;
    }
    r.pattern = pattern;
    r.created_at = (int64_t)time(NULL);
    s = cli_dkim_open_rw(c);
    if (store_put_track_rule(s, &r, &id) != STORE_OK) {
        fprintf(stderr, "postmeter: %s\n", store_error(s));
        store_close(s);
        free(pattern);
        return CLI_FAIL;
    }
    store_close(s);
    printf("rule %" PRId64 ": %s %s (%s)\n", id, store_track_field_name(r.field), pattern,
           r.enabled ? "enabled" : "disabled");
    if (c->tracking_base_url[0] == '\0')
        printf("note: tracking_base_url is not set in %s: nothing is tracked until it is\n",
               c->path ? c->path : "postmeter.conf");
    free(pattern);
    return CLI_OK;
}

static const struct out_col list_cols[] = {
    {"id", OUT_INT, true},      {"field", OUT_STR, true},      {"pattern", OUT_STR, true},
    {"enabled", OUT_STR, true}, {"created_at", OUT_STR, true}, {"note", OUT_STR, true},
};
#define NLISTCOLS (sizeof(list_cols) / sizeof(list_cols[0]))

/* list_row - one rule as an output row */
static int list_row(const struct store_track_rule *r, void *arg)
{
    char created[TIME_ISO_LEN];
    struct out_val v[NLISTCOLS] = {
        {.i = r->id},
        {.s = store_track_field_name(r->field)},
        {.s = r->pattern},
        {.s = r->enabled ? "yes" : "no"},
        {.s = time_format_iso(r->created_at, created)},
        {.s = r->note},
    };

    out_row(arg, v);
    return 0;
}

/* track_list - postmeter track list [--format F] */
static int track_list(const struct config *c, int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {NULL, 0, NULL, 0}};
    enum out_format format = OUT_TABLE;
    enum store_status st;
    struct store *s;
    struct out *out;
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch != 'f')
            return cli_bad_option(ch, argv);
        if (!out_parse_format(optarg, &format))
            return cli_usage("--format: '%s' is not table, csv, json or ndjson", optarg);
    }
    if (optind != argc)
        return cli_usage("unexpected '%s'", argv[optind]);
    if ((s = cli_open_current(c)) == NULL)
        return CLI_FAIL;
    out = out_new(format, list_cols, NLISTCOLS, stdout);
    st = store_list_track_rules(s, list_row, out);
    out_end(out);
    if (st != STORE_OK)
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
    store_close(s);
    return st == STORE_OK ? CLI_OK : CLI_FAIL;
}

/* parse_id - a rule id: a positive decimal number */
static bool parse_id(const char *arg, int64_t *id)
{
    char *end;
    long long v;

    if (arg == NULL || *arg < '1' || *arg > '9')
        return false;
    v = strtoll(arg, &end, 10);
    if (*end != '\0' || v <= 0)
        return false;
    *id = v;
    return true;
}

/* track_change - enable, disable or remove rule ID */
static int track_change(const struct config *c, const char *verb, int argc, char **argv)
{
    enum store_status st;
    struct store *s;
    int64_t id;

    if (argc != 2)
        return cli_usage("give one rule ID");
    if (!parse_id(argv[1], &id)) {
        fprintf(stderr, "postmeter: \"%s\" is not a rule id (see postmeter track list)\n", argv[1]);
        return CLI_USAGE;
    }
    s = cli_dkim_open_rw(c);
    if (strcmp(verb, "remove") == 0)
        st = store_remove_track_rule(s, id);
    else
        st = store_set_track_rule_enabled(s, id, strcmp(verb, "enable") == 0);
    if (st != STORE_OK)
        fprintf(stderr, "postmeter: %s\n", store_error(s));
    else
        printf("rule %" PRId64 ": %s\n", id,
               strcmp(verb, "remove") == 0   ? "removed"
               : strcmp(verb, "enable") == 0 ? "enabled"
                                             : "disabled");
    store_close(s);
    return st == STORE_OK ? CLI_OK : CLI_FAIL;
}

/* cmd_track - track add | list | enable | disable | remove */
int cmd_track(const struct config *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return track_add(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return track_list(c, argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "enable") == 0 || strcmp(argv[1], "disable") == 0 ||
                      strcmp(argv[1], "remove") == 0))
        return track_change(c, argv[1], argc - 1, argv + 1);
    return track_usage();
}
