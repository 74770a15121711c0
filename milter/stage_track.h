/*
 * stage_track.h - the open-tracking stage of postmeter-milter: a pixel
 * in outbound HTML mail that a tracking rule matches, injected BEFORE the
 * DKIM signing stage so the signatures cover the final body.
 *
 * Active when tracking_base_url is set and tracking_mode = milter. A
 * message is tracked when it is outbound, a rule matches its envelope
 * sender, header From or one of its envelope recipients, it does not
 * say "X-Postmeter-Track: no", and none of its recipients is in
 * track_exclude (one token serves all recipients of a message, so one
 * excluded recipient keeps the whole message untracked). Any
 * X-Postmeter-Track field of outbound mail is removed.
 *
 * A tracked message's body is held until end of message (at most
 * track_max_kb; larger mail is tracked without a pixel), then
 * pixel_inject() runs over header + body and the body (and, if the
 * injection re-encoded a top-level HTML body, its
 * Content-Transfer-Encoding field) is replaced. While the body is held
 * the signing stage waits: milter_cb.c feeds it the final body.
 *
 * Never loses or refuses mail: any failure sends the message on as it
 * came, with the outcome recorded in the ledger (tracked_messages).
 */
#ifndef POSTMETER_STAGE_TRACK_H
#define POSTMETER_STAGE_TRACK_H

#include <libmilter/mfapi.h>
#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "conn.h"

/*
 * track_stage_engine - if c configures tracking, load the pixel engine
 * (milter/pixel_load.c: pixel_module, with GMime); false with the
 * reason in err if it cannot be loaded. Start-up and -t call it and stop
 * on failure; until it is loaded, no GMime or GLib is in the process.
 */
bool track_stage_engine(const struct config *c, char *err, size_t errlen);
/*
 * track_stage_refresh - read the enabled rules from c's database (main
 * thread only; start-up, every minute, SIGHUP). force logs the count
 * even if nothing changed. Returns the number of enabled rules. Loads the
 * pixel engine when a reload enables tracking; if that fails it says so
 * once, and tracked mail goes on without a pixel (outcome "error").
 */
size_t track_stage_refresh(const struct config *c, bool force);
/* track_stage_teardown - forget the rules (at exit) */
void track_stage_teardown(void);

/* track_stage_begin - at MAIL FROM, after the direction is known */
void track_stage_begin(struct conn *c);
/* track_stage_rcpt - one envelope recipient */
void track_stage_rcpt(struct conn *c, const char *rcpt);
/* track_stage_header - one header field as the MTA passed it */
void track_stage_header(struct conn *c, const char *name, const char *value);
/* track_stage_eoh - end of header: is the message tracked? */
void track_stage_eoh(struct conn *c);
/* track_stage_holds_body - the stage holds the body (the signer must wait for it) */
bool track_stage_holds_body(const struct conn *c);
/*
 * track_stage_body - hold a body chunk. Returns false when the message
 * outgrew track_max_kb: the stage then lets go, and the caller hands
 * what was held (track_stage_held()) to the signer and streams on.
 */
bool track_stage_body(struct conn *c, const unsigned char *chunk, size_t len);
/* track_stage_held - the body held so far, its length in *len (empty if none) */
const char *track_stage_held(const struct conn *c, size_t *len);
/* track_stage_release - forget the held body after the caller used it */
void track_stage_release(struct conn *c);
/*
 * track_stage_eom - inject and replace the body; remove X-Postmeter-Track.
 * Returns true when the stage held the body: then *body, *len are the
 * body the MTA will now deliver (for the signer). *cte is set to the new
 * value of a top-level Content-Transfer-Encoding field the injection
 * changed, else NULL. All stay valid until the reset.
 */
bool track_stage_eom(struct conn *c, SMFICTX *ctx, const char **cte, const char **body,
                     size_t *len);
/* track_stage_reset - drop the message's tracking state (the one reset path calls it) */
void track_stage_reset(struct conn *c);

#endif
