/*
 * test_store_keys.c - DKIM keys in the store (schema 003_dkim_keys): put
 * (lower-casing, refusals: duplicate selector, a second active key of
 * one algorithm, empty names, relative key file), list (order, one
 * domain, stopping early, every field back), state changes (a rotation
 * retires the old active key of the same algorithm only, a no-op,
 * unknown keys, leaving retired), remove (unknown, active refused unless
 * asked), the schema's own CHECKs, and algorithm and state names both
 * ways. The DKIM record text helpers (dkim_txt.c) are in
 * test_dkim_txt.c. Table-driven throughout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "store.h"
#include "util.h"
#include "tmpdir_fixture.h"

static char tmpdir[] = "/tmp/pm-test-keys-XXXXXX";
static unsigned db_no;

#define T0 1795000000 /* 2026-11-18T11:06:40Z */

/* fresh_store - a migrated store in a new database file; *path gets its name (static) */
static struct store *fresh_store(const char **path)
{
    static char name[256];
    char err[512] = "";
    struct store *s;

    assert_true(snprintf_ok(name, sizeof(name), "%s/keys-%u.db", tmpdir, ++db_no));
    s = store_open(name, 0, err, sizeof(err));
    if (s == NULL)
        fail_msg("store_open %s: %s", name, err);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    if (path)
        *path = name;
    return s;
}

/* key - a key record for the tables below */
static struct store_dkim_key key(const char *domain, const char *selector, enum store_dkim_alg a,
                                 enum store_dkim_state st, int64_t created)
{
    return (struct store_dkim_key){
        .domain = domain,
        .selector = selector,
        .algorithm = a,
        .bits = a == STORE_DKIM_RSA_SHA256 ? 2048 : 256,
        .key_file = "/etc/postmeter/keys/k.key",
        .state = st,
        .created_at = created,
        .activated_at = st == STORE_DKIM_ACTIVE ? created : 0,
    };
}

#define RSA STORE_DKIM_RSA_SHA256
#define ED  STORE_DKIM_ED25519_SHA256
#define ACT STORE_DKIM_ACTIVE
#define PEN STORE_DKIM_PENDING
#define RET STORE_DKIM_RETIRED

/* Rows every store test starts from (put in this order). */
static const struct {
    const char *domain, *selector;
    enum store_dkim_alg a;
    enum store_dkim_state st;
    int64_t created;
} base_rows[] = {
    {"example.org", "s1", RSA, ACT, T0},      {"example.org", "e1", ED, ACT, T0 + 1},
    {"example.org", "s2", RSA, PEN, T0 + 2},  {"Other.TEST", "S1", RSA, ACT, T0 + 3},
    {"example.org", "s0", RSA, RET, T0 - 10},
};
#define NBASE (sizeof(base_rows) / sizeof(base_rows[0]))

/* base_store - a fresh store holding base_rows */
static struct store *base_store(const char **path)
{
    struct store *s = fresh_store(path);

    for (size_t i = 0; i < NBASE; i++) {
        struct store_dkim_key k = key(base_rows[i].domain, base_rows[i].selector, base_rows[i].a,
                                      base_rows[i].st, base_rows[i].created);

        if (store_put_dkim_key(s, &k) != STORE_OK)
            fail_msg("put %s %s: %s", k.domain, k.selector, store_error(s));
    }
    return s;
}

/* Collected list output: "domain selector algorithm state" per key, joined by '|'. */
struct seen {
    struct buf text;
    size_t n, stop_after;
    struct store_dkim_key last;
    char last_file[256];
};

/* collect - store_list_dkim_keys callback */
static int collect(const struct store_dkim_key *k, void *arg)
{
    struct seen *s = arg;

    buf_printf(&s->text, "%s%s %s %s %s", s->n ? "|" : "", k->domain, k->selector,
               store_dkim_alg_name(k->algorithm), store_dkim_state_name(k->state));
    s->last = *k;
    assert_true(strlcpy_ok(s->last_file, k->key_file, sizeof(s->last_file)));
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

/* listing - the keys of domain (NULL = all) as text; caller frees */
static char *listing(struct store *s, const char *domain)
{
    struct seen seen = {BUF_INIT, 0, 0, {0}, ""};

    if (store_list_dkim_keys(s, domain, collect, &seen) != STORE_OK)
        fail_msg("list: %s", store_error(s));
    return buf_steal(&seen.text);
}

struct put_case {
    const char *name;
    struct store_dkim_key k;
    enum store_status want;
    const char *error; /* part of store_error() when refused */
};

/* test_put - additions accepted and refused, over base_rows */
static void test_put(void **state)
{
    const struct put_case cases[] = {
        {"new pending rsa", key("example.org", "s3", RSA, PEN, T0 + 5), STORE_OK, NULL},
        {"new domain, upper case", key("NEW.Example", "Sel", ED, ACT, T0), STORE_OK, NULL},
        {"retired", key("example.org", "old", RSA, RET, T0), STORE_OK, NULL},
        {"second active rsa", key("example.org", "s9", RSA, ACT, T0), STORE_ERROR,
         "already has an active rsa-sha256 key (selector s1)"},
        {"second active ed25519", key("EXAMPLE.org", "e9", ED, ACT, T0), STORE_ERROR,
         "already has an active ed25519-sha256 key (selector e1)"},
        {"duplicate selector", key("example.org", "s2", ED, PEN, T0), STORE_ERROR,
         "already has a DKIM key with selector s2 (rsa-sha256, pending)"},
        {"duplicate selector, other case", key("other.test", "s1", RSA, RET, T0), STORE_ERROR,
         "already has a DKIM key with selector s1"},
        {"empty domain", key("", "x", RSA, PEN, T0), STORE_ERROR, "empty domain"},
        {"empty selector", key("example.org", "", RSA, PEN, T0), STORE_ERROR, "empty selector"},
    };
    struct store *s = base_store(NULL);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum store_status st = store_put_dkim_key(s, &cases[i].k);

        if (st != cases[i].want)
            fail_msg("%s: status %d (%s)", cases[i].name, st, store_error(s));
        if (cases[i].error && strstr(store_error(s), cases[i].error) == NULL)
            fail_msg("%s: error \"%s\"", cases[i].name, store_error(s));
    }
    /* Field checks that the table cannot express. */
    {
        struct store_dkim_key k = key("example.org", "rel", RSA, PEN, T0);

        k.key_file = "keys/rel.key";
        assert_int_equal(store_put_dkim_key(s, &k), STORE_ERROR);
        assert_non_null(strstr(store_error(s), "not an absolute path"));
        k.key_file = "/k";
        k.bits = 0;
        assert_int_equal(store_put_dkim_key(s, &k), STORE_ERROR);
        k.bits = 1024;
        k.algorithm = (enum store_dkim_alg)7;
        assert_int_equal(store_put_dkim_key(s, &k), STORE_ERROR);
    }
    /* A refused put leaves no transaction open: the next one works. */
    {
        struct store_dkim_key k = key("example.org", "after", ED, PEN, T0);

        assert_int_equal(store_put_dkim_key(s, &k), STORE_OK);
    }
    store_close(s);
}

struct list_case {
    const char *domain; /* NULL = all */
    const char *want;
};

/* test_list - order (domain, active/pending/retired, algorithm, age), filter, lower case */
static void test_list(void **state)
{
    static const struct list_case cases[] = {
        {NULL, "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
               "example.org s2 rsa-sha256 pending|example.org s0 rsa-sha256 retired|"
               "other.test s1 rsa-sha256 active"},
        {"example.org", "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
                        "example.org s2 rsa-sha256 pending|example.org s0 rsa-sha256 retired"},
        {"OTHER.test", "other.test s1 rsa-sha256 active"},
        {"nothing.test", ""},
        {"org", ""},
    };
    struct store *s = base_store(NULL);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = listing(s, cases[i].domain);

        if (strcmp(got, cases[i].want) != 0)
            fail_msg("list %s:\n got %s\nwant %s", cases[i].domain ? cases[i].domain : "(all)", got,
                     cases[i].want);
        free(got);
    }
    store_close(s);
}

/* test_list_fields - every field comes back; a non-zero return stops the walk */
static void test_list_fields(void **state)
{
    struct store *s = fresh_store(NULL);
    struct store_dkim_key k = key("fields.test", "f1", RSA, RET, T0);
    struct seen seen = {BUF_INIT, 0, 0, {0}, ""};

    (void)state;
    k.bits = 3072;
    k.key_file = "/var/keys/fields.test.f1.key";
    k.activated_at = T0 + 60;
    k.retired_at = T0 + 120;
    assert_int_equal(store_put_dkim_key(s, &k), STORE_OK);
    assert_int_equal(store_list_dkim_keys(s, "fields.test", collect, &seen), STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.last.algorithm, RSA);
    assert_int_equal(seen.last.state, RET);
    assert_int_equal(seen.last.bits, 3072);
    assert_string_equal(seen.last_file, "/var/keys/fields.test.f1.key");
    assert_int_equal(seen.last.created_at, T0);
    assert_int_equal(seen.last.activated_at, T0 + 60);
    assert_int_equal(seen.last.retired_at, T0 + 120);
    buf_free(&seen.text);
    store_close(s);

    s = base_store(NULL);
    seen = (struct seen){BUF_INIT, 0, 2, {0}, ""};
    assert_int_equal(store_list_dkim_keys(s, NULL, collect, &seen), STORE_OK);
    assert_int_equal(seen.n, 2);
    buf_free(&seen.text);
    store_close(s);
}

struct state_case {
    const char *name;
    const char *domain, *selector;
    enum store_dkim_state to;
    enum store_status want;
    const char *after; /* listing of the domain afterwards ("" = skip) */
};

/* test_set_state - one case per fresh base store */
static void test_set_state(void **state)
{
    static const struct state_case cases[] = {
        {"activate pending: old rsa retired, ed25519 untouched", "example.org", "s2", ACT, STORE_OK,
         "example.org e1 ed25519-sha256 active|example.org s2 rsa-sha256 active|"
         "example.org s0 rsa-sha256 retired|example.org s1 rsa-sha256 retired"},
        {"re-activate a retired key (roll back)", "example.org", "S0", ACT, STORE_OK,
         "example.org e1 ed25519-sha256 active|example.org s0 rsa-sha256 active|"
         "example.org s2 rsa-sha256 pending|example.org s1 rsa-sha256 retired"},
        {"already active: nothing changes", "example.org", "s1", ACT, STORE_OK,
         "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
         "example.org s2 rsa-sha256 pending|example.org s0 rsa-sha256 retired"},
        {"retire the active ed25519 key", "example.org", "e1", RET, STORE_OK,
         "example.org s1 rsa-sha256 active|example.org s2 rsa-sha256 pending|"
         "example.org e1 ed25519-sha256 retired|example.org s0 rsa-sha256 retired"},
        {"retired back to pending", "example.org", "s0", PEN, STORE_OK,
         "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
         "example.org s0 rsa-sha256 pending|example.org s2 rsa-sha256 pending"},
        {"other domain untouched by a rotation", "other.test", "s1", ACT, STORE_OK,
         "other.test s1 rsa-sha256 active"},
        {"unknown selector", "example.org", "nope", ACT, STORE_ERROR, ""},
        {"unknown domain", "nowhere.test", "s1", RET, STORE_ERROR, ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct state_case *sc = &cases[i];
        struct store *s = base_store(NULL);
        enum store_status st =
            store_set_dkim_key_state(s, sc->domain, sc->selector, sc->to, T0 + 100);

        if (st != sc->want)
            fail_msg("%s: status %d (%s)", sc->name, st, store_error(s));
        if (st != STORE_OK && strstr(store_error(s), "has no DKIM key with selector") == NULL)
            fail_msg("%s: error \"%s\"", sc->name, store_error(s));
        if (sc->after[0]) {
            char *got = listing(s, sc->domain);

            if (strcmp(got, sc->after) != 0)
                fail_msg("%s:\n got %s\nwant %s", sc->name, got, sc->after);
            free(got);
        }
        store_close(s);
    }
}

/* What key_of() looks for and finds. */
struct wanted {
    const char *selector;
    bool found;
    struct store_dkim_key k; /* enums, bits and times only: strings die with the walk */
};

/* match - store_list_dkim_keys callback keeping the wanted selector's record */
static int match(const struct store_dkim_key *k, void *arg)
{
    struct wanted *w = arg;

    if (strcmp(k->selector, w->selector) != 0)
        return 0;
    w->k = *k;
    w->k.domain = w->k.selector = w->k.key_file = NULL;
    w->found = true;
    return 1;
}

/* key_of - the stored record of (domain, selector) into *out; false if none */
static bool key_of(struct store *s, const char *domain, const char *selector,
                   struct store_dkim_key *out)
{
    struct wanted w = {selector, false, {0}};

    assert_int_equal(store_list_dkim_keys(s, domain, match, &w), STORE_OK);
    *out = w.k;
    return w.found;
}

/* test_state_times - activation and retirement times follow the state */
static void test_state_times(void **state)
{
    struct store *s = base_store(NULL);
    struct store_dkim_key k;

    (void)state;
    assert_int_equal(store_set_dkim_key_state(s, "example.org", "s2", ACT, T0 + 100), STORE_OK);
    assert_true(key_of(s, "example.org", "s2", &k));
    assert_int_equal(k.activated_at, T0 + 100);
    assert_int_equal(k.retired_at, 0);
    assert_true(key_of(s, "example.org", "s1", &k));
    assert_int_equal(k.state, RET);
    assert_int_equal(k.activated_at, T0); /* kept: when it was active */
    assert_int_equal(k.retired_at, T0 + 100);
    /* Back to pending: no longer retired. */
    assert_int_equal(store_set_dkim_key_state(s, "example.org", "s1", PEN, T0 + 200), STORE_OK);
    assert_true(key_of(s, "example.org", "s1", &k));
    assert_int_equal(k.retired_at, 0);
    assert_int_equal(k.activated_at, T0);
    store_close(s);
}

struct remove_case {
    const char *name;
    const char *domain, *selector;
    bool even_active;
    enum store_status want;
    const char *error;
    const char *after; /* listing of example.org afterwards */
};

/* test_remove - one case per fresh base store */
static void test_remove(void **state)
{
    static const struct remove_case cases[] = {
        {"retired", "example.org", "s0", false, STORE_OK, NULL,
         "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
         "example.org s2 rsa-sha256 pending"},
        {"pending, upper case", "EXAMPLE.ORG", "S2", false, STORE_OK, NULL,
         "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
         "example.org s0 rsa-sha256 retired"},
        {"active refused", "example.org", "s1", false, STORE_ERROR, "is active",
         "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
         "example.org s2 rsa-sha256 pending|example.org s0 rsa-sha256 retired"},
        {"active when asked", "example.org", "e1", true, STORE_OK, NULL,
         "example.org s1 rsa-sha256 active|example.org s2 rsa-sha256 pending|"
         "example.org s0 rsa-sha256 retired"},
        {"unknown", "example.org", "zz", true, STORE_ERROR, "has no DKIM key with selector zz",
         "example.org e1 ed25519-sha256 active|example.org s1 rsa-sha256 active|"
         "example.org s2 rsa-sha256 pending|example.org s0 rsa-sha256 retired"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct remove_case *rc = &cases[i];
        struct store *s = base_store(NULL);
        enum store_status st = store_remove_dkim_key(s, rc->domain, rc->selector, rc->even_active);
        char *got;

        if (st != rc->want)
            fail_msg("%s: status %d (%s)", rc->name, st, store_error(s));
        if (rc->error && strstr(store_error(s), rc->error) == NULL)
            fail_msg("%s: error \"%s\"", rc->name, store_error(s));
        got = listing(s, "example.org");
        if (strcmp(got, rc->after) != 0)
            fail_msg("%s:\n got %s\nwant %s", rc->name, got, rc->after);
        free(got);
        /* The other domain is never touched. */
        got = listing(s, "other.test");
        assert_string_equal(got, "other.test s1 rsa-sha256 active");
        free(got);
        store_close(s);
    }
}

/* test_schema_checks - the table refuses what store.c would never write */
static void test_schema_checks(void **state)
{
    static const char *const bad[] = {
        "INSERT INTO dkim_keys (domain, selector, algorithm, bits, key_file, state, created_at)"
        " VALUES ('Upper.Test', 's', 'rsa-sha256', 2048, '/k', 'active', 1)",
        "INSERT INTO dkim_keys (domain, selector, algorithm, bits, key_file, state, created_at)"
        " VALUES ('a.test', 's', 'rsa-sha1', 2048, '/k', 'active', 1)",
        "INSERT INTO dkim_keys (domain, selector, algorithm, bits, key_file, state, created_at)"
        " VALUES ('a.test', 's', 'rsa-sha256', 2048, 'k', 'active', 1)",
        "INSERT INTO dkim_keys (domain, selector, algorithm, bits, key_file, state, created_at)"
        " VALUES ('a.test', 's', 'rsa-sha256', 2048, '/k', 'revoked', 1)",
        /* A second active rsa-sha256 key of example.org: the partial unique index. */
        "INSERT INTO dkim_keys (domain, selector, algorithm, bits, key_file, state, created_at)"
        " VALUES ('example.org', 'sx', 'rsa-sha256', 2048, '/k', 'active', 1)",
    };
    const char *path;
    struct store *s = base_store(&path);
    sqlite3 *db;

    (void)state;
    store_close(s);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sqlite3_exec(db, bad[i], NULL, NULL, NULL) != SQLITE_CONSTRAINT)
            fail_msg("accepted: %s", bad[i]);
    sqlite3_close(db);
}

/* test_names - algorithm and state names both ways */
static void test_names(void **state)
{
    enum store_dkim_alg a;
    enum store_dkim_state st;

    (void)state;
    assert_string_equal(store_dkim_alg_name(RSA), "rsa-sha256");
    assert_string_equal(store_dkim_alg_name(ED), "ed25519-sha256");
    assert_true(store_dkim_alg_parse("ed25519-sha256", &a) && a == ED);
    assert_false(store_dkim_alg_parse("ed25519", &a));
    assert_false(store_dkim_alg_parse(NULL, &a));
    assert_string_equal(store_dkim_state_name(PEN), "pending");
    assert_true(store_dkim_state_parse("retired", &st) && st == RET);
    assert_false(store_dkim_state_parse("Active", &st));
}

/* setup - a private temporary directory */
static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir);
}

/* teardown - remove the temporary directory and everything in it */
static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put),           cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_fields),   cmocka_unit_test(test_set_state),
        cmocka_unit_test(test_state_times),   cmocka_unit_test(test_remove),
        cmocka_unit_test(test_schema_checks), cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
