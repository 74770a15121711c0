/*
 * test_dkim_sign_keys.c - milter/dkim_sign keys and what they sign:
 * key loading (RSA PKCS#1 and PKCS#8, Ed25519 PKCS#8, and every way a
 * key file can be wrong), and the signed header list and From
 * oversigning in h=, checked by auth/dkim_verify.
 *
 * The keys are the test-only ones of tests/data/dkim-sign (gen.sh).
 */
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

/* test_key_load - the three key forms load, with their properties */
static void test_key_load(void **state)
{
    struct dkims_key *rsa8 = load("rsa2048.pem", "rsa-sha256", "r8");
    struct dkims_key *rsa1 = load("rsa2048-pkcs1.pem", "RSA", "r1");
    struct dkims_key *ed = load("ed25519.pem", "ed25519", "ed");
    char *p;

    (void)state;
    assert_string_equal(dkims_key_domain(rsa8), "example.test");
    assert_string_equal(dkims_key_selector(rsa8), "r8");
    assert_string_equal(dkims_key_algorithm(rsa8), "rsa-sha256");
    assert_string_equal(dkims_key_algorithm(rsa1), "rsa-sha256");
    assert_string_equal(dkims_key_algorithm(ed), "ed25519-sha256");
    assert_int_equal(dkims_key_bits(rsa8), 2048);
    assert_int_equal(dkims_key_bits(rsa1), 2048);
    assert_int_equal(dkims_key_bits(ed), 256);
    /* p=: the SubjectPublicKeyInfo of RSA keys, the 32 raw bytes of Ed25519 keys */
    p = dkims_key_public(rsa8);
    assert_true(strncmp(p, "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 32) == 0);
    assert_int_equal(strlen(p), 392);
    free(p);
    p = dkims_key_public(ed);
    assert_int_equal(strlen(p), 44);
    assert_int_equal(p[43], '=');
    free(p);
    dkims_key_free(rsa8);
    dkims_key_free(rsa1);
    dkims_key_free(ed);
    assert_null(dkims_key_free(NULL));
    /* the other spelling of each algorithm */
    dkims_key_free(load("ed25519.pem", "Ed25519-SHA256", "ed"));
    dkims_key_free(load("rsa2048.pem", "rsa", "r"));
}

/* file_lines_in - is a line of the file (16+ characters) in s */
static bool file_lines_in(const char *path, const char *s)
{
    FILE *fp = fopen(path, "r");
    char line[1024];
    bool found = false;

    if (fp == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        found = strlen(line) >= 16 && strstr(s, line) != NULL;
    }
    fclose(fp);
    return found;
}

/* test_key_errors - every refused key says why, names the file, shows none of it */
static void test_key_errors(void **state)
{
    static const struct {
        const char *domain, *selector, *alg, *file, *want;
    } cases[] = {
        {"example.test", "s", "rsa-sha256", "missing.pem",
         "missing.pem: No such file or directory"},
        {"example.test", "s", "rsa-sha256", "garbage.pem", "no private key that can be read"},
        {"example.test", "s", "rsa-sha256", "empty.pem", "empty.pem: empty file"},
        {"example.test", "s", "rsa-sha256", "../dkim/keys.txt", "not a PEM private key file"},
        {"example.test", "s", "rsa-sha256", "", "dkim-sign/: not a regular file"},
        {"example.test", "s", "rsa-sha256", "encrypted.pem", "encrypted private keys are not"},
        {"example.test", "s", "rsa-sha256", "rsa512.pem", "RSA key of 512 bits: at least 1024"},
        {"example.test", "s", "rsa-sha256", "ec-p256.pem", "not an RSA key"},
        {"example.test", "s", "ed25519-sha256", "ec-p256.pem", "not an Ed25519 key"},
        {"example.test", "s", "rsa-sha256", "ed25519.pem", "not an RSA key"},
        {"example.test", "s", "ed25519-sha256", "rsa2048.pem", "not an Ed25519 key"},
        {"example.test", "s", "rsa-sha1", "rsa2048.pem", "unknown algorithm \"rsa-sha1\""},
        {"example.test", "s", "", "rsa2048.pem", "unknown algorithm"},
        {"bad domain", "s", "rsa-sha256", "rsa2048.pem", "bad signing domain"},
        {"a..b", "s", "rsa-sha256", "rsa2048.pem", "bad signing domain"},
        {"example.test.", "s", "rsa-sha256", "rsa2048.pem", "bad signing domain"},
        {"", "s", "rsa-sha256", "rsa2048.pem", "bad signing domain"},
        {"example.test", "s;x", "rsa-sha256", "rsa2048.pem", "bad selector"},
        {"example.test", "", "rsa-sha256", "rsa2048.pem", "bad selector"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512], err[512] = "";
        struct dkims_key *k;

        assert_true(snprintf_ok(path, sizeof(path), "%s%s", KEYDIR, cases[i].file));
        k = dkims_key_load(cases[i].domain, cases[i].selector, cases[i].alg, path, err,
                           sizeof(err));
        if (k != NULL || strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu (%s): got \"%s\", want \"%s\"", i, cases[i].file, err,
                     cases[i].want);
        if (file_lines_in(path, err))
            fail_msg("case %zu: the error shows the file's contents: %s", i, err);
    }
    /* a NULL path, a tiny error buffer */
    {
        char err[8];

        assert_null(dkims_key_load("example.test", "s", "rsa", NULL, err, sizeof(err)));
        assert_int_equal(strlen(err), 7);
        assert_null(
            dkims_key_load("example.test", "s", "rsa", KEYDIR "missing.pem", err, sizeof(err)));
        assert_int_equal(strlen(err), 7);
    }
}

/* test_header_list - h= lists the signed fields present, in order, and From once more */
static void test_header_list(void **state)
{
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *keys[2] = {load("rsa2048.pem", "rsa", "rsa"),
                                 load("ed25519.pem", "ed25519", "ed")};
    struct pubkeys pk = {keys, 2};
    static const char *const two_from_fields[] = {
        "From: a@example.test", "To: b@example.org", "To: c@example.org",
        "From: d@example.test", "Subject: x",
    };
    static const struct tmsg two_from = {two_from_fields, 5, "x\r\n"};
    const struct dkims_sig *sigs;
    struct dkims_msg *m;
    size_t nok;
    char *h;

    (void)state;
    assert_non_null(s);
    m = sign(s, keys, 2, 0, &full, 65535, &sigs, &nok);
    assert_int_equal(nok, 2);
    for (size_t i = 0; i < 2; i++) {
        h = dkimv_tag_value(sigs[i].value, "h");
        assert_string_equal(h, "From:To:Cc:Subject:Date:message-id:Reply-To:MIME-Version:"
                               "Content-Type:Content-Transfer-Encoding:From");
        free(h);
    }
    dkims_end(m);
    /* without Cc, Reply-To and the MIME fields */
    m = sign(s, keys, 1, 0, &short_msg, 65535, &sigs, &nok);
    h = dkimv_tag_value(sigs[0].value, "h");
    assert_string_equal(h, "From:To:Subject:From");
    free(h);
    dkims_end(m);
    /* every instance, and From once more than it appears */
    m = sign(s, keys, 2, 0, &two_from, 65535, &sigs, &nok);
    h = dkimv_tag_value(sigs[0].value, "h");
    assert_string_equal(h, "From:To:To:From:Subject:From");
    free(h);
    /* the instances are hashed bottom-up, as a verifier takes them */
    check_verify(&pk, sigs, 2, &two_from, NULL, "pass|pass");
    dkims_end(m);
    m = sign(s, keys, 2, DKIMS_SIMPLE, &two_from, 65535, &sigs, &nok);
    check_verify(&pk, sigs, 2, &two_from, NULL, "pass|pass");
    dkims_end(m);
    dkims_key_free(keys[0]);
    dkims_key_free(keys[1]);
    dkims_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_load),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_header_list),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
