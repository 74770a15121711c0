/*
 * cmd_dns.c - postmeter dns DOMAIN [--mx HOST] [--rua MAILTO] [--check]:
 * the DNS records a domain needs for its mail, in zone-file syntax, and
 * with --check what DNS actually serves for each.
 *
 * Records: one DKIM TXT per stored key (active, pending and retired keys
 * are all published), with the public key derived from the key file; an
 * SPF suggestion; a DMARC record starting at p=none; an MX hint. The
 * check compares DKIM keys exactly (the p= key material, whatever the
 * tag order and white space) and takes any one SPF or DMARC record the
 * admin published as theirs (a note says how it differs from our
 * suggestion); several SPF or DMARC records are an error. A DNS timeout
 * is reported as such, never as "missing".
 *
 * Reads key files but must never print or log a private key: only the
 * derived public key is printed. Never changes the database or DNS.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "dkim_keyfile.h"
#include "dkim_txt.h"
#include "dns.h"
#include "privsep.h"
#include "privsep_policy.h"
#include "usage.h"
#include "util.h"

#define FOUND_MAX 200 /* bytes of a found record shown */

enum check { CHECK_OK, CHECK_MISSING, CHECK_DIFFERENT, CHECK_TIMEOUT, CHECK_ERROR };
static const char *const check_names[] = {"ok", "missing", "different", "timeout", "error"};

/* One record to publish, and its check. */
struct rec {
    const char *kind;                 /* DKIM, SPF, DMARC, MX */
    char *owner;                      /* without the trailing dot */
    int type;                         /* DNS_T_TXT or DNS_T_MX */
    char *value;                      /* TXT value, or the MX host; NULL: cannot say */
    char *comment;                    /* printed above the record */
    const struct store_dkim_key *key; /* DKIM */
    struct keyfile_pub pub;           /* DKIM */
    char *problem;                    /* why there is no value (unreadable key file) */
    bool placeholder;                 /* DKIM without keys: nothing to publish or look up */
    struct dns_query *q;
};

/* dns_usage - the synopsis on stderr; returns CLI_USAGE */
static int dns_usage(void)
{
    return cli_usage("give one DOMAIN");
}

/* shown - a found record as safe text, cut at FOUND_MAX bytes, quoted */
static void shown(struct buf *out, const char *s, size_t len)
{
    buf_putc(out, '"');
    for (size_t i = 0; i < len && i < FOUND_MAX; i++)
        buf_putc(out, (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i]);
    buf_puts(out, len > FOUND_MAX ? "...\"" : "\"");
}

/* failed_lookup - classify a lookup that gave no records; detail into why */
static enum check failed_lookup(const struct config *c, const struct dns_result *r,
                                const char *what, struct buf *why)
{
    switch (r->status) {
    case DNS_NXDOMAIN:
        buf_printf(why, "no %s (the name does not exist)", what);
        return CHECK_MISSING;
    case DNS_NODATA:
        buf_printf(why, "no %s", what);
        return CHECK_MISSING;
    case DNS_TEMPFAIL:
        if (r->rcode < 0) {
            buf_printf(why, "no answer from DNS within %u ms (dns_timeout_ms)", c->dns_timeout_ms);
            return CHECK_TIMEOUT;
        }
        buf_printf(why, "DNS server failure (rcode %d): try again later", r->rcode);
        return CHECK_ERROR;
    default:
        buf_printf(why, "DNS lookup failed (%s, rcode %d)", dns_status_name(r->status), r->rcode);
        return CHECK_ERROR;
    }
}

/* check_dkim - does the TXT answer carry our key? */
static enum check check_dkim(const struct config *c, const struct rec *rc,
                             const struct dns_result *r, struct buf *why)
{
    size_t ours = 0, others = 0, first_other = 0;

    if (r->status != DNS_OK)
        return failed_lookup(c, r, "TXT record", why);
    for (size_t i = 0; i < r->n; i++) {
        enum dkim_txt_match m =
            dkim_txt_compare(r->txt[i], r->txt_len[i], rc->pub.algorithm, rc->pub.p);

        if (m == DKIM_TXT_SAME)
            ours++;
        else if (m == DKIM_TXT_OTHER_KEY && others++ == 0)
            first_other = i;
    }
    if (ours > 0 && others == 0)
        return CHECK_OK;
    if (others > 0) {
        if (ours > 0)
            buf_printf(why, "%zu other key record(s) beside ours: remove them; found ", others);
        else
            buf_puts(why, "another key is published: ");
        shown(why, r->txt[first_other], r->txt_len[first_other]);
        return CHECK_DIFFERENT;
    }
    buf_puts(why, "no DKIM key record; found ");
    shown(why, r->txt[0], r->txt_len[0]);
    return CHECK_MISSING;
}

/* has_version - rec starts with tag v=WANT (case-insensitive) then white space, ';' or end */
static bool has_version(const char *rec, size_t len, const char *want)
{
    size_t n = strlen(want);

    return len >= n && strncasecmp(rec, want, n) == 0 &&
           (len == n || rec[n] == ' ' || rec[n] == '\t' || rec[n] == ';');
}

/* word_end - s[i] is the last byte of a word (white space or the end follows) */
static bool word_end(const char *s, size_t len, size_t i)
{
    return i + 1 >= len || s[i + 1] == ' ' || s[i + 1] == '\t';
}

/* same_words - a and b are equal but for runs of white space and case */
static bool same_words(const char *a, size_t alen, const char *b)
{
    size_t i = 0, j = 0, blen = strlen(b);

    for (;;) {
        while (i < alen && (a[i] == ' ' || a[i] == '\t'))
            i++;
        while (j < blen && (b[j] == ' ' || b[j] == '\t'))
            j++;
        if (i == alen || j == blen)
            return i == alen && j == blen;
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[j]) ||
            word_end(a, alen, i) != word_end(b, blen, j))
            return false;
        i++;
        j++;
    }
}

/* check_policy - SPF or DMARC: exactly one record with version tag v; ours or theirs */
static enum check check_policy(const struct config *c, const struct rec *rc,
                               const struct dns_result *r, const char *v, struct buf *why)
{
    size_t count = 0, at = 0;

    if (r->status != DNS_OK)
        return failed_lookup(c, r, rc->kind[0] == 'S' ? "SPF record" : "DMARC record", why);
    for (size_t i = 0; i < r->n; i++)
        if (has_version(r->txt[i], r->txt_len[i], v) && count++ == 0)
            at = i;
    if (count == 0) {
        buf_printf(why, "no %s record among %zu TXT record(s)", rc->kind, r->n);
        return CHECK_MISSING;
    }
    if (count > 1) {
        buf_printf(why, "%zu %s records: receivers then ignore all of them (%s); keep one", count,
                   rc->kind, rc->kind[0] == 'S' ? "SPF permerror" : "no DMARC policy");
        return CHECK_ERROR;
    }
    shown(why, r->txt[at], r->txt_len[at]);
    if (!same_words(r->txt[at], r->txt_len[at], rc->value))
        buf_printf(why, " (yours, kept: it differs from the suggestion \"%s\")", rc->value);
    if (rc->kind[0] == 'D') {
        struct buf p = BUF_INIT;

        if (dkim_txt_tag(r->txt[at], r->txt_len[at], "p", &p) &&
            strcasecmp(buf_cstr(&p), "none") == 0)
            buf_puts(why, "; p=none only monitors: move to quarantine, then reject, once the "
                          "reports show all your mail passing");
        buf_free(&p);
    }
    return CHECK_OK;
}

/* host_eq - host names equal without case and trailing dots */
static bool host_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    while (la > 0 && a[la - 1] == '.')
        la--;
    while (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* check_mx - an MX set exists (and holds want, when the admin named one) */
static enum check check_mx(const struct config *c, const struct rec *rc, const struct dns_result *r,
                           bool explicit_mx, struct buf *why)
{
    bool found = false;

    if (r->status != DNS_OK)
        return failed_lookup(c, r, "MX record", why);
    for (size_t i = 0; i < r->n; i++) {
        buf_printf(why, "%s%u %s", i ? ", " : "", r->mx[i].preference, r->mx[i].host);
        found = found || host_eq(r->mx[i].host, rc->value);
    }
    if (r->n == 1 && host_eq(r->mx[0].host, "")) {
        buf_puts(why, " (null MX: the domain receives no mail, DMARC reports included)");
        return explicit_mx ? CHECK_DIFFERENT : CHECK_OK;
    }
    if (explicit_mx && !found) {
        buf_printf(why, " (not %s)", rc->value);
        return CHECK_DIFFERENT;
    }
    return CHECK_OK;
}

/* print_zone - the records in zone-file syntax */
static void print_zone(const char *domain, struct rec *recs, size_t n)
{
    struct buf out = BUF_INIT;

    buf_printf(&out, "; DNS records for %s (postmeter %s), zone-file syntax.\n", domain,
               POSTMETER_VERSION);
    for (size_t i = 0; i < n; i++) {
        const struct rec *r = &recs[i];

        if (r->comment)
            buf_printf(&out, "\n%s", r->comment);
        if (r->problem)
            buf_printf(&out, "; cannot print %s: %s\n", r->owner, r->problem);
        else if (r->type == DNS_T_MX)
            buf_printf(&out, "%s. IN MX 10 %s.\n", r->owner, r->value);
        else if (!r->placeholder)
            dkim_txt_zone(&out, r->owner, r->value);
    }
    fputs(buf_cstr(&out), stdout);
    buf_free(&out);
}

/* check_one - wait for r's lookup and judge it; detail into why */
static enum check check_one(const struct config *c, struct rec *r, bool explicit_mx,
                            struct buf *why)
{
    struct dns_result *res;
    enum check st;

    if (r->problem) {
        buf_puts(why, r->problem);
        return CHECK_ERROR;
    }
    if (r->placeholder) {
        buf_puts(why, r->value);
        return CHECK_MISSING;
    }
    res = dns_wait(r->q);
    r->q = NULL;
    if (strcmp(r->kind, "DKIM") == 0)
        st = check_dkim(c, r, res, why);
    else if (strcmp(r->kind, "SPF") == 0)
        st = check_policy(c, r, res, "v=spf1", why);
    else if (strcmp(r->kind, "DMARC") == 0)
        st = check_policy(c, r, res, "v=DMARC1", why);
    else
        st = check_mx(c, r, res, explicit_mx, why);
    dns_result_free(res);
    return st;
}

/* run_checks - look every record up at once, print one line each; number not ok */
static size_t run_checks(const struct config *c, struct dns *d, struct rec *recs, size_t n,
                         bool explicit_mx)
{
    size_t bad = 0;

    /* All lookups in flight together: n timeouts cost one dns_timeout_ms. */
    for (size_t i = 0; i < n; i++)
        if (recs[i].problem == NULL && !recs[i].placeholder)
            recs[i].q = dns_submit(d, recs[i].owner, recs[i].type);
    for (size_t i = 0; i < n; i++) {
        struct buf why = BUF_INIT, line = BUF_INIT;
        enum check st = check_one(c, &recs[i], explicit_mx, &why);

        if (st != CHECK_OK)
            bad++;
        buf_printf(&line, "%-9s %-5s %s", check_names[st], recs[i].kind, recs[i].owner);
        if (recs[i].key)
            buf_printf(&line, " (%s, %s)", store_dkim_alg_name(recs[i].key->algorithm),
                       store_dkim_state_name(recs[i].key->state));
        if (why.len)
            buf_printf(&line, ": %s", buf_cstr(&why));
        puts(buf_cstr(&line));
        buf_free(&why);
        buf_free(&line);
    }
    return bad;
}

/* dkim_comment - the comment above a key's record; caller frees */
static char *dkim_comment(const struct store_dkim_key *k, bool first)
{
    static const char *const what[] = {"active: signs", "pending: published, not signing yet",
                                       "retired: no longer signs, published for verification"};
    struct buf b = BUF_INIT;

    if (first)
        buf_puts(&b, "; DKIM: one TXT record per key; keep each until 'postmeter dkim remove'.\n");
    buf_printf(&b, "; %s: %s", k->selector, store_dkim_alg_name(k->algorithm));
    if (k->algorithm == STORE_DKIM_RSA_SHA256)
        buf_printf(&b, ", %u bits", k->bits);
    buf_printf(&b, ", %s\n", what[k->state]);
    return buf_steal(&b);
}

/* rua_domain - the domain of a mailto: URI's address (points into uri), length into *len */
static const char *rua_domain(const char *uri, size_t *len)
{
    const char *at = strchr(uri, '@');

    if (at == NULL)
        return NULL;
    *len = strcspn(at + 1, "!,; ");
    return at + 1;
}

/* build - the records for domain; returns how many were filled into recs */
static size_t build(const struct config *c, const char *domain, const struct cli_keys *ks,
                    const char *mx, const char *rua, struct rec *recs)
{
    const char *self = config_effective_hostname(c);
    bool self_fqdn = strchr(self, '.') != NULL;
    const char *mx_host = mx ? mx : self_fqdn ? self : NULL;
    struct buf b = BUF_INIT;
    size_t n = 0, dlen = 0;
    const char *rdom;

    for (size_t i = 0; i < ks->n; i++) {
        struct rec *r = &recs[n++];
        char err[512];

        r->kind = "DKIM";
        r->type = DNS_T_TXT;
        r->key = &ks->k[i];
        r->owner = xasprintf("%s._domainkey.%s", ks->k[i].selector, domain);
        r->comment = dkim_comment(&ks->k[i], i == 0);
        if (cli_key_public_of(c, &ks->k[i], &r->pub, err, sizeof(err))) {
            dkim_txt_value(&b, r->pub.algorithm, r->pub.p);
            r->value = buf_steal(&b);
        } else {
            r->problem = xstrdup(err);
        }
    }
    if (ks->n == 0) {
        struct rec *r = &recs[n++];

        r->kind = "DKIM";
        r->type = DNS_T_TXT;
        r->placeholder = true;
        r->owner = xstrdup(domain);
        r->value = xasprintf("no DKIM keys in the database: make one with 'postmeter dkim "
                             "keygen %s'",
                             domain);
        r->comment = xasprintf("; DKIM: no keys yet (postmeter dkim keygen %s).\n", domain);
    }

    recs[n].kind = "SPF";
    recs[n].type = DNS_T_TXT;
    recs[n].owner = xstrdup(domain);
    if (self_fqdn && mx_host && !host_eq(self, mx_host))
        recs[n].value = xasprintf("v=spf1 mx a:%s -all", self);
    else
        recs[n].value = xstrdup("v=spf1 mx -all");
    recs[n].comment = xasprintf("; SPF: the hosts that send mail for %s (its MX hosts%s%s);\n"
                                "; keep your own record if you have one: only one may exist.\n",
                                domain, strchr(recs[n].value, ':') ? " and " : "",
                                strchr(recs[n].value, ':') ? self : "");
    n++;

    recs[n].kind = "DMARC";
    recs[n].type = DNS_T_TXT;
    recs[n].owner = xasprintf("_dmarc.%s", domain);
    recs[n].value = xasprintf("v=DMARC1; p=none; rua=%s", rua);
    buf_puts(&b, "; DMARC: p=none only asks for aggregate reports (sent to the rua address).\n"
                 "; Once they show all your mail passing SPF or DKIM for this domain, tighten\n"
                 "; to p=quarantine, then p=reject.\n");
    rdom = rua_domain(rua, &dlen);
    if (rdom && !(dlen == strlen(domain) && strncasecmp(rdom, domain, dlen) == 0) &&
        !(dlen > strlen(domain) && rdom[dlen - strlen(domain) - 1] == '.' &&
          strncasecmp(rdom + dlen - strlen(domain), domain, strlen(domain)) == 0))
        buf_printf(&b,
                   "; The reports go to another domain; unless it shares %s's organizational\n"
                   "; domain it must publish (RFC 7489 7.1):\n"
                   ";   %s._report._dmarc.%.*s. IN TXT \"v=DMARC1\"\n",
                   domain, domain, (int)dlen, rdom);
    recs[n].comment = buf_steal(&b);
    n++;

    recs[n].kind = "MX";
    recs[n].type = DNS_T_MX;
    recs[n].owner = xstrdup(domain);
    recs[n].value = xstrdup(mx_host ? mx_host : "");
    if (mx_host)
        recs[n].comment = xasprintf("; MX: where mail for %s is delivered (%s needs A/AAAA "
                                    "records).\n",
                                    domain, mx_host);
    else {
        free(recs[n].value);
        recs[n].value = xasprintf("mail.%s", domain);
        recs[n].comment = xasprintf("; MX: where mail for %s is delivered; mail.%s is a "
                                    "placeholder (this host's name, %s,\n; is not a full name: "
                                    "set hostname in postmeter.conf or use --mx).\n",
                                    domain, domain, self);
    }
    n++;
    return n;
}

/* recs_free - free the records */
static void recs_free(struct rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(recs[i].owner);
        free(recs[i].value);
        free(recs[i].comment);
        free(recs[i].problem);
        keyfile_pub_free(&recs[i].pub);
        if (recs[i].q)
            dns_cancel(recs[i].q);
    }
    free(recs);
}

/* load_keys - the stored keys of domain; a database that cannot be opened means none */
static bool load_keys(const struct config *c, const char *domain, struct cli_keys *ks)
{
    char err[512];
    struct store *s = store_open(c->database, STORE_READONLY | STORE_NOCREATE, err, sizeof(err));
    bool ok;

    ks->k = NULL;
    ks->n = 0;
    if (s == NULL) {
        fprintf(stderr, "postmeter: warning: %s: %s: no DKIM keys known\n", c->database, err);
        return true;
    }
    ok = cli_dkim_keys(c, s, domain, ks);
    store_close(s);
    return ok;
}

/* mailto - --rua as a mailto: URI; caller frees; NULL if it is no address */
static char *mailto(const char *arg)
{
    const char *addr = strncasecmp(arg, "mailto:", 7) == 0 ? arg + 7 : arg;
    const char *at = strchr(addr, '@');

    if (at == NULL || at == addr || at[1] == '\0' || strpbrk(addr, " \t;,\"\\") != NULL) {
        fprintf(stderr, "postmeter: --rua: \"%s\" is not a mail address (or mailto:ADDRESS)\n",
                arg);
        return NULL;
    }
    return xasprintf("mailto:%s", addr);
}

/* cmd_dns - postmeter dns DOMAIN [--mx HOST] [--rua MAILTO] [--check] */
int cmd_dns(const struct config *c, int argc, char **argv)
{
    const struct option *opts = privsep_dns_options; /* the privsep parent reads it too */
    char *domain = NULL, *rua = NULL, *mx = NULL, err[512];
    struct cli_keys ks = {NULL, 0};
    struct rec *recs = NULL;
    bool check = false;
    size_t n = 0;
    int ch, status = CLI_FAIL;

    optind = 0; /* start afresh and permute: options may follow DOMAIN */
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            free(mx);
            mx = cli_dkim_domain(optarg);
            if (mx == NULL)
                goto usage;
            break;
        case 'r':
            free(rua);
            if ((rua = mailto(optarg)) == NULL)
                goto usage;
            break;
        case 'C':
            check = true;
            break;
        default:
            free(rua);
            free(mx);
            return cli_bad_option(ch, argv);
        }
    }
    if (optind + 1 != argc || (domain = cli_dkim_domain(argv[optind])) == NULL)
        goto usage;
    if (rua == NULL)
        rua = xasprintf("mailto:dmarc-reports@%s", domain);
    if (!load_keys(c, domain, &ks))
        goto out;
    recs = xcalloc(ks.n + 4, sizeof(*recs));
    n = build(c, domain, &ks, mx, rua, recs);
    if (!check) {
        print_zone(domain, recs, n);
        status = CLI_OK;
        for (size_t i = 0; i < n; i++)
            if (recs[i].problem)
                status = CLI_FAIL;
    } else {
        struct dns *d = dns_open(c->dns_servers, c->dns_timeout_ms, err, sizeof(err));
        size_t bad;

        if (d == NULL) {
            fprintf(stderr, "postmeter: %s\n", err);
            goto out;
        }
        bad = run_checks(c, d, recs, n, mx != NULL);
        dns_close(d);
        if (bad == 0)
            printf("all %zu records ok\n", n);
        else
            printf("%zu of %zu records need attention ('postmeter dns %s' prints them)\n", bad, n,
                   domain);
        status = bad == 0 ? CLI_OK : CLI_FAIL;
    }
    if (fflush(stdout) != 0)
        status = CLI_FAIL;
out:
    recs_free(recs, n);
    cli_dkim_keys_free(&ks);
    free(domain);
    free(rua);
    free(mx);
    return status;
usage:
    free(domain);
    free(rua);
    free(mx);
    return dns_usage();
}

/* cli_dkim_published - is k's record in DNS with k's key? */
bool cli_dkim_published(const struct config *c, const struct store_dkim_key *k, struct buf *why)
{
    struct rec r = {.kind = "DKIM", .type = DNS_T_TXT, .key = k};
    char err[512];
    struct dns *d;
    enum check st;

    if (!cli_key_public_of(c, k, &r.pub, err, sizeof(err))) {
        buf_puts(why, err);
        return false;
    }
    if ((d = dns_open(c->dns_servers, c->dns_timeout_ms, err, sizeof(err))) == NULL) {
        buf_puts(why, err);
        keyfile_pub_free(&r.pub);
        return false;
    }
    r.owner = xasprintf("%s._domainkey.%s", k->selector, k->domain);
    r.value = xstrdup("");
    r.q = dns_submit(d, r.owner, DNS_T_TXT);
    st = check_one(c, &r, false, why);
    if (st != CHECK_OK && why->len == 0)
        buf_puts(why, check_names[st]);
    else if (st != CHECK_OK) {
        char *detail = buf_steal(why);

        buf_printf(why, "%s: %s", check_names[st], detail);
        free(detail);
    }
    dns_close(d);
    free(r.owner);
    free(r.value);
    keyfile_pub_free(&r.pub);
    return st == CHECK_OK;
}
