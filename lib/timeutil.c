/*
 * timeutil.c - time stamps as the ledger and the CLI use them.
 *
 * SUMMARY
 *   Times are int64 seconds since the epoch, UTC. time_format_iso()
 *   writes "YYYY-MM-DDTHH:MM:SSZ"; times outside years 0000..9999 are
 *   clamped to the first or last second of that range so the output
 *   always fits TIME_ISO_LEN.
 *
 *   Time arguments of the CLI (--since, ...) are read, and shown in
 *   local time, by cli/timearg.c: the one parser for them.
 *
 * NEVER
 *   Never uses the local time zone (no mktime, no localtime, no TZ).
 */
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "timeutil.h"
#include "util.h"

/* seconds from 1970-01-01 to 0000-01-01 and to 10000-01-01 (proleptic) */
#define TIME_MIN (-62167219200LL)
#define TIME_MAX (253402300799LL)

/* time_now - current time, seconds since the epoch */
int64_t time_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        bug("clock_gettime(CLOCK_REALTIME) failed");
    return (int64_t)ts.tv_sec;
}

/* time_now_us - current time in microseconds since the epoch */
int64_t time_now_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        bug("clock_gettime(CLOCK_REALTIME) failed");
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* time_format_iso - write t as ISO 8601 UTC into out[TIME_ISO_LEN]; returns out */
char *time_format_iso(int64_t t, char *out)
{
    struct tm tm;
    time_t tt;

    if (t < TIME_MIN)
        t = TIME_MIN;
    if (t > TIME_MAX)
        t = TIME_MAX;
    tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL)
        bug("gmtime_r(%lld) failed", (long long)t);
    if (!snprintf_ok(out, TIME_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec))
        bug("time_format_iso: %lld does not fit", (long long)t);
    return out;
}
