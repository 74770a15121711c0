/*
 * stage_log.c - one log line per message (see stage_log.h).
 *
 * Built from the ledger record just before the ledger stage hands it on,
 * so the log and the ledger never tell two stories. Every value that can
 * come from a message or a client (queue id, sender, domains, selectors,
 * reasons) goes through put_safe(): no byte of it can end the line, fake
 * another key=value or pass its bound. Must never log a body, a subject,
 * a recipient or a tracking token.
 */
#include <string.h>

#include "log.h"
#include "stage_log.h"
#include "stage_sign.h"

/* plain - byte c goes into a log line as it is (else as \xHH); '=' in a value only
 * as \x3D, so a value (a signature's d=, a sender) cannot read as "dmarc=pass" */
static bool plain(unsigned char c, bool text)
{
    return (c > 0x20 || (text && c == 0x20)) && c < 0x7f && strchr("\\()<>", c) == NULL &&
           (text || c != '=');
}

/*
 * put_safe - append s for a log line: printable ASCII as is, except '\',
 * '(', ')', '<', '>' and (unless text) the space, which go as \xHH like
 * every other byte; at most max (>= 8) bytes appended: a value that would
 * take more is cut and ends in "...". Reads at most max + 1 bytes of s.
 */
static void put_safe(struct buf *out, const char *s, size_t max, bool text)
{
    size_t need = 0, used = 0;

    if (s == NULL)
        return;
    for (const char *p = s; *p && need <= max; p++)
        need += plain((unsigned char)*p, text) ? 1 : 4;
    for (; *s; s++) {
        bool as_is = plain((unsigned char)*s, text);

        if (need > max && used + (as_is ? 1 : 4) > max - 3) {
            buf_puts(out, "...");
            return;
        }
        if (as_is)
            buf_putc(out, *s);
        else
            buf_printf(out, "\\x%02X", (unsigned char)*s);
        used += as_is ? 1 : 4;
    }
}

/* put_pair - " key=value" (value safe, at most max bytes) if value is set */
static void put_pair(struct buf *out, const char *key, const char *value, size_t max)
{
    if (value == NULL || *value == '\0')
        return;
    if (out->len > 0 && out->data[out->len - 1] != '(')
        buf_putc(out, ' ');
    buf_printf(out, "%s=", key);
    put_safe(out, value, max, false);
}

/* put_reason - ": reason" inside a comment, or the whole comment's text */
static void put_reason(struct buf *out, const char *reason)
{
    if (reason == NULL || *reason == '\0')
        return;
    if (out->data[out->len - 1] != '(')
        buf_puts(out, ": ");
    put_safe(out, reason, STAGE_LOG_TEXT_MAX, true);
}

/* close_comment - ")" after a comment with text; drop an empty " (" */
static void close_comment(struct buf *part, size_t open)
{
    if (part->len == open)
        buf_truncate(part, open - 2);
    else
        buf_putc(part, ')');
}

/* auth_part - one result as "name=result (detail)" into part */
static void auth_part(struct buf *part, const struct ledger_auth *a)
{
    bool pass = a->result && strcmp(a->result, "pass") == 0;
    bool sign = strcmp(a->method, "dkim-sign") == 0;
    size_t open;

    if (sign) {
        buf_puts(part, "signed=");
        put_safe(part, a->result && strcmp(a->result, "signed") == 0 ? "yes" : a->result,
                 STAGE_LOG_NAME_MAX, false);
    } else {
        put_safe(part, a->method, STAGE_LOG_NAME_MAX, false);
        buf_putc(part, '=');
        put_safe(part, a->result ? a->result : "none", STAGE_LOG_NAME_MAX, false);
    }
    if (strcmp(a->method, "spf") == 0)
        return;
    buf_puts(part, " (");
    open = part->len;
    if (strcmp(a->method, "dmarc") == 0) {
        put_pair(part, "header.from", a->identity, STAGE_LOG_NAME_MAX);
        put_pair(part, "p", a->policy, STAGE_LOG_NAME_MAX);
    } else {
        put_pair(part, "d", a->identity, STAGE_LOG_NAME_MAX);
        put_pair(part, "s", a->selector, STAGE_LOG_NAME_MAX);
        if (sign)
            put_pair(part, "a", a->algorithm, STAGE_LOG_NAME_MAX);
    }
    if (!pass && !(sign && a->result && strcmp(a->result, "signed") == 0))
        put_reason(part, a->reason);
    close_comment(part, open);
}

/* line - the bounded line being built: parts that do not fit are counted */
struct line {
    struct buf *out;
    size_t start;   /* where the line begins in out */
    size_t omitted; /* parts left out */
};

/* Room kept for " omitted=N action=WORD" at the end of a line. */
#define LINE_TAIL (40 + STAGE_LOG_NAME_MAX)

/* add_part - " part" if the line keeps room for its tail, else count it */
static void add_part(struct line *l, const struct buf *part)
{
    if (l->omitted == 0 &&
        l->out->len - l->start + 1 + part->len + LINE_TAIL <= STAGE_LOG_LINE_MAX) {
        buf_putc(l->out, ' ');
        buf_add(l->out, part->data, part->len);
    } else {
        l->omitted++;
    }
}

/* stage_log_format - the message's line (see stage_log.h) */
void stage_log_format(const struct ledger_msg *m, const char *unsigned_why, struct buf *out)
{
    struct line l = {out, out->len, 0};
    struct buf part = BUF_INIT;
    bool dkim = false, signed_any = false;

    put_safe(out, m->queue_id ? m->queue_id : "-", STAGE_LOG_NAME_MAX, false);
    buf_printf(out, ": %s from=<", ledger_direction_name(m->direction));
    put_safe(out, m->mail_from, STAGE_LOG_ADDR_MAX, false);
    buf_putc(out, '>');
    for (size_t i = 0; i < m->nauth; i++) {
        const struct ledger_auth *a = &m->auth[i];

        if (a->method == NULL)
            continue;
        /* a message the checks ran on without a signature: say so, in its place */
        if (strcmp(a->method, "dmarc") == 0 && !dkim) {
            buf_puts(&part, "dkim=none");
            add_part(&l, &part);
            buf_reset(&part);
        }
        dkim |= strcmp(a->method, "dkim") == 0;
        signed_any |= strcmp(a->method, "dkim-sign") == 0;
        auth_part(&part, a);
        add_part(&l, &part);
        buf_reset(&part);
    }
    if (m->direction == LEDGER_OUTBOUND && !signed_any) {
        buf_puts(&part, "signed=no (");
        put_reason(&part, unsigned_why);
        close_comment(&part, strlen("signed=no ("));
        add_part(&l, &part);
        buf_reset(&part);
    }
    if (m->track_outcome) {
        size_t open;

        buf_puts(&part, "tracked=");
        put_safe(&part, m->track_outcome, STAGE_LOG_NAME_MAX, false);
        buf_puts(&part, " (");
        open = part.len;
        if (strcmp(m->track_outcome, "injected") != 0)
            put_reason(&part, m->track_reason);
        close_comment(&part, open);
        add_part(&l, &part);
        buf_reset(&part);
    }
    buf_free(&part);
    if (l.omitted > 0)
        buf_printf(out, " omitted=%zu", l.omitted);
    buf_puts(out, " action=");
    put_safe(out, m->action ? m->action : "-", STAGE_LOG_NAME_MAX, false);
}

/* stage_log_message - log the line unless log_messages = no */
void stage_log_message(const struct conn *c, const struct ledger_msg *m)
{
    struct buf b = BUF_INIT;

    if (!c->cfg->c->log_messages)
        return;
    stage_log_format(m, m->direction == LEDGER_OUTBOUND ? sign_stage_why_unsigned(c) : NULL, &b);
    info("%s", buf_cstr(&b));
    buf_free(&b);
}
