/*
 * report_num.c - report_fmt_rate() and report_fmt_duration() without
 * printf where integers give the same bytes (report_num.h).
 *
 * printf("%.1f", x) rounds the double x to the nearest tenth, a tie to
 * the even tenth. Both doubles here are a quotient a / d of integers
 * computed by one correctly rounded division (100.0 * num exact), so x
 * is within 2^-53 * x of the rational a / d; a rational that is not a
 * tie is at least 1 / (20 d) away from the nearest halfway point, more
 * than that error while 20 * d * x < 2^53 (a rate: 2000 * num; a
 * duration: 20 * s; both far below it under EXACT_MAX), so x rounds as
 * the rational does. A rational tie (the double may sit on either side
 * of it, or on it) goes to printf. tests/unit/test_report_num.c compares
 * whole ranges of values with the printf versions.
 */
#include <stdbool.h>
#include <stddef.h>

#include "report_html.h"
#include "report_num.h"

#define EXACT_MAX (1LL << 40) /* integer paths only below this */

/* tenths - the value q tenths ("12.5") followed by unit into out; out */
static const char *tenths(long long q, const char *unit, char *out)
{
    char tmp[24];
    size_t n = 0, len = 0;

    tmp[n++] = (char)('0' + q % 10);
    tmp[n++] = '.';
    q /= 10;
    do {
        tmp[n++] = (char)('0' + q % 10);
        q /= 10;
    } while (q);
    while (n)
        out[len++] = tmp[--n];
    while (*unit)
        out[len++] = *unit++;
    out[len] = '\0';
    return out;
}

/* whole - n followed by unit into out; out */
static const char *whole(long long n, const char *unit, char *out)
{
    char tmp[24];
    size_t k = 0, len = 0;

    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (k)
        out[len++] = tmp[--k];
    while (*unit)
        out[len++] = *unit++;
    out[len] = '\0';
    return out;
}

/* round_tenths - num / den (num >= 0, den > 0; num in tenths of the unit) rounded to the
 * nearest integer, in *q; false for a tie (halfway between two tenths: printf decides) */
static bool round_tenths(long long num, long long den, long long *q)
{
    long long r = num % den;

    *q = num / den;
    if (r == den - r)
        return false;
    *q += r > den - r;
    return true;
}

/* report_num_rate - num / den in percent with one decimal, as report_fmt_rate */
const char *report_num_rate(long long num, long long den, char *out)
{
    long long q;

    /* up to 100% (at most "100.0%", well inside out[16]) */
    if (den <= 0 || num < 0 || num > den || den >= EXACT_MAX || !round_tenths(num * 1000, den, &q))
        return report_fmt_rate(num, den, out);
    return tenths(q, "%", out);
}

/* report_num_duration - seconds in the unit that reads best, as report_fmt_duration */
const char *report_num_duration(long long s, char *out)
{
    long long q;

    if (s < 0 || s >= EXACT_MAX)
        return report_fmt_duration(s, out);
    if (s < 120)
        return whole(s, " s", out);
    if (s < 7200)
        return whole(s / 60, " min", out);
    if (s < 172800)
        return round_tenths(s, 360, &q) ? tenths(q, " h", out) : report_fmt_duration(s, out);
    return round_tenths(s, 8640, &q) ? tenths(q, " d", out) : report_fmt_duration(s, out);
}
