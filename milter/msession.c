/*
 * msession.c - one milter conversation as a state machine over bytes.
 * See msession.h; the calls the stages make are msession_api.c.
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
 *
 * Memory a stranger on the socket can make a session hold: the input
 * buffer (8 KiB, or for one big packet of up to MPROTO_MAX_PACKET at
 * most twice what has arrived of it, charged to the budget engine.c
 * shares between its connections: a length announced costs nothing
 * until its bytes come) and the macros (MSESSION_MACROS_MAX); nothing
 * else is kept across packets.
 */
#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "mproto.h"
#include "msession.h"
#include "msession_int.h"
#include "util.h"

/* Commands that carry macros, in protocol order. */
static const char macro_stages[] = {SMFIC_CONNECT, SMFIC_HELO, SMFIC_MAIL,    SMFIC_RCPT,
                                    SMFIC_DATA,    SMFIC_EOH,  SMFIC_BODYEOB, SMFIC_UNKNOWN};
_Static_assert(sizeof(macro_stages) == NSTAGES, "one macro stage per command");

/* stage_of - index of cmd in macro_stages, -1 if it has none */
static int stage_of(char cmd)
{
    const char *p = memchr(macro_stages, cmd, NSTAGES);

    return p ? (int)(p - macro_stages) : -1;
}

/* macros_clear - forget one command's macros */
static void macros_clear(SMFICTX *s, struct macros *m)
{
    free(m->data);
    m->data = NULL;
    m->n = 0;
    s->macro_bytes -= m->len;
    m->len = 0;
}

/* clear_after - forget the macros of every command after stage */
static void clear_after(SMFICTX *s, int stage)
{
    for (size_t i = (size_t)stage + 1; i < NSTAGES; i++)
        macros_clear(s, &s->mac[i]);
}

/* budget_take - charge n more bytes to b; false (nothing charged) past its max */
static bool budget_take(struct msession_budget *b, size_t n)
{
    size_t used = atomic_load(&b->used), max = atomic_load(&b->max);

    do {
        if (n > max || used > max - n)
            return false;
    } while (!atomic_compare_exchange_weak(&b->used, &used, used + n));
    return true;
}

/* in_release - the input buffer is gone: give back what it was charged */
static void in_release(SMFICTX *s)
{
    if (s->charged)
        atomic_fetch_sub(&s->budget->used, s->charged);
    s->charged = 0;
}

/*
 * in_grow - let the input buffer hold need bytes (its NUL included) of
 * a packet of whole bytes (its NUL included; need <= whole). Up to
 * MSESSION_KEEP_MAX it grows as a buf does; past it, to the first of
 * MSESSION_KEEP_MAX doubled (16 KiB, 32 KiB, ...) that holds need, at
 * most whole, the whole new size charged to the budget. false: the
 * budget refuses, nothing changed.
 */
static bool in_grow(SMFICTX *s, size_t need, size_t whole)
{
    size_t cap = MSESSION_KEEP_MAX;

    if (need <= s->in.cap)
        return true;
    if (need <= MSESSION_KEEP_MAX) {
        buf_reserve(&s->in, need - s->in.len - 1);
        return true;
    }
    while (cap < need)
        cap *= 2;
    if (cap > whole)
        cap = whole;
    if (s->budget) {
        if (!budget_take(s->budget, cap - s->charged))
            return false;
        s->charged = cap;
    }
    s->in.data = xrealloc(s->in.data, cap);
    s->in.cap = cap;
    s->in.data[s->in.len] = '\0';
    return true;
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

/* msession_set_budget - charge big input buffers to b */
void msession_set_budget(SMFICTX *s, struct msession_budget *b)
{
    if (s->in.cap > MSESSION_KEEP_MAX)
        bug("msession_set_budget after input");
    s->budget = b;
}

size_t msession_pending(const SMFICTX *s)
{
    return s->in.len;
}

unsigned long msession_packets(const SMFICTX *s)
{
    return s->packets;
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
        macros_clear(s, &s->mac[i]);
    free(s->reply);
    buf_free(&s->in);
    in_release(s);
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

/* do_macro - store a command's macros; false (the conversation ends) past MSESSION_MACROS_MAX */
static bool do_macro(SMFICTX *s, const struct mpkt *p)
{
    struct macros *m;
    int stage;

    if (p->len < 1 || (stage = stage_of((char)p->data[0])) < 0)
        return true; /* macros for a command we do not track: ignore, as libmilter does */
    m = &s->mac[stage];
    macros_clear(s, m);
    if (s->macro_bytes + p->len - 1 > MSESSION_MACROS_MAX) {
        warn("milter: more than %u bytes of macros from the MTA; connection dropped",
             MSESSION_MACROS_MAX);
        return false;
    }
    m->data = xmalloc(p->len);
    memcpy(m->data, p->data + 1, p->len - 1);
    m->len = p->len - 1;
    s->macro_bytes += m->len;
    m->n = mproto_strings(m->data, p->len - 1, m->argv, MPROTO_MAX_ARGS);
    if (m->n < 0) {
        warn("milter: malformed macros for command '%c' (ignored)", p->data[0]);
        macros_clear(s, m);
    }
    return true;
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
        return do_macro(s, p);
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
            macros_clear(s, &s->mac[i]);
        return true;
    case SMFIC_QUIT:
        return false;
    default:
        warn("milter: unknown command 0x%02x from the MTA", (unsigned char)p->cmd);
        return false;
    }
}

/*
 * msession_space - where the next read() goes: room for one ordinary
 * read (MSESSION_READ_MIN), or for a small packet under way whole. A
 * big packet's buffer grows as its bytes arrive, never by what its
 * length announces: only once fewer than MSESSION_READ_MIN bytes of room
 * are left, and then to twice its size at most (in_grow). A connection
 * that charges B bytes to the budget has sent more than B / 2 - 4 KiB of
 * the packet. NULL if that growth does not fit in the budget.
 */
void *msession_space(SMFICTX *s, size_t *room)
{
    size_t have = s->in.len, need = have + MSESSION_READ_MIN + 1, whole = need;

    if (have >= MILTER_LEN_BYTES) {
        const unsigned char *h = (const unsigned char *)s->in.data;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];

        if (len <= MPROTO_MAX_PACKET) { /* else mproto_frame() refuses it */
            whole = MILTER_LEN_BYTES + len + 1;
            if (whole <= MSESSION_KEEP_MAX) /* small: all of it, and what follows if room */
                need = need < MSESSION_KEEP_MAX ? (need > whole ? need : whole) : MSESSION_KEEP_MAX;
            else if (need > whole) /* big: no more than the rest of it */
                need = whole;
        }
    }
    if (!in_grow(s, need, whole))
        return NULL;
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
        s->packets++;
        go_on = dispatch(s, &p);
        off += used;
    }
    /* keep only the unparsed tail, at the front (a big buffer only while needed) */
    if (off == s->in.len && s->in.cap > MSESSION_KEEP_MAX) {
        buf_free(&s->in);
        in_release(s);
    } else if (off == s->in.len) {
        buf_reset(&s->in);
    } else if (off > 0) {
        memmove(s->in.data, s->in.data + off, s->in.len - off);
        buf_truncate(&s->in, s->in.len - off);
    }
    return go_on;
}

/* msession_input - take a copy of n bytes, read by read, and run every complete command */
bool msession_input(SMFICTX *s, const void *data, size_t n)
{
    const unsigned char *d = data;
    size_t room;
    bool go_on = true;

    do {
        void *p = msession_space(s, &room);
        size_t k = n < room ? n : room;

        if (p == NULL)
            return false;
        if (k)
            memcpy(p, d, k);
        go_on = msession_received(s, k);
        d += k;
        n -= k;
    } while (go_on && n > 0);
    /* the room the next read would need: a packet the budget refuses ends here */
    if (go_on && s->in.len > 0 && msession_space(s, &room) == NULL)
        return false;
    return go_on;
}
