/*
 * pipe_msg.c - the pure parts of postmeter-pixelfilter's pipe mode (see
 * pipe.h): its command line, the top-level header fields it reads or
 * removes, and which recipients' copies are tracked.
 *
 * Nothing here does I/O. The header walk copies bytes, never rewrites
 * them: a message without the opt-out field comes out byte for byte.
 */
#include <getopt.h>
#include <string.h>
#include <strings.h>

#include "pipe.h"
#include "util.h"

/* pipe_usage - the synopsis of the pipe mode */
const char *pipe_usage(void)
{
    return "usage: postmeter-pixelfilter [-c FILE] [--sendmail PATH] -f SENDER [-q QUEUE_ID]"
           " -- RECIPIENT...\n";
}

/* pipe_args_parse - the pipe mode's options and recipients */
bool pipe_args_parse(int argc, char **argv, struct pipe_args *a, struct buf *why)
{
    static const struct option opts[] = {{"sendmail", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof(*a));
    a->sendmail = PIPE_SENDMAIL;
    optind = 0; /* glibc: start over, also after an earlier parse */
    opterr = 0; /* our own one-line message, not getopt's */
    while ((c = getopt_long(argc, argv, "+c:f:q:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'S':
            a->sendmail = optarg;
            break;
        case 'f':
            a->sender = optarg;
            break;
        case 'q':
            a->queue_id = optarg;
            break;
        case 'h':
            a->help = true;
            break;
        default:
            buf_printf(why, "bad option or missing value: \"%s\"",
                       optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            return false;
        }
    }
    a->rcpts = argv + optind;
    a->nrcpts = optind < argc ? (size_t)(argc - optind) : 0;
    if (a->help)
        return true;
    if (a->sender == NULL) {
        buf_puts(why, "no -f SENDER (master.cf: argv=... -f ${sender} ...)");
        return false;
    }
    if (strcmp(a->sender, "<>") == 0)
        a->sender = "";
    if (a->nrcpts == 0) {
        buf_puts(why, "no recipients (master.cf: argv=... -- ${recipient})");
        return false;
    }
    for (size_t i = 0; i < a->nrcpts; i++)
        if (a->rcpts[i][0] == '\0') {
            buf_puts(why, "an empty recipient argument");
            return false;
        }
    if (a->sendmail[0] != '/') {
        buf_printf(why, "--sendmail %s: not an absolute path", a->sendmail);
        return false;
    }
    return true;
}

/* line_end - the offset just past the line that starts at p (its LF included) */
static size_t line_end(const char *m, size_t len, size_t p)
{
    const char *nl = memchr(m + p, '\n', len - p);

    return nl ? (size_t)(nl - m) + 1 : len;
}

/* pipe_header_end - just past the empty line ending the header */
size_t pipe_header_end(const char *m, size_t len)
{
    for (size_t p = 0; p < len;) {
        size_t e = line_end(m, len, p);

        if ((e - p == 1 && m[p] == '\n') || (e - p == 2 && m[p] == '\r' && m[p + 1] == '\n'))
            return e;
        p = e;
    }
    return len;
}

/* field_end - the end of the field starting at p: its continuation lines included */
static size_t field_end(const char *m, size_t hend, size_t p)
{
    size_t e = line_end(m, hend, p);

    while (e < hend && (m[e] == ' ' || m[e] == '\t'))
        e = line_end(m, hend, e);
    return e;
}

/* field_is - the field at m[p..e) is called name ("Name:" or obsolete "Name :") */
static bool field_is(const char *m, size_t p, size_t e, const char *name)
{
    size_t n = strlen(name), q;

    if (e - p <= n || strncasecmp(m + p, name, n) != 0)
        return false;
    for (q = p + n; q < e && (m[q] == ' ' || m[q] == '\t'); q++)
        ;
    return q < e && m[q] == ':';
}

/* value_of - the value of the field m[p..e) without CR and LF, trimmed, cut; caller frees */
static char *value_of(const char *m, size_t p, size_t e)
{
    const char *colon = memchr(m + p, ':', e - p);
    struct buf b = BUF_INIT;

    for (const char *c = colon + 1; c < m + e && b.len < PIPE_FIELD_MAX; c++)
        if (*c != '\r' && *c != '\n')
            buf_add(&b, c, 1);
    buf_reserve(&b, 0); /* a NUL even when empty */
    return str_trim(buf_steal(&b));
}

/* pipe_strip_field - copy without the top-level fields called name */
unsigned pipe_strip_field(const char *m, size_t len, const char *name, struct buf *out)
{
    size_t hend = pipe_header_end(m, len), p = 0, from = 0;
    unsigned removed = 0;

    while (p < hend) {
        size_t e = field_end(m, hend, p);

        if (m[p] != ' ' && m[p] != '\t' && field_is(m, p, e, name)) {
            buf_add(out, m + from, p - from);
            from = e;
            removed++;
        }
        p = e;
    }
    buf_add(out, m + from, len - from);
    return removed;
}

/* pipe_field_value - the first top-level field called name, unfolded */
char *pipe_field_value(const char *m, size_t len, const char *name)
{
    size_t hend = pipe_header_end(m, len);

    for (size_t p = 0; p < hend;) {
        size_t e = field_end(m, hend, p);

        if (m[p] != ' ' && m[p] != '\t' && field_is(m, p, e, name))
            return value_of(m, p, e);
        p = e;
    }
    return NULL;
}

/* pipe_opt_out - some X-Postmeter-Track field says "no" */
bool pipe_opt_out(const char *m, size_t len)
{
    size_t hend = pipe_header_end(m, len);
    bool no = false;

    for (size_t p = 0; p < hend && !no;) {
        size_t e = field_end(m, hend, p);

        if (m[p] != ' ' && m[p] != '\t' && field_is(m, p, e, PIPE_OPT_OUT_FIELD)) {
            char *v = value_of(m, p, e);

            no = strcasecmp(v, "no") == 0;
            free(v);
        }
        p = e;
    }
    return no;
}

/* pipe_rcpt_tracked - the milter's rule, for one recipient's copy */
bool pipe_rcpt_tracked(const struct config *c, const struct track_rules *r,
                       const struct pipe_msg_facts *f, const char *rcpt)
{
    bool matched;

    if (f->opt_out || track_list_match(c->track_exclude, rcpt))
        return false;
    matched = track_rules_match_sender(r, f->sender) ||
              track_rules_match_sender(r, f->header_from) || track_rules_match_recipient(r, rcpt);
    return matched;
}
