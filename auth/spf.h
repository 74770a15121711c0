/*
 * spf.h - our RFC 7208 SPF evaluator: check_host() over lib/dns, for the
 * MAIL FROM identity (or postmaster@HELO for the null sender) and for the
 * HELO identity.
 *
 * Two ways to use it: spf_eval() evaluates at once; spf_start() at MAIL
 * FROM submits the first TXT lookup and returns, and spf_finish() later
 * (at end of message) waits for it and completes the evaluation, so the
 * DNS round trip overlaps the data transfer. Either way the caller gets a
 * struct spf_answer with everything an Authentication-Results header and
 * the ledger need.
 *
 * Bounds (RFC 7208 4.6.4): at most 10 DNS-querying terms (include, a,
 * mx, ptr, exists, redirect) per evaluation, at most 2 void lookups, at
 * most 10 MX names per mx, the first 10 PTR names for ptr and %{p}; no
 * new lookup starts once spf_finish() has run for max_time_ms (the result
 * is then temperror), so spf_finish() returns within about max_time_ms
 * plus one DNS timeout. A DNS timeout or server failure is temperror,
 * never none.
 *
 * Thread safety: one check is used by one thread at a time (it may move
 * between threads); different checks may run at once on one struct dns.
 * Never logs message content.
 */
#ifndef POSTMETER_SPF_H
#define POSTMETER_SPF_H

#include <stdbool.h>

#include "dns.h"

enum spf_result {
    SPF_NONE = 0,
    SPF_NEUTRAL,
    SPF_PASS,
    SPF_FAIL,
    SPF_SOFTFAIL,
    SPF_TEMPERROR,
    SPF_PERMERROR,
};

enum spf_identity {
    SPF_ID_MAILFROM = 0, /* MAIL FROM; with the null sender, postmaster@HELO */
    SPF_ID_HELO = 1,     /* the HELO/EHLO name, as postmaster@HELO */
};

/* What to check. Strings are copied by spf_start()/spf_eval(). */
struct spf_request {
    const char *client_ip;      /* the SMTP client, IPv4 or IPv6 text (::ffff:a.b.c.d is IPv4) */
    const char *helo;           /* HELO/EHLO argument; NULL or "" if none was given */
    const char *mail_from;      /* envelope sender without <>; NULL or "" = null sender */
    enum spf_identity identity; /* which check */
    const char *receiver;       /* %{r}: our host name; NULL = "unknown" */
    const char *default_explanation; /* macro-string for fail without exp=; NULL = built-in */
    unsigned max_time_ms;            /* spf_finish()'s evaluation; 0 = 20000 (RFC 7208 4.6.4) */
    long long now;                   /* %{t}; 0 = time(NULL) */
};

/* The outcome. Every string is owned by the answer: spf_answer_free(). */
struct spf_answer {
    enum spf_result result;
    enum spf_identity identity; /* identity checked (HELO for the null sender) */
    char *domain;               /* the domain checked ("" if there was none) */
    char *sender;               /* <sender> as checked, e.g. "postmaster@helo.example" */
    char *mechanism;            /* term that decided, as written: "-all", "ip4:192.0.2.0/24",
                                   "include:_spf.example.net"; NULL if none did */
    char *explanation;          /* fail: the exp= text or default explanation; else NULL */
    char *problem;              /* none, temperror, permerror: why (printable ASCII); else NULL */
    unsigned dns_terms;         /* DNS-querying terms evaluated (limit 10) */
    unsigned void_lookups;      /* lookups that found nothing (limit 2) */
};

struct spf_check;

/*
 * spf_start - begin a check: validate the request and submit the first
 * TXT lookup; never waits for the network. d must outlive the check.
 * Returns a check to hand to spf_finish() or spf_cancel() exactly once.
 */
struct spf_check *spf_start(struct dns *d, const struct spf_request *req);

/*
 * spf_finish - wait for the lookups and complete the evaluation (see the
 * bounds above); fills *out (free with spf_answer_free) and frees the
 * check.
 */
void spf_finish(struct spf_check *c, struct spf_answer *out);

/* spf_cancel - abandon a started check without waiting; frees it; returns NULL */
struct spf_check *spf_cancel(struct spf_check *c);

/* spf_eval - spf_start() + spf_finish() */
void spf_eval(struct dns *d, const struct spf_request *req, struct spf_answer *out);

/* spf_answer_free - free the strings of an answer and zero it */
void spf_answer_free(struct spf_answer *a);

/* spf_result_name - the RFC 7208 word: "none", "neutral", "pass", "fail",
 * "softfail", "temperror", "permerror" */
const char *spf_result_name(enum spf_result r);

/* spf_identity_name - "mailfrom" or "helo" (RFC 7208 9.1, RFC 8601) */
const char *spf_identity_name(enum spf_identity id);

#endif
