/*
 * test_buf.c - the growable buffer: NUL after the data, binary safety,
 * growth, truncation, stealing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_binary_and_growth),
        cmocka_unit_test(test_printf_truncate_steal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
