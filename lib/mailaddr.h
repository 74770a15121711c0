/*
 * mailaddr.h - pulling addresses out of envelope arguments and header
 * fields (RFC 5321 / RFC 5322), without DNS and without judging them.
 *
 * For the ledger now; DMARC's stricter RFC5322.From handling (several
 * addresses, groups, forged quoting) builds on mailaddr_parse_list().
 */
#ifndef POSTMETER_MAILADDR_H
#define POSTMETER_MAILADDR_H

#include <stddef.h>

/*
 * mailaddr_parse_list - the addr-specs of a header field value such as
 * From: or To:, in order, skipping comments, quoted display names and
 * group labels. Returns the number found (at most max) and stores
 * malloc'ed copies in out[] (caller frees each).
 */
size_t mailaddr_parse_list(const char *value, char **out, size_t max);
/* mailaddr_first - the first address of a header value, or NULL; caller frees */
char *mailaddr_first(const char *value);
/* mailaddr_envelope - "<a@b> SIZE=.." style argument -> "a@b", "<>" -> ""; caller frees */
char *mailaddr_envelope(const char *arg);

#endif
