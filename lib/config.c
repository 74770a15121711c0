/*
 * config.c - postmeter.conf through one table shared by every binary.
 *
 * Each key has a name, a type, a default (written as text and parsed by
 * the same code as the file, so defaults can never be of the wrong type),
 * bounds and one doc line. The file is "key = value" lines; a '#' that
 * starts a word starts a comment that runs to the end of the line
 * (strip_comment). Problems are collected as
 * "FILE:LINE: message" lines; a config with any problem is not returned.
 * This file must never log or print secrets.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_check.h"
#include "log.h"
#include "track.h"
#include "util.h"

enum cfg_type { CFG_STRING, CFG_BOOL, CFG_UINT, CFG_MODE, CFG_LIST, CFG_NETS, CFG_ENUM };

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t offset;              /* field in struct config */
    const char *def;            /* default, as it would be written in the file */
    unsigned long min, max;     /* CFG_UINT bounds */
    const char *const *choices; /* CFG_ENUM values, index = stored int */
    bool (*check)(const char *value, struct buf *why); /* extra check, optional */
    const char *doc;
};

static const char *const on_error_choices[] = {"accept", "tempfail", NULL};
static const char *const enforce_choices[] = {"none", "quarantine", "reject", NULL};
static const char *const quarantine_choices[] = {"hold", "header", NULL};
static const char *const tracking_mode_choices[] = {"milter", "pipe", NULL};
static const char *const ip_storage_choices[] = {"full", "truncate", "none", NULL};
static const char *const partial_body_choices[] = {"ignore", "count", NULL};
static const char *const bad_from_choices[] = {"reject", "quarantine", NULL};
static const char *const multiple_from_choices[] = {"reject", "quarantine", "evaluate", NULL};

static bool list_item_ok(const char *item, struct buf *why);

#define OFF(f) offsetof(struct config, f)

static const struct cfg_key cfg_keys[] = {
    /* In Postfix's queue directory, whatever our prefix: Debian's chrooted
     * smtpd and cleanup reach it as unix:postmeter/milter.sock. */
    {"milter_socket", CFG_STRING, OFF(milter_socket),
     "unix:/var/spool/postfix/postmeter/milter.sock", 0, 0, NULL, config_check_socket,
     "where postmeter-milter listens: unix:PATH or inet:PORT@ADDR"},
    {"milter_socket_mode", CFG_MODE, OFF(milter_socket_mode), "0660", 0, 0777, NULL, NULL,
     "permissions of a unix: socket"},
    {"milter_socket_group", CFG_STRING, OFF(milter_socket_group), "", 0, 0, NULL, NULL,
     "group of a unix: socket (empty: the primary group of user)"},
    {"user", CFG_STRING, OFF(user), "postmeter", 0, 0, NULL, config_check_nonempty,
     "user the daemons run as after opening their sockets"},
    {"pid_file", CFG_STRING, OFF(pid_file), "", 0, 0, NULL, NULL,
     "file for the daemon's process id (empty: none)"},
    {"milter_timeout", CFG_UINT, OFF(milter_timeout), "300", 1, 3600, NULL, NULL,
     "seconds to wait for the MTA before giving up a connection"},
    {"milter_max_connections", CFG_UINT, OFF(milter_max_connections), "1000", 1, 100000, NULL, NULL,
     "MTA connections served at once; more are closed (the MTA applies milter_default_action)"},
    {"milter_max_buffer_mb", CFG_UINT, OFF(milter_max_buffer_mb), "64", 8, 4096, NULL, NULL,
     "MiB of big milter packets under way buffered across all connections"},
    {"on_internal_error", CFG_ENUM, OFF(on_internal_error), "accept", 0, 0, on_error_choices, NULL,
     "what the milter does with mail when it fails internally: accept or tempfail"},
    {"database", CFG_STRING, OFF(database), POSTMETER_LOCALSTATEDIR "/lib/postmeter/postmeter.db",
     0, 0, NULL, config_check_nonempty, "the ledger database (SQLite file)"},
    {"ledger_spool", CFG_STRING, OFF(ledger_spool), "", 0, 0, NULL, NULL,
     "spool file for ledger rows while the database is unavailable (empty: database.spool)"},
    {"ledger_queue_max", CFG_UINT, OFF(ledger_queue_max), "50000", 100, 10000000, NULL, NULL,
     "ledger rows held in memory before they go to the spool file"},
    {"ledger_queue_mb", CFG_UINT, OFF(ledger_queue_mb), "64", 1, 65536, NULL, NULL,
     "MiB of ledger rows held in memory before they go to the spool file"},
    {"ledger_max_recipients", CFG_UINT, OFF(ledger_max_recipients), "10000", 1, 10000000, NULL,
     NULL, "recipients kept in one message's ledger row (more are counted and logged)"},
    {"ledger_batch_max", CFG_UINT, OFF(ledger_batch_max), "10000", 1, 100000, NULL, NULL,
     "ledger rows committed in one transaction at most"},
    {"ledger_flush_ms", CFG_UINT, OFF(ledger_flush_ms), "50", 1, 60000, NULL, NULL,
     "longest a ledger row waits for its batch, in milliseconds"},
    {"ledger_spool_max_mb", CFG_UINT, OFF(ledger_spool_max_mb), "1024", 1, 1048576, NULL, NULL,
     "size bound of the spool file in MiB (past it rows are dropped and counted)"},
    {"ledger_wait_ms", CFG_UINT, OFF(ledger_wait_ms), "200", 0, 10000, NULL, NULL,
     "longest the answer to a message waits for the writer before the connection spools the "
     "row itself (0: answer at once; a crash loses the rows in memory)"},
    {"ledger_sync", CFG_BOOL, OFF(ledger_sync), "no", 0, 0, NULL, NULL,
     "fsync each ledger commit and spool append before answering (survives power loss)"},
    {"ledger_journal", CFG_BOOL, OFF(ledger_journal), "yes", 0, 0, NULL, NULL,
     "answer once the row is appended to a journal file beside the spool, without waiting "
     "for the writer (not with ledger_sync)"},
    {"ledger_cache_mb", CFG_UINT, OFF(ledger_cache_mb), "32", 2, 4096, NULL, NULL,
     "database page cache of the ledger writer in MiB while busy (big batches; else 2)"},
    {"retention_days", CFG_UINT, OFF(retention_days), "0", 0, 36500, NULL, NULL,
     "postmeter-milter removes ledger, tracking and open rows older than this many days, "
     "once a day (0: keep everything)"},
    {"log_subject", CFG_BOOL, OFF(log_subject), "no", 0, 0, NULL, NULL,
     "store the Subject header in the ledger"},
    {"log_messages", CFG_BOOL, OFF(log_messages), "yes", 0, 0, NULL, NULL,
     "log one line per message: queue id, direction, sender, results, action"},
    {"hostname", CFG_STRING, OFF(hostname), "", 0, 0, NULL, NULL,
     "this host's name in ledger rows (empty: the system host name)"},
    {"authserv_id", CFG_STRING, OFF(authserv_id), "", 0, 0, NULL, NULL,
     "authserv-id of Authentication-Results headers (empty: hostname)"},
    {"trusted_networks", CFG_NETS, OFF(trusted_networks), "127.0.0.0/8, ::1/128", 0, 0, NULL, NULL,
     "clients whose mail is outbound (besides SASL-authenticated ones)"},
    {"dkim_max_signatures", CFG_UINT, OFF(dkim_max_signatures), "5", 1, 50, NULL, NULL,
     "DKIM signatures verified per message at most (more are skipped)"},
    {"dkim_min_key_bits", CFG_UINT, OFF(dkim_min_key_bits), "1024", 512, 4096, NULL, NULL,
     "DKIM signatures made with shorter RSA keys fail"},
    {"dkim_partial_body", CFG_ENUM, OFF(dkim_partial_body), "ignore", 0, 0, partial_body_choices,
     NULL, "a DKIM pass whose body goes on past its l= counts for DMARC (count) or not (ignore)"},
    {"dns_servers", CFG_LIST, OFF(dns_servers), "", 0, 0, NULL, config_check_dns_server,
     "resolvers to forward to, ADDR[@PORT], comma separated (empty: /etc/resolv.conf)"},
    {"dns_timeout_ms", CFG_UINT, OFF(dns_timeout_ms), "5000", 100, 60000, NULL, NULL,
     "how long one DNS lookup may take before it is a temporary error"},
    {"dmarc_enforce", CFG_ENUM, OFF(dmarc_enforce), "reject", 0, 0, enforce_choices, NULL,
     "strongest action for mail failing DMARC: reject (as the policy says), quarantine, none"},
    {"dmarc_quarantine", CFG_ENUM, OFF(dmarc_quarantine), "hold", 0, 0, quarantine_choices, NULL,
     "quarantine as Postfix hold (hold) or by adding an X-Postmeter-Quarantine header (header)"},
    {"on_temperror", CFG_ENUM, OFF(on_temperror), "accept", 0, 0, on_error_choices, NULL,
     "DMARC temperror (DNS trouble): accept the mail, or tempfail so the sender retries"},
    {"dmarc_bad_from", CFG_ENUM, OFF(dmarc_bad_from), "reject", 0, 0, bad_from_choices, NULL,
     "a From DMARC cannot evaluate (malformed, encoded, no address, no From): reject, quarantine"},
    {"dmarc_multiple_from", CFG_ENUM, OFF(dmarc_multiple_from), "reject", 0, 0,
     multiple_from_choices, NULL,
     "several From fields: reject, quarantine, or evaluate every domain in them"},
    {"auth_allow", CFG_LIST, OFF(auth_allow), "", 0, 0, NULL, config_check_net_or_domain,
     "client networks and From domains (with subdomains) whose mail is never refused or held"},
    {"dkim_key_dir", CFG_STRING, OFF(dkim_key_dir), POSTMETER_SYSCONFDIR "/postmeter/keys", 0, 0,
     NULL, config_check_absolute, "directory of the DKIM private keys that postmeter dkim makes"},
    {"on_sign_error", CFG_ENUM, OFF(on_sign_error), "accept", 0, 0, on_error_choices, NULL,
     "outbound mail whose domain's key cannot sign: accept it unsigned, or tempfail it"},
    {"tracking_base_url", CFG_STRING, OFF(tracking_base_url), "", 0, 0, NULL, config_check_base_url,
     "URL of the pixel endpoint, pixels are <URL>/o/<TOKEN>.gif (empty: no open tracking)"},
    {"tracking_mode", CFG_ENUM, OFF(tracking_mode), "milter", 0, 0, tracking_mode_choices, NULL,
     "who injects pixels: the milter (one token per message) or pipe (postmeter-pixelfilter)"},
    {"track_exclude", CFG_LIST, OFF(track_exclude), "", 0, 0, NULL, config_check_track_pattern,
     "recipients (address or @domain) whose mail is never tracked, comma separated"},
    {"track_max_kb", CFG_UINT, OFF(track_max_kb), "10240", 16, 1048576, NULL, NULL,
     "tracked mail larger than this (KiB) gets no pixel (the milter holds it in memory)"},
    {"pixel_module", CFG_STRING, OFF(pixel_module), POSTMETER_PIXEL_MODULE, 0, 0, NULL,
     config_check_absolute,
     "the pixel engine the milter loads when it tracks (only a build tree needs another)"},
    {"tracker_listen", CFG_LIST, OFF(tracker_listen), "127.0.0.1:8088", 0, 0, NULL,
     config_check_listen,
     "where postmeter-tracker listens: ADDR:PORT or [ADDR6]:PORT, comma separated"},
    {"trusted_proxies", CFG_LIST, OFF(trusted_proxies), "", 0, 0, NULL, config_check_net,
     "reverse proxies whose X-Forwarded-For the tracker believes (networks)"},
    {"open_ip_storage", CFG_ENUM, OFF(open_ip_storage), "truncate", 0, 0, ip_storage_choices, NULL,
     "an opener's address kept as is (full), as its /24 or /48 (truncate), or not (none)"},
    {"open_min_seconds", CFG_UINT, OFF(open_min_seconds), "2", 0, 86400, NULL, NULL,
     "an open sooner than this after the message was accepted is a scanner's (applied when the "
     "open is written: the accept time is in the database)"},
    {"tracker_metrics_allow", CFG_LIST, OFF(tracker_metrics_allow), "127.0.0.0/8, ::1", 0, 0, NULL,
     config_check_net, "clients that may read the tracker's /metrics and /healthz"},
    {"tracker_max_connections", CFG_UINT, OFF(tracker_max_connections), "1000", 1, 100000, NULL,
     NULL, "HTTP connections the tracker serves at once (shared by its listen addresses)"},
    {"tracker_max_per_ip", CFG_UINT, OFF(tracker_max_per_ip), "50", 1, 100000, NULL, NULL,
     "HTTP connections the tracker serves at once from one IPv4 address or IPv6 /64"},
    {"tracker_timeout_s", CFG_UINT, OFF(tracker_timeout_s), "10", 1, 3600, NULL, NULL,
     "seconds an HTTP request may take in all, however slowly it trickles in"},
    {"tracker_pid_file", CFG_STRING, OFF(tracker_pid_file), "", 0, 0, NULL, NULL,
     "file for postmeter-tracker's process id (empty: none)"},
    {"tracker_networks_file", CFG_STRING, OFF(tracker_networks_file),
     POSTMETER_DATADIR "/postmeter/machine-networks", 0, 0, NULL, config_check_absolute,
     "the machine networks shipped with postmeter (only a build tree needs another)"},
    {"tracker_networks_dir", CFG_STRING, OFF(tracker_networks_dir),
     POSTMETER_SYSCONFDIR "/postmeter/machine-networks.d", 0, 0, NULL, config_check_absolute,
     "directory of the admin's own machine networks files"},
    {"tracker_opens_per_network", CFG_UINT, OFF(tracker_opens_per_network), "5", 1, 1000000, NULL,
     NULL,
     "opens of one token from one client /24 (IPv6: /64) recorded per window; more are counted"},
    {"tracker_opens_per_token", CFG_UINT, OFF(tracker_opens_per_token), "200", 1, 1000000, NULL,
     NULL, "opens of one token recorded per window from all networks together; more are counted"},
    {"tracker_opens_window_s", CFG_UINT, OFF(tracker_opens_window_s), "3600", 1, 604800, NULL, NULL,
     "seconds of the window of tracker_opens_per_network and tracker_opens_per_token"},
    {"debug", CFG_BOOL, OFF(debug), "no", 0, 0, NULL, NULL, "log debug detail"},
};

#define NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* list_free - free a NULL-terminated string list */
static char **list_free(char **l)
{
    for (char **p = l; p && *p; p++)
        free(*p);
    return xfree(l);
}

/* list_split - split on commas and white space; caller frees */
static char **list_split(const char *v)
{
    char *copy = xstrdup(v), *save = NULL, *tok;
    char **l = xcalloc(1, sizeof(*l));
    size_t n = 0;

    for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        l = xrealloc(l, (n + 2) * sizeof(*l));
        l[n++] = xstrdup(tok);
        l[n] = NULL;
    }
    free(copy);
    return l;
}

/* parse_uint - decimal (or octal with base 8) within [min, max] */
static bool parse_uint(const char *v, int base, unsigned long min, unsigned long max, unsigned *out,
                       struct buf *why)
{
    char *end;
    unsigned long n;

    errno = 0;
    if (*v < '0' || *v > '9' || (n = strtoul(v, &end, base), errno != 0) || *end != '\0') {
        buf_printf(why, "\"%s\" is not a%s number", v, base == 8 ? "n octal" : "");
        return false;
    }
    if (n < min || n > max) {
        if (base == 8)
            buf_printf(why, "%s is out of range (0%lo..0%lo)", v, min, max);
        else
            buf_printf(why, "%s is out of range (%lu..%lu)", v, min, max);
        return false;
    }
    *out = (unsigned)n;
    return true;
}

/*
 * split_auth_allow - auth_allow parsed once, when it is set: its networks
 * and its domains (pointers into auth_allow), so a message never parses
 * the list again
 */
static void split_auth_allow(struct config *c)
{
    size_t n = 0, nd = 0;
    struct cidr net;

    netlist_free(&c->auth_allow_nets);
    free(c->auth_allow_domains);
    while (c->auth_allow[n])
        n++;
    c->auth_allow_domains = xcalloc(n + 1, sizeof(*c->auth_allow_domains));
    for (char **p = c->auth_allow; *p; p++) {
        if (cidr_parse(*p, &net))
            netlist_add(&c->auth_allow_nets, &net);
        else
            c->auth_allow_domains[nd++] = *p;
    }
}

/* set_value - parse v for key k into c; false with a reason in why */
static bool set_value(struct config *c, const struct cfg_key *k, const char *v, struct buf *why)
{
    void *field = (char *)c + k->offset;

    switch (k->type) {
    case CFG_STRING:
        if (k->check && !k->check(v, why))
            return false;
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return true;
    case CFG_BOOL: {
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};

        for (size_t i = 0; i < 4; i++) {
            if (str_eq_nocase(v, yes[i]) || str_eq_nocase(v, no[i])) {
                *(bool *)field = str_eq_nocase(v, yes[i]);
                return true;
            }
        }
        buf_printf(why, "\"%s\" is not yes or no", v);
        return false;
    }
    case CFG_UINT:
        return parse_uint(v, 10, k->min, k->max, (unsigned *)field, why);
    case CFG_MODE:
        return parse_uint(v, 8, k->min, k->max, (unsigned *)field, why);
    case CFG_ENUM:
        for (int i = 0; k->choices[i]; i++) {
            if (str_eq_nocase(v, k->choices[i])) {
                *(int *)field = i;
                return true;
            }
        }
        buf_printf(why, "\"%s\" is not one of:", v);
        for (int i = 0; k->choices[i]; i++)
            buf_printf(why, " %s", k->choices[i]);
        return false;
    case CFG_LIST: {
        char **l = list_split(v);

        for (char **p = l; *p; p++) {
            if (!list_item_ok(*p, why) || (k->check && !k->check(*p, why))) {
                list_free(l);
                return false;
            }
        }
        list_free(*(char ***)field);
        *(char ***)field = l;
        if (field == (void *)&c->auth_allow)
            split_auth_allow(c);
        return true;
    }
    case CFG_NETS: {
        char **l;
        struct netlist nets = {NULL, 0};
        struct cidr cidr;

        /* Its text is kept in trusted_networks_text: one such key only. */
        if (k->offset != OFF(trusted_networks))
            bug("config: %s: CFG_NETS is for trusted_networks only (use CFG_LIST)", k->name);
        l = list_split(v);

        for (char **p = l; *p; p++) {
            if (!list_item_ok(*p, why)) {
                netlist_free(&nets);
                list_free(l);
                return false;
            }
            if (!cidr_parse(*p, &cidr)) {
                buf_printf(why, "\"%s\" is not an address or ADDRESS/PREFIX network", *p);
                netlist_free(&nets);
                list_free(l);
                return false;
            }
            netlist_add(&nets, &cidr);
        }
        netlist_free((struct netlist *)field);
        *(struct netlist *)field = nets;
        list_free(c->trusted_networks_text);
        c->trusted_networks_text = l;
        return true;
    }
    }
    bug("config: key %s has no type", k->name);
}

/* find_key - table entry for name, NULL if unknown */
static const struct cfg_key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

/* config_defaults - every built-in default */
struct config *config_defaults(void)
{
    struct config *c = xcalloc(1, sizeof(*c));
    struct buf why = BUF_INIT;

    for (size_t i = 0; i < NKEYS; i++)
        if (!set_value(c, &cfg_keys[i], cfg_keys[i].def, &why))
            bug("config: default of %s: %s", cfg_keys[i].name, buf_cstr(&why));
    buf_free(&why);
    return c;
}

/*
 * list_item_ok - a list item may not start with '#': after white space
 * that would be a comment, so such an item could not be written back.
 */
static bool list_item_ok(const char *item, struct buf *why)
{
    if (item[0] != '#')
        return true;
    buf_printf(why, "list item \"%s\" starts with '#' (a '#' after white space starts a comment)",
               item);
    return false;
}

/*
 * strip_comment - cut line at its comment: a '#' at the start of the
 * line, after white space (isspace, as str_trim) or right after the '=' starts a comment, so no
 * value starts with '#' and every value dumped reads back the same. A
 * '#' inside a word (a URL's fragment) stays; a list item after a ','
 * that starts with '#' is refused by list_items_ok(), not dropped.
 */
static void strip_comment(char *line)
{
    for (char *p = line; *p; p++)
        if (*p == '#' && (p == line || isspace((unsigned char)p[-1]) || p[-1] == '=')) {
            *p = '\0';
            return;
        }
}

/* parse_line - handle one line of the file; problems go to errors */
static void parse_line(struct config *c, const char *path, unsigned lineno, char *line,
                       unsigned *seen, struct buf *errors)
{
    char *eq, *key, *value;
    const struct cfg_key *k;
    struct buf why = BUF_INIT;

    strip_comment(line);
    str_trim(line);
    if (*line == '\0')
        return;
    if ((eq = strchr(line, '=')) == NULL) {
        buf_printf(errors, "%s:%u: expected \"key = value\"\n", path, lineno);
        return;
    }
    *eq = '\0';
    key = str_trim(line);
    value = str_trim(eq + 1);
    if ((k = find_key(key)) == NULL) {
        buf_printf(errors, "%s:%u: unknown key \"%s\"\n", path, lineno, key);
        return;
    }
    if (seen[k - cfg_keys]) {
        buf_printf(errors, "%s:%u: %s is already set at line %u\n", path, lineno, key,
                   seen[k - cfg_keys]);
        return;
    }
    seen[k - cfg_keys] = lineno;
    if (!set_value(c, k, value, &why))
        buf_printf(errors, "%s:%u: %s: %s\n", path, lineno, key, buf_cstr(&why));
    buf_free(&why);
}

/* config_load - read path over the defaults */
struct config *config_load(const char *path, struct buf *errors)
{
    FILE *fp = fopen(path, "r");
    struct config *c;
    unsigned seen[NKEYS] = {0}, lineno = 0;
    size_t before = errors->len, cap = 0;
    char *line = NULL;
    ssize_t n;

    if (fp == NULL) {
        buf_printf(errors, "%s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    c = config_defaults();
    c->path = xstrdup(path);
    while ((n = getline(&line, &cap, fp)) != -1) {
        lineno++;
        if ((size_t)n != strlen(line)) {
            buf_printf(errors, "%s:%u: line contains a NUL byte\n", path, lineno);
            continue;
        }
        parse_line(c, path, lineno, line, seen, errors);
    }
    if (ferror(fp))
        buf_printf(errors, "%s: read error: %s\n", path, strerror(errno));
    free(line);
    fclose(fp);
    if (errors->len != before)
        return config_free(c);
    c->key_line = xmalloc(sizeof(seen));
    memcpy(c->key_line, seen, sizeof(seen));
    return c;
}

/* config_free - free everything */
struct config *config_free(struct config *c)
{
    if (c == NULL)
        return NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        void *field = (char *)c + cfg_keys[i].offset;

        if (cfg_keys[i].type == CFG_STRING)
            free(*(char **)field);
        else if (cfg_keys[i].type == CFG_LIST)
            list_free(*(char ***)field);
        else if (cfg_keys[i].type == CFG_NETS)
            netlist_free((struct netlist *)field);
    }
    list_free(c->trusted_networks_text);
    netlist_free(&c->auth_allow_nets);
    free(c->auth_allow_domains);
    free(c->path);
    free(c->key_line);
    return xfree(c);
}

/* print_value - one key's value as it would be written in the file */
static void print_value(const struct config *c, const struct cfg_key *k, FILE *out)
{
    const void *field = (const char *)c + k->offset;
    char *const *l = NULL;

    switch (k->type) {
    case CFG_STRING:
        fputs(*(char *const *)field, out);
        break;
    case CFG_BOOL:
        fputs(*(const bool *)field ? "yes" : "no", out);
        break;
    case CFG_UINT:
        fprintf(out, "%u", *(const unsigned *)field);
        break;
    case CFG_MODE:
        fprintf(out, "%04o", *(const unsigned *)field);
        break;
    case CFG_ENUM:
        fputs(k->choices[*(const int *)field], out);
        break;
    case CFG_LIST:
    case CFG_NETS:
        l = k->type == CFG_LIST ? *(char **const *)field : c->trusted_networks_text;
        for (size_t i = 0; l && l[i]; i++)
            fprintf(out, "%s%s", i ? ", " : "", l[i]);
        break;
    }
}

/* config_print_key - "key = value" of key i */
void config_print_key(const struct config *c, size_t i, FILE *out)
{
    if (i >= NKEYS)
        bug("config_print_key: no key %zu", i);
    fprintf(out, "%s = ", cfg_keys[i].name);
    print_value(c, &cfg_keys[i], out);
    fputc('\n', out);
}

/* config_dump - every key's effective value */
void config_dump(const struct config *c, FILE *out)
{
    for (size_t i = 0; i < NKEYS; i++)
        config_print_key(c, i, out);
}

/* config_key_count - keys in the table */
size_t config_key_count(void)
{
    return NKEYS;
}

/* config_key_name - name of key i */
const char *config_key_name(size_t i)
{
    return i < NKEYS ? cfg_keys[i].name : NULL;
}

/* config_key_index - index of key name, -1 if unknown */
int config_key_index(const char *name)
{
    const struct cfg_key *k = find_key(name);

    return k ? (int)(k - cfg_keys) : -1;
}

/* config_key_line - the line that set key i, 0 if none */
unsigned config_key_line(const struct config *c, size_t i)
{
    return c->key_line != NULL && i < NKEYS ? c->key_line[i] : 0;
}

/* config_describe - every key with its default and doc line */
void config_describe(FILE *out)
{
    for (size_t i = 0; i < NKEYS; i++)
        fprintf(out, "# %s\n#%s = %s\n\n", cfg_keys[i].doc, cfg_keys[i].name, cfg_keys[i].def);
}

/* config_effective_hostname - hostname, else the system's */
const char *config_effective_hostname(const struct config *c)
{
    static char host[HOST_NAME_MAX + 1];

    if (c->hostname[0])
        return c->hostname;
    if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) != 0)
        strcpy(host, "localhost");
    return host;
}

/* config_effective_authserv_id - authserv_id, else the hostname */
const char *config_effective_authserv_id(const struct config *c)
{
    return c->authserv_id[0] ? c->authserv_id : config_effective_hostname(c);
}

/* config_spool_path - ledger_spool, else database + ".spool" */
char *config_spool_path(const struct config *c)
{
    if (c->ledger_spool[0])
        return xstrdup(c->ledger_spool);
    return xasprintf("%s.spool", c->database);
}
