/*
 * dkimverify.c - pm-dkimverify: auth/dkim_verify over one message file,
 * fed the way libmilter feeds postmeter-milter, for the integration tests.
 *
 * SYNOPSIS
 *   pm-dkimverify [-s server@port]... [-t timeout_ms] [-K keys.txt]
 *                 [-m max_sigs] [-k min_key_bits] [-l] [-c chunk] [-p N] [-a] FILE
 *
 * DESCRIPTION
 *   The header is split into fields as Postfix hands them to a milter:
 *   the name without the colon (white space before the colon dropped), the
 *   value with its folds joined by "\n" and its first space removed
 *   (kept with -l, as with SMFIP_HDR_LEADSPC). The body gets CRLF line
 *   ends and goes in chunks of -c bytes (default 65535, Postfix's size).
 *
 *   Prints one line per signature, tab separated: result, d=, s=, a=,
 *   header.b prefix, key bits, i= ("-" if none), comment. Then
 *   "skipped<TAB>N" if signatures were over the limit; "none" if there
 *   were no results at all.
 *
 *   -K FILE  answer key lookups from FILE ("NAME<TAB>TXT" lines; a name
 *            may repeat; names absent are NXDOMAIN) instead of DNS.
 *   -p N     verify the message N times at once in N threads (max 64)
 *            sharing one verifier; print once; exit 3 if outputs differ.
 *   -a       abandon the message after the header (as on an SMTP abort,
 *            key lookups still out) and print "aborted".
 *
 *   Exits 0 whatever the results; 2 on a usage error, 1 if the message
 *   or the verifier cannot be set up. Never linked into a daemon.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dkim_verify.h"
#include "dns.h"
#include "log.h"
#include "msgfile.h"
#include "util.h"

#define MAX_SERVERS 16
#define MAX_THREADS 64

struct keyrec {
    char *name;
    char *txt;
};

struct keyfile {
    struct keyrec *r;
    size_t n;
};

struct job {
    pthread_t thread;
    struct dkimv *v;
    const struct message *msg;
    unsigned flags;
    size_t chunk;
    bool abort_early;
    char *out; /* caller frees */
};

/* usage - print the synopsis and exit 2 */
static void usage(void)
{
    fprintf(stderr, "usage: pm-dkimverify [-s server@port]... [-t timeout_ms] [-K keys.txt] "
                    "[-m max_sigs] [-k min_key_bits] [-l] [-c chunk] [-p N] [-a] FILE\n");
    exit(2);
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

/* keyfile_lookup - a dkimv lookup function over a keys.txt file */
static struct dns_result *keyfile_lookup(void *arg, const char *name)
{
    const struct keyfile *kf = arg;
    struct dns_result *r = xcalloc(1, sizeof(*r));
    size_t n = 0;

    for (size_t i = 0; i < kf->n; i++)
        n += strcmp(kf->r[i].name, name) == 0;
    r->status = n ? DNS_OK : DNS_NXDOMAIN;
    r->rcode = n ? 0 : 3;
    if (n == 0)
        return r;
    r->txt = xcalloc(n, sizeof(*r->txt));
    r->txt_len = xcalloc(n, sizeof(*r->txt_len));
    for (size_t i = 0; i < kf->n; i++) {
        if (strcmp(kf->r[i].name, name) == 0) {
            r->txt[r->n] = xstrdup(kf->r[i].txt);
            r->txt_len[r->n++] = strlen(kf->r[i].txt);
        }
    }
    return r;
}

/* keyfile_read - load "NAME<TAB>TXT" lines */
static void keyfile_read(const char *path, struct keyfile *kf)
{
    size_t len;
    char *data = msgfile_read("pm-dkimverify", path, &len), *save = NULL;

    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');

        if (tab == NULL)
            continue;
        *tab = '\0';
        kf->r = xrealloc(kf->r, (kf->n + 1) * sizeof(*kf->r));
        kf->r[kf->n].name = xstrdup(line);
        kf->r[kf->n++].txt = xstrdup(tab + 1);
    }
    free(data);
}

/* verify_once - feed the message through one dkimv_msg; formatted results, caller frees */
static char *verify_once(struct dkimv *v, const struct message *msg, unsigned flags, size_t chunk,
                         bool abort_early)
{
    struct dkimv_msg *m = dkimv_begin(v, "pm-dkimverify", flags);
    const struct dkimv_results *res;
    struct buf out = BUF_INIT;

    for (size_t i = 0; i < msg->nf; i++)
        dkimv_header(m, msg->f[i].name, msg->f[i].value);
    dkimv_eoh(m);
    if (abort_early) {
        dkimv_end(m);
        return xstrdup("aborted\n");
    }
    for (size_t off = 0; off < msg->body.len; off += chunk) {
        size_t n = msg->body.len - off < chunk ? msg->body.len - off : chunk;

        dkimv_body(m, (const unsigned char *)msg->body.data + off, n);
    }
    res = dkimv_eom(m);
    for (size_t i = 0; i < res->n; i++) {
        const struct dkimv_sig *s = &res->sig[i];

        buf_printf(&out, "%s\t%s\t%s\t%s\t%s\t%u\t%s\t%s\n", dkimv_result_name(s->result),
                   s->domain, s->selector, s->algorithm, s->b, s->key_bits,
                   s->identity ? s->identity : "-", s->comment);
    }
    if (res->skipped > 0)
        buf_printf(&out, "skipped\t%zu\n", res->skipped);
    if (res->n == 0 && res->skipped == 0)
        buf_puts(&out, "none\n");
    dkimv_end(m);
    return buf_steal(&out);
}

/* worker - one thread's verification */
static void *worker(void *arg)
{
    struct job *j = arg;

    j->out = verify_once(j->v, j->msg, j->flags, j->chunk, j->abort_early);
    return NULL;
}

int main(int argc, char **argv)
{
    char *servers[MAX_SERVERS + 1];
    size_t nservers = 0, len;
    unsigned long timeout = 5000, max_sigs = 5, min_bits = 1024, chunk = 65535, par = 1;
    const char *keys = NULL;
    unsigned flags = 0;
    bool abort_early = false;
    struct keyfile kf = {NULL, 0};
    struct message msg;
    struct dns *d = NULL;
    struct dkimv *v;
    struct job jobs[MAX_THREADS];
    char err[256], *data;
    int opt, rc = 0;

    log_open("pm-dkimverify", LOG_TO_STDERR);
    while ((opt = getopt(argc, argv, "s:t:K:m:k:lc:p:a")) != -1) {
        switch (opt) {
        case 's':
            if (nservers == MAX_SERVERS)
                usage();
            servers[nservers++] = optarg;
            break;
        case 't':
            timeout = number(optarg, 3600000);
            break;
        case 'K':
            keys = optarg;
            break;
        case 'm':
            max_sigs = number(optarg, 100000);
            break;
        case 'k':
            min_bits = number(optarg, 65536);
            break;
        case 'l':
            flags |= DKIMV_LEADSPC;
            break;
        case 'c':
            chunk = number(optarg, 1 << 24);
            break;
        case 'p':
            par = number(optarg, MAX_THREADS);
            break;
        case 'a':
            abort_early = true;
            break;
        default:
            usage();
        }
    }
    servers[nservers] = NULL;
    if (argc - optind != 1)
        usage();
    data = msgfile_read("pm-dkimverify", argv[optind], &len);
    msgfile_parse(data, len, (flags & DKIMV_LEADSPC) != 0, &msg);
    free(data);

    if (keys == NULL) {
        d = dns_open(servers, (unsigned)timeout, err, sizeof(err));
        if (d == NULL) {
            fprintf(stderr, "pm-dkimverify: %s\n", err);
            return 1;
        }
    }
    v = dkimv_open(d, (unsigned)max_sigs, (unsigned)min_bits, err, sizeof(err));
    if (v == NULL) {
        fprintf(stderr, "pm-dkimverify: %s\n", err);
        return 1;
    }
    if (keys) {
        keyfile_read(keys, &kf);
        dkimv_set_lookup(v, keyfile_lookup, &kf);
    }
    for (size_t t = 0; t < par; t++) {
        jobs[t] = (struct job){
            .v = v, .msg = &msg, .flags = flags, .chunk = chunk, .abort_early = abort_early};
        if (pthread_create(&jobs[t].thread, NULL, worker, &jobs[t]) != 0)
            die("pthread_create failed");
    }
    for (size_t t = 0; t < par; t++) {
        pthread_join(jobs[t].thread, NULL);
        if (t > 0 && strcmp(jobs[0].out, jobs[t].out) != 0) {
            fprintf(stderr, "pm-dkimverify: results differ:\n%s---\n%s", jobs[0].out, jobs[t].out);
            rc = 3;
        }
    }
    fputs(jobs[0].out, stdout);
    for (size_t t = 0; t < par; t++)
        free(jobs[t].out);
    dkimv_close(v);
    dns_close(d);
    msgfile_free(&msg);
    for (size_t i = 0; i < kf.n; i++) {
        free(kf.r[i].name);
        free(kf.r[i].txt);
    }
    free(kf.r);
    if (fflush(stdout) != 0)
        return 1;
    return rc;
}
