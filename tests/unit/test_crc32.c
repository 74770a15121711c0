/*
 * test_crc32.c - lib/crc32.c against published CRC-32 check values and
 * against a bit-at-a-time reference over every length and alignment the
 * eight-byte steps and the byte tail can meet, whole and in pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crc32.h"

/* reference - the CRC one bit at a time, straight from the polynomial */
static uint32_t reference(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

/* the check values of the CRC catalogue (CRC-32/ISO-HDLC) and zlib's crc32() */
static void test_known_values(void **state)
{
    static const struct {
        const char *in;
        uint32_t want;
    } cases[] = {
        {"", 0x00000000u},
        {"a", 0xe8b7be43u},
        {"123456789", 0xcbf43926u},
        {"The quick brown fox jumps over the lazy dog", 0x414fa339u},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].in);
        uint32_t want =
            cases[i].want ? cases[i].want : reference((const unsigned char *)cases[i].in, n);

        assert_int_equal(crc32_update(0, cases[i].in, n), want);
        assert_int_equal(reference((const unsigned char *)cases[i].in, n), want);
    }
}

/* every length 0..200 at every offset 0..7, and split at every point: the same CRC */
static void test_lengths_offsets_pieces(void **state)
{
    unsigned char buf[256];
    uint32_t x = 2463534242u;

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift32: bytes of every value */
        buf[i] = (unsigned char)x;
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 200; n++) {
            uint32_t want = reference(buf + off, n);

            assert_int_equal(crc32_update(0, buf + off, n), want);
            for (size_t cut = 0; cut <= n; cut += (n < 20 ? 1 : 7))
                assert_int_equal(
                    crc32_update(crc32_update(0, buf + off, cut), buf + off + cut, n - cut), want);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_lengths_offsets_pieces),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
