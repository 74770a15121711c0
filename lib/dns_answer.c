/*
 * dns_answer.c - libunbound's answers turned into postmeter's DNS results
 * (internal to lib/: dns.c calls it; tests/fuzz/fuzz_dns_answer.c feeds
 * it hostile answers).
 *
 * RESULT MAPPING
 *   NOERROR with data -> DNS_OK; NOERROR without -> DNS_NODATA;
 *   NXDOMAIN -> DNS_NXDOMAIN; SERVFAIL (also what libunbound reports when
 *   no server answers), our timeout, and libunbound errors other than
 *   syntax -> DNS_TEMPFAIL; a name libunbound cannot parse (empty label,
 *   label > 63, name > 255 octets), FORMERR, NOTIMP, REFUSED, other
 *   rcodes and malformed rdata (any record of the answer) -> DNS_PERMFAIL.
 *   One libunbound limitation is worked around: it reports SERVFAIL for
 *   an answer holding a zero-length rdata (which it cannot copy out), so
 *   for TXT such an answer is read from ub_result.answer_packet.
 *   rcode is the DNS rcode, or -1 when there was no answer.
 *
 *   Names come back in presentation form without the trailing dot ("."
 *   for the root, e.g. a null MX); '.', '\' and bytes outside 0x21..0x7e
 *   inside a label are escaped (\. \\ \DDD), which libunbound reads back.
 *
 * NEVER
 *   Never reads rdata out of bounds; malformed rdata in any record makes
 *   the whole answer DNS_PERMFAIL.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include <unbound.h>

#include "buf.h"
#include "dns.h"
#include "dns_answer.h"
#include "log.h"
#include "util.h"

/* dns_status_name - "ok", "nodata", "nxdomain", "tempfail", "permfail" */
const char *dns_status_name(enum dns_status s)
{
    switch (s) {
    case DNS_OK:
        return "ok";
    case DNS_NODATA:
        return "nodata";
    case DNS_NXDOMAIN:
        return "nxdomain";
    case DNS_TEMPFAIL:
        return "tempfail";
    case DNS_PERMFAIL:
        return "permfail";
    }
    return "unknown";
}

/* dns_result_new - an empty result with status s; caller frees */
struct dns_result *dns_result_new(enum dns_status s, int rcode)
{
    struct dns_result *r = xcalloc(1, sizeof(*r));

    r->status = s;
    r->rcode = rcode;
    return r;
}

/* dns_result_free - free a result; returns NULL */
struct dns_result *dns_result_free(struct dns_result *r)
{
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (r->addrs)
            free(r->addrs[i]);
        if (r->txt)
            free(r->txt[i]);
        if (r->mx)
            free(r->mx[i].host);
        if (r->names)
            free(r->names[i]);
    }
    free(r->addrs);
    free(r->txt);
    free(r->txt_len);
    free(r->mx);
    free(r->names);
    return xfree(r);
}

/* wire_name - decode an uncompressed wire name in p[0..len); NULL if
 * malformed; *used gets the octets consumed; caller frees */
static char *wire_name(const unsigned char *p, size_t len, size_t *used)
{
    struct buf b = BUF_INIT;
    size_t i = 0;

    for (;;) {
        size_t l;

        if (i >= len)
            goto bad;
        l = p[i++];
        if (l == 0)
            break;
        /* > 63: a compression pointer or extended label type; libunbound
         * hands out rdata names uncompressed, so either is corruption */
        if (l > 63 || l > len - i || i + l >= 255)
            goto bad;
        if (b.len > 0)
            buf_putc(&b, '.');
        for (size_t k = 0; k < l; k++) {
            unsigned char c = p[i + k];

            if (c == '.' || c == '\\')
                buf_printf(&b, "\\%c", c);
            else if (c <= 0x20 || c >= 0x7f)
                buf_printf(&b, "\\%03u", c);
            else
                buf_putc(&b, c);
        }
        i += l;
    }
    *used = i;
    if (b.len == 0)
        buf_putc(&b, '.');
    return buf_steal(&b);
bad:
    buf_free(&b);
    return NULL;
}

/* parse_txt - join the character-strings of one TXT rdata; false if
 * a length runs past the end */
static bool parse_txt(const unsigned char *p, size_t len, struct dns_result *r, size_t i)
{
    struct buf b = BUF_INIT;
    size_t off = 0;

    while (off < len) {
        size_t l = p[off++];

        if (l > len - off) {
            buf_free(&b);
            return false;
        }
        buf_add(&b, p + off, l);
        off += l;
    }
    r->txt_len[i] = b.len;
    r->txt[i] = buf_steal(&b);
    return true;
}

/* parse_rdata - fill entry i of r from one record; false if malformed */
static bool parse_rdata(int type, const unsigned char *p, size_t len, struct dns_result *r,
                        size_t i)
{
    char text[INET6_ADDRSTRLEN];
    size_t used;

    switch (type) {
    case DNS_T_A:
    case DNS_T_AAAA:
        if (len != (type == DNS_T_A ? 4u : 16u))
            return false;
        if (inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, p, text, sizeof(text)) == NULL)
            return false;
        r->addrs[i] = xstrdup(text);
        return true;
    case DNS_T_TXT:
        return parse_txt(p, len, r, i);
    case DNS_T_MX:
        if (len < 3)
            return false;
        r->mx[i].preference = (unsigned)p[0] << 8 | p[1];
        r->mx[i].host = wire_name(p + 2, len - 2, &used);
        if (r->mx[i].host != NULL && used != len - 2)
            r->mx[i].host = xfree(r->mx[i].host);
        return r->mx[i].host != NULL;
    case DNS_T_PTR:
        r->names[i] = wire_name(p, len, &used);
        if (r->names[i] != NULL && used != len)
            r->names[i] = xfree(r->names[i]);
        return r->names[i] != NULL;
    }
    return false;
}

/* skip_name - step over a (possibly compressed) name at p[*off] */
static bool skip_name(const unsigned char *p, size_t len, size_t *off)
{
    while (*off < len) {
        unsigned l = p[*off];

        if (l == 0) {
            (*off)++;
            return true;
        }
        if ((l & 0xc0) == 0xc0) {
            if (len - *off < 2)
                return false;
            *off += 2;
            return true;
        }
        if (l > 63)
            return false;
        *off += 1 + l;
    }
    return false;
}

/*
 * txt_from_packet - the TXT records of the answer packet libunbound kept.
 * libunbound 1.17 cannot hand a zero-length rdata out through
 * ub_result.data (its result conversion fails on it) and then reports
 * SERVFAIL although the answer says NOERROR. A zero-length TXT record is
 * just an empty string to us (as parse_txt() reads it), so for TXT we read
 * the answer section ourselves. NULL if the packet is not a NOERROR answer
 * holding TXT records that we can walk.
 */
static struct dns_result *txt_from_packet(const struct ub_result *u)
{
    const unsigned char *p = u->answer_packet;
    size_t len = u->answer_len > 0 ? (size_t)u->answer_len : 0, off = 12, start, n = 0;
    struct dns_result *r = NULL;
    unsigned qd, an;

    if (p == NULL || len < 12 || (p[2] & 0x80) == 0 || (p[3] & 0x0f) != 0)
        return NULL;
    qd = (unsigned)p[4] << 8 | p[5];
    an = (unsigned)p[6] << 8 | p[7];
    for (unsigned i = 0; i < qd; i++) {
        if (!skip_name(p, len, &off) || len - off < 4)
            return NULL;
        off += 4;
    }
    start = off;
    for (int pass = 0; pass < 2; pass++) {
        off = start;
        for (unsigned i = 0; i < an; i++) {
            unsigned type, class, rdlen;

            if (!skip_name(p, len, &off) || len - off < 10)
                return dns_result_free(r);
            type = (unsigned)p[off] << 8 | p[off + 1];
            class = (unsigned)p[off + 2] << 8 | p[off + 3];
            rdlen = (unsigned)p[off + 8] << 8 | p[off + 9];
            off += 10;
            if (rdlen > len - off)
                return dns_result_free(r);
            if (type == DNS_T_TXT && class == 1) {
                if (pass == 0)
                    n++;
                else if (!parse_txt(p + off, rdlen, r, r->n++))
                    return dns_result_free(r);
            }
            off += rdlen;
        }
        if (pass == 0) {
            if (n == 0)
                return NULL;
            r = dns_result_new(DNS_OK, 0);
            r->txt = xcalloc(n, sizeof(*r->txt));
            r->txt_len = xcalloc(n, sizeof(*r->txt_len));
        }
    }
    return r;
}

/* dns_answer_from_ub - map libunbound's answer to ours; caller frees */
struct dns_result *dns_answer_from_ub(int type, int err, const struct ub_result *u)
{
    struct dns_result *r;
    size_t n = 0;

    if (err != 0 || u == NULL)
        return dns_result_new(err == UB_SYNTAX ? DNS_PERMFAIL : DNS_TEMPFAIL, -1);
    if (u->rcode == 2 && type == DNS_T_TXT && !u->bogus && (r = txt_from_packet(u)) != NULL)
        return r;
    switch (u->rcode) {
    case 0:
        break;
    case 3:
        return dns_result_new(DNS_NXDOMAIN, 3);
    case 2:
        return dns_result_new(DNS_TEMPFAIL, 2);
    default:
        return dns_result_new(DNS_PERMFAIL, u->rcode);
    }
    if (u->havedata && u->data != NULL)
        while (u->data[n] != NULL)
            n++;
    if (n == 0)
        return dns_result_new(DNS_NODATA, 0);

    r = dns_result_new(DNS_OK, 0);
    if (type == DNS_T_A || type == DNS_T_AAAA)
        r->addrs = xcalloc(n, sizeof(*r->addrs));
    else if (type == DNS_T_TXT) {
        r->txt = xcalloc(n, sizeof(*r->txt));
        r->txt_len = xcalloc(n, sizeof(*r->txt_len));
    } else if (type == DNS_T_MX)
        r->mx = xcalloc(n, sizeof(*r->mx));
    else
        r->names = xcalloc(n, sizeof(*r->names));
    r->n = n; /* entries not yet parsed are NULL, which dns_result_free skips */
    for (size_t i = 0; i < n; i++) {
        if (u->len[i] < 0 ||
            !parse_rdata(type, (const unsigned char *)u->data[i], (size_t)u->len[i], r, i)) {
            warn("dns: malformed type %d record %zu for %s", type, i, u->qname);
            dns_result_free(r);
            return dns_result_new(DNS_PERMFAIL, 0);
        }
    }
    return r;
}
