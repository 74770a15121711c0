/*
 * test_dkim_verify_bounds.c - the verifier's bound on the header it keeps
 * (auth/dkim_verify.h: DKIMV_HEADER_MAX): past it every chosen signature
 * is neutral "header too large", below it the same message goes on to
 * the key (here: no resolver, so temperror).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkim_verify.h"
#include "util.h"

#define SIG                                                                                        \
    "v=1; a=rsa-sha256; d=example.test; s=sel; c=relaxed/relaxed; h=from:subject; "                \
    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA=="

/* verify_with_filler - result and comment of one signed message with n filler bytes of header */
static char *verify_with_filler(size_t n)
{
    char err[128];
    struct dkimv *v = dkimv_open(NULL, 5, 1024, err, sizeof(err));
    struct dkimv_msg *m;
    const struct dkimv_results *r;
    char *line = xmalloc(1001), *got;

    assert_non_null(v);
    m = dkimv_begin(v, "q1", 0);
    dkimv_header(m, "DKIM-Signature", SIG);
    dkimv_header(m, "From", "alice@example.test");
    memset(line, 'x', 1000);
    line[1000] = '\0';
    for (size_t done = 0; done < n; done += 1000)
        dkimv_header(m, "X-Filler", line);
    dkimv_header(m, "Subject", "hello");
    dkimv_eoh(m);
    dkimv_body(m, (const unsigned char *)"hi\r\n", 4);
    r = dkimv_eom(m);
    assert_int_equal(r->n, 1);
    got = xasprintf("%s %s", dkimv_result_name(r->sig[0].result), r->sig[0].comment);
    dkimv_end(m);
    dkimv_close(v);
    free(line);
    return got;
}

static void test_header_bound(void **state)
{
    static const struct {
        size_t filler;
        const char *want;
    } cases[] = {
        {0, "temperror no resolver"},
        {500 * 1000, "temperror no resolver"},
        {1100 * 1000, "neutral header too large"},
        {3000 * 1000, "neutral header too large"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = verify_with_filler(cases[i].filler);

        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
