/*
 * report_html.h - postmeter report summary|opens --format html: one
 * self-contained page (no script, no font, image or link fetched from
 * anywhere) with the numbers of the text report in tables and inline
 * SVG charts: mail per day in and out, authentication pass rates per
 * day, opens per day by class, time to the first human open
 * (report_svg.c draws them).
 *
 * The page is well-formed XML (XHTML syntax in an HTML5 document), so
 * both browsers and XML tools read it. Every string from the database
 * is escaped, with control characters and bytes that are not UTF-8
 * replaced; numbers and times are ours.
 */
#ifndef POSTMETER_CLI_REPORT_HTML_H
#define POSTMETER_CLI_REPORT_HTML_H

#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "store_summary.h"

/* The ledger's health beside the database: the milter's status file and spool. */
struct report_health {
    bool status_file;        /* the milter's status file was read (the counters below) */
    long long spooled;       /* records the writer spooled since the milter started */
    long long dropped;       /* records it dropped (lost) since then */
    long long spool_records; /* records waiting in the spool now; -1 = not counted */
    long long file_bytes;    /* the database and its -wal on disk; -1 = unknown */
};

/* report_html_summary - the summary page of s (and h) to out */
void report_html_summary(const struct store_summary *s, const struct report_health *h, FILE *out);
/*
 * report_html_opens - the opens report page: groups g[0..n) of filter f
 * (their strings must live until the call returns) to out
 */
void report_html_opens(const struct store_opens_group *g, size_t n,
                       const struct store_opens_filter *f, FILE *out);

/* report_html_text - append s to b escaped for HTML text and attributes, cleaned */
void report_html_text(struct buf *b, const char *s);
/* report_fmt_rate - "12.5%" of num / den, "-" without a denominator, into out[16] */
const char *report_fmt_rate(long long num, long long den, char *out);
/* report_fmt_duration - seconds as "45 s", "12 min", "3.5 h", "2.0 d"; "-" if negative */
const char *report_fmt_duration(long long s, char *out);
/* report_fmt_day - the date (YYYY-MM-DD) of a day's start, local unless --utc, into out[16] */
const char *report_fmt_day(long long t, char *out);
/* report_by_name - the word of --by ("message", "sender", ...; "all" for none) */
const char *report_by_name(enum store_opens_by by);

/* The charts (report_svg.c), each one <svg> element appended to b. */
void report_svg_mail(const struct store_summary *s, struct buf *b);
void report_svg_auth(const struct store_summary *s, struct buf *b);
void report_svg_opens(const struct store_summary *s, struct buf *b);
void report_svg_ttfo(const struct store_summary *s, struct buf *b);

#endif
