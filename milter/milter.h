/*
 * milter.h - postmeter-milter's callbacks and the state they share.
 *
 * The callbacks (milter_cb.c) run in libmilter's per-connection threads.
 * What they share is set up once by main.c: the sink that receives
 * finished ledger records, and the current configuration, which SIGHUP
 * replaces while connections keep the one they started with.
 */
#ifndef POSTMETER_MILTER_H
#define POSTMETER_MILTER_H

#include <libmilter/mfapi.h>

#include "config.h"
#include "ledger_msg.h"

/* A configuration shared by connections; freed when the last one lets go. */
struct milter_cfg {
    struct config *c;
    unsigned refs;
};

/* Receives each finished record and takes ownership of it. */
typedef void milter_sink_fn(void *arg, const struct config *c, struct ledger_msg *m);

/* milter_setup - set the record sink and the first configuration (takes c) */
void milter_setup(milter_sink_fn *sink, void *sink_arg, struct config *c);
/* milter_replace_config - make c current (takes c); connections keep theirs */
void milter_replace_config(struct config *c);
/* milter_cfg_acquire - a reference to the current configuration */
struct milter_cfg *milter_cfg_acquire(void);
/* milter_cfg_release - drop a reference; returns NULL */
struct milter_cfg *milter_cfg_release(struct milter_cfg *mc);
/* milter_active - connections open now */
unsigned milter_active(void);
/* milter_teardown - drop the sink and the configuration (at exit) */
void milter_teardown(void);
/* milter_emit - hand a finished record to the sink (takes m); returns once it is durable */
void milter_emit(const struct config *c, struct ledger_msg *m);

/* libmilter callbacks (registered in smfi_real.c, driven directly by tests) */
sfsistat milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                          unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                          unsigned long *pf2, unsigned long *pf3);
sfsistat milter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr);
sfsistat milter_helo(SMFICTX *ctx, char *helo);
sfsistat milter_envfrom(SMFICTX *ctx, char **argv);
sfsistat milter_envrcpt(SMFICTX *ctx, char **argv);
sfsistat milter_header(SMFICTX *ctx, char *name, char *value);
sfsistat milter_eoh(SMFICTX *ctx);
sfsistat milter_body(SMFICTX *ctx, unsigned char *chunk, size_t len);
sfsistat milter_eom(SMFICTX *ctx);
sfsistat milter_abort(SMFICTX *ctx);
sfsistat milter_close(SMFICTX *ctx);

#endif
