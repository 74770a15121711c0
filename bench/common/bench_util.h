/*
 * bench_util.h - what the bench programs share: medians and number options.
 */
#ifndef POSTMETER_BENCH_UTIL_H
#define POSTMETER_BENCH_UTIL_H

#include <stddef.h>

/* bench_median - the median of v[0..n), n > 0 (v keeps its order) */
double bench_median(const double *v, size_t n);
/* bench_size_arg - s as a number 1..2^32; calls usage(2) (which must not return) if it is not */
size_t bench_size_arg(const char *s, void (*usage)(int status));

#endif
