/*
 * mproto.c - the milter protocol's wire format: framing, decoding,
 * encoding. See mproto.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "mproto.h"

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* mproto_frame - the first packet in buf[0..n) */
enum mproto_frame mproto_frame(const unsigned char *buf, size_t n, struct mpkt *p, size_t *used)
{
    uint32_t len;

    if (n < MILTER_LEN_BYTES)
        return MPROTO_INCOMPLETE;
    len = get32(buf);
    if (len == 0 || len > MPROTO_MAX_PACKET)
        return MPROTO_BAD;
    if (n - MILTER_LEN_BYTES < len)
        return MPROTO_INCOMPLETE;
    p->cmd = (char)buf[MILTER_LEN_BYTES];
    p->data = buf + MILTER_LEN_BYTES + 1;
    p->len = len - 1;
    *used = MILTER_LEN_BYTES + (size_t)len;
    return MPROTO_PACKET;
}

/* mproto_strings - split NUL-terminated strings in place */
int mproto_strings(unsigned char *data, size_t len, char **argv, size_t max)
{
    size_t n = 0, i = 0;

    if (max == 0 || (len > 0 && data[len - 1] != '\0'))
        return -1;
    while (i < len) {
        size_t l = strlen((char *)data + i);

        if (n + 1 >= max)
            return -1;
        argv[n++] = (char *)data + i;
        i += l + 1;
    }
    argv[n] = NULL;
    return (int)n;
}

/* parse_addr - the address text of SMFIC_CONNECT into a sockaddr */
static bool parse_addr(char family, const char *s, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == SMFIA_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return inet_pton(AF_INET, s, &sin->sin_addr) == 1;
    }
    if (family == SMFIA_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        /* sendmail writes "IPv6:addr"; Postfix the bare address */
        if (strncasecmp(s, "IPv6:", 5) == 0)
            s += 5;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        return inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1;
    }
    return false;
}

/* mproto_connect - decode SMFIC_CONNECT: hostname NUL family [port address NUL] */
bool mproto_connect(unsigned char *data, size_t len, struct mproto_connect *out)
{
    size_t hl;
    char family;
    uint16_t port;

    memset(out, 0, sizeof(*out));
    hl = strnlen((char *)data, len);
    if (hl == len || hl + 2 > len)
        return false;
    out->hostname = (char *)data;
    family = (char)data[hl + 1];
    if (family == SMFIA_UNKNOWN)
        return true;
    /* port (2 octets), then the address, NUL-terminated */
    if (len < hl + 2 + 2 + 1 || data[len - 1] != '\0')
        return false;
    port = (uint16_t)(data[hl + 2] << 8 | data[hl + 3]);
    if (family == SMFIA_UNIX)
        return true; /* a local socket path: no address */
    if (family != SMFIA_INET && family != SMFIA_INET6)
        return false;
    out->have_addr = parse_addr(family, (char *)data + hl + 4, port, &out->addr);
    return true;
}

/* mproto_optneg - decode SMFIC_OPTNEG */
bool mproto_optneg(const unsigned char *data, size_t len, uint32_t *version, uint32_t *actions,
                   uint32_t *protocol)
{
    if (len < MILTER_OPTLEN)
        return false;
    *version = get32(data);
    *actions = get32(data + 4);
    *protocol = get32(data + 8);
    return true;
}

/* mproto_put - append one packet */
void mproto_put(struct buf *out, char cmd, const void *data, size_t len)
{
    unsigned char h[MILTER_LEN_BYTES + 1];

    put32(h, (uint32_t)len + 1);
    h[MILTER_LEN_BYTES] = (unsigned char)cmd;
    buf_add(out, h, sizeof(h));
    if (len)
        buf_add(out, data, len);
}

/* mproto_put_optneg - our answer to SMFIC_OPTNEG */
void mproto_put_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t protocol)
{
    unsigned char d[MILTER_OPTLEN];

    put32(d, version);
    put32(d + 4, actions);
    put32(d + 8, protocol);
    mproto_put(out, SMFIC_OPTNEG, d, sizeof(d));
}

/* mproto_put_header - SMFIR_INSHEADER / SMFIR_CHGHEADER */
void mproto_put_header(struct buf *out, char cmd, uint32_t idx, const char *name, const char *value)
{
    size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
    unsigned char h[MILTER_LEN_BYTES + 1 + MILTER_LEN_BYTES];

    put32(h, (uint32_t)(1 + MILTER_LEN_BYTES + nl + vl));
    h[MILTER_LEN_BYTES] = (unsigned char)cmd;
    put32(h + MILTER_LEN_BYTES + 1, idx);
    buf_add(out, h, sizeof(h));
    buf_add(out, name, nl);
    buf_add(out, value, vl);
}

/* mproto_put_strings - a packet of NUL-terminated strings */
void mproto_put_strings(struct buf *out, char cmd, const char *const *s, size_t n)
{
    size_t total = 0;
    unsigned char h[MILTER_LEN_BYTES + 1];

    for (size_t i = 0; i < n; i++)
        total += strlen(s[i]) + 1;
    put32(h, (uint32_t)(total + 1));
    h[MILTER_LEN_BYTES] = (unsigned char)cmd;
    buf_add(out, h, sizeof(h));
    for (size_t i = 0; i < n; i++)
        buf_add(out, s[i], strlen(s[i]) + 1);
}
