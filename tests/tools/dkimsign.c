/*
 * dkimsign.c - pm-dkimsign: milter/dkim_sign over one message file, fed
 * the way libmilter feeds postmeter-milter, for the integration tests.
 *
 * SYNOPSIS
 *   pm-dkimsign -k DOMAIN:SELECTOR:ALGORITHM:KEYFILE [-k ...] [-l] [-C canon]
 *               [-c chunk] [-T time] [-p N] [-a stage] [-P] FILE
 *
 * DESCRIPTION
 *   The header is split into fields as Postfix hands them to a milter:
 *   the name without the colon (white space before the colon dropped), the
 *   value with its folds joined by "\n" and its first space removed (kept
 *   with -l, as with SMFIP_HDR_LEADSPC). The body gets CRLF line ends and
 *   goes in chunks of -c bytes (default 65535, Postfix's size). Every -k
 *   key signs (two keys: dual signing).
 *
 *   Prints the message as it leaves Postfix: the DKIM-Signature fields
 *   first (in key order; written as the MTA writes a field a milter
 *   inserted: "DKIM-Signature: " + value, or with -l "DKIM-Signature:" +
 *   the value the caller gave, which is " " + value), then the header as
 *   read and the body, all with CRLF line ends.
 *
 *   -C canon  relaxed/relaxed (default), simple/simple, relaxed/simple or
 *             simple/relaxed.
 *   -T time   sign with t=time (reproducible output).
 *   -p N      sign the message N times at once in N threads (max 64)
 *             sharing the signer and the keys; print once; exit 4 if the
 *             outputs differ (use -T so that t= cannot).
 *   -a stage  abandon the message after "begin", "header" (the first
 *             field), "eoh" or "body" and print "aborted".
 *   -P        print "DOMAIN SELECTOR ALGORITHM BITS P" (tab separated,
 *             P the base64 of the DNS record's p=) per key and exit.
 *
 *   Exits 0 when every key signed; 3 when some key did not (its reason
 *   on stderr, the message printed with the others); 2 on a usage error;
 *   1 if a key or the signer cannot be set up. Never prints key material.
 *   Never linked into a daemon.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dkim_sign.h"
#include "log.h"
#include "msgfile.h"
#include "util.h"

#define MAX_KEYS    8
#define MAX_THREADS 64

enum abort_at { ABORT_NONE, ABORT_BEGIN, ABORT_HEADER, ABORT_EOH, ABORT_BODY };

struct job {
    pthread_t thread;
    struct dkims *s;
    struct dkims_key *const *keys;
    size_t nkeys;
    const struct message *msg;
    unsigned flags;
    size_t chunk;
    enum abort_at abort_at;
    char *out;  /* caller frees */
    char *errs; /* per-key errors, caller frees */
    size_t failed;
};

/* usage - print the synopsis and exit 2 */
static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr, "usage: pm-dkimsign -k DOMAIN:SELECTOR:ALGORITHM:KEYFILE [-k ...] [-l] "
                    "[-C canon] [-c chunk] [-T time] [-p N] [-a stage] [-P] FILE\n");
    exit(2);
}

/* number - parse a decimal option value in min..max or exit through usage() */
static unsigned long long number(const char *s, unsigned long long min, unsigned long long max)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        usage();
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        usage();
    return v;
}

/* put_field - "DKIM-Signature:" + value as the MTA writes an inserted field, CRLF folds */
static void put_field(struct buf *out, const char *value, bool leadspc)
{
    /* the caller's part: with SMFIP_HDR_LEADSPC the separating space is ours to give */
    char *given = leadspc ? xasprintf(" %s", value) : xstrdup(value);

    /* the MTA's part */
    buf_puts(out, leadspc ? "DKIM-Signature:" : "DKIM-Signature: ");
    for (const char *p = given; *p; p++) {
        if (*p == '\n')
            buf_putc(out, '\r');
        buf_putc(out, *p);
    }
    buf_puts(out, "\r\n");
    free(given);
}

/* sign_once - one message through one dkims_msg */
static void sign_once(struct job *j)
{
    struct dkims_msg *m = dkims_begin(j->s, j->keys, j->nkeys, j->flags);
    const struct message *msg = j->msg;
    const struct dkims_sig *sig;
    struct buf out = BUF_INIT, errs = BUF_INIT;

    if (j->abort_at == ABORT_BEGIN)
        goto aborted;
    for (size_t i = 0; i < msg->nf; i++) {
        dkims_header(m, msg->f[i].name, msg->f[i].value);
        if (j->abort_at == ABORT_HEADER)
            goto aborted;
    }
    dkims_eoh(m);
    if (j->abort_at == ABORT_EOH)
        goto aborted;
    for (size_t off = 0; off < msg->body.len; off += j->chunk) {
        size_t n = msg->body.len - off < j->chunk ? msg->body.len - off : j->chunk;

        dkims_body(m, (const unsigned char *)msg->body.data + off, n);
    }
    if (j->abort_at == ABORT_BODY)
        goto aborted;
    (void)dkims_eom(m, &sig);
    for (size_t i = 0; i < j->nkeys; i++) {
        if (sig[i].value) {
            put_field(&out, sig[i].value, (j->flags & DKIMS_LEADSPC) != 0);
        } else {
            buf_printf(&errs, "pm-dkimsign: d=%s s=%s a=%s: %s\n", sig[i].domain, sig[i].selector,
                       sig[i].algorithm, sig[i].error);
            j->failed++;
        }
    }
    buf_add(&out, msg->header.data, msg->header.len);
    buf_add(&out, msg->body.data, msg->body.len);
    dkims_end(m);
    j->out = buf_steal(&out);
    j->errs = errs.data ? buf_steal(&errs) : xstrdup("");
    return;
aborted:
    dkims_end(m);
    j->out = xstrdup("aborted\n");
    j->errs = xstrdup("");
}

/* worker - one thread's signing */
static void *worker(void *arg)
{
    sign_once(arg);
    return NULL;
}

/* load_key - a -k argument DOMAIN:SELECTOR:ALGORITHM:KEYFILE; exits 1 on error */
static struct dkims_key *load_key(const char *arg)
{
    char *copy = xstrdup(arg), *part[4], *p = copy, err[512];
    struct dkims_key *k;

    for (int i = 0; i < 3; i++) {
        char *colon = strchr(p, ':');

        if (colon == NULL)
            usage();
        *colon = '\0';
        part[i] = p;
        p = colon + 1;
    }
    part[3] = p;
    k = dkims_key_load(part[0], part[1], part[2], part[3], err, sizeof(err));
    free(copy);
    if (k == NULL) {
        fprintf(stderr, "pm-dkimsign: %s\n", err);
        exit(1);
    }
    return k;
}

/* parse_canon - -C value into flags */
static unsigned parse_canon(const char *s)
{
    if (strcmp(s, "relaxed/relaxed") == 0)
        return 0;
    if (strcmp(s, "simple/simple") == 0)
        return DKIMS_SIMPLE;
    if (strcmp(s, "simple/relaxed") == 0)
        return DKIMS_SIMPLE_HEADER;
    if (strcmp(s, "relaxed/simple") == 0)
        return DKIMS_SIMPLE_BODY;
    usage();
}

/* parse_abort - -a value */
static enum abort_at parse_abort(const char *s)
{
    if (strcmp(s, "begin") == 0)
        return ABORT_BEGIN;
    if (strcmp(s, "header") == 0)
        return ABORT_HEADER;
    if (strcmp(s, "eoh") == 0)
        return ABORT_EOH;
    if (strcmp(s, "body") == 0)
        return ABORT_BODY;
    usage();
}

int main(int argc, char **argv)
{
    const char *keyargs[MAX_KEYS];
    struct dkims_key *keys[MAX_KEYS];
    size_t nkeys = 0, len;
    unsigned long long when = 0;
    unsigned long chunk = 65535, par = 1;
    unsigned flags = 0;
    bool print_public = false;
    enum abort_at abort_at = ABORT_NONE;
    struct message msg;
    struct dkims *s;
    struct job jobs[MAX_THREADS];
    char err[256], *data;
    int opt, rc = 0;

    log_open("pm-dkimsign", LOG_TO_STDERR);
    while ((opt = getopt(argc, argv, "k:lC:c:T:p:a:P")) != -1) {
        switch (opt) {
        case 'k':
            if (nkeys == MAX_KEYS)
                usage();
            keyargs[nkeys++] = optarg;
            break;
        case 'l':
            flags |= DKIMS_LEADSPC;
            break;
        case 'C':
            flags = (flags & DKIMS_LEADSPC) | parse_canon(optarg);
            break;
        case 'c':
            chunk = (unsigned long)number(optarg, 1, 1 << 24);
            break;
        case 'T':
            when = number(optarg, 1, 1ULL << 40);
            break;
        case 'p':
            par = (unsigned long)number(optarg, 1, MAX_THREADS);
            break;
        case 'a':
            abort_at = parse_abort(optarg);
            break;
        case 'P':
            print_public = true;
            break;
        default:
            usage();
        }
    }
    if (nkeys == 0 || argc - optind != (print_public ? 0 : 1))
        usage();
    for (size_t i = 0; i < nkeys; i++)
        keys[i] = load_key(keyargs[i]);
    if (print_public) {
        for (size_t i = 0; i < nkeys; i++) {
            char *p = dkims_key_public(keys[i]);

            printf("%s\t%s\t%s\t%u\t%s\n", dkims_key_domain(keys[i]), dkims_key_selector(keys[i]),
                   dkims_key_algorithm(keys[i]), dkims_key_bits(keys[i]), p);
            free(p);
            dkims_key_free(keys[i]);
        }
        return fflush(stdout) == 0 ? 0 : 1;
    }

    s = dkims_open(err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "pm-dkimsign: %s\n", err);
        return 1;
    }
    if (when && !dkims_set_time(s, when)) {
        fprintf(stderr, "pm-dkimsign: cannot fix the signing time\n");
        return 1;
    }
    data = msgfile_read("pm-dkimsign", argv[optind], &len);
    msgfile_parse(data, len, (flags & DKIMS_LEADSPC) != 0, &msg);
    free(data);

    for (size_t t = 0; t < par; t++) {
        jobs[t] = (struct job){.s = s,
                               .keys = keys,
                               .nkeys = nkeys,
                               .msg = &msg,
                               .flags = flags,
                               .chunk = chunk,
                               .abort_at = abort_at};
        if (pthread_create(&jobs[t].thread, NULL, worker, &jobs[t]) != 0)
            die("pthread_create failed");
    }
    for (size_t t = 0; t < par; t++) {
        pthread_join(jobs[t].thread, NULL);
        if (t > 0 &&
            (strcmp(jobs[0].out, jobs[t].out) != 0 || strcmp(jobs[0].errs, jobs[t].errs) != 0)) {
            fprintf(stderr, "pm-dkimsign: thread %zu signed differently\n", t);
            rc = 4;
        }
    }
    fputs(jobs[0].out, stdout);
    fputs(jobs[0].errs, stderr);
    if (rc == 0 && jobs[0].failed > 0)
        rc = 3;
    for (size_t t = 0; t < par; t++) {
        free(jobs[t].out);
        free(jobs[t].errs);
    }
    for (size_t i = 0; i < nkeys; i++)
        dkims_key_free(keys[i]);
    dkims_close(s);
    msgfile_free(&msg);
    if (fflush(stdout) != 0)
        return 1;
    return rc;
}
