/*
 * html.c - where the tracking pixel goes in an HTML body, and the tag.
 *
 * A plain text scan, not an HTML parser: it must never move, change or
 * drop a byte of the HTML; it only picks one offset. "The last </body>"
 * means the last one outside comments, <script> and <style>: a
 * "</body>" in a comment or in a script string after the real end tag
 * is not taken.
 */
#include <string.h>

#include "pixel_int.h"

/* pixel_lc - ASCII lower case of one byte */
static int pixel_lc(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* pixel_at_nocase - s[i..] starts with word (ASCII case-insensitive) */
static bool pixel_at_nocase(const char *s, size_t n, size_t i, const char *word)
{
    size_t wl = strlen(word);

    if (n - i < wl)
        return false;
    for (size_t k = 0; k < wl; k++)
        if (pixel_lc((unsigned char)s[i + k]) != word[k])
            return false;
    return true;
}

/* pixel_tag_end - s[i] ends a tag name: '>', '/' or white space (false at the end) */
static bool pixel_tag_end(const char *s, size_t n, size_t i)
{
    return i < n && (s[i] == '>' || s[i] == '/' || s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
                     s[i] == '\n' || s[i] == '\f');
}

/* pixel_at_tag - s[i..] is "<name" or "</name" (pfx "<" or "</") followed by a tag end */
static bool pixel_at_tag(const char *s, size_t n, size_t i, const char *pfx, const char *name)
{
    size_t pl = strlen(pfx);

    return pixel_at_nocase(s, n, i, pfx) && pixel_at_nocase(s, n, i + pl, name) &&
           pixel_tag_end(s, n, i + pl + strlen(name));
}

/* pixel_find_nocase - first offset >= i where word starts, or n */
static size_t pixel_find_nocase(const char *s, size_t n, size_t i, const char *word)
{
    for (; i < n; i++)
        if (pixel_at_nocase(s, n, i, word))
            return i;
    return n;
}

size_t pixel_html_insert_point(const char *s, size_t n)
{
    size_t last_body = n + 1, last_html = n + 1;
    size_t i = 0;

    while (i < n) {
        if (s[i] != '<') {
            i++;
            continue;
        }
        if (pixel_at_nocase(s, n, i, "<!--")) {
            size_t e = pixel_find_nocase(s, n, i + 4, "-->");
            i = e == n ? n : e + 3;
        } else if (pixel_at_tag(s, n, i, "<", "script")) {
            i = pixel_find_nocase(s, n, i + 7, "</script");
        } else if (pixel_at_tag(s, n, i, "<", "style")) {
            i = pixel_find_nocase(s, n, i + 6, "</style");
        } else {
            if (pixel_at_tag(s, n, i, "</", "body"))
                last_body = i;
            else if (pixel_at_tag(s, n, i, "</", "html"))
                last_html = i;
            i++;
        }
    }
    if (last_body <= n)
        return last_body;
    if (last_html <= n)
        return last_html;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return n;
}

void pixel_tag(const char *url, struct buf *b)
{
    buf_puts(b, "<img src=\"");
    buf_puts(b, url);
    buf_puts(b, "\" width=\"1\" height=\"1\" alt=\"\" "
                "style=\"display:block;border:0;width:1px;height:1px\">");
}
