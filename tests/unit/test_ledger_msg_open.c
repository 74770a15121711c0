/*
 * test_ledger_msg_open.c - the ledger's open records (LEDGER_OPEN) in the
 * spool format: every open field survives encode/decode (NULL apart from
 * "", hostile bytes in the user agent, a huge one cut to what the reader
 * takes), the record's kind is kept, a message record written by an
 * older binary (no kind) still decodes as a message and is encoded to
 * the same bytes, a kind this binary does not know is skipped, and the
 * queue's memory count includes the open fields.
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
#include "ledger_msg.h"
#include "util.h"

#define NOPEN 7 /* the string fields of an open: host and the six open_* */

/* open_slot - address of the i-th string field of an open, in a fixed order */
static char **open_slot(struct ledger_msg *m, size_t i)
{
    char **const slots[NOPEN] = {&m->host,        &m->open_token, &m->open_ip,    &m->open_agent,
                                 &m->open_method, &m->open_class, &m->open_reason};

    return slots[i];
}

/* same_str - NULL-aware string equality */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* assert_same_open - a and b hold the same open, NULL and "" told apart */
static void assert_same_open(const char *what, struct ledger_msg *a, struct ledger_msg *b)
{
    assert_non_null(a);
    assert_non_null(b);
    if (b->kind != LEDGER_OPEN)
        fail_msg("%s: kind %d came back", what, (int)b->kind);
    assert_string_equal(a->uid, b->uid);
    assert_true(a->received_at == b->received_at);
    for (size_t i = 0; i < NOPEN; i++)
        if (!same_str(*open_slot(a, i), *open_slot(b, i)))
            fail_msg("%s: field %zu: %.40s vs %.40s", what, i,
                     *open_slot(a, i) ? *open_slot(a, i) : "NULL",
                     *open_slot(b, i) ? *open_slot(b, i) : "NULL");
    /* an open carries nothing of a message */
    assert_null(b->action);
    assert_null(b->mail_from);
    assert_null(b->track_token);
    assert_int_equal(b->nrcpts, 0);
    assert_int_equal(b->nauth, 0);
}

struct open_case {
    const char *name;
    const char *strs[NOPEN]; /* NULL = field unset */
    int64_t received_at;
};

static const struct open_case open_cases[] = {
    {"all-null", {NULL}, 0},
    {"typical",
     {"px.example.org", "AAAAAAAAAAAAAAAAAAAAAA", "192.0.2.0",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
      "Safari/537.36",
      "GET", "human", "no rule matched"},
     1795000000},
    {"ipv6-head-no-agent",
     {"px.example.org", "_-_-_-_-_-_-_-_-_-_-_w", "2001:db8:1::", NULL, "HEAD", "scanner",
      "HEAD request"},
     INT64_MAX},
    {"empty-strings", {"", "", "", "", "", "", ""}, -1},
    {"agent-newlines-and-framing",
     {"px", "BBBBBBBBBBBBBBBBBBBBBB", NULL, "a\nR\nE 00000000\nuid 32:x\nkind 7:message\n", "GET",
      "prefetch", "Sec-Purpose: prefetch"},
     INT64_MIN},
    {"agent-not-utf8",
     {"px", "CCCCCCCCCCCCCCCCCCCCCC", "198.51.100.0", "\xff\xfe\xc3\x28\xa0\xa1\x80\x01\x7f\r",
      "GET", "proxy", "GoogleImageProxy"},
     1},
};

/* build_open - an open record from a case (fresh uid); caller frees */
static struct ledger_msg *build_open(const struct open_case *c)
{
    struct ledger_msg *m = ledger_msg_new_open();

    for (size_t i = 0; i < NOPEN; i++)
        if (c->strs[i])
            ledger_msg_set(open_slot(m, i), c->strs[i]);
    m->received_at = c->received_at;
    return m;
}

/* round_trip - decode m's encoding (all of it must be used), check it, and that it
 * encodes to the same bytes again; returns the decoded copy (caller frees) */
static struct ledger_msg *round_trip(const char *what, struct ledger_msg *m)
{
    struct buf b = BUF_INIT, again = BUF_INIT;
    struct ledger_msg *back;
    size_t used = 0;

    ledger_msg_encode(m, &b);
    back = ledger_msg_decode(b.data, b.len, &used);
    if (back == NULL || used != b.len)
        fail_msg("%s: decode gave %p, used %zu of %zu", what, (void *)back, used, b.len);
    ledger_msg_encode(back, &again);
    if (again.len != b.len || memcmp(again.data, b.data, b.len) != 0)
        fail_msg("%s: encoded differently the second time", what);
    buf_free(&again);
    buf_free(&b);
    return back;
}

/* test_open_round_trip - every open case decodes to the open that was encoded */
static void test_open_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
        struct ledger_msg *m = build_open(&open_cases[i]);
        struct ledger_msg *back = round_trip(open_cases[i].name, m);

        assert_same_open(open_cases[i].name, m, back);
        ledger_msg_free(back);
        ledger_msg_free(m);
    }
}

/* test_open_every_prefix_torn - any cut of an open record is "not complete yet" */
static void test_open_every_prefix_torn(void **state)
{
    struct ledger_msg *m = build_open(&open_cases[4]);
    struct buf b = BUF_INIT;

    (void)state;
    ledger_msg_encode(m, &b);
    for (size_t len = 0; len < b.len; len++) {
        char *copy = xmalloc(len ? len : 1); /* a private copy: ASan sees a read past len */
        size_t used = 12345;
        struct ledger_msg *got;

        memcpy(copy, b.data, len);
        got = ledger_msg_decode(copy, len, &used);
        if (got != NULL || used != 0)
            fail_msg("prefix of %zu bytes (of %zu): used %zu", len, b.len, used);
        free(copy);
    }
    ledger_msg_free(m);
    buf_free(&b);
}

/* test_open_huge_agent - a 100 KiB agent survives whole; one past the reader's 1 MiB is cut */
static void test_open_huge_agent(void **state)
{
    static const size_t sizes[] = {100 * 1024, 1048576, 1048576 + 1, 3 * 1048576};
    struct ledger_msg *m = build_open(&open_cases[1]);

    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char *big = xmalloc(sizes[k] + 1);
        struct ledger_msg *back;
        struct buf b = BUF_INIT;
        size_t used = 0, want = sizes[k] < 1048576 ? sizes[k] : 1048576;

        for (size_t i = 0; i < sizes[k]; i++)
            big[i] = (char)(1 + (i * 7) % 255); /* every byte value but NUL, newlines too */
        big[sizes[k]] = '\0';
        ledger_msg_set(&m->open_agent, big);
        ledger_msg_encode(m, &b);
        back = ledger_msg_decode(b.data, b.len, &used);
        if (back == NULL || used != b.len)
            fail_msg("agent of %zu bytes: decode gave %p, used %zu of %zu", sizes[k], (void *)back,
                     used, b.len);
        assert_int_equal(back->kind, LEDGER_OPEN);
        assert_int_equal(strlen(back->open_agent), want);
        assert_memory_equal(back->open_agent, big, want);
        assert_string_equal(back->open_token, m->open_token);
        assert_string_equal(back->open_class, m->open_class);
        ledger_msg_free(back);
        buf_free(&b);
        free(big);
    }
    ledger_msg_free(m);
}

/*
 * A message record exactly as the binary before record kinds wrote it
 * (the encoder of lib/ledger_msg.c at commit 23773a5, run on the record
 * below): no "kind" field.
 */
static const char old_message[] = "R\n"
                                  "uid 32:0190f3a2b4c5d6e7f8091a2b3c4d5e6f\n"
                                  "direction 8:outbound\n"
                                  "size 4:4321\n"
                                  "received_at 10:1795000000\n"
                                  "host 14:mx.example.org\n"
                                  "queue_id 5:4XyZ1\n"
                                  "mail_from 15:alice@a.example\n"
                                  "header_from 15:alice@a.example\n"
                                  "action 6:accept\n"
                                  "track_token 22:AAAAAAAAAAAAAAAAAAAAAA\n"
                                  "track_outcome 8:injected\n"
                                  "rcpt 13:bob@b.example\n"
                                  "auth 4:dkim\n"
                                  "auth_result 4:pass\n"
                                  "auth_identity 9:a.example\n"
                                  "E 4bf32117\n";

/* test_old_message_record - an older binary's record is a message, re-encoded byte for byte */
static void test_old_message_record(void **state)
{
    size_t len = sizeof(old_message) - 1, used = 0;
    struct ledger_msg *m = ledger_msg_decode(old_message, len, &used);
    struct buf b = BUF_INIT;

    (void)state;
    assert_non_null(m);
    assert_int_equal(used, len);
    assert_int_equal(m->kind, LEDGER_MESSAGE);
    assert_string_equal(m->uid, "0190f3a2b4c5d6e7f8091a2b3c4d5e6f");
    assert_int_equal(m->direction, LEDGER_OUTBOUND);
    assert_true(m->size == 4321 && m->received_at == 1795000000);
    assert_string_equal(m->action, "accept");
    assert_string_equal(m->track_token, "AAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(m->nrcpts, 1);
    assert_int_equal(m->nauth, 1);
    assert_string_equal(m->auth[0].identity, "a.example");
    for (size_t i = 0; i < NOPEN; i++)
        if (i > 0) /* host is a message's field too */
            assert_null(*open_slot(m, i));
    /* A message is still written as before, so an older binary reads it back. */
    ledger_msg_encode(m, &b);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, old_message, len);
    ledger_msg_free(m);
    buf_free(&b);
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

struct kind_case {
    const char *name;
    const char *field; /* the kind line, between the uid and the token */
    int want;          /* the kind decoded, -1 = the record is skipped whole */
};

static const struct kind_case kind_cases[] = {
    {"no-kind", "", LEDGER_MESSAGE},          {"message", "kind 7:message\n", LEDGER_MESSAGE},
    {"open", "kind 4:open\n", LEDGER_OPEN},   {"newer-kind", "kind 5:click\n", -1},
    {"upper-case", "kind 4:OPEN\n", -1},      {"empty", "kind 0:\n", -1},
    {"open-with-tail", "kind 5:open \n", -1},
};

/* test_kind_field - the kind field decides the kind; one this binary does not know is skipped */
static void test_kind_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
        const struct kind_case *c = &kind_cases[i];
        struct buf b = BUF_INIT;
        struct ledger_msg *m;
        size_t used = 0, want_used;

        buf_puts(&b, "R\nuid 32:0123456789abcdef0123456789abcdef\n");
        buf_puts(&b, c->field);
        buf_puts(&b, "open_token 22:AAAAAAAAAAAAAAAAAAAAAA\nopen_class 5:human\n");
        buf_printf(&b, "E %08x\n", (unsigned)crc32_ieee(b.data, b.len));
        want_used = b.len;
        buf_puts(&b, "R\n"); /* the start of a following record */
        m = ledger_msg_decode(b.data, b.len, &used);
        if (used != want_used)
            fail_msg("%s: used %zu, want %zu", c->name, used, want_used);
        if (c->want < 0) {
            if (m != NULL)
                fail_msg("%s: a record of kind %d came back", c->name, (int)m->kind);
        } else {
            if (m == NULL || (int)m->kind != c->want)
                fail_msg("%s: got %p, kind %d", c->name, (void *)m, m ? (int)m->kind : -1);
            assert_string_equal(m->open_token, "AAAAAAAAAAAAAAAAAAAAAA");
            assert_string_equal(m->open_class, "human");
        }
        ledger_msg_free(m);
        buf_free(&b);
    }
}

/* test_new_open - a fresh open: its kind, a fresh uid, nothing else set */
static void test_new_open(void **state)
{
    struct ledger_msg *o = ledger_msg_new_open(), *o2 = ledger_msg_new_open();
    struct ledger_msg *m = ledger_msg_new();

    (void)state;
    assert_int_equal(o->kind, LEDGER_OPEN);
    assert_int_equal(m->kind, LEDGER_MESSAGE);
    assert_int_equal(strlen(o->uid), LEDGER_UID_LEN);
    assert_int_equal(strspn(o->uid, "0123456789abcdef"), LEDGER_UID_LEN);
    assert_string_not_equal(o->uid, o2->uid);
    for (size_t i = 0; i < NOPEN; i++)
        assert_null(*open_slot(o, i));
    assert_true(o->received_at == 0 && o->nrcpts == 0 && o->nauth == 0);
    ledger_msg_free(o);
    ledger_msg_free(o2);
    ledger_msg_free(m);
}

/* test_open_mem - the queue's byte count includes each open field (the bound holds for opens) */
static void test_open_mem(void **state)
{
    struct ledger_msg *m = ledger_msg_new_open();
    size_t base = ledger_msg_mem(m);

    (void)state;
    for (size_t i = 1; i < NOPEN; i++) {
        size_t before = ledger_msg_mem(m), len = 100 * i;
        char *v = xmalloc(len + 1);

        memset(v, 'a', len);
        v[len] = '\0';
        ledger_msg_set(open_slot(m, i), v);
        if (ledger_msg_mem(m) != before + len + 1 + LEDGER_MEM_CHUNK)
            fail_msg("open field %zu: mem %zu after %zu, want %zu more", i, ledger_msg_mem(m),
                     before, len + 1 + LEDGER_MEM_CHUNK);
        free(v);
    }
    assert_true(ledger_msg_mem(m) > base);
    ledger_msg_free(m); /* LeakSanitizer: every open field is freed with the record */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_round_trip), cmocka_unit_test(test_open_every_prefix_torn),
        cmocka_unit_test(test_open_huge_agent), cmocka_unit_test(test_old_message_record),
        cmocka_unit_test(test_kind_field),      cmocka_unit_test(test_new_open),
        cmocka_unit_test(test_open_mem),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
