/*
 * test_track_token.c - pixel tokens that carry their own proof (track.h):
 * a token made under a key is well-formed and valid under that key, and
 * its tag is HMAC-SHA256 as OpenSSL's own HMAC() computes it (an
 * independent oracle); every altered token - one character changed
 * anywhere, cut, lengthened, a tag from another key or another token,
 * random well-formed strings - is refused; without a key the tracker
 * queues a well-formed token unverified (tracker_token_verdict).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "track.h"
#include "tracker.h"
#include "util.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* decode - the 21 bytes of a 28-character base64url token, by OpenSSL's decoder */
static void decode(const char *tok, unsigned char out[21])
{
    char std[TRACK_TOKEN_LEN + 1];
    unsigned char tmp[24];

    for (size_t i = 0; i < TRACK_TOKEN_LEN; i++)
        std[i] = tok[i] == '-' ? '+' : tok[i] == '_' ? '/' : tok[i];
    std[TRACK_TOKEN_LEN] = '\0';
    assert_int_equal(EVP_DecodeBlock(tmp, (const unsigned char *)std, TRACK_TOKEN_LEN), 21);
    memcpy(out, tmp, 21);
}

/* Tokens under three keys agree with HMAC() and are valid under theirs only. */
static void test_oracle(void **state)
{
    static const unsigned char keys[3][TRACK_KEY_LEN] = {
        {0},
        {0xff, 0xfe, 0xfd, 0x00, 0x01, 0x02, 0x80, 0x7f},
        {'p', 'o', 's', 't', 'm', 'e', 't', 'e', 'r', 1,  2,  3,  4,  5,  6,  7,
         8,   9,   10,  11,  12,  13,  14,  15,  16,  17, 18, 19, 20, 21, 22, 23},
    };
    struct track_key k[3];

    (void)state;
    for (size_t i = 0; i < 3; i++)
        track_key_set(&k[i], keys[i]);
    for (int n = 0; n < 300; n++) {
        size_t i = (size_t)n % 3;
        char tok[TRACK_TOKEN_LEN + 1];
        unsigned char b[21], msg[64], mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        size_t label = strlen(TRACK_TOKEN_LABEL);

        track_token_new(&k[i], tok);
        assert_int_equal(strlen(tok), TRACK_TOKEN_LEN);
        assert_int_equal(strspn(tok, b64url), TRACK_TOKEN_LEN);
        decode(tok, b);
        memcpy(msg, TRACK_TOKEN_LABEL, label);
        memcpy(msg + label, b, TRACK_TOKEN_RAND);
        assert_non_null(HMAC(EVP_sha256(), keys[i], TRACK_KEY_LEN, msg, label + TRACK_TOKEN_RAND,
                             mac, &maclen));
        assert_int_equal(maclen, 32);
        assert_memory_equal(b + TRACK_TOKEN_RAND, mac, TRACK_TOKEN_TAG);
        for (size_t j = 0; j < 3; j++)
            if (track_token_valid(&k[j], tok, TRACK_TOKEN_LEN) != (i == j))
                fail_msg("token %s of key %zu: valid under key %zu is %d", tok, i, j, i != j);
        assert_int_equal(tracker_token_verdict(&k[i], tok, TRACK_TOKEN_LEN), TOKEN_VALID);
        assert_int_equal(tracker_token_verdict(&k[(i + 1) % 3], tok, TRACK_TOKEN_LEN),
                         TOKEN_FORGED);
        assert_int_equal(tracker_token_verdict(NULL, tok, TRACK_TOKEN_LEN), TOKEN_UNVERIFIED);
    }
}

/* Every single-character change of a valid token, at every position, is refused. */
static void test_every_change(void **state)
{
    const unsigned char raw[TRACK_KEY_LEN] = {42};
    struct track_key k;
    char tok[TRACK_TOKEN_LEN + 1], bad[TRACK_TOKEN_LEN + 1];

    (void)state;
    track_key_set(&k, raw);
    track_token_new(&k, tok);
    assert_true(track_token_valid(&k, tok, TRACK_TOKEN_LEN));
    for (size_t pos = 0; pos < TRACK_TOKEN_LEN; pos++)
        for (size_t c = 0; c < 64; c++) {
            if (b64url[c] == tok[pos])
                continue;
            memcpy(bad, tok, sizeof(bad));
            bad[pos] = b64url[c];
            assert_true(track_token_wellformed(bad, TRACK_TOKEN_LEN));
            if (track_token_valid(&k, bad, TRACK_TOKEN_LEN))
                fail_msg("%s (position %zu changed) passes as valid", bad, pos);
            assert_int_equal(tracker_token_verdict(&k, bad, TRACK_TOKEN_LEN), TOKEN_FORGED);
        }
}

/* Altered tokens, one kind per row. */
static void test_altered(void **state)
{
    enum how { FLIP_BIT, CUT, LONGER, OTHER_TAG, SWAP_HALVES, NUL_INSIDE, BAD_CHAR };
    static const struct {
        const char *name;
        enum how how;
        size_t arg;
        bool wellformed; /* still a token's shape (so only the tag can refuse it) */
    } cases[] = {
        {"lowest bit of the first character", FLIP_BIT, 0, true},
        {"lowest bit of a random-part character", FLIP_BIT, 10, true},
        {"lowest bit of a tag character", FLIP_BIT, 20, true},
        {"lowest bit of the last character", FLIP_BIT, 27, true},
        {"cut by one", CUT, 27, false},
        {"cut to a 22-character (untagged) token", CUT, 22, false},
        {"one character more", LONGER, 29, false},
        {"the tag of another token", OTHER_TAG, 0, true},
        {"random part and tag swapped around", SWAP_HALVES, 0, true},
        {"a NUL inside", NUL_INSIDE, 5, false},
        {"a '+' (standard base64) inside", BAD_CHAR, 3, false},
    };
    const unsigned char raw[TRACK_KEY_LEN] = {7, 7, 7};
    struct track_key k;

    (void)state;
    track_key_set(&k, raw);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tok[TRACK_TOKEN_LEN + 1], other[TRACK_TOKEN_LEN + 1], bad[TRACK_TOKEN_LEN + 2];
        size_t n = TRACK_TOKEN_LEN;
        const char *p;

        track_token_new(&k, tok);
        track_token_new(&k, other);
        memcpy(bad, tok, TRACK_TOKEN_LEN + 1);
        switch (cases[i].how) {
        case FLIP_BIT:
            p = strchr(b64url, bad[cases[i].arg]);
            bad[cases[i].arg] = b64url[(size_t)(p - b64url) ^ 1];
            break;
        case CUT:
            n = cases[i].arg;
            bad[n] = '\0';
            break;
        case LONGER:
            bad[TRACK_TOKEN_LEN] = 'A';
            bad[TRACK_TOKEN_LEN + 1] = '\0';
            n = TRACK_TOKEN_LEN + 1;
            break;
        case OTHER_TAG: /* characters 16.. carry bytes 12..20: the tag */
            memcpy(bad + 16, other + 16, TRACK_TOKEN_LEN - 16);
            break;
        case SWAP_HALVES:
            memcpy(bad, tok + 16, 12);
            memcpy(bad + 12, tok, 16);
            break;
        case NUL_INSIDE:
            bad[cases[i].arg] = '\0';
            break;
        case BAD_CHAR:
            bad[cases[i].arg] = '+';
            break;
        }
        if (strcmp(bad, tok) == 0 && n == TRACK_TOKEN_LEN)
            continue; /* (another token's tag equal to this one's: 2^-72) */
        if (track_token_wellformed(bad, n) != cases[i].wellformed)
            fail_msg("%s: well-formed is %d", cases[i].name, !cases[i].wellformed);
        if (track_token_valid(&k, bad, n))
            fail_msg("%s: %.*s passes as valid", cases[i].name, (int)n, bad);
        assert_true(track_token_valid(&k, tok, TRACK_TOKEN_LEN));
    }
}

/* Random well-formed strings are refused (each passes with probability 2^-72). */
static void test_random(void **state)
{
    const unsigned char raw[TRACK_KEY_LEN] = {1};
    struct track_key k;
    unsigned char rnd[TRACK_TOKEN_LEN];
    char tok[TRACK_TOKEN_LEN + 1];

    (void)state;
    track_key_set(&k, raw);
    for (int n = 0; n < 20000; n++) {
        random_bytes(rnd, sizeof(rnd));
        for (size_t i = 0; i < TRACK_TOKEN_LEN; i++)
            tok[i] = b64url[rnd[i] & 63];
        tok[TRACK_TOKEN_LEN] = '\0';
        assert_true(track_token_wellformed(tok, TRACK_TOKEN_LEN));
        if (track_token_valid(&k, tok, TRACK_TOKEN_LEN))
            fail_msg("random %s passes as valid", tok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_every_change),
        cmocka_unit_test(test_altered),
        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
