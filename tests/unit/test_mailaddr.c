/*
 * test_mailaddr.c - addresses out of header values and envelope arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mailaddr.h"

struct list_case {
    const char *value;
    const char *expect[4]; /* NULL-terminated */
};

static const struct list_case list_cases[] = {
    {"user@example.org", {"user@example.org"}},
    {"  user@example.org  ", {"user@example.org"}},
    {"John Doe <jd@example.org>", {"jd@example.org"}},
    {"\"Doe, John\" <jd@example.org>", {"jd@example.org"}},
    {"jd@example.org (John Doe)", {"jd@example.org"}},
    {"(comment (nested)) jd@example.org", {"jd@example.org"}},
    {"a@x.example, B <b@y.example>", {"a@x.example", "b@y.example"}},
    {"\"x <a@junk.example>\"@victim.example", {"\"x <a@junk.example>\"@victim.example"}},
    {"\"a,b\" <c@d.example>", {"c@d.example"}},
    {"friends: a@x.example, b@y.example;", {"a@x.example", "b@y.example"}},
    {"undisclosed-recipients:;", {NULL}},
    {"=?UTF-8?B?w6lsw6g=?= <e@example.org>", {"e@example.org"}},
    {"<unterminated@example.org", {"unterminated@example.org"}},
    {"", {NULL}},
    {"(only a comment)", {NULL}},
    {"Just A Name", {NULL}},
    {"Name, b@y.example", {"b@y.example"}},
    {"<local>", {"local"}},
};

static void test_parse_list(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
        char *out[8];
        size_t n = mailaddr_parse_list(list_cases[i].value, out, 8), want = 0;

        while (list_cases[i].expect[want])
            want++;
        if (n != want)
            fail_msg("case %zu \"%s\": %zu addresses, want %zu", i, list_cases[i].value, n, want);
        for (size_t j = 0; j < n; j++) {
            if (strcmp(out[j], list_cases[i].expect[j]) != 0)
                fail_msg("case %zu: address %zu is \"%s\", want \"%s\"", i, j, out[j],
                         list_cases[i].expect[j]);
            free(out[j]);
        }
    }
}

static void test_max_bound(void **state)
{
    char *out[2];

    (void)state;
    assert_int_equal(mailaddr_parse_list("a@x, b@x, c@x, d@x", out, 2), 2);
    assert_string_equal(out[0], "a@x");
    assert_string_equal(out[1], "b@x");
    free(out[0]);
    free(out[1]);
}

static void test_first(void **state)
{
    char *a = mailaddr_first("A <a@x.example>, b@y.example");

    (void)state;
    assert_string_equal(a, "a@x.example");
    free(a);
    assert_null(mailaddr_first("group:;"));
}

struct env_case {
    const char *arg, *expect;
};

static const struct env_case env_cases[] = {
    {"<user@example.org>", "user@example.org"}, {"<>", ""},
    {"user@example.org", "user@example.org"},   {"  <user@example.org>", "user@example.org"},
    {"<user@example.org", "user@example.org"},  {"", ""},
};

static void test_envelope(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
        char *a = mailaddr_envelope(env_cases[i].arg);

        if (strcmp(a, env_cases[i].expect) != 0)
            fail_msg("case %zu \"%s\": got \"%s\"", i, env_cases[i].arg, a);
        free(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_max_bound),
        cmocka_unit_test(test_first),
        cmocka_unit_test(test_envelope),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
