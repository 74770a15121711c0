/*
 * noop_milter.c - the cheapest milter postmeter's server can be: the
 * same engine (milter/engine.c, msession.c), the same negotiation as
 * postmeter-milter (every step before end of message without a reply,
 * header values with their leading space), no callback work, CONTINUE
 * at end of message. bench/milter-throughput.sh's `noop` mode runs it
 * to show what a milter costs Postfix on this machine before any
 * filtering: the floor under every other mode's ratio.
 *
 *   noop_milter SPEC      (unix:PATH, inet:PORT@HOST; SIGTERM stops it)
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"

static sfsistat noop_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                               unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                               unsigned long *pf2, unsigned long *pf3)
{
    (void)ctx, (void)f0, (void)f2, (void)f3;
    *pf0 = 0;
    *pf1 = f1 & (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA |
                 SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_HDR_LEADSPC);
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat noop_step(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_NOREPLY;
}

static sfsistat noop_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
    (void)host, (void)sa;
    return noop_step(ctx);
}

static sfsistat noop_args(SMFICTX *ctx, char **argv)
{
    (void)argv;
    return noop_step(ctx);
}

static sfsistat noop_helo(SMFICTX *ctx, char *helo)
{
    (void)helo;
    return noop_step(ctx);
}

static sfsistat noop_header(SMFICTX *ctx, char *name, char *value)
{
    (void)name, (void)value;
    return noop_step(ctx);
}

static sfsistat noop_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    (void)chunk, (void)len;
    return noop_step(ctx);
}

static sfsistat noop_eom(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

/* Every step is taken (as postmeter-milter takes them), none costs anything. */
static struct smfiDesc noop_desc = {
    .xxfi_name = "noop",
    .xxfi_version = SMFI_VERSION,
    .xxfi_connect = noop_connect,
    .xxfi_helo = noop_helo,
    .xxfi_envfrom = noop_args,
    .xxfi_envrcpt = noop_args,
    .xxfi_header = noop_header,
    .xxfi_eoh = noop_step,
    .xxfi_body = noop_body,
    .xxfi_eom = noop_eom,
    .xxfi_negotiate = noop_negotiate,
};

static struct engine *engine;

static void *stopper(void *arg)
{
    sigset_t *sigs = arg;
    int sig;

    sigwait(sigs, &sig);
    engine_stop(engine);
    return NULL;
}

int main(int argc, char **argv)
{
    char err[256];
    sigset_t sigs;
    pthread_t tid;

    if (argc != 2) {
        fprintf(stderr, "usage: noop_milter unix:PATH|inet:PORT@HOST\n");
        return 2;
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if ((engine = engine_listen(argv[1], 0666, err, sizeof(err))) == NULL) {
        fprintf(stderr, "noop_milter: %s: %s\n", argv[1], err);
        return 1;
    }
    pthread_create(&tid, NULL, stopper, &sigs);
    engine_run(engine, &noop_desc, 300);
    engine_close(engine, 5);
    return 0;
}
