/*
 * milter_cb.c - libmilter callbacks of postmeter-milter, calling the
 * stages in a fixed order.
 *
 * The order is code, not configuration: at end of message inbound mail
 * will go through spf, dkim-verify, dmarc, authres; outbound mail through
 * pixel then dkim-sign; every message then through the ledger stage.
 * These callbacks must never reject mail for an internal reason: on
 * trouble they follow on_internal_error (accept or tempfail).
 */
#include <pthread.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "milter.h"
#include "smfi.h"
#include "stage_auth.h"
#include "stage_ledger.h"
#include "stage_sign.h"
#include "stage_track.h"
#include "util.h"

static pthread_mutex_t milter_lock = PTHREAD_MUTEX_INITIALIZER;
static struct milter_cfg *milter_current; /* guarded by milter_lock */
static milter_sink_fn *milter_sink;
static void *milter_sink_arg;
static unsigned milter_connections; /* guarded by milter_lock */

/* milter_setup - set the record sink and the first configuration */
void milter_setup(milter_sink_fn *sink, void *sink_arg, struct config *c)
{
    milter_sink = sink;
    milter_sink_arg = sink_arg;
    milter_replace_config(c);
}

/* milter_replace_config - make c current; connections keep theirs */
void milter_replace_config(struct config *c)
{
    struct milter_cfg *mc = xcalloc(1, sizeof(*mc)), *old;

    mc->c = c;
    mc->refs = 1;
    pthread_mutex_lock(&milter_lock);
    old = milter_current;
    milter_current = mc;
    pthread_mutex_unlock(&milter_lock);
    milter_cfg_release(old);
}

/* milter_cfg_acquire - a reference to the current configuration */
struct milter_cfg *milter_cfg_acquire(void)
{
    struct milter_cfg *mc;

    pthread_mutex_lock(&milter_lock);
    mc = milter_current;
    if (mc == NULL)
        bug("milter_cfg_acquire before milter_setup");
    mc->refs++;
    pthread_mutex_unlock(&milter_lock);
    return mc;
}

/* milter_cfg_release - drop a reference */
struct milter_cfg *milter_cfg_release(struct milter_cfg *mc)
{
    bool last;

    if (mc == NULL)
        return NULL;
    pthread_mutex_lock(&milter_lock);
    last = --mc->refs == 0;
    pthread_mutex_unlock(&milter_lock);
    if (last) {
        config_free(mc->c);
        free(mc);
    }
    return NULL;
}

/* milter_active - connections open now */
unsigned milter_active(void)
{
    unsigned n;

    pthread_mutex_lock(&milter_lock);
    n = milter_connections;
    pthread_mutex_unlock(&milter_lock);
    return n;
}

/* milter_teardown - drop the sink and the configuration */
void milter_teardown(void)
{
    struct milter_cfg *old;

    pthread_mutex_lock(&milter_lock);
    old = milter_current;
    milter_current = NULL;
    milter_sink = NULL;
    pthread_mutex_unlock(&milter_lock);
    milter_cfg_release(old);
}

/* milter_emit - hand a finished record to the sink */
void milter_emit(const struct config *c, struct ledger_msg *m)
{
    if (milter_sink == NULL) {
        warn("ledger record %s after shutdown: not recorded", m->uid);
        ledger_msg_free(m);
        return;
    }
    milter_sink(milter_sink_arg, c, m);
}

/* get_conn - this connection's state, creating it on first use */
static struct conn *get_conn(SMFICTX *ctx)
{
    struct conn *c = smfi->getpriv(ctx);

    if (c == NULL) {
        c = conn_new(milter_cfg_acquire());
        smfi->setpriv(ctx, c);
        pthread_mutex_lock(&milter_lock);
        milter_connections++;
        pthread_mutex_unlock(&milter_lock);
    }
    return c;
}

/* reply - SMFIS_NOREPLY if the MTA agreed not to wait for this step */
static sfsistat reply(const struct conn *c, unsigned long nr_flag)
{
    return (c->nr_flags & nr_flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* internal_error - what to tell the MTA when postmeter itself failed */
static sfsistat internal_error(struct conn *c, const char *what)
{
    warn("internal error: %s", what);
    if (c && c->cfg->c->on_internal_error == ON_ERROR_TEMPFAIL)
        return SMFIS_TEMPFAIL;
    return SMFIS_ACCEPT;
}

/* milter_negotiate - take the actions we may use, skip waits we don't need */
sfsistat milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                          unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                          unsigned long *pf2, unsigned long *pf3)
{
    struct conn *c = get_conn(ctx);
    /* We answer only at end of message: every earlier step may go without a reply. */
    unsigned long want_nr = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |
                            SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH |
                            SMFIP_NR_BODY;

    (void)f2;
    (void)f3;
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_QUARANTINE);
    c->nr_flags = f1 & want_nr;
    /* DKIM's simple canonicalization needs the exact bytes after the colon. */
    c->leadspc = (f1 & SMFIP_HDR_LEADSPC) != 0;
    *pf1 = c->nr_flags | (f1 & (SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_HDR_LEADSPC));
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

/* milter_connect - who is the client, and is it trusted */
sfsistat milter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    struct conn *c = get_conn(ctx);

    conn_set_client(c, hostname, hostaddr);
    debug("connect from %s [%s]%s", hostname ? hostname : "-",
          c->have_addr ? c->client_ip : "local", c->trusted ? " (trusted)" : "");
    return reply(c, SMFIP_NR_CONN);
}

/* milter_helo - remember the HELO/EHLO name */
sfsistat milter_helo(SMFICTX *ctx, char *helo)
{
    struct conn *c = get_conn(ctx);

    free(c->helo);
    c->helo = xstrndup(helo ? helo : "", LEDGER_FIELD_MAX);
    return reply(c, SMFIP_NR_HELO);
}

/* milter_envfrom - a message begins; decide its direction */
sfsistat milter_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = get_conn(ctx);
    char *from = conn_strip_brackets(argv ? argv[0] : NULL);

    conn_begin_message(c, from, smfi->getsymval(ctx, "{auth_authen}"));
    free(from);
    auth_stage_begin(c);
    sign_stage_begin(c);
    track_stage_begin(c);
    return reply(c, SMFIP_NR_MAIL);
}

/* milter_envrcpt - one recipient */
sfsistat milter_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = get_conn(ctx);
    char *rcpt;

    if (c->msg == NULL) {
        if (c->nr_flags & SMFIP_NR_RCPT) {
            warn("internal error: RCPT TO without MAIL FROM");
            return SMFIS_NOREPLY;
        }
        return internal_error(c, "RCPT TO without MAIL FROM");
    }
    rcpt = conn_strip_brackets(argv ? argv[0] : NULL);
    ledger_stage_rcpt(c, rcpt);
    track_stage_rcpt(c, rcpt);
    free(rcpt);
    return reply(c, SMFIP_NR_RCPT);
}

/* milter_header - one header field */
sfsistat milter_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = get_conn(ctx);

    ledger_stage_header(c, name ? name : "", value ? value : "");
    auth_stage_header(c, name ? name : "", value ? value : "");
    sign_stage_header(c, name ? name : "", value ? value : "");
    track_stage_header(c, name ? name : "", value ? value : "");
    return reply(c, SMFIP_NR_HDR);
}

/* milter_eoh - end of the header block */
sfsistat milter_eoh(SMFICTX *ctx)
{
    struct conn *c = get_conn(ctx);

    ledger_stage_bytes(c, 2); /* the empty line */
    auth_stage_eoh(c);
    track_stage_eoh(c);
    /* While tracking holds the body, signing waits for the final one. */
    if (!track_stage_holds_body(c))
        sign_stage_eoh(c);
    return reply(c, SMFIP_NR_EOH);
}

/* milter_body - one chunk of the body */
sfsistat milter_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct conn *c = get_conn(ctx);

    ledger_stage_bytes(c, len);
    auth_stage_body(c, chunk, len);
    if (!track_stage_holds_body(c)) {
        sign_stage_body(c, chunk, len);
    } else if (!track_stage_body(c, chunk, len)) {
        /* Too large to track with a pixel: the signer catches up and streams on. */
        size_t n;
        const char *held = track_stage_held(c, &n);

        sign_stage_eoh(c);
        sign_stage_body(c, (const unsigned char *)held, n);
        sign_stage_body(c, chunk, len);
        track_stage_release(c);
    }
    return reply(c, SMFIP_NR_BODY);
}

/* milter_eom - end of message: run the stages in order */
sfsistat milter_eom(SMFICTX *ctx)
{
    struct conn *c = get_conn(ctx);
    const char *queue_id = smfi->getsymval(ctx, "i"), *action = "accept";
    sfsistat st;

    if (c->msg == NULL)
        return internal_error(c, "end of message without MAIL FROM");
    if (queue_id == NULL)
        queue_id = smfi->getsymval(ctx, "{i}");
    ledger_msg_set(&c->msg->queue_id, queue_id && *queue_id ? queue_id : NULL);
    /* inbound: spf, dkim-verify, dmarc, authres, policy; outbound: pixel, dkim-sign */
    st = auth_stage_eom(c, ctx, &action);
    if (st == SMFIS_CONTINUE) {
        const char *cte = NULL, *body = NULL;
        size_t n = 0;

        if (track_stage_eom(c, ctx, &cte, &body, &n)) {
            /* Sign the header and body the MTA now holds. */
            if (cte) {
                char *v = c->leadspc ? xasprintf(" %s", cte) : xstrdup(cte);

                sign_stage_set_header(c, "Content-Transfer-Encoding", v);
                free(v);
            }
            sign_stage_eoh(c);
            sign_stage_body(c, (const unsigned char *)body, n);
        }
        st = sign_stage_eom(c, ctx, &action);
    }
    ledger_stage_eom(c, queue_id, action);
    c->messages++;
    conn_reset_message(c);
    return st;
}

/* milter_abort - the message was abandoned (RSET, lost client) */
sfsistat milter_abort(SMFICTX *ctx)
{
    struct conn *c = smfi->getpriv(ctx);

    if (c)
        conn_reset_message(c);
    return SMFIS_CONTINUE;
}

/* milter_close - the connection ended */
sfsistat milter_close(SMFICTX *ctx)
{
    struct conn *c = smfi->getpriv(ctx);

    if (c) {
        smfi->setpriv(ctx, NULL);
        conn_free(c);
        pthread_mutex_lock(&milter_lock);
        milter_connections--;
        pthread_mutex_unlock(&milter_lock);
    }
    return SMFIS_CONTINUE;
}
