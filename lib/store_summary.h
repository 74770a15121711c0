/*
 * store_summary.h - the numbers of postmeter report summary and report
 * opens, spoken in operations (store.h), never in SQL: mail in and out,
 * actions, authentication pass rates, failing From domains, tracked
 * messages and their open rates, the ledger's size, and the per-day
 * series the HTML page draws.
 *
 * Times are seconds since the epoch (UTC); a day starts at midnight of
 * the offset the caller gives (utc_offset, seconds east of UTC: one
 * offset for the whole range). Read-only: nothing here changes the
 * database. Counting rules (postmeter(1) states them for admins):
 *  - a message is counted once: outbound ledger rows with the same
 *    Message-ID and envelope sender in the range are copies of one
 *    message (postmeter-pixelfilter reinjects one copy per recipient,
 *    and each copy gets its own ledger row); the first of them counts,
 *    with its action and results, the others are "copies";
 *  - rates of inbound authentication are of inbound messages: SPF by
 *    its first result, DKIM passes with any passing signature, DMARC by
 *    its result; signed out: an outbound message with a dkim-sign result
 *    "signed";
 *  - tracking: a tracked row is a message in milter mode and one
 *    recipient's copy in pipe mode, so both are kept apart (mode);
 *    "with a pixel" is outcome injected; opened by a person: an open of
 *    class human or proxy; machine-only: opened, but only by prefetch or
 *    scanner; the estimated open rate is people / with a pixel, the raw
 *    rate opened (any class) / with a pixel. Opens count for the tracked
 *    messages of the range whenever they came; the time to the first
 *    human open is from the row's created_at (clamped at 0); median and
 *    p90 by the nearest rank (the value at rank ceil(p * n)).
 */
#ifndef POSTMETER_STORE_SUMMARY_H
#define POSTMETER_STORE_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_SUMMARY_MAX_DAYS 400 /* days of a series at most: the newest are kept */
#define STORE_SUMMARY_TOP_MAX  100 /* failing From domains listed at most */
#define STORE_TTFO_BUCKETS     8   /* time-to-first-human-open histogram buckets */

/* What a message's action was (the ledger's action word). */
enum store_action {
    STORE_ACT_ACCEPT = 0,
    STORE_ACT_REJECT,
    STORE_ACT_QUARANTINE,
    STORE_ACT_TEMPFAIL,
    STORE_ACT_DISCARD,
    STORE_ACT_OTHER, /* any other word */
    STORE_ACTIONS
};

/* Who fetched a pixel (pixel_opens.class). */
enum store_open_class {
    STORE_OPEN_HUMAN = 0,
    STORE_OPEN_PROXY,
    STORE_OPEN_PREFETCH,
    STORE_OPEN_SCANNER,
    STORE_OPEN_CLASSES
};

/* How report opens groups tracked rows. */
enum store_opens_by {
    STORE_BY_NONE = 0,  /* one group per mode */
    STORE_BY_MESSAGE,   /* queue id (pipe mode: the first pass's, shared by the copies) */
    STORE_BY_SENDER,    /* header From address, else envelope sender, lower case */
    STORE_BY_RECIPIENT, /* each recipient of a row, lower case */
    STORE_BY_DAY,       /* the day the row was created */
    STORE_BY_SUBJECT    /* subject as logged ("" when not logged) */
};

/* Which tracked rows report opens looks at; zero/NULL fields do not filter. */
struct store_opens_filter {
    int64_t since, until;      /* created_at >= since, < until */
    const char *sender;        /* equals mail_from or header_from (any case) */
    const char *sender_domain; /* mail_from or header_from is an address @ exactly it */
    enum store_opens_by by;
    int64_t utc_offset; /* STORE_BY_DAY: days start at midnight of this offset */
};

/*
 * One group of tracked rows of one mode. Strings are valid only during
 * the callback (or as long as the summary that holds them).
 */
struct store_opens_group {
    const char *mode;        /* "milter" (counts are messages) or "pipe" (counts are recipients) */
    const char *key;         /* the group's value; "" = unknown; STORE_BY_DAY and NONE: "" */
    int64_t day;             /* STORE_BY_DAY: the day's start; else 0 */
    const char *sender;      /* STORE_BY_MESSAGE: the first row's sender, NULL = unknown */
    const char *subject;     /* STORE_BY_MESSAGE: the first row's subject, NULL = not logged */
    int64_t first_at;        /* the group's earliest created_at */
    int64_t tracked;         /* rows */
    int64_t with_pixel;      /* rows with outcome injected */
    int64_t opened;          /* of those, opened at all (any class) */
    int64_t human;           /* of those, opened by a person (human or proxy) */
    int64_t machine_only;    /* opened, but only by prefetch or scanner */
    int64_t median_s, p90_s; /* time to the first human open, seconds; -1 = no human open */
};

/*
 * store_report_opens - call fn once per group of f's tracked rows: by
 * day and by message in time order, else the most tracked first (then
 * by key, then mode), with a group valid only during the call. A
 * non-zero return from fn stops the walk (not an error).
 */
enum store_status store_report_opens(struct store *s, const struct store_opens_filter *f,
                                     int (*fn)(const struct store_opens_group *g, void *arg),
                                     void *arg);

/* What report summary covers. */
struct store_summary_filter {
    int64_t since, until; /* received (created, opened) >= since, < until; 0 = no bound */
    int64_t utc_offset;   /* days start at midnight of this offset (seconds east of UTC) */
    unsigned top;         /* failing From domains to list, at most STORE_SUMMARY_TOP_MAX */
};

/* One day of the series; all counts are of that day. */
struct store_summary_day {
    int64_t day;                             /* its start */
    int64_t in, out;                         /* messages (as counted: copies once) */
    int64_t spf_pass, dkim_pass, dmarc_pass; /* inbound messages passing */
    int64_t opens[STORE_OPEN_CLASSES];       /* opens that day by class */
};

/* A From domain whose inbound mail failed DMARC. */
struct store_summary_domain {
    char *domain; /* lower case, as DMARC saw it */
    int64_t messages, dmarc_fail;
};

struct store_summary {
    int64_t since, until, utc_offset;
    /* mail: [LEDGER_INBOUND], [LEDGER_OUTBOUND] */
    int64_t rows;        /* ledger rows received in the range */
    int64_t copies;      /* of them, further copies of an outbound message already counted */
    int64_t messages[2]; /* rows - copies, by direction */
    int64_t actions[2][STORE_ACTIONS]; /* each counted message once: they add up to messages */
    int64_t spf_pass, dkim_pass, dmarc_pass, dmarc_fail; /* inbound messages */
    int64_t signed_out;                                  /* outbound messages signed */
    struct store_summary_domain *top;                    /* most DMARC failures first */
    size_t ntop;
    /* tracking: [0] milter, [1] pipe (store_summary_mode_name()) */
    struct store_opens_group track[2];
    int64_t ttfo[STORE_TTFO_BUCKETS];  /* first human opens by store_ttfo_limit() */
    int64_t opens[STORE_OPEN_CLASSES]; /* opens in the range (any message) by class */
    struct store_summary_day *days;    /* every day of the range, oldest first */
    size_t ndays;
    /* the whole database */
    int64_t all_rows, all_tracked, all_opens; /* rows of messages, tracked_messages, pixel_opens */
    int64_t db_bytes; /* the main file: page_count * page_size (without -wal) */
};

/*
 * store_summary - fill *out (overwritten; free with store_summary_free)
 * with the numbers of f's range, read in one snapshot. Days run from
 * since's (else the first with data) to until's (else the last with
 * data), at most STORE_SUMMARY_MAX_DAYS.
 */
enum store_status store_summary(struct store *s, const struct store_summary_filter *f,
                                struct store_summary *out);
/* store_summary_free - free what store_summary() filled in (the struct itself is the caller's) */
void store_summary_free(struct store_summary *sum);

/* store_summary_mode_name - "milter" (0) or "pipe" (1) */
const char *store_summary_mode_name(size_t i);
/* store_action_name - "accept", "reject", ... "other" */
const char *store_action_name(enum store_action a);
/* store_open_class_name - "human", "proxy", "prefetch", "scanner" */
const char *store_open_class_name(enum store_open_class c);
/* store_ttfo_limit - bucket i holds times below this many seconds (INT64_MAX: the last) */
int64_t store_ttfo_limit(size_t i);
/* store_ttfo_label - bucket i in words: "< 5 min", "5-30 min", ... */
const char *store_ttfo_label(size_t i);
/* store_rate - num / den as a percentage; -1 when den is 0 */
double store_rate(int64_t num, int64_t den);

/*
 * What a backend gives store_summary.c (store_backend.h). summary: all
 * but the tracking numbers into out (zeroed, with since, until and
 * utc_offset set; days and top allocated with xmalloc), and the range's
 * tracked rows (STORE_BY_NONE) through fn, in one snapshot. opens_walk:
 * one call of fn per tracked row (per row and recipient for
 * STORE_BY_RECIPIENT), ordered by mode, then day, then key; strings
 * valid during the call. store_summary.c makes the groups.
 */
struct store_opens_item {
    const char *mode, *key; /* as in the group */
    int64_t day;
    const char *sender, *subject;
    int64_t created_at;
    bool pixel;          /* outcome injected */
    bool opened;         /* any open */
    int64_t first_human; /* the first human or proxy open's time; 0 = none */
};

#endif
