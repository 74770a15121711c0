/*
 * spf_record.h - one SPF record: recognising it among a name's TXT
 * records and checking its whole syntax into terms (RFC 7208 4.5, 4.6,
 * 5, 6, 7.1, 12), without DNS.
 *
 * The evaluator (spf_eval.c) parses a record completely before it
 * evaluates any term, so a syntax error anywhere is a permerror (RFC 7208
 * 4.6). Never does DNS, never reads a record past its length.
 */
#ifndef POSTMETER_SPF_RECORD_H
#define POSTMETER_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Longest SPF record we read (a longer one is a permerror). */
#define SPF_RECORD_MAX 8192

enum spf_mech {
    SPF_MECH_ALL,
    SPF_MECH_INCLUDE,
    SPF_MECH_A,
    SPF_MECH_MX,
    SPF_MECH_PTR,
    SPF_MECH_IP4,
    SPF_MECH_IP6,
    SPF_MECH_EXISTS,
};

/* One mechanism of a record. */
struct spf_term {
    enum spf_mech mech;
    char qualifier;        /* '+', '-', '~' or '?' ('+' when none was written) */
    char *text;            /* the term as written */
    char *domain_spec;     /* include, exists; a, mx, ptr when given: the macro-string */
    unsigned cidr4;        /* a, mx, ip4: IPv4 prefix length (32 when not given) */
    unsigned cidr6;        /* a, mx, ip6: IPv6 prefix length (128 when not given) */
    unsigned char net[16]; /* ip4 (first 4 bytes) or ip6 network, network order */
};

/* A parsed record; owns everything it points to. */
struct spf_record {
    struct spf_term *terms; /* the mechanisms, in order */
    size_t nterms;
    char *redirect; /* redirect= domain-spec, or NULL */
    char *exp;      /* exp= domain-spec, or NULL */
};

/*
 * spf_record_is_spf - true if the TXT string txt[0..len) is an SPF
 * record: "v=spf1" in any case, then a space or the end (RFC 7208 4.5).
 */
bool spf_record_is_spf(const char *txt, size_t len);

/*
 * spf_record_parse - check the whole record txt[0..len) (which
 * spf_record_is_spf() accepted) and split it into terms. Returns NULL
 * with the reason in err on any syntax error, a duplicate redirect= or
 * exp=, or a record longer than SPF_RECORD_MAX. Caller frees with
 * spf_record_free().
 */
struct spf_record *spf_record_parse(const char *txt, size_t len, char *err, size_t errlen);

/* spf_record_free - free a parsed record; returns NULL */
struct spf_record *spf_record_free(struct spf_record *r);

/* spf_net_match - true if the first bits of addr and net agree */
bool spf_net_match(const unsigned char *net, const unsigned char *addr, unsigned bits);

/*
 * spf_printable - append s[0..len) to out for logs and headers: printable
 * ASCII except '"' and '\' as is, every other byte as \xHH, at most max
 * bytes of s ("..." marks the cut).
 */
void spf_printable(struct buf *out, const char *s, size_t len, size_t max);

#endif
