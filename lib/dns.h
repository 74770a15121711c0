/*
 * dns.h - every DNS lookup postmeter makes, through one shared libunbound
 * context with its cache.
 *
 * dns_servers (e.g. "127.0.0.1@5353") forwards to chosen resolvers;
 * without it, /etc/resolv.conf is used. Lookups may be split into
 * dns_submit() (returns at once) and dns_wait(), so a caller can start a
 * lookup early and collect it later (SPF starts at MAIL FROM). Thread
 * safe: any thread may submit and wait.
 *
 * A timeout or a server failure is DNS_TEMPFAIL, never "no record".
 */
#ifndef POSTMETER_DNS_H
#define POSTMETER_DNS_H

#include <stddef.h>
#include <stdint.h>

enum dns_status {
    DNS_OK = 0,       /* answer with at least one record of the type */
    DNS_NODATA = 1,   /* the name exists, no record of that type */
    DNS_NXDOMAIN = 2, /* the name does not exist */
    DNS_TEMPFAIL = 3, /* timeout, SERVFAIL, network trouble: try later */
    DNS_PERMFAIL = 4  /* malformed name or answer, REFUSED: will not work */
};

/* Record types postmeter asks for. */
enum { DNS_T_A = 1, DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28 };

struct dns_mx {
    unsigned preference;
    char *host; /* without trailing dot */
};

/*
 * One answer. Which array is filled depends on the type asked:
 * A/AAAA -> addrs (as text), TXT -> txt (the strings of each record
 * joined), MX -> mx, PTR -> names.
 */
struct dns_result {
    enum dns_status status;
    int rcode;
    size_t n; /* entries in the filled array */
    char **addrs;
    char **txt;
    size_t *txt_len; /* length of each txt entry (TXT may hold NULs) */
    struct dns_mx *mx;
    char **names;
};

struct dns;
struct dns_query;

/*
 * dns_open - create the shared context. servers: NULL-terminated list of
 * "addr[@port]" (NULL or empty = /etc/resolv.conf). timeout_ms bounds each
 * dns_wait(). Returns NULL with a reason in err on failure.
 */
struct dns *dns_open(char *const *servers, unsigned timeout_ms, char *err, size_t errlen);
/* dns_close - cancel outstanding queries and free; returns NULL */
struct dns *dns_close(struct dns *d);

/* dns_submit - start a lookup; never blocks on the network; caller waits */
struct dns_query *dns_submit(struct dns *d, const char *name, int type);
/*
 * dns_wait - wait for a submitted query (up to the context's timeout from
 * submission), free the query and return its result (caller frees with
 * dns_result_free). Never returns NULL.
 */
struct dns_result *dns_wait(struct dns_query *q);
/*
 * dns_cancel - give up on a submitted query without waiting for it (the
 * caller no longer wants the answer, e.g. an SMTP transaction was
 * aborted); frees the query; returns NULL. Use instead of dns_wait().
 */
struct dns_query *dns_cancel(struct dns_query *q);
/* dns_lookup - dns_submit + dns_wait */
struct dns_result *dns_lookup(struct dns *d, const char *name, int type);
/* dns_result_free - free a result; returns NULL */
struct dns_result *dns_result_free(struct dns_result *r);
/* dns_status_name - "ok", "nodata", "nxdomain", "tempfail", "permfail" */
const char *dns_status_name(enum dns_status s);

#endif
