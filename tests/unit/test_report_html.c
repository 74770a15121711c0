/*
 * test_report_html.c - the summary and opens pages (cli/report_html.c,
 * cli/report_svg.c) from summaries made here by hand: the escaping of
 * every kind of hostile string, the page's structure (four charts, the
 * tables, nothing that fetches or runs anything), one bar per non-zero
 * value of each chart and one point per day with inbound mail, the
 * numbers of the tables and the totals line; the rate, bucket and name
 * helpers of store_summary.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "report_html.h"
#include "timearg.h"

#define T0 1796083200LL /* 2026-12-01T00:00:00Z */
#define D  86400LL

/* count - occurrences of needle in hay */
static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static const struct {
    const char *in, *out;
} escapes[] = {
    {"plain.example", "plain.example"},
    {"<script>&\"'", "&lt;script&gt;&amp;&quot;&#39;"},
    {"a\x01"
     "b\x1b[31mc\x7f",
     "a?b?[31mc?"},
    {"tab\tnl\n", "tab?nl?"},
    {"caf\xc3\xa9 \xf0\x9f\x93\xa7", "caf\xc3\xa9 \xf0\x9f\x93\xa7"}, /* é and an emoji stay */
    {"\xc2\x85", "?"},                                                /* C1 control */
    {"\xef\xbf\xbe", "?"},                                            /* U+FFFE */
    {"\xff"
     "x",
     "\xef\xbf\xbdx"},                                        /* not UTF-8 */
    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
    {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong, 3 bytes */
    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
    {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
    {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},                                 /* cut short */
};

/* test_escape - every case of escapes[] */
static void test_escape(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        struct buf b = BUF_INIT;

        report_html_text(&b, escapes[i].in);
        print_message("case %zu\n", i);
        assert_string_equal(buf_cstr(&b), escapes[i].out);
        buf_free(&b);
    }
}

/* render - the summary page of s as a string; caller frees */
static char *render(const struct store_summary *s, const struct report_health *h)
{
    char *p = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&p, &len);

    assert_non_null(f);
    report_html_summary(s, h, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(strlen(p), len); /* no NUL inside */
    return p;
}

/* section - the text of the <svg id="id"> element of page (a copy; caller frees) */
static char *section(const char *page, const char *id)
{
    char open[64];
    const char *a, *z;

    snprintf(open, sizeof(open), "id=\"%s\"", id);
    assert_non_null(a = strstr(page, open));
    assert_non_null(z = strstr(a, "</svg>"));
    return strndup(a, (size_t)(z - a));
}

/* Expected numbers in a page's charts. */
struct page_case {
    const char *name;
    size_t ndays;
    struct store_summary_day days[4];
    int64_t ttfo[STORE_TTFO_BUCKETS];
    size_t bars_in, bars_out, bars_opens, bars_ttfo, dots, lines, empty;
};

static const struct page_case page_cases[] = {
    {"nothing at all", 0, {{0}}, {0}, 0, 0, 0, 0, 0, 0, 4},
    {"three days, one without inbound mail",
     3,
     {{T0, 4, 1, 3, 2, 4, {2, 0, 1, 0}},
      {T0 + D, 0, 2, 0, 0, 0, {0, 0, 0, 0}},
      {T0 + 2 * D, 2, 0, 1, 2, 0, {1, 1, 1, 1}}},
     {0, 3, 0, 0, 0, 1, 0, 0},
     /* in: days 0, 2; out: days 0, 1; opens: 2 + 0 + 4; ttfo: 2 buckets; dots: 3 x 2 days */
     2,
     2,
     6,
     2,
     6,
     3,
     0},
    {"one day, machines only", 1, {{T0, 1, 0, 0, 0, 0, {0, 0, 3, 5}}}, {0}, 1, 0, 2, 0, 3, 3, 1},
};

/* test_page - structure, charts and escaping of each case */
static void test_page(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(page_cases) / sizeof(page_cases[0]); c++) {
        const struct page_case *x = &page_cases[c];
        struct store_summary_domain top[] = {{(char *)"evil<b>\x01\xff.example", 7, 5}};
        struct store_summary_day days[4];
        struct store_summary s = {
            .since = T0,
            .until = T0 + 3 * D,
            .rows = 12,
            .copies = 2,
            .messages = {6, 4},
            .actions = {{3, 1, 1, 1, 0, 0}, {3, 0, 0, 0, 0, 1}},
            .spf_pass = 3,
            .dkim_pass = 2,
            .dmarc_pass = 4,
            .dmarc_fail = 1,
            .signed_out = 3,
            .top = top,
            .ntop = 1,
            .track = {{"milter", "", 0, NULL, NULL, 0, 5, 4, 3, 2, 1, 600, 3600},
                      {"pipe", "", 0, NULL, NULL, 0, 0, 0, 0, 0, 0, -1, -1}},
            .days = days,
            .ndays = x->ndays,
            .all_rows = 99,
            .db_bytes = 4096,
        };
        struct report_health h = {true, 17, 3, 0, 8192};
        char *page, *mail, *auth, *opens, *ttfo;

        print_message("case: %s\n", x->name);
        memcpy(days, x->days, sizeof(days));
        memcpy(s.ttfo, x->ttfo, sizeof(s.ttfo));
        page = render(&s, &h);
        assert_true(strncmp(page, "<!DOCTYPE html>\n<html", 21) == 0);
        assert_int_equal(count(page, "<svg "), 4);
        assert_int_equal(count(page, "</svg>"), 4);
        assert_int_equal(count(page, "<table"), count(page, "</table>"));
        assert_int_equal(count(page, "<tr>"), count(page, "</tr>"));
        assert_int_equal(count(page, "<script"), 0);
        assert_int_equal(count(page, "href="), 0);
        assert_int_equal(count(page, "src="), 0);
        assert_int_equal(count(page, "://"), 5); /* the namespaces: xhtml once, svg 4 times */
        assert_int_equal(count(page, "evil&lt;b&gt;?\xef\xbf\xbd.example"), 1);
        assert_int_equal(count(page, "evil<b>"), 0);
        assert_int_equal(count(page, "no data in this range"), x->empty);
        /* the tables: rates of the right denominators, the totals line, the health */
        assert_non_null(strstr(page, "<tr><td>SPF pass (inbound)</td><td>3</td><td>6</td>"
                                     "<td>50.0%</td></tr>"));
        assert_non_null(strstr(page, "<tr><td>DKIM signed (outbound)</td><td>3</td><td>4</td>"
                                     "<td>75.0%</td></tr>"));
        assert_non_null(strstr(page, "<tr><td>milter</td><td>messages</td><td>5</td><td>4</td>"
                                     "<td>2</td><td>1</td><td>3</td><td>50.0%</td><td>75.0%</td>"
                                     "<td>10 min</td><td>60 min</td></tr>"));
        assert_non_null(strstr(page, "<td>pipe</td><td>recipients</td><td>0</td><td>0</td>"
                                     "<td>0</td><td>0</td><td>0</td><td>-</td><td>-</td>"));
        assert_non_null(strstr(page, "6 inbound + 4 outbound = 10 messages = 6 accept + 1 reject"
                                     " + 1 quarantine + 1 tempfail + 0 discard + 1 other;"
                                     " 12 ledger rows = 10 messages + 2 copies"));
        assert_non_null(strstr(page, "<tr><td>dropped since start</td><td>3</td></tr>"));
        mail = section(page, "chart-mail");
        auth = section(page, "chart-auth");
        opens = section(page, "chart-opens");
        ttfo = section(page, "chart-ttfo");
        assert_int_equal(count(mail, "class=\"bar in\""), x->bars_in);
        assert_int_equal(count(mail, "class=\"bar out\""), x->bars_out);
        assert_int_equal(count(opens, "class=\"bar "), x->bars_opens);
        assert_int_equal(count(ttfo, "class=\"bar ttfo\""), x->bars_ttfo);
        assert_int_equal(count(auth, "<circle "), x->dots);
        assert_int_equal(count(auth, "<polyline "), x->lines);
        /* every bar has a positive size */
        assert_int_equal(count(page, "width=\"0.00\""), 0);
        assert_int_equal(count(page, "height=\"0.00\""), 0);
        assert_int_equal(count(page, "height=\"-"), 0);
        free(mail);
        free(auth);
        free(opens);
        free(ttfo);
        free(page);
    }
}

/* test_opens_page - a row per group, the grouping's column, escaped keys */
static void test_opens_page(void **state)
{
    const struct store_opens_group g[] = {
        {"milter", "Q1", 0, "a@x.example", "Hi <there>", T0, 2, 2, 1, 1, 0, 60, 60},
        {"pipe", "Q2", 0, NULL, NULL, T0, 3, 3, 0, 0, 0, -1, -1},
    };
    const struct store_opens_filter f = {T0, 0, NULL, NULL, STORE_BY_MESSAGE, 0};
    char *p = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&p, &len);

    (void)state;
    report_html_opens(g, 2, &f, out);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(count(p, "<tr>"), 3);
    assert_non_null(strstr(p, "<th>message</th><th>sender</th><th>subject</th><th>mode</th>"));
    assert_non_null(strstr(p, "<td>Q1</td><td>a@x.example</td><td>Hi &lt;there&gt;</td>"
                              "<td>milter</td><td>messages</td><td>2</td>"));
    assert_non_null(strstr(p, "<td>Q2</td><td></td><td></td><td>pipe</td><td>recipients</td>"));
    assert_int_equal(count(p, "<script"), 0);
    free(p);
}

/* test_formats - rates, durations, days */
static void test_formats(void **state)
{
    static const struct {
        long long s;
        const char *out;
    } durations[] = {{-1, "-"},         {0, "0 s"},      {119, "119 s"},     {120, "2 min"},
                     {7199, "119 min"}, {7200, "2.0 h"}, {172799, "48.0 h"}, {172800, "2.0 d"}};
    char out[16];

    (void)state;
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
        assert_string_equal(report_fmt_duration(durations[i].s, out), durations[i].out);
    assert_string_equal(report_fmt_rate(1, 3, out), "33.3%");
    assert_string_equal(report_fmt_rate(0, 0, out), "-");
    assert_string_equal(report_fmt_day(T0 + D - 1, out), "2026-12-01");
    assert_string_equal(report_by_name(STORE_BY_RECIPIENT), "recipient");
}

/* test_rates_and_names - store_rate and the bucket bounds */
static void test_rates_and_names(void **state)
{
    (void)state;
    assert_true(store_rate(1, 0) < 0);
    assert_true(store_rate(1, 4) == 25.0);
    assert_true(store_rate(2, 3) > 66.66 && store_rate(2, 3) < 66.67);
    assert_int_equal(store_ttfo_limit(0), 300);
    assert_int_equal(store_ttfo_limit(STORE_TTFO_BUCKETS - 1), INT64_MAX);
    for (size_t i = 1; i < STORE_TTFO_BUCKETS; i++)
        assert_true(store_ttfo_limit(i) > store_ttfo_limit(i - 1));
    assert_string_equal(store_action_name(STORE_ACT_TEMPFAIL), "tempfail");
    assert_string_equal(store_open_class_name(STORE_OPEN_PREFETCH), "prefetch");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),          cmocka_unit_test(test_page),
        cmocka_unit_test(test_opens_page),      cmocka_unit_test(test_formats),
        cmocka_unit_test(test_rates_and_names),
    };

    timearg_set_utc(true);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
