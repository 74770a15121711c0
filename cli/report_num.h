/*
 * report_num.h - the rates and durations of report opens in the same
 * bytes as report_fmt_rate() and report_fmt_duration() (report_html.h),
 * made with integer arithmetic: report opens --by recipient formats
 * 600,000 of them, and printf's "%.1f" was a good part of its time.
 * Where the integers cannot tell how printf rounds (a value exactly
 * halfway between two tenths, or out of the exact range), they call
 * report_fmt_rate() / report_fmt_duration() themselves.
 */
#ifndef POSTMETER_CLI_REPORT_NUM_H
#define POSTMETER_CLI_REPORT_NUM_H

/* report_num_rate - report_fmt_rate(num, den, out): "12.5%", "-" without a denominator */
const char *report_num_rate(long long num, long long den, char *out);
/* report_num_duration - report_fmt_duration(s, out): "45 s", "12 min", "3.5 h", "2.0 d", "-" */
const char *report_num_duration(long long s, char *out);

#endif
