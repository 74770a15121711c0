/*
 * dkim_verify_int.h - what dkim_verify.c (the message flow), dkim_dns.c
 * (key lookups) and dkim_result.c (results) share. Not for use outside
 * those files: everyone else goes through dkim_verify.h.
 */
#ifndef POSTMETER_DKIM_VERIFY_INT_H
#define POSTMETER_DKIM_VERIFY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <dkim.h>

#include "buf.h"
#include "dkim_verify.h"
#include "dns.h"

struct dkimv {
    DKIM_LIB *lib;
    struct dns *dns; /* NULL: no resolver */
    unsigned max_sigs;
    unsigned min_key_bits;
    struct dns_result *(*lookup)(void *arg, const char *name); /* replaces dns */
    void *lookup_arg;
};

/* One key lookup, shared by the signatures of a message that name the same key. */
struct dkimv_key {
    char *name;          /* sel._domainkey.domain, lower case */
    struct dns_query *q; /* submitted, not yet waited for */
    bool done;           /* status, why and record are set */
    enum dkimv_key_status status;
    const char *why; /* static text; status != OK */
    char *record;    /* status OK: the record libopendkim gets */
};

/* A DKIM-Signature field held until end of header. */
struct cand {
    char *value; /* as received: tags for the results (NULL once not chosen) */
    char *d;     /* d=, lower case, NULL if none: for choosing */
    bool chosen; /* among the max_sigs verified */
    bool bad;    /* libopendkim could not parse its tag-list */
};

/* A signature given to libopendkim, in the order given. */
struct sigst {
    struct cand *cand;
    DKIM_SIGINFO *sig;     /* libopendkim's handle (prescreen); NULL if none */
    struct dkimv_key *key; /* its lookup; NULL if none was needed */
    bool sha1;             /* rsa-sha1: refused, never looked up */
    bool asked;            /* libopendkim asked for its key */
};

/* Canonical body length so far under one body canonicalization (RFC 6376 3.4.3/3.4.4). */
struct canon_len {
    bool relaxed;
    bool cr;                  /* the last byte was a CR */
    bool ws;                  /* relaxed: white space pending in the line */
    unsigned long long line;  /* canonical bytes of the current line */
    unsigned long long empty; /* empty lines held back: they count if content follows */
    unsigned long long total; /* canonical bytes of the lines before them */
};

struct dkimv_msg {
    struct dkimv *v;
    DKIM *dkim;
    bool leadspc;
    bool eoh_done, eom_done;
    bool active;        /* libopendkim has signatures to verify */
    const char *broken; /* static reason: libopendkim failed, all temperror */
    struct buf line;    /* one header line at a time */
    char *from_domain;  /* first From: address's domain, lower case */
    struct cand *cand;  /* DKIM-Signature fields held */
    size_t ncand;
    size_t nsighdr;   /* DKIM-Signature fields seen */
    struct sigst *st; /* the chosen, in header order */
    size_t nst;
    struct dkimv_key **keys;
    size_t nkeys;
    struct canon_len clen[2]; /* simple, relaxed: for l= "partial body" */
    bool count_len;           /* a chosen signature has l=: clen[] are counted */
    struct dkimv_sig *res;
    struct dkimv_results results;
};

/* dkimv_clen_add - count a body chunk into a canonical length */
void dkimv_clen_add(struct canon_len *c, const unsigned char *p, size_t len);
/* dkimv_clen_total - canonical length of the whole body */
unsigned long long dkimv_clen_total(const struct canon_len *c);
/* dkimv_results_build - m->results from the chosen signatures (dkim_eom done or not needed) */
void dkimv_results_build(struct dkimv_msg *m);
/* dkimv_results_free - free what dkimv_results_build() made */
void dkimv_results_free(struct dkimv_msg *m);

/* dkimv_key_lookup_cb - libopendkim's key lookup: the record of our lookup */
DKIM_CBSTAT dkimv_key_lookup_cb(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen);
/* dkimv_keys_start - submit one lookup per distinct key of the signatures to verify */
void dkimv_keys_start(struct dkimv_msg *m);
/* dkimv_keys_free - cancel lookups still out, free every key of the message */
void dkimv_keys_free(struct dkimv_msg *m);

#endif
