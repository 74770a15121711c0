/*
 * status_info.c - what postmeter status looks at, gathered: the milter's
 * status file (milter/status_file.h) and pid file, its socket, its
 * configuration file's time, the database (read-only) and the spool.
 *
 * Reads files the service user writes (the status file, the spool):
 * each is opened without following a link and without waiting on a FIFO
 * (safefile_read), read up to a bound, parsed line by line. Must never
 * write anything, and never exit: every problem ends up in the info for
 * cmd_status.c to judge.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger_msg.h"
#include "safefile.h"
#include "status.h"
#include "timeutil.h"
#include "util.h"

#define STATUS_FILE_MAX 16384 /* bytes of a status file read at most */

/* read_small - the whole plain file path (at most max bytes, NUL-terminated); NULL with why */
static char *read_small(const char *path, size_t max, size_t *len, char *why, size_t whylen)
{
    const char *base = NULL;
    int dfd = safefile_walk(path, SAFEFILE_PARENT, &base, why, whylen);
    size_t size;
    unsigned char *p;
    int saved;

    *len = 0;
    if (dfd < 0)
        return NULL;
    p = safefile_read(dfd, base, path, max, len, &size, why, whylen);
    saved = errno;
    close(dfd);
    errno = saved;
    return (char *)p;
}

/* Numeric keys of the status file and where they go. */
static const struct {
    const char *name;
    size_t off;
    bool ledger;
} num_keys[] = {
#define NK(n, f, l)                                                                                \
    {                                                                                              \
        n, offsetof(struct status_file, f), l                                                      \
    }
    NK("format", format, false),
    NK("pid", pid, false),
    NK("started_at", started_at, false),
    NK("updated_at", updated_at, false),
    NK("stopped_at", stopped_at, false),
    NK("config_loaded_at", config_loaded_at, false),
    NK("config_mtime_ns", config_mtime_ns, false),
    NK("reload_failed_at", reload_failed_at, false),
    NK("ledger_put", put, true),
    NK("ledger_written", written, true),
    NK("ledger_replayed", replayed, true),
    NK("ledger_spooled", spooled, true),
    NK("ledger_dropped", dropped, true),
    NK("ledger_rejected", rejected, true),
    NK("ledger_self_spooled", self_spooled, true),
    NK("ledger_unsafe", unsafe, true),
    NK("ledger_queued", queued, true),
    NK("ledger_spool_bytes", spool_bytes, true),
    NK("ledger_spool_bytes_before", spool_bytes_before, true),
    NK("ledger_db_ok", db_ok, true),
#undef NK
};

/* status_line - one "key = value" line of the status file into sf; unknown keys are skipped */
static void status_line(struct status_file *sf, char *line)
{
    char *eq = strchr(line, '='), *key, *value, *end;
    long long v;

    if (line[0] == '#' || eq == NULL)
        return;
    *eq = '\0';
    key = str_trim(line);
    value = str_trim(eq + 1);
    if (strcmp(key, "version") == 0 || strcmp(key, "milter_socket") == 0 ||
        strcmp(key, "config_file") == 0) {
        char *dst = key[0] == 'v' ? sf->version : key[0] == 'm' ? sf->socket : sf->config_file;
        size_t n = key[0] == 'v'   ? sizeof(sf->version)
                   : key[0] == 'm' ? sizeof(sf->socket)
                                   : sizeof(sf->config_file);

        if (!strlcpy_ok(dst, value, n))
            dst[0] = '\0';
        return;
    }
    errno = 0;
    v = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0')
        return;
    if (v < 0 || v > LLONG_MAX / 2) { /* no count or time the milter writes; keeps sums safe */
        if (!snprintf_ok(sf->why, sizeof(sf->why), "%.64s out of range: ignored", key))
            sf->why[0] = '\0';
        return;
    }
    for (size_t i = 0; i < sizeof(num_keys) / sizeof(num_keys[0]); i++) {
        if (strcmp(key, num_keys[i].name) == 0) {
            *(long long *)((char *)sf + num_keys[i].off) = v;
            if (num_keys[i].ledger)
                sf->have_ledger = true;
        }
    }
}

/* read_status_file - path into sf (sf->present false if absent or unreadable) */
static void read_status_file(const char *path, struct status_file *sf)
{
    size_t len;
    char *data = read_small(path, STATUS_FILE_MAX, &len, sf->why, sizeof(sf->why)), *save = NULL;

    sf->spool_bytes_before = -1;
    if (data == NULL) {
        if (errno == ENOENT)
            sf->why[0] = '\0';
        return;
    }
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        status_line(sf, l);
    free(data);
    sf->present = sf->format >= 1 && sf->pid > 0;
    if (!sf->present)
        snprintf_cut(sf->why, sizeof(sf->why), "%s: not a postmeter-milter status file", path);
}

/* alive - is pid a live process (that, where /proc says, is postmeter-milter)? */
static bool alive(long long pid)
{
    char path[64], comm[32] = "";
    FILE *fp;

    if (pid <= 0 || pid > INT_MAX || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
        return false;
    if (!snprintf_ok(path, sizeof(path), "/proc/%lld/comm", pid) || !(fp = fopen(path, "r")))
        return true; /* no /proc to ask: the pid is enough */
    if (fgets(comm, sizeof(comm), fp) == NULL)
        comm[0] = '\0';
    fclose(fp);
    return comm[0] == '\0' || strncmp(comm, "postmeter-milt", 14) == 0; /* comm: 15 chars */
}

/* find_milter - its pid (pid file, else status file), whether it lives, whether it answers */
static void find_milter(const struct config *c, struct status_info *si)
{
    if (c->pid_file[0]) {
        size_t len;
        char *data = read_small(c->pid_file, 64, &len, si->pid_why, sizeof(si->pid_why));
        long long pid = data ? strtoll(data, NULL, 10) : 0;

        free(data);
        if (pid > 0 && alive(pid)) {
            si->pid = pid;
            si->pid_source = "pid_file";
        } else if (data != NULL) {
            snprintf_cut(si->pid_why, sizeof(si->pid_why), "%s: no postmeter-milter with pid %lld",
                         c->pid_file, pid);
        }
    }
    if (si->pid == 0 && si->sf.present && si->sf.stopped_at == 0 && alive(si->sf.pid)) {
        si->pid = si->sf.pid;
        si->pid_source = "status_file";
    }
    si->socket = si->sf.present && si->sf.socket[0] ? si->sf.socket : c->milter_socket;
    si->answering = status_probe(si->socket, STATUS_PROBE_MS, &si->probe_ms, si->probe_why,
                                 sizeof(si->probe_why));
    si->running = si->pid != 0 || si->answering;
}

/* config_time - the milter's configuration file and its modification time now */
static void config_time(const struct config *c, struct status_info *si)
{
    struct stat st;

    si->config_file = si->sf.present && si->sf.config_file[0] ? si->sf.config_file : c->path;
    si->config_mtime_ns = -1;
    if (si->config_file && stat(si->config_file, &st) == 0)
        si->config_mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    si->reload_pending = si->running && si->sf.present && si->sf.stopped_at == 0 &&
                         si->config_mtime_ns >= 0 && si->config_mtime_ns != si->sf.config_mtime_ns;
}

/* local_midnight - the start of today, local time */
static long long local_midnight(void)
{
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (long long)mktime(&tm);
}

/* count_rule - count a tracking rule */
static int count_rule(const struct store_track_rule *r, void *arg)
{
    struct status_info *si = arg;

    si->rules++;
    if (r->enabled)
        si->rules_enabled++;
    return 0;
}

/* group_keys - si->keys (ordered by domain, then active, pending, retired) per domain */
static void group_keys(struct status_info *si)
{
    for (size_t i = 0; i < si->keys.n; i++) {
        const struct store_dkim_key *k = &si->keys.k[i];
        struct status_domain *d = si->ndomains ? &si->domains[si->ndomains - 1] : NULL;

        if (d == NULL || strcmp(d->domain, k->domain) != 0) {
            si->domains = xrealloc(si->domains, (si->ndomains + 1) * sizeof(*si->domains));
            d = &si->domains[si->ndomains++];
            memset(d, 0, sizeof(*d));
            d->domain = xstrdup(k->domain);
        }
        if (k->state == STORE_DKIM_ACTIVE) {
            d->active = xrealloc(d->active, (d->nactive + 1) * sizeof(*d->active));
            d->active[d->nactive++] = k;
        } else if (k->state == STORE_DKIM_PENDING) {
            d->pending = xrealloc(d->pending, (d->npending + 1) * sizeof(*d->pending));
            d->pending[d->npending++] = k;
        } else {
            d->nretired++;
        }
    }
}

/* read_database - rows, keys and rules from the database, read-only */
static void read_database(const struct config *c, struct status_info *si)
{
    char err[512];
    struct store *s = store_open(c->database, STORE_READONLY | STORE_NOCREATE, err, sizeof(err));
    struct stat st;
    int v;

    si->db_bytes = -1;
    if (stat(c->database, &st) == 0) {
        char *wal = xasprintf("%s-wal", c->database);

        si->db_bytes = (long long)st.st_size;
        if (stat(wal, &st) == 0)
            si->db_bytes += (long long)st.st_size;
        free(wal);
    }
    si->today_since = local_midnight();
    if (s == NULL) {
        snprintf_cut(si->db_why, sizeof(si->db_why), "%s", err);
        return;
    }
    v = store_version(s);
    if (v < (int)store_migrations_count) {
        if (v < 0)
            snprintf_cut(si->db_why, sizeof(si->db_why), "%s", store_error(s));
        else
            snprintf_cut(si->db_why, sizeof(si->db_why),
                         "schema version %d, this binary %zu: run 'postmeter db migrate'", v,
                         store_migrations_count);
        store_close(s);
        return;
    }
    if (store_ledger_summary(s, si->today_since, &si->rows_today, &si->last_row_at) != STORE_OK ||
        store_list_track_rules(s, count_rule, si) != STORE_OK ||
        !cli_dkim_keys(c, s, NULL, &si->keys)) {
        snprintf_cut(si->db_why, sizeof(si->db_why), "%s", store_error(s));
        store_close(s);
        return;
    }
    store_close(s);
    si->db_readable = true;
    group_keys(si);
}

/*
 * read_spool - the spool file's size, and its records if it is at most
 * STATUS_COUNT_MAX_MB (each decoded: the format has no cheaper count)
 */
static void read_spool(const struct config *c, struct status_info *si)
{
    struct stat st;
    char why[256];
    size_t len, used;
    char *data;

    si->spool_path = config_spool_path(c);
    si->spool_bytes = si->spool_records = -1;
    if (stat(si->spool_path, &st) != 0) {
        if (errno == ENOENT)
            si->spool_bytes = si->spool_records = 0;
        return;
    }
    si->spool_bytes = (long long)st.st_size;
    if (st.st_size == 0) {
        si->spool_records = 0;
        return;
    }
    if (st.st_size > (off_t)STATUS_COUNT_MAX_MB << 20 ||
        (data = read_small(si->spool_path, (size_t)STATUS_COUNT_MAX_MB << 20, &len, why,
                           sizeof(why))) == NULL)
        return;
    si->spool_records = 0;
    for (size_t at = 0; at < len; at += used) {
        struct ledger_msg *m = ledger_msg_decode(data + at, len - at, &used);

        if (m != NULL)
            si->spool_records++;
        ledger_msg_free(m);
        if (used == 0)
            break; /* a torn last record */
    }
    free(data);
}

/* status_gather - everything postmeter status shows */
void status_gather(const struct config *c, struct status_info *si)
{
    memset(si, 0, sizeof(*si));
    si->status_path = xasprintf("%s%s", c->database, STATUS_FILE_SUFFIX);
    read_status_file(si->status_path, &si->sf);
    find_milter(c, si);
    config_time(c, si);
    read_database(c, si);
    read_spool(c, si);
}

/* status_info_free - free what status_gather() filled in */
void status_info_free(struct status_info *si)
{
    for (size_t i = 0; i < si->ndomains; i++) {
        free(si->domains[i].domain);
        free(si->domains[i].active);
        free(si->domains[i].pending);
    }
    free(si->domains);
    cli_dkim_keys_free(&si->keys);
    free(si->status_path);
    free(si->spool_path);
    memset(si, 0, sizeof(*si));
}
