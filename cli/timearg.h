/*
 * timearg.h - the one parser for the time arguments of postmeter
 * (--since, --until, ...) and the one way it shows a time.
 *
 * Times are int64 seconds since the epoch. Unless utc is asked for
 * (--utc), a date or date-time without a zone, "today" and "yesterday"
 * are read in the local time zone (TZ), and times are shown in it with
 * their offset; with utc, both are UTC.
 */
#ifndef POSTMETER_CLI_TIMEARG_H
#define POSTMETER_CLI_TIMEARG_H

#include <stdbool.h>
#include <stdint.h>

/* "YYYY-MM-DD HH:MM:SS +hhmm" / "YYYY-MM-DDTHH:MM:SS+hh:mm" + NUL, with room */
#define TIMEARG_LEN 32

/* The accepted forms, for error messages (one line) and usage text (wrapped). */
#define TIMEARG_FORMS                                                                              \
    "an ISO date or date-time (2026-12-01, 2026-12-01T10:00, with Z or +01:00), "                  \
    "30m, 24h, 7d, 2w, today, yesterday or now"
#define TIMEARG_FORMS_WRAPPED                                                                      \
    "an ISO date or date-time (2026-12-01, 2026-12-01T10:00, with Z or\n"                          \
    "+01:00), 30m, 24h, 7d, 2w, today, yesterday or now"

/*
 * timearg_parse - s as a time, relative to now; false if it is none of:
 *   now | today | yesterday            (midnight that starts the day)
 *   N s|m|h|d|w                        that long before now (N: 1-9 digits)
 *   YYYY-MM-DD                         midnight
 *   YYYY-MM-DD[T| ]HH:MM[:SS[.frac]][Z|+hh:mm|-hh:mm|+hhmm|-hhmm]
 * Without a zone the time is local (utc: UTC). Every field is range
 * checked; no trailing junk or white space.
 */
bool timearg_parse(const char *s, int64_t now, bool utc, int64_t *out);

/*
 * timearg_format - t into out[TIMEARG_LEN] as "2026-12-07 16:02:11 +0100"
 * (machine: RFC 3339, "2026-12-07T16:02:11+01:00", "Z" for UTC), local
 * unless utc; returns out
 */
char *timearg_format(int64_t t, bool utc, bool machine, char *out);

/*
 * timearg_range - a report's --since / --until as parsed (given: the option
 * was there) made what the store takes, where 0 means "not given" and no
 * time is negative: a since before the epoch becomes 0 (from the first
 * record: no row is older), an until at or before it 1 (no row is that
 * old). Call it after checking until > since on the times as given.
 */
void timearg_range(int64_t *since, bool since_given, int64_t *until, bool until_given);

/* timearg_set_utc - read and show times in UTC from now on (postmeter --utc) */
void timearg_set_utc(bool utc);
/* timearg_utc - whether --utc was given */
bool timearg_utc(void);

#endif
