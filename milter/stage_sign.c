/*
 * stage_sign.c - outbound DKIM signing (see stage_sign.h).
 *
 * The key table is an immutable snapshot shared by reference: the main
 * thread builds a new one and swaps it in; a message keeps the snapshot
 * it started with until its reset. The header is buffered until its end
 * because the keys depend on the From field, which may come last.
 * This file must never log key material or message content, and never
 * sign mail that is not outbound.
 */
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "from_domain.h"
#include "ledger_msg.h"
#include "log.h"
#include "smfi.h"
#include "stage_sign.h"
#include "store.h"
#include "util.h"

#define SIGN_HEADER    "DKIM-Signature"
#define HEADER_BUF_MAX (1u << 20) /* a header block beyond this is not signed */

/* One registered active key: loaded, or why it could not be. */
struct sign_entry {
    char *domain, *selector, *algorithm, *key_file;
    struct dkims_key *key; /* NULL: could not be loaded */
    char *error;           /* why, when key is NULL */
};

struct sign_keys {
    unsigned refs; /* under sign_lock */
    size_t n;
    struct sign_entry *v;
    char *fingerprint; /* what the table was built from */
};

/* A message being signed. */
struct sign_msg {
    struct sign_keys *keys; /* the snapshot this message uses */
    struct buf hdrs;        /* "name\0value\0" until end of header */
    bool too_big;
    const char *domain;     /* signing domain chosen at end of header, or NULL */
    struct dkims_msg *m;    /* NULL: nothing to sign with */
    size_t nkeys;           /* keys m signs with */
    const char *unloadable; /* an active key of the domain that could not be loaded */
    const char *unsignable; /* why the From cannot be signed for (static text), or NULL */
};

static pthread_mutex_t sign_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sign_keys *sign_current; /* under sign_lock */
static struct dkims *sign_dkims;

/* keys_release - drop a reference to a snapshot; the last one frees it */
static void keys_release(struct sign_keys *k)
{
    bool last;

    if (k == NULL)
        return;
    pthread_mutex_lock(&sign_lock);
    last = --k->refs == 0;
    pthread_mutex_unlock(&sign_lock);
    if (!last)
        return;
    for (size_t i = 0; i < k->n; i++) {
        struct sign_entry *e = &k->v[i];

        dkims_key_free(e->key);
        free(e->domain);
        free(e->selector);
        free(e->algorithm);
        free(e->key_file);
        free(e->error);
    }
    free(k->v);
    free(k->fingerprint);
    free(k);
}

/* keys_acquire - a reference to the current snapshot, or NULL */
static struct sign_keys *keys_acquire(void)
{
    struct sign_keys *k;

    pthread_mutex_lock(&sign_lock);
    if ((k = sign_current) != NULL)
        k->refs++;
    pthread_mutex_unlock(&sign_lock);
    return k;
}

/* keys_swap - make k current (takes its reference) */
static void keys_swap(struct sign_keys *k)
{
    struct sign_keys *old;

    pthread_mutex_lock(&sign_lock);
    old = sign_current;
    sign_current = k;
    pthread_mutex_unlock(&sign_lock);
    keys_release(old);
}

/* sign_stage_setup - the process-wide signer */
void sign_stage_setup(struct dkims *s)
{
    sign_dkims = s;
}

/* collect_active - store callback: keep active keys */
static int collect_active(const struct store_dkim_key *k, void *arg)
{
    struct sign_keys *t = arg;
    struct sign_entry *e;

    if (k->state != STORE_DKIM_ACTIVE)
        return 0;
    t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    e = &t->v[t->n++];
    memset(e, 0, sizeof(*e));
    e->domain = xstrdup(k->domain);
    e->selector = xstrdup(k->selector);
    e->algorithm = xstrdup(store_dkim_alg_name(k->algorithm));
    e->key_file = xstrdup(k->key_file);
    return 0;
}

/* fingerprint - the key list and each file's identity, as one string; caller frees */
static char *fingerprint(const struct sign_keys *t)
{
    struct buf b = BUF_INIT;

    for (size_t i = 0; i < t->n; i++) {
        const struct sign_entry *e = &t->v[i];
        struct stat st;

        if (stat(e->key_file, &st) != 0)
            memset(&st, 0, sizeof(st));
        buf_printf(&b, "%s|%s|%s|%s|%llu|%lld|%lld\n", e->domain, e->selector, e->algorithm,
                   e->key_file, (unsigned long long)st.st_ino, (long long)st.st_size,
                   (long long)st.st_mtime);
    }
    return buf_steal(&b);
}

/* sign_stage_refresh - read the active keys and load them if they changed */
size_t sign_stage_refresh(const struct config *c, bool force)
{
    static char last_err[512];
    struct sign_keys *t = xcalloc(1, sizeof(*t)), *cur;
    char err[512];
    struct store *s;
    enum store_status st = STORE_ERROR;
    size_t usable = 0;
    bool same;

    if (sign_dkims == NULL) {
        free(t);
        return 0;
    }
    t->refs = 1;
    if ((s = store_open(c->database, STORE_READONLY | STORE_NOCREATE, err, sizeof(err))) != NULL) {
        st = store_list_dkim_keys(s, NULL, collect_active, t);
        if (st != STORE_OK && !strlcpy_ok(err, store_error(s), sizeof(err)))
            debug("dkim-sign: error message cut");
        store_close(s);
    }
    if (st != STORE_OK) {
        /* Keep signing with what we have; say so once per distinct problem. */
        if (strcmp(err, last_err) != 0)
            warn("dkim-sign: cannot read the signing keys from %s: %s", c->database, err);
        strlcpy_ok(last_err, err, sizeof(last_err));
        keys_release(t);
        return 0;
    }
    last_err[0] = '\0';
    t->fingerprint = fingerprint(t);
    cur = keys_acquire();
    same = cur && strcmp(cur->fingerprint, t->fingerprint) == 0;
    if (same && !force) {
        for (size_t i = 0; i < cur->n; i++)
            usable += cur->v[i].key != NULL;
        keys_release(cur);
        keys_release(t);
        return usable;
    }
    keys_release(cur);
    for (size_t i = 0; i < t->n; i++) {
        struct sign_entry *e = &t->v[i];

        e->key =
            dkims_key_load(e->domain, e->selector, e->algorithm, e->key_file, err, sizeof(err));
        if (e->key) {
            usable++;
            continue;
        }
        e->error = xstrdup(err);
        warn("dkim-sign: key %s for %s cannot be used: %s; mail from %s goes out %s", e->selector,
             e->domain, err, e->domain,
             c->on_sign_error == ON_ERROR_TEMPFAIL ? "tempfailed" : "unsigned");
    }
    info("dkim-sign: %zu signing key(s) loaded for %zu registered", usable, t->n);
    keys_swap(t);
    return usable;
}

/* sign_stage_teardown - forget every key */
void sign_stage_teardown(void)
{
    keys_swap(NULL);
}

/* sign_stage_begin - outbound messages get a signing state */
void sign_stage_begin(struct conn *c)
{
    struct sign_keys *k;

    if (sign_dkims == NULL || c->msg == NULL || !c->outbound)
        return;
    if ((k = keys_acquire()) == NULL)
        return;
    if (k->n == 0) {
        keys_release(k);
        return;
    }
    c->sign = xcalloc(1, sizeof(*c->sign));
    c->sign->keys = k;
}

/* sign_stage_header - keep the header until its end */
void sign_stage_header(struct conn *c, const char *name, const char *value)
{
    struct sign_msg *s = c->sign;
    size_t nl, vl;

    if (s == NULL || s->too_big)
        return;
    nl = strlen(name);
    vl = strlen(value);
    if (s->hdrs.len + nl + vl + 2 > HEADER_BUF_MAX) {
        s->too_big = true;
        buf_free(&s->hdrs);
        return;
    }
    buf_add(&s->hdrs, name, nl + 1);
    buf_add(&s->hdrs, value, vl + 1);
}

/* sign_stage_set_header - change (or add) one buffered field before signing starts */
void sign_stage_set_header(struct conn *c, const char *name, const char *value)
{
    struct sign_msg *s = c->sign;
    struct buf nb = BUF_INIT;
    bool done = false;

    if (s == NULL || s->too_big || s->m != NULL)
        return;
    for (size_t p = 0; p < s->hdrs.len;) {
        const char *n = s->hdrs.data + p, *v = n + strlen(n) + 1;

        buf_add(&nb, n, strlen(n) + 1);
        if (!done && str_eq_nocase(n, name)) {
            buf_add(&nb, value, strlen(value) + 1);
            done = true;
        } else {
            buf_add(&nb, v, strlen(v) + 1);
        }
        p = (size_t)(v + strlen(v) + 1 - s->hdrs.data);
    }
    if (!done) {
        buf_add(&nb, name, strlen(name) + 1);
        buf_add(&nb, value, strlen(value) + 1);
    }
    buf_free(&s->hdrs);
    s->hdrs = nb;
}

/* signing_domain - the From domain or its nearest parent with keys; NULL if none */
static const char *signing_domain(struct sign_keys *k, const char *from)
{
    for (const char *d = from; d && *d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL)
        for (size_t i = 0; i < k->n; i++)
            if (strcmp(k->v[i].domain, d) == 0)
                return k->v[i].domain;
    return NULL;
}

/*
 * unsignable - why the From fields (read as the inbound check reads
 * them, from_domain.h) name no one author domain we may vouch for, or
 * NULL. A From DMARC would count as bad (malformed, encoded-word, bidi
 * control, cut, literal, ...) is never signed, even when it names one
 * of our domains: our signature must not make a deceptive From pass.
 */
static const char *unsignable(const struct from_domains *fd)
{
    const char *why = from_domain_problem(fd->flags & (FROM_DOMAIN_BAD | FROM_DOMAIN_FIELDS));

    if (!from_domain_clean(fd, FROM_DOMAIN_BAD | FROM_DOMAIN_FIELDS))
        return why ? why : "no From domain";
    if (fd->n != 1)
        return "several From domains";
    return NULL;
}

/* sign_stage_eoh - choose the keys from the From domain and start signing */
void sign_stage_eoh(struct conn *c)
{
    struct sign_msg *s = c->sign;
    const char *from[FROM_FIELDS_MAX] = {NULL};
    struct dkims_key *use[8];
    struct from_domains fd;
    size_t nfrom = 0, nuse = 0;
    bool dropped = false;

    if (s == NULL)
        return;
    if (s->too_big) {
        warn("%s: header too large to sign", c->msg->queue_id ? c->msg->queue_id : "-");
        return;
    }
    for (size_t p = 0; p < s->hdrs.len;) {
        const char *name = s->hdrs.data + p, *value = name + strlen(name) + 1;

        if (from_is_name(name)) {
            if (nfrom < FROM_FIELDS_MAX)
                from[nfrom++] = value;
            else
                dropped = true;
        }
        p = (size_t)(value + strlen(value) + 1 - s->hdrs.data);
    }
    from_domain_analyze(from, nfrom, &fd);
    if (dropped)
        fd.flags |= FROM_DOMAIN_FIELDS | FROM_DOMAIN_TOO_MANY;
    /* Sign only for one unambiguous author domain. */
    if ((s->unsignable = unsignable(&fd)) != NULL)
        return; /* said at end of message, with the queue id */
    if ((s->domain = signing_domain(s->keys, fd.domain[0])) == NULL)
        return;
    for (size_t i = 0; i < s->keys->n && nuse < 8; i++) {
        struct sign_entry *e = &s->keys->v[i];

        if (strcmp(e->domain, s->domain) != 0)
            continue;
        if (e->key)
            use[nuse++] = e->key;
        else
            s->unloadable = e->selector;
    }
    if (nuse == 0)
        return;
    s->nkeys = nuse;
    s->m = dkims_begin(sign_dkims, use, nuse, c->leadspc ? DKIMS_LEADSPC : 0);
    for (size_t p = 0; p < s->hdrs.len;) {
        const char *name = s->hdrs.data + p, *value = name + strlen(name) + 1;

        dkims_header(s->m, name, value);
        p = (size_t)(value + strlen(value) + 1 - s->hdrs.data);
    }
    buf_free(&s->hdrs);
    dkims_eoh(s->m);
}

/* sign_stage_body - a body chunk */
void sign_stage_body(struct conn *c, const unsigned char *chunk, size_t len)
{
    if (c->sign && c->sign->m)
        dkims_body(c->sign->m, chunk, len);
}

/* record - one dkim-sign result in the ledger */
static void record(struct conn *c, const struct dkims_sig *sig, const char *result)
{
    struct ledger_auth *a = ledger_msg_add_auth(c->msg, "dkim-sign", result);

    if (a) {
        ledger_msg_set(&a->identity, sig->domain);
        ledger_msg_set(&a->selector, sig->selector);
        ledger_msg_set(&a->algorithm, sig->algorithm);
        ledger_msg_set(&a->reason, sig->error);
    }
}

/*
 * add_signature - insert one DKIM-Signature at the top. With
 * SMFIP_HDR_LEADSPC the MTA takes the value as it stands after the colon,
 * so the space that was signed is ours to give.
 */
static int add_signature(struct conn *c, SMFICTX *ctx, const char *value)
{
    char *v = c->leadspc ? xasprintf(" %s", value) : xstrdup(value);
    int rc = smfi->insheader(ctx, 0, SIGN_HEADER, v);

    free(v);
    return rc;
}

/* sign_stage_eom - sign and insert */
sfsistat sign_stage_eom(struct conn *c, SMFICTX *ctx, const char **action)
{
    struct sign_msg *s = c->sign;
    const char *qid = c->msg && c->msg->queue_id ? c->msg->queue_id : "-";
    const struct dkims_sig *sigs = NULL;
    bool failed = s && s->unloadable != NULL;

    if (s && s->unsignable)
        info("%s: not signed: %s", qid, s->unsignable);
    if (s == NULL || s->domain == NULL)
        return SMFIS_CONTINUE;
    if (s->m) {
        dkims_eom(s->m, &sigs);
        /* Insert the last first: each field goes to the top, so they end up in key order. */
        for (size_t i = s->nkeys; i-- > 0;) {
            if (sigs[i].value && add_signature(c, ctx, sigs[i].value) == MI_SUCCESS) {
                record(c, &sigs[i], "signed");
                debug("%s: signed by %s with %s (%s)", qid, sigs[i].domain, sigs[i].selector,
                      sigs[i].algorithm);
                continue;
            }
            failed = true;
            warn("%s: signing with %s of %s failed: %s", qid, sigs[i].selector, sigs[i].domain,
                 sigs[i].error ? sigs[i].error : "the MTA refused the header");
            record(c, &sigs[i], "error");
        }
    }
    if (failed && c->cfg->c->on_sign_error == ON_ERROR_TEMPFAIL) {
        *action = "tempfail";
        if (smfi->setreply(ctx, "451", "4.7.0", "DKIM signing failed, try again later") !=
            MI_SUCCESS)
            warn("%s: the MTA did not take our reply text", qid);
        return SMFIS_TEMPFAIL;
    }
    return SMFIS_CONTINUE;
}

/* sign_stage_why_unsigned - why no signature was tried (stage_sign.h) */
const char *sign_stage_why_unsigned(const struct conn *c)
{
    const struct sign_msg *s = c->sign;

    if (s == NULL)
        return "no signing keys";
    if (s->too_big)
        return "header too large to sign";
    if (s->unsignable)
        return s->unsignable;
    if (s->domain == NULL)
        return "no key for the From domain";
    if (s->m == NULL)
        return "the domain's key cannot be loaded";
    return NULL;
}

/* sign_stage_reset - drop the message's signing state */
void sign_stage_reset(struct conn *c)
{
    struct sign_msg *s = c->sign;

    if (s == NULL)
        return;
    c->sign = NULL;
    dkims_end(s->m);
    buf_free(&s->hdrs);
    keys_release(s->keys);
    free(s);
}
