/*
 * fuzz_spf_record.c - libFuzzer target for SPF record parsing
 * (auth/spf_record.h): spf_record_is_spf() and spf_record_parse() over
 * the raw input as one TXT string (any bytes, NULs included), and
 * spf_printable() over the same bytes.
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - a parsed record was accepted by spf_record_is_spf() and is at most
 *     SPF_RECORD_MAX bytes; a refused one always comes with a reason;
 *   - every term is well formed: qualifier one of + - ~ ?, prefix lengths
 *     within 32 / 128, text without spaces, a domain-spec that is a valid
 *     macro-string ending as a domain where the mechanism needs one;
 *   - an ip4/ip6 network matches itself under spf_net_match(), still
 *     matches with the first bit past its prefix flipped, and no longer
 *     with the last bit of its prefix flipped;
 *   - the record rebuilt from its terms, redirect= and exp= parses again
 *     into the same terms (only unknown modifiers are dropped);
 *   - spf_printable() writes printable ASCII only, within its bound;
 *   - a tiny error buffer (0..8 bytes, allocated to size) is never overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"
#include "spf_macro.h"
#include "spf_record.h"

/* check_net - spf_net_match() of an ip4/ip6 network against itself and near misses */
static void check_net(const struct spf_term *t)
{
    unsigned bits = t->mech == SPF_MECH_IP4 ? t->cidr4 : t->cidr6;
    unsigned max = t->mech == SPF_MECH_IP4 ? 32 : 128;
    unsigned char addr[16];

    fuzz_check(spf_net_match(t->net, t->net, bits));
    if (bits < max) { /* the first bit past the prefix does not count */
        memcpy(addr, t->net, sizeof(addr));
        addr[bits / 8] ^= (unsigned char)(0x80u >> (bits % 8));
        fuzz_check(spf_net_match(t->net, addr, bits));
    }
    if (bits > 0) { /* the last bit of the prefix does */
        memcpy(addr, t->net, sizeof(addr));
        addr[(bits - 1) / 8] ^= (unsigned char)(0x80u >> ((bits - 1) % 8));
        fuzz_check(!spf_net_match(t->net, addr, bits));
    }
}

/* check_term - the invariants of one parsed term */
static void check_term(const struct spf_term *t)
{
    char err[256];

    fuzz_check(t->qualifier == '+' || t->qualifier == '-' || t->qualifier == '~' ||
               t->qualifier == '?');
    fuzz_check(t->cidr4 <= 32 && t->cidr6 <= 128);
    fuzz_check(t->text != NULL && t->text[0] != '\0' && strchr(t->text, ' ') == NULL);
    if (t->domain_spec != NULL) {
        size_t n = strlen(t->domain_spec);

        fuzz_check(spf_macro_check(t->domain_spec, n, 0, err, sizeof(err)));
        fuzz_check(spf_macro_ends_ok(t->domain_spec, n));
    }
    switch (t->mech) {
    case SPF_MECH_INCLUDE:
    case SPF_MECH_EXISTS:
        fuzz_check(t->domain_spec != NULL);
        break;
    case SPF_MECH_ALL:
        fuzz_check(t->domain_spec == NULL);
        break;
    case SPF_MECH_IP4:
    case SPF_MECH_IP6:
        fuzz_check(t->domain_spec == NULL);
        check_net(t);
        break;
    case SPF_MECH_A:
    case SPF_MECH_MX:
    case SPF_MECH_PTR:
        break;
    }
}

/* same_term - do two parsed terms say the same thing */
static bool same_term(const struct spf_term *a, const struct spf_term *b)
{
    if (a->mech != b->mech || a->qualifier != b->qualifier || a->cidr4 != b->cidr4 ||
        a->cidr6 != b->cidr6 || strcmp(a->text, b->text) != 0)
        return false;
    if ((a->domain_spec == NULL) != (b->domain_spec == NULL))
        return false;
    if (a->domain_spec != NULL && strcmp(a->domain_spec, b->domain_spec) != 0)
        return false;
    return memcmp(a->net, b->net, sizeof(a->net)) == 0;
}

/* check_reparse - rebuild the record from r and parse it again */
static void check_reparse(const struct spf_record *r, size_t orig_len)
{
    struct buf b = BUF_INIT;
    struct spf_record *again;
    char err[256];

    buf_puts(&b, "v=spf1");
    for (size_t i = 0; i < r->nterms; i++) {
        buf_putc(&b, ' ');
        buf_puts(&b, r->terms[i].text);
    }
    if (r->redirect != NULL)
        buf_printf(&b, " redirect=%s", r->redirect);
    if (r->exp != NULL)
        buf_printf(&b, " exp=%s", r->exp);
    fuzz_check(b.len <= orig_len);
    again = spf_record_parse(b.data, b.len, err, sizeof(err));
    fuzz_check(again != NULL);
    fuzz_check(again->nterms == r->nterms);
    for (size_t i = 0; i < r->nterms; i++)
        fuzz_check(same_term(&r->terms[i], &again->terms[i]));
    fuzz_check((again->redirect == NULL) == (r->redirect == NULL));
    fuzz_check(r->redirect == NULL || strcmp(r->redirect, again->redirect) == 0);
    fuzz_check((again->exp == NULL) == (r->exp == NULL));
    fuzz_check(r->exp == NULL || strcmp(r->exp, again->exp) == 0);
    spf_record_free(again);
    buf_free(&b);
}

/* check_printable - spf_printable() output is printable ASCII within its bound */
static void check_printable(const char *s, size_t len)
{
    struct buf b = BUF_INIT;
    size_t max = len % 97;

    spf_printable(&b, s, len, max);
    fuzz_check(b.len <= 4 * (len < max ? len : max) + 3);
    for (size_t i = 0; i < b.len; i++)
        fuzz_check(b.data[i] >= 0x20 && b.data[i] < 0x7f);
    buf_free(&b);
}

/* check_small_err - parse again with an error buffer of exactly 0..8 bytes */
static void check_small_err(const char *txt, size_t size)
{
    size_t errlen = size % 9;
    char *small = malloc(errlen); /* malloc(0): ASan reports any write */

    spf_record_free(spf_record_parse(txt, size, small, errlen));
    free(small);
}

/* LLVMFuzzerTestOneInput - one TXT string */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *txt = (const char *)data;
    struct spf_record *r;
    char err[256];

    err[0] = '\0';
    r = spf_record_parse(txt, size, err, sizeof(err));
    if (r == NULL) {
        fuzz_check(err[0] != '\0');
    } else {
        fuzz_check(size <= SPF_RECORD_MAX && spf_record_is_spf(txt, size));
        for (size_t i = 0; i < r->nterms; i++)
            check_term(&r->terms[i]);
        check_reparse(r, size);
        spf_record_free(r);
    }
    check_printable(txt, size);
    check_small_err(txt, size);
    return 0;
}
