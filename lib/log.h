/*
 * log.h - the only ways postmeter complains or reports.
 *
 * A daemon logs to syslog (facility mail); in the foreground (-f) and in
 * command line tools, to stderr. die() is for configuration and start-up
 * errors (clear message, exit 1); warn() for recoverable trouble; bug()
 * for broken invariants (abort, core). Never log secrets (keys, tokens)
 * or message content that the feature does not need.
 */
#ifndef POSTMETER_LOG_H
#define POSTMETER_LOG_H

#include <stdbool.h>

enum log_dest { LOG_TO_STDERR, LOG_TO_SYSLOG };

/* log_open - set the program name and destination; safe to call again */
void log_open(const char *ident, enum log_dest dest);
/* log_current - the program name and destination log_open() set */
void log_current(const char **ident, enum log_dest *dest);
/* log_set_debug - enable or disable debug() output */
void log_set_debug(bool on);
/* log_debug_enabled - true if debug() lines are printed */
bool log_debug_enabled(void);

void debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die - log at error level and exit(1) */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* bug - log "BUG: ..." at critical level and abort() */
void bug(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
