/*
 * test_ledger_msg.c - the ledger record and its spool encoding: every
 * field survives encode/decode (NULL apart from ""), unknown fields from
 * a newer binary are ignored, every prefix of a record reads as torn,
 * every single-byte corruption is refused, and garbage between records
 * is skipped without losing the records around it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "buf.h"
#include "ledger_msg.h"
#include "util.h"

#define NSTR 15 /* string fields of struct ledger_msg */

/* str_slot - address of the i-th string field of m, in a fixed order */
static char **str_slot(struct ledger_msg *m, size_t i)
{
    char **const slots[NSTR] = {
        &m->host,       &m->queue_id, &m->message_id,  &m->date_header,   &m->client_ip,
        &m->client_ptr, &m->helo,     &m->sasl_user,   &m->mail_from,     &m->header_from,
        &m->subject,    &m->action,   &m->track_token, &m->track_outcome, &m->track_reason};

    return slots[i];
}

/* assert_same_msg - a and b hold the same record, NULL and "" told apart */
static void assert_same_msg(struct ledger_msg *a, struct ledger_msg *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a->uid, b->uid);
    assert_int_equal(a->direction, b->direction);
    assert_true(a->size == b->size);
    assert_true(a->received_at == b->received_at);
    for (size_t i = 0; i < NSTR; i++) {
        const char *x = *str_slot(a, i), *y = *str_slot(b, i);

        if (x == NULL || y == NULL) {
            if (x != y)
                fail_msg("string field %zu: %s vs %s", i, x ? x : "NULL", y ? y : "NULL");
        } else if (strcmp(x, y) != 0) {
            fail_msg("string field %zu differs", i);
        }
    }
    assert_int_equal(a->nrcpts, b->nrcpts);
    for (size_t i = 0; i < a->nrcpts; i++)
        assert_string_equal(a->rcpts[i], b->rcpts[i]);
    assert_int_equal(a->nauth, b->nauth);
    for (size_t i = 0; i < a->nauth; i++) {
        const struct ledger_auth *x = &a->auth[i], *y = &b->auth[i];
        const char *const xs[] = {x->method,    x->result, x->identity,    x->selector,
                                  x->algorithm, x->policy, x->disposition, x->reason};
        const char *const ys[] = {y->method,    y->result, y->identity,    y->selector,
                                  y->algorithm, y->policy, y->disposition, y->reason};

        for (size_t k = 0; k < 8; k++)
            if ((xs[k] == NULL || ys[k] == NULL) ? xs[k] != ys[k] : strcmp(xs[k], ys[k]) != 0)
                fail_msg("auth %zu field %zu: %s vs %s", i, k, xs[k] ? xs[k] : "NULL",
                         ys[k] ? ys[k] : "NULL");
    }
}

/* crc32_ieee - CRC-32 as zlib computes it, bit by bit (an independent reference) */
static uint32_t crc32_ieee(const char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned char)p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

/* seal - append the "E <crc>" trailer to a hand-written record body in b */
static void seal(struct buf *b)
{
    buf_printf(b, "E %08x\n", (unsigned)crc32_ieee(b->data, b->len));
}

/*
 * test_encode_bytes - the spool format byte for byte (a spool written by
 * an older build must read the same): numbers as "%lld" would print them,
 * lengths in decimal, the trailer as "E %08x" of the CRC (seal() computes
 * it here with its own CRC and printf).
 */
static void test_encode_bytes(void **state)
{
    static const struct {
        int64_t size, at;
        const char *want_size, *want_at;
    } cases[] = {
        {0, 1, "0", "1"},
        {-5, 1700000000, "-5", "1700000000"},
        {9, 10, "9", "10"},
        {INT64_MAX, INT64_MIN, "9223372036854775807", "-9223372036854775808"},
        {-1, 99999999999LL, "-1", "99999999999"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ledger_msg *m = ledger_msg_new();
        struct buf got = BUF_INIT, want = BUF_INIT;

        memcpy(m->uid, "0123456789abcdef0123456789abcdef", LEDGER_UID_LEN);
        m->size = cases[i].size;
        m->received_at = cases[i].at;
        m->direction = LEDGER_OUTBOUND;
        ledger_msg_set(&m->helo, "mx.example");
        ledger_msg_encode(m, &got);
        buf_printf(&want,
                   "R\nuid 32:0123456789abcdef0123456789abcdef\ndirection 8:outbound\n"
                   "size %zu:%s\nreceived_at %zu:%s\nhelo 10:mx.example\n",
                   strlen(cases[i].want_size), cases[i].want_size, strlen(cases[i].want_at),
                   cases[i].want_at);
        seal(&want);
        if (strcmp(buf_cstr(&got), buf_cstr(&want)) != 0)
            fail_msg("case %zu: encoded\n%s\nwant\n%s", i, buf_cstr(&got), buf_cstr(&want));
        buf_free(&got);
        buf_free(&want);
        ledger_msg_free(m);
    }
}

struct rt_case {
    const char *name;
    const char *strs[NSTR]; /* NULL = field unset */
    enum ledger_direction dir;
    int64_t size, received_at;
    const char *rcpts[4]; /* NULL-terminated */
};

static const struct rt_case rt_cases[] = {
    {"all-null", {NULL}, LEDGER_INBOUND, 0, 0, {NULL}},
    {"typical",
     {"mx.example.org", "4XyZ1", "<1@a.example>", "Tue, 24 Nov 2026 10:00:00 +0000", "192.0.2.1",
      "mail.a.example", "helo.a.example", NULL, "alice@a.example", "alice@a.example", "Hello",
      "accept", "AAAAAAAAAAAAAAAAAAAAAA", "injected", NULL},
     LEDGER_INBOUND,
     1234,
     1795000000,
     {"bob@example.test", "carol@example.test", NULL}},
    {"outbound-empty-strings",
     {"", "", "", "", "", "", "", "alice", "", "", "", "reject", "", "", ""},
     LEDGER_OUTBOUND,
     -1,
     -5,
     {"", NULL}},
    {"extremes",
     {NULL, NULL, NULL, NULL, "::1", NULL, NULL, NULL, NULL, NULL, NULL, "tempfail"},
     LEDGER_OUTBOUND,
     INT64_MAX,
     INT64_MIN,
     {NULL}},
    {"awkward-bytes",
     {"tab\there", "new\nline", "\nR\n", "E 00000000\n", "rcpt 3:abc\n", "\x01\x7f\x80\xff",
      "a:b c", "R", "E", "  ", "\r\n.\r\n", "discard", "\n", "track_token 3:x\n", "R"},
     LEDGER_INBOUND,
     7,
     8,
     {"x\ny", "\nE 12345678\n", "R\n", NULL}},
};

/* build - a record from a case (fresh uid); caller frees */
static struct ledger_msg *build(const struct rt_case *c)
{
    struct ledger_msg *m = ledger_msg_new();

    for (size_t i = 0; i < NSTR; i++)
        if (c->strs[i])
            ledger_msg_set(str_slot(m, i), c->strs[i]);
    m->direction = c->dir;
    m->size = c->size;
    m->received_at = c->received_at;
    for (size_t i = 0; c->rcpts[i]; i++)
        ledger_msg_add_rcpt(m, c->rcpts[i]);
    return m;
}

/* test_round_trip - every case decodes to the record that was encoded, using all bytes */
static void test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rt_cases) / sizeof(rt_cases[0]); i++) {
        struct ledger_msg *m = build(&rt_cases[i]), *back;
        struct buf b = BUF_INIT;
        size_t used = 0;

        ledger_msg_encode(m, &b);
        back = ledger_msg_decode(b.data, b.len, &used);
        if (back == NULL || used != b.len)
            fail_msg("%s: decode gave %p, used %zu of %zu", rt_cases[i].name, (void *)back, used,
                     b.len);
        assert_same_msg(m, back);
        ledger_msg_free(back);
        ledger_msg_free(m);
        buf_free(&b);
    }
}

/* test_long_values - 100 KB values and 1000 recipients survive, as does a 1 MiB value */
static void test_long_values(void **state)
{
    struct ledger_msg *m = ledger_msg_new(), *back;
    struct buf b = BUF_INIT;
    char *big = xmalloc(1048576 + 1);
    size_t used;

    (void)state;
    for (size_t i = 0; i < 1048576; i++)
        big[i] = (char)(1 + i % 255); /* every byte value but NUL */
    big[100 * 1024] = '\0';
    ledger_msg_set(&m->subject, big);
    ledger_msg_set(&m->message_id, big + 17);
    ledger_msg_set(&m->action, "accept");
    for (int i = 0; i < 1000; i++) {
        char r[64];

        snprintf(r, sizeof(r), "user%d@example.test", i);
        ledger_msg_add_rcpt(m, r);
    }
    big[100 * 1024] = 'x';
    big[1048576] = '\0';
    ledger_msg_set(&m->header_from, big); /* exactly the 1 MiB the decoder accepts */
    ledger_msg_encode(m, &b);
    back = ledger_msg_decode(b.data, b.len, &used);
    assert_int_equal(used, b.len);
    assert_same_msg(m, back);
    assert_int_equal(strlen(back->subject), 100 * 1024);
    ledger_msg_free(back);
    /* one byte more than the decoder accepts: cut, and the record still replays */
    free(big);
    big = xmalloc(1048576 + 2);
    memset(big, 'y', 1048576 + 1);
    big[1048576 + 1] = '\0';
    ledger_msg_set(&m->header_from, big);
    buf_reset(&b);
    ledger_msg_encode(m, &b);
    back = ledger_msg_decode(b.data, b.len, &used);
    assert_non_null(back);
    assert_int_equal(used, b.len);
    assert_int_equal(strlen(back->header_from), 1048576);
    assert_int_equal(back->nrcpts, 1000);
    ledger_msg_free(back);
    ledger_msg_free(m);
    buf_free(&b);
    free(big);
}

/* test_every_prefix_is_torn - any cut of a record is "not complete yet", never a skip */
static void test_every_prefix_is_torn(void **state)
{
    struct ledger_msg *m = build(&rt_cases[1]);
    struct buf b = BUF_INIT;

    (void)state;
    ledger_msg_encode(m, &b);
    for (size_t len = 0; len < b.len; len++) {
        /* A private copy, so ASan sees any read past len. */
        char *copy = xmalloc(len ? len : 1);
        size_t used = 12345;

        memcpy(copy, b.data, len);
        if (ledger_msg_decode(copy, len, &used) != NULL || used != 0)
            fail_msg("prefix of %zu bytes (of %zu): used %zu", len, b.len, used);
        free(copy);
    }
    ledger_msg_free(m);
    buf_free(&b);
}

/* test_every_corruption_refused - changing any one byte never yields a record */
static void test_every_corruption_refused(void **state)
{
    static const char repl[] = {'\n', '9', 'R', 'E', ' '};
    struct ledger_msg *m = build(&rt_cases[1]);
    struct buf b = BUF_INIT;

    (void)state;
    ledger_msg_encode(m, &b);
    for (size_t pos = 0; pos < b.len; pos++) {
        for (size_t k = 0; k <= sizeof(repl); k++) {
            char *copy = xmalloc(b.len);
            struct ledger_msg *got;
            size_t used;

            memcpy(copy, b.data, b.len);
            /* k == sizeof(repl): flip the case bit, otherwise put a meaningful byte */
            copy[pos] = k < sizeof(repl) ? repl[k] : (char)(copy[pos] ^ 0x20);
            if (copy[pos] == b.data[pos]) {
                free(copy);
                continue;
            }
            got = ledger_msg_decode(copy, b.len, &used);
            if (got != NULL)
                fail_msg("byte %zu set to 0x%02x: a record came back", pos,
                         (unsigned char)copy[pos]);
            assert_true(used <= b.len);
            free(copy);
        }
    }
    ledger_msg_free(m);
    buf_free(&b);
}

/* test_unknown_and_missing_fields - a newer writer's fields are ignored, absent ones are NULL */
static void test_unknown_and_missing_fields(void **state)
{
    struct buf b = BUF_INIT;
    struct ledger_msg *m;
    size_t used;

    (void)state;
    buf_puts(&b, "R\n"
                 "uid 32:0123456789abcdef0123456789abcdef\n"
                 "future_field 5:a\nb:c\n"
                 "helo 7:mx.test\n"
                 "rcpt 1:a\n"
                 "dkim_result 4:pass\n"
                 "rcpt 1:b\n");
    seal(&b);
    m = ledger_msg_decode(b.data, b.len, &used);
    assert_non_null(m);
    assert_int_equal(used, b.len);
    assert_string_equal(m->uid, "0123456789abcdef0123456789abcdef");
    assert_string_equal(m->helo, "mx.test");
    assert_int_equal(m->direction, LEDGER_INBOUND);
    assert_null(m->action);
    assert_null(m->mail_from);
    assert_true(m->size == 0 && m->received_at == 0);
    assert_int_equal(m->nrcpts, 2);
    assert_string_equal(m->rcpts[0], "a");
    assert_string_equal(m->rcpts[1], "b");
    ledger_msg_free(m);
    buf_free(&b);
}

/* test_auth_round_trip - authentication results survive, in order, NULLs kept */
static void test_auth_round_trip(void **state)
{
    struct ledger_msg *m = ledger_msg_new(), *back;
    struct ledger_auth *a;
    struct buf b = BUF_INIT;
    size_t used;

    (void)state;
    ledger_msg_set(&m->action, "accept");
    a = ledger_msg_add_auth(m, "spf", "softfail");
    ledger_msg_set(&a->identity, "example.org");
    a = ledger_msg_add_auth(m, "dkim", "pass");
    ledger_msg_set(&a->identity, "example.org");
    ledger_msg_set(&a->selector, "sel\n1");
    ledger_msg_set(&a->algorithm, "ed25519-sha256");
    ledger_msg_set(&a->reason, "");
    a = ledger_msg_add_auth(m, "dmarc", "fail");
    ledger_msg_set(&a->identity, "example.org");
    ledger_msg_set(&a->policy, "reject");
    ledger_msg_set(&a->disposition, "quarantine");
    ledger_msg_set(&a->reason, "pct=50 sampled");
    ledger_msg_encode(m, &b);
    back = ledger_msg_decode(b.data, b.len, &used);
    assert_int_equal(used, b.len);
    assert_same_msg(m, back);
    assert_int_equal(back->nauth, 3);
    assert_null(back->auth[0].selector);
    assert_string_equal(back->auth[1].reason, "");
    ledger_msg_free(back);
    /* The bound: no more than LEDGER_AUTH_MAX results per record. */
    while (ledger_msg_add_auth(m, "dkim", "fail") != NULL)
        ;
    assert_int_equal(m->nauth, LEDGER_AUTH_MAX);
    ledger_msg_free(m);
    buf_free(&b);
}

/* test_auth_malformed - auth fields out of place make the record malformed */
static void test_auth_malformed(void **state)
{
    static const char *const bodies[] = {
        "uid 32:0123456789abcdef0123456789abcdef\nauth_result 4:pass\n", /* before any auth */
        "uid 32:0123456789abcdef0123456789abcdef\nauth 3:spf\n",         /* no result */
    };

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct buf b = BUF_INIT;
        size_t used;

        buf_puts(&b, "R\n");
        buf_puts(&b, bodies[i]);
        seal(&b);
        assert_null(ledger_msg_decode(b.data, b.len, &used));
        assert_int_equal(used, b.len); /* skipped whole */
        buf_free(&b);
    }
}

struct bad_case {
    const char *name;
    const char *body; /* the record between "R\n" and the trailer, sealed with a good CRC */
};

#define UID "uid 32:0123456789abcdef0123456789abcdef\n"

static const struct bad_case bad_cases[] = {
    {"no-uid", "helo 2:mx\n"},
    {"short-uid", "uid 4:abcd\n"},
    {"upper-case-uid", "uid 32:0123456789ABCDEF0123456789abcdef\n"},
    {"bad-direction", UID "direction 8:sideways\n"},
    {"size-not-number", UID "size 3:12a\n"},
    {"size-empty", UID "size 0:\n"},
    {"size-overflow", UID "size 20:99999999999999999999\n"},
    {"received-at-too-small", UID "received_at 20:-9223372036854775809\n"},
    {"upper-case-name", UID "Helo 2:mx\n"},
    {"no-length", UID "helo :mx\n"},
    {"length-too-long", UID "helo 2:mxx\n"},
    {"nul-in-value", UID "helo 3:m\0x\n"},
    {"over-1MiB", UID "helo 1048577:"},
    {"eight-digit-length", UID "helo 00000002:mx\n"},
    {"name-too-long", UID "abcdefghijklmnopqrstuvwxyz0123456 1:x\n"},
};

/* test_bad_records_skipped - a complete record with bad content is skipped whole */
static void test_bad_records_skipped(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const char *body = bad_cases[i].body;
        /* the one case with a NUL: its length is known from the text */
        size_t blen =
            strcmp(bad_cases[i].name, "nul-in-value") == 0 ? strlen(UID) + 11 : strlen(body);
        struct buf b = BUF_INIT;
        struct ledger_msg *m;
        size_t used = 0, want;

        buf_puts(&b, "R\n");
        buf_add(&b, body, blen);
        if (strcmp(bad_cases[i].name, "over-1MiB") == 0) {
            for (size_t k = 0; k < 1048577; k++)
                buf_putc(&b, 'x');
            buf_putc(&b, '\n');
        }
        seal(&b);
        want = b.len;
        buf_puts(&b, "R\n"); /* the start of a following record */
        m = ledger_msg_decode(b.data, b.len, &used);
        if (m != NULL || used != want)
            fail_msg("%s: got %p, used %zu, want NULL and %zu", bad_cases[i].name, (void *)m, used,
                     want);
        buf_free(&b);
    }
}

/* test_resync_between_records - garbage before, between and after records is skipped */
static void test_resync_between_records(void **state)
{
    struct ledger_msg *a = build(&rt_cases[1]), *c = build(&rt_cases[4]), *got[4] = {NULL};
    struct buf b = BUF_INIT;
    size_t at = 0, n = 0, skips = 0;

    (void)state;
    buf_puts(&b, "garbage line\nmore \x01 garbage\n");
    ledger_msg_encode(a, &b);
    buf_puts(&b, "R\nhelo 2:mx\nE 00000000\n"); /* a complete record with a wrong CRC */
    buf_puts(&b, "R\nnot a field at all\n");    /* a broken record */
    ledger_msg_encode(c, &b);
    buf_puts(&b, "trailing junk without newline");
    while (at < b.len) {
        size_t used;
        struct ledger_msg *m = ledger_msg_decode(b.data + at, b.len - at, &used);

        if (used == 0)
            break; /* the torn tail */
        at += used;
        if (m == NULL)
            skips++;
        else if (n < 4)
            got[n++] = m;
        else
            fail_msg("too many records");
    }
    assert_int_equal(n, 2);
    assert_same_msg(a, got[0]);
    assert_same_msg(c, got[1]);
    assert_int_equal(skips, 3);
    assert_int_equal(b.len - at, strlen("trailing junk without newline"));
    for (size_t i = 0; i < n; i++)
        ledger_msg_free(got[i]);
    ledger_msg_free(a);
    ledger_msg_free(c);
    buf_free(&b);
}

/* test_random_garbage - decoding pseudo-random bytes never crashes or overreads */
static void test_random_garbage(void **state)
{
    uint32_t seed = 12345;

    (void)state;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 300), at = 0;
        char *p = xmalloc(len ? len : 1);

        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            /* a small alphabet makes record-like text likely */
            p[i] = "R\nE :0123456789abcdefuid"[(seed >> 16) % 24];
        }
        while (at < len) {
            size_t used;
            struct ledger_msg *m = ledger_msg_decode(p + at, len - at, &used);

            ledger_msg_free(m);
            if (used == 0)
                break;
            assert_true(used <= len - at);
            at += used;
        }
        free(p);
    }
}

/* test_new_and_rcpts - fresh uids are 32 lower-case hex, distinct, time-ordered; recipients grow */
static void test_new_and_rcpts(void **state)
{
    struct ledger_msg *a = ledger_msg_new(), *b = ledger_msg_new();

    (void)state;
    assert_int_equal(strlen(a->uid), LEDGER_UID_LEN);
    assert_int_equal(strspn(a->uid, "0123456789abcdef"), LEDGER_UID_LEN);
    assert_string_not_equal(a->uid, b->uid);
    /* time-ordered: 12 hex digits of milliseconds since the epoch lead */
    assert_true(strncmp(a->uid, b->uid, 12) <= 0);
    {
        char prefix[13];
        long long ms, now = (long long)time(NULL) * 1000;

        memcpy(prefix, a->uid, 12);
        prefix[12] = '\0';
        ms = strtoll(prefix, NULL, 16);
        assert_true(ms > now - 60000 && ms < now + 60000);
    }
    for (int i = 0; i < 300; i++) {
        char r[32];

        snprintf(r, sizeof(r), "r%d", i);
        ledger_msg_add_rcpt(a, r);
    }
    ledger_msg_add_rcpt(a, NULL);
    assert_int_equal(a->nrcpts, 301);
    for (int i = 0; i < 300; i++) {
        char r[32];

        snprintf(r, sizeof(r), "r%d", i);
        assert_string_equal(a->rcpts[i], r);
    }
    assert_string_equal(a->rcpts[300], "");
    ledger_msg_set(&a->helo, "one");
    ledger_msg_set(&a->helo, "two");
    assert_string_equal(a->helo, "two");
    ledger_msg_set(&a->helo, NULL);
    assert_null(a->helo);
    assert_string_equal(ledger_direction_name(LEDGER_INBOUND), "inbound");
    assert_string_equal(ledger_direction_name(LEDGER_OUTBOUND), "outbound");
    assert_null(ledger_msg_free(a));
    ledger_msg_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_bytes),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_every_prefix_is_torn),
        cmocka_unit_test(test_every_corruption_refused),
        cmocka_unit_test(test_unknown_and_missing_fields),
        cmocka_unit_test(test_bad_records_skipped),
        cmocka_unit_test(test_resync_between_records),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_new_and_rcpts),
        cmocka_unit_test(test_auth_round_trip),
        cmocka_unit_test(test_auth_malformed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
