/*
 * stage_log.h - the one log line postmeter-milter writes per message at
 * end of data, made from the message's ledger record (the one source of
 * what happened to it), so an admin finds a message by its queue id in
 * the mail log:
 *
 *   QUEUEID: inbound from=<SENDER> spf=R dkim=R (d=D s=S) dmarc=R (header.from=D p=P)
 *            action=A
 *   QUEUEID: outbound from=<SENDER> signed=yes (d=D s=S a=ALG) tracked=OUTCOME action=A
 *
 * One dkim= (inbound) or signed= (outbound) per signature; signed=no
 * (why) when outbound mail got none. Every value is made safe for a log
 * line (no white space, control or non-ASCII bytes: \xHH; cut with
 * "...") and the line is bounded. Never a body, a subject, a recipient
 * or a tracking token.
 */
#ifndef POSTMETER_STAGE_LOG_H
#define POSTMETER_STAGE_LOG_H

#include "buf.h"
#include "conn.h"
#include "ledger_msg.h"

#define STAGE_LOG_LINE_MAX 1000 /* bytes of a line at most (the log cuts at 2048) */
#define STAGE_LOG_ADDR_MAX 256  /* bytes of the sender as logged at most */
#define STAGE_LOG_NAME_MAX 128  /* bytes of a domain, selector, word as logged at most */
#define STAGE_LOG_TEXT_MAX 128  /* bytes of a reason as logged at most */

/*
 * stage_log_format - append m's line to out (no newline). unsigned_why:
 * for outbound mail without a dkim-sign result, why it was not signed
 * (NULL: not known). Results that would pass STAGE_LOG_LINE_MAX are
 * counted in omitted=N instead; action= always ends the line.
 */
void stage_log_format(const struct ledger_msg *m, const char *unsigned_why, struct buf *out);
/*
 * stage_log_message - log m's line at info level unless the connection's
 * configuration says log_messages = no. Call before m is handed on.
 */
void stage_log_message(const struct conn *c, const struct ledger_msg *m);

#endif
