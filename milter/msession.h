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

#include <stdatomic.h>
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
 * The bytes go through msession_space() as a read would, and room is
 * made for a packet still under way at the end, so a packet its budget
 * refuses ends the conversation here too.
 */
bool msession_input(SMFICTX *s, const void *data, size_t n);
/*
 * msession_space / msession_received - the same without a copy: read()
 * up to *room bytes into the returned buffer, then say how many came.
 * The room is MSESSION_READ_MIN bytes or more, or the rest of a packet
 * whose length has arrived when that is less; a small packet (up to
 * MSESSION_KEEP_MAX) comes in one read. A bigger one's buffer grows as
 * its bytes arrive, doubling from MSESSION_KEEP_MAX up to the packet's
 * size, so what a packet announces costs nothing until it is sent.
 * msession_space() returns NULL when a growth does not fit in the
 * session's budget (msession_set_budget): the conversation is over,
 * close the connection (the MTA then applies its milter_default_action).
 */
#define MSESSION_READ_MIN 4096
/*
 * An input buffer larger than this (a body chunk: up to 64 KiB) is freed
 * once every packet in it has been handled, so that a connection between
 * messages (the MTA waits for the end-of-message reply) holds 8 KiB at
 * most, not the largest chunk it ever received. Only buffers larger than
 * this are charged to a budget, and one is always less than twice
 * (what has arrived of its packet + MSESSION_READ_MIN + 1).
 */
#define MSESSION_KEEP_MAX 8192
/*
 * Macros kept per connection at most (every command's together). Postfix
 * sends a few hundred bytes; a conversation past this is ended, so that
 * a client cannot make each connection hold 8 packets of 4 MiB.
 */
#define MSESSION_MACROS_MAX (64 * 1024)
void *msession_space(SMFICTX *s, size_t *room);
bool msession_received(SMFICTX *s, size_t n);
/*
 * struct msession_budget - input buffered for big packets, shared by
 * sessions (engine.c: one per process). A session's input buffer larger
 * than MSESSION_KEEP_MAX counts whole while the session holds it; a
 * growth that would take `used` past `max` is refused (see
 * msession_space). A session holds one packet at most, so its share is
 * at most MPROTO_MAX_PACKET plus 6 bytes. Zero-initialise, then set max.
 */
struct msession_budget {
    atomic_size_t used; /* bytes charged now */
    atomic_size_t max;  /* bound; may change while sessions run */
};
/* msession_set_budget - charge s's big input buffers to b (NULL: no bound); call before input */
void msession_set_budget(SMFICTX *s, struct msession_budget *b);
/* msession_pending - bytes of a packet under way (received, not yet whole) */
size_t msession_pending(const SMFICTX *s);
/* msession_packets - packets handled so far (a new one begins after each) */
unsigned long msession_packets(const SMFICTX *s);
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
