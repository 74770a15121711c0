/*
 * status_file.c - postmeter-milter's DATABASE.milter-status (see
 * status_file.h): what only the running milter knows, for "postmeter
 * status".
 *
 * Written as the service user, in the database's directory (that user's):
 * a new file beside it, renamed over it (safefile_replace), so a reader
 * never sees half a file. Holds counters, times and names only: never a
 * message, an address or a key.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "safefile.h"
#include "status_file.h"
#include "util.h"

static struct {
    char *path;              /* DATABASE.milter-status; NULL until status_file_start() */
    char *config_file;       /* absolute */
    char *socket;            /* milter_socket */
    long long started_at;    /* time of status_file_start() */
    long long loaded_at;     /* config_file last read without errors */
    long long mtime_ns;      /* its mtime then */
    long long seen_mtime_ns; /* its mtime at the last status_file_config_stat() */
    long long failed_at;     /* last reload refused, 0 = none since the last good one */
    long long next;          /* next periodic write */
    long long spool_before;  /* spool size at the previous write, -1 none */
    bool warned;             /* the last write failed and was warned about */
} sf = {.spool_before = -1};

/* mtime_ns - path's modification time in nanoseconds, -1 if it cannot be read */
static long long mtime_ns(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

/* status_file_config_stat - the configuration file's mtime before it is read */
void status_file_config_stat(const char *path)
{
    if (sf.config_file == NULL) {
        char *abs = realpath(path, NULL);

        sf.config_file = abs ? abs : xstrdup(path);
    }
    sf.seen_mtime_ns = mtime_ns(sf.config_file);
}

/* status_file_config_read - the file noted was read (ok) or refused */
void status_file_config_read(bool ok)
{
    if (ok) {
        sf.loaded_at = (long long)time(NULL);
        sf.mtime_ns = sf.seen_mtime_ns;
        sf.failed_at = 0;
    } else {
        sf.failed_at = (long long)time(NULL);
    }
}

/* put - one "key = value" line of a number */
static void put(struct buf *b, const char *key, long long v)
{
    buf_printf(b, "%s = %lld\n", key, v);
}

/* write_file - the file with the counters st (NULL: none known), stopped at stopped_at */
static void write_file(const struct ledger_stats *st, long long stopped_at)
{
    struct buf b = BUF_INIT;
    char err[512];
    long long now = (long long)time(NULL);

    buf_puts(&b, "# postmeter-milter status, rewritten every 10 s; read by \"postmeter status\"\n");
    put(&b, "format", 1);
    buf_printf(&b, "version = %s\n", POSTMETER_VERSION);
    put(&b, "pid", (long long)getpid());
    put(&b, "started_at", sf.started_at);
    put(&b, "updated_at", now);
    put(&b, "stopped_at", stopped_at);
    buf_printf(&b, "milter_socket = %s\n", sf.socket);
    buf_printf(&b, "config_file = %s\n", sf.config_file ? sf.config_file : "");
    put(&b, "config_loaded_at", sf.loaded_at);
    put(&b, "config_mtime_ns", sf.mtime_ns);
    put(&b, "reload_failed_at", sf.failed_at);
    if (st != NULL) {
        put(&b, "ledger_put", (long long)st->put);
        put(&b, "ledger_written", (long long)st->written);
        put(&b, "ledger_replayed", (long long)st->replayed);
        put(&b, "ledger_spooled", (long long)st->spooled);
        put(&b, "ledger_dropped", (long long)st->dropped);
        put(&b, "ledger_rejected", (long long)st->rejected);
        put(&b, "ledger_self_spooled", (long long)st->self_spooled);
        put(&b, "ledger_unsafe", (long long)st->unsafe);
        put(&b, "ledger_queued", (long long)st->queued);
        put(&b, "ledger_spool_bytes", (long long)st->spool_bytes);
        put(&b, "ledger_spool_bytes_before", sf.spool_before);
        put(&b, "ledger_db_ok", st->db_ok ? 1 : 0);
        sf.spool_before = (long long)st->spool_bytes;
    }
    if (!safefile_replace(sf.path, b.data, b.len, 0640, err, sizeof(err))) {
        if (!sf.warned)
            warn("status file: %s (postmeter status will not see this milter's counters)", err);
        sf.warned = true;
    } else {
        sf.warned = false;
    }
    buf_free(&b);
}

/* status_file_start - from now on, DATABASE.milter-status */
void status_file_start(const struct config *c, struct ledger *l)
{
    sf.path = xasprintf("%s%s", c->database, STATUS_FILE_SUFFIX);
    sf.socket = xstrdup(c->milter_socket);
    sf.started_at = (long long)time(NULL);
    status_file_config_read(true);
    status_file_tick(l, true);
}

/* status_file_tick - every STATUS_FILE_PERIOD seconds, or now */
void status_file_tick(struct ledger *l, bool now)
{
    struct ledger_stats st;
    long long t = (long long)time(NULL);

    if (sf.path == NULL || (!now && t < sf.next))
        return;
    sf.next = t + STATUS_FILE_PERIOD;
    ledger_get_stats(l, &st);
    write_file(&st, 0);
}

/* status_file_stop - the last write, then free everything */
void status_file_stop(const struct ledger_stats *st)
{
    if (sf.path != NULL)
        write_file(st, (long long)time(NULL));
    sf.path = xfree(sf.path);
    sf.socket = xfree(sf.socket);
    sf.config_file = xfree(sf.config_file);
}
