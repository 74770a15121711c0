/*
 * codec.c - base64 (decoding in lib/base64.c) and quoted-printable (RFC
 * 2045) for the pixel engine.
 *
 * Decoders are strict where a wrong guess would corrupt a body (base64:
 * a truncated or garbled body is refused, the caller passes the message
 * on unchanged). Encoders never write a line over 76 octets.
 */
#include <string.h>

#include "base64.h"
#include "pixel_int.h"

static const char pixel_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool pixel_b64_decode(const char *s, size_t n, struct buf *out)
{
    return base64_decode(s, n, 0, out);
}

void pixel_b64_encode(const char *s, size_t n, const char *eol, struct buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t col = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)u[i] << 16;
        char q[4];

        if (i + 1 < n)
            v |= (unsigned long)u[i + 1] << 8;
        if (i + 2 < n)
            v |= u[i + 2];
        q[0] = pixel_b64[(v >> 18) & 63];
        q[1] = pixel_b64[(v >> 12) & 63];
        q[2] = i + 1 < n ? pixel_b64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? pixel_b64[v & 63] : '=';
        if (col == 76) {
            buf_puts(out, eol);
            col = 0;
        }
        buf_add(out, q, 4);
        col += 4;
    }
}

/* pixel_hex - value of a hex digit, -1 if not one */
static int pixel_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

void pixel_qp_decode(const char *s, size_t n, struct buf *out)
{
    size_t p = 0;

    while (p < n) {
        const char *nl = memchr(s + p, '\n', n - p);
        size_t le = nl ? (size_t)(nl - s) : n; /* line end, before "\n" */
        size_t ce = le, next = nl ? le + 1 : n;
        bool soft = false;

        if (nl && ce > p && s[ce - 1] == '\r')
            ce--;
        while (ce > p && (s[ce - 1] == ' ' || s[ce - 1] == '\t'))
            ce--;
        for (size_t i = p; i < ce; i++) {
            if (s[i] != '=') {
                buf_putc(out, s[i]);
                continue;
            }
            if (i + 1 == ce) {
                soft = true;
                break;
            }
            if (i + 2 < ce && pixel_hex((unsigned char)s[i + 1]) >= 0 &&
                pixel_hex((unsigned char)s[i + 2]) >= 0) {
                buf_putc(out, pixel_hex((unsigned char)s[i + 1]) * 16 +
                                  pixel_hex((unsigned char)s[i + 2]));
                i += 2;
            } else {
                buf_putc(out, '=');
            }
        }
        if (nl && !soft) {
            if (le > p && s[le - 1] == '\r')
                buf_puts(out, "\r\n");
            else
                buf_putc(out, '\n');
        }
        p = next;
    }
}

/* pixel_qp_char - append one octet quoted-printable, breaking the line first if needed */
static void pixel_qp_char(int c, bool literal, const char *eol, size_t *col, struct buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = literal ? 1 : 3;

    if (*col + w > 75) {
        buf_putc(out, '=');
        buf_puts(out, eol);
        *col = 0;
    }
    if (literal && c == '-' && *col == 0) {
        /* A line must never start "--": it could be a MIME delimiter. */
        literal = false;
        w = 3;
    }
    if (literal) {
        buf_putc(out, c);
    } else {
        buf_putc(out, '=');
        buf_putc(out, hex[(c >> 4) & 15]);
        buf_putc(out, hex[c & 15]);
    }
    *col += w;
}

void pixel_qp_encode(const char *s, size_t n, const char *eol, struct buf *out)
{
    size_t p = 0;

    while (p < n) {
        const char *nl = memchr(s + p, '\n', n - p);
        size_t le = nl ? (size_t)(nl - s) : n, col = 0;

        if (nl && le > p && s[le - 1] == '\r')
            le--;
        for (size_t i = p; i < le; i++) {
            int c = (unsigned char)s[i];
            bool literal = (c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t';

            if ((c == ' ' || c == '\t') && i + 1 == le)
                literal = false; /* trailing white space would be dropped */
            if (i == p && c == 'F' && le - p >= 5 && memcmp(s + p, "From ", 5) == 0)
                literal = false; /* keep mbox readers from quoting it */
            pixel_qp_char(c, literal, eol, &col, out);
        }
        if (!nl)
            break;
        buf_puts(out, eol);
        p = (size_t)(nl - s) + 1;
    }
}

size_t pixel_max_line(const char *s, size_t n)
{
    size_t max = 0, p = 0;

    while (p < n) {
        const char *nl = memchr(s + p, '\n', n - p);
        size_t le = nl ? (size_t)(nl - s) : n;
        size_t ll = le - p;

        if (nl && ll > 0 && s[le - 1] == '\r')
            ll--;
        if (ll > max)
            max = ll;
        p = nl ? le + 1 : n;
    }
    return max;
}
