/*
 * dmarc.c - pm-dmarc: one DMARC evaluation through lib/dns, for the
 * integration tests.
 *
 * SYNOPSIS
 *   pm-dmarc [-s server@port]... [-t timeout_ms] [-f FROM]... [-m RESULT:DOMAIN]
 *            [-H RESULT:DOMAIN] [-d RESULT:DOMAIN]... [-r sample] [-p N]
 *
 * DESCRIPTION
 *   -f     the value of one From field (repeat for several; none = no From)
 *   -m/-H  the SPF result for the MAIL FROM / HELO identity and its domain
 *   -d     one DKIM signature: result and d=
 *   RESULT is pass, fail or other. -r is the pct sample (0..99, default 0).
 *   -p N   evaluate N times at once from up to 8 threads sharing the one
 *          DNS context; print the answer once; exit 3 if the N differ.
 *
 *   Prints the answer as "key=value" lines (result, from_domain,
 *   policy_domain, org_domain, p, sp, np, source, policy, pct, sampled,
 *   disposition, adkim, aspf, spf_aligned, dkim_aligned, dkim_domain,
 *   rua, ruf, from_flags, ndomains, reason). Exits 0 whatever the result;
 *   2 on a usage error, 1 if the resolver cannot be set up. Never linked
 *   into a daemon: it exits on bad input.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dmarc.h"
#include "dns.h"
#include "log.h"
#include "util.h"

#define MAX_ARGS    16
#define MAX_THREADS 8

struct job {
    pthread_t thread;
    const struct dmarc_resolver *res;
    const struct dmarc_input *in;
    size_t count;
    char **out;
};

/* usage - print the synopsis and exit 2 */
static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr, "usage: pm-dmarc [-s server@port]... [-t timeout_ms] [-f FROM]... "
                    "[-m RESULT:DOMAIN] [-H RESULT:DOMAIN] [-d RESULT:DOMAIN]... [-r sample] "
                    "[-p N]\n");
    exit(2);
}

/* auth_arg - "pass:example.com" into a result and a domain (pointing into arg) */
static enum dmarc_auth auth_arg(char *arg, const char **domain)
{
    char *colon = strchr(arg, ':');

    if (colon == NULL)
        usage();
    *colon = '\0';
    *domain = colon + 1;
    if (strcmp(arg, "pass") == 0)
        return DMARC_AUTH_PASS;
    if (strcmp(arg, "fail") == 0)
        return DMARC_AUTH_FAIL;
    if (strcmp(arg, "other") == 0)
        return DMARC_AUTH_OTHER;
    usage();
}

/* number - parse a decimal option value in 0..max or exit through usage() */
static unsigned long number(const char *s, unsigned long max)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        usage();
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v > max)
        usage();
    return v;
}

/* format_answer - the printed form of an answer; caller frees */
static char *format_answer(const struct dmarc_answer *a)
{
    struct buf b = BUF_INIT;

    buf_printf(&b, "result=%s\n", dmarc_result_name(a->result));
    buf_printf(&b, "from_domain=%s\n", a->from_domain);
    buf_printf(&b, "policy_domain=%s\n", a->policy_domain);
    buf_printf(&b, "org_domain=%s\n", a->org_domain);
    buf_printf(&b, "p=%s\n", dmarc_policy_name(a->p));
    buf_printf(&b, "sp=%s\n", dmarc_policy_name(a->sp));
    buf_printf(&b, "np=%s\n", dmarc_policy_name(a->np));
    buf_printf(&b, "source=%s\n", dmarc_source_name(a->source));
    buf_printf(&b, "policy=%s\n", dmarc_policy_name(a->policy));
    buf_printf(&b, "pct=%u\n", a->pct);
    buf_printf(&b, "sampled=%s\n", a->sampled ? "yes" : "no");
    buf_printf(&b, "disposition=%s\n", dmarc_policy_name(a->disposition));
    buf_printf(&b, "adkim=%s\n", a->adkim == DMARC_ALIGN_STRICT ? "s" : "r");
    buf_printf(&b, "aspf=%s\n", a->aspf == DMARC_ALIGN_STRICT ? "s" : "r");
    buf_printf(&b, "spf_aligned=%s\n", a->spf_aligned ? "yes" : "no");
    buf_printf(&b, "dkim_aligned=%s\n", a->dkim_aligned ? "yes" : "no");
    buf_printf(&b, "dkim_domain=%s\n", a->dkim_domain);
    buf_printf(&b, "rua=%s\n", a->rua ? a->rua : "");
    buf_printf(&b, "ruf=%s\n", a->ruf ? a->ruf : "");
    buf_printf(&b, "from_flags=0x%x\n", a->from_flags);
    buf_printf(&b, "ndomains=%zu\n", a->ndomains);
    buf_printf(&b, "reason=%s\n", a->reason);
    return buf_steal(&b);
}

/* evaluate - one evaluation, formatted; caller frees */
static char *evaluate(const struct dmarc_resolver *res, const struct dmarc_input *in)
{
    struct dmarc_answer a;
    char *s;

    dmarc_eval(res, in, &a);
    s = format_answer(&a);
    dmarc_answer_clear(&a);
    return s;
}

/* worker - a job's evaluations */
static void *worker(void *arg)
{
    struct job *j = arg;

    for (size_t i = 0; i < j->count; i++)
        j->out[i] = evaluate(j->res, j->in);
    return NULL;
}

/* parallel - n evaluations from up to MAX_THREADS threads; exit 3 on disagreement */
static char *parallel(const struct dmarc_resolver *res, const struct dmarc_input *in, size_t n)
{
    struct job jobs[MAX_THREADS];
    size_t nt = n < MAX_THREADS ? n : MAX_THREADS;
    char *first = NULL;
    int bad = 0;

    for (size_t t = 0; t < nt; t++) {
        jobs[t].res = res;
        jobs[t].in = in;
        jobs[t].count = n / nt + (t < n % nt);
        jobs[t].out = xcalloc(jobs[t].count, sizeof(char *));
        if (pthread_create(&jobs[t].thread, NULL, worker, &jobs[t]) != 0)
            die("pthread_create failed");
    }
    for (size_t t = 0; t < nt; t++) {
        pthread_join(jobs[t].thread, NULL);
        for (size_t i = 0; i < jobs[t].count; i++) {
            if (first == NULL) {
                first = jobs[t].out[i];
                continue;
            }
            if (strcmp(first, jobs[t].out[i]) != 0) {
                fprintf(stderr, "pm-dmarc: answers differ:\n%s---\n%s", first, jobs[t].out[i]);
                bad = 1;
            }
            free(jobs[t].out[i]);
        }
        free(jobs[t].out);
    }
    if (bad)
        exit(3);
    return first;
}

int main(int argc, char **argv)
{
    char *servers[MAX_ARGS + 1];
    const char *from[MAX_ARGS];
    struct dmarc_dkim dkim[MAX_ARGS];
    size_t nservers = 0, nfrom = 0, ndkim = 0;
    unsigned long timeout = 5000, par = 1;
    struct from_domains fd;
    struct dmarc_input in;
    struct dmarc_resolver res;
    struct dns *d;
    char err[256], *out;
    int opt;

    log_open("pm-dmarc", LOG_TO_STDERR);
    memset(&in, 0, sizeof(in));
    while ((opt = getopt(argc, argv, "s:t:f:m:H:d:r:p:")) != -1) {
        switch (opt) {
        case 's':
            if (nservers == MAX_ARGS)
                usage();
            servers[nservers++] = optarg;
            break;
        case 't':
            timeout = number(optarg, 3600000);
            if (timeout == 0)
                usage();
            break;
        case 'f':
            if (nfrom == MAX_ARGS)
                usage();
            from[nfrom++] = optarg;
            break;
        case 'm':
        case 'H':
            in.spf.result = auth_arg(optarg, &in.spf.domain);
            in.spf.identity = opt == 'm' ? DMARC_SPF_MAILFROM : DMARC_SPF_HELO;
            break;
        case 'd':
            if (ndkim == MAX_ARGS)
                usage();
            dkim[ndkim].result = auth_arg(optarg, &dkim[ndkim].domain);
            ndkim++;
            break;
        case 'r':
            in.sample = (unsigned)number(optarg, 99);
            break;
        case 'p':
            par = number(optarg, 10000);
            if (par == 0)
                usage();
            break;
        default:
            usage();
        }
    }
    servers[nservers] = NULL;
    if (optind != argc)
        usage();

    d = dns_open(servers, (unsigned)timeout, err, sizeof(err));
    if (d == NULL) {
        fprintf(stderr, "pm-dmarc: %s\n", err);
        return 1;
    }
    from_domain_analyze(from, nfrom, &fd);
    in.from = &fd;
    in.dkim = dkim;
    in.ndkim = ndkim;
    res = dmarc_resolver_dns(d);
    out = par > 1 ? parallel(&res, &in, par) : evaluate(&res, &in);
    fputs(out, stdout);
    free(out);
    dns_close(d);
    return fflush(stdout) == 0 ? 0 : 1;
}
