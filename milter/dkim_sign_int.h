/*
 * dkim_sign_int.h - what dkim_sign.c (the message flow) and
 * dkim_sign_key.c (the keys) share. Not for use outside those files:
 * everyone else goes through dkim_sign.h.
 */
#ifndef POSTMETER_DKIM_SIGN_INT_H
#define POSTMETER_DKIM_SIGN_INT_H

#include <stddef.h>

#include <dkim.h>

struct dkims_key {
    char *domain;
    char *selector;
    dkim_alg_t alg; /* DKIM_SIGN_RSASHA256 or DKIM_SIGN_ED25519SHA256 */
    unsigned bits;
    char *pem; /* unencrypted PKCS#8 PEM, NUL-terminated: libopendkim's secretkey */
    size_t pemlen;
    unsigned char *pub; /* SubjectPublicKeyInfo DER (RSA) or the raw key (Ed25519) */
    size_t publen;
};

/* dkims_alg_name - the a= word of a libopendkim algorithm */
const char *dkims_alg_name(dkim_alg_t alg);

#endif
