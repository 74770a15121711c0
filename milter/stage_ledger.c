/*
 * stage_ledger.c - one ledger record per message.
 *
 * Keeps only Message-ID, Date, the From address and (with log_subject)
 * the Subject; never the body or any other header. Values are unfolded
 * and cut at LEDGER_FIELD_MAX bytes so a huge header cannot grow memory;
 * recipients past ledger_max_recipients are counted, not kept, and the
 * total is logged at end of message, so one envelope cannot either.
 */
#include <string.h>
#include <strings.h>

#include "config.h"
#include "from_domain.h"
#include "log.h"
#include "mailaddr.h"
#include "stage_ledger.h"
#include "stage_log.h"
#include "timeutil.h"
#include "util.h"

/* unfold - copy of value without CR/LF, cut at LEDGER_FIELD_MAX; caller frees */
static char *unfold(const char *value)
{
    size_t len = strnlen(value, LEDGER_FIELD_MAX), j = 0;
    char *out = xmalloc(len + 1);

    for (size_t i = 0; i < len; i++)
        if (value[i] != '\r' && value[i] != '\n')
            out[j++] = value[i];
    out[j] = '\0';
    return str_trim(out);
}

/* ledger_stage_rcpt - note one envelope recipient (past ledger_max_recipients: count it) */
void ledger_stage_rcpt(struct conn *c, const char *rcpt)
{
    if (c->msg == NULL)
        return;
    if (c->msg->nrcpts < c->cfg->c->ledger_max_recipients)
        ledger_msg_add_rcpt(c->msg, rcpt);
    else
        c->msg->rcpts_omitted++;
}

/* ledger_stage_bytes - count n more bytes of the message */
void ledger_stage_bytes(struct conn *c, size_t n)
{
    if (c->msg)
        c->msg->size += (int64_t)n;
}

/* ledger_stage_header - keep the fields the ledger records (first of each) */
void ledger_stage_header(struct conn *c, const char *name, const char *value)
{
    struct ledger_msg *m = c->msg;

    if (m == NULL)
        return;
    /* "Name: value\r\n" as it travels in the message (the space is in value with leadspc) */
    m->size += (int64_t)(strlen(name) + strlen(value) + (c->leadspc ? 3 : 4));
    if (!c->seen_message_id && strcasecmp(name, "Message-ID") == 0) {
        c->seen_message_id = true;
        m->message_id = unfold(value);
    } else if (!c->seen_date && strcasecmp(name, "Date") == 0) {
        c->seen_date = true;
        m->date_header = unfold(value);
    } else if (!c->seen_from && from_is_name(name)) {
        char *v = unfold(value);

        c->seen_from = true;
        m->header_from = mailaddr_first(v);
        free(v);
    } else if (!c->seen_subject && c->cfg->c->log_subject && strcasecmp(name, "Subject") == 0) {
        c->seen_subject = true;
        m->subject = unfold(value);
    }
}

/* ledger_stage_eom - finish the record and hand it to the writer */
void ledger_stage_eom(struct conn *c, const char *queue_id, const char *action)
{
    struct ledger_msg *m = c->msg;

    if (m == NULL)
        return;
    c->msg = NULL;
    ledger_msg_set(&m->queue_id, queue_id && *queue_id ? queue_id : NULL);
    ledger_msg_set(&m->action, action);
    m->received_at = time_now();
    if (m->rcpts_omitted > 0)
        warn("%s: %zu recipients; the ledger record keeps the first %zu (ledger_max_recipients)",
             m->queue_id ? m->queue_id : "-", m->nrcpts + m->rcpts_omitted, m->nrcpts);
    debug("%s: ledger record %s, %zu recipient(s), %lld bytes", m->queue_id ? m->queue_id : "-",
          m->uid, m->nrcpts, (long long)m->size);
    stage_log_message(c, m); /* before the sink takes m */
    milter_emit(c->cfg->c, m);
}
