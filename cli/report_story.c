/*
 * report_story.c - what report open and report message share
 * (report_story.h): the story's field/value lines, results as text, the
 * options, opening the store and the output, and the end of a run.
 * Read-only: never changes the database.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report_story.h"
#include "timearg.h"
#include "usage.h"
#include "util.h"

/* auth_text - one result as "method=result key=value ..."; caller frees */
static char *auth_text(const struct ledger_auth *a)
{
    const char *const story_kv[][2] = {
        {"identity", a->identity}, {"selector", a->selector},       {"algorithm", a->algorithm},
        {"policy", a->policy},     {"disposition", a->disposition}, {"reason", a->reason},
    };
    struct buf b = BUF_INIT;

    buf_printf(&b, "%s=%s", a->method, a->result);
    for (size_t i = 0; i < sizeof(story_kv) / sizeof(story_kv[0]); i++)
        if (story_kv[i][1])
            buf_printf(&b, " %s=%s", story_kv[i][0], story_kv[i][1]);
    return buf_steal(&b);
}

/* story_msg_vals - received_at .. host of m into v[0..STORY_MSG_VALS) (borrowed from m) */
void story_msg_vals(const struct ledger_msg *m, struct out_val *v)
{
    const struct out_val first[STORY_MSG_VALS] = {
        {.i = m->received_at}, {.s = ledger_direction_name(m->direction)},
        {.s = m->queue_id},    {.s = m->message_id},
        {.s = m->mail_from},   {.list = m->rcpts, .n = m->nrcpts},
        {.s = m->header_from}, {.s = m->subject},
        {.s = m->client_ip},   {.s = m->client_ptr},
        {.s = m->helo},        {.s = m->sasl_user},
        {.i = m->size},        {.s = m->action},
        {.s = m->host},
    };

    memcpy(v, first, sizeof(first));
}

/* story_auth_list - every result of m as text, NULL-terminated; free with story_list_free */
char **story_auth_list(const struct ledger_msg *m)
{
    char **l = xcalloc(m->nauth + 1, sizeof(*l));

    for (size_t i = 0; i < m->nauth; i++)
        l[i] = auth_text(&m->auth[i]);
    return l;
}

/* story_list_free - free a NULL-terminated list of strings */
void story_list_free(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

/* story_first_result - the first result of method in m (dkim: "pass" if any signature passed) */
const char *story_first_result(const struct ledger_msg *m, const char *method)
{
    const char *r = NULL;

    for (size_t i = 0; i < m->nauth; i++) {
        if (strcmp(m->auth[i].method, method) != 0)
            continue;
        if (strcmp(method, "dkim") == 0 && strcmp(m->auth[i].result, "pass") == 0)
            return "pass";
        if (r == NULL)
            r = m->auth[i].result;
    }
    return r;
}

/* story_dmarc_field - the policy or disposition of m's DMARC row, NULL if none */
const char *story_dmarc_field(const struct ledger_msg *m, bool disposition)
{
    for (size_t i = 0; i < m->nauth; i++)
        if (strcmp(m->auth[i].method, "dmarc") == 0)
            return disposition ? m->auth[i].disposition : m->auth[i].policy;
    return NULL;
}

/* story_seen - has token been told already? If not, remember it */
bool story_seen(struct story *sy, const char *token)
{
    for (size_t i = 0; i < sy->nseen; i++)
        if (strcmp(sy->seen[i], token) == 0)
            return true;
    sy->seen = xrealloc(sy->seen, (sy->nseen + 1) * sizeof(*sy->seen));
    sy->seen[sy->nseen++] = xstrdup(token);
    return false;
}

const struct out_col story_kv_cols[2] = {{"field", OUT_STR, true}, {"value", OUT_STR, true}};

/* story_kv - one field/value line of a story block (value NULL: "-") */
void story_kv(struct out *o, const char *field, const char *value)
{
    struct out_val v[2] = {{.s = field}, {.s = value ? value : "-"}};

    out_row(o, v);
}

/* story_kv_time - a time line ("-" for 0) */
void story_kv_time(struct out *o, const char *field, int64_t t)
{
    char b[TIMEARG_LEN];

    story_kv(o, field, t ? timearg_format(t, timearg_utc(), false, b) : NULL);
}

/* story_kv_msg - the ledger row's lines */
void story_kv_msg(struct out *o, const struct ledger_msg *m)
{
    char size[32];

    story_kv_time(o, "received_at", m->received_at);
    story_kv(o, "direction", ledger_direction_name(m->direction));
    story_kv(o, "queue_id", m->queue_id);
    story_kv(o, "message_id", m->message_id);
    story_kv(o, "mail_from", m->mail_from);
    for (size_t i = 0; i < m->nrcpts; i++)
        story_kv(o, "recipient", m->rcpts[i]);
    story_kv(o, "header_from", m->header_from);
    story_kv(o, "subject", m->subject);
    story_kv(o, "client_ip", m->client_ip);
    story_kv(o, "client_ptr", m->client_ptr);
    story_kv(o, "helo", m->helo);
    story_kv(o, "sasl_user", m->sasl_user);
    snprintf_cut(size, sizeof(size), "%lld", (long long)m->size);
    story_kv(o, "size", size);
    story_kv(o, "action", m->action);
    story_kv(o, "host", m->host);
    for (size_t i = 0; i < m->nauth; i++) {
        char *a = auth_text(&m->auth[i]);

        story_kv(o, "auth", a);
        free(a);
    }
}

/* story_kv_tracked - a tracked row's lines (its opens are a table of their own) */
void story_kv_tracked(struct out *o, const struct store_story_tracked *t)
{
    char n[64];

    story_kv(o, "token", t->token);
    story_kv(o, "mode", t->mode);
    story_kv(o, "outcome", t->outcome);
    story_kv(o, "outcome_reason", t->reason);
    story_kv_time(o, "tracked_at", t->created_at);
    for (size_t i = 0; i < t->nrcpts; i++)
        story_kv(o, "tracked_recipient", t->rcpts[i]);
    snprintf_cut(n, sizeof(n), "%lld", (long long)t->opens_total);
    story_kv(o, "opens", n);
    story_kv_time(o, "first_open_at", t->first_open_at);
    story_kv_time(o, "first_human_open_at", t->first_human_open_at);
}

/* story_parse - the options and at most one argument; -1 if all is well, else the exit status */
int story_parse(int argc, char **argv, struct story *sy, const char **arg, const char **mid,
                const char **qid, bool open)
{
    static const struct option opts[] = {
        {"message-id", required_argument, NULL, 'm'},
        {"queue-id", required_argument, NULL, 'q'},
        {"format", required_argument, NULL, 'F'},
        {"wide", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    int ch, given;

    sy->format = OUT_TABLE;
    *arg = *mid = *qid = NULL;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            *mid = optarg;
            break;
        case 'q':
            if (!open)
                return cli_usage("give the queue id as the argument, not --queue-id");
            *qid = optarg;
            break;
        case 'F':
            if (!out_parse_format(optarg, &sy->format))
                return cli_usage("--format: '%s' is not table, csv, json or ndjson", optarg);
            break;
        case 'w':
            sy->wide = true;
            break;
        default:
            return cli_bad_option(ch, argv);
        }
    }
    if (optind < argc)
        *arg = argv[optind++];
    if (optind != argc)
        return cli_usage("unexpected '%s'", argv[optind]);
    given = (*arg != NULL) + (*mid != NULL) + (*qid != NULL);
    if (given != 1)
        return cli_usage("give %s", open ? "one of TOKEN, --message-id ID or --queue-id Q"
                                         : "one of QUEUEID or --message-id ID");
    if ((*arg && **arg == '\0') || (*mid && **mid == '\0') || (*qid && **qid == '\0'))
        return cli_usage("an empty %s finds nothing", open ? "token or id" : "id");
    return -1;
}

/* story_end - close the output and the store; say what failed or what was not found */
int story_end(const struct config *c, struct story *sy, enum store_status st, const char *what)
{
    if (sy->o)
        out_end(sy->o);
    if (st == STORE_OK)
        st = sy->st;
    if (st != STORE_OK)
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(sy->s));
    else if (sy->stories == 0)
        fprintf(stderr, "postmeter: no %s found\n", what);
    for (size_t i = 0; i < sy->nseen; i++)
        free(sy->seen[i]);
    free(sy->seen);
    store_close(sy->s);
    return st == STORE_OK && sy->stories ? CLI_OK : CLI_FAIL;
}

/* story_open - open the store and, for CSV and JSON, the output of cols */
bool story_open(const struct config *c, struct story *sy, const struct out_col *cols, size_t ncols)
{
    if ((sy->s = cli_open_current(c)) == NULL)
        return false;
    if (sy->format != OUT_TABLE)
        sy->o = out_new(sy->format, cols, ncols, stdout);
    return true;
}
