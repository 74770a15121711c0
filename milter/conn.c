/*
 * conn.c - per-connection state of postmeter-milter, and its one reset
 * path for the message in progress.
 *
 * Must never keep message content beyond what a stage needs.
 */
#include <string.h>

#include "conn.h"
#include "log.h"
#include "mailaddr.h"
#include "stage_sign.h"
#include "stage_track.h"
#include "util.h"

/* conn_new - state for a new connection */
struct conn *conn_new(struct milter_cfg *cfg)
{
    struct conn *c = xcalloc(1, sizeof(*c));

    c->cfg = cfg;
    return c;
}

/* conn_set_client - record the client's name and address */
void conn_set_client(struct conn *c, const char *hostname, const struct sockaddr *addr)
{
    c->client_ptr = xfree(c->client_ptr);
    /* Postfix passes "[addr]" or "unknown" when there is no verified name. */
    if (hostname && *hostname && *hostname != '[' && strcmp(hostname, "unknown") != 0)
        c->client_ptr = xstrdup(hostname);
    c->have_addr = addr && netaddr_from_sockaddr(addr, &c->addr);
    if (c->have_addr) {
        netaddr_format(&c->addr, c->client_ip);
        c->trusted = netlist_match(&c->cfg->c->trusted_networks, &c->addr);
    } else {
        /* No address: a local submission (sendmail, non_smtpd_milters). */
        c->client_ip[0] = '\0';
        c->trusted = true;
    }
}

/* conn_begin_message - start a message at MAIL FROM */
void conn_begin_message(struct conn *c, const char *mail_from, const char *sasl_user)
{
    struct ledger_msg *m;

    conn_reset_message(c);
    m = c->msg = ledger_msg_new();
    c->outbound = c->trusted || (sasl_user && *sasl_user);
    m->direction = c->outbound ? LEDGER_OUTBOUND : LEDGER_INBOUND;
    ledger_msg_set(&m->mail_from, mail_from);
    ledger_msg_set(&m->sasl_user, sasl_user && *sasl_user ? sasl_user : NULL);
    ledger_msg_set(&m->client_ip, c->have_addr ? c->client_ip : NULL);
    ledger_msg_set(&m->client_ptr, c->client_ptr);
    ledger_msg_set(&m->helo, c->helo);
    ledger_msg_set(&m->host, config_effective_hostname(c->cfg->c));
}

/* conn_reset_message - forget the message in progress */
void conn_reset_message(struct conn *c)
{
    c->msg = ledger_msg_free(c->msg);
    c->auth = inbound_end(c->auth);
    track_stage_reset(c);
    sign_stage_reset(c);
    c->outbound = false;
    authres_list_free(&c->ar_forged);
    c->ar_seen = 0;
    c->seen_message_id = c->seen_date = c->seen_from = c->seen_subject = false;
}

/* conn_free - reset, release the configuration, free */
struct conn *conn_free(struct conn *c)
{
    if (c == NULL)
        return NULL;
    conn_reset_message(c);
    c->cfg = milter_cfg_release(c->cfg);
    free(c->client_ptr);
    free(c->helo);
    return xfree(c);
}

/* conn_strip_brackets - "<a@b>" -> "a@b", "<>" -> "" */
char *conn_strip_brackets(const char *arg)
{
    return mailaddr_envelope(arg ? arg : "");
}
