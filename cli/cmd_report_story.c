/*
 * cmd_report_story.c - postmeter report open TOKEN|--message-id ID|
 * --queue-id Q and report message QUEUEID|--message-id ID: one
 * message's story (store_story.h). report open: a tracked message's
 * ledger row, recipients, authentication results, tracking outcome,
 * first opens and every open; report message: any ledger message with
 * why it got its DMARC result, in words, and its tracking if it had any.
 *
 * The table is a story to read: a field/value block per message (and
 * per tracked row), then its opens. CSV, JSON and NDJSON are rows with
 * the field names postmeter(1) documents: report message one row per
 * ledger message, report open one row per open (a tracked row without
 * opens: one row whose open fields are null), the message's fields on
 * each. Read-only: never changes the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_report_story.h"
#include "output.h"
#include "report_story.h"
#include "store_story.h"
#include "timearg.h"
#include "util.h"

static const struct out_col opens_cols[] = {
    {"opened_at", OUT_TIME, true},   {"class", OUT_STR, true},      {"class_reason", OUT_STR, true},
    {"ip", OUT_STR, true},           {"user_agent", OUT_STR, true}, {"method", OUT_STR, false},
    {"tracker_host", OUT_STR, false}};
#define NOPENS_COLS (sizeof(opens_cols) / sizeof(opens_cols[0]))

/* open_vals - an open as the values of opens_cols at v (o NULL: nulls) */
static void open_vals(struct out_val *v, const struct store_story_open *op)
{
    memset(v, 0, NOPENS_COLS * sizeof(*v));
    if (op == NULL)
        return;
    v[0].i = op->opened_at;
    v[1].s = op->cls;
    v[2].s = op->reason;
    v[3].s = op->ip;
    v[4].s = op->agent;
    v[5].s = op->method;
    v[6].s = op->host;
}

/* opens_table - t's opens as a table under the story block */
static void opens_table(struct story *sy, const struct store_story_tracked *t)
{
    struct out_val v[NOPENS_COLS];
    struct out *o;

    if (t->nopens == 0) {
        printf("no opens\n");
        return;
    }
    printf("opens%s:\n", t->opens_total > (int64_t)t->nopens ? " (the first ones)" : "");
    fflush(stdout);
    o = out_new(OUT_TABLE, opens_cols, NOPENS_COLS, stdout);
    out_set_wide(o, sy->wide);
    for (size_t i = 0; i < t->nopens; i++) {
        open_vals(v, &t->opens[i]);
        out_row(o, v);
    }
    out_end(o);
    if (t->opens_total > (int64_t)t->nopens)
        printf("... and %lld more\n", (long long)(t->opens_total - (int64_t)t->nopens));
}

/* The columns of report open in CSV and JSON (postmeter(1)). */
static const struct out_col open_cols[] = {
    {"token", OUT_STR, true},
    {"mode", OUT_STR, true},
    {"outcome", OUT_STR, true},
    {"outcome_reason", OUT_STR, true},
    {"tracked_at", OUT_TIME, true},
    {"tracked_recipients", OUT_LIST, true},
    {"queue_id", OUT_STR, true},
    {"message_id", OUT_STR, true},
    {"received_at", OUT_TIME, true},
    {"direction", OUT_STR, true},
    {"action", OUT_STR, true},
    {"mail_from", OUT_STR, true},
    {"header_from", OUT_STR, true},
    {"subject", OUT_STR, true},
    {"recipients", OUT_LIST, true},
    {"auth", OUT_LIST, true},
    {"dmarc", OUT_STR, true},
    {"dmarc_why", OUT_STR, true},
    {"opens", OUT_INT, true},
    {"first_open_at", OUT_TIME, true},
    {"first_human_open_at", OUT_TIME, true},
};
#define NOPEN_COLS (sizeof(open_cols) / sizeof(open_cols[0]))
#define NOPEN_ALL  (NOPEN_COLS + NOPENS_COLS)

/* open_story - tell tracked row t with its ledger row m (NULL: none found) */
static void open_story(struct story *sy, const struct store_story_tracked *t,
                       const struct ledger_msg *m)
{
    struct buf why = BUF_INIT;
    char **auth = m ? story_auth_list(m) : NULL;

    if (m)
        store_story_dmarc(m, &why);
    if (sy->o == NULL) { /* the table: a story to read */
        struct out *o;

        printf("%s", sy->stories++ ? "\n" : "");
        fflush(stdout);
        o = out_new(OUT_TABLE, story_kv_cols, 2, stdout);
        out_set_wide(o, true); /* a story's values are never cut */
        story_kv_tracked(o, t);
        if (m) {
            story_kv_msg(o, m);
            story_kv(o, "dmarc_why", buf_cstr(&why));
        } else {
            story_kv(o, "ledger", "no ledger row found for this tracked message");
        }
        out_end(o);
        opens_table(sy, t);
    } else {
        struct out_val v[NOPEN_ALL];

        memset(v, 0, sizeof(v));
        v[0].s = t->token;
        v[1].s = t->mode;
        v[2].s = t->outcome;
        v[3].s = t->reason;
        v[4].i = t->created_at;
        v[5].list = t->rcpts;
        v[5].n = t->nrcpts;
        v[6].s = m ? m->queue_id : t->queue_id;
        v[12].s = m ? m->header_from : t->header_from;
        v[11].s = m ? m->mail_from : t->mail_from;
        v[13].s = m ? m->subject : t->subject;
        if (m) {
            v[7].s = m->message_id;
            v[8].i = m->received_at;
            v[9].s = ledger_direction_name(m->direction);
            v[10].s = m->action;
            v[14].list = m->rcpts;
            v[14].n = m->nrcpts;
            v[15].list = auth;
            v[15].n = m->nauth;
            v[16].s = story_first_result(m, "dmarc");
            v[17].s = buf_cstr(&why);
        }
        v[18].i = t->opens_total;
        v[19].i = t->first_open_at;
        v[20].i = t->first_human_open_at;
        for (size_t i = 0; i < (t->nopens ? t->nopens : 1); i++) {
            open_vals(&v[NOPEN_COLS], t->nopens ? &t->opens[i] : NULL);
            out_row(sy->o, v);
        }
        sy->stories++;
    }
    story_list_free(auth);
    buf_free(&why);
}

/* What open_with_msg looks for. */
struct open_find {
    struct story *sy;
    const struct store_story_tracked *t;
    bool told;
};

/* open_with_msg - the ledger row of a tracked row: its uid (milter), else its queue id's first */
static int open_with_msg(const struct ledger_msg *m, void *arg)
{
    struct open_find *f = arg;

    if (f->t->message_uid && strcmp(m->uid, f->t->message_uid) != 0)
        return 0;
    open_story(f->sy, f->t, m);
    f->told = true;
    return 1;
}

/* open_tracked - one tracked row: find its ledger row, tell it */
static int open_tracked(const struct store_story_tracked *t, void *arg)
{
    struct story *sy = arg;
    struct open_find f = {sy, t, false};
    struct store_msg_filter mf = {.queue_id = t->queue_id};
    enum store_status st = STORE_OK;

    if (story_seen(sy, t->token))
        return 0;
    if (t->queue_id)
        st = store_report_messages(sy->s, &mf, open_with_msg, &f);
    if (st != STORE_OK && sy->st == STORE_OK)
        sy->st = st;
    if (!f.told)
        open_story(sy, t, NULL);
    return 0;
}

/* Ledger rows a Message-ID names: their uids and queue ids. */
struct ids {
    char **uid, **qid;
    size_t n;
};

/* collect_ids - remember one ledger row's uid and queue id */
static int collect_ids(const struct ledger_msg *m, void *arg)
{
    struct ids *ids = arg;

    ids->uid = xrealloc(ids->uid, (ids->n + 1) * sizeof(*ids->uid));
    ids->qid = xrealloc(ids->qid, (ids->n + 1) * sizeof(*ids->qid));
    ids->uid[ids->n] = xstrdup(m->uid);
    ids->qid[ids->n++] = m->queue_id ? xstrdup(m->queue_id) : NULL;
    return 0;
}

/* open_by_message_id - the tracked rows of the ledger rows with Message-ID mid */
static enum store_status open_by_message_id(struct story *sy, const char *mid)
{
    struct store_msg_filter mf = {.message_id = mid};
    struct ids ids = {NULL, NULL, 0};
    enum store_status st = store_report_messages(sy->s, &mf, collect_ids, &ids);

    for (size_t i = 0; i < ids.n && st == STORE_OK; i++) {
        st = store_story_tracked(sy->s, STORE_STORY_MESSAGE_UID, ids.uid[i], open_tracked, sy);
        if (st == STORE_OK && ids.qid[i]) /* pipe mode: the first pass's queue id */
            st = store_story_tracked(sy->s, STORE_STORY_QUEUE_ID, ids.qid[i], open_tracked, sy);
    }
    for (size_t i = 0; i < ids.n; i++) {
        free(ids.uid[i]);
        free(ids.qid[i]);
    }
    free(ids.uid);
    free(ids.qid);
    return st;
}

/* cmd_report_open - postmeter report open TOKEN|--message-id ID|--queue-id Q */
int cmd_report_open(const struct config *c, int argc, char **argv)
{
    struct out_col cols[NOPEN_ALL];
    struct story sy = {0};
    const char *token, *mid, *qid;
    enum store_status st;
    int rc;

    if ((rc = story_parse(argc - 1, argv + 1, &sy, &token, &mid, &qid, true)) >= 0)
        return rc;
    memcpy(cols, open_cols, sizeof(open_cols));
    memcpy(cols + NOPEN_COLS, opens_cols, sizeof(opens_cols));
    if (!story_open(c, &sy, cols, NOPEN_ALL))
        return CLI_FAIL;
    if (token)
        st = store_story_tracked(sy.s, STORE_STORY_TOKEN, token, open_tracked, &sy);
    else if (qid)
        st = store_story_tracked(sy.s, STORE_STORY_QUEUE_ID, qid, open_tracked, &sy);
    else
        st = open_by_message_id(&sy, mid);
    return story_end(c, &sy, st, "tracked message");
}

/* The columns of report message in CSV and JSON (postmeter(1)). */
static const struct out_col message_cols[] = {
    {"received_at", OUT_TIME, true},
    {"direction", OUT_STR, true},
    {"queue_id", OUT_STR, true},
    {"message_id", OUT_STR, true},
    {"mail_from", OUT_STR, true},
    {"recipients", OUT_LIST, true},
    {"header_from", OUT_STR, true},
    {"subject", OUT_STR, true},
    {"client_ip", OUT_STR, true},
    {"client_ptr", OUT_STR, true},
    {"helo", OUT_STR, true},
    {"sasl_user", OUT_STR, true},
    {"size", OUT_INT, true},
    {"action", OUT_STR, true},
    {"host", OUT_STR, true},
    {"auth", OUT_LIST, true},
    {"spf", OUT_STR, true},
    {"dkim", OUT_STR, true},
    {"dmarc", OUT_STR, true},
    {"dmarc_policy", OUT_STR, true},
    {"dmarc_disposition", OUT_STR, true},
    {"dmarc_why", OUT_STR, true},
    {"tracked", OUT_LIST, true},
    {"opens", OUT_INT, true},
    {"first_open_at", OUT_TIME, true},
    {"first_human_open_at", OUT_TIME, true},
};
#define NMESSAGE_COLS (sizeof(message_cols) / sizeof(message_cols[0]))
_Static_assert(NMESSAGE_COLS == STORY_MSG_VALS + 11, "message_cols: story_msg_vals, then 11 more");

/* A message's tracking, gathered from its tracked rows. */
struct msg_track {
    struct story *sy;
    char **rows; /* "TOKEN MODE OUTCOME", NULL-terminated */
    size_t n;
    int64_t opens, first, first_human;
};

/* track_row - add one tracked row of the message */
static int track_row(const struct store_story_tracked *t, void *arg)
{
    struct msg_track *mt = arg;

    for (size_t i = 0; i < mt->n; i++) /* found by uid and by queue id */
        if (strncmp(mt->rows[i], t->token, strlen(t->token)) == 0 &&
            mt->rows[i][strlen(t->token)] == ' ')
            return 0;
    mt->rows = xrealloc(mt->rows, (mt->n + 2) * sizeof(*mt->rows));
    mt->rows[mt->n++] = xasprintf("%s %s %s", t->token, t->mode, t->outcome);
    mt->rows[mt->n] = NULL;
    mt->opens += t->opens_total;
    if (t->first_open_at && (mt->first == 0 || t->first_open_at < mt->first))
        mt->first = t->first_open_at;
    if (t->first_human_open_at &&
        (mt->first_human == 0 || t->first_human_open_at < mt->first_human))
        mt->first_human = t->first_human_open_at;
    return 0;
}

/* message_story - tell one ledger message */
static int message_story(const struct ledger_msg *m, void *arg)
{
    struct story *sy = arg;
    struct msg_track mt = {sy, NULL, 0, 0, 0, 0};
    struct buf why = BUF_INIT;
    enum store_status st;

    st = store_story_tracked(sy->s, STORE_STORY_MESSAGE_UID, m->uid, track_row, &mt);
    if (st == STORE_OK && m->queue_id && m->direction == LEDGER_OUTBOUND)
        st = store_story_tracked(sy->s, STORE_STORY_QUEUE_ID, m->queue_id, track_row, &mt);
    if (st != STORE_OK && sy->st == STORE_OK)
        sy->st = st;
    store_story_dmarc(m, &why);
    if (sy->o == NULL) {
        struct out *o;

        printf("%s", sy->stories ? "\n" : "");
        fflush(stdout);
        o = out_new(OUT_TABLE, story_kv_cols, 2, stdout);
        out_set_wide(o, true); /* a story's values are never cut */
        story_kv_msg(o, m);
        story_kv(o, "dmarc_why", buf_cstr(&why));
        for (size_t i = 0; i < mt.n; i++)
            story_kv(o, "tracked", mt.rows[i]);
        if (mt.n) {
            char n[32];

            snprintf_cut(n, sizeof(n), "%lld", (long long)mt.opens);
            story_kv(o, "opens", n);
            story_kv_time(o, "first_open_at", mt.first);
            story_kv_time(o, "first_human_open_at", mt.first_human);
        }
        out_end(o);
    } else {
        char **auth = story_auth_list(m);
        const struct out_val rest[NMESSAGE_COLS - STORY_MSG_VALS] = {
            {.list = auth, .n = m->nauth},
            {.s = story_first_result(m, "spf")},
            {.s = story_first_result(m, "dkim")},
            {.s = story_first_result(m, "dmarc")},
            {.s = story_dmarc_field(m, false)},
            {.s = story_dmarc_field(m, true)},
            {.s = buf_cstr(&why)},
            {.list = mt.rows, .n = mt.n},
            {.i = mt.opens},
            {.i = mt.first},
            {.i = mt.first_human},
        };
        struct out_val v[NMESSAGE_COLS];

        story_msg_vals(m, v);
        memcpy(v + STORY_MSG_VALS, rest, sizeof(rest));

        out_row(sy->o, v);
        story_list_free(auth);
    }
    sy->stories++;
    story_list_free(mt.rows);
    buf_free(&why);
    return 0;
}

/* cmd_report_message - postmeter report message QUEUEID|--message-id ID */
int cmd_report_message(const struct config *c, int argc, char **argv)
{
    struct store_msg_filter mf = {0};
    struct story sy = {0};
    const char *qid, *mid, *none;
    enum store_status st;
    int rc;

    if ((rc = story_parse(argc - 1, argv + 1, &sy, &qid, &mid, &none, false)) >= 0)
        return rc;
    mf.queue_id = qid;
    mf.message_id = mid;
    if (!story_open(c, &sy, message_cols, NMESSAGE_COLS))
        return CLI_FAIL;
    st = store_report_messages(sy.s, &mf, message_story, &sy);
    return story_end(c, &sy, st, "message");
}
