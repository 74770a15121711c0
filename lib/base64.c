/*
 * base64.c - strict base64 decoding.
 *
 * SUMMARY
 *   Four digits make three bytes; a last group of two or three digits
 *   makes one or two, with "=" padding to four, or without it when the
 *   caller allows (DKIM values are written either way). One digit alone
 *   in a group is never an encoding of anything.
 */
#include "base64.h"

/* digit - the value of a base64 digit, -1 if not one */
static int digit(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* base64_decode - append the decoded s[0..n) to out */
bool base64_decode(const char *s, size_t n, unsigned flags, struct buf *out)
{
    unsigned long acc = 0;
    size_t digits = 0, pad = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i], v;

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        v = digit(c);
        if (v < 0 || pad > 0)
            return false;
        acc = (acc << 6) | (unsigned long)v;
        if (++digits % 4 == 0) {
            buf_putc(out, (int)((acc >> 16) & 0xff));
            buf_putc(out, (int)((acc >> 8) & 0xff));
            buf_putc(out, (int)(acc & 0xff));
            acc = 0;
        }
    }
    if (digits % 4 == 1 || pad > 2 || (pad > 0 && digits % 4 + pad != 4))
        return false;
    if (pad == 0 && digits % 4 != 0 && !(flags & BASE64_PAD_OPTIONAL))
        return false;
    if (digits % 4 == 2) {
        buf_putc(out, (int)((acc >> 4) & 0xff));
    } else if (digits % 4 == 3) {
        buf_putc(out, (int)((acc >> 10) & 0xff));
        buf_putc(out, (int)((acc >> 2) & 0xff));
    }
    return true;
}
