/*
 * pixel_inject_bench.c - how fast pixel_inject() (pixelfilter/inject.h)
 * goes through mail, against a plain copy of the same bytes measured in
 * the same run.
 *
 * SYNOPSIS
 *     pixel_inject_bench [-n passes] [-r rounds] [-d dir] [-s file] [-m ms] [-h]
 *
 * DESCRIPTION
 *     Loads every *.eml of dir (tests/data/pixel, the corpus) and, with
 *     -s, the sign-mode message of bench/milter_throughput.py (~16 KB
 *     multipart/alternative, text and HTML), which is also used with CR LF
 *     line ends, as a milter gets the body from Postfix. Before any clock
 *     starts, every message goes through pixel_inject() once and must give
 *     the outcome and part count dir/expect.txt names (the sign-mode
 *     message: INJECTED, one part), so a broken engine cannot look fast.
 *
 *     The messages are grouped into size classes. Each round times, per
 *     class and in an order that rotates between rounds:
 *
 *     inject  pixel_inject() of each message of the class, passes times,
 *             into one output buffer emptied before each call;
 *     copy    the same bytes appended to the same kind of buffer
 *             (buf_add, a memcpy): the baseline.
 *
 *     Both with CLOCK_PROCESS_CPUTIME_ID (CPU time, the number that
 *     counts: a milter's CPU is what it takes from Postfix) and
 *     CLOCK_MONOTONIC (wall).
 *
 *     Output: per round the corpus's input MB/s (10^6 bytes of input per
 *     second of CPU, and of wall time), the copy's MB/s and the ratio of
 *     their CPU times (inject / copy: the cost over copying the bytes),
 *     and the sign-mode message's CPU microseconds per message; then the
 *     medians over the rounds per class. The corpus target is >= 100
 *     MB/s. The sign-mode figure (CR LF) divided by bench/milter-
 *     throughput.sh --mode sign's "CPU ms/msg" is the pixel stage's share
 *     of the outbound pipeline's milter CPU per message (target <= 5%);
 *     -m gives that CPU ms/msg and the share is printed.
 *
 * DIAGNOSTICS
 *     Exit 1 if a message does not give the expected outcome or a file
 *     cannot be read, 2 on a usage error. Reads only dir and file;
 *     writes nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "log.h"
#include "bench_util.h"
#include "util.h"

/* The URL the milter stage would use: base, "/o/", a 32-character token, ".gif". */
static const char bench_url[] = "https://px.example.test/o/Xq3b7Zt0kL9mN2pR5sV8wY1cF4hJ6aQe.gif";

/* one message and what pixel_inject() must make of it */
struct msg {
    char *name;
    char *data;
    size_t len;
    enum pixel_outcome want;
    unsigned want_parts;
};

/* a size class: its messages and, per round, what inject and copy took */
struct sclass {
    const char *name;
    bool corpus; /* counted in the corpus MB/s (the sign-mode message is not) */
    struct msg **m;
    size_t n, bytes;
    double *inj_cpu, *inj_wall, *copy_cpu, *copy_wall; /* seconds, per round */
};

struct bench_opts {
    size_t passes, rounds;
    const char *dir, *sign_file;
    double sign_cpu_ms; /* -m: bench/milter-throughput.sh --mode sign's CPU ms/msg, 0: none */
};

/* CPU time and wall time at one moment */
struct stamp {
    double cpu, wall;
};

/* The classes, in the order printed. */
enum { C_SMALL, C_MEDIUM, C_LARGE, C_SIGN_LF, C_SIGN_CRLF, NCLASS };
static const char *const class_name[NCLASS] = {
    "corpus < 1 KiB", "corpus 1-4 KiB", "corpus >= 4 KiB", "sign-mode, LF", "sign-mode, CR LF"};

/* Keeps the results observable, so nothing timed can be optimised away. */
static volatile size_t sink;

/* now - CPU time of the process and monotonic wall time, in seconds */
static struct stamp now(void)
{
    struct timespec c, w;
    struct stamp s;

    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c) != 0 || clock_gettime(CLOCK_MONOTONIC, &w) != 0)
        die("clock_gettime: %s", strerror(errno));
    s.cpu = (double)c.tv_sec + (double)c.tv_nsec / 1e9;
    s.wall = (double)w.tv_sec + (double)w.tv_nsec / 1e9;
    return s;
}

/* read_file - the whole file at path into *data (caller frees), its length into *len */
static void read_file(const char *path, char **data, size_t *len)
{
    struct buf b = BUF_INIT;
    char chunk[65536];
    FILE *fp = fopen(path, "rb");
    size_t n;

    if (fp == NULL)
        die("%s: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_add(&b, chunk, n);
    if (ferror(fp))
        die("%s: read error", path);
    fclose(fp);
    *len = b.len;
    *data = buf_steal(&b);
}

/* outcome_by_name - the outcome pixel_outcome_name() calls name; false if none */
static bool outcome_by_name(const char *name, enum pixel_outcome *o)
{
    for (int i = PIXEL_INJECTED; i <= PIXEL_BAD_URL; i++) {
        if (strcmp(pixel_outcome_name((enum pixel_outcome)i), name) == 0) {
            *o = (enum pixel_outcome)i;
            return true;
        }
    }
    return false;
}

/* cmp_msg - qsort order of struct msg by name */
static int cmp_msg(const void *a, const void *b)
{
    return strcmp(((const struct msg *)a)->name, ((const struct msg *)b)->name);
}

/* load_expect - set want and want_parts of the n messages v from dir/expect.txt */
static void load_expect(const char *dir, struct msg *v, size_t n)
{
    char *path = xasprintf("%s/expect.txt", dir), line[512];
    FILE *fp = fopen(path, "r");
    size_t lineno = 0, found = 0;

    if (fp == NULL)
        die("%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), fp) != NULL) {
        char file[256], outcome[64];
        unsigned parts;
        enum pixel_outcome o;
        size_t i;

        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%255s %63s %u", file, outcome, &parts) != 3 ||
            !outcome_by_name(outcome, &o))
            die("%s:%zu: want \"file outcome parts\"", path, lineno);
        for (i = 0; i < n && strcmp(v[i].name, file) != 0; i++)
            ;
        if (i == n)
            die("%s:%zu: no message %s in %s", path, lineno, file, dir);
        v[i].want = o;
        v[i].want_parts = parts;
        found++;
    }
    fclose(fp);
    if (found != n)
        die("%s: %zu of the %zu messages have no expected outcome", path, n - found, n);
    free(path);
}

/* load_corpus - every *.eml of dir, sorted by name, with its expected outcome; caller frees */
static struct msg *load_corpus(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct msg *v = NULL;
    size_t n = 0, cap = 0;

    if (d == NULL)
        die("%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        char *path;

        if (nl < 5 || strcmp(e->d_name + nl - 4, ".eml") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = xrealloc(v, cap * sizeof(*v));
        }
        memset(&v[n], 0, sizeof(v[n]));
        v[n].name = xstrdup(e->d_name);
        path = xasprintf("%s/%s", dir, e->d_name);
        read_file(path, &v[n].data, &v[n].len);
        free(path);
        n++;
    }
    closedir(d);
    if (n == 0)
        die("%s: no *.eml files", dir);
    qsort(v, n, sizeof(*v), cmp_msg);
    load_expect(dir, v, n);
    *count = n;
    return v;
}

/* to_crlf - a copy of m with every LF not after a CR made CR LF */
static struct msg to_crlf(const struct msg *m)
{
    struct buf b = BUF_INIT;
    struct msg c = *m;

    for (size_t i = 0; i < m->len; i++) {
        if (m->data[i] == '\n' && (i == 0 || m->data[i - 1] != '\r'))
            buf_putc(&b, '\r');
        buf_putc(&b, m->data[i]);
    }
    c.name = xasprintf("%s (CR LF)", m->name);
    c.len = b.len;
    c.data = buf_steal(&b);
    return c;
}

/* check_all - pixel_inject() of every message gives what it must; false if one does not */
static bool check_all(struct msg *v, size_t n)
{
    struct buf out = BUF_INIT;
    bool ok = true;

    for (size_t i = 0; i < n; i++) {
        struct pixel_report rep;
        enum pixel_outcome o;

        buf_reset(&out);
        o = pixel_inject(v[i].data, v[i].len, bench_url, &out, &rep);
        if (o != v[i].want || rep.parts != v[i].want_parts) {
            printf("FAILED: %s: %s parts=%u, want %s parts=%u\n", v[i].name, pixel_outcome_name(o),
                   rep.parts, pixel_outcome_name(v[i].want), v[i].want_parts);
            ok = false;
        }
    }
    buf_free(&out);
    return ok;
}

/* time_class - passes x every message of c through pixel_inject() (inject) or buf_add() (copy);
 * CPU and wall seconds into *cpu and *wall */
static void time_class(const struct sclass *c, size_t passes, bool inject, double *cpu,
                       double *wall)
{
    struct buf out = BUF_INIT;
    struct pixel_report rep;
    struct stamp t0, t1;
    size_t total = 0;

    buf_reserve(&out, 1 << 16); /* both start with a warm buffer */
    t0 = now();
    for (size_t p = 0; p < passes; p++) {
        for (size_t i = 0; i < c->n; i++) {
            buf_reset(&out);
            if (inject)
                pixel_inject(c->m[i]->data, c->m[i]->len, bench_url, &out, &rep);
            else
                buf_add(&out, c->m[i]->data, c->m[i]->len);
            total += out.len;
        }
    }
    t1 = now();
    sink += total;
    buf_free(&out);
    *cpu = t1.cpu - t0.cpu;
    *wall = t1.wall - t0.wall;
}

/* usage - how to call us */
__attribute__((noreturn)) static void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: pixel_inject_bench [-n passes] [-r rounds] [-d dir] [-s file] [-m ms]\n"
            "  -n  passes over each class per round (1000)   -r  rounds, order rotating (5)\n"
            "  -d  the corpus: *.eml and expect.txt (tests/data/pixel)\n"
            "  -s  the sign-mode message of bench/milter_throughput.py (none)\n"
            "  -m  CPU ms/msg of bench/milter-throughput.sh --mode sign: print the share\n");
    exit(status);
}

/* parse_args - options into o */
static void parse_args(int argc, char **argv, struct bench_opts *o)
{
    char *end;
    int c;

    while ((c = getopt(argc, argv, "n:r:d:s:m:h")) != -1) {
        switch (c) {
        case 'n':
            o->passes = bench_size_arg(optarg, usage);
            break;
        case 'r':
            o->rounds = bench_size_arg(optarg, usage);
            break;
        case 'd':
            o->dir = optarg;
            break;
        case 's':
            o->sign_file = optarg;
            break;
        case 'm':
            errno = 0;
            o->sign_cpu_ms = strtod(optarg, &end);
            if (errno || *end || !(o->sign_cpu_ms > 0))
                usage(2);
            break;
        case 'h':
            usage(0);
        default:
            usage(2);
        }
    }
    if (optind != argc)
        usage(2);
}

/* add_to_class - put m into class c */
static void add_to_class(struct sclass *c, struct msg *m)
{
    c->m = xrealloc(c->m, (c->n + 1) * sizeof(*c->m));
    c->m[c->n++] = m;
    c->bytes += m->len;
}

/* run_round - time every class, inject and copy in an order that rotates with r */
static void run_round(struct sclass *cls, const struct bench_opts *o, size_t r)
{
    double cpu = 0, wall = 0, copy = 0, bytes = 0, sign_us = 0;
    bool inject_first = r % 2 == 0;

    for (int k = 0; k < NCLASS; k++) {
        struct sclass *c = &cls[k];

        if (c->n == 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if ((i == 0) == inject_first)
                time_class(c, o->passes, true, &c->inj_cpu[r], &c->inj_wall[r]);
            else
                time_class(c, o->passes, false, &c->copy_cpu[r], &c->copy_wall[r]);
        }
        if (c->corpus) {
            cpu += c->inj_cpu[r];
            wall += c->inj_wall[r];
            copy += c->copy_cpu[r];
            bytes += (double)c->bytes * (double)o->passes;
        }
    }
    if (cls[C_SIGN_CRLF].n > 0)
        sign_us = cls[C_SIGN_CRLF].inj_cpu[r] / (double)o->passes * 1e6;
    printf("%-6zu %-12s %11.1f %11.1f %11.0f %9.1f %11.1f\n", r + 1,
           inject_first ? "inject,copy" : "copy,inject", bytes / cpu / 1e6, bytes / wall / 1e6,
           bytes / copy / 1e6, cpu / copy, sign_us);
    fflush(stdout);
}

/* report - medians per class, the corpus target, the sign-mode figure and share */
static void report(const struct sclass *cls, const struct bench_opts *o)
{
    size_t nr = o->rounds;
    double *cpu = xcalloc(nr, sizeof(double)), *wall = xcalloc(nr, sizeof(double));
    double *copy = xcalloc(nr, sizeof(double)), bytes = 0, mbs, sign_us = 0;

    printf("\nmedians over %zu rounds, per class (CPU time; us/msg: microseconds per message)\n",
           nr);
    printf("%-17s %5s %9s %11s %11s %9s %11s %11s\n", "class", "msgs", "avg bytes", "inject MB/s",
           "wall MB/s", "us/msg", "copy us/msg", "inject/copy");
    for (int k = 0; k < NCLASS; k++) {
        const struct sclass *c = &cls[k];
        double ic, iw, cc, calls = (double)c->n * (double)o->passes;
        double cb = (double)c->bytes * (double)o->passes;
        double *ratio = xcalloc(nr, sizeof(double));

        if (c->n == 0) {
            free(ratio);
            continue;
        }
        for (size_t r = 0; r < nr; r++) {
            ratio[r] = c->inj_cpu[r] / c->copy_cpu[r];
            if (c->corpus) {
                cpu[r] += c->inj_cpu[r];
                wall[r] += c->inj_wall[r];
                copy[r] += c->copy_cpu[r];
            }
        }
        if (c->corpus)
            bytes += cb;
        ic = bench_median(c->inj_cpu, nr);
        iw = bench_median(c->inj_wall, nr);
        cc = bench_median(c->copy_cpu, nr);
        printf("%-17s %5zu %9zu %11.1f %11.1f %9.2f %11.3f %11.1f\n", c->name, c->n,
               c->bytes / c->n, cb / ic / 1e6, cb / iw / 1e6, ic / calls * 1e6, cc / calls * 1e6,
               bench_median(ratio, nr));
        if (k == C_SIGN_CRLF)
            sign_us = ic / calls * 1e6;
        free(ratio);
    }
    for (size_t r = 0; r < nr; r++) {
        double c = cpu[r], w = wall[r], y = copy[r];

        cpu[r] = bytes / c / 1e6;
        wall[r] = bytes / w / 1e6;
        copy[r] = c / y;
    }
    mbs = bench_median(cpu, nr);
    printf("\ncorpus: %.1f MB/s of input per CPU second (wall %.1f MB/s), %.1f x the CPU of "
           "copying the same bytes\n",
           mbs, bench_median(wall, nr), bench_median(copy, nr));
    printf("corpus target >= 100 MB/s: %s\n", mbs >= 100 ? "PASS" : "MISS");
    if (cls[C_SIGN_CRLF].n > 0) {
        printf("\npixel stage CPU per outbound message (the sign-mode message, %zu bytes with CR "
               "LF as the milter gets it): %.1f us\n",
               cls[C_SIGN_CRLF].bytes, sign_us);
        if (o->sign_cpu_ms > 0) {
            double share = sign_us / (o->sign_cpu_ms * 1000) * 100;

            printf("share of the outbound pipeline's milter CPU: %.1f us / %.3f ms (bench/"
                   "milter-throughput.sh --mode sign) = %.2f%%; target <= 5%%: %s\n",
                   sign_us, o->sign_cpu_ms, share, share <= 5 ? "PASS" : "MISS");
        } else {
            printf("share of the outbound pipeline's milter CPU: divide it by the \"CPU ms/msg\" "
                   "of bench/milter-throughput.sh --mode sign (x 1000); target <= 5%%\n");
        }
    }
    free(cpu);
    free(wall);
    free(copy);
}

int main(int argc, char **argv)
{
    struct bench_opts o = {.passes = 1000, .rounds = 5, .dir = "tests/data/pixel"};
    struct sclass cls[NCLASS];
    struct msg *corpus, sign[2];
    size_t ncorpus, corpus_bytes = 0;
    bool ok;

    log_open("pixel_inject_bench", LOG_TO_STDERR);
    parse_args(argc, argv, &o);
    corpus = load_corpus(o.dir, &ncorpus);
    memset(cls, 0, sizeof(cls));
    for (int k = 0; k < NCLASS; k++) {
        cls[k].name = class_name[k];
        cls[k].corpus = k < C_SIGN_LF;
        cls[k].inj_cpu = xcalloc(o.rounds, sizeof(double));
        cls[k].inj_wall = xcalloc(o.rounds, sizeof(double));
        cls[k].copy_cpu = xcalloc(o.rounds, sizeof(double));
        cls[k].copy_wall = xcalloc(o.rounds, sizeof(double));
    }
    for (size_t i = 0; i < ncorpus; i++) {
        size_t len = corpus[i].len;

        add_to_class(&cls[len < 1024 ? C_SMALL : len < 4096 ? C_MEDIUM : C_LARGE], &corpus[i]);
        corpus_bytes += len;
    }
    ok = check_all(corpus, ncorpus);
    if (o.sign_file != NULL) {
        memset(&sign[0], 0, sizeof(sign[0]));
        sign[0].name = xstrdup(o.sign_file);
        read_file(o.sign_file, &sign[0].data, &sign[0].len);
        sign[0].want = PIXEL_INJECTED;
        sign[0].want_parts = 1;
        sign[1] = to_crlf(&sign[0]);
        ok = check_all(sign, 2) && ok;
        add_to_class(&cls[C_SIGN_LF], &sign[0]);
        add_to_class(&cls[C_SIGN_CRLF], &sign[1]);
    }
    if (!ok)
        return 1;

    printf("pixel_inject_bench: %zu messages (%zu bytes) from %s", ncorpus, corpus_bytes, o.dir);
    if (o.sign_file != NULL)
        printf(", the %zu-byte sign-mode message", sign[0].len);
    printf("; %zu passes per round, %zu rounds, %ld CPUs\n", o.passes, o.rounds,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("  every message gave the outcome expect.txt names before timing; MB = 10^6 bytes of "
           "input\n");
    printf("%-6s %-12s %11s %11s %11s %9s %11s\n", "", "", "corpus MB/s", "corpus MB/s",
           "copy MB/s", "inject/", "sign CR LF");
    printf("%-6s %-12s %11s %11s %11s %9s %11s\n", "round", "order", "(CPU)", "(wall)", "(CPU)",
           "copy", "us/msg");
    fflush(stdout);
    for (size_t r = 0; r < o.rounds; r++)
        run_round(cls, &o, r);
    report(cls, &o);

    for (int k = 0; k < NCLASS; k++) {
        free(cls[k].m);
        free(cls[k].inj_cpu);
        free(cls[k].inj_wall);
        free(cls[k].copy_cpu);
        free(cls[k].copy_wall);
    }
    for (size_t i = 0; i < ncorpus; i++) {
        free(corpus[i].name);
        free(corpus[i].data);
    }
    free(corpus);
    if (o.sign_file != NULL) {
        for (int i = 0; i < 2; i++) {
            free(sign[i].name);
            free(sign[i].data);
        }
    }
    pixel_shutdown();
    return 0;
}
