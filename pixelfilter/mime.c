/*
 * mime.c - header blocks of MIME entities for the pixel engine: where a
 * block ends and its body starts, the few fields the walk needs
 * (unfolded), and Content-Type / Content-Disposition values parsed with
 * GMime.
 *
 * Must never: change or copy out anything but those field values; it
 * only reads the message. GMime objects live only inside one call here
 * (created and unreferenced in the same function), so nothing of GLib
 * leaks into the rest of postmeter.
 */
#include <gmime/gmime.h>
#include <pthread.h>
#include <string.h>

#include "inject.h"
#include "pixel_int.h"
#include "util.h"

static pthread_once_t pixel_once = PTHREAD_ONCE_INIT;

/* pixel_gmime_init - g_mime_init(), run once */
static void pixel_gmime_init(void)
{
    g_mime_init();
}

void pixel_mime_init(void)
{
    pthread_once(&pixel_once, pixel_gmime_init);
}

void pixel_shutdown(void)
{
    g_mime_shutdown();
}

/* pixel_line - the line at p (below lim): *ce = end of its content, returns the next line */
size_t pixel_line(const char *in, size_t p, size_t lim, size_t *ce)
{
    const char *nl = memchr(in + p, '\n', lim - p);

    if (nl == NULL) {
        *ce = lim;
        return lim;
    }
    *ce = (size_t)(nl - in);
    if (*ce > p && in[*ce - 1] == '\r')
        (*ce)--;
    return (size_t)(nl - in) + 1;
}

/* pixel_unfold - the field value in[p..e) without line ends, trimmed; caller frees */
static char *pixel_unfold(const char *in, size_t p, size_t e)
{
    struct buf b = BUF_INIT;

    for (size_t i = p; i < e; i++)
        if (in[i] != '\r' && in[i] != '\n')
            buf_putc(&b, in[i]);
    buf_putc(&b, 0); /* an empty value still gets a string */
    return str_trim(buf_steal(&b));
}

/* pixel_hdr_field - record one field in[fs..fe) whose colon is at colon */
static void pixel_hdr_field(const char *in, size_t fs, size_t colon, size_t fe, struct pixel_hdr *h)
{
    size_t ne = colon;
    char name[32];

    while (ne > fs && (in[ne - 1] == ' ' || in[ne - 1] == '\t'))
        ne--;
    if (ne - fs >= sizeof(name))
        return;
    memcpy(name, in + fs, ne - fs);
    name[ne - fs] = '\0';
    if (str_eq_nocase(name, "Content-Type") && h->ctype == NULL) {
        h->ctype = pixel_unfold(in, colon + 1, fe);
    } else if (str_eq_nocase(name, "Content-Transfer-Encoding") && h->cte == NULL) {
        h->cte = pixel_unfold(in, colon + 1, fe);
        h->cte_start = fs;
        h->cte_end = fe;
    } else if (str_eq_nocase(name, "Content-Disposition") && h->cdisp == NULL) {
        h->cdisp = pixel_unfold(in, colon + 1, fe);
    } else if (str_eq_nocase(name, "Content-ID") && h->cid == NULL) {
        h->cid = pixel_unfold(in, colon + 1, fe);
    } else if (str_eq_nocase(name, "DKIM-Signature")) {
        h->dkim = true;
    } else if (str_eq_nocase(name, "ARC-Seal") || str_eq_nocase(name, "ARC-Message-Signature")) {
        h->arc = true;
    }
}

/* pixel_field_name_ok - s..colon is a field name: printable ASCII without white space, then
 * optional white space (RFC 5322 obsolete syntax) */
static bool pixel_field_name_ok(const char *s, const char *colon)
{
    const char *e = colon;

    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (e == s)
        return false;
    for (; s < e; s++)
        if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127)
            return false;
    return true;
}

/* pixel_hdr_parse - read the header block at in[p..lim) into h (h->bad on a broken line) */
void pixel_hdr_parse(const char *in, size_t p, size_t lim, struct pixel_hdr *h)
{
    size_t fs = 0, colon = 0, fe = 0;
    bool open = false;

    memset(h, 0, sizeof(*h));
    while (p < lim) {
        size_t ce, next = pixel_line(in, p, lim, &ce);

        if (ce == p && next > p) { /* blank line */
            h->end = p;
            h->body = next;
            h->blank = true;
            break;
        }
        if (in[p] == ' ' || in[p] == '\t') {
            if (!open) {
                h->bad = true;
                h->bad_at = p;
                break;
            }
            fe = ce;
        } else {
            const char *c = memchr(in + p, ':', ce - p);
            if (open)
                pixel_hdr_field(in, fs, colon, fe, h);
            open = false;
            if (c == NULL || c == in + p) {
                h->bad = true;
                h->bad_at = p;
                break;
            }
            if (!pixel_field_name_ok(in + p, c)) {
                h->bad = true;
                h->bad_at = p;
                break;
            }
            if (h->bad)
                break;
            fs = p;
            colon = (size_t)(c - in);
            fe = ce;
            open = true;
        }
        p = next;
    }
    if (open)
        pixel_hdr_field(in, fs, colon, fe, h);
    if (!h->blank) {
        h->end = p < lim ? p : lim;
        h->body = h->end;
    }
}

/* pixel_hdr_free - release the field values */
void pixel_hdr_free(struct pixel_hdr *h)
{
    h->ctype = xfree(h->ctype);
    h->cte = xfree(h->cte);
    h->cdisp = xfree(h->cdisp);
    h->cid = xfree(h->cid);
}

/* pixel_param - a copy of parameter name of ct, or NULL */
static char *pixel_param(GMimeContentType *ct, const char *name)
{
    const char *v = g_mime_content_type_get_parameter(ct, name);
    return v ? xstrdup(v) : NULL;
}

/* pixel_ctype_parse - parse value with GMime (NULL: text/plain) */
void pixel_ctype_parse(const char *value, struct pixel_ctype *c)
{
    GMimeContentType *ct;

    memset(c, 0, sizeof(*c));
    if (value == NULL) {
        c->type = xstrdup("text");
        c->subtype = xstrdup("plain");
        return;
    }
    ct = g_mime_content_type_parse(NULL, value);
    c->type = str_lower(xstrdup(g_mime_content_type_get_media_type(ct)));
    c->subtype = str_lower(xstrdup(g_mime_content_type_get_media_subtype(ct)));
    c->boundary = pixel_param(ct, "boundary");
    c->charset = pixel_param(ct, "charset");
    if (c->charset)
        str_lower(c->charset);
    c->start = pixel_param(ct, "start");
    c->smime = pixel_param(ct, "smime-type");
    if (c->smime)
        str_lower(c->smime);
    g_object_unref(ct);
}

/* pixel_ctype_free - release a parsed Content-Type */
void pixel_ctype_free(struct pixel_ctype *c)
{
    c->type = xfree(c->type);
    c->subtype = xfree(c->subtype);
    c->boundary = xfree(c->boundary);
    c->charset = xfree(c->charset);
    c->start = xfree(c->start);
    c->smime = xfree(c->smime);
}

/* pixel_is_attachment - Content-Disposition says attachment */
bool pixel_is_attachment(const char *value)
{
    GMimeContentDisposition *d;
    bool att;

    if (value == NULL)
        return false;
    d = g_mime_content_disposition_parse(NULL, value);
    att = g_mime_content_disposition_is_attachment(d);
    g_object_unref(d);
    return att;
}
