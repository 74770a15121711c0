/*
 * bench_util.c - medians and number options for the bench programs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "util.h"

/* cmp_double - qsort order of double */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* bench_median - on a copy, so v keeps its order */
double bench_median(const double *v, size_t n)
{
    double *s = xmalloc(n * sizeof(*s)), m;

    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_double);
    m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

/* bench_size_arg - a positive number or usage(2) */
size_t bench_size_arg(const char *s, void (*usage)(int status))
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > (1ull << 32))
        usage(2);
    return (size_t)v;
}
