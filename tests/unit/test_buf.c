/*
 * test_buf.c - the growable buffer: NUL after the data, binary safety,
 * growth, truncation, stealing, decimal numbers.
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

static void test_empty(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_binary_and_growth(void **state)
{
    struct buf b = BUF_INIT;
    char chunk[100];

    (void)state;
    memset(chunk, 'x', sizeof(chunk));
    chunk[50] = '\0';
    for (int i = 0; i < 1000; i++)
        buf_add(&b, chunk, sizeof(chunk));
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(b.data[50], '\0');
    assert_int_equal(b.data[99999], 'x');
    buf_free(&b);
    assert_null(b.data);
}

static void test_printf_truncate_steal(void **state)
{
    struct buf b = BUF_INIT;
    char *s;

    (void)state;
    buf_puts(&b, "ab");
    buf_printf(&b, "%d-%s", 42, "z");
    buf_putc(&b, '!');
    assert_string_equal(buf_cstr(&b), "ab42-z!");
    buf_truncate(&b, 2);
    assert_string_equal(buf_cstr(&b), "ab");
    buf_reset(&b);
    assert_string_equal(buf_cstr(&b), "");
    buf_printf(&b, "%0500d", 7);
    assert_int_equal(b.len, 500);
    s = buf_steal(&b);
    assert_int_equal(strlen(s), 500);
    assert_null(b.data);
    free(s);
}

/* test_dec - buf_dec_format / buf_put_dec print what printf's "%lld" prints, at the edges and
 * between
 */
static void test_dec(void **state)
{
    static const int64_t fixed[] = {
        0,    1,      -1,         9,         10,        -10,           99,           100, 999,
        1000, -12345, 1234567890, INT64_MAX, INT64_MIN, INT64_MIN + 1, INT64_MAX - 1};
    uint64_t x = 0x9e3779b97f4a7c15u;

    (void)state;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 10000; i++) {
        int64_t v;
        char want[32], got[BUF_DEC_MAX + 1];
        size_t n;
        struct buf b = BUF_INIT;

        if (i < sizeof(fixed) / sizeof(fixed[0])) {
            v = fixed[i];
        } else { /* xorshift: every magnitude, both signs */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            v = (int64_t)(x >> (x % 64));
            if (x & 1)
                v = -v;
        }
        snprintf(want, sizeof(want), "%lld", (long long)v);
        n = buf_dec_format(got, v);
        assert_true(n <= BUF_DEC_MAX);
        got[n] = '\0';
        assert_string_equal(got, want);
        buf_puts(&b, "<");
        buf_put_dec(&b, v);
        assert_int_equal(b.len, 1 + strlen(want));
        assert_string_equal(buf_cstr(&b) + 1, want);
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_binary_and_growth),
        cmocka_unit_test(test_printf_truncate_steal),
        cmocka_unit_test(test_dec),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
