/*
 * dkim_worst_bench.c - the CPU time of the worst DKIM messages we know how
 * to build, verified (auth/dkim_verify.h) and signed (milter/dkim_sign.h),
 * in whatever build this is (use a Release build for the figures).
 *
 * SYNOPSIS
 *     dkim_worst_bench [-r rounds] [-d datadir] [-h]
 *
 * DESCRIPTION
 *     The messages are those of tests/unit/dkim_worst_fixture.c, which
 *     tests/unit/test_dkim_cpu.c holds to a looser budget under ASan.
 *     Each is built (not timed), then verified once per round with the
 *     key records of datadir/keys.txt (tests/data/dkim) and the
 *     fixture's made-up RSA keys (3072 bits with e = n - 2, refused;
 *     DKIM_RSA_BITS_MAX bits with e = 2^32 - 1, the dearest taken)
 *     served without DNS; the results must be those the fixture expects,
 *     so a verifier that skips its work cannot look fast. Then messages of 20,000 and
 *     40,000 To: fields, a Cc: after each, are signed with
 *     datadir/keys/rsa2048.key.
 *
 *     User CPU time (getrusage), from dkimv_begin() to dkimv_end() (every
 *     header field and 64 KB body chunk fed as a milter does) and from
 *     dkims_begin() to dkims_end(). Output: per message the median and
 *     the largest CPU milliseconds over the rounds, and "ok" or "OVER"
 *     against the 50 ms target.
 *
 * DIAGNOSTICS
 *     Exit 1 if a result is not the expected one or a case is over 50 ms
 *     (median), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#include "dkim_worst_fixture.h"

#define TARGET_MS  50.0
#define ROUNDS_MAX 101

/* cmp_double - qsort order of doubles */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* report - median and largest of n figures against the target; true if within it */
static bool report(const char *what, double *ms, int n)
{
    double med;

    qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
    med = ms[n / 2];
    printf("%-84s median %7.1f ms  max %7.1f ms  %s\n", what, med, ms[n - 1],
           med <= TARGET_MS ? "ok" : "OVER");
    return med <= TARGET_MS;
}

int main(int argc, char **argv)
{
    const char *dir = "tests/data/dkim";
    int rounds = 5, opt, rc = 0;
    double ms[ROUNDS_MAX];
    char *keys, *pem;

    while ((opt = getopt(argc, argv, "r:d:h")) != -1) {
        switch (opt) {
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: dkim_worst_bench [-r rounds (1..%d)] [-d tests/data/dkim]\n",
                    ROUNDS_MAX);
            return 2;
        }
    }
    if (rounds < 1 || rounds > ROUNDS_MAX) {
        fprintf(stderr, "dkim_worst_bench: -r must be 1..%d\n", ROUNDS_MAX);
        return 2;
    }
    keys = xasprintf("%s/keys.txt", dir);
    pem = xasprintf("%s/keys/rsa2048.key", dir);
    for (size_t i = 0; i < dkim_worst_ncases; i++) {
        const struct dkim_worst_case *c = &dkim_worst_cases[i];

        for (int r = 0; r < rounds; r++) {
            char *got;

            ms[r] = dkim_worst_verify(c, keys, &got);
            if (strcmp(got, c->want) != 0) {
                fprintf(stderr, "dkim_worst_bench: %s: got \"%s\", want \"%s\"\n", c->name, got,
                        c->want);
                free(got);
                return 1;
            }
            free(got);
        }
        if (!report(c->name, ms, rounds))
            rc = 1;
    }
    for (size_t nto = 20000; nto <= 40000; nto += 20000) {
        char what[64];

        for (int r = 0; r < rounds; r++) {
            size_t names = 0;

            ms[r] = dkim_worst_sign(nto, pem, &names);
            if (names != 2 * nto + 3) {
                fprintf(stderr, "dkim_worst_bench: signing %zu To: gave %zu h= names\n", nto,
                        names);
                return 1;
            }
        }
        snprintf(what, sizeof(what), "sign: %zu To: and %zu Cc: fields", nto, nto);
        if (!report(what, ms, rounds))
            rc = 1;
    }
    free(keys);
    free(pem);
    return rc;
}
