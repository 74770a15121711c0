/*
 * report_html.c - the pages of postmeter report summary and report
 * opens --format html (report_html.h): a document head with the only
 * style it uses, the tables of the text report, the charts of
 * report_svg.c, and the escaping every string from the database goes
 * through.
 *
 * Must never emit a script, an event attribute, or a URL of any kind
 * (the page is read offline and must fetch nothing), nor a string that
 * did not pass report_html_text().
 */
#include <stdio.h>
#include <string.h>

#include "report_html.h"
#include "timearg.h"
#include "util.h"

static const char page_style[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222;background:#fff}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#eee}"
    "p.totals{font-family:monospace}"
    "svg.chart{display:block;margin:.5em 0;background:#fafafa;border:1px solid #ddd}"
    "svg text{font-size:11px;fill:#333}svg text.ylabel{text-anchor:end}"
    "svg text.xlabel,svg text.empty{text-anchor:middle}"
    ".grid{stroke:#ddd}.axis{stroke:#666}"
    ".in{fill:#3b6ea5}.out{fill:#e08a2c}.ttfo{fill:#6a5acd}"
    ".human{fill:#2e8b57}.proxy{fill:#8fbc8f}.prefetch{fill:#b0b0b0}.scanner{fill:#b22222}"
    ".spf{fill:#3b6ea5;stroke:#3b6ea5}.dkim{fill:#2e8b57;stroke:#2e8b57}"
    ".dmarc{fill:#c0392b;stroke:#c0392b}polyline.line{fill:none;stroke-width:2}";

/* utf8_seq - length of the valid UTF-8 sequence at p[0..n) (1-4), its code point; 0 if invalid */
static size_t utf8_seq(const unsigned char *p, size_t n, unsigned *cp)
{
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 1;
    unsigned c = len == 1 ? p[0] : p[0] & (0x3f >> (len - 1));

    if ((p[0] >= 0x80 && p[0] < 0xc2) || p[0] > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    /* overlong 3- and 4-byte forms, surrogates, past U+10FFFF */
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* report_html_text - s escaped for text and attribute values; controls '?', bad UTF-8 U+FFFD */
void report_html_text(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    while (n > 0) {
        unsigned c = 0;
        size_t len = utf8_seq(p, n, &c);

        if (len == 0) {
            buf_puts(b, "\xef\xbf\xbd");
            len = 1;
        } else if (c == '&') {
            buf_puts(b, "&amp;");
        } else if (c == '<') {
            buf_puts(b, "&lt;");
        } else if (c == '>') {
            buf_puts(b, "&gt;");
        } else if (c == '"') {
            buf_puts(b, "&quot;");
        } else if (c == '\'') {
            buf_puts(b, "&#39;");
        } else if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0xfffe || c == 0xffff) {
            buf_putc(b, '?'); /* no control character or XML non-character reaches the page */
        } else {
            buf_add(b, p, len);
        }
        p += len;
        n -= len;
    }
}

/* report_fmt_rate - num / den in percent with one decimal, "-" without a denominator */
const char *report_fmt_rate(long long num, long long den, char *out)
{
    double r = store_rate(num, den);

    if (r < 0)
        snprintf_cut(out, 16, "-");
    else
        snprintf_cut(out, 16, "%.1f%%", r);
    return out;
}

/* report_fmt_duration - seconds in the unit that reads best */
const char *report_fmt_duration(long long s, char *out)
{
    if (s < 0)
        snprintf_cut(out, 16, "-");
    else if (s < 120)
        snprintf_cut(out, 16, "%lld s", s);
    else if (s < 7200)
        snprintf_cut(out, 16, "%lld min", s / 60);
    else if (s < 172800)
        snprintf_cut(out, 16, "%.1f h", (double)s / 3600);
    else
        snprintf_cut(out, 16, "%.1f d", (double)s / 86400);
    return out;
}

/* report_fmt_day - YYYY-MM-DD of t (local unless --utc) */
const char *report_fmt_day(long long t, char *out)
{
    char full[TIMEARG_LEN];

    timearg_format(t, timearg_utc(), false, full);
    snprintf_cut(out, 16, "%.10s", full);
    return out;
}

/* report_by_name - the word of --by */
const char *report_by_name(enum store_opens_by by)
{
    static const char *const names[] = {"all", "message", "sender", "recipient", "day", "subject"};

    return (unsigned)by < sizeof(names) / sizeof(names[0]) ? names[by] : "?";
}

/* page_open - the document up to the body's heading, with the range */
static void page_open(struct buf *b, const char *title, long long since, long long until)
{
    char a[TIMEARG_LEN], z[TIMEARG_LEN];

    buf_printf(b,
               "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
               "<head>\n<meta charset=\"utf-8\"/>\n<title>postmeter: %s</title>\n"
               "<style>%s</style>\n</head>\n<body>\n<h1>postmeter: %s</h1>\n",
               title, page_style, title);
    buf_printf(b, "<p class=\"range\">From %s to %s.</p>\n",
               since ? timearg_format(since, timearg_utc(), false, a) : "the first record",
               until ? timearg_format(until, timearg_utc(), false, z) : "now");
}

/* cell - one <td> (th: <th>) with text escaped */
static void cell(struct buf *b, const char *text, bool th)
{
    buf_puts(b, th ? "<th>" : "<td>");
    report_html_text(b, text);
    buf_puts(b, th ? "</th>" : "</td>");
}

/* row - one table row of n cells */
static void row(struct buf *b, const char *const *cells, size_t n, bool th)
{
    buf_puts(b, "<tr>");
    for (size_t i = 0; i < n; i++)
        cell(b, cells[i], th);
    buf_puts(b, "</tr>\n");
}

/* mail_table - messages and actions per direction, then the totals line */
static void mail_table(struct buf *b, const struct store_summary *s)
{
    const char *head[2 + STORE_ACTIONS] = {"direction", "messages"};
    char num[2 + STORE_ACTIONS][24];
    const char *cells[2 + STORE_ACTIONS];

    for (size_t a = 0; a < STORE_ACTIONS; a++)
        head[2 + a] = store_action_name((enum store_action)a);
    buf_puts(b, "<h2>Mail</h2>\n<table id=\"mail\">\n");
    row(b, head, 2 + STORE_ACTIONS, true);
    for (size_t d = 0; d < 2; d++) {
        cells[0] = d ? "outbound" : "inbound";
        snprintf_cut(num[1], sizeof(num[1]), "%lld", (long long)s->messages[d]);
        cells[1] = num[1];
        for (size_t a = 0; a < STORE_ACTIONS; a++) {
            snprintf_cut(num[2 + a], sizeof(num[0]), "%lld", (long long)s->actions[d][a]);
            cells[2 + a] = num[2 + a];
        }
        row(b, cells, 2 + STORE_ACTIONS, false);
    }
    buf_puts(b, "</table>\n<p class=\"totals\">Totals: ");
    buf_printf(b, "%lld inbound + %lld outbound = %lld messages =", (long long)s->messages[0],
               (long long)s->messages[1], (long long)(s->messages[0] + s->messages[1]));
    for (size_t a = 0; a < STORE_ACTIONS; a++)
        buf_printf(b, "%s %lld %s", a ? " +" : "", (long long)(s->actions[0][a] + s->actions[1][a]),
                   store_action_name((enum store_action)a));
    buf_printf(b,
               "; %lld ledger rows = %lld messages + %lld copies (outbound rows with the"
               " Message-ID and sender of a message already counted: mail reinjected by"
               " postmeter-pixelfilter is counted once).</p>\n",
               (long long)s->rows, (long long)(s->messages[0] + s->messages[1]),
               (long long)s->copies);
}

/* auth_table - pass rates in, signing rate out */
static void auth_table(struct buf *b, const struct store_summary *s)
{
    static const char *const head[] = {"result", "messages", "of", "rate"};
    const struct {
        const char *name;
        long long n, of;
    } r[] = {
        {"SPF pass (inbound)", s->spf_pass, s->messages[0]},
        {"DKIM pass (inbound)", s->dkim_pass, s->messages[0]},
        {"DMARC pass (inbound)", s->dmarc_pass, s->messages[0]},
        {"DMARC fail (inbound)", s->dmarc_fail, s->messages[0]},
        {"DKIM signed (outbound)", s->signed_out, s->messages[1]},
    };

    buf_puts(b, "<h2>Authentication</h2>\n<table id=\"auth\">\n");
    row(b, head, 4, true);
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        char n[24], of[24], rate[16];
        const char *cells[4] = {r[i].name, n, of, report_fmt_rate(r[i].n, r[i].of, rate)};

        snprintf_cut(n, sizeof(n), "%lld", r[i].n);
        snprintf_cut(of, sizeof(of), "%lld", r[i].of);
        row(b, cells, 4, false);
    }
    buf_puts(b, "</table>\n");
    report_svg_auth(s, b);
}

/* top_table - the From domains failing DMARC most */
static void top_table(struct buf *b, const struct store_summary *s)
{
    static const char *const head[] = {"From domain", "inbound messages", "DMARC fail"};

    buf_puts(b, "<h2>Top failing From domains</h2>\n<table id=\"top\">\n");
    row(b, head, 3, true);
    for (size_t i = 0; i < s->ntop; i++) {
        char n[24], f[24];
        const char *cells[3] = {s->top[i].domain[0] ? s->top[i].domain : "(no From domain)", n, f};

        snprintf_cut(n, sizeof(n), "%lld", (long long)s->top[i].messages);
        snprintf_cut(f, sizeof(f), "%lld", (long long)s->top[i].dmarc_fail);
        row(b, cells, 3, false);
    }
    buf_puts(b, "</table>\n");
}

static const char *const group_head[] = {
    "mode",          "unit",         "tracked",        "with a pixel",  "opened by a person",
    "machine-only",  "opened (any)", "est. open rate", "raw open rate", "median first open",
    "p90 first open"};
#define NGROUP_HEAD (sizeof(group_head) / sizeof(group_head[0]))

/* group_cells - a group's numbers as the cells of group_head (into num) */
static void group_cells(const struct store_opens_group *g, char (*num)[24], const char **cells)
{
    cells[0] = g->mode;
    cells[1] = strcmp(g->mode, "pipe") == 0 ? "recipients" : "messages";
    snprintf_cut(num[2], 24, "%lld", (long long)g->tracked);
    snprintf_cut(num[3], 24, "%lld", (long long)g->with_pixel);
    snprintf_cut(num[4], 24, "%lld", (long long)g->human);
    snprintf_cut(num[5], 24, "%lld", (long long)g->machine_only);
    snprintf_cut(num[6], 24, "%lld", (long long)g->opened);
    report_fmt_rate(g->human, g->with_pixel, num[7]);
    report_fmt_rate(g->opened, g->with_pixel, num[8]);
    report_fmt_duration(g->median_s, num[9]);
    report_fmt_duration(g->p90_s, num[10]);
    for (size_t i = 2; i < NGROUP_HEAD; i++)
        cells[i] = num[i];
}

/* track_table - tracked messages and open rates per mode, the first-open histogram */
static void track_table(struct buf *b, const struct store_summary *s)
{
    static const char *const th[] = {"first human open after", "tracked"};

    buf_puts(b, "<h2>Open tracking</h2>\n<p>The estimated open rate counts opens by people"
                " (human, proxy) of the tracked mail with a pixel; the raw rate counts every"
                " fetch, machines' too. Pipe mode tracks each recipient's copy, milter mode"
                " each message.</p>\n<table id=\"tracking\">\n");
    row(b, group_head, NGROUP_HEAD, true);
    for (size_t m = 0; m < 2; m++) {
        char num[NGROUP_HEAD][24];
        const char *cells[NGROUP_HEAD];

        group_cells(&s->track[m], num, cells);
        row(b, cells, NGROUP_HEAD, false);
    }
    buf_puts(b, "</table>\n");
    report_svg_opens(s, b);
    buf_puts(b, "<table id=\"ttfo\">\n");
    row(b, th, 2, true);
    for (size_t i = 0; i < STORE_TTFO_BUCKETS; i++) {
        char n[24];
        const char *cells[2] = {store_ttfo_label(i), n};

        snprintf_cut(n, sizeof(n), "%lld", (long long)s->ttfo[i]);
        row(b, cells, 2, false);
    }
    buf_puts(b, "</table>\n");
    report_svg_ttfo(s, b);
}

/* health_table - the ledger's own state */
static void health_table(struct buf *b, const struct store_summary *s,
                         const struct report_health *h)
{
    char v[8][32];
    const char *lines[][2] = {
        {"ledger rows (all)", v[0]},    {"tracked rows (all)", v[1]},
        {"opens (all)", v[2]},          {"database size", v[3]},
        {"spooled since start", v[4]},  {"dropped since start", v[5]},
        {"waiting in the spool", v[6]}, {"database and -wal on disk", v[7]},
    };

    snprintf_cut(v[0], 32, "%lld", (long long)s->all_rows);
    snprintf_cut(v[1], 32, "%lld", (long long)s->all_tracked);
    snprintf_cut(v[2], 32, "%lld", (long long)s->all_opens);
    snprintf_cut(v[3], 32, "%lld bytes", (long long)s->db_bytes);
    if (h->status_file) {
        snprintf_cut(v[4], 32, "%lld", h->spooled);
        snprintf_cut(v[5], 32, "%lld", h->dropped);
    } else {
        snprintf_cut(v[4], 32, "unknown (no status file)");
        snprintf_cut(v[5], 32, "unknown (no status file)");
    }
    if (h->spool_records >= 0)
        snprintf_cut(v[6], 32, "%lld", h->spool_records);
    else
        snprintf_cut(v[6], 32, "unknown");
    if (h->file_bytes >= 0)
        snprintf_cut(v[7], 32, "%lld bytes", h->file_bytes);
    else
        snprintf_cut(v[7], 32, "unknown");
    buf_puts(b, "<h2>Ledger</h2>\n<table id=\"ledger\">\n");
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        row(b, lines[i], 2, false);
    buf_puts(b, "</table>\n");
}

/* page_close - end the document and write b to out */
static void page_close(struct buf *b, FILE *out)
{
    buf_puts(b, "</body>\n</html>\n");
    fwrite(b->data, 1, b->len, out);
    buf_free(b);
}

/* report_html_summary - the whole summary page */
void report_html_summary(const struct store_summary *s, const struct report_health *h, FILE *out)
{
    struct buf b = BUF_INIT;

    page_open(&b, "summary", s->since, s->until);
    mail_table(&b, s);
    report_svg_mail(s, &b);
    auth_table(&b, s);
    top_table(&b, s);
    track_table(&b, s);
    health_table(&b, s, h);
    page_close(&b, out);
}

/* report_html_opens - the opens report as a page: one row per group */
void report_html_opens(const struct store_opens_group *g, size_t n,
                       const struct store_opens_filter *f, FILE *out)
{
    struct buf b = BUF_INIT;
    const char *by = report_by_name(f->by);

    page_open(&b, "opens", f->since, f->until);
    buf_puts(&b, "<table id=\"opens\">\n<tr>");
    cell(&b, f->by == STORE_BY_NONE ? "all" : by, true);
    if (f->by == STORE_BY_MESSAGE) {
        cell(&b, "sender", true);
        cell(&b, "subject", true);
    }
    for (size_t i = 0; i < NGROUP_HEAD; i++)
        cell(&b, group_head[i], true);
    buf_puts(&b, "</tr>\n");
    for (size_t i = 0; i < n; i++) {
        char num[NGROUP_HEAD][24], day[16];
        const char *cells[NGROUP_HEAD];

        buf_puts(&b, "<tr>");
        cell(&b, f->by == STORE_BY_DAY ? report_fmt_day(g[i].day, day) : g[i].key, false);
        if (f->by == STORE_BY_MESSAGE) {
            cell(&b, g[i].sender ? g[i].sender : "", false);
            cell(&b, g[i].subject ? g[i].subject : "", false);
        }
        group_cells(&g[i], num, cells);
        for (size_t k = 0; k < NGROUP_HEAD; k++)
            cell(&b, cells[k], false);
        buf_puts(&b, "</tr>\n");
    }
    buf_puts(&b, "</table>\n");
    page_close(&b, out);
}
