/*
 * classify.h - who fetched a tracking pixel: a person (human), a person
 * through a mail provider's image proxy (proxy), a fetch made for the
 * reader before anyone looked (prefetch), or a security gateway or bot
 * (scanner).
 *
 * One table of rules in classify.c decides, first match wins; the
 * networks some rules ask about come from machine-networks data files
 * (classify_nets.c). Classification labels an open, it never drops one,
 * and it never looks at anything but the request itself: no DNS, no
 * database, nothing fetched.
 */
#ifndef POSTMETER_CLASSIFY_H
#define POSTMETER_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "netaddr.h"

enum open_class { OPEN_HUMAN = 0, OPEN_PROXY, OPEN_PREFETCH, OPEN_SCANNER, OPEN_NCLASSES };

/* classify_class_name - "human", "proxy", "prefetch", "scanner" */
const char *classify_class_name(enum open_class c);

/* The request as the rules see it. */
struct classify_request {
    const char *method;           /* "GET", "HEAD" */
    const char *agent;            /* User-Agent as sent, NULL = none sent */
    const struct netaddr *client; /* the client (after trusted_proxies), NULL = unknown */
    /* header - the value of request header name (case-insensitive), NULL = not sent */
    const char *(*header)(void *ctx, const char *name);
    void *header_ctx;
};

struct classify_result {
    enum open_class cls;
    const char *reason; /* the rule's words, static */
    const char *source; /* for a network rule: the data file's source words (owned by the
                           nets; valid while they are), else NULL */
};

/* Networks of machines, from the data files; read-only once loaded (shared by threads). */
struct classify_nets;

#define CLASSIFY_NETS_MAX   1000000 /* networks at most, all files together */
#define CLASSIFY_LINE_MAX   1024    /* bytes of one line of a data file */
#define CLASSIFY_DIR_FILES  1000    /* files read from the admin's directory at most */
#define CLASSIFY_SOURCE_MAX 80      /* bytes of a line's source words */

/* classify_nets_new - an empty set; caller frees */
struct classify_nets *classify_nets_new(void);
/*
 * classify_nets_parse - add the lines of text[0..len), read from name, to
 * nets; one "FILE:LINE: message" line per bad line appended to errors.
 * True if every line was good (bad lines add nothing).
 */
bool classify_nets_parse(struct classify_nets *nets, const char *name, const char *text, size_t len,
                         struct buf *errors);
/*
 * classify_nets_load - the shipped file (must exist) and every file of
 * dir (may be missing; names starting with '.', ending in '~' or holding
 * ".dpkg-" are skipped), in name order. NULL with the problems in errors.
 */
struct classify_nets *classify_nets_load(const char *file, const char *dir, struct buf *errors);
/* classify_nets_count - networks held */
size_t classify_nets_count(const struct classify_nets *nets);
/* classify_nets_free - free everything; returns NULL */
struct classify_nets *classify_nets_free(struct classify_nets *nets);
/*
 * classify_nets_lookup - the source words of a network of class c that
 * holds a, NULL if none does. O(distinct prefix lengths * log networks).
 */
const char *classify_nets_lookup(const struct classify_nets *nets, const struct netaddr *a,
                                 enum open_class c);

/* classify - the class of request r and why (nets may be NULL: no networks) */
void classify(const struct classify_nets *nets, const struct classify_request *r,
              struct classify_result *out);
/* classify_reason - "reason" or "reason (source)" appended to out */
void classify_reason(const struct classify_result *res, struct buf *out);

#endif
