/*
 * store_story.h - one message's story for postmeter report open and
 * report message: its tracked rows (tracked_messages) with their
 * recipients, outcome, first opens and every open, found by token,
 * queue id or the ledger row's uid; and why a ledger message got its
 * DMARC result, in words, from the fields the milter stored
 * (auth/inbound.c: inbound_record; auth/dmarc.c writes the reasons).
 *
 * The ledger row itself is read with store_report_messages() (a queue
 * id or Message-ID filter). Read-only: nothing here changes the
 * database. The backend keeps the SQL (store_sqlite_story.c).
 */
#ifndef POSTMETER_STORE_STORY_H
#define POSTMETER_STORE_STORY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ledger_msg.h"
#include "store.h"

/*
 * Opens listed per tracked row at most: anyone who has the pixel URL can
 * fetch it, so one mail to a big list in milter mode (one token) may
 * have any number; the first ones are listed, all are counted.
 */
#define STORE_STORY_OPENS_MAX 1000
/* Tracked rows one lookup returns at most (pipe mode: one per recipient). */
#define STORE_STORY_TRACKED_MAX 1000

/* What a lookup of tracked rows goes by. */
enum store_story_by {
    STORE_STORY_TOKEN = 0,   /* tracked_messages.token */
    STORE_STORY_QUEUE_ID,    /* tracked_messages.queue_id (pipe mode: the first pass's) */
    STORE_STORY_MESSAGE_UID, /* tracked_messages.message_uid (milter mode: the ledger row) */
};

/* One open of a tracked row (pixel_opens). */
struct store_story_open {
    int64_t opened_at;
    const char *cls;    /* human, proxy, prefetch, scanner */
    const char *reason; /* which rule decided the class; NULL = none stored */
    const char *ip;     /* as open_ip_storage kept it (truncated); NULL = none */
    const char *agent;  /* User-Agent; NULL = none sent */
    const char *method; /* GET or HEAD */
    const char *host;   /* the tracker host; NULL = unknown */
};

/* One tracked row with its recipients and opens; strings valid during the callback. */
struct store_story_tracked {
    const char *token, *message_uid, *queue_id; /* NULL = unknown */
    const char *mail_from, *header_from, *subject;
    const char *mode;    /* milter or pipe */
    const char *outcome; /* injected, no-html, ... */
    const char *reason;  /* NULL = nothing to say */
    int64_t created_at;
    int64_t created_ms;                         /* 0 = not stored (created_at * 1000) */
    int64_t first_open_at, first_human_open_at; /* 0 = none */
    char *const *rcpts;
    size_t nrcpts;
    const struct store_story_open *opens; /* oldest first, at most STORE_STORY_OPENS_MAX */
    size_t nopens;
    int64_t opens_total; /* every open of the row (nopens < opens_total: more not listed) */
};

/*
 * store_story_tracked - call fn once per tracked row whose field by
 * equals value (exactly), oldest first, at most STORE_STORY_TRACKED_MAX,
 * with a row valid only during the call. A non-zero return from fn
 * stops the walk (not an error). No row is not an error.
 */
enum store_status store_story_tracked(struct store *s, enum store_story_by by, const char *value,
                                      int (*fn)(const struct store_story_tracked *t, void *arg),
                                      void *arg);

/*
 * store_story_dmarc - why m got its DMARC result, in words, appended to
 * out: "DMARC fail: From domain example.org publishes p=reject; SPF
 * passed for bounce.other.org, which is not aligned; no DKIM signature
 * of example.org verified". Built only from the stored results (the
 * method, result, identity, policy, disposition and reason of each
 * row); a reason it does not know is quoted as stored.
 */
void store_story_dmarc(const struct ledger_msg *m, struct buf *out);

#endif
