/*
 * timearg.c - the one parser for postmeter's time arguments and the one
 * way it shows a time (timearg.h).
 *
 * Local time comes from the C library (localtime_r, mktime, TZ). A local
 * date-time that a DST change skips or repeats is taken as mktime()
 * resolves it. Times outside years 0000..9999 are clamped when shown so
 * the text always fits TIMEARG_LEN. Never accepts trailing junk.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "timearg.h"
#include "util.h"

/* seconds from 1970-01-01 to 0000-01-01 and to 10000-01-01 (proleptic) */
#define TIME_MIN (-62167219200LL)
#define TIME_MAX (253402300799LL)

static bool use_utc;

/* timearg_set_utc - read and show times in UTC from now on */
void timearg_set_utc(bool utc)
{
    use_utc = utc;
}

/* timearg_utc - whether --utc was given */
bool timearg_utc(void)
{
    return use_utc;
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
    static const char units[] = "smhdw";
    static const int64_t secs[] = {1, 60, 3600, 86400, 7 * 86400};
    int64_t n = 0;
    size_t i = 0;
    const char *u;

    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 9)
            return false;
        n = n * 10 + (s[i] - '0');
    }
    if (i == 0 || s[i] == '\0' || s[i + 1] != '\0' || (u = strchr(units, s[i])) == NULL)
        return false;
    /* n < 10^9 and a unit <= 604800: the product fits easily in int64 */
    *out = now - n * secs[u - units];
    return true;
}

/* parse_zone - Z, +hh:mm, -hh:mm, +hhmm, -hhmm -> offset seconds east; *none if "" */
static bool parse_zone(const char *p, int *offset, bool *none)
{
    int sign, hh, mm;

    *offset = 0;
    *none = *p == '\0';
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

/* from_tm - tm as seconds since the epoch: tm read as UTC or as local time */
static int64_t from_tm(struct tm *tm, bool utc)
{
    tm->tm_isdst = -1;
    return (int64_t)(utc ? timegm(tm) : mktime(tm));
}

/* parse_iso - the date and date-time forms; false on any deviation */
static bool parse_iso(const char *p, bool utc, int64_t *out)
{
    int year, mon, day, hour = 0, min = 0, sec = 0, offset = 0;
    bool nozone = true;
    struct tm tm;

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
        if (!parse_zone(p, &offset, &nozone))
            return false;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *out = from_tm(&tm, utc || !nozone) - offset;
    return true;
}

/* day_start - midnight that starts the day days_back days before now's */
static int64_t day_start(int64_t now, int days_back, bool utc)
{
    time_t t = (time_t)now;
    struct tm tm;

    if ((utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) == NULL)
        bug("cannot break down time %lld", (long long)now);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mday -= days_back;
    return from_tm(&tm, utc);
}

/* timearg_parse - s as a time, relative to now; false if invalid */
bool timearg_parse(const char *s, int64_t now, bool utc, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    if (strcmp(s, "now") == 0) {
        *out = now;
        return true;
    }
    if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
        *out = day_start(now, s[0] == 'y', utc);
        return true;
    }
    if (parse_relative(s, now, out))
        return true;
    return parse_iso(s, utc, out);
}

/* timearg_range - since / until as given into the store's range (timearg.h) */
void timearg_range(int64_t *since, bool since_given, int64_t *until, bool until_given)
{
    if (since_given && *since < 0)
        *since = 0;
    if (until_given && *until <= 0)
        *until = 1;
}

/* timearg_format - t as local (or UTC) time with its offset into out[TIMEARG_LEN] */
char *timearg_format(int64_t t, bool utc, bool machine, char *out)
{
    struct tm tm;
    time_t tt;
    long off;
    char sign;
    bool ok;

    t = t < TIME_MIN ? TIME_MIN : t > TIME_MAX ? TIME_MAX : t;
    tt = (time_t)t;
    if ((utc ? gmtime_r(&tt, &tm) : localtime_r(&tt, &tm)) == NULL)
        bug("cannot break down time %lld", (long long)t);
    off = utc ? 0 : tm.tm_gmtoff;
    sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    if (machine && off == 0)
        ok = snprintf_ok(out, TIMEARG_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    else
        ok = snprintf_ok(out, TIMEARG_LEN,
                         machine ? "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld"
                                 : "%04d-%02d-%02d %02d:%02d:%02d %c%02ld%02ld",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, sign, off / 3600, off % 3600 / 60);
    if (!ok)
        bug("timearg_format: %lld does not fit", (long long)t);
    return out;
}
