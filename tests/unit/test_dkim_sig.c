/*
 * test_dkim_sig.c - DKIM-Signature values and key records
 * (auth/dkim_sig.c): every reason dkim_sig_parse() documents, reached by
 * at least one case; what a usable signature yields (algorithm, c=
 * defaults, lower-cased d=, s= and h=, l=, the domain of i=); t= and x=
 * around now and DKIM_CLOCK_DRIFT; rsa-sha1 recognised whatever else is
 * wrong. For key records: every reason, revoked keys, k= against the
 * algorithm both ways, h=, s= and t= flags, unknown tags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dkim_sig.h"
#include "util.h"

#define NOW 1700000000LL

/* The required tags, each on its own so a case can leave one out or change it. */
#define V   "v=1; "
#define A   "a=rsa-sha256; "
#define D   "d=example.com; "
#define SEL "s=sel; "
#define H   "h=from:to; "
#define B   "b=dGVzdA==; "                                      /* "test" */
#define BH  "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; " /* SHA-256 of "" */
#define REQ V A D SEL H B BH
/* 8, 64 and 512 more names for h= */
#define X8   ":x:x:x:x:x:x:x:x"
#define X64  X8 X8 X8 X8 X8 X8 X8 X8
#define X512 X64 X64 X64 X64 X64 X64 X64 X64

/* parse - dkim_sig_parse() of value from a copy without a NUL after it */
static void parse(struct dkim_sig *sig, const char *value, long long now)
{
    size_t len = strlen(value);
    char *copy = xmalloc(len ? len : 1);

    memcpy(copy, value, len);
    memset(sig, 0, sizeof(*sig));
    dkim_sig_parse(sig, copy, len, now);
    free(copy);
}

/* The reasons dkim_sig_parse() documents (auth/dkim_sig.h). */
static const char *const sig_reasons[] = {
    "signature syntax error",  "signature version not 1",  "signature missing a required tag",
    "unknown algorithm",       "unknown canonicalization", "unknown query method",
    "From: not signed",        "i= not within d=",         "signature expired",
    "signature in the future", DKIM_SIG_TOO_MANY_H,
};

#define ANY_ALG (-1)

static const struct {
    const char *value;
    const char *error;
    int alg; /* ANY_ALG: not checked */
} sig_errors[] = {
    /* the tag-list itself */
    {REQ "v=1", "signature syntax error", ANY_ALG},
    {REQ "x", "signature syntax error", ANY_ALG},
    {REQ "1x=y", "signature syntax error", ANY_ALG},
    {REQ "z=\x01", "signature syntax error", ANY_ALG},
    /* required tags */
    {A D SEL H B BH, "signature missing a required tag", ANY_ALG},
    {V D SEL H B BH, "signature missing a required tag", ANY_ALG},
    {V A SEL H B BH, "signature missing a required tag", ANY_ALG},
    {V A D H B BH, "signature missing a required tag", ANY_ALG},
    {V A D SEL B BH, "signature missing a required tag", ANY_ALG},
    {V A D SEL H BH, "signature missing a required tag", ANY_ALG},
    {V A D SEL H B, "signature missing a required tag", ANY_ALG},
    {"", "signature missing a required tag", ANY_ALG},
    /* version */
    {"v=2; " A D SEL H B BH, "signature version not 1", ANY_ALG},
    {"v=1.0; " A D SEL H B BH, "signature version not 1", ANY_ALG},
    {"v=; " A D SEL H B BH, "signature version not 1", ANY_ALG},
    {"v=2; a=nonesuch; " D SEL H B BH, "signature version not 1", ANY_ALG}, /* first found */
    /* algorithm */
    {V "a=rsa-sha512; " D SEL H B BH, "unknown algorithm", ANY_ALG},
    {V "a=ed25519; " D SEL H B BH, "unknown algorithm", ANY_ALG},
    {V "a=; " D SEL H B BH, "unknown algorithm", ANY_ALG},
    /* malformed values */
    {V A "d=; " SEL H B BH, "signature syntax error", ANY_ALG},
    {V A "d=exa!mple.com; " SEL H B BH, "signature syntax error", ANY_ALG},
    {V A "d=example..com; " SEL H B BH, "signature syntax error", ANY_ALG},
    {V A "d=.example.com; " SEL H B BH, "signature syntax error", ANY_ALG},
    {V A D "s=._domainkey.x; " H B BH, "signature syntax error", ANY_ALG},
    {V A D "s=a/b; " H B BH, "signature syntax error", ANY_ALG},
    {V A D "s=a..b; " H B BH, "signature syntax error", ANY_ALG},
    {V A D "s=; " H B BH, "signature syntax error", ANY_ALG},
    {V A D SEL H "b=dGVzd!==; " BH, "signature syntax error", ANY_ALG},
    {V A D SEL H B "bh=47DEQ=pj8; ", "signature syntax error", ANY_ALG},
    {V A D SEL H B "bh=A; ", "signature syntax error", ANY_ALG},
    {V A D SEL "h=from::to; " B BH, "signature syntax error", ANY_ALG},
    {V A D SEL "h=from:; " B BH, "signature syntax error", ANY_ALG},
    {V A D SEL "h=:from; " B BH, "signature syntax error", ANY_ALG},
    {V A D SEL "h=; " B BH, "signature syntax error", ANY_ALG},
    {V A D SEL H "b=; " BH, "signature syntax error", ANY_ALG}, /* base64string: 1 char at least */
    {V A D SEL H B "bh=; ", "signature syntax error", ANY_ALG},
    {REQ "t=1700000000; x=1700000000", "signature syntax error",
     ANY_ALG}, /* x= "MUST be greater" */
    {REQ "l=abc", "signature syntax error", ANY_ALG},
    {REQ "l=-1", "signature syntax error", ANY_ALG},
    {REQ "l=1.5", "signature syntax error", ANY_ALG},
    {REQ "l=0x10", "signature syntax error", ANY_ALG},
    {REQ "l=", "signature syntax error", ANY_ALG},
    {REQ "l=1234567890123456789", "signature syntax error", ANY_ALG}, /* past a long long */
    {REQ "t=soon", "signature syntax error", ANY_ALG},
    {REQ "x=+1700000000", "signature syntax error", ANY_ALG},
    {REQ "t=1700000010; x=1700000005", "signature syntax error", ANY_ALG}, /* x= before t= */
    {REQ "i=example.com", "signature syntax error", ANY_ALG},
    /* canonicalization */
    {REQ "c=foo", "unknown canonicalization", ANY_ALG},
    {REQ "c=relaxed/foo", "unknown canonicalization", ANY_ALG},
    {REQ "c=foo/simple", "unknown canonicalization", ANY_ALG},
    {REQ "c=simple/", "unknown canonicalization", ANY_ALG},
    {REQ "c=/relaxed", "unknown canonicalization", ANY_ALG},
    {REQ "c=relaxed/relaxed/relaxed", "unknown canonicalization", ANY_ALG},
    {REQ "c=", "unknown canonicalization", ANY_ALG},
    {REQ "c=nowsp", "unknown canonicalization", ANY_ALG},
    /* query method */
    {REQ "q=http/well-known", "unknown query method", ANY_ALG},
    {REQ "q=dns", "unknown query method", ANY_ALG},
    {REQ "q=", "unknown query method", ANY_ALG},
    /* h= without From */
    {V A D SEL "h=to:subject; " B BH, "From: not signed", ANY_ALG},
    {V A D SEL "h=x-from:fromx; " B BH, "From: not signed", ANY_ALG},
    /* i= outside d= */
    {REQ "i=@example.org", "i= not within d=", ANY_ALG},
    {REQ "i=@notexample.com", "i= not within d=", ANY_ALG},
    {REQ "i=@com", "i= not within d=", ANY_ALG},
    {REQ "i=user@", "i= not within d=", ANY_ALG},
    {REQ "i=@example.com.evil", "i= not within d=", ANY_ALG},
    /* times (more in test_sig_times) */
    {REQ "x=1699999999", "signature expired", ANY_ALG},
    {REQ "t=1700000301", "signature in the future", ANY_ALG},
    /* h= past its bound: 513 names */
    {V A D SEL "h=from" X512 "; " B BH, "too many h= names", ANY_ALG},
    /* rsa-sha1 is recognised whatever else is wrong (RFC 8301: the caller fails it) */
    {"v=2; a=rsa-sha1; " D SEL H B BH, "signature version not 1", DKIM_ALG_RSA_SHA1},
    {V "a=rsa-sha1; " D SEL H B, "signature missing a required tag", DKIM_ALG_RSA_SHA1},
    {V "a=rsa-sha1; " D SEL H B BH "c=foo", "unknown canonicalization", DKIM_ALG_RSA_SHA1},
    {V "a=rsa-sha1; " D SEL "h=to; " B BH, "From: not signed", DKIM_ALG_RSA_SHA1},
    {V "a=rsa-sha1; " D SEL H B BH "x=1", "signature expired", DKIM_ALG_RSA_SHA1},
    {V "a=ed25519-sha256; " D SEL H B BH "q=x", "unknown query method", DKIM_ALG_ED25519_SHA256},
};

/* every refusal gives its reason; every documented reason is reachable */
static void test_sig_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sig_errors) / sizeof(sig_errors[0]); i++) {
        struct dkim_sig sig;

        print_message("case %zu\n", i);
        parse(&sig, sig_errors[i].value, NOW);
        assert_non_null(sig.error);
        assert_string_equal(sig.error, sig_errors[i].error);
        if (sig_errors[i].alg != ANY_ALG)
            assert_int_equal(sig.alg, sig_errors[i].alg);
        dkim_sig_free(&sig);
        assert_null(sig.domain); /* free leaves it zeroed */
    }
    for (size_t r = 0; r < sizeof(sig_reasons) / sizeof(sig_reasons[0]); r++) {
        bool seen = false;

        for (size_t i = 0; i < sizeof(sig_errors) / sizeof(sig_errors[0]) && !seen; i++)
            seen = strcmp(sig_errors[i].error, sig_reasons[r]) == 0;
        print_message("reason %s\n", sig_reasons[r]);
        assert_true(seen);
    }
}

/* what a usable signature yields */
static void test_sig_valid(void **state)
{
    static const struct {
        const char *value;
        enum dkim_alg alg;
        bool hdr_relaxed, body_relaxed;
        const char *domain, *selector, *h; /* h: the names joined with ":" */
        bool has_l;
        unsigned long long l;
        const char *identity_domain; /* NULL: no i= */
        size_t blen;
    } cases[] = {
        {REQ, DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel", "from:to", false, 0, NULL,
         4},
        {V "a=ed25519-sha256; " D SEL H B BH, DKIM_ALG_ED25519_SHA256, false, false, "example.com",
         "sel", "from:to", false, 0, NULL, 4},
        {V "a=RSA-SHA256; " D SEL H B BH, DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel",
         "from:to", false, 0, NULL, 4},
        {V "a=rsa-sha1; " D SEL H B BH, DKIM_ALG_RSA_SHA1, false, false, "example.com", "sel",
         "from:to", false, 0, NULL, 4},
        /* c=: a lone word is the header's, the body's is then simple */
        {REQ "c=relaxed", DKIM_ALG_RSA_SHA256, true, false, "example.com", "sel", "from:to", false,
         0, NULL, 4},
        {REQ "c=simple", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel", "from:to", false,
         0, NULL, 4},
        {REQ "c=relaxed/relaxed", DKIM_ALG_RSA_SHA256, true, true, "example.com", "sel", "from:to",
         false, 0, NULL, 4},
        {REQ "c=simple/relaxed", DKIM_ALG_RSA_SHA256, false, true, "example.com", "sel", "from:to",
         false, 0, NULL, 4},
        {REQ "c=relaxed/simple", DKIM_ALG_RSA_SHA256, true, false, "example.com", "sel", "from:to",
         false, 0, NULL, 4},
        {REQ "c=Relaxed/SIMPLE", DKIM_ALG_RSA_SHA256, true, false, "example.com", "sel", "from:to",
         false, 0, NULL, 4},
        /* d=, s=, h= in lower case; h= folded, repeated names kept */
        {V A "d=Example.COM; s=SeL; " H B BH, DKIM_ALG_RSA_SHA256, false, false, "example.com",
         "sel", "from:to", false, 0, NULL, 4},
        {V A D SEL "h=From : TO :\r\n Subject; " B BH, DKIM_ALG_RSA_SHA256, false, false,
         "example.com", "sel", "from:to:subject", false, 0, NULL, 4},
        {V A D SEL "h=to:FROM:from; " B BH, DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel",
         "to:from:from", false, 0, NULL, 4},
        {V A D SEL "h=from; " B BH, DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel", "from",
         false, 0, NULL, 4},
        /* l= */
        {REQ "l=0", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel", "from:to", true, 0,
         NULL, 4},
        {REQ "l=12345", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel", "from:to", true,
         12345, NULL, 4},
        {REQ "l=999999999999999999", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel",
         "from:to", true, 999999999999999999ULL, NULL, 4},
        /* i= */
        {REQ "i=@example.com", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel", "from:to",
         false, 0, "example.com", 4},
        {REQ "i=User@Mail.Example.COM", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel",
         "from:to", false, 0, "mail.example.com", 4},
        {REQ "i=a@b@example.com", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel",
         "from:to", false, 0, "example.com", 4},
        /* q=, unknown tags, b= folded */
        {REQ "q=dns/txt", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel", "from:to", false,
         0, NULL, 4},
        {REQ "q=other/x:DNS/TXT", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel",
         "from:to", false, 0, NULL, 4},
        {REQ "z=ignored; foo_bar=x; n=a=b", DKIM_ALG_RSA_SHA256, false, false, "example.com", "sel",
         "from:to", false, 0, NULL, 4},
        {V A D SEL H "b=Zm9v\r\n YmFy\r\n\t; " BH, DKIM_ALG_RSA_SHA256, false, false, "example.com",
         "sel", "from:to", false, 0, NULL, 6},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_sig sig;
        struct buf h = BUF_INIT;

        print_message("case %zu\n", i);
        parse(&sig, cases[i].value, NOW);
        assert_null(sig.error);
        assert_int_equal(sig.alg, cases[i].alg);
        assert_int_equal(sig.hdr_relaxed, cases[i].hdr_relaxed);
        assert_int_equal(sig.body_relaxed, cases[i].body_relaxed);
        assert_string_equal(sig.domain, cases[i].domain);
        assert_string_equal(sig.selector, cases[i].selector);
        for (size_t k = 0; k < sig.nh; k++)
            buf_printf(&h, "%s%s", k ? ":" : "", sig.h[k]);
        assert_string_equal(buf_cstr(&h), cases[i].h);
        assert_int_equal(sig.has_l, cases[i].has_l);
        if (cases[i].has_l)
            assert_true(sig.l == cases[i].l);
        if (cases[i].identity_domain == NULL)
            assert_null(sig.identity_domain);
        else
            assert_string_equal(sig.identity_domain, cases[i].identity_domain);
        assert_int_equal(sig.b.len, cases[i].blen);
        assert_int_equal(sig.bh.len, 32);
        buf_free(&h);
        dkim_sig_free(&sig);
    }
}

/* t= and x= against now: x= in the past expires, t= may run DKIM_CLOCK_DRIFT ahead */
/* test_h_bound - h= of up to DKIM_SIG_H_MAX names parses, one more is refused, however many */
static void test_h_bound(void **state)
{
    static const struct {
        size_t names;
        const char *error; /* NULL: usable */
    } cases[] = {
        {1, NULL},
        {511, NULL},
        {512, NULL},
        {513, DKIM_SIG_TOO_MANY_H},
        {50000, DKIM_SIG_TOO_MANY_H},
    };

    (void)state;
    assert_int_equal(DKIM_SIG_H_MAX, 512); /* documented in postmeter-milter(8) */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf v = BUF_INIT;
        struct dkim_sig sig;

        buf_puts(&v, V A D SEL B BH "h=from");
        for (size_t k = 1; k < cases[i].names; k++)
            buf_puts(&v, k % 2 ? ":x" : ":From"); /* duplicates count: oversigning */
        parse(&sig, buf_cstr(&v), NOW);
        if (cases[i].error == NULL) {
            assert_null(sig.error);
            assert_int_equal(sig.nh, cases[i].names);
        } else {
            assert_non_null(sig.error);
            assert_string_equal(sig.error, cases[i].error);
            assert_true(sig.nh <= DKIM_SIG_H_MAX); /* stopped at the bound */
        }
        dkim_sig_free(&sig);
        buf_free(&v);
    }
}

static void test_sig_times(void **state)
{
    static const struct {
        bool has_t;
        long long t; /* seconds from now */
        bool has_x;
        long long x;
        const char *error;
    } cases[] = {
        {false, 0, true, 0, NULL}, /* expires at the end of its second */
        {false, 0, true, 1, NULL},
        {false, 0, true, -1, "signature expired"},
        {false, 0, true, -NOW, "signature expired"},
        {true, 0, false, 0, NULL},
        {true, -NOW, false, 0, NULL}, /* t=0 */
        {true, DKIM_CLOCK_DRIFT, false, 0, NULL},
        {true, DKIM_CLOCK_DRIFT + 1, false, 0, "signature in the future"},
        {true, DKIM_CLOCK_DRIFT + 1, true, DKIM_CLOCK_DRIFT + 2, "signature in the future"},
        {true, -1000, true, 1, NULL},
        {true, -1000, true, -1, "signature expired"},
        {true, -1000, true, -999, "signature expired"},
        {true, 10, true, 5, "signature syntax error"},
        {true, DKIM_CLOCK_DRIFT, true, DKIM_CLOCK_DRIFT + 1000, NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_sig sig;
        struct buf v = BUF_INIT;

        buf_puts(&v, REQ);
        if (cases[i].has_t)
            buf_printf(&v, "t=%lld; ", NOW + cases[i].t);
        if (cases[i].has_x)
            buf_printf(&v, "x=%lld; ", NOW + cases[i].x);
        print_message("case %zu\n", i);
        parse(&sig, v.data, NOW);
        if (cases[i].error == NULL)
            assert_null(sig.error);
        else
            assert_string_equal(sig.error, cases[i].error);
        dkim_sig_free(&sig);
        buf_free(&v);
    }
}

/* d= is kept "lower case, no trailing dot" (auth/dkim_sig.h) */
static void test_sig_domain_dot(void **state)
{
    struct dkim_sig sig;
    bool refused, stripped;

    (void)state;
    parse(&sig, V A "d=Example.COM.; " SEL H B BH "i=@example.com", NOW);
    /* refused (RFC 6376 3.5: d= is a domain-name, which has no trailing dot), or kept without it */
    refused = sig.error && strcmp(sig.error, "signature syntax error") == 0;
    stripped = !sig.error && sig.domain && strcmp(sig.domain, "example.com") == 0;
    print_message("d=Example.COM.: domain \"%s\", error \"%s\"\n",
                  sig.domain ? sig.domain : "(null)", sig.error ? sig.error : "(null)");
    dkim_sig_free(&sig);
    assert_true(refused || stripped);
}

/* key records */
static void test_keyrec(void **state)
{
    enum { RSA = DKIM_ALG_RSA_SHA256, ED = DKIM_ALG_ED25519_SHA256, SHA1 = DKIM_ALG_RSA_SHA1 };
    enum { OK = DKIM_KEYREC_OK, REVOKED = DKIM_KEYREC_REVOKED, BAD = DKIM_KEYREC_BAD };
    static const struct {
        const char *rec;
        int alg;
        int status;
        const char *why; /* status != OK */
        bool ed25519, testing, strict;
        const char *p; /* decoded p= when OK */
    } cases[] = {
        /* usable */
        {"v=DKIM1; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"v=DKIM1; k=rsa; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"v=DKIM1; k=RSA; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"v=DKIM1; k=rsa; p=dGVzdA==", SHA1, OK, NULL, false, false, false, "test"},
        {"v=DKIM1; k=ed25519; p=Zm9vYmFy", ED, OK, NULL, true, false, false, "foobar"},
        {"v=DKIM1; k=rsa; p=dGVz\r\n\tdA==", RSA, OK, NULL, false, false, false, "test"},
        {"v=DKIM1;p=dGVzdA;", RSA, OK, NULL, false, false, false, "test"},
        /* unknown tags are ignored */
        {"v=DKIM1; g=*; n=some notes; foo_bar=x; k=rsa; p=dGVzdA==", RSA, OK, NULL, false, false,
         false, "test"},
        /* h= */
        {"h=sha256; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"h=sha1:sha256; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"h=SHA256; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"h=sha1; p=dGVzdA==", RSA, BAD, "key does not allow sha256", false, false, false, NULL},
        {"h=sha512:sha2567; p=dGVzdA==", RSA, BAD, "key does not allow sha256", false, false, false,
         NULL},
        {"k=ed25519; h=sha1; p=dGVzdA==", ED, BAD, "key does not allow sha256", true, false, false,
         NULL},
        /* s= */
        {"s=*; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"s=email; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"s=other:email; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"s=other:*; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"s=other; p=dGVzdA==", RSA, BAD, "key not for email", false, false, false, NULL},
        {"s=emails:other; p=dGVzdA==", RSA, BAD, "key not for email", false, false, false, NULL},
        /* t= flags */
        {"t=y; p=dGVzdA==", RSA, OK, NULL, false, true, false, "test"},
        {"t=s; p=dGVzdA==", RSA, OK, NULL, false, false, true, "test"},
        {"t=y:s; p=dGVzdA==", RSA, OK, NULL, false, true, true, "test"},
        {"t=s:y; p=dGVzdA==", RSA, OK, NULL, false, true, true, "test"},
        {"t=x:yy:ss; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        {"t=; p=dGVzdA==", RSA, OK, NULL, false, false, false, "test"},
        /* revoked: p= empty, flags still read */
        {"v=DKIM1; p=", RSA, REVOKED, "key revoked", false, false, false, NULL},
        {"v=DKIM1; k=rsa; t=y; p= ", RSA, REVOKED, "key revoked", false, true, false, NULL},
        {"v=DKIM1; k=ed25519; p=", ED, REVOKED, "key revoked", true, false, false, NULL},
        /* k= against the algorithm, both ways; unknown k= */
        {"v=DKIM1; k=ed25519; p=dGVzdA==", RSA, BAD, "key unusable for the algorithm", true, false,
         false, NULL},
        {"v=DKIM1; k=ed25519; p=dGVzdA==", SHA1, BAD, "key unusable for the algorithm", true, false,
         false, NULL},
        {"v=DKIM1; k=rsa; p=dGVzdA==", ED, BAD, "key unusable for the algorithm", false, false,
         false, NULL},
        {"v=DKIM1; p=dGVzdA==", ED, BAD, "key unusable for the algorithm", false, false, false,
         NULL},
        {"v=DKIM1; k=dsa; p=dGVzdA==", RSA, BAD, "key unusable for the algorithm", false, false,
         false, NULL},
        {"v=DKIM1; k=dsa; p=dGVzdA==", ED, BAD, "key unusable for the algorithm", false, false,
         false, NULL},
        {"v=DKIM1; k=; p=dGVzdA==", RSA, BAD, "key unusable for the algorithm", false, false, false,
         NULL},
        /* version */
        {"v=DKIM2; p=dGVzdA==", RSA, BAD, "unsupported key version", false, false, false, NULL},
        {"v=dkim1; p=dGVzdA==", RSA, BAD, "unsupported key version", false, false, false, NULL},
        {"v=; p=dGVzdA==", RSA, BAD, "unsupported key version", false, false, false, NULL},
        {"v=spf1; p=", RSA, BAD, "unsupported key version", false, false, false, NULL},
        /* syntax: the tag-list, no p=, p= not base64 */
        {"this is not a key record", RSA, BAD, "key record syntax error", false, false, false,
         NULL},
        {"v=DKIM1; p=dGVzdA==; p=dGVzdA==", RSA, BAD, "key record syntax error", false, false,
         false, NULL},
        {"v=DKIM1; k=rsa", RSA, BAD, "key record syntax error", false, false, false, NULL},
        {"", RSA, BAD, "key record syntax error", false, false, false, NULL},
        {"v=DKIM1; p=dGVzd!==", RSA, BAD, "key record syntax error", false, false, false, NULL},
        {"v=DKIM1; p=dGVzdA=", RSA, BAD, "key record syntax error", false, false, false, NULL},
        {"v=DKIM1; p=d", RSA, BAD, "key record syntax error", false, false, false, NULL},
        {"v=DKIM1; p=dG==dA==", RSA, BAD, "key record syntax error", false, false, false, NULL},
    };
    static const char *const reasons[] = {
        "key record syntax error",   "unsupported key version", "key unusable for the algorithm",
        "key does not allow sha256", "key not for email",       "key revoked",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_keyrec k = {0};
        const char *why = NULL;
        size_t len = strlen(cases[i].rec);
        char *copy = xmalloc(len ? len : 1); /* no NUL after: ASan sees overreads */
        enum dkim_keyrec_status st;

        print_message("case %zu\n", i);
        memcpy(copy, cases[i].rec, len);
        st = dkim_keyrec_parse(&k, copy, len, (enum dkim_alg)cases[i].alg, &why);
        free(copy);
        assert_int_equal(st, cases[i].status);
        if (st == DKIM_KEYREC_OK) {
            assert_int_equal(k.p.len, strlen(cases[i].p));
            assert_memory_equal(k.p.data, cases[i].p, k.p.len);
        } else {
            assert_non_null(why);
            assert_string_equal(why, cases[i].why);
        }
        if (st != DKIM_KEYREC_BAD || strcmp(why, "key unusable for the algorithm") == 0)
            assert_int_equal(k.ed25519, cases[i].ed25519);
        if (st != DKIM_KEYREC_BAD) {
            assert_int_equal(k.testing, cases[i].testing);
            assert_int_equal(k.strict, cases[i].strict);
        }
        dkim_keyrec_free(&k);
        assert_int_equal(k.p.len, 0);
    }
    for (size_t r = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++) {
        bool seen = false;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !seen; i++)
            seen = cases[i].why && strcmp(cases[i].why, reasons[r]) == 0;
        print_message("reason %s\n", reasons[r]);
        assert_true(seen);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_errors), cmocka_unit_test(test_sig_valid),
        cmocka_unit_test(test_sig_times),  cmocka_unit_test(test_sig_domain_dot),
        cmocka_unit_test(test_keyrec),     cmocka_unit_test(test_h_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
