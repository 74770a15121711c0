/*
 * output.h - rows printed as an aligned table, CSV (RFC 4180), JSON (an
 * array of objects) or NDJSON (one object per line).
 *
 * Every report goes through this one writer so the formats never
 * disagree. Data goes to the stream given; messages never do. Rows are
 * written in blocks (CSV and JSON; each row at once to a terminal), the
 * table at out_end(): between out_new() and out_end() nothing else
 * writes to the stream. The table
 * fits the width of the terminal: COLUMNS if it is set to a number, else
 * the terminal's width (TIOCGWINSZ) when the stream is one, else no
 * limit (a pipe or a file gets whole lines); the columns meant for the
 * table are shown and, when they do not fit, the widest text columns are
 * cut with "\u2026" (not below 10 columns), then columns are left out
 * from the right (never the first), then text is cut further (not below
 * 6). out_set_wide() shows every column and cuts none. The
 * table's header is bold only when the stream is a terminal and NO_COLOR
 * is unset or empty (no-color.org); CSV and JSON never carry colour.
 * Times (OUT_TIME) are shown as timearg_format() writes them: the table
 * "2026-12-07 16:02:11 +0100", the other formats RFC 3339.
 *
 * JSON strings are always valid UTF-8 (bad bytes become U+FFFD) and
 * control characters are escaped. The table and CSV replace control
 * characters (C0, DEL, C1) with '?' and bytes that are not UTF-8 with
 * U+FFFD, so a hostile header can drive neither a terminal nor a
 * spreadsheet; a CSV text cell that starts with = + - or @ is written as
 * "'..." so a spreadsheet shows it as text, never runs it as a formula.
 */
#ifndef POSTMETER_CLI_OUTPUT_H
#define POSTMETER_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum out_format { OUT_TABLE, OUT_CSV, OUT_JSON, OUT_NDJSON };
enum out_type { OUT_STR, OUT_INT, OUT_LIST, OUT_TIME };

struct out_col {
    const char *name;
    enum out_type type;
    bool in_table; /* shown in the table (--wide, CSV and JSON show all) */
};

struct out_val {
    const char *s;     /* OUT_STR; NULL = null / empty */
    int64_t i;         /* OUT_INT; OUT_TIME: seconds since the epoch, 0 = null / empty */
    char *const *list; /* OUT_LIST */
    size_t n;          /* OUT_LIST length */
};

struct out;

/* out_parse_format - "table", "csv", "json" or "ndjson"; false if none of them */
bool out_parse_format(const char *s, enum out_format *f);
/* out_new - start output of rows with cols[0..ncols) to fp */
struct out *out_new(enum out_format f, const struct out_col *cols, size_t ncols, FILE *fp);
/* out_set_wide - the table shows every column and cuts none */
void out_set_wide(struct out *o, bool wide);
/* out_row - one row; vals[i] matches cols[i] */
void out_row(struct out *o, const struct out_val *vals);
/* out_end - finish (the table is printed here) and free; returns NULL */
struct out *out_end(struct out *o);

#define OUT_I64_LEN 21 /* "-9223372036854775808" and its NUL */
/* out_i64 - v in decimal (as "%" PRId64) into out[OUT_I64_LEN], NUL-ended; its length */
size_t out_i64(int64_t v, char *out);

struct buf;
/* out_json_str - append s as a JSON string literal to b (null for NULL), as the JSON rows */
void out_json_str(struct buf *b, const char *s);
/* out_text - append s to b cleaned for a terminal, as the table's cells */
void out_text(struct buf *b, const char *s);

#endif
