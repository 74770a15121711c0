/*
 * msession.c - one milter conversation as a state machine over bytes.
 * See msession.h.
 *
 * Protocol notes (what Postfix's milter8 and libmilter agree on):
 * - SMFIC_MACRO carries the command it belongs to and name/value pairs;
 *   it replaces that command's earlier macros. A command clears the
 *   macros of every later command, so a new MAIL FROM never sees the
 *   last message's queue id. getsymval() looks from the latest command
 *   back to the connection's.
 * - A step negotiated with SMFIP_NR_* gets no reply at all: the MTA does
 *   not read one, and a stray reply would be taken as the answer to the
 *   next command.
 * - SMFIC_BODYEOB may carry a last body chunk; it goes to the body
 *   callback before end of message.
 */
#include <string.h>

#include "log.h"
#include "mproto.h"
#include "msession.h"
#include "util.h"

/* Commands that carry macros, in protocol order. */
static const char macro_stages[] = {SMFIC_CONNECT, SMFIC_HELO, SMFIC_MAIL,    SMFIC_RCPT,
                                    SMFIC_DATA,    SMFIC_EOH,  SMFIC_BODYEOB, SMFIC_UNKNOWN};
#define NSTAGES (sizeof(macro_stages))

struct macros {
    unsigned char *data; /* a copy of the packet's strings */
    char *argv[MPROTO_MAX_ARGS];
    int n; /* strings in argv: name, value, name, value, ... */
};

struct smfi_str {
    const struct smfiDesc *desc;
    void *priv;
    uint32_t actions;  /* SMFIF_* the MTA agreed we may use */
    uint32_t protocol; /* SMFIP_* agreed */
    bool negotiated;
    bool in_eom;    /* modifications are allowed now */
    bool closed;    /* the close callback ran */
    char *reply;    /* smfi_setreply() text for the next reject/tempfail */
    struct buf in;  /* bytes not yet parsed */
    struct buf out; /* replies to send */
    struct macros mac[NSTAGES];
    unsigned long messages;
};

/* stage_of - index of cmd in macro_stages, -1 if it has none */
static int stage_of(char cmd)
{
    const char *p = memchr(macro_stages, cmd, NSTAGES);

    return p ? (int)(p - macro_stages) : -1;
}

static void macros_clear(struct macros *m)
{
    free(m->data);
    m->data = NULL;
    m->n = 0;
}

/* clear_after - forget the macros of every command after stage */
static void clear_after(SMFICTX *s, int stage)
{
    for (size_t i = (size_t)stage + 1; i < NSTAGES; i++)
        macros_clear(&s->mac[i]);
}

/* msession_new - a session with these callbacks */
SMFICTX *msession_new(const struct smfiDesc *desc)
{
    SMFICTX *s = xcalloc(1, sizeof(*s));

    s->desc = desc;
    return s;
}

struct buf *msession_output(SMFICTX *s)
{
    return &s->out;
}

unsigned long msession_messages(const SMFICTX *s)
{
    return s->messages;
}

/* run_close - the connection's close callback, at most once per connection */
static void run_close(SMFICTX *s)
{
    if (!s->closed && s->desc->xxfi_close)
        s->desc->xxfi_close(s);
    s->closed = true;
}

/* msession_free - end of the connection */
void msession_free(SMFICTX *s)
{
    if (s == NULL)
        return;
    run_close(s);
    for (size_t i = 0; i < NSTAGES; i++)
        macros_clear(&s->mac[i]);
    free(s->reply);
    buf_free(&s->in);
    buf_free(&s->out);
    free(s);
}

/* send_status - the reply for a callback's status; nothing if nr was negotiated */
static void send_status(SMFICTX *s, sfsistat st, uint32_t nr)
{
    char cmd;

    if (nr && (s->protocol & nr)) {
        if (st != SMFIS_NOREPLY && st != SMFIS_CONTINUE)
            warn("milter: status %d for a step the MTA does not wait for (ignored)", st);
        return;
    }
    switch (st) {
    case SMFIS_ACCEPT:
        cmd = SMFIR_ACCEPT;
        break;
    case SMFIS_DISCARD:
        cmd = SMFIR_DISCARD;
        break;
    case SMFIS_SKIP:
        cmd = SMFIR_SKIP;
        break;
    case SMFIS_REJECT:
    case SMFIS_TEMPFAIL:
        /* our own text if smfi_setreply() gave one of the right kind */
        if (s->reply && s->reply[0] == (st == SMFIS_REJECT ? '5' : '4')) {
            mproto_put(&s->out, SMFIR_REPLYCODE, s->reply, strlen(s->reply) + 1);
            return;
        }
        cmd = st == SMFIS_REJECT ? SMFIR_REJECT : SMFIR_TEMPFAIL;
        break;
    default: /* CONTINUE, and NOREPLY where the MTA waits after all */
        cmd = SMFIR_CONTINUE;
        break;
    }
    mproto_put(&s->out, cmd, NULL, 0);
}

/* do_optneg - agree on protocol version, actions and steps */
static bool do_optneg(SMFICTX *s, const struct mpkt *p)
{
    uint32_t version, actions, protocol;
    unsigned long a, f, f2 = 0, f3 = 0;
    sfsistat st = SMFIS_ALL_OPTS;

    if (!mproto_optneg(p->data, p->len, &version, &actions, &protocol) || version < 2) {
        warn("milter: bad option negotiation from the MTA");
        return false;
    }
    a = s->desc->xxfi_flags & actions;
    f = 0;
    if (s->desc->xxfi_negotiate)
        st = s->desc->xxfi_negotiate(s, actions, protocol, 0, 0, &a, &f, &f2, &f3);
    if (st == SMFIS_ALL_OPTS) {
        a = s->desc->xxfi_flags & actions;
        f = 0;
    } else if (st != SMFIS_CONTINUE) {
        warn("milter: negotiation refused");
        return false;
    }
    /* Steps nobody listens to need not be sent at all. */
    if (!s->desc->xxfi_connect)
        f |= SMFIP_NOCONNECT;
    if (!s->desc->xxfi_helo)
        f |= SMFIP_NOHELO;
    if (!s->desc->xxfi_envfrom)
        f |= SMFIP_NOMAIL;
    if (!s->desc->xxfi_envrcpt)
        f |= SMFIP_NORCPT;
    if (!s->desc->xxfi_header)
        f |= SMFIP_NOHDRS;
    if (!s->desc->xxfi_eoh)
        f |= SMFIP_NOEOH;
    if (!s->desc->xxfi_body)
        f |= SMFIP_NOBODY;
    if (!s->desc->xxfi_unknown)
        f |= SMFIP_NOUNKNOWN;
    if (!s->desc->xxfi_data)
        f |= SMFIP_NODATA;
    s->actions = (uint32_t)(a & actions);
    s->protocol = (uint32_t)(f & protocol);
    s->negotiated = true;
    mproto_put_optneg(&s->out, version < SMFI_PROT_VERSION ? version : SMFI_PROT_VERSION,
                      s->actions, s->protocol);
    return true;
}

/* do_macro - store a command's macros */
static void do_macro(SMFICTX *s, const struct mpkt *p)
{
    struct macros *m;
    int stage;

    if (p->len < 1 || (stage = stage_of((char)p->data[0])) < 0)
        return; /* macros for a command we do not track: ignore, as libmilter does */
    m = &s->mac[stage];
    macros_clear(m);
    m->data = xmalloc(p->len);
    memcpy(m->data, p->data + 1, p->len - 1);
    m->n = mproto_strings(m->data, p->len - 1, m->argv, MPROTO_MAX_ARGS);
    if (m->n < 0) {
        warn("milter: malformed macros for command '%c' (ignored)", p->data[0]);
        macros_clear(m);
    }
}

/* strings - split a command's data into argv; false if malformed */
static bool strings(const struct mpkt *p, char **argv, int min)
{
    int n = mproto_strings((unsigned char *)p->data, p->len, argv, MPROTO_MAX_ARGS);

    if (n < min) {
        warn("milter: malformed '%c' command from the MTA", p->cmd);
        return false;
    }
    return true;
}

/* do_eom - end of message: the callback, its modifications, the reply */
static void do_eom(SMFICTX *s, const struct mpkt *p)
{
    sfsistat st = SMFIS_CONTINUE;

    if (p->len > 0 && s->desc->xxfi_body)
        st = s->desc->xxfi_body(s, (unsigned char *)p->data, p->len);
    if ((st == SMFIS_CONTINUE || st == SMFIS_NOREPLY || st == SMFIS_SKIP) && s->desc->xxfi_eom) {
        s->in_eom = true;
        st = s->desc->xxfi_eom(s);
        s->in_eom = false;
    }
    send_status(s, st, 0);
    free(s->reply);
    s->reply = NULL;
    s->messages++;
}

/* dispatch - one command; false ends the conversation */
static bool dispatch(SMFICTX *s, const struct mpkt *p)
{
    const struct smfiDesc *d = s->desc;
    char *argv[MPROTO_MAX_ARGS];
    int stage = stage_of(p->cmd);
    sfsistat st = SMFIS_CONTINUE;

    if (p->cmd == SMFIC_OPTNEG)
        return do_optneg(s, p);
    if (!s->negotiated) {
        warn("milter: command '%c' before option negotiation", p->cmd);
        return false;
    }
    if (stage >= 0 && p->cmd != SMFIC_BODYEOB)
        clear_after(s, stage);
    switch (p->cmd) {
    case SMFIC_MACRO:
        do_macro(s, p);
        return true;
    case SMFIC_CONNECT: {
        struct mproto_connect c;

        if (!mproto_connect((unsigned char *)p->data, p->len, &c)) {
            warn("milter: malformed connect information from the MTA");
            return false;
        }
        if (d->xxfi_connect)
            st = d->xxfi_connect(s, (char *)c.hostname,
                                 c.have_addr ? (struct sockaddr *)&c.addr : NULL);
        send_status(s, st, SMFIP_NR_CONN);
        return true;
    }
    case SMFIC_HELO:
        if (!strings(p, argv, 1))
            return false;
        if (d->xxfi_helo)
            st = d->xxfi_helo(s, argv[0]);
        send_status(s, st, SMFIP_NR_HELO);
        return true;
    case SMFIC_MAIL:
        if (!strings(p, argv, 1))
            return false;
        if (d->xxfi_envfrom)
            st = d->xxfi_envfrom(s, argv);
        send_status(s, st, SMFIP_NR_MAIL);
        return true;
    case SMFIC_RCPT:
        if (!strings(p, argv, 1))
            return false;
        if (d->xxfi_envrcpt)
            st = d->xxfi_envrcpt(s, argv);
        send_status(s, st, SMFIP_NR_RCPT);
        return true;
    case SMFIC_DATA:
        if (d->xxfi_data)
            st = d->xxfi_data(s);
        send_status(s, st, SMFIP_NR_DATA);
        return true;
    case SMFIC_HEADER:
        if (!strings(p, argv, 1))
            return false;
        if (d->xxfi_header)
            st = d->xxfi_header(s, argv[0], argv[1] ? argv[1] : "");
        send_status(s, st, SMFIP_NR_HDR);
        return true;
    case SMFIC_EOH:
        if (d->xxfi_eoh)
            st = d->xxfi_eoh(s);
        send_status(s, st, SMFIP_NR_EOH);
        return true;
    case SMFIC_BODY:
        if (d->xxfi_body)
            st = d->xxfi_body(s, (unsigned char *)p->data, p->len);
        send_status(s, st, SMFIP_NR_BODY);
        return true;
    case SMFIC_BODYEOB:
        do_eom(s, p);
        return true;
    case SMFIC_ABORT:
        if (d->xxfi_abort)
            d->xxfi_abort(s);
        clear_after(s, stage_of(SMFIC_HELO));
        free(s->reply);
        s->reply = NULL;
        return true; /* no reply */
    case SMFIC_UNKNOWN:
        if (d->xxfi_unknown)
            st = d->xxfi_unknown(s, (const char *)p->data);
        send_status(s, st, SMFIP_NR_UNKN);
        return true;
    case SMFIC_QUIT_NC:
        /* the connection ends, a new one follows on this socket */
        run_close(s);
        s->closed = false;
        for (size_t i = 0; i < NSTAGES; i++)
            macros_clear(&s->mac[i]);
        return true;
    case SMFIC_QUIT:
        return false;
    default:
        warn("milter: unknown command 0x%02x from the MTA", (unsigned char)p->cmd);
        return false;
    }
}

/* msession_space - where the next read() goes: room for the packet being received */
void *msession_space(SMFICTX *s, size_t *room)
{
    size_t want = MSESSION_READ_MIN, have = s->in.len;

    /* a packet whose length is known: room for all of it in one read */
    if (have >= MILTER_LEN_BYTES) {
        const unsigned char *h = (const unsigned char *)s->in.data;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];

        if (len <= MPROTO_MAX_PACKET && MILTER_LEN_BYTES + len > have &&
            MILTER_LEN_BYTES + len - have > want)
            want = MILTER_LEN_BYTES + len - have;
    }
    if (s->in.cap < have + want + 1)
        buf_reserve(&s->in, want);
    *room = s->in.cap - have - 1;
    return s->in.data + have;
}

/* msession_received - n bytes were read into msession_space(): run every complete command */
bool msession_received(SMFICTX *s, size_t n)
{
    struct mpkt p;
    size_t used, off = 0;
    bool go_on = true;

    s->in.len += n;
    s->in.data[s->in.len] = '\0';
    while (go_on) {
        enum mproto_frame f =
            mproto_frame((unsigned char *)s->in.data + off, s->in.len - off, &p, &used);

        if (f == MPROTO_INCOMPLETE)
            break;
        if (f == MPROTO_BAD) {
            warn("milter: malformed packet from the MTA");
            go_on = false;
            break;
        }
        go_on = dispatch(s, &p);
        off += used;
    }
    /* keep only the unparsed tail, at the front (a big buffer only while needed) */
    if (off == s->in.len && s->in.cap > MSESSION_KEEP_MAX) {
        buf_free(&s->in);
    } else if (off == s->in.len) {
        buf_reset(&s->in);
    } else if (off > 0) {
        memmove(s->in.data, s->in.data + off, s->in.len - off);
        buf_truncate(&s->in, s->in.len - off);
    }
    return go_on;
}

/* msession_input - take a copy of n bytes and run every complete command */
bool msession_input(SMFICTX *s, const void *data, size_t n)
{
    size_t room;
    void *p = msession_space(s, &room);

    if (room < n) {
        buf_reserve(&s->in, n);
        p = s->in.data + s->in.len;
    }
    if (n)
        memcpy(p, data, n);
    return msession_received(s, n);
}

/* ---- the API the stages call (smfi_*() in libmilter) ---- */

/* same_name - "i" matches "{i}" and the other way round */
static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la >= 2 && a[0] == '{' && a[la - 1] == '}')
        a++, la -= 2;
    if (lb >= 2 && b[0] == '{' && b[lb - 1] == '}')
        b++, lb -= 2;
    return la == lb && memcmp(a, b, la) == 0;
}

char *msession_getsymval(SMFICTX *s, char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = NSTAGES; i-- > 0;) {
        const struct macros *m = &s->mac[i];

        for (int j = 0; j + 1 < m->n; j += 2)
            if (same_name(m->argv[j], name))
                return m->argv[j + 1];
    }
    return NULL;
}

void *msession_getpriv(SMFICTX *s)
{
    return s->priv;
}

int msession_setpriv(SMFICTX *s, void *priv)
{
    s->priv = priv;
    return MI_SUCCESS;
}

/* msession_setreply - "rcode xcode message" for the next reject or tempfail */
int msession_setreply(SMFICTX *s, char *rcode, char *xcode, char *message)
{
    if (rcode == NULL || strlen(rcode) != 3 || (rcode[0] != '4' && rcode[0] != '5') ||
        rcode[1] < '0' || rcode[1] > '9' || rcode[2] < '0' || rcode[2] > '9')
        return MI_FAILURE;
    if (xcode && (xcode[0] != rcode[0] || xcode[1] != '.' || strpbrk(xcode, " \r\n")))
        return MI_FAILURE;
    if (message && strpbrk(message, "\r\n"))
        return MI_FAILURE;
    free(s->reply);
    s->reply = xasprintf("%s %s%s%s", rcode, xcode ? xcode : "", xcode && message ? " " : "",
                         message ? message : "");
    return MI_SUCCESS;
}

/* may - a modification is allowed: during end of message and negotiated */
static bool may(const SMFICTX *s, uint32_t action)
{
    return s->in_eom && (s->actions & action);
}

int msession_insheader(SMFICTX *s, int idx, char *name, char *value)
{
    if (!may(s, SMFIF_ADDHDRS) || name == NULL || value == NULL || idx < 0)
        return MI_FAILURE;
    mproto_put_header(&s->out, SMFIR_INSHEADER, (uint32_t)idx, name, value);
    return MI_SUCCESS;
}

int msession_chgheader(SMFICTX *s, char *name, int idx, char *value)
{
    if (!may(s, SMFIF_CHGHDRS) || name == NULL || idx < 0)
        return MI_FAILURE;
    /* an empty value deletes the field */
    mproto_put_header(&s->out, SMFIR_CHGHEADER, (uint32_t)idx, name, value ? value : "");
    return MI_SUCCESS;
}

int msession_quarantine(SMFICTX *s, char *reason)
{
    if (!may(s, SMFIF_QUARANTINE) || reason == NULL || reason[0] == '\0')
        return MI_FAILURE;
    mproto_put(&s->out, SMFIR_QUARANTINE, reason, strlen(reason) + 1);
    return MI_SUCCESS;
}

/* msession_replacebody - the new body, in chunks the MTA takes (one empty one for none) */
int msession_replacebody(SMFICTX *s, unsigned char *data, int len)
{
    size_t off = 0, n = len > 0 ? (size_t)len : 0;

    if (!may(s, SMFIF_CHGBODY) || len < 0 || (data == NULL && len > 0))
        return MI_FAILURE;
    do {
        size_t chunk = n - off > MILTER_CHUNK_SIZE ? MILTER_CHUNK_SIZE : n - off;

        mproto_put(&s->out, SMFIR_REPLBODY, data ? data + off : NULL, chunk);
        off += chunk;
    } while (off < n);
    return MI_SUCCESS;
}
