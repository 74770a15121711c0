/*
 * fuzz_dmarc_record.c - libFuzzer target for DMARC record parsing
 * (auth/dmarc.h): dmarc_record_parse() and dmarc_record_is_dmarc() over
 * the raw input as one TXT string (any bytes, NULs included).
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - NOT_DMARC exactly when dmarc_record_is_dmarc() says no, and then
 *     nothing is kept;
 *   - OK means a usable policy: p one of none/quarantine/reject, every
 *     tag value within its enum, pct within 0..100; when p= or sp= was
 *     bad the record was read as "p=none" only because rua= has a valid
 *     URI, with sp and np dropped;
 *   - INVALID means no valid rua= URI;
 *   - rua/ruf as kept are at most 4096 bytes, trimmed, free of control
 *     bytes (NUL included: the copy has the length of its value);
 *   - parsing twice gives the same record (no hidden state).
 */
#include <stdint.h>
#include <string.h>

#include "dmarc.h"
#include "reader.h"

/* check_uri_list - a kept rua= or ruf= value */
static void check_uri_list(const char *v)
{
    size_t n;

    if (v == NULL)
        return;
    n = strlen(v);
    fuzz_check(n <= 4096);
    fuzz_check(n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t'));
    for (size_t i = 0; i < n; i++)
        fuzz_check((unsigned char)v[i] >= 0x20 && (unsigned char)v[i] != 0x7f);
}

/* policy_ok - a value of enum dmarc_policy */
static bool policy_ok(enum dmarc_policy p)
{
    return p == DMARC_POLICY_UNSET || p == DMARC_POLICY_NONE || p == DMARC_POLICY_QUARANTINE ||
           p == DMARC_POLICY_REJECT;
}

/* same_str - equal strings, or both NULL */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* LLVMFuzzerTestOneInput - one TXT string */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *txt = (const char *)data;
    struct dmarc_record rec, again;
    enum dmarc_record_status st = dmarc_record_parse(txt, size, &rec);

    fuzz_check(st == DMARC_RECORD_OK || st == DMARC_RECORD_NOT_DMARC || st == DMARC_RECORD_INVALID);
    fuzz_check((st == DMARC_RECORD_NOT_DMARC) == !dmarc_record_is_dmarc(txt, size));
    fuzz_check(policy_ok(rec.p) && policy_ok(rec.sp) && policy_ok(rec.np));
    fuzz_check(rec.adkim == DMARC_ALIGN_RELAXED || rec.adkim == DMARC_ALIGN_STRICT);
    fuzz_check(rec.aspf == DMARC_ALIGN_RELAXED || rec.aspf == DMARC_ALIGN_STRICT);
    fuzz_check(rec.pct <= 100);
    fuzz_check(!rec.rua_valid || rec.rua != NULL);
    check_uri_list(rec.rua);
    check_uri_list(rec.ruf);
    switch (st) {
    case DMARC_RECORD_NOT_DMARC:
        fuzz_check(rec.rua == NULL && rec.ruf == NULL && rec.bad == 0);
        break;
    case DMARC_RECORD_INVALID:
        fuzz_check(!rec.rua_valid);
        break;
    case DMARC_RECORD_OK:
        fuzz_check(rec.p != DMARC_POLICY_UNSET);
        if (rec.p_bad || rec.sp_bad)
            fuzz_check(rec.rua_valid && rec.p == DMARC_POLICY_NONE &&
                       rec.sp == DMARC_POLICY_UNSET && rec.np == DMARC_POLICY_UNSET);
        break;
    }

    fuzz_check(dmarc_record_parse(txt, size, &again) == st);
    fuzz_check(again.p == rec.p && again.sp == rec.sp && again.np == rec.np &&
               again.p_bad == rec.p_bad && again.sp_bad == rec.sp_bad && again.adkim == rec.adkim &&
               again.aspf == rec.aspf && again.pct == rec.pct && again.rua_valid == rec.rua_valid &&
               again.bad == rec.bad);
    fuzz_check(same_str(again.rua, rec.rua) && same_str(again.ruf, rec.ruf));
    dmarc_record_clear(&again);
    dmarc_record_clear(&rec);
    return 0;
}
