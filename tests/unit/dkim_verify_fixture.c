/*
 * dkim_verify_fixture.c - what the DKIM verifier unit tests share; see
 * dkim_verify_fixture.h.
 */
#include <stddef.h>

#include "dns.h"
#include "util.h"

#include "dkim_verify_fixture.h"

/* txt_result - a DNS_OK result of n records; caller fills */
struct dns_result *txt_result(size_t n)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));

    r->status = DNS_OK;
    r->txt = xcalloc(n ? n : 1, sizeof(char *));
    r->txt_len = xcalloc(n ? n : 1, sizeof(size_t));
    return r;
}
