/*
 * inbound.h - the inbound authentication pipeline: SPF, DKIM verify and
 * DMARC for one message, ONE Authentication-Results value, and the
 * action the configured policy asks for.
 *
 * postmeter-milter drives it from its callbacks; `postmeter auth` drives
 * the same code from a message file, so what the CLI prints is exactly
 * what the milter would add. It never talks to the MTA and never writes
 * the ledger itself: the caller applies the verdict and records
 * inbound_record()'s results.
 *
 * Order inside: inbound_begin() (at MAIL FROM) starts SPF so its DNS
 * overlaps the data transfer; headers and body stream into the DKIM
 * verifier (key lookups start at end of header); inbound_eom() finishes
 * SPF and DKIM, reads the From field(s), evaluates DMARC and decides.
 *
 * Policy (see postmeter.conf(5)): a DMARC fail whose disposition is
 * reject is refused (550 5.7.1) when dmarc_enforce = reject, quarantined
 * when it is quarantine; a quarantine disposition is quarantined unless
 * dmarc_enforce = none; temperror follows on_temperror.
 *
 * A From DMARC cannot evaluate (dmarc.h: from_bad) is never let through
 * on that account (habit 16): dmarc_bad_from (reject or quarantine;
 * dmarc_multiple_from for several From fields) applies, and never less
 * than the strictest policy of its domains, which all count as failing;
 * capped by dmarc_enforce like any DMARC action. A bad From whose lookups
 * timed out is tempfailed (451 4.7.5) rather than only held, when
 * dmarc_enforce = reject and nothing already refuses it: one of its
 * domains may publish p=reject.
 *
 * auth_allow exempts clients, and From fields whose every domain it
 * lists, from all of it. Nothing else ever refuses mail here (SPF fail
 * alone does not).
 */
#ifndef POSTMETER_INBOUND_H
#define POSTMETER_INBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dns.h"
#include "ledger_msg.h"

/* inbound_begin() flags */
#define INBOUND_LEADSPC 0x1 /* header values keep their leading white space */

enum inbound_action { INBOUND_ACCEPT = 0, INBOUND_QUARANTINE, INBOUND_REJECT, INBOUND_TEMPFAIL };

/* What the caller must do with the message. Owned by the message. */
struct inbound_verdict {
    const char *authres;        /* the Authentication-Results value, to insert at the top */
    enum inbound_action action; /* what the policy asks for */
    bool quarantine_header;     /* quarantine by adding INBOUND_QUARANTINE_HEADER, not hold */
    const char *reason;         /* one line for the reply, hold reason or header */
    const char *rcode, *xcode;  /* SMTP reply for REJECT and TEMPFAIL, else NULL */
    const unsigned *remove;     /* 1-based indexes of received Authentication-Results */
    size_t nremove;             /* fields that claim our authserv-id: delete them */
};

#define INBOUND_QUARANTINE_HEADER "X-Postmeter-Quarantine"

struct inbound;
struct inbound_msg;

/*
 * inbound_open - the process-wide part: DKIM verifier and the public
 * suffix list, over d (which must outlive it). Limits come from c at
 * open time. NULL with a reason in err if it cannot be set up.
 */
struct inbound *inbound_open(struct dns *d, const struct config *c, char *err, size_t errlen);
/* inbound_close - free it (no message may be in progress); returns NULL */
struct inbound *inbound_close(struct inbound *ib);

/*
 * inbound_begin - start a message at MAIL FROM: client_ip (NULL if
 * unknown), helo and mail_from (without <>, "" for the null sender) are
 * copied; c (which must outlive the message) gives the policy. SPF
 * starts here.
 */
struct inbound_msg *inbound_begin(struct inbound *ib, const struct config *c, const char *client_ip,
                                  const char *helo, const char *mail_from, unsigned flags);
/* inbound_header - one header field, in order, as the MTA passed it */
void inbound_header(struct inbound_msg *m, const char *name, const char *value);
/* inbound_eoh - end of the header block */
void inbound_eoh(struct inbound_msg *m);
/* inbound_body - a chunk of the body (CRLF line ends) */
void inbound_body(struct inbound_msg *m, const unsigned char *chunk, size_t len);
/* inbound_eom - finish every check and decide; the verdict lives as long as m */
const struct inbound_verdict *inbound_eom(struct inbound_msg *m);
/* inbound_record - add the results (after inbound_eom) to a ledger record */
void inbound_record(const struct inbound_msg *m, struct ledger_msg *lm);
/* inbound_end - free the message at any point (abort too); returns NULL */
struct inbound_msg *inbound_end(struct inbound_msg *m);

/* inbound_action_name - "accept", "quarantine", "reject", "tempfail" */
const char *inbound_action_name(enum inbound_action a);

#endif
