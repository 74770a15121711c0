/*
 * test_dkim_pkey.c - the verifier's parsed-key cache and signature checks
 * (auth/dkim_pkey.c) with the keys of tests/data/dkim/keys/: RSA public
 * keys as SubjectPublicKeyInfo and PKCS#1, raw Ed25519 keys, bytes that
 * are no key or a key of the other type, cache hits by content and type,
 * a cache filled past DKIM_PKEYS_MAX (it starts over; keys handed out
 * stay valid; no leak under ASan), threads sharing one cache, and
 * RSASSA-PKCS1-v1_5/SHA-256 and Ed25519 signatures over a digest made
 * here with the private keys. The RSA keys refused for what a check with
 * them costs: test_dkim_pkey_rsa.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_pkey.h"
#include "dkim_tags.h"
#include "util.h"

#define KEYS_DIR TEST_DATA_DIR "/dkim/keys/"
/* the p= of ed25519._domainkey.example.test (tests/data/dkim/keys.txt) */
#define ED25519_PUB_B64 "9tfqwhDtyP+hwjsugd7X3Gdgy+DB1QNSvq7djL5IEBY="

enum { KEY_RSA512, KEY_RSA2048, KEY_RSA4096, KEY_OTHER2048, KEY_ED, NKEYS };

/* The private keys of tests/data/dkim/keys/, loaded once. */
static EVP_PKEY *priv[NKEYS];

/* load_pem - an RSA private key file */
static EVP_PKEY *load_pem(const char *name)
{
    char *path = xasprintf("%s%s", KEYS_DIR, name);
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *k;

    assert_non_null(bio);
    k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    assert_non_null(k);
    BIO_free(bio);
    free(path);
    return k;
}

/* ed_from_seed - an Ed25519 private key from its 32-byte seed */
static EVP_PKEY *ed_from_seed(const unsigned char seed[32])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, 32);

    assert_non_null(k);
    return k;
}

/* load_ed - ed25519.key: the base64 of the 32-byte seed */
static EVP_PKEY *load_ed(void)
{
    FILE *fp = fopen(KEYS_DIR "ed25519.key", "r");
    char line[128];
    struct buf seed = BUF_INIT;
    EVP_PKEY *k;

    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    assert_true(dkim_base64_decode(line, &seed));
    assert_int_equal(seed.len, 32);
    k = ed_from_seed((const unsigned char *)seed.data);
    buf_free(&seed);
    return k;
}

static int setup(void **state)
{
    (void)state;
    priv[KEY_RSA512] = load_pem("rsa512.key");
    priv[KEY_RSA2048] = load_pem("rsa2048.key");
    priv[KEY_RSA4096] = load_pem("rsa4096.key");
    priv[KEY_OTHER2048] = load_pem("other2048.key");
    priv[KEY_ED] = load_ed();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++)
        EVP_PKEY_free(priv[i]);
    return 0;
}

/* The forms of key bytes a record may carry. */
enum form {
    F_SPKI,       /* SubjectPublicKeyInfo DER */
    F_PKCS1,      /* RSAPublicKey DER */
    F_RAW,        /* Ed25519: the 32 raw bytes */
    F_SPKI_SHORT, /* SPKI without its last byte */
    F_SPKI_LONG,  /* SPKI and one more byte */
    F_PKCS1_LONG, /* PKCS#1 and one more byte */
    F_RAW_SHORT,  /* 31 raw bytes */
    F_RAW_LONG,   /* 33 raw bytes */
    F_GARBAGE,
    F_EMPTY,
};

/* key_bytes - the public key of priv[key] in form f into out */
static void key_bytes(int key, enum form f, struct buf *out)
{
    unsigned char *der = NULL;
    int n = 0;
    size_t rawlen = 32;

    switch (f) {
    case F_SPKI:
    case F_SPKI_SHORT:
    case F_SPKI_LONG:
        n = i2d_PUBKEY(priv[key], &der);
        break;
    case F_PKCS1:
    case F_PKCS1_LONG:
        n = i2d_PublicKey(priv[key], &der);
        break;
    case F_RAW:
    case F_RAW_SHORT:
    case F_RAW_LONG:
        buf_reserve(out, 33);
        assert_int_equal(
            EVP_PKEY_get_raw_public_key(priv[key], (unsigned char *)out->data, &rawlen), 1);
        out->len = rawlen;
        if (f == F_RAW_SHORT)
            out->len--;
        out->data[out->len] = '\0'; /* a buf keeps a NUL after its data */
        if (f == F_RAW_LONG)
            buf_putc(out, 0);
        return;
    case F_GARBAGE:
        buf_puts(out, "0\x82\x01\"this is not a key, only some bytes");
        return;
    case F_EMPTY:
        return;
    }
    assert_true(n > 0);
    buf_add(out, der, (size_t)n);
    OPENSSL_free(der);
    if (f == F_SPKI_SHORT)
        out->len--;
    if (f == F_SPKI_LONG || f == F_PKCS1_LONG)
        buf_putc(out, 0);
}

/* get - dkim_pkeys_get() of bytes copied to a buffer of exactly their size */
static EVP_PKEY *get(struct dkim_pkeys *c, bool ed25519, const struct buf *b, unsigned *bits)
{
    unsigned char *copy = xmalloc(b->len ? b->len : 1);
    const char *why = "unset";
    EVP_PKEY *k;

    memcpy(copy, b->data ? b->data : "", b->len);
    k = dkim_pkeys_get(c, ed25519, copy, b->len, bits, &why);
    free(copy);
    ERR_clear_error();
    if (k != NULL)
        assert_null(why);
    else
        assert_string_equal(why, DKIM_PKEY_UNUSABLE);
    return k;
}

/* the fixture's Ed25519 key is the one its key records publish */
static void test_ed25519_fixture(void **state)
{
    struct buf raw = BUF_INIT, want = BUF_INIT;

    (void)state;
    key_bytes(KEY_ED, F_RAW, &raw);
    assert_true(dkim_base64_decode(ED25519_PUB_B64, &want));
    assert_int_equal(raw.len, want.len);
    assert_memory_equal(raw.data, want.data, raw.len);
    buf_free(&raw);
    buf_free(&want);
}

/* which bytes make a key of which type, and its size */
static void test_decode(void **state)
{
    static const struct {
        int key;
        enum form form;
        bool ed25519;  /* the type asked for */
        unsigned bits; /* 0: no key */
    } cases[] = {
        {KEY_RSA2048, F_SPKI, false, 2048},
        {KEY_RSA2048, F_PKCS1, false, 2048},
        {KEY_RSA512, F_SPKI, false, 512},
        {KEY_RSA512, F_PKCS1, false, 512},
        {KEY_RSA4096, F_SPKI, false, 4096},
        {KEY_RSA4096, F_PKCS1, false, 4096},
        {KEY_OTHER2048, F_SPKI, false, 2048},
        {KEY_ED, F_RAW, true, 256},
        /* the other type */
        {KEY_ED, F_RAW, false, 0},
        {KEY_ED, F_SPKI, false, 0}, /* an Ed25519 SPKI is no RSA key */
        {KEY_ED, F_SPKI, true, 0},  /* Ed25519 is the raw 32 bytes (RFC 8463 4.2) */
        {KEY_RSA2048, F_SPKI, true, 0},
        {KEY_RSA2048, F_PKCS1, true, 0},
        /* damaged */
        {KEY_RSA2048, F_SPKI_SHORT, false, 0},
        {KEY_RSA2048, F_SPKI_LONG, false, 0},
        {KEY_RSA2048, F_PKCS1_LONG, false, 0},
        {KEY_ED, F_RAW_SHORT, true, 0},
        {KEY_ED, F_RAW_LONG, true, 0},
        {KEY_RSA2048, F_GARBAGE, false, 0},
        {KEY_RSA2048, F_GARBAGE, true, 0},
        {KEY_RSA2048, F_EMPTY, false, 0},
        {KEY_ED, F_EMPTY, true, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_pkeys *c = dkim_pkeys_new();
        struct buf b = BUF_INIT;
        unsigned bits = 12345;
        EVP_PKEY *k;

        print_message("case %zu\n", i);
        key_bytes(cases[i].key, cases[i].form, &b);
        k = get(c, cases[i].ed25519, &b, &bits);
        if (cases[i].bits == 0) {
            assert_null(k);
        } else {
            assert_non_null(k);
            assert_int_equal(bits, cases[i].bits);
            assert_int_equal(EVP_PKEY_eq(k, priv[cases[i].key]), 1);
            assert_int_equal(EVP_PKEY_is_a(k, cases[i].ed25519 ? "ED25519" : "RSA"), 1);
        }
        EVP_PKEY_free(k);
        buf_free(&b);
        assert_null(dkim_pkeys_free(c));
    }
}

/* the same bytes of the same type are one key; keys outlive the cache */
static void test_cache_hit(void **state)
{
    struct dkim_pkeys *c = dkim_pkeys_new();
    struct buf spki = BUF_INIT, pkcs1 = BUF_INIT, raw = BUF_INIT;
    EVP_PKEY *k1, *k2, *k3, *e1, *e2;
    unsigned bits = 0;

    (void)state;
    key_bytes(KEY_RSA2048, F_SPKI, &spki);
    key_bytes(KEY_RSA2048, F_PKCS1, &pkcs1);
    key_bytes(KEY_ED, F_RAW, &raw);
    k1 = get(c, false, &spki, &bits);
    assert_non_null(k1);
    bits = 0;
    k2 = get(c, false, &spki, &bits); /* from another copy of the bytes */
    assert_ptr_equal(k1, k2);
    assert_int_equal(bits, 2048);      /* a hit reports the size too */
    k3 = get(c, false, &pkcs1, &bits); /* other bytes: another entry, the same key */
    assert_non_null(k3);
    assert_ptr_not_equal(k3, k1);
    assert_int_equal(EVP_PKEY_eq(k3, k1), 1);
    /* the Ed25519 bytes: cached as Ed25519, never handed out as RSA */
    e1 = get(c, true, &raw, &bits);
    assert_non_null(e1);
    assert_null(get(c, false, &raw, &bits));
    e2 = get(c, true, &raw, &bits);
    assert_ptr_equal(e1, e2);
    assert_int_equal(bits, 256);
    /* the RSA bytes are never an Ed25519 key, cached or not */
    assert_null(get(c, true, &spki, &bits));
    /* keys handed out stay valid after the cache is gone */
    assert_null(dkim_pkeys_free(c));
    assert_int_equal(EVP_PKEY_eq(k1, priv[KEY_RSA2048]), 1);
    assert_int_equal(EVP_PKEY_get_bits(k2), 2048);
    assert_int_equal(EVP_PKEY_eq(e2, priv[KEY_ED]), 1);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    EVP_PKEY_free(e1);
    EVP_PKEY_free(e2);
    buf_free(&spki);
    buf_free(&pkcs1);
    buf_free(&raw);
}

/* ed_pub_of - the raw public key of the Ed25519 key with seed i (bytes i, i>>8, 0x5a, 0...) */
static bool ed_pub_of(unsigned i, unsigned char pub[32])
{
    unsigned char seed[32] = {(unsigned char)i, (unsigned char)(i >> 8), 0x5a};
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, sizeof(seed));
    size_t len = 32;
    bool ok = k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32;

    EVP_PKEY_free(k);
    return ok;
}

/* ed_pub - ed_pub_of(), which must work */
static void ed_pub(unsigned i, unsigned char pub[32])
{
    assert_true(ed_pub_of(i, pub));
}

/* more distinct keys than DKIM_PKEYS_MAX: the cache starts over, nothing leaks */
static void test_cache_full(void **state)
{
    struct dkim_pkeys *c = dkim_pkeys_new();
    unsigned char pub[32];
    EVP_PKEY *first, *k;
    const char *why;
    unsigned bits;

    (void)state;
    ed_pub(0, pub);
    first = dkim_pkeys_get(c, true, pub, sizeof(pub), &bits, &why);
    assert_non_null(first);
    for (unsigned i = 1; i < DKIM_PKEYS_MAX; i++) {
        ed_pub(i, pub);
        k = dkim_pkeys_get(c, true, pub, sizeof(pub), &bits, &why);
        assert_non_null(k);
        EVP_PKEY_free(k);
    }
    ed_pub(0, pub); /* full, still held */
    k = dkim_pkeys_get(c, true, pub, sizeof(pub), &bits, &why);
    assert_ptr_equal(k, first);
    EVP_PKEY_free(k);
    for (unsigned i = DKIM_PKEYS_MAX; i < DKIM_PKEYS_MAX + 10; i++) {
        EVP_PKEY *again;

        ed_pub(i, pub);
        k = dkim_pkeys_get(c, true, pub, sizeof(pub), &bits, &why);
        assert_non_null(k);
        again = dkim_pkeys_get(c, true, pub, sizeof(pub), &bits, &why);
        assert_ptr_equal(again, k);
        EVP_PKEY_free(again);
        EVP_PKEY_free(k);
    }
    /* the first key was dropped when the cache started over: decoded anew */
    ed_pub(0, pub);
    k = dkim_pkeys_get(c, true, pub, sizeof(pub), &bits, &why);
    assert_non_null(k);
    assert_ptr_not_equal(k, first);
    assert_int_equal(EVP_PKEY_eq(k, first), 1);
    assert_int_equal(bits, 256);
    EVP_PKEY_free(k);
    assert_null(dkim_pkeys_free(c));
    /* and the reference handed out first still verifies */
    {
        unsigned char seed[32] = {0, 0, 0x5a}, digest[DKIM_SHA256_LEN], sig[64];
        EVP_PKEY *sk = ed_from_seed(seed);
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        size_t siglen = sizeof(sig);

        SHA256((const unsigned char *)"data", 4, digest);
        assert_int_equal(EVP_DigestSignInit(mc, NULL, NULL, NULL, sk), 1);
        assert_int_equal(EVP_DigestSign(mc, sig, &siglen, digest, sizeof(digest)), 1);
        assert_int_equal(dkim_pkey_verify(first, true, digest, sig, siglen), 1);
        EVP_MD_CTX_free(mc);
        EVP_PKEY_free(sk);
    }
    EVP_PKEY_free(first);
}

#define THREADS       4
#define THREAD_KEYS   (DKIM_PKEYS_MAX / 2 + 8) /* the threads together overflow the cache */
#define THREAD_ROUNDS 3
static struct dkim_pkeys *shared;

/* thread_main - fetch this thread's keys (and one common key) a few times over */
static void *thread_main(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg, bad = 0;

    for (unsigned r = 0; r < THREAD_ROUNDS; r++) {
        for (unsigned i = 0; i < THREAD_KEYS; i++) {
            unsigned id = i % 8 == 0 ? 9999 : t * 1000 + i, bits = 0;
            const char *why;
            unsigned char pub[32], got[32];
            size_t len = sizeof(got);
            EVP_PKEY *k;

            if (!ed_pub_of(id, pub)) { /* no cmocka asserts off the main thread */
                bad++;
                continue;
            }
            k = dkim_pkeys_get(shared, true, pub, sizeof(pub), &bits, &why);
            if (k == NULL || bits != 256 || EVP_PKEY_get_raw_public_key(k, got, &len) != 1 ||
                memcmp(got, pub, sizeof(pub)) != 0)
                bad++;
            EVP_PKEY_free(k);
        }
    }
    return (void *)(uintptr_t)bad;
}

/* threads share one cache: every key is the one asked for */
static void test_threads(void **state)
{
    pthread_t th[THREADS];

    (void)state;
    shared = dkim_pkeys_new();
    for (uintptr_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, (void *)t), 0);
    for (int t = 0; t < THREADS; t++) {
        void *bad = NULL;

        assert_int_equal(pthread_join(th[t], &bad), 0);
        assert_int_equal((uintptr_t)bad, 0);
    }
    shared = dkim_pkeys_free(shared);
}

/* sign - a signature of digest with priv[key] (RSASSA-PKCS1-v1_5/SHA-256, PSS, or Ed25519) */
static void sign(int key, bool pss, const unsigned char *data, size_t datalen, struct buf *sig)
{
    size_t len = 0;

    if (key == KEY_ED) {
        EVP_MD_CTX *mc = EVP_MD_CTX_new();

        assert_int_equal(EVP_DigestSignInit(mc, NULL, NULL, NULL, priv[key]), 1);
        assert_int_equal(EVP_DigestSign(mc, NULL, &len, data, datalen), 1);
        buf_reserve(sig, len);
        assert_int_equal(EVP_DigestSign(mc, (unsigned char *)sig->data, &len, data, datalen), 1);
        EVP_MD_CTX_free(mc);
    } else {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(priv[key], NULL);

        assert_int_equal(EVP_PKEY_sign_init(pc), 1);
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_padding(pc, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_sign(pc, NULL, &len, data, datalen), 1);
        buf_reserve(sig, len);
        assert_int_equal(EVP_PKEY_sign(pc, (unsigned char *)sig->data, &len, data, datalen), 1);
        EVP_PKEY_CTX_free(pc);
    }
    sig->len = len;
    sig->data[len] = '\0';
}

/* signatures over a digest: good ones verify, anything changed does not */
static void test_verify(void **state)
{
    static const int keys[] = {KEY_RSA512, KEY_RSA2048, KEY_RSA4096, KEY_ED};
    const char *data = "from:Alice <alice@example.test>\r\ndkim-signature:v=1; b=";
    unsigned char digest[DKIM_SHA256_LEN], other[DKIM_SHA256_LEN];

    (void)state;
    SHA256((const unsigned char *)data, strlen(data), digest);
    memcpy(other, digest, sizeof(other));
    other[7] ^= 0x10;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int key = keys[i];
        bool ed = key == KEY_ED;
        struct dkim_pkeys *c = dkim_pkeys_new();
        struct buf pubb = BUF_INIT, sig = BUF_INIT, bad = BUF_INIT;
        const char *why;
        unsigned bits;
        EVP_PKEY *pub, *wrong;

        print_message("key %d\n", key);
        key_bytes(key, ed ? F_RAW : F_SPKI, &pubb);
        pub = get(c, ed, &pubb, &bits);
        assert_non_null(pub);
        sign(key, false, digest, sizeof(digest), &sig);
        assert_int_equal(dkim_pkey_verify(pub, ed, digest, (unsigned char *)sig.data, sig.len), 1);
        /* one bit flipped anywhere in the signature */
        for (size_t at = 0; at < sig.len; at += sig.len / 7 + 1) {
            buf_reset(&bad);
            buf_add(&bad, sig.data, sig.len);
            bad.data[at] ^= 0x01;
            assert_int_equal(dkim_pkey_verify(pub, ed, digest, (unsigned char *)bad.data, bad.len),
                             0);
        }
        /* another digest, a signature too short, too long or empty */
        assert_int_equal(dkim_pkey_verify(pub, ed, other, (unsigned char *)sig.data, sig.len), 0);
        assert_int_equal(dkim_pkey_verify(pub, ed, digest, (unsigned char *)sig.data, sig.len - 1),
                         0);
        buf_reset(&bad);
        buf_add(&bad, sig.data, sig.len);
        buf_putc(&bad, 0);
        assert_int_equal(dkim_pkey_verify(pub, ed, digest, (unsigned char *)bad.data, bad.len), 0);
        assert_int_equal(dkim_pkey_verify(pub, ed, digest, (unsigned char *)bad.data, 0), 0);
        /* the wrong key */
        if (ed) {
            unsigned char seed[32] = {1}, wpub[32];
            size_t wlen = sizeof(wpub);
            EVP_PKEY *wk = ed_from_seed(seed);

            assert_int_equal(EVP_PKEY_get_raw_public_key(wk, wpub, &wlen), 1);
            EVP_PKEY_free(wk);
            wrong = dkim_pkeys_get(c, true, wpub, wlen, &bits, &why);
        } else {
            struct buf wb = BUF_INIT;

            key_bytes(KEY_OTHER2048, F_SPKI, &wb);
            wrong = get(c, false, &wb, &bits);
            buf_free(&wb);
        }
        assert_non_null(wrong);
        assert_int_equal(dkim_pkey_verify(wrong, ed, digest, (unsigned char *)sig.data, sig.len),
                         0);
        EVP_PKEY_free(wrong);
        /* the right key over something else than the digest */
        buf_reset(&sig);
        if (ed) /* Ed25519 over the header data itself, not its SHA-256 (RFC 8463 3) */
            sign(key, false, (const unsigned char *)data, strlen(data), &sig);
        else /* RSASSA-PSS is not RSASSA-PKCS1-v1_5 */
            sign(key, true, digest, sizeof(digest), &sig);
        assert_int_equal(dkim_pkey_verify(pub, ed, digest, (unsigned char *)sig.data, sig.len), 0);
        ERR_clear_error();
        EVP_PKEY_free(pub);
        buf_free(&pubb);
        buf_free(&sig);
        buf_free(&bad);
        assert_null(dkim_pkeys_free(c));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ed25519_fixture), cmocka_unit_test(test_decode),
        cmocka_unit_test(test_cache_hit),       cmocka_unit_test(test_cache_full),
        cmocka_unit_test(test_threads),         cmocka_unit_test(test_verify),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
