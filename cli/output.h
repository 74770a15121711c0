/*
 * output.h - rows printed as an aligned table, CSV (RFC 4180) or JSON.
 *
 * Every report goes through this one writer so the three formats never
 * disagree. JSON strings are always valid UTF-8 (bad bytes become U+FFFD)
 * and control characters are escaped. The table and CSV replace control
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

enum out_format { OUT_TABLE, OUT_CSV, OUT_JSON };
enum out_type { OUT_STR, OUT_INT, OUT_LIST };

struct out_col {
    const char *name;
    enum out_type type;
    bool in_table; /* shown in the table format (JSON and CSV show all) */
};

struct out_val {
    const char *s;     /* OUT_STR; NULL = null / empty */
    int64_t i;         /* OUT_INT */
    char *const *list; /* OUT_LIST */
    size_t n;          /* OUT_LIST length */
};

struct out;

/* out_parse_format - "table", "csv" or "json"; false if none of them */
bool out_parse_format(const char *s, enum out_format *f);
/* out_new - start output of rows with cols[0..ncols) to fp */
struct out *out_new(enum out_format f, const struct out_col *cols, size_t ncols, FILE *fp);
/* out_row - one row; vals[i] matches cols[i] */
void out_row(struct out *o, const struct out_val *vals);
/* out_end - finish (the table is printed here) and free; returns NULL */
struct out *out_end(struct out *o);

struct buf;
/* out_json_str - append s as a JSON string literal to b (null for NULL), as the JSON rows */
void out_json_str(struct buf *b, const char *s);
/* out_text - append s to b cleaned for a terminal, as the table's cells */
void out_text(struct buf *b, const char *s);

#endif
