/*
 * fuzz_from_domain.c - libFuzzer target for the strict RFC5322.From
 * reading DMARC relies on (auth/from_domain.h): from_domain_analyze()
 * over one to three From field bodies, then orgdomain_get() of each
 * candidate.
 *
 * Input: the field bodies separated by NUL bytes (an empty input is "no
 * From field"; at most three fields, the rest is ignored).
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - at most FROM_DOMAIN_MAX candidates, each a distinct normalised name:
 *     1..253 octets of lower-case letters, digits, '-', '_' and '.', labels
 *     of 1..63 octets, no empty label, no trailing dot;
 *   - the flags agree with the answer: ABSENT iff no field, FIELDS iff
 *     several, MULTI when there are several candidates, TOO_MANY implies
 *     MULTI; no unknown flag; from_domain_problem() names every set but
 *     GROUP alone; from_domain_clean() is "candidates and no bad flag";
 *     a bad analysis (FROM_DOMAIN_BAD) names its problem;
 *   - each candidate has an Organizational Domain that is a suffix of it
 *     on a label boundary, and aligns with it under relaxed rules;
 *   - another From field never takes anything away: the answer for the
 *     fields without the last one has no flag and (unless the full answer
 *     is TOO_MANY) no candidate that the full answer lacks;
 *   - the analysis stays within a CPU budget linear in the input's size
 *     (CPU_BASE_MS, CPU_PER_KB_MS): a quadratic path over a 64 KiB field
 *     (the seed big-64k: '@'s, comments, encoded-words) fails.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "from_domain.h"
#include "orgdomain.h"
#include "reader.h"

#define ALL_FLAGS                                                                                  \
    (FROM_DOMAIN_ABSENT | FROM_DOMAIN_FIELDS | FROM_DOMAIN_SYNTAX | FROM_DOMAIN_MULTI |            \
     FROM_DOMAIN_GROUP | FROM_DOMAIN_QUOTED | FROM_DOMAIN_INVALID | FROM_DOMAIN_EMPTY |            \
     FROM_DOMAIN_TOO_MANY | FROM_DOMAIN_ENCODED | FROM_DOMAIN_CUT | FROM_DOMAIN_BIDI)

/*
 * The CPU budget of one input (STYLE habit 15), both analyses (all the
 * fields, and all but the last) together: CPU_BASE_MS + CPU_PER_KB_MS
 * per KB of input. The analysis is a few linear passes per field (each
 * '@' costs a name normalisation); here (ASan, UBSan, coverage) the
 * 64 KiB seed big-64k, 6,600 '@'s read in four views, takes under a
 * fifth of its budget (0.18 of 1 s); one pass made quadratic (each '@'
 * rescanning the rest of the field) takes 6 s and fails here.
 */
#define CPU_BASE_MS   250.0
#define CPU_PER_KB_MS 12.0

/* check_name - a normalised domain name as from_domain.h promises */
static void check_name(const char *d)
{
    size_t len = strnlen(d, ORGDOMAIN_LEN), label = 0;

    fuzz_check(len > 0 && len < ORGDOMAIN_LEN);
    fuzz_check(d[0] != '.' && d[len - 1] != '.');
    for (size_t i = 0; i < len; i++) {
        char c = d[i];

        if (c == '.') {
            fuzz_check(label > 0);
            label = 0;
            continue;
        }
        fuzz_check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
        fuzz_check(++label <= 63);
    }
}

/* check_org - the Organizational Domain of a candidate */
static void check_org(const char *d)
{
    char org[ORGDOMAIN_LEN];
    size_t dl = strlen(d), ol;

    if (!orgdomain_get(d, org)) {
        fuzz_check(org[0] == '\0');
        return;
    }
    ol = strlen(org);
    fuzz_check(ol > 0 && ol <= dl && strcmp(d + dl - ol, org) == 0);
    fuzz_check(ol == dl || d[dl - ol - 1] == '.');
    fuzz_check(orgdomain_aligned(d, org, false));
    fuzz_check(orgdomain_aligned(d, d, true));
}

/* check_monotone - the answer for values[0..n - 1) is contained in fd's for n values */
static void check_monotone(char *const *values, size_t n, const struct from_domains *fd)
{
    struct from_domains fewer;

    from_domain_analyze((const char *const *)values, n - 1, &fewer);
    fuzz_check((fewer.flags & ~FROM_DOMAIN_ABSENT & ~fd->flags) == 0);
    if (fd->flags & FROM_DOMAIN_TOO_MANY)
        return;
    for (size_t i = 0; i < fewer.n; i++) {
        bool found = false;

        for (size_t j = 0; j < fd->n && !found; j++)
            found = strcmp(fewer.domain[i], fd->domain[j]) == 0;
        fuzz_check(found);
    }
}

/* cpu_ms - this process's CPU time in milliseconds */
static double cpu_ms(void)
{
    struct timespec ts;

    fuzz_check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* LLVMFuzzerTestOneInput - up to three NUL-separated From field bodies */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = reader_init(data, size);
    char *values[3];
    size_t nvalues = 0;
    struct from_domains fd;
    double c0 = cpu_ms();

    while (nvalues < 3 && (nvalues == 0 ? size > 0 : !reader_done(&rd)))
        values[nvalues++] = reader_str(&rd);
    from_domain_analyze((const char *const *)values, nvalues, &fd);

    fuzz_check(fd.nfields == nvalues);
    fuzz_check((fd.flags & ~ALL_FLAGS) == 0);
    fuzz_check(((fd.flags & FROM_DOMAIN_ABSENT) != 0) == (nvalues == 0));
    fuzz_check(((fd.flags & FROM_DOMAIN_FIELDS) != 0) == (nvalues > 1));
    fuzz_check(fd.n <= FROM_DOMAIN_MAX);
    fuzz_check(fd.n < 2 || (fd.flags & FROM_DOMAIN_MULTI));
    fuzz_check(!(fd.flags & FROM_DOMAIN_TOO_MANY) || (fd.flags & FROM_DOMAIN_MULTI));
    /* GROUP alone is no problem: lawful RFC 6854 syntax */
    fuzz_check(((fd.flags & ~FROM_DOMAIN_GROUP) == 0) == (from_domain_problem(fd.flags) == NULL));
    fuzz_check(from_domain_clean(&fd, FROM_DOMAIN_BAD) ==
               (fd.n > 0 && !(fd.flags & FROM_DOMAIN_BAD)));
    fuzz_check(fd.n > 0 || !from_domain_clean(&fd, FROM_DOMAIN_BAD));
    fuzz_check(!(fd.flags & FROM_DOMAIN_BAD) || from_domain_problem(fd.flags & FROM_DOMAIN_BAD));
    for (size_t i = 0; i < fd.n; i++) {
        check_name(fd.domain[i]);
        for (size_t j = 0; j < i; j++)
            fuzz_check(strcmp(fd.domain[i], fd.domain[j]) != 0);
        check_org(fd.domain[i]);
    }
    if (nvalues > 0)
        check_monotone(values, nvalues, &fd);
    fuzz_check(cpu_ms() - c0 <= CPU_BASE_MS + CPU_PER_KB_MS * (double)size / 1024);
    for (size_t i = 0; i < nvalues; i++)
        free(values[i]);
    return 0;
}
