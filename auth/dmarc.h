/*
 * dmarc.h - DMARC (RFC 7489, with np= from RFC 9989 / DMARCbis) for
 * inbound mail: policy discovery over lib/dns, identifier alignment and
 * the disposition the domain owner asks for.
 *
 * Our own evaluator over our own record parser; libopendmarc is not used
 * at all. Debian's 1.4.2 has known defects (listed in the issue, not
 * re-measured here): strict alignment passed through the Organizational
 * Domain, From parsing, and dmarc=pass despite a failed DKIM result in
 * some call orders. Each has a unit test against this code
 * (tests/unit/test_dmarc.c, test_defect*). What libopendmarc does right
 * (record tags, PSL lookups) is small enough that owning it costs less
 * than working around the rest. libpsl gives the Organizational Domain
 * (orgdomain.h); from_domain.h reads the From.
 *
 * INPUTS
 *   - the candidate From domains (struct from_domains);
 *   - the SPF result and the domain it was evaluated for. Only the MAIL
 *     FROM identity can align (RFC 7489 4.1: "DMARC uses the result of
 *     SPF authentication of the MAIL FROM identity"). An SPF result for
 *     the HELO identity never aligns - and that includes the check of
 *     postmaster@HELO made for a null reverse-path (RFC 7208 2.4), which
 *     RFC 7489 4.1 would let a receiver align: by project decision we
 *     do not, so a bounce needs an aligned DKIM signature to pass. This
 *     is stricter than the RFC, never looser. The caller says which
 *     identity the result is for (spf.c reports HELO for the null sender);
 *   - every DKIM signature's d= and result, in any order: only "pass"
 *     signatures can align, whatever came before or after them;
 *   - sample, a number 0..99 drawn per message by the caller (tests pass
 *     fixed values): the policy applies when sample < pct.
 *
 * DISCOVERY (RFC 7489 6.6.3)
 *   TXT _dmarc.<from-domain>; if that yields no DMARC record, TXT
 *   _dmarc.<organizational-domain>. Only records starting "v=DMARC1"
 *   count; several of them at one name => none, no fallback. A DNS
 *   timeout or server failure at any step => temperror (never none). A
 *   permanent DNS error (REFUSED, FORMERR, malformed answer) at the From
 *   domain falls back to the org domain like "no record" (it must not
 *   hide the org's policy); at the last step it is a permerror. A name
 *   too long to prefix with "_dmarc." skips to the org domain.
 *   Invalid or missing p=, or invalid sp=: with at least one valid rua=
 *   URI the record is read as "v=DMARC1; p=none"; without, no DMARC
 *   processing applies => permerror, disposition none (the record is
 *   the domain owner's mistake: nothing to enforce, nothing to punish).
 *   Unknown tags and bad values of other tags fall back to defaults; a
 *   repeated tag counts as an invalid value of that tag.
 *
 * POLICY
 *   Record at the From domain itself: p. Record found at the org domain
 *   for a sub-domain From: np if present and the From domain does not
 *   exist (NXDOMAIN for A, AAAA and MX; checked only when np would
 *   change the answer; a timeout there => temperror), else sp if
 *   present, else p. Not sampled (sample >= pct): one step lower
 *   (reject -> quarantine -> none), RFC 7489 6.6.4.
 *
 * SEVERAL CANDIDATE FROM DOMAINS (from_domain.h)
 *   Each is evaluated (at most FROM_DOMAIN_MAX) and the answer of the
 *   strictest is returned, ordered: fail with disposition reject >
 *   temperror > fail/quarantine > fail/none > permerror > none > pass.
 *   The walk stops at the first fail/reject (nothing is stricter); it
 *   goes on past a temperror, so a listed domain whose name server does
 *   not answer cannot hide another one's p=reject.
 *
 * A FROM THAT CANNOT BE EVALUATED (habit 16)
 *   A From with a flag of in->bad_flags (default FROM_DOMAIN_BAD: no From,
 *   no mailbox, malformed, an encoded-word or a literal where the address
 *   is, too many domains; inbound.c adds FIELDS when several From fields
 *   are refused) is "bad": every candidate - the addr-spec domains and
 *   every domain read out of it (from_domain.h) - counts as FAILING under
 *   its own policy, whatever SPF and DKIM say; no candidate can pass. The
 *   answer (from_bad set, reason starting with the problem) is:
 *     - fail, with the strictest disposition among the candidates that
 *       publish a policy (header.from: that domain);
 *     - temperror if a lookup timed out and no candidate says reject;
 *     - permerror otherwise (no candidate publishes a usable policy, or
 *       there is no candidate at all: header.from absent);
 *     - more than FROM_DOMAIN_MAX domains: fail, disposition reject, no
 *       lookup at all (the domains past the bound are not looked up, and
 *       any of them may publish p=reject: "failing under the strictest
 *       policy a reader could see"), header.from absent.
 *   What the receiver then does with a bad From (dmarc_bad_from,
 *   dmarc_multiple_from) is the caller's: inbound.h.
 *
 * BOUNDS
 *   At most FROM_DOMAIN_MAX (8) domains are looked up per message, each
 *   with at most two TXT lookups (_dmarc.<domain>, _dmarc.<org domain>)
 *   and three existence lookups (A, AAAA, MX; only when np= would change
 *   the answer): DMARC_LOOKUPS_MAX (40) per message. With a resolver that
 *   can submit (lib/dns), a From with several domains has all of them
 *   submitted at once before the walk, and the three existence lookups
 *   of one domain are too, so a message's DMARC costs about one DNS
 *   timeout however many of its domains are slow, not one per lookup.
 *
 * Thread safe: no shared state besides the Public Suffix List, loaded
 * once. Reports (rua/ruf) are kept in the answer, never sent from here.
 */
#ifndef POSTMETER_DMARC_H
#define POSTMETER_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "from_domain.h"
#include "orgdomain.h"

enum dmarc_result {
    DMARC_RESULT_NONE = 0,
    DMARC_RESULT_PASS,
    DMARC_RESULT_FAIL,
    DMARC_RESULT_TEMPERROR,
    DMARC_RESULT_PERMERROR,
};

/* A policy tag's value; also the disposition (never UNSET there). */
enum dmarc_policy {
    DMARC_POLICY_UNSET = 0, /* tag absent (or invalid and ignored) */
    DMARC_POLICY_NONE,
    DMARC_POLICY_QUARANTINE,
    DMARC_POLICY_REJECT,
};

/* Which tag the applied policy came from. */
enum dmarc_source { DMARC_SOURCE_NONE = 0, DMARC_SOURCE_P, DMARC_SOURCE_SP, DMARC_SOURCE_NP };

enum dmarc_align { DMARC_ALIGN_RELAXED = 0, DMARC_ALIGN_STRICT };

/* An SPF or DKIM result as DMARC sees it: only pass counts. */
enum dmarc_auth { DMARC_AUTH_NONE = 0, DMARC_AUTH_PASS, DMARC_AUTH_FAIL, DMARC_AUTH_OTHER };

enum dmarc_spf_identity { DMARC_SPF_MAILFROM = 0, DMARC_SPF_HELO };

struct dmarc_spf {
    enum dmarc_auth result;
    const char *domain;               /* domain SPF checked (an "a@domain" is cut at '@') */
    enum dmarc_spf_identity identity; /* HELO never aligns (see above) */
};

struct dmarc_dkim {
    enum dmarc_auth result;
    const char *domain; /* d= */
};

struct dmarc_input {
    const struct from_domains *from;
    unsigned bad_flags; /* From flags that make it "bad"; 0 = FROM_DOMAIN_BAD */
    struct dmarc_spf spf;
    const struct dmarc_dkim *dkim; /* ndkim signatures, any order */
    size_t ndkim;
    unsigned sample; /* 0..99, uniformly random per message (taken % 100) */
};

/* Lookups of one message at most (see BOUNDS). */
#define DMARC_LOOKUPS_MAX (FROM_DOMAIN_MAX * 5)

/*
 * How DNS is asked: lookup(arg, name, type) returns a result the caller
 * of lookup frees (dns_result_free). Optionally submit() starts a lookup
 * and returns a handle that wait() (result as lookup's) or cancel() then
 * takes, once; NULL submit = lookup() only. dmarc_resolver_dns() wraps
 * lib/dns; unit tests pass their own table.
 */
struct dmarc_resolver {
    struct dns_result *(*lookup)(void *arg, const char *name, int type);
    void *arg;
    void *(*submit)(void *arg, const char *name, int type);
    struct dns_result *(*wait)(void *arg, void *query);
    void (*cancel)(void *arg, void *query);
};

/* A parsed DMARC record (RFC 7489 6.3). */
struct dmarc_record {
    enum dmarc_policy p, sp, np; /* UNSET when absent or invalid */
    bool p_bad, sp_bad;          /* present but invalid (or repeated) */
    enum dmarc_align adkim, aspf;
    unsigned pct;    /* 0..100, default 100 */
    char *rua, *ruf; /* as published (trimmed), NULL if absent; dmarc_record_clear */
    bool rua_valid;  /* at least one syntactically valid URI in rua */
    unsigned bad;    /* how many tags were malformed, invalid or repeated */
};

enum dmarc_record_status {
    DMARC_RECORD_OK = 0,    /* usable (possibly read as p=none, RFC 7489 6.6.3) */
    DMARC_RECORD_NOT_DMARC, /* does not start with v=DMARC1: ignore it */
    DMARC_RECORD_INVALID,   /* a DMARC record with no usable policy: no processing */
};

struct dmarc_answer {
    enum dmarc_result result;
    char from_domain[ORGDOMAIN_LEN];   /* header.from; "" when absent */
    char policy_domain[ORGDOMAIN_LEN]; /* where the record was found; "" if none */
    char org_domain[ORGDOMAIN_LEN];    /* of from_domain; "" if none */
    enum dmarc_policy p, sp, np;       /* as published (p after 6.6.3) */
    enum dmarc_source source;          /* tag that applied (fail only) */
    enum dmarc_policy policy;          /* its value (fail only) */
    unsigned pct;
    bool sampled;                  /* this message fell in the pct sample */
    enum dmarc_policy disposition; /* NONE, QUARANTINE or REJECT */
    enum dmarc_align adkim, aspf;
    bool spf_aligned, dkim_aligned;  /* an aligned pass of that kind exists */
    char dkim_domain[ORGDOMAIN_LEN]; /* d= of the first aligned pass, or "" */
    char *rua, *ruf;                 /* from the record; dmarc_answer_clear frees */
    unsigned from_flags;             /* FROM_DOMAIN_* of the input */
    bool from_bad;                   /* the From cannot be evaluated (see above) */
    size_t ndomains;                 /* candidate From domains evaluated */
    unsigned lookups;                /* DNS lookups made (<= DMARC_LOOKUPS_MAX) */
    char reason[160];                /* short, printable ASCII */
};

/*
 * dmarc_record_parse - parse one TXT record txt[0..len) into *rec (which
 * the caller clears with dmarc_record_clear whatever the status).
 */
enum dmarc_record_status dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *rec);
/* dmarc_record_clear - free rua/ruf and zero the record */
void dmarc_record_clear(struct dmarc_record *rec);
/* dmarc_record_is_dmarc - does txt[0..len) start with the v=DMARC1 tag? */
bool dmarc_record_is_dmarc(const char *txt, size_t len);

/* dmarc_resolver_dns - a resolver that asks lib/dns (d outlives it) */
struct dmarc_resolver dmarc_resolver_dns(struct dns *d);

/*
 * dmarc_eval - evaluate DMARC for one message; fills *out (caller clears
 * it with dmarc_answer_clear). Blocks for the DNS lookups (at most two
 * TXT and three existence lookups per candidate From domain, BOUNDS).
 */
void dmarc_eval(const struct dmarc_resolver *res, const struct dmarc_input *in,
                struct dmarc_answer *out);
/* dmarc_answer_clear - free rua/ruf and zero the answer */
void dmarc_answer_clear(struct dmarc_answer *a);

/* dmarc_result_name - "none", "pass", "fail", "temperror", "permerror" */
const char *dmarc_result_name(enum dmarc_result r);
/* dmarc_policy_name - "unset", "none", "quarantine", "reject" */
const char *dmarc_policy_name(enum dmarc_policy p);
/* dmarc_source_name - "", "p", "sp", "np" */
const char *dmarc_source_name(enum dmarc_source s);

#endif
