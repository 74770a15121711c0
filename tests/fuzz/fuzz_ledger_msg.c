/*
 * fuzz_ledger_msg.c - libFuzzer target for the ledger spool format
 * (lib/ledger_msg.h): ledger_msg_decode() over arbitrary bytes as a
 * spool file, and encode -> decode round trips.
 *
 * The same input is used three times:
 *   1. as spool data: records are decoded one after another until the
 *      data is used up or only a torn tail is left;
 *   2. as the body of one record sealed with a correct trailer ("R\n",
 *      the input, "E <crc32>\n"), so that the fields of a record whose
 *      checksum is right (one written by a newer or a buggy binary) are
 *      judged too, which random bytes almost never reach;
 *   3. as a recipe for a record (uid, kind, direction, numbers, which
 *      string fields are set and to what, recipients, authentication
 *      results), which is encoded and decoded again.
 *
 * Besides "no crash, leak, hang or sanitizer report" (the decoder must
 * never trust its input), it checks:
 *   - the decoder never claims more bytes than it was given, and always
 *     makes progress when it returns a record or skips garbage;
 *   - every record it returns, encoded and decoded again, comes back
 *     field for field, using exactly the encoded bytes;
 *   - every record built from the recipe comes back the same way, also
 *     with bytes after it, and every strict prefix of its encoding is a
 *     torn tail (NULL, nothing used), never garbage to skip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_msg.h"
#include "reader.h"

#define N_STR 18

/* str_fields - the string fields of m, in a fixed order */
static void str_fields(struct ledger_msg *m, char **f[N_STR])
{
    f[0] = &m->host;
    f[1] = &m->queue_id;
    f[2] = &m->message_id;
    f[3] = &m->date_header;
    f[4] = &m->client_ip;
    f[5] = &m->client_ptr;
    f[6] = &m->helo;
    f[7] = &m->sasl_user;
    f[8] = &m->mail_from;
    f[9] = &m->header_from;
    f[10] = &m->subject;
    f[11] = &m->action;
    f[12] = &m->open_token;
    f[13] = &m->open_ip;
    f[14] = &m->open_agent;
    f[15] = &m->open_method;
    f[16] = &m->open_class;
    f[17] = &m->open_reason;
}

/* same_str - equal strings, or both NULL */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* same_auth - two authentication results are equal */
static bool same_auth(const struct ledger_auth *a, const struct ledger_auth *b)
{
    return same_str(a->method, b->method) && same_str(a->result, b->result) &&
           same_str(a->identity, b->identity) && same_str(a->selector, b->selector) &&
           same_str(a->algorithm, b->algorithm) && same_str(a->policy, b->policy) &&
           same_str(a->disposition, b->disposition) && same_str(a->reason, b->reason);
}

/* check_same - two records hold the same data, field for field */
static void check_same(struct ledger_msg *a, struct ledger_msg *b)
{
    char **fa[N_STR], **fb[N_STR];

    fuzz_check(strcmp(a->uid, b->uid) == 0);
    fuzz_check(a->kind == b->kind);
    fuzz_check(a->direction == b->direction);
    fuzz_check(a->size == b->size && a->received_at == b->received_at);
    str_fields(a, fa);
    str_fields(b, fb);
    for (size_t i = 0; i < N_STR; i++)
        fuzz_check(same_str(*fa[i], *fb[i]));
    fuzz_check(a->nrcpts == b->nrcpts);
    for (size_t i = 0; i < a->nrcpts; i++)
        fuzz_check(strcmp(a->rcpts[i], b->rcpts[i]) == 0);
    fuzz_check(a->nauth == b->nauth);
    for (size_t i = 0; i < a->nauth; i++)
        fuzz_check(same_auth(&a->auth[i], &b->auth[i]));
}

/* check_round_trip - encode m, decode it back (optionally with a tail after it) */
static void check_round_trip(struct ledger_msg *m, const uint8_t *tail, size_t tail_len,
                             unsigned cut)
{
    struct buf enc = BUF_INIT;
    struct ledger_msg *back;
    size_t used, rec_len, prefix;

    ledger_msg_encode(m, &enc);
    rec_len = enc.len;
    back = ledger_msg_decode(enc.data, enc.len, &used);
    fuzz_check(back != NULL && used == rec_len);
    check_same(m, back);
    ledger_msg_free(back);

    buf_add(&enc, tail, tail_len);
    back = ledger_msg_decode(enc.data, enc.len, &used);
    fuzz_check(back != NULL && used == rec_len);
    check_same(m, back);
    ledger_msg_free(back);

    prefix = cut % rec_len; /* a strict prefix: a record torn by a crash */
    back = ledger_msg_decode(enc.data, prefix, &used);
    fuzz_check(back == NULL && used == 0);
    buf_free(&enc);
}

/* decode_all - decode p[0..len) as spool data, record after record */
static void decode_all(const char *p, size_t len)
{
    while (len > 0) {
        size_t used = (size_t)-1;
        struct ledger_msg *m = ledger_msg_decode(p, len, &used);

        fuzz_check(used <= len);
        if (m != NULL) {
            fuzz_check(used > 0);
            check_round_trip(m, NULL, 0, (unsigned)used);
            ledger_msg_free(m);
        } else if (used == 0) {
            break; /* a torn tail */
        }
        p += used;
        len -= used;
    }
}

/* crc32_ieee - CRC-32 as zlib computes it (the spool trailer's checksum) */
static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* decode_sealed - "R\n" + body + a correct "E" trailer, decoded as spool data */
static void decode_sealed(const uint8_t *body, size_t len)
{
    struct buf b = BUF_INIT;

    buf_puts(&b, "R\n");
    buf_add(&b, body, len);
    if (len > 0 && body[len - 1] != '\n')
        buf_putc(&b, '\n');
    buf_printf(&b, "E %08x\n", (unsigned)crc32_ieee((const unsigned char *)b.data, b.len));
    decode_all(b.data, b.len);
    buf_free(&b);
}

/* build - a record from the recipe in rd; caller frees */
static struct ledger_msg *build(struct reader *rd)
{
    static const char hex[] = "0123456789abcdef";
    struct ledger_msg *m = ledger_msg_new();
    char **f[N_STR];
    unsigned mask, n, flags;
    uint64_t size = 0, at = 0;

    for (size_t i = 0; i < LEDGER_UID_LEN / 2 && !reader_done(rd); i++) {
        unsigned b = reader_byte(rd);

        m->uid[2 * i] = hex[b >> 4];
        m->uid[2 * i + 1] = hex[b & 15];
    }
    flags = reader_byte(rd);
    m->direction = (flags & 1) ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    m->kind = (flags & 2) ? LEDGER_OPEN : LEDGER_MESSAGE;
    for (int i = 0; i < 8; i++) {
        size = size << 8 | reader_byte(rd);
        at = at << 8 | reader_byte(rd);
    }
    m->size = (int64_t)size;
    m->received_at = (int64_t)at;
    str_fields(m, f);
    mask = reader_u16(rd) | (unsigned)reader_byte(rd) << 16;
    for (size_t i = 0; i < N_STR; i++) {
        if (mask & (1u << i)) {
            char *s = reader_str(rd);

            ledger_msg_set(f[i], s);
            free(s);
        }
    }
    n = reader_byte(rd) % 8;
    for (unsigned i = 0; i < n; i++) {
        char *s = reader_str(rd);

        ledger_msg_add_rcpt(m, s);
        free(s);
    }
    n = reader_byte(rd) % 6;
    for (unsigned i = 0; i < n; i++) {
        char *method = reader_str(rd), *result = reader_str(rd);
        struct ledger_auth *a = ledger_msg_add_auth(m, method, result);
        char **af[] = {&a->identity, &a->selector,    &a->algorithm,
                       &a->policy,   &a->disposition, &a->reason};
        unsigned amask = reader_byte(rd);

        for (size_t k = 0; k < sizeof(af) / sizeof(af[0]); k++) {
            if (amask & (1u << k)) {
                char *s = reader_str(rd);

                ledger_msg_set(af[k], s);
                free(s);
            }
        }
        free(method);
        free(result);
    }
    return m;
}

/* LLVMFuzzerTestOneInput - spool data, and a recipe for a record */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = reader_init(data, size);
    struct ledger_msg *m;
    unsigned cut;

    decode_all((const char *)data, size);
    decode_sealed(data, size);

    cut = reader_u16(&rd);
    m = build(&rd);
    check_round_trip(m, rd.p, rd.len, cut);
    ledger_msg_free(m);
    return 0;
}
