/*
 * msession_fixture.c - MTA packets for the msession tests (see
 * msession_fixture.h).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "mproto.h"
#include "msession_fixture.h"

void pkt(struct buf *b, char cmd, const void *data, size_t len)
{
    mproto_put(b, cmd, data, len);
}

/* pkt_head - a packet's length and command, its data to follow */
void pkt_head(struct buf *b, char cmd, size_t len)
{
    uint32_t n = htonl((uint32_t)(len + 1));

    buf_add(b, &n, 4);
    buf_putc(b, cmd);
}

/* pkts - a packet of NUL-terminated strings (NULL-terminated list) */
void pkts(struct buf *b, char cmd, ...)
{
    const char *s[16];
    size_t n = 0;
    va_list ap;

    va_start(ap, cmd);
    while (n < 16 && (s[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    mproto_put_strings(b, cmd, s, n);
}

/* macro - SMFIC_MACRO for command stage: name, value, ... NULL */
void macro(struct buf *b, char stage, ...)
{
    struct buf d = BUF_INIT;
    const char *s;
    va_list ap;

    buf_putc(&d, stage);
    va_start(ap, stage);
    while ((s = va_arg(ap, const char *)) != NULL)
        buf_add(&d, s, strlen(s) + 1);
    va_end(ap);
    pkt(b, SMFIC_MACRO, d.data, d.len);
    buf_free(&d);
}

void optneg(struct buf *b, uint32_t version, uint32_t actions, uint32_t protocol)
{
    unsigned char d[12];
    uint32_t v[3] = {htonl(version), htonl(actions), htonl(protocol)};

    memcpy(d, v, 12);
    pkt(b, SMFIC_OPTNEG, d, 12);
}

void connect_inet(struct buf *b, const char *host, char family, const char *addr)
{
    struct buf d = BUF_INIT;

    buf_add(&d, host, strlen(host) + 1);
    buf_putc(&d, family);
    if (family != SMFIA_UNKNOWN) {
        buf_putc(&d, 0x04); /* port 1234 */
        buf_putc(&d, 0xd2);
        buf_add(&d, addr, strlen(addr) + 1);
    }
    pkt(b, SMFIC_CONNECT, d.data, d.len);
    buf_free(&d);
}

/* session_start - negotiation, connect, helo */
void session_start(struct buf *b)
{
    optneg(b, 6, ALL_ACTIONS, ALL_PROTOCOL);
    macro(b, SMFIC_CONNECT, "j", "mx.example.test", "{client_name}", "client.example", NULL);
    connect_inet(b, "client.example", SMFIA_INET, "192.0.2.7");
    pkts(b, SMFIC_HELO, "client.example", NULL);
}
