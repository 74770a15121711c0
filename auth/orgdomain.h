/*
 * orgdomain.h - domain names as DMARC compares them: normalised form and
 * Organizational Domain (RFC 7489 3.2) from the Public Suffix List.
 *
 * The list is Debian's (package publicsuffix) read through libpsl:
 * psl_latest() takes the newest of /usr/share/publicsuffix's dafsa file
 * and libpsl's built-in copy. It is loaded once per process, on first use
 * or by orgdomain_init(), and only read afterwards: every function here
 * is thread safe.
 *
 * Never does DNS; never guesses an Organizational Domain for something
 * that is not a DNS name (an address literal, an IP address written as a
 * name): such names align with nothing.
 */
#ifndef POSTMETER_ORGDOMAIN_H
#define POSTMETER_ORGDOMAIN_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a normalised name: 253 octets + NUL. */
#define ORGDOMAIN_LEN 254

enum orgdomain_kind {
    ORGDOMAIN_NAME = 0,    /* a usable DNS name (written to out) */
    ORGDOMAIN_LITERAL = 1, /* [192.0.2.1], [IPv6:...] or an IPv4/IPv6 address as a name */
    ORGDOMAIN_INVALID = 2  /* empty, too long, bad label, bad UTF-8 / IDNA */
};

/*
 * orgdomain_init - load the Public Suffix List now (start-up); dies if
 * neither the Debian file nor libpsl's built-in list can be had. Calling
 * it is optional: the first orgdomain_get() loads the list too.
 */
void orgdomain_init(void);

/*
 * orgdomain_normalize - the comparable form of the name in[0..len):
 * ASCII lower case, one trailing dot removed, a U-label (UTF-8) name
 * converted to A-labels (IDNA2008 / UTS#46 non-transitional), each label
 * 1..63 octets of letters, digits, '-' or '_', at most 253 octets in all.
 * Writes out (ORGDOMAIN_LEN bytes) only for ORGDOMAIN_NAME.
 */
enum orgdomain_kind orgdomain_normalize(const char *in, size_t len, char out[ORGDOMAIN_LEN]);

/*
 * orgdomain_get - the Organizational Domain of a normalised name: the
 * public suffix plus one label; a name that is itself a public suffix (or
 * a single label) is its own Organizational Domain. False (out = "") for
 * an address-like name. out has ORGDOMAIN_LEN bytes.
 */
bool orgdomain_get(const char *domain, char out[ORGDOMAIN_LEN]);

/*
 * orgdomain_aligned - RFC 7489 3.1 identifier alignment of two
 * normalised names: strict = equal; relaxed = same Organizational Domain.
 */
bool orgdomain_aligned(const char *a, const char *b, bool strict);

#endif
