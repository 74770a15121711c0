/*
 * dnsq.c - pm-dnsq: lookups through lib/dns, for the integration tests.
 *
 * SYNOPSIS
 *   pm-dnsq [-s server@port]... [-t timeout_ms] [-p N] [-w ms] TYPE NAME
 *
 * DESCRIPTION
 *   TYPE is A, AAAA, TXT, MX or PTR (any case). Prints the status word
 *   (ok, nodata, nxdomain, tempfail, permfail) on line 1, then one answer
 *   per line: an address, "PREF HOST" for MX, a name for PTR, the joined
 *   strings of a TXT record with C-style escapes (\\ \n \r \t, \ooo for
 *   other bytes outside 0x20..0x7e).
 *
 *   -p N   make the lookup N times at once from up to 8 threads sharing the
 *          one context; print the answer once; exit 3 if the N differ.
 *   -w ms  after the first lookup (and its output), sleep ms and make it
 *          again through the same context, printing a second block (the
 *          tests stop the server meanwhile to see the cache answer).
 *
 *   Exits 0 whatever the status; 2 on a usage error, 1 if the resolver
 *   cannot be set up. Never linked into a daemon: it exits on bad input.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dns.h"
#include "log.h"
#include "util.h"

#define MAX_SERVERS 16
#define MAX_THREADS 8

struct job {
    pthread_t thread;
    struct dns *d;
    const char *name;
    int type;
    size_t count; /* lookups this thread makes */
    char **out;   /* formatted results, one per lookup; caller frees */
};

/* usage - print the synopsis and exit 2 */
static void usage(void)
{
    fprintf(stderr, "usage: pm-dnsq [-s server@port]... [-t timeout_ms] [-p N] [-w ms] "
                    "A|AAAA|TXT|MX|PTR NAME\n");
    exit(2);
}

/* type_code - DNS_T_* for a type name, or -1 */
static int type_code(const char *s)
{
    static const struct {
        const char *name;
        int code;
    } types[] = {{"A", DNS_T_A},
                 {"AAAA", DNS_T_AAAA},
                 {"TXT", DNS_T_TXT},
                 {"MX", DNS_T_MX},
                 {"PTR", DNS_T_PTR}};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (str_eq_nocase(s, types[i].name))
            return types[i].code;
    return -1;
}

/* put_escaped - append n bytes of p with C-style escapes, then a newline */
static void put_escaped(struct buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '\\')
            buf_puts(b, "\\\\");
        else if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '\r')
            buf_puts(b, "\\r");
        else if (c == '\t')
            buf_puts(b, "\\t");
        else if (c < 0x20 || c > 0x7e)
            buf_printf(b, "\\%03o", c);
        else
            buf_putc(b, c);
    }
    buf_putc(b, '\n');
}

/* format_result - the printed form of r; caller frees */
static char *format_result(const struct dns_result *r)
{
    struct buf b = BUF_INIT;

    buf_printf(&b, "%s\n", dns_status_name(r->status));
    for (size_t i = 0; i < r->n; i++) {
        if (r->addrs)
            buf_printf(&b, "%s\n", r->addrs[i]);
        else if (r->txt)
            put_escaped(&b, r->txt[i], r->txt_len[i]);
        else if (r->mx)
            buf_printf(&b, "%u %s\n", r->mx[i].preference, r->mx[i].host);
        else if (r->names)
            buf_printf(&b, "%s\n", r->names[i]);
    }
    return buf_steal(&b);
}

/* lookup - one lookup, formatted; caller frees */
static char *lookup(struct dns *d, const char *name, int type)
{
    struct dns_result *r = dns_lookup(d, name, type);
    char *s = format_result(r);

    dns_result_free(r);
    return s;
}

/* worker - submit all of a job's lookups, then wait for each */
static void *worker(void *arg)
{
    struct job *j = arg;
    struct dns_query **q = xcalloc(j->count, sizeof(*q));

    for (size_t i = 0; i < j->count; i++)
        q[i] = dns_submit(j->d, j->name, j->type);
    for (size_t i = 0; i < j->count; i++) {
        struct dns_result *r = dns_wait(q[i]);

        j->out[i] = format_result(r);
        dns_result_free(r);
    }
    free(q);
    return NULL;
}

/* parallel - n lookups from up to MAX_THREADS threads; exit 3 on disagreement */
static char *parallel(struct dns *d, const char *name, int type, size_t n)
{
    struct job jobs[MAX_THREADS];
    size_t nt = n < MAX_THREADS ? n : MAX_THREADS;
    char *first = NULL;
    int bad = 0;

    for (size_t t = 0; t < nt; t++) {
        jobs[t].d = d;
        jobs[t].name = name;
        jobs[t].type = type;
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
                fprintf(stderr, "pm-dnsq: answers differ:\n%s---\n%s", first, jobs[t].out[i]);
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

/* number - parse a decimal option value in 1..max or exit through usage() */
static unsigned long number(const char *s, unsigned long max)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        usage();
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v == 0 || v > max)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    char *servers[MAX_SERVERS + 1];
    size_t nservers = 0;
    unsigned long timeout = 5000, par = 1, pause_ms = 0;
    struct dns *d;
    char err[256], *out;
    int opt, type;

    log_open("pm-dnsq", LOG_TO_STDERR);
    while ((opt = getopt(argc, argv, "s:t:p:w:")) != -1) {
        switch (opt) {
        case 's':
            if (nservers == MAX_SERVERS)
                usage();
            servers[nservers++] = optarg;
            break;
        case 't':
            timeout = number(optarg, 3600000);
            break;
        case 'p':
            par = number(optarg, 10000);
            break;
        case 'w':
            pause_ms = number(optarg, 3600000);
            break;
        default:
            usage();
        }
    }
    servers[nservers] = NULL;
    if (argc - optind != 2 || (type = type_code(argv[optind])) < 0)
        usage();

    d = dns_open(servers, (unsigned)timeout, err, sizeof(err));
    if (d == NULL) {
        fprintf(stderr, "pm-dnsq: %s\n", err);
        return 1;
    }
    out = par > 1 ? parallel(d, argv[optind + 1], type, par) : lookup(d, argv[optind + 1], type);
    fputs(out, stdout);
    free(out);
    if (pause_ms > 0) {
        struct timespec ts = {(time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L};

        fflush(stdout);
        nanosleep(&ts, NULL);
        out = lookup(d, argv[optind + 1], type);
        fputs(out, stdout);
        free(out);
    }
    dns_close(d);
    return fflush(stdout) == 0 ? 0 : 1;
}
