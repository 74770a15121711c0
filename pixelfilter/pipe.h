/*
 * pipe.h - postmeter-pixelfilter as a Postfix after-queue content filter
 * (master.cf pipe service): each tracked recipient's copy gets its own
 * token and pixel, and every copy goes back to Postfix through
 * "sendmail -G -i".
 *
 * pipe_main() is the whole mode and returns a sysexits.h code: 0 when
 * every copy was handed back to Postfix, EX_TEMPFAIL for everything else
 * (Postfix then keeps the mail and retries: it is never bounced because
 * of us). The other functions are its pure parts, for unit tests: the
 * command line, the top-level header fields, the per-recipient decision.
 *
 * Must never: exit with a status Postfix treats as a hard error, print
 * the token or message content, or hand a copy to sendmail before its
 * tracked_messages row is written.
 */
#ifndef POSTMETER_PIXEL_PIPE_H
#define POSTMETER_PIXEL_PIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "track.h"

#define PIPE_OPT_OUT_FIELD "X-Postmeter-Track"
#define PIPE_SENDMAIL      "/usr/sbin/sendmail"
#define PIPE_FIELD_MAX     4096 /* From/Subject values longer than this are cut */
#define PIPE_DEADLINE_S    600  /* give up (EX_TEMPFAIL) after this long */

/* The command line of the pipe mode (strings point into argv). */
struct pipe_args {
    const char *config;   /* -c FILE, NULL = the default file */
    const char *sendmail; /* --sendmail PATH, absolute */
    const char *sender;   /* -f SENDER, "" = the null sender */
    const char *queue_id; /* -q QUEUE_ID, NULL = unknown */
    char **rcpts;         /* after "--" */
    size_t nrcpts;
    bool help; /* -h: print the usage, nothing else */
};

/*
 * pipe_args_parse - read argv into a. Returns true, or false with one
 * line saying why appended to why. Resets getopt first.
 */
bool pipe_args_parse(int argc, char **argv, struct pipe_args *a, struct buf *why);

/*
 * pipe_header_end - the offset just past the empty line that ends the
 * header of m[0..len) (LF or CRLF), or len if there is none.
 */
size_t pipe_header_end(const char *m, size_t len);
/*
 * pipe_strip_field - append m[0..len) to out without the top-level
 * header fields called name (any case; continuation lines included);
 * every other byte is copied as it is. Returns the number removed.
 */
unsigned pipe_strip_field(const char *m, size_t len, const char *name, struct buf *out);
/*
 * pipe_field_value - the first top-level field called name, unfolded
 * (CR and LF dropped), trimmed and cut at PIPE_FIELD_MAX bytes; NULL if
 * there is none. Caller frees.
 */
char *pipe_field_value(const char *m, size_t len, const char *name);
/* pipe_opt_out - a top-level X-Postmeter-Track field says "no" (any case, blanks around) */
bool pipe_opt_out(const char *m, size_t len);

/* What the filter knows about one message when it decides per recipient. */
struct pipe_msg_facts {
    const char *sender;      /* envelope sender, "" = null */
    const char *header_from; /* first address of From:, NULL if none */
    bool opt_out;            /* X-Postmeter-Track: no */
};

/*
 * pipe_rcpt_tracked - does rcpt's copy get tracked: a sender rule
 * matches the envelope sender or the From address, or a recipient rule
 * matches rcpt; the message did not opt out; rcpt is not in
 * track_exclude.
 */
bool pipe_rcpt_tracked(const struct config *c, const struct track_rules *r,
                       const struct pipe_msg_facts *f, const char *rcpt);

/* pipe_usage - the pipe mode's synopsis lines (static string) */
const char *pipe_usage(void);

/*
 * pipe_main - run the pipe mode over argv (the whole command line) with
 * the message on standard input; returns the exit status.
 */
int pipe_main(int argc, char **argv);

#endif
