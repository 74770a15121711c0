/*
 * output.c - the one row writer behind every report (table, CSV, JSON,
 * NDJSON).
 *
 * The table is buffered to align and fit columns; the others stream.
 * Rows are made in buffers the writer keeps and reuses (no allocation per
 * cell): a table's cells go into one arena, one after another, each
 * followed by a NUL; text goes to the stream in blocks of OUT_FLUSH bytes
 * (every row at once when the stream is a terminal). This path is hot:
 * report opens --by recipient on bench/report.sh's ledger is 300,000 rows.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "buf.h"
#include "output.h"
#include "timearg.h"
#include "util.h"

#define CUT_SOFT  10    /* text columns are cut to this before columns are left out */
#define CUT_MIN   6     /* a cut column keeps at least this many display columns */
#define OUT_FLUSH 65536 /* bytes kept before they are written to the stream */

struct out {
    enum out_format format;
    const struct out_col *cols;
    size_t ncols;
    FILE *fp;
    size_t rows;
    struct buf cells; /* table: the cells' cleaned texts, row by row, each NUL-ended */
    size_t *cellw;    /* table: each column's widest cell, display columns */
    bool plain;       /* table: every cell as many display columns as bytes */
    bool wide;        /* table: every column, none cut */
    bool color;       /* table: bold header */
    size_t width;     /* table: at most this wide (0 = no limit) */
    struct buf ob;    /* text not yet written to fp */
    size_t flush_at;  /* write ob to fp once it holds this much (0: every row) */
    struct buf t;     /* scratch: one cell's text before it is cleaned */
};

/* out_parse_format - "table", "csv", "json" or "ndjson" */
bool out_parse_format(const char *s, enum out_format *f)
{
    static const char *const names[] = {"table", "csv", "json", "ndjson"};

    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *f = (enum out_format)i;
            return true;
        }
    }
    return false;
}

/* json_string - s as a JSON string literal (null for NULL) */
static void json_string(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL) {
        buf_puts(b, "null");
        return;
    }
    buf_putc(b, '"');
    while (*p) {
        const unsigned char *q = p;
        size_t n;

        while (*q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\')
            q++; /* plain ASCII: copied as one run */
        if (q != p) {
            buf_add(b, p, (size_t)(q - p));
            p = q;
            continue;
        }
        n = utf8_seq_len(p);
        if (n == 0) {
            buf_puts(b, "\\ufffd");
            p++;
        } else if (*p == '"' || *p == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, *p++);
        } else if (*p < 0x20 || *p == 0x7f) {
            buf_printf(b, "\\u%04x", *p++);
        } else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
            /* C1 controls (U+0080-U+009F) escaped too: the JSON text
               itself, shown raw on a terminal, carries no CSI */
            buf_printf(b, "\\u%04x", p[1]);
            p += 2;
        } else {
            buf_add(b, p, n);
            p += n;
        }
    }
    buf_putc(b, '"');
}

/* csv_quote - quote the cleaned cell b[start..) for CSV when it needs to be (t is
 * scratch); a cell a spreadsheet would read as a formula (= + - @ first, OWASP's CSV
 * injection list; TAB and CR were already cleaned away) gets a leading ' and quotes */
static void csv_quote(struct buf *b, size_t start, struct buf *t, bool formula_check)
{
    const char *s = buf_cstr(b) + start;
    size_t len = b->len - start, i = 0;
    bool formula = formula_check && len > 0 && strchr("=+-@\t\r", *s) != NULL;

    while (i < len && s[i] != ',' && s[i] != '"' && s[i] != '\r' && s[i] != '\n')
        i++;
    if (!formula && i == len)
        return;
    buf_reset(t);
    buf_add(t, s, len);
    buf_truncate(b, start);
    buf_putc(b, '"');
    if (formula)
        buf_putc(b, '\'');
    for (i = 0; i < len; i++) {
        if (t->data[i] == '"')
            buf_putc(b, '"');
        buf_putc(b, t->data[i]);
    }
    buf_putc(b, '"');
}

/* bidi_len - length of the bidirectional control at p in valid UTF-8 (U+061C, U+200E,
 * U+200F, U+202A..U+202E, U+2066..U+2069), 0 if none: one can reorder the rest of a
 * terminal's line or a spreadsheet's cell, so a stored string could disguise others */
static size_t bidi_len(const unsigned char *p)
{
    if (p[0] == 0xd8 && p[1] == 0x9c)
        return 2;
    if (p[0] != 0xe2)
        return 0;
    if (p[1] == 0x80 && (p[2] == 0x8e || p[2] == 0x8f || (p[2] >= 0xaa && p[2] <= 0xae)))
        return 3;
    if (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
        return 3;
    return 0;
}

/* put_clean - s[0..len) cleaned for a terminal or a spreadsheet (buf_put_clean), and
 * each bidirectional control '?' as well, into b */
static void put_clean(struct buf *b, const char *s, size_t len)
{
    struct buf c = BUF_INIT;
    const unsigned char *p;

    buf_put_clean(&c, s, len);
    p = (const unsigned char *)buf_cstr(&c);
    while (*p) {
        size_t n = bidi_len(p);

        if (n) {
            buf_putc(b, '?');
            p += n;
        } else {
            buf_putc(b, (char)*p++);
        }
    }
    buf_free(&c);
}

/* display_width_n - columns the UTF-8 text s[0..len) takes (one per code point) */
static size_t display_width_n(const char *s, size_t len)
{
    size_t w = 0;

    for (size_t i = 0; i < len; i++)
        w += ((unsigned char)s[i] & 0xc0) != 0x80;
    return w;
}

/* display_width - columns a UTF-8 string takes */
static size_t display_width(const char *s)
{
    return display_width_n(s, strlen(s));
}

/* clean_str - the C string s as put_clean() makes it, into b; true if it was printable
 * ASCII (the usual cell), which is copied as it is: what put_clean() would make of it */
static bool clean_str(struct buf *b, const char *s)
{
    size_t i = 0;

    while ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
        i++;
    if (s[i] != '\0') {
        put_clean(b, s, i + strlen(s + i));
        return false;
    }
    buf_add(b, s, i);
    return true;
}

/* out_i64 - v in decimal into out[OUT_I64_LEN] */
size_t out_i64(int64_t v, char *out)
{
    char tmp[OUT_I64_LEN];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, len = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

/* cell_clean - a value as plain text cleaned for a terminal or a spreadsheet, into b
 * (lists joined with ", "; times as the table or RFC 3339); t is scratch. True if the
 * value was printable ASCII: as many display columns as bytes */
static bool cell_clean(struct buf *b, struct buf *t, const struct out_col *c,
                       const struct out_val *v, bool table)
{
    char when[TIMEARG_LEN], num[OUT_I64_LEN];

    switch (c->type) {
    case OUT_TIME:
        return v->i == 0 || clean_str(b, timearg_format(v->i, timearg_utc(), !table, when));
    case OUT_STR:
        return v->s == NULL || clean_str(b, v->s);
    case OUT_INT:
        buf_add(b, num, out_i64(v->i, num)); /* digits and '-' */
        return true;
    case OUT_LIST:
        buf_reset(t);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                buf_add(t, ", ", 2);
            buf_puts(t, v->list[i]);
        }
        return clean_str(b, buf_cstr(t));
    }
    return true;
}

/* table_width - COLUMNS, else the terminal's width if fp is one, else 0 (no limit) */
static size_t table_width(FILE *fp)
{
    const char *env = getenv("COLUMNS");
    struct winsize ws;
    char *end;

    if (env && *env) {
        unsigned long n = strtoul(env, &end, 10);

        if (*end == '\0' && n > 0 && n < 100000)
            return n;
    }
    if (isatty(fileno(fp)) && ioctl(fileno(fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 0;
}

/* out_new - start output */
struct out *out_new(enum out_format f, const struct out_col *cols, size_t ncols, FILE *fp)
{
    struct out *o = xcalloc(1, sizeof(*o));
    const char *no_color = getenv("NO_COLOR");

    o->format = f;
    o->cols = cols;
    o->ncols = ncols;
    o->fp = fp;
    o->width = table_width(fp);
    o->color = isatty(fileno(fp)) && (no_color == NULL || *no_color == '\0');
    o->flush_at = isatty(fileno(fp)) ? 0 : OUT_FLUSH;
    if (f == OUT_TABLE) {
        o->plain = true;
        o->cellw = xcalloc(ncols ? ncols : 1, sizeof(*o->cellw));
        for (size_t i = 0; i < ncols; i++)
            o->cellw[i] = display_width(cols[i].name);
    }
    if (f == OUT_CSV) {
        for (size_t i = 0; i < ncols; i++)
            fprintf(fp, "%s%s", i ? "," : "", cols[i].name);
        fputs("\r\n", fp); /* RFC 4180, as the rows */
    } else if (f == OUT_JSON) {
        fputc('[', fp);
    }
    return o;
}

/* out_set_wide - every column, none cut */
void out_set_wide(struct out *o, bool wide)
{
    o->wide = wide;
}

/* json_value - value v of column c as JSON */
static void json_value(struct buf *b, const struct out_col *c, const struct out_val *v)
{
    char when[TIMEARG_LEN], num[OUT_I64_LEN];

    switch (c->type) {
    case OUT_STR:
        json_string(b, v->s);
        break;
    case OUT_INT:
        buf_add(b, num, out_i64(v->i, num));
        break;
    case OUT_TIME:
        json_string(b, v->i ? timearg_format(v->i, timearg_utc(), true, when) : NULL);
        break;
    case OUT_LIST:
        buf_putc(b, '[');
        for (size_t j = 0; j < v->n; j++) {
            buf_puts(b, j ? ", " : "");
            json_string(b, v->list[j]);
        }
        buf_putc(b, ']');
        break;
    }
}

/* flush - write what ob holds to the stream */
static void flush(struct out *o)
{
    if (o->ob.len)
        fwrite(o->ob.data, 1, o->ob.len, o->fp);
    buf_reset(&o->ob);
}

/* table_row - a row's cells cleaned into the arena, each column's widest cell noted */
static void table_row(struct out *o, const struct out_val *vals)
{
    for (size_t i = 0; i < o->ncols; i++) {
        size_t start = o->cells.len, w;

        if (cell_clean(&o->cells, &o->t, &o->cols[i], &vals[i], true))
            w = o->cells.len - start;
        else
            w = display_width_n(o->cells.data + start, o->cells.len - start);
        o->plain = o->plain && w == o->cells.len - start;
        if (w > o->cellw[i])
            o->cellw[i] = w;
        buf_putc(&o->cells, '\0'); /* the cell's end: no cell holds a NUL */
    }
}

/* out_row - one row */
void out_row(struct out *o, const struct out_val *vals)
{
    struct buf *b = &o->ob;
    size_t start;

    switch (o->format) {
    case OUT_JSON:
    case OUT_NDJSON:
        if (o->format == OUT_JSON)
            buf_puts(b, o->rows ? ",\n  {" : "\n  {");
        else
            buf_putc(b, '{');
        for (size_t i = 0; i < o->ncols; i++) {
            if (i)
                buf_add(b, ", ", 2);
            buf_putc(b, '"');
            buf_puts(b, o->cols[i].name);
            buf_add(b, "\": ", 3);
            json_value(b, &o->cols[i], &vals[i]);
        }
        buf_puts(b, o->format == OUT_JSON ? "}" : "}\n");
        break;
    case OUT_CSV:
        for (size_t i = 0; i < o->ncols; i++) {
            if (i)
                buf_putc(b, ',');
            start = b->len;
            cell_clean(b, &o->t, &o->cols[i], &vals[i], false);
            csv_quote(b, start, &o->t, o->cols[i].type != OUT_INT && o->cols[i].type != OUT_TIME);
        }
        buf_puts(b, "\r\n");
        break;
    case OUT_TABLE:
        table_row(o, vals);
        break;
    }
    o->rows++;
    if (b->len > o->flush_at)
        flush(o);
}

/* shown - is column i in the table? */
static bool shown(const struct out *o, const bool *dropped, size_t i)
{
    return (o->wide || o->cols[i].in_table) && !dropped[i];
}

/* cut_to - cut the widest shown text columns down to min while total > o->width */
static void cut_to(const struct out *o, const bool *dropped, size_t *width, size_t *total,
                   size_t min)
{
    while (*total > o->width) {
        size_t widest = o->ncols;

        for (size_t i = 0; i < o->ncols; i++)
            if (shown(o, dropped, i) &&
                (o->cols[i].type == OUT_STR || o->cols[i].type == OUT_LIST) && width[i] > min &&
                (widest == o->ncols || width[i] > width[widest]))
                widest = i;
        if (widest == o->ncols)
            return;
        width[widest]--;
        (*total)--;
    }
}

/*
 * fit - make the table fit o->width: cut the widest text columns down to
 * CUT_SOFT, then leave out columns from the right (never the first), then
 * cut down to CUT_MIN; if it still does not fit, the lines run over
 */
static void fit(const struct out *o, size_t *width, bool *dropped)
{
    size_t total = 0, n = 0;

    for (size_t i = 0; i < o->ncols; i++)
        if (shown(o, dropped, i)) {
            total += width[i];
            n++;
        }
    total += n ? 2 * (n - 1) : 0;
    if (o->wide || o->width == 0)
        return;
    cut_to(o, dropped, width, &total, CUT_SOFT);
    for (size_t i = o->ncols; total > o->width && n > 1 && i-- > 0;) {
        if (!shown(o, dropped, i))
            continue;
        dropped[i] = true;
        total -= width[i] + 2;
        n--;
    }
    cut_to(o, dropped, width, &total, CUT_MIN);
}

/* put_cell - s[0..len) (have display columns) in w display columns (cut with an ellipsis
 * if longer), padded unless last */
static void put_cell(struct buf *line, const char *s, size_t len, size_t have, size_t w, bool last,
                     bool bold)
{
    size_t used = 0;

    if (bold)
        buf_puts(line, "\033[1m");
    if (have <= w) {
        buf_add(line, s, len);
        used = have;
    } else {
        const char *p = s;

        while (*p && used + 1 < w) {
            const char *q = p + 1;

            while ((*q & 0xc0) == 0x80)
                q++;
            buf_add(line, p, (size_t)(q - p));
            p = q;
            used++;
        }
        buf_puts(line, "\u2026");
        used++;
    }
    if (bold)
        buf_puts(line, "\033[0m");
    if (!last && used < w + 2) {
        buf_reserve(line, w + 2 - used);
        memset(line->data + line->len, ' ', w + 2 - used);
        line->len += w + 2 - used;
        line->data[line->len] = '\0';
    }
}

/* end_line - the line begun at start of o->ob ends: no trailing blanks (an empty last
 * cell), a newline; written out when enough is kept */
static void end_line(struct out *o, size_t start)
{
    size_t n = o->ob.len;

    while (n > start && o->ob.data[n - 1] == ' ')
        n--;
    buf_truncate(&o->ob, n);
    buf_putc(&o->ob, '\n');
    if (o->ob.len > o->flush_at)
        flush(o);
}

/* print_table - aligned columns with a header line, fitted to the width */
static void print_table(struct out *o)
{
    size_t *width = xcalloc(o->ncols, sizeof(*width));
    bool *dropped = xcalloc(o->ncols, sizeof(*dropped));
    const char *p = buf_cstr(&o->cells);
    size_t last = 0, start;

    memcpy(width, o->cellw, o->ncols * sizeof(*width));
    fit(o, width, dropped);
    for (size_t i = 0; i < o->ncols; i++)
        if (shown(o, dropped, i))
            last = i;
    start = o->ob.len;
    for (size_t i = 0; i < o->ncols; i++)
        if (shown(o, dropped, i))
            put_cell(&o->ob, o->cols[i].name, strlen(o->cols[i].name),
                     display_width(o->cols[i].name), width[i], i == last, o->color);
    end_line(o, start);
    for (size_t r = 0; r < o->rows; r++) {
        start = o->ob.len;
        for (size_t i = 0; i < o->ncols; i++) {
            size_t len = strlen(p);

            if (shown(o, dropped, i))
                put_cell(&o->ob, p, len, o->plain ? len : display_width_n(p, len), width[i],
                         i == last, false);
            p += len + 1;
        }
        end_line(o, start);
    }
    free(width);
    free(dropped);
}

/* out_end - finish and free */
struct out *out_end(struct out *o)
{
    if (o->format == OUT_JSON)
        buf_puts(&o->ob, o->rows ? "\n]\n" : "]\n");
    else if (o->format == OUT_TABLE)
        print_table(o);
    flush(o);
    buf_free(&o->ob);
    buf_free(&o->t);
    buf_free(&o->cells);
    free(o->cellw);
    return xfree(o);
}

/* out_json_str - s as a JSON string literal */
void out_json_str(struct buf *b, const char *s)
{
    json_string(b, s);
}

/* out_text - s cleaned for a terminal (no control, no bidirectional control) */
void out_text(struct buf *b, const char *s)
{
    put_clean(b, s, strlen(s));
}
