/*
 * test_dkim_pkey_rsa.c - the RSA keys the verifier's key cache
 * (auth/dkim_pkey.c) refuses for what a signature check with them would
 * cost, or for being no RSA key, and the largest it takes: keys made up
 * here (any odd modulus of the size asked for, nobody's private key), as
 * SubjectPublicKeyInfo and as PKCS#1. Taken: e = 3, 65537, 2^32 - 1 up to
 * DKIM_RSA_BITS_MAX (4096) bits, and a junk signature of the key's size
 * is checked and is a bad one. Refused, the first time and again from
 * the cache, with the reason and the key's size: an exponent of more
 * than 32 bits (2^32 + 1, 2^63 + 1, the report's e = n - 2 with a
 * 3072-bit n: OpenSSL takes it, and a check costs about 6 ms), a modulus
 * of 4097, 8192 and 16384 bits, an even exponent, e = 1, an even modulus.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_pkey.h"
#include "util.h"

/* The exponents of the made-up RSA keys. */
enum exp { E_3, E_65537, E_2_32_M1, E_2_32_P1, E_64, E_N_M2, E_EVEN, E_1 };

/* rsa_made - SPKI (or PKCS#1) DER of an RSA public key no one has the private key of */
static void rsa_made(int bits, bool even_n, enum exp ex, bool pkcs1, struct buf *out)
{
    static const BN_ULONG small[] = {
        [E_3] = 3, [E_65537] = 65537, [E_2_32_M1] = 0xffffffffu, [E_EVEN] = 65536, [E_1] = 1};
    unsigned char *raw = xmalloc((size_t)bits / 8 + 1), *der = NULL;
    size_t nb = ((size_t)bits + 7) / 8;
    BIGNUM *n, *e = BN_new();
    OSSL_PARAM_BLD *pb = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *k = NULL;
    int len;

    for (size_t i = 0; i < nb; i++) /* any bytes: nobody checks n is a product of primes */
        raw[i] = (unsigned char)(i * 37 + 11);
    raw[0] = (unsigned char)(bits % 8 ? 1u << (bits % 8 - 1) : 0x80) | 1u; /* exactly bits */
    raw[nb - 1] = (unsigned char)(even_n ? raw[nb - 1] & ~1u : raw[nb - 1] | 1u);
    n = BN_bin2bn(raw, (int)nb, NULL);
    assert_int_equal(BN_num_bits(n), bits);
    if (ex == E_N_M2) /* the report's key: e = n - 2 */
        assert_int_equal(BN_copy(e, n) != NULL && BN_sub_word(e, 2), 1);
    else if (ex == E_2_32_P1 || ex == E_64) /* 2^32 + 1, 2^63 + 1 */
        assert_int_equal(BN_set_bit(e, ex == E_64 ? 63 : 32) && BN_set_bit(e, 0), 1);
    else
        assert_int_equal(BN_set_word(e, small[ex]), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(pb, OSSL_PKEY_PARAM_RSA_N, n), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(pb, OSSL_PKEY_PARAM_RSA_E, e), 1);
    params = OSSL_PARAM_BLD_to_param(pb);
    assert_int_equal(EVP_PKEY_fromdata_init(pc), 1);
    assert_int_equal(EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
    len = pkcs1 ? i2d_PublicKey(k, &der) : i2d_PUBKEY(k, &der);
    assert_true(len > 0);
    buf_add(out, der, (size_t)len);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(pb);
    BN_free(n);
    BN_free(e);
    free(raw);
}

/* RSA keys past the bounds of dkim_pkey.h are refused, once, with their reason */
static void test_rsa_bounds(void **state)
{
    static const struct {
        int bits;
        bool even_n;
        enum exp e;
        bool pkcs1;
        const char *why; /* NULL: taken; the A-R comment otherwise */
    } cases[] = {
        {2048, false, E_3, false, NULL},
        {2048, false, E_65537, false, NULL},
        {2048, false, E_65537, true, NULL},
        {2048, false, E_2_32_M1, false, NULL}, /* the largest exponent taken */
        {4096, false, E_65537, false, NULL},   /* DKIM_RSA_BITS_MAX */
        {4096, false, E_2_32_M1, true, NULL},  /* the dearest key taken */
        {1024, false, E_2_32_P1, false, "RSA key exponent too large"},
        {2048, false, E_2_32_P1, true, "RSA key exponent too large"},
        {2048, false, E_64, false, "RSA key exponent too large"},
        {3072, false, E_N_M2, false, "RSA key exponent too large"}, /* the report's: 6 ms a check */
        {3072, false, E_N_M2, true, "RSA key exponent too large"},
        {4097, false, E_65537, false, "RSA key over 4096 bits"},
        {8192, false, E_65537, false, "RSA key over 4096 bits"},
        {16384, false, E_64, true, "RSA key over 4096 bits"}, /* OpenSSL's largest, 64-bit e */
        {2048, false, E_EVEN, false, "RSA key exponent invalid"},
        {2048, false, E_1, false, "RSA key exponent invalid"},
        {2048, true, E_65537, false, "RSA key modulus invalid"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_pkeys *c = dkim_pkeys_new();
        struct buf b = BUF_INIT;
        unsigned char sig[DKIM_RSA_BITS_MAX / 8] = {0}, digest[DKIM_SHA256_LEN] = {1};

        print_message("case %zu: %d bits\n", i, cases[i].bits);
        rsa_made(cases[i].bits, cases[i].even_n, cases[i].e, cases[i].pkcs1, &b);
        for (int again = 0; again < 2; again++) { /* decoded, then from the cache */
            const char *why = "unset";
            unsigned bits = 0;
            EVP_PKEY *k =
                dkim_pkeys_get(c, false, (const unsigned char *)b.data, b.len, &bits, &why);

            ERR_clear_error();
            assert_int_equal(bits, cases[i].bits);
            if (cases[i].why != NULL) {
                assert_null(k);
                assert_non_null(why);
                assert_string_equal(why, cases[i].why);
                continue;
            }
            assert_non_null(k);
            assert_null(why);
            /* a junk signature of the key's size is checked and is a bad one */
            sig[1] = (unsigned char)again;
            assert_int_equal(dkim_pkey_verify(k, false, digest, sig, (size_t)bits / 8), 0);
            ERR_clear_error();
            EVP_PKEY_free(k);
        }
        buf_free(&b);
        assert_null(dkim_pkeys_free(c));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
