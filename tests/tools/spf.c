/*
 * spf.c - pm-spf: SPF checks through auth/spf.c, for the integration
 * tests (the RFC 7208 test suite).
 *
 * SYNOPSIS
 *   pm-spf [-s server@port]... [-t timeout_ms] [-T max_time_ms] [-e default_exp]
 *          [-r receiver] [-H] [-a | -x] [IP HELO MAIL_FROM]
 *
 * DESCRIPTION
 *   With IP HELO MAIL_FROM, checks that one case; without, reads cases
 *   from stdin, one per line as IP <TAB> HELO <TAB> MAIL_FROM. Every case
 *   gets a fresh DNS context (nothing cached from the case before).
 *   Prints one line per case, fields separated by tabs:
 *
 *     result identity domain mechanism explanation problem dns_terms voids
 *
 *   with "-" for an absent string and \\ \t \n \r \xHH escapes inside a
 *   field. -H checks the HELO identity instead of MAIL FROM; -a goes
 *   through spf_start() + spf_finish() with a pause between them (the
 *   milter's way) instead of spf_eval(); -x starts each check and
 *   abandons it with spf_cancel() at once, printing "cancelled" (the
 *   sanitizers then check that nothing leaks or is touched after it);
 *   -e sets the default explanation.
 *
 *   Exits 0 whatever the results; 2 on a usage error, 1 if the resolver
 *   cannot be set up. Never linked into a daemon: it exits on bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dns.h"
#include "log.h"
#include "spf.h"
#include "util.h"

#define MAX_SERVERS 16

struct opts {
    char *servers[MAX_SERVERS + 1];
    unsigned long timeout_ms;
    struct spf_request req; /* everything but the three per-case fields */
    bool async;
    bool cancel;
};

/* usage - print the synopsis and exit 2 */
static void usage(void)
{
    fprintf(stderr, "usage: pm-spf [-s server@port]... [-t timeout_ms] [-T max_time_ms] "
                    "[-e default_exp] [-r receiver] [-H] [-a | -x] [IP HELO MAIL_FROM]\n");
    exit(2);
}

/* number - a decimal option value in 1..max or exit through usage() */
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

/* put_field - a tab, then s escaped ("-" for NULL) */
static void put_field(struct buf *b, const char *s)
{
    buf_putc(b, '\t');
    if (s == NULL) {
        buf_putc(b, '-');
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\\')
            buf_puts(b, "\\\\");
        else if (c == '\t')
            buf_puts(b, "\\t");
        else if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '\r')
            buf_puts(b, "\\r");
        else if (c < 0x20 || c > 0x7e)
            buf_printf(b, "\\x%02X", c);
        else
            buf_putc(b, c);
    }
}

/* run_case - check one case with a fresh DNS context; print its line */
static int run_case(const struct opts *o, const char *ip, const char *helo, const char *from)
{
    struct spf_request req = o->req;
    struct spf_answer a;
    struct buf line = BUF_INIT;
    struct dns *d;
    char err[256];

    d = dns_open(o->servers, (unsigned)o->timeout_ms, err, sizeof(err));
    if (d == NULL) {
        fprintf(stderr, "pm-spf: %s\n", err);
        return 1;
    }
    req.client_ip = ip;
    req.helo = helo;
    req.mail_from = from;
    if (o->cancel) {
        spf_cancel(spf_start(d, &req));
        dns_close(d);
        fputs("cancelled\n", stdout);
        fflush(stdout);
        return 0;
    }
    if (o->async) {
        struct spf_check *c = spf_start(d, &req);
        struct timespec ts = {0, 20 * 1000000L}; /* "the message arrives" */

        nanosleep(&ts, NULL);
        spf_finish(c, &a);
    } else {
        spf_eval(d, &req, &a);
    }
    dns_close(d);
    buf_puts(&line, spf_result_name(a.result));
    put_field(&line, spf_identity_name(a.identity));
    put_field(&line, a.domain);
    put_field(&line, a.mechanism);
    put_field(&line, a.explanation);
    put_field(&line, a.problem);
    buf_printf(&line, "\t%u\t%u\n", a.dns_terms, a.void_lookups);
    fputs(buf_cstr(&line), stdout);
    fflush(stdout);
    buf_free(&line);
    spf_answer_free(&a);
    return 0;
}

/* run_stdin - one case per line: IP TAB HELO TAB MAIL_FROM */
static int run_stdin(const struct opts *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        char *f[3], *p = line;

        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        for (int i = 0; i < 3; i++) {
            f[i] = p;
            p = i < 2 ? strchr(p, '\t') : NULL;
            if (i < 2 && p == NULL) {
                fprintf(stderr, "pm-spf: want IP<TAB>HELO<TAB>MAIL_FROM per line\n");
                free(line);
                return 2;
            }
            if (p != NULL)
                *p++ = '\0';
        }
        rc = run_case(o, f[0], f[1], f[2]);
    }
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {.timeout_ms = 5000};
    size_t nservers = 0;
    int opt;

    log_open("pm-spf", LOG_TO_STDERR);
    while ((opt = getopt(argc, argv, "s:t:T:e:r:Hax")) != -1) {
        switch (opt) {
        case 's':
            if (nservers == MAX_SERVERS)
                usage();
            o.servers[nservers++] = optarg;
            break;
        case 't':
            o.timeout_ms = number(optarg, 3600000);
            break;
        case 'T':
            o.req.max_time_ms = (unsigned)number(optarg, 3600000);
            break;
        case 'e':
            o.req.default_explanation = optarg;
            break;
        case 'r':
            o.req.receiver = optarg;
            break;
        case 'H':
            o.req.identity = SPF_ID_HELO;
            break;
        case 'a':
            o.async = true;
            break;
        case 'x':
            o.cancel = true;
            break;
        default:
            usage();
        }
    }
    o.servers[nservers] = NULL;
    if (argc - optind == 3)
        return run_case(&o, argv[optind], argv[optind + 1], argv[optind + 2]);
    if (argc != optind)
        usage();
    return run_stdin(&o);
}
