/*
 * dkim_verify_int.h - what dkim_verify.c (the message flow), dkim_check.c
 * (one signature's verification), dkim_dns.c (key lookups) and
 * dkim_result.c (results) share. Not for use outside those files:
 * everyone else goes through dkim_verify.h.
 */
#ifndef POSTMETER_DKIM_VERIFY_INT_H
#define POSTMETER_DKIM_VERIFY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_pkey.h"
#include "dkim_sig.h"
#include "dkim_verify.h"
#include "dns.h"

#define DKIMV_KEY_RECORD_MAX 4096    /* bytes of key record taken (RSA-8192 fits) */
#define DKIMV_HEADER_MAX     1048576 /* bytes of header kept for h= (Postfix allows 100 KB) */

struct dkimv {
    struct dns *dns; /* NULL: no resolver */
    unsigned max_sigs;
    unsigned min_key_bits;
    struct dns_result *(*lookup)(void *arg, const char *name); /* replaces dns */
    void *lookup_arg;
    struct dkim_pkeys *pkeys; /* parsed keys, shared by every message */
};

/* One key lookup, shared by the signatures of a message that name the same key. */
struct dkimv_key {
    char *name;          /* sel._domainkey.domain, lower case */
    struct dns_query *q; /* submitted, not yet waited for */
    bool done;           /* status, why and record are set */
    enum dkimv_key_status status;
    const char *why; /* static text; status != OK */
    char *record;    /* status OK: the key record */
};

/* One header field as the signer saw it: "Name:value" with CRLF folds, in m->hdr. */
struct hfield {
    size_t off, len; /* the whole field */
    size_t nlen;     /* its name */
};

/* A DKIM-Signature field. */
struct cand {
    size_t field; /* its index in m->f */
    char *value;  /* as received: tags for the results (NULL once not chosen) */
    char *d;      /* d=, lower case, NULL if none: for choosing */
    bool chosen;  /* among the max_sigs verified */
};

/*
 * The body hash under one canonicalization (at most two per message),
 * with a prefix digest per distinct l= of the signatures that use it:
 * the body is canonicalized and hashed once, whatever their number.
 */
struct dkimv_body {
    bool relaxed;
    struct dkim_body b;
    struct dkim_body_cut *cut; /* the distinct l= values, ascending */
    size_t ncut;
    unsigned char digest[DKIM_SHA256_LEN]; /* the whole body */
    bool ok;                               /* digest is set */
};

/* A run of header fields of one name (m->byname[start .. start + n), top to bottom). */
struct hgroup {
    size_t start, n;
};

/* A chosen signature, in header order, and its outcome. */
struct sigst {
    struct cand *cand;
    struct dkim_sig sig;   /* parsed at end of header */
    struct dkimv_key *key; /* its lookup; NULL if none is needed */
    int body;              /* index in m->bodies, -1 if none */
    int cut;               /* index in that body's cut (its l=), -1: the whole body */
    enum dkimv_result result;
    char why[64];  /* the reason, "" if none */
    unsigned bits; /* key size, 0 if no key was loaded */
    bool testing;  /* the key has t=y */
};

struct dkimv_msg {
    struct dkimv *v;
    bool leadspc;
    bool partial_counts; /* DKIMV_PARTIAL_COUNTS */
    bool eoh_done, eom_done;
    long long now;      /* when the message began: for t= and x= */
    const char *broken; /* static reason: OpenSSL failed, all temperror */
    struct buf hdr;     /* every header field, as the signer saw it */
    bool hdr_full;      /* fields were dropped past DKIMV_HEADER_MAX: nothing verifies */
    struct hfield *f;   /* where each field is in hdr */
    size_t nf, fcap;    /* fields, room in f */
    char *from_domain;  /* first From: address's domain, lower case */
    struct cand *cand;  /* DKIM-Signature fields */
    size_t ncand, candcap;
    struct sigst *st; /* the chosen, in header order */
    size_t nst;
    struct dkimv_key **keys;
    size_t nkeys;
    struct dkimv_body *bodies;
    size_t nbodies;
    /* the header by field name, made at the first h= lookup (dkim_check.c) */
    size_t *byname;        /* field indices sorted by name (any case), then position */
    struct hgroup *groups; /* one per distinct name, in byname order */
    size_t ngroups;
    struct buf rcanon;   /* relaxed canonical fields, each made once when first signed */
    size_t *roff, *rlen; /* per field: where in rcanon; roff SIZE_MAX until made */
    struct dkimv_sig *res;
    struct dkimv_results results;
};

/* dkimv_check - verify one chosen signature at end of message: s->result, why, bits */
void dkimv_check(struct dkimv_msg *m, struct sigst *s);
/* dkimv_index_free - free the header index dkimv_check() made */
void dkimv_index_free(struct dkimv_msg *m);
/* dkimv_results_build - m->results from the chosen signatures (all checked) */
void dkimv_results_build(struct dkimv_msg *m);
/* dkimv_results_free - free what dkimv_results_build() made */
void dkimv_results_free(struct dkimv_msg *m);

/* dkimv_keys_start - submit one lookup per distinct key of the signatures to verify */
void dkimv_keys_start(struct dkimv_msg *m);
/* dkimv_key_finish - wait for (or make) a lookup and pick its record */
void dkimv_key_finish(struct dkimv_msg *m, struct dkimv_key *k);
/* dkimv_keys_free - cancel lookups still out, free every key of the message */
void dkimv_keys_free(struct dkimv_msg *m);

#endif
