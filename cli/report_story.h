/*
 * report_story.h - what report open and report message
 * (cmd_report_story.c) share, in report_story.c. Internal to the CLI.
 */
#ifndef POSTMETER_CLI_REPORT_STORY_H
#define POSTMETER_CLI_REPORT_STORY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ledger_msg.h"
#include "output.h"
#include "store.h"
#include "store_story.h"

/* What one run of either report holds. */
struct story {
    struct store *s;
    enum out_format format;
    bool wide;
    struct out *o; /* CSV, JSON, NDJSON: every row; NULL for the table */
    size_t stories;
    char **seen; /* tokens already told (a tracked row found twice) */
    size_t nseen;
    enum store_status st; /* the first failure of a nested lookup */
};

/* The first columns of report messages and report message: received_at .. host. */
#define STORY_MSG_VALS 15
/* story_msg_vals - the values of those columns of m into v[0..STORY_MSG_VALS) (borrowed from m) */
void story_msg_vals(const struct ledger_msg *m, struct out_val *v);
/* story_auth_list - every result of m as text, NULL-terminated; free with story_list_free */
char **story_auth_list(const struct ledger_msg *m);
/* story_list_free - free a NULL-terminated list of strings */
void story_list_free(char **l);
/* story_first_result - the first result of method in m (dkim: "pass" if any signature passed) */
const char *story_first_result(const struct ledger_msg *m, const char *method);
/* story_dmarc_field - the policy or disposition of m's DMARC row, NULL if none */
const char *story_dmarc_field(const struct ledger_msg *m, bool disposition);
/* story_seen - has token been told already? If not, remember it */
bool story_seen(struct story *sy, const char *token);

/* The columns of a story block: field, value. */
extern const struct out_col story_kv_cols[2];
/* story_kv - one field/value line of a story block (value NULL: "-") */
void story_kv(struct out *o, const char *field, const char *value);
/* story_kv_time - a time line ("-" for 0) */
void story_kv_time(struct out *o, const char *field, int64_t t);
/* story_kv_msg - the ledger row's lines */
void story_kv_msg(struct out *o, const struct ledger_msg *m);
/* story_kv_tracked - a tracked row's lines (its opens are a table of their own) */
void story_kv_tracked(struct out *o, const struct store_story_tracked *t);

/*
 * story_parse - the options (--message-id, --queue-id when open, --format,
 * --wide) and at most one argument into sy and the pointers; exactly one
 * of them must be given. -1 if all is well, else the exit status.
 */
int story_parse(int argc, char **argv, struct story *sy, const char **arg, const char **mid,
                const char **qid, bool open);
/* story_open - open the store and, for CSV and JSON, the output of cols; false on failure */
bool story_open(const struct config *c, struct story *sy, const struct out_col *cols, size_t ncols);
/* story_end - close the output and the store; say what failed or what was not found; exit status */
int story_end(const struct config *c, struct story *sy, enum store_status st, const char *what);

#endif
