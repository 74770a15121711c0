/*
 * fuzz_mailaddr.c - libFuzzer target for the ledger's lenient address
 * reader (lib/mailaddr.h): mailaddr_parse_list(), mailaddr_first() and
 * mailaddr_envelope().
 *
 * Input: one byte giving the most addresses to keep (0..15), then a
 * header field value or envelope argument (up to the first NUL).
 *
 * Besides "no crash, leak, hang or sanitizer report" (never read past
 * the value's end), it checks:
 *   - mailaddr_parse_list() keeps at most max addresses, each non-empty
 *     and without white space at either end;
 *   - mailaddr_first() is the first address mailaddr_parse_list() finds;
 *   - mailaddr_envelope() returns a part of its argument: after '<' no
 *     '>' in it, otherwise no white space; never longer than the input.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"
#include "reader.h"

#define MAX_ADDRS 16

/* check_list - the addresses of one header value */
static void check_list(const char *value, size_t max)
{
    char *out[MAX_ADDRS], *first;
    size_t n = mailaddr_parse_list(value, out, max);

    fuzz_check(n <= max);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(out[i]);

        fuzz_check(len > 0);
        fuzz_check(!isspace((unsigned char)out[i][0]) && !isspace((unsigned char)out[i][len - 1]));
    }
    first = mailaddr_first(value);
    if (max > 0) {
        fuzz_check((first == NULL) == (n == 0));
        fuzz_check(first == NULL || strcmp(first, out[0]) == 0);
    }
    free(first);
    for (size_t i = 0; i < n; i++)
        free(out[i]);
}

/* check_envelope - the address of an envelope argument */
static void check_envelope(const char *arg)
{
    char *a = mailaddr_envelope(arg);
    const char *p = arg;

    while (isspace((unsigned char)*p))
        p++;
    fuzz_check(strlen(a) <= strlen(p));
    if (*p == '<') {
        fuzz_check(strchr(a, '>') == NULL);
    } else {
        for (const char *q = a; *q; q++)
            fuzz_check(!isspace((unsigned char)*q));
        fuzz_check(strncmp(a, p, strlen(a)) == 0);
    }
    free(a);
}

/* LLVMFuzzerTestOneInput - a max byte, then one value */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = reader_init(data, size);
    size_t max = reader_byte(&rd) % MAX_ADDRS;
    char *value = fuzz_cstr(rd.p, rd.len);

    check_list(value, max);
    check_envelope(value);
    free(value);
    return 0;
}
