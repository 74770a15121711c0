/*
 * fuzz_dns_answer.c - libFuzzer target for the reading of DNS answers
 * (lib/dns_answer.c): dns_answer_from_ub() over a struct ub_result built from the
 * input - rdata of A, AAAA, TXT, MX and PTR records as libunbound hands
 * them over, and the raw answer packet txt_from_packet() walks when
 * libunbound reports SERVFAIL for a TXT answer. Both come from name
 * servers anyone can run. No DNS is done: no context is created.
 *
 * Input: a byte for the type, rcode, libunbound error and bogus flag;
 * a record count (0..7), each record as a 16-bit length and its bytes;
 * the rest is the answer packet.
 *
 * Besides "no crash, leak, hang or sanitizer report" (never read rdata
 * or the packet out of bounds), it checks:
 *   - the status follows the rcode as dns.h says (NXDOMAIN, SERVFAIL ->
 *     TEMPFAIL unless a TXT answer was recovered from the packet, other
 *     rcodes PERMFAIL, NOERROR without records NODATA);
 *   - DNS_OK holds n > 0 entries, all set, in the array of the type;
 *     every other status holds none;
 *   - addresses read back with inet_pton(); names are printable ASCII
 *     without spaces (escaped), with no label over 63 octets of wire
 *     form; TXT strings are NUL-terminated at their length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "dns_answer.h"
#include "util.h"
#include "reader.h"

#define MAX_RECORDS 7

/* check_name - a name in presentation form as dns_answer.c writes it */
static void check_name(const char *s)
{
    fuzz_check(s != NULL && s[0] != '\0');
    for (const char *p = s; *p; p++)
        fuzz_check(*p > 0x20 && *p < 0x7f);
}

/* check_result - the invariants of one mapped answer */
static void check_result(int type, const struct ub_result *u, int err, const struct dns_result *r)
{
    unsigned char addr[16];

    fuzz_check(r->status <= DNS_PERMFAIL);
    if (err != 0) {
        fuzz_check(r->status == DNS_PERMFAIL || r->status == DNS_TEMPFAIL);
    } else if (u->rcode == 3) {
        fuzz_check(r->status == DNS_NXDOMAIN);
    } else if (u->rcode == 2) {
        fuzz_check(r->status == DNS_TEMPFAIL || (r->status == DNS_OK && type == DNS_T_TXT));
    } else if (u->rcode != 0) {
        fuzz_check(r->status == DNS_PERMFAIL);
    }
    if (r->status != DNS_OK) {
        fuzz_check(r->n == 0);
        return;
    }
    fuzz_check(r->n > 0);
    for (size_t i = 0; i < r->n; i++) {
        switch (type) {
        case DNS_T_A:
        case DNS_T_AAAA:
            fuzz_check(inet_pton(type == DNS_T_A ? AF_INET : AF_INET6, r->addrs[i], addr) == 1);
            break;
        case DNS_T_TXT:
            fuzz_check(r->txt[i] != NULL && r->txt[i][r->txt_len[i]] == '\0');
            fuzz_check(strlen(r->txt[i]) <= r->txt_len[i]);
            break;
        case DNS_T_MX:
            check_name(r->mx[i].host);
            fuzz_check(r->mx[i].preference <= 0xffff);
            break;
        case DNS_T_PTR:
            check_name(r->names[i]);
            break;
        }
    }
}

/* LLVMFuzzerTestOneInput - an answer as libunbound would hand it over */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_TXT, DNS_T_MX, DNS_T_PTR};
    struct reader rd = reader_init(data, size);
    unsigned sel = reader_byte(&rd), n;
    int type = types[sel % 5], err = (sel & 0x80) ? UB_SERVFAIL : 0;
    struct ub_result u;
    char *rdata[MAX_RECORDS + 1] = {NULL};
    int lens[MAX_RECORDS + 1] = {0};
    struct dns_result *r;

    memset(&u, 0, sizeof(u));
    u.qname = (char *)"fuzz.example";
    u.qtype = type;
    u.qclass = 1;
    u.rcode = (int)(reader_byte(&rd) % 6);
    u.bogus = (sel & 0x40) != 0;
    n = reader_byte(&rd) % (MAX_RECORDS + 1);
    for (unsigned i = 0; i < n; i++) {
        size_t got;

        rdata[i] = reader_mem(&rd, reader_u16(&rd) % 1024, &got);
        lens[i] = (int)got;
    }
    u.havedata = n > 0;
    u.data = rdata;
    u.len = lens;
    /* the packet: an exact-size copy, so ASan sees a read past its end */
    u.answer_len = (int)rd.len;
    u.answer_packet = rd.len ? xmalloc(rd.len) : NULL;
    if (rd.len)
        memcpy(u.answer_packet, rd.p, rd.len);

    r = dns_answer_from_ub(type, err, &u);
    check_result(type, &u, err, r);
    dns_result_free(r);
    free(u.answer_packet);
    for (unsigned i = 0; i < n; i++)
        free(rdata[i]);
    return 0;
}
