/*
 * engine_int.h - what engine.c (connections, threads) and engine_listen.c
 * (the listening socket) share: the engine's state. Not for other code.
 */
#ifndef POSTMETER_ENGINE_INT_H
#define POSTMETER_ENGINE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "engine.h"
#include "msession.h"

/* A kind of refusal: logged at its first, then at most once every BURST_LOG_S. */
struct burst {
    bool on;                  /* refusing (until burst_end) */
    time_t logged;            /* when it was last logged */
    unsigned long since, all; /* refusals since then, in this burst */
};

/* One connection being served (in the engine's list, to cut at shutdown). */
struct econn {
    int fd;
    struct econn *next, *prev;
};

struct engine {
    int fd;           /* listening socket */
    char *path;       /* unix socket file, or NULL */
    bool tcp;         /* inet sockets: re-arm TCP_QUICKACK */
    int stop_pipe[2]; /* engine_stop() -> engine_run() */
    const struct smfiDesc *desc;
    unsigned timeout_s;

    pthread_mutex_t mu;
    pthread_cond_t work;    /* a connection is queued, or stopping */
    pthread_cond_t changed; /* a connection or thread ended */
    int *queue;             /* accepted fds waiting for a thread */
    size_t qlen, qcap;
    unsigned threads, idle;
    unsigned active;     /* connections being served */
    struct econn *conns; /* ... their list */
    bool stopping;       /* threads end instead of waiting */
    unsigned max_conns;  /* active + queued at most; more are closed at accept */

    struct msession_budget budget; /* input buffered for big packets, all connections */
    struct burst full;             /* refused at max_conns (engine_run's thread only) */
    struct burst no_room;          /* big packets refused by the budget (guarded by mu) */
};

/* engine_new - an engine with nothing open, the default limits */
struct engine *engine_new(void);
/* engine_free - close what is open, free */
void engine_free(struct engine *e);

#endif
