/*
 * test_ledger_msg_times.c - the millisecond times an open record carries
 * through the spool (lib/ledger_msg.c): open_ms and open_min_ms of an
 * open, track_ms of a tracked message survive encode/decode, so an open
 * that waited in the spool while the database was locked is still judged
 * by open_min_seconds when it is written; a record without them (0, as an
 * older binary wrote it) encodes to exactly the bytes it did before and
 * decodes to 0; a malformed value spoils the record like any other.
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

/* roundtrip - m encoded and decoded (caller frees); its bytes in out */
static struct ledger_msg *roundtrip(const struct ledger_msg *m, struct buf *out)
{
    size_t used = 0;
    struct ledger_msg *back;

    ledger_msg_encode(m, out);
    back = ledger_msg_decode(out->data, out->len, &used);
    assert_int_equal(used, out->len);
    return back;
}

static void test_times(void **state)
{
    static const struct {
        const char *name;
        enum ledger_kind kind;
        int64_t track_ms, open_ms, open_min_ms;
    } cases[] = {
        {"an open", LEDGER_OPEN, 0, 1795000000123LL, 2000},
        {"an open, no rule", LEDGER_OPEN, 0, 1795000000999LL, 0},
        {"an open of an older binary", LEDGER_OPEN, 0, 0, 0},
        {"a tracked message", LEDGER_MESSAGE, 1795000000001LL, 0, 0},
        {"a message", LEDGER_MESSAGE, 0, 0, 0},
        {"extremes", LEDGER_OPEN, INT64_MAX, INT64_MIN, 86400000},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ledger_msg *m =
            cases[i].kind == LEDGER_OPEN ? ledger_msg_new_open() : ledger_msg_new();
        struct ledger_msg *back;
        struct buf b = BUF_INIT;

        m->received_at = 1795000000;
        m->track_ms = cases[i].track_ms;
        m->open_ms = cases[i].open_ms;
        m->open_min_ms = cases[i].open_min_ms;
        back = roundtrip(m, &b);
        if (back == NULL)
            fail_msg("%s: did not decode", cases[i].name);
        if (back->track_ms != m->track_ms || back->open_ms != m->open_ms ||
            back->open_min_ms != m->open_min_ms || back->kind != m->kind)
            fail_msg("%s: came back as %lld/%lld/%lld", cases[i].name, (long long)back->track_ms,
                     (long long)back->open_ms, (long long)back->open_min_ms);
        /* written only when set: a record without them has the bytes of before */
        if ((strstr(buf_cstr(&b), "\nopen_ms ") != NULL) != (m->open_ms != 0) ||
            (strstr(buf_cstr(&b), "\nopen_min_ms ") != NULL) != (m->open_min_ms != 0) ||
            (strstr(buf_cstr(&b), "\ntrack_ms ") != NULL) != (m->track_ms != 0))
            fail_msg("%s: fields written: %s", cases[i].name, buf_cstr(&b));
        ledger_msg_free(back);
        ledger_msg_free(m);
        buf_free(&b);
    }
}

/* crc32 - CRC-32 (IEEE) of p[0..n), as the spool trailer has it */
static unsigned long crc32_of(const char *p, size_t n)
{
    unsigned long c = 0xffffffffUL;

    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char)p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320UL & (0UL - (c & 1)));
    }
    return c ^ 0xffffffffUL;
}

static void test_bad_value(void **state)
{
    static const char *const values[] = {"12x", "", "-", "99999999999999999999", " 1"};

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct buf b = BUF_INIT;
        size_t used = 0;
        char end[32];

        buf_printf(&b,
                   "R\nuid 32:0123456789abcdef0123456789abcdef\nkind 4:open\n"
                   "open_min_ms %zu:%s\n",
                   strlen(values[i]), values[i]);
        snprintf(end, sizeof(end), "E %08lx\n", crc32_of(b.data, b.len));
        buf_puts(&b, end);
        if (ledger_msg_decode(b.data, b.len, &used) != NULL)
            fail_msg("open_min_ms \"%s\" accepted", values[i]);
        assert_int_equal(used, b.len); /* skipped as a whole */
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_bad_value),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
