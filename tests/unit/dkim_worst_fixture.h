/*
 * dkim_worst_fixture.h - the worst messages we know how to build for the
 * DKIM verifier (auth/dkim_verify.h) and signer (milter/dkim_sign.h), and
 * their CPU time: shared by tests/unit/test_dkim_cpu.c (a budget under
 * ASan) and bench/dkim_worst_bench.c (the same messages in a Release
 * build). No cmocka here: the bench links it too.
 */
#ifndef POSTMETER_TEST_DKIM_WORST_FIXTURE_H
#define POSTMETER_TEST_DKIM_WORST_FIXTURE_H

#include <stddef.h>

/* One worst case for the verifier. */
struct dkim_worst_case {
    const char *name;  /* what the message is */
    unsigned max_sigs; /* dkim_max_signatures it is verified with */
    const char *want;  /* its results: "result comment" of each signature, "|" between */
};

extern const struct dkim_worst_case dkim_worst_cases[];
extern const size_t dkim_worst_ncases;

/*
 * dkim_worst_verify - build case c (not timed), verify it once with the
 * key records of keys_txt (tests/data/dkim/keys.txt) served by a lookup
 * function; the CPU milliseconds of dkimv_begin() .. dkimv_end() (every
 * header field and body chunk fed as a milter would). *got gets the
 * results as c->want spells them; caller frees.
 */
double dkim_worst_verify(const struct dkim_worst_case *c, const char *keys_txt, char **got);

/*
 * dkim_worst_sign - sign a message of nto To: and nto Cc: fields, in
 * turn (and From, Subject)
 * with the RSA key in key_pem once; CPU milliseconds of dkims_begin() ..
 * dkims_end(). *names gets the number of names in the h= made (0 if it
 * did not sign).
 */
double dkim_worst_sign(size_t nto, const char *key_pem, size_t *names);

/* dkim_worst_cpu_ms - this process's user CPU time in milliseconds (getrusage) */
double dkim_worst_cpu_ms(void);

#endif
