/*
 * pixel_int.h - internals of the pixel engine shared by inject.c and the
 * unit tests: the HTML insertion point, the pixel tag, and the transfer
 * encodings. Not for code outside pixelfilter/ and its tests.
 */
#ifndef POSTMETER_PIXEL_INT_H
#define POSTMETER_PIXEL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * pixel_html_insert_point - where the tag goes in HTML text s[0..n): the
 * offset of the '<' of the last "</body" tag, else of the last "</html"
 * tag, else n minus trailing white space. Text inside <!-- comments -->
 * and inside <script> and <style> elements is not looked at (an
 * unterminated comment or script runs to the end). Works on any
 * ASCII-compatible charset (UTF-8, ISO-8859-x, Shift_JIS, ...).
 */
size_t pixel_html_insert_point(const char *s, size_t n);

/* pixel_tag - append the <img> tag for url to b */
void pixel_tag(const char *url, struct buf *b);

/* pixel_b64_decode - append the decoded s[0..n) to out; false if not strict base64 (bad
 * character, data after padding, length not a multiple of 4: truncated) */
bool pixel_b64_decode(const char *s, size_t n, struct buf *out);
/* pixel_b64_encode - append base64 of s[0..n), 76 characters a line, lines joined by eol, no
 * line end after the last line */
void pixel_b64_encode(const char *s, size_t n, const char *eol, struct buf *out);
/* pixel_qp_decode - append the quoted-printable decoding of s[0..n) to out: hard line ends are
 * copied as they are, trailing white space on a line is dropped (RFC 2045 6.7), a lone '=' is
 * kept */
void pixel_qp_decode(const char *s, size_t n, struct buf *out);
/* pixel_qp_encode - append quoted-printable of text s[0..n) to out: "\n" or "\r\n" in s are hard
 * line breaks written as eol, lines at most 76 octets, no line end after the last line unless s
 * ends with one */
void pixel_qp_encode(const char *s, size_t n, const char *eol, struct buf *out);
/* pixel_max_line - length of the longest line of s[0..n), line ends not counted */
size_t pixel_max_line(const char *s, size_t n);

/* one entity's header block and the fields the walk needs (values unfolded, caller frees) */
struct pixel_hdr {
    size_t end;       /* end of the last header line, line end included */
    size_t body;      /* first byte of the body */
    bool blank;       /* a blank line separates header and body */
    bool bad;         /* a line that is neither a field nor a continuation */
    size_t bad_at;    /* where */
    size_t cte_start; /* the Content-Transfer-Encoding field, without its final line end */
    size_t cte_end;
    char *ctype, *cte, *cdisp, *cid;
    bool dkim; /* a DKIM-Signature field is there */
    bool arc;  /* an ARC-Seal or ARC-Message-Signature field is there */
};

/* what the walk needs from a Content-Type value (lower case but boundary and start) */
struct pixel_ctype {
    char *type, *subtype, *boundary, *charset, *start, *smime;
};

/* pixel_mime_init - initialise GMime once per process (thread safe) */
void pixel_mime_init(void);
/* pixel_line - the line at in[p] (below lim): *ce = end of its content (before CR LF / LF),
 * returns where the next line starts */
size_t pixel_line(const char *in, size_t p, size_t lim, size_t *ce);
/* pixel_hdr_parse - read the header block at in[p..lim) into h (h->bad on a broken line);
 * release with pixel_hdr_free() */
void pixel_hdr_parse(const char *in, size_t p, size_t lim, struct pixel_hdr *h);
/* pixel_hdr_free - release the field values of h */
void pixel_hdr_free(struct pixel_hdr *h);
/* pixel_ctype_parse - parse a Content-Type value with GMime (NULL: text/plain); release with
 * pixel_ctype_free() */
void pixel_ctype_parse(const char *value, struct pixel_ctype *c);
/* pixel_ctype_free - release a parsed Content-Type */
void pixel_ctype_free(struct pixel_ctype *c);
/* pixel_is_attachment - a Content-Disposition value (NULL: none) says attachment */
bool pixel_is_attachment(const char *value);

#endif
