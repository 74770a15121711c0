/*
 * main.c - postmeter-tracker: the process around the pixel servers.
 *
 * Start-up order: read the configuration and the machine networks (a
 * problem stops start-up, so the command that starts the daemon fails),
 * bind the listening sockets as root (a port below 1024 needs it), hand
 * the database and the tracker's spool to the service user (through
 * descriptors: daemon_db.c), detach, write the pid file, drop
 * privileges, create or migrate the database as the user, read the
 * token key (tokenkey.c; if the database does not answer, the servers
 * start anyway and the main thread tries again every few seconds; once
 * read, it is read again in case the database is made anew), start
 * the ledger writer, then the HTTP servers (serve.c, their own threads).
 *
 * Signals are blocked in every thread; the main thread takes them with
 * sigtimedwait(): SIGHUP reloads what can change without a restart (the
 * classification: machine networks, trusted_proxies, open_ip_storage,
 * tracking_base_url's path; tracker_metrics_allow); SIGTERM/SIGINT stop
 * accepting, close the connections, flush the ledger (what cannot be
 * committed goes to the spool) and exit.
 *
 * The tracker writes its own spool (the ledger's spool path with
 * ".tracker" added): the milter's is locked by the milter.
 */
#include <errno.h>
#include <malloc.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "daemon_db.h"
#include "ledger.h"
#include "log.h"
#include "tracker.h"
#include "util.h"

/* load - the configuration and the tracker's view of it; NULL with the problems in errors */
static struct tracker_conf *load(const char *path, struct buf *errors)
{
    struct config *c = config_load(path, errors);

    return c != NULL ? tracker_conf_new(c, errors) : NULL;
}

/* load_or_die - load() or die with every problem found */
static struct tracker_conf *load_or_die(const char *path)
{
    struct buf errors = BUF_INIT;
    struct tracker_conf *tc = load(path, &errors);

    if (tc == NULL) {
        fputs(buf_cstr(&errors), stderr);
        die("%s: configuration has errors", path);
    }
    buf_free(&errors);
    return tc;
}

/* tracker_spool - the tracker's own spool file; caller frees */
static char *tracker_spool(const struct config *c)
{
    char *spool = config_spool_path(c), *p = xasprintf("%s.tracker", spool);

    free(spool);
    return p;
}

/* check_database_dir - the user must be able to make files next to the database */
static void check_database_dir(const struct config *c, const struct daemon_user *u)
{
    char *copy = xstrdup(c->database), *dir = dirname(copy);

    if (!daemon_user_can(u, dir, W_OK | X_OK))
        die("database: user %s cannot create files in %s (the database's -wal and -shm, "
            "the spool); not started",
            u->name, dir);
    free(copy);
}

/* differs - a key the running servers cannot take without a restart changed */
static bool differs(const struct config *a, const struct config *b)
{
    bool listen_same = true;

    for (size_t i = 0; listen_same && (a->tracker_listen[i] || b->tracker_listen[i]); i++)
        listen_same = a->tracker_listen[i] && b->tracker_listen[i] &&
                      strcmp(a->tracker_listen[i], b->tracker_listen[i]) == 0;
    return !listen_same || strcmp(a->user, b->user) || strcmp(a->database, b->database) ||
           strcmp(a->ledger_spool, b->ledger_spool) ||
           a->tracker_max_connections != b->tracker_max_connections ||
           a->tracker_max_per_ip != b->tracker_max_per_ip ||
           a->tracker_timeout_s != b->tracker_timeout_s;
}

/* reload - SIGHUP: read everything again; keep the running settings on errors */
static void reload(const char *path, struct serve *s, struct tracker_conf **running)
{
    struct buf errors = BUF_INIT;
    struct tracker_conf *tc = load(path, &errors);
    char *line, *save = NULL;

    if (tc == NULL) {
        for (line = strtok_r(errors.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            warn("reload: %s", line);
        warn("reload: configuration has errors; still running with the previous one");
        buf_free(&errors);
        return;
    }
    buf_free(&errors);
    if (differs(tc->cfg, (*running)->cfg))
        warn("reload: tracker_listen, tracker_max_connections, tracker_max_per_ip, "
             "tracker_timeout_s, user, database and ledger_* change only on restart");
    log_set_debug(tc->cfg->debug);
    tracker_conf_free(serve_replace(s, tc));
    *running = tc;
    info("configuration reloaded from %s: %zu machine network(s)", path,
         classify_nets_count(tc->nets));
}

/* run - take signals until SIGTERM or SIGINT; read the token key while it is missing */
static void run(const char *path, const char *database, const sigset_t *sigs, struct serve *s,
                struct tracker_conf **running)
{
    for (;;) {
        struct timespec second = {1, 0};
        int sig = sigtimedwait(sigs, NULL, &second);
        struct track_key *old;

        if (sig == SIGHUP)
            reload(path, s, running);
        else if (sig == SIGTERM || sig == SIGINT) {
            info("stopping on signal %d", sig);
            return;
        } else if (sig < 0 && errno != EAGAIN && errno != EINTR)
            die("sigtimedwait: %s", strerror(errno));
        /* the one the writer uses (it changes only on restart); a key replaced by a new one
           is freed once no request is left that may hold it */
        tracker_key_try(database, &old);
        if (old != NULL) {
            serve_quiesce(s);
            old = tracker_key_retire(old);
        }
    }
}

int main(int argc, char **argv)
{
    struct daemon_args args;
    const char *path;
    bool foreground = false, check = false, debug_opt = false;
    struct tracker_conf *tc;
    struct daemon_user user;
    struct ledger_opts lopts;
    struct ledger *ledger;
    struct ledger_stats st;
    struct serve *s;
    sigset_t sigs;
    char *spool, *pid_file, *database;
    struct track_key *old_key;
    int *fds;
    size_t nfds;

    /* Each libmicrohttpd thread would get its own malloc arena (tens of
       MiB of RSS under a flood, for small short-lived allocations). */
    mallopt(M_ARENA_MAX, TRACKER_MALLOC_ARENAS);

    log_open("postmeter-tracker", LOG_TO_STDERR);
    daemon_args_parse(argc, argv, "postmeter-tracker", &args);
    path = args.config;
    foreground = args.foreground;
    check = args.check;
    debug_opt = args.debug;
    tc = load_or_die(path);
    if (check) {
        config_dump(tc->cfg, stdout);
        tracker_conf_print(tc, stdout);
        daemon_lookup_user(tc->cfg->user, &user); /* dies if there is no such user */
        free(user.name);
        printf("postmeter-tracker: configuration %s OK\n", tc->cfg->path);
        tracker_conf_free(tc);
        return 0;
    }
    log_set_debug(debug_opt || tc->cfg->debug);
    if (!foreground)
        log_open("postmeter-tracker", LOG_TO_SYSLOG);
    signal(SIGPIPE, SIG_IGN);
    /* ours, in the main thread only: blocked before any thread exists (all inherit it) */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    daemon_lookup_user(tc->cfg->user, &user);
    fds = listen_open(tc->cfg->tracker_listen, &nfds);
    spool = tracker_spool(tc->cfg);
    daemon_db_give(tc->cfg->database, (const char *const[]){spool, NULL}, &user);
    check_database_dir(tc->cfg, &user);
    if (!foreground)
        daemon_detach();
    pid_file = xstrdup(tc->cfg->tracker_pid_file);
    daemon_write_pidfile(pid_file);
    daemon_drop_privileges(&user);
    daemon_db_migrate(tc->cfg->database);  /* as the user: root opens nothing in its directory */
    database = xstrdup(tc->cfg->database); /* tc is replaced by a reload; this is not */
    tracker_key_try(database, &old_key);   /* no request yet: a replaced key goes at once */
    old_key = tracker_key_retire(old_key);

    daemon_db_ledger_opts(tc->cfg, spool, &lopts);
    lopts.journal = false; /* a pixel's answer never waits for a record */
    /* Opens are small and a full queue spills to the spool (ledger_put):
       a small queue and page cache keep the tracker's memory small. */
    if (lopts.queue_max_bytes == 0 || lopts.queue_max_bytes > TRACKER_QUEUE_BYTES)
        lopts.queue_max_bytes = TRACKER_QUEUE_BYTES;
    if (lopts.cache_mb > TRACKER_CACHE_MB)
        lopts.cache_mb = TRACKER_CACHE_MB;
    ledger = ledger_start(&lopts);
    s = serve_start(fds, nfds, tc, ledger);
    info("postmeter-tracker %s: pixels at %s/o/<TOKEN>.gif on %zu address(es), %zu machine "
         "network(s)",
         POSTMETER_VERSION, tc->prefix, nfds, classify_nets_count(tc->nets));

    run(path, database, &sigs, s, &tc);

    s = serve_stop(s);
    ledger = ledger_stop_stats(ledger, 10000, &st);
    info("stopped: %llu open(s) in, %llu written, %llu spooled, %llu discarded (unknown token), "
         "%llu dropped",
         (unsigned long long)st.put, (unsigned long long)(st.written + st.replayed),
         (unsigned long long)st.spooled, (unsigned long long)st.discarded,
         (unsigned long long)st.dropped);
    daemon_remove_pidfile(pid_file);
    tracker_key_free();
    free(database);
    tracker_conf_free(tc);
    free(pid_file);
    free(spool);
    free(fds);
    free(user.name);
    return 0;
}
