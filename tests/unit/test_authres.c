/*
 * test_authres.c - Authentication-Results writing and recognition.
 *
 * Golden values for whole headers, quoting of hostile identities (no
 * CR/LF, no unbalanced quotes or parentheses can get through), folding,
 * the authserv-id of received fields (the forgery defence), and the
 * list of forged fields to remove.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "authres.h"
#include "util.h"

/* test_golden - a typical inbound header, byte for byte */
static void test_golden(void **state)
{
    struct authres ar;
    char *v;

    (void)state;
    authres_begin(&ar, "mx.example.test");
    authres_method(&ar, "spf", "pass", NULL);
    authres_prop(&ar, "smtp.mailfrom", "bounce@example.org");
    authres_method(&ar, "dkim", "pass", "2048-bit key");
    authres_prop(&ar, "header.d", "example.org");
    authres_prop(&ar, "header.s", "sel2026");
    authres_prop(&ar, "header.a", "rsa-sha256");
    authres_prop(&ar, "header.b", "abcdEFGH");
    authres_method(&ar, "dmarc", "pass", "p=reject dis=none");
    authres_prop(&ar, "header.from", "example.org");
    v = authres_finish(&ar);
    assert_string_equal(v, "mx.example.test;\n"
                           "\tspf=pass smtp.mailfrom=bounce@example.org;\n"
                           "\tdkim=pass (2048-bit key) header.d=example.org header.s=sel2026\n"
                           "\theader.a=rsa-sha256 header.b=abcdEFGH;\n"
                           "\tdmarc=pass (p=reject dis=none) header.from=example.org");
    free(v);
}

/* test_none - no method at all gives "; none" */
static void test_none(void **state)
{
    struct authres ar;
    char *v;

    (void)state;
    authres_begin(&ar, "mx.example.test");
    v = authres_finish(&ar);
    assert_string_equal(v, "mx.example.test; none");
    free(v);
}

struct value_case {
    const char *in;
    const char *out; /* as it appears after "x=" */
};

/* test_values - tokens and plain addresses stand, the rest is quoted safely */
static void test_values(void **state)
{
    static const struct value_case cases[] = {
        {"example.org", "example.org"},
        {"user@example.org", "user@example.org"},
        {"first.last@sub.example.org", "first.last@sub.example.org"},
        {"@example.org", "@example.org"},
        {"", "\"\""},
        {"a b@example.org", "\"a b@example.org\""},
        {"x\"y@example.org", "\"x\\\"y@example.org\""},
        {"evil\r\nX-Injected: 1", "\"evil??X-Injected: 1\""},
        {"a;dkim=pass", "\"a;dkim=pass\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"..@example.org", "\"..@example.org\""},
        {"a@b@example.org", "\"a@b@example.org\""},
        {"a@exa mple.org", "\"a@exa mple.org\""},
        {"b=abc+/9", "\"b=abc+/9\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct authres ar;
        char *v, *want;

        authres_begin(&ar, "id");
        authres_method(&ar, "m", "r", NULL);
        authres_prop(&ar, "x", cases[i].in);
        v = authres_finish(&ar);
        want = xasprintf("id;\n\tm=r x=%s", cases[i].out);
        if (strcmp(v, want) != 0)
            fail_msg("case %zu: got [%s] want [%s]", i, v, want);
        assert_null(strchr(v + strlen("id;\n\t"), '\r'));
        free(want);
        free(v);
    }
}

/* test_comment_escaped - parentheses, backslashes and controls in comments */
static void test_comment_escaped(void **state)
{
    struct authres ar;
    char *v;

    (void)state;
    authres_begin(&ar, "id");
    authres_method(&ar, "dkim", "fail", "bad (very) \\ sig\n");
    v = authres_finish(&ar);
    assert_string_equal(v, "id;\n\tdkim=fail (bad \\(very\\) \\\\ sig?)");
    free(v);
}

/* test_fold_long - no line passes 78 columns when properties are short */
static void test_fold_long(void **state)
{
    struct authres ar;
    char *v, *line, *save = NULL;

    (void)state;
    authres_begin(&ar, "mx.example.test");
    for (int i = 0; i < 5; i++) {
        authres_method(&ar, "dkim", "pass", NULL);
        authres_prop(&ar, "header.d", "a-rather-long-domain-name.example.org");
        authres_prop(&ar, "header.s", "selector-2026-11-25");
        authres_prop(&ar, "header.a", "ed25519-sha256");
        authres_prop(&ar, "header.b", "ABCDEFGH");
    }
    v = authres_finish(&ar);
    for (line = strtok_r(v, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        assert_true((line[0] == '\t' ? 8 + strlen(line + 1) : strlen(line)) <= 78);
    free(v);
}

/* test_hostile_lengths - no line past 998 octets, whatever the values */
static void test_hostile_lengths(void **state)
{
    char big[4000], *v, *line, *save = NULL;
    struct authres ar;

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    authres_begin(&ar, "mx.example.test");
    authres_method(&ar, "spf", "pass", big);
    authres_prop(&ar, "smtp.mailfrom", big);
    authres_method(&ar, "dkim", "fail", "(((\\\\)))");
    authres_prop(&ar, "header.d", "example.org");
    authres_prop(&ar, "header.s", big);
    big[256] = '\0'; /* exactly at the bound: kept, quoted or not */
    authres_prop(&ar, "header.i", big);
    v = authres_finish(&ar);
    assert_non_null(strstr(v, "header.d=example.org"));
    assert_null(strstr(v, "header.s="));
    assert_null(strstr(v, "smtp.mailfrom="));
    assert_non_null(strstr(v, "header.i="));
    assert_non_null(strstr(v, "...)"));
    for (line = strtok_r(v, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        assert_true(strlen(line) < 998 - 30);
    free(v);
}

struct id_case {
    const char *value;
    const char *id; /* NULL = none */
    bool ours;      /* against "mx.example.test" */
};

/* test_authserv_id - which received fields claim our id */
static void test_authserv_id(void **state)
{
    static const struct id_case cases[] = {
        {"mx.example.test; spf=pass smtp.mailfrom=a@b", "mx.example.test", true},
        {"MX.Example.TEST; none", "MX.Example.TEST", true},
        {" (forged) mx.example.test;dkim=pass", "mx.example.test", true},
        {"mx.example.test 1; none", "mx.example.test", true},
        {"\"mx.example.test\"; none", "mx.example.test", true},
        {"mx.example.test.evil; none", "mx.example.test.evil", false},
        {"other.example; spf=pass", "other.example", false},
        {"(only a comment)", NULL, false},
        {"", NULL, false},
        {"\"unterminated; none", NULL, false},
        {"(nested (comment)) mx.example.test; none", "mx.example.test", true},
        /* forgeries a lax reader may take for ours (the second review): all ours */
        {"mx.example.test.; dkim=pass", "mx.example.test.", true},
        {"MX.EXAMPLE.TEST.; dkim=pass", "MX.EXAMPLE.TEST.", true},
        {"mx(c).example.test; dkim=pass", "mx", true},
        {"mx.example(a (b) c).test; dkim=pass", "mx.example", true},
        {"\"mx.example.test; dkim=pass", NULL, true},
        {"\"mx.example.test.; dkim=pass", NULL, true},
        {"mx.example.test\f; dkim=pass", "mx.example.test", true},
        {"mx.example.test\v; dkim=pass", "mx.example.test", true},
        {"\fmx.example.test; dkim=pass", "mx.example.test", true},
        {"\v (c)\f mx.example.test\v(c); dkim=pass", "mx.example.test", true},
        {" mx.example.test\xc2\xa0; dkim=pass", "mx.example.test\xc2\xa0", true},
        {"\xc2\xa0mx.example.test; dkim=pass", "\xc2\xa0mx.example.test", true},
        {"mx.example.test\xa0; dkim=pass", "mx.example.test\xa0", true},
        {"\r\n mx.example.test; dkim=pass", "mx.example.test", true},
        {"\r\n\tmx.example.test\r\n\t;dkim=pass", "mx.example.test", true},
        {"  mx.example.test ;dkim=pass", "mx.example.test", true},
        {"\"mx.ex\\ample.test\"; dkim=pass", "mx.example.test", true},
        {"\" mx.example.test \"; dkim=pass", " mx.example.test ", true},
        {"\"mx.example.test.\"; dkim=pass", "mx.example.test.", true},
        {"mx.example.\x01test; dkim=pass", "mx.example.\x01test", true},
        {"mx.example.test\x7f; dkim=pass", "mx.example.test\x7f", true},
        {"@mx.example.test; dkim=pass", "@mx.example.test", true},
        /* not ours: another id first, ours only in a comment or further on */
        {"mx.example.test..; dkim=pass", "mx.example.test..", false},
        {"mx.example.testx; dkim=pass", "mx.example.testx", false},
        {"(mx.example.test) other.example; spf=pass", "other.example", false},
        {"other.example; spf=pass (mx.example.test)", "other.example", false},
        {"other.example mx.example.test; spf=pass", "other.example", false},
        {"x.mx.example.test; spf=pass", "x.mx.example.test", false},
        {"(mx.example.test; dkim=pass", NULL, false},
        {".; none", ".", false},
    };

    unsigned bad = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *id = authres_authserv_id(cases[i].value);

        if (cases[i].id == NULL ? id != NULL : id == NULL || strcmp(id, cases[i].id) != 0) {
            print_message("case %zu [%s]: id [%s], want [%s]\n", i, cases[i].value,
                          id ? id : "(none)", cases[i].id ? cases[i].id : "(none)");
            bad++;
        }
        if (authres_is_ours(cases[i].value, "mx.example.test") != cases[i].ours) {
            print_message("case %zu [%s]: ours %d, want %d\n", i, cases[i].value, !cases[i].ours,
                          cases[i].ours);
            bad++;
        }
        free(id);
    }
    if (bad)
        fail_msg("%u mismatch(es)", bad);
}

/*
 * test_list - the forged-field index list keeps every index in order,
 * however many, and grows by doubling (its array never passes twice
 * what it holds, plus the first 8): 300,000 fields cost linear time.
 */
static void test_list(void **state)
{
    static const size_t counts[] = {0, 1, 8, 9, 1000, 300000};

    (void)state;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        struct authres_list l = {0};
        size_t grew = 0;

        for (size_t k = 0; k < counts[i]; k++) {
            size_t cap = l.cap;

            authres_list_add(&l, (unsigned)(3 * k + 1));
            grew += l.cap != cap;
        }
        assert_int_equal(l.n, counts[i]);
        assert_true(l.cap <= 2 * l.n + 8);
        assert_true(grew <= 20); /* 8 * 2^19 > 300,000 */
        for (size_t k = 0; k < l.n; k++)
            if (l.v[k] != 3 * k + 1)
                fail_msg("count %zu: index %zu is %u", counts[i], k, l.v[k]);
        authres_list_free(&l);
        assert_null(l.v);
        assert_int_equal(l.n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),          cmocka_unit_test(test_none),
        cmocka_unit_test(test_values),          cmocka_unit_test(test_comment_escaped),
        cmocka_unit_test(test_fold_long),       cmocka_unit_test(test_authserv_id),
        cmocka_unit_test(test_hostile_lengths), cmocka_unit_test(test_list),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
