/*
 * inject.c - the MIME walk of the pixel engine: find the rendered
 * text/html parts of a message by their byte ranges in the original, and
 * splice re-encoded bodies into a copy of it.
 *
 * Why splice and not reserialize: GMime (like any MIME library) rewrites
 * what it serializes (header folding, boundaries, line ends, the
 * encoding of untouched parts), and a message must come out byte for
 * byte the same outside the part we change. So the walk is our own and
 * strict (a delimiter is "--boundary" plus optional "--" and white space
 * on a line of its own; a missing boundary or closing delimiter, a
 * header line without a colon or broken base64 pass the message on
 * unchanged), and GMime is used where it is good and harmless: parsing
 * Content-Type and Content-Disposition values (parameters, RFC 2231), in
 * mime.c with the header-block reader. codec.c has the transfer
 * encodings, html.c the insertion point.
 *
 * Must never: change a byte outside the modified bodies and their
 * Content-Transfer-Encoding field, touch a signed or encrypted message
 * (S/MIME, PGP/MIME or inline PGP in any text part), a message/rfc822
 * part's inside, an attachment, or DKIM- or ARC-signed mail.
 *
 * UTF-16 HTML parts in base64 get the tag in UTF-16, in the part's byte
 * order (BOM, else the charset name, else big endian). UTF-32 and UTF-7
 * parts, UTF-16 parts in any other transfer encoding (quoted-printable
 * would turn the 0x0A octets of UTF-16 text into line ends) and parts in other
 * transfer encodings (x-uuencode, ...) are left alone and counted in
 * skipped_parts with a reason.
 */
#include <string.h>

#include "inject.h"
#include "log.h"
#include "pixel_int.h"
#include "util.h"

#define PIXEL_MAX_DEPTH 32
#define PIXEL_MAX_LINE  998

/* one replacement of in[start..end) */
struct pixel_edit {
    size_t start, end;
    struct buf text;
};

/* the walk over one message */
struct pixel_walk {
    const char *in;
    size_t len;
    const char *eol;
    const char *url;
    struct pixel_edit *edits;
    size_t nedits, cap;
    bool malformed, is_signed, is_encrypted;
    const char *signed_why, *encrypted_why; /* inline PGP: the report's reason */
    struct pixel_report *rep;
};

bool pixel_url_ok(const char *url)
{
    size_t n = strlen(url);

    if (n == 0 || n > PIXEL_URL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 32 || c >= 127 || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`')
            return false;
    }
    return true;
}

/* pixel_note - keep the first reason the report gets */
static void pixel_note(struct pixel_walk *w, const char *why)
{
    if (w->rep->reason[0] == '\0')
        (void)strlcpy_ok(w->rep->reason, why, sizeof(w->rep->reason));
}

/* pixel_malformed - mark the message as not understood */
static void pixel_malformed(struct pixel_walk *w, const char *why)
{
    w->malformed = true;
    pixel_note(w, why);
}

/* pixel_edit_add - replace in[start..end) by text (takes ownership of text) */
static void pixel_edit_add(struct pixel_walk *w, size_t start, size_t end, struct buf *text)
{
    if (w->nedits == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->edits = xrealloc(w->edits, w->cap * sizeof(*w->edits));
    }
    w->edits[w->nedits].start = start;
    w->edits[w->nedits].end = end;
    w->edits[w->nedits].text = *text;
    w->nedits++;
    *text = (struct buf)BUF_INIT;
}

/* pixel_eol_run - start of the run of line ends at the end of in[p..e) */
static size_t pixel_eol_run(const char *in, size_t p, size_t e)
{
    while (e > p && (in[e - 1] == '\n' || in[e - 1] == '\r'))
        e--;
    return e;
}

enum pixel_cte { PIXEL_CTE_IDENT, PIXEL_CTE_QP, PIXEL_CTE_B64, PIXEL_CTE_OTHER };

/* pixel_cte_kind - classify a Content-Transfer-Encoding value */
static enum pixel_cte pixel_cte_kind(const char *v)
{
    if (v == NULL || v[0] == '\0' || str_eq_nocase(v, "7bit") || str_eq_nocase(v, "8bit") ||
        str_eq_nocase(v, "binary"))
        return PIXEL_CTE_IDENT;
    if (str_eq_nocase(v, "quoted-printable"))
        return PIXEL_CTE_QP;
    if (str_eq_nocase(v, "base64"))
        return PIXEL_CTE_B64;
    return PIXEL_CTE_OTHER;
}

/* pixel_utf16_narrow - UTF-16 text s[0..n) one byte a code unit: ASCII as
 * itself, anything else 0x80 (big: big endian); caller frees */
static char *pixel_utf16_narrow(const char *s, size_t n, bool big)
{
    char *narrow = xmalloc(n / 2 + 1);

    for (size_t i = 0; i < n / 2; i++) {
        unsigned hi = (unsigned char)s[2 * i + (big ? 0 : 1)];
        unsigned lo = (unsigned char)s[2 * i + (big ? 1 : 0)];
        narrow[i] = hi == 0 && lo < 0x80 ? (char)lo : (char)0x80;
    }
    narrow[n / 2] = '\0';
    return narrow;
}

/* pixel_utf16_point - insertion byte offset in UTF-16 text s[0..n), n even (big: big endian) */
static size_t pixel_utf16_point(const char *s, size_t n, bool big)
{
    char *narrow = pixel_utf16_narrow(s, n, big);
    size_t ip = pixel_html_insert_point(narrow, n / 2);

    free(narrow);
    return ip * 2;
}

/* pixel_utf16_big - UTF-16 text s is big endian (BOM, then charset name, then big) */
static bool pixel_utf16_big(const char *s, size_t n, const char *charset)
{
    if (n >= 2 && (unsigned char)s[0] == 0xFF && (unsigned char)s[1] == 0xFE)
        return false;
    if (n >= 2 && (unsigned char)s[0] == 0xFE && (unsigned char)s[1] == 0xFF)
        return true;
    return strstr(charset, "le") == NULL;
}

/* pixel_html_part - inject into the text/html body in[h->body..lim) */
static void pixel_html_part(struct pixel_walk *w, const struct pixel_hdr *h, size_t lim,
                            const char *charset)
{
    enum pixel_cte kind = pixel_cte_kind(h->cte);
    const char *cs = charset ? charset : "us-ascii";
    bool utf16 =
        strncmp(cs, "utf-16", 6) == 0 || strncmp(cs, "ucs-2", 5) == 0 || strcmp(cs, "unicode") == 0;
    size_t core_end, ip;
    struct buf content = BUF_INIT, tag = BUF_INIT, body = BUF_INIT, hdr = BUF_INIT;
    bool to_qp = false;

    if (strncmp(cs, "utf-32", 6) == 0 || strncmp(cs, "ucs-4", 5) == 0 || strcmp(cs, "utf-7") == 0) {
        w->rep->skipped_parts++;
        pixel_note(w, "HTML part in UTF-32/UTF-7 left alone");
        return;
    }
    if (kind == PIXEL_CTE_OTHER || (utf16 && kind != PIXEL_CTE_B64)) {
        w->rep->skipped_parts++;
        pixel_note(w, utf16 ? "UTF-16 HTML part not in base64 left alone"
                            : "HTML part in an unknown transfer encoding left alone");
        return;
    }
    if (!h->blank) {
        w->rep->skipped_parts++;
        pixel_note(w, "HTML part without a body left alone");
        return;
    }
    core_end = kind == PIXEL_CTE_IDENT ? lim : pixel_eol_run(w->in, h->body, lim);
    if (kind == PIXEL_CTE_B64) {
        if (!pixel_b64_decode(w->in + h->body, core_end - h->body, &content)) {
            pixel_malformed(w, "broken or truncated base64 in an HTML part");
            buf_free(&content);
            return;
        }
    } else if (kind == PIXEL_CTE_QP) {
        pixel_qp_decode(w->in + h->body, core_end - h->body, &content);
    } else {
        buf_add(&content, w->in + h->body, lim - h->body);
    }
    buf_reserve(&content, 1); /* an empty part still has content.data: offsets below */
    if (utf16) {
        bool big = pixel_utf16_big(content.data, content.len, cs);
        struct buf narrow = BUF_INIT;

        if (content.len % 2 != 0) {
            w->rep->skipped_parts++;
            pixel_note(w, "UTF-16 HTML part of odd length left alone");
            buf_free(&content);
            return;
        }
        ip = pixel_utf16_point(buf_cstr(&content), content.len, big);
        pixel_tag(w->url, &narrow);
        for (size_t i = 0; i < narrow.len; i++) {
            buf_putc(&tag, big ? 0 : narrow.data[i]);
            buf_putc(&tag, big ? narrow.data[i] : 0);
        }
        buf_free(&narrow);
    } else {
        ip = pixel_html_insert_point(buf_cstr(&content), content.len);
        pixel_tag(w->url, &tag);
    }
    /* content becomes content[0..ip) + tag + content[ip..) */
    buf_add(&body, content.data, ip);
    buf_add(&body, tag.data, tag.len);
    buf_add(&body, content.data + ip, content.len - ip);
    buf_reset(&content);
    buf_add(&content, body.data, body.len);
    buf_reset(&body);

    if (kind == PIXEL_CTE_IDENT && pixel_max_line(content.data, content.len) > PIXEL_MAX_LINE)
        to_qp = true;
    if (kind == PIXEL_CTE_B64) {
        pixel_b64_encode(content.data, content.len, w->eol, &body);
    } else if (kind == PIXEL_CTE_QP || to_qp) {
        size_t ce = to_qp ? pixel_eol_run(content.data, 0, content.len) : content.len;

        /* The line ends after the HTML stay as they were, unless a run of
         * bare CRs would make one line of them: then they are encoded too. */
        for (size_t i = ce; i < content.len; i++)
            if (content.data[i] == '\r' && (i + 1 == content.len || content.data[i + 1] != '\n')) {
                ce = content.len;
                break;
            }
        pixel_qp_encode(content.data, ce, w->eol, &body);
        if (to_qp)
            buf_add(&body, content.data + ce, content.len - ce);
    } else {
        buf_add(&body, content.data, content.len);
    }
    if (kind != PIXEL_CTE_IDENT)
        buf_add(&body, w->in + core_end, lim - core_end);
    if (to_qp) {
        buf_puts(&hdr, "Content-Transfer-Encoding: quoted-printable");
        if (h->cte != NULL) {
            pixel_edit_add(w, h->cte_start, h->cte_end, &hdr);
        } else {
            buf_puts(&hdr, w->eol);
            pixel_edit_add(w, h->end, h->end, &hdr);
        }
    }
    pixel_edit_add(w, h->body, lim, &body);
    w->rep->parts++;
    buf_free(&content);
    buf_free(&tag);
    buf_free(&hdr);
}

/*
 * pixel_inline_pgp - mark the walk signed or encrypted when the text body
 * in[h->body..lim) (decoded per its transfer encoding, UTF-16 narrowed)
 * holds inline OpenPGP armor anywhere: a clearsigned text or an armored
 * message. Anywhere, not only at a line start, because an HTML body may
 * have it after <pre>; a text that merely quotes the marker gets no pixel,
 * which is the safe side. One linear pass over the decoded body.
 */
static void pixel_inline_pgp(struct pixel_walk *w, const struct pixel_hdr *h, size_t lim,
                             const char *charset)
{
    static const char sig[] = "-----BEGIN PGP SIGNED MESSAGE-----",
                      msg[] = "-----BEGIN PGP MESSAGE-----";
    enum pixel_cte kind = pixel_cte_kind(h->cte);
    const char *cs = charset ? charset : "us-ascii";
    struct buf content = BUF_INIT;
    const char *s = w->in + h->body;
    size_t n = lim - h->body;
    char *narrow = NULL;

    if (!h->blank)
        return;
    if (kind == PIXEL_CTE_B64 &&
        pixel_b64_decode(s, pixel_eol_run(w->in, h->body, lim) - h->body, &content)) {
        s = buf_cstr(&content);
        n = content.len;
    } else if (kind == PIXEL_CTE_QP) {
        pixel_qp_decode(s, n, &content);
        s = buf_cstr(&content);
        n = content.len;
    }
    if (strncmp(cs, "utf-16", 6) == 0 || strncmp(cs, "ucs-2", 5) == 0 ||
        strcmp(cs, "unicode") == 0) {
        narrow = pixel_utf16_narrow(s, n, pixel_utf16_big(s, n, cs));
        s = narrow;
        n /= 2;
    }
    if (memmem(s, n, sig, sizeof(sig) - 1) != NULL) {
        w->is_signed = true;
        w->signed_why = "inline PGP signature in a text part";
    } else if (memmem(s, n, msg, sizeof(msg) - 1) != NULL) {
        w->is_encrypted = true;
        w->encrypted_why = "inline PGP message in a text part";
    }
    free(narrow);
    buf_free(&content);
}

static void pixel_entity(struct pixel_walk *w, size_t start, size_t lim, int depth, bool render);

/* pixel_cid_eq - Content-ID cid names the start parameter (angle brackets optional) */
static bool pixel_cid_eq(const char *cid, const char *start)
{
    size_t cl, sl;

    if (cid == NULL)
        return false;
    if (*cid == '<')
        cid++;
    if (*start == '<')
        start++;
    cl = strcspn(cid, ">");
    sl = strcspn(start, ">");
    return cl == sl && strncmp(cid, start, cl) == 0;
}

/* pixel_multipart - walk the parts of a multipart body in[body..lim) */
static void pixel_multipart(struct pixel_walk *w, size_t body, size_t lim,
                            const struct pixel_ctype *ct, int depth, bool render)
{
    size_t bl = strlen(ct->boundary), p = body, part_start = 0, nparts = 0, cap = 0, root = 0;
    size_t(*parts)[2] = NULL;
    bool first = false, closed = false, related = strcmp(ct->subtype, "related") == 0;

    if (bl == 0 || bl > 200) {
        pixel_malformed(w, "multipart boundary empty or too long");
        return;
    }
    while (p < lim && !closed) {
        size_t ce, next = pixel_line(w->in, p, lim, &ce), r;
        bool close = false, delim;

        if (ce - p < 2 + bl || w->in[p] != '-' || w->in[p + 1] != '-' ||
            memcmp(w->in + p + 2, ct->boundary, bl) != 0) {
            p = next;
            continue;
        }
        r = p + 2 + bl;
        if (ce - r >= 2 && w->in[r] == '-' && w->in[r + 1] == '-') {
            close = true;
            r += 2;
        }
        delim = true;
        for (; r < ce; r++)
            if (w->in[r] != ' ' && w->in[r] != '\t')
                delim = false;
        if (!delim) {
            p = next;
            continue;
        }
        if (first) {
            size_t end = p;
            if (end > part_start && w->in[end - 1] == '\n')
                end--;
            if (end > part_start && w->in[end - 1] == '\r')
                end--;
            if (nparts == cap) {
                cap = cap ? cap * 2 : 8;
                parts = xrealloc(parts, cap * sizeof(*parts));
            }
            parts[nparts][0] = part_start;
            parts[nparts][1] = end;
            nparts++;
        }
        first = true;
        closed = close;
        part_start = next;
        p = next;
    }
    if (!first)
        pixel_malformed(w, "multipart without its boundary");
    else if (!closed)
        pixel_malformed(w, "multipart without a closing delimiter");
    else if (nparts == 0)
        pixel_malformed(w, "multipart without parts");
    if (w->malformed) {
        free(parts);
        return;
    }
    if (related && ct->start != NULL) {
        for (size_t i = 0; i < nparts; i++) {
            struct pixel_hdr h;
            bool hit;
            pixel_hdr_parse(w->in, parts[i][0], parts[i][1], &h);
            hit = pixel_cid_eq(h.cid, ct->start);
            pixel_hdr_free(&h);
            if (hit) {
                root = i;
                break;
            }
        }
    }
    for (size_t i = 0; i < nparts && !w->malformed; i++)
        pixel_entity(w, parts[i][0], parts[i][1], depth + 1, render && (!related || i == root));
    free(parts);
}

/* pixel_entity - walk the entity in[start..lim) (render: a text/html here is shown as a body) */
static void pixel_entity(struct pixel_walk *w, size_t start, size_t lim, int depth, bool render)
{
    struct pixel_hdr h;
    struct pixel_ctype ct;

    if (depth > PIXEL_MAX_DEPTH) {
        pixel_malformed(w, "MIME nesting too deep");
        return;
    }
    pixel_hdr_parse(w->in, start, lim, &h);
    if (h.bad) {
        pixel_malformed(w, "a part header line is not a field");
        pixel_hdr_free(&h);
        return;
    }
    pixel_ctype_parse(h.ctype, &ct);
    if (strcmp(ct.type, "multipart") == 0) {
        if (strcmp(ct.subtype, "signed") == 0)
            w->is_signed = true;
        else if (strcmp(ct.subtype, "encrypted") == 0)
            w->is_encrypted = true;
        else if (ct.boundary == NULL)
            pixel_malformed(w, "multipart without a boundary parameter");
        else
            pixel_multipart(w, h.body, lim, &ct, depth, render);
    } else if (strcmp(ct.type, "application") == 0 &&
               (strcmp(ct.subtype, "pkcs7-mime") == 0 || strcmp(ct.subtype, "x-pkcs7-mime") == 0)) {
        if (ct.smime != NULL && strcmp(ct.smime, "signed-data") == 0)
            w->is_signed = true;
        else
            w->is_encrypted = true;
    } else if (strcmp(ct.type, "text") == 0 &&
               (strcmp(ct.subtype, "html") == 0 || strcmp(ct.subtype, "plain") == 0) &&
               !pixel_is_attachment(h.cdisp)) {
        pixel_inline_pgp(w, &h, lim, ct.charset);
        if (strcmp(ct.subtype, "html") == 0 && render)
            pixel_html_part(w, &h, lim, ct.charset);
    }
    /* message/rfc822 and every other leaf: never looked into */
    pixel_ctype_free(&ct);
    pixel_hdr_free(&h);
}

/* pixel_splice - append in with the walk's edits applied to out */
static void pixel_splice(const struct pixel_walk *w, struct buf *out)
{
    size_t p = 0;

    for (size_t i = 0; i < w->nedits; i++) {
        const struct pixel_edit *e = &w->edits[i];
        if (e->start < p)
            bug("pixel: overlapping edits at %zu", e->start);
        buf_add(out, w->in + p, e->start - p);
        buf_add(out, e->text.data, e->text.len);
        p = e->end;
    }
    buf_add(out, w->in + p, w->len - p);
}

enum pixel_outcome pixel_inject(const char *in, size_t len, const char *img_url, struct buf *out,
                                struct pixel_report *rep)
{
    struct pixel_walk w;
    struct pixel_hdr top;
    const char *nl, *why;

    memset(rep, 0, sizeof(*rep));
    if (!pixel_url_ok(img_url))
        return rep->outcome = PIXEL_BAD_URL;
    if (len == 0)
        return rep->outcome = PIXEL_NOT_MESSAGE;
    pixel_mime_init();
    memset(&w, 0, sizeof(w));
    w.in = in;
    w.len = len;
    w.url = img_url;
    w.rep = rep;
    nl = memchr(in, '\n', len);
    w.eol = nl != NULL && nl > in && nl[-1] == '\r' ? "\r\n" : "\n";

    pixel_hdr_parse(in, 0, len, &top);
    if ((top.bad && top.bad_at == 0) || top.end == 0) { /* no header field at all */
        pixel_hdr_free(&top);
        return rep->outcome = PIXEL_NOT_MESSAGE;
    }
    if (top.dkim) {
        rep->outcome = PIXEL_SKIPPED_FOREIGN_DKIM;
    } else if (top.arc) {
        rep->outcome = PIXEL_SKIPPED_FOREIGN_ARC;
    } else {
        pixel_entity(&w, 0, len, 0, true);
        if (w.malformed)
            rep->outcome = PIXEL_MALFORMED_PASSTHROUGH;
        else if (w.is_signed)
            rep->outcome = PIXEL_SKIPPED_SIGNED;
        else if (w.is_encrypted)
            rep->outcome = PIXEL_SKIPPED_ENCRYPTED;
        else if (rep->parts > 0)
            rep->outcome = PIXEL_INJECTED;
        else
            rep->outcome = PIXEL_NO_HTML;
        why = rep->outcome == PIXEL_SKIPPED_SIGNED      ? w.signed_why
              : rep->outcome == PIXEL_SKIPPED_ENCRYPTED ? w.encrypted_why
                                                        : NULL;
        if (why != NULL) /* this reason, not a skipped part's */
            (void)strlcpy_ok(rep->reason, why, sizeof(rep->reason));
    }
    pixel_hdr_free(&top);
    if (rep->outcome == PIXEL_INJECTED) {
        pixel_splice(&w, out);
    } else {
        rep->parts = 0;
        buf_add(out, in, len);
    }
    for (size_t i = 0; i < w.nedits; i++)
        buf_free(&w.edits[i].text);
    free(w.edits);
    return rep->outcome;
}
