/*
 * main.c - postmeter-milter: the process around the callbacks.
 *
 * Start-up order: read config, check the system it names as -t does
 * (syscheck.c: every problem said once, then exit 1), open the milter
 * socket as root, hand it and the existing database files to the
 * service user (through descriptors: the database directory is that
 * user's, STYLE habit 14), check again that the user can read and
 * write the database file, detach, drop privileges, create or migrate
 * the database as the user, start the
 * ledger writer, then run the milter server (engine.c) in its own
 * thread. The main thread only takes signals: SIGHUP reloads the
 * configuration, SIGTERM/SIGINT stop accepting, let open connections
 * finish, flush the ledger and exit. Every other thread is created with
 * those signals blocked; the main thread's handlers only set a flag and
 * wake it through a pipe, so a signal during a reload is never lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "daemon_db.h"
#include "dkim_canon.h"
#include "dns.h"
#include "engine.h"
#include "inbound.h"
#include "ledger.h"
#include "log.h"
#include "milter.h"
#include "pixel_load.h"
#include "safefile.h"
#include "stage_auth.h"
#include "stage_sign.h"
#include "stage_track.h"
#include "status_file.h"
#include "store.h"
#include "syscheck.h"
#include "util.h"

extern struct smfiDesc milter_desc;

/*
 * Stack of every thread started after start-up: the engine's, one per MTA
 * connection. glibc keeps up to 40 MiB of ended threads' stacks for
 * reuse; at the default size (RLIMIT_STACK, 8 MiB) only five fit, so with
 * more connections than that every new thread cost an mmap and an
 * mprotect and every ended one a munmap (a TLB shootdown on every CPU).
 * The deepest callers (libunbound, OpenSSL) need far less.
 */
#define THREAD_STACK_SIZE (512 * 1024)

static atomic_bool milter_thread_done;

/* What the milter thread runs. */
struct milter_run {
    struct engine *engine;
    unsigned timeout_s;
};

/* load_config - read path or die with every problem found */
static struct config *load_config(const char *path)
{
    struct buf errors = BUF_INIT;
    struct config *c = config_load(path, &errors);

    if (c == NULL) {
        fputs(buf_cstr(&errors), stderr);
        die("%s: configuration has errors", path);
    }
    buf_free(&errors);
    return c;
}

/* open_socket - create the listening socket with its mode and group */
static struct engine *open_socket(const struct config *c, const struct daemon_user *u)
{
    char err[512];
    struct engine *e = engine_listen(c->milter_socket, c->milter_socket_mode, err, sizeof(err));
    const char *path;
    gid_t gid = u->gid;

    if (e == NULL)
        die("milter_socket = %s: %s", c->milter_socket, err);
    if ((path = engine_path(e)) == NULL)
        return e;
    if (c->milter_socket_group[0]) {
        struct group *gr = getgrnam(c->milter_socket_group);

        if (gr == NULL)
            die("milter_socket_group: group \"%s\" does not exist", c->milter_socket_group);
        gid = gr->gr_gid;
    }
    /* Its directory may be the service user's: the socket's descriptor only, never its name. */
    if (!safefile_give_socket(path, geteuid() == 0 ? u->uid : (uid_t)-1,
                              geteuid() == 0 ? gid : (gid_t)-1, c->milter_socket_mode, err,
                              sizeof(err)))
        die("milter_socket: %s", err);
    return e;
}

/*
 * sink_to_ledger - the milter's record sink: returns once the record is
 * durable (ledger_put_wait), so the answer that follows never outruns it
 */
static void sink_to_ledger(void *arg, const struct config *c, struct ledger_msg *m)
{
    enum ledger_ack a;
    char uid[sizeof(m->uid)];

    strlcpy_ok(uid, m->uid, sizeof(uid));
    a = ledger_put_wait(arg, m, c->ledger_wait_ms);
    if (a != LEDGER_ACK_STORED && a != LEDGER_ACK_JOURNALED && c->ledger_wait_ms > 0)
        debug("ledger record %s: %s", uid, ledger_ack_name(a));
}

static volatile sig_atomic_t got_hup, got_stop;
static int wake_pipe[2] = {-1, -1};

/* on_signal - note the signal and wake the main loop (async-signal-safe) */
static void on_signal(int sig)
{
    int saved = errno;

    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_stop = sig;
    if (write(wake_pipe[1], "", 1) < 0) {
        /* the pipe is full: the main loop is awake anyway */
    }
    errno = saved;
}

/* take_signals - handlers for SIGHUP/SIGTERM/SIGINT, delivered to the calling thread */
static void take_signals(const sigset_t *sigs)
{
    struct sigaction sa;

    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        die("pipe: %s", strerror(errno));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGHUP, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0)
        die("sigaction: %s", strerror(errno));
    pthread_sigmask(SIG_UNBLOCK, sigs, NULL); /* what came early is delivered now */
}

/* wait_wakeup - sleep until a signal or at most ms milliseconds */
static void wait_wakeup(int ms)
{
    struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
    char drain[64];

    if (poll(&p, 1, ms) > 0)
        while (read(wake_pipe[0], drain, sizeof(drain)) > 0)
            ;
}

/* small_thread_stacks - threads started from now on get THREAD_STACK_SIZE stacks */
static void small_thread_stacks(void)
{
    pthread_attr_t a;
    size_t size;
    int rc = pthread_getattr_default_np(&a);

    if (rc != 0) {
        warn("cannot read the default thread attributes: %s", strerror(rc));
        return;
    }
    rc = pthread_attr_getstacksize(&a, &size);
    if (rc == 0 && size > THREAD_STACK_SIZE) {
        rc = pthread_attr_setstacksize(&a, THREAD_STACK_SIZE);
        if (rc == 0)
            rc = pthread_setattr_default_np(&a);
    }
    if (rc != 0)
        warn("cannot set the threads' stack size: %s", strerror(rc));
    pthread_attr_destroy(&a);
}

/* milter_thread - serve the MTA until engine_stop() */
static void *milter_thread(void *arg)
{
    struct milter_run *r = arg;

    engine_run(r->engine, &milter_desc, r->timeout_s);
    atomic_store(&milter_thread_done, true);
    return NULL;
}

/* reload - SIGHUP: read the file again; keep the old config on errors */
static void reload(const char *path, const struct config *running)
{
    struct buf errors = BUF_INIT;
    struct config *c;

    status_file_config_stat(path);
    if ((c = config_load(path, &errors)) == NULL) {
        char *line, *save = NULL;

        for (line = strtok_r(errors.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            warn("reload: %s", line);
        warn("reload: configuration has errors; still running with the previous one");
        buf_free(&errors);
        status_file_config_read(false);
        return;
    }
    buf_free(&errors);
    status_file_config_read(true);
    if (strcmp(c->milter_socket, running->milter_socket) || strcmp(c->user, running->user) ||
        strcmp(c->database, running->database) || strcmp(c->ledger_spool, running->ledger_spool) ||
        c->ledger_sync != running->ledger_sync || c->ledger_journal != running->ledger_journal)
        warn("reload: milter_socket, user, database, ledger_spool, ledger_sync and ledger_journal "
             "change only on restart");
    if (c->dns_timeout_ms != running->dns_timeout_ms ||
        c->dkim_max_signatures != running->dkim_max_signatures ||
        c->dkim_min_key_bits != running->dkim_min_key_bits)
        warn("reload: dns_*, dkim_max_signatures and dkim_min_key_bits change only on restart");
    if (pixel_loaded() && strcmp(c->pixel_module, running->pixel_module) != 0)
        warn("reload: pixel_module changes only on restart (the pixel engine stays loaded)");
    log_set_debug(c->debug);
    milter_replace_config(c);
    info("configuration reloaded from %s", path);
}

/*
 * give_files - the database, its side files, the spool and the ledger's
 * journal files to user, handed over through descriptors; anything
 * planted there stops start-up untouched (daemon_db_give)
 */
static void give_files(const char *database, const char *spool, const struct daemon_user *user)
{
    char *j0 = xasprintf("%s.journal.0", spool), *j1 = xasprintf("%s.journal.1", spool);

    daemon_db_give(database, (const char *const[]){spool, j0, j1, NULL}, user);
    free(j0);
    free(j1);
}

int main(int argc, char **argv)
{
    struct daemon_args args;
    const char *path;
    bool foreground = false, check = false, debug_opt = false;
    struct daemon_user user;
    struct ledger_opts lopts;
    struct ledger *ledger;
    struct ledger_stats st;
    struct config *cfg, *running;
    struct dns *dns;
    struct inbound *inbound;
    struct dkims *signer;
    struct milter_run run;
    char err[512];
    pthread_t tid;
    sigset_t sigs;
    char *spool, *pid_file;

    log_open("postmeter-milter", LOG_TO_STDERR);
    daemon_args_parse(argc, argv, "postmeter-milter", &args);
    path = args.config;
    foreground = args.foreground;
    check = args.check;
    debug_opt = args.debug;
    status_file_config_stat(path); /* its mtime before it is read: postmeter status */
    cfg = load_config(path);
    if (check) {
        bool ok;

        config_dump(cfg, stdout);
        fflush(stdout);
        /* the system the configuration names: user, group, directories, keys, pixel engine */
        ok = syscheck_say(cfg, true);
        if (dkim_sha256() == NULL) { /* logged by dkim_sha256() */
            fprintf(stderr, "postmeter-milter: OpenSSL cannot hash with SHA-256: no DKIM\n");
            ok = false;
        }
        if (ok)
            printf("postmeter-milter: configuration %s OK\n", cfg->path);
        config_free(cfg);
        return ok ? 0 : 1;
    }
    log_set_debug(debug_opt || cfg->debug);
    if (!foreground)
        log_open("postmeter-milter", LOG_TO_SYSLOG);
    signal(SIGPIPE, SIG_IGN);

    /*
     * Signals are ours: block them before the socket exists (a SIGTERM
     * that comes as soon as the pid file appears must still end in a
     * clean stop) and before any thread exists (all threads inherit it).
     */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    /*
     * What -t checks, before anything is made: every problem said once, and
     * the command that starts the daemon fails. Loads the pixel engine if
     * tracking is on (as root, like the binary, before detaching; GLib's
     * constructors start no thread).
     */
    if (!syscheck_say(cfg, false))
        die("not started: the problems above need fixing (postmeter-milter -t checks again)");
    daemon_lookup_user(cfg->user, &user);
    run.engine = open_socket(cfg, &user);
    run.timeout_s = cfg->milter_timeout;
    engine_set_limits(run.engine, cfg->milter_max_connections,
                      (size_t)cfg->milter_max_buffer_mb << 20);
    /* Before detaching, so that the command that starts the daemon fails. */
    spool = config_spool_path(cfg);
    give_files(cfg->database, spool, &user);
    if (!syscheck_given(cfg, &user))
        die("database: not usable by user %s; not started", user.name);
    if (!foreground)
        daemon_detach();
    pid_file = xstrdup(cfg->pid_file);
    daemon_write_pidfile(pid_file);
    daemon_drop_privileges(&user);
    daemon_db_migrate(cfg->database); /* as the user: root opens nothing in its directory */

    daemon_db_ledger_opts(cfg, spool, &lopts);
    lopts.retention_days = cfg->retention_days; /* the milter's writer prunes, not the tracker's */
    ledger = ledger_start(&lopts);
    /* DNS and the inbound checks: dns_servers and the DKIM limits change on restart only. */
    if ((dns = dns_open(cfg->dns_servers, cfg->dns_timeout_ms, err, sizeof(err))) == NULL)
        die("dns: %s", err);
    if ((inbound = inbound_open(dns, cfg, err, sizeof(err))) == NULL)
        die("inbound checks: %s", err);
    auth_stage_setup(inbound);
    if ((signer = dkims_open(err, sizeof(err))) == NULL)
        die("dkim signing: %s", err);
    sign_stage_setup(signer);
    sign_stage_refresh(cfg, true);
    track_stage_refresh(cfg, true);
    running = cfg;
    milter_setup(sink_to_ledger, ledger, cfg);
    small_thread_stacks();
    take_signals(&sigs);
    /* the connection threads (the milter thread's children) must never get them */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    errno = pthread_create(&tid, NULL, milter_thread, &run);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    if (errno != 0)
        die("cannot start the milter thread: %s", strerror(errno));
    info("postmeter-milter %s listening on %s", POSTMETER_VERSION, cfg->milter_socket);
    status_file_start(cfg, ledger);

    for (time_t next = time(NULL) + 60;;) {
        int stop;

        if (!got_hup && !got_stop)
            wait_wakeup(1000);
        if (atomic_load(&milter_thread_done))
            break;
        status_file_tick(ledger, false);
        /* New keys (postmeter dkim keygen/rotate) and tracking rules: within a minute. */
        if (time(NULL) >= next) {
            next = time(NULL) + 60;
            sign_stage_refresh(running, false);
            track_stage_refresh(running, false);
        }
        if ((stop = got_stop) != 0) {
            info("stopping on signal %d", stop);
            engine_stop(run.engine);
            break;
        }
        if (got_hup) {
            struct milter_cfg *mc;

            got_hup = 0;
            reload(path, running);
            mc = milter_cfg_acquire();
            running = mc->c; /* stays alive: current config holds a reference */
            engine_set_limits(run.engine, running->milter_max_connections,
                              (size_t)running->milter_max_buffer_mb << 20);
            milter_cfg_release(mc);
            sign_stage_refresh(running, true);
            track_stage_refresh(running, true);
            status_file_tick(ledger, true);
        }
    }
    pthread_join(tid, NULL);
    engine_close(run.engine, 10);
    auth_stage_setup(NULL);
    sign_stage_setup(NULL);
    sign_stage_teardown();
    track_stage_teardown();
    dkims_close(signer);
    inbound_close(inbound);
    dns_close(dns);
    milter_teardown();
    ledger = ledger_stop_stats(ledger, 10000, &st); /* counts what the stop dropped too */
    /* written counts rows stored, replayed ones too: a record spooled and
       replayed in this run is in written and in spooled, and in replayed. */
    info("stopped: %llu record(s) in, %llu written, %llu spooled, %llu dropped, %llu kept in the "
         "journal, %llu replayed from the spool",
         (unsigned long long)st.put, (unsigned long long)(st.written + st.replayed),
         (unsigned long long)st.spooled, (unsigned long long)st.dropped,
         (unsigned long long)st.journal_kept, (unsigned long long)st.replayed);
    info("ledger: answers waited for %llu record(s): median %llu us, p99 %llu us; %llu "
         "journaled, %llu self-spooled, %llu only in memory",
         (unsigned long long)st.waits, (unsigned long long)ledger_wait_percentile(&st, 50),
         (unsigned long long)ledger_wait_percentile(&st, 99), (unsigned long long)st.journaled,
         (unsigned long long)st.self_spooled, (unsigned long long)st.unsafe);
    status_file_stop(&st);
    daemon_remove_pidfile(pid_file);
    free(pid_file);
    free(spool);
    free(user.name);
    return 0;
}
