/*
 * spf_int.h - what spf.c (the API, request and answer), spf_eval.c
 * (check_host()) and spf_lookup.c (its DNS, names, PTR and macro values)
 * share: the state of one check.
 *
 * Only auth/spf*.c include this; everyone else uses spf.h.
 */
#ifndef POSTMETER_SPF_INT_H
#define POSTMETER_SPF_INT_H

#include <stdbool.h>
#include <time.h>

#include "buf.h"
#include "dns.h"
#include "netaddr.h"
#include "spf.h"
#include "spf_macro.h"

#define SPF_MAX_DNS_TERMS 10 /* include a mx ptr exists redirect (RFC 7208 4.6.4) */
#define SPF_MAX_VOID      2  /* lookups answered NXDOMAIN or NODATA */
#define SPF_MAX_MX        10 /* MX names per mx mechanism; more is a permerror */
#define SPF_MAX_PTR       10 /* PTR names looked at; the rest are ignored */
#define SPF_NAME_MAX      253

/* One check in progress (see spf.h). */
struct spf_check {
    struct dns *dns;
    enum spf_identity identity;
    char *sender;      /* %{s} */
    char *local;       /* %{l} */
    char *domain;      /* %{o}, and <domain> of the first check_host() */
    char *helo;        /* %{h} ("" if none) */
    char *receiver;    /* %{r} */
    char *default_exp; /* NULL = built-in */
    int family;        /* AF_INET or AF_INET6 of the client */
    unsigned char addr[16];
    char mi[72];              /* %{i} */
    char mc[NETADDR_STRLEN];  /* %{c} */
    char mt[24];              /* %{t} */
    struct timespec deadline; /* CLOCK_MONOTONIC, set by spf_finish() */
    unsigned max_time_ms;
    struct dns_query *first; /* TXT of domain, submitted by spf_start() */

    bool decided; /* spf_start() already knew the result */
    enum spf_result result;
    char *problem;      /* the first problem met */
    char *mechanism;    /* the term that decided */
    char *final_domain; /* <domain> of the record that decided */
    char *exp_spec;     /* that record's exp= domain-spec */
    unsigned dns_terms;
    unsigned void_lookups;

    int ptr_state;                /* 0: not looked up, 1: names, 2: none/error */
    char *ptr_names[SPF_MAX_PTR]; /* the client's PTR names (first 10) */
    int ptr_valid[SPF_MAX_PTR];   /* 0: not checked, 1: validated, 2: not */
    size_t nptr;
    char *p_domain, *p_value; /* %{p} as computed for p_domain */
};

/* How a lookup went, for SPF. */
enum spf_lk {
    SPF_LK_OK,   /* records */
    SPF_LK_VOID, /* NXDOMAIN, NODATA, or a name that cannot exist */
    SPF_LK_TEMP, /* timeout, server failure, out of time: temperror */
};

/* spf_problem - remember why (only the first problem is kept) */
void spf_problem(struct spf_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* spf_quoted - a name or term as printable text for a problem; caller frees */
char *spf_quoted(const char *s);

/* spf_query_name - name in the presentation form lib/dns takes: '\' and
 * bytes outside 0x21..0x7e escaped; caller frees */
char *spf_query_name(const char *name);

/* spf_lookup_wait - wait for q (a lookup of type for name) and classify;
 * returns the result when SPF_LK_OK (caller frees), else NULL */
struct dns_result *spf_lookup_wait(struct spf_check *c, struct dns_query *q, const char *name,
                                   int type, enum spf_lk *st);

/* spf_lookup - submit + spf_lookup_wait, or SPF_LK_TEMP past the deadline,
 * for a name made by SPF (raw octets; spf_query_name() escapes them) */
struct dns_result *spf_lookup(struct spf_check *c, const char *name, int type, enum spf_lk *st);

/* spf_lookup_presented - the same for a name that came from DNS (an MX
 * host, a PTR name): already in presentation form, not escaped again */
struct dns_result *spf_lookup_presented(struct spf_check *c, const char *name, int type,
                                        enum spf_lk *st);

/* spf_vars - macro values for <domain> d; p_ctx must live as long as v */
struct spf_p_ctx {
    struct spf_check *c;
    const char *domain;
};
void spf_vars(struct spf_check *c, const char *d, struct spf_macro_vars *v, struct spf_p_ctx *p);

/*
 * spf_target - expand domain-spec (NULL: d itself) for <domain> d into a
 * name to look up (trailing dot removed, left labels dropped past 253
 * octets). Returns false on an expansion error (permerror, problem set);
 * *ok tells whether the name can exist (no empty or overlong label).
 */
bool spf_target(struct spf_check *c, const char *spec, const char *d, struct buf *name, bool *ok);

/* spf_has_addr - true if one of r's addresses (of the client's family)
 * agrees with the client address in the first bits bits */
bool spf_has_addr(const struct spf_check *c, const struct dns_result *r, unsigned bits);

/* spf_ptr_match - the ptr mechanism: a validated PTR name of the client
 * equal to target or under it */
bool spf_ptr_match(struct spf_check *c, const char *target);

/* spf_check_top - run check_host() for c->domain, using c->first; sets
 * result, mechanism, final_domain, exp_spec, problem */
void spf_check_top(struct spf_check *c);

#endif
