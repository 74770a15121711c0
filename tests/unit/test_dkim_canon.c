/*
 * test_dkim_canon.c - RFC 6376 canonicalization (lib/dkim_canon.c):
 * bodies under simple (3.4.3) and relaxed (3.4.4) against their known
 * canonical text, fed whole, a byte at a time and split in two at every
 * point, with l= limits (3.4.5) before, inside and beyond the body; the
 * RFC's own example (3.4.5); prefix digests taken on the way for several
 * l= at once (dkim_body_cuts); header fields (3.4.1, 3.4.2).
 *
 * Expected digests are never written down: each is OpenSSL's SHA-256 of
 * the expected canonical text (its first limit bytes), computed here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/sha.h>

#include "buf.h"
#include "dkim_canon.h"
#include "util.h"

enum feed { FEED_WHOLE, FEED_BYTES, FEED_SPLIT };

/* body_run - the digest and total of body[0..len) (split at cut for FEED_SPLIT) */
static unsigned long long body_run(const char *body, size_t len, bool relaxed,
                                   unsigned long long limit, enum feed how, size_t cut,
                                   unsigned char digest[DKIM_SHA256_LEN])
{
    struct dkim_body b;
    unsigned char *copy = xmalloc(len ? len : 1); /* no NUL after: ASan sees overreads */
    unsigned long long total;

    memcpy(copy, body, len);
    assert_true(dkim_body_init(&b, relaxed, limit));
    switch (how) {
    case FEED_WHOLE:
        dkim_body_update(&b, copy, len);
        break;
    case FEED_BYTES:
        for (size_t i = 0; i < len; i++)
            dkim_body_update(&b, copy + i, 1);
        break;
    case FEED_SPLIT:
        dkim_body_update(&b, copy, cut);
        dkim_body_update(&b, copy + cut, 0);
        dkim_body_update(&b, copy + cut, len - cut);
        break;
    }
    assert_true(dkim_body_final(&b, digest));
    total = b.total;
    dkim_body_free(&b);
    dkim_body_free(&b); /* any number of times */
    free(copy);
    return total;
}

/* check_body - body canonicalizes to want (wantlen bytes), every feed, every limit */
static void check_body(const char *body, size_t len, bool relaxed, const char *want, size_t wantlen)
{
    const unsigned long long limits[] = {
        DKIM_BODY_ALL, 0, 1, wantlen / 2, wantlen ? wantlen - 1 : 0, wantlen, wantlen + 1,
        wantlen + 1000};

    for (size_t li = 0; li < sizeof(limits) / sizeof(limits[0]); li++) {
        unsigned long long limit = limits[li];
        size_t hashed = limit < wantlen ? (size_t)limit : wantlen;
        unsigned char want_digest[SHA256_DIGEST_LENGTH], got[DKIM_SHA256_LEN];

        SHA256((const unsigned char *)want, hashed, want_digest);
        assert_int_equal(body_run(body, len, relaxed, limit, FEED_WHOLE, 0, got), wantlen);
        assert_memory_equal(got, want_digest, DKIM_SHA256_LEN);
        assert_int_equal(body_run(body, len, relaxed, limit, FEED_BYTES, 0, got), wantlen);
        assert_memory_equal(got, want_digest, DKIM_SHA256_LEN);
        for (size_t cut = 0; cut <= len; cut++) {
            assert_int_equal(body_run(body, len, relaxed, limit, FEED_SPLIT, cut, got), wantlen);
            assert_memory_equal(got, want_digest, DKIM_SHA256_LEN);
        }
    }
}

#define S(lit) lit, sizeof(lit) - 1 /* a literal with its length (NULs kept) */

/*
 * check_cuts - body (canonical form want) hashed once with cuts at every
 * length of at[]: each cut's digest is the SHA-256 of want's first at
 * bytes, taken exactly when at <= wantlen; the whole digest unchanged
 */
static void check_cuts(const char *body, size_t len, bool relaxed, const char *want, size_t wantlen,
                       const unsigned long long *at, size_t nat, size_t chunk)
{
    struct dkim_body_cut cut[16];
    struct dkim_body b;
    unsigned char digest[DKIM_SHA256_LEN], expect[SHA256_DIGEST_LENGTH];

    assert_true(nat <= 16);
    memset(cut, 0, sizeof(cut));
    for (size_t i = 0; i < nat; i++)
        cut[i].at = at[i];
    assert_true(dkim_body_init(&b, relaxed, DKIM_BODY_ALL));
    dkim_body_cuts(&b, cut, nat);
    for (size_t off = 0; off < len; off += chunk)
        dkim_body_update(&b, (const unsigned char *)body + off,
                         len - off < chunk ? len - off : chunk);
    assert_true(dkim_body_final(&b, digest));
    assert_int_equal(b.total, wantlen);
    SHA256((const unsigned char *)want, wantlen, expect);
    assert_memory_equal(digest, expect, DKIM_SHA256_LEN);
    for (size_t i = 0; i < nat; i++) {
        assert_int_equal(cut[i].ok, at[i] <= wantlen);
        if (cut[i].ok) {
            SHA256((const unsigned char *)want, (size_t)at[i], expect);
            assert_memory_equal(cut[i].digest, expect, DKIM_SHA256_LEN);
        }
    }
    dkim_body_free(&b);
}

/* one pass, several l=: the digest of each prefix, as if hashed alone */
static void test_body_cuts(void **state)
{
    static const char rfc[] = " C \r\nD \t E\r\n\r\n\r\n"; /* RFC 6376 3.4.5 */
    const unsigned long long small[] = {0, 1, 4, 8, 9, 10, 12, 13, 1000};
    const size_t chunks[] = {1, 3, 4096};
    struct buf big = BUF_INIT;

    (void)state;
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        check_cuts(rfc, sizeof(rfc) - 1, true, " C\r\nD E\r\n", 9, small, 9, chunks[c]);
        check_cuts(rfc, sizeof(rfc) - 1, false, " C \r\nD \t E\r\n", 12, small, 9, chunks[c]);
        check_cuts(rfc, sizeof(rfc) - 1, true, " C\r\nD E\r\n", 9, small, 0, chunks[c]);
    }
    /* long lines pass straight into the hash (no output block): cuts inside them */
    for (int i = 0; i < 2000; i++)
        buf_puts(&big, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n");
    {
        const unsigned long long at[] = {0, 2047, 2048, 2049, 64000, 65536, 127999, 128000};

        assert_int_equal(big.len, 128000);
        check_cuts(big.data, big.len, true, big.data, big.len, at, 8, 65536);
        check_cuts(big.data, big.len, false, big.data, big.len, at, 8, 100000);
        check_cuts(big.data, big.len, true, big.data, big.len, at, 8, 7);
    }
    buf_free(&big);
}

/* bodies and their canonical forms under both canonicalizations */
static void test_body(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        const char *simple;
        size_t simple_len;
        const char *relaxed;
        size_t relaxed_len;
    } cases[] = {
        /* RFC 6376 3.4.5: the example's body */
        {S(" C \r\nD \t E\r\n\r\n\r\n"), S(" C \r\nD \t E\r\n"), S(" C\r\nD E\r\n")},
        /* empty bodies: simple is one CRLF, relaxed nothing (3.4.3, 3.4.4, erratum 1384) */
        {S(""), S("\r\n"), S("")},
        {S("\r\n"), S("\r\n"), S("")},
        {S("\r\n\r\n\r\n"), S("\r\n"), S("")},
        /* no CRLF at the end: one is added */
        {S("a"), S("a\r\n"), S("a\r\n")},
        {S("a\r\nb"), S("a\r\nb\r\n"), S("a\r\nb\r\n")},
        {S("a \t"), S("a \t\r\n"), S("a\r\n")},
        {S("  "), S("  \r\n"), S("")},
        /* empty lines at the end go, those before content stay */
        {S("a\r\n"), S("a\r\n"), S("a\r\n")},
        {S("a\r\n\r\n"), S("a\r\n"), S("a\r\n")},
        {S("a\r\n\r\nb\r\n\r\n"), S("a\r\n\r\nb\r\n"), S("a\r\n\r\nb\r\n")},
        {S("\r\n\r\na"), S("\r\n\r\na\r\n"), S("\r\n\r\na\r\n")},
        /* lines of white space: content for simple, empty for relaxed */
        {S(" \r\n"), S(" \r\n"), S("")},
        {S("a\r\n \t \r\n"), S("a\r\n \t \r\n"), S("a\r\n")},
        {S("a\r\n \r\n\t\r\n"), S("a\r\n \r\n\t\r\n"), S("a\r\n")},
        {S("a\r\n \r\nb"), S("a\r\n \r\nb\r\n"), S("a\r\n\r\nb\r\n")},
        /* white space runs inside and at the start of a line are one space */
        {S("a  b\t\tc \r\n"), S("a  b\t\tc \r\n"), S("a b c\r\n")},
        {S("\t a\r\n"), S("\t a\r\n"), S(" a\r\n")},
        {S(" \t\r\n a \r\n"), S(" \t\r\n a \r\n"), S("\r\n a\r\n")},
        /* a CR or LF not part of a CRLF is an ordinary byte */
        {S("a\nb\r\n"), S("a\nb\r\n"), S("a\nb\r\n")},
        {S("a\rb\r\n"), S("a\rb\r\n"), S("a\rb\r\n")},
        {S("a\n"), S("a\n\r\n"), S("a\n\r\n")},
        {S("a \n"), S("a \n\r\n"), S("a \n\r\n")},
        {S("a\r"), S("a\r\r\n"), S("a\r\r\n")},
        {S("\r"), S("\r\r\n"), S("\r\r\n")},
        {S("\n"), S("\n\r\n"), S("\n\r\n")},
        {S("\r\r\n"), S("\r\r\n"), S("\r\r\n")},
        {S("a \r"), S("a \r\r\n"), S("a \r\r\n")},
        {S("\n\r"), S("\n\r\r\n"), S("\n\r\r\n")},
        {S("a\r\n\r\r\n"), S("a\r\n\r\r\n"), S("a\r\n\r\r\n")},
        /* binary bytes pass */
        {S("a\0b\r\n"), S("a\0b\r\n"), S("a\0b\r\n")},
        {S("\xff \x80\r\n"), S("\xff \x80\r\n"), S("\xff \x80\r\n")},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu simple\n", i);
        check_body(cases[i].in, cases[i].len, false, cases[i].simple, cases[i].simple_len);
        print_message("case %zu relaxed\n", i);
        check_body(cases[i].in, cases[i].len, true, cases[i].relaxed, cases[i].relaxed_len);
    }
}

/* a body longer than the output block, with a limit inside and across blocks */
static void test_long_body(void **state)
{
    struct buf in = BUF_INIT, simple = BUF_INIT, relaxed = BUF_INIT;
    const unsigned long long limits[] = {DKIM_BODY_ALL, 2047, 2048, 2049, 4096, 10000};

    (void)state;
    for (int i = 0; i < 1500; i++) {
        buf_printf(&in, "line %d  with\t space \r\n", i);
        buf_printf(&relaxed, "line %d with space\r\n", i);
        if (i % 100 == 0) {
            buf_puts(&in, " \r\n\r\n");
            buf_puts(&relaxed, "\r\n\r\n");
        }
    }
    buf_add(&simple, in.data, in.len);
    buf_puts(&in, "\r\n \r\n\r\n"); /* dropped by relaxed; simple keeps up to the " " line */
    buf_puts(&simple, "\r\n \r\n");
    for (size_t li = 0; li < sizeof(limits) / sizeof(limits[0]); li++) {
        for (int r = 0; r <= 1; r++) {
            const struct buf *want = r ? &relaxed : &simple;
            unsigned long long limit = limits[li];
            size_t hashed = limit < want->len ? (size_t)limit : want->len;
            unsigned char want_digest[SHA256_DIGEST_LENGTH], got[DKIM_SHA256_LEN];

            print_message("limit %llu relaxed %d\n", limit, r);
            SHA256((const unsigned char *)want->data, hashed, want_digest);
            for (int how = FEED_WHOLE; how <= FEED_SPLIT; how++) {
                assert_int_equal(
                    body_run(in.data, in.len, r, limit, (enum feed)how, in.len / 3, got),
                    want->len);
                assert_memory_equal(got, want_digest, DKIM_SHA256_LEN);
            }
        }
    }
    buf_free(&in);
    buf_free(&simple);
    buf_free(&relaxed);
}

/* init starts afresh: nothing of an abandoned body carries over; SHA-256 is fetched once */
static void test_body_reinit(void **state)
{
    struct dkim_body b;
    unsigned char got[DKIM_SHA256_LEN], want[SHA256_DIGEST_LENGTH];

    (void)state;
    assert_true(dkim_body_init(&b, true, DKIM_BODY_ALL));
    dkim_body_update(&b, (const unsigned char *)"a \r", 3);
    dkim_body_free(&b);
    assert_true(dkim_body_init(&b, true, DKIM_BODY_ALL));
    dkim_body_update(&b, (const unsigned char *)"\nb", 2);
    assert_true(dkim_body_final(&b, got));
    dkim_body_free(&b);
    SHA256((const unsigned char *)"\nb\r\n", 4, want);
    assert_memory_equal(got, want, DKIM_SHA256_LEN);
    assert_non_null(dkim_sha256());
    assert_ptr_equal(dkim_sha256(), dkim_sha256());
}

/* header fields: simple leaves them alone, relaxed per RFC 6376 3.4.2 */
static void test_header(void **state)
{
    static const struct {
        const char *in;
        bool relaxed;
        const char *want;
    } cases[] = {
        /* RFC 6376 3.4.5: the example's header fields */
        {"A: X", false, "A: X"},
        {"B : Y\t\r\n\tZ  ", false, "B : Y\t\r\n\tZ  "},
        {"A: X", true, "a:X"},
        {"B : Y\t\r\n\tZ  ", true, "b:Y Z"},
        /* simple: byte for byte */
        {"Subject:  Hello\r\n\tWorld ", false, "Subject:  Hello\r\n\tWorld "},
        {"X-Tab:\tvalue", false, "X-Tab:\tvalue"},
        /* relaxed: name lower case, value's case kept */
        {"SUBJECT: HeLLo", true, "subject:HeLLo"},
        {"Message-ID: <A@B>", true, "message-id:<A@B>"},
        /* relaxed: white space around the colon goes */
        {"Subject:\tvalue after a tab", true, "subject:value after a tab"},
        {"X-Two:  two spaces", true, "x-two:two spaces"},
        {"Subject \t:  x", true, "subject:x"},
        /* relaxed: unfolded, runs are one space, nothing at the end */
        {"Subject: a\r\n\tb", true, "subject:a b"},
        {"Subject: a \r\n \r\n\tb \t", true, "subject:a b"},
        {"Subject: a\r\n b\r\n c", true, "subject:a b c"},
        {"To: A  <a@x> , \t B", true, "to:A <a@x> , B"},
        {"Subject:\r\n x", true, "subject:x"},
        {"DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=", true,
         "dkim-signature:v=1; a=rsa-sha256; b="},
        /* relaxed: empty values */
        {"Subject:", true, "subject:"},
        {"Subject:   \t", true, "subject:"},
        {"Subject: \r\n ", true, "subject:"},
        /* relaxed: 8-bit bytes pass and are not lower-cased */
        {"Subject: \xc3\x89t\xc3\xa9", true, "subject:\xc3\x89t\xc3\xa9"},
        /* only the first colon separates */
        {"X-Time: 10:20 : 30", true, "x-time:10:20 : 30"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out = BUF_INIT;
        size_t len = strlen(cases[i].in);
        char *copy = xmalloc(len); /* no NUL after: ASan sees overreads */

        print_message("case %zu\n", i);
        memcpy(copy, cases[i].in, len);
        buf_puts(&out, "prefix\r\n"); /* appended to what is there */
        dkim_canon_header(&out, copy, len, cases[i].relaxed);
        assert_true(out.len >= 8);
        assert_memory_equal(out.data, "prefix\r\n", 8);
        assert_int_equal(out.len - 8, strlen(cases[i].want));
        assert_memory_equal(out.data + 8, cases[i].want, out.len - 8);
        buf_free(&out);
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body),      cmocka_unit_test(test_body_cuts),
        cmocka_unit_test(test_long_body), cmocka_unit_test(test_body_reinit),
        cmocka_unit_test(test_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
