/*
 * spf_lookup.c - the SPF evaluator's DNS: lookups within the check's
 * deadline and how their answers count, names to look up from
 * domain-specs, the macro values of a check, and the client's validated
 * PTR names (the ptr mechanism and the %{p} macro).
 *
 * SUMMARY
 *   A timeout, SERVFAIL or any rcode other than NOERROR and NXDOMAIN is
 *   SPF_LK_TEMP (temperror) with the problem recorded; NXDOMAIN, NODATA
 *   and a name libunbound cannot put on the wire are SPF_LK_VOID. Names
 *   go to lib/dns in presentation form ('\' and bytes outside
 *   0x21..0x7e escaped), so a macro value cannot change a name's labels;
 *   names that came from DNS (MX hosts, PTR names) go back as lib/dns
 *   gave them, already in that form.
 *   An expanded name loses a trailing dot and, past 253 octets, labels on
 *   the left (RFC 7208 7.3); one with an empty or overlong label cannot
 *   exist and is not looked up.
 *
 *   PTR (RFC 7208 5.5, 7.3): the client's PTR names are looked up once per
 *   check, the first 10 kept; a name is validated (once) when its A or
 *   AAAA records hold the client address. Failed lookups here skip the
 *   name and are no problem of the check. %{p} prefers a validated name
 *   equal to <domain>, then a subdomain of it, then any; else "unknown".
 *
 * NEVER
 *   Never waits past the deadline for a new lookup, never looks at more
 *   than 10 PTR names, never lets a name into a problem string unescaped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "spf_int.h"
#include "spf_record.h"
#include "util.h"

#define QUOTE_MAX 80 /* bytes of a name quoted in a problem */

/* spf_problem - remember why (only the first problem is kept) */
void spf_problem(struct spf_check *c, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    if (c->problem != NULL)
        return;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    c->problem = buf_steal(&b);
}

/* spf_quoted - a name or term as printable text for a problem; caller frees */
char *spf_quoted(const char *s)
{
    struct buf b = BUF_INIT;

    spf_printable(&b, s, strlen(s), QUOTE_MAX);
    return buf_steal(&b);
}

/* spf_query_name - name with '\' and bytes outside 0x21..0x7e escaped */
char *spf_query_name(const char *name)
{
    struct buf b = BUF_INIT;

    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;

        if (ch == '\\')
            buf_puts(&b, "\\\\");
        else if (ch <= 0x20 || ch >= 0x7f)
            buf_printf(&b, "\\%03u", ch);
        else
            buf_putc(&b, ch);
    }
    return buf_steal(&b);
}

/* type_name - for problems */
static const char *type_name(int type)
{
    switch (type) {
    case DNS_T_A:
        return "A";
    case DNS_T_AAAA:
        return "AAAA";
    case DNS_T_MX:
        return "MX";
    case DNS_T_PTR:
        return "PTR";
    case DNS_T_TXT:
        return "TXT";
    }
    return "?";
}

/* rcode_name - the DNS rcodes a lookup can fail with, for problems */
static const char *rcode_name(int rcode)
{
    switch (rcode) {
    case 1:
        return "FORMERR";
    case 2:
        return "SERVFAIL";
    case 4:
        return "NOTIMP";
    case 5:
        return "REFUSED";
    }
    return "error rcode";
}

/* spf_lookup_wait - wait for q and classify the answer */
struct dns_result *spf_lookup_wait(struct spf_check *c, struct dns_query *q, const char *name,
                                   int type, enum spf_lk *st)
{
    struct dns_result *r = dns_wait(q);
    char *qn;

    switch (r->status) {
    case DNS_OK:
        *st = SPF_LK_OK;
        return r;
    case DNS_NODATA:
    case DNS_NXDOMAIN:
        *st = SPF_LK_VOID;
        break;
    case DNS_PERMFAIL:
        if (r->rcode == -1) { /* a name libunbound cannot put on the wire */
            *st = SPF_LK_VOID;
            break;
        }
        /* fall through - REFUSED, FORMERR, malformed records */
    case DNS_TEMPFAIL:
        *st = SPF_LK_TEMP;
        qn = spf_quoted(name);
        if (r->rcode > 0)
            spf_problem(c, "DNS %s lookup of %s failed (%s)", type_name(type), qn,
                        rcode_name(r->rcode));
        else
            spf_problem(c, "DNS %s lookup of %s failed (%s)", type_name(type), qn,
                        r->status == DNS_TEMPFAIL ? "timeout or server failure" : "bad answer");
        free(qn);
        break;
    }
    dns_result_free(r);
    return NULL;
}

/* out_of_time - true (and the problem set) once the deadline has passed */
static bool out_of_time(struct spf_check *c)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec < c->deadline.tv_sec ||
        (now.tv_sec == c->deadline.tv_sec && now.tv_nsec < c->deadline.tv_nsec))
        return false;
    spf_problem(c, "SPF evaluation took longer than %u ms", c->max_time_ms);
    return true;
}

/* lookup - name (escaped unless already presented) submitted and waited
 * for, or SPF_LK_TEMP past the deadline */
static struct dns_result *lookup(struct spf_check *c, const char *name, bool presented, int type,
                                 enum spf_lk *st)
{
    char *qn;
    struct dns_query *q;

    if (out_of_time(c)) {
        *st = SPF_LK_TEMP;
        return NULL;
    }
    qn = presented ? xstrdup(name) : spf_query_name(name);
    q = dns_submit(c->dns, qn, type);
    free(qn);
    return spf_lookup_wait(c, q, name, type, st);
}

/* spf_lookup - look up a name made by SPF (raw octets) */
struct dns_result *spf_lookup(struct spf_check *c, const char *name, int type, enum spf_lk *st)
{
    return lookup(c, name, false, type, st);
}

/* spf_lookup_presented - look up a name that came from DNS (MX host, PTR
 * name), already in lib/dns's presentation form */
struct dns_result *spf_lookup_presented(struct spf_check *c, const char *name, int type,
                                        enum spf_lk *st)
{
    return lookup(c, name, true, type, st);
}

/* name_ok - true if every label of name is 1..63 octets */
static bool name_ok(const char *name, size_t len)
{
    size_t label = 0;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (++label > 63) {
            return false;
        }
    }
    return label > 0;
}

/* spf_target - expand a domain-spec into the name to look up */
bool spf_target(struct spf_check *c, const char *spec, const char *d, struct buf *name, bool *ok)
{
    struct spf_macro_vars v;
    struct spf_p_ctx p;
    char err[128];

    buf_reset(name);
    if (spec == NULL) {
        buf_puts(name, d);
    } else {
        spf_vars(c, d, &v, &p);
        if (!spf_macro_expand(spec, strlen(spec), 0, &v, name, err, sizeof(err))) {
            char *q = spf_quoted(spec);

            spf_problem(c, "%s: %s", q, err);
            free(q);
            return false;
        }
    }
    if (name->len > 0 && name->data[name->len - 1] == '.')
        buf_truncate(name, name->len - 1);
    while (name->len > SPF_NAME_MAX) { /* RFC 7208 7.3: drop labels on the left */
        const char *dot = memchr(name->data, '.', name->len);
        size_t cut = dot ? (size_t)(dot - name->data) + 1 : name->len;

        memmove(name->data, name->data + cut, name->len - cut);
        buf_truncate(name, name->len - cut);
    }
    *ok = memchr(name->data ? name->data : "", '\0', name->len) == NULL &&
          name_ok(buf_cstr(name), name->len);
    return true;
}

/* spf_has_addr - true if one of r's addresses (family of the client) is in
 * the client's network of the given prefix length */
bool spf_has_addr(const struct spf_check *c, const struct dns_result *r, unsigned bits)
{
    unsigned char a[16];

    for (size_t i = 0; i < r->n; i++)
        if (inet_pton(c->family, r->addrs[i], a) == 1 && spf_net_match(a, c->addr, bits))
            return true;
    return false;
}

/* reverse_name - the in-addr.arpa / ip6.arpa name of the client */
static char *reverse_name(const struct spf_check *c)
{
    struct buf b = BUF_INIT;

    if (c->family == AF_INET) {
        buf_printf(&b, "%u.%u.%u.%u.in-addr.arpa", c->addr[3], c->addr[2], c->addr[1], c->addr[0]);
    } else {
        for (int i = 15; i >= 0; i--)
            buf_printf(&b, "%x.%x.", c->addr[i] & 0xf, c->addr[i] >> 4);
        buf_puts(&b, "ip6.arpa");
    }
    return buf_steal(&b);
}

/* quiet_lookup - spf_lookup() whose failure is no problem of the check
 * (ptr and %{p} skip names they cannot look up) */
static struct dns_result *quiet_lookup(struct spf_check *c, const char *name, int type,
                                       enum spf_lk *st)
{
    bool had = c->problem != NULL;
    struct dns_result *r = spf_lookup_presented(c, name, type, st);

    if (!had && c->problem != NULL)
        c->problem = xfree(c->problem);
    return r;
}

/* load_ptr - the client's PTR names (the first 10), once per check */
static void load_ptr(struct spf_check *c)
{
    struct dns_result *r;
    enum spf_lk st;
    char *rev;

    if (c->ptr_state != 0)
        return;
    rev = reverse_name(c);
    r = quiet_lookup(c, rev, DNS_T_PTR, &st);
    free(rev);
    c->ptr_state = 2;
    if (st != SPF_LK_OK)
        return;
    for (size_t i = 0; i < r->n && c->nptr < SPF_MAX_PTR; i++)
        c->ptr_names[c->nptr++] = xstrdup(r->names[i]);
    c->ptr_state = 1;
    dns_result_free(r);
}

/* validated - true if PTR name i resolves back to the client (lookup
 * errors count as "no"); remembered per check */
static bool validated(struct spf_check *c, size_t i)
{
    struct dns_result *r;
    enum spf_lk st;

    if (c->ptr_valid[i] == 0) {
        r = quiet_lookup(c, c->ptr_names[i], c->family == AF_INET ? DNS_T_A : DNS_T_AAAA, &st);
        c->ptr_valid[i] =
            st == SPF_LK_OK && spf_has_addr(c, r, c->family == AF_INET ? 32 : 128) ? 1 : 2;
        dns_result_free(r);
    }
    return c->ptr_valid[i] == 1;
}

/* in_domain - name is domain or a subdomain of it (ASCII case-insensitive);
 * exact: only equality counts, sub: only a proper subdomain counts */
static bool in_domain(const char *name, const char *domain, bool exact, bool sub)
{
    size_t nl = strlen(name), dl = strlen(domain);

    if (nl == dl && strcasecmp(name, domain) == 0)
        return !sub;
    if (exact || nl <= dl || name[nl - dl - 1] != '.')
        return false;
    return strcasecmp(name + nl - dl, domain) == 0;
}

/* spf_ptr_match - the ptr mechanism: a validated PTR name in target */
bool spf_ptr_match(struct spf_check *c, const char *target)
{
    load_ptr(c);
    for (size_t i = 0; i < c->nptr; i++)
        if (in_domain(c->ptr_names[i], target, false, false) && validated(c, i))
            return true;
    return false;
}

/* p_get - %{p}: a validated PTR name, preferring <domain>, then its
 * subdomains, then any; "unknown" if none */
static const char *p_get(void *arg)
{
    struct spf_p_ctx *p = arg;
    struct spf_check *c = p->c;
    const char *value = "unknown";

    if (c->p_domain != NULL && strcasecmp(c->p_domain, p->domain) == 0)
        return c->p_value;
    load_ptr(c);
    for (int pass = 0; pass < 3 && strcmp(value, "unknown") == 0; pass++) {
        for (size_t i = 0; i < c->nptr; i++) {
            if ((pass == 0 && !in_domain(c->ptr_names[i], p->domain, true, false)) ||
                (pass == 1 && !in_domain(c->ptr_names[i], p->domain, false, true)))
                continue;
            if (validated(c, i)) {
                value = c->ptr_names[i];
                break;
            }
        }
    }
    free(c->p_domain);
    free(c->p_value);
    c->p_domain = xstrdup(p->domain);
    c->p_value = xstrdup(value);
    return c->p_value;
}

/* spf_vars - macro values for <domain> d */
void spf_vars(struct spf_check *c, const char *d, struct spf_macro_vars *v, struct spf_p_ctx *p)
{
    p->c = c;
    p->domain = d;
    v->s = c->sender;
    v->l = c->local;
    v->o = c->domain;
    v->d = d;
    v->i = c->mi;
    v->v = c->family == AF_INET ? "in-addr" : "ip6";
    v->h = c->helo;
    v->c = c->mc;
    v->r = c->receiver;
    v->t = c->mt;
    v->p_get = p_get;
    v->p_arg = p;
}
