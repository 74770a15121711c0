/*
 * test_from_domain.c - the candidate author domains of RFC5322.From.
 *
 * One table row per case of the outcome table in auth/from_domain.h
 * (flags exactly, candidates in order), then hostile input: thousands of
 * mailboxes, too many domains, deep comments, long junk, and random
 * bytes under ASan.
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
#include "from_domain.h"

#define A FROM_DOMAIN_ABSENT
#define F FROM_DOMAIN_FIELDS
#define S FROM_DOMAIN_SYNTAX
#define M FROM_DOMAIN_MULTI
#define G FROM_DOMAIN_GROUP
#define Q FROM_DOMAIN_QUOTED
#define I FROM_DOMAIN_INVALID
#define E FROM_DOMAIN_EMPTY

struct from_case {
    const char *fields[3]; /* NULL-terminated; none = no From field */
    unsigned flags;
    const char *domains[5]; /* NULL-terminated, in order */
};

static const struct from_case cases[] = {
    /* no From header */
    {{NULL}, A, {NULL}},
    /* plain forms */
    {{"a@b.example"}, 0, {"b.example"}},
    {{"  a@b.example\r\n "}, 0, {"b.example"}},
    {{"John Doe <jd@b.example>"}, 0, {"b.example"}},
    {{"\"Doe, John\" <jd@b.example>"}, 0, {"b.example"}},
    {{"\"Doe, John\"\r\n\t<jd@b.example>"}, 0, {"b.example"}},
    /* upper case, trailing dot */
    {{"A@B.EXAMPLE"}, 0, {"b.example"}},
    {{"Someone <X@Sub.Example.COM.>"}, 0, {"sub.example.com"}},
    {{"a@example.com."}, 0, {"example.com"}},
    /* comments */
    {{"a@b.example (comment)"}, 0, {"b.example"}},
    {{"(c) <a@b.example>"}, 0, {"b.example"}},
    {{"(nested (comment \\) here)) a@b.example"}, 0, {"b.example"}},
    {{"(x@evil.example) <a@b.example>"}, 0, {"b.example"}},
    {{"\"ceo@victim.example\" <a@b.example>"}, 0, {"b.example"}},
    {{"\"someone@gmail.example via Helpdesk\" <support@b.example>"}, 0, {"b.example"}},
    {{"a(c)@(d)b.example"}, 0, {"b.example"}},
    {{"a@b . example"}, 0, {"b.example"}},
    /* encoded-word display names: atoms, never decoded */
    {{"=?utf-8?q?J=C3=B6rg?= <a@b.example>"}, 0, {"b.example"}},
    {{"=?UTF-8?B?w6lsw6g=?= <e@b.example>"}, 0, {"b.example"}},
    {{"=?utf-8?q?ceo=40victim.example?= <x@attacker.example>"}, 0, {"attacker.example"}},
    {{"Dr. J. Smith <a@b.example>"}, 0, {"b.example"}},
    /* two addresses in one From */
    {{"a@b.example, c@b.example"}, 0, {"b.example"}},
    {{"a@b.example, C <c@B.example>"}, 0, {"b.example"}},
    {{"a@b.example, c@d.example"}, M, {"b.example", "d.example"}},
    {{"a@b.example,,c@d.example,"}, M, {"b.example", "d.example"}},
    /* groups */
    {{"Group: a@b.example, c@d.example;"}, G | M, {"b.example", "d.example"}},
    {{"undisclosed:;"}, G | E, {NULL}},
    {{"undisclosed-recipients: ;"}, G | E, {NULL}},
    {{"G: a@b.example;, x@b.example"}, G, {"b.example"}},
    {{"Group: a@b.example"}, S, {"b.example"}},
    {{"A: B: a@b.example;;"}, S, {"b.example"}},
    {{": a@b.example;"}, S, {"b.example"}},
    /* two From fields */
    {{"a@b.example", "c@d.example"}, F | M, {"b.example", "d.example"}},
    {{"a@b.example", "a@b.example"}, F, {"b.example"}},
    {{"a@b.example", ""}, F | E, {"b.example"}},
    {{"<a@b.example", "c@d.example"}, F | S | M, {"b.example", "d.example"}},
    /* an '@' inside a quoted local-part */
    {{"\"x <a@junk.example>\"@victim.example"}, Q | M, {"victim.example", "junk.example"}},
    {{"\"x <ceo@victim.example>\"@attacker.example"},
     Q | M,
     {"attacker.example", "victim.example"}},
    {{"Name <\"a@victim.example\"@attacker.example>"},
     Q | M,
     {"attacker.example", "victim.example"}},
    {{"\"a b\"@b.example"}, 0, {"b.example"}},
    {{"\"x@b.example\"@b.example"}, Q, {"b.example"}},
    /* unbalanced < > and other syntax errors: salvaged */
    {{"<a@b.example"}, S, {"b.example"}},
    {{"a@b.example>"}, S, {"b.example"}},
    {{"Name <a@b.example"}, S, {"b.example"}},
    {{"<<a@b.example>>"}, S, {"b.example"}},
    {{"Name a@b.example>"}, S, {"b.example"}},
    {{"info@b.example <info@b.example>"}, S, {"b.example"}},
    {{"x@y.example <a@b.example>"}, S | M, {"y.example", "b.example"}},
    {{"Victim <ceo@victim.example> (unterminated"}, S, {"victim.example"}},
    {{"\"unterminated <ceo@victim.example>"}, S, {"victim.example"}},
    {{"<@route.example:a@b.example>"}, S | M, {"route.example", "b.example"}},
    {{"a@b.example c@d.example"}, S | M, {"b.example", "d.example"}},
    {{"a@b@c.example"}, S | M, {"b", "c.example"}},
    {{"John Doe"}, S | E, {NULL}},
    {{""}, E, {NULL}},
    {{"(only a comment)"}, E, {NULL}},
    {{"   "}, E, {NULL}},
    /* literals and names that are no names */
    {{"a@[192.0.2.1]"}, I | E, {NULL}},
    {{"a@[IPv6:2001:db8::1]"}, I | E, {NULL}},
    {{"a@192.0.2.1"}, I | E, {NULL}},
    {{"a@[192.0.2.1], c@d.example"}, I, {"d.example"}},
    {{"a@bad..example"}, S | I | E, {NULL}},
    {{"a@victim.example!"}, S | I, {"victim.example"}},
    {{"a@x.example..."}, S, {"x.example"}},
    {{"a@b.example, c@[1.2.3.4"}, S | I, {"b.example"}},
    /* IDN: U-labels become A-labels */
    {{"a@münchen.example"}, 0, {"xn--mnchen-3ya.example"}},
    {{"a@MÜNCHEN.example"}, 0, {"xn--mnchen-3ya.example"}},
    {{"a@xn--mnchen-3ya.example, b@münchen.example"}, 0, {"xn--mnchen-3ya.example"}},
    {{"Jörg <jörg@bücher.example>"}, 0, {"xn--bcher-kva.example"}},
    {{"a@b\xff.example"}, S | I | E, {NULL}},
};

/* check_case - run one table row */
static void check_case(size_t i, const struct from_case *c)
{
    struct from_domains fd;
    size_t nfields = 0, want = 0;

    while (nfields < 3 && c->fields[nfields])
        nfields++;
    while (c->domains[want])
        want++;
    from_domain_analyze(c->fields, nfields, &fd);
    if (fd.flags != c->flags)
        fail_msg("case %zu \"%s\": flags 0x%x, want 0x%x", i, c->fields[0] ? c->fields[0] : "-",
                 fd.flags, c->flags);
    if (fd.n != want)
        fail_msg("case %zu \"%s\": %zu domains, want %zu", i, c->fields[0] ? c->fields[0] : "-",
                 fd.n, want);
    for (size_t j = 0; j < want; j++)
        if (strcmp(fd.domain[j], c->domains[j]) != 0)
            fail_msg("case %zu: domain %zu is \"%s\", want \"%s\"", i, j, fd.domain[j],
                     c->domains[j]);
    assert_int_equal(fd.nfields, nfields);
}

/* test_table - every row of the outcome table */
static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(i, &cases[i]);
}

/* test_usable - which analyses DMARC can evaluate */
static void test_usable(void **state)
{
    struct from_domains fd;
    const char *one[] = {"a@b.example"}, *group[] = {"undisclosed:;"};

    (void)state;
    from_domain_analyze(one, 1, &fd);
    assert_true(from_domain_usable(&fd));
    assert_int_equal(fd.nmailboxes, 1);
    assert_null(from_domain_problem(fd.flags));
    from_domain_analyze(group, 1, &fd);
    assert_false(from_domain_usable(&fd));
    assert_string_equal(from_domain_problem(fd.flags), "From field without a mailbox");
    from_domain_analyze(NULL, 0, &fd);
    assert_false(from_domain_usable(&fd));
    assert_string_equal(from_domain_problem(fd.flags), "no From field");
}

/* test_many_mailboxes - 5000 mailboxes of two domains: linear, exact */
static void test_many_mailboxes(void **state)
{
    struct buf b = BUF_INIT;
    struct from_domains fd;
    const char *v[1];

    (void)state;
    for (int i = 0; i < 5000; i++)
        buf_printf(&b, "%s\"user %d\" <u%d@%s.example>", i ? ", " : "", i, i, i % 2 ? "b" : "a");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_MULTI);
    assert_int_equal(fd.nmailboxes, 5000);
    assert_int_equal(fd.n, 2);
    assert_string_equal(fd.domain[0], "a.example");
    assert_string_equal(fd.domain[1], "b.example");
    buf_free(&b);
}

/* test_too_many - more than FROM_DOMAIN_MAX distinct domains: TOO_MANY, unusable */
static void test_too_many(void **state)
{
    struct buf b = BUF_INIT;
    struct from_domains fd;
    const char *v[1];

    (void)state;
    for (int i = 0; i < 3000; i++)
        buf_printf(&b, "%su@d%d.example", i ? "," : "", i);
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_true(fd.flags & FROM_DOMAIN_TOO_MANY);
    assert_true(fd.flags & FROM_DOMAIN_MULTI);
    assert_int_equal(fd.n, FROM_DOMAIN_MAX);
    assert_false(from_domain_usable(&fd));
    assert_string_equal(from_domain_problem(fd.flags), "too many From domains");

    /* the same through salvage (an unbalanced '<' first) */
    buf_reset(&b);
    buf_puts(&b, "<");
    for (int i = 0; i < 3000; i++)
        buf_printf(&b, " u@d%d.example", i);
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_true(fd.flags & FROM_DOMAIN_TOO_MANY);
    assert_false(from_domain_usable(&fd));

    /* and through quoted local-parts */
    buf_reset(&b);
    buf_puts(&b, "\"");
    for (int i = 0; i < 20; i++)
        buf_printf(&b, "x@q%d.example ", i);
    buf_puts(&b, "\"@b.example");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_true(fd.flags & FROM_DOMAIN_TOO_MANY);
    assert_string_equal(fd.domain[0], "b.example");
    buf_free(&b);
}

/* test_hostile - deep comments, huge atoms, long domains: defined, bounded */
static void test_hostile(void **state)
{
    struct buf b = BUF_INIT;
    struct from_domains fd;
    const char *v[1];

    (void)state;
    /* 100000 nested comments, then an address */
    for (int i = 0; i < 100000; i++)
        buf_putc(&b, '(');
    for (int i = 0; i < 100000; i++)
        buf_putc(&b, ')');
    buf_puts(&b, " a@b.example");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, 0);
    assert_string_equal(fd.domain[0], "b.example");

    /* unterminated deep comment: syntax, salvage finds the address inside */
    buf_reset(&b);
    for (int i = 0; i < 50000; i++)
        buf_putc(&b, '(');
    buf_puts(&b, "a@b.example");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_SYNTAX);
    assert_string_equal(fd.domain[0], "b.example");

    /* a 300-octet domain is no name; a 1 MB atom is just an atom */
    buf_reset(&b);
    buf_puts(&b, "a@");
    for (int i = 0; i < 60; i++)
        buf_puts(&b, "abcd.");
    buf_puts(&b, "example");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_SYNTAX | FROM_DOMAIN_INVALID | FROM_DOMAIN_EMPTY);

    buf_reset(&b);
    for (int i = 0; i < 1000000; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, " <a@b.example>");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, 0);
    assert_string_equal(fd.domain[0], "b.example");

    /* a 64-octet label */
    from_domain_analyze(
        (const char *[]){"a@"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         ".example"},
        1, &fd);
    assert_true(fd.flags & FROM_DOMAIN_INVALID);
    assert_int_equal(fd.n, 0);
    buf_free(&b);
}

/* test_random - random bytes from a small alphabet: never crashes, invariants hold */
static void test_random(void **state)
{
    static const char alphabet[] = "a@b.<>\"(),;:[]\\ \t\r\nxyz.-\xc3\xbc=?";
    uint32_t seed = 12345;
    char v[64];

    (void)state;
    for (int round = 0; round < 200000; round++) {
        struct from_domains fd;
        const char *vals[1] = {v};
        size_t len;

        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % (sizeof(v) - 1);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            v[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        v[len] = '\0';
        from_domain_analyze(vals, 1, &fd);
        assert_true(fd.n <= FROM_DOMAIN_MAX);
        /* a domain in the output always comes from an '@' in the input */
        if (fd.n > 0)
            assert_non_null(strchr(v, '@'));
        for (size_t j = 0; j < fd.n; j++)
            assert_true(strlen(fd.domain[j]) > 0 && strlen(fd.domain[j]) <= 253);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),          cmocka_unit_test(test_usable),
        cmocka_unit_test(test_many_mailboxes), cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_hostile),        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
