/*
 * timeutil.h - time stamps as the ledger and the CLI use them.
 *
 * Times are int64 seconds since the epoch, UTC. Output is ISO 8601 UTC
 * ("2026-11-24T13:05:00Z"). Input for --since/--until accepts ISO 8601
 * dates and date-times (with Z or +hh:mm, or none = UTC), "now", and
 * relative spans "30m", "12h", "7d", "2w" meaning that long before now.
 */
#ifndef POSTMETER_TIMEUTIL_H
#define POSTMETER_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

#define TIME_ISO_LEN 21 /* "YYYY-MM-DDTHH:MM:SSZ" + NUL */

/* time_now - current time, seconds since the epoch */
int64_t time_now(void);
/* time_now_us - current time in microseconds since the epoch */
int64_t time_now_us(void);
/* time_format_iso - write t as ISO 8601 UTC into out[TIME_ISO_LEN]; returns out */
char *time_format_iso(int64_t t, char *out);
/* time_parse - parse s (see above) relative to now; false if invalid */
bool time_parse(const char *s, int64_t now, int64_t *out);

#endif
