/*
 * dns_answer.h - from a libunbound answer to a struct dns_result
 * (internal to lib/: dns.c and the fuzz target use it).
 */
#ifndef POSTMETER_DNS_ANSWER_H
#define POSTMETER_DNS_ANSWER_H

#include <unbound.h>

#include "dns.h"

/* dns_result_new - an empty result with status s and DNS rcode (-1: none); caller frees */
struct dns_result *dns_result_new(enum dns_status s, int rcode);
/*
 * dns_answer_from_ub - the result of a lookup of type that ended with
 * libunbound error err (UB_NOERROR or another) and, if err is UB_NOERROR,
 * answer u; never NULL; caller frees with dns_result_free()
 */
struct dns_result *dns_answer_from_ub(int type, int err, const struct ub_result *u);

#endif
