/*
 * test_dmarc_record.c - reading DMARC records (RFC 7489 6.3, 6.6.3):
 * valid records, white space and case, records that are not DMARC, bad
 * tags and values, duplicates, p= rules with and without rua=, NUL bytes
 * and a 100 KB record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dmarc.h"

#define R  DMARC_ALIGN_RELAXED
#define S  DMARC_ALIGN_STRICT
#define UN DMARC_POLICY_UNSET
#define NO DMARC_POLICY_NONE
#define QU DMARC_POLICY_QUARANTINE
#define RJ DMARC_POLICY_REJECT

struct rec_case {
    const char *txt;
    enum dmarc_record_status status;
    enum dmarc_policy p, sp, np;
    enum dmarc_align adkim, aspf;
    unsigned pct;
    const char *rua, *ruf;
    bool rua_valid;
    unsigned bad;
};

static const struct rec_case rec_cases[] = {
    /* valid */
    {"v=DMARC1; p=reject", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v=DMARC1;p=none", DMARC_RECORD_OK, NO, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v=DMARC1; p=quarantine; sp=reject; np=none; adkim=s; aspf=s; pct=25", DMARC_RECORD_OK, QU, RJ,
     NO, S, S, 25, NULL, NULL, false, 0},
    {"v=DMARC1; p=reject; rua=mailto:a@b.example; ruf=mailto:f@b.example; fo=1; rf=afrf; "
     "ri=86400",
     DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, "mailto:a@b.example", "mailto:f@b.example", true, 0},
    {"v=DMARC1;\tp=reject\t;\trua=mailto:a@b.example, mailto:c@d.example!10m", DMARC_RECORD_OK, RJ,
     UN, UN, R, R, 100, "mailto:a@b.example, mailto:c@d.example!10m", NULL, true, 0},
    {"v=DMARC1; p=reject; pct=0", DMARC_RECORD_OK, RJ, UN, UN, R, R, 0, NULL, NULL, false, 0},
    {"v=DMARC1; p=reject; pct=007", DMARC_RECORD_OK, RJ, UN, UN, R, R, 7, NULL, NULL, false, 0},
    /* white space and case */
    {"v = DMARC1 ; p = reject ;", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v\t=\tDMARC1\t;p=reject", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"V=DMARC1; P=Reject; SP=QUARANTINE; ADKIM=S; Aspf=s", DMARC_RECORD_OK, RJ, QU, UN, S, S, 100,
     NULL, NULL, false, 0},
    {"v=DMARC1;;; p=reject;;", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v=DMARC1; p=reject; ", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 0},
    /* not DMARC records */
    {"v=dmarc1; p=reject", DMARC_RECORD_NOT_DMARC, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {" v=DMARC1; p=reject", DMARC_RECORD_NOT_DMARC, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v=DMARC1 p=reject", DMARC_RECORD_NOT_DMARC, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v=DMARC10; p=reject", DMARC_RECORD_NOT_DMARC, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"p=reject; v=DMARC1", DMARC_RECORD_NOT_DMARC, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v=spf1 -all", DMARC_RECORD_NOT_DMARC, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"", DMARC_RECORD_NOT_DMARC, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    /* p= missing or invalid: RFC 7489 6.6.3 */
    {"v=DMARC1", DMARC_RECORD_INVALID, UN, UN, UN, R, R, 100, NULL, NULL, false, 0},
    {"v=DMARC1; rua=mailto:a@b.example", DMARC_RECORD_OK, NO, UN, UN, R, R, 100,
     "mailto:a@b.example", NULL, true, 0},
    {"v=DMARC1; p=bogus", DMARC_RECORD_INVALID, UN, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=bogus; rua=mailto:x@y.example", DMARC_RECORD_OK, NO, UN, UN, R, R, 100,
     "mailto:x@y.example", NULL, true, 1},
    {"v=DMARC1; p=; rua=mailto:x@y.example", DMARC_RECORD_OK, NO, UN, UN, R, R, 100,
     "mailto:x@y.example", NULL, true, 1},
    {"v=DMARC1; p=bogus; rua=not-a-uri", DMARC_RECORD_INVALID, UN, UN, UN, R, R, 100, "not-a-uri",
     NULL, false, 1},
    {"v=DMARC1; p=reject; sp=bogus", DMARC_RECORD_INVALID, RJ, UN, UN, R, R, 100, NULL, NULL, false,
     1},
    {"v=DMARC1; p=reject; sp=bogus; np=reject; rua=mailto:x@y", DMARC_RECORD_OK, NO, UN, UN, R, R,
     100, "mailto:x@y", NULL, true, 1},
    {"v=DMARC1; p=reject; rua=mailto:a@b, https://r.example/x!2k", DMARC_RECORD_OK, RJ, UN, UN, R,
     R, 100, "mailto:a@b, https://r.example/x!2k", NULL, true, 0},
    {"v=DMARC1; p=bogus; rua=mailto:a@b!x", DMARC_RECORD_INVALID, UN, UN, UN, R, R, 100,
     "mailto:a@b!x", NULL, false, 1},
    /* bad values of other tags: defaults */
    {"v=DMARC1; p=reject; np=bogus", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=reject; adkim=x; aspf=relaxed", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL,
     NULL, false, 2},
    {"v=DMARC1; p=reject; pct=101", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=reject; pct=-1", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=reject; pct=5.5", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=reject; pct=0100", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=reject; pct=", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=re ject; rua=mailto:a@b", DMARC_RECORD_OK, NO, UN, UN, R, R, 100, "mailto:a@b",
     NULL, true, 1},
    /* bad tags */
    {"v=DMARC1; p=reject; garbage", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    {"v=DMARC1; p=reject; 1x=y; =z", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 2},
    {"v=DMARC1; p=reject; foo=bar; t=y; psd=n", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL,
     false, 0},
    {"v=DMARC1; p=reject; v=DMARC1", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL, false, 1},
    /* duplicates: the tag is invalid */
    {"v=DMARC1; p=reject; p=none", DMARC_RECORD_INVALID, UN, UN, UN, R, R, 100, NULL, NULL, false,
     1},
    {"v=DMARC1; p=reject; p=reject; p=reject", DMARC_RECORD_INVALID, UN, UN, UN, R, R, 100, NULL,
     NULL, false, 2},
    {"v=DMARC1; p=reject; P=none; rua=mailto:a@b", DMARC_RECORD_OK, NO, UN, UN, R, R, 100,
     "mailto:a@b", NULL, true, 1},
    {"v=DMARC1; p=reject; pct=50; pct=20", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL,
     false, 1},
    {"v=DMARC1; p=reject; adkim=s; adkim=s", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL,
     false, 1},
    {"v=DMARC1; p=reject; sp=none; sp=none", DMARC_RECORD_INVALID, RJ, UN, UN, R, R, 100, NULL,
     NULL, false, 1},
    {"v=DMARC1; p=bogus; rua=mailto:a@b; rua=mailto:c@d", DMARC_RECORD_INVALID, UN, UN, UN, R, R,
     100, NULL, NULL, false, 2},
    {"v=DMARC1; p=reject; rua=mailto:a@b\x01", DMARC_RECORD_OK, RJ, UN, UN, R, R, 100, NULL, NULL,
     false, 1},
};

/* same_str - NULL-safe string equality */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* test_record_table - every row of the parser table */
static void test_record_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
        const struct rec_case *c = &rec_cases[i];
        struct dmarc_record rec;
        enum dmarc_record_status st = dmarc_record_parse(c->txt, strlen(c->txt), &rec);

        if (st != c->status)
            fail_msg("case %zu \"%s\": status %d, want %d", i, c->txt, st, c->status);
        if (st != DMARC_RECORD_NOT_DMARC &&
            (rec.p != c->p || rec.sp != c->sp || rec.np != c->np || rec.adkim != c->adkim ||
             rec.aspf != c->aspf || rec.pct != c->pct || !same_str(rec.rua, c->rua) ||
             !same_str(rec.ruf, c->ruf) || rec.rua_valid != c->rua_valid || rec.bad != c->bad))
            fail_msg("case %zu \"%s\": p=%d sp=%d np=%d adkim=%d aspf=%d pct=%u rua=%s ruf=%s "
                     "rua_valid=%d bad=%u",
                     i, c->txt, rec.p, rec.sp, rec.np, rec.adkim, rec.aspf, rec.pct,
                     rec.rua ? rec.rua : "-", rec.ruf ? rec.ruf : "-", rec.rua_valid, rec.bad);
        dmarc_record_clear(&rec);
    }
}

/* test_record_binary - NUL bytes and a huge record: bounded, defined */
static void test_record_binary(void **state)
{
    static const char nul[] = "v=DMARC1; p=re\0ject";
    struct dmarc_record rec;
    struct buf b = BUF_INIT;

    (void)state;
    assert_int_equal(dmarc_record_parse(nul, sizeof(nul) - 1, &rec), DMARC_RECORD_INVALID);
    dmarc_record_clear(&rec);
    assert_false(dmarc_record_is_dmarc("v=DMARC1", 7));
    assert_true(dmarc_record_is_dmarc("v=DMARC1", 8));
    assert_true(dmarc_record_is_dmarc("v=DMARC1;p=none", 8));

    buf_puts(&b, "v=DMARC1; ");
    for (int i = 0; i < 15000; i++)
        buf_printf(&b, "x%d=y; ", i);
    buf_puts(&b, "p=quarantine; rua=mailto:");
    for (int i = 0; i < 5000; i++)
        buf_putc(&b, 'a');
    assert_int_equal(dmarc_record_parse(b.data, b.len, &rec), DMARC_RECORD_OK);
    assert_int_equal(rec.p, QU);
    assert_null(rec.rua); /* longer than kept */
    assert_int_equal(rec.bad, 1);
    dmarc_record_clear(&rec);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_table),
        cmocka_unit_test(test_record_binary),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
