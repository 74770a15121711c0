/*
 * dkim_canon.c - RFC 6376 canonicalization for the DKIM signer: header
 * fields (simple 3.4.1, relaxed 3.4.2) and the body (simple 3.4.3,
 * relaxed 3.4.4), the body streamed into SHA-256 as it arrives.
 *
 * BODY
 *   A body comes in chunks split anywhere, even between the CR and the
 *   LF of a line end. Nothing of it is buffered beyond a small output
 *   block for the hash: the state is a CR that may start a line end, a
 *   flag for white space seen but not yet written (relaxed: a run is one
 *   space, and none at the end of a line), and the number of empty lines
 *   seen but not yet written - they are written when something follows
 *   them and dropped at the end (both canonicalizations ignore empty
 *   lines at the end of the body). A line that has nothing after white
 *   space removal is empty (relaxed). A body that does not end with CRLF
 *   gets one; an empty simple body is one CRLF, an empty relaxed body is
 *   nothing (RFC 6376 3.4.3, 3.4.4 and erratum 1384). A CR or LF that is
 *   not part of a CRLF is an ordinary byte.
 *
 * NEVER
 *   Never keeps the body or a pointer into a caller's buffer; never
 *   logs anything of the message.
 */
#include <string.h>

#include <openssl/evp.h>

#include "dkim_sign_int.h"

/* is_wsp - SP or HTAB (RFC 5234 WSP) */
static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* body_flush - hash what waits in the output block */
static void body_flush(struct dkims_body *b)
{
    if (b->outlen > 0 && !b->failed && EVP_DigestUpdate(b->md, b->out, b->outlen) != 1)
        b->failed = true;
    b->outlen = 0;
}

/* body_put - one canonical byte for the hash */
static void body_put(struct dkims_body *b, unsigned char c)
{
    if (b->outlen == sizeof(b->out))
        body_flush(b);
    b->out[b->outlen++] = c;
    b->any = true;
}

/* body_byte - one byte of a line (not its line end) */
static void body_byte(struct dkims_body *b, unsigned char c)
{
    if (b->relaxed && is_wsp(c)) {
        b->wsp = true;
        return;
    }
    for (; b->empty > 0; b->empty--) {
        body_put(b, '\r');
        body_put(b, '\n');
    }
    if (b->wsp) /* a run of white space before this byte, at the line's start too */
        body_put(b, ' ');
    b->wsp = false;
    body_put(b, c);
    b->content = true;
}

/* body_eol - the end of a line: written if the line has something, else counted */
static void body_eol(struct dkims_body *b)
{
    if (b->content) {
        body_put(b, '\r');
        body_put(b, '\n');
    } else {
        b->empty++;
    }
    b->content = false;
    b->wsp = false;
}

/* dkims_body_init - start a body hash */
bool dkims_body_init(struct dkims_body *b, bool relaxed)
{
    memset(b, 0, sizeof(*b));
    b->relaxed = relaxed;
    b->md = EVP_MD_CTX_new();
    if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
        b->failed = true;
    return !b->failed;
}

/* dkims_body_update - a chunk of the body */
void dkims_body_update(struct dkims_body *b, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];

        if (b->cr) {
            b->cr = false;
            if (c == '\n') {
                body_eol(b);
                continue;
            }
            body_byte(b, '\r'); /* a lone CR is an ordinary byte */
        }
        if (c == '\r')
            b->cr = true;
        else
            body_byte(b, c);
    }
    body_flush(b);
}

/* dkims_body_final - end of body: its hash */
bool dkims_body_final(struct dkims_body *b, unsigned char digest[DKIMS_SHA256_LEN])
{
    unsigned int n = 0;

    if (b->cr) {
        b->cr = false;
        body_byte(b, '\r');
    }
    if (b->content) /* no CRLF at the end: one is added */
        body_eol(b);
    if (!b->relaxed && !b->any) { /* an empty simple body is one CRLF */
        body_put(b, '\r');
        body_put(b, '\n');
    }
    body_flush(b);
    if (b->failed || EVP_DigestFinal_ex(b->md, digest, &n) != 1 || n != DKIMS_SHA256_LEN) {
        b->failed = true;
        return false;
    }
    return true;
}

/* dkims_body_free - release the hash state */
void dkims_body_free(struct dkims_body *b)
{
    EVP_MD_CTX_free(b->md);
    b->md = NULL;
}

/* dkims_canon_header - append one header field in canonical form, no line end */
void dkims_canon_header(struct buf *out, const char *line, size_t len, bool relaxed)
{
    const char *colon = memchr(line, ':', len);
    size_t nlen, i;
    bool space = false, started = false;

    if (!relaxed || colon == NULL) {
        buf_add(out, line, len);
        return;
    }
    nlen = (size_t)(colon - line);
    while (nlen > 0 && is_wsp((unsigned char)line[nlen - 1]))
        nlen--;
    for (i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char)line[i];

        buf_putc(out, c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    buf_putc(out, ':');
    for (i = (size_t)(colon - line) + 1; i < len; i++) {
        unsigned char c = (unsigned char)line[i];

        if (c == '\r' && i + 1 < len && line[i + 1] == '\n') {
            i++; /* unfold: the CRLF goes, the white space after it is a run */
            continue;
        }
        if (is_wsp(c)) {
            space = started;
            continue;
        }
        if (space)
            buf_putc(out, ' ');
        buf_putc(out, c);
        space = false;
        started = true;
    }
}
