/*
 * log.c - syslog (facility mail) for daemons, stderr in the foreground.
 *
 * Lines are written whole with one call, so threads do not interleave
 * within a line. Must never be handed secrets or message bodies.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *log_ident = "postmeter";
static enum log_dest log_dest = LOG_TO_STDERR;
static bool log_debug_on;

/* log_open - set the program name and destination */
void log_open(const char *ident, enum log_dest dest)
{
    log_ident = ident;
    log_dest = dest;
    if (dest == LOG_TO_SYSLOG)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_current - what log_open() set (a loaded module logs the same way) */
void log_current(const char **ident, enum log_dest *dest)
{
    *ident = log_ident;
    *dest = log_dest;
}

/* log_set_debug - enable or disable debug() output */
void log_set_debug(bool on)
{
    log_debug_on = on;
}

/* log_debug_enabled - true if debug() lines are printed */
bool log_debug_enabled(void)
{
    return log_debug_on;
}

/* log_line - write one line at a syslog priority */
static void log_line(int prio, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void log_line(int prio, const char *tag, const char *fmt, va_list ap)
{
    char line[2048];
    int n = vsnprintf(line, sizeof(line), fmt, ap);

    if (n < 0)
        strcpy(line, "(unprintable log line)");
    else if ((size_t)n >= sizeof(line))
        memcpy(line + sizeof(line) - 5, "...", 4);
    if (log_dest == LOG_TO_SYSLOG)
        syslog(prio, "%s%s", tag, line);
    else
        fprintf(stderr, "%s: %s%s\n", log_ident, tag, line);
}

/* debug - detail for developers, only with -d / debug = yes */
void debug(const char *fmt, ...)
{
    va_list ap;

    if (!log_debug_on)
        return;
    va_start(ap, fmt);
    log_line(LOG_DEBUG, "debug: ", fmt, ap);
    va_end(ap);
}

/* info - normal operation */
void info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(LOG_INFO, "", fmt, ap);
    va_end(ap);
}

/* warn - recoverable trouble */
void warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(LOG_WARNING, "warning: ", fmt, ap);
    va_end(ap);
}

/* die - fatal configuration or start-up error */
void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(LOG_ERR, "fatal: ", fmt, ap);
    va_end(ap);
    exit(1);
}

/* bug - broken invariant: log and abort for a core */
void bug(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(LOG_CRIT, "BUG: ", fmt, ap);
    va_end(ap);
    abort();
}
