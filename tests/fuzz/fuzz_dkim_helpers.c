/*
 * fuzz_dkim_helpers.c - libFuzzer target for the pure helpers of DKIM
 * verification (auth/dkim_verify.h) that read what a sender or a DNS
 * server controls: dkimv_tag_value() (DKIM-Signature and key tag-lists),
 * dkimv_header_line() (header fields as libmilter hands them over),
 * dkimv_pick_key() (a TXT answer, built from the input as a struct
 * dns_result) and dkimv_b_prefix_len() (b= values of a message).
 *
 * Input, read front to back (strings end at a NUL byte): tag-list, tag
 * name, header name, header value, a flags byte; then the DNS answer:
 * status byte, rcode byte, record count byte (0..4), each record as a
 * 16-bit length and that many bytes (NULs allowed), and a 16-bit output
 * size (0..1199).
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - a tag value has no white space; the tag-list without the tag
 *     gives NULL for a name that cannot occur in it;
 *   - a header line starts "Name:", every LF of the value is preceded by CR, and
 *     it is never longer than name + ": " + twice the value;
 *   - the key picked fits its buffer (which is allocated to size, so any
 *     overrun is an ASan report), a refusal comes with a reason and an
 *     empty buffer, a record with NUL bytes is never picked, and the
 *     status follows the DNS status;
 *   - a b= prefix is at least 8 characters (or the whole value), at most
 *     the whole value, and tells b[i] apart from every different b[j]
 *     unless b[i] is a prefix of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_verify.h"
#include "dns.h"
#include "reader.h"
#include "util.h"

#define MAX_RECORDS 4

/* check_tag_value - dkimv_tag_value() of one tag-list */
static void check_tag_value(const char *taglist, const char *tag)
{
    char *v = dkimv_tag_value(taglist, tag);

    if (v != NULL) {
        fuzz_check(strpbrk(v, " \t\r\n") == NULL);
        fuzz_check(strlen(v) <= strlen(taglist));
        free(v);
    }
    /* a name with '=' in it can never be found */
    fuzz_check(dkimv_tag_value(taglist, "x=y") == NULL);
}

/* check_header_line - dkimv_header_line() of one field */
static void check_header_line(const char *name, const char *value, bool leadspc)
{
    struct buf b = BUF_INIT;
    size_t nlen = strlen(name);

    buf_puts(&b, "x");
    dkimv_header_line(&b, name, value, leadspc);
    fuzz_check(b.len <= 1 + nlen + 2 + 2 * strlen(value));
    fuzz_check(memcmp(b.data + 1, name, nlen) == 0 && b.data[1 + nlen] == ':');
    for (size_t i = 1 + nlen + 1; i < b.len; i++) /* the value: the name is the MTA's */
        if (b.data[i] == '\n')
            fuzz_check(b.data[i - 1] == '\r');
    buf_free(&b);
}

/* read_answer - a TXT answer from the input; caller frees (dns_result_free) */
static struct dns_result *read_answer(struct reader *rd)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));
    size_t n;

    r->status = (enum dns_status)(reader_byte(rd) % 6);
    r->rcode = (int)reader_byte(rd);
    n = reader_byte(rd) % (MAX_RECORDS + 1);
    if (n == 0)
        return r; /* txt stays NULL */
    r->txt = xcalloc(n, sizeof(*r->txt));
    r->txt_len = xcalloc(n, sizeof(*r->txt_len));
    for (size_t i = 0; i < n; i++)
        r->txt[i] = reader_mem(rd, reader_u16(rd) % 2048, &r->txt_len[i]);
    r->n = n;
    return r;
}

/* has_clean_record - does any record of r hold no NUL byte */
static bool has_clean_record(const struct dns_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (strlen(r->txt[i]) == r->txt_len[i])
            return true;
    return false;
}

/* check_pick_key - dkimv_pick_key() over one answer */
static void check_pick_key(const struct dns_result *r, size_t outlen)
{
    char *out = malloc(outlen); /* exactly outlen bytes: ASan sees an overrun */
    const char *why = NULL;
    enum dkimv_key_status st = dkimv_pick_key(r, out, outlen, &why);

    switch (st) {
    case DKIMV_KEY_OK:
        fuzz_check(r->status == DNS_OK && r->n > 0);
        fuzz_check(outlen > 0 && memchr(out, '\0', outlen) != NULL);
        fuzz_check(has_clean_record(r)); /* a record with NULs is never picked */
        break;
    case DKIMV_KEY_NONE:
    case DKIMV_KEY_MULTI:
    case DKIMV_KEY_BAD:
    case DKIMV_KEY_LONG:
    case DKIMV_KEY_TEMP:
        fuzz_check(why != NULL && why[0] != '\0');
        fuzz_check(outlen == 0 || out[0] == '\0');
        break;
    default:
        fuzz_fail(__FILE__, __LINE__, "unknown key status");
    }
    fuzz_check(st != DKIMV_KEY_TEMP || r->status == DNS_TEMPFAIL);
    fuzz_check(r->status != DNS_TEMPFAIL || st == DKIMV_KEY_TEMP);
    fuzz_check(r->status != DNS_NXDOMAIN || st == DKIMV_KEY_NONE);
    free(out);
}

/* check_b_prefix - dkimv_b_prefix_len() over the records as b= values */
static void check_b_prefix(const struct dns_result *r)
{
    const char *const *b = (const char *const *)r->txt;

    for (size_t i = 0; i < r->n; i++) {
        size_t k = dkimv_b_prefix_len(b, r->n, i), len = strlen(b[i]);

        fuzz_check(k <= len && k >= (len < 8 ? len : 8));
        for (size_t j = 0; j < r->n; j++) {
            if (strcmp(b[i], b[j]) == 0)
                continue;
            fuzz_check(strncmp(b[i], b[j], k) != 0 || (k == len && strncmp(b[j], b[i], len) == 0));
        }
    }
}

/* LLVMFuzzerTestOneInput - strings for the helpers, then a DNS answer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = reader_init(data, size);
    char *taglist = reader_str(&rd), *tag = reader_str(&rd);
    char *name = reader_str(&rd), *value = reader_str(&rd);
    bool leadspc = reader_byte(&rd) & 1;
    struct dns_result *r;

    check_tag_value(taglist, tag);
    check_header_line(name, value, leadspc);
    r = read_answer(&rd);
    check_pick_key(r, reader_u16(&rd) % 1200);
    check_b_prefix(r);
    dns_result_free(r);
    free(taglist);
    free(tag);
    free(name);
    free(value);
    return 0;
}
