/*
 * stage_auth.h - the inbound authentication stage of postmeter-milter:
 * feeds auth/inbound.c (SPF from MAIL FROM, DKIM over header and body,
 * DMARC at the end) and applies its verdict through the smfi adapter:
 * forged Authentication-Results removed, ours inserted at the top, then
 * accept, quarantine (hold or header), reject or tempfail.
 *
 * Runs for inbound mail only (not authenticated, not from
 * trusted_networks); outbound mail is never checked here, but its
 * Authentication-Results fields that claim our authserv-id are removed
 * too (outbound mail may be for local users, who must not trust them).
 */
#ifndef POSTMETER_STAGE_AUTH_H
#define POSTMETER_STAGE_AUTH_H

#include <libmilter/mfapi.h>

#include "conn.h"
#include "inbound.h"

/* auth_stage_setup - the process-wide pipeline (NULL: the stage does nothing) */
void auth_stage_setup(struct inbound *ib);
/* auth_stage_begin - at MAIL FROM, after the direction is known */
void auth_stage_begin(struct conn *c);
/* auth_stage_header - one header field as the MTA passed it */
void auth_stage_header(struct conn *c, const char *name, const char *value);
/* auth_stage_eoh - end of the header block */
void auth_stage_eoh(struct conn *c);
/* auth_stage_body - a body chunk */
void auth_stage_body(struct conn *c, const unsigned char *chunk, size_t len);
/*
 * auth_stage_eom - decide and apply; returns the milter status to give
 * (SMFIS_CONTINUE to go on with the later stages) and sets *action to
 * the ledger's word for what happened.
 */
sfsistat auth_stage_eom(struct conn *c, SMFICTX *ctx, const char **action);

#endif
