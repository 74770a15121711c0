/*
 * output.c - the one row writer behind every report (table, CSV, JSON,
 * NDJSON).
 *
 * The table is buffered to align and fit columns; the others stream.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "buf.h"
#include "output.h"
#include "timearg.h"
#include "util.h"

#define CUT_SOFT 10 /* text columns are cut to this before columns are left out */
#define CUT_MIN  6  /* a cut column keeps at least this many display columns */

struct out {
    enum out_format format;
    const struct out_col *cols;
    size_t ncols;
    FILE *fp;
    size_t rows;
    char **cells; /* table: rows * ncols cell texts */
    bool wide;    /* table: every column, none cut */
    bool color;   /* table: bold header */
    size_t width; /* table: at most this wide (0 = no limit) */
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
        size_t n = utf8_seq_len(p);

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

/* csv_field - a cleaned cell s quoted for CSV when it needs to be; a cell a
 * spreadsheet would read as a formula (= + - @ first, OWASP's CSV injection
 * list; TAB and CR were already cleaned away) gets a leading ' and quotes */
static void csv_field(struct buf *b, const char *s, bool formula_check)
{
    bool formula = formula_check && *s != '\0' && strchr("=+-@\t\r", *s) != NULL;

    if (!formula && strpbrk(s, ",\"\r\n") == NULL) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    if (formula)
        buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
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

/* cell_text - a value as plain text (lists joined with ", "; times as the table or RFC 3339) */
static void cell_text(struct buf *b, const struct out_col *c, const struct out_val *v, bool table)
{
    char when[TIMEARG_LEN];

    switch (c->type) {
    case OUT_TIME:
        if (v->i)
            buf_puts(b, timearg_format(v->i, timearg_utc(), !table, when));
        break;
    case OUT_STR:
        buf_puts(b, v->s ? v->s : "");
        break;
    case OUT_INT:
        buf_printf(b, "%" PRId64, v->i);
        break;
    case OUT_LIST:
        for (size_t i = 0; i < v->n; i++)
            buf_printf(b, "%s%s", i ? ", " : "", v->list[i]);
        break;
    }
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
    char when[TIMEARG_LEN];

    switch (c->type) {
    case OUT_STR:
        json_string(b, v->s);
        break;
    case OUT_INT:
        buf_printf(b, "%" PRId64, v->i);
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

/* out_row - one row */
void out_row(struct out *o, const struct out_val *vals)
{
    struct buf b = BUF_INIT, t = BUF_INIT, c = BUF_INIT;

    switch (o->format) {
    case OUT_JSON:
    case OUT_NDJSON:
        if (o->format == OUT_JSON)
            buf_puts(&b, o->rows ? ",\n  {" : "\n  {");
        else
            buf_putc(&b, '{');
        for (size_t i = 0; i < o->ncols; i++) {
            buf_printf(&b, "%s\"%s\": ", i ? ", " : "", o->cols[i].name);
            json_value(&b, &o->cols[i], &vals[i]);
        }
        buf_puts(&b, o->format == OUT_JSON ? "}" : "}\n");
        break;
    case OUT_CSV:
        for (size_t i = 0; i < o->ncols; i++) {
            buf_reset(&t);
            buf_reset(&c);
            cell_text(&t, &o->cols[i], &vals[i], false);
            put_clean(&c, buf_cstr(&t), t.len);
            if (i)
                buf_putc(&b, ',');
            csv_field(&b, buf_cstr(&c), o->cols[i].type != OUT_INT && o->cols[i].type != OUT_TIME);
        }
        buf_puts(&b, "\r\n");
        break;
    case OUT_TABLE:
        o->cells = xrealloc(o->cells, (o->rows + 1) * o->ncols * sizeof(*o->cells));
        for (size_t i = 0; i < o->ncols; i++) {
            buf_reset(&t);
            buf_reset(&c);
            cell_text(&t, &o->cols[i], &vals[i], true);
            put_clean(&c, buf_cstr(&t), t.len);
            o->cells[o->rows * o->ncols + i] = xstrndup(buf_cstr(&c), c.len);
        }
        break;
    }
    fwrite(buf_cstr(&b), 1, b.len, o->fp);
    o->rows++;
    buf_free(&b);
    buf_free(&t);
    buf_free(&c);
}

/* display_width - columns a UTF-8 string takes (one per code point) */
static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
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

/* put_cell - s in w display columns (cut with an ellipsis if longer), padded unless last */
static void put_cell(struct buf *line, const char *s, size_t w, bool last, bool bold)
{
    size_t have = display_width(s), used = 0;

    if (bold)
        buf_puts(line, "\033[1m");
    if (have <= w) {
        buf_puts(line, s);
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
    while (!last && used++ < w + 2)
        buf_putc(line, ' ');
}

/* print_table - aligned columns with a header line, fitted to the width */
static void print_table(struct out *o)
{
    size_t *width = xcalloc(o->ncols, sizeof(*width));
    bool *dropped = xcalloc(o->ncols, sizeof(*dropped));
    size_t last = 0, n;

    for (size_t i = 0; i < o->ncols; i++) {
        width[i] = display_width(o->cols[i].name);
        for (size_t r = 0; r < o->rows; r++) {
            size_t w = display_width(o->cells[r * o->ncols + i]);

            if (w > width[i])
                width[i] = w;
        }
    }
    fit(o, width, dropped);
    for (size_t i = 0; i < o->ncols; i++)
        if (shown(o, dropped, i))
            last = i;
    for (size_t r = 0; r <= o->rows; r++) {
        struct buf line = BUF_INIT;

        for (size_t i = 0; i < o->ncols; i++) {
            const char *s = r == 0 ? o->cols[i].name : o->cells[(r - 1) * o->ncols + i];

            if (shown(o, dropped, i))
                put_cell(&line, s, width[i], i == last, r == 0 && o->color);
        }
        n = line.len; /* no trailing blanks (an empty last cell) */
        while (n > 0 && buf_cstr(&line)[n - 1] == ' ')
            n--;
        fprintf(o->fp, "%.*s\n", (int)n, buf_cstr(&line));
        buf_free(&line);
    }
    free(width);
    free(dropped);
}

/* out_end - finish and free */
struct out *out_end(struct out *o)
{
    if (o->format == OUT_JSON)
        fputs(o->rows ? "\n]\n" : "]\n", o->fp);
    else if (o->format == OUT_TABLE)
        print_table(o);
    for (size_t i = 0; o->cells && i < o->rows * o->ncols; i++)
        free(o->cells[i]);
    free(o->cells);
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
