/*
 * mailaddr.c - addresses out of envelope arguments and header fields.
 *
 * A small RFC 5322 scanner: comments (nested, with quoted-pairs) are
 * dropped, quoted strings are kept whole (so '<' or ',' inside quotes
 * never splits or opens an address), an angle-addr wins over the words
 * before it, and ',' and ';' separate mailboxes. It never looks up or
 * validates domains; it must never read past the value's end.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mailaddr.h"
#include "util.h"

/*
 * flush_mailbox - store the current mailbox if there is one. Outside
 * angle brackets only a word with an '@' is an address: "From: Just A
 * Name" has none (its last word is part of a display name).
 */
static void flush_mailbox(struct buf *words, struct buf *angle, bool had_angle, char **out,
                          size_t max, size_t *n)
{
    struct buf *src = had_angle ? angle : words;
    char *addr = xstrndup(buf_cstr(src), src->len);

    str_trim(addr);
    if (*addr && *n < max && (had_angle || strchr(addr, '@') != NULL))
        out[(*n)++] = addr;
    else
        free(addr);
    buf_reset(words);
    buf_reset(angle);
}

/* mailaddr_parse_list - addr-specs of a header value, in order */
size_t mailaddr_parse_list(const char *value, char **out, size_t max)
{
    struct buf words = BUF_INIT, angle = BUF_INIT;
    bool in_angle = false, had_angle = false, new_word = false;
    size_t n = 0;
    const char *p = value;

    while (*p) {
        unsigned char ch = (unsigned char)*p;

        if (ch == '(') { /* comment, possibly nested */
            int depth = 0;

            for (; *p; p++) {
                if (*p == '\\' && p[1])
                    p++;
                else if (*p == '(')
                    depth++;
                else if (*p == ')' && --depth == 0) {
                    p++;
                    break;
                }
            }
            continue;
        }
        if (ch == '"') { /* quoted string: kept whole */
            struct buf *dst = in_angle ? &angle : &words;

            if (!in_angle && new_word)
                buf_reset(&words);
            new_word = false;
            buf_putc(dst, '"');
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    buf_putc(dst, *p++);
                buf_putc(dst, *p);
            }
            if (*p == '"')
                p++;
            buf_putc(dst, '"');
            continue;
        }
        if (ch == '<' && !in_angle) {
            in_angle = had_angle = true;
            buf_reset(&angle);
        } else if (ch == '>' && in_angle) {
            in_angle = false;
        } else if (ch == ':' && !in_angle && !had_angle) {
            buf_reset(&words); /* group label */
        } else if ((ch == ',' || ch == ';') && !in_angle) {
            flush_mailbox(&words, &angle, had_angle, out, max, &n);
            had_angle = new_word = false;
        } else if (isspace(ch) && !in_angle) {
            new_word = true; /* only the last word can be a bare addr-spec */
        } else if (!isspace(ch)) {
            if (!in_angle && new_word)
                buf_reset(&words);
            new_word = false;
            buf_putc(in_angle ? &angle : &words, ch);
        }
        p++;
    }
    flush_mailbox(&words, &angle, had_angle, out, max, &n);
    buf_free(&words);
    buf_free(&angle);
    return n;
}

/* mailaddr_first - the first address of a header value */
char *mailaddr_first(const char *value)
{
    char *out[1];

    return mailaddr_parse_list(value, out, 1) ? out[0] : NULL;
}

/* mailaddr_envelope - the address of an envelope argument */
char *mailaddr_envelope(const char *arg)
{
    const char *start, *end;

    while (isspace((unsigned char)*arg))
        arg++;
    if (*arg == '<') {
        start = arg + 1;
        end = strchr(start, '>');
        if (end == NULL)
            end = start + strlen(start);
    } else {
        start = arg;
        for (end = start; *end && !isspace((unsigned char)*end); end++)
            ;
    }
    return xstrndup(start, (size_t)(end - start));
}
