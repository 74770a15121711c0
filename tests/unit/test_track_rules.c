/*
 * test_track_rules.c - open tracking's pieces without the milter
 * (lib/track.c): rule patterns normalised and matched, tokens, pixel
 * URLs and tracking_base_url's check. The stage and the store:
 * test_track.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "track.h"

struct pattern_case {
    const char *in;
    const char *normalized; /* NULL = refused */
};

static const struct pattern_case pattern_cases[] = {
    {"alice@example.org", "alice@example.org"},
    {"Alice@Example.ORG", "alice@example.org"},
    {"@Example.org", "@example.org"},
    {"alice@example.org.", "alice@example.org"},
    {"@xn--bcher-kva.example", "@xn--bcher-kva.example"},
    {"list+tag@lists.example", "list+tag@lists.example"},
    {"", NULL},
    {"alice", NULL},
    {"alice@", NULL},
    {"@", NULL},
    {"a@b@c.example", NULL},
    {"al ice@example.org", NULL},
    {"alice@exa mple.org", NULL},
    {"alice@.example.org", NULL},
    {"alice@example..org", NULL},
    {"<alice@example.org>", NULL},
    {"alice@example.org..", NULL},
};

static void test_patterns(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pattern_cases) / sizeof(pattern_cases[0]); i++) {
        const struct pattern_case *t = &pattern_cases[i];
        struct buf why = BUF_INIT;
        char *got = track_pattern_normalize(t->in, &why);

        if (t->normalized == NULL) {
            if (got != NULL)
                fail_msg("\"%s\" accepted as \"%s\"", t->in, got);
            assert_true(why.len > 0);
        } else {
            if (got == NULL)
                fail_msg("\"%s\" refused: %s", t->in, buf_cstr(&why));
            assert_string_equal(got, t->normalized);
        }
        free(got);
        buf_free(&why);
    }
}

struct match_case {
    const char *pattern, *addr;
    bool match;
};

static const struct match_case match_cases[] = {
    {"alice@example.org", "alice@example.org", true},
    {"alice@example.org", "ALICE@Example.Org", true},
    {"alice@example.org", "alice@example.org.", true},
    {"alice@example.org", "malice@example.org", false},
    {"alice@example.org", "alice@sub.example.org", false},
    {"alice@example.org", "alice@example.org.evil", false},
    {"@example.org", "bob@example.org", true},
    {"@example.org", "bob@EXAMPLE.org", true},
    {"@example.org", "bob@sub.example.org", false},
    {"@example.org", "bob@notexample.org", false},
    {"@example.org", "", false},
    {"@example.org", "example.org", false},
    {"@example.org", "\"x@example.org\"@evil.example", false},
};

static void test_pattern_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct match_case *t = &match_cases[i];

        if (track_pattern_match(t->pattern, t->addr) != t->match)
            fail_msg("%s vs %s: expected %s", t->pattern, t->addr, t->match ? "match" : "none");
    }
    assert_false(track_pattern_match("@example.org", NULL));
}

static void test_tokens_and_urls(void **state)
{
    char a[TRACK_TOKEN_LEN + 1], b[TRACK_TOKEN_LEN + 1];
    struct buf url = BUF_INIT, why = BUF_INIT;
    const unsigned char raw[TRACK_KEY_LEN] = {0};
    struct track_key key;

    (void)state;
    track_key_set(&key, raw);
    track_token_new(&key, a);
    track_token_new(&key, b);
    assert_int_equal(strlen(a), TRACK_TOKEN_LEN);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     TRACK_TOKEN_LEN);
    assert_string_not_equal(a, b);
    track_pixel_url("https://t.example/", "TOK", &url);
    assert_string_equal(buf_cstr(&url), "https://t.example/o/TOK.gif");
    buf_free(&url);
    track_pixel_url("http://t.example:8080/px", "TOK", &url);
    assert_string_equal(buf_cstr(&url), "http://t.example:8080/px/o/TOK.gif");
    buf_free(&url);
    assert_true(track_base_url_ok("https://t.example", &why));
    assert_false(track_base_url_ok("ftp://t.example", &why));
    assert_false(track_base_url_ok("https://", &why));
    assert_false(track_base_url_ok("https://t.example/\"onload=x", &why));
    assert_false(track_base_url_ok("https://t.example/a b", &why));
    assert_false(track_base_url_ok("javascript:alert(1)", &why));
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_pattern_match),
        cmocka_unit_test(test_tokens_and_urls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
