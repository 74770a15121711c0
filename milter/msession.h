/*
 * msession.h - one milter conversation with the MTA, as a state machine
 * over bytes: what the MTA sent goes in (msession_input), the callbacks
 * of a struct smfiDesc run in protocol order, and what we answer collects
 * in an output buffer the caller writes to the socket. No I/O and no
 * threads here (engine.c has those), so the unit tests and the fuzzer
 * drive a session with plain byte strings.
 *
 * The callbacks see the session as the SMFICTX of libmilter's API, and
 * the msession_* functions below are what smfi_*() are in libmilter
 * (smfi_real.c binds the stages' adapter to them). Modifications are
 * only allowed during end of message and only the ones negotiated; they
 * go out in the same write as the final reply.
 */
#ifndef POSTMETER_MSESSION_H
#define POSTMETER_MSESSION_H

#include <stdbool.h>
#include <stddef.h>

#include <libmilter/mfapi.h>

#include "buf.h"

/* msession_new - a session for one MTA connection with these callbacks */
SMFICTX *msession_new(const struct smfiDesc *desc);
/*
 * msession_input - take n bytes from the MTA and run every complete
 * command. false: the conversation is over (SMFIC_QUIT, a malformed
 * packet, a failed negotiation); send what msession_output() holds, then
 * close. Callers pass what read() gave; partial packets wait for more.
 */
bool msession_input(SMFICTX *s, const void *data, size_t n);
/*
 * msession_space / msession_received - the same without a copy: read()
 * up to *room bytes into the returned buffer, then say how many came.
 * The room is at least MSESSION_READ_MIN bytes, and the rest of a packet
 * whose length has arrived, so a body chunk comes in one read.
 */
#define MSESSION_READ_MIN 4096
/*
 * An input buffer larger than this (a body chunk: up to 64 KiB) is freed
 * once every packet in it has been handled, so that a connection between
 * messages (the MTA waits for the end-of-message reply) holds 8 KiB at
 * most, not the largest chunk it ever received.
 */
#define MSESSION_KEEP_MAX 8192
void *msession_space(SMFICTX *s, size_t *room);
bool msession_received(SMFICTX *s, size_t n);
/* msession_output - the replies to send now; the caller empties it after writing */
struct buf *msession_output(SMFICTX *s);
/* msession_free - the connection ended: run the close callback (once), free */
void msession_free(SMFICTX *s);
/* msession_messages - end-of-message replies sent so far (for logs and tests) */
unsigned long msession_messages(const SMFICTX *s);

/* The libmilter API subset the stages use (see smfi.h). */
char *msession_getsymval(SMFICTX *s, char *name);
void *msession_getpriv(SMFICTX *s);
int msession_setpriv(SMFICTX *s, void *priv);
int msession_setreply(SMFICTX *s, char *rcode, char *xcode, char *message);
int msession_insheader(SMFICTX *s, int idx, char *name, char *value);
int msession_chgheader(SMFICTX *s, char *name, int idx, char *value);
int msession_quarantine(SMFICTX *s, char *reason);
int msession_replacebody(SMFICTX *s, unsigned char *data, int len);

#endif
