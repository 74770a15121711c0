/*
 * stage_sign.h - the outbound DKIM signing stage of postmeter-milter.
 *
 * Outbound mail (SASL-authenticated, from trusted_networks, or a local
 * submission through non_smtpd_milters) whose From domain - or the
 * nearest parent domain of it - has active keys in the database is
 * signed with every active key of that domain (RSA and Ed25519: two
 * signatures), over the final header and body. Mail relayed from outside
 * is never signed.
 *
 * Keys are read from the store and loaded from their files by the main
 * thread (start-up, SIGHUP, and sign_stage_refresh() when the key list
 * changed), never on the mail path. A registered key that cannot be
 * loaded is logged once; its mail goes out unsigned (on_sign_error =
 * accept) or is tempfailed (on_sign_error = tempfail), never lost.
 */
#ifndef POSTMETER_STAGE_SIGN_H
#define POSTMETER_STAGE_SIGN_H

#include <libmilter/mfapi.h>

#include "config.h"
#include "conn.h"
#include "dkim_sign.h"

/* sign_stage_setup - the process-wide signer (NULL: the stage does nothing) */
void sign_stage_setup(struct dkims *s);
/*
 * sign_stage_refresh - read the active keys from c's database and load
 * any that changed (main thread only). force reloads even if the list
 * looks the same (SIGHUP). Returns the number of usable keys.
 */
size_t sign_stage_refresh(const struct config *c, bool force);
/* sign_stage_teardown - forget every key (at exit) */
void sign_stage_teardown(void);

/* sign_stage_begin - at MAIL FROM, after the direction is known */
void sign_stage_begin(struct conn *c);
/* sign_stage_header - one header field as the MTA passed it */
void sign_stage_header(struct conn *c, const char *name, const char *value);
/*
 * sign_stage_set_header - before sign_stage_eoh(): the first field called
 * name now has value (as the MTA would pass it), or is added at the end
 * if there was none (another stage changed the header)
 */
void sign_stage_set_header(struct conn *c, const char *name, const char *value);
/* sign_stage_eoh - end of the header: choose the keys, start signing */
void sign_stage_eoh(struct conn *c);
/* sign_stage_body - a body chunk */
void sign_stage_body(struct conn *c, const unsigned char *chunk, size_t len);
/*
 * sign_stage_eom - sign and insert the DKIM-Signature fields; returns
 * SMFIS_CONTINUE, or SMFIS_TEMPFAIL when a key could not sign and
 * on_sign_error = tempfail (then *action is "tempfail").
 */
sfsistat sign_stage_eom(struct conn *c, SMFICTX *ctx, const char **action);
/*
 * sign_stage_why_unsigned - after sign_stage_eom(), why outbound mail got
 * no signature at all (static text: no signing keys, no key for the From
 * domain, ...), for the message's log line; NULL if signing was tried
 */
const char *sign_stage_why_unsigned(const struct conn *c);
/* sign_stage_reset - drop the message's signing state (the one reset path calls it) */
void sign_stage_reset(struct conn *c);

#endif
