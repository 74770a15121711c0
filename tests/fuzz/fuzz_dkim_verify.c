/*
 * fuzz_dkim_verify.c - libFuzzer target for the whole DKIM verifier flow
 * of auth/dkim_verify.h on arbitrary messages: dkimv_open() without a
 * resolver, dkimv_set_lookup() answering the key lookups, dkimv_begin(),
 * dkimv_header() for each field, dkimv_eoh(), dkimv_body() in chunks,
 * dkimv_eom(), dkimv_end(). No DNS.
 *
 * Input, read front to back:
 *   flags byte   bit 0 leadspc (DKIMV_LEADSPC); bits 1-3 max_sigs (1..5);
 *                bit 4 body as it is (else a bare LF becomes CRLF, as
 *                Postfix hands it over); bits 5-7 body chunk size (1, 2,
 *                3, 7, 64, 100, 1000 bytes, or the whole body at once)
 *   keys byte    bits 0-2 how key lookups are answered: 0 from a fixed
 *                table of the tests/data/dkim/keys.txt records (NXDOMAIN
 *                for other names), 1 every name with the records below,
 *                2 the table and the records below for other names,
 *                3 NXDOMAIN, 4 NODATA, 5 timeout, 6 SERVFAIL, 7 REFUSED;
 *                bits 3-7 modulo 5 the number of records below (0..4;
 *                read only for 1 and 2, where none is NODATA)
 *   records      that many TXT records, each ending at a NUL byte
 *   message      the rest: header fields up to an empty line (or a line
 *                that is no field), then the body; lines end in LF or
 *                CRLF. Fields are cut as a milter gets them: the name up
 *                to the colon (white space before it dropped, as Postfix
 *                does), the value after it with one leading space
 *                removed unless leadspc, folds as "\n" + WSP.
 * The seeds are tests/data/dkim messages under several of these modes
 * (the key served by the table or as a record of the input).
 *
 * The message is verified twice with one verifier: the body in chunks of
 * the chosen size with an explicit dkimv_eoh(), then the whole body at
 * once (1-byte chunks when the chosen size is the whole body) leaving
 * dkimv_eoh() to dkimv_body() and dkimv_eom(). Besides "no crash, leak,
 * hang or sanitizer report", it checks:
 *   - the two verifications together stay within a CPU budget linear in
 *     the input's size (CPU_BASE_MS, CPU_PER_KB_MS): a quadratic path is
 *     a finding, not just a slow run (the worst-* seeds are the shapes:
 *     h= of 30,000 names over 12,000 fields, h= at its bound of 512
 *     absent names over 30,000 fields, 512 oversigned From over 20,000
 *     From fields, 3,000 DKIM-Signature fields, 5 distinct l= in both
 *     body canonicalizations);
 *   - results n = min(DKIM-Signature fields, max_sigs), skipped = the
 *     rest; dkimv_eom() again returns the same results; at most one key
 *     lookup per result, each for a "sel._domainkey.dom" without upper
 *     case;
 *   - every result is one of the six words (never policy: not produced
 *     today); comment, domain, selector, algorithm, b are set;
 *   - a comment is a reason documented for that result (dkim_verify.h,
 *     dkim_check.c, dkim_dns.c, dkim_sig.h, dkim_pkey.h), then "l=N"
 *     exactly when l= is a number, " partial body" exactly when
 *     partial_body, "; ignored for DMARC" exactly when dmarc_ignore,
 *     which is exactly a pass with a partial body, then "testing key";
 *     DNS failures give the reason of that failure, key reasons come
 *     only with a key, and temperror only from a failed lookup (OpenSSL
 *     does not fail here);
 *   - a pass has an rsa-sha256 key of at least MIN_KEY_BITS bits or an
 *     Ed25519 key of 256; "key too short" names the key's bits;
 *   - both feeds give the same results, field by field (when both began
 *     in the same second: x= and t= are judged against the clock).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "dkim_verify.h"
#include "dns.h"
#include "reader.h"
#include "util.h"

#define MAX_RECORDS  4
#define MIN_KEY_BITS 1024 /* the dkim_min_key_bits default */
#define CHUNK_ALL    SIZE_MAX
/*
 * The CPU budget of one input (STYLE habit 15), both verifications
 * together: CPU_BASE_MS + CPU_PER_KB_MS per KB of input. The verifier is
 * near-linear, taking here (ASan, UBSan, coverage) well under a tenth of
 * that even for the largest seeds, 1-byte body chunks included; a
 * quadratic path (h= names x fields, as before h= was bounded and the
 * header indexed) takes seconds on the worst-* seeds and fails here.
 */
#define CPU_BASE_MS   250.0
#define CPU_PER_KB_MS 2.0

/* The key records of tests/data/dkim/keys.txt that the fixed table serves. */
#define KEY_RSA2048                                                                                \
    "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAweg0Zn7M+ab5E8XLer9C8c"         \
    "Ae817py3EgEcB+tUJ1ntm4elTYc6Z4QhCfAkvNxYnfyJ8n9tyMoRuRtM6fW0EIalmjHA3x+YuGzBxqMI501U"         \
    "SsUieN+o/EliQnJ9LUG4hhegYwTAgf7VlcZ212kDO7rYRq5dTWR/9zEv1KIDn+UsCSY88RwLBTrpjrLO+BIm"         \
    "rSwmd1eQmiDs7f1CWIq5CSK09vRjHZy4+pgTfrip/tUUu7j/6XGgsynTwzMtz32rjPLduAkzPMxclrtHVv8b"         \
    "bCg2FrQJPK39doJorqmSnC005SYU6qC6HiDuubSYi45GrqRheBquSlvzlCmlDHxCxi3QIDAQAB"
#define KEY_ED25519 "v=DKIM1; k=ed25519; p=9tfqwhDtyP+hwjsugd7X3Gdgy+DB1QNSvq7djL5IEBY="
#define KEY_RSA512                                                                                 \
    "v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKSz/U2cDU3c10rE2bupILxv0cI36HwEZj"         \
    "mdTiZ//l/sLfboLmVfsIT49HE+4k6xyDdH3K0vVls8zlnxsqDqg6MCAwEAAQ=="
#define KEY_FOOTBALL_RSA                                                                           \
    "v=DKIM1; g=*; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3i"         \
    "dY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+P"         \
    "L6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
#define KEY_FOOTBALL_ED "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static const struct {
    const char *name, *txt;
} key_table[] = {
    {"rsa2048._domainkey.example.test", KEY_RSA2048},
    {"wrong._domainkey.example.test", KEY_RSA2048}, /* signed with another key */
    {"ed25519._domainkey.example.test", KEY_ED25519},
    {"edkey._domainkey.example.test", KEY_ED25519},
    {"multi._domainkey.example.test", KEY_RSA2048},
    {"multi._domainkey.example.test", KEY_ED25519},
    {"rsa512._domainkey.example.test", KEY_RSA512},
    {"revoked._domainkey.example.test", "v=DKIM1; k=rsa; p="},
    {"garbage._domainkey.example.test", "this is not a key record"},
    {"brisbane._domainkey.football.example.com", KEY_FOOTBALL_ED},
    {"test._domainkey.football.example.com", KEY_FOOTBALL_RSA},
};

/* How key lookups are answered (the keys byte). */
enum key_mode {
    KEYS_TABLE,
    KEYS_INPUT,
    KEYS_BOTH,
    KEYS_NXDOMAIN,
    KEYS_NODATA,
    KEYS_TIMEOUT,
    KEYS_SERVFAIL,
    KEYS_REFUSED,
};

#define M(mode) (1u << (mode))
#define KEYED   (M(KEYS_TABLE) | M(KEYS_INPUT) | M(KEYS_BOTH)) /* a key record may come */
#define ANY     0xffu

struct keys {
    enum key_mode mode;
    char *rec[MAX_RECORDS]; /* the input's records */
    size_t nrec;
    unsigned calls; /* lookups for the message being verified */
};

/* One header field as the milter hands it over. */
struct field {
    char *name, *value;
};

struct message {
    struct field *f;
    size_t nf, fcap;
    size_t nsig;     /* DKIM-Signature fields among them */
    struct buf body; /* as dkimv_body() gets it */
};

/* What a comment may say before "l=" and "testing key", by result and lookup mode. */
static const struct {
    enum dkimv_result result;
    const char *why;
    unsigned modes;
} reasons[] = {
    {DKIMV_PASS, "", KEYED},
    {DKIMV_FAIL, "bad signature", KEYED},
    {DKIMV_FAIL, "body hash mismatch", KEYED},
    {DKIMV_FAIL, "key revoked", KEYED},
    {DKIMV_FAIL, "l= longer than the body", KEYED},
    {DKIMV_FAIL, "i= subdomain refused by the key (t=s)", KEYED},
    {DKIMV_FAIL, "rsa-sha1 not accepted", ANY},
    {DKIMV_NEUTRAL, "signature syntax error", ANY},
    {DKIMV_NEUTRAL, "signature version not 1", ANY},
    {DKIMV_NEUTRAL, "signature missing a required tag", ANY},
    {DKIMV_NEUTRAL, "unknown algorithm", ANY},
    {DKIMV_NEUTRAL, "unknown canonicalization", ANY},
    {DKIMV_NEUTRAL, "unknown query method", ANY},
    {DKIMV_NEUTRAL, "From: not signed", ANY},
    {DKIMV_NEUTRAL, "i= not within d=", ANY},
    {DKIMV_NEUTRAL, "signature expired", ANY},
    {DKIMV_NEUTRAL, "signature in the future", ANY},
    {DKIMV_TEMPERROR, "key lookup timed out", M(KEYS_TIMEOUT)},
    {DKIMV_TEMPERROR, "key lookup failed (SERVFAIL)", M(KEYS_SERVFAIL)},
    {DKIMV_PERMERROR, "key lookup failed", M(KEYS_REFUSED)},
    {DKIMV_PERMERROR, "no key for signature", KEYED | M(KEYS_NXDOMAIN) | M(KEYS_NODATA)},
    {DKIMV_PERMERROR, "several key records", KEYED},
    {DKIMV_PERMERROR, "key record too long", M(KEYS_INPUT) | M(KEYS_BOTH)},
    {DKIMV_PERMERROR, "key record syntax error", KEYED},
    {DKIMV_PERMERROR, "unsupported key version", KEYED},
    {DKIMV_PERMERROR, "key unusable for the algorithm", KEYED},
    {DKIMV_PERMERROR, "RSA key over 4096 bits", KEYED}, /* dkim_pkey.h */
    {DKIMV_PERMERROR, "RSA key exponent too large", KEYED},
    {DKIMV_PERMERROR, "RSA key exponent invalid", KEYED},
    {DKIMV_PERMERROR, "RSA key modulus invalid", KEYED},
    {DKIMV_PERMERROR, "key does not allow sha256", KEYED},
    {DKIMV_PERMERROR, "key not for email", KEYED},
    {DKIMV_PERMERROR, "too many h= names", ANY},
};

/* add_txt - append a copy of s to a TXT answer */
static void add_txt(struct dns_result *r, const char *s)
{
    r->txt = xrealloc(r->txt, (r->n + 1) * sizeof(*r->txt));
    r->txt_len = xrealloc(r->txt_len, (r->n + 1) * sizeof(*r->txt_len));
    r->txt[r->n] = xstrdup(s);
    r->txt_len[r->n++] = strlen(s);
}

/* answer - an empty answer of a status; the verifier frees it */
static struct dns_result *answer(enum dns_status status, int rcode)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));

    r->status = status;
    r->rcode = rcode;
    return r;
}

/* key_lookup - the dkimv lookup function: the table, the input's records, or a failure */
static struct dns_result *key_lookup(void *arg, const char *name)
{
    struct keys *k = arg;
    struct dns_result *r;

    k->calls++;
    fuzz_check(strstr(name, "._domainkey.") != NULL); /* s= and d= syntax is not checked */
    for (const char *p = name; *p; p++)
        fuzz_check(!(*p >= 'A' && *p <= 'Z'));
    switch (k->mode) {
    case KEYS_NXDOMAIN:
        return answer(DNS_NXDOMAIN, 3);
    case KEYS_NODATA:
        return answer(DNS_NODATA, 0);
    case KEYS_TIMEOUT:
        return answer(DNS_TEMPFAIL, -1);
    case KEYS_SERVFAIL:
        return answer(DNS_TEMPFAIL, 2);
    case KEYS_REFUSED:
        return answer(DNS_PERMFAIL, 5);
    default:
        break;
    }
    r = answer(DNS_OK, 0);
    if (k->mode != KEYS_INPUT) {
        for (size_t i = 0; i < sizeof(key_table) / sizeof(key_table[0]); i++)
            if (strcmp(key_table[i].name, name) == 0)
                add_txt(r, key_table[i].txt);
        if (r->n > 0)
            return r;
        if (k->mode == KEYS_TABLE) {
            r->status = DNS_NXDOMAIN;
            r->rcode = 3;
            return r;
        }
    }
    for (size_t i = 0; i < k->nrec; i++)
        add_txt(r, k->rec[i]);
    if (r->n == 0)
        r->status = DNS_NODATA;
    return r;
}

/* add_field - the field in text (first line "Name:value", folds "\n" + WSP) cut as a milter gets it
 */
static void add_field(struct message *msg, struct buf *text, bool leadspc)
{
    const char *t = text->data, *colon, *v;
    size_t nlen;
    struct field *f;

    if (text->len == 0)
        return;
    colon = memchr(t, ':', text->len);
    nlen = (size_t)(colon - t);
    while (nlen > 0 && (t[nlen - 1] == ' ' || t[nlen - 1] == '\t'))
        nlen--; /* Postfix drops white space before the colon */
    v = colon + 1;
    if (!leadspc && v < t + text->len && *v == ' ')
        v++;
    if (msg->nf == msg->fcap) { /* doubling: the worst-* seeds have 30,000 fields */
        msg->fcap = msg->fcap ? 2 * msg->fcap : 16;
        msg->f = xrealloc(msg->f, msg->fcap * sizeof(*msg->f));
    }
    f = &msg->f[msg->nf++];
    f->name = xstrndup(t, nlen); /* a NUL byte ends a string, as it would for libmilter */
    f->value = xstrndup(v, (size_t)(t + text->len - v));
    if (strcasecmp(f->name, "DKIM-Signature") == 0)
        msg->nsig++;
    buf_reset(text);
}

/* message_parse - p[0..len) into header fields and a body */
static void message_parse(struct message *msg, const uint8_t *p, size_t len, bool leadspc, bool raw)
{
    struct buf text = BUF_INIT;
    size_t i = 0;

    memset(msg, 0, sizeof(*msg));
    while (i < len) {
        const char *line = (const char *)p + i, *nl = memchr(line, '\n', len - i);
        size_t l = nl ? (size_t)(nl - line) : len - i, next = i + l + (nl != NULL);

        if (l > 0 && line[l - 1] == '\r')
            l--;
        if (l == 0) { /* the empty line: the body follows it */
            i = next;
            break;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            if (text.len == 0)
                break; /* a fold of no field: the body starts here */
            buf_putc(&text, '\n');
        } else {
            if (line[0] == ':' || memchr(line, ':', l) == NULL)
                break; /* no field: the body starts here */
            add_field(msg, &text, leadspc);
        }
        buf_add(&text, line, l);
        i = next;
    }
    add_field(msg, &text, leadspc);
    buf_free(&text);
    for (; i < len; i++) {
        if (!raw && p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            buf_putc(&msg->body, '\r');
        buf_putc(&msg->body, (char)p[i]);
    }
}

/* message_free - release what message_parse() made */
static void message_free(struct message *msg)
{
    for (size_t i = 0; i < msg->nf; i++) {
        free(msg->f[i].name);
        free(msg->f[i].value);
    }
    free(msg->f);
    buf_free(&msg->body);
}

/* strip_suffix - remove suffix from the end of s (length *len); true if it was there */
static bool strip_suffix(const char *s, size_t *len, const char *suffix)
{
    size_t sl = strlen(suffix);

    if (*len < sl || memcmp(s + *len - sl, suffix, sl) != 0)
        return false;
    *len -= sl;
    return true;
}

/* strip_sep - remove the "; " between a reason and what follows it, if any */
static void strip_sep(const char *s, size_t *len)
{
    if (*len > 0)
        fuzz_check(strip_suffix(s, len, "; "));
}

/*
 * strip_length - remove "l=N", "l=N partial body" (exactly when
 * partial_body) or "l=N partial body; ignored for DMARC" (exactly when
 * dmarc_ignore: a pass with a partial body, the default) from the end of s
 */
static void strip_length(const struct dkimv_sig *sig, const char *s, size_t *len)
{
    char want[48];

    fuzz_check(sig->dmarc_ignore == (sig->partial_body && sig->result == DKIMV_PASS));
    fuzz_check(strip_suffix(s, len, "; " DKIMV_NOT_FOR_DMARC) == sig->dmarc_ignore);
    fuzz_check(strip_suffix(s, len, " partial body") == sig->partial_body);
    fuzz_check(snprintf_ok(want, sizeof(want), "l=%lld", sig->body_length));
    fuzz_check(strip_suffix(s, len, want));
}

/* check_short_key - "key too short (N bits)": N is the key's size, under MIN_KEY_BITS */
static bool check_short_key(const struct dkimv_sig *s, const char *why, size_t len)
{
    char want[48];

    if (s->result != DKIMV_FAIL || len < 15 || memcmp(why, "key too short (", 15) != 0)
        return false;
    fuzz_check(s->key_bits > 0 && s->key_bits < MIN_KEY_BITS);
    fuzz_check(snprintf_ok(want, sizeof(want), "key too short (%u bits)", s->key_bits));
    fuzz_check(strlen(want) == len && memcmp(why, want, len) == 0);
    return true;
}

/* check_comment - the comment of one result, read from its end */
static void check_comment(const struct dkimv_sig *s, enum key_mode mode)
{
    const char *c = s->comment;
    size_t len = strlen(c);
    bool known = false;

    if (strip_suffix(c, &len, "testing key")) {
        fuzz_check((KEYED & M(mode)) != 0); /* t=y comes from a key record */
        strip_sep(c, &len);
    }
    if (s->body_length >= 0) {
        strip_length(s, c, &len);
        strip_sep(c, &len);
    } else {
        fuzz_check(!s->partial_body && !s->dmarc_ignore);
    }
    if (check_short_key(s, c, len))
        return;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]) && !known; i++)
        known = reasons[i].result == s->result && strlen(reasons[i].why) == len &&
                memcmp(reasons[i].why, c, len) == 0 && (reasons[i].modes & M(mode)) != 0;
    fuzz_check(known);
}

/* check_results - the properties of one message's results */
static void check_results(const struct dkimv_results *r, const struct message *msg,
                          unsigned max_sigs, const struct keys *k)
{
    static const char *const words[] = {"pass",   "fail",      "neutral",
                                        "policy", "temperror", "permerror"};
    size_t want = msg->nsig < max_sigs ? msg->nsig : max_sigs;

    fuzz_check(r != NULL);
    fuzz_check(r->n == want);
    fuzz_check(r->skipped == msg->nsig - want);
    fuzz_check(r->n == 0 || r->sig != NULL);
    fuzz_check(k->calls <= r->n);
    for (size_t i = 0; i < r->n; i++) {
        const struct dkimv_sig *s = &r->sig[i];
        const char *name = dkimv_result_name(s->result);
        bool word = false;

        fuzz_check((unsigned)s->result <= DKIMV_PERMERROR);
        for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
            word = word || strcmp(name, words[w]) == 0;
        fuzz_check(word);
        fuzz_check(s->result != DKIMV_POLICY);
        fuzz_check(s->comment != NULL && s->domain != NULL && s->selector != NULL);
        fuzz_check(s->algorithm != NULL && s->b != NULL);
        fuzz_check(s->body_length >= -1);
        fuzz_check(s->key_bits == 0 || (KEYED & M(k->mode)) != 0);
        check_comment(s, k->mode);
        if (s->result == DKIMV_PASS) {
            bool ed = strcasecmp(s->algorithm, "ed25519-sha256") == 0;

            fuzz_check(ed || strcasecmp(s->algorithm, "rsa-sha256") == 0);
            fuzz_check(ed ? s->key_bits == 256 : s->key_bits >= MIN_KEY_BITS);
            fuzz_check(s->domain[0] != '\0' && s->selector[0] != '\0');
        }
    }
}

/* same_str - two optional strings are equal */
static bool same_str(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* check_same - two verifications of one message said the same */
static void check_same(const struct dkimv_results *a, const struct dkimv_results *b)
{
    fuzz_check(a->n == b->n && a->skipped == b->skipped);
    for (size_t i = 0; i < a->n; i++) {
        const struct dkimv_sig *x = &a->sig[i], *y = &b->sig[i];

        fuzz_check(x->result == y->result);
        fuzz_check(strcmp(x->comment, y->comment) == 0);
        fuzz_check(strcmp(x->domain, y->domain) == 0);
        fuzz_check(strcmp(x->selector, y->selector) == 0);
        fuzz_check(strcmp(x->algorithm, y->algorithm) == 0);
        fuzz_check(strcmp(x->b, y->b) == 0);
        fuzz_check(same_str(x->identity, y->identity));
        fuzz_check(x->key_bits == y->key_bits && x->body_length == y->body_length);
        fuzz_check(x->partial_body == y->partial_body && x->dmarc_ignore == y->dmarc_ignore);
    }
}

/* verify - one verification of msg with the body in chunks of chunk; caller ends it */
static struct dkimv_msg *verify(struct dkimv *v, const struct message *msg, bool leadspc,
                                size_t chunk, bool eoh, unsigned max_sigs, struct keys *k)
{
    struct dkimv_msg *m = dkimv_begin(v, "fuzz", leadspc ? DKIMV_LEADSPC : 0);
    const unsigned char *body = (const unsigned char *)buf_cstr(&msg->body);
    const struct dkimv_results *r;

    k->calls = 0;
    for (size_t i = 0; i < msg->nf; i++)
        dkimv_header(m, msg->f[i].name, msg->f[i].value);
    if (eoh)
        dkimv_eoh(m);
    for (size_t off = 0; off < msg->body.len;) {
        size_t n = msg->body.len - off < chunk ? msg->body.len - off : chunk;

        dkimv_body(m, body + off, n);
        off += n;
    }
    r = dkimv_eom(m);
    check_results(r, msg, max_sigs, k);
    fuzz_check(dkimv_eom(m) == r);
    return m;
}

/* cpu_ms - this process's CPU time in milliseconds */
static double cpu_ms(void)
{
    struct timespec ts;

    fuzz_check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* LLVMFuzzerTestOneInput - flags, keys, records, a message; verified twice */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[8] = {1, 2, 3, 7, 64, 100, 1000, CHUNK_ALL};
    struct reader rd = reader_init(data, size);
    unsigned flags = reader_byte(&rd), kb = reader_byte(&rd);
    bool leadspc = flags & 1, raw = (flags >> 4) & 1;
    unsigned max_sigs = ((flags >> 1) & 7) % 5 + 1;
    size_t chunk = chunks[flags >> 5], other = chunk == CHUNK_ALL ? 1 : CHUNK_ALL;
    struct keys k = {.mode = (enum key_mode)(kb & 7)};
    struct message msg;
    struct dkimv *v;
    struct dkimv_msg *ma, *mb;
    char err[128];
    time_t t0;
    double c0;

    if (k.mode == KEYS_INPUT || k.mode == KEYS_BOTH) {
        k.nrec = (kb >> 3) % (MAX_RECORDS + 1);
        for (size_t i = 0; i < k.nrec; i++)
            k.rec[i] = reader_str(&rd);
    }
    message_parse(&msg, rd.p, rd.len, leadspc, raw);
    v = dkimv_open(NULL, max_sigs, MIN_KEY_BITS, err, sizeof(err));
    fuzz_check(v != NULL);
    dkimv_set_lookup(v, key_lookup, &k);
    t0 = time(NULL);
    c0 = cpu_ms();
    ma = verify(v, &msg, leadspc, chunk, true, max_sigs, &k);
    mb = verify(v, &msg, leadspc, other, false, max_sigs, &k);
    fuzz_check(cpu_ms() - c0 <= CPU_BASE_MS + CPU_PER_KB_MS * (double)size / 1024);
    if (time(NULL) == t0) /* x= and t= were judged against the same second */
        check_same(dkimv_eom(ma), dkimv_eom(mb));
    dkimv_end(ma);
    dkimv_end(mb);
    dkimv_close(v);
    message_free(&msg);
    for (size_t i = 0; i < k.nrec; i++)
        free(k.rec[i]);
    return 0;
}
