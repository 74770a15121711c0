/*
 * ledger_msg.c - the ledger record: building it (its uid: ledger_uid.c),
 * and its spool encoding.
 *
 * Spool format (one record):
 *
 *     R\n
 *     <name> <len>:<len bytes>\n      one line per non-NULL field;
 *     ...                             "rcpt" repeats, in envelope order
 *     E <crc32 of everything from R to here, 8 lower-case hex>\n
 *
 * Fields are named, so a spool written by an older binary replays after
 * the struct grows: unknown names are ignored, missing ones stay NULL.
 * Values are length-prefixed and therefore binary safe.
 *
 * The record's kind is the field "kind" ("open" for LEDGER_OPEN). A
 * message has no such field, so its bytes are what binaries wrote before
 * kinds existed, and a record without one (any older spool) is a message.
 * A kind this binary does not know (a newer binary's) makes the record
 * malformed: skipped, never stored as something it is not.
 *
 * The decoder must never trust its input (the spool may be torn by a
 * crash, truncated, or garbage): it must not read outside p[0..len), must
 * not allocate more than the input justifies, and must never abort.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "crc32.h"
#include "ledger_msg.h"
#include "log.h"
#include "util.h"

#define FIELD_NAME_MAX   32      /* longest field name accepted */
#define FIELD_LEN_MAX    1048576 /* longest value accepted (1 MiB) */
#define FIELD_LEN_DIGITS 7       /* digits of FIELD_LEN_MAX */

/* The string fields, by spool name. */
static const struct {
    const char *name;
    size_t off;
} str_fields[] = {
    {"host", offsetof(struct ledger_msg, host)},
    {"queue_id", offsetof(struct ledger_msg, queue_id)},
    {"message_id", offsetof(struct ledger_msg, message_id)},
    {"date_header", offsetof(struct ledger_msg, date_header)},
    {"client_ip", offsetof(struct ledger_msg, client_ip)},
    {"client_ptr", offsetof(struct ledger_msg, client_ptr)},
    {"helo", offsetof(struct ledger_msg, helo)},
    {"sasl_user", offsetof(struct ledger_msg, sasl_user)},
    {"mail_from", offsetof(struct ledger_msg, mail_from)},
    {"header_from", offsetof(struct ledger_msg, header_from)},
    {"subject", offsetof(struct ledger_msg, subject)},
    {"action", offsetof(struct ledger_msg, action)},
    {"track_token", offsetof(struct ledger_msg, track_token)},
    {"track_outcome", offsetof(struct ledger_msg, track_outcome)},
    {"track_reason", offsetof(struct ledger_msg, track_reason)},
    {"open_token", offsetof(struct ledger_msg, open_token)},
    {"open_ip", offsetof(struct ledger_msg, open_ip)},
    {"open_agent", offsetof(struct ledger_msg, open_agent)},
    {"open_method", offsetof(struct ledger_msg, open_method)},
    {"open_class", offsetof(struct ledger_msg, open_class)},
    {"open_reason", offsetof(struct ledger_msg, open_reason)},
};
#define N_STR_FIELDS (sizeof(str_fields) / sizeof(str_fields[0]))

/* The integer fields a record has only when they are not 0 (a message's bytes stay as they
 * were), by spool name. */
static const struct {
    const char *name;
    size_t off;
} opt_int_fields[] = {
    {"track_ms", offsetof(struct ledger_msg, track_ms)},
    {"open_ms", offsetof(struct ledger_msg, open_ms)},
    {"open_min_ms", offsetof(struct ledger_msg, open_min_ms)},
};
#define N_OPT_INT_FIELDS (sizeof(opt_int_fields) / sizeof(opt_int_fields[0]))

/* The fields of an authentication result, by spool name ("auth" starts one). */
static const struct {
    const char *name;
    size_t off;
} auth_fields[] = {
    {"auth_result", offsetof(struct ledger_auth, result)},
    {"auth_identity", offsetof(struct ledger_auth, identity)},
    {"auth_selector", offsetof(struct ledger_auth, selector)},
    {"auth_algorithm", offsetof(struct ledger_auth, algorithm)},
    {"auth_policy", offsetof(struct ledger_auth, policy)},
    {"auth_disposition", offsetof(struct ledger_auth, disposition)},
    {"auth_reason", offsetof(struct ledger_auth, reason)},
};
#define N_AUTH_FIELDS (sizeof(auth_fields) / sizeof(auth_fields[0]))

/* auth_field - address of the string field at offset off of a */
static char **auth_field(struct ledger_auth *a, size_t off)
{
    return (char **)((char *)a + off);
}

/* str_field - address of the string field at offset off of m */
static char **str_field(struct ledger_msg *m, size_t off)
{
    return (char **)((char *)m + off);
}

/* int_field - address of the integer field at offset off of m */
static int64_t *int_field(struct ledger_msg *m, size_t off)
{
    return (int64_t *)((char *)m + off);
}

/* ledger_msg_new - empty record with a fresh uid (ledger_uid_new) */
struct ledger_msg *ledger_msg_new(void)
{
    struct ledger_msg *m = xcalloc(1, sizeof(*m));

    ledger_uid_new(m->uid);
    return m;
}

/* ledger_msg_new_open - empty LEDGER_OPEN record with a fresh uid (as ledger_msg_new) */
struct ledger_msg *ledger_msg_new_open(void)
{
    struct ledger_msg *m = ledger_msg_new();

    m->kind = LEDGER_OPEN;
    return m;
}

/* ledger_msg_free - free the record and everything it owns */
struct ledger_msg *ledger_msg_free(struct ledger_msg *m)
{
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < N_STR_FIELDS; i++)
        free(*str_field(m, str_fields[i].off));
    for (size_t i = 0; i < m->nrcpts; i++)
        free(m->rcpts[i]);
    free(m->rcpts);
    for (size_t i = 0; i < m->nauth; i++) {
        free(m->auth[i].method);
        for (size_t j = 0; j < N_AUTH_FIELDS; j++)
            free(*auth_field(&m->auth[i], auth_fields[j].off));
    }
    free(m->auth);
    free(m);
    return NULL;
}

/* ledger_msg_add_auth - append an authentication result */
struct ledger_auth *ledger_msg_add_auth(struct ledger_msg *m, const char *method,
                                        const char *result)
{
    struct ledger_auth *a;

    if (m->nauth >= LEDGER_AUTH_MAX)
        return NULL;
    /* Capacity is implicit, as for recipients: 4, then doubled. */
    if (m->nauth == 0 || (m->nauth >= 4 && (m->nauth & (m->nauth - 1)) == 0))
        m->auth = xrealloc(m->auth, (m->nauth ? m->nauth * 2 : 4) * sizeof(*m->auth));
    a = &m->auth[m->nauth++];
    memset(a, 0, sizeof(*a));
    a->method = xstrdup(method ? method : "");
    a->result = xstrdup(result ? result : "");
    return a;
}

/* ledger_msg_set - replace *field with a copy of value */
void ledger_msg_set(char **field, const char *value)
{
    char *copy = xstrdup(value);

    free(*field);
    *field = copy;
}

/* add_rcpt_owned - append rcpt (takes ownership) */
static void add_rcpt_owned(struct ledger_msg *m, char *rcpt)
{
    /* Capacity is implicit: 4, then doubled each time nrcpts reaches it. */
    if (m->nrcpts == 0 || (m->nrcpts >= 4 && (m->nrcpts & (m->nrcpts - 1)) == 0)) {
        size_t cap = m->nrcpts ? m->nrcpts * 2 : 4;

        m->rcpts = xrealloc(m->rcpts, cap * sizeof(*m->rcpts));
    }
    m->rcpts[m->nrcpts++] = rcpt;
}

/* ledger_msg_add_rcpt - append a copy of one recipient */
void ledger_msg_add_rcpt(struct ledger_msg *m, const char *rcpt)
{
    add_rcpt_owned(m, xstrdup(rcpt ? rcpt : ""));
}

/* mem_cap - the capacity behind n elements of an implicit array (4, then doubled) */
static size_t mem_cap(size_t n)
{
    size_t cap = 4;

    while (cap < n)
        cap *= 2;
    return cap;
}

/* mem_str - heap bytes of string s (NULL: none): its bytes, the NUL, the allocator's header */
static size_t mem_str(const char *s)
{
    return s ? strlen(s) + 1 + LEDGER_MEM_CHUNK : 0;
}

/* ledger_msg_mem - heap bytes the record holds (see ledger_msg.h) */
size_t ledger_msg_mem(const struct ledger_msg *m)
{
    size_t n = sizeof(*m) + LEDGER_MEM_CHUNK;

    for (size_t i = 0; i < N_STR_FIELDS; i++)
        n += mem_str(*(char *const *)((const char *)m + str_fields[i].off));
    if (m->nrcpts > 0)
        n += mem_cap(m->nrcpts) * sizeof(*m->rcpts) + LEDGER_MEM_CHUNK;
    for (size_t i = 0; i < m->nrcpts; i++)
        n += mem_str(m->rcpts[i]);
    if (m->nauth > 0)
        n += mem_cap(m->nauth) * sizeof(*m->auth) + LEDGER_MEM_CHUNK;
    for (size_t i = 0; i < m->nauth; i++) {
        n += mem_str(m->auth[i].method);
        for (size_t j = 0; j < N_AUTH_FIELDS; j++)
            n += mem_str(*(char *const *)((const char *)&m->auth[i] + auth_fields[j].off));
    }
    return n;
}

/* ledger_direction_name - "inbound" or "outbound" */
const char *ledger_direction_name(enum ledger_direction d)
{
    return d == LEDGER_OUTBOUND ? "outbound" : "inbound";
}

/* put_field - append one "<name> <len>:<bytes>\n" line (no printf: it ran per field of every
 * spooled record) */
static void put_field(struct buf *out, const char *name, const char *value, size_t len)
{
    buf_puts(out, name);
    buf_putc(out, ' ');
    buf_put_dec(out, (int64_t)len);
    buf_putc(out, ':');
    buf_add(out, value, len);
    buf_putc(out, '\n');
}

/*
 * put_str - append a string field unless it is NULL; a value longer than
 * the reader accepts is cut to FIELD_LEN_MAX, so a spooled record always
 * replays (a whole record skipped at replay would lose the message's row)
 */
static void put_str(struct buf *out, const char *name, const char *value)
{
    size_t n;

    if (value == NULL)
        return;
    n = strlen(value);
    put_field(out, name, value, n < FIELD_LEN_MAX ? n : FIELD_LEN_MAX);
}

/* put_int - append an integer field */
static void put_int(struct buf *out, const char *name, int64_t v)
{
    char num[BUF_DEC_MAX];

    put_field(out, name, num, buf_dec_format(num, v));
}

/* ledger_msg_encode - append the record in spool format to out */
void ledger_msg_encode(const struct ledger_msg *m, struct buf *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = out->len;
    uint32_t crc;
    char end[11] = "E ";

    buf_puts(out, "R\n");
    put_field(out, "uid", m->uid, strnlen(m->uid, LEDGER_UID_LEN));
    switch (m->kind) {
    case LEDGER_MESSAGE:
        break; /* no field: the format of old spools */
    case LEDGER_OPEN:
        put_str(out, "kind", "open");
        break;
    default:
        bug("ledger_msg_encode: record %s of kind %d", m->uid, (int)m->kind);
    }
    put_str(out, "direction", ledger_direction_name(m->direction));
    put_int(out, "size", m->size);
    put_int(out, "received_at", m->received_at);
    for (size_t i = 0; i < N_OPT_INT_FIELDS; i++) {
        int64_t v = *int_field((struct ledger_msg *)m, opt_int_fields[i].off);

        if (v != 0)
            put_int(out, opt_int_fields[i].name, v);
    }
    for (size_t i = 0; i < N_STR_FIELDS; i++)
        put_str(out, str_fields[i].name, *str_field((struct ledger_msg *)m, str_fields[i].off));
    for (size_t i = 0; i < m->nrcpts; i++)
        put_str(out, "rcpt", m->rcpts[i]);
    for (size_t i = 0; i < m->nauth; i++) {
        put_str(out, "auth", m->auth[i].method);
        for (size_t j = 0; j < N_AUTH_FIELDS; j++)
            put_str(out, auth_fields[j].name,
                    *auth_field((struct ledger_auth *)&m->auth[i], auth_fields[j].off));
    }
    crc = crc32_update(0, (const unsigned char *)out->data + start, out->len - start);
    for (int i = 0; i < 8; i++) /* "E %08x\n" */
        end[2 + i] = hex[(crc >> (28 - 4 * i)) & 0xf];
    end[10] = '\n';
    buf_add(out, end, sizeof(end));
}

/* Outcome of reading one line of a record. */
enum rd { RD_OK, RD_TORN, RD_BAD };

/* parse_int - strict decimal int64 from v[0..n); false if not one */
static bool parse_int(const char *v, size_t n, int64_t *out)
{
    bool neg = false;
    uint64_t acc = 0, lim;
    size_t i = 0;

    if (n > 0 && v[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n || n - i > 19)
        return false;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        acc = acc * 10 + (uint64_t)(v[i] - '0');
        if (acc > lim)
            return false;
    }
    *out = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    return true;
}

/* is_hex_lower - v[0..n) is all lower-case hex digits */
static bool is_hex_lower(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
            return false;
    return true;
}

/* read_field - parse one field line at p[*pos..len); name/value point into p */
static enum rd read_field(const char *p, size_t len, size_t *pos, const char **name,
                          size_t *namelen, const char **value, size_t *vlen)
{
    size_t i = *pos, n = 0, digits = 0;

    *name = p + i;
    while (i < len && p[i] != ' ') {
        char c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return RD_BAD;
        if (++i - *pos > FIELD_NAME_MAX)
            return RD_BAD;
    }
    if (i == len)
        return RD_TORN;
    *namelen = i - *pos;
    if (*namelen == 0)
        return RD_BAD;
    i++; /* the space */
    while (i < len && p[i] != ':') {
        if (p[i] < '0' || p[i] > '9' || ++digits > FIELD_LEN_DIGITS)
            return RD_BAD;
        n = n * 10 + (size_t)(p[i] - '0');
        i++;
    }
    if (i == len)
        return RD_TORN;
    if (digits == 0 || n > FIELD_LEN_MAX)
        return RD_BAD;
    i++; /* the colon */
    if (len - i < n + 1)
        return RD_TORN;
    *value = p + i;
    *vlen = n;
    if (p[i + n] != '\n' || memchr(p + i, '\0', n) != NULL)
        return RD_BAD;
    *pos = i + n + 1;
    return RD_OK;
}

/* name_is - the field name equals s */
static bool name_is(const char *name, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(name, s, n) == 0;
}

/* apply_field - store one known field in m; false if its value is invalid */
static bool apply_field(struct ledger_msg *m, const char *name, size_t nlen, const char *v,
                        size_t vlen, bool *have_uid)
{
    if (name_is(name, nlen, "uid")) {
        if (vlen != LEDGER_UID_LEN || !is_hex_lower(v, vlen))
            return false;
        memcpy(m->uid, v, vlen);
        m->uid[vlen] = '\0';
        *have_uid = true;
    } else if (name_is(name, nlen, "kind")) {
        if (vlen == 7 && memcmp(v, "message", 7) == 0)
            m->kind = LEDGER_MESSAGE;
        else if (vlen == 4 && memcmp(v, "open", 4) == 0)
            m->kind = LEDGER_OPEN;
        else
            return false; /* a newer binary's kind: not ours to store */
    } else if (name_is(name, nlen, "direction")) {
        if (vlen == 7 && memcmp(v, "inbound", 7) == 0)
            m->direction = LEDGER_INBOUND;
        else if (vlen == 8 && memcmp(v, "outbound", 8) == 0)
            m->direction = LEDGER_OUTBOUND;
        else
            return false;
    } else if (name_is(name, nlen, "size")) {
        return parse_int(v, vlen, &m->size);
    } else if (name_is(name, nlen, "received_at")) {
        return parse_int(v, vlen, &m->received_at);
    } else if (name_is(name, nlen, "rcpt")) {
        add_rcpt_owned(m, xstrndup(v, vlen));
    } else if (name_is(name, nlen, "auth")) {
        char *method = xstrndup(v, vlen);
        struct ledger_auth *a = ledger_msg_add_auth(m, method, NULL);

        free(method);
        if (a == NULL)
            return false;
        a->result = xfree(a->result); /* set by its own field */
    } else if (nlen > 5 && memcmp(name, "auth_", 5) == 0) {
        /* belongs to the last "auth"; unknown auth_ names are from a newer binary */
        for (size_t i = 0; i < N_AUTH_FIELDS; i++) {
            if (name_is(name, nlen, auth_fields[i].name)) {
                char **f;

                if (m->nauth == 0)
                    return false;
                f = auth_field(&m->auth[m->nauth - 1], auth_fields[i].off);
                free(*f);
                *f = xstrndup(v, vlen);
            }
        }
    } else {
        for (size_t i = 0; i < N_OPT_INT_FIELDS; i++)
            if (name_is(name, nlen, opt_int_fields[i].name))
                return parse_int(v, vlen, int_field(m, opt_int_fields[i].off));
        for (size_t i = 0; i < N_STR_FIELDS; i++) {
            if (name_is(name, nlen, str_fields[i].name)) {
                char **f = str_field(m, str_fields[i].off);

                free(*f);
                *f = xstrndup(v, vlen);
                return true;
            }
        }
        /* unknown: written by a newer binary; ignored */
    }
    return true;
}

/*
 * resync - bytes to skip from p[0]: to the next line that is "R", else to
 * just after the last newline (what follows may be a torn record start);
 * 0 if p holds no newline at all.
 */
static size_t resync(const char *p, size_t len)
{
    const char *nl;
    size_t last = 0;

    for (size_t i = 0; i < len; i = last) {
        nl = memchr(p + i, '\n', len - i);
        if (nl == NULL)
            break;
        last = (size_t)(nl - p) + 1;
        if (len - last >= 2 && p[last] == 'R' && p[last + 1] == '\n')
            break;
    }
    return last;
}

/* read_trailer - parse "E xxxxxxxx\n" at p[*pos..len) and check the CRC */
static enum rd read_trailer(const char *p, size_t len, size_t *pos)
{
    size_t i = *pos;
    unsigned long want;
    char hex[9];

    if (len - i < 11)
        return RD_TORN;
    if (p[i + 1] != ' ' || p[i + 10] != '\n' || !is_hex_lower(p + i + 2, 8))
        return RD_BAD;
    memcpy(hex, p + i + 2, 8);
    hex[8] = '\0';
    want = strtoul(hex, NULL, 16);
    *pos = i + 11;
    if (crc32_update(0, (const unsigned char *)p, i) != (uint32_t)want)
        return RD_BAD;
    return RD_OK;
}

/* ledger_msg_decode - read one record from p[0..len) */
struct ledger_msg *ledger_msg_decode(const char *p, size_t len, size_t *used)
{
    struct ledger_msg *m;
    bool have_uid = false, valid = true;
    size_t pos = 2;
    enum rd r;

    *used = 0;
    if (len < 2)
        return NULL;
    if (p[0] != 'R' || p[1] != '\n') {
        /* Not at a record: skip whole lines of garbage up to the next "R\n". */
        *used = resync(p, len);
        return NULL;
    }
    m = xcalloc(1, sizeof(*m));
    for (;;) {
        const char *name, *value;
        size_t nlen, vlen;

        if (pos == len) {
            r = RD_TORN;
            break;
        }
        if (p[pos] == 'E') {
            r = read_trailer(p, len, &pos);
            break;
        }
        r = read_field(p, len, &pos, &name, &nlen, &value, &vlen);
        if (r != RD_OK)
            break;
        if (valid && !apply_field(m, name, nlen, value, vlen, &have_uid))
            valid = false;
    }
    if (r == RD_TORN) {
        ledger_msg_free(m);
        return NULL;
    }
    if (r == RD_BAD) {
        /* The record is broken somewhere: skip to the next record start. */
        ledger_msg_free(m);
        *used = resync(p + 1, len - 1) + 1;
        return NULL;
    }
    *used = pos;
    for (size_t i = 0; valid && i < m->nauth; i++)
        valid = m->auth[i].result != NULL;
    if (!valid || !have_uid)
        return ledger_msg_free(m);
    return m;
}
