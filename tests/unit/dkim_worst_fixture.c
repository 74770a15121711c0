/*
 * dkim_worst_fixture.c - the worst DKIM messages we know how to build and
 * their CPU time (see dkim_worst_fixture.h).
 *
 * Every case stays within what the verifier keeps (DKIMV_HEADER_MAX, 1
 * MiB of header) and what Postfix passes (header_size_limit, 100 KB per
 * field), so none is cut short by "header too large". The signatures
 * name rsa2048._domainkey.example.test, a real 2048-bit key, so each goes
 * through the key, the header hash and the RSA check; b= is 256 bytes of
 * no signature, so each ends as "bad signature" after all the work.
 *
 * The key cases name made-up RSA keys (any odd modulus, nobody's private
 * key; one per signature, so neither the key cache nor OpenSSL's
 * per-key setup is shared), served with keys.txt: a 3072-bit modulus
 * with e = n - 2 (OpenSSL takes it; a check cost about 6 ms before such
 * keys were refused), and the dearest key taken, DKIM_RSA_BITS_MAX bits
 * with e = 2^32 - 1, whose b= (of the key's size, below n) pays the
 * whole check before "bad signature".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "buf.h"
#include "dkim_pkey.h"
#include "dkim_sign.h"
#include "dkim_verify.h"
#include "dns.h"
#include "log.h"
#include "util.h"

#include "dkim_worst_fixture.h"

#define BH "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define FAIL5                                                                                      \
    "fail bad signature|fail bad signature|fail bad signature|fail bad signature|fail bad "        \
    "signature"
#define FAIL10   FAIL5 "|" FAIL5
#define FAIL50   FAIL10 "|" FAIL10 "|" FAIL10 "|" FAIL10 "|" FAIL10
#define ELARGE   "permerror RSA key exponent too large"
#define ELARGE5  ELARGE "|" ELARGE "|" ELARGE "|" ELARGE "|" ELARGE
#define ELARGE10 ELARGE5 "|" ELARGE5
#define ELARGE50 ELARGE10 "|" ELARGE10 "|" ELARGE10 "|" ELARGE10 "|" ELARGE10

const struct dkim_worst_case dkim_worst_cases[] = {
    {"the report's message: 5 signatures with 50,000 names in h=, 170,000 fields", 5,
     "permerror too many h= names|permerror too many h= names|permerror too many h= "
     "names|permerror too many h= names|permerror too many h= names"},
    {"h= at the bound (512 names, none present) under 5 signatures, 300,000 fields", 5, FAIL5},
    {"every field signed: 5 signatures over 500 fields of 1900 bytes", 5, FAIL5},
    {"50 signatures (dkim_max_signatures at its maximum) over 400 fields of 2000 bytes", 50,
     FAIL50},
    {"5 distinct l= in both body canonicalizations over a 4 MB body", 5,
     "fail bad signature; l=1000 partial body|fail bad signature; l=1001 partial body|fail bad "
     "signature; l=1002 partial body|fail bad signature; l=1003 partial body|fail bad signature; "
     "l=1004 partial body"},
    {"30,000 DKIM-Signature fields", 5,
     "neutral signature missing a required tag|neutral signature missing a required tag|neutral "
     "signature missing a required tag|neutral signature missing a required tag|neutral "
     "signature missing a required tag"},
    {"5 signatures, each by its 3072-bit key with e = n - 2 (refused)", 5, ELARGE5},
    {"50 signatures, each by its 3072-bit key with e = n - 2 (refused)", 50, ELARGE50},
    {"5 signatures, each by its key of DKIM_RSA_BITS_MAX bits, e = 2^32 - 1, junk b=", 5, FAIL5},
    {"50 signatures, each by its key of DKIM_RSA_BITS_MAX bits, e = 2^32 - 1, junk b=", 50, FAIL50},
    {"h= at the bound over 300,000 fields, 5 signatures by keys of DKIM_RSA_BITS_MAX bits", 5,
     FAIL5},
};
const size_t dkim_worst_ncases = sizeof(dkim_worst_cases) / sizeof(dkim_worst_cases[0]);

/* A message as a milter hands it over. */
struct wmsg {
    char **name, **value;
    size_t n, cap;
    struct buf body;
    struct buf keys; /* "NAME<TAB>TXT" lines of the made-up keys, served with keys.txt */
};

/* add - one header field (copies) */
static void add(struct wmsg *w, const char *name, const char *value)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->name = xrealloc(w->name, w->cap * sizeof(*w->name));
        w->value = xrealloc(w->value, w->cap * sizeof(*w->value));
    }
    w->name[w->n] = xstrdup(name);
    w->value[w->n++] = xstrdup(value);
}

/* wmsg_free - release w */
static void wmsg_free(struct wmsg *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->name[i]);
        free(w->value[i]);
    }
    free(w->name);
    free(w->value);
    buf_free(&w->body);
    buf_free(&w->keys);
}

/*
 * add_sig_by - a DKIM-Signature with h=h, c=c, extra tags, s=sel; b=
 * blen bytes that differ by i (below any modulus of blen bytes unless
 * sel is rsa2048, whose b= stays what it always was)
 */
static void add_sig_by(struct wmsg *w, const char *h, const char *c, const char *extra,
                       const char *sel, size_t blen, unsigned i)
{
    unsigned char *raw = xmalloc(blen);
    char *b64 = xmalloc(4 * blen / 3 + 4), *v;

    for (size_t k = 0; k < blen; k++)
        raw[k] = (unsigned char)(k * 7 + i * 13 + (k == 0 ? i : 0));
    if (strcmp(sel, "rsa2048") != 0)
        raw[0] = 0; /* the check is made in full */
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)blen);
    v = xasprintf("v=1; a=rsa-sha256; c=%s; d=example.test; s=%s; %sh=%s;\n\tbh=" BH ";\n\tb=%s", c,
                  sel, extra, h, b64);
    add(w, "DKIM-Signature", v);
    free(v);
    free(b64);
    free(raw);
}

/* add_sig - a DKIM-Signature by rsa2048 with h=h, c=c and extra tags; b= 256 bytes */
static void add_sig(struct wmsg *w, const char *h, const char *c, const char *extra, unsigned i)
{
    add_sig_by(w, h, c, extra, "rsa2048", 256, i);
}

/*
 * rsa_record - the key record of a made-up RSA key of bits bits (modulus
 * bytes that differ by i, odd, top bit set) with e = n - 2 (e_big) or
 * e = 2^32 - 1; caller frees
 */
static char *rsa_record(int bits, bool e_big, unsigned i)
{
    size_t nb = (size_t)bits / 8;
    unsigned char *raw = xmalloc(nb), *der = NULL;
    BIGNUM *n, *e = BN_new();
    OSSL_PARAM_BLD *pb = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *k = NULL;
    char *b64, *rec;
    int len = 0;

    for (size_t j = 0; j < nb; j++)
        raw[j] = (unsigned char)(j * 37 + i * 101 + 11);
    raw[0] |= 0x80;
    raw[nb - 1] |= 1;
    n = BN_bin2bn(raw, (int)nb, NULL);
    if (n == NULL || e == NULL || pb == NULL || pc == NULL ||
        !(e_big ? BN_copy(e, n) != NULL && BN_sub_word(e, 2) : BN_set_word(e, 0xffffffffu)) ||
        !OSSL_PARAM_BLD_push_BN(pb, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(pb, OSSL_PKEY_PARAM_RSA_E, e) ||
        (params = OSSL_PARAM_BLD_to_param(pb)) == NULL || EVP_PKEY_fromdata_init(pc) != 1 ||
        EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
        (len = i2d_PUBKEY(k, &der)) <= 0)
        bug("dkim_worst: cannot make a %d-bit RSA key", bits);
    b64 = xmalloc(4 * (size_t)len / 3 + 4);
    EVP_EncodeBlock((unsigned char *)b64, der, len);
    rec = xasprintf("v=DKIM1; k=rsa; p=%s", b64);
    free(b64);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(pb);
    BN_free(n);
    BN_free(e);
    free(raw);
    return rec;
}

/* add_keyed - nsig signatures with h=h, each by its own made-up key (see rsa_record) */
static void add_keyed(struct wmsg *w, unsigned nsig, int bits, bool e_big, const char *h)
{
    for (unsigned i = 0; i < nsig; i++) {
        char sel[32], *rec = rsa_record(bits, e_big, i);

        snprintf(sel, sizeof(sel), "%s%u", e_big ? "ebig" : "kmax", i);
        buf_printf(&w->keys, "%s._domainkey.example.test\t%s\n", sel, rec);
        add_sig_by(w, h, "relaxed/relaxed", "", sel, (size_t)bits / 8, i);
        free(rec);
    }
}

/* text - n bytes of words with double spaces and folds (relaxed canonicalization has work) */
static char *text(size_t n, unsigned seed)
{
    char *t = xmalloc(n + 1);

    for (size_t k = 0; k < n; k++)
        t[k] = (char)('a' + (k * 31 + seed) % 26);
    for (size_t k = 5; k + 2 < n; k += 9)
        t[k] = t[k + 1] = ' ';
    for (size_t k = 70; k + 2 < n; k += 75) {
        t[k] = '\n';
        t[k + 1] = '\t';
    }
    t[n] = '\0';
    return t;
}

/* build_report - 5 x h= of 50,000 names ("from" then "x"), 170,000 fields "x" */
static void build_report(struct wmsg *w)
{
    struct buf h = BUF_INIT;

    buf_puts(&h, "from");
    for (int k = 1; k < 50000; k++)
        buf_puts(&h, ":x");
    for (unsigned i = 0; i < 5; i++)
        add_sig(w, buf_cstr(&h), "relaxed/relaxed", "", i);
    add(w, "From", "a@example.test");
    for (int k = 0; k < 170000; k++)
        add(w, "x", "");
    buf_free(&h);
}

/*
 * build_bound - 5 x h= of 512 names absent from the header (by rsa2048,
 * or each by its key of DKIM_RSA_BITS_MAX bits), 300,000 fields "y"
 */
static void build_bound(struct wmsg *w, bool big_keys)
{
    struct buf h = BUF_INIT;

    buf_puts(&h, "from");
    for (int k = 1; k < 512; k++)
        buf_puts(&h, ":z");
    if (big_keys)
        add_keyed(w, 5, DKIM_RSA_BITS_MAX, false, buf_cstr(&h));
    for (unsigned i = 0; i < 5 && !big_keys; i++)
        add_sig(w, buf_cstr(&h), "relaxed/relaxed", "", i);
    add(w, "From", "a@example.test");
    for (int k = 0; k < 300000; k++)
        add(w, "y", "");
    buf_free(&h);
}

/* build_hashed - nsig signatures each signing all nf fields of flen bytes (and From) */
static void build_hashed(struct wmsg *w, unsigned nsig, int nf, size_t flen)
{
    struct buf h = BUF_INIT;

    buf_puts(&h, "from");
    for (int k = 0; k < nf; k++)
        buf_printf(&h, ":h%03d", k);
    for (unsigned i = 0; i < nsig; i++)
        add_sig(w, buf_cstr(&h), i % 2 ? "simple/relaxed" : "relaxed/relaxed", "", i);
    add(w, "From", "a@example.test");
    for (int k = 0; k < nf; k++) {
        char name[16], *t = text(flen, (unsigned)k);

        snprintf(name, sizeof(name), "H%03d", k);
        add(w, name, t);
        free(t);
    }
    buf_free(&h);
}

/* build_lengths - 5 signatures, l=1000..1004, relaxed and simple bodies, 4 MB body */
static void build_lengths(struct wmsg *w)
{
    char *t = text(70, 1);

    for (unsigned i = 0; i < 5; i++) {
        char extra[32];

        snprintf(extra, sizeof(extra), "l=%u; ", 1000 + i);
        add_sig(w, "from:subject", i % 2 ? "relaxed/simple" : "relaxed/relaxed", extra, i);
    }
    add(w, "From", "a@example.test");
    add(w, "Subject", "lengths");
    for (char *p = t; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    while (w->body.len < 4 * 1000 * 1000) {
        buf_puts(&w->body, t);
        buf_puts(&w->body, "  \r\n");
    }
    free(t);
}

/* build_many - 30,000 DKIM-Signature fields that are no signatures */
static void build_many(struct wmsg *w)
{
    add(w, "From", "a@example.test");
    for (int k = 0; k < 30000; k++)
        add(w, "DKIM-Signature", "v=1; d=example.test");
}

/* build - case number k */
static void build(size_t k, struct wmsg *w)
{
    memset(w, 0, sizeof(*w));
    switch (k) {
    case 0:
        build_report(w);
        break;
    case 1:
        build_bound(w, false);
        break;
    case 2:
        build_hashed(w, 5, 500, 1900);
        break;
    case 3:
        build_hashed(w, 50, 400, 2000);
        break;
    case 4:
        build_lengths(w);
        break;
    case 5:
        build_many(w);
        break;
    case 6:
    case 7:
        add_keyed(w, k == 6 ? 5 : 50, 3072, true, "from");
        add(w, "From", "a@example.test");
        break;
    case 8:
    case 9:
        add_keyed(w, k == 8 ? 5 : 50, DKIM_RSA_BITS_MAX, false, "from");
        add(w, "From", "a@example.test");
        break;
    default:
        build_bound(w, true);
        break;
    }
    if (w->body.len == 0)
        buf_puts(&w->body, "body\r\n");
}

/* The key records, "NAME<TAB>TXT" lines of keys.txt. */
struct keys {
    char *text;
};

/* lookup - the dkimv lookup function: the records of keys.txt named name */
static struct dns_result *lookup(void *arg, const char *name)
{
    const struct keys *k = arg;
    struct dns_result *r = xcalloc(1, sizeof(*r));
    size_t nlen = strlen(name);

    r->status = DNS_NXDOMAIN;
    for (const char *l = k->text; l && *l;) {
        const char *nl = strchr(l, '\n'), *end = nl ? nl : l + strlen(l);

        if ((size_t)(end - l) > nlen && strncmp(l, name, nlen) == 0 && l[nlen] == '\t') {
            r->txt = xrealloc(r->txt, (r->n + 1) * sizeof(*r->txt));
            r->txt_len = xrealloc(r->txt_len, (r->n + 1) * sizeof(*r->txt_len));
            r->txt[r->n] = xstrndup(l + nlen + 1, (size_t)(end - l - (ptrdiff_t)nlen - 1));
            r->txt_len[r->n] = strlen(r->txt[r->n]);
            r->n++;
            r->status = DNS_OK;
        }
        l = nl ? nl + 1 : NULL;
    }
    return r;
}

/* read_file - a whole file; NULL if it cannot be read; caller frees */
static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;

    if (fp == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_add(&b, chunk, n);
    fclose(fp);
    return b.data ? buf_steal(&b) : xstrdup("");
}

/*
 * dkim_worst_cpu_ms - this process's user CPU time in milliseconds. Only
 * user time: page faults and reclaim on a machine short of memory are
 * system time, and they made the same signature 10 x dearer under load.
 */
double dkim_worst_cpu_ms(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3;
}

/* dkim_worst_verify - build and verify one case; its CPU milliseconds */
double dkim_worst_verify(const struct dkim_worst_case *c, const char *keys_txt, char **got)
{
    struct keys k = {read_file(keys_txt)};
    char err[128];
    struct dkimv *v = dkimv_open(NULL, c->max_sigs, 1024, err, sizeof(err));
    struct dkimv_msg *m;
    const struct dkimv_results *r;
    struct buf sum = BUF_INIT;
    struct wmsg w;
    double t0, t1;

    if (v == NULL || k.text == NULL)
        bug("dkim_worst: cannot set up (%s)", keys_txt);
    dkimv_set_lookup(v, lookup, &k);
    build((size_t)(c - dkim_worst_cases), &w);
    if (w.keys.len > 0) { /* the made-up keys after those of keys.txt */
        size_t tl = strlen(k.text);
        char *all = xasprintf("%s%s%s", k.text, tl && k.text[tl - 1] != '\n' ? "\n" : "",
                              buf_cstr(&w.keys));

        free(k.text);
        k.text = all;
    }
    t0 = dkim_worst_cpu_ms();
    m = dkimv_begin(v, "worst", 0);
    for (size_t i = 0; i < w.n; i++)
        dkimv_header(m, w.name[i], w.value[i]);
    dkimv_eoh(m);
    for (size_t off = 0; off < w.body.len; off += 65536) /* Postfix's chunks */
        dkimv_body(m, (const unsigned char *)w.body.data + off,
                   w.body.len - off < 65536 ? w.body.len - off : 65536);
    r = dkimv_eom(m);
    for (size_t i = 0; i < r->n; i++)
        buf_printf(&sum, "%s%s %s", i ? "|" : "", dkimv_result_name(r->sig[i].result),
                   r->sig[i].comment);
    dkimv_end(m);
    t1 = dkim_worst_cpu_ms();
    *got = sum.data ? buf_steal(&sum) : xstrdup("");
    dkimv_close(v);
    wmsg_free(&w);
    free(k.text);
    return t1 - t0;
}

/* h_names - the number of names in the h= of a DKIM-Signature value */
static size_t h_names(const char *value)
{
    const char *h = strstr(value, "h=");
    size_t n = 1;

    if (h == NULL)
        return 0;
    for (const char *p = h; *p && *p != ';'; p++)
        n += *p == ':';
    return n;
}

/* dkim_worst_sign - sign a message of nto To: and nto Cc: fields once; its CPU milliseconds */
double dkim_worst_sign(size_t nto, const char *key_pem, size_t *names)
{
    char err[256];
    struct dkims *s = dkims_open(err, sizeof(err));
    struct dkims_key *key =
        dkims_key_load("example.test", "rsa2048", "rsa-sha256", key_pem, err, sizeof(err));
    const struct dkims_sig *sigs;
    struct dkims_msg *m;
    struct wmsg w = {0};
    double t0, t1;

    if (s == NULL || key == NULL)
        bug("dkim_worst: cannot load %s: %s", key_pem, err);
    add(&w, "From", "a@example.test");
    for (size_t i = 0; i < nto; i++) { /* To and Cc in turn: each name's walk met the other */
        char to[64];

        snprintf(to, sizeof(to), "rcpt%06zu@example.org", i);
        add(&w, "To", to);
        add(&w, "Cc", to);
    }
    add(&w, "Subject", "many recipients");
    t0 = dkim_worst_cpu_ms();
    m = dkims_begin(s, &key, 1, 0);
    for (size_t i = 0; i < w.n; i++)
        dkims_header(m, w.name[i], w.value[i]);
    dkims_eoh(m);
    dkims_body(m, (const unsigned char *)"hi\r\n", 4);
    *names = dkims_eom(m, &sigs) == 1 ? h_names(sigs[0].value) : 0;
    dkims_end(m);
    t1 = dkim_worst_cpu_ms();
    dkims_key_free(key);
    dkims_close(s);
    wmsg_free(&w);
    return t1 - t0;
}
