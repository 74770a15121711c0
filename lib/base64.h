/*
 * base64.h - base64 decoding (RFC 4648 section 4), strict, for MIME
 * bodies (pixelfilter) and DKIM tag values (lib/dkim_tags.c).
 */
#ifndef POSTMETER_BASE64_H
#define POSTMETER_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define BASE64_PAD_OPTIONAL 0x1 /* a last group without its "=" padding is accepted */

/*
 * base64_decode - append the bytes of s[0..n) to out, skipping white
 * space (SP, HTAB, CR, LF); false if it is not base64: a character
 * outside the alphabet, anything but "=" after "=", more than two "=",
 * a length no encoder makes, or (without BASE64_PAD_OPTIONAL) a last
 * group not padded to four characters. out may hold part of the bytes
 * on failure.
 */
bool base64_decode(const char *s, size_t n, unsigned flags, struct buf *out);

#endif
