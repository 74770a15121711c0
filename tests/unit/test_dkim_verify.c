/*
 * test_dkim_verify.c - auth/dkim_verify without DNS: whole verifications
 * of the tests/data/dkim messages with keys served by a lookup function
 * (results, comments, limits, shared lookups, temporary failures,
 * abandoned messages). Its parts one by one (header field rebuilding,
 * tag values, header.b prefixes, key record choice) are in
 * test_dkim_verify_parts.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dkim_verify.h"
#include "dns.h"
#include "util.h"

#include "dkim_verify_fixture.h"

#define KEYS_FILE   TEST_DATA_DIR "/dkim/keys.txt"
#define EXPECT_FILE TEST_DATA_DIR "/dkim/expect.txt"

/* The fake resolver: keys.txt, or one status for every name. */
struct fake {
    char **name, **txt;
    size_t n;
    enum dns_status force; /* DNS_OK: answer from the file */
    int force_rcode;
    unsigned calls;
};

/* read_all - a file's contents; caller frees */
static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;

    assert_non_null(fp);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_add(&b, chunk, n);
    fclose(fp);
    if (len)
        *len = b.len;
    return buf_steal(&b);
}

/* fake_load - keys.txt into f */
static void fake_load(struct fake *f)
{
    char *data = read_all(KEYS_FILE, NULL), *save = NULL;

    memset(f, 0, sizeof(*f));
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(l, '\t');

        assert_non_null(tab);
        *tab = '\0';
        f->name = xrealloc(f->name, (f->n + 1) * sizeof(char *));
        f->txt = xrealloc(f->txt, (f->n + 1) * sizeof(char *));
        f->name[f->n] = xstrdup(l);
        f->txt[f->n++] = xstrdup(tab + 1);
    }
    free(data);
}

/* fake_free - release f */
static void fake_free(struct fake *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->name[i]);
        free(f->txt[i]);
    }
    free(f->name);
    free(f->txt);
}

/* fake_lookup - the dkimv lookup function over a struct fake */
static struct dns_result *fake_lookup(void *arg, const char *name)
{
    struct fake *f = arg;
    struct dns_result *r;
    size_t n = 0;

    f->calls++;
    if (f->force != DNS_OK) {
        r = xcalloc(1, sizeof(*r));
        r->status = f->force;
        r->rcode = f->force_rcode;
        return r;
    }
    for (size_t i = 0; i < f->n; i++)
        n += strcmp(f->name[i], name) == 0;
    if (n == 0) {
        r = xcalloc(1, sizeof(*r));
        r->status = DNS_NXDOMAIN;
        r->rcode = 3;
        return r;
    }
    r = txt_result(n);
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->name[i], name) == 0) {
            r->txt[r->n] = xstrdup(f->txt[i]);
            r->txt_len[r->n++] = strlen(f->txt[i]);
        }
    }
    return r;
}

/* add_field - one "Name: value" field with LF folds, as Postfix hands it over */
static void add_field(struct dkimv_msg *m, const char *text, size_t len, bool leadspc)
{
    const char *colon = memchr(text, ':', len), *v;
    char *name, *value;

    assert_non_null(colon);
    v = colon + 1;
    if (!leadspc && *v == ' ')
        v++;
    name = xstrndup(text, (size_t)(colon - text));
    value = xstrndup(v, (size_t)(text + len - v));
    dkimv_header(m, name, value);
    free(name);
    free(value);
}

/* feed - a CRLF message file's text through m as libmilter would; body in chunks */
static const struct dkimv_results *feed(struct dkimv_msg *m, const char *data, size_t len,
                                        bool leadspc, size_t chunk)
{
    struct buf field = BUF_INIT;
    size_t i = 0;

    while (i < len) {
        const char *eol = strstr(data + i, "\r\n");
        size_t end = eol ? (size_t)(eol - data) : len;

        if (end == i) {
            i += 2;
            break;
        }
        if (data[i] == ' ' || data[i] == '\t') {
            buf_putc(&field, '\n');
        } else if (field.len > 0) {
            add_field(m, field.data, field.len, leadspc);
            buf_reset(&field);
        }
        buf_add(&field, data + i, end - i);
        i = eol ? end + 2 : end;
    }
    if (field.len > 0)
        add_field(m, field.data, field.len, leadspc);
    buf_free(&field);
    dkimv_eoh(m);
    for (; i < len; i += chunk)
        dkimv_body(m, (const unsigned char *)data + i, len - i < chunk ? len - i : chunk);
    return dkimv_eom(m);
}

/* summary - "result comment|..." of results, "none" if empty; caller frees */
static char *summary(const struct dkimv_results *r)
{
    struct buf b = BUF_INIT;

    for (size_t i = 0; i < r->n; i++)
        buf_printf(&b, "%s%s %s", i ? "|" : "", dkimv_result_name(r->sig[i].result),
                   r->sig[i].comment);
    if (r->n == 0)
        buf_puts(&b, "none ");
    return buf_steal(&b);
}

/* verify_file - verify tests/data/dkim/FILE; summary, caller frees */
static char *verify_file(struct dkimv *v, const char *file, bool leadspc, size_t chunk)
{
    char path[512], *data, *s;
    struct dkimv_msg *m = dkimv_begin(v, "unit", leadspc ? DKIMV_LEADSPC : 0);
    size_t len;

    assert_true(snprintf_ok(path, sizeof(path), "%s/dkim/%s", TEST_DATA_DIR, file));
    data = read_all(path, &len);
    s = summary(feed(m, data, len, leadspc, chunk));
    dkimv_end(m);
    free(data);
    return s;
}

/* open_fake - a verifier answering from f */
static struct dkimv *open_fake(struct fake *f, unsigned max_sigs, unsigned min_bits)
{
    char err[128];
    struct dkimv *v = dkimv_open(NULL, max_sigs, min_bits, err, sizeof(err));

    assert_non_null(v);
    dkimv_set_lookup(v, fake_lookup, f);
    return v;
}

/* test_fixtures - every message of expect.txt, fed four ways */
static void test_fixtures(void **state)
{
    char *expect = read_all(EXPECT_FILE, NULL), *save = NULL, *prev = NULL;
    struct buf want = BUF_INIT;
    struct fake f;
    struct dkimv *v;
    size_t files = 0;

    (void)state;
    fake_load(&f);
    v = open_fake(&f, 5, 1024);
    /* lines "FILE\tRESULT\tCOMMENT", several per file; one extra round to flush */
    for (char *l = strtok_r(expect, "\n", &save);; l = strtok_r(NULL, "\n", &save)) {
        char *file = l, *result = NULL, *comment = NULL;

        if (l) {
            result = strchr(l, '\t');
            assert_non_null(result);
            *result++ = '\0';
            comment = strchr(result, '\t');
            assert_non_null(comment);
            *comment++ = '\0';
        }
        if (prev && (l == NULL || strcmp(prev, file) != 0)) {
            static const struct {
                bool leadspc;
                size_t chunk;
            } ways[] = {{false, 65535}, {true, 65535}, {false, 1}, {true, 7}};

            for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
                char *got = verify_file(v, prev, ways[w].leadspc, ways[w].chunk);

                if (strcmp(got, buf_cstr(&want)) != 0)
                    fail_msg("%s (leadspc %d, chunk %zu): got \"%s\", want \"%s\"", prev,
                             ways[w].leadspc, ways[w].chunk, got, buf_cstr(&want));
                free(got);
            }
            buf_reset(&want);
            files++;
        }
        if (l == NULL)
            break;
        buf_printf(&want, "%s%s %s", want.len ? "|" : "", result, comment);
        prev = file;
    }
    assert_true(files >= 19);
    buf_free(&want);
    free(expect);
    dkimv_close(v);
    fake_free(&f);
}

static void test_result_fields(void **state)
{
    struct fake f;
    struct dkimv *v;
    struct dkimv_msg *m;
    const struct dkimv_results *r;
    char *data;
    size_t len;

    (void)state;
    fake_load(&f);
    v = open_fake(&f, 5, 1024);
    m = dkimv_begin(v, NULL, 0);
    data = read_all(TEST_DATA_DIR "/dkim/rfc8463.eml", &len);
    r = feed(m, data, len, false, 100);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->skipped, 0);
    assert_string_equal(r->sig[0].domain, "football.example.com");
    assert_string_equal(r->sig[0].selector, "brisbane");
    assert_string_equal(r->sig[0].algorithm, "ed25519-sha256");
    assert_string_equal(r->sig[0].b, "9/dsDChY");
    assert_string_equal(r->sig[0].identity, "@football.example.com");
    assert_int_equal(r->sig[0].key_bits, 256);
    assert_int_equal(r->sig[0].body_length, -1);
    assert_string_equal(r->sig[1].selector, "test");
    assert_int_equal(r->sig[1].key_bits, 1024);
    assert_ptr_equal(dkimv_eom(m), r); /* a second call returns the same */
    dkimv_end(m);
    free(data);
    /* a message without DKIM-Signature: no results, no lookups */
    f.calls = 0;
    m = dkimv_begin(v, "x", 0);
    data = read_all(TEST_DATA_DIR "/dkim/unsigned.eml", &len);
    r = feed(m, data, len, false, 100);
    assert_int_equal(r->n, 0);
    assert_int_equal(r->skipped, 0);
    assert_int_equal(f.calls, 0);
    dkimv_end(m);
    free(data);
    dkimv_close(v);
    fake_free(&f);
}

static void test_temporary_failures(void **state)
{
    static const struct {
        enum dns_status status;
        int rcode;
        const char *want;
    } cases[] = {
        {DNS_TEMPFAIL, -1, "temperror key lookup timed out|temperror key lookup timed out"},
        {DNS_TEMPFAIL, 2,
         "temperror key lookup failed (SERVFAIL)|temperror key lookup failed (SERVFAIL)"},
        {DNS_NXDOMAIN, 3, "permerror no key for signature|permerror no key for signature"},
    };
    struct fake f;

    (void)state;
    fake_load(&f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkimv *v = open_fake(&f, 5, 1024);
        char *got;

        f.force = cases[i].status;
        f.force_rcode = cases[i].rcode;
        got = verify_file(v, "two-sigs.eml", false, 4096);
        assert_string_equal(got, cases[i].want);
        free(got);
        dkimv_close(v);
    }
    fake_free(&f);
}

static void test_no_resolver(void **state)
{
    char err[128], *got;
    struct dkimv *v = dkimv_open(NULL, 5, 1024, err, sizeof(err));

    (void)state;
    assert_non_null(v);
    got = verify_file(v, "rsa-relaxed.eml", false, 4096);
    assert_string_equal(got, "temperror no resolver");
    free(got);
    got = verify_file(v, "sha1.eml", false, 4096); /* decided without a key */
    assert_string_equal(got, "fail rsa-sha1 not accepted");
    free(got);
    got = verify_file(v, "syntax.eml", false, 4096);
    assert_string_equal(got, "neutral signature syntax error");
    free(got);
    dkimv_close(v);
    assert_null(dkimv_open(NULL, 0, 1024, err, sizeof(err)));
    assert_string_equal(err, "dkim: max_sigs must be at least 1");
}

static void test_min_key_bits(void **state)
{
    struct fake f;
    struct dkimv *v;
    char *got;

    (void)state;
    fake_load(&f);
    v = open_fake(&f, 5, 4096);
    got = verify_file(v, "rsa-relaxed.eml", false, 4096);
    assert_string_equal(got, "fail key too short (2048 bits)");
    free(got);
    got = verify_file(v, "ed25519.eml", false, 4096);
    assert_string_equal(got, "pass ");
    free(got);
    got = verify_file(v, "rsa4096-notes.eml", false, 4096);
    assert_string_equal(got, "pass ");
    free(got);
    dkimv_close(v);
    v = open_fake(&f, 5, 512);
    got = verify_file(v, "short512.eml", false, 4096);
    assert_string_equal(got, "pass ");
    free(got);
    dkimv_close(v);
    fake_free(&f);
}

/* junk - a DKIM-Signature value naming key junkN of domain d */
static char *junk(const char *d, unsigned n)
{
    return xasprintf("v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\n s=junk%u; h=from:to; "
                     "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n b=junk%06u%s",
                     d, n, n,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); /* 64: base64 */
}

static void test_limits(void **state)
{
    struct fake f;
    struct dkimv *v;
    struct dkimv_msg *m;
    const struct dkimv_results *r;
    char *data;
    size_t len;

    (void)state;
    fake_load(&f);
    v = open_fake(&f, 5, 1024);
    /* 200 signatures above the good one: 5 verified, the From-aligned among them */
    m = dkimv_begin(v, "limits", 0);
    for (unsigned i = 0; i < 200; i++) {
        char *val = junk("junk.example", i);

        dkimv_header(m, "DKIM-Signature", val);
        free(val);
    }
    data = read_all(TEST_DATA_DIR "/dkim/rsa-relaxed.eml", &len);
    r = feed(m, data, len, false, 512);
    assert_int_equal(r->n, 5);
    assert_int_equal(r->skipped, 196);
    assert_int_equal(f.calls, 5);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(r->sig[i].result, DKIMV_PERMERROR);
        assert_string_equal(r->sig[i].domain, "junk.example");
    }
    assert_string_equal(r->sig[0].selector, "junk0"); /* header order */
    assert_string_equal(r->sig[3].selector, "junk3");
    assert_int_equal(r->sig[4].result, DKIMV_PASS);
    assert_string_equal(r->sig[4].domain, "example.test");
    assert_string_equal(r->sig[0].b, "junk000000"); /* 10 characters tell them apart */
    dkimv_end(m);
    /* signatures naming one key share its lookup */
    f.calls = 0;
    m = dkimv_begin(v, "shared", 0);
    for (unsigned i = 0; i < 3; i++) {
        char *val = junk("junk.example", 7);

        dkimv_header(m, "DKIM-Signature", val);
        free(val);
    }
    r = feed(m, data, len, false, 512);
    assert_int_equal(r->n, 4);
    assert_int_equal(f.calls, 2); /* junk7 once, rsa2048 once */
    dkimv_end(m);
    free(data);
    dkimv_close(v);
    fake_free(&f);
}

static void test_identity(void **state)
{
    static const struct {
        const char *i, *want; /* want NULL: no i= */
    } cases[] = {
        {"@example.test", "@example.test"},
        {"joe=2Bdkim@example.test", "joe+dkim@example.test"},
        {"caf=C3=A9@example.test", "caf\xc3\xa9@example.test"},
        {"bad=4", "bad=4"},     /* malformed: as written */
        {"nul=00x", "nul=00x"}, /* would hide the rest */
        {"end=", "end="},
        {NULL, NULL},
    };
    struct fake f;
    struct dkimv *v;

    (void)state;
    fake_load(&f);
    v = open_fake(&f, 5, 1024);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct dkimv_msg *m = dkimv_begin(v, "identity", 0);
        const struct dkimv_results *r;
        char *val = cases[k].i ? xasprintf("v=1; a=rsa-sha256; d=example.test; s=missing;\n"
                                           " i=%s; h=from; bh=QUJD; b=QUJD",
                                           cases[k].i)
                               : xstrdup("v=1; a=rsa-sha256; d=example.test; s=missing; "
                                         "h=from; bh=QUJD; b=QUJD");

        dkimv_header(m, "DKIM-Signature", val);
        dkimv_header(m, "From", "a@example.test");
        r = dkimv_eom(m);
        assert_int_equal(r->n, 1);
        if (cases[k].want == NULL)
            assert_null(r->sig[0].identity);
        else
            assert_string_equal(r->sig[0].identity, cases[k].want);
        dkimv_end(m);
        free(val);
    }
    dkimv_close(v);
    fake_free(&f);
}

/*
 * test_partial_body - l= and DMARC (RFC 6376 3.5, 8.2): a pass whose body
 * goes on past l= is partial_body and, unless DKIMV_PARTIAL_COUNTS,
 * dmarc_ignore; l= equal to the body is neither; l= past the body fails
 */
static void test_partial_body(void **state)
{
    static const struct {
        const char *file;
        unsigned flags;
        const char *want;
        bool partial, ignore;
    } cases[] = {
        {"length.eml", 0, "pass l=75 partial body; ignored for DMARC", true, true},
        {"length.eml", DKIMV_PARTIAL_COUNTS, "pass l=75 partial body", true, false},
        {"length-simple.eml", 0, "pass l=79 partial body; ignored for DMARC", true, true},
        {"length-equal.eml", 0, "pass l=75", false, false},
        {"length-full.eml", 0, "pass l=97", false, false},
        {"length-long.eml", 0, "fail l= longer than the body; l=85", false, false},
        {"length-long.eml", DKIMV_PARTIAL_COUNTS, "fail l= longer than the body; l=85", false,
         false},
        {"rsa-relaxed.eml", 0, "pass ", false, false},
    };
    struct fake f;
    struct dkimv *v;

    (void)state;
    fake_load(&f);
    v = open_fake(&f, 5, 1024);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkimv_msg *m = dkimv_begin(v, "partial", cases[i].flags);
        const struct dkimv_results *r;
        char path[512], *data, *got;
        size_t len;

        assert_true(snprintf_ok(path, sizeof(path), "%s/dkim/%s", TEST_DATA_DIR, cases[i].file));
        data = read_all(path, &len);
        r = feed(m, data, len, false, 100);
        got = summary(r);
        assert_string_equal(got, cases[i].want);
        assert_int_equal(r->sig[0].partial_body, cases[i].partial);
        assert_int_equal(r->sig[0].dmarc_ignore, cases[i].ignore);
        free(got);
        free(data);
        dkimv_end(m);
    }
    dkimv_close(v);
    fake_free(&f);
}

/* test_abandoned - a message ended at any point leaks nothing (ASan) */
static void test_abandoned(void **state)
{
    struct fake f;
    struct dkimv *v;
    char *data;
    size_t len;

    (void)state;
    fake_load(&f);
    v = open_fake(&f, 5, 1024);
    data = read_all(TEST_DATA_DIR "/dkim/two-sigs.eml", &len);
    for (int stage = 0; stage < 4; stage++) {
        struct dkimv_msg *m = dkimv_begin(v, "abandoned", 0);

        if (stage >= 1)
            dkimv_header(m, "DKIM-Signature", "v=1; a=rsa-sha256; d=example.test; s=rsa2048");
        if (stage >= 1)
            dkimv_header(m, "From", "a@example.test");
        if (stage >= 2)
            dkimv_eoh(m);
        if (stage >= 3)
            dkimv_body(m, (const unsigned char *)"body\r\n", 6);
        dkimv_end(m);
    }
    assert_null(dkimv_end(NULL));
    /* the body before end of header: end of header is implied */
    {
        struct dkimv_msg *m = dkimv_begin(v, "implied", 0);
        const struct dkimv_results *r;

        dkimv_header(m, "From", "a@example.test");
        dkimv_body(m, (const unsigned char *)"x\r\n", 3);
        r = dkimv_eom(m);
        assert_int_equal(r->n, 0);
        dkimv_end(m);
    }
    free(data);
    dkimv_close(v);
    fake_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),           cmocka_unit_test(test_result_fields),
        cmocka_unit_test(test_temporary_failures), cmocka_unit_test(test_no_resolver),
        cmocka_unit_test(test_min_key_bits),       cmocka_unit_test(test_limits),
        cmocka_unit_test(test_identity),           cmocka_unit_test(test_abandoned),
        cmocka_unit_test(test_partial_body),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
