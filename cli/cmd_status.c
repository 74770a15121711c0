/*
 * cmd_status.c - postmeter status [--format text|json]: one screen on
 * postmeter-milter and its ledger, exit 0 when healthy and 1 when not
 * (for monitoring).
 *
 * Errors (exit 1): the milter is not running or does not answer an
 * option negotiation on its socket within a second; the database cannot
 * be read; records were dropped since the milter started; its last
 * attempt at the database failed; the spool holds a backlog that is not
 * shrinking (the database cannot be written, or the file grew in the last
 * 10 s). Warnings (exit 0): a configuration file changed since the
 * milter read it (reload pending), a reload refused, no or a stale status
 * file, records the database refused, answers given with records only in
 * memory, a spool being replayed, a domain with keys but none active, a
 * pid file that names no live milter. What was gathered (status_info.c)
 * is judged here, then printed; the JSON field names are documented in
 * postmeter(1).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "output.h"
#include "status.h"
#include "usage.h"
#include "timeutil.h"
#include "util.h"

#define MAX_PROBLEMS 24

/* What is wrong, worst first within each list. */
struct verdict {
    char *errors[MAX_PROBLEMS], *warnings[MAX_PROBLEMS];
    size_t nerrors, nwarnings;
};

/* add - one problem (printf-style) to list[*n] */
__attribute__((format(printf, 3, 4))) static void add(char **list, size_t *n, const char *fmt, ...)
{
    va_list ap;
    char line[1024];

    if (*n >= MAX_PROBLEMS)
        return;
    va_start(ap, fmt);
    vsnprintf_cut(line, sizeof(line), fmt, ap);
    va_end(ap);
    list[(*n)++] = xstrdup(line);
}

#define ERROR(v, ...) add((v)->errors, &(v)->nerrors, __VA_ARGS__)
#define WARN(v, ...)  add((v)->warnings, &(v)->nwarnings, __VA_ARGS__)

/* judge_milter - the process, its socket and its configuration */
static void judge_milter(const struct status_info *si, struct verdict *v)
{
    const struct status_file *sf = &si->sf;
    long long now = (long long)time(NULL);

    if (!si->running)
        ERROR(v, "postmeter-milter is not running (%s does not answer: %s)", si->socket,
              si->probe_why);
    else if (!si->answering)
        ERROR(v, "postmeter-milter (pid %lld) does not answer on %s: %s", si->pid, si->socket,
              si->probe_why); /* running without answering: a pid is known */
    if (si->pid_why[0])
        WARN(v, "pid file: %s", si->pid_why);
    if (sf->why[0])
        WARN(v, "status file: %s", sf->why);
    if (!si->running)
        return;
    if (!sf->present || sf->stopped_at != 0)
        WARN(v,
             "no status file %s from the running postmeter-milter (an older milter, or one "
             "with another database): its counters are unknown",
             si->status_path);
    else if (now - sf->updated_at > STATUS_STALE_S || sf->updated_at > now + STATUS_STALE_S)
        WARN(v, "the status file was last written %lld s ago (every 10 s while the milter runs)",
             now - sf->updated_at);
    if (si->reload_pending)
        WARN(v, "%s changed after postmeter-milter read it: reload it (SIGHUP) to apply",
             si->config_file);
    if (sf->present && sf->stopped_at == 0 && sf->reload_failed_at != 0)
        WARN(v,
             "the last reload was refused (errors in %s; postmeter-milter -t shows them): "
             "still running the configuration read before",
             si->config_file);
}

/* judge_ledger - the database, the counters, the spool */
static void judge_ledger(const struct config *c, const struct status_info *si, struct verdict *v)
{
    const struct status_file *sf = &si->sf;
    bool live = si->running && sf->present && sf->stopped_at == 0 && sf->have_ledger;

    if (!si->db_readable)
        ERROR(v, "database %s cannot be read: %s", c->database, si->db_why);
    if (live && sf->dropped > 0)
        ERROR(v,
              "%lld ledger record(s) dropped since postmeter-milter started (queue and spool "
              "full or unwritable)",
              sf->dropped);
    if (live && !sf->db_ok)
        ERROR(v, "postmeter-milter's last attempt to write the database failed: records wait "
                 "in memory and in the spool");
    /*
     * The spool file is emptied only once all of it is replayed, so its
     * size does not fall while it drains: a backlog with the database
     * writable and the file no bigger than 10 s before is being replayed.
     */
    if (live && sf->spool_bytes > 0) {
        if (sf->db_ok && sf->spool_bytes_before >= 0 && sf->spool_bytes <= sf->spool_bytes_before)
            WARN(v, "spool backlog of %lld bytes, being replayed into the database",
                 sf->spool_bytes);
        else
            ERROR(v, "spool backlog of %lld bytes is not shrinking (%s)", sf->spool_bytes,
                  !sf->db_ok ? "the database cannot be written" : "it grew in the last 10 s");
    } else if (!live && si->spool_bytes > 0) {
        WARN(v, "the spool %s holds %lld bytes for the database", si->spool_path, si->spool_bytes);
    }
    if (live && sf->rejected > 0)
        WARN(v, "%lld record(s) refused by the database since start (kept in %s.rejected)",
             sf->rejected, si->spool_path);
    if (live && sf->unsafe > 0)
        WARN(v, "%lld answer(s) given while the record was only in memory (spool unwritable)",
             sf->unsafe);
    for (size_t i = 0; i < si->ndomains; i++)
        if (si->domains[i].nactive == 0)
            WARN(v, "%s has DKIM keys but none active: its mail goes out unsigned",
                 si->domains[i].domain);
}

/* iso - t as ISO 8601 UTC into out, "never" for 0 */
static const char *iso(long long t, char out[TIME_ISO_LEN])
{
    if (t <= 0)
        return "never";
    return time_format_iso((int64_t)t, out);
}

/* lltoa - n in decimal into out[TIME_ISO_LEN] (wide enough for any long long) */
static const char *lltoa(long long n, char out[TIME_ISO_LEN])
{
    if (!snprintf_ok(out, TIME_ISO_LEN, "%lld", n))
        bug("lltoa: %lld does not fit", n);
    return out;
}

/* text - s cleaned for the terminal, in b (valid until b is used again: one per printf) */
static const char *text(struct buf *b, const char *s)
{
    buf_reset(b);
    out_text(b, s ? s : "");
    return buf_cstr(b);
}

/* print_keys - the DKIM keys per domain, as text */
static void print_keys(const struct status_info *si, struct buf *t)
{
    char when[TIME_ISO_LEN];

    if (si->ndomains == 0)
        printf("DKIM keys: none (postmeter dkim keygen DOMAIN makes one)\n");
    else
        printf("DKIM keys (no rotation schedule: postmeter dkim rotate when you choose):\n");
    for (size_t i = 0; i < si->ndomains; i++) {
        const struct status_domain *d = &si->domains[i];

        printf("  %s:", text(t, d->domain));
        for (size_t j = 0; j < d->nactive; j++)
            printf(" active %s (%s, %u bits, since %s)", text(t, d->active[j]->selector),
                   store_dkim_alg_name(d->active[j]->algorithm), d->active[j]->bits,
                   iso(d->active[j]->activated_at, when));
        for (size_t j = 0; j < d->npending; j++)
            printf(" pending %s (%s, made %s)", text(t, d->pending[j]->selector),
                   store_dkim_alg_name(d->pending[j]->algorithm),
                   iso(d->pending[j]->created_at, when));
        if (d->nretired)
            printf(" %zu retired", d->nretired);
        printf("\n");
    }
}

/* print_text - the one screen */
static void print_text(const struct config *c, const struct status_info *si,
                       const struct verdict *v)
{
    const struct status_file *sf = &si->sf;
    bool live = si->running && sf->present && sf->stopped_at == 0;
    char a[TIME_ISO_LEN], b[TIME_ISO_LEN];
    struct buf t = BUF_INIT;

    if (si->running)
        printf("postmeter-milter: running%s, pid %s, since %s\n",
               si->answering ? " and answering" : " (NOT answering)",
               si->pid ? lltoa(si->pid, b) : "unknown", live ? iso(sf->started_at, a) : "unknown");
    else
        printf("postmeter-milter: NOT running%s%s\n", sf->stopped_at ? ", stopped " : "",
               sf->stopped_at ? iso(sf->stopped_at, a) : "");
    printf("  socket %s: ", text(&t, si->socket));
    printf("%s\n", si->answering ? "answers the milter negotiation" : text(&t, si->probe_why));
    if (live)
        printf("  configuration %s, read %s%s\n", text(&t, si->config_file),
               iso(sf->config_loaded_at, a),
               si->reload_pending ? "; changed since: reload pending" : "");
    else
        printf("  configuration %s\n", si->config_file ? text(&t, si->config_file) : "(defaults)");
    print_keys(si, &t);
    printf("tracking: %s; %lld rule(s), %lld enabled\n",
           c->tracking_base_url[0] ? "on" : "off (no tracking_base_url)", si->rules,
           si->rules_enabled);
    printf("ledger %s:\n", text(&t, c->database));
    if (si->db_readable)
        printf("  rows today: %lld (since %s), last row %s, size %lld bytes\n",
               (long long)si->rows_today, iso(si->today_since, a),
               iso((long long)si->last_row_at, b), si->db_bytes);
    else
        printf("  cannot be read: %s\n", text(&t, si->db_why));
    printf("  spool %s: %lld bytes", text(&t, si->spool_path), si->spool_bytes);
    if (si->spool_records >= 0)
        printf(", %lld record(s)", si->spool_records);
    printf("\n");
    if (live && sf->have_ledger)
        printf("  since start: %lld in, %lld written, %lld spooled, %lld replayed, %lld dropped, "
               "%lld rejected, %lld queued now\n",
               sf->put, sf->written, sf->spooled, sf->replayed, sf->dropped, sf->rejected,
               sf->queued);
    for (size_t i = 0; i < v->nerrors; i++)
        printf("error: %s\n", text(&t, v->errors[i]));
    for (size_t i = 0; i < v->nwarnings; i++)
        printf("warning: %s\n", text(&t, v->warnings[i]));
    printf("status: %s\n", v->nerrors ? "FAILING" : "OK");
    buf_free(&t);
}

/* j_str - "key": s (null for NULL) into b */
static void j_str(struct buf *b, const char *key, const char *s)
{
    buf_printf(b, "\"%s\": ", key);
    out_json_str(b, s);
}

/* j_int - "key": n, null if n < 0 and null_if_negative */
static void j_int(struct buf *b, const char *key, long long n, bool null_if_negative)
{
    if (null_if_negative && n < 0)
        buf_printf(b, "\"%s\": null", key);
    else
        buf_printf(b, "\"%s\": %lld", key, n);
}

/* j_time - "key": t as ISO 8601 UTC, null for 0 */
static void j_time(struct buf *b, const char *key, long long t)
{
    char iso_buf[TIME_ISO_LEN];

    j_str(b, key, t > 0 ? time_format_iso((int64_t)t, iso_buf) : NULL);
}

/* j_bool - "key": true|false */
static void j_bool(struct buf *b, const char *key, bool v)
{
    buf_printf(b, "\"%s\": %s", key, v ? "true" : "false");
}

/* j_list - "key": [the strings l[0..n)] */
static void j_list(struct buf *b, const char *key, char *const *l, size_t n)
{
    buf_printf(b, "\"%s\": [", key);
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, i ? ", " : "");
        out_json_str(b, l[i]);
    }
    buf_puts(b, "]");
}

/* json_keys - "dkim": the keys per domain */
static void json_keys(struct buf *b, const struct status_info *si)
{
    buf_puts(b, ",\n  \"dkim\": {\"rotation_schedule\": null, \"domains\": [");
    for (size_t i = 0; i < si->ndomains; i++) {
        const struct status_domain *d = &si->domains[i];

        buf_puts(b, i ? ",\n    {" : "\n    {");
        j_str(b, "domain", d->domain);
        for (int pass = 0; pass < 2; pass++) {
            const struct store_dkim_key *const *k = pass ? d->pending : d->active;
            size_t n = pass ? d->npending : d->nactive;

            buf_printf(b, ", \"%s\": [", pass ? "pending" : "active");
            for (size_t j = 0; j < n; j++) {
                buf_puts(b, j ? ", {" : "{");
                j_str(b, "selector", k[j]->selector);
                buf_puts(b, ", ");
                j_str(b, "algorithm", store_dkim_alg_name(k[j]->algorithm));
                buf_printf(b, ", \"bits\": %u, ", k[j]->bits);
                j_time(b, "created_at", k[j]->created_at);
                buf_puts(b, ", ");
                j_time(b, "activated_at", k[j]->activated_at);
                buf_puts(b, "}");
            }
            buf_puts(b, "]");
        }
        buf_printf(b, ", \"retired\": %zu, \"next_rotation\": null}", d->nretired);
    }
    buf_puts(b, si->ndomains ? "\n  ]}" : "]}");
}

/* print_json - the same as one JSON object (field names: postmeter(1)) */
static void print_json(const struct config *c, const struct status_info *si,
                       const struct verdict *v)
{
    const struct status_file *sf = &si->sf;
    bool live = si->running && sf->present && sf->stopped_at == 0;
    struct buf b = BUF_INIT;

    buf_puts(&b, "{\n  ");
    j_bool(&b, "healthy", v->nerrors == 0);
    buf_puts(&b, ",\n  ");
    j_list(&b, "errors", v->errors, v->nerrors);
    buf_puts(&b, ",\n  ");
    j_list(&b, "warnings", v->warnings, v->nwarnings);
    buf_puts(&b, ",\n  \"milter\": {");
    j_bool(&b, "running", si->running);
    buf_puts(&b, ", ");
    j_int(&b, "pid", si->pid ? si->pid : -1, true);
    buf_puts(&b, ", ");
    j_str(&b, "pid_source", si->pid_source);
    buf_puts(&b, ", ");
    j_bool(&b, "answering", si->answering);
    buf_puts(&b, ", ");
    j_str(&b, "socket", si->socket);
    buf_puts(&b, ", ");
    j_str(&b, "version", sf->present ? sf->version : NULL);
    buf_puts(&b, ", ");
    j_time(&b, "started_at", sf->present ? sf->started_at : 0);
    buf_puts(&b, ", ");
    j_time(&b, "stopped_at", sf->present ? sf->stopped_at : 0);
    buf_puts(&b, ", ");
    j_str(&b, "status_file", si->status_path);
    buf_puts(&b, ", ");
    j_time(&b, "status_updated_at", sf->present ? sf->updated_at : 0);
    buf_puts(&b, "},\n  \"config\": {");
    j_str(&b, "file", si->config_file);
    buf_puts(&b, ", ");
    j_time(&b, "loaded_at", live ? sf->config_loaded_at : 0);
    buf_puts(&b, ", ");
    j_time(&b, "modified_at", si->config_mtime_ns >= 0 ? si->config_mtime_ns / 1000000000LL : 0);
    buf_puts(&b, ", ");
    j_bool(&b, "reload_pending", si->reload_pending);
    buf_puts(&b, ", ");
    j_time(&b, "reload_failed_at", live ? sf->reload_failed_at : 0);
    buf_puts(&b, "}");
    json_keys(&b, si);
    buf_puts(&b, ",\n  \"tracking\": {");
    j_bool(&b, "enabled", c->tracking_base_url[0] != '\0');
    buf_puts(&b, ", ");
    j_int(&b, "rules", si->db_readable ? si->rules : -1, true);
    buf_puts(&b, ", ");
    j_int(&b, "rules_enabled", si->db_readable ? si->rules_enabled : -1, true);
    buf_puts(&b, "},\n  \"ledger\": {");
    j_str(&b, "database", c->database);
    buf_puts(&b, ", ");
    j_bool(&b, "readable", si->db_readable);
    buf_puts(&b, ", ");
    j_str(&b, "error", si->db_readable ? NULL : si->db_why);
    buf_puts(&b, ", ");
    j_int(&b, "database_bytes", si->db_bytes, true);
    buf_puts(&b, ",\n    ");
    j_int(&b, "rows_today", si->db_readable ? si->rows_today : -1, true);
    buf_puts(&b, ", ");
    j_time(&b, "today_since", si->today_since);
    buf_puts(&b, ", ");
    j_time(&b, "last_row_at", si->db_readable ? si->last_row_at : 0);
    buf_puts(&b, ",\n    ");
    j_str(&b, "spool", si->spool_path);
    buf_puts(&b, ", ");
    j_int(&b, "spool_bytes", si->spool_bytes, true);
    buf_puts(&b, ", ");
    j_int(&b, "spool_records", si->spool_records, true);
    buf_puts(&b, ",\n    \"since_start\": ");
    if (live && sf->have_ledger)
        buf_printf(&b,
                   "{\"put\": %lld, \"written\": %lld, \"replayed\": %lld, \"spooled\": %lld, "
                   "\"dropped\": %lld, \"rejected\": %lld, \"self_spooled\": %lld, \"unsafe\": "
                   "%lld, \"queued\": %lld, \"spool_bytes\": %lld, \"db_ok\": %s}",
                   sf->put, sf->written, sf->replayed, sf->spooled, sf->dropped, sf->rejected,
                   sf->self_spooled, sf->unsafe, sf->queued, sf->spool_bytes,
                   sf->db_ok ? "true" : "false");
    else
        buf_puts(&b, "null");
    buf_puts(&b, "}\n}\n");
    fputs(buf_cstr(&b), stdout);
    buf_free(&b);
}

/* cmd_status - postmeter status [--format text|json] */
int cmd_status(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'F'},
                                         {NULL, 0, NULL, 0}};
    struct status_info si;
    struct verdict v = {0};
    bool json = false;
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (ch == 'F' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0)) {
            json = strcmp(optarg, "json") == 0;
            continue;
        }
        if (ch == 'F')
            return cli_usage("--format: '%s' is not text or json", optarg);
        return cli_bad_option(ch, argv);
    }
    if (optind != argc)
        return cli_usage("unexpected '%s'", argv[optind]);
    status_gather(c, &si);
    judge_milter(&si, &v);
    judge_ledger(c, &si, &v);
    if (json)
        print_json(c, &si, &v);
    else
        print_text(c, &si, &v);
    status_info_free(&si);
    for (size_t i = 0; i < v.nerrors; i++)
        free(v.errors[i]);
    for (size_t i = 0; i < v.nwarnings; i++)
        free(v.warnings[i]);
    return v.nerrors ? CLI_FAIL : CLI_OK;
}
