/*
 * stage_auth.c - inbound authentication stage (see stage_auth.h).
 *
 * The decisions are auth/inbound.c's; this file only moves data between
 * libmilter and the pipeline. It must never refuse mail for a reason of
 * its own: when the MTA refuses a header change, the mail goes on.
 */
#include <string.h>

#include "authres.h"
#include "log.h"
#include "smfi.h"
#include "stage_auth.h"
#include "util.h"

static struct inbound *auth_inbound;

/* auth_stage_setup - the process-wide pipeline */
void auth_stage_setup(struct inbound *ib)
{
    auth_inbound = ib;
}

/* auth_stage_begin - start the checks of an inbound message */
void auth_stage_begin(struct conn *c)
{
    if (auth_inbound == NULL || c->msg == NULL || c->outbound)
        return;
    c->auth =
        inbound_begin(auth_inbound, c->cfg->c, c->have_addr ? c->client_ip : NULL,
                      c->helo ? c->helo : "", c->msg->mail_from, c->leadspc ? INBOUND_LEADSPC : 0);
}

/* auth_stage_header - one header field */
void auth_stage_header(struct conn *c, const char *name, const char *value)
{
    if (c->auth) {
        inbound_header(c->auth, name, value);
        return;
    }
    /*
     * Outbound mail may go to local users too: a field that claims our
     * authserv-id was not written by us and must not reach them.
     */
    if (c->msg && c->outbound && str_eq_nocase(name, AUTHRES_HEADER)) {
        c->ar_seen++;
        if (!authres_is_ours(value, config_effective_authserv_id(c->cfg->c)))
            return;
        /* every one, however many (conn.h: the header's size bounds them) */
        authres_list_add(&c->ar_forged, c->ar_seen);
    }
}

/* auth_stage_eoh - end of the header block */
void auth_stage_eoh(struct conn *c)
{
    if (c->auth)
        inbound_eoh(c->auth);
}

/* auth_stage_body - a body chunk */
void auth_stage_body(struct conn *c, const unsigned char *chunk, size_t len)
{
    if (c->auth)
        inbound_body(c->auth, chunk, len);
}

/*
 * add_header - insert name: value at the top. With SMFIP_HDR_LEADSPC the
 * MTA takes the value as it stands after the colon, so the space that
 * separates them is ours to give.
 */
static int add_header(struct conn *c, SMFICTX *ctx, const char *name, const char *value)
{
    char *v = c->leadspc ? xasprintf(" %s", value) : xstrdup(value);
    int rc = smfi->insheader(ctx, 0, (char *)name, v);

    free(v);
    return rc;
}

/* auth_stage_eom - decide and apply */
sfsistat auth_stage_eom(struct conn *c, SMFICTX *ctx, const char **action)
{
    const struct inbound_verdict *v;
    const char *qid = c->msg && c->msg->queue_id ? c->msg->queue_id : "-";

    *action = "accept";
    /* Delete from the last so earlier indexes stay valid. */
    for (size_t i = c->ar_forged.n; i-- > 0;)
        if (smfi->chgheader(ctx, AUTHRES_HEADER, (int)c->ar_forged.v[i], NULL) != MI_SUCCESS)
            warn("%s: cannot remove a forged %s field", qid, AUTHRES_HEADER);
    authres_list_free(&c->ar_forged);
    if (c->auth == NULL)
        return SMFIS_CONTINUE;
    v = inbound_eom(c->auth);
    inbound_record(c->auth, c->msg);
    *action = inbound_action_name(v->action);
    if (v->action == INBOUND_REJECT || v->action == INBOUND_TEMPFAIL) {
        info("%s: %s: %s", qid, *action, v->reason);
        if (smfi->setreply(ctx, (char *)v->rcode, (char *)v->xcode, (char *)v->reason) !=
            MI_SUCCESS)
            warn("%s: the MTA did not take our reply text", qid);
        return v->action == INBOUND_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
    }
    /* Delete from the last so earlier indexes stay valid. */
    for (size_t i = v->nremove; i-- > 0;) {
        if (smfi->chgheader(ctx, AUTHRES_HEADER, (int)v->remove[i], NULL) != MI_SUCCESS)
            warn("%s: cannot remove a forged %s field", qid, AUTHRES_HEADER);
    }
    if (add_header(c, ctx, AUTHRES_HEADER, v->authres) != MI_SUCCESS)
        warn("%s: cannot add the %s field", qid, AUTHRES_HEADER);
    if (v->action == INBOUND_QUARANTINE) {
        info("%s: quarantine: %s", qid, v->reason);
        if (v->quarantine_header) {
            if (add_header(c, ctx, INBOUND_QUARANTINE_HEADER, v->reason) != MI_SUCCESS)
                warn("%s: cannot add the %s field", qid, INBOUND_QUARANTINE_HEADER);
        } else if (smfi->quarantine(ctx, (char *)v->reason) != MI_SUCCESS) {
            warn("%s: the MTA refused to hold the message", qid);
        }
    }
    return SMFIS_CONTINUE;
}
