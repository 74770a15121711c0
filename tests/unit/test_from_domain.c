/*
 * test_from_domain.c - the candidate author domains of RFC5322.From.
 *
 * One table row per case of the outcome table in auth/from_domain.h
 * (flags exactly, candidates in order), then hostile input: thousands of
 * mailboxes, too many domains, deep comments, long junk, fields cut at
 * FROM_VALUE_MAX, and random bytes under ASan.
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
#define N FROM_DOMAIN_ENCODED
#define B FROM_DOMAIN_BIDI

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
    {{"a@b.example (ceo@victim.example)"}, 0, {"b.example"}},
    {{"(c) <a@b.example>"}, 0, {"b.example"}},
    {{"(nested (comment \\) here)) a@b.example"}, 0, {"b.example"}},
    {{"(x@evil.example) <a@b.example>"}, 0, {"b.example"}},
    {{"\"ceo@victim.example\" <a@b.example>"}, 0, {"b.example"}},
    {{"\"someone@gmail.example via Helpdesk\" <support@b.example>"}, 0, {"b.example"}},
    {{"a(c)@b.example"}, 0, {"b.example"}},
    {{"Name <a(c)@b.example>"}, 0, {"b.example"}},
    {{"j@b.example (j@y.example), k@b.example"}, 0, {"b.example"}},
    {{"Name <j@b.example> (j@y.example)"}, 0, {"b.example"}},
    /* a comment inside an address: with an '@', or anywhere in the domain */
    {{"a(c)@(d)b.example"}, S, {"b.example"}},
    {{"ceo@(victim.example)b.example"}, S, {"b.example"}},
    {{"a@b(c).example"}, S, {"b.example"}},
    {{"ceo(ceo@victim.example)@b.example"}, S | M, {"victim.example", "b.example"}},
    {{"ceo.(x@victim.example)y@b.example"}, S | M, {"victim.example", "b.example"}},
    {{"ceo(x\\@victim.example)@b.example"}, S | M, {"victim.example", "b.example"}},
    {{"<(ceo@victim.example)ceo@b.example>"}, S | M, {"victim.example", "b.example"}},
    {{"<ceo@b.example (ceo@victim.example)>"}, S | M, {"b.example", "victim.example"}},
    {{"X <ceo(ceo@victim.example)@b.example>"}, S | M, {"victim.example", "b.example"}},
    {{"a@b . example"}, 0, {"b.example"}},
    /* encoded-word display names: atoms, never decoded */
    {{"=?utf-8?q?J=C3=B6rg?= <a@b.example>"}, 0, {"b.example"}},
    {{"=?UTF-8?B?w6lsw6g=?= <e@b.example>"}, 0, {"b.example"}},
    {{"=?utf-8?q?ceo=40victim.example?= <x@attacker.example>"}, 0, {"attacker.example"}},
    {{"Dr. J. Smith <a@b.example>"}, 0, {"b.example"}},
    /* encoded-words where the address is: decoded to find what a reader shows */
    {{"=?utf-8?b?Y2VvQHZpY3RpbS5leGFtcGxl?="}, S | N, {"victim.example"}},
    {{"=?UTF-8?Q?ceo=40victim.example?="}, S | N, {"victim.example"}},
    {{"<=?utf-8?q?ceo=40victim.example?=>"}, S | N, {"victim.example"}},
    {{"CEO <=?utf-8?q?ceo=40victim.example?=>"}, S | N, {"victim.example"}},
    {{"=?utf-16be?b?AGMAZQBvAEAAdgBpAGMAdABpAG0ALgBlAHgAYQBtAHAAbABl?="},
     S | N,
     {"victim.example"}},
    {{"=?utf-8?q?ceo=40victim.example?=@attacker.example"},
     N | M,
     {"attacker.example", "victim.example"}},
    {{"X <=?utf-8?q?ceo=40victim.example?=@attacker.example>"},
     N | M,
     {"attacker.example", "victim.example"}},
    {{"\"=?utf-8?q?ceo=40victim.example?=\"@attacker.example"},
     N | M,
     {"attacker.example", "victim.example"}},
    {{"=?utf-8?q?ceo?=@victim.example"}, N, {"victim.example"}},
    {{"=?utf-8?q?ceo?= =?utf-8?q?=40victim.example?=@attacker.example"},
     S | N | M,
     {"attacker.example", "victim.example"}},
    {{"ceo@=?utf-8?q?victim.example?="}, S | I | N, {"victim.example"}},
    /* an encoded-word that is no address decodes to nothing worse */
    {{"=?utf-8?q?J=C3=B6rg?= <a@b.example"}, S, {"b.example"}},
    {{"=?utf-8?q?no_address?="}, S | E, {NULL}},
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
    /* ... whatever follows it: odd bytes after the '@' are skipped to the name */
    {{"\"ceo@\"@b.example"}, Q, {"b.example"}},
    {{"\"ceo@\x7fvictim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@\x01victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@\x1fvictim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@\xc2\xa0victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@\xe3\x80\x80victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@\xe2\x80\x83victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@\\\"victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@<victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@,victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@;victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@:victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@]victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@.victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@ victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo@(x)victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"\"a\" <\"ceo@\x7fvictim.example\"@b.example>"}, Q | M, {"b.example", "victim.example"}},
    {{"\"ceo\\@victim.example\"@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"ceo.\"x@victim.example\".y@b.example"}, Q | M, {"b.example", "victim.example"}},
    /* a look-alike '@' (U+FF20, U+FE6B) in a local-part */
    {{"ceo\xef\xbc\xa0victim.example@b.example"}, Q | M, {"b.example", "victim.example"}},
    {{"ceo\xef\xb9\xabvictim.example@b.example"}, Q | M, {"b.example", "victim.example"}},
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
    {{"<@a.example,@c.example:ceo@victim.example>"},
     S | M,
     {"a.example", "c.example", "victim.example"}},
    /* a domain ends at Unicode white space or an invisible character */
    {{"ceo@victim.example\xc2\xa0"}, S, {"victim.example"}},
    {{"CEO <ceo@victim.example\xc2\xa0>"}, S, {"victim.example"}},
    /* ...and UTS #46 maps a zero-width space to nothing: the name is read as shown */
    {{"ceo@victim.example\xe2\x80\x8b"}, 0, {"victim.example"}},
    {{"ceo@victim.example\xef\xbb\xbf <a@b.example>"}, S | M, {"victim.example", "b.example"}},
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
    /* a name in a domain literal is what a reader shows */
    {{"ceo@[victim.example]"}, I, {"victim.example"}},
    {{"CEO <ceo@[ victim.example ]>"}, I, {"victim.example"}},
    {{"ceo@[victim.example"}, S | I, {"victim.example"}},
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
    /* a quoted-pair after the '@' in a quoted local-part: a reader shows it unescaped */
    {{"\"ceo@\\victim.example\"@attacker.example"}, Q | M, {"attacker.example", "victim.example"}},
    {{"\"CEO\" <\"ceo@\\victim.example\"@attacker.example>"},
     Q | M,
     {"attacker.example", "victim.example"}},
    {{"\"ceo@victim\\.example\"@attacker.example"}, Q | M, {"attacker.example", "victim.example"}},
    {{"\"ceo@vic\\tim.exa\\mple\"@attacker.example"},
     Q | M,
     {"attacker.example", "victim.example"}},
    /* invisible characters in a quoted '@domain': read as the addr-spec path (IDNA) reads them */
    {{"\"ceo@\xe2\x80\x8bvictim.example\"@attacker.example"}, /* U+200B */
     Q | M,
     {"attacker.example", "victim.example"}},
    {{"\"ceo@vic\xc2\xadtim.example\"@attacker.example"}, /* U+00AD */
     Q | M,
     {"attacker.example", "victim.example"}},
    {{"\"ceo@vic\xe2\x81\xa0tim.example\"@attacker.example"}, /* U+2060 */
     Q | M,
     {"attacker.example", "victim.example"}},
    {{"\"ceo@victim.exa\xef\xb8\x8fmple\"@attacker.example"}, /* U+FE0F */
     Q | M,
     {"attacker.example", "victim.example"}},
    /* ... and where IDNA refuses the name, as a reader shows it: without them */
    {{"\"ceo@vic\xe2\x80\x8etim.example\"@attacker.example"}, /* U+200E */
     Q | M | I,
     {"attacker.example", "victim.example"}},
    {{"\"ceo@vic\xe2\x80\x8dtim.example\"@attacker.example"}, /* U+200D */
     Q | M | I,
     {"attacker.example", "victim.example"}},
    {{"\"ceo@\xef\xbb\xbfvictim.example\"@attacker.example"}, /* U+FEFF */
     Q | M,
     {"attacker.example", "victim.example"}},
    /* the addr-spec path itself */
    {{"a@vic\xc2\xadtim.example"}, 0, {"victim.example"}},
    {{"a@vic\xe2\x80\x8etim.example"}, S | I, {"victim.example"}},
    /* CFWS after the '@' and around dots of a malformed field */
    {{"<ceo@ victim.example"}, S, {"victim.example"}},
    {{"<ceo@\r\n victim.example"}, S, {"victim.example"}},
    {{"ceo@(x)victim.example>"}, S, {"victim.example"}},
    {{"ceo@ (x) victim.example>"}, S, {"victim.example"}},
    {{"<ceo@victim . example"}, S, {"victim.example"}},
    {{"<ceo@victim.\r\n\t(c) example"}, S, {"victim.example"}},
    {{"<ceo@victim (c) example"}, S, {"victim"}},
    {{"<ceo@[ victim.example"}, S | I, {"victim.example"}},
    /* a comment holding an '@' is not skipped: that '@' is read on its own */
    {{"<ceo@(a@b.example) victim.example"}, S, {"b.example"}},
    /* bidi overrides: bad; the logical and the displayed (reversed) domain */
    {{"ceo@\xe2\x80\xae"
      "elpmaxe.mitciv"},
     S | I | M | B,
     {"elpmaxe.mitciv", "victim.example"}},
    {{"\xe2\x80\xae"
      "elpmaxe.mitciv@oec"},
     M | B,
     {"oec", "victim.example"}},
    {{"CEO <ceo@\xe2\x80\xae"
      "elpmaxe.mitciv\xe2\x80\xac>"},
     S | I | M | B,
     {"elpmaxe.mitciv", "victim.example"}},
    {{"\"\xe2\x80\xae\" <a@b.example>"}, M | B, {"b.example", "a"}},
    {{"=?utf-8?q?=E2=80=AE?= <a@b.example>"}, M | B, {"b.example", "a"}},
    {{"a@b.example (\xe2\x81\xa7x\xe2\x81\xa9)"}, B, {"b.example"}},
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

/* test_clean - which analyses DMARC can evaluate as usual */
static void test_clean(void **state)
{
    struct from_domains fd;
    const char *one[] = {"a@b.example"}, *group[] = {"undisclosed:;"},
               *two[] = {"a@b.example", "a@b.example"};
    const char *enc[] = {"=?utf-8?q?ceo=40victim.example?=@b.example"}, *syn[] = {"<a@b.example"};
    const char *quoted[] = {"\"x@b.example\"@b.example"};

    (void)state;
    from_domain_analyze(one, 1, &fd);
    assert_true(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_int_equal(fd.nmailboxes, 1);
    assert_null(from_domain_problem(fd.flags));
    from_domain_analyze(group, 1, &fd);
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_string_equal(from_domain_problem(fd.flags), "From field without a mailbox");
    from_domain_analyze(NULL, 0, &fd);
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_string_equal(from_domain_problem(fd.flags), "no From field");
    from_domain_analyze(enc, 1, &fd);
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_string_equal(from_domain_problem(fd.flags), "encoded-word in a From address");
    from_domain_analyze(syn, 1, &fd);
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    /* an '@' in a local-part: bad, whatever domain follows it */
    from_domain_analyze(quoted, 1, &fd);
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_string_equal(from_domain_problem(fd.flags), "'@' inside a From local-part");
    /* two identical From fields: clean unless FIELDS is counted as bad */
    from_domain_analyze(two, 2, &fd);
    assert_true(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD | FROM_DOMAIN_FIELDS));
}

/* Everyday From shapes: clean, one domain (the outbound stage signs them). */
static const struct {
    const char *from, *domain;
} everyday[] = {
    {"j@x.example", "x.example"},
    {"John Doe <j@x.example>", "x.example"},
    {"\"Doe, John\" <j@x.example>", "x.example"},
    {"\"Doe, John (Sales)\" <j@x.example>", "x.example"},
    {"=?utf-8?q?Doe=2C_J=C3=B6rg?= <j@x.example>", "x.example"},
    {"=?UTF-8?B?w6lsw6g=?= <e@x.example>", "x.example"},
    {"j@x.example (John)", "x.example"},
    {"j@x.example (j@y.example)", "x.example"},
    {"John (Sales) <j@x.example>", "x.example"},
    {"<john@EXAMPLE.org>", "example.org"},
    {"john@example.org.", "example.org"},
    {"J\xc3\xb6rg M\xc3\xbcller <j@x.example>", "x.example"},
    {"j@m\xc3\xbcnchen.example", "xn--mnchen-3ya.example"},
    {"Team: j@x.example, k@x.example;", "x.example"},
    {"\"j@example.org\" <j@example.org>", "example.org"},
    {"\"j@example.org via Helpdesk\" <help@x.example>", "x.example"},
    {"John Doe <john.doe+tag@mail.x.example>", "mail.x.example"},
    {"\"John Doe\" <\"john doe\"@x.example>", "x.example"},
    {"o'brien@x.example", "x.example"},
    {"\"J.\" <j@x.example>", "x.example"},
    {"j@x.example, k@x.example", "x.example"},
    {"\"\" <j@x.example>", "x.example"},
    {"  John\r\n\t<j@x.example>  ", "x.example"},
};

/* test_everyday - common shapes stay clean with their one domain */
static void test_everyday(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(everyday) / sizeof(everyday[0]); i++) {
        struct from_domains fd;
        const char *v[1] = {everyday[i].from};

        from_domain_analyze(v, 1, &fd);
        if (!from_domain_clean(&fd, FROM_DOMAIN_BAD) || fd.n != 1 ||
            strcmp(fd.domain[0], everyday[i].domain) != 0)
            fail_msg("\"%s\": flags 0x%x, %zu domains (%s)", everyday[i].from, fd.flags, fd.n,
                     fd.n ? fd.domain[0] : "-");
    }
}

/* test_many_mailboxes - 1800 mailboxes of two domains (up to FROM_VALUE_MAX): linear, exact */
static void test_many_mailboxes(void **state)
{
    struct buf b = BUF_INIT;
    struct from_domains fd;
    const char *v[1];

    (void)state;
    for (int i = 0; i < 1800; i++)
        buf_printf(&b, "%s\"user %d\" <u%d@%s.example>", i ? ", " : "", i, i, i % 2 ? "b" : "a");
    assert_true(b.len <= FROM_VALUE_MAX);
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_MULTI);
    assert_int_equal(fd.nmailboxes, 1800);
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
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_string_equal(from_domain_problem(fd.flags), "too many From domains");

    /* the same through salvage (an unbalanced '<' first) */
    buf_reset(&b);
    buf_puts(&b, "<");
    for (int i = 0; i < 3000; i++)
        buf_printf(&b, " u@d%d.example", i);
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_true(fd.flags & FROM_DOMAIN_TOO_MANY);
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));

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
    /* 30000 nested comments (all a field may have: FROM_VALUE_MAX), then an address */
    for (int i = 0; i < 30000; i++)
        buf_putc(&b, '(');
    for (int i = 0; i < 30000; i++)
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

    /* a 300-octet domain is no name; a 60 KB atom is just an atom */
    buf_reset(&b);
    buf_puts(&b, "a@");
    for (int i = 0; i < 60; i++)
        buf_puts(&b, "abcd.");
    buf_puts(&b, "example");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_SYNTAX | FROM_DOMAIN_INVALID | FROM_DOMAIN_EMPTY);

    buf_reset(&b);
    for (int i = 0; i < 60000; i++)
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

/* fws_pad - n bytes of folded white space (lines of 900 spaces) into b */
static void fws_pad(struct buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_putc(b, (i % 902 == 900) ? '\r' : (i % 902 == 901) ? '\n' : ' ');
}

/* test_cut - a field longer than FROM_VALUE_MAX is never clean, whatever its start holds */
static void test_cut(void **state)
{
    struct buf b = BUF_INIT;
    struct from_domains fd;
    const char *v[1];

    (void)state;
    /* the cut falls inside the domain: what is left is read, and the field is bad */
    fws_pad(&b, FROM_VALUE_MAX - 12);
    buf_puts(&b, "ceo@victim.example");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_CUT);
    assert_int_equal(fd.n, 1);
    assert_string_equal(fd.domain[0], "victim.e");
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));
    assert_string_equal(from_domain_problem(fd.flags), "From field too long");

    /* exactly FROM_VALUE_MAX bytes: read whole, clean */
    buf_reset(&b);
    fws_pad(&b, FROM_VALUE_MAX - 18);
    buf_puts(&b, "ceo@victim.example");
    assert_int_equal(b.len, FROM_VALUE_MAX);
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, 0);
    assert_string_equal(fd.domain[0], "victim.example");

    /* a well-formed start, the address a reader also shows after the cut */
    buf_reset(&b);
    buf_puts(&b, "x@attacker.example");
    for (int i = 0; i < 65530; i++)
        buf_putc(&b, ',');
    buf_puts(&b, " CEO <ceo@victim.example>");
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_CUT);
    assert_int_equal(fd.n, 1);
    assert_string_equal(fd.domain[0], "attacker.example");
    assert_false(from_domain_clean(&fd, FROM_DOMAIN_BAD));

    /* every "@domain" of the part kept counts, display names too */
    buf_reset(&b);
    buf_puts(&b, "\"ceo@victim.example\" <x@attacker.example>");
    fws_pad(&b, FROM_VALUE_MAX);
    v[0] = buf_cstr(&b);
    from_domain_analyze(v, 1, &fd);
    assert_int_equal(fd.flags, FROM_DOMAIN_CUT | FROM_DOMAIN_MULTI);
    assert_string_equal(fd.domain[0], "victim.example");
    assert_string_equal(fd.domain[1], "attacker.example");
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
        cmocka_unit_test(test_table),    cmocka_unit_test(test_clean),
        cmocka_unit_test(test_everyday), cmocka_unit_test(test_many_mailboxes),
        cmocka_unit_test(test_too_many), cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_random),   cmocka_unit_test(test_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
