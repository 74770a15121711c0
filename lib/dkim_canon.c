/*
 * dkim_canon.c - RFC 6376 canonicalization for the DKIM signer and
 * verifier: header fields (simple 3.4.1, relaxed 3.4.2) and the body
 * (simple 3.4.3, relaxed 3.4.4), the body streamed into SHA-256 as it
 * arrives, at most l= canonical bytes of it (3.4.5).
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
 *   not part of a CRLF is an ordinary byte. Every canonical byte is
 *   counted (the verifier reports a body longer than l=); only the first
 *   limit of them are hashed. Digests of shorter prefixes (the l= of
 *   several signatures) are copies of the one hash state taken as it
 *   passes their lengths, so a body is canonicalized and hashed once
 *   however many l= values there are.
 *
 * NEVER
 *   Never keeps the body or a pointer into a caller's buffer; never
 *   logs anything of the message.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>

#include "dkim_canon.h"
#include "log.h"

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

/* fetch_sha256 - fetch SHA-256 from the default provider, once */
static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md == NULL) {
        warn("dkim: OpenSSL has no SHA-256 (check its configuration): no DKIM signing or "
             "verification");
        ERR_clear_error();
    }
}

/*
 * dkim_sha256 - OpenSSL's SHA-256, fetched once per process at its first use
 *
 * The first call initializes OpenSSL (configuration, providers); a
 * process that never needs SHA-256 never pays for that.
 */
const EVP_MD *dkim_sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256_md;
}

/* is_wsp - SP or HTAB (RFC 5234 WSP) */
static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* take_cut - the digest of what was hashed so far into c */
static void take_cut(struct dkim_body *b, struct dkim_body_cut *c)
{
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    unsigned int n = 0;

    c->ok = copy != NULL && EVP_MD_CTX_copy_ex(copy, b->md) == 1 &&
            EVP_DigestFinal_ex(copy, c->digest, &n) == 1 && n == DKIM_SHA256_LEN;
    if (!c->ok)
        b->failed = true;
    EVP_MD_CTX_free(copy);
}

/* hash - n canonical bytes into the hash, taking the cuts they pass (n may be 0) */
static void hash(struct dkim_body *b, const unsigned char *p, size_t n)
{
    while (!b->failed) {
        size_t step = n;

        while (b->nextcut < b->ncut && b->cut[b->nextcut].at == b->hashed)
            take_cut(b, &b->cut[b->nextcut++]);
        if (n == 0)
            return;
        if (b->nextcut < b->ncut && b->cut[b->nextcut].at - b->hashed < step)
            step = (size_t)(b->cut[b->nextcut].at - b->hashed);
        if (EVP_DigestUpdate(b->md, p, step) != 1)
            b->failed = true;
        b->hashed += step;
        p += step;
        n -= step;
    }
}

/* body_flush - hash what waits in the output block */
static void body_flush(struct dkim_body *b)
{
    if (b->outlen > 0)
        hash(b, b->out, b->outlen);
    b->outlen = 0;
}

/* body_put - one canonical byte: counted, hashed while under the limit */
static inline void body_put(struct dkim_body *b, unsigned char c)
{
    if (b->total++ >= b->limit)
        return;
    if (b->outlen == sizeof(b->out))
        body_flush(b);
    b->out[b->outlen++] = c;
}

/* body_byte - one byte of a line (not its line end) */
static inline void body_byte(struct dkim_body *b, unsigned char c)
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
static void body_eol(struct dkim_body *b)
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

/* dkim_body_init - start a body hash */
bool dkim_body_init(struct dkim_body *b, bool relaxed, unsigned long long limit)
{
    const EVP_MD *sha256 = dkim_sha256();

    memset(b, 0, sizeof(*b));
    b->relaxed = relaxed;
    b->limit = limit;
    b->md = EVP_MD_CTX_new();
    if (b->md == NULL || sha256 == NULL || EVP_DigestInit_ex(b->md, sha256, NULL) != 1)
        b->failed = true;
    return !b->failed;
}

/* dkim_body_cuts - prefix digests to take on the way */
void dkim_body_cuts(struct dkim_body *b, struct dkim_body_cut *cut, size_t ncut)
{
    b->cut = cut;
    b->ncut = ncut;
    b->nextcut = 0;
}

/*
 * plain_run - how many bytes from p[0] on pass unchanged: simple, up to a
 * CR; relaxed, up to a CR, a tab or a space that is not one space
 * between two other bytes (words of text pass as they are)
 */
static size_t plain_run(const struct dkim_body *b, const unsigned char *p, size_t len)
{
    size_t j = 0;

    if (!b->relaxed) {
        const unsigned char *cr = memchr(p, '\r', len);

        return cr ? (size_t)(cr - p) : len;
    }
    while (j < len) {
        unsigned char c = p[j];

        if (c == '\r' || c == '\t')
            break;
        if (c == ' ') {
            if (j == 0 || j + 1 == len || p[j + 1] == '\r' || is_wsp(p[j + 1]))
                break;
        }
        j++;
    }
    return j;
}

/* body_run - n canonical bytes that pass unchanged: counted, hashed while under the limit */
static void body_run(struct dkim_body *b, const unsigned char *p, size_t n)
{
    unsigned long long room = b->total < b->limit ? b->limit - b->total : 0;
    size_t take = room < n ? (size_t)room : n;

    b->total += n;
    if (take > sizeof(b->out) - b->outlen) {
        body_flush(b);
        if (take >= sizeof(b->out)) { /* large: straight into the hash */
            hash(b, p, take);
            return;
        }
    }
    memcpy(b->out + b->outlen, p, take);
    b->outlen += take;
}

/* dkim_body_update - a chunk of the body */
void dkim_body_update(struct dkim_body *b, const unsigned char *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c;

        /* the common case: nothing pending, a run of bytes that pass unchanged */
        if (!b->cr && !b->wsp && b->empty == 0) {
            size_t n = plain_run(b, p + i, len - i);

            if (n > 0) {
                body_run(b, p + i, n);
                b->content = true;
                i += n;
                continue;
            }
        }
        c = p[i++];
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

/* dkim_body_final - end of body: its hash */
bool dkim_body_final(struct dkim_body *b, unsigned char digest[DKIM_SHA256_LEN])
{
    unsigned int n = 0;

    if (b->cr) {
        b->cr = false;
        body_byte(b, '\r');
    }
    if (b->content) /* no CRLF at the end: one is added */
        body_eol(b);
    if (!b->relaxed && b->total == 0) { /* an empty simple body is one CRLF */
        body_put(b, '\r');
        body_put(b, '\n');
    }
    body_flush(b);
    hash(b, NULL, 0); /* a cut at the very end */
    if (b->failed || EVP_DigestFinal_ex(b->md, digest, &n) != 1 || n != DKIM_SHA256_LEN) {
        b->failed = true;
        return false;
    }
    return true;
}

/* dkim_body_free - release the hash state */
void dkim_body_free(struct dkim_body *b)
{
    EVP_MD_CTX_free(b->md);
    b->md = NULL;
}

/* dkim_canon_header - append one header field in canonical form, no line end */
void dkim_canon_header(struct buf *out, const char *line, size_t len, bool relaxed)
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
