/*
 * dkim_verify_fixture.h - what the DKIM verifier unit tests share
 * (test_dkim_verify.c: whole messages; test_dkim_verify_parts.c: the
 * verifier's parts): DNS TXT answers built by hand.
 */
#ifndef POSTMETER_TEST_DKIM_VERIFY_FIXTURE_H
#define POSTMETER_TEST_DKIM_VERIFY_FIXTURE_H

#include <stddef.h>

#include "dns.h"

/* txt_result - a DNS_OK result of n records; caller fills */
struct dns_result *txt_result(size_t n);

#endif
