/*
 * timeutil.c - time stamps as the ledger and the CLI use them.
 *
 * SUMMARY
 *   Times are int64 seconds since the epoch, UTC. time_format_iso()
 *   writes "YYYY-MM-DDTHH:MM:SSZ"; times outside years 0000..9999 are
 *   clamped to the first or last second of that range so the output
 *   always fits TIME_ISO_LEN.
 *
 *   time_parse() accepts, and nothing else:
 *     now
 *     N s|m|h|d|w                      that long before now (N: 1-9 digits)
 *     YYYY-MM-DD                       midnight UTC
 *     YYYY-MM-DD[T| ]HH:MM[:SS[.frac]][Z|+hh:mm|-hh:mm|+hhmm|-hhmm]
 *   "T" and "Z" may be lower case; no zone means UTC; a fraction of a
 *   second is accepted and dropped. Every field is range checked (the day
 *   against the month and leap years); leap seconds (:60) and 24:00 are
 *   rejected.
 *
 * NEVER
 *   Never uses the local time zone (no mktime, no localtime, no TZ), and
 *   never accepts trailing junk or white space.
 */
#include <stdio.h>
#include <string.h>
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

/* digits - read exactly n decimal digits at *p into *v; advances *p */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* days_in_month - 28..31 for month 1..12 of year */
static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/* parse_relative - "N" followed by one unit letter; false if not that shape */
static bool parse_relative(const char *s, int64_t now, int64_t *out)
{
    int64_t n = 0, unit;
    size_t i = 0;

    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 9)
            return false;
        n = n * 10 + (s[i] - '0');
    }
    if (i == 0 || s[i] == '\0' || s[i + 1] != '\0')
        return false;
    switch (s[i]) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return false;
    }
    /* n < 10^9 and unit <= 604800: the product fits easily in int64 */
    *out = now - n * unit;
    return true;
}

/* parse_zone - "", Z, +hh:mm, -hh:mm, +hhmm, -hhmm -> offset seconds east */
static bool parse_zone(const char *p, int *offset)
{
    int sign, hh, mm;

    *offset = 0;
    if (*p == '\0')
        return true;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    if (*p != '+' && *p != '-')
        return false;
    sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &hh))
        return false;
    if (*p == ':')
        p++;
    if (!digits(&p, 2, &mm) || *p != '\0')
        return false;
    if (hh > 23 || mm > 59)
        return false;
    *offset = sign * (hh * 3600 + mm * 60);
    return true;
}

/* parse_iso - the date and date-time forms; false on any deviation */
static bool parse_iso(const char *p, int64_t *out)
{
    int year, mon, day, hour = 0, min = 0, sec = 0, offset = 0;
    struct tm tm;
    time_t t;

    if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon) || *p++ != '-' ||
        !digits(&p, 2, &day))
        return false;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon))
        return false;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return false;
        p++;
        if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min))
            return false;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return false;
            if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                    return false;
                while (*p >= '0' && *p <= '9')
                    p++;
            }
        }
        if (hour > 23 || min > 59 || sec > 59)
            return false;
        if (!parse_zone(p, &offset))
            return false;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    *out = (int64_t)t - offset;
    return true;
}

/* time_parse - parse s (see above) relative to now; false if invalid */
bool time_parse(const char *s, int64_t now, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    if (strcmp(s, "now") == 0) {
        *out = now;
        return true;
    }
    if (parse_relative(s, now, out))
        return true;
    return parse_iso(s, out);
}
