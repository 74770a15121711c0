/*
 * test_mproto.c - the milter protocol's framing and string splitting
 * (milter/mproto.c) on their own; whole conversations are in
 * test_msession.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mproto.h"

/* framing and string splitting on their own */
static void test_mproto(void **state)
{
    unsigned char d[] = "a\0bc\0\0";
    char *argv[4];
    struct mpkt p;
    size_t used;

    (void)state;
    assert_int_equal(mproto_frame((const unsigned char *)"\0\0", 2, &p, &used), MPROTO_INCOMPLETE);
    assert_int_equal(mproto_frame((const unsigned char *)"\0\0\0\x02"
                                                         "B",
                                  5, &p, &used),
                     MPROTO_INCOMPLETE);
    assert_int_equal(mproto_frame((const unsigned char *)"\0\0\0\x02"
                                                         "Bx",
                                  6, &p, &used),
                     MPROTO_PACKET);
    assert_int_equal(used, 6);
    assert_int_equal(p.cmd, 'B');
    assert_int_equal(p.len, 1);
    assert_int_equal(mproto_strings(d, 6, argv, 4), 3);
    assert_string_equal(argv[1], "bc");
    assert_string_equal(argv[2], "");
    assert_null(argv[3]);
    assert_int_equal(mproto_strings(d, 6, argv, 3), -1); /* no room for the NULL */
    assert_int_equal(mproto_strings((unsigned char *)"ab", 2, argv, 4), -1);
    assert_int_equal(mproto_strings(d, 0, argv, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mproto),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
