/*
 * fuzz_pixel_inject.c - libFuzzer target for the tracking-pixel engine
 * (pixelfilter/inject.h): pixel_inject() of the whole input, as a
 * message, with one fixed valid URL.
 *
 * The input is the message, every byte of it (line ends, NULs, 8-bit
 * text and all). The output buffer is handed over holding a few bytes
 * already, so that "appends to out" is checked too.
 *
 * Besides "no crash, leak, hang or sanitizer report" (nor bug()'s abort
 * on overlapping edits), it checks what inject.h promises for every
 * input:
 *   - the return value is rep.outcome, never BAD_URL (the URL is valid),
 *     rep.reason is a terminated string, and out's data is still
 *     followed by a NUL;
 *   - NOT_MESSAGE exactly when the input is empty or its first line is
 *     not a header field (blank, folded, no colon, or a name that is not
 *     printable ASCII), and then nothing is appended;
 *   - every other outcome but INJECTED appends the input byte for byte,
 *     with rep.parts 0;
 *   - INJECTED: rep.parts >= 1; the output differs from the input (the
 *     tag always adds octets other than CR and LF to a decoded body, and
 *     every encoder here decodes back to what it was given, line ends
 *     aside); if no input line is longer than 998 octets, no output line
 *     is (here a bare CR ends a line too: the engine copies the CRs and
 *     LFs that end a body as they are, and a run of bare CRs, invalid in
 *     mail anyway, would otherwise count; corpus/pixel_inject/regress-*
 *     are the findings of this target, fixed); and injecting into the output
 *     again gives INJECTED with the same parts and skipped_parts: only
 *     the bodies of text/html parts and their Content-Transfer-Encoding
 *     field change, so the MIME structure the second walk sees must be
 *     the first one's (a re-encoded body that grew a delimiter line of
 *     an enclosing multipart breaks the message, and this check unless
 *     that line happens to close the multipart after the last part).
 *
 * What it does not check, because it is not true for every input: that
 * the URL occurs rep.parts times in the output. A base64 body carries
 * the tag encoded; quoted-printable writes the tag's '=' as "=3D" and
 * may break the URL at a soft line break (so may the switch from a
 * 7bit/8bit body with a line over 998 octets to quoted-printable); and
 * the input may carry the URL itself, in a body that gets re-encoded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inject.h"
#include "reader.h"

/* A URL like the milter's: base, "/o/", a token, ".gif". */
static const char url[] = "https://px.example.test/o/Xq3b7Zt0_kL9-mN2pR5sV8wY1cF4hJ6a.gif";
/* What out holds before pixel_inject() appends to it. */
static const char prefix[] = "PRE\r\n";
#define PREFIX_LEN (sizeof(prefix) - 1)

/* first_line_is_field - in[0..len) starts with a header field line (inject.h's NOT_MESSAGE
 * test, written again from RFC 5322: name of printable ASCII, optional white space, colon) */
static bool first_line_is_field(const uint8_t *in, size_t len)
{
    const uint8_t *nl = memchr(in, '\n', len), *colon, *e;
    size_t ll = nl ? (size_t)(nl - in) : len;

    if (nl != NULL && ll > 0 && in[ll - 1] == '\r')
        ll--;
    if (ll == 0 || in[0] == ' ' || in[0] == '\t')
        return false;
    colon = memchr(in, ':', ll);
    if (colon == NULL)
        return false;
    for (e = colon; e > in && (e[-1] == ' ' || e[-1] == '\t'); e--)
        ;
    if (e == in)
        return false;
    for (const uint8_t *p = in; p < e; p++)
        if (*p <= 32 || *p >= 127)
            return false;
    return true;
}

/* longest_line - the longest line of s[0..n) in octets; LF, CR LF and a bare CR end a line */
static size_t longest_line(const char *s, size_t n)
{
    size_t max = 0, cur = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            cur = 0;
            continue;
        }
        if (++cur > max)
            max = cur;
    }
    return max;
}

/* check_injected - the properties of an INJECTED result out[0..olen) of in[0..len) */
static void check_injected(const uint8_t *in, size_t len, const char *out, size_t olen,
                           const struct pixel_report *rep)
{
    struct buf again = BUF_INIT;
    struct pixel_report rep2;

    fuzz_check(rep->parts >= 1);
    fuzz_check(olen != len || memcmp(out, in, len) != 0);
    if (longest_line((const char *)in, len) <= 998)
        fuzz_check(longest_line(out, olen) <= 998);

    fuzz_check(pixel_inject(out, olen, url, &again, &rep2) == PIXEL_INJECTED);
    fuzz_check(rep2.parts == rep->parts);
    fuzz_check(rep2.skipped_parts == rep->skipped_parts);
    buf_free(&again);
}

/* LLVMFuzzerTestOneInput - the input as a message */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT;
    struct pixel_report rep;
    enum pixel_outcome o;

    buf_add(&out, prefix, PREFIX_LEN);
    o = pixel_inject((const char *)data, size, url, &out, &rep);

    fuzz_check(o == rep.outcome);
    fuzz_check(o != PIXEL_BAD_URL);
    fuzz_check(memchr(rep.reason, '\0', sizeof(rep.reason)) != NULL);
    fuzz_check(out.len >= PREFIX_LEN && memcmp(out.data, prefix, PREFIX_LEN) == 0);
    fuzz_check(out.data[out.len] == '\0');
    fuzz_check((o == PIXEL_NOT_MESSAGE) == (size == 0 || !first_line_is_field(data, size)));

    if (o == PIXEL_NOT_MESSAGE) {
        fuzz_check(out.len == PREFIX_LEN);
    } else if (o != PIXEL_INJECTED) {
        fuzz_check(rep.parts == 0);
        fuzz_check(out.len - PREFIX_LEN == size);
        fuzz_check(size == 0 || memcmp(out.data + PREFIX_LEN, data, size) == 0);
    } else {
        check_injected(data, size, out.data + PREFIX_LEN, out.len - PREFIX_LEN, &rep);
    }
    buf_free(&out);
    return 0;
}
