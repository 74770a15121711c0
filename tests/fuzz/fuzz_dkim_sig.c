/*
 * fuzz_dkim_sig.c - libFuzzer target for what a sender or a DNS server
 * writes into DKIM tag-lists: dkim_tags_parse() and dkim_base64_decode()
 * (lib/dkim_tags.h), dkim_sig_parse() and dkim_keyrec_parse() for each
 * algorithm (auth/dkim_sig.h).
 *
 * Input: the whole of it is one tag-list (any bytes, NULs included),
 * handed over in a buffer of exactly its size; its first NUL-terminated
 * string, and each parsed tag value, are also decoded as base64.
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - a refused tag-list is empty; an accepted one has at most
 *     DKIM_TAGS_MAX tags with distinct names of the tag-name grammar,
 *     values of VALCHAR only, dkim_tags_get() finding each; written out
 *     again (with FWS and CRLF folds around every token) it parses to
 *     the same tags;
 *   - base64 is accepted exactly when a plain reading of RFC 4648 (with
 *     padding optional, white space skipped) says so; the output has the length the input
 *     implies; a full-quantum input re-encodes to itself, and the encoding
 *     of any bytes decodes back to them, with or without its padding;
 *   - dkim_sig_parse() gives no reason or one of those in dkim_sig.h,
 *     "signature syntax error" when the tag-list is refused; a usable
 *     signature has v=1, non-empty lower-case d= and s=, 1 to
 *     DKIM_SIG_H_MAX non-empty lower-case h= names with From among them,
 *     i= within d=, x= not before now, t= not beyond now +
 *     DKIM_CLOCK_DRIFT, l= exactly when the list has one, b= and bh= no
 *     longer than the input;
 *   - dkim_keyrec_parse() gives one of its statuses, a documented reason
 *     unless OK, a revoked key only with p= empty, an OK key with some
 *     bytes and of the signature's type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dkim_sig.h"
#include "dkim_tags.h"
#include "reader.h"
#include "util.h"

#define NOW 1700000000LL

/* name_ok - the tag-name grammar: ALPHA *(ALPHA / DIGIT / "_") */
static bool name_ok(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 1; s[i]; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* b64_alpha - a character of the base64 alphabet */
static bool b64_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* check_base64 - dkim_base64_decode() of text against a plain reading of RFC 4648 */
static void check_base64(const char *text)
{
    struct buf stripped = BUF_INIT, out = BUF_INIT;
    const char *s;
    size_t len, pad = 0, l;
    bool valid = true, ok;

    /* the decoder skips white space: the reading is of the text without it */
    for (const char *p = text; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            buf_putc(&stripped, *p);
    s = buf_cstr(&stripped);
    len = strlen(s);

    while (pad < len && s[len - 1 - pad] == '=')
        pad++;
    l = len - pad;
    for (size_t i = 0; i < l && valid; i++)
        valid = b64_alpha(s[i]);
    valid = valid && pad <= 2 && l % 4 != 1 && (pad == 0 || (l + pad) % 4 == 0);
    buf_puts(&out, "x"); /* appended after what is there */
    ok = dkim_base64_decode(text, &out);
    fuzz_check(ok == valid);
    if (ok) {
        size_t n = out.len - 1;

        fuzz_check(out.data[0] == 'x');
        fuzz_check(n == l / 4 * 3 + (l % 4 == 0 ? 0 : l % 4 - 1));
        if (l % 4 == 0 && n > 0 && n <= 3072) {
            unsigned char *enc = xmalloc(4 * ((n + 2) / 3) + 1);

            EVP_EncodeBlock(enc, (const unsigned char *)out.data + 1, (int)n);
            fuzz_check(strcmp((const char *)enc, s) == 0);
            free(enc);
        }
    }
    buf_free(&out);
    buf_free(&stripped);
}

/* check_encoded - bytes p[0..n) encoded (with and without padding) decode back to them */
static void check_encoded(const unsigned char *p, size_t n)
{
    unsigned char enc[4 * 16 + 1];
    struct buf out = BUF_INIT;
    size_t elen;

    if (n > 48)
        n = 48;
    elen = (size_t)EVP_EncodeBlock(enc, p, (int)n);
    fuzz_check(dkim_base64_decode((const char *)enc, &out));
    fuzz_check(out.len == n && (n == 0 || memcmp(out.data, p, n) == 0));
    buf_reset(&out);
    while (elen > 0 && enc[elen - 1] == '=')
        enc[--elen] = '\0';
    fuzz_check(dkim_base64_decode((const char *)enc, &out));
    fuzz_check(out.len == n && (n == 0 || memcmp(out.data, p, n) == 0));
    buf_free(&out);
}

/* check_tags - dkim_tags_parse() of data[0..size); true if it was accepted */
static bool check_tags(const uint8_t *data, size_t size)
{
    struct dkim_tags tl = {0}, again = {0};
    struct buf text = BUF_INIT;
    char *copy = xmalloc(size ? size : 1); /* exactly its size: ASan sees an overread */
    size_t sum = 0;
    bool ok;

    memcpy(copy, data, size);
    ok = dkim_tags_parse(&tl, copy, size);
    free(copy);
    if (!ok) {
        fuzz_check(tl.n == 0);
        dkim_tags_free(&tl);
        return false;
    }
    fuzz_check(tl.n <= DKIM_TAGS_MAX);
    for (size_t i = 0; i < tl.n; i++) {
        const char *name = tl.text.data + tl.t[i].name, *value = tl.text.data + tl.t[i].value;

        fuzz_check(name_ok(name));
        for (const char *v = value; *v; v++)
            fuzz_check(*v >= 0x21 && *v <= 0x7e && *v != ';');
        fuzz_check(dkim_tags_get(&tl, name) == value);
        for (size_t j = 0; j < i; j++)
            fuzz_check(strcmp(name, tl.text.data + tl.t[j].name) != 0);
        sum += strlen(name) + 1 + strlen(value);
        check_base64(value);
        /* written out again, with FWS around every token */
        buf_printf(&text, "%s\r\n\t%s = %s\r\n ;%s", i % 2 ? " " : "", name, value,
                   i % 3 ? "" : ";");
    }
    fuzz_check(sum <= size);
    fuzz_check(dkim_tags_get(&tl, "") == NULL);
    fuzz_check(dkim_tags_parse(&again, buf_cstr(&text), text.len));
    fuzz_check(again.n == tl.n);
    for (size_t i = 0; i < tl.n; i++) {
        fuzz_check(strcmp(again.text.data + again.t[i].name, tl.text.data + tl.t[i].name) == 0);
        fuzz_check(strcmp(again.text.data + again.t[i].value, tl.text.data + tl.t[i].value) == 0);
    }
    dkim_tags_free(&again);
    dkim_tags_free(&tl);
    buf_free(&text);
    return true;
}

/* lower - no upper-case ASCII in s */
static bool lower(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return false;
    return true;
}

/* within - sub is dom or below it */
static bool within(const char *sub, const char *dom)
{
    size_t ls = strlen(sub), ld = strlen(dom);

    return strcmp(sub, dom) == 0 ||
           (ls > ld && sub[ls - ld - 1] == '.' && strcmp(sub + ls - ld, dom) == 0);
}

/* check_sig_tags - a usable signature against its own tag-list */
static void check_sig_tags(const struct dkim_sig *sig, const uint8_t *data, size_t size)
{
    struct dkim_tags tl = {0};
    const char *t, *x;

    fuzz_check(dkim_tags_parse(&tl, (const char *)data, size));
    fuzz_check(strcmp(dkim_tags_get(&tl, "v"), "1") == 0);
    fuzz_check(sig->has_l == (dkim_tags_get(&tl, "l") != NULL));
    t = dkim_tags_get(&tl, "t");
    x = dkim_tags_get(&tl, "x");
    fuzz_check(t == NULL || strtoll(t, NULL, 10) <= NOW + DKIM_CLOCK_DRIFT);
    fuzz_check(x == NULL || strtoll(x, NULL, 10) >= NOW);
    dkim_tags_free(&tl);
}

/* check_sig - dkim_sig_parse() of data[0..size) */
static void check_sig(const uint8_t *data, size_t size, bool tags_ok)
{
    static const char *const reasons[] = {
        "signature syntax error",  "signature version not 1",  "signature missing a required tag",
        "unknown algorithm",       "unknown canonicalization", "unknown query method",
        "From: not signed",        "i= not within d=",         "signature expired",
        "signature in the future", DKIM_SIG_TOO_MANY_H,
    };
    struct dkim_sig sig = {0};
    char *copy = xmalloc(size ? size : 1);
    bool known = false, from = false;

    memcpy(copy, data, size);
    dkim_sig_parse(&sig, copy, size, NOW);
    free(copy);
    for (size_t r = 0; r < sizeof(reasons) / sizeof(reasons[0]) && sig.error; r++)
        known = known || strcmp(sig.error, reasons[r]) == 0;
    fuzz_check(sig.error == NULL || known);
    fuzz_check(tags_ok || (sig.error && strcmp(sig.error, "signature syntax error") == 0));
    fuzz_check(sig.alg == DKIM_ALG_RSA_SHA256 || sig.alg == DKIM_ALG_ED25519_SHA256 ||
               sig.alg == DKIM_ALG_RSA_SHA1);
    if (sig.error == NULL) {
        fuzz_check(sig.domain && sig.domain[0] && lower(sig.domain));
        fuzz_check(sig.selector && sig.selector[0] && lower(sig.selector));
        fuzz_check(sig.nh >= 1 && sig.nh <= DKIM_SIG_H_MAX);
        for (size_t k = 0; k < sig.nh; k++) {
            fuzz_check(sig.h[k][0] && lower(sig.h[k]) && strchr(sig.h[k], ':') == NULL);
            from = from || strcmp(sig.h[k], "from") == 0;
        }
        fuzz_check(from);
        fuzz_check(sig.identity_domain == NULL || within(sig.identity_domain, sig.domain));
        fuzz_check(sig.bh.len <= size && sig.b.len <= size);
        check_sig_tags(&sig, data, size);
    }
    dkim_sig_free(&sig);
    fuzz_check(sig.domain == NULL && sig.h == NULL && sig.nh == 0);
}

/* check_keyrec - dkim_keyrec_parse() of data[0..size) for a signature of alg */
static void check_keyrec(const uint8_t *data, size_t size, bool tags_ok, enum dkim_alg alg)
{
    static const char *const reasons[] = {
        "key record syntax error",   "unsupported key version", "key unusable for the algorithm",
        "key does not allow sha256", "key not for email",
    };
    struct dkim_keyrec k = {0};
    const char *why = NULL;
    char *copy = xmalloc(size ? size : 1);
    enum dkim_keyrec_status st;
    bool known = false;

    memcpy(copy, data, size);
    st = dkim_keyrec_parse(&k, copy, size, alg, &why);
    free(copy);
    switch (st) {
    case DKIM_KEYREC_OK:
        fuzz_check(tags_ok);
        fuzz_check(k.p.len >= 1 && k.p.len <= size);
        fuzz_check(k.ed25519 == (alg == DKIM_ALG_ED25519_SHA256));
        break;
    case DKIM_KEYREC_REVOKED:
        fuzz_check(tags_ok);
        fuzz_check(why && strcmp(why, "key revoked") == 0);
        fuzz_check(k.p.len == 0);
        fuzz_check(k.ed25519 == (alg == DKIM_ALG_ED25519_SHA256));
        break;
    case DKIM_KEYREC_BAD:
        fuzz_check(why != NULL);
        for (size_t r = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++)
            known = known || strcmp(why, reasons[r]) == 0;
        fuzz_check(known);
        fuzz_check(tags_ok || strcmp(why, "key record syntax error") == 0);
        break;
    default:
        fuzz_fail(__FILE__, __LINE__, "unknown key record status");
    }
    dkim_keyrec_free(&k);
}

/* LLVMFuzzerTestOneInput - one tag-list, read every way */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    bool tags_ok = check_tags(data, size);

    check_base64(s);
    check_encoded(data, size);
    check_sig(data, size, tags_ok);
    check_keyrec(data, size, tags_ok, DKIM_ALG_RSA_SHA256);
    check_keyrec(data, size, tags_ok, DKIM_ALG_ED25519_SHA256);
    check_keyrec(data, size, tags_ok, DKIM_ALG_RSA_SHA1);
    free(s);
    return 0;
}
