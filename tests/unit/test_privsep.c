/*
 * test_privsep.c - what root's privsep parent does for a child that a
 * hostile database took over (cli/privsep_policy.c): only the key files
 * the command line is about, as keygen names them, one key made and only
 * that one deleted again, a named file deleted only for remove
 * --delete-file, nothing for commands that need no key file, and at most
 * PRIVSEP_MAX_REQUESTS requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "privsep_policy.h"

#define MADE 2 /* ok, and the parent made it (privsep_made) */

struct req {
    enum privsep_op op;
    const char *name;
    int ok; /* 0 refused, 1 allowed, MADE allowed and made */
};

struct scope_case {
    const char *argv[8]; /* as main() hands the command on; NULL-terminated */
    struct req reqs[12]; /* asked in this order; op 0 ends */
};

#define ACTIVE "example.org.s20261207.key"

static const struct scope_case cases[] = {
    /* keygen: the domain's key file names; one key; only the one made deleted again */
    {{"dkim", "keygen", "example.org"},
     {{PRIVSEP_DIR, "", 1},
      {PRIVSEP_EXISTS, "example.org.s20261208.key", 1},
      {PRIVSEP_REMOVE, ACTIVE, 0}, /* the active key: not this command's */
      {PRIVSEP_CREATE, "-", 0},
      {PRIVSEP_CREATE, "postmeter.conf", 0},
      {PRIVSEP_CREATE, "a\nb", 0},
      {PRIVSEP_CREATE, " ", 0},
      {PRIVSEP_CREATE, "other.org.s1.key", 0},
      {PRIVSEP_CREATE, "example.org..key", 0},
      {PRIVSEP_CREATE, "example.org.s20261208.key", MADE},
      {PRIVSEP_CREATE, "example.org.s20261208-2.key", 0}, /* one key per command */
      {PRIVSEP_REMOVE, "example.org.s20261208.key", 1}}},
    {{"dkim", "keygen", "example.org"},
     {{PRIVSEP_CREATE, "example.org.s1.key", 1}, /* failed: not made */
      {PRIVSEP_REMOVE, "example.org.s1.key", 0},
      {PRIVSEP_PUBLIC, "example.org.s1.key", 0}}},
    {{"dkim", "keygen", "example.org", "--selector", "Sel1"},
     {{PRIVSEP_EXISTS, "example.org.s2.key", 0},
      {PRIVSEP_CREATE, "example.org.s2.key", 0},
      {PRIVSEP_CREATE, "example.org.sel1.key", MADE},
      {PRIVSEP_REMOVE, "example.org.sel1.key", 1},
      {PRIVSEP_REMOVE, "example.org.sel1.key", 0}}},
    /* read as getopt_long reads it: an abbreviated option, options first */
    {{"dkim", "keygen", "--sel", "abc", "Example.ORG."},
     {{PRIVSEP_CREATE, "example.org.s1.key", 0}, {PRIVSEP_CREATE, "example.org.abc.key", 1}}},
    {{"dkim", "rotate", "example.org", "--algorithm", "ed25519"},
     {{PRIVSEP_DIR, "", 1},
      {PRIVSEP_CREATE, "example.org.e20261208.key", MADE},
      {PRIVSEP_REMOVE, ACTIVE, 0},
      {PRIVSEP_REMOVE, "example.org.e20261208.key", 1}}},
    /* rotate --activate, dns: public halves of the domain's keys only */
    {{"dkim", "rotate", "example.org", "--activate"},
     {{PRIVSEP_PUBLIC, "example.org.s1.key", 1},
      {PRIVSEP_PUBLIC, "other.org.s1.key", 0},
      {PRIVSEP_CREATE, "example.org.s2.key", 0},
      {PRIVSEP_REMOVE, ACTIVE, 0},
      {PRIVSEP_DIR, "", 0}}},
    {{"dkim", "rotate", "example.org", "--activate", "s2"},
     {{PRIVSEP_PUBLIC, "example.org.s1.key", 0}, {PRIVSEP_PUBLIC, "example.org.s2.key", 1}}},
    {{"dns", "example.org", "--mx", "mail.example.net", "--check"},
     {{PRIVSEP_PUBLIC, ACTIVE, 1},
      {PRIVSEP_PUBLIC, "mail.example.net.s1.key", 0},
      {PRIVSEP_REMOVE, ACTIVE, 0},
      {PRIVSEP_CREATE, "example.org.s9.key", 0}}},
    {{"dns", "--mx", "example.org", "other.org"},
     {{PRIVSEP_PUBLIC, ACTIVE, 0}, {PRIVSEP_PUBLIC, "other.org.s1.key", 1}}},
    /* remove: the file of DOMAIN SELECTOR on the command line, with --delete-file only */
    {{"dkim", "remove", "example.org", "S1", "--delete-file"},
     {{PRIVSEP_REMOVE, ACTIVE, 0},
      {PRIVSEP_REMOVE, "other.org.s1.key", 0},
      {PRIVSEP_CREATE, "example.org.s1.key", 0},
      {PRIVSEP_REMOVE, "example.org.s1.key", 1},
      {PRIVSEP_REMOVE, "example.org.s1.key", 0}}},
    {{"dkim", "remove", "example.org", "s20261207"},
     {{PRIVSEP_REMOVE, ACTIVE, 0}, {PRIVSEP_PUBLIC, ACTIVE, 0}}},
    /* commands that need no key file, and ones that do not parse: nothing */
    {{"dkim", "list"}, {{PRIVSEP_DIR, "", 0}, {PRIVSEP_PUBLIC, ACTIVE, 0}}},
    {{"report", "messages"}, {{PRIVSEP_DIR, "", 0}, {PRIVSEP_REMOVE, ACTIVE, 0}}},
    {{"db", "migrate"}, {{PRIVSEP_CREATE, ACTIVE, 0}}},
    {{"dkim", "keygen", "../etc"}, {{PRIVSEP_DIR, "", 0}, {PRIVSEP_CREATE, "..key", 0}}},
    {{"dkim", "keygen", "example.org", "--bogus"}, {{PRIVSEP_CREATE, ACTIVE, 0}}},
    {{"dkim", "keygen", "example.org", "other.org"}, {{PRIVSEP_CREATE, ACTIVE, 0}}},
    {{"dkim", "keygen", "example.org", "--selector", "a/b"},
     {{PRIVSEP_CREATE, "example.org.a.key", 0}}},
    {{"dkim", "remove", "example.org", "--delete-file"}, {{PRIVSEP_REMOVE, ACTIVE, 0}}},
};

/* Every request of every case: allowed or refused as the table says. */
static void test_scope_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct scope_case *t = &cases[i];
        char *argv[8] = {0};
        struct privsep_scope sc;
        int argc = 0;

        while (t->argv[argc] != NULL) {
            argv[argc] = (char *)t->argv[argc];
            argc++;
        }
        privsep_scope_of(argc, argv, &sc);
        for (size_t j = 0; j < 12 && t->reqs[j].op != 0; j++) {
            const struct req *r = &t->reqs[j];
            const char *why = privsep_allow(&sc, r->op, r->name);

            if ((why == NULL) != (r->ok != 0))
                fail_msg("case %zu (%s %s), request %zu (op %d, \"%s\"): %s, want %s", i,
                         t->argv[0], t->argv[1], j, (int)r->op, r->name, why ? why : "allowed",
                         r->ok ? "allowed" : "refused");
            if (r->ok == MADE)
                privsep_made(&sc, r->name);
        }
    }
}

/* The cap: keygen's free-name search fits, a flood does not. */
static void test_request_cap(void **state)
{
    char *argv[] = {"dkim", "keygen", "example.org", NULL};
    struct privsep_scope sc;
    char name[64];

    (void)state;
    assert_true(PRIVSEP_MAX_REQUESTS >= 100 + 3); /* 100 names (dkim_keys.c), dir, key, clean-up */
    privsep_scope_of(3, argv, &sc);
    for (int i = 0; i < PRIVSEP_MAX_REQUESTS; i++) {
        snprintf(name, sizeof(name), "example.org.s%d.key", i);
        assert_null(privsep_allow(&sc, PRIVSEP_EXISTS, name));
    }
    assert_non_null(privsep_allow(&sc, PRIVSEP_EXISTS, "example.org.x.key"));
    assert_non_null(privsep_allow(&sc, PRIVSEP_CREATE, "example.org.x.key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_table),
        cmocka_unit_test(test_request_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
