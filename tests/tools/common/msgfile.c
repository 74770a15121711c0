/*
 * msgfile.c - reading a message file for the test tools (pm-dkimsign,
 * pm-dkimverify): header fields as Postfix passes them to a milter, and
 * the body with CRLF line ends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgfile.h"
#include "util.h"

/* msgfile_read - the whole file; exits 1 (message prefixed with prog) on error */
char *msgfile_read(const char *prog, const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    struct buf b = BUF_INIT;
    char chunk[8192];
    size_t n;

    if (fp == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        exit(1);
    }
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_add(&b, chunk, n);
    fclose(fp);
    *len = b.len;
    return b.data ? buf_steal(&b) : xstrdup("");
}

/* add_field - one header field "Name: value\n\tmore" (LF folds) as Postfix sends it */
static void add_field(struct message *m, const char *text, size_t len, bool leadspc)
{
    const char *colon = memchr(text, ':', len);
    size_t nlen;
    const char *v;

    if (colon == NULL)
        return;
    nlen = (size_t)(colon - text);
    while (nlen > 0 && (text[nlen - 1] == ' ' || text[nlen - 1] == '\t'))
        nlen--;
    v = colon + 1;
    if (!leadspc && v < text + len && *v == ' ')
        v++;
    m->f = xrealloc(m->f, (m->nf + 1) * sizeof(*m->f));
    m->f[m->nf].name = xstrndup(text, nlen);
    m->f[m->nf].value = xstrndup(v, (size_t)(text + len - v));
    m->nf++;
}

/* msgfile_parse - split a message file into fields, the header text and a CRLF body */
void msgfile_parse(const char *data, size_t len, bool leadspc, struct message *m)
{
    struct buf field = BUF_INIT;
    size_t i = 0;

    memset(m, 0, sizeof(*m));
    while (i < len) { /* header lines */
        size_t end = i, next;

        while (end < len && data[end] != '\n')
            end++;
        next = end < len ? end + 1 : end;
        if (end > i && data[end - 1] == '\r')
            end--;
        if (end == i) { /* the empty line */
            i = next;
            break;
        }
        buf_add(&m->header, data + i, end - i);
        buf_puts(&m->header, "\r\n");
        if ((data[i] == ' ' || data[i] == '\t') && field.len > 0) {
            buf_putc(&field, '\n');
        } else if (field.len > 0) {
            add_field(m, field.data, field.len, leadspc);
            buf_reset(&field);
        }
        buf_add(&field, data + i, end - i);
        i = next;
    }
    if (field.len > 0)
        add_field(m, field.data, field.len, leadspc);
    buf_free(&field);
    buf_puts(&m->header, "\r\n");
    while (i < len) { /* body lines, CRLF */
        size_t end = i, next;
        bool eol;

        while (end < len && data[end] != '\n')
            end++;
        eol = end < len;
        next = eol ? end + 1 : end;
        if (end > i && data[end - 1] == '\r')
            end--;
        buf_add(&m->body, data + i, end - i);
        if (eol)
            buf_puts(&m->body, "\r\n");
        i = next;
    }
}

/* msgfile_free - free what msgfile_parse() filled in */
void msgfile_free(struct message *m)
{
    for (size_t i = 0; i < m->nf; i++) {
        free(m->f[i].name);
        free(m->f[i].value);
    }
    free(m->f);
    buf_free(&m->header);
    buf_free(&m->body);
    memset(m, 0, sizeof(*m));
}
