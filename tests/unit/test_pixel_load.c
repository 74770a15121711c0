/*
 * test_pixel_load.c - the milter's loader of the pixel engine module
 * (milter/pixel_load.c): every module it must refuse, with the reason it
 * gives, then the real postmeter-pixel.so, which must inject a pixel and
 * stay loaded.
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

#include "buf.h"
#include "pixel_load.h"

#define UNIT_DIR  TEST_BUILD_DIR "/tests/unit/"
#define REAL_PATH TEST_BUILD_DIR "/pixelfilter/postmeter-pixel.so"

static char text_file[] = "/tmp/test_pixel_load.XXXXXX";

static const struct {
    const char *path; /* NULL: the text file */
    const char *want; /* in the error */
} refused[] = {
    {UNIT_DIR "no-such-module.so", "No such file"},
    {UNIT_DIR, "cannot read file data: Is a directory"},
    {NULL, "invalid ELF header"}, /* a text file */
    {UNIT_DIR "fake_pixel_no_symbol.so", "has no postmeter_pixel_api_v1"},
    {UNIT_DIR "fake_pixel_unresolved.so", "undefined symbol: fake_pixel_nowhere"},
    {UNIT_DIR "fake_pixel_other_version.so", "is from postmeter 0.0.0-other, this is "},
    {UNIT_DIR "fake_pixel_other_abi.so", "has interface 2, this needs 1"},
    {UNIT_DIR "fake_pixel_other_layout.so", "was built with other data layouts"},
};

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *path = refused[i].path ? refused[i].path : text_file;
        char err[512] = "";

        if (pixel_load(path, err, sizeof(err)) != NULL)
            fail_msg("%s: loaded", path);
        if (strstr(err, refused[i].want) == NULL || strncmp(err, "cannot load", 11) != 0)
            fail_msg("%s: \"%s\" does not say \"%s\"", path, err, refused[i].want);
        assert_null(pixel_loaded());
    }
}

static void test_real(void **state)
{
    static const char msg[] = "From: a@example.org\r\nContent-Type: text/html\r\n\r\n"
                              "<html><body>Hi</body></html>\r\n";
    const struct pixel_api *px;
    struct pixel_report rep;
    struct buf out = BUF_INIT;
    char err[512] = "";

    (void)state;
    px = pixel_load(REAL_PATH, err, sizeof(err));
    if (px == NULL)
        fail_msg("%s: %s", REAL_PATH, err);
    assert_ptr_equal(pixel_loaded(), px);
    assert_int_equal(px->abi, PIXEL_API_ABI);
    assert_string_equal(px->version, POSTMETER_VERSION);
    assert_int_equal(px->inject(msg, sizeof(msg) - 1, "https://t.example/o/T.gif", &out, &rep),
                     PIXEL_INJECTED);
    assert_non_null(strstr(buf_cstr(&out), "<img src=\"https://t.example/o/T.gif\""));
    assert_string_equal(px->outcome_word(rep.outcome), "injected");
    buf_free(&out); /* the module's buffer, freed here: one malloc for both */
    /* loaded once: later calls return it whatever path they name */
    assert_ptr_equal(pixel_load(UNIT_DIR "no-such-module.so", err, sizeof(err)), px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused), /* first: nothing may be loaded yet */
        cmocka_unit_test(test_real),
    };
    char text[512];
    int fd = mkstemp(text_file), rc;

    memset(text, 'x', sizeof(text)); /* long enough for an ELF header: read, and refused */
    if (fd < 0 || write(fd, text, sizeof(text)) != (ssize_t)sizeof(text))
        return 1;
    close(fd);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(text_file);
    return rc;
}
