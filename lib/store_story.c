/*
 * store_story.c - why a ledger message got its DMARC result, in words
 * (store_story.h), from the results the milter stored: auth/inbound.c
 * (inbound_record) writes one spf row (identity: the domain checked,
 * the HELO name for the null sender; reason: the problem or the
 * mechanism that matched), one dkim row per signature (identity d=,
 * selector, reason), and one dmarc row (identity: the From domain;
 * policy: the applied tag's value on fail, else the published p=;
 * disposition; reason as auth/dmarc.c words it).
 *
 * It reads what was stored and never re-evaluates anything: a fail
 * means no aligned pass existed, so every SPF or DKIM pass on a failing
 * message is reported as not aligned. A reason it does not recognise is
 * quoted as stored. Holds no SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store_story.h"
#include "util.h"

/* find - the first result of method in m, NULL if none */
static const struct ledger_auth *find(const struct ledger_msg *m, const char *method)
{
    for (size_t i = 0; i < m->nauth; i++)
        if (m->auth[i].method && strcmp(m->auth[i].method, method) == 0)
            return &m->auth[i];
    return NULL;
}

/* is - a->result is word */
static bool is(const struct ledger_auth *a, const char *word)
{
    return a->result && strcmp(a->result, word) == 0;
}

/* or_unknown - s, or a word for its absence */
static const char *or_unknown(const char *s)
{
    return s && *s ? s : "(no domain)";
}

/* What the stored DMARC reason says, taken apart. */
struct why {
    char tag[3];    /* "p", "sp" or "np" of "; p=reject" (fail); "" if not said */
    char value[16]; /* its value, from the reason */
    bool unsampled; /* ", not in pct sample" */
    bool failing;   /* "counted as failing": a From that cannot be evaluated */
    char bad[160];  /* what was wrong with that From ("" if not said) */
    int ndomains;   /* " (strictest of N From domains)"; 0 if not said */
    char rest[256]; /* the reason without the multi-domain suffix */
};

/* take_apart - read the parts of the reason r into w */
static void take_apart(const char *r, struct why *w)
{
    const char *p;
    int n;

    memset(w, 0, sizeof(*w));
    if (r == NULL)
        return;
    snprintf_cut(w->rest, sizeof(w->rest), "%s", r);
    if ((p = strstr(w->rest, " (strictest of ")) && sscanf(p, " (strictest of %d From", &n) == 1) {
        w->ndomains = n;
        w->rest[p - w->rest] = '\0';
    }
    w->unsampled = strstr(w->rest, ", not in pct sample") != NULL;
    if ((p = strstr(w->rest, "counted as failing"))) {
        w->failing = true;
        if (p - w->rest >= 2 && p[-2] == ':')
            snprintf_cut(w->bad, sizeof(w->bad), "%.*s", (int)(p - w->rest - 2), w->rest);
    }
    for (const char *const *t = (const char *const[]){"p", "sp", "np", NULL}; *t; t++) {
        char key[8];
        size_t k, len;

        snprintf_cut(key, sizeof(key), "; %s=", *t);
        if ((p = strstr(w->rest, key)) == NULL)
            continue;
        p += strlen(key);
        for (len = 0; p[len] >= 'a' && p[len] <= 'z' && len + 1 < sizeof(w->value); len++)
            ;
        for (k = 0; k < len; k++)
            w->value[k] = p[k];
        w->value[len] = '\0';
        if (len > 0)
            snprintf_cut(w->tag, sizeof(w->tag), "%s", *t);
    }
}

/* spf_words - the SPF clause of a failing message */
static void spf_words(const struct ledger_msg *m, struct buf *out)
{
    static const char *const verbs[][2] = {
        {"fail", "SPF failed"},
        {"softfail", "SPF soft-failed"},
        {"neutral", "SPF was neutral"},
        {"none", "no SPF record"},
        {"temperror", "SPF had a temporary DNS error"},
        {"permerror", "SPF had a permanent error"},
    };
    const struct ledger_auth *a = find(m, "spf");

    if (a == NULL) {
        buf_puts(out, "; no SPF result (no client address)");
        return;
    }
    if (is(a, "pass")) {
        if (m->mail_from && *m->mail_from == '\0')
            buf_printf(out, "; SPF passed for the HELO name %s, which never aligns",
                       or_unknown(a->identity));
        else
            buf_printf(out, "; SPF passed for %s, which is not aligned", or_unknown(a->identity));
        return;
    }
    buf_puts(out, "; ");
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (is(a, verbs[i][0])) {
            buf_printf(out, "%s for %s", verbs[i][1], or_unknown(a->identity));
            if (a->reason)
                buf_printf(out, " (%s)", a->reason);
            return;
        }
    buf_printf(out, "SPF %s for %s", a->result ? a->result : "?", or_unknown(a->identity));
}

/* dkim_words - the DKIM clause of a failing message whose From domain is dom */
static void dkim_words(const struct ledger_msg *m, const char *dom, struct buf *out)
{
    size_t nsig = 0, nbad = 0;

    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];

        if (strcmp(a->method, "dkim") != 0)
            continue;
        nsig++;
        if (is(a, "pass"))
            buf_printf(out, "; DKIM passed for d=%s (s=%s), which is not aligned",
                       or_unknown(a->identity), a->selector ? a->selector : "?");
    }
    if (nsig == 0) {
        buf_puts(out, "; the message had no DKIM signature");
        return;
    }
    buf_printf(out, "; no DKIM signature%s%s verified", dom ? " of " : "", dom ? dom : "");
    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];

        if (strcmp(a->method, "dkim") != 0 || is(a, "pass"))
            continue;
        buf_printf(out, "%sd=%s s=%s: %s%s%s", nbad++ ? ", " : " (", or_unknown(a->identity),
                   a->selector ? a->selector : "?", a->result ? a->result : "?",
                   a->reason ? ", " : "", a->reason ? a->reason : "");
    }
    if (nbad)
        buf_putc(out, ')');
}

/* tag_words - "publishes p=reject" for the tag that applied */
static void tag_words(const char *tag, const char *value, struct buf *out)
{
    if (strcmp(tag, "sp") == 0)
        buf_printf(out, " publishes sp=%s for its subdomains", value);
    else if (strcmp(tag, "np") == 0)
        buf_printf(out, " publishes np=%s for subdomains that do not exist", value);
    else
        buf_printf(out, " publishes p=%s", value);
}

/* fail_words - a DMARC fail */
static void fail_words(const struct ledger_msg *m, const struct ledger_auth *d, const struct why *w,
                       struct buf *out)
{
    const char *value = d->policy ? d->policy : w->value[0] ? w->value : NULL;

    if (d->identity)
        buf_printf(out, ": From domain %s", d->identity);
    else
        buf_puts(out, ": no usable From domain");
    if (value && d->identity)
        tag_words(w->tag[0] ? w->tag : "p", value, out);
    else if (value)
        buf_printf(out, ", treated as p=%s", value);
    if (d->disposition && value && strcmp(d->disposition, value) != 0)
        buf_printf(out, "; the message was not in the pct= sample, so it asks for %s only",
                   d->disposition);
    if (w->failing || d->identity == NULL) {
        buf_printf(out,
                   "; the From header cannot be evaluated safely (%s), so no SPF or DKIM "
                   "pass counts",
                   w->bad[0]    ? w->bad
                   : w->rest[0] ? w->rest
                                : "no usable From");
        return;
    }
    spf_words(m, out);
    dkim_words(m, d->identity, out);
    if (w->tag[0] == '\0' && w->rest[0])
        buf_printf(out, "; stored reason: %s", w->rest);
}

/* pass_words - a DMARC pass: which aligned result made it */
static void pass_words(const struct ledger_msg *m, const struct ledger_auth *d, const struct why *w,
                       struct buf *out)
{
    const struct ledger_auth *spf = find(m, "spf");
    const char *dom = d->identity;
    char dkim_d[256] = "";

    buf_printf(out, ": From domain %s", or_unknown(dom));
    if (d->policy)
        buf_printf(out, " publishes p=%s", d->policy);
    if (sscanf(w->rest, "aligned DKIM pass (d=%255[^)])", dkim_d) != 1 && w->rest[0] == '\0' &&
        dom) { /* no reason stored: an exact match aligns in every mode */
        for (size_t i = 0; i < m->nauth && !dkim_d[0]; i++)
            if (strcmp(m->auth[i].method, "dkim") == 0 && is(&m->auth[i], "pass") &&
                m->auth[i].identity && strcasecmp(m->auth[i].identity, dom) == 0)
                snprintf_cut(dkim_d, sizeof(dkim_d), "%s", m->auth[i].identity);
    }
    if (dkim_d[0]) {
        const char *sel = NULL;

        for (size_t i = 0; i < m->nauth && sel == NULL; i++)
            if (strcmp(m->auth[i].method, "dkim") == 0 && is(&m->auth[i], "pass") &&
                m->auth[i].identity && strcasecmp(m->auth[i].identity, dkim_d) == 0)
                sel = m->auth[i].selector;
        buf_printf(out, "; the DKIM signature of %s%s%s%s verified and is aligned", dkim_d,
                   sel ? " (s=" : "", sel ? sel : "", sel ? ")" : "");
    } else if (strcmp(w->rest, "aligned SPF pass") == 0 ||
               (w->rest[0] == '\0' && spf && is(spf, "pass") && spf->identity && dom &&
                strcasecmp(spf->identity, dom) == 0)) {
        buf_printf(out, "; SPF passed for %s, which is aligned",
                   spf ? or_unknown(spf->identity) : "(no domain)");
    } else if (w->rest[0]) {
        buf_printf(out, "; %s", w->rest);
    }
}

/* other_words - none, temperror, permerror: what the stored reason means */
static void other_words(const struct ledger_auth *d, const struct why *w, struct buf *out)
{
    char name[256];

    if (d->identity)
        buf_printf(out, ": From domain %s", d->identity);
    if (strcmp(w->rest, "no DMARC record") == 0)
        buf_puts(out, d->identity ? " publishes no DMARC record (nor does its organizational "
                                    "domain), so no policy applies"
                                  : ": no DMARC record, so no policy applies");
    else if (sscanf(w->rest, "several DMARC records at _dmarc.%255s", name) == 1)
        buf_printf(out, "; _dmarc.%s has several DMARC records, so none of them applies", name);
    else if (sscanf(w->rest, "DNS timeout or failure for _dmarc.%255s", name) == 1)
        buf_printf(out,
                   "; the DNS lookup of _dmarc.%s timed out or failed, so the result "
                   "could not be known",
                   name);
    else if (sscanf(w->rest, "DNS timeout checking whether %255s exists", name) == 1)
        buf_printf(out,
                   "; a DNS timeout while checking whether %s exists (np= would apply if "
                   "it does not)",
                   name);
    else if (sscanf(w->rest, "record at _dmarc.%255[^:]:", name) == 1)
        buf_printf(out,
                   "; the record at _dmarc.%s has a bad or missing p= (or a bad sp=) and "
                   "no valid rua=, so no policy can be applied",
                   name);
    else if (sscanf(w->rest, "DNS error for _dmarc.%255s", name) == 1)
        buf_printf(out, "; DNS answered the lookup of _dmarc.%s with a permanent error", name);
    else if (sscanf(w->rest, "no organizational domain for %255s", name) == 1)
        buf_printf(out, "; %s has no organizational domain (a public suffix?)", name);
    else if (w->rest[0])
        buf_printf(out, "; %s", w->rest);
}

/* store_story_dmarc - why m got its DMARC result, in words */
void store_story_dmarc(const struct ledger_msg *m, struct buf *out)
{
    const struct ledger_auth *d = find(m, "dmarc");
    struct why w;

    if (d == NULL) {
        buf_puts(out, m->direction == LEDGER_OUTBOUND
                          ? "no DMARC result: outbound mail is not evaluated"
                          : "no DMARC result stored");
        return;
    }
    take_apart(d->reason, &w);
    buf_printf(out, "DMARC %s", d->result ? d->result : "?");
    if (is(d, "fail"))
        fail_words(m, d, &w, out);
    else if (is(d, "pass"))
        pass_words(m, d, &w, out);
    else
        other_words(d, &w, out);
    if (w.ndomains > 1)
        buf_printf(out, "; the strictest answer of the %d From domains", w.ndomains);
}
