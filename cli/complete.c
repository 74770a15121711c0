/*
 * complete.c - the lines of the hidden "postmeter help --complete": a
 * command's options and their values, read from the same usage text
 * --help prints (usage.c's table), for the bash completion
 * (packaging/bash-completion/postmeter), so the completion offers what
 * the help shows and cannot drift from it. Never parses a command line.
 *
 * One line per command: "NAME<TAB>SUB<TAB>OPTIONS", SUB "-" for a
 * command without subcommands; OPTIONS separated by spaces, each "--wide"
 * (a flag), "--since=" (takes a value) or "--format=table,csv,json" (takes
 * one of these). Option names are words that start with - or -- after a
 * space, '[', '|', ',' or '(' in the synopsis or the options text; an
 * option takes a value when an upper-case word (FILE) or a list
 * (table|csv) follows it; the values are that list, else the words of
 * its description in the options text ("table (default), csv or json").
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "complete.h"
#include "log.h"
#include "util.h"

#define COMPLETE_MAX_OPTS 64 /* options of one command; more is a bug of the table */

struct copt {
    char name[48];
    bool value;
    char choices[256]; /* "a,b,c"; empty: any value */
};

struct cset {
    struct copt o[COMPLETE_MAX_OPTS];
    size_t n;
};

/* opt_at - length of the option name starting at text[i], 0 if none starts there */
static size_t opt_at(const char *text, size_t i)
{
    const char *p = text + i;
    size_t n;

    if (p[0] != '-' || (i > 0 && strchr(" [|,(\n", text[i - 1]) == NULL))
        return 0;
    n = p[1] == '-' ? 2 : 1;
    if (!isalpha((unsigned char)p[n]))
        return 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '-')
        n++;
    return n;
}

/* cset_get - the entry of option name[0..len) in s, added if new */
static struct copt *cset_get(struct cset *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->o[i].name) == len && memcmp(s->o[i].name, name, len) == 0)
            return &s->o[i];
    if (s->n == COMPLETE_MAX_OPTS || len >= sizeof(s->o[0].name))
        bug("complete: option '%.*s' does not fit", (int)len, name);
    memset(&s->o[s->n], 0, sizeof(s->o[0]));
    memcpy(s->o[s->n].name, name, len);
    return &s->o[s->n++];
}

/* value_after - does the option ending at p take a value? Its "a|b" list into o->choices */
static void value_after(const char *p, struct copt *o)
{
    size_t n = 0;

    if (p[0] != ' ' || p[1] == '[' || p[1] == '-' || p[1] == '\0')
        return;
    p++;
    while (p[n] != '\0' && !strchr(" ]\n", p[n]))
        n++;
    if (memchr(p, '|', n) != NULL && islower((unsigned char)p[0])) {
        o->value = true;
        if (o->choices[0] == '\0' && n < sizeof(o->choices)) {
            memcpy(o->choices, p, n);
            o->choices[n] = '\0';
            for (char *c = o->choices; *c; c++)
                if (*c == '|')
                    *c = ',';
        }
    } else if (isupper((unsigned char)p[0])) {
        o->value = true;
    }
}

/* scan - every option named in text[0..len) into s, values as value_after() sees them */
static void scan(struct cset *s, const char *text, size_t len)
{
    struct buf b = BUF_INIT;

    buf_add(&b, text, len); /* a NUL-terminated copy: value_after() stops at the NUL */
    for (size_t i = 0; i < b.len; i++) {
        size_t n = opt_at(b.data, i);

        if (n == 0)
            continue;
        value_after(b.data + i + n, cset_get(s, b.data + i, n));
        i += n - 1;
    }
    buf_free(&b);
}

/* one_word - is w[0..n) (spaces trimmed) a single lower-case word? Trimmed bounds out */
static bool one_word(const char *w, size_t n, const char **start, size_t *len)
{
    while (n > 0 && *w == ' ')
        w++, n--;
    while (n > 0 && w[n - 1] == ' ')
        n--;
    *start = w;
    *len = n;
    if (n == 0 || !islower((unsigned char)w[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)w[i]) && !isdigit((unsigned char)w[i]) && w[i] != '-')
            return false;
    return true;
}

/*
 * desc_choices - the values a description lists: "table (default), csv,
 * json (an array) or ndjson; ..." gives "table,csv,json,ndjson" in out;
 * false unless it is at least two single words before any ';', ':' or '.'
 */
static bool desc_choices(const char *desc, char *out, size_t outlen)
{
    struct buf b = BUF_INIT, r = BUF_INIT;
    int depth = 0;
    size_t count = 0;
    bool good = true;

    for (const char *p = desc; *p && (depth > 0 || !strchr(";:.", *p)); p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')' && depth > 0)
            depth--;
        else if (depth == 0)
            buf_putc(&b, *p == '\n' ? ' ' : *p);
    }
    for (const char *p = buf_cstr(&b); good;) {
        size_t n = strcspn(p, ","), len;
        const char * or = strstr(p, " or "), *w;

        if (or != NULL && (size_t)(or -p) < n)
            n = (size_t)(or -p);
        if ((good = one_word(p, n, &w, &len)))
            buf_printf(&r, "%s%.*s", count++ ? "," : "", (int)len, w);
        if (p[n] == '\0')
            break;
        p += n + (p[n] == ',' ? 1 : 4);
    }
    good = good && count >= 2 && strlcpy_ok(out, buf_cstr(&r), outlen);
    buf_free(&b);
    buf_free(&r);
    return good;
}

/* scan_options - the options text: each "  -x, --opt V   description" line and its continuation */
static void scan_options(struct cset *s, const char *text)
{
    const char *line = text;

    while (*line) {
        const char *end = line + strcspn(line, "\n"), *col, *gap;
        struct buf desc = BUF_INIT;
        struct cset here = {.n = 0};

        if (strncmp(line, "  -", 3) != 0) { /* a line that continues no option line */
            line = *end ? end + 1 : end;
            continue;
        }
        col = line + 2;
        gap = strstr(col, "  ");
        if (gap == NULL || gap > end)
            gap = end;
        scan(&here, col, (size_t)(gap - col));
        buf_add(&desc, gap, (size_t)(end - gap));
        for (line = *end ? end + 1 : end; strncmp(line, "   ", 3) == 0;) {
            end = line + strcspn(line, "\n");
            buf_add(&desc, line, (size_t)(end - line));
            line = *end ? end + 1 : end;
        }
        for (size_t i = 0; i < here.n; i++) {
            struct copt *o = cset_get(s, here.o[i].name, strlen(here.o[i].name));

            o->value = o->value || here.o[i].value;
            if (o->choices[0] == '\0' && here.o[i].choices[0] != '\0')
                memcpy(o->choices, here.o[i].choices, sizeof(o->choices));
            if (o->value && o->choices[0] == '\0')
                desc_choices(buf_cstr(&desc), o->choices, sizeof(o->choices));
        }
        scan(s, buf_cstr(&desc), desc.len); /* "-V, --version" named in a description */
        buf_free(&desc);
    }
}

/* complete_print - the line of one command (usage.h documents it) on stdout */
void complete_print(const char *name, const char *sub, const char *synopsis, const char *options)
{
    struct cset s = {.n = 0};

    scan(&s, synopsis, strlen(synopsis)); /* first: its "a|b" lists win */
    if (options)
        scan_options(&s, options);
    printf("%s\t%s\t", name, sub ? sub : "-");
    for (size_t i = 0; i < s.n; i++)
        printf("%s%s%s%s", i ? " " : "", s.o[i].name, s.o[i].value ? "=" : "", s.o[i].choices);
    printf("\n");
}
