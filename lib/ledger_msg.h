/*
 * ledger_msg.h - one message's ledger record, as handed from the milter
 * (or any other producer) to the ledger writer.
 *
 * Plain data: strings are owned by the record (NULL = unknown / not
 * logged). The record also knows how to write itself to, and read itself
 * back from, the ledger spool file in a self-describing line format, so a
 * spool written by an older binary still replays after an upgrade.
 * It must never hold message content beyond the fields listed here.
 */
#ifndef POSTMETER_LEDGER_MSG_H
#define POSTMETER_LEDGER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum ledger_direction { LEDGER_INBOUND = 0, LEDGER_OUTBOUND = 1 };

/*
 * What a record is. The writer, its queue, spool and replay carry every
 * kind alike; the store writes each kind to its own tables. A spool
 * record without a kind (written before kinds existed) is a message.
 */
enum ledger_kind {
    LEDGER_MESSAGE = 0, /* one message through postmeter-milter */
    LEDGER_OPEN = 1,    /* one request for a tracking pixel (postmeter-tracker) */
};

#define LEDGER_UID_LEN 32 /* hex characters of a record's unique id */

/*
 * One authentication result of a message: spf (per identity), dkim (per
 * signature), dmarc, and later dkim-sign for outbound mail. Strings are
 * owned by the record; NULL = not applicable.
 */
struct ledger_auth {
    char *method;      /* "spf", "dkim", "dmarc", ... */
    char *result;      /* RFC 8601 result word: pass, fail, none, ... */
    char *identity;    /* spf: the domain checked; dkim: d=; dmarc: header.from domain */
    char *selector;    /* dkim: s= */
    char *algorithm;   /* dkim: a= */
    char *policy;      /* dmarc: the published policy that applied */
    char *disposition; /* dmarc: what that policy asked for (after pct) */
    char *reason;      /* a short comment, as in the Authentication-Results header */
};

#define LEDGER_AUTH_MAX 64 /* results kept per message at most */

struct ledger_msg {
    enum ledger_kind kind;
    char uid[LEDGER_UID_LEN + 1]; /* time-ordered, unique; makes replays idempotent */
    char *host;                   /* name of the host that wrote the record */
    char *queue_id;               /* Postfix queue id */
    char *message_id;             /* Message-ID header value */
    char *date_header;            /* Date header value */
    enum ledger_direction direction;
    char *client_ip;  /* NULL for local submissions without an address */
    char *client_ptr; /* verified reverse name, NULL if unknown */
    char *helo;
    char *sasl_user;     /* {auth_authen}, NULL if not authenticated */
    char *mail_from;     /* envelope sender without <>; "" for the null sender */
    char *header_from;   /* address from the From header */
    char *subject;       /* only when log_subject = yes */
    int64_t size;        /* bytes of header + body as received */
    char *action;        /* accept, reject, tempfail, quarantine, discard */
    int64_t received_at; /* seconds since the epoch, UTC */
    char **rcpts;        /* envelope recipients without <> */
    size_t nrcpts;
    size_t rcpts_omitted;     /* recipients past the producer's bound: counted, not kept
                                 (neither spooled nor stored) */
    struct ledger_auth *auth; /* authentication results, in header order */
    size_t nauth;
    /* open tracking (outbound mail a tracking rule matched), NULL = not tracked */
    char *track_token;   /* the token in the pixel URL */
    char *track_outcome; /* injected, no-html, skipped-signed, ... */
    char *track_reason;  /* a short comment on the outcome */
    int64_t track_ms;    /* when the tracked message was accepted, ms since the epoch; 0 = unknown
                            (then received_at stands for it) */

    /* LEDGER_OPEN only (received_at is the time of the request, host the
       tracker's; a message's fields above stay NULL/0). The token is
       checked against tracked_messages when the record is written: an
       open of an unknown token is discarded then, and counted. */
    char *open_token;    /* the token of the pixel URL (well-formed, not yet known) */
    char *open_ip;       /* client address as open_ip_storage keeps it; NULL = none */
    char *open_agent;    /* User-Agent as sent (the tracker bounds it); NULL = none sent */
    char *open_method;   /* GET or HEAD */
    char *open_class;    /* human, proxy, prefetch, scanner */
    char *open_reason;   /* which rule decided the class, in words */
    int64_t open_ms;     /* the request's time in ms since the epoch; 0 = received_at * 1000 */
    int64_t open_min_ms; /* open_min_seconds in ms when the request came: an open sooner than
                            this after its message was accepted is stored as a scanner's,
                            decided when written (the accept time is in the database); 0 = no
                            such rule */
};

/*
 * ledger_uid_new - a fresh uid (lib/ledger_uid.c): 12 hex digits of
 * milliseconds since the epoch, then 20 of randomness, and a NUL
 */
void ledger_uid_new(char uid[LEDGER_UID_LEN + 1]);
/* ledger_msg_new - empty record with a fresh time-ordered uid; caller frees */
struct ledger_msg *ledger_msg_new(void);
/* ledger_msg_new_open - empty LEDGER_OPEN record with a fresh uid; caller frees */
struct ledger_msg *ledger_msg_new_open(void);
/* ledger_msg_free - free the record and everything it owns; returns NULL */
struct ledger_msg *ledger_msg_free(struct ledger_msg *m);
/* ledger_msg_set - replace *field with a copy of value (NULL allowed) */
void ledger_msg_set(char **field, const char *value);
/* ledger_msg_add_rcpt - append a copy of one recipient */
void ledger_msg_add_rcpt(struct ledger_msg *m, const char *rcpt);
/*
 * ledger_msg_add_auth - append a result (copies of method and result) and
 * return it for the other fields (set with ledger_msg_set); NULL once
 * LEDGER_AUTH_MAX results are held.
 */
struct ledger_auth *ledger_msg_add_auth(struct ledger_msg *m, const char *method,
                                        const char *result);
/* Bytes malloc() adds to each allocation, as ledger_msg_mem() counts them. */
#define LEDGER_MEM_CHUNK 16
/*
 * ledger_msg_mem - the heap bytes m holds: the struct, every string, the
 * recipient and result arrays at their capacity, LEDGER_MEM_CHUNK more for
 * each allocation. Linear in the record's size; what the ledger's queue
 * counts against its byte bound.
 */
size_t ledger_msg_mem(const struct ledger_msg *m);
/* ledger_direction_name - "inbound" or "outbound" */
const char *ledger_direction_name(enum ledger_direction d);

/* ledger_msg_encode - append the record in spool format to out */
void ledger_msg_encode(const struct ledger_msg *m, struct buf *out);
/*
 * ledger_msg_decode - read one record from p[0..len). Returns the record
 * (caller frees) and sets *used to the bytes consumed; returns NULL with
 * *used = 0 if the data holds no complete record (torn tail), or NULL with
 * *used > 0 if a complete but malformed record was skipped.
 */
struct ledger_msg *ledger_msg_decode(const char *p, size_t len, size_t *used);

#endif
