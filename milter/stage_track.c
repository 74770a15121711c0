/*
 * stage_track.c - open tracking in the milter (see stage_track.h).
 *
 * The rule set is an immutable snapshot shared by reference, like the
 * signing keys: the main thread loads a new one and swaps it in; a
 * message keeps the one it started with. This file never logs message
 * content; the token goes to the ledger only.
 */
#include <pthread.h>
#include <string.h>

#include "log.h"
#include "pixel_load.h"
#include "smfi.h"
#include "stage_track.h"
#include "store.h"
#include "timeutil.h"
#include "track.h"
#include "util.h"

#define OPT_OUT_HEADER "X-Postmeter-Track"
#define CTE_HEADER     "Content-Transfer-Encoding"
#define HEADER_BUF_MAX (1u << 20) /* a header block beyond this gets no pixel */
#define OPT_OUT_MAX    16         /* X-Postmeter-Track fields removed at most */

struct track_msg {
    struct track_rules *rules; /* the snapshot this message uses */
    bool matched;              /* a rule matched so far */
    bool excluded;             /* a recipient is in track_exclude */
    bool opt_out;              /* X-Postmeter-Track: no */
    unsigned opt_out_fields;   /* X-Postmeter-Track fields to remove */
    bool tracked;              /* decided at end of header */
    bool holding;              /* body held for injection */
    bool too_large;            /* header or body past the bounds */
    size_t max;                /* track_max_kb in bytes */
    struct buf hdrs;           /* "name\0value\0" of every other field, until end of header */
    struct buf msg;            /* while holding: the header block as text, then the body */
    size_t body_off;           /* where the body starts in msg */
    bool had_cte;              /* the header has a Content-Transfer-Encoding field */
    char *cte_was;             /* its value, unfolded, without white space */
    struct buf out;            /* the injected message */
    char *cte;                 /* new top-level Content-Transfer-Encoding value */
    char token[TRACK_TOKEN_LEN + 1];
};

static pthread_mutex_t track_lock = PTHREAD_MUTEX_INITIALIZER;
static struct track_rules *track_current; /* under track_lock */

/* rules_acquire - a reference to the current rules, or NULL */
static struct track_rules *rules_acquire(void)
{
    struct track_rules *r;

    pthread_mutex_lock(&track_lock);
    r = track_rules_ref(track_current);
    pthread_mutex_unlock(&track_lock);
    return r;
}

/* rules_swap - make r current (takes its reference) */
static void rules_swap(struct track_rules *r)
{
    struct track_rules *old;

    pthread_mutex_lock(&track_lock);
    old = track_current;
    track_current = r;
    pthread_mutex_unlock(&track_lock);
    track_rules_unref(old);
}

/* enabled - tracking is configured for the milter */
static bool enabled(const struct config *c)
{
    return c->tracking_base_url[0] != '\0' && c->tracking_mode == TRACKING_MILTER;
}

/* track_stage_engine - load the pixel engine if c configures tracking */
bool track_stage_engine(const struct config *c, char *err, size_t errlen)
{
    size_t n;

    if (!enabled(c) || pixel_load(c->pixel_module, err, errlen) != NULL)
        return true;
    n = strlen(err);
    if (!snprintf_ok(err + n, errlen - n, " (pixel_module in postmeter.conf(5))"))
        debug("tracking: error message cut");
    return false;
}

/* track_stage_refresh - load the enabled rules (and the engine, if a reload enabled tracking) */
size_t track_stage_refresh(const struct config *c, bool force)
{
    static char last_err[512], engine_err[512];
    struct track_rules *r = NULL, *cur;
    char err[512] = "";
    struct store *s;
    size_t n;
    bool same;

    if (!enabled(c)) {
        rules_swap(NULL);
        engine_err[0] = '\0'; /* turned on again later: say it again */
        return 0;
    }
    if (!track_stage_engine(c, err, sizeof(err))) {
        if (strcmp(err, engine_err) != 0)
            warn("tracking: %s; tracked mail goes out without a pixel", err);
        strlcpy_ok(engine_err, err, sizeof(engine_err));
        err[0] = '\0';
    } else {
        engine_err[0] = '\0';
    }
    if ((s = store_open(c->database, STORE_READONLY | STORE_NOCREATE, err, sizeof(err))) != NULL) {
        r = track_rules_load(s, err, sizeof(err));
        store_close(s);
    }
    if (r == NULL) {
        /* Keep tracking with what we have; say so once per distinct problem. */
        if (strcmp(err, last_err) != 0)
            warn("tracking: cannot read the tracking rules from %s: %s", c->database, err);
        strlcpy_ok(last_err, err, sizeof(last_err));
        cur = rules_acquire();
        n = track_rules_count(cur);
        track_rules_unref(cur);
        return n;
    }
    last_err[0] = '\0';
    n = track_rules_count(r);
    cur = rules_acquire();
    same = cur != NULL && track_rules_same(cur, r);
    track_rules_unref(cur);
    if (same && !force) {
        track_rules_unref(r);
        return n;
    }
    info("tracking: %zu enabled rule(s), pixels at %s/o/", n, c->tracking_base_url);
    rules_swap(r);
    return n;
}

/* track_stage_teardown - forget the rules */
void track_stage_teardown(void)
{
    rules_swap(NULL);
}

/* track_stage_begin - outbound mail gets a tracking state */
void track_stage_begin(struct conn *c)
{
    struct track_msg *t;

    if (c->msg == NULL || !c->outbound || !enabled(c->cfg->c))
        return;
    t = xcalloc(1, sizeof(*t));
    t->rules = rules_acquire();
    t->max = (size_t)c->cfg->c->track_max_kb * 1024;
    t->matched = track_rules_match_sender(t->rules, c->msg->mail_from);
    c->track = t;
}

/* track_stage_rcpt - a recipient may match a rule or be excluded */
void track_stage_rcpt(struct conn *c, const char *rcpt)
{
    struct track_msg *t = c->track;

    if (t == NULL)
        return;
    if (track_list_match(c->cfg->c->track_exclude, rcpt))
        t->excluded = true;
    else if (!t->matched && track_rules_match_recipient(t->rules, rcpt))
        t->matched = true;
}

/* value_is_no - the field value says "no" (any case, any surrounding space) */
static bool value_is_no(const char *v)
{
    size_t n;

    v += strspn(v, " \t\r\n");
    n = strlen(v);
    while (n > 0 && strchr(" \t\r\n", v[n - 1]))
        n--;
    return n == 2 && strncasecmp(v, "no", 2) == 0;
}

/* track_stage_header - note X-Postmeter-Track, keep the others while it may matter */
void track_stage_header(struct conn *c, const char *name, const char *value)
{
    struct track_msg *t = c->track;
    size_t nl, vl;

    if (t == NULL)
        return;
    if (str_eq_nocase(name, OPT_OUT_HEADER)) {
        if (t->opt_out_fields < OPT_OUT_MAX)
            t->opt_out_fields++;
        if (value_is_no(value))
            t->opt_out = true;
        return;
    }
    if (t->too_large || track_rules_count(t->rules) == 0)
        return;
    nl = strlen(name);
    vl = strlen(value);
    if (t->hdrs.len + nl + vl + 2 > HEADER_BUF_MAX) {
        t->too_large = true;
        buf_free(&t->hdrs);
        return;
    }
    buf_add(&t->hdrs, name, nl + 1);
    buf_add(&t->hdrs, value, vl + 1);
}

static void header_text(const struct conn *c, struct track_msg *t);

/* track_stage_eoh - decide whether the message is tracked */
void track_stage_eoh(struct conn *c)
{
    struct track_msg *t = c->track;

    if (t == NULL)
        return;
    if (!t->matched)
        t->matched = track_rules_match_sender(t->rules, c->msg->header_from);
    t->tracked = t->matched && !t->opt_out && !t->excluded;
    if (!t->tracked) {
        buf_free(&t->hdrs);
        return;
    }
    track_token_new(track_rules_key(t->rules), t->token); /* matched: t->rules has a rule */
    t->holding = !t->too_large;
    if (t->holding)
        header_text(c, t);
}

/* track_stage_holds_body - the body is being held */
bool track_stage_holds_body(const struct conn *c)
{
    return c->track != NULL && c->track->holding;
}

/* track_stage_body - hold a chunk unless the message grew too large */
bool track_stage_body(struct conn *c, const unsigned char *chunk, size_t len)
{
    struct track_msg *t = c->track;

    if (t == NULL || !t->holding)
        return true;
    if (t->msg.len + len > t->max) {
        t->holding = false;
        t->too_large = true;
        return false;
    }
    buf_add(&t->msg, chunk, len);
    return true;
}

/* track_stage_held - the body held so far */
const char *track_stage_held(const struct conn *c, size_t *len)
{
    const struct track_msg *t = c->track;

    if (t == NULL || t->msg.len < t->body_off) {
        *len = 0;
        return "";
    }
    *len = t->msg.len - t->body_off;
    return t->msg.data ? t->msg.data + t->body_off : "";
}

/* track_stage_release - forget the held body */
void track_stage_release(struct conn *c)
{
    if (c->track)
        buf_free(&c->track->msg);
}

/* add_crlf - append v with every line end made CRLF */
static void add_crlf(struct buf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\n' && (p == v || p[-1] != '\r'))
            buf_add(b, "\r", 1);
        buf_add(b, p, 1);
    }
}

/* header_value - the first value of field name in "name\0value\0" hdrs, NULL if none */
static const char *header_value(const struct buf *hdrs, const char *name)
{
    for (size_t p = 0; p < hdrs->len;) {
        const char *n = hdrs->data + p, *v = n + strlen(n) + 1;

        if (str_eq_nocase(n, name))
            return v;
        p = (size_t)(v + strlen(v) + 1 - hdrs->data);
    }
    return NULL;
}

/* trimmed - copy of v without surrounding white space or folding; caller frees */
static char *trimmed(const char *v, size_t n)
{
    struct buf b = BUF_INIT;

    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", v[i]))
            buf_add(&b, v + i, 1);
    return buf_steal(&b);
}

/*
 * header_text - at end of header: the header block as the injector reads
 * it (CRLF lines, the empty line) starts msg, where the body goes next;
 * the original Content-Transfer-Encoding is kept for the comparison
 */
static void header_text(const struct conn *c, struct track_msg *t)
{
    const char *cte = header_value(&t->hdrs, CTE_HEADER);

    t->had_cte = cte != NULL;
    t->cte_was = cte ? trimmed(cte, strlen(cte)) : NULL;
    buf_reserve(&t->msg, t->hdrs.len + 16384);
    for (size_t p = 0; p < t->hdrs.len;) {
        const char *name = t->hdrs.data + p, *value = name + strlen(name) + 1;

        buf_puts(&t->msg, name);
        buf_puts(&t->msg, c->leadspc ? ":" : ": ");
        add_crlf(&t->msg, value);
        buf_puts(&t->msg, "\r\n");
        p = (size_t)(value + strlen(value) + 1 - t->hdrs.data);
    }
    buf_puts(&t->msg, "\r\n");
    t->body_off = t->msg.len;
    buf_free(&t->hdrs);
}

/*
 * out_cte - the top-level Content-Transfer-Encoding of the message
 * h[0..hlen) (its header block), unfolded, without white space; caller
 * frees; NULL if there is none
 */
static char *out_cte(const char *h, size_t hlen)
{
    static const size_t cl = sizeof(CTE_HEADER) - 1;

    for (size_t p = 0; p < hlen;) {
        const char *line = h + p, *nl = memchr(line, '\n', hlen - p);
        size_t end = nl ? (size_t)(nl - h) + 1 : hlen;

        if ((line == h || line[-1] == '\n') && hlen - p > cl && line[cl] == ':' &&
            strncasecmp(line, CTE_HEADER, cl) == 0) {
            /* the value runs on over continuation lines */
            while (end < hlen && (h[end] == ' ' || h[end] == '\t')) {
                const char *more = memchr(h + end, '\n', hlen - end);

                end = more ? (size_t)(more - h) + 1 : hlen;
            }
            return trimmed(line + cl + 1, end - p - cl - 1);
        }
        p = end;
    }
    return NULL;
}

/* inject - run the injector over header + body; sets the outcome; true if the body changed */
static bool inject(struct conn *c, struct track_msg *t, const char **new_body, size_t *new_len)
{
    const struct pixel_api *px = pixel_loaded();
    struct buf url = BUF_INIT;
    struct pixel_report rep;
    enum pixel_outcome o;
    const char *hend;
    bool changed = false;

    if (px == NULL) { /* the module could not be loaded (logged by track_stage_refresh()) */
        ledger_msg_set(&c->msg->track_outcome, "error");
        ledger_msg_set(&c->msg->track_reason, "the pixel engine is not loaded");
        return false;
    }
    track_pixel_url(c->cfg->c->tracking_base_url, t->token, &url);
    buf_reserve(&t->out, t->msg.len + 1024);
    o = px->inject(buf_cstr(&t->msg), t->msg.len, buf_cstr(&url), &t->out, &rep);
    ledger_msg_set(&c->msg->track_outcome, px->outcome_word(o));
    ledger_msg_set(&c->msg->track_reason, rep.reason[0] ? rep.reason : NULL);
    if (o == PIXEL_INJECTED && t->out.len > 0 &&
        (hend = memmem(t->out.data, t->out.len, "\r\n\r\n", 4)) != NULL) {
        size_t hlen = (size_t)(hend - t->out.data) + 2;
        char *now = out_cte(t->out.data, hlen);

        if (now && (t->cte_was == NULL || strcasecmp(t->cte_was, now) != 0))
            t->cte = xstrdup(now);
        free(now);
        *new_body = hend + 4;
        *new_len = t->out.len - (size_t)(*new_body - t->out.data);
        changed = true;
    } else if (o == PIXEL_INJECTED) {
        ledger_msg_set(&c->msg->track_outcome, "error");
        ledger_msg_set(&c->msg->track_reason, "injected message without a header end");
    }
    buf_free(&url);
    return changed;
}

/* set_cte - give the MTA the new Content-Transfer-Encoding; false if it refused */
static bool set_cte(struct conn *c, SMFICTX *ctx, const struct track_msg *t, bool had)
{
    char *v = c->leadspc ? xasprintf(" %s", t->cte) : xstrdup(t->cte);
    int rc = had ? smfi->chgheader(ctx, CTE_HEADER, 1, v)
                 : smfi->insheader(ctx, 1 << 30, CTE_HEADER, v); /* past the end: appended */

    free(v);
    return rc == MI_SUCCESS;
}

/* track_stage_eom - remove the opt-out field, inject, replace the body */
bool track_stage_eom(struct conn *c, SMFICTX *ctx, const char **cte, const char **body, size_t *len)
{
    struct track_msg *t = c->track;
    const char *qid = c->msg && c->msg->queue_id ? c->msg->queue_id : "-";
    bool held;

    *cte = NULL;
    *body = "";
    *len = 0;
    if (t == NULL)
        return false;
    for (unsigned i = t->opt_out_fields; i > 0; i--)
        if (smfi->chgheader(ctx, OPT_OUT_HEADER, (int)i, NULL) != MI_SUCCESS)
            warn("%s: the MTA did not remove " OPT_OUT_HEADER, qid);
    if (!t->tracked)
        return false;
    ledger_msg_set(&c->msg->track_token, t->token);
    c->msg->track_ms = time_now_us() / 1000; /* accepted now: open_min_seconds counts from here */
    held = t->holding;
    t->holding = false;
    if (!held) {
        ledger_msg_set(&c->msg->track_outcome, "too-large");
        ledger_msg_set(&c->msg->track_reason, "larger than track_max_kb");
        return false;
    }
    /* Unless the pixel goes in, the signer signs the body as it came. */
    *body = track_stage_held(c, len);
    {
        const char *nb = NULL;
        size_t nl = 0;

        if (!inject(c, t, &nb, &nl))
            return true;
        if ((int)nl < 0 || smfi->replacebody(ctx, (unsigned char *)nb, (int)nl) != MI_SUCCESS) {
            warn("%s: the MTA refused the body with the tracking pixel: sent without it", qid);
            ledger_msg_set(&c->msg->track_outcome, "error");
            ledger_msg_set(&c->msg->track_reason, "the MTA refused the new body");
            return true;
        }
        if (t->cte && !set_cte(c, ctx, t, t->had_cte))
            warn("%s: the MTA refused the new " CTE_HEADER, qid);
        *cte = t->cte;
        /* The signer signs what the MTA now holds: the injected body. */
        *body = nb;
        *len = nl;
    }
    debug("%s: tracking pixel injected", qid);
    return true;
}

/* track_stage_reset - drop the message's tracking state */
void track_stage_reset(struct conn *c)
{
    struct track_msg *t = c->track;

    if (t == NULL)
        return;
    c->track = NULL;
    track_rules_unref(t->rules);
    buf_free(&t->hdrs);
    buf_free(&t->msg);
    buf_free(&t->out);
    free(t->cte_was);
    free(t->cte);
    free(t);
}
