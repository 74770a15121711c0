/*
 * config.h - postmeter.conf: one file of "key = value" lines, read through
 * one table (name, type, default, bounds, doc line) shared by every binary.
 *
 * Unknown keys, bad values and out-of-range numbers are errors reported as
 * "FILE:LINE: message"; a daemon does not start with them. A missing file
 * is an error unless the caller allows it (the CLI falls back to defaults
 * only when no -c was given and the default file does not exist).
 */
#ifndef POSTMETER_CONFIG_H
#define POSTMETER_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "netaddr.h"

#define CONFIG_DEFAULT_PATH POSTMETER_SYSCONFDIR "/postmeter/postmeter.conf"

enum config_on_error { ON_ERROR_ACCEPT = 0, ON_ERROR_TEMPFAIL = 1 };
enum config_partial_body { PARTIAL_BODY_IGNORE = 0, PARTIAL_BODY_COUNT = 1 };
/* dmarc_enforce: the strongest action a DMARC failure may cause */
enum config_enforce { ENFORCE_NONE = 0, ENFORCE_QUARANTINE = 1, ENFORCE_REJECT = 2 };
/* dmarc_bad_from, dmarc_multiple_from: a From DMARC cannot evaluate as usual */
enum config_from_action {
    FROM_ACTION_REJECT = 0,
    FROM_ACTION_QUARANTINE = 1,
    FROM_ACTION_EVALUATE = 2
};
/* dmarc_quarantine: how quarantine is done */
enum config_quarantine { QUARANTINE_HOLD = 0, QUARANTINE_HEADER = 1 };
/* tracking_mode: where the pixel is injected */
enum config_tracking_mode { TRACKING_MILTER = 0, TRACKING_PIPE = 1 };
/* open_ip_storage: what postmeter-tracker keeps of an opener's address */
enum config_ip_storage { IP_STORAGE_FULL = 0, IP_STORAGE_TRUNCATE = 1, IP_STORAGE_NONE = 2 };

struct config {
    char *path;         /* file it was read from, NULL for built-in defaults */
    unsigned *key_line; /* per key (config_key_name(i)): line of path that set it, 0 = not
                           set there; NULL for built-in defaults */

    /* milter */
    char *milter_socket; /* unix:PATH or inet:PORT@ADDR */
    unsigned milter_socket_mode;
    char *milter_socket_group; /* "" = the user's primary group */
    char *user;                /* drop to this user after opening sockets */
    char *pid_file;            /* "" = none */
    unsigned milter_timeout;   /* seconds libmilter waits on the MTA */
    int on_internal_error;     /* enum config_on_error */
    /* MTA connections served at once, and MiB of big packets under way across them */
    unsigned milter_max_connections, milter_max_buffer_mb;

    /* ledger */
    char *database;
    char *ledger_spool; /* "" = database + ".spool" */
    unsigned ledger_queue_max;
    unsigned ledger_queue_mb;       /* MiB of rows in memory (ledger_msg_mem()) */
    unsigned ledger_max_recipients; /* recipients kept per row; the rest counted, logged */
    unsigned ledger_batch_max;
    unsigned ledger_flush_ms;
    unsigned ledger_spool_max_mb;
    unsigned ledger_cache_mb;
    unsigned retention_days; /* the milter's writer prunes older rows daily; 0 = never */
    unsigned ledger_wait_ms; /* the answer waits this long for the writer, then spools itself */
    bool ledger_sync;        /* fsync before the answer */
    bool ledger_journal;     /* the answer waits for a journal append, not the writer */
    bool log_subject;
    bool log_messages; /* one mail log line per message (milter/stage_log.c) */
    char *hostname;    /* "" = gethostname() */

    /* inbound */
    char *authserv_id; /* "" = hostname */
    struct netlist trusted_networks;
    char **trusted_networks_text; /* as written, NULL-terminated */
    unsigned dkim_max_signatures; /* DKIM-Signature fields verified per message */
    unsigned dkim_min_key_bits;   /* RSA keys shorter than this fail */
    int dkim_partial_body;        /* enum config_partial_body: a pass with content past l= */

    /* dns */
    char **dns_servers; /* NULL-terminated, empty = resolv.conf */
    unsigned dns_timeout_ms;

    /* inbound policy */
    int dmarc_enforce;       /* enum config_enforce */
    int dmarc_quarantine;    /* enum config_quarantine */
    int on_temperror;        /* enum config_on_error */
    int dmarc_bad_from;      /* enum config_from_action (not EVALUATE) */
    int dmarc_multiple_from; /* enum config_from_action */
    char **auth_allow;       /* networks and domains never refused, NULL-terminated */

    /* auth_allow split when it is set (config.c), so no message parses it */
    struct netlist auth_allow_nets; /* its networks */
    char **auth_allow_domains;      /* its domains: NULL-terminated, pointers into auth_allow */

    /* outbound signing */
    int on_sign_error; /* enum config_on_error */

    /* outbound */
    char *dkim_key_dir; /* absolute; DKIM private keys made by postmeter dkim */

    /* open tracking */
    char *tracking_base_url; /* "" = no tracking */
    int tracking_mode;       /* enum config_tracking_mode */
    char **track_exclude;    /* recipient patterns never tracked, NULL-terminated */
    unsigned track_max_kb;   /* larger mail is tracked without a pixel */
    char *pixel_module;      /* absolute; postmeter-pixel.so, loaded when the milter tracks */

    /* postmeter-tracker (the pixel endpoint) */
    char **tracker_listen;        /* ADDR:PORT or [ADDR6]:PORT, NULL-terminated */
    char **trusted_proxies;       /* networks whose X-Forwarded-For is believed */
    int open_ip_storage;          /* enum config_ip_storage */
    unsigned open_min_seconds;    /* an open sooner than this after acceptance: scanner */
    char **tracker_metrics_allow; /* networks that may read /metrics and /healthz */
    unsigned tracker_max_connections, tracker_max_per_ip, tracker_timeout_s;
    char *tracker_pid_file;      /* "" = none */
    char *tracker_networks_file; /* absolute; the shipped machine-networks data file */
    char *tracker_networks_dir;  /* absolute; the admin's own machine-networks files */
    /* tracker_opens_*: how many opens of a token are recorded per window */
    unsigned tracker_opens_per_network; /* opens recorded per (token, client /24|/64) per window */
    unsigned tracker_opens_per_token;   /* opens recorded per token per window */
    unsigned tracker_opens_window_s;    /* that window, seconds */

    bool debug;
};

/* config_defaults - a config holding every built-in default; caller frees */
struct config *config_defaults(void);
/*
 * config_load - read path over the defaults. On error returns NULL and
 * appends one "FILE:LINE: message" line per problem to errors.
 */
struct config *config_load(const char *path, struct buf *errors);
/* config_free - free everything; returns NULL */
struct config *config_free(struct config *c);
/* config_dump - print every key's effective value as "key = value" */
void config_dump(const struct config *c, FILE *out);
/* config_describe - print every key with its type, default and doc line */
void config_describe(FILE *out);
/* config_key_count - how many keys the table has (indexes for the config_key_* calls) */
size_t config_key_count(void);
/* config_key_name - the name of key i (< config_key_count()), in table order */
const char *config_key_name(size_t i);
/* config_key_index - the index of the key called name, -1 if there is none */
int config_key_index(const char *name);
/* config_key_line - the line of c->path that set key i, 0 if it was not set there */
unsigned config_key_line(const struct config *c, size_t i);
/* config_print_key - key i's effective value in c as "key = value\n" */
void config_print_key(const struct config *c, size_t i, FILE *out);
/* config_effective_hostname - hostname, else gethostname(); never NULL */
const char *config_effective_hostname(const struct config *c);
/* config_effective_authserv_id - authserv_id, else the hostname */
const char *config_effective_authserv_id(const struct config *c);
/* config_spool_path - ledger_spool, else database + ".spool"; caller frees */
char *config_spool_path(const struct config *c);

#endif
