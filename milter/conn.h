/*
 * conn.h - everything postmeter-milter knows about one SMTP connection
 * and the message in progress on it.
 *
 * One struct per connection, with ONE reset path for the message part
 * (conn_reset_message), called from eom, abort and close. Stages keep
 * their per-message state here, never in globals.
 */
#ifndef POSTMETER_CONN_H
#define POSTMETER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "authres.h"
#include "inbound.h"
#include "ledger_msg.h"
#include "milter.h"
#include "netaddr.h"

struct sign_msg;
struct track_msg;

struct conn {
    struct milter_cfg *cfg; /* configuration this connection started with */
    unsigned long nr_flags; /* SMFIP_NR_* steps the MTA will not wait for */
    bool leadspc;           /* header values keep their leading space (SMFIP_HDR_LEADSPC) */

    /* connection */
    bool have_addr; /* false for local submissions without an address */
    struct netaddr addr;
    char client_ip[NETADDR_STRLEN];
    char *client_ptr; /* verified reverse name, NULL if unknown */
    char *helo;
    bool trusted;      /* client address in trusted_networks or local */
    unsigned messages; /* messages finished on this connection */

    /* message in progress (NULL between messages) */
    struct ledger_msg *msg;
    bool outbound;
    bool seen_message_id, seen_date, seen_from, seen_subject;
    struct inbound_msg *auth; /* inbound checks in progress (stage_auth), or NULL */
    struct sign_msg *sign;    /* outbound signing in progress (stage_sign), or NULL */
    struct track_msg *track;  /* outbound open tracking in progress (stage_track), or NULL */
    /*
     * outbound: Authentication-Results fields claiming our authserv-id
     * (stage_auth), every one removed at end of message. One entry per
     * such field: bounded by the header Postfix takes (message_size_limit,
     * 10 MB by default: some 300,000 fields of 30 bytes, 1.2 MB here).
     */
    unsigned ar_seen;              /* Authentication-Results fields so far */
    struct authres_list ar_forged; /* their 1-based indexes, to remove */
};

/* conn_new - state for a new connection; takes the configuration reference */
struct conn *conn_new(struct milter_cfg *cfg);
/* conn_set_client - record the client's name and address (addr may be NULL) */
void conn_set_client(struct conn *c, const char *hostname, const struct sockaddr *addr);
/* conn_begin_message - start a message at MAIL FROM; sasl_user may be NULL */
void conn_begin_message(struct conn *c, const char *mail_from, const char *sasl_user);
/* conn_reset_message - forget the message in progress (the one reset path) */
void conn_reset_message(struct conn *c);
/* conn_free - reset, release the configuration, free; returns NULL */
struct conn *conn_free(struct conn *c);
/* conn_strip_brackets - "<a@b>" -> "a@b", "<>" -> ""; caller frees */
char *conn_strip_brackets(const char *arg);

#endif
