/*
 * report_svg.c - the charts of the summary page (report_html.h), each
 * one inline <svg> element with its own title, axes, legend and one
 * <rect class="bar ..."> per non-zero bar (or a polyline and a circle
 * per point), each with a <title> a browser shows on hover.
 *
 * Draws only numbers and dates of ours: no string from the database
 * ever reaches a chart. Sizes are fixed (a chart is CHART_W x CHART_H
 * user units); a series of up to STORE_SUMMARY_MAX_DAYS days still
 * gives every bar a positive width.
 */
#include <stdio.h>
#include <string.h>

#include "report_html.h"
#include "util.h"

#define CHART_W  640
#define CHART_H  240
#define M_LEFT   48 /* y labels */
#define M_RIGHT  12
#define M_TOP    30 /* the legend */
#define M_BOT    36 /* x labels */
#define PLOT_W   (CHART_W - M_LEFT - M_RIGHT)
#define PLOT_H   (CHART_H - M_TOP - M_BOT)
#define X_LABELS 8 /* x labels at most */

/* A series of a chart: its CSS class and its name in the legend. */
struct series {
    const char *cls, *name;
};

/* dmax - the larger of a and b */
static double dmax(double a, double b)
{
    return a > b ? a : b;
}

/* nice_max - the smallest 1, 2 or 5 times a power of ten that is >= v (at least 1) */
static double nice_max(double v)
{
    double p = 1;

    if (v <= 1)
        return 1;
    while (p * 10 < v)
        p *= 10;
    return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

/* y_at - the y coordinate of value v on a scale of 0..ymax */
static double y_at(double v, double ymax)
{
    return M_TOP + PLOT_H - v / ymax * PLOT_H;
}

/* chart_open - the <svg> element, its title, the legend, the y axis with 3 labels */
static void chart_open(struct buf *b, const char *id, const char *title, const struct series *ser,
                       size_t nser, double ymax, const char *unit)
{
    buf_printf(b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" class=\"chart\" width=\"%d\""
               " height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n"
               "<title>%s</title>\n",
               id, CHART_W, CHART_H, CHART_W, CHART_H, title, title);
    for (size_t i = 0; i < nser; i++) {
        int x = M_LEFT + (int)i * 110;

        buf_printf(b,
                   "<rect class=\"key %s\" x=\"%d\" y=\"8\" width=\"10\" height=\"10\"/>"
                   "<text x=\"%d\" y=\"17\">%s</text>\n",
                   ser[i].cls, x, x + 14, ser[i].name);
    }
    for (int k = 0; k <= 2; k++) {
        double v = ymax * k / 2, y = y_at(v, ymax);

        buf_printf(b,
                   "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                   "<text class=\"ylabel\" x=\"%d\" y=\"%.1f\">%g%s</text>\n",
                   M_LEFT, y, M_LEFT + PLOT_W, y, M_LEFT - 4, y + 4, v, unit);
    }
    buf_printf(b, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", M_LEFT,
               M_TOP + PLOT_H, M_LEFT + PLOT_W, M_TOP + PLOT_H);
}

/* x_labels - label slots of n with labels[i] (escaped), at most X_LABELS of them */
static void x_labels(struct buf *b, size_t n, const char *const *labels)
{
    size_t step = n > X_LABELS ? (n + X_LABELS - 1) / X_LABELS : 1;
    double sw = (double)PLOT_W / (double)n;

    for (size_t i = 0; i < n; i += step) {
        buf_printf(b, "<text class=\"xlabel\" x=\"%.1f\" y=\"%d\">",
                   M_LEFT + sw * ((double)i + 0.5), M_TOP + PLOT_H + 16);
        report_html_text(b, labels[i]);
        buf_puts(b, "</text>\n");
    }
}

/* day_labels - "MM-DD" of each day of s into lab[i]; returns pointers to them (caller frees) */
static const char **day_labels(const struct store_summary *s, char (*lab)[16])
{
    const char **p = xcalloc(s->ndays ? s->ndays : 1, sizeof(*p));

    for (size_t i = 0; i < s->ndays; i++) {
        char day[16];

        report_fmt_day(s->days[i].day, day);
        snprintf_cut(lab[i], 16, "%s", day + 5);
        p[i] = lab[i];
    }
    return p;
}

/* bar - one bar (skipped when v is 0) with its hover text */
static void bar(struct buf *b, const char *cls, double x, double w, double v0, double v,
                double ymax, const char *what, long long n)
{
    double top = y_at(v0 + v, ymax), bottom = y_at(v0, ymax);

    if (v <= 0)
        return;
    buf_printf(b,
               "<rect class=\"bar %s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\">"
               "<title>",
               cls, x, top, w, bottom - top);
    report_html_text(b, what);
    buf_printf(b, ": %lld</title></rect>\n", n);
}

/* no_data - a note in an empty chart */
static void no_data(struct buf *b)
{
    buf_printf(b, "<text class=\"empty\" x=\"%d\" y=\"%d\">no data in this range</text>\n",
               M_LEFT + PLOT_W / 2, M_TOP + PLOT_H / 2);
}

/* report_svg_mail - messages per day, in and out side by side */
void report_svg_mail(const struct store_summary *s, struct buf *b)
{
    static const struct series ser[] = {{"in", "inbound"}, {"out", "outbound"}};
    char(*lab)[16] = xcalloc(s->ndays ? s->ndays : 1, sizeof(*lab));
    const char **labels = day_labels(s, lab);
    double ymax = 0, sw = s->ndays ? (double)PLOT_W / (double)s->ndays : 0;

    for (size_t i = 0; i < s->ndays; i++)
        ymax =
            dmax(ymax, (double)(s->days[i].in > s->days[i].out ? s->days[i].in : s->days[i].out));
    ymax = nice_max(ymax);
    chart_open(b, "chart-mail", "Mail per day, in and out", ser, 2, ymax, "");
    for (size_t i = 0; i < s->ndays; i++) {
        double x = M_LEFT + sw * (double)i;
        char what[48];

        snprintf_cut(what, sizeof(what), "%s inbound", lab[i]);
        bar(b, "in", x + sw * 0.1, sw * 0.4, 0, (double)s->days[i].in, ymax, what, s->days[i].in);
        snprintf_cut(what, sizeof(what), "%s outbound", lab[i]);
        bar(b, "out", x + sw * 0.5, sw * 0.4, 0, (double)s->days[i].out, ymax, what,
            s->days[i].out);
    }
    if (s->ndays)
        x_labels(b, s->ndays, labels);
    else
        no_data(b);
    buf_puts(b, "</svg>\n");
    free(labels);
    free(lab);
}

/* report_svg_auth - inbound SPF, DKIM and DMARC pass rates per day, one line each */
void report_svg_auth(const struct store_summary *s, struct buf *b)
{
    static const struct series ser[] = {{"spf", "SPF"}, {"dkim", "DKIM"}, {"dmarc", "DMARC"}};
    char(*lab)[16] = xcalloc(s->ndays ? s->ndays : 1, sizeof(*lab));
    const char **labels = day_labels(s, lab);
    double sw = s->ndays ? (double)PLOT_W / (double)s->ndays : 0;
    size_t points = 0;

    chart_open(b, "chart-auth", "Inbound authentication pass rate per day", ser, 3, 100, "%");
    for (size_t k = 0; k < 3; k++) {
        struct buf dots = BUF_INIT;
        size_t n = 0;

        for (size_t i = 0; i < s->ndays; i++) {
            const struct store_summary_day *d = &s->days[i];
            long long pass = k == 0 ? d->spf_pass : k == 1 ? d->dkim_pass : d->dmarc_pass;
            double rate = store_rate(pass, d->in), x = M_LEFT + sw * ((double)i + 0.5);

            if (rate < 0)
                continue; /* no inbound mail that day: no point */
            if (n++ == 0)
                buf_printf(b, "<polyline class=\"line %s\" points=\"", ser[k].cls);
            buf_printf(b, "%s%.1f,%.1f", n > 1 ? " " : "", x, y_at(rate, 100));
            buf_printf(&dots,
                       "<circle class=\"dot %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\">"
                       "<title>%s %s: %.1f%% (%lld of %lld)</title></circle>\n",
                       ser[k].cls, x, y_at(rate, 100), lab[i], ser[k].name, rate, pass,
                       (long long)d->in);
        }
        if (n)
            buf_puts(b, "\"/>\n");
        buf_puts(b, buf_cstr(&dots));
        buf_free(&dots);
        points += n;
    }
    if (s->ndays)
        x_labels(b, s->ndays, labels);
    if (points == 0)
        no_data(b);
    buf_puts(b, "</svg>\n");
    free(labels);
    free(lab);
}

/* report_svg_opens - opens per day, stacked by class */
void report_svg_opens(const struct store_summary *s, struct buf *b)
{
    static const struct series ser[STORE_OPEN_CLASSES] = {
        {"human", "human"}, {"proxy", "proxy"}, {"prefetch", "prefetch"}, {"scanner", "scanner"}};
    char(*lab)[16] = xcalloc(s->ndays ? s->ndays : 1, sizeof(*lab));
    const char **labels = day_labels(s, lab);
    double ymax = 0, sw = s->ndays ? (double)PLOT_W / (double)s->ndays : 0;
    long long all = 0;

    for (size_t i = 0; i < s->ndays; i++) {
        long long t = 0;

        for (size_t c = 0; c < STORE_OPEN_CLASSES; c++)
            t += s->days[i].opens[c];
        ymax = dmax(ymax, (double)t);
        all += t;
    }
    ymax = nice_max(ymax);
    chart_open(b, "chart-opens", "Opens per day by class", ser, STORE_OPEN_CLASSES, ymax, "");
    for (size_t i = 0; i < s->ndays; i++) {
        double v0 = 0;

        for (size_t c = 0; c < STORE_OPEN_CLASSES; c++) {
            char what[48];
            long long n = s->days[i].opens[c];

            snprintf_cut(what, sizeof(what), "%s %s", lab[i], ser[c].name);
            bar(b, ser[c].cls, M_LEFT + sw * ((double)i + 0.15), sw * 0.7, v0, (double)n, ymax,
                what, n);
            v0 += (double)n;
        }
    }
    if (s->ndays)
        x_labels(b, s->ndays, labels);
    if (all == 0)
        no_data(b);
    buf_puts(b, "</svg>\n");
    free(labels);
    free(lab);
}

/* report_svg_ttfo - tracked messages by time to their first human open */
void report_svg_ttfo(const struct store_summary *s, struct buf *b)
{
    static const struct series ser[] = {{"ttfo", "first human open after"}};
    const char *labels[STORE_TTFO_BUCKETS];
    double ymax = 0, sw = (double)PLOT_W / STORE_TTFO_BUCKETS;
    long long all = 0;

    for (size_t i = 0; i < STORE_TTFO_BUCKETS; i++) {
        labels[i] = store_ttfo_label(i);
        ymax = dmax(ymax, (double)s->ttfo[i]);
        all += s->ttfo[i];
    }
    ymax = nice_max(ymax);
    chart_open(b, "chart-ttfo", "Time to the first human open", ser, 1, ymax, "");
    for (size_t i = 0; i < STORE_TTFO_BUCKETS; i++)
        bar(b, "ttfo", M_LEFT + sw * ((double)i + 0.15), sw * 0.7, 0, (double)s->ttfo[i], ymax,
            labels[i], s->ttfo[i]);
    x_labels(b, STORE_TTFO_BUCKETS, labels);
    if (all == 0)
        no_data(b);
    buf_puts(b, "</svg>\n");
}
