/*
 * stage_ledger.h - the ledger stage: collects the few header fields the
 * ledger records and, at end of message, hands one record per message to
 * the ledger writer. Runs last, for inbound and outbound mail alike.
 */
#ifndef POSTMETER_STAGE_LEDGER_H
#define POSTMETER_STAGE_LEDGER_H

#include <stddef.h>

#include "conn.h"

/* Longest header value kept in a ledger field; longer ones are cut. */
#define LEDGER_FIELD_MAX 4096

/* ledger_stage_rcpt - note one envelope recipient */
void ledger_stage_rcpt(struct conn *c, const char *rcpt);
/* ledger_stage_header - look at one header field (and count its size) */
void ledger_stage_header(struct conn *c, const char *name, const char *value);
/* ledger_stage_bytes - count n more bytes of the message */
void ledger_stage_bytes(struct conn *c, size_t n);
/* ledger_stage_eom - finish the record with queue id and action, emit it */
void ledger_stage_eom(struct conn *c, const char *queue_id, const char *action);

#endif
