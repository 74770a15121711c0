/*
 * output.c - the one row writer behind every report (table, CSV, JSON).
 *
 * The table is buffered to align columns; CSV and JSON stream.
 */
#include <inttypes.h>
#include <string.h>

#include "buf.h"
#include "output.h"
#include "util.h"

struct out {
    enum out_format format;
    const struct out_col *cols;
    size_t ncols;
    FILE *fp;
    size_t rows;
    char **cells; /* table: rows * ncols cell texts */
};

/* out_parse_format - "table", "csv" or "json" */
bool out_parse_format(const char *s, enum out_format *f)
{
    static const char *const names[] = {"table", "csv", "json"};

    for (int i = 0; i < 3; i++) {
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

/* cell_text - a value as plain text (lists joined with ", ") */
static void cell_text(struct buf *b, const struct out_col *c, const struct out_val *v)
{
    switch (c->type) {
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

/* out_new - start output */
struct out *out_new(enum out_format f, const struct out_col *cols, size_t ncols, FILE *fp)
{
    struct out *o = xcalloc(1, sizeof(*o));

    o->format = f;
    o->cols = cols;
    o->ncols = ncols;
    o->fp = fp;
    if (f == OUT_CSV) {
        for (size_t i = 0; i < ncols; i++)
            fprintf(fp, "%s%s", i ? "," : "", cols[i].name);
        fputc('\n', fp);
    } else if (f == OUT_JSON) {
        fputc('[', fp);
    }
    return o;
}

/* out_row - one row */
void out_row(struct out *o, const struct out_val *vals)
{
    struct buf b = BUF_INIT, t = BUF_INIT, c = BUF_INIT;

    switch (o->format) {
    case OUT_JSON:
        buf_puts(&b, o->rows ? ",\n  {" : "\n  {");
        for (size_t i = 0; i < o->ncols; i++) {
            buf_printf(&b, "%s\"%s\": ", i ? ", " : "", o->cols[i].name);
            if (o->cols[i].type == OUT_STR) {
                json_string(&b, vals[i].s);
            } else if (o->cols[i].type == OUT_INT) {
                buf_printf(&b, "%" PRId64, vals[i].i);
            } else {
                buf_putc(&b, '[');
                for (size_t j = 0; j < vals[i].n; j++) {
                    buf_puts(&b, j ? ", " : "");
                    json_string(&b, vals[i].list[j]);
                }
                buf_putc(&b, ']');
            }
        }
        buf_putc(&b, '}');
        break;
    case OUT_CSV:
        for (size_t i = 0; i < o->ncols; i++) {
            buf_reset(&t);
            buf_reset(&c);
            cell_text(&t, &o->cols[i], &vals[i]);
            buf_put_clean(&c, buf_cstr(&t), t.len);
            if (i)
                buf_putc(&b, ',');
            csv_field(&b, buf_cstr(&c), o->cols[i].type != OUT_INT);
        }
        buf_puts(&b, "\r\n");
        break;
    case OUT_TABLE:
        o->cells = xrealloc(o->cells, (o->rows + 1) * o->ncols * sizeof(*o->cells));
        for (size_t i = 0; i < o->ncols; i++) {
            buf_reset(&t);
            buf_reset(&c);
            cell_text(&t, &o->cols[i], &vals[i]);
            buf_put_clean(&c, buf_cstr(&t), t.len);
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

/* print_table - aligned columns with a header line */
static void print_table(struct out *o)
{
    size_t *width = xcalloc(o->ncols, sizeof(*width));

    for (size_t i = 0; i < o->ncols; i++) {
        width[i] = strlen(o->cols[i].name);
        for (size_t r = 0; r < o->rows; r++) {
            size_t w = display_width(o->cells[r * o->ncols + i]);

            if (w > width[i])
                width[i] = w;
        }
    }
    for (size_t r = 0; r <= o->rows; r++) {
        struct buf line = BUF_INIT;
        size_t last = 0;

        for (size_t i = 0; i < o->ncols; i++)
            if (o->cols[i].in_table)
                last = i;
        for (size_t i = 0; i < o->ncols; i++) {
            const char *s = r == 0 ? o->cols[i].name : o->cells[(r - 1) * o->ncols + i];

            if (!o->cols[i].in_table)
                continue;
            buf_puts(&line, s);
            if (i != last)
                for (size_t pad = display_width(s); pad < width[i] + 2; pad++)
                    buf_putc(&line, ' ');
        }
        fprintf(o->fp, "%s\n", buf_cstr(&line));
        buf_free(&line);
    }
    free(width);
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

/* out_text - s cleaned for a terminal */
void out_text(struct buf *b, const char *s)
{
    buf_put_clean(b, s, strlen(s));
}
