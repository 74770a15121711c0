/*
 * test_msession_input.c - how a milter session (msession.c) takes its
 * input: a body chunk of any size arrives whole however the reads split
 * it, and a connection does not keep a big input buffer once its packets
 * are handled; big packets under way are charged to a shared budget as
 * their bytes arrive (not as their length announces) and one that does
 * not fit ends its conversation; macros are bounded. The
 * conversations themselves are in test_msession.c.
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
#include "mproto.h"
#include "msession.h"
#include "msession_fixture.h"
#include "util.h"

static struct buf bodies; /* "body N;" for every body chunk the filter got */

/* t_negotiate - every step without a reply, as postmeter-milter asks */
static sfsistat t_negotiate(SMFICTX *s, unsigned long f0, unsigned long f1, unsigned long f2,
                            unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                            unsigned long *pf2, unsigned long *pf3)
{
    (void)s, (void)f0, (void)f2, (void)f3;
    *pf0 = 0;
    *pf1 = f1 & NR_ALL;
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat t_body(SMFICTX *s, unsigned char *chunk, size_t len)
{
    (void)s, (void)chunk;
    buf_printf(&bodies, "body %zu;", len);
    return SMFIS_NOREPLY;
}

static struct smfiDesc desc = {
    .xxfi_name = "test-input",
    .xxfi_version = SMFI_VERSION,
    .xxfi_body = t_body,
    .xxfi_negotiate = t_negotiate,
};

/*
 * test_big_chunk_released - a body chunk of any size arrives whole
 * however it is read, and once handled the connection's input buffer is
 * back to at most MSESSION_KEEP_MAX (100 connections must not each keep
 * the largest chunk they ever got)
 */
static void test_big_chunk_released(void **state)
{
    static const size_t sizes[] = {1, 4000, 8192, 20000, 65535};
    static const size_t steps[] = {0, 1000, 4096, 70000};

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
            SMFICTX *s = msession_new(&desc);
            struct buf in = BUF_INIT;
            char *chunk = xcalloc(1, sizes[i]), want[32];
            size_t room;

            memset(chunk, 'x', sizes[i]);
            session_start(&in);
            macro(&in, SMFIC_MAIL, "{mail_mailer}", "smtp", NULL);
            pkts(&in, SMFIC_MAIL, "<a@example.test>", NULL);
            pkts(&in, SMFIC_RCPT, "<b@example.test>", NULL);
            pkt(&in, SMFIC_EOH, NULL, 0);
            pkt(&in, SMFIC_BODY, chunk, sizes[i]);
            buf_reset(&bodies);
            for (size_t off = 0; off < in.len;) {
                size_t n;
                void *p = msession_space(s, &room);

                n = steps[j] && steps[j] < room ? steps[j] : room;
                if (n > in.len - off)
                    n = in.len - off;
                memcpy(p, in.data + off, n);
                assert_true(msession_received(s, n));
                buf_reset(msession_output(s));
                off += n;
            }
            snprintf(want, sizeof(want), "body %zu;", sizes[i]);
            if (strcmp(buf_cstr(&bodies), want) != 0)
                fail_msg("size %zu step %zu: %s", sizes[i], steps[j], buf_cstr(&bodies));
            msession_space(s, &room);
            if (room + 1 > MSESSION_KEEP_MAX)
                fail_msg("size %zu step %zu: %zu bytes of room kept", sizes[i], steps[j], room);
            msession_free(s);
            buf_free(&in);
            free(chunk);
        }
    }
}

/* started - a session past HELO, MAIL, RCPT and end of header, charging budget b (or none) */
static SMFICTX *started(struct msession_budget *b)
{
    SMFICTX *s = msession_new(&desc);
    struct buf in = BUF_INIT;

    msession_set_budget(s, b);
    session_start(&in);
    pkts(&in, SMFIC_MAIL, "<a@example.test>", NULL);
    pkts(&in, SMFIC_RCPT, "<b@example.test>", NULL);
    pkt(&in, SMFIC_EOH, NULL, 0);
    assert_true(msession_input(s, in.data, in.len));
    buf_reset(msession_output(s));
    buf_free(&in);
    return s;
}

/* body_part - the start of a body packet of len data bytes, with `sent` of them */
static bool body_part(SMFICTX *s, size_t len, size_t sent)
{
    struct buf in = BUF_INIT;
    bool ok;

    pkt_head(&in, SMFIC_BODY, len);
    buf_reserve(&in, sent);
    memset(in.data + in.len, 'x', sent);
    in.len += sent;
    ok = msession_input(s, in.data, in.len);
    buf_free(&in);
    return ok;
}

/* the rest of a body packet whose first `sent` data bytes came */
static bool body_rest(SMFICTX *s, size_t len, size_t sent)
{
    char *rest = xcalloc(1, len - sent);
    bool ok = msession_input(s, rest, len - sent);

    free(rest);
    return ok;
}

/* CHARGE - a big packet of len data bytes buffered whole: its 4-byte length, cmd, data, NUL */
#define CHARGE(len) (MILTER_LEN_BYTES + 1 + (len) + 1)

static const struct budget_case {
    const char *name;
    size_t budget;
    size_t len, sent; /* a body packet of len data bytes, sent of them so far */
    bool ok;          /* the conversation goes on */
    size_t used;      /* charged to the budget meanwhile */
    bool rest;        /* the rest of the packet is taken too */
} budget_cases[] = {
    {"small: never charged", 16384, 5000, 100, true, 0, true},
    /* what a length announces costs nothing until its bytes come */
    {"big, only its header", 16384, 12000, 0, true, 0, true},
    {"big, 4000 bytes: still in 8 KiB", 16384, 12000, 4000, true, 0, true},
    {"big, most of it: charged its size", 16384, 12000, 11999, true, CHARGE(12000), true},
    {"bigger, 20000 bytes: 32 KiB", 1u << 20, 100000, 20000, true, 32768, true},
    {"past the budget, only its header", 16384, 20000, 0, true, 0, false},
    {"past the budget once sent: ends", 16384, 20000, 16000, false, 16384, false},
    {"exactly the budget", CHARGE(12000), 12000, 10000, true, CHARGE(12000), true},
    {"one byte past it", CHARGE(12000) - 1, 12000, 10000, false, 0, false},
    /* the first report: a packet announced at 4 MiB, 4 MiB - 1 bytes sent */
    {"4 MiB held", 8u << 20, MPROTO_MAX_PACKET - 1, MPROTO_MAX_PACKET - 2, true,
     CHARGE(MPROTO_MAX_PACKET - 1), true},
    {"4 MiB refused", 4u << 20, MPROTO_MAX_PACKET - 1, MPROTO_MAX_PACKET - 2, false, 4u << 20,
     false},
    /* the second report: 4 MiB announced, only its header sent */
    {"4 MiB announced, header only", 8u << 20, MPROTO_MAX_PACKET - 1, 0, true, 0, true},
    {"4 MiB announced, 1 MiB sent: 2 MiB", 8u << 20, MPROTO_MAX_PACKET - 1, 1u << 20, true,
     2u << 20, true},
};

/*
 * test_budget - a big packet under way is charged to the budget as its
 * buffer grows with what arrives, until the packet has been handled (or
 * the session ends); a growth that does not fit ends the conversation
 */
static void test_budget(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(budget_cases) / sizeof(budget_cases[0]); i++) {
        const struct budget_case *bc = &budget_cases[i];
        struct msession_budget b = {0};
        SMFICTX *s;
        unsigned long n;
        bool ok;

        atomic_store(&b.max, bc->budget);
        s = started(&b);
        n = msession_packets(s);
        buf_reset(&bodies);
        ok = body_part(s, bc->len, bc->sent);
        if (ok != bc->ok || atomic_load(&b.used) != bc->used)
            fail_msg("%s: go on %d, %zu charged; want %d, %zu", bc->name, ok, atomic_load(&b.used),
                     bc->ok, bc->used);
        if (ok) {
            assert_int_equal(msession_pending(s), MILTER_LEN_BYTES + 1 + bc->sent);
            if (body_rest(s, bc->len, bc->sent) != bc->rest)
                fail_msg("%s: the rest taken %d, want %d", bc->name, !bc->rest, bc->rest);
        }
        if (ok && bc->rest) {
            assert_int_equal(msession_packets(s), n + 1);
            assert_int_equal(msession_pending(s), 0);
            if (atomic_load(&b.used) != 0)
                fail_msg("%s: %zu still charged once handled", bc->name, atomic_load(&b.used));
            assert_true(body_part(s, bc->len, bc->sent)); /* and again */
        }
        if (atomic_load(&b.used) > bc->budget)
            fail_msg("%s: %zu charged, past the budget", bc->name, atomic_load(&b.used));
        msession_free(s);
        if (atomic_load(&b.used) != 0)
            fail_msg("%s: %zu still charged after the session", bc->name, atomic_load(&b.used));
    }
}

/*
 * test_budget_announced - the second report: sessions that announce a
 * 4 MiB packet and send only its header hold none of the budget, however
 * many; a body chunk past 8 KiB on another session still goes through
 */
static void test_budget_announced(void **state)
{
    struct msession_budget b = {0};
    SMFICTX *hog[100], *s;

    (void)state;
    atomic_store(&b.max, 8u << 20);
    for (size_t i = 0; i < 100; i++) {
        hog[i] = started(&b);
        if (!body_part(hog[i], MPROTO_MAX_PACKET - 1, i % 2)) /* 4 bytes + cmd, or one more */
            fail_msg("session %zu announcing 4 MiB was cut (%zu charged)", i, atomic_load(&b.used));
    }
    assert_int_equal(atomic_load(&b.used), 0);
    s = started(&b);
    buf_reset(&bodies);
    assert_true(body_part(s, 60000, 30000));
    assert_true(body_rest(s, 60000, 30000));
    assert_string_equal(buf_cstr(&bodies), "body 60000;");
    msession_free(s);
    for (size_t i = 0; i < 100; i++)
        msession_free(hog[i]);
    assert_int_equal(atomic_load(&b.used), 0);
}

/*
 * test_budget_proportional - whatever the pieces, what a big packet
 * holds of the budget is below twice (what has arrived + MSESSION_READ_MIN
 * + 1), nothing while that fits in MSESSION_KEEP_MAX: holding B bytes
 * costs the sender about B / 2 bytes
 */
static void test_budget_proportional(void **state)
{
    static const size_t pieces[] = {1, 4096, 9973, 65536, 1u << 20};

    (void)state;
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        struct msession_budget b = {0};
        size_t len = pieces[i] < 4096 ? 40000 : MPROTO_MAX_PACKET - 1, total = CHARGE(len) - 1;
        SMFICTX *s;
        struct buf in = BUF_INIT;

        atomic_store(&b.max, 8u << 20);
        s = started(&b);
        pkt_head(&in, SMFIC_BODY, len);
        buf_reserve(&in, len);
        memset(in.data + in.len, 'x', len);
        in.len += len;
        buf_reset(&bodies);
        for (size_t off = 0; off < total;) {
            size_t n = total - off < pieces[i] ? total - off : pieces[i], got, used;

            assert_true(msession_input(s, in.data + off, n));
            off += n;
            got = off < total ? off : 0; /* once whole, handled and freed */
            used = atomic_load(&b.used);
            if (used >= 2 * (got + MSESSION_READ_MIN + 1) ||
                (got + MSESSION_READ_MIN + 1 <= MSESSION_KEEP_MAX && used != 0))
                fail_msg("pieces of %zu: %zu charged after %zu bytes", pieces[i], used, off);
        }
        assert_string_equal(buf_cstr(&bodies), len == 40000 ? "body 40000;" : "body 4194303;");
        msession_free(s);
        buf_free(&in);
    }
}

/* test_budget_shared - connections share the budget: the second big packet waits for the first */
static void test_budget_shared(void **state)
{
    struct msession_budget b = {0};
    SMFICTX *s1, *s2, *s3;

    (void)state;
    atomic_store(&b.max, 16384);
    s1 = started(&b);
    s2 = started(&b);
    assert_true(body_part(s1, 12000, 11000));
    assert_false(body_part(s2, 12000, 11000)); /* 2 x 12 KB > 16 KiB */
    assert_int_equal(atomic_load(&b.used), CHARGE(12000));
    msession_free(s2);
    assert_true(body_rest(s1, 12000, 11000));
    assert_int_equal(atomic_load(&b.used), 0);
    s3 = started(&b);
    assert_true(body_part(s3, 12000, 11000));  /* the room s1 gave back */
    assert_false(body_part(s1, 12000, 11000)); /* s3 holds it now */
    assert_int_equal(atomic_load(&b.used), CHARGE(12000));
    msession_free(s3);
    msession_free(s1);
    assert_int_equal(atomic_load(&b.used), 0);
}

static const struct macro_case {
    const char *name;
    const char *stages; /* a macro packet for each of these commands, in order */
    size_t size;        /* value bytes of each */
    bool ok;
} macro_cases[] = {
    {"one command's, replaced 20 times", "MMMMMMMMMMMMMMMMMMMM", 40000, true},
    {"every command's, 7 KiB each", "CHMRTNEU", 7000, true},
    {"two commands past 64 KiB", "CM", 40000, false},
    {"one packet past 64 KiB", "C", 70000, false},
    {"the commands of a message again and again", "MRMRMRMRMR", 30000, true},
};

/* test_macros_bounded - macros a session keeps stay under MSESSION_MACROS_MAX, or it ends */
static void test_macros_bounded(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(macro_cases) / sizeof(macro_cases[0]); i++) {
        const struct macro_case *mc = &macro_cases[i];
        SMFICTX *s = started(NULL);
        char *v = xcalloc(1, mc->size + 1);
        bool ok = true;

        memset(v, 'v', mc->size);
        for (const char *st = mc->stages; *st && ok; st++) {
            struct buf in = BUF_INIT;

            macro(&in, *st, "{x}", v, NULL);
            ok = msession_input(s, in.data, in.len);
            buf_free(&in);
        }
        if (ok != mc->ok)
            fail_msg("%s: go on %d, want %d", mc->name, ok, mc->ok);
        msession_free(s);
        free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_chunk_released), cmocka_unit_test(test_budget),
        cmocka_unit_test(test_budget_announced),   cmocka_unit_test(test_budget_proportional),
        cmocka_unit_test(test_budget_shared),      cmocka_unit_test(test_macros_bounded),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    buf_free(&bodies);
    return rc;
}
