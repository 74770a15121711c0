/*
 * smfi.h - the thin adapter between postmeter's stages and libmilter.
 *
 * Stages never call smfi_*() directly: they go through the function
 * table `smfi`, which points at libmilter (smfi_real.c) in the daemon and
 * at a fake in unit tests, so every stage can be driven without an MTA.
 */
#ifndef POSTMETER_SMFI_H
#define POSTMETER_SMFI_H

#include <libmilter/mfapi.h>

struct smfi_ops {
    char *(*getsymval)(SMFICTX *ctx, char *name);
    void *(*getpriv)(SMFICTX *ctx);
    int (*setpriv)(SMFICTX *ctx, void *priv);
    int (*setreply)(SMFICTX *ctx, char *rcode, char *xcode, char *message);
    int (*insheader)(SMFICTX *ctx, int idx, char *name, char *value);
    int (*chgheader)(SMFICTX *ctx, char *name, int idx, char *value);
    int (*quarantine)(SMFICTX *ctx, char *reason);
    int (*replacebody)(SMFICTX *ctx, unsigned char *data, int len);
};

/* The adapter in use; set once at start-up before any connection. */
extern const struct smfi_ops *smfi;

#endif
