/*
 * spf_macro.h - RFC 7208 section 7 macro strings: syntax check and
 * expansion, without DNS.
 *
 * The evaluator (spf.c) supplies the values of the macro letters; the one
 * letter whose value needs DNS (%{p}) is asked of a callback only when a
 * string uses it. Unit tests drive this module with fixed values. Never
 * does DNS itself and never produces more than SPF_MACRO_MAX bytes.
 */
#ifndef POSTMETER_SPF_MACRO_H
#define POSTMETER_SPF_MACRO_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Longest expansion of one macro string, in bytes (longer is an error). */
#define SPF_MACRO_MAX 4096

/* Flags for spf_macro_expand(). */
enum {
    SPF_MACRO_CRT = 1,   /* the letters c, r, t are allowed (explanation text) */
    SPF_MACRO_SPACE = 2, /* literal spaces are allowed (explanation-string) */
};
/* An explanation string (the TXT record named by exp=). */
#define SPF_MACRO_EXPLAIN (SPF_MACRO_CRT | SPF_MACRO_SPACE)

/*
 * The values of the macro letters (RFC 7208 7.3), as plain strings; none
 * may be NULL when expanding. p is computed on first use by p_get(p_arg)
 * (returns a string that stays valid while the vars are in use).
 */
struct spf_macro_vars {
    const char *s; /* <sender> */
    const char *l; /* local-part of <sender> */
    const char *o; /* domain of <sender> */
    const char *d; /* <domain> being checked */
    const char *i; /* <ip>: dotted quad, or 32 dot-separated nibbles for IPv6 */
    const char *v; /* "in-addr" or "ip6" */
    const char *h; /* HELO/EHLO domain */
    const char *c; /* <ip> readable: dotted quad or RFC 5952 IPv6 */
    const char *r; /* the receiving host's domain name */
    const char *t; /* current time, decimal seconds since the epoch */
    const char *(*p_get)(void *p_arg);
    void *p_arg;
};

/*
 * spf_macro_expand - check the macro string s[0..len) and, when vars is
 * not NULL, append its expansion to out. Returns false with a reason in
 * err (and out unchanged) on a syntax error, a letter not allowed by flags,
 * a byte outside the allowed characters, or an expansion longer than
 * SPF_MACRO_MAX. With vars NULL, only the syntax is checked (out unused,
 * may be NULL).
 */
bool spf_macro_expand(const char *s, size_t len, unsigned flags, const struct spf_macro_vars *vars,
                      struct buf *out, char *err, size_t errlen);

/* spf_macro_check - spf_macro_expand() without expanding: syntax only */
bool spf_macro_check(const char *s, size_t len, unsigned flags, char *err, size_t errlen);

/*
 * spf_macro_ends_ok - true if the domain-spec s[0..len) (syntax already
 * checked) ends as RFC 7208 7.1 requires: with a macro-expand, or with
 * "." toplabel and an optional trailing dot.
 */
bool spf_macro_ends_ok(const char *s, size_t len);

#endif
