/*
 * test_cli_adv.c - the CLI's row writer (cli/output.c) against stored
 * strings a hostile sender chose, from an adversarial review: a
 * bidirectional control (U+202E RIGHT-TO-LEFT OVERRIDE and its kin) in a
 * subject or an address never reaches a table cell, a CSV cell or
 * out_text(), where it would reorder the rest of the terminal's line (or
 * the spreadsheet's cell) and so disguise the columns after it. JSON
 * keeps the string as stored (a JSON reader shows no line). Golden cases:
 * one value in, the exact text out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "output.h"

/* render - one row of one text column in format f; caller frees */
static char *render(enum out_format f, const char *s)
{
    const struct out_col cols[] = {{"v", OUT_STR, true}};
    struct out_val v = {.s = s};
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    struct out *o;

    assert_non_null(fp);
    o = out_new(f, cols, 1, fp);
    out_set_wide(o, true);
    out_row(o, &v);
    out_end(o);
    assert_int_equal(fclose(fp), 0);
    return text;
}

struct bidi_case {
    const char *in;
    const char *clean; /* the table cell, the CSV cell and out_text() */
};

static const struct bidi_case bidi_cases[] = {
    /* the overrides and embeddings, U+202A..U+202E */
    {"\u202Eevil.exe", "?evil.exe"},
    {"a\u202Ab\u202Bc\u202Cd\u202De", "a?b?c?d?e"},
    /* the isolates, U+2066..U+2069 */
    {"x\u2066y\u2067z\u2068w\u2069", "x?y?z?w?"},
    /* the marks: LRM, RLM, ALM */
    {"\u200E\u200F\u061C.", "???."},
    /* a sender that reads as another: "moc.lapyap@" shown reversed */
    {"=cmd|\u202Egpj.exe@x.test", "=cmd|?gpj.exe@x.test"},
    /* neighbours that are no controls stay: U+2010 hyphen, U+2065 (unassigned), U+206A */
    {"\u2010\u2070\u2013\u00e9", "\u2010\u2070\u2013\u00e9"},
    {"\u0627\u0644\u0639\u0631\u0628\u064A\u0629", "\u0627\u0644\u0639\u0631\u0628\u064A\u0629"},
};

/* table_cell - the second line of a one-column table, without its newline; caller frees */
static char *table_cell(const char *s)
{
    char *t = render(OUT_TABLE, s), *nl = strchr(t, '\n'), *cell, *end;

    assert_non_null(nl);
    cell = strdup(nl + 1);
    assert_non_null(cell);
    if ((end = strchr(cell, '\n')) != NULL)
        *end = '\0';
    free(t);
    return cell;
}

/* test_bidi_table - the table shows every bidirectional control as '?' */
static void test_bidi_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bidi_cases) / sizeof(bidi_cases[0]); i++) {
        char *cell = table_cell(bidi_cases[i].in);

        assert_string_equal(cell, bidi_cases[i].clean);
        free(cell);
    }
}

/* test_bidi_csv - a CSV cell carries no bidirectional control either */
static void test_bidi_csv(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bidi_cases) / sizeof(bidi_cases[0]); i++) {
        char *t = render(OUT_CSV, bidi_cases[i].in), *line = strchr(t, '\n');
        char want[128];

        assert_non_null(line);
        if (bidi_cases[i].clean[0] == '=')
            snprintf(want, sizeof(want), "\"'%s\"\r\n", bidi_cases[i].clean);
        else
            snprintf(want, sizeof(want), "%s\r\n", bidi_cases[i].clean);
        assert_string_equal(line + 1, want);
        free(t);
    }
}

/* test_bidi_out_text - out_text() (postmeter status) cleans the same way */
static void test_bidi_out_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bidi_cases) / sizeof(bidi_cases[0]); i++) {
        struct buf b = BUF_INIT;

        out_text(&b, bidi_cases[i].in);
        assert_string_equal(buf_cstr(&b), bidi_cases[i].clean);
        buf_free(&b);
    }
}

/* test_bidi_json - JSON keeps the stored string: a reader of it decides how to show it */
static void test_bidi_json(void **state)
{
    char *t;

    (void)state;
    t = render(OUT_NDJSON, "\u202Eevil");
    assert_string_equal(t, "{\"v\": \"\u202Eevil\"}\n");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bidi_table),
        cmocka_unit_test(test_bidi_csv),
        cmocka_unit_test(test_bidi_out_text),
        cmocka_unit_test(test_bidi_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
