/*
 * msession_int.h - a milter session's state, shared by msession.c (the
 * conversation) and msession_api.c (the smfi_*() calls of the stages).
 * Not for other code.
 */
#ifndef POSTMETER_MSESSION_INT_H
#define POSTMETER_MSESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mproto.h"
#include "msession.h"

/* Commands that carry macros (msession.c: macro_stages). */
#define NSTAGES 8

struct macros {
    unsigned char *data; /* a copy of the packet's strings */
    char *argv[MPROTO_MAX_ARGS];
    int n;      /* strings in argv: name, value, name, value, ... */
    size_t len; /* bytes of data */
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
    size_t macro_bytes; /* of every mac[] together */
    unsigned long messages;
    unsigned long packets;          /* handled so far */
    struct msession_budget *budget; /* big input buffers are charged here, or NULL */
    size_t charged;                 /* ... this much of it by this session */
};

#endif
