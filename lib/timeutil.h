/*
 * timeutil.h - time stamps as the ledger and the CLI use them.
 *
 * Times are int64 seconds since the epoch, UTC. Output is ISO 8601 UTC
 * ("2026-11-24T13:05:00Z"). The CLI's time arguments and its local
 * times are cli/timearg.h's.
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

#endif
