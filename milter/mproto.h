/*
 * mproto.h - the milter protocol's wire format (version 6, as Postfix and
 * sendmail speak it): packet framing, decoding the MTA's commands and
 * encoding our replies. Pure functions over byte buffers, no I/O, so
 * the codec is unit-tested and fuzzed on its own; engine.c does the I/O.
 *
 * A packet is a 32-bit big-endian length, then that many octets: one
 * command (or reply) character and its data. Names and constants are the
 * protocol's own, from libmilter's <libmilter/mfdef.h> (header only: the
 * engine that speaks it is ours).
 */
#ifndef POSTMETER_MPROTO_H
#define POSTMETER_MPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <libmilter/mfdef.h>

#include "buf.h"

/* Largest packet we take. Postfix sends a header field whole (up to its
 * header_size_limit, 100 KiB by default) and body chunks of 64 KiB. */
#define MPROTO_MAX_PACKET (4u * 1024 * 1024)
/* Most strings we split out of one MAIL/RCPT/macro packet. */
#define MPROTO_MAX_ARGS 64

/* One packet as it sits in the input buffer (data points into it). */
struct mpkt {
    char cmd;
    const unsigned char *data;
    size_t len;
};

enum mproto_frame {
    MPROTO_PACKET,     /* *p holds one packet, *used its size in the buffer */
    MPROTO_INCOMPLETE, /* read more */
    MPROTO_BAD,        /* empty or too large a packet: drop the connection */
};

/* mproto_frame - the first packet in buf[0..n) */
enum mproto_frame mproto_frame(const unsigned char *buf, size_t n, struct mpkt *p, size_t *used);

/*
 * mproto_strings - split data into NUL-terminated strings, in place
 * (data must be writable and the last string terminated). Puts up to max-1
 * pointers and a NULL into argv; returns how many, or -1 if the data does
 * not end in a NUL or has more strings than fit.
 */
int mproto_strings(unsigned char *data, size_t len, char **argv, size_t max);

/* The decoded SMFIC_CONNECT packet. */
struct mproto_connect {
    const char *hostname;
    bool have_addr; /* false for family 'U' (unknown) or an address that does not parse */
    struct sockaddr_storage addr;
};

/* mproto_connect - decode SMFIC_CONNECT data (writable, as above); false if malformed */
bool mproto_connect(unsigned char *data, size_t len, struct mproto_connect *out);

/* mproto_optneg - decode SMFIC_OPTNEG: version, actions, protocol flags */
bool mproto_optneg(const unsigned char *data, size_t len, uint32_t *version, uint32_t *actions,
                   uint32_t *protocol);

/* mproto_put - append one packet (cmd and len bytes of data) to out */
void mproto_put(struct buf *out, char cmd, const void *data, size_t len);
/* mproto_put_optneg - append our SMFIC_OPTNEG answer */
void mproto_put_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t protocol);
/* mproto_put_header - append SMFIR_INSHEADER / SMFIR_CHGHEADER: index, name, value */
void mproto_put_header(struct buf *out, char cmd, uint32_t idx, const char *name,
                       const char *value);
/* mproto_put_strings - append a packet of n NUL-terminated strings */
void mproto_put_strings(struct buf *out, char cmd, const char *const *s, size_t n);

#endif
