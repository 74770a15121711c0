/*
 * authres.h - the Authentication-Results header field (RFC 8601): writing
 * ours, and recognising ones that claim our authserv-id.
 *
 * A header is built method by method (spf, dkim per signature, dmarc,
 * iprev), each with its result, an optional comment and properties
 * (smtp.mailfrom=..., header.d=...). Values that are not RFC 2045 tokens
 * are quoted, comments are escaped, and lines are folded with "\n\t" (the
 * form libmilter's smfi_insheader() expects), so whatever a sender put
 * into an identity cannot break the field's syntax.
 *
 * This file must never decide results: it only writes what it is given.
 */
#ifndef POSTMETER_AUTHRES_H
#define POSTMETER_AUTHRES_H

#include <stdbool.h>

#include "buf.h"

#define AUTHRES_HEADER "Authentication-Results"

struct authres {
    struct buf b;     /* the field value being built */
    size_t line_len;  /* characters on the current (last) line */
    unsigned methods; /* methods written so far */
};

/* authres_begin - start a value for authserv_id (ar is reset) */
void authres_begin(struct authres *ar, const char *authserv_id);
/*
 * authres_method - start "; method=result", with an optional comment
 * "(reason)" after the result (NULL or "" = none).
 */
void authres_method(struct authres *ar, const char *method, const char *result,
                    const char *comment);
/*
 * authres_prop - add " ptype.property=value" to the current method; a
 * value over 256 octets is left out (no line of the field may pass 998
 * octets, whatever a sender puts in a selector or address). Comments are
 * cut after 200 characters.
 */
void authres_prop(struct authres *ar, const char *ptype_property, const char *value);
/*
 * authres_finish - the finished field value (without the name); "none"
 * is written when no method was added. Caller frees; ar is emptied.
 */
char *authres_finish(struct authres *ar);
/* authres_free - drop a value being built */
void authres_free(struct authres *ar);

/*
 * authres_authserv_id - the authserv-id a received Authentication-Results
 * value claims (comments and white space skipped, quotes removed), or
 * NULL if it has none. Caller frees.
 */
char *authres_authserv_id(const char *value);
/*
 * authres_is_ours - does a received value claim authserv_id? Case and one
 * trailing dot are ignored; white space (\f and \v too), folding and
 * nested comments around the id are skipped, a quoted-string's quoted-
 * pairs read. A value that cannot be read so counts as ours when its
 * first word does, once comments, quotes and bytes that cannot be in a
 * token are dropped or taken as the word's end: a reader may take it
 * for ours, so removing it is the safe side.
 */
bool authres_is_ours(const char *value, const char *authserv_id);

/*
 * A growable list of 1-based Authentication-Results field indexes (the
 * received fields that claim our authserv-id, to be removed). One entry
 * per such field, however many: the header the MTA takes bounds them;
 * growth doubles, so a header of 300,000 fields costs linear time.
 * Zero-initialised is empty.
 */
struct authres_list {
    unsigned *v;
    size_t n, cap;
};

/* authres_list_add - append idx */
void authres_list_add(struct authres_list *l, unsigned idx);
/* authres_list_free - release the array; the list is empty after */
void authres_list_free(struct authres_list *l);

#endif
