/*
 * test_dkim_sign.c - milter/dkim_sign without an MTA: dual signing, the
 * shape of the field value (folds only), signatures checked by
 * auth/dkim_verify (our verifier, keys served from the public halves),
 * body canonicalization against known canonical bodies (bh=) under every
 * chunking, byte-identical signatures whatever the chunking (fixed t=:
 * RSA PKCS#1 v1.5 and Ed25519 are deterministic), abandoned messages,
 * keys freed after dkims_begin(), and threads sharing one signer. Key
 * loading and h= are in test_dkim_sign_keys.c.
 *
 * The keys are the test-only ones of tests/data/dkim-sign (gen.sh).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkim_sign.h"
#include "dkim_verify.h"
#include "util.h"

#include "dkim_sign_fixture.h"

/* check_shape - a value ready for smfi_insheader: folds "\n\t" only, nothing before v=1 */
static void check_shape(const char *v)
{
    assert_non_null(v);
    assert_true(strncmp(v, "v=1; a=", 7) == 0);
    assert_null(strchr(v, '\r'));
    for (const char *p = strchr(v, '\n'); p; p = strchr(p + 1, '\n'))
        assert_true(p[1] == '\t');
    assert_true(v[strlen(v) - 1] != '\n' && v[strlen(v) - 1] != ' ');
    for (const char *p = v; *p; p++)
        assert_true(*p == '\n' || *p == '\t' || (*p >= 32 && *p < 127));
}

/* test_dual - two keys, two signatures, in key order, each verifying */
static void test_dual(void **state)
{
    static const unsigned flag_sets[] = {0,
                                         DKIMS_LEADSPC,
                                         DKIMS_SIMPLE,
                                         DKIMS_SIMPLE | DKIMS_LEADSPC,
                                         DKIMS_SIMPLE_HEADER,
                                         DKIMS_SIMPLE_BODY};
    static const size_t chunks[] = {65535, 1, 7};
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *keys[2] = {load("rsa2048-pkcs1.pem", "rsa-sha256", "rsa"),
                                 load("ed25519.pem", "ed25519-sha256", "ed")};
    struct pubkeys pk = {keys, 2};

    (void)state;
    for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
        for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
            const struct dkims_sig *sigs;
            size_t nok;
            struct dkims_msg *m = sign(s, keys, 2, flag_sets[f], &full, chunks[c], &sigs, &nok);
            struct change lead = {.leadspc_verify = 1};
            const char *canon =
                flag_sets[f] & DKIMS_SIMPLE_HEADER
                    ? (flag_sets[f] & DKIMS_SIMPLE_BODY ? "c=simple/simple;" : "c=simple/relaxed;")
                    : (flag_sets[f] & DKIMS_SIMPLE_BODY ? "c=relaxed/simple;"
                                                        : "c=relaxed/relaxed;");

            assert_int_equal(nok, 2);
            assert_string_equal(sigs[0].algorithm, "rsa-sha256");
            assert_string_equal(sigs[1].algorithm, "ed25519-sha256");
            assert_string_equal(sigs[0].selector, "rsa");
            assert_string_equal(sigs[1].domain, "example.test");
            for (size_t i = 0; i < 2; i++) {
                assert_null(sigs[i].error);
                check_shape(sigs[i].value);
                assert_non_null(strstr(sigs[i].value, canon));
            }
            assert_non_null(strstr(sigs[0].value, "a=rsa-sha256;"));
            assert_non_null(strstr(sigs[1].value, "a=ed25519-sha256;"));
            assert_non_null(strstr(sigs[0].value, "s=rsa;"));
            assert_non_null(strstr(sigs[1].value, "d=example.test;"));
            check_verify(&pk, sigs, 2, &full, NULL, "pass|pass");
            check_verify(&pk, sigs, 2, &full, &lead, "pass|pass");
            dkims_end(m);
        }
    }
    dkims_key_free(keys[0]);
    dkims_key_free(keys[1]);
    dkims_close(s);
}

/* test_changes - what a verifier says after the message changed */
static void test_changes(void **state)
{
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *keys[2] = {load("rsa2048.pem", "rsa", "rsa"),
                                 load("ed25519.pem", "ed25519", "ed")};
    struct pubkeys pk = {keys, 2};
    const struct dkims_sig *sigs;
    size_t nok;
    struct dkims_msg *m;
    struct change from_top = {.top = "From: mallory@attacker.example"};
    struct change from_bottom = {.bottom = "From: mallory@attacker.example"};
    struct change subject_top = {.top = "Subject: another"};
    struct change received_top = {.top = "Received: from relay.example.org"};
    /* white space only: trailing white space and empty lines gone, runs shortened */
    struct change body_ws = {.body = "Hello \xc3\xa9t\xc3\xa9,\r\n\r\nline with spaces\r\n"};
    struct change body_word = {.body = "Hello \xc3\xa9t\xc3\xa9,\r\n\r\nline  with   space  \r\n"};
    struct change refold = {.refold = 5}; /* Subject */

    (void)state;
    m = sign(s, keys, 2, 0, &full, 65535, &sigs, &nok);
    assert_int_equal(nok, 2);
    check_verify(&pk, sigs, 2, &full, NULL, "pass|pass");
    /* From oversigned: a second From anywhere breaks it */
    check_verify(&pk, sigs, 2, &full, &from_top, "fail|fail");
    check_verify(&pk, sigs, 2, &full, &from_bottom, "fail|fail");
    /* Subject is signed, not oversigned: the one added on top is not covered */
    check_verify(&pk, sigs, 2, &full, &subject_top, "pass|pass");
    check_verify(&pk, sigs, 2, &full, &received_top, "pass|pass");
    /* relaxed: white space at line ends and runs of it, re-folding, do not matter */
    check_verify(&pk, sigs, 2, &full, &body_ws, "pass|pass");
    check_verify(&pk, sigs, 2, &full, &body_word, "fail|fail");
    check_verify(&pk, sigs, 2, &full, &refold, "pass|pass");
    dkims_end(m);

    m = sign(s, keys, 2, DKIMS_SIMPLE, &full, 65535, &sigs, &nok);
    assert_int_equal(nok, 2);
    check_verify(&pk, sigs, 2, &full, NULL, "pass|pass");
    check_verify(&pk, sigs, 2, &full, &refold, "fail|fail");
    check_verify(&pk, sigs, 2, &full, &body_ws, "fail|fail");
    check_verify(&pk, sigs, 2, &full, &body_word, "fail|fail");
    check_verify(&pk, sigs, 2, &full, &from_top, "fail|fail");
    check_verify(&pk, sigs, 2, &full, &subject_top, "pass|pass");
    dkims_end(m);
    dkims_key_free(keys[0]);
    dkims_key_free(keys[1]);
    dkims_close(s);
}

/* test_failures - a message that cannot be signed (no From): an error per key, no crash */
static void test_failures(void **state)
{
    static const char *const no_from_fields[] = {"To: b@example.org", "Subject: x"};
    static const struct tmsg no_from = {no_from_fields, 2, "x\r\n"};
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *keys[2] = {load("rsa2048.pem", "rsa", "rsa"),
                                 load("ed25519.pem", "ed25519", "ed")};
    const struct dkims_sig *sigs, *again;
    size_t nok;
    struct dkims_msg *m;

    (void)state;
    m = sign(s, keys, 2, 0, &no_from, 65535, &sigs, &nok);
    assert_int_equal(nok, 0);
    for (size_t i = 0; i < 2; i++) {
        assert_null(sigs[i].value);
        assert_non_null(sigs[i].error);
        assert_non_null(strstr(sigs[i].error, "end of header"));
        assert_non_null(strcasestr(sigs[i].error, "\"from\" not found"));
    }
    /* a second end of message answers the same */
    assert_int_equal(dkims_eom(m, &again), 0);
    assert_ptr_equal(again, sigs);
    dkims_end(m);
    /* no keys: nothing to sign, nothing to report */
    m = sign(s, keys, 0, 0, &short_msg, 65535, &sigs, &nok);
    assert_int_equal(nok, 0);
    assert_non_null(sigs);
    dkims_end(m);
    /* end of message without end of header or body; an empty body */
    m = dkims_begin(s, keys, 2, 0);
    dkims_header(m, "From", "a@example.test");
    dkims_header(m, "Subject", NULL);
    assert_int_equal(dkims_eom(m, &sigs), 2);
    /* fields after end of header are ignored */
    dkims_header(m, "From", "late@example.test");
    dkims_end(m);
    dkims_key_free(keys[0]);
    dkims_key_free(keys[1]);
    dkims_close(s);
}

/* test_abandoned - a message freed at every stage; keys freed right after dkims_begin() */
static void test_abandoned(void **state)
{
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *keys[2];
    const struct dkims_sig *sigs;
    struct pubkeys pk;

    (void)state;
    for (int stage = 0; stage < 4; stage++) {
        struct dkims_msg *m;

        keys[0] = load("rsa2048.pem", "rsa", "rsa");
        keys[1] = load("ed25519.pem", "ed25519", "ed");
        m = dkims_begin(s, keys, 2, 0);
        if (stage >= 1)
            dkims_header(m, "From", "a@example.test");
        if (stage >= 2)
            dkims_eoh(m);
        if (stage >= 3)
            dkims_body(m, (const unsigned char *)"body\r\n", 6);
        dkims_end(m);
        dkims_key_free(keys[0]);
        dkims_key_free(keys[1]);
    }
    assert_null(dkims_end(NULL));
    /* the keys are not needed after dkims_begin(): sign with them freed, verify with a new copy */
    {
        struct dkims_msg *m;
        size_t nok;
        struct dkims_key *again[2];

        keys[0] = load("rsa2048.pem", "rsa", "rsa");
        keys[1] = load("ed25519.pem", "ed25519", "ed");
        m = dkims_begin(s, keys, 2, 0);
        dkims_key_free(keys[0]);
        dkims_key_free(keys[1]);
        feed(m, &full, false, 100);
        nok = dkims_eom(m, &sigs);
        assert_int_equal(nok, 2);
        assert_string_equal(sigs[0].domain, "example.test");
        again[0] = load("rsa2048.pem", "rsa", "rsa");
        again[1] = load("ed25519.pem", "ed25519", "ed");
        pk = (struct pubkeys){again, 2};
        check_verify(&pk, sigs, 2, &full, NULL, "pass|pass");
        dkims_key_free(again[0]);
        dkims_key_free(again[1]);
        dkims_end(m);
    }
    dkims_close(s);
    assert_null(dkims_close(NULL));
}

/* test_body_canon - bh= of bodies whose canonical form is known, under any chunking */
static void test_body_canon(void **state)
{
    static const struct {
        const char *body;
        unsigned flags;
        const char *bh; /* SHA-256 of the canonical body (RFC 6376 3.4.3-3.4.5), base64 */
    } cases[] = {
        /* empty: relaxed is nothing, simple one CRLF */
        {"", 0, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
        {"", DKIMS_SIMPLE, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="},
        {"\r\n\r\n", 0, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
        {"\r\n\r\n", DKIMS_SIMPLE, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="},
        /* RFC 6376 3.4.5: " C\r\nD E\r\n" and " C \r\nD \t E\r\n" */
        {" C \r\nD \t E\r\n\r\n\r\n", 0, "unak6JHq0wL+Q1HP7dW1tjBx9FLA6DffoZ0qrLwbbpo="},
        {" C \r\nD \t E\r\n\r\n\r\n", DKIMS_SIMPLE, "NOeivbQlDH9TmNKJUw7D53wZfsk8YMZ/hTuVVwTgi8s="},
        /* no CRLF at the end: one is added ("last\r\n") */
        {"last", 0, "hn5q8SYMPMyK9k1F1XxlHKrUD479vc+zS2uAw7dxzTQ="},
        {"last", DKIMS_SIMPLE, "hn5q8SYMPMyK9k1F1XxlHKrUD479vc+zS2uAw7dxzTQ="},
        /* a white-space line at the end is empty for relaxed ("a\r\n"), not for simple */
        {"a\r\n \t \r\n\r\n", 0, "jkYhN5eG70Kk/sFVzVJcKR3X2zwf3jR4Ui9PYcA/0b0="},
        {"a\r\n \t \r\n\r\n", DKIMS_SIMPLE, "D8h5w8eopobHhUqQNe5+VzDRvUZiN+0OIbNzKoJYU6o="},
        /* a lone CR or LF is an ordinary byte */
        {"a\rb\nc\r\n", 0, "C9bjkWjkbcFLiF66mOWBp5RWwxvClyko3KNEAw5A80U="},
        /* empty lines inside are kept; a leading tab is one space ("x\r\n\r\n y\r\n") */
        {"x  \r\n\r\n\ty", 0, "q1SliY0G3aY0L3AhFIHLk568wOD7cslwcOIvIwHduUM="},
        {"\r\n\r\nx\r\n", 0, "hHl0gskkj3KarB8IzxZHkNJubfPe+wREH5JIHngjIuU="},
        {"\r\n\r\nx\r\n", DKIMS_SIMPLE, "hHl0gskkj3KarB8IzxZHkNJubfPe+wREH5JIHngjIuU="},
    };
    static const size_t chunks[] = {65535, 1, 2, 3, 5};
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *key = load("ed25519.pem", "ed25519", "ed");

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
            struct tmsg t = {short_fields, 3, cases[i].body};
            const struct dkims_sig *sigs;
            size_t nok;
            struct dkims_msg *m = sign(s, &key, 1, cases[i].flags, &t, chunks[c], &sigs, &nok);
            char *bh;

            assert_int_equal(nok, 1);
            bh = dkimv_tag_value(sigs[0].value, "bh");
            if (strcmp(bh, cases[i].bh) != 0)
                fail_msg("case %zu, chunks of %zu: bh=%s, want %s", i, chunks[c], bh, cases[i].bh);
            free(bh);
            dkims_end(m);
        }
    }
    dkims_key_free(key);
    dkims_close(s);
}

/* test_chunking - with t= fixed, the same values (b= included) whatever the chunking */
static void test_chunking(void **state)
{
    static const unsigned flag_sets[] = {0, DKIMS_SIMPLE, DKIMS_SIMPLE_BODY, DKIMS_LEADSPC};
    static const char *const ws_fields[] = {
        "From: alice@example.test",
        "Subject: white space",
    };
    static const struct tmsg ws = {ws_fields, 2,
                                   "a \t\r\n\r\n  b\r\n\t\r\n \r\nend  \r\n \r\n\r\n"};
    const struct tmsg *msgs[] = {&full, &ws};
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *keys[2] = {load("rsa2048.pem", "rsa", "rsa"),
                                 load("ed25519.pem", "ed25519", "ed")};
    struct pubkeys pk = {keys, 2};

    (void)state;
    assert_true(dkims_set_time(s, 1700000000ULL));
    for (size_t t = 0; t < sizeof(msgs) / sizeof(msgs[0]); t++) {
        for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
            const struct dkims_sig *sigs;
            size_t nok;
            struct dkims_msg *m = sign(s, keys, 2, flag_sets[f], msgs[t], 65535, &sigs, &nok);
            char *want[2];

            assert_int_equal(nok, 2);
            check_verify(&pk, sigs, 2, msgs[t], NULL, "pass|pass");
            want[0] = xstrdup(sigs[0].value);
            want[1] = xstrdup(sigs[1].value);
            dkims_end(m);
            for (size_t chunk = 1; chunk <= 41; chunk++) {
                m = sign(s, keys, 2, flag_sets[f], msgs[t], chunk, &sigs, &nok);
                assert_int_equal(nok, 2);
                assert_string_equal(sigs[0].value, want[0]);
                assert_string_equal(sigs[1].value, want[1]);
                dkims_end(m);
            }
            free(want[0]);
            free(want[1]);
        }
    }
    dkims_key_free(keys[0]);
    dkims_key_free(keys[1]);
    dkims_close(s);
}

/* A thread's signature of the full message. */
struct job {
    pthread_t thread;
    struct dkims *s;
    struct dkims_key *const *keys;
    char *out; /* both values, caller frees */
};

/* worker - sign once in a thread */
static void *worker(void *arg)
{
    struct job *j = arg;
    const struct dkims_sig *sigs;
    size_t nok;
    struct dkims_msg *m = sign(j->s, j->keys, 2, DKIMS_SIMPLE, &full, 13, &sigs, &nok);

    j->out = nok == 2 ? xasprintf("%s\n%s", sigs[0].value, sigs[1].value) : xstrdup("failed");
    dkims_end(m);
    return NULL;
}

/* test_threads - one signer, shared keys, 8 threads: the same signatures (fixed t=) */
static void test_threads(void **state)
{
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *keys[2] = {load("rsa2048.pem", "rsa", "rsa"),
                                 load("ed25519.pem", "ed25519", "ed")};
    struct job jobs[8];

    (void)state;
    assert_true(dkims_set_time(s, 1700000000ULL));
    for (size_t i = 0; i < 8; i++) {
        jobs[i] = (struct job){.s = s, .keys = keys};
        assert_int_equal(pthread_create(&jobs[i].thread, NULL, worker, &jobs[i]), 0);
    }
    for (size_t i = 0; i < 8; i++) {
        pthread_join(jobs[i].thread, NULL);
        assert_string_not_equal(jobs[i].out, "failed");
        assert_string_equal(jobs[i].out, jobs[0].out);
    }
    assert_non_null(strstr(jobs[0].out, "t=1700000000;"));
    for (size_t i = 0; i < 8; i++)
        free(jobs[i].out);
    dkims_key_free(keys[0]);
    dkims_key_free(keys[1]);
    dkims_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dual),       cmocka_unit_test(test_changes),
        cmocka_unit_test(test_failures),   cmocka_unit_test(test_abandoned),
        cmocka_unit_test(test_body_canon), cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
