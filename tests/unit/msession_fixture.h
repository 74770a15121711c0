/*
 * msession_fixture.h - what the msession tests share (test_msession.c:
 * conversations; test_msession_input.c: how input is read and kept):
 * MTA packets built as Postfix's milter8 sends them.
 */
#ifndef POSTMETER_TEST_MSESSION_FIXTURE_H
#define POSTMETER_TEST_MSESSION_FIXTURE_H

#include <libmilter/mfapi.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define ALL_ACTIONS  0x1ffu
#define ALL_PROTOCOL 0x1fffffu
#define NR_ALL                                                                                     \
    (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_EOH | \
     SMFIP_NR_BODY)

/* pkt - one packet: cmd and len bytes of data */
void pkt(struct buf *b, char cmd, const void *data, size_t len);
/* pkt_head - the start of a packet: its length (cmd and len data bytes) and cmd, no data */
void pkt_head(struct buf *b, char cmd, size_t len);
/* pkts - a packet of NUL-terminated strings (NULL-terminated list) */
void pkts(struct buf *b, char cmd, ...);
/* macro - SMFIC_MACRO for command stage: name, value, ... NULL */
void macro(struct buf *b, char stage, ...);
/* optneg - SMFIC_OPTNEG with the MTA's version, actions and protocol flags */
void optneg(struct buf *b, uint32_t version, uint32_t actions, uint32_t protocol);
/* connect_inet - SMFIC_CONNECT for host at addr (port 1234) of family SMFIA_* */
void connect_inet(struct buf *b, const char *host, char family, const char *addr);
/* session_start - negotiation (version 6, every action and protocol flag), connect, helo */
void session_start(struct buf *b);

#endif
