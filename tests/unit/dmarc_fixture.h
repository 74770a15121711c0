/*
 * dmarc_fixture.h - what the DMARC unit tests share (test_dmarc.c,
 * test_dmarc_defects.c): a table-driven fake resolver with one shared
 * zone, and eval() / eval1() that run dmarc_eval() over it.
 */
#ifndef POSTMETER_TEST_DMARC_FIXTURE_H
#define POSTMETER_TEST_DMARC_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "dmarc.h"
#include "from_domain.h"

#define R    DMARC_ALIGN_RELAXED
#define S    DMARC_ALIGN_STRICT
#define UN   DMARC_POLICY_UNSET
#define NO   DMARC_POLICY_NONE
#define QU   DMARC_POLICY_QUARANTINE
#define RJ   DMARC_POLICY_REJECT
#define PASS DMARC_AUTH_PASS
#define FAIL DMARC_AUTH_FAIL
#define MF   DMARC_SPF_MAILFROM
#define HELO DMARC_SPF_HELO

/* One answer of the fake resolver. */
struct fake_rr {
    const char *name;
    int type; /* 0 = any type */
    enum dns_status status;
    const char *txt[3];
};

/* The fake resolver: tables to answer from, and what was asked. */
struct fake_dns {
    const struct fake_rr *rr; /* NULL: the shared zone (set by eval) */
    size_t n;
    const struct fake_rr *rr2; /* a second table searched after rr */
    size_t n2;
    unsigned lookups;
    char log[1024];     /* "TYPE name;" per lookup */
    unsigned bad_flags; /* dmarc_input.bad_flags for eval() (0: the default) */
    bool async;         /* offer submit/wait/cancel too (logged "+TYPE name;" at submit) */
    unsigned submitted, waited, cancelled;
};

/* No SPF result. */
extern const struct dmarc_spf no_spf;

/* fake_lookup - answer from the tables; anything unlisted is NXDOMAIN */
struct dns_result *fake_lookup(void *arg, const char *name, int type);
/* eval - analyse From fields, evaluate with the zone (or f's tables); f logs the lookups */
void eval(const char *const *from, size_t nfrom, const struct dmarc_dkim *dkim, size_t ndkim,
          struct dmarc_spf spf, unsigned sample, struct dmarc_answer *a, struct fake_dns *f);
/* eval1 - one From value, one DKIM signature (or none), SPF */
void eval1(const char *from, const char *d, enum dmarc_auth dres, struct dmarc_spf spf,
           struct dmarc_answer *a, struct fake_dns *f);

#endif
