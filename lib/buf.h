/*
 * buf.h - the one growable byte buffer.
 *
 * Binary safe and length tracked; data is always followed by a NUL that
 * is not counted in len, so text in a buf can be passed as a C string.
 * A zero-initialised struct buf (BUF_INIT) is a valid empty buffer.
 */
#ifndef POSTMETER_BUF_H
#define POSTMETER_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data; /* NULL until first growth; buf_cstr() never returns NULL */
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* buf_reserve - make room for n more bytes (plus the NUL) */
void buf_reserve(struct buf *b, size_t n);
/* buf_add - append n bytes */
void buf_add(struct buf *b, const void *p, size_t n);
/* buf_puts - append a C string */
void buf_puts(struct buf *b, const char *s);
/* buf_putc - append one byte (inline: the codecs call it per byte) */
static inline void buf_putc(struct buf *b, int c)
{
    if (b->cap - b->len < 2)
        buf_reserve(b, 1);
    b->data[b->len++] = (char)c;
    b->data[b->len] = '\0';
}
/* buf_printf - append formatted text */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
#define BUF_DEC_MAX 20 /* bytes of an int64_t in decimal, its sign included */
/* buf_dec_format - v in decimal into out, as printf's "%lld" (no NUL); its length */
size_t buf_dec_format(char out[BUF_DEC_MAX], int64_t v);
/* buf_put_dec - append v in decimal, as "%lld" without printf (the spool's codec, per field) */
void buf_put_dec(struct buf *b, int64_t v);
/* buf_truncate - keep the first n bytes (n <= len) */
void buf_truncate(struct buf *b, size_t n);
/* buf_reset - empty the buffer, keep its memory */
void buf_reset(struct buf *b);
/* buf_cstr - the data as a C string ("" when empty) */
const char *buf_cstr(const struct buf *b);
/* buf_steal - hand the data to the caller (caller frees), buffer emptied */
char *buf_steal(struct buf *b);
/* buf_read_fd - read fd to its end, appending; false (errno set) on a read error */
bool buf_read_fd(struct buf *b, int fd);
/* buf_free - release memory; the buffer is empty and reusable after */
void buf_free(struct buf *b);
/* utf8_seq_len - length of the valid UTF-8 sequence at p (0 if invalid; reads at most
 * 4 bytes, stopping at a byte that does not continue the sequence) */
size_t utf8_seq_len(const unsigned char *p);
/* buf_put_clean - append s[0..len) for a terminal or a log: a control character (C0,
 * DEL, C1 as U+0080..U+009F) becomes '?', a byte that is not UTF-8 becomes U+FFFD */
void buf_put_clean(struct buf *b, const char *s, size_t len);

#endif
