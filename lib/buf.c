/*
 * buf.c - the one growable byte buffer (see buf.h).
 *
 * Invariant: when data != NULL, data[len] == '\0' and len < cap.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "util.h"

/* buf_reserve - make room for n more bytes plus the NUL */
void buf_reserve(struct buf *b, size_t n)
{
    size_t need, cap;

    if (n > SIZE_MAX - b->len - 1)
        die("buffer too large");
    need = b->len + n + 1;
    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0';
}

/* buf_add - append n bytes */
void buf_add(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* buf_puts - append a C string */
void buf_puts(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* buf_dec_format - v in decimal into out, as printf's "%lld" (no NUL); its length */
size_t buf_dec_format(char out[BUF_DEC_MAX], int64_t v)
{
    /* the magnitude as unsigned: -INT64_MIN does not fit an int64_t */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char rev[BUF_DEC_MAX];
    size_t n = 0, len = 0;

    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = rev[--n];
    return len;
}

/* buf_put_dec - append v in decimal */
void buf_put_dec(struct buf *b, int64_t v)
{
    char d[BUF_DEC_MAX];

    buf_add(b, d, buf_dec_format(d, v));
}

/* buf_vprintf - append formatted text */
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list aq;
    int n;

    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        bug("buf_vprintf: bad format \"%s\"", fmt);
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

/* buf_printf - append formatted text */
void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* buf_truncate - keep the first n bytes */
void buf_truncate(struct buf *b, size_t n)
{
    if (n > b->len)
        bug("buf_truncate: %zu > %zu", n, b->len);
    b->len = n;
    if (b->data)
        b->data[n] = '\0';
}

/* buf_reset - empty the buffer, keep its memory */
void buf_reset(struct buf *b)
{
    buf_truncate(b, 0);
}

/* buf_cstr - the data as a C string */
const char *buf_cstr(const struct buf *b)
{
    return b->data ? b->data : "";
}

/* buf_steal - hand the data to the caller; the buffer is emptied */
char *buf_steal(struct buf *b)
{
    char *p;

    if (b->data == NULL)
        return xstrdup("");
    p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* buf_free - release memory */
void buf_free(struct buf *b)
{
    b->data = xfree(b->data);
    b->len = b->cap = 0;
}

/* buf_read_fd - read fd to its end, appending; false (errno set) on a read error */
bool buf_read_fd(struct buf *b, int fd)
{
    for (;;) {
        ssize_t r;

        buf_reserve(b, 65536);
        r = read(fd, b->data + b->len, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return false;
        if (r == 0)
            return true;
        b->len += (size_t)r;
        b->data[b->len] = '\0';
    }
}

/* utf8_seq_len - length of a valid UTF-8 sequence at p (0 if invalid) */
size_t utf8_seq_len(const unsigned char *p)
{
    size_t n;
    unsigned cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff)
        return 0;
    return n;
}

/* buf_put_clean - s[0..len) for a terminal or a spreadsheet, into b: a control
 * character (C0, DEL, C1 as U+0080..U+009F) becomes '?', a byte that is not
 * UTF-8 becomes U+FFFD, so no cell carries an escape sequence */
void buf_put_clean(struct buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        size_t n = utf8_seq_len(p);

        if (n == 0 || n > (size_t)(end - p)) {
            buf_puts(b, "\xef\xbf\xbd");
            p++;
        } else if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] < 0xa0)) {
            buf_putc(b, '?');
            p += n;
        } else {
            buf_add(b, p, n);
            p += n;
        }
    }
}
