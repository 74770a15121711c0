/*
 * inbound.c - SPF + DKIM + DMARC for one inbound message, one
 * Authentication-Results value and the policy decision (see inbound.h).
 *
 * This file glues the evaluators together and applies the configured
 * policy; it must never evaluate SPF, DKIM or DMARC itself, never refuse
 * mail for anything but a DMARC disposition, and never put message
 * content into a log line.
 */
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "dkim_verify.h"
#include "dmarc.h"
#include "from_domain.h"
#include "inbound.h"
#include "log.h"
#include "netaddr.h"
#include "orgdomain.h"
#include "spf.h"
#include "util.h"

struct inbound {
    struct dns *dns;
    struct dkimv *dkimv;
};

struct inbound_msg {
    struct inbound *ib;
    const struct config *c;
    char *client_ip, *helo, *mail_from;
    struct spf_check *spf_check; /* until inbound_eom() */
    struct spf_answer spf;
    struct dkimv_msg *dkim;
    const struct dkimv_results *dkim_res;
    char *from[FROM_FIELDS_MAX];      /* FROM_VALUE_MAX + 1 bytes of each: a longer one is CUT */
    size_t nfrom, from_dropped;       /* more are counted: FIELDS and TOO_MANY, a reject */
    struct from_domains from_domains; /* what DMARC judged (inbound_eom) */
    unsigned authres_seen;            /* Authentication-Results fields so far */
    struct authres_list remove;       /* the ones that claim our authserv-id */
    struct dmarc_answer dmarc;
    bool done;
    char *authres;
    char reason[256];
    struct inbound_verdict v;
};

/* inbound_open - the process-wide part */
struct inbound *inbound_open(struct dns *d, const struct config *c, char *err, size_t errlen)
{
    struct inbound *ib = xcalloc(1, sizeof(*ib));

    orgdomain_init();
    ib->dns = d;
    ib->dkimv = dkimv_open(d, c->dkim_max_signatures, c->dkim_min_key_bits, err, errlen);
    if (ib->dkimv == NULL) {
        free(ib);
        return NULL;
    }
    return ib;
}

/* inbound_close - free it */
struct inbound *inbound_close(struct inbound *ib)
{
    if (ib) {
        dkimv_close(ib->dkimv);
        free(ib);
    }
    return NULL;
}

/* inbound_begin - start a message; SPF starts now */
struct inbound_msg *inbound_begin(struct inbound *ib, const struct config *c, const char *client_ip,
                                  const char *helo, const char *mail_from, unsigned flags)
{
    struct inbound_msg *m = xcalloc(1, sizeof(*m));
    struct spf_request req = {0};
    unsigned dflags;

    m->ib = ib;
    m->c = c;
    m->client_ip = xstrdup(client_ip);
    m->helo = xstrdup(helo ? helo : "");
    m->mail_from = xstrdup(mail_from ? mail_from : "");
    if (m->client_ip) {
        req.client_ip = m->client_ip;
        req.helo = m->helo;
        req.mail_from = m->mail_from;
        req.identity = SPF_ID_MAILFROM;
        req.receiver = config_effective_hostname(c);
        m->spf_check = spf_start(ib->dns, &req);
    }
    dflags = ((flags & INBOUND_LEADSPC) ? DKIMV_LEADSPC : 0) |
             (c->dkim_partial_body == PARTIAL_BODY_COUNT ? DKIMV_PARTIAL_COUNTS : 0);
    m->dkim = dkimv_begin(ib->dkimv, NULL, dflags);
    return m;
}

/* inbound_header - one header field */
void inbound_header(struct inbound_msg *m, const char *name, const char *value)
{
    dkimv_header(m->dkim, name, value);
    if (from_is_name(name)) {
        if (m->nfrom < FROM_FIELDS_MAX)
            m->from[m->nfrom++] = xstrndup(value, FROM_VALUE_MAX + 1);
        else
            m->from_dropped++;
    } else if (str_eq_nocase(name, AUTHRES_HEADER)) {
        m->authres_seen++;
        if (authres_is_ours(value, config_effective_authserv_id(m->c))) {
            authres_list_add(&m->remove, m->authres_seen);
        }
    }
}

/* inbound_eoh - end of the header block */
void inbound_eoh(struct inbound_msg *m)
{
    dkimv_eoh(m->dkim);
}

/* inbound_body - a chunk of the body */
void inbound_body(struct inbound_msg *m, const unsigned char *chunk, size_t len)
{
    dkimv_body(m->dkim, chunk, len);
}

/* dmarc_auth_of - an RFC 8601 result word as DMARC input */
static enum dmarc_auth dmarc_auth_of(bool pass, bool fail)
{
    return pass ? DMARC_AUTH_PASS : fail ? DMARC_AUTH_FAIL : DMARC_AUTH_OTHER;
}

/* run_dmarc - evaluate DMARC from the From fields and the SPF and DKIM results */
static void run_dmarc(struct inbound_msg *m)
{
    struct from_domains *from = &m->from_domains;
    struct dmarc_input in = {0};
    struct dmarc_dkim *dk = xcalloc(m->dkim_res->n + 1, sizeof(*dk));
    struct dmarc_resolver res = dmarc_resolver_dns(m->ib->dns);

    from_domain_analyze((const char *const *)m->from, m->nfrom, from);
    if (m->from_dropped)
        from->flags |= FROM_DOMAIN_FIELDS | FROM_DOMAIN_TOO_MANY;
    in.from = from;
    /* several From fields are refused unless the admin asks to evaluate them */
    in.bad_flags = FROM_DOMAIN_BAD |
                   (m->c->dmarc_multiple_from != FROM_ACTION_EVALUATE ? FROM_DOMAIN_FIELDS : 0);
    if (m->client_ip) {
        in.spf.result =
            m->spf.result == SPF_NONE
                ? DMARC_AUTH_NONE
                : dmarc_auth_of(m->spf.result == SPF_PASS,
                                m->spf.result == SPF_FAIL || m->spf.result == SPF_SOFTFAIL);
        in.spf.domain = m->spf.domain ? m->spf.domain : "";
        in.spf.identity = m->spf.identity == SPF_ID_HELO ? DMARC_SPF_HELO : DMARC_SPF_MAILFROM;
    } else {
        in.spf.result = DMARC_AUTH_NONE;
        in.spf.domain = "";
    }
    for (size_t i = 0; i < m->dkim_res->n; i++) {
        /* a pass over part of the body only (l=) may not vouch for the From: domain */
        dk[i].result = dmarc_auth_of(m->dkim_res->sig[i].result == DKIMV_PASS &&
                                         !m->dkim_res->sig[i].dmarc_ignore,
                                     m->dkim_res->sig[i].result == DKIMV_FAIL);
        dk[i].domain = m->dkim_res->sig[i].domain;
    }
    in.dkim = dk;
    in.ndkim = m->dkim_res->n;
    in.sample = arc4random_uniform(100);
    dmarc_eval(&res, &in, &m->dmarc);
    free(dk);
}

/* build_authres - the one Authentication-Results value */
static char *build_authres(struct inbound_msg *m)
{
    struct authres ar;
    char comment[256];

    authres_begin(&ar, config_effective_authserv_id(m->c));
    if (m->client_ip) {
        const char *why = m->spf.problem ? m->spf.problem : NULL;

        authres_method(&ar, "spf", spf_result_name(m->spf.result), why);
        if (m->spf.identity == SPF_ID_HELO)
            authres_prop(&ar, "smtp.helo", m->helo);
        else
            authres_prop(&ar, "smtp.mailfrom", m->mail_from);
    }
    if (m->dkim_res->n == 0)
        authres_method(&ar, "dkim", "none", NULL);
    for (size_t i = 0; i < m->dkim_res->n; i++) {
        const struct dkimv_sig *s = &m->dkim_res->sig[i];

        if (s->comment[0] && s->key_bits)
            snprintf_ok(comment, sizeof(comment), "%u-bit key; %s", s->key_bits, s->comment);
        else if (s->key_bits)
            snprintf_ok(comment, sizeof(comment), "%u-bit key", s->key_bits);
        else if (!strlcpy_ok(comment, s->comment, sizeof(comment)))
            debug("inbound: dkim comment cut");
        authres_method(&ar, "dkim", dkimv_result_name(s->result), comment);
        authres_prop(&ar, "header.d", s->domain);
        if (s->identity)
            authres_prop(&ar, "header.i", s->identity);
        authres_prop(&ar, "header.s", s->selector);
        authres_prop(&ar, "header.a", s->algorithm);
        authres_prop(&ar, "header.b", s->b);
    }
    if (m->dmarc.from_bad) { /* the reason says what is wrong with the From */
        if (!strlcpy_ok(comment, m->dmarc.reason, sizeof(comment)))
            debug("inbound: dmarc reason cut");
    } else if (m->dmarc.result == DMARC_RESULT_FAIL)
        snprintf_ok(comment, sizeof(comment), "p=%s dis=%s", dmarc_policy_name(m->dmarc.p),
                    dmarc_policy_name(m->dmarc.disposition));
    else if (m->dmarc.result == DMARC_RESULT_PASS)
        snprintf_ok(comment, sizeof(comment), "p=%s", dmarc_policy_name(m->dmarc.p));
    else if (!strlcpy_ok(comment, m->dmarc.reason, sizeof(comment)))
        debug("inbound: dmarc reason cut");
    authres_method(&ar, "dmarc", dmarc_result_name(m->dmarc.result), comment);
    if (m->dmarc.from_domain[0])
        authres_prop(&ar, "header.from", m->dmarc.from_domain);
    if (m->dmarc.result == DMARC_RESULT_FAIL)
        authres_prop(&ar, "policy.dmarc", dmarc_policy_name(m->dmarc.disposition));
    return authres_finish(&ar);
}

/* domain_within - d equals allowed or is a subdomain of it (case-insensitive) */
static bool domain_within(const char *d, const char *allowed)
{
    size_t dl = strlen(d), al = strlen(allowed);

    if (dl < al || al == 0)
        return false;
    if (!str_eq_nocase(d + dl - al, allowed))
        return false;
    return dl == al || d[dl - al - 1] == '.';
}

/* domain_allowed - is d within a domain of auth_allow (split at config load)? */
static bool domain_allowed(const struct inbound_msg *m, const char *d)
{
    for (char **p = m->c->auth_allow_domains; p && *p; p++)
        if (domain_within(d, *p))
            return true;
    return false;
}

/*
 * allowed - is this message exempt from the policy by auth_allow? By
 * domain only when EVERY domain of the From is allowed (and there are
 * some, and not too many): one allowed domain must not carry another.
 */
static bool allowed(const struct inbound_msg *m)
{
    const struct from_domains *fd = &m->from_domains;
    struct netaddr ip;
    bool have_ip = m->client_ip && netaddr_parse(m->client_ip, &ip);

    if (have_ip && netlist_match(&m->c->auth_allow_nets, &ip))
        return true;
    if (fd->n == 0 || (fd->flags & FROM_DOMAIN_TOO_MANY))
        return false;
    for (size_t i = 0; i < fd->n; i++)
        if (!domain_allowed(m, fd->domain[i]))
            return false;
    return true;
}

/* stricter - the stricter of two actions short of tempfail */
static enum inbound_action stricter(enum inbound_action a, enum inbound_action b)
{
    return a > b ? a : b;
}

/*
 * from_action - what a From DMARC cannot evaluate asks for (habit 16):
 * dmarc_multiple_from for several fields (unless evaluated), else
 * dmarc_bad_from; never less than what its domains' policies ask.
 */
static enum inbound_action from_action(const struct inbound_msg *m)
{
    const struct config *c = m->c;
    bool fields = (m->from_domains.flags & FROM_DOMAIN_FIELDS) &&
                  c->dmarc_multiple_from != FROM_ACTION_EVALUATE;
    int act = fields ? c->dmarc_multiple_from : c->dmarc_bad_from;

    if (fields && (m->from_domains.flags & FROM_DOMAIN_BAD & ~FROM_DOMAIN_FIELDS))
        act = c->dmarc_bad_from < act ? c->dmarc_bad_from : act; /* the stricter of both */
    return act == FROM_ACTION_REJECT ? INBOUND_REJECT : INBOUND_QUARANTINE;
}

/* decide - the action the configuration asks for */
static void decide(struct inbound_msg *m)
{
    const struct dmarc_answer *d = &m->dmarc;
    struct inbound_verdict *v = &m->v;
    int enforce = m->c->dmarc_enforce;
    enum inbound_action want = INBOUND_ACCEPT;

    if (d->result == DMARC_RESULT_FAIL && d->disposition == DMARC_POLICY_REJECT)
        want = INBOUND_REJECT;
    else if (d->result == DMARC_RESULT_FAIL && d->disposition == DMARC_POLICY_QUARANTINE)
        want = INBOUND_QUARANTINE;
    if (d->from_bad)
        want = stricter(want, from_action(m));
    /* dmarc_enforce is the strongest action DMARC, the From included, may cause */
    if (enforce == ENFORCE_NONE)
        want = INBOUND_ACCEPT;
    else if (enforce == ENFORCE_QUARANTINE && want == INBOUND_REJECT)
        want = INBOUND_QUARANTINE;
    v->action = want;
    if (d->from_bad && want != INBOUND_ACCEPT) {
        snprintf_ok(m->reason, sizeof(m->reason), "From field cannot be evaluated: %s", d->reason);
    } else if (want != INBOUND_ACCEPT) {
        snprintf_ok(m->reason, sizeof(m->reason), "DMARC policy of %s: %s", d->from_domain,
                    dmarc_policy_name(d->disposition));
    }
    if (d->result == DMARC_RESULT_TEMPERROR && want != INBOUND_REJECT &&
        (m->c->on_temperror == ON_ERROR_TEMPFAIL || (d->from_bad && enforce == ENFORCE_REJECT))) {
        /*
         * A bad From whose domains could not all be looked up may hide a
         * p=reject: try again later rather than deliver or only hold it.
         */
        v->action = INBOUND_TEMPFAIL;
        snprintf_ok(m->reason, sizeof(m->reason), "DMARC check of %s failed temporarily",
                    d->from_domain[0] ? d->from_domain : "the sender");
    }
    if (v->action != INBOUND_ACCEPT && allowed(m)) {
        info("inbound: %s: not applied, auth_allow matches", m->reason);
        v->action = INBOUND_ACCEPT;
    }
    if (v->action == INBOUND_REJECT) {
        v->rcode = "550";
        v->xcode = "5.7.1";
    } else if (v->action == INBOUND_TEMPFAIL) {
        v->rcode = "451";
        v->xcode = "4.7.5";
    }
    v->quarantine_header =
        v->action == INBOUND_QUARANTINE && m->c->dmarc_quarantine == QUARANTINE_HEADER;
    v->reason = m->reason;
}

/* inbound_eom - finish every check and decide */
const struct inbound_verdict *inbound_eom(struct inbound_msg *m)
{
    if (m->done)
        return &m->v;
    m->done = true;
    if (m->spf_check) {
        spf_finish(m->spf_check, &m->spf);
        m->spf_check = NULL;
    }
    m->dkim_res = dkimv_eom(m->dkim);
    run_dmarc(m);
    m->authres = build_authres(m);
    decide(m);
    m->v.authres = m->authres;
    m->v.remove = m->remove.v;
    m->v.nremove = m->remove.n;
    return &m->v;
}

/* add - one ledger result with its identity and reason */
static struct ledger_auth *add(struct ledger_msg *lm, const char *method, const char *result,
                               const char *identity, const char *reason)
{
    struct ledger_auth *a = ledger_msg_add_auth(lm, method, result);

    if (a) {
        ledger_msg_set(&a->identity, identity);
        ledger_msg_set(&a->reason, reason && *reason ? reason : NULL);
    }
    return a;
}

/* inbound_record - add the results to a ledger record */
void inbound_record(const struct inbound_msg *m, struct ledger_msg *lm)
{
    struct ledger_auth *a;

    if (!m->done)
        return;
    if (m->client_ip)
        add(lm, "spf", spf_result_name(m->spf.result), m->spf.domain,
            m->spf.problem ? m->spf.problem : m->spf.mechanism);
    for (size_t i = 0; i < m->dkim_res->n; i++) {
        const struct dkimv_sig *s = &m->dkim_res->sig[i];

        if ((a = add(lm, "dkim", dkimv_result_name(s->result), s->domain, s->comment))) {
            ledger_msg_set(&a->selector, s->selector);
            ledger_msg_set(&a->algorithm, s->algorithm);
        }
    }
    a = add(lm, "dmarc", dmarc_result_name(m->dmarc.result),
            m->dmarc.from_domain[0] ? m->dmarc.from_domain : NULL, m->dmarc.reason);
    if (a && (m->dmarc.policy_domain[0] || m->dmarc.result == DMARC_RESULT_FAIL)) {
        enum dmarc_policy p = m->dmarc.result == DMARC_RESULT_FAIL ? m->dmarc.policy : m->dmarc.p;

        ledger_msg_set(&a->policy, dmarc_policy_name(p));
        ledger_msg_set(&a->disposition, dmarc_policy_name(m->dmarc.disposition));
    }
}

/* inbound_end - free the message */
struct inbound_msg *inbound_end(struct inbound_msg *m)
{
    if (m == NULL)
        return NULL;
    if (m->spf_check)
        spf_cancel(m->spf_check);
    spf_answer_free(&m->spf);
    dkimv_end(m->dkim);
    for (size_t i = 0; i < m->nfrom; i++)
        free(m->from[i]);
    dmarc_answer_clear(&m->dmarc);
    authres_list_free(&m->remove);
    free(m->authres);
    free(m->client_ip);
    free(m->helo);
    free(m->mail_from);
    free(m);
    return NULL;
}

/* inbound_action_name - the action's word */
const char *inbound_action_name(enum inbound_action a)
{
    static const char *const names[] = {"accept", "quarantine", "reject", "tempfail"};

    return names[a];
}
